"""PagerDuty exports: incident responses, log entry pages and v3 webhooks read from files."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ops_postmortem.connectors.pagerduty import PagerDutyFiles
from ops_postmortem.connectors.pagerduty.connector import (
    Observation,
    incident_facts,
    log_entry_kind,
    log_entry_observation,
    merge_observations,
    webhook_kind,
    webhook_observation,
)
from ops_postmortem.errors import InputError
from ops_postmortem.model import Kind, Person, SourceBatch, TimelineEvent

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pagerduty"
INCIDENT = FIXTURES / "incident-4711"
WEBHOOKS = INCIDENT / "webhooks"
OTHER = FIXTURES / "other-incident" / "log_entries.json"
INCIDENT_ID = "Q2CK7BFNQ2V1RS"
INCIDENT_URL = f"https://acme.pagerduty.com/incidents/{INCIDENT_ID}"
PAGES = sorted(INCIDENT.glob("log_entries-*.json"))

# The incident's nine log entries, by what they record.
TRIGGER = "R0T1GQ8W2ZK3M9PX7B4N6C5VJD"
ASSIGN = "R1A2SSGN8Q7W6E5R4T3Y2U1I0O"
NOTIFY_SMS = "R2N0T1FYSMS4K8J7H6G5F4D3S2"
NOTIFY_PUSH = "R3N0T1FYPUSH8K7J6H5G4F3D2S"
ESCALATE = "R4ESC4L8T3Q2W1E9R8T7Y6U5I4"
NOTIFY_PHONE = "R5N0T1FYPH0N3K8J7H6G5F4D3S"
ACK = "R6ACKN0WL3DG3Q1W2E3R4T5Y6U"
NOTE = "R7N0T3ADD3DQ1W2E3R4T5Y6U7I"
RESOLVE = "R8R3S0LV3DQ1W2E3R4T5Y6U7I8"
LOG_IDS = [TRIGGER, ASSIGN, NOTIFY_SMS, NOTIFY_PUSH, ESCALATE, NOTIFY_PHONE, ACK, NOTE, RESOLVE]
# Webhook events that no log entry reports.
PRIORITY_HOOK = "01F9ZQ8B6Y2C4D7E1G3H5J8K0L"
RESPONDER_HOOK = "01F9ZQD9Q1S3U5W7Y9A1C3E5G7"
STATUS_HOOK = "01F9ZQE4H6J8L0N2P4R6T8V0X2"
# Webhook events that repeat a log entry.
ACK_HOOK = "01F9ZQB7X5V3N1M9K7J5H3G1F0"
TRIGGER_HOOK = "01F9ZQ6K3W8RZ2B1T4V7M5N0XA"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def collect(*paths: Path | str, incident_id: str = "INC-2042") -> SourceBatch:
    return PagerDutyFiles(list(paths)).collect(incident_id)


def by_ident(batch: SourceBatch) -> dict[str, TimelineEvent]:
    return {e.ident: e for e in batch.events}


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def whole() -> SourceBatch:
    return collect(INCIDENT)


# ---- the whole export ---------------------------------------------------------------------------


def test_whole_export_gives_each_action_once_in_time_order(whole: SourceBatch) -> None:
    assert whole.source == "pagerduty"
    assert whole.warnings == ()
    assert [e.ident for e in whole.events] == [
        TRIGGER,
        ASSIGN,
        NOTIFY_SMS,
        NOTIFY_PUSH,
        PRIORITY_HOOK,
        ESCALATE,
        NOTIFY_PHONE,
        ACK,
        NOTE,
        RESPONDER_HOOK,
        STATUS_HOOK,
        RESOLVE,
    ]
    assert [e.kind for e in whole.events] == [
        Kind.TRIGGER,
        Kind.ASSIGN,
        Kind.NOTIFY,
        Kind.NOTIFY,
        "priority_updated",
        Kind.ESCALATE,
        Kind.NOTIFY,
        Kind.ACKNOWLEDGE,
        Kind.NOTE,
        "responder_request",
        Kind.STATUS_UPDATE,
        Kind.RESOLVE,
    ]
    assert all(e.source == "pagerduty" and e.at.tzinfo is UTC for e in whole.events)


def test_pages_in_any_order_and_overlapping_give_the_same_events() -> None:
    forward = collect(*PAGES)
    backward = collect(*reversed(PAGES))
    assert [e.ident for e in forward.events] == LOG_IDS
    assert forward.events == backward.events
    # The re-run page repeats three entries of the other pages; they are not doubled.
    rerun = {e["id"] for e in load(INCIDENT / "log_entries-rerun-offset-3.json")["log_entries"]}
    assert rerun == {NOTIFY_PHONE, ESCALATE, NOTIFY_PUSH}
    assert len(forward.events) == len({e.ident for e in forward.events}) == 9


def test_newest_first_pages_come_out_oldest_first() -> None:
    page = load(INCIDENT / "log_entries-p1.json")["log_entries"]
    assert [e["id"] for e in page] == [RESOLVE, NOTE, ACK, NOTIFY_PHONE]
    events = collect(INCIDENT / "log_entries-p1.json").events
    assert [e.ident for e in events] == [NOTIFY_PHONE, ACK, NOTE, RESOLVE]
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_times_with_offsets_and_nanoseconds_become_utc(whole: SourceBatch) -> None:
    events = by_ident(whole)
    # Page 2 was exported with time_zone=Europe/Berlin: "2026-11-04T00:36:02+01:00".
    assert (
        load(INCIDENT / "log_entries-p2.json")["log_entries"][0]["created_at"] == "2026-11-04T00:36:02+01:00"
    )
    assert events[ESCALATE].at == at("2026-11-03T23:36:02")
    hooks = by_ident(collect(WEBHOOKS / "received.jsonl"))
    assert hooks[ACK_HOOK].at == at("2026-11-03T23:37:30.123456")  # "...30.123456789Z"
    assert hooks["01F9ZQF1K3M5P7R9T1V3X5Z7B9"].at == at("2026-11-03T23:58:05.412")  # "...00:58:05.412+01:00"


# ---- REST and webhooks together ---------------------------------------------------------------


def test_an_action_seen_by_rest_and_webhook_counts_once_as_the_log_entry(whole: SourceBatch) -> None:
    acks = [e for e in whole.events if e.kind == Kind.ACKNOWLEDGE]
    assert len(acks) == 1
    ack = acks[0]
    assert ack.ident == ACK  # the log entry, which names the Slack channel
    assert ack.text == "Acknowledged by Dana Whitfield (via slack #inc-4711-checkout)"
    assert ack.dedupe_key == f"pagerduty:{INCIDENT_ID}:{ACK}"
    idents = {e.ident for e in whole.events}
    assert ACK_HOOK not in idents and TRIGGER_HOOK not in idents
    for kind in (Kind.TRIGGER, Kind.ESCALATE, Kind.NOTE, Kind.RESOLVE):
        assert len([e for e in whole.events if e.kind == kind]) == 1, kind
    assert len({e.dedupe_key for e in whole.events}) == len(whole.events)


def test_webhooks_alone_out_of_order_and_redelivered() -> None:
    lines = [json.loads(line)["event"] for line in (WEBHOOKS / "received.jsonl").read_text().splitlines()]
    assert [e["event_type"] for e in lines][:3] == [
        "incident.resolved",
        "incident.annotated",
        "incident.acknowledged",
    ]
    assert [e["id"] for e in lines].count(ACK_HOOK) == 2
    batch = collect(WEBHOOKS)
    assert batch.warnings == ()
    assert [(e.kind, e.actor) for e in batch.events] == [
        (Kind.TRIGGER, "Alertmanager (prod)"),
        ("priority_updated", "Dana Whitfield"),
        (Kind.ESCALATE, None),
        (Kind.ACKNOWLEDGE, "Dana Whitfield"),
        (Kind.NOTE, "Dana Whitfield"),
        ("responder_request", "Dana Whitfield"),
        (Kind.STATUS_UPDATE, "Dana Whitfield"),
        (Kind.RESOLVE, "Dana Whitfield"),
    ]
    texts = [e.text for e in batch.events]
    assert texts[0] == "Triggered by Alertmanager (prod): checkout-api 5xx ratio above 5%"
    assert texts[1] == "Priority set to P1 (via PagerDuty)"
    assert texts[2] == "Escalated to Sam Okafor"
    assert texts[3] == "Acknowledged by Dana Whitfield (via Slack)"
    assert texts[4] == "Rolled back checkout-api to v2.14.2; 5xx ratio dropping"
    assert (
        texts[5]
        == "Requested Lee Turner as a responder: Need a payments DB pair for the rollback (via PagerDuty)"
    )
    assert texts[6].startswith("Status update: Checkout is recovering after a rollback")
    # The service.updated event in the same file says nothing about the incident.
    assert all(e.link == INCIDENT_URL for e in batch.events)
    assert batch.facts[0].status == "resolved"  # the newest snapshot, although it arrived first
    assert batch.facts[0].number == "4711"


def _obs(
    kind: str, when: str, actor: str | None, *, text: str = "x", agent_id: str | None = None
) -> Observation:
    event = TimelineEvent(
        at=at(when), source="pagerduty", kind=kind, text=text, actor=actor, ident=f"{kind}@{when}"
    )
    return Observation(event, agent_id, "user_reference" if actor else None)


def test_matching_needs_same_kind_agent_and_nearby_time() -> None:
    rest = [
        _obs(Kind.ACKNOWLEDGE, "2026-11-03T23:37:30", "Dana Whitfield", agent_id="PD4NAW1"),
        _obs(Kind.RESOLVE, "2026-11-03T23:58:05", "Dana Whitfield", agent_id="PD4NAW1"),
    ]
    hooks = [
        _obs(Kind.ACKNOWLEDGE, "2026-11-03T23:37:30.912", "Dana W.", agent_id="PD4NAW1"),  # same agent id
        _obs(Kind.RESOLVE, "2026-11-03T23:58:05.400", "Sam Okafor", agent_id="PS4M0K1"),  # another person
        _obs(Kind.ACKNOWLEDGE, "2026-11-03T23:40:00", "Dana Whitfield", agent_id="PD4NAW1"),  # minutes later
        _obs(Kind.UNACKNOWLEDGE, "2026-11-03T23:37:31", "Dana Whitfield", agent_id="PD4NAW1"),  # other kind
    ]
    merged = merge_observations(rest, hooks, incident_id="Q1")
    assert [e.ident for e in merged] == [
        rest[0].event.ident,
        rest[1].event.ident,
        hooks[1].event.ident,
        hooks[2].event.ident,
        hooks[3].event.ident,
    ]
    assert merged[0].dedupe_key == f"pagerduty:Q1:{rest[0].event.ident}"


def test_matching_pairs_closest_first_and_compares_note_text() -> None:
    rest = [
        _obs(Kind.NOTE, "2026-11-03T23:41:10", "Dana Whitfield", text="first note"),
        _obs(Kind.NOTE, "2026-11-03T23:41:12", "Dana Whitfield", text="second note, a long one"),
    ]
    hooks = [
        _obs(Kind.NOTE, "2026-11-03T23:41:12.870", "Dana Whitfield", text="second note, a lo"),  # trimmed
        _obs(Kind.NOTE, "2026-11-03T23:41:10.300", "Dana Whitfield", text="first note"),
        _obs(Kind.NOTE, "2026-11-03T23:41:11", "Dana Whitfield", text="a third note"),
    ]
    merged = merge_observations(rest, hooks, incident_id="Q1")
    assert [e.text for e in merged] == ["first note", "second note, a long one", "a third note"]


def test_a_trigger_names_the_integration_or_the_service_and_still_matches() -> None:
    rest = [
        Observation(
            _obs(Kind.TRIGGER, "2026-11-03T23:31:02", "checkout-api").event, "PCHK9A1", "service_reference"
        )
    ]
    hook = Observation(
        _obs(Kind.TRIGGER, "2026-11-03T23:31:02.318", "Alertmanager (prod)").event,
        "PINT7AM",
        "integration_reference",
    )
    assert len(merge_observations(rest, [hook], incident_id="Q1")) == 1
    person = Observation(_obs(Kind.ACKNOWLEDGE, "2026-11-03T23:31:02", "A").event, "PA", "user_reference")
    other = Observation(_obs(Kind.ACKNOWLEDGE, "2026-11-03T23:31:02.1", "B").event, "PB", "user_reference")
    assert len(merge_observations([person], [other], incident_id="Q1")) == 2


# ---- text, actor, link ----------------------------------------------------------------------------


def test_event_text_is_built_from_summary_channel_and_note(whole: SourceBatch) -> None:
    events = by_ident(whole)
    assert events[TRIGGER].text == (
        "Triggered through the API (via api; HighErrorRate: checkout-api 5xx ratio 7.4% > 5% for 5m)"
    )
    assert events[ASSIGN].text == "Assigned to Dana Whitfield (automatic)"
    assert events[NOTE].text == "Rolled back checkout-api to v2.14.2; 5xx ratio dropping"
    assert events[RESOLVE].text == "Resolved by Dana Whitfield (via website)"


def test_notifications_name_the_method_but_never_the_address(whole: SourceBatch) -> None:
    notes = [e for e in whole.events if e.kind == Kind.NOTIFY]
    assert [e.text for e in notes] == [
        "Notified Dana Whitfield by SMS (sms notification; status success)",
        "Notified Dana Whitfield by push notification (status success)",
        "Notified Sam Okafor by phone (phone notification; status no_answer)",
    ]
    everything = " ".join(e.text for e in whole.events)
    for address in ("+15555550123", "+15555550188", "sam.okafor@acme.example"):
        assert (
            address
            in (INCIDENT / "log_entries-p1.json").read_text() + (INCIDENT / "log_entries-p2.json").read_text()
        )
        assert address not in everything


def test_actor_is_the_agent_and_link_falls_back_to_the_incident(whole: SourceBatch) -> None:
    events = by_ident(whole)
    assert events[TRIGGER].actor == "checkout-api"  # the service that triggered it
    assert events[ACK].actor == "Dana Whitfield"
    assert events[ACK].link == f"{INCIDENT_URL}/log_entries/{ACK}"
    assert events[ESCALATE].link == INCIDENT_URL  # html_url is null on this entry
    assert events[PRIORITY_HOOK].link == INCIDENT_URL
    assert events[ACK].evidence.ident == ACK


def test_note_text_comes_from_the_note_field_when_there_is_no_note_channel() -> None:
    entry = {
        "id": "RNOTE1",
        "type": "annotate_log_entry",
        "summary": "Note added",
        "created_at": "2026-11-03T23:41:12Z",
        "agent": {"id": "PD4NAW1", "type": "user_reference", "summary": "Dana Whitfield"},
        "channel": {"type": "web_trigger"},
        "note": "Paged the DB team",
    }
    event = log_entry_observation(entry, incident_url=INCIDENT_URL).event
    assert (event.kind, event.text, event.link) == (Kind.NOTE, "Paged the DB team", INCIDENT_URL)
    resolve = dict(entry, id="RRES1", type="resolve_log_entry", summary="Resolved by Dana Whitfield.")
    assert log_entry_observation(resolve).event.text == (
        "Resolved by Dana Whitfield (via web_trigger). Note: Paged the DB team"
    )


@pytest.mark.parametrize(
    ("entry_type", "kind"),
    [
        ("trigger_log_entry", Kind.TRIGGER),
        ("acknowledge_log_entry", Kind.ACKNOWLEDGE),
        ("acknowledgement_log_entry", Kind.ACKNOWLEDGE),
        ("unacknowledge_log_entry", Kind.UNACKNOWLEDGE),
        ("resolve_log_entry", Kind.RESOLVE),
        ("annotate_log_entry", Kind.NOTE),
        ("assign_log_entry", Kind.ASSIGN),
        ("escalate_log_entry", Kind.ESCALATE),
        ("repeat_escalation_path_log_entry", Kind.ESCALATE),
        ("exhaust_escalation_path_log_entry", Kind.ESCALATE),
        ("notify_log_entry", Kind.NOTIFY),
        ("snooze_log_entry", "snooze"),
        ("urgency_change_log_entry", "urgency_change"),
        ("trigger_log_entry_reference", Kind.TRIGGER),
    ],
)
def test_log_entry_types_map_to_kinds(entry_type: str, kind: str) -> None:
    assert log_entry_kind(entry_type) == kind


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("incident.triggered", Kind.TRIGGER),
        ("incident.acknowledged", Kind.ACKNOWLEDGE),
        ("incident.unacknowledged", Kind.UNACKNOWLEDGE),
        ("incident.resolved", Kind.RESOLVE),
        ("incident.reopened", Kind.REOPEN),
        ("incident.annotated", Kind.NOTE),
        ("incident.escalated", Kind.ESCALATE),
        ("incident.reassigned", Kind.ASSIGN),
        ("incident.status_update_published", Kind.STATUS_UPDATE),
        ("incident.custom_field_values.updated", "custom_field_values_updated"),
    ],
)
def test_webhook_types_map_to_the_kinds_of_the_log_entries(event_type: str, kind: str) -> None:
    assert webhook_kind(event_type) == kind


# ---- incident facts -------------------------------------------------------------------------------


def test_incident_facts(whole: SourceBatch) -> None:
    (facts,) = whole.facts
    assert facts.source == "pagerduty"
    assert facts.ident == INCIDENT_ID
    assert facts.number == "4711"
    assert facts.title == "checkout-api 5xx ratio above 5%"
    assert facts.severity == "P1"
    assert facts.status == "resolved"
    assert facts.service == "checkout-api"
    assert facts.url == INCIDENT_URL
    assert facts.created_at == at("2026-11-03T23:31:02")
    assert facts.resolved_at == at("2026-11-03T23:58:05")
    # Assignees (Dana; Sam by escalation), acknowledgers (Dana), responder requests (Lee).
    assert facts.responders == (
        Person("Dana Whitfield", account_id="PD4NAW1"),
        Person("Sam Okafor", account_id="PS4M0K1"),
        Person("Lee Turner", account_id="PL7A2O4"),
    )


def test_facts_from_log_entries_alone_read_the_incident_reference() -> None:
    (facts,) = collect(*PAGES).facts
    assert (facts.ident, facts.number, facts.title) == (
        INCIDENT_ID,
        "4711",
        "checkout-api 5xx ratio above 5%",
    )
    assert facts.severity is None and facts.status is None  # log entries do not carry them
    assert facts.service == "checkout-api"
    assert facts.created_at == at("2026-11-03T23:31:02")  # the trigger entry
    assert facts.resolved_at == at("2026-11-03T23:58:05")  # the resolve entry


def test_resolved_at_comes_from_last_status_change_when_resolved() -> None:
    incident = load(INCIDENT / "incident.json")["incident"]
    resolved = dict(incident, resolved_at=None, last_status_change_at="2026-11-04T00:58:06+01:00")
    assert incident_facts(resolved).resolved_at == at("2026-11-03T23:58:06")
    open_again = dict(resolved, status="acknowledged")
    assert incident_facts(open_again).resolved_at is None
    no_priority = dict(incident, priority=None)
    assert incident_facts(no_priority).severity is None


def test_a_reopen_after_the_resolve_means_not_resolved() -> None:
    resolve = _obs(Kind.RESOLVE, "2026-11-03T23:58:05", "Dana Whitfield").event
    reopen = _obs(Kind.REOPEN, "2026-11-04T00:10:00", "Dana Whitfield").event
    assert incident_facts(None, events=[resolve]).resolved_at == resolve.at
    assert incident_facts(None, events=[resolve, reopen]).resolved_at is None


# ---- which incident ---------------------------------------------------------------------------------


@pytest.mark.parametrize("incident_id", ["INC-2042", INCIDENT_ID, "4711", "#4711"])
def test_incident_id_may_be_the_team_id_the_pagerduty_id_or_number(incident_id: str) -> None:
    batch = collect(INCIDENT, incident_id=incident_id)
    assert batch.facts[0].ident == INCIDENT_ID
    assert len(batch.events) == 12


def test_a_file_about_another_incident_is_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        collect(INCIDENT, OTHER)
    message = str(caught.value)
    assert str(OTHER) in message
    assert "Q0ZJ8R3M6T1X5V (#4698)" in message and f"{INCIDENT_ID} (#4711)" in message
    assert caught.value.exit_code == 2


def test_incident_id_picks_which_incident_the_files_must_be_about() -> None:
    with pytest.raises(InputError) as caught:
        collect(INCIDENT, OTHER, incident_id="4698")
    # The first file about #4711 is now the odd one out.
    assert str(INCIDENT / "incident.json") in str(caught.value)
    assert "Q0ZJ8R3M6T1X5V (#4698)" in str(caught.value)
    assert collect(OTHER, incident_id="4698").facts[0].ident == "Q0ZJ8R3M6T1X5V"


def test_without_a_fetched_incident_the_first_seen_decides(tmp_path: Path) -> None:
    first = shutil.copy(OTHER, tmp_path / "a.json")
    with pytest.raises(InputError) as caught:
        collect(first, INCIDENT / "log_entries-p1.json")
    assert str(INCIDENT / "log_entries-p1.json") in str(caught.value)


# ---- bad and empty input ----------------------------------------------------------------------------


def test_malformed_json_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "log_entries.json"
    bad.write_text((INCIDENT / "log_entries-p1.json").read_text()[:500])
    with pytest.raises(InputError, match=rf"{bad}: malformed JSON at line \d+"):
        collect(bad)


def test_a_malformed_webhook_line_names_the_file_and_line(tmp_path: Path) -> None:
    lines = (WEBHOOKS / "received.jsonl").read_text().splitlines()
    bad = tmp_path / "hooks.jsonl"
    bad.write_text("\n".join([lines[0], lines[1][:40], *lines[2:]]) + "\n")
    with pytest.raises(InputError, match=rf"{bad}:2: malformed JSON"):
        collect(bad)


@pytest.mark.parametrize(
    "doc",
    [
        {"incidents": [], "limit": 25, "offset": 0, "more": False},  # GET /incidents, not one incident
        {"messages": [{"event": "incident.trigger"}]},  # a v2 webhook
        "log_entries",
    ],
)
def test_unknown_shape_is_an_input_error_listing_the_accepted_shapes(tmp_path: Path, doc: Any) -> None:
    path = write(tmp_path / "export.json", doc)
    with pytest.raises(InputError) as caught:
        collect(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a PagerDuty export")
    for shape in ('{"incident": {...}}', '{"log_entries": [...]}', '{"event": {...}}', ".jsonl"):
        assert shape in message


def test_an_array_with_something_else_than_webhooks_is_an_input_error(tmp_path: Path) -> None:
    hooks = load(WEBHOOKS / "batch.json")
    path = write(tmp_path / "hooks.json", [*hooks, {"log_entries": []}])
    with pytest.raises(InputError, match=rf"{path}: item 2 of the JSON array is not a PagerDuty v3 webhook"):
        collect(path)


def test_an_empty_page_is_fine(tmp_path: Path) -> None:
    empty = write(
        tmp_path / "page.json", {"log_entries": [], "limit": 25, "offset": 100, "more": False, "total": 9}
    )
    assert collect(empty) == SourceBatch(source="pagerduty")
    with_rest = collect(empty, INCIDENT / "log_entries-p3.json")
    assert [e.ident for e in with_rest.events] == [TRIGGER]
    assert with_rest.warnings == ()


def test_a_file_with_nothing_usable_adds_a_warning(tmp_path: Path) -> None:
    service_only = write(
        tmp_path / "service.json", json.loads((WEBHOOKS / "received.jsonl").read_text().splitlines()[-1])
    )
    assert service_only.read_text().count("service.updated") == 1
    empty_array = write(tmp_path / "empty.json", [])
    batch = collect(service_only, empty_array, INCIDENT / "log_entries-p3.json")
    assert [e.ident for e in batch.events] == [TRIGGER]
    assert batch.warnings == (
        f"{service_only}: nothing usable for the timeline (no incident, log entries or incident webhook events)",
        f"{empty_array}: nothing usable for the timeline (no incident, log entries or incident webhook events)",
    )


def test_an_unusable_entry_is_skipped_with_a_warning_and_the_rest_kept(tmp_path: Path) -> None:
    page = load(INCIDENT / "log_entries-p1.json")
    page["log_entries"][1]["created_at"] = "2026-11-03 23:41:12"  # no zone: refuse to guess
    path = write(tmp_path / "page.json", page)
    batch = collect(path)
    assert [e.ident for e in batch.events] == [NOTIFY_PHONE, ACK, RESOLVE]
    assert len(batch.warnings) == 1
    assert batch.warnings[0].startswith(f"{path}: log entry {NOTE} skipped: bad created_at")


def test_a_bare_webhook_event_and_a_single_log_entry_response_are_read(tmp_path: Path) -> None:
    hook = load(WEBHOOKS / "status-update.json")["event"]
    bare = write(tmp_path / "event.json", hook)
    entry = write(
        tmp_path / "entry.json", {"log_entry": load(INCIDENT / "log_entries-p3.json")["log_entries"][0]}
    )
    batch = collect(bare, entry)
    assert [e.ident for e in batch.events] == [TRIGGER, STATUS_HOOK]


def test_webhook_observation_rejects_an_event_without_a_time() -> None:
    hook = dict(load(WEBHOOKS / "status-update.json")["event"], occurred_at=None)
    with pytest.raises(ValueError, match="no occurred_at"):
        webhook_observation(hook)


def test_a_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        collect(tmp_path / "missing")


def test_match_window_is_a_few_seconds() -> None:
    rest = [_obs(Kind.RESOLVE, "2026-11-03T23:58:05", "Dana Whitfield")]
    close = [_obs(Kind.RESOLVE, "2026-11-03T23:58:09.900", "Dana Whitfield")]
    far = [_obs(Kind.RESOLVE, "2026-11-03T23:58:10.001", "Dana Whitfield")]
    assert len(merge_observations(rest, close, incident_id="Q1")) == 1
    assert len(merge_observations(rest, far, incident_id="Q1")) == 2
    assert len(merge_observations(rest, far, incident_id="Q1", window=timedelta(seconds=6))) == 1


def test_a_channel_summary_that_is_only_an_address_is_left_out() -> None:
    entry = {
        "id": "RACKSMS",
        "type": "acknowledge_log_entry",
        "summary": "Acknowledged by Sam Okafor.",
        "created_at": "2026-11-03T23:36:40Z",
        "agent": {"id": "PS4M0K1", "type": "user_reference", "summary": "Sam Okafor"},
        "channel": {"type": "sms", "summary": "+1 (555) 555-0188"},
    }
    assert log_entry_observation(entry).event.text == "Acknowledged by Sam Okafor (via sms)"
    by_mail = dict(entry, channel={"type": "email", "summary": "sam.okafor@acme.example"})
    assert log_entry_observation(by_mail).event.text == "Acknowledged by Sam Okafor (via email)"
    subject = dict(entry, channel={"type": "email", "summary": "Re: checkout-api 5xx"})
    assert (
        log_entry_observation(subject).event.text
        == "Acknowledged by Sam Okafor (via email; Re: checkout-api 5xx)"
    )
