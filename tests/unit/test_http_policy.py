from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ops_postmortem.connectors.http import (
    RetryPolicy,
    connection_error,
    error_for_status,
    parse_retry_after,
    scrub,
)
from ops_postmortem.errors import AuthError, NotFoundError, RateLimitedError, ServiceError


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Fri, 27 Nov 2026 10:00:07 GMT", now=now) == 7.0
    assert parse_retry_after("Fri, 27 Nov 2026 09:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_status_mapping() -> None:
    limited = error_for_status("jira", 429, "slow down", headers={"Retry-After": "2"})
    assert isinstance(limited, RateLimitedError) and limited.retry_after == 2.0 and limited.retriable
    assert isinstance(error_for_status("jira", 401, "no"), AuthError)
    missing = error_for_status("google", 404, "gone", not_found_hint="share it with bot@x")
    assert isinstance(missing, NotFoundError) and "share it with bot@x" in str(missing)
    assert error_for_status("jira", 503, "down").retriable
    assert not error_for_status("jira", 400, "bad field").retriable
    google = error_for_status("google", 403, "rateLimitExceeded", rate_limited=True)
    assert isinstance(google, RateLimitedError)


def test_retries_are_bounded_and_honour_retry_after() -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=4, base=0.01, max_wait=5, sleep=waits.append)
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RateLimitedError("slow", service="x", retry_after=3)
        if calls == 2:
            raise RateLimitedError("slow", service="x", retry_after=600)
        if calls == 3:
            raise ServiceError("500", service="x", status=500, retriable=True)
        return "ok"

    assert policy.call(flaky) == "ok"
    assert waits[0] == 3 and waits[1] == 5  # Retry-After honoured, capped at max_wait
    assert 0 < waits[2] <= 0.04


def test_gives_up_after_the_bound_with_the_last_error() -> None:
    policy = RetryPolicy(attempts=3, base=0, sleep=lambda s: None)
    calls = 0

    def down() -> None:
        nonlocal calls
        calls += 1
        raise ServiceError("503", service="x", status=503, retriable=True)

    with pytest.raises(ServiceError, match="503"):
        policy.call(down)
    assert calls == 3


def test_non_retriable_errors_are_not_retried() -> None:
    calls = 0

    def bad() -> None:
        nonlocal calls
        calls += 1
        raise ServiceError("400", service="x", status=400)

    with pytest.raises(ServiceError):
        RetryPolicy(sleep=lambda s: None).call(bad)
    assert calls == 1


def test_secrets_are_scrubbed_from_messages() -> None:
    text = ("GET https://bot:hunter2@jira.acme.test/rest?token=abc123&x=1 failed: Authorization: Bearer "
            "xoxb-1234-abcd api_key=s3cr3t ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    cleaned = scrub(text)
    for secret in ("hunter2", "abc123", "xoxb-1234-abcd", "s3cr3t", "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"):
        assert secret not in cleaned
    assert "x=1" in cleaned and "jira.acme.test" in cleaned


def test_connection_errors_are_retriable_and_scrubbed() -> None:
    err = connection_error("slack", OSError("connect to https://u:pw@h failed"))
    assert err.retriable and "pw@" not in str(err)
