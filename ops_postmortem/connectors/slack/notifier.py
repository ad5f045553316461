"""Posting Block Kit messages to Slack channels and people (the Notifier role).

People are found through the `[people]` directory's `slack` user id, else by their e-mail
(users.lookupByEmail); a direct message goes to the channel conversations.open gives for them.
Links to posted messages are built from the workspace URL auth.test gives, fetched before posting,
so nothing can fail between a message being posted and the caller learning it was.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ops_postmortem.config import Config
from ops_postmortem.connectors.slack.api import DEFAULT_API_URL, SERVICE, SlackApi
from ops_postmortem.connectors.slack.live import slack_ts
from ops_postmortem.errors import ConfigError, NotFoundError
from ops_postmortem.escaping import web_url
from ops_postmortem.model import Person
from ops_postmortem.people import Directory

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


class SlackNotifier:
    def __init__(self, api: SlackApi, directory: Directory | None = None) -> None:
        self.api = api
        self.directory = directory or Directory()
        self._auth: dict[str, Any] | None = None
        self._channels: dict[str, str] | None = None  # name -> id, listed once when needed
        self._users: dict[str, str | None] = {}

    @classmethod
    def from_config(cls, config: Config, directory: Directory | None = None) -> SlackNotifier:
        section = config.section("slack")
        token = section.secret("token", required=True)
        assert token is not None
        api_url = section.string("api_url", DEFAULT_API_URL) or DEFAULT_API_URL
        if not web_url(api_url):
            raise ConfigError(f"{section.where('api_url')} = {api_url!r} is not an http(s) URL",
                              hint=f"leave it out for {DEFAULT_API_URL}")
        return cls(SlackApi(token.reveal(), api_url=api_url), directory)

    # ---- Notifier ----------------------------------------------------------------------------------

    def post(self, channel: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> str:
        """Post to a channel (#name, name or id); returns a link to the message."""
        auth = self._auth_test()
        target = channel.strip().lstrip("#")
        data = self.api.post_message(target, text, blocks)
        return self._link(auth, str(data.get("channel") or target), str(data.get("ts") or ""))

    def post_direct(self, person: Person, text: str, blocks: Sequence[Mapping[str, Any]]) -> str:
        user = self.user_id(person)
        if user is None:
            raise NotFoundError(
                f"no Slack user for {person.email or person.name!r}", service=SERVICE,
                hint=f'add slack = "U..." (their member id) or their e-mail under [people."{person.name}"]',
            )
        return self.post(self.api.open_dm(user), text, blocks)

    def find_post(self, channel: str, since: datetime, marker: str) -> str | None:
        """A link to a message this app posted in `channel` after `since` whose text holds `marker`."""
        auth = self._auth_test()
        channel_id = self.channel_id(channel)
        mine = {auth.get("user_id"), auth.get("bot_id")} - {None, ""}
        for page in self.api.history(channel_id, oldest=slack_ts(since), latest=None):
            for message in page.get("messages") or ():
                if not isinstance(message, dict):
                    continue
                author = {message.get("user"), message.get("bot_id")}
                if author & mine and marker in str(message.get("text") or ""):
                    return self._link(auth, channel_id, str(message.get("ts") or ""))
        return None

    # ---- lookups ------------------------------------------------------------------------------------

    def user_id(self, person: Person) -> str | None:
        """The Slack member id of a person: the directory's `slack` id, else a lookup by e-mail."""
        key = (person.email or person.name).casefold()
        if key in self._users:
            return self._users[key]
        entry = self.directory.entry_for(person)
        handle = entry.handle("slack") if entry else None
        found: str | None = None
        if person.account_id and _USER_ID.match(person.account_id):
            found = person.account_id
        elif handle and _USER_ID.match(handle.lstrip("@")):
            found = handle.lstrip("@")
        else:
            email = person.email or (entry.email if entry else None)
            user = self.api.lookup_by_email(email) if email else None
            found = str(user["id"]) if user and user.get("id") else None
        self._users[key] = found
        return found

    def channel_id(self, channel: str) -> str:
        name = channel.strip().lstrip("#")
        if _CHANNEL_ID.match(name):
            return name
        if self._channels is None:
            self._channels = {}
            for page in self.api.conversations():
                for entry in page.get("channels") or ():
                    if isinstance(entry, dict) and entry.get("id") and entry.get("name"):
                        self._channels[str(entry["name"]).lower()] = str(entry["id"])
        found = self._channels.get(name.lower())
        if found is None:
            raise NotFoundError(f"no channel #{name}", service=SERVICE,
                                hint="check the channel name in [slack], and invite the app to private channels")
        return found

    def _auth_test(self) -> dict[str, Any]:
        if self._auth is None:
            self._auth = self.api.auth_test()
        return self._auth

    @staticmethod
    def _link(auth: Mapping[str, Any], channel: str, ts: str) -> str:
        base = str(auth.get("url") or "")
        if not web_url(base) or not ts:
            return f"{channel}/{ts}"
        return f"{base.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
