"""Action items: find the table in any store's document, read its rows, and check each one is specific,
owned, time-bounded and verifiable."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from ops_postmortem.dates import DateParser
from ops_postmortem.errors import DocumentError
from ops_postmortem.model import ActionItem, Cell, Document, Person, Table, TicketRef

COLUMNS = ("action", "type", "owner", "due", "priority", "done_when", "ticket")

SYNONYMS: dict[str, tuple[str, ...]] = {
    "action": ("action", "action item", "action items", "item", "task", "follow-up", "follow up", "followup",
               "what", "description", "title", "remediation"),
    "type": ("type", "category", "kind", "class"),
    "owner": ("owner", "owners", "assignee", "assigned to", "who", "responsible", "dri", "driver"),
    "due": ("due", "due date", "deadline", "target date", "target", "by when", "eta", "date"),
    "priority": ("priority", "prio", "pri", "p"),
    "done_when": ("done when", "definition of done", "acceptance criteria", "success criteria", "verification",
                  "verified by", "how we verify", "how will we know", "exit criteria", "done"),
    "ticket": ("ticket", "tickets", "issue", "jira", "tracking", "tracker", "key", "link", "github issue"),
}
HEADINGS = ("action items", "action item", "follow-ups", "follow ups", "followups", "corrective actions",
            "remediation items", "remediations", "next steps")
TYPES = ("prevent", "mitigate", "detect", "process")

# Ticket keys as trackers write them: Jira OPS-12, the local PM-3, GitHub #42 or owner/repo#42.
TICKET_KEY = re.compile(r"\b(?:[A-Z][A-Z0-9_]+-\d+|[\w.-]+/[\w.-]+#\d+)\b|(?<![\w/])#\d+\b")

_MARKERS = re.compile(r"^\s*[\[(]?\s*(idea|candidate|proposal|maybe|parked)\s*[\])]?\s*[:\-]?\s*", re.IGNORECASE)

# Actions that name no concrete change. Precision first: each is a phrase reviewers reject outright.
_VAGUE = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^\s*(tbd|tbc|todo|n/?a|none|\?+|-+|…|\.\.\.)\s*$",
        r"\bbe (more )?(careful|vigilant|diligent|cautious|mindful)\b",
        r"\b(look|looking) into\b",
        r"^\s*(investigate|explore|consider|think about|discuss|revisit|evaluate|review)\b",
        (
            r"^\s*(improve|better|more|enhance|increase) (the )?(monitoring|alerting|testing|tests|observability|"
            r"communication|documentation|docs|process|processes|reliability|resilience|visibility|coverage)\s*\.?$"
        ),
        r"^\s*(fix|address|resolve|handle) (it|this|that|the (issue|problem|bug|incident))\s*\.?$",
        r"\b(try to|make sure to|remember to|should be more)\b",
        r"^\s*follow[- ]?up\b",
    )
]
_TEAM = re.compile(
    r"\b(team|squad|guild|tribe|chapter|oncall|on-call|rotation|sre|devops|ops|platform|infra|everyone|all|"
    r"engineering|eng|tbd|tbc|nobody|none|n/a|unassigned)\b|^@[\w.-]+-(team|oncall|sre|ops)\b",
    re.IGNORECASE,
)
_SEVERAL = re.compile(r"\s(?:and|&|\+)\s|[,;/]|\n")
_MEASURABLE = re.compile(
    r"\d+\s*(%|ms|s\b|sec|min|m\b|h\b|hours?|days?|x\b|rps|qps|errors?|requests?|connections?)|[<>≤≥]=?\s*\d"
    r"|\b(alert|alarm|page)s? (fires?|triggers?)|\b(test|check|canary|lint|ci job)s? (fails?|passes|blocks?)"
    r"|\b(runbook|dashboard|doc|adr|playbook) (exists|published|linked|merged)|\bmerged\b|\bdeployed to\b",
    re.IGNORECASE,
)
_VAGUE_DONE = re.compile(r"^\s*(done|fixed|complete|completed|finished|tbd|n/?a|yes|when done|-+|\?+)\s*\.?$", re.IGNORECASE)


def normalise_words(text: str) -> str:
    """Lower-case ASCII words separated by single spaces: how headers, headings and phrases are compared."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", folded.lower()).split())


def column_map(header: Sequence[str]) -> dict[str, int]:
    """Our column name -> index, matched by header names and synonyms in any order; extras ignored."""
    mapping: dict[str, int] = {}
    normalised = [normalise_words(h) for h in header]
    for name in COLUMNS:
        for index, text in enumerate(normalised):
            if index in mapping.values():
                continue
            if text in SYNONYMS[name] or text.rstrip("s") in SYNONYMS[name]:
                mapping[name] = index
                break
    return mapping


def find_action_table(doc: Document) -> tuple[Table, dict[str, int]]:
    """The action-item table: under an action-items heading, else the first table whose header looks like one."""
    candidates: list[Table] = []
    for table in doc.tables:
        mapping = column_map(table.header)
        if "action" not in mapping:
            continue
        heading = normalise_words(table.heading or "")
        if any(heading.startswith(h) for h in HEADINGS):
            return table, mapping
        if {"owner", "due"} & mapping.keys():
            candidates.append(table)
    if candidates:
        return candidates[0], column_map(candidates[0].header)
    headed = [t for t in doc.tables if any(normalise_words(t.heading or "").startswith(h) for h in HEADINGS)]
    if headed:
        raise DocumentError(
            f"{doc.ref.url}: the action-item table has no recognisable Action column "
            f"(header: {' | '.join(headed[0].header)})",
            hint="name the columns Action | Type | Owner | Due | Priority | Done when | Ticket",
        )
    raise DocumentError(
        f"{doc.ref.url}: no action-item table found",
        hint='add a "## Action items" section with a table Action | Type | Owner | Due | Priority | Done when | Ticket',
    )


def _cell(row: Sequence[Cell], mapping: Mapping[str, int], name: str) -> Cell | None:
    index = mapping.get(name)
    return row[index] if index is not None and index < len(row) else None


def _text(cell: Cell | None) -> str:
    return cell.text.strip() if cell else ""


def read_items(table: Table, mapping: Mapping[str, int], parser: DateParser) -> list[ActionItem]:
    items: list[ActionItem] = []
    for index, row in enumerate(table.rows):
        if not any(c.text.strip() or c.people or c.date for c in row):
            continue  # blank row
        action_cell = _cell(row, mapping, "action")
        action = _text(action_cell)
        marker_match = _MARKERS.match(action)
        type_text = _text(_cell(row, mapping, "type"))
        marker = None
        if marker_match:
            marker, action = marker_match.group(1).lower(), action[marker_match.end():].strip()
        elif normalise_words(type_text) in ("idea", "candidate", "proposal"):
            marker = normalise_words(type_text)
        owner_cell = _cell(row, mapping, "owner")
        due_cell = _cell(row, mapping, "due")
        due_text = _text(due_cell)
        items.append(
            ActionItem(
                row=index,
                action=action,
                type=type_text or None,
                owner=_text(owner_cell) or None,
                owner_person=owner_cell.people[0] if owner_cell and len(owner_cell.people) == 1 else None,
                due=(due_cell.date if due_cell and due_cell.date else parser.parse(due_text)),
                due_text=due_text,
                priority=_text(_cell(row, mapping, "priority")) or None,
                done_when=_text(_cell(row, mapping, "done_when")) or None,
                ticket=_ticket(_cell(row, mapping, "ticket")),
                marker=marker,
            )
        )
    return items


def _ticket(cell: Cell | None) -> TicketRef | None:
    if cell is None:
        return None
    if cell.ticket_keys:  # a Jira macro or issue chip; sync writes the status after it ("OPS-12 - Done")
        key = cell.ticket_keys[0]
        after = cell.text.split(key, 1)[1].strip(" -–—:|") if key in cell.text else ""
        return TicketRef(key, cell.links[0] if cell.links else None, after or None)
    match = TICKET_KEY.search(cell.text)
    if match is None:
        for link in cell.links:  # a bare issue URL: .../browse/OPS-12 or .../issues/42
            found = TICKET_KEY.search(link.rsplit("/", 1)[-1]) or re.search(r"/issues/(\d+)$", link)
            if found:
                key = found.group(0) if found.re is TICKET_KEY else f"#{found.group(1)}"
                return TicketRef(key, link)
        return None
    status = cell.text[match.end():].strip(" -–—:|")
    return TicketRef(match.group(0), cell.links[0] if cell.links else None, status or None)


Verdict = Literal["valid", "invalid", "ignored"]


@dataclass(frozen=True)
class ItemCheck:
    item: ActionItem
    verdict: Verdict
    problems: tuple[str, ...] = ()
    overdue: bool = False


@dataclass(frozen=True)
class CheckRules:
    incident_date: date | None = None
    as_of: date | None = None
    priority_limits: Mapping[str, timedelta] = field(default_factory=dict)
    resolve_owner: Callable[[str], bool] | None = None  # the tracker's say on whether an owner exists


def check_item(item: ActionItem, rules: CheckRules) -> ItemCheck:
    if item.marker is not None:
        return ItemCheck(item, "ignored")
    problems = [
        *_specific(item.action),
        *_owned(item, rules),
        *_time_bounded(item, rules),
        *_verifiable(item),
    ]
    if item.type and normalise_words(item.type) not in TYPES:
        problems.append(f"type {item.type!r} is not one of {', '.join(TYPES)}")
    overdue = bool(item.due and rules.as_of and item.due < rules.as_of and not _done(item))
    return ItemCheck(item, "invalid" if problems else "valid", tuple(problems), overdue)


# Ticket statuses, as written back into a Ticket cell, that end the chase (normalised).
CLOSED_STATUSES = frozenset({
    "done", "closed", "resolved", "fixed", "complete", "completed",
    "won t do", "wont do", "not planned", "duplicate", "cancelled", "canceled",
})


def _done(item: ActionItem) -> bool:
    status = (item.ticket.status or "") if item.ticket else ""
    return normalise_words(status) in CLOSED_STATUSES


def _specific(action: str) -> list[str]:
    if not action:
        return ["not specific: the action is empty"]
    for pattern in _VAGUE:
        if pattern.search(action):
            return [f"not specific: {action!r} names no concrete change; say what will be built or changed"]
    if len(action.split()) < 3:
        return [f"not specific: {action!r} is too short to say what will change"]
    return []


def _owned(item: ActionItem, rules: CheckRules) -> list[str]:
    if item.owner_person is not None:
        name = item.owner_person.email or item.owner_person.name
    else:
        name = (item.owner or "").strip()
    if not name:
        return ["not owned: no owner; name one person"]
    if item.owner_person is None and _SEVERAL.search(name):
        return [f"not owned: {name!r} names several owners; name one person"]
    if item.owner_person is None and _TEAM.search(name):
        return [f"not owned: {name!r} is a team or placeholder, not a person; name one person"]
    if rules.resolve_owner is not None and not rules.resolve_owner(name):
        return [f"not owned: {name!r} is not a user the tracker knows; use their tracker name or e-mail"]
    return []


def _time_bounded(item: ActionItem, rules: CheckRules) -> list[str]:
    if item.due is None:
        if not item.due_text:
            return ["not time-bounded: no due date"]
        return [f"not time-bounded: {item.due_text!r} is not a date (use e.g. 2026-12-01)"]
    problems: list[str] = []
    if rules.incident_date and item.due < rules.incident_date:
        problems.append(f"not time-bounded: due {item.due.isoformat()} is before the incident")
    limit = rules.priority_limits.get((item.priority or "").strip().upper())
    if limit is not None and rules.incident_date and item.due > rules.incident_date + limit:
        weeks = limit.days // 7
        span = f"{weeks} week{'s' if weeks != 1 else ''}" if limit.days % 7 == 0 else f"{limit.days} days"
        problems.append(
            f"not time-bounded: a {item.priority} item is due within {span} of the incident, "
            f"but {item.due.isoformat()} is later"
        )
    return problems


def _verifiable(item: ActionItem) -> list[str]:
    if item.done_when and not _VAGUE_DONE.match(item.done_when):
        return []
    if _MEASURABLE.search(item.action):
        return []
    return ["not verifiable: add a 'Done when' criterion someone can check (e.g. 'alert fires in staging test')"]


def item_key(doc_id: str, action: str, occurrence: int) -> str:
    """A stable per-item key kept on the ticket, so a crashed run finds its ticket again.

    Derived from the doc and the row's action text (not its position, which moves when rows are added);
    `occurrence` separates identical actions in one doc.
    """
    digest = hashlib.sha256(f"{doc_id}\n{normalise_words(action)}\n{occurrence}".encode()).hexdigest()[:12]
    return f"pmai-{digest}"


def item_keys(doc_id: str, items: Sequence[ActionItem]) -> dict[int, str]:
    """Row -> item key for every item."""
    seen: dict[str, int] = {}
    keys: dict[int, str] = {}
    for item in items:
        norm = normalise_words(item.action)
        seen[norm] = seen.get(norm, -1) + 1
        keys[item.row] = item_key(doc_id, item.action, seen[norm])
    return keys


def person_of(item: ActionItem) -> Person | None:
    if item.owner_person is not None:
        return item.owner_person
    return Person(item.owner) if item.owner else None
