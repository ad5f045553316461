"""Reading GFM postmortems into the Document model and rewriting cells without touching other bytes."""

from __future__ import annotations

from datetime import date

import pytest

from ops_postmortem.errors import DocumentError
from ops_postmortem.markdown_doc import fill_table_rows, parse_markdown, plain_inline, set_cells, set_status
from ops_postmortem.model import CellUpdate, DocRef
from ops_postmortem.render import render_document
from tests.unit.test_markdown_injection import PAYLOADS, hostile, words
from tests.unit.test_render_markdown import GENERATED_AT, render_sample, sample_timeline

REF = DocRef("local", "PD-1", "file:///tmp/PD-1.md")

EDITED = """\
# Postmortem: Payments *queue* backlog

<!-- ops-postmortem incident="PD\\.Q9" -->

- **Incident:** PD-Q9
- **Status:** In review
- **Date:** 2026-10-30

## Summary

The payments queue backed up for **40 minutes**; see [the dashboard](https://grafana.acme.test/d/pay).

```markdown
| Not | A table |
| --- | --- |
| inside | a fence |
## not a heading
```

## Action items

| Action | Type | Owner | Due | Priority | Done when | Ticket |
|:-------|------|-------|-----|---------:|-----------|--------|
| Alert on queue depth \\| age | detect | @ana | 2026-11-20 | P1 | alert fires in staging<br>and pages | [OPS-12](https://jira.acme.test/browse/OPS-12) |
|  |  |  |  |  |  |  |
| `retry_budget` for *workers* | prevent | Bo &amp; Cy | | P2
| Runbook | process | Dee | 2026-12-01 | P3 | linked from alert | OPS-13 | extra cell |
Write the runbook section | process

## Review and sign-off

| Reviewer | Role | Status | Date |
| --- | --- | --- | --- |
| Dana Kim | SRE lead | pending |  |
"""


def test_title_status_incident_and_date() -> None:
    doc = parse_markdown(EDITED, REF)
    assert doc.title == "Payments queue backlog"
    assert doc.status == "In review"
    assert doc.incident_id == "PD.Q9"
    assert doc.incident_date == date(2026, 10, 30)
    assert doc.ref == REF


def test_sections_are_plain_text_and_fences_hide_headings() -> None:
    sections = {s.heading: s for s in parse_markdown(EDITED, REF).sections}
    assert list(sections) == [
        "Postmortem: Payments queue backlog",
        "Summary",
        "Action items",
        "Review and sign-off",
    ]
    summary = sections["Summary"]
    assert summary.level == 2
    assert summary.text == (
        "The payments queue backed up for 40 minutes; see the dashboard (https://grafana.acme.test/d/pay).\n\n"
        "| Not | A table |\n| --- | --- |\n| inside | a fence |\n## not a heading"
    )
    assert sections["Action items"].text == ""


def test_tables_with_escapes_links_code_short_and_long_rows() -> None:
    tables = parse_markdown(EDITED, REF).tables
    assert [t.heading for t in tables] == ["Action items", "Review and sign-off"]
    actions = tables[0]
    assert actions.index == 0
    assert actions.header == ("Action", "Type", "Owner", "Due", "Priority", "Done when", "Ticket")
    rows = [[c.text for c in row] for row in actions.rows]
    assert rows == [
        [
            "Alert on queue depth | age",
            "detect",
            "@ana",
            "2026-11-20",
            "P1",
            "alert fires in staging\nand pages",
            "OPS-12",
        ],
        ["retry_budget for workers", "prevent", "Bo & Cy", "", "P2", "", ""],
        ["Runbook", "process", "Dee", "2026-12-01", "P3", "linked from alert", "OPS-13"],
        ["Write the runbook section", "process", "", "", "", "", ""],
    ]
    assert actions.rows[0][6].links == ("https://jira.acme.test/browse/OPS-12",)
    assert tables[1].rows[0][1].text == "SRE lead"


@pytest.mark.parametrize(
    ("markdown", "text", "links"),
    [
        ("a \\| b \\* c \\_ d", "a | b * c _ d", ()),
        ("`a | *b*` and ``x ` y``", "a | *b* and x ` y", ()),
        (
            "[label *x*](<https://a.test/x y>) ![alt](https://img.test/a.png)",
            "label x alt",
            ("https://a.test/x y", "https://img.test/a.png"),
        ),
        ('[l](https://a.test/a_(b) "title")', "l", ("https://a.test/a_(b)",)),
        (
            "<https://auto.test/x> and <a@b.test>",
            "https://auto.test/x and a@b.test",
            ("https://auto.test/x", "a@b.test"),
        ),
        ("see https://bare.test/x.", "see https://bare.test/x.", ("https://bare.test/x",)),
        ("`https://in.code/x`", "https://in.code/x", ()),
        ("&lt;b&gt; &amp;amp; &#35; &copy;", "<b> &amp; # ©", ()),
        ("snake_case 2 * 3 **bold** _em_ ~~gone~~", "snake_case 2 * 3 bold em gone", ()),
        ("one<br>two<br/>three", "one\ntwo\nthree", ()),
    ],
)
def test_plain_inline(markdown: str, text: str, links: tuple[str, ...]) -> None:
    assert plain_inline(markdown) == (text, links)


def test_rendered_document_reads_back_with_every_payload_intact() -> None:
    text = render_document("markdown", hostile(sample_timeline(), PAYLOADS), generated_at=GENERATED_AT)
    doc = parse_markdown(text, REF)
    assert doc.incident_id == "PD-Q1ABC2DEF"
    assert doc.title == "<script>alert(1)</script>"
    assert doc.status == "Draft"
    timeline = doc.tables[0]
    assert timeline.heading == "Timeline"
    events = [row[2].text for row in timeline.rows]
    expected = [f"{PAYLOADS[(i + 1) % len(PAYLOADS)]}: {p}" for i, p in enumerate(PAYLOADS)]
    # Cells are one line of Markdown: leading blanks of a line and runs of spaces do not survive.
    assert [words(e) for e in events] == [words(e) for e in expected]
    assert all(
        row[3].links == (f"https://acme.slack.com/archives/C1/p{i}",) for i, row in enumerate(timeline.rows)
    )


def test_rendered_template_tables_and_prompts() -> None:
    doc = parse_markdown(render_sample(), REF)
    headings = [t.heading for t in doc.tables]
    assert headings == ["Timeline", "Key metrics", "Key metrics", "Action items", "Review and sign-off"]
    assert doc.tables[3].rows == ()
    assert [[c.text for c in row] for row in doc.tables[4].rows] == [
        ["Dana Kim", "", "pending", ""],
        ["Eli Park", "", "pending", ""],
    ]
    lucky = next(s for s in doc.sections if s.heading == "Where we got lucky")
    assert lucky.text.startswith("TODO(authors): ")


# ---- writes ------------------------------------------------------------------------------------


def line_of(text: str, start: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if line.startswith(start))


def changed_lines(before: str, after: str) -> list[int]:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(a) == len(b)
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


def test_set_cells_rewrites_only_the_cells_asked_for() -> None:
    updated = set_cells(
        EDITED,
        [
            CellUpdate(
                table=0, row=0, column=6, text="OPS-12 - Done", link="https://jira.acme.test/browse/OPS-12"
            ),
            CellUpdate(table=0, row=2, column=5, text="runbook | linked\nfrom the alert"),
        ],
    )
    lines = EDITED.splitlines(keepends=True)
    first, third = line_of(EDITED, "| Alert on queue"), line_of(EDITED, "| Runbook |")
    assert changed_lines(EDITED, updated) == [first, third]
    new = updated.splitlines(keepends=True)
    assert new[first] == lines[first].replace(
        "[OPS-12](https://jira.acme.test/browse/OPS-12)",
        "[OPS-12 - Done](https://jira.acme.test/browse/OPS-12)",
    )
    assert new[third] == lines[third].replace("linked from alert", "runbook \\| linked<br>from the alert")
    doc = parse_markdown(updated, REF)
    assert doc.tables[0].rows[2][5].text == "runbook | linked\nfrom the alert"
    assert doc.tables[0].rows[0][6].text == "OPS-12 - Done"


def test_set_cells_pads_short_rows() -> None:
    updated = set_cells(EDITED, [CellUpdate(table=0, row=1, column=6, text="OPS-14")])
    line = updated.splitlines()[line_of(EDITED, "| `retry_budget`")]
    assert line == "| `retry_budget` for *workers* | prevent | Bo &amp; Cy | | P2 | | OPS-14 |"
    assert parse_markdown(updated, REF).tables[0].rows[1][6].text == "OPS-14"
    no_pipes = set_cells(EDITED, [CellUpdate(table=0, row=3, column=3, text="2026-12-24")])
    assert (
        no_pipes.splitlines()[line_of(EDITED, "Write the runbook")]
        == "Write the runbook section | process | | 2026-12-24 |"
    )


def test_set_cells_keeps_windows_line_endings_and_a_missing_final_newline() -> None:
    crlf = EDITED.replace("\n", "\r\n").rstrip("\r\n")
    updated = set_cells(crlf, [CellUpdate(table=1, row=0, column=2, text="approved")])
    assert updated == crlf.replace(
        "| Dana Kim | SRE lead | pending |  |", "| Dana Kim | SRE lead | approved |  |"
    )


def test_set_cells_refuses_cells_that_are_not_there() -> None:
    with pytest.raises(DocumentError, match="no table 5"):
        set_cells(EDITED, [CellUpdate(table=5, row=0, column=0, text="x")])
    with pytest.raises(DocumentError, match="no cell at row 4, column 0"):
        set_cells(EDITED, [CellUpdate(table=0, row=4, column=0, text="x")])
    with pytest.raises(DocumentError, match="no cell at row 0, column 7"):
        set_cells(EDITED, [CellUpdate(table=0, row=0, column=7, text="x")])


def test_set_cells_on_the_rendered_doc_leaves_everything_else_alone() -> None:
    text = render_sample()
    updated = set_cells(text, [CellUpdate(table=4, row=1, column=2, text="approved")])
    assert changed_lines(text, updated) == [line_of(text, "| Eli Park |")]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("- **Status:** Draft", "- **Status:** Final"),
        ("**Status: Draft**", "**Status: Final**"),
        ("Status: Draft", "Status: Final"),
        ("* __Status__: *Draft*", "* __Status__: Final"),
    ],
)
def test_set_status(line: str, expected: str) -> None:
    text = f"# Postmortem: x\n\n{line}\n\n## Summary\n\nStatus: not metadata\n"
    updated = set_status(text, "Final")
    assert updated == text.replace(line, expected)
    assert parse_markdown(updated, REF).status == "Final"


def test_set_status_without_a_status_line() -> None:
    with pytest.raises(DocumentError, match="no Status line"):
        set_status("# Postmortem: x\n\n## Summary\n\nStatus: Draft\n", "Final")


def test_fill_table_rows_replaces_the_reviewer_rows() -> None:
    filled = fill_table_rows(
        EDITED,
        1,
        [["Dana Kim", "SRE lead", "approved", "2026-11-05"], ["Eli | Park", "", "changes requested"]],
    )
    assert filled.endswith(
        "| --- | --- | --- | --- |\n"
        "| Dana Kim | SRE lead | approved | 2026-11-05 |\n"
        "| Eli \\| Park |  | changes requested |  |\n"
    )
    assert filled.startswith(EDITED.split("| Dana Kim |")[0])


def test_fill_table_rows_into_an_empty_table_at_the_end_of_the_file() -> None:
    text = "## Review and sign-off\n\n| Reviewer | Role | Status | Date |\n| --- | --- | --- | --- |"
    filled = fill_table_rows(text, 0, [["Ana", "IC", "approved", "2026-11-05"]])
    assert filled == text + "\n| Ana | IC | approved | 2026-11-05 |"
    assert fill_table_rows(filled, 0, []) == text
    with pytest.raises(DocumentError, match="no table 1"):
        fill_table_rows(text, 1, [])
