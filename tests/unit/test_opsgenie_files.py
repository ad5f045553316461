"""Opsgenie exports: the alert, its log pages and note pages read from files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ops_postmortem.connectors.opsgenie import OpsgenieFiles
from ops_postmortem.connectors.opsgenie.connector import (
    AlertKey,
    alert_facts,
    event_from_log,
    log_kind,
    paging_key,
)
from ops_postmortem.errors import InputError
from ops_postmortem.model import Kind, Person, SourceBatch, TimelineEvent

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "opsgenie"
ALERT_DIR = FIXTURES / "alert-2042"
ALERT = ALERT_DIR / "alert.json"
NOTES = ALERT_DIR / "notes.json"
LOG_PAGES = sorted(ALERT_DIR.glob("logs-*.json"))
OTHER = FIXTURES / "other-alert" / "logs.json"
ALERT_ID = "c5f8e2a1-6b3d-4f0e-9a7c-2d1e4b6f8a90"
WEB = "https://acme.app.opsgenie.com"
ALERT_URL = f"{WEB}/alert/detail/{ALERT_ID}/details"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def collect(*paths: Path | str, incident_id: str = "INC-2042", web_url: str | None = WEB) -> SourceBatch:
    return OpsgenieFiles(list(paths), web_url=web_url).collect(incident_id)


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


def texts(events: tuple[TimelineEvent, ...]) -> list[str]:
    return [e.text for e in events]


@pytest.fixture(scope="module")
def whole() -> SourceBatch:
    return collect(ALERT_DIR)


# ---- the whole export ---------------------------------------------------------------------------


def test_whole_export(whole: SourceBatch) -> None:
    assert whole.source == "opsgenie"
    assert whole.warnings == ()
    assert [(e.kind, e.actor, e.text) for e in whole.events] == [
        (
            Kind.TRIGGER,
            "Alertmanager (prod)",
            "Alert created via Alertmanager (prod)[Prometheus] with tinyId [2042]",
        ),
        (
            Kind.NOTIFY,
            "dana@acme.example",
            "Sent [SMS] notification to [dana@acme.example] about [New alert]",
        ),
        (
            Kind.NOTIFY,
            "dana@acme.example",
            "Sent [mobile] notification to [dana@acme.example] about [New alert]",
        ),
        (Kind.OTHER, "dana@acme.example", "Viewed on [web]"),
        (Kind.ACKNOWLEDGE, "dana@acme.example", "Alert acknowledged via web"),
        (Kind.NOTE, "dana@acme.example", "Rolled back checkout-api to v2.14.2; 5xx ratio dropping"),
        (Kind.NOTE, "lee@acme.example", "Error rate back under 0.1% for 5 minutes; keeping the rollback"),
        (Kind.RESOLVE, "dana@acme.example", "Alert closed via web by [dana@acme.example]"),
    ]
    assert all(e.link == ALERT_URL and e.source == "opsgenie" for e in whole.events)
    assert all(e.dedupe_key == f"opsgenie:{ALERT_ID}:{e.ident}" for e in whole.events)


def test_pages_in_any_order_and_overlapping_give_the_same_events() -> None:
    forward = collect(*LOG_PAGES)
    backward = collect(*reversed(LOG_PAGES))
    assert forward.events == backward.events
    assert len(forward.events) == 8  # eight log lines; the re-run page repeats three of them
    assert len(load(ALERT_DIR / "logs-rerun.json")["data"]) == 3
    assert len({e.ident for e in forward.events}) == 8
    assert all(e.ident.startswith("log:") for e in forward.events)


def test_newest_first_pages_come_out_oldest_first() -> None:
    page = load(ALERT_DIR / "logs-1.json")["data"]
    assert page[0]["log"] == "Alert closed via web by [dana@acme.example]"
    events = collect(ALERT_DIR / "logs-1.json").events
    assert texts(events) == [
        "Added note to alert",
        "Added note to alert",
        "Alert closed via web by [dana@acme.example]",
    ]
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_nanoseconds_and_offsets_become_utc() -> None:
    page = load(ALERT_DIR / "logs-2.json")["data"]
    assert page[0]["createdAt"] == "2026-11-03T23:37:30.318456789Z"
    assert event_from_log(page[0]).at == at("2026-11-03T23:37:30.318456")
    note_log = load(ALERT_DIR / "logs-1.json")["data"][2]
    assert note_log["createdAt"] == "2026-11-04T00:41:12.870+01:00"
    event = event_from_log(note_log)
    assert (event.at, event.kind) == (at("2026-11-03T23:41:12.870"), Kind.NOTE)
    assert event.ident == f"log:{note_log['offset']}"


# ---- notes ----------------------------------------------------------------------------------------


def test_notes_carry_their_text_and_replace_the_added_note_log_lines(whole: SourceBatch) -> None:
    notes = [e for e in whole.events if e.kind == Kind.NOTE]
    assert [(e.at, e.ident) for e in notes] == [
        (at("2026-11-03T23:41:12.861"), "note:1793749272861"),
        (at("2026-11-03T23:50:00.198"), "note:1793749800198"),
    ]
    assert "Added note to alert" not in texts(whole.events)


def test_an_added_note_line_without_the_note_page_stays_a_note() -> None:
    batch = collect(ALERT_DIR / "logs-1.json")
    assert [e.kind for e in batch.events] == [Kind.NOTE, Kind.NOTE, Kind.RESOLVE]


def test_a_note_by_someone_else_is_not_merged_with_the_log_line(tmp_path: Path) -> None:
    notes = load(NOTES)
    notes["data"][1]["owner"] = "sam@acme.example"  # the note next to Dana's "Added note" line
    path = write(tmp_path / "notes.json", notes)
    batch = collect(ALERT_DIR / "logs-1.json", path)
    assert texts(batch.events).count("Added note to alert") == 1
    assert [e.actor for e in batch.events if e.text == "Added note to alert"] == ["dana@acme.example"]


# ---- kinds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Alert created via Alertmanager (prod)[Prometheus] with tinyId [2042]", Kind.TRIGGER),
        ("Alert is created via API", Kind.TRIGGER),
        ("Alert acknowledged via web", Kind.ACKNOWLEDGE),
        ("Alert unacknowledged via mobile", Kind.UNACKNOWLEDGE),
        ("Alert closed via web by [dana@acme.example]", Kind.RESOLVE),
        ("Alert closed by System", Kind.RESOLVE),
        ("Added note to alert", Kind.NOTE),
        ("Sent [SMS] notification to [dana@acme.example] about [New alert]", Kind.NOTIFY),
        ("Sent [email] notification to [dana@acme.example] about [Acknowledged alert]", Kind.NOTIFY),
        ("Alert escalated to next level", Kind.ESCALATE),
        ("Alert assigned to [lee@acme.example]", Kind.ASSIGN),
        ("Viewed on [web]", Kind.OTHER),
        ("Alert snoozed until 2026-11-04T01:00:00Z", Kind.OTHER),
    ],
)
def test_log_texts_map_to_kinds(text: str, kind: str) -> None:
    assert log_kind(text) == kind


# ---- alert facts ----------------------------------------------------------------------------------


def test_alert_facts(whole: SourceBatch) -> None:
    (facts,) = whole.facts
    assert facts.source == "opsgenie"
    assert facts.ident == ALERT_ID
    assert facts.number == "2042"
    assert facts.title == "[prod] checkout-api 5xx ratio above 5%"
    assert facts.severity == "P1"
    assert facts.status == "closed"
    assert facts.url == ALERT_URL
    assert facts.created_at == at("2026-11-03T23:31:02.318")
    assert facts.resolved_at == at("2026-11-03T23:58:05.412")
    assert facts.responders == (
        Person("dana@acme.example", email="dana@acme.example"),
        Person("lee@acme.example", email="lee@acme.example"),
    )


def test_without_web_url_there_is_no_link() -> None:
    batch = collect(ALERT_DIR, web_url=None)
    assert batch.facts[0].url is None
    assert all(e.link is None for e in batch.events)


def test_the_alert_report_supplies_events_the_logs_do_not() -> None:
    batch = collect(ALERT)
    assert [(e.kind, e.at, e.actor, e.text) for e in batch.events] == [
        (
            Kind.TRIGGER,
            at("2026-11-03T23:31:02.318"),
            "Alertmanager",
            "Alert created from Alertmanager: [prod] checkout-api 5xx ratio above 5%",
        ),
        # ackTime 388000 ms and closeTime 1623094 ms after creation
        (
            Kind.ACKNOWLEDGE,
            at("2026-11-03T23:37:30.318"),
            "dana@acme.example",
            "Acknowledged by dana@acme.example (alert report)",
        ),
        (
            Kind.RESOLVE,
            at("2026-11-03T23:58:05.412"),
            "dana@acme.example",
            "Closed by dana@acme.example (alert report)",
        ),
    ]
    assert batch.facts[0].resolved_at == at("2026-11-03T23:58:05.412")
    # With the logs, the report adds nothing: they already have the creation, acknowledgement and close.
    assert not any(e.ident.startswith(("report:", "alert:")) for e in collect(ALERT, *LOG_PAGES).events)


def test_an_open_alert_is_not_resolved(tmp_path: Path) -> None:
    doc = load(ALERT)
    doc["data"].update(status="open", acknowledged=False, report={})
    batch = collect(write(tmp_path / "alert.json", doc))
    assert [e.kind for e in batch.events] == [Kind.TRIGGER]
    assert (batch.facts[0].status, batch.facts[0].resolved_at) == ("open", None)


def test_facts_from_pages_only_use_the_paging_identifier() -> None:
    (facts,) = collect(*LOG_PAGES).facts
    assert facts.ident == ALERT_ID
    assert facts.url == ALERT_URL
    assert facts.title is None and facts.number is None
    assert facts.created_at == at("2026-11-03T23:31:02.318")
    assert facts.resolved_at == at("2026-11-03T23:58:05.412")
    (tiny,) = collect(NOTES).facts
    assert (tiny.ident, tiny.number, tiny.url) == (None, "2042", None)
    assert alert_facts(None, key=AlertKey("alias", "checkout")).ident is None


# ---- which alert ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "incident_id", ["INC-2042", ALERT_ID, "2042", "#2042", "checkout-api/HighErrorRate/prod"]
)
def test_incident_id_may_be_any_alert_identifier(incident_id: str) -> None:
    batch = collect(ALERT_DIR, incident_id=incident_id)
    assert batch.facts[0].ident == ALERT_ID
    assert len(batch.events) == 8


def test_a_page_of_another_alert_is_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        collect(ALERT_DIR, OTHER)
    message = str(caught.value)
    assert message.startswith(f"{OTHER}: a page of Opsgenie alert d9e0f1a2-b3c4-4d5e-8f6a-7b8c9d0e1f2a")
    assert f"{ALERT_ID} (#2042)" in message
    assert caught.value.exit_code == 2


def test_a_note_page_named_by_tiny_id_must_match_the_alert(tmp_path: Path) -> None:
    notes = load(NOTES)
    notes["paging"]["first"] = notes["paging"]["first"].replace("/2042/", "/1988/")
    path = write(tmp_path / "notes.json", notes)
    with pytest.raises(InputError, match=rf"{path}: a page of Opsgenie alert #1988"):
        collect(ALERT, path)


def test_two_different_alerts_are_an_input_error(tmp_path: Path) -> None:
    doc = load(ALERT)
    doc["data"].update(id="d9e0f1a2-b3c4-4d5e-8f6a-7b8c9d0e1f2a", tinyId="1988", alias="search-api/latency")
    other = write(tmp_path / "other.json", doc)
    with pytest.raises(InputError) as caught:
        collect(ALERT, other)
    assert str(caught.value).startswith(
        f"{other}: about Opsgenie alert d9e0f1a2-b3c4-4d5e-8f6a-7b8c9d0e1f2a (#1988)"
    )
    # Naming the other alert makes the first file the odd one out.
    with pytest.raises(InputError, match=rf"^{ALERT}: about Opsgenie alert {ALERT_ID} \(#2042\)"):
        collect(ALERT, other, incident_id="1988")


def test_pages_only_must_name_the_same_alert() -> None:
    with pytest.raises(InputError, match=rf"^{OTHER}: a page of Opsgenie alert d9e0f1a2"):
        collect(*LOG_PAGES, OTHER)
    with pytest.raises(InputError, match=rf"^{LOG_PAGES[0]}: a page of Opsgenie alert {ALERT_ID}"):
        collect(*LOG_PAGES, OTHER, incident_id="d9e0f1a2-b3c4-4d5e-8f6a-7b8c9d0e1f2a")


def test_paging_links_name_the_alert() -> None:
    assert paging_key(load(ALERT_DIR / "logs-2.json")["paging"]) == AlertKey("id", ALERT_ID)
    assert paging_key(load(NOTES)["paging"]) == AlertKey("tiny", "2042")
    alias = {
        "next": "https://api.eu.opsgenie.com/v2/alerts/checkout%2Fprod/logs?identifierType=alias&offset=1"
    }
    assert paging_key(alias) == AlertKey("alias", "checkout/prod")
    assert paging_key({}) is None


# ---- bad and empty input ----------------------------------------------------------------------------


def test_malformed_json_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "logs.json"
    bad.write_text(NOTES.read_text()[:200])
    with pytest.raises(InputError, match=rf"{bad}: malformed JSON at line \d+"):
        collect(bad)


@pytest.mark.parametrize(
    "doc",
    [
        {"result": "Request will be processed", "took": 0.2, "requestId": "43a29c5c"},  # a POST answer
        {
            "data": [{"id": ALERT_ID, "tinyId": "2042", "message": "x", "status": "open"}],
            "took": 0.6,
        },  # GET /v2/alerts
        {"data": {"success": True, "action": "Create", "alertId": ALERT_ID}, "took": 0.02},  # request status
        [1, 2, 3],
    ],
)
def test_unknown_shape_is_an_input_error_listing_the_accepted_shapes(tmp_path: Path, doc: Any) -> None:
    path = write(tmp_path / "export.json", doc)
    with pytest.raises(InputError) as caught:
        collect(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    for shape in ("GET /v2/alerts/{identifier} response", "/logs or /notes page", '"paging"'):
        assert shape in message


def test_an_empty_page_is_fine(tmp_path: Path) -> None:
    empty = write(tmp_path / "logs.json", {"data": [], "paging": {}, "took": 0.003, "requestId": "r1"})
    assert collect(empty) == SourceBatch(source="opsgenie")
    assert collect(empty, ALERT_DIR).events == collect(ALERT_DIR).events


def test_an_unusable_entry_is_skipped_with_a_warning(tmp_path: Path) -> None:
    page = load(ALERT_DIR / "logs-2.json")
    del page["data"][1]["createdAt"]
    path = write(tmp_path / "logs.json", page)
    batch = collect(path)
    assert texts(batch.events) == [
        "Sent [mobile] notification to [dana@acme.example] about [New alert]",
        "Alert acknowledged via web",
    ]
    assert batch.warnings == (f"{path}: log at offset {page['data'][1]['offset']} skipped: no createdAt",)


def test_a_file_with_nothing_usable_adds_a_warning(tmp_path: Path) -> None:
    page = {
        "data": [
            {
                "log": "",
                "type": "system",
                "owner": "System",
                "createdAt": "2026-11-03T23:31:02Z",
                "offset": "1",
            }
        ]
    }
    path = write(tmp_path / "logs.json", page)
    batch = collect(path, ALERT)
    assert batch.warnings == (
        f"{path}: log at offset 1 skipped: no log text",
        f"{path}: nothing usable for the timeline (no alert, logs or notes)",
    )
    assert len(batch.events) == 3  # from the alert report


def test_a_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        collect(tmp_path / "nope.json")
