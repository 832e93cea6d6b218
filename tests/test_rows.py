"""The shared row model: expressions render to the formula text and evaluate with numpy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bondmodel import load_scenario, run
from bondmodel.workbook.bond_sheet import financing_lines
from bondmodel.workbook.conventions_block import convention_values
from bondmodel.workbook.partners_sheet import ENGINE_ROWS, partner_lines
from bondmodel.workbook.rows import Env, Grid, Ref, Running, fn, line_values
from bondmodel.workbook.writer import cashflow_lines

from .conftest import TEMPLATES


def _env(values: dict[str, Any]) -> Env:
    return Env(lambda key, where: key + ("@" + where if where else ""), values)


def test_parentheses_follow_excel_precedence() -> None:
    a, b, c = Ref("a"), Ref("b"), Ref("c")
    env = _env({"a": 5.0, "b": 3.0, "c": 2.0})
    cases = [
        (a - (b - c), "=a-(b-c)", 4.0),
        (a - b - c, "=a-b-c", 0.0),
        ((a + b) * (c - 1), "=(a+b)*(c-1)", 8.0),
        (a / b * c, "=a/b*c", 5.0 / 3.0 * 2.0),
        (a / (b * c), "=a/(b*c)", 5.0 / 6.0),
        (-(a + b), "=-(a+b)", -8.0),
        (fn("ABS", c - a).le(b), "=ABS(c-a)<=b", True),
        (fn("MAX", 1, a) + fn("MIN", b, c), "=MAX(1,a)+MIN(b,c)", 7.0),
    ]
    for expr, text, value in cases:
        assert expr.formula(env) == text
        assert expr.value(env) == pytest.approx(value)


def test_a_failing_check_evaluates_false() -> None:
    shares = Ref("s", "row")
    check = fn("ABS", fn("SUM", shares) - 1).le(Ref("tol"))
    assert check.formula(_env({})) == "=ABS(SUM(s@row)-1)<=tol"
    assert bool(check.value(_env({"s": np.array([0.5, 0.5]), "tol": 1e-9})))
    assert not bool(check.value(_env({"s": np.array([0.5, 0.4]), "tol": 1e-9})))
    text = fn("OR", Ref("p").ne("sized"), Ref("x").le(0))
    assert text.formula(_env({})) == '=OR(p<>"sized",x<=0)'
    assert bool(text.value(_env({"p": 100.0, "x": 5.0})))
    assert not bool(text.value(_env({"p": "sized", "x": 5.0})))


def test_running_total_starts_then_adds_the_previous_cell() -> None:
    grid = Grid({"flow": 7, "cum": 8}, 3)
    expr = Running(Ref("flow"))
    assert expr.formula(grid.env({}, "cum", 3)) == "=D8"
    assert expr.formula(grid.env({}, "cum", 4)) == "=D9+E8"
    assert list(expr.value(grid.env({"flow": np.array([1.0, 2.0, 3.0])}))) == [1.0, 3.0, 6.0]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.stem)
def test_cashflow_expressions_reproduce_the_engine(template: Any) -> None:
    """Each derived Cashflows row, evaluated from its one expression, is the engine's row."""
    results = run(load_scenario(template), paths=0)
    table = results.periods
    lines = cashflow_lines(
        {"base": "=0", "contingency": "=0", "optimism_bias": "=0"}, "=0", "=0", table
    )
    grid = Grid({line.key: 10 + i for i, line in enumerate(lines)}, len(table))
    real = results.scenario.economics.appraisal_basis == "real"
    price = results.flows.price_index[0]
    values: dict[str, Any] = {
        **convention_values(),
        "timeline.deflator": price if real else np.ones_like(price),
    }
    derived = 0
    for line in lines:
        got = line_values(line, grid, values)
        values[line.key] = got
        expected = table[line.key].to_numpy(dtype=float)
        scale = max(1.0, float(np.max(np.abs(expected))))
        assert np.max(np.abs(got - expected)) <= 1e-12 * scale, line.key
        derived += not isinstance(line.rest, str)
    assert derived == 13


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.stem)
def test_partner_expressions_reproduce_the_engine(template: Any) -> None:
    """Each partner's derived rows, evaluated from their expressions, are the engine's."""
    results = run(load_scenario(template), paths=0)
    real = results.scenario.economics.appraisal_basis == "real"
    price = results.flows.price_index[0]
    table = results.partners
    checked = 0
    for p, name in enumerate(results.scenario.partner_names):
        data = table[table["partner"] == name]
        lines = partner_lines(f"p{p}", "=1", "$B$5", "0")
        grid = Grid({line.key: 10 + i for i, line in enumerate(lines)}, len(price))
        values: dict[str, Any] = {
            "timeline.deflator": price if real else np.ones_like(price),
            "cashflows.price_index": price,
            "cashflows.discount_factor": results.flows.discount_factors[0],
            **{f"p{p}.{k}": data[k].to_numpy(dtype=float) for k in ENGINE_ROWS},
        }
        for line in lines:
            row = line.key.split(".", 1)[1]
            if isinstance(line.rest, str):
                continue
            got = line_values(line, grid, values)
            values[line.key] = got
            if row in data.columns:
                expected = data[row].to_numpy(dtype=float)
                scale = max(1.0, float(np.max(np.abs(expected))))
                assert np.max(np.abs(got - expected)) <= 1e-12 * scale, (name, row)
                checked += 1
    assert checked >= 5 * len(results.scenario.partner_names)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.stem)
def test_council_flow_expressions_reproduce_the_engine(template: Any) -> None:
    """The council's cash flow after debt service, from its expressions, is the engine's."""
    results = run(load_scenario(template), paths=0)
    bond = results.bond
    if bond is None:
        pytest.skip("no bond")
    n = results.timeline.n_periods + 1
    grid = bond.schedule.grid
    paid = grid.to_timeline(bond.flows.paid_in[:1], results.timeline.n_periods)[0]
    got = np.zeros(n)
    s = bond.schedule
    got[grid.issue_t] = s.proceeds - s.arrangement_fee - s.reserve_initial
    lines = financing_lines("council", "x", "$A$1:$A$2", "1", paid, got)
    real = results.scenario.economics.appraisal_basis == "real"
    price = results.flows.price_index[0]
    values: dict[str, Any] = {
        "cashflows.net_cash_flow": results.periods["net_cash_flow"].to_numpy(dtype=float),
        "cashflows.discount_factor": results.flows.discount_factors[0],
        "timeline.deflator": price if real else np.ones_like(price),
    }
    sheet = Grid({line.key: 10 + i for i, line in enumerate(lines)}, n)
    for line in lines:
        values[line.key] = line_values(line, sheet, values)
    scale = max(1.0, float(np.max(np.abs(bond.council_flow))))
    assert np.max(np.abs(values["council_flow"] - bond.council_flow)) <= 1e-12 * scale
    assert float(np.sum(values["council_discounted"])) == pytest.approx(
        bond.metrics["council_npv"], rel=1e-12, abs=1e-6
    )
