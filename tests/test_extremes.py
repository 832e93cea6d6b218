"""Extreme but meaningful inputs give correct, finite results (issue 8's list, partly)."""

from __future__ import annotations

import copy
import math
import tomllib
from typing import Any

import numpy as np
import pytest

from bondmodel import parse_scenario, run
from bondmodel.risk.results import simulate
from bondmodel.risk.simulate import RunSettings

from .conftest import ROOT

DEFAULT = ROOT / "templates" / "shared-services.toml"


def default() -> dict[str, Any]:
    with open(DEFAULT, "rb") as handle:
        return tomllib.load(handle)


def finite_or_none(values: dict[str, Any]) -> None:
    for key, value in values.items():
        assert value is None or math.isfinite(value), (key, value)


def test_one_period_horizon() -> None:
    data = default()
    data["timeline"]["horizon_years"] = 1
    data["costs"] = [{"name": "c", "amount": 1_000_000.0, "category": "it"}]
    data["running_costs"][0]["start_year"] = 1
    data["bond"].update({"tenor_years": 1.0, "grace_years": 0.0})
    data["risk"]["default_paths"] = 200
    res = run(parse_scenario(data), seed=1)
    assert len(res.periods) == 2
    assert res.bond is not None
    finite_or_none(res.metrics)
    finite_or_none(res.bond.metrics)
    assert res.bond.table["closing_balance"].iloc[-1] == 0.0


def test_hundred_year_monthly_horizon() -> None:
    data = default()
    data["timeline"].update({"frequency": "monthly", "horizon_years": 100})
    data["risk"]["default_paths"] = 300
    res = run(parse_scenario(data), seed=2)
    assert len(res.periods) == 1201
    # Green Book rates step at 30 and 75 years: the year-100 factor by hand
    expected = 1.035**-30 * 1.03**-45 * 1.025**-25
    assert res.periods["discount_factor"].iloc[-1] == pytest.approx(expected, rel=1e-12)
    finite_or_none(res.metrics)
    assert res.risk is not None
    assert np.isfinite(res.risk.per_path["npv"]).all()


def test_zero_savings_and_savings_that_never_start() -> None:
    for change in ({"pct_of_expenditure": 0.0}, {"start_delay_years": 40.0}):
        data = default()
        data["savings"][0].update(change)
        res = run(parse_scenario(data), paths=0)
        assert res.periods["gross_savings"].sum() == 0.0
        assert res.metrics["payback_years"] is None
        assert res.metrics["npv"] is not None and res.metrics["npv"] < 0
        assert res.bond is not None
        # full recourse: the council pays everything, investors get their coupon
        assert res.bond.metrics["investor_loss"] == 0.0
        assert res.bond.metrics["total_topup"] is not None
        assert res.bond.metrics["total_topup"] > res.bond.schedule.principal
        assert res.bond.metrics["investor_irr"] == pytest.approx(0.0525, rel=1e-9)


def test_hundred_percent_cost_overrun_doubles_the_outturn() -> None:
    data = default()
    data["risk"] = {
        "default_paths": 50,
        "inputs": [
            {
                "name": "o",
                "target": "costs.overrun",
                "distribution": {"type": "fixed", "value": 2.0},
            },
        ],
    }
    scenario = parse_scenario(data)
    base = run(scenario, paths=0)
    sim = simulate(scenario, RunSettings(50, seed=3))
    planned = base.metrics["total_capex"]
    assert planned is not None
    # every path's peak funding need reflects costs of twice the plan
    assert (sim.per_path["peak_funding_need"] > base.metrics["peak_funding_need"]).all()
    assert (sim.per_path["npv"] < base.metrics["npv"]).all()


def test_negative_real_rate_and_zero_coupon() -> None:
    data = default()
    data["economics"] = {"inflation": 0.02, "discount_basis": "flat", "discount_rate": -0.01}
    data["bond"]["coupon"] = {"type": "fixed", "rate": 0.0}
    res = run(parse_scenario(data), paths=0)
    assert res.bond is not None
    df = res.periods["discount_factor"].to_numpy()
    assert (np.diff(df) > 0).all()  # a negative rate makes later money worth more
    assert res.bond.metrics["investor_irr"] == pytest.approx(0.0, abs=1e-12)
    assert res.bond.table["interest_paid"].sum() == 0.0


def test_principal_far_above_the_savings_is_written_off_under_limited_recourse() -> None:
    data = default()
    data["bond"].update(
        {"principal": 500_000_000.0, "recourse": "limited", "legal_maturity_years": 12.0}
    )
    res = run(parse_scenario(data), paths=0)
    assert res.bond is not None
    t = res.bond.table
    assert res.bond.metrics["investor_loss"] > 0
    assert res.bond.metrics["loss_given_default"] is not None
    assert 0 < res.bond.metrics["loss_given_default"] <= 1
    # repaid principal + written off covers the principal and what was capitalised
    grown = res.bond.schedule.principal + t["capitalised_interest"].sum()
    assert t["principal_paid"].sum() + t["sweep"].sum() <= grown + 1e-3
    assert t["write_off"].sum() >= grown - t["principal_paid"].sum() - t["sweep"].sum() - 1e-3
    # the surplus proceeds go to the council at issue
    assert res.bond.sources_uses["surplus"] > 0


def test_correlation_of_exactly_one() -> None:
    data = default()
    data["risk"]["correlation"] = {
        "names": ["savings_realisation", "start_delay"],
        "matrix": [[1.0, 1.0], [1.0, 1.0]],
    }
    sim = simulate(parse_scenario(data), RunSettings(5000, seed=4))
    from scipy import stats

    rho = stats.spearmanr(sim.inputs["savings_realisation"], sim.inputs["start_delay"]).statistic
    assert rho == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("sampler", ["random", "lhs", "sobol"])
def test_a_single_path(sampler: str) -> None:
    scenario = parse_scenario(copy.deepcopy(default()))
    sim = simulate(scenario, RunSettings(1, seed=5, sampler=sampler))  # type: ignore[arg-type]
    assert sim.settings.paths == 1
    assert len(sim.per_path) == 1
    assert np.isfinite(sim.summary.loc["mean", "npv"])
    assert math.isnan(sim.summary.loc["sd", "npv"]) or sim.summary.loc["sd", "npv"] == 0.0


def test_outputs_equal_to_the_last_bits_still_chart() -> None:
    """Found by the end-to-end property test: a ramp starting at 5e-324 made every path's
    NPV equal to within a few bits, and numpy refused to cut that range into 30 bins."""
    from bondmodel.risk.simulate import fan_edges_from
    from bondmodel.workbook.riskcharts import histogram_range

    values = np.array([1.0, 1.0 + 2.0**-52, 1.0])
    lo, hi = histogram_range(values)
    counts, edges = np.histogram(values, bins=30, range=(lo, hi))
    assert counts.sum() == 3 and (np.diff(edges) > 0).all()
    edges = fan_edges_from(np.array([[5e-324], [0.0], [1e-320]]))
    assert (np.diff(edges, axis=1) > 0).all()
