"""The live PagerDuty source: requests against the stateful fake, compared with the file reader."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops_postmortem.config import Config
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.connectors.pagerduty.api import ITERATION_LIMIT, OffsetPages, PagerDutyApi
from ops_postmortem.connectors.pagerduty.files import PagerDutyFiles
from ops_postmortem.connectors.pagerduty.live import PagerDutyLive
from ops_postmortem.errors import AuthError, NotFoundError, ServiceError
from ops_postmortem.model import Kind
from tests.conftest import EXAMPLES
from tests.fakes.pagerduty import FakePagerDuty, rate_limited
from tests.fakes.server import serve

TOKEN = "pd-test-token"


class Sleeps:
    """A real, recorded sleep: the test proves the wait happened and how long it was."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def fake() -> FakePagerDuty:
    service = FakePagerDuty(TOKEN)
    service.load_files(EXAMPLES / "pagerduty")
    return service


@pytest.fixture
def url(fake: FakePagerDuty) -> Iterator[str]:
    with serve(fake) as base:
        yield base


def live(url: str, *, token: str = TOKEN, page_size: int = 100, sleeps: Sleeps | None = None,
         incident: str | None = None) -> PagerDutyLive:
    retry = RetryPolicy(attempts=4, base=0.01, sleep=sleeps or Sleeps())
    return PagerDutyLive(PagerDutyApi(token, base_url=url, retry=retry, page_size=page_size), incident=incident)


def test_live_events_equal_the_file_readers(url: str) -> None:
    from_files = PagerDutyFiles([EXAMPLES / "pagerduty"]).collect("4817")
    from_api = live(url, page_size=8).collect("4817")
    assert from_api.events == from_files.events
    assert from_api.facts == from_files.facts
    assert from_api.warnings == ()
    assert len(from_api.events) == 14


def test_every_log_entry_page_is_read_with_is_overview_false(fake: FakePagerDuty, url: str) -> None:
    batch = live(url, page_size=3).collect("Q2K7XV3LPN8RTA")
    calls = fake.calls("GET", r"/log_entries$")
    assert [c.arg("offset") for c in calls] == ["0", "3", "6", "9", "12"]
    assert {c.arg("is_overview") for c in calls} == {"false"}
    assert {c.arg("time_zone") for c in calls} == {"UTC"}
    assert sum(e.kind == Kind.NOTIFY for e in batch.events) == 6
    names = [r.name for r in batch.raw]
    assert names == ["pagerduty/incident.json"] + [f"pagerduty/log_entries-000{n}.json" for n in range(1, 6)] + [
        "pagerduty/notes.json"]
    page = json.loads(batch.raw[1].data)
    assert page["offset"] == 0 and page["more"] is True and page["total"] == 14


def test_notes_and_annotate_entries_count_once(fake: FakePagerDuty, url: str) -> None:
    batch = live(url).collect("4817")
    notes = [e for e in batch.events if e.kind == Kind.NOTE]
    assert len(fake.notes["Q2K7XV3LPN8RTA"]) == 2
    assert [n.text[:30] for n in notes] == ["Mitigated by rolling back to v", "Connection pool max lowered fr"]


def test_a_note_only_in_the_notes_endpoint_is_kept(fake: FakePagerDuty, url: str) -> None:
    fake.notes["Q2K7XV3LPN8RTA"].append({
        "id": "PNOTE99", "user": {"id": "PK3D7NA", "type": "user_reference", "summary": "Dana Kim"},
        "channel": {"summary": "The PagerDuty website or APIs"}, "content": "Customer comms sent",
        "created_at": "2026-11-03T16:15:00-08:00"})
    batch = live(url).collect("4817")
    extra = [e for e in batch.events if e.text == "Customer comms sent"]
    assert len(extra) == 1 and extra[0].actor == "Dana Kim" and extra[0].kind == Kind.NOTE


def test_incident_by_number_id_and_incident_key(fake: FakePagerDuty, url: str) -> None:
    assert live(url).collect("#4817").facts[0].ident == "Q2K7XV3LPN8RTA"
    assert live(url, incident="4817").collect("INC-2042").facts[0].number == "4817"
    fake.incidents["Q2K7XV3LPN8RTA"]["incident_key"] = "INC-2042"
    batch = live(url).collect("INC-2042")
    assert batch.facts[0].ident == "Q2K7XV3LPN8RTA"
    listing = fake.calls("GET", r"^/incidents$")
    assert listing[-1].arg("incident_key") == "INC-2042" and listing[-1].arg("date_range") == "all"


def test_unknown_incident_names_the_flag(url: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        live(url).collect("INC-9999")
    message = str(caught.value)
    assert message.startswith("pagerduty: no incident has the id, number or incident key 'INC-9999'")
    assert "--pagerduty-incident" in message and "\n" not in message


def test_429_waits_as_long_as_ratelimit_reset_says(fake: FakePagerDuty, url: str) -> None:
    sleeps = Sleeps()
    fake.fail_next(429, path=r"/log_entries$", headers=rate_limited(reset=1))
    started = time.monotonic()
    batch = live(url, sleeps=sleeps, page_size=8).collect("4817")
    assert sleeps.waits == [1.0]
    assert time.monotonic() - started >= 1.0
    assert len(batch.events) == 14
    assert [c.arg("offset") for c in fake.calls("GET", r"/log_entries$")] == ["0", "0", "8"]


def test_5xx_is_retried_then_reported(fake: FakePagerDuty, url: str) -> None:
    fake.fail_next(503, path=r"/notes$", times=2)
    assert len(live(url).collect("4817").events) == 14
    fake.fail_next(502, path=r"/notes$", times=10)
    with pytest.raises(ServiceError) as caught:
        live(url).collect("4817")
    assert caught.value.retriable and caught.value.status == 502
    assert str(caught.value) == "pagerduty: Bad Gateway (HTTP 502)"


def test_bad_credentials_give_one_line_naming_the_fix(fake: FakePagerDuty, url: str) -> None:
    with pytest.raises(AuthError) as caught:
        live(url, token="wrong").collect("4817")
    message = str(caught.value)
    assert message.startswith("pagerduty: Unauthorized (HTTP 401): check [pagerduty] token")
    assert "api.eu.pagerduty.com" in message and "wrong" not in message and "\n" not in message
    assert len(fake.calls()) == 1  # never retried


def test_from_config_reads_the_token_from_the_environment(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", TOKEN)
    config = Config(tmp_path / "postmortem.toml",
                    {"pagerduty": {"token": {"env": "PAGERDUTY_API_TOKEN"}, "api_url": url}})
    source = PagerDutyLive.from_config(config, retry=RetryPolicy(base=0.01))
    assert source.api.base_url == url
    assert source.collect("4817").facts[0].title == "checkout-api: elevated 5xx on POST /v1/orders"


def test_default_region_is_the_us_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD", "x")
    source = PagerDutyLive.from_config(Config(None, {"pagerduty": {"token": {"env": "PD"}}}))
    assert source.api.base_url == "https://api.pagerduty.com"


def test_offset_pages_state_machine() -> None:
    pager = OffsetPages(limit=100)
    pager.advance({"more": True, "total": 250}, [0] * 100)
    assert (pager.offset, pager.done, pager.total) == (100, False, 250)
    pager.advance({"more": True}, [0] * 50)  # the server capped the page: advance by what came
    assert pager.offset == 150 and not pager.done
    pager.advance({"more": True}, [])  # more with nothing: stop rather than loop
    assert pager.done and not pager.truncated
    horizon = OffsetPages(limit=100, offset=ITERATION_LIMIT - 100)
    horizon.advance({"more": True}, [0] * 100)
    assert horizon.done and horizon.truncated


def test_the_incident_channel_names_the_page_when_the_ids_differ(url: str) -> None:
    asked: list[str] = []

    def references(incident_id: str) -> list[str]:
        asked.append(incident_id)
        return ["9999", "4817"]  # the first names nothing: the next is tried

    api = PagerDutyApi(TOKEN, base_url=url, retry=RetryPolicy(attempts=2, base=0.01, sleep=Sleeps()))
    batch = PagerDutyLive(api, references=references).collect("INC-2042")
    assert asked == ["INC-2042"]
    assert batch.facts[0].number == "4817"


def test_without_any_reference_the_error_names_both_fixes(url: str) -> None:
    api = PagerDutyApi(TOKEN, base_url=url, retry=RetryPolicy(attempts=2, base=0.01, sleep=Sleeps()))
    with pytest.raises(NotFoundError, match="INC-2042") as info:
        PagerDutyLive(api, references=lambda _: []).collect("INC-2042")
    assert "--pagerduty-incident" in str(info.value) and "PD #1234" in str(info.value)
