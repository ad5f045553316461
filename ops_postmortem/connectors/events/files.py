"""Reading hand-written events: what no system recorded (a deploy, a decision on a call, when impact began).

CSV with a header row, or JSON (an array of objects, or `{"events": [...]}`), with the columns time, kind,
actor, text and link under any of their usual names. Rows are numbered as a spreadsheet shows them (the CSV
header is row 1); JSON objects are numbered from 1.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ops_postmortem.connectors.files import expand, parse_json, read_text
from ops_postmortem.errors import ConfigError, InputError
from ops_postmortem.model import Kind, SourceBatch, TimelineEvent
from ops_postmortem.timeutil import NaiveTimeError, parse_time

SOURCE = "events"

# Canonical column -> the header names people use for it (compared lowercased, "_" and "-" read as spaces).
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "time": ("time", "at", "timestamp", "when", "date"),
    "kind": ("kind", "type", "event"),
    "actor": ("actor", "who", "by", "author"),
    "text": ("text", "description", "what", "event text", "details"),
    "link": ("link", "url", "evidence"),
}
_COLUMN_OF = {name: column for column, names in _SYNONYMS.items() for name in names}

_KINDS: dict[str, str] = {
    **dict.fromkeys(("impact start", "impact started", "impact"), Kind.IMPACT_START),
    **dict.fromkeys(("mitigated", "mitigation", "mitigate"), Kind.MITIGATE),
    **dict.fromkeys(("deploy", "deployment", "release", "rollback", "config change"), Kind.DEPLOY),
    "decision": Kind.DECISION,
    **dict.fromkeys(("resolved", "resolve"), Kind.RESOLVE),
    **dict.fromkeys(("detected", "alert"), Kind.ALERT_FIRING),
    "action": Kind.ACTION,
    **dict.fromkeys(("note", ""), Kind.NOTE),
}

_HAS_DATE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}")
_TIME_HINT = "write it as 2026-11-03T23:05:00Z, or with an offset such as 2026-11-03T15:05:00-08:00"
_ZONE_HINT = "add Z or an offset such as -08:00, or set [timeline] timezone"
_DELIMITERS = (",", ";", "\t")  # spreadsheets in many locales save CSV with ";"


@dataclass(frozen=True)
class _Row:
    number: int
    values: Mapping[str, str]  # canonical column -> stripped text


def normalize_kind(value: str) -> str:
    """The Kind for a hand-written kind; an unknown one is kept, lowercased with spaces as underscores."""
    words = value.lower().replace("_", " ").replace("-", " ").split()
    phrase = " ".join(words)
    return _KINDS.get(phrase, "_".join(words))


class EventsFile:
    """Hand-written events from CSV or JSON files."""

    name = SOURCE

    def __init__(self, paths: Sequence[Path | str], *, default_tz: str | None = None) -> None:
        self.paths = tuple(Path(p) for p in paths)
        self.default_tz = default_tz
        if default_tz is not None:
            try:
                parse_time("2000-01-01T00:00", default_tz=default_tz)
            except ValueError as exc:
                raise ConfigError(
                    f"[timeline] timezone {default_tz!r} is not a known time zone",
                    hint="use an IANA name such as America/Los_Angeles, or UTC",
                ) from exc

    def collect(self, incident_id: str) -> SourceBatch:
        """Every row of every file; `incident_id` is not used, as the files were written for the incident."""
        files = expand(self.paths, suffixes=(".csv", ".tsv", ".json"))
        events: list[TimelineEvent] = []
        warnings: list[str] = []
        for path in files:
            prefix = f"{path.name} " if len(files) > 1 else ""  # keeps "row N" unique across files
            for row in _rows(path):
                event, warning = _event(path, row, prefix, self.default_tz)
                events.append(event)
                if warning:
                    warnings.append(warning)
        if not events:
            warnings.append(f"no events in {', '.join(str(p) for p in self.paths)}")
        events.sort(key=lambda e: e.at)
        return SourceBatch(source=SOURCE, events=tuple(events), warnings=tuple(warnings))


def _rows(path: Path) -> Iterator[_Row]:
    text = read_text(path)
    suffix = path.suffix.lower()
    if suffix == ".json" or (suffix not in (".csv", ".tsv") and text.lstrip()[:1] in ("[", "{")):
        return _json_rows(path, text)
    return _csv_rows(path, text)


def _csv_rows(path: Path, text: str) -> Iterator[_Row]:
    if not text.strip():
        raise InputError(f"{path}: empty file", hint="write a header row: time,kind,actor,text,link")
    delimiter = _pick_delimiter(text, tab=path.suffix.lower() == ".tsv")
    records = list(enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1))
    header_at = next(
        (index for index, (_, cells) in enumerate(records) if any(c.strip() for c in cells)), None
    )
    if header_at is None:
        raise InputError(f"{path}: no header row", hint="write a header row: time,kind,actor,text,link")
    header = [cell.strip() for cell in records[header_at][1]]
    columns = _map_columns(header, f"{path}: header")
    _require(columns, header, path)
    for number, cells in records[header_at + 1 :]:
        values = {name: (cells[i].strip() if i < len(cells) else "") for name, i in columns.items()}
        if any(values.values()):  # blank rows, or rows with only ignored columns filled
            yield _Row(number, _join_date(values))


def _pick_delimiter(text: str, *, tab: bool) -> str:
    if tab:
        return "\t"
    first = next(line for line in text.splitlines() if line.strip())
    for delimiter in _DELIMITERS:
        names = {_norm(cell) for cell in next(csv.reader([first], delimiter=delimiter))}
        if {"time", "text"} <= {_COLUMN_OF.get(name) for name in names}:
            return delimiter
    return ","


def _json_rows(path: Path, text: str) -> Iterator[_Row]:
    document = parse_json(text, str(path))
    items = document.get("events") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise InputError(
            f'{path}: expected an array of events or {{"events": [...]}}',
            hint="write one object per event with time, kind, actor, text, link",
        )
    for number, item in enumerate(items, start=1):
        where = f"{path}: row {number}"
        if not isinstance(item, dict):
            raise InputError(
                f"{where}: a JSON {type(item).__name__}, not an object", hint="write one object per event"
            )
        keys = [str(key) for key in item]
        columns = _map_columns(keys, where)
        values = {name: _json_text(item[keys[i]], where, keys[i]) for name, i in columns.items()}
        if any(values.values()):
            yield _Row(number, _join_date(values))


def _json_text(value: object, where: str, key: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise InputError(f"{where}: {key!r} is a JSON {type(value).__name__}", hint="write it as text")
    return str(value).strip()


def _norm(name: str) -> str:
    """'Event_Text' -> 'event text'; a trailing note in brackets goes: 'Time (PT)' -> 'time'."""
    name = re.sub(r"\s*\([^)]*\)\s*$", "", name)
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def _map_columns(names: Sequence[str], where: str) -> dict[str, int]:
    """Canonical column -> position. A `date` column beside another time column is kept apart as `date`."""
    normalized = [_norm(name) for name in names]
    split_date = "date" in normalized and any(
        _COLUMN_OF.get(name) == "time" and name != "date" for name in normalized
    )
    found: dict[str, int] = {}
    for index, (raw, name) in enumerate(zip(names, normalized, strict=True)):
        column = "date" if split_date and name == "date" else _COLUMN_OF.get(name)
        if column is None:
            continue  # extra columns are someone's notes; ignore them
        if column in found:
            raise InputError(
                f"{where}: {names[found[column]]!r} and {raw!r} both give the {column}",
                hint="keep one of them or rename the other",
            )
        found[column] = index
    return found


def _require(columns: Mapping[str, int], header: Sequence[str], path: Path) -> None:
    for column in ("time", "text"):
        if column not in columns:
            names = ", ".join(_SYNONYMS[column])
            raise InputError(
                f"{path}: no {column} column (header: {', '.join(repr(h) for h in header)})",
                hint=f"name a column {names}",
            )


def _join_date(values: dict[str, str]) -> dict[str, str]:
    # A spreadsheet with separate date and time columns: "2026-11-03" + "23:05Z".
    date = values.pop("date", "")
    time = values.get("time", "")
    if date and time and not _HAS_DATE.match(time):
        values["time"] = f"{date} {time}"
    return values


def _event(path: Path, row: _Row, prefix: str, default_tz: str | None) -> tuple[TimelineEvent, str | None]:
    where = f"{path}: row {row.number}"
    raw_time, text = row.values.get("time", ""), row.values.get("text", "")
    if not raw_time:
        raise InputError(f"{where}: no time", hint=_TIME_HINT)
    if not text:
        raise InputError(f"{where}: no text", hint="say what happened in the text column")
    try:
        at = parse_time(raw_time, default_tz=default_tz)
    except NaiveTimeError as exc:
        raise InputError(f"{where}: time {raw_time!r} has no zone", hint=_ZONE_HINT) from exc
    except ValueError as exc:
        raise InputError(f"{where}: time {raw_time!r} is not a date and time", hint=_TIME_HINT) from exc
    link, warning = row.values.get("link", ""), None
    if link and not _is_http(link):
        warning = f"{where}: link {link!r} is not an http(s) URL; left out"
        link = ""
    event = TimelineEvent(
        at=at,
        source=SOURCE,
        kind=normalize_kind(row.values.get("kind", "")),
        text=" ".join(text.split()),
        actor=row.values.get("actor") or None,
        link=link or None,
        ident=f"{prefix}row {row.number}",
    )
    return event, warning


def _is_http(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)
