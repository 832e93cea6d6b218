"""Bond reference cases with the arithmetic shown.

Schedules are checked against numpy_financial (pmt, ipmt, ppmt), which
implement the standard level-payment loan formulas; the other cases show
their hand arithmetic in the comments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy_financial as npf
import pytest

from bondmodel import Scenario, run

Build = Callable[..., Scenario]


def bond_case(make_scenario: Build, bond: dict[str, Any], **changes: Any) -> Any:
    """A 12-year annual programme: nothing at close, 1,000,000 savings a year, no inflation."""
    defaults: dict[str, Any] = {
        "timeline": {"horizon_years": 12},
        "savings": [{"name": "s", "annual_amount": 1_000_000.0}],
    }
    defaults.update(changes)
    terms = {
        "principal": 5_000_000.0,
        "tenor_years": 10.0,
        "coupon": {"type": "fixed", "rate": 0.06},
    }
    terms.update(bond)
    result = run(make_scenario(bond=terms, **defaults)).bond
    assert result is not None
    return result


@pytest.mark.parametrize("g,frequency", [(1, "annual"), (2, "semi-annual"), (4, "quarterly")])
def test_annuity_matches_numpy_financial(make_scenario: Build, g: int, frequency: str) -> None:
    # Level debt service B i / (1 - (1+i)^-n), i = 6%/g, n = 10 g; interest and
    # principal of payment k are npf.ipmt / npf.ppmt (sign flipped: npf pays out).
    bond = bond_case(
        make_scenario,
        {"repayment": {"type": "annuity"}, "payment_frequency": frequency},
        timeline={"horizon_years": 12, "frequency": frequency},
    )
    i, n, principal = 0.06 / g, 10 * g, 5_000_000.0
    k = np.arange(1, n + 1)
    table = bond.table
    np.testing.assert_allclose(
        table["interest_paid"][1 : n + 1], -npf.ipmt(i, k, n, principal), rtol=1e-10
    )
    np.testing.assert_allclose(
        table["principal_paid"][1 : n + 1], -npf.ppmt(i, k, n, principal), rtol=1e-10
    )
    level = -npf.pmt(i, n, principal)
    ds = table["interest_paid"] + table["principal_paid"]
    np.testing.assert_allclose(ds[1 : n + 1], level, rtol=1e-10)
    assert table["closing_balance"].iloc[n] == 0.0


def test_eip_and_bullet(make_scenario: Build) -> None:
    # EIP: principal 5,000,000 / 10 = 500,000 a year; interest 6% of the opening balance:
    #   year 1: 300,000; year 2: 4,500,000 x 6% = 270,000; year 10: 500,000 x 6% = 30,000.
    eip = bond_case(make_scenario, {"repayment": {"type": "eip"}}).table
    np.testing.assert_allclose(eip["principal_paid"][1:11], 500_000.0, rtol=1e-12)
    np.testing.assert_allclose(
        eip["interest_paid"][1:11], 0.06 * (5_000_000 - 500_000 * np.arange(10)), rtol=1e-12
    )
    # Bullet: 300,000 interest a year, 5,000,000 at year 10 (npf.ppmt of a 0% loan is moot).
    bullet = bond_case(make_scenario, {"repayment": {"type": "bullet"}}).table
    np.testing.assert_allclose(bullet["interest_paid"][1:11], 300_000.0, rtol=1e-12)
    assert bullet["principal_paid"][1:10].sum() == 0.0
    assert bullet["principal_paid"][10] == pytest.approx(5_000_000.0, rel=1e-12)


def test_sculpted_hits_target_dscr_every_period(make_scenario: Build) -> None:
    # CFADS rises 5% a year from 600,000 (indexed savings, 5% inflation). Sculpting
    # sets debt service = CFADS / 1.35, so DSCR = 1.35 exactly in every period. The
    # principal that this debt service repays over 10 years at 6% is the PV of
    # CFADS/1.35 at 6%: P = sum_k 600,000 x 1.05^k / 1.35 / 1.06^k.
    cfads = 600_000.0 * 1.05 ** np.arange(1, 11)
    capacity = float(np.sum(cfads / 1.35 / 1.06 ** np.arange(1, 11)))
    bond = bond_case(
        make_scenario,
        {"principal": capacity, "repayment": {"type": "sculpted", "target_dscr": 1.35}},
        economics={"inflation": 0.05},
        savings=[{"name": "s", "annual_amount": 600_000.0}],
    )
    dscr = bond.table["dscr"].to_numpy()[1:11]
    np.testing.assert_allclose(dscr, 1.35, rtol=1e-9)
    assert bond.table["closing_balance"].iloc[10] == pytest.approx(0.0, abs=1e-6)
    assert bond.metrics["min_dscr"] == pytest.approx(1.35, rel=1e-9)


def test_dsra_draw_and_refill(make_scenario: Build) -> None:
    # Bullet 5,000,000 at 6%: interest 300,000 a year. Reserve: 12 months of debt
    # service = 300,000 (a bullet's reserve covers interest, not the balloon),
    # funded at issue. Savings: 1,000,000 a year except 100,000 in year 3
    # (explicit ramp [1, 1, 0.1, 1]).
    #   year 3: cash 100,000 < 300,000 due -> draw 200,000; reserve 300,000 -> 100,000.
    #   year 4: cash 1,000,000 pays 300,000, refills 200,000 -> reserve back to 300,000.
    #   year 10: 5,300,000 due; cash 1,000,000 + reserve 300,000 -> top-up 4,000,000.
    bond = bond_case(
        make_scenario,
        {
            "repayment": {"type": "bullet"},
            "reserve": {"months": 12.0},
            "legal_maturity_years": 10.0,
        },
        savings=[
            {
                "name": "s",
                "annual_amount": 1_000_000.0,
                "ramp": {"type": "explicit", "fractions": [1.0, 1.0, 0.1, 1.0]},
            }
        ],
    )
    t = bond.table
    assert bond.sources_uses["reserve_initial"] == pytest.approx(300_000.0, rel=1e-12)
    assert t["reserve_draw"][3] == pytest.approx(200_000.0, rel=1e-12)
    assert t["reserve_balance"][3] == pytest.approx(100_000.0, rel=1e-12)
    assert t["reserve_deposit"][4] == pytest.approx(200_000.0, rel=1e-12)
    assert t["reserve_balance"][4] == pytest.approx(300_000.0, rel=1e-12)
    assert t["reserve_balance"][9] == pytest.approx(300_000.0, rel=1e-12)
    assert t["topup"][:10].sum() == 0.0
    assert t["reserve_draw"][10] == pytest.approx(300_000.0, rel=1e-12)
    assert t["topup"][10] == pytest.approx(4_000_000.0, rel=1e-12)
    assert t["reserve_balance"][10] == 0.0


def test_limited_recourse_shortfall_to_write_off(make_scenario: Build) -> None:
    # Limited recourse bullet 5,000,000 at 6%, legal maturity 12 years, savings
    # 400,000 a year, no reserve, no arrears interest.
    # Years 1-10: interest 300,000 paid; 100,000 a year left over (not swept).
    # Year 10: principal 5,000,000 due, cash after interest 100,000 -> 4,900,000 unpaid.
    # Year 11: interest 4,900,000 x 6% = 294,000; cash 400,000 -> principal paid 106,000.
    # Year 12 (legal maturity): interest (4,794,000 x 6% = 287,640) paid, principal
    #   paid 112,360; 4,681,640 written off.
    bond = bond_case(
        make_scenario,
        {
            "repayment": {"type": "bullet"},
            "recourse": "limited",
            "legal_maturity_years": 12.0,
            "arrears_interest": False,
        },
        savings=[{"name": "s", "annual_amount": 400_000.0}],
    )
    t = bond.table
    assert t["principal_paid"][10] == pytest.approx(100_000.0, rel=1e-12)
    assert t["closing_balance"][10] == pytest.approx(4_900_000.0, rel=1e-12)
    assert t["interest_paid"][11] == pytest.approx(294_000.0, rel=1e-12)
    assert t["principal_paid"][11] == pytest.approx(106_000.0, rel=1e-12)
    assert t["interest_paid"][12] == pytest.approx(287_640.0, rel=1e-12)
    assert t["principal_paid"][12] == pytest.approx(112_360.0, rel=1e-12)
    assert t["write_off"][12] == pytest.approx(4_681_640.0, rel=1e-12)
    assert bond.metrics["investor_loss"] == pytest.approx(4_681_640.0, rel=1e-12)
    assert t["topup"].sum() == 0.0
    # principal repaid + written off = principal issued
    paid = t["principal_paid"].sum() + t["sweep"].sum()
    assert paid + t["write_off"].sum() == pytest.approx(5_000_000.0, rel=1e-12)


def test_full_recourse_tops_up_the_same_shortfall(make_scenario: Build) -> None:
    # The same bond with full recourse: the council tops up 4,900,000 in year 10.
    bond = bond_case(
        make_scenario,
        {"repayment": {"type": "bullet"}},
        savings=[{"name": "s", "annual_amount": 400_000.0}],
    )
    assert bond.table["topup"][10] == pytest.approx(4_900_000.0, rel=1e-12)
    assert bond.metrics["total_topup"] == pytest.approx(4_900_000.0, rel=1e-12)
    assert bond.metrics["investor_loss"] == 0.0
    assert bond.metrics["investor_irr"] == pytest.approx(0.06, rel=1e-10)


def test_index_linked_uplift_hits_its_cap(make_scenario: Build) -> None:
    # Warrington-style: real coupon 0.846%, CPI uplift capped at 3%; CPI 4%.
    # Year 1: balance 5,000,000 uplifted 3% (not 4%) = 5,150,000 (uplift 150,000);
    #   coupon 0.846% x 5,150,000 = 43,569.
    # Bullet at year 10: 5,000,000 x 1.03^10 = 6,719,581.90.
    bond = bond_case(
        make_scenario,
        {
            "repayment": {"type": "bullet"},
            "coupon": {"type": "index_linked", "real_rate": 0.00846, "uplift_cap": 0.03},
        },
        economics={"inflation": 0.04},
    )
    t = bond.table
    assert t["indexation"][1] == pytest.approx(150_000.0, rel=1e-12)
    assert t["interest_paid"][1] == pytest.approx(43_569.0, rel=1e-12)
    assert t["principal_paid"][10] == pytest.approx(5_000_000 * 1.03**10, rel=1e-12)
    # The investor earns (1.00846)(1.03) - 1 a year.
    assert bond.metrics["investor_irr"] == pytest.approx(1.00846 * 1.03 - 1, rel=1e-9)


def test_sized_principal_sources_equal_uses(make_scenario: Build) -> None:
    # Sized: P (price - fee) = financed costs + reserve. Costs 5,000,000 at close;
    # price 1.0, fee 1%, reserve 6 months of annuity debt service at 5% over 10 years:
    #   DS = P x 0.05 / (1 - 1.05^-10) = 0.1295046 P; reserve = 0.5 DS = 0.0647523 P
    #   0.99 P = 5,000,000 + 0.0647523 P  ->  P = 5,000,000 / 0.9252477 = 5,403,958.24
    bond = bond_case(
        make_scenario,
        {
            "principal": "sized",
            "arrangement_fee": 0.01,
            "reserve": {"months": 6.0},
            "repayment": {"type": "annuity"},
            "coupon": {"type": "fixed", "rate": 0.05},
        },
        costs=[{"name": "c", "amount": 5_000_000.0, "category": "other"}],
    )
    ds_factor = 0.05 / (1 - 1.05**-10)
    expected = 5_000_000 / (0.99 - 0.5 * ds_factor)
    assert bond.schedule.principal == pytest.approx(expected, rel=1e-10)
    assert expected == pytest.approx(5_403_958.24, abs=0.01)
    su = bond.sources_uses
    uses = su["financed_costs"] + su["arrangement_fee"] + su["reserve_initial"] + su["surplus"]
    assert su["proceeds"] + su["council_contribution"] == pytest.approx(uses, rel=1e-12)


def test_pwlb_comparison_annuity(make_scenario: Build) -> None:
    # PWLB annuity of the financed costs (5,000,000) at gilt 4.5% + 0.8% = 5.3%
    # over the bond's 10 years: level payment = npf.pmt(0.053, 10, -5e6).
    result = run(
        make_scenario(
            timeline={"horizon_years": 12},
            costs=[{"name": "c", "amount": 5_000_000.0, "category": "other"}],
            savings=[{"name": "s", "annual_amount": 1_000_000.0}],
            bond={
                "principal": 5_000_000.0,
                "tenor_years": 10.0,
                "coupon": {"type": "fixed", "rate": 0.06},
                "repayment": {"type": "annuity"},
            },
            pwlb={"gilt_yield": 0.045},
        )
    )
    assert result.bond is not None and result.bond.pwlb is not None
    level = npf.pmt(0.053, 10, -5_000_000.0)
    np.testing.assert_allclose(result.bond.pwlb.debt_service[1:11], level, rtol=1e-12)
    # A cheaper loan leaves the council better off: bond minus PWLB < 0.
    assert result.bond.metrics["council_npv_vs_pwlb"] is not None
    assert result.bond.metrics["council_npv_vs_pwlb"] < 0


@pytest.mark.parametrize(
    "frequency,pay", [("quarterly", "semi-annual"), ("monthly", "annual"), ("annual", "annual")]
)
def test_payment_periods_collect_their_timeline_periods(
    make_scenario: Build, frequency: str, pay: str
) -> None:
    # Bond of 2 years issued at close on a 4-year timeline: payment period k holds
    # the timeline periods after payment k-1 up to payment k, and nothing after
    # legal maturity is collected.
    from bondmodel.bond.schedule import build_grid
    from bondmodel.timeline import build_timeline

    sc = make_scenario(
        timeline={"frequency": frequency, "horizon_years": 4},
        bond={
            "principal": 1.0,
            "tenor_years": 2.0,
            "payment_frequency": pay,
            "coupon": {"type": "fixed", "rate": 0.0},
        },
    )
    assert sc.bond is not None
    timeline = build_timeline(sc)
    grid = build_grid(sc.bond, timeline)
    flows = np.arange(timeline.n_periods + 1, dtype=float)[None, :] + 1.0  # t + 1
    got = grid.aggregate(flows)[0]
    pay = grid.pay_t
    expected = [0.0] + [flows[0, pay[k - 1] + 1 : pay[k] + 1].sum() for k in range(1, len(pay))]
    np.testing.assert_array_equal(got, expected)
