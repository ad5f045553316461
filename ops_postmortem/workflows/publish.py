"""Publish: once a postmortem is signed off, share its lessons as one Block Kit summary per channel, once.

Every piece of doc text is escaped for mrkdwn (`&`, `<`, `>`) and sent in `verbatim` text objects, so text
people wrote can never become a mention, a broadcast or a link. Each channel is recorded on the doc: first as
pending, then as the posted message's link. A run killed between posting and recording finds its own post in
the channel (by the doc's link in the message text) instead of posting again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from ops_postmortem.actions import find_action_table, read_items
from ops_postmortem.connectors.base import DocumentStore, Notifier
from ops_postmortem.dates import DateParser
from ops_postmortem.errors import AuthError, DocumentError, NotFoundError, RateLimitedError, ServiceError
from ops_postmortem.escaping import web_url
from ops_postmortem.model import ActionItem, DocRef, Document, iso_z
from ops_postmortem.people import normalise_name
from ops_postmortem.signoff import SignOffRules
from ops_postmortem.timeutil import parse_time
from ops_postmortem.workflows.review import ReviewResult, ReviewSettings, review

# Block Kit limits (Slack's Block Kit reference): section text 3,000; header 150; fields 10 of 2,000 each;
# 50 blocks. chat.postMessage also refuses about 12,000 characters across all blocks (msg_blocks_too_long).
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
FIELD_LIMIT = 2000
MAX_FIELDS = 10
MAX_BLOCKS = 50
TOTAL_LIMIT = 11_000
PROSE_LIMIT = 1200  # a summary points to the doc; it does not repeat it

PUBLISHED = "published"
PENDING = "pending "
# How far before our own clock a recovered post may carry Slack's time (clock skew).
SKEW = timedelta(minutes=5)

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SPECIALS = re.compile("[&<>]")
_PROMPT = "TODO(authors)"


# ---- mrkdwn --------------------------------------------------------------------------------------------


def escape_mrkdwn(text: str) -> str:
    """Untrusted text for mrkdwn: `&`, `<` and `>` escaped, so no `<...>` control sequence can form."""
    return _SPECIALS.sub(lambda m: _ENTITIES[m.group()], text)


def clip_mrkdwn(text: str, limit: int) -> str:
    """`text` escaped, cut to at most `limit` characters on a character boundary (never inside an entity)."""
    escaped = escape_mrkdwn(text)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    size = 0
    for ch in text:
        piece = _ENTITIES.get(ch, ch)
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out).rstrip() + "…"


def link_mrkdwn(url: str, label: str) -> str:
    """`<url|label>` for a checked http(s) URL (label escaped), else the escaped label alone."""
    if not web_url(url) or len(url) > 1000:
        return escape_mrkdwn(label)
    safe = escape_mrkdwn(url).replace("|", "%7C")
    return f"<{safe}|{escape_mrkdwn(label)}>"


def mrkdwn(text: str) -> dict[str, Any]:
    """A text object for mrkdwn we built; verbatim, so Slack adds no links or mentions of its own."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def header(text: str) -> dict[str, Any]:
    """plain_text is never parsed for mentions or links: the title goes in as written, only shortened."""
    title = " ".join(text.split())
    if len(title) > HEADER_LIMIT:
        title = title[: HEADER_LIMIT - 1] + "…"
    return {"type": "header", "text": {"type": "plain_text", "text": title or "Postmortem", "emoji": False}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(text)]}


def chunk_lines(
    title: str, lines: Sequence[str], budget: int, max_blocks: int
) -> tuple[list[dict[str, Any]], int]:
    """Sections holding a bold title and the lines that fit in `budget` characters and `max_blocks` blocks.

    Returns the blocks and how many lines they hold; each line must be shorter than a section."""
    blocks: list[dict[str, Any]] = []
    current = f"*{title}*"
    spent = 0
    used = 0
    for line in lines:
        if spent + len(current) + 1 + len(line) > budget:
            break
        if len(current) + 1 + len(line) > SECTION_LIMIT:
            if len(blocks) + 2 > max_blocks:
                break
            blocks.append(section(current))
            spent += len(current)
            current = line
        else:
            current = f"{current}\n{line}"
        used += 1
    if max_blocks > len(blocks):
        blocks.append(section(current))
    return blocks, used


def text_length(blocks: Sequence[dict[str, Any]]) -> int:
    """Characters across every text object, as Slack counts toward msg_blocks_too_long."""
    total = 0
    for block in blocks:
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(obj, dict):
                total += len(str(obj.get("text", "")))
    return total


# ---- the summary ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    text: str  # the notification fallback, escaped; holds `marker`
    blocks: tuple[dict[str, Any], ...]
    marker: str


def _section_text(doc: Document, heading: str) -> str:
    """The written text of the first section with this heading; unanswered prompts left out."""
    wanted = normalise_name(heading)
    for sec in doc.sections:
        if normalise_name(sec.heading) == wanted:
            lines = [line for line in sec.text.splitlines() if _PROMPT not in line]
            return "\n".join(lines).strip()
    return ""


def _metrics(doc: Document) -> list[tuple[str, str]]:
    """(label, value) from the Key metrics tables: the moments' times and the durations from detection."""
    wanted = {"impact started", "detected", "mitigated", "resolved", "time to acknowledge", "time to mitigate",
              "time to resolve"}
    found: list[tuple[str, str]] = []
    for table in doc.tables:
        if normalise_name(table.heading or "") != "key metrics":
            continue
        for row in table.rows:
            if len(row) < 2:
                continue
            label, value = row[0].text.strip(), row[1].text.strip()
            if normalise_name(label) in wanted and value and value.lower() not in ("unknown", "-", "—"):
                found.append((label, value))
    return found[:MAX_FIELDS]


def _items(doc: Document, locale: str) -> list[ActionItem]:
    try:
        table, mapping = find_action_table(doc)
    except DocumentError:
        return []
    return [i for i in read_items(table, mapping, DateParser(locale)) if i.marker is None and i.action]


def item_line(item: ActionItem) -> str:
    """One bullet: action, owner, due date, ticket (linked when the doc links it), each shortened."""
    owner = item.owner_person.name if item.owner_person else item.owner
    parts = [clip_mrkdwn(" ".join(item.action.split()), 500)]
    parts.append(clip_mrkdwn(owner, 100) if owner else "_no owner_")
    if item.due:
        parts.append(f"due {item.due.isoformat()}")
    elif item.due_text:
        parts.append(f"due {clip_mrkdwn(item.due_text, 40)}")
    if item.ticket:
        key = item.ticket.key[:60]
        shown = link_mrkdwn(item.ticket.url, key) if item.ticket.url else escape_mrkdwn(key)
        parts.append(shown + (f" ({clip_mrkdwn(item.ticket.status, 40)})" if item.ticket.status else ""))
    return "• " + " — ".join(parts)


def summary_message(doc: Document, result: ReviewResult, *, locale: str = "en-US") -> Message:
    """The Block Kit summary: title, impact, key metrics, trigger and latent conditions, actions, the link."""
    ref = doc.ref
    blocks: list[dict[str, Any]] = [header(f"Postmortem: {doc.title or ref.title or ref.id}")]
    facts = [doc.incident_id or ref.id, doc.severity or ""]
    approved = [s.reviewer.name for s in result.report.reviewers if s.status == "approved"]
    if approved:
        facts.append("signed off by " + ", ".join(approved))
    blocks.append(context(escape_mrkdwn(" · ".join(f for f in facts if f))))
    for title in ("Summary", "Impact"):
        text = _section_text(doc, title)
        if text:
            blocks.append(section(f"*{title}*\n{clip_mrkdwn(text, PROSE_LIMIT)}"))
    metrics = _metrics(doc)
    if metrics:
        blocks.append(section("*Key metrics*"))
        fields = [mrkdwn(clip_mrkdwn(f"{label}: {value}", FIELD_LIMIT)) for label, value in metrics]
        blocks[-1]["fields"] = fields
    for title in ("Trigger", "Latent conditions"):
        text = _section_text(doc, title)
        if text:
            blocks.append(section(f"*{title}*\n{clip_mrkdwn(text, PROSE_LIMIT)}"))
    link = (link_mrkdwn(ref.url, "Read the full postmortem") if web_url(ref.url)
            else f"Full postmortem: {escape_mrkdwn(ref.url)}")
    closing = [section(link), context("Shared by ops-postmortem once the review was signed off.")]
    items = _items(doc, locale)
    if items:
        lines = [item_line(i) for i in items]
        budget = TOTAL_LIMIT - text_length(blocks) - text_length(closing) - 100
        room = MAX_BLOCKS - len(blocks) - len(closing) - 1
        item_blocks, used = chunk_lines("Action items", lines, budget, room)
        blocks.extend(item_blocks)
        if used < len(lines):
            blocks.append(context(f"…and {len(lines) - used} more action items in the postmortem."))
    blocks.extend(closing)
    marker = escape_mrkdwn(ref.url)
    text = f"Postmortem published: {clip_mrkdwn(doc.title or ref.id, 200)} {marker}"
    return Message(text, tuple(blocks), marker)


# ---- publishing ----------------------------------------------------------------------------------------


PostStatus = Literal["posted", "already", "found", "failed", "planned"]


@dataclass(frozen=True)
class ChannelPost:
    channel: str
    status: PostStatus
    link: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class PublishResult:
    ref: DocRef
    review: ReviewResult
    message: Message
    posts: tuple[ChannelPost, ...] = field(default=())

    @property
    def signed_off(self) -> bool:
        return self.review.report.signed_off

    @property
    def ok(self) -> bool:
        return self.signed_off and all(p.status != "failed" for p in self.posts)


def channel_key(channel: str) -> str:
    """The doc property recording one channel's post."""
    return f"{PUBLISHED}.{channel.strip().lstrip('#').lower()}"


def publish(
    store: DocumentStore,
    notifier: Notifier | None,
    ref: DocRef,
    rules: SignOffRules,
    settings: ReviewSettings,
    channels: Sequence[str],
    *,
    locale: str = "en-US",
    dry_run: bool = False,
    now: datetime,
) -> PublishResult:
    """Post the summary to every channel not yet recorded on the doc; nothing before sign-off."""
    reviewed = review(store, ref, rules, settings)
    doc = store.read(ref)
    message = summary_message(doc, reviewed, locale=locale)
    result = PublishResult(ref, reviewed, message)
    if not reviewed.report.signed_off:
        return result
    recorded = store.properties(ref)
    if dry_run or notifier is None:
        planned = tuple(_planned(c, recorded.get(channel_key(c), "")) for c in channels)
        return PublishResult(ref, reviewed, message, planned)
    posts = tuple(_post_once(store, notifier, ref, c, recorded.get(channel_key(c), ""), message, now)
                  for c in channels)
    if posts and all(p.status != "failed" for p in posts) and PUBLISHED not in recorded:
        store.set_properties(ref, {PUBLISHED: iso_z(now) or ""})
    return PublishResult(ref, reviewed, message, posts)


def _planned(channel: str, state: str) -> ChannelPost:
    if state and not state.startswith(PENDING):
        return ChannelPost(channel, "already", state)
    return ChannelPost(channel, "planned")


def _post_once(
    store: DocumentStore, notifier: Notifier, ref: DocRef, channel: str, state: str, message: Message, now: datetime
) -> ChannelPost:
    key = channel_key(channel)
    if state and not state.startswith(PENDING):
        return ChannelPost(channel, "already", state)
    if state.startswith(PENDING):
        # A run stopped between posting and recording: look before posting again.
        try:
            found = notifier.find_post(channel, parse_time(state[len(PENDING):]) - SKEW, message.marker)
        except (ServiceError, ValueError) as exc:
            return ChannelPost(channel, "failed", error=f"cannot check for an earlier post: {exc}")
        if found is not None:
            store.set_properties(ref, {key: found})
            return ChannelPost(channel, "found", found)
    store.set_properties(ref, {key: f"{PENDING}{iso_z(now)}"})
    try:
        link = notifier.post(channel, message.text, list(message.blocks))
    except ServiceError as exc:
        if refused(exc):
            store.set_properties(ref, {key: ""})  # nothing was posted
        return ChannelPost(channel, "failed", error=str(exc))
    store.set_properties(ref, {key: link})
    return ChannelPost(channel, "posted", link)


def refused(exc: ServiceError) -> bool:
    """The service turned the message down before posting it (as opposed to a 5xx or a lost connection)."""
    if isinstance(exc, (AuthError, NotFoundError, RateLimitedError)):
        return True
    return exc.status is not None and exc.status < 500


def publish_json(result: PublishResult) -> dict[str, Any]:
    return {
        "url": result.ref.url,
        "signed_off": result.signed_off,
        "posts": [{"channel": p.channel, "status": p.status, "link": p.link, "error": p.error}
                  for p in result.posts],
        "text": result.message.text,
        "blocks": list(result.message.blocks),
    }


def not_signed_off(result: PublishResult) -> str:
    """Why publishing was refused: who has not approved and how many corrections are open."""
    waiting = [
        f"{s.reviewer.name} ({'changes requested' if s.status == 'changes_requested' else 'not yet approved'})"
        for s in result.review.report.reviewers if s.status != "approved"
    ]
    threads = len(result.review.report.open_threads)
    parts = [f"waiting for {', '.join(waiting)}"] if waiting else []
    if threads:
        parts.append(f"{threads} correction thread(s) open")
    why = "; ".join(parts) or "the review is not complete"
    return f"{result.ref.url} is not signed off ({why}); it is published only after sign-off (see `postmortem review`)"


def publish_text(result: PublishResult) -> str:
    words = {"posted": "posted to", "already": "already posted to", "found": "found the earlier post in",
             "planned": "would post to", "failed": "failed to post to"}
    lines = []
    for post in result.posts:
        where = f"{words[post.status]} {post.channel}"
        lines.append(f"{where}: {post.error}" if post.error else f"{where}: {post.link}" if post.link else where)
    return "\n".join(lines) or "no channels to post to"
