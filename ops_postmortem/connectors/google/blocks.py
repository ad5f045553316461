"""Our rendered HTML as a few block types, and the Docs batchUpdate requests that insert them.

The HTML template is the one source of the doc's wording. A new doc is that HTML converted by Drive; a refresh
or a team template doc gets the same blocks inserted with `insertText` and `insertTable`, computed client-side
in UTF-16 indices so the whole change is one atomic batchUpdate.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from ops_postmortem.connectors.google.document import utf16_len
from ops_postmortem.errors import ConfigError

Request = dict[str, Any]
HEADINGS = {f"h{n}": f"HEADING_{n}" for n in range(1, 7)}
_BLOCK_TAGS = {"p", "li", "div", "blockquote", "pre", *HEADINGS}
_MARKER = "ops-postmortem:generated:"
_LINE_BREAK = "\u000b"  # what Docs makes of <br>: a line break inside a paragraph
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
# What inserted text is reset to: it would otherwise take the style of the text it was inserted next to.
PLAIN_FIELDS = "bold,italic,underline,link"


@dataclass(frozen=True)
class Run:
    text: str
    bold: bool = False
    italic: bool = False
    link: str | None = None


@dataclass(frozen=True)
class Para:
    runs: tuple[Run, ...]
    style: str = "NORMAL_TEXT"

    @property
    def text(self) -> str:
        return "".join(r.text for r in self.runs)


@dataclass(frozen=True)
class Grid:
    rows: tuple[tuple[tuple[Run, ...], ...], ...]


Block = Para | Grid


@dataclass(frozen=True)
class Region:
    """A generated section: everything between its heading and the next heading."""

    name: str
    heading: str
    blocks: tuple[Block, ...]


def block_text(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Para):
            out.append(block.text)
        else:
            out.extend(r.text for row in block.rows for cell in row for r in cell)
    return "".join(out)


def digest(text: str) -> str:
    """What a refresh compares: whitespace never counts (Docs and HTML break lines differently)."""
    return hashlib.sha256("".join(text.split()).encode("utf-8")).hexdigest()[:16]


# ---- HTML to blocks ----------------------------------------------------------------------------------


@dataclass
class _Open:
    runs: list[Run] = field(default_factory=list)
    style: str = "NORMAL_TEXT"


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.markers: list[tuple[str, str, int]] = []  # (start|end, name, block position)
        self.para: _Open | None = None
        self.rows: list[list[tuple[Run, ...]]] | None = None
        self.cell: list[Run] | None = None
        self.bold = 0
        self.italic = 0
        self.link: list[str | None] = []
        self.skip = 0  # inside <head>, <script>, <style>

    # text and inline style
    def _add(self, text: str) -> None:
        target = self.cell if self.cell is not None else self._paragraph().runs
        run = Run(text, self.bold > 0, self.italic > 0, next((u for u in reversed(self.link) if u), None))
        if target and (target[-1].bold, target[-1].italic, target[-1].link) == (run.bold, run.italic, run.link):
            target[-1] = Run(target[-1].text + text, run.bold, run.italic, run.link)
        else:
            target.append(run)

    def _paragraph(self) -> _Open:
        if self.para is None:
            self.para = _Open()
        return self.para

    def _close_paragraph(self) -> None:
        if self.para is not None:
            self.blocks.append(Para(tuple(_trim(self.para.runs)), self.para.style))
            self.para = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("head", "script", "style", "title"):
            self.skip += 1
        elif tag in ("strong", "b"):
            self.bold += 1
        elif tag in ("em", "i"):
            self.italic += 1
        elif tag == "a":
            self.link.append(dict(attrs).get("href"))
        elif tag == "br":
            self._add(_LINE_BREAK)
        elif tag == "table":
            self._close_paragraph()
            self.rows = []
        elif tag == "tr" and self.rows is not None:
            self.rows.append([])
        elif tag in ("td", "th") and self.rows is not None:
            self.cell = []
        elif tag in _BLOCK_TAGS and self.cell is None:
            self._close_paragraph()
            self.para = _Open(style=HEADINGS.get(tag, "NORMAL_TEXT"))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("head", "script", "style", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag in ("strong", "b"):
            self.bold = max(0, self.bold - 1)
        elif tag in ("em", "i"):
            self.italic = max(0, self.italic - 1)
        elif tag == "a" and self.link:
            self.link.pop()
        elif tag in ("td", "th") and self.rows is not None and self.cell is not None:
            if not self.rows:
                self.rows.append([])
            self.rows[-1].append(tuple(_trim(self.cell)))
            self.cell = None
        elif tag == "table" and self.rows is not None:
            width = max((len(r) for r in self.rows), default=0)
            rows = [r + [()] * (width - len(r)) for r in self.rows if r]
            if rows:
                self.blocks.append(Grid(tuple(tuple(r) for r in rows)))
            self.rows = None
        elif tag in _BLOCK_TAGS and self.cell is None:
            self._close_paragraph()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        # HTML collapses its own whitespace only, never a no-break space.
        text = _HTML_SPACE.sub(" ", data)
        if not text.strip(" ") and self.para is None and self.cell is None:
            return  # whitespace between blocks
        if text:
            self._add(text)

    def handle_comment(self, data: str) -> None:
        body = data.strip()
        if body.startswith(_MARKER):
            self._close_paragraph()
            kind, _, rest = body[len(_MARKER):].partition(" ")
            self.markers.append((kind, rest.split()[0] if rest.split() else "", len(self.blocks)))


def _trim(runs: list[Run]) -> list[Run]:
    """Runs without the spaces HTML ignores at the ends of a block or around a line break."""
    out = [Run(r.text.replace(f" {_LINE_BREAK}", _LINE_BREAK).replace(f"{_LINE_BREAK} ", _LINE_BREAK),
               r.bold, r.italic, r.link) for r in runs]
    while out and not out[0].text.lstrip(" "):
        out.pop(0)
    while out and not out[-1].text.rstrip(" "):
        out.pop()
    if out:
        out[0] = Run(out[0].text.lstrip(" "), out[0].bold, out[0].italic, out[0].link)
        out[-1] = Run(out[-1].text.rstrip(" "), out[-1].bold, out[-1].italic, out[-1].link)
    merged: list[Run] = []
    for run in out:
        if merged and merged[-1].text.endswith(" ") and run.text.startswith(" "):
            run = Run(run.text[1:], run.bold, run.italic, run.link)
        if run.text:
            merged.append(run)
    return merged


def parse_html(html: str) -> tuple[list[Block], dict[str, Region]]:
    """The blocks of our rendered HTML and its generated regions, each bounded by headings."""
    parser = _Parser()
    parser.feed(html)
    parser.close()
    parser._close_paragraph()
    blocks = parser.blocks
    headings = [i for i, b in enumerate(blocks) if isinstance(b, Para) and b.style != "NORMAL_TEXT"]
    regions: dict[str, Region] = {}
    ends = {name: pos for kind, name, pos in parser.markers if kind == "end"}
    for kind, name, pos in parser.markers:
        if kind != "start":
            continue
        before = [h for h in headings if h < pos]
        after = [h for h in headings if h >= pos]
        end = after[0] if after else len(blocks)
        if not before or ends.get(name, -1) > end or name not in ends:
            raise ConfigError(
                f"the HTML template's generated section '{name}' must sit right under its own heading, "
                "with no heading inside it",
                hint="keep <h2>...</h2> then the generated:start marker, the content, and the end marker",
            )
        heading = blocks[before[-1]]
        assert isinstance(heading, Para)
        regions[name] = Region(name, heading.text.strip(), tuple(blocks[before[-1] + 1 : end]))
    return blocks, regions


def section_blocks(blocks: Sequence[Block], heading: str) -> tuple[Block, ...]:
    """The blocks under the heading with this text, up to the next heading."""
    out: list[Block] = []
    inside = False
    for block in blocks:
        if isinstance(block, Para) and block.style != "NORMAL_TEXT":
            if inside:
                break
            inside = block.text.strip() == heading
            continue
        if inside:
            out.append(block)
    return tuple(out)


# ---- blocks to batchUpdate requests ------------------------------------------------------------------


def _text(runs: Sequence[Run]) -> str:
    # A soft line break becomes a paragraph break: both read back as a new line.
    return "".join(r.text for r in runs).replace(_LINE_BREAK, "\n")


def blocks_length(blocks: Sequence[Block]) -> int:
    total = 0
    for block in blocks:
        if isinstance(block, Para):
            total += utf16_len(_text(block.runs)) + 1
        else:
            total += 2 + sum(1 + sum(2 + utf16_len(_text(cell)) for cell in row) for row in block.rows)
    return total


def _location(index: int, tab_id: str | None) -> dict[str, Any]:
    return {"index": index, "tabId": tab_id} if tab_id else {"index": index}


def _range(start: int, end: int, tab_id: str | None) -> dict[str, Any]:
    rng: dict[str, Any] = {"startIndex": start, "endIndex": end}
    if tab_id:
        rng["tabId"] = tab_id
    return rng


def insert_blocks(blocks: Sequence[Block], index: int, tab_id: str | None) -> list[Request]:
    """Requests inserting `blocks` at `index`, the start of a paragraph; they end up in order there.

    Content goes in last block first, each at `index`; styles are then set on the final positions, so plain
    text never inherits the style (a heading, a link) of the paragraph it was inserted into.
    """
    inserts: list[Request] = []
    for block in reversed(blocks):
        if isinstance(block, Para):
            inserts.append({"insertText": {"location": _location(index, tab_id), "text": _text(block.runs) + "\n"}})
            continue
        rows, columns = len(block.rows), len(block.rows[0])
        inserts.append({"insertTable": {"rows": rows, "columns": columns, "location": _location(index, tab_id)}})
        table = index + 1  # insertTable puts a paragraph break first
        for r in reversed(range(rows)):
            for c in reversed(range(columns)):
                text = _text(block.rows[r][c])
                if text:
                    at = table + 3 + r * (2 * columns + 1) + 2 * c
                    inserts.append({"insertText": {"location": _location(at, tab_id), "text": text}})
    end = index + blocks_length(blocks)
    if end == index:
        return []
    styles: list[Request] = [
        {"updateParagraphStyle": {"range": _range(index, end, tab_id),
                                  "paragraphStyle": {"namedStyleType": "NORMAL_TEXT"}, "fields": "namedStyleType"}},
        {"updateTextStyle": {"range": _range(index, end, tab_id), "textStyle": {},
                             "fields": PLAIN_FIELDS}},
    ]
    pos = index
    for block in blocks:
        if isinstance(block, Para):
            if block.style != "NORMAL_TEXT":
                styles.append({"updateParagraphStyle": {
                    "range": _range(pos, pos + utf16_len(_text(block.runs)) + 1, tab_id),
                    "paragraphStyle": {"namedStyleType": block.style}, "fields": "namedStyleType"}})
            pos = _run_styles(block.runs, pos, tab_id, styles) + 1
            continue
        pos += 2  # the paragraph break before the table, and the table's own start
        for row in block.rows:
            pos += 1
            for cell in row:
                pos = _run_styles(cell, pos + 1, tab_id, styles) + 1
    return inserts + styles


def _run_styles(runs: Sequence[Run], pos: int, tab_id: str | None, out: list[Request]) -> int:
    """Style requests for the runs starting at `pos`; returns the position after them."""
    for run in runs:
        length = utf16_len(run.text.replace(_LINE_BREAK, "\n"))
        style: dict[str, Any] = {}
        if run.bold:
            style["bold"] = True
        if run.italic:
            style["italic"] = True
        if run.link:
            style["link"] = {"url": run.link}
            style["underline"] = True  # the API sets no link look of its own
        if style and length:
            out.append({"updateTextStyle": {"range": _range(pos, pos + length, tab_id), "textStyle": style,
                                            "fields": ",".join(style)}})
        pos += length
    return pos


def replace_cell(start: int, end: int, runs: Sequence[Run], tab_id: str | None) -> list[Request]:
    """Requests replacing a cell's content [start, end) (end past its final newline) with `runs`."""
    requests: list[Request] = []
    if end - 1 > start:
        requests.append({"deleteContentRange": {"range": _range(start, end - 1, tab_id)}})
    text = _text(runs)
    if text:
        requests.append({"insertText": {"location": _location(start, tab_id), "text": text}})
        requests.append({"updateTextStyle": {"range": _range(start, start + utf16_len(text), tab_id),
                                             "textStyle": {}, "fields": PLAIN_FIELDS}})
        _run_styles(runs, start, tab_id, requests)
    return requests
