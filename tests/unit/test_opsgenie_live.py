"""The live Opsgenie source, over Opsgenie's v2 API and over Jira Service Management operations."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops_postmortem.config import Config
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.connectors.opsgenie.api import JsmOpsApi, LinkCursor, OffsetCursor, OpsgenieApi
from ops_postmortem.connectors.opsgenie.connector import AlertKey
from ops_postmortem.connectors.opsgenie.files import OpsgenieFiles
from ops_postmortem.connectors.opsgenie.live import OpsgenieLive, alert_key
from ops_postmortem.errors import AuthError, ConfigError, NotFoundError, ServiceError
from ops_postmortem.model import Kind
from tests.conftest import FIXTURES
from tests.fakes.opsgenie import CLOUD_ID, JSM_EMAIL, JSM_TOKEN, OPSGENIE_KEY, FakeOpsgenie, throttled
from tests.fakes.server import serve

ALERT = FIXTURES / "opsgenie" / "alert-2042"
ALERT_ID = "c5f8e2a1-6b3d-4f0e-9a7c-2d1e4b6f8a90"
WEB = "https://acme.app.opsgenie.com"


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def fake() -> FakeOpsgenie:
    service = FakeOpsgenie()
    service.load_files(ALERT)
    return service


@pytest.fixture
def url(fake: FakeOpsgenie) -> Iterator[str]:
    with serve(fake) as base:
        yield base


def policy(sleeps: Sleeps | None = None) -> RetryPolicy:
    return RetryPolicy(attempts=4, base=0.01, sleep=sleeps or Sleeps())


def opsgenie(url: str, *, key: str = OPSGENIE_KEY, sleeps: Sleeps | None = None) -> OpsgenieLive:
    return OpsgenieLive(OpsgenieApi(key, base_url=url, retry=policy(sleeps)), web_url=WEB)


def jsm(url: str, *, token: str = JSM_TOKEN, sleeps: Sleeps | None = None) -> OpsgenieLive:
    return OpsgenieLive(JsmOpsApi(JSM_EMAIL, token, CLOUD_ID, base_url=url, retry=policy(sleeps)), web_url=WEB)


def test_live_events_equal_the_file_readers(url: str) -> None:
    from_files = OpsgenieFiles([ALERT], web_url=WEB).collect("2042")
    for source in (opsgenie(url), jsm(url)):
        batch = source.collect("2042")
        assert batch.events == from_files.events
        assert batch.facts == from_files.facts
        assert batch.warnings == ()


def test_logs_are_paged_by_the_last_offset(fake: FakeOpsgenie, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ops_postmortem.connectors.opsgenie.api.PAGE_SIZE", 3)
    batch = opsgenie(url).collect(ALERT_ID)
    calls = fake.calls("GET", r"/logs$")
    offsets = [c.arg("offset") for c in calls]
    ordered = [e["offset"] for e in fake.logs[ALERT_ID]]
    assert offsets == [None, ordered[2], ordered[5]]
    assert {c.arg("direction") for c in calls} == {"next"} and {c.arg("identifierType") for c in calls} == {"id"}
    assert [r.name for r in batch.raw] == ["opsgenie/alert.json", "opsgenie/logs-0001.json",
                                         "opsgenie/logs-0002.json", "opsgenie/logs-0003.json",
                                         "opsgenie/notes-0001.json"]
    assert sum(e.kind == Kind.NOTIFY for e in batch.events) >= 1


def test_jsm_pages_follow_the_after_cursor(fake: FakeOpsgenie, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ops_postmortem.connectors.opsgenie.api.PAGE_SIZE", 3)
    jsm(url).collect("2042")
    calls = fake.calls("GET", r"/v1/alerts/[^/]+/logs$")
    assert [c.arg("after") for c in calls] == [None, "3", "6"]
    assert fake.calls("GET", r"/v1/alerts$")[0].arg("query") == "tinyId:2042"


def test_alert_by_id_tiny_id_or_alias(fake: FakeOpsgenie, url: str) -> None:
    assert opsgenie(url).collect("checkout-api/HighErrorRate/prod").facts[0].ident == ALERT_ID
    assert opsgenie(url).collect("#2042").facts[0].ident == ALERT_ID
    assert opsgenie(url).collect(ALERT_ID).facts[0].number == "2042"
    kinds = [c.arg("identifierType") for c in fake.calls("GET", r"/v2/alerts/[^/]+$")]
    assert kinds == ["alias", "tiny", "id"]
    source = OpsgenieLive(OpsgenieApi(OPSGENIE_KEY, base_url=url, retry=policy()), alert="2042")
    assert source.collect("INC-2042").facts[0].ident == ALERT_ID


def test_jsm_alias_of_a_closed_alert_is_not_found(url: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        jsm(url).collect("checkout-api/HighErrorRate/prod")
    assert str(caught.value).startswith("opsgenie: Alert with given alias does not exist or is closed (HTTP 404)")


def test_alert_key_reads_the_reference() -> None:
    assert alert_key(ALERT_ID) == AlertKey("id", ALERT_ID)
    assert alert_key("#17") == AlertKey("tiny", "17")
    assert alert_key("INC-2042") == AlertKey("alias", "INC-2042")
    assert alert_key("alias:123") == AlertKey("alias", "123")


def test_throttling_waits_for_the_period_opsgenie_gives(fake: FakeOpsgenie, url: str) -> None:
    sleeps = Sleeps()
    fake.fail_next(429, path=r"/notes$", headers=throttled(period=1))
    batch = opsgenie(url, sleeps=sleeps).collect("2042")
    assert sleeps.waits == [1.0]
    assert len(fake.calls("GET", r"/notes$")) == 2 and batch.events


def test_jsm_429_honours_retry_after(fake: FakeOpsgenie, url: str) -> None:
    sleeps = Sleeps()
    fake.fail_next(429, path=r"/v1/alerts/[^/]+/logs$", headers={"Retry-After": "1"})
    started = time.monotonic()
    jsm(url, sleeps=sleeps).collect("2042")
    assert sleeps.waits == [1.0] and time.monotonic() - started >= 1.0


def test_5xx_retried_then_reported(fake: FakeOpsgenie, url: str) -> None:
    fake.fail_next(500, path=r"/logs$", times=1)
    assert opsgenie(url).collect("2042").events
    fake.fail_next(503, path=r"/v2/alerts/[^/]+$", times=10)
    with pytest.raises(ServiceError) as caught:
        opsgenie(url).collect("2042")
    assert str(caught.value) == "opsgenie: Service Unavailable (HTTP 503)"
    assert len(fake.calls("GET", r"/v2/alerts/[^/]+$")) == 1 + 4


def test_bad_credentials_name_the_keys_to_fix(fake: FakeOpsgenie, url: str) -> None:
    with pytest.raises(AuthError) as caught:
        opsgenie(url, key="wrong").collect("2042")
    assert str(caught.value).startswith("opsgenie: Could not authenticate (HTTP 401): check [opsgenie] api_key")
    assert "api.eu.opsgenie.com" in str(caught.value)
    with pytest.raises(AuthError) as jsm_caught:
        jsm(url, token="wrong").collect("2042")
    assert "[opsgenie] jsm_email and api_key" in str(jsm_caught.value) and "wrong" not in str(jsm_caught.value)


def test_from_config_selects_opsgenie_or_jsm(url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPSGENIE_API_KEY", OPSGENIE_KEY)
    monkeypatch.setenv("JSM_API_TOKEN", JSM_TOKEN)
    og = Config(tmp_path / "p.toml", {"opsgenie": {"api_key": {"env": "OPSGENIE_API_KEY"}, "api_url": url}})
    assert OpsgenieLive.from_config(og, retry=policy()).collect("2042").facts[0].ident == ALERT_ID
    section = {"api": "jsm", "api_key": {"env": "JSM_API_TOKEN"}, "api_url": url, "jsm_cloud_id": CLOUD_ID,
               "jsm_email": JSM_EMAIL}
    source = OpsgenieLive.from_config(Config(tmp_path / "p.toml", {"opsgenie": section}), retry=policy())
    assert source.api.flavor == "jsm" and source.collect("2042").facts[0].ident == ALERT_ID
    wrong = Config(tmp_path / "p.toml", {"opsgenie": {"api_key": {"env": "OPSGENIE_API_KEY"},
                                                     "jsm_cloud_id": CLOUD_ID}})
    with pytest.raises(ConfigError, match='api = "jsm"'):
        OpsgenieLive.from_config(wrong)


def test_cursors_stop_on_a_stuck_or_missing_link() -> None:
    cursor = OffsetCursor()
    cursor.advance({"paging": {"next": "x"}}, [{"offset": "1"}, {"offset": "2"}])
    assert cursor.params() == {"direction": "next", "offset": "2"} and not cursor.done
    cursor.advance({"paging": {"next": "x"}}, [{"offset": "2"}])
    assert cursor.done
    link = LinkCursor()
    link.advance({"links": {"next": "https://h/v1/alerts/a/logs?size=3&after=abc"}})
    assert link.params() == {"after": "abc"}
    link.advance({"links": {}})
    assert link.done
