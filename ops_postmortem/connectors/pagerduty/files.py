"""PagerDuty evidence from exported files: incident responses, log entry pages and v3 webhooks, in any mix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops_postmortem.connectors.files import iter_json_files
from ops_postmortem.connectors.pagerduty.connector import (
    SOURCE,
    IncidentRef,
    Observation,
    dedupe_log_entries,
    dedupe_webhooks,
    incident_facts,
    incident_of_log_entry,
    incident_of_response,
    incident_of_webhook,
    incident_url,
    is_incident_webhook,
    log_entry_observation,
    merge_observations,
    webhook_observation,
)
from ops_postmortem.errors import InputError
from ops_postmortem.model import SourceBatch

SHAPES_HINT = (
    'expected a GET /incidents/{id} response ({"incident": {...}}), a GET /incidents/{id}/log_entries page '
    '({"log_entries": [...]}) or v3 webhook payloads ({"event": {...}}: one per file, a JSON array of them, '
    "or one per line in .jsonl)"
)


@dataclass
class _File:
    """What one file (or one .jsonl line) holds, sorted by shape; `refs` are the incidents it names."""

    path: Path
    incidents: list[Mapping[str, Any]] = field(default_factory=list)
    log_entries: list[Mapping[str, Any]] = field(default_factory=list)
    webhooks: list[Mapping[str, Any]] = field(default_factory=list)
    refs: list[IncidentRef] = field(default_factory=list)
    empty_page: bool = False


def _webhook_event(item: Any) -> Mapping[str, Any] | None:
    """The event of a stored webhook body (`{"event": {...}}`) or of a bare event object."""
    if not isinstance(item, Mapping):
        return None
    event = item.get("event")
    if isinstance(event, Mapping) and "event_type" in event:
        return event
    if "event_type" in item and "data" in item:
        return item
    return None


def _read(path: Path, doc: Any) -> _File:
    found = _File(path)
    if isinstance(doc, Mapping) and isinstance(doc.get("incident"), Mapping):
        found.incidents.append(doc["incident"])
    elif isinstance(doc, Mapping) and isinstance(doc.get("log_entries"), list):
        # Offset and cursor pages differ only in their paging fields, which a file does not need.
        found.log_entries = [e for e in doc["log_entries"] if isinstance(e, Mapping)]
        found.empty_page = not doc["log_entries"]
    elif isinstance(doc, Mapping) and isinstance(doc.get("log_entry"), Mapping):
        found.log_entries.append(doc["log_entry"])
    elif isinstance(doc, list):
        events = [_webhook_event(item) for item in doc]
        if None in events:
            bad = events.index(None)
            raise InputError(
                f"{path}: item {bad} of the JSON array is not a PagerDuty v3 webhook", hint=SHAPES_HINT
            )
        found.webhooks = [e for e in events if e is not None]
    elif (event := _webhook_event(doc)) is not None:
        found.webhooks.append(event)
    else:
        raise InputError(f"{path}: not a PagerDuty export this tool reads", hint=SHAPES_HINT)
    found.refs += [ref for ref in map(incident_of_response, found.incidents) if ref]
    found.refs += [ref for ref in map(incident_of_log_entry, found.log_entries) if ref]
    found.refs += [ref for ref in map(incident_of_webhook, found.webhooks) if ref]
    return found


def _choose_incident(files: Sequence[_File], incident_id: str) -> IncidentRef | None:
    """The incident named by INCIDENT_ID (id or number), else the fetched incident, else the first seen."""
    numbers: dict[str, str] = {}
    for ref in (ref for f in files for ref in f.refs):
        if ref.number:
            numbers.setdefault(ref.id, ref.number)
    refs = [IncidentRef(ref.id, numbers.get(ref.id)) for f in files for ref in f.refs]
    wanted = incident_id.strip().removeprefix("#")
    fetched = [ref for f in files for ref in map(incident_of_response, f.incidents) if ref]
    for ref in refs:
        if wanted in (ref.id, ref.number):
            return ref
    if fetched:
        return IncidentRef(fetched[0].id, numbers.get(fetched[0].id))
    return refs[0] if refs else None


def _observe(files: Sequence[_File], url: str | None, warnings: list[str]) -> dict[int, Observation]:
    """Every usable log entry and incident webhook, by object id; a warning for each unusable one and
    for each file that yields nothing. Every copy is read, so a page that another overlaps still counts."""
    usable: set[Path] = {f.path for f in files if f.incidents or f.empty_page}
    observed: dict[int, Observation] = {}
    for f in files:
        for entry in f.log_entries:
            try:
                observed[id(entry)] = log_entry_observation(entry, incident_url=url)
                usable.add(f.path)
            except ValueError as exc:
                warnings.append(f"{f.path}: log entry {entry.get('id', '?')} skipped: {exc}")
        for hook in filter(is_incident_webhook, f.webhooks):
            try:
                observed[id(hook)] = webhook_observation(hook, incident_url=url)
                usable.add(f.path)
            except ValueError as exc:
                warnings.append(f"{f.path}: webhook event {hook.get('id', '?')} skipped: {exc}")
    for path in dict.fromkeys(f.path for f in files):
        if path not in usable:
            warnings.append(
                f"{path}: nothing usable for the timeline (no incident, log entries or incident webhook events)"
            )
    return observed


class PagerDutyFiles:
    """A TimelineSource over exported PagerDuty JSON; each path is a file or a folder of them."""

    name = SOURCE

    def __init__(self, paths: Sequence[Path | str]) -> None:
        self._paths = tuple(paths)

    def collect(self, incident_id: str) -> SourceBatch:
        files = [_read(path, doc) for path, doc in iter_json_files(self._paths)]
        warnings: list[str] = []
        if not files:
            warnings.append(
                f"no PagerDuty files found in {', '.join(map(str, self._paths)) or 'the given paths'}"
            )
        target = _choose_incident(files, incident_id)
        if target is not None:
            for f in files:
                other = next((ref for ref in f.refs if ref.id != target.id), None)
                if other is not None:
                    raise InputError(
                        f"{f.path}: about PagerDuty incident {other.label}, "
                        f"but the other files are about incident {target.label}",
                        hint="give the files of one incident only, or name the incident you mean as INCIDENT_ID",
                    )

        incident = next((i for f in files for i in f.incidents), None)
        all_entries = [e for f in files for e in f.log_entries]
        all_hooks = [e for f in files for e in f.webhooks if is_incident_webhook(e)]
        url = incident_url(incident, all_entries, all_hooks)

        observed = _observe(files, url, warnings)
        entries = dedupe_log_entries(e for e in all_entries if id(e) in observed)
        hooks = dedupe_webhooks(e for e in all_hooks if id(e) in observed)
        rest = [observed[id(e)] for e in entries]
        webhook_obs = [observed[id(e)] for e in hooks]

        events = merge_observations(rest, webhook_obs, incident_id=target.id if target else None)
        events.sort(key=lambda e: (e.at, e.ident))
        facts = (
            (incident_facts(incident, log_entries=entries, webhooks=hooks, events=events, ref=target),)
            if target is not None or incident is not None or events
            else ()
        )
        return SourceBatch(source=SOURCE, events=tuple(events), facts=facts, warnings=tuple(warnings))
