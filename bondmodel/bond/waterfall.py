"""The bond: sizing, the debt-service waterfall and the council's cash after debt service.

Vectorised over paths: every state variable is an array of one value per
path, and the loop runs over payment periods only. The base case is one path.
docs/methodology.md, "Bond", states each step with its source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np

from bondmodel.bond.schedule import (
    BondGrid,
    annual_coupon_rates,
    build_grid,
    remaining_fraction,
    uplift_factors,
)
from bondmodel.bond.sizing import dscr_principal
from bondmodel.errors import ModelError
from bondmodel.programme import ProgrammeFlows
from bondmodel.scenario.bond import BondTerms
from bondmodel.scenario.schema import Scenario
from bondmodel.timeline import Timeline
from bondmodel.types import BoolArray, FloatArray

#: Relative tolerance below which a balance counts as repaid.
_ZERO = 1e-9


def balance_tolerance(principal: float) -> float:
    r"""Pounds below which an amount owed, paid or written off is rounding: 1e-9 x max(P, 1).

    Notes
    -----
    The waterfall's balances carry the rounding of one subtraction or so per payment,
    at most 1,200 payments (100 years, monthly): about
    :math:`1200 \cdot 2^{-53} \approx 1.3 \times 10^{-13}` of the principal. 1e-9 of the
    principal is thousands of times that, and still only £1 on a £1bn bond, so no real
    arrears or loss falls under it. The workbook uses the same tolerance (``bd_tol``).
    """
    return _ZERO * max(principal, 1.0)


@dataclass(frozen=True)
class BondSchedule:
    """The contract fixed at issue from the terms and the base case.

    Money is nominal pounds. ``rates`` are annual coupon rates per payment
    period; ``remaining`` the scheduled outstanding fraction of the post-grace
    balance; ``reserve_target`` the DSRA target after each payment;
    ``scheduled_debt_service`` the base-case interest plus principal due.
    """

    terms: BondTerms
    grid: BondGrid
    principal: float
    proceeds: float
    arrangement_fee: float
    reserve_initial: float
    financed_costs: float
    surplus: float
    rates: FloatArray
    remaining: FloatArray
    reserve_target: FloatArray
    scheduled_debt_service: FloatArray
    base_cfads: FloatArray
    planned_costs: float
    sizing_cfads: FloatArray

    @property
    def funding_gap(self) -> float:
        """The financed uses the bond's net proceeds do not cover, which the council must
        find at issue: the council contribution (>= 0)."""
        return self.council_contribution

    @property
    def gearing(self) -> float:
        """Principal / (principal + the councils' funding at issue), NaN when both are 0.

        The councils' funding is the funding gap plus the one-off costs the bond does not
        finance, (1 - financed share) x planned costs: gearing is the bond's share of the
        total sources (= total uses) on the Sources and uses sheet.
        """
        total = self.principal + self.funding_gap + (self.planned_costs - self.financed_costs)
        return self.principal / total if total > 0 else float("nan")

    @property
    def council_contribution(self) -> float:
        """What the council adds at issue when the proceeds fall short of the uses (>= 0).

        A shortfall within rounding of a sized principal (1e-9 of it) counts as none.
        """
        if abs(self.surplus) <= 1e-9 * max(self.principal, 1.0):
            return 0.0
        return max(-self.surplus, 0.0)


@dataclass(frozen=True)
class BondFlows:
    """The waterfall's results per payment period, each (paths, NL+1), nominal pounds.

    Period 0 is the issue. ``investor_flow`` is what investors pay (-) and
    receive (+); ``council_flow`` is on the timeline, (paths, T+1).
    """

    opening_balance: FloatArray
    indexation: FloatArray
    interest: FloatArray
    capitalised_interest: FloatArray
    scheduled_principal: FloatArray
    debt_service_due: FloatArray
    fees_due: FloatArray
    performance_due: FloatArray
    arrears_interest: FloatArray
    cfads: FloatArray
    cash_used: FloatArray
    reserve_draw: FloatArray
    topup: FloatArray
    fees_paid: FloatArray
    arrears_paid: FloatArray
    interest_paid: FloatArray
    principal_paid: FloatArray
    sweep: FloatArray
    performance_paid: FloatArray
    shortfall: FloatArray
    reserve_deposit: FloatArray
    reserve_release: FloatArray
    reserve_balance: FloatArray
    arrears_balance: FloatArray
    fee_arrears_balance: FloatArray
    write_off: FloatArray
    fee_write_off: FloatArray
    closing_balance: FloatArray
    dscr: FloatArray
    investor_flow: FloatArray
    council_flow: FloatArray

    @staticmethod
    def net_paid_in(
        cash_used: FloatArray,
        reserve_deposit: FloatArray,
        sweep: FloatArray,
        topup: FloatArray,
        reserve_release: FloatArray,
    ) -> FloatArray:
        """What the councils pay into the bond account, net of reserve releases."""
        result: FloatArray = cash_used + reserve_deposit + sweep + topup - reserve_release
        return result

    @property
    def paid_in(self) -> FloatArray:
        """(paths, NL+1): :meth:`net_paid_in` of this waterfall."""
        return self.net_paid_in(
            self.cash_used, self.reserve_deposit, self.sweep, self.topup, self.reserve_release
        )

    @property
    def n_paths(self) -> int:
        """The number of paths."""
        return int(self.cfads.shape[0])


# ---------------------------------------------------------------------------
# Schedule and sizing
# ---------------------------------------------------------------------------


def _scheduled_path(
    bond: BondTerms,
    grid: BondGrid,
    principal: float,
    rates: FloatArray,
    uplift: FloatArray,
    cfads: FloatArray,
    fees: FloatArray,
    trace: dict[str, FloatArray] | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Base-case remaining fractions, interest due and principal due for a principal.

    The grace period runs first, exactly as the waterfall runs it (a
    capitalised grace rolls interest and fees into the balance); the
    repayment profile then applies to the balance left at its end.
    """
    g = grid.g
    interest_due = np.zeros(grid.n_legal + 1)
    principal_due = np.zeros(grid.n_legal + 1)
    real = principal
    index = 1.0
    balance = np.full(grid.n_legal + 1, principal)  # real, after each payment
    due = np.zeros(grid.n_legal + 1)  # real principal due
    for k in range(1, grid.n_grace + 1):
        index *= uplift[k]
        interest = real * index * rates[k] / g
        if bond.grace_interest == "capitalised":
            real += (interest + fees[k]) / index
        else:
            interest_due[k] = interest
        balance[k] = real
    base_real = real
    remaining = remaining_fraction(bond, grid, rates, uplift, cfads, real * index, trace)
    for k in range(grid.n_grace + 1, grid.n_scheduled + 1):
        index *= uplift[k]
        interest_due[k] = real * index * rates[k] / g
        due_real = real if k >= grid.n_scheduled else max(real - remaining[k] * base_real, 0.0)
        real -= due_real
        principal_due[k] = due_real * index
        due[k] = due_real
        balance[k] = real
    balance[grid.n_scheduled + 1 :] = real
    if trace is not None:
        trace["scheduled_balance"] = balance
        trace["post_grace_scheduled"] = np.where(
            np.arange(grid.n_legal + 1) < grid.n_grace, principal, base_real
        )
        trace["scheduled_interest"] = interest_due
        trace["scheduled_principal_due"] = principal_due
        trace["scheduled_due_real"] = due
    return remaining, interest_due, principal_due


def _reserve_targets(
    bond: BondTerms,
    grid: BondGrid,
    interest: FloatArray,
    principal: FloatArray,
    trace: dict[str, FloatArray] | None = None,
) -> FloatArray:
    """DSRA target after each payment: the next ``months`` of scheduled debt service.

    A bullet bond's reserve covers its interest only: the repayment at maturity
    is a balloon that months of reserve could not meaningfully cover. A reserve
    funded at issue holds, from issue, the target it will need when debt
    service starts (at least the target after the grace period).

    Notes
    -----
    With q = months x g / 12 payment periods of cover,
    :math:`target_k = \\sum_{j \\ge 1} \\min(1, \\max(0, q - (j-1)))\\, DS_{k+j}`.
    """
    target = np.zeros(grid.n_legal + 1)
    covered = principal.copy()
    if bond.repayment.type == "bullet":
        covered[grid.n_scheduled] = 0.0
    ds = interest + covered
    if bond.reserve is None:
        if trace is not None:
            trace["covered_debt_service"] = ds
            trace["reserve_target_raw"] = target.copy()
        return target
    q = bond.reserve.months * grid.g / 12.0
    padded = np.concatenate([ds, np.zeros(int(np.ceil(q)) + 1)])
    for j in range(1, int(np.ceil(q)) + 1):
        weight = min(1.0, q - (j - 1))
        target += weight * padded[j : j + grid.n_legal + 1]
    target[grid.n_scheduled :] = 0.0
    if trace is not None:
        trace["covered_debt_service"] = ds
        trace["reserve_target_raw"] = target.copy()
    if bond.reserve.funding == "at_issue" and grid.n_grace > 0:
        target[: grid.n_grace] = np.maximum(target[: grid.n_grace], target[grid.n_grace])
    return target


def build_schedule(
    scenario: Scenario,
    timeline: Timeline,
    base: ProgrammeFlows,
    base_inflation: FloatArray,
    trace: dict[str, FloatArray] | None = None,
    sizing_cfads: FloatArray | None = None,
) -> BondSchedule:
    """Fix the contract: grid, rates, principal (given, sized to uses or to a DSCR),
    profile, reserve.

    ``trace``, if given, receives the scheduled path of the final principal step
    by step (the workbook's contract rows). ``sizing_cfads`` (NL+1,) is the CFADS a
    principal sized to a DSCR uses (a percentile basis's, computed by the caller);
    None: the base case's.

    Notes
    -----
    Uses at issue: financed costs F = financed_share x planned one-off costs
    (base + contingency + optimism bias, nominal, base case), the arrangement
    fee a P and the initial reserve R_0(P). Sources: P x price. Sized, P solves

    .. math:: P\\, (price - a) = F + R_0(P)

    by fixed-point iteration (R_0 grows with P). With a given P the surplus
    P (price - a) - F - R_0 goes to the council at issue (a deficit is the
    council's contribution).
    """
    bond = scenario.bond
    if bond is None:
        raise ModelError("the scenario has no [bond] section")
    grid = build_grid(bond, timeline)
    rates = annual_coupon_rates(bond, grid)
    uplift = uplift_factors(bond, grid, timeline, base_inflation)[0]
    cfads = bond.pledged_share * np.maximum(grid.aggregate(base.net_savings)[0], 0.0)
    fees = bond.annual_fees / grid.g * base.price_index[0, grid.pay_t]
    fees[0] = 0.0
    planned = base.capex_base + base.capex_contingency + base.capex_optimism_bias
    financed = bond.financed_share * float(planned[0].sum())
    at_issue = bond.reserve is not None and bond.reserve.funding == "at_issue"

    def reserve0(
        principal: float, record: dict[str, FloatArray] | None = None, fee_scale: float = 1.0
    ) -> tuple[float, FloatArray, FloatArray, FloatArray]:
        remaining, interest, repaid = _scheduled_path(
            bond, grid, principal, rates, uplift, cfads, fees * fee_scale, record
        )
        target = _reserve_targets(bond, grid, interest, repaid, record)
        return (float(target[0]) if at_issue else 0.0), remaining, interest + repaid, target

    basis = cfads if sizing_cfads is None else np.maximum(sizing_cfads, 0.0)
    principal = _principal(bond, grid, (rates, uplift, basis), financed, reserve0)
    r0, remaining, ds, target = reserve0(principal, trace)
    if trace is not None:
        _trace_affine_parts(bond, reserve0, trace)
        trace["uplift"] = uplift
        trace["scheduled_fees"] = fees
    proceeds = principal * bond.issue_price
    fee = principal * bond.arrangement_fee
    return BondSchedule(
        terms=bond,
        grid=grid,
        principal=principal,
        proceeds=proceeds,
        arrangement_fee=fee,
        reserve_initial=r0,
        financed_costs=financed,
        surplus=proceeds - fee - r0 - financed,
        rates=rates,
        remaining=remaining,
        reserve_target=target,
        scheduled_debt_service=ds,
        base_cfads=cfads,
        planned_costs=float(planned[0].sum()),
        sizing_cfads=basis,
    )


#: The scheduled path for a principal: (R_0, remaining, debt service, reserve targets), given
#: the principal, an optional record of its steps and a scale on the fees.
_ReservePath = Callable[..., tuple[float, FloatArray, FloatArray, FloatArray]]


def _principal(
    bond: BondTerms,
    grid: BondGrid,
    base: tuple[FloatArray, FloatArray, FloatArray],
    financed: float,
    reserve0: _ReservePath,
) -> float:
    """The principal: given, sized to the uses (the financed costs ``financed``, fee and
    reserve) or to a DSCR target; ``base`` is the base case's (rates, uplift, CFADS basis)."""
    if bond.principal == "sized":
        net_price = bond.issue_price - bond.arrangement_fee
        return _sized_principal(bond, financed, net_price, reserve0)
    if bond.principal == "dscr":
        rates, uplift, basis = base
        return dscr_principal(
            bond, grid, rates, uplift, basis, lambda p, rec, scale: reserve0(p, rec, scale)[2]
        )
    return float(bond.principal)


def _trace_affine_parts(
    bond: BondTerms, reserve0: _ReservePath, trace: dict[str, FloatArray]
) -> None:
    """The scheduled path for a unit principal without fees (``*_unit``) and for the fees
    alone (``*_fees``): the path is affine in P, P x the first + the second, and the workbook
    sizes P in closed form from them (a sculpted profile's only up to the end of grace, which
    its DSCR sizing uses; nothing else of a sculpted profile is affine)."""
    if bond.repayment.type == "sculpted" and bond.principal != "dscr":
        return
    for suffix, unit_principal, fee_scale in (("_unit", 1.0, 0.0), ("_fees", 0.0, 1.0)):
        part: dict[str, FloatArray] = {}
        reserve0(unit_principal, part, fee_scale)
        trace.update({f"{key}{suffix}": value for key, value in part.items()})


def _sized_principal(
    bond: BondTerms, financed: float, net_price: float, reserve0: _ReservePath
) -> float:
    """P solving P (price - fee) = F + R_0(P): fixed-point iteration, then one secant step
    (see :func:`build_schedule`); a ModelError when there is no solution."""
    principal = financed / net_price
    for _ in range(200):
        r0, *_ = reserve0(principal)
        new = (financed + r0) / net_price
        if abs(new - principal) <= 1e-12 * max(1.0, abs(new)):
            principal = new
            break
        if not np.isfinite(new) or new > 1e6 * max(financed, 1.0):
            break
        principal = new
    else:
        principal = np.nan
    if np.isfinite(principal):
        # polish: R_0 is affine in P near the solution, so one secant step on
        # g(P) = (F + R_0(P)) / (price - fee) lands on the fixed point to rounding
        # (the iteration above stops within 1e-12 of it, pounds of sizing residual)
        r_a = reserve0(principal)[0]
        step = max(abs(principal), 1.0) * 1e-6
        slope = (reserve0(principal + step)[0] - r_a) / step / net_price
        if slope < 1.0:
            principal += ((financed + r_a) / net_price - principal) / (1.0 - slope)
    r0, *_ = reserve0(principal) if np.isfinite(principal) else (np.nan,)
    if not np.isfinite(principal) or abs((financed + r0) / net_price - principal) > 1e-6 * max(
        1.0, principal
    ):
        raise ModelError(
            "bond.principal = 'sized' has no solution: the reserve "
            f"({bond.reserve.months if bond.reserve else 0} months of debt service) grows "
            "faster than the principal that funds it; shorten the reserve or lengthen the tenor"
        )
    return float(principal)


# ---------------------------------------------------------------------------
# The waterfall
# ---------------------------------------------------------------------------

#: The intermediate quantities :func:`run_waterfall` can trace, besides :class:`BondFlows`.
TRACE_KEYS = (
    "owing",
    "index",
    "fees_now",
    "real_cap",
    "post_grace",
    "interest_due",
    "arrears_open",
    "perf_arrears_open",
    "perf_all",
    "senior",
    "cash_in",
    "senior_cash",
    "short",
    "perf_cash",
    "short_perf",
    "paid",
    "fee_arrears_pre",
    "arrears_pre",
    "perf_arrears_pre",
    "excess",
    "real_pre",
    "clear",
    "repaid",
    "reserve_pre",
    "real",
    "senior_arrears",
    "perf_arrears",
    "funded_fees",
)


def _empty() -> FloatArray:
    return np.empty(0)


def _no_flags() -> BoolArray:
    return np.empty(0, dtype=bool)


@dataclass(frozen=True)
class _Contract:
    """What the waterfall reads and never changes: the contract and this run's inputs,
    period-major (payments x paths) so each period's values for all paths are contiguous."""

    schedule: BondSchedule
    bond: BondTerms
    grid: BondGrid
    paths: int
    limited: bool
    cfads: FloatArray
    cash_in: FloatArray
    fees_due: FloatArray
    uplift: FloatArray
    rates: FloatArray | None
    performance_due: FloatArray
    performance_cap: float

    def rate(self, k: int) -> FloatArray:
        """The coupon rate of payment k per payment period (per path for a floating coupon)."""
        annual: FloatArray = self.schedule.rates[k] if self.rates is None else self.rates[k]
        return annual / self.grid.g

    @property
    def tolerance(self) -> float:
        """Pounds of issue-date money below which a balance counts as repaid."""
        return _ZERO * max(self.schedule.principal, 1.0)


@dataclass
class _Balances:
    """The waterfall's running state for every path, carried from one payment to the next.

    ``issue_balance`` is the principal outstanding in issue-date money: the nominal balance
    is ``issue_balance x index`` (the index ratio; 1 throughout unless index-linked).
    Each step replaces these arrays and never writes into them, so a traced value keeps
    the value it had when it was traced.
    """

    issue_balance: FloatArray
    index: FloatArray
    senior_arrears: FloatArray
    performance_arrears: FloatArray
    fee_arrears: FloatArray
    reserve: FloatArray
    post_grace: FloatArray


@dataclass
class _Period:
    """One payment period's amounts (each one value per path), filled in step by step."""

    k: int
    owing: BoolArray = field(default_factory=_no_flags)
    interest: FloatArray = field(default_factory=_empty)
    interest_due: FloatArray = field(default_factory=_empty)
    fees_now: FloatArray = field(default_factory=_empty)
    funded_fees: FloatArray = field(default_factory=_empty)
    in_grace: bool = False
    principal_due: FloatArray = field(default_factory=_empty)
    performance_all: FloatArray = field(default_factory=_empty)
    fees_due: FloatArray = field(default_factory=_empty)
    performance_due: FloatArray = field(default_factory=_empty)
    senior: FloatArray = field(default_factory=_empty)
    cash: FloatArray = field(default_factory=_empty)
    senior_cash: FloatArray = field(default_factory=_empty)
    short: FloatArray = field(default_factory=_empty)
    performance_cash: FloatArray = field(default_factory=_empty)
    short_performance: FloatArray = field(default_factory=_empty)
    from_cash: FloatArray = field(default_factory=_empty)
    paid: FloatArray = field(default_factory=_empty)
    pay_arrears: FloatArray = field(default_factory=_empty)
    pay_interest: FloatArray = field(default_factory=_empty)
    pay_principal: FloatArray = field(default_factory=_empty)
    pay_performance: FloatArray = field(default_factory=_empty)
    excess: FloatArray = field(default_factory=_empty)
    target: float = 0.0
    sweep: FloatArray = field(default_factory=_empty)
    clear: BoolArray = field(default_factory=_no_flags)
    repaid: BoolArray = field(default_factory=_no_flags)


def _accrue(c: _Contract, s: _Balances, p: _Period, out: dict[str, FloatArray]) -> None:
    """Steps 1-2: index uplift, interest, fees; capitalised in a capitalised grace period."""
    k, paths = p.k, c.paths
    rate = c.rate(k)
    # agency and trustee fees run while anything is owed: more than the balance tolerance,
    # so that a rounding residue of a settled bond (1e-10 of arrears) does not keep them
    # running to legal maturity
    tol = c.tolerance
    p.owing = (
        (s.issue_balance > tol)
        | (s.senior_arrears > tol)
        | (s.performance_arrears > tol)
        | (s.fee_arrears > tol)
    )
    out["opening_balance"][k] = s.issue_balance * s.index
    new_index = s.index * c.uplift[k]
    out["indexation"][k] = s.issue_balance * (new_index - s.index)
    s.index = new_index
    p.interest = s.issue_balance * s.index * rate
    out["interest"][k] = p.interest
    p.in_grace = k <= c.grid.n_grace
    p.fees_now = np.where(p.owing, c.fees_due[k], 0.0)
    p.funded_fees = np.zeros(paths)
    if p.in_grace and c.bond.grace_interest == "capitalised":
        # Interest and fees roll up into the balance during a capitalised grace
        # period: investors pay the fees to the agents as a further drawing.
        s.issue_balance = s.issue_balance + (p.interest + p.fees_now) / s.index
        out["capitalised_interest"][k] = p.interest + p.fees_now
        p.interest_due = np.zeros(paths)
        p.funded_fees = p.fees_now
        p.fees_now = np.zeros(paths)
    else:
        p.interest_due = p.interest
    if k == c.grid.n_grace:
        s.post_grace = s.issue_balance.copy()


def _amounts_due(c: _Contract, s: _Balances, p: _Period, out: dict[str, FloatArray]) -> None:
    """Step 3: arrears interest; principal, fees and the capped performance payment due."""
    k = p.k
    rate = c.rate(k)
    if c.bond.arrears_interest:
        accrued = s.senior_arrears * rate
        accrued_performance = s.performance_arrears * rate
        s.senior_arrears = s.senior_arrears + accrued
        s.performance_arrears = s.performance_arrears + accrued_performance
        out["arrears_interest"][k] = accrued + accrued_performance
    if p.in_grace:
        p.principal_due = np.zeros(c.paths)
    elif k >= c.grid.n_scheduled:
        p.principal_due = s.issue_balance * s.index
    else:
        scheduled = c.schedule.remaining[k] * s.post_grace
        p.principal_due = np.maximum(s.issue_balance - scheduled, 0.0) * s.index
    out["scheduled_principal"][k] = p.principal_due
    out["debt_service_due"][k] = p.interest_due + p.principal_due
    p.fees_due = p.fees_now + s.fee_arrears
    out["fees_due"][k] = p.fees_due
    # the cap applies to the coupon accrued, whether paid or capitalised
    p.performance_all = c.performance_due[k]
    due = np.minimum(p.performance_all, np.maximum(c.performance_cap - p.interest, 0.0))
    p.performance_due = np.where(s.issue_balance > 0.0, due, 0.0) + s.performance_arrears
    out["performance_due"][k] = p.performance_due


def _pay(c: _Contract, s: _Balances, p: _Period, out: dict[str, FloatArray]) -> None:
    """Step 4: senior items from pledged cash then the reserve; the junior performance
    payment from pledged cash only; the council tops up (full recourse) or defers the rest."""
    k = p.k
    p.senior = p.fees_due + s.senior_arrears + p.interest_due + p.principal_due
    p.cash = c.cash_in[k]
    p.senior_cash = np.minimum(p.cash, p.senior)
    short = p.senior - p.senior_cash
    draw = np.minimum(s.reserve, short)
    s.reserve = s.reserve - draw
    p.short = short - draw
    p.performance_cash = np.minimum(p.cash - p.senior_cash, p.performance_due)
    p.short_performance = p.performance_due - p.performance_cash
    # full recourse: the council tops up everything owed; limited: it is deferred
    owed = p.short + p.short_performance
    p.from_cash = p.senior_cash + p.performance_cash
    out["cash_used"][k] = p.from_cash
    out["reserve_draw"][k] = draw
    out["topup"][k] = np.zeros(c.paths) if c.limited else owed
    out["shortfall"][k] = np.zeros(c.paths) if not c.limited else owed


def _allocate(c: _Contract, s: _Balances, p: _Period, out: dict[str, FloatArray]) -> None:
    """Step 4 (cont.): what was paid goes to fees, arrears, interest, principal in order."""
    k = p.k
    p.paid = p.senior - (p.short if c.limited else 0.0)
    pay_fees = np.minimum(p.paid, p.fees_due)
    left = p.paid - pay_fees
    p.pay_arrears = np.minimum(left, s.senior_arrears)
    left = left - p.pay_arrears
    p.pay_interest = np.minimum(left, p.interest_due)
    left = left - p.pay_interest
    p.pay_principal = np.minimum(left, p.principal_due)
    p.pay_performance = p.performance_due - (p.short_performance if c.limited else 0.0)
    out["fees_paid"][k] = pay_fees
    out["arrears_paid"][k] = p.pay_arrears
    out["interest_paid"][k] = p.pay_interest
    out["principal_paid"][k] = p.pay_principal
    out["performance_paid"][k] = p.pay_performance
    s.fee_arrears = p.fees_due - pay_fees
    s.senior_arrears = (s.senior_arrears - p.pay_arrears) + (p.interest_due - p.pay_interest)
    s.performance_arrears = p.performance_due - p.pay_performance
    s.issue_balance = s.issue_balance - p.pay_principal / s.index
    p.excess = p.cash - p.from_cash


def _refill_and_sweep(c: _Contract, s: _Balances, p: _Period, out: dict[str, FloatArray]) -> None:
    """Step 5: excess cash refills the reserve to target, then a share prepays principal."""
    k = p.k
    p.target = float(c.schedule.reserve_target[k])
    deposit = np.minimum(p.excess, np.maximum(p.target - s.reserve, 0.0))
    s.reserve = s.reserve + deposit
    excess = p.excess - deposit
    out["reserve_deposit"][k] = deposit
    if c.bond.cash_sweep > 0 and not p.in_grace and k < c.grid.n_scheduled:
        outstanding = np.maximum(s.issue_balance, 0.0) * s.index
        p.sweep = np.minimum(c.bond.cash_sweep * excess, outstanding)
        s.issue_balance = s.issue_balance - p.sweep / s.index
        out["sweep"][k] = p.sweep
    else:
        p.sweep = np.zeros(c.paths)
    principal = c.schedule.principal
    p.clear = (s.senior_arrears + s.performance_arrears <= _ZERO * principal) & (
        s.fee_arrears <= _ZERO * principal
    )
    p.repaid = s.issue_balance <= c.tolerance


def _release_and_close(
    c: _Contract, s: _Balances, p: _Period, out: dict[str, FloatArray], last: bool
) -> None:
    """Steps 6-7: the reserve above target released (not while in arrears); at legal
    maturity what is still owed written off; the period's closing balances and DSCR."""
    k = p.k
    if last:
        # what is still owed at maturity is written off, except a residue within the
        # balance tolerance (1e-9 of the principal), which is floating-point rounding of
        # a settled bond, not a loss: a repaid bond's loss is exactly 0 (methodology,
        # "Investor loss")
        tol = balance_tolerance(c.schedule.principal)
        owed = s.senior_arrears + s.performance_arrears
        out["write_off"][k] = np.where(
            p.repaid, 0.0, np.maximum(s.issue_balance, 0.0) * s.index
        ) + (np.where(owed > tol, owed, 0.0))
        out["fee_write_off"][k] = np.where(s.fee_arrears > tol, s.fee_arrears, 0.0)
        s.issue_balance = np.zeros(c.paths)
        s.senior_arrears = np.zeros(c.paths)
        s.performance_arrears = np.zeros(c.paths)
        s.fee_arrears = np.zeros(c.paths)
        release = s.reserve
    elif k >= c.grid.n_scheduled:
        release = np.where(p.repaid & p.clear, s.reserve, 0.0)
    else:
        release = np.where(p.clear, np.maximum(s.reserve - p.target, 0.0), 0.0)
    s.reserve = s.reserve - release
    out["reserve_release"][k] = release
    out["reserve_balance"][k] = s.reserve
    out["arrears_balance"][k] = s.senior_arrears + s.performance_arrears
    out["fee_arrears_balance"][k] = s.fee_arrears
    s.issue_balance = np.where(np.abs(s.issue_balance) <= c.tolerance, 0.0, s.issue_balance)
    out["closing_balance"][k] = s.issue_balance * s.index
    # DSCR where debt service is due (more than a rounding residue of the principal)
    ds = out["debt_service_due"][k]
    due_now = ds > c.tolerance
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        safe = np.where(due_now, ds, 1.0)
        out["dscr"][k] = np.where(due_now, c.cfads[k] / safe, np.nan)
    out["investor_flow"][k] = (
        p.pay_arrears
        + p.pay_interest
        + p.pay_principal
        + p.sweep
        + p.pay_performance
        - p.funded_fees
    )


#: The waterfall's steps, in order, each with what it leaves for the trace: the trace
#: keys (TRACE_KEYS, which the workbook's Bond sheet caches) read from the running
#: balances and the period's amounts after the step.
_TRACED_AFTER: tuple[tuple[str, Callable[[_Balances, _Period], dict[str, FloatArray]]], ...] = (
    (
        "accrue",
        lambda s, p: {
            "owing": p.owing.astype(np.float64),
            "index": s.index,
            "fees_now": p.fees_now + p.funded_fees,
            "real_cap": s.issue_balance,
            "post_grace": s.post_grace,
            "interest_due": p.interest_due,
        },
    ),
    (
        "amounts_due",
        lambda s, p: {
            "arrears_open": s.senior_arrears,
            "perf_arrears_open": s.performance_arrears,
            "perf_all": p.performance_all,
        },
    ),
    ("pay", lambda s, p: {}),
    (
        "allocate",
        lambda s, p: {
            "senior": p.senior,
            "cash_in": p.cash,
            "senior_cash": p.senior_cash,
            "short": p.short,
            "perf_cash": p.performance_cash,
            "short_perf": p.short_performance,
            "paid": p.paid,
            "fee_arrears_pre": s.fee_arrears,
            "arrears_pre": s.senior_arrears,
            "perf_arrears_pre": s.performance_arrears,
            "excess": p.excess,
        },
    ),
    (
        "refill_and_sweep",
        lambda s, p: {
            "real_pre": s.issue_balance,
            "clear": p.clear.astype(np.float64),
            "repaid": p.repaid.astype(np.float64),
            "reserve_pre": s.reserve,
        },
    ),
    (
        "release_and_close",
        lambda s, p: {
            "real": s.issue_balance,
            "senior_arrears": s.senior_arrears,
            "perf_arrears": s.performance_arrears,
            "funded_fees": p.funded_fees,
        },
    ),
)


class _Tracer:
    """Records the traced values of each period, period-major until the end of the run."""

    def __init__(self, trace: dict[str, FloatArray], n: int, paths: int) -> None:
        self.trace, self.n, self.paths = trace, n, paths

    def record(self, values: dict[str, FloatArray], k: int) -> None:
        for key, value in values.items():
            if key not in self.trace:
                self.trace[key] = np.zeros((self.n, self.paths))
            self.trace[key][k] = value

    def finish(self, principal: float, reserve_initial: float) -> None:
        """The issue's row, then (paths, payments) arrays."""
        ones, paths = np.ones(self.paths), self.paths
        self.record(
            {
                "index": ones,
                "real_cap": np.full(paths, principal),
                "post_grace": np.full(paths, principal),
                "real_pre": np.full(paths, principal),
                "real": np.full(paths, principal),
                "reserve_pre": np.full(paths, reserve_initial),
            },
            0,
        )
        for key, value in self.trace.items():
            self.trace[key] = value.T


def _contract(
    schedule: BondSchedule,
    timeline: Timeline,
    flows: ProgrammeFlows,
    inflation: FloatArray,
    rates: FloatArray | None,
) -> _Contract:
    """The run's fixed inputs, period-major (several times faster than columns)."""
    bond, grid = schedule.terms, schedule.grid
    g, paths, n = grid.g, flows.net_savings.shape[0], grid.n_legal + 1
    cfads = np.ascontiguousarray((bond.pledged_share * grid.aggregate(flows.net_savings)).T)
    gross = grid.aggregate(flows.gross_savings).T
    price_at_pay = flows.price_index[:, grid.pay_t].T
    fees_due = np.ascontiguousarray(bond.annual_fees / g * price_at_pay)
    fees_due[0] = 0.0
    perf = bond.performance
    performance_due = np.zeros((n, paths))
    if perf is not None:
        threshold = perf.threshold / g * price_at_pay
        performance_due = np.ascontiguousarray(perf.share * np.maximum(gross - threshold, 0.0))
        performance_due[0] = 0.0
        performance_due[grid.n_scheduled + 1 :] = 0.0
    cap = (
        perf.cap_total_return * schedule.principal / g
        if perf is not None and perf.cap_total_return is not None
        else np.inf
    )
    return _Contract(
        schedule=schedule,
        bond=bond,
        grid=grid,
        paths=paths,
        limited=bond.recourse == "limited",
        cfads=cfads,
        cash_in=np.maximum(cfads, 0.0),
        fees_due=fees_due,
        uplift=np.ascontiguousarray(uplift_factors(bond, grid, timeline, inflation).T),
        rates=None if rates is None else np.ascontiguousarray(rates.T),
        performance_due=performance_due,
        performance_cap=cap,
    )


def _opening_balances(schedule: BondSchedule, paths: int) -> _Balances:
    """The balances at issue: the principal owed, nothing in arrears, the initial DSRA."""
    balance = np.full(paths, schedule.principal)
    return _Balances(
        issue_balance=balance,
        index=np.ones(paths),
        senior_arrears=np.zeros(paths),
        performance_arrears=np.zeros(paths),
        fee_arrears=np.zeros(paths),
        reserve=np.full(paths, schedule.reserve_initial),
        post_grace=balance.copy(),
    )


def run_waterfall(
    schedule: BondSchedule,
    timeline: Timeline,
    flows: ProgrammeFlows,
    inflation: FloatArray,
    rates: FloatArray | None = None,
    trace: dict[str, FloatArray] | None = None,
) -> BondFlows:
    """Run the debt-service waterfall on every path of ``flows``.

    ``rates`` (paths, NL+1) overrides the schedule's annual coupon rates per
    path (a floating coupon whose reference rate is simulated). ``trace``, if
    given, receives the intermediate quantities of every step, (paths, NL+1)
    each (see :data:`TRACE_KEYS`): the workbook's Bond sheet shows them as
    live rows, cached at these values.

    Notes
    -----
    Each payment period k, for every path at once, runs the named steps in order
    (``_accrue``, ``_amounts_due``, ``_pay``, ``_allocate``, ``_refill_and_sweep``,
    ``_release_and_close``) over the running balances (``_Balances``):

    1. the index ratio rises by the capped CPI uplift (index-linked only);
    2. interest accrues at rate/g on the opening balance (capitalised during a
       capitalised grace period); arrears accrue interest when so agreed;
    3. senior due = fees + fee arrears + arrears + interest + principal due, where
       principal due brings the balance down to the scheduled fraction; junior due
       = the performance payment plus any deferred ones;
    4. pledged cash pays in that order of priority; the DSRA covers what it
       cannot; under full recourse the council tops up the rest, under limited
       recourse it is deferred as arrears;
    5. excess cash refills the DSRA to target, then a share is swept to prepay;
    6. the DSRA above target is released to the council (not while in arrears);
    7. at legal maturity what is still owed is written off as investor loss.
    """
    c = _contract(schedule, timeline, flows, inflation, rates)
    grid, paths, n = c.grid, c.paths, c.grid.n_legal + 1
    out = {f.name: np.zeros((n, paths)) for f in fields(BondFlows) if f.name != "council_flow"}
    out["cfads"] = c.cfads
    s = _opening_balances(schedule, paths)
    out["closing_balance"][0] = schedule.principal
    out["reserve_balance"][0] = s.reserve
    out["investor_flow"][0] = -schedule.proceeds
    tracer = None if trace is None else _Tracer(trace, n, paths)
    for k in range(1, n):
        p = _Period(k)
        for step, (_, traced) in zip(_STEPS, _TRACED_AFTER[:-1], strict=True):
            step(c, s, p, out)
            if tracer is not None:
                tracer.record(traced(s, p), k)
        _release_and_close(c, s, p, out, last=k == n - 1)
        if tracer is not None:
            tracer.record(_TRACED_AFTER[-1][1](s, p), k)
    out["dscr"][0] = np.nan
    if tracer is not None:
        tracer.finish(schedule.principal, schedule.reserve_initial)
    to_council = BondFlows.net_paid_in(
        out["cash_used"],
        out["reserve_deposit"],
        out["sweep"],
        out["topup"],
        out["reserve_release"],
    )
    # (paths, payments) views of the period-major arrays: no copy, and reductions
    # over payments still run along contiguous memory
    out = {key: value.T for key, value in out.items()}
    to_council = to_council.T
    council = flows.net_cash_flow - grid.to_timeline(to_council, timeline.n_periods)
    council[:, grid.issue_t] += (
        schedule.proceeds - schedule.arrangement_fee - (schedule.reserve_initial)
    )
    return BondFlows(council_flow=council, **out)


#: The steps before the last (which also needs to know whether k is the legal maturity).
_STEPS: tuple[Callable[[_Contract, _Balances, _Period, dict[str, FloatArray]], None], ...] = (
    _accrue,
    _amounts_due,
    _pay,
    _allocate,
    _refill_and_sweep,
)
