"""StoreHarness for Confluence, Cloud and Data Center flavours: the real ConfluenceStore (atlassian-python-api) at a
fake site on 127.0.0.1, and people acting in the product UI through the fake's `human_*` methods."""

from __future__ import annotations

import html
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ops_postmortem.config import SecretRef
from ops_postmortem.connectors.confluence.settings import ConfluenceSettings
from ops_postmortem.connectors.confluence.store import ConfluenceStore
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.model import DocRef, Person
from tests.fakes.confluence import BOT_EMAIL, CLOUD_TOKEN, DC_TOKEN, FakeConfluence, visible_text
from tests.fakes.server import serve

TOKEN_ENV = "OPS_POSTMORTEM_TEST_CONFLUENCE_TOKEN"


@dataclass
class ConfluenceHarness:
    fake: FakeConfluence
    store: ConfluenceStore

    def human_edit(self, ref: DocRef, old: str, new: str) -> None:
        self.fake.human_edit(ref.id, old, new)

    def fill_action_items(self, ref: DocRef, rows: Sequence[Sequence[str]]) -> None:
        self.fake.human_fill_table(ref.id, "Action", [[html.escape(c, quote=False) for c in row] for row in rows])

    def reviewer_comment(self, ref: DocRef, author: Person, text: str, quote: str | None = None) -> str:
        return self.fake.human_comment(ref.id, author.name, text, quote).id

    def reviewer_reply(
        self, ref: DocRef, comment_id: str, author: Person, text: str,
        action: Literal["resolve", "reopen"] | None = None,
    ) -> None:
        self.fake.human_reply(comment_id, author.name, text, action)

    def doc_text(self, ref: DocRef) -> str:
        return visible_text(self.fake.pages[ref.id].body)


def settings_for(fake: FakeConfluence, base: str, **overrides: object) -> ConfluenceSettings:
    """Settings pointing at the fake, as a team would write them for their site."""
    values: dict[str, object] = {
        "url": f"{base}{fake.context}",
        "space": "PM",
        "token": SecretRef(TOKEN_ENV, "[confluence] token"),
        "deployment": "cloud" if fake.cloud else "datacenter",
        "username": BOT_EMAIL if fake.cloud else None,
        "parent_id": fake.parent_id,
    }
    values.update(overrides)
    return ConfluenceSettings(**values)  # type: ignore[arg-type]


@contextmanager
def running_fake(flavour: str, **options: object) -> Iterator[tuple[FakeConfluence, str]]:
    """A fake site being served, with the API token in the environment (restored afterwards)."""
    fake = FakeConfluence(flavour, **options)  # type: ignore[arg-type]
    previous = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = CLOUD_TOKEN if fake.cloud else DC_TOKEN
    try:
        with serve(fake) as base:
            fake.base_url = base
            yield fake, base
    finally:
        if previous is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = previous


def harness(flavour: str, **store_options: object) -> Iterator[ConfluenceHarness]:
    with running_fake(flavour) as (fake, base):
        store = ConfluenceStore(settings_for(fake, base), retry=RetryPolicy(attempts=3, base=0.01),
                                **store_options)  # type: ignore[arg-type]
        yield ConfluenceHarness(fake, store)


@contextmanager
def confluence_cloud(folder: Path) -> Iterator[ConfluenceHarness]:
    yield from harness("cloud")


@contextmanager
def confluence_dc(folder: Path) -> Iterator[ConfluenceHarness]:
    yield from harness("datacenter")
