"""The document model of the fake Google Docs: HTML import, batchUpdate requests, and the Docs JSON of a doc.

Every container (a tab's body, a table cell) is a list of atoms: one per UTF-16 code unit of text, one per
chip (person, rich link, date: one index unit each) and one per table. A paragraph is the atoms up to and
including a newline atom, which carries the paragraph's style, so deleting a newline merges two paragraphs
the way Docs does (the surviving newline's style wins). Indices are computed exactly as the Docs API counts.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, ClassVar

OBJ = "\ufffc"
NORMAL = {"namedStyleType": "NORMAL_TEXT"}


class DocsError(Exception):
    """A request Google would refuse: becomes a 400 INVALID_ARGUMENT naming the request."""


def units(text: str) -> list[str]:
    """`text` as UTF-16 code units (a character outside the BMP is two surrogate halves)."""
    data = text.encode("utf-16-le", "surrogatepass")
    return [data[i : i + 2].decode("utf-16-le", "surrogatepass") for i in range(0, len(data), 2)]


def join_units(parts: list[str]) -> str:
    return "".join(parts).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


@dataclass
class Atom:
    ch: str  # one UTF-16 unit, "\n", or OBJ for a chip
    style: dict[str, Any] = field(default_factory=dict)  # textStyle
    chip: dict[str, Any] | None = None  # {"person": {...}} | {"richLink": {...}} | {"dateElement": {...}}
    suggested: tuple[str, ...] = ()  # suggestedInsertionIds
    pstyle: dict[str, Any] | None = None  # paragraphStyle, on newline atoms
    bullet: dict[str, Any] | None = None  # on newline atoms


@dataclass
class CellM:
    content: list[Any]  # atoms (no tables inside cells)
    style: dict[str, Any] = field(default_factory=dict)


@dataclass
class TableM:
    rows: list[list[CellM]]

    @property
    def columns(self) -> int:
        return len(self.rows[0]) if self.rows else 0

    def length(self) -> int:
        return 1 + sum(1 + sum(1 + len(c.content) for c in row) for row in self.rows)


def newline(pstyle: dict[str, Any] | None = None, style: dict[str, Any] | None = None,
            bullet: dict[str, Any] | None = None) -> Atom:
    return Atom("\n", dict(style or {}), pstyle=dict(pstyle or NORMAL), bullet=bullet)


def empty_cell() -> CellM:
    return CellM([newline()])


def text_atoms(text: str, style: dict[str, Any] | None = None, suggested: tuple[str, ...] = ()) -> list[Atom]:
    return [Atom(u, dict(style or {}), suggested=suggested) for u in units(text)]


def size(item: Any) -> int:
    return item.length() if isinstance(item, TableM) else 1


@dataclass
class Tab:
    tab_id: str
    title: str
    body: list[Any]  # atoms and tables; index 0 is the section break, so content starts at 1
    children: list[Tab] = field(default_factory=list)


def clone(items: list[Any]) -> list[Any]:
    """A copy to edit: new atoms and tables; style dicts are shared, since edits replace them, never mutate."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, TableM):
            out.append(TableM([[CellM(clone(c.content), dict(c.style)) for c in row] for row in item.rows]))
        else:
            out.append(Atom(item.ch, item.style, item.chip, item.suggested, item.pstyle, item.bullet))
    return out


def clone_tabs(tabs: list[Tab]) -> list[Tab]:
    return [Tab(t.tab_id, t.title, clone(t.body), clone_tabs(t.children)) for t in tabs]


def all_tabs(tabs: list[Tab]) -> list[Tab]:
    """Every tab depth-first, as the API lists them."""
    return [t for tab in tabs for t in (tab, *all_tabs(tab.children))]


# ---- locating ----------------------------------------------------------------------------------------


@dataclass
class Spot:
    """A position inside one container: the container, the list position, and the container's start index."""

    container: list[Any]
    pos: int
    base: int
    cell: CellM | None = None


def _walk(container: list[Any], base: int, index: int, cell: CellM | None = None) -> Spot | None:
    at = base
    for pos, item in enumerate(container):
        if isinstance(item, TableM):
            end = at + item.length()
            if at < index < end:
                return _in_table(item, at, index)
            if index == at:
                return Spot(container, pos, base, cell)
            at = end
            continue
        if at == index:
            return Spot(container, pos, base, cell)
        at += 1
    if at == index:
        return Spot(container, len(container), base, cell)
    return None


def _in_table(table: TableM, start: int, index: int) -> Spot | None:
    at = start + 1
    for row in table.rows:
        at += 1
        for cell in row:
            at += 1
            if at <= index < at + len(cell.content):
                return _walk(cell.content, at, index, cell)
            at += len(cell.content)
    return None  # a table, row or cell boundary


def position_of(container: list[Any], base: int, pos: int) -> int:
    return base + sum(size(item) for item in container[:pos])


def table_at(body: list[Any], index: int) -> TableM:
    at = 1
    for item in body:
        if isinstance(item, TableM) and at == index:
            return item
        at += size(item)
    raise DocsError(f"Invalid table start location. There is no table at index {index}.")


def paragraphs(container: list[Any]) -> Iterator[tuple[int, int]]:
    """(start, end) list positions of each paragraph (end past its newline) in a container."""
    start = 0
    for pos, item in enumerate(container):
        if isinstance(item, TableM):
            start = pos + 1
        elif item.ch == "\n":
            yield start, pos + 1
            start = pos + 1


def containers(body: list[Any]) -> Iterator[list[Any]]:
    yield body
    for item in body:
        if isinstance(item, TableM):
            for row in item.rows:
                for cell in row:
                    yield cell.content


# ---- HTML import -------------------------------------------------------------------------------------


class _Importer(HTMLParser):
    """What Drive makes of an uploaded HTML file: headings, paragraphs, lists, tables, links, bold and italic."""

    BLOCKS: ClassVar[set[str]] = {"p", "div", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.body: list[Any] = []
        self.current: list[Atom] = []  # atoms of the open paragraph or cell
        self.pstyle: dict[str, Any] = dict(NORMAL)
        self.bullet: dict[str, Any] | None = None
        self.open = False
        self.table: TableM | None = None
        self.cell: CellM | None = None
        self.styles: list[dict[str, Any]] = []
        self.skip = 0
        self.in_list = 0

    def _style(self) -> dict[str, Any]:
        style: dict[str, Any] = {}
        for s in self.styles:
            style.update(s)
        return style

    def _flush(self) -> None:
        if not self.open:
            return
        while self.current and self.current[-1].ch == " ":
            self.current.pop()
        self.body += self.current + [newline(self.pstyle, bullet=self.bullet)]
        self.current, self.open, self.pstyle, self.bullet = [], False, dict(NORMAL), None

    def _start_paragraph(self, pstyle: dict[str, Any], bullet: dict[str, Any] | None = None) -> None:
        self._flush()
        self.open, self.pstyle, self.bullet = True, pstyle, bullet

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("head", "title", "script", "style"):
            self.skip += 1
        elif tag in ("b", "strong", "th"):
            self.styles.append({"bold": True})
            if tag == "th":
                self._open_cell()
        elif tag in ("i", "em"):
            self.styles.append({"italic": True})
        elif tag == "a":
            href = dict(attrs).get("href")
            self.styles.append({"link": {"url": href}, "underline": True} if href else {})
        elif tag == "span":
            self.styles.append({})
        elif tag == "br":
            self._text("\u000b")
        elif tag in ("ul", "ol"):
            self.in_list += 1
        elif tag == "table":
            self._flush()
            if not self.body or isinstance(self.body[-1], TableM):
                self.body.append(newline())  # Docs keeps a paragraph before every table
            self.table = TableM([])
        elif tag == "tr" and self.table is not None:
            self.table.rows.append([])
        elif tag == "td":
            self._open_cell()
        elif tag in self.BLOCKS and self.cell is None:
            level = tag[1] if tag[0] == "h" and tag[1:].isdigit() else None
            style = {"namedStyleType": f"HEADING_{level}"} if level else dict(NORMAL)
            bullet = {"listId": "kix.list.1", "nestingLevel": self.in_list - 1} if tag == "li" else None
            self._start_paragraph(style, bullet)

    def _open_cell(self) -> None:
        if self.table is not None:
            if not self.table.rows:
                self.table.rows.append([])
            self.cell = CellM([])
            self.current = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("head", "title", "script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in ("b", "strong", "i", "em", "a", "span", "th") and self.styles:
            self.styles.pop()
            if tag == "th":
                self._close_cell()
        elif tag == "td":
            self._close_cell()
        elif tag in ("ul", "ol"):
            self.in_list = max(0, self.in_list - 1)
        elif tag == "table" and self.table is not None:
            width = max((len(r) for r in self.table.rows), default=0)
            rows = [r + [empty_cell() for _ in range(width - len(r))] for r in self.table.rows if r]
            if rows:
                self.body.append(TableM(rows))
            self.table = None
        elif tag in self.BLOCKS and self.cell is None:
            self._flush()

    def _close_cell(self) -> None:
        if self.cell is not None and self.table is not None:
            atoms = self.current
            while atoms and atoms[-1].ch == " ":
                atoms.pop()
            self.cell.content = atoms + [newline()]
            self.table.rows[-1].append(self.cell)
            self.cell, self.current = None, []

    def _text(self, text: str) -> None:
        if self.cell is None and not self.open:
            if not text.strip():
                return
            self._start_paragraph(dict(NORMAL))
        self.current += text_atoms(text, self._style())

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        text = re.sub(r"[ \t\n\r\f]+", " ", data)  # HTML whitespace; a no-break space stays
        if text.startswith(" ") and (not self.current or self.current[-1].ch in (" ", "\u000b")):
            text = text[1:]
        if text:
            self._text(text)


def import_html(html: str) -> list[Any]:
    importer = _Importer()
    importer.feed(html)
    importer.close()
    importer._flush()
    body = importer.body
    if not body or isinstance(body[-1], TableM) or body[-1].ch != "\n":
        body.append(newline())  # a body always ends with a paragraph
    return body


# ---- serialising -------------------------------------------------------------------------------------


def _runs(atoms: list[Atom], start: int) -> list[dict[str, Any]]:
    elements: list[dict[str, Any]] = []
    at = start
    for key, group in itertools.groupby(atoms, key=lambda a: (a.chip is None, repr(a.style), a.suggested)):
        items = list(group)
        if not key[0]:
            for atom in items:
                assert atom.chip is not None
                kind, props = next(iter(atom.chip.items()))
                chip = {**copy.deepcopy(props), "textStyle": copy.deepcopy(atom.style)}
                if atom.suggested:
                    chip["suggestedInsertionIds"] = list(atom.suggested)
                elements.append({"startIndex": at, "endIndex": at + 1, kind: chip})
                at += 1
            continue
        run: dict[str, Any] = {"content": join_units([a.ch for a in items]), "textStyle": copy.deepcopy(items[0].style)}
        if items[0].suggested:
            run["suggestedInsertionIds"] = list(items[0].suggested)
        elements.append({"startIndex": at, "endIndex": at + len(items), "textRun": run})
        at += len(items)
    return elements


def content_json(container: list[Any], base: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    at = base
    start_pos = 0
    for pos, item in enumerate(container):
        if isinstance(item, TableM):
            out.append(table_json(item, at))
            at += item.length()
            start_pos = pos + 1
            continue
        if item.ch == "\n":
            atoms = container[start_pos : pos + 1]
            start = at - (pos - start_pos)
            paragraph: dict[str, Any] = {"elements": _runs(atoms, start),
                                         "paragraphStyle": copy.deepcopy(item.pstyle or NORMAL)}
            if item.bullet:
                paragraph["bullet"] = copy.deepcopy(item.bullet)
            out.append({"startIndex": start, "endIndex": at + 1, "paragraph": paragraph})
            start_pos = pos + 1
        at += 1
    return out


def table_json(table: TableM, start: int) -> dict[str, Any]:
    rows = []
    at = start + 1
    for row in table.rows:
        row_start = at
        at += 1
        cells = []
        for cell in row:
            cell_start = at
            at += 1
            cells.append({"startIndex": cell_start, "endIndex": at + len(cell.content),
                          "content": content_json(cell.content, at),
                          "tableCellStyle": {"rowSpan": 1, "columnSpan": 1, **cell.style}})
            at += len(cell.content)
        rows.append({"startIndex": row_start, "endIndex": at, "tableCells": cells, "tableRowStyle": {}})
    return {"startIndex": start, "endIndex": at,
            "table": {"rows": len(table.rows), "columns": table.columns, "tableRows": rows}}


def body_json(body: list[Any]) -> dict[str, Any]:
    return {"content": [{"endIndex": 1, "sectionBreak": {"sectionStyle": {}}}, *content_json(body, 1)]}


def plain_text(container: list[Any]) -> str:
    out = []
    for item in container:
        if isinstance(item, TableM):
            out += [plain_text(c.content) for row in item.rows for c in row]
        elif item.chip is None:
            out.append(item.ch)
    return join_units(out)


# ---- batchUpdate -------------------------------------------------------------------------------------


class Editor:
    """Applies batchUpdate requests to the tabs of one doc, in order, raising DocsError on the first bad one."""

    def __init__(self, tabs: list[Tab]) -> None:
        self.tabs = tabs

    def tab(self, where: dict[str, Any]) -> Tab:
        if where.get("segmentId"):
            raise DocsError("Headers, footers and footnotes are not supported by this fake.")
        tab_id = where.get("tabId")
        if not tab_id:
            return self.tabs[0]
        for tab in self.tabs:
            if tab.tab_id == tab_id:
                return tab
        raise DocsError(f"The tab with ID {tab_id} was not found.")

    def spot(self, tab: Tab, index: int) -> Spot:
        if index < 1:
            raise DocsError(f"Index {index} must be greater than or equal to 1.")
        end = 1 + sum(size(i) for i in tab.body)
        if index >= end:
            raise DocsError(f"Index {index} must be less than the end index of the referenced segment, {end}.")
        found = _walk(tab.body, 1, index)
        if found is None:
            raise DocsError("The insertion index must be inside the bounds of an existing paragraph. "
                            "You can still create new paragraphs by inserting newlines.")
        return found

    def apply(self, request: dict[str, Any]) -> dict[str, Any]:
        kind, body = next(iter(request.items()))
        handler = getattr(self, f"do_{kind}", None)
        if handler is None:
            raise DocsError(f"{kind} is not supported by this fake.")
        return dict(handler(body) or {})

    def _location(self, body: dict[str, Any]) -> tuple[Tab, int]:
        if ("location" in body) == ("endOfSegmentLocation" in body):
            raise DocsError("Exactly one of location or endOfSegmentLocation must be set.")
        if "location" in body:
            loc = body["location"]
            return self.tab(loc), int(loc.get("index", 0))
        tab = self.tab(body["endOfSegmentLocation"])
        return tab, sum(size(i) for i in tab.body)  # before the final newline

    @staticmethod
    def _inherit(spot: Spot) -> dict[str, Any]:
        c, pos = spot.container, spot.pos
        if pos > 0 and not isinstance(c[pos - 1], TableM) and c[pos - 1].ch != "\n":
            return dict(c[pos - 1].style)
        return dict(c[pos].style) if pos < len(c) and not isinstance(c[pos], TableM) else {}

    @staticmethod
    def _paragraph_style(spot: Spot) -> tuple[dict[str, Any], dict[str, Any] | None]:
        for item in spot.container[spot.pos:]:
            if not isinstance(item, TableM) and item.ch == "\n":
                return dict(item.pstyle or NORMAL), copy.deepcopy(item.bullet)
        return dict(NORMAL), None

    def insert(self, spot: Spot, text: str) -> None:
        if spot.pos >= len(spot.container) or isinstance(spot.container[spot.pos], TableM):
            raise DocsError("The insertion index must be inside the bounds of an existing paragraph. "
                            "You can still create new paragraphs by inserting newlines.")
        style = self._inherit(spot)
        pstyle, bullet = self._paragraph_style(spot)
        atoms = [newline(pstyle, style, bullet) if u == "\n" else Atom(u, dict(style)) for u in units(text)]
        spot.container[spot.pos : spot.pos] = atoms

    def do_insertText(self, body: dict[str, Any]) -> None:
        tab, index = self._location(body)
        text = str(body.get("text", ""))
        if not text:
            raise DocsError("The text to insert must not be empty.")
        self.insert(self.spot(tab, index), text)

    def do_deleteContentRange(self, body: dict[str, Any]) -> None:
        rng = body["range"]
        tab = self.tab(rng)
        start, end = int(rng.get("startIndex", 0)), int(rng.get("endIndex", 0))
        if start >= end:
            raise DocsError("The range should not be empty.")
        first = self.spot(tab, start)
        total = 1 + sum(size(i) for i in tab.body)
        if first.cell is None and end > total - 1:
            raise DocsError("The range cannot include the newline character at the end of the segment.")
        if first.cell is not None:
            cell_end = first.base + len(first.container)
            if end > cell_end - 1:
                raise DocsError("Invalid deletion range. The range cannot include the last newline of a table cell.")
            del first.container[first.pos : first.pos + end - start]
            return
        last = _walk(tab.body, 1, end)
        if last is None or last.container is not tab.body:
            raise DocsError("Invalid deletion range. Cannot delete the requested range: it ends inside a table.")
        del tab.body[first.pos : last.pos]
        self._check_tables(tab.body)

    @staticmethod
    def _check_tables(body: list[Any]) -> None:
        """Docs keeps a paragraph break before every table and a paragraph after it."""
        for pos, item in enumerate(body):
            if isinstance(item, TableM):
                before = body[pos - 1] if pos else None
                after = body[pos + 1] if pos + 1 < len(body) else None
                if not isinstance(before, Atom) or before.ch != "\n" or not isinstance(after, Atom):
                    raise DocsError("Invalid deletion range. Cannot delete the newline character before a table "
                                    "without deleting the table.")

    def do_insertTable(self, body: dict[str, Any]) -> None:
        tab, index = self._location(body)
        rows, columns = int(body.get("rows", 0)), int(body.get("columns", 0))
        if rows < 1 or columns < 1:
            raise DocsError("A table must have at least one row and one column.")
        spot = self.spot(tab, index)
        if spot.cell is not None:
            raise DocsError("Nested tables are not supported by this fake.")
        pstyle, bullet = self._paragraph_style(spot)
        style = self._inherit(spot)
        table = TableM([[empty_cell() for _ in range(columns)] for _ in range(rows)])
        spot.container[spot.pos : spot.pos] = [newline(pstyle, style, bullet), table]

    def _cell_location(self, body: dict[str, Any]) -> tuple[TableM, int, int]:
        loc = body["tableCellLocation"]
        start = loc["tableStartLocation"]
        table = table_at(self.tab(start).body, int(start.get("index", 0)))
        row, column = int(loc.get("rowIndex", 0)), int(loc.get("columnIndex", 0))
        if not 0 <= row < len(table.rows) or not 0 <= column < table.columns:
            raise DocsError(f"Invalid table cell location: row {row}, column {column}.")
        return table, row, column

    def do_insertTableRow(self, body: dict[str, Any]) -> None:
        table, row, _ = self._cell_location(body)
        at = row + 1 if body.get("insertBelow") else row
        table.rows.insert(at, [empty_cell() for _ in range(table.columns)])

    def do_deleteTableRow(self, body: dict[str, Any]) -> None:
        table, row, _ = self._cell_location(body)
        if len(table.rows) == 1:
            raise DocsError("Cannot delete the only row of a table; delete the table instead.")
        del table.rows[row]

    def _tabs_for(self, criteria: dict[str, Any] | None) -> list[Tab]:
        ids = (criteria or {}).get("tabIds")
        return [t for t in self.tabs if not ids or t.tab_id in ids]

    def do_replaceAllText(self, body: dict[str, Any]) -> dict[str, Any]:
        match = body.get("containsText", {})
        needle = str(match.get("text", ""))
        if not needle:
            raise DocsError("The text to match must not be empty.")
        if match.get("searchByRegex"):
            raise DocsError("searchByRegex is not supported by this fake.")
        case = bool(match.get("matchCase"))
        replacement = str(body.get("replaceText", ""))
        changed = 0
        for tab in self._tabs_for(body.get("tabsCriteria")):
            for container in list(containers(tab.body)):
                text = [a.ch if not isinstance(a, TableM) and a.chip is None else "\x00" for a in container]
                hay = "".join(text)
                probe, target = (hay, needle) if case else (hay.lower(), needle.lower())
                target_units = "".join(units(target))
                found = []
                at = probe.find(target_units)
                while at >= 0:
                    found.append(at)
                    at = probe.find(target_units, at + len(target_units))
                for at in reversed(found):
                    style = dict(container[at].style)
                    pstyle, bullet = self._paragraph_style(Spot(container, at, 0))
                    atoms = [newline(pstyle, style, bullet) if u == "\n" else Atom(u, dict(style))
                             for u in units(replacement)]
                    container[at : at + len(target_units)] = atoms
                changed += len(found)
        return {"replaceAllText": {"occurrencesChanged": changed}}

    def _atoms_in(self, tab: Tab, start: int, end: int) -> Iterator[tuple[list[Any], int]]:
        """(container, position) of every atom whose index is in [start, end), table cells included."""
        def walk(container: list[Any], base: int) -> Iterator[tuple[list[Any], int]]:
            at = base
            for pos, item in enumerate(container):
                if isinstance(item, TableM):
                    if at < end and at + item.length() > start:
                        cell_at = at + 1
                        for row in item.rows:
                            cell_at += 1
                            for cell in row:
                                cell_at += 1
                                yield from walk(cell.content, cell_at)
                                cell_at += len(cell.content)
                    at += item.length()
                    continue
                if start <= at < end:
                    yield container, pos
                at += 1

        yield from walk(tab.body, 1)

    def _range(self, body: dict[str, Any]) -> tuple[Tab, int, int]:
        rng = body["range"]
        tab = self.tab(rng)
        start, end = int(rng.get("startIndex", 0)), int(rng.get("endIndex", 0))
        total = 1 + sum(size(i) for i in tab.body)
        if start >= end or start < 1 or end > total:
            raise DocsError(f"Invalid range {start}-{end}: the segment ends at {total}.")
        return tab, start, end

    @staticmethod
    def _fields(body: dict[str, Any]) -> list[str]:
        fields = str(body.get("fields", ""))
        if not fields:
            raise DocsError("fields must be set (use * for every field).")
        return [f.strip() for f in fields.split(",")]

    @staticmethod
    def _merge(old: dict[str, Any], new: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        if fields == ["*"]:
            return copy.deepcopy(new)
        merged = dict(old)
        for name in fields:
            if name in new:
                merged[name] = copy.deepcopy(new[name])
            else:
                merged.pop(name, None)  # a field in the mask but not in the style is reset
        return merged

    def do_updateTextStyle(self, body: dict[str, Any]) -> None:
        tab, start, end = self._range(body)
        fields = self._fields(body)
        new = body.get("textStyle", {})
        for container, pos in self._atoms_in(tab, start, end):
            container[pos].style = self._merge(container[pos].style, new, fields)

    def do_updateParagraphStyle(self, body: dict[str, Any]) -> None:
        tab, start, end = self._range(body)
        fields = self._fields(body)
        new = body.get("paragraphStyle", {})
        touched: dict[int, tuple[list[Any], set[int]]] = {}
        for container, pos in self._atoms_in(tab, start, end):
            touched.setdefault(id(container), (container, set()))[1].add(pos)
        for container, positions in touched.values():
            ordered = sorted(positions)
            for first, stop in paragraphs(container):
                i = bisect.bisect_left(ordered, first)
                if i < len(ordered) and ordered[i] < stop:
                    atom = container[stop - 1]
                    atom.pstyle = self._merge(atom.pstyle or NORMAL, new, fields)
