"""The track flow through the CLI with the local store and `[tracker] kind = "jira"`, on Cloud (whose search
never catches up here unless asked to reconcile) and on Data Center: extract creates every ticket in one bulk
request, a second extract creates nothing, a run killed before the write-back binds the same tickets, a ticket
closed in Jira reaches the doc through sync; and a create answered with a 500 after Jira committed it is never
duplicated."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops_postmortem.cli import main
from tests.conftest import EXAMPLES, ROOT
from tests.fakes.jira import EMAIL, TOKEN, FakeJira, Flavour, JiraUser
from tests.fakes.server import serve

SOURCES = ["--pagerduty", str(EXAMPLES / "pagerduty"), "--alertmanager", str(EXAMPLES / "alertmanager")]
EMPTY = "| Action | Type | Owner | Due | Priority | Done when | Ticket |\n| --- | --- | --- | --- | --- | --- | --- |\n"
ACTIONS = EMPTY + """\
| Add a CI check that rejects a DB pool max below 20 for checkout-api | prevent | Priya Raman | 2026-11-24 | P1 | CI fails on a config with max=5 |  |
| Page on DB connection saturation above 90% for 2 minutes | detect | dana@acme.test | Nov 20, 2026 | P2 | alert fires in the staging game day |  |
| Improve monitoring | detect | SRE team | TBD | P2 |  |  |
"""
USERS = [
    JiraUser("Priya Raman", "priya@acme.test", account_id="712020:priya", name="praman"),
    JiraUser("Dana Kim", "dana@acme.test", account_id="712020:dana", name="dkim", email_visible=False),
]


@pytest.fixture(params=["cloud", "datacenter"])
def jira(request: pytest.FixtureRequest) -> Iterator[tuple[FakeJira, str]]:
    flavour: Flavour = request.param
    # On Cloud, search never shows a new issue unless the tracker reconciles it: the worst case of the lag.
    fake = FakeJira(flavour, users=USERS, search_lag=10_000 if flavour == "cloud" else 0)
    with serve(fake) as base:
        fake.base_url = base
        yield fake, base


@pytest.fixture
def doc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        jira: tuple[FakeJira, str]) -> Path:
    fake, base = jira
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POSTMORTEM_CONFIG", raising=False)
    monkeypatch.setenv("JIRA_API_TOKEN", TOKEN)
    login = f'username = "{EMAIL}"\napi_version = 3' if fake.cloud else "api_version = 2"
    (tmp_path / "postmortem.toml").write_text(f"""
[tracker]
kind = "jira"

[jira]
url = "{base}"
{login}
token = {{ env = "JIRA_API_TOKEN" }}
project = "OPS"
priority_map = {{ P1 = "High", P2 = "Medium" }}
""")
    assert main(["open", "INC-2042", *SOURCES, "--severity", "SEV2"]) == 0
    capsys.readouterr()
    path = tmp_path / "postmortems" / "INC-2042.md"
    text = path.read_text()
    assert EMPTY in text
    path.write_text(text.replace(EMPTY, ACTIONS))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip().startswith("{") else {}, err


def items(report: dict[str, object]) -> list[dict[str, object]]:
    return report["items"]  # type: ignore[return-value]


def test_extract_twice_close_in_jira_and_sync(doc: Path, jira: tuple[FakeJira, str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    fake, base = jira
    code, report, err = run(capsys, "extract", "INC-2042", "--as-of", "2026-11-10", "--json")
    assert code == 3, err  # the vague row is invalid
    assert [i["verdict"] for i in items(report)] == ["valid", "valid", "invalid"]
    assert [i["ticket"] for i in items(report)] == ["OPS-1", "OPS-2", None]
    assert [i["created"] for i in items(report)] == [True, True, False]
    # One bulk create for both rows, carrying the owner, due date, mapped priority and labels.
    [bulk] = fake.calls("POST", r"/issue/bulk$")
    assert len(bulk.json()["issueUpdates"]) == 2
    first, second = fake.by_key("OPS-1"), fake.by_key("OPS-2")
    assert first is not None and second is not None
    assert first.assignee is not None and first.assignee.display_name == "Priya Raman"
    assert second.assignee is not None and second.assignee.display_name == "Dana Kim"  # hidden e-mail, still found
    assert (first.duedate, first.priority, second.priority) == ("2026-11-24", "High", "Medium")
    assert first.labels[:2] == ["postmortem", "inc-2042"] and re.fullmatch(r"pmai-[0-9a-f]{12}", first.labels[2])
    assert isinstance(first.description, dict if fake.cloud else str)
    text = doc.read_text()
    assert f"[OPS-1]({base}/browse/OPS-1)" in text and f"[OPS-2]({base}/browse/OPS-2)" in text

    # Again: nothing new is created.
    code, report, _ = run(capsys, "extract", "INC-2042", "--as-of", "2026-11-10", "--json")
    assert [i["created"] for i in items(report)] == [False, False, False]
    assert len(fake.calls("POST", r"/issue/bulk$")) == 1

    # A run killed between creating and writing back: the Ticket cells are empty again.
    doc.write_text(re.sub(r"\[OPS-\d\]\([^)]*\)", "", doc.read_text()))
    code, report, _ = run(capsys, "extract", "INC-2042", "--as-of", "2026-11-10", "--json")
    assert [i["ticket"] for i in items(report)] == ["OPS-1", "OPS-2", None]
    assert [i["created"] for i in items(report)] == [False, False, False]
    assert len(fake.calls("POST", r"/issue/bulk$")) == 1 and len(fake.issues) == 2

    # Someone closes OPS-1 in Jira; sync writes both statuses back, then has nothing to do.
    fake.transition("OPS-1", "Done")
    code, report, err = run(capsys, "sync", "--as-of", "2026-11-10", "--json")
    assert code == 0, err
    assert report["docs"][0]["statuses_written"] == 2  # type: ignore[index]
    assert report["docs"][0]["done"] == 1  # type: ignore[index]
    text = doc.read_text()
    assert "OPS-1 - Done" in text and "OPS-2 - To Do" in text
    code, report, _ = run(capsys, "sync", "--json")
    assert report["docs"] == [] and report["skipped_unchanged"] == 1


def test_a_create_committed_then_answered_500_is_never_duplicated(
        doc: Path, jira: tuple[FakeJira, str], capsys: pytest.CaptureFixture[str]) -> None:
    fake, _ = jira
    fake.fail_next(500, method="POST", path=r"/issue/bulk$", after=True)
    code, report, _ = run(capsys, "extract", "INC-2042", "--as-of", "2026-11-10", "--json")
    assert code == 3
    assert [i["ticket"] for i in items(report)] == [None, None, None]
    for item in items(report)[:2]:
        assert any("may have been created" in p for p in item["problems"])  # type: ignore[attr-defined]
    assert len(fake.issues) == 2  # Jira did create them

    # The next run looks first. Cloud's search does not show them yet, so it waits rather than create again.
    code, report, _ = run(capsys, "extract", "INC-2042", "--as-of", "2026-11-10", "--json")
    assert len(fake.issues) == 2 and len(fake.calls("POST", r"/issue/bulk$")) == 1
    if fake.cloud:
        assert [i["ticket"] for i in items(report)] == [None, None, None]
        assert all(any("looked up again" in p for p in i["problems"]) for i in items(report)[:2])  # type: ignore[attr-defined]
        fake.catch_up()
        code, report, _ = run(capsys, "extract", "INC-2042", "--as-of", "2026-11-10", "--json")
    assert [i["ticket"] for i in items(report)] == ["OPS-1", "OPS-2", None]
    assert len(fake.issues) == 2 and len(fake.calls("POST", r"/issue/bulk$")) == 1


# ---- at scale: two runners, two state files, one ticket per item ---------------------------------------

ROWS = {
    "INC-7": [("Add a CI check that rejects a DB pool max below 20", "prevent", "Priya Raman", "2026-11-24", "P1",
               "CI fails on max=5"),
              ("Page on DB connection saturation above 90% for 2 minutes", "detect", "Dana Kim", "2026-11-20", "P1",
               "alert fires in a test")],
    "INC-8": [("Alert when the payments queue is older than 5 minutes", "detect", "Dana Kim", "2026-11-25", "P2",
               "alert fires in staging")],
}


def runner_configs(folder: Path, fake: FakeJira, base: str) -> list[Path]:
    docs = folder / "postmortems"
    docs.mkdir(exist_ok=True)
    for incident, rows in ROWS.items():
        table = "\n".join(f"| {' | '.join(row)} |  |" for row in rows)
        (docs / f"{incident}.md").write_text(
            f"# Postmortem: {incident}\n\n<!-- ops-postmortem incident=\"{incident}\" -->\n\n"
            f"- **Incident:** {incident}\n- **Status:** Final\n- **Date:** 2026-11-03\n\n## Action items\n\n{EMPTY}"
            f"{table}\n")
    login = f'username = "{EMAIL}"\napi_version = 3' if fake.cloud else "api_version = 2"
    paths = []
    for runner in "ab":
        path = folder / f"runner-{runner}.toml"
        path.write_text(f"""[local]
dir = "{docs}"

[tracker]
kind = "jira"

[sync]
state_file = "{folder / f'state-{runner}' / 'sync.json'}"

[jira]
url = "{base}"
{login}
token = {{ env = "JIRA_API_TOKEN" }}
project = "OPS"
""")
        paths.append(path)
    return paths


def sync_together(paths: list[Path]) -> list[dict[str, object]]:
    env = {**os.environ, "JIRA_API_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    env.pop("POSTMORTEM_CONFIG", None)
    procs = [subprocess.Popen([sys.executable, "-m", "ops_postmortem", "--config", str(p), "sync", "--as-of",
                               "2026-11-10", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for p in paths]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    return reports


def test_two_sync_runners_on_two_state_files_keep_one_ticket_per_item(
        tmp_path: Path, jira: tuple[FakeJira, str]) -> None:
    fake, base = jira
    paths = runner_configs(tmp_path, fake, base)
    # The worst case: both runners looked every item of a doc up and found nothing before either created one.
    fake.rendezvous("POST", r"/issue/bulk$", parties=2)
    sync_together(paths)

    items = sum(len(rows) for rows in ROWS.values())
    open_issues = [i for i in fake.issues.values() if i.status != "Won't Do"]
    twins = [i for i in fake.issues.values() if i.status == "Won't Do"]
    assert len(open_issues) == items and len({i.labels[-1] for i in open_issues}) == items
    for twin in twins:  # each closed twin is newer than, and linked to, the issue that was kept
        kept = next(i for i in open_issues if i.labels[-1] == twin.labels[-1])
        assert twin.links == [{"type": {"name": "Duplicate"}, "outwardIssue": {"key": kept.key}}]
        assert twin.id > kept.id
    assert twins
    cells = set()
    for incident in ROWS:
        text = (tmp_path / "postmortems" / f"{incident}.md").read_text()
        cells |= set(re.findall(r"\[(OPS-\d+) - To Do\]\(", text))
    assert cells == {i.key for i in open_issues}  # the doc never shows a twin

    posts = len(fake.calls("POST", r"/issue/bulk$"))
    sync_together(paths)
    assert len(fake.calls("POST", r"/issue/bulk$")) == posts
