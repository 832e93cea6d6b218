"""The one table of column and metric names.

DataFrames use the keys; the workbook and any report show the labels. Both
come from here, so they cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal, SupportsFloat

Unit = Literal["money", "ratio", "rate", "years", "index", "factor", "count", "text", "date"]


@dataclass(frozen=True)
class Column:
    """A named quantity: its display label and unit (which picks the number format)."""

    label: str
    unit: Unit


PERIOD_COLUMNS: Final[dict[str, Column]] = {
    "period": Column("Period", "count"),
    "label": Column("Label", "text"),
    "period_start": Column("Period start", "date"),
    "period_end": Column("Period end", "date"),
    "years": Column("Years after close", "years"),
    "price_index": Column("Price index (base date = 1)", "index"),
    "discount_factor": Column("Discount factor", "factor"),
    "capex_base": Column("One-off costs: base estimate", "money"),
    "capex_contingency": Column("One-off costs: contingency", "money"),
    "capex_optimism_bias": Column("One-off costs: optimism bias", "money"),
    "capex_overrun": Column("One-off costs: risk overrun", "money"),
    "capex": Column("One-off costs: total", "money"),
    "running_costs": Column("Running costs", "money"),
    "gross_savings": Column("Gross savings", "money"),
    "net_savings": Column("Net savings (after running costs)", "money"),
    "net_cash_flow": Column("Net cash flow (after one-off costs)", "money"),
    "cumulative_net_cash_flow": Column("Cumulative net cash flow", "money"),
    "capex_real": Column("One-off costs: total (real)", "money"),
    "running_costs_real": Column("Running costs (real)", "money"),
    "gross_savings_real": Column("Gross savings (real)", "money"),
    "net_savings_real": Column("Net savings (real)", "money"),
    "net_cash_flow_real": Column("Net cash flow (real)", "money"),
    "cumulative_net_cash_flow_real": Column("Cumulative net cash flow (real)", "money"),
    "discounted_net_cash_flow": Column("Discounted net cash flow (appraisal basis)", "money"),
    "cumulative_discounted_net_cash_flow": Column("Cumulative discounted net cash flow", "money"),
}

PARTNER_COLUMNS: Final[dict[str, Column]] = {
    "partner": Column("Partner", "text"),
    "period": Column("Period", "count"),
    "label": Column("Label", "text"),
    "capex": Column("One-off costs", "money"),
    "running_costs": Column("Running costs", "money"),
    "gross_savings": Column("Gross savings", "money"),
    "net_savings": Column("Net savings (after running costs)", "money"),
    "net_cash_flow": Column("Net cash flow (after one-off costs)", "money"),
    "cumulative_net_cash_flow": Column("Cumulative net cash flow", "money"),
    "net_cash_flow_real": Column("Net cash flow (real)", "money"),
    "discounted_net_cash_flow": Column("Discounted net cash flow (appraisal basis)", "money"),
}

METRICS: Final[dict[str, Column]] = {
    "npv": Column("Net present value of the programme", "money"),
    "pv_savings": Column("Present value of gross savings", "money"),
    "pv_costs": Column("Present value of costs (one-off and running)", "money"),
    "bcr": Column("Benefit-cost ratio", "ratio"),
    "payback_years": Column("Payback period (undiscounted)", "years"),
    "discounted_payback_years": Column("Payback period (discounted)", "years"),
    "peak_funding_need": Column("Peak cumulative funding need (nominal)", "money"),
    "peak_funding_period": Column("Period of peak funding need", "count"),
    "total_capex": Column("One-off costs, total (nominal)", "money"),
    "total_capex_base": Column("One-off costs, base estimate (nominal)", "money"),
    "total_running_costs": Column("Running costs, total (nominal)", "money"),
    "total_gross_savings": Column("Gross savings, total (nominal)", "money"),
    "total_net_cash_flow": Column("Net cash flow, total (nominal)", "money"),
}

PARTNER_METRICS: Final[dict[str, Column]] = {
    "cost_share": Column("Share of costs", "rate"),
    "savings_share": Column("Share of savings", "rate"),
    "npv": Column("Net present value", "money"),
    "pv_savings": Column("Present value of gross savings", "money"),
    "pv_costs": Column("Present value of costs", "money"),
    "payback_years": Column("Payback period (undiscounted)", "years"),
}

#: Per-partner bond metrics (with a [bond]): the partners share the financing as they share
#: the costs it pays for.
PARTNER_BOND_METRICS: Final[dict[str, Column]] = {
    "debt_service_share": Column("Share of the bond's debt service (its cost share)", "rate"),
    "total_topup": Column("Top-ups it pays (its share)", "money"),
    "npv_after_debt_service": Column("NPV after debt service", "money"),
}

BOND_COLUMNS: Final[dict[str, Column]] = {
    "payment": Column("Payment", "count"),
    "date": Column("Payment date", "date"),
    "years": Column("Years after issue", "years"),
    "opening_balance": Column("Opening balance", "money"),
    "indexation": Column("Indexation uplift", "money"),
    "interest": Column("Interest accrued", "money"),
    "capitalised_interest": Column("Interest and fees capitalised", "money"),
    "scheduled_principal": Column("Principal due", "money"),
    "fees_due": Column("Fees due", "money"),
    "performance_due": Column("Performance payment due", "money"),
    "cfads": Column("Cash available for debt service (CFADS)", "money"),
    "debt_service_due": Column("Debt service due (interest + principal)", "money"),
    "cash_used": Column("Paid from pledged cash", "money"),
    "reserve_draw": Column("DSRA draw", "money"),
    "topup": Column("Council top-up (full recourse)", "money"),
    "fees_paid": Column("Fees paid", "money"),
    "arrears_paid": Column("Arrears paid", "money"),
    "interest_paid": Column("Interest paid", "money"),
    "principal_paid": Column("Principal paid", "money"),
    "sweep": Column("Cash sweep prepayment", "money"),
    "performance_paid": Column("Performance payment paid", "money"),
    "shortfall": Column("Shortfall deferred (limited recourse)", "money"),
    "arrears_interest": Column("Interest on arrears", "money"),
    "arrears_balance": Column("Arrears outstanding", "money"),
    "fee_arrears_balance": Column("Fee arrears outstanding", "money"),
    "reserve_deposit": Column("DSRA deposit", "money"),
    "reserve_release": Column("DSRA release", "money"),
    "reserve_balance": Column("DSRA balance", "money"),
    "write_off": Column("Written off (investor loss)", "money"),
    "fee_write_off": Column("Fees written off", "money"),
    "closing_balance": Column("Closing balance", "money"),
    "dscr": Column("DSCR", "ratio"),
    "investor_flow": Column("Investor cash flow", "money"),
}

BOND_METRICS: Final[dict[str, Column]] = {
    "principal": Column("Principal issued", "money"),
    "investor_irr": Column("Investor IRR (annual effective)", "rate"),
    "investor_irr_flag": Column("Investor IRR flag (0 = ok)", "count"),
    "money_multiple": Column("Money multiple", "ratio"),
    "wal_years": Column("Weighted average life (years)", "years"),
    "macaulay_duration": Column("Macaulay duration (years)", "years"),
    "modified_duration": Column("Modified duration", "years"),
    "total_interest": Column("Total coupon interest accrued", "money"),
    "total_performance": Column("Total performance payments", "money"),
    "investor_loss": Column("Investor loss written off", "money"),
    "loss_given_default": Column("Loss given default (of the amount owed after default)", "rate"),
    "council_npv": Column("Council NPV after debt service", "money"),
    "min_dscr": Column("Minimum DSCR", "ratio"),
    "avg_dscr": Column("Average DSCR", "ratio"),
    "llcr": Column("Loan life cover ratio (at issue)", "ratio"),
    "plcr": Column("Project life cover ratio (at issue)", "ratio"),
    "shortfall_periods": Column("Periods with a shortfall", "count"),
    "total_topup": Column("Total council top-up", "money"),
    "pwlb_npv": Column("Council NPV with a PWLB loan instead", "money"),
    "council_npv_vs_pwlb": Column("Council NPV: bond minus PWLB", "money"),
}

SOURCES_USES: Final[dict[str, Column]] = {
    "proceeds": Column("Sources: bond proceeds (principal x issue price)", "money"),
    "council_contribution": Column("Sources: council contribution", "money"),
    "financed_costs": Column("Uses: financed one-off costs", "money"),
    "arrangement_fee": Column("Uses: arrangement fee", "money"),
    "reserve_initial": Column("Uses: initial DSRA funding", "money"),
    "surplus": Column("Uses: surplus proceeds to the council", "money"),
}

PATH_METRICS: Final[dict[str, Column]] = {
    "npv": Column("Programme NPV", "money"),
    "payback_years": Column("Payback (years)", "years"),
    "peak_funding_need": Column("Peak funding need", "money"),
    "investor_irr": Column("Investor IRR", "rate"),
    "council_npv": Column("Council NPV after debt service", "money"),
    "min_dscr": Column("Minimum DSCR", "ratio"),
    "total_topup": Column("Council top-up", "money"),
    "shortfall": Column("Any shortfall (1 = yes)", "ratio"),
    "investor_loss": Column("Investor loss", "money"),
    "council_npv_vs_pwlb": Column("Council NPV: bond minus PWLB", "money"),
}


def finite_or_none(value: SupportsFloat) -> float | None:
    """A value as JSON gives it: a plain float, or None where it is undefined (NaN or
    infinite: no IRR, no payback), which the workbook labels n/a."""
    v = float(value)
    return v if math.isfinite(v) else None


#: The events a probability measure names in words (``P(shortfall)``: "a shortfall"); a
#: metric without one is shown as its label and the comparison (``P(npv < 0)``).
PATH_EVENTS: Final[dict[str, str]] = {
    "shortfall": "a shortfall",
    "investor_loss": "an investor loss",
    "total_topup": "a council top-up",
}

#: The scenario fields the design tools vary most, by path (list items as ``[]``): the words
#: and the unit of a sweep's axis and of a solve's answer. Any other field is shown as its
#: path in words, with its unit from the Inputs sheet's units.
FIELDS: Final[dict[str, Column]] = {
    "bond.principal": Column("Principal", "money"),
    "bond.coupon.rate": Column("Coupon rate", "rate"),
    "bond.coupon.margin": Column("Coupon margin", "rate"),
    "bond.coupon.reference_rate": Column("Reference rate", "rate"),
    "bond.coupon.floor": Column("Coupon floor", "rate"),
    "bond.coupon.real_rate": Column("Real coupon rate", "rate"),
    "bond.tenor_years": Column("Tenor", "years"),
    "bond.repayment.type": Column("Repayment profile", "text"),
    "bond.coupon.type": Column("Coupon type", "text"),
    "bond.recourse": Column("Recourse", "text"),
    "bond.grace_interest": Column("Interest in the grace period", "text"),
    "bond.reserve.funding": Column("Reserve funding", "text"),
    "pwlb.loan_type": Column("PWLB loan type", "text"),
    "bond.legal_maturity_years": Column("Legal maturity", "years"),
    "bond.grace_years": Column("Grace period", "years"),
    "bond.financed_share": Column("Financed share of the one-off costs", "rate"),
    "bond.issue_price": Column("Issue price (fraction of par)", "factor"),
    "bond.arrangement_fee": Column("Arrangement fee (share of principal)", "rate"),
    "bond.annual_fees": Column("Annual fees", "money"),
    "bond.cash_sweep": Column("Cash sweep (share of cash left over)", "rate"),
    "bond.pledged_share": Column("Pledged share of net savings", "rate"),
    "bond.reserve.months": Column("Reserve (months of debt service)", "count"),
    "bond.performance.share": Column("Performance share of savings", "rate"),
    "bond.performance.threshold": Column("Performance threshold (a year)", "money"),
    "bond.performance.cap_total_return": Column("Cap on total return", "rate"),
    "pwlb.gilt_yield": Column("Gilt yield", "rate"),
    "pwlb.margin": Column("PWLB margin", "rate"),
    "economics.inflation": Column("Inflation", "rate"),
    "economics.discount_rate": Column("Discount rate", "rate"),
    "partners[].exit_year": Column("Exit year", "years"),
    "partners[].baseline_expenditure": Column("Baseline expenditure (a year)", "money"),
    "costs[].amount": Column("One-off cost", "money"),
    "costs[].contingency": Column("Contingency", "rate"),
    "costs[].optimism_bias": Column("Optimism bias", "rate"),
    "running_costs[].annual_amount": Column("Running cost (a year)", "money"),
    "savings[].annual_amount": Column("Savings (a year)", "money"),
    "savings[].pct_of_expenditure": Column("Savings (share of spend)", "rate"),
    "savings[].start_delay_years": Column("Savings start delay", "years"),
    "savings[].erosion": Column("Savings erosion (a year)", "rate"),
    "savings[].ramp.years": Column("Savings ramp-up", "years"),
}
