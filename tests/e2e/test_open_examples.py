"""The README's first job end to end: `timeline` and `open` on examples/, through the CLI entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ops_postmortem.cli import main
from tests.conftest import EXAMPLES

EXPECTED = json.loads((EXAMPLES / "expected.json").read_text())
SOURCES = [
    "--pagerduty", str(EXAMPLES / "pagerduty"),
    "--alertmanager", str(EXAMPLES / "alertmanager"),
    "--events", str(EXAMPLES / "events.csv"),
    "--slack-export", str(EXAMPLES / "slack-export"),
    "--slack-channel", "inc-2042-checkout",
    "--slack-workspace-url", "https://acme-corp.slack.com",
]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POSTMORTEM_CONFIG", raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def timeline_json(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    code, out, err = run(capsys, "timeline", "INC-2042", *SOURCES, *extra, "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_timeline_json_has_exactly_the_contract_shape(capsys: pytest.CaptureFixture[str]) -> None:
    data = timeline_json(capsys)
    assert list(data) == ["events", "moments", "durations"]
    assert set(data["moments"]) == {"impact_started", "detected", "acknowledged", "mitigated", "resolved"}
    assert set(data["durations"]) == {"time_to_acknowledge", "time_to_mitigate", "time_to_resolve"}
    for event in data["events"]:
        assert list(event) == ["at", "source", "kind", "actor", "text", "link"]
        assert event["at"].endswith("Z")


def test_timeline_moments_and_durations_match_the_story(capsys: pytest.CaptureFixture[str]) -> None:
    data = timeline_json(capsys)
    assert data["moments"] == EXPECTED["moments"]
    assert data["durations"] == EXPECTED["durations_seconds"]


def test_without_slack_the_pagerduty_note_declares_mitigation(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "timeline", "INC-2042", *SOURCES[:6], "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["moments"]["mitigated"] == EXPECTED["without_slack"]["mitigated"]
    assert data["durations"]["time_to_mitigate"] == EXPECTED["without_slack"]["time_to_mitigate"]


def test_timeline_is_ordered_deduplicated_and_denoised(capsys: pytest.CaptureFixture[str]) -> None:
    events = timeline_json(capsys)["events"]
    times = [e["at"] for e in events]
    assert times == sorted(times)
    pagerduty = [e for e in events if e["source"] == "pagerduty"]
    # 14 log entries, 4 webhooks duplicating them, notification bursts collapsed into one entry each.
    assert len([e for e in pagerduty if e["kind"] == "acknowledge"]) == 2
    assert len([e for e in pagerduty if e["kind"] == "resolve"]) == 1
    assert all(e["kind"] not in ("membership", "channel_change") for e in events)
    notify = [e for e in pagerduty if e["kind"] == "notify"]
    assert len(notify) == 2 and all("(x3)" in e["text"] for e in notify)
    alerts = [e for e in events if e["source"] == "alertmanager"]
    assert [e["kind"] for e in alerts] == ["alert_firing", "alert_firing", "alert_resolved", "alert_resolved"]
    slack_ids = [e["link"] for e in events if e["source"] == "slack"]
    assert len(slack_ids) == len(set(slack_ids))
    assert not any("1793749710000100" in (link or "") for link in slack_ids)  # the tombstone


def test_every_entry_links_to_its_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    events = timeline_json(capsys)["events"]
    missing = [e for e in events if not e["link"]]
    assert [e["text"] for e in missing] == ["Decided on the bridge call to roll back v2.31.0"]  # no link in the CSV
    slack = [e for e in events if e["source"] == "slack"]
    assert all(e["link"].startswith("https://acme-corp.slack.com/archives/C07INC2042/p") for e in slack)


def test_secrets_never_reach_the_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "timeline", "INC-2042", *SOURCES, "--json")
    assert code == 0
    for fragment in EXPECTED["secrets_planted"]["must_not_appear"]:
        assert fragment not in out and fragment not in err
    assert "redacted 2 secret(s)" in err


def test_open_creates_then_finds_the_doc(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "open", "INC-2042", *SOURCES, "--severity", "SEV2", "--json")
    assert code == 0
    result = json.loads(out)
    assert result == {"url": (tmp_path / "postmortems" / "INC-2042.md").as_uri(), "created": True}
    doc = (tmp_path / "postmortems" / "INC-2042.md").read_text()
    assert "**Status:** Draft" in doc and "**Severity:** SEV2" in doc
    assert "### Trigger" in doc and "### Latent conditions" in doc
    for fragment in EXPECTED["secrets_planted"]["must_not_appear"]:
        assert fragment not in doc
    code, out, _ = run(capsys, "open", "INC-2042", *SOURCES, "--json")
    assert json.loads(out)["created"] is False


def test_refresh_keeps_human_edits(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run(capsys, "open", "INC-2042", *SOURCES[:6])
    path = tmp_path / "postmortems" / "INC-2042.md"
    edited = path.read_text().replace(
        "_TODO(authors): the change or event that set the incident off._",
        "The v2.31.0 deploy lowered the pool max to 5 ([PR 1234](https://github.com/acme/checkout-api/pull/1234)).",
    )
    path.write_text(edited)
    code, out, err = run(capsys, "open", "INC-2042", *SOURCES, "--refresh")
    assert code == 0, err
    assert out.startswith("refreshed")
    refreshed = path.read_text()
    assert "The v2.31.0 deploy lowered the pool max to 5" in refreshed
    assert "Error rate back under 0.1% - mitigated." in refreshed  # Slack events arrived


def test_hand_edited_generated_section_is_refused_without_force(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run(capsys, "open", "INC-2042", *SOURCES)
    path = tmp_path / "postmortems" / "INC-2042.md"
    path.write_text(path.read_text().replace("Rolling back to v2.30.4", "Rolling back (edited)"))
    code, _, err = run(capsys, "open", "INC-2042", *SOURCES, "--refresh")
    assert code == 2 and "edited by hand" in err
    code, _, err = run(capsys, "open", "INC-2042", *SOURCES, "--refresh", "--force")
    assert code == 0, err


@pytest.mark.parametrize(
    ("setup", "flags", "message"),
    [
        (lambda d: (d / "bad.json").write_text('{"log_entries": ['), ["--pagerduty", "bad.json"],
         "bad.json: malformed JSON at line 1"),
        (lambda d: (d / "odd.json").write_text('{"hello": 1}'), ["--pagerduty", "odd.json"], "odd.json"),
        (lambda d: (d / "empty.json").write_text(""), ["--alertmanager", "empty.json"], "empty.json: empty file"),
        (lambda d: (d / "naive.csv").write_text("time,kind,text\n2026-11-03 23:00,note,hello\n"),
         ["--events", "naive.csv"], "has no zone"),
        (lambda d: None, ["--slack-export", str(EXAMPLES / "slack-export"), "--slack-channel", "nope"], "nope"),
        (lambda d: None, ["--pagerduty", "missing-dir"], "missing-dir: no such file or directory"),
        (lambda d: None, [], "no evidence given"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, setup, flags: list[str], message: str  # type: ignore[no-untyped-def]
) -> None:
    setup(tmp_path)
    code, _, err = run(capsys, "timeline", "INC-2042", *flags)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_nothing_written_is_lost_on_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run(capsys, "open", "INC-2042", *SOURCES)
    path = tmp_path / "postmortems" / "INC-2042.md"
    before = path.read_bytes()
    (tmp_path / "bad.json").write_text("{")
    code, _, _ = run(capsys, "open", "INC-2042", "--pagerduty", "bad.json", "--refresh")
    assert code == 2
    assert path.read_bytes() == before


def test_the_installed_command_runs_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{")
    proc = subprocess.run(
        [sys.executable, "-m", "ops_postmortem", "timeline", "X", "--pagerduty", "bad.json"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: bad.json: malformed JSON") and "Traceback" not in proc.stderr


def test_terminal_table_when_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "timeline", "INC-2042", *SOURCES)
    assert code == 0
    assert "time_to_resolve      43m 35s" in out
    assert "mitigated            2026-11-04T00:03:15Z" in out
