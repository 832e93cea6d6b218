"""The Timeline sheet: periods, dates, flags, the price index and discount factors, all live.

Every number here is a formula over the named inputs (``in_...``) and the
conventions block at the top of the sheet (the Green Book discount-rate
bands and the frequencies), with time across the columns and one formula per
row from one column to the next. Columns line up with the Cashflows sheet.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import numpy as np
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook

from bondmodel.conventions import (
    CATEGORY_DEFAULT_BAND,
    FREQUENCIES,
    GREEN_BOOK_STPR,
    OPTIMISM_BIAS_BANDS,
)
from bondmodel.engine import Results
from bondmodel.programme import SCURVE_LINEAR_BELOW
from bondmodel.workbook.layout import FIRST_PERIOD_COL, Layout, span
from bondmodel.workbook.styles import Styles, print_across

FIRST_COL = FIRST_PERIOD_COL
#: A number standing for "no end" in the last Green Book band.
NO_END = 1e300


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
        "Live formulas over the named inputs and the conventions below; time across columns.",
        styles.note,
    )
    # Conventions: frequencies and the Green Book STPR bands (HM Treasury, Green Book 2022, A6)
    ws.write(3, 0, "Conventions", styles.header)
    ws.write(3, 1, "", styles.header)
    ws.write(3, 2, "", styles.header)
    ws.write(4, 0, "Frequency")
    ws.write(4, 1, "Periods a year", styles.bold)
    for i, (name, f) in enumerate(FREQUENCIES.items()):
        ws.write_string(5 + i, 0, name)
        ws.write_number(5 + i, 1, f, styles.input)
    freq_names = f"Timeline!$A$6:$A${5 + len(FREQUENCIES)}"
    freq_values = f"Timeline!$B$6:$B${5 + len(FREQUENCIES)}"
    wb.define_name("conv_freq_names", f"={freq_names}")
    wb.define_name("conv_freq_values", f"={freq_values}")
    top = 6 + len(FREQUENCIES)
    ws.write(top, 0, "Green Book STPR band: from year", styles.bold)
    ws.write(top, 1, "to year", styles.bold)
    ws.write(top, 2, "rate", styles.bold)
    for i, band in enumerate(GREEN_BOOK_STPR):
        ws.write_number(top + 1 + i, 0, band.start_year, styles.input)
        ws.write_number(top + 1 + i, 1, min(band.end_year, NO_END), styles.input)
        ws.write_number(top + 1 + i, 2, band.rate, styles.input)
    b0, b1 = top + 2, top + 1 + len(GREEN_BOOK_STPR)
    wb.define_name("gb_from", f"=Timeline!$A${b0}:$A${b1}")
    wb.define_name("gb_to", f"=Timeline!$B${b0}:$B${b1}")
    wb.define_name("gb_rate", f"=Timeline!$C${b0}:$C${b1}")
    ws.write_string(b1, 4, "no end", styles.bold)
    ws.write_number(b1, 5, NO_END, styles.input)
    wb.define_name("conv_no_end", f"=Timeline!$F${b1 + 1}")

    # Optimism bias: HM Treasury Supplementary Green Book Guidance (2003), Table 1;
    # "none" is the band of categories without one (redundancy, other).
    top = b1 + 1
    ws.write(top, 0, "Optimism-bias band", styles.bold)
    ws.write(top, 1, "lower bound", styles.bold)
    ws.write(top, 2, "upper bound", styles.bold)
    bands = [(name, band.lower, band.upper) for name, band in OPTIMISM_BIAS_BANDS.items()]
    bands.append(("none", 0.0, 0.0))
    for i, (name, lower, upper) in enumerate(bands):
        ws.write_string(top + 1 + i, 0, name, styles.input)
        ws.write_number(top + 1 + i, 1, lower, styles.input)
        ws.write_number(top + 1 + i, 2, upper, styles.input)
    o0, o1 = top + 2, top + 1 + len(bands)
    wb.define_name("ob_band_names", f"=Timeline!$A${o0}:$A${o1}")
    wb.define_name("ob_band_upper", f"=Timeline!$C${o0}:$C${o1}")
    top = o1 + 1
    ws.write(top, 0, "Cost category", styles.bold)
    ws.write(top, 1, "default band", styles.bold)
    for i, (category, band_name) in enumerate(CATEGORY_DEFAULT_BAND.items()):
        ws.write_string(top + 1 + i, 0, category, styles.input)
        ws.write_string(top + 1 + i, 1, band_name or "none", styles.input)
    c0, c1 = top + 2, top + 1 + len(CATEGORY_DEFAULT_BAND)
    wb.define_name("category_names", f"=Timeline!$A${c0}:$A${c1}")
    wb.define_name("category_bands", f"=Timeline!$B${c0}:$B${c1}")
    top = c1 + 1
    ws.write(top, 0, "First period of a cost, by timing", styles.bold)
    for i, (name, timing, first) in enumerate(
        (("conv_spread_start", "spread", 1), ("conv_profile_start", "profile", 0))
    ):
        ws.write_string(top + 1 + i, 0, timing, styles.input)
        ws.write_number(top + 1 + i, 1, first, styles.input)
        wb.define_name(name, f"=Timeline!$B${top + 2 + i}")
    others: list[tuple[str, str, float, str]] = [
        ("conv_scurve_linear", "S-curve steepness below which a ramp is linear",
         SCURVE_LINEAR_BELOW, "as the engine: the tanh form loses precision near 0"),
        ("conv_cost_factor", "Base case cost outturn factor (1 = as planned)", 1.0,
         "the Monte Carlo draws it per item"),
        ("conv_months", "Months a year", 12.0, ""),
        ("conv_fy_month", "First month of the UK financial year (April)", 4.0, ""),
    ]
    ws.write(top + 4, 0, "Other conventions", styles.bold)
    for i, (name, label, value, note) in enumerate(others):
        r = top + 5 + i
        ws.write_string(r, 0, label)
        ws.write_number(r, 1, value, styles.input)
        if note:
            ws.write_string(r, 2, note, styles.note)
        wb.define_name(name, f"=Timeline!$B${r + 1}")
    b1 = top + 5 + len(others)

    # Scalars
    row = b1 + 1
    scalars: list[tuple[str, str, str, float, str]] = []
    f_value = float(tl.f)
    scalars.append((
        "tl_f", "Periods a year",
        f"=INDEX({freq_values},MATCH(in_timeline_frequency,{freq_names},0))", f_value, "count",
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
            "price_index", "discount_factor"]
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
        "discount_factor": "Discount factor (appraisal basis)",
    }
    economics = sc.economics
    real = economics.appraisal_basis == "real"
    green_book = economics.discount_basis == "green_book"

    def df_formula(col: int) -> str:
        y = cell("years", col)
        if green_book:
            overlap = f"((({y}<gb_to)*({y}-gb_from)+({y}>=gb_to)*(gb_to-gb_from))*({y}>gb_from))"
            real_df = f"EXP(-SUMPRODUCT(LN(1+gb_rate)*{overlap}))"
            if real:
                return f"={real_df}"
            first = xl_rowcol_to_cell(rows["price_index"], FIRST_COL, False, True)
            return f"={real_df}/({cell('price_index', col)}/{first})"
        return f"=(1+in_economics_discount_rate)^(-{y})"

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
             "price_index": "index", "discount_factor": "factor"}
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
