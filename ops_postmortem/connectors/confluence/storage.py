"""Confluence storage format (XHTML) <-> the Document model, and in-place edits of a page body.

Reading follows what a reader sees: headings, paragraphs, lists, tables (merged cells repeated), macros by
what they show (a status lozenge its title, a Jira macro its key, a code block its text, an expand its body),
user mentions as people, `<time datetime>` as dates, inline comment markers as the text they wrap.
Edits splice the body: only the elements they change are rewritten; every other byte stays as saved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from ops_postmortem.connectors.confluence.xhtml import Node, Storage, parse, splice
from ops_postmortem.errors import DocumentError
from ops_postmortem.escaping import cell_storage, escape_storage, link_storage, web_url
from ops_postmortem.model import Cell, CellUpdate, DocRef, Document, Person, Section, Table

UserRef = tuple[str, str]  # ("account-id" | "userkey" | "username", value)

_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = {"p", "pre", "blockquote", "dt", "dd", "caption", "figcaption", "address"}
_CONTAINERS = {"ul", "ol", "dl", "div", "section", "article", "thead", "tbody", "tfoot", "colgroup",
               "ac:layout", "ac:layout-section", "ac:layout-cell", "ac:rich-text-body", "ac:task-list"}
_HIDDEN = {"ac:parameter", "ac:image", "ac:placeholder", "ri:attachment", "ri:page", "ri:url", "ri:user",
           "ri:space", "ac:emoji", "col", "ac:adf-attribute"}
_VERBATIM_MACROS = {"code", "noformat"}
_SPACE = re.compile(r"\r\n|[\t\r\n\f\xa0]")
_META = re.compile(r"^\s*(Incident|Severity|Status|Date)\s*:\s*(.*)$", re.IGNORECASE | re.DOTALL)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})\b")
_STATUS_COLOURS = {"draft": "Grey", "in review": "Yellow", "final": "Green"}


def user_refs(storage: Storage) -> set[UserRef]:
    """Every user mentioned in the body, for one batched name lookup."""
    refs: set[UserRef] = set()
    for node in storage.root.iter():
        if node.tag == "ri:user":
            for kind in ("account-id", "userkey", "username"):
                value = node.attrs.get(f"ri:{kind}")
                if value:
                    refs.add((kind, value))
                    break
    return refs


# ---- reading: text, links, people, dates and ticket keys --------------------------------------


@dataclass
class _Found:
    """What the text of one paragraph or cell carries besides its words."""

    links: list[str] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    dates: list[date] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Heading:
    level: int
    text: str


@dataclass(frozen=True)
class _Para:
    text: str


@dataclass(frozen=True)
class _TableItem:
    node: Node


_Item = _Heading | _Para | _TableItem


class _Reader:
    def __init__(self, people: Mapping[UserRef, Person], *, show_urls: bool) -> None:
        self.people = people
        self.show_urls = show_urls

    def person(self, node: Node) -> Person | None:
        for kind in ("account-id", "userkey", "username"):
            value = node.attrs.get(f"ri:{kind}")
            if value:
                return self.people.get((kind, value), Person(value, account_id=value))
        return None

    # inline content -> one string ("\n" only from <br/> and verbatim blocks)
    def inline(self, children: Iterable[Node | str], found: _Found, *, pre: bool = False) -> str:
        parts: list[str] = []
        for child in children:
            if isinstance(child, str):
                # Source line breaks are spaces to a reader; runs of spaces are kept, so text round-trips.
                parts.append(child if pre else _SPACE.sub(" ", child))
            else:
                parts.append(self.inline_element(child, found, pre=pre))
        return "".join(parts)

    def inline_element(self, node: Node, found: _Found, *, pre: bool = False) -> str:
        tag = node.tag
        if tag == "br":
            return "\n"
        if tag in _HIDDEN:
            return ""
        if tag == "ac:adf-extension":
            return self.cell_text(_adf_content(node), found)
        if tag == "a":
            label = self.inline(node.children, found, pre=pre).strip()
            href = node.attrs.get("href", "")
            if href:
                found.links.append(href)
            if self.show_urls and href and href != label:
                return f"{label} ({href})" if label else href
            return label or href
        if tag == "time":
            value = node.attrs.get("datetime", "").strip()
            parsed = _parse_date(value)
            if parsed is not None:
                found.dates.append(parsed)
            return value or self.inline(node.children, found, pre=pre)
        if tag == "ac:link":
            return self.link(node, found)
        if tag == "ac:structured-macro":
            return self.macro_inline(node, found)
        if tag == "ac:emoticon":
            return node.attrs.get("ac:emoji-fallback", "")
        if tag in _HEADINGS or tag in _BLOCKS or tag in ("li", "table", "tr", "td", "th") or tag in _CONTAINERS:
            text = self.cell_text(node, found)  # a block inside inline context (e.g. <p> in a cell)
            return f"\n{text}\n"
        return self.inline(node.children, found, pre=pre or tag == "pre")

    def link(self, node: Node, found: _Found) -> str:
        body = node.find("ac:link-body") or node.find("ac:plain-text-link-body")
        label = self.inline(body.children, found).strip() if body is not None else ""
        user = node.find("ri:user")
        if user is not None:
            person = self.person(user)
            if person is not None:
                found.people.append(person)
                return label or person.name
        url = node.find("ri:url")
        if url is not None and url.attrs.get("ri:value"):
            href = url.attrs["ri:value"]
            found.links.append(href)
            return f"{label} ({href})" if self.show_urls and label and label != href else (label or href)
        page = node.find("ri:page")
        if page is not None:
            return label or page.attrs.get("ri:content-title", "")
        attachment = node.find("ri:attachment")
        if attachment is not None:
            return label or attachment.attrs.get("ri:filename", "")
        return label

    def macro_inline(self, node: Node, found: _Found) -> str:
        name = node.attrs.get("ac:name", "")
        if name == "status":
            return node.param("title") or ""
        if name == "jira":
            key = (node.param("key") or "").strip()
            if key:
                found.keys.append(key)
            return key
        if name in _VERBATIM_MACROS:
            body = node.find("ac:plain-text-body")
            return body.raw_text() if body is not None else ""
        body = node.find("ac:rich-text-body")
        if body is not None:
            return self.cell_text(body, found)
        return ""

    # block flow -> headings, paragraphs and tables in document order
    def flow(self, children: Iterable[Node | str], found: _Found) -> list[_Item]:
        items: list[_Item] = []
        pending: list[Node | str] = []

        def flush() -> None:
            if pending:
                text = self.inline(pending, found).strip()
                if text:
                    items.append(_Para(text))
                pending.clear()

        for child in children:
            if isinstance(child, str):
                pending.append(child)
                continue
            tag = child.tag
            if tag in _HEADINGS:
                flush()
                items.append(_Heading(_HEADINGS[tag], _lines(self.inline(child.children, found))))
            elif tag == "table":
                flush()
                items.append(_TableItem(child))
            elif tag in _BLOCKS:
                flush()
                text = self.inline(child.children, found, pre=tag == "pre")
                if text.strip():
                    items.append(_Para(_lines(text) if tag != "pre" else text.strip("\n")))
            elif tag == "li":
                flush()
                nested = [c for c in child.children if isinstance(c, Node) and c.tag in ("ul", "ol")]
                own = [c for c in child.children if not (isinstance(c, Node) and c.tag in ("ul", "ol"))]
                items.extend(self.flow(own, found) if _has_blocks(own) else _para(self.inline(own, found)))
                for sub in nested:
                    items.extend(self.flow(sub.children, found))
            elif tag == "ac:task":
                flush()
                body = child.find("ac:task-body")
                if body is not None:
                    items.extend(_para(self.inline(body.children, found)))
            elif tag in _CONTAINERS:
                flush()
                items.extend(self.flow(child.children, found))
            elif tag == "ac:adf-extension":
                flush()
                items.extend(self.flow(_adf_content(child).children, found))
            elif tag == "ac:structured-macro":
                name = child.attrs.get("ac:name", "")
                body = child.find("ac:rich-text-body")
                if name in _VERBATIM_MACROS or (body is None and name not in ("status", "jira", "anchor")):
                    flush()
                    text = self.macro_inline(child, found)
                    if text.strip():
                        items.append(_Para(text.strip("\n")))
                elif body is not None and name not in ("status", "jira"):
                    flush()
                    items.extend(self.flow(body.children, found))
                else:
                    pending.append(child)
            elif tag in _HIDDEN:
                continue
            else:
                pending.append(child)
        flush()
        return items

    def cell_text(self, node: Node, found: _Found) -> str:
        parts: list[str] = []
        for item in self.flow(node.children, found):
            if isinstance(item, _TableItem):
                for row in item.node.iter():
                    if row.tag == "tr":
                        cells = [self.cell_text(c, found) for c in row.elements() if c.tag in ("td", "th")]
                        parts.append(" | ".join(cells))
            else:
                parts.append(item.text)
        return "\n".join(p for p in parts if p)


def _adf_content(extension: Node) -> Node:
    """What a Cloud-editor-only node (decision list, custom panel) holds: its ADF content, else the fallback
    Confluence keeps for older readers; never both, so nothing is read twice."""
    node = extension.find("ac:adf-node")
    content = node.find("ac:adf-content") if node is not None else None
    fallback = extension.find("ac:adf-fallback")
    return content or fallback or Node("div", {}, extension.start)


def _has_blocks(children: Sequence[Node | str]) -> bool:
    return any(isinstance(c, Node) and (c.tag in _BLOCKS or c.tag in _HEADINGS or c.tag == "table"
                                        or c.tag in _CONTAINERS) for c in children)


def _para(text: str) -> list[_Item]:
    text = _lines(text)
    return [_Para(text)] if text else []


def _lines(text: str) -> str:
    """Each line stripped, blank lines at both ends dropped."""
    lines = [line.strip() for line in text.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def _parse_date(value: str) -> date | None:
    m = _DATE.match(value.strip())
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


# ---- tables ------------------------------------------------------------------------------------


def _top_tables(root: Node) -> list[Node]:
    """Tables in document order, not counting tables nested inside another table's cells."""
    return [n for n in root.iter() if n.tag == "table" and not any(a.tag == "table" for a in n.ancestors())]


def _rows(table: Node) -> list[Node]:
    """The table's own rows (not rows of tables nested in its cells)."""
    rows: list[Node] = []
    for child in table.elements():
        if child.tag == "tr":
            rows.append(child)
        elif child.tag in ("thead", "tbody", "tfoot"):
            rows.extend(c for c in child.elements() if c.tag == "tr")
    return rows


def _span(node: Node, name: str) -> int:
    try:
        return max(1, min(int(node.attrs.get(name, "1")), 1000))
    except ValueError:
        return 1


def _grid(table: Node) -> list[list[Node | None]]:
    """One list per row of the cell element covering each column; merged cells repeat (colspan, rowspan)."""
    grid: list[list[Node | None]] = []
    carried: dict[tuple[int, int], Node] = {}
    for r, row in enumerate(_rows(table)):
        line: list[Node | None] = []
        column = 0
        for cell in (c for c in row.elements() if c.tag in ("td", "th")):
            while (r, column) in carried:
                line.append(carried.pop((r, column)))
                column += 1
            for _ in range(_span(cell, "colspan")):
                line.append(cell)
                for below in range(1, _span(cell, "rowspan")):
                    carried[(r + below, column)] = cell
                column += 1
        while (r, column) in carried:
            line.append(carried.pop((r, column)))
            column += 1
        grid.append(line)
    return grid


@dataclass(frozen=True)
class _TableView:
    node: Node
    heading: str | None
    grid: list[list[Node | None]]

    @property
    def columns(self) -> int:
        return len(self.grid[0]) if self.grid else 0


def _table_views(storage: Storage, reader: _Reader) -> list[_TableView]:
    """The tables a reader sees, in document order, each with the nearest heading above it."""
    tables = {id(t) for t in _top_tables(storage.root)}
    views: list[_TableView] = []
    last: str | None = None
    for item in reader.flow(storage.root.children, _Found()):
        if isinstance(item, _Heading):
            last = item.text
        elif isinstance(item, _TableItem) and id(item.node) in tables:
            views.append(_TableView(item.node, last, _grid(item.node)))
    return views


def _cell(reader: _Reader, node: Node | None) -> Cell:
    if node is None:
        return Cell("")
    found = _Found()
    text = _lines(reader.cell_text(node, found))
    return Cell(
        text=text,
        people=tuple(found.people),
        links=tuple(dict.fromkeys(found.links)),
        date=found.dates[0] if found.dates else None,
        ticket_keys=tuple(dict.fromkeys(found.keys)),
    )


def _table(reader: _Reader, index: int, view: _TableView) -> Table:
    if not view.grid:
        return Table(index, view.heading, (), ())
    header = tuple(_cell(reader, node).text for node in view.grid[0])
    rows = []
    for line in view.grid[1:]:
        cells = [_cell(reader, node) for node in line[: len(header)]]
        cells += [Cell("")] * (len(header) - len(cells))
        rows.append(tuple(cells))
    return Table(index, view.heading, header, tuple(rows))


# ---- the document ------------------------------------------------------------------------------


def to_document(
    storage: Storage,
    ref: DocRef,
    *,
    title: str,
    people: Mapping[UserRef, Person],
    incident_id: str | None = None,
) -> Document:
    """The Document a reader sees in this body; `incident_id` from the page's property wins over its text."""
    prose = _Reader(people, show_urls=True)
    items = prose.flow(storage.root.children, _Found())
    sections: list[Section] = []
    current: tuple[_Heading, list[str]] | None = None
    metadata: dict[str, str] = {}
    seen_section = False
    for item in items:
        if isinstance(item, _Heading):
            if current is not None:
                sections.append(_section(*current))
            current = (item, [])
            seen_section = seen_section or item.level > 1
        elif isinstance(item, _Para):
            if current is not None:
                current[1].append(item.text)
            if not seen_section:
                m = _META.match(item.text)
                if m and m.group(1).lower() not in metadata:
                    metadata[m.group(1).lower()] = m.group(2).strip()
    if current is not None:
        sections.append(_section(*current))
    cells = _Reader(people, show_urls=False)
    tables = tuple(_table(cells, i, view) for i, view in enumerate(_table_views(storage, cells)))
    severity = metadata.get("severity", "")
    return Document(
        ref=ref,
        title=_title(title, incident_id or metadata.get("incident")),
        status=metadata.get("status") or None,
        sections=tuple(sections),
        tables=tables,
        incident_id=incident_id or metadata.get("incident") or None,
        incident_date=_parse_date(metadata.get("date", "")),
        severity=severity if severity and severity.lower() != "unknown" else None,
    )


def _section(heading: _Heading, texts: list[str]) -> Section:
    return Section(heading=heading.text, level=heading.level, text="\n\n".join(texts))


def page_title(incident_id: str, title: str) -> str:
    """The page title: unique per incident in a space (Confluence refuses a second page with one title)."""
    full = f"{incident_id}: {title}" if title and title != incident_id else incident_id
    return full if len(full) <= 255 else full[:254] + "…"


def _title(page: str, incident_id: str | None) -> str:
    if incident_id and page.startswith(f"{incident_id}: "):
        return page[len(incident_id) + 2 :]
    return page


HEADING_TAGS = frozenset(_HEADINGS)


def text_of(node: Node) -> str:
    """The text one element shows (a heading, a paragraph), on one line per <br/>."""
    return _lines(_Reader({}, show_urls=False).inline(node.children, _Found()))


def shown(nodes: Sequence[Node | str]) -> list[object]:
    """What these nodes show a reader, for a digest: headings, paragraph texts, table cell texts, and the links."""
    reader = _Reader({}, show_urls=True)
    found = _Found()
    tokens: list[object] = []
    for item in reader.flow(nodes, found):
        if isinstance(item, _TableItem):
            tokens.append([[_cell(reader, c).text for c in line] for line in _grid(item.node)])
        elif isinstance(item, _Heading):
            tokens.append(["h", item.level, item.text])
        else:
            tokens.append(item.text)
    tokens.append(sorted(found.links))
    return tokens


def visible_text(storage: Storage) -> str:
    """The page's text as a reader sees it, paragraphs and cells on their own lines (for quoting)."""
    return _Reader({}, show_urls=False).cell_text(storage.root, _Found())


def plain_text(body: str) -> str:
    """The text of a comment body."""
    return _lines(visible_text(parse(body, where="the comment body")))


# ---- edits -------------------------------------------------------------------------------------


def _view_for(storage: Storage, index: int) -> _TableView:
    views = _table_views(storage, _Reader({}, show_urls=False))
    if not 0 <= index < len(views):
        raise DocumentError(
            f"the page has no table {index} (it has {len(views)})",
            hint="read the page again; its tables may have been removed",
        )
    return views[index]


def _cell_content(storage: Storage, cell: Node, markup: str) -> tuple[int, int, str]:
    """Replace a cell's content, keeping an inline-comment marker around it and the editor's <p> wrapper."""
    inner = markup
    marker = next((n for n in cell.iter() if n.tag == "ac:inline-comment-marker"), None)
    if marker is not None and inner:
        inner = storage.slice(marker.start, marker.content_start) + inner + "</ac:inline-comment-marker>"
    if any(c.tag == "p" for c in cell.elements()):
        inner = f"<p>{inner}</p>"
    return cell.content_start, cell.content_end, inner


def set_cells(body: str, updates: Sequence[CellUpdate], render: Callable[[CellUpdate], str]) -> str:
    """Rewrite exactly the cells in `updates` (`render` gives each one's markup); every other byte is kept."""
    storage = parse(body)
    edits: dict[int, tuple[int, int, str]] = {}
    for update in updates:
        view = _view_for(storage, update.table)
        data_rows = view.grid[1:]
        if not 0 <= update.row < len(data_rows) or not 0 <= update.column < view.columns:
            raise DocumentError(
                f"table {update.table} ({view.heading or 'no heading'}) has no cell at row {update.row}, "
                f"column {update.column}",
                hint="read the page again; rows may have been removed",
            )
        line = data_rows[update.row]
        cell = line[update.column] if update.column < len(line) else None
        if cell is None:
            raise DocumentError(f"table {update.table} row {update.row} has no cell in column {update.column}",
                                hint="add the missing cell to that row")
        edits[cell.start] = _cell_content(storage, cell, render(update))
    return splice(storage.data, list(edits.values()))


def cell_markup(text: str, link: str | None = None) -> str:
    """Our own text for a cell: a link when `link` is http(s), else escaped text with the URL beside it."""
    if link and web_url(link):
        return link_storage(link, text)
    if link:
        return cell_storage(f"{text} ({link})" if text else link)
    return cell_storage(text)


def status_macro(status: str) -> str:
    colour = _STATUS_COLOURS.get(status.strip().lower(), "Grey")
    return (
        '<ac:structured-macro ac:name="status">'
        f'<ac:parameter ac:name="colour">{colour}</ac:parameter>'
        f'<ac:parameter ac:name="title">{escape_storage(status)}</ac:parameter>'
        "</ac:structured-macro>"
    )


def set_status(body: str, status: str) -> str:
    """The body with its metadata Status line showing `status` (as a status macro)."""
    storage = parse(body)
    reader = _Reader({}, show_urls=False)
    for node in storage.root.iter():
        if node.tag in _HEADINGS and _HEADINGS[node.tag] > 1:
            break
        if node.tag not in ("li", "p"):
            continue
        if not re.match(r"^\s*Status\s*:", reader.inline(node.children, _Found())):
            continue
        macro = next((n for n in node.iter() if n.tag == "ac:structured-macro"
                      and n.attrs.get("ac:name") == "status"), None)
        if macro is not None:
            return splice(storage.data, [(macro.start, macro.end, status_macro(status))])
        label = next((c for c in node.elements() if "Status" in c.raw_text()), None)
        start = label.end if label is not None else node.content_start
        prefix = "" if label is not None else "<strong>Status:</strong>"
        return splice(storage.data, [(start, node.content_end, f"{prefix} {status_macro(status)}")])
    raise DocumentError(
        "the page has no Status line in its metadata",
        hint="add a line 'Status: Draft' (with a status lozenge) above the first section",
    )


def fill_table_rows(body: str, table_index: int, rows: Sequence[Sequence[str]]) -> str:
    """Replace the data rows of a table with `rows` of ready cell markup."""
    storage = parse(body)
    view = _view_for(storage, table_index)
    own = _rows(view.node)
    if not own:
        raise DocumentError(f"table {table_index} has no header row", hint="put the header row back")
    columns = view.columns
    new = "".join(
        "<tr>" + "".join(f"<td>{value}</td>" for value in [*row[:columns], *[""] * (columns - len(row))]) + "</tr>"
        for row in rows
    )
    start = own[1].start if len(own) > 1 else own[0].end
    end = own[-1].end if len(own) > 1 else own[0].end
    return splice(storage.data, [(start, end, new)])
