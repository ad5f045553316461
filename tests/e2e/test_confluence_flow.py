"""Issue 5 end to end through the CLI, on a fake Confluence Cloud and a fake Data Center: open (one create call),
open again (found, not created), review (3), people comment and reply in the product, resolve a thread from the
CLI, review --record (0), extract (tickets written back, the invalid row reported once), extract again (nothing
new), close a ticket, sync (statuses written), sync again (one call, nothing to do)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops_postmortem.cli import main
from tests.conftest import EXAMPLES
from tests.contract.confluence_harness import running_fake
from tests.fakes.confluence import BOT_EMAIL, CLOUD_TOKEN, DC_TOKEN, FakeConfluence, visible_text

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


@pytest.fixture(params=["cloud", "datacenter"])
def site(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeConfluence]:
    with running_fake(request.param) as (fake, base):
        monkeypatch.setenv("CONFLUENCE_API_TOKEN", CLOUD_TOKEN if fake.cloud else DC_TOKEN)
        monkeypatch.delenv("POSTMORTEM_CONFIG", raising=False)
        monkeypatch.chdir(tmp_path)
        username = f'username = "{BOT_EMAIL}"\n' if fake.cloud else ""
        (tmp_path / "postmortem.toml").write_text(
            '[store]\nkind = "confluence"\n\n'
            f'[confluence]\nurl = "{base}{fake.context}"\n{username}'
            'token = { env = "CONFLUENCE_API_TOKEN" }\nspace = "PM"\n'
            f'parent_id = "{fake.parent_id}"\ndeployment = "{request.param}"\n\n'
            '[local]\ndir = "postmortems"\n'
        )
        yield fake


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_whole_flow(site: FakeConfluence, capsys: pytest.CaptureFixture[str]) -> None:
    # Open: one request creates the page, with labels and the incident property.
    before = len(site.requests)
    code, out, err = run(capsys, "open", "INC-2042", *SOURCES, "--severity", "SEV2", "--reviewer", "Dana Kim",
                         "--reviewer", "Alex Chen <alex@acme.test>", "--json")
    assert code == 0, err
    opened = json.loads(out)
    assert opened["created"] is True
    made = site.requests[before:]
    assert [r.method for r in made] == ["GET", "POST"]  # the lookup by label, then the one create
    page = site.page_for("INC-2042")
    assert page.parent == site.parent_id and set(page.labels) == {"postmortem", "inc-2042", "sev2"}
    assert opened["url"].endswith(f"pageId={page.id}")

    before = len(site.requests)
    code, out, _ = run(capsys, "open", "INC-2042", *SOURCES, "--json")
    assert json.loads(out) == {"url": opened["url"], "created": False}
    assert [r.method for r in site.requests[before:]] == ["GET"]

    code, out, _ = run(capsys, "review", "INC-2042", "--json")
    assert code == 3
    assert [r["status"] for r in json.loads(out)["reviewers"]] == ["pending", "pending"]

    # People review in Confluence: an inline correction, an approval, a reply.
    correction = site.human_comment(page.id, "Alex Chen", "Say which alert detected it", quote="Detected at")
    site.human_comment(page.id, "Dana Kim", "LGTM")
    site.human_reply(correction.id, "Alex Chen", "LGTM otherwise")
    code, out, _ = run(capsys, "review", opened["url"], "--json")
    report = json.loads(out)
    assert code == 3
    assert {r["name"]: r["status"] for r in report["reviewers"]} == {"Dana Kim": "approved",
                                                                      "Alex Chen": "changes_requested"}
    assert [t["quote"] for t in report["open_threads"]] == ["Detected at"]

    # The author resolves the thread from the CLI; sign-off is complete and recorded on the page.
    assert run(capsys, "comment", page.id, "--resolve", correction.id, "clarified")[0] == 0
    assert site.comments[correction.id].resolution == "resolved"
    code, out, err = run(capsys, "review", "INC-2042", "--json", "--record")
    assert code == 0, out + err
    assert json.loads(out)["signed_off"] is True
    body = site.pages[page.id].body
    assert '<ac:parameter ac:name="title">Final</ac:parameter>' in body
    assert "<tr><td>Dana Kim</td><td></td><td>Approved</td><td><time datetime=" in body

    # The authors fill the action items in the editor; extract tickets them and writes the keys back.
    site.human_fill_table(page.id, "Action", ACTIONS)
    code, out, err = run(capsys, "extract", "INC-2042", "--as-of", "2026-11-10", "--json")
    assert code == 3, err
    items = json.loads(out)["items"]
    assert [i["verdict"] for i in items] == ["valid", "valid", "invalid", "ignored"]
    assert [i["ticket"] for i in items] == ["PM-1", "PM-2", None, None]
    assert [i["created"] for i in items] == [True, True, False, False]
    assert "PM-1" in site.pages[page.id].body and "PM-2" in site.pages[page.id].body

    code, out, _ = run(capsys, "comment", "INC-2042", "--list", "--json")
    bot = [c for c in json.loads(out) if c["author"] == "ops-postmortem"]
    assert len(bot) == 1 and "Improve monitoring" in bot[0]["text"]

    # Again: nothing new, no second comment.
    code, out, _ = run(capsys, "extract", "INC-2042", "--as-of", "2026-11-10", "--json")
    assert [i["created"] for i in json.loads(out)["items"]] == [False, False, False, False]
    code, out, _ = run(capsys, "tickets", "list", "--json")
    assert [t["key"] for t in json.loads(out)] == ["PM-1", "PM-2"]
    code, out, _ = run(capsys, "comment", "INC-2042", "--list", "--json")
    assert len([c for c in json.loads(out) if c["author"] == "ops-postmortem"]) == 1

    # Close a ticket; sync writes every status back; the next sync costs one call and does nothing.
    assert run(capsys, "tickets", "close", "PM-1")[0] == 0
    code, out, err = run(capsys, "sync", "--as-of", "2026-11-10", "--json")
    assert code == 0, err
    assert json.loads(out)["docs"][0]["statuses_written"] == 2
    text = visible_text(site.pages[page.id].body)
    assert "PM-1 - Done" in text and "PM-2 - Open" in text
    before = len(site.requests)
    code, out, _ = run(capsys, "sync", "--json")
    assert json.loads(out)["docs"] == [] and json.loads(out)["skipped_unchanged"] == 1
    assert len(site.requests) - before == 1


def test_refresh_keeps_edits_and_refuses_a_hand_edited_timeline(site: FakeConfluence,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "open", "INC-2042", *SOURCES)[0] == 0
    page = site.page_for("INC-2042")
    site.human_edit(page.id, "TODO(authors): the change or event that set the incident off.",
                    "The v2.31.0 deploy lowered the pool max to 5.")
    code, out, err = run(capsys, "open", "INC-2042", *SOURCES, "--slack-export", str(EXAMPLES / "slack-export"),
                         "--slack-channel", "inc-2042-checkout", "--refresh")
    assert code == 0, err
    assert out.startswith("refreshed")
    assert "The v2.31.0 deploy lowered the pool max to 5." in site.pages[page.id].body
    site.human_edit(page.id, "Rolled back checkout-api to v2.30.4", "Rolled back (edited)")
    code, _, err = run(capsys, "open", "INC-2042", *SOURCES, "--refresh")
    assert code == 2 and "edited by hand" in err
    assert run(capsys, "open", "INC-2042", *SOURCES, "--refresh", "--force")[0] == 0
    assert "Rolled back (edited)" not in site.pages[page.id].body
