"""The thin API layer: pinned client classes, list pagination, retries for reads only, errors in our words."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pytest

from ops_postmortem.config import SecretRef
from ops_postmortem.connectors.confluence.api import ConfluenceApi, next_url
from ops_postmortem.connectors.confluence.settings import ConfluenceSettings
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.errors import AuthError, NotFoundError, RateLimitedError, ServiceError
from tests.contract.confluence_harness import TOKEN_ENV, running_fake, settings_for
from tests.fakes.confluence import BOT_EMAIL, CLOUD_TOKEN, FakeConfluence

FAST = RetryPolicy(attempts=3, base=0.01)


@pytest.fixture(params=["cloud", "datacenter"])
def site(request: pytest.FixtureRequest) -> Iterator[tuple[FakeConfluence, ConfluenceApi]]:
    with running_fake(request.param, page_size=2) as (fake, base):
        yield fake, ConfluenceApi(settings_for(fake, base), retry=FAST)


# ---- pagination -----------------------------------------------------------------------------------


def test_next_url_follows_v1_links_under_the_context_path() -> None:
    base = "https://acme.atlassian.net/wiki"
    assert next_url(base, {"next": "/rest/api/content/search?cql=x&cursor=abc"}, v2=False) == \
        "https://acme.atlassian.net/wiki/rest/api/content/search?cql=x&cursor=abc"
    assert next_url("https://wiki.acme.test/confluence", {"next": "/rest/api/content?start=25"}, v2=False) == \
        "https://wiki.acme.test/confluence/rest/api/content?start=25"


def test_next_url_follows_v2_links_that_carry_the_context() -> None:
    assert next_url("https://acme.atlassian.net/wiki", {"next": "/wiki/api/v2/pages/1/footer-comments?cursor=c"},
                    v2=True) == "https://acme.atlassian.net/wiki/api/v2/pages/1/footer-comments?cursor=c"


def test_next_url_ends_and_never_leaves_the_site() -> None:
    assert next_url("https://acme.atlassian.net/wiki", {}, v2=False) is None
    assert next_url("https://acme.atlassian.net/wiki", {"next": ""}, v2=True) is None
    same = "https://acme.atlassian.net/wiki/rest/api/content?start=2"
    assert next_url("https://acme.atlassian.net/wiki", {"next": same}, v2=False) == same
    with pytest.raises(ServiceError, match="another host"):
        next_url("https://acme.atlassian.net/wiki", {"next": "https://evil.example.com/steal"}, v2=False)


def test_lists_are_read_page_by_page(site: tuple[FakeConfluence, ConfluenceApi]) -> None:
    fake, api = site
    for n in range(5):
        page = fake._new_page(f"Page {n}", "PM", fake.parent_id, "<p>x</p>", fake.bot.key)
        page.labels.append("postmortem")
    before = len(fake.requests)
    found = list(api.search('type = page and label = "postmortem"', "version"))
    assert [p["title"] for p in found] == [f"Page {n}" for n in range(5)]
    searches = fake.requests[before:]
    assert len(searches) == 3  # page size 2 on the fake
    if fake.cloud:
        assert "cursor" in searches[1].query and searches[1].path == "/wiki/rest/api/content/search"
    else:
        assert searches[1].query["start"] == ["2"]


def test_v2_comment_lists_paginate_by_cursor() -> None:
    with running_fake("cloud", page_size=2) as (fake, base):
        api = ConfluenceApi(settings_for(fake, base), retry=FAST)
        page = fake._new_page("P", "PM", None, "<p>text</p>", fake.bot.key)
        for n in range(5):
            fake.human_comment(page.id, "Dana Kim", f"note {n}")
        found = api.comments_v2(page.id, "footer")
        assert len(found) == 5 and all(c["body"]["storage"]["value"] for c in found)
        calls = fake.calls("GET", r"/footer-comments$")
        assert len(calls) == 3 and calls[1].query["cursor"]


# ---- the pinned classes and credentials --------------------------------------------------------------


def test_the_implementation_classes_are_pinned_whatever_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from atlassian.confluence.cloud.cloud import ConfluenceCloud
    from atlassian.confluence.server import Server

    monkeypatch.setenv(TOKEN_ENV, "t")
    token = SecretRef(TOKEN_ENV, "[confluence] token")
    for url in ("https://acme.atlassian.net/wiki", "http://127.0.0.1:9/wiki"):
        api = ConfluenceApi(ConfluenceSettings(url, "PM", token, "cloud", username="bot@acme.test"))
        assert type(api.v1) is Server and type(api.v2) is ConfluenceCloud
        assert api.v1.url == url
    for url in ("https://wiki.acme.test", "https://acme.atlassian.net/wiki"):
        api = ConfluenceApi(ConfluenceSettings(url, "PM", token, "datacenter"))
        assert type(api.v1) is Server and api.v2 is None


def test_cloud_sends_basic_auth_and_data_center_a_bearer_token() -> None:
    with running_fake("cloud") as (fake, base):
        ConfluenceApi(settings_for(fake, base)).get_page(fake.parent_id, "version")
        expected = base64.b64encode(f"{BOT_EMAIL}:{CLOUD_TOKEN}".encode()).decode()
        assert fake.requests[-1].headers["authorization"] == f"Basic {expected}"
    with running_fake("datacenter") as (fake, base):
        ConfluenceApi(settings_for(fake, base)).get_page(fake.parent_id, "version")
        assert fake.requests[-1].headers["authorization"] == f"Bearer {os.environ[TOKEN_ENV]}"


def test_wrong_credentials_are_an_auth_error_without_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_fake("cloud") as (fake, base):
        monkeypatch.setenv(TOKEN_ENV, "wrong-secret-value")
        with pytest.raises(AuthError) as caught:
            ConfluenceApi(settings_for(fake, base), retry=FAST).get_page(fake.parent_id, "version")
        assert "wrong-secret-value" not in str(caught.value)
        assert "API token" in str(caught.value)
        assert len(fake.requests) == 1  # a 401 is not retried


# ---- retries ------------------------------------------------------------------------------------------


def test_reads_are_retried_on_429_with_retry_after_and_on_5xx(site: tuple[FakeConfluence, ConfluenceApi]) -> None:
    fake, api = site
    waits: list[float] = []
    api.retry = RetryPolicy(attempts=4, base=0.01, sleep=waits.append)
    fake.fail_next(429, method="GET", headers={"Retry-After": "7"})
    fake.fail_next(503, method="GET")
    assert api.get_page(fake.parent_id, "version")["id"] == fake.parent_id
    assert len(fake.requests) == 3
    assert waits[0] == 7.0  # the service's Retry-After wins


def test_reads_give_up_after_the_policy_bound(site: tuple[FakeConfluence, ConfluenceApi]) -> None:
    fake, api = site
    fake.fail_next(429, method="GET", headers={"Retry-After": "0"}, times=5)
    with pytest.raises(RateLimitedError):
        api.get_page(fake.parent_id, "version")
    assert len(fake.requests) == 3


def test_writes_are_never_retried_by_the_library_or_the_api(site: tuple[FakeConfluence, ConfluenceApi]) -> None:
    fake, api = site
    fake.fail_next(429, method="POST", headers={"Retry-After": "0"})
    with pytest.raises(RateLimitedError):
        api.create_page({"type": "page", "title": "T", "space": {"key": "PM"},
                         "body": {"storage": {"value": "<p/>", "representation": "storage"}}})
    assert len(fake.calls("POST")) == 1 and len(fake.pages) == 1


def test_a_missing_page_is_not_found(site: tuple[FakeConfluence, ConfluenceApi]) -> None:
    fake, api = site
    with pytest.raises(NotFoundError, match="No content found with id"):
        api.get_page("999", "version")
    assert api.get_property(fake.parent_id, "nope") is None
