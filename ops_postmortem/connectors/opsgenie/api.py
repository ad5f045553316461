"""Thin calls for one alert's data over Opsgenie's REST API v2, or over the same data in Jira Service
Management's operations API (where Opsgenie moves: Opsgenie's APIs end on 2027-04-05).

Opsgenie has no maintained official Python client (opsgenie-sdk was archived), and the JSM operations API has
none at all, so both are plain `requests` with our RetryPolicy. Both hand back the Opsgenie shapes
(`Alert`, `AlertLog`, `AlertNote`), so `connector.py` maps either.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, urlsplit

import requests

from ops_postmortem.connectors.http import RetryPolicy, connection_error, error_for_status
from ops_postmortem.errors import NotFoundError, ServiceError

SERVICE = "opsgenie"
DEFAULT_URL = "https://api.opsgenie.com"
EU_URL = "https://api.eu.opsgenie.com"
JSM_URL = "https://api.atlassian.com"
PAGE_SIZE = 100

# Pages are bounded so a server that keeps answering "more" cannot keep us here.
MAX_PAGES = 1_000


@dataclass(frozen=True)
class Page:
    """One response: the decoded body and the bytes as received, kept for the evidence archive."""

    path: str
    data: Any
    raw: bytes


@dataclass(frozen=True)
class Listing:
    pages: tuple[Page, ...]
    items: list[Any]


class AlertApi(Protocol):
    """What the live source needs, from Opsgenie or from JSM operations."""

    flavor: str

    def alert(self, identifier: str, kind: str) -> Page: ...

    def logs(self, alert_id: str) -> Listing: ...

    def notes(self, alert_id: str) -> Listing: ...


@dataclass
class OffsetCursor:
    """Opsgenie's log/note paging: pass the last item's `offset` back with `direction=next` while
    `paging.next` is present; stop on an empty page, a missing link, or an offset that does not move."""

    offset: str | None = None
    done: bool = False

    def params(self) -> dict[str, str]:
        return {"direction": "next", **({"offset": self.offset} if self.offset else {})}

    def advance(self, body: Mapping[str, Any], items: list[Any]) -> None:
        paging = body.get("paging")
        has_next = isinstance(paging, Mapping) and bool(paging.get("next"))
        last = items[-1].get("offset") if items and isinstance(items[-1], Mapping) else None
        if not items or not has_next or not isinstance(last, str) or last == self.offset:
            self.done = True
        else:
            self.offset = last


@dataclass
class LinkCursor:
    """JSM operations paging: follow the `after` cursor of `links.next` until there is none."""

    after: str | None = None
    done: bool = False

    def params(self) -> dict[str, str]:
        return {"after": self.after} if self.after else {}

    def advance(self, body: Mapping[str, Any]) -> None:
        links = body.get("links")
        link = links.get("next") if isinstance(links, Mapping) else None
        cursors = parse_qs(urlsplit(link).query).get("after", []) if isinstance(link, str) else []
        after = cursors[0] if cursors else None
        if not after or after == self.after:
            self.done = True
        else:
            self.after = after


class _Http:
    """GET with one auth header, errors mapped to ours and each call under the retry policy."""

    def __init__(self, base_url: str, authorization: str, *, auth_hint: str, session: requests.Session | None,
                 retry: RetryPolicy | None, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session or requests.Session()
        self._headers = {"Authorization": authorization, "Accept": "application/json"}
        self._auth_hint = auth_hint
        self._retry = retry or RetryPolicy()
        self._timeout = timeout

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Page:
        query = dict(params or {})
        return self._retry.call(lambda: self._once(path, query))

    def _once(self, path: str, params: Mapping[str, str]) -> Page:
        try:
            response = self._session.get(f"{self.base_url}{path}", params=params, headers=self._headers,
                                         timeout=self._timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise connection_error(SERVICE, exc) from exc
        if response.status_code >= 300:
            raise self._error(response)
        try:
            return Page(path, response.json(), response.content)
        except ValueError as exc:
            raise ServiceError(f"GET {path} answered with a body that is not JSON", service=SERVICE,
                               status=response.status_code, retriable=True) from exc

    def _error(self, response: requests.Response) -> ServiceError:
        """Opsgenie answers `{"message", "took", "requestId"}`; the JSM API `{"message"}` or `{"errors": [...]}`."""
        try:
            body = response.json()
        except ValueError:
            body = None
        message = ""
        if isinstance(body, Mapping):
            message = str(body.get("message") or "")
            errors = body.get("errors")
            if not message and isinstance(errors, list):
                message = "; ".join(str(e.get("detail") or e.get("title") or e) if isinstance(e, Mapping) else str(e)
                                    for e in errors)
        headers = dict(response.headers)
        # Opsgenie throttles with X-RateLimit-State: THROTTLED and the period to wait in X-RateLimit-Period-In-Sec.
        period = response.headers.get("X-RateLimit-Period-In-Sec")
        if "Retry-After" not in response.headers and period is not None:
            headers["Retry-After"] = period
        text = f"{message or 'HTTP error'} (HTTP {response.status_code})"
        return error_for_status(SERVICE, response.status_code, text, headers=headers, auth_hint=self._auth_hint,
                                not_found_hint="check the alert id, tiny id or alias, and that the key can see it")

    def pages(self, path: str, key: str, params: Mapping[str, str], cursor: OffsetCursor | LinkCursor) -> Listing:
        pages: list[Page] = []
        items: list[Any] = []
        while not cursor.done and len(pages) < MAX_PAGES:
            page = self.get(path, {**params, **cursor.params()})
            body = page.data if isinstance(page.data, Mapping) else {}
            found = body.get(key, body.get("data"))
            if not isinstance(found, list):
                raise ServiceError(f"GET {path} answered without a {key!r} list", service=SERVICE, status=200)
            if isinstance(cursor, OffsetCursor):
                cursor.advance(body, found)
            else:
                cursor.advance(body)
            pages.append(page)
            items.extend(found)
        return Listing(tuple(pages), items)


class OpsgenieApi:
    """Opsgenie REST API v2: `Authorization: GenieKey <key>`; US or EU by `base_url`."""

    flavor = "opsgenie"

    def __init__(self, api_key: str, *, base_url: str = DEFAULT_URL, session: requests.Session | None = None,
                 retry: RetryPolicy | None = None, timeout: float = 30.0) -> None:
        hint = (f"check [opsgenie] api_key (an API key with read access) and that [opsgenie] api_url matches the "
                f"account's region ({DEFAULT_URL}, or {EU_URL} for EU accounts)")
        self.http = _Http(base_url, f"GenieKey {api_key}", auth_hint=hint, session=session, retry=retry,
                          timeout=timeout)

    def alert(self, identifier: str, kind: str) -> Page:
        return self.http.get(f"/v2/alerts/{quote(identifier, safe='')}", {"identifierType": kind})

    def logs(self, alert_id: str) -> Listing:
        return self._list(alert_id, "logs")

    def notes(self, alert_id: str) -> Listing:
        return self._list(alert_id, "notes")

    def _list(self, alert_id: str, what: str) -> Listing:
        params = {"identifierType": "id", "limit": str(PAGE_SIZE), "order": "asc"}
        return self.http.pages(f"/v2/alerts/{quote(alert_id, safe='')}/{what}", "data", params, OffsetCursor())


class JsmOpsApi:
    """Jira Service Management operations API: `{api_url}/jsm/ops/api/{cloudId}/v1/alerts/...`, Basic auth with
    an Atlassian account e-mail and API token. Logs and notes need the full alert id; an alias resolves only
    while the alert is open; a tiny id is found with the alert search (`query=tinyId:N`)."""

    flavor = "jsm"

    def __init__(self, email: str, api_token: str, cloud_id: str, *, base_url: str = JSM_URL,
                 session: requests.Session | None = None, retry: RetryPolicy | None = None,
                 timeout: float = 30.0) -> None:
        basic = base64.b64encode(f"{email}:{api_token}".encode()).decode()
        hint = ("check [opsgenie] jsm_email and api_key (an Atlassian API token of an account with Jira Service "
                "Management operations access, scope read:ops-alert:jira-service-management) and jsm_cloud_id")
        root = f"{base_url.rstrip('/')}/jsm/ops/api/{quote(cloud_id, safe='')}"
        self.http = _Http(root, f"Basic {basic}", auth_hint=hint, session=session, retry=retry, timeout=timeout)

    def alert(self, identifier: str, kind: str) -> Page:
        if kind == "alias":
            return self.http.get("/v1/alerts/alias", {"alias": identifier})
        if kind == "tiny":
            found = self.http.get("/v1/alerts", {"query": f"tinyId:{identifier}", "size": "1"})
            body = found.data if isinstance(found.data, Mapping) else {}
            values = body.get("values", body.get("data"))
            first = values[0] if isinstance(values, list) and values and isinstance(values[0], Mapping) else None
            if first is None or not first.get("id"):
                raise NotFoundError(f"no alert has the tiny id {identifier}", service=SERVICE, status=404)
            identifier = str(first["id"])
        return self.http.get(f"/v1/alerts/{quote(identifier, safe='')}")

    def logs(self, alert_id: str) -> Listing:
        return self._list(alert_id, "logs")

    def notes(self, alert_id: str) -> Listing:
        return self._list(alert_id, "notes")

    def _list(self, alert_id: str, what: str) -> Listing:
        params = {"size": str(PAGE_SIZE), "order": "asc"}
        return self.http.pages(f"/v1/alerts/{quote(alert_id, safe='')}/{what}", "values", params, LinkCursor())


def alert_of(page: Page) -> Mapping[str, Any] | None:
    """The alert object: under `data` for Opsgenie, the body itself (or `values`/`data`) for JSM."""
    body = page.data
    if not isinstance(body, Mapping):
        return None
    inner = body.get("data", body.get("values"))
    alert = inner if isinstance(inner, Mapping) else body
    return alert if alert.get("id") else None
