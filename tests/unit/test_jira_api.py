"""The thin Jira API: the client class pinned whatever the URL, paging as a small state machine, Jira's error
bodies (JSON or plain text) mapped to ours, reads retried by the shared policy honouring Retry-After, and
creates never retried except after a 429."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from atlassian import JiraCloud
from atlassian.jira import JiraServer

from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.connectors.jira.api import JiraApi, JiraError, Page, UncertainCreate, next_page
from ops_postmortem.errors import AuthError, RateLimitedError, ServiceError
from tests.fakes.jira import TOKEN, FakeJira, Flavour, jira_settings
from tests.fakes.server import serve


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(params=["cloud", "datacenter"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[FakeJira, JiraApi, Sleeps]]:
    flavour: Flavour = request.param
    fake = FakeJira(flavour)
    sleeps = Sleeps()
    with serve(fake) as base:
        fake.base_url = base
        yield fake, JiraApi.connect(jira_settings(base, flavour), TOKEN, RetryPolicy(base=0.01, sleep=sleeps)), sleeps


def update(summary: str = "Add an alert") -> dict[str, Any]:
    return {"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": summary,
                       "labels": ["postmortem"]}}


def test_the_class_is_pinned_not_guessed_from_the_url() -> None:
    # 127.0.0.1 would make the library pick its Server classes; Cloud settings still get JiraCloud (v3).
    cloud = JiraApi.connect(jira_settings("http://127.0.0.1:9", "cloud"), TOKEN)
    assert isinstance(cloud.client, JiraCloud) and cloud.client.api_version == 3
    assert cloud.client.session.auth == ("bot@acme.test", TOKEN)
    dc = JiraApi.connect(jira_settings("https://jira.acme.test", "datacenter"), TOKEN)
    assert isinstance(dc.client, JiraServer) and not dc.client.cloud
    assert dc.client.session.headers["Authorization"] == f"Bearer {TOKEN}"
    basic = JiraApi.connect(jira_settings("https://jira.acme.test", "datacenter", username="svc-postmortem"), TOKEN)
    assert basic.client.session.auth == ("svc-postmortem", TOKEN)
    for api in (cloud, dc, basic):
        assert api.client.retry_with_header is False and api.client.backoff_and_retry is False


def test_paging_cloud_tokens() -> None:
    assert next_page(True, Page(), {"issues": [{}], "nextPageToken": "t1", "isLast": False}) == Page(token="t1")
    assert next_page(True, Page(token="t1"), {"issues": [{}], "isLast": True}) is None
    assert next_page(True, Page(), {"issues": [{}], "isLast": False}) is None  # no token: nothing more to ask
    assert next_page(True, Page(token="t1"), {"issues": [{}], "nextPageToken": "t1", "isLast": False}) is None


def test_paging_data_center_offsets() -> None:
    assert next_page(False, Page(), {"startAt": 0, "total": 5, "issues": [{}, {}]}) == Page(start=2)
    assert next_page(False, Page(start=4), {"startAt": 4, "total": 5, "issues": [{}]}) is None
    assert next_page(False, Page(start=2), {"startAt": 2, "total": 9, "issues": []}) is None  # shrank meanwhile


def test_error_bodies() -> None:
    fields = JiraError.parse(400, {"errorMessages": [], "errors": {"duedate": "Field 'duedate' cannot be set."}})
    assert str(fields) == "duedate: Field 'duedate' cannot be set."
    plain = JiraError.parse(401, "Client must be authenticated to access this resource.")
    assert str(plain) == "Client must be authenticated to access this resource." and not plain.fields
    assert str(JiraError.parse(500, "")) == "HTTP 500"
    assert "s3cr3t" not in str(JiraError.parse(400, {"errorMessages": ["bad token=s3cr3t"]}))


def test_a_401_in_plain_text_is_an_auth_error_with_the_fix(served: tuple[FakeJira, JiraApi, Sleeps]) -> None:
    fake, _, _ = served
    api = JiraApi.connect(jira_settings(fake.base_url, fake.flavour), "wrong-token", RetryPolicy(base=0.01))
    with pytest.raises(AuthError) as raised:
        api.find_users("dana")
    assert "Client must be authenticated" in str(raised.value)
    assert "[jira] token" in str(raised.value) and "wrong-token" not in str(raised.value)
    assert len(fake.calls()) == 1


def test_reads_honour_retry_after_through_the_shared_policy(served: tuple[FakeJira, JiraApi, Sleeps]) -> None:
    fake, api, sleeps = served
    fake.fail_next(429, path="/search", headers={"Retry-After": "7"})
    fake.fail_next(503, path="/search")
    assert list(api.search("labels = postmortem", ["summary"])) == []
    assert len(fake.calls(path="/search")) == 3
    assert sleeps[0] == 7.0 and len(sleeps) == 2


def test_a_search_that_keeps_failing_raises_after_the_bound(served: tuple[FakeJira, JiraApi, Sleeps]) -> None:
    fake, api, _ = served
    fake.fail_next(500, path="/search", times=10)
    with pytest.raises(ServiceError) as raised:
        list(api.search("labels = postmortem", ["summary"]))
    assert raised.value.retriable and len(fake.calls(path="/search")) == 5


def test_a_create_is_retried_only_after_a_429(served: tuple[FakeJira, JiraApi, Sleeps]) -> None:
    fake, api, sleeps = served
    fake.fail_next(429, method="POST", path="/issue/bulk", headers={"Retry-After": "1"})
    issues, errors = api.create_issues([update()])
    assert [i["key"] for i in issues] == ["OPS-1"] and errors == []
    assert len(fake.calls("POST", "/issue/bulk")) == 2 and sleeps == [1.0]

    fake.fail_next(500, method="POST", path="/issue/bulk", after=True)
    with pytest.raises(UncertainCreate):
        api.create_issues([update("second")])
    assert len(fake.calls("POST", "/issue/bulk")) == 3 and len(fake.issues) == 2  # sent once, and committed

    fake.fail_next(429, method="POST", path="/issue/bulk", headers={"Retry-After": "0"}, times=10)
    with pytest.raises(RateLimitedError):
        api.create_issues([update("third")])
    assert len(fake.calls("POST", "/issue/bulk")) == 8 and len(fake.issues) == 2


def test_a_dropped_connection_during_a_create_is_uncertain() -> None:
    api = JiraApi.connect(jira_settings("http://127.0.0.1:9", "cloud"), TOKEN, RetryPolicy(base=0.01))
    with pytest.raises(UncertainCreate, match="no answer to the create"):
        api.create_issues([update()])


def test_bulk_create_reports_each_refusal_by_element(served: tuple[FakeJira, JiraApi, Sleeps]) -> None:
    _, api, _ = served
    issues, errors = api.create_issues([update(), update(""), update("third")])
    assert [i["key"] for i in issues] == ["OPS-1", "OPS-2"]
    assert [(e["failedElementNumber"], e["elementErrors"]["errors"]) for e in errors] == [
        (1, {"summary": "You must specify a summary of the issue."})]
    issues, errors = api.create_issues([update("")])  # none created: Jira answers 400 with the same shape
    assert issues == [] and errors[0]["failedElementNumber"] == 0
