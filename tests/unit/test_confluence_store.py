"""ConfluenceStore against the fake site, both flavours: call counts, idempotent creates, version-checked writes,
references in every URL form, people looked up once, comments and their states, properties and attachments."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ops_postmortem.actions import find_action_table
from ops_postmortem.connectors.confluence.store import ConfluenceStore, incident_label, tiny_to_id
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.errors import ConfigError, ConflictError, DocumentError, InputError, UsageError
from ops_postmortem.model import CellUpdate, Person, SignOff
from ops_postmortem.signoff import thread_open
from ops_postmortem.workflows.open import open_postmortem
from tests.contract.confluence_harness import ConfluenceHarness, harness, running_fake, settings_for
from tests.fakes.confluence import FakeConfluence, tiny
from tests.samples import example_timeline

ROWS = [["Add a CI check that rejects a DB pool max below 20", "prevent", "Priya Raman", "2026-11-24", "P1",
         "CI fails on max=5", ""]]


@pytest.fixture(params=["cloud", "datacenter"])
def site(request: pytest.FixtureRequest) -> Iterator[ConfluenceHarness]:
    yield from harness(request.param)


def store_for(fake: FakeConfluence, base: str, **settings: object) -> ConfluenceStore:
    options = {k: settings.pop(k) for k in ("template_dir", "jira_macro") if k in settings}
    return ConfluenceStore(settings_for(fake, base, **settings), retry=RetryPolicy(attempts=3, base=0.01),
                           **options)  # type: ignore[arg-type]


# ---- create and find --------------------------------------------------------------------------------


def test_create_is_one_request_with_labels_and_property(site: ConfluenceHarness) -> None:
    fake = site.fake
    before = len(fake.requests)
    ref = site.store.create(example_timeline())
    (post,) = fake.requests[before:]
    body = post.json()
    assert post.method == "POST" and post.path.endswith("/rest/api/content")
    assert [label["name"] for label in body["metadata"]["labels"]] == ["postmortem", "inc-2042", "sev2"]
    assert body["metadata"]["properties"]["ops-postmortem"]["value"]["incident"] == "INC-2042"
    assert body["ancestors"] == [{"id": fake.parent_id}] and body["space"] == {"key": "PM"}
    page = fake.pages[ref.id]
    assert page.title == "INC-2042: checkout-api: elevated 5xx on POST /v1/orders"
    assert ref.url.endswith(f"/pages/viewpage.action?pageId={ref.id}")


def test_opening_twice_finds_the_page(site: ConfluenceHarness) -> None:
    first = open_postmortem(site.store, example_timeline())
    before = len(site.fake.requests)
    second = open_postmortem(site.store, example_timeline())
    assert first.created and not second.created and second.ref == first.ref
    assert [r.method for r in site.fake.requests[before:]] == ["GET"]  # one CQL search
    assert len([p for p in site.fake.pages.values() if "postmortem" in p.labels]) == 1


def test_a_create_that_failed_after_committing_is_found_not_repeated(site: ConfluenceHarness) -> None:
    site.fake.fail_next(500, method="POST", path=r"/rest/api/content$", after=True)
    ref = site.store.create(example_timeline())
    assert len(site.fake.calls("POST")) == 1
    assert len([p for p in site.fake.pages.values() if "postmortem" in p.labels]) == 1
    assert site.store.find("INC-2042") == ref


def test_a_rate_limited_create_looks_up_then_creates_once(site: ConfluenceHarness) -> None:
    site.fake.fail_next(429, method="POST", path=r"/rest/api/content$", headers={"Retry-After": "0"})
    site.store.create(example_timeline())
    assert len(site.fake.calls("POST")) == 2
    assert len([p for p in site.fake.pages.values() if "postmortem" in p.labels]) == 1


def test_a_title_taken_by_another_incident_is_a_conflict(site: ConfluenceHarness) -> None:
    ref = site.store.create(example_timeline())
    site.fake.pages[ref.id].properties["ops-postmortem"].value = {"incident": "INC-1"}
    site.fake.pages[ref.id].labels = ["postmortem", "inc-1"]
    with pytest.raises(ConflictError, match="already exists in space PM for incident 'INC-1'"):
        site.store.create(example_timeline())


def test_find_checks_the_incident_behind_a_folded_label(site: ConfluenceHarness) -> None:
    ref = site.store.create(example_timeline("inc-2042"))
    assert site.store.find("inc-2042") == ref
    assert site.store.find("INC-2042") is None  # same label, another incident


def test_restrictions_to_groups_cost_one_more_call() -> None:
    with running_fake("cloud") as (fake, base):
        store = store_for(fake, base, read_groups=("sre",), edit_groups=("sre", "incident-leads"))
        before = len(fake.requests)
        ref = store.create(example_timeline())
        assert len(fake.requests) - before == 2
        assert fake.pages[ref.id].restrictions == {"read": ["sre"], "update": ["sre", "incident-leads"]}


def test_a_team_template_page_is_the_template() -> None:
    with running_fake("cloud") as (fake, base):
        team = fake._new_page("Postmortem template", "PM", None,
                              "<h1>{{ incident.id }}: {{ incident.title }}</h1><p>Severity: {{ incident.severity }}"
                              "</p><h2>What happened</h2><p>Fill in.</p><h2>Timeline</h2><h2>Action items</h2>"
                              "<table><tbody><tr><th>Action</th><th>Owner</th><th>Due</th><th>Ticket</th></tr>"
                              "</tbody></table><p>{{ metrics }}</p>", fake.bot.key)
        store = store_for(fake, base, template_page_id=team.id)
        before = len(fake.requests)
        ref = store.create(example_timeline())
        assert [r.method for r in fake.requests[before:]] == ["GET", "POST"]
        body = fake.pages[ref.id].body
        assert body.startswith("<h1>INC-2042: checkout-api: elevated 5xx on POST /v1/orders</h1>")
        doc = store.read(ref)
        assert doc.incident_id == "INC-2042" and doc.severity == "SEV2"
        timeline = next(t for t in doc.tables if t.header[0].startswith("Time"))
        assert timeline.heading == "Timeline" and len(timeline.rows) > 10
        assert find_action_table(doc)[0].header == ("Action", "Owner", "Due", "Ticket")
        assert store.refresh(ref, example_timeline()) is False


def test_a_broken_team_template_fails_before_anything_is_sent(tmp_path: Path) -> None:
    (tmp_path / "storage").mkdir()
    (tmp_path / "storage" / "postmortem.xml.j2").write_text("<p>{{ incident.title|cell }}<p>unclosed</p>")
    with running_fake("datacenter") as (fake, base):
        store = store_for(fake, base, template_dir=tmp_path)
        with pytest.raises(ConfigError, match="not well-formed XHTML"):
            store.create(example_timeline())
        assert fake.calls("POST") == []


# ---- references --------------------------------------------------------------------------------------


def test_every_url_form_and_the_id_locate_the_page(site: ConfluenceHarness) -> None:
    fake = site.fake
    ref = site.store.create(example_timeline())
    page = fake.pages[ref.id]
    links = fake.page_links(page)
    forms = [ref.url, ref.id, f"{fake.base}{links['webui']}", f"{fake.base}{links['tinyui']}",
             f"{fake.base}/pages/viewpage.action?pageId={ref.id}&focusedCommentId=1", "INC-2042"]
    for form in forms:
        assert site.store.locate(form) == ref, form


def test_foreign_and_unknown_references_are_one_line_errors(site: ConfluenceHarness) -> None:
    with pytest.raises(InputError, match="not a page on 127.0.0.1"):
        site.store.locate("https://evil.example.com/wiki/pages/viewpage.action?pageId=1")
    with pytest.raises(InputError, match="not a Confluence page address"):
        site.store.locate(f"{site.fake.base}/wiki/people")
    with pytest.raises(InputError, match="no postmortem for incident 'INC-9'"):
        site.store.locate("INC-9")
    with pytest.raises(InputError, match="not a Confluence page address"):
        site.store.locate(f"{site.fake.base}/x/A")


def test_a_number_is_a_page_id_or_else_an_incident_id(site: ConfluenceHarness) -> None:
    ref = site.store.create(example_timeline("2042"))
    assert site.store.locate("2042") == ref
    assert site.store.locate(ref.id) == ref


def test_tiny_links_decode() -> None:
    for page_id in (1, 65537, 123456789, 2**40 + 7):
        assert tiny_to_id(tiny(page_id)) == page_id


def test_labels_fold_incident_ids() -> None:
    assert incident_label("INC 2042") == "inc-2042"
    assert incident_label("PD:Q1ABC/x") == "pd-q1abc-x"


# ---- reading -----------------------------------------------------------------------------------------


def test_mentions_and_dates_in_cells_read_as_people_and_dates(site: ConfluenceHarness) -> None:
    fake, store = site.fake, site.store
    ref = store.create(example_timeline())
    dana, priya = fake.user_named("Dana Kim"), fake.user_named("Priya Raman")
    attribute = "ri:account-id" if fake.cloud else "ri:userkey"

    def mention(user: object) -> str:
        value = user.key if fake.cloud else user.userkey  # type: ignore[attr-defined]
        return f'<ac:link><ri:user {attribute}="{value}" /></ac:link>'

    fake.human_fill_table(ref.id, "Action", [
        ["Page on saturation", "detect", mention(dana), '<time datetime="2026-11-20" />', "P1", "alert fires", ""],
        ["Pool check in CI", "prevent", mention(priya), "Nov 24, 2026", "P1", "CI fails", ""],
    ])
    before = len(fake.requests)
    doc = store.read(ref)
    table, mapping = find_action_table(doc)
    owner = mapping["owner"]
    assert [row[owner].text for row in table.rows] == ["Dana Kim", "Priya Raman"]
    people = [row[owner].people[0] for row in table.rows]
    assert [p.name for p in people] == ["Dana Kim", "Priya Raman"]
    if fake.cloud:
        assert people[0].email == "dana@acme.test" and people[1].email is None  # Priya hides her e-mail
    assert table.rows[0][mapping["due"]].date == datetime(2026, 11, 20).date()
    lookups = len(fake.requests) - before - 1
    assert lookups == (1 if fake.cloud else 2)  # one bulk call on Cloud; one per user on Data Center
    before = len(fake.requests)
    store.read(ref)
    assert len(fake.requests) - before == 1  # names are asked for once per run


def test_read_gives_revision_and_modification_time(site: ConfluenceHarness) -> None:
    ref = site.store.create(example_timeline())
    doc = site.store.read(ref)
    assert doc.revision == "1" and doc.modified_at is not None and doc.modified_at.tzinfo is not None
    site.human_edit(ref, "Summary", "Summary of events")
    later = site.store.read(ref)
    assert later.revision == "2" and later.modified_at is not None and later.modified_at > doc.modified_at


# ---- writing -----------------------------------------------------------------------------------------


def test_refresh_retries_when_someone_saves_in_between(site: ConfluenceHarness) -> None:
    fake, store = site.fake, site.store
    ref = store.create(example_timeline(slack=False))
    fake.before_next("PUT", rf"/rest/api/content/{ref.id}$",
                     lambda: fake.human_edit(ref.id, "TODO(authors): what helped: tools, alerts, runbooks, decisions?",
                                             "The rollback runbook."))
    assert store.refresh(ref, example_timeline()) is True
    puts = fake.calls("PUT", rf"/rest/api/content/{ref.id}$")
    assert len(puts) == 2  # the first got 409, the second went on top of the person's save
    body = fake.pages[ref.id].body
    assert "The rollback runbook." in body and "Error rate back under 0.1% - mitigated." in body


def test_refresh_is_not_fooled_by_the_editor_rewriting_markup(site: ConfluenceHarness) -> None:
    ref = site.store.create(example_timeline())
    site.fake.human_save(ref.id, site.fake.pages[ref.id].body)  # Cloud's editor wraps every cell in <p>
    assert site.store.refresh(ref, example_timeline()) is False
    assert len(site.fake.calls("PUT")) == 0


def test_update_cells_checks_the_revision(site: ConfluenceHarness) -> None:
    ref = site.store.create(example_timeline())
    site.fill_action_items(ref, ROWS)
    doc = site.store.read(ref)
    table, mapping = find_action_table(doc)
    site.human_edit(ref, "Summary", "Summary of events")
    with pytest.raises(ConflictError, match="changed since it was read"):
        site.store.update_cells(ref, [CellUpdate(table.index, 0, mapping["ticket"], "OPS-1")], revision=doc.revision)


def test_a_save_between_read_and_write_is_a_conflict(site: ConfluenceHarness) -> None:
    fake = site.fake
    ref = site.store.create(example_timeline())
    site.fill_action_items(ref, ROWS)
    doc = site.store.read(ref)
    table, mapping = find_action_table(doc)
    fake.before_next("PUT", rf"/rest/api/content/{ref.id}$", lambda: fake.human_edit(ref.id, "Summary", "Sum"))
    with pytest.raises(ConflictError, match="changed while we were writing it"):
        site.store.update_cells(ref, [CellUpdate(table.index, 0, mapping["ticket"], "OPS-1")], revision=doc.revision)
    assert "OPS-1" not in fake.pages[ref.id].body


def test_ticket_cells_show_jira_macros_when_jira_is_the_tracker() -> None:
    with running_fake("cloud") as (fake, base):
        store = store_for(fake, base, jira_macro=True)
        ref = store.create(example_timeline())
        fake.human_fill_table(ref.id, "Action", [[html.escape(c) for c in row] for row in ROWS])
        table, mapping = find_action_table(store.read(ref))
        store.update_cells(ref, [CellUpdate(table.index, 0, mapping["ticket"], "OPS-12 - In Progress",
                                            "https://acme.atlassian.net/browse/OPS-12")])
        assert '<ac:parameter ac:name="key">OPS-12</ac:parameter>' in fake.pages[ref.id].body
        cell = find_action_table(store.read(ref))[0].rows[0][mapping["ticket"]]
        assert cell.ticket_keys == ("OPS-12",) and cell.text == "OPS-12 - In Progress"


def test_a_comment_on_a_ticket_cell_stays_anchored(site: ConfluenceHarness) -> None:
    fake = site.fake
    ref = site.store.create(example_timeline())
    site.fill_action_items(ref, [ROWS[0][:6] + ["to be filed"]])
    comment = fake.human_comment(ref.id, "Dana Kim", "Which project?", quote="to be filed")
    table, mapping = find_action_table(site.store.read(ref))
    site.store.update_cells(ref, [CellUpdate(table.index, 0, mapping["ticket"], "OPS-3")])
    assert f'ac:ref="{comment.marker}">OPS-3</ac:inline-comment-marker>' in fake.pages[ref.id].body
    assert fake.comments[comment.id].resolution == "open"  # not dangling


def test_finalize_writes_mentions_for_people_confluence_knows(site: ConfluenceHarness) -> None:
    fake, store = site.fake, site.store
    ref = store.create(example_timeline())
    dana = fake.user_named("Dana Kim")
    store.comments(ref)
    fake.human_comment(ref.id, "Dana Kim", "LGTM")
    author = store.comments(ref)[0].author  # known to the store now, by account id or username
    at = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)
    store.finalize(ref, [SignOff(author, "approved", at=at), SignOff(Person("Alex Chen"), "approved", at=at)])
    body = fake.pages[ref.id].body
    attribute = "ri:account-id" if fake.cloud else "ri:username"
    assert f'<ri:user {attribute}="{dana.key}" />' in body
    table = next(t for t in store.read(ref).tables if t.header[0] == "Reviewer")
    assert [(r[0].text, r[2].text, r[3].text) for r in table.rows] == [
        ("Dana Kim", "Approved", "2026-11-06"), ("Alex Chen", "Approved", "2026-11-06")]


# ---- comments ----------------------------------------------------------------------------------------


def test_threads_with_replies_states_and_authors(site: ConfluenceHarness) -> None:
    fake, store = site.fake, site.store
    ref = store.create(example_timeline())
    inline = fake.human_comment(ref.id, "Alex Chen", "Which alert?", quote="Detected at")
    footer = fake.human_comment(ref.id, "Dana Kim", "Please add the graph")
    reply = fake.human_reply(footer.id, "Priya Raman", "Added")
    assert reply is not None
    nested = fake._new_comment(ref.id, reply.id, "footer", "<p>Reopened: the link is broken</p>",
                               fake.user_named("Dana Kim").key)
    fake.human_reply(inline.id, "Priya Raman", "Alertmanager", action="resolve")
    threads = {c.id: c for c in store.comments(ref)}
    assert threads[inline.id].kind == "inline" and threads[inline.id].quote == "Detected at"
    assert threads[inline.id].resolved and not thread_open(threads[inline.id])
    assert threads[inline.id].author.name == "Alex Chen"
    account = fake.user_named("Alex Chen").key
    assert threads[inline.id].author.account_id == account  # account id on Cloud, username on Data Center
    replies = threads[footer.id].replies
    assert [r.id for r in replies] == [reply.id, nested.id] and replies[1].action == "reopen"
    assert thread_open(threads[footer.id])


def test_a_dangling_thread_counts_as_closed(site: ConfluenceHarness) -> None:
    fake = site.fake
    ref = site.store.create(example_timeline())
    comment = fake.human_comment(ref.id, "Alex Chen", "Wrong time?", quote="Detected at")
    body = fake.pages[ref.id].body
    start = body.index("<ac:inline-comment-marker")
    end = body.index("</ac:inline-comment-marker>") + len("</ac:inline-comment-marker>")
    fake.human_save(ref.id, body[:start] + "First noticed at" + body[end:])
    assert fake.comments[comment.id].resolution == "dangling"
    thread = next(c for c in site.store.comments(ref) if c.id == comment.id)
    assert not thread_open(thread)


def test_our_comments_resolve_and_reopen(site: ConfluenceHarness) -> None:
    fake, store = site.fake, site.store
    ref = store.create(example_timeline())
    inline = store.add_comment(ref, "Say which alert fired first", quote="Detected at")
    assert inline.kind == "inline" and fake.comments[inline.id].location == "inline"
    store.reply(ref, inline.id, "done", action="resolve")
    assert fake.comments[inline.id].resolution == "resolved"
    store.reply(ref, inline.id, "", action="reopen")
    assert fake.comments[inline.id].resolution == "reopened"
    footer = store.add_comment(ref, "2 action items cannot be ticketed yet")
    store.reply(ref, footer.id, "noted", action="resolve")
    thread = next(c for c in store.comments(ref) if c.id == footer.id)
    assert thread.replies[-1].text == "Resolved: noted" and not thread_open(thread)
    assert thread.author.name == "ops-postmortem"


def test_comment_errors_are_one_line(site: ConfluenceHarness) -> None:
    ref = site.store.create(example_timeline())
    with pytest.raises(InputError, match="the quoted text is not in the page"):
        site.store.add_comment(ref, "x", quote="no such words")
    with pytest.raises(UsageError, match="no comment 'c1'"):
        site.store.reply(ref, "c1", "x")
    with pytest.raises(UsageError, match="no comment '424242'"):
        site.store.reply(ref, "424242", "x")


def test_cloud_reads_comments_through_v2_with_a_body_format() -> None:
    with running_fake("cloud") as (fake, base):
        store = store_for(fake, base)
        ref = store.create(example_timeline())
        fake.human_comment(ref.id, "Dana Kim", "LGTM")
        store.comments(ref)
        lists = fake.calls("GET", r"/wiki/api/v2/pages/\d+/(footer|inline)-comments$")
        assert len(lists) == 2 and all(r.query["body-format"] == ["storage"] for r in lists)
        assert fake.calls("GET", r"/child/comment") == []


def test_data_center_reads_comments_through_v1_child_comments() -> None:
    with running_fake("datacenter") as (fake, base):
        store = store_for(fake, base)
        ref = store.create(example_timeline())
        fake.human_comment(ref.id, "Dana Kim", "LGTM")
        before = len(fake.requests)
        assert [c.text for c in store.comments(ref)] == ["LGTM"]
        (call,) = fake.requests[before:]
        assert call.path.endswith(f"/rest/api/content/{ref.id}/child/comment")
        assert call.query["depth"] == ["all"]
        assert "extensions.inlineProperties" in call.query["expand"][0]


# ---- sync --------------------------------------------------------------------------------------------


def test_changed_since_is_one_search(site: ConfluenceHarness) -> None:
    fake, store = site.fake, site.store
    ref = store.create(example_timeline())
    before = len(fake.requests)
    changes = store.changed_since(None)
    assert [c.ref for c in changes] == [ref] and len(fake.requests) - before == 1
    later = datetime.now(UTC) + timedelta(minutes=30)
    before = len(fake.requests)
    assert store.changed_since(later) == []
    (search,) = fake.requests[before:]
    assert 'lastmodified >= now("-' in search.query["cql"][0] and 'label = "postmortem"' in search.query["cql"][0]


def test_syncing_many_unchanged_pages_costs_one_call() -> None:
    with running_fake("cloud", page_size=25) as (fake, base):
        store = store_for(fake, base)
        for n in range(300):
            page = fake._new_page(f"INC-{n}: old", "PM", fake.parent_id, "<p>x</p>", fake.bot.key)
            page.labels += ["postmortem", f"inc-{n}"]
            page.when = datetime.now(UTC) - timedelta(days=3)
        before = len(fake.requests)
        assert store.changed_since(datetime.now(UTC) - timedelta(hours=1)) == []
        assert len(fake.requests) - before == 1


def test_a_late_indexed_change_just_before_the_cursor_is_still_found(site: ConfluenceHarness) -> None:
    ref = site.store.create(example_timeline())
    cursor = datetime.now(UTC) + timedelta(minutes=2)  # the page was written "before" this cursor
    assert [c.ref for c in site.store.changed_since(cursor)] == [ref]


# ---- properties and evidence ---------------------------------------------------------------------


def test_properties_survive_a_concurrent_writer(site: ConfluenceHarness) -> None:
    fake, store = site.fake, site.store
    ref = store.create(example_timeline())
    prop = fake.pages[ref.id].properties["ops-postmortem"]

    def other_runner() -> None:
        prop.value = {**prop.value, "properties": {"reminded-pmai-1": "2026-11-07"}}
        prop.version += 1

    fake.before_next("PUT", r"/property/ops-postmortem$", other_runner)
    store.set_properties(ref, {"published": "2026-11-06"})
    assert store.properties(ref) == {"published": "2026-11-06", "reminded-pmai-1": "2026-11-07"}
    assert prop.value["incident"] == "INC-2042"  # the incident stays with the page


def test_evidence_goes_into_attachments_and_updates_in_place(site: ConfluenceHarness) -> None:
    fake, store = site.fake, site.store
    ref = store.create(example_timeline())
    where = store.archive(ref, {"pagerduty/log_entries-1.json": b"[]", "slack.json": b"{}"})
    assert where[0].endswith(f"/download/attachments/{ref.id}/pagerduty__log_entries-1.json")
    store.archive(ref, {"pagerduty/log_entries-1.json": json.dumps([1]).encode()})
    attachments = fake.pages[ref.id].attachments
    assert set(attachments) == {"pagerduty__log_entries-1.json", "slack.json"}
    assert attachments["pagerduty__log_entries-1.json"].version == 2
    assert attachments["pagerduty__log_entries-1.json"].data == b"[1]"
    with pytest.raises(InputError):
        store.archive(ref, {"../escape.json": b""})


def test_document_errors_name_the_page(site: ConfluenceHarness) -> None:
    ref = site.store.create(example_timeline())
    body = site.fake.pages[ref.id].body
    site.fake.human_save(ref.id, body.replace("ops-postmortem:generated:end timeline", "end"))
    with pytest.raises(DocumentError, match=r"pageId=\d+: the generated section 'timeline' has lost its end"):
        site.store.refresh(ref, example_timeline())


def test_a_jira_macro_cell_keeps_the_status_written_after_it() -> None:
    from ops_postmortem.actions import read_items
    from ops_postmortem.dates import DateParser

    with running_fake("datacenter") as (fake, base):
        store = store_for(fake, base, jira_macro=True)
        ref = store.create(example_timeline())
        fake.human_fill_table(ref.id, "Action", [[html.escape(c) for c in row] for row in ROWS])
        table, mapping = find_action_table(store.read(ref))
        store.update_cells(ref, [CellUpdate(table.index, 0, mapping["ticket"], "OPS-12 - Done")])
        table, mapping = find_action_table(store.read(ref))
        (item,) = read_items(table, mapping, DateParser())
        assert item.ticket is not None and (item.ticket.key, item.ticket.status) == ("OPS-12", "Done")
