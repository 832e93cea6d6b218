"""The revenue budget view: what a funding route does to the General Fund by financial year.

For a borrowing route the budget bears interest plus MRP, not the cash repaid; the
savings and running costs of the programme fall on it as they arise. Equations and
sources: docs/methodology.md, section 23.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bondmodel.types import FloatArray


@dataclass(frozen=True)
class BudgetEffect:
    """A route's effect on the General Fund, by financial year (element 0 the first year).

    Every array is money a year; ``net`` is positive where the route costs the budget
    more than it saves. ``one_off_costs`` are the programme's one-off costs the route
    charges to revenue (met from reserves, or not covered by the financing);
    ``outcome_payments`` an outcomes contract's payments. Either may be None (none).
    """

    savings: FloatArray
    running_costs: FloatArray
    interest: FloatArray
    mrp: FloatArray
    one_off_costs: FloatArray | None = None
    outcome_payments: FloatArray | None = None

    @property
    def other_costs(self) -> FloatArray:
        """One-off costs charged to revenue plus payments for outcomes."""
        result: FloatArray = np.zeros_like(self.savings)
        for part in (self.one_off_costs, self.outcome_payments):
            if part is not None:
                result = result + part
        return result

    @property
    def financing_costs(self) -> FloatArray:
        """Interest plus MRP: the charge a borrowing route puts on the budget."""
        result: FloatArray = self.interest + self.mrp
        return result

    @property
    def net(self) -> FloatArray:
        """Running costs, financing costs, one-off costs charged to revenue and payments for
        outcomes, less savings."""
        result: FloatArray = (
            self.running_costs + self.financing_costs + self.other_costs - self.savings
        )
        return result

    def band_d(self, tax_base: float) -> FloatArray:
        """The net effect as council tax on a Band D equivalent property: net / tax base
        (the tax base in Band D equivalents)."""
        result: FloatArray = self.net / tax_base
        return result

    def share_of_budget(self, net_revenue_stream: FloatArray | float) -> FloatArray:
        """The net effect as a share of the council's net revenue stream."""
        result: FloatArray = self.net / net_revenue_stream
        return result

    @property
    def reserves_needed(self) -> float:
        """The reserves the council must hold until the savings arrive: the peak of the
        cumulative net effect (zero when the route never costs more than it saves)."""
        return max(0.0, float(np.max(np.cumsum(self.net))))
