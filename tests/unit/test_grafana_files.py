"""Grafana Alerting webhook files: Alertmanager semantics, Grafana's links and datasource alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ops_postmortem.connectors.alertmanager import GrafanaFiles
from ops_postmortem.connectors.alertmanager.grafana import grafana_alert_name
from ops_postmortem.errors import InputError
from ops_postmortem.model import Kind, SourceBatch

GRAFANA = Path(__file__).resolve().parent.parent / "fixtures" / "grafana"
G = "https://grafana.acme.example"
MEM = "9c3e6a1f0b7d2e54@2026-11-03T23:36:50.128Z"
NODATA = "41d7b0e2c9a8f613@2026-11-03T23:38:00Z"
INGRESS = "e07c5b3a9d2f1846@2026-11-03T23:35:40Z"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def collect(*names: str) -> SourceBatch:
    return GrafanaFiles([GRAFANA / name for name in names]).collect("INC-2042")


def test_firing_then_resolved_notifications() -> None:
    batch = collect("firing.json", "resolved.json", "edge.json")

    assert batch.source == "grafana"
    assert [(e.at, e.kind, e.ident) for e in batch.events] == [
        (at("2026-11-03T23:35:40"), Kind.ALERT_FIRING, INGRESS),
        (at("2026-11-03T23:36:50.128"), Kind.ALERT_FIRING, MEM),  # sent as 01:36:50.128349+02:00
        (at("2026-11-03T23:38:00"), Kind.ALERT_FIRING, NODATA),  # in both files: once
        (at("2026-11-04T00:04:50.128"), Kind.ALERT_RESOLVED, MEM),
    ]
    assert {e.actor for e in batch.events} == {"Grafana"}
    assert batch.warnings == ()


def test_resolved_read_before_firing_stays_resolved() -> None:
    assert collect("resolved.json", "firing.json").events == collect("firing.json", "resolved.json").events


def test_link_prefers_panel_then_dashboard_then_rule() -> None:
    links = {(e.ident, e.kind): e.link for e in collect("firing.json", "resolved.json", "edge.json").events}

    # Memory alert: panelURL and dashboardURL both set -> the panel.
    assert links[(MEM, Kind.ALERT_FIRING)] == (
        f"{G}/d/k8s-pods/kubernetes-pods?from=1762209410000&orgId=1&to=1762213010000&viewPanel=12"
    )
    assert links[(MEM, Kind.ALERT_RESOLVED)] == links[(MEM, Kind.ALERT_FIRING)]
    # No-data alert: panelURL "" -> the dashboard.
    assert links[(NODATA, Kind.ALERT_FIRING)] == f"{G}/d/checkout-db/checkout-database?orgId=1"
    # Ingress alert: neither -> the rule's generatorURL, not the silence or image URL.
    assert links[(INGRESS, Kind.ALERT_FIRING)] == f"{G}/alerting/grafana/edx7c1a9kq4f2e/view?orgId=1"


def test_texts_name_datasource_alerts_after_their_rule() -> None:
    texts = {(e.ident, e.kind): e.text for e in collect("firing.json", "resolved.json").events}

    assert (
        texts[(MEM, Kind.ALERT_FIRING)]
        == "CheckoutPodMemoryHigh firing: Checkout pod memory high (severity=warning)"
    )
    assert (
        texts[(MEM, Kind.ALERT_RESOLVED)]
        == "CheckoutPodMemoryHigh resolved: Checkout pod memory high (severity=warning)"
    )
    assert texts[(NODATA, Kind.ALERT_FIRING)] == (
        "Checkout DB pool usage (DatasourceNoData) firing: No data from the checkout-db pool usage query"
    )


def test_grafana_alert_name() -> None:
    assert grafana_alert_name({"alertname": "DatasourceError", "rulename": "Orders rate"}, "f") == (
        "Orders rate (DatasourceError)"
    )
    assert grafana_alert_name({"alertname": "DatasourceNoData"}, "f") == "DatasourceNoData"
    assert grafana_alert_name({"alertname": "HighCPU", "rulename": "ignored"}, "f") == "HighCPU"
    assert grafana_alert_name({}, "0123") == "alert 0123"


def test_dedupe_keys_match_the_alertmanager_scheme() -> None:
    events = collect("firing.json", "resolved.json").events
    assert {e.dedupe_key for e in events} == {
        f"alert:{MEM}:firing",
        f"alert:{MEM}:resolved",
        f"alert:{NODATA}:firing",
    }


def test_alertmanager_payload_is_refused_with_the_right_flag() -> None:
    path = GRAFANA.parent / "alertmanager" / "incident" / "5a0d44e2.json"
    with pytest.raises(InputError) as caught:
        GrafanaFiles([path]).collect("INC-2042")
    assert "an Alertmanager webhook" in str(caught.value) and "5a0d44e2.json" in str(caught.value)
    assert caught.value.hint == "pass it with --alertmanager"


def test_legacy_grafana_notification_is_refused_with_a_hint() -> None:
    with pytest.raises(InputError) as caught:
        collect("legacy-alerting.json")
    assert "legacy-alerting.json: a legacy Grafana alert notification" in str(caught.value)
    assert caught.value.hint is not None and "no alert times" in caught.value.hint


def test_truncated_alerts_warn(tmp_path: Path) -> None:
    payload = json.loads((GRAFANA / "firing.json").read_text())
    payload["truncatedAlerts"] = 3
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(payload))

    batch = GrafanaFiles([path]).collect("INC-2042")

    assert len(batch.events) == 2
    assert len(batch.warnings) == 1 and "truncatedAlerts up to 3" in batch.warnings[0]


def test_version_other_than_1_warns(tmp_path: Path) -> None:
    payload = json.loads((GRAFANA / "edge.json").read_text())
    del payload["version"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(payload))

    batch = GrafanaFiles([path]).collect("INC-2042")

    assert [e.ident for e in batch.events] == [INGRESS]
    expected = f"{path}: Grafana Alerting webhook with no version, expected '1'; read as version 1"
    assert len(batch.warnings) == 1 and batch.warnings[0].startswith(expected)
