"""Investor and council metrics of the bond, vectorised over paths.

docs/methodology.md, "Bond metrics", defines each one with its source.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from bondmodel.bond.pwlb import PWLBLoan
from bondmodel.bond.schedule import BondGrid
from bondmodel.bond.waterfall import BondFlows, BondSchedule, balance_tolerance
from bondmodel.irr import OK, irr
from bondmodel.metrics import present_value
from bondmodel.programme import ProgrammeFlows
from bondmodel.scenario.bond import IndexLinkedCoupon
from bondmodel.scenario.schema import Economics
from bondmodel.timeline import Timeline, inflation_by_period
from bondmodel.types import FloatArray

#: Metric keys in display order (labels live in bondmodel.labels.BOND_METRICS).
BOND_METRIC_KEYS: Final = (
    "principal",
    "gearing",
    "funding_gap",
    "investor_irr",
    "investor_irr_flag",
    "money_multiple",
    "wal_years",
    "macaulay_duration",
    "modified_duration",
    "total_interest",
    "total_performance",
    "investor_loss",
    "loss_given_default",
    "council_npv",
    "min_dscr",
    "avg_dscr",
    "llcr",
    "plcr",
    "shortfall_periods",
    "total_topup",
    "pwlb_npv",
    "council_npv_vs_pwlb",
)


def debt_discount_factors(
    schedule: BondSchedule, economics: Economics, timeline: Timeline
) -> FloatArray:
    r"""The LLCR's and PLCR's discount factor from the issue to the end of each timeline
    period t = 0..T, shape (T+1,): 1 up to the issue, then compounded along the debt's rates.

    Notes
    -----
    Timeline period t > t_I falls in payment period :math:`k(t) = \min(\lceil (t - t_I) /
    s \rceil, N_L)` (s timeline periods a payment); the annual rate in force is that
    period's coupon rate :math:`c_{k(t)}`, nominal, or for an index-linked bond
    :math:`(1 + c_{k(t)})(1 + \pi_t) - 1` with :math:`\pi_t` the scenario's inflation in
    force in period t (a path's rate for its programme year). Then

    .. math:: DF_t = \prod_{u = t_I + 1}^{t} (1 + \rho_u)^{-1/f}

    which is :math:`(1 + \rho)^{-(t - t_I)/f}` for one flat rate.
    """
    grid = schedule.grid
    t = np.arange(timeline.n_periods + 1)
    k = np.clip(-(-(t - grid.issue_t) // grid.step), 1, grid.n_legal)
    log_step = np.log1p(schedule.rates[k]) / timeline.f
    if isinstance(schedule.terms.coupon, IndexLinkedCoupon):
        inflation = inflation_by_period(economics, timeline.f, timeline.n_periods)
        log_step = log_step + np.log1p(inflation) / timeline.f
    log_step[t <= grid.issue_t] = 0.0
    result: FloatArray = np.exp(-np.cumsum(log_step))
    return result


def deferred_since_shortfall(shortfall: FloatArray, principal: float) -> npt.NDArray[np.bool_]:
    """True from the first payment with a shortfall deferred (above 1e-9 of the principal) on.

    The payments whose investor flows count as recovered in the loss given default.
    """
    deferred = shortfall > balance_tolerance(principal)
    result: npt.NDArray[np.bool_] = np.logical_or.accumulate(deferred, axis=-1)
    return result


def pwlb_council_flow(
    pwlb: PWLBLoan, grid: BondGrid, flows: ProgrammeFlows, timeline: Timeline
) -> FloatArray:
    """The council's cash flow on the timeline had it borrowed from the PWLB instead, (paths, T+1).

    The loan is drawn at issue and serviced on the bond's payment dates.
    """
    paths = flows.net_cash_flow.shape[0]
    council = flows.net_cash_flow - grid.to_timeline(
        np.broadcast_to(pwlb.debt_service, (paths, grid.n_legal + 1)), timeline.n_periods
    )
    council[:, grid.issue_t] += pwlb.amount
    return council


def bond_metrics(
    schedule: BondSchedule,
    bond: BondFlows,
    flows: ProgrammeFlows,
    timeline: Timeline,
    debt_df: FloatArray,
    pwlb: PWLBLoan | None,
) -> dict[str, FloatArray]:
    """Every bond metric, one value per path (NaN = undefined); ``debt_df`` is the cover
    ratios' discount factor per timeline period (:func:`debt_discount_factors`)."""
    council_npv = present_value(flows.on_basis(bond.council_flow), flows.discount_factors)
    metrics: dict[str, FloatArray] = {
        "principal": np.full(bond.n_paths, schedule.principal),
        "gearing": np.full(bond.n_paths, schedule.gearing),
        "funding_gap": np.full(bond.n_paths, schedule.funding_gap),
        **_investor_metrics(schedule, bond),
        "council_npv": council_npv,
        **_cover_ratios(schedule, bond, flows, debt_df),
        **_stress_metrics(schedule, bond),
        "pwlb_npv": np.full(bond.n_paths, np.nan),
        "council_npv_vs_pwlb": np.full(bond.n_paths, np.nan),
    }
    if pwlb is not None:
        pwlb_council = pwlb_council_flow(pwlb, schedule.grid, flows, timeline)
        pwlb_npv = present_value(flows.on_basis(pwlb_council), flows.discount_factors)
        metrics["pwlb_npv"] = pwlb_npv
        metrics["council_npv_vs_pwlb"] = council_npv - pwlb_npv
    missing = set(BOND_METRIC_KEYS) ^ set(metrics)
    if missing:
        raise RuntimeError(f"bond metrics and BOND_METRIC_KEYS disagree: {missing}")
    return {key: metrics[key] for key in BOND_METRIC_KEYS}


def _investor_metrics(schedule: BondSchedule, bond: BondFlows) -> dict[str, FloatArray]:
    """The investors' IRR (and its flag), money multiple, WAL, durations, interest and
    performance received, loss and loss given default."""
    grid = schedule.grid
    years = grid.years
    result = irr(bond.investor_flow, periods_per_year=grid.g)
    received = bond.investor_flow[:, 1:].sum(axis=1)
    repaid = bond.principal_paid + bond.sweep
    with np.errstate(divide="ignore", invalid="ignore"):
        wal = np.where(
            repaid.sum(axis=1) > 0, (repaid * years).sum(axis=1) / repaid.sum(axis=1), np.nan
        )
        v = np.power(1.0 + result.periodic[:, None], -np.arange(grid.n_legal + 1)[None, :])
        pv = bond.investor_flow[:, 1:] * v[:, 1:]
        macaulay = (pv * years[1:]).sum(axis=1) / pv.sum(axis=1)
        modified = macaulay / (1.0 + result.periodic)
    loss = bond.write_off.sum(axis=1)
    # Loss given default: the share of what investors were owed from the first
    # deferral on that they never received (1 - the undiscounted recovery rate).
    deferred = deferred_since_shortfall(bond.shortfall, schedule.principal)
    recovered = np.where(deferred, bond.investor_flow, 0.0)[:, 1:].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lgd = np.where(loss > 0.0, loss / (loss + np.maximum(recovered, 0.0)), np.nan)
        # a bond sized to nothing (or to a vanishing principal) has no money multiple
        money_multiple = received / schedule.proceeds
    return {
        "investor_irr": result.annual,
        "investor_irr_flag": result.flag.astype(np.float64),
        "money_multiple": money_multiple,
        "wal_years": wal,
        "macaulay_duration": np.where(result.flag == OK, macaulay, np.nan),
        "modified_duration": np.where(result.flag == OK, modified, np.nan),
        "total_interest": bond.interest.sum(axis=1),
        "total_performance": bond.performance_paid.sum(axis=1),
        "investor_loss": loss,
        "loss_given_default": lgd,
    }


def _cover_ratios(
    schedule: BondSchedule, bond: BondFlows, flows: ProgrammeFlows, debt_df: FloatArray
) -> dict[str, FloatArray]:
    """Minimum and average DSCR over the payments with debt service due, LLCR and PLCR."""
    grid = schedule.grid
    dscr = bond.dscr[:, 1:]
    has_ds = np.isfinite(dscr)
    with np.errstate(invalid="ignore", divide="ignore"):
        min_dscr = np.where(
            has_ds.any(axis=1), np.nanmin(np.where(has_ds, dscr, np.inf), axis=1), np.nan
        )
        avg_dscr = np.where(
            has_ds.any(axis=1),
            np.where(has_ds, dscr, 0.0).sum(axis=1) / np.maximum(has_ds.sum(axis=1), 1),
            np.nan,
        )
    df_bond = debt_df[grid.pay_t]
    n_sched = grid.n_scheduled
    project = flows.net_savings[:, grid.issue_t + 1 :]
    # a bond sized to nothing has no cover ratios: the divisions give inf or NaN, reported
    # as undefined (null in JSON, n/a in the workbook), without a warning; so does a bond
    # sized to a vanishing principal (a financed share of 1e-311 gives 1e-305 pounds),
    # whose ratios overflow to inf
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        llcr = (bond.cfads[:, 1 : n_sched + 1] * df_bond[1 : n_sched + 1]).sum(
            axis=1
        ) / schedule.principal
        plcr = (
            schedule.terms.pledged_share
            * (project * debt_df[grid.issue_t + 1 :]).sum(axis=1)
            / schedule.principal
        )
    return {"min_dscr": min_dscr, "avg_dscr": avg_dscr, "llcr": llcr, "plcr": plcr}


def _stress_metrics(schedule: BondSchedule, bond: BondFlows) -> dict[str, FloatArray]:
    """Payments under stress (a reserve draw, a top-up or a shortfall) and the total top-up."""
    tolerance = balance_tolerance(schedule.principal)
    stressed = (bond.reserve_draw + bond.topup + bond.shortfall) > tolerance
    # a total top-up within the balance tolerance is rounding, not a payment: exactly 0,
    # as a repaid bond's write-off is (so P(total_topup) needs no threshold of its own)
    topup = bond.topup.sum(axis=1)
    topup = np.where(topup > tolerance, topup, 0.0)
    return {
        "shortfall_periods": stressed.sum(axis=1).astype(np.float64),
        "total_topup": topup,
    }
