"""API and unit tests of the engine: the public run, the Results shape, the
vectorised programme over paths, ramps, discounting, the timeline and the
payback and funding-need metrics."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

import bondmodel
from bondmodel.conventions import GREEN_BOOK_STPR
from bondmodel.dates import financial_year_start
from bondmodel.engine import Results
from bondmodel.labels import METRICS, PARTNER_COLUMNS, PERIOD_COLUMNS
from bondmodel.metrics import payback_years, peak_funding_need
from bondmodel.programme import Draws, ProgrammeFlows, programme_flows, ramp_fraction
from bondmodel.scenario import list_templates, template_path
from bondmodel.scenario.schema import ExplicitRamp, LinearRamp, SCurveRamp
from bondmodel.timeline import build_timeline, piecewise_discount_factors, years_between

FLOW_ARRAYS = [f.name for f in dataclasses.fields(ProgrammeFlows) if f.name != "appraisal_basis"]


def small_scenario(**overrides: Any) -> dict[str, Any]:
    """A two-partner annual scenario with every kind of flow; inflation 2%."""
    data: dict[str, Any] = {
        "meta": {"name": "engine test", "base_date": date(2026, 4, 1)},
        "timeline": {"start_date": date(2026, 4, 1), "horizon_years": 10},
        "economics": {"inflation": 0.02},
        "partners": [
            {"name": "A", "baseline_expenditure": 100_000_000},
            {"name": "B", "baseline_expenditure": 300_000_000},
        ],
        "costs": [
            {
                "name": "IT",
                "amount": 1_000_000,
                "category": "it",
                "timing": "spread",
                "periods": 2,
                "ob_mitigation": 0.5,
                "contingency": 0.1,
            },
            {"name": "Exit", "amount": 500_000, "category": "redundancy"},
        ],
        "running_costs": [{"name": "Licences", "annual_amount": 50_000, "start_year": 2}],
        "savings": [
            {
                "name": "Back office",
                "pct_of_expenditure": 0.01,
                "ramp": {"type": "linear", "years": 2},
                "start_delay_years": 1,
                "erosion": 0.01,
            },
            {
                "name": "Estate",
                "annual_amount": 200_000,
                "partners": ["B"],
                "allocation": "expenditure",
                "ramp": {"type": "s_curve", "years": 3},
            },
        ],
    }
    for key, value in overrides.items():
        data[key] = value
    return data


def run(data: dict[str, Any]) -> Results:
    return bondmodel.run(bondmodel.parse_scenario(data))


# ---------------------------------------------------------------------------
# The public API
# ---------------------------------------------------------------------------


def test_load_scenario_none_loads_the_default_template() -> None:
    default = bondmodel.load_scenario(None)
    assert isinstance(default, bondmodel.Scenario)
    from_file = bondmodel.load_scenario(template_path(bondmodel.scenario.DEFAULT_TEMPLATE))
    assert default == from_file
    assert default.sha256() == from_file.sha256()
    assert default.meta.name == "Four-council shared back office"


@pytest.mark.parametrize("template", list_templates())
def test_run_returns_results_with_the_labelled_columns(template: str) -> None:
    scenario = bondmodel.load_scenario(template_path(template))
    results = bondmodel.run(scenario)
    assert isinstance(results, Results)
    n_rows = scenario.timeline.n_periods + 1
    assert list(results.periods.columns) == list(PERIOD_COLUMNS)
    assert len(results.periods) == n_rows
    assert results.periods["period"].tolist() == list(range(n_rows))
    assert list(results.partners.columns) == list(PARTNER_COLUMNS)
    assert len(results.partners) == len(scenario.partners) * n_rows
    assert results.partners["partner"].unique().tolist() == scenario.partner_names
    assert list(results.metrics) == list(METRICS)
    assert list(results.partner_metrics) == scenario.partner_names
    for frame in (results.periods, results.partners):
        assert frame.index.tolist() == list(range(len(frame)))


@pytest.mark.parametrize("template", list_templates())
def test_summary_is_strict_json(template: str) -> None:
    results = bondmodel.run(bondmodel.load_scenario(template_path(template)))
    summary = results.summary()
    text = json.dumps(summary, allow_nan=False)
    back = json.loads(text)
    assert back["metrics"] == results.metrics
    assert back["scenario"]["sha256"] == results.scenario.sha256()
    assert back["scenario"]["periods"] == results.scenario.timeline.n_periods
    assert set(back["partners"]) == set(results.scenario.partner_names)


def test_summary_reports_undefined_metrics_as_null() -> None:
    # Savings and no costs at all: the BCR is undefined.
    no_costs = run(small_scenario(costs=[], running_costs=[]))
    assert no_costs.metrics["bcr"] is None
    assert no_costs.metrics["payback_years"] == 0.0
    assert json.loads(json.dumps(no_costs.summary(), allow_nan=False))["metrics"]["bcr"] is None
    # Costs and no savings: never paid back.
    no_savings = run(small_scenario(savings=[]))
    assert no_savings.metrics["payback_years"] is None
    assert no_savings.metrics["discounted_payback_years"] is None
    assert no_savings.metrics["bcr"] == 0.0
    text = json.dumps(no_savings.summary(), allow_nan=False)
    assert json.loads(text)["metrics"]["payback_years"] is None
    for pm in no_savings.partner_metrics.values():
        assert pm["payback_years"] is None


def test_scenario_is_frozen() -> None:
    scenario = bondmodel.load_scenario(None)
    with pytest.raises(ValidationError):
        scenario.meta = scenario.meta  # type: ignore[misc]
    with pytest.raises(ValidationError):
        scenario.timeline.horizon_years = 5  # type: ignore[misc]
    with pytest.raises(ValidationError):
        scenario.partners[0].baseline_expenditure = 1.0  # type: ignore[misc]
    with pytest.raises(ValidationError):
        scenario.economics.inflation = 0.5  # type: ignore[misc]
    assert scenario.timeline.horizon_years == 25


def test_scenario_lists_cannot_be_mutated() -> None:
    scenario = bondmodel.load_scenario(None)
    before = scenario.sha256()
    with pytest.raises((TypeError, AttributeError, ValidationError)):
        scenario.partners.append(scenario.partners[0])
    assert scenario.sha256() == before


# ---------------------------------------------------------------------------
# Draws and vectorisation over paths
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("paths", [1, 3])
def test_draws_central_shapes_and_values(paths: int) -> None:
    scenario = bondmodel.parse_scenario(small_scenario())
    draws = Draws.central(scenario, paths=paths)
    n_streams, n_items, n_partners = 2, 2, 2
    assert draws.n_paths == paths
    assert draws.savings_realisation.shape == (paths, n_streams)
    assert draws.partner_realisation.shape == (paths, n_partners)
    assert draws.start_delay_years.shape == (paths, n_streams)
    assert draws.ramp_speed.shape == (paths, n_streams)
    assert draws.erosion.shape == (paths, n_streams)
    assert draws.cost_factor.shape == (paths, n_items)
    assert draws.running_cost_factor.shape == (paths,)
    assert draws.inflation.shape == (paths, scenario.timeline.n_periods)
    assert (draws.savings_realisation == 1.0).all()
    assert (draws.cost_factor == 1.0).all()
    assert (draws.start_delay_years == np.array([1.0, 0.0])).all()
    assert (draws.erosion == np.array([0.01, 0.0])).all()
    assert (draws.inflation == 0.02).all()


def test_draws_central_with_no_streams_or_items() -> None:
    scenario = bondmodel.parse_scenario(small_scenario(costs=[], savings=[]))
    draws = Draws.central(scenario, paths=4)
    assert draws.savings_realisation.shape == (4, 0)
    assert draws.start_delay_years.shape == (4, 0)
    assert draws.erosion.shape == (4, 0)
    assert draws.cost_factor.shape == (4, 0)
    flows = programme_flows(scenario, build_timeline(scenario), draws)
    assert flows.gross_savings.shape == (4, scenario.timeline.n_periods + 1)
    assert (flows.gross_savings == 0.0).all()
    assert (flows.capex == 0.0).all()


@pytest.mark.parametrize("template", list_templates())
def test_paths_of_central_draws_equal_the_one_path_result(template: str) -> None:
    scenario = bondmodel.load_scenario(template_path(template))
    timeline = build_timeline(scenario)
    one = programme_flows(scenario, timeline, Draws.central(scenario, paths=1))
    five = programme_flows(scenario, timeline, Draws.central(scenario, paths=5))
    for name in FLOW_ARRAYS:
        a1, a5 = getattr(one, name), getattr(five, name)
        assert a5.shape == (5, *a1.shape[1:]), name
        for p in range(5):
            np.testing.assert_array_equal(a5[p], a1[0], err_msg=name)
    assert one.gross_savings.sum() > 0.0
    assert one.capex.sum() > 0.0


def test_batch_size_does_not_change_a_path_by_one_ulp() -> None:
    data = small_scenario(
        partners=[
            {"name": str(i), "baseline_expenditure": b} for i, b in enumerate([1, 1, 0.5, 1, 1])
        ],
        costs=[],
        running_costs=[],
        savings=[{"name": "s", "pct_of_expenditure": 0.5}],
    )
    data["timeline"] = {"start_date": date(2000, 1, 1), "horizon_years": 1, "frequency": "monthly"}
    data["meta"]["base_date"] = date(2000, 1, 1)
    scenario = bondmodel.parse_scenario(data)
    timeline = build_timeline(scenario)
    one = programme_flows(scenario, timeline, Draws.central(scenario, paths=1))
    three = programme_flows(scenario, timeline, Draws.central(scenario, paths=3))
    np.testing.assert_array_equal(three.stream_savings[0], one.stream_savings[0])
    np.testing.assert_array_equal(three.gross_savings[0], one.gross_savings[0])


def _paths_with(scenario: bondmodel.Scenario, paths: int, **rows: Any) -> ProgrammeFlows:
    """Flows for central draws where ``field=(path, value)`` overrides one path."""
    draws = Draws.central(scenario, paths=paths)
    changes = {}
    for field, (path, value) in rows.items():
        array = getattr(draws, field).copy()
        array[path] = value
        changes[field] = array
    draws = dataclasses.replace(draws, **changes)
    return programme_flows(scenario, build_timeline(scenario), draws)


def test_per_path_savings_realisation_scales_that_path_only() -> None:
    scenario = bondmodel.parse_scenario(small_scenario())
    flows = _paths_with(scenario, 3, savings_realisation=(1, 0.5))
    assert flows.gross_savings[0].sum() > 0.0
    np.testing.assert_allclose(flows.gross_savings[1], 0.5 * flows.gross_savings[0], rtol=1e-14)
    np.testing.assert_array_equal(flows.gross_savings[2], flows.gross_savings[0])
    np.testing.assert_array_equal(flows.capex[1], flows.capex[0])
    np.testing.assert_allclose(
        flows.partner_gross_savings[1], 0.5 * flows.partner_gross_savings[0], rtol=1e-14
    )


def test_per_path_cost_factor_gives_an_overrun_on_the_planned_cost() -> None:
    scenario = bondmodel.parse_scenario(small_scenario())
    flows = _paths_with(scenario, 3, cost_factor=(2, 1.2))
    planned = flows.capex_base + flows.capex_contingency + flows.capex_optimism_bias
    assert planned[2].sum() > 0.0
    np.testing.assert_allclose(flows.capex_overrun[2], 0.2 * planned[2], rtol=1e-12)
    np.testing.assert_allclose(flows.capex[2], 1.2 * planned[2], rtol=1e-12)
    assert (flows.capex_overrun[:2] == 0.0).all()
    np.testing.assert_array_equal(planned[2], planned[0])
    np.testing.assert_array_equal(flows.gross_savings[2], flows.gross_savings[0])


def test_per_path_cost_factor_applies_per_item() -> None:
    scenario = bondmodel.parse_scenario(small_scenario())
    # Only the second item ('Exit', 500,000 at close, no uplift) overruns by 50%.
    flows = _paths_with(scenario, 2, cost_factor=(1, [1.0, 1.5]))
    overrun = flows.capex_overrun[1]
    assert overrun[0] == pytest.approx(0.5 * 500_000, rel=1e-12)
    assert (overrun[1:] == 0.0).all()


def test_per_path_running_cost_factor_and_partner_realisation() -> None:
    scenario = bondmodel.parse_scenario(small_scenario())
    flows = _paths_with(
        scenario, 3, running_cost_factor=(1, 0.0), partner_realisation=(2, [0.0, 1.0])
    )
    assert flows.running_costs[0].sum() > 0.0
    assert (flows.running_costs[1] == 0.0).all()
    assert (flows.partner_gross_savings[2, 0] == 0.0).all()
    np.testing.assert_array_equal(
        flows.partner_gross_savings[2, 1], flows.partner_gross_savings[0, 1]
    )
    np.testing.assert_allclose(
        flows.gross_savings[2], flows.partner_gross_savings[0, 1], rtol=1e-14
    )


def test_per_path_start_delay_shifts_the_savings() -> None:
    # One stream, annual, 2% inflation: a delay one year longer gives the same
    # real saving one period later, so nominal savings shift and grow by 1.02.
    data = small_scenario(
        savings=[
            {
                "name": "s",
                "annual_amount": 1_000_000,
                "ramp": {"type": "linear", "years": 3},
                "start_delay_years": 1.0,
                "erosion": 0.05,
            }
        ]
    )
    scenario = bondmodel.parse_scenario(data)
    flows = _paths_with(scenario, 2, start_delay_years=(1, 2.0))
    base, later = flows.gross_savings
    assert later[2] == 0.0
    assert base[2] > 0.0
    np.testing.assert_allclose(later[2:], base[1:-1] * 1.02, rtol=1e-12)


def test_per_path_inflation_path_drives_the_price_index() -> None:
    scenario = bondmodel.parse_scenario(small_scenario())
    n = scenario.timeline.n_periods
    inflation = np.full(n, 0.02)
    inflation[3:] = 0.05
    flows = _paths_with(scenario, 2, inflation=(1, inflation))
    index = flows.price_index[1]
    expected = np.cumprod(np.concatenate([[1.0], 1.0 + inflation]))
    np.testing.assert_allclose(index, expected, rtol=1e-13)
    np.testing.assert_array_equal(flows.price_index[0, :4], index[:4])


# ---------------------------------------------------------------------------
# Ramps
# ---------------------------------------------------------------------------


def test_linear_ramp() -> None:
    ramp = LinearRamp(type="linear", years=4.0)
    tau = np.array([-1.0, 0.0, 1.0, 2.0, 4.0, 9.0])
    np.testing.assert_allclose(ramp_fraction(ramp, tau), [0.0, 0.0, 0.25, 0.5, 1.0, 1.0])


def test_linear_ramp_of_zero_years_is_immediate() -> None:
    ramp = LinearRamp(type="linear", years=0.0)
    tau = np.array([-1.0, 0.0, 1e-9, 0.5, 30.0])
    np.testing.assert_array_equal(ramp_fraction(ramp, tau), [0.0, 0.0, 1.0, 1.0, 1.0])


def test_explicit_ramp_holds_its_last_value() -> None:
    ramp = ExplicitRamp(type="explicit", fractions=[0.2, 0.5, 0.9])
    tau = np.array([-0.5, 0.0, 0.25, 1.0, 1.5, 2.0, 3.0, 3.5, 10.0, 100.0])
    expected = [0.0, 0.0, 0.2, 0.2, 0.5, 0.5, 0.9, 0.9, 0.9, 0.9]
    np.testing.assert_array_equal(ramp_fraction(ramp, tau), expected)


@pytest.mark.parametrize("years", [1.0, 3.0, 7.5])
@pytest.mark.parametrize("steepness", [1.0, 10.0, 40.0])
def test_s_curve_ramp(years: float, steepness: float) -> None:
    ramp = SCurveRamp(type="s_curve", years=years, steepness=steepness)
    tau = np.linspace(0.0, years, 101)
    r = ramp_fraction(ramp, tau)
    assert r[0] == 0.0
    assert r[-1] == pytest.approx(1.0, abs=1e-15)
    assert (np.diff(r) > 0.0).all()
    assert ramp_fraction(ramp, np.array([years / 2]))[0] == pytest.approx(0.5, abs=1e-12)
    # Symmetric about N/2: r(tau) + r(N - tau) = 1.
    np.testing.assert_allclose(r + r[::-1], 1.0, atol=1e-12)
    outside = ramp_fraction(ramp, np.array([-2.0, years + 1.0, years * 10]))
    np.testing.assert_allclose(outside, [0.0, 1.0, 1.0], atol=1e-15)


def test_s_curve_is_steeper_with_steepness() -> None:
    tau = np.array([1.0])  # a quarter of the way along
    gentle = ramp_fraction(SCurveRamp(type="s_curve", years=4.0, steepness=2.0), tau)[0]
    steep = ramp_fraction(SCurveRamp(type="s_curve", years=4.0, steepness=20.0), tau)[0]
    assert 0.0 < steep < gentle < 0.5


def test_s_curve_with_tiny_steepness_is_nearly_linear() -> None:
    ramp = SCurveRamp(type="s_curve", years=4.0, steepness=1e-17)
    with np.errstate(all="ignore"):
        r = ramp_fraction(ramp, np.array([0.0, 1.0, 2.0, 4.0]))
    np.testing.assert_allclose(r, [0.0, 0.25, 0.5, 1.0], atol=1e-6)


# ---------------------------------------------------------------------------
# Discounting
# ---------------------------------------------------------------------------


def test_green_book_factors_are_continuous_at_the_band_boundaries() -> None:
    df30 = 1.035**-30
    df75 = df30 * 1.03**-45
    eps = 1e-9
    years = np.array(
        [0.0, 1.0, 30.0 - eps, 30.0, 30.0 + eps, 31.0, 75.0 - eps, 75.0, 75.0 + eps, 76.0]
    )
    df = piecewise_discount_factors(years, GREEN_BOOK_STPR)
    assert df[0] == 1.0
    assert df[1] == pytest.approx(1 / 1.035, rel=1e-14)
    assert df[3] == pytest.approx(df30, rel=1e-13)
    assert df[2] == pytest.approx(df30, rel=1e-9)
    assert df[4] == pytest.approx(df30, rel=1e-9)
    assert df[5] == pytest.approx(df30 / 1.03, rel=1e-13)
    assert df[7] == pytest.approx(df75, rel=1e-13)
    assert df[6] == pytest.approx(df75, rel=1e-9)
    assert df[8] == pytest.approx(df75, rel=1e-9)
    assert df[9] == pytest.approx(df75 / 1.025, rel=1e-13)
    assert (np.diff(df) < 0.0).all()


def test_green_book_factors_beyond_the_last_band() -> None:
    years = np.array([300.0, 301.0])
    df = piecewise_discount_factors(years, GREEN_BOOK_STPR)
    expected = 1.035**-30 * 1.03**-45 * 1.025**-50 * 1.02**-75 * 1.015**-100
    assert df[0] == pytest.approx(expected, rel=1e-12)
    assert df[1] == pytest.approx(expected / 1.01, rel=1e-12)


def test_flat_and_nominal_discount_factors_in_the_run() -> None:
    flat = run(
        small_scenario(
            economics={"inflation": 0.02, "discount_basis": "flat", "discount_rate": 0.05}
        )
    )
    years = flat.periods["years"].to_numpy()
    np.testing.assert_allclose(flat.periods["discount_factor"], 1.05**-years, rtol=1e-14)
    nominal = run(small_scenario(economics={"inflation": 0.02, "appraisal_basis": "nominal"}))
    np.testing.assert_allclose(
        nominal.periods["discount_factor"], (1.035 * 1.02) ** -years, rtol=1e-12
    )


# ---------------------------------------------------------------------------
# Timeline
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("earlier", "later", "expected"),
    [
        (date(2025, 4, 1), date(2026, 4, 1), 1.0),
        (date(2026, 4, 1), date(2026, 4, 1), 0.0),
        (date(2020, 2, 29), date(2024, 2, 29), 4.0),
        (date(2016, 6, 30), date(2026, 6, 30), 10.0),
        (date(2026, 1, 15), date(2026, 7, 15), 0.5),
        (date(2026, 4, 1), date(2026, 4, 16), 15 / 30 / 12),
    ],
)
def test_years_between(earlier: date, later: date, expected: float) -> None:
    assert years_between(earlier, later) == expected


def _timeline(start: date, frequency: str = "annual", align: bool = True, horizon: int = 3):
    scenario = bondmodel.parse_scenario(
        {
            "meta": {"name": "t", "base_date": date(2020, 1, 1)},
            "timeline": {
                "start_date": start,
                "frequency": frequency,
                "horizon_years": horizon,
                "align_to_financial_year": align,
            },
            "partners": [{"name": "A", "baseline_expenditure": 1.0}],
        }
    )
    return build_timeline(scenario)


def test_financial_year_alignment_and_labels() -> None:
    annual = _timeline(date(2026, 9, 15))
    assert annual.close_date == date(2026, 4, 1)
    assert annual.labels == ["Close", "2026/27", "2027/28", "2028/29"]
    assert annual.period_start[1] == date(2026, 4, 1)
    assert annual.period_end[1] == date(2027, 3, 31)
    quarterly = _timeline(date(2026, 9, 15), "quarterly")
    assert quarterly.labels[:6] == [
        "Close",
        "2026/27 Q1",
        "2026/27 Q2",
        "2026/27 Q3",
        "2026/27 Q4",
        "2027/28 Q1",
    ]
    assert quarterly.period_end[1] == date(2026, 6, 30)
    monthly = _timeline(date(2026, 9, 15), "monthly")
    assert monthly.labels[1] == "2026/27 M01"
    assert monthly.labels[12] == "2026/27 M12"
    assert monthly.labels[13] == "2027/28 M01"
    semi = _timeline(date(2026, 9, 15), "semi-annual")
    assert semi.labels[1:4] == ["2026/27 H1", "2026/27 H2", "2027/28 H1"]
    # January to March belong to the financial year that began the April before.
    assert _timeline(date(2027, 2, 10)).close_date == date(2026, 4, 1)
    assert financial_year_start(date(2027, 3, 31)) == date(2026, 4, 1)
    assert financial_year_start(date(2027, 4, 1)) == date(2027, 4, 1)


def test_unaligned_timeline() -> None:
    tl = _timeline(date(2026, 9, 15), "quarterly", align=False)
    assert tl.close_date == date(2026, 9, 15)
    assert tl.labels[:6] == ["Close", "Y1 Q1", "Y1 Q2", "Y1 Q3", "Y1 Q4", "Y2 Q1"]
    assert tl.period_start[1] == date(2026, 9, 15)
    assert tl.period_end[1] == date(2026, 12, 14)
    np.testing.assert_array_equal(tl.years, np.arange(13) / 4)
    np.testing.assert_array_equal(tl.programme_year, [0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3])
    assert _timeline(date(2026, 9, 15), "monthly", align=False).labels[1] == "Y1 M01"


def test_price_offset_from_base_date_to_close() -> None:
    data = small_scenario()
    data["meta"]["base_date"] = date(2024, 4, 1)
    results = run(data)
    assert results.timeline.price_offset_years == 2.0
    assert results.periods["price_index"].iloc[0] == pytest.approx(1.02**2, rel=1e-14)
    # Aligned close before the base date: a negative offset.
    data = small_scenario()
    data["meta"]["base_date"] = date(2026, 10, 1)
    data["timeline"] = {
        "start_date": date(2026, 10, 1),
        "horizon_years": 2,
        "align_to_financial_year": True,
    }
    results = run(data)
    assert results.timeline.close_date == date(2026, 4, 1)
    assert results.timeline.price_offset_years == -0.5


@pytest.mark.parametrize(
    ("start", "frequency", "period", "end"),
    [
        # Monthly from 31 January: period 12 ends the day before 31 January 2027.
        (date(2026, 1, 31), "monthly", 12, date(2027, 1, 30)),
        # Annual from 29 February 2028: period 4 ends the day before 29 February 2032.
        (date(2028, 2, 29), "annual", 4, date(2032, 2, 28)),
        # Quarterly from 30 November: period 4 ends the day before 30 November.
        (date(2026, 11, 30), "quarterly", 4, date(2027, 11, 29)),
    ],
)
def test_period_dates_stay_on_the_close_anniversary(
    start: date, frequency: str, period: int, end: date
) -> None:
    tl = _timeline(start, frequency, align=False, horizon=5)
    assert tl.period_end[period] == end
    # Periods tile the calendar: each starts the day after the previous one ends.
    for t in range(2, tl.n_periods + 1):
        assert tl.period_start[t] == tl.period_end[t - 1] + timedelta(days=1)


# ---------------------------------------------------------------------------
# Payback and peak funding need
# ---------------------------------------------------------------------------


def test_payback_never_negative_is_zero() -> None:
    years = np.array([0.0, 1.0, 2.0])
    assert payback_years(np.array([0.0, 5.0, 10.0]), years) == 0.0


def test_payback_never_recovered_is_nan() -> None:
    years = np.array([0.0, 1.0, 2.0])
    assert math.isnan(float(payback_years(np.array([-1.0, -2.0, -3.0]), years)))
    assert math.isnan(float(payback_years(np.array([5.0, 1.0, -0.5]), years)))


def test_payback_crossing_is_interpolated() -> None:
    years = np.array([0.0, 1.0, 2.0])
    assert payback_years(np.array([-100.0, -40.0, 20.0]), years) == pytest.approx(1 + 40 / 60)


def test_payback_uses_the_last_crossing_and_period_length() -> None:
    # Dips back below zero in period 2: payback is in period 3 (quarterly).
    years = np.array([0.0, 0.25, 0.5, 0.75])
    assert payback_years(np.array([-10.0, 5.0, -1.0, 4.0]), years) == pytest.approx(0.5 + 0.05)
    # Reaching exactly zero counts as paid back.
    assert payback_years(np.array([-10.0, 0.0, 3.0]), np.array([0.0, 1.0, 2.0])) == 1.0


def test_payback_is_vectorised_over_paths() -> None:
    years = np.array([0.0, 1.0, 2.0])
    cumulative = np.array([[0.0, 5.0, 10.0], [-1.0, -2.0, -3.0], [-100.0, -40.0, 20.0]])
    out = payback_years(cumulative, years)
    assert out.shape == (3,)
    assert out[0] == 0.0
    assert math.isnan(out[1])
    assert out[2] == pytest.approx(1 + 40 / 60)


def test_peak_funding_need() -> None:
    peak, period = peak_funding_need(np.array([[-10.0, -50.0, 100.0, -70.0]]))
    # cumulative -10, -60, 40, -30: the deepest deficit is 60, in period 1.
    assert peak.tolist() == [60.0]
    assert period.tolist() == [1.0]
    peak, period = peak_funding_need(np.array([[5.0, 1.0, -3.0], [-4.0, 1.0, 3.0]]))
    # cumulative 5, 6, 3 never in deficit; -4, -3, 0 deepest at close.
    assert peak.tolist() == [0.0, 4.0]
    assert period.tolist() == [0.0, 0.0]


def test_run_metrics_match_the_period_table() -> None:
    results = run(small_scenario())
    p, m = results.periods, results.metrics
    peak, period = peak_funding_need(p["net_cash_flow"].to_numpy())
    assert m["peak_funding_need"] == pytest.approx(float(peak), rel=1e-12)
    assert m["peak_funding_period"] == float(period)
    assert m["peak_funding_need"] > 0.0
    cumulative = np.cumsum(p["net_cash_flow_real"].to_numpy())
    expected = float(payback_years(cumulative, p["years"].to_numpy()))
    assert m["payback_years"] == pytest.approx(expected, rel=1e-12)
    assert 0.0 < m["payback_years"] <= 10.0


# ---------------------------------------------------------------------------
# Savings allocation
# ---------------------------------------------------------------------------


def test_named_partners_share_by_renormalised_savings_shares() -> None:
    partners = [
        {"name": "A", "baseline_expenditure": 100.0, "savings_share": 0.2},
        {"name": "B", "baseline_expenditure": 100.0, "savings_share": 0.3},
        {"name": "C", "baseline_expenditure": 200.0, "savings_share": 0.5},
    ]
    data = small_scenario(
        economics={"inflation": 0.0},
        partners=partners,
        savings=[{"name": "s", "annual_amount": 700.0, "partners": ["A", "C"]}],
    )
    results = run(data)
    gross = results.flows.partner_gross_savings[0][:, 1]
    np.testing.assert_allclose(gross, [200.0, 0.0, 500.0], rtol=1e-14)
    # All named partners with a zero savings share: split by expenditure instead.
    partners[0]["savings_share"], partners[1]["savings_share"] = 0.0, 0.0
    partners[2]["savings_share"] = 1.0
    data["savings"][0]["partners"] = ["A", "B"]
    gross = run(data).flows.partner_gross_savings[0][:, 1]
    np.testing.assert_allclose(gross, [350.0, 350.0, 0.0], rtol=1e-14)


def test_named_partners_set_the_base_and_the_expenditure_allocation() -> None:
    data = small_scenario(
        economics={"inflation": 0.0},
        savings=[
            {"name": "s", "pct_of_expenditure": 0.1, "partners": ["A"], "allocation": "expenditure"}
        ],
    )
    results = run(data)
    gross = results.partners.pivot(index="period", columns="partner", values="gross_savings")
    np.testing.assert_allclose(gross["A"].iloc[1:], 0.1 * 100_000_000, rtol=1e-14)
    assert (gross["B"] == 0.0).all()


def test_a_partner_named_twice_is_not_counted_twice() -> None:
    stream = {"name": "s", "pct_of_expenditure": 0.1, "allocation": "expenditure"}
    once = small_scenario(economics={"inflation": 0.0}, savings=[{**stream, "partners": ["A"]}])
    try:
        twice = run(
            small_scenario(
                economics={"inflation": 0.0}, savings=[{**stream, "partners": ["A", "A"]}]
            )
        )
    except bondmodel.ScenarioError:
        return  # rejecting the duplicate is also a fix
    np.testing.assert_allclose(
        twice.periods["gross_savings"], run(once).periods["gross_savings"], rtol=1e-14
    )


def test_period_boundaries_count_months_as_pandas_does() -> None:
    # dates.py counts months without pandas (so validating a scenario does not import it):
    # the same dates as pandas' DateOffset, month ends and leap years included
    import pandas as pd

    from bondmodel.dates import period_boundaries

    closes = [
        date(2024, 1, 31),
        date(2023, 2, 28),
        date(2024, 2, 29),
        date(2025, 8, 31),
        date(2026, 4, 1),
        date(1999, 12, 31),
        date(2030, 5, 30),
    ]
    for close in closes:
        for f in (1, 2, 4, 12):
            expected = [
                (pd.Timestamp(close) + pd.DateOffset(months=k * 12 // f)).date() for k in range(61)
            ]
            assert period_boundaries(close, f, 60) == expected, (close, f)
