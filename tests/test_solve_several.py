"""``solve --objective``: several fields searched at once by differential evolution.

Two known optima: one worked by hand (a vertex of two constraints, on the base case), one
found by brute force over every structure of a small lattice on the same draws (Monte
Carlo constraints, whole-number fields). Then: the same seed gives the same search bit
for bit, on one process, local processes and a Dask cluster.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bondmodel import load_scenario
from bondmodel.cli import main
from bondmodel.design.measures import SharedDraws, evaluate, parse_constraint, parse_measure
from bondmodel.design.optimise import Field, optimise, search_fields
from bondmodel.design.variation import with_value
from bondmodel.errors import ScenarioError
from bondmodel.scenario.export import scenario_toml

from .conftest import ROOT
from .test_design import _annuity_case  # the one-field solve's reference case

SEED = 20261130
TEMPLATE = ROOT / "templates" / "shared-services.toml"


def test_two_fields_reach_the_hand_worked_vertex_of_two_constraints(make_scenario: Any) -> None:
    """Maximise the principal P over P and the coupon r, subject to min DSCR >= 1.25 and
    investor IRR >= 6%.

    Repaid at par with full recourse, the investors' IRR is the coupon, so r >= 0.06. The
    DSCR is S / (P r / (1 - (1+r)^-10)), so P <= P*(r) = S (1 - (1+r)^-10) / (1.25 r),
    which falls as r rises: the optimum is the vertex r = 0.06, P = P*(0.06) = £5,888,069.64
    (1.06^-10 = 0.5583948), where both constraints bind.

    Tolerance: every feasible structure has P <= P*(0.06), so the answer can only fall
    short; it must be within 0.1% (£5,900, 0.07% of the range's width), far closer than a
    grid of 100 steps over the range (£90,000) or any corner of it could come, and both
    constraints must be found binding.
    """
    scenario = _annuity_case(make_scenario)
    optimum = 1_000_000.0 * (1.0 - 1.06**-10) / (0.06 * 1.25)
    assert optimum == pytest.approx(5_888_069.64, abs=0.01)
    draws = SharedDraws(0, SEED)
    fields = search_fields(
        scenario, ["bond.principal", "bond.coupon.rate"], [(1e6, 1e7), (0.03, 0.09)], draws
    )
    constraints = [parse_constraint("min_dscr >= 1.25"), parse_constraint("investor_irr >= 0.06")]
    result = optimise(
        scenario, fields, parse_measure("principal"), True, constraints, draws, population=6
    )
    assert result.answer is not None and result.exit_code == 0
    principal, rate = result.answer.x
    assert all(m >= 0 for m in result.answer.margins(constraints))
    assert optimum * (1 - 1e-3) <= principal <= optimum * (1 + 1e-12)
    assert rate == pytest.approx(0.06, abs=1e-4)
    assert result.answer.objective == (principal, 0.0)  # a base-case measure: no s.e.
    assert result.binding == [c.text for c in constraints]
    # every structure was run once, and the count is the model runs the report states
    assert len({t.x for t in result.trials}) == result.evaluations == len(result.trials)
    assert result.as_json()["evaluations"] == result.evaluations


def _lattice_problem() -> tuple[Any, list[Field], Any, list[Any], SharedDraws]:
    scenario = load_scenario(None)
    draws = SharedDraws(200, SEED)
    fields = search_fields(
        scenario, ["bond.grace_years", "bond.tenor_years"], [(1, 4), (6, 12)], draws
    )
    objective = parse_measure("P50(council_npv)")
    constraints = [parse_constraint("P10(min_dscr) >= 1.5")]
    return scenario, fields, objective, constraints, draws


def test_two_whole_fields_find_the_brute_force_optimum_on_the_same_draws() -> None:
    """Grace 1-4 and tenor 6-12 years (28 structures): maximise the council's median NPV
    with a P10 minimum DSCR of at least 1.5. Every structure is also run directly on the
    same draws; the search must return the best feasible one exactly (a lattice has no
    rounding to allow for), and that one must differ from the best without the
    constraint, so the constraint really decides."""
    scenario, fields, objective, constraints, draws = _lattice_problem()
    assert [f.whole for f in fields] == [True, True]
    result = optimise(scenario, fields, objective, True, constraints, draws)
    grid: dict[tuple[float, float], tuple[float, bool]] = {}
    for grace in range(1, 5):
        for tenor in range(6, 13):
            changed = with_value(
                with_value(scenario, "bond.grace_years", float(grace)),
                "bond.tenor_years",
                float(tenor),
            )
            ev = evaluate("grid", changed, draws)
            value, _ = constraints[0].measure.value(ev)
            grid[(grace, tenor)] = (objective.value(ev)[0], value >= 1.5)
    feasible = {k: v for k, (v, ok) in grid.items() if ok}
    assert 0 < len(feasible) < len(grid)
    best = max(feasible, key=lambda k: feasible[k])
    unconstrained = max(grid, key=lambda k: grid[k][0])
    assert best != unconstrained
    assert result.answer is not None
    assert result.answer.x == (float(best[0]), float(best[1]))
    assert result.answer.objective[0] == feasible[best]
    assert result.answer.objective[1] > 0  # a percentile over paths has a standard error
    assert result.binding == [constraints[0].text]
    assert result.evaluations <= len(grid)  # each lattice point run at most once
    for t in result.trials:  # the search's values are the direct runs' values
        assert t.objective[0] == grid[(int(t.x[0]), int(t.x[1]))][0]


def _json_output(
    capsys: pytest.CaptureFixture[str],
    tmp: Path,
    *extra: str,
    paths: int = 200,
    ranges: tuple[str, str] = ("2:4", "9:11"),
) -> str:
    """solve --objective over grace and tenor (default 2-4 and 9-11 years) of the template."""
    code = main(
        [
            "solve",
            str(TEMPLATE),
            "--find",
            "bond.grace_years",
            "--range",
            ranges[0],
            "--find",
            "bond.tenor_years",
            "--range",
            ranges[1],
            "--objective",
            "P50(council_npv)",
            "--maximise",
            "--constraint",
            "P10(min_dscr) >= 1.5",
            "--paths",
            str(paths),
            "--seed",
            str(SEED),
            "--generations",
            "5",
            "--population",
            "5",
            "--json",
            "-o",
            str(tmp / "solve.xlsx"),
            *extra,
        ]
    )
    assert code == 0
    return capsys.readouterr().out


def test_the_same_seed_gives_the_same_search_bit_for_bit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _json_output(capsys, tmp_path)
    data = json.loads(first)
    assert data["method"] == "differential_evolution" and data["feasible"]
    assert set(data["answer"]) == {"bond.grace_years", "bond.tenor_years"}
    assert data["constraints"][0]["se"] > 0 and data["objective"]["se"] > 0
    assert data["evaluations"] == len(data["search"]) > 1
    assert "bit for bit" in data["reproducible"]
    assert _json_output(capsys, tmp_path) == first
    book = openpyxl.load_workbook(tmp_path / "solve.xlsx")
    assert book.sheetnames == ["Solution", "Search", "Audit"]
    assert book["Search"].max_row == 3 + data["evaluations"]  # a title, a gap, the headers
    # another seed is another search (the search's own choices come from the seed)
    other = json.loads(_json_output(capsys, tmp_path, "--seed", str(SEED + 1)))
    assert other["search"] != data["search"]


def test_the_search_is_bit_identical_on_processes_and_a_dask_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """9,000 paths are two blocks of draws (risk/sampling.py's BLOCK_SIZE), so the
    workers really share each structure's run; the ranges hold 4 structures."""
    distributed = pytest.importorskip("distributed")

    def output(*extra: str) -> str:
        return _json_output(capsys, tmp_path, *extra, paths=9000, ranges=("3:4", "10:11"))

    serial = output()
    assert 1 < json.loads(serial)["evaluations"] <= 4
    assert output("--workers", "2") == serial
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        assert output("--scheduler", cluster.scheduler_address) == serial


def test_the_text_output_names_the_fields_the_binding_constraint_and_the_search(
    make_scenario: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "annuity.toml"
    scenario.write_text(scenario_toml(_annuity_case(make_scenario)), encoding="utf-8")

    def solve(constraint: str, generations: str) -> tuple[int, str]:
        code = main(
            [
                "solve",
                str(scenario),
                "--find",
                "bond.principal",
                "--range",
                "1e6:1e7",
                "--find",
                "bond.tenor_years",
                "--range",
                "10:12",
                "--objective",
                "principal",
                "--maximise",
                "--constraint",
                constraint,
                "--paths",
                "0",
                "--seed",
                "1",
                "--generations",
                generations,
                "--population",
                "5",
                "-o",
                str(tmp_path / "s.xlsx"),
            ]
        )
        return code, capsys.readouterr().out

    code, out = solve("min_dscr >= 100", "3")
    assert code == 1  # infeasible, as the one-field solve
    assert out.startswith("INFEASIBLE") and "bond.principal = " in out, out
    code, out = solve("min_dscr >= 1.25", "6")
    assert code == 0, out
    assert "Principal (bond.principal)" in out and "Tenor (bond.tenor_years)" in out, out
    assert "binding" in out and "model runs" in out and "--seed 1" in out
    # the longest tenor carries the most (the horizon is 12 years), and it is the range's end
    assert "bond.tenor_years is at the end of its range" in out


def test_search_fields_refuse_what_cannot_be_searched() -> None:
    scenario = load_scenario(None)
    draws = SharedDraws(0, 1)
    cases = [
        (["bond.coupon.rate", "bond.coupon.rate"], None, "more than once"),
        (["bond.coupon.rate", "bond.tenor_years"], [(0.03, 0.08)], "1 range for 2"),
        (["costs[1].profile"], None, "list of 3 values"),
        (["meta.name"], None, "numeric field"),
        (["bond.tenor_years"], [(5.2, 5.8)], "fewer than two"),
        (["bond.coupon.rate"], [(0.08, 0.03)], "LO < HI"),
        (["bond.coupon.rate"], [(0.0, math.inf)], "LO < HI"),
        # past the schema's bounds: the search would evaluate structures it refuses and
        # call them merely infeasible
        (["bond.tenor_years"], [(5.0, 1000.0)], r"1000 is outside .* within > 0 and <= 100"),
        (["bond.tenor_years"], [(0.0, 30.0)], r"0 is outside the field's values"),
        (["bond.coupon.rate"], [(-0.5, 0.09)], r"-0.5 is outside .* >= -0.1 and <= 1"),
    ]
    for paths, bounds, words in cases:
        with pytest.raises(ScenarioError, match=words):
            search_fields(scenario, paths, bounds, draws)


def test_a_range_past_the_fields_values_is_refused_before_the_seed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One field (bisection) or several (the search): exit 2, one line, and no seed drawn."""
    template = str(ROOT / "templates" / "shared-services.toml")
    common = ["--maximise", "--constraint", "P(shortfall) <= 0.1", "--paths", "50"]
    one = ["solve", template, "--find", "bond.tenor_years", "--range", "5:1000", *common]
    several = [
        *["solve", template, "--find", "bond.coupon.rate", "--find", "bond.tenor_years"],
        *["--range", "0.03:0.09", "--range", "5:1000", "--objective", "P50(council_npv)"],
        *common,
    ]
    for args in (one, several):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "bondmodel: seed" not in err, err
        assert "1000 is outside the field's values" in err and "<= 100" in err, err
