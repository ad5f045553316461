"""Transport failures a loopback server cannot stage (a connection reset mid-request, a read timeout), for the
clients built on `requests`, with `responses`: a create is never sent twice; a read is retried, bounded."""

from __future__ import annotations

import pytest
import requests
import responses

from ops_postmortem.connectors.github.api import GitHubApi
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.errors import ServiceError

API = "https://api.github.test"


def api() -> GitHubApi:
    return GitHubApi("ghs_token", api_url=API, policy=RetryPolicy(attempts=3, base=0, sleep=lambda s: None),
                     write_interval=0)


@responses.activate
def test_a_create_whose_connection_dropped_is_not_sent_again() -> None:
    responses.post(f"{API}/repos/acme/ops/issues", body=requests.ConnectionError("connection reset by peer"))
    with pytest.raises(ServiceError, match="cannot reach the service") as info:
        api().create("/repos/acme/ops/issues", {"title": "x"})
    assert info.value.retriable  # the caller may look up and try again, never blindly resend
    assert len(responses.calls) == 1


@responses.activate
def test_a_read_that_timed_out_is_retried_within_the_bound() -> None:
    url = f"{API}/repos/acme/ops"
    responses.get(url, body=requests.ReadTimeout("read timed out"))
    responses.get(url, body=requests.ReadTimeout("read timed out"))
    responses.get(url, json={"full_name": "acme/ops", "id": 1})
    assert api().get("/repos/acme/ops")["full_name"] == "acme/ops"
    assert len(responses.calls) == 3


@responses.activate
def test_reads_give_up_after_the_bound_with_a_scrubbed_message() -> None:
    url = f"{API}/repos/acme/ops"
    for _ in range(3):
        responses.get(url, body=requests.ConnectionError(f"failed https://x:ghs_secret123@{API[8:]}"))
    with pytest.raises(ServiceError) as info:
        api().get("/repos/acme/ops")
    assert "ghs_secret123" not in str(info.value)
    assert len(responses.calls) == 3
