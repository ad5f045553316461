"""Hand-written events files: CSV and JSON, header synonyms, kinds, zones, bad rows and links."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ops_postmortem.connectors.events import EventsFile
from ops_postmortem.connectors.events.files import normalize_kind
from ops_postmortem.errors import ConfigError, InputError
from ops_postmortem.model import Kind, SourceBatch

EVENTS = Path(__file__).resolve().parent.parent / "fixtures" / "events"
CI = "https://ci.acme.example/acme/checkout-api/actions/runs"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def collect(*paths: Path | str, default_tz: str | None = None) -> SourceBatch:
    return EventsFile(list(paths), default_tz=default_tz).collect("INC-2042")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_rows_become_events_in_time_order() -> None:
    batch = collect(EVENTS / "timeline.csv")

    assert batch.source == "events"
    assert [(e.at, e.kind, e.actor, e.ident) for e in batch.events] == [
        (at("2026-11-03T23:31:10"), Kind.DEPLOY, "Priya Raman", "row 2"),  # written at 15:31:10-08:00
        (at("2026-11-03T23:34:00"), Kind.IMPACT_START, None, "row 3"),
        (at("2026-11-03T23:54:00"), Kind.DECISION, "Dana Kim", "row 5"),  # row 4 is blank
        (at("2026-11-03T23:58:40"), Kind.DEPLOY, "Priya Raman", "row 6"),  # "rollback"
        (at("2026-11-04T00:12:00"), "customer_comms", "Dana Kim", "row 7"),
        (at("2026-11-04T00:20:05.250"), Kind.RESOLVE, "Dana Kim", "row 8"),
    ]
    assert batch.events[2].text == "Decided on the bridge call to roll back v2.31.0, not fix forward"
    assert batch.events[0].link == f"{CI}/88123"
    assert batch.events[2].link is None


def test_non_http_link_is_dropped_with_a_warning() -> None:
    batch = collect(EVENTS / "timeline.csv")

    comms = next(e for e in batch.events if e.ident == "row 7")
    assert comms.link is None
    link = "file:///Users/dana/Desktop/statuspage-draft.txt"
    assert batch.warnings == (
        f"{EVENTS / 'timeline.csv'}: row 7: link '{link}' is not an http(s) URL; left out",
    )


def test_bom_synonyms_extra_columns_and_multiline_cells() -> None:
    assert (
        (EVENTS / "synonyms.csv").read_bytes().startswith(b"\xef\xbb\xbfWhen,Type,Who,Event Text,URL,Notes")
    )

    batch = collect(EVENTS / "synonyms.csv")

    assert [(e.at, e.kind, e.actor, e.text, e.link, e.ident) for e in batch.events] == [
        (
            at("2026-11-03T23:31:10"),
            Kind.DEPLOY,
            "Priya Raman",
            "Deploy checkout-api v2.31.0",
            f"{CI}/88123",
            "row 2",
        ),
        (
            at("2026-11-03T23:40:12"),
            Kind.NOTE,
            "Dana Kim",
            "Acknowledged the page; joined the bridge",
            None,
            "row 3",
        ),
        # row 4 holds only a note in the ignored "Notes (internal)" column
        (at("2026-11-04T00:03:15"), Kind.MITIGATE, "Dana Kim", "Error rate back under 0.1%", None, "row 5"),
        (
            at("2026-11-04T00:30:00"),
            "follow_up_action",
            "Sam Ortiz",
            "File a ticket for pool-size config validation",
            None,
            "row 6",
        ),
    ]
    assert [w.split(": ", 2)[1:] for w in batch.warnings] == [
        ["row 5", "link 'slack://channel?team=T0ACME&id=C07INC2042' is not an http(s) URL; left out"],
        ["row 6", "link 'www.acme.example/tickets' is not an http(s) URL; left out"],
    ]


def test_semicolon_separated_csv() -> None:
    batch = collect(EVENTS / "semicolon.csv")

    assert [(e.at, e.kind, e.actor, e.text) for e in batch.events] == [
        (
            at("2026-11-03T23:36:30"),
            Kind.ALERT_FIRING,
            "Alertmanager",
            "CheckoutHighErrorRate paged the on-call",
        ),
        (at("2026-11-03T23:55:10"), Kind.MITIGATE, "Dana Kim", "Rollback started"),
    ]
    assert batch.events[0].link == "https://alertmanager.acme.example/#/alerts"


def test_json_object_with_events_key() -> None:
    batch = collect(EVENTS / "events.json")

    assert [(e.at, e.kind, e.actor, e.text, e.link, e.ident) for e in batch.events] == [
        (
            at("2026-11-03T23:31:10"),
            Kind.DEPLOY,
            "Priya Raman",
            "checkout-api v2.31.0 rolled out",
            f"{CI}/88123",
            "row 1",
        ),
        (at("2026-11-03T23:54:00"), Kind.DECISION, None, "Roll back rather than fix forward", None, "row 2"),
        # row 3 is {} and skipped; "config_change" with a +01:00 offset and an empty url
        (
            at("2026-11-04T00:08:00"),
            Kind.DEPLOY,
            "Lee Park",
            "Pool max restored to 50 in config repo",
            None,
            "row 4",
        ),
    ]
    assert batch.warnings == ()


def test_json_array_with_capitalised_keys() -> None:
    batch = collect(EVENTS / "array.json")

    assert [(e.at, e.kind, e.actor) for e in batch.events] == [
        (at("2026-11-03T23:34:00"), Kind.IMPACT_START, None),
        (at("2026-11-04T00:20:05"), Kind.RESOLVE, "Dana Kim"),
    ]
    assert batch.events[1].link == "https://acme.pagerduty.com/incidents/Q2K7XV3LPN8RTA"


def test_time_without_zone_is_an_error_naming_file_and_row() -> None:
    with pytest.raises(InputError) as caught:
        collect(EVENTS / "naive.csv")
    assert caught.value.message == f"{EVENTS / 'naive.csv'}: row 2: time '2026-11-03 15:05' has no zone"
    assert caught.value.hint == "add Z or an offset such as -08:00, or set [timeline] timezone"


def test_default_timezone_places_naive_times() -> None:
    batch = collect(EVENTS / "naive.csv", default_tz="America/Los_Angeles")

    # 3 November 2026 is after the US DST change: Pacific time is -08:00.
    assert [(e.at, e.kind, e.actor, e.text) for e in batch.events] == [
        (at("2026-11-03T23:05:00"), Kind.IMPACT_START, None, "Orders start failing"),
        (at("2026-11-03T23:10:30"), Kind.NOTE, "Dana Kim", "Paged by phone"),
    ]


def test_default_timezone_does_not_override_an_explicit_offset() -> None:
    assert (
        collect(EVENTS / "timeline.csv", default_tz="Europe/Berlin").events
        == collect(EVENTS / "timeline.csv").events
    )


def test_separate_date_and_time_columns() -> None:
    batch = collect(EVENTS / "split-date.csv", default_tz="UTC")
    assert [(e.at, e.kind) for e in batch.events] == [
        (at("2026-11-03T23:05:00"), Kind.IMPACT_START),
        (at("2026-11-04T00:10:00"), Kind.NOTE),
    ]
    with pytest.raises(InputError, match=r"row 2: time '2026-11-03 23:05' has no zone"):
        collect(EVENTS / "split-date.csv")


def test_unknown_default_timezone_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match=r"\[timeline\] timezone 'Pacific/Nowhere' is not a known time zone"
    ):
        EventsFile([EVENTS / "naive.csv"], default_tz="Pacific/Nowhere")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "03/11/2026 11:05 PM,note,,Pager went off,",
            r"row 3: time '03/11/2026 11:05 PM' is not a date and time",
        ),
        (",note,Dana,Pager went off,", r"row 3: no time"),
        ("2026-11-03T23:05:00Z,note,Dana,,", r"row 3: no text"),
        (
            "2026-11-03T25:05:00Z,note,Dana,Pager went off,",
            r"row 3: time '2026-11-03T25:05:00Z' is not a date",
        ),
    ],
)
def test_bad_rows_are_errors_naming_the_row(tmp_path: Path, row: str, message: str) -> None:
    path = write(tmp_path, "e.csv", f"time,kind,actor,text,link\n2026-11-03T23:00:00Z,note,,fine,\n{row}\n")
    with pytest.raises(InputError, match=rf"e\.csv: {message}"):
        collect(path)


def test_missing_required_column(tmp_path: Path) -> None:
    path = write(tmp_path, "e.csv", "when,who,link\n2026-11-03T23:00:00Z,Dana,\n")
    with pytest.raises(InputError) as caught:
        collect(path)
    assert caught.value.message == f"{path}: no text column (header: 'when', 'who', 'link')"
    assert caught.value.hint == "name a column text, description, what, event text, details"


def test_two_columns_for_one_field(tmp_path: Path) -> None:
    path = write(tmp_path, "e.csv", "time,text,description\n2026-11-03T23:00:00Z,a,b\n")
    with pytest.raises(InputError, match=r"e\.csv: header: 'text' and 'description' both give the text"):
        collect(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"rows": []}', r"expected an array of events"),
        ('[{"time": "2026-11-03T23:00:00Z", "text": "ok"}, "oops"]', r"row 2: a JSON str, not an object"),
        ('[{"time": "2026-11-03T23:00:00Z", "text": {"en": "x"}}]', r"row 1: 'text' is a JSON dict"),
        ("[{", r"malformed JSON"),
    ],
)
def test_bad_json(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        collect(write(tmp_path, "e.json", text))


def test_non_utf8_csv_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("time,text\n2026-11-03T23:00:00Z,Caf\u00e9 down\n".encode("cp1252"))
    with pytest.raises(InputError, match=r"excel\.csv: not UTF-8 text"):
        collect(path)


def test_several_files_keep_row_idents_apart(tmp_path: Path) -> None:
    batch = collect(EVENTS / "semicolon.csv", EVENTS / "array.json")
    assert sorted(e.ident for e in batch.events) == [
        "array.json row 1",
        "array.json row 2",
        "semicolon.csv row 2",
        "semicolon.csv row 3",
    ]


def test_empty_files(tmp_path: Path) -> None:
    header_only = collect(write(tmp_path, "h.csv", "time,kind,actor,text,link\n\n"))
    assert header_only.events == ()
    assert header_only.warnings == (f"no events in {tmp_path / 'h.csv'}",)
    with pytest.raises(InputError, match=r"empty\.csv: empty file"):
        collect(write(tmp_path, "empty.csv", "\n"))


@pytest.mark.parametrize(
    ("written", "kind"),
    [
        ("impact start", Kind.IMPACT_START),
        ("impact_started", Kind.IMPACT_START),
        ("Impact", Kind.IMPACT_START),
        ("mitigated", Kind.MITIGATE),
        ("Mitigation", Kind.MITIGATE),
        ("mitigate", Kind.MITIGATE),
        ("deploy", Kind.DEPLOY),
        ("deployment", Kind.DEPLOY),
        ("release", Kind.DEPLOY),
        ("rollback", Kind.DEPLOY),
        ("config change", Kind.DEPLOY),
        ("Config-Change", Kind.DEPLOY),
        ("decision", Kind.DECISION),
        ("resolved", Kind.RESOLVE),
        ("resolve", Kind.RESOLVE),
        ("detected", Kind.ALERT_FIRING),
        ("alert", Kind.ALERT_FIRING),
        ("action", Kind.ACTION),
        ("note", Kind.NOTE),
        ("", Kind.NOTE),
        ("  ", Kind.NOTE),
        ("Customer  Comms", "customer_comms"),
        ("status_update", Kind.STATUS_UPDATE),
    ],
)
def test_kind_vocabulary(written: str, kind: str) -> None:
    assert normalize_kind(written) == kind
