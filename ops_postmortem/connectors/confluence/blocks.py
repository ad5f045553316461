"""The generated sections of a page (timeline, key metrics) between anchor macros, and team template pages.

A start anchor reads `ops-postmortem:generated:start timeline sha256=<digest>`; the digest covers what the section
shows (texts, cells, links), not its markup, because Confluence and its editors rewrite markup (macro ids, <p> in
cells) without anyone editing the facts. A refresh replaces exactly the bytes from start anchor to end anchor.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ops_postmortem.connectors.confluence.storage import HEADING_TAGS, shown, text_of
from ops_postmortem.connectors.confluence.xhtml import Node, Storage, parse, splice
from ops_postmortem.errors import DocumentError
from ops_postmortem.escaping import escape_storage

_MARKER = re.compile(r"^ops-postmortem:generated:(?P<kind>start|end) (?P<name>[\w-]+)(?: sha256=(?P<digest>[0-9a-f]+))?$")


@dataclass(frozen=True)
class Block:
    name: str
    start: Node  # the marker element that opens the block (the <p> around the anchor)
    end: Node
    digest: str | None
    param: Node  # the start anchor's parameter, which carries the digest


def _marker_element(macro: Node) -> Node:
    parent = macro.parent
    if parent is not None and parent.tag == "p":
        others = [c for c in parent.children if c is not macro and not (isinstance(c, str) and not c.strip())]
        if not others:
            return parent
    return macro


def _marker_error(name: str, problem: str) -> DocumentError:
    return DocumentError(
        f"the generated section '{name}' {problem}",
        hint=f"put the anchors 'ops-postmortem:generated:start {name}' and 'ops-postmortem:generated:end {name}' "
        "back around that section (what is between them is regenerated)",
    )


def generated_blocks(storage: Storage) -> dict[str, Block]:
    starts: dict[str, tuple[Node, str | None, Node]] = {}
    ends: dict[str, Node] = {}
    for node in storage.root.iter():
        if node.tag != "ac:structured-macro" or node.attrs.get("ac:name") != "anchor":
            continue
        param = next((c for c in node.elements() if c.tag == "ac:parameter"), None)
        m = _MARKER.match(param.raw_text().strip()) if param is not None else None
        if m is None or param is None:
            continue
        name = m.group("name")
        target = starts if m.group("kind") == "start" else ends
        if name in target:
            raise _marker_error(name, "is marked twice")
        if m.group("kind") == "start":
            starts[name] = (_marker_element(node), m.group("digest"), param)
        else:
            ends[name] = _marker_element(node)
    blocks: dict[str, Block] = {}
    for name, (start, digest, param) in starts.items():
        end = ends.pop(name, None)
        if end is None or end.start < start.end:
            raise _marker_error(name, "has lost its end marker")
        if end.parent is not start.parent:
            raise _marker_error(name, "has its markers in different places (one was moved)")
        blocks[name] = Block(name, start, end, digest, param)
    if ends:
        raise _marker_error(next(iter(ends)), "has lost its start marker")
    ordered = sorted(blocks.values(), key=lambda b: b.start.start)
    for before, after in itertools.pairwise(ordered):
        if after.start.start < before.end.end:
            raise _marker_error(after.name, "overlaps another one")
    return blocks


def _between(block: Block) -> list[Node | str]:
    parent = block.start.parent
    assert parent is not None
    children = parent.children
    first = next(i for i, c in enumerate(children) if c is block.start)
    last = next(i for i, c in enumerate(children) if c is block.end)
    return children[first + 1 : last]


def block_digest(block: Block) -> str:
    """A digest of what the block shows."""
    return hashlib.sha256(json.dumps(shown(_between(block)), ensure_ascii=False).encode()).hexdigest()[:16]


def seal(body: str) -> str:
    """The body with each generated block's start anchor carrying the digest of its content."""
    storage = parse(body)
    edits = []
    for block in generated_blocks(storage).values():
        text = f"ops-postmortem:generated:start {block.name} sha256={block_digest(block)}"
        edits.append((block.param.content_start, block.param.content_end, escape_storage(text)))
    return splice(storage.data, edits)


def edited_blocks(storage: Storage) -> list[str]:
    """Names of generated blocks whose content no longer matches the digest in their anchor."""
    return [
        name for name, block in generated_blocks(storage).items()
        if block.digest is not None and block.digest != block_digest(block)
    ]


def replace_generated(current: Storage, fresh: Storage) -> str:
    """`current` with each generated block (markers included) taken from `fresh`; the rest kept byte for byte."""
    have = generated_blocks(current)
    new = generated_blocks(fresh)
    edits = []
    for name, block in new.items():
        if name not in have:
            raise _marker_error(name, "has lost its markers")
        old = have[name]
        edits.append((old.start.start, old.end.end, fresh.slice(block.start.start, block.end.end)))
    return splice(current.data, edits)


def insert_blocks(team: Storage, fresh: Storage) -> str:
    """A team template page's body with our generated blocks placed in it: at a paragraph that says only
    `{{ timeline }}` (or `{{ metrics }}`), else right under the heading of the same name, else at the end."""
    wanted = {"timeline": ("timeline",), "metrics": ("key metrics", "metrics")}
    edits: list[tuple[int, int, str]] = []
    for name, block in generated_blocks(fresh).items():
        markup = fresh.slice(block.start.start, block.end.end)
        placeholder = next((n for n in team.root.iter()
                            if n.tag == "p" and text_of(n) in (f"{{{{ {name} }}}}", f"{{{{{name}}}}}")), None)
        heading = next((n for n in team.root.iter()
                        if n.tag in HEADING_TAGS and text_of(n).lower() in wanted.get(name, (name,))), None)
        if placeholder is not None:
            edits.append((placeholder.start, placeholder.end, markup))
        elif heading is not None:
            edits.append((heading.end, heading.end, markup))
        else:
            edits.append((len(team.data), len(team.data), markup))
    return splice(team.data, edits)


def fill_placeholders(body: str, values: Mapping[str, str]) -> str:
    """Inline placeholders such as `{{ incident.id }}` in the text of a team template page, replaced by
    escaped values (text only: a placeholder never becomes markup)."""
    storage = parse(body, where="the template page")
    edits = []
    pattern = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
    for node in storage.root.iter():
        if node.tag in ("ac:parameter", "ac:plain-text-body", "ac:plain-text-link-body"):
            continue
        position = node.content_start
        for child in [*node.children, None]:
            end = child.start if isinstance(child, Node) else node.content_end
            if isinstance(child, Node) or child is None:
                if end > position:
                    raw = storage.slice(position, end)
                    replaced = pattern.sub(lambda m: escape_storage(values.get(m.group(1), m.group(0))), raw)
                    if replaced != raw:
                        edits.append((position, end, replaced))
                if isinstance(child, Node):
                    position = child.end
    return splice(storage.data, edits)
