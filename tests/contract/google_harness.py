"""The Google Docs store behind the StoreHarness: the real client against the fake Google, and what people do
in Docs (edit text, fill the action-item table, comment and reply as reviewers) done on the fake directly."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from ops_postmortem.connectors.google.api import GoogleApi
from ops_postmortem.connectors.google.auth import load_credentials, scopes
from ops_postmortem.connectors.google.store import GoogleDocsStore
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.model import DocRef, Person
from ops_postmortem.people import normalise_name
from tests.contract.stores import StoreHarness
from tests.fakes.google import FakeGoogle, fake_google, tls_files

BOT = "postmortem-bot@acme-ops.iam.gserviceaccount.com"


def email_of(person: Person) -> str:
    return person.email or normalise_name(person.name).replace(" ", ".") + "@acme.test"


class GoogleHarness:
    def __init__(self, fake: FakeGoogle, store: GoogleDocsStore) -> None:
        self.fake = fake
        self.store = store

    def human_edit(self, ref: DocRef, old: str, new: str) -> None:
        self.fake.ui_replace(ref.id, old, new)

    def fill_action_items(self, ref: DocRef, rows: list[list[str]]) -> None:  # type: ignore[override]
        self.fake.ui_fill_table(ref.id, "Action", [list(r) for r in rows])

    def reviewer_comment(self, ref: DocRef, author: Person, text: str, quote: str | None = None) -> str:
        email = email_of(author)
        self.fake.person(email, author.name)
        return self.fake.ui_comment(ref.id, email, text, quote=quote)

    def reviewer_reply(
        self, ref: DocRef, comment_id: str, author: Person, text: str,
        action: Literal["resolve", "reopen"] | None = None,
    ) -> None:
        email = email_of(author)
        self.fake.person(email, author.name)
        self.fake.ui_reply(ref.id, comment_id, email, text, action)

    def doc_text(self, ref: DocRef) -> str:
        return self.fake.doc_text(ref.id)


def google_api(fake: FakeGoogle, key: Path, *, template: bool = False, **options: object) -> GoogleApi:
    """The production client, pointed at the fake; the fake's CA is trusted the way a proxy's would be."""
    previous = os.environ.get("HTTPLIB2_CA_CERTS")
    os.environ["HTTPLIB2_CA_CERTS"] = str(tls_files()[0])
    try:
        return GoogleApi(load_credentials(key, scopes(template=template)), docs_endpoint=f"{fake.base}/",
                         drive_endpoint=f"{fake.base}/drive/v3/", retry=RetryPolicy(base=0.001, max_wait=0.01),
                         **options)  # type: ignore[arg-type]
    finally:
        if previous is None:
            os.environ.pop("HTTPLIB2_CA_CERTS")
        else:
            os.environ["HTTPLIB2_CA_CERTS"] = previous


@contextmanager
def google_harness(folder: Path) -> Iterator[StoreHarness]:
    with fake_google() as fake:
        key = fake.service_account(folder)
        postmortems = fake.folder("Postmortems", shared={BOT: "writer"})
        yield GoogleHarness(fake, GoogleDocsStore(google_api(fake, key), folder_id=postmortems))
