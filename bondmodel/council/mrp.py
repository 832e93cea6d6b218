"""Minimum revenue provision (MRP): what the General Fund sets aside each year to repay the
debt behind borrowing-financed expenditure.

The statutory guidance's asset life method (Option 3), by equal instalments or as an
annuity, and the deemed life of expenditure capitalised under a direction; sources in
:mod:`bondmodel.conventions` and docs/methodology.md, section 23.1.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np

from bondmodel.conventions import CAPITALISATION_DIRECTION_LIFE_YEARS
from bondmodel.errors import ModelError
from bondmodel.types import FloatArray

#: The MRP methods: the asset life method by equal instalments or as an annuity, and the
#: equal instalments over the deemed life of expenditure capitalised under a direction.
MRPMethod = Literal["equal_instalment", "annuity", "capitalisation_direction"]
MRP_METHODS: Final = ("equal_instalment", "annuity", "capitalisation_direction")


def mrp_life(method: MRPMethod, life_years: int) -> int:
    """The years over which ``method`` provides: the asset's life, or the deemed life of
    expenditure capitalised under a direction whatever the asset life given."""
    return (
        CAPITALISATION_DIRECTION_LIFE_YEARS if method == "capitalisation_direction" else life_years
    )


def mrp_schedule(
    amount: float, life_years: int, method: MRPMethod, rate: float = 0.0
) -> FloatArray:
    r"""MRP by year of provision (element 0 the first year) on ``amount`` financed by debt.

    Notes
    -----
    Equal instalments (the guidance's :math:`(A - B) / C`, with no earlier provision):
    :math:`A / n` each year for :math:`n` years.

    Annuity at ``rate`` :math:`r`: the principal part of a level annuity repaying
    :math:`A` over :math:`n` years,

    .. math:: \mathrm{MRP}_t = A \, \frac{r (1+r)^{t-1}}{(1+r)^n - 1}, \quad t = 1..n,

    which grows at :math:`r` a year and sums to :math:`A` (at :math:`r = 0` it is
    :math:`A / n`). Capitalisation direction: equal instalments over the deemed life
    (:data:`~bondmodel.conventions.CAPITALISATION_DIRECTION_LIFE_YEARS`).
    """
    if method not in MRP_METHODS:
        raise ModelError(f"mrp.method = {method!r}; allowed: {', '.join(MRP_METHODS)}")
    n = mrp_life(method, life_years)
    if n < 1:
        raise ModelError(f"mrp.life_years = {life_years} must be at least 1 year")
    if method != "annuity" or abs(rate) < 1e-15:
        return np.full(n, amount / n)
    t = np.arange(1, n + 1, dtype=np.float64)
    result: FloatArray = amount * rate * (1.0 + rate) ** (t - 1) / ((1.0 + rate) ** n - 1.0)
    return result


def mrp_by_year(
    spend: FloatArray, life_years: int, method: MRPMethod, rate: float = 0.0, lag: int = 1
) -> FloatArray:
    """MRP by financial year on ``spend`` (the borrowing-financed expenditure of each year):
    each year's expenditure is provided for from ``lag`` years later (the guidance: from
    the year after it is incurred), and the schedules add up. The result covers the years
    of ``spend`` only; provision falling after the last is left out (a horizon's end)."""
    years = len(spend)
    total = np.zeros(years)
    for year, amount in enumerate(spend):
        if amount == 0.0:
            continue
        schedule = mrp_schedule(float(amount), life_years, method, rate)
        start = year + lag
        if start < years:
            part = schedule[: years - start]
            total[start : start + len(part)] += part
    return total
