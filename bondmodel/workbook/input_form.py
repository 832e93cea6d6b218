"""The input workbook: the Inputs sheet alone, to fill in Excel and run with ``bondmodel run``.

``bondmodel template inputs.xlsx`` writes it, pre-filled from a scenario or
with its values blank. Each input keeps its path, unit, note, defined name and
data validation, so an analyst can change assumptions in Excel and
``bondmodel run inputs.xlsx`` reads them back (bondmodel.workbook.reader).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import xlsxwriter

from bondmodel import __version__
from bondmodel.io import XLSX_OPTIONS, atomic_write
from bondmodel.scenario.schema import Scenario
from bondmodel.workbook.inputs import inputs_sheet
from bondmodel.workbook.styles import Styles, scenario_unit_words

README_LINES = (
    "How to use this workbook",
    "",
    "1. Change the shaded cells on the Inputs sheet. Each row is one assumption: its label, "
    "unit and note say what it is.",
    "2. A list runs across its row: add or remove values at the right-hand end.",
    "3. Leave a cell blank to use the default of an optional input.",
    "4. Do not rename the paths in the hidden column A: bondmodel reads each input by its path "
    "(unhide the column to see them).",
    "5. Type values, not formulas: bondmodel never evaluates a formula, and refuses one in an "
    "input cell.",
    "6. Run it:  bondmodel run inputs.xlsx -o model.xlsx   (or check it first with "
    "bondmodel validate inputs.xlsx).",
    "",
    "Each problem is reported with the sheet, the cell and the field, and the exit code is 2.",
)


def write_input_form(scenario: Scenario, path: str | Path, blank: bool = False) -> Path:
    """Write the input workbook for ``scenario`` (its values cleared if ``blank``), atomically."""

    def write(tmp: Path) -> None:
        wb = xlsxwriter.Workbook(
            str(tmp),
            XLSX_OPTIONS,
        )
        # fixed properties: the same scenario always gives the same file contents
        wb.set_properties(
            {
                "title": f"bondmodel inputs: {scenario.meta.name}",
                "comments": f"bondmodel {__version__} input workbook",
                "created": datetime(2026, 1, 1),
            }
        )
        styles = Styles(wb, scenario.meta.currency, scenario_unit_words(scenario))
        readme = wb.add_worksheet("Read me")
        readme.set_column(0, 0, 110)
        readme.write_string(0, 0, README_LINES[0], styles.title)
        for i, line in enumerate(README_LINES[1:], start=1):
            readme.write_string(i, 0, line)
        inputs_sheet(wb, styles, scenario, blank=blank)
        wb.worksheets()[1].activate()
        wb.close()

    return atomic_write(path, write)
