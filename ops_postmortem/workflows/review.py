"""Review: who must sign off, who has, and which corrections are still open; record a complete sign-off."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ops_postmortem.connectors.base import DocumentStore
from ops_postmortem.errors import DocumentError
from ops_postmortem.model import DocRef, Document, Person, ReviewComment, iso_z
from ops_postmortem.people import normalise_name, person_from_text
from ops_postmortem.signoff import SignOffReport, SignOffRules, sign_off

REVIEWER_HEADERS = ("reviewer", "reviewers", "name", "approver", "approvers")


@dataclass(frozen=True)
class ReviewSettings:
    reviewers: tuple[str, ...] = ()  # required for every postmortem
    by_severity: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ReviewResult:
    ref: DocRef
    report: SignOffReport
    recorded: bool = False
    warnings: tuple[str, ...] = ()


def doc_reviewers(doc: Document) -> list[Person]:
    """People named in the doc's reviewers table (a person chip wins over the cell text)."""
    for table in doc.tables:
        header = [normalise_name(h) for h in table.header]
        heading = normalise_name(table.heading or "")
        column = next((i for i, h in enumerate(header) if h in REVIEWER_HEADERS), None)
        if column is None or not ("review" in heading or "sign off" in heading or "reviewer" in header[column]):
            continue
        people = []
        for row in table.rows:
            if column >= len(row):
                continue
            cell = row[column]
            if cell.people:
                people.append(cell.people[0])
            elif cell.text.strip() and "TODO(authors)" not in cell.text:
                people.append(person_from_text(cell.text))
        return people
    return []


def required_reviewers(doc: Document, flags: Sequence[str], settings: ReviewSettings) -> list[Person]:
    """From the flags, from config (all and per severity), and from the doc's reviewers table."""
    names = [*flags, *settings.reviewers]
    if doc.severity:
        names += settings.by_severity.get(doc.severity.upper(), ())
    return [person_from_text(n) for n in names] + doc_reviewers(doc)


def review(
    store: DocumentStore,
    ref: DocRef,
    rules: SignOffRules,
    settings: ReviewSettings,
    *,
    flags: Sequence[str] = (),
    record: bool = False,
) -> ReviewResult:
    doc = store.read(ref)
    reviewers = required_reviewers(doc, flags, settings)
    if not reviewers:
        raise DocumentError(
            f"{ref.url}: nobody is required to review this postmortem",
            hint="pass --reviewer, set [review] reviewers in the config, or fill the doc's reviewers table",
        )
    comments = store.comments(ref)
    report = sign_off(reviewers, comments, rules, doc_modified_at=doc.modified_at)
    recorded = False
    if record and report.signed_off and (doc.status or "").strip().lower() != "final":
        store.finalize(ref, report.reviewers)
        recorded = True
    return ReviewResult(ref, report, recorded, tuple(_unknown(reviewers, comments, rules)))


def _unknown(reviewers: Sequence[Person], comments: Sequence[ReviewComment], rules: SignOffRules) -> list[str]:
    """Reviewers neither the directory nor any comment knows: likely a typo that would block sign-off forever."""
    authors = [c.author for c in comments] + [r.author for c in comments for r in c.replies]
    warnings = []
    for person in reviewers:
        known = rules.directory.entry_for(person) is not None
        if not known and not any(rules.directory.same(person, a) for a in authors):
            where = "the [people] directory" if rules.directory.entries else "any comment"
            warnings.append(
                f"reviewer {person.email or person.name!r} is not in {where}; check the spelling "
                "or add them under [people] in the config"
            )
    return warnings


def review_json(result: ReviewResult) -> dict[str, Any]:
    """Exactly {"signed_off", "reviewers": [{"name", "email", "status", ...}], "open_threads": [...]}."""
    report = result.report
    return {
        "signed_off": report.signed_off,
        "reviewers": [
            {
                "name": s.reviewer.name,
                "email": s.reviewer.email,
                "status": s.status,
                "approved_at": iso_z(s.at) if s.status == "approved" else None,
                "quote": s.quote,
                "threads": list(s.threads),
                "edited_since_approval": s.edited_since,
            }
            for s in report.reviewers
        ],
        "open_threads": [
            {
                "id": c.id,
                "author": c.author.name,
                "created_at": iso_z(c.created_at),
                "quote": c.quote,
                "text": c.text,
            }
            for c in report.open_threads
        ],
    }
