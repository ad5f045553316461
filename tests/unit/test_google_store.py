"""GoogleDocsStore through the real google-api-python-client against the fake Google: call counts, template docs,
sharing, the read path for chips and merges, conflicts, retries and rate limits, comments, properties, evidence."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from ops_postmortem.actions import find_action_table, read_items
from ops_postmortem.connectors.google.api import GoogleApi
from ops_postmortem.connectors.google.auth import load_credentials, scopes
from ops_postmortem.connectors.google.store import GoogleDocsStore, Sharing
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.connectors.local.tracker import LocalTracker
from ops_postmortem.dates import DateParser
from ops_postmortem.errors import (
    AuthError,
    ConfigError,
    ConflictError,
    InputError,
    NotFoundError,
    RateLimitedError,
    ServiceError,
    UsageError,
)
from ops_postmortem.model import CellUpdate, DocRef, Kind, Ticket, TicketFailure, TicketRequest, TimelineEvent
from ops_postmortem.people import Directory, DirectoryEntry
from ops_postmortem.signoff import thread_open
from ops_postmortem.workflows.extract import ExtractSettings, extract
from tests.contract.google_harness import BOT, google_api
from tests.fakes.google import DOC_MIME, FakeGoogle, FileRecord, fake_google, tls_files
from tests.samples import example_timeline, hostile_timeline

ROWS = [
    ["Add a CI check that rejects a DB pool max below 20", "prevent", "Dana Kim", "2026-11-24", "P1",
     "CI fails on max=5", ""],
    ["Page on DB saturation above 90% for 2m", "detect", "Dana Kim", "2026-11-20", "P1", "alert fires in a test", ""],
]
TEMPLATE = """<h1>{{title}}</h1>
<table><tr><td>Incident</td><td>{{incident_id}}</td></tr><tr><td>Severity</td><td>{{severity}}</td></tr></table>
<p>Status: {{status}}</p><p>Date: {{date}}</p><p>Owners: {{authors}}</p>
<h2>What happened</h2><p>Our words stay.</p>
<h2>Timeline</h2><p>{{timeline}}</p>
<h2>Key metrics</h2><p>{{metrics}}</p>
<h2>Follow-ups</h2><p>{{action_items}}</p>
<h2>Sign-off</h2><p>{{reviewers_table}}</p>
"""


@dataclass
class Env:
    fake: FakeGoogle
    key: Path
    folder: str

    def store(self, *, template: bool = False, **options: object) -> GoogleDocsStore:
        return GoogleDocsStore(google_api(self.fake, self.key, template=template), folder_id=self.folder,
                               **options)  # type: ignore[arg-type]

    def since(self, n: int) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.fake.requests[n:] if r.path != "/token"]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with fake_google() as fake:
        key = fake.service_account(tmp_path)
        yield Env(fake, key, fake.folder("Postmortems", shared={BOT: "writer"}))


def test_create_is_one_upload_of_html_converted_in_the_folder(env: Env) -> None:
    store = env.store()
    before = len(env.fake.requests)
    ref = store.create(example_timeline())
    assert env.since(before) == [("POST", "/upload/drive/v3/files")]
    upload = env.fake.requests[before:][-1]
    assert upload.query["uploadType"] == ["multipart"] and upload.query["supportsAllDrives"] == ["true"]
    record = env.fake.files[ref.id]
    assert record.mime == DOC_MIME and record.parents == [env.folder]
    assert record.app_properties["opspm_incident"] == "INC-2042" and record.app_properties["opspm"] == "postmortem"
    assert record.app_properties["opspm_gen_timeline"].endswith(" Timeline")


def test_sharing_is_one_call_and_never_anyone(env: Env) -> None:
    one = env.store(sharing=Sharing.parse("acme.test", (), "test"))
    before = len(env.fake.requests)
    ref = one.create(example_timeline())
    assert env.since(before)[1:] == [("POST", f"/drive/v3/files/{ref.id}/permissions")]
    assert env.fake.files[ref.id].shared == {"domain:acme.test": "commenter"}
    several = env.store(sharing=Sharing.parse(None, ("group:sre@acme.test=writer", "reviewers", "ops@acme.test"),
                                              "test"))
    before = len(env.fake.requests)
    ref = several.create(example_timeline("INC-2043"))
    assert env.since(before)[1:] == [("POST", "/batch/drive/v3")]
    assert env.fake.files[ref.id].shared == {"sre@acme.test": "writer", "dana@acme.test": "commenter",
                                             "alex@acme.test": "commenter", "ops@acme.test": "commenter"}
    assert {n["to"] for n in env.fake.notifications} == {"dana@acme.test", "alex@acme.test"}
    for bad in ("anyone", "anyoneWithLink", "group:x@acme.test=owner", "sre"):
        with pytest.raises(ConfigError):
            Sharing.parse(None, (bad,), "postmortem.toml [google] share_with")


def test_a_create_committed_then_answered_500_is_not_made_twice(env: Env) -> None:
    store = env.store()
    env.fake.fail_next(500, path="/upload/drive/v3/files", after=True)
    ref = store.create(example_timeline())
    docs = [f for f in env.fake.files.values() if f.app_properties.get("opspm_incident") == "INC-2042"]
    assert [d.id for d in docs] == [ref.id]
    assert len(env.fake.calls("POST", "/upload/drive/v3/files")) == 1  # looked up, found, not sent again


def test_retries_honour_retry_after_and_stop(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setenv("HTTPLIB2_CA_CERTS", str(tls_files()[0]))
    api = GoogleApi(load_credentials(env.key, scopes(template=False)), docs_endpoint=f"{env.fake.base}/",
                    drive_endpoint=f"{env.fake.base}/drive/v3/", retry=RetryPolicy(attempts=3, sleep=waits.append))
    store = GoogleDocsStore(api, folder_id=env.folder)
    ref = store.create(example_timeline())
    env.fake.rate_limit(status=429, retry_after="7", path="/v1/documents")
    env.fake.rate_limit(status=403, reason="userRateLimitExceeded", retry_after="2", path="/drive/v3/files/")
    assert store.read(ref).incident_id == "INC-2042"
    assert waits == [7.0, 2.0]
    env.fake.rate_limit(status=403, reason="rateLimitExceeded", retry_after="1", path="/drive/v3/files", times=3)
    with pytest.raises(RateLimitedError):
        store.find("INC-2042")
    assert waits[2:] == [1.0, 1.0]
    env.fake.fail_next(403, path="/drive/v3/files", body={"error": {"code": 403, "message": "The caller does not "
                       "have permission", "errors": [{"reason": "insufficientFilePermissions"}]}})
    before = len(env.fake.requests)
    with pytest.raises(AuthError):
        store.find("INC-2042")
    assert len(env.since(before)) == 1  # not worth retrying
    env.fake.fail_next(503, path="/v1/documents", times=3)
    with pytest.raises(ServiceError) as failed:
        store.read(ref)
    assert failed.value.status == 503 and failed.value.retriable


def test_not_found_names_the_account_and_drive_file_sees_only_our_docs(env: Env) -> None:
    store = env.store()
    with pytest.raises(NotFoundError) as missing:
        store.read(DocRef("google", "1" + "x" * 43, "https://docs.google.com/document/d/1xxx/edit"))
    assert str(missing.value).startswith(
        "google: document not found, or not shared with postmortem-bot@acme-ops.iam.gserviceaccount.com")
    by_hand = env.fake.document("<h1>Postmortem: by hand</h1>", shared={BOT: "writer"})
    with pytest.raises(NotFoundError):
        store.locate(f"https://docs.google.com/document/d/{by_hand}/edit")


def test_a_team_template_is_copied_and_filled_in_one_batch_update(env: Env) -> None:
    template = env.fake.document(TEMPLATE, name="Postmortem template", shared={BOT: "reader"})
    literal = TimelineEvent(example_timeline().events[0].at + timedelta(seconds=1), "slack", Kind.MESSAGE,
                            "paste: {{severity}} {{timeline}} <b>x</b>", ident="1.2")
    timeline = example_timeline(slack=False)
    timeline = replace(timeline, events=(*timeline.events, literal))
    with pytest.raises(NotFoundError, match="not shared with"):  # drive.file alone cannot read a doc made by hand
        env.store(template_doc_id=template).create(timeline)
    store = env.store(template=True, template_doc_id=template)
    before = len(env.fake.requests)
    ref = store.create(timeline)
    assert env.since(before) == [("GET", f"/v1/documents/{template}"), ("POST", f"/drive/v3/files/{template}/copy"),
                                 ("POST", f"/v1/documents/{ref.id}:batchUpdate")]
    text = env.fake.doc_text(ref.id)
    assert "{{title}}" not in text and "{{incident_id}}" not in text and "Our words stay." in text
    assert "Status: Draft" in text and "Owners: Priya Raman" in text
    doc = store.read(ref)
    assert doc.incident_id == "INC-2042" and doc.status == "Draft"
    cells = next(t for t in doc.tables if t.header and t.header[0] == "Incident")
    assert cells.rows[0][1].text == "SEV2"
    events = next(t for t in doc.tables if t.header and t.header[0] == "Time (UTC)")
    assert any(row[2].text == "paste: {{severity}} {{timeline}} <b>x</b>" for row in events.rows)
    assert find_action_table(doc)[0].heading == "Follow-ups"
    assert [r[0].text for r in next(t for t in doc.tables if t.header[0] == "Reviewer").rows] == ["Dana Kim",
                                                                                                 "Alex Chen"]
    assert store.refresh(ref, timeline) is False  # the stored digests match what the fill produced
    assert store.refresh(ref, example_timeline()) is True
    assert "Our words stay." in env.fake.doc_text(ref.id)


def test_a_template_fill_without_an_answer_is_looked_at_before_it_is_sent_again(env: Env) -> None:
    template = env.fake.document(TEMPLATE, name="Postmortem template", shared={BOT: "reader"})
    store = env.store(template=True, template_doc_id=template)
    env.fake.fail_next(500, path=":batchUpdate", after=True)  # applied, then the answer is lost
    ref = store.create(example_timeline())
    assert len(env.fake.calls("POST", f"{ref.id}:batchUpdate")) == 1
    assert env.fake.doc_text(ref.id).count("Time (UTC)") == 1
    env.fake.fail_next(503, path=":batchUpdate")  # refused before applying
    again = store.create(example_timeline("INC-2043"))
    assert len(env.fake.calls("POST", f"{again.id}:batchUpdate")) == 2
    assert "{{timeline}}" not in env.fake.doc_text(again.id)


def test_chips_suggestions_merges_and_tabs_are_read(env: Env) -> None:
    store = env.store()
    ref = store.create(example_timeline())
    env.fake.ui_fill_table(ref.id, "Action", [ROWS[0]])
    table = next(i for i, t in enumerate(env.fake.tables(ref.id)) if t.rows[0][0].content[0].ch == "A")
    env.fake.ui_set_cell(ref.id, table, 1, 2, [{"person": {"personId": "p1", "personProperties": {
        "name": "José Núñez", "email": "jose@acme.test"}}}])
    env.fake.ui_set_cell(ref.id, table, 1, 3, [{"dateElement": {"dateId": "d1", "dateElementProperties": {
        "timestamp": "2026-11-21T00:00:00Z", "displayText": "Nov 21, 2026"}}}])
    env.fake.ui_set_cell(ref.id, table, 1, 6, [{"richLink": {"richLinkId": "r1", "richLinkProperties": {
        "title": "OPS-9", "uri": "https://acme.atlassian.net/browse/OPS-9"}}}])
    env.fake.ui_set_cell(ref.id, table, 1, 0, ["Add a CI check ", ("suggest", "(maybe) "), "for the pool"])
    reviewers = len(env.fake.tables(ref.id)) - 1
    env.fake.ui_merge(ref.id, reviewers, 1, 2, columns=2)
    env.fake.ui_add_tab(ref.id, "Appendix", "<h2>Appendix</h2><p>Raw notes.</p>")
    doc = store.read(ref)
    action_table, mapping = find_action_table(doc)
    item = read_items(action_table, mapping, DateParser())[0]
    assert item.action == "Add a CI check for the pool"
    assert item.owner_person is not None and item.owner_person.email == "jose@acme.test"
    assert item.due == date(2026, 11, 21) and item.ticket is not None and item.ticket.key == "OPS-9"
    sign = next(t for t in doc.tables if t.header[0] == "Reviewer")
    assert sign.rows[0][2].text == sign.rows[0][3].text == "pending"
    assert doc.sections[-1].heading == "Appendix" and doc.sections[-1].text == "Raw notes."


class EditingTracker:
    """A tracker during whose ticket creation a person edits the doc: the write-back must conflict and re-apply."""

    kind = "local"

    def __init__(self, inner: LocalTracker, edit: object) -> None:
        self.inner = inner
        self.edit = edit

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def create(self, requests: Sequence[TicketRequest]) -> Sequence[Ticket | TicketFailure]:
        created = self.inner.create(requests)
        self.edit()  # type: ignore[operator]
        return created


def test_write_back_is_one_guarded_batch_update_and_a_conflict_is_re_read(env: Env, tmp_path: Path) -> None:
    store = env.store()
    ref = store.create(example_timeline())
    env.fake.ui_fill_table(ref.id, "Action", ROWS)
    doc = store.read(ref)
    env.fake.ui_replace(ref.id, "Summary", "Summary of events")
    table, mapping = find_action_table(doc)
    with pytest.raises(ConflictError):
        store.update_cells(ref, [CellUpdate(table.index, 0, mapping["ticket"], "OPS-1")], revision=doc.revision)
    people = Directory([DirectoryEntry("Dana Kim", "dana@acme.test")])
    tracker = EditingTracker(LocalTracker(tmp_path / "tickets.db", directory=people),
                             lambda: env.fake.ui_replace(ref.id, "Lessons learned", "Lessons"))
    before = len(env.fake.requests)
    result = extract(store, tracker, ref, ExtractSettings(comment_on_invalid=False),  # type: ignore[arg-type]
                     as_of=date(2026, 11, 10))
    assert [r.ticket.key for r in result.items if r.ticket] == ["PM-1", "PM-2"]
    writes = [r for r in env.fake.requests[before:] if r.path.endswith(":batchUpdate")]
    assert len(writes) == 2  # refused on the stale revision, then re-read and applied
    table, mapping = find_action_table(store.read(ref))
    assert [row[mapping["ticket"]].text for row in table.rows] == ["PM-1", "PM-2"]


def test_comments_every_page_deleted_skipped_authors_without_email(env: Env) -> None:
    store = env.store()
    ref = store.create(example_timeline())
    env.fake.person("dana@acme.test", "Dana Kim")
    for n in range(130):
        env.fake.ui_comment(ref.id, "dana@acme.test", f"note {n}")
    gone = env.fake.ui_comment(ref.id, "dana@acme.test", "deleted later")
    env.fake.ui_delete_comment(ref.id, gone)
    thread = env.fake.ui_comment(ref.id, "dana@acme.test", "Say which alert fired", quote="Detected at")
    env.fake.ui_reply(ref.id, thread, "dana@acme.test", "", action="resolve")
    env.fake.ui_reply(ref.id, thread, "dana@acme.test", "still unclear", action="reopen")
    before = len(env.fake.requests)
    comments = store.comments(ref)
    assert len(env.since(before)) == 2  # two pages of 100
    assert len(comments) == 131 and gone not in {c.id for c in comments}
    assert all(c.author.email is None and c.author.name == "Dana Kim" for c in comments)
    last = comments[-1]
    assert last.quote == "Detected at" and thread_open(last)
    ours = store.add_comment(ref, "2 action items cannot be ticketed yet")
    assert ours.author.email == BOT
    reply = store.reply(ref, ours.id, "", action="resolve")
    assert reply.action == "resolve"
    with pytest.raises(UsageError, match="posts comments as the account"):
        store.add_comment(ref, "LGTM", author="Dana Kim")
    with pytest.raises(InputError, match="quoted text is not in the doc"):
        store.add_comment(ref, "typo", quote="words nobody wrote")
    # Drive v3 refuses comment calls without `fields`: the fake does too.
    from googleapiclient.errors import HttpError

    with pytest.raises(HttpError) as refused:
        store.api.comments.list(fileId=ref.id).execute()
    assert refused.value.resp.status == 400 and b"'fields' parameter is required" in refused.value.content


def test_properties_and_evidence_archive(env: Env) -> None:
    store = env.store()
    ref = store.create(example_timeline())
    store.set_properties(ref, {"published": "2026-11-06"})
    assert store.properties(ref) == {"published": "2026-11-06"}
    with pytest.raises(InputError, match="reserved"):
        store.set_properties(ref, {"opspm_incident": "x"})
    with pytest.raises(InputError, match="too long"):
        store.set_properties(ref, {"note": "x" * 200})
    first = store.archive(ref, {"pagerduty/log_entries-1.json": b"[]"})
    second = store.archive(ref, {"slack/history.json": b"{}"})
    archives = [f for f in env.fake.files.values() if f.app_properties.get("opspm_evidence_for") == ref.id]
    assert len(archives) == 1 and archives[0].parents == [env.folder]
    with zipfile.ZipFile(io.BytesIO(archives[0].content)) as z:
        assert sorted(z.namelist()) == ["pagerduty/log_entries-1.json", "slack/history.json"]
    assert first[0].endswith("#pagerduty/log_entries-1.json") and archives[0].id in second[0]
    assert [c.ref.id for c in store.changed_since(None)] == [ref.id]  # the archive is not a postmortem
    with pytest.raises(InputError):
        store.archive(ref, {"../x": b""})


def test_changed_since_reads_every_page(env: Env) -> None:
    store = env.store()
    for n in range(1001):
        record = FileRecord(env.fake.new_id(), f"Postmortem INC-{n}", DOC_MIME, BOT, "2026-11-01T10:00:00.000Z",
                            "2026-11-01T10:00:00.000Z", [env.folder], {"opspm": "postmortem"}, via_api=True)
        env.fake.files[record.id] = record
    before = len(env.fake.requests)
    assert len(store.changed_since(None)) == 1001
    assert len(env.since(before)) == 2


def test_chat_text_never_becomes_markup_or_links(env: Env) -> None:
    store = env.store()
    ref = store.create(hostile_timeline())
    document = env.fake.document_json(ref.id)
    links, headings = [], []

    def walk(content: list[dict[str, object]]) -> None:
        for element in content:
            if "paragraph" in element:
                paragraph = element["paragraph"]
                assert isinstance(paragraph, dict)
                if paragraph["paragraphStyle"]["namedStyleType"] != "NORMAL_TEXT":
                    headings.append("".join(e["textRun"]["content"] for e in paragraph["elements"]))
                for e in paragraph["elements"]:
                    url = e.get("textRun", {}).get("textStyle", {}).get("link", {}).get("url")
                    if url:
                        links.append(url)
            if "table" in element:
                table = element["table"]
                assert isinstance(table, dict)
                for row in table["tableRows"]:
                    for cell in row["tableCells"]:
                        walk(cell["content"])

    walk(document["tabs"][0]["documentTab"]["body"]["content"])
    assert set(links) == {"https://acme.slack.com/archives/C1/p1"}
    assert len(headings) == 17 and headings[0] == "Postmortem: Hostile <title> {{ 1+1 }} & co\n"


def test_service_account_delegation_makes_the_user_the_owner(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.fake.files[env.folder].shared["postmortems@acme.test"] = "writer"
    monkeypatch.setenv("HTTPLIB2_CA_CERTS", str(tls_files()[0]))
    creds = load_credentials(env.key, scopes(template=False), subject="postmortems@acme.test")
    api = GoogleApi(creds, docs_endpoint=f"{env.fake.base}/", drive_endpoint=f"{env.fake.base}/drive/v3/",
                    account="postmortems@acme.test")
    ref = GoogleDocsStore(api, folder_id=env.folder).create(example_timeline())
    assert env.fake.files[ref.id].owner == "postmortems@acme.test"
    token = next(r for r in env.fake.requests if r.path == "/token" and "sub" in _claims(r.form()["assertion"]))
    assert _claims(token.form()["assertion"])["scope"] == "https://www.googleapis.com/auth/drive.file"


def _claims(assertion: str) -> dict[str, str]:
    import base64

    payload = assertion.split(".")[1]
    data: dict[str, str] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data
