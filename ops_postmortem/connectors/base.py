"""The roles a connector can play. Workflows depend only on these Protocols and the domain model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal, Protocol

from ops_postmortem.model import (
    CellUpdate,
    CommentReply,
    DocChange,
    DocRef,
    Document,
    Person,
    ReviewComment,
    SignOff,
    SourceBatch,
    Ticket,
    TicketFailure,
    TicketRequest,
    Timeline,
)


class TimelineSource(Protocol):
    """Yields the events and incident facts one system recorded."""

    name: str

    def collect(self, incident_id: str) -> SourceBatch: ...


Window = tuple[datetime | None, datetime | None]


class WindowedSource(Protocol):
    """A chat source: read only over the window the other sources give (a busy channel holds months)."""

    name: str

    def collect_window(self, incident_id: str, window: Window) -> SourceBatch: ...


class DocumentStore(Protocol):
    """Where postmortems live: the local Markdown folder, Google Docs, Confluence."""

    kind: str

    def locate(self, doc: str) -> DocRef:
        """Turn a DOC argument (a path, a URL people share, or a bare id) into a reference."""
        ...

    def find(self, incident_id: str) -> DocRef | None:
        """The postmortem already opened for this incident, if any."""
        ...

    def create(self, timeline: Timeline) -> DocRef:
        """Render the template for this store's format and create the document."""
        ...

    def refresh(self, ref: DocRef, timeline: Timeline, *, force: bool = False) -> bool:
        """Regenerate only the generated sections; True when something changed."""
        ...

    def read(self, ref: DocRef) -> Document: ...

    def comments(self, ref: DocRef) -> list[ReviewComment]:
        """Every comment thread with its replies, deleted ones left out."""
        ...

    def add_comment(
        self, ref: DocRef, text: str, *, author: str | None = None, quote: str | None = None
    ) -> ReviewComment: ...

    def reply(
        self,
        ref: DocRef,
        comment_id: str,
        text: str,
        *,
        author: str | None = None,
        action: Literal["resolve", "reopen"] | None = None,
    ) -> CommentReply: ...

    def update_cells(
        self, ref: DocRef, updates: Sequence[CellUpdate], *, revision: str | None = None
    ) -> datetime | None:
        """Write cells in one guarded update; raise ConflictError if the doc moved past `revision`.

        Returns the doc's modification time after the write, so a sync can tell its own edits from people's."""
        ...

    def finalize(self, ref: DocRef, signoffs: Sequence[SignOff]) -> None:
        """Mark the doc Final and fill its reviewers table."""
        ...

    def changed_since(self, cursor: datetime | None) -> list[DocChange]:
        """Postmortems modified after `cursor` (all of them when None), in one query where possible."""
        ...

    def properties(self, ref: DocRef) -> dict[str, str]:
        """Small key-value facts kept on the doc itself (published, reminded, ...), so every runner sees them."""
        ...

    def set_properties(self, ref: DocRef, values: Mapping[str, str]) -> None: ...

    def archive(self, ref: DocRef, files: Mapping[str, bytes]) -> list[str]:
        """Keep raw evidence with the doc (a folder, a Drive file, an attachment); returns where each went."""
        ...


class TicketTracker(Protocol):
    """Where action items become tickets: the local SQLite tracker, Jira, GitHub Issues."""

    kind: str

    def find(self, item_keys: Sequence[str]) -> dict[str, Ticket]:
        """Tickets already carrying these per-item keys, by key; one search where possible."""
        ...

    def create(self, requests: Sequence[TicketRequest]) -> Sequence[Ticket | TicketFailure]:
        """Open one ticket per request (in bulk where the tracker can), in request order.

        A request whose item key already has a ticket returns that ticket; a refused one a TicketFailure."""
        ...

    def get(self, keys: Sequence[str]) -> dict[str, Ticket]:
        """Current state of tickets by ticket key; unknown keys are left out."""
        ...

    def resolve_owner(self, owner: str) -> str | None:
        """The tracker's id for a person named in an Owner cell, or None if nobody matches."""
        ...

    def updated_since(self, cursor: datetime | None) -> list[Ticket]:
        """Postmortem tickets changed after `cursor` (all when None): one search where possible."""
        ...


class Notifier(Protocol):
    """Posts a message (Slack Block Kit payload) to a channel or person."""

    def post(self, channel: str, text: str, blocks: Sequence[dict[str, object]]) -> str:
        """Post to a channel (name or id); returns a link to the message."""
        ...

    def post_direct(self, person: Person, text: str, blocks: Sequence[dict[str, object]]) -> str:
        """A direct message to a person; NotFoundError when the service knows nobody by their id or e-mail."""
        ...

    def find_post(self, channel: str, since: datetime, marker: str) -> str | None:
        """A link to our own message in `channel` posted after `since` whose text holds `marker`, if any.

        Lets a run that was killed between posting and recording it find the post instead of repeating it."""
        ...
