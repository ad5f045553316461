from datetime import datetime, timedelta

from ops_postmortem.model import UTC, Kind, TimelineEvent
from ops_postmortem.timeline import collapse_repeats, merge, window_of

T0 = datetime(2026, 11, 3, 23, 30, tzinfo=UTC)


def ev(minutes: float, source: str = "slack", kind: str = Kind.MESSAGE, text: str = "x", **kw: object) -> TimelineEvent:
    return TimelineEvent(at=T0 + timedelta(minutes=minutes), source=source, kind=kind, text=text, **kw)  # type: ignore[arg-type]


def test_orders_by_time_then_source() -> None:
    events = [ev(5, ident="b"), ev(1, "pagerduty", Kind.TRIGGER, ident="t"), ev(1, "alertmanager", Kind.ALERT_FIRING, ident="a")]
    merged = merge(events)
    assert [e.ident for e in merged] == ["a", "t", "b"]


def test_same_fact_from_two_channels_counts_once() -> None:
    rest = ev(1, "pagerduty", Kind.ACKNOWLEDGE, "Acknowledged by Dana", ident="R1", dedupe_key="pd:Q1:ack:23:31:00")
    hook = ev(1, "pagerduty", Kind.ACKNOWLEDGE, "acknowledged", ident="01HOOK", dedupe_key="pd:Q1:ack:23:31:00")
    assert merge([rest, hook]) == [rest]


def test_same_ident_twice_counts_once_but_kinds_differ() -> None:
    firing = ev(1, "alertmanager", Kind.ALERT_FIRING, "fire", ident="fp@t")
    resolved = ev(9, "alertmanager", Kind.ALERT_RESOLVED, "ok", ident="fp@t")
    assert merge([firing, firing, resolved]) == [firing, resolved]


def test_noise_is_dropped() -> None:
    events = [ev(1, kind="membership", ident="1"), ev(2, kind="channel_change", ident="2"), ev(3, ident="3")]
    assert [e.ident for e in merge(events)] == ["3"]


def test_notification_bursts_collapse_with_a_count() -> None:
    notes = [
        ev(0, "pagerduty", Kind.NOTIFY, "Notified Dana Kim via push", ident="n1"),
        ev(0.1, "pagerduty", Kind.NOTIFY, "Notified Dana Kim via SMS", ident="n2"),
        ev(0.2, "pagerduty", Kind.NOTIFY, "Notified Dana Kim via phone", ident="n3"),
        ev(60, "pagerduty", Kind.NOTIFY, "Notified Dana Kim via push", ident="n4"),
    ]
    merged = merge(notes)
    assert len(merged) == 2
    assert merged[0].count == 3
    assert "SMS" in merged[0].text and "phone" in merged[0].text
    assert merged[1].count == 1


def test_repeated_bot_posts_collapse_but_distinct_messages_stay() -> None:
    posts = [ev(i, actor="Alertmanager", text="[FIRING:1] CheckoutHighErrorRate", ident=str(i)) for i in range(4)]
    other = ev(2.5, actor="Dana", text="looking", ident="d")
    merged = collapse_repeats(sorted([*posts, other], key=lambda e: e.at), timedelta(minutes=10))
    assert [e.count for e in merged] == [4, 1]


def test_repeats_outside_the_window_are_not_collapsed() -> None:
    posts = [ev(0, text="ping", ident="1"), ev(30, text="ping", ident="2")]
    assert len(collapse_repeats(posts, timedelta(minutes=10))) == 2


def test_since_until_bound_the_timeline() -> None:
    events = [ev(i, ident=str(i), text=str(i)) for i in range(10)]
    merged = merge(events, since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4))
    assert [e.ident for e in merged] == ["2", "3", "4"]


def test_window_of_widens_the_span() -> None:
    events = [ev(0), ev(30)]
    assert window_of(events, timedelta(hours=1), timedelta(hours=2)) == (
        T0 - timedelta(hours=1),
        T0 + timedelta(minutes=30, hours=2),
    )
    assert window_of([], timedelta(0), timedelta(0)) is None


def test_naive_event_time_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="timezone-aware"):
        TimelineEvent(at=datetime(2026, 1, 1), source="x", kind="note", text="t")
