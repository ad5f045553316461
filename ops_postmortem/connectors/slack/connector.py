"""Slack message JSON -> TimelineEvent, for workspace exports and conversations.history/replies alike.

Everything here is pure: a message dict plus what is known about the workspace gives one event.
Records that only change other records (edits, deletions) are reported by `edit_of` / `deleted_ts`
so the reader that sees the whole channel can apply them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from ops_postmortem.connectors.slack.mrkdwn import to_text
from ops_postmortem.model import UTC, Kind, TimelineEvent
from ops_postmortem.timeutil import parse_slack_ts

SOURCE = "slack"
MEMBERSHIP = "membership"
CHANNEL_CHANGE = "channel_change"

# group_* are the same events in private channels of older exports.
_NOISE_KINDS = {
    "channel_join": MEMBERSHIP,
    "channel_leave": MEMBERSHIP,
    "group_join": MEMBERSHIP,
    "group_leave": MEMBERSHIP,
    "channel_topic": CHANNEL_CHANGE,
    "channel_purpose": CHANNEL_CHANGE,
    "channel_name": CHANNEL_CHANGE,
    "channel_archive": CHANNEL_CHANGE,
    "group_topic": CHANNEL_CHANGE,
    "group_purpose": CHANNEL_CHANGE,
    "group_name": CHANNEL_CHANGE,
    "group_archive": CHANNEL_CHANGE,
}
DELETED_TEXT = "This message was deleted."
# Records that only change or remove other records; the reader applies them via edit_of / deleted_ts.
_NOT_MESSAGES = frozenset({"tombstone", "message_changed", "message_deleted"})
_TEXT_BLOCKS = frozenset({"section", "header", "context"})
# What Slack puts in `text` when a Block Kit message has no notification text of its own.
_PLACEHOLDERS = {"This content can't be displayed.", "This content can\u2019t be displayed."}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SlackUser:
    id: str
    name: str = ""  # the handle
    display_name: str = ""
    real_name: str = ""
    email: str | None = None
    deleted: bool = False
    is_bot: bool = False

    @property
    def label(self) -> str:
        return self.display_name or self.real_name or self.name or self.id


def user_from_json(entry: Mapping[str, Any]) -> SlackUser:
    """One users.json / users.list member (or a message's embedded `user_profile`, given its user id)."""
    profile = entry.get("profile")
    if not isinstance(profile, dict):
        profile = {}
    return SlackUser(
        id=str(entry.get("id") or ""),
        name=str(entry.get("name") or ""),
        display_name=str(profile.get("display_name") or "").strip(),
        real_name=str(entry.get("real_name") or profile.get("real_name") or "").strip(),
        email=profile.get("email") or None,
        deleted=bool(entry.get("deleted")),
        is_bot=bool(entry.get("is_bot")),
    )


class UserDirectory:
    """Slack users by id; `names` (id -> label) is what mention decoding needs."""

    def __init__(self, users: Iterable[SlackUser] = ()) -> None:
        self.users: dict[str, SlackUser] = {u.id: u for u in users if u.id}
        self.names: dict[str, str] = {uid: u.label for uid, u in self.users.items()}

    @classmethod
    def from_json(cls, entries: Iterable[Mapping[str, Any]]) -> UserDirectory:
        return cls(user_from_json(e) for e in entries if isinstance(e, Mapping))


@dataclass(frozen=True)
class ChannelContext:
    """What a message needs from outside itself to become an event."""

    channel_id: str
    channel_name: str
    users: UserDirectory = field(default_factory=UserDirectory)
    channels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # id -> name
    workspace_url: str | None = None  # https://acme.slack.com
    _link_prefix: str | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        # Built once: the benchmark maps 100,000 messages through this context.
        prefix: str | None = None
        if self.workspace_url and self.channel_id:
            prefix = f"{self.workspace_url.rstrip('/')}/archives/{self.channel_id}/p"
        object.__setattr__(self, "_link_prefix", prefix)

    def permalink(self, ts: str, thread_ts: str | None) -> str | None:
        prefix = self._link_prefix
        if prefix is None:
            return None
        link = prefix + ts.replace(".", "")
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={self.channel_id}"
        return link


def is_tombstone(message: Mapping[str, Any]) -> bool:
    """The placeholder Slack leaves where a deleted message had replies."""
    return message.get("subtype") == "tombstone" or (
        bool(message.get("hidden")) and message.get("text") == DELETED_TEXT
    )


def edit_of(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """The new version of a message carried by a `message_changed` record, else None."""
    if message.get("subtype") != "message_changed":
        return None
    inner = message.get("message")
    return inner if isinstance(inner, dict) and isinstance(inner.get("ts"), str) else None


def deleted_ts(message: Mapping[str, Any]) -> str | None:
    """The ts a `message_deleted` record removes, else None."""
    if message.get("subtype") != "message_deleted":
        return None
    previous = message.get("previous_message")
    ts = message.get("deleted_ts") or (previous.get("ts") if isinstance(previous, dict) else None)
    return ts if isinstance(ts, str) else None


def slack_time(ts: str) -> datetime:
    """`timeutil.parse_slack_ts` with a fast path for the canonical "1762213050.000100" form.

    Integer arithmetic only (never a float); Decimal is ~4x slower and this runs once per message.
    """
    seconds, _, fraction = ts.partition(".")
    if len(fraction) == 6 and fraction.isdigit() and seconds.isdigit():
        return _EPOCH + timedelta(0, int(seconds), int(fraction))  # positional: measurably faster
    return parse_slack_ts(ts)


# Runtime checks below use dict/list, not the Mapping/Sequence ABCs: JSON decodes to those, and the
# ABC checks cost ~10x more, which counts over a 100,000-message export.


def message_event(message: Mapping[str, Any], ctx: ChannelContext) -> TimelineEvent | None:
    """The event for one message, or None for records that are not messages of their own.

    None: tombstones, edit and delete records, other hidden bookkeeping records, and entries
    without a string `ts` (a float ts would already have lost digits).
    """
    get = message.get
    ts = get("ts")
    subtype = get("subtype")
    if not isinstance(ts, str) or get("hidden") or subtype in _NOT_MESSAGES:
        return None
    thread_ts = get("thread_ts")
    if not isinstance(thread_ts, str):
        thread_ts = None
    return TimelineEvent(
        at=slack_time(ts),
        source=SOURCE,
        kind=_NOISE_KINDS.get(subtype, Kind.MESSAGE) if subtype else Kind.MESSAGE,
        text=message_text(message, ctx),
        actor=actor(message, ctx.users),
        link=ctx.permalink(ts, thread_ts),
        ident=ts,
        thread=thread_ts if thread_ts and thread_ts != ts else None,
    )


def actor(message: Mapping[str, Any], users: UserDirectory) -> str | None:
    """Who posted: directory name, else the profile embedded in the message, else the id.

    Guests, deleted users and people from other orgs are often missing from users.json, but
    exports embed `user_profile` in their messages.
    """
    user_id = message.get("user")
    if user_id and isinstance(user_id, str):
        name = users.names.get(user_id)
        if name is not None:
            return name
        profile = message.get("user_profile")
        if isinstance(profile, dict):
            return user_from_json({"id": user_id, "name": profile.get("name"), "profile": profile}).label
        return user_id
    bot = message.get("bot_profile")
    bot_name = bot.get("name") if isinstance(bot, dict) else None
    name = message.get("username") or bot_name or message.get("bot_id")
    return str(name) if name else None


def message_text(message: Mapping[str, Any], ctx: ChannelContext) -> str:
    """Plain text of a message; app posts get theirs from attachments or blocks."""
    get = message.get
    names, channels = ctx.users.names, ctx.channels
    text = to_text(str(get("text") or ""), users=names, channels=channels)
    attachments = get("attachments")
    blocks = get("blocks")
    if attachments or (blocks and _has_text_blocks(blocks)):
        parts = _attachment_parts(attachments) + _block_parts(blocks)
        if parts:
            built = "\n".join(to_text(p, users=names, channels=channels) for p in parts)
            if _is_fallback(text, built, attachments):
                text = built
    if not text or text.isspace():
        text = _file_text(get("files"))
    return text


def _is_fallback(text: str, built: str, attachments: object) -> bool:
    """`text` adds nothing to what attachments/blocks say: empty, a placeholder or a repeat."""
    stripped = text.strip()
    if not stripped or stripped in _PLACEHOLDERS or stripped in built:
        return True
    if isinstance(attachments, list):
        return any(isinstance(a, dict) and a.get("fallback") == stripped for a in attachments)
    return False


def _attachment_parts(attachments: object) -> list[str]:
    parts: list[str] = []
    if not isinstance(attachments, list):
        return parts
    for item in attachments:
        if not isinstance(item, dict):
            continue
        own = [str(item[k]) for k in ("pretext", "title", "text") if item.get(k)]
        for f in _items(item.get("fields")):
            if isinstance(f, dict) and (f.get("title") or f.get("value")):
                own.append(": ".join(str(f[k]) for k in ("title", "value") if f.get(k)))
        if not own and item.get("fallback"):
            own.append(str(item["fallback"]))
        parts.extend(own)
    return parts


def _has_text_blocks(blocks: object) -> bool:
    # Most messages carry one rich_text block repeating `text`: skip them cheaply (a plain loop).
    if isinstance(blocks, list):
        for block in blocks:
            if isinstance(block, dict) and block.get("type") in _TEXT_BLOCKS:
                return True
    return False


def _block_parts(blocks: object) -> list[str]:
    """Section, header and context text; rich_text blocks repeat `text` and are skipped."""
    parts: list[str] = []
    if not isinstance(blocks, list):
        return parts
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind in ("section", "header"):
            parts.extend(_text_object(block.get("text")))
            for f in _items(block.get("fields")):
                parts.extend(_text_object(f))
        elif kind == "context":
            for element in _items(block.get("elements")):
                parts.extend(_text_object(element))
    return parts


def _items(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _text_object(obj: object) -> list[str]:
    if isinstance(obj, dict) and obj.get("type") in ("mrkdwn", "plain_text") and obj.get("text"):
        return [str(obj["text"])]
    return []


def _file_text(files: object) -> str:
    if not isinstance(files, list):
        return ""
    # Files hidden by a plan's storage limit come without title or name.
    names = [str(n) for f in files if isinstance(f, dict) and (n := f.get("title") or f.get("name"))]
    return f"shared {', '.join(names)}" if names else ""
