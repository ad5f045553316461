from datetime import datetime, timedelta

import pytest

from ops_postmortem.model import UTC, IncidentFacts, Kind, TimelineEvent
from ops_postmortem.moments import MitigationMatcher, key_moments

T0 = datetime(2026, 11, 3, 23, 30, tzinfo=UTC)


def ev(minutes: float, source: str, kind: str, text: str = "", ident: str = "") -> TimelineEvent:
    return TimelineEvent(at=T0 + timedelta(minutes=minutes), source=source, kind=kind, text=text,
                         ident=ident or f"{source}{minutes}{kind}")


@pytest.mark.parametrize(
    "text",
    ["Error rate back under 0.1% - mitigated.", "Mitigated by rolling back", "mitigation is in place",
     "impact has ended", "error rate is back to normal"],
)
def test_declarations_match(text: str) -> None:
    assert MitigationMatcher().declares(text)


@pytest.mark.parametrize(
    "text",
    ["not mitigated yet, errors still at 8%", "It isn't mitigated", "is it mitigated?",
     "we'll page again once mitigated", "Not yet mitigated.", "what mitigated the last one",
     "looking into mitigation options"],
)
def test_negations_conditions_and_questions_do_not(text: str) -> None:
    # "what mitigated the last one" is a question too: the ? ends the sentence.
    assert not MitigationMatcher().declares(text + ("?" if text.startswith("what") else ""))


def test_custom_patterns_replace_defaults() -> None:
    m = MitigationMatcher([r"\bstabili[sz]ed\b"])
    assert m.declares("traffic stabilised")
    assert not m.declares("mitigated")


def full_story() -> list[TimelineEvent]:
    return [
        ev(1, "events", Kind.DEPLOY, "deploy v2.31.0"),
        ev(4, "events", Kind.IMPACT_START, "errors start"),
        ev(6.5, "alertmanager", Kind.ALERT_FIRING, "HighErrorRate", "fp1"),
        ev(7, "alertmanager", Kind.ALERT_FIRING, "Latency", "fp2"),
        ev(7.7, "pagerduty", Kind.TRIGGER, "triggered"),
        ev(10.2, "pagerduty", Kind.ACKNOWLEDGE, "ack Dana"),
        ev(20, "slack", Kind.MESSAGE, "not mitigated yet, errors still at 8%"),
        ev(22, "pagerduty", Kind.UNACKNOWLEDGE, "timeout"),
        ev(22.5, "pagerduty", Kind.ACKNOWLEDGE, "re-ack Dana"),
        ev(31, "alertmanager", Kind.ALERT_RESOLVED, "Latency ok", "fp2"),
        ev(33.25, "slack", Kind.MESSAGE, "Error rate back under 0.1% - mitigated."),
        ev(34.5, "alertmanager", Kind.ALERT_RESOLVED, "HighErrorRate ok", "fp1"),
        ev(36, "pagerduty", Kind.NOTE, "Mitigated by rolling back"),
        ev(50, "pagerduty", Kind.RESOLVE, "resolved"),
    ]


def test_key_moments_of_a_full_story() -> None:
    m = key_moments(full_story())
    assert m.impact_started and m.impact_started.at == T0 + timedelta(minutes=4)
    assert m.detected and m.detected.at == T0 + timedelta(minutes=6.5)
    assert m.detected.evidence and m.detected.evidence.source == "alertmanager"
    assert m.acknowledged and m.acknowledged.at == T0 + timedelta(minutes=10.2)  # not the re-ack
    assert m.mitigated and m.mitigated.at == T0 + timedelta(minutes=33.25) and not m.mitigated.inferred
    assert m.resolved and m.resolved.at == T0 + timedelta(minutes=50)
    assert m.time_to_acknowledge == 222
    assert m.time_to_mitigate == 1605
    assert m.time_to_resolve == 2610


def test_mitigation_inferred_from_alerts_when_nobody_declared_it() -> None:
    events = [e for e in full_story() if e.kind not in (Kind.MESSAGE, Kind.NOTE)]
    m = key_moments(events)
    assert m.mitigated and m.mitigated.inferred
    assert m.mitigated.at == T0 + timedelta(minutes=34.5)


def test_no_mitigation_while_an_alert_still_fires() -> None:
    events = [e for e in full_story() if e.kind not in (Kind.MESSAGE, Kind.NOTE) and e.ident != "fp1" or
              (e.ident == "fp1" and e.kind == Kind.ALERT_FIRING)]
    assert key_moments(events).mitigated is None


def test_impact_start_is_explicit_only() -> None:
    events = [e for e in full_story() if e.kind != Kind.IMPACT_START]
    assert key_moments(events).impact_started is None
    flagged = key_moments(events, impact_started=T0)
    assert flagged.impact_started and flagged.impact_started.at == T0


def test_resolve_then_reopen_is_not_resolved() -> None:
    events = [*full_story(), ev(55, "pagerduty", Kind.REOPEN, "reopened")]
    assert key_moments(events).resolved is None


def test_acknowledgement_before_detection_is_ignored() -> None:
    events = [ev(1, "pagerduty", Kind.ACKNOWLEDGE, "stale ack"), ev(2, "pagerduty", Kind.TRIGGER, "t"),
              ev(3, "pagerduty", Kind.ACKNOWLEDGE, "ack")]
    m = key_moments(events)
    assert m.acknowledged and m.acknowledged.at == T0 + timedelta(minutes=3)


def test_detected_falls_back_to_the_paging_incident_creation() -> None:
    facts = [IncidentFacts(source="pagerduty", created_at=T0)]
    m = key_moments([], facts)
    assert m.detected and m.detected.at == T0 and m.detected.inferred


def test_nothing_known_gives_nulls() -> None:
    m = key_moments([])
    assert (m.detected, m.acknowledged, m.mitigated, m.resolved) == (None, None, None, None)
    assert m.time_to_resolve is None
