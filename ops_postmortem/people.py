"""Matching people across stores and trackers: by e-mail when known, else by normalised name or alias."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ops_postmortem.errors import ConfigError
from ops_postmortem.model import Person

HANDLE_KEYS = ("github", "jira", "slack", "confluence")


def normalise_name(text: str) -> str:
    """Case, accents, @-prefixes and spacing normalised: "José  Núñez" == "jose nunez" == "@Jose Nunez"."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(folded.casefold().lstrip("@").replace(".", " ").replace("_", " ").split())


@dataclass(frozen=True)
class DirectoryEntry:
    name: str
    email: str | None = None
    aliases: tuple[str, ...] = ()
    handles: tuple[tuple[str, str], ...] = ()  # (service, id) e.g. ("github", "dana-k")

    def handle(self, service: str) -> str | None:
        return dict(self.handles).get(service)

    @property
    def keys(self) -> set[str]:
        keys = {normalise_name(self.name), *(normalise_name(a) for a in self.aliases)}
        keys.update(normalise_name(value) for _, value in self.handles)
        if self.email:
            keys.add(self.email.casefold())
            keys.add(normalise_name(self.email.split("@")[0]))
        return keys


class Directory:
    """The optional `[people]` table of the config: who is who across the tools."""

    def __init__(self, entries: Iterable[DirectoryEntry] = ()) -> None:
        self.entries = tuple(entries)
        self._index: dict[str, DirectoryEntry] = {}
        for entry in self.entries:
            for key in entry.keys:
                self._index.setdefault(key, entry)

    @classmethod
    def from_config(cls, table: Mapping[str, Any], origin: str) -> Directory:
        entries = []
        for name, value in table.items():
            if not isinstance(value, dict):
                raise ConfigError(f'{origin} [people."{name}"] must be a table with email, aliases, github, ...')
            unknown = set(value) - {"email", "aliases", *HANDLE_KEYS}
            if unknown:
                raise ConfigError(f'{origin} [people."{name}"]: unknown key {min(unknown)!r}',
                                  hint=f"known keys: email, aliases, {', '.join(HANDLE_KEYS)}")
            aliases = value.get("aliases", [])
            if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
                raise ConfigError(f'{origin} [people."{name}"] aliases must be a list of strings')
            handles = tuple((k, str(value[k])) for k in HANDLE_KEYS if k in value)
            entries.append(DirectoryEntry(name, value.get("email"), tuple(aliases), handles))
        return cls(entries)

    def lookup(self, text: str) -> DirectoryEntry | None:
        text = text.strip()
        return self._index.get(text.casefold()) or self._index.get(normalise_name(text))

    def entry_for(self, person: Person) -> DirectoryEntry | None:
        for candidate in (person.email, person.account_id, person.name):
            if candidate:
                entry = self.lookup(candidate)
                if entry is not None:
                    return entry
        return None

    def canonical(self, person: Person) -> Person:
        """The person with name and e-mail filled in from the directory where it knows them."""
        entry = self.entry_for(person)
        if entry is None:
            return person
        return Person(entry.name, person.email or entry.email, person.account_id)

    def same(self, a: Person, b: Person) -> bool:
        """E-mail decides when both have one; otherwise names, aliases and handles via the directory."""
        a, b = self.canonical(a), self.canonical(b)
        if a.email and b.email:
            return a.email.casefold() == b.email.casefold()
        if a.account_id and b.account_id and a.account_id == b.account_id:
            return True
        return normalise_name(a.name) == normalise_name(b.name) and bool(a.name.strip())


_NAME_EMAIL = re.compile(r"^\s*(?P<name>[^<>]*?)\s*<(?P<email>[^<>@\s]+@[^<>\s]+)>\s*$")


def person_from_text(text: str) -> Person:
    """A person as written: 'Dana Kim <dana@acme.test>', 'dana@acme.test' or 'Dana Kim'."""
    match = _NAME_EMAIL.match(text)
    if match:
        email = match.group("email")
        return Person(match.group("name") or email.split("@")[0], email)
    text = text.strip()
    if "@" in text and not text.startswith("@") and " " not in text:
        return Person(name=text.split("@")[0], email=text)
    return Person(name=text.lstrip("@"))
