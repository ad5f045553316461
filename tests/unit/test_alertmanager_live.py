"""Live Alertmanager (API v2) and Grafana state history against their fakes, compared with the file readers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ops_postmortem.config import Config
from ops_postmortem.connectors.alertmanager.api import AlertmanagerApi, GrafanaApi
from ops_postmortem.connectors.alertmanager.files import AlertmanagerFiles
from ops_postmortem.connectors.alertmanager.live import AlertmanagerLive, GrafanaLive, parse_state_text
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.errors import AuthError, ServiceError
from ops_postmortem.model import Kind
from tests.conftest import EXAMPLES
from tests.fakes.alertmanager import GRAFANA_TOKEN, FakeAlertmanager, FakeGrafana
from tests.fakes.server import serve

WEBHOOKS = EXAMPLES / "alertmanager"
DURING = datetime(2026, 11, 4, 0, 0, 30, tzinfo=UTC)  # both alerts still fire
WINDOW = (datetime(2026, 11, 3, 21, 37, tzinfo=UTC), datetime(2026, 11, 4, 6, 20, tzinfo=UTC))


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


def policy(sleeps: Sleeps | None = None) -> RetryPolicy:
    return RetryPolicy(attempts=4, base=0.01, sleep=sleeps or Sleeps())


@pytest.fixture
def alertmanager() -> Iterator[tuple[FakeAlertmanager, str]]:
    fake = FakeAlertmanager(now=DURING)
    fake.load_webhooks(sorted(WEBHOOKS.glob("*.json")))
    with serve(fake) as url:
        yield fake, url


def test_live_alerts_equal_the_webhooks_seen_so_far(alertmanager: tuple[FakeAlertmanager, str]) -> None:
    _, url = alertmanager
    batch = AlertmanagerLive(AlertmanagerApi(url, retry=policy())).collect_window("INC-2042", WINDOW)
    delivered = [WEBHOOKS / "delivery-c41f0e7a.json", WEBHOOKS / "delivery-5b9d2e13.json"]
    from_files = AlertmanagerFiles(delivered).collect("INC-2042")
    assert batch.events == from_files.events
    assert [e.kind for e in batch.events] == [Kind.ALERT_FIRING, Kind.ALERT_FIRING]
    assert batch.warnings == ()
    assert [r.name for r in batch.raw] == ["alertmanager/alerts.json"]


def test_resolved_alerts_are_gone_from_the_api(alertmanager: tuple[FakeAlertmanager, str]) -> None:
    fake, url = alertmanager
    fake.now = datetime(2026, 11, 4, 1, 0, tzinfo=UTC)
    batch = AlertmanagerLive(AlertmanagerApi(url, retry=policy())).collect_window("INC-2042", WINDOW)
    assert batch.events == ()
    assert "its API lists only alerts that have not ended" in batch.warnings[0]
    assert "--alertmanager PATH" in batch.warnings[0]


def test_window_and_matchers_narrow_the_alerts(alertmanager: tuple[FakeAlertmanager, str]) -> None:
    fake, url = alertmanager
    api = AlertmanagerApi(url, retry=policy())
    narrow = AlertmanagerLive(api, filters=['alertname="CheckoutLatencyP99High"']).collect_window("x", WINDOW)
    assert [e.text.split()[0] for e in narrow.events] == ["CheckoutLatencyP99High"]
    assert fake.calls("GET")[-1].query["filter"] == ['alertname="CheckoutLatencyP99High"']
    assert fake.calls("GET")[-1].arg("silenced") == "true"
    late = (datetime(2026, 11, 3, 23, 37, tzinfo=UTC), None)
    assert [e.text.split()[0] for e in AlertmanagerLive(api).collect_window("x", late).events] == [
        "CheckoutLatencyP99High"]


def test_a_bad_matcher_is_a_clear_error_not_retried(alertmanager: tuple[FakeAlertmanager, str]) -> None:
    fake, url = alertmanager
    with pytest.raises(ServiceError) as caught:
        AlertmanagerLive(AlertmanagerApi(url, retry=policy()), filters=["service=checkout"]).collect_window(
            "x", WINDOW)
    assert str(caught.value) == "alertmanager: bad matcher format: service=checkout (HTTP 400)"
    assert len(fake.calls()) == 1


def test_429_and_5xx(alertmanager: tuple[FakeAlertmanager, str]) -> None:
    fake, url = alertmanager
    sleeps = Sleeps()
    fake.fail_next(429, headers={"Retry-After": "1"})
    fake.fail_next(502)
    batch = AlertmanagerLive(AlertmanagerApi(url, retry=policy(sleeps))).collect_window("x", WINDOW)
    assert len(batch.events) == 2 and len(fake.calls()) == 3
    assert sleeps.waits[0] == 1.0 and sleeps.waits[1] < 1.0


def test_alertmanager_from_config(alertmanager: tuple[FakeAlertmanager, str], tmp_path: Path) -> None:
    _, url = alertmanager
    config = Config(tmp_path / "p.toml", {"alertmanager": {"url": url, "filter": ['alertname=~"CheckoutHigh.*"']}})
    source = AlertmanagerLive.from_config(config, retry=policy())
    assert source.filters == ('alertname=~"CheckoutHigh.*"',)
    assert len(source.collect_window("x", WINDOW).events) == 1


@pytest.fixture
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    fake = FakeGrafana()
    labels = {"alertname": "CheckoutErrorBudgetBurn", "grafana_folder": "Checkout", "severity": "page"}
    start = datetime(2026, 11, 3, 23, 36, 40, tzinfo=UTC)
    fake.add_state(rule_id=12, title="CheckoutErrorBudgetBurn", labels=labels, prev="Normal", new="Pending",
                   at=start - timedelta(minutes=1), dashboard_uid="chk-slo", panel_id=4)
    fake.add_state(rule_id=12, title="CheckoutErrorBudgetBurn", labels=labels, prev="Pending", new="Alerting",
                   at=start, values="B=14.2", dashboard_uid="chk-slo", panel_id=4)
    fake.add_state(rule_id=12, title="CheckoutErrorBudgetBurn", labels=labels, prev="Alerting", new="Normal",
                   at=start + timedelta(minutes=28), values="B=0.4", dashboard_uid="chk-slo", panel_id=4)
    fake.add_state(rule_id=13, title="QueueLag", labels={"alertname": "QueueLag"}, prev="Normal",
                   new="Alerting", at=start + timedelta(minutes=5))
    with serve(fake) as url:
        yield fake, url


def test_grafana_state_history_becomes_firing_and_resolved(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    batch = GrafanaLive(GrafanaApi(url, GRAFANA_TOKEN, retry=policy())).collect_window("x", WINDOW)
    kinds = [(e.kind, e.text.split()[0]) for e in batch.events]
    assert kinds == [(Kind.ALERT_FIRING, "CheckoutErrorBudgetBurn"), (Kind.ALERT_FIRING, "QueueLag"),
                     (Kind.ALERT_RESOLVED, "CheckoutErrorBudgetBurn")]
    assert batch.events[0].link == f"{url}/d/chk-slo?viewPanel=4"
    assert batch.events[0].at == datetime(2026, 11, 3, 23, 36, 40, tzinfo=UTC)
    call = fake.calls("GET")[0]
    assert call.arg("type") == "alert" and call.arg("from") == str(int(WINDOW[0].timestamp() * 1000))


def test_grafana_bad_token(grafana: tuple[FakeGrafana, str]) -> None:
    _, url = grafana
    with pytest.raises(AuthError) as caught:
        GrafanaLive(GrafanaApi(url, "wrong", retry=policy())).collect_window("x", WINDOW)
    assert str(caught.value).startswith("grafana: Invalid API key (HTTP 401): check [grafana] token")


def test_parse_state_text() -> None:
    title, labels, values = parse_state_text('Disk "full" {alertname="DiskFull", path="/var/\\"x\\""} - A=0.97')
    assert title == 'Disk "full"' and labels == {"alertname": "DiskFull", "path": '/var/"x"'} and values == "A=0.97"
    assert parse_state_text("no labels here") == ("no labels here", {}, "")
