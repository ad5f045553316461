"""Stateful fakes of Alertmanager's API v2 (`GET /api/v2/alerts`) and of Grafana's annotations API.

Alertmanager: alerts are kept as Alertmanager holds them (`GettableAlert`: labels, annotations, startsAt,
endsAt, updatedAt, fingerprint, receivers, status `{state, silencedBy, inhibitedBy}`), and, as in
api/v2/api.go, an alert whose endsAt is before the fake's clock is never listed; `filter` takes label
matchers (`name="value"`, `!=`, `=~`, `!~`), a malformed one is a 400 whose body is a JSON string; results
are sorted by fingerprint.
Grafana: `GET /api/annotations?type=alert&from=&to=&limit=` over stored state annotations, newest first,
`Authorization: Bearer <token>`, 401 `{"message": "Invalid API key", ...}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ops_postmortem.connectors.alertmanager.connector import label_fingerprint
from tests.fakes.server import FakeService, Request, Response, route

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')
_ZERO = "0001-01-01T00:00:00Z"
GRAFANA_TOKEN = "glsa_test_token"


def _time(text: str) -> datetime:
    # Go writes nanoseconds; Python keeps microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    return datetime.fromisoformat(text).astimezone(UTC)


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class FakeAlertmanager(FakeService):
    def __init__(self, now: datetime | None = None) -> None:
        super().__init__()
        self.now = now or datetime.now(UTC)
        self.alerts: dict[tuple[str, str], dict[str, Any]] = {}

    def add_alert(self, alert: Mapping[str, Any], *, receiver: str = "default") -> None:
        """Store one alert (webhook or API shape); a later copy of the same alert replaces the earlier."""
        labels = dict(alert["labels"])
        fingerprint = alert.get("fingerprint") or label_fingerprint(labels)
        starts = _time(alert["startsAt"])
        ends_text = alert.get("endsAt") or _ZERO
        # A firing alert's end is only its expiry: Prometheus re-sends it, so it always lies ahead.
        ends = self.now + timedelta(minutes=4) if ends_text.startswith("0001-") else _time(ends_text)
        self.alerts[(fingerprint, _iso(starts))] = {
            "labels": labels,
            "annotations": dict(alert.get("annotations") or {}),
            "startsAt": _iso(starts),
            "endsAt": _iso(ends),
            "updatedAt": _iso(min(self.now, ends)),
            "fingerprint": fingerprint,
            "generatorURL": alert.get("generatorURL", ""),
            "receivers": [{"name": receiver}],
            "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
        }

    def load_webhooks(self, payloads: Iterable[Path]) -> None:
        """Feed saved webhook notifications in delivery order (by their alerts' times), as they happened."""
        bodies = [json.loads(p.read_text(encoding="utf-8")) for p in payloads]
        for body in sorted(bodies, key=lambda b: max(_latest(a) for a in b["alerts"])):
            for alert in body["alerts"]:
                if _time(alert["startsAt"]) <= self.now:
                    self.add_alert(alert, receiver=body.get("receiver", "default"))

    @route("GET", r"/api/v2/alerts")
    def get_alerts(self, request: Request) -> Response:
        matchers = []
        for text in request.query.get("filter", []):
            match = _MATCHER.match(text)
            if match is None:
                return Response(400, f"bad matcher format: {text}")
            matchers.append(match.groups())
        listed = []
        for alert in self.alerts.values():
            if _time(alert["endsAt"]) < self.now or _time(alert["startsAt"]) > self.now:
                continue
            if all(_matches(alert["labels"].get(name, ""), op, value) for name, op, value in matchers):
                listed.append(alert)
        return Response(200, sorted(listed, key=lambda a: a["fingerprint"]))

    def error_body(self, status: int) -> Any:
        return "internal error" if status >= 500 else f"HTTP {status}"


def _latest(alert: Mapping[str, Any]) -> datetime:
    ends = alert.get("endsAt") or _ZERO
    return _time(alert["startsAt"]) if ends.startswith("0001-") else _time(ends)


def _matches(actual: str, op: str, value: str) -> bool:
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    hit = re.fullmatch(value, actual) is not None
    return hit if op == "=~" else not hit


class FakeGrafana(FakeService):
    def __init__(self, token: str = GRAFANA_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.annotations: list[dict[str, Any]] = []

    def add_state(self, *, rule_id: int, title: str, labels: Mapping[str, str], prev: str, new: str,
                  at: datetime, values: str = "", dashboard_uid: str = "", panel_id: int = 0) -> None:
        """One state annotation as Grafana Alerting's annotation historian writes it."""
        label_text = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        millis = int(at.timestamp() * 1000)
        self.annotations.append({
            "id": len(self.annotations) + 1, "alertId": rule_id, "alertName": "", "dashboardId": 0,
            "dashboardUID": dashboard_uid, "panelId": panel_id, "userId": 0, "newState": new, "prevState": prev,
            "created": millis, "updated": millis, "time": millis, "timeEnd": millis,
            "text": f"{title} {{{label_text}}}" + (f" - {values}" if values else ""),
            "tags": [], "login": "", "email": "", "avatarUrl": "", "data": {},
        })

    def dispatch(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            with self.lock:
                self.requests.append(request)
            return Response(401, {"extra": None, "message": "Invalid API key", "messageId": "api-key.invalid",
                                  "statusCode": 401, "traceID": ""})
        return super().dispatch(request)

    def error_body(self, status: int) -> Any:
        return {"message": {429: "Too many requests", 500: "Internal Server Error"}.get(status, f"HTTP {status}")}

    @route("GET", r"/api/annotations")
    def find(self, request: Request) -> Response:
        since = int(request.arg("from", "0") or 0)
        until = int(request.arg("to", str(2**62)) or 2**62)
        limit = int(request.arg("limit", "100") or 100)
        kind = request.arg("type")
        found = [a for a in self.annotations if since <= a["time"] <= until
                 and (kind != "alert" or a["alertId"]) and (kind != "annotation" or not a["alertId"])]
        found.sort(key=lambda a: a["time"], reverse=True)
        return Response(200, found[:limit])
