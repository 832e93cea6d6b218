"""Reference cases, each with its arithmetic worked by hand in the comments.

Sources: HM Treasury Green Book (2022) Annex A6 for discounting; HM Treasury
Supplementary Green Book Guidance, Optimism Bias (2003) for the bands. The
expected numbers below are computed from the hand formula written beside them,
never read back from the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from bondmodel import Scenario, run

REL = 1e-12

Build = Callable[..., Scenario]


def col(build: Scenario, key: str) -> np.ndarray:
    return run(build).periods[key].to_numpy()


# ---------------------------------------------------------------------------
# Partners
# ---------------------------------------------------------------------------


def test_two_partner_allocation_by_expenditure(make_scenario: Build) -> None:
    # Partners A (spend 60m) and B (40m): default shares 0.6 / 0.4.
    # Cost 1,000,000 at close, category 'other' (no OB band), contingency 10%:
    #   total = 1,000,000 x 1.10 = 1,100,000 -> A 660,000, B 440,000.
    # Savings 1% of both partners' spend = 0.01 x 100m = 1,000,000 a year, at once:
    #   A 600,000, B 400,000 each year.
    sc = make_scenario(
        partners=[
            {"name": "A", "baseline_expenditure": 60e6},
            {"name": "B", "baseline_expenditure": 40e6},
        ],
        costs=[{"name": "c", "amount": 1e6, "category": "other", "contingency": 0.10}],
        savings=[{"name": "s", "pct_of_expenditure": 0.01}],
    )
    res = run(sc)
    part = res.partners.set_index(["partner", "period"])
    assert part.loc[("A", 0), "capex"] == pytest.approx(660_000, rel=REL)
    assert part.loc[("B", 0), "capex"] == pytest.approx(440_000, rel=REL)
    for t in range(1, 6):
        assert part.loc[("A", t), "gross_savings"] == pytest.approx(600_000, rel=REL)
        assert part.loc[("B", t), "gross_savings"] == pytest.approx(400_000, rel=REL)
    # Net cash flow of A over 5 years: 5 x 600,000 - 660,000 = 2,340,000
    a_net = part.loc["A", "net_cash_flow"].sum()
    assert a_net == pytest.approx(2_340_000, rel=REL)
    assert res.partner_metrics["A"]["cost_share"] == pytest.approx(0.6, rel=REL)


def test_two_partner_explicit_shares_and_named_allocation(make_scenario: Build) -> None:
    # Explicit shares: costs 50/50, savings 70/30.
    # Stream 1: 500,000 a year split by savings shares -> A 350,000, B 150,000.
    # Stream 2: 1% of A's spend only (0.01 x 60m = 600,000), allocated by the
    #   named partners' expenditure -> all 600,000 to A.
    # A's savings each year: 350,000 + 600,000 = 950,000; B's: 150,000.
    # Running cost 200,000 a year, cost shares -> 100,000 each.
    sc = make_scenario(
        partners=[
            {"name": "A", "baseline_expenditure": 60e6, "cost_share": 0.5, "savings_share": 0.7},
            {"name": "B", "baseline_expenditure": 40e6, "cost_share": 0.5, "savings_share": 0.3},
        ],
        running_costs=[{"name": "r", "annual_amount": 200_000.0}],
        savings=[
            {"name": "s1", "annual_amount": 500_000.0},
            {
                "name": "s2",
                "pct_of_expenditure": 0.01,
                "partners": ["A"],
                "allocation": "expenditure",
            },
        ],
    )
    part = run(sc).partners.set_index(["partner", "period"])
    assert part.loc[("A", 3), "gross_savings"] == pytest.approx(950_000, rel=REL)
    assert part.loc[("B", 3), "gross_savings"] == pytest.approx(150_000, rel=REL)
    assert part.loc[("A", 3), "running_costs"] == pytest.approx(100_000, rel=REL)
    assert part.loc[("B", 3), "net_savings"] == pytest.approx(50_000, rel=REL)


# ---------------------------------------------------------------------------
# Savings: ramp, delay, erosion, indexation
# ---------------------------------------------------------------------------


def test_linear_ramp_with_delay_and_erosion(make_scenario: Build) -> None:
    # S = 1,200,000 a year, linear ramp over 3 years, 1-year delay, 10% erosion, annual.
    # tau_t = t - 1 (years since savings start, at the period end);
    # ramp r = min(tau/3, 1); erosion (0.9)^max(0, (t-1) - 1) measured at the period start.
    #   t=1: not started                         -> 0
    #   t=2: r=1/3, erosion 0.9^0 = 1            -> 1,200,000 x 1/3           = 400,000
    #   t=3: r=2/3, erosion 0.9^1                -> 1,200,000 x 2/3 x 0.9     = 720,000
    #   t=4: r=1,   erosion 0.9^2 = 0.81         -> 1,200,000 x 0.81          = 972,000
    #   t=5: r=1,   erosion 0.9^3 = 0.729        -> 1,200,000 x 0.729         = 874,800
    sc = make_scenario(
        savings=[
            {
                "name": "s",
                "annual_amount": 1_200_000.0,
                "ramp": {"type": "linear", "years": 3.0},
                "start_delay_years": 1.0,
                "erosion": 0.10,
            }
        ]
    )
    expected = [0, 0, 400_000, 720_000, 972_000, 874_800]
    np.testing.assert_allclose(col(sc, "gross_savings"), expected, rtol=REL, atol=1e-6)


def test_quarterly_ramp_with_half_year_delay(make_scenario: Build) -> None:
    # Quarterly, S = 400,000 a year (100,000 a quarter), linear over 1 year, delay 0.5 years.
    # tau_t = t/4 - 0.5: t=3 -> 0.25, t=4 -> 0.5, t=5 -> 0.75, t=6 -> 1.
    # Savings: 25,000, 50,000, 75,000, then 100,000 a quarter.
    sc = make_scenario(
        timeline={"frequency": "quarterly", "horizon_years": 2},
        savings=[
            {
                "name": "s",
                "annual_amount": 400_000.0,
                "ramp": {"type": "linear", "years": 1.0},
                "start_delay_years": 0.5,
            }
        ],
    )
    expected = [0, 0, 0, 25_000, 50_000, 75_000, 100_000, 100_000, 100_000]
    np.testing.assert_allclose(col(sc, "gross_savings"), expected, rtol=REL, atol=1e-6)


def test_fractional_delay_counts_part_of_a_period(make_scenario: Build) -> None:
    # Annual, S = 1,000,000, no ramp, delay 0.5 years, erosion 10%, indexed at 2%.
    # t=1: active half the year -> 0.5 x 1,000,000 x 1.02^1             = 510,000
    # t=2: erosion measured at the period start, 0.5 years after start:
    #      1,000,000 x 0.9^0.5 x 1.02^2                                  = 987,035.09...
    sc = make_scenario(
        economics={"inflation": 0.02},
        savings=[
            {
                "name": "s",
                "annual_amount": 1_000_000.0,
                "start_delay_years": 0.5,
                "erosion": 0.10,
            }
        ],
    )
    g = col(sc, "gross_savings")
    assert g[1] == pytest.approx(0.5 * 1_000_000 * 1.02, rel=REL)
    assert g[2] == pytest.approx(1_000_000 * 0.9**0.5 * 1.02**2, rel=REL)


def test_explicit_ramp_holds_last_fraction_and_end_year(make_scenario: Build) -> None:
    # Fractions [0.2, 0.5] per savings year: years 1, 2 -> 0.2, 0.5; then holds 0.5.
    # end_year 4: savings stop after programme year 4.
    # S = 100,000: t=1..4 -> 20,000, 50,000, 50,000, 50,000; t=5 -> 0.
    sc = make_scenario(
        savings=[
            {
                "name": "s",
                "annual_amount": 100_000.0,
                "ramp": {"type": "explicit", "fractions": [0.2, 0.5]},
                "end_year": 4.0,
            }
        ]
    )
    np.testing.assert_allclose(
        col(sc, "gross_savings"), [0, 20_000, 50_000, 50_000, 50_000, 0], rtol=REL, atol=1e-9
    )


def test_s_curve_reaches_half_at_midpoint(make_scenario: Build) -> None:
    # S-curve over 4 years is symmetric: r(2) = 0.5 exactly, r(4) = 1.
    # S = 800,000: t=2 -> 400,000; t=4 -> 800,000.
    sc = make_scenario(
        savings=[
            {
                "name": "s",
                "annual_amount": 800_000.0,
                "ramp": {"type": "s_curve", "years": 4.0, "steepness": 6.0},
            }
        ]
    )
    g = col(sc, "gross_savings")
    assert g[2] == pytest.approx(400_000, rel=1e-12)
    assert g[4] == pytest.approx(800_000, rel=1e-12)
    assert 0 < g[1] < g[2] < g[3] < g[4]


# ---------------------------------------------------------------------------
# Costs and optimism bias
# ---------------------------------------------------------------------------


def test_optimism_bias_from_band_with_mitigation_and_contingency(make_scenario: Build) -> None:
    # IT: equipment/development band, upper bound 200%; mitigation 0.75 -> 200% x 0.25 = 50%.
    # Base 1,000,000; contingency 5% = 50,000; OB on base + contingency:
    #   1,050,000 x 0.5 = 525,000; total 1,575,000.
    # Property: standard buildings 24%, mitigation 0.5 -> 12% of 400,000 = 48,000.
    sc = make_scenario(
        costs=[
            {
                "name": "it",
                "amount": 1_000_000.0,
                "category": "it",
                "ob_mitigation": 0.75,
                "contingency": 0.05,
            },
            {"name": "prop", "amount": 400_000.0, "category": "property", "ob_mitigation": 0.5},
        ]
    )
    row = run(sc).periods.iloc[0]
    assert row["capex_base"] == pytest.approx(1_400_000, rel=REL)
    assert row["capex_contingency"] == pytest.approx(50_000, rel=REL)
    assert row["capex_optimism_bias"] == pytest.approx(525_000 + 48_000, rel=REL)
    assert row["capex"] == pytest.approx(1_575_000 + 448_000, rel=REL)


def test_cost_timings_and_indexation_from_an_earlier_base_date(make_scenario: Build) -> None:
    # Prices at 1 April 2025, close 1 April 2026, inflation 2%: offset 1 year.
    # 'spread' 300,000 over periods 1..3: 100,000 real each, nominal 100,000 x 1.02^(1+t).
    # 'profile' [0.5, 0.5] from period 0, not indexed: 50,000 at t=0 and t=1 nominal.
    sc = make_scenario(
        meta={"base_date": _date("2025-04-01")},
        economics={"inflation": 0.02},
        costs=[
            {
                "name": "sp",
                "amount": 300_000.0,
                "category": "other",
                "timing": "spread",
                "periods": 3,
            },
            {
                "name": "pr",
                "amount": 100_000.0,
                "category": "other",
                "timing": "profile",
                "profile": [0.5, 0.5],
                "indexed": False,
            },
        ],
    )
    capex = col(sc, "capex")
    expected = [
        50_000,
        100_000 * 1.02**2 + 50_000,
        100_000 * 1.02**3,
        100_000 * 1.02**4,
        0,
        0,
    ]
    np.testing.assert_allclose(capex, expected, rtol=REL, atol=1e-9)
    # Real terms divide by the price index 1.02^(1+t):
    real = col(sc, "capex_real")
    assert real[2] == pytest.approx(100_000, rel=REL)


def test_running_costs_quarterly_between_years(make_scenario: Build) -> None:
    # 100,000 a year from programme year 2 to 3, quarterly: 25,000 in periods 5..12.
    sc = make_scenario(
        timeline={"frequency": "quarterly", "horizon_years": 4},
        running_costs=[
            {
                "name": "r",
                "annual_amount": 100_000.0,
                "start_year": 2,
                "end_year": 3,
                "indexation": "none",
            }
        ],
    )
    rc = col(sc, "running_costs")
    expected = np.zeros(17)
    expected[5:13] = 25_000
    np.testing.assert_allclose(rc, expected, rtol=REL, atol=1e-9)


# ---------------------------------------------------------------------------
# Discounting and metrics
# ---------------------------------------------------------------------------


def test_green_book_40_year_npv_across_the_30_year_step(make_scenario: Build) -> None:
    # 1,000 a year real for 40 years, no costs, Green Book STPR (real).
    # Years 1-30 at 3.5%: annuity factor a(30, 3.5%) = (1 - 1.035^-30) / 0.035
    # Years 31-40 at 3.0%, discounted back through the first 30 years:
    #   1.035^-30 x a(10, 3%) = 1.035^-30 x (1 - 1.03^-10) / 0.03
    # a(30, 3.5%) = 18.392045...; 1.035^-30 = 0.356278...; a(10, 3%) = 8.530203...
    # PV = 1,000 x (18.392045 + 0.356278 x 8.530203) = 21,431.17 (to the penny below)
    a30 = (1 - 1.035**-30) / 0.035
    a10 = (1 - 1.03**-10) / 0.03
    expected = 1000 * (a30 + 1.035**-30 * a10)
    assert expected == pytest.approx(21_431.17, abs=0.01)
    sc = make_scenario(
        timeline={"horizon_years": 40},
        savings=[{"name": "s", "annual_amount": 1000.0}],
    )
    res = run(sc)
    assert res.metrics["npv"] == pytest.approx(expected, rel=1e-12)
    df = res.periods["discount_factor"].to_numpy()
    # Year 31 is discounted at 3.5% for 30 years and 3.0% for one, not 3.0% for 31.
    assert df[31] == pytest.approx(1.035**-30 / 1.03, rel=1e-14)
    assert df[30] == pytest.approx(1.035**-30, rel=1e-14)


def test_flat_and_nominal_appraisal(make_scenario: Build) -> None:
    # Flat 5% real: 1,000 a year for 3 years -> 1000/1.05 + 1000/1.05^2 + 1000/1.05^3
    #   = 952.38 + 907.03 + 863.84 = 2,723.25
    sc = make_scenario(
        timeline={"horizon_years": 3},
        economics={"discount_basis": "flat", "discount_rate": 0.05},
        savings=[{"name": "s", "annual_amount": 1000.0}],
    )
    assert run(sc).metrics["npv"] == pytest.approx(2723.248029, abs=1e-6)
    # Nominal Green Book basis with 2% inflation and indexed flows: nominal flows
    # 1000 x 1.02^t discounted at (1.035 x 1.02) a year give the real NPV exactly.
    real = make_scenario(
        timeline={"horizon_years": 3},
        economics={"inflation": 0.02},
        savings=[{"name": "s", "annual_amount": 1000.0}],
    )
    nominal = make_scenario(
        timeline={"horizon_years": 3},
        economics={"inflation": 0.02, "appraisal_basis": "nominal"},
        savings=[{"name": "s", "annual_amount": 1000.0}],
    )
    expected = 1000 * (1.035**-1 + 1.035**-2 + 1.035**-3)
    assert run(real).metrics["npv"] == pytest.approx(expected, rel=1e-12)
    assert run(nominal).metrics["npv"] == pytest.approx(expected, rel=1e-12)


def test_payback_bcr_and_peak_funding(make_scenario: Build) -> None:
    # Cost 2,500,000 at close; savings 1,000,000 a year at once; running 0; no inflation.
    # Cumulative: -2.5m, -1.5m, -0.5m, +0.5m, +1.5m, +2.5m
    # Payback: last negative at t=2 (-0.5m); next +0.5m -> 2 + 0.5/1.0 = 2.5 years.
    # Peak funding need: 2,500,000 at period 0.
    # Flat 0% discounting: PV savings 5,000,000, PV costs 2,500,000, BCR 2.0, NPV 2.5m.
    sc = make_scenario(
        economics={"discount_basis": "flat", "discount_rate": 0.0},
        costs=[{"name": "c", "amount": 2_500_000.0, "category": "other"}],
        savings=[{"name": "s", "annual_amount": 1_000_000.0}],
    )
    m = run(sc).metrics
    assert m["payback_years"] == pytest.approx(2.5, rel=REL)
    assert m["discounted_payback_years"] == pytest.approx(2.5, rel=REL)
    assert m["peak_funding_need"] == pytest.approx(2_500_000, rel=REL)
    assert m["peak_funding_period"] == 0
    assert m["bcr"] == pytest.approx(2.0, rel=REL)
    assert m["npv"] == pytest.approx(2_500_000, rel=REL)


def test_undefined_metrics_are_none(make_scenario: Build) -> None:
    # No costs at all: BCR is undefined (None), payback is immediate (0).
    # Costs never recovered: payback is None (not reached), never a number.
    no_costs = make_scenario(savings=[{"name": "s", "annual_amount": 10.0}])
    m = run(no_costs).metrics
    assert m["bcr"] is None
    assert m["payback_years"] == 0.0
    never = make_scenario(
        costs=[{"name": "c", "amount": 1_000_000.0, "category": "other"}],
        savings=[{"name": "s", "annual_amount": 10.0}],
    )
    m = run(never).metrics
    assert m["payback_years"] is None
    assert m["discounted_payback_years"] is None


def _date(text: str) -> object:
    from datetime import date

    return date.fromisoformat(text)


def test_a_partner_leaving_takes_its_savings_from_its_exit(make_scenario: Any) -> None:
    """Two equal partners share one stream; B leaves 2.5 years after close.

    Hand-worked: the stream saves 1,000,000 a year (no ramp, no indexation), half
    each. Period 3 runs from year 2 to 3, so B is in for half of it: savings
    1,000,000 x (1/2 + 1/2 x 1/2) = 750,000; from period 4 only A's half: 500,000.
    """
    from bondmodel import run

    sc = make_scenario(
        partners=[
            {"name": "A", "baseline_expenditure": 1e8},
            {"name": "B", "baseline_expenditure": 1e8, "exit_year": 2.5},
        ],
        savings=[
            {
                "name": "s",
                "annual_amount": 1_000_000.0,
                "indexation": "none",
                "ramp": {"type": "linear", "years": 0.0},
            }
        ],
    )
    res = run(sc, paths=0)
    gross = res.periods["gross_savings"].to_numpy()
    assert gross[1:6] == pytest.approx([1e6, 1e6, 750_000.0, 500_000.0, 500_000.0])
    b = res.partners[res.partners["partner"] == "B"]["gross_savings"].to_numpy()
    assert b[1:6] == pytest.approx([500_000.0, 500_000.0, 250_000.0, 0.0, 0.0])
    a = res.partners[res.partners["partner"] == "A"]["gross_savings"].to_numpy()
    assert a + b == pytest.approx(gross)
