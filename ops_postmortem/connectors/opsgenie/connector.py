"""Opsgenie JSON -> domain model: an alert (`GetAlertResponse.data`), its logs and its notes.

Pure functions over the vendor's dicts, so the file reader and a live API client share them.
Field names follow the Opsgenie swagger (`Alert`, `AlertReport`, `AlertLog`, `AlertNote`, `AlertPaging`).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ops_postmortem.connectors import jsonvalues as jv
from ops_postmortem.model import IncidentFacts, Kind, Person, TimelineEvent

SOURCE = "opsgenie"

# A note and the "Added note to alert" log line it causes are stamped a few milliseconds apart.
MATCH_WINDOW = timedelta(seconds=5)

# Log texts are sentences ("Alert acknowledged via web", "Alert created via ...", "Alert closed by ...",
# "Added note to alert"); the `type` field only says who acted (system, alertRecipient, ...), so the text
# decides. Order matters: a notification about an acknowledged alert is a notification.
_LOG_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bnotif|^sent\b", re.IGNORECASE), Kind.NOTIFY),
    (re.compile(r"^alert (?:is )?created\b", re.IGNORECASE), Kind.TRIGGER),
    (re.compile(r"\badded note\b|\bnote (?:is )?added\b", re.IGNORECASE), Kind.NOTE),
    (re.compile(r"\bunacknowledged\b", re.IGNORECASE), Kind.UNACKNOWLEDGE),
    (re.compile(r"\backnowledged\b", re.IGNORECASE), Kind.ACKNOWLEDGE),
    (re.compile(r"\bclosed\b", re.IGNORECASE), Kind.RESOLVE),
    (re.compile(r"\bescalated\b", re.IGNORECASE), Kind.ESCALATE),
    (re.compile(r"\bassigned\b|\bownership\b", re.IGNORECASE), Kind.ASSIGN),
)

# Opsgenie writes automatic actions as done by "System".
_NOT_A_PERSON = {"system", ""}


@dataclass(frozen=True)
class AlertKey:
    """How a request named the alert: `identifierType` (id | tiny | alias) and the identifier."""

    kind: str
    value: str

    @property
    def label(self) -> str:
        return {"tiny": f"#{self.value}", "alias": f"alias {self.value!r}"}.get(self.kind, self.value)


# ---- small readers over untyped JSON ---------------------------------------------------------








def _millis(value: Any) -> timedelta | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return timedelta(milliseconds=value)


# ---- identity ---------------------------------------------------------------------------------


def alert_keys(alert: Mapping[str, Any]) -> dict[str, str]:
    """Every identifier the alert answers to, by identifierType."""
    keys = {"id": jv.text(alert.get("id")), "tiny": jv.text(alert.get("tinyId")), "alias": jv.text(alert.get("alias"))}
    return {kind: value for kind, value in keys.items() if value}


def paging_key(paging: Mapping[str, Any]) -> AlertKey | None:
    """The alert a log or note page belongs to, read from its paging links
    (`.../v2/alerts/{identifier}/logs?identifierType=tiny&offset=...`)."""
    for link in (jv.text(paging.get(name)) for name in ("first", "next", "last", "prev")):
        if not link:
            continue
        parts = urlsplit(link)
        match = re.search(r"/v2/alerts/([^/]+)/(?:logs|notes)/?$", parts.path)
        if match:
            kind = (parse_qs(parts.query).get("identifierType") or ["id"])[0]
            return AlertKey(kind, unquote(match.group(1)))
    return None


def alert_url(web_url: str, alert_id: str) -> str:
    """The alert's page in the Opsgenie web app."""
    return f"{web_url.rstrip('/')}/alert/detail/{alert_id}/details"


# ---- logs and notes ---------------------------------------------------------------------------


def log_kind(text: str) -> str:
    """Classify a log line by what it says; anything unrecognised is Kind.OTHER."""
    for pattern, kind in _LOG_RULES:
        if pattern.search(text):
            return kind
    return Kind.OTHER


def _offset_ident(prefix: str, entry: Mapping[str, Any]) -> str:
    # `offset` ("<ms>_<ns>") is unique per entry and is what paging resumes from.
    offset = jv.text(entry.get("offset"))
    return f"{prefix}:{offset}" if offset else f"{prefix}:{entry.get('createdAt')}"


def event_from_log(entry: Mapping[str, Any], *, link: str | None = None) -> TimelineEvent:
    """One `AlertLog`; ValueError says why it cannot be used."""
    text = jv.text(entry.get("log"))
    if text is None:
        raise ValueError("no log text")
    return TimelineEvent(
        at=jv.time(entry.get("createdAt"), "createdAt"),
        source=SOURCE,
        kind=log_kind(text),
        text=text,
        actor=jv.text(entry.get("owner")),
        link=link,
        ident=_offset_ident("log", entry),
    )


def event_from_note(entry: Mapping[str, Any], *, link: str | None = None) -> TimelineEvent:
    """One `AlertNote`; its text is the event text."""
    text = jv.text(entry.get("note"))
    if text is None:
        raise ValueError("no note text")
    return TimelineEvent(
        at=jv.time(entry.get("createdAt"), "createdAt"),
        source=SOURCE,
        kind=Kind.NOTE,
        text=text,
        actor=jv.text(entry.get("owner")),
        link=link,
        ident=_offset_ident("note", entry),
    )


def merge_notes(
    logs: Sequence[TimelineEvent],
    notes: Sequence[TimelineEvent],
    *,
    alert_id: str | None,
    window: timedelta = MATCH_WINDOW,
) -> list[TimelineEvent]:
    """Log events plus note events, each with a dedupe_key; an "Added note" log line and the note it
    announces (same owner, within `window`) are one fact, kept once as the note, which has the text."""
    note_times = sorted((note.at, index) for index, note in enumerate(notes))
    pairs: list[tuple[timedelta, int, int]] = []
    for log_index, log in enumerate(logs):
        if log.kind != Kind.NOTE:
            continue
        low = bisect_left(note_times, (log.at - window, -1))
        high = bisect_right(note_times, (log.at + window, len(notes)))
        for at, note_index in note_times[low:high]:
            owner = notes[note_index].actor
            if not owner or not log.actor or owner.casefold() == log.actor.casefold():
                pairs.append((abs(at - log.at), log_index, note_index))
    matched_logs: set[int] = set()
    matched_notes: set[int] = set()
    for _, log_index, note_index in sorted(pairs):
        if log_index not in matched_logs and note_index not in matched_notes:
            matched_logs.add(log_index)
            matched_notes.add(note_index)
    scope = f"{SOURCE}:{alert_id or '?'}"
    events = [replace(note, dedupe_key=f"{scope}:{note.ident}") for note in notes]
    events += [
        replace(log, dedupe_key=f"{scope}:{log.ident}")
        for index, log in enumerate(logs)
        if index not in matched_logs
    ]
    return events


def report_events(
    alert: Mapping[str, Any], present: Iterable[str], *, link: str | None = None
) -> list[TimelineEvent]:
    """Creation, acknowledgement and close from the alert itself (`createdAt`, `report.ackTime` and
    `report.closeTime`, milliseconds after creation), for the kinds the logs did not supply."""
    try:
        created = jv.time(alert.get("createdAt"), "createdAt")
    except ValueError:
        return []
    alert_id = jv.text(alert.get("id")) or "?"
    report = jv.obj(alert.get("report"))
    have = set(present)
    events: list[TimelineEvent] = []
    if Kind.TRIGGER not in have:
        source = jv.text(alert.get("source"))
        message = jv.text(alert.get("message"))
        text = "Alert created" + (f" from {source}" if source else "") + (f": {message}" if message else "")
        events.append(
            TimelineEvent(
                created, SOURCE, Kind.TRIGGER, text, actor=source, link=link, ident=f"alert:{alert_id}"
            )
        )
    for kind, field, by_field, verb in (
        (Kind.ACKNOWLEDGE, "ackTime", "acknowledgedBy", "Acknowledged"),
        (Kind.RESOLVE, "closeTime", "closedBy", "Closed"),
    ):
        after = _millis(report.get(field))
        if kind in have or after is None:
            continue
        by = jv.text(report.get(by_field))
        text = verb + (f" by {by}" if by else "") + " (alert report)"
        events.append(
            TimelineEvent(created + after, SOURCE, kind, text, actor=by, link=link, ident=f"report:{field}")
        )
    return [replace(e, dedupe_key=f"{SOURCE}:{alert_id}:{e.ident}") for e in events]


# ---- alert facts ------------------------------------------------------------------------------


def _person(name: str | None) -> Person | None:
    if name is None or name.casefold() in _NOT_A_PERSON:
        return None
    return Person(name=name, email=name if "@" in name else None)


def _responders(alert: Mapping[str, Any], events: Sequence[TimelineEvent]) -> tuple[Person, ...]:
    report = jv.obj(alert.get("report"))
    names = [jv.text(alert.get("owner")), jv.text(report.get("acknowledgedBy")), jv.text(report.get("closedBy"))]
    # People who acted on the alert; notifications only say who was paged.
    names += [e.actor for e in events if e.kind in (Kind.ACKNOWLEDGE, Kind.RESOLVE, Kind.ASSIGN, Kind.NOTE)]
    for responder in (r for r in alert.get("responders") or [] if isinstance(r, Mapping)):
        if responder.get("type") == "user":
            names.append(jv.text(responder.get("username")) or jv.text(responder.get("name")))
    people: list[Person] = []
    seen: set[str] = set()
    for person in map(_person, names):
        if person is not None and person.name.casefold() not in seen:
            seen.add(person.name.casefold())
            people.append(person)
    return tuple(people)


def alert_facts(
    alert: Mapping[str, Any] | None,
    *,
    events: Sequence[TimelineEvent] = (),
    web_url: str | None = None,
    key: AlertKey | None = None,
) -> IncidentFacts:
    """What Opsgenie knows about the alert; with only log/note pages, what their events and key imply."""
    data = jv.obj(alert)
    alert_id = jv.text(data.get("id")) or (key.value if key and key.kind == "id" else None)
    status = jv.text(data.get("status"))
    triggers = sorted(e.at for e in events if e.kind == Kind.TRIGGER)
    closes = sorted(e.at for e in events if e.kind == Kind.RESOLVE)
    try:
        created: datetime | None = jv.time(data.get("createdAt"), "createdAt")
    except ValueError:
        created = triggers[0] if triggers else None
    return IncidentFacts(
        source=SOURCE,
        ident=alert_id,
        number=jv.text(data.get("tinyId")) or (key.value if key and key.kind == "tiny" else None),
        title=jv.text(data.get("message")),
        severity=jv.text(data.get("priority")),
        status=status,
        url=alert_url(web_url, alert_id) if web_url and alert_id else None,
        created_at=created,
        resolved_at=closes[-1] if closes and status in (None, "closed") else None,
        responders=_responders(data, events),
    )
