"""Telling statements from their negations, conditions and questions ("not LGTM yet", "once mitigated")."""

from __future__ import annotations

import re
from collections.abc import Sequence

_NEGATION_BEFORE = re.compile(
    r"\b(?:not|no|never|isn't|isnt|aren't|wasn't|hasn't|haven't|can't|cannot|won't|don't|yet|until|once|before|"
    r"if|whether|when|unless|without)\b|n't\b",
    re.IGNORECASE,
)
_CONDITION_AFTER = re.compile(r"^\W*(?:yet|once|if|after|when|unless|pending|as soon as)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?\n]")


def negated(text: str, start: int, end: int) -> bool:
    """True when the phrase at text[start:end] is negated, conditional or asked rather than stated."""
    sentence_start = max((m.end() for m in _SENTENCE_END.finditer(text, 0, start)), default=0)
    before = text[sentence_start:start].split()[-4:]
    if _NEGATION_BEFORE.search(" ".join(before)):
        return True
    if _CONDITION_AFTER.search(text[end:]):
        return True
    after = _SENTENCE_END.search(text, end)
    return after is not None and after.group() == "?"


class PhraseMatcher:
    """Matches any of a list of regular expressions, case-insensitively, skipping negated matches."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._patterns = [re.compile(p, re.IGNORECASE) for p in patterns]
        # One pass rejects the many texts that match nothing (a busy channel holds 100,000 messages).
        self._any = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)

    def search(self, text: str) -> re.Match[str] | None:
        if self._any.search(text) is None:
            return None
        for pattern in self._patterns:
            for match in pattern.finditer(text):
                if not negated(text, match.start(), match.end()):
                    return match
        return None

    def negated_match(self, text: str) -> bool:
        """True when a phrase occurs only negated ("not LGTM yet"): a stance against."""
        return any(
            negated(text, m.start(), m.end()) for p in self._patterns for m in p.finditer(text)
        ) and self.search(text) is None
