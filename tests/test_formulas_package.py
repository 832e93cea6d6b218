"""A second, independent evaluator: the `formulas` package recomputes the workbook's formulas.

LibreOffice is the main check (tests/test_workbook.py); `formulas`, a Python
implementation of Excel's functions, is a second one that needs no spreadsheet
application. Every formula cell it evaluates must equal the engine's value.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bondmodel import load_scenario, run
from bondmodel.workbook.writer import write_workbook

from .conftest import ROOT

formulas = pytest.importorskip("formulas")


def evaluate(path: Path) -> dict[tuple[str, str], Any]:
    """{(SHEET, cell): value} for every cell `formulas` computes."""
    solution = formulas.ExcelModel().loads(str(path)).finish().calculate()
    out: dict[tuple[str, str], Any] = {}
    for key, value in solution.items():
        text = str(key)
        if "!" not in text or ":" in text:
            continue
        sheet, cell = text.split("]", 1)[-1].split("!")
        raw = value.value[0, 0] if hasattr(value, "value") else value
        out[(sheet.strip("'").upper(), cell.upper())] = raw
    return out


#: CI recalculates the default template, with a bond (about a minute); the template without
#: a bond runs too with BONDMODEL_FORMULAS_ALL=1 (LibreOffice checks every template in CI).
TEMPLATES_CHECKED = ["shared-services"] + (
    ["single-council-bold"] if os.environ.get("BONDMODEL_FORMULAS_ALL") == "1" else []
)


@pytest.mark.parametrize("template", TEMPLATES_CHECKED)
def test_formulas_package_agrees_with_the_engine(template: str, tmp_path: Path) -> None:
    res = run(load_scenario(ROOT / "templates" / f"{template}.toml"), paths=0)
    path = write_workbook(res, tmp_path / "m.xlsx")
    computed = evaluate(path)
    wb_formulas = openpyxl.load_workbook(path)
    wb_values = openpyxl.load_workbook(path, data_only=True)
    checked = 0
    for ws in wb_formulas.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type != "f":
                    continue
                cached = wb_values[ws.title][cell.coordinate].value
                key = (ws.title.upper(), cell.coordinate)
                if key not in computed or not isinstance(cached, int | float):
                    continue
                got = computed[key]
                if isinstance(cached, bool):
                    assert bool(got) is cached, (key, cell.value, cached, got)
                else:
                    assert math.isclose(float(got), cached, rel_tol=1e-9, abs_tol=1e-6), (
                        key,
                        cell.value,
                        cached,
                        got,
                    )
                checked += 1
    assert checked > 1000
