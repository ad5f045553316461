"""The fake Google keeps the promises the store relies on: Docs index arithmetic as published, the discovery
schemas enforced with Google's 400, requiredRevisionId honoured, Drive's `fields` masks and query language."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from googleapiclient.errors import HttpError

from ops_postmortem.connectors.google.api import GoogleApi
from ops_postmortem.errors import ConflictError, ServiceError
from tests.contract.google_harness import BOT, google_api
from tests.fakes import google_docs as gd
from tests.fakes.google import FakeGoogle, fake_google, masked, parse_fields, schema_errors


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[FakeGoogle, GoogleApi, str]]:
    with fake_google() as fake:
        api = google_api(fake, fake.service_account(tmp_path))
        folder = fake.folder("Postmortems", shared={BOT: "writer"})
        doc = api.create_file({"name": "t", "parents": [folder], "mimeType": "application/vnd.google-apps.document"},
                              b"<p></p>", "text/html")
        yield fake, api, doc["id"]


def test_a_2x2_table_inserted_at_1_has_its_cells_at_5_7_10_12(api: tuple[FakeGoogle, GoogleApi, str]) -> None:
    fake, client, doc_id = api
    client.batch_update(doc_id, [{"insertTable": {"rows": 2, "columns": 2, "location": {"index": 1}}}], revision=None)
    body = fake.document_json(doc_id)["tabs"][0]["documentTab"]["body"]["content"]
    table = next(e for e in body if "table" in e)
    starts = [c["content"][0]["startIndex"] for r in table["table"]["tableRows"] for c in r["tableCells"]]
    assert table["startIndex"] == 2 and starts == [5, 7, 10, 12]  # the Docs guide's worked example
    requests = [{"insertText": {"location": {"index": i}, "text": t}} for i, t in ((12, "d"), (10, "c"), (7, "b"),
                                                                                   (5, "a🔥"))]
    client.batch_update(doc_id, requests, revision=None)
    assert gd.plain_text(fake.docs[doc_id].tabs[0].body).split() == ["a🔥", "b", "c", "d"]


def test_bodies_are_checked_against_the_discovery_schema(api: tuple[FakeGoogle, GoogleApi, str]) -> None:
    _, client, doc_id = api
    bad = [{"insertTable": {"rows": 1, "columns": "4", "row": 1, "location": {"index": 1}}}]
    with pytest.raises(HttpError) as refused:
        client.documents.batchUpdate(documentId=doc_id, body={"requests": bad}).execute()
    assert refused.value.resp.status == 400
    assert b"'row' was unexpected" in refused.value.content and b"'4' is not of type 'integer'" in refused.value.content
    two_kinds = [{"insertText": {"text": "x", "location": {"index": 1}}, "deleteContentRange": {}}]
    assert schema_errors("docs.v1", "BatchUpdateDocumentRequest", {"requests": two_kinds})
    with pytest.raises(ServiceError, match="inside the bounds of an existing paragraph"):
        client.batch_update(doc_id, [{"insertTable": {"rows": 1, "columns": 1, "location": {"index": 1}}},
                                     {"insertText": {"text": "x", "location": {"index": 2}}}], revision=None)


def test_a_stale_required_revision_is_refused_and_nothing_applies(api: tuple[FakeGoogle, GoogleApi, str]) -> None:
    fake, client, doc_id = api
    revision = client.get_document(doc_id)["revisionId"]
    client.batch_update(doc_id, [{"insertText": {"text": "one", "location": {"index": 1}}}], revision=revision)
    with pytest.raises(ConflictError):
        client.batch_update(doc_id, [{"insertText": {"text": "two", "location": {"index": 1}}}], revision=revision)
    assert gd.plain_text(fake.docs[doc_id].tabs[0].body) == "one\n"
    with pytest.raises(HttpError):  # atomic: the valid first request is not kept when the second fails
        client.documents.batchUpdate(documentId=doc_id, body={"requests": [
            {"insertText": {"text": "x", "location": {"index": 1}}},
            {"deleteContentRange": {"range": {"startIndex": 1, "endIndex": 99}}}]}).execute()
    assert gd.plain_text(fake.docs[doc_id].tabs[0].body) == "one\n"


def test_fields_masks_and_queries() -> None:
    tree = parse_fields("nextPageToken,files(id,author(displayName)),kind/x")
    assert tree == {"nextPageToken": None, "files": {"id": None, "author": {"displayName": None}},
                    "kind": {"x": None}}
    value = {"nextPageToken": "2", "files": [{"id": "a", "name": "n", "author": {"displayName": "D", "me": True}}]}
    assert masked(value, tree) == {"nextPageToken": "2", "files": [{"id": "a", "author": {"displayName": "D"}}]}


def test_deleting_the_paragraph_break_before_a_table_is_refused(api: tuple[FakeGoogle, GoogleApi, str]) -> None:
    _, client, doc_id = api
    client.batch_update(doc_id, [{"insertText": {"text": "ab", "location": {"index": 1}}}], revision=None)
    client.batch_update(doc_id, [{"insertTable": {"rows": 1, "columns": 1, "location": {"index": 3}}}],
                        revision=None)
    with pytest.raises(ServiceError, match="newline character before a table"):
        client.batch_update(doc_id, [{"deleteContentRange": {"range": {"startIndex": 3, "endIndex": 4}}}],
                            revision=None)
