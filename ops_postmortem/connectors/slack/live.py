"""The incident channel read live from the Slack Web API, as a windowed timeline source.

Calls per run: auth.test once (workspace URL for permalinks, and a clear credentials check);
conversations.list pages (all of them for a pattern, to see every match; until found for a name; none
for a channel id); conversations.history pages over the window; conversations.replies per thread parent
(history holds only parents and broadcast replies); users.info once per distinct person, cached.
Permalinks are built from the workspace URL, never one chat.getPermalink per message. Pages are mapped
as they arrive, so memory holds the events and the raw pages for the evidence archive, not decoded JSON
of the whole channel.

Threads started before the window whose replies fall inside it are not seen: history over the
window does not return their parents.
"""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from ops_postmortem.config import Config
from ops_postmortem.connectors.base import Window
from ops_postmortem.connectors.slack.api import DEFAULT_API_URL, SlackApi
from ops_postmortem.connectors.slack.connector import (
    SOURCE,
    ChannelContext,
    UserDirectory,
    message_event,
    user_from_json,
)
from ops_postmortem.errors import ConfigError, NotFoundError, ServiceError
from ops_postmortem.escaping import web_url
from ops_postmortem.model import UTC, RawEvidence, SourceBatch, TimelineEvent, require_utc

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
_MENTION = re.compile(rb"<@([UW][A-Z0-9]{2,})")


def slack_ts(at: datetime) -> str:
    """A datetime as a Slack ts ("1762213050.000100"), with integer arithmetic only."""
    delta = require_utc(at, "slack window") - _EPOCH
    return f"{delta.days * 86400 + delta.seconds}.{delta.microseconds:06d}"


# A PagerDuty incident URL, or "PD #4817" / "PagerDuty #4817" as incident bots write channel topics.
_PAGING_REFERENCE = re.compile(
    r"pagerduty\.com/incidents/(?P<id>[A-Z0-9]{5,})|\b(?:PD|PagerDuty)\s*#\s*(?P<number>\d+)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    raw: Mapping[str, Any]


class SlackLive:
    """WindowedSource over one channel: `channel` (a name or an id) or the one `channel_pattern` names."""

    name = SOURCE

    def __init__(
        self,
        api: SlackApi,
        *,
        channel: str | None = None,
        channel_pattern: str | None = None,
        workspace_url: str | None = None,
    ) -> None:
        if not channel and not channel_pattern:
            raise ConfigError("slack: no incident channel", hint='set [slack] channel_pattern = "inc-{id}*" '
                              "or pass --slack-channel NAME")
        self.api = api
        self.channel = channel.strip().lstrip("#") if channel else None
        self.channel_pattern = channel_pattern
        self.workspace_url = workspace_url
        self._found: dict[str, tuple[Channel, dict[str, str]]] = {}

    @classmethod
    def from_config(cls, config: Config, *, channel: str | None = None) -> SlackLive:
        """From `[slack]`: token, api_url, channel_pattern (unless `channel` is given), workspace_url."""
        section = config.section("slack")
        token = section.secret("token", required=True)
        assert token is not None
        api_url = section.string("api_url", DEFAULT_API_URL) or DEFAULT_API_URL
        if not web_url(api_url):
            raise ConfigError(f"{section.where('api_url')} = {api_url!r} is not an http(s) URL",
                              hint=f"leave it out for {DEFAULT_API_URL}")
        pattern = section.string("channel_pattern")
        if not channel:
            if not pattern:
                raise ConfigError(f"{section.where('channel_pattern')} is required to find the incident channel",
                                  hint='set channel_pattern = "inc-{id}*" or pass --slack-channel NAME')
            if "{id}" not in pattern:
                raise ConfigError(f"{section.where('channel_pattern')} = {pattern!r} has no {{id}}",
                                  hint='the incident id goes where {id} is, e.g. "inc-{id}*"')
        return cls(SlackApi(token.reveal(), api_url=api_url), channel=channel, channel_pattern=pattern,
                   workspace_url=section.string("workspace_url"))

    # ---- the source ------------------------------------------------------------------------------

    def collect_window(self, incident_id: str, window: Window) -> SourceBatch:
        since, until = window
        warnings: list[str] = []
        raw: list[RawEvidence] = []
        auth = self.api.auth_test()
        channel, names = self.find_channel(incident_id)
        users = _Users(self.api, warnings)
        ctx = ChannelContext(
            channel_id=channel.id,
            channel_name=channel.name,
            users=users.directory,
            channels=names,
            workspace_url=self.workspace_url or str(auth.get("url") or "") or None,
        )
        kept = _Kept(ctx, since, until)
        threads: list[str] = []
        history = self.api.history(
            channel.id,
            oldest=slack_ts(since) if since else None,
            latest=slack_ts(until) if until else None,
        )
        for number, page in enumerate(history, 1):
            messages = _messages(page)
            data = _dump(page)
            raw.append(RawEvidence(f"slack/history-{number:04d}.json", data))
            users.resolve(_people(messages, data))
            for message in messages:
                kept.take(message)
                if _is_thread_parent(message):
                    threads.append(message["ts"])
        for parent in threads:
            for number, page in enumerate(self.api.replies(channel.id, parent), 1):
                messages = _messages(page)
                data = _dump(page)
                raw.append(RawEvidence(f"slack/replies-{parent}-{number:04d}.json", data))
                users.resolve(_people(messages, data))
                for message in messages:
                    kept.take(message)
        raw.append(RawEvidence("slack/channel.json", _dump(dict(channel.raw))))
        raw.append(RawEvidence("slack/users.json", _dump(users.summary())))
        return SourceBatch(source=SOURCE, events=kept.events(), warnings=tuple(warnings), raw=tuple(raw))

    # ---- the channel -------------------------------------------------------------------------------

    def paging_references(self, incident_id: str) -> list[str]:
        """PagerDuty incidents the incident channel names in its topic or purpose ("PD #4817", an incident URL):
        how a team's own incident id (INC-2042) leads to its page when the two share nothing else."""
        channel, _ = self.find_channel(incident_id)
        texts = [str((channel.raw.get(k) or {}).get("value") or "") for k in ("topic", "purpose")]
        found: list[str] = []
        for text in texts:
            for match in _PAGING_REFERENCE.finditer(text):
                ref = match.group("id") or match.group("number")
                if ref not in found:
                    found.append(ref)
        return found

    def find_channel(self, incident_id: str) -> tuple[Channel, dict[str, str]]:
        """The incident channel, and the names of the channels listed on the way (for #mentions); looked up once."""
        if incident_id not in self._found:
            self._found[incident_id] = self._find_channel(incident_id)
        return self._found[incident_id]

    def _find_channel(self, incident_id: str) -> tuple[Channel, dict[str, str]]:
        if self.channel and _CHANNEL_ID.match(self.channel):
            return Channel(self.channel, self.channel, {"id": self.channel}), {}
        names: dict[str, str] = {}
        matches: list[Channel] = []
        wanted = self.channel.lower() if self.channel else None
        assert wanted is not None or self.channel_pattern is not None
        pattern = wanted or (self.channel_pattern or "").replace("{id}", glob.escape(incident_id)).lower()
        for page in self.api.conversations():
            for entry in page.get("channels") or ():
                if not isinstance(entry, dict) or not entry.get("id") or not entry.get("name"):
                    continue
                name = str(entry["name"])
                names[str(entry["id"])] = name
                hit = name.lower() == wanted if wanted else fnmatchcase(name.lower(), pattern)
                if hit:
                    matches.append(Channel(str(entry["id"]), name, entry))
            if wanted and matches:
                break  # an exact name is unique; the rest of the workspace is not needed
        return _pick(matches, incident_id, wanted or pattern), names


def _pick(matches: list[Channel], incident_id: str, pattern: str) -> Channel:
    if not matches:
        raise NotFoundError(
            f"no channel matches {pattern!r} for incident {incident_id}", service=SOURCE,
            hint="check [slack] channel_pattern, pass --slack-channel NAME, and invite the app to private channels",
        )
    if len(matches) > 1:
        # "inc-42*" also matches inc-420: prefer names where the id is not the start of a longer word.
        word = re.compile(rf"{re.escape(incident_id.lower())}(?![a-z0-9])")
        exact = [c for c in matches if word.search(c.name.lower())] or matches
        live = [c for c in exact if not c.raw.get("is_archived")] or exact
        matches = live
    if len(matches) > 1:
        names = ", ".join(f"#{c.name}" for c in matches[:5])
        raise ServiceError(
            f"several channels match {pattern!r}: {names}", service=SOURCE,
            hint="pass --slack-channel NAME to choose one",
        )
    return matches[0]


# ---- pages ------------------------------------------------------------------------------------------


def _messages(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = page.get("messages")
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def _dump(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _is_thread_parent(message: Mapping[str, Any]) -> bool:
    ts = message.get("ts")
    count = message.get("reply_count")
    return isinstance(ts, str) and message.get("thread_ts") == ts and isinstance(count, int) and count > 0


def _people(messages: Iterable[Mapping[str, Any]], data: bytes) -> set[str]:
    """Every user id a page needs a name for: authors, and mentions in text, attachments and blocks."""
    ids = {m["user"] for m in messages if isinstance(m.get("user"), str)}
    ids.update(found.decode() for found in _MENTION.findall(data))
    return ids


class _Users:
    """users.info once per id, cached for the run; a failing lookup leaves ids in place and says so once."""

    def __init__(self, api: SlackApi, warnings: list[str]) -> None:
        self.api = api
        self.warnings = warnings
        self.directory = UserDirectory()
        self.tried: set[str] = set()
        self.failed = False

    def resolve(self, ids: Iterable[str]) -> None:
        for user_id in sorted(set(ids) - self.tried):
            if self.failed:
                return
            self.tried.add(user_id)
            try:
                found = self.api.user_info(user_id)
            except ServiceError as exc:
                self.failed = True
                self.warnings.append(f"slack: cannot look up people ({exc}); they appear as Slack user ids")
                return
            if found is not None:
                user = user_from_json(found)
                # The directory ChannelContext holds: names resolved later still reach later pages.
                self.directory.users[user_id] = user
                self.directory.names[user_id] = user.label

    def summary(self) -> list[dict[str, str]]:
        """Who the ids in the archived pages are: names only, no e-mail or phone."""
        return [
            {"id": u.id, "name": u.name, "real_name": u.real_name, "display_name": u.display_name}
            for u in sorted(self.directory.users.values(), key=lambda u: u.id)
        ]


class _Kept:
    """Events of the channel in the window, one per ts (a broadcast reply comes through history and replies)."""

    def __init__(self, ctx: ChannelContext, since: datetime | None, until: datetime | None) -> None:
        self.ctx = ctx
        # Inclusive bounds, as the history call asks for; replies come unfiltered and are cut here.
        self.since = since
        self.until = until
        self._events: dict[str, TimelineEvent] = {}

    def take(self, message: Mapping[str, Any]) -> None:
        ts = message.get("ts")
        if not isinstance(ts, str) or ts in self._events:
            return
        event = message_event(message, self.ctx)
        if event is None:
            return
        if (self.since is None or event.at >= self.since) and (self.until is None or event.at <= self.until):
            self._events[ts] = event

    def events(self) -> tuple[TimelineEvent, ...]:
        return tuple(sorted(self._events.values(), key=lambda e: (e.at, e.ident)))
