"""Sign-off from review comments: who approved, who asked for changes, which threads are still open."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ops_postmortem.model import Person, ReviewComment, SignOff
from ops_postmortem.people import Directory
from ops_postmortem.phrases import PhraseMatcher

DEFAULT_APPROVAL_PHRASES: tuple[str, ...] = (
    r"\blgtm\b",
    r"\blooks good to me\b",
    r"\bapproved?\b",
    r"\bsigned[- ]off\b",
    r"\bi sign off\b",
    r"(?<![\w+])\+1\b",
    r"\bship it\b",
    r":white_check_mark:|✅",
)
# Statements against: these undo an earlier approval even without an open thread.
DEFAULT_REJECTION_PHRASES: tuple[str, ...] = (
    r"\bchanges requested\b",
    r"\brequest(?:ing)? changes\b",
    r"(?<![\w-])-1\b",
    r"\bblocking\b",
    r"\bnot ready\b",
    r"\b(?:can't|cannot|can not|won't|will not) sign off\b",
)


def thread_open(comment: ReviewComment) -> bool:
    """A thread's state follows its last resolve or reopen; without one, the store's resolved flag."""
    actions = [r for r in comment.replies if r.action is not None and not r.deleted]
    if actions:
        return max(actions, key=lambda r: r.created_at).action == "reopen"
    return not comment.resolved


@dataclass(frozen=True)
class Stance:
    at: datetime
    approves: bool
    text: str
    comment_id: str


@dataclass(frozen=True)
class SignOffReport:
    signed_off: bool
    reviewers: tuple[SignOff, ...]
    open_threads: tuple[ReviewComment, ...]


class SignOffRules:
    def __init__(
        self,
        directory: Directory | None = None,
        approval_phrases: Sequence[str] = (),
        rejection_phrases: Sequence[str] = (),
    ) -> None:
        self.directory = directory or Directory()
        self.approvals = PhraseMatcher(approval_phrases or DEFAULT_APPROVAL_PHRASES)
        self.rejections = PhraseMatcher(rejection_phrases or DEFAULT_REJECTION_PHRASES)

    def stance(self, text: str) -> bool | None:
        """True for an approval, False for a statement against (including a negated approval), else None."""
        if self.rejections.search(text) is not None or self.approvals.negated_match(text):
            return False
        if self.approvals.search(text) is not None:
            return True
        return None


def sign_off(
    reviewers: Sequence[Person],
    comments: Sequence[ReviewComment],
    rules: SignOffRules,
    *,
    doc_modified_at: datetime | None = None,
) -> SignOffReport:
    live = [c for c in comments if not c.deleted]
    # A thread that only says "LGTM" is an approval, not a correction, whatever its resolved state.
    corrections = [c for c in live if rules.stance(c.text) is not True]
    open_threads = tuple(c for c in corrections if thread_open(c))
    results = []
    for reviewer in _unique(reviewers, rules.directory):
        stances = _stances(reviewer, live, rules)
        raised = tuple(c.id for c in open_threads if rules.directory.same(c.author, reviewer))
        latest = max(stances, key=lambda s: s.at) if stances else None
        canonical = rules.directory.canonical(reviewer)
        if raised:
            results.append(SignOff(canonical, "changes_requested", threads=raised))
        elif latest is not None and latest.approves:
            edited = doc_modified_at is not None and doc_modified_at > latest.at
            results.append(SignOff(canonical, "approved", at=latest.at, quote=latest.text, edited_since=edited))
        elif latest is not None:
            results.append(SignOff(canonical, "changes_requested", at=latest.at, quote=latest.text))
        else:
            results.append(SignOff(canonical, "pending"))
    signed = bool(results) and all(r.status == "approved" for r in results)
    return SignOffReport(signed, tuple(results), open_threads)


def _unique(people: Sequence[Person], directory: Directory) -> list[Person]:
    out: list[Person] = []
    for person in people:
        if not any(directory.same(person, seen) for seen in out):
            out.append(person)
    return out


def _stances(reviewer: Person, comments: Sequence[ReviewComment], rules: SignOffRules) -> list[Stance]:
    stances = []
    for comment in comments:
        posts = [(comment.author, comment.created_at, comment.text, comment.id)]
        posts += [(r.author, r.created_at, r.text, comment.id) for r in comment.replies if not r.deleted]
        for author, at, text, thread in posts:
            if not rules.directory.same(author, reviewer):
                continue
            verdict = rules.stance(text)
            if verdict is not None:
                stances.append(Stance(at, verdict, text.strip(), thread))
    return stances
