"""Postmortems as Markdown files in one folder: `<dir>/<incident-id>.md`.

Every write goes to a temporary file in the same folder and is moved into place, so a reader
never sees half a document; the revision of a doc is the SHA-256 of its bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from ops_postmortem.connectors.local.comments import CommentLog, parse_author
from ops_postmortem.errors import ConflictError, DocumentError, InputError
from ops_postmortem.markdown_doc import fill_table_rows, parse_markdown, set_cells, set_status
from ops_postmortem.model import (
    UTC,
    CellUpdate,
    CommentReply,
    DocChange,
    DocRef,
    Document,
    ReviewComment,
    SignOff,
    Timeline,
)
from ops_postmortem.people import normalise_name
from ops_postmortem.render import edited_blocks, render_document, replace_generated

_FMT = "markdown"
# Ids become file names: nothing that could leave the folder or hide the file.
_SAFE_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")


def _mtime(path: Path) -> datetime:
    ns = path.stat().st_mtime_ns
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=ns % 1_000_000_000 // 1000)


def _revision(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalStore:
    kind = "local"

    def __init__(self, directory: Path, *, template_dir: Path | None = None) -> None:
        self.directory = directory
        self.template_dir = template_dir

    # ---- references ----------------------------------------------------------------------------

    def _doc_path(self, incident_id: str) -> Path:
        if not _SAFE_ID.fullmatch(incident_id):
            raise InputError(
                f"incident id {incident_id!r} cannot name a file in {self.directory}",
                hint="use only letters, digits, '.', '_' and '-', not starting with a dot (e.g. PD-Q1ABC)",
            )
        return self.directory / f"{incident_id}.md"

    def _ref(self, path: Path, title: str) -> DocRef:
        """Docs in the folder are known by their file name (stable if the folder moves), others by path."""
        path = path.absolute()
        inside = path.parent == self.directory.absolute()
        return DocRef(store=self.kind, id=path.stem if inside else str(path), url=path.as_uri(), title=title)

    def _describe(self, path: Path) -> tuple[DocRef, str | None]:
        """The ref of a doc file, and the incident id its hidden marker names (None: not a postmortem)."""
        doc = parse_markdown(self._read_text(path), DocRef(self.kind, "", path.absolute().as_uri()))
        return self._ref(path, doc.title), doc.incident_id

    def _path(self, ref: DocRef) -> Path:
        return Path(url2pathname(unquote(urlsplit(ref.url).path)))

    def locate(self, doc: str) -> DocRef:
        """A path to the .md file, its file:// URL, or an incident id looked up in the folder."""
        if doc.startswith("file://"):
            path = Path(url2pathname(unquote(urlsplit(doc).path)))
        elif doc.endswith(".md") or os.sep in doc or "/" in doc:
            path = Path(doc)
        else:
            found = self.find(doc)
            if found is None:
                raise InputError(
                    f"no postmortem for incident {doc!r} in {self.directory}",
                    hint="run `postmortem open` for it first, or give the path to the .md file",
                )
            return found
        if not path.is_file():
            raise InputError(f"{path}: no such postmortem file", hint="check the path or the URL")
        return self._describe(path)[0]

    def find(self, incident_id: str) -> DocRef | None:
        """The doc named after the incident, else any doc in the folder whose marker names it."""
        path = self._doc_path(incident_id)
        if path.is_file():
            return self._describe(path)[0]
        for candidate in self._docs():
            ref, named = self._describe(candidate)
            if named == incident_id:
                return ref
        return None

    def _docs(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob("*.md") if p.is_file() and not p.name.startswith("."))

    # ---- reading and writing -------------------------------------------------------------------

    def _read_bytes(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise InputError(
                f"{path}: cannot read ({exc.strerror})", hint="check the path and its permissions"
            ) from exc

    def _read_text(self, path: Path) -> str:
        return self._decode(path, self._read_bytes(path))

    @staticmethod
    def _decode(path: Path, data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})", hint="save it as UTF-8"
            ) from exc

    def _write_temp(self, path: Path, text: str | bytes) -> Path:
        """The text in a new hidden file beside `path`, flushed to disk."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode("utf-8") if isinstance(text, str) else text)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise InputError(
                f"{path.parent}: cannot write there ({exc.strerror})",
                hint="check [local] dir and its permissions",
            ) from exc
        return Path(name)

    def _replace(self, path: Path, text: str, revision: str) -> datetime:
        """Write `text` over `path` unless the file moved past `revision` meanwhile; the new mtime."""
        temp = self._write_temp(path, text)
        try:
            if _revision(self._read_bytes(path)) != revision:
                raise ConflictError(f"{path}: changed while we were writing it", hint="run the command again")
            os.chmod(temp, path.stat().st_mode & 0o7777)
            os.replace(temp, path)
            return _mtime(path)
        except OSError as exc:
            raise InputError(f"{path}: cannot write ({exc.strerror})", hint="check its permissions") from exc
        finally:
            temp.unlink(missing_ok=True)

    def create(self, timeline: Timeline) -> DocRef:
        path = self._doc_path(timeline.incident.id)
        if path.exists():
            raise ConflictError(f"{path}: a postmortem already exists", hint="open it again to refresh it")
        text = render_document(_FMT, timeline, template_dir=self.template_dir)
        temp = self._write_temp(path, text)
        try:
            os.chmod(temp, 0o644)
            os.link(temp, path)  # unlike a rename, fails rather than overwrite a doc made meanwhile
        except FileExistsError as exc:
            raise ConflictError(
                f"{path}: a postmortem already exists", hint="open it again to refresh it"
            ) from exc
        except OSError as exc:
            raise InputError(f"{path}: cannot create ({exc.strerror})", hint="check [local] dir") from exc
        finally:
            temp.unlink(missing_ok=True)
        return self._ref(path, timeline.incident.title)

    def refresh(self, ref: DocRef, timeline: Timeline, *, force: bool = False) -> bool:
        """Regenerate the timeline and metrics blocks; every byte outside them is kept."""
        path = self._path(ref)
        data = self._read_bytes(path)
        current = self._decode(path, data)
        fresh = render_document(_FMT, timeline, template_dir=self.template_dir)
        try:
            edited = edited_blocks(_FMT, current)
            updated = replace_generated(_FMT, current, fresh)
        except DocumentError as exc:
            raise DocumentError(f"{path}: {exc.message}", hint=exc.hint) from exc
        if edited and not force:
            names = ", ".join(edited)
            raise DocumentError(
                f"{path}: the generated section(s) {names} were edited by hand",
                hint="move your notes outside the generated markers, or refresh with --force to drop them",
            )
        if updated == current:
            return False
        self._replace(path, updated, _revision(data))
        return True

    def read(self, ref: DocRef) -> Document:
        path = self._path(ref)
        data = self._read_bytes(path)
        doc = parse_markdown(self._decode(path, data), ref)
        return replace(doc, modified_at=_mtime(path), revision=_revision(data))

    def update_cells(
        self, ref: DocRef, updates: Sequence[CellUpdate], *, revision: str | None = None
    ) -> datetime | None:
        path = self._path(ref)
        data = self._read_bytes(path)
        current = _revision(data)
        if revision is not None and revision != current:
            raise ConflictError(
                f"{path}: changed since it was read (revision {revision[:12]}, now {current[:12]})",
                hint="read it again and retry",
            )
        text = self._decode(path, data)
        try:
            updated = set_cells(text, updates)
        except DocumentError as exc:
            raise DocumentError(f"{path}: {exc.message}", hint=exc.hint) from exc
        if updated == text:
            return _mtime(path)
        return self._replace(path, updated, current)

    def changed_since(self, cursor: datetime | None) -> list[DocChange]:
        """Docs in the folder modified after `cursor`, oldest first."""
        changes = []
        for path in self._docs():
            modified = _mtime(path)
            if cursor is None or modified > cursor:
                ref, incident_id = self._describe(path)
                if incident_id is not None:  # other Markdown in the folder is not a postmortem
                    changes.append(DocChange(ref, modified))
        return sorted(changes, key=lambda c: (c.modified_at, c.ref.id))

    # ---- review ----------------------------------------------------------------------------------

    def _comments(self, ref: DocRef) -> CommentLog:
        path = self._path(ref)
        return CommentLog(path.with_name(path.stem + ".comments.jsonl"))

    def comments(self, ref: DocRef) -> list[ReviewComment]:
        return self._comments(ref).read()

    def add_comment(
        self, ref: DocRef, text: str, *, author: str | None = None, quote: str | None = None
    ) -> ReviewComment:
        if quote and quote not in self._read_text(self._path(ref)):
            raise InputError(f"{self._path(ref)}: the quoted text is not in the doc", hint="quote it exactly")
        return self._comments(ref).add(parse_author(author or "ops-postmortem"), text, quote)

    def reply(
        self,
        ref: DocRef,
        comment_id: str,
        text: str,
        *,
        author: str | None = None,
        action: Literal["resolve", "reopen"] | None = None,
    ) -> CommentReply:
        return self._comments(ref).reply(comment_id, parse_author(author or "ops-postmortem"), text, action)

    def finalize(self, ref: DocRef, signoffs: Sequence[SignOff]) -> None:
        """Status Final and one reviewers-table row per sign-off, keeping the roles people wrote."""
        path = self._path(ref)
        data = self._read_bytes(path)
        text = self._decode(path, data)
        doc = parse_markdown(text, ref)
        table = next(
            (t for t in doc.tables if t.header and normalise_name(t.header[0]) in ("reviewer", "reviewers")),
            None,
        )
        updated = set_status(text, "Final")
        if table is not None:
            roles = {normalise_name(r[0].text): r[1].text for r in table.rows if len(r) > 1 and r[0].text}
            rows = [
                [
                    s.reviewer.name,
                    roles.get(normalise_name(s.reviewer.name), ""),
                    "Approved",
                    s.at.date().isoformat() if s.at else "",
                ]
                for s in signoffs
            ]
            updated = fill_table_rows(updated, table.index, rows)
        self._replace(path, updated, _revision(data))

    # ---- properties and evidence -----------------------------------------------------------------

    def _meta_path(self, ref: DocRef) -> Path:
        path = self._path(ref)
        return path.with_name(path.stem + ".meta.json")

    def properties(self, ref: DocRef) -> dict[str, str]:
        path = self._meta_path(ref)
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: unreadable doc properties ({exc})",
                             hint="fix the JSON or delete the file (published/reminded marks are lost)") from exc
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def set_properties(self, ref: DocRef, values: Mapping[str, str]) -> None:
        path = self._meta_path(ref)
        merged = {**self.properties(ref), **values}
        temp = self._write_temp(path, json.dumps(merged, indent=2, sort_keys=True) + "\n")
        os.replace(temp, path)

    def archive(self, ref: DocRef, files: Mapping[str, bytes]) -> list[str]:
        """Raw evidence in `<id>.evidence/` beside the doc; names may hold one level of folders."""
        folder = self._path(ref).with_name(self._path(ref).stem + ".evidence")
        written = []
        for name, data in files.items():
            parts = Path(name).parts
            if not parts or any(p in ("", ".", "..") or p.startswith(".") for p in parts) or Path(name).is_absolute():
                raise InputError(f"evidence name {name!r} would leave {folder}", hint="use plain relative names")
            target = folder.joinpath(*parts)
            os.replace(self._write_temp(target, data), target)
            written.append(target.as_uri())
        return written
