"""Reading one channel out of Slack workspace exports (a ZIP or its unpacked folder).

Layout (Slack help, "How to read Slack data exports"): channels.json, groups.json (private
channels), users.json or org_users.json (Enterprise Grid), integration_logs.json, and a folder per
channel, named after it, holding one JSON array of messages per day (YYYY-MM-DD.json).
Day files are read one at a time so memory stays bounded by the events kept, not the export size.
"""

from __future__ import annotations

import difflib
import gc
import re
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from operator import attrgetter
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

from ops_postmortem.connectors.base import Window
from ops_postmortem.connectors.files import parse_json
from ops_postmortem.connectors.slack.connector import (
    CHANNEL_CHANGE,
    SOURCE,
    ChannelContext,
    UserDirectory,
    deleted_ts,
    edit_of,
    is_tombstone,
    message_event,
    message_text,
)
from ops_postmortem.errors import InputError
from ops_postmortem.model import UTC, SourceBatch, TimelineEvent, require_utc
from ops_postmortem.timeutil import parse_epoch

_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.json$")
_USER_FILES = ("users.json", "org_users.json")
_CHANNEL_FILES = ("channels.json", "groups.json")
# Day files are cut at midnight in a time zone the export does not state; allow for any offset.
_DAY_MARGIN = timedelta(days=1)


class _Archive:
    """One export: a ZIP (possibly with everything under one top folder) or an unpacked folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._root = ""
        self._names: set[str] = set()
        self._folders: set[str] | None = None
        if path.is_dir():
            # An export unpacked into a folder of its own: look one level down for channels.json.
            if not any((path / m).is_file() for m in _CHANNEL_FILES):
                nested = [d for d in path.iterdir() if d.is_dir() and (d / "channels.json").is_file()]
                if len(nested) == 1:
                    self.path = nested[0]
            return
        if not path.is_file():
            raise InputError(
                f"{path}: no such file or directory", hint="give the export ZIP or its unpacked folder"
            )
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise InputError(
                f"{path}: not a ZIP file ({exc})",
                hint="give the Slack export ZIP as downloaded, or unpack it",
            ) from exc
        names = [n for n in self._zip.namelist() if not n.endswith("/")]
        # A re-zipped unpacked export has its files under one folder: find where channels.json sits.
        tops = sorted(
            (n for n in names if PurePosixPath(n).name in _CHANNEL_FILES), key=lambda n: n.count("/")
        )
        if tops:
            parent = str(PurePosixPath(tops[0]).parent)
            self._root = "" if parent == "." else parent + "/"
        self._names = {n[len(self._root) :] for n in names if n.startswith(self._root)}

    def where(self, member: str) -> str:
        return f"{self.path}:{member}" if self._zip is not None else str(self.path / member)

    def has(self, member: str) -> bool:
        if self._zip is not None:
            return member in self._names
        return (self.path / member).is_file()

    def folders(self) -> set[str]:
        if self._folders is None:
            if self._zip is not None:
                self._folders = {n.split("/", 1)[0] for n in self._names if "/" in n}
            else:
                self._folders = {p.name for p in self.path.iterdir() if p.is_dir()}
        return self._folders

    def day_files(self, folder: str) -> list[tuple[date, str]]:
        """(day, member) for every YYYY-MM-DD.json in a channel folder, oldest first."""
        if self._zip is not None:
            prefix = folder + "/"
            leaves = [
                n[len(prefix) :] for n in self._names if n.startswith(prefix) and "/" not in n[len(prefix) :]
            ]
        else:
            directory = self.path / folder
            leaves = [p.name for p in directory.iterdir() if p.is_file()] if directory.is_dir() else []
        found: list[tuple[date, str]] = []
        for leaf in leaves:
            m = _DAY_FILE.match(leaf)
            if m:
                try:
                    found.append((date.fromisoformat(m.group(1)), f"{folder}/{leaf}"))
                except ValueError:
                    continue  # e.g. 2026-13-40.json is not a day file
        return sorted(found)

    def load(self, member: str) -> Any:
        where = self.where(member)
        try:
            raw = (
                self._zip.read(self._root + member)
                if self._zip is not None
                else (self.path / member).read_bytes()
            )
        except (OSError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
            raise InputError(f"{where}: cannot read ({exc})", hint="re-download the export") from exc
        except (RuntimeError, NotImplementedError) as exc:  # encrypted, or Deflate64 from some zip tools
            raise InputError(
                f"{where}: cannot unpack ({exc})", hint="unpack the ZIP and give the folder"
            ) from exc
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        return parse_json(text, where)

    def load_list(self, member: str, key: str | None = None) -> list[Any]:
        """A top-level JSON array (or the array under `key` in an API-style envelope)."""
        data = self.load(member)
        if key is not None and isinstance(data, Mapping):
            data = data.get(key)
        if not isinstance(data, list):
            raise InputError(
                f"{self.where(member)}: expected a JSON array", hint="re-export the workspace data"
            )
        return data

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


@dataclass(frozen=True)
class _Channel:
    id: str
    name: str


class SlackExport:
    """TimelineSource over one channel of one or more Slack workspace exports."""

    name = SOURCE

    def __init__(
        self,
        paths: Sequence[Path | str],
        channel: str,
        *,
        workspace_url: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> None:
        if not paths:
            raise InputError("slack: no export given", hint="pass the export ZIP or folder")
        self.paths = [Path(p) for p in paths]
        self.channel = channel.strip().lstrip("#")
        self.workspace_url = workspace_url
        self.since = require_utc(since, "since") if since is not None else None
        self.until = require_utc(until, "until") if until is not None else None

    def collect_window(self, incident_id: str, window: Window) -> SourceBatch:
        """Read only the window the paging and alert evidence gives (a busy channel holds months)."""
        since = max((t for t in (self.since, window[0]) if t is not None), default=None)
        until = min((t for t in (self.until, window[1]) if t is not None), default=None)
        bounded = SlackExport(self.paths, self.channel, workspace_url=self.workspace_url, since=since, until=until)
        return bounded.collect(incident_id)

    def collect(self, incident_id: str) -> SourceBatch:
        """Events of the channel in the window; `incident_id` is not needed, the export is given."""
        archives: list[_Archive] = []
        try:
            with _cyclic_gc_paused():
                archives.extend(_Archive(p) for p in self.paths)
                return self._collect(archives)
        finally:
            for archive in archives:
                archive.close()

    def _collect(self, archives: list[_Archive]) -> SourceBatch:
        warnings: list[str] = []
        channels = self._channel_lists(archives)
        users = self._users(archives, warnings)
        target = self._find_channel(archives, channels)
        ctx = ChannelContext(
            channel_id=target.id,
            channel_name=target.name,
            users=users,
            channels=MappingProxyType({c.id: c.name for c in channels.values()}),
            workspace_url=self.workspace_url,
        )
        if not target.id:
            warnings.append(
                f"slack: #{target.name} is missing from channels.json and groups.json; messages have no links"
            )
        reader = _ChannelReader(ctx, self.since, self.until, warnings)
        found_folder = False
        for archive in archives:
            if target.name in archive.folders():
                found_folder = True
                for day, member in archive.day_files(target.name):
                    if self._day_in_window(day):
                        reader.read_day(archive, member)
            if archive.has("integration_logs.json"):
                try:
                    reader.read_integration_logs(archive)
                except InputError as exc:  # a side file: the messages are still good
                    warnings.append(str(exc))
        if not found_folder:
            warnings.append(
                f"{self._label()}: #{target.name} has no message folder; the export holds no messages of it"
            )
        return SourceBatch(source=SOURCE, events=reader.events(), warnings=tuple(warnings))

    def _label(self) -> str:
        return ", ".join(str(p) for p in self.paths)

    def _channel_lists(self, archives: list[_Archive]) -> dict[str, _Channel]:
        """Public and private channels of every export, by id."""
        channels: dict[str, _Channel] = {}
        for archive in archives:
            for member in _CHANNEL_FILES:
                if not archive.has(member):
                    continue
                for entry in archive.load_list(member):
                    if isinstance(entry, Mapping) and entry.get("id") and entry.get("name"):
                        channels[str(entry["id"])] = _Channel(str(entry["id"]), str(entry["name"]))
        return channels

    def _users(self, archives: list[_Archive], warnings: list[str]) -> UserDirectory:
        entries: list[Mapping[str, Any]] = []
        for archive in archives:
            member = next((m for m in _USER_FILES if archive.has(m)), None)
            if member is None:
                warnings.append(
                    f"{archive.path}: no users.json or org_users.json; people without a profile in their "
                    "messages appear as Slack user ids"
                )
                continue
            entries.extend(e for e in archive.load_list(member) if isinstance(e, Mapping))
        return UserDirectory.from_json(entries)

    def _find_channel(self, archives: list[_Archive], channels: dict[str, _Channel]) -> _Channel:
        wanted = self.channel.lower()
        for channel in channels.values():
            if channel.name.lower() == wanted or channel.id.lower() == wanted:
                return channel
        folders = set().union(*(a.folders() for a in archives))
        if self.channel in folders:
            return _Channel("", self.channel)  # a partial export: the folder without its channels.json entry
        names = sorted({c.name for c in channels.values()} | folders)
        close = difflib.get_close_matches(self.channel, names, n=5, cutoff=0.4) or names[:5]
        hint = (
            f"closest channels: {', '.join('#' + n for n in close)}"
            if close
            else "the export lists no channels"
        )
        raise InputError(f"{self._label()}: no channel #{self.channel} in the export", hint=hint)

    def _day_in_window(self, day: date) -> bool:
        start = datetime.combine(day, time(), UTC)
        if self.since is not None and start + timedelta(days=1) + _DAY_MARGIN <= self.since:
            return False
        return self.until is None or start - _DAY_MARGIN <= self.until


class _ChannelReader:
    """Accumulates one channel's events across day files and exports, applying edits and deletions."""

    def __init__(
        self, ctx: ChannelContext, since: datetime | None, until: datetime | None, warnings: list[str]
    ) -> None:
        self.ctx = ctx
        self.since = since
        self.until = until
        self.warnings = warnings
        self._events: dict[str, TimelineEvent] = {}
        self._edited: dict[str, str] = {}  # ts -> edited.ts of the version kept
        self._edits: dict[str, Mapping[str, Any]] = {}  # ts -> newest message_changed version
        self._deleted: set[str] = set()

    def read_day(self, archive: _Archive, member: str) -> None:
        messages = archive.load_list(member)
        skipped = 0
        for message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("ts"), str):
                skipped += 1
                continue
            self._take(message)
        if skipped:
            self.warnings.append(
                f"{archive.where(member)}: skipped {skipped} entries that are not messages with a string ts"
            )

    def _take(self, message: Mapping[str, Any]) -> None:
        subtype = message.get("subtype")
        if subtype == "message_deleted":
            gone = deleted_ts(message)
            if gone is not None:
                self._deleted.add(gone)
            return
        if subtype == "message_changed":
            new = edit_of(message)
            if new is not None:
                ts = new["ts"]
                if ts not in self._edits or _edit_stamp(new) >= _edit_stamp(self._edits[ts]):
                    self._edits[ts] = new
            return
        event = message_event(message, self.ctx)
        if event is None or not self._in_window(event.at):
            return
        ts = event.ident
        # The same message in two exports counts once; keep its latest edit.
        if ts not in self._events:
            self._events[ts] = event
            if "edited" in message:
                self._edited[ts] = _edit_stamp(message)
        elif (stamp := _edit_stamp(message)) > self._edited.get(ts, ""):
            self._events[ts] = event
            self._edited[ts] = stamp

    def _in_window(self, at: datetime) -> bool:
        return (self.since is None or at >= self.since) and (self.until is None or at <= self.until)

    def read_integration_logs(self, archive: _Archive) -> None:
        """App and integration changes made in this channel (added, removed, disabled...)."""
        names = {self.ctx.channel_name, "#" + self.ctx.channel_name, self.ctx.channel_id} - {"", "#"}
        bad = 0
        for entry in archive.load_list("integration_logs.json", key="logs"):
            if not isinstance(entry, Mapping) or entry.get("channel") not in names:
                continue
            try:
                at = parse_epoch(str(entry.get("date")))
            except (ArithmeticError, ValueError):
                bad += 1
                continue
            if not self._in_window(at):
                continue
            what = entry.get("app_type") or entry.get("service_type") or "an integration"
            user = entry.get("user_name") or entry.get("user_id")
            text = f"{user or 'someone'} {entry.get('change_type') or 'changed'} {what}"
            if entry.get("reason"):
                text += f" (reason: {entry['reason']})"
            ident = (
                f"integration:{entry.get('date')}:{entry.get('app_id') or entry.get('service_id') or what}"
            )
            self._events[ident] = TimelineEvent(
                at=at,
                source=SOURCE,
                kind=CHANNEL_CHANGE,
                text=text,
                actor=str(user) if user else None,
                ident=ident,
            )
        if bad:
            self.warnings.append(
                f"{archive.where('integration_logs.json')}: skipped {bad} entries without a date"
            )

    def events(self) -> tuple[TimelineEvent, ...]:
        for ts in self._deleted:
            self._events.pop(ts, None)
        for ts, new in self._edits.items():
            old = self._events.get(ts)
            if old is None or _edit_stamp(new) < self._edited.get(ts, ""):
                continue
            if is_tombstone(new):
                del self._events[ts]
            else:
                self._events[ts] = replace(old, text=message_text(new, self.ctx))
        return tuple(sorted(self._events.values(), key=attrgetter("at", "ident")))


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Decoded JSON is millions of acyclic containers that refcounting frees; the cyclic collector
    re-scanning them as the kept events grow took ~40% of the time on a 100,000-message export."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _edit_stamp(message: Mapping[str, Any]) -> str:
    """The `edited.ts` of a message version ("" if never edited), comparable as a string.

    Slack ts values are fixed-width (10 digits, dot, 6 digits) so string order is time order.
    """
    edited = message.get("edited")
    stamp = edited.get("ts") if isinstance(edited, dict) else None
    return stamp if isinstance(stamp, str) else ""
