"""The whole review-and-track flow for every store with every tracker (the fixtures multiply):
open -> reviewers comment -> review (not signed) -> approvals -> review (signed, recorded) -> extract ->
extract again (nothing new) -> a ticket closed in the tracker's product -> sync writes the status back."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from ops_postmortem.actions import find_action_table
from ops_postmortem.model import Person
from ops_postmortem.signoff import SignOffRules
from ops_postmortem.workflows.extract import ExtractSettings, extract
from ops_postmortem.workflows.open import open_postmortem
from ops_postmortem.workflows.review import ReviewSettings, review
from ops_postmortem.workflows.sync import sync
from tests.contract.conftest import PEOPLE, TrackerHarness
from tests.contract.stores import StoreHarness
from tests.samples import example_timeline

DANA = Person("Dana Kim", "dana@acme.test")
ALEX = Person("Alex Chen", "alex@acme.test")
ROWS = [
    ["Add a CI check that rejects a DB pool max below 20", "prevent", "Dana Kim", "2026-11-24", "P1",
     "CI fails on a config with max=5", ""],
    ["Page on DB connection saturation above 90% for 2 minutes", "detect", "José Núñez", "2026-11-20", "P1",
     "alert fires in the staging game day", ""],
    ["Improve monitoring", "detect", "SRE team", "TBD", "P2", "", ""],
]
AS_OF = date(2026, 11, 10)


def ticket_texts(harness: StoreHarness, ref: object) -> list[str]:
    doc = harness.store.read(ref)  # type: ignore[arg-type]
    table, mapping = find_action_table(doc)
    return [row[mapping["ticket"]].text for row in table.rows]


def test_open_review_extract_sync(harness: StoreHarness, tracker_harness: TrackerHarness, tmp_path: Path) -> None:
    store, tracker = harness.store, tracker_harness.tracker
    rules = SignOffRules(PEOPLE)
    settings = ReviewSettings()

    opened = open_postmortem(store, example_timeline())
    assert opened.created
    assert not open_postmortem(store, example_timeline()).created
    ref = opened.ref
    harness.fill_action_items(ref, ROWS)

    first = harness.reviewer_comment(ref, ALEX, "Say which alert detected it", quote="Detected at")
    harness.reviewer_comment(ref, DANA, "LGTM")
    assert not review(store, ref, rules, settings).report.signed_off
    harness.reviewer_reply(ref, first, ALEX, "Fixed, LGTM", action="resolve")
    result = review(store, ref, rules, settings, record=True)
    assert result.report.signed_off and result.recorded
    assert store.read(ref).status == "Final"

    extract_settings = ExtractSettings()
    extracted = extract(store, tracker, ref, extract_settings, as_of=AS_OF)
    assert [r.verdict for r in extracted.items] == ["valid", "valid", "invalid"]
    keys = [r.ticket.key for r in extracted.items[:2] if r.ticket]
    assert len(keys) == 2 and all(r.created for r in extracted.items[:2])
    assert ticket_texts(harness, ref)[:2] == keys

    again = extract(store, tracker, ref, extract_settings, as_of=AS_OF)
    assert not any(r.created for r in again.items)
    assert len(tracker.find([r.item_key for r in again.items[:2]])) == 2

    tracker_harness.close_in_product(keys[0])
    report = sync(store, tracker, tmp_path / "state.json", extract_settings, as_of=AS_OF)
    assert [d.error for d in report.docs] == [None]
    texts = ticket_texts(harness, ref)
    done = tracker.get([keys[0]])[keys[0]].status
    assert texts[0] == f"{keys[0]} - {done}"
    assert texts[1].startswith(f"{keys[1]} - ")
    bot = [c for c in store.comments(ref) if "cannot be ticketed" in c.text]
    assert len(bot) == 1
