"""Write a large synthetic incident in the real export formats, to time the timeline pipeline on it.

Run: /work/venv/bin/python benchmarks/generate_large.py OUTDIR [--messages 100000] [--log-entries 10000] [--seed N]

OUTDIR/slack-export/ is a standard workspace export with several channels. The incident channel
#inc-bench holds most of the messages, spread over days, with threads that cross day files, bots,
joins, attachments, edits and reactions. About 1% of the messages hold a fake secret.
OUTDIR/pagerduty/ holds the `GET /incidents/{id}` response and the log_entries pages: 100 per page,
newest first, the files written in shuffled order.
The same arguments give the same bytes. examples/ has a small incident of the same shapes, checked by hand.
"""

from __future__ import annotations

import argparse
import json
import random
import string
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

Json = dict[str, Any]

TEAM = "T0BENCH01"
CHANNEL = "inc-bench"
INCIDENT_ID = "QBENCH7K2M9P4X"
INCIDENT_NUMBER = 90210
INCIDENT_TITLE = "payments-api: elevated 5xx and queue backlog"
START = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
INCIDENT_SPAN = timedelta(days=3)
CHAT_LEAD = timedelta(hours=12)  # chat before the page, outside the window the timeline reads
PAGE_SIZE = 100
PD_API = "https://api.pagerduty.com"
PD_WEB = "https://bench.pagerduty.com"

# Share of all messages per channel; the incident channel gets the rest.
OTHER_CHANNELS = {"general": 0.05, "ops": 0.05, "deploys": 0.05}

SERVICES = ("payments-api", "ledger-worker", "checkout-api", "auth-gateway", "search-indexer", "queue-relay")
PHRASES = (
    "error rate on {svc} is {pct}% now",
    "p99 for {svc} at {ms}ms, was {ms2}ms an hour ago",
    "restarting {svc}-{hex}-{pod} to see if the leak comes back",
    "<@{user}> can you check the {svc} dashboard? <https://grafana.bench.example/d/{hex}/{svc}?orgId=1&var-pod={svc}-{hex}|dashboard>",
    "queue depth {num}k &amp; still climbing on {svc}",
    "see <#C0OPS|ops> for the rollback plan",
    "deploy {sha} of {svc} is out on {pct}% of pods",
    "`kubectl -n {svc} get pods` shows {num} pods in CrashLoopBackOff",
    "latency &lt; 200ms on the canary, &gt; 2s on the rest",
    "I think it is the connection pool again, same as last month",
    "<!here> bridge is at <https://meet.bench.example/inc-bench|meet.bench.example/inc-bench>",
    "paging <!subteam^S0PAYONC|@payments-oncall> for {svc}",
    "trace {hex32} shows the timeout in the {svc} client",
    "ack, looking at {svc} logs now",
)
SECRET_PHRASES = (
    "try `curl -H \"Authorization: Bearer {slack_token}\" https://slack.com/api/auth.test`",
    "the DSN is postgres://payments:{password}@db-{num}.internal:5432/payments",
    "set password={password} in the job env for now",
    "AWS_ACCESS_KEY_ID={aws_key} was in the failing job log",
)


@dataclass(frozen=True)
class Written:
    """What the generator wrote, for the benchmark's table."""

    root: Path
    messages: int
    incident_messages: int
    channels: int
    day_files: int
    users: int
    secrets: int
    incident_secrets: int
    log_entries: int
    pages: int
    bytes: int


@dataclass(frozen=True)
class Person:
    id: str
    handle: str
    real_name: str
    team: str = TEAM


class _Lazy(dict[str, str]):
    """A format_map mapping that computes each field on first use."""

    def __init__(self, makers: dict[str, Callable[[], str]]) -> None:
        super().__init__()
        self.makers = makers

    def __missing__(self, key: str) -> str:
        value = self[key] = self.makers[key]()
        return value


def ts_of(micros: int) -> str:
    # Slack's ts: whole seconds, a dot, exactly six digits; built from integers, never a float.
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.profiles: dict[str, Json] = {}

    def chars(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choices(alphabet, k=n))

    def hexs(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    # ---- people ---------------------------------------------------------------------------------

    def people(self, count: int) -> list[Person]:
        firsts = ("Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kofi", "Lina",
                  "Mo", "Nia", "Omar", "Pia", "Quinn", "Ravi", "Sara", "Tomas", "Uma", "Vik", "Wen", "Yara")
        lasts = ("Abe", "Brown", "Costa", "Diaz", "Eze", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Khan",
                 "Lopez", "Moreau", "Novak", "Okafor", "Park", "Quist", "Rossi", "Singh", "Tanaka", "Urban")
        out = []
        for i in range(count):
            first, last = self.rng.choice(firsts), self.rng.choice(lasts)
            out.append(Person(f"U0B{i:07d}", f"{first}.{last}{i}".lower(), f"{first} {last}"))
        return out

    def user_json(self, p: Person, *, deleted: bool) -> Json:
        first, _, last = p.real_name.partition(" ")
        entry: Json = {
            "id": p.id,
            "team_id": TEAM,
            "name": p.handle,
            "deleted": deleted,
            "color": self.hexs(6),
            "real_name": p.real_name,
            "profile": {
                "title": "",
                "real_name": p.real_name,
                "real_name_normalized": p.real_name,
                "display_name": p.real_name if self.rng.random() < 0.6 else "",
                "display_name_normalized": "",
                "status_text": "",
                "status_emoji": "",
                "avatar_hash": "g" + self.hexs(11),
                "first_name": first,
                "last_name": last,
                "team": TEAM,
            },
            "is_bot": False,
            "is_app_user": False,
            "updated": 1767225600,
        }
        if not deleted:
            entry["profile"]["email"] = f"{p.handle}@bench.example"
            entry.update({"tz": "Europe/Berlin", "tz_offset": 3600, "is_admin": False, "is_restricted": False})
        return entry

    def profile(self, p: Person) -> Json:
        first = p.real_name.split(" ")[0]
        return {
            "avatar_hash": "g" + self.hexs(11),
            "image_72": f"https://secure.gravatar.com/avatar/{self.hexs(32)}.jpg?s=72",
            "first_name": first,
            "real_name": p.real_name,
            "display_name": p.real_name,
            "team": p.team,
            "name": p.handle,
            "is_restricted": p.team != TEAM,
            "is_ultra_restricted": False,
        }

    # ---- messages -------------------------------------------------------------------------------

    def text(self, users: list[Person]) -> str:
        # Fields are drawn only when the phrase uses them: most of the run time is random draws.
        fields = {
            "svc": lambda: self.rng.choice(SERVICES),
            "pct": lambda: str(self.rng.randrange(1, 100)),
            "ms": lambda: str(self.rng.randrange(200, 9000)),
            "ms2": lambda: str(self.rng.randrange(50, 400)),
            "hex": lambda: self.hexs(9),
            "hex32": lambda: self.hexs(32),
            "pod": lambda: self.chars(string.ascii_lowercase + string.digits, 5),
            "user": lambda: self.rng.choice(users).id,
            "num": lambda: str(self.rng.randrange(2, 500)),
            "sha": lambda: self.hexs(12),
        }
        return self.rng.choice(PHRASES).format_map(_Lazy(fields))

    def secret_text(self) -> str:
        # Fake by construction: assembled from random parts, never a real credential.
        return self.rng.choice(SECRET_PHRASES).format(
            slack_token="xox" + "b-" + f"{self.rng.randrange(10**9, 10**10)}-" + self.chars(string.ascii_letters, 24),
            password="Fake" + self.chars(string.ascii_letters + string.digits, 14),
            aws_key="AKIA" + self.chars(string.ascii_uppercase + "234567", 16),
            num=self.rng.randrange(1, 9),
        )

    def note(self) -> str:
        action = self.rng.choice(("restarted pods", "scaled up", "failed over", "paused consumers"))
        return f"{self.rng.choice(SERVICES)}: {action}"

    def human(self, p: Person, micros: int, text: str) -> Json:
        msg: Json = {
            "user": p.id,
            "type": "message",
            "ts": ts_of(micros),
            "client_msg_id": f"{self.hexs(8)}-{self.hexs(4)}-4{self.hexs(3)}-a{self.hexs(3)}-{self.hexs(12)}",
            "text": text,
            "team": p.team,
            "user_team": p.team,
            "source_team": p.team,
            "user_profile": self.profiles.get(p.id) or self.profiles.setdefault(p.id, self.profile(p)),
            "blocks": [{
                "type": "rich_text",
                "block_id": self.chars(string.ascii_letters + string.digits, 5),
                "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
            }],
        }
        roll = self.rng.random()
        if roll < 0.02:
            msg["edited"] = {"user": p.id, "ts": ts_of(micros + self.rng.randrange(5, 600) * 1_000_000)}
        elif roll < 0.07:
            msg["reactions"] = [{"name": self.rng.choice(("eyes", "+1", "white_check_mark")),
                                 "users": [p.id], "count": 1}]
        return msg

    def alert_post(self, micros: int) -> Json:
        svc = self.rng.choice(SERVICES)
        firing = self.rng.random() < 0.7
        state = "FIRING:1" if firing else "RESOLVED"
        title = f"[{state}] HighErrorRate {svc} (prod {svc}-{self.hexs(9)} page)"
        return {
            "type": "message",
            "subtype": "bot_message",
            "text": "",
            "ts": ts_of(micros),
            "username": "Alertmanager",
            "bot_id": "B0BALERTS",
            "attachments": [{
                "id": 1,
                "color": "a30200" if firing else "2eb886",
                "fallback": title,
                "title": title,
                "title_link": "https://alertmanager.bench.example/#/alerts",
                "text": f"*Summary:* {svc}: 5xx ratio above 5%\n*Runbook:* <https://runbooks.bench.example/{svc}|runbook>",
                "fields": [{"title": "severity", "value": "page", "short": True}],
                "mrkdwn_in": ["fallback", "pretext", "text"],
            }],
        }

    def deploy_post(self, micros: int) -> Json:
        return {
            "type": "message",
            "subtype": "bot_message",
            "text": f"{self.rng.choice(SERVICES)} deploy {self.hexs(12)} finished on prod",
            "ts": ts_of(micros),
            "username": "Spinnaker",
            "bot_id": "B0BSPNKR",
        }

    def channel_messages(self, count: int, start: datetime, end: datetime, members: list[Person],
                         *, incident: bool) -> tuple[list[Json], int]:
        """Messages of one channel in ts order, thread metadata filled in; returns them and the secret count."""
        lo, hi = int(start.timestamp() * 1_000_000), int(end.timestamp() * 1_000_000)
        times = sorted(self.rng.randrange(lo, hi) for _ in range(count))
        for i in range(1, len(times)):
            times[i] = max(times[i], times[i - 1] + 1)  # ts is unique per channel
        out: list[Json] = []
        parents: list[Json] = []
        replies: dict[str, list[Json]] = defaultdict(list)
        secrets = 0
        for micros in times:
            roll = self.rng.random()
            if roll < 0.01:
                p = self.rng.choice(members)
                out.append({"type": "message", "subtype": "channel_join", "ts": ts_of(micros), "user": p.id,
                            "text": f"<@{p.id}> has joined the channel"})
                continue
            if roll < (0.05 if incident else 0.02):
                out.append(self.alert_post(micros))
                continue
            if roll < (0.06 if incident else 0.10):
                out.append(self.deploy_post(micros))
                continue
            p = self.rng.choice(members)
            if self.rng.random() < 0.01:
                text = self.secret_text()
                secrets += 1
            else:
                text = self.text(members)
            msg = self.human(p, micros, text)
            if parents and self.rng.random() < 0.25:
                parent = self.rng.choice(parents[-200:])
                msg["thread_ts"] = parent["ts"]
                msg["parent_user_id"] = parent["user"]
                if self.rng.random() < 0.03:
                    msg["subtype"] = "thread_broadcast"
                replies[parent["ts"]].append(msg)
            else:
                parents.append(msg)
            out.append(msg)
        for parent in parents:
            thread = replies.get(parent["ts"])
            if not thread:
                continue
            users = list(dict.fromkeys(r["user"] for r in thread))
            parent.update({
                "thread_ts": parent["ts"],
                "reply_count": len(thread),
                "reply_users_count": len(users),
                "latest_reply": thread[-1]["ts"],
                "reply_users": users[:5],
                "replies": [{"user": r["user"], "ts": r["ts"]} for r in thread],
                "is_locked": False,
                "subscribed": False,
            })
        return out, secrets


def by_day(messages: list[Json]) -> Iterator[tuple[str, list[Json]]]:
    days: dict[str, list[Json]] = defaultdict(list)
    for msg in messages:
        day = datetime.fromtimestamp(int(msg["ts"].split(".")[0]), UTC).strftime("%Y-%m-%d")
        days[day].append(msg)
    yield from sorted(days.items())


def write_json(path: Path, data: object) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return len(text.encode("utf-8"))


def write_day(path: Path, messages: list[Json]) -> int:
    # One message per line: json's C encoder only runs without indent, and Slack's 4-space layout would
    # triple the generation time for whitespace no reader depends on.
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "[\n" + ",\n".join(json.dumps(m, ensure_ascii=False) for m in messages) + "\n]\n"
    path.write_text(text, encoding="utf-8")
    return len(text.encode("utf-8"))


def write_slack(gen: Generator, root: Path, messages: int) -> tuple[int, int, int, int, int, int, int]:
    """Returns (incident messages, channels, day files, users, secrets, secrets in the incident channel, bytes)."""
    people = gen.people(max(20, messages // 400))
    guests = [Person(f"U0G{i:07d}", f"guest{i}", f"Guest {i}", team="T0PARTNER") for i in range(10)]
    deleted = set(gen.rng.sample(range(len(people)), k=len(people) // 50))
    users = [gen.user_json(p, deleted=i in deleted) for i, p in enumerate(people)]
    for bot_id, name in (("U0BALERTS", "alertmanager"), ("U0BSPNKR", "spinnaker")):
        users.append({"id": bot_id, "team_id": TEAM, "name": name, "deleted": False, "real_name": name,
                      "profile": {"real_name": name, "display_name": "", "team": TEAM,
                                  "bot_id": "B" + bot_id[1:], "always_active": True},
                      "is_bot": True, "is_app_user": False, "updated": 1767225600})
    written = write_json(root / "users.json", users)

    end = START + INCIDENT_SPAN
    counts = {name: int(messages * share) for name, share in OTHER_CHANNELS.items()}
    counts[CHANNEL] = messages - sum(counts.values())
    channels = []
    day_files = secrets = incident_secrets = 0
    for index, (name, count) in enumerate(sorted(counts.items())):
        incident = name == CHANNEL
        members = people + guests if incident else people
        start = START - CHAT_LEAD if incident else START - timedelta(days=2)
        msgs, found = gen.channel_messages(count, start, end, members, incident=incident)
        secrets += found
        incident_secrets += found if incident else 0
        for day, chunk in by_day(msgs):
            written += write_day(root / name / f"{day}.json", chunk)
            day_files += 1
        channels.append({
            "id": "C0BINC0001" if incident else f"C0B{index:07d}",
            "name": name,
            "created": int((START - timedelta(days=30)).timestamp()),
            "creator": people[0].id,
            "is_archived": False,
            "is_general": name == "general",
            "members": [p.id for p in members[:50]],
            "topic": {"value": f"#{name}", "creator": people[0].id, "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        })
    written += write_json(root / "channels.json", channels)
    written += write_json(root / "integration_logs.json", [])
    return counts[CHANNEL], len(channels), day_files, len(users), secrets, incident_secrets, written


def ref(kind: str, rid: str, summary: str, path: str) -> Json:
    return {"id": rid, "type": f"{kind}_reference", "summary": summary, "self": f"{PD_API}/{path}/{rid}",
            "html_url": f"{PD_WEB}/{path}/{rid}"}


def write_pagerduty(gen: Generator, root: Path, count: int) -> tuple[int, int]:
    """Returns (pages, bytes)."""
    service = ref("service", "PBENCHS", "payments-api", "services")
    integration = ref("events_api_v2_inbound_integration", "PBENCHI", "Prometheus Alertmanager",
                      "services/PBENCHS/integrations")
    responders = [ref("user", f"PU{i:05d}", f"Responder {i}", "users") for i in range(12)]
    incident_ref = {"id": INCIDENT_ID, "type": "incident_reference",
                    "summary": f"[#{INCIDENT_NUMBER}] {INCIDENT_TITLE}",
                    "self": f"{PD_API}/incidents/{INCIDENT_ID}", "html_url": f"{PD_WEB}/incidents/{INCIDENT_ID}"}

    def entry(kind: str, summary: str, **extra: Any) -> Json:
        eid = gen.chars(string.ascii_uppercase + string.digits, 26)
        e: Json = {"id": eid, "type": kind, "summary": summary, "self": f"{PD_API}/log_entries/{eid}",
                   "html_url": None, "created_at": ""}
        e.update(extra)
        e.update({"service": service, "incident": incident_ref, "teams": [], "contexts": []})
        return e

    # Logical order: trigger, then cycles of notification bursts, acknowledgements, timeouts and notes.
    entries = [entry("trigger_log_entry", "Triggered through the API.", agent=integration,
                     channel={"type": "api", "summary": INCIDENT_TITLE, "details": {"num_firing": "1"}})]
    while len(entries) < count - 1:
        for user in gen.rng.sample(responders, k=gen.rng.randrange(1, 4)):
            for how, label in (("push_notification", "push notification"), ("sms_notification", "SMS"),
                               ("phone_notification", "phone")):
                entries.append(entry("notify_log_entry", f"Notified {user['summary']} by {label}.", user=user,
                                     channel={"type": "auto", "notification": {
                                         "type": how, "status": "success",
                                         "address": None if how == "push_notification" else "+1 555-0100"}}))
        acker = gen.rng.choice(responders)
        entries.append(entry("acknowledge_log_entry", f"Acknowledged by {acker['summary']}.", agent=acker,
                             channel={"type": "website"}, acknowledgement_timeout=1800))
        if gen.rng.random() < 0.4:
            entries.append(entry("annotate_log_entry", "Note added", agent=acker,
                                 channel={"type": "note", "summary": gen.note()}))
        entries.append(entry("unacknowledge_log_entry", "Unacknowledged due to timeout.", agent=service,
                             channel={"type": "timeout"}))
    del entries[count - 1:]
    resolver = gen.rng.choice(responders)
    entries.append(entry("resolve_log_entry", f"Resolved by {resolver['summary']}.", agent=resolver,
                         channel={"type": "website"}))
    step = INCIDENT_SPAN / max(1, len(entries) - 1)
    for i, e in enumerate(entries):
        e["created_at"] = iso(START + step * i)

    newest_first = entries[::-1]
    pages = [newest_first[o:o + PAGE_SIZE] for o in range(0, len(newest_first), PAGE_SIZE)]
    order = list(range(len(pages)))
    gen.rng.shuffle(order)
    written = 0
    for position, index in enumerate(order):
        offset = index * PAGE_SIZE
        written += write_json(root / f"log_entries-{position:04d}.json", {
            "log_entries": pages[index], "limit": PAGE_SIZE, "offset": offset,
            "more": offset + PAGE_SIZE < len(newest_first), "total": len(newest_first),
        })
    resolved_at = entries[-1]["created_at"]
    written += write_json(root / "incident.json", {"incident": {
        "id": INCIDENT_ID, "type": "incident", "summary": incident_ref["summary"],
        "self": incident_ref["self"], "html_url": incident_ref["html_url"],
        "incident_number": INCIDENT_NUMBER, "title": INCIDENT_TITLE,
        "created_at": entries[0]["created_at"], "updated_at": resolved_at, "status": "resolved",
        "service": service, "assignments": [], "acknowledgements": [], "pending_actions": [],
        "last_status_change_at": resolved_at, "resolved_at": resolved_at,
        "priority": {"id": "PBENCHP", "type": "priority_reference", "summary": "P1",
                     "self": f"{PD_API}/priorities/PBENCHP"},
        "urgency": "high",
    }})
    return len(pages), written


def generate(root: Path, *, messages: int = 100_000, log_entries: int = 10_000, seed: int = 2042) -> Written:
    gen = Generator(seed)
    incident_messages, channels, day_files, users, secrets, incident_secrets, slack_bytes = write_slack(
        gen, root / "slack-export", messages
    )
    pages, pd_bytes = write_pagerduty(gen, root / "pagerduty", log_entries)
    return Written(root, messages, incident_messages, channels, day_files, users, secrets, incident_secrets,
                   log_entries, pages, slack_bytes + pd_bytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--messages", type=int, default=100_000, help="Slack messages in all channels")
    parser.add_argument("--log-entries", type=int, default=10_000, help="PagerDuty log entries")
    parser.add_argument("--seed", type=int, default=2042)
    args = parser.parse_args()
    if args.messages < 1 or args.log_entries < 2:
        parser.error("need at least 1 message and 2 log entries (a trigger and a resolve)")
    w = generate(args.outdir, messages=args.messages, log_entries=args.log_entries, seed=args.seed)
    print(f"wrote {w.root / 'slack-export'}: {w.messages} messages in {w.channels} channels "
          f"({w.incident_messages} in #{CHANNEL}), {w.day_files} day files, {w.users} users, "
          f"{w.secrets} messages with a fake secret ({w.incident_secrets} in #{CHANNEL})")
    print(f"wrote {w.root / 'pagerduty'}: incident.json and {w.pages} log_entries pages "
          f"({w.log_entries} entries, newest first, files shuffled)")
    print(f"total {w.bytes / 2**20:.1f} MiB; incident id {INCIDENT_ID}, channel {CHANNEL}")


if __name__ == "__main__":
    main()
