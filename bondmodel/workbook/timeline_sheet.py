"""The Timeline sheet: periods, dates, flags, the price index and discount factors, all live.

Every number here is a formula over the named inputs (``in_...``) and the
named conventions on the Inputs sheet (the Green Book discount-rate bands, the
frequencies; workbook/conventions_block.py), with time across the columns and
one formula per row from one column to the next. Columns line up with the
Cashflows sheet.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import numpy.typing as npt
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook

from bondmodel.engine import Results
from bondmodel.timeline import Timeline, inflation_by_period
from bondmodel.workbook.layout import FIRST_PERIOD_COL, Layout
from bondmodel.workbook.rows import Grid, Line, same, write_lines
from bondmodel.workbook.styles import Styles, print_across

FIRST_COL = FIRST_PERIOD_COL

#: The annual inflation rate in force in a period: the path's rate for the period's
#: programme year, the last holding after it (t = 0 takes the first). COUNT makes a
#: longer or shorter path live too (``bondmodel.timeline.rates_by_year``).
INFLATION_IN_FORCE = (
    "=INDEX(in_economics_inflation,1,MIN(MAX({programme_year},1),COUNT(in_economics_inflation)))"
)


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
        1,
        0,
        "Live formulas over the named inputs and conventions (Inputs sheet); time across columns.",
        styles.note,
    )
    # Scalars (the conventions they use are on the Inputs sheet, named)
    freq_names, freq_values = "conv_freq_names", "conv_freq_values"
    row = 2
    scalars: list[tuple[str, str, str, float, str]] = []
    f_value = float(tl.f)
    scalars.append(
        (
            "tl_f",
            "Periods a year",
            f"=INDEX({freq_values},1,MATCH(in_timeline_frequency,{freq_names},0))",
            f_value,
            "count",
        )
    )
    close = tl.close_date
    close_value = excel_serial(close)
    close_formula = (
        "=IF(in_timeline_align_to_financial_year,"
        "DATE(YEAR(in_timeline_start_date)-IF(MONTH(in_timeline_start_date)<conv_fy_month,1,0),"
        "conv_fy_month,1),"
        "in_timeline_start_date)"
    )
    scalars.append(("tl_close", "Close date (t = 0)", close_formula, close_value, "date"))
    scalars.append(
        (
            "tl_offset",
            "Years from the price base date to close",
            "=IF(in_meta_base_date<=tl_close,"
            + _years_between("in_meta_base_date", "tl_close")
            + ",-"
            + _years_between("tl_close", "in_meta_base_date")
            + ")",
            tl.price_offset_years,
            "years",
        )
    )
    scalars.append(
        (
            "tl_flat",
            "Flat discount rate (1) or Green Book schedule (0)",
            '=(in_economics_discount_basis="flat")*1',
            1.0 if sc.economics.discount_basis == "flat" else 0.0,
            "count",
        )
    )
    scalars.append(
        (
            "tl_real",
            "Real appraisal basis (1) or nominal (0)",
            '=(in_economics_appraisal_basis="real")*1',
            1.0 if sc.economics.appraisal_basis == "real" else 0.0,
            "count",
        )
    )
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
    keys = [
        "t",
        "years",
        "programme_year",
        "period_end",
        "f_close",
        "f_year_end",
        "inflation",
        "price_index",
        "deflator",
        "discount_factor",
        "financial_year",
        "f_fy_end",
    ]
    bond = results.bond
    if bond is not None:
        keys[keys.index("inflation") : keys.index("inflation")] = ["f_bond_life", "f_bond_payment"]
    rows: dict[str, int | tuple[str, int]] = {key: head + i for i, key in enumerate(keys)}
    real = sc.economics.appraisal_basis == "real"
    # A flat rate on the appraisal basis, or the Green Book schedule (a real rate; on a
    # nominal basis, deflated by the price index since the close).
    overlap = (
        "((({years}<gb_to)*({years}-gb_from)+({years}>=gb_to)*(gb_to-gb_from))*({years}>gb_from))"
    )
    first_price = xl_rowcol_to_cell(head + keys.index("price_index"), FIRST_COL, False, True)
    discount = (
        "=tl_flat*(1+N(in_economics_discount_rate))^(-{years})+(1-tl_flat)"
        f"*EXP(-SUMPRODUCT(LN(1+gb_rate)*{overlap}))"
        f"/(tl_real+(1-tl_real)*({{price_index}}/{first_price}))"
    )
    price = results.flows.price_index[0]
    lines = [
        Line("t", "Period t", "count", "={t@p}+1", "=0", values=tl.t),
        same("years", "Years after close (t / f)", "years", "={t}/tl_f", values=tl.years),
        same(
            "programme_year",
            "Programme year",
            "count",
            "=ROUNDUP({t}/tl_f,0)",
            values=tl.programme_year,
        ),
        Line(
            "period_end",
            "Period end (close for t = 0)",
            "date",
            "=EDATE(tl_close,{t}*conv_months/tl_f)-1",
            "=tl_close",
            values=[excel_serial(d) for d in tl.period_end],
        ),
        same("f_close", "Flag: close (t = 0)", "count", "=({t}=0)*1", values=tl.t == 0),
        same(
            "f_year_end",
            "Flag: last period of a programme year",
            "count",
            "=({t}>0)*(MOD({t},tl_f)=0)",
            values=(tl.t > 0) & (tl.t % tl.f == 0),
        ),
        same(
            "inflation",
            "Inflation rate in force (the path's rate for the programme year)",
            "rate",
            INFLATION_IN_FORCE,
            values=inflation_by_period(sc.economics, tl.f, tl.n_periods),
        ),
        Line(
            "price_index",
            "Price index (base date = 1)",
            "index",
            "={price_index@p}*(1+{inflation})^(1/tl_f)",
            "=(1+{inflation})^tl_offset",
            values=price,
        ),
        same(
            "deflator",
            "Deflator to the appraisal basis (price index if real, else 1)",
            "index",
            "=tl_real*{price_index}+(1-tl_real)",
            values=price if real else np.ones_like(price),
        ),
        same(
            "discount_factor",
            "Discount factor (appraisal basis)",
            "factor",
            discount,
            values=results.flows.discount_factors[0],
        ),
        *financial_year_lines(tl),
    ]
    if bond is not None:
        grid = bond.schedule.grid
        at = [line.key for line in lines].index("inflation")
        lines[at:at] = [
            same(
                "f_bond_life",
                "Flag: bond outstanding (after issue, to legal maturity)",
                "count",
                "=({t}>bd_issue_t)*({t}<=bd_issue_t+bd_n_legal*bd_step)",
                values=(tl.t > grid.issue_t) & (tl.t <= grid.pay_t[-1]),
            ),
            same(
                "f_bond_payment",
                "Flag: bond payment date",
                "count",
                "={f_bond_life}*(MOD({t}-bd_issue_t,bd_step)=0)",
                values=np.isin(tl.t, grid.pay_t[1:]),
            ),
        ]
    assert [line.key for line in lines] == keys
    write_lines(
        ws, styles, lines, Grid(rows, n, first_col=FIRST_COL), layout, "Timeline", units=False
    )
    ws.freeze_panes(head, FIRST_COL)
    print_across(ws, 0)


def financial_years(tl: Timeline) -> npt.NDArray[np.int64]:
    """The financial year (its first calendar year, e.g. 2026 for 2026/27) of each period
    (:meth:`Timeline.financial_years`)."""
    return tl.financial_years()


def financial_year_lines(tl: Timeline) -> list[Line]:
    """The Timeline's financial-year rows: each period's financial year, and the flag of the
    last period of each (which the Annual sheet reads for balances and cumulative totals)."""
    fy = financial_years(tl)
    last = np.append(fy[1:] != fy[:-1], True)
    return [
        same(
            "financial_year",
            "Financial year of the period end (first calendar year: 2026 is 2026/27)",
            "count",
            "=YEAR({period_end})-(MONTH({period_end})<conv_fy_month)",
            values=fy,
        ),
        same(
            "f_fy_end",
            "Flag: last period of a financial year",
            "count",
            # the last period, or the next period ends on or after the next 1 April
            "=MAX(({t}=MAX({t@row}))*1,"
            "(EDATE(tl_close,(1+{t})*conv_months/tl_f)-1>=DATE(1+{financial_year},conv_fy_month,1))"
            "*1)",
            values=last,
        ),
    ]


def excel_serial(day: date) -> float:
    """A date as Excel's serial day number (1900 system), the cached value of a date formula."""
    return float((datetime(day.year, day.month, day.day) - datetime(1899, 12, 30)).days)


def _years_between(earlier: str, later: str) -> str:
    """Whole months over 12 plus the odd days over the anchor month's length (as the engine)."""
    months = f"((YEAR({later})-YEAR({earlier}))*conv_months+MONTH({later})-MONTH({earlier}))"
    anchor = f"EDATE({earlier},{months})"
    return f"(({months}+({later}-{anchor})/DAY(EOMONTH({anchor},0)))/conv_months)"
