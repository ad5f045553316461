"""Untrusted text for an issue body, and issue bodies back to plain text.

`escaping.escape_markdown` makes text inert for any GFM renderer; GitHub adds its own autolinks on top:
@mentions notify people and teams, #12 / owner/repo#12 / GH-12 cross-reference other issues, and commit
SHAs link commits. Those are found in the plain text and moved into code spans, which GitHub never
links. `plain_text` undoes exactly that escaping, so a ticket reads back as the text it was made from.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Final

from ops_postmortem.escaping import code_span, escape_markdown

# What GitHub turns into a mention or a reference, matched on the raw (unescaped) text.
_REFERENCE: Final = re.compile(
    r"""(?x)
      (?<![\w`])@[A-Za-z0-9][A-Za-z0-9-]*(?:/[A-Za-z0-9][\w.-]*)?   # @user, @org/team
    | (?:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?\#\d+                      # #12, owner/repo#12
    | (?<!\w)GH-\d+                                                  # GH-12
    | (?<!\w)(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b    # a commit SHA
    """,
    re.IGNORECASE,
)
_UNIT: Final = re.compile(r"\\[\s\S]|`+|&(?:#\d{1,7}|#x[0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});|[\s\S]")
_ASCII_PUNCT: Final = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


@dataclass(frozen=True)
class _Token:
    code: bool  # a code span (raw holds its content) or one plain unit (raw holds what it reads as)
    raw: str
    source: str = ""  # the Markdown of a plain unit


def _tokens(markdown: str) -> list[_Token]:
    """Plain units with the character each stands for, and code spans with their content."""
    tokens: list[_Token] = []
    pos = 0
    while pos < len(markdown):
        unit = _UNIT.match(markdown, pos)
        assert unit is not None  # the last alternative matches any character
        text = unit.group()
        if text.startswith("`"):
            close = re.compile(rf"(?<!`){text}(?!`)").search(markdown, unit.end())
            if close is not None:
                content = markdown[unit.end() : close.start()].replace("\n", " ")
                if len(content) > 2 and content[0] == content[-1] == " " and content.strip():
                    content = content[1:-1]
                tokens.append(_Token(True, content))
                pos = close.end()
                continue
            tokens.extend(_Token(False, "`", "`") for _ in text)  # an unmatched run is literal
        elif text.startswith("\\") and len(text) == 2:
            literal = text[1] in _ASCII_PUNCT
            tokens.append(_Token(False, text[1] if literal else text, text))
        elif text.startswith("&") and len(text) > 1:
            tokens.append(_Token(False, html.unescape(text), text))
        else:
            tokens.append(_Token(False, text, text))
        pos = unit.end()
    return tokens


def _render(tokens: list[_Token]) -> str:
    """Plain units as they were; touching code spans merged, so their fences cannot fuse."""
    out: list[str] = []
    pending: list[str] = []
    for token in tokens:
        if token.code:
            pending.append(token.raw)
            continue
        if pending:
            out.append(code_span("".join(pending)))
            pending = []
        out.append(token.source)
    if pending:
        out.append(code_span("".join(pending)))
    return "".join(out)


def issue_markdown(text: str) -> str:
    """`text` for an issue body: escaped Markdown in which no mention or reference is live."""
    tokens = _tokens(escape_markdown(text))
    result: list[_Token] = []
    plain: list[_Token] = []

    def flush() -> None:
        rest = plain[:]
        while rest:
            # Searched afresh after each code span: the text after one starts a new text node, where
            # GitHub sees "@name" as a mention even if a word character stood before it in the source.
            match = _REFERENCE.search("".join(t.raw for t in rest))
            if match is None:
                break
            result.extend(rest[: match.start()])
            result.append(_Token(True, match.group()))
            rest = rest[match.end() :]
        result.extend(rest)
        plain.clear()

    for token in tokens:
        if token.code:
            flush()
            result.append(token)
        else:
            plain.append(token)
    flush()
    return _render(result)


def plain_text(markdown: str) -> str:
    """What a reader sees of Markdown we wrote: escapes, entities and code fences removed, and our links
    as 'label (url)'. Best effort for text people edited in GitHub: anything else is kept as written."""
    tokens = _tokens(markdown)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        link = _link_at(tokens, i)
        if link is None:
            out.append(tokens[i].raw)
            i += 1
            continue
        label, url, i = link
        out.append(f"{label} ({url})")
    return "".join(out)


def _link_at(tokens: list[_Token], start: int) -> tuple[str, str, int] | None:
    """An inline link `[label](url)` opening at tokens[start]: (label, url, index after it)."""
    if tokens[start].code or tokens[start].source != "[":
        return None
    label: list[str] = []
    i = start + 1
    while i < len(tokens) and not (not tokens[i].code and tokens[i].source == "]"):
        if not tokens[i].code and tokens[i].source in ("[", "\n"):
            return None
        label.append(tokens[i].raw)
        i += 1
    if i + 1 >= len(tokens) or tokens[i + 1].code or tokens[i + 1].source != "(":
        return None
    url: list[str] = []
    i += 2
    while i < len(tokens) and not (not tokens[i].code and tokens[i].source == ")"):
        if tokens[i].code or tokens[i].raw.isspace():
            return None
        url.append(tokens[i].source)
        i += 1
    if i >= len(tokens):
        return None
    return "".join(label), "".join(url), i + 1
