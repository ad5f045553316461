from datetime import date, timedelta

import pytest

from ops_postmortem.actions import (
    CheckRules,
    check_item,
    column_map,
    find_action_table,
    item_keys,
    read_items,
)
from ops_postmortem.dates import DateParser
from ops_postmortem.errors import DocumentError
from ops_postmortem.model import ActionItem, Cell, DocRef, Document, Person, Table, TicketRef

REF = DocRef("local", "INC-1", "file:///tmp/INC-1.md")
RULES = CheckRules(
    incident_date=date(2026, 11, 3),
    as_of=date(2026, 11, 20),
    priority_limits={"P0": timedelta(weeks=1), "P1": timedelta(weeks=4), "P2": timedelta(weeks=8)},
)


def table(header: list[str], rows: list[list[str]], heading: str | None = "Action items", index: int = 0) -> Table:
    return Table(index, heading, tuple(header), tuple(tuple(Cell(c) for c in r) for r in rows))


def doc(*tables: Table) -> Document:
    return Document(REF, "t", "Draft", (), tables)


def test_columns_by_synonym_in_any_order_extras_ignored() -> None:
    mapping = column_map(["Ticket", "Notes", "DRI", "Deadline", "What", "Acceptance criteria", "Prio", "Category"])
    assert mapping == {"ticket": 0, "owner": 2, "due": 3, "action": 4, "done_when": 5, "priority": 6, "type": 7}


def test_table_found_by_heading_even_if_not_first() -> None:
    timeline = table(["Time", "Source", "Event"], [], heading="Timeline", index=0)
    actions = table(["Action", "Owner", "Due"], [], heading="Action items", index=1)
    found, _ = find_action_table(doc(timeline, actions))
    assert found.index == 1


def test_table_found_by_header_row_under_any_heading() -> None:
    actions = table(["Task", "Assignee", "Due date"], [], heading="Follow-through", index=3)
    assert find_action_table(doc(actions))[0].index == 3


def test_no_table_is_a_clear_error() -> None:
    with pytest.raises(DocumentError, match="no action-item table found"):
        find_action_table(doc(table(["Time", "Event"], [], heading="Timeline")))


def test_unrecognisable_columns_are_a_clear_error() -> None:
    with pytest.raises(DocumentError, match="no recognisable Action column"):
        find_action_table(doc(table(["Foo", "Bar"], [], heading="Action items")))


HEADER = ["Action", "Type", "Owner", "Due", "Priority", "Done when", "Ticket"]


def items(rows: list[list[str]]) -> list[ActionItem]:
    t = table(HEADER, rows)
    return read_items(t, column_map(t.header), DateParser())


def test_reads_rows_skipping_blank_ones_and_parsing_cells() -> None:
    got = items(
        [
            ["Add a CI check rejecting pool max below 20", "prevent", "Priya Raman", "Nov 24, 2026", "P1",
             "CI fails on a config with max=5", "PM-3 - Done"],
            ["", "", "", "", "", "", ""],
            ["Idea: move to PgBouncer", "", "", "", "", "", ""],
        ]
    )
    assert [i.row for i in got] == [0, 2]
    first = got[0]
    assert first.due == date(2026, 11, 24)
    assert first.ticket == TicketRef("PM-3", None, "Done")
    assert got[1].marker == "idea" and got[1].action == "move to PgBouncer"


def check(action: str = "Add an alert on checkout 5xx ratio above 2% for 5m", owner: str = "Dana Kim",
          due: str = "2026-11-20", priority: str = "P1", done_when: str = "alert fires in the staging game day",
          type_: str = "detect") -> list[str]:
    item = items([[action, type_, owner, due, priority, done_when, ""]])[0]
    return list(check_item(item, RULES).problems)


def test_a_good_item_is_valid() -> None:
    assert check() == []


@pytest.mark.parametrize("action", ["Improve monitoring", "Be more careful with deploys", "Look into the pool",
                                    "TBD", "Investigate connection handling", "fix it", "Better alerting"])
def test_vague_actions(action: str) -> None:
    assert any(p.startswith("not specific") for p in check(action=action))


@pytest.mark.parametrize(("owner", "why"), [("", "no owner"), ("SRE team", "team"), ("@checkout-oncall", "team"),
                                            ("Dana and Priya", "several"), ("Dana, Priya", "several"),
                                            ("TBD", "placeholder")])
def test_unowned(owner: str, why: str) -> None:
    problems = check(owner=owner)
    assert any(p.startswith("not owned") and why in p for p in problems), problems


def test_owner_must_resolve_in_the_tracker() -> None:
    item = items([["Add a CI check for pool size below 20", "prevent", "Alex Unknown", "2026-11-20", "P1",
                   "CI fails on max=5", ""]])[0]
    rules = CheckRules(incident_date=RULES.incident_date, resolve_owner=lambda name: name == "Dana Kim")
    assert any("tracker knows" in p for p in check_item(item, rules).problems)


def test_person_chip_counts_as_one_owner() -> None:
    item = ActionItem(row=0, action="Add a CI check for pool size below 20", owner="Dana Kim, Priya",
                      owner_person=Person("Dana Kim", "dana@acme.test"), due=date(2026, 11, 20),
                      done_when="CI fails on max=5", type="prevent", priority="P1")
    assert check_item(item, RULES).verdict == "valid"


@pytest.mark.parametrize(
    ("due", "priority", "fragment"),
    [("", "P1", "no due date"), ("next sprint", "P1", "is not a date"), ("2026-10-01", "P1", "before the incident"),
     ("2026-11-30", "P0", "within 1 week"), ("2027-03-01", "P2", "within 8 weeks")],
)
def test_time_bounds(due: str, priority: str, fragment: str) -> None:
    assert any(fragment in p for p in check(due=due, priority=priority))


def test_verifiable_from_done_when_or_a_measurable_action() -> None:
    plain = "Add a pool exhaustion alert to the checkout dashboard"
    assert any(p.startswith("not verifiable") for p in check(action=plain, done_when=""))
    assert any(p.startswith("not verifiable") for p in check(action=plain, done_when="done"))
    assert not any(p.startswith("not verifiable") for p in check(action=plain, done_when="alert fires in a test"))
    measurable = "Lower checkout p99 latency below 300 ms under 2x load"
    assert not any(p.startswith("not verifiable") for p in check(action=measurable, done_when=""))


def test_overdue_against_as_of_unless_done() -> None:
    item = items([["Add a CI check for pool size below 20", "prevent", "Dana Kim", "2026-11-10", "P1",
                   "CI fails on max=5", "PM-1"]])[0]
    assert check_item(item, RULES).overdue
    done = items([["Add a CI check for pool size below 20", "prevent", "Dana Kim", "2026-11-10", "P1",
                   "CI fails on max=5", "PM-1 - Done"]])[0]
    assert not check_item(done, RULES).overdue


def test_ideas_are_ignored() -> None:
    item = items([["[candidate] rewrite the service in Rust", "", "", "", "", "", ""]])[0]
    assert check_item(item, RULES).verdict == "ignored"


def test_unknown_type_is_reported() -> None:
    assert any("type 'fix'" in p for p in check(type_="fix"))


def test_item_keys_are_stable_and_separate_duplicates() -> None:
    first = items([["Add alert A for 5xx above 2%", "", "", "", "", "", ""],
                   ["Add alert A for 5xx above 2%", "", "", "", "", "", ""]])
    keys = item_keys("doc-1", first)
    assert keys[0] != keys[1]
    moved = items([["Something new first", "", "", "", "", "", ""], ["Add alert A for 5xx above 2%", "", "", "", "", "", ""]])
    assert item_keys("doc-1", moved)[1] == keys[0]  # a row moving down keeps its key
    assert item_keys("doc-2", first)[0] != keys[0]


@pytest.mark.parametrize("status", ["Won't Do", "Not planned", "Duplicate", "Closed"])
def test_closed_without_doing_is_not_overdue(status: str) -> None:
    item = items([["Add a CI check for pool size below 20", "prevent", "Dana Kim", "2026-11-10", "P1",
                   "CI fails on max=5", f"PM-1 - {status}"]])[0]
    assert not check_item(item, RULES).overdue
