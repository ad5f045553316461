"""Reading Google Docs JSON (documents.get shapes from the Docs v1 discovery schema) into the Document model."""

from __future__ import annotations

from datetime import date
from typing import Any

from ops_postmortem.actions import find_action_table, read_items
from ops_postmortem.connectors.google.document import parse_document, ticket_key, utf16_len
from ops_postmortem.dates import DateParser
from ops_postmortem.model import DocRef
from tests.fakes.google import schema_errors

REF = DocRef("google", "D1", "https://docs.google.com/document/d/D1/edit")


class Builder:
    """Docs JSON with correct UTF-16 indices, built element by element."""

    def __init__(self) -> None:
        self.at = 1
        self.content: list[dict[str, Any]] = [{"endIndex": 1, "sectionBreak": {"sectionStyle": {}}}]

    def _elements(self, parts: list[Any]) -> list[dict[str, Any]]:
        out = []
        for part in [*parts, "\n"]:
            if isinstance(part, str):
                if out and "textRun" in out[-1] and not out[-1]["textRun"].get("suggestedInsertionIds") \
                        and not out[-1]["textRun"]["textStyle"]:
                    out[-1]["textRun"]["content"] += part
                    out[-1]["endIndex"] += utf16_len(part)
                else:
                    out.append({"startIndex": self.at, "endIndex": self.at + utf16_len(part),
                                "textRun": {"content": part, "textStyle": {}}})
                self.at += utf16_len(part)
            elif "textRun" in part:
                length = utf16_len(part["textRun"]["content"])
                out.append({"startIndex": self.at, "endIndex": self.at + length, **part})
                self.at += length
            else:
                out.append({"startIndex": self.at, "endIndex": self.at + 1, **part})
                self.at += 1
        return out

    def paragraph(self, *parts: Any, style: str = "NORMAL_TEXT", bullet: bool = False) -> dict[str, Any]:
        start = self.at
        elements = self._elements(list(parts))
        paragraph: dict[str, Any] = {"elements": elements, "paragraphStyle": {"namedStyleType": style}}
        if bullet:
            paragraph["bullet"] = {"listId": "kix.1"}
        return {"startIndex": start, "endIndex": self.at, "paragraph": paragraph}

    def add(self, *parts: Any, style: str = "NORMAL_TEXT", bullet: bool = False) -> None:
        self.content.append(self.paragraph(*parts, style=style, bullet=bullet))

    def table(self, rows: list[list[Any]], spans: dict[tuple[int, int], tuple[int, int]] | None = None) -> None:
        start = self.at
        self.at += 1
        table_rows = []
        for r, row in enumerate(rows):
            row_start = self.at
            self.at += 1
            cells = []
            for c, value in enumerate(row):
                cell_start = self.at
                self.at += 1
                parts = value if isinstance(value, list) else [value]
                content = [self.paragraph(*parts)]
                rs, cs = (spans or {}).get((r, c), (1, 1))
                cells.append({"startIndex": cell_start, "endIndex": self.at, "content": content,
                              "tableCellStyle": {"rowSpan": rs, "columnSpan": cs}})
            table_rows.append({"startIndex": row_start, "endIndex": self.at, "tableCells": cells})
        self.content.append({"startIndex": start, "endIndex": self.at,
                             "table": {"rows": len(rows), "columns": len(rows[0]), "tableRows": table_rows}})
        self.add()  # Docs keeps a paragraph after every table

    def document(self, tabs: bool = True) -> dict[str, Any]:
        body = {"content": self.content}
        if not tabs:
            return {"documentId": "D1", "title": "PM", "revisionId": "r1", "body": body}
        return {"documentId": "D1", "title": "PM", "revisionId": "r1",
                "tabs": [{"tabProperties": {"tabId": "t.0", "title": "Tab 1", "index": 0},
                          "documentTab": {"body": body}}]}


PERSON = {"person": {"personId": "p1", "personProperties": {"name": "Dana Kim", "email": "dana@acme.test"},
                     "textStyle": {}}}
JIRA = {"richLink": {"richLinkId": "r1", "richLinkProperties": {
    "title": "OPS-12: Add a CI check", "uri": "https://acme.atlassian.net/browse/OPS-12", "mimeType": ""},
    "textStyle": {}}}
DATE = {"dateElement": {"dateId": "d1", "dateElementProperties": {
    "timestamp": "2026-11-20T00:00:00Z", "timeZoneId": "Europe/Berlin", "displayText": "Nov 20, 2026",
    "dateFormat": "DATE_FORMAT_MONTH_DAY_YEAR_ABBREVIATED", "locale": "en"}, "textStyle": {}}}
SUGGESTED = {"textRun": {"content": "not yet accepted ", "suggestedInsertionIds": ["suggest.x1"], "textStyle": {}}}
LINK = {"textRun": {"content": "graph", "textStyle": {"link": {"url": "https://grafana.acme.test/d/1"}}}}
HEADER = ["Action", "Type", "Owner", "Due", "Priority", "Done when", "Ticket"]


def postmortem() -> Builder:
    b = Builder()
    b.add("Postmortem: DB pool exhaustion", style="HEADING_1")
    b.add({"textRun": {"content": "Incident:", "textStyle": {"bold": True}}}, " INC-7", bullet=True)
    b.add({"textRun": {"content": "Status:", "textStyle": {"bold": True}}}, " Draft", bullet=True)
    b.add({"textRun": {"content": "Severity:", "textStyle": {"bold": True}}}, " SEV2", bullet=True)
    b.add({"textRun": {"content": "Date:", "textStyle": {"bold": True}}}, " 2026-11-03", bullet=True)
    b.add("Detection", style="HEADING_2")
    b.add("Detected by ", LINK, " at 23:36.")
    b.add("Action items", style="HEADING_2")
    return b


def test_the_shapes_used_here_are_the_discovery_schema_s() -> None:
    b = postmortem()
    b.table([HEADER, ["x", "", [PERSON], [DATE], "", "", [JIRA]]])
    assert schema_errors("docs.v1", "Document", b.document()) == []


def test_metadata_sections_and_prose_links() -> None:
    b = postmortem()
    doc, layout = parse_document(b.document(), REF)
    assert (doc.title, doc.incident_id, doc.status, doc.severity) == ("DB pool exhaustion", "INC-7", "Draft", "SEV2")
    assert doc.incident_date == date(2026, 11, 3)
    detection = next(s for s in doc.sections if s.heading == "Detection")
    assert detection.text == "Detected by graph (https://grafana.acme.test/d/1) at 23:36."
    assert layout.revision == "r1"


def test_chips_merged_cells_blank_rows_and_suggestions_in_the_action_table() -> None:
    b = postmortem()
    b.table([
        HEADER,
        ["Add a CI check for the pool size", "prevent", [PERSON], [DATE], "P1", "CI fails on max=5", [JIRA]],
        ["", "", "", "", "", "", ""],  # a blank row people left
        [["Page on saturation ", SUGGESTED, "above 90%"], "detect", "José Núñez", "2026-11-20", "P1",
         "alert fires", ""],
        ["Merged", "", "", "", "", "", ""],
        ["", "", "", "", "", "", ""],  # trailing blank row
    ], spans={(4, 0): (1, 3)})
    doc, layout = parse_document(b.document(), REF)
    table, mapping = find_action_table(doc)
    assert len(table.rows) == 3  # blank rows skipped
    first, second, merged = table.rows
    assert first[2].people[0].email == "dana@acme.test" and first[2].text == "Dana Kim"
    assert first[3].date == date(2026, 11, 20) and first[3].text == "Nov 20, 2026"
    assert first[6].ticket_keys == ("OPS-12",) and first[6].links == ("https://acme.atlassian.net/browse/OPS-12",)
    assert second[0].text == "Page on saturation above 90%"  # the suggestion is not text yet
    assert [c.text for c in merged[:4]] == ["Merged", "Merged", "Merged", ""]
    items = read_items(table, mapping, DateParser())
    assert items[0].owner_person is not None and items[0].owner_person.name == "Dana Kim"
    assert items[0].due == date(2026, 11, 20)
    assert items[0].ticket is not None and items[0].ticket.key == "OPS-12"
    span = layout.tables[table.index]
    assert span.data_rows == (1, 3, 4)
    assert span.rows[4][1] == span.rows[4][0]  # a covered cell writes into the cell covering it


def test_soft_line_breaks_and_no_break_spaces() -> None:
    b = postmortem()
    b.table([HEADER, ["two\u000blines", "", "a\u00a0\u00a0b", "", "", "", ""]])
    doc, _ = parse_document(b.document(), REF)
    row = find_action_table(doc)[0].rows[0]
    assert row[0].text == "two\nlines" and row[2].text == "a  b"


def test_tabs_are_read_in_order_with_child_tabs() -> None:
    first = postmortem()
    second = Builder()
    second.add("Action items", style="HEADING_2")
    second.table([HEADER, ["Rotate the DB credentials used by checkout", "prevent", "Dana Kim", "2026-11-20", "P1",
                           "old password rejected", ""]])
    document = first.document()
    document["tabs"][0]["childTabs"] = [{"tabProperties": {"tabId": "t.1", "title": "Actions", "parentTabId": "t.0"},
                                         "documentTab": {"body": {"content": second.content}}}]
    doc, layout = parse_document(document, REF)
    assert [s.heading for s in doc.sections][-1] == "Action items"
    table, _ = find_action_table(doc)
    assert table.rows[0][0].text.startswith("Rotate") and layout.tables[table.index].tab_id == "t.1"


def test_a_document_read_without_tabs() -> None:
    doc, layout = parse_document(postmortem().document(tabs=False), REF)
    assert doc.incident_id == "INC-7" and layout.paragraphs[0].tab_id is None


def test_utf16_indices_and_ticket_keys() -> None:
    assert utf16_len("a🔥𝔘") == 5
    b = Builder()
    b.add("🔥 x", style="HEADING_1")
    b.add("after")
    _, layout = parse_document(b.document(), REF)
    assert layout.paragraphs[1].start == 1 + utf16_len("🔥 x\n")
    assert ticket_key("https://github.com/acme/checkout-api/issues/42") == "acme/checkout-api#42"
    assert ticket_key("https://acme.atlassian.net/browse/OPS-3?focusedCommentId=1") == "OPS-3"
    assert ticket_key("https://example.test/OPS-3") is None
