"""Thin calls over the PagerDuty REST API v2 with `requests` and our RetryPolicy.

Why not the official client: `pagerduty` 7.x (httpx2) refuses any base URL that is not https, so it cannot be
pointed at a loopback fake, and both it and the deprecated `pdpyras` retry 429 without limit on a fixed
cooldown, ignoring `ratelimit-reset`; their `iter_all` also hides the pages we keep as evidence and restarts
from offset 0 when a page fails. Four GET endpoints do not need more than requests and the shared policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from ops_postmortem.connectors.http import RetryPolicy, connection_error, error_for_status
from ops_postmortem.errors import ServiceError

SERVICE = "pagerduty"
DEFAULT_URL = "https://api.pagerduty.com"
EU_URL = "https://api.eu.pagerduty.com"
# Classic pagination cannot reach past offset + limit = 10,000 (PagerDuty answers 400 beyond it).
ITERATION_LIMIT = 10_000
MAX_PAGE_SIZE = 100

AUTH_HINT = (
    "check [pagerduty] token (a REST API key with read access) and that [pagerduty] api_url matches the "
    f"account's region ({DEFAULT_URL}, or {EU_URL} for EU accounts)"
)

_NUMBER = re.compile(r"#?(\d+)")


@dataclass(frozen=True)
class Page:
    """One response: the decoded body and the bytes as received, kept for the evidence archive."""

    path: str
    params: Mapping[str, Any]
    data: Any
    raw: bytes


@dataclass
class OffsetPages:
    """The classic offset/limit/more state machine of PagerDuty list endpoints.

    The offset advances by the number of items actually returned (the server may cap `limit`), and paging
    stops on `more: false`, on an empty page, or before the 10,000-record horizon (then `truncated`)."""

    limit: int = MAX_PAGE_SIZE
    offset: int = 0
    done: bool = False
    truncated: bool = False
    pages: int = 0
    total: int | None = None
    seen: int = 0

    def params(self) -> dict[str, str]:
        return {"offset": str(self.offset), "limit": str(self.limit)}

    def advance(self, body: Mapping[str, Any], items: list[Any]) -> None:
        self.pages += 1
        self.seen += len(items)
        total = body.get("total")
        if isinstance(total, int) and not isinstance(total, bool):
            self.total = total
        more = body.get("more") is True
        self.offset += len(items)
        if not more or not items:
            self.done = True
        elif self.offset + self.limit > ITERATION_LIMIT:
            self.done = self.truncated = True


class PagerDutyApi:
    """GET calls for one account; `base_url` picks the service region."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_URL,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session or requests.Session()
        self._headers = {
            "Authorization": f"Token token={token}",
            "Accept": "application/vnd.pagerduty+json;version=2",
            "Content-Type": "application/json",
        }
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self.page_size = max(1, min(page_size, MAX_PAGE_SIZE))

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Page:
        """One GET, retried by the policy when the failure is worth retrying."""
        query = dict(params or {})
        return self._retry.call(lambda: self._get_once(path, query))

    def _get_once(self, path: str, params: Mapping[str, Any]) -> Page:
        try:
            response = self._session.get(
                f"{self.base_url}{path}", params=params, headers=self._headers, timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise connection_error(SERVICE, exc) from exc
        if response.status_code >= 300:
            raise _error(response)
        try:
            data = response.json()
        except ValueError as exc:
            raise ServiceError(
                f"GET {path} answered HTTP {response.status_code} with a body that is not JSON",
                service=SERVICE, status=response.status_code, retriable=True,
            ) from exc
        return Page(path, params, data, response.content)

    def incident(self, ref: str) -> Page:
        """`GET /incidents/{id}`, which takes the incident id or its number."""
        match = _NUMBER.fullmatch(ref.strip())
        ident = match.group(1) if match else ref.strip()
        return self.get(f"/incidents/{quote(ident, safe='')}")

    def incidents_with_key(self, incident_key: str) -> Listing:
        """Incidents whose de-duplication key (or an alert's key) is `incident_key`, over all time."""
        return self.list_all("/incidents", "incidents", {"incident_key": incident_key, "date_range": "all"})

    def log_entries(self, incident_id: str) -> Listing:
        """Every log entry, not only the overview, in UTC."""
        params = {"is_overview": "false", "time_zone": "UTC", "total": "true", "include[]": "channels"}
        return self.list_all(f"/incidents/{incident_id}/log_entries", "log_entries", params)

    def notes(self, incident_id: str) -> Page:
        return self.get(f"/incidents/{incident_id}/notes")

    def list_all(self, path: str, key: str, params: Mapping[str, str]) -> Listing:
        """Every page of a classic-paginated list; each page is retried on its own, never from offset 0."""
        pager = OffsetPages(limit=self.page_size)
        pages: list[Page] = []
        items: list[Any] = []
        while not pager.done:
            page = self.get(path, {**params, **pager.params()})
            body = page.data if isinstance(page.data, Mapping) else {}
            found = body.get(key)
            if not isinstance(found, list):
                raise ServiceError(f"GET {path} answered without a {key!r} list", service=SERVICE,
                                   status=200, hint="check that [pagerduty] api_url points at the REST API")
            pager.advance(body, found)
            pages.append(page)
            items.extend(found)
        return Listing(tuple(pages), items, pager.truncated)


@dataclass(frozen=True)
class Listing:
    """All pages of a list and their items; `truncated` when the 10,000-record horizon stopped paging."""

    pages: tuple[Page, ...]
    items: list[Any]
    truncated: bool = False


def _error(response: requests.Response) -> ServiceError:
    """PagerDuty's error body is `{"error": {"message", "code", "errors": [...]}}`."""
    message = f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        parts = [str(error.get("message") or message)]
        details = error.get("errors")
        if isinstance(details, list) and details:
            parts.append("; ".join(str(d) for d in details))
        message = f"{': '.join(parts)} (HTTP {response.status_code})"
    headers = dict(response.headers)
    # PagerDuty says how long to wait in ratelimit-reset (seconds); honour Retry-After too if present.
    reset = response.headers.get("Retry-After") or response.headers.get("ratelimit-reset")
    if reset is not None:
        headers["Retry-After"] = reset
    return error_for_status(
        SERVICE, response.status_code, message, headers=headers, auth_hint=AUTH_HINT,
        not_found_hint="check the incident id or number, and that the token's account can see it",
    )
