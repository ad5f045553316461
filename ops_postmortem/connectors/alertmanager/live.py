"""Alertmanager and Grafana Alerting as live sources, read over the incident window the paging sources give.

Alertmanager's API v2 lists only alerts that have not ended: an alert is gone from it once resolved, so a live
read shows what still fires (or fired until moments ago). For the full history keep the webhook payloads
(`--alertmanager PATH`) or read Grafana Alerting's state history, which `GrafanaLive` does through the
annotations API. Both map alerts through `connector.py`, like the file readers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ops_postmortem.config import Config
from ops_postmortem.connectors.alertmanager import grafana
from ops_postmortem.connectors.alertmanager.api import AlertmanagerApi, GrafanaApi
from ops_postmortem.connectors.alertmanager.connector import (
    AlertDataError,
    AlertLedger,
    alert_name,
    read_alert,
)
from ops_postmortem.connectors.base import Window
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.errors import ServiceError
from ops_postmortem.model import RawEvidence, SourceBatch, iso_z
from ops_postmortem.timeutil import parse_epoch

GRAFANA_LIMIT = 5_000


class AlertmanagerLive:
    """Alerts that started inside the window, from `GET /api/v2/alerts` (optionally narrowed by matchers)."""

    name = "alertmanager"

    def __init__(self, api: AlertmanagerApi, *, filters: Sequence[str] = ()) -> None:
        self.api = api
        self.filters = tuple(filters)

    @classmethod
    def from_config(cls, config: Config, *, retry: RetryPolicy | None = None) -> AlertmanagerLive:
        section = config.section("alertmanager")
        url = section.string("url", required=True)
        assert url is not None
        token = section.secret("token")
        return cls(AlertmanagerApi(url, token=token.reveal() if token else None, retry=retry),
                   filters=section.strings("filter"))

    def collect_window(self, incident_id: str, window: Window) -> SourceBatch:
        page = self.api.alerts(self.filters)
        if not isinstance(page.data, list):
            raise ServiceError("GET /api/v2/alerts answered without a list of alerts", service=self.name, status=200)
        ledger = AlertLedger(source=self.name, actor="Alertmanager", name_of=alert_name)
        warnings: list[str] = []
        home = f"{self.api.url}/#/alerts"
        for number, alert in enumerate(page.data, start=1):
            if not isinstance(alert, Mapping):
                continue
            try:
                sighting = read_alert(alert, home_link=home)
            except AlertDataError as exc:
                warnings.append(f"alertmanager: alert {number} of /api/v2/alerts: {exc}; skipped")
                continue
            if _inside(sighting.starts_at, window):
                ledger.add(sighting)
        if not len(ledger):
            warnings.append(
                "alertmanager: no alert that started in the incident window is still in Alertmanager (its API "
                "lists only alerts that have not ended); pass saved webhooks with --alertmanager PATH, or "
                "configure [grafana] for alert history"
            )
        return SourceBatch(source=self.name, events=tuple(ledger.events()), warnings=tuple(warnings),
                           raw=(RawEvidence("alertmanager/alerts.json", page.raw),))


class GrafanaLive:
    """Grafana Alerting state changes in the window: Alerting -> firing, Alerting -> Normal -> resolved."""

    name = "grafana"

    def __init__(self, api: GrafanaApi, *, limit: int = GRAFANA_LIMIT) -> None:
        self.api = api
        self.limit = limit

    @classmethod
    def from_config(cls, config: Config, *, retry: RetryPolicy | None = None) -> GrafanaLive:
        section = config.section("grafana")
        url = section.string("url", required=True)
        assert url is not None
        token = section.secret("token")
        return cls(GrafanaApi(url, token.reveal() if token else None, retry=retry))

    def collect_window(self, incident_id: str, window: Window) -> SourceBatch:
        since, until = window
        page = self.api.alert_annotations(_millis(since), _millis(until), self.limit)
        if not isinstance(page.data, list):
            raise ServiceError("GET /api/annotations answered without a list", service=self.name, status=200)
        warnings: list[str] = []
        if len(page.data) >= self.limit:
            warnings.append(f"grafana: the window holds {self.limit} or more alert state changes; older ones "
                            "may be missing")
        ledger = AlertLedger(source=self.name, actor="Grafana", name_of=grafana.grafana_alert_name)
        for alert in state_history_alerts(page.data, self.api.url, warnings):
            try:
                ledger.add(read_alert(alert, link_fields=grafana.LINK_FIELDS))
            except AlertDataError as exc:
                warnings.append(f"grafana: {exc}; skipped")
        return SourceBatch(source=self.name, events=tuple(ledger.events()), warnings=tuple(warnings),
                           raw=(RawEvidence("grafana/alert-annotations.json", page.raw),))


# ---- Grafana state history -> alert dicts ---------------------------------------------------------

# Grafana writes a state annotation's text as `<rule title> {<labels>} - <values>`.
_TEXT = re.compile(r"^(?P<title>.*?) \{(?P<labels>.*)\}(?: - (?P<values>.*))?$", re.DOTALL)
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class _Instance:
    labels: dict[str, str]
    link: str | None
    started: datetime | None = None


def parse_state_text(text: str) -> tuple[str, dict[str, str], str]:
    """('HighErrorRate', {'alertname': ..., ...}, 'B=0.08') from a state annotation's text."""
    match = _TEXT.match(text.strip())
    if not match:
        return text.strip(), {}, ""
    labels = {k: bytes(v, "utf-8").decode("unicode_escape") for k, v in _LABEL.findall(match.group("labels"))}
    return match.group("title"), labels, (match.group("values") or "").strip()


def state_history_alerts(items: Sequence[Any], grafana_url: str, warnings: list[str]) -> list[dict[str, Any]]:
    """Pair each alert instance's Alerting and Normal annotations into Alertmanager-shaped alert dicts."""
    instances: dict[tuple[str, ...], _Instance] = {}
    alerts: list[dict[str, Any]] = []
    dated = [i for i in items if isinstance(i, Mapping) and isinstance(i.get("time"), int)]
    for item in sorted(dated, key=lambda i: (i["time"], i.get("id", 0))):
        title, labels, values = parse_state_text(str(item.get("text") or ""))
        labels.setdefault("alertname", title or f"alert rule {item.get('alertId', '?')}")
        key = (str(item.get("alertId", "")), *sorted(f"{k}={v}" for k, v in labels.items()))
        state = str(item.get("newState") or "")
        at = parse_epoch(item["time"])
        instance = instances.setdefault(key, _Instance(labels, _panel_link(item, grafana_url)))
        if state.startswith("Alerting") and instance.started is None:
            instance.started = at
        elif state.startswith("Normal") and instance.started is not None:
            alerts.append(_alert(instance, instance.started, at, values))
            instance.started = None
    alerts += [_alert(i, i.started, None, "") for i in instances.values() if i.started is not None]
    return alerts


def _alert(instance: _Instance, started: datetime, ended: datetime | None, values: str) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": instance.labels,
        "annotations": {"description": values} if values else {},
        "startsAt": iso_z(started),
        "status": "resolved" if ended else "firing",
        "endsAt": iso_z(ended) if ended else "0001-01-01T00:00:00Z",
    }
    if instance.link:
        alert["panelURL"] = instance.link
    return alert


def _panel_link(item: Mapping[str, Any], grafana_url: str) -> str | None:
    dashboard = item.get("dashboardUID")
    if not isinstance(dashboard, str) or not dashboard:
        return None
    panel = item.get("panelId")
    suffix = f"?viewPanel={panel}" if isinstance(panel, int) and panel else ""
    return f"{grafana_url}/d/{dashboard}{suffix}"


def _inside(at: datetime, window: Window) -> bool:
    since, until = window
    return (since is None or at >= since) and (until is None or at <= until)


def _millis(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)
