from datetime import date

import pytest

from ops_postmortem.dates import DateParser


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-04-19", date(2024, 4, 19)),
        ("2024/04/19", date(2024, 4, 19)),
        ("2024-04-19T00:00:00Z", date(2024, 4, 19)),
        ("Apr 19, 2024", date(2024, 4, 19)),
        ("April 19 2024", date(2024, 4, 19)),
        ("19 Apr 2024", date(2024, 4, 19)),
        ("Fri, Apr 19, 2024", date(2024, 4, 19)),
        ("04/19/2024", date(2024, 4, 19)),
        ("Sept. 3, 2024", date(2024, 9, 3)),
    ],
)
def test_us_english(text: str, expected: date) -> None:
    assert DateParser("en-US").parse(text) == expected


@pytest.mark.parametrize(
    ("locale", "text", "expected"),
    [
        ("en-GB", "19/04/2024", date(2024, 4, 19)),
        ("en-GB", "03/04/2024", date(2024, 4, 3)),
        ("de-DE", "19.04.2024", date(2024, 4, 19)),
        ("de-DE", "19. April 2024", date(2024, 4, 19)),
        ("de-DE", "3. Dez. 2024", date(2024, 12, 3)),
        ("fr-FR", "19 avril 2024", date(2024, 4, 19)),
        ("es-ES", "19 de abril de 2024", date(2024, 4, 19)),
    ],
)
def test_locales(locale: str, text: str, expected: date) -> None:
    assert DateParser(locale).parse(text) == expected


@pytest.mark.parametrize("text", ["", "TBD", "next sprint", "Q3", "ASAP", "2024-02-30", "13/13/2024", "soon"])
def test_not_dates(text: str) -> None:
    assert DateParser("en-US").parse(text) is None
