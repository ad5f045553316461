"""The live Slack source: real slack_sdk against the stateful fake on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ops_postmortem.config import Config
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.connectors.slack.api import SlackApi, cursor_pages, slack_error
from ops_postmortem.connectors.slack.export import SlackExport
from ops_postmortem.connectors.slack.live import SlackLive, slack_ts
from ops_postmortem.errors import AuthError, ConfigError, NotFoundError, RateLimitedError, ServiceError
from tests.conftest import EXAMPLES, ROOT
from tests.fakes.server import serve
from tests.fakes.slack import TOKEN, FakeSlack, ts_key

EXPORT = EXAMPLES / "slack-export"
CHANNEL = "inc-2042-checkout"


class Sleeps:
    """A RetryPolicy sleep that records each wait instead of taking it."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def fake() -> FakeSlack:
    fake = FakeSlack()
    fake.load_export(EXPORT)
    return fake


@pytest.fixture
def base(fake: FakeSlack) -> Iterator[str]:
    with serve(fake) as url:
        yield url + "/api/"


def api(base: str, sleeps: Sleeps | None = None, *, token: str = TOKEN, attempts: int = 4) -> SlackApi:
    return SlackApi(token, api_url=base, policy=RetryPolicy(attempts=attempts, base=0.01, sleep=sleeps or Sleeps()))


def live(base: str, **kwargs: Any) -> SlackLive:
    sleeps = kwargs.pop("sleeps", None)
    kwargs.setdefault("channel_pattern", "inc-{id}*")
    return SlackLive(api(base, sleeps), **kwargs)


# ---- the same events as the export ----------------------------------------------------------------------


def test_live_events_equal_the_export_reader(base: str, fake: FakeSlack) -> None:
    batch = live(base).collect_window("2042", (None, None))
    export = SlackExport([EXPORT], CHANNEL, workspace_url="https://acme.slack.com").collect("INC-2042")
    assert batch.events == export.events
    assert len(batch.events) == 21 and not batch.warnings
    threaded = [e for e in batch.events if e.thread]
    assert threaded and all("?thread_ts=" in (e.link or "") for e in threaded)
    # The guest from another org is named from the profile the message carries, everyone else via users.info.
    assert "Sam (PG Consulting)" in {e.actor for e in batch.events}
    assert fake.undocumented == []  # every argument sent is one the published spec lists


def test_the_fake_notes_arguments_the_spec_does_not_list(base: str, fake: FakeSlack) -> None:
    client = api(base).client
    client.api_call("conversations.history", params={"channel": "C07INC2042", "olderst": "1"})
    assert fake.undocumented == [("conversations.history", ["olderst"])]


def test_the_fake_pages_users_list(base: str, fake: FakeSlack) -> None:
    for n in range(25):
        fake.add_user(f"U9{n:06d}", f"user{n}")
    client = api(base).client
    ids = [m["id"] for page in client.users_list(limit=10) for m in page["members"]]  # slack_sdk follows cursors
    assert len(fake.method_calls("users.list")) == 4 and len(ids) == len(set(ids)) == len(fake.users)


def test_calls_made_and_users_looked_up_once(base: str, fake: FakeSlack) -> None:
    live(base).collect_window("2042", (None, None))
    counts = {m: len(fake.method_calls(m)) for m in
              ("auth.test", "conversations.list", "conversations.history", "conversations.replies", "users.info")}
    assert counts["auth.test"] == 1 and counts["conversations.list"] == 1 and counts["conversations.history"] == 1
    threads = [m for m in fake.messages(CHANNEL) if m.get("reply_count")]
    assert counts["conversations.replies"] == len(threads) == 2
    looked_up = [r.form()["user"] for r in fake.method_calls("users.info")]
    assert len(looked_up) == len(set(looked_up))


def test_history_request_carries_the_window_as_ts_strings(base: str, fake: FakeSlack) -> None:
    since = datetime(2026, 11, 3, 23, 40, tzinfo=UTC)
    until = datetime(2026, 11, 4, 0, 0, 0, 500, tzinfo=UTC)
    batch = live(base).collect_window("2042", (since, until))
    form = fake.method_calls("conversations.history")[0].form()
    assert form["oldest"] == slack_ts(since) == "1793749200.000000"
    assert form["latest"] == "1793750400.000500"
    assert form["inclusive"] == "1" and form["channel"] == "C07INC2042"
    assert batch.events and all(since <= e.at <= until for e in batch.events)
    everything = live(base).collect_window("2042", (None, None))
    assert len(batch.events) < len(everything.events)


def test_replies_outside_the_window_are_left_out(base: str, fake: FakeSlack) -> None:
    parent = next(m for m in fake.messages(CHANNEL) if m.get("reply_count"))
    replies = [m["ts"] for m in fake.messages(CHANNEL) if m.get("thread_ts") == parent["ts"] and m["ts"] != parent["ts"]]
    until = datetime.fromtimestamp(ts_key(parent["ts"])[0], UTC) + timedelta(seconds=1)
    batch = live(base).collect_window("2042", (None, until))
    kept = {e.ident for e in batch.events}
    assert parent["ts"] in kept and not kept & set(replies)


def test_raw_pages_for_the_evidence_archive(base: str) -> None:
    batch = live(base).collect_window("2042", (None, None))
    names = [r.name for r in batch.raw]
    assert names[0] == "slack/history-0001.json"
    assert sum(n.startswith("slack/replies-") for n in names) == 2
    assert names[-2:] == ["slack/channel.json", "slack/users.json"]
    page = json.loads(batch.raw[0].data)
    assert page["ok"] is True and page["messages"]
    users = json.loads(batch.raw[-1].data)
    assert users and all(set(u) == {"id", "name", "real_name", "display_name"} for u in users)  # no e-mails


def test_message_ts_never_goes_through_a_float(base: str, fake: FakeSlack) -> None:
    fake.add_message(CHANNEL, {"ts": "1793749999.000001", "user": "U01DANA", "text": "precise"})
    fake.add_message(CHANNEL, {"ts": "1793749999.000002", "user": "U01DANA", "text": "more precise"})
    batch = live(base).collect_window("2042", (None, None))
    idents = {e.ident for e in batch.events}
    assert {"1793749999.000001", "1793749999.000002"} <= idents


# ---- pagination -------------------------------------------------------------------------------------------


def test_pages_of_fifteen_as_non_marketplace_apps_get(base: str, fake: FakeSlack) -> None:
    fake.page_cap = 15
    parent = "1793760000.000100"
    fake.add_message(CHANNEL, {"ts": parent, "user": "U01DANA", "text": "long thread", "thread_ts": parent})
    for n in range(40):
        fake.add_message(CHANNEL, {"ts": f"17937601{n:02d}.000100", "user": "U01PRIYA", "text": f"reply {n}",
                                   "thread_ts": parent})
    for n in range(30):
        fake.add_message(CHANNEL, {"ts": f"17937700{n:02d}.000100", "user": "U01DANA", "text": f"top {n}"})
    batch = live(base).collect_window("2042", (None, None))
    assert len(batch.events) == 21 + 1 + 40 + 30
    history = fake.method_calls("conversations.history")
    assert len(history) == 4  # 52 top-level messages, 15 a page
    assert "cursor" not in history[0].form() and all(r.form()["cursor"] for r in history[1:])
    thread_calls = [r for r in fake.method_calls("conversations.replies") if r.form()["ts"] == parent]
    assert len(thread_calls) == 3  # 40 replies in pages of 15, the parent heading each


def test_cursor_pagination_stops_on_an_empty_cursor_and_refuses_a_repeat() -> None:
    pages = {None: {"n": 1, "response_metadata": {"next_cursor": "a"}},
             "a": {"n": 2, "response_metadata": {"next_cursor": ""}}}
    assert [p["n"] for p in cursor_pages(lambda c: pages[c], "m")] == [1, 2]
    assert [p["n"] for p in cursor_pages(lambda c: {"n": 1}, "m")] == [1]
    looping = {None: {"response_metadata": {"next_cursor": "x"}}, "x": {"response_metadata": {"next_cursor": "x"}}}
    with pytest.raises(ServiceError, match="repeated the cursor"):
        list(cursor_pages(lambda c: looping[c], "conversations.history"))


def test_many_channels_are_listed_page_by_page(base: str, fake: FakeSlack) -> None:
    for n in range(1100):
        fake.add_channel(f"team-{n:04d}", channel_id=f"C9{n:07d}")
    fake.add_channel("inc-9001-db", channel_id="CZZ9001DB")
    channel, names = live(base).find_channel("9001")
    assert channel.id == "CZZ9001DB"
    assert len(fake.method_calls("conversations.list")) == 2 and len(names) == len(fake.channels)
    form = fake.method_calls("conversations.list")[0].form()
    assert form["types"] == "public_channel,private_channel" and form["exclude_archived"] == "0"


# ---- finding the channel ------------------------------------------------------------------------------------


def test_pattern_prefers_the_exact_id_and_live_channels(base: str, fake: FakeSlack) -> None:
    fake.add_channel("inc-20420-other", channel_id="C0OTHER01")
    fake.add_channel("inc-2042-old", channel_id="C0OLD0001", archived=True)
    channel, _ = live(base).find_channel("2042")
    assert channel.name == CHANNEL


def test_several_live_matches_ask_for_the_channel(base: str, fake: FakeSlack) -> None:
    fake.add_channel("inc-2042-comms", channel_id="C0COMMS01")
    with pytest.raises(ServiceError) as err:
        live(base).find_channel("2042")
    assert "#inc-2042-checkout" in str(err.value) and "--slack-channel" in str(err.value)


def test_no_match_is_one_clear_line(base: str) -> None:
    with pytest.raises(NotFoundError) as err:
        live(base).collect_window("9999", (None, None))
    message = str(err.value)
    assert "\n" not in message and "inc-9999*" in message and "channel_pattern" in message


def test_an_explicit_channel_name_or_id(base: str, fake: FakeSlack) -> None:
    by_name = live(base, channel="#inc-2042-checkout", channel_pattern=None).collect_window("x", (None, None))
    before = len(fake.method_calls("conversations.list"))
    by_id = live(base, channel="C07INC2042", channel_pattern=None).collect_window("x", (None, None))
    assert len(fake.method_calls("conversations.list")) == before  # an id needs no listing
    assert by_name.events == by_id.events and by_name.events


def test_private_channels_the_app_is_not_in_stay_invisible(base: str, fake: FakeSlack) -> None:
    fake.add_channel("inc-7-secret", channel_id="G0SECRET1", private=True, member=False)
    with pytest.raises(NotFoundError, match="invite the app"):
        live(base).find_channel("7")
    fake.channels["G0SECRET1"]["is_member"] = True
    assert live(base).find_channel("7")[0].id == "G0SECRET1"


def test_a_public_channel_the_app_has_not_joined(base: str, fake: FakeSlack) -> None:
    fake.channels["C07INC2042"]["is_member"] = False
    with pytest.raises(AuthError, match="not_in_channel.*invite the app"):
        live(base).collect_window("2042", (None, None))


# ---- people ---------------------------------------------------------------------------------------------------


def test_unknown_people_keep_their_id_and_lookup_failures_warn_once(base: str, fake: FakeSlack) -> None:
    fake.add_message(CHANNEL, {"ts": "1793749999.000100", "user": "U0GHOST1", "text": "hi <@U0GHOST2>"})
    batch = live(base).collect_window("2042", (None, None))
    ghost = next(e for e in batch.events if e.ident == "1793749999.000100")
    assert ghost.actor == "U0GHOST1" and ghost.text == "hi @U0GHOST2" and not batch.warnings

    fake.fail_next(200, path="users.info", body={"ok": False, "error": "missing_scope", "needed": "users:read",
                                                  "provided": "channels:history"})
    batch = live(base).collect_window("2042", (None, None))
    assert len(batch.warnings) == 1 and "users:read" in batch.warnings[0]
    assert batch.events  # the messages are still there


def test_mentions_are_named(base: str, fake: FakeSlack) -> None:
    fake.add_message(CHANNEL, {"ts": "1793749999.000100", "user": "U01DANA", "text": "<@U01PRIYA> can you roll back?"})
    batch = live(base).collect_window("2042", (None, None))
    event = next(e for e in batch.events if e.ident == "1793749999.000100")
    priya = fake.users["U01PRIYA"]["profile"]
    assert event.text == f"@{priya['display_name'] or fake.users['U01PRIYA']['real_name']} can you roll back?"


# ---- failures -----------------------------------------------------------------------------------------------


def test_429_waits_as_long_as_retry_after_says(base: str, fake: FakeSlack) -> None:
    sleeps = Sleeps()
    fake.fail_next(429, path="conversations.history", headers={"Retry-After": "7"})
    batch = live(base, sleeps=sleeps).collect_window("2042", (None, None))
    assert len(batch.events) == 21
    assert len(fake.method_calls("conversations.history")) == 2
    assert sleeps.waits == [7.0]


def test_429_really_waits(base: str, fake: FakeSlack) -> None:
    fake.fail_next(429, path="conversations.history", headers={"Retry-After": "1"})
    policy = RetryPolicy(attempts=3, base=0.01)
    source = SlackLive(SlackApi(TOKEN, api_url=base, policy=policy), channel_pattern="inc-{id}*")
    started = time.monotonic()
    source.collect_window("2042", (None, None))
    assert time.monotonic() - started >= 1.0
    assert len(fake.method_calls("conversations.history")) == 2


def test_rate_limits_exhausted_is_an_error_saying_so(base: str, fake: FakeSlack) -> None:
    fake.fail_next(429, path="conversations.history", headers={"Retry-After": "0"}, times=10)
    with pytest.raises(RateLimitedError) as err:
        live(base).collect_window("2042", (None, None))
    assert len(fake.method_calls("conversations.history")) == 4  # bounded by the policy's attempts
    assert "ratelimited" in str(err.value) and "rate limiting" in str(err.value)


def test_throttled_pages_mid_channel_are_retried(base: str, fake: FakeSlack) -> None:
    fake.page_cap = 5
    fake.throttle("conversations.history", every=2)
    sleeps = Sleeps()
    batch = live(base, sleeps=sleeps).collect_window("2042", (None, None))
    assert len(batch.events) == 21 and sleeps.waits and set(sleeps.waits) == {0.0}


def test_5xx_is_retried_then_reported(base: str, fake: FakeSlack) -> None:
    sleeps = Sleeps()
    fake.fail_next(503, path="conversations.replies", times=2)
    batch = live(base, sleeps=sleeps).collect_window("2042", (None, None))
    assert len(batch.events) == 21 and len(sleeps.waits) == 2
    fake.fail_next(500, path="conversations.history", times=10)
    with pytest.raises(ServiceError) as err:
        live(base).collect_window("2042", (None, None))
    assert err.value.retriable and err.value.status == 500 and "\n" not in str(err.value)


def test_bad_token_is_one_clear_line_without_the_token(base: str, fake: FakeSlack) -> None:
    source = SlackLive(api(base, token="xoxb-wrong-token-123"), channel_pattern="inc-{id}*")
    with pytest.raises(AuthError) as err:
        source.collect_window("2042", (None, None))
    message = str(err.value)
    assert message.startswith("slack: auth.test: invalid_auth") and "[slack] token" in message
    assert "xoxb-wrong" not in message and "\n" not in message
    assert len(fake.method_calls("auth.test")) == 1  # refused credentials are not retried


def test_unreachable_api_is_retried_then_a_connection_error(fake: FakeSlack) -> None:
    with serve(FakeSlack()) as url:
        dead = url + "/api/"
    sleeps = Sleeps()
    with pytest.raises(ServiceError) as err:
        SlackLive(api(dead, sleeps, attempts=3), channel_pattern="inc-{id}*").collect_window("2042", (None, None))
    assert "cannot reach" in str(err.value) and len(sleeps.waits) == 2


def test_error_mapping() -> None:
    assert isinstance(slack_error("m", 200, {"error": "token_revoked"}, {}), AuthError)
    assert isinstance(slack_error("m", 200, {"error": "channel_not_found"}, {}), NotFoundError)
    limited = slack_error("m", 429, {"error": "ratelimited"}, {"retry-after": ["3"]})
    assert isinstance(limited, RateLimitedError) and limited.retry_after == 3.0
    missing = slack_error("m", 200, {"error": "missing_scope", "needed": "groups:history"}, {})
    assert "groups:history" in str(missing) and isinstance(missing, AuthError)
    odd = slack_error("m", 200, {"error": "invalid_blocks", "errors": ["must be less than 151 characters"]}, {})
    assert not odd.retriable and "less than 151" in str(odd)


# ---- config -------------------------------------------------------------------------------------------------


def test_from_config(monkeypatch: pytest.MonkeyPatch, base: str) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    config = Config(Path("/x/postmortem.toml"), {"slack": {"token": {"env": "SLACK_BOT_TOKEN"}, "api_url": base,
                                                           "channel_pattern": "inc-{id}*"}})
    source = SlackLive.from_config(config)
    assert source.name == "slack" and source.channel_pattern == "inc-{id}*"
    assert len(source.collect_window("2042", (None, None)).events) == 21
    assert SlackLive.from_config(config, channel="#inc-2042-checkout").channel == "inc-2042-checkout"


@pytest.mark.parametrize(("slack", "message"), [
    ({"channel_pattern": "inc-{id}*"}, "token is required"),
    ({"token": "xoxb-literal", "channel_pattern": "inc-{id}*"}, "secrets never go in the file"),
    ({"token": {"env": "SLACK_BOT_TOKEN"}}, "channel_pattern is required"),
    ({"token": {"env": "SLACK_BOT_TOKEN"}, "channel_pattern": "incidents"}, "has no {id}"),
    ({"token": {"env": "SLACK_BOT_TOKEN"}, "channel_pattern": "inc-{id}", "api_url": "ftp://x"}, "not an http"),
    ({"token": {"env": "NOT_SET_ANYWHERE"}, "channel_pattern": "inc-{id}"}, "NOT_SET_ANYWHERE is not set"),
])
def test_config_errors(monkeypatch: pytest.MonkeyPatch, slack: dict[str, Any], message: str) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(ConfigError, match=message):
        SlackLive.from_config(Config(Path("/x/postmortem.toml"), {"slack": slack}))


# ---- a busy channel -------------------------------------------------------------------------------------------

BIG_TOP, BIG_THREADS, BIG_REPLIES, BIG_USERS = 19_000, 100, 10, 40
START = 1_793_700_000


def big_channel(fake: FakeSlack) -> int:
    """20,000 messages: 19,000 top-level (100 of them threads of 10 replies), 40 people mentioning each other."""
    fake.add_channel("inc-5000-big", channel_id="C0BIG0001")
    for n in range(BIG_USERS):
        fake.add_user(f"U0P{n:05d}", f"person{n}", real_name=f"Person {n}")
    messages: list[dict[str, Any]] = []
    for n in range(BIG_TOP):
        ts = f"{START + n * 10}.000100"
        message: dict[str, Any] = {"ts": ts, "user": f"U0P{n % BIG_USERS:05d}",
                                   "text": f"status {n}: <@U0P{(n + 1) % BIG_USERS:05d}> error rate {n % 7}%"}
        messages.append(message)
        if n % (BIG_TOP // BIG_THREADS) == 0:
            message["thread_ts"] = ts
            messages.extend({"ts": f"{START + n * 10}.{200 + r:06d}", "user": f"U0P{r:05d}", "text": f"reply {r}",
                             "thread_ts": ts} for r in range(BIG_REPLIES))
    fake.add_messages("C0BIG0001", messages)
    return len(messages)


# Run in a child process, so its time and peak RSS are the client's own (the fake serves from this process).
_CHILD = """
import json, resource, sys, time
from datetime import timedelta
from ops_postmortem.connectors.http import RetryPolicy
from ops_postmortem.connectors.slack.api import SlackApi
from ops_postmortem.connectors.slack.live import SlackLive
from ops_postmortem.timeline import merge

source = SlackLive(SlackApi(sys.argv[2], api_url=sys.argv[1], policy=RetryPolicy(base=0.01)),
                   channel_pattern="inc-{id}*")
def rss_kib(field):  # VmRSS now, VmHWM the peak since exec (ru_maxrss keeps the forking parent's peak)
    try:
        status = open("/proc/self/status").read()
        return int(status.split(field + ":")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

before = rss_kib("VmRSS")
started = time.perf_counter()
batch = source.collect_window("5000", (None, None))
fetched = time.perf_counter() - started
events = merge(list(batch.events), since=None, until=None, collapse_window=timedelta(minutes=10))
merged = time.perf_counter() - started
after = rss_kib("VmHWM")
print(json.dumps({"events": len(batch.events), "merged": len(events), "fetched": fetched, "total": merged,
                  "rss_before_kib": before, "rss_peak_kib": after, "raw": sum(len(r.data) for r in batch.raw)}))
"""


def test_a_channel_of_20000_messages_in_seconds_and_bounded_memory(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeSlack()
    total = big_channel(fake)
    assert total == 20_000
    with serve(fake) as url:
        child = subprocess.run([sys.executable, "-c", _CHILD, url + "/api/", TOKEN], capture_output=True, text=True,
                               cwd=ROOT, timeout=120, check=False)
    assert child.returncode == 0, child.stderr
    run = json.loads(child.stdout)
    assert run["events"] == run["merged"] == total
    calls = {m: len(fake.method_calls(m)) for m in ("conversations.history", "conversations.replies", "users.info")}
    assert calls == {"conversations.history": 20, "conversations.replies": BIG_THREADS, "users.info": BIG_USERS}
    grew = (run["rss_peak_kib"] - run["rss_before_kib"]) / 1024
    measured = (f"20,000 Slack messages: fetched in {run['fetched']:.2f}s, merged by {run['total']:.2f}s; client "
                f"peak RSS {run['rss_peak_kib'] / 1024:.0f} MiB (+{grew:.0f} MiB for the channel), raw pages kept "
                f"{run['raw'] / 2**20:.1f} MiB; calls {calls}")
    with capsys.disabled():
        print("\n" + measured)
    assert run["total"] < 20, measured
    assert grew < 150, measured
