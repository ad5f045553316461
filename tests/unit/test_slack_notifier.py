"""SlackNotifier: chat.postMessage with Block Kit, direct messages, finding its own posts; real slack_sdk, fake Slack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.connectors.slack.api import SlackApi
from ops_postmortem.connectors.slack.notifier import SlackNotifier
from ops_postmortem.errors import AuthError, NotFoundError, RateLimitedError, ServiceError
from ops_postmortem.model import Cell, DocRef, Document, Person, Section, Table
from ops_postmortem.people import Directory, DirectoryEntry
from ops_postmortem.signoff import SignOffReport
from ops_postmortem.workflows.publish import (
    clip_mrkdwn,
    escape_mrkdwn,
    header,
    link_mrkdwn,
    section,
    summary_message,
)
from ops_postmortem.workflows.remind import DueItem, digest
from ops_postmortem.workflows.review import ReviewResult
from tests.fakes.server import serve
from tests.fakes.slack import (
    BLOCKS_TOO_LONG,
    TOKEN,
    FakeSlack,
    block_chars,
    entities,
    message_entities,
    validate_blocks,
)

PEOPLE = Directory([
    DirectoryEntry("Dana Kim", "dana@acme.test", ("dkim",), (("slack", "U01DANA"),)),
    DirectoryEntry("Priya Raman", "priya@acme.test"),
    DirectoryEntry("Nobody Known", "nobody@elsewhere.test"),
])
BLOCKS = [header("Postmortem: checkout 5xx"), section("*Impact*\n2% of orders failed")]


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def fake() -> FakeSlack:
    fake = FakeSlack()
    fake.add_channel("postmortems", channel_id="C0PM00001")
    fake.add_channel("eng-private", channel_id="G0PRIV001", private=True)
    fake.add_user("U01DANA", "dana", real_name="Dana Kim", email="dana@acme.test")
    fake.add_user("U01PRIYA", "priya", real_name="Priya Raman", email="priya@acme.test")
    return fake


@pytest.fixture
def served(fake: FakeSlack) -> Iterator[tuple[SlackNotifier, Sleeps]]:
    sleeps = Sleeps()
    with serve(fake) as url:
        api = SlackApi(TOKEN, api_url=url + "/api/", policy=RetryPolicy(attempts=3, base=0.01, sleep=sleeps))
        yield SlackNotifier(api, PEOPLE), sleeps


def test_post_sends_block_kit_as_json_and_returns_a_link(served: tuple[SlackNotifier, Sleeps],
                                                          fake: FakeSlack) -> None:
    notifier, _ = served
    link = notifier.post("#postmortems", "Postmortem published", BLOCKS)
    posted = fake.posted[-1]
    assert posted["channel"] == "C0PM00001" and posted["blocks"] == BLOCKS
    assert link == f"https://acme.slack.com/archives/C0PM00001/p{posted['ts'].replace('.', '')}"
    request = fake.method_calls("chat.postMessage")[-1]
    assert request.headers["content-type"].startswith("application/json")
    body = request.json()
    assert body["unfurl_links"] is False and body["unfurl_media"] is False and body["channel"] == "postmortems"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert fake.undocumented == []


def test_links_we_build_are_the_permalinks_slack_gives(served: tuple[SlackNotifier, Sleeps]) -> None:
    notifier, _ = served
    link = notifier.post("postmortems", "t", BLOCKS)
    ts = f"{link[-16:-6]}.{link[-6:]}"
    assert notifier.api.client.chat_getPermalink(channel="C0PM00001", message_ts=ts)["permalink"] == link


def test_invalid_blocks_are_refused_with_the_reason(served: tuple[SlackNotifier, Sleeps], fake: FakeSlack) -> None:
    notifier, _ = served
    too_long = [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]
    with pytest.raises(ServiceError) as err:
        notifier.post("postmortems", "t", too_long)
    assert "invalid_blocks" in str(err.value) and "less than 151 characters" in str(err.value)
    assert not err.value.retriable and not fake.posted


@pytest.mark.parametrize(("blocks", "problem"), [
    ([{"type": "section"}], "must provide text or fields"),
    ([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], "more than 0 characters"),
    ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "less than 3001"),
    ([{"type": "section", "text": {"type": "mrkdwn", "text": "x", "emoji": True}}], "unsupported property: emoji"),
    ([{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}], "one of the following: plain_text"),
    ([{"type": "fancy"}], "unsupported type: fancy"),
    ([{"type": "divider"}] * 51, "no more than 50 items"),
    ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11}], "no more than 10 items"),
    ([{"type": "context", "elements": []}], "non-empty array"),
    ([{"type": "section", "text": {"type": "mrkdwn", "text": "x", "verbatim": "yes"}}], "must be a boolean"),
])
def test_the_fake_validates_block_kit_like_slack(blocks: list[dict[str, Any]], problem: str) -> None:
    assert any(problem in e for e in validate_blocks(blocks)), validate_blocks(blocks)


def test_too_much_text_across_blocks(served: tuple[SlackNotifier, Sleeps]) -> None:
    notifier, _ = served
    with pytest.raises(ServiceError, match="msg_blocks_too_long"):
        notifier.post("postmortems", "t", [section("x" * 2900)] * 5)


def test_channel_problems_name_the_fix(served: tuple[SlackNotifier, Sleeps], fake: FakeSlack) -> None:
    notifier, _ = served
    with pytest.raises(NotFoundError, match="channel_not_found"):
        notifier.post("#nope", "t", BLOCKS)
    fake.add_channel("announce", channel_id="C0ANN0001", member=False)
    with pytest.raises(AuthError, match="invite the app"):
        notifier.post("#announce", "t", BLOCKS)
    assert not fake.posted


def test_a_429_is_retried_after_retry_after(served: tuple[SlackNotifier, Sleeps], fake: FakeSlack) -> None:
    notifier, sleeps = served
    fake.fail_next(429, path="chat.postMessage", headers={"Retry-After": "2"})
    notifier.post("postmortems", "t", BLOCKS)
    assert len(fake.method_calls("chat.postMessage")) == 2 and len(fake.posted) == 1
    assert sleeps.waits == [2.0]


def test_a_5xx_after_posting_is_not_repeated(served: tuple[SlackNotifier, Sleeps], fake: FakeSlack) -> None:
    notifier, sleeps = served
    fake.fail_next(500, path="chat.postMessage", after=True)
    with pytest.raises(ServiceError) as err:
        notifier.post("postmortems", "t", BLOCKS)
    assert len(fake.method_calls("chat.postMessage")) == 1 and len(fake.posted) == 1 and not sleeps.waits
    assert "may have been posted" in str(err.value) and err.value.status == 500


def test_rate_limited_for_good(served: tuple[SlackNotifier, Sleeps], fake: FakeSlack) -> None:
    notifier, _ = served
    fake.fail_next(429, path="chat.postMessage", headers={"Retry-After": "0"}, times=5)
    with pytest.raises(RateLimitedError):
        notifier.post("postmortems", "t", BLOCKS)
    assert len(fake.method_calls("chat.postMessage")) == 3 and not fake.posted


def test_direct_messages_by_directory_id_or_email(served: tuple[SlackNotifier, Sleeps], fake: FakeSlack) -> None:
    notifier, _ = served
    notifier.post_direct(Person("Dana Kim"), "due", BLOCKS)
    assert not fake.method_calls("users.lookupByEmail")  # the directory's slack id is enough
    assert fake.method_calls("conversations.open")[-1].form()["users"] == "U01DANA"
    notifier.post_direct(Person("Priya Raman"), "due", BLOCKS)
    notifier.post_direct(Person("Priya Raman"), "due again", BLOCKS)
    lookups = fake.method_calls("users.lookupByEmail")
    assert [r.form()["email"] for r in lookups] == ["priya@acme.test"]  # cached
    assert [p["channel"] for p in fake.posted] == [fake.ims["U01DANA"], fake.ims["U01PRIYA"], fake.ims["U01PRIYA"]]
    assert all(p["channel"].startswith("D") for p in fake.posted)
    assert fake.undocumented == []


def test_nobody_to_message_is_a_clear_error(served: tuple[SlackNotifier, Sleeps], fake: FakeSlack) -> None:
    notifier, _ = served
    with pytest.raises(NotFoundError) as err:
        notifier.post_direct(Person("Nobody Known"), "due", BLOCKS)
    assert 'slack = "U..."' in str(err.value) and '[people."Nobody Known"]' in str(err.value)
    with pytest.raises(NotFoundError):
        notifier.post_direct(Person("Team Ops"), "due", BLOCKS)  # no e-mail, no id: no call at all
    assert len(fake.method_calls("users.lookupByEmail")) == 1 and not fake.posted


def test_find_post_finds_only_our_own_message_with_the_marker(served: tuple[SlackNotifier, Sleeps],
                                                               fake: FakeSlack) -> None:
    notifier, _ = served
    since = datetime.now(UTC) - timedelta(minutes=1)
    fake.add_message("postmortems", {"ts": f"{int(since.timestamp()) + 1}.000100", "user": "U01DANA",
                                     "text": "see https://docs.acme.test/pm/1"})
    assert notifier.find_post("#postmortems", since, "https://docs.acme.test/pm/1") is None
    link = notifier.post("postmortems", "Postmortem published: https://docs.acme.test/pm/1", BLOCKS)
    assert notifier.find_post("#postmortems", since, "https://docs.acme.test/pm/1") == link
    assert notifier.find_post("#postmortems", since, "https://docs.acme.test/pm/2") is None
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert notifier.find_post("#postmortems", later, "https://docs.acme.test/pm/1") is None
    assert len(fake.method_calls("conversations.list")) == 1  # channel names listed once
    with pytest.raises(NotFoundError, match="no channel #missing"):
        notifier.find_post("#missing", since, "x")


# ---- mrkdwn ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", [
    "<!channel> look", "<!here|here>", "<@U123>", "<https://evil.example|click>", "<#C123|general>",
    "<!subteam^S123|@oncall>", "a & b < c > d", "&lt;!channel&gt;",
])
def test_escaped_text_has_no_mentions_or_links(hostile: str) -> None:
    escaped = escape_mrkdwn(hostile)
    assert entities(escaped) == []
    assert "<" not in escaped and ">" not in escaped


def test_clip_never_cuts_inside_an_entity() -> None:
    text = "a" * 5 + "<" * 10
    for limit in range(3, 40):
        clipped = clip_mrkdwn(text, limit)
        assert len(clipped) <= limit
        body = clipped.removesuffix("…")
        assert body.replace("&lt;", "").replace("a", "") == ""
    assert clip_mrkdwn("short & sweet", 100) == "short &amp; sweet"


def test_links_only_to_checked_web_urls() -> None:
    assert link_mrkdwn("https://jira.acme.test/browse/OPS-1", "OPS-1") == "<https://jira.acme.test/browse/OPS-1|OPS-1>"
    assert link_mrkdwn("javascript:alert(1)", "x") == "x"
    odd = link_mrkdwn("https://x.test/a?b=1&c=<2>|3", "<@U1>")
    assert entities(odd) == [("link", "https://x.test/a?b=1&amp;c=&lt;2&gt;%7C3")]


def test_posted_hostile_text_stays_inert(served: tuple[SlackNotifier, Sleeps], fake: FakeSlack) -> None:
    notifier, _ = served
    hostile = "<!channel> <@U123> <https://evil.example|click>"
    notifier.post("postmortems", escape_mrkdwn(hostile), [header(hostile), section(escape_mrkdwn(hostile))])
    message = fake.messages("postmortems")[-1]
    assert message_entities(message) == []
    assert json.loads(json.dumps(message["blocks"]))[0]["text"]["text"] == hostile  # plain_text: shown as written


# ---- big documents stay within Block Kit's limits ----------------------------------------------------------


def _big_doc() -> Document:
    long = "The pool <max> was 5 & nobody knew. " * 400
    rows = tuple(
        (Cell(f"Action {n}: {long[:700]}"), Cell("prevent"), Cell(f"Owner {n} <@U{n}>"), Cell("2026-11-24"),
         Cell("P1"), Cell("CI fails"), Cell(f"PM-{n} - Open", links=(f"https://t.example/PM-{n}?a=1&b=<2>",)))
        for n in range(300)
    )
    header_row = ("Action", "Type", "Owner", "Due", "Priority", "Done when", "Ticket")
    return Document(
        ref=DocRef("google", "doc1", "https://docs.example/d/doc1?x=1&y=2", "t"),
        title="T" * 400, status="Final",
        sections=tuple(Section(h, 2, long) for h in ("Summary", "Impact", "Trigger", "Latent conditions")),
        tables=(Table(0, "Action items", header_row, rows),), incident_id="INC-1", severity="SEV1",
    )


def test_a_huge_postmortem_still_makes_one_valid_message() -> None:
    doc = _big_doc()
    message = summary_message(doc, ReviewResult(doc.ref, SignOffReport(True, (), ())))
    blocks = list(message.blocks)
    assert validate_blocks(blocks) == [] and block_chars(blocks) <= BLOCKS_TOO_LONG and len(blocks) <= 50
    found = message_entities({"text": message.text, "blocks": blocks})
    assert {kind for kind, _ in found} == {"link"}  # the doc and its tickets; no mention from "<@U..>" owners
    assert {url.split("PM-")[0] for _, url in found} == {"https://docs.example/d/doc1?x=1&amp;y=2", "https://t.example/"}
    assert blocks[-3]["type"] == "context" and "more action items in the postmortem" in blocks[-3]["elements"][0]["text"]
    assert "<https://docs.example/d/doc1?x=1&amp;y=2|Read the full postmortem>" in str(blocks)
    assert len(blocks[0]["text"]["text"]) == 150


def test_a_huge_reminder_digest_is_valid_and_counts_what_it_holds() -> None:
    ref = DocRef("local", "INC-1", "https://docs.example/INC-1")
    items = [DueItem(ref, "t", "INC-1", f"pmai-{n}", "Fix <!here> " * 40, "Dana <@U1>", None, date(2026, 11, 1),
                     -n, None) for n in range(500)]
    text, blocks, used = digest(items, "Postmortem action items due")
    assert validate_blocks(blocks) == [] and block_chars(blocks) <= BLOCKS_TOO_LONG
    assert 0 < used < 500 and f"…and {500 - used} more" in blocks[-1]["elements"][0]["text"]
    assert sum(b["text"]["text"].count("• ") for b in blocks if b["type"] == "section") == used
    assert all(kind == "link" for kind, _ in message_entities({"text": text, "blocks": blocks}))
