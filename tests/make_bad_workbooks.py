"""Write the workbook cases of the bad-input corpus (tests/bad_inputs/wb_*.xlsx and .xlsm).

Run from the repository root when the Inputs sheet's layout changes:

    .venv/bin/python -m tests.make_bad_workbooks

Each case is the default template's input workbook with one thing broken, or a
hostile file. It prints the manifest entries to paste into tests/bad_inputs/cases.toml
(the row numbers in the field paths come from the sheet as written).

The large classes of workbook damage (duplicate archive entries, bad shared-string
indexes, non-numbers, references outside the grid, a far cell, too many cells) are
generated at test time instead, by tests/bad_input_classes.py.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl

from bondmodel import load_scenario
from bondmodel.workbook.input_form import write_input_form

HERE = Path(__file__).resolve().parent / "bad_inputs"


def _row(ws: Any, path: str) -> int:
    for row in ws.iter_rows(min_row=5):
        if row[0].value == path:
            return int(row[0].row)
    raise KeyError(path)


def _edit(base: Path, target: Path, change: Callable[[Any], None]) -> None:
    wb = openpyxl.load_workbook(base)
    change(wb)
    wb.save(target)


def _rezip(base: Path, target: Path, parts: dict[str, bytes]) -> None:
    with zipfile.ZipFile(base) as src:
        data = {name: src.read(name) for name in src.namelist()}
    data.update(parts)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, blob in data.items():
            dst.writestr(name, blob)


def main() -> None:
    base = HERE.parent / "_base_inputs.xlsx"
    write_input_form(load_scenario(None), base)
    ws = openpyxl.load_workbook(base)["Inputs"]
    rate = _row(ws, "bond.coupon.rate")
    freq = _row(ws, "timeline.frequency")
    name = _row(ws, "meta.name")
    base_date = _row(ws, "meta.base_date")
    matrix = _row(ws, "risk.correlation.matrix[1]")
    entries: list[tuple[str, str, str, list[str]]] = []

    def cell(
        sheet_edit: Callable[[Any], None], file: str, description: str, field: str, words: list[str]
    ) -> None:
        _edit(base, HERE / file, lambda wb: sheet_edit(wb["Inputs"]))
        entries.append((file, description, field, words))

    cell(
        lambda s: s.__setitem__(f"E{rate}", "=0.05+0.01"),
        "wb_formula_input.xlsx",
        "an input cell holds a formula",
        f"Inputs!E{rate} (bond.coupon.rate)",
        ["holds a formula", "never evaluates"],
    )
    cell(
        lambda s: s.__setitem__(f"E{rate}", "five percent"),
        "wb_rate_text.xlsx",
        "the coupon rate typed as words",
        f"Inputs!E{rate} (bond.coupon.rate)",
        ["'five percent'", "number"],
    )
    cell(
        lambda s: s.__setitem__(f"E{rate}", 7.5),
        "wb_rate_too_high.xlsx",
        "the coupon rate as a percentage, 7.5",
        f"Inputs!E{rate} (bond.coupon.rate)",
        ["7.5", "less than or equal to 1"],
    )
    cell(
        lambda s: s.__setitem__(f"E{freq}", "fortnightly"),
        "wb_unknown_frequency.xlsx",
        "an unknown timeline frequency",
        f"Inputs!E{freq} (timeline.frequency)",
        ["'fortnightly'", "'annual'", "'monthly'"],
    )
    cell(
        lambda s: s.__setitem__(f"E{name}", None),
        "wb_blank_required.xlsx",
        "the scenario's name left blank",
        f"Inputs!E{name} (meta.name)",
        ["required but missing"],
    )
    cell(
        lambda s: s.__setitem__(f"A{rate}", "bond.coupon.rat"),
        "wb_renamed_path.xlsx",
        "an input's path renamed",
        f"Inputs!E{rate} (bond.coupon.rat)",
        ["unknown key 'rat'", "did you mean 'rate'"],
    )

    def moved(s: Any) -> None:
        s[f"B{rate}"] = s[f"A{rate}"].value
        s[f"A{rate}"] = None

    cell(
        moved,
        "wb_path_moved.xlsx",
        "an input's path moved out of column A",
        f"Inputs!A{rate}",
        ["renamed or moved"],
    )
    cell(
        lambda s: s.__setitem__("A4", "Input"),
        "wb_headers_changed.xlsx",
        "the Inputs sheet's headings changed",
        "Inputs!A4:E4",
        ["not a bondmodel Inputs sheet"],
    )
    cell(
        lambda s: s.__setitem__(f"F{rate}", 0.06),
        "wb_two_values.xlsx",
        "two values in a one-value input",
        f"Inputs!F{rate} (bond.coupon.rate)",
        ["takes one value", "holds 2"],
    )
    cell(
        lambda s: s.__setitem__(f"A{rate + 1}", "bond.coupon.rate"),
        "wb_duplicate_path.xlsx",
        "the same path on two rows",
        f"Inputs!A{rate + 1}",
        ["appears twice", f"row {rate}"],
    )
    cell(
        lambda s: s.__setitem__(f"G{matrix}", 3.0),
        "wb_bad_correlation.xlsx",
        "a correlation of 3",
        f"Inputs!G{matrix} (risk.correlation.matrix[1][2])",
        ["got 3", "less than or equal to 1"],
    )

    def with_time(s: Any) -> None:
        from datetime import datetime

        s[f"E{base_date}"] = datetime(2026, 4, 1, 9, 30)

    cell(
        with_time,
        "wb_date_with_time.xlsx",
        "a date input with a time of day",
        f"Inputs!E{base_date} (meta.base_date)",
        ["without a time", "09:30"],
    )

    def rename_sheet(wb: Any) -> None:
        wb["Inputs"].title = "Assumptions"

    _edit(base, HERE / "wb_no_inputs_sheet.xlsx", rename_sheet)
    entries.append(
        (
            "wb_no_inputs_sheet.xlsx",
            "the Inputs sheet renamed",
            "Inputs",
            ["has no 'Inputs' sheet", "Assumptions"],
        )
    )
    shutil.copy(base, HERE / "wb_macro.xlsm")
    entries.append(
        (
            "wb_macro.xlsm",
            "a macro-enabled workbook",
            "wb_macro.xlsm",
            ["macro-enabled workbook", ".xlsm"],
        )
    )
    _rezip(base, HERE / "wb_vba_inside.xlsx", {"xl/vbaProject.bin": b"\x00" * 512})
    entries.append(
        (
            "wb_vba_inside.xlsx",
            "an .xlsx hiding a VBA project",
            "wb_vba_inside.xlsx",
            ["contains macros"],
        )
    )
    _rezip(base, HERE / "wb_zip_bomb.xlsx", {"xl/media/zeros.bin": b"\0" * 50_000_000})
    entries.append(
        (
            "wb_zip_bomb.xlsx",
            "a 50 MB entry of zeros compressed to kilobytes",
            "xl/media/zeros.bin",
            ["zip bomb", "at most 200 times"],
        )
    )
    blob = base.read_bytes()
    (HERE / "wb_truncated.xlsx").write_bytes(blob[: len(blob) // 2])
    entries.append(
        (
            "wb_truncated.xlsx",
            "a workbook cut off halfway (a broken download)",
            "wb_truncated.xlsx",
            ["not an .xlsx workbook"],
        )
    )
    (HERE / "wb_not_a_zip.xlsx").write_text("name,value\nrate,0.05\n", encoding="utf-8")
    entries.append(
        ("wb_not_a_zip.xlsx", "a CSV file named .xlsx", "wb_not_a_zip.xlsx", ["not a zip archive"])
    )
    with zipfile.ZipFile(base) as src:
        sheet = "xl/worksheets/sheet2.xml"
        xml = src.read(sheet).decode("utf-8")
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    )
    _rezip(
        base,
        HERE / "wb_xml_entities.xlsx",
        {sheet: (laughs + xml.split("?>", 1)[1]).encode("utf-8")},
    )
    entries.append(
        (
            "wb_xml_entities.xlsx",
            "a sheet declaring XML entities (billion laughs)",
            "wb_xml_entities.xlsx",
            ["cannot be read as a workbook"],
        )
    )
    base.unlink()
    for file, description, field, words in entries:
        quoted = ", ".join(f'"{w}"' for w in words)
        print(
            f'\n[[case]]\nfile = "{file}"\ndescription = "{description}"\n'
            f'field = "{field}"\nwords = [{quoted}]'
        )


if __name__ == "__main__":
    main()
