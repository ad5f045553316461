"""Reading a channel out of Slack workspace exports (folder and ZIP), and the message mapping."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ops_postmortem.connectors.slack import SlackExport
from ops_postmortem.connectors.slack.connector import (
    ChannelContext,
    UserDirectory,
    message_event,
    slack_time,
)
from ops_postmortem.errors import InputError
from ops_postmortem.model import Kind, SourceBatch, TimelineEvent
from ops_postmortem.timeutil import parse_slack_ts

EXPORT = Path(__file__).resolve().parent.parent / "fixtures" / "slack" / "export"
CHANNEL = "inc-2042-checkout-5xx"
CHANNEL_DIR = CHANNEL
WORKSPACE = "https://acme.slack.com"
PARENT = "1762213100.000200"


def zip_export(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
    return target


@pytest.fixture(params=["folder", "zip", "rezipped-folder"])
def export(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The same export as Slack's ZIP, as the unpacked folder, and re-zipped under a top folder."""
    if request.param == "folder":
        return EXPORT
    prefix = "Acme Slack export Nov 3 2025 - Nov 4 2025/" if request.param == "rezipped-folder" else ""
    return zip_export(EXPORT, tmp_path / "export.zip", prefix)


def collect(paths: list[Path], channel: str = CHANNEL, **kwargs: Any) -> SourceBatch:
    return SlackExport(paths, channel, workspace_url=WORKSPACE, **kwargs).collect("INC-2042")


def by_ts(batch: SourceBatch) -> dict[str, TimelineEvent]:
    return {e.ident: e for e in batch.events}


def writable_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "export"
    shutil.copytree(EXPORT, copy)
    return copy


# ---- the export as a whole --------------------------------------------------------------------


def test_reads_the_channel_in_order(export: Path) -> None:
    batch = collect([export])
    assert batch.source == "slack"
    assert batch.warnings == ()
    assert [e.at for e in batch.events] == sorted(e.at for e in batch.events)
    assert all(e.source == "slack" for e in batch.events)
    messages = [e.ident for e in batch.events if e.kind == Kind.MESSAGE]
    assert messages == [
        "1762213050.000100",
        "1762213080.000000",
        "1762213090.000010",
        PARENT,
        "1762213200.000300",
        "1762213300.000500",
        "1762213400.000600",
        "1762213500.000700",
        "1762213800.001100",
        "1762214460.000100",
        "1762214520.000200",
        "1762214580.000300",
        "1762214640.000400",
    ]


def test_other_channels_are_not_read(export: Path) -> None:
    texts = [e.text for e in collect([export]).events]
    assert "lunch?" not in texts
    assert "Rotating the leaked key now" not in texts


def test_ts_is_kept_as_the_exact_string(export: Path) -> None:
    events = by_ts(collect([export]))
    # float("1762213050.000100") truncates to ...000099 microseconds; the string keeps every digit.
    alert = events["1762213050.000100"]
    assert alert.at == datetime(2025, 11, 3, 23, 37, 30, 100, tzinfo=UTC)
    assert events["1762213080.000000"].ident == "1762213080.000000"  # not "1762213080.0"
    assert events["1762213090.000010"].at.microsecond == 10
    assert events["1762213200.000300"].at.microsecond == 300


@pytest.mark.parametrize(
    "ts",
    ["1762213050.000100", "1762213080.000000", "0000000001.999999", "1762213050.0001", "1762213050", "17.5"],
)
def test_fast_ts_parsing_agrees_with_timeutil(ts: str) -> None:
    assert slack_time(ts) == parse_slack_ts(ts)


def test_actors(export: Path) -> None:
    events = by_ts(collect([export]))
    assert events[PARENT].actor == "Alice (IC)"  # profile.display_name
    assert events["1762213200.000300"].actor == "Bob Okafor"  # no display name: real_name
    assert events["1762213400.000600"].actor == "Carol Diaz"  # deleted user, still in users.json
    assert events["1762213300.000500"].actor == "dana (Payments Co)"  # guest: embedded user_profile
    assert events["1762214760.000600"].actor == "U09GUEST"  # guest without a profile in the message
    assert events["1762213050.000100"].actor == "Alertmanager"  # bot: username
    assert events["1762213080.000000"].actor == "Grafana"  # bot: bot_profile.name
    assert events["1762213090.000010"].actor == "B0DEPLOYS"  # bot: only bot_id
    assert events["1762213500.000700"].actor == "PagerDuty"  # app bot user from users.json


def test_mrkdwn_is_decoded_with_the_directories(export: Path) -> None:
    events = by_ts(collect([export]))
    assert events[PARENT].text == (
        "@here I'm IC for this one. @Bob Okafor can you check the checkout dashboard "
        "(https://grafana.example.com/d/chk?from=now-1h&to=now)? cc @sre-oncall, see #general and "
        "#inc-2041-search-latency. Status page: https://status.example.com. Mail ops@example.com. "
        "Started Nov 3, 2025 23:36 UTC, error rate << normal & rising"
    )
    assert events["1762213800.001100"].text == (
        "@channel war room in the huddle; @old-handle and @U0888GONE please join"
    )


def test_app_posts_take_their_text_from_attachments_and_blocks(export: Path) -> None:
    events = by_ts(collect([export]))
    assert events["1762213050.000100"].text == (
        "[FIRING:1] CheckoutHighErrorRate checkout-api (prod critical)\n"
        "*Summary:* 5xx ratio 12.4% > 5% for 5m\n"
        "*Runbook:* checkout 5xx runbook (https://runbooks.example.com/checkout/5xx)\n"
        "severity: critical\n"
        "cluster: prod-eu-1"
    )
    # `text` was only Slack's "can't be displayed" fallback; the action buttons carry no text.
    assert events["1762213500.000700"].text == (
        "*#2042 Checkout 5xx error rate (https://acme.pagerduty.com/incidents/Q2042)*\n"
        "Triggered on *checkout-api*\n"
        "*Urgency:* High\n"
        "*Assigned:* @Alice (IC)\n"
        "Opened by Alertmanager"
    )


def test_file_only_message_names_the_file(export: Path) -> None:
    assert by_ts(collect([export]))["1762214640.000400"].text == "shared error-rate.png"


def test_threads_span_day_files(export: Path) -> None:
    events = by_ts(collect([export]))
    assert events[PARENT].thread is None
    assert events["1762213200.000300"].thread == PARENT  # same day
    assert events["1762214460.000100"].thread == PARENT  # reply in the next day's file
    # The reply of a deleted parent is kept and still names its thread.
    assert events["1762214580.000300"].thread == "1762213600.000800"


def test_thread_broadcast_counts_once(export: Path) -> None:
    batch = collect([export])
    broadcast = [e for e in batch.events if e.text.startswith("Mitigated: rollback")]
    assert len(broadcast) == 1
    assert broadcast[0].thread == PARENT


def test_thread_broadcast_listed_in_channel_and_thread_counts_once(tmp_path: Path) -> None:
    # Exports made from the API (history + replies) list a broadcast reply twice.
    copy = writable_copy(tmp_path)
    path = copy / CHANNEL_DIR / "2025-11-04.json"
    day = json.loads(path.read_text(encoding="utf-8"))
    day.insert(0, dict(day[1]))
    path.write_text(json.dumps(day), encoding="utf-8")
    assert collect([copy]).events == collect([EXPORT]).events


def test_noise_is_labelled_not_dropped(export: Path) -> None:
    events = by_ts(collect([export]))
    assert events["1762212600.000100"].kind == "membership"
    assert events["1762212600.000100"].text == "@Alice (IC) has joined the channel"
    assert events["1762214760.000600"].kind == "membership"
    assert events["1762212610.000300"].kind == "channel_change"
    assert events["1762214700.000500"].kind == "channel_change"
    logs = [e for e in events.values() if e.ident.startswith("integration:")]
    assert [(e.kind, e.text, e.actor) for e in logs] == [("channel_change", "alice added Grafana", "alice")]


def test_tombstones_and_deleted_messages_are_dropped(export: Path) -> None:
    batch = collect([export])
    events = by_ts(batch)
    assert "1762213600.000800" not in events  # tombstone
    assert "1762213700.000900" not in events  # removed by message_deleted
    assert "1762213705.001000" not in events  # the message_deleted record itself
    assert not any("deleted" in e.text.lower() and e.actor == "USLACKBOT" for e in batch.events)
    assert not any("oops" in e.text for e in batch.events)


def test_message_changed_updates_the_original(export: Path) -> None:
    events = by_ts(collect([export]))
    assert events["1762213200.000300"].text == (
        "Looking. 5xx started right after deploy #4411 (https://deploys.example.com/checkout/4411)"
    )
    assert "1762213260.000400" not in events  # the change record is not an event of its own


def test_permalinks(export: Path) -> None:
    events = by_ts(collect([export]))
    assert events[PARENT].link == "https://acme.slack.com/archives/C0INC2042/p1762213100000200"
    assert events["1762214460.000100"].link == (
        "https://acme.slack.com/archives/C0INC2042/p1762214460000100"
        "?thread_ts=1762213100.000200&cid=C0INC2042"
    )
    no_url = SlackExport([export], CHANNEL).collect("INC-2042")
    assert all(e.link is None for e in no_url.events)


@pytest.mark.parametrize(
    "name", ["#inc-2042-checkout-5xx", "inc-2042-checkout-5xx", "C0INC2042", " #INC-2042-Checkout-5xx"]
)
def test_channel_by_name_with_or_without_hash_or_by_id(export: Path, name: str) -> None:
    assert len(collect([export], name).events) == 19


def test_private_channel_from_groups_json(export: Path) -> None:
    batch = collect([export], "sec-inc-7")
    assert [(e.text, e.actor, e.link) for e in batch.events] == [
        (
            "Rotating the leaked key now",
            "Alice (IC)",
            "https://acme.slack.com/archives/G0SECINC7/p1762212700000100",
        )
    ]


def test_window_bounds_messages(export: Path) -> None:
    since = datetime(2025, 11, 3, 23, 40, tzinfo=UTC)
    until = datetime(2025, 11, 4, 0, 2, tzinfo=UTC)
    batch = collect([export], since=since, until=until)
    assert batch.events[0].ident == "1762213200.000300"  # 23:40:00.000300, just inside
    assert batch.events[-1].ident == "1762214460.000100"
    assert all(since <= e.at <= until for e in batch.events)


def test_day_files_wholly_outside_the_window_are_not_opened(tmp_path: Path) -> None:
    copy = writable_copy(tmp_path)
    (copy / CHANNEL_DIR / "2025-10-01.json").write_text("not json", encoding="utf-8")  # would raise if read
    (copy / CHANNEL_DIR / "2025-12-24.json").write_text("not json", encoding="utf-8")
    since = datetime(2025, 11, 3, tzinfo=UTC)
    until = datetime(2025, 11, 5, tzinfo=UTC)
    assert len(collect([copy], since=since, until=until).events) == 19
    with pytest.raises(InputError):
        collect([copy])


def test_two_partial_exports_count_each_message_once(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(EXPORT, first)
    shutil.copytree(EXPORT, second)
    (first / CHANNEL_DIR / "2025-11-04.json").unlink()  # days 1 only, plus an overlap below
    day2 = json.loads((second / CHANNEL_DIR / "2025-11-04.json").read_text(encoding="utf-8"))
    (first / CHANNEL_DIR / "2025-11-04.json").write_text(json.dumps(day2[:1]), encoding="utf-8")
    whole = collect([EXPORT])
    both = collect([first, zip_export(second, tmp_path / "second.zip")])
    assert [e.ident for e in both.events] == [e.ident for e in whole.events]
    assert both.events == whole.events


def test_export_unpacked_into_a_folder_of_its_own(tmp_path: Path) -> None:
    shutil.copytree(EXPORT, tmp_path / "Acme Slack export Nov 3 2025 - Nov 4 2025")
    assert collect([tmp_path]).events == collect([EXPORT]).events


def test_message_changed_into_a_tombstone_drops_the_message(tmp_path: Path) -> None:
    copy = writable_copy(tmp_path)
    path = copy / CHANNEL_DIR / "2025-11-04.json"
    day = json.loads(path.read_text(encoding="utf-8"))
    carol = {"type": "message", "user": "U03CAROL", "text": "x", "ts": "1762213400.000600"}
    tombstone = {
        "type": "message",
        "subtype": "tombstone",
        "text": "This message was deleted.",
        "user": "USLACKBOT",
        "hidden": True,
        "ts": "1762213400.000600",
    }
    day.append(
        {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "ts": "1762214800.000100",
            "message": tombstone,
            "previous_message": carol,
        }
    )
    path.write_text(json.dumps(day), encoding="utf-8")
    assert "1762213400.000600" not in by_ts(collect([copy]))


def test_the_edited_copy_wins_across_exports(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(EXPORT, old)
    shutil.copytree(EXPORT, new)
    path = new / CHANNEL_DIR / "2025-11-03.json"
    day = json.loads(path.read_text(encoding="utf-8"))
    carol = next(m for m in day if m["ts"] == "1762213400.000600")
    carol["text"] = "Rolling back checkout-api to 4410 now (edited: 4409)"
    carol["edited"] = {"user": "U03CAROL", "ts": "1762213450.000000"}
    path.write_text(json.dumps(day), encoding="utf-8")
    for order in ([old, new], [new, old]):
        text = by_ts(collect(order))["1762213400.000600"].text
        assert text == "Rolling back checkout-api to 4410 now (edited: 4409)"


# ---- errors and warnings ----------------------------------------------------------------------


def test_unknown_channel_names_the_export_and_suggests(export: Path) -> None:
    with pytest.raises(InputError) as caught:
        collect([export], "#inc-2042-checkout")
    message = str(caught.value)
    assert str(export) in message
    assert "no channel #inc-2042-checkout" in message
    assert "#inc-2042-checkout-5xx" in message
    assert message.index("#inc-2042-checkout-5xx") < message.index("#inc-2041-search-latency")
    assert "\n" not in message


def test_malformed_day_file_in_a_zip_is_named(tmp_path: Path) -> None:
    copy = writable_copy(tmp_path)
    (copy / CHANNEL_DIR / "2025-11-04.json").write_text(
        '[{"type": "message", "ts": "1762214460.0', encoding="utf-8"
    )
    archive = zip_export(copy, tmp_path / "export.zip")
    with pytest.raises(InputError) as caught:
        collect([archive])
    message = str(caught.value)
    assert message.startswith(f"{archive}:{CHANNEL_DIR}/2025-11-04.json: malformed JSON at line 1")
    assert "\n" not in message


def test_malformed_day_file_in_a_folder_is_named(tmp_path: Path) -> None:
    copy = writable_copy(tmp_path)
    (copy / CHANNEL_DIR / "2025-11-03.json").write_text("{}", encoding="utf-8")
    with pytest.raises(InputError, match=r"2025-11-03\.json: expected a JSON array"):
        collect([copy])


def test_missing_users_json_warns_and_falls_back_to_ids(tmp_path: Path) -> None:
    copy = writable_copy(tmp_path)
    (copy / "users.json").unlink()
    batch = collect([zip_export(copy, tmp_path / "export.zip")])
    assert len(batch.warnings) == 1
    assert "no users.json or org_users.json" in batch.warnings[0]
    events = by_ts(batch)
    assert events["1762212600.000100"].actor == "U01ALICE"  # join records embed no profile
    assert events["1762212600.000100"].text == "@U01ALICE has joined the channel"
    assert events["1762213500.000700"].actor == "U0PDBOT01"
    assert "@U02BOB can you check" in events[PARENT].text
    assert events["1762213300.000500"].actor == "dana (Payments Co)"  # the embedded profile still counts


def test_org_users_json_is_read_on_enterprise_grid(tmp_path: Path) -> None:
    copy = writable_copy(tmp_path)
    (copy / "users.json").rename(copy / "org_users.json")
    batch = collect([copy])
    assert batch.warnings == ()
    assert by_ts(batch)["1762212600.000100"].actor == "Alice (IC)"


def test_entries_without_a_string_ts_are_skipped_with_a_warning(tmp_path: Path) -> None:
    copy = writable_copy(tmp_path)
    path = copy / CHANNEL_DIR / "2025-11-04.json"
    day = json.loads(path.read_text(encoding="utf-8"))
    day.append({"type": "message", "user": "U02BOB", "text": "float ts", "ts": 1762214800.0001})
    day.append("garbage")
    path.write_text(json.dumps(day), encoding="utf-8")
    batch = collect([copy])
    assert len(batch.events) == 19
    assert batch.warnings == (f"{path}: skipped 2 entries that are not messages with a string ts",)


def test_broken_integration_log_is_a_warning(tmp_path: Path) -> None:
    copy = writable_copy(tmp_path)
    (copy / "integration_logs.json").write_text('{"ok": true}', encoding="utf-8")
    batch = collect([copy])
    assert batch.warnings == (
        f"{copy / 'integration_logs.json'}: expected a JSON array: re-export the workspace data",
    )
    assert len(batch.events) == 18


def test_integration_log_in_the_api_envelope(tmp_path: Path) -> None:
    copy = writable_copy(tmp_path)
    logs = json.loads((copy / "integration_logs.json").read_text(encoding="utf-8"))
    (copy / "integration_logs.json").write_text(json.dumps({"ok": True, "logs": logs}), encoding="utf-8")
    assert collect([copy]).events == collect([EXPORT]).events


def test_unsupported_zip_compression_is_an_input_error(tmp_path: Path) -> None:
    archive = zip_export(EXPORT, tmp_path / "export.zip")
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
    for info in infos:  # mark every member as Deflate64 (method 9), which zipfile cannot unpack
        data[info.header_offset + 8 : info.header_offset + 10] = (9).to_bytes(2, "little")
    central = data.find(b"PK\x01\x02")
    while central != -1:
        data[central + 10 : central + 12] = (9).to_bytes(2, "little")
        central = data.find(b"PK\x01\x02", central + 4)
    archive.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"export\.zip:channels\.json: cannot unpack"):
        collect([archive])


def test_not_a_zip_and_missing_path(tmp_path: Path) -> None:
    fake = tmp_path / "export.zip"
    fake.write_text("hello", encoding="utf-8")
    with pytest.raises(InputError, match="not a ZIP file"):
        collect([fake])
    with pytest.raises(InputError, match="no such file or directory"):
        collect([tmp_path / "missing.zip"])


def test_channel_without_a_folder_warns(tmp_path: Path) -> None:
    batch = collect([EXPORT], "inc-2041-search-latency")
    assert batch.events == ()
    assert batch.warnings == (
        f"{EXPORT}: #inc-2041-search-latency has no message folder; the export holds no messages of it",
    )


def test_naive_window_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SlackExport([EXPORT], CHANNEL, since=datetime(2025, 11, 3))


# ---- the mapping alone, as the Web API returns messages ---------------------------------------

API_USERS = UserDirectory.from_json(json.loads((EXPORT / "users.json").read_text(encoding="utf-8")))
CTX = ChannelContext(
    channel_id="C0INC2042",
    channel_name=CHANNEL,
    users=API_USERS,
    channels={"C0GENERAL1": "general"},
    workspace_url="https://acme.slack.com/",
)


def mapped(message: dict[str, Any]) -> TimelineEvent:
    event = message_event(message, CTX)
    assert event is not None
    return event


def test_api_reply_from_conversations_replies() -> None:
    # conversations.replies: no user_profile, thread fields present.
    event = mapped(
        {
            "type": "message",
            "user": "U02BOB",
            "text": "moving to <#C0GENERAL1>",
            "ts": "1762213200.000300",
            "thread_ts": PARENT,
            "parent_user_id": "U01ALICE",
            "client_msg_id": "0c1d",
        }
    )
    assert (event.actor, event.text, event.thread, event.kind) == (
        "Bob Okafor",
        "moving to #general",
        PARENT,
        "message",
    )
    assert event.link == (
        "https://acme.slack.com/archives/C0INC2042/p1762213200000300?thread_ts=1762213100.000200&cid=C0INC2042"
    )


def test_api_app_message_with_bot_id_and_user() -> None:
    event = mapped(
        {
            "type": "message",
            "subtype": "bot_message",
            "text": "",
            "ts": "1762213500.000700",
            "bot_id": "B0PAGERDUTY",
            "username": "PagerDuty",
            "attachments": [{"id": 1, "fallback": "Triggered #2042: Checkout 5xx"}],
        }
    )
    assert (event.actor, event.text) == ("PagerDuty", "Triggered #2042: Checkout 5xx")


def test_text_that_repeats_the_attachment_fallback_is_replaced() -> None:
    event = mapped(
        {
            "type": "message",
            "text": "Resolved: CheckoutHighErrorRate",
            "ts": "1762214900.000100",
            "bot_id": "B0ALERTMGR",
            "attachments": [
                {
                    "id": 1,
                    "fallback": "Resolved: CheckoutHighErrorRate",
                    "title": "[RESOLVED] CheckoutHighErrorRate",
                    "text": "5xx ratio back to 0.3%",
                }
            ],
        }
    )
    assert event.text == "[RESOLVED] CheckoutHighErrorRate\n5xx ratio back to 0.3%"


def test_own_text_is_kept_when_attachments_add_context() -> None:
    # A person's message with a link unfurl: the unfurl must not replace what they wrote.
    event = mapped(
        {
            "type": "message",
            "user": "U01ALICE",
            "text": "this graph: <https://grafana.example.com/d/chk>",
            "ts": "1762213150.000100",
            "attachments": [
                {
                    "id": 1,
                    "title": "Checkout overview",
                    "fallback": "Grafana: Checkout overview",
                    "from_url": "https://grafana.example.com/d/chk",
                }
            ],
        }
    )
    assert event.text == "this graph: https://grafana.example.com/d/chk"


def test_app_text_that_says_more_than_its_blocks_is_kept() -> None:
    event = mapped(
        {
            "type": "message",
            "text": "Deploy 4412 of checkout-api rolled back by Carol",
            "ts": "1762214000.000100",
            "bot_id": "B0DEPLOYS",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*checkout-api* 4412"}}],
        }
    )
    assert event.text == "Deploy 4412 of checkout-api rolled back by Carol"


@pytest.mark.parametrize(
    "record",
    [
        {
            "type": "message",
            "subtype": "tombstone",
            "text": "This message was deleted.",
            "user": "USLACKBOT",
            "hidden": True,
            "ts": "1704604884.175949",
            "thread_ts": "1704604884.175949",
        },
        {"type": "message", "text": "This message was deleted.", "hidden": True, "ts": "1704604884.175949"},
        {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "deleted_ts": "1704604884.175949",
            "ts": "1704604959.000800",
        },
        {
            "type": "message",
            "subtype": "message_replied",
            "hidden": True,
            "ts": "1704604960.000100",
            "message": {"type": "message", "ts": "1704604884.175949", "text": "parent"},
        },
        {"type": "message", "user": "U02BOB", "text": "float ts", "ts": 1704604884.175949},
    ],
)
def test_records_that_are_not_messages_map_to_none(record: dict[str, Any]) -> None:
    assert message_event(record, CTX) is None


def test_odd_field_types_do_not_break_the_mapping() -> None:
    event = mapped(
        {
            "type": "message",
            "user": "U0ODD",
            "user_profile": "not an object",
            "text": None,
            "ts": "1762214900.000200",
            "thread_ts": 1762214900.0002,
            "attachments": [{"fields": "abc", "text": "from attachment"}, "x"],
            "blocks": [{"type": "context", "elements": 3}, {"type": "section", "fields": {"a": 1}}, 5],
            "files": {"id": "F1"},
            "bot_profile": 7,
        }
    )
    assert (event.actor, event.text, event.thread) == ("U0ODD", "from attachment", None)
    assert UserDirectory.from_json([{"id": "U1", "name": "x", "profile": "oops"}]).names == {"U1": "x"}


def test_directory_fields() -> None:
    alice, carol, bot = (API_USERS.users[u] for u in ("U01ALICE", "U03CAROL", "U0PDBOT01"))
    assert (alice.label, alice.real_name, alice.email, alice.deleted) == (
        "Alice (IC)",
        "Alice Chen",
        "alice@acme.example",
        False,
    )
    assert (carol.label, carol.deleted, carol.email) == ("Carol Diaz", True, "carol@acme.example")
    assert (bot.label, bot.is_bot, bot.email) == ("PagerDuty", True, None)
    assert API_USERS.names["U02BOB"] == "Bob Okafor"
    assert len(API_USERS.users) == 4
