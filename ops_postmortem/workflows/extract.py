"""Extract: the doc's action-item table becomes tickets; keys and links are written back into its rows.

Idempotent and crash-safe: every ticket carries a stable per-item key, so a run killed between creating a
ticket and writing its key back finds and binds that ticket next time instead of opening another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ops_postmortem.actions import CheckRules, ItemCheck, check_item, find_action_table, item_keys, read_items
from ops_postmortem.connectors.base import DocumentStore, TicketTracker
from ops_postmortem.dates import DateParser
from ops_postmortem.errors import ConflictError, DocumentError
from ops_postmortem.escaping import web_url
from ops_postmortem.model import (
    ActionItem,
    CellUpdate,
    DocRef,
    Document,
    Ticket,
    TicketFailure,
    TicketRef,
    TicketRequest,
)

BOT = "ops-postmortem"
COMMENT_MARK = "ops-postmortem:action-items"
WRITE_ATTEMPTS = 3


@dataclass(frozen=True)
class ExtractSettings:
    locale: str = "en-US"
    priority_limits: Mapping[str, timedelta] = field(default_factory=dict)
    comment_on_invalid: bool = True


@dataclass(frozen=True)
class ItemResult:
    check: ItemCheck
    item_key: str
    ticket: TicketRef | None = None
    created: bool = False
    failure: str | None = None  # the tracker refused the ticket

    @property
    def item(self) -> ActionItem:
        return self.check.item

    @property
    def problems(self) -> tuple[str, ...]:
        return self.check.problems + ((self.failure,) if self.failure else ())

    @property
    def verdict(self) -> str:
        return "invalid" if self.failure else self.check.verdict


@dataclass(frozen=True)
class ExtractResult:
    ref: DocRef
    items: tuple[ItemResult, ...]
    commented: bool = False
    modified_at: datetime | None = None  # the doc's modification time after our write-back, if any
    document: Document | None = field(default=None, compare=False)  # as read, before any write-back

    @property
    def ok(self) -> bool:
        return all(r.verdict != "invalid" for r in self.items)


def check_document(
    doc: Document, tracker: TicketTracker | None, settings: ExtractSettings, as_of: date
) -> tuple[list[ItemCheck], dict[int, str], int]:
    """Read and check every row: (checks, row -> item key, index of the Ticket column)."""
    table, mapping = find_action_table(doc)
    if "ticket" not in mapping:
        raise DocumentError(
            f"{doc.ref.url}: the action-item table has no Ticket column",
            hint="add a Ticket column so ticket keys can be written back",
        )
    items = read_items(table, mapping, DateParser(settings.locale))
    owners: dict[str, bool] = {}

    def resolves(owner: str) -> bool:  # each owner looked up once per run
        if owner not in owners:
            owners[owner] = tracker is None or tracker.resolve_owner(owner) is not None
        return owners[owner]

    rules = CheckRules(
        incident_date=doc.incident_date,
        as_of=as_of,
        priority_limits=settings.priority_limits,
        resolve_owner=resolves,
    )
    return [check_item(item, rules) for item in items], item_keys(doc.ref.id, items), mapping["ticket"]


def extract(
    store: DocumentStore,
    tracker: TicketTracker,
    ref: DocRef,
    settings: ExtractSettings,
    *,
    as_of: date,
    dry_run: bool = False,
) -> ExtractResult:
    doc = store.read(ref)
    checks, keys, ticket_column = check_document(doc, tracker, settings, as_of)
    wanted = {keys[c.item.row]: c for c in checks if c.verdict == "valid" and c.item.ticket is None}
    found = tracker.find(list(wanted)) if wanted else {}
    missing = [k for k in wanted if k not in found]
    created: dict[str, Ticket] = {}
    failures: dict[str, str] = {}
    if missing and not dry_run:
        requests = [_request(wanted[k].item, k, doc) for k in missing]
        for key, outcome in zip(missing, tracker.create(requests), strict=True):
            if isinstance(outcome, TicketFailure):
                failures[key] = f"the tracker refused the ticket: {outcome.message}"
            else:
                created[key] = outcome
    bound = {**{k: ticket_ref(t) for k, t in found.items()}, **{k: ticket_ref(t) for k, t in created.items()}}
    modified_at = None
    if bound and not dry_run:
        modified_at = _write_back(store, doc, bound, keys, ticket_column, settings, as_of)
    results = tuple(
        ItemResult(
            check=c,
            item_key=keys[c.item.row],
            ticket=c.item.ticket or bound.get(keys[c.item.row]),
            created=keys[c.item.row] in created,
            failure=failures.get(keys[c.item.row]),
        )
        for c in checks
    )
    commented = False
    if settings.comment_on_invalid and not dry_run:
        commented = _comment_invalid(store, ref, results)
    return ExtractResult(ref, results, commented, modified_at, doc)


def ticket_ref(ticket: Ticket) -> TicketRef:
    # Only web links go into a doc; the local tracker's file:// address opens nothing for a reader.
    return TicketRef(ticket.key, ticket.url if web_url(ticket.url) else None, ticket.status)


def _request(item: ActionItem, key: str, doc: Document) -> TicketRequest:
    incident = doc.incident_id or doc.ref.id
    title = " ".join(item.action.split())
    return TicketRequest(
        item_key=key,
        title=title if len(title) <= 200 else title[:199] + "…",
        action=item.action,
        done_when=item.done_when,
        type=item.type,
        owner=item.owner_person.email or item.owner_person.name if item.owner_person else item.owner,
        due=item.due,
        priority=item.priority,
        incident_id=incident,
        severity=doc.severity,
        doc_url=doc.ref.url,
        labels=("postmortem", _label(incident), key),
    )


def _label(text: str) -> str:
    """Labels cannot hold spaces in Jira or commas in GitHub."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text).strip("-").lower()


def _write_back(
    store: DocumentStore,
    doc: Document,
    bound: Mapping[str, TicketRef],
    keys: Mapping[int, str],
    column: int,
    settings: ExtractSettings,
    as_of: date,
) -> datetime | None:
    """Write keys into Ticket cells, guarded by the doc's revision; on a conflict re-read and re-apply."""
    for attempt in range(WRITE_ATTEMPTS):
        table, _ = find_action_table(doc)
        updates = [
            CellUpdate(table.index, row, column, ticket.key, ticket.url)
            for row, key in keys.items()
            if (ticket := bound.get(key)) is not None and _cell_text(table.rows, row, column) != ticket.key
        ]
        if not updates:
            return None
        try:
            return store.update_cells(doc.ref, updates, revision=doc.revision)
        except ConflictError:
            if attempt == WRITE_ATTEMPTS - 1:
                raise
            doc = store.read(doc.ref)
            _, keys, column = check_document(doc, None, settings, as_of)
    return None


def _cell_text(rows: Sequence[Sequence[Any]], row: int, column: int) -> str:
    if row < len(rows) and column < len(rows[row]):
        return str(rows[row][column].text).strip()
    return ""


def invalid_comment(results: Sequence[ItemResult]) -> str | None:
    """The review comment listing invalid rows, with a fingerprint so the same list is never posted twice."""
    invalid = [r for r in results if r.verdict == "invalid"]
    if not invalid:
        return None
    lines = [f"{len(invalid)} action item(s) cannot be ticketed yet:"]
    for r in invalid:
        lines.append(f"- Row {r.item.row + 1} \"{r.item.action or '(empty)'}\": {'; '.join(r.problems)}")
    body = "\n".join(lines)
    digest = hashlib.sha256(body.encode()).hexdigest()[:12]
    return f"{body}\n[{COMMENT_MARK} {digest}]"


def _comment_invalid(store: DocumentStore, ref: DocRef, results: Sequence[ItemResult]) -> bool:
    text = invalid_comment(results)
    if text is None:
        return False
    marker = text.rsplit("\n", 1)[-1]
    if any(marker in c.text for c in store.comments(ref)):
        return False  # already said; never repeat on every scheduled run
    store.add_comment(ref, text, author=BOT)
    return True


def results_json(result: ExtractResult) -> dict[str, Any]:
    """Exactly {"items": [{row, action, owner, due, ticket, verdict, problems, overdue, created}]}."""
    return {
        "items": [
            {
                "row": r.item.row + 1,
                "action": r.item.action,
                "owner": r.item.owner_person.name if r.item.owner_person else r.item.owner,
                "due": r.item.due.isoformat() if r.item.due else None,
                "ticket": r.ticket.key if r.ticket else None,
                "verdict": r.verdict,
                "problems": list(r.problems),
                "overdue": r.check.overdue,
                "created": r.created,
            }
            for r in result.items
        ]
    }
