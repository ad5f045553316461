"""Due dates as people write them in a table cell: ISO, "Apr 19, 2024", "19.04.2024", or a configured locale."""

from __future__ import annotations

import re
from datetime import date

_MONTHS: dict[str, dict[str, int]] = {
    "en": {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
           "oct": 10, "nov": 11, "dec": 12},
    "de": {"jan": 1, "jän": 1, "feb": 2, "mär": 3, "maer": 3, "apr": 4, "mai": 5, "jun": 6, "jul": 7, "aug": 8,
           "sep": 9, "okt": 10, "nov": 11, "dez": 12},
    "fr": {"janv": 1, "févr": 2, "fevr": 2, "mars": 3, "avr": 4, "mai": 5, "juin": 6, "juil": 7, "août": 8,
           "aout": 8, "sept": 9, "oct": 10, "nov": 11, "déc": 12, "dec": 12},
    "es": {"ene": 1, "feb": 2, "mar": 3, "abr": 4, "may": 5, "jun": 6, "jul": 7, "ago": 8, "sep": 9, "sept": 9,
           "oct": 10, "nov": 11, "dic": 12},
}
_MONTH_FULL = {
    "en": ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"],
    "de": ["januar", "februar", "märz", "april", "mai", "juni", "juli", "august", "september", "oktober",
           "november", "dezember"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"],
}

_FILLER = frozenset({"of", "de", "der", "the", "le", "el", "am", "on", "by"})
_WEEKDAYS = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})

_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_NUMERIC = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})$")
_WORDS = re.compile(r"[^\W\d_]+\.?|\d+", re.UNICODE)


def month_names(language: str) -> dict[str, int]:
    names = dict(_MONTHS["en"])
    names.update(_MONTHS.get(language, {}))
    for index, full in enumerate(_MONTH_FULL.get(language, []) + _MONTH_FULL["en"]):
        names.setdefault(full, index % 12 + 1)
    return names


class DateParser:
    """Parse due dates. `locale` like "en-US" (month first in 04/19/2024) or "de-DE" (day first)."""

    def __init__(self, locale: str = "en-US") -> None:
        language, _, region = locale.replace("_", "-").partition("-")
        self.language = language.lower() or "en"
        self.month_first = self.language == "en" and region.upper() in ("US", "")
        self.months = month_names(self.language)

    def parse(self, text: str) -> date | None:
        """The date in `text`, or None when it holds no real date."""
        raw = text.strip().rstrip(".")
        if not raw:
            return None
        # A date chip or ISO value may come with a time part.
        iso = _ISO.match(raw.split("T")[0].split(" ")[0])
        if iso:
            return _safe_date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        numeric = _NUMERIC.match(raw)
        if numeric:
            first, second, year = int(numeric.group(1)), int(numeric.group(2)), int(numeric.group(3))
            year += 2000 if year < 100 else 0
            month, day = (first, second) if self.month_first else (second, first)
            return _safe_date(year, month, day)
        return self._words(raw)

    def _words(self, raw: str) -> date | None:
        tokens = _WORDS.findall(raw.lower())
        month = day = year = None
        for token in tokens:
            word = token.rstrip(".")
            if word.isdigit():
                number = int(word)
                if number > 31 and year is None:
                    year = number
                elif day is None and 1 <= number <= 31:
                    day = number
                elif year is None:
                    year = number
            elif word in self.months and month is None:
                month = self.months[word]
            elif word[:3] in self.months and month is None and len(word) >= 3 and word in _all_full(self.language):
                month = self.months[word[:3]]
            elif word in _FILLER or word[:3] in _WEEKDAYS:
                continue
            else:
                return None  # an unknown word: "next sprint", "Q3", "ASAP" are not dates
        if month is None or day is None or year is None:
            return None
        return _safe_date(year, month, day)


def _all_full(language: str) -> set[str]:
    return set(_MONTH_FULL.get(language, [])) | set(_MONTH_FULL["en"])


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
