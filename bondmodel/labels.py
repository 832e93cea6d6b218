"""The one table of column and metric names.

DataFrames use the keys; the workbook and any report show the labels. Both
come from here, so they cannot disagree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Literal, SupportsFloat

Unit = Literal["money", "ratio", "rate", "years", "index", "factor", "count", "text", "date"]

#: Whose prices a money amount is in: ``nominal`` (as paid), ``real`` (prices of the base
#: year) or ``appraisal`` (real or nominal as the scenario's appraisal basis says).
Prices = Literal["nominal", "real", "appraisal"]


@dataclass(frozen=True)
class Column:
    """A named quantity: its display label and unit (which picks the number format), and for
    money the prices it is in (which the unit words say)."""

    label: str
    unit: Unit
    prices: Prices = "nominal"


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
    "capex_real": Column("One-off costs: total (real)", "money", "real"),
    "running_costs_real": Column("Running costs (real)", "money", "real"),
    "gross_savings_real": Column("Gross savings (real)", "money", "real"),
    "net_savings_real": Column("Net savings (real)", "money", "real"),
    "net_cash_flow_real": Column("Net cash flow (real)", "money", "real"),
    "cumulative_net_cash_flow_real": Column("Cumulative net cash flow (real)", "money", "real"),
    "discounted_net_cash_flow": Column(
        "Discounted net cash flow (appraisal basis)", "money", "appraisal"
    ),
    "cumulative_discounted_net_cash_flow": Column(
        "Cumulative discounted net cash flow", "money", "appraisal"
    ),
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
    "net_cash_flow_real": Column("Net cash flow (real)", "money", "real"),
    "discounted_net_cash_flow": Column(
        "Discounted net cash flow (appraisal basis)", "money", "appraisal"
    ),
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
    "gearing": Column("Gearing: principal / total sources at issue", "rate"),
    "funding_gap": Column("Funding gap: financed uses the bond does not cover", "money"),
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


#: A funding route's per-path metrics (``route_npv_K`` for route K), by prefix: the label
#: is followed by the route's name.
ROUTE_PATH_METRICS: Final[dict[str, Column]] = {
    "route_npv": Column("Council NPV", "money"),
    "route_peak_cash": Column("Peak cash need", "money"),
    "route_council_shortfall": Column("Savings shortfall borne by the council (PV)", "money"),
    "route_investor_shortfall": Column("Savings shortfall borne by investors (PV)", "money"),
}

#: The funding routes compared (``Results.routes.summary``), one row per route.
ROUTE_SUMMARY: Final[dict[str, Column]] = {
    "route": Column("Route", "text"),
    "type": Column("Type", "text"),
    "amount": Column("Financing provided at close", "money"),
    "rate": Column("Annual rate", "rate"),
    "council_npv": Column("Council NPV", "money", "appraisal"),
    "peak_cash_need": Column("Peak cash need", "money"),
    "reserves_needed": Column("Reserves to hold (peak cumulative budget gap)", "money"),
    "max_band_d": Column("Largest Band D equivalent in a year", "money"),
    "max_financing_ratio": Column("Largest ratio of financing costs to net revenue", "rate"),
    "min_boundary_headroom": Column("Least headroom under the operational boundary", "money"),
    "min_limit_headroom": Column("Least headroom under the authorised limit", "money"),
    "borrowing": Column("Borrowing (LGA 2003 s.1)", "text"),
    "revenue_costs": Column("Revenue costs it would fund", "money"),
    "lawful_for_revenue_costs": Column("Lawful for the revenue costs as set up", "text"),
    "flags": Column("Flags", "text"),
}

#: The routes' effect on the General Fund by financial year (``Results.routes.budget``).
ROUTE_BUDGET: Final[dict[str, Column]] = {
    "route": Column("Route", "text"),
    "financial_year": Column("Financial year", "text"),
    "savings": Column("Savings", "money"),
    "running_costs": Column("Running costs", "money"),
    "one_off_costs": Column("One-off costs charged to revenue", "money"),
    "interest": Column("Interest (for reserves: income forgone)", "money"),
    "mrp": Column("Minimum revenue provision", "money"),
    "outcome_payments": Column("Payments for outcomes", "money"),
    "financing_costs": Column("Financing costs (interest + MRP)", "money"),
    "net": Column("Net budget effect (+ costs the budget)", "money"),
    "cumulative_net": Column("Cumulative net budget effect", "money"),
    "band_d": Column("Band D council-tax equivalent", "money"),
    "share_of_budget": Column("Share of the net revenue stream", "rate"),
}

#: The Prudential Code indicators by route and financial year (``Results.routes.prudential``);
#: the route "Before the programme" is the council's starting position.
ROUTE_PRUDENTIAL: Final[dict[str, Column]] = {
    "route": Column("Route", "text"),
    "financial_year": Column("Financial year", "text"),
    "cfr": Column("Capital financing requirement (year end)", "money"),
    "gross_debt": Column("Gross debt (year end)", "money"),
    "debt_over_cfr": Column("Gross debt less the CFR", "money"),
    "financing_costs": Column("Financing costs", "money"),
    "net_revenue_stream": Column("Net revenue stream", "money"),
    "financing_ratio": Column("Financing costs / net revenue stream", "rate"),
    "boundary_headroom": Column("Headroom under the operational boundary", "money"),
    "limit_headroom": Column("Headroom under the authorised limit", "money"),
}

#: Who bears a savings shortfall, by route, over the simulated paths (``Results.routes.risk``).
ROUTE_RISK: Final[dict[str, Column]] = {
    "route": Column("Route", "text"),
    "mean_council_npv": Column("Mean council NPV", "money", "appraisal"),
    "p10_council_npv": Column("P10 council NPV", "money", "appraisal"),
    "p90_peak_cash": Column("P90 peak cash need", "money"),
    "p_council_shortfall": Column("Probability the council bears a savings shortfall", "rate"),
    "mean_council_shortfall": Column("Expected shortfall borne by the council (PV)", "money"),
    "p_investor_shortfall": Column("Probability investors bear a savings shortfall", "rate"),
    "mean_investor_shortfall": Column("Expected shortfall borne by investors (PV)", "money"),
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
    "routes[].gilt_yield": Column("Route's gilt yield", "rate"),
    "routes[].rate": Column("Route's rate", "rate"),
    "routes[].term_years": Column("Route's term", "years"),
    "routes[].share": Column("Share of savings paid for outcomes", "rate"),
    "routes[].cap_multiple": Column("Cap on payments for outcomes (x the investment)", "factor"),
    "council.investment_rate": Column("Council's investment rate", "rate"),
    "savings[].erosion": Column("Savings erosion (a year)", "rate"),
    "savings[].ramp.years": Column("Savings ramp-up", "years"),
}


# ---------------------------------------------------------------------------
# Units as a reader reads them
# ---------------------------------------------------------------------------

#: The one table of unit words: what a Unit column shows for each unit. Money is
#: ``{symbol} nominal`` or ``{symbol} real ({year} prices)``, filled in by :class:`UnitWords`.
UNIT_WORDS: Final[dict[Unit, str]] = {
    "money": "{symbol} nominal",
    "ratio": "x",
    "rate": "%",
    "years": "years",
    "index": "index (base date = 1)",
    "factor": "factor",
    "count": "number",
    "text": "text",
    "date": "date",
}
#: A money amount in real terms: prices of the base date's financial year.
REAL_MONEY: Final = "{symbol} real ({year} prices)"

#: The units the Inputs sheet gives its fields (``bondmodel.workbook.inputs.FIELD_INFO``) in
#: the words a reader sees; ``{real}`` and ``{nominal}`` are the money words of
#: :data:`UNIT_WORDS`. A unit not listed is shown as it is (``choice``, ``names``, ``months``).
INPUT_UNIT_WORDS: Final[dict[str, str]] = {
    "£": "{real}",
    "£ a year": "{real} a year",
    "£, 'sized' or 'dscr'": "{nominal}, sized or dscr",
    "£ nominal": "{nominal}",
    "£ nominal a year": "{nominal} a year",
    "rate": "%",
    "rate a year": "% a year",
    "rates a year": "% a year, each",
    "share": "%",
    "shares": "%, each",
    "share of spend": "% of spend",
    "share of principal": "% of principal",
    "share a year": "% a year",
    "probability": "%",
    "fraction of par": "% of par",
    "ratio": "x",
    "count": "number",
    "factor": "factor",
    "index": "index (base date = 1)",
}


def financial_year(day: date) -> str:
    """The UK financial year (1 April to 31 March) holding ``day``: ``2026/27``."""
    start = day.year if day.month >= 4 else day.year - 1
    return f"{start}/{(start + 1) % 100:02d}"


@dataclass(frozen=True)
class UnitWords:
    """The unit words of one workbook: its currency symbol, the financial year of its price
    base (real terms are at the base date's prices) and whether its appraisal basis is real."""

    symbol: str = "£"
    year: str = ""
    appraisal_real: bool = True

    def money(self, prices: Prices = "nominal") -> str:
        """``£ nominal``, or ``£ real (2026/27 prices)``."""
        real = prices == "real" or (prices == "appraisal" and self.appraisal_real)
        if real and self.year:
            return REAL_MONEY.format(symbol=self.symbol, year=self.year)
        if real:
            return f"{self.symbol} real"
        return UNIT_WORDS["money"].format(symbol=self.symbol)

    def __call__(self, unit: Unit, prices: Prices = "nominal") -> str:
        """The words of ``unit`` (money in ``prices``)."""
        return self.money(prices) if unit == "money" else UNIT_WORDS[unit]

    def input(self, unit: str) -> str:
        """The words of an Inputs sheet unit (money inputs are at base-date prices)."""
        words = INPUT_UNIT_WORDS.get(unit, unit)
        return words.format(real=self.money("real"), nominal=self.money("nominal"))

    def vocabulary(self, input_units: Any = ()) -> frozenset[str]:
        """Every unit text this workbook may show: each unit, money in each of its prices,
        and each of ``input_units`` (the Inputs sheet's units) in words."""
        units: tuple[Unit, ...] = typing_args(Unit)
        words = {self(u) for u in units} | {self.money(p) for p in typing_args(Prices)}
        return frozenset(words | {self.input(u) for u in input_units})


def typing_args(literal: Any) -> tuple[Any, ...]:
    """The values of a ``Literal`` type."""
    return tuple(literal.__args__)


# ---------------------------------------------------------------------------
# Labels built from parts: simulation statistics, probabilities, risk measures
# ---------------------------------------------------------------------------


def in_sentence(label: str) -> str:
    """A label as it reads inside a sentence: its first letter lower case, unless its first
    word is an abbreviation ("NPV after debt service", "PWLB margin" stay as they are)."""
    first = label.split(" ", 1)[0]
    return label if first[1:2].isupper() else label[:1].lower() + label[1:]


#: Confidence of the intervals the Risk sheet gives each percentile (``risk.summary.describe``).
CONFIDENCE_WORDS: Final = "95%"

#: Simulation statistics (``risk.summary.describe``'s keys) that are not percentiles.
STATISTICS: Final[dict[str, str]] = {
    "n": "Paths with a value",
    "n_undefined": "Paths where it is undefined (n/a)",
    "mean": "Mean",
    "sd": "Standard deviation",
    "se_mean": "Standard error of the mean",
}

#: The parts of a percentile's statistic after ``pN``: its interval and its error.
PERCENTILE_PARTS: Final[dict[str, str]] = {
    "": "P{p} ({p}th percentile)",
    "_ci_low": f"P{{p}}, lower bound of its {CONFIDENCE_WORDS} confidence interval",
    "_ci_high": f"P{{p}}, upper bound of its {CONFIDENCE_WORDS} confidence interval",
    "_se": "P{p}, standard error",
}


def statistic_label(key: str) -> str:
    """A simulation statistic in words: ``se_mean`` -> "Standard error of the mean",
    ``p10_ci_low`` -> "P10, lower bound of its 95% confidence interval"."""
    if key in STATISTICS:
        return STATISTICS[key]
    match = re.fullmatch(r"p(\d+)(_ci_low|_ci_high|_se|)", key)
    if match is None:
        raise KeyError(f"no label for the statistic {key!r}")
    p = int(match.group(1))
    words = PERCENTILE_PARTS[match.group(2)].format(p=p)
    return words.replace(f"{p}th", _ordinal(p))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def route_metric(key: str) -> tuple[str, int] | None:
    """``route_npv_2`` -> (``route_npv``, 2): a funding route's per-path metric, its prefix
    (:data:`ROUTE_PATH_METRICS`) and the route's index; None for any other key."""
    match = re.fullmatch(r"(route_[a-z_]+)_(\d+)", key)
    if match is None or match.group(1) not in ROUTE_PATH_METRICS:
        return None
    return match.group(1), int(match.group(2))


def path_metric_label(
    key: str, partners: Sequence[str] = (), bond: bool = True, routes: Sequence[str] = ()
) -> str:
    """A per-path metric in words: from :data:`PATH_METRICS`, ``partner_npv_K`` as the
    partner's name ("NPV after debt service: Northvale District Council"), ``route_npv_K``
    and the other route metrics (:data:`ROUTE_PATH_METRICS`) with the route's name."""
    column = PATH_METRICS.get(key)
    if column is not None:
        return column.label
    route = route_metric(key)
    if route is not None:
        prefix, index = route
        name = routes[index] if index < len(routes) else f"route {index + 1}"
        return f"{ROUTE_PATH_METRICS[prefix].label}: {name}"
    match = re.fullmatch(r"partner_npv_(\d+)", key)
    if match is None:
        raise KeyError(f"no label for the metric {key!r}")
    index = int(match.group(1))
    name = partners[index] if index < len(partners) else f"partner {index + 1}"
    after = " after debt service" if bond else ""
    return f"NPV{after}: {name}"


def route_names(scenario: Any) -> list[str]:
    """The names of a scenario's funding routes, in order (none without routes)."""
    return [route.name for route in scenario.routes or ()]


def metric_names_of(
    scenario: Any,
) -> tuple[list[str], bool, list[str]]:
    """What :func:`path_metric_label` needs of a scenario: its partners' names, whether it
    has a bond, its routes' names."""
    return (list(scenario.partner_names), scenario.bond is not None, route_names(scenario))


def path_metric_unit(key: str) -> Unit:
    """A per-path metric's unit: from :data:`PATH_METRICS`; a partner's NPV is money."""
    column = PATH_METRICS.get(key)
    if column is not None:
        return column.unit
    return "money" if key.startswith(("partner_npv_", "route_")) else "ratio"


#: run's probabilities (``risk.events``) in words, by key; a partner's is
#: :func:`probability_label`'s own.
PROBABILITIES: Final[dict[str, str]] = {
    "p_any_shortfall": "Probability of a shortfall (limited recourse)",
    "p_investor_loss": "Probability of an investor loss",
    "p_council_npv_negative": "Probability the council's NPV after debt service is negative",
    "p_council_topup": "Probability of a council top-up",
    "p_bond_worse_than_pwlb": "Probability the bond costs the council more than a PWLB loan",
    "p_programme_npv_negative": "Probability the programme's NPV is negative",
    "p_no_payback": "Probability the programme does not pay back within the horizon",
}


def probability_label(key: str, partners: Sequence[str] = (), bond: bool = True) -> str:
    """A probability of run's in words; ``p_partner_npv_K_negative`` names the partner."""
    if key in PROBABILITIES:
        return PROBABILITIES[key]
    match = re.fullmatch(r"p_(partner_npv_\d+)_negative", key)
    if match is None:
        raise KeyError(f"no label for the probability {key!r}")
    metric = path_metric_label(match.group(1), partners, bond)
    what, name = metric.split(": ", 1)
    return f"Probability {name}'s {what} is negative"


#: The tail risk measures of run (``risk.results``: ``var_5_council_npv``), by their prefix.
RISK_MEASURES: Final[dict[str, str]] = {
    "var_5": "Value at risk (5%)",
    "cvar_5": "Expected shortfall (5%: mean of the worst 5% of paths)",
}


def risk_measure_label(key: str) -> str:
    """``var_5_council_npv`` -> "Value at risk (5%) of the council NPV after debt service"."""
    for prefix, words in RISK_MEASURES.items():
        if key.startswith(prefix + "_"):
            metric = PATH_METRICS[key[len(prefix) + 1 :]].label
            return f"{words} of the {in_sentence(metric)}"
    raise KeyError(f"no label for the risk measure {key!r}")


#: The Risk sheet's fan charts (``risk.results``' fans), by their key.
FANS: Final[dict[str, str]] = {
    "net_savings": f"{PERIOD_COLUMNS['net_savings'].label}, nominal",
    "cfads": BOND_COLUMNS["cfads"].label,
    "dscr": BOND_COLUMNS["dscr"].label,
    "bond_balance": "Bond balance outstanding (closing)",
}


#: What a risk input moves (``scenario.risk``'s targets), in a few words; the longer
#: meaning is ``scenario.risk.TARGET_MEANING``.
TARGETS: Final[dict[str, str]] = {
    "savings.realisation": "Savings realised (multiplier)",
    "partners.realisation": "Partners' savings realised (multiplier)",
    "savings.start_delay": "Savings start delay (periods)",
    "savings.ramp_speed": "Savings ramp speed (multiplier)",
    "savings.erosion": "Savings erosion (a year)",
    "costs.overrun": "Cost overrun (outturn multiplier)",
    "running_costs.factor": "Running costs (multiplier)",
    "economics.inflation": "Inflation (a year)",
    "bond.reference_rate": "Reference rate (a year)",
}


def name_in_words(name: str) -> str:
    """A name from the scenario where a reader looks: its underscores as spaces
    (``savings_realisation`` -> "savings realisation")."""
    return name.replace("_", " ")


def risk_input_label(name: str) -> str:
    """A risk input's name as a row label: ``savings_realisation`` -> "Savings realisation"."""
    words = name_in_words(name)
    return words[:1].upper() + words[1:]


# ---------------------------------------------------------------------------
# Inputs: each field's path in words
# ---------------------------------------------------------------------------

#: The lists of the scenario, as one item of each is named ("Cost item 2 (Redundancy)").
ITEMS: Final[dict[str, str]] = {
    "partners": "Partner",
    "costs": "Cost item",
    "running_costs": "Running cost",
    "savings": "Savings stream",
    "inputs": "Risk input",
    "routes": "Funding route",
}

#: The tables of the scenario, in words.
SECTIONS: Final[dict[str, str]] = {
    "meta": "Scenario",
    "timeline": "Timeline",
    "economics": "Economics",
    "bond": "Bond",
    "coupon": "coupon",
    "repayment": "repayment",
    "reserve": "debt service reserve (DSRA)",
    "sizing": "sizing to a DSCR",
    "performance": "performance payment",
    "pwlb": "PWLB loan (the comparison)",
    "risk": "Risk",
    "correlation": "correlation",
    "ramp": "ramp",
    "distribution": "distribution",
    "path": "path over time",
    "fit": "fitted to data",
    "conventions": "Convention",
    "council": "Council finances",
}

#: Field names that do not read as words with their underscores as spaces.
FIELD_WORDS: Final[dict[str, str]] = {
    "ob_mitigation": "optimism-bias mitigation",
    "ob_band": "optimism-bias band",
    "pct_of_expenditure": "share of the partners' expenditure",
    "align_to_financial_year": "align to the financial year",
    "horizon_years": "horizon",
    "tenor_years": "tenor",
    "legal_maturity_years": "legal maturity",
    "grace_years": "grace period",
    "start_delay_years": "start delay",
    "term_years": "term",
    "cap_total_return": "cap on the total return",
    "target_dscr": "target DSCR",
    "default_paths": "paths simulated by default",
    "sd": "standard deviation",
    "min": "lowest",
    "max": "highest",
    "mode": "most likely",
    "p": "probability",
    "p10": "10th percentile",
    "p90": "90th percentile",
    "names": "names (matrix order)",
    "tax_base_band_d": "tax base (Band D equivalents)",
    "opening_cfr": "capital financing requirement at close",
    "gross_debt": "gross debt at close",
    "financing_costs": "existing financing costs (interest and MRP)",
    "financing_ratio_limit": "limit on financing costs / net revenue stream",
    "mrp_method": "MRP method",
    "mrp_life_years": "MRP asset life",
    "capitalisation_direction": "capitalisation direction held",
    "eligible": "eligible for the rate type",
    "cap_multiple": "cap (multiple of the investment)",
    "data": "data file",
    "sha256": "data's SHA-256",
}


def field_words(name: str) -> str:
    """A scenario field's name in words (``ob_mitigation`` -> "optimism-bias mitigation")."""
    return FIELD_WORDS.get(name, name.replace("_", " "))


def input_label(path: str, scenario: Any = None) -> str:
    """An input's path in words, naming list items by their names in ``scenario``:
    ``costs[0].ob_mitigation`` -> "Cost item 1 (Digital platform): optimism-bias
    mitigation"; ``bond.coupon.rate`` -> "Bond, coupon: rate";
    ``risk.correlation.matrix[1]`` -> "Risk, correlation: matrix, row 2"."""
    parts = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)", path)
    segments: list[str] = []
    node = scenario
    for i, (name, indices) in enumerate(parts):
        index = [int(x) for x in re.findall(r"\d+", indices)]
        node = getattr(node, name, None) if node is not None else None
        last = i == len(parts) - 1
        if last:
            words = field_words(name)
            if index:
                words += f", row {index[0] + 1}"
            head = segments[0] if segments else ""
            rest = ", ".join(segments[1:])
            where = f"{head}, {rest}" if rest else head
            return f"{where}: {words}" if where else words[:1].upper() + words[1:]
        if index and name in ITEMS:
            item = node[index[0]] if isinstance(node, tuple) and index[0] < len(node) else None
            label = f"{ITEMS[name]} {index[0] + 1}"
            item_name = getattr(item, "name", None)
            if isinstance(item_name, str) and item_name:
                label += f" ({name_in_words(item_name)})"
            segments = [label]  # an item names itself fully
            node = item
        else:
            segments.append(SECTIONS.get(name, field_words(name)))
    return path
