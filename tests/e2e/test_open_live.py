"""`postmortem open INC-2042` with only a config: PagerDuty, Opsgenie, Alertmanager and Slack read live from their
fakes, loaded with the example incident, give the moments of examples/expected.json."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ops_postmortem.cli import main
from tests.conftest import EXAMPLES, FIXTURES
from tests.fakes.alertmanager import FakeAlertmanager
from tests.fakes.opsgenie import OPSGENIE_KEY, FakeOpsgenie
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.server import serve
from tests.fakes.slack import TOKEN as SLACK_TOKEN
from tests.fakes.slack import FakeSlack

EXPECTED = json.loads((EXAMPLES / "expected.json").read_text())
# The postmortem is opened minutes after mitigation: Alertmanager still holds both alerts (its API drops an
# alert once it has ended), while PagerDuty, Opsgenie and Slack keep their history.
OPENED_AT = datetime(2026, 11, 4, 0, 0, 30, tzinfo=UTC)


@dataclass
class Services:
    pagerduty: FakePagerDuty
    opsgenie: FakeOpsgenie
    alertmanager: FakeAlertmanager
    slack: FakeSlack
    config: Path
    docs: Path


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    pagerduty = FakePagerDuty()
    pagerduty.load_files(EXAMPLES / "pagerduty")
    opsgenie = FakeOpsgenie()
    opsgenie.load_files(FIXTURES / "opsgenie" / "inc-2042")
    alertmanager = FakeAlertmanager(now=OPENED_AT)
    alertmanager.load_webhooks(sorted((EXAMPLES / "alertmanager").glob("*.json")))
    slack = FakeSlack(url="https://acme-corp.slack.com/")
    slack.load_export(EXAMPLES / "slack-export")
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", pagerduty.token)
    monkeypatch.setenv("OPSGENIE_API_KEY", OPSGENIE_KEY)
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.chdir(tmp_path)
    with serve(pagerduty) as pd_url, serve(opsgenie) as og_url, serve(alertmanager) as am_url, \
            serve(slack) as slack_url:
        config = tmp_path / "postmortem.toml"
        config.write_text(f"""
[local]
dir = "docs"

[pagerduty]
token = {{ env = "PAGERDUTY_API_TOKEN" }}
api_url = "{pd_url}"

[opsgenie]
api_key = {{ env = "OPSGENIE_API_KEY" }}
api_url = "{og_url}"

[alertmanager]
url = "{am_url}"

[slack]
token = {{ env = "SLACK_BOT_TOKEN" }}
api_url = "{slack_url}/api/"
channel_pattern = "{{id}}-*"
workspace_url = "https://acme-corp.slack.com"
""")
        yield Services(pagerduty, opsgenie, alertmanager, slack, config, tmp_path / "docs")


def run(services: Services, *args: str) -> int:
    return main(["--config", str(services.config), *args])


def test_open_with_only_a_config_gives_the_expected_moments(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    # INC-2042 is the team's own id: the incident channel's topic ("PD #4817") leads to the page.
    assert run(services, "timeline", "INC-2042", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    expected = EXPECTED["moments"]
    for moment in ("detected", "acknowledged", "mitigated", "resolved"):
        assert out["moments"][moment][:19] == expected[moment][:19], moment
    assert out["moments"]["impact_started"] is None  # only a hand-written row or --impact-started says so
    assert out["durations"] == EXPECTED["durations_seconds"]
    sources = {e["source"] for e in out["events"]}
    assert sources == {"pagerduty", "opsgenie", "alertmanager", "slack"}

    assert run(services, "open", "INC-2042", "--severity", "SEV2", "--json") == 0
    opened = json.loads(capsys.readouterr().out)
    assert opened["created"] is True
    doc = (services.docs / "INC-2042.md").read_text()
    assert "checkout-api: elevated 5xx on POST /v1/orders" in doc
    assert "Incomplete" not in doc
    for planted in EXPECTED["secrets_planted"]["must_not_appear"]:
        assert planted not in doc


def test_file_flags_combine_with_the_live_sources(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(services, "timeline", "INC-2042", "--pagerduty-incident", "4817", "--events",
               str(EXAMPLES / "events.csv"), "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert {k: (v or "")[:19] for k, v in out["moments"].items()} == {
        k: v[:19] for k, v in EXPECTED["moments"].items()}
    assert "events" in {e["source"] for e in out["events"]}


def test_the_evidence_archive_keeps_redacted_raw_responses(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(services, "open", "INC-2042", "--pagerduty-incident", "4817") == 0
    err = capsys.readouterr().err
    assert "evidence file(s) with the postmortem" in err
    folder = services.docs / "INC-2042.evidence"
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*.json")}
    assert {"pagerduty/incident.json", "pagerduty/log_entries-0001.json", "pagerduty/notes.json",
            "opsgenie/alert.json", "alertmanager/alerts.json"} <= names
    assert any(n.startswith("slack/") for n in names)
    for path in folder.rglob("*.json"):
        text = path.read_text()
        json.loads(text)  # still valid JSON
        for planted in EXPECTED["secrets_planted"]["must_not_appear"]:
            assert planted not in text, path


def test_no_archive_keeps_nothing(services: Services) -> None:
    assert run(services, "open", "INC-2042", "--pagerduty-incident", "4817", "--no-archive") == 0
    assert (services.docs / "INC-2042.md").is_file()
    assert not (services.docs / "INC-2042.evidence").exists()


def test_a_source_that_is_down_leaves_a_visible_note(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    services.opsgenie.fail_next(503, times=100)
    assert run(services, "open", "INC-2042", "--pagerduty-incident", "4817") == 0
    captured = capsys.readouterr()
    assert "opsgenie: Service Unavailable (HTTP 503) - the postmortem opens without opsgenie" in captured.err
    doc = (services.docs / "INC-2042.md").read_text()
    assert "these sources could not be read, so their events are missing: opsgenie (HTTP 503)" in doc
    assert "Dana Kim" in doc  # the others were read


def test_bad_credentials_of_the_only_anchor_still_open_from_the_rest(
    services: Services, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", "revoked")
    assert run(services, "open", "INC-2042", "--pagerduty-incident", "4817") == 0
    err = capsys.readouterr().err
    assert "pagerduty: Unauthorized (HTTP 401): check [pagerduty] token" in err
    doc = (services.docs / "INC-2042.md").read_text()
    assert "pagerduty (credentials refused)" in doc


def test_a_missing_secret_is_a_config_error(services: Services, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPSGENIE_API_KEY")
    assert run(services, "open", "INC-2042") == 2
    assert "OPSGENIE_API_KEY is not set" in capsys.readouterr().err


def test_offline_reads_only_the_files(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(services, "timeline", "INC-2042", "--offline", "--pagerduty", str(EXAMPLES / "pagerduty"),
               "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert {e["source"] for e in out["events"]} == {"pagerduty"}
    assert services.opsgenie.calls() == []
