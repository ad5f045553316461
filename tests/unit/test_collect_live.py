"""Parallel collection, failing sources, progress reports and the evidence archive."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ops_postmortem.config import TimelineSettings
from ops_postmortem.connectors.base import Window
from ops_postmortem.connectors.local.store import LocalStore
from ops_postmortem.errors import AuthError, InputError, ServiceError
from ops_postmortem.model import DocRef, Kind, RawEvidence, SourceBatch, TimelineEvent
from ops_postmortem.workflows.collect import RichProgress, collect, terminal_progress
from ops_postmortem.workflows.evidence import archive_evidence, redact_evidence

T0 = datetime(2026, 11, 3, 23, 36, 30, tzinfo=UTC)


class Slow:
    """A source that blocks on 'I/O' for `delay` seconds, then reports one event."""

    def __init__(self, name: str, delay: float, kind: str = Kind.TRIGGER) -> None:
        self.name = name
        self.delay = delay
        self.kind = kind
        self.threads: list[str] = []

    def collect(self, incident_id: str) -> SourceBatch:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay)
        event = TimelineEvent(T0, self.name, self.kind, f"{self.name} saw it", ident="1")
        return SourceBatch(self.name, (event,), raw=(RawEvidence(f"{self.name}/page.json", b"{}"),))


class Failing:
    def __init__(self, name: str, error: Exception) -> None:
        self.name = name
        self.error = error

    def collect(self, incident_id: str) -> SourceBatch:
        raise self.error


class Windowed:
    name = "chat"

    def __init__(self) -> None:
        self.window: Window | None = None

    def collect_window(self, incident_id: str, window: Window) -> SourceBatch:
        self.window = window
        return SourceBatch(self.name)


class Progress:
    def __init__(self) -> None:
        self.started_names: list[str] = []
        self.finished_names: list[tuple[str, bool]] = []

    def started(self, names: Sequence[str]) -> None:
        self.started_names += names

    def finished(self, name: str, error: ServiceError | None) -> None:
        self.finished_names.append((name, error is None))


def test_sources_are_read_in_parallel() -> None:
    sources = [Slow("pagerduty", 0.3), Slow("opsgenie", 0.3), Slow("events", 0.3)]
    started = time.monotonic()
    result = collect("INC-1", sources, [], TimelineSettings())
    elapsed = time.monotonic() - started
    assert elapsed < 0.6  # three 0.3 s reads, not 0.9 s
    assert len({s.threads[0] for s in sources}) == 3
    assert [r.name for r in result.raw] == ["pagerduty/page.json", "opsgenie/page.json", "events/page.json"]


def test_a_failing_source_becomes_a_missing_note_and_a_warning() -> None:
    chat = Windowed()
    progress = Progress()
    down = ServiceError("Service Unavailable (HTTP 503)", service="opsgenie", status=503, retriable=True)
    result = collect("INC-1", [Slow("pagerduty", 0), Failing("opsgenie", down)], [chat], TimelineSettings(),
                     progress=progress)
    timeline = result.timeline
    assert timeline.missing == ("opsgenie (HTTP 503)",)
    assert timeline.warnings == ("opsgenie: Service Unavailable (HTTP 503) - the postmortem opens without opsgenie",)
    assert [e.source for e in timeline.events] == ["pagerduty"]
    assert chat.window is not None and chat.window[0] is not None  # the window came from the source that worked
    assert progress.started_names == ["pagerduty", "opsgenie", "chat"]
    assert sorted(progress.finished_names) == [("chat", True), ("opsgenie", False), ("pagerduty", True)]
    assert [f.source for f in result.failures] == ["opsgenie"]


def test_refused_credentials_are_named_as_such() -> None:
    refused = AuthError("Unauthorized (HTTP 401)", service="pagerduty", status=401)
    result = collect("INC-1", [Failing("pagerduty", refused), Slow("events", 0)], [], TimelineSettings())
    assert result.timeline.missing == ("pagerduty (credentials refused)",)


def test_when_every_source_fails_the_error_is_raised() -> None:
    refused = AuthError("Unauthorized (HTTP 401)", service="pagerduty", status=401)
    with pytest.raises(AuthError):
        collect("INC-1", [Failing("pagerduty", refused)], [], TimelineSettings())


def test_a_bad_file_is_not_a_missing_source() -> None:
    bad = InputError("pd.json: not a PagerDuty export")
    with pytest.raises(InputError):
        collect("INC-1", [Failing("pagerduty", bad), Slow("events", 0)], [], TimelineSettings())


def test_json_evidence_is_redacted_value_by_value_and_stays_json() -> None:
    page = {"messages": [{"ts": "1.2", "text": "db at postgres://app:Pgc0nsult-EXAMPLE-pw@db-7:5432/orders"},
                         {"ts": "1.3", "text": "curl -H 'Authorization: Bearer xoxb-1111-2222-fakeTOKENforINC2042example'"}],
            "ok": True, "count": 2}
    files = redact_evidence([RawEvidence("slack/history-0001.json", json.dumps(page).encode()),
                             RawEvidence("events/notes.txt", b"token=ghp_abcdefghijklmnopqrstuvwxyz0123456789\nok\n")])
    redacted = json.loads(files["slack/history-0001.json"])
    assert redacted["ok"] is True and redacted["count"] == 2 and redacted["messages"][0]["ts"] == "1.2"
    text = files["slack/history-0001.json"].decode() + files["events/notes.txt"].decode()
    for planted in ("Pgc0nsult-EXAMPLE-pw", "fakeTOKENforINC2042example", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"):
        assert planted not in text
    assert files["events/notes.txt"].decode().endswith("\nok\n")


def test_archive_goes_beside_the_doc(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    ref = DocRef("local", "INC-1", (tmp_path / "INC-1.md").as_uri())
    (tmp_path / "INC-1.md").write_text("# doc\n")
    result = archive_evidence(store, ref, [RawEvidence("pagerduty/incident.json", b'{"incident": {"id": "Q1"}}')])
    assert result.error is None and len(result.locations) == 1
    assert json.loads((tmp_path / "INC-1.evidence" / "pagerduty" / "incident.json").read_text()) == {
        "incident": {"id": "Q1"}}


class BrokenStore(LocalStore):
    def archive(self, ref: DocRef, files: Mapping[str, bytes]) -> list[str]:
        raise OSError(28, "No space left on device")


def test_an_archive_failure_is_reported_not_raised(tmp_path: Path) -> None:
    ref = DocRef("local", "INC-1", (tmp_path / "INC-1.md").as_uri())
    result = archive_evidence(BrokenStore(tmp_path), ref, [RawEvidence("pagerduty/incident.json", b"{}")])
    assert result.locations == () and result.error == "[Errno 28] No space left on device"


def test_progress_shows_only_on_a_terminal() -> None:
    with terminal_progress(True) as progress:  # pytest captures stderr: not a terminal
        assert progress is None
    with RichProgress() as rich:
        rich.started(["pagerduty", "opsgenie"])
        rich.finished("pagerduty", None)
        rich.finished("opsgenie", ServiceError("down", service="opsgenie", status=503))
        assert [t.description for t in rich._bars.tasks] == ["pagerduty: done", "opsgenie: failed"]
