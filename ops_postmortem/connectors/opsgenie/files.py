"""Opsgenie evidence from exported files: the alert, its log pages and its note pages, in any mix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops_postmortem.connectors.files import iter_json_files
from ops_postmortem.connectors.opsgenie.connector import (
    SOURCE,
    AlertKey,
    alert_facts,
    alert_keys,
    alert_url,
    event_from_log,
    event_from_note,
    merge_notes,
    paging_key,
    report_events,
)
from ops_postmortem.errors import InputError
from ops_postmortem.model import SourceBatch, TimelineEvent

SHAPES_HINT = (
    'expected a GET /v2/alerts/{identifier} response ({"data": {alert}, "took", "requestId"}), or a '
    'GET /v2/alerts/{identifier}/logs or /notes page ({"data": [{"log" | "note", "owner", "createdAt", '
    '"offset"}], "paging": {...}})'
)

_HINT_ONE_ALERT = "give the files of one alert only, or name the alert you mean as INCIDENT_ID"


@dataclass
class _File:
    """What one file holds, sorted by shape; `key` is the alert its paging links name, if any."""

    path: Path
    alert: Mapping[str, Any] | None = None
    logs: list[Mapping[str, Any]] = field(default_factory=list)
    notes: list[Mapping[str, Any]] = field(default_factory=list)
    key: AlertKey | None = None
    empty_page: bool = False


def _read(path: Path, doc: Any) -> _File:
    data = doc.get("data") if isinstance(doc, Mapping) else None
    if isinstance(data, Mapping) and _alert_like(data):
        return _File(path, alert=data)
    if not isinstance(data, list):
        raise InputError(f"{path}: not an Opsgenie export this tool reads", hint=SHAPES_HINT)
    items = [item for item in data if isinstance(item, Mapping)]
    found = _File(path, key=paging_key(_paging(doc)), empty_page=not data)
    found.logs = [item for item in items if "log" in item]
    found.notes = [item for item in items if "note" in item and "log" not in item]
    if data and not found.logs and not found.notes:
        # e.g. a GET /v2/alerts list: its items are alerts, not log lines or notes
        raise InputError(f"{path}: a list whose items are neither alert logs nor notes", hint=SHAPES_HINT)
    return found


def _alert_like(data: Mapping[str, Any]) -> bool:
    return "id" in data and any(name in data for name in ("tinyId", "message", "status", "createdAt"))


def _paging(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    paging = doc.get("paging")
    return paging if isinstance(paging, Mapping) else {}


def _label(alert: Mapping[str, Any]) -> str:
    keys = alert_keys(alert)
    return f"{keys.get('id', '?')} (#{keys['tiny']})" if "tiny" in keys else keys.get("id", "?")


def _choose_alert(files: Sequence[_File], incident_id: str) -> Mapping[str, Any] | None:
    """The alert whose id, tinyId or alias is INCIDENT_ID, else the first alert response."""
    wanted = incident_id.strip().removeprefix("#")
    alerts = [f.alert for f in files if f.alert is not None]
    return next((a for a in alerts if wanted in alert_keys(a).values()), alerts[0] if alerts else None)


def _check_one_alert(
    files: Sequence[_File], incident_id: str
) -> tuple[Mapping[str, Any] | None, AlertKey | None]:
    """The alert every file must be about, raising InputError for a file about another one."""
    alert = _choose_alert(files, incident_id)
    if alert is not None:
        keys = alert_keys(alert)
        for f in files:
            if f.alert is not None and alert_keys(f.alert).get("id") != keys.get("id"):
                raise InputError(
                    f"{f.path}: about Opsgenie alert {_label(f.alert)}, but the other files are about alert "
                    f"{_label(alert)}",
                    hint=_HINT_ONE_ALERT,
                )
            if f.key is not None and f.key.kind in keys and keys[f.key.kind] != f.key.value:
                raise InputError(
                    f"{f.path}: a page of Opsgenie alert {f.key.label}, but the other files are about alert "
                    f"{_label(alert)}",
                    hint=_HINT_ONE_ALERT,
                )
        return alert, None
    # Pages only: they agree when their paging links name the alert the same way with the same value.
    page_keys = [f.key for f in files if f.key is not None]
    wanted = incident_id.strip().removeprefix("#")
    target = next((k for k in page_keys if k.value == wanted), page_keys[0] if page_keys else None)
    for f in files:
        if (
            target is not None
            and f.key is not None
            and f.key.kind == target.kind
            and f.key.value != target.value
        ):
            raise InputError(
                f"{f.path}: a page of Opsgenie alert {f.key.label}, but the other files are about alert "
                f"{target.label}",
                hint=_HINT_ONE_ALERT,
            )
    return None, target


def _unique(events: Sequence[TimelineEvent]) -> list[TimelineEvent]:
    """Overlapping pages repeat entries; the ident carries the entry's unique offset."""
    seen: set[tuple[str, str, str | None]] = set()
    kept: list[TimelineEvent] = []
    for event in events:
        key = (event.ident, event.text, event.actor)
        if key not in seen:
            seen.add(key)
            kept.append(event)
    return kept


class OpsgenieFiles:
    """A TimelineSource over exported Opsgenie JSON; each path is a file or a folder of them."""

    name = SOURCE

    def __init__(self, paths: Sequence[Path | str], *, web_url: str | None = None) -> None:
        self._paths = tuple(paths)
        self._web_url = web_url

    def collect(self, incident_id: str) -> SourceBatch:
        files = [_read(path, doc) for path, doc in iter_json_files(self._paths)]
        warnings: list[str] = []
        if not files:
            warnings.append(
                f"no Opsgenie files found in {', '.join(map(str, self._paths)) or 'the given paths'}"
            )
        alert, key = _check_one_alert(files, incident_id)
        alert_id = alert_keys(alert).get("id") if alert else (key.value if key and key.kind == "id" else None)
        link = alert_url(self._web_url, alert_id) if self._web_url and alert_id else None

        usable: set[Path] = {f.path for f in files if f.alert is not None or f.empty_page}
        logs: list[TimelineEvent] = []
        notes: list[TimelineEvent] = []
        for f in files:
            for entries, convert, into, what in (
                (f.logs, event_from_log, logs, "log"),
                (f.notes, event_from_note, notes, "note"),
            ):
                for entry in entries:
                    try:
                        into.append(convert(entry, link=link))
                        usable.add(f.path)
                    except ValueError as exc:
                        warnings.append(
                            f"{f.path}: {what} at offset {entry.get('offset', '?')} skipped: {exc}"
                        )
        for path in dict.fromkeys(f.path for f in files):
            if path not in usable:
                warnings.append(f"{path}: nothing usable for the timeline (no alert, logs or notes)")

        events = merge_notes(_unique(logs), _unique(notes), alert_id=alert_id or (key.value if key else None))
        if alert is not None:
            events += report_events(alert, {e.kind for e in events}, link=link)
        events.sort(key=lambda e: (e.at, e.ident))
        facts = (
            (alert_facts(alert, events=events, web_url=self._web_url, key=key),)
            if alert is not None or key is not None or events
            else ()
        )
        return SourceBatch(source=SOURCE, events=tuple(events), facts=facts, warnings=tuple(warnings))
