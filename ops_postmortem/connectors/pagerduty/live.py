"""PagerDuty as a live TimelineSource: the incident, every log entry and the notes, through the REST API.

The events come from the same functions as the file reader (`connector.py`), so a live run and a run over the
saved responses give the same timeline. A note also appears as an `annotate_log_entry`; the two are one fact,
matched like a webhook and a log entry are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ops_postmortem.config import Config
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.connectors.pagerduty.api import DEFAULT_URL, ITERATION_LIMIT, SERVICE, Page, PagerDutyApi
from ops_postmortem.connectors.pagerduty.connector import (
    IncidentRef,
    Observation,
    dedupe_log_entries,
    incident_facts,
    incident_of_response,
    incident_url,
    log_entry_observation,
    merge_observations,
)
from ops_postmortem.errors import NotFoundError, ServiceError
from ops_postmortem.model import Kind, RawEvidence, SourceBatch, TimelineEvent
from ops_postmortem.timeutil import parse_time

# PagerDuty ids are upper-case letters and digits (PT4KHLK, Q2K7XV3LPN8RTA); numbers are digits.
_PD_REF = re.compile(r"#?\d+|[A-Z0-9]{6,}")


class PagerDutyLive:
    """Reads one incident. `incident` names it when INCIDENT_ID is the team's own id (e.g. INC-2042)."""

    name = SERVICE

    def __init__(
        self,
        api: PagerDutyApi,
        *,
        incident: str | None = None,
        references: Callable[[str], Sequence[str]] | None = None,
    ) -> None:
        self.api = api
        self.incident = incident
        # Where else the incident may be named (the incident channel's topic), asked only when needed.
        self.references = references

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        incident: str | None = None,
        retry: RetryPolicy | None = None,
        references: Callable[[str], Sequence[str]] | None = None,
    ) -> PagerDutyLive:
        section = config.section("pagerduty")
        token = section.secret("token", required=True)
        assert token is not None
        api_url = section.string("api_url", DEFAULT_URL) or DEFAULT_URL
        api = PagerDutyApi(token.reveal(), base_url=api_url, retry=retry)
        return cls(api, incident=incident, references=references)

    def collect(self, incident_id: str) -> SourceBatch:
        warnings: list[str] = []
        raw: list[RawEvidence] = []
        incident_page = self._find(incident_id, raw)
        incident = incident_page.data.get("incident") if isinstance(incident_page.data, Mapping) else None
        if not isinstance(incident, Mapping) or incident_of_response(incident) is None:
            raise ServiceError(f"GET {incident_page.path} answered without an incident object", service=SERVICE,
                               status=200)
        ref = incident_of_response(incident)
        assert ref is not None
        raw.append(_evidence("incident.json", incident_page))

        listing = self.api.log_entries(ref.id)
        raw += [_evidence(f"log_entries-{n:04d}.json", page) for n, page in enumerate(listing.pages, start=1)]
        if listing.truncated:
            warnings.append(
                f"pagerduty: incident {ref.label} has more than {ITERATION_LIMIT} log entries; only the first "
                f"{len(listing.items)} could be read"
            )
        notes_page = self.api.notes(ref.id)
        raw.append(_evidence("notes.json", notes_page))

        entries = dedupe_log_entries(e for e in listing.items if isinstance(e, Mapping))
        url = incident_url(incident, entries)
        rest: list[Observation] = []
        for entry in entries:
            try:
                rest.append(log_entry_observation(entry, incident_url=url))
            except ValueError as exc:
                warnings.append(f"pagerduty: log entry {entry.get('id', '?')} skipped: {exc}")
        notes = _notes(notes_page.data, url, warnings)
        events = merge_observations(rest, notes, incident_id=ref.id)
        events.sort(key=lambda e: (e.at, e.ident))
        facts = incident_facts(incident, log_entries=entries, events=events, ref=ref)
        return SourceBatch(source=SERVICE, events=tuple(events), facts=(facts,), warnings=tuple(warnings),
                           raw=tuple(raw))

    def _find(self, incident_id: str, raw: list[RawEvidence]) -> Page:
        """By the explicit reference, else INCIDENT_ID as a PagerDuty id or number, else as an incident key,
        else by what the incident channel's topic names."""
        if self.incident:
            return self.api.incident(self.incident)
        wanted = incident_id.strip()
        if _PD_REF.fullmatch(wanted):
            try:
                return self.api.incident(wanted)
            except NotFoundError:
                pass
        listing = self.api.incidents_with_key(wanted)
        raw += [_evidence(f"incidents-by-key-{n:04d}.json", p) for n, p in enumerate(listing.pages, start=1)]
        found = [i for i in listing.items if isinstance(i, Mapping) and incident_of_response(i)]
        if len(found) == 1:
            ref = incident_of_response(found[0])
            assert ref is not None
            return self.api.incident(ref.id)
        hint = "name it with --pagerduty-incident ID_OR_NUMBER, or in the incident channel's topic (PD #1234)"
        if not found:
            for reference in self.references(wanted) if self.references else ():
                try:
                    return self.api.incident(reference)
                except NotFoundError:
                    continue
            raise NotFoundError(f"no incident has the id, number or incident key {wanted!r}", service=SERVICE,
                                status=404, hint=hint)
        labels = ", ".join(_label(i) for i in found[:5])
        raise NotFoundError(f"{len(found)} incidents have the incident key {wanted!r} ({labels})", service=SERVICE,
                            status=404, hint=hint)


def _label(incident: Mapping[str, Any]) -> str:
    ref = incident_of_response(incident) or IncidentRef("?")
    return ref.label


def _evidence(name: str, page: Page) -> RawEvidence:
    return RawEvidence(f"{SERVICE}/{name}", page.raw)


def _notes(body: Any, url: str | None, warnings: list[str]) -> list[Observation]:
    """`GET /incidents/{id}/notes` items as note observations (matched against annotate log entries)."""
    notes = body.get("notes") if isinstance(body, Mapping) else None
    found: list[Observation] = []
    for note in notes if isinstance(notes, list) else []:
        if not isinstance(note, Mapping):
            continue
        try:
            found.append(note_observation(note, incident_url=url))
        except ValueError as exc:
            warnings.append(f"pagerduty: note {note.get('id', '?')} skipped: {exc}")
    return found


def note_observation(note: Mapping[str, Any], *, incident_url: str | None = None) -> Observation:
    """One `IncidentNote` as a note event by its author; ValueError says why it cannot be used."""
    content = note.get("content")
    if not isinstance(content, str) or not content.strip():
        raise ValueError("no content")
    created = _text(note.get("created_at"))
    if created is None:
        raise ValueError("no created_at")
    try:
        at = parse_time(created)
    except ValueError as exc:
        raise ValueError(f"bad created_at: {exc}") from exc
    user = note.get("user") if isinstance(note.get("user"), Mapping) else {}
    assert isinstance(user, Mapping)
    ident = str(note.get("id") or f"note@{created}")
    event = TimelineEvent(
        at=at,
        source=SERVICE,
        kind=Kind.NOTE,
        text=content.strip(),
        actor=_text(user.get("summary")),
        link=incident_url,
        ident=f"note:{ident}",
    )
    return Observation(event, _text(user.get("id")), _text(user.get("type")))


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None

