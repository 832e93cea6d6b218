"""The Annual sheet: the Cashflows sheet's lines, and the bond's debt service, by financial year.

Written for every model with more than one period a year (semi-annual, quarterly,
monthly); an annual model's Cashflows sheet already has one column a year, so
it gets no Annual sheet and its ``annual.*`` layout keys name the Cashflows rows
(:func:`alias_cashflows`), for charts that always read ``annual.label`` and
``annual.net_cash_flow``.

Each row is one live formula across the financial years (FAST): a flow sums the
Cashflows row over the periods whose end falls in the year (``SUMIFS`` by the
Timeline's "Financial year" row; the close counts in the year it falls in); a
balance, a cumulative total, an index or a factor is the year's last period
(``SUMIFS`` restricted by the Timeline's flag of the last period of a financial
year). The bond's debt service and CFADS sum the payments whose timeline period
falls in the year; the minimum DSCR is the lowest of those payments' ratios.
Each cell caches what its formula computes from the cached values of the cells
it reads (taken from the worksheets as written), so the two cannot disagree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from xlsxwriter.utility import xl_cell_to_rowcol
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel.engine import Results
from bondmodel.labels import BOND_COLUMNS, PERIOD_COLUMNS, Unit
from bondmodel.types import FloatArray
from bondmodel.workbook.layout import FIRST_PERIOD_COL, Layout, span
from bondmodel.workbook.rows import Grid, Line, same, write_lines
from bondmodel.workbook.styles import Styles, print_across
from bondmodel.workbook.timeline_sheet import financial_years

#: The sheet's name.
ANNUAL = "Annual"
#: Rows (0-based) of the financial-year headings and of the first line item.
LABEL_ROW, FY_ROW, FIRST_T_ROW, LAST_T_ROW, HEADER_ROW = 2, 3, 4, 5, 6
FIRST_LINE_ROW = HEADER_ROW + 1

#: The Cashflows period table's rows that are headings, not lines.
_HEADER_KEYS = ("period", "label", "period_start", "period_end")
#: The Bond sheet's rows summed by financial year, and the ratio whose minimum is shown.
_BOND_FLOWS = ("debt_service_due", "cfads")


def has_annual_sheet(results: Results) -> bool:
    """True when the model has more than one period a year (so an Annual sheet is written)."""
    return results.timeline.f > 1


def is_flow(key: str, unit: str) -> bool:
    """A line summed over the year (money that moves in a period); any other line (a balance,
    a cumulative total, an index, a factor, years) takes the year's last period."""
    return unit == "money" and not key.startswith("cumulative")


def annual_years(results: Results) -> list[int]:
    """The financial years (first calendar year of each) the sheet has columns for.

    Aligned to the financial year, the start date is structural and the years are those
    the periods fall in. Otherwise the start date is live and a horizon of H years from
    any close other than 1 April touches H + 1 financial years, so the sheet always has
    H + 1 columns (the last is empty while the close is on 1 April).
    """
    fy = financial_years(results.timeline)
    tl = results.scenario.timeline
    count = len(set(fy.tolist())) if tl.align_to_financial_year else tl.horizon_years + 1
    return [int(fy[0]) + j for j in range(count)]


def cashflow_keys(layout: Layout) -> list[str]:
    """The Cashflows lines the Annual sheet rolls up: the period table, then (with a bond)
    the council's cash after debt service (and with a PWLB loan instead)."""
    main = [k for k in PERIOD_COLUMNS if k not in _HEADER_KEYS]
    council = sorted(
        (
            key.split(".", 1)[1]
            for key in layout.labels
            if key.startswith(("cashflows.council_", "cashflows.pwlb_"))
        ),
        key=lambda k: layout.row_numbers[f"cashflows.{k}"],
    )
    return main + council


def alias_cashflows(layout: Layout) -> None:
    """For an annual model (no Annual sheet): ``annual.label`` and ``annual.<key>`` name the
    Cashflows rows, whose columns are already years."""
    layout.rows["annual.label"] = layout.rows["cashflows.label"]
    for key in cashflow_keys(layout):
        layout.rows[f"annual.{key}"] = layout.rows[f"cashflows.{key}"]


def cached_row(ws: Worksheet, row: int, first_col: int, n: int) -> FloatArray:
    """The values the cells of ``row`` cache, as written (NaN for text such as ``n/a``)."""
    out = np.full(n, np.nan)
    cells: dict[int, Any] = ws.table.get(row, {})
    for j in range(n):
        cell: Any = cells.get(first_col + j)
        kind = type(cell).__name__
        value = cell.number if kind == "Number" else cell.value if kind == "Formula" else None
        if isinstance(value, bool | int | float):
            out[j] = float(value)
    return out


def annual_sheet(
    wb: Workbook, ws: Worksheet, styles: Styles, results: Results, layout: Layout
) -> None:
    """Write the Annual sheet on ``ws`` (added after Cashflows; filled once the Bond sheet
    and the council's rows exist) and register ``annual.label`` and ``annual.<key>``."""
    years = annual_years(results)
    n = len(years)
    last_col = FIRST_PERIOD_COL + n - 1
    periods = results.timeline.n_periods + 1
    ws.set_column(0, 0, 60)
    ws.set_column(1, 1, 10)
    ws.set_column(2, 2, 16)
    ws.set_column(FIRST_PERIOD_COL, last_col, 14)
    ws.write(
        0,
        0,
        f"Annual cash flows (base case): {results.scenario.meta.name}",
        styles.title,
    )
    ws.write(
        1,
        0,
        "By financial year (1 April to 31 March). Flows sum the periods ending in the year (the "
        "close counts in its year); lines marked 'at year end' take the year's last period. "
        "Live formulas over the Cashflows, Timeline and Bond sheets.",
        styles.note,
    )
    tl_fy = layout.rows["timeline.financial_year"]
    sheet = {name: wb.get_worksheet_by_name(name) for name in ("Cashflows", "Timeline", "Bond")}
    fy_t = cached_row(
        sheet["Timeline"], layout.row_numbers["timeline.financial_year"], FIRST_PERIOD_COL, periods
    )
    last_t = cached_row(
        sheet["Timeline"], layout.row_numbers["timeline.f_fy_end"], FIRST_PERIOD_COL, periods
    )
    fy = np.array(years, dtype=float)
    lines = [
        Line(
            "fy",
            "Financial year: its first calendar year",
            "count",
            "={fy@p}+1",
            f"=MIN({tl_fy})",
            values=fy,
        ),
        same(
            "first_t",
            "First period (t) of the year",
            "count",
            f'=COUNTIF({tl_fy},"<"&{{fy}})',
            values=np.array([np.sum(fy_t < y) for y in fy]),
        ),
        same(
            "last_t",
            "Last period (t) of the year",
            "count",
            f'=COUNTIF({tl_fy},"<="&{{fy}})-1',
            values=np.array([np.sum(fy_t <= y) - 1 for y in fy]),
        ),
    ]
    body = _cashflow_lines(sheet["Cashflows"], layout, fy_t == fy[:, None], last_t == 1)
    if results.bond is not None:
        body += _bond_lines(sheet["Bond"], layout, fy_t, fy)
    rows: dict[str, int | tuple[str, int]] = {
        "fy": FY_ROW,
        "first_t": FIRST_T_ROW,
        "last_t": LAST_T_ROW,
        **{line.key: FIRST_LINE_ROW + i for i, line in enumerate(body)},
    }
    grid = Grid(rows, n)
    write_lines(ws, styles, lines, grid, layout, ANNUAL)
    # the label of each year (2026/27): the categories of a chart by financial year
    ws.write_string(LABEL_ROW, 0, "Financial year", styles.bold)
    for j, year in enumerate(years):
        col = FIRST_PERIOD_COL + j
        ws.write_formula(
            LABEL_ROW,
            col,
            f'={grid.cell("fy", "", col)}&"/"&TEXT(MOD({grid.cell("fy", "", col)}+1,100),"00")',
            styles.bold_right,
            f"{year}/{(year + 1) % 100:02d}",
        )
    layout.rows["annual.label"] = span(ANNUAL, LABEL_ROW, FIRST_PERIOD_COL, last_col)
    ws.write(HEADER_ROW, 0, "Line item", styles.header)
    ws.write(HEADER_ROW, 1, "Unit", styles.header)
    ws.write(HEADER_ROW, 2, "Total", styles.header)
    for j in range(n):
        ws.write(HEADER_ROW, FIRST_PERIOD_COL + j, "", styles.header)
    write_lines(ws, styles, body, grid, layout, ANNUAL)
    ws.freeze_panes(FIRST_LINE_ROW, FIRST_PERIOD_COL)
    print_across(ws, FIRST_LINE_ROW)


def _cashflow_lines(
    ws: Worksheet, layout: Layout, in_year: npt.NDArray[np.bool_], year_end: npt.NDArray[np.bool_]
) -> list[Line]:
    """The Cashflows lines by financial year: a flow summed over the year's periods
    (``in_year``: years x periods), anything else at the year's last period (``year_end``)."""
    tl_fy = layout.rows["timeline.financial_year"]
    tl_end = layout.rows["timeline.f_fy_end"]
    periods = in_year.shape[1]
    body: list[Line] = []
    for key in cashflow_keys(layout):
        label, unit = layout.labels[f"cashflows.{key}"]
        if not body:
            body.append(Line("h_programme", "Programme cash flows (Cashflows sheet)", "count", ""))
        if key.startswith(("council_", "pwlb_")):
            # "With the bond (...): paid by the council": the first part heads the group
            group, label = label.split(": ", 1)
            label = label[0].upper() + label[1:]
            if key.endswith("_paid"):
                title = f"Council cash {group[0].lower()}{group[1:]} (Cashflows sheet)"
                body.append(Line(f"h_{key}", title, "count", ""))
        values = cached_row(ws, layout.row_numbers[f"cashflows.{key}"], FIRST_PERIOD_COL, periods)
        source = layout.rows[f"cashflows.{key}"]
        if is_flow(key, unit):
            body.append(
                same(
                    key,
                    label,
                    _unit(unit),
                    f"=SUMIFS({source},{tl_fy},{{fy}})",
                    values=_sums(in_year, values),
                    total=True,
                )
            )
        else:
            body.append(
                same(
                    key,
                    f"{label} (at year end)",
                    _unit(unit),
                    f"=SUMIFS({source},{tl_fy},{{fy}},{tl_end},1)",
                    values=_sums(in_year & year_end, values),
                )
            )
    return body


def _sums(mask: npt.NDArray[np.bool_], values: FloatArray) -> FloatArray:
    """Each row of ``mask``'s sum of ``values`` (``SUMIFS``: blank and text cells add 0)."""
    out: FloatArray = np.where(mask, np.nan_to_num(values, nan=0.0), 0.0).sum(axis=1)
    return out


def _unit(unit: str) -> Unit:
    """A registered line's unit, as the row model's type."""
    assert unit in ("money", "ratio", "rate", "years", "index", "factor", "count"), unit
    return unit  # type: ignore[return-value]


def _bond_lines(ws: Worksheet, layout: Layout, fy_t: FloatArray, fy: FloatArray) -> list[Line]:
    """Debt service due and CFADS summed over the payments falling in each financial year
    (by the payment's timeline period, between the year's first and last period), and the
    lowest DSCR among them ("n/a" in a year without debt service)."""
    n = _columns(layout.rows["bond.t"])
    first = layout.row_numbers["bond.t"]
    t_k = cached_row(ws, first, FIRST_PERIOD_COL, n).astype(int)
    year_of = fy_t[t_k]  # each payment's financial year
    mask = year_of[None, :] == fy[:, None]  # (years, payments)
    bond_t = layout.rows["bond.t"]
    within = f'{bond_t},">="&{{first_t}},{bond_t},"<="&{{last_t}}'
    lines: list[Line] = [Line("h_bond", "Bond by financial year (Bond sheet)", "count", "")]
    for key in _BOND_FLOWS:
        values = cached_row(ws, layout.row_numbers[f"bond.{key}"], FIRST_PERIOD_COL, n)
        lines.append(
            same(
                key,
                f"{BOND_COLUMNS[key].label}: payments in the year",
                "money",
                f"=SUMIFS({layout.rows[f'bond.{key}']},{within})",
                values=_sums(mask, values),
                total=True,
            )
        )
    dscr = cached_row(ws, layout.row_numbers["bond.dscr"], FIRST_PERIOD_COL, n)
    lowest = np.array(
        [
            float(np.min(dscr[m & np.isfinite(dscr)])) if np.any(m & np.isfinite(dscr)) else np.nan
            for m in mask
        ]
    )
    ratio = layout.rows["bond.dscr"]
    lines.append(
        same(
            "min_dscr",
            "Minimum DSCR of the year's payments",
            "ratio",
            f"=IF(SUMPRODUCT(ISNUMBER({ratio})*({bond_t}>={{first_t}})*({bond_t}<={{last_t}}))=0,"
            f'"n/a",_xlfn.MINIFS({ratio},{within}))',
            values=lowest,
        )
    )
    return lines


def _columns(reference: str) -> int:
    """The number of columns of a one-row range such as ``'Bond'!$D$9:$AF$9``."""
    first, last = reference.split("!", 1)[1].replace("$", "").split(":")
    return int(xl_cell_to_rowcol(last)[1]) - int(xl_cell_to_rowcol(first)[1]) + 1
