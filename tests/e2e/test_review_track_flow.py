"""Issue 3 end to end on examples/ with the local store and tracker: open, comment, review (3, then 0),
extract (tickets created and written back), extract again (nothing new), close a ticket, sync."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops_postmortem.cli import main
from tests.conftest import EXAMPLES

SOURCES = [
    "--pagerduty", str(EXAMPLES / "pagerduty"),
    "--alertmanager", str(EXAMPLES / "alertmanager"),
    "--events", str(EXAMPLES / "events.csv"),
]
ACTIONS = """| Action | Type | Owner | Due | Priority | Done when | Ticket |
| --- | --- | --- | --- | --- | --- | --- |
| Add a CI check that rejects a DB pool max below 20 for checkout-api | prevent | Priya Raman | 2026-11-24 | P1 | CI fails on a config with max=5 |  |
| Page on DB connection saturation above 90% for 2 minutes | detect | Dana Kim | Nov 20, 2026 | P1 | alert fires in the staging game day |  |
| Improve monitoring | detect | SRE team | TBD | P2 |  |  |
| Idea: move checkout-api to PgBouncer | prevent |  |  |  |  |  |
"""


@pytest.fixture
def doc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POSTMORTEM_CONFIG", raising=False)
    assert main(["open", "INC-2042", *SOURCES, "--severity", "SEV2", "--reviewer", "Dana Kim",
                 "--reviewer", "Alex Chen <alex@acme.test>"]) == 0
    capsys.readouterr()
    path = tmp_path / "postmortems" / "INC-2042.md"
    text = path.read_text()
    empty = "| Action | Type | Owner | Due | Priority | Done when | Ticket |\n| --- | --- | --- | --- | --- | --- | --- |\n"
    assert empty in text
    path.write_text(text.replace(empty, ACTIONS))  # the authors fill the table
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_whole_flow(doc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Review: nobody has signed off yet.
    code, out, _ = run(capsys, "review", "INC-2042", "--json")
    assert code == 3
    report = json.loads(out)
    assert report["signed_off"] is False
    assert [r["status"] for r in report["reviewers"]] == ["pending", "pending"]

    # A correction, then approvals; the correction blocks until resolved.
    assert run(capsys, "comment", "INC-2042", "--author", "Alex Chen <alex@acme.test>",
               "--quote", "Detected at", "Say which alert detected it")[0] == 0
    assert run(capsys, "comment", "INC-2042", "--author", "Dana Kim", "LGTM")[0] == 0
    assert run(capsys, "comment", "INC-2042", "--author", "Alex Chen <alex@acme.test>", "--reply", "c1", "LGTM otherwise")[0] == 0
    code, out, _ = run(capsys, "review", "INC-2042", "--json")
    report = json.loads(out)
    assert code == 3
    statuses = {r["name"]: r["status"] for r in report["reviewers"]}
    assert statuses == {"Dana Kim": "approved", "Alex Chen": "changes_requested"}
    assert [t["quote"] for t in report["open_threads"]] == ["Detected at"]

    assert run(capsys, "comment", "INC-2042", "--author", "Priya Raman", "--resolve", "c1", "clarified")[0] == 0
    code, out, _ = run(capsys, "review", "INC-2042", "--json", "--record")
    assert code == 0, out
    assert json.loads(out)["signed_off"] is True
    text = doc.read_text()
    assert "**Status:** Final" in text
    assert "| Dana Kim |  | Approved |" in text

    # Extract: two valid rows get tickets written back; the vague row is invalid; the idea is ignored.
    code, out, _ = run(capsys, "extract", "INC-2042", "--as-of", "2026-11-10", "--json")
    assert code == 3
    items = json.loads(out)["items"]
    assert [i["verdict"] for i in items] == ["valid", "valid", "invalid", "ignored"]
    assert [i["created"] for i in items] == [True, True, False, False]
    assert [i["ticket"] for i in items] == ["PM-1", "PM-2", None, None]
    assert items[1]["due"] == "2026-11-20"
    assert any(p.startswith("not owned") for p in items[2]["problems"])
    text = doc.read_text()
    assert "| PM-1 |" in text and "| PM-2 |" in text

    # The invalid row was reported on the doc once; a second extract creates and comments nothing new.
    code, out, _ = run(capsys, "comment", "INC-2042", "--list", "--json")
    bot = [c for c in json.loads(out) if c["author"] == "ops-postmortem"]
    assert len(bot) == 1 and "Improve monitoring" in bot[0]["text"]
    code, out, _ = run(capsys, "extract", "INC-2042", "--as-of", "2026-11-10", "--json")
    assert [i["created"] for i in json.loads(out)["items"]] == [False, False, False, False]
    code, out, _ = run(capsys, "tickets", "list", "--json")
    assert [t["key"] for t in json.loads(out)] == ["PM-1", "PM-2"]
    code, out, _ = run(capsys, "comment", "INC-2042", "--list", "--json")
    assert len([c for c in json.loads(out) if c["author"] == "ops-postmortem"]) == 1

    # Close a ticket; sync writes every status back into the doc.
    assert run(capsys, "tickets", "close", "PM-1")[0] == 0
    code, out, err = run(capsys, "sync", "--as-of", "2026-11-10", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["docs"][0]["statuses_written"] == 2
    text = doc.read_text()
    assert "PM-1 - Done" in text and "PM-2 - Open" in text
    # Nothing changed since: the next run skips the doc.
    code, out, _ = run(capsys, "sync", "--json")
    assert json.loads(out)["docs"] == [] and json.loads(out)["skipped_unchanged"] == 1


def test_lint_finds_blame_and_open_prompts(doc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc.write_text(doc.read_text().replace(
        "_TODO(authors): the change or event that set the incident off._",
        "Priya Raman should have checked the pool setting before deploying.",
    ))
    code, out, _ = run(capsys, "lint", "INC-2042", "--json")
    assert code == 3
    rules = {f["rule"] for f in json.loads(out)["findings"]}
    assert {"blame", "unanswered-prompt", "action-item"} <= rules


def test_every_command_has_help_and_is_in_the_readme(capsys: pytest.CaptureFixture[str]) -> None:
    from ops_postmortem.cli import build_parser

    parser = build_parser()
    readme = (EXAMPLES.parent / "README.md").read_text()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in commands.items():
        assert sub.description, name
        assert f"postmortem {name}" in readme, f"`postmortem {name}` is missing from the README"
