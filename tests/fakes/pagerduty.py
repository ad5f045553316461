"""A stateful fake of the PagerDuty REST API v2 (the read side we use), following rest-openapiv3.json.

Incidents by id or number, the incident list filtered by `incident_key`, log entries and notes; classic
pagination (`offset`, `limit` capped at 100, `more`, `total` only with `total=true`, 400 past 10,000), token
auth (`Authorization: Token token=...`, 401 otherwise), PagerDuty's error envelope and its rate-limit headers
(`ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset`) on an injected 429.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fakes.server import FakeService, Request, Response, route

MAX_LIMIT = 100
DEFAULT_LIMIT = 25
ITERATION_LIMIT = 10_000

_OVERVIEW_TYPES = {
    "trigger_log_entry", "acknowledge_log_entry", "resolve_log_entry", "unacknowledge_log_entry",
    "escalate_log_entry", "assign_log_entry", "annotate_log_entry", "delegate_log_entry",
}

_ERRORS = {
    400: {"message": "Invalid Input Provided", "code": 2001},
    401: {"message": "Unauthorized", "code": 2006},
    403: {"message": "Forbidden", "code": 2010},
    404: {"message": "Not Found", "code": 2100},
    429: {"message": "Rate Limit Exceeded", "code": 2020},
    500: {"message": "Internal Server Error", "code": 2000},
    502: {"message": "Bad Gateway", "code": 2000},
    503: {"message": "Service Unavailable", "code": 2000},
}


def rate_limited(reset: int = 0) -> dict[str, str]:
    """The headers PagerDuty sends with a 429: how many requests are left and when the window resets."""
    return {"ratelimit-limit": "960", "ratelimit-remaining": "0", "ratelimit-reset": str(reset)}


class FakePagerDuty(FakeService):
    def __init__(self, token: str = "pd-test-token") -> None:
        super().__init__()
        self.token = token
        self.incidents: dict[str, dict[str, Any]] = {}
        self.log_entries: dict[str, list[dict[str, Any]]] = {}
        self.notes: dict[str, list[dict[str, Any]]] = {}

    # ---- state ----------------------------------------------------------------------------------

    def add_incident(
        self,
        incident: Mapping[str, Any],
        log_entries: Iterable[Mapping[str, Any]] = (),
        notes: Iterable[Mapping[str, Any]] | None = None,
    ) -> str:
        """Store an incident with its log entries (any order; served newest first, as PagerDuty does).
        Without explicit notes, every annotate log entry becomes a note, as it is in PagerDuty."""
        ident = str(incident["id"])
        self.incidents[ident] = dict(incident)
        entries = sorted((dict(e) for e in log_entries), key=lambda e: _when(e["created_at"]), reverse=True)
        self.log_entries[ident] = entries
        if notes is None:
            notes = [_note_of(e) for e in entries if e.get("type") == "annotate_log_entry"]
        self.notes[ident] = [dict(n) for n in notes]
        return ident

    def load_files(self, folder: Path) -> str:
        """Load saved `GET /incidents/{id}` and `/log_entries` responses (e.g. examples/pagerduty)."""
        incident: dict[str, Any] | None = None
        entries: list[dict[str, Any]] = []
        for path in sorted(folder.glob("*.json")):
            body = json.loads(path.read_text(encoding="utf-8"))
            if "incident" in body:
                incident = body["incident"]
            entries += body.get("log_entries", [])
        assert incident is not None, f"no incident response in {folder}"
        return self.add_incident(incident, entries)

    # ---- routes -----------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Token token={self.token}":
            with self.lock:
                self.requests.append(request)
            return Response(401, {"error": _ERRORS[401]})
        return super().dispatch(request)

    def error_body(self, status: int) -> Any:
        return {"error": _ERRORS.get(status, {"message": f"HTTP {status}", "code": 2000})}

    @route("GET", r"/incidents/(?P<ref>[^/]+)")
    def get_incident(self, request: Request, ref: str) -> Response:
        incident = self._incident(ref)
        if incident is None:
            return Response(404, self.error_body(404))
        return Response(200, {"incident": incident})

    @route("GET", r"/incidents")
    def list_incidents(self, request: Request) -> Response:
        key = request.arg("incident_key")
        found = [i for i in self.incidents.values() if key is None or i.get("incident_key") == key]
        found.sort(key=lambda i: i.get("created_at", ""))
        return self._page(request, "incidents", found)

    @route("GET", r"/incidents/(?P<ref>[^/]+)/log_entries")
    def list_log_entries(self, request: Request, ref: str) -> Response:
        incident = self._incident(ref)
        if incident is None:
            return Response(404, self.error_body(404))
        overview = request.arg("is_overview", "false")
        if overview not in ("true", "false"):
            return self._invalid("Is Overview is not a valid boolean")
        entries = self.log_entries.get(incident["id"], [])
        if overview == "true":
            entries = [e for e in entries if e.get("type") in _OVERVIEW_TYPES]
        if request.arg("time_zone") == "UTC":  # rendered in the asked zone, else the account's
            entries = [{**e, "created_at": _when(e["created_at"]).strftime("%Y-%m-%dT%H:%M:%SZ")} for e in entries]
        return self._page(request, "log_entries", entries)

    @route("GET", r"/incidents/(?P<ref>[^/]+)/notes")
    def list_notes(self, request: Request, ref: str) -> Response:
        incident = self._incident(ref)
        if incident is None:
            return Response(404, self.error_body(404))
        return Response(200, {"notes": self.notes.get(incident["id"], [])})

    # ---- helpers ----------------------------------------------------------------------------------

    def _incident(self, ref: str) -> dict[str, Any] | None:
        """The API takes an incident id or an incident number."""
        if ref in self.incidents:
            return self.incidents[ref]
        return next((i for i in self.incidents.values() if str(i.get("incident_number")) == ref), None)

    def _invalid(self, *errors: str) -> Response:
        return Response(400, {"error": {**_ERRORS[400], "errors": list(errors)}})

    def _page(self, request: Request, key: str, items: list[dict[str, Any]]) -> Response:
        try:
            offset = int(request.arg("offset", "0") or 0)
            limit = int(request.arg("limit", str(DEFAULT_LIMIT)) or DEFAULT_LIMIT)
        except ValueError:
            return self._invalid("Offset and limit must be integers")
        if offset < 0 or limit < 1:
            return self._invalid("Offset must be >= 0 and limit >= 1")
        limit = min(limit, MAX_LIMIT)
        if offset + limit > ITERATION_LIMIT:
            return self._invalid(f"Offset must be less than {ITERATION_LIMIT}")
        page = items[offset : offset + limit]
        total = len(items) if request.arg("total") == "true" else None
        return Response(200, {key: page, "limit": limit, "offset": offset,
                              "more": offset + len(page) < len(items), "total": total})


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _note_of(entry: Mapping[str, Any]) -> dict[str, Any]:
    channel = entry.get("channel") or {}
    return {
        "id": f"N{entry['id'][:12]}",
        "user": entry.get("agent"),
        "channel": {"summary": "The PagerDuty website or APIs"},
        "content": channel.get("summary") or entry.get("summary"),
        "created_at": entry["created_at"],
    }
