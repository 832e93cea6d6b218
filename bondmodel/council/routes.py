"""Funding routes compared on the same draws (issue 17, items 2-4).

Each route of the scenario's ``[[routes]]`` pays for the same programme: the invest-to-save
bond as specified, a PWLB loan, the flexible use of capital receipts, a community municipal
investment, the council's reserves, or an outcomes-based contract. :func:`compile_routes`
fixes each route's contract on the base case (the amount it provides, its rate, a loan's
schedule), once per scenario; :func:`route_flows` and :func:`route_path_metrics` take any
block of paths through every route at once (the bond's waterfall is the one
``Model.evaluate`` already ran), so every route sees the same draws; :func:`route_tables`
gives the base case's budget and Prudential Code view by financial year.

Equations and sources: docs/methodology.md, section 23; design: docs/architecture.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from bondmodel.bond.pwlb import amortise
from bondmodel.bond.schedule import BondGrid
from bondmodel.bond.waterfall import BondFlows, BondSchedule
from bondmodel.conventions import FLEXIBLE_RECEIPTS_LAST_DAY, PWLB_MARGINS
from bondmodel.council.budget import BudgetEffect
from bondmodel.council.mrp import mrp_by_year
from bondmodel.council.prudential import Indicators, cfr_path
from bondmodel.metrics import cumulative_sum, peak_funding_need, present_value
from bondmodel.programme import Draws, ProgrammeFlows, programme_flows
from bondmodel.scenario.council import (
    CAPITAL_CATEGORIES,
    BondRoute,
    CapitalReceiptsRoute,
    CommunityInvestmentRoute,
    Council,
    OutcomesRoute,
    PWLBRoute,
    ReservesRoute,
    Route,
)
from bondmodel.scenario.schema import Scenario
from bondmodel.timeline import Timeline
from bondmodel.types import FloatArray, IntArray

#: The per-path metrics of route k, by prefix (``route_npv_0``); labels in
#: :data:`bondmodel.labels.ROUTE_PATH_METRICS`.
ROUTE_METRIC_PREFIXES: Final = (
    "route_npv",
    "route_peak_cash",
    "route_council_shortfall",
    "route_investor_shortfall",
)

#: Routes that are borrowing (Local Government Act 2003, s.1): a bond and a community
#: municipal investment are borrowing as a PWLB loan is.
BORROWING_TYPES: Final = ("bond", "pwlb", "community_investment")

#: The loan type ``amortise`` schedules for each repayment of a community investment.
_CMI_LOAN_TYPE: Final = {"bullet": "maturity", "eip": "eip", "annuity": "annuity"}


def route_metric_names(scenario: Scenario) -> tuple[str, ...]:
    """``route_npv_0``, ``route_peak_cash_0``, ... for each route, in route order; none
    without routes."""
    routes = scenario.routes or ()
    return tuple(f"{prefix}_{k}" for k in range(len(routes)) for prefix in ROUTE_METRIC_PREFIXES)


@dataclass(frozen=True)
class YearGrid:
    """The financial years the timeline's periods fall in.

    Attributes
    ----------
    years : the first calendar year of each financial year (2026 for 2026/27), (Y,).
    index : the year (0..Y-1) of each period t = 0..T.
    last : the last period of each year, (Y,).
    """

    years: IntArray
    index: IntArray
    last: IntArray

    def total(self, flows: FloatArray) -> FloatArray:
        """Flows (..., T+1) summed by financial year, (..., Y)."""
        out = np.zeros((*flows.shape[:-1], len(self.years)))
        for y in range(len(self.years)):
            out[..., y] = flows[..., self.index == y].sum(axis=-1)
        return out

    def at_end(self, stocks: FloatArray) -> FloatArray:
        """Stocks (..., T+1) at each financial year's last period, (..., Y)."""
        result: FloatArray = stocks[..., self.last]
        return result

    def labels(self) -> list[str]:
        """``2026/27``, ... for each year."""
        return [f"{y}/{(y + 1) % 100:02d}" for y in self.years]


def year_grid(timeline: Timeline) -> YearGrid:
    """The financial years of ``timeline`` (a period belongs to the year its end falls in)."""
    fy = timeline.financial_years()
    years = np.arange(int(fy[0]), int(fy[-1]) + 1, dtype=np.int64)
    index = (fy - fy[0]).astype(np.int64)
    last = np.array([np.flatnonzero(index == y).max() for y in range(len(years))], dtype=np.int64)
    return YearGrid(years, index, last)


@dataclass(frozen=True)
class RouteTerms:
    """A route's contract, fixed on the base case.

    Attributes
    ----------
    route : the route as the scenario gives it.
    amount : the financing it provides at close, nominal (the financing need); a route
        that provides none (capital receipts, reserves) has the need it meets.
    rate : its annual rate (a loan's, the bond's first coupon, the reserves' investment
        rate); NaN for a route without one.
    interest, principal, balance : a loan's schedule on the timeline, (T+1,): interest and
        principal paid at each period's end and the debt outstanding after it (the bond's
        from its waterfall; zeros for a route that does not borrow).
    base_investor_pv : the present value of what investors receive on the base case.
    """

    route: Route
    amount: float
    rate: float
    interest: FloatArray
    principal: FloatArray
    balance: FloatArray
    base_investor_pv: float = 0.0

    @property
    def name(self) -> str:
        return self.route.name

    @property
    def type(self) -> str:
        return self.route.type

    @property
    def borrowing(self) -> bool:
        """Whether the route is borrowing (Local Government Act 2003, s.1)."""
        return self.type in BORROWING_TYPES


@dataclass(frozen=True)
class RouteFlows:
    """A route on a block of paths: the council's cash flow, what investors receive and the
    route's charges to the budget, each (paths, T+1), nominal."""

    council: FloatArray
    investors: FloatArray | None
    #: interest paid (a loan, the bond's coupon, fees and performance payments) or, for
    #: reserves, the investment income forgone
    interest: FloatArray
    #: payments for outcomes (an outcomes contract)
    outcome_payments: FloatArray | None


def financing_need(base: ProgrammeFlows, schedule: BondSchedule | None) -> float:
    """The amount every route provides: the bond's financed costs with a bond (so the routes
    finance what the bond finances), else the base case's one-off costs, nominal."""
    if schedule is not None:
        return schedule.financed_costs
    return float(base.capex[0].sum())


def compile_routes(
    scenario: Scenario,
    timeline: Timeline,
    base: ProgrammeFlows,
    schedule: BondSchedule | None,
    base_bond: BondFlows | None,
) -> tuple[RouteTerms, ...]:
    """Every route's contract on the base case (``base``, with the bond's base waterfall
    ``base_bond``), with the base case's investor present values."""
    if not scenario.routes or scenario.council is None:
        return ()
    council = scenario.council
    amount = financing_need(base, schedule)
    size = timeline.n_periods + 1
    out = []
    for route in scenario.routes:
        zeros = np.zeros(size)
        interest, principal, balance, rate = zeros, zeros, zeros, math.nan
        if isinstance(route, PWLBRoute | CommunityInvestmentRoute):
            if isinstance(route, PWLBRoute):
                rate = route.gilt_yield + PWLB_MARGINS[route.rate_type]
                loan_type: str = route.loan_type
            else:
                rate = route.rate
                loan_type = _CMI_LOAN_TYPE[route.repayment]
            interest, principal, balance = _yearly_loan(
                amount, rate, route.term_years, loan_type, timeline
            )
        elif isinstance(route, BondRoute) and schedule is not None and base_bond is not None:
            rate = float(schedule.rates[1])
            grid = schedule.grid
            interest = grid.to_timeline(_bond_charges(base_bond)[0], timeline.n_periods)
            principal = grid.to_timeline(base_bond.principal_paid[0], timeline.n_periods)
            balance = held_balance(base_bond.closing_balance[0], grid, timeline.n_periods)
        elif isinstance(route, ReservesRoute):
            rate = council.investment_rate
        terms = RouteTerms(route, amount, rate, interest, principal, balance)
        flows = route_flows(
            terms, base, base_bond, schedule.grid if schedule else None, council, timeline
        )
        investor_pv = (
            0.0
            if flows.investors is None
            else float(present_value(base.on_basis(flows.investors), base.discount_factors)[0])
        )
        out.append(RouteTerms(route, amount, rate, interest, principal, balance, investor_pv))
    return tuple(out)


def _yearly_loan(
    amount: float, rate: float, years: int, loan_type: str, timeline: Timeline
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """A loan drawn at close and repaid yearly over ``years`` (``bond.pwlb.amortise``), laid on
    the timeline: payment k at period k x f; the balance held between payments."""
    f = timeline.f
    interest, principal, balance = amortise(amount, rate, years, loan_type, years + 1)
    size = timeline.n_periods + 1
    at = np.arange(years + 1) * f
    out_interest = np.zeros(size)
    out_principal = np.zeros(size)
    out_interest[at] = interest
    out_principal[at] = principal
    held = balance[np.minimum(np.arange(size) // f, years)]
    return out_interest, out_principal, held


def _bond_charges(bond: BondFlows) -> FloatArray:
    """What the bond charges the budget each payment period, (paths, NL+1): coupon interest
    accrued, fees and performance payments paid."""
    result: FloatArray = bond.interest + bond.fees_paid + bond.performance_paid
    return result


def held_balance(balance: FloatArray, grid: BondGrid, n_periods: int) -> FloatArray:
    """A balance on the bond's payment grid (..., NL+1) held on the timeline (..., T+1):
    zero before the issue, the last payment's closing balance between payments."""
    t = np.arange(n_periods + 1)
    k = np.searchsorted(grid.pay_t, t, side="right") - 1
    out: FloatArray = np.where(k >= 0, balance[..., np.clip(k, 0, None)], 0.0)
    return out


def route_flows(
    terms: RouteTerms,
    flows: ProgrammeFlows,
    bond: BondFlows | None,
    grid: BondGrid | None,
    council: Council,
    timeline: Timeline,
) -> RouteFlows:
    """The council's cash flow under the route on every path of ``flows``, (paths, T+1).

    The programme's own cash flow (savings less running and one-off costs, as drawn on
    each path) plus what the route provides less what it costs: a loan's amount at close
    less its fixed debt service; the bond's waterfall as run on these paths; reserves'
    interest forgone; an outcomes contract's investment at close less its payments.
    """
    ncf = flows.net_cash_flow
    paths = ncf.shape[0]
    route = terms.route
    zeros = np.zeros_like(ncf)
    if isinstance(route, BondRoute):
        if bond is None or grid is None:
            raise ValueError("the bond route needs the bond's waterfall")
        received = bond.investor_flow.copy()
        received[:, 0] = 0.0  # the issue: investors pay, they do not receive
        return RouteFlows(
            council=bond.council_flow,
            investors=grid.to_timeline(received, timeline.n_periods),
            interest=grid.to_timeline(_bond_charges(bond), timeline.n_periods),
            outcome_payments=None,
        )
    if isinstance(route, PWLBRoute | CommunityInvestmentRoute):
        council_flow = ncf - (terms.interest + terms.principal)[None, :]
        council_flow[:, 0] += terms.amount
        return RouteFlows(
            council_flow, None, np.broadcast_to(terms.interest, (paths, ncf.shape[1])), None
        )
    if isinstance(route, ReservesRoute):
        forgone = interest_forgone(ncf, council.investment_rate, timeline.f)
        return RouteFlows(ncf - forgone, None, forgone, None)
    if isinstance(route, OutcomesRoute):
        pay = outcome_payments(flows.gross_savings, route, terms.amount, timeline.f)
        council_flow = ncf - pay
        council_flow[:, 0] += terms.amount
        return RouteFlows(council_flow, pay, zeros, pay)
    if isinstance(route, CapitalReceiptsRoute):
        return RouteFlows(ncf.copy(), None, zeros, None)
    raise ValueError(f"unknown route type {route.type!r}")


def interest_forgone(net_cash_flow: FloatArray, rate: float, f: int) -> FloatArray:
    r"""The investment income the reserves lose, (paths, T+1).

    Notes
    -----
    The reserves pay the programme's deficits and are restored from its surpluses:
    the amount drawn :math:`B_t = \max(0, B_{t-1} - CF_t)`, :math:`B_{-1} = 0`; the income
    forgone in period t is :math:`B_{t-1}\, r / f`.
    """
    out = np.zeros_like(net_cash_flow)
    drawn = np.zeros(net_cash_flow.shape[0])
    for t in range(net_cash_flow.shape[1]):
        out[:, t] = drawn * rate / f
        drawn = np.maximum(drawn - net_cash_flow[:, t], 0.0)
    return out


def outcome_payments(
    gross_savings: FloatArray, route: OutcomesRoute, invested: float, f: int
) -> FloatArray:
    r"""The council's payments for outcomes, (paths, T+1).

    Notes
    -----
    :math:`\text{share} \times` the gross savings achieved in periods :math:`1..\text{term}
    \times f`, until the payments add up to :math:`\text{cap} \times` the amount invested:
    :math:`P_t = \min(C, \sum_{u \le t} s S_u) - \min(C, \sum_{u < t} s S_u)`.
    """
    due = route.share * gross_savings
    due[:, route.term_years * f + 1 :] = 0.0
    due[:, 0] = 0.0
    capped = np.minimum(np.cumsum(due, axis=-1), route.cap_multiple * invested)
    result: FloatArray = np.diff(capped, axis=-1, prepend=0.0)
    return result


def route_path_metrics(
    routes: tuple[RouteTerms, ...],
    flows: ProgrammeFlows,
    core: dict[str, FloatArray],
    base_pv_savings: float,
    bond: BondFlows | None,
    grid: BondGrid | None,
    council: Council | None,
    timeline: Timeline,
) -> dict[str, FloatArray]:
    r"""Each route's per-path metrics (:func:`route_metric_names`), one value per path.

    Notes
    -----
    Council NPV: :math:`\sum_t CF^{\text{route}}_t DF_t` on the appraisal basis, as the
    bond's council NPV. Peak cash need: the largest cumulative deficit of the route's
    council cash flow. The savings shortfall of a path is the fall in the present value of
    gross savings below the base case's, :math:`S = \max(0, PV^{base}_S - PV_S)`; the
    investors bear the fall in the present value of what they receive, at most :math:`S`,
    :math:`I = \min(S, \max(0, PV^{base}_I - PV_I))`; the council bears :math:`S - I`.
    """
    out: dict[str, FloatArray] = {}
    if not routes or council is None:
        return out
    df = flows.discount_factors
    shortfall = np.maximum(base_pv_savings - core["pv_savings"], 0.0)
    for k, terms in enumerate(routes):
        rf = route_flows(terms, flows, bond, grid, council, timeline)
        investor_pv = (
            np.zeros(shortfall.shape)
            if rf.investors is None
            else present_value(flows.on_basis(rf.investors), df)
        )
        investors = np.minimum(np.maximum(terms.base_investor_pv - investor_pv, 0.0), shortfall)
        out[f"route_npv_{k}"] = present_value(flows.on_basis(rf.council), df)
        # the peak of peak_funding_need without its period, which is not kept
        out[f"route_peak_cash_{k}"] = np.maximum((-cumulative_sum(rf.council)).max(axis=-1), 0.0)
        out[f"route_council_shortfall_{k}"] = shortfall - investors
        out[f"route_investor_shortfall_{k}"] = investors
    return out


# ---------------------------------------------------------------------------
# The base case by financial year: the budget and the Prudential Code
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteView:
    """A route on the base case, by financial year: its budget effect, Prudential Code
    indicators, the legal position and the flags."""

    terms: RouteTerms
    budget: BudgetEffect
    indicators: Indicators
    peak_cash_need: float
    council_npv: float
    revenue_costs: float
    lawful_for_revenue_costs: bool
    flags: tuple[str, ...]


def revenue_capex(scenario: Scenario, timeline: Timeline) -> FloatArray:
    """The base case's one-off costs of the revenue categories (not
    :data:`~bondmodel.scenario.council.CAPITAL_CATEGORIES`), nominal, (T+1,): the same
    engine run on the scenario's revenue cost items alone."""
    items = tuple(c for c in scenario.costs if c.category not in CAPITAL_CATEGORIES)
    if not items:
        return np.zeros(timeline.n_periods + 1)
    variant = scenario.model_copy(
        update={"costs": items, "risk": None, "bond": None, "pwlb": None, "routes": None}
    )
    result: FloatArray = programme_flows(variant, timeline, Draws.central(variant)).capex[0]
    return result


def route_views(
    scenario: Scenario,
    timeline: Timeline,
    routes: tuple[RouteTerms, ...],
    base: ProgrammeFlows,
    bond: BondFlows | None,
    grid: BondGrid | None,
) -> tuple[YearGrid, Indicators, list[RouteView]]:
    """The base case of every route by financial year, with the council's position before
    the programme (its starting figures held, the budget indexed)."""
    council = scenario.council
    if council is None:
        raise ValueError("the scenario has no [council] section")
    years = year_grid(timeline)
    n_years = len(years.years)
    nrs = council.net_revenue_stream * years.at_end(base.price_index[0])
    flat = np.ones(n_years)
    before = Indicators(
        cfr=council.opening_cfr * flat,
        gross_debt=council.gross_debt * flat,
        financing_costs=council.financing_costs * flat,
        net_revenue_stream=nrs,
        operational_boundary=council.operational_boundary * flat,
        authorised_limit=council.authorised_limit * flat,
    )
    capex_t = base.capex[0]
    capex = years.total(capex_t)
    total_capex = float(capex_t.sum())
    revenue = years.total(revenue_capex(scenario, timeline))
    capital = capex - revenue
    savings = years.total(base.gross_savings[0])
    running = years.total(base.running_costs[0])
    views = []
    for terms in routes:
        rf = route_flows(terms, base, bond, grid, council, timeline)
        route = terms.route
        share = financed_share(terms.amount, total_capex)
        zero = np.zeros(n_years)
        interest = years.total(rf.interest[0])
        mrp = zero
        borrowed = zero
        one_off = capex * (1.0 - share)
        flags: list[str] = []
        if isinstance(route, ReservesRoute):
            one_off = capex
        elif isinstance(route, CapitalReceiptsRoute):
            applied = receipts_applied(capex, np.asarray(council.capital_receipts, dtype=float))
            one_off = capex - applied
            share = float(applied.sum() / capex.sum()) if capex.sum() > 0 else 0.0
        if terms.borrowing:
            borrowed = capex * share
            rate = 0.0 if math.isnan(terms.rate) else terms.rate
            mrp = mrp_by_year(capital * share, council.mrp_life_years, council.mrp_method, rate)
            mrp = mrp + mrp_by_year(
                revenue * share, council.mrp_life_years, "capitalisation_direction"
            )
        outcome = None if rf.outcome_payments is None else years.total(rf.outcome_payments[0])
        budget = BudgetEffect(
            savings=savings,
            running_costs=running,
            interest=interest,
            mrp=mrp,
            one_off_costs=one_off,
            outcome_payments=outcome,
        )
        debt = years.at_end(terms.balance)
        indicators = Indicators(
            cfr=cfr_path(council.opening_cfr, borrowed, mrp),
            gross_debt=council.gross_debt + debt,
            financing_costs=council.financing_costs + budget.financing_costs,
            net_revenue_stream=nrs,
            operational_boundary=before.operational_boundary,
            authorised_limit=before.authorised_limit,
        )
        revenue_funded = float((revenue * share).sum())
        lawful = True
        if terms.borrowing and revenue_funded > 0.0 and not council.capitalisation_direction:
            lawful = False
            flags.append(
                f"NOT LAWFUL AS SET UP: borrowing (Local Government Act 2003, s.1) would fund "
                f"{revenue_funded:,.0f} of revenue costs (redundancy, programme, other), which "
                "it cannot unless they are capitalised under a direction (s.16(2)(b)); shown "
                "for comparison only"
            )
        flags += _route_flags(route, council, indicators, capex, revenue, one_off, years, base)
        views.append(
            RouteView(
                terms=terms,
                budget=budget,
                indicators=indicators,
                peak_cash_need=float(peak_funding_need(rf.council)[0][0]),
                council_npv=float(
                    present_value(base.on_basis(rf.council), base.discount_factors)[0]
                ),
                revenue_costs=revenue_funded,
                lawful_for_revenue_costs=lawful,
                flags=tuple(flags),
            )
        )
    return years, before, views


def pwlb_rate_open(route: PWLBRoute) -> bool:
    """Whether the loan may have its PWLB rate: the standard and certainty rates are open to
    any council; the HRA and local infrastructure rates only where ``eligible`` says so."""
    return route.rate_type in ("standard", "certainty") or route.eligible


def financed_share(amount: float, total: float) -> float:
    """The share of the one-off costs ``total`` that a route providing ``amount`` finances
    (at most all of them; none when there are none)."""
    return min(1.0, amount / total) if total > 0 else 0.0


def receipts_applied(costs: FloatArray, receipts: FloatArray) -> FloatArray:
    r"""The one-off costs met from capital receipts by financial year.

    Notes
    -----
    Receipts pay the costs of their own year; what is left is carried forward to later
    years, never back to an earlier year's costs: with the pool :math:`P_y = P_{y-1} + R_y -
    A_{y-1}`, :math:`A_y = \min(C_y, P_y)`.
    """
    applied = np.zeros(len(costs))
    pool = 0.0
    for y, cost in enumerate(costs):
        pool += float(receipts[y]) if y < len(receipts) else 0.0
        applied[y] = min(float(cost), pool)
        pool -= applied[y]
    return applied


def _route_flags(
    route: Route,
    council: Council,
    indicators: Indicators,
    capex: FloatArray,
    revenue: FloatArray,
    one_off: FloatArray,
    years: YearGrid,
    base: ProgrammeFlows,
) -> list[str]:
    """The route's flags beyond the law on revenue costs: rate eligibility, receipts and
    reserves that fall short, the direction's years, the council's own limits."""
    flags: list[str] = []
    if isinstance(route, PWLBRoute) and not pwlb_rate_open(route):
        if route.rate_type == "hra":
            flags.append(
                "NOT ELIGIBLE: the PWLB HRA rate is only for borrowing within the Housing "
                "Revenue Account; set eligible = true only if it is"
            )
        elif route.rate_type == "local_infrastructure":
            flags.append(
                "NOT ELIGIBLE: the PWLB local infrastructure rate is only for projects HM "
                "Treasury has approved; set eligible = true only if this one is"
            )
    if isinstance(route, CapitalReceiptsRoute):
        short = float(one_off.sum())
        if short > 0.0:
            flags.append(
                f"receipts cover {float(capex.sum()) - short:,.0f} of {float(capex.sum()):,.0f} "
                f"of one-off costs; {short:,.0f} falls on the revenue budget"
            )
        # receipts may always finance capital spending; the direction is needed for revenue
        late = revenue[years.years > FLEXIBLE_RECEIPTS_LAST_DAY.year - 1].sum()
        if late > 0.0:
            flags.append(
                f"{late:,.0f} of revenue costs fall after {FLEXIBLE_RECEIPTS_LAST_DAY:%d %B %Y}, "
                "beyond the flexible use of capital receipts direction"
            )
    if isinstance(route, ReservesRoute):
        drawn = peak_funding_need(base.net_cash_flow)[0][0]
        if drawn > council.usable_reserves:
            flags.append(
                f"needs {drawn:,.0f} of reserves, more than the {council.usable_reserves:,.0f} "
                "usable"
            )
    flags += [f"Prudential Code: {words}" for words in indicators.breaches()]
    if council.financing_ratio_limit is not None:
        over = np.flatnonzero(indicators.financing_ratio > council.financing_ratio_limit)
        if over.size:
            flags.append(
                f"Prudential Code: financing costs exceed {council.financing_ratio_limit:.2%} of "
                f"the net revenue stream in {years.labels()[int(over[0])]}"
            )
    return flags
