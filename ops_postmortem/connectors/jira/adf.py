"""Ticket descriptions in Atlassian Document Format (Jira Cloud REST v3), and back to plain text.

ADF is a tree, so untrusted text is never parsed: it goes into text nodes as it is, newlines become
hardBreak nodes, and only our own labels carry marks. Links are made only to checked http(s) URLs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ops_postmortem.connectors.jira.text import DescriptionLine, clean, description_lines
from ops_postmortem.escaping import web_url
from ops_postmortem.model import TicketRequest

Node = dict[str, Any]

_STRONG: Node = {"type": "strong"}
# Nodes that end a line of text when read back as plain text.
_BLOCKS = frozenset({"paragraph", "heading", "codeBlock", "blockquote", "listItem", "tableRow", "panel",
                     "rule", "mediaSingle", "taskItem", "decisionItem"})


def describe(request: TicketRequest) -> Node:
    """The description document: the action, then one labelled paragraph per fact."""
    return {"type": "doc", "version": 1, "content": [_paragraph(line) for line in description_lines(request)]}


def _paragraph(line: DescriptionLine) -> Node:
    nodes: list[Node] = []
    if line.label:
        nodes += [{"type": "text", "text": f"{line.label}:", "marks": [_STRONG]}, {"type": "text", "text": " "}]
    nodes += _text(line.text)
    if line.link:
        if nodes and line.text:
            nodes.append({"type": "text", "text": " "})
        nodes.append(_link(line.link))
    return {"type": "paragraph", "content": nodes}


def _text(text: str) -> list[Node]:
    nodes: list[Node] = []
    for i, part in enumerate(clean(text).split("\n")):
        if i:
            nodes.append({"type": "hardBreak"})
        if part:  # ADF text nodes may not be empty
            nodes.append({"type": "text", "text": part})
    return nodes


def _link(url: str) -> Node:
    if web_url(url):
        return {"type": "text", "text": url, "marks": [{"type": "link", "attrs": {"href": url}}]}
    return {"type": "text", "text": clean(url).replace("\n", " ")}


def plain_text(doc: Any) -> str:
    """What a reader sees, one line per paragraph; link targets that differ from their text in brackets."""
    lines: list[str] = []
    current: list[str] = []

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if kind == "text":
            current.append(_node_text(node))
        elif kind == "hardBreak":
            current.append("\n")
        elif kind in ("mention", "emoji", "status", "date"):
            attrs = node.get("attrs") or {}
            current.append(str(attrs.get("text") or attrs.get("shortName") or ""))
        elif kind == "inlineCard":
            current.append(str((node.get("attrs") or {}).get("url", "")))
        for child in _children(node):
            walk(child)
        if kind in _BLOCKS and current:
            lines.append("".join(current))
            current.clear()

    walk(doc)
    if current:
        lines.append("".join(current))
    return "\n".join(lines)


def labelled(doc: Any, label: str) -> str | None:
    """The value of one of our labelled paragraphs ("Postmortem: <link>"): the link target, else the text.

    Untrusted text never carries marks, so only a paragraph we wrote starts with a bold label."""
    for paragraph in _children(doc):
        nodes = list(_children(paragraph))
        if not nodes or not _is_label(nodes[0], label):
            continue
        for node in nodes[1:]:
            href = _href(node)
            if href:
                return href
        return "".join(_node_text(n) if n.get("type") == "text" else "\n" for n in nodes[1:]).strip() or None
    return None


def _is_label(node: Node, label: str) -> bool:
    return node.get("type") == "text" and node.get("text") == f"{label}:" and _STRONG in (node.get("marks") or [])


def _href(node: Node) -> str | None:
    for mark in node.get("marks") or []:
        if isinstance(mark, dict) and mark.get("type") == "link":
            href = (mark.get("attrs") or {}).get("href")
            return str(href) if href else None
    return None


def _node_text(node: Node) -> str:
    text = str(node.get("text", ""))
    href = _href(node)
    return f"{text} ({href})" if href and href != text else text


def _children(node: Any) -> Iterator[Node]:
    content: Sequence[Any] = node.get("content") or [] if isinstance(node, dict) else []
    return (child for child in content if isinstance(child, dict))
