"""JiraTracker through the real atlassian-python-api against the fake, on Cloud and Data Center: idempotency
under eventual consistency, lost answers, bulk limits, refusals reported on their row with the field and the
fix, owners resolved or reported (never guessed), and the reads sync relies on."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ops_postmortem.actions import item_key
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.connectors.jira.api import JiraApi
from ops_postmortem.connectors.jira.settings import IssueRule, JiraSettings
from ops_postmortem.connectors.jira.state import CreatedIssues
from ops_postmortem.connectors.jira.tracker import SEARCH_SETTLE, JiraTracker
from ops_postmortem.errors import AuthError
from ops_postmortem.model import UTC, Ticket, TicketFailure, TicketRequest
from ops_postmortem.people import Directory, DirectoryEntry
from tests.fakes.jira import SCREEN, TOKEN, FakeJira, Flavour, JiraUser, Project, jira_settings
from tests.fakes.server import serve

USERS = [
    JiraUser("Dana Kim", "dana@acme.test", account_id="712020:dana", name="dkim"),
    JiraUser("José Núñez", "jose@acme.test", account_id="712020:jose", name="jnunez", email_visible=False),
    JiraUser("Sam Lee", "sam.lee@acme.test", account_id="712020:sam1", name="slee"),
    JiraUser("Sam Lee", "sam.lee2@acme.test", account_id="712020:sam2", name="slee2"),
    JiraUser("Old Timer", "old@acme.test", account_id="712020:old", name="old", active=False),
    JiraUser("Automation for Jira", "automation@acme.test", account_id="557058:auto", name="automation",
             account_type="app"),
]
DOC = "https://docs.google.com/document/d/1AbC/edit"


def request(action: str, **changes: Any) -> TicketRequest:
    base = TicketRequest(
        item_key=item_key("1AbC", action, 0), title=action, action=action, done_when="the alert fires in staging",
        type="detect", owner="dana@acme.test", due=date(2026, 12, 1), priority="P1", incident_id="INC-2042",
        severity="SEV2", doc_url=DOC, labels=("postmortem", "inc-2042", item_key("1AbC", action, 0)),
    )
    return replace(base, **changes)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Setup:
    fake: FakeJira
    base: str
    settings: JiraSettings
    folder: Path
    clock: Clock

    def tracker(self, state: str = "jira.json", **changes: Any) -> JiraTracker:
        settings = replace(self.settings, **changes)
        api = JiraApi.connect(settings, TOKEN, RetryPolicy(base=0.01, max_wait=0.05))
        return JiraTracker(api, settings, CreatedIssues(self.folder / state, self.clock), clock=self.clock)

    def bulk_posts(self) -> list[Any]:
        return self.fake.calls("POST", r"/issue/bulk$")

    def searches(self) -> list[Any]:
        return self.fake.calls(path=r"/api/\d/search(/jql)?$")


def make(tmp_path: Path, flavour: Flavour, **fake_options: Any) -> Iterator[Setup]:
    projects = fake_options.pop("projects", (Project("OPS", "10000"), Project("INC", "10001", ("Bug", "Incident"),
                                                                             SCREEN | {"customfield_10040"})))
    fake = FakeJira(flavour, users=USERS, projects=projects, **fake_options)
    with serve(fake) as base:
        fake.base_url = base
        yield Setup(fake, base, jira_settings(base, flavour), tmp_path, Clock())


@pytest.fixture(params=["cloud", "datacenter"])
def jira(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    yield from make(tmp_path, request.param)


@pytest.fixture
def lagging(tmp_path: Path) -> Iterator[Setup]:
    """Cloud whose search index never catches up on its own."""
    yield from make(tmp_path, "cloud", search_lag=10_000)


def created(outcomes: Any) -> list[Ticket]:
    assert all(isinstance(o, Ticket) for o in outcomes), outcomes
    return list(outcomes)


# ---- idempotency --------------------------------------------------------------------------------------

def test_extract_costs_one_lookup_one_bulk_create_and_a_read_back(jira: Setup) -> None:
    tracker = jira.tracker()
    requests = [request("Add a burn-rate alert"), request("Link the failover runbook")]
    assert tracker.find([r.item_key for r in requests]) == {}
    tickets = created(tracker.create(requests))
    assert [t.key for t in tickets] == ["OPS-1", "OPS-2"]
    assert len(jira.bulk_posts()) == 1 and len(jira.fake.calls("GET", "/user/search")) == 1
    # The read-back also looks for a twin another runner created meanwhile: on Data Center one search by
    # label; on Cloud (whose search lags) a fetch of the issues numbered below ours, then of the winners.
    assert len(jira.searches()) == (1 if jira.fake.cloud else 2)
    assert len(jira.fake.calls("POST", "/bulkfetch")) == (2 if jira.fake.cloud else 0)
    ticket = tickets[0]
    assert (ticket.status, ticket.done, ticket.owner, ticket.due, ticket.priority, ticket.doc_url) == (
        "To Do", False, "712020:dana" if jira.fake.cloud else "dkim", date(2026, 12, 1), "P1", DOC)
    assert ticket.url == f"{jira.base}/browse/OPS-1" and ticket.item_key == requests[0].item_key


def test_read_after_write_on_cloud_needs_the_state_file(lagging: Setup) -> None:
    tracker = lagging.tracker()
    alert = request("Add a burn-rate alert")
    [ticket] = created(tracker.create([alert]))

    # Another runner without our file cannot see it yet: the lag is real.
    assert lagging.tracker(state="other.json").find([alert.item_key]) == {}
    # We can: the id we kept goes along as reconcileIssues.
    found = lagging.tracker().find([alert.item_key])
    assert found[alert.item_key].key == ticket.key
    assert lagging.searches()[-1].json()["reconcileIssues"] == [int(lagging.fake.by_key(ticket.key).id)]  # type: ignore[union-attr]
    assert [t.key for t in lagging.tracker().updated_since(None)] == [ticket.key]
    assert lagging.tracker().create([alert]) == [found[alert.item_key]]
    assert len(lagging.bulk_posts()) == 1


def test_a_runner_that_created_a_twin_yields_to_the_older_issue(lagging: Setup) -> None:
    alert, other = request("Add a burn-rate alert"), request("Write the runbook")
    # Two runners on two machines, each inside the other's search lag: the second cannot see the first's issue
    # by search, so it creates too, then finds the older twin just below its own number.
    first = created(lagging.tracker(state="a.json").create([alert]))[0]
    second = created(lagging.tracker(state="b.json").create([other, alert]))
    assert first.key == "OPS-1" and [t.key for t in second] == ["OPS-2", "OPS-1"]
    twin = lagging.fake.by_key("OPS-3")
    assert twin is not None and twin.status == "Won't Do" and alert.item_key in twin.labels
    assert twin.links == [{"type": {"name": "Duplicate"}, "outwardIssue": {"key": "OPS-1"}}]
    assert lagging.fake.by_key("OPS-2").status == "To Do"  # type: ignore[union-attr]
    # Every runner, with its own file or none, now binds the older one.
    lagging.fake.catch_up()
    for state in ("a.json", "b.json", "c.json"):
        assert lagging.tracker(state=state).find([alert.item_key])[alert.item_key].key == "OPS-1"


def run_create(tracker: JiraTracker, requests: list[TicketRequest], out: list[Any]) -> None:
    out.extend(tracker.create(requests))


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_runners_racing_through_the_same_window_converge(tmp_path: Path, flavour: Flavour) -> None:
    for setup in make(tmp_path, flavour, search_lag=10_000 if flavour == "cloud" else 0):
        requests = [request(f"Add alert {n}") for n in range(3)]
        trackers = [setup.tracker(state=f"{runner}.json") for runner in "ab"]
        for tracker in trackers:  # both look everything up before either creates
            assert tracker.find([r.item_key for r in requests]) == {}
        setup.fake.rendezvous("POST", r"/issue/bulk$", parties=2)
        results: list[list[Any]] = [[], []]
        threads = [threading.Thread(target=run_create, args=(tracker, requests, out))
                   for tracker, out in zip(trackers, results, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        keys = [[t.key for t in created(r)] for r in results]
        assert keys[0] == keys[1]
        kept = set(keys[0])
        closed = [i for i in setup.fake.issues.values() if i.status == "Won't Do"]
        assert len(setup.fake.issues) == 6 and len(closed) == 3 and not kept & {i.key for i in closed}
        assert all(int(i.key.split("-")[1]) > min(int(k.split("-")[1]) for k in kept) for i in closed)


def test_a_twin_that_cannot_be_closed_is_still_not_bound(lagging: Setup, caplog: pytest.LogCaptureFixture) -> None:
    lagging.fake.link_types = ("Relates",)  # no Duplicate link type on this site
    alert = request("Add a burn-rate alert")
    created(lagging.tracker(state="a.json").create([alert]))
    with caplog.at_level(logging.WARNING):
        [ticket] = created(lagging.tracker(state="b.json").create([alert]))
    assert ticket.key == "OPS-1" and "OPS-2 duplicates OPS-1 but could not be closed" in caplog.text


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_committed_then_500_is_looked_up_not_resent(tmp_path: Path, flavour: Flavour) -> None:
    for setup in make(tmp_path, flavour, search_lag=3 if flavour == "cloud" else 0):
        alert = request("Add a burn-rate alert")
        setup.fake.fail_next(500, method="POST", path=r"/issue/bulk$", after=True)
        [lost] = setup.tracker().create([alert])
        assert isinstance(lost, TicketFailure) and "may have been created" in lost.message
        assert len(setup.fake.issues) == 1

        outcome = setup.tracker().create([alert])[0]
        if flavour == "cloud":  # still inside the lag: wait rather than guess
            assert isinstance(outcome, TicketFailure) and "looked up again" in outcome.message
            setup.fake.catch_up()
            outcome = setup.tracker().create([alert])[0]
        assert isinstance(outcome, Ticket) and outcome.key == "OPS-1"
        assert len(setup.fake.issues) == 1 and len(setup.bulk_posts()) == 1


def test_after_the_settle_time_a_lost_create_that_never_happened_is_sent_again(lagging: Setup) -> None:
    alert = request("Add a burn-rate alert")
    lagging.fake.fail_next(500, method="POST", path=r"/issue/bulk$")  # refused before anything was done
    assert isinstance(lagging.tracker().create([alert])[0], TicketFailure)
    lagging.clock.now += SEARCH_SETTLE + timedelta(seconds=1)
    assert created(lagging.tracker().create([alert]))[0].key == "OPS-1"


def test_a_run_killed_after_sending_leaves_a_marker(lagging: Setup) -> None:
    alert = request("Add a burn-rate alert")
    tracker = lagging.tracker()
    tracker.state.sending([alert.item_key])  # written before the POST; the process died after it
    outcome = tracker.create([alert])[0]
    assert isinstance(outcome, TicketFailure) and not lagging.bulk_posts()


def test_bulk_limits_and_in_batch_duplicates(jira: Setup) -> None:
    tracker = jira.tracker()
    requests = [request(f"Add a saturation alert for worker pool {n}") for n in range(120)]
    tickets = created(tracker.create([*requests, requests[0]]))
    assert [len(p.json()["issueUpdates"]) for p in jira.bulk_posts()] == [50, 50, 20]
    assert tickets[-1] == tickets[0] and len({t.key for t in tickets}) == 120
    searches = len(jira.searches())
    found = jira.tracker().find([r.item_key for r in requests])
    assert len(found) == 120 and len(jira.searches()) - searches == 3  # 50 item keys per search


# ---- refusals on their row ----------------------------------------------------------------------------

def test_partial_failures_map_back_to_their_rows(jira: Setup) -> None:
    tracker = jira.tracker(by_severity={"SEV1": IssueRule("NOPE", "Task")})
    requests = [request("first"), request("second", severity="SEV-1"), request("third")]
    first, second, third = tracker.create(requests)
    assert isinstance(first, Ticket) and isinstance(third, Ticket)
    assert (first.key, third.key, first.title, third.title) == ("OPS-1", "OPS-2", "first", "third")
    assert isinstance(second, TicketFailure)
    assert second.message == ("Jira refused field 'project' (Specify a valid project ID or key): set [jira] "
                              "by_severity.SEV-1 project to the key of a project this account can create issues in")
    assert tracker.state.get([r.item_key for r in requests]).keys() == {requests[0].item_key, requests[2].item_key}


def test_a_field_not_on_the_screen_names_the_screen(tmp_path: Path) -> None:
    for setup in make(tmp_path, "datacenter", projects=(Project("OPS", "1", screen=SCREEN - {"duedate"}),)):
        [failure] = setup.tracker().create([request("Add an alert")])
        assert isinstance(failure, TicketFailure)
        assert failure.message == (
            "Jira refused field 'duedate' (Field 'duedate' cannot be set. It is not on the appropriate screen, or "
            "unknown.): add the field to the create screen of project OPS (issue type Task)")


def test_localised_messages_still_get_the_fix_for_their_field(tmp_path: Path) -> None:
    for setup in make(tmp_path, "cloud", locale="de", projects=(Project("OPS", "1", screen=SCREEN - {"labels"}),)):
        tracker = setup.tracker(priority_map={"P1": "Dringend"})
        [failure] = tracker.create([request("Add an alert")])
        assert isinstance(failure, TicketFailure)
        assert "Jira refused field 'labels' (Das Feld 'labels' kann nicht festgelegt werden." in failure.message
        assert "add the field to the create screen of project OPS (issue type Task)" in failure.message
        assert "Jira refused field 'priority' (Prioritätsname 'Dringend' ist ungültig): map P1 in [jira] " \
               "priority_map to a priority of project OPS" in failure.message


def test_a_401_answered_in_plain_text_fails_each_row_with_the_fix(jira: Setup) -> None:
    tracker = jira.tracker()
    jira.fake.fail_next(401, method="POST", path=r"/issue/bulk$")
    outcomes = tracker.create([request("first"), request("second")])
    for outcome in outcomes:
        assert isinstance(outcome, TicketFailure)
        assert "Jira refused the account (jira: Client must be authenticated to access this resource.)" in outcome.message
        assert "[jira] token" in outcome.message
    assert tracker.state.get([request("first").item_key]) == {}  # nothing was created: no marker left


def test_a_wrong_token_stops_the_run_before_anything_is_sent(jira: Setup) -> None:
    settings = jira.settings
    api = JiraApi.connect(settings, "expired", RetryPolicy(base=0.01))
    tracker = JiraTracker(api, settings, CreatedIssues(jira.folder / "s.json"))
    with pytest.raises(AuthError, match="Client must be authenticated"):
        tracker.find([request("x").item_key])
    assert not jira.bulk_posts()


def test_rate_limited_creates_wait_as_told(jira: Setup) -> None:
    jira.fake.fail_next(429, method="POST", path=r"/issue/bulk$", headers={"Retry-After": "0"}, times=2)
    assert [t.key for t in created(jira.tracker().create([request("Add an alert")]))] == ["OPS-1"]
    assert len(jira.bulk_posts()) == 3


# ---- owners -------------------------------------------------------------------------------------------

def test_owners_resolve_by_email_or_name_and_are_never_guessed(jira: Setup) -> None:
    tracker = jira.tracker()
    cloud = jira.fake.cloud
    assert tracker.resolve_owner("dana@acme.test") == ("712020:dana" if cloud else "dkim")
    assert tracker.resolve_owner("Dana Kim <DANA@acme.test>") == tracker.resolve_owner("dana kim")
    assert tracker.resolve_owner("jose@acme.test") == ("712020:jose" if cloud else "jnunez")  # e-mail hidden
    assert tracker.resolve_owner("Jose Nunez") == ("712020:jose" if cloud else "jnunez")
    nobodies = ["Sam Lee", "old@acme.test", "Old Timer", "quinn@elsewhere.test", "Dana Kim, José Núñez", "SRE team",
                "  "]
    if cloud:  # app accounts exist only on Cloud
        nobodies.append("automation@acme.test")
    for nobody in nobodies:
        assert tracker.resolve_owner(nobody) is None, nobody
    calls = len(jira.fake.calls("GET", "/user/search"))
    tracker.resolve_owner("dana@acme.test")
    assert len(jira.fake.calls("GET", "/user/search")) == calls  # asked once per run


def test_directory_handles_and_emails(jira: Setup) -> None:
    people = Directory([DirectoryEntry("Samuel Lee", "sam.lee@acme.test", ("sam",)),
                        DirectoryEntry("Priya Raman", None, (), (("jira", "712020:priya"),))])
    tracker = jira.tracker()
    tracker.directory = people
    assert tracker.resolve_owner("sam") == ("712020:sam1" if jira.fake.cloud else "slee")
    assert tracker.resolve_owner("Priya Raman") == "712020:priya"  # configured: no lookup


def test_an_unknown_owner_is_reported_on_its_row_and_not_sent(jira: Setup) -> None:
    ok, unknown = jira.tracker().create([request("first"), request("second", owner="Sam Lee")])
    assert isinstance(ok, Ticket) and isinstance(unknown, TicketFailure)
    assert unknown.message.startswith("owner 'Sam Lee' is not one active Jira user")
    assert [len(p.json()["issueUpdates"]) for p in jira.bulk_posts()] == [1]


# ---- what goes into the issue ---------------------------------------------------------------------------

def test_fields_per_severity_priority_and_incident_link(jira: Setup) -> None:
    jira.fake.projects["INC"].screen = SCREEN | {"customfield_10040"}
    incident = created(jira.tracker().create([replace(request("The incident itself"), owner=None)]))[0]
    tracker = jira.tracker(
        by_severity={"SEV1": IssueRule("INC", "Bug", {"customfield_10040": "postmortem"})},
        incident_link_type="Relates",
    )
    linked = request("Add an alert", severity="sev 1", incident_id=incident.key, priority="P9")
    plain = request("Write the runbook", incident_id="PD-Q8XU3N0ZKP5RM4 with spaces")
    tickets = created(tracker.create([linked, plain]))
    inc, ops = jira.fake.by_key(tickets[0].key), jira.fake.by_key(tickets[1].key)
    assert inc is not None and ops is not None
    assert (inc.project, inc.issue_type, inc.extra, inc.priority) == ("INC", "Bug", {"customfield_10040": "postmortem"}, None)
    assert inc.links == [{"type": {"name": "Relates"}, "outwardIssue": {"key": incident.key}}]
    assert (ops.project, ops.links, ops.priority) == ("OPS", [], "High")


def test_cloud_v2_sends_wiki_markup(tmp_path: Path) -> None:
    for setup in make(tmp_path, "cloud"):
        [ticket] = created(setup.tracker(api_version=2).create([request("Fix *it* {now}")]))
        issue = setup.fake.by_key(ticket.key)
        assert issue is not None and isinstance(issue.description, str)
        assert issue.description.startswith("Fix \\*it\\* \\{now\\}\n\n*Done when:*")
        assert ticket.doc_url == DOC and "Fix *it* {now}" in ticket.description


def test_the_fake_refuses_what_jira_refuses(tmp_path: Path) -> None:
    # Descriptions that are not ADF on v3 and ADF that breaks the schema never pass unnoticed.
    for setup in make(tmp_path, "cloud"):
        api = JiraApi.connect(setup.settings, TOKEN, RetryPolicy(base=0.01))
        base = {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "x"}
        _, errors = api.create_issues([{"fields": {**base, "description": "wiki *markup*"}},
                                       {"fields": {**base, "description": {"type": "doc", "version": 1, "content": [
                                           {"type": "paragraph", "content": [{"type": "text", "text": ""}]}]}}},
                                       {"fields": {**base, "summary": "two\nlines"}}])
        assert [e["elementErrors"]["errors"] for e in errors] == [
            {"description": "Operation value must be an Atlassian Document (see the Atlassian Document Format)"},
            {"description": "INVALID_INPUT"},
            {"summary": "The summary is invalid because it contains newline characters."},
        ]


# ---- reads for sync -----------------------------------------------------------------------------------

def test_get_leaves_unknown_and_malformed_keys_out(jira: Setup) -> None:
    tracker = jira.tracker()
    [ticket] = created(tracker.create([request("Add an alert")]))
    got = tracker.get(["ops-1", "OPS-999", "PM-3", "not a key", ticket.key])
    assert set(got) == {"ops-1", ticket.key} and got["ops-1"].key == "OPS-1"
    if not jira.fake.cloud:
        assert jira.searches()[-1].json()["validateQuery"] is False


def test_done_follows_the_status_category(jira: Setup) -> None:
    tracker = jira.tracker()
    tickets = created(tracker.create([request("a"), request("b"), request("c")]))
    jira.fake.transition(tickets[0].key, "Won't Do")
    jira.fake.transition(tickets[1].key, "In Progress")
    got = tracker.get([t.key for t in tickets])
    assert [(got[t.key].status, got[t.key].done) for t in tickets] == [
        ("Won't Do", True), ("In Progress", False), ("To Do", False)]


def test_updated_since_pages_and_uses_relative_dates(tmp_path: Path) -> None:
    for flavour in ("cloud", "datacenter"):
        for setup in make(tmp_path / flavour, flavour, page_cap=2):  # type: ignore[arg-type]
            tracker = setup.tracker()
            tickets = created(tracker.create([request(f"item {n}") for n in range(5)]))
            before = len(setup.searches())
            assert {t.key for t in tracker.updated_since(None)} == {t.key for t in tickets}
            assert len(setup.searches()) - before == 3  # five issues, two per page
            pages = setup.searches()[-2:]
            if flavour == "cloud":
                assert all(p.json().get("nextPageToken") for p in pages)
            else:
                assert [p.json()["startAt"] for p in pages] == [2, 4]
            setup.clock.now = datetime.now(UTC)
            assert len(tracker.updated_since(setup.clock.now - timedelta(minutes=2))) == 5
            assert 'updated >= "-8m"' in setup.searches()[-1].json()["jql"]
            assert tracker.updated_since(datetime.now(UTC) + timedelta(hours=1)) == []
