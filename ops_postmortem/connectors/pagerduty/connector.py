"""PagerDuty JSON -> domain model: incidents, incident log entries and v3 webhook events.

Pure functions over the vendor's dicts, so the file reader and a live API client share them.
Field names follow the REST API v2 spec (`Incident`, `LogEntry`, `Channel`) and the v3 webhook payload
(`event.{id, event_type, occurred_at, agent, client, data}`).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ops_postmortem.connectors import jsonvalues as jv
from ops_postmortem.model import IncidentFacts, Kind, Person, TimelineEvent

SOURCE = "pagerduty"

# One action reported by a log entry and by a webhook carries times that differ by milliseconds,
# occasionally a second or two (the webhook is stamped when the outbound event is built).
MATCH_WINDOW = timedelta(seconds=5)

_LOG_KINDS = {
    "trigger": Kind.TRIGGER,
    "acknowledge": Kind.ACKNOWLEDGE,
    "acknowledgement": Kind.ACKNOWLEDGE,  # the spec's AcknowledgeLogEntry schema spells it so
    "unacknowledge": Kind.UNACKNOWLEDGE,
    "resolve": Kind.RESOLVE,
    "annotate": Kind.NOTE,
    "assign": Kind.ASSIGN,
    "escalate": Kind.ESCALATE,
    "repeat_escalation_path": Kind.ESCALATE,
    "exhaust_escalation_path": Kind.ESCALATE,
    "notify": Kind.NOTIFY,
}

# Webhook event types whose kind must equal the kind of the matching log entry type.
_WEBHOOK_KINDS = {
    "incident.triggered": Kind.TRIGGER,
    "incident.acknowledged": Kind.ACKNOWLEDGE,
    "incident.unacknowledged": Kind.UNACKNOWLEDGE,
    "incident.resolved": Kind.RESOLVE,
    "incident.reopened": Kind.REOPEN,
    "incident.annotated": Kind.NOTE,
    "incident.escalated": Kind.ESCALATE,
    "incident.reassigned": Kind.ASSIGN,
    "incident.delegated": "delegate",
    "incident.responder.added": "responder_request",
    "incident.status_update_published": Kind.STATUS_UPDATE,
}

_WEBHOOK_VERBS = {
    "incident.triggered": "Triggered",
    "incident.acknowledged": "Acknowledged",
    "incident.unacknowledged": "Unacknowledged",
    "incident.resolved": "Resolved",
    "incident.reopened": "Reopened",
    "incident.escalated": "Escalated",
    "incident.reassigned": "Reassigned",
    "incident.delegated": "Delegated",
}

# A channel summary that is only a contact address (user actions by email or SMS reply) is not shown.
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+|\+?[\d\s().-]{7,}")

# An IncidentReference summary is "[#1234] The server is on fire."
_NUMBERED_SUMMARY = re.compile(r"^\[#(\d+)\]\s*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class IncidentRef:
    """Which PagerDuty incident a piece of data is about."""

    id: str
    number: str | None = None

    @property
    def label(self) -> str:
        return f"{self.id} (#{self.number})" if self.number else self.id


@dataclass(frozen=True)
class Observation:
    """A timeline event plus the agent that caused it, used to recognise one action seen twice."""

    event: TimelineEvent
    agent_id: str | None = None
    agent_type: str | None = None


# ---- small readers over untyped JSON ---------------------------------------------------------










def _humanize(name: str) -> str:
    return name.replace("_", " ").replace(".", " ").strip().capitalize()


# ---- identity ---------------------------------------------------------------------------------


def incident_of_response(incident: Mapping[str, Any]) -> IncidentRef | None:
    """The incident in a `GET /incidents/{id}` response's `incident` object."""
    ident = jv.text(incident.get("id"))
    return IncidentRef(ident, jv.text(incident.get("incident_number"))) if ident else None


def incident_of_log_entry(entry: Mapping[str, Any]) -> IncidentRef | None:
    ref = jv.obj(entry.get("incident"))
    ident = jv.text(ref.get("id"))
    if ident is None:
        return None
    match = _NUMBERED_SUMMARY.match(jv.text(ref.get("summary")) or "")
    return IncidentRef(ident, match.group(1) if match else None)


def incident_of_webhook(event: Mapping[str, Any]) -> IncidentRef | None:
    """The incident a v3 webhook event is about (`data` is the incident, or refers to it)."""
    data = jv.obj(event.get("data"))
    if data.get("type") == "incident":
        ident = jv.text(data.get("id"))
        return IncidentRef(ident, jv.text(data.get("number"))) if ident else None
    ident = jv.text(jv.obj(data.get("incident")).get("id"))
    return IncidentRef(ident) if ident else None


def is_incident_webhook(event: Mapping[str, Any]) -> bool:
    """Incident events only; service.* and pagey.ping carry nothing for a timeline."""
    resource = jv.text(event.get("resource_type"))
    event_type = jv.text(event.get("event_type")) or ""
    return resource == "incident" or (resource is None and event_type.startswith("incident."))


# ---- log entries -------------------------------------------------------------------------------


def log_entry_kind(entry_type: str) -> str:
    """`trigger_log_entry` -> Kind.TRIGGER; unmapped types keep their name without `_log_entry`."""
    name = entry_type.removesuffix("_reference").removesuffix("_log_entry")
    return _LOG_KINDS.get(name, name)


def _note_of(entry: Mapping[str, Any]) -> str | None:
    # Notes travel in `note`, or in a `note` channel's summary (older exports: content/notes).
    channel = jv.obj(entry.get("channel"))
    candidates = [entry.get("note")]
    if channel.get("type") == "note":
        candidates += [channel.get("summary"), channel.get("content"), channel.get("notes")]
    return next((text for text in map(jv.text, candidates) if text), None)


def _channel_details(entry: Mapping[str, Any], kind: str) -> list[str]:
    """How the action came in, without contact addresses (a notify channel's summary is the address)."""
    channel = jv.obj(entry.get("channel"))
    ctype = jv.text(channel.get("type"))
    notification = jv.obj(channel.get("notification")) or jv.obj(entry.get("notification"))
    details: list[str] = []
    if kind == Kind.NOTIFY:
        ntype = jv.text(notification.get("type"))
        if ntype:
            details.append(_humanize(ntype).lower())
        elif ctype:
            details.append(f"via {ctype}")
        status = jv.text(notification.get("status"))
        if status:
            details.append(f"status {status}")
        return details
    if ctype == "auto":
        details.append("automatic")
    elif ctype and ctype != "note":
        slack_channel = jv.text(jv.obj(channel.get("channel")).get("name"))
        details.append(
            f"via {ctype} #{slack_channel}" if ctype == "slack" and slack_channel else f"via {ctype}"
        )
    summary = jv.text(channel.get("summary"))
    if ctype != "note" and summary and not _ADDRESS.fullmatch(summary):
        details.append(summary)
    details.append(jv.text(jv.obj(entry.get("event_details")).get("description")) or "")
    return details


def _log_entry_text(entry: Mapping[str, Any], entry_type: str, kind: str) -> str:
    summary = jv.text(entry.get("summary"))
    if kind == Kind.NOTE:
        return _note_of(entry) or summary or "Note added"
    text = summary or _humanize(entry_type.removesuffix("_log_entry"))
    extra: list[str] = []
    for detail in _channel_details(entry, kind):
        if detail and detail.casefold() not in text.casefold() and detail not in extra:
            extra.append(detail)
    if extra:
        text = f"{text.rstrip('.')} ({'; '.join(extra)})"
    note = _note_of(entry)
    return f"{text}. Note: {note}" if note else text


def log_entry_observation(entry: Mapping[str, Any], *, incident_url: str | None = None) -> Observation:
    """One incident log entry as an event; ValueError says why an entry cannot be used."""
    entry_type = jv.text(entry.get("type"))
    if entry_type is None:
        raise ValueError("no type")
    at = jv.time(entry.get("created_at"), "created_at")
    kind = log_entry_kind(entry_type)
    agent = jv.obj(entry.get("agent"))
    ident = jv.text(entry.get("id")) or f"{entry_type}@{entry.get('created_at')}"
    event = TimelineEvent(
        at=at,
        source=SOURCE,
        kind=kind,
        text=_log_entry_text(entry, entry_type, kind),
        actor=jv.text(agent.get("summary")),
        link=jv.text(entry.get("html_url")) or jv.text(jv.obj(entry.get("incident")).get("html_url")) or incident_url,
        ident=ident,
    )
    return Observation(event, jv.text(agent.get("id")), jv.text(agent.get("type")))


def dedupe_log_entries(entries: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Overlapping pages repeat entries: keep one per id, the most detailed copy."""
    best: dict[str, Mapping[str, Any]] = {}
    anonymous: list[Mapping[str, Any]] = []
    for entry in entries:
        ident = jv.text(entry.get("id"))
        if ident is None:
            anonymous.append(entry)
        elif ident not in best or len(repr(entry)) > len(repr(best[ident])):
            best[ident] = entry
    return [*best.values(), *anonymous]


# ---- webhooks ------------------------------------------------------------------------------------


def webhook_kind(event_type: str) -> str:
    """`incident.acknowledged` -> Kind.ACKNOWLEDGE; unmapped types keep their name, dots as underscores."""
    return _WEBHOOK_KINDS.get(event_type, event_type.removeprefix("incident.").replace(".", "_"))


def _names(refs: Any) -> str:
    return ", ".join(name for name in (jv.text(ref.get("summary")) for ref in jv.objs(refs)) if name)


def _webhook_text(event_type: str, data: Mapping[str, Any], agent: str | None) -> str:
    if event_type == "incident.annotated":
        return jv.text(data.get("content")) or "Note added"
    if event_type == "incident.status_update_published":
        message = jv.text(data.get("message"))
        return f"Status update: {message}" if message else "Status update published"
    if event_type in ("incident.responder.added", "incident.responder.replied"):
        user = jv.text(jv.obj(data.get("user")).get("summary")) or "a responder"
        if event_type == "incident.responder.replied":
            state = jv.text(data.get("state"))
            return f"{user} replied to the responder request" + (f" ({state})" if state else "")
        message = jv.text(data.get("message"))
        return f"Requested {user} as a responder" + (f": {message}" if message else "")
    if event_type == "incident.priority_updated":
        priority = jv.text(jv.obj(data.get("priority")).get("summary"))
        return f"Priority set to {priority}" if priority else "Priority removed"
    text = _WEBHOOK_VERBS.get(event_type) or _humanize(event_type.removeprefix("incident."))
    if event_type in ("incident.escalated", "incident.reassigned") and _names(data.get("assignees")):
        text += f" to {_names(data.get('assignees'))}"
    if event_type == "incident.delegated":
        policy = jv.text(jv.obj(data.get("escalation_policy")).get("summary"))
        text += f" to {policy}" if policy else ""
    if agent:
        text += f" by {agent}"
    if event_type == "incident.triggered" and jv.text(data.get("title")):
        text += f": {jv.text(data.get('title'))}"
    return text


def webhook_observation(event: Mapping[str, Any], *, incident_url: str | None = None) -> Observation:
    """One v3 webhook event (the object under `event`); ValueError says why it cannot be used."""
    event_type = jv.text(event.get("event_type"))
    if event_type is None:
        raise ValueError("no event_type")
    at = jv.time(event.get("occurred_at"), "occurred_at")
    data = jv.obj(event.get("data"))
    agent = jv.obj(event.get("agent"))
    actor = jv.text(agent.get("summary"))
    text = _webhook_text(event_type, data, actor)
    client = jv.text(jv.obj(event.get("client")).get("name"))
    if client and event_type != "incident.annotated":
        text += f" (via {client})"
    ident = jv.text(event.get("id")) or f"{event_type}@{event.get('occurred_at')}"
    link = jv.text(data.get("html_url")) if data.get("type") == "incident" else None
    event_out = TimelineEvent(
        at=at,
        source=SOURCE,
        kind=webhook_kind(event_type),
        text=text,
        actor=actor,
        link=link or jv.text(jv.obj(data.get("incident")).get("html_url")) or incident_url,
        ident=ident,
    )
    return Observation(event_out, jv.text(agent.get("id")), jv.text(agent.get("type")))


def dedupe_webhooks(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Redelivered webhooks repeat the event id: keep the first."""
    seen: set[str] = set()
    kept: list[Mapping[str, Any]] = []
    for event in events:
        ident = jv.text(event.get("id"))
        if ident is not None and ident in seen:
            continue
        if ident is not None:
            seen.add(ident)
        kept.append(event)
    return kept


# ---- one action seen through REST and a webhook --------------------------------------------------


def _same_agent(a: Observation, b: Observation) -> bool:
    if a.agent_id and b.agent_id and a.agent_id == b.agent_id:
        return True
    if a.event.actor and b.event.actor and a.event.actor.casefold() == b.event.actor.casefold():
        return True
    if (a.agent_id is None and a.event.actor is None) or (b.agent_id is None and b.event.actor is None):
        return True  # one side does not say who: kind, incident and time must carry the match
    # A trigger names the integration on one side and its service on the other.
    users = [t for t in (a.agent_type, b.agent_type) if t and t.startswith("user")]
    return a.event.kind == Kind.TRIGGER and not users


def _same_text(a: TimelineEvent, b: TimelineEvent) -> bool:
    if a.kind != Kind.NOTE:
        return True
    left, right = " ".join(a.text.split()), " ".join(b.text.split())
    # Webhook note content may be trimmed (`trimmed: true`), so a prefix counts.
    return left.startswith(right) or right.startswith(left)


def merge_observations(
    rest: Sequence[Observation],
    webhooks: Sequence[Observation],
    *,
    incident_id: str | None,
    window: timedelta = MATCH_WINDOW,
) -> list[TimelineEvent]:
    """Log-entry events plus the webhook events no log entry already reports, each with a dedupe_key.

    A webhook and a log entry are one action when they share kind and agent and lie within `window`;
    the log entry is kept (it has the channel and the note). Closest pairs are matched first.
    """
    by_kind: dict[str, list[tuple[datetime, int]]] = {}
    for index, obs in enumerate(rest):
        by_kind.setdefault(obs.event.kind, []).append((obs.event.at, index))
    for times in by_kind.values():
        times.sort()
    pairs: list[tuple[timedelta, int, int]] = []
    for hook_index, hook in enumerate(webhooks):
        times = by_kind.get(hook.event.kind, [])
        low = bisect_left(times, (hook.event.at - window, -1))
        high = bisect_right(times, (hook.event.at + window, len(rest)))
        for at, rest_index in times[low:high]:
            candidate = rest[rest_index]
            if _same_agent(candidate, hook) and _same_text(candidate.event, hook.event):
                pairs.append((abs(at - hook.event.at), hook_index, rest_index))
    matched_hooks: set[int] = set()
    matched_rest: set[int] = set()
    for _, hook_index, rest_index in sorted(pairs):
        if hook_index not in matched_hooks and rest_index not in matched_rest:
            matched_hooks.add(hook_index)
            matched_rest.add(rest_index)
    scope = f"{SOURCE}:{incident_id or '?'}"
    events = [replace(obs.event, dedupe_key=f"{scope}:{obs.event.ident}") for obs in rest]
    events += [
        replace(obs.event, dedupe_key=f"{scope}:{obs.event.ident}")
        for index, obs in enumerate(webhooks)
        if index not in matched_hooks
    ]
    return events


# ---- incident facts ------------------------------------------------------------------------------


def _person(ref: Mapping[str, Any]) -> Person | None:
    ref_type = jv.text(ref.get("type")) or "user_reference"
    name = jv.text(ref.get("summary")) or jv.text(ref.get("name"))
    if not ref_type.startswith("user") or name is None:
        return None
    return Person(name=name, email=jv.text(ref.get("email")), account_id=jv.text(ref.get("id")))


def _incident_snapshots(webhooks: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Incident objects carried by webhooks, oldest first (webhooks arrive out of order)."""
    dated: list[tuple[datetime, Mapping[str, Any]]] = []
    for event in webhooks:
        data = jv.obj(event.get("data"))
        if data.get("type") != "incident":
            continue
        try:
            dated.append((jv.time(event.get("occurred_at"), "occurred_at"), data))
        except ValueError:
            continue
    return [data for _, data in sorted(dated, key=lambda pair: pair[0])]


def incident_url(
    incident: Mapping[str, Any] | None,
    log_entries: Sequence[Mapping[str, Any]] = (),
    webhooks: Sequence[Mapping[str, Any]] = (),
) -> str | None:
    """The incident's web page, from whichever object names it."""
    candidates = [jv.obj(incident).get("html_url")]
    candidates += [
        jv.obj(e.get("data")).get("html_url") for e in webhooks if jv.obj(e.get("data")).get("type") == "incident"
    ]
    candidates += [jv.obj(jv.obj(e.get("data")).get("incident")).get("html_url") for e in webhooks]
    candidates += [jv.obj(e.get("incident")).get("html_url") for e in log_entries]
    return next((url for url in map(jv.text, candidates) if url), None)


def _responders(
    incident: Mapping[str, Any],
    snapshots: Sequence[Mapping[str, Any]],
    log_entries: Sequence[Mapping[str, Any]],
    webhooks: Sequence[Mapping[str, Any]],
) -> tuple[Person, ...]:
    refs: list[Mapping[str, Any]] = []
    # Assignees
    refs += [jv.obj(a.get("assignee")) for a in jv.objs(incident.get("assignments"))]
    for data in snapshots:
        refs += jv.objs(data.get("assignees"))
    for entry in log_entries:
        if log_entry_kind(jv.text(entry.get("type")) or "") in (Kind.ASSIGN, Kind.ESCALATE):
            refs += jv.objs(entry.get("assignees"))
    # Acknowledgers
    refs += [jv.obj(a.get("acknowledger")) for a in jv.objs(incident.get("acknowledgements"))]
    for entry in log_entries:
        if log_entry_kind(jv.text(entry.get("type")) or "") == Kind.ACKNOWLEDGE:
            refs.append(jv.obj(entry.get("agent")))
    for event in webhooks:
        if event.get("event_type") == "incident.acknowledged":
            refs.append(jv.obj(event.get("agent")))
    # Responder requests
    refs += [jv.obj(r.get("user")) for r in jv.objs(incident.get("incidents_responders"))]
    for request in jv.objs(incident.get("responder_requests")):
        for target in jv.objs(request.get("responder_request_targets")):
            inner = jv.obj(target.get("responder_request_target"))
            refs += [jv.obj(r.get("user")) for r in jv.objs(inner.get("incidents_responders"))]
    for event in webhooks:
        if event.get("event_type") == "incident.responder.added":
            refs.append(jv.obj(jv.obj(event.get("data")).get("user")))
    people: list[Person] = []
    seen: set[str] = set()
    for ref in refs:
        person = _person(ref)
        if person is None:
            continue
        key = person.account_id or person.name.casefold()
        if key not in seen:
            seen.add(key)
            people.append(person)
    return tuple(people)


def _resolved_at(
    status: str | None, incident: Mapping[str, Any], events: Sequence[TimelineEvent]
) -> datetime | None:
    if status is not None and status != "resolved":
        return None
    state_changes = sorted((e.at, e.kind) for e in events if e.kind in (Kind.RESOLVE, Kind.REOPEN))
    if state_changes:
        at, kind = state_changes[-1]
        return at if kind == Kind.RESOLVE else None
    # last_status_change_at is the resolve time only while the incident is resolved.
    fields = ("resolved_at", "last_status_change_at") if status == "resolved" else ("resolved_at",)
    for field in fields:
        try:
            return jv.time(incident.get(field), field)
        except ValueError:
            continue
    return None


def incident_facts(
    incident: Mapping[str, Any] | None,
    *,
    log_entries: Sequence[Mapping[str, Any]] = (),
    webhooks: Sequence[Mapping[str, Any]] = (),
    events: Sequence[TimelineEvent] = (),
    ref: IncidentRef | None = None,
) -> IncidentFacts:
    """What PagerDuty knows about the incident: the REST object first, then the newest webhook
    snapshot, then what log entries and events imply."""
    rest = jv.obj(incident)
    snapshots = _incident_snapshots(webhooks)
    layers: list[Mapping[str, Any]] = [rest, *reversed(snapshots)]

    def pick(*path: str) -> str | None:
        for layer in layers:
            value: Any = layer
            for key in path:
                value = jv.obj(value).get(key)
            if jv.text(value):
                return jv.text(value)
        return None

    refs = [jv.obj(e.get("incident")) for e in log_entries] + [
        jv.obj(jv.obj(e.get("data")).get("incident")) for e in webhooks
    ]
    numbered = [m for m in (_NUMBERED_SUMMARY.match(jv.text(r.get("summary")) or "") for r in refs) if m]
    title = pick("title") or (numbered[0].group(2).strip() if numbered else None)
    number = (
        jv.text(rest.get("incident_number")) or pick("number") or (numbered[0].group(1) if numbered else None)
    )
    service = pick("service", "summary") or next(
        (name for name in (jv.text(jv.obj(e.get("service")).get("summary")) for e in log_entries) if name), None
    )
    triggers = sorted(e.at for e in events if e.kind == Kind.TRIGGER)
    try:
        created: datetime | None = jv.time(pick("created_at"), "created_at")
    except ValueError:
        created = triggers[0] if triggers else None
    status = pick("status")
    return IncidentFacts(
        source=SOURCE,
        ident=pick("id") or (ref.id if ref else None),
        number=number or (ref.number if ref else None),
        title=title,
        severity=pick("priority", "summary"),
        status=status,
        service=service,
        url=incident_url(incident, log_entries, webhooks),
        created_at=created,
        resolved_at=_resolved_at(status, rest, events),
        responders=_responders(rest, snapshots, log_entries, webhooks),
    )
