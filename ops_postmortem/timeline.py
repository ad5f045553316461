"""Merging what the sources recorded into one curated timeline: ordered, de-duplicated, de-noised."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from ops_postmortem.model import Kind, TimelineEvent

# Kinds that carry no incident information: channel joins, topic and name changes.
NOISE_KINDS = frozenset({"membership", "channel_change"})

# When two sources record the same instant, show the paging system's view first, chat last.
_SOURCE_ORDER = {"events": 0, "alertmanager": 1, "grafana": 2, "pagerduty": 3, "opsgenie": 4, "slack": 6}


def merge(
    events: Iterable[TimelineEvent],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    collapse_window: timedelta = timedelta(minutes=10),
) -> list[TimelineEvent]:
    """One ordered UTC timeline: duplicates removed, noise dropped, repeated notifications collapsed."""
    kept = [
        e
        for e in _unique(events)
        if e.kind not in NOISE_KINDS
        and (since is None or e.at >= since)
        and (until is None or e.at <= until)
    ]
    kept.sort(key=_order)
    return collapse_repeats(kept, collapse_window)


def _order(event: TimelineEvent) -> tuple[datetime, int, str]:
    return event.at, _SOURCE_ORDER.get(event.source, 5), event.ident


def _unique(events: Iterable[TimelineEvent]) -> list[TimelineEvent]:
    """Drop events seen twice: same source, kind and ident, or the same dedupe_key across sources."""
    seen_keys: set[str] = set()
    seen_ids: set[tuple[str, str, str]] = set()
    out: list[TimelineEvent] = []
    for event in events:
        if event.dedupe_key is not None:
            if event.dedupe_key in seen_keys:
                continue
            seen_keys.add(event.dedupe_key)
        if event.ident:
            identity = (event.source, event.kind, event.ident)
            if identity in seen_ids:
                continue
            seen_ids.add(identity)
        out.append(event)
    return out


def _repeat_key(event: TimelineEvent) -> tuple[str, ...]:
    # Notifications differ only in the channel (push, SMS, phone): collapse the burst whatever the text.
    if event.kind == Kind.NOTIFY:
        return (event.source, event.kind)
    return (event.source, event.kind, event.actor or "", " ".join(event.text.split()).lower())


def collapse_repeats(events: Sequence[TimelineEvent], window: timedelta) -> list[TimelineEvent]:
    """Fold repeats of one notification arriving within `window` of the previous repeat into one entry."""
    out: list[TimelineEvent] = []
    open_groups: dict[tuple[str, ...], tuple[int, datetime, list[str]]] = {}
    for event in events:
        if event.kind not in (Kind.NOTIFY, Kind.MESSAGE, Kind.ALERT_FIRING, Kind.NOTE, Kind.STATUS_UPDATE):
            out.append(event)
            continue
        key = _repeat_key(event)
        group = open_groups.get(key)
        if group is not None and event.at - group[1] <= window:
            index, _, texts = group
            if event.text not in texts:
                texts.append(event.text)
            first = out[index]
            out[index] = replace(first, count=first.count + event.count, text=_collapsed_text(first, texts))
            open_groups[key] = (index, event.at, texts)
            continue
        open_groups[key] = (len(out), event.at, [event.text])
        out.append(event)
    return out


def _collapsed_text(first: TimelineEvent, texts: list[str]) -> str:
    if len(texts) == 1:
        return texts[0]
    shown = "; ".join(texts[:4])
    more = len(texts) - 4
    return shown if more <= 0 else f"{shown}; and {more} more"


def window_of(events: Iterable[TimelineEvent], before: timedelta, after: timedelta) -> tuple[datetime, datetime] | None:
    """The span worth reading chat for: from before the first signal to after the last one."""
    times = [e.at for e in events]
    if not times:
        return None
    return min(times) - before, max(times) + after
