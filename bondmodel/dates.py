"""Calendar helpers shared by the scenario checks and the timeline."""

from __future__ import annotations

import calendar
from datetime import date

from bondmodel.conventions import UK_FINANCIAL_YEAR_START_MONTH


def financial_year_start(day: date) -> date:
    """The 1 April on or before ``day`` (UK local-government financial year)."""
    year = day.year if day.month >= UK_FINANCIAL_YEAR_START_MONTH else day.year - 1
    return date(year, UK_FINANCIAL_YEAR_START_MONTH, 1)


def model_close(start_date: date, align_to_financial_year: bool) -> date:
    """The date of t = 0: the start date, or the 1 April on or before it when aligned."""
    return financial_year_start(start_date) if align_to_financial_year else start_date


def period_boundaries(close: date, periods_per_year: int, n_periods: int) -> list[date]:
    """Dates of t = 0..T: ``close`` plus t x 12/f calendar months.

    Each date is counted from ``close`` (not from the previous date), so a grid
    from 31 January gives 28/29 February, then 31 March: month ends do not drift.
    """
    months = 12 // periods_per_year
    return [add_months(close, k * months) for k in range(n_periods + 1)]


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, on the same day of the month or the month's
    last day when it is shorter (31 January + 1 month = 28 or 29 February), as pandas'
    ``DateOffset(months=...)`` counts (tests/test_engine.py compares the two)."""
    year, month0 = divmod(day.month - 1 + months, 12)
    year += day.year
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))
