"""Every TicketTracker and DocumentStore implementation behind one fixture, so the contract suites run against each.

A factory gets a private folder and the people the tracker must know, and yields a ready tracker; a connector
that needs a fake server starts it inside its factory and stops it on exit. Adding Jira or GitHub Issues is
one more `pytest.param(factory, id=...)` in TRACKERS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

import pytest

from ops_postmortem.connectors.base import TicketTracker
from ops_postmortem.connectors.local.tracker import LocalTracker
from ops_postmortem.people import Directory, DirectoryEntry
from tests.contract.confluence_harness import confluence_cloud, confluence_dc
from tests.contract.google_harness import google_harness
from tests.contract.stores import HarnessFactory, StoreHarness, local_harness
from tests.fakes.github import github_tracker_harness
from tests.fakes.jira import jira_cloud_tracker, jira_dc_tracker

# The people every tracker under test knows (a fake server seeds its users from this).
PEOPLE = Directory([
    DirectoryEntry("Dana Kim", "dana@acme.test", ("dkim",), (("github", "dana-k"), ("jira", "712020:dana"))),
    DirectoryEntry("José Núñez", "jose@acme.test", (), (("github", "jnunez"), ("jira", "712020:jose"))),
])

class TrackerHarness(Protocol):
    """A tracker plus what people do in its product UI (close a ticket), for the e2e flows."""

    tracker: TicketTracker

    def close_in_product(self, key: str) -> None: ...


TrackerFactory = Callable[[Path, Directory], AbstractContextManager[TrackerHarness]]


class LocalTrackerHarness:
    def __init__(self, tracker: LocalTracker) -> None:
        self.tracker = tracker

    def close_in_product(self, key: str) -> None:
        self.tracker.close(key)


@contextmanager
def local_tracker(folder: Path, people: Directory) -> Iterator[TrackerHarness]:
    yield LocalTrackerHarness(LocalTracker(folder / "tickets.db", directory=people))


TRACKERS = [
    pytest.param(local_tracker, id="local"),
    pytest.param(github_tracker_harness, id="github"),
    pytest.param(jira_cloud_tracker, id="jira-cloud"),
    pytest.param(jira_dc_tracker, id="jira-dc"),
]


STORES = [
    pytest.param(local_harness, id="local"),
    pytest.param(confluence_cloud, id="confluence-cloud"),
    pytest.param(confluence_dc, id="confluence-dc"),
    pytest.param(google_harness, id="google"),
]


@pytest.fixture(params=STORES)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreHarness]:
    factory: HarnessFactory = request.param
    with factory(tmp_path) as made:
        yield made


@pytest.fixture(params=TRACKERS)
def tracker_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrackerHarness]:
    factory: TrackerFactory = request.param
    with factory(tmp_path, PEOPLE) as made:
        yield made


@pytest.fixture
def tracker(tracker_harness: TrackerHarness) -> TicketTracker:
    return tracker_harness.tracker
