"""One measure, one definition: run and the design tools give the same number on the same draws.

``run`` reports probabilities (``risk.probabilities``) and statistics (``risk.summary``); the
design tools (compare, sweep, solve) report measures (``P(...)``, ``Pnn(...)``, ``mean(...)``).
Where they describe the same thing they must agree exactly, value and standard error, on the
same seed and paths: a constraint checked by ``solve`` must mean what the Risk sheet shows.
"""

from __future__ import annotations

import math

import pytest

from bondmodel.design.measures import SharedDraws, parse_constraint, parse_measure
from bondmodel.design.solve import solve
from bondmodel.design.study import compare, sweep
from bondmodel.design.variation import Variation
from bondmodel.engine import run
from bondmodel.risk.events import EVENTS
from bondmodel.risk.summary import PERCENTILES
from bondmodel.scenario import load_scenario
from bondmodel.scenario.loader import template_path
from bondmodel.scenario.schema import Scenario

PATHS = 3_000
SEED = 20_240_601


def shared_measures(scenario: Scenario) -> dict[str, tuple[str, str]]:
    """Every design measure that run also reports: measure text -> (run table, row)."""
    results = run(scenario, paths=64, seed=1)
    assert results.risk is not None
    out: dict[str, tuple[str, str]] = {}
    for event in EVENTS:
        if event.metric in results.risk.per_path:
            text = f"P({event.metric})" if event.op == ">" else f"P({event.metric} < 0)"
            out[text] = ("probabilities", event.key)
    for metric in results.risk.per_path.columns:
        if metric.startswith("partner_npv_"):
            out[f"P({metric} < 0)"] = ("probabilities", f"p_{metric}_negative")
        out[f"mean({metric})"] = ("summary", "mean")
        for p in PERCENTILES:
            out[f"P{p}({metric})"] = ("summary", f"p{p}")
    return out


def run_figure(results: object, where: tuple[str, str], measure: str) -> tuple[float, float]:
    """The run's value and standard error of a measure."""
    risk = results.risk  # type: ignore[attr-defined]
    table, row = where
    if table == "probabilities":
        return float(risk.probabilities.loc[row, "value"]), float(risk.probabilities.loc[row, "se"])
    metric = parse_measure(measure).metric
    se_row = "se_mean" if row == "mean" else f"{row}_se"
    return float(risk.summary.loc[row, metric]), float(risk.summary.loc[se_row, metric])


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("template", ["sib-limited-recourse", "shared-services"])
def test_run_compare_sweep_and_solve_agree_on_every_shared_measure(template: str) -> None:
    scenario = load_scenario(template_path(template))
    measures = shared_measures(scenario)
    # every probability run reports except "no payback" (not a measure) is shared
    assert sum(1 for t, _ in measures.values() if t == "probabilities") >= 5
    results = run(scenario, paths=PATHS, seed=SEED)
    draws = SharedDraws(PATHS, SEED)
    expected = {m: run_figure(results, where, m) for m, where in measures.items()}

    # compare: its key measures that run also reports
    comparison = compare([("a", scenario), ("b", scenario)], draws)
    checked = 0
    for row in comparison.rows:
        if row.measure in expected:
            for value, se in zip(row.values, row.errors, strict=True):
                assert same(value, expected[row.measure][0]), row.measure
                assert same(se, expected[row.measure][1]), row.measure
            checked += 1
    assert checked >= 10

    # sweep: every shared measure, on a one-cell grid at the scenario's own value
    assert scenario.bond is not None
    rate = scenario.bond.tenor_years
    swept = sweep(scenario, [Variation("bond.tenor_years", (rate,))], draws, tuple(measures))
    assert {row.measure for row in swept.rows} == set(measures)
    for row in swept.rows:
        assert same(row.values[0], expected[row.measure][0]), row.measure
        assert same(row.errors[0], expected[row.measure][1]), row.measure

    # solve: the constraints at the answer, which is the scenario's own value (the smallest
    # of the range, every constraint always met)
    constraints = [parse_constraint(f"{m} >= -1e300") for m in measures]
    solution = solve(
        scenario, "bond.tenor_years", constraints, False, draws, (float(rate), float(rate) + 10.0)
    )
    assert solution.feasible and solution.answer == rate and solution.at_answer is not None
    for constraint, (value, se) in zip(constraints, solution.at_answer.values, strict=True):
        assert same(value, expected[constraint.measure.text][0]), constraint.text
        assert same(se, expected[constraint.measure.text][1]), constraint.text


def test_a_repaid_bond_has_no_loss_and_no_loss_given_default() -> None:
    """The SIB template with a small principal is repaid in full on every path: its loss is
    exactly 0 (not rounding residue), its LGD undefined, and no path counts as a loss."""
    base = load_scenario(template_path("sib-limited-recourse"))
    assert base.bond is not None
    scenario = base.model_copy(
        update={"bond": base.bond.model_copy(update={"principal": 438_736.0})}
    )
    results = run(scenario, paths=PATHS, seed=SEED)
    assert results.bond is not None and results.risk is not None
    assert results.bond.metrics["investor_loss"] == 0.0
    lgd = results.bond.metrics["loss_given_default"]
    assert lgd is None or math.isnan(lgd)
    assert (results.risk.per_path["investor_loss"] == 0.0).all()
    assert results.risk.probabilities.loc["p_investor_loss", "value"] == 0.0
    value, _ = parse_measure("P(investor_loss)").value(
        compare([("a", scenario), ("b", scenario)], SharedDraws(PATHS, SEED)).evaluations[0]
    )
    assert value == 0.0
