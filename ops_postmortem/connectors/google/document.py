"""Google Docs JSON (`documents.get` with tabs) into our Document model, and the index layout writes need.

Reading follows what people put into a Doc: text runs joined per cell, person chips (name and e-mail), rich
links (a Jira or GitHub chip gives its ticket key), date chips, merged cells repeated over the cells they
cover, blank rows skipped, suggested insertions not yet accepted left out, and every tab read in order.
Indices are UTF-16 code units, as the Docs API counts them; non-text elements (chips) take one unit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ops_postmortem.model import Cell, DocRef, Document, Person, Section, Table
from ops_postmortem.timeutil import parse_time

JSON = Mapping[str, Any]
OBJECT = "\ufffc"  # stands for a chip in raw paragraph text: one index unit, like the chip itself
HEADING_LEVELS = {"TITLE": 1, **{f"HEADING_{n}": n for n in range(1, 7)}}
_META = re.compile(r"^\s*(?P<label>Incident|Status|Date|Severity)\s*:\s*(?P<value>.*?)\s*$", re.IGNORECASE)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})\b")
_JIRA_KEY = re.compile(r"/browse/([A-Z][A-Z0-9_]+-\d+)\b")
_GITHUB_ISSUE = re.compile(r"^https://github\.com/([\w.-]+)/([\w.-]+)/(?:issues|pull)/(\d+)\b")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Paragraph:
    """One paragraph: where it is, its raw text (chips as OBJECT) and what a reader sees."""

    tab_id: str | None
    start: int
    end: int
    raw: str  # every index unit, suggestions included; ends with "\n"
    text: str  # visible text: chips spelled out, suggested insertions dropped, no final newline
    prose: str  # the visible text with each link's URL after its label, as section text shows evidence
    style: str  # namedStyleType
    bullet: bool
    people: tuple[Person, ...] = ()
    links: tuple[str, ...] = ()
    dates: tuple[date, ...] = ()
    ticket_keys: tuple[str, ...] = ()

    @property
    def level(self) -> int:
        return HEADING_LEVELS.get(self.style, 0)

    def index_of(self, offset: int) -> int:
        """The document index of character `offset` of `raw`."""
        return self.start + utf16_len(self.raw[:offset])


@dataclass(frozen=True)
class CellSpan:
    start: int
    end: int
    content_start: int  # the first paragraph of the cell
    content_end: int  # past the final newline of its last paragraph


@dataclass(frozen=True)
class TableSpan:
    tab_id: str | None
    start: int
    end: int
    columns: int
    rows: tuple[tuple[CellSpan, ...], ...]  # physical rows; a covered cell points at the cell covering it
    data_rows: tuple[int, ...]  # the physical row of each Table.rows entry (header and blank rows skipped)


@dataclass(frozen=True)
class Layout:
    """Where things are in one revision of a doc: enough to compute a batchUpdate without reading again."""

    revision: str | None
    paragraphs: tuple[Paragraph, ...]  # body paragraphs outside tables, every tab in order
    tables: tuple[TableSpan, ...]
    texts: tuple[Paragraph, ...]  # every paragraph, the ones in table cells too, in document order
    tab_ends: Mapping[str | None, int]  # end index of each tab's body

    def region(self, heading: str) -> tuple[int, int, str | None] | None:
        """(start, end, tab) of the section under the first heading with this text: up to the next heading."""
        found: Paragraph | None = None
        for p in self.paragraphs:
            if found is None:
                if p.level and p.text.strip() == heading:
                    found = p
            elif p.level and p.tab_id == found.tab_id:
                return found.end, p.start, found.tab_id
            elif p.tab_id != found.tab_id:
                break
        if found is None:
            return None
        return found.end, self.tab_ends.get(found.tab_id, found.end) - 1, found.tab_id

    def headings(self) -> list[Paragraph]:
        return [p for p in self.paragraphs if p.level]

    def metadata(self, label: str) -> tuple[Paragraph, re.Match[str]] | None:
        """The first 'Label: value' line above the first section below the title."""
        for paragraph in self.paragraphs:
            if paragraph.level > 1:
                return None
            m = _META.match(paragraph.raw.rstrip("\n"))
            if m and m.group("label").lower() == label.lower():
                return paragraph, m
        return None


# ---- walking the JSON --------------------------------------------------------------------------------


def tab_bodies(document: JSON) -> Iterator[tuple[str | None, list[JSON]]]:
    """(tab id, body content) of every tab depth-first; a document read without tabs has one, id None."""
    tabs = document.get("tabs")
    if not tabs:
        yield None, list(document.get("body", {}).get("content", []))
        return

    def walk(items: Sequence[JSON]) -> Iterator[tuple[str | None, list[JSON]]]:
        for tab in items:
            tab_id = tab.get("tabProperties", {}).get("tabId")
            body = tab.get("documentTab", {}).get("body", {})
            yield tab_id, list(body.get("content", []))
            yield from walk(tab.get("childTabs", []))

    yield from walk(tabs)


def _suggested(element: JSON) -> bool:
    return bool(element.get("suggestedInsertionIds"))


def _chip_date(props: JSON) -> date | None:
    stamp = props.get("timestamp")
    if isinstance(stamp, str):
        try:
            at = parse_time(stamp)
        except ValueError:
            at = None
        if at is not None:
            try:
                zone = ZoneInfo(props.get("timeZoneId") or "UTC")
            except (ZoneInfoNotFoundError, ValueError):
                zone = ZoneInfo("UTC")
            return at.astimezone(zone).date()
    return _parse_date(str(props.get("displayText") or ""))


def ticket_key(url: str) -> str | None:
    """OPS-12 from a Jira link, owner/repo#42 from a GitHub issue or pull request link."""
    m = _JIRA_KEY.search(url)
    if m:
        return m.group(1)
    m = _GITHUB_ISSUE.match(url)
    return f"{m.group(1)}/{m.group(2)}#{m.group(3)}" if m else None


def paragraph(element: JSON, tab_id: str | None) -> Paragraph:
    body = element["paragraph"]
    raw: list[str] = []
    text: list[str] = []
    prose: list[str] = []
    people: list[Person] = []
    links: list[str] = []
    dates: list[date] = []
    keys: list[str] = []
    for item in body.get("elements", []):
        if "textRun" in item:
            run = item["textRun"]
            content = str(run.get("content", ""))
            raw.append(content)
            if _suggested(run):
                continue
            text.append(content)
            url = run.get("textStyle", {}).get("link", {}).get("url")
            if url:
                links.append(url)
            label = content.rstrip("\n")
            prose.append(f"{label} ({url}){content[len(label):]}" if url and url != label.strip() else content)
            continue
        raw.append(OBJECT * max(1, int(item.get("endIndex", 1)) - int(item.get("startIndex", 0))))
        if "person" in item and not _suggested(item["person"]):
            props = item["person"].get("personProperties", {})
            name = props.get("name") or props.get("email") or ""
            people.append(Person(name, props.get("email"), item["person"].get("personId")))
            text.append(name)
            prose.append(name)
        elif "richLink" in item and not _suggested(item["richLink"]):
            props = item["richLink"].get("richLinkProperties", {})
            uri = props.get("uri") or ""
            text.append(props.get("title") or uri)
            prose.append(f"{props.get('title')} ({uri})" if props.get("title") and uri else uri)
            if uri:
                links.append(uri)
                key = ticket_key(uri)
                if key:
                    keys.append(key)
        elif "dateElement" in item and not _suggested(item["dateElement"]):
            props = item["dateElement"].get("dateElementProperties", {})
            text.append(props.get("displayText") or "")
            prose.append(props.get("displayText") or "")
            found = _chip_date(props)
            if found:
                dates.append(found)
    # A no-break space (how HTML keeps runs of spaces) reads as a space.
    visible = "".join(text).replace("\u000b", "\n").replace("\u00a0", " ")
    visible = visible.removesuffix("\n")
    shown = "".join(prose).replace("\u000b", "\n").replace("\u00a0", " ").removesuffix("\n")
    style = body.get("paragraphStyle", {}).get("namedStyleType", "NORMAL_TEXT")
    start = int(element.get("startIndex", 0))
    return Paragraph(
        tab_id, start, int(element.get("endIndex", start)), "".join(raw), visible, shown, style, "bullet" in body,
        tuple(people), tuple(dict.fromkeys(links)), tuple(dates), tuple(dict.fromkeys(keys)),
    )


def _cell_paragraphs(cell: JSON, tab_id: str | None) -> list[Paragraph]:
    return [paragraph(e, tab_id) for e in cell.get("content", []) if "paragraph" in e]


def _cell_model(paragraphs: Sequence[Paragraph]) -> Cell:
    text = "\n".join(p.text for p in paragraphs).strip()
    dates = [d for p in paragraphs for d in p.dates]
    return Cell(
        text=text,
        people=tuple(person for p in paragraphs for person in p.people),
        links=tuple(dict.fromkeys(link for p in paragraphs for link in p.links)),
        date=dates[0] if dates else None,
        ticket_keys=tuple(dict.fromkeys(k for p in paragraphs for k in p.ticket_keys)),
    )


def _table(
    element: JSON, tab_id: str | None, texts: list[Paragraph]
) -> tuple[list[list[Cell]], list[list[CellSpan]], int]:
    """The grid of cells (merged ones repeated) and their spans, and the column count; adds to `texts`."""
    table = element["table"]
    rows = table.get("tableRows", [])
    columns = int(table.get("columns") or max((len(r.get("tableCells", [])) for r in rows), default=0))
    cells: list[list[Cell | None]] = [[None] * columns for _ in rows]
    spans: list[list[CellSpan | None]] = [[None] * columns for _ in rows]
    # The API lists every grid cell, covered ones too (empty): a cell's position is its column.
    for r, row in enumerate(rows):
        for c, raw in enumerate(row.get("tableCells", [])[:columns]):
            paragraphs = _cell_paragraphs(raw, tab_id)
            texts.extend(paragraphs)
            if cells[r][c] is not None:
                continue  # covered by a merged cell to the left or above
            model = _cell_model(paragraphs)
            start = int(raw.get("startIndex", 0))
            span = CellSpan(
                start, int(raw.get("endIndex", start)),
                paragraphs[0].start if paragraphs else start + 1,
                paragraphs[-1].end if paragraphs else start + 2,
            )
            style = raw.get("tableCellStyle", {})
            row_span = max(1, int(style.get("rowSpan") or 1))
            col_span = max(1, int(style.get("columnSpan") or 1))
            for dr in range(min(row_span, len(rows) - r)):
                for dc in range(min(col_span, columns - c)):
                    cells[r + dr][c + dc] = model
                    spans[r + dr][c + dc] = span
    empty = Cell(text="")
    return (
        [[cell or empty for cell in row] for row in cells],
        [[span or CellSpan(0, 0, 0, 0) for span in row] for row in spans],
        columns,
    )


def _blank(row: Sequence[Cell]) -> bool:
    return not any(c.text or c.people or c.date for c in row)


def parse_document(document: JSON, ref: DocRef) -> tuple[Document, Layout]:
    paragraphs: list[Paragraph] = []
    texts: list[Paragraph] = []
    tables: list[Table] = []
    spans: list[TableSpan] = []
    sections: list[tuple[Paragraph, list[str]]] = []
    tab_ends: dict[str | None, int] = {}
    for tab_id, content in tab_bodies(document):
        for element in content:
            tab_ends[tab_id] = int(element.get("endIndex", 0))
            if "paragraph" in element:
                p = paragraph(element, tab_id)
                paragraphs.append(p)
                texts.append(p)
                if p.level:
                    sections.append((p, []))
                elif sections:
                    sections[-1][1].append(_prose(p))
            elif "table" in element:
                grid, cell_spans, columns = _table(element, tab_id, texts)
                data = [r for r in range(1, len(grid)) if not _blank(grid[r])]
                heading = sections[-1][0].text.strip() if sections else None
                tables.append(Table(
                    index=len(tables),
                    heading=heading,
                    header=tuple(c.text for c in grid[0]) if grid else (),
                    rows=tuple(tuple(grid[r]) for r in data),
                ))
                start = int(element.get("startIndex", 0))
                spans.append(TableSpan(
                    tab_id, start, int(element.get("endIndex", start)), columns,
                    tuple(tuple(row) for row in cell_spans), tuple(data),
                ))
    layout = Layout(document.get("revisionId"), tuple(paragraphs), tuple(spans), tuple(texts), tab_ends)
    title = next((p.text.strip() for p in paragraphs if p.level == 1), "") or str(document.get("title", ""))
    title = title.removeprefix("Postmortem:").strip()
    severity = _meta_value(layout, "Severity")
    dated = _meta_value(layout, "Date")
    doc = Document(
        ref=ref,
        title=title,
        status=_meta_value(layout, "Status") or None,
        sections=tuple(
            Section(h.text.strip(), h.level, re.sub(r"\n{3,}", "\n\n", "\n".join(body)).strip("\n"))
            for h, body in sections
        ),
        tables=tuple(tables),
        revision=layout.revision,
        incident_id=_meta_value(layout, "Incident") or None,
        incident_date=_parse_date(dated) if dated else None,
        severity=severity if severity and severity != "unknown" else None,
    )
    return doc, layout


def _prose(p: Paragraph) -> str:
    """A body paragraph as section text: links shown as 'label (url)' so lint sees the evidence."""
    text = p.prose
    if p.bullet:
        return f"- {text}"
    return f"{text}\n" if text else ""


def _meta_value(layout: Layout, label: str) -> str:
    found = layout.metadata(label)
    if found is None:
        return ""
    m = _META.match(found[0].text)
    return m.group("value").strip() if m else ""


def _parse_date(value: str) -> date | None:
    m = _DATE.match(value.strip())
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def region_text(layout: Layout, start: int, end: int, tab_id: str | None) -> str:
    """Every visible character between two indices of one tab, table cells included, whitespace removed."""
    text = "".join(p.text for p in layout.texts if p.tab_id == tab_id and p.start >= start and p.end <= end)
    return "".join(text.split())
