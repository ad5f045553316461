"""Confluence comments -> review threads.

Inline comments carry their own state (open, resolved, reopened, dangling); a dangling one lost the text it was
on, and Confluence no longer shows it on the page, so it counts as closed. Footer comments have no resolve button
in Confluence: a reply whose first word is "Resolved" or "Reopened" resolves or reopens the thread (the tool writes
its own resolve and reopen that way, and people can too). Replies at any depth belong to their top comment's thread.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from ops_postmortem.connectors.confluence.storage import plain_text
from ops_postmortem.escaping import escape_storage
from ops_postmortem.model import UTC, CommentReply, Person, ReviewComment
from ops_postmortem.timeutil import parse_time

JSON = dict[str, Any]
Action = Literal["resolve", "reopen"]
_CONVENTION = re.compile(r"^\s*(resolved|reopened)(?=$|[\s:.,;!\-–—])", re.IGNORECASE)
_CLOSED = ("resolved", "dangling")


def convention_action(text: str) -> Action | None:
    """The thread action a footer-comment reply states by its first word."""
    m = _CONVENTION.match(text)
    if m is None:
        return None
    return "resolve" if m.group(1).lower() == "resolved" else "reopen"


def convention_text(action: Action, text: str) -> str:
    word = "Resolved" if action == "resolve" else "Reopened"
    return f"{word}: {text}" if text.strip() else word


def comment_body(text: str) -> str:
    """Our comment text as storage format: one escaped paragraph per line."""
    lines = text.replace("\r\n", "\n").split("\n")
    return "".join(f"<p>{escape_storage(line)}</p>" if line.strip() else "<p />" for line in lines)


def _time(value: Any) -> datetime:
    try:
        return parse_time(str(value))
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


def _text(item: JSON) -> str:
    storage = ((item.get("body") or {}).get("storage") or {}).get("value")
    return plain_text(storage) if isinstance(storage, str) and storage else ""


def _resolved(status: Any) -> bool:
    return str(status or "open").lower() in _CLOSED


def _replies(items: Sequence[JSON], author: Callable[[JSON], Person], at: Callable[[JSON], datetime],
             footer: bool) -> tuple[CommentReply, ...]:
    replies = []
    for item in sorted(items, key=at):
        text = _text(item)
        action = convention_action(text) if footer else None
        replies.append(CommentReply(str(item["id"]), author(item), at(item), text, action))
    return tuple(replies)


# ---- Cloud: v2 footer-comments and inline-comments ------------------------------------------------


def cloud_author_ids(items: Sequence[JSON]) -> set[str]:
    return {str((i.get("version") or {}).get("authorId")) for i in items if (i.get("version") or {}).get("authorId")}


def cloud_threads(
    footer: Sequence[JSON],
    inline: Sequence[JSON],
    replies: Mapping[str, Sequence[JSON]],
    people: Mapping[str, Person],
) -> list[ReviewComment]:
    """Threads from v2 comments; `replies` holds every reply under its top comment's id, `people` account ids."""

    def author(item: JSON) -> Person:
        account = str((item.get("version") or {}).get("authorId") or "")
        return people.get(account, Person(account or "unknown", account_id=account or None))

    def at(item: JSON) -> datetime:
        return _time((item.get("version") or {}).get("createdAt"))

    threads = []
    for kind, items in (("footer", footer), ("inline", inline)):
        for item in items:
            if item.get("status", "current") != "current":
                continue
            quote = (item.get("properties") or {}).get("inlineOriginalSelection") if kind == "inline" else None
            threads.append(ReviewComment(
                id=str(item["id"]),
                author=author(item),
                created_at=at(item),
                text=_text(item),
                quote=quote or None,
                resolved=kind == "inline" and _resolved(item.get("resolutionStatus")),
                replies=_replies(replies.get(str(item["id"]), ()), author, at, kind == "footer"),
                kind=kind,
            ))
    return sorted(threads, key=lambda c: c.created_at)


# ---- Data Center: v1 child comments with extensions ---------------------------------------------------


def dc_person(user: Any) -> Person:
    """A Data Center user object (history.createdBy): known by username."""
    if not isinstance(user, dict):
        return Person("unknown")
    username = user.get("username") or user.get("userKey")
    return Person(str(user.get("displayName") or username or "unknown"), account_id=str(username) if username else None)


def dc_threads(items: Sequence[JSON]) -> list[ReviewComment]:
    """Threads from `child/comment?depth=all` (replies name their parents in `ancestors`)."""

    def author(item: JSON) -> Person:
        return dc_person((item.get("history") or {}).get("createdBy"))

    def at(item: JSON) -> datetime:
        history = item.get("history") or {}
        return _time(history.get("createdDate") or (item.get("version") or {}).get("when"))

    roots: dict[str, JSON] = {}
    replies: dict[str, list[JSON]] = {}
    by_id = {str(i["id"]): i for i in items}
    for item in items:
        if item.get("status", "current") != "current":
            continue
        ancestors = [str(a["id"]) for a in item.get("ancestors") or [] if isinstance(a, dict) and "id" in a]
        if not ancestors:
            roots[str(item["id"])] = item
            continue
        top = next((a for a in ancestors if a in by_id and not by_id[a].get("ancestors")), ancestors[0])
        replies.setdefault(top, []).append(item)
    threads = []
    for cid, item in roots.items():
        extensions = item.get("extensions") or {}
        inline = extensions.get("location") == "inline"
        quote = (extensions.get("inlineProperties") or {}).get("originalSelection") if inline else None
        status = (extensions.get("resolution") or {}).get("status")
        threads.append(ReviewComment(
            id=cid,
            author=author(item),
            created_at=at(item),
            text=_text(item),
            quote=quote or None,
            resolved=inline and _resolved(status),
            replies=_replies(replies.get(cid, ()), author, at, not inline),
            kind="inline" if inline else "footer",
        ))
    return sorted(threads, key=lambda c: c.created_at)
