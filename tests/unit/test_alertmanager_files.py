"""Alertmanager webhook (version "4") files and the alert mapping they share with the API v2 reader."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ops_postmortem.connectors.alertmanager import AlertmanagerFiles
from ops_postmortem.connectors.alertmanager.connector import (
    AlertDataError,
    AlertLedger,
    alert_text,
    label_fingerprint,
    read_alert,
)
from ops_postmortem.errors import InputError
from ops_postmortem.model import Kind, SourceBatch, TimelineEvent

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
AM = FIXTURES / "alertmanager"
INCIDENT = AM / "incident"
# Delivery order of the incident's notifications; file names (delivery ids) sort differently.
DELIVERED = ["5a0d44e2.json", "a47e9d13.json", "e0f6c2d8.json", "3c9e1b7a.json", "8b21f0c9.json"]

ERR = "6a478f895eb99837"
LAT = "b41cece4703633cb"
ERR_IDENT = f"{ERR}@2026-11-03T23:36:30.482Z"
LAT_IDENT = f"{LAT}@2026-11-03T23:37:05.117Z"
ERR_GRAPH = "http://prometheus-k8s-0:9090/graph?g0.expr=sum+by+%28service%29"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def collect(*paths: Path | str) -> SourceBatch:
    return AlertmanagerFiles(list(paths)).collect("INC-2042")


def summary(batch: SourceBatch) -> list[tuple[datetime, str, str]]:
    return [(e.at, e.kind, e.ident) for e in batch.events]


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((INCIDENT / name).read_text())
    return data


def write(path: Path, payload: object) -> Path:
    path.write_text(json.dumps(payload))
    return path


# ---- the incident's notifications ------------------------------------------------------------


def test_incident_gives_one_firing_and_one_resolved_per_alert() -> None:
    batch = collect(INCIDENT)

    assert batch.source == "alertmanager"
    assert summary(batch) == [
        (at("2026-11-03T23:36:30.482"), Kind.ALERT_FIRING, ERR_IDENT),
        (at("2026-11-03T23:37:05.117"), Kind.ALERT_FIRING, LAT_IDENT),
        (at("2026-11-04T00:01:00.117"), Kind.ALERT_RESOLVED, LAT_IDENT),
        (at("2026-11-04T00:04:30.482"), Kind.ALERT_RESOLVED, ERR_IDENT),
    ]
    assert all(e.count == 1 for e in batch.events)
    assert batch.warnings == ()


def test_event_text_names_the_alert_its_summary_and_telling_labels() -> None:
    texts = [e.text for e in collect(INCIDENT).events]

    latency_labels = "(severity=warning, job=checkout-api, instance=10.42.3.17:8080)"
    assert texts == [
        "CheckoutHighErrorRate firing: 5xx ratio above 5% (severity=page, service=checkout-api)",
        f"CheckoutLatencyP99High firing: p99 latency above 1.5s {latency_labels}",
        f"CheckoutLatencyP99High resolved: p99 latency above 1.5s {latency_labels}",
        "CheckoutHighErrorRate resolved: 5xx ratio above 5% (severity=page, service=checkout-api)",
    ]


def test_links_actor_and_keys() -> None:
    events = collect(INCIDENT).events
    firing, resolved = events[0], events[3]

    assert firing.link is not None and firing.link.startswith(ERR_GRAPH)
    assert resolved.link == firing.link
    assert {e.actor for e in events} == {"Alertmanager"}
    # Firing and resolved of one alert are two facts; the same ident lets key moments pair them.
    assert firing.ident == resolved.ident == ERR_IDENT
    assert firing.dedupe_key == f"alert:{ERR_IDENT}:firing"
    assert resolved.dedupe_key == f"alert:{ERR_IDENT}:resolved"
    assert len({e.dedupe_key for e in events}) == 4


def test_repeated_notifications_count_once() -> None:
    # The error-rate alert is in all five notifications (group changes, repeat_interval).
    assert sum(ERR in (INCIDENT / name).read_text() for name in DELIVERED) == 5
    batch = collect(INCIDENT, INCIDENT / "a47e9d13.json")  # a file given twice changes nothing either

    assert [e.kind for e in batch.events if e.ident == ERR_IDENT] == [Kind.ALERT_FIRING, Kind.ALERT_RESOLVED]


@pytest.mark.parametrize("order", [DELIVERED, list(reversed(DELIVERED)), sorted(DELIVERED)])
def test_delivery_order_does_not_matter(order: list[str]) -> None:
    assert collect(*(INCIDENT / name for name in order)).events == collect(INCIDENT).events


def test_late_firing_notification_does_not_undo_the_resolution() -> None:
    # The resolved notification read first, then the firing ones (a retried webhook saved late).
    batch = collect(INCIDENT / "8b21f0c9.json", INCIDENT / "a47e9d13.json", INCIDENT / "e0f6c2d8.json")

    resolved = [e for e in batch.events if e.kind == Kind.ALERT_RESOLVED]
    assert [(e.ident, e.at) for e in resolved] == [
        (LAT_IDENT, at("2026-11-04T00:01:00.117")),
        (ERR_IDENT, at("2026-11-04T00:04:30.482")),
    ]


def test_zero_endsat_means_still_firing() -> None:
    payload = load("5a0d44e2.json")
    assert payload["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"

    batch = collect(INCIDENT / "5a0d44e2.json", INCIDENT / "3c9e1b7a.json")

    # The latency alert resolved in 3c9e1b7a; the error-rate alert was firing in both.
    assert [(e.kind, e.ident) for e in batch.events if e.kind == Kind.ALERT_RESOLVED] == [
        (Kind.ALERT_RESOLVED, LAT_IDENT)
    ]


def test_go_nanoseconds_and_offsets_become_utc_milliseconds() -> None:
    payload = load("3c9e1b7a.json")
    assert payload["alerts"][0]["startsAt"] == "2026-11-03T23:36:30.482913021Z"
    assert payload["alerts"][1]["startsAt"] == "2026-11-03T15:37:05.117-08:00"

    events = {(e.ident, e.kind): e for e in collect(INCIDENT / "3c9e1b7a.json").events}

    assert events[(ERR_IDENT, Kind.ALERT_FIRING)].at == at("2026-11-03T23:36:30.482")
    assert events[(LAT_IDENT, Kind.ALERT_RESOLVED)].at == at("2026-11-04T00:01:00.117")
    assert all(e.at.utcoffset() is not None and e.at.tzinfo == UTC for e in events.values())


# ---- a webhook log (.jsonl) from an Alertmanager that sent no fingerprint ----------------------


def test_jsonl_log_missing_fingerprint_and_truncated_alerts() -> None:
    batch = collect(AM / "db-webhooks.jsonl")
    first_line = json.loads((AM / "db-webhooks.jsonl").read_text().splitlines()[0])
    labels = first_line["alerts"][0]["labels"]
    assert "fingerprint" not in first_line["alerts"][0]

    ident = f"{label_fingerprint(labels)}@2026-11-03T23:38:12.481Z"
    assert summary(batch) == [
        (at("2026-11-03T23:38:12.481"), Kind.ALERT_FIRING, ident),
        (at("2026-11-04T00:05:40.900"), Kind.ALERT_RESOLVED, ident),
    ]
    assert batch.events[0].text == (
        "PostgresConnectionsSaturated firing: db-7 uses 97% of max_connections (reserved slots only). "
        "(severity=critical, job=postgres-exporter, instance=db-7.internal:9187)"
    )
    # Two notifications said alerts were left out: one warning for the file, not one per notification.
    assert len(batch.warnings) == 1
    warning = batch.warnings[0]
    assert (
        "db-webhooks.jsonl" in warning
        and "2 notification(s)" in warning
        and "truncatedAlerts up to 2" in warning
    )


def test_fingerprint_matches_prometheus_common() -> None:
    # Vectors from prometheus/common model/signature_test.go (labelSetToFingerprint).
    assert int(label_fingerprint({}), 16) == 14695981039346656037
    assert (
        int(label_fingerprint({"name": "garland, briggs", "fear": "love is not enough"}), 16)
        == 5799056148416392346
    )
    assert int(label_fingerprint({"first-label": "first-label-value"}), 16) == 5146282821936882169
    triple = {
        "first-label": "first-label-value",
        "second-label": "second-label-value",
        "third-label": "third-label-value",
    }
    assert int(label_fingerprint(triple), 16) == 13843036195897128121
    # And the fixture's fingerprints are the ones Alertmanager would compute for their labels.
    alert = load("5a0d44e2.json")["alerts"][0]
    assert label_fingerprint(alert["labels"]) == alert["fingerprint"] == ERR


# ---- a saved /api/v2/alerts response ---------------------------------------------------------


def test_api_v2_alerts_future_endsat_is_an_expiry_not_a_resolution() -> None:
    api = json.loads((AM / "api-v2-alerts.json").read_text())
    assert all(a["endsAt"] > a["startsAt"] and a["status"]["state"] == "active" for a in api)

    batch = collect(AM / "api-v2-alerts.json")

    assert [e.kind for e in batch.events] == [Kind.ALERT_FIRING, Kind.ALERT_FIRING]
    # Milliseconds from the API and nanoseconds from webhooks give the same keys: one fact, seen twice.
    webhook_keys = {e.dedupe_key for e in collect(INCIDENT).events}
    assert {e.dedupe_key for e in batch.events} <= webhook_keys
    assert batch.warnings == ()


# ---- link fallback, versions, wrong and bad files --------------------------------------------


def test_link_falls_back_to_external_url(tmp_path: Path) -> None:
    payload = load("5a0d44e2.json")
    payload["alerts"][0]["generatorURL"] = ""

    event = collect(write(tmp_path / "n.json", payload)).events[0]

    assert event.link == "http://alertmanager-main-0:9093"


def test_unknown_version_is_read_with_one_warning_per_file(tmp_path: Path) -> None:
    payloads = [load("5a0d44e2.json"), load("8b21f0c9.json")]
    for payload in payloads:
        payload["version"] = "5"

    batch = collect(write(tmp_path / "log.json", payloads))

    assert len(batch.events) == 4
    assert len(batch.warnings) == 1
    assert "version '5'" in batch.warnings[0] and "log.json" in batch.warnings[0]


def test_grafana_payload_is_refused_with_the_right_flag() -> None:
    with pytest.raises(InputError) as caught:
        collect(FIXTURES / "grafana" / "firing.json")
    assert "firing.json" in str(caught.value) and "Grafana Alerting" in str(caught.value)
    assert caught.value.hint == "pass it with --grafana"


def test_legacy_grafana_payload_is_refused() -> None:
    with pytest.raises(InputError, match=r"legacy-alerting\.json: a legacy Grafana alert notification"):
        collect(FIXTURES / "grafana" / "legacy-alerting.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"receiver": "x", "status": "firing"}',
            r"bad\.json: not a webhook payload from Alertmanager \(no alerts list\)",
        ),
        ('{"alerts": [', r"bad\.json: malformed JSON at line 1"),
        ("[1, 2]", r"bad\.json notification 1: a JSON int, not a webhook payload from Alertmanager"),
        ("", r"bad\.json: empty file"),
    ],
)
def test_unusable_files_give_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        collect(path)


def test_non_utf8_jsonl_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hooks.jsonl"
    path.write_bytes(b'{"version": "4", "alerts": [], "receiver": "caf\xe9"}\n')
    with pytest.raises(InputError, match=r"hooks\.jsonl: not UTF-8 text"):
        collect(path)


def test_bad_alerts_are_skipped_with_warnings_and_the_rest_kept(tmp_path: Path) -> None:
    payload = load("a47e9d13.json")
    good = payload["alerts"][0]
    no_start = dict(payload["alerts"][1], startsAt="0001-01-01T00:00:00Z")
    pending = dict(good, status="pending", fingerprint="0000000000000001")
    payload["alerts"] = [no_start, good, pending, "oops"]

    batch = collect(write(tmp_path / "n.json", payload))

    assert [e.ident for e in batch.events] == [ERR_IDENT]
    assert batch.warnings == (
        f"{tmp_path / 'n.json'} alert 1: no startsAt (got '0001-01-01T00:00:00Z'); skipped",
        f"{tmp_path / 'n.json'} alert 3: status 'pending' is neither firing nor resolved; skipped",
        f"{tmp_path / 'n.json'} alert 4: not an object; skipped",
    )


def test_resolved_without_an_end_warns_unless_another_notification_gives_it(tmp_path: Path) -> None:
    broken = load("8b21f0c9.json")
    broken["alerts"][0]["endsAt"] = "0001-01-01T00:00:00Z"
    path = write(tmp_path / "broken.json", broken)

    alone = collect(path)
    assert [e.kind for e in alone.events if e.ident == ERR_IDENT] == [Kind.ALERT_FIRING]
    assert len(alone.warnings) == 1
    assert "CheckoutHighErrorRate is resolved but its endsAt '0001-01-01T00:00:00Z'" in alone.warnings[0]

    with_good = collect(path, INCIDENT / "8b21f0c9.json")
    assert [e.kind for e in with_good.events if e.ident == ERR_IDENT] == [
        Kind.ALERT_FIRING,
        Kind.ALERT_RESOLVED,
    ]
    assert with_good.warnings == ()


def test_no_alerts_at_all_is_a_warning(tmp_path: Path) -> None:
    payload = load("5a0d44e2.json")
    payload["alerts"] = []
    batch = collect(write(tmp_path / "empty.json", payload))
    assert batch.events == ()
    assert batch.warnings == (f"no Alertmanager alerts in {tmp_path / 'empty.json'}",)


def test_directory_reads_json_and_jsonl(tmp_path: Path) -> None:
    shutil.copytree(INCIDENT, tmp_path / "hooks")
    shutil.copy(AM / "db-webhooks.jsonl", tmp_path / "hooks" / "db.jsonl")
    (tmp_path / "hooks" / "README.txt").write_text("not read")

    assert len(collect(tmp_path / "hooks").events) == 6


# ---- the mapping functions on their own (reused by the API v2 reader) -----------------------


def alert(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "status": "firing",
        "labels": {"alertname": "DiskFull", "instance": "node-3:9100", "job": "node", "severity": "ticket"},
        "annotations": {"description": "Disk /var is 97% full\non node-3"},
        "startsAt": "2026-11-03T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "https://prometheus.example/graph?g0.expr=x",
    }
    base.update(overrides)
    return base


def ledger_events(*alerts: dict[str, Any]) -> list[TimelineEvent]:
    ledger = AlertLedger(source="alertmanager", actor="Alertmanager")
    for item in alerts:
        ledger.add(read_alert(item))
    return ledger.events()


def test_refire_with_a_new_start_is_a_new_alert() -> None:
    events = ledger_events(
        alert(status="resolved", endsAt="2026-11-03T10:05:00Z"),
        alert(startsAt="2026-11-03T10:20:00Z"),
    )
    assert [(e.at, e.kind) for e in events] == [
        (at("2026-11-03T10:00:00"), Kind.ALERT_FIRING),
        (at("2026-11-03T10:05:00"), Kind.ALERT_RESOLVED),
        (at("2026-11-03T10:20:00"), Kind.ALERT_FIRING),
    ]


def test_latest_resolution_wins() -> None:
    events = ledger_events(
        alert(status="resolved", endsAt="2026-11-03T10:30:00Z"),
        alert(status="resolved", endsAt="2026-11-03T10:05:00Z"),
    )
    assert [e.at for e in events if e.kind == Kind.ALERT_RESOLVED] == [at("2026-11-03T10:30:00")]


def test_firing_text_comes_from_a_firing_notification() -> None:
    events = ledger_events(
        alert(status="resolved", endsAt="2026-11-03T10:30:00Z", annotations={"summary": "disk at 60%"}),
        alert(annotations={"summary": "disk at 97%"}),
    )
    assert [e.text for e in events] == [
        "DiskFull firing: disk at 97% (severity=ticket, job=node, instance=node-3:9100)",
        "DiskFull resolved: disk at 60% (severity=ticket, job=node, instance=node-3:9100)",
    ]


def test_resolution_before_start_is_not_used() -> None:
    sighting = read_alert(alert(status="resolved", endsAt="2026-11-03T09:00:00Z"))
    assert sighting.resolved and sighting.ends_at is None


def test_read_alert_rejects_unusable_alerts() -> None:
    with pytest.raises(AlertDataError, match="labels is list"):
        read_alert(alert(labels=["a"]))
    with pytest.raises(AlertDataError, match="startsAt 'yesterday' is not an RFC 3339 time"):
        read_alert(alert(startsAt="yesterday"))


def test_non_http_generator_url_is_not_a_link() -> None:
    assert read_alert(alert(generatorURL="javascript:alert(1)")).link is None
    assert read_alert(alert(generatorURL="/graph?g0.expr=up")).link is None


def test_text_without_summary_or_labels() -> None:
    assert alert_text("Watchdog", "firing", {"alertname": "Watchdog"}, {}) == "Watchdog firing"
    # description is the fallback for summary, on one line; service wins over job.
    assert (
        alert_text("X", "resolved", {"service": "api", "job": "api-job"}, {"description": "two\n  lines"})
        == "X resolved: two lines (service=api)"
    )
    unnamed = alert(labels={"job": "node"}, annotations={})
    assert ledger_events(unnamed)[0].text == f"alert {read_alert(unnamed).fingerprint} firing (job=node)"
