"""The created-issues file: markers before a create, keys after, nothing after a refusal; old entries pruned;
a damaged file costs only the window it bridges; two processes sharing it lose nothing."""

from __future__ import annotations

import json
import logging
import multiprocessing
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ops_postmortem.connectors.jira.state import RETAIN, CreatedIssues
from ops_postmortem.model import UTC

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_sending_then_created_then_refused(tmp_path: Path) -> None:
    clock = Clock()
    state = CreatedIssues(tmp_path / "jira.json", clock)
    state.sending(["pmai-a", "pmai-b", "pmai-c"])
    assert all(e.uncertain and e.at == T0 for e in state.get(["pmai-a", "pmai-b", "pmai-c"]).values())

    clock.now = T0 + timedelta(seconds=3)
    state.created({"pmai-a": ("OPS-1", "10001")})
    state.refused(["pmai-b"])
    entries = state.get(["pmai-a", "pmai-b", "pmai-c", "pmai-x"])
    assert set(entries) == {"pmai-a", "pmai-c"}
    assert (entries["pmai-a"].key, entries["pmai-a"].id, entries["pmai-a"].at) == ("OPS-1", "10001", T0)
    assert entries["pmai-c"].uncertain
    saved = json.loads((tmp_path / "jira.json").read_text())
    assert saved == {"version": 1, "issues": {
        "pmai-a": {"at": "2026-11-27T10:00:00Z", "key": "OPS-1", "id": "10001"},
        "pmai-c": {"at": "2026-11-27T10:00:00Z", "key": None, "id": None}}}


def test_recent_and_retention(tmp_path: Path) -> None:
    clock = Clock()
    state = CreatedIssues(tmp_path / "jira.json", clock)
    for n in range(5):
        clock.now = T0 + timedelta(minutes=n)
        state.created({f"pmai-{n}": (f"OPS-{n}", str(10000 + n))})
    state.sending(["pmai-pending"])
    assert [e.key for e in state.recent(timedelta(minutes=2), 50)] == ["OPS-4", "OPS-3", "OPS-2"]
    assert [e.key for e in state.recent(timedelta(hours=1), 2)] == ["OPS-4", "OPS-3"]

    clock.now = T0 + RETAIN + timedelta(minutes=2, seconds=30)
    state.sending(["pmai-new"])  # any write prunes what the index has long caught up with
    assert set(state.get(f"pmai-{n}" for n in range(5))) == {"pmai-3", "pmai-4"}


@pytest.mark.parametrize("content", ["{not json", '{"version": 1}', '{"issues": {"pmai-a": {"key": "OPS-1"}}}'])
def test_a_damaged_file_is_started_again(tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "jira.json"
    path.write_text(content)
    state = CreatedIssues(path, Clock())
    with caplog.at_level(logging.WARNING):
        assert state.get(["pmai-a"]) == {}
    assert str(path) in caplog.text
    state.created({"pmai-b": ("OPS-2", "10002")})
    assert state.get(["pmai-b"])["pmai-b"].key == "OPS-2"


def _record(path: str, prefix: str) -> None:
    state = CreatedIssues(Path(path))
    for n in range(40):
        state.created({f"pmai-{prefix}{n}": (f"{prefix.upper()}-{n}", str(n))})


def test_two_processes_sharing_the_file_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "jira.json"
    workers = [multiprocessing.get_context("fork").Process(target=_record, args=(str(path), p)) for p in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    keys = [f"pmai-{p}{n}" for p in "ab" for n in range(40)]
    assert len(CreatedIssues(path).get(keys)) == 80
