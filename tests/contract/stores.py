"""Every DocumentStore behind one harness, so the contract and e2e suites run against each.

A harness is the store plus what people do in the product UI, which our code never does itself: edit the text,
fill the action-item table, comment as a reviewer. Google and Confluence harnesses drive their fake servers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Literal, Protocol

from ops_postmortem.connectors.base import DocumentStore
from ops_postmortem.connectors.local.comments import CommentLog
from ops_postmortem.connectors.local.store import LocalStore
from ops_postmortem.markdown_doc import fill_table_rows, parse_markdown
from ops_postmortem.model import DocRef, Person


class StoreHarness(Protocol):
    store: DocumentStore

    def human_edit(self, ref: DocRef, old: str, new: str) -> None:
        """A person replaces the first `old` in the doc's text with `new`."""

    def fill_action_items(self, ref: DocRef, rows: Sequence[Sequence[str]]) -> None:
        """A person fills the action-item table (Action, Type, Owner, Due, Priority, Done when, Ticket)."""

    def reviewer_comment(self, ref: DocRef, author: Person, text: str, quote: str | None = None) -> str:
        """A reviewer comments in the product; returns the comment id."""

    def reviewer_reply(
        self, ref: DocRef, comment_id: str, author: Person, text: str,
        action: Literal["resolve", "reopen"] | None = None,
    ) -> None: ...

    def doc_text(self, ref: DocRef) -> str:
        """The doc's visible text, as a reader sees it (for assertions)."""


class LocalHarness:
    def __init__(self, folder: Path) -> None:
        self.store = LocalStore(folder / "postmortems")
        self.folder = folder

    def _path(self, ref: DocRef) -> Path:
        return self.store.directory / f"{ref.id}.md"

    def human_edit(self, ref: DocRef, old: str, new: str) -> None:
        path = self._path(ref)
        text = path.read_text()
        assert old in text, f"{old!r} is not in the doc"
        path.write_text(text.replace(old, new, 1))

    def fill_action_items(self, ref: DocRef, rows: Sequence[Sequence[str]]) -> None:
        path = self._path(ref)
        text = path.read_text()
        doc = parse_markdown(text, ref)
        table = next(t for t in doc.tables if t.header and t.header[0] == "Action")
        path.write_text(fill_table_rows(text, table.index, rows))

    def _log(self, ref: DocRef) -> CommentLog:
        return CommentLog(self._path(ref).with_name(f"{ref.id}.comments.jsonl"))

    def reviewer_comment(self, ref: DocRef, author: Person, text: str, quote: str | None = None) -> str:
        return self._log(ref).add(author, text, quote).id

    def reviewer_reply(
        self, ref: DocRef, comment_id: str, author: Person, text: str,
        action: Literal["resolve", "reopen"] | None = None,
    ) -> None:
        self._log(ref).reply(comment_id, author, text, action)

    def doc_text(self, ref: DocRef) -> str:
        return self._path(ref).read_text()


HarnessFactory = Callable[[Path], AbstractContextManager[StoreHarness]]


@contextmanager
def local_harness(folder: Path) -> Iterator[StoreHarness]:
    yield LocalHarness(folder)
