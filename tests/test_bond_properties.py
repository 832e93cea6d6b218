"""Property tests: bond identities over random valid structures and stressed paths (hypothesis).

Each example draws a programme and a bond (every coupon type, repayment
profile, recourse mode, reserve setting, grace and sweep), then runs the
waterfall on several paths whose savings are scaled from 0 to 2.5 times the
plan, so shortfalls, reserve draws, top-ups, deferrals and write-offs all
occur. The identities must hold on every path.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bondmodel import ModelError, parse_scenario
from bondmodel.bond.waterfall import BondFlows, BondSchedule, build_schedule, run_waterfall
from bondmodel.programme import Draws, programme_flows
from bondmodel.timeline import build_timeline

EXAMPLES = int(os.environ.get("BONDMODEL_HYPOTHESIS_EXAMPLES", "150"))
FREQ = {"annual": 1, "semi-annual": 2, "quarterly": 4}
PATH_SCALES = np.array([0.0, 0.3, 0.7, 1.0, 1.4, 2.5])


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    frequency = draw(st.sampled_from(list(FREQ)))
    f = FREQ[frequency]
    pay = draw(st.sampled_from([k for k, g in FREQ.items() if f % g == 0]))
    g = FREQ[pay]
    horizon = draw(st.integers(3, 25))
    tenor_periods = draw(st.integers(1, horizon * g))
    legal_extra = draw(st.integers(0, horizon * g - tenor_periods))
    grace_periods = draw(st.integers(0, tenor_periods - 1))
    coupon_kind = draw(st.sampled_from(["fixed", "floating", "index_linked"]))
    rate = draw(st.floats(0.0, 0.12))
    if coupon_kind == "fixed":
        coupon: dict[str, Any] = {"type": "fixed", "rate": rate}
    elif coupon_kind == "floating":
        coupon = {"type": "floating", "margin": draw(st.floats(0.0, 0.03))}
        if draw(st.booleans()):
            coupon["reference_rate"] = rate
        else:
            coupon["reference_path"] = draw(st.lists(st.floats(0.0, 0.1), min_size=1, max_size=6))
        if draw(st.booleans()):
            coupon["floor"] = draw(st.floats(0.0, 0.05))
    else:
        coupon = {"type": "index_linked", "real_rate": draw(st.floats(0.0, 0.03))}
        if draw(st.booleans()):
            coupon["uplift_cap"] = draw(st.floats(0.0, 0.05))
        if draw(st.booleans()):
            coupon["uplift_floor"] = 0.0
            coupon.setdefault("uplift_cap", 0.05)
    kind = draw(st.sampled_from(["bullet", "eip", "annuity", "sculpted", "custom"]))
    repayment: dict[str, Any] = {"type": kind}
    if kind == "sculpted":
        repayment["target_dscr"] = draw(st.floats(1.0, 2.0))
    if kind == "custom":
        n = tenor_periods - grace_periods
        weights = draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
        total = sum(weights)
        if total == 0:
            weights = [1.0] * n
            total = float(n)
        schedule = [w / total for w in weights]
        schedule[-1] = max(0.0, 1.0 - sum(schedule[:-1]))
        repayment["schedule"] = schedule
    bond: dict[str, Any] = {
        "principal": draw(st.one_of(st.just("sized"), st.floats(1e5, 2e7))),
        "financed_share": draw(st.floats(0.0, 1.0)),
        "issue_price": draw(st.floats(0.9, 1.05)),
        "arrangement_fee": draw(st.floats(0.0, 0.03)),
        "annual_fees": draw(st.floats(0.0, 100_000.0)),
        "tenor_years": tenor_periods / g,
        "legal_maturity_years": (tenor_periods + legal_extra) / g,
        "payment_frequency": pay,
        "coupon": coupon,
        "repayment": repayment,
        "grace_years": grace_periods / g,
        "grace_interest": draw(st.sampled_from(["paid", "capitalised"])),
        "cash_sweep": draw(st.sampled_from([0.0, 0.25, 1.0])),
        "recourse": draw(st.sampled_from(["full", "limited"])),
        "arrears_interest": draw(st.booleans()),
        "pledged_share": draw(st.floats(0.1, 1.0)),
    }
    if draw(st.booleans()):
        bond["reserve"] = {
            "months": draw(st.sampled_from([3.0, 6.0, 12.0])),
            "funding": draw(st.sampled_from(["at_issue", "from_cash"])),
        }
    if draw(st.booleans()):
        bond["performance"] = {
            "share": draw(st.floats(0.0, 1.0)),
            "threshold": draw(st.floats(0.0, 2e6)),
        }
        if draw(st.booleans()):
            bond["performance"]["cap_total_return"] = draw(st.floats(0.01, 0.3))
    return {
        "meta": {"name": "property", "base_date": date(2026, 4, 1)},
        "timeline": {
            "start_date": date(2026, 4, 1),
            "frequency": frequency,
            "horizon_years": horizon,
        },
        "economics": {"inflation": draw(st.floats(-0.01, 0.06))},
        "partners": [{"name": "A", "baseline_expenditure": 1e8}],
        "costs": [
            {
                "name": "c",
                "amount": draw(st.floats(1e5, 1e7)),
                "category": "other",
                "timing": "spread",
                "periods": draw(st.integers(1, f * 2)),
            }
        ],
        "savings": [
            {
                "name": "s",
                "annual_amount": draw(st.floats(1e5, 5e6)),
                "ramp": {"type": "linear", "years": draw(st.floats(0.0, 3.0))},
                "start_delay_years": draw(st.floats(0.0, 2.0)),
            }
        ],
        "bond": bond,
    }


def check(schedule: BondSchedule, b: BondFlows, net_cash_flow: np.ndarray) -> None:
    """The identities, on every path at once."""
    scale = max(schedule.principal, 1.0) * 1e-9 + 1e-6
    # sources equal uses at close
    uses = schedule.financed_costs + schedule.arrangement_fee + schedule.reserve_initial
    assert abs(schedule.proceeds - uses - schedule.surplus) <= scale
    # balances never negative, nothing owed after legal maturity
    for name in ("closing_balance", "reserve_balance", "arrears_balance", "fee_arrears_balance"):
        assert (getattr(b, name) >= -scale).all(), name
    assert np.abs(b.closing_balance[:, -1]).max() <= scale
    # principal issued (grown by capitalisation and indexation) = repaid + written off,
    # and when nothing is written off it is repaid in full
    grown = schedule.principal + b.capitalised_interest.sum(1) + b.indexation.sum(1)
    repaid = (b.principal_paid + b.sweep).sum(1)
    written = b.write_off.sum(1)
    arrears_part = written - (grown - repaid)
    assert (arrears_part >= -scale).all()
    no_loss = written <= scale
    np.testing.assert_allclose(repaid[no_loss], grown[no_loss], rtol=1e-9, atol=scale)
    # cash to investors and agents = pledged cash + reserve draws + top-ups
    paid = b.fees_paid + b.arrears_paid + b.interest_paid + b.principal_paid + b.performance_paid
    np.testing.assert_allclose(paid, b.cash_used + b.reserve_draw + b.topup, atol=scale)
    # pledged cash used never exceeds the cash available
    cash = np.maximum(b.cfads, 0.0)
    assert (b.cash_used + b.reserve_deposit + b.sweep <= cash + scale).all()
    # the reserve balances
    reserve = schedule.reserve_initial + np.cumsum(
        b.reserve_deposit - b.reserve_draw - b.reserve_release, axis=1
    )
    np.testing.assert_allclose(reserve, b.reserve_balance, atol=scale)
    # full recourse never defers or writes off; limited never tops up
    if schedule.terms.recourse == "full":
        assert np.abs(b.shortfall).max() <= scale and np.abs(b.write_off).max() <= scale
    else:
        assert np.abs(b.topup).max() <= scale
    # the council's total equals the programme's plus net proceeds less all it paid out
    council = b.council_flow.sum(1)
    out = paid.sum(1) + b.sweep.sum(1) - b.reserve_draw.sum(1) - b.topup.sum(1)
    expected = (
        net_cash_flow.sum(1)
        + schedule.proceeds
        - schedule.arrangement_fee
        - schedule.reserve_initial
        - out
        - b.reserve_deposit.sum(1)
        + b.reserve_release.sum(1)
        - b.topup.sum(1)
    )
    np.testing.assert_allclose(council, expected, rtol=1e-9, atol=1e-6 * max(1.0, uses))
    # nothing undefined except DSCR where no debt service is due
    for name in ("closing_balance", "investor_flow", "council_flow", "cash_used", "topup"):
        assert np.isfinite(getattr(b, name)).all(), name


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(scenarios())
def test_bond_identities_hold_on_stressed_paths(data: dict[str, Any]) -> None:
    scenario = parse_scenario(data)
    timeline = build_timeline(scenario)
    base = Draws.central(scenario, 1)
    base_flows = programme_flows(scenario, timeline, base)
    try:
        schedule = build_schedule(scenario, timeline, base_flows, base.inflation)
    except ModelError as exc:
        # A sized principal whose reserve needs as much as the principal raises
        # (e.g. one payment of EIP with 6 months of reserve): a clear refusal.
        assert "has no solution" in str(exc)
        assume(False)
    draws = Draws.central(scenario, len(PATH_SCALES))
    draws = Draws(**{**draws.__dict__, "savings_realisation": PATH_SCALES[:, None].copy()})
    flows = programme_flows(scenario, timeline, draws, partners=False)
    bond = run_waterfall(schedule, timeline, flows, draws.inflation)
    check(schedule, bond, flows.net_cash_flow)
