"""Per-format escaping: untrusted text (chat, alerts, notes) in, inert markup out.

Markdown is escaped for GFM renderers, including the ones that autolink bare URLs
(GitHub's extended autolinks, markdown-it's linkify): link-like words go into code spans,
where nothing is ever linked, and every character that could start a construct is escaped.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urlsplit

# What GFM or linkify-it would turn into a link: scheme URLs, protocol-relative //host,
# mailto:/xmpp:, www. hosts and e-mail addresses. `|` ends the match so table cells stay intact.
# A bare "http://" is taken too: linkify reads the source after it, escapes or not.
_LINKISH = re.compile(
    r"""(?ix)
      [a-z][a-z0-9+.-]*://[^\s|<>`]*
    | //[^\s|<>`]+
    | (?:mailto|xmpp):[^\s|<>`]+
    | (?<![\w.])www\d{0,3}\.[^\s|<>`]*
    | [\w.+-]+@[\w-]+(?:\.[\w-]+)+
    """
)
# Trailing punctuation is prose, not part of the URL (as GFM decides too).
_TRAILING = re.compile(r"[.,:;!?'\")\]]+$")

# Characters that start inline constructs anywhere in a line.
_INLINE_SPECIALS = {
    "\\": "\\\\",
    "`": "\\`",
    "*": "\\*",
    "_": "\\_",
    "[": "\\[",
    "]": "\\]",
    "|": "\\|",
    "~": "\\~",
    ">": "\\>",
    "<": "&lt;",
    "&": "&amp;",
}
_INLINE_RE = re.compile("|".join(re.escape(c) for c in _INLINE_SPECIALS))
# A dot before a letter would let linkify-it see a bare domain (evil.com, even b+|.io).
_DOMAIN_DOT = re.compile(r"\.(?=[^\W\d_])")
# Block constructs a line can open: heading, list, quote, setext underline, ordered list.
_LINE_START = re.compile(r"^([#+\-=])|^(\d{1,9})([.)])")
_NEWLINES = re.compile(r"\r\n|\r|\n")
_URL_SAFE = "!#$%&'*+,-./:;=?@_~"


def code_span(text: str) -> str:
    """`text` as a code span, with a fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _escape_plain(text: str) -> str:
    escaped = _INLINE_RE.sub(lambda m: _INLINE_SPECIALS[m.group()], text)
    return _DOMAIN_DOT.sub(r"\\.", escaped)


def _link_spans(text: str) -> list[tuple[int, int]]:
    """Where the link-like words are; touching ones are merged so their code spans cannot fuse."""
    spans: list[tuple[int, int]] = []
    for match in _LINKISH.finditer(text):
        word = _TRAILING.sub("", match.group())
        if not _LINKISH.fullmatch(word):  # only punctuation made it look like one ("www.")
            continue
        start, end = match.start(), match.start() + len(word)
        if spans and spans[-1][1] == start:
            start = spans.pop()[0]
        spans.append((start, end))
    return spans


def _escape_inline(text: str) -> str:
    """One line's worth of text: link-like words in code spans, the rest escaped."""
    out: list[str] = []
    pos = 0
    for start, end in _link_spans(text):
        out.append(_escape_plain(text[pos:start]))
        out.append(code_span(text[start:end]))
        pos = end
    out.append(_escape_plain(text[pos:]))
    return "".join(out)


def _escape_line(line: str) -> str:
    """One line, unable to open a block wherever it lands (indentation would open a code block)."""
    return _LINE_START.sub(_escape_line_start, _escape_inline(line.strip()), count=1)


def _escape_line_start(match: re.Match[str]) -> str:
    if match.group(1):
        return "\\" + match.group(1)
    return f"{match.group(2)}\\{match.group(3)}"


def escape_markdown(text: str) -> str:
    """Untrusted text for a Markdown paragraph: its lines kept."""
    return "\n".join(_escape_line(line) for line in _NEWLINES.split(text))


def cell_markdown(text: str) -> str:
    """Untrusted text for a GFM table cell (or any one-line spot): newlines become <br>."""
    return "<br>".join(_escape_line(line) for line in _NEWLINES.split(text.strip()))


def web_url(url: str | None) -> bool:
    """Only absolute http(s) URLs without whitespace or control characters may become links."""
    if not url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return False
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def link_markdown(url: str, label: str) -> str:
    """A Markdown link to a checked http(s) URL; characters that end a destination are encoded."""
    return f"[{cell_markdown(label)}]({quote(url, safe=_URL_SAFE)})"


# ---- HTML (the Google Docs upload) ------------------------------------------------------------

# Characters HTML cannot carry: C0 controls except tab and newlines, DEL, and lone surrogates.
_HTML_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


_SPACES = re.compile(r" {2,}")


def escape_html(text: str) -> str:
    """Untrusted text for an HTML paragraph: every markup character escaped, lines kept as <br>, runs of
    spaces kept with &nbsp; (HTML would collapse them)."""
    lines = _NEWLINES.split(_HTML_CONTROL.sub("", text))
    return "<br>".join(
        _SPACES.sub(lambda m: " " + "&nbsp;" * (len(m.group()) - 1), html.escape(line, quote=True)) for line in lines
    )


def cell_html(text: str) -> str:
    """Untrusted text for an HTML table cell or any one-line spot."""
    return escape_html(text.strip())


def link_html(url: str, label: str) -> str:
    """A link to a checked http(s) URL; the URL is attribute-escaped, the label escaped as text."""
    return f'<a href="{html.escape(url, quote=True)}">{cell_html(label)}</a>'


# ---- Confluence storage format (XHTML) ----------------------------------------------------------

# XML 1.0 cannot carry C0 controls other than tab and newlines, lone surrogates, U+FFFE and U+FFFF.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
# A fenced block in chat (```...```) is pasted output or a log: it becomes a code macro, kept verbatim.
_FENCED = re.compile(r"```(?:[^\S\n]*\n)?(.*?)\n?```", re.DOTALL)


def escape_storage(text: str) -> str:
    """Untrusted text as XML character data or an attribute value: nothing in it can open markup."""
    return html.escape(_XML_INVALID.sub("", text), quote=True)


def cdata(text: str) -> str:
    """Text inside CDATA; a "]]>" in it is split across two sections so it cannot end the first one."""
    return "<![CDATA[" + _XML_INVALID.sub("", text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def code_macro(text: str) -> str:
    """A Confluence code macro showing `text` verbatim."""
    body = f"<ac:plain-text-body>{cdata(text)}</ac:plain-text-body>"
    return f'<ac:structured-macro ac:name="code">{body}</ac:structured-macro>'


def _lines_storage(text: str) -> str:
    return "<br/>".join(escape_storage(line) for line in _NEWLINES.split(text))


def cell_storage(text: str) -> str:
    """Untrusted text for a table cell or a line of prose: lines kept as <br/>, fenced blocks as code macros."""
    out: list[str] = []
    pos = 0
    text = text.strip()
    for match in _FENCED.finditer(text):
        before = text[pos : match.start()].strip("\r\n")
        if before:
            out.append(_lines_storage(before))
        if match.group(1).strip():
            out.append(code_macro(match.group(1)))
        pos = match.end()
    rest = text[pos:].strip("\r\n") if pos else text
    if rest:
        out.append(_lines_storage(rest))
    return "".join(out)


def link_storage(url: str, label: str) -> str:
    """A link to a checked http(s) URL; the URL is attribute-escaped, the label escaped as text."""
    return f'<a href="{escape_storage(url)}">{_lines_storage(label.strip())}</a>'
