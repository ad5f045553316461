"""Collect: read every source, redact secrets, merge into one timeline and find the key moments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ops_postmortem.config import TimelineSettings
from ops_postmortem.connectors.base import TimelineSource, Window, WindowedSource
from ops_postmortem.model import EvidenceRef, Incident, IncidentFacts, Person, SourceBatch, Timeline
from ops_postmortem.moments import MitigationMatcher, key_moments
from ops_postmortem.redaction import Redactor, redact_event, redact_facts
from ops_postmortem.timeline import merge, window_of


@dataclass(frozen=True)
class CollectOptions:
    title: str | None = None
    severity: str | None = None
    impact_started: datetime | None = None
    since: datetime | None = None
    until: datetime | None = None
    authors: tuple[Person, ...] = ()
    reviewers: tuple[Person, ...] = ()


def collect_timeline(
    incident_id: str,
    sources: Sequence[TimelineSource],
    chats: Sequence[WindowedSource],
    settings: TimelineSettings,
    options: CollectOptions = CollectOptions(),
) -> Timeline:
    """Sources that bound the incident (paging, alerts, events) are read first; chat sources are then read
    only over the window they give, so a busy channel's unrelated months cost nothing."""
    batches = [source.collect(incident_id) for source in sources]
    window = _window(batches, settings, options)
    batches.extend(chat.collect_window(incident_id, window) for chat in chats)

    redactor = Redactor()
    events = [redact_event(redactor, e) for batch in batches for e in batch.events]
    facts = [redact_facts(redactor, f) for batch in batches for f in batch.facts]
    since, until = options.since, options.until
    timeline_events = merge(events, since=since, until=until, collapse_window=settings.collapse_window)
    moments = key_moments(
        timeline_events,
        facts,
        matcher=MitigationMatcher(settings.mitigation_patterns),
        impact_started=options.impact_started,
    )
    warnings = tuple(w for batch in batches for w in batch.warnings)
    return Timeline(
        incident=_incident(incident_id, facts, options),
        events=tuple(timeline_events),
        moments=moments,
        warnings=warnings,
        redactions=redactor.redactions,
    )


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
