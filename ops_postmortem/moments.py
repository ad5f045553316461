"""Key moments of an incident, each backed by the event that shows it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from ops_postmortem.model import IncidentFacts, KeyMoments, Kind, Moment, TimelineEvent
from ops_postmortem.phrases import PhraseMatcher

PAGING_SOURCES = frozenset({"pagerduty", "opsgenie"})
ALERT_SOURCES = frozenset({"alertmanager", "grafana"})

# Phrases that declare mitigation. Conservative on purpose: a false "mitigated" skews every metric.
DEFAULT_MITIGATION_PATTERNS: tuple[str, ...] = (
    r"\bmitigated\b",
    r"\bmitigation (?:is |has been )?(?:complete|completed|in place|applied|done|successful|worked)\b",
    r"\bimpact (?:has )?(?:ended|stopped|is over)\b",
    r"\b(?:error rates?|errors|latency|metrics|traffic|service) (?:is |are )?back to normal\b",
)

class MitigationMatcher:
    def __init__(self, patterns: Sequence[str] = ()) -> None:
        self._matcher = PhraseMatcher(patterns or DEFAULT_MITIGATION_PATTERNS)

    def declares(self, text: str) -> bool:
        """True when the text states mitigation happened (not a negation, condition or question)."""
        return self._matcher.search(text) is not None


def _moment(event: TimelineEvent, *, inferred: bool = False) -> Moment:
    return Moment(at=event.at, evidence=event.evidence, text=event.text, inferred=inferred)


def key_moments(
    events: Sequence[TimelineEvent],
    facts: Iterable[IncidentFacts] = (),
    *,
    matcher: MitigationMatcher | None = None,
    impact_started: datetime | None = None,
) -> KeyMoments:
    """Derive the key moments from an ordered timeline.

    impact_started: explicit only (an events row or the flag). detected: the earliest alert start or page
    trigger. acknowledged: the first acknowledgement after detection. mitigated: the earliest explicit
    declaration, else (inferred) when the last alert stopped firing. resolved: the paging incident's last resolve.
    """
    matcher = matcher or MitigationMatcher()
    ordered = sorted(events, key=lambda e: e.at)
    facts = list(facts)

    impact = _first(e for e in ordered if e.kind == Kind.IMPACT_START)
    impact_moment = (
        Moment(at=impact_started, text="impact start given on the command line")
        if impact_started is not None
        else (_moment(impact) if impact else None)
    )

    detected_event = _first(e for e in ordered if e.kind in (Kind.ALERT_FIRING, Kind.TRIGGER))
    detected = _moment(detected_event) if detected_event else _detected_from_facts(facts)

    acknowledged = None
    if detected is not None:
        ack = _first(e for e in ordered if e.kind == Kind.ACKNOWLEDGE and e.at >= detected.at)
        acknowledged = _moment(ack) if ack else None

    earliest_signal = min((m.at for m in (impact_moment, detected) if m is not None), default=None)
    declared = _first(
        e
        for e in ordered
        if (earliest_signal is None or e.at >= earliest_signal)
        and (
            e.kind == Kind.MITIGATE
            or (e.kind in (Kind.MESSAGE, Kind.NOTE, Kind.STATUS_UPDATE) and matcher.declares(e.text))
        )
    )
    mitigated = _moment(declared) if declared else _alerts_stopped(ordered)

    resolved = _resolved(ordered, facts)
    return KeyMoments(impact_moment, detected, acknowledged, mitigated, resolved)


def _first(events: Iterable[TimelineEvent]) -> TimelineEvent | None:
    return next(iter(events), None)


def _detected_from_facts(facts: Sequence[IncidentFacts]) -> Moment | None:
    created = [f for f in facts if f.source in PAGING_SOURCES and f.created_at is not None]
    if not created:
        return None
    first = min(created, key=lambda f: f.created_at or datetime.max)
    assert first.created_at is not None
    return Moment(at=first.created_at, text=f"{first.source} incident created", inferred=True)


def _alerts_stopped(ordered: Sequence[TimelineEvent]) -> Moment | None:
    """When every alert that fired had resolved: the last resolution, marked inferred."""
    firing = {(e.source, e.ident) for e in ordered if e.kind == Kind.ALERT_FIRING and e.source in ALERT_SOURCES}
    resolved = [e for e in ordered if e.kind == Kind.ALERT_RESOLVED and e.source in ALERT_SOURCES]
    if not firing or not firing <= {(e.source, e.ident) for e in resolved}:
        return None
    return _moment(resolved[-1], inferred=True)


def _resolved(ordered: Sequence[TimelineEvent], facts: Sequence[IncidentFacts]) -> Moment | None:
    paging = [e for e in ordered if e.kind == Kind.RESOLVE and e.source in PAGING_SOURCES]
    reopened = [e for e in ordered if e.kind == Kind.REOPEN and e.source in PAGING_SOURCES]
    if paging and not (reopened and reopened[-1].at > paging[-1].at):
        return _moment(paging[-1])
    if paging:
        return None  # reopened after the last resolve: still open
    stated = [f for f in facts if f.source in PAGING_SOURCES and f.resolved_at is not None]
    if stated:
        last = max(stated, key=lambda f: f.resolved_at or datetime.min)
        assert last.resolved_at is not None
        return Moment(at=last.resolved_at, text=f"{last.source} incident resolved", evidence=None)
    explicit = [e for e in ordered if e.kind == Kind.RESOLVE]
    return _moment(explicit[-1]) if explicit else None
