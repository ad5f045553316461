"""Extract and sync are idempotent and crash-safe: a run stopped at any write, then run again, creates no
duplicate and loses nothing. Faults are injected by wrapping the real local store and tracker."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from ops_postmortem.connectors.local.store import LocalStore
from ops_postmortem.connectors.local.tracker import LocalTracker
from ops_postmortem.errors import ConflictError, DocumentError, LockedError
from ops_postmortem.model import CellUpdate, DocRef, Ticket, TicketFailure, TicketRequest
from ops_postmortem.workflows.extract import ExtractSettings, extract
from ops_postmortem.workflows.sync import SyncState, run_lock, sync

AS_OF = date(2026, 11, 10)
SETTINGS = ExtractSettings()
DOC = """# Postmortem: pool exhaustion

<!-- ops-postmortem incident="INC-7" -->

- **Incident:** INC-7
- **Status:** Draft
- **Date:** 2026-11-03

## Action items

| Action | Type | Owner | Due | Priority | Done when | Ticket |
| --- | --- | --- | --- | --- | --- | --- |
| Add a CI check that rejects a DB pool max below 20 | prevent | Priya Raman | 2026-11-24 | P1 | CI fails on max=5 |  |
| Page on DB connection saturation above 90% for 2 minutes | detect | Dana Kim | 2026-11-20 | P1 | alert fires in a test |  |
| Write the pool sizing runbook for checkout-api | process | Lee Park | 2026-11-30 | P2 | runbook linked from the alert |  |
| Improve monitoring | detect | SRE team | TBD | P2 |  |  |
"""


class Crash(Exception):
    """Stands in for the process being killed."""


class FaultyStore(LocalStore):
    def __init__(self, directory: Path, fail_at: str | None) -> None:
        super().__init__(directory)
        self.fail_at = fail_at

    def update_cells(self, ref: DocRef, updates: Sequence[CellUpdate], *, revision: str | None = None) -> Any:
        if self.fail_at == "write_back":
            raise Crash("killed before the write-back")
        return super().update_cells(ref, updates, revision=revision)

    def add_comment(self, ref: DocRef, text: str, **kwargs: Any) -> Any:
        if self.fail_at == "comment":
            raise Crash("killed before the comment")
        return super().add_comment(ref, text, **kwargs)


class FaultyTracker(LocalTracker):
    def __init__(self, path: Path, fail_at: str | None) -> None:
        super().__init__(path)
        self.fail_at = fail_at
        self.create_calls = 0

    def create(self, requests: Sequence[TicketRequest]) -> list[Ticket]:
        self.create_calls += 1
        if self.fail_at == "before_create":
            raise Crash("killed before creating")
        tickets = super().create(requests)
        if self.fail_at == "after_create":
            raise Crash("killed after creating, before returning")
        return tickets


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "INC-7.md").write_text(DOC)
    return tmp_path


def ticket_cells(folder: Path) -> list[str]:
    lines = [line for line in (folder / "INC-7.md").read_text().splitlines() if line.startswith("| ")][2:]
    return [line.strip().strip("|").split("|")[-1].strip() for line in lines]


@pytest.mark.parametrize("fail_at", ["before_create", "after_create", "write_back", "comment"])
def test_a_run_killed_at_any_write_then_rerun_creates_each_ticket_once(folder: Path, fail_at: str) -> None:
    store_fail = fail_at if fail_at in ("write_back", "comment") else None
    tracker_fail = fail_at if fail_at in ("before_create", "after_create") else None
    store = FaultyStore(folder, store_fail)
    ref = store.locate("INC-7")
    with pytest.raises(Crash):
        extract(store, FaultyTracker(folder / "tickets.db", tracker_fail), ref, SETTINGS, as_of=AS_OF)

    tracker = FaultyTracker(folder / "tickets.db", None)
    result = extract(LocalStore(folder), tracker, ref, SETTINGS, as_of=AS_OF)
    assert [r.ticket.key if r.ticket else None for r in result.items] == ["PM-1", "PM-2", "PM-3", None]
    assert [t.key for t in tracker.list()] == ["PM-1", "PM-2", "PM-3"]
    assert ticket_cells(folder) == ["PM-1", "PM-2", "PM-3", ""]
    again = extract(LocalStore(folder), tracker, ref, SETTINGS, as_of=AS_OF)
    assert not any(r.created for r in again.items)
    assert len(tracker.list()) == 3
    comments = LocalStore(folder).comments(ref)
    assert len([c for c in comments if c.author.name == "ops-postmortem"]) == 1


def test_a_bound_ticket_is_never_duplicated(folder: Path) -> None:
    text = (folder / "INC-7.md").read_text().replace("| CI fails on max=5 |  |", "| CI fails on max=5 | OPS-12 |")
    (folder / "INC-7.md").write_text(text)
    store = LocalStore(folder)
    tracker = LocalTracker(folder / "tickets.db")
    result = extract(store, tracker, store.locate("INC-7"), SETTINGS, as_of=AS_OF)
    assert result.items[0].ticket is not None and result.items[0].ticket.key == "OPS-12"
    assert not result.items[0].created
    assert [t.key for t in tracker.list()] == ["PM-1", "PM-2"]


def test_dry_run_writes_nothing(folder: Path) -> None:
    store = LocalStore(folder)
    before = (folder / "INC-7.md").read_bytes()
    tracker = LocalTracker(folder / "tickets.db")
    result = extract(store, tracker, store.locate("INC-7"), SETTINGS, as_of=AS_OF, dry_run=True)
    assert [r.verdict for r in result.items] == ["valid", "valid", "valid", "invalid"]
    assert (folder / "INC-7.md").read_bytes() == before
    assert tracker.list() == []
    assert store.comments(store.locate("INC-7")) == []


class RefusingTracker(LocalTracker):
    def create(self, requests: Sequence[TicketRequest]) -> list[Ticket | TicketFailure]:  # type: ignore[override]
        out: list[Ticket | TicketFailure] = []
        for request in requests:
            if request.owner == "Lee Park":
                out.append(TicketFailure(request.item_key, "assignee: user 'Lee Park' cannot be assigned"))
            else:
                out.extend(super().create([request]))
        return out


def test_a_refused_ticket_is_reported_on_its_row_and_the_rest_proceed(folder: Path) -> None:
    store = LocalStore(folder)
    result = extract(store, RefusingTracker(folder / "tickets.db"), store.locate("INC-7"), SETTINGS, as_of=AS_OF)
    third = result.items[2]
    assert third.verdict == "invalid" and third.ticket is None
    assert "the tracker refused the ticket: assignee: user 'Lee Park' cannot be assigned" in third.problems
    assert ticket_cells(folder) == ["PM-1", "PM-2", "", ""]
    assert not result.ok


class RacingStore(LocalStore):
    """Someone edits the doc between our read and our write-back, once."""

    raced = False

    def update_cells(self, ref: DocRef, updates: Sequence[CellUpdate], *, revision: str | None = None) -> Any:
        if not self.raced:
            self.raced = True
            path = self.directory / "INC-7.md"
            path.write_text(path.read_text().replace("## Action items", "## Action items\n\nEdited meanwhile."))
        return super().update_cells(ref, updates, revision=revision)


def test_a_concurrent_edit_is_kept_and_the_write_back_reapplied(folder: Path) -> None:
    store = RacingStore(folder)
    result = extract(store, LocalTracker(folder / "tickets.db"), store.locate("INC-7"), SETTINGS, as_of=AS_OF)
    assert [r.ticket.key if r.ticket else None for r in result.items][:3] == ["PM-1", "PM-2", "PM-3"]
    text = (folder / "INC-7.md").read_text()
    assert "Edited meanwhile." in text and ticket_cells(folder)[:3] == ["PM-1", "PM-2", "PM-3"]


def test_a_stale_revision_is_a_conflict(folder: Path) -> None:
    store = LocalStore(folder)
    ref = store.locate("INC-7")
    with pytest.raises(ConflictError):
        store.update_cells(ref, [CellUpdate(0, 0, 6, "X-1")], revision="0" * 64)


def test_a_doc_without_an_action_table_is_a_clear_error(folder: Path) -> None:
    (folder / "INC-7.md").write_text(DOC.split("## Action items")[0])
    store = LocalStore(folder)
    with pytest.raises(DocumentError, match="no action-item table found"):
        extract(store, LocalTracker(folder / "tickets.db"), store.locate("INC-7"), SETTINGS, as_of=AS_OF)


def test_a_table_without_a_ticket_column_is_a_clear_error(folder: Path) -> None:
    text = DOC.replace(" Ticket |\n", "\n").replace("| --- | --- | --- | --- | --- | --- | --- |", "| --- | --- | --- | --- | --- | --- |")
    (folder / "INC-7.md").write_text(text.replace(" |  |\n", " |\n"))
    store = LocalStore(folder)
    with pytest.raises(DocumentError, match="no Ticket column"):
        extract(store, LocalTracker(folder / "tickets.db"), store.locate("INC-7"), SETTINGS, as_of=AS_OF)


# ---- sync -------------------------------------------------------------------------------------


def test_sync_state_lost_costs_one_full_scan_never_a_duplicate(folder: Path) -> None:
    store, tracker = LocalStore(folder), LocalTracker(folder / "tickets.db")
    state = folder / "state.json"
    first = sync(store, tracker, state, SETTINGS, as_of=AS_OF)
    assert sum(1 for r in first.docs[0].extract.items if r.created) == 3  # type: ignore[union-attr]
    state.unlink()
    again = sync(store, tracker, state, SETTINGS, as_of=AS_OF)
    assert len(again.docs) == 1 and not any(r.created for r in again.docs[0].extract.items)  # type: ignore[union-attr]
    assert len(tracker.list()) == 3


def test_corrupt_state_is_a_warning_and_a_full_scan(folder: Path) -> None:
    state = folder / "state.json"
    state.write_text("{not json")
    report = sync(LocalStore(folder), LocalTracker(folder / "tickets.db"), state, SETTINGS, as_of=AS_OF)
    assert report.warnings and "unreadable sync state" in report.warnings[0]
    assert len(report.docs) == 1
    assert SyncState.load(state)[0].cursor is not None


def test_overlapping_runs_are_refused(folder: Path) -> None:
    state = folder / "state.json"
    with run_lock(state), pytest.raises(LockedError, match="another sync is running"):
        sync(LocalStore(folder), LocalTracker(folder / "tickets.db"), state, SETTINGS, as_of=AS_OF)


def test_sync_reports_overdue_and_writes_statuses(folder: Path) -> None:
    store, tracker = LocalStore(folder), LocalTracker(folder / "tickets.db")
    state = folder / "state.json"
    sync(store, tracker, state, SETTINGS, as_of=AS_OF)
    tracker.close("PM-2")
    report = sync(store, tracker, state, SETTINGS, as_of=date(2026, 11, 25))
    doc = report.docs[0]
    assert doc.done == 1 and doc.total == 3
    assert doc.overdue == ("Add a CI check that rejects a DB pool max below 20",)
    assert ticket_cells(folder)[:3] == ["PM-1 - Open", "PM-2 - Done", "PM-3 - Open"]


def test_sync_of_unchanged_docs_reads_nothing(folder: Path) -> None:
    calls: list[str] = []

    class CountingStore(LocalStore):
        def read(self, ref: DocRef) -> Any:
            calls.append(ref.id)
            return super().read(ref)

    store, tracker = CountingStore(folder), LocalTracker(folder / "tickets.db")
    state = folder / "state.json"
    sync(store, tracker, state, SETTINGS, as_of=AS_OF, now=datetime.now().astimezone())
    calls.clear()
    report = sync(store, tracker, state, SETTINGS, as_of=AS_OF)
    assert calls == [] and report.skipped == 1
