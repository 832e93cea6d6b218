"""The workbook's formats, and writing a value that may be undefined."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Final

from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel.display import currency_symbol
from bondmodel.labels import Prices, Unit, UnitWords, financial_year
from bondmodel.scenario.schema import Scenario


def scenario_unit_words(scenario: Scenario) -> UnitWords:
    """The unit words of ``scenario``'s workbook: its currency, real terms at the prices of
    its base date's financial year, and its appraisal basis."""
    return UnitWords(
        currency_symbol(scenario.meta.currency).strip(),
        financial_year(scenario.meta.base_date),
        scenario.economics.appraisal_basis == "real",
    )


#: The colour of a formula that reads another sheet (:mod:`bondmodel.workbook.links`).
LINK_GREEN: Final = "#00803C"


class Styles:
    """The workbook's formats: one per unit, headers, notes and check results."""

    def __init__(self, wb: Workbook, currency: str, words: UnitWords | None = None) -> None:
        symbol = currency_symbol(currency)
        #: the words of each unit in this workbook's Unit columns (labels.UNIT_WORDS)
        self.words = words if words is not None else UnitWords(symbol.strip())
        # negatives in brackets, as accounts show them
        money = f"{symbol}#,##0;[Red]({symbol}#,##0)"
        self._wb = wb
        self._money = money
        self.currency_symbol = symbol
        #: a chart axis of money: millions, in the scenario's currency
        self.millions = f'{symbol}#,##0.0,,"m"'
        self._input_styles: dict[tuple[str, str], Any] = {}
        self.title = wb.add_format({"bold": True, "font_size": 14})
        header: dict[str, Any] = {
            "bold": True,
            "bg_color": "#1F3864",
            "font_color": "#FFFFFF",
            "border": 1,
        }
        self.header = wb.add_format(header)
        #: a heading that wraps onto more lines (a partner's name over a narrow column)
        self.header_wrap = wb.add_format({**header, "text_wrap": True, "valign": "top"})
        self.label = wb.add_format({"bold": False})
        self.bold = wb.add_format({"bold": True})
        self.bold_count = wb.add_format({"bold": True, "num_format": "0"})
        self.bold_right = wb.add_format({"bold": True, "align": "right"})
        self.note = wb.add_format({"italic": True, "font_color": "#595959"})
        #: a note over several merged columns, wrapped to them
        self.note_wrap = wb.add_format(
            {"italic": True, "font_color": "#595959", "text_wrap": True, "valign": "top"}
        )
        self.text = wb.add_format({"text_wrap": False})
        self.by_unit: dict[str, Any] = {
            "money": wb.add_format({"num_format": money}),
            "ratio": wb.add_format({"num_format": "0.00"}),
            "rate": wb.add_format({"num_format": "0.00%"}),
            "years": wb.add_format({"num_format": "0.00"}),
            "index": wb.add_format({"num_format": "0.000000"}),
            "factor": wb.add_format({"num_format": "0.000000"}),
            "count": wb.add_format({"num_format": "0"}),
            "text": wb.add_format({}),
            "date": wb.add_format({"num_format": "dd mmm yyyy"}),
        }
        # a total under a column of pounds: bold, ruled above, double-ruled below
        self.total_money = wb.add_format({"num_format": money, "bold": True, "top": 1, "bottom": 6})
        self.link = wb.add_format({"font_color": "#0563C1", "underline": 1})
        # a formula reading another sheet (coloured by links.colour_links; the Cover's key)
        self.reads_other_sheet = wb.add_format({"font_color": LINK_GREEN})
        self.link_top = wb.add_format({"font_color": "#0563C1", "underline": 1, "valign": "top"})
        # one input style (FAST: inputs stand out): blue text on pale yellow
        input_style: dict[str, Any] = {
            "font_color": "#0000FF",
            "bg_color": "#FFF2CC",
            "border": 1,
            "border_color": "#BFBFBF",
        }
        self.input_style = input_style
        self.input = wb.add_format(input_style)
        self.input_date = wb.add_format({**input_style, "num_format": "yyyy-mm-dd"})
        # structural inputs: the formulas were built for their value (grey, dark text)
        structural_style: dict[str, Any] = {
            "font_color": "#1F3864",
            "bg_color": "#D9D9D9",
            "border": 1,
            "border_color": "#808080",
            "italic": True,
        }
        self.structural_style = structural_style
        self.structural = wb.add_format(structural_style)
        self.structural_date = wb.add_format({**structural_style, "num_format": "yyyy-mm-dd"})
        # the record of an input as run: plain values, not for editing
        self.copy_style: dict[str, Any] = {"font_color": "#595959"}
        self.copy = wb.add_format(self.copy_style)
        self.copy_date = wb.add_format({**self.copy_style, "num_format": "yyyy-mm-dd"})
        # a warning that is empty while all is well (RERUN NEEDED, STALE)
        self.alert = wb.add_format({"bold": True, "font_color": "#C00000", "font_size": 12})
        self.good = wb.add_format({"bold": True, "font_color": "#006100", "bg_color": "#C6EFCE"})
        self.bad = wb.add_format({"bold": True, "font_color": "#9C0006", "bg_color": "#FFC7CE"})
        # conditional formats carry only what changes (LibreOffice and Excel apply dxf formats)
        self.bad_dynamic = wb.add_format({"font_color": "#9C0006", "bg_color": "#FFC7CE"})
        self.wrap = wb.add_format({"text_wrap": True, "valign": "top"})

    def value_styles(self, kind: str) -> tuple[Any, Any]:
        """(style, date style) of an input value: ``input``, ``structural`` or ``copy``."""
        return {
            "input": (self.input, self.input_date),
            "structural": (self.structural, self.structural_date),
            "copy": (self.copy, self.copy_date),
        }[kind]

    def unit(self, unit: Unit) -> Any:
        return self.by_unit[unit]

    def unit_words(self, unit: Unit, prices: Prices = "nominal") -> str:
        """What a Unit column shows for ``unit`` (money in ``prices``): ``£ nominal``, ``%``."""
        return self.words(unit, prices)

    def input_value(self, kind: str, unit: str, value: float) -> Any:
        """The style of a number typed on Inputs (or kept on As run): the ``kind``'s colours
        (input, structural or copy) with a number format for the input's ``unit`` as the
        Inputs sheet names it (``£ a year``, ``rate a year``, ``share``, ``years``, ...)."""
        if 0 < abs(value) < 1e-4 or abs(value) >= 1e15:
            code = "0.0E+00"  # a tolerance or a bound: shown as it is, not as 0.00% or £0
        elif unit.startswith("£"):
            code = self._money
        elif unit.startswith(("rate", "share", "probability", "fraction")):
            code = "0.00%"
        else:
            code = "#,##0.00##"
        key = (kind, code)
        if key not in self._input_styles:
            base = {
                "input": self.input_style,
                "structural": self.structural_style,
                "copy": self.copy_style,
            }[kind]
            self._input_styles[key] = self._wb.add_format({**base, "num_format": code})
        return self._input_styles[key]


#: Width of a Unit column: its longest words, "£ real (2026/27 prices)", fit.
UNIT_WIDTH = 24


def heading_height(texts: Iterable[str], width: float) -> float:
    """The height (points) of a row of wrapped headings in columns ``width`` characters wide:
    enough lines for the longest, counted by words as the cell wraps them."""
    lines = 1
    for text in texts:
        count, used = 1, 0
        for word in text.split():
            if used and used + 1 + len(word) > width - 2:
                count, used = count + 1, len(word)
            else:
                used += len(word) + (1 if used else 0)
        lines = max(lines, count)
    return 15.0 * lines


def write_value(
    ws: Worksheet, row: int, col: int, value: float | str | None, unit: Unit, styles: Styles
) -> None:
    """A number, or a labelled "n/a" where the value is undefined (never NaN); a text or
    true/false value (a profile's name in a sweep's grid) as its text."""
    if isinstance(value, str | bool):
        ws.write_string(row, col, str(value))
    elif value is None or not math.isfinite(value):
        ws.write_string(row, col, "n/a", styles.note)
    else:
        ws.write_number(row, col, float(value), styles.unit(unit))


def print_across(ws: Worksheet, header_rows: int, label_cols: int = 3) -> None:
    """Print a sheet with time across its columns: each page repeats the headings and the
    line-item labels (paper, orientation and fit: :mod:`bondmodel.workbook.printing`)."""
    if header_rows > 0:
        ws.repeat_rows(0, header_rows - 1)
    if label_cols > 0:
        ws.repeat_columns(0, label_cols - 1)
