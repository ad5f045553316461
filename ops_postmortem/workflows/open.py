"""Open: find or create the postmortem for an incident; refresh only its generated sections."""

from __future__ import annotations

from dataclasses import dataclass

from ops_postmortem.connectors.base import DocumentStore
from ops_postmortem.model import DocRef, Timeline


@dataclass(frozen=True)
class OpenResult:
    ref: DocRef
    created: bool
    refreshed: bool = False


def open_postmortem(
    store: DocumentStore, timeline: Timeline, *, refresh: bool = False, force: bool = False
) -> OpenResult:
    """Opening twice never creates a second doc: the existing one is found by incident id."""
    existing = store.find(timeline.incident.id)
    if existing is None:
        return OpenResult(store.create(timeline), created=True)
    if refresh:
        changed = store.refresh(existing, timeline, force=force)
        return OpenResult(existing, created=False, refreshed=changed)
    return OpenResult(existing, created=False)
