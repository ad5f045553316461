"""What every TicketTracker promises the extract and sync workflows, run against each implementation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from ops_postmortem.actions import item_key
from ops_postmortem.connectors.base import TicketTracker
from ops_postmortem.model import UTC, Ticket, TicketFailure, TicketRequest
from tests.contract.conftest import TrackerHarness

DOC_ID = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
DOC_URL = f"https://docs.google.com/document/d/{DOC_ID}/edit"


def request(action: str, *, occurrence: int = 0, title: str | None = None,
            done_when: str = "the burn-rate alert fires in the staging game day") -> TicketRequest:
    return TicketRequest(
        item_key=item_key(DOC_ID, action, occurrence),
        title=title or action,
        action=action,
        done_when=done_when,
        type="detect",
        owner="dana@acme.test",
        due=date(2026, 12, 1),
        priority="P1",
        incident_id="INC-2042",
        severity="SEV-1",
        doc_url=DOC_URL,
        incident_url="https://acme.pagerduty.com/incidents/Q8XU3N0ZKP5RM4",
    )


def opened(tracker: TicketTracker, requests: Sequence[TicketRequest]) -> list[Ticket]:
    """create() for well-formed requests: one Ticket per request, in order, none refused."""
    outcomes = tracker.create(requests)
    assert len(outcomes) == len(requests)
    tickets = [o for o in outcomes if not isinstance(o, TicketFailure)]
    assert tickets == list(outcomes), [o for o in outcomes if isinstance(o, TicketFailure)]
    return tickets


ALERT = request("Add a multi-window burn-rate alert on checkout 5xx")
RUNBOOK = request("Link the payments-db failover runbook from the PagerDuty service")


def test_create_then_find_by_item_key(tracker: TicketTracker) -> None:
    [ticket] = opened(tracker, [ALERT])
    assert ticket.key and ticket.item_key == ALERT.item_key and ticket.title == ALERT.title
    assert ticket.status and not ticket.done

    found = tracker.find([ALERT.item_key, RUNBOOK.item_key])
    assert list(found) == [ALERT.item_key]
    assert found[ALERT.item_key].key == ticket.key


def test_find_with_no_item_keys_finds_nothing(tracker: TicketTracker) -> None:
    opened(tracker, [ALERT])
    assert tracker.find([]) == {}


def test_creating_the_same_item_key_twice_gives_one_ticket(tracker: TicketTracker) -> None:
    # A run killed after create but before writing the key back to the doc creates again on the next run.
    [first] = opened(tracker, [ALERT])
    [again] = opened(tracker, [ALERT])
    same_batch = opened(tracker, [RUNBOOK, RUNBOOK])

    assert again.key == first.key
    assert same_batch[0].key == same_batch[1].key != first.key
    assert sorted(t.key for t in tracker.updated_since(None)) == sorted([first.key, same_batch[0].key])


def test_identical_actions_in_one_doc_are_separate_tickets(tracker: TicketTracker) -> None:
    action = "Add a canary stage to the checkout deploy pipeline"
    tickets = opened(tracker, [request(action, occurrence=0), request(action, occurrence=1)])
    assert tickets[0].key != tickets[1].key


def test_bulk_create_of_60_requests(tracker: TicketTracker) -> None:
    requests = [request(f"Add a saturation alert for checkout worker pool {n}") for n in range(60)]
    tickets = opened(tracker, requests)

    assert [t.item_key for t in tickets] == [r.item_key for r in requests]
    assert len({t.key for t in tickets}) == 60
    found = tracker.find([r.item_key for r in requests])
    assert {item: t.key for item, t in found.items()} == {t.item_key: t.key for t in tickets}


def test_get_by_key_leaves_unknown_keys_out(tracker: TicketTracker) -> None:
    alert, runbook = opened(tracker, [ALERT, RUNBOOK])
    missing = re.sub(r"\d+$", "999999", alert.key)  # well-formed for this tracker, but never issued

    got = tracker.get([alert.key, missing, runbook.key])

    assert set(got) == {alert.key, runbook.key}
    assert got[alert.key].item_key == ALERT.item_key and got[runbook.key].title == RUNBOOK.title
    assert tracker.get([missing]) == {}
    assert tracker.get([]) == {}


def test_updated_since(tracker: TicketTracker) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    alert, runbook = opened(tracker, [ALERT, RUNBOOK])

    assert {t.key for t in tracker.updated_since(None)} == {alert.key, runbook.key}
    assert {t.key for t in tracker.updated_since(before)} == {alert.key, runbook.key}
    assert tracker.updated_since(datetime.now(UTC) + timedelta(days=1)) == []


def test_resolve_owner_for_known_and_unknown_people(tracker: TicketTracker) -> None:
    by_email = tracker.resolve_owner("dana@acme.test")
    assert by_email is not None
    assert tracker.resolve_owner("Dana Kim") == by_email
    assert tracker.resolve_owner("José Núñez") is not None

    assert tracker.resolve_owner("quinn@elsewhere.test") is None
    assert tracker.resolve_owner("Quinn Unknown") is None
    assert tracker.resolve_owner("  ") is None


TRICKY = [
    "Retry | backoff | jitter in the `payments-client` (p99 < 300 ms)",
    "Escape *bold* _it_ ~strike~ [link](https://evil.test) <script>alert(1)</script> {{ jinja }} h3. {code}",
    "Ünïcødé owners 🚒 — José Núñez's 支付 alert: ≥ 5% 5xx",
    "# not a heading\n- not a list\n> not a quote",
]


def test_titles_and_descriptions_survive(tracker: TicketTracker) -> None:
    requests = [request(text, title=text.splitlines()[0], done_when=f"verified: {text}") for text in TRICKY]
    created = opened(tracker, requests)

    by_item = tracker.find([r.item_key for r in requests])
    by_key = tracker.get([t.key for t in created])
    for req, ticket in zip(requests, created, strict=True):
        for read_back in (ticket, by_item[req.item_key], by_key[ticket.key]):
            assert read_back.title == req.title
            assert req.action in read_back.description
            assert f"verified: {req.action}" in read_back.description


def test_labels_include_postmortem_and_the_item_key(tracker: TicketTracker) -> None:
    # The extract workflow sends labels already shaped for Jira and GitHub; they are kept as given.
    shaped = replace(RUNBOOK, labels=("postmortem", "inc-2042", RUNBOOK.item_key))
    alert, runbook = opened(tracker, [ALERT, shaped])
    by_item = tracker.find([ALERT.item_key, RUNBOOK.item_key])
    by_key = tracker.get([alert.key, runbook.key])
    for req, ticket in ((ALERT, alert), (shaped, runbook)):
        for read_back in (ticket, by_item[req.item_key], by_key[ticket.key]):
            assert "postmortem" in read_back.labels
            assert req.item_key in read_back.labels
    assert "inc-2042" in by_key[runbook.key].labels


def test_a_ticket_closed_in_the_product_reads_as_done(tracker_harness: TrackerHarness) -> None:
    tracker = tracker_harness.tracker
    [ticket] = tracker.create([request("close-me")])
    assert not ticket.done
    tracker_harness.close_in_product(ticket.key)
    closed = tracker.get([ticket.key])[ticket.key]
    assert closed.done and closed.status
    assert [t.key for t in tracker.updated_since(None) if t.key == ticket.key] == [ticket.key]
