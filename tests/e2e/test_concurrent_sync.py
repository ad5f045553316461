"""At scale: two `postmortem sync` processes started together, each with its own state file and lock, on the
same store folder and the same tracker, open each ticket once. Run against the local tracker (its item key is
UNIQUE) and against the GitHub fake, where the runners are also made to race through the window between
looking an item up and creating it: the loser closes its issue as a duplicate of the older one, and both
write the older one into the doc."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops_postmortem.connectors.local.tracker import LocalTracker
from tests.conftest import ROOT
from tests.fakes.github import REPO, TOKEN, GitHubFake
from tests.fakes.server import serve

AS_OF = "2026-11-10"
PEOPLE = {"Priya Raman": "priya-r", "Dana Kim": "dana-k", "Lee Park": "lee-p"}
ROWS = {
    "INC-7": [
        (
            "Add a CI check that rejects a DB pool max below 20",
            "prevent",
            "Priya Raman",
            "2026-11-24",
            "P1",
            "CI fails on max=5",
        ),
        (
            "Page on DB connection saturation above 90% for 2 minutes",
            "detect",
            "Dana Kim",
            "2026-11-20",
            "P1",
            "alert fires in a test",
        ),
        (
            "Write the pool sizing runbook for checkout-api",
            "process",
            "Lee Park",
            "2026-11-30",
            "P2",
            "runbook linked from the alert",
        ),
    ],
    "INC-8": [
        (
            "Alert when the payments queue is older than 5 minutes",
            "detect",
            "Dana Kim",
            "2026-11-25",
            "P1",
            "alert fires in staging",
        ),
        (
            "Add a load test of 2x peak to the checkout release pipeline",
            "prevent",
            "Lee Park",
            "2026-11-28",
            "P2",
            "pipeline fails under 2x peak",
        ),
    ],
}
ITEMS = sum(len(rows) for rows in ROWS.values())


def doc(incident: str) -> str:
    rows = "\n".join(f"| {' | '.join(row)} |  |" for row in ROWS[incident])
    return f"""# Postmortem: {incident}

<!-- ops-postmortem incident="{incident}" -->

- **Incident:** {incident}
- **Status:** Final
- **Date:** 2026-11-03

## Action items

| Action | Type | Owner | Due | Priority | Done when | Ticket |
| --- | --- | --- | --- | --- | --- | --- |
{rows}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "postmortems"
    docs.mkdir()
    for incident in ROWS:
        (docs / f"{incident}.md").write_text(doc(incident))
    return tmp_path


def configs(folder: Path, tracker: str) -> list[Path]:
    people = "".join(f'[people."{name}"]\ngithub = "{login}"\n' for name, login in PEOPLE.items())
    paths = []
    for runner in ("a", "b"):
        path = folder / f"runner-{runner}.toml"
        path.write_text(f"""[local]
dir = "{folder / "postmortems"}"

[tracker]
kind = "{tracker}"

[sync]
state_file = "{folder / f"state-{runner}" / "sync.json"}"

{tracker_section(tracker)}
{people}""")
        paths.append(path)
    return paths


def tracker_section(tracker: str) -> str:
    if tracker != "github":
        return ""
    return f"""[github]
repo = "{REPO}"
token = {{ env = "GITHUB_TOKEN" }}
api_url = "{os.environ["FAKE_GITHUB_URL"]}"
write_interval = "0s"
"""


def run_together(paths: list[Path]) -> list[tuple[int, dict[str, object], str]]:
    """Start one `postmortem sync` per config at the same moment; wait for all."""
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    env.pop("POSTMORTEM_CONFIG", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ops_postmortem", "--config", str(p), "sync", "--as-of", AS_OF, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for p in paths
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, json.loads(out) if out.strip() else {}, err))
    return results


def ticket_cells(folder: Path) -> list[str]:
    cells = []
    for incident in ROWS:
        text = (folder / "postmortems" / f"{incident}.md").read_text()
        rows = [line for line in text.splitlines() if line.startswith("| ")][2:]
        cells += [row.strip().strip("|").split("|")[-1].strip() for row in rows]
    return [re.sub(r"^\[(.*)\]\(https://github\.com/[^)]*\)$", r"\1", cell) for cell in cells]


def created(results: list[tuple[int, dict[str, object], str]]) -> int:
    return sum(int(d["tickets_created"]) for _, report, _ in results for d in report.get("docs", []))  # type: ignore[attr-defined]


def test_two_runners_on_the_local_tracker_create_each_ticket_once(folder: Path) -> None:
    results = run_together(configs(folder, "local"))

    assert [code for code, _, _ in results] == [0, 0], results
    tickets = LocalTracker(folder / "postmortems" / "tickets.db").list()
    assert len(tickets) == ITEMS and len({t.item_key for t in tickets}) == ITEMS
    cells = ticket_cells(folder)
    assert sorted(c.split(" - ")[0] for c in cells) == sorted(t.key for t in tickets)
    assert all(c.endswith(" - Open") for c in cells)

    again = run_together(configs(folder, "local"))
    assert created(again) == 0 and len(LocalTracker(folder / "postmortems" / "tickets.db").list()) == ITEMS


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubFake]:
    fake = GitHubFake(collaborators=tuple(PEOPLE.values()), search_lag=3600.0)
    with serve(fake) as base:
        monkeypatch.setenv("FAKE_GITHUB_URL", base)
        yield fake


def winners(fake: GitHubFake) -> dict[str, int]:
    """Item key -> the one issue that is not a closed duplicate."""
    kept: dict[str, list[int]] = {}
    for issue in fake.issues.values():
        key = next(n for n in issue.labels if n.startswith("pmai-"))
        if issue.state_reason != "duplicate":
            kept.setdefault(key, []).append(issue.number)
    assert all(len(numbers) == 1 for numbers in kept.values()), kept
    return {key: numbers[0] for key, numbers in kept.items()}


@pytest.mark.parametrize("race", [False, True], ids=["together", "forced-race"])
def test_two_runners_on_github_converge_on_one_issue_per_item(
    folder: Path, github: GitHubFake, race: bool
) -> None:
    if race:
        # Each runner's first create waits until the other's has arrived: both looked every item up and
        # found nothing, so both create every item.
        github.rendezvous("POST", rf"^/repos/{REPO}/issues$", parties=2)
    results = run_together(configs(folder, "github"))

    assert [code for code, _, _ in results] == [0, 0], results
    kept = winners(github)
    assert len(kept) == ITEMS
    cells = ticket_cells(folder)
    assert sorted(cells) == sorted(f"{REPO}#{n} - Open" for n in kept.values())
    duplicates = [i for i in github.issues.values() if i.state_reason == "duplicate"]
    for issue in duplicates:  # each loser points at the issue that was kept, and is closed
        key = next(n for n in issue.labels if n.startswith("pmai-"))
        assert issue.state == "closed" and issue.duplicate_of == kept[key] < issue.number
    assert len(github.issues) == ITEMS + len(duplicates)
    if race:  # the first doc's items were all looked up by both before either created one
        assert len(duplicates) >= len(ROWS["INC-7"])

    posts = len(github.calls("POST", rf"^/repos/{REPO}/issues$"))
    again = run_together(configs(folder, "github"))
    assert [code for code, _, _ in again] == [0, 0]
    assert created(again) == 0 and len(github.calls("POST", rf"^/repos/{REPO}/issues$")) == posts
    assert ticket_cells(folder) == cells
