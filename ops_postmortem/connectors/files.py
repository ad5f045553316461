"""Reading exported evidence from files: expanding paths and loading JSON with errors that name the file."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ops_postmortem.errors import InputError


def expand(paths: Iterable[Path | str], suffixes: tuple[str, ...] = (".json",)) -> list[Path]:
    """Files named directly, plus the files under named directories (recursively, sorted by path).

    A named file is taken whatever its suffix; inside directories only `suffixes` count.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes))
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"{path}: no such file or directory", hint="check the path given to the flag")
    return found


def load_json(path: Path) -> Any:
    """Parse one JSON document; the error names the file, line and column."""
    return parse_json(read_text(path), str(path))


def read_text(path: Path) -> str:
    """The file as text (UTF-8, a BOM allowed); the error names the file."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc


def parse_json(text: str, where: str) -> Any:
    if not text.strip():
        raise InputError(f"{where}: empty file", hint="export the data again or drop the flag")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            hint="re-export the file; it may be truncated",
        ) from exc


def iter_json_files(paths: Iterable[Path | str]) -> Iterator[tuple[Path, Any]]:
    """(path, parsed JSON) for every JSON file named or found under a named directory.

    A `.jsonl` / `.ndjson` file yields one document per non-blank line (webhook logs are often kept so).
    """
    for path in expand(paths, suffixes=(".json", ".jsonl", ".ndjson")):
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            for number, line in enumerate(read_text(path).splitlines(), start=1):
                if line.strip():
                    yield path, parse_json(line, f"{path}:{number}")
        else:
            yield path, load_json(path)
