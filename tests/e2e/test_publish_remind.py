"""`postmortem publish` and `postmortem remind` through the CLI, on the local store and tracker, posting to the
Slack fake with the real slack_sdk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops_postmortem.cli import main
from tests.conftest import EXAMPLES
from tests.fakes.server import serve
from tests.fakes.slack import TOKEN, FakeSlack, message_entities

SOURCES = ["--pagerduty", str(EXAMPLES / "pagerduty"), "--alertmanager", str(EXAMPLES / "alertmanager"),
           "--events", str(EXAMPLES / "events.csv")]
HOSTILE = "<!channel> <@U123> <https://evil.example|click>"
EMPTY_ACTIONS = "| Action | Type | Owner | Due | Priority | Done when | Ticket |\n| --- | --- | --- | --- | --- | --- | --- |\n"
ACTIONS = EMPTY_ACTIONS + (
    "| Add a CI check that rejects a DB pool max below 20 for checkout-api | prevent | Priya Raman | 2026-11-24 "
    "| P1 | CI fails on a config with max=5 | PM-7 - Open |\n"
    f"| Page on DB saturation above 90% {HOSTILE.replace('|', chr(92) + '|')} | detect | Dana Kim | 2026-11-20 | P1 | alert fires in a game day "
    "|  |\n"
    "| Idea: move checkout-api to PgBouncer | prevent |  |  |  |  |  |\n"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def slack() -> Iterator[tuple[FakeSlack, str]]:
    fake = FakeSlack()
    fake.add_channel("postmortems", channel_id="C0PM00001")
    fake.add_channel("eng-announce", channel_id="C0ENG0001")
    fake.add_user("U01DANA", "dana", real_name="Dana Kim", email="dana@acme.test")
    fake.add_user("U01PRIYA", "priya", real_name="Priya Raman", email="priya@acme.test")
    with serve(fake) as url:
        yield fake, url + "/api/"


def write_config(folder: Path, api_url: str | None, **slack: object) -> None:
    lines = ["[slack]"]
    if api_url:
        lines += ['token = { env = "SLACK_BOT_TOKEN" }', f'api_url = "{api_url}"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in slack.items()]
    lines += ['[people."Dana Kim"]', 'email = "dana@acme.test"',
              '[people."Priya Raman"]', 'email = "priya@acme.test"', 'slack = "U01PRIYA"']
    (folder / "postmortem.toml").write_text("\n".join(lines) + "\n")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POSTMORTEM_CONFIG", raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    return tmp_path


# ---- publish -----------------------------------------------------------------------------------------------


@pytest.fixture
def doc(workspace: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The example incident's postmortem, written up by its authors (hostile text included)."""
    assert main(["open", "INC-2042", *SOURCES, "--severity", "SEV2", "--reviewer", "Dana Kim",
                 "--title", f"checkout-api 5xx {HOSTILE}"]) == 0
    capsys.readouterr()
    path = workspace / "postmortems" / "INC-2042.md"
    text = path.read_text()
    for prompt, written in [
        ("_TODO(authors): in two or three sentences, what happened, who or what was affected, and how it ended._",
         "Checkout failed for 2% of orders for 30 minutes after a deploy shrank the DB pool."),
        ("_TODO(authors): the change or event that set the incident off._",
         f"The v2.31.0 deploy set the DB pool max to 5. {HOSTILE}"),
        ("_TODO(authors): what in the system or the process let the trigger do harm (conditions, not people)?_",
         "No check on pool settings & no alert on pool saturation."),
        (EMPTY_ACTIONS, ACTIONS),
    ]:
        assert prompt in text
        text = text.replace(prompt, written)
    path.write_text(text)
    return path


def sign_off(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "comment", "INC-2042", "--author", "Dana Kim", "LGTM")[0] == 0


def test_publish_refuses_before_sign_off_then_posts_once(
    doc: Path, slack: tuple[FakeSlack, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, api_url = slack
    write_config(doc.parent.parent, api_url, publish_channels=["#postmortems", "eng-announce"])

    code, out, err = run(capsys, "publish", "INC-2042")
    assert code == 3 and out == ""
    assert "not signed off" in err and "Dana Kim (not yet approved)" in err and err.count("\n") == 1
    assert not fake.method_calls("chat.postMessage") and not fake.calls()

    code, out, err = run(capsys, "publish", "INC-2042", "--dry-run")
    assert code == 3 and json.loads(out)["blocks"] and not fake.calls()  # a preview, still refused

    sign_off(capsys)
    code, out, _ = run(capsys, "publish", "INC-2042", "--dry-run")
    preview = json.loads(out)
    assert code == 0 and [p["status"] for p in preview["posts"]] == ["planned", "planned"]
    assert not fake.calls() and not (doc.parent / "INC-2042.meta.json").exists()

    code, out, err = run(capsys, "publish", "INC-2042")
    assert code == 0, err
    assert [p["channel"] for p in fake.posted] == ["C0PM00001", "C0ENG0001"]
    assert out.splitlines()[0].startswith("posted to #postmortems: https://acme.slack.com/archives/C0PM00001/p")
    recorded = json.loads((doc.parent / "INC-2042.meta.json").read_text())
    assert recorded["published.postmortems"].startswith("https://acme.slack.com/archives/C0PM00001/p")
    assert recorded["published.eng-announce"].startswith("https://acme.slack.com/archives/C0ENG0001/p")
    assert recorded["published"].endswith("Z")

    code, out, _ = run(capsys, "publish", "INC-2042")
    assert code == 0 and out.count("already posted to") == 2 and len(fake.posted) == 2
    assert fake.undocumented == []


def test_the_summary_says_what_matters_and_nothing_in_it_pings_anyone(
    doc: Path, slack: tuple[FakeSlack, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, api_url = slack
    write_config(doc.parent.parent, api_url, publish_channels=["#postmortems"])
    sign_off(capsys)
    assert run(capsys, "publish", "INC-2042")[0] == 0
    message = fake.messages("postmortems")[-1]
    assert message_entities(message) == []  # no @channel, no user mention, no link from the doc's text
    blocks = message["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": f"Postmortem: checkout-api 5xx "
                                                    f"{HOSTILE}", "emoji": False}}
    text = "\n".join(str(b.get("text", {}).get("text", "")) for b in blocks)
    text += "\n".join(f["text"] for b in blocks for f in b.get("fields", []))
    assert "*Summary*\nCheckout failed for 2% of orders" in text
    assert "*Impact*\nImpact started at 2026-11-03 23:34:00 UTC" in text
    assert "Time to mitigate: 29m 30s" in text and "Detected: 2026-11-03 23:36:30 UTC" in text
    assert "*Trigger*\nThe v2.31.0 deploy set the DB pool max to 5. &lt;!channel&gt; &lt;@U123&gt;" in text
    assert "No check on pool settings &amp; no alert" in text
    assert "• Add a CI check that rejects a DB pool max below 20 for checkout-api — Priya Raman — due 2026-11-24 " \
           "— PM-7 (Open)" in text
    assert "Dana Kim — due 2026-11-20" in text and "PgBouncer" not in text  # ideas are not actions yet
    assert "Full postmortem: file://" in text
    assert "&lt;https://evil.example|click&gt;" in message["text"]
    assert all(b["text"].get("verbatim") is True for b in blocks if b["type"] == "section" and "text" in b)


def test_a_channel_that_fails_is_retried_alone(
    doc: Path, slack: tuple[FakeSlack, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, api_url = slack
    write_config(doc.parent.parent, api_url, publish_channels=["#postmortems", "#incidents"])
    sign_off(capsys)
    code, out, _ = run(capsys, "publish", "INC-2042")
    assert code == 1 and "failed to post to #incidents: slack: chat.postMessage: channel_not_found" in out
    assert [p["channel"] for p in fake.posted] == ["C0PM00001"]
    meta = json.loads((doc.parent / "INC-2042.meta.json").read_text())
    assert meta["published.incidents"] == "" and "published" not in meta

    fake.add_channel("incidents", channel_id="C0INC0001")
    code, out, _ = run(capsys, "publish", "INC-2042")
    assert code == 0 and "already posted to #postmortems" in out and "posted to #incidents" in out
    assert [p["channel"] for p in fake.posted] == ["C0PM00001", "C0INC0001"]


def test_a_post_whose_answer_was_lost_is_found_not_repeated(
    doc: Path, slack: tuple[FakeSlack, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, api_url = slack
    write_config(doc.parent.parent, api_url, publish_channels=["#postmortems", "#eng-announce"])
    sign_off(capsys)
    fake.fail_next(500, path="chat.postMessage", after=True)  # posted, but the answer is a 500
    code, out, _ = run(capsys, "publish", "INC-2042")
    assert code == 1 and "may have been posted" in out
    assert len(fake.posted) == 2  # the first really went out; the second channel went on
    meta = json.loads((doc.parent / "INC-2042.meta.json").read_text())
    assert meta["published.postmortems"].startswith("pending ")

    code, out, _ = run(capsys, "publish", "INC-2042")
    assert code == 0 and "found the earlier post in #postmortems" in out
    assert [p["channel"] for p in fake.posted] == ["C0PM00001", "C0ENG0001"]
    meta = json.loads((doc.parent / "INC-2042.meta.json").read_text())
    assert meta["published.postmortems"] == (
        f"https://acme.slack.com/archives/C0PM00001/p{fake.posted[0]['ts'].replace('.', '')}")


def test_publish_needs_slack_and_channels(doc: Path, slack: tuple[FakeSlack, str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _, api_url = slack
    sign_off(capsys)
    write_config(doc.parent.parent, None, publish_channels=["#postmortems"])
    code, _, err = run(capsys, "publish", "INC-2042")
    assert code == 2 and "[slack] token is not set" in err
    write_config(doc.parent.parent, api_url)
    code, _, err = run(capsys, "publish", "INC-2042")
    assert code == 2 and "publish_channels is empty" in err


def test_a_bad_token_is_one_line_exit_1(doc: Path, slack: tuple[FakeSlack, str], capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    fake, api_url = slack
    write_config(doc.parent.parent, api_url, publish_channels=["#postmortems"])
    sign_off(capsys)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-revoked-999")
    code, out, _ = run(capsys, "publish", "INC-2042")
    assert code == 1 and "slack: auth.test: invalid_auth" in out and "xoxb-revoked" not in out
    assert not fake.posted


# ---- remind ------------------------------------------------------------------------------------------------

REMIND_DOC = """# Postmortem: pool exhaustion

<!-- ops-postmortem incident="INC-7" -->

- **Incident:** INC-7
- **Status:** Final
- **Date:** 2026-11-03

## Action items

| Action | Type | Owner | Due | Priority | Done when | Ticket |
| --- | --- | --- | --- | --- | --- | --- |
| Add a CI check that rejects a DB pool max below 20 | prevent | Priya Raman | 2026-11-15 | P1 | CI fails on max=5 |  |
| Page on DB connection saturation above 90% for 2 minutes | detect | Dana Kim | 2026-11-22 | P1 | alert fires in a test |  |
| Write the pool sizing runbook for checkout-api | process | Dana Kim | 2026-11-30 | P2 | runbook linked from the alert |  |
| Cap retries in the checkout client at 2 per request | prevent | Priya Raman | 2026-11-10 | P1 | load test shows 2 retries |  |
| Idea: move checkout-api to PgBouncer | prevent |  | 2026-11-01 |  |  |  |
"""
OTHER_DOC = """# Postmortem: DNS <!here>

<!-- ops-postmortem incident="INC-9" -->

- **Incident:** INC-9
- **Status:** Final
- **Date:** 2026-11-12

## Action items

| Action | Type | Owner | Due | Priority | Done when | Ticket |
| --- | --- | --- | --- | --- | --- | --- |
| Lower the resolver cache TTL to 60s <@U999> | mitigate | Lee Park | 2026-11-19 | P1 | TTL is 60s in prod |  |
| Add a second resolver to every node pool | prevent | SRE team | 2026-11-21 | P1 | two resolvers in /etc/resolv.conf |  |
"""


@pytest.fixture
def docs(workspace: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    folder = workspace / "postmortems"
    folder.mkdir()
    (folder / "INC-7.md").write_text(REMIND_DOC)
    (folder / "INC-9.md").write_text(OTHER_DOC)
    (folder / "notes.md").write_text("# not a postmortem\n")
    assert main(["extract", "INC-7", "--as-of", "2026-11-05"]) == 0  # tickets PM-1..PM-4
    assert main(["tickets", "close", "PM-4"]) == 0  # done in the tracker, not yet in the doc
    capsys.readouterr()
    return folder


def test_remind_lists_without_slack(docs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "remind", "--as-of", "2026-11-20", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [(i["incident"], i["state"], i["days"], i["owner"], i["ticket"]) for i in report["items"]] == [
        ("INC-7", "overdue", -5, "Priya Raman", "PM-1"),
        ("INC-9", "overdue", -1, "Lee Park", None),
        ("INC-9", "due_soon", 1, "SRE team", None),
        ("INC-7", "due_soon", 2, "Dana Kim", "PM-2"),
    ]
    assert report["items"][0]["status"] == "Open" and report["posts"] == []
    code, out, _ = run(capsys, "remind", "--as-of", "2026-11-20")
    assert out.splitlines()[0].startswith("overdue 5d   2026-11-15  INC-7  Priya Raman: Add a CI check")


def test_remind_digests_and_dms_once_a_day(docs: Path, slack: tuple[FakeSlack, str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    fake, api_url = slack
    fake.add_user("U01LEE", "lee", real_name="Lee Park", email="lee@acme.test")
    write_config(docs.parent, api_url, remind_channels=["#postmortems"], remind_dm_owners=True, remind_days=3)
    with (docs.parent / "postmortem.toml").open("a") as config:
        config.write('[people."Lee Park"]\nemail = "lee@acme.test"\n')

    code, out, err = run(capsys, "remind", "--as-of", "2026-11-20", "--dry-run", "--json")
    assert code == 0, err
    assert {p["target"] for p in json.loads(out)["posts"]} == {
        "#postmortems", "dm:Priya Raman", "dm:Lee Park", "dm:Dana Kim"}
    assert not fake.posted

    code, out, err = run(capsys, "remind", "--as-of", "2026-11-20", "--json")
    assert code == 0, err
    posts = json.loads(out)["posts"]
    assert [(p["target"], p["items"]) for p in posts] == [  # a team gets no direct message
        ("#postmortems", 4), ("dm:Priya Raman", 1), ("dm:Lee Park", 1), ("dm:Dana Kim", 1)]
    assert all(p["link"].startswith("https://acme.slack.com/archives/") for p in posts)
    digest = fake.posted[0]
    assert digest["channel"] == "C0PM00001"
    body = "\n".join(b["text"]["text"] for b in digest["blocks"] if b["type"] == "section")
    assert "*overdue 5 days* (due 2026-11-15) — Add a CI check" in body and "Priya Raman" in body
    assert "due in 2 days (2026-11-22)" in body and "runbook" not in body and "Cap retries" not in body
    assert message_entities(fake.messages("postmortems")[-1]) == []  # "<@U999>" in a doc stays text
    assert [p["channel"] for p in fake.posted[1:]] == [fake.ims["U01PRIYA"], fake.ims["U01LEE"], fake.ims["U01DANA"]]

    code, out, _ = run(capsys, "remind", "--as-of", "2026-11-20", "--json")
    assert json.loads(out)["posts"] == [] and len(fake.posted) == 4  # never twice on one day

    code, out, _ = run(capsys, "remind", "--as-of", "2026-11-21", "--json")
    assert len(json.loads(out)["posts"]) == 4 and len(fake.posted) == 8  # a new day
    assert fake.undocumented == []


def test_an_owner_slack_does_not_know_is_reported_and_tried_again(
    docs: Path, slack: tuple[FakeSlack, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, api_url = slack
    write_config(docs.parent, api_url, remind_dm_owners=True)
    code, out, _ = run(capsys, "remind", "--as-of", "2026-11-20")
    assert code == 1
    assert "failed to remind dm:Lee Park: slack: no Slack user for 'Lee Park'" in out
    assert len(fake.posted) == 2  # Priya and Dana
    fake.add_user("U01LEE", "lee", real_name="Lee Park", email="lee@acme.test")
    with (docs.parent / "postmortem.toml").open("a") as config:
        config.write('[people."Lee Park"]\nemail = "lee@acme.test"\n')
    code, out, _ = run(capsys, "remind", "--as-of", "2026-11-20", "--json")
    assert code == 0 and [p["target"] for p in json.loads(out)["posts"]] == ["dm:Lee Park"]


def test_a_digest_slack_refuses_is_sent_again_once_it_can_be(
    docs: Path, slack: tuple[FakeSlack, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, api_url = slack
    write_config(docs.parent, api_url, remind_channels=["#sre"])
    code, out, _ = run(capsys, "remind", "--as-of", "2026-11-20")
    assert code == 1 and "failed to remind #sre: slack: chat.postMessage: channel_not_found" in out
    fake.add_channel("sre", channel_id="C0SRE0001")
    code, out, _ = run(capsys, "remind", "--as-of", "2026-11-20", "--json")
    assert code == 0 and [(p["target"], p["items"]) for p in json.loads(out)["posts"]] == [("#sre", 4)]
    assert len(fake.posted) == 1


def test_remind_with_slack_but_nowhere_to_post_only_lists(docs: Path, slack: tuple[FakeSlack, str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    fake, api_url = slack
    write_config(docs.parent, api_url)
    code, out, err = run(capsys, "remind", "--as-of", "2026-11-20")
    assert code == 0 and "remind_channels" in err and "INC-9" in out and not fake.calls()


def test_new_commands_are_documented(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("publish", "remind"):
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        assert exit_.value.code == 0
        assert "--dry-run" in capsys.readouterr().out
