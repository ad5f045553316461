"""Generated sections between anchor macros: digests over what they show, byte-exact replacement, broken markers
named, and team template pages given the blocks and their placeholders filled."""

from __future__ import annotations

import pytest

from ops_postmortem.connectors.confluence import blocks as gb
from ops_postmortem.connectors.confluence.xhtml import parse
from ops_postmortem.errors import DocumentError
from ops_postmortem.render import render_document
from tests.samples import example_timeline


def rendered() -> str:
    return gb.seal(render_document("storage", example_timeline(slack=False)))


def test_sealed_blocks_survive_confluence_normalising_the_markup() -> None:
    body = rendered()
    assert gb.edited_blocks(parse(body)) == []
    # What Confluence and its editors do on save: macro ids, <br />, <p> inside cells, attributes on tables.
    saved = (body.replace('<ac:structured-macro ac:name="expand">',
                          '<ac:structured-macro ac:name="expand" ac:schema-version="1" ac:macro-id="x-1">')
             .replace("<br/>", "<br />").replace("<table>", '<table data-layout="default" ac:local-id="l1">'))
    saved = saved.replace("<td>Detected</td>", "<td><p>Detected</p></td>")
    assert gb.edited_blocks(parse(saved)) == []
    edited = saved.replace("Rolled back checkout-api to v2.30.4", "Rolled back (edited)")
    assert gb.edited_blocks(parse(edited)) == ["timeline"]


def test_replace_generated_keeps_every_byte_outside_the_blocks() -> None:
    current = rendered().replace("TODO(authors): the change or event that set the incident off.", "The deploy.")
    fresh = gb.seal(render_document("storage", example_timeline()))
    updated = gb.replace_generated(parse(current), parse(fresh))
    before, after = parse(current), parse(updated)
    old_blocks, new_blocks = gb.generated_blocks(before), gb.generated_blocks(after)

    def outside(storage: object, blocks: dict[str, gb.Block]) -> list[str]:
        s = storage  # type: ignore[assignment]
        t, m = blocks["timeline"], blocks["metrics"]
        return [s.slice(0, t.start.start), s.slice(t.end.end, m.start.start),  # type: ignore[attr-defined]
                s.slice(m.end.end, len(s.data))]  # type: ignore[attr-defined]

    assert outside(before, old_blocks) == outside(after, new_blocks)
    assert "The deploy." in updated and "Error rate back under 0.1% - mitigated." in updated
    assert gb.edited_blocks(after) == []


@pytest.mark.parametrize(("change", "problem"), [
    (lambda b: b.replace("ops-postmortem:generated:end timeline", "gone"), "has lost its end marker"),
    (lambda b: b.replace("ops-postmortem:generated:start metrics", "gone"), "has lost its start marker"),
    (lambda b: b + b[b.index("<p><ac:structured-macro ac:name=\"anchor\">"):].split("</p>")[0] + "</p>",
     "is marked twice"),
])
def test_broken_markers_are_named(change: object, problem: str) -> None:
    body = change(rendered())  # type: ignore[operator]
    with pytest.raises(DocumentError, match=problem):
        gb.generated_blocks(parse(body))


def test_a_team_page_gets_the_blocks_and_its_placeholders_filled() -> None:
    team = ("<p>Postmortem for {{ incident.id }} ({{incident.severity}}) &mdash; {{ unknown }}</p>"
            "<h2>Timeline</h2><p>Write your notes below.</p><h2>Numbers</h2><p>{{ metrics }}</p>"
            '<ac:structured-macro ac:name="code"><ac:plain-text-body><![CDATA[{{ incident.id }}]]>'
            "</ac:plain-text-body></ac:structured-macro>")
    merged = gb.insert_blocks(parse(team), parse(rendered()))
    filled = gb.fill_placeholders(merged, {"incident.id": "INC-<1>", "incident.severity": "SEV2"})
    assert filled.startswith("<p>Postmortem for INC-&lt;1&gt; (SEV2) &mdash; {{ unknown }}</p><h2>Timeline</h2>"
                             '<p><ac:structured-macro ac:name="anchor">')
    assert "<![CDATA[{{ incident.id }}]]>" in filled  # code is shown as written
    blocks = gb.generated_blocks(parse(filled))
    assert set(blocks) == {"timeline", "metrics"}
    assert "{{ metrics }}" not in filled and "<h2>Numbers</h2>" in filled
