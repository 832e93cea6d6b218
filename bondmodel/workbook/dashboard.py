"""The Summary sheet: a one-page dashboard of headline tiles and four charts.

Each tile shows one headline measure: its base case, large (a live formula on the
Metrics sheet, so it follows every edit), and below it the Monte Carlo P10, P50 and P90
(simulation output: values, for the stated seed). A probability has no base case: its
tile shows the simulated probability and its standard error. Four charts sit below
the tiles, two abreast: the programme's cash flows by financial year, the bond's debt
service against the cash available for it by payment date, the fan of net savings and
the distribution of the minimum DSCR (of the programme NPV without a bond). The sheet
prints on one A4 landscape page.
"""

from __future__ import annotations

import math
from typing import Any, Final

from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel.engine import Results
from bondmodel.headline import (
    Headline,
    Tile,
    TileUnit,
    base_percentile_text,
    context_sentences,
    headline_metrics,
    tiles,
)
from bondmodel.workbook.layout import Layout
from bondmodel.workbook.printing import place_charts
from bondmodel.workbook.styles import Styles

#: Tiles a row, and the columns a tile spans (its P10, P50 and P90), with a narrow gap.
TILES_PER_ROW: Final = 4
TILE_COLUMNS: Final = 3
_TILE_WIDTH: Final = 12.0
_GAP_WIDTH: Final = 2.0
#: The rows a tile takes: label, base case, P10/P50/P90 headings, their values, and where
#: the base case falls among the simulated paths.
TILE_ROWS: Final = 5
#: The rows above the first tile: title, note, a blank row.
_TOP: Final = 3
#: Each chart's size in pixels, two abreast under the tiles.
CHART_SIZE: Final = {"width": 550, "height": 300}
#: The charts' titles: smaller than XlsxWriter's default, which wraps at this size.
TITLE_FONT: Final = {"size": 11, "bold": True}


class _TileStyles:
    """The tiles' formats: a navy label, a large base case, small percentile rows."""

    def __init__(self, wb: Workbook, styles: Styles) -> None:
        symbol = styles.currency_symbol
        codes: dict[TileUnit, str] = {
            "money": f'{symbol}#,##0.0,,"m";[Red]({symbol}#,##0.0,,"m")',
            "rate": "0.00%",
            "ratio": '0.00"x"',
            "years": '0.0" years"',
        }
        frame = {"border": 1, "border_color": "#8EA9DB", "align": "center", "valign": "vcenter"}
        self.label = wb.add_format(
            {
                **frame,
                "bold": True,
                "font_color": "#FFFFFF",
                "bg_color": "#1F3864",
                "text_wrap": True,
                "font_size": 9,
            }
        )
        self.big = {
            unit: wb.add_format(
                {**frame, "bold": True, "font_size": 18, "num_format": code, "bg_color": "#F2F2F2"}
            )
            for unit, code in codes.items()
        }
        self.big_text = wb.add_format({**frame, "font_size": 11, "bg_color": "#F2F2F2"})
        self.heading = wb.add_format({**frame, "font_size": 8, "font_color": "#595959"})
        self.small = {
            unit: wb.add_format({**frame, "font_size": 9, "num_format": code})
            for unit, code in codes.items()
        }
        self.small_text = wb.add_format({**frame, "font_size": 8, "font_color": "#595959"})
        #: the base case's percentile when it lies outside the simulated P10-P90: amber
        self.unusual = wb.add_format(
            {**frame, "font_size": 8, "bold": True, "font_color": "#7F6000", "bg_color": "#FFE699"}
        )


def dashboard_sheet(
    wb: Workbook, ws: Worksheet, styles: Styles, results: Results, layout: Layout
) -> None:
    """Write the Summary sheet: title, tiles, charts; one printed page."""
    ws.write(0, 0, f"Summary: {results.scenario.meta.name}", styles.title)
    sim = results.risk
    note = (
        "Large figures: the base case, live from the Metrics sheet. Small: Monte Carlo "
        f"P10, P50 and P90 (simulation output for seed {sim.settings.seed}, "
        f"{sim.settings.paths:,} paths)."
        if sim is not None
        else "Large figures: the base case, live from the Metrics sheet. No Monte Carlo run."
    )
    ws.write(1, 0, note, styles.note)
    look = _TileStyles(wb, styles)
    shown = tiles(results)
    for col in range(TILES_PER_ROW * (TILE_COLUMNS + 1) - 1):
        gap = col % (TILE_COLUMNS + 1) == TILE_COLUMNS
        ws.set_column(col, col, _GAP_WIDTH if gap else _TILE_WIDTH)
    # the metric tiles' figures as run prints them (headline.py): one computation for both
    figures = {item.key: item for item in headline_metrics(results)}
    for i, tile in enumerate(shown):
        top = _TOP + (i // TILES_PER_ROW) * (TILE_ROWS + 1)
        left = (i % TILES_PER_ROW) * (TILE_COLUMNS + 1)
        _write_tile(ws, look, results, figures, layout, tile, top, left)
    rows_of_tiles = -(-len(shown) // TILES_PER_ROW)
    for r in range(rows_of_tiles):
        top = _TOP + r * (TILE_ROWS + 1)
        ws.set_row(top, 26)
        ws.set_row(top + 1, 30)
    below = _TOP + rows_of_tiles * (TILE_ROWS + 1)
    # a plain sentence for each base case outside the simulated P10-P90 (headline.py)
    sentences = context_sentences(list(figures.values()), results.scenario.meta.currency)
    last = TILES_PER_ROW * (TILE_COLUMNS + 1) - 2
    for i, sentence in enumerate(sentences):
        ws.merge_range(below + i, 0, below + i, last, sentence, styles.note_wrap)
        ws.set_row(below + i, 24)
    charts = dashboard_charts(wb, results, layout, styles)
    for chart in charts:
        chart.set_size(CHART_SIZE)
    place_charts(ws, charts, below + len(sentences) + (1 if sentences else 0), 0)
    ws.fit_to_pages(1, 1)


def _write_tile(
    ws: Worksheet,
    look: _TileStyles,
    results: Results,
    figures: dict[str, Headline],
    layout: Layout,
    tile: Tile,
    top: int,
    left: int,
) -> None:
    right = left + TILE_COLUMNS - 1
    ws.merge_range(top, left, top, right, tile.label, look.label)
    sim = results.risk
    if tile.kind == "probability":
        if sim is None or tile.key not in sim.probabilities.index:
            ws.merge_range(top + 1, left, top + 1, right, "n/a: no simulation", look.big_text)
            ws.merge_range(top + 2, left, top + 4, right, "", look.small_text)
            return
        chance = sim.probabilities.loc[tile.key, ["value", "se"]].to_numpy(dtype=float)
        value, se = float(chance[0]), float(chance[1])
        _merged_number(ws, top + 1, left, right, value, look.big[tile.unit], look)
        ws.merge_range(top + 2, left, top + 2, right, "Standard error", look.heading)
        _merged_number(ws, top + 3, left, right, se, look.small[tile.unit], look)
        ws.merge_range(top + 4, left, top + 4, right, "", look.small_text)
        return
    item = figures[tile.key]
    base = item.base
    # the base case is the Metrics sheet's live figure, whatever the inputs now say
    ws.merge_range(top + 1, left, top + 1, right, "", look.big[tile.unit])
    ws.write_formula(
        top + 1,
        left,
        f"={layout.cells[f'metrics.{tile.key}']}",
        look.big[tile.unit],
        base if base is not None else "n/a",
    )
    for j, (stat, level) in enumerate(zip(("P10", "P50", "P90"), item.percentiles, strict=True)):
        ws.write_string(top + 2, left + j, stat, look.heading)
        if level is None:
            ws.write_string(top + 3, left + j, "n/a", look.small_text)
        else:
            ws.write_number(top + 3, left + j, level, look.small[tile.unit])
    if sim is None:
        ws.merge_range(top + 4, left, top + 4, right, "", look.small_text)
        return
    unusual = item.context(results.scenario.meta.currency) is not None
    ws.merge_range(
        top + 4,
        left,
        top + 4,
        right,
        f"Base case at {base_percentile_text(item.base_percentile)} of the simulation",
        look.unusual if unusual else look.small_text,
    )


def _merged_number(
    ws: Worksheet, row: int, left: int, right: int, value: float, style: Any, look: _TileStyles
) -> None:
    if math.isfinite(value):
        ws.merge_range(row, left, row, right, "", style)
        ws.write_number(row, left, value, style)
    else:
        ws.merge_range(row, left, row, right, "n/a", look.small_text)


def tile_cell(results: Results, key: str) -> str:
    """The cell (A1) holding a tile's large figure, for tests and for links to it."""
    for i, tile in enumerate(tiles(results)):
        if tile.key == key:
            top = _TOP + (i // TILES_PER_ROW) * (TILE_ROWS + 1)
            return str(xl_rowcol_to_cell(top + 1, (i % TILES_PER_ROW) * (TILE_COLUMNS + 1)))
    raise KeyError(key)


def dashboard_charts(wb: Workbook, results: Results, layout: Layout, styles: Styles) -> list[Any]:
    """The dashboard's charts: cash flows by financial year; with a bond, its debt service
    against CFADS by payment date; with a simulation, the net-savings fan and the
    distribution of the minimum DSCR (of the programme NPV without a bond)."""
    millions = styles.millions
    rows = layout.rows
    charts = []
    annual = "annual.label" in rows
    labels = rows["annual.label" if annual else "cashflows.label"]
    flows = wb.add_chart({"type": "column"})
    flows.add_series(
        {
            "name": "Net cash flow (nominal)",
            "categories": labels,
            "values": rows["annual.net_cash_flow" if annual else "cashflows.net_cash_flow"],
        }
    )
    cumulative = wb.add_chart({"type": "line"})
    cumulative.add_series(
        {
            "name": "Cumulative net cash flow",
            "categories": labels,
            "values": rows[
                "annual.cumulative_net_cash_flow"
                if annual
                else "cashflows.cumulative_net_cash_flow"
            ],
        }
    )
    flows.combine(cumulative)
    flows.set_title(
        {
            "name": "Programme cash flows by financial year" if annual else "Programme cash flows",
            "name_font": TITLE_FONT,
        }
    )
    flows.set_y_axis({"num_format": millions})
    flows.set_x_axis({"name": "Financial year" if annual else "Period"})
    flows.set_legend({"position": "bottom"})
    charts.append(flows)
    if results.bond is not None:
        bond = wb.add_chart({"type": "column"})
        # the payments of the bond as run (the sheet's columns run on to the horizon)
        payments = rows["bond.date.as_run"]  # each payment's date
        bond.add_series(
            {"name": "CFADS", "categories": payments, "values": rows["bond.cfads.as_run"]}
        )
        bond.add_series(
            {
                "name": "Debt service due",
                "categories": payments,
                "values": rows["bond.debt_service_due.as_run"],
            }
        )
        balance = wb.add_chart({"type": "line"})
        balance.add_series(
            {
                "name": "Closing balance (right axis)",
                "categories": payments,
                "values": rows["bond.closing_balance.as_run"],
                "y2_axis": True,
            }
        )
        bond.combine(balance)
        bond.set_x_axis({"name": "Payment date", "text_axis": True, "num_format": "mmm yyyy"})
        bond.set_y_axis({"num_format": millions})
        balance.set_y2_axis({"num_format": millions})
        bond.set_title(
            {"name": "Bond: debt service against cash available (CFADS)", "name_font": TITLE_FONT}
        )
        bond.set_legend({"position": "bottom"})
        charts.append(bond)
    if results.risk is not None and "fan.net_savings.P50" in layout.columns:
        fan = wb.add_chart({"type": "line"})
        for p in ("P5", "P10", "P50", "P90", "P95"):
            fan.add_series(
                {
                    "name": p,
                    "categories": layout.columns["fan.net_savings.period"],
                    "values": layout.columns[f"fan.net_savings.{p}"],
                }
            )
        fan.set_title({"name": "Net savings by period: simulated range", "name_font": TITLE_FONT})
        fan.set_y_axis({"num_format": millions})
        fan.set_legend({"position": "bottom"})
        charts.append(fan)
    key = "min_dscr" if results.bond is not None else "npv"
    if f"histogram.{key}.paths" in layout.columns:
        hist = wb.add_chart({"type": "column"})
        hist.add_series(
            {
                "name": "Paths",
                "categories": layout.columns[f"histogram.{key}.value"],
                "values": layout.columns[f"histogram.{key}.paths"],
                "gap": 5,
            }
        )
        words = "minimum DSCR" if key == "min_dscr" else "programme NPV"
        hist.set_title(
            {"name": f"Distribution of the {words} (simulation)", "name_font": TITLE_FONT}
        )
        hist.set_x_axis({"num_format": '0.00"x"' if key == "min_dscr" else millions})
        hist.set_y_axis({"name": "Paths"})
        hist.set_legend({"none": True})
        charts.append(hist)
    return charts
