"""Print setup for every sheet: A4 landscape, one page wide, a print area, headers and footers.

Applied once, after every sheet is written (:func:`print_ready`), so no sheet can
miss it. The print area covers a sheet's cells and charts, except what is data
for ``verify`` rather than for a reader: the Audit sheet's run manifest, canonical
JSON and embedded TOML, and the Paths sheet's per-path sample (both stay in the
file). The header names the scenario and the sheet; the footer the engine's
version and the run time, the page (N of M) and the file.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel import __version__

#: XlsxWriter's paper code for A4.
A4 = 9
#: Excel's limit on the text of a header or footer, codes included.
_HEADER_LIMIT = 255


def _escape(text: str) -> str:
    """Text for a header or footer: ``&`` starts a code there, so it is doubled."""
    return text.replace("&", "&&")


#: The engine version and run time in a footer, as :func:`header_footer` writes them (verify
#: does not compare them: they record the run, not what it computed).
RUN_STAMP = re.compile(r"bondmodel \S+, run \d{4}-\d\d-\d\d \d\d:\d\d UTC")


def header_footer(scenario_name: str, stamp: datetime) -> tuple[str, str]:
    """The header (scenario on the left, sheet on the right) and the footer (engine and run
    time, page N of M, file name), each within Excel's 255 characters."""
    name = scenario_name if len(scenario_name) <= 120 else scenario_name[:117] + "..."
    header = f"&L&8{_escape(name)}&R&8&A"
    footer = (
        f"&L&8bondmodel {_escape(__version__)}, run {stamp:%Y-%m-%d %H:%M} UTC"
        "&C&8Page &P of &N&R&8&F"
    )
    assert len(header) <= _HEADER_LIMIT and len(footer) <= _HEADER_LIMIT
    return header, footer


def _extent(ws: Worksheet) -> tuple[int, int]:
    """The last row and column (zero-based) holding a cell or any part of a chart."""
    last_row = ws.dim_rowmax if ws.dim_rowmax is not None else 0
    last_col = ws.dim_colmax if ws.dim_colmax is not None else 0
    for row, col, chart, x_off, y_off, x_scale, y_scale, anchor, *_ in ws.charts:
        end_row, end_col = _chart_end(ws, row, col, chart, (x_off, y_off, x_scale, y_scale, anchor))
        last_row, last_col = max(last_row, end_row), max(last_col, end_col)
    return last_row, last_col


def print_ready(
    wb: Workbook,
    scenario_name: str,
    stamp: datetime,
    last_rows: dict[str, int],
    last_cols: dict[str, int],
    pages_wide: dict[str, int] | None = None,
) -> None:
    """Set up every sheet of ``wb`` for printing.

    ``last_rows`` caps a sheet's print area at a row (zero-based), for the sheets
    whose lower part is data for ``verify`` rather than for a reader; ``last_cols`` at
    a column (the Bond sheet prints the bond's life as run, not the columns after it).
    ``pages_wide`` lets a sheet with time across many columns print more than one page
    wide (each page repeating its labels), so that its figures stay legible.
    """
    header, footer = header_footer(scenario_name, stamp)
    wide = pages_wide or {}
    for ws in wb.worksheets():
        ws.set_paper(A4)
        ws.set_landscape()
        # one page wide, as many long as it takes (a sheet may have asked for one page)
        ws.fit_to_pages(wide.get(ws.name, 1), ws.fit_height if ws.fit_page else 0)
        ws.set_header(header)
        ws.set_footer(footer)
        last_row, last_col = _extent(ws)
        if ws.name in last_rows:
            last_row = min(last_row, last_rows[ws.name])
        if ws.name in last_cols:
            last_col = min(last_col, last_cols[ws.name])
        ws.print_area(0, 0, last_row, last_col)


def _chart_end(
    ws: Worksheet,
    row: int,
    col: int,
    chart: Any,
    placement: tuple[float, float, float, float, int] = (0, 0, 1, 1, 1),
) -> tuple[int, int]:
    """The last row and column a chart covers when anchored at (``row``, ``col``) with
    ``placement`` (x and y offsets, x and y scales, anchor type), by XlsxWriter's own
    placement (column widths and row heights)."""
    x_off, y_off, x_scale, y_scale, anchor = placement
    end = ws._position_object_pixels(
        col, row, x_off, y_off, chart.width * x_scale, chart.height * y_scale, anchor
    )
    return end[5], end[4]


def place_charts(ws: Worksheet, charts: list[Any], top: int, left: int, per_row: int = 2) -> int:
    """Insert ``charts`` ``per_row`` abreast from (``top``, ``left``), each starting in the
    column after the previous one ends and each row of charts below the last, so that no
    chart covers another. Set the charts' sizes first. Returns the first row below them."""
    row, col, below = top, left, top
    for i, chart in enumerate(charts):
        if i and i % per_row == 0:
            row, col = below + 1, left
        ws.insert_chart(row, col, chart)
        last_row, last_col = _chart_end(ws, row, col, chart)
        col, below = last_col + 1, max(below, last_row + 1)
    return below
