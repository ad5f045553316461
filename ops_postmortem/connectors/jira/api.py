"""Thin calls over atlassian-python-api, with the client class pinned and Jira's failures mapped to ours.

The library picks Cloud or Server classes from the URL, so a test against 127.0.0.1 would silently run a
different class than production: we choose the class from the settings instead (JiraCloud for Cloud, the
Server client for Data Center). Its own retries are off (`retry_with_header=False`), so the shared
RetryPolicy is the only one; reads go through it, creates never do (see `create_issues`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests

from ops_postmortem.connectors.http import RetryPolicy, connection_error, error_for_status, scrub
from ops_postmortem.connectors.jira.settings import JiraSettings, auth_fix
from ops_postmortem.errors import ServiceError

SERVICE = "jira"
BULK_LIMIT = 50  # issues per /issue/bulk request (the documented maximum)
RECONCILE_LIMIT = 50  # issue ids per reconcileIssues list
FETCH_LIMIT = 100  # keys per /issue/bulkfetch request
PAGE_SIZE = 100

T = TypeVar("T")


class UncertainCreate(ServiceError):
    """A create was sent and its answer lost (5xx, timeout, dropped connection): it may have been committed,
    so it must be looked up, never sent again blindly."""


@dataclass(frozen=True)
class JiraError:
    """Jira's error body: `errorMessages` and per-field `errors` (either may be empty), or plain text."""

    status: int
    messages: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, status: int, body: Any) -> JiraError:
        if isinstance(body, dict):
            messages = tuple(str(m) for m in body.get("errorMessages") or () if str(m).strip())
            errors = body.get("errors")
            fields = {str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {}
            return cls(status, messages, fields)
        text = " ".join(str(body or "").split())
        return cls(status, (text,) if text else ())

    def __str__(self) -> str:
        parts = [*self.messages, *(f"{name}: {message}" for name, message in self.fields.items())]
        return scrub("; ".join(parts))[:500] or f"HTTP {self.status}"


@dataclass(frozen=True)
class Page:
    """Where the next page of a search starts: a token on Cloud, an offset on Data Center."""

    token: str | None = None
    start: int = 0


def next_page(cloud: bool, page: Page, response: Mapping[str, Any]) -> Page | None:
    """The page after `page`, or None when `response` was the last."""
    issues = response.get("issues") or []
    if cloud:
        token = response.get("nextPageToken")
        if response.get("isLast", True) or not token or token == page.token:
            return None
        return Page(token=str(token))
    start = int(response.get("startAt", page.start)) + len(issues)
    if not issues or start >= int(response.get("total", 0)):
        return None
    return Page(start=start)


class JiraApi:
    def __init__(self, client: Any, settings: JiraSettings, retry: RetryPolicy) -> None:
        self.client = client
        self.settings = settings
        self.retry = retry

    @classmethod
    def connect(cls, settings: JiraSettings, token: str, retry: RetryPolicy | None = None) -> JiraApi:
        options: dict[str, Any] = {"advanced_mode": True, "retry_with_header": False, "backoff_and_retry": False}
        # A Data Center personal access token goes as a Bearer token; with a username, as Basic auth.
        if settings.cloud or settings.username:
            options.update(username=settings.username, password=token)
        else:
            options.update(token=token)
        client: Any
        if settings.cloud:
            from atlassian import JiraCloud

            client = JiraCloud(settings.site, api_version=settings.api_version, **options)
        else:
            from atlassian.jira import JiraServer

            client = JiraServer(settings.site, cloud=False, api_version="2", **options)
        return cls(client, settings, retry or RetryPolicy())

    # ---- reads (retried by the shared policy) ---------------------------------------------------

    def find_users(self, query: str) -> list[dict[str, Any]]:
        """User search: by display name or e-mail on Cloud; by username, name or e-mail on Data Center."""
        if self.settings.cloud:
            found = self._read(lambda: self.client.find_users(query=query, max_results=50))
        else:
            found = self._read(lambda: self.client.user_find_by_user_string(username=query, limit=50))
        return [u for u in found if isinstance(u, dict)] if isinstance(found, list) else []

    def search(self, jql: str, fields: Sequence[str], *, reconcile: Sequence[int] = ()) -> Iterator[dict[str, Any]]:
        """Every issue matching `jql`, page by page. `reconcile` (Cloud) are issue ids whose latest state the
        search must reflect even where its index lags."""
        page: Page | None = Page()
        while page is not None:
            response = self._search_page(jql, fields, page, reconcile)
            yield from (i for i in response.get("issues") or [] if isinstance(i, dict))
            page = next_page(self.settings.cloud, page, response)

    def _search_page(self, jql: str, fields: Sequence[str], page: Page, reconcile: Sequence[int]) -> Any:
        return self._read(lambda: self._post_search(jql, fields, page, reconcile))

    def _post_search(self, jql: str, fields: Sequence[str], page: Page, reconcile: Sequence[int]) -> Any:
        if self.settings.cloud:
            body: dict[str, Any] = {"jql": jql, "fields": list(fields), "maxResults": PAGE_SIZE}
            if page.token:
                body["nextPageToken"] = page.token
            if reconcile:
                body["reconcileIssues"] = list(reconcile)[:RECONCILE_LIMIT]
            return self.client.search_and_reconsile_issues_using_jql_post(data=body)
        # Unknown keys in `key in (...)` are then warnings, not a 400 for the whole search.
        body = {"jql": jql, "fields": list(fields), "startAt": page.start, "maxResults": PAGE_SIZE,
                "validateQuery": False}
        return self.client.post(self.client.resource_url("search"), data=body)

    def fetch(self, keys: Sequence[str], fields: Sequence[str]) -> list[dict[str, Any]]:
        """Issues by key, read-after-write consistent (Cloud `/issue/bulkfetch`); unknown keys left out."""
        issues: list[dict[str, Any]] = []
        for start in range(0, len(keys), FETCH_LIMIT):
            issues += self._fetch_chunk({"issueIdsOrKeys": list(keys[start:start + FETCH_LIMIT]),
                                         "fields": list(fields)})
        return issues

    def _fetch_chunk(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        response = self._read(lambda: self.client.bulk_fetch_issues(data=body))
        return [i for i in response.get("issues") or [] if isinstance(i, dict)]

    def transitions(self, key: str) -> list[dict[str, Any]]:
        """The workflow steps the account may take from the issue's status now."""
        if self.settings.cloud:
            found = self._read(lambda: self.client.get_transitions(key))
        else:
            found = self._read(lambda: self.client.get_issue_transitions_full(key))
        return [t for t in found.get("transitions") or [] if isinstance(t, dict)]

    # ---- writes (never retried blindly) ---------------------------------------------------------

    def transition(self, key: str, transition_id: str) -> None:
        body = {"transition": {"id": transition_id}}
        if self.settings.cloud:
            self._write(lambda: self.client.do_transition(key, data=body))
        else:
            self._write(lambda: self.client.set_issue_status_by_transition_id(key, transition_id))

    def link(self, link_type: str, inward: str, outward: str) -> None:
        """Link `inward` to `outward`, read with the type's outward words ("inward duplicates outward")."""
        body = {"type": {"name": link_type}, "inwardIssue": {"key": inward}, "outwardIssue": {"key": outward}}
        if self.settings.cloud:
            self._write(lambda: self.client.link_issues(data=body))
        else:
            self._write(lambda: self.client.create_issue_link(body))


    def create_issues(self, updates: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """One `/issue/bulk` request (at most BULK_LIMIT): (created issues, per-element errors).

        Jira answers 201 when some were created and 400 when none were; both carry `errors[]` with the
        `failedElementNumber` of each refused one. A 429 means nothing was done, so only a 429 is retried;
        any other lost answer raises UncertainCreate."""
        body = {"issueUpdates": list(updates)}

        def send() -> Any:
            try:
                if self.settings.cloud:
                    response = self.client.create_issues(data=body)
                else:
                    response = self.client.create_issues(list(updates))
            except requests.RequestException as exc:
                raise UncertainCreate(f"no answer to the create ({type(exc).__name__})", service=SERVICE) from exc
            if response.status_code == 400:
                payload = _body(response)
                if isinstance(payload, dict) and isinstance(payload.get("errors"), list):
                    return payload
            if response.status_code >= 500:
                raise UncertainCreate(f"{JiraError.parse(response.status_code, _body(response))}",
                                      service=SERVICE, status=response.status_code)
            answer = self._check(response)
            if not isinstance(answer, dict):
                raise UncertainCreate("the create was answered without the created issues", service=SERVICE,
                                      status=response.status_code)
            return answer

        created = self.retry.call(send)
        issues = [i for i in created.get("issues") or [] if isinstance(i, dict)]
        errors = [e for e in created.get("errors") or [] if isinstance(e, dict)]
        return issues, errors

    # ---- responses ------------------------------------------------------------------------------

    def _write(self, call: Callable[[], Any]) -> Any:
        try:
            response = call()
        except requests.RequestException as exc:
            raise connection_error(SERVICE, exc) from exc
        return self._check(response)

    def _read(self, call: Callable[[], Any]) -> Any:
        def attempt() -> Any:
            try:
                response = call()
            except requests.RequestException as exc:
                raise connection_error(SERVICE, exc) from exc
            return self._check(response)

        return self.retry.call(attempt)

    def _check(self, response: requests.Response) -> Any:
        if response.status_code < 400:
            return _body(response)
        error = JiraError.parse(response.status_code, _body(response))
        raise error_for_status(
            SERVICE, response.status_code, str(error), headers=dict(response.headers),
            auth_hint=auth_fix(self.settings),
            not_found_hint=f"check [jira] url ({self.settings.site}) and that the account can browse the project",
        )


def _body(response: requests.Response) -> Any:
    """JSON when Jira sent JSON; else the text (a 401 from the proxy is plain text)."""
    if not response.content:
        return {}
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return response.text
