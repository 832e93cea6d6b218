"""An auditor may open a workbook before verifying it: a LibreOffice open-and-save must verify.

LibreOffice rewrites much of the file on saving (sheet names unquoted in references,
TRUE saved as ``=TRUE()``, numbers and number formats spelt differently, defined names,
validations and charts rewritten, a General formula cell given its source's format).
verify treats exactly those spellings as equal (docs/auditors-guide.md); a tampering
saved through LibreOffice must still be caught. Both files go through one LibreOffice
start (each start costs several seconds).
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from bondmodel import load_scenario, run
from bondmodel.verification import verify
from bondmodel.workbook.recalc import convert_many
from bondmodel.workbook.writer import write_workbook

from .test_verify_features import _replace


@pytest.mark.spreadsheet
def test_a_workbook_saved_by_libreoffice_verifies(soffice: str, tmp_path: Path) -> None:
    fresh = write_workbook(run(load_scenario(None), paths=600, seed=7), tmp_path / "fresh.xlsx")
    target = str(openpyxl.load_workbook(fresh).defined_names["in_bond_coupon_rate"].attr_text)
    column, row = target.rsplit("$", 1)
    moved = f"{column}${int(row) + 1}"  # the next input cell down
    tampered = _replace(
        fresh,
        tmp_path / "tampered.xlsx",
        "xl/workbook.xml",
        f'name="in_bond_coupon_rate">{target}<',
        f'name="in_bond_coupon_rate">{moved}<',
    )
    saved, saved_tampered = convert_many([fresh, tampered], tmp_path / "saved")

    # the round trip really rewrote the file: quoting, booleans and formats differ as text
    parts = {n: openpyxl.load_workbook(p) for n, p in (("ours", fresh), ("lo", saved))}
    assert parts["ours"]["Inputs"]["E12"].value is True
    assert parts["lo"]["Inputs"]["E12"].value == "=TRUE()"
    money = parts["lo"]["Metrics"]["B5"].number_format
    assert money != parts["ours"]["Metrics"]["B5"].number_format

    report = verify(saved)
    assert report.ok, report.text()
    assert report.exit_code == 0 and report.cells_compared > 1000

    caught = verify(saved_tampered)
    assert caught.exit_code == 1
    names = [m for m in caught.mismatches if m.what == "defined name"]
    assert [(m.cell, m.workbook, m.rerun) for m in names] == [
        ("in_bond_coupon_rate", moved, target)
    ]
