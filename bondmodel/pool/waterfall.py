"""The pool's waterfall: guarantee, liquidity reserve and tranches, period by period.

Vectorised over paths; the loop runs over the pool's payment periods. Equations in
docs/methodology.md, "Pooled bonds".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bondmodel.pool.schema import Guarantee
from bondmodel.types import FloatArray


@dataclass(frozen=True)
class Structure:
    """The pool's contract, fixed by the portfolio.

    Attributes
    ----------
    names : tranche names, most senior first.
    sizes : tranche principals, pounds.
    coupons : tranche annual fixed coupon rates.
    remaining : (NL+1,) scheduled outstanding principal as a fraction (every tranche
        amortises with it, pro rata).
    g : payments a year.
    reserve : the liquidity reserve's size, pounds (funded at close).
    guarantee : the guarantee's terms.
    loans : (M,) the members' loans; ``shares`` (M,) their guarantee shares.
    """

    names: tuple[str, ...]
    sizes: FloatArray
    coupons: FloatArray
    remaining: FloatArray
    g: int
    reserve: float
    guarantee: Guarantee
    loans: FloatArray
    shares: FloatArray


@dataclass(frozen=True)
class PoolFlows:
    """One block through the pool's waterfall.

    Attributes
    ----------
    investor_flow : (K, n, NL+1) each tranche's investors' flows (-size at close).
    principal_paid : (K, n, NL+1) principal repaid to each tranche.
    interest_accrued : (K, n) interest each tranche accrued over its life.
    loss : (K, n) what each tranche is owed at legal maturity and never receives.
    guarantee_paid : (n, NL+1) the guarantee's payments into the pool.
    contributions : (n, M) what each member pays under a joint-and-several guarantee.
    reserve_draw : (n, NL+1) draws on the liquidity reserve.
    residual : (n, NL+1) cash left after the tranches and the reserve (released to the
        members), including the reserve's release at legal maturity.
    """

    investor_flow: FloatArray
    principal_paid: FloatArray
    interest_accrued: FloatArray
    loss: FloatArray
    guarantee_paid: FloatArray
    contributions: FloatArray
    reserve_draw: FloatArray
    residual: FloatArray

    @property
    def investor_loss(self) -> FloatArray:
        """(n,) the pool's loss to its investors: the tranches' losses added."""
        total: FloatArray = self.loss.sum(axis=0)
        return total


#: The pool-wide steps :func:`run_pool_waterfall` records in a trace, (n, NL+1) each.
TRACE_POOL_STEPS: tuple[str, ...] = (
    "cash",
    "shortfall",
    "reserve_opening",
    "available",
    "after_interest",
    "after_principal",
    "refill",
    "reserve_closing",
    "after_refill",
)
#: The per-tranche steps, (K, n, NL+1) each.
TRACE_TRANCHE_STEPS: tuple[str, ...] = (
    "opening",
    "interest_due",
    "principal_due",
    "interest_paid",
    "arrears",
    "scheduled",
    "sweep",
    "closing",
)


def guarantee_capacity(structure: Structure, member_loss: FloatArray) -> FloatArray:
    """(n,) the most the guarantee pays on each path, and (via :func:`contribution_shares`)
    who pays it.

    first_loss: the guarantor's ``amount``. joint_and_several: the members with no loss on
    the path contribute, member j a share s_j / sum of the contributors' s; the calls stop
    when the first contributor reaches ``cap`` x its loan, so the capacity is
    min_j cap L_j / share_j over the contributors (0 when every member has a loss).
    """
    n = member_loss.shape[0]
    g = structure.guarantee
    if g.type == "first_loss":
        assert g.amount is not None
        return np.full(n, float(g.amount))
    if g.type == "none":
        return np.zeros(n)
    assert g.cap is not None
    shares = contribution_shares(structure, member_loss)
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(shares > 0.0, g.cap * structure.loans[None, :] / shares, np.inf)
    capacity = room.min(axis=1)
    return np.where(np.isfinite(capacity), capacity, 0.0)


def contribution_shares(structure: Structure, member_loss: FloatArray) -> FloatArray:
    """(n, M) each member's share of a joint-and-several call: its guarantee share among
    the members with no loss on the path (0 for a member with a loss)."""
    payers = np.where(member_loss > 0.0, 0.0, structure.shares[None, :])
    total = payers.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        result: FloatArray = np.where(total > 0.0, payers / total, 0.0)
    return result


def run_pool_waterfall(
    structure: Structure,
    paid: FloatArray,
    write_off: FloatArray,
    member_loss: FloatArray,
    trace: dict[str, FloatArray] | None = None,
) -> PoolFlows:
    """The pool's waterfall on one block.

    Parameters
    ----------
    paid : (n, NL+1) the members' payments into the pool, added.
    write_off : (n, NL+1) the members' write-offs, added.
    member_loss : (n, M) each member's total write-off.
    trace : if given, filled with every step of every period (:data:`TRACE_STEPS`: pool
        steps (n, NL+1), tranche steps (K, n, NL+1)), for the pool workbook's Waterfall
        sheet, whose formulas repeat these steps.

    Notes
    -----
    Each period t = 1..NL, with tranche balances B_k and unpaid interest A_k:

    1. the guarantee pays :math:`G_t = \\min(W_t, C - \\sum_{s<t} G_s)` of the period's
       write-offs W_t, up to the capacity C (:func:`guarantee_capacity`);
    2. due: interest :math:`I_k = B_k c_k / g + A_k` and principal
       :math:`P_k = \\max(B_k - S_k r_t, 0)` (S_k the tranche's size, r_t the scheduled
       remaining fraction, so arrears of principal stay due);
    3. cash = members' payments + G_t; if short of :math:`\\sum (I_k + P_k)`, the reserve
       pays the difference while it lasts;
    4. interest is paid in order of priority, then principal in order of priority; what is
       unpaid stays due;
    5. what is left refills the reserve to its size, then prepays the tranches' principal
       in order of priority (a full sweep: the members' early repayments and the excess
       spread never leave the pool while a tranche is owed); only the rest is released.

    At legal maturity the reserve is released and each tranche's loss is
    :math:`B_k + A_k` still unpaid.
    """
    n, width = paid.shape
    k_count = len(structure.sizes)
    capacity = guarantee_capacity(structure, member_loss)
    balance = np.repeat(structure.sizes[:, None], n, axis=1)  # (K, n)
    arrears = np.zeros((k_count, n))
    accrued = np.zeros((k_count, n))
    flow = np.zeros((k_count, n, width))
    principal = np.zeros((k_count, n, width))
    flow[:, :, 0] = -structure.sizes[:, None]
    guarantee = np.zeros((n, width))
    draw = np.zeros((n, width))
    residual = np.zeros((n, width))
    reserve = np.full(n, structure.reserve)
    called = np.zeros(n)
    steps: dict[str, FloatArray] = {}
    if trace is not None:
        for key in TRACE_POOL_STEPS:
            steps[key] = np.zeros((n, width))
        for key in TRACE_TRANCHE_STEPS:
            steps[key] = np.zeros((k_count, n, width))
    for t in range(1, width):
        if trace is not None:
            steps["opening"][:, :, t] = balance
            steps["reserve_opening"][:, t] = reserve
        g_t = np.minimum(write_off[:, t], capacity - called)
        called += g_t
        guarantee[:, t] = g_t
        new_interest = balance * structure.coupons[:, None] / structure.g
        accrued += new_interest
        interest_due = new_interest + arrears
        principal_due = np.maximum(balance - structure.sizes[:, None] * structure.remaining[t], 0.0)
        cash = paid[:, t] + g_t
        short = np.maximum(interest_due.sum(axis=0) + principal_due.sum(axis=0) - cash, 0.0)
        if trace is not None:
            steps["interest_due"][:, :, t] = interest_due
            steps["principal_due"][:, :, t] = principal_due
            steps["cash"][:, t] = cash
            steps["shortfall"][:, t] = short
        d = np.minimum(reserve, short)
        reserve -= d
        draw[:, t] = d
        cash = cash + d
        for k in range(k_count):
            pay = np.clip(interest_due[k], 0.0, np.maximum(cash, 0.0))
            arrears[k] = interest_due[k] - pay
            cash = cash - pay
            flow[k, :, t] += pay
            if trace is not None:
                steps["interest_paid"][k, :, t] = pay
                steps["arrears"][k, :, t] = arrears[k]
        if trace is not None:
            steps["after_interest"][:, t] = cash
        for k in range(k_count):
            pay = np.clip(principal_due[k], 0.0, np.maximum(cash, 0.0))
            balance[k] -= pay
            cash = cash - pay
            flow[k, :, t] += pay
            principal[k, :, t] = pay
        if trace is not None:
            steps["scheduled"][:, :, t] = principal[:, :, t]
            steps["after_principal"][:, t] = cash
        refill = np.clip(structure.reserve - reserve, 0.0, np.maximum(cash, 0.0))
        reserve += refill
        cash = cash - refill
        if trace is not None:
            steps["refill"][:, t] = refill
            steps["reserve_closing"][:, t] = reserve
            steps["after_refill"][:, t] = cash
        for k in range(k_count):  # the sweep: what is left prepays, in order of priority
            pay = np.clip(balance[k], 0.0, np.maximum(cash, 0.0))
            balance[k] -= pay
            cash = cash - pay
            flow[k, :, t] += pay
            principal[k, :, t] += pay
            if trace is not None:
                steps["sweep"][k, :, t] = pay
        residual[:, t] = cash
        if trace is not None:
            steps["closing"][:, :, t] = balance
    residual[:, -1] += reserve
    if trace is not None:
        steps["available"] = steps["cash"] + draw
        steps["guarantee"] = guarantee
        steps["draw"] = draw
        steps["released"] = residual
        steps["to_investors"] = flow
        trace.update(steps)
    shares = contribution_shares(structure, member_loss)
    if structure.guarantee.type == "joint_and_several":
        contributions = shares * called[:, None]
    else:
        contributions = np.zeros_like(shares)
    return PoolFlows(
        investor_flow=flow,
        principal_paid=principal,
        interest_accrued=accrued,
        loss=balance + arrears,
        guarantee_paid=guarantee,
        contributions=contributions,
        reserve_draw=draw,
        residual=residual,
    )
