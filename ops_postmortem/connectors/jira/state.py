"""The issues this runner created, by item key, in a small JSON file.

Jira Cloud's search is eventually consistent: an issue created a moment ago may not be found by its label
yet. Remembering each created issue's id lets the next lookup ask for it explicitly (`reconcileIssues`), and
a marker written before each create remembers a create whose answer was lost (a 500 after the commit), so
it is looked up, not repeated, until the search can be trusted. The file only closes that window: the
labels on the issues and the keys written into the doc are what every runner relies on.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ops_postmortem.model import UTC, iso_z
from ops_postmortem.timeutil import parse_time

log = logging.getLogger(__name__)

VERSION = 1
# After this long the search index has long caught up, so an entry has nothing left to tell.
RETAIN = timedelta(days=7)


@dataclass(frozen=True)
class Created:
    at: datetime  # when the create was sent
    key: str | None = None  # None: sent, but its answer never came back
    id: str | None = None

    @property
    def uncertain(self) -> bool:
        return self.key is None


class CreatedIssues:
    def __init__(self, path: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.path = path
        self._clock = clock or (lambda: datetime.now(UTC))

    def get(self, item_keys: Iterable[str]) -> dict[str, Created]:
        entries = self._read()
        return {k: entries[k] for k in item_keys if k in entries}

    def recent(self, within: timedelta, limit: int) -> list[Created]:
        """The newest issues created within `within`, at most `limit`."""
        since = self._clock() - within
        done = [e for e in self._read().values() if e.id is not None and e.at >= since]
        return sorted(done, key=lambda e: e.at, reverse=True)[:limit]

    def sending(self, item_keys: Iterable[str]) -> None:
        """Written before the create is sent, so a lost answer is remembered."""
        now = self._clock()
        with self._update() as entries:
            for item in item_keys:
                entries[item] = Created(now)

    def created(self, issues: Mapping[str, tuple[str, str]]) -> None:
        """item key -> (issue key, issue id), once Jira has answered or a search has found it."""
        with self._update() as entries:
            for item, (key, ident) in issues.items():
                previous = entries.get(item)
                entries[item] = Created(previous.at if previous else self._clock(), key, ident)

    def refused(self, item_keys: Iterable[str]) -> None:
        """Jira said no, so nothing was created: forget the markers."""
        with self._update() as entries:
            for item in item_keys:
                entries.pop(item, None)

    def _read(self) -> dict[str, Created]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable (%s); starting it again (it only bridges Jira's search delay)",
                        self.path, exc)
            return {}
        try:
            return {str(item): _entry(value) for item, value in data["issues"].items()}
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            log.warning("%s: not a created-issues file (%s); starting it again", self.path, exc)
            return {}

    @contextmanager
    def _update(self) -> Iterator[dict[str, Created]]:
        """Read, change and write back under a lock, so two runs sharing the file lose nothing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_name(self.path.name + ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                entries = self._read()
                yield entries
                cutoff = self._clock() - RETAIN
                self._write({k: e for k, e in entries.items() if e.at >= cutoff})
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, entries: Mapping[str, Created]) -> None:
        data = {"version": VERSION, "issues": {k: _json(e) for k, e in sorted(entries.items())}}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        os.replace(tmp, self.path)


def _entry(value: Any) -> Created:
    return Created(parse_time(value["at"]), value.get("key"), value.get("id"))


def _json(entry: Created) -> dict[str, Any]:
    return {"at": iso_z(entry.at), "key": entry.key, "id": entry.id}
