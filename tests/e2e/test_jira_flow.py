"""The track flow through the CLI with the local store and `[tracker] kind = "jira"`, on Cloud (whose search
never catches up here unless asked to reconcile) and on Data Center: extract creates every ticket in one bulk
request, a second extract creates nothing, a run killed before the write-back binds the same tickets, a ticket
closed in Jira reaches the doc through sync; and a create answered with a 500 after Jira committed it is never
duplicated."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops_postmortem.cli import main
from tests.conftest import EXAMPLES
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
