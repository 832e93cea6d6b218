"""Structure design tools: compare and sweep on common random numbers.

Identical structures compare identically; a sweep's cells equal individual
runs; and a sweep is bit-identical on local processes and a Dask cluster.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest

from bondmodel import load_scenario
from bondmodel.cli import main
from bondmodel.design.measures import SharedDraws, evaluate, parse_constraint, parse_measure
from bondmodel.design.study import compare, sweep
from bondmodel.design.variation import parse_vary, with_value
from bondmodel.errors import ScenarioError

SEED = 20261129
PATHS = 3000


def test_identical_structures_compare_identically() -> None:
    scenario = load_scenario(None)
    result = compare([("A", scenario), ("B", scenario)], SharedDraws(PATHS, SEED))
    assert result.rows
    for row in result.rows:
        a, b = row.values
        assert a == b or (math.isnan(a) and math.isnan(b)), row.measure
        assert row.best == ()
    assert result.beats == [[0.0, 0.0], [0.0, 0.0]]
    assert result.curves["A"] == result.curves["B"]
    assert result.statements() == []


def test_common_random_numbers_separate_structure_from_noise() -> None:
    """Two coupons on the same draws: the programme is path-by-path identical."""
    scenario = load_scenario(None)
    dearer = with_value(scenario, "bond.coupon.rate", 0.07)
    result = compare([("5.25%", scenario), ("7%", dearer)], SharedDraws(PATHS, SEED))
    a, b = result.evaluations
    assert a.results.risk is not None and b.results.risk is not None
    np.testing.assert_array_equal(a.per_path("npv"), b.per_path("npv"))
    # a dearer coupon costs the council on every single path
    assert result.beats[0][1] == 1.0 and result.beats[1][0] == 0.0
    council = next(r for r in result.rows if r.measure == "P50(council_npv)")
    assert council.best == (0,)
    assert "5.25% has the highest P50(council_npv)" in result.statements()


def test_a_sweep_cell_equals_its_individual_run() -> None:
    scenario = load_scenario(None)
    variations = [
        parse_vary("bond.coupon.rate=0.045:0.055:0.01", scenario),
        parse_vary("bond.tenor_years=8,12", scenario),
    ]
    assert variations[0].values == (0.045, 0.055)
    assert variations[1].values == (8.0, 12.0)
    result = sweep(scenario, variations, SharedDraws(PATHS, SEED))
    assert result.cells == [(0.045, 8.0), (0.045, 12.0), (0.055, 8.0), (0.055, 12.0)]
    for k, (rate, tenor) in enumerate(result.cells):
        alone = evaluate(
            "alone",
            with_value(with_value(scenario, "bond.coupon.rate", rate), "bond.tenor_years", tenor),
            SharedDraws(PATHS, SEED),
        )
        for row in result.rows:
            value, _ = parse_measure(row.measure).value(alone)
            assert value == row.values[k] or (math.isnan(value) and math.isnan(row.values[k]))
    maps = result.heatmaps()
    grid = maps["P50(council_npv)"]["values"]
    assert len(grid) == 2 and len(grid[0]) == 2
    # a dearer coupon lowers the council's median NPV at either tenor
    assert grid[1][0] < grid[0][0] and grid[1][1] < grid[0][1]


def _sweep_values(**options: Any) -> list[tuple[float, ...]]:
    scenario = load_scenario(None)
    result = sweep(
        scenario,
        [parse_vary("bond.coupon.rate=0.04,0.06", scenario)],
        SharedDraws(10_000, SEED, **options),
    )
    return [row.values for row in result.rows]


def test_sweep_is_bit_identical_on_processes_and_dask() -> None:
    distributed = pytest.importorskip("distributed")
    serial = _sweep_values()
    assert _sweep_values(workers=2) == serial
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        assert _sweep_values(scheduler=cluster.scheduler_address) == serial


def test_measures_and_constraints_parse_and_refuse_clearly() -> None:
    m = parse_measure("P90(min_dscr)")
    assert (m.kind, m.metric, m.percentile) == ("percentile", "min_dscr", 90.0)
    assert parse_measure("P(npv < -5e6)").level == -5e6
    c = parse_constraint("P(investor_loss) <= 0.05")
    assert (c.op, c.bound, c.measure.kind) == ("<=", 0.05, "prob")
    assert c.margin(0.02) == pytest.approx(0.03)
    for bad in ("P90(min_dscr) = 1.2", "P200(npv) >= 0", "median(npv) >= 0"):
        with pytest.raises(ScenarioError):
            parse_constraint(bad)
    with pytest.raises(ScenarioError, match="fields: "):
        with_value(load_scenario(None), "bond.coupon.rat", 0.05)
    with pytest.raises(ScenarioError, match=r"bond\.coupon\.rate"):
        with_value(load_scenario(None), "bond.coupon.rate", 5.0)
    with pytest.raises(ScenarioError, match="LO <= HI"):
        parse_vary("bond.coupon.rate=0.07:0.03:0.01", load_scenario(None))


def test_compare_and_sweep_commands_write_workbooks_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = Path(__file__).resolve().parents[1] / "templates" / "shared-services.toml"
    text = template.read_text(encoding="utf-8")
    eip = tmp_path / "eip.toml"
    eip.write_text(
        text.replace('repayment = { type = "annuity" }', 'repayment = { type = "eip" }'),
        encoding="utf-8",
    )
    out = tmp_path / "cmp.xlsx"
    assert (
        main(
            [
                "compare",
                str(template),
                str(eip),
                "-o",
                str(out),
                "--paths",
                "2000",
                "--seed",
                "5",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert [s["label"] for s in data["structures"]] == ["shared-services", "eip"]
    assert data["seed"] == 5 and data["paths"] == 2000
    assert set(data["s_curves"]) == {"percentiles", "shared-services", "eip"}
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Comparison", "S-curves", "Path by path", "Audit"]
    assert wb["S-curves"]._charts  # a native chart, not a picture
    sweep_out = tmp_path / "sweep.xlsx"
    assert (
        main(
            [
                "sweep",
                str(template),
                "--vary",
                "bond.coupon.rate=0.04,0.05",
                "--vary",
                "bond.tenor_years=8,10",
                "-o",
                str(sweep_out),
                "--paths",
                "1000",
                "--seed",
                "5",
                "--measure",
                "P50(council_npv)",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert len(data["table"]) == 4
    assert data["heatmaps"]["P50(council_npv)"]["columns"]["values"] == [8.0, 10.0]
    assert openpyxl.load_workbook(sweep_out).sheetnames == ["Sweep", "Heat maps", "Audit"]
    # bad input: exit 2, nothing written, no traceback
    assert (
        main(
            [
                "sweep",
                str(template),
                "--vary",
                "bond.coupn.rate=0.04,0.05",
                "-o",
                str(tmp_path / "x.xlsx"),
            ]
        )
        == 2
    )
    assert main(["compare", str(template), "-o", str(tmp_path / "y.xlsx")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "at least two scenarios" in err
    assert not (tmp_path / "x.xlsx").exists() and not (tmp_path / "y.xlsx").exists()


# ---------------------------------------------------------------------------
# Solve
# ---------------------------------------------------------------------------


def _annuity_case(make_scenario: Any) -> Any:
    """A flat saving S a year from year 1 and a 10-year 6% annuity bond, no fees or reserve."""
    return make_scenario(
        timeline={"horizon_years": 12},
        savings=[
            {
                "name": "flat",
                "annual_amount": 1_000_000.0,
                "indexation": "none",
                "ramp": {"type": "linear", "years": 0.0},
            }
        ],
        bond={
            "principal": 5_000_000.0,
            "tenor_years": 10.0,
            "coupon": {"type": "fixed", "rate": 0.06},
            "repayment": {"type": "annuity"},
        },
    )


def test_solve_finds_the_principal_an_annuity_can_carry_at_a_target_dscr(
    make_scenario: Any,
) -> None:
    from bondmodel.design.solve import solve

    scenario = _annuity_case(make_scenario)
    # DSCR = S / (P i / (1 - (1+i)^-n)) >= 1.25  <=>  P <= S (1 - 1.06^-10) / (0.06 x 1.25)
    expected = 1_000_000.0 * (1.0 - 1.06**-10) / (0.06 * 1.25)
    assert expected == pytest.approx(5_888_069.64, abs=0.01)  # 1.06^-10 = 0.5583948
    for text in ("min_dscr >= 1.25", "P50(min_dscr) >= 1.25"):
        result = solve(
            scenario,
            "bond.principal",
            [parse_constraint(text)],
            True,
            SharedDraws(0, SEED),
            bounds=(1e6, 1e7),
            tolerance=1e-3,
        )
        assert result.feasible and result.answer is not None
        assert result.answer == pytest.approx(expected, abs=0.01)
        assert result.binding == text
        assert result.at_answer is not None
        assert result.at_answer.margins(result.constraints)[0] >= 0.0


def test_solve_finds_the_coupon_that_gives_investors_their_return(make_scenario: Any) -> None:
    """Full recourse, repaid at par: the investor IRR is the coupon, so the answer is 6%."""
    from bondmodel.design.solve import solve

    scenario = _annuity_case(make_scenario)
    result = solve(
        scenario,
        "bond.coupon.rate",
        [parse_constraint("investor_irr >= 0.06")],
        False,
        SharedDraws(0, SEED),
        tolerance=1e-9,
    )
    assert result.feasible and result.answer == pytest.approx(0.06, abs=1e-8)
    assert (result.low, result.high) == (0.0, 0.15)  # the default range for a rate


def test_solve_respects_each_constraint_type_under_risk() -> None:
    from bondmodel.design.solve import solve

    scenario = load_scenario(None)
    constraints = [
        parse_constraint(t)
        for t in (
            "P(investor_loss) <= 0.05",
            "P10(min_dscr) >= 1.0",
            "P50(council_npv) >= 0",
            "council_npv_vs_pwlb >= -1e9",
        )
    ]
    result = solve(scenario, "bond.principal", constraints, True, SharedDraws(2000, SEED))
    assert result.feasible and result.answer is not None and result.at_answer is not None
    assert all(m >= 0 for m in result.at_answer.margins(constraints))
    assert result.binding == "P10(min_dscr) >= 1.0"
    assert result.ci is not None and result.ci[0] < result.answer < result.ci[1]
    # just above the answer the binding constraint fails, on the same draws
    above = evaluate(
        "above",
        with_value(scenario, "bond.principal", result.answer * 1.01),
        SharedDraws(2000, SEED),
    )
    value, _ = constraints[1].measure.value(above)
    assert value < 1.0


def test_infeasible_problems_say_so_with_the_best_achievable(
    make_scenario: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bondmodel.design.solve import solve

    scenario = _annuity_case(make_scenario)
    result = solve(
        scenario,
        "bond.principal",
        [parse_constraint("min_dscr >= 100")],
        True,
        SharedDraws(0, SEED),
        bounds=(1e6, 1e7),
    )
    assert not result.feasible and result.exit_code == 1
    ((text, value, at),) = result.best_achievable()
    assert text == "min_dscr >= 100"
    # the best DSCR is at the smallest principal: S / (1e6 x annuity factor)
    assert at == 1e6
    assert value == pytest.approx(1_000_000.0 / (1e6 * 0.06 / (1 - 1.06**-10)), rel=1e-9)
    from bondmodel.design.text import solution_text

    assert solution_text(result, scenario).startswith("INFEASIBLE")
    toml = tmp_path / "annuity.toml"
    from bondmodel.scenario.export import scenario_toml

    toml.write_text(scenario_toml(scenario), encoding="utf-8")
    assert (
        main(
            [
                "solve",
                str(toml),
                "--find",
                "bond.principal",
                "--maximise",
                "--constraint",
                "min_dscr >= 100",
                "--range",
                "1e6:1e7",
                "--paths",
                "0",
                "-o",
                str(tmp_path / "s.xlsx"),
                "--json",
            ]
        )
        == 1
    )
    data = json.loads(capsys.readouterr().out)
    assert data["feasible"] is False and data["best_achievable"][0]["at"] == 1e6
    assert (
        main(
            [
                "solve",
                str(toml),
                "--find",
                "bond.principal",
                "--maximise",
                "--constraint",
                "min_dscr >= 1.25",
                "--range",
                "1e6:1e7",
                "--paths",
                "0",
                "--tolerance",
                "0.001",
                "-o",
                str(tmp_path / "s.xlsx"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "largest principal (bond.principal) meeting every constraint: £5,888,070 (5888069.6" in out
    )
    assert "no Monte Carlo uncertainty" in out
    assert openpyxl.load_workbook(tmp_path / "s.xlsx").sheetnames == ["Solution", "Search", "Audit"]


# ---------------------------------------------------------------------------
# Partnerships
# ---------------------------------------------------------------------------


def test_partners_share_the_bond_and_their_outcomes_add_up() -> None:
    from bondmodel import run

    results = run(load_scenario(None), paths=PATHS, seed=SEED)
    assert results.bond is not None and results.risk is not None
    pm = results.partner_metrics
    council = results.bond.metrics["council_npv"]
    assert council is not None
    total = sum(float(v["npv_after_debt_service"] or 0.0) for v in pm.values())
    assert total == pytest.approx(council, rel=1e-12)
    for name, v in pm.items():
        assert v["debt_service_share"] == v["cost_share"], name
    # path by path, the partners' NPVs after debt service add up to the council's
    per_path = results.risk.per_path
    partner_cols = [c for c in per_path.columns if c.startswith("partner_npv_")]
    assert len(partner_cols) == 4
    np.testing.assert_allclose(
        per_path[partner_cols].sum(axis=1), per_path["council_npv"], rtol=1e-12
    )
    # who carries the risk: a probability of a negative NPV for each partner
    probs = results.risk.probabilities
    assert all(f"p_{c}_negative" in probs.index for c in partner_cols)
    # the spread across partners is a measure like any other
    ev = evaluate("base", load_scenario(None), SharedDraws(PATHS, SEED))
    value, se = parse_measure("P10(partner_npv_1)").value(ev)
    assert value == pytest.approx(float(np.percentile(per_path["partner_npv_1"], 10)))
    assert se > 0


def test_a_partner_leaving_shows_in_a_comparison() -> None:
    scenario = load_scenario(None)
    leaves = with_value(scenario, "partners[1].exit_year", 5.0)
    result = compare(
        [("all stay", scenario), ("Eastbrook leaves", leaves)], SharedDraws(PATHS, SEED)
    )
    stay, go = result.evaluations
    # the same draws: losing a partner's savings lowers the council NPV on every path
    assert result.beats[0][1] == 1.0
    p50 = next(r for r in result.rows if r.measure == "P50(council_npv)")
    assert p50.values[1] < p50.values[0]
    shortfall = next(r for r in result.rows if r.measure == "P(shortfall)")
    assert shortfall.values[1] >= shortfall.values[0]
    # the leaver keeps its share of costs and debt service but loses its savings
    name = scenario.partner_names[1]
    assert (go.results.partner_metrics[name]["npv_after_debt_service"] or 0.0) < (
        stay.results.partner_metrics[name]["npv_after_debt_service"] or 0.0
    )


def test_solve_searches_whole_valid_years_by_default_for_a_tenor() -> None:
    """The default range of a tenor is whole years the scenario accepts (within the horizon,
    beyond the grace period): every grid point is evaluated, none is refused, and the
    answer is a whole year."""
    from bondmodel.design.solve import solve
    from bondmodel.design.variation import field_domain

    scenario = load_scenario(None)
    assert scenario.bond is not None
    domain = field_domain(scenario, "bond.tenor_years")
    assert domain.step == 1.0 and domain.low == 0.0 and domain.low_open
    solution = solve(
        scenario,
        "bond.tenor_years",
        [parse_constraint("P90(min_dscr) >= 1.2")],
        False,
        SharedDraws(1000, 1),
    )
    assert solution.low >= 1 and solution.high <= scenario.timeline.horizon_years
    assert all(p.error is None and p.x == int(p.x) for p in solution.grid), solution.grid
    assert solution.feasible and solution.answer == int(solution.answer or 0.5)
    # every whole year in the range is valid; the year beyond the range is not
    with pytest.raises(ScenarioError):
        with_value(scenario, "bond.tenor_years", solution.high + 1)


def test_solve_says_why_no_point_could_be_evaluated() -> None:
    """A range in which every value is invalid: the reason is the first point's validation
    error, not an 'undefined' measure."""
    from bondmodel.design.solve import solve

    scenario = load_scenario(None)
    solution = solve(
        scenario,
        "bond.tenor_years",
        [parse_constraint("P50(npv) >= 0")],
        True,
        SharedDraws(0, 1),
        (60.0, 70.0),
    )
    assert not solution.feasible
    from bondmodel.design.text import solution_text

    text = solution_text(solution, scenario)
    assert "could be evaluated" in text and "bond.tenor_years = 60" in text
    assert "horizon" in text, text  # the schema's own message: beyond the horizon
    assert "undefined" not in text
