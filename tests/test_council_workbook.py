"""The Routes, Budget and Prudential sheets (issue 17 item 6): live formulas that reproduce
the engine's routes comparison.

- Fast: every cached value the three sheets show for a route equals the engine's
  ``Results.routes`` DataFrames (budget, Prudential indicators, summary, simulated risk)
  and its ``route_flows``, to 1e-9; the sheets exist only with routes.
- LibreOffice (``spreadsheet``): a deliberately wrong cached value on each new sheet comes
  back corrected, and editing council and route inputs on the Inputs sheet gives the
  engine's rerun on every formula of the three sheets, with nothing saying RERUN NEEDED.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest

from bondmodel import load_scenario, run
from bondmodel.council.routes import route_flows
from bondmodel.engine import Results
from bondmodel.labels import ROUTE_PRUDENTIAL, ROUTE_RISK, ROUTE_SUMMARY
from bondmodel.workbook.as_run import RERUN_NEEDED
from bondmodel.workbook.council_sheets import BUDGET, PRUDENTIAL, ROUTES, TYPE_WORDS
from bondmodel.workbook.inputs import flatten
from bondmodel.workbook.reader import read_scenario
from bondmodel.workbook.recalc import convert_many
from bondmodel.workbook.writer import write_workbook

from .conftest import ROOT
from .test_workbook import _tamper
from .xlsx_tools import edit_inputs, read_cells

TEMPLATE = ROOT / "templates" / "council-routes.toml"
NEW_SHEETS = (ROUTES, BUDGET, PRUDENTIAL)
REL, ABS = 1e-9, 1e-6

#: The Budget sheet's row labels (their start) for each column of ``Results.routes.budget``;
#: the programme's own rows (savings, running costs) are above the routes, once.
BUDGET_LABELS = {
    "one_off_costs": "One-off costs charged to revenue",
    "interest": "Interest",
    "mrp": "Minimum revenue provision",
    "outcome_payments": "Payments for outcomes",
    "financing_costs": "Financing costs (interest + MRP)",
    "net": "Net budget effect",
    "cumulative_net": "Cumulative net budget effect",
    "band_d": "Band D council-tax equivalent",
    "share_of_budget": "Share of the net revenue stream",
}


def _grid(path: Path, sheet: str) -> dict[int, dict[str, Any]]:
    """Row number -> column letter -> cached value."""
    out: dict[int, dict[str, Any]] = {}
    for (name, ref), (_, value) in read_cells(path, {sheet}).items():
        if name != sheet:
            continue
        col = "".join(ch for ch in ref if ch.isalpha())
        out.setdefault(int(ref[len(col) :]), {})[col] = value
    return out


def _blocks(grid: dict[int, dict[str, Any]], headings: list[str]) -> dict[str, dict[str, int]]:
    """Each heading's rows below it, label -> row, up to the next heading."""
    out: dict[str, dict[str, int]] = {}
    current: str | None = None
    for row in sorted(grid):
        label = grid[row].get("A")
        if label in headings:
            current = label
            out[current] = {}
        elif current is not None and isinstance(label, str):
            out[current].setdefault(label, row)
    return out


def _series(grid: dict[int, dict[str, Any]], row: int, n: int) -> np.ndarray:
    """The cached values of a row's period or year columns (from column D)."""
    cols = [chr(ord("D") + j) if j < 23 else "A" + chr(ord("A") + j - 23) for j in range(n)]
    return np.array([float(grid[row].get(c) or 0.0) for c in cols])


def _row_for(block: dict[str, int], start: str) -> int | None:
    return next((row for label, row in block.items() if label.startswith(start)), None)


def _close(got: Any, want: float) -> bool:
    return math.isclose(float(got), float(want), rel_tol=REL, abs_tol=ABS)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Results, Path]:
    results = run(load_scenario(TEMPLATE), paths=200, seed=7)
    path = write_workbook(results, tmp_path_factory.mktemp("council") / "routes.xlsx")
    return results, path


def _headings(results: Results) -> list[str]:
    assert results.routes is not None
    return [f"{v.terms.name}: {TYPE_WORDS[v.terms.type]}" for v in results.routes.views]


def test_the_budget_sheet_caches_the_engines_budget(written: tuple[Results, Path]) -> None:
    results, path = written
    assert results.routes is not None
    budget = results.routes.budget
    grid = _grid(path, BUDGET)
    blocks = _blocks(grid, _headings(results))
    checked = 0
    for heading, view in zip(_headings(results), results.routes.views, strict=True):
        frame = budget[budget["route"] == view.terms.name]
        n = len(frame)
        for key, start in BUDGET_LABELS.items():
            row = _row_for(blocks[heading], start)
            want = frame[key].to_numpy(dtype=float)
            if row is None:  # a route without the row: the engine has zeros there
                assert np.all(want == 0.0), (heading, key)
                continue
            got = _series(grid, row, n)
            np.testing.assert_allclose(got, want, rtol=REL, atol=ABS, err_msg=f"{heading} {key}")
            checked += 1
    assert checked >= 6 * 6  # six routes, at least six rows each


def test_the_prudential_sheet_caches_the_engines_indicators(
    written: tuple[Results, Path],
) -> None:
    results, path = written
    assert results.routes is not None
    frame = results.routes.prudential
    grid = _grid(path, PRUDENTIAL)
    names = ["Before the programme", *(v.terms.name for v in results.routes.views)]
    headings = [
        "Before the programme: the council's starting figures",
        *_headings(results),
    ]
    blocks = _blocks(grid, headings)
    labels = {
        k: c.label for k, c in ROUTE_PRUDENTIAL.items() if k not in ("route", "financial_year")
    }
    for name, heading in zip(names, headings, strict=True):
        part = frame[frame["route"] == name]
        for key, label in labels.items():
            # the longest label that starts the row's (financing costs / net revenue stream
            # before financing costs)
            rows = [
                row
                for text, row in blocks[heading].items()
                if text.startswith(label)
                and max((v for v in labels.values() if text.startswith(v)), key=len) == label
            ]
            assert len(rows) == 1, (heading, key, rows)
            np.testing.assert_allclose(
                _series(grid, rows[0], len(part)),
                part[key].to_numpy(dtype=float),
                rtol=REL,
                atol=ABS,
                err_msg=f"{heading} {key}",
            )


def test_the_routes_sheet_caches_the_comparison_and_the_flows(
    written: tuple[Results, Path],
) -> None:
    results, path = written
    rr = results.routes
    assert rr is not None and rr.risk is not None and results.bond is not None
    grid = _grid(path, ROUTES)
    by_label: dict[str, int] = {}
    for row in sorted(grid):
        label = grid[row].get("A")
        if isinstance(label, str):
            by_label.setdefault(label, row)
    route_cols = [chr(ord("C") + j) for j in range(len(rr.views))]
    for key, column in ROUTE_SUMMARY.items():
        if key in ("route", "type", "flags"):
            continue
        row = by_label[column.label]
        for j, col in enumerate(route_cols):
            want = rr.summary[key].iloc[j]
            got = grid[row][col]
            if isinstance(want, str):
                assert got == want, (key, j)
            elif not math.isfinite(float(want)):
                assert got == "n/a", (key, j)
            else:
                assert _close(got, want), (key, j, got, want)
    # the simulation's statistics, as values (below the base case's rows: the last match)
    for key, column in ROUTE_RISK.items():
        if key == "route":
            continue
        row = max(r for r in grid if grid[r].get("A") == column.label)
        for j, col in enumerate(route_cols):
            assert _close(grid[row][col], rr.risk[key].iloc[j]), (key, j)
    # each route's council cash flow by period is the engine's route_flows
    council = results.scenario.council
    assert council is not None
    blocks = _blocks(grid, _headings(results))
    n = results.timeline.n_periods + 1
    for heading, view in zip(_headings(results), rr.views, strict=True):
        rf = route_flows(
            view.terms,
            results.flows,
            results.bond.flows,
            results.bond.schedule.grid,
            council,
            results.timeline,
        )
        row = _row_for(blocks[heading], "Council cash flow")
        assert row is not None
        np.testing.assert_allclose(_series(grid, row, n), rf.council[0], rtol=REL, atol=ABS)


def test_the_sheets_exist_only_with_routes(tmp_path: Path) -> None:
    with_routes = openpyxl.load_workbook(
        write_workbook(run(load_scenario(TEMPLATE), paths=0), tmp_path / "with.xlsx"),
        read_only=True,
    ).sheetnames
    without = openpyxl.load_workbook(
        write_workbook(run(load_scenario(None), paths=0), tmp_path / "without.xlsx"),
        read_only=True,
    ).sheetnames
    assert all(name in with_routes for name in NEW_SHEETS)
    assert not any(name in without for name in NEW_SHEETS)
    # the comparison chart is on the Routes sheet
    wb = openpyxl.load_workbook(tmp_path / "with.xlsx")
    assert len(wb[ROUTES]._charts) == 1


# ---------------------------------------------------------------------------
# LibreOffice
# ---------------------------------------------------------------------------

#: Council and route inputs edited at once, with their new values: the budget, a tax base,
#: a PWLB gilt yield, the MRP life and method, the reserves' rate, the outcomes contract's
#: share and cap, the receipts, the Prudential Code starting figures and limits.
EDITS: dict[str, tuple[Any, ...]] = {
    "council.net_revenue_stream": (250_000_000,),
    "council.tax_base_band_d": (90_000,),
    "routes[1].gilt_yield": (0.051,),
    "routes[1].rate_type": ("standard",),
    "routes[1].loan_type": ("eip",),
    "council.mrp_life_years": (7,),
    "council.investment_rate": (0.03,),
    "routes[5].share": (0.6,),
    "routes[5].cap_multiple": (1.3,),
    "routes[2].repayment": ("annuity",),
    "council.capital_receipts": (1_000_000, 3_000_000, 500_000, 700_000),
    "council.gross_debt": (560_000_000,),
    "council.operational_boundary": (565_000_000,),
    "council.financing_ratio_limit": (0.08,),
}


#: A second edit: MRP by equal instalments, a cost that is revenue spending (redundancy), and
#: a capitalisation direction that makes borrowing for it lawful.
EDITS_REVENUE: dict[str, tuple[Any, ...]] = {
    "council.mrp_method": ("equal_instalment",),
    "costs[1].category": ("redundancy",),
    "council.capitalisation_direction": (True,),
}


#: A third edit: a PWLB rate the loan may not have (HRA, not eligible) and usable reserves
#: below what the programme draws: the comparison's two live checks must say so.
EDITS_FLAGS: dict[str, tuple[Any, ...]] = {
    "routes[1].rate_type": ("hra",),
    "routes[1].eligible": (False,),
    "council.usable_reserves": (5_000_000,),
}


def _formula_values(path: Path) -> dict[tuple[str, str], Any]:
    return {
        key: value for key, (formula, value) in read_cells(path, set(NEW_SHEETS)).items() if formula
    }


@pytest.mark.spreadsheet
def test_libreoffice_corrects_the_new_sheets_and_follows_council_inputs(
    soffice: str, tmp_path: Path
) -> None:
    scenario = load_scenario(TEMPLATE)
    base = write_workbook(run(scenario, paths=0), tmp_path / "base.xlsx")
    names = openpyxl.load_workbook(base, read_only=True).sheetnames
    # (a) a wrong cached value on each new sheet comes back corrected
    wrong = 123456789.0
    tampered, cells = base, {}
    for k, sheet in enumerate(NEW_SHEETS):
        out = tmp_path / f"tampered{k}.xlsx"
        cells[sheet] = _tamper(
            tampered, out, f"xl/worksheets/sheet{names.index(sheet) + 1}.xml", wrong
        )
        tampered = out
    for sheet, cell in cells.items():
        assert read_cells(tampered, {sheet})[(sheet, cell)][1] == wrong
    # (b) council and route inputs edited on the Inputs sheet
    rows = flatten(scenario)
    row_of = {r.path: 5 + i for i, r in enumerate(rows)}
    edited = [
        edit_inputs(base, tmp_path / f"edited{k}.xlsx", {row_of[p]: v for p, v in edits.items()})
        for k, edits in enumerate((EDITS, EDITS_REVENUE, EDITS_FLAGS))
    ]
    reruns = []
    for path in edited:
        again = read_scenario(path)
        reruns.append(write_workbook(run(again, paths=0), path.with_suffix(".rerun.xlsx")))
    assert read_scenario(edited[0]).council.mrp_life_years == 7  # type: ignore[union-attr]
    fixed, *recalculated = convert_many([tampered, *edited], tmp_path / "recalc")

    # every formula of the new sheets recalculates to the engine's value, the wrong ones too
    expected = _formula_values(base)
    _agree(_formula_values(fixed), expected)
    for sheet, cell in cells.items():
        assert _close(_formula_values(fixed)[(sheet, cell)], expected[(sheet, cell)])

    for rerun, out in zip(reruns, recalculated, strict=True):
        want, got = _formula_values(rerun), _formula_values(out)
        _agree(got, want)
        changed = sum(
            1
            for key, value in want.items()
            if isinstance(value, float) and not _close(expected.get(key, math.nan), value)
        )
        assert changed > 100, (rerun.name, changed)  # the edits moved the sheets' numbers
        assert not any(v == RERUN_NEEDED for v in got.values())
    # the live checks in LibreOffice: the HRA rate not open to the loan, reserves short
    checks = {row.get("A"): row for row in _grid(recalculated[2], ROUTES).values() if row.get("A")}
    pwlb = checks["PWLB rate open to this loan (HRA and local infrastructure rates: if eligible)"]
    assert pwlb["D"] == "NO" and pwlb["C"] == "n/a"
    short = checks["Reserves drawn beyond those usable (peak funding need less usable reserves)"]
    drawn = float(run(scenario, paths=0).flows.net_cash_flow.cumsum(axis=-1).min())
    assert float(short["G"]) == pytest.approx(-drawn - 5_000_000, rel=1e-9) and -drawn > 5e6
    lawful = _grid(reruns[1], ROUTES)
    assert any(
        row.get("A") == ROUTE_SUMMARY["revenue_costs"].label and float(row["D"]) > 0
        for row in lawful.values()
    )


def _agree(got: dict[tuple[str, str], Any], want: dict[tuple[str, str], Any]) -> None:
    """Every formula cell of ``want`` has the same value in ``got`` (1e-9 relative)."""
    assert len(want) > 1000
    for key, value in want.items():
        have = got.get(key)
        if isinstance(value, float) and isinstance(have, float):
            assert _close(have, value), (key, have, value)
        else:
            assert have == value or (value in (None, "") and have in (None, "")), (
                key,
                have,
                value,
            )
