"""Periods, dates, labels, indexation and discount factors.

Conventions (docs/methodology.md, "Timing" and "Discounting"): close at t = 0;
periods t = 1..T, each 1/f years long; a flow in period t is dated at the end
of the period, at ``t/f`` years after close.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd

from bondmodel.conventions import GREEN_BOOK_STPR, RateBand
from bondmodel.dates import financial_year_start, model_close, period_boundaries
from bondmodel.scenario.schema import Economics, Scenario
from bondmodel.types import FloatArray


@dataclass(frozen=True)
class Timeline:
    """The period grid of a scenario, as arrays over t = 0..T.

    Attributes
    ----------
    f : periods per year.
    n_periods : T.
    close_date : the date of t = 0.
    years : t/f, years after close of each period end, shape (T+1,).
    period_start, period_end : first and last calendar day of each period
        (both equal to ``close_date`` at t = 0).
    programme_year : ceil(t/f), the programme year each period falls in (0 at close).
    labels : display labels, "Close" then "Y1" / "Y1 Q1" ... or financial-year labels.
    price_offset_years : years from the price base date to the close, for indexation.
    boundaries : the date of t = 0..T (close, then each period's end boundary).
    """

    f: int
    n_periods: int
    close_date: date
    years: FloatArray
    period_start: list[date]
    period_end: list[date]
    programme_year: npt.NDArray[np.int64]
    labels: list[str]
    price_offset_years: float
    boundaries: list[date]

    @property
    def t(self) -> npt.NDArray[np.int64]:
        """Period numbers 0..T."""
        return np.arange(self.n_periods + 1, dtype=np.int64)

    def financial_years(self) -> npt.NDArray[np.int64]:
        """The financial year (its first calendar year, e.g. 2026 for 2026/27) of each period.

        A flow in period t is dated at the period's end (the close for t = 0), so the
        period belongs to the financial year its end date falls in
        (``dates.financial_year_start``).
        """
        return np.array([financial_year_start(d).year for d in self.period_end], dtype=np.int64)


def years_between(earlier: date, later: date) -> float:
    """Whole months between two dates over 12, plus the odd days over the month's length.

    Equal days of the month give exact years (1 April 2025 to 1 April 2026 is 1.0),
    which keeps hand-worked indexation exact.
    """
    months = (later.year - earlier.year) * 12 + (later.month - earlier.month)
    anchor = (pd.Timestamp(earlier) + pd.DateOffset(months=months)).date()
    days_in_month = pd.Timestamp(anchor).days_in_month
    return (months + (later - anchor).days / days_in_month) / 12.0


def build_timeline(scenario: Scenario) -> Timeline:
    """Lay out the periods of ``scenario``."""
    tl = scenario.timeline
    f = tl.periods_per_year
    n = tl.n_periods
    close = model_close(tl.start_date, tl.align_to_financial_year)
    boundaries = period_boundaries(close, f, n)
    period_start = [close, *boundaries[:-1]]
    period_end = [close] + [(pd.Timestamp(d) - pd.Timedelta(days=1)).date() for d in boundaries[1:]]
    t = np.arange(n + 1)
    programme_year = np.ceil(t / f).astype(np.int64)
    labels = ["Close"] + [
        _label(int(i), f, period_start[int(i)], tl.align_to_financial_year) for i in t[1:]
    ]
    return Timeline(
        f=f,
        n_periods=n,
        close_date=close,
        years=t / f,
        period_start=period_start,
        period_end=period_end,
        programme_year=programme_year,
        labels=labels,
        price_offset_years=years_between(scenario.meta.base_date, close)
        if scenario.meta.base_date <= close
        else -years_between(close, scenario.meta.base_date),
        boundaries=boundaries,
    )


_SUB = {2: "H", 4: "Q", 12: "M"}


def _label(t: int, f: int, start: date, fy: bool) -> str:
    year = (t - 1) // f + 1
    sub = (t - 1) % f + 1
    if fy:
        fy_start = financial_year_start(start).year
        head = f"{fy_start}/{(fy_start + 1) % 100:02d}"
    else:
        head = f"Y{year}"
    if f == 1:
        return head
    width = 2 if f == 12 else 1
    return f"{head} {_SUB[f]}{sub:0{width}d}"


# ---------------------------------------------------------------------------
# Indexation
# ---------------------------------------------------------------------------


def rates_by_year(path: float | tuple[float, ...], year: npt.NDArray[np.int64]) -> FloatArray:
    r"""The annual rate in force in each year number of ``year``, from a rate or a rate path.

    Notes
    -----
    One shape for every annual-rate path (inflation by programme year, a floating
    coupon's reference rate by bond year): rates :math:`r_1..r_n` and year
    :math:`y`, the rate in force is :math:`r_{\min(\max(y, 1), n)}`; before year 1
    the first rate applies and after year n the last one holds (the long-run rate).
    A single rate is a path of one.
    """
    rates = np.atleast_1d(np.asarray(path, dtype=np.float64))
    return rates[np.clip(year, 1, rates.shape[0]) - 1]


def bond_year(k: npt.NDArray[np.int64], g: int) -> npt.NDArray[np.int64]:
    """The bond year (1, 2, ...) of payment k = 0..NL, g payments a year (issue in year 1)."""
    return (np.maximum(k, 1) - 1) // g + 1


def inflation_by_period(economics: Economics, f: int, n_periods: int) -> FloatArray:
    """The annual inflation rate in force in each period t = 0..T, shape (T+1,).

    Period t > 0 is in programme year ceil(t/f) (:attr:`Timeline.programme_year`);
    t = 0 (the close, and the years from the price base date to it) takes the
    path's first rate.
    """
    t = np.arange(n_periods + 1, dtype=np.int64)
    return rates_by_year(economics.inflation, -(-t // f))


def growth_index(rate: float | FloatArray, years: FloatArray, offset: float = 0.0) -> FloatArray:
    """Compound growth ``(1 + rate) ** (offset + years)``.

    ``rate`` may be a scalar or one rate per path, shape (paths,); the result
    broadcasts to (paths, T+1) in the second case.
    """
    r = np.asarray(rate, dtype=np.float64)
    exponent = offset + years
    if r.ndim == 0:
        return np.power(1.0 + r, exponent)
    return np.power(1.0 + r[:, None], exponent[None, :])


# ---------------------------------------------------------------------------
# Discounting
# ---------------------------------------------------------------------------


def piecewise_discount_factors(years: FloatArray, bands: tuple[RateBand, ...]) -> FloatArray:
    """Discount factors compounded band by band.

    Notes
    -----
    .. math:: DF(y) = \\prod_b (1 + r_b)^{-\\max(0, \\min(y, e_b) - s_b)}

    where band b runs from year :math:`s_b` to :math:`e_b` at rate :math:`r_b`.

    References
    ----------
    HM Treasury, The Green Book (2022), Annex A6 "Discounting".
    """
    log_df = np.zeros_like(years, dtype=np.float64)
    for band in bands:
        span = np.clip(np.minimum(years, band.end_year) - band.start_year, 0.0, None)
        log_df -= span * np.log1p(band.rate)
    return np.exp(log_df)


def real_discount_factors(years: FloatArray, economics: Economics) -> FloatArray:
    """Real discount factors at each period end: Green Book schedule or flat rate."""
    if economics.discount_basis == "green_book":
        return piecewise_discount_factors(years, GREEN_BOOK_STPR)
    rate = economics.discount_rate if economics.discount_rate is not None else 0.0
    return np.power(1.0 + rate, -years)
