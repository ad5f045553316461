"""The local SQLite tracker's own promises: keys, schema, bad files, locking, and the CLI's list/show/close."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from ops_postmortem.actions import item_key
from ops_postmortem.connectors.local.tracker import SCHEMA_VERSION, LocalTracker, canonical_status, describe
from ops_postmortem.errors import InputError, LockedError, PostmortemError, UsageError
from ops_postmortem.model import UTC, TicketRequest
from ops_postmortem.people import Directory, DirectoryEntry

T0 = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
DOC = "/srv/postmortems/INC-2042.md"
PEOPLE = Directory([DirectoryEntry("Dana Kim", "dana@acme.test", ("dkim",))])


def req(action: str, *, incident: str = "INC-2042", owner: str | None = "Dana Kim") -> TicketRequest:
    return TicketRequest(
        item_key=item_key(DOC, action, 0),
        title=action,
        action=action,
        done_when="alert fires in the staging game day",
        type="detect",
        owner=owner,
        due=date(2026, 12, 1),
        priority="P1",
        incident_id=incident,
        severity="SEV-1",
        doc_url=DOC,
        incident_url="https://acme.pagerduty.com/incidents/Q8XU3N0ZKP5RM4",
    )


class Clock:
    """A clock the test moves by hand, so updated_at comparisons never depend on timing."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, minutes: int = 1) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "postmortems" / "tickets.db"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tracker(db: Path, clock: Clock) -> LocalTracker:
    return LocalTracker(db, clock=clock)


# ---- schema ----------------------------------------------------------------------------------------


def test_database_is_created_on_first_use_with_version_and_wal(db: Path, tracker: LocalTracker) -> None:
    assert not db.exists()
    assert tracker.list() == []

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    columns = {row[1] for row in conn.execute("PRAGMA table_xinfo(tickets)")}
    assert columns == {"seq", "key", "item_key", "title", "description", "owner", "due", "priority", "status",
                       "labels", "doc_url", "incident_id", "created_at", "updated_at"}
    conn.close()


def test_an_existing_database_is_reused(db: Path, tracker: LocalTracker) -> None:
    [ticket] = tracker.create([req("Add a burn-rate alert on checkout 5xx")])
    assert LocalTracker(db).show(ticket.key) == ticket


def test_created_and_updated_times_are_utc_text(db: Path, tracker: LocalTracker) -> None:
    tracker.create([req("Add a burn-rate alert on checkout 5xx")])
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT created_at, updated_at FROM tickets").fetchone() == (
        "2026-11-05T09:00:00.000000Z", "2026-11-05T09:00:00.000000Z")
    conn.close()


def test_a_newer_schema_is_refused(db: Path, tracker: LocalTracker) -> None:
    tracker.list()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    with pytest.raises(InputError, match=r"schema 7 is newer.*\(1\): upgrade ops-postmortem"):
        tracker.list()


def test_another_programs_sqlite_file_is_refused_untouched(db: Path, tracker: LocalTracker) -> None:
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE moz_bookmarks (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(InputError, match=r"something else \(tables: moz_bookmarks\), not a ticket database"):
        tracker.create([req("Add a burn-rate alert on checkout 5xx")])
    conn = sqlite3.connect(db)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["moz_bookmarks"]
    conn.close()


@pytest.mark.parametrize("content", [
    b"PM-1,Add alert,Open\n",
    bytes(range(256)) * 8,
    b"SQLite format 3\x00" + b"\xff" * 4080,  # the right header, then garbage
])
def test_a_corrupt_file_is_one_line_naming_file_and_fix(db: Path, content: bytes) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(content)
    with pytest.raises(InputError) as caught:
        LocalTracker(db).find(["pmai-0123456789ab"])
    message = str(caught.value)
    assert "\n" not in message and str(db) in message
    assert "move the file aside" in message
    assert caught.value.exit_code == 2
    assert db.read_bytes() == content


def test_a_folder_in_place_of_the_file_is_an_input_error(db: Path) -> None:
    db.mkdir(parents=True)
    with pytest.raises(InputError, match="is a folder, not a ticket database"):
        LocalTracker(db).list()


# ---- locking ---------------------------------------------------------------------------------------


def test_a_locked_database_waits_then_raises_locked_error(db: Path, tracker: LocalTracker) -> None:
    tracker.list()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        waiting = LocalTracker(db, busy_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(LockedError, match=r"locked by another process \(waited 0.3s\)"):
            waiting.create([req("Add a burn-rate alert on checkout 5xx")])
        assert time.monotonic() - started >= 0.25
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert waiting.create([req("Add a burn-rate alert on checkout 5xx")])[0].key == "PM-1"


def test_readers_do_not_wait_for_a_writer(db: Path, tracker: LocalTracker) -> None:
    [ticket] = tracker.create([req("Add a burn-rate alert on checkout 5xx")])
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE tickets SET title = 'uncommitted'")
    try:
        assert LocalTracker(db, busy_timeout=0).get([ticket.key])[ticket.key].title == ticket.title
    finally:
        writer.execute("ROLLBACK")
        writer.close()


Pairs = list[tuple[str, str]]


def _create_in_process(path: str, name: str, start: Barrier, out: Queue[Pairs | str]) -> None:
    tracker = LocalTracker(Path(path))
    start.wait()
    pairs = []
    try:
        for n in range(30):
            # One ticket of its own and one the other process asks for as well, one call each.
            for action in (f"Add {name} alert number {n} for checkout", f"Add shared alert number {n} for checkout"):
                [ticket] = tracker.create([req(action)])
                pairs.append((ticket.item_key or "", ticket.key))
    except PostmortemError as exc:  # reported to the test instead of dying silently in the child
        out.put(f"{name}: {exc!r}")
        return
    out.put(pairs)


def test_two_processes_never_share_a_key_or_duplicate_an_item(db: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    out: Queue[Pairs | str] = ctx.Queue()
    workers = [ctx.Process(target=_create_in_process, args=(str(db), name, start, out)) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert [r for r in results if isinstance(r, str)] == []

    keys_by_item: dict[str, set[str]] = {}
    for pairs in results:
        assert not isinstance(pairs, str)
        for item, key in pairs:
            keys_by_item.setdefault(item, set()).add(key)
    assert len(keys_by_item) == 90  # 30 of a's own, 30 of b's own, 30 shared
    assert all(len(keys) == 1 for keys in keys_by_item.values())
    tickets = LocalTracker(db).list()
    assert [t.key for t in tickets] == [f"PM-{n}" for n in range(1, 91)]
    assert {t.item_key: {t.key} for t in tickets} == keys_by_item


# ---- tickets -------------------------------------------------------------------------------------------


def test_keys_count_up_and_a_batch_is_one_transaction(tracker: LocalTracker) -> None:
    first = tracker.create([req("Add a burn-rate alert on checkout 5xx"), req("Link the failover runbook")])
    assert [t.key for t in first] == ["PM-1", "PM-2"]
    assert tracker.create([req("Link the failover runbook")])[0].key == "PM-2"  # and no key used up
    broken = replace(req("Page the database on-call for replica lag"), action=None)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        tracker.create([req("Add a canary stage to checkout deploys"), broken])
    assert [t.key for t in tracker.list()] == ["PM-1", "PM-2"]
    assert tracker.create([req("Add a canary stage to checkout deploys")])[0].key == "PM-3"


def test_ticket_fields(db: Path, tracker: LocalTracker) -> None:
    request = req("Add a burn-rate alert on checkout 5xx")
    [ticket] = tracker.create([request])
    assert ticket.key == "PM-1"
    assert ticket.url == db.resolve().as_uri() + "#PM-1"
    assert ticket.url.startswith("file:///")
    assert (ticket.title, ticket.status, ticket.done) == (request.title, "Open", False)
    assert (ticket.owner, ticket.due, ticket.priority) == ("Dana Kim", date(2026, 12, 1), "P1")
    assert ticket.labels == ("postmortem", "INC-2042", request.item_key)
    assert (ticket.item_key, ticket.doc_url) == (request.item_key, DOC)


def test_labels_from_the_workflow_are_kept_as_given(tracker: LocalTracker) -> None:
    request = req("Add a burn-rate alert on checkout 5xx")
    shaped = replace(request, labels=("postmortem", "inc-2042", request.item_key, "team-payments"))
    assert tracker.create([shaped])[0].labels == ("postmortem", "inc-2042", request.item_key, "team-payments")


def test_description_says_what_when_done_and_where_from() -> None:
    text = describe(req("Add a burn-rate alert on checkout 5xx"), "https://wiki.acme.test/pm/INC-2042")
    assert text == (
        "Add a burn-rate alert on checkout 5xx\n\n"
        "Done when: alert fires in the staging game day\n"
        "Type: detect\n"
        "Postmortem: https://wiki.acme.test/pm/INC-2042\n"
        "Incident: INC-2042 (SEV-1) https://acme.pagerduty.com/incidents/Q8XU3N0ZKP5RM4"
    )
    bare = replace(req("Add a burn-rate alert on checkout 5xx"), done_when=None, type=None, severity=None,
                   incident_url=None)
    assert describe(bare, DOC) == f"Add a burn-rate alert on checkout 5xx\n\nPostmortem: {DOC}\nIncident: INC-2042"


@pytest.mark.parametrize(("doc_url", "link"), [
    ("/srv/postmortems/INC-2042.md", "https://git.acme.test/pm/blob/main/INC-2042.md"),
    ("file:///srv/postmortems/INC%2042%20%C3%A9.md", "https://git.acme.test/pm/blob/main/INC%2042%20%C3%A9.md"),
    ("https://docs.google.com/document/d/1AbC/edit", "https://docs.google.com/document/d/1AbC/edit"),
])
def test_doc_base_url_turns_local_docs_into_shared_links(db: Path, doc_url: str, link: str) -> None:
    tracker = LocalTracker(db, doc_base_url="https://git.acme.test/pm/blob/main/")
    [ticket] = tracker.create([replace(req("Add a burn-rate alert on checkout 5xx"), doc_url=doc_url)])
    assert f"Postmortem: {link}\n" in ticket.description
    assert ticket.doc_url == doc_url  # sync locates the doc by it


def test_get_accepts_any_spelling_of_a_key_and_answers_in_it(tracker: LocalTracker) -> None:
    tracker.create([req("Add a burn-rate alert on checkout 5xx")])
    got = tracker.get(["pm-1", " PM-1 ", "PM-0001", "OPS-1", "#1", "PM-2", "PM-"])
    assert set(got) == {"pm-1", " PM-1 ", "PM-0001"}
    assert {t.key for t in got.values()} == {"PM-1"}


def test_close_list_show_and_the_done_flag(db: Path, tracker: LocalTracker, clock: Clock) -> None:
    tracker.create([req("Add a burn-rate alert on checkout 5xx"), req("Link the failover runbook"),
                    req("Alert on replica lag above 30s", incident="INC-2050")])
    clock.tick()
    assert tracker.close("PM-1").status == "Done"
    wont = tracker.close("pm-2", "won’t do")
    assert (wont.key, wont.status, wont.done) == ("PM-2", "Won't Do", True)
    started = tracker.set_status("PM-3", "in-progress")
    assert (started.status, started.done) == ("In Progress", False)

    assert [t.key for t in tracker.list(status="DONE")] == ["PM-1"]
    assert [t.key for t in tracker.list(incident="INC-2042")] == ["PM-1", "PM-2"]
    assert [t.key for t in tracker.list(status="In Progress", incident="INC-2050")] == ["PM-3"]
    assert tracker.list(status="open") == []
    assert tracker.show("PM-1").done is True
    assert tracker.set_status("PM-1", "Open").done is False

    with pytest.raises(InputError, match=rf"^PM-9: no such ticket in {db}: see the keys"):
        tracker.show("PM-9")
    with pytest.raises(InputError, match="OPS-1: no such ticket"):
        tracker.close("OPS-1")
    with pytest.raises(UsageError, match="close with Done or Won't Do"):
        tracker.close("PM-1", "Open")
    with pytest.raises(UsageError, match="unknown ticket status 'closed': use one of: Open, In Progress"):
        tracker.list(status="closed")


@pytest.mark.parametrize(("text", "status"), [
    ("done", "Done"), ("Won't Do", "Won't Do"), ("wont-do", "Won't Do"), ("IN PROGRESS", "In Progress"),
    ("open", "Open"),
])
def test_status_spellings(text: str, status: str) -> None:
    assert canonical_status(text) == status


def test_updated_since_follows_status_changes(tracker: LocalTracker, clock: Clock) -> None:
    tracker.create([req("Add a burn-rate alert on checkout 5xx"), req("Link the failover runbook")])
    created = clock()
    assert [t.key for t in tracker.updated_since(None)] == ["PM-1", "PM-2"]
    assert tracker.updated_since(created) == []

    clock.tick()
    tracker.close("PM-2")
    assert [t.key for t in tracker.updated_since(created)] == ["PM-2"]

    closed = clock()
    clock.tick()
    tracker.close("PM-2")  # no change: sync must not see it again
    assert tracker.updated_since(closed) == []
    berlin = timezone(timedelta(hours=1))
    assert [t.key for t in tracker.updated_since((closed - timedelta(seconds=1)).astimezone(berlin))] == ["PM-2"]
    assert tracker.updated_since(closed.astimezone(berlin)) == []


# ---- owners --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("owner", "resolved"), [
    ("Dana Kim", "Dana Kim"),
    ("  dana@acme.test ", "dana@acme.test"),
    ("@dana", "dana"),
    ("José Núñez", "José Núñez"),
    ("Ana, Bo", None),
    ("Ana and Bo", None),
    ("Ana / Bo", None),
    ("", None),
    ("   ", None),
])
def test_without_a_directory_one_person_resolves_to_themselves(
    db: Path, owner: str, resolved: str | None
) -> None:
    assert LocalTracker(db).resolve_owner(owner) == resolved
    assert LocalTracker(db, directory=Directory()).resolve_owner(owner) == resolved


@pytest.mark.parametrize(("owner", "resolved"), [
    ("Dana Kim", "Dana Kim"), ("DANA@acme.test", "Dana Kim"), ("dkim", "Dana Kim"), ("@dana.kim", "Dana Kim"),
    ("Quinn Unknown", None), ("quinn@elsewhere.test", None), ("", None),
])
def test_with_a_directory_the_owner_must_be_in_it(db: Path, owner: str, resolved: str | None) -> None:
    assert LocalTracker(db, directory=PEOPLE).resolve_owner(owner) == resolved


@pytest.mark.parametrize(("owner", "stored"), [
    ("dana@acme.test", "Dana Kim"), ("Quinn Unknown", "Quinn Unknown"), (None, None), ("", None),
])
def test_create_stores_the_directory_name_of_the_owner(db: Path, owner: str | None, stored: str | None) -> None:
    tracker = LocalTracker(db, directory=PEOPLE)
    assert tracker.create([req("Add a burn-rate alert on checkout 5xx", owner=owner)])[0].owner == stored

