"""The Timeline sheet: periods, dates, flags, the price index and discount factors, all live.

Every number here is a formula over the named inputs (``in_...``) and the
named conventions on the Inputs sheet (the Green Book discount-rate bands, the
frequencies; workbook/conventions_block.py), with time across the columns and
one formula per row from one column to the next. Columns line up with the
Cashflows sheet.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import numpy as np
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook

from bondmodel.engine import Results
from bondmodel.workbook.layout import FIRST_PERIOD_COL, Layout, span
from bondmodel.workbook.styles import Styles, print_across

FIRST_COL = FIRST_PERIOD_COL


def timeline_sheet(wb: Workbook, styles: Styles, results: Results, layout: Layout) -> None:
    """Write the Timeline sheet and register its rows and cells in ``layout``."""
    ws = wb.add_worksheet("Timeline")
    sc = results.scenario
    tl = results.timeline
    n = tl.n_periods + 1
    last = FIRST_COL + n - 1
    ws.set_column(0, 0, 40)
    ws.set_column(1, 2, 14)
    ws.set_column(FIRST_COL, last, 12)
    ws.write(0, 0, f"Timeline: {sc.meta.name}", styles.title)
    ws.write(
        1, 0,
        "Live formulas over the named inputs and conventions (Inputs sheet); time across "
        "columns.",
        styles.note,
    )
    # Scalars (the conventions they use are on the Inputs sheet, named)
    freq_names, freq_values = "conv_freq_names", "conv_freq_values"
    row = 2
    scalars: list[tuple[str, str, str, float, str]] = []
    f_value = float(tl.f)
    scalars.append((
        "tl_f", "Periods a year",
        f"=INDEX({freq_values},1,MATCH(in_timeline_frequency,{freq_names},0))", f_value, "count",
    ))
    close = tl.close_date
    close_value = excel_serial(close)
    close_formula = (
        "=IF(in_timeline_align_to_financial_year,"
        "DATE(YEAR(in_timeline_start_date)-IF(MONTH(in_timeline_start_date)<conv_fy_month,1,0),"
        "conv_fy_month,1),"
        "in_timeline_start_date)"
    )
    scalars.append(("tl_close", "Close date (t = 0)", close_formula, close_value, "date"))
    scalars.append((
        "tl_offset", "Years from the price base date to close",
        "=IF(in_meta_base_date<=tl_close,"
        + _years_between("in_meta_base_date", "tl_close")
        + ",-" + _years_between("tl_close", "in_meta_base_date") + ")",
        tl.price_offset_years, "years",
    ))
    scalars.append((
        "tl_flat", "Flat discount rate (1) or Green Book schedule (0)",
        '=(in_economics_discount_basis="flat")*1',
        1.0 if sc.economics.discount_basis == "flat" else 0.0, "count",
    ))
    scalars.append((
        "tl_real", "Real appraisal basis (1) or nominal (0)",
        '=(in_economics_appraisal_basis="real")*1',
        1.0 if sc.economics.appraisal_basis == "real" else 0.0, "count",
    ))
    ws.write(row + 1, 0, "Timeline constants", styles.header)
    ws.write(row + 1, 1, "", styles.header)
    for i, (name, label, formula, value, unit) in enumerate(scalars):
        r = row + 2 + i
        ws.write_string(r, 0, label)
        fmt = styles.unit("date") if unit == "date" else styles.unit(unit)  # type: ignore[arg-type]
        ws.write_formula(r, 1, formula, fmt, value)
        wb.define_name(name, f"=Timeline!$B${r + 1}")
    row = row + 3 + len(scalars)

    # Rows across the periods
    head = row + 1
    ws.write(head - 1, 0, "Line item", styles.header)
    for j in range(n):
        ws.write(head - 1, FIRST_COL + j, "", styles.header)
    keys = ["t", "years", "programme_year", "period_end", "f_close", "f_year_end",
            "price_index", "deflator", "discount_factor"]
    bond = results.bond
    if bond is not None:
        keys[6:6] = ["f_bond_life", "f_bond_payment"]
    rows = {key: head + i for i, key in enumerate(keys)}

    def cell(key: str, col: int) -> str:
        return str(xl_rowcol_to_cell(rows[key], col))

    labels = {
        "t": "Period t",
        "years": "Years after close (t / f)",
        "programme_year": "Programme year",
        "period_end": "Period end (close for t = 0)",
        "f_close": "Flag: close (t = 0)",
        "f_year_end": "Flag: last period of a programme year",
        "f_bond_life": "Flag: bond outstanding (after issue, to legal maturity)",
        "f_bond_payment": "Flag: bond payment date",
        "price_index": "Price index (base date = 1)",
        "deflator": "Deflator to the appraisal basis (price index if real, else 1)",
        "discount_factor": "Discount factor (appraisal basis)",
    }
    real = sc.economics.appraisal_basis == "real"

    def df_formula(col: int) -> str:
        """A flat rate on the appraisal basis, or the Green Book schedule (a real rate; on a
        nominal basis, deflated by the price index since the close)."""
        y = cell("years", col)
        overlap = f"((({y}<gb_to)*({y}-gb_from)+({y}>=gb_to)*(gb_to-gb_from))*({y}>gb_from))"
        real_df = f"EXP(-SUMPRODUCT(LN(1+gb_rate)*{overlap}))"
        first = xl_rowcol_to_cell(rows["price_index"], FIRST_COL, False, True)
        nominal_since_close = f"({cell('price_index', col)}/{first})"
        return (
            f"=tl_flat*(1+N(in_economics_discount_rate))^(-{y})+(1-tl_flat)*{real_df}"
            f"/(tl_real+(1-tl_real)*{nominal_since_close})"
        )

    formulas: dict[str, Callable[[int], str]] = {
        "t": lambda c: "=0" if c == FIRST_COL else f"={cell('t', c - 1)}+1",
        "years": lambda c: f"={cell('t', c)}/tl_f",
        "programme_year": lambda c: f"=ROUNDUP({cell('t', c)}/tl_f,0)",
        "period_end": lambda c: (
            "=tl_close" if c == FIRST_COL else f"=EDATE(tl_close,{cell('t', c)}*conv_months/tl_f)-1"
        ),
        "f_close": lambda c: f"=({cell('t', c)}=0)*1",
        "f_year_end": lambda c: f"=({cell('t', c)}>0)*(MOD({cell('t', c)},tl_f)=0)",
        "f_bond_life": lambda c: (
            f"=({cell('t', c)}>bd_issue_t)*({cell('t', c)}<=bd_issue_t+bd_n_legal*bd_step)"
        ),
        "f_bond_payment": lambda c: (
            f"={cell('f_bond_life', c)}*(MOD({cell('t', c)}-bd_issue_t,bd_step)=0)"
        ),
        "price_index": lambda c: f"=(1+in_economics_inflation)^(tl_offset+{cell('years', c)})",
        "deflator": lambda c: f"=tl_real*{cell('price_index', c)}+(1-tl_real)",
        "discount_factor": df_formula,
    }
    values: dict[str, list[float]] = {
        "t": [float(x) for x in tl.t],
        "years": [float(x) for x in tl.years],
        "programme_year": [float(x) for x in tl.programme_year],
        "period_end": [excel_serial(d) for d in tl.period_end],
        "f_close": [float(x == 0) for x in tl.t],
        "f_year_end": [float(x > 0 and x % tl.f == 0) for x in tl.t],
        "price_index": [float(x) for x in results.flows.price_index[0]],
        "deflator": [float(x) if real else 1.0 for x in results.flows.price_index[0]],
        "discount_factor": [float(x) for x in results.flows.discount_factors[0]],
    }
    if bond is not None:
        grid = bond.schedule.grid
        life = (tl.t > grid.issue_t) & (tl.t <= grid.pay_t[-1])
        values["f_bond_life"] = [float(x) for x in life]
        values["f_bond_payment"] = [float(x) for x in np.isin(tl.t, grid.pay_t[1:])]
    units = {"f_close": "count", "f_year_end": "count", "f_bond_life": "count",
             "f_bond_payment": "count", "t": "count", "years": "years", "programme_year": "count",
             "period_end": "date",
             "price_index": "index", "deflator": "index", "discount_factor": "factor"}
    for key in keys:
        r = rows[key]
        ws.write_string(r, 0, labels[key])
        fmt = styles.unit(units[key])  # type: ignore[arg-type]
        for j in range(n):
            col = FIRST_COL + j
            ws.write_formula(r, col, formulas[key](col), fmt, values[key][j])
        layout.rows[f"timeline.{key}"] = span("Timeline", r, FIRST_COL, last)
        layout.row_numbers[f"timeline.{key}"] = r
    ws.freeze_panes(head, FIRST_COL)
    print_across(ws, 0)


def excel_serial(day: date) -> float:
    """A date as Excel's serial day number (1900 system), the cached value of a date formula."""
    return float((datetime(day.year, day.month, day.day) - datetime(1899, 12, 30)).days)


def _years_between(earlier: str, later: str) -> str:
    """Whole months over 12 plus the odd days over the anchor month's length (as the engine)."""
    months = f"((YEAR({later})-YEAR({earlier}))*conv_months+MONTH({later})-MONTH({earlier}))"
    anchor = f"EDATE({earlier},{months})"
    return f"(({months}+({later}-{anchor})/DAY(EOMONTH({anchor},0)))/conv_months)"
