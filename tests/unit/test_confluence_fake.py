"""The fake Confluence is honest: it refuses what the service refuses, with the service's error bodies, and what it
answers fits the published response schemas. Driven with plain requests, so nothing of ours is under test."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.contract.confluence_harness import running_fake
from tests.fakes.confluence import (
    BOT_EMAIL,
    CLOUD_TOKEN,
    DC_TOKEN,
    V1_CLOUD,
    V2_CLOUD,
    FakeConfluence,
    validator,
)

PAGE = {"type": "page", "title": "T", "space": {"key": "PM"},
        "body": {"storage": {"value": "<p>x</p>", "representation": "storage"}}}


class Client:
    def __init__(self, fake: FakeConfluence, base: str) -> None:
        self.fake = fake
        self.root = f"{base}{fake.context}"
        self.session = requests.Session()
        if fake.cloud:
            self.session.headers["Authorization"] = "Basic " + base64.b64encode(
                f"{BOT_EMAIL}:{CLOUD_TOKEN}".encode()).decode()
        else:
            self.session.headers["Authorization"] = f"Bearer {DC_TOKEN}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.root + path, timeout=5, **kwargs)


@pytest.fixture(params=["cloud", "datacenter"])
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    with running_fake(request.param) as (fake, base):
        yield Client(fake, base)


def v1_error(response: requests.Response, status: int) -> str:
    body = response.json()
    assert response.status_code == status
    assert set(body) == {"statusCode", "data", "message", "reason"} and body["statusCode"] == status
    return str(body["message"])


def test_bodies_that_do_not_fit_the_schema_get_400(client: Client) -> None:
    message = v1_error(client.call("POST", "/rest/api/content", json={}), 400)
    assert message == ("body: 'type' is a required property" if client.fake.cloud else "Unsupported content type: None")
    if client.fake.cloud:  # the Cloud spec types the title; Data Center's Content schema is looser
        bad = {**PAGE, "title": 7}
        assert "7 is not of type" in v1_error(client.call("POST", "/rest/api/content", json=bad), 400)


def test_malformed_storage_and_duplicate_titles_are_refused(client: Client) -> None:
    broken = {**PAGE, "body": {"storage": {"value": "<p>x</b>", "representation": "storage"}}}
    assert v1_error(client.call("POST", "/rest/api/content", json=broken), 400).startswith("Error parsing xhtml")
    assert client.call("POST", "/rest/api/content", json=PAGE).status_code == 200
    assert "already exists" in v1_error(client.call("POST", "/rest/api/content", json=PAGE), 400)


def test_a_stale_version_is_409_with_the_current_one(client: Client) -> None:
    page = client.call("POST", "/rest/api/content", json=PAGE).json()
    update = {"type": "page", "title": "T", "version": {"number": 5},
              "body": {"storage": {"value": "<p>y</p>", "representation": "storage"}}}
    message = v1_error(client.call("PUT", f"/rest/api/content/{page['id']}", json=update), 409)
    assert message == "Version must be incremented on update. Current version is: 1"
    update["version"] = {"number": 2}
    assert client.call("PUT", f"/rest/api/content/{page['id']}", json=update).status_code == 200


def test_cql_it_cannot_parse_is_400(client: Client) -> None:
    response = client.call("GET", "/rest/api/content/search", params={"cql": "creator = currentUser()"})
    assert "Could not parse cql" in v1_error(response, 400)


def test_credentials_are_checked(client: Client) -> None:
    client.session.headers["Authorization"] = "Bearer nope"
    assert v1_error(client.call("GET", f"/rest/api/content/{client.fake.parent_id}"), 401)


def test_storage_is_normalised_on_save(client: Client) -> None:
    body = {**PAGE, "body": {"storage": {"value": '<p><ac:structured-macro ac:name="status" /><br/></p>',
                                         "representation": "storage"}}}
    page = client.call("POST", "/rest/api/content", json=body).json()
    stored = client.fake.pages[page["id"]].body
    assert 'ac:schema-version="1" ac:macro-id="' in stored
    assert ("<br />" in stored) == client.fake.cloud


def test_v1_answers_fit_the_published_schemas() -> None:
    with running_fake("cloud") as (fake, base):
        client = Client(fake, base)
        page = client.call("POST", "/rest/api/content", json=PAGE).json()
        for schema, response in (
            ("Content", client.call("GET", f"/rest/api/content/{page['id']}",
                                    params={"expand": "body.storage,version,space,history,metadata.labels"})),
            ("ContentArray", client.call("GET", "/rest/api/content/search", params={"cql": "type = page"})),
        ):
            errors = list(validator(V1_CLOUD, f"#/components/schemas/{schema}").iter_errors(response.json()))
            assert errors == [], (schema, errors[0].message if errors else "")


def test_v2_refuses_bad_bodies_and_answers_in_its_shapes() -> None:
    with running_fake("cloud") as (fake, base):
        client = Client(fake, base)
        page = client.call("POST", "/rest/api/content", json={**PAGE, "body": {"storage": {
            "value": "<p>Detected at noon</p>", "representation": "storage"}}}).json()
        bad = {"pageId": page["id"], "body": {"representation": "storage", "value": "<p>x</p>"},
               "inlineCommentProperties": {"textSelection": "Detected", "textSelectionMatchCount": "one",
                                           "textSelectionMatchIndex": 0}}
        response = client.call("POST", "/api/v2/inline-comments", json=bad)
        assert response.status_code == 400 and response.json()["errors"][0]["status"] == 400
        bad["inlineCommentProperties"]["textSelectionMatchCount"] = 2  # type: ignore[index]
        assert client.call("POST", "/api/v2/inline-comments", json=bad).status_code == 400  # it occurs once
        bad["inlineCommentProperties"]["textSelectionMatchCount"] = 1  # type: ignore[index]
        made = client.call("POST", "/api/v2/inline-comments", json=bad)
        assert made.status_code == 201
        listed = client.call("GET", f"/api/v2/pages/{page['id']}/inline-comments").json()
        schema = validator(V2_CLOUD, "#/components/schemas/PageInlineCommentModel")
        assert [e.message for e in schema.iter_errors(listed["results"][0])] == []
        assert "body" not in listed["results"][0]  # no body unless a body-format is asked for
        assert client.call("POST", "/api/v2/users-bulk", json={"accountIds": []}).status_code == 400


def test_data_center_has_no_v2() -> None:
    with running_fake("datacenter") as (fake, base):
        client = Client(fake, base)
        assert client.session.get(f"{base}/wiki/api/v2/pages/1/footer-comments", timeout=5).status_code == 404
