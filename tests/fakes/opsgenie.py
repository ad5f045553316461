"""A stateful fake of Opsgenie's alert API v2 (swagger.json) and of the same alerts in Jira Service Management's
operations API (`/jsm/ops/api/{cloudId}/v1/alerts/...`).

Opsgenie: `Authorization: GenieKey <key>`; `GET /v2/alerts/{identifier}?identifierType=id|tiny|alias`; logs and
notes paged by the entries' `offset` strings with `direction=next|prev`, `order=asc|desc`, `limit` 1..100 and
`paging.next` links; errors `{"message", "took", "requestId"}`; a 429 carries `X-RateLimit-State: THROTTLED`
and `X-RateLimit-Period-In-Sec`.
JSM operations: Basic auth (e-mail and API token); `GET /v1/alerts/{id}` answers the alert itself; an alias
resolves only while the alert is open (`GET /v1/alerts/alias?alias=`); the tiny id through the alert search
(`GET /v1/alerts?query=tinyId:N`); logs and notes as `{"values", "links": {"next"}}` paged with `size` and an
opaque `after` cursor; a 429 carries Retry-After.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

from tests.fakes.server import FakeService, Request, Response, route

OPSGENIE_KEY = "og-test-key"
JSM_EMAIL = "bot@acme.example"
JSM_TOKEN = "jsm-test-token"
CLOUD_ID = "3f1c0a52-77b1-4f5c-9d4e-2a6b8c1d0e9f"

_MESSAGES = {
    401: "Could not authenticate",
    403: "You are not authorized for this operation",
    404: "Alert does not exist",
    422: "Request has invalid parameters",
    429: "You are making too many requests! To avoid errors, we recommend you limit requests.",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def throttled(period: int = 1) -> dict[str, str]:
    """Opsgenie's rate-limit headers on a 429."""
    return {"X-RateLimit-State": "THROTTLED", "X-RateLimit-Reason": "ACCOUNT", "X-RateLimit-Period-In-Sec": str(period)}


def _order_key(entry: Mapping[str, Any]) -> tuple[int, ...]:
    return tuple(int(part) for part in str(entry["offset"]).split("_"))


class FakeOpsgenie(FakeService):
    def __init__(self, api_key: str = OPSGENIE_KEY, *, jsm_email: str = JSM_EMAIL, jsm_token: str = JSM_TOKEN,
                 cloud_id: str = CLOUD_ID) -> None:
        super().__init__()
        self.api_key = api_key
        self.jsm_basic = "Basic " + base64.b64encode(f"{jsm_email}:{jsm_token}".encode()).decode()
        self.cloud_id = cloud_id
        self.alerts: dict[str, dict[str, Any]] = {}
        self.logs: dict[str, list[dict[str, Any]]] = {}
        self.notes: dict[str, list[dict[str, Any]]] = {}

    # ---- state ----------------------------------------------------------------------------------

    def add_alert(self, alert: Mapping[str, Any], logs: Iterable[Mapping[str, Any]] = (),
                  notes: Iterable[Mapping[str, Any]] = ()) -> str:
        ident = str(alert["id"])
        self.alerts[ident] = dict(alert)
        self.logs[ident] = sorted(({**e} for e in logs), key=_order_key)
        self.notes[ident] = sorted(({**n} for n in notes), key=_order_key)
        return ident

    def load_files(self, folder: Path) -> str:
        """An alert response plus log and note pages saved from the API (duplicates across pages are one)."""
        alert: dict[str, Any] | None = None
        logs: dict[str, dict[str, Any]] = {}
        notes: dict[str, dict[str, Any]] = {}
        for path in sorted(folder.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))["data"]
            if isinstance(data, dict):
                alert = data
                continue
            for item in data:
                (logs if "log" in item else notes)[item["offset"]] = item
        assert alert is not None, f"no alert response in {folder}"
        return self.add_alert(alert, logs.values(), notes.values())

    # ---- auth and errors ------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        jsm = request.path.startswith("/jsm/ops/api/")
        expected = self.jsm_basic if jsm else f"GenieKey {self.api_key}"
        if request.headers.get("authorization") != expected:
            with self.lock:
                self.requests.append(request)
            body = {"code": 401, "message": "Unauthorized"} if jsm else self._body(401)
            return Response(401, body)
        return super().dispatch(request)

    def _body(self, status: int, message: str | None = None) -> dict[str, Any]:
        return {"message": message or _MESSAGES.get(status, f"HTTP {status}"), "took": 0.001,
                "requestId": str(uuid.uuid4())}

    def error_body(self, status: int) -> Any:
        return self._body(status)

    def _find(self, identifier: str, kind: str, *, open_only: bool = False) -> dict[str, Any] | None:
        field = {"id": "id", "tiny": "tinyId", "alias": "alias"}[kind]
        for alert in self.alerts.values():
            if str(alert.get(field)) == identifier and not (open_only and alert.get("status") == "closed"):
                return alert
        return None

    # ---- Opsgenie v2 ------------------------------------------------------------------------------

    @route("GET", r"/v2/alerts/(?P<identifier>[^/]+)")
    def get_alert(self, request: Request, identifier: str) -> Response:
        kind = request.arg("identifierType", "id") or "id"
        if kind not in ("id", "tiny", "alias"):
            return Response(422, self._body(422, "Invalid identifier type"))
        alert = self._find(unquote(identifier), kind)
        if alert is None:
            return Response(404, self._body(404))
        return Response(200, {"data": alert, "took": 0.004, "requestId": str(uuid.uuid4())})

    @route("GET", r"/v2/alerts/(?P<identifier>[^/]+)/(?P<what>logs|notes)")
    def list_entries(self, request: Request, identifier: str, what: str) -> Response:
        kind = request.arg("identifierType", "id") or "id"
        alert = self._find(unquote(identifier), kind) if kind in ("id", "tiny", "alias") else None
        if alert is None:
            return Response(404, self._body(404))
        try:
            limit = int(request.arg("limit", "20") or 20)
        except ValueError:
            return Response(422, self._body(422, "Limit should be a number"))
        order, direction = request.arg("order", "desc"), request.arg("direction", "next")
        if not 1 <= limit <= 100 or order not in ("asc", "desc") or direction not in ("next", "prev"):
            return Response(422, self._body(422))
        entries = (self.logs if what == "logs" else self.notes)[alert["id"]]
        ordered = entries if order == "asc" else list(reversed(entries))
        offset = request.arg("offset")
        if offset:
            position = next((i for i, e in enumerate(ordered) if e["offset"] == offset), None)
            if position is None:
                return Response(422, self._body(422, "Invalid offset"))
            ordered = ordered[position + 1:] if direction == "next" else list(reversed(ordered[:position]))
        page = ordered[:limit]
        base = f"https://api.opsgenie.com/v2/alerts/{identifier}/{what}"
        common = {"identifierType": kind, "limit": limit, "order": order}
        paging = {"first": f"{base}?{urlencode(common)}"}
        if page and len(ordered) > limit:
            paging["next"] = f"{base}?{urlencode({**common, 'offset': page[-1]['offset'], 'direction': 'next'})}"
        return Response(200, {"data": page, "paging": paging, "took": 0.02, "requestId": str(uuid.uuid4())})

    # ---- JSM operations ---------------------------------------------------------------------------

    def _jsm_cloud(self, cloud: str) -> Response | None:
        if cloud != self.cloud_id:
            return Response(404, {"errors": [{"title": "Not Found", "detail": f"site {cloud} not found"}]})
        return None

    @route("GET", r"/jsm/ops/api/(?P<cloud>[^/]+)/v1/alerts")
    def jsm_search(self, request: Request, cloud: str) -> Response:
        if (missing := self._jsm_cloud(cloud)) is not None:
            return missing
        query = request.arg("query", "") or ""
        found = list(self.alerts.values())
        if query.startswith("tinyId:"):
            found = [a for a in found if str(a.get("tinyId")) == query.removeprefix("tinyId:")]
        size = int(request.arg("size", "20") or 20)
        return Response(200, {"values": found[:size], "count": len(found), "links": {}})

    @route("GET", r"/jsm/ops/api/(?P<cloud>[^/]+)/v1/alerts/alias")
    def jsm_alias(self, request: Request, cloud: str) -> Response:
        if (missing := self._jsm_cloud(cloud)) is not None:
            return missing
        alert = self._find(request.arg("alias", "") or "", "alias", open_only=True)
        if alert is None:
            return Response(404, {"message": "Alert with given alias does not exist or is closed"})
        return Response(200, alert)

    @route("GET", r"/jsm/ops/api/(?P<cloud>[^/]+)/v1/alerts/(?P<ident>[^/]+)")
    def jsm_alert(self, request: Request, cloud: str, ident: str) -> Response:
        if (missing := self._jsm_cloud(cloud)) is not None:
            return missing
        if ident == "alias":
            return self.jsm_alias(request, cloud)
        alert = self.alerts.get(ident)
        if alert is None:
            return Response(404, {"message": "Alert not found"})
        return Response(200, alert)

    @route("GET", r"/jsm/ops/api/(?P<cloud>[^/]+)/v1/alerts/(?P<ident>[^/]+)/(?P<what>logs|notes)")
    def jsm_entries(self, request: Request, cloud: str, ident: str, what: str) -> Response:
        if (missing := self._jsm_cloud(cloud)) is not None:
            return missing
        if ident not in self.alerts:
            return Response(404, {"message": "Alert not found"})
        size = int(request.arg("size", "20") or 20)
        order = request.arg("order", "desc")
        entries = (self.logs if what == "logs" else self.notes)[ident]
        ordered = entries if order == "asc" else list(reversed(entries))
        start = int(request.arg("after", "0") or 0)  # the cursor is opaque to clients; here a position
        page = ordered[start:start + size]
        links: dict[str, str] = {}
        if start + size < len(ordered):
            query = urlencode({"size": size, "order": order, "after": start + size})
            links["next"] = f"https://api.atlassian.com/jsm/ops/api/{cloud}/v1/alerts/{ident}/{what}?{query}"
        return Response(200, {"values": page, "links": links})
