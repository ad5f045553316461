"""Ticket descriptions in Jira wiki markup (Data Center, and REST v2), and back to plain text.

Untrusted text is escaped character by character: every character the wiki renderer gives a meaning
(`*bold*`, `[links|...]`, `{macros}`, `|tables|`, `h1.` headings, `#` lists, `(!)` emoticons, `&entities;`)
is preceded by a backslash; a backslash itself becomes the entity `&#92;`, since `\\\\` would be a line
break. Escaping `:` also stops bare URLs in the text from becoming links.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from ops_postmortem.connectors.jira.text import DescriptionLine, clean, description_lines
from ops_postmortem.escaping import web_url
from ops_postmortem.model import TicketRequest

_SPECIAL = frozenset("*_+-^~|[]{}()!&:;?#")
# A line that opens a block: a heading (h1. to h6.) or a quote (bq.); escaping the dot disarms it.
_BLOCK_START = re.compile(r"^(\s*(?:h[1-6]|bq))\.", re.IGNORECASE)
_TOKEN = re.compile(
    r"\\([!-/:-@\[-`{-~])"  # an escaped ASCII punctuation character
    r"|&(#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"  # an entity
    r"|\[([^\[\]|\n]*)\|([^\[\]\n]*)\]"  # [text|url]
    r"|\[([^\[\]|\n]*)\]"  # [url]
    r"|\*"  # bold markers
)


def escape(text: str) -> str:
    """Untrusted text, rendered by Jira exactly as written (line breaks kept)."""
    lines = []
    for line in clean(text).split("\n"):
        escaped = "".join("&#92;" if ch == "\\" else f"\\{ch}" if ch in _SPECIAL else ch for ch in line)
        lines.append(_BLOCK_START.sub(r"\1\\.", escaped))
    return "\n".join(lines)


def link(url: str) -> str:
    """A link to a web URL; anything else as escaped text."""
    if not web_url(url):
        return escape(url.replace("\n", " "))
    return f"[{quote(url, safe=_URL_SAFE)}]"


_URL_SAFE = "!#$%&'()*+,-./:;=?@_~"  # everything but the `|` and `]` that would end the link


def describe(request: TicketRequest) -> str:
    """The description: the action, a blank line, then one bold-labelled line per fact."""
    lines = [_line(line) for line in description_lines(request)]
    return "\n\n".join([lines[0], "\n".join(lines[1:])])


def _line(line: DescriptionLine) -> str:
    parts = [f"*{line.label}:*"] if line.label else []
    if line.text:
        parts.append(escape(line.text))
    if line.link:
        parts.append(link(line.link))
    return " ".join(parts)


def plain_text(markup: str) -> str:
    """What a reader sees: escapes and entities resolved, links as their target, bold markers dropped."""
    return _TOKEN.sub(_plain, markup)


def _plain(match: re.Match[str]) -> str:
    escaped, entity, alias, target, bare = match.groups()
    if escaped is not None:
        return escaped
    if entity is not None:
        return html.unescape(f"&{entity};")
    if target is not None:
        text = plain_text(alias)
        return text if text == target else f"{text} ({target})"
    if bare is not None:
        return bare
    return ""


def labelled(markup: str, label: str) -> str | None:
    """The value of one of our labelled lines ("*Postmortem:* [url]"); escaped text can never start one."""
    prefix = f"*{label}:*"
    for line in markup.split("\n"):
        if line.startswith(prefix):
            return plain_text(line[len(prefix):]).strip() or None
    return None
