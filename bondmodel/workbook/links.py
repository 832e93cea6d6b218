"""Links to other sheets in green: the colour code's fourth colour.

A reviewer reads a model's colours before its formulas: blue on yellow for an input,
black for a formula on the sheet's own cells, green for a formula that reads another
sheet (a link). :func:`colour_links` applies the green after every sheet is written,
from the formulas themselves (read as the Model map reads them), so no writer can forget
it and the colour always says what the formula does. A cell whose style already sets a
colour of its own (a check's TRUE or FALSE, a warning, a note, a tile's label) keeps it.
"""

from __future__ import annotations

import copy
from typing import Any

from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook

from bondmodel.workbook.model_map import defined_name_sheets, sheets_read
from bondmodel.workbook.styles import LINK_GREEN


def colour_links(wb: Workbook) -> int:
    """Colour green every formula in ``wb`` that reads another sheet (directly or by a
    defined name), unless its style has a colour of its own; returns how many cells were
    coloured."""
    names = defined_name_sheets(wb)
    greens: dict[int, Format] = {}
    coloured = 0
    for ws in wb.worksheets():
        for row in ws.table.values():
            for col, cell in row.items():
                kind = type(cell).__name__
                if kind not in ("Formula", "ArrayFormula"):
                    continue
                style = cell.format
                if style is not None and style.font_color is not None:
                    continue
                if not sheets_read(str(cell.formula), names) - {ws.name}:
                    continue
                row[col] = cell._replace(format=_green(wb, style, greens))
                coloured += 1
    return coloured


def _green(wb: Workbook, style: Format | None, greens: dict[int, Format]) -> Format:
    """``style`` with green text: one copy per style, added to the workbook's formats."""
    key = id(style)
    if key not in greens:
        if style is None:
            green = wb.add_format({"font_color": LINK_GREEN})
        else:
            green = _copy_format(wb, style)
            green.set_font_color(LINK_GREEN)
        greens[key] = green
    return greens[key]


def _copy_format(wb: Workbook, style: Format) -> Format:
    """A new format of ``wb`` with ``style``'s properties (XlsxWriter has no copy: the
    indexes the workbook assigns at close are cleared so that the copy gets its own)."""
    twin: Any = copy.copy(style)
    twin.xf_index = None
    twin.dxf_index = None
    twin._format_key = None
    wb.formats.append(twin)
    green: Format = twin
    return green
