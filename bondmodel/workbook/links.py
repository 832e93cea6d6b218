"""Links to other sheets in green: the colour code's fourth colour.

A reviewer reads a model's colours before its formulas: blue on yellow for an input,
black for a formula on the sheet's own cells, green for a formula that reads another
sheet (a link). :func:`colour_links` applies the green after every sheet is written,
from the formulas themselves, so no writer can forget it and the colour always says
what the formula does. A cell whose style already sets a colour of its own (a check's
TRUE or FALSE, a warning, a note, a tile's label) keeps it.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Final

from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook

#: The colour of a formula that reads another sheet.
LINK_GREEN: Final = "#00803C"

#: A reference to another sheet in a formula: ``'Sheet name'!`` or ``Sheet!``.
_OTHER_SHEET: Final = re.compile(r"(?:'(?:[^']|'')+'|\b[A-Za-z_][\w.]*)!")
#: Quoted text in a formula, where ``!`` means nothing.
_STRING: Final = re.compile(r'"(?:[^"]|"")*"')


#: A name in a formula: a defined name unless a ``(`` (a function) or ``!`` follows it.
_NAME: Final = re.compile(r"(?<![\w.$'!])([A-Za-z_][\w.]*)(?![\w.(!])")


def sheet_of(reference: str) -> str:
    """The sheet a reference such as ``'Bond'!$C$5`` or ``Inputs!$E$5`` points at."""
    name = reference.lstrip("=").rsplit("!", 1)[0]
    return name[1:-1].replace("''", "'") if name.startswith("'") else name


def reads_other_sheet(formula: str, sheet: str, names: dict[str, str] | None = None) -> bool:
    """Whether ``formula`` on ``sheet`` reads a cell of another sheet, by a reference or by
    one of the defined ``names`` (upper-cased name: the sheet it points at)."""
    text = _STRING.sub('""', formula)
    for match in _OTHER_SHEET.finditer(text):
        if sheet_of(match.group(0) + "A1") != sheet:
            return True
    for match in _NAME.finditer(text):
        where = (names or {}).get(match.group(1).upper())
        if where is not None and where != sheet:
            return True
    return False


def colour_links(wb: Workbook) -> int:
    """Colour green every formula in ``wb`` that reads another sheet (directly or by a
    defined name), unless its style has a colour of its own; returns how many cells were
    coloured."""
    names = {str(name).upper(): sheet_of(str(where)) for name, _, where, *_ in wb.defined_names}
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
                if not reads_other_sheet(cell.formula, ws.name, names):
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
