"""The Prudential Code indicators of a route, from the council's own starting figures.

Equations and sources: docs/methodology.md, section 23.3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bondmodel.types import FloatArray


def cfr_path(opening: float, borrowing_financed: FloatArray, mrp: FloatArray) -> FloatArray:
    """The capital financing requirement at each year's end: the opening CFR plus the
    expenditure financed by borrowing to date less the MRP set aside to date."""
    result: FloatArray = opening + np.cumsum(borrowing_financed) - np.cumsum(mrp)
    return result


@dataclass(frozen=True)
class Indicators:
    """A route's Prudential Code indicators by financial year (year-end figures)."""

    cfr: FloatArray
    gross_debt: FloatArray
    financing_costs: FloatArray
    net_revenue_stream: FloatArray
    operational_boundary: FloatArray
    authorised_limit: FloatArray

    @property
    def debt_over_cfr(self) -> FloatArray:
        """Gross debt less the CFR: above zero, the council borrows beyond its need (the
        Code expects gross debt not to exceed the CFR except in the short term)."""
        result: FloatArray = self.gross_debt - self.cfr
        return result

    @property
    def financing_ratio(self) -> FloatArray:
        """Financing costs (interest plus MRP) as a share of the net revenue stream."""
        result: FloatArray = self.financing_costs / self.net_revenue_stream
        return result

    @property
    def boundary_headroom(self) -> FloatArray:
        """The operational boundary less gross debt (negative: the boundary is crossed)."""
        result: FloatArray = self.operational_boundary - self.gross_debt
        return result

    @property
    def limit_headroom(self) -> FloatArray:
        """The authorised limit less gross debt (negative: a breach of a statutory limit,
        s.3 of the Local Government Act 2003)."""
        result: FloatArray = self.authorised_limit - self.gross_debt
        return result

    def breaches(self) -> list[str]:
        """Words for each limit the route crosses, with the first year it does so."""
        found = []
        for words, headroom in (
            ("the authorised limit", self.limit_headroom),
            ("the operational boundary", self.boundary_headroom),
        ):
            below = np.flatnonzero(headroom < 0.0)
            if below.size:
                found.append(f"crosses {words} in year {int(below[0]) + 1}")
        over = np.flatnonzero(self.debt_over_cfr > 0.0)
        if over.size:
            found.append(f"gross debt exceeds the CFR in year {int(over[0]) + 1}")
        return found
