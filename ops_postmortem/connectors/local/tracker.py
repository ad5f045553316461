"""The embedded ticket tracker: action items as rows in a SQLite file, for teams without Jira or GitHub.

Keys are PM-1, PM-2, ... from an AUTOINCREMENT column, and every write runs in `BEGIN IMMEDIATE`, so two
processes extracting at once never get the same key and never open two tickets for one item key.
"""

from __future__ import annotations

import builtins
import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Final
from urllib.parse import quote, urlsplit
from urllib.request import url2pathname

from ops_postmortem.errors import InputError, LockedError, UsageError
from ops_postmortem.model import UTC, Ticket, TicketRequest, require_utc
from ops_postmortem.people import Directory, person_from_text

SCHEMA_VERSION: Final = 1
KEY_PREFIX: Final = "PM-"
STATUSES: Final = ("Open", "In Progress", "Done", "Won't Do")
DONE_STATUSES: Final = ("Done", "Won't Do")

# Each statement runs on its own: executescript() would commit the transaction the schema is created in.
_SCHEMA: Final = (
    f"""CREATE TABLE tickets (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT GENERATED ALWAYS AS ('{KEY_PREFIX}' || seq) VIRTUAL,
        item_key TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        description TEXT NOT NULL,
        owner TEXT,
        due TEXT,
        priority TEXT,
        status TEXT NOT NULL CHECK (status IN ('Open', 'In Progress', 'Done', 'Won''t Do')),
        labels TEXT NOT NULL,
        doc_url TEXT NOT NULL,
        incident_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX tickets_updated_at ON tickets (updated_at)",
    "CREATE INDEX tickets_incident_id ON tickets (incident_id)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

_COLUMNS: Final = (
    "seq, key, item_key, title, description, owner, due, priority, status, labels, doc_url, incident_id"
)
_KEY: Final = re.compile(rf"^\s*{KEY_PREFIX}(\d+)\s*$", re.IGNORECASE)
# Separators that make an Owner cell name more than one person ("Ana, Bo", "Ana and Bo", "Ana/Bo").
_SEVERAL: Final = re.compile(r"\s(?:and|&|\+)\s|[,;/]|\n")


def _stamp(value: datetime) -> str:
    """Fixed-width UTC text with microseconds, so SQL string comparison orders times correctly."""
    return require_utc(value, "ticket time").strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _status_key(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.casefold())


_BY_STATUS_KEY: Final = {_status_key(s): s for s in STATUSES}


def canonical_status(text: str) -> str:
    """"done", "won't do", "Won’t do", "in-progress" -> the stored spelling; anything else is a usage error."""
    status = _BY_STATUS_KEY.get(_status_key(text))
    if status is None:
        raise UsageError(f"unknown ticket status {text!r}", hint=f"use one of: {', '.join(STATUSES)}")
    return status


def describe(request: TicketRequest, doc_link: str) -> str:
    """The ticket body: what to do, how we know it is done, and where it came from."""
    lines = [request.action.strip() or request.title, ""]
    if request.done_when:
        lines.append(f"Done when: {request.done_when}")
    if request.type:
        lines.append(f"Type: {request.type}")
    lines.append(f"Postmortem: {doc_link}")
    incident = f"Incident: {request.incident_id}"
    if request.severity:
        incident += f" ({request.severity})"
    if request.incident_url:
        incident += f" {request.incident_url}"
    lines.append(incident)
    return "\n".join(lines)


class LocalTracker:
    """The TicketTracker kept in `<local dir>/tickets.db`, plus the list/show/close the CLI offers."""

    kind = "local"

    def __init__(
        self,
        path: Path,
        *,
        directory: Directory | None = None,
        doc_base_url: str | None = None,
        busy_timeout: float = 10.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = Path(path)
        self.directory = directory
        self.doc_base_url = doc_base_url
        self.busy_timeout = busy_timeout
        self._clock = clock or (lambda: datetime.now(UTC))
        self._uri = self.path.resolve().as_uri()

    # ---- TicketTracker -------------------------------------------------------------------------------

    def find(self, item_keys: Sequence[str]) -> dict[str, Ticket]:
        rows = self._rows("item_key IN (SELECT value FROM json_each(?))", json.dumps([*item_keys]))
        return {row["item_key"]: self._ticket(row) for row in rows}

    def create(self, requests: Sequence[TicketRequest]) -> builtins.list[Ticket]:
        """One transaction for the batch, in request order; an item key that already has a ticket gets that
        ticket back. Nothing here can refuse a request, so no TicketFailure is ever returned."""
        now = _stamp(self._clock())
        tickets: builtins.list[Ticket] = []
        by_item = f"SELECT {_COLUMNS} FROM tickets WHERE item_key = ?"
        with self._write() as conn:
            for request in requests:
                # Look before inserting: a conflicting INSERT would still use up a key and leave a gap.
                row = conn.execute(by_item, (request.item_key,)).fetchone()
                if row is None:
                    conn.execute(
                        "INSERT INTO tickets (item_key, title, description, owner, due, priority, status,"
                        " labels, doc_url, incident_id, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, 'Open', ?, ?, ?, ?, ?)",
                        self._values(request, now),
                    )
                    row = conn.execute(by_item, (request.item_key,)).fetchone()
                tickets.append(self._ticket(row))
        return tickets

    def get(self, keys: Sequence[str]) -> dict[str, Ticket]:
        wanted: dict[int, builtins.list[str]] = {}
        for key in keys:
            seq = _seq(key)
            if seq is not None:
                wanted.setdefault(seq, []).append(key)
        found: dict[str, Ticket] = {}
        for row in self._rows("seq IN (SELECT value FROM json_each(?))", json.dumps([*wanted])):
            ticket = self._ticket(row)
            for asked in wanted[row["seq"]]:
                found[asked] = ticket
        return found

    def resolve_owner(self, owner: str) -> str | None:
        """The directory's name for the owner; without a directory, one person's name or e-mail as written."""
        text = owner.strip()
        if not text:
            return None
        if self.directory is not None and self.directory.entries:
            entry = self.directory.lookup(text)
            return entry.name if entry is not None else None
        if _SEVERAL.search(text):
            return None
        person = person_from_text(text)
        return person.email or person.name or None

    def updated_since(self, cursor: datetime | None) -> builtins.list[Ticket]:
        if cursor is None:
            return self._select("1")
        return self._select("updated_at > ?", _stamp(cursor))

    # ---- the CLI's extras ----------------------------------------------------------------------------

    def show(self, key: str) -> Ticket:
        ticket = self.get([key]).get(key)
        if ticket is None:
            raise self._unknown(key)
        return ticket

    def close(self, key: str, status: str = "Done") -> Ticket:
        """Mark a ticket Done or Won't Do."""
        if canonical_status(status) not in DONE_STATUSES:
            raise UsageError(f"cannot close a ticket as {status!r}", hint="close with Done or Won't Do; "
                             "use set_status to reopen or start a ticket")
        return self.set_status(key, status)

    def set_status(self, key: str, status: str) -> Ticket:
        """Change the status; `updated_at` moves only when the status really changes, so sync sees no noise."""
        status = canonical_status(status)
        seq = _seq(key)
        if seq is None:
            raise self._unknown(key)
        with self._write() as conn:
            conn.execute("UPDATE tickets SET status = ?, updated_at = ? WHERE seq = ? AND status != ?",
                         (status, _stamp(self._clock()), seq, status))
            row = conn.execute(f"SELECT {_COLUMNS} FROM tickets WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            raise self._unknown(key)
        return self._ticket(row)

    def list(self, status: str | None = None, incident: str | None = None) -> builtins.list[Ticket]:
        where, params = ["1"], []
        if status is not None:
            where.append("status = ?")
            params.append(canonical_status(status))
        if incident is not None:
            where.append("incident_id = ?")
            params.append(incident)
        return self._select(" AND ".join(where), *params)

    # ---- storage ------------------------------------------------------------------------------------

    def _values(self, request: TicketRequest, now: str) -> tuple[object, ...]:
        # The workflow passes labels already shaped for trackers; the raw incident id stands in otherwise.
        labels = dict.fromkeys(("postmortem", *(request.labels or (request.incident_id,)), request.item_key))
        owner = request.owner and (self.resolve_owner(request.owner) or request.owner.strip())
        return (
            request.item_key,
            request.title,
            describe(request, self._doc_link(request.doc_url)),
            owner or None,
            request.due.isoformat() if request.due else None,
            request.priority,
            json.dumps([*labels], ensure_ascii=False),
            request.doc_url,
            request.incident_id,
            now,
            now,
        )

    def _select(self, where: str, *params: object) -> builtins.list[Ticket]:
        return [self._ticket(row) for row in self._rows(where, *params)]

    def _rows(self, where: str, *params: object) -> builtins.list[sqlite3.Row]:
        with self._connection() as conn:
            return conn.execute(f"SELECT {_COLUMNS} FROM tickets WHERE {where} ORDER BY seq", params).fetchall()

    def _ticket(self, row: sqlite3.Row) -> Ticket:
        return Ticket(
            key=row["key"],
            title=row["title"],
            status=row["status"],
            url=f"{self._uri}#{row['key']}",
            owner=row["owner"],
            due=date.fromisoformat(row["due"]) if row["due"] else None,
            priority=row["priority"],
            labels=tuple(json.loads(row["labels"])),
            item_key=row["item_key"],
            doc_url=row["doc_url"],
            description=row["description"],
            done=row["status"] in DONE_STATUSES,
        )

    def _doc_link(self, doc_url: str) -> str:
        """The postmortem link for the ticket body: under `doc_base_url` when the doc is a local file."""
        parts = urlsplit(doc_url)
        if not self.doc_base_url or parts.scheme in ("http", "https"):
            return doc_url
        name = Path(url2pathname(parts.path) if parts.scheme == "file" else doc_url).name
        return f"{self.doc_base_url.rstrip('/')}/{quote(name)}"

    def _unknown(self, key: str) -> InputError:
        return InputError(f"{key}: no such ticket in {self.path}",
                          hint="see the keys with `postmortem tickets list`")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection to a database with the current schema; SQLite failures become one-line errors."""
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder, not a ticket database",
                             hint="point the tracker at a file such as <local dir>/tickets.db")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: we issue BEGIN ourselves, so Python never opens a weaker DEFERRED one.
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._failure(exc) from exc
        try:
            conn.row_factory = sqlite3.Row
            self._ensure_schema(conn)
            yield conn
        except sqlite3.Error as exc:
            raise self._failure(exc) from exc
        finally:
            conn.close()

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise InputError(f"{self.path}: ticket database schema {version} is newer than this version "
                             f"understands ({SCHEMA_VERSION})", hint="upgrade ops-postmortem")
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have created the schema while we waited for the lock.
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                if tables:
                    raise InputError(f"{self.path}: a SQLite database of something else (tables: "
                                     f"{', '.join(sorted(tables))}), not a ticket database",
                                     hint="point the tracker at a new file such as <local dir>/tickets.db")
                for statement in _SCHEMA:
                    conn.execute(statement)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._use_wal(conn)

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch to WAL (persistent), so readers never wait for a writer.

        The switch upgrades a shared lock to an exclusive one; when two first users try it at once SQLite
        answers one with SQLITE_BUSY at once instead of calling the busy handler, so retry here until the
        busy timeout is spent.
        """
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.005
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _failure(self, exc: sqlite3.Error) -> InputError | LockedError:
        message = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
            return LockedError(f"{self.path}: the ticket database is locked by another process "
                               f"(waited {self.busy_timeout:g}s)",
                               hint="wait for the other postmortem run to finish, then retry")
        if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in message or "malformed" in message):
            return InputError(f"{self.path}: not a usable SQLite ticket database ({message})",
                              hint="move the file aside; a new tracker is created there on first use")
        return InputError(f"{self.path}: cannot use the ticket database ({message})",
                          hint="check the file and its folder are writable")


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _seq(key: str) -> int | None:
    match = _KEY.match(key)
    return int(match.group(1)) if match else None

