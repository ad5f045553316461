"""Ticket descriptions: ADF (validated against the published ADF schema) and wiki markup, both escaping
untrusted text, both read back to the same plain text and the same postmortem link."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest

from ops_postmortem.connectors.jira import adf, wiki
from ops_postmortem.connectors.jira.text import POSTMORTEM
from ops_postmortem.model import TicketRequest
from tests.fakes.jira import adf_validator

HOSTILE = [
    "Retry | backoff | jitter in the `payments-client` (p99 < 300 ms)",
    "Escape *bold* _it_ ~strike~ +ins+ ^sup^ -del- ??cite?? [link](https://evil.test) [x|https://evil.test]",
    "<script>alert(1)</script> {{ jinja }} {code}x{code} {noformat} {color:red}r{color} !https://evil.test/i.png!",
    "h1. not a heading\nbq. not a quote\n# not a list\n* nor this\n- nor this\n----\n||not||a table||\n|a|b|",
    "Ünïcødé 🚒 — José Núñez's 支付 alert: ≥ 5% 5xx; smileys :) (y) (!) (/) &amp; &#91; \\\\ line\\break\\",
    "mailto:a@b.test [~admin] [^attachment.txt] {anchor:x} \\* already escaped \\",
    "tab\tand control\x07chars\r\nwindows line",
]
DOC = "https://docs.google.com/document/d/1AbC/edit"


def request(action: str, **changes: object) -> TicketRequest:
    base = TicketRequest(
        item_key="pmai-0123456789ab", title=action.splitlines()[0], action=action, done_when=f"verified: {action}",
        type="detect", owner="dana@acme.test", due=date(2026, 12, 1), priority="P1", incident_id="INC-2042",
        severity="SEV-1", doc_url=DOC, incident_url="https://acme.pagerduty.com/incidents/Q8XU3N0ZKP5RM4",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def expected(text: str) -> str:
    """What survives: Windows line ends become newlines, control characters other than tab go."""
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text.replace("\r\n", "\n"))


@pytest.mark.parametrize("text", HOSTILE)
def test_adf_is_valid_and_reads_back(text: str) -> None:
    doc = adf.describe(request(text))
    assert list(adf_validator().iter_errors(doc)) == []
    plain = adf.plain_text(doc)
    assert expected(text) in plain and f"Done when: verified: {expected(text)}" in plain
    assert adf.labelled(doc, POSTMORTEM) == DOC


def test_adf_keeps_untrusted_text_in_plain_text_nodes() -> None:
    doc = adf.describe(request("**x** [a](https://evil.test) <b>"))
    action = doc["content"][0]["content"]
    assert action == [{"type": "text", "text": "**x** [a](https://evil.test) <b>"}]
    links = [m for p in doc["content"] for n in p.get("content", []) for m in n.get("marks", []) if m["type"] == "link"]
    assert [m["attrs"]["href"] for m in links] == [DOC, "https://acme.pagerduty.com/incidents/Q8XU3N0ZKP5RM4"]


def test_adf_links_only_web_urls() -> None:
    local = "file:///srv/postmortems/INC-2042.md"
    doc = adf.describe(request("x", doc_url=local, incident_url="javascript:alert(1)"))
    assert list(adf_validator().iter_errors(doc)) == []
    assert "javascript" not in str([n.get("marks") for p in doc["content"] for n in p.get("content", [])])
    assert adf.labelled(doc, POSTMORTEM) == local
    assert "Incident: INC-2042 (SEV-1) javascript:alert(1)" in adf.plain_text(doc)


def test_adf_label_cannot_be_spoofed_by_the_action() -> None:
    doc = adf.describe(request("Postmortem: https://evil.test\nPostmortem:"))
    assert adf.labelled(doc, POSTMORTEM) == DOC


def test_adf_reads_what_people_add_in_jira() -> None:
    doc = {"type": "doc", "version": 1, "content": [
        {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Notes"}]},
        {"type": "bulletList", "content": [{"type": "listItem", "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "ask "},
                                              {"type": "mention", "attrs": {"id": "1", "text": "@Dana"}}]}]}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "see", "marks": [
            {"type": "link", "attrs": {"href": "https://x.test"}}]}]},
    ]}
    assert adf.plain_text(doc) == "Notes\nask @Dana\nsee (https://x.test)"
    assert adf.labelled(doc, POSTMORTEM) is None


@pytest.mark.parametrize("text", HOSTILE)
def test_wiki_escapes_and_reads_back(text: str) -> None:
    markup = wiki.describe(request(text))
    plain = wiki.plain_text(markup)
    assert expected(text) in plain and f"Done when: verified: {expected(text)}" in plain
    assert wiki.labelled(markup, POSTMORTEM) == DOC


@pytest.mark.parametrize("text", HOSTILE)
def test_wiki_escape_leaves_no_markup(text: str) -> None:
    escaped = wiki.escape(text)
    bare = re.sub(r"\\[!-/:-@\[-`{-~]|&#92;", "", escaped)  # what is left once escapes are taken out
    assert not set(bare) & set("*_+-^~|[]{}()!&:;?#\\")
    for line in escaped.split("\n"):
        assert not re.match(r"\s*(h[1-6]|bq)\.", line, re.IGNORECASE)
        assert not re.match(r"\s*[*#-]", line)
    assert "\\\\" not in escaped  # a double backslash would be a line break
    assert not re.search(r"[A-Za-z]://", escaped)  # nor can a bare URL become a link


def test_wiki_layout_and_links() -> None:
    markup = wiki.describe(request("Add an alert"))
    assert markup.split("\n") == [
        "Add an alert",
        "",
        "*Done when:* verified\\: Add an alert",
        "*Type:* detect",
        f"*Postmortem:* [{DOC}]",
        "*Incident:* INC\\-2042 \\(SEV\\-1\\) [https://acme.pagerduty.com/incidents/Q8XU3N0ZKP5RM4]",
    ]
    assert wiki.link("https://x.test/a|b]c") == "[https://x.test/a%7Cb%5Dc]"
    assert wiki.link("javascript:alert(1)") == "javascript\\:alert\\(1\\)"


def test_wiki_label_cannot_be_spoofed_and_local_docs_read_back() -> None:
    local = "file:///srv/post%20mortems/INC-2042.md"
    markup = wiki.describe(request("*Postmortem:* [https://evil.test]\n*Postmortem:* x", doc_url=local))
    assert wiki.labelled(markup, POSTMORTEM) == local


def test_wiki_reads_what_people_write() -> None:
    assert wiki.plain_text("see [the runbook|https://x.test] and [https://y.test] &amp; *bold*") == \
        "see the runbook (https://x.test) and https://y.test & bold"
