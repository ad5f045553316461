"""Issue bodies: untrusted text renders inert on GitHub (no element, link, mention or cross-reference) and
reads back as written."""

from __future__ import annotations

import random
import re
from html.parser import HTMLParser

import pytest

from ops_postmortem.connectors.github.markdown import issue_markdown, plain_text
from ops_postmortem.escaping import link_markdown
from tests.samples import HOSTILE_TEXTS
from tests.unit.test_markdown_injection import FUZZ_PIECES, MD, PAYLOADS, words

# What GitHub links in rendered text outside code: mentions, issue references, commit SHAs.
GITHUB_AUTOLINKS = re.compile(
    r"(?<![\w`])@[A-Za-z0-9][A-Za-z0-9-]*|#\d+|\bGH-\d+|(?<!\w)(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b",
    re.IGNORECASE,
)
GITHUB_PAYLOADS = [
    "ping @dana-k and @acme/sre-team now",
    "see #12, acme/ops#3, GH-7 and https://github.com/acme/ops/issues/4",
    "fixed in deadbeef1 and dana@abc1234f",
    "#12 at the start of a line\n#13 too",
    "cc @here @channel <@U123>",
    "`@dana-k` in backticks and ``#5``",
    "&#64;dana-k &#35;12",
    "x@y mail@example.com @ alone, 100% @-sign",
    "- [ ] @dana-k #1",
]


class Rendered(HTMLParser):
    """Element names, and the text outside <code> (where GitHub would add its own links)."""

    def __init__(self, markdown: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.outside_code: list[str] = []
        self.text: list[str] = []
        self._code = 0
        self.feed(MD.render(markdown))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self._code += tag == "code"
        if tag == "br":
            self.text.append("\n")

    def handle_endtag(self, tag: str) -> None:
        self._code -= tag == "code"

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if not self._code:
            self.outside_code.append(data)

    def handle_comment(self, data: str) -> None:
        self.tags.add("!--")


@pytest.mark.parametrize("payload", [*PAYLOADS, *GITHUB_PAYLOADS, *HOSTILE_TEXTS])
def test_untrusted_text_is_inert_and_reads_the_same(payload: str) -> None:
    markdown = issue_markdown(payload)
    seen = Rendered(markdown)
    assert seen.tags <= {"p", "br", "code"}, seen.tags
    live = GITHUB_AUTOLINKS.findall(" ".join(seen.outside_code))
    assert live == [], (markdown, live)
    assert words("".join(seen.text)) == words(payload)


@pytest.mark.parametrize("payload", [*PAYLOADS, *GITHUB_PAYLOADS, *HOSTILE_TEXTS])
def test_plain_text_undoes_the_escaping(payload: str) -> None:
    expected = "\n".join(line.strip() for line in re.split(r"\r\n|\r|\n", payload))
    assert plain_text(issue_markdown(payload)) == expected


def test_references_go_into_code_spans_and_touching_spans_merge() -> None:
    assert issue_markdown("ping @dana-k re #12") == "ping `@dana-k` re `#12`"
    assert issue_markdown("#1#2") == "`#1#2`"
    # A reference touching a link-like word becomes one code span, never two fences that fuse.
    assert issue_markdown("#1https://x.test/a") == "`#1https://x.test/a`"
    assert issue_markdown("acme/ops#3.") == "`acme/ops#3`."
    assert issue_markdown("mail dana@acme.test") == "mail `dana@acme.test`"


def test_our_links_read_back_as_label_and_address() -> None:
    body = "Postmortem: " + link_markdown("https://docs.google.com/document/d/1/edit", "the postmortem")
    assert plain_text(body) == "Postmortem: the postmortem (https://docs.google.com/document/d/1/edit)"
    # Escaped brackets in untrusted text are not links.
    assert plain_text(issue_markdown("[x](https://evil.test)")) == "[x](https://evil.test)"


def test_text_people_edited_in_github_reads_back_as_written() -> None:
    assert plain_text("Done when: **alert** fires (see #12)") == "Done when: **alert** fires (see #12)"
    assert plain_text("a \\q b and a trailing \\") == "a \\q b and a trailing \\"
    assert plain_text("an `unclosed backtick") == "an `unclosed backtick"


def test_fuzzed_text_stays_inert() -> None:
    rng = random.Random(20261110)
    pieces = [*FUZZ_PIECES, "@", "@dana", "#", "#12", "GH-3", "abc1234", "deadbeef0", "/", "o/r#1"]
    for _ in range(600):
        payload = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 14)))
        markdown = issue_markdown(payload)
        seen = Rendered(markdown)
        assert seen.tags <= {"p", "br", "code"}, (payload, markdown, seen.tags)
        assert GITHUB_AUTOLINKS.findall(" ".join(seen.outside_code)) == [], (payload, markdown)
        assert plain_text(markdown) == "\n".join(line.strip() for line in re.split(r"\r\n|\r|\n", payload))
