"""Reading and editing Confluence storage format: a real XML parse with entities, tables with merged cells, macros
by what they show, mentions, dates, comment markers; edits that leave every other byte as saved."""

from __future__ import annotations

import pytest

from ops_postmortem.connectors.confluence import storage as st
from ops_postmortem.connectors.confluence.xhtml import parse, splice
from ops_postmortem.errors import DocumentError
from ops_postmortem.model import CellUpdate, DocRef, Person

REF = DocRef("confluence", "1", "https://acme.atlassian.net/wiki/pages/viewpage.action?pageId=1")
DANA = Person("Dana Kim", "dana@acme.test", "712020:dana")

PAGE = """<ac:layout><ac:layout-section ac:type="single"><ac:layout-cell>
<ul><li><strong>Incident:</strong> INC-7</li><li><strong>Severity:</strong> SEV1</li>
<li><strong>Status:</strong> <ac:structured-macro ac:name="status" ac:schema-version="1" ac:macro-id="a1">
<ac:parameter ac:name="colour">Yellow</ac:parameter><ac:parameter ac:name="title">In review</ac:parameter>
</ac:structured-macro></li>
<li><strong>Date:</strong> <time datetime="2026-11-03" /></li></ul>
<h2>Summary&nbsp;</h2>
<p>The deploy&rsquo;s pool max was 5 &amp; <a href="https://ci.acme.test/1">the pipeline</a> shows it.</p>
<h2>Action items</h2>
<table data-layout="default" ac:local-id="t1"><colgroup><col /><col /></colgroup><tbody>
<tr><th><p>Action</p></th><th><p>Owner</p></th><th><p>Due</p></th><th><p>Ticket</p></th></tr>
<tr><td rowspan="2"><p>Add the CI check</p></td>
<td><p><ac:link><ri:user ri:account-id="712020:dana" /></ac:link></p></td>
<td><p><time datetime="2026-11-20" /></p></td>
<td><p><ac:structured-macro ac:name="jira" ac:macro-id="j1"><ac:parameter ac:name="key">OPS-12</ac:parameter>
</ac:structured-macro> - Done</p></td></tr>
<tr><td colspan="2"><p>Shared <ac:inline-comment-marker ac:ref="m-1">owner and due</ac:inline-comment-marker></p></td>
<td><p /></td></tr>
</tbody></table>
<ac:structured-macro ac:name="code"><ac:plain-text-body><![CDATA[a <b> & ]]]]><![CDATA[> c]]></ac:plain-text-body>
</ac:structured-macro>
</ac:layout-cell></ac:layout-section></ac:layout>"""


def read(body: str, people: dict[st.UserRef, Person] | None = None) -> object:
    return st.to_document(parse(body), REF, title="INC-7: Pool exhaustion", people=people or {})


def test_a_page_reads_as_a_reader_sees_it() -> None:
    storage = parse(PAGE)
    assert st.user_refs(storage) == {("account-id", "712020:dana")}
    doc = st.to_document(storage, REF, title="INC-7: Pool exhaustion",
                         people={("account-id", "712020:dana"): DANA})
    assert (doc.title, doc.incident_id, doc.severity, doc.status) == ("Pool exhaustion", "INC-7", "SEV1", "In review")
    assert doc.incident_date is not None and doc.incident_date.isoformat() == "2026-11-03"
    summary = next(s for s in doc.sections if s.heading == "Summary")  # &nbsp; is a space, then stripped
    assert summary.text == "The deploy\u2019s pool max was 5 & the pipeline (https://ci.acme.test/1) shows it."
    table = doc.tables[0]
    assert table.heading == "Action items" and table.header == ("Action", "Owner", "Due", "Ticket")
    first, second = table.rows
    assert first[1].people == (DANA,) and first[1].text == "Dana Kim"
    assert first[2].date is not None and first[2].date.isoformat() == "2026-11-20"
    assert first[3].ticket_keys == ("OPS-12",) and first[3].text == "OPS-12 - Done"
    # rowspan repeats the action into the second row; colspan repeats the marked text across two columns
    assert second[0].text == "Add the CI check"
    assert second[1].text == second[2].text == "Shared owner and due"
    assert second[3].text == ""


def test_cloud_editor_nodes_read_once_from_their_content() -> None:
    body = ('<h2>Decisions</h2><ac:adf-extension><ac:adf-node type="decision-list">'
            '<ac:adf-attribute key="local-id">d1</ac:adf-attribute><ac:adf-content>'
            '<p>Roll back first, debug later</p></ac:adf-content></ac:adf-node>'
            "<ac:adf-fallback><ul><li>Roll back first, debug later</li></ul></ac:adf-fallback></ac:adf-extension>"
            '<ac:adf-extension><ac:adf-node type="panel"></ac:adf-node><ac:adf-fallback><table><tbody>'
            "<tr><th>Action</th><th>Owner</th></tr><tr><td>Alert on pool use</td><td>Dana</td></tr>"
            "</tbody></table></ac:adf-fallback></ac:adf-extension>")
    doc = read(body)
    assert doc.sections[0].text == "Roll back first, debug later"  # type: ignore[attr-defined]
    assert doc.tables[0].rows[0][0].text == "Alert on pool use"  # type: ignore[attr-defined]


def test_code_macros_read_verbatim_and_cdata_splits_join() -> None:
    doc = read(PAGE)
    assert any("a <b> & ]]> c" in s.text for s in doc.sections)


def test_malformed_storage_names_the_spot() -> None:
    with pytest.raises(DocumentError, match=r"not well-formed XHTML \(mismatched tag at line 2, column"):
        parse("<p>one</p>\n<p>two</b>")
    with pytest.raises(DocumentError, match="undefined entity"):
        parse("<p>&bogus;</p>")


def test_undeclared_prefixes_and_html_entities_parse() -> None:
    storage = parse('<p>&hellip;&copy;<at:var at:name="x" /></p>')
    assert storage.root.raw_text() == "\u2026\u00a9"


def test_offsets_point_at_the_exact_bytes() -> None:
    body = '<p a="x>y">héllo<br/><time datetime="2026-01-02"></time></p>'
    storage = parse(body)
    p, br, time = list(storage.root.iter())[1:]
    assert storage.slice(p.start, p.content_start) == '<p a="x>y">'
    assert storage.slice(br.start, br.end) == "<br/>"
    assert storage.slice(time.start, time.end) == '<time datetime="2026-01-02"></time>'
    assert splice(storage.data, [(br.start, br.end, "<br />")]) == body.replace("<br/>", "<br />")


def test_set_cells_rewrites_only_those_cells() -> None:
    updates = [CellUpdate(0, 0, 3, "OPS-13", "https://jira.acme.test/browse/OPS-13"),
               CellUpdate(0, 1, 1, "PM-2 <b> & co")]
    body = st.set_cells(PAGE, updates, lambda u: st.cell_markup(u.text, u.link))
    # The editor's <p> wrappers and the inline comment marker around the cell's text are kept.
    assert '<td><p><a href="https://jira.acme.test/browse/OPS-13">OPS-13</a></p></td>' in body
    assert '<td colspan="2"><p><ac:inline-comment-marker ac:ref="m-1">PM-2 &lt;b&gt; &amp; co' \
           "</ac:inline-comment-marker></p></td>" in body
    before, after = PAGE.split("<tr><td rowspan")[0], body.split("<tr><td rowspan")[0]
    assert before == after
    doc = read(body)
    assert doc.tables[0].rows[0][3].links == ("https://jira.acme.test/browse/OPS-13",)


def test_set_cells_refuses_cells_that_do_not_exist() -> None:
    with pytest.raises(DocumentError, match="has no table 3"):
        st.set_cells(PAGE, [CellUpdate(3, 0, 0, "x")], lambda u: u.text)
    with pytest.raises(DocumentError, match="no cell at row 5"):
        st.set_cells(PAGE, [CellUpdate(0, 5, 0, "x")], lambda u: u.text)


def test_set_status_replaces_the_lozenge_or_a_plain_value() -> None:
    body = st.set_status(PAGE, "Final")
    assert read(body).status == "Final"  # type: ignore[attr-defined]
    assert '<ac:parameter ac:name="colour">Green</ac:parameter>' in body
    plain = "<p>Status: Draft</p><h2>Summary</h2>"
    assert read(st.set_status(plain, "Final")).status == "Final"  # type: ignore[attr-defined]
    with pytest.raises(DocumentError, match="no Status line"):
        st.set_status("<h2>Summary</h2><p>Status: Draft</p>", "Final")


def test_fill_table_rows() -> None:
    body = "<h2>Review and sign-off</h2><table><tbody><tr><th>Reviewer</th><th>Role</th></tr>" \
           "<tr><td>Dana</td><td>SRE</td></tr><tr><td>Alex</td><td /></tr></tbody></table>"
    filled = st.fill_table_rows(body, 0, [["Dana Kim", "SRE"], ["Alex Chen"]])
    assert filled.endswith("<tr><td>Dana Kim</td><td>SRE</td></tr><tr><td>Alex Chen</td><td></td></tr>"
                           "</tbody></table>")
    empty = "<table><tbody><tr><th>Reviewer</th></tr></tbody></table>"
    assert st.fill_table_rows(empty, 0, [["Dana"]]) == \
        "<table><tbody><tr><th>Reviewer</th></tr><tr><td>Dana</td></tr></tbody></table>"


def test_page_titles_are_unique_per_incident_and_fit() -> None:
    assert st.page_title("INC-1", "Pool exhaustion") == "INC-1: Pool exhaustion"
    assert st.page_title("INC-1", "") == "INC-1"
    assert len(st.page_title("INC-1", "x" * 400)) == 255


def test_comment_bodies_read_as_plain_text() -> None:
    assert st.plain_text("<p>LGTM</p><p>with &lt;one&gt; note</p>") == "LGTM\nwith <one> note"
