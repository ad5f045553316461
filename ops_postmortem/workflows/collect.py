"""Collect: read every source, redact secrets, merge into one timeline and find the key moments.

Sources are read in parallel (the clients block on I/O). A source that fails with a ServiceError - after its
retries, or refused credentials - does not stop the others: the timeline names it in `missing`, which the doc
shows, and a warning says why.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from ops_postmortem.config import TimelineSettings
from ops_postmortem.connectors.base import TimelineSource, Window, WindowedSource
from ops_postmortem.errors import AuthError, NotFoundError, RateLimitedError, ServiceError
from ops_postmortem.model import (
    EvidenceRef,
    Incident,
    IncidentFacts,
    Person,
    RawEvidence,
    SourceBatch,
    Timeline,
)
from ops_postmortem.moments import MitigationMatcher, key_moments
from ops_postmortem.redaction import Redactor, redact_event, redact_facts
from ops_postmortem.timeline import merge, window_of

MAX_WORKERS = 8


@dataclass(frozen=True)
class CollectOptions:
    title: str | None = None
    severity: str | None = None
    impact_started: datetime | None = None
    since: datetime | None = None
    until: datetime | None = None
    authors: tuple[Person, ...] = ()
    reviewers: tuple[Person, ...] = ()


class Progress(Protocol):
    """Told when sources start and finish; the CLI shows it on a terminal."""

    def started(self, names: Sequence[str]) -> None: ...

    def finished(self, name: str, error: ServiceError | None) -> None: ...


@dataclass(frozen=True)
class SourceFailure:
    source: str
    error: ServiceError

    @property
    def note(self) -> str:
        """A few words for the doc's "these sources could not be read" line."""
        error = self.error
        if isinstance(error, AuthError):
            reason = "credentials refused"
        elif isinstance(error, RateLimitedError):
            reason = "rate limited"
        elif isinstance(error, NotFoundError):
            reason = "not found"
        elif error.status:
            reason = f"HTTP {error.status}"
        else:
            reason = "unreachable"
        return f"{self.source} ({reason})"


@dataclass(frozen=True)
class Collection:
    """The timeline, the raw responses the live sources received, and the sources that failed."""

    timeline: Timeline
    raw: tuple[RawEvidence, ...] = ()
    failures: tuple[SourceFailure, ...] = ()


def collect(
    incident_id: str,
    sources: Sequence[TimelineSource],
    chats: Sequence[WindowedSource],
    settings: TimelineSettings,
    options: CollectOptions = CollectOptions(),
    *,
    progress: Progress | None = None,
) -> Collection:
    """Sources that bound the incident (paging, events) are read first, together; windowed sources (chat,
    alert APIs) then read only the window they give, so a busy channel's unrelated months cost nothing."""
    jobs = [(s.name, _bound(s.collect, incident_id)) for s in sources]
    batches, failures = _fetch(jobs, progress)
    window = _window(batches, settings, options)
    windowed = [(c.name, _bound_window(c.collect_window, incident_id, window)) for c in chats]
    more, more_failures = _fetch(windowed, progress)
    batches += more
    failures += more_failures
    if failures and not batches:
        raise failures[0].error  # nothing could be read: there is no doc to open

    redactor = Redactor()
    events = [redact_event(redactor, e) for batch in batches for e in batch.events]
    facts = [redact_facts(redactor, f) for batch in batches for f in batch.facts]
    timeline_events = merge(events, since=options.since, until=options.until,
                            collapse_window=settings.collapse_window)
    moments = key_moments(
        timeline_events,
        facts,
        matcher=MitigationMatcher(settings.mitigation_patterns),
        impact_started=options.impact_started,
    )
    warnings = [w for batch in batches for w in batch.warnings]
    warnings += [f"{f.error} - the postmortem opens without {f.source}" for f in failures]
    timeline = Timeline(
        incident=_incident(incident_id, facts, options),
        events=tuple(timeline_events),
        moments=moments,
        warnings=tuple(warnings),
        redactions=redactor.redactions,
        missing=tuple(f.note for f in failures),
    )
    raw = tuple(r for batch in batches for r in batch.raw)
    return Collection(timeline, raw, tuple(failures))


def collect_timeline(
    incident_id: str,
    sources: Sequence[TimelineSource],
    chats: Sequence[WindowedSource],
    settings: TimelineSettings,
    options: CollectOptions = CollectOptions(),
) -> Timeline:
    return collect(incident_id, sources, chats, settings, options).timeline


def _bound(fn: Callable[[str], SourceBatch], incident_id: str) -> Callable[[], SourceBatch]:
    return lambda: fn(incident_id)


def _bound_window(
    fn: Callable[[str, Window], SourceBatch], incident_id: str, window: Window
) -> Callable[[], SourceBatch]:
    return lambda: fn(incident_id, window)


def _fetch(
    jobs: Sequence[tuple[str, Callable[[], SourceBatch]]], progress: Progress | None
) -> tuple[list[SourceBatch], list[SourceFailure]]:
    """Run every job on its own thread; batches come back in job order. A ServiceError is a failure of that
    source; anything else (a bad file, a bug) propagates, as it would without threads."""
    if not jobs:
        return [], []
    if progress is not None:
        progress.started([name for name, _ in jobs])

    def run(name: str, job: Callable[[], SourceBatch]) -> SourceBatch | SourceFailure:
        try:
            batch = job()
        except ServiceError as exc:
            if progress is not None:
                progress.finished(name, exc)
            return SourceFailure(name, exc)
        if progress is not None:
            progress.finished(name, None)
        return batch

    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(jobs)), thread_name_prefix="collect") as pool:
        futures = [pool.submit(run, name, job) for name, job in jobs]
        results = [future.result() for future in futures]
    batches = [r for r in results if isinstance(r, SourceBatch)]
    return batches, [r for r in results if isinstance(r, SourceFailure)]


def _window(batches: Sequence[SourceBatch], settings: TimelineSettings, options: CollectOptions) -> Window:
    """--since/--until win; otherwise the span of the anchoring sources, widened by the configured margins."""
    computed = window_of((e for b in batches for e in b.events), settings.window_before, settings.window_after)
    since, until = computed if computed else (None, None)
    return (options.since or since, options.until or until)


def _incident(incident_id: str, facts: Sequence[IncidentFacts], options: CollectOptions) -> Incident:
    """Merge what the sources know about the incident; flags win over the sources."""
    title = options.title or next((f.title for f in facts if f.title), None) or f"Incident {incident_id}"
    severity = options.severity or next((f.severity for f in facts if f.severity), None)
    services = tuple(dict.fromkeys(f.service for f in facts if f.service))
    links = tuple(
        dict.fromkeys(
            EvidenceRef(f.source, f.ident or f.number or "", f.url) for f in facts if f.url is not None
        )
    )
    responders: dict[str, Person] = {}
    for f in facts:
        for person in f.responders:
            responders.setdefault((person.email or person.name).casefold(), person)
    return Incident(
        id=incident_id,
        title=title,
        severity=severity,
        services=services,
        links=links,
        responders=tuple(responders.values()),
        authors=options.authors,
        reviewers=options.reviewers,
    )


# ---- terminal progress --------------------------------------------------------------------------


class RichProgress:
    """A spinner per source on stderr while it is read; gone when done (the summary lines stay)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import Progress as Bars
        from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

        self._bars = Bars(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                          console=Console(file=sys.stderr), transient=True)
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> Self:
        self._bars.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._bars.stop()

    def started(self, names: Sequence[str]) -> None:
        for name in names:
            self._tasks[name] = self._bars.add_task(f"reading {name}", total=1)

    def finished(self, name: str, error: ServiceError | None) -> None:
        task = self._tasks.get(name)
        if task is not None:
            self._bars.update(task, completed=1, description=f"{name}: {'failed' if error else 'done'}")


@contextmanager
def terminal_progress(enabled: bool) -> Iterator[Progress | None]:
    """A RichProgress when `enabled` and stderr is a terminal, else nothing (pipes, CI, tests)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    with RichProgress() as progress:
        yield progress
