"""GitHubTracker against the fake: lookups that survive search lag, creates that never duplicate (a lost
answer, a rate limit, two racing runners), owners mapped to logins, statuses, milestones, config."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ops_postmortem.config import load_config
from ops_postmortem.connectors.github.issues import issue_body, ticket_of
from ops_postmortem.connectors.github.tracker import GitHubTracker
from ops_postmortem.errors import AuthError, ConfigError, NotFoundError, ServiceError
from ops_postmortem.model import Ticket, TicketFailure
from ops_postmortem.people import Directory, DirectoryEntry
from ops_postmortem.wiring import ticket_tracker
from tests.contract.test_tracker_contract import ALERT, RUNBOOK, request
from tests.fakes.github import (
    REPO,
    TOKEN,
    GitHubFake,
    github_api,
    request_validator,
    response_validator,
    schema_errors,
)
from tests.fakes.server import serve

PEOPLE = Directory(
    [
        DirectoryEntry("Dana Kim", "dana@acme.test", ("dkim",), (("github", "dana-k"),)),
        DirectoryEntry("Lee Park", "lee@acme.test"),  # no GitHub login
        DirectoryEntry("Sam Ode", "sam@acme.test", (), (("github", "sam-o"),)),  # a login without repo access
    ]
)
ISSUES = f"/repos/{REPO}/issues"


@pytest.fixture
def fake() -> GitHubFake:
    return GitHubFake(collaborators=("dana-k", "priya-r"))


@pytest.fixture
def base(fake: GitHubFake) -> Iterator[str]:
    with serve(fake) as url:
        yield url


def make(base: str, **kwargs: object) -> GitHubTracker:
    attempts = int(kwargs.pop("attempts", 5))  # type: ignore[call-overload]
    return GitHubTracker(github_api(base, attempts=attempts), REPO, directory=PEOPLE, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def tracker(base: str) -> GitHubTracker:
    return make(base)


def created(outcomes: object) -> list[Ticket]:
    assert isinstance(outcomes, list) and all(isinstance(o, Ticket) for o in outcomes), outcomes
    return outcomes


def lookups(fake: GitHubFake, key: str) -> int:
    return len([r for r in fake.calls("GET", f"^{ISSUES}$") if r.arg("labels") == key])


# ---- finding ---------------------------------------------------------------------------------------------


def test_search_lag_never_hides_an_issue(base: str, fake: GitHubFake) -> None:
    fake.search_lag = 3600.0  # nothing is indexed yet
    [ticket] = created(make(base).create([ALERT]))
    fresh = make(base)  # another run: nothing remembered
    assert fresh.find([ALERT.item_key])[ALERT.item_key].key == ticket.key
    searched = fake.calls("GET", "^/search/issues$")[-1]
    assert searched.arg("q") == f"repo:{REPO} is:issue label:{ALERT.item_key}"
    assert lookups(fake, ALERT.item_key) == 3  # before and after creating, and in find


def test_search_alone_answers_for_settled_issues(base: str, fake: GitHubFake) -> None:
    created(make(base).create([ALERT, RUNBOOK]))
    later = make(base, now=lambda: datetime.now(UTC) + timedelta(minutes=11))
    before = len(fake.requests)
    found = later.find([ALERT.item_key, RUNBOOK.item_key, request("never ticketed").item_key])
    assert set(found) == {ALERT.item_key, RUNBOOK.item_key}
    paths = [(r.path, r.arg("labels")) for r in fake.requests[before:]]
    # One search for all three, the repository check, and a list call only for the key search did not find.
    assert paths == [
        (f"/repos/{REPO}", None),
        ("/search/issues", None),
        (ISSUES, request("never ticketed").item_key),
    ]


def test_fresh_search_results_are_confirmed_by_the_consistent_list(base: str, fake: GitHubFake) -> None:
    created(make(base).create([ALERT]))
    make(base).find([ALERT.item_key])
    assert lookups(fake, ALERT.item_key) == 3  # two while creating, one confirming the search result


@pytest.mark.parametrize("fault", ["quota", "secondary", "server"])
def test_a_failing_search_falls_back_to_the_list_without_waiting(
    base: str, fake: GitHubFake, fault: str
) -> None:
    created(make(base).create([ALERT]))
    if fault == "quota":
        fake.search_limit = 0
    elif fault == "secondary":
        fake.secondary_limit(method="GET", path="^/search/issues$", retry_after="30")
    else:
        fake.fail_next(502, method="GET", path="^/search/issues$")
    before = lookups(fake, ALERT.item_key)
    started = time.monotonic()
    assert make(base).find([ALERT.item_key])[ALERT.item_key].key == f"{REPO}#1"
    assert time.monotonic() - started < 1.0
    assert len(fake.calls("GET", "^/search/issues$")) == 1 and lookups(fake, ALERT.item_key) == before + 1


def test_search_queries_stay_under_githubs_limit(tracker: GitHubTracker, fake: GitHubFake) -> None:
    keys = [request(f"Add a saturation alert for pool {n}").item_key for n in range(30)]
    assert tracker.find(keys) == {}
    searches = fake.calls("GET", "^/search/issues$")
    assert len(searches) == 3 and all(len(r.arg("q") or "") <= 256 for r in searches)


def test_pull_requests_are_never_tickets(base: str, fake: GitHubFake, tracker: GitHubTracker) -> None:
    number = fake.add_pull_request("Bump deps", ["postmortem", ALERT.item_key])
    assert tracker.find([ALERT.item_key]) == {}
    assert tracker.updated_since(None) == []
    assert tracker.get([f"#{number}"]) == {}


# ---- creating --------------------------------------------------------------------------------------------


def test_a_500_after_the_create_committed_makes_no_second_issue(base: str, fake: GitHubFake) -> None:
    fake.search_lag = 3600.0
    fake.fail_next(500, method="POST", path=f"^{ISSUES}$", after=True)
    [ticket] = created(make(base).create([ALERT]))
    assert len(fake.calls("POST", f"^{ISSUES}$")) == 1  # the retry looked first and found it
    assert [i.number for i in fake.with_key(ALERT.item_key)] == [int(ticket.key.split("#")[1])]


def test_a_lost_answer_the_run_cannot_check_is_found_by_the_next_run(base: str, fake: GitHubFake) -> None:
    fake.search_lag = 3600.0
    fake.fail_next(500, method="POST", path=f"^{ISSUES}$", after=True)
    # Once the issue is committed, GitHub stops answering lists for the rest of this run.
    fake.on_create = lambda _: fake.fail_next(503, method="GET", path=f"^{ISSUES}$", times=50)
    [failure] = make(base).create([ALERT])
    assert isinstance(failure, TicketFailure) and "next run looks the item up again" in failure.message
    assert len(fake.with_key(ALERT.item_key)) == 1  # GitHub did create it
    fake.faults.clear()
    fake.on_create = None

    assert make(base).find([ALERT.item_key])[ALERT.item_key].key == f"{REPO}#1"
    assert created(make(base).create([ALERT]))[0].key == f"{REPO}#1"
    assert len(fake.calls("POST", f"^{ISSUES}$")) == 1 and len(fake.issues) == 1


@pytest.mark.parametrize("status", [403, 429])
def test_a_rate_limited_create_is_retried_after_a_lookup(base: str, fake: GitHubFake, status: int) -> None:
    fake.secondary_limit(method="POST", path=f"^{ISSUES}$", status=status, retry_after="0")
    [ticket] = created(make(base).create([ALERT]))
    assert len(fake.calls("POST", f"^{ISSUES}$")) == 2 and len(fake.issues) == 1
    assert lookups(fake, ALERT.item_key) == 3  # before, before the retry, after
    assert ticket.key == f"{REPO}#1"


def test_an_outage_fails_the_rest_of_the_batch_without_trying(base: str, fake: GitHubFake) -> None:
    fake.fail_next(503, method="POST", path=f"^{ISSUES}$", times=50)
    third = request("Link the checkout dashboard from the runbook")
    outcomes = make(base, attempts=2).create([ALERT, RUNBOOK, third])
    assert all(isinstance(o, TicketFailure) for o in outcomes)
    assert "Service Unavailable" in outcomes[0].message  # type: ignore[union-attr]
    assert outcomes[1].message.startswith("not tried after an earlier failure")  # type: ignore[union-attr]
    assert len(fake.calls("POST", f"^{ISSUES}$")) == 2


def test_two_racing_runners_converge_on_the_older_issue(base: str, fake: GitHubFake) -> None:
    fake.search_lag = 3600.0
    fake.rendezvous("POST", f"^{ISSUES}$", parties=2)
    runners = [make(base), make(base)]
    for runner in runners:
        assert runner.find([ALERT.item_key]) == {}  # both looked: nothing yet
    results: list[object] = [None, None]

    def run(i: int) -> None:
        results[i] = runners[i].create([ALERT])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    keys = {created(r)[0].key for r in results}
    assert keys == {f"{REPO}#1"}
    first, second = fake.with_key(ALERT.item_key)
    assert first.state == "open"
    assert (second.state, second.state_reason, second.duplicate_of) == ("closed", "duplicate", 1)
    patch = fake.calls("PATCH")[0].json()
    assert patch == {"state": "closed", "state_reason": "duplicate", "duplicate_issue_id": first.id}


def test_a_duplicate_left_open_by_a_crash_never_wins(
    base: str, fake: GitHubFake, tracker: GitHubTracker
) -> None:
    body = {"title": ALERT.title, "body": issue_body(ALERT), "labels": ["postmortem", ALERT.item_key]}
    fake._new_issue(body, "ops-bot")
    fake._new_issue(body, "ops-bot")
    assert tracker.find([ALERT.item_key])[ALERT.item_key].key == f"{REPO}#1"
    fake.close_in_product(1, "duplicate")  # a person folded #1 into #2
    assert tracker.find([ALERT.item_key])[ALERT.item_key].key == f"{REPO}#2"


def test_labels_are_made_once_and_reruns_make_nothing(
    base: str, fake: GitHubFake, tracker: GitHubTracker
) -> None:
    tickets = created(tracker.create([ALERT, RUNBOOK]))
    assert [c.json()["name"] for c in fake.calls("POST", "/labels$")] == [
        "postmortem",
        "inc-2042",
        ALERT.item_key,
        RUNBOOK.item_key,
    ]
    assert fake.labels["postmortem"].color == "b60205"
    before = len(fake.requests)
    again = created(make(base).create([ALERT, RUNBOOK]))
    assert [t.key for t in again] == [t.key for t in tickets]
    assert {r.method for r in fake.requests[before:]} == {"GET"}


def test_every_body_we_send_fits_githubs_schema(base: str, fake: GitHubFake) -> None:
    tracker = make(base, milestone_per_due_month=True)
    created(tracker.create([ALERT, replace(RUNBOOK, due=None, severity=None, incident_url=None)]))
    operations = {
        ISSUES: "/repos/{owner}/{repo}/issues",
        f"/repos/{REPO}/labels": "/repos/{owner}/{repo}/labels",
        f"/repos/{REPO}/milestones": "/repos/{owner}/{repo}/milestones",
    }
    sent = fake.calls("POST")
    assert {r.path for r in sent} == set(operations)
    for call in sent:
        assert schema_errors(request_validator(operations[call.path], "post"), call.json()) == []


def test_the_fakes_answers_fit_githubs_schemas(base: str, fake: GitHubFake, tracker: GitHubTracker) -> None:
    created(make(base, milestone_per_due_month=True).create([ALERT]))
    fake.close_in_product(1, "not_planned")
    api = tracker.api
    checks = [
        ("/repos/{owner}/{repo}/issues/{issue_number}", "200", api.get(f"{ISSUES}/1")),
        ("/repos/{owner}/{repo}/issues", "200", api.get(ISSUES, {"state": "all"})),
        ("/search/issues", "200", api.get("/search/issues", {"q": f"repo:{REPO} is:issue"})),
        ("/repos/{owner}/{repo}/labels", "200", api.get(f"/repos/{REPO}/labels")),
        ("/repos/{owner}/{repo}/milestones", "200", api.get(f"/repos/{REPO}/milestones", {"state": "all"})),
        ("/repos/{owner}/{repo}", "200", api.get(f"/repos/{REPO}")),
    ]
    for path, status, answer in checks:
        assert schema_errors(response_validator(path, "get", status), answer) == [], path


# ---- owners ----------------------------------------------------------------------------------------------


def test_owners_resolve_through_the_directory_to_assignable_logins(
    tracker: GitHubTracker, fake: GitHubFake
) -> None:
    assert tracker.resolve_owner("Dana Kim") == "dana-k"
    assert tracker.resolve_owner("dana@acme.test") == "dana-k"
    assert tracker.resolve_owner("Dana Kim <dana@acme.test>") == "dana-k"
    assert tracker.resolve_owner("@priya-r") == "priya-r"  # written as a login: taken as written
    assert tracker.resolve_owner("Lee Park") is None  # known, but no login: never guessed
    assert tracker.resolve_owner("Sam Ode") is None  # a login that cannot be assigned here
    assert tracker.resolve_owner("priya-r") is None  # a bare word is a name, not a login
    assert tracker.resolve_owner("@not a login") is None
    assert len(fake.calls("GET", "/assignees/dana-k$")) == 1  # asked once per run


def test_an_owner_without_a_login_is_refused_on_its_row(tracker: GitHubTracker, fake: GitHubFake) -> None:
    [failure] = tracker.create([replace(ALERT, owner="Lee Park")])
    assert isinstance(failure, TicketFailure) and 'github = "login"' in failure.message
    assert fake.issues == {}


def test_an_assignee_github_refuses_names_the_field_and_the_fix(base: str, fake: GitHubFake) -> None:
    tracker = make(base)
    assert tracker.resolve_owner("Dana Kim") == "dana-k"
    fake.collaborators = ("priya-r",)  # access removed during the run
    [failure] = tracker.create([ALERT])
    assert isinstance(failure, TicketFailure)
    assert "assignees 'dana-k' (invalid)" in failure.message and "give them access" in failure.message


# ---- reading back ----------------------------------------------------------------------------------------


def test_statuses_follow_state_and_state_reason(tracker: GitHubTracker, fake: GitHubFake) -> None:
    tickets = created(
        tracker.create([request(f"Add an alert on queue depth for worker pool {n}") for n in range(3)])
    )
    fake.close_in_product(1)
    fake.close_in_product(2, "not_planned")
    got = tracker.get([t.key for t in tickets])
    assert [(got[t.key].status, got[t.key].done) for t in tickets] == [
        ("Done", True),
        ("Not planned", True),
        ("Open", False),
    ]


def test_get_takes_our_keys_in_any_spelling(tracker: GitHubTracker) -> None:
    [ticket] = created(tracker.create([ALERT]))
    got = tracker.get(["#1", "ACME/OPS#1", "other/repo#1", "PM-1", "#999"])
    assert set(got) == {"#1", "ACME/OPS#1"} and got["#1"].key == ticket.key


def test_updated_since_is_one_paginated_list_call(
    base: str, fake: GitHubFake, tracker: GitHubTracker
) -> None:
    for n in range(120):
        fake._new_issue(
            {"title": f"t{n}", "body": issue_body(request(f"alert {n} on pool")), "labels": ["postmortem"]},
            "ops-bot",
        )
    fake._new_issue({"title": "unrelated", "labels": ["bug"]}, "ops-bot")
    before = len(fake.requests)
    cursor = datetime.now(UTC).replace(microsecond=900_000) - timedelta(seconds=5)
    tickets = tracker.updated_since(cursor)
    assert len(tickets) == 120 and all(t.doc_url == ALERT.doc_url for t in tickets)
    listed = [r for r in fake.requests[before:] if "issues" in r.path]
    assert len(listed) == 2  # 100 + 20
    assert listed[0].arg("since") == cursor.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert listed[0].arg("labels") == "postmortem" and listed[0].arg("state") == "all"


def test_a_body_edited_in_github_still_reads(fake: GitHubFake, tracker: GitHubTracker) -> None:
    [ticket] = created(tracker.create([ALERT]))
    issue = fake.issues[1]
    issue.body = "Rewritten by hand: **bigger** alert.\n\nDue: 2027-01-15"
    read = tracker.get([ticket.key])[ticket.key]
    assert read.item_key == ALERT.item_key  # from the label, now the marker is gone
    assert read.due == date(2027, 1, 15) and read.doc_url is None
    assert read.description.startswith("Rewritten by hand: **bigger** alert.")


def test_the_marker_keeps_an_odd_doc_address_exact() -> None:
    odd = replace(ALERT, doc_url="file:///srv/post mortems/INC-1 -->x%20y.md")
    body = issue_body(odd)
    assert "-->x" not in body.split("<!--", 1)[1].rsplit("-->", 1)[0]
    issue = {"number": 1, "title": "t", "state": "open", "body": body, "labels": []}
    assert ticket_of(issue, REPO).doc_url == odd.doc_url


# ---- milestones ------------------------------------------------------------------------------------------


def test_a_milestone_per_due_month(base: str, fake: GitHubFake) -> None:
    tracker = make(base, milestone_per_due_month=True)
    january = [
        replace(request(f"Add a disk alert on db host {n}"), due=date(2027, 1, n + 1)) for n in range(2)
    ]
    created(tracker.create([*january, replace(RUNBOOK, due=date(2027, 2, 3))]))
    titles = {m.title: (m.due_on, m.number) for m in fake.milestones.values()}
    assert titles == {
        "Postmortem actions due 2027-01": ("2027-01-31T23:59:59Z", 1),
        "Postmortem actions due 2027-02": ("2027-02-28T23:59:59Z", 2),
    }
    assert [i.milestone for i in fake.issues.values()] == [1, 1, 2]


def test_a_milestone_made_by_another_runner_meanwhile_is_used(base: str, fake: GitHubFake) -> None:
    created(make(base, milestone_per_due_month=True).create([replace(ALERT, due=date(2027, 1, 5))]))
    other = make(base, milestone_per_due_month=True)
    fake.fail_next(200, method="GET", path="/milestones$", body=[])  # its first list predates the milestone
    created(other.create([replace(RUNBOOK, due=date(2027, 1, 20))]))
    assert [m.title for m in fake.milestones.values()] == ["Postmortem actions due 2027-01"]
    assert [i.milestone for i in fake.issues.values()] == [1, 1]
    assert len(fake.calls("POST", "/milestones$")) == 2  # the second was told it already exists


# ---- the repository and the token ------------------------------------------------------------------------


def test_a_token_without_write_access_stops_before_creating(base: str, fake: GitHubFake) -> None:
    fake.push = False
    with pytest.raises(AuthError, match="cannot write to acme/ops"):
        make(base).create([ALERT])
    assert fake.calls("POST") == []


def test_a_wrong_repository_is_a_clear_error(base: str) -> None:
    tracker = GitHubTracker(github_api(base), "acme/nope", directory=PEOPLE)
    with pytest.raises(NotFoundError, match="check \\[github\\] repo"):
        tracker.find([ALERT.item_key])
    with pytest.raises(NotFoundError):
        tracker.get(["#1"])


def test_issues_turned_off_is_a_clear_error(base: str, fake: GitHubFake) -> None:
    fake.has_issues = False
    with pytest.raises(ServiceError, match="issues are turned off"):
        make(base).updated_since(None)


# ---- config ----------------------------------------------------------------------------------------------


def config_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "postmortem.toml"
    path.write_text('[tracker]\nkind = "github"\n\n[people."Dana Kim"]\ngithub = "dana-k"\n\n' + body)
    return path


def test_the_config_builds_the_tracker(tmp_path: Path, base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_TOKEN_FOR_TEST", TOKEN)
    path = config_file(
        tmp_path,
        f'[github]\nrepo = "{REPO}"\ntoken = {{ env = "GH_TOKEN_FOR_TEST" }}\n'
        f'api_url = "{base}"\nmilestone_per_due_month = true\nwrite_interval = "0s"\n',
    )
    tracker = ticket_tracker(load_config(str(path)))
    assert isinstance(tracker, GitHubTracker) and tracker.milestone_per_due_month
    assert tracker.api.write_interval == 0 and tracker.resolve_owner("Dana Kim") == "dana-k"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('token = { env = "GH_TOKEN_FOR_TEST" }\n', "repo is required"),
        ('repo = "acme"\ntoken = { env = "GH_TOKEN_FOR_TEST" }\n', "is not 'owner/name'"),
        ('repo = "acme/ops"\n', "token is required"),
        ('repo = "acme/ops"\ntoken = "ghp_literal"\n', "secrets never go in the file"),
        ('repo = "acme/ops"\ntoken = { env = "GH_UNSET_FOR_TEST" }\n', "GH_UNSET_FOR_TEST is not set"),
        (
            'repo = "acme/ops"\ntoken = { env = "GH_TOKEN_FOR_TEST" }\napi_url = "api.github.com"\n',
            "not an http",
        ),
        (
            'repo = "acme/ops"\ntoken = { env = "GH_TOKEN_FOR_TEST" }\nwrite_interval = "soon"\n',
            "not a duration",
        ),
        ('repo = "acme/ops"\ntoken = { env = "GH_TOKEN_FOR_TEST" }\nlogins = {}\n', "unknown key 'logins'"),
    ],
)
def test_config_mistakes_are_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, message: str
) -> None:
    monkeypatch.setenv("GH_TOKEN_FOR_TEST", TOKEN)
    monkeypatch.delenv("GH_UNSET_FOR_TEST", raising=False)
    with pytest.raises(ConfigError, match=message):
        ticket_tracker(load_config(str(config_file(tmp_path, "[github]\n" + body))))
