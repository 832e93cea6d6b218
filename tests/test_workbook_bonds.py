"""The Bond sheet's live formulas against the engine, over generated bond structures.

A fixed design of scenarios covers every coupon type (fixed; floating on a flat
rate, on a path, with a floor; index-linked with and without a cap and floor),
every repayment profile, both recourse modes and every DSRA setting (none,
funded at issue, funded from cash), with grace paid or capitalised, sweeps,
performance payments, PWLB loan types, several payment frequencies, and
savings weak enough to draw the reserve, call top-ups, defer arrears and
write off principal. Each workbook is recalculated in LibreOffice with its
cached values ignored, and every formula cell must equal the engine's value.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest

from bondmodel import Results, parse_scenario, run
from bondmodel.workbook.recalc import convert_many
from bondmodel.workbook.writer import write_workbook

from .conftest import base_dict, deep_update

COUPONS: list[dict[str, Any]] = [
    {"type": "fixed", "rate": 0.05},
    {"type": "floating", "reference_rate": 0.04, "margin": 0.01},
    {"type": "index_linked", "real_rate": 0.01, "uplift_cap": 0.025, "uplift_floor": 0.0},
    {"type": "floating", "reference_path": [0.01, 0.03, 0.05], "margin": 0.005, "floor": 0.02},
    {"type": "index_linked", "real_rate": 0.0},
    {"type": "fixed", "rate": 0.0},
]
REPAYMENTS = ["bullet", "eip", "annuity", "sculpted", "custom"]
RECOURSE = ["full", "limited"]
RESERVES: list[dict[str, Any] | None] = [
    None,
    {"months": 6.0, "funding": "at_issue"},
    {"months": 9.0, "funding": "from_cash"},
]
FREQUENCIES = [("annual", "annual"), ("quarterly", "semi-annual"), ("quarterly", "quarterly")]


def design(i: int) -> dict[str, Any]:
    """Scenario ``i`` of the design: each dimension cycles with its own period."""
    timeline_f, pay_f = FREQUENCIES[i % 3]
    g = {"annual": 1, "semi-annual": 2, "quarterly": 4}[pay_f]
    tenor, grace = 8.0, float(i % 3 == 0) + (0.5 if pay_f != "annual" and i % 2 else 0.0)
    repayment: dict[str, Any] = {"type": REPAYMENTS[i % 5]}
    if repayment["type"] == "sculpted":
        repayment["target_dscr"] = 1.3
    if repayment["type"] == "custom":
        n = round((tenor - grace) * g)
        weights = np.linspace(1.0, 2.0, n)
        repayment["schedule"] = [float(w) for w in weights / weights.sum()]
        repayment["schedule"][-1] = 1.0 - math.fsum(repayment["schedule"][:-1])
    # weak savings every third scenario: reserve draws, top-ups, arrears, write-offs
    strength = 0.25 if i % 4 == 1 else (0.6 if i % 4 == 3 else 1.0)
    bond: dict[str, Any] = {
        "principal": "sized" if i % 2 == 0 else 6_000_000.0,
        "issue_price": 1.0 if i % 3 else 0.99,
        "arrangement_fee": 0.01,
        "annual_fees": 20_000.0,
        "tenor_years": tenor,
        "legal_maturity_years": tenor + (2.0 if i % 2 else 0.0),
        "payment_frequency": pay_f,
        "coupon": COUPONS[i % len(COUPONS)],
        "repayment": repayment,
        "grace_years": grace,
        "grace_interest": "capitalised" if i % 2 == 0 else "paid",
        "cash_sweep": 0.5 if i % 5 == 2 else 0.0,
        "recourse": RECOURSE[(i // 2) % 2],
        "arrears_interest": i % 3 != 2,
        "pledged_share": 0.8,
    }
    reserve = RESERVES[i % 3 if i % 7 else (i + 1) % 3]
    if reserve is not None:
        bond["reserve"] = reserve
    if i % 4 == 0:
        bond["performance"] = {"share": 0.3, "threshold": 500_000.0}
        if i % 8 == 0:
            bond["performance"]["cap_total_return"] = 0.08
    return deep_update(
        base_dict(),
        {
            "meta": {"name": f"Design {i}"},
            "timeline": {"frequency": timeline_f, "horizon_years": 12},
            "economics": {
                "inflation": 0.02 if i % 5 else 0.035,
                "appraisal_basis": "real" if i % 2 else "nominal",
            },
            "partners": [
                {"name": "North", "baseline_expenditure": 80_000_000.0},
                {
                    "name": "South",
                    "baseline_expenditure": 40_000_000.0,
                    # a partner leaving mid-period in some designs
                    **({"exit_year": 6.25} if i % 6 == 5 else {}),
                },
            ],
            "costs": [
                {
                    "name": "Systems",
                    "amount": 5_000_000.0,
                    "category": "it",
                    "timing": "spread",
                    "periods": 2,
                }
            ],
            "savings": [
                {
                    "name": "Back office",
                    "annual_amount": 2_400_000.0 * strength,
                    "ramp": {"type": "linear", "years": 2.0},
                }
            ],
            "running_costs": [{"name": "Licences", "annual_amount": 100_000.0}],
            "bond": bond,
            "pwlb": {
                "gilt_yield": 0.045,
                "margin": 0.008,
                "loan_type": ["annuity", "eip", "maturity"][i % 3],
                **({"term_years": 6.0} if i % 4 == 2 else {}),
            },
        },
    )


N_DESIGNS = 24


def _results() -> list[Results]:
    return [run(parse_scenario(design(i)), paths=0) for i in range(N_DESIGNS)]


def test_the_design_covers_every_structure_and_stress() -> None:
    results = _results()
    terms = [r.bond.schedule.terms for r in results if r.bond is not None]
    assert len(terms) == N_DESIGNS
    assert {(t.coupon.type) for t in terms} == {"fixed", "floating", "index_linked"}
    assert {t.repayment.type for t in terms} == set(REPAYMENTS)
    assert {t.recourse for t in terms} == set(RECOURSE)
    assert {None if t.reserve is None else t.reserve.funding for t in terms} == {
        None,
        "at_issue",
        "from_cash",
    }
    assert {t.payment_frequency for t in terms} == {"annual", "semi-annual", "quarterly"}
    assert {t.grace_interest for t in terms} == {"paid", "capitalised"}
    # every branch of the waterfall is exercised somewhere in the design
    tables = [r.bond.table for r in results if r.bond is not None]
    for key in (
        "reserve_draw",
        "topup",
        "shortfall",
        "write_off",
        "sweep",
        "performance_paid",
        "arrears_interest",
        "reserve_release",
        "capitalised_interest",
        "indexation",
    ):
        assert any(float(t[key].sum()) > 1.0 for t in tables), key


def _values(path: Path) -> dict[tuple[str, str], Any]:
    wb = openpyxl.load_workbook(path, data_only=True)
    return {
        (ws.title, c.coordinate): c.value
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for c in row
    }


def _formulas(path: Path) -> dict[tuple[str, str], str]:
    wb = openpyxl.load_workbook(path)
    return {
        (ws.title, c.coordinate): c.value
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for c in row
        if c.data_type == "f"
    }


@pytest.mark.spreadsheet
def test_bond_formulas_recalculate_to_engine_values_for_every_structure(
    soffice: str, tmp_path: Path
) -> None:
    sources = [
        write_workbook(res, tmp_path / f"design{i}.xlsx") for i, res in enumerate(_results())
    ]
    out = convert_many(sources, tmp_path / "recalc")
    for source, recalculated in zip(sources, out, strict=True):
        formulas = _formulas(source)
        cached, fresh = _values(source), _values(recalculated)
        bond_cells = [k for k in formulas if k[0] == "Bond"]
        assert len(bond_cells) > 500, source.name
        for key in formulas:
            expected, got = cached[key], fresh[key]
            if expected in (None, ""):  # a banner, empty while the workbook stands
                assert got in (None, ""), (source.name, key, formulas[key], got)
            elif isinstance(expected, bool | str | datetime | date):
                assert got == expected, (source.name, key, formulas[key], expected, got)
            else:
                assert isinstance(got, int | float), (source.name, key, formulas[key], got)
                assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-6), (
                    source.name,
                    key,
                    formulas[key],
                    expected,
                    got,
                )
        assert fresh[("Checks", "B2")] is True, source.name
