"""Comments on a local postmortem: an append-only JSON Lines log beside the doc (`<id>.comments.jsonl`).

Append-only so a crash mid-write loses at most the line being written and never an earlier comment;
a thread's resolved state is derived from its last resolve or reopen reply, as on Google Docs.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from ops_postmortem.errors import InputError, UsageError
from ops_postmortem.model import UTC, CommentReply, Person, ReviewComment
from ops_postmortem.people import person_from_text
from ops_postmortem.timeutil import parse_time


def parse_author(text: str) -> Person:
    """'Dana Kim <dana@acme.test>', 'dana@acme.test' or 'Dana Kim'."""
    if not text.strip():
        raise UsageError("--author is empty", hint='give a name, an e-mail, or "Name <email>"')
    return person_from_text(text)


class CommentLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[ReviewComment]:
        threads: dict[str, ReviewComment] = {}
        for number, record in self._records():
            where = f"{self.path}:{number}"
            try:
                if record["op"] == "comment":
                    threads[record["id"]] = ReviewComment(
                        id=record["id"],
                        author=_person(record["author"]),
                        created_at=parse_time(record["at"]),
                        text=record["text"],
                        quote=record.get("quote"),
                    )
                elif record["op"] == "reply":
                    parent = threads.get(record["comment"])
                    if parent is None:
                        raise InputError(f"{where}: reply to unknown comment {record['comment']!r}",
                                         hint="restore the file from backup or delete that line")
                    reply = CommentReply(
                        id=record["id"],
                        author=_person(record["author"]),
                        created_at=parse_time(record["at"]),
                        text=record.get("text", ""),
                        action=record.get("action"),
                    )
                    threads[parent.id] = _with_reply(parent, reply)
                else:
                    raise InputError(f"{where}: unknown record op {record['op']!r}")
            except (KeyError, TypeError, ValueError) as exc:
                if isinstance(exc, InputError):
                    raise
                raise InputError(f"{where}: malformed comment record ({exc})",
                                 hint="fix or delete that line; other comments are intact") from exc
        return list(threads.values())

    def _records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(
                        f"{self.path}:{number}: corrupt comment line ({exc.msg})",
                        hint="fix or delete that line; other comments are intact",
                    ) from exc
                if not isinstance(record, dict):
                    raise InputError(f"{self.path}:{number}: corrupt comment line (not an object)")
                yield number, record

    def add(self, author: Person, text: str, quote: str | None = None, at: datetime | None = None) -> ReviewComment:
        with self._locked():
            number = sum(1 for _, r in self._records() if r.get("op") == "comment") + 1
            comment = ReviewComment(f"c{number}", author, at or datetime.now(UTC), text, quote)
            self._append({"op": "comment", "id": comment.id, "author": _record_person(author),
                          "at": comment.created_at.isoformat(), "text": text, "quote": quote})
        return comment

    def reply(
        self,
        comment_id: str,
        author: Person,
        text: str,
        action: Literal["resolve", "reopen"] | None = None,
        at: datetime | None = None,
    ) -> CommentReply:
        with self._locked():
            existing = {c.id: c for c in self.read()}
            parent = existing.get(comment_id)
            if parent is None:
                known = ", ".join(existing) or "none yet"
                raise UsageError(f"no comment {comment_id!r} on this doc", hint=f"known comments: {known}")
            reply = CommentReply(f"{comment_id}.r{len(parent.replies) + 1}", author, at or datetime.now(UTC),
                                 text, action)
            self._append({"op": "reply", "id": reply.id, "comment": comment_id, "author": _record_person(author),
                          "at": reply.created_at.isoformat(), "text": text, "action": action})
        return reply

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise writers so two commands never hand out the same comment id."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _with_reply(parent: ReviewComment, reply: CommentReply) -> ReviewComment:
    from dataclasses import replace

    resolved = parent.resolved if reply.action is None else reply.action == "resolve"
    return replace(parent, replies=(*parent.replies, reply), resolved=resolved)


def _record_person(person: Person) -> dict[str, str | None]:
    return {"name": person.name, "email": person.email}


def _person(value: Any) -> Person:
    if isinstance(value, str):
        return Person(value)
    return Person(value["name"], value.get("email"))
