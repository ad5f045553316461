"""Untrusted text must render inert: rendered to HTML by markdown-it (GFM-like: raw HTML allowed,
tables, strikethrough, linkify on), it creates no element, link or image, and still reads the same."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from ops_postmortem.errors import ConfigError
from ops_postmortem.escaping import cell_markdown, escape_markdown
from ops_postmortem.model import Incident, Kind, Moment, Person, Redaction, Timeline, TimelineEvent
from ops_postmortem.render import generated_blocks, render_document
from tests.unit.test_render_markdown import GENERATED_AT, at, sample_timeline

MD = MarkdownIt("gfm-like")

PAYLOADS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(document.cookie)">',
    "<a href='http://evil.example'>click</a>",
    "<details><summary>x</summary>y</details>",
    "<!-- ops-postmortem:generated:end timeline -->",
    "| a | b |\n|---|---|\n| c | d |",
    "a | b",
    "first line\nsecond line\n\nafter a blank line",
    "{{ 7*7 }}",
    "{% for x in range(3) %}loop{% endfor %}",
    "{# comment #} {{ incident.__class__ }}",
    "[click](http://evil.example)",
    "![x](http://evil.example/x.png)",
    "<http://evil.example>",
    "see http://evil.example now, or HTTPS://EVIL.COM/a_b?c=d.",
    "www.evil.example and www.evil.com",
    "mail a@b.example or a@b.com",
    "mailto:a@b.com",
    "evil.com/path and sub.evil.io",
    "//evil.com/x",
    "# heading",
    "###### small heading",
    "> quote",
    "* list item",
    "- list item",
    "+ list item",
    "1. ordered",
    "3) ordered",
    "- [ ] task",
    "Setext\n===",
    "Setext\n---",
    "***",
    "    indented code",
    "```\nfenced\n```",
    "~~~\nfenced\n~~~",
    "`code` and ``double``",
    "**bold** __bold__ *em* _em_ ~~strike~~ ~one~",
    "&lt;script&gt; &amp; &#60;b&#62; &copy; &#x27;",
    "[ref]: http://evil.example",
    "[x][1]\n\n[1]: http://evil.example",
    "footnote[^1]\n\n[^1]: http://evil.example",
    "\\*not em\\* and a trailing backslash \\",
    "foo<br>bar",
    "x_y_z snake_case 2*3*4",
    "javascript:alert(1)",
    "tab\tseparated\ttext",
]

# A raw payload does create these elements: the inspector below can see what the escaping prevents.
RAW_ELEMENTS = [
    ("<script>alert(1)</script>", "script"),
    ('<img src=x onerror="alert(document.cookie)">', "img"),
    ("![x](http://evil.example/x.png)", "img"),
    ("[click](http://evil.example)", "a"),
    ("<http://evil.example>", "a"),
    ("see http://evil.example now", "a"),
    ("www.evil.com", "a"),
    ("a@b.com", "a"),
    ("evil.com/path", "a"),
    ("# heading", "h1"),
    ("Setext\n===", "h1"),
    ("> quote", "blockquote"),
    ("* list item", "li"),
    ("1. ordered", "ol"),
    ("| a | b |\n|---|---|\n| c | d |", "table"),
    ("**bold**", "strong"),
    ("~~strike~~", "s"),
    ("    indented code", "pre"),
    ("***", "hr"),
    ("<!-- x -->", "!--"),
]


class Inspector(HTMLParser):
    """Tags, link targets, images and the text of every table cell."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href") or "")
        elif tag == "img":
            self.hrefs.append(dict(attrs).get("src") or "")
        elif tag == "br":
            self._data("\n")
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self._data(data)

    def handle_comment(self, data: str) -> None:
        self.tags["!--"] += 1

    def _data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def plain(self) -> str:
        return words("".join(self.text))


def words(text: str) -> str:
    return " ".join(text.split())


def inspect(markdown: str) -> Inspector:
    return Inspector(MD.render(markdown))


@pytest.mark.parametrize(("payload", "tag"), RAW_ELEMENTS)
def test_raw_payloads_do_create_elements(payload: str, tag: str) -> None:
    assert inspect(payload).tags[tag] >= 1


@pytest.mark.parametrize("payload", PAYLOADS)
def test_escaped_paragraph_is_inert_and_reads_the_same(payload: str) -> None:
    seen = inspect(escape_markdown(payload))
    assert set(seen.tags) <= {"p", "br", "code"}, seen.tags
    assert seen.hrefs == []
    assert seen.plain == words(payload)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_escaped_cell_is_inert_and_reads_the_same(payload: str) -> None:
    seen = inspect(f"| Event | Next |\n| --- | --- |\n| {cell_markdown(payload)} | x |\n")
    assert set(seen.tags) <= {"table", "thead", "tbody", "tr", "th", "td", "br", "code"}, seen.tags
    assert seen.hrefs == []
    assert seen.tables == [[["Event", "Next"], [seen.tables[0][1][0], "x"]]]
    assert words(seen.tables[0][1][0]) == words(payload)


def test_link_like_words_go_into_code_spans() -> None:
    assert cell_markdown("ping a@b.com via http://x.io/a?b=1.") == "ping `a@b.com` via `http://x.io/a?b=1`."
    assert cell_markdown("www.evil.com|x") == "`www.evil.com`\\|x"
    assert cell_markdown("line\nbreak") == "line<br>break"


# fmt: off
FUZZ_PIECES = [
    "a", "b", " ", " ", "\n", "\t", "\\", "`", "``", "*", "_", "~", "#", "+", "-", ".", "!", "|", "<", ">",
    "&", ":", "/", "@", "[", "]", "(", ")", "{", "}", "=", "1.", "&amp;", "&#60;", "http://", "https://x.com",
    "www.", "evil.com", ".io", "a@b.com", "<script>", "-->", "<!--", "    ", "\n\n", "> ", "# ", "- ", "```",
    "\r\n", "ftp:", "mailto:", "//", "](", "![", "[x](http://e.com)", "\u00a0", "ö.de", "<br>", "---", "===",
    "1)", "HTTP://", "%", "'", '"', "<http://", "<a@b.com>", "\\|", "  \n", "\\\n", "***", "&#x3C;", "www2.",
    "a.b.c.d", "192.168.0.1", "[^1]", "<p>", "</td>",
]
# fmt: on


def test_fuzzed_text_stays_inert_in_paragraphs_and_cells() -> None:
    rng = random.Random(20261103)
    for _ in range(1000):
        payload = "".join(rng.choice(FUZZ_PIECES) for _ in range(rng.randint(1, 24)))
        para = inspect(escape_markdown(payload))
        assert set(para.tags) <= {"p", "br", "code"} and para.hrefs == [], repr(payload)
        assert para.plain == words(payload), repr(payload)
        cell = inspect(f"| h |\n| --- |\n| {cell_markdown(payload)} |\n")
        assert set(cell.tags) <= {"table", "thead", "tbody", "tr", "th", "td", "br", "code"}, repr(payload)
        assert cell.hrefs == [] and len(cell.tables[0]) == 2, repr(payload)
        assert words(cell.tables[0][1][0]) == words(payload), repr(payload)


# ---- the whole document ------------------------------------------------------------------------


def hostile(timeline: Timeline, texts: list[str]) -> Timeline:
    """The sample timeline with every untrusted string replaced: chat texts, actors, titles, notes."""
    base = timeline.events[0]
    events = tuple(
        TimelineEvent(
            base.at + timedelta(seconds=i),
            "slack",
            Kind.MESSAGE,
            text,
            actor=texts[(i + 1) % len(texts)],
            link=f"https://acme.slack.com/archives/C1/p{i}",
            ident=f"{i}.000100",
        )
        for i, text in enumerate(texts)
    )
    moments = replace(
        timeline.moments,
        detected=Moment(base.at, events[0].evidence, texts[0]),
        mitigated=Moment(base.at + timedelta(minutes=5), events[1].evidence, texts[1], inferred=True),
    )
    incident = replace(
        timeline.incident,
        title=texts[0],
        severity=texts[5],
        services=(texts[11], texts[15]),
        authors=(Person(texts[12]),),
        reviewers=(Person(texts[20]), Person(texts[13])),
    )
    return Timeline(
        incident,
        events,
        moments,
        missing=(texts[2],),
        redactions=(Redaction("slack", "x", texts[14]),),
    )


def test_whole_document_with_hostile_data_has_only_the_templates_elements() -> None:
    benign_texts = [f"plain text number {i}" for i in range(len(PAYLOADS))]
    benign = inspect(
        render_document("markdown", hostile(sample_timeline(), benign_texts), generated_at=GENERATED_AT)
    )
    text = render_document("markdown", hostile(sample_timeline(), PAYLOADS), generated_at=GENERATED_AT)
    seen = inspect(text)
    extra = seen.tags - benign.tags
    assert set(extra) <= {"code", "br"}, extra
    assert benign.tags - seen.tags == Counter()
    assert seen.hrefs == benign.hrefs  # only our evidence links
    # The timeline table still has four cells per row and each event reads as it was written.
    timeline_table = next(t for t in seen.tables if t[0] == ["Time (UTC)", "Source", "Event", "Evidence"])
    assert all(len(row) == 4 for row in timeline_table)
    events = [row[2] for row in timeline_table[1:]]
    expected = [f"{PAYLOADS[(i + 1) % len(PAYLOADS)]}: {payload}" for i, payload in enumerate(PAYLOADS)]
    assert [words(e) for e in events] == [words(e) for e in expected]
    # Markers in chat text cannot fake or end a generated block.
    assert list(generated_blocks("markdown", text)) == ["timeline", "metrics"]


def test_jinja_syntax_in_data_is_never_evaluated() -> None:
    texts = ["{{ 7*7 }}", "{% for x in range(3) %}loop{% endfor %}", "{{ ''.__class__.__mro__ }}"] * 8
    text = render_document("markdown", hostile(sample_timeline(), texts), generated_at=GENERATED_AT)
    assert "49" not in text and "looploop" not in text and "<class" not in text
    cells = [row[2] for row in inspect(text).tables[0][1:]]
    assert cells[0].endswith(": {{ 7*7 }}")
    assert cells[1].endswith(": {% for x in range(3) %}loop{% endfor %}")


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ incident.__class__.__init__.__globals__ }}",
        "{{ ().__class__.__base__.__subclasses__() }}",
        "{% set x = [] %}{{ x.append(1) }}",
        "{{ incident.title.format.__globals__ }}",
        "{{ '{0.__class__}'.format(incident) }}",
    ],
)
def test_sandbox_escape_in_a_team_template_is_a_config_error(tmp_path: Path, template: str) -> None:
    (tmp_path / "markdown").mkdir()
    path = tmp_path / "markdown" / "postmortem.md.j2"
    path.write_text(template, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        render_document("markdown", sample_timeline(), template_dir=tmp_path)
    assert str(path) in str(caught.value)
    assert "the template tried an unsafe operation" in str(caught.value)


def test_incident_ids_cannot_end_the_hidden_marker() -> None:
    timeline = Timeline(
        Incident(id='x" --> <script>alert(1)</script>', title="t"), (), sample_timeline().moments
    )
    seen = inspect(render_document("markdown", timeline, generated_at=at(1, 0)))
    assert seen.tags["script"] == 0
    assert seen.tags["!--"] == 5  # the incident marker and the two pairs of block markers, intact
