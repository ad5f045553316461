"""Untrusted text (chat, alerts, notes, titles) can never become Confluence markup: no macro, no link, no mention,
no broken page. The corpus goes through the real store into the fake site; the stored XHTML is parsed and every
ac:, ri: and <a> element in it must be one the template put there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from ops_postmortem.connectors.confluence.comments import comment_body
from ops_postmortem.connectors.confluence.storage import plain_text
from ops_postmortem.connectors.confluence.xhtml import Node, parse
from ops_postmortem.escaping import cdata, cell_storage, escape_storage, link_storage
from ops_postmortem.model import UTC, CellUpdate, Incident, Kind, Person, Timeline, TimelineEvent
from ops_postmortem.moments import key_moments
from tests.contract.confluence_harness import ConfluenceHarness, harness
from tests.samples import HOSTILE_TEXTS

CORPUS = (
    *HOSTILE_TEXTS,
    "ends a CDATA ]]> and opens one <![CDATA[ and a comment <!-- x --> and a PI <?xml version='1.0'?>",
    '<ac:link><ri:user ri:account-id="557058:b0t" /></ac:link> @mention by markup',
    '<ri:url ri:value="https://evil.example.com" /> <a href="https://evil.example.com">click</a>',
    '<ac:structured-macro ac:name="jira"><ac:parameter ac:name="key">OPS-1</ac:parameter></ac:structured-macro>',
    "&amp; &lt;b&gt; &nbsp; &#x3C;script&#x3E; &bogus; & alone",
    "{jira:OPS-1} [evil|https://evil.example.com] {html}<b>x</b>{html} {{ incident.id }} {% raw %}",
    "stack trace:\n```\nTraceback: </ac:plain-text-body></ac:structured-macro><a href='x'>y</a> ]]> end\n```\nafter",
    "```\n]]]]><![CDATA[>\n```",
    'quotes " \' and attributes ac:name="status" title="Final"',
    "nul \x00 vt \x0b ff \x0c us \x1f del \x7f fffe \ufffe",
    "ops-postmortem:generated:end timeline",
    "line one\r\nline two\rline three",
)
ALLOWED_MACROS = {"status", "expand", "anchor", "code"}
ALLOWED_AC = {"ac:structured-macro", "ac:parameter", "ac:rich-text-body", "ac:plain-text-body"}
FENCED_BODIES = {m.group(1) for text in CORPUS for m in re.finditer(r"```\n?(.*?)\n?```", text, re.DOTALL)}
FENCED = len(FENCED_BODIES)


def hostile(incident_id: str = "INC-666") -> Timeline:
    t0 = datetime(2026, 11, 3, 23, 30, tzinfo=UTC)
    events = tuple(
        TimelineEvent(t0 + timedelta(minutes=i), "slack", Kind.MESSAGE, text, actor=CORPUS[(i + 3) % len(CORPUS)],
                      link="javascript:alert(1)" if i % 2 else "https://acme.slack.com/archives/C1/p1",
                      ident=f"17000000{i}.000100")
        for i, text in enumerate(CORPUS)
    )
    incident = Incident(id=incident_id, title="Hostile <title> ]]> {{ 1+1 }} & co", severity=CORPUS[2][:40],
                        status="Draft", services=(CORPUS[3],), authors=(Person(CORPUS[1]),),
                        reviewers=(Person(CORPUS[0]), Person("Dana Kim")))
    return Timeline(incident=incident, events=events, moments=key_moments(events), missing=(CORPUS[4],))


@pytest.fixture(params=["cloud", "datacenter"])
def site(request: pytest.FixtureRequest) -> Iterator[ConfluenceHarness]:
    yield from harness(request.param)


def _visible(node: Node) -> str:
    return "".join(c if isinstance(c, str) else ("" if c.tag == "ac:parameter" else _visible(c))
                   for c in node.children)


def test_nothing_from_chat_becomes_markup(site: ConfluenceHarness) -> None:
    ref = site.store.create(hostile())
    stored = site.fake.pages[ref.id].body
    storage = parse(stored)  # well-formed as stored
    elements = list(storage.root.iter())[1:]
    assert not [n.tag for n in elements if n.tag.startswith("ri:")]
    assert {n.tag for n in elements if n.tag.startswith("ac:")} <= ALLOWED_AC
    macros = [n.attrs.get("ac:name") for n in elements if n.tag == "ac:structured-macro"]
    assert set(macros) <= ALLOWED_MACROS
    # Our macros only: one status, one expand, four anchors, and code macros showing the fenced blocks of chat.
    assert (macros.count("status"), macros.count("expand"), macros.count("anchor")) == (1, 1, 4)
    codes = [n.find("ac:plain-text-body") for n in elements if n.attrs.get("ac:name") == "code"]
    assert len(codes) >= FENCED
    assert all(c is not None and c.raw_text() in FENCED_BODIES for c in codes)
    links = {n.attrs.get("href") for n in elements if n.tag == "a"}
    assert links <= {"https://acme.slack.com/archives/C1/p1"}
    # The text survives as text: each message is in its row (control characters dropped, lines kept).
    doc = site.store.read(ref)
    assert doc.title == "Hostile <title> ]]> {{ 1+1 }} & co"
    table = next(t for t in doc.tables if t.header and t.header[0].startswith("Time"))
    for text, row in zip(CORPUS, table.rows, strict=True):
        expected = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe]", "", text).replace("\r\n", "\n").replace("\r", "\n")
        expected = re.sub(r"```\n?", "", expected).strip()
        got = row[2].text
        for line in (line.strip() for line in expected.split("\n")):
            assert line in got, (line, got)
        assert not row[2].links and not row[2].people and not row[2].ticket_keys
    assert site.store.refresh(ref, hostile()) is False  # the digest is stable over the stored form


def test_written_back_cells_and_comments_stay_text(site: ConfluenceHarness) -> None:
    ref = site.store.create(replace(hostile("INC-667"), events=()))
    site.fill_action_items(ref, [["Fix it properly", "prevent", "Dana Kim", "2026-11-20", "P1", "test", ""]])
    doc = site.store.read(ref)
    table = next(t for t in doc.tables if t.header and t.header[0] == "Action")
    for text in CORPUS:
        site.store.update_cells(ref, [CellUpdate(table.index, 0, 6, text, "javascript:alert(1)")])
        cell = next(t for t in site.store.read(ref).tables if t.header[0] == "Action").rows[0][6]
        assert not cell.links and not cell.people and not cell.ticket_keys
    stored = parse(site.fake.pages[ref.id].body)
    assert not [n for n in stored.root.iter() if n.tag.startswith("ri:") or n.tag == "a"]
    for text in CORPUS:
        comment = site.store.add_comment(ref, text)
        thread = next(c for c in site.store.comments(ref) if c.id == comment.id)
        assert re.sub(r"\s+", " ", thread.text).strip().startswith(
            re.sub(r"\s+", " ", re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe]", "", text)).strip()[:20])


@pytest.mark.parametrize("text", CORPUS)
def test_escapers_produce_inert_well_formed_xml(text: str) -> None:
    for markup in (escape_storage(text), cell_storage(text), link_storage("https://a.example/?q=<x>&y", text),
                   comment_body(text)):
        storage = parse(f"<p>{markup}</p>" if not markup.startswith("<p") else markup)
        tags = {n.tag for n in storage.root.iter()} - {"storage"}
        assert tags <= {"p", "br", "a", *ALLOWED_AC}
        assert len([n for n in storage.root.iter() if n.tag == "a"]) <= 1
    assert not {"<", ">", '"'} & set(escape_storage(text))  # safe in text and in attribute values


def test_cdata_keeps_text_verbatim_even_with_its_terminator() -> None:
    for text in ("]]>", "a]]>b]]>c", "]]]]>", "<![CDATA[x]]>"):
        storage = parse(f"<x>{cdata(text)}</x>")
        assert storage.root.raw_text() == text


def test_comment_bodies_round_trip() -> None:
    text = "LGTM <b>&amp;</b>\n\n]]> <ac:link/>"
    assert plain_text(comment_body(text)) == "LGTM <b>&amp;</b>\n]]> <ac:link/>"  # blank lines fold
