"""Reading a GFM postmortem back into the Document model, and rewriting its cells in place.

A line-based reader, enough for what people do to a postmortem: ATX headings, fenced code (ignored
for structure), pipe tables, inline links, code spans, escapes and `<br>`. Setext headings and
tables without pipes in their delimiter row are not recognised. Writes touch only the cells (or
the line) asked for; every other byte stays as it was.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from ops_postmortem.errors import DocumentError
from ops_postmortem.model import Cell, CellUpdate, DocRef, Document, Section, Table
from ops_postmortem.render import markup_cell, markup_link

_FMT = "markdown"
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_DELIMITER_CELL = re.compile(r"^:?-+:?$")
_INCIDENT = re.compile(r'<!-- ops-postmortem incident="(.*?)" -->')
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})\b")
# Lines that start another block end a table (as in markdown-it and cmark-gfm).
_BLOCK_START = re.compile(r"^ {0,3}(?:#{1,6}(?:\s|$)|>|<|`{3,}|~{3,}|[-*+](?:\s|$)|\d{1,9}[.)](?:\s|$))")
_INLINE = re.compile(
    r"""
      (?P<code>(?P<ticks>`++)(?P<body>.*?[^`])(?P=ticks)(?!`))
    | (?P<link>!?\[(?P<label>(?:\\.|`[^`]*`|[^\[\]\\])*)\]
        \((?P<dest><[^<>\n]*>|[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\))
    | <(?P<auto>[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*|[\w.!\#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)*)>
    | (?P<br><br\s*/?>)
    | \\(?P<escaped>[!-/:-@\[-`{-~])
    | (?P<entity>&(?:\#\d{1,7}|\#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});)
    | (?P<emph>\*+|_+|~+)
    """,
    re.VERBOSE,
)
_BARE_URL = re.compile(r"https?://[^\s<>]+", re.IGNORECASE)
_URL_TRAILING = re.compile(r"[.,:;!?'\")\]]+$")


def _meta_line(label: str) -> re.Pattern[str]:
    """A metadata line such as '- **Status:** Draft' or '**Status: Draft**'; groups lead, value, trail."""
    return re.compile(
        rf"^(?P<lead>[ \t]*(?:[-*+][ \t]+)?(?:\*\*|__)?{label}(?:\*\*|__)?[ \t]*:[ \t]*(?:\*\*|__)?[ \t]*)"
        r"(?P<value>.*?)(?P<trail>(?:\*\*|__)?[ \t]*)$",
        re.IGNORECASE,
    )


_STATUS = _meta_line("Status")
_DATE_LINE = _meta_line("Date")
_SEVERITY = _meta_line("Severity")


# ---- inline Markdown to plain text -------------------------------------------------------------


def plain_inline(text: str, *, show_urls: bool = False) -> tuple[str, tuple[str, ...]]:
    """Plain text of one line of inline Markdown, and the URLs it links to.

    With `show_urls`, a link reads "label (url)": section prose keeps its evidence visible to lint.
    """
    parts: list[str] = []
    links: list[str] = []
    pos = 0
    for m in _INLINE.finditer(text):
        parts.append(text[pos : m.start()])
        pos = m.end()
        if m.group("code") is not None:
            parts.append(_code_body(m.group("body")))
        elif m.group("link") is not None:
            label, inner = plain_inline(m.group("label"))
            url = _unescape_url(m.group("dest"))
            parts.append(f"{label} ({url})" if show_urls and url != label else label)
            links.extend(inner)
            links.append(url)
        elif m.group("auto") is not None:
            parts.append(m.group("auto"))
            links.append(m.group("auto"))
        elif m.group("br") is not None:
            parts.append("\n")
        elif m.group("escaped") is not None:
            parts.append(m.group("escaped"))
        elif m.group("entity") is not None:
            parts.append(html.unescape(m.group("entity")))
        elif m.group("emph") is not None and _literal_emphasis(text, m.start(), m.end()):
            parts.append(m.group())
    parts.append(text[pos:])
    plain = "".join(parts)
    # Bare URLs are linked by GFM renderers; untrusted ones were put in code spans when rendered.
    for segment in _text_outside_code(text):
        links.extend(_URL_TRAILING.sub("", u.group()) for u in _BARE_URL.finditer(segment))
    return plain, tuple(dict.fromkeys(links))


def _code_body(body: str) -> str:
    if len(body) >= 2 and body.startswith(" ") and body.endswith(" ") and body.strip():
        return body[1:-1]
    return body


def _unescape_url(dest: str) -> str:
    if dest.startswith("<") and dest.endswith(">"):
        dest = dest[1:-1]
    return html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", dest))


def _literal_emphasis(text: str, start: int, end: int) -> bool:
    """True when a run of * _ ~ cannot open or close emphasis, so it is text."""
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    if before.isspace() and after.isspace():
        return True
    return text[start] == "_" and before.isalnum() and after.isalnum()


def _text_outside_code(text: str) -> Iterator[str]:
    pos = 0
    for m in _INLINE.finditer(text):
        if m.group("code") is not None or m.group("link") is not None or m.group("auto") is not None:
            yield text[pos : m.start()]
            pos = m.end()
    yield text[pos:]


# ---- block structure ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Heading:
    line: int
    level: int
    text: str


@dataclass(frozen=True)
class _TableSpan:
    header_line: int
    delimiter_line: int
    row_lines: tuple[int, ...]  # every row line, blank ones included
    heading: str | None


@dataclass(frozen=True)
class _Structure:
    lines: list[str]  # without line endings
    endings: list[str]
    headings: list[_Heading]
    tables: list[_TableSpan]
    prose: dict[int, str]  # line number -> plain text of section bodies (not tables, comments or fences)
    code_lines: frozenset[int]  # the prose lines inside fenced code, kept verbatim


def _split_lines(text: str) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    endings: list[str] = []
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n")
        lines.append(body)
        endings.append(raw[len(body) :])
    return lines, endings


def _cell_spans(line: str) -> tuple[int, int, list[tuple[int, int]]]:
    """(start, end, cell spans) of a table row: where its cells lie between unescaped pipes."""
    start = len(line) - len(line.lstrip())
    end = len(line.rstrip())
    if start < end and line[start] == "|":
        start += 1
    if end > start and line[end - 1] == "|" and line[end - 2 : end - 1] != "\\":
        end -= 1
    spans: list[tuple[int, int]] = []
    cell_start = start
    for i in range(start, end):
        if line[i] == "|" and (i == 0 or line[i - 1] != "\\"):
            spans.append((cell_start, i))
            cell_start = i + 1
    spans.append((cell_start, end))
    return start, end, spans


def _is_delimiter(line: str, columns: int) -> bool:
    if "|" not in line:
        return False
    _, _, spans = _cell_spans(line)
    return len(spans) == columns and all(_DELIMITER_CELL.match(line[s:e].strip()) for s, e in spans)


def _structure(text: str) -> _Structure:
    lines, endings = _split_lines(text)
    headings: list[_Heading] = []
    tables: list[_TableSpan] = []
    prose: dict[int, str] = {}
    code_lines: set[int] = set()
    fence: str | None = None
    in_comment = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
            else:
                prose[i] = line
                code_lines.add(i)
            i += 1
            continue
        if in_comment or line.lstrip().startswith("<!--"):
            in_comment = "-->" not in line
            i += 1
            continue
        opening = _FENCE.match(line)
        if opening:
            fence = opening.group(1)
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            headings.append(
                _Heading(i, len(heading.group(1)), plain_inline(heading.group(2) or "")[0].strip())
            )
            i += 1
            continue
        if "|" in line and i + 1 < len(lines) and _is_delimiter(lines[i + 1], len(_cell_spans(line)[2])):
            rows = []
            j = i + 2
            while j < len(lines) and lines[j].strip() and not _BLOCK_START.match(lines[j]):
                rows.append(j)
                j += 1
            tables.append(_TableSpan(i, i + 1, tuple(rows), headings[-1].text if headings else None))
            i = j
            continue
        prose[i] = plain_inline(line, show_urls=True)[0]
        i += 1
    return _Structure(lines, endings, headings, tables, prose, frozenset(code_lines))


def _row_cells(line: str) -> list[str]:
    """The raw Markdown of each cell, pipe escapes resolved as GFM does before inline parsing."""
    _, _, spans = _cell_spans(line)
    return [line[s:e].strip().replace("\\|", "|") for s, e in spans]


def _cell(raw: str) -> Cell:
    text, links = plain_inline(raw)
    return Cell(text=text.strip(), links=links)


def _data_rows(struct: _Structure, table: _TableSpan) -> list[int]:
    """Lines of the data rows that count: blank rows are skipped, as in Table.rows."""
    return [n for n in table.row_lines if any(_row_cells(struct.lines[n]))]


def _table(struct: _Structure, index: int) -> Table:
    span = struct.tables[index]
    header = tuple(_cell(raw).text for raw in _row_cells(struct.lines[span.header_line]))
    rows = []
    for n in _data_rows(struct, span):
        raws = _row_cells(struct.lines[n])[: len(header)]  # extra cells are dropped, as GFM does
        raws += [""] * (len(header) - len(raws))
        rows.append(tuple(_cell(raw) for raw in raws))
    return Table(index=index, heading=span.heading, header=header, rows=tuple(rows))


def _sections(struct: _Structure) -> tuple[Section, ...]:
    sections = []
    bounds = [h.line for h in struct.headings] + [len(struct.lines)]
    for heading, end in zip(struct.headings, bounds[1:], strict=True):
        body = [struct.prose[n].rstrip() for n in range(heading.line + 1, end) if n in struct.prose]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(body)).strip("\n")
        sections.append(Section(heading=heading.text, level=heading.level, text=text))
    return tuple(sections)


def _metadata_match(struct: _Structure, pattern: re.Pattern[str]) -> tuple[int, re.Match[str]] | None:
    """The first metadata line matching `pattern` above the first section below the title."""
    limit = next((h.line for h in struct.headings if h.level > 1), len(struct.lines))
    for n in sorted(struct.prose.keys() - struct.code_lines):
        if n >= limit:
            break
        m = pattern.match(struct.lines[n])
        if m:
            return n, m
    return None


def parse_markdown(text: str, ref: DocRef) -> Document:
    struct = _structure(text)
    title = next((h.text for h in struct.headings if h.level == 1), "")
    title = title.removeprefix("Postmortem:").strip()
    status = _metadata_match(struct, _STATUS)
    dated = _metadata_match(struct, _DATE_LINE)
    severity = _metadata_match(struct, _SEVERITY)
    severity_text = plain_inline(severity[1].group("value"))[0].strip() if severity else ""
    marker = _INCIDENT.search(text)
    status_text = plain_inline(status[1].group("value"))[0].strip() if status else ""
    return Document(
        ref=ref,
        title=title,
        status=status_text or None,
        sections=_sections(struct),
        tables=tuple(_table(struct, i) for i in range(len(struct.tables))),
        incident_id=plain_inline(marker.group(1))[0] if marker else None,
        incident_date=_parse_date(dated[1].group("value")) if dated else None,
        severity=severity_text if severity_text and severity_text != "unknown" else None,
    )


def _parse_date(value: str) -> date | None:
    m = _DATE.match(plain_inline(value)[0].strip())
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


# ---- writes ------------------------------------------------------------------------------------


def _cell_markup(text: str, link: str | None = None) -> str:
    return markup_link(_FMT, link, text) if link else markup_cell(_FMT, text)


def _rewrite_row(line: str, values: dict[int, str]) -> str:
    """The row with the cells in `values` replaced, padded with empty cells if it is short."""
    start, end, spans = _cell_spans(line)
    raws = [line[s:e] for s, e in spans]
    prefix, suffix = line[:start], line[end:]
    if max(values) >= len(raws):
        if not raws[-1].endswith(" "):
            raws[-1] += " "
        raws += [" "] * (max(values) + 1 - len(raws))
        if not suffix.lstrip().startswith("|"):
            suffix = "|" + suffix
    for column, markup in values.items():
        raws[column] = f" {markup} " if markup else " "
    return prefix + "|".join(raws) + suffix


def set_cells(text: str, updates: Sequence[CellUpdate]) -> str:
    """Rewrite exactly the cells in `updates`; every other byte is kept."""
    struct = _structure(text)
    by_line: dict[int, dict[int, str]] = {}
    for update in updates:
        if not 0 <= update.table < len(struct.tables):
            raise DocumentError(
                f"the document has no table {update.table} (it has {len(struct.tables)})",
                hint="read the document again; its tables may have been removed",
            )
        span = struct.tables[update.table]
        rows = _data_rows(struct, span)
        columns = len(_cell_spans(struct.lines[span.header_line])[2])
        if not 0 <= update.row < len(rows) or not 0 <= update.column < columns:
            raise DocumentError(
                f"table {update.table} ({span.heading or 'no heading'}) has no cell at row {update.row}, "
                f"column {update.column}",
                hint="read the document again; rows may have been removed",
            )
        by_line.setdefault(rows[update.row], {})[update.column] = _cell_markup(update.text, update.link)
    lines = list(struct.lines)
    for n, values in by_line.items():
        lines[n] = _rewrite_row(lines[n], values)
    return _join(lines, struct.endings)


def _join(lines: Sequence[str], endings: Sequence[str]) -> str:
    return "".join(line + ending for line, ending in zip(lines, endings, strict=True))


def set_status(text: str, status: str) -> str:
    """The document with its metadata Status line set to `status`."""
    struct = _structure(text)
    found = _metadata_match(struct, _STATUS)
    if found is None:
        raise DocumentError(
            "the document has no Status line in its metadata",
            hint="add a line '- **Status:** Draft' under the title",
        )
    n, m = found
    lines = list(struct.lines)
    lines[n] = m.group("lead") + markup_cell(_FMT, status) + m.group("trail")
    return _join(lines, struct.endings)


def fill_table_rows(text: str, table_index: int, rows: Sequence[Sequence[str]]) -> str:
    """Replace the data rows of table `table_index` with `rows` (plain text, escaped here)."""
    struct = _structure(text)
    if not 0 <= table_index < len(struct.tables):
        raise DocumentError(
            f"the document has no table {table_index} (it has {len(struct.tables)})",
            hint="put the table back under its heading",
        )
    span = struct.tables[table_index]
    columns = len(_cell_spans(struct.lines[span.header_line])[2])
    newline = struct.endings[span.delimiter_line] or "\n"
    last = (span.row_lines[-1] if span.row_lines else span.delimiter_line) + 1
    tail = struct.endings[last - 1]  # the table keeps ending as it did (maybe at the end of the file)
    new_lines = []
    for row in rows:
        cells: list[str] = [markup_cell(_FMT, value) for value in list(row)[:columns]]
        cells += [""] * (columns - len(cells))
        new_lines.append("| " + " | ".join(cells) + " |")
    lines = list(struct.lines)
    endings = list(struct.endings)
    first = span.delimiter_line + 1
    lines[first:last] = new_lines
    endings[first:last] = [newline] * len(new_lines)
    endings[span.delimiter_line] = newline
    endings[first + len(new_lines) - 1] = tail
    return _join(lines, endings)
