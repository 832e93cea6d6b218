"""The bond: sizing, the debt-service waterfall and the council's cash after debt service.

Vectorised over paths: every state variable is an array of one value per
path, and the loop runs over payment periods only. The base case is one path.
docs/methodology.md, "Bond", states each step with its source.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from bondmodel.bond.schedule import (
    BondGrid,
    annual_coupon_rates,
    build_grid,
    remaining_fraction,
    uplift_factors,
)
from bondmodel.errors import ModelError
from bondmodel.programme import ProgrammeFlows
from bondmodel.scenario.bond import BondTerms
from bondmodel.scenario.schema import Scenario
from bondmodel.timeline import Timeline
from bondmodel.types import FloatArray

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
        cash_used: FloatArray, reserve_deposit: FloatArray, sweep: FloatArray,
        topup: FloatArray, reserve_release: FloatArray,
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
) -> BondSchedule:
    """Fix the contract: grid, rates, principal (given or sized to uses), profile, reserve.

    ``trace``, if given, receives the scheduled path of the final principal step
    by step (the workbook's contract rows).

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
    net_price = bond.issue_price - bond.arrangement_fee

    def reserve0(
        principal: float, record: dict[str, FloatArray] | None = None, fee_scale: float = 1.0
    ) -> tuple[float, FloatArray, FloatArray, FloatArray]:
        remaining, interest, repaid = _scheduled_path(
            bond, grid, principal, rates, uplift, cfads, fees * fee_scale, record
        )
        target = _reserve_targets(bond, grid, interest, repaid, record)
        return (float(target[0]) if at_issue else 0.0), remaining, interest + repaid, target

    if bond.principal == "sized":
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
    else:
        principal = float(bond.principal)
    r0, remaining, ds, target = reserve0(principal, trace)
    if trace is not None:
        trace["uplift"] = uplift
        trace["scheduled_fees"] = fees
        if bond.repayment.type != "sculpted":
            # the scheduled path is affine in P: P x (its path for a unit principal without
            # fees) + (its path for fees alone); the workbook sizes P in closed form from them
            for suffix, unit_principal, fee_scale in (("_unit", 1.0, 0.0), ("_fees", 0.0, 1.0)):
                part: dict[str, FloatArray] = {}
                reserve0(unit_principal, part, fee_scale)
                trace.update({f"{key}{suffix}": value for key, value in part.items()})
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
    )


# ---------------------------------------------------------------------------
# The waterfall
# ---------------------------------------------------------------------------

#: The intermediate quantities :func:`run_waterfall` can trace, besides :class:`BondFlows`.
TRACE_KEYS = (
    "owing", "index", "fees_now", "real_cap", "post_grace", "interest_due", "arrears_open",
    "perf_arrears_open", "perf_all", "senior", "cash_in", "senior_cash", "short", "perf_cash",
    "short_perf", "paid", "fee_arrears_pre", "arrears_pre", "perf_arrears_pre", "excess",
    "real_pre", "clear", "repaid", "reserve_pre", "real", "senior_arrears", "perf_arrears",
    "funded_fees",
)


def _record(
    trace: dict[str, FloatArray], steps: dict[str, FloatArray], k: int, n: int, paths: int
) -> None:
    """Store this period's traced values (period-major until the end of the run)."""
    for key, value in steps.items():
        if key not in trace:
            trace[key] = np.zeros((n, paths))
        trace[key][k] = value


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
    Each payment period k, for every path at once:

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
    bond = schedule.terms
    grid = schedule.grid
    g = grid.g
    paths = flows.net_savings.shape[0]
    n = grid.n_legal + 1
    limited = bond.recourse == "limited"

    # Period-major (payments x paths) inside the loop: each period's values for
    # all paths are contiguous, which is several times faster than columns.
    cfads_all = np.ascontiguousarray((bond.pledged_share * grid.aggregate(flows.net_savings)).T)
    cash_in = np.maximum(cfads_all, 0.0)
    gross = grid.aggregate(flows.gross_savings).T
    price_at_pay = flows.price_index[:, grid.pay_t].T
    fees_due_all = np.ascontiguousarray(bond.annual_fees / g * price_at_pay)
    fees_due_all[0] = 0.0
    uplift = np.ascontiguousarray(uplift_factors(bond, grid, timeline, inflation).T)
    rates_t = None if rates is None else np.ascontiguousarray(rates.T)
    perf = bond.performance
    perf_due_all = np.zeros((n, paths))
    if perf is not None:
        threshold = perf.threshold / g * price_at_pay
        perf_due_all = np.ascontiguousarray(perf.share * np.maximum(gross - threshold, 0.0))
        perf_due_all[0] = 0.0
        perf_due_all[grid.n_scheduled + 1 :] = 0.0

    out = {f.name: np.zeros((n, paths)) for f in fields(BondFlows) if f.name != "council_flow"}
    out["cfads"] = cfads_all
    real = np.full(paths, schedule.principal)  # balance in issue-date money (real for IL)
    index = np.ones(paths)
    arrears = np.zeros(paths)  # senior: deferred interest (limited recourse)
    perf_arrears = np.zeros(paths)  # junior: deferred performance payments
    fee_arrears = np.zeros(paths)
    reserve = np.full(paths, schedule.reserve_initial)
    post_grace = real.copy()
    out["closing_balance"][0] = schedule.principal
    out["reserve_balance"][0] = reserve
    out["investor_flow"][0] = -schedule.proceeds
    cap_per_period = (
        perf.cap_total_return * schedule.principal / g
        if perf is not None and perf.cap_total_return is not None
        else np.inf
    )

    for k in range(1, n):
        rate = (schedule.rates[k] if rates_t is None else rates_t[k]) / g
        steps: dict[str, FloatArray] = {}
        # agency and trustee fees run while anything is owed
        owing = (real > 0.0) | (arrears > 0.0) | (perf_arrears > 0.0) | (fee_arrears > 0.0)
        opening = real * index
        out["opening_balance"][k] = opening
        new_index = index * uplift[k]
        out["indexation"][k] = real * (new_index - index)
        index = new_index
        interest = real * index * rate
        out["interest"][k] = interest
        in_grace = k <= grid.n_grace
        fees_now = np.where(owing, fees_due_all[k], 0.0)
        funded_fees = np.zeros(paths)
        if in_grace and bond.grace_interest == "capitalised":
            # Interest and fees roll up into the balance during a capitalised grace
            # period: investors pay the fees to the agents as a further drawing.
            real = real + (interest + fees_now) / index
            out["capitalised_interest"][k] = interest + fees_now
            interest_due = np.zeros(paths)
            funded_fees = fees_now
            fees_now = np.zeros(paths)
        else:
            interest_due = interest
        if k == grid.n_grace:
            post_grace = real.copy()
        if trace is not None:
            steps.update(
                owing=owing.astype(np.float64), index=index, fees_now=fees_now + funded_fees,
                real_cap=real, post_grace=post_grace, interest_due=interest_due,
            )
        if bond.arrears_interest:
            accrued = arrears * rate
            accrued_perf = perf_arrears * rate
            arrears = arrears + accrued
            perf_arrears = perf_arrears + accrued_perf
            out["arrears_interest"][k] = accrued + accrued_perf
        if in_grace:
            principal_due = np.zeros(paths)
        elif k >= grid.n_scheduled:
            principal_due = real * index
        else:
            principal_due = np.maximum(real - schedule.remaining[k] * post_grace, 0.0) * index
        out["scheduled_principal"][k] = principal_due
        out["debt_service_due"][k] = interest_due + principal_due
        fees_due = fees_now + fee_arrears
        out["fees_due"][k] = fees_due
        # the cap applies to the coupon accrued, whether paid or capitalised
        if trace is not None:
            steps.update(arrears_open=arrears, perf_arrears_open=perf_arrears,
                         perf_all=perf_due_all[k])
        perf_due = np.minimum(perf_due_all[k], np.maximum(cap_per_period - interest, 0.0))
        perf_due = np.where(real > 0.0, perf_due, 0.0) + perf_arrears
        out["performance_due"][k] = perf_due

        # Senior: fees, arrears, interest, principal; pledged cash first, then the
        # reserve. Junior: the performance payment (with any deferred ones), from
        # pledged cash only.
        senior = fees_due + arrears + interest_due + principal_due
        cash = cash_in[k]
        senior_cash = np.minimum(cash, senior)
        short = senior - senior_cash
        draw = np.minimum(reserve, short)
        reserve = reserve - draw
        short = short - draw
        perf_cash = np.minimum(cash - senior_cash, perf_due)
        short_perf = perf_due - perf_cash
        # full recourse: the council tops up everything owed; limited: it is deferred
        topup = np.zeros(paths) if limited else short + short_perf
        unpaid = np.zeros(paths) if not limited else short + short_perf
        from_cash = senior_cash + perf_cash
        out["cash_used"][k] = from_cash
        out["reserve_draw"][k] = draw
        out["topup"][k] = topup
        out["shortfall"][k] = unpaid

        # allocate what was paid to the senior items, in order of priority
        paid = senior - (short if limited else 0.0)
        pay_fees = np.minimum(paid, fees_due)
        left = paid - pay_fees
        pay_arrears = np.minimum(left, arrears)
        left = left - pay_arrears
        pay_interest = np.minimum(left, interest_due)
        left = left - pay_interest
        pay_principal = np.minimum(left, principal_due)
        pay_perf = perf_due - (short_perf if limited else 0.0)
        out["fees_paid"][k] = pay_fees
        out["arrears_paid"][k] = pay_arrears
        out["interest_paid"][k] = pay_interest
        out["principal_paid"][k] = pay_principal
        out["performance_paid"][k] = pay_perf
        fee_arrears = fees_due - pay_fees
        arrears = (arrears - pay_arrears) + (interest_due - pay_interest)
        perf_arrears = perf_due - pay_perf
        real = real - pay_principal / index

        # excess cash: refill the reserve, then sweep
        excess = cash - from_cash
        if trace is not None:
            steps.update(senior=senior, cash_in=cash, senior_cash=senior_cash, short=short,
                         perf_cash=perf_cash, short_perf=short_perf, paid=paid,
                         fee_arrears_pre=fee_arrears, arrears_pre=arrears,
                         perf_arrears_pre=perf_arrears, excess=excess)
        target = schedule.reserve_target[k]
        deposit = np.minimum(excess, np.maximum(target - reserve, 0.0))
        reserve = reserve + deposit
        excess = excess - deposit
        out["reserve_deposit"][k] = deposit
        if bond.cash_sweep > 0 and not in_grace and k < grid.n_scheduled:
            sweep = np.minimum(bond.cash_sweep * excess, np.maximum(real, 0.0) * index)
            real = real - sweep / index
            out["sweep"][k] = sweep
        else:
            sweep = np.zeros(paths)

        clear = (arrears + perf_arrears <= _ZERO * schedule.principal) & (
            fee_arrears <= _ZERO * schedule.principal
        )
        repaid = real <= _ZERO * max(schedule.principal, 1.0)
        if trace is not None:
            steps.update(real_pre=real, clear=clear.astype(np.float64),
                         repaid=repaid.astype(np.float64), reserve_pre=reserve)
        if k == n - 1:
            # what is still owed at maturity is written off, except a residue within the
            # balance tolerance (1e-9 of the principal), which is floating-point rounding of
            # a settled bond, not a loss: a repaid bond's loss is exactly 0 (methodology,
            # "Investor loss")
            tol = balance_tolerance(schedule.principal)
            owed = arrears + perf_arrears
            out["write_off"][k] = np.where(repaid, 0.0, np.maximum(real, 0.0) * index) + (
                np.where(owed > tol, owed, 0.0)
            )
            out["fee_write_off"][k] = np.where(fee_arrears > tol, fee_arrears, 0.0)
            real = np.zeros(paths)
            arrears = np.zeros(paths)
            perf_arrears = np.zeros(paths)
            fee_arrears = np.zeros(paths)
            release = reserve
        elif k >= grid.n_scheduled:
            release = np.where(repaid & clear, reserve, 0.0)
        else:
            release = np.where(clear, np.maximum(reserve - target, 0.0), 0.0)
        reserve = reserve - release
        out["reserve_release"][k] = release
        out["reserve_balance"][k] = reserve
        out["arrears_balance"][k] = arrears + perf_arrears
        out["fee_arrears_balance"][k] = fee_arrears
        real = np.where(np.abs(real) <= _ZERO * max(schedule.principal, 1.0), 0.0, real)
        out["closing_balance"][k] = real * index
        # DSCR where debt service is due (more than a rounding residue of the principal)
        ds = out["debt_service_due"][k]
        due_now = ds > _ZERO * max(schedule.principal, 1.0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            safe = np.where(due_now, ds, 1.0)
            out["dscr"][k] = np.where(due_now, cfads_all[k] / safe, np.nan)
        out["investor_flow"][k] = (
            pay_arrears + pay_interest + pay_principal + sweep + pay_perf - funded_fees
        )
        if trace is not None:
            steps.update(real=real, senior_arrears=arrears, perf_arrears=perf_arrears,
                         funded_fees=funded_fees)
            _record(trace, steps, k, n, paths)

    out["dscr"][0] = np.nan
    if trace is not None:
        _record(trace, {"index": np.ones(paths), "real_cap": np.full(paths, schedule.principal),
                        "post_grace": np.full(paths, schedule.principal),
                        "real_pre": np.full(paths, schedule.principal),
                        "real": np.full(paths, schedule.principal),
                        "reserve_pre": np.full(paths, schedule.reserve_initial)}, 0, n, paths)
        for key, value in trace.items():
            trace[key] = value.T
    to_council = BondFlows.net_paid_in(
        out["cash_used"], out["reserve_deposit"], out["sweep"], out["topup"],
        out["reserve_release"],
    )
    # (paths, payments) views of the period-major arrays: no copy, and reductions
    # over payments still run along contiguous memory
    out = {key: value.T for key, value in out.items()}
    to_council = to_council.T
    council = flows.net_cash_flow - grid.to_timeline(to_council, timeline.n_periods)
    council[:, grid.issue_t] += schedule.proceeds - schedule.arrangement_fee - (
        schedule.reserve_initial
    )
    return BondFlows(council_flow=council, **out)
