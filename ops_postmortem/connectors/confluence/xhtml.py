"""A real XML parse of Confluence storage format that remembers where every element lies in the body.

Storage format is XHTML fragments with `ac:` and `ri:` prefixed elements and HTML entities (`&nbsp;`). We parse
it with expat, wrapped in a root element under a DOCTYPE that declares the HTML entities, without namespace
processing (so a prefix nobody declared is not an error). Every element keeps its byte offsets in the body, so an
edit can replace exactly one element or its content and leave every other byte as people saved it.
"""

from __future__ import annotations

import html.entities
import xml.parsers.expat
from collections.abc import Iterator
from dataclasses import dataclass, field

from ops_postmortem.errors import DocumentError

# The five XML entities are predefined (redeclaring them is an error); every other HTML 4 name is declared.
_PREDEFINED = {"amp", "lt", "gt", "quot", "apos"}
_DTD = "".join(
    f'<!ENTITY {name} "&#{code};">'
    for name, code in sorted(html.entities.name2codepoint.items())
    if name not in _PREDEFINED
)
_PREFIX = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f"<!DOCTYPE storage [{_DTD}]>"
    '<storage xmlns:ac="http://atlassian.com/content" xmlns:ri="http://atlassian.com/resource/identifier"'
    ' xmlns:at="http://atlassian.com/template">'
).encode()
_SUFFIX = b"</storage>"


@dataclass(eq=False)
class Node:
    """One element. Offsets are byte positions in the UTF-8 body: [start, content_start) is the start tag,
    [content_end, end) the end tag; both are empty-width for `<br/>`."""

    tag: str
    attrs: dict[str, str]
    start: int
    content_start: int = 0
    content_end: int = 0
    end: int = 0
    children: list[Node | str] = field(default_factory=list)
    parent: Node | None = field(default=None, repr=False)

    def elements(self) -> Iterator[Node]:
        return (c for c in self.children if isinstance(c, Node))

    def iter(self) -> Iterator[Node]:
        """This element and every element inside it, in document order."""
        yield self
        for child in self.elements():
            yield from child.iter()

    def find(self, tag: str) -> Node | None:
        return next((c for c in self.elements() if c.tag == tag), None)

    def ancestors(self) -> Iterator[Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def raw_text(self) -> str:
        """Every character inside, markup removed (CDATA included)."""
        return "".join(c if isinstance(c, str) else c.raw_text() for c in self.children)

    def param(self, name: str) -> str | None:
        """The text of a macro's `ac:parameter` with this name."""
        for child in self.elements():
            if child.tag == "ac:parameter" and child.attrs.get("ac:name", "") == name:
                return child.raw_text()
        return None


@dataclass(frozen=True)
class Storage:
    """A parsed body: the root (tag "storage") and the body's bytes the offsets point into."""

    root: Node
    data: bytes

    def text(self) -> str:
        return self.data.decode("utf-8")

    def slice(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8")


def _tag_end(data: bytes, pos: int) -> int:
    """Just past the '>' that closes the tag starting at `pos` ('>' may appear inside quoted values)."""
    quote = 0
    for i in range(pos + 1, len(data)):
        byte = data[i]
        if quote:
            if byte == quote:
                quote = 0
        elif byte in (0x22, 0x27):
            quote = byte
        elif byte == 0x3E:
            return i + 1
    raise ValueError("unterminated tag")


def parse(body: str, *, where: str = "the page body") -> Storage:
    """Parse a storage-format body; a body that is not well-formed XML raises DocumentError naming the spot."""
    data = body.encode("utf-8")
    wrapped = _PREFIX + data + _SUFFIX
    offset = len(_PREFIX)
    parser = xml.parsers.expat.ParserCreate("utf-8")
    root = Node("storage", {}, 0, 0, len(data), len(data))
    stack: list[Node] = [root]
    depth = [0]  # the wrapper element is depth 1

    def start(tag: str, attrs: dict[str, str]) -> None:
        depth[0] += 1
        if depth[0] == 1:
            return
        pos = parser.CurrentByteIndex
        node = Node(tag, attrs, pos - offset, _tag_end(wrapped, pos) - offset, parent=stack[-1])
        stack[-1].children.append(node)
        stack.append(node)

    def end(tag: str) -> None:
        depth[0] -= 1
        if depth[0] == 0:
            return
        node = stack.pop()
        pos = parser.CurrentByteIndex
        closing = b"</" + tag.encode()
        if wrapped.startswith(closing, pos) and wrapped[pos + len(closing) : pos + len(closing) + 1] in b"> \t\r\n":
            node.content_end = pos - offset
            node.end = _tag_end(wrapped, pos) - offset
        else:  # an empty-element tag: expat reports its end just past it
            node.content_start = node.content_end = node.end = pos - offset

    def text(value: str) -> None:
        children = stack[-1].children
        if children and isinstance(children[-1], str):
            children[-1] += value
        else:
            children.append(value)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(wrapped, True)
    except xml.parsers.expat.ExpatError as exc:
        line, column = _body_position(data, parser.ErrorByteIndex - offset)
        raise DocumentError(
            f"{where} is not well-formed XHTML ({xml.parsers.expat.ErrorString(exc.code)} at line {line}, "
            f"column {column})",
            hint="fix the markup there (Confluence storage format is XML)",
        ) from exc
    return Storage(root, data)


def _body_position(data: bytes, index: int) -> tuple[int, int]:
    """1-based line and column of a byte index in the body (clamped into it)."""
    index = max(0, min(index, len(data)))
    before = data[:index]
    line = before.count(b"\n") + 1
    return line, len(before) - (before.rfind(b"\n") + 1) + 1


def splice(data: bytes, edits: list[tuple[int, int, str]]) -> str:
    """`data` with each (start, end, replacement) applied; edits must not overlap."""
    out = data
    last = len(data) + 1
    for start, end, replacement in sorted(edits, key=lambda e: e[0], reverse=True):
        if end > last:
            raise ValueError("overlapping edits")
        out = out[:start] + replacement.encode("utf-8") + out[end:]
        last = start
    return out.decode("utf-8")
