"""The Model map sheet: each sheet, what it holds, which sheets it reads and which read it.

The "reads from" and "read by" columns are derived from the formulas the writer
actually put in the workbook (each worksheet's cells as XlsxWriter holds them
before the file is closed), not from a list kept by hand, so the map stays true
as sheets change: a sheet reads another when one of its cell formulas refers to
a cell on it, directly (``Cashflows!$D$9``) or through a defined name whose
reference is there (``in_bond_principal`` is on Inputs, ``bd_principal`` on
Bond). Charts, data validations and conditional formats are not counted.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from typing import Any

from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel.workbook.styles import Styles

#: The sheet's name.
MODEL_MAP = "Model map"

#: What each sheet holds, in one line (a sheet not listed here is named without one).
SHEET_PURPOSES: dict[str, str] = {
    "Cover": "title, scenario, run stamp, check status, contents and colour key",
    "Model map": "this map: each sheet, what it holds, and how data flows between them",
    "Summary": "one-page dashboard: headline tiles (base case, P10/P50/P90) and four charts",
    "Inputs": "every assumption of the scenario and the published conventions, named",
    "Timeline": "periods, dates, financial years, flags, the price index and discount factors",
    "Cashflows": "programme cash flows by period: costs, savings, net cash flow, council's cash",
    "Annual": "the Cashflows lines and the bond's debt service, CFADS and DSCR by financial year",
    "Partners": "each partner's shares, NPV and cash flows",
    "Bond": "the bond's constants, sizing and payment-by-payment waterfall",
    "Sources and uses": "where the money at issue comes from and where it goes, balanced",
    "Metrics": "appraisal, investor and council metrics (live formulas)",
    "Routes": "each funding route's terms and cash flows, the routes side by side, and a chart",
    "Budget": "each route's effect on the revenue budget by financial year: MRP, Band D",
    "Prudential": "each route's Prudential Code indicators by financial year, with breach flags",
    "Risk": "Monte Carlo statistics, probabilities, fan charts, histograms and S-curves (values)",
    "Sensitivity": "tornado and spider of one-at-a-time swings, rank correlations, PAWN (values)",
    "Stress": "stress analyses and scenario analyses of the simulation (values)",
    "Checks": "integrity checks (live TRUE/FALSE formulas) and the master check",
    "As run": "each input as run, and whether it has changed since (live)",
    "Audit": "versions, run settings, scenario hash and the text to repeat the run",
    "Paths": "a sample of simulated paths, for `bondmodel verify --paths-check`",
}


def _sheet_of(reference: str) -> str | None:
    """The sheet named in a reference such as ``'Sources and uses'!$B$5`` (None if none)."""
    if "!" not in reference:
        return None
    sheet = reference.rsplit("!", 1)[0]
    if sheet.startswith("'") and sheet.endswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    return sheet


#: A string constant in a formula, where a ``!`` or a name means nothing.
_STRING = re.compile(r'"(?:[^"]|"")*"')
#: An operand: a sheet before ``!`` (quoted or not), or a bare name (not a function, which
#: a ``(`` follows, nor part of a reference such as ``$D$5`` or ``A1:B2``).
_OPERAND = re.compile(
    r"('(?:[^']|'')+'|[A-Za-z_][\w.]*)!|(?<![\w.$:'!])([A-Za-z_][\w.]*)(?![\w.(!])"
)


@functools.lru_cache(maxsize=1 << 16)
def _operands(formula: str) -> tuple[str, ...]:
    """The sheets (as ``Sheet!``) and the bare names a formula refers to, string constants
    left out.

    A regular expression rather than a full formula tokenizer, and cached: the Model map and
    the link colours read every formula of a workbook, and tokenizing them was half the time
    of writing one (tests/test_printing.py checks it against openpyxl's tokenizer on every
    formula of every template).
    """
    out = []
    for sheet, name in _OPERAND.findall(_STRING.sub('""', formula)):
        out.append(sheet + "!" if sheet else name)
    return tuple(out)


def defined_name_sheets(wb: Workbook) -> dict[str, str]:
    """Each defined name of ``wb`` and the sheet its reference is on."""
    out: dict[str, str] = {}
    for name, _index, formula, *_ in wb.defined_names:
        sheets = {_sheet_of(op) for op in _operands(formula)} - {None}
        if len(sheets) == 1:
            out[name.rsplit("!", 1)[-1].lower()] = str(sheets.pop())
    return out


def formulas(ws: Worksheet) -> Iterable[str]:
    """The text of every formula written to ``ws`` (XlsxWriter keeps the cells until close)."""
    cells: dict[int, dict[int, Any]] = ws.table
    for row in cells.values():
        for cell in row.values():
            if type(cell).__name__ in ("Formula", "ArrayFormula"):
                yield str(cell.formula)


def sheets_read(formula: str, names: dict[str, str]) -> set[str]:
    """The sheets ``formula`` refers to, directly or through one of the defined ``names``
    (:func:`defined_name_sheets`); the formula's own sheet among them when it names it."""
    found: set[str] = set()
    for op in _operands(formula):
        sheet = _sheet_of(op) or names.get(op.lower())
        if sheet is not None:
            found.add(sheet)
    return found


def reads_from(wb: Workbook) -> dict[str, set[str]]:
    """Each sheet of ``wb`` and the other sheets its formulas refer to."""
    names = defined_name_sheets(wb)
    out: dict[str, set[str]] = {}
    for ws in wb.worksheets():
        found: set[str] = set()
        for formula in formulas(ws):
            found |= sheets_read(formula, names)
        out[ws.name] = found - {ws.name}
    return out


#: The notes under the title.
NOTES = (
    "Derived from the workbook's formulas as written: a sheet reads another when one of its "
    "formulas refers to a cell there, directly or through a defined name (charts not counted).",
    "Data flows left to right: Inputs -> Timeline -> Cashflows (-> Annual) -> Bond (-> Sources "
    "and uses) -> Metrics -> Summary; every computed sheet reads the Checks sheet's master check "
    "for its RERUN NEEDED banner.",
)
#: Column widths (characters): sheet, what it holds, reads from, read by.
WIDTHS = (18, 60, 48, 48)


def model_map_sheet(wb: Workbook, ws: Worksheet, styles: Styles) -> None:
    """Fill the Model map sheet ``ws`` from the formulas of every sheet written so far
    (call it last, once every other sheet is written)."""
    reads = reads_from(wb)
    order = [sheet.name for sheet in wb.worksheets()]
    read_by = {name: {other for other in order if name in reads[other]} for name in order}
    for col, width in enumerate(WIDTHS):
        ws.set_column(col, col, width)
    ws.write(0, 0, "Model map: the sheets and how data flows between them", styles.title)
    for row, note in enumerate(NOTES, start=1):
        ws.write(row, 0, note, styles.note)
    head = len(NOTES) + 2
    for col, title in enumerate(("Sheet", "What it holds", "Reads from", "Read by")):
        ws.write_string(head, col, title, styles.header)
    for i, name in enumerate(order):
        row = head + 1 + i
        texts = [
            SHEET_PURPOSES.get(name, ""),
            *(
                ", ".join(s for s in order if s in sheets) or "none"
                for sheets in (reads[name], read_by[name])
            ),
        ]
        ws.write_url(row, 0, f"internal:'{name}'!A1", styles.link_top, name)
        for col, text in enumerate(texts, start=1):
            ws.write_string(row, col, text, styles.wrap)
        # wrapped text needs its height set: no application sizes rows on opening
        lines = max(math.ceil(len(text) / (WIDTHS[col] - 4)) for col, text in enumerate(texts, 1))
        ws.set_row(row, 15 * max(lines, 1))
    ws.freeze_panes(head + 1, 0)
