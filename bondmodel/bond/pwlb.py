"""The PWLB benchmark: the same financing need funded by a Public Works Loan Board loan.

Councils cannot normally borrow to pay for revenue costs such as most
transformation spending (Local Government Act 2003, s.1 and the Prudential
Code), so this is a benchmark of the cost of money, not an alternative the
council could always take. See docs/methodology.md, "PWLB comparison".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bondmodel.bond.schedule import BondGrid
from bondmodel.errors import ModelError
from bondmodel.scenario.bond import PWLB, WHOLE_PERIODS_TOLERANCE
from bondmodel.types import FloatArray


@dataclass(frozen=True)
class PWLBLoan:
    """A PWLB loan on the bond's payment grid; arrays over payment periods k = 0..NL."""

    amount: float
    rate: float
    #: term in payment periods, and the level payment an annuity loan would make
    payments: int
    level: float
    interest: FloatArray
    principal: FloatArray
    balance: FloatArray

    @property
    def debt_service(self) -> FloatArray:
        """Interest plus principal in each payment period."""
        result: FloatArray = self.interest + self.principal
        return result


def amortising_payment(amount: float, i: float, n: int) -> float:
    """The level payment repaying ``amount`` over ``n`` periods at ``i`` a period:
    :math:`A\\, i / (1 - (1+i)^{-n})`, or :math:`A/n` at a zero rate."""
    return amount * i / (1.0 - (1.0 + i) ** -n) if abs(i) > 1e-15 else amount / n


def amortise(
    amount: float, i: float, n: int, loan_type: str, size: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Interest, principal and closing balance over periods 0..size-1 of a loan of ``amount``
    drawn at period 0 and repaid over ``n`` periods at ``i`` a period.

    ``annuity``: level payments (:func:`amortising_payment`); ``eip``: :math:`A/n` of
    principal a period; ``maturity``: interest only, principal at :math:`n`. Interest is the
    opening balance x :math:`i`, and the last payment clears the balance.
    """
    interest = np.zeros(size)
    principal = np.zeros(size)
    balance = np.zeros(size)
    balance[0] = amount
    level = amortising_payment(amount, i, n)
    for k in range(1, n + 1):
        interest[k] = balance[k - 1] * i
        if loan_type == "annuity":
            principal[k] = level - interest[k]
        elif loan_type == "eip":
            principal[k] = amount / n
        else:
            principal[k] = amount if k == n else 0.0
        if k == n:
            principal[k] = balance[k - 1]
        balance[k] = balance[k - 1] - principal[k]
    return interest, principal, balance


def pwlb_loan(terms: PWLB, amount: float, grid: BondGrid, default_term_years: float) -> PWLBLoan:
    """Schedule a PWLB loan of ``amount`` at gilt yield + margin.

    Notes
    -----
    Periodic rate i = (gilt + margin) / g; n = term x g payments.
    Annuity: level payment :math:`A\\, i / (1 - (1+i)^{-n})` (numpy_financial.pmt);
    EIP: A/n principal each period; maturity: interest only, principal at n.
    """
    rate = terms.gilt_yield + terms.margin
    term = terms.term_years if terms.term_years is not None else default_term_years
    n = round(term * grid.g)
    if abs(term * grid.g - n) > WHOLE_PERIODS_TOLERANCE or n < 1 or n > grid.n_legal:
        raise ModelError(
            f"pwlb.term_years = {term} must be a whole number of payment periods within the "
            f"bond's {grid.n_legal / grid.g:g} years"
        )
    interest, principal, balance = amortise(
        amount, rate / grid.g, n, terms.loan_type, grid.n_legal + 1
    )
    level = amortising_payment(amount, rate / grid.g, n)
    return PWLBLoan(
        amount=amount,
        rate=rate,
        payments=n,
        level=level,
        interest=interest,
        principal=principal,
        balance=balance,
    )
