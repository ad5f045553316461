"""Issue 4 end to end through the CLI on the fake Google, with `[store] kind = "google"`: open (one upload and one
sharing call), open again (one lookup), review (3), people comment and reply in Docs, review --record (0),
extract (tickets written back in one batchUpdate, the invalid row reported once), extract again (nothing new),
close a ticket, sync (statuses written), sync again (one call); refresh; 1,000 unchanged docs cost one call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ops_postmortem.cli import main
from tests.conftest import EXAMPLES
from tests.contract.google_harness import BOT
from tests.fakes import google_docs as gd
from tests.fakes.google import DOC_MIME, DocState, FakeGoogle, FileRecord, fake_google, tls_files
from tests.fakes.server import Request

SOURCES = [
    "--pagerduty", str(EXAMPLES / "pagerduty"),
    "--alertmanager", str(EXAMPLES / "alertmanager"),
    "--events", str(EXAMPLES / "events.csv"),
]
ACTIONS = [
    ["Add a CI check that rejects a DB pool max below 20 for checkout-api", "prevent", "Priya Raman", "2026-11-24",
     "P1", "CI fails on a config with max=5", ""],
    ["Page on DB connection saturation above 90% for 2 minutes", "detect", "Dana Kim", "Nov 20, 2026", "P1",
     "alert fires in the staging game day", ""],
    ["Improve monitoring", "detect", "SRE team", "TBD", "P2", "", ""],
    ["Idea: move checkout-api to PgBouncer", "prevent", "", "", "", "", ""],
]
DANA, ALEX, PRIYA = "dana@acme.test", "alex@acme.test", "priya@acme.test"


@dataclass
class Site:
    fake: FakeGoogle
    folder: str
    root: Path

    def api_calls(self, since: int) -> list[Request]:
        """Docs and Drive calls after `since` (token requests are the credentials', not the API's)."""
        return [r for r in self.fake.requests[since:] if r.path != "/token"]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    with fake_google() as fake:
        fake.service_account(tmp_path)
        for email, name in ((DANA, "Dana Kim"), (ALEX, "Alex Chen"), (PRIYA, "Priya Raman")):
            fake.person(email, name)
        folder = fake.folder("Postmortems", shared={BOT: "writer"})
        monkeypatch.setenv("HTTPLIB2_CA_CERTS", str(tls_files()[0]))
        monkeypatch.delenv("POSTMORTEM_CONFIG", raising=False)
        monkeypatch.chdir(tmp_path)
        (tmp_path / "postmortem.toml").write_text(
            '[store]\nkind = "google"\n\n'
            f'[google]\ncredentials_file = "service-account.json"\nfolder_id = "{folder}"\n'
            f'docs_api_endpoint = "{fake.base}/"\ndrive_api_endpoint = "{fake.base}/drive/v3/"\n'
            'share_with_domain = "acme.test"\nshare_with = ["reviewers", "group:sre@acme.test=writer"]\n\n'
            '[local]\ndir = "postmortems"\n'
        )
        yield Site(fake, folder, tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_whole_flow(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    fake = site.fake
    # Open: one lookup, then the doc in one upload and its sharing in one (batch) call.
    before = len(fake.requests)
    code, out, err = run(capsys, "open", "INC-2042", *SOURCES, "--severity", "SEV2",
                         "--reviewer", "Dana Kim <dana@acme.test>", "--reviewer", "Alex Chen <alex@acme.test>",
                         "--json")
    assert code == 0, err
    opened = json.loads(out)
    assert opened["created"] is True
    calls = site.api_calls(before)
    assert [(r.method, r.path) for r in calls] == [
        ("GET", "/drive/v3/files"), ("POST", "/upload/drive/v3/files"), ("POST", "/batch/drive/v3")]
    created = calls[1:]
    assert len(created) <= 2  # create at most 2 calls in HTML mode
    doc_id = opened["url"].split("/d/")[1].split("/")[0]
    record = fake.files[doc_id]
    assert record.parents == [site.folder] and record.app_properties["opspm_incident"] == "INC-2042"
    assert record.owner == BOT
    assert record.shared == {"domain:acme.test": "commenter", DANA: "commenter", ALEX: "commenter",
                             "sre@acme.test": "writer"}  # never "anyone"
    domain = next(r.json() for r in fake.batched if r.json().get("type") == "domain")
    assert domain == {"type": "domain", "domain": "acme.test", "role": "commenter", "allowFileDiscovery": False}
    assert sorted(n["to"] for n in fake.notifications) == [ALEX, DANA]  # reviewers are asked to review

    before = len(fake.requests)
    code, out, _ = run(capsys, "open", "INC-2042", *SOURCES, "--json")
    assert json.loads(out) == {"url": opened["url"], "created": False}
    assert [(r.method, r.path) for r in site.api_calls(before)] == [("GET", "/drive/v3/files")]  # one call

    code, out, _ = run(capsys, "review", opened["url"], "--json")
    assert code == 3
    assert [r["status"] for r in json.loads(out)["reviewers"]] == ["pending", "pending"]

    # People work in Docs: fill the action items, a correction, an approval, a reply.
    fake.ui_fill_table(doc_id, "Action", ACTIONS)
    correction = fake.ui_comment(doc_id, ALEX, "Say which alert detected it", quote="Detected at")
    fake.ui_comment(doc_id, DANA, "LGTM")
    fake.ui_reply(doc_id, correction, ALEX, "LGTM otherwise")
    code, out, _ = run(capsys, "review", doc_id, "--json")
    report = json.loads(out)
    assert code == 3
    assert {r["name"]: r["status"] for r in report["reviewers"]} == {
        "Dana Kim": "approved", "Alex Chen": "changes_requested"}
    assert [t["quote"] for t in report["open_threads"]] == ["Detected at"]

    fake.ui_reply(doc_id, correction, PRIYA, "clarified", action="resolve")
    code, out, err = run(capsys, "review", doc_id, "--json", "--record")
    assert code == 0, err + out
    assert json.loads(out)["signed_off"] is True
    text = fake.doc_text(doc_id)
    assert "Status: Final" in text
    code, out, _ = run(capsys, "comment", doc_id, "--list", "--json")
    threads = json.loads(out)
    recorded = [r for c in threads for r in c["replies"] if r["text"].startswith("Sign-off recorded")]
    assert len(recorded) == 2  # a reply on each approval

    # Extract: two tickets, written back in one guarded batchUpdate; the invalid row reported once.
    before = len(fake.requests)
    code, out, _ = run(capsys, "extract", doc_id, "--as-of", "2026-11-10", "--json")
    assert code == 3
    items = json.loads(out)["items"]
    assert [i["verdict"] for i in items] == ["valid", "valid", "invalid", "ignored"]
    assert [i["ticket"] for i in items] == ["PM-1", "PM-2", None, None]
    writes = [r for r in site.api_calls(before) if r.path.endswith(":batchUpdate")]
    assert len(writes) == 1 and "requiredRevisionId" in writes[0].json()["writeControl"]
    assert len([r for r in site.api_calls(before) if r.method == "POST" and r.path.endswith("/comments")]) == 1
    code, out, _ = run(capsys, "extract", doc_id, "--as-of", "2026-11-10", "--json")
    assert [i["created"] for i in json.loads(out)["items"]] == [False, False, False, False]
    bot = [c for c in fake.comments[doc_id] if c["author_email"] == BOT and "cannot be ticketed" in c["content"]]
    assert len(bot) == 1

    # Close a ticket; sync writes every status back; the next sync finds nothing in one call.
    assert run(capsys, "tickets", "close", "PM-1")[0] == 0
    code, out, err = run(capsys, "sync", "--as-of", "2026-11-10", "--json")
    assert code == 0, err
    assert json.loads(out)["docs"][0]["statuses_written"] == 2
    text = fake.doc_text(doc_id)
    assert "PM-1 - Done" in text and "PM-2 - Open" in text
    before = len(fake.requests)
    code, out, _ = run(capsys, "sync", "--json")
    assert json.loads(out)["docs"] == []
    assert [(r.method, r.path) for r in site.api_calls(before)] == [("GET", "/drive/v3/files")]


def test_refresh_keeps_edits_and_refuses_hand_edited_timeline(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    fake = site.fake
    code, out, err = run(capsys, "open", "INC-2042", "--pagerduty", str(EXAMPLES / "pagerduty"), "--json")
    assert code == 0, err
    doc_id = json.loads(out)["url"].split("/d/")[1].split("/")[0]
    fake.ui_replace(doc_id, "TODO(authors): the change or event that set the incident off.", "The v2.31.0 deploy.")
    code, out, err = run(capsys, "open", "INC-2042", *SOURCES, "--refresh")
    assert code == 0 and out.startswith("refreshed"), err
    text = fake.doc_text(doc_id)
    assert "The v2.31.0 deploy." in text and "Rolled back checkout-api to v2.30.4" in text
    fake.ui_replace(doc_id, "Rolled back checkout-api to v2.30.4", "Rolled back (my note)")
    code, _, err = run(capsys, "open", "INC-2042", *SOURCES, "--refresh")
    assert code == 2 and "edited by hand" in err and "--force" in err
    code, out, _ = run(capsys, "open", "INC-2042", *SOURCES, "--refresh", "--force")
    assert code == 0 and out.startswith("refreshed")
    assert "my note" not in fake.doc_text(doc_id) and "The v2.31.0 deploy." in fake.doc_text(doc_id)


def test_a_sync_over_1000_unchanged_docs_costs_one_call(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    fake = site.fake
    for n in range(1000):
        record = FileRecord(fake.new_id(), f"Postmortem INC-{n}", DOC_MIME, BOT, "2026-11-01T10:00:00.000Z",
                            "2026-11-01T10:00:00.000Z", [site.folder],
                            {"opspm": "postmortem", "opspm_incident": f"INC-{n}"}, via_api=True)
        fake.files[record.id] = record
        fake.docs[record.id] = DocState([gd.Tab("t.0", "Tab 1", gd.import_html("<p>x</p>"))])
    state = site.root / "postmortems" / ".sync-state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"cursor": "2026-11-02T00:00:00Z", "written": {}, "statuses": {}}))
    before = len(fake.requests)
    code, out, err = run(capsys, "sync", "--json")
    assert code == 0, err
    assert json.loads(out)["docs"] == []
    calls = site.api_calls(before)
    assert len(calls) == 1 and calls[0].path == "/drive/v3/files"
    assert "modifiedTime > '2026-11-01T23:58:00Z'" in calls[0].query["q"][0]  # the cursor less 2 min of clock skew
