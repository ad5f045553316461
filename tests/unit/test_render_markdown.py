"""Rendering the default Markdown postmortem: golden file, section layout, filters, generated blocks."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ops_postmortem import render
from ops_postmortem.errors import ConfigError, DocumentError
from ops_postmortem.model import (
    UTC,
    EvidenceRef,
    Incident,
    KeyMoments,
    Kind,
    Moment,
    Person,
    Redaction,
    Timeline,
    TimelineEvent,
)
from ops_postmortem.render import (
    edited_blocks,
    format_duration,
    generated_blocks,
    markup_link,
    render_document,
    replace_generated,
)

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden" / "postmortem.md"
GENERATED_AT = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)


def at(hour: int, minute: int, second: int = 0, day: int = 3) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def sample_timeline(*, extra_events: tuple[TimelineEvent, ...] = ()) -> Timeline:
    """An incident as the collectors would hand it over: several sources, a collapsed repeat,
    an inferred moment, a source that could not be read and redacted secrets."""
    page = EvidenceRef("pagerduty", "Q1ABC2DEF", "https://acme.pagerduty.com/incidents/Q1ABC2DEF")
    events = (
        TimelineEvent(
            at(23, 31, 12),
            "alertmanager",
            Kind.ALERT_FIRING,
            "[FIRING:1] CheckoutHighErrorRate checkout-api (critical)",
            link="http://alertmanager.acme.internal:9093/#/alerts?receiver=pagerduty",
            ident="3fa2c1d9e8b7a6f5@2026-11-03T23:31:12.345Z",
        ),
        TimelineEvent(
            at(23, 37, 30),
            "pagerduty",
            Kind.TRIGGER,
            "Triggered through the API.",
            link="https://acme.pagerduty.com/incidents/Q1ABC2DEF/log_entries/R5V2QK0DFZ3Y9T",
            ident="R5V2QK0DFZ3Y9T",
        ),
        TimelineEvent(
            at(23, 37, 31),
            "pagerduty",
            Kind.NOTIFY,
            "Notified Ana Ruiz by SMS",
            link="https://acme.pagerduty.com/incidents/Q1ABC2DEF/log_entries/R0NOTIFY1",
            ident="R0NOTIFY1",
            count=5,
        ),
        TimelineEvent(
            at(23, 41, 45),
            "pagerduty",
            Kind.ACKNOWLEDGE,
            "Acknowledged by Ana Ruiz.",
            actor="Ana Ruiz",
            link="https://acme.pagerduty.com/incidents/Q1ABC2DEF/log_entries/R3ACK0001",
            ident="R3ACK0001",
        ),
        TimelineEvent(
            at(23, 44, 2),
            "slack",
            Kind.MESSAGE,
            "rolling back deploy #4821 of checkout-api *now*\nsee https://grafana.acme.io/d/checkout for the 5xx",
            actor="ana",
            link="https://acme.slack.com/archives/C07INC0001/p1762213442000100",
            ident="1762213442.000100",
            thread="1762213442.000100",
        ),
        TimelineEvent(
            at(23, 52, 40),
            "events",
            Kind.MITIGATE,
            "Rollback to v2026.11.3-1 finished; error rate back under 1%",
            actor="Bo Chen",
            ident="events.yaml:4",
        ),
        TimelineEvent(
            at(0, 5, 0, day=4),
            "pagerduty",
            Kind.RESOLVE,
            "Resolved by Ana Ruiz.",
            actor="Ana Ruiz",
            link="https://acme.pagerduty.com/incidents/Q1ABC2DEF/log_entries/R9RES0001",
            ident="R9RES0001",
        ),
        *extra_events,
    )
    moments = KeyMoments(
        impact_started=Moment(at(23, 31, 12), events[0].evidence, "first 5xx alert fired", inferred=True),
        detected=Moment(at(23, 37, 30), events[1].evidence, "Triggered through the API."),
        acknowledged=Moment(at(23, 41, 45), events[3].evidence, "Acknowledged by Ana Ruiz."),
        mitigated=Moment(at(23, 52, 40), events[5].evidence, "Rollback finished", inferred=True),
        resolved=Moment(at(0, 5, 0, day=4), events[6].evidence, "Resolved by Ana Ruiz."),
    )
    incident = Incident(
        id="PD-Q1ABC2DEF",
        title="Checkout API returned 5xx for 34 minutes",
        severity="SEV-2",
        services=("checkout-api",),
        links=(page,),
        authors=(Person("Ana Ruiz", "ana@acme.test"),),
        reviewers=(Person("Dana Kim", "dana@acme.test"), Person("Eli Park")),
    )
    return Timeline(
        incident=incident,
        events=tuple(sorted(events, key=lambda e: e.at)),
        moments=moments,
        missing=("opsgenie",),
        redactions=(
            Redaction("slack", "slack message 1762213442.000100 text", "AWSKeyDetector"),
            Redaction("slack", "slack message 1762213500.000200 text", "AWSKeyDetector"),
            Redaction("events", "events.yaml:7 text", "SlackDetector"),
        ),
    )


def render_sample(**kwargs: object) -> str:
    return render_document("markdown", sample_timeline(), generated_at=GENERATED_AT, **kwargs)  # type: ignore[arg-type]


def test_golden_file() -> None:
    text = render_sample()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), "rerun with UPDATE_GOLDEN=1 and review the diff by eye"


def test_sections_come_in_the_agreed_order() -> None:
    headings = re.findall(r"^(#{1,3}) (.+)$", render_sample(), re.MULTILINE)
    assert headings == [
        ("#", "Postmortem: Checkout API returned 5xx for 34 minutes"),
        ("##", "Summary"),
        ("##", "Impact"),
        ("##", "Detection"),
        ("##", "Response and recovery"),
        ("##", "Timeline"),
        ("##", "Key metrics"),
        ("##", "Root cause"),
        ("###", "Trigger"),
        ("###", "Latent conditions"),
        ("##", "Contributing factors"),
        ("##", "What went well"),
        ("##", "What went wrong"),
        ("##", "Where we got lucky"),
        ("##", "Action items"),
        ("##", "Lessons learned"),
        ("##", "Review and sign-off"),
    ]


def test_metadata_block_and_hidden_marker() -> None:
    text = render_sample()
    assert '<!-- ops-postmortem incident="PD-Q1ABC2DEF" -->' in text
    assert "- **Status:** Draft\n" in text
    assert "- **Severity:** SEV-2\n" in text
    assert "- **Authors:** Ana Ruiz\n" in text
    assert "- **Reviewers:** Dana Kim, Eli Park\n" in text
    assert "- **Date:** 2026-11-03\n" in text
    assert "[PagerDuty Q1ABC2DEF](https://acme.pagerduty.com/incidents/Q1ABC2DEF)" in text


def test_prompts_are_one_line_each_and_start_with_the_prefix() -> None:
    prompts = [line for line in render_sample().splitlines() if "TODO(authors):" in line]
    assert len(prompts) == 12
    for line in prompts:
        assert line.startswith("_TODO(authors): ") and line.endswith("_"), line


def test_facts_prefill_detection_and_response_with_evidence() -> None:
    text = render_sample()
    assert (
        "Detected at 2026-11-03 23:37:30 UTC by PagerDuty: Triggered through the API. "
        "([log entry](https://acme.pagerduty.com/incidents/Q1ABC2DEF/log_entries/R5V2QK0DFZ3Y9T))\n"
    ) in text
    assert "- Acknowledged at 2026-11-03 23:41:45 UTC, 4m 15s after detection: Acknowledged by Ana Ruiz." in text
    assert "- Mitigated at 2026-11-03 23:52:40 UTC (inferred), 15m 10s after detection" in text


def test_timeline_rows_show_date_on_change_actor_repeats_and_evidence() -> None:
    block = generated_blocks("markdown", render_sample())["timeline"]
    rows = [line for line in block.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0] == "| Time (UTC) | Source | Event | Evidence |"
    assert rows[1].startswith("| 2026-11-03 23:31:12 | Alertmanager | ")
    assert rows[3] == (
        "| 23:37:31 | PagerDuty | Notified Ana Ruiz by SMS (x5) | "
        "[log entry](https://acme.pagerduty.com/incidents/Q1ABC2DEF/log_entries/R0NOTIFY1) |"
    )
    assert (
        "| 23:52:40 | Events file | Bo Chen: Rollback to v2026.11.3-1 finished; error rate back under 1% | events\\.yaml:4 |"
        in rows
    )
    assert rows[-1].startswith("| 2026-11-04 00:05:00 | PagerDuty | Ana Ruiz: Resolved by Ana Ruiz. |")
    assert (
        "> **Incomplete:** these sources could not be read, so their events are missing: opsgenie." in block
    )
    assert "**Redacted:** 3 secret(s) removed before writing (AWSKeyDetector: 2, SlackDetector: 1)" in block


def test_metrics_mark_inferred_moments_and_unknowns() -> None:
    timeline = sample_timeline()
    moments = KeyMoments(detected=timeline.moments.detected, mitigated=timeline.moments.mitigated)
    text = render_document(
        "markdown", Timeline(timeline.incident, timeline.events, moments), generated_at=GENERATED_AT
    )
    block = generated_blocks("markdown", text)["metrics"]
    assert "| Impact started | unknown |  |" in block
    assert (
        "| Mitigated | 2026-11-03 23:52:40 UTC (inferred) | Rollback finished ([events\\.yaml:4" not in block
    )
    assert "| Mitigated | 2026-11-03 23:52:40 UTC (inferred) | Rollback finished (events\\.yaml:4) |" in block
    assert "| Time to acknowledge | unknown |" in block
    assert "| Time to mitigate | 15m 10s (inferred) |" in block
    assert "| Time to resolve | unknown |" in block


def test_action_items_and_reviewers_tables() -> None:
    text = render_sample()
    actions = text.split("## Action items\n", 1)[1].split("## Lessons learned", 1)[0]
    assert "Type is prevent, mitigate, detect or process" in actions
    table = [line for line in actions.splitlines() if line.startswith("|")]
    assert table == [
        "| Action | Type | Owner | Due | Priority | Done when | Ticket |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    review = text.split("## Review and sign-off\n", 1)[1]
    assert [line for line in review.splitlines() if line.startswith("|")] == [
        "| Reviewer | Role | Status | Date |",
        "| --- | --- | --- | --- |",
        "| Dana Kim |  | pending |  |",
        "| Eli Park |  | pending |  |",
    ]


def test_empty_timeline_still_renders_prompts_and_unknowns() -> None:
    timeline = Timeline(Incident(id="INC-1", title="Something broke"), (), KeyMoments())
    text = render_document("markdown", timeline, generated_at=GENERATED_AT)
    assert "No events were found in the evidence." in text
    assert "- **Date:** 2026-11-04" in text  # nothing else to date it by
    assert "_TODO(authors): how did we find out? The evidence holds no detection event._" in text
    assert "_TODO(authors): add your names._" in text
    assert "**Redacted:**" not in text and "**Incomplete:**" not in text
    assert text.count("unknown") >= 8


def test_extra_context_overrides_the_redaction_summary() -> None:
    text = render_document(
        "markdown", sample_timeline(), generated_at=GENERATED_AT, extra={"redaction_summary": {"Keyword": 1}}
    )
    assert "**Redacted:** 1 secret(s) removed before writing (Keyword: 1)" in text


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "unknown"),
        (0, "0s"),
        (45, "45s"),
        (255, "4m 15s"),
        (600, "10m"),
        (3720, "1h 2m"),
        (3600, "1h"),
        (3725, "1h 2m"),
        (2 * 86400 + 3 * 3600 + 59, "2d 3h"),
        (-90, "-1m 30s"),
    ],
)
def test_duration_filter(seconds: int | None, shown: str) -> None:
    assert format_duration(seconds) == shown


def test_time_filters_convert_to_utc() -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2026, 11, 4, 0, 37, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert render.format_dt(local) == "2026-11-03 23:37:30 UTC"
    assert render.format_time(local) == "23:37:30"
    assert render.format_date(local) == "2026-11-03"
    assert render.format_dt(None) == "unknown"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://files.acme.test/x",
        "//evil.test/x",
        "https://acme.test/a b",
        "vbscript:msgbox",
        "https://",
    ],
)
def test_only_http_urls_become_links(url: str) -> None:
    markup = markup_link("markdown", url, "evidence")
    assert "](" not in markup
    assert markup.startswith("evidence (")


def test_link_destination_cannot_break_out() -> None:
    markup = markup_link("markdown", "https://acme.test/a)b|c<d>", "a [label]")
    assert markup == "[a \\[label\\]](https://acme.test/a%29b%7Cc%3Cd%3E)"


def test_team_template_dir(tmp_path: Path) -> None:
    (tmp_path / "markdown").mkdir()
    (tmp_path / "markdown" / "postmortem.md.j2").write_text(
        "# {{ incident.title|cell }}\n{% include 'markdown/rows.md.j2' %}", encoding="utf-8"
    )
    (tmp_path / "markdown" / "rows.md.j2").write_text(
        "<!-- ops-postmortem:generated:start timeline -->\n"
        "{% for e in events %}- {{ e.at|time }} {{ e.text }}\n{% endfor %}"
        "<!-- ops-postmortem:generated:end timeline -->\n",
        encoding="utf-8",
    )
    text = render_document("markdown", sample_timeline(), template_dir=tmp_path, generated_at=GENERATED_AT)
    assert text.startswith(
        "# Checkout API returned 5xx for 34 minutes\n<!-- ops-postmortem:generated:start timeline sha256="
    )
    assert "- 23:37:30 Triggered through the API.\n" in text


def test_missing_team_template_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        render_document("markdown", sample_timeline(), template_dir=tmp_path)
    assert str(tmp_path / "markdown" / "postmortem.md.j2") in str(caught.value)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{% if %}", "postmortem.md.j2:1"),
        ("{{ no_such_thing }}", "'no_such_thing' is undefined"),
        ("{{ events[0].at|duration }}", "the duration filter needs seconds"),
        ("<!-- ops-postmortem:generated:start timeline -->\n", "has lost its end marker"),
    ],
)
def test_broken_team_templates_are_config_errors(tmp_path: Path, template: str, message: str) -> None:
    (tmp_path / "markdown").mkdir()
    (tmp_path / "markdown" / "postmortem.md.j2").write_text(template, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        render_document("markdown", sample_timeline(), template_dir=tmp_path)
    assert message in str(caught.value)


def test_unknown_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown document format 'docx'"):
        render_document("docx", sample_timeline())


def test_a_new_format_is_one_registry_entry_and_a_template_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shout = render.Format(
        template="shout/doc.txt.j2",
        escape=lambda text: text.upper().replace("%", "%%"),
        cell=lambda text: text.upper().replace("\n", " / "),
        link=lambda url, label: f"{label.upper()} <{url}>",
        comment=("%% ", " %%"),
    )
    monkeypatch.setitem(render.FORMATS, "shout", shout)
    (tmp_path / "shout").mkdir()
    (tmp_path / "shout" / "doc.txt.j2").write_text(
        "{{ incident.title }}\n%% ops-postmortem:generated:start timeline %%\n"
        "{% for e in events %}{{ e.text|cell }} {{ e|evidence }}\n{% endfor %}"
        "%% ops-postmortem:generated:end timeline %%\n",
        encoding="utf-8",
    )
    text = render_document("shout", sample_timeline(), template_dir=tmp_path)
    assert text.startswith(
        "CHECKOUT API RETURNED 5XX FOR 34 MINUTES\n%% ops-postmortem:generated:start timeline sha256="
    )
    assert "RESOLVED BY ANA RUIZ. LOG ENTRY <https://acme.pagerduty.com/" in text
    assert list(generated_blocks("shout", text)) == ["timeline"]


# ---- generated blocks --------------------------------------------------------------------------


def test_markers_carry_a_digest_of_their_block() -> None:
    text = render_sample()
    assert re.findall(r"<!-- ops-postmortem:generated:start (\w+) sha256=[0-9a-f]{16} -->", text) == [
        "timeline",
        "metrics",
    ]
    assert text.count("<!-- ops-postmortem:generated:end ") == 2
    assert edited_blocks("markdown", text) == []


def test_edits_inside_a_block_are_detected_but_whitespace_is_not() -> None:
    text = render_sample()
    assert edited_blocks("markdown", text.replace("Notified Ana Ruiz", "Notified Ana")) == ["timeline"]
    assert edited_blocks("markdown", text.replace("\n", "\r\n").replace(" |\r\n", " |  \r\n")) == []


def test_replace_generated_keeps_everything_outside_the_blocks() -> None:
    current = render_sample().replace(
        "_TODO(authors): what helped: tools, alerts, runbooks, decisions?_",
        "The rollback runbook was current.\n\n<!-- a note to ourselves -->",
    )
    later = sample_timeline(
        extra_events=(
            TimelineEvent(at(0, 30, 0, day=4), "slack", Kind.MESSAGE, "all clear", actor="ana", ident="1"),
        )
    )
    fresh = render_document("markdown", later, generated_at=GENERATED_AT + timedelta(days=1))
    merged = replace_generated("markdown", current, fresh)
    assert "| 00:30:00 | Slack | ana: all clear | 1 |" in merged
    assert "The rollback runbook was current.\n\n<!-- a note to ourselves -->" in merged
    before, after = current.split("## Timeline", 1)[0], merged.split("## Timeline", 1)[0]
    assert before == after  # including the original "Drafted by ... on" line
    assert (
        merged.split("<!-- ops-postmortem:generated:end metrics -->")[1]
        == current.split("<!-- ops-postmortem:generated:end metrics -->")[1]
    )


def test_replace_generated_keeps_windows_line_endings() -> None:
    current = render_sample().replace("\n", "\r\n")
    merged = replace_generated("markdown", current, render_sample())
    assert "\n" not in merged.replace("\r\n", "")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: re.sub(r"<!-- ops-postmortem:generated:start metrics[^>]*-->", "", t),
            "'metrics' has lost its start",
        ),
        (
            lambda t: t.replace("<!-- ops-postmortem:generated:end timeline -->", ""),
            "'timeline' has lost its end",
        ),
        (lambda t: t + "<!-- ops-postmortem:generated:end metrics -->\n", "'metrics' is marked twice"),
    ],
)
def test_broken_markers_are_document_errors(edit: object, message: str) -> None:
    broken = edit(render_sample())  # type: ignore[operator]
    with pytest.raises(DocumentError) as caught:
        replace_generated("markdown", broken, render_sample())
    assert message in str(caught.value)
    assert "ops-postmortem:generated:start" in (caught.value.hint or "")


def test_removed_block_is_reported_by_name() -> None:
    current = render_sample()
    start = current.index("<!-- ops-postmortem:generated:start metrics")
    end = current.index("<!-- ops-postmortem:generated:end metrics -->") + len(
        "<!-- ops-postmortem:generated:end metrics -->"
    )
    with pytest.raises(DocumentError, match="'metrics' has lost its markers"):
        replace_generated("markdown", current[:start] + current[end:], current)
