"""The scenario's field types, each with the bounds every field of that type obeys.

A bound belongs to a type, not to a field: every amount of money is a
:data:`Money`, every distribution parameter a :data:`Parameter`, every name a
:data:`Name`, so a limit stated here holds for each field of the type at once.
The bounds keep every validated scenario inside what the engine computes in
float64 without overflow (docs/guarantees.md, "Limits"), and every text what a
workbook can hold and give back unchanged. docs/scenario-reference.md lists
them by type.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field

#: Largest amount of money accepted, in pounds: ten trillion, several times the UK's GDP.
#: With rates at most 100% a year over at most 150 years (plus at most
#: :data:`MAX_PRICE_BASE_YEARS` of indexation to the start), every flow stays far
#: below float64's limit of 1.8e308.
MAX_MONEY = 1e13
#: Largest magnitude of a distribution parameter (a bound, a mean, a value, a sample).
MAX_PARAMETER = 1e6
#: Largest number of items in any list (a cost profile, a schedule, samples): a
#: 150-year monthly horizon has 1,801 periods, and one row of a workbook's Inputs
#: sheet holds up to 16,379 values.
MAX_LIST_ITEMS = 2_000
#: Earliest date accepted. Excel's 1900 date system treats 1900 as a leap year,
#: so dates before 1 March 1900 do not read back as written; 1901 leaves a margin.
MIN_DATE = date(1901, 1, 1)
#: Latest date accepted: the last day Python and Excel represent. Dates the model
#: derives (the end of the horizon, a bond's legal maturity) must also be on or before it.
MAX_DATE = date(9999, 12, 31)
#: Most years the price base date may precede the start: the indexation from the
#: price base to the start compounds over this gap.
MAX_PRICE_BASE_YEARS = 100
#: Longest name, in characters.
MAX_NAME = 120
#: Longest description, in characters.
MAX_DESCRIPTION = 4_000

#: Invisible characters that reorder or hide text: the bidirectional controls
#: (which can make a name read differently from what it holds, CVE-2021-42574)
#: and the zero-width no-break space (a stray byte-order mark).
BIDI_AND_INVISIBLE = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
)

#: Line breaks and the tab a description may hold (written and read back unchanged).
DESCRIPTION_WHITESPACE = frozenset("\t\n\r")


#: Excel's escape of a character in text (``_x000D_``). Text holding it does not read
#: back as written: XlsxWriter escapes only the first of two overlapping ones.
EXCEL_ESCAPE = re.compile("_x[0-9A-Fa-f]{4}_")


def is_noncharacter(ch: str) -> bool:
    """Whether ``ch`` is a Unicode noncharacter (U+FDD0..U+FDEF, or U+xxFFFE/U+xxFFFF)."""
    code = ord(ch)
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def bad_character(text: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """The first character of ``text`` that a scenario's text may not hold, described.

    Refused: control characters (C0, DEL, C1) other than those in ``allowed``,
    surrogates, noncharacters, line and paragraph separators, and the
    characters of :data:`BIDI_AND_INVISIBLE`. None when every character is allowed.
    """
    for i, ch in enumerate(text):
        if ch in allowed:
            continue
        category = unicodedata.category(ch)
        if category == "Cc":
            kind = "a control character"
        elif category == "Cs":
            kind = "a lone surrogate"
        elif category in ("Zl", "Zp"):
            kind = "a line or paragraph separator"
        elif is_noncharacter(ch):
            kind = "a Unicode noncharacter"
        elif ch in BIDI_AND_INVISIBLE:
            kind = "an invisible bidirectional or formatting control"
        else:
            continue
        return f"{kind} ({ch!r}, U+{ord(ch):04X}) at position {i + 1}"
    return None


def _escape_problem(text: str) -> None:
    found = EXCEL_ESCAPE.search(text)
    if found is not None:
        raise ValueError(
            f"holds {found.group()!r}, the form a workbook uses to escape a character, which "
            "would not read back from a workbook as written; write the character itself"
        )


def _check_name(text: str) -> str:
    _escape_problem(text)
    problem = bad_character(text)
    if problem is not None:
        raise ValueError(
            f"should be printable text without control characters (tab, newline, NUL), "
            f"bidirectional controls or noncharacters; got {problem} in {text!r}"
        )
    if text != text.strip():
        raise ValueError(
            f"got {text!r}; a name may not start or end with a space (nor be only spaces)"
        )
    return text


def _check_description(text: str) -> str:
    _escape_problem(text)
    problem = bad_character(text, DESCRIPTION_WHITESPACE)
    if problem is not None:
        raise ValueError(
            "should be printable text (line breaks and tabs allowed) without other control "
            f"characters, bidirectional controls or noncharacters; got {problem}"
        )
    return text


def _check_date(day: date) -> date:
    if not MIN_DATE <= day <= MAX_DATE:
        raise ValueError(
            f"got {day.isoformat()}; allowed: dates from {MIN_DATE.isoformat()} to "
            f"{MAX_DATE.isoformat()}"
        )
    return day


#: A name: 1 to 120 printable characters, without surrounding spaces (:func:`bad_character`).
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME), AfterValidator(_check_name)]
#: Free text: up to 4,000 characters; line breaks and tabs allowed, other controls not.
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION), AfterValidator(_check_description)]
#: A calendar date the workbook can hold: 1901-01-01 to 9999-12-31.
Date = Annotated[date, AfterValidator(_check_date)]
#: Pounds, from 0 to :data:`MAX_MONEY`.
Money = Annotated[float, Field(ge=0.0, le=MAX_MONEY, allow_inf_nan=False)]
#: Pounds, above 0 and at most :data:`MAX_MONEY`.
PositiveMoney = Annotated[float, Field(gt=0.0, le=MAX_MONEY, allow_inf_nan=False)]
#: A share or a probability, from 0 to 1.
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
#: An annual interest rate of a bond or a loan, from -10% to 100%.
Rate = Annotated[float, Field(ge=-0.1, le=1.0, allow_inf_nan=False)]
#: A distribution parameter that may take any sign: at most :data:`MAX_PARAMETER` in magnitude.
Parameter = Annotated[float, Field(ge=-MAX_PARAMETER, le=MAX_PARAMETER, allow_inf_nan=False)]
#: A positive distribution parameter (a standard deviation, a shape): above 0, at most 1e6.
Spread = Annotated[float, Field(gt=0.0, le=MAX_PARAMETER, allow_inf_nan=False)]
