"""Remind: chase action items that are overdue or due soon, across every postmortem, at most once a day each.

Done items are not chased: a ticket's status comes from the tracker (one lookup per run), else from the doc's
Ticket cell. Each digest (per channel) or direct message (per owner) is recorded on the docs of the items it
holds, as `reminded.<item key>` = "<date> <target>...", before it is posted: a run killed in between misses
a day rather than repeating one. When Slack refuses a post outright, the record is taken back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from ops_postmortem.connectors.base import DocumentStore, Notifier, TicketTracker
from ops_postmortem.errors import DocumentError, ServiceError
from ops_postmortem.model import DocRef, Person, Ticket, TicketRef
from ops_postmortem.people import normalise_name, person_from_text
from ops_postmortem.workflows.extract import ExtractSettings, check_document
from ops_postmortem.workflows.publish import (
    MAX_BLOCKS,
    TOTAL_LIMIT,
    chunk_lines,
    clip_mrkdwn,
    context,
    escape_mrkdwn,
    header,
    link_mrkdwn,
    refused,
)

REMINDED = "reminded."
DM = "dm"
_DONE = frozenset({"done", "closed", "resolved", "fixed", "complete", "completed", "won't do", "wont do",
                   "cancelled", "canceled"})


@dataclass(frozen=True)
class RemindSettings:
    days: int = 3  # items due within this many days count as due soon
    channels: tuple[str, ...] = ()
    dm_owners: bool = False


@dataclass(frozen=True)
class DueItem:
    ref: DocRef
    title: str
    incident_id: str | None
    item_key: str
    action: str
    owner: str | None
    person: Person | None
    due: date
    days: int  # days until due; negative when overdue
    ticket: TicketRef | None = None

    @property
    def state(self) -> str:
        return "overdue" if self.days < 0 else "due_soon"


@dataclass(frozen=True)
class Delivery:
    target: str  # "#channel" or "dm:<owner>"
    items: tuple[str, ...]  # item keys in the message
    link: str | None = None
    error: str | None = None
    planned: bool = False  # --dry-run: what would be posted


@dataclass(frozen=True)
class RemindResult:
    items: tuple[DueItem, ...]
    deliveries: tuple[Delivery, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(d.error is None for d in self.deliveries)


# ---- what is due ---------------------------------------------------------------------------------------


def due_items(
    store: DocumentStore, tracker: TicketTracker | None, settings: ExtractSettings, *, as_of: date, days: int
) -> tuple[list[DueItem], list[str]]:
    """Items of every postmortem that are overdue or due within `days`, not done; most urgent first."""
    found: list[tuple[DueItem, str | None]] = []  # with the status the doc shows
    warnings: list[str] = []
    for change in store.changed_since(None):
        try:
            doc = store.read(change.ref)
            checks, keys, _ = check_document(doc, None, settings, as_of)
        except DocumentError as exc:
            warnings.append(f"skipped {change.ref.url}: {exc}")
            continue
        for check in checks:
            row = check.item
            if check.verdict == "ignored" or row.due is None or (row.due - as_of).days > days:
                continue
            owner = row.owner_person.name if row.owner_person else row.owner
            # A team or several people cannot get a direct message; the channel digest still names them.
            owned = not any(p.startswith("not owned") for p in check.problems)
            person = row.owner_person or (person_from_text(row.owner) if row.owner and owned else None)
            found.append((
                DueItem(doc.ref, doc.title or doc.ref.title, doc.incident_id, keys[row.row], row.action, owner,
                        person, row.due, (row.due - as_of).days, row.ticket),
                row.ticket.status if row.ticket else None,
            ))
    tickets = _tickets(tracker, [i.ticket.key for i, _ in found if i.ticket], warnings)
    due: list[DueItem] = []
    for item, shown in found:
        ticket = tickets.get(item.ticket.key) if item.ticket else None
        if ticket is not None:
            if ticket.done:
                continue
            item = replace(item, ticket=TicketRef(ticket.key, ticket.url, ticket.status))
        elif shown and normalise_name(shown) in _DONE:
            continue
        due.append(item)
    due.sort(key=lambda i: (i.days, i.title, i.action))
    return due, warnings


def _tickets(tracker: TicketTracker | None, keys: list[str], warnings: list[str]) -> Mapping[str, Ticket]:
    if tracker is None or not keys:
        return {}
    try:
        return tracker.get(sorted(set(keys)))
    except ServiceError as exc:
        warnings.append(f"ticket statuses unavailable ({exc}); using the statuses written in the docs")
        return {}


# ---- the messages --------------------------------------------------------------------------------------


def _when(item: DueItem) -> str:
    if item.days < 0:
        late = -item.days
        return f"*overdue {late} day{'s' if late != 1 else ''}* (due {item.due.isoformat()})"
    if item.days == 0:
        return f"*due today* ({item.due.isoformat()})"
    return f"due in {item.days} day{'s' if item.days != 1 else ''} ({item.due.isoformat()})"


def _line(item: DueItem, with_owner: bool) -> str:
    doc = link_mrkdwn(item.ref.url, item.incident_id or item.title or item.ref.id)
    parts = [_when(item), clip_mrkdwn(" ".join(item.action.split()), 400)]
    if with_owner:
        parts.append(clip_mrkdwn(item.owner, 100) if item.owner else "_no owner_")
    if item.ticket:
        key = item.ticket.key[:60]
        shown = link_mrkdwn(item.ticket.url, key) if item.ticket.url else escape_mrkdwn(key)
        parts.append(shown + (f" ({clip_mrkdwn(item.ticket.status, 40)})" if item.ticket.status else ""))
    parts.append(doc)
    return "• " + " — ".join(parts)


def digest(items: Sequence[DueItem], title: str, *, with_owner: bool = True) -> tuple[str, list[dict[str, Any]], int]:
    """(fallback text, blocks, how many items they hold): as many as Slack's limits allow, most urgent first."""
    overdue = sum(1 for i in items if i.days < 0)
    blocks: list[dict[str, Any]] = [header(title)]
    summary = f"{overdue} overdue, {len(items) - overdue} due soon"
    blocks.append(context(summary))
    lines = [_line(i, with_owner) for i in items]
    body, used = chunk_lines("Action items", lines, TOTAL_LIMIT - 500, MAX_BLOCKS - 3)
    blocks.extend(body)
    if used < len(items):
        blocks.append(context(f"…and {len(items) - used} more; the next reminder lists them."))
    return f"{escape_mrkdwn(title)}: {summary}", blocks, used


# ---- remind --------------------------------------------------------------------------------------------


class _Marks:
    """`reminded.<key>` properties of the docs involved, read once per doc, written per message."""

    def __init__(self, store: DocumentStore, as_of: date) -> None:
        self.store = store
        self.day = as_of.isoformat()
        self.values: dict[str, dict[str, str]] = {}  # doc id -> property -> value

    def _props(self, ref: DocRef) -> dict[str, str]:
        if ref.id not in self.values:
            self.values[ref.id] = {k: v for k, v in self.store.properties(ref).items() if k.startswith(REMINDED)}
        return self.values[ref.id]

    def targets(self, item: DueItem) -> set[str]:
        words = self._props(item.ref).get(REMINDED + item.item_key, "").split()
        return set(words[1:]) if words and words[0] == self.day else set()

    def set(self, items: Sequence[DueItem], target: str, *, add: bool) -> None:
        by_doc: dict[str, tuple[DocRef, dict[str, str]]] = {}
        for item in items:
            targets = self.targets(item)
            targets = targets | {target} if add else targets - {target}
            value = " ".join([self.day, *sorted(targets)]) if targets else ""
            by_doc.setdefault(item.ref.id, (item.ref, {}))[1][REMINDED + item.item_key] = value
        for ref, values in by_doc.values():
            self.store.set_properties(ref, values)
            self._props(ref).update(values)


def remind(
    store: DocumentStore,
    tracker: TicketTracker | None,
    notifier: Notifier | None,
    extract_settings: ExtractSettings,
    settings: RemindSettings,
    *,
    as_of: date,
    dry_run: bool = False,
) -> RemindResult:
    """List what is due; with a notifier, post one digest per channel and/or one message per owner."""
    items, warnings = due_items(store, tracker, extract_settings, as_of=as_of, days=settings.days)
    if notifier is None or not items:
        return RemindResult(tuple(items), (), tuple(warnings))
    marks = _Marks(store, as_of)
    deliveries: list[Delivery] = []
    for channel in settings.channels:
        target = "#" + channel.strip().lstrip("#")
        todo = [i for i in items if target not in marks.targets(i)]
        if todo:
            deliveries.append(_deliver(notifier, marks, todo, target, dry_run, channel=channel))
    if settings.dm_owners:
        owners: dict[str, list[DueItem]] = {}
        for item in items:
            if item.person is not None and DM not in marks.targets(item):
                owners.setdefault(normalise_name(item.person.email or item.person.name), []).append(item)
        for owned in owners.values():
            deliveries.append(_deliver(notifier, marks, owned, DM, dry_run, person=owned[0].person))
    return RemindResult(tuple(items), tuple(deliveries), tuple(warnings))


def _deliver(
    notifier: Notifier,
    marks: _Marks,
    items: Sequence[DueItem],
    target: str,
    dry_run: bool,
    *,
    channel: str | None = None,
    person: Person | None = None,
) -> Delivery:
    label = target if person is None else f"dm:{person.name}"
    title = "Postmortem action items due" if person is None else "Your postmortem action items due"
    text, blocks, used = digest(items, title, with_owner=person is None)
    held = list(items[:used])
    keys = tuple(i.item_key for i in held)
    if dry_run:
        return Delivery(label, keys, planned=True)
    marks.set(held, target, add=True)
    try:
        if person is not None:
            link = notifier.post_direct(person, text, blocks)
        else:
            assert channel is not None
            link = notifier.post(channel, text, blocks)
    except ServiceError as exc:
        if refused(exc):
            marks.set(held, target, add=False)  # nothing was posted: the next run may try again today
        return Delivery(label, keys, error=str(exc))
    return Delivery(label, keys, link)


def remind_json(result: RemindResult) -> dict[str, Any]:
    return {
        "items": [
            {
                "url": i.ref.url,
                "incident": i.incident_id,
                "title": i.title,
                "action": i.action,
                "owner": i.owner,
                "due": i.due.isoformat(),
                "state": i.state,
                "days": i.days,
                "ticket": i.ticket.key if i.ticket else None,
                "status": i.ticket.status if i.ticket else None,
            }
            for i in result.items
        ],
        "posts": [
            {"target": d.target, "items": len(d.items), "link": d.link, "error": d.error, "planned": d.planned}
            for d in result.deliveries
        ],
        "warnings": list(result.warnings),
    }


def remind_text(result: RemindResult) -> str:
    lines = []
    for i in result.items:
        when = f"overdue {-i.days}d" if i.days < 0 else "due today" if i.days == 0 else f"due in {i.days}d"
        ticket = f" [{i.ticket.key}{' ' + i.ticket.status if i.ticket.status else ''}]" if i.ticket else ""
        lines.append(f"{when:<12} {i.due.isoformat()}  {i.incident_id or i.ref.id}  {i.owner or '(no owner)'}: "
                     f"{' '.join(i.action.split())}{ticket}")
    if not lines:
        lines.append("nothing overdue or due soon")
    for d in result.deliveries:
        count = f"{len(d.items)} item(s)"
        if d.planned:
            lines.append(f"would remind {d.target}: {count}")
        elif d.error:
            lines.append(f"failed to remind {d.target}: {d.error}")
        else:
            lines.append(f"reminded {d.target}: {count} {d.link or ''}".rstrip())
    return "\n".join(lines)
