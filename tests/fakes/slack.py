"""A stateful fake of the Slack Web API on 127.0.0.1 (shapes from ../shared/specs/slack/slack_web_openapi_v2.json,
whose parameter lists it checks every call against: see `undocumented`).

Behaves as Slack documents and as slack_sdk sees it: every method is a POST (form-encoded, or JSON for
chat.postMessage); failures are HTTP 200 with `{"ok": false, "error": ...}`, except rate limits (HTTP 429,
`Retry-After`, `{"ok": false, "error": "ratelimited"}`) and server errors (HTML from the edge).
conversations.history returns thread parents and broadcast replies newest first; conversations.replies the
parent then its replies, oldest first; both page with opaque cursors and honour oldest/latest/inclusive.
Private channels are visible only to members; reading a channel needs membership. chat.postMessage validates
Block Kit (types, keys, text lengths, counts) with Slack's `invalid_blocks` errors and json-pointers.

Seed it with add_user / add_channel / add_message, or load_export(folder) for a workspace export.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.fakes.server import FakeService, Request, Response, route

TOKEN = "xoxb-test-0000000000-fake"
SPEC = "slack/slack_web_openapi_v2.json"

_TS = re.compile(r"^\d{1,10}(?:\.\d{1,6})?$")
_CONTROL = re.compile(r"<([^<>]*)>")
_BARE_URL = re.compile(r"https?://[^\s<>|]+")
_BARE_BROADCAST = re.compile(r"(?<![\w@])@(channel|here|everyone)\b")

BLOCK_TYPES = {"section", "header", "divider", "context", "actions", "image", "rich_text", "markdown", "input",
               "file", "video"}
TEXT_KEYS = {"plain_text": {"type", "text", "emoji"}, "mrkdwn": {"type", "text", "verbatim"}}
BLOCKS_TOO_LONG = 12_000  # characters across all blocks; Slack answers msg_blocks_too_long (not documented)


def ts_key(ts: str) -> tuple[int, int]:
    """A ts as (seconds, microseconds): exact, comparable, never a float."""
    seconds, _, fraction = ts.partition(".")
    return int(seconds), int(fraction.ljust(6, "0")[:6])


def _cursor(kind: str, value: str) -> str:
    return base64.b64encode(f"{kind}:{value}".encode()).decode()


def _uncursor(kind: str, cursor: str) -> str | None:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix = f"{kind}:"
    return text[len(prefix):] if text.startswith(prefix) else None


@functools.cache
def spec_parameters() -> dict[str, frozenset[str]]:
    """Each method's documented arguments, from the published Web API spec."""
    from tests.conftest import SPECS

    spec = json.loads((SPECS / SPEC).read_text(encoding="utf-8"))
    return {
        path.lstrip("/"): frozenset(p["name"] for op in ops.values() for p in op.get("parameters", []))
        for path, ops in spec["paths"].items()
    }


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true")


# ---- how Slack reads what we send ---------------------------------------------------------------------


def entities(text: str, *, verbatim: bool = True) -> list[tuple[str, str]]:
    """What Slack turns into mentions and links in mrkdwn: ("user", id), ("broadcast", name), ("channel", id),
    ("usergroup", id), ("link", url). Non-verbatim text also gets bare URLs and @channel/@here parsed."""
    found: list[tuple[str, str]] = []
    for match in _CONTROL.finditer(text):
        target = match.group(1).split("|", 1)[0]
        if target.startswith("@"):
            found.append(("user", target[1:]))
        elif target.startswith("#"):
            found.append(("channel", target[1:]))
        elif target.startswith("!subteam^"):
            found.append(("usergroup", target[len("!subteam^"):]))
        elif target.startswith("!"):
            found.append(("broadcast", target[1:].split("^", 1)[0]))
        elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target):
            found.append(("link", target))
    if not verbatim:
        outside = _CONTROL.sub(" ", text)
        found.extend(("link", u) for u in _BARE_URL.findall(outside))
        found.extend(("broadcast", b) for b in _BARE_BROADCAST.findall(outside))
    return found


def message_entities(message: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every mention and link a posted message carries: its top-level text and its mrkdwn text objects."""
    found = entities(str(message.get("text") or ""))
    for obj in _text_objects(message.get("blocks") or []):
        if obj.get("type") == "mrkdwn":
            found.extend(entities(str(obj.get("text") or ""), verbatim=bool(obj.get("verbatim"))))
    return found


def _text_objects(blocks: Sequence[Any]) -> list[Mapping[str, Any]]:
    objects: list[Mapping[str, Any]] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        for key in ("text",):
            if isinstance(block.get(key), dict):
                objects.append(block[key])
        for key in ("fields", "elements"):
            objects.extend(o for o in block.get(key) or [] if isinstance(o, dict) and "text" in o)
    return objects


def validate_blocks(blocks: Any) -> list[str]:
    """Slack's invalid_blocks messages, with json-pointers, for what Block Kit does not allow."""
    errors: list[str] = []
    if not isinstance(blocks, list):
        return ["must provide an array [json-pointer:/blocks]"]
    if len(blocks) > 50:
        errors.append("no more than 50 items allowed [json-pointer:/blocks]")
    for index, block in enumerate(blocks):
        where = f"/blocks/{index}"
        if not isinstance(block, dict):
            errors.append(f"must provide an object [json-pointer:{where}]")
            continue
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            errors.append(f"unsupported type: {kind} [json-pointer:{where}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None and (not isinstance(block_id, str) or len(block_id) > 255):
            errors.append(f"must be less than 256 characters [json-pointer:{where}/block_id]")
        if kind == "section":
            errors += _keys(block, {"type", "block_id", "text", "fields", "accessory", "expand"}, where)
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide text or fields [json-pointer:{where}]")
            if "text" in block:
                errors += _text(block["text"], f"{where}/text", 3000)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list) or not fields:
                    errors.append(f"must provide a non-empty array [json-pointer:{where}/fields]")
                else:
                    if len(fields) > 10:
                        errors.append(f"no more than 10 items allowed [json-pointer:{where}/fields]")
                    for n, f in enumerate(fields):
                        errors += _text(f, f"{where}/fields/{n}", 2000)
        elif kind == "header":
            errors += _keys(block, {"type", "block_id", "text"}, where)
            errors += _text(block.get("text"), f"{where}/text", 150, only="plain_text")
        elif kind == "divider":
            errors += _keys(block, {"type", "block_id"}, where)
        elif kind == "context":
            errors += _keys(block, {"type", "block_id", "elements"}, where)
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                errors.append(f"must provide a non-empty array [json-pointer:{where}/elements]")
            else:
                if len(elements) > 10:
                    errors.append(f"no more than 10 items allowed [json-pointer:{where}/elements]")
                for n, element in enumerate(elements):
                    if isinstance(element, dict) and element.get("type") == "image":
                        continue
                    errors += _text(element, f"{where}/elements/{n}", 3000)
    return errors


def _keys(obj: Mapping[str, Any], allowed: set[str], where: str) -> list[str]:
    return [f"unsupported property: {k} [json-pointer:{where}/{k}]" for k in obj if k not in allowed]


def _text(obj: Any, where: str, limit: int, *, only: str | None = None) -> list[str]:
    if not isinstance(obj, dict):
        return [f"must provide an object [json-pointer:{where}]"]
    kind = obj.get("type")
    if kind not in TEXT_KEYS or (only is not None and kind != only):
        allowed = only or "plain_text, mrkdwn"
        return [f"must be one of the following: {allowed} [json-pointer:{where}/type]"]
    errors = _keys(obj, TEXT_KEYS[kind], where)
    text = obj.get("text")
    if not isinstance(text, str):
        errors.append(f"must provide a string [json-pointer:{where}/text]")
    elif not text:
        errors.append(f"must be more than 0 characters [json-pointer:{where}/text]")
    elif len(text) > limit:
        errors.append(f"must be less than {limit + 1} characters [json-pointer:{where}/text]")
    for flag in ("emoji", "verbatim"):
        if flag in obj and not isinstance(obj[flag], bool):
            errors.append(f"must be a boolean [json-pointer:{where}/{flag}]")
    return errors


def block_chars(blocks: Sequence[Any]) -> int:
    return sum(len(str(o.get("text") or "")) for o in _text_objects(blocks))


# ---- the fake ------------------------------------------------------------------------------------------


class FakeSlack(FakeService):
    """Slack Web API methods used by ops-postmortem, over shared in-memory state."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        url: str = "https://acme.slack.com/",
        team: str = "Acme",
        bot_user: str = "U0BOTPM",
        bot_id: str = "B0BOTPM",
        page_cap: int | None = None,
    ) -> None:
        super().__init__()
        self.token = token
        self.url = url
        self.team = team
        self.team_id = "T0ACME01"
        self.bot_user = bot_user
        self.bot_id = bot_id
        # Slack's 2025 limit for distributed non-Marketplace apps: history/replies pages of at most 15.
        self.page_cap = page_cap
        self.channels: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.ims: dict[str, str] = {}  # user id -> D channel
        self.posted: list[dict[str, Any]] = []  # {"channel", "ts", "text", "blocks"} per chat.postMessage
        self.undocumented: list[tuple[str, list[str]]] = []  # (method, arguments the spec does not list)
        self._messages: dict[str, dict[str, dict[str, Any]]] = {}  # channel -> ts -> message
        self._order: dict[str, list[str]] = {}  # channel -> ts ascending (rebuilt when dirty)
        self._threads: dict[str, dict[str, list[str]]] = {}  # channel -> parent ts -> reply ts
        self._dirty: set[str] = set()
        self._throttle: dict[str, tuple[int, str]] = {}  # method -> (every n-th call, Retry-After)
        self._counts: dict[str, int] = {}
        self._last_post = (0, 0)
        self.add_user(bot_user, "postmortem-bot", real_name="ops-postmortem", is_bot=True)

    # ---- seeding --------------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str = "",
        display_name: str = "",
        email: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
    ) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "real_name": real_name or name, "real_name_normalized": real_name or name,
            "display_name": display_name, "display_name_normalized": display_name,
            "avatar_hash": "g0000000000", "team": self.team_id,
        }
        if email:
            profile["email"] = email
        user = {
            "id": user_id, "team_id": self.team_id, "name": name, "deleted": deleted, "color": "9f69e7",
            "real_name": real_name or name, "tz": "Europe/Berlin", "tz_label": "Central European Time",
            "tz_offset": 3600, "profile": profile, "is_admin": False, "is_owner": False,
            "is_primary_owner": False, "is_restricted": False, "is_ultra_restricted": False,
            "is_bot": is_bot, "is_app_user": False, "updated": 1700000000,
        }
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        name: str,
        *,
        channel_id: str | None = None,
        private: bool = False,
        archived: bool = False,
        member: bool = True,
        created: int = 1700000000,
    ) -> dict[str, Any]:
        cid = channel_id or f"{'G' if private else 'C'}{len(self.channels) + 1:08d}"
        channel = {
            "id": cid, "name": name, "name_normalized": name, "is_channel": not private, "is_group": private,
            "is_im": False, "is_mpim": False, "is_private": private, "is_archived": archived,
            "is_general": False, "is_shared": False, "is_ext_shared": False, "is_org_shared": False,
            "is_member": member, "created": created, "creator": "U00000001", "unlinked": 0,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [], "num_members": 3,
        }
        self.channels[cid] = channel
        self._messages.setdefault(cid, {})
        return channel

    def channel(self, name_or_id: str) -> dict[str, Any]:
        key = name_or_id.lstrip("#")
        if key in self.channels:
            return self.channels[key]
        for channel in self.channels.values():
            if channel["name"] == key:
                return channel
        raise KeyError(name_or_id)

    def add_message(self, channel: str, message: Mapping[str, Any]) -> dict[str, Any]:
        """A message in API shape; a reply (thread_ts != ts) updates its parent's thread fields."""
        cid = self.channel(channel)["id"]
        stored = {"type": "message", **message}
        ts = stored["ts"]
        self._messages[cid][ts] = stored
        self._dirty.add(cid)
        thread_ts = stored.get("thread_ts")
        if thread_ts and thread_ts != ts:
            replies = self._threads.setdefault(cid, {}).setdefault(thread_ts, [])
            replies.append(ts)
            parent = self._messages[cid].get(thread_ts)
            if parent is not None:
                users = parent.setdefault("reply_users", [])
                if stored.get("user") and stored["user"] not in users:
                    users.append(stored["user"])
                parent.update(thread_ts=thread_ts, reply_count=len(replies), reply_users_count=len(users),
                              latest_reply=max(replies, key=ts_key), is_locked=False, subscribed=False)
            stored.setdefault("parent_user_id", (parent or {}).get("user", ""))
        return stored

    def add_messages(self, channel: str, messages: Iterable[Mapping[str, Any]]) -> None:
        """Many messages at once, parents before their replies (bulk, for large channels)."""
        for message in sorted(messages, key=lambda m: ts_key(m["ts"])):
            self.add_message(channel, message)

    def load_export(self, folder: Path) -> None:
        """A Slack workspace export (unpacked): channels.json, groups.json, users.json, a folder per channel."""
        for member, private in (("channels.json", False), ("groups.json", True)):
            path = folder / member
            if not path.is_file():
                continue
            for entry in json.loads(path.read_text(encoding="utf-8")):
                channel = self.add_channel(entry["name"], channel_id=entry["id"], private=private,
                                           archived=bool(entry.get("is_archived")), created=entry.get("created", 0))
                for key in ("topic", "purpose"):
                    if isinstance(entry.get(key), dict):
                        channel[key] = entry[key]
        users = folder / "users.json"
        if users.is_file():
            for entry in json.loads(users.read_text(encoding="utf-8")):
                profile = entry.get("profile") or {}
                self.add_user(entry["id"], entry.get("name", ""), real_name=entry.get("real_name", ""),
                              display_name=profile.get("display_name", ""), email=profile.get("email"),
                              is_bot=bool(entry.get("is_bot")), deleted=bool(entry.get("deleted")))
        for channel in list(self.channels.values()):
            days = folder / channel["name"]
            if not days.is_dir():
                continue
            messages = []
            for day in sorted(days.glob("*.json")):
                messages += [m for m in json.loads(day.read_text(encoding="utf-8"))
                             if isinstance(m, dict) and isinstance(m.get("ts"), str)
                             and m.get("subtype") not in ("message_changed", "message_deleted")]
            self.add_messages(channel["id"], messages)

    def throttle(self, method: str, *, every: int, retry_after: str = "0") -> None:
        """Answer every `every`-th call of `method` with 429 and Retry-After, as a busy workspace does."""
        self._throttle[method] = (every, retry_after)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """A channel's messages, oldest first."""
        cid = self.channel(channel)["id"]
        if cid in self._dirty:
            self._order[cid] = sorted(self._messages[cid], key=ts_key)
            self._dirty.discard(cid)
        order = self._order.get(cid, [])
        return [self._messages[cid][ts] for ts in order]

    def method_calls(self, method: str) -> list[Request]:
        return self.calls(path=rf"/{re.escape(method)}$")

    # ---- plumbing ---------------------------------------------------------------------------------------

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"ok": False, "error": "ratelimited"}
        if status >= 500:
            return f"<html><body><h1>{status} Server Error</h1>Slack is having trouble.</body></html>"
        return {"ok": False, "error": "invalid_request"}

    def not_found(self, request: Request) -> Response:
        return Response(404, {"ok": False, "error": "unknown_method"})

    @route("POST", r"/(?:api/)?(?P<method>[A-Za-z]+\.[A-Za-z.]+)")
    def api(self, request: Request, method: str) -> Response:
        params = _params(request)
        auth = request.headers.get("authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else params.get("token")
        if not token:
            return _error("not_authed")
        if token != self.token:
            return _error("invalid_auth")
        # Slack ignores arguments it does not know; the fake notes them so tests can insist there are none.
        documented = spec_parameters().get(method)
        if documented is not None and set(params) - documented - {"token"}:
            self.undocumented.append((method, sorted(set(params) - documented - {"token"})))
        self._counts[method] = count = self._counts.get(method, 0) + 1
        if method in self._throttle:
            every, retry_after = self._throttle[method]
            if count % every == 0:
                return Response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": retry_after})
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return _error("unknown_method")
        response: Response = handler(params)
        return response

    # ---- methods ------------------------------------------------------------------------------------------

    def m_auth_test(self, params: Mapping[str, Any]) -> Response:
        return _ok(url=self.url, team=self.team, user="postmortem-bot", team_id=self.team_id,
                   user_id=self.bot_user, bot_id=self.bot_id, is_enterprise_install=False)

    def m_conversations_list(self, params: Mapping[str, Any]) -> Response:
        types = set(str(params.get("types") or "public_channel").split(","))
        if not types <= {"public_channel", "private_channel", "mpim", "im"}:
            return _error("invalid_types")
        limit, problem = _limit(params, default=100, maximum=1000)
        if problem:
            return _error(problem)
        visible = [
            c for c in sorted(self.channels.values(), key=lambda c: c["id"])
            if (("private_channel" in types and c["is_private"] and c["is_member"])
                or ("public_channel" in types and not c["is_private"]))
            and not (_flag(params.get("exclude_archived")) and c["is_archived"])
        ]
        start = 0
        if params.get("cursor"):
            after = _uncursor("team", str(params["cursor"]))
            ids = [c["id"] for c in visible]
            if after is None or after not in ids:
                return _error("invalid_cursor")
            start = ids.index(after)
        page = visible[start:start + limit]
        following = visible[start + limit]["id"] if start + limit < len(visible) else None
        return _ok(channels=page, response_metadata={"next_cursor": _cursor("team", following) if following else ""})

    def _readable(self, params: Mapping[str, Any]) -> tuple[str | None, Response | None]:
        cid = str(params.get("channel") or "")
        channel = self.channels.get(cid)
        if channel is None or (channel["is_private"] and not channel["is_member"]):
            return None, _error("channel_not_found")
        if not channel["is_member"]:
            return None, _error("not_in_channel")
        return cid, None

    def m_conversations_history(self, params: Mapping[str, Any]) -> Response:
        cid, failed = self._readable(params)
        if failed is not None or cid is None:
            return failed or _error("channel_not_found")
        bounds = _bounds(params)
        if isinstance(bounds, Response):
            return bounds
        oldest, latest, inclusive = bounds
        limit, problem = _limit(params, default=100, maximum=999)
        if problem:
            return _error(problem)
        if self.page_cap:
            limit = min(limit, self.page_cap)
        top = [m for m in reversed(self.messages(cid))
               if m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast"]
        chosen = [m for m in top if _within(m["ts"], oldest, latest, inclusive)]
        return self._page(chosen, params, limit)

    def m_conversations_replies(self, params: Mapping[str, Any]) -> Response:
        cid, failed = self._readable(params)
        if failed is not None or cid is None:
            return failed or _error("channel_not_found")
        parent = self._messages[cid].get(str(params.get("ts") or ""))
        if parent is None:
            return _error("thread_not_found")
        bounds = _bounds(params)
        if isinstance(bounds, Response):
            return bounds
        oldest, latest, inclusive = bounds
        limit, problem = _limit(params, default=1000, maximum=1000)
        if problem:
            return _error(problem)
        if self.page_cap:
            limit = min(limit, self.page_cap)
        thread = sorted(self._threads.get(cid, {}).get(parent["ts"], []), key=ts_key)
        replies = [self._messages[cid][ts] for ts in thread if _within(ts, oldest, latest, inclusive)]
        response = self._page(replies, params, limit)
        if response.body.get("ok"):
            response.body["messages"].insert(0, parent)  # the parent heads every page
        return response

    def _page(self, chosen: list[dict[str, Any]], params: Mapping[str, Any], limit: int) -> Response:
        start = 0
        if params.get("cursor"):
            after = _uncursor("next_ts", str(params["cursor"]))
            positions = {m["ts"]: i for i, m in enumerate(chosen)}
            if after is None or after not in positions:
                return _error("invalid_cursor")
            start = positions[after]
        page = chosen[start:start + limit]
        more = start + limit < len(chosen)
        body: dict[str, Any] = {"ok": True, "messages": page, "has_more": more, "pin_count": 0,
                                "channel_actions_ts": None, "channel_actions_count": 0}
        if more:
            body["response_metadata"] = {"next_cursor": _cursor("next_ts", chosen[start + limit]["ts"])}
        return Response(200, body)

    def m_users_info(self, params: Mapping[str, Any]) -> Response:
        user = self.users.get(str(params.get("user") or ""))
        return _ok(user=user) if user else _error("user_not_found")

    def m_users_list(self, params: Mapping[str, Any]) -> Response:
        limit, problem = _limit(params, default=1000, maximum=1000)
        if problem:
            return _error(problem)
        members = sorted(self.users.values(), key=lambda u: u["id"])
        start = 0
        if params.get("cursor"):
            after = _uncursor("users", str(params["cursor"]))
            ids = [u["id"] for u in members]
            if after is None or after not in ids:
                return _error("invalid_cursor")
            start = ids.index(after)
        following = members[start + limit]["id"] if start + limit < len(members) else None
        return _ok(members=members[start:start + limit], cache_ts=int(time.time()),
                   response_metadata={"next_cursor": _cursor("users", following) if following else ""})

    def m_users_lookupByEmail(self, params: Mapping[str, Any]) -> Response:
        email = str(params.get("email") or "").lower()
        for user in self.users.values():
            if str(user["profile"].get("email", "")).lower() == email and not user["deleted"]:
                return _ok(user=user)
        return _error("users_not_found")

    def m_conversations_open(self, params: Mapping[str, Any]) -> Response:
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if not users:
            return _error("users_list_not_supplied")
        if len(users) > 1:
            return _error("method_not_supported_for_channel_type")
        user = self.users.get(users[0])
        if user is None:
            return _error("user_not_found")
        if user["deleted"]:
            return _error("user_disabled")
        already = user["id"] in self.ims
        if not already:
            dm = f"D{len(self.ims) + 1:08d}"
            self.ims[user["id"]] = dm
            self.channels[dm] = {"id": dm, "is_im": True, "is_private": True, "is_member": True,
                                 "is_archived": False, "user": user["id"], "name": dm, "created": 1700000000}
            self._messages[dm] = {}
        return _ok(no_op=already, already_open=already, channel={"id": self.ims[user["id"]]})

    def m_chat_postMessage(self, params: Mapping[str, Any]) -> Response:
        target = str(params.get("channel") or "")
        try:
            channel = self.channel(target)
        except KeyError:
            return _error("channel_not_found")
        if channel["is_private"] and not channel["is_member"]:
            return _error("channel_not_found")
        if channel["is_archived"]:
            return _error("is_archived")
        if not channel["is_member"]:
            return _error("not_in_channel")
        text = params.get("text")
        blocks = params.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return _error("invalid_blocks_format")
        if not text and not blocks:
            return _error("no_text")
        if blocks is not None:
            errors = validate_blocks(blocks)
            if errors:
                return Response(200, {"ok": False, "error": "invalid_blocks", "errors": errors,
                                      "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]}})
            if block_chars(blocks) > BLOCKS_TOO_LONG:
                return _error("msg_blocks_too_long")
        if text and len(str(text)) > 40_000:
            return _error("msg_too_long")
        ts = self._next_ts()
        message = {"type": "message", "user": self.bot_user, "bot_id": self.bot_id, "app_id": "A0PM0001",
                   "text": str(text or ""), "ts": ts, "team": self.team_id, "blocks": blocks or [],
                   "bot_profile": {"id": self.bot_id, "name": "ops-postmortem", "deleted": False}}
        self._messages[channel["id"]][ts] = message
        self._dirty.add(channel["id"])
        self.posted.append({"channel": channel["id"], "ts": ts, "text": message["text"], "blocks": message["blocks"]})
        return _ok(channel=channel["id"], ts=ts, message=message)

    def m_chat_getPermalink(self, params: Mapping[str, Any]) -> Response:
        cid = str(params.get("channel") or "")
        ts = str(params.get("message_ts") or "")
        if cid not in self.channels:
            return _error("channel_not_found")
        message = self._messages[cid].get(ts)
        if message is None:
            return _error("message_not_found")
        link = f"{self.url}archives/{cid}/p{ts.replace('.', '')}"
        thread = message.get("thread_ts")
        if thread and thread != ts:
            link += f"?thread_ts={thread}&cid={cid}"
        return _ok(channel=cid, permalink=link)

    def _next_ts(self) -> str:
        now = time.time_ns() // 1000
        candidate = (now // 1_000_000, now % 1_000_000)
        if candidate <= self._last_post:
            seconds, micro = self._last_post
            candidate = (seconds + (micro + 1) // 1_000_000, (micro + 1) % 1_000_000)
        self._last_post = candidate
        return f"{candidate[0]}.{candidate[1]:06d}"


def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {k: v[-1] for k, v in request.query.items()}
    content_type = request.headers.get("content-type", "")
    if request.body and "application/json" in content_type:
        body = request.json()
        if isinstance(body, dict):
            params.update(body)
    elif request.body:
        params.update(request.form())
    return params


def _ok(**fields: Any) -> Response:
    return Response(200, {"ok": True, **fields})


def _error(code: str) -> Response:
    return Response(200, {"ok": False, "error": code})


def _limit(params: Mapping[str, Any], *, default: int, maximum: int) -> tuple[int, str | None]:
    raw = params.get("limit")
    if raw in (None, ""):
        return default, None
    try:
        value = int(str(raw))
    except ValueError:
        return 0, "invalid_limit"
    if value < 1 or value > maximum:
        return 0, "invalid_limit"
    return value, None


def _bounds(params: Mapping[str, Any]) -> tuple[tuple[int, int] | None, tuple[int, int] | None, bool] | Response:
    values: list[tuple[int, int] | None] = []
    for name in ("oldest", "latest"):
        raw = params.get(name)
        if raw in (None, ""):
            values.append(None)
        elif not _TS.match(str(raw)):
            return _error(f"invalid_ts_{name}")
        else:
            values.append(ts_key(str(raw)))
    return values[0], values[1], _flag(params.get("inclusive"))


def _within(ts: str, oldest: tuple[int, int] | None, latest: tuple[int, int] | None, inclusive: bool) -> bool:
    key = ts_key(ts)
    if oldest is not None and (key < oldest or (key == oldest and not inclusive)):
        return False
    return latest is None or key < latest or (key == latest and inclusive)
