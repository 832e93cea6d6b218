"""Golden files of the workbook's layout: sheets, line items, and each row's formulas.

The layout of every template's workbook (sheet names, the label in column A
of each row, and the formulas of the first two period columns, with cell
references kept and numbers left out) is compared with tests/golden/. A
change to the layout fails until the golden files are refreshed on purpose:

    pytest tests/test_golden.py --update-golden
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bondmodel import load_scenario, run
from bondmodel.workbook.writer import write_workbook

from .conftest import ROOT, TEMPLATES

GOLDEN = ROOT / "tests" / "golden"


def layout_of(path: Path) -> dict[str, Any]:
    wb = openpyxl.load_workbook(path)
    sheets: dict[str, Any] = {}
    for ws in wb.worksheets:
        rows = []
        for row in ws.iter_rows(max_col=5):
            label = row[0].value
            formulas = [c.value for c in row[3:5] if c.data_type == "f"]
            if label is None and not formulas:
                continue
            text = label if isinstance(label, str) and not label.startswith("=") else None
            rows.append({"row": row[0].row, "label": text, "formulas": formulas})
        sheets[ws.title] = rows
    return {"sheets": wb.sheetnames, "layout": sheets}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: Path(p).stem)
def test_workbook_layout_matches_golden(
    template: Path, tmp_path: Path, update_golden: bool
) -> None:
    res = run(load_scenario(template), paths=0)
    got = layout_of(write_workbook(res, tmp_path / "m.xlsx"))
    # the run time and the scenario hash are not layout
    golden = GOLDEN / f"{template.stem}.json"
    if update_golden:
        golden.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        pytest.skip("golden file refreshed")
    assert golden.exists(), f"no golden file {golden}; run pytest --update-golden"
    expected = json.loads(golden.read_text(encoding="utf-8"))
    assert got["sheets"] == expected["sheets"]
    for sheet, rows in expected["layout"].items():
        assert got["layout"][sheet] == rows, f"the {sheet} sheet's layout changed"
