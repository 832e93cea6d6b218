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

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainSerializer, PlainValidator

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


def canonical_name(name: str) -> str:
    """What two names are compared by: Unicode's canonical form (NFC). 'Café' typed with an
    accented e and with an e and a combining accent look the same and are the same name, so
    they may not name two partners, members or councils."""
    return unicodedata.normalize("NFC", name)


def first_repeat(names: Sequence[str]) -> tuple[int, int] | None:
    """The first name that repeats an earlier one (:func:`canonical_name`), as (earlier,
    later) indexes, or None."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        key = canonical_name(name)
        if key in seen:
            return seen[key], i
        seen[key] = i
    return None


def repeat_note(first: str, second: str) -> str:
    """What a message adds when two names are the same only in canonical form."""
    return "" if first == second else " (the same name in another Unicode form)"


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


def _check_path(text: str) -> str:
    problem = bad_character(text)
    if problem is not None:
        raise ValueError(
            "should be a file's path in printable characters, without control characters "
            f"(newline, NUL), bidirectional controls or noncharacters; got {problem}"
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
#: A file's path, as a scenario or a portfolio names a file beside it: 1 to 1,000 characters
#: without a control character (a newline would end the line of a message naming the file)
#: or any other character :func:`bad_character` refuses.
FilePath = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_check_path)]
#: A calendar date the workbook can hold: 1901-01-01 to 9999-12-31.
Date = Annotated[date, AfterValidator(_check_date)]
#: Pounds, from 0 to :data:`MAX_MONEY`.
Money = Annotated[float, Field(ge=0.0, le=MAX_MONEY, allow_inf_nan=False)]
#: Pounds, above 0 and at most :data:`MAX_MONEY`.
PositiveMoney = Annotated[float, Field(gt=0.0, le=MAX_MONEY, allow_inf_nan=False)]
#: Pounds borrowed (a bond's principal, a member's loan from a pool): at least £1, below
#: which there is no debt to model, and at most :data:`MAX_MONEY`.
Principal = Annotated[float, Field(ge=1.0, le=MAX_MONEY, allow_inf_nan=False)]
#: A share or a probability, from 0 to 1.
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
#: An annual interest rate of a bond or a loan, from -10% to 100%.
Rate = Annotated[float, Field(ge=-0.1, le=1.0, allow_inf_nan=False)]
#: A distribution parameter that may take any sign: at most :data:`MAX_PARAMETER` in magnitude.
Parameter = Annotated[float, Field(ge=-MAX_PARAMETER, le=MAX_PARAMETER, allow_inf_nan=False)]
#: A positive distribution parameter (a standard deviation, a shape): above 0, at most 1e6.
Spread = Annotated[float, Field(gt=0.0, le=MAX_PARAMETER, allow_inf_nan=False)]

#: The range of an annual inflation rate: from -20% (deflation) to 100% a year.
INFLATION_RANGE = (-0.2, 1.0)


def _as_lists(value: Any) -> Any:
    """Tuples back to lists, as the TOML arrays they came from."""
    if isinstance(value, tuple | list):
        return [_as_lists(v) for v in value]
    return value


def shown_value(value: Any) -> str:
    """A value as the user wrote it, with its TOML type when that helps."""
    if isinstance(value, bool):
        return f"{str(value).lower()}, a boolean"
    if isinstance(value, int) and abs(value) >= 10**30:  # as long as a TOML file allows
        digits, sign = str(abs(value)), "-" if value < 0 else ""
        return f"{sign}{digits[:6]}...{digits[-4:]}, a whole number of {len(digits):,} digits"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime | date | time):
        kind = {datetime: "date-time", date: "date", time: "time"}[type(value)]
        return f"{value.isoformat()}, a {kind}"
    if isinstance(value, tuple):
        value = _as_lists(value)  # the scenario keeps lists as tuples; show what was written
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    kind = {"str": "string", "list": "list"}.get(type(value).__name__, type(value).__name__)
    return f"{text}, a {kind}"


def _number(value: object) -> float | None:
    """``value`` as a float if it is a number (an int or a float, not a bool), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _rate_path(value: object) -> float | tuple[float, ...]:
    """Validate one annual rate, or a path of annual rates (the last holds after it).

    A path of one rate is that rate: ``[0.03]`` and ``0.03`` are the same scenario
    (and the same Inputs row read back from a workbook).
    """
    low, high = INFLATION_RANGE
    allowed = (
        f"allowed: an annual rate from {low} to {high} (greater than or equal to {low}, "
        f"less than or equal to {high}, finite), or a list of 1 to {MAX_LIST_ITEMS} such "
        "rates, one per programme year, the last holding after it"
    )

    def rate(item: object, got: str) -> float:
        number = _number(item)
        if number is None:
            raise ValueError(f"{got} {shown_value(item)}, not a number; {allowed}")
        if not math.isfinite(number):
            raise ValueError(f"{got} {item!r}, not a finite number; {allowed}")
        if not low <= number <= high:
            raise ValueError(f"{got} {item!r}; {allowed}")
        return number

    if isinstance(value, list | tuple):
        if not value:
            raise ValueError(f"got an empty list; {allowed}")
        if len(value) > MAX_LIST_ITEMS:
            raise ValueError(f"got a list of {len(value)} rates; at most {MAX_LIST_ITEMS} items")
        rates = tuple(rate(item, f"item [{i}] of the path is") for i, item in enumerate(value))
        return rates[0] if len(rates) == 1 else rates
    return rate(value, "got")


@dataclass(frozen=True)
class Bounds:
    """The range of each number of a field its own validator checks (pydantic ignores it).

    What the Inputs sheet's validation, the design tools' domains and the generated bad
    inputs read (as they read pydantic's ``ge``/``le``) where pydantic's own constraints
    cannot go: on a field that may hold one number or a list of them.
    """

    ge: float
    le: float


def _plain_rates(value: float | tuple[float, ...]) -> float | list[float]:
    """A rate as itself, a path as a list (as TOML and JSON write it)."""
    return list(value) if isinstance(value, tuple) else value


#: One annual inflation rate, or a path of them by programme year whose last value holds
#: after it (docs/methodology.md, "Rate paths"), validated by one function with messages
#: of its own.
InflationPath = Annotated[
    float | tuple[float, ...],
    PlainValidator(_rate_path),
    PlainSerializer(_plain_rates),
    Bounds(*INFLATION_RANGE),
]
