"""Mapping Alertmanager-style alerts to timeline events.

One alert dict has the same core wherever it comes from: the webhook (version "4"), the API v2
`/api/v2/alerts` list, or Grafana's webhook (`startsAt`, `endsAt`, `labels`, `annotations`,
`generatorURL`, `fingerprint`, and `status` as a string or as `{"state": ...}`). `read_alert` turns one
into an `AlertSighting`; `AlertLedger` folds every sighting of every alert into one firing event and at
most one resolved event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ops_postmortem.model import Kind, TimelineEvent, iso_z
from ops_postmortem.timeutil import is_sentinel, parse_time

_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211
# prometheus/common model.SeparatorByte: never valid UTF-8, so it cannot occur inside a label.
_SEPARATOR = b"\xff"

# Labels worth showing next to the alert name; a tuple means "the first of these present".
_TELLING_LABELS: tuple[tuple[str, ...], ...] = (("severity",), ("service", "job"), ("instance",))
_SUMMARY_ANNOTATIONS = ("summary", "description", "message")


class AlertDataError(ValueError):
    """One alert cannot be used (no start time, labels not an object, unknown status)."""


@dataclass(frozen=True)
class AlertSighting:
    """One alert as one notification (or one API response) showed it."""

    fingerprint: str
    starts_at: datetime
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    resolved: bool  # the notification said so; a future endsAt on a firing alert is only an expiry
    ends_at: datetime | None  # the resolution time; None while firing or when the sender gave no usable one
    link: str | None = None  # what raised the alert: a graph, a panel, a rule
    home_link: str | None = None  # the sender's own UI (externalURL), when nothing better is known

    @property
    def ident(self) -> str:
        return f"{self.fingerprint}@{iso_z(self.starts_at)}"


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 over sorted `name 0xff value 0xff`, 16 hex digits.

    Same algorithm as prometheus/common model.LabelSet.Fingerprint, so a computed fingerprint matches the one
    Alertmanager itself would report for the alert (Go sorts names bytewise; code-point order is the same).
    """
    value = _FNV64_OFFSET
    for name in sorted(labels):
        for byte in name.encode() + _SEPARATOR + labels[name].encode() + _SEPARATOR:
            value = ((value ^ byte) * _FNV64_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def http_link(value: object) -> str | None:
    """The value if it is an absolute http(s) URL; anything else is never rendered as a link."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    parts = urlsplit(text)
    return text if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def read_alert(
    alert: Mapping[str, Any], *, link_fields: Sequence[str] = ("generatorURL",), home_link: str | None = None
) -> AlertSighting:
    """One alert dict -> AlertSighting. Raises AlertDataError when the alert cannot be placed in time."""
    labels = _string_map(alert.get("labels"), "labels", required=True)
    annotations = _string_map(alert.get("annotations"), "annotations", required=False)
    starts_at = _starts_at(alert.get("startsAt"))
    resolved = _is_resolved(alert.get("status"))
    ends_at = _resolution_time(alert.get("endsAt"), starts_at) if resolved else None
    raw_fingerprint = alert.get("fingerprint")
    links = (http_link(alert.get(field)) for field in link_fields)
    return AlertSighting(
        fingerprint=raw_fingerprint.strip()
        if isinstance(raw_fingerprint, str) and raw_fingerprint.strip()
        else label_fingerprint(labels),
        starts_at=starts_at,
        labels=labels,
        annotations=annotations,
        resolved=resolved,
        ends_at=ends_at,
        link=next((link for link in links if link), None),
        home_link=http_link(home_link),
    )


def alert_name(labels: Mapping[str, str], fingerprint: str) -> str:
    return labels.get("alertname") or f"alert {fingerprint}"


def alert_text(name: str, state: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """'CheckoutHighErrorRate firing: 5xx ratio above 5% (severity=page, service=checkout-api)'."""
    summary = next(
        (" ".join(annotations[key].split()) for key in _SUMMARY_ANNOTATIONS if annotations.get(key)), ""
    )
    shown = []
    for names in _TELLING_LABELS:
        found = next((name for name in names if labels.get(name)), None)
        if found:
            shown.append(f"{found}={labels[found]}")
    text = f"{name} {state}"
    if summary:
        text += f": {summary}"
    if shown:
        text += f" ({', '.join(shown)})"
    return text


@dataclass
class _Alert:
    first: AlertSighting  # sets the firing text
    link: str | None = None
    home_link: str | None = None
    resolution: AlertSighting | None = None


class AlertLedger:
    """Folds every sighting of every alert into one firing event and at most one resolved event.

    An alert is its fingerprint plus startsAt: a re-fire after resolution gets a new startsAt, so it is a new
    alert. Notifications repeat (repeat_interval, group changes) and arrive in any order, so a resolution once
    seen stays (a late "firing" notification cannot undo it), and among several resolutions the latest endsAt
    wins (an earlier one was premature if the alert kept firing past it).
    """

    def __init__(
        self, *, source: str, actor: str, name_of: Callable[[Mapping[str, str], str], str] = alert_name
    ) -> None:
        self.source = source
        self.actor = actor
        self._name_of = name_of
        self._alerts: dict[str, _Alert] = {}

    def add(self, sighting: AlertSighting) -> None:
        entry = self._alerts.get(sighting.ident)
        if entry is None:
            entry = self._alerts[sighting.ident] = _Alert(first=sighting)
        elif entry.first.resolved and not sighting.resolved:
            entry.first = sighting  # a firing sighting describes the start better than a resolved one
        entry.link = entry.link or sighting.link
        entry.home_link = entry.home_link or sighting.home_link
        if sighting.ends_at is not None and (
            entry.resolution is None
            or entry.resolution.ends_at is None
            or sighting.ends_at > entry.resolution.ends_at
        ):
            entry.resolution = sighting

    def has_resolution(self, ident: str) -> bool:
        entry = self._alerts.get(ident)
        return entry is not None and entry.resolution is not None

    def __len__(self) -> int:
        return len(self._alerts)

    def events(self) -> list[TimelineEvent]:
        out: list[TimelineEvent] = []
        for ident, entry in self._alerts.items():
            first, link = entry.first, entry.link or entry.home_link
            out.append(self._event(first, Kind.ALERT_FIRING, "firing", first.starts_at, ident, link))
            last = entry.resolution
            if last is not None and last.ends_at is not None:
                out.append(self._event(last, Kind.ALERT_RESOLVED, "resolved", last.ends_at, ident, link))
        out.sort(key=lambda e: (e.at, e.kind != Kind.ALERT_FIRING, e.ident))
        return out

    def _event(
        self, sighting: AlertSighting, kind: str, state: str, at: datetime, ident: str, link: str | None
    ) -> TimelineEvent:
        name = self._name_of(sighting.labels, sighting.fingerprint)
        return TimelineEvent(
            at=at,
            source=self.source,
            kind=kind,
            text=alert_text(name, state, sighting.labels, sighting.annotations),
            actor=self.actor,
            link=link,
            ident=ident,
            # The same alert read from a webhook and from the API is one fact; firing and resolved are two.
            dedupe_key=f"alert:{ident}:{state}",
        )


def _string_map(value: object, field: str, *, required: bool) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise AlertDataError(f"{field} is {type(value).__name__}, not an object")
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items() if v is not None}


def _starts_at(value: object) -> datetime:
    if not isinstance(value, str) or is_sentinel(value):
        raise AlertDataError(f"no startsAt (got {value!r})")
    try:
        return _to_millis(parse_time(value))
    except ValueError as exc:
        raise AlertDataError(f"startsAt {value!r} is not an RFC 3339 time") from exc


def _is_resolved(status: object) -> bool:
    # Webhooks say "firing"/"resolved"; API v2 says {"state": "active"|"suppressed"|"unprocessed"} and lists
    # only alerts that have not ended. No status at all claims nothing, so the alert counts as firing.
    if status is None or isinstance(status, dict):
        return False
    if status in ("firing", "resolved"):
        return status == "resolved"
    raise AlertDataError(f"status {status!r} is neither firing nor resolved")


def _resolution_time(value: object, starts_at: datetime) -> datetime | None:
    if not isinstance(value, str) or is_sentinel(value):
        return None
    try:
        ends_at = _to_millis(parse_time(value))
    except ValueError:
        return None
    return ends_at if ends_at >= starts_at else None


def _to_millis(value: datetime) -> datetime:
    # Webhooks carry Go's nanoseconds, API v2 milliseconds (truncated): keep milliseconds so both give one ident.
    return value.replace(microsecond=value.microsecond // 1000 * 1000)
