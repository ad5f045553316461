"""Thin calls over Alertmanager's API v2 and Grafana's HTTP API, with `requests` and our RetryPolicy.

Neither ships an official Python client for these reads; both are one GET each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from ops_postmortem.connectors.http import RetryPolicy, connection_error, error_for_status
from ops_postmortem.errors import ServiceError


@dataclass(frozen=True)
class Page:
    """One response: the decoded body and the bytes as received, kept for the evidence archive."""

    path: str
    data: Any
    raw: bytes


class _Http:
    def __init__(self, service: str, base_url: str, *, headers: Mapping[str, str], auth_hint: str,
                 session: requests.Session | None, retry: RetryPolicy | None, timeout: float) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self._headers = {"Accept": "application/json", **headers}
        self._auth_hint = auth_hint
        self._session = session or requests.Session()
        self._retry = retry or RetryPolicy()
        self._timeout = timeout

    def get(self, path: str, params: Sequence[tuple[str, str]]) -> Page:
        return self._retry.call(lambda: self._once(path, params))

    def _once(self, path: str, params: Sequence[tuple[str, str]]) -> Page:
        try:
            response = self._session.get(f"{self.base_url}{path}", params=list(params), headers=self._headers,
                                         timeout=self._timeout)
        except requests.RequestException as exc:
            raise connection_error(self.service, exc) from exc
        if response.status_code >= 300:
            raise error_for_status(self.service, response.status_code, _message(response),
                                   headers=response.headers, auth_hint=self._auth_hint)
        try:
            return Page(path, response.json(), response.content)
        except ValueError as exc:
            raise ServiceError(f"GET {path} answered with a body that is not JSON", service=self.service,
                               status=response.status_code, retriable=True,
                               hint="check that the URL points at the API, not at a login page") from exc


def _message(response: requests.Response) -> str:
    """Alertmanager answers errors as a JSON string; Grafana as `{"message": ...}`."""
    try:
        body = response.json()
    except ValueError:
        body = response.text[:200]
    if isinstance(body, Mapping):
        body = body.get("message") or body.get("error") or ""
    text = str(body).strip() or "HTTP error"
    return f"{text} (HTTP {response.status_code})"


class AlertmanagerApi:
    """`GET /api/v2/alerts`: every alert Alertmanager still holds, silenced and inhibited ones included."""

    service = "alertmanager"

    def __init__(self, url: str, *, token: str | None = None, session: requests.Session | None = None,
                 retry: RetryPolicy | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        hint = "check [alertmanager] url and, behind an authenticating proxy, [alertmanager] token"
        self.http = _Http(self.service, url, headers=headers, auth_hint=hint, session=session, retry=retry,
                          timeout=timeout)

    @property
    def url(self) -> str:
        return self.http.base_url

    def alerts(self, filters: Sequence[str] = ()) -> Page:
        params = [("active", "true"), ("silenced", "true"), ("inhibited", "true"), ("unprocessed", "true")]
        params += [("filter", matcher) for matcher in filters]
        return self.http.get("/api/v2/alerts", params)


class GrafanaApi:
    """`GET /api/annotations?type=alert`: Grafana Alerting's state history (the default annotation backend)."""

    service = "grafana"

    def __init__(self, url: str, token: str | None, *, session: requests.Session | None = None,
                 retry: RetryPolicy | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        hint = "check [grafana] token (a service account token with annotations:read) and [grafana] url"
        self.http = _Http(self.service, url, headers=headers, auth_hint=hint, session=session, retry=retry,
                          timeout=timeout)

    @property
    def url(self) -> str:
        return self.http.base_url

    def alert_annotations(self, since_ms: int | None, until_ms: int | None, limit: int) -> Page:
        params = [("type", "alert"), ("limit", str(limit))]
        if since_ms is not None:
            params.append(("from", str(since_ms)))
        if until_ms is not None:
            params.append(("to", str(until_ms)))
        return self.http.get("/api/annotations", params)
