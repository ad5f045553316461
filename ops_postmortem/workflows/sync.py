"""Sync: on a schedule, extract action items from changed postmortems and write ticket statuses back.

The state file only saves work: it holds a cursor and the modification time of our own last write per doc.
Losing it costs one full scan, never correctness, because extraction is idempotent by per-item keys.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ops_postmortem.actions import ItemCheck, find_action_table
from ops_postmortem.connectors.base import DocumentStore, TicketTracker
from ops_postmortem.errors import ConflictError, LockedError, PostmortemError
from ops_postmortem.model import UTC, CellUpdate, DocRef, Document, Ticket, iso_z
from ops_postmortem.timeutil import parse_time
from ops_postmortem.workflows.extract import (
    WRITE_ATTEMPTS,
    ExtractResult,
    ExtractSettings,
    check_document,
    extract,
    ticket_ref,
)


@dataclass
class SyncState:
    cursor: datetime | None = None
    written: dict[str, str] = field(default_factory=dict)  # doc id -> modified time after our last write
    statuses: dict[str, str] = field(default_factory=dict)  # ticket key -> the status we last wrote

    @classmethod
    def load(cls, path: Path) -> tuple[SyncState, str | None]:
        """The saved state, or a fresh one and a warning when it is missing or unreadable."""
        if not path.exists():
            return cls(), None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            cursor = parse_time(data["cursor"]) if data.get("cursor") else None
            written = {str(k): str(v) for k, v in data.get("written", {}).items()}
            statuses = {str(k): str(v) for k, v in data.get("statuses", {}).items()}
            return cls(cursor, written, statuses), None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return cls(), f"{path}: unreadable sync state ({exc}); scanning every postmortem once"

    def save(self, path: Path) -> None:
        data = {"cursor": iso_z(self.cursor), "written": self.written, "statuses": self.statuses}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
        os.replace(tmp, path)


@contextmanager
def run_lock(state_path: Path) -> Iterator[None]:
    """One sync at a time per state file: cron may start the next run before this one ends."""
    lock_path = state_path.with_name(state_path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise LockedError(
                f"{lock_path}: another sync is running", hint="let it finish; cron will run again"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class DocSync:
    ref: DocRef
    extract: ExtractResult | None = None
    statuses_written: int = 0
    done: int = 0
    total: int = 0
    overdue: tuple[str, ...] = ()  # actions past due and not done
    error: str | None = None


@dataclass(frozen=True)
class SyncReport:
    docs: tuple[DocSync, ...]
    skipped: int  # changed only by our own last write
    warnings: tuple[str, ...] = ()


def sync(
    store: DocumentStore,
    tracker: TicketTracker,
    state_path: Path,
    settings: ExtractSettings,
    *,
    as_of: date,
    now: datetime | None = None,
) -> SyncReport:
    with run_lock(state_path):
        state, warning = SyncState.load(state_path)
        started = now or datetime.now(UTC)
        changes = {c.ref.id: c for c in store.changed_since(state.cursor)}
        by_doc: dict[str, list[Ticket]] = {}
        for ticket in tracker.updated_since(state.cursor):
            # A ticket we created or whose status we already wrote back is no news for its doc.
            if ticket.doc_url and state.statuses.get(ticket.key) != ticket.status:
                by_doc.setdefault(ticket.doc_url, []).append(ticket)
        todo: dict[str, DocRef] = {}
        skipped = 0
        for doc_id, change in changes.items():
            ours = state.written.get(doc_id)
            if ours is not None and ours == iso_z(change.modified_at) and change.ref.url not in by_doc:
                skipped += 1  # the only change since the cursor is our own write-back
                continue
            todo[doc_id] = change.ref
        for url in by_doc:
            ref = store.locate(url)
            todo.setdefault(ref.id, ref)
        results = []
        for ref in todo.values():
            try:
                result = _sync_doc(store, tracker, ref, settings, as_of)
            except PostmortemError as exc:
                results.append(DocSync(ref, error=str(exc)))
                continue
            results.append(result[0])
            if result[1] is not None:
                state.written[ref.id] = iso_z(result[1]) or ""
            state.statuses.update(result[2])
        state.cursor = started
        state.save(state_path)
        return SyncReport(tuple(results), skipped, (warning,) if warning else ())


def _sync_doc(
    store: DocumentStore, tracker: TicketTracker, ref: DocRef, settings: ExtractSettings, as_of: date
) -> tuple[DocSync, datetime | None, dict[str, str]]:
    """Extract, then write statuses back: (report, the doc's modified time after our writes, statuses shown)."""
    extracted = extract(store, tracker, ref, settings, as_of=as_of)
    # Re-read only when extraction wrote to the doc; otherwise the copy it read is current.
    doc = store.read(ref) if extracted.modified_at is not None or extracted.document is None else extracted.document
    checks, _, column = check_document(doc, None, settings, as_of)
    keys = [c.item.ticket.key for c in checks if c.item.ticket is not None]
    tickets = tracker.get(keys) if keys else {}
    modified_at = extracted.modified_at
    for attempt in range(WRITE_ATTEMPTS):
        updates = _status_updates(doc, checks, column, tickets)
        if not updates:
            break
        try:
            modified_at = store.update_cells(ref, updates, revision=doc.revision)
            break
        except ConflictError:
            # Another runner or a person wrote the doc since we read it: re-read and re-apply.
            if attempt == WRITE_ATTEMPTS - 1:
                raise
            doc = store.read(ref)
            checks, _, column = check_document(doc, None, settings, as_of)
            more = [c.item.ticket.key for c in checks if c.item.ticket and c.item.ticket.key not in tickets]
            if more:
                tickets = {**tickets, **tracker.get(more)}
    done = sum(1 for t in tickets.values() if t.done)
    overdue = tuple(
        c.item.action
        for c in checks
        if c.item.due is not None
        and c.item.due < as_of
        and not (c.item.ticket and (t := tickets.get(c.item.ticket.key)) and t.done)
        and c.verdict != "ignored"
    )
    shown = {t.key: t.status for t in tickets.values()}
    return DocSync(ref, extracted, len(updates), done, len(tickets), overdue), modified_at, shown


def _status_updates(
    doc: Document, checks: Sequence[ItemCheck], column: int, tickets: Mapping[str, Ticket]
) -> list[CellUpdate]:
    """Ticket cells whose text is not yet "KEY - Status"."""
    table, _ = find_action_table(doc)
    updates = []
    for check in checks:
        current = check.item.ticket
        ticket = tickets.get(current.key) if current else None
        if ticket is None:
            continue
        text = f"{ticket.key} - {ticket.status}"
        if table.rows[check.item.row][column].text.strip() != text:
            updates.append(CellUpdate(table.index, check.item.row, column, text, ticket_ref(ticket).url))
    return updates


def report_json(report: SyncReport) -> dict[str, Any]:
    return {
        "docs": [
            {
                "url": d.ref.url,
                "tickets_created": sum(1 for r in d.extract.items if r.created) if d.extract else 0,
                "invalid_items": sum(1 for r in d.extract.items if r.verdict == "invalid") if d.extract else 0,
                "statuses_written": d.statuses_written,
                "done": d.done,
                "total": d.total,
                "overdue": list(d.overdue),
                "error": d.error,
            }
            for d in report.docs
        ],
        "skipped_unchanged": report.skipped,
        "warnings": list(report.warnings),
    }
