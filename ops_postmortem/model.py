"""The domain model: frozen dataclasses, every datetime timezone-aware UTC.

Connectors map vendor data to and from these types; workflows know nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

__all__ = ["UTC"]  # re-exported: every module takes UTC from here


def require_utc(value: datetime, what: str) -> datetime:
    """Normalise an aware datetime to UTC; a naive one is a programming error."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC)


def iso_z(value: datetime | None) -> str | None:
    """ISO-8601 in UTC ending in Z: seconds, with milliseconds when there are any."""
    if value is None:
        return None
    v = value.astimezone(UTC)
    stamp = f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
    millis = v.microsecond // 1000
    return f"{stamp}.{millis:03d}Z" if millis else f"{stamp}Z"


# Event kinds. `kind` stays an open string: sources may add their own.
class Kind:
    IMPACT_START = "impact_start"
    ALERT_FIRING = "alert_firing"
    ALERT_RESOLVED = "alert_resolved"
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    UNACKNOWLEDGE = "unacknowledge"
    ASSIGN = "assign"
    ESCALATE = "escalate"
    NOTIFY = "notify"
    NOTE = "note"
    MESSAGE = "message"
    MITIGATE = "mitigate"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    DEPLOY = "deploy"
    DECISION = "decision"
    ACTION = "action"
    STATUS_UPDATE = "status_update"
    OTHER = "other"


@dataclass(frozen=True)
class Person:
    name: str
    email: str | None = None
    account_id: str | None = None  # Slack user id, Atlassian accountId, GitHub login, Google person id


@dataclass(frozen=True)
class EvidenceRef:
    """Where a fact came from: enough to find the original again."""

    source: str
    ident: str
    url: str | None = None


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    source: str  # pagerduty | opsgenie | alertmanager | grafana | slack | events | ...
    kind: str  # a Kind constant or a source-specific string
    text: str
    actor: str | None = None
    link: str | None = None
    ident: str = ""  # unique within the source (log entry id, Slack ts, fingerprint@startsAt)
    # Events with the same dedupe_key are one fact seen twice (REST page and webhook).
    dedupe_key: str | None = None
    thread: str | None = None  # chat thread the message belongs to
    count: int = 1  # >1 when repeated notifications were collapsed into this entry

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", require_utc(self.at, f"{self.source} event {self.ident!r} time"))

    @property
    def evidence(self) -> EvidenceRef:
        return EvidenceRef(self.source, self.ident, self.link)


@dataclass(frozen=True)
class IncidentFacts:
    """What one source knows about the incident itself; merged into an Incident."""

    source: str
    ident: str | None = None  # the source's own id (PagerDuty incident id, Opsgenie alert id)
    number: str | None = None
    title: str | None = None
    severity: str | None = None
    status: str | None = None
    service: str | None = None
    url: str | None = None
    created_at: datetime | None = None
    resolved_at: datetime | None = None
    responders: tuple[Person, ...] = ()


@dataclass(frozen=True)
class Incident:
    id: str
    title: str
    severity: str | None = None
    status: str = "Draft"
    services: tuple[str, ...] = ()
    links: tuple[EvidenceRef, ...] = ()
    responders: tuple[Person, ...] = ()
    authors: tuple[Person, ...] = ()
    reviewers: tuple[Person, ...] = ()


@dataclass(frozen=True)
class Moment:
    at: datetime
    evidence: EvidenceRef | None = None
    text: str = ""
    inferred: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", require_utc(self.at, "moment"))


@dataclass(frozen=True)
class KeyMoments:
    impact_started: Moment | None = None
    detected: Moment | None = None
    acknowledged: Moment | None = None
    mitigated: Moment | None = None
    resolved: Moment | None = None

    def _since_detected(self, moment: Moment | None) -> int | None:
        if moment is None or self.detected is None:
            return None
        return int((moment.at - self.detected.at).total_seconds())

    @property
    def time_to_acknowledge(self) -> int | None:
        return self._since_detected(self.acknowledged)

    @property
    def time_to_mitigate(self) -> int | None:
        return self._since_detected(self.mitigated)

    @property
    def time_to_resolve(self) -> int | None:
        return self._since_detected(self.resolved)


@dataclass(frozen=True)
class Redaction:
    """One redacted secret: where it was and what kind, never the value."""

    source: str
    location: str  # e.g. "slack message 1700000001.000100 text"
    detector: str


@dataclass(frozen=True)
class RawEvidence:
    """One raw response as a live source received it, kept (redacted) in the evidence archive."""

    name: str  # e.g. "pagerduty/log_entries-0001.json"
    data: bytes


@dataclass(frozen=True)
class SourceBatch:
    """What one timeline source produced."""

    source: str
    events: tuple[TimelineEvent, ...] = ()
    facts: tuple[IncidentFacts, ...] = ()
    warnings: tuple[str, ...] = ()
    raw: tuple[RawEvidence, ...] = ()


@dataclass(frozen=True)
class Timeline:
    incident: Incident
    events: tuple[TimelineEvent, ...]
    moments: KeyMoments
    warnings: tuple[str, ...] = ()
    redactions: tuple[Redaction, ...] = ()
    missing: tuple[str, ...] = ()  # sources that could not be read; shown in the doc


# ---- documents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocRef:
    store: str  # local | google | confluence
    id: str
    url: str
    title: str = ""


@dataclass(frozen=True)
class DocChange:
    """A postmortem modified after a sync cursor, with the store's own modification time."""

    ref: DocRef
    modified_at: datetime


@dataclass(frozen=True)
class Cell:
    text: str  # plain text, lines joined with "\n"
    people: tuple[Person, ...] = ()  # person chips / user mentions
    links: tuple[str, ...] = ()
    date: date | None = None  # a date chip or <time datetime>
    ticket_keys: tuple[str, ...] = ()  # from Jira macros or issue chips


@dataclass(frozen=True)
class Table:
    index: int  # position among the document's tables, for write-back
    heading: str | None  # the nearest heading above the table
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]  # data rows, header excluded; merged cells repeated


@dataclass(frozen=True)
class Section:
    heading: str
    level: int
    text: str  # plain text of the section body, paragraphs separated by blank lines


@dataclass(frozen=True)
class Document:
    ref: DocRef
    title: str
    status: str | None
    sections: tuple[Section, ...]
    tables: tuple[Table, ...]
    modified_at: datetime | None = None
    revision: str | None = None
    incident_id: str | None = None
    incident_date: date | None = None  # from the doc's metadata; bounds due dates
    severity: str | None = None


@dataclass(frozen=True)
class CellUpdate:
    """Write `text` (and a link on it) into data row `row`, column `column` of table `table`."""

    table: int
    row: int
    column: int
    text: str
    link: str | None = None


# ---- review ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommentReply:
    id: str
    author: Person
    created_at: datetime
    text: str
    action: Literal["resolve", "reopen"] | None = None
    deleted: bool = False


@dataclass(frozen=True)
class ReviewComment:
    id: str
    author: Person
    created_at: datetime
    text: str
    quote: str | None = None
    resolved: bool = False
    replies: tuple[CommentReply, ...] = ()
    deleted: bool = False
    kind: str = "comment"  # comment | inline | footer (store-specific)


SignOffStatus = Literal["approved", "changes_requested", "pending"]


@dataclass(frozen=True)
class SignOff:
    reviewer: Person
    status: SignOffStatus
    at: datetime | None = None
    quote: str | None = None
    threads: tuple[str, ...] = ()  # ids of open threads this reviewer raised
    edited_since: bool = False


# ---- action items and tickets -----------------------------------------------------------------


@dataclass(frozen=True)
class TicketRef:
    key: str
    url: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class ActionItem:
    row: int  # data row index in the action-item table (0-based)
    action: str
    type: str | None = None
    owner: str | None = None
    owner_person: Person | None = None
    due: date | None = None
    due_text: str = ""
    priority: str | None = None
    done_when: str | None = None
    ticket: TicketRef | None = None
    marker: str | None = None  # "idea" / "candidate": listed, never ticketed


@dataclass(frozen=True)
class Ticket:
    key: str
    title: str
    status: str
    url: str | None = None
    owner: str | None = None
    due: date | None = None
    priority: str | None = None
    labels: tuple[str, ...] = ()
    item_key: str | None = None  # the stable per-item idempotency key
    doc_url: str | None = None
    description: str = ""
    done: bool = False


@dataclass(frozen=True)
class TicketFailure:
    """A ticket the tracker refused, with its reason in words that say which field to fix."""

    item_key: str
    message: str


@dataclass(frozen=True)
class TicketRequest:
    """Everything a tracker needs to open one ticket for one action item."""

    item_key: str  # stable, derived from the doc and the row; kept on the ticket
    title: str
    action: str
    done_when: str | None
    type: str | None
    owner: str | None
    due: date | None
    priority: str | None
    incident_id: str
    severity: str | None
    doc_url: str
    incident_url: str | None = None
    labels: tuple[str, ...] = ()
