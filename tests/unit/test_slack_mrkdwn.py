"""Slack mrkdwn decoding: every control sequence and escape Slack puts in message text."""

from __future__ import annotations

import pytest

from ops_postmortem.connectors.slack.mrkdwn import to_text

USERS = {"U01ALICE": "Alice (IC)", "U02BOB": "Bob Okafor"}
CHANNELS = {"C0GENERAL1": "general", "C0INC2041": "inc-2041-search-latency"}


def decode(text: str) -> str:
    return to_text(text, users=USERS, channels=CHANNELS)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # escapes
        ("p99 &gt; 2s &amp;&amp; 5xx &lt; 1%", "p99 > 2s && 5xx < 1%"),
        ("&amp;lt; stays literal", "&lt; stays literal"),  # unescaped once, not twice
        # user mentions
        ("<@U01ALICE> is IC", "@Alice (IC) is IC"),
        ("<@U02BOB|bob> on it", "@Bob Okafor on it"),  # the directory wins over the old handle
        ("ping <@U0777NOPE>", "ping @U0777NOPE"),
        ("ping <@U0777NOPE|old-handle>", "ping @old-handle"),
        # channels
        ("see <#C0GENERAL1|general>", "see #general"),
        ("see <#C0INC2041>", "see #inc-2041-search-latency"),
        ("see <#C0UNKNOWN>", "see #C0UNKNOWN"),
        ("see <#C0INC2041|>", "see #inc-2041-search-latency"),  # newer payloads send an empty label
        # links
        ("<https://grafana.example.com/d/x|dashboard>", "dashboard (https://grafana.example.com/d/x)"),
        ("<https://status.example.com>", "https://status.example.com"),
        ("<https://a.example.com/?q=1&amp;r=2|a &amp; b>", "a & b (https://a.example.com/?q=1&r=2)"),
        ("<https://x.example.com|https://x.example.com>", "https://x.example.com"),
        ("<mailto:ops@example.com|ops@example.com>", "ops@example.com"),
        ("<mailto:ops@example.com>", "ops@example.com"),
        ("<mailto:ops@example.com|Ops team>", "Ops team (ops@example.com)"),
        # broadcasts and groups
        ("<!here> status?", "@here status?"),
        ("<!here|@here> status?", "@here status?"),  # the older form with a label
        ("<!channel> war room", "@channel war room"),
        ("<!everyone> heads up", "@everyone heads up"),
        ("cc <!subteam^S0SRE|@sre-oncall>", "cc @sre-oncall"),
        ("cc <!subteam^S0SRE>", "cc @S0SRE"),
        ("cc <!subteam^S0SRE|sre-oncall>", "cc @sre-oncall"),
        # dates: the fallback text, else the instant in UTC
        ("at <!date^1392734382^{date_short}|Feb 18, 2014>", "at Feb 18, 2014"),
        (
            "at <!date^1392734382^{date_short}^https://example.com/cal|Feb 18, 2014 6:39 AM PST>",
            "at Feb 18, 2014 6:39 AM PST",
        ),
        ("at <!date^1392734382^{date_short}>", "at 2014-02-18T14:39:42Z"),
        ("at <!date^99999999999999999999^{date_short}>", "at 99999999999999999999"),
        ("at <!date^soon^{date_short}>", "at soon"),
        # text that only looks like markup stays as written
        ("latency < 5ms > 3ms", "latency < 5ms > 3ms"),
        ("<not a link>", "<not a link>"),
        ("plain text, :fire: emoji and *bold*", "plain text, :fire: emoji and *bold*"),
        ("", ""),
    ],
)
def test_decodes(raw: str, expected: str) -> None:
    assert decode(raw) == expected


def test_all_constructs_in_one_message() -> None:
    raw = (
        "<!here> <@U01ALICE> asked <@U02BOB|bob> to check "
        "<https://grafana.example.com/d/chk?from=now-1h&amp;to=now|the dashboard> in <#C0GENERAL1|general>; "
        "mail <mailto:ops@example.com|ops@example.com>, cc <!subteam^S0SRE|@sre-oncall>, "
        "since <!date^1762213000^{time}|23:36 UTC> &lt;&gt;"
    )
    assert decode(raw) == (
        "@here @Alice (IC) asked @Bob Okafor to check "
        "the dashboard (https://grafana.example.com/d/chk?from=now-1h&to=now) in #general; "
        "mail ops@example.com, cc @sre-oncall, since 23:36 UTC <>"
    )


def test_without_directories_ids_are_shown() -> None:
    assert to_text("<@U01ALICE> in <#C0INC2041>") == "@U01ALICE in #C0INC2041"


def test_text_without_markup_is_returned_as_is() -> None:
    text = "nothing to decode here"
    assert to_text(text) is text
