"""The GitHub REST client against the fake: pagination by Link header, errors mapped to ours (rate limits
told apart from permission refusals), reads retried, creates sent once, writes paced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ops_postmortem.connectors.github.api import GitHubApi, Pages, ValidationFailed, link_targets
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.errors import AuthError, NotFoundError, ServiceError
from tests.fakes.github import REPO, TOKEN, GitHubFake, github_api
from tests.fakes.server import serve

ISSUES = f"/repos/{REPO}/issues"


@pytest.fixture
def fake() -> GitHubFake:
    return GitHubFake(collaborators=("dana-k",))


@pytest.fixture
def base(fake: GitHubFake) -> Iterator[str]:
    with serve(fake) as url:
        yield url


@pytest.fixture
def api(base: str) -> GitHubApi:
    return github_api(base)


# ---- Link headers and the pagination state machine -------------------------------------------------------


def test_link_header_targets() -> None:
    header = (
        '<https://api.github.com/repositories/1/issues?page=2>; rel="next", '
        '<https://api.github.com/repositories/1/issues?page=5>; rel="last"'
    )
    assert link_targets(header) == {
        "next": "https://api.github.com/repositories/1/issues?page=2",
        "last": "https://api.github.com/repositories/1/issues?page=5",
    }
    assert link_targets('<https://x/a?b=1,2>; rel=next; title="x, y"') == {"next": "https://x/a?b=1,2"}
    assert link_targets('<https://x/2>; rel="prev next"')["next"] == "https://x/2"
    assert link_targets(None) == {} and link_targets("") == {}


def test_pages_follow_next_until_none() -> None:
    pages = Pages.start("https://api.github.com/repos/a/b/issues")
    pages.advance('<https://api.github.com/repositories/1/issues?page=2>; rel="next"')
    assert pages.url == "https://api.github.com/repositories/1/issues?page=2"
    pages.advance('<https://api.github.com/repositories/1/issues?page=1>; rel="prev"')
    assert pages.url is None


def test_pages_stop_on_a_loop_and_refuse_another_host() -> None:
    pages = Pages.start("https://api.github.com/a")
    pages.advance('<https://api.github.com/a>; rel="next"')
    assert pages.url is None
    pages = Pages.start("https://api.github.com/a")
    with pytest.raises(ServiceError, match="leaves the API host"):
        pages.advance('<https://evil.example/a?page=2>; rel="next"')


def test_every_page_is_read_through_the_repositories_link(fake: GitHubFake, api: GitHubApi) -> None:
    for n in range(250):
        fake.issues[n + 1] = fake._new_issue({"title": f"t{n}", "labels": ["postmortem"]}, "ops-bot")
    items = list(api.paginate(ISSUES, {"labels": "postmortem", "state": "all"}))
    assert len(items) == 250 and len({i["number"] for i in items}) == 250
    calls = fake.calls("GET")
    assert [c.path for c in calls] == [ISSUES, "/repositories/1296269/issues", "/repositories/1296269/issues"]
    assert calls[1].query["labels"] == ["postmortem"] and calls[1].query["per_page"] == ["100"]


def test_search_pages_take_the_items(fake: GitHubFake, api: GitHubApi) -> None:
    for n in range(3):
        fake._new_issue({"title": f"t{n}", "labels": ["pmai-0000000000a1"]}, "ops-bot")
    found = list(
        api.paginate("/search/issues", {"q": f"repo:{REPO} is:issue label:pmai-0000000000a1"}, key="items")
    )
    assert sorted(i["number"] for i in found) == [1, 2, 3]


# ---- errors ----------------------------------------------------------------------------------------------


def test_bad_credentials_are_an_auth_error_without_the_token(base: str) -> None:
    api = github_api(base, token="ghp_WrongTokenWrongTokenWrongToken0123")
    with pytest.raises(AuthError) as caught:
        api.get(f"/repos/{REPO}")
    assert caught.value.status == 401 and "Bad credentials" in str(caught.value)
    assert "ghp_" not in str(caught.value) and "Issues read and write" in str(caught.value)


def test_a_permission_refusal_is_an_auth_error_not_retried(fake: GitHubFake, api: GitHubApi) -> None:
    fake.fail_next(
        403,
        body={
            "message": "Resource not accessible by personal access token",
            "documentation_url": "https://docs.github.com/rest",
            "status": "403",
        },
    )
    with pytest.raises(AuthError, match="Resource not accessible"):
        api.get(f"/repos/{REPO}")
    assert len(fake.calls()) == 1


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_rate_limit_is_waited_out_and_retried(fake: GitHubFake, base: str, status: int) -> None:
    waits: list[float] = []
    api = GitHubApi(TOKEN, api_url=base, policy=RetryPolicy(base=0.01, sleep=waits.append), write_interval=0)
    fake.secondary_limit(status=status, retry_after="1", times=2)
    assert api.get(f"/repos/{REPO}")["full_name"] == REPO
    assert waits == [1.0, 1.0] and len(fake.calls()) == 3


def test_a_secondary_limit_without_retry_after_waits_a_minute(fake: GitHubFake, base: str) -> None:
    waits: list[float] = []
    api = GitHubApi(
        TOKEN, api_url=base, policy=RetryPolicy(base=0.01, max_wait=60, sleep=waits.append), write_interval=0
    )
    fake.secondary_limit(retry_after=None)
    api.get(f"/repos/{REPO}")
    assert waits == [60.0]


def test_an_exhausted_search_quota_waits_for_its_reset(base: str) -> None:
    fake = GitHubFake(search_limit=2, search_window=1.0)
    with serve(fake) as url:
        api = github_api(url)
        for _ in range(3):  # the third waits for the window to pass, then succeeds
            list(api.paginate("/search/issues", {"q": f"repo:{REPO} is:issue x"}, key="items"))
    refused = [r for r in fake.requests if r.path == "/search/issues"]
    assert len(refused) == 4


def test_a_primary_limit_resetting_later_than_we_wait_is_a_clear_failure(fake: GitHubFake, base: str) -> None:
    api = GitHubApi(TOKEN, api_url=base, policy=RetryPolicy(base=0.01, max_wait=2.0), write_interval=0)
    fake.fail_next(
        403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "4102444800"},
        body={"message": "API rate limit exceeded for user ID 1.", "status": "403"},
    )
    with pytest.raises(ServiceError, match="resets at") as caught:
        api.get(f"/repos/{REPO}")
    assert not caught.value.retriable and len(fake.calls()) == 1


def test_server_errors_are_retried_then_reported(fake: GitHubFake, api: GitHubApi) -> None:
    fake.fail_next(502, times=2)
    assert api.get(f"/repos/{REPO}")["name"] == "ops"
    fake.fail_next(503, times=5)
    with pytest.raises(ServiceError, match="Service Unavailable") as caught:
        api.get(f"/repos/{REPO}")
    assert caught.value.retriable and caught.value.status == 503


def test_not_found_and_gone(fake: GitHubFake, api: GitHubApi) -> None:
    with pytest.raises(NotFoundError, match="check \\[github\\] repo"):
        api.get("/repos/acme/nope")
    fake.fail_next(410, body={"message": "Issues are disabled for this repo", "status": "410"})
    with pytest.raises(ServiceError, match="Issues are disabled") as caught:
        api.get(f"{ISSUES}/1")
    assert caught.value.status == 410 and not caught.value.retriable


def test_a_body_outside_the_schema_is_refused_with_githubs_422(fake: GitHubFake, api: GitHubApi) -> None:
    with pytest.raises(ValidationFailed, match="Invalid request.*properties/labels.*not an array"):
        api.create(ISSUES, {"title": "x", "labels": "postmortem"})
    with pytest.raises(ValidationFailed) as caught:
        api.create(ISSUES, {"title": "x", "assignees": ["nobody-here"]})
    assert caught.value.errors == ("Issue.assignees 'nobody-here' (invalid)",)
    assert fake.issues == {}


# ---- writes ----------------------------------------------------------------------------------------------


def test_a_create_is_sent_once_even_when_its_answer_is_lost(fake: GitHubFake, api: GitHubApi) -> None:
    fake.fail_next(500, method="POST", after=True)
    with pytest.raises(ServiceError) as caught:
        api.create(ISSUES, {"title": "once"})
    assert caught.value.retriable
    assert len(fake.calls("POST")) == 1 and [i.title for i in fake.issues.values()] == ["once"]


def test_unique_creates_are_retried_and_already_exists_is_not_an_error(
    fake: GitHubFake, api: GitHubApi
) -> None:
    body = {"name": "postmortem", "color": "b60205", "description": "x"}
    fake.fail_next(502, method="POST", after=True)  # made, answer lost: the retry is told it exists
    assert api.create_unique(f"/repos/{REPO}/labels", body) is None
    assert len(fake.calls("POST")) == 2 and list(fake.labels) == ["postmortem"]
    assert api.create_unique(f"/repos/{REPO}/labels", {**body, "name": "inc-7"})["name"] == "inc-7"


def test_writes_are_paced_reads_are_not(base: str) -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    api = GitHubApi(
        TOKEN,
        api_url=base,
        policy=RetryPolicy(base=0.01, sleep=sleep),
        write_interval=1.0,
        clock=lambda: now[0],
    )
    api.create_unique(f"/repos/{REPO}/labels", {"name": "a"})
    api.get(f"/repos/{REPO}")
    now[0] += 0.25
    api.create_unique(f"/repos/{REPO}/labels", {"name": "b"})
    api.create(ISSUES, {"title": "t"})
    assert waits == [0.75, 1.0]


def test_requests_carry_githubs_headers(fake: GitHubFake, api: GitHubApi) -> None:
    api.get(f"/repos/{REPO}")
    headers = fake.calls()[0].headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["x-github-api-version"] == "2022-11-28" and headers["user-agent"] == "ops-postmortem"
