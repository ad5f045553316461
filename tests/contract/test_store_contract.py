"""The DocumentStore contract: what the workflows rely on, checked against every store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ops_postmortem.actions import find_action_table, read_items
from ops_postmortem.dates import DateParser
from ops_postmortem.errors import ConflictError
from ops_postmortem.model import CellUpdate, Person, SignOff
from ops_postmortem.signoff import thread_open
from tests.contract.stores import StoreHarness
from tests.samples import HOSTILE_TEXTS, example_timeline, hostile_timeline

ROWS = [
    ["Add a CI check that rejects a DB pool max below 20", "prevent", "Priya Raman", "2026-11-24", "P1",
     "CI fails on max=5", ""],
    ["Page on DB saturation above 90% for 2m", "detect", "Dana Kim", "2026-11-20", "P1", "alert fires in a test", ""],
]
DANA = Person("Dana Kim", "dana@acme.test")


def test_create_then_find_and_read(harness: StoreHarness) -> None:
    store = harness.store
    assert store.find("INC-2042") is None
    ref = store.create(example_timeline())
    assert store.find("INC-2042") == ref
    assert store.locate(ref.url) == ref
    doc = store.read(ref)
    assert doc.incident_id == "INC-2042"
    assert doc.title == "checkout-api: elevated 5xx on POST /v1/orders"
    assert doc.status == "Draft" and doc.severity == "SEV2"
    assert doc.incident_date is not None and doc.incident_date.isoformat() == "2026-11-03"
    headings = [s.heading for s in doc.sections]
    for heading in ("Summary", "Timeline", "Key metrics", "Root cause", "Trigger", "Latent conditions",
                    "Action items", "Review and sign-off"):
        assert heading in headings
    table, _ = find_action_table(doc)
    assert list(table.header) == ["Action", "Type", "Owner", "Due", "Priority", "Done when", "Ticket"]
    assert table.rows == () or all(not any(c.text for c in row) for row in table.rows)
    reviewers = [t for t in doc.tables if t.header and t.header[0] == "Reviewer"]
    assert [r[0].text for r in reviewers[0].rows] == ["Dana Kim", "Alex Chen"]


def test_timeline_table_carries_every_event_with_its_evidence(harness: StoreHarness) -> None:
    timeline = example_timeline()
    doc = harness.store.read(harness.store.create(timeline))
    table = next(t for t in doc.tables if t.header and t.header[0].startswith("Time"))
    assert len(table.rows) == len(timeline.events)
    linked = [row for row in table.rows if row[-1].links]
    assert len(linked) == len([e for e in timeline.events if e.link])


def test_action_items_are_read_and_cells_written_back(harness: StoreHarness) -> None:
    store = harness.store
    ref = store.create(example_timeline())
    harness.fill_action_items(ref, ROWS)
    doc = store.read(ref)
    table, mapping = find_action_table(doc)
    items = read_items(table, mapping, DateParser())
    assert [i.owner for i in items] == ["Priya Raman", "Dana Kim"]
    assert items[1].due is not None and items[1].due.isoformat() == "2026-11-20"
    column = mapping["ticket"]
    store.update_cells(ref, [CellUpdate(table.index, 1, column, "OPS-12", "https://jira.acme.test/browse/OPS-12"),
                             CellUpdate(table.index, 0, column, "OPS-11 - Done")], revision=doc.revision)
    after = store.read(ref)
    table, _ = find_action_table(after)
    assert table.rows[0][column].text == "OPS-11 - Done"
    assert table.rows[1][column].text == "OPS-12"
    assert "https://jira.acme.test/browse/OPS-12" in table.rows[1][column].links
    assert table.rows[1][0].text == ROWS[1][0]  # the rest of the row is untouched


def test_a_stale_revision_is_a_conflict(harness: StoreHarness) -> None:
    store = harness.store
    ref = store.create(example_timeline())
    harness.fill_action_items(ref, ROWS)
    doc = store.read(ref)
    harness.human_edit(ref, "Summary", "Summary of events")
    table, mapping = find_action_table(doc)
    with pytest.raises(ConflictError):
        store.update_cells(ref, [CellUpdate(table.index, 0, mapping["ticket"], "OPS-1")], revision=doc.revision)


def test_comments_replies_and_thread_state(harness: StoreHarness) -> None:
    store = harness.store
    ref = store.create(example_timeline())
    cid = harness.reviewer_comment(ref, DANA, "Say which alert fired first", quote="Detected at")
    harness.reviewer_reply(ref, cid, Person("Priya Raman"), "Done", action="resolve")
    threads = {c.id: c for c in store.comments(ref)}
    assert not thread_open(threads[cid])
    assert threads[cid].quote == "Detected at" and threads[cid].author.name == "Dana Kim"
    harness.reviewer_reply(ref, cid, DANA, "Still unclear", action="reopen")
    assert thread_open({c.id: c for c in store.comments(ref)}[cid])
    ours = store.add_comment(ref, "2 action items cannot be ticketed yet")
    store.reply(ref, ours.id, "noted", action="resolve")
    mine = {c.id: c for c in store.comments(ref)}[ours.id]
    assert mine.text.startswith("2 action items") and not thread_open(mine)


def test_finalize_marks_final_and_fills_reviewers(harness: StoreHarness) -> None:
    store = harness.store
    ref = store.create(example_timeline())
    at = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)
    store.finalize(ref, [SignOff(DANA, "approved", at=at, quote="LGTM"),
                         SignOff(Person("Alex Chen"), "approved", at=at, quote="+1")])
    doc = store.read(ref)
    assert doc.status == "Final"
    table = next(t for t in doc.tables if t.header and t.header[0] == "Reviewer")
    assert [(r[0].text, r[2].text, r[3].text) for r in table.rows] == [
        ("Dana Kim", "Approved", "2026-11-06"), ("Alex Chen", "Approved", "2026-11-06")]


def test_changed_since(harness: StoreHarness) -> None:
    store = harness.store
    ref = store.create(example_timeline())
    assert [c.ref for c in store.changed_since(None)] == [ref]
    later = datetime.now(UTC) + timedelta(days=1)
    assert store.changed_since(later) == []
    change = store.changed_since(None)[0]
    assert change.modified_at.tzinfo is not None


def test_refresh_keeps_human_edits_and_refuses_edited_generated_sections(harness: StoreHarness) -> None:
    store = harness.store
    ref = store.create(example_timeline(slack=False))
    harness.human_edit(ref, "TODO(authors): the change or event that set the incident off.",
                       "The v2.31.0 deploy lowered the pool max to 5.")
    assert store.refresh(ref, example_timeline()) is True
    doc = store.read(ref)
    trigger = next(s for s in doc.sections if s.heading == "Trigger")
    assert "The v2.31.0 deploy lowered the pool max to 5." in trigger.text
    timeline = next(t for t in doc.tables if t.header and t.header[0].startswith("Time"))
    assert any("Error rate back under 0.1% - mitigated." in row[2].text for row in timeline.rows)
    assert store.refresh(ref, example_timeline()) is False
    harness.human_edit(ref, "Rolling back to v2.30.4", "Rolling back (edited)")
    from ops_postmortem.errors import DocumentError

    with pytest.raises(DocumentError, match="edited by hand"):
        store.refresh(ref, example_timeline())
    assert store.refresh(ref, example_timeline(), force=True) is True


def test_untrusted_text_stays_literal_text(harness: StoreHarness) -> None:
    store = harness.store
    doc = store.read(store.create(hostile_timeline()))
    assert doc.title == "Hostile <title> {{ 1+1 }} & co"
    table = next(t for t in doc.tables if t.header and t.header[0].startswith("Time"))
    texts = [row[2].text for row in table.rows]
    for expected, got in zip(HOSTILE_TEXTS, texts, strict=True):
        # Text survives as text (control characters may be dropped); nothing became a link.
        assert expected.replace("\x07", "").replace("\x1b", "")[:40] in got.replace("\x07", "").replace("\x1b", "")
    assert all(not row[2].links for row in table.rows)
    assert not table.rows[0][3].links  # a javascript: link is never a link


def test_properties_are_kept_on_the_doc(harness: StoreHarness) -> None:
    store = harness.store
    ref = store.create(example_timeline())
    assert "published" not in store.properties(ref)
    store.set_properties(ref, {"published": "2026-11-06", "reminded-pmai-1": "2026-11-07"})
    store.set_properties(ref, {"published": "2026-11-08"})
    assert store.properties(ref)["published"] == "2026-11-08"
    assert store.properties(ref)["reminded-pmai-1"] == "2026-11-07"


def test_evidence_is_archived_with_the_doc(harness: StoreHarness) -> None:
    store = harness.store
    ref = store.create(example_timeline())
    where = store.archive(ref, {"pagerduty/log_entries-1.json": b'{"log_entries": []}', "slack/history.json": b"[]"})
    assert len(where) == 2
