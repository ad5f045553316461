"""The HTML postmortem uploaded to Google Drive: escaping, and the same sections and prompts as Markdown."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from ops_postmortem.escaping import cell_html, escape_html, link_html
from ops_postmortem.render import generated_blocks, markup_link, render_document
from tests.samples import HOSTILE_TEXTS, example_timeline, hostile_timeline


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [v or "" for k, v in attrs if k == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Tags:
    tags = _Tags()
    tags.feed(html)
    return tags


def test_escaping_leaves_no_markup() -> None:
    for text in HOSTILE_TEXTS:
        parsed = parse(escape_html(text))
        assert set(parsed.tags) <= {"br"}
        assert not parsed.hrefs
    assert escape_html('a "b" <c> & d\ne') == "a &quot;b&quot; &lt;c&gt; &amp; d<br>e"
    assert cell_html("  x\x07y\x1b \n") == "xy"


def test_links_only_for_web_urls() -> None:
    assert link_html('https://x.test/?a=1&b="2"', "<b>") == (
        '<a href="https://x.test/?a=1&amp;b=&quot;2&quot;">&lt;b&gt;</a>'
    )
    assert markup_link("html", "javascript:alert(1)", "row") == "row (javascript:alert(1))"


def _markdown_prompts_and_headings(fmt: str) -> tuple[list[str], list[str]]:
    text = render_document(fmt, example_timeline())
    if fmt == "markdown":
        headings = re.findall(r"^#+ (.*)$", text, re.MULTILINE)
        prompts = re.findall(r"TODO\(authors\):[^_\n]*", text)
    else:
        headings = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<h\d>(.*?)</h\d>", text)]
        prompts = re.findall(r"TODO\(authors\):[^<]*", text)
    return headings, prompts


def test_same_sections_and_prompts_as_markdown() -> None:
    assert _markdown_prompts_and_headings("html") == _markdown_prompts_and_headings("markdown")


def test_generated_blocks_and_hostile_text() -> None:
    html = render_document("html", hostile_timeline())
    assert set(generated_blocks("html", html)) == {"timeline", "metrics"}
    parsed = parse(html)
    assert "script" not in parsed.tags and "i" not in parsed.tags and "b" not in parsed.tags
    assert all(h.startswith("https://") for h in parsed.hrefs)
    assert not any("evil" in h for h in parsed.hrefs)
