"""The Bond sheet: the contract and the debt-service waterfall, every number a live formula.

Payments run across the columns (k = 0 is the issue), one formula per row
from one column to the next, with flags instead of nested IFs. The rows
follow the engine's steps (bondmodel.bond.waterfall) but are written
independently from the equations in docs/methodology.md, "Bond"; each cell
caches the engine's value, and the tests recalculate the sheet in LibreOffice
to prove the two renderings agree.

Row formulas are templates: ``{key}`` is this column's cell of row ``key``,
``{key@p}`` the previous column's and ``{key@row}`` the whole row. Scalars
(``bd_...``, ``pw_...``) are defined names in the constants block at the top.

One value is not a formula: a principal sized by the engine. Sizing is a fixed
point (the initial reserve grows with the principal that funds it), which a
spreadsheet can only solve by iteration; the engine's solution is shown as a
value, and the Checks sheet tests live that it still solves the sizing
equation with the inputs as they stand.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel.bond.metrics import debt_discount_factors, deferred_since_shortfall
from bondmodel.engine import Results, bond_trace
from bondmodel.labels import BOND_COLUMNS, BOND_METRICS, SOURCES_USES, name_in_words
from bondmodel.scenario.bond import FloatingCoupon, IndexLinkedCoupon
from bondmodel.types import FloatArray
from bondmodel.workbook.conventions_block import RATE_TOLERANCE, ZERO_TOLERANCE
from bondmodel.workbook.cost_rows import timeline_rows
from bondmodel.workbook.layout import FIRST_PERIOD_COL, Layout, ref, span
from bondmodel.workbook.rows import Grid, Line, Ref, Template, same, write_lines
from bondmodel.workbook.styles import UNIT_WIDTH, Styles, print_across
from bondmodel.workbook.timeline_sheet import excel_serial

#: Bond rows whose total over the periods means something: cash that moved.
FLOW_TOTALS = frozenset(
    {
        "indexation",
        "interest",
        "capitalised_interest",
        "cfads",
        "cash_used",
        "reserve_draw",
        "topup",
        "fees_paid",
        "arrears_paid",
        "interest_paid",
        "principal_paid",
        "sweep",
        "performance_paid",
        "arrears_interest",
        "reserve_deposit",
        "reserve_release",
        "write_off",
        "fee_write_off",
        "investor_flow",
        "to_council",
        "pwlb_interest",
        "pwlb_principal",
        "pwlb_debt_service",
    }
)

#: Rows at the top kept in view and printed on every page: title, note, payment, date.
HEAD_ROWS = 4


def _flag(key: str, label: str, formula: str) -> Line:
    """A 0/1 flag row, the same formula in every column including the issue."""
    return Line(key, label, "count", formula, formula)


def _heading(key: str, label: str) -> Line:
    return Line(key, label, "count", "")


def bond_sheet(wb: Workbook, styles: Styles, results: Results, layout: Layout) -> None:
    """Write the Bond sheet and register its cells and rows in ``layout``."""
    bond = results.bond
    if bond is None:
        return
    ws = wb.add_worksheet("Bond")
    terms = bond.schedule.terms
    grid = bond.schedule.grid
    n = payment_columns(results)
    last = FIRST_PERIOD_COL + n - 1
    ws.set_column(0, 0, 52)
    ws.set_column(1, 1, UNIT_WIDTH)
    ws.set_column(2, 2, 16)
    ws.set_column(FIRST_PERIOD_COL, last, 14)
    ws.write(0, 0, f"Bond waterfall (base case): {results.scenario.meta.name}", styles.title)
    ws.write_formula(
        1,
        0,
        # the choices in words: index_linked reads "index linked"
        '=SUBSTITUTE(in_bond_coupon_type,"_"," ")&" coupon, "'
        '&SUBSTITUTE(in_bond_repayment_type,"_"," ")&" repayment, "&in_bond_recourse'
        '&" recourse, "&in_bond_payment_frequency&" payments; nominal pounds. Live formulas over '
        "the Inputs, Timeline and Cashflows sheets; docs/methodology.md, 'Bond', gives each "
        'step."',
        styles.note,
        f"{name_in_words(terms.coupon.type)} coupon, {name_in_words(terms.repayment.type)} "
        f"repayment, {terms.recourse} "
        f"recourse, {terms.payment_frequency} payments; nominal pounds. Live formulas over the "
        "Inputs, Timeline and Cashflows sheets; docs/methodology.md, 'Bond', gives each step.",
    )
    trace = bond_trace(results)
    lines = _lines(results)
    values = _padded(_values(results, trace, lines), results, n)

    # Constants and sources and uses: label in A, formula or value in C, a name each.
    scalars = _scalars(results, trace)
    row = HEAD_ROWS + 1
    ws.write(row, 0, "Constants and sources and uses at issue", styles.header)
    ws.write(row, 1, "Unit", styles.header)
    ws.write(row, 2, "Value", styles.header)
    # rows across the periods start below the scalars; their references are needed first
    top = row + len(scalars) + 3
    rows: dict[str, int | tuple[str, int]] = {line.key: top + 1 + i for i, line in enumerate(lines)}
    grid_ = Grid(rows, n, _outside(layout))
    render = grid_.render
    for i, (name, label, unit, formula, value) in enumerate(scalars):
        r = row + 1 + i
        ws.write_string(r, 0, label, styles.bold if name == "bd_principal" else styles.label)
        ws.write_string(r, 1, styles.unit_words(unit), styles.note)  # type: ignore[arg-type]
        fmt = styles.unit(unit)  # type: ignore[arg-type]
        if formula is None:
            ws.write_number(r, 2, value, fmt if name == "bd_principal" else styles.input)
        else:
            ws.write_formula(r, 2, render(formula, FIRST_PERIOD_COL), fmt, value)
        wb.define_name(name, f"=Bond!{xl_rowcol_to_cell(r, 2, True, True)}")
        layout.cells[name] = ref("Bond", r, 2)
    for key in SOURCES_USES:
        layout.cells[f"bond.{key}"] = layout.cells[_SOURCE_NAMES[key]]
    layout.cells["bond.principal"] = layout.cells["bd_principal"]
    if bond.schedule.terms.principal == "sized":
        ws.write_string(
            row + 1 + [s[0] for s in scalars].index("bd_principal"),
            3,
            "sized by the engine (a fixed point); the Checks sheet tests it live",
            styles.note,
        )

    ws.write(top, 0, "Line item", styles.header)
    ws.write(top, 1, "Unit", styles.header)
    ws.write(top, 2, "Total", styles.header)
    for j in range(n):
        ws.write(top, FIRST_PERIOD_COL + j, "", styles.header)
    bold = ("payment", "closing_balance", "investor_flow", "dscr")
    write_lines(
        ws,
        styles,
        [
            replace(
                line,
                values=values.get(line.key),
                total=line.key in FLOW_TOTALS,
                bold=line.key in bold,
            )
            for line in lines
        ],
        grid_,
        layout,
        "Bond",
    )
    for line in lines:
        if line.heading:
            continue
        r = int(rows[line.key])  # type: ignore[arg-type]
        # the legal final maturity's column, wherever the tenor now puts it
        layout.cells[f"bond.{line.key}.last"] = (
            f"INDEX({layout.rows[f'bond.{line.key}']},1,bd_n_legal+1)"
        )
        layout.cells[f"bond.{line.key}.first"] = ref("Bond", r, FIRST_PERIOD_COL)
        layout.rows[f"bond.{line.key}.after_issue"] = span("Bond", r, FIRST_PERIOD_COL + 1, last)
        # the payments of the bond as run, for the charts
        layout.rows[f"bond.{line.key}.as_run"] = span(
            "Bond", r, FIRST_PERIOD_COL, FIRST_PERIOD_COL + grid.n_legal
        )
    # Each payment's number and date head the sheet, on screen and on every printed page.
    for i, key in enumerate(("payment", "date")):
        line = next(x for x in lines if x.key == key)
        ws.write_string(2 + i, 0, line.label, styles.bold)
        for j in range(n):
            col = FIRST_PERIOD_COL + j
            ws.write_formula(
                2 + i,
                col,
                f"={grid_.cell(key, '', col)}",
                styles.unit(line.unit),
                float(values[key][j]),
            )
    ws.freeze_panes(HEAD_ROWS, FIRST_PERIOD_COL)
    print_across(ws, HEAD_ROWS)


def payment_columns(results: Results) -> int:
    """Payment columns on the Bond sheet: every payment the timeline leaves room for.

    The columns run from the issue to the last payment date within the horizon,
    not just to the legal final maturity, so that a longer tenor or legal
    maturity typed on Inputs is live: the rows after the legal final maturity
    hold zeros (flows) or the final values (balances), by the life flag.
    """
    bond = results.bond
    assert bond is not None
    grid = bond.schedule.grid
    room = (results.timeline.n_periods - grid.issue_t) // grid.step
    return max(grid.n_legal, room) + 1


#: Rows that keep their value after the legal final maturity (stocks and indices);
#: every other row is 0 there, except the flags and timing rows set in :func:`_padded`.
_HELD = re.compile(
    r"(index|scheduled_balance|scheduled_post_grace|post_grace|deferred|sculpt_index|"
    r"sculpt_balance|pwlb_balance|sizing_df|debt_df)(_unit|_fees)?"
)
#: Rows equal to 1 after the legal final maturity (nothing owed, nothing indexed).
_ONES = frozenset({"uplift", "clear", "repaid"})


def _timing(results: Results, n: int) -> dict[str, FloatArray]:
    """The timing rows of ``n`` payment columns: payment number, timeline period, date,
    years from issue, and the life flag (1 to the legal final maturity, then 0)."""
    bond = results.bond
    assert bond is not None
    grid = bond.schedule.grid
    tl = results.timeline
    k = np.arange(n, dtype=np.float64)
    t = grid.issue_t + grid.step * np.arange(n)
    return {
        "payment": k,
        "t": t.astype(np.float64),
        "date": np.array(
            [excel_serial(tl.boundaries[grid.issue_t])]
            + [excel_serial(tl.period_end[int(x)]) for x in t[1:]]
        ),
        "years": k / grid.g,
        "f_life": (k <= grid.n_legal).astype(np.float64),
    }


def _padded(values: dict[str, FloatArray], results: Results, n: int) -> dict[str, FloatArray]:
    """The engine's rows, k = 0..NL, continued to the sheet's ``n`` payment columns.

    After the legal final maturity the formulas give: the timing rows their
    positions, balances and indices their last value, the "nothing owed"
    flags 1, the DSCR "n/a" (NaN here) and every flow 0.
    """
    have = len(values["payment"])
    if n == have:
        return values
    out = _timing(results, n)
    for key, row in values.items():
        if key in out:
            continue
        row = np.asarray(row, dtype=np.float64)
        if _HELD.fullmatch(key):
            tail = np.full(n - have, row[-1])
        elif key in _ONES:
            tail = np.ones(n - have)
        elif key in ("dscr", "dscr_bound"):
            tail = np.full(n - have, np.nan)
        else:
            tail = np.zeros(n - have)
        out[key] = np.concatenate([row, tail])
    return out


#: The constants block's name for each sources-and-uses row.
_SOURCE_NAMES = {
    "proceeds": "bd_proceeds",
    "council_contribution": "bd_contribution",
    "financed_costs": "bd_financed",
    "arrangement_fee": "bd_fee",
    "reserve_initial": "bd_reserve0",
    "surplus": "bd_surplus",
}


# ---------------------------------------------------------------------------
# The constants block
# ---------------------------------------------------------------------------

Scalar = tuple[str, str, str, str | None, float]


def _scalars(results: Results, trace: dict[str, FloatArray]) -> list[Scalar]:
    """(name, label, unit, formula or None for a value, engine value) of each constant."""
    bond = results.bond
    assert bond is not None
    s = bond.schedule
    terms = s.terms
    grid = s.grid
    tl = results.timeline
    freq_lookup = "INDEX(conv_freq_values,1,MATCH(in_bond_payment_frequency,conv_freq_names,0))"
    out: list[Scalar] = [
        ("bd_freq", "Payments a year", "count", f"={freq_lookup}", float(grid.g)),
        (
            "bd_step",
            "Timeline periods per payment period",
            "count",
            "=tl_f/bd_freq",
            float(grid.step),
        ),
        (
            "bd_issue_date",
            "Issue date (blank input: the close date)",
            "date",
            "=IF(ISBLANK(in_bond_issue_date),tl_close,in_bond_issue_date)",
            excel_serial(tl.boundaries[grid.issue_t]),
        ),
        (
            "bd_issue_t",
            "Issue at the end of timeline period",
            "count",
            "=ROUND(((YEAR(bd_issue_date)-YEAR(tl_close))*conv_months+MONTH(bd_issue_date)"
            "-MONTH(tl_close))*tl_f/conv_months,0)",
            float(grid.issue_t),
        ),
        (
            "bd_n_term",
            "Scheduled maturity (payment number)",
            "count",
            "=ROUND(in_bond_tenor_years*bd_freq,0)",
            float(grid.n_scheduled),
        ),
        (
            "bd_n_legal",
            "Legal final maturity (payment number)",
            "count",
            f"=ROUND({_LEGAL_YEARS}*bd_freq,0)",
            float(grid.n_legal),
        ),
        (
            "bd_n_grace",
            "Grace period (payments)",
            "count",
            "=ROUND(in_bond_grace_years*bd_freq,0)",
            float(grid.n_grace),
        ),
        (
            "bd_capgrace",
            "Grace interest capitalised (1 = yes)",
            "count",
            '=(in_bond_grace_interest="capitalised")*1',
            1.0 if terms.grace_interest == "capitalised" else 0.0,
        ),
        (
            "bd_limited",
            "Limited recourse (1 = yes)",
            "count",
            '=(in_bond_recourse="limited")*1',
            1.0 if terms.recourse == "limited" else 0.0,
        ),
        (
            "bd_arrears_int",
            "Interest accrues on arrears (1 = yes)",
            "count",
            "=in_bond_arrears_interest*1",
            1.0 if terms.arrears_interest else 0.0,
        ),
    ]
    if terms.reserve is not None:
        out += [
            (
                "bd_q",
                "DSRA cover (payment periods of debt service)",
                "ratio",
                "=in_bond_reserve_months*bd_freq/conv_months",
                terms.reserve.months * grid.g / 12.0,
            ),
            (
                "bd_at_issue",
                "DSRA funded at issue (1 = yes)",
                "count",
                '=(in_bond_reserve_funding="at_issue")*1',
                1.0 if terms.reserve.funding == "at_issue" else 0.0,
            ),
        ]
    else:
        out += [
            ("bd_q", "DSRA cover (no [bond.reserve]: none)", "ratio", None, 0.0),
            ("bd_at_issue", "DSRA funded at issue (no [bond.reserve]: no)", "count", None, 0.0),
        ]
    if terms.repayment.type in LIVE_PROFILES:
        out += [
            (
                "bd_i",
                "Annuity periodic rate (first amortising period)",
                "rate",
                "=INDEX({rate@row},1,bd_n_grace+2)/bd_freq",
                float(s.rates[min(grid.n_grace + 1, grid.n_legal)]) / grid.g,
            ),
            (
                "bd_bullet",
                "Bullet repayment (1 = yes): the DSRA covers interest only",
                "count",
                '=(in_bond_repayment_type="bullet")*1',
                1.0 if terms.repayment.type == "bullet" else 0.0,
            ),
        ]
    if terms.repayment.type == "sculpted":
        scale = float(trace["post_grace_scheduled"][-1]) * float(
            np.prod(trace["uplift"][1 : grid.n_grace + 1])
        )
        out.append(
            (
                "bd_scale",
                "Scheduled balance after grace, nominal (sculpting scale)",
                "money",
                "=IF(INDEX({scheduled_post_grace@row},1,bd_n_legal+1)*INDEX({index@row},1,bd_n_grace+1)>0,"
                "INDEX({scheduled_post_grace@row},1,bd_n_legal+1)*INDEX({index@row},1,bd_n_grace+1),"
                "bd_min_scale)",
                scale if scale > 0 else 1.0,
            )
        )
    if terms.performance is not None and terms.performance.cap_total_return is not None:
        out.append(
            (
                "bd_cap_pp",
                "Performance cap: coupon plus performance a period",
                "money",
                "=in_bond_performance_cap_total_return*bd_principal/bd_freq",
                terms.performance.cap_total_return * s.principal / grid.g,
            )
        )
    # sources and uses
    sized = terms.principal == "sized"
    if terms.principal == "dscr":
        out += _dscr_scalars(results, trace)
    if terms.repayment.type == "sculpted":
        # a sculpted profile depends on the principal it repays: the engine's fixed point
        # (sized to the uses), or its closed form (sized to a DSCR)
        principal: Scalar = (
            "bd_principal",
            "Principal issued",
            "money",
            None
            if sized
            else '=IF(in_bond_principal="dscr",bd_dscr_sized,in_bond_principal)'
            if terms.principal == "dscr"
            else "=in_bond_principal",
            s.principal,
        )
    else:
        out += _sizing(results, trace)
        given = (
            'IF(in_bond_principal="dscr",bd_dscr_sized,in_bond_principal)'
            if terms.principal == "dscr"
            else "in_bond_principal"
        )
        principal = (
            "bd_principal",
            "Principal issued",
            "money",
            f'=IF(in_bond_principal="sized",bd_sized,{given})',
            s.principal,
        )
    out += [
        principal,
        (
            "bd_financed_base",
            "Planned one-off costs (base, contingency and optimism bias)",
            "money",
            "=SUM(CF_CAPEX_BASE)+SUM(CF_CONTINGENCY)+SUM(CF_OPTIMISM_BIAS)",
            s.planned_costs,
        ),
        (
            "bd_financed",
            SOURCES_USES["financed_costs"].label,
            "money",
            "=in_bond_financed_share*bd_financed_base",
            s.financed_costs,
        ),
        (
            "bd_proceeds",
            SOURCES_USES["proceeds"].label,
            "money",
            "=bd_principal*in_bond_issue_price",
            s.proceeds,
        ),
        (
            "bd_fee",
            SOURCES_USES["arrangement_fee"].label,
            "money",
            "=bd_principal*in_bond_arrangement_fee",
            s.arrangement_fee,
        ),
        (
            "bd_reserve0",
            SOURCES_USES["reserve_initial"].label,
            "money",
            "=bd_at_issue*INDEX({reserve_target@row},1,1)",
            s.reserve_initial,
        ),
        (
            "bd_residual",
            "Sizing residual: proceeds - fee - initial DSRA - financed costs",
            "money",
            "=bd_proceeds-bd_fee-bd_reserve0-bd_financed",
            s.surplus,
        ),
        (
            "bd_contribution",
            SOURCES_USES["council_contribution"].label,
            "money",
            "=IF(ABS(bd_residual)<=bd_zero*MAX(bd_principal,bd_min_scale),0,MAX(-bd_residual,0))",
            s.council_contribution,
        ),
        (
            "bd_surplus",
            SOURCES_USES["surplus"].label,
            "money",
            "=MAX(bd_residual,0)",
            max(s.surplus, 0.0),
        ),
        (
            "bd_funding_gap",
            BOND_METRICS["funding_gap"].label + " (the council contribution)",
            "money",
            "=bd_contribution",
            s.funding_gap,
        ),
        (
            "bd_gearing",
            BOND_METRICS["gearing"].label + ": principal / (principal + funding gap + "
            "one-off costs not financed)",
            "rate",
            "=IF(bd_principal+bd_contribution+(1-in_bond_financed_share)*bd_financed_base>0,"
            "bd_principal/(bd_principal+bd_contribution+(1-in_bond_financed_share)"
            '*bd_financed_base),"n/a")',
            s.gearing,
        ),
        (
            "bd_tol",
            "Balance tolerance in pounds",
            "money",
            "=bd_zero*MAX(bd_principal,bd_min_scale)",
            ZERO_TOLERANCE * max(s.principal, 1.0),
        ),
    ]
    if bond.pwlb is not None:
        p = bond.pwlb
        out += [
            (
                "pw_amount",
                "PWLB loan: amount (the financed costs)",
                "money",
                "=bd_financed",
                p.amount,
            ),
            (
                "pw_rate",
                "PWLB rate: gilt yield + margin",
                "rate",
                "=in_pwlb_gilt_yield+in_pwlb_margin",
                p.rate,
            ),
            (
                "pw_n",
                "PWLB term (payments)",
                "count",
                f"=ROUND({_PWLB_YEARS}*bd_freq,0)",
                float(p.payments),
            ),
            ("pw_i", "PWLB periodic rate", "rate", "=pw_rate/bd_freq", p.rate / grid.g),
            (
                "pw_level",
                "PWLB annuity payment (PMT)",
                "money",
                "=IF(ABS(pw_i)>bd_tiny,PMT(pw_i,pw_n,-pw_amount),pw_amount/pw_n)",
                p.level,
            ),
        ]
    out.append(("bd_fits", FITS_LABEL, "count", _fits_formula(results), 1.0))
    return out


#: Years to legal final maturity, and the PWLB loan's term, as typed (blank: the tenor).
_LEGAL_YEARS = (
    "IF(ISBLANK(in_bond_legal_maturity_years),in_bond_tenor_years,in_bond_legal_maturity_years)"
)
_PWLB_YEARS = "IF(ISBLANK(in_pwlb_term_years),in_bond_tenor_years,in_pwlb_term_years)"

#: The constant that says whether the terms on Inputs still describe a bond the sheet can show.
FITS_LABEL = (
    "Terms fit the payment grid (1 = yes): whole payments, grace < tenor <= legal maturity "
    "within the columns"
)


def _fits_formula(results: Results) -> str:
    """1 when the tenor, legal maturity and grace typed on Inputs are whole payment periods
    in the order the engine requires, and the bond ends within the sheet's columns; 0
    otherwise (the engine would refuse them, so the Checks sheet shows RERUN NEEDED)."""
    bond = results.bond
    assert bond is not None
    parts = [
        "(ABS(in_bond_tenor_years*bd_freq-bd_n_term)<=conv_whole)",
        f"(ABS({_LEGAL_YEARS}*bd_freq-bd_n_legal)<=conv_whole)",
        "(ABS(in_bond_grace_years*bd_freq-bd_n_grace)<=conv_whole)",
        "(bd_n_grace<bd_n_term)",
        "(bd_n_term<=bd_n_legal)",
        "(bd_n_legal<COLUMNS({payment@row}))",
    ]
    if bond.schedule.terms.repayment.type == "custom":
        parts.append("(COUNT(in_bond_repayment_schedule)=bd_n_term-bd_n_grace)")
    if bond.pwlb is not None:
        parts += [
            f"(ABS({_PWLB_YEARS}*bd_freq-pw_n)<=conv_whole)",
            "(pw_n>=1)",
            "(pw_n<=bd_n_legal)",
        ]
    return "=" + "*".join(parts)


def _sizing(results: Results, trace: dict[str, FloatArray]) -> list[Scalar]:
    """The principal sized to the uses, in closed form (methodology section 21).

    The scheduled path is affine in the principal P: P times the path of a unit
    principal without fees (rows ``*_unit``) plus the path of the fees alone
    (``*_fees``). So the initial DSRA is :math:`R_0(P) = \\max_j (a_j P + b_j)`
    over the targets at issue and after the grace period (j = 0, G), and the
    sizing equation :math:`P (price - fee) = F + R_0(P)` has the solution
    :math:`P = \\max_j (F + b_j) / (price - fee - a_j)` (each branch is increasing
    and the fixed point is the largest branch's), the engine's fixed point.
    """
    bond = results.bond
    assert bond is not None
    s = bond.schedule
    g = s.grid.n_grace
    unit, fees = trace["reserve_target_raw_unit"], trace["reserve_target_raw_fees"]
    a0, ag, b0, bg = float(unit[0]), float(unit[g]), float(fees[0]), float(fees[g])
    net = s.terms.issue_price - s.terms.arrangement_fee
    at_issue = s.terms.reserve is not None and s.terms.reserve.funding == "at_issue"
    sized = (
        max((s.financed_costs + b0) / (net - a0), (s.financed_costs + bg) / (net - ag))
        if at_issue
        else s.financed_costs / net
    )
    return [
        (
            "bd_net_price",
            "Net price: issue price less the arrangement fee",
            "factor",
            "=in_bond_issue_price-in_bond_arrangement_fee",
            net,
        ),
        (
            "bd_a0",
            "Sizing: DSRA at issue per pound of principal",
            "factor",
            "=INDEX({reserve_target_raw_unit@row},1,1)",
            a0,
        ),
        (
            "bd_ag",
            "Sizing: DSRA after the grace period per pound of principal",
            "factor",
            "=INDEX({reserve_target_raw_unit@row},1,bd_n_grace+1)",
            ag,
        ),
        (
            "bd_b0",
            "Sizing: DSRA at issue for the capitalised fees alone",
            "money",
            "=INDEX({reserve_target_raw_fees@row},1,1)",
            b0,
        ),
        (
            "bd_bg",
            "Sizing: DSRA after the grace period for the fees alone",
            "money",
            "=INDEX({reserve_target_raw_fees@row},1,bd_n_grace+1)",
            bg,
        ),
        (
            "bd_sized",
            "Principal sized to the uses (financed costs, fee, DSRA at issue)",
            "money",
            "=IF(bd_at_issue=1,MAX((bd_financed+bd_b0)/(bd_net_price-bd_a0),"
            "(bd_financed+bd_bg)/(bd_net_price-bd_ag)),bd_financed/bd_net_price)",
            sized,
        ),
    ]


#: Repayment profiles that share one set of rows, chosen by the input (live among them).
LIVE_PROFILES = ("bullet", "eip", "annuity")
#: The scheduled-path rows recomputed for a unit principal and for the fees alone (sizing).
SIZING_ROWS = (
    "scheduled_interest",
    "scheduled_due_real",
    "scheduled_balance",
    "scheduled_post_grace",
    "scheduled_principal_due",
    "covered_debt_service",
    "reserve_target_raw",
)


def _sizing_lines(lines: list[Line], keys: tuple[str, ...] = SIZING_ROWS) -> list[Line]:
    """The contract rows ``keys`` again for a unit principal without fees and for the fees
    alone."""
    out = [
        _heading(
            "h_sizing",
            "Sizing: the scheduled path per pound of principal, and for "
            "the fees alone (the path is affine in the principal)",
        )
    ]
    pattern = re.compile(r"\{(" + "|".join(keys) + r")(@p|@row)?\}")
    for suffix, principal, fees, label in (
        ("_unit", "1", "0", "per pound of principal"),
        ("_fees", "0", None, "fees alone"),
    ):

        def variant(
            template: Template,
            suffix: str = suffix,
            principal: str = principal,
            fees: str | None = fees,
        ) -> Template:
            if not isinstance(template, str):
                return template
            text = pattern.sub(
                lambda m: "{" + m.group(1) + suffix + (m.group(2) or "") + "}", template
            )
            text = text.replace("bd_principal", principal)
            return text.replace("{scheduled_fees}", fees) if fees is not None else text

        for line in lines:
            if line.key in keys:
                out.append(
                    Line(
                        f"{line.key}{suffix}",
                        f"{line.label}: {label}",
                        line.unit,
                        str(variant(line.rest)),
                        variant(line.first),
                    )
                )
    return out


def _dscr_lines(results: Results) -> list[Line]:
    """The rows that size the principal to ``bond.sizing.target_dscr`` (methodology,
    "Sizing to a DSCR target"): the CFADS the sizing uses, then for a sculpted profile the
    discount factor from the end of grace, for any other the principal each period's CFADS
    carries (the smallest is the principal)."""
    bond = results.bond
    assert bond is not None
    terms = bond.schedule.terms
    sizing = terms.sizing
    assert sizing is not None
    out = [
        _heading(
            "h_dscr_sizing",
            "Sizing to a DSCR target: the debt the CFADS carries at the target cover",
        )
    ]
    if sizing.basis == "percentile":
        out.append(
            Line(
                "sizing_cfads",
                f"Sizing CFADS: P{sizing.percentile:g} of {sizing.paths:,} simulated paths, "
                f"seed {sizing.seed} (simulation output: values)",
                "money",
                None,
            )
        )
    else:
        out.append(Line("sizing_cfads", "Sizing CFADS: the base case's", "money", "={cash_in}"))
    amortising = "({payment}>bd_n_grace)*({payment}<=bd_n_term)"
    if terms.repayment.type == "sculpted":
        growth = ("{uplift}*" if isinstance(terms.coupon, IndexLinkedCoupon) else "") + (
            "(1+{rate}/bd_freq)"
        )
        out.append(
            Line(
                "sizing_df",
                "Sizing: discount factor from the end of grace (coupon and uplift)",
                "factor",
                f"={{sizing_df@p}}/IF({amortising},{growth},1)",
                1.0,
            )
        )
    else:
        unit = "({scheduled_interest_unit}+{scheduled_principal_due_unit})"
        fees = "({scheduled_interest_fees}+{scheduled_principal_due_fees})"
        out.append(
            Line(
                "dscr_bound",
                "Sizing: principal this payment's CFADS carries at the target",
                "money",
                f"=IF({amortising}*({unit}>bd_tiny),"
                f'({{sizing_cfads}}/in_bond_sizing_target_dscr-{fees})/{unit},"n/a")',
            )
        )
    return out


def _dscr_scalars(results: Results, trace: dict[str, FloatArray]) -> list[Scalar]:
    """The principal sized to the DSCR target, from the rows of :func:`_dscr_lines`."""
    bond = results.bond
    assert bond is not None
    s = bond.schedule
    if s.terms.repayment.type != "sculpted":
        return [
            (
                "bd_dscr_sized",
                "Principal sized to the DSCR target: the least any payment carries",
                "money",
                "=MIN({dscr_bound@row})",
                s.principal,
            )
        ]
    after_grace = (
        "SUMPRODUCT(({payment@row}>bd_n_grace)*({payment@row}<=bd_n_term)*{sizing_cfads@row}"
        "*{sizing_df@row})/in_bond_sizing_target_dscr"
    )
    return [
        (
            "bd_dscr_pv",
            "Sizing: present value after grace of CFADS / target DSCR (nominal)",
            "money",
            f"={after_grace}",
            _dscr_present_value(results, trace),
        ),
        (
            "bd_dscr_sized",
            "Principal sized to the DSCR target: (PV / index - fees' share) / growth in grace",
            "money",
            "=(bd_dscr_pv/INDEX({index@row},1,bd_n_grace+1)"
            "-INDEX({scheduled_post_grace_fees@row},1,bd_n_legal+1))"
            "/INDEX({scheduled_post_grace_unit@row},1,bd_n_legal+1)",
            s.principal,
        ),
    ]


def _dscr_rows(results: Results, trace: dict[str, FloatArray]) -> dict[str, FloatArray]:
    """The engine's values of the rows of :func:`_dscr_lines`, k = 0..NL."""
    bond = results.bond
    assert bond is not None
    s = bond.schedule
    terms, grid = s.terms, s.grid
    if terms.principal != "dscr" or terms.sizing is None:
        return {}
    k = np.arange(grid.n_legal + 1)
    amortising = (k > grid.n_grace) & (k <= grid.n_scheduled)
    out = {"sizing_cfads": s.sizing_cfads}
    if terms.repayment.type == "sculpted":
        growth = np.where(amortising, trace["uplift"] * (1.0 + s.rates / grid.g), 1.0)
        growth[0] = 1.0
        out["sizing_df"] = 1.0 / np.cumprod(growth)
        return out
    unit = trace["scheduled_interest_unit"] + trace["scheduled_principal_due_unit"]
    fees = trace["scheduled_interest_fees"] + trace["scheduled_principal_due_fees"]
    carried = amortising & (unit > RATE_TOLERANCE)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = (s.sizing_cfads / terms.sizing.target_dscr - fees) / unit
    out["dscr_bound"] = np.where(carried, bound, np.nan)
    return out


def _dscr_present_value(results: Results, trace: dict[str, FloatArray]) -> float:
    """The nominal balance after grace a sculpted DSCR sizing finds (``bd_dscr_pv``)."""
    bond = results.bond
    assert bond is not None
    s = bond.schedule
    sizing = s.terms.sizing
    assert sizing is not None
    df = _dscr_rows(results, trace)["sizing_df"]
    k = np.arange(s.grid.n_legal + 1)
    amortising = (k > s.grid.n_grace) & (k <= s.grid.n_scheduled)
    return float(np.sum(np.where(amortising, s.sizing_cfads * df, 0.0)) / sizing.target_dscr)


# ---------------------------------------------------------------------------
# The rows
# ---------------------------------------------------------------------------


def _lines(results: Results) -> list[Line]:
    """Every row of the sheet, in order, for this bond's structure."""
    bond = results.bond
    assert bond is not None
    terms = bond.schedule.terms
    coupon = terms.coupon
    perf = terms.performance
    kind = terms.repayment.type
    il = isinstance(coupon, IndexLinkedCoupon)
    cols = BOND_COLUMNS
    lines = [
        _heading("h_time", "Time and flags: where each payment falls and what applies to it"),
        Line("payment", cols["payment"].label, "count", "={payment@p}+1", "=0"),
        Line(
            "t",
            "Timeline period at the payment",
            "count",
            "=bd_issue_t+bd_step*{payment}",
            "=bd_issue_t+bd_step*{payment}",
        ),
        Line(
            "date",
            cols["date"].label,
            "date",
            "=EDATE(tl_close,{t}*conv_months/tl_f)-1",
            "=bd_issue_date",
        ),
        Line("years", cols["years"].label, "years", "={payment}/bd_freq", "={payment}/bd_freq"),
        _flag("f_grace", "Flag: grace period", "=({payment}>=1)*({payment}<=bd_n_grace)"),
        _flag("f_end_grace", "Flag: last payment of the grace period", "=({payment}=bd_n_grace)*1"),
        _flag(
            "f_capgrace", "Flag: interest capitalised (capitalised grace)", "={f_grace}*bd_capgrace"
        ),
        _flag(
            "f_amort",
            "Flag: amortising (after grace, before maturity)",
            "=({payment}>bd_n_grace)*({payment}<bd_n_term)",
        ),
        _flag("f_maturity", "Flag: scheduled maturity", "=({payment}=bd_n_term)*1"),
        _flag(
            "f_due_all",
            "Flag: at or after scheduled maturity, to legal final maturity",
            "=({payment}>=bd_n_term)*{f_life}",
        ),
        _flag("f_final", "Flag: legal final maturity", "=({payment}=bd_n_legal)*1"),
        _flag(
            "f_life",
            "Flag: in the bond's life (to legal final maturity)",
            "=({payment}<=bd_n_legal)*1",
        ),
        _heading("h_cash", "Cash and rates: pledged cash, prices, the coupon and the index"),
        Line(
            "net_at_pay",
            "Net savings in the payment period",
            "money",
            "={f_life}*SUMPRODUCT((TL_T>{t@p})*(TL_T<={t})*CF_NET)",
        ),
    ]
    lines.append(Line("cfads", cols["cfads"].label, "money", "=in_bond_pledged_share*{net_at_pay}"))
    lines.append(
        Line("cash_in", "Pledged cash received (CFADS, if positive)", "money", "=MAX({cfads},0)")
    )
    if perf is not None:
        lines.append(
            Line(
                "gross_at_pay",
                "Gross savings in the payment period",
                "money",
                "={f_life}*SUMPRODUCT((TL_T>{t@p})*(TL_T<={t})*CF_GROSS)",
            )
        )
    lines.append(
        Line(
            "price_at_pay",
            "Price index at the payment",
            "index",
            "={f_life}*INDEX(TL_PRICE,1,{t}+1)",
        )
    )
    if isinstance(coupon, FloatingCoupon):
        reference = (
            "INDEX(in_bond_coupon_reference_path,1,MIN(INT((MAX({payment},1)-1)/bd_freq)+1,"
            "COUNT(in_bond_coupon_reference_path)))"
            if coupon.reference_path is not None
            else "in_bond_coupon_reference_rate"
        )
        rate = f"{reference}+in_bond_coupon_margin"
        if coupon.floor is not None:
            rate = f"MAX({rate},in_bond_coupon_floor)"
    elif il:
        rate = "in_bond_coupon_real_rate"
    else:
        rate = "in_bond_coupon_rate"
    lines.append(
        Line(
            "rate",
            "Annual coupon rate" + (" (real)" if il else ""),
            "rate",
            f"={{f_life}}*({rate})",
        )
    )
    if il:
        assert isinstance(coupon, IndexLinkedCoupon)
        lines.append(
            Line(
                "uplift",
                "Principal uplift over the period (capped, floored CPI)",
                "factor",
                f"=1+{{f_life}}*(EXP(SUMPRODUCT((TL_T>{{t@p}})*(TL_T<={{t}})"
                f"*LN(1+{_capped_inflation(coupon)}))/tl_f)-1)",
            )
        )
        lines.append(Line("index", "Index ratio", "factor", "={index@p}*{uplift}", 1.0))
    else:
        lines.append(
            Line("index", "Index ratio (1: not index-linked)", "factor", "={index@p}", 1.0)
        )
    # the LLCR's discount factor along the debt's rates (nominal: with the period's inflation
    # for an index-linked bond), as the Cashflows sheet's row for the PLCR
    inflation = (
        "*EXP(-{f_life}*SUMPRODUCT((TL_T>{t@p})*(TL_T<={t})*LN(1+TL_INFL))/tl_f)" if il else ""
    )
    lines.append(
        Line(
            "debt_df",
            "Discount factor at the debt's rates from issue (LLCR)",
            "factor",
            f"={{debt_df@p}}*(1+{{rate}})^(-1/bd_freq){inflation}",
            1.0,
        )
    )

    # the contract: scheduled path of the base case
    lines += [
        _heading("h_contract", "Contract: the scheduled path of the base case, fixed at issue"),
        Line(
            "scheduled_fees",
            "Agency and trustee fees (nominal)",
            "money",
            "=in_bond_annual_fees/bd_freq*{price_at_pay}",
        ),
        Line(
            "scheduled_interest",
            "Scheduled interest due",
            "money",
            "=(1-{f_capgrace})*({payment}<=bd_n_term)*{scheduled_balance@p}*{index}*{rate}/bd_freq",
        ),
    ]
    if kind == "sculpted":
        grow = "{sculpt_balance@p}" + ("*{uplift}" if il else "") + "*(1+{rate}/bd_freq)"
        paid = "{cash_in}/in_bond_repayment_target_dscr"
        if terms.principal == "dscr":
            # blank: the bond sculpts to its sizing target
            paid = (
                "{cash_in}/IF(ISBLANK(in_bond_repayment_target_dscr),in_bond_sizing_target_dscr,"
                "in_bond_repayment_target_dscr)"
            )
        lines += [
            Line(
                "sculpt_index",
                "Sculpting: index ratio since the grace period",
                "factor",
                "={sculpt_index@p}*(1+{f_amort}*({uplift}-1))" if il else "={sculpt_index@p}",
                1.0,
            ),
            Line(
                "sculpt_balance",
                "Sculpting: nominal balance / balance after grace",
                "factor",
                f"={{sculpt_balance@p}}+{{f_amort}}*(({grow}-{paid}/bd_scale)"
                f"*({paid}<bd_scale*{grow})-{{sculpt_balance@p}})",
                1.0,
            ),
        ]
    n_amort = "(bd_n_term-bd_n_grace)"
    j = "({payment}-bd_n_grace)"
    shapes = {
        "bullet": "1",
        "eip": f"1-{j}/{n_amort}",
        "annuity": (
            f"IF(ABS(bd_i)<bd_tiny,1-{j}/{n_amort},"
            f"((1+bd_i)^{n_amort}-(1+bd_i)^{j})/((1+bd_i)^{n_amort}-1))"
        ),
        "custom": (
            "1-SUM(INDEX(in_bond_repayment_schedule,1,1):INDEX(in_bond_repayment_schedule,1,"
            f"MIN(MAX({j},1),COUNT(in_bond_repayment_schedule))))"
        ),
        "sculpted": "{sculpt_balance}/{sculpt_index}",
    }
    profiles = ",".join(f'"{p}"' for p in LIVE_PROFILES)
    shape = (
        f"CHOOSE(MATCH(in_bond_repayment_type,{{{profiles}}},0),"
        + ",".join(shapes[p] for p in LIVE_PROFILES)
        + ")"
        if kind in LIVE_PROFILES
        else shapes[kind]
    )
    covered = "{scheduled_interest}+{scheduled_principal_due}"
    if kind in LIVE_PROFILES:
        covered = "{scheduled_interest}+{scheduled_principal_due}*(1-bd_bullet*{f_maturity})"
    q = "(bd_q-({payment@row}-{payment})+1)"
    lines += [
        Line(
            "remaining",
            "Scheduled outstanding fraction of the post-grace balance",
            "factor",
            f"=({{payment}}<=bd_n_grace)+{{f_amort}}*MIN(MAX({shape},0),1)",
            f"=({{payment}}<=bd_n_grace)+{{f_amort}}*MIN(MAX({shape},0),1)",
        ),
        Line(
            "scheduled_due_real",
            "Scheduled principal due (issue-date money)",
            "money",
            "={f_amort}*MAX({scheduled_balance@p}-{remaining}*{scheduled_post_grace@p},0)"
            "+{f_maturity}*{scheduled_balance@p}",
        ),
        Line(
            "scheduled_balance",
            "Scheduled balance (issue-date money)",
            "money",
            "={scheduled_balance@p}+{f_capgrace}*({scheduled_balance@p}*{index}*{rate}/bd_freq"
            "+{scheduled_fees})/{index}-{scheduled_due_real}",
            "=bd_principal",
        ),
        Line(
            "scheduled_post_grace",
            "Scheduled balance through the grace period (issue-date money)",
            "money",
            "={scheduled_post_grace@p}+{f_capgrace}*({scheduled_post_grace@p}*{index}*{rate}"
            "/bd_freq+{scheduled_fees})/{index}",
            "=bd_principal",
        ),
        Line(
            "scheduled_principal_due",
            "Scheduled principal due",
            "money",
            "={scheduled_due_real}*{index}",
        ),
        Line(
            "covered_debt_service",
            "Debt service the DSRA covers (a bullet's: interest only)",
            "money",
            f"={covered}",
        ),
        Line(
            "reserve_target_raw",
            "DSRA target: the next months of covered debt service",
            "money",
            f"=({{payment}}<bd_n_term)*SUMPRODUCT(({{payment@row}}>{{payment}})*(({q}>=1)"
            f"+({q}>0)*({q}<1)*{q})*{{covered_debt_service@row}})",
            f"=({{payment}}<bd_n_term)*SUMPRODUCT(({{payment@row}}>{{payment}})*(({q}>=1)"
            f"+({q}>0)*({q}<1)*{q})*{{covered_debt_service@row}})",
        ),
        Line(
            "reserve_target",
            "DSRA target after the payment",
            "money",
            "={reserve_target_raw}+bd_at_issue*({payment}<bd_n_grace)"
            "*MAX(INDEX({reserve_target_raw@row},1,bd_n_grace+1)-{reserve_target_raw},0)",
            "={reserve_target_raw}+bd_at_issue*({payment}<bd_n_grace)"
            "*MAX(INDEX({reserve_target_raw@row},1,bd_n_grace+1)-{reserve_target_raw},0)",
        ),
    ]
    if kind != "sculpted":
        lines += _sizing_lines(lines)
    elif terms.principal == "dscr":
        # sizing a sculpted bond to a DSCR needs only the balance after grace, affine in P
        lines += _sizing_lines(lines, ("scheduled_post_grace",))
    if terms.principal == "dscr":
        lines += _dscr_lines(results)

    # the waterfall
    if perf is None:
        perf_due = "={perf_arrears_open}"
    elif perf.cap_total_return is None:
        perf_due = "={perf_all}*({real_cap}>0)+{perf_arrears_open}"
    else:
        perf_due = "=MIN({perf_all},MAX(bd_cap_pp-{interest},0))*({real_cap}>0)+{perf_arrears_open}"
    lines += [
        _heading(
            "h_waterfall", "Waterfall: accrual, amounts due, payment in order of priority, reserve"
        ),
        Line(
            "owing",
            "Flag: anything owed at the start of the period",
            "count",
            "=(({real@p}>bd_tol)+({senior_arrears@p}>bd_tol)+({perf_arrears@p}>bd_tol)"
            "+({fee_arrears_balance@p}>bd_tol)>0)*1",
        ),
        Line("opening_balance", cols["opening_balance"].label, "money", "={real@p}*{index@p}"),
        Line("indexation", cols["indexation"].label, "money", "={real@p}*({index}-{index@p})"),
        Line("interest", cols["interest"].label, "money", "={real@p}*{index}*{rate}/bd_freq"),
        Line(
            "fees_now",
            "Fees accruing (while anything is owed)",
            "money",
            "={owing}*{scheduled_fees}",
        ),
        Line(
            "capitalised_interest",
            cols["capitalised_interest"].label,
            "money",
            "={f_capgrace}*({interest}+{fees_now})",
        ),
        Line(
            "real_cap",
            "Balance after capitalisation (issue-date money)",
            "money",
            "={real@p}+{capitalised_interest}/{index}",
        ),
        Line(
            "post_grace",
            "Balance after grace (issue-date money)",
            "money",
            "={post_grace@p}+{f_end_grace}*({real_cap}-{post_grace@p})",
            "=bd_principal",
        ),
        Line("interest_due", "Interest due", "money", "=(1-{f_capgrace})*{interest}"),
        Line(
            "arrears_interest",
            cols["arrears_interest"].label,
            "money",
            "=bd_arrears_int*({senior_arrears@p}+{perf_arrears@p})*{rate}/bd_freq",
        ),
        Line(
            "arrears_open",
            "Senior arrears with their interest",
            "money",
            "={senior_arrears@p}*(1+bd_arrears_int*{rate}/bd_freq)",
        ),
        Line(
            "perf_arrears_open",
            "Performance arrears with their interest",
            "money",
            "={perf_arrears@p}*(1+bd_arrears_int*{rate}/bd_freq)",
        ),
        Line(
            "scheduled_principal",
            cols["scheduled_principal"].label,
            "money",
            "=({f_due_all}*{real_cap}+{f_amort}*MAX({real_cap}-{remaining}*{post_grace},0))"
            "*{index}",
        ),
        Line(
            "debt_service_due",
            cols["debt_service_due"].label,
            "money",
            "={interest_due}+{scheduled_principal}",
        ),
        Line(
            "fees_due",
            cols["fees_due"].label,
            "money",
            "=(1-{f_capgrace})*{fees_now}+{fee_arrears_balance@p}",
        ),
    ]
    if perf is not None:
        lines.append(
            Line(
                "perf_all",
                "Performance payment on gross savings above the threshold",
                "money",
                "=in_bond_performance_share*MAX({gross_at_pay}-in_bond_performance_threshold/bd_freq"
                "*{price_at_pay},0)*({payment}<=bd_n_term)",
            )
        )
    lines += [
        Line("performance_due", cols["performance_due"].label, "money", perf_due),
        Line(
            "senior",
            "Senior due: fees, arrears, interest, principal",
            "money",
            "={fees_due}+{arrears_open}+{interest_due}+{scheduled_principal}",
        ),
        Line("senior_cash", "Senior paid from pledged cash", "money", "=MIN({cash_in},{senior})"),
        Line(
            "reserve_draw",
            cols["reserve_draw"].label,
            "money",
            "=MIN({reserve_balance@p},{senior}-{senior_cash})",
        ),
        Line(
            "short",
            "Senior unpaid after the DSRA",
            "money",
            "={senior}-{senior_cash}-{reserve_draw}",
        ),
        Line(
            "perf_cash",
            "Performance paid from pledged cash (junior)",
            "money",
            "=MIN({cash_in}-{senior_cash},{performance_due})",
        ),
        Line("short_perf", "Performance unpaid", "money", "={performance_due}-{perf_cash}"),
        Line("topup", cols["topup"].label, "money", "=(1-bd_limited)*({short}+{short_perf})"),
        Line("shortfall", cols["shortfall"].label, "money", "=bd_limited*({short}+{short_perf})"),
        Line("cash_used", cols["cash_used"].label, "money", "={senior_cash}+{perf_cash}"),
        Line(
            "paid",
            "Senior paid (cash, DSRA and any top-up)",
            "money",
            "={senior}-bd_limited*{short}",
        ),
        Line("fees_paid", cols["fees_paid"].label, "money", "=MIN({paid},{fees_due})"),
        Line(
            "arrears_paid",
            cols["arrears_paid"].label,
            "money",
            "=MIN({paid}-{fees_paid},{arrears_open})",
        ),
        Line(
            "interest_paid",
            cols["interest_paid"].label,
            "money",
            "=MIN({paid}-{fees_paid}-{arrears_paid},{interest_due})",
        ),
        Line(
            "principal_paid",
            cols["principal_paid"].label,
            "money",
            "=MIN({paid}-{fees_paid}-{arrears_paid}-{interest_paid},{scheduled_principal})",
        ),
        Line(
            "performance_paid",
            cols["performance_paid"].label,
            "money",
            "={performance_due}-bd_limited*{short_perf}",
        ),
        Line("excess", "Pledged cash left after debt service", "money", "={cash_in}-{cash_used}"),
        Line(
            "reserve_deposit",
            cols["reserve_deposit"].label,
            "money",
            "=MIN({excess},MAX({reserve_target}-({reserve_balance@p}-{reserve_draw}),0))",
        ),
        Line(
            "sweep",
            cols["sweep"].label,
            "money",
            "={f_amort}*MIN(in_bond_cash_sweep*({excess}-{reserve_deposit}),"
            "MAX({real_cap}-{principal_paid}/{index},0)*{index})",
        ),
        Line(
            "real_pre",
            "Balance after payments (issue-date money)",
            "money",
            "={real_cap}-{principal_paid}/{index}-{sweep}/{index}",
        ),
        Line("fee_arrears_pre", "Fees unpaid", "money", "={fees_due}-{fees_paid}"),
        Line(
            "arrears_pre",
            "Senior arrears after payment",
            "money",
            "={arrears_open}-{arrears_paid}+({interest_due}-{interest_paid})",
        ),
        Line(
            "perf_arrears_pre",
            "Performance arrears after payment",
            "money",
            "={performance_due}-{performance_paid}",
        ),
        Line(
            "clear",
            "Flag: no arrears",
            "count",
            "=({arrears_pre}+{perf_arrears_pre}<=bd_zero*bd_principal)"
            "*({fee_arrears_pre}<=bd_zero*bd_principal)",
        ),
        Line("repaid", "Flag: balance repaid", "count", "=({real_pre}<=bd_tol)*1"),
        Line(
            "write_off",
            cols["write_off"].label,
            "money",
            "={f_final}*((1-{repaid})*MAX({real_pre},0)*{index}"
            "+({arrears_pre}+{perf_arrears_pre}>bd_tol)*({arrears_pre}+{perf_arrears_pre}))",
        ),
        Line(
            "fee_write_off",
            cols["fee_write_off"].label,
            "money",
            "={f_final}*({fee_arrears_pre}>bd_tol)*{fee_arrears_pre}",
        ),
        Line(
            "reserve_pre",
            "DSRA after draw and deposit",
            "money",
            "={reserve_balance@p}-{reserve_draw}+{reserve_deposit}",
        ),
        Line(
            "reserve_release",
            cols["reserve_release"].label,
            "money",
            "={f_final}*{reserve_pre}+(1-{f_final})*{f_due_all}*{repaid}*{clear}*{reserve_pre}"
            "+(1-{f_due_all})*{clear}*MAX({reserve_pre}-{reserve_target},0)",
        ),
        Line(
            "reserve_balance",
            cols["reserve_balance"].label,
            "money",
            "={reserve_pre}-{reserve_release}",
            "=bd_reserve0",
        ),
        Line(
            "senior_arrears", "Senior arrears outstanding", "money", "=(1-{f_final})*{arrears_pre}"
        ),
        Line(
            "perf_arrears",
            "Performance arrears outstanding",
            "money",
            "=(1-{f_final})*{perf_arrears_pre}",
        ),
        Line(
            "arrears_balance",
            cols["arrears_balance"].label,
            "money",
            "={senior_arrears}+{perf_arrears}",
        ),
        Line(
            "fee_arrears_balance",
            cols["fee_arrears_balance"].label,
            "money",
            "=(1-{f_final})*{fee_arrears_pre}",
        ),
        Line(
            "real",
            "Closing balance (issue-date money)",
            "money",
            "=(1-{f_final})*{real_pre}*(ABS({real_pre})>bd_tol)",
            "=bd_principal",
        ),
        Line(
            "closing_balance",
            cols["closing_balance"].label,
            "money",
            "={real}*{index}",
            "={real}*{index}",
        ),
        Line(
            "dscr",
            cols["dscr"].label,
            "ratio",
            '=IF({debt_service_due}>bd_tol,{cfads}/{debt_service_due},"n/a")',
            "n/a",
        ),
        Line(
            "investor_flow",
            cols["investor_flow"].label,
            "money",
            "={arrears_paid}+{interest_paid}+{principal_paid}+{sweep}+{performance_paid}"
            "-{f_capgrace}*{fees_now}",
            "=-bd_proceeds",
        ),
        Line(
            "to_council",
            "Paid by the council into the bond account, net",
            "money",
            "={cash_used}+{reserve_deposit}+{sweep}+{topup}-{reserve_release}",
        ),
        Line(
            "deferred",
            "Flag: a shortfall has been deferred (for LGD)",
            "count",
            "=MAX({deferred@p},({shortfall}>bd_tol)*1)",
        ),
    ]
    pwlb = bond.pwlb
    if pwlb is not None:
        # one formula for every loan type, chosen by the input
        principal = (
            '=({payment}<pw_n)*CHOOSE(MATCH(in_pwlb_loan_type,{"annuity","eip","maturity"},0),'
            "pw_level-{pwlb_interest},pw_amount/pw_n,0)+({payment}=pw_n)*{pwlb_balance@p}"
        )
        lines += [
            _heading("h_pwlb", "PWLB benchmark: the same financing need as a PWLB loan"),
            Line(
                "pwlb_interest",
                "PWLB interest",
                "money",
                "=({payment}<=pw_n)*{pwlb_balance@p}*pw_i",
            ),
            Line("pwlb_principal", "PWLB principal (by loan type)", "money", principal),
            Line(
                "pwlb_balance",
                "PWLB balance",
                "money",
                "={pwlb_balance@p}-{pwlb_principal}",
                "=pw_amount",
            ),
            Line(
                "pwlb_debt_service",
                "PWLB debt service",
                "money",
                "={pwlb_interest}+{pwlb_principal}",
            ),
        ]
    return lines


def _values(
    results: Results, trace: dict[str, FloatArray], lines: list[Line]
) -> dict[str, FloatArray]:
    """The engine's value of every row, one per payment k = 0..NL."""
    bond = results.bond
    assert bond is not None
    s = bond.schedule
    grid = s.grid
    table = bond.table
    k = np.arange(grid.n_legal + 1, dtype=np.float64)
    out: dict[str, FloatArray] = {
        key: table[key].to_numpy(dtype=np.float64) for key in BOND_COLUMNS if key not in ("date",)
    }
    out.update(trace)
    big_g, big_n = grid.n_grace, grid.n_scheduled
    grace = ((k >= 1) & (k <= big_g)).astype(np.float64)
    out.update(_timing(results, grid.n_legal + 1))
    out.update(
        {
            "f_grace": grace,
            "f_end_grace": (k == big_g).astype(np.float64),
            "f_capgrace": grace * (1.0 if s.terms.grace_interest == "capitalised" else 0.0),
            "f_amort": ((k > big_g) & (k < big_n)).astype(np.float64),
            "f_maturity": (k == big_n).astype(np.float64),
            "f_due_all": (k >= big_n).astype(np.float64),
            "f_final": (k == grid.n_legal).astype(np.float64),
            "net_at_pay": grid.aggregate(results.flows.net_savings)[0],
            "gross_at_pay": grid.aggregate(results.flows.gross_savings)[0],
            "price_at_pay": results.flows.price_index[0, grid.pay_t],
            "rate": s.rates,
            "remaining": s.remaining,
            "reserve_target": s.reserve_target,
            **{
                f"scheduled_post_grace{suffix}": np.where(
                    k <= big_g,
                    trace[f"scheduled_balance{suffix}"],
                    trace[f"post_grace_scheduled{suffix}"][-1],
                )
                for suffix in ("", "_unit", "_fees")
                if f"scheduled_balance{suffix}" in trace
            },
            "to_council": bond.flows.paid_in[0],
            "senior_arrears": trace["senior_arrears"],
            "perf_all": trace["perf_all"],
            "debt_df": debt_discount_factors(s, results.scenario.economics, results.timeline)[
                grid.pay_t
            ],
            **_dscr_rows(results, trace),
        }
    )
    out["deferred"] = deferred_since_shortfall(table["shortfall"].to_numpy(), s.principal).astype(
        np.float64
    )
    if bond.pwlb is not None:
        out["pwlb_interest"] = bond.pwlb.interest
        out["pwlb_principal"] = bond.pwlb.principal
        out["pwlb_balance"] = bond.pwlb.balance
        out["pwlb_debt_service"] = bond.pwlb.debt_service
    missing = [line.key for line in lines if line.key not in out and not line.heading]
    if missing:
        raise RuntimeError(f"Bond sheet rows without an engine value: {missing}")
    return out


# ---------------------------------------------------------------------------
# Council cash after debt service, on the Cashflows sheet (timeline columns)
# ---------------------------------------------------------------------------


def council_rows(ws: Worksheet, styles: Styles, results: Results, layout: Layout, top: int) -> int:
    """Write the council's cash flow after debt service (and with a PWLB loan instead).

    Returns the row below the block. Registers ``cashflows.council_discounted``
    and ``cashflows.pwlb_discounted`` for the Metrics sheet.
    """
    bond = results.bond
    if bond is None:
        return top
    n = results.timeline.n_periods + 1
    real = results.scenario.economics.appraisal_basis == "real"
    flows = results.flows
    grid = bond.schedule.grid
    ws.write(top, 0, "Council cash after debt service (nominal unless real)", styles.header)
    to_council = grid.to_timeline(bond.flows.paid_in[:1], results.timeline.n_periods)[0]
    issue = np.zeros(n)
    issue[grid.issue_t] = (
        bond.schedule.proceeds - bond.schedule.arrangement_fee - bond.schedule.reserve_initial
    )
    price = flows.price_index[0]
    lines = financing_lines(
        "council",
        "With the bond (debt service net of DSRA releases)",
        layout.rows["bond.to_council"],
        "(bd_proceeds-bd_fee-bd_reserve0)",
        to_council,
        issue,
    )
    if bond.pwlb is not None:
        pw_ds = grid.to_timeline(bond.pwlb.debt_service[None, :], results.timeline.n_periods)[0]
        drawn = np.zeros(n)
        drawn[grid.issue_t] = bond.pwlb.amount
        lines += financing_lines(
            "pwlb",
            "With a PWLB loan instead",
            layout.rows["bond.pwlb_debt_service"],
            "pw_amount",
            pw_ds,
            drawn,
        )
    inflation = (
        "*(1+INDEX(TL_INFL,1,{timeline.t}+1))^(-1/tl_f)"
        if isinstance(bond.schedule.terms.coupon, IndexLinkedCoupon)
        else ""
    )
    lines.append(
        Line(
            "debt_df",
            "Discount factor at the debt's rates from issue (PLCR)",
            "factor",
            "={debt_df@p}*IF({timeline.t}>bd_issue_t,(1+INDEX(BOND_RATE,1,"
            f"MIN(ROUNDUP(({{timeline.t}}-bd_issue_t)/bd_step,0),bd_n_legal)+1))^(-1/tl_f){inflation},1)",
            1.0,
            values=debt_discount_factors(
                bond.schedule, results.scenario.economics, results.timeline
            ),
        )
    )
    names = ("net_cash_flow", "discount_factor")
    rows: dict[str, int | tuple[str, int]] = {
        **{f"cashflows.{key}": layout.row_numbers[f"cashflows.{key}"] for key in names},
        **timeline_rows(layout, "t", "deflator"),
        **{line.key: top + 1 + i for i, line in enumerate(lines)},
    }
    write_lines(
        ws,
        styles,
        lines,
        Grid(
            rows,
            n,
            {
                "BOND_T": layout.rows["bond.t"],
                "BOND_RATE": layout.rows["bond.rate"],
                "TL_INFL": layout.rows["timeline.inflation"],
            },
        ),
        layout,
        "Cashflows",
        {
            "cashflows.net_cash_flow": results.periods["net_cash_flow"].to_numpy(dtype=float),
            "cashflows.discount_factor": flows.discount_factors[0],
            "timeline.deflator": price if real else np.ones_like(price),
        },
    )
    return top + len(lines) + 2


def financing_lines(
    prefix: str, title: str, paid_row: str, received: str, paid: FloatArray, got: FloatArray
) -> list[Line]:
    """Paid by the council (from the Bond sheet's row ``paid_row``), received at issue, and
    the council's cash flow: nominal, on the appraisal basis, discounted (one Expr each).

    ``BOND_T`` stands for the Bond sheet's timeline-period row; ``paid`` and ``got`` are the
    engine's values of the first two rows."""
    flow = Ref("cashflows.net_cash_flow") - Ref(f"{prefix}_paid") + Ref(f"{prefix}_received")
    basis = Ref(f"{prefix}_flow") / Ref("timeline.deflator")
    return [
        same(
            f"{prefix}_paid",
            f"{title}: paid by the council",
            "money",
            f"=SUMIF(BOND_T,{{timeline.t}},{paid_row})",
            values=paid,
            total=True,
        ),
        same(
            f"{prefix}_received",
            f"{title}: received at issue",
            "money",
            f"=({{timeline.t}}=bd_issue_t)*{received}",
            values=got,
            total=True,
        ),
        same(f"{prefix}_flow", f"{title}: council cash flow", "money", flow, total=True),
        same(
            f"{prefix}_basis",
            f"{title}: council cash flow (appraisal basis)",
            "money",
            basis,
            total=True,
            prices="appraisal",
        ),
        same(
            f"{prefix}_discounted",
            f"{title}: council cash flow, discounted",
            "money",
            Ref(f"{prefix}_basis") * Ref("cashflows.discount_factor"),
            total=True,
            prices="appraisal",
        ),
    ]


def _capped_inflation(coupon: IndexLinkedCoupon) -> str:
    """Each period's inflation rate (the Timeline row), floored and capped element by element.

    Arithmetic, not MIN/MAX (which reduce a range to one number) nor IF (which needs
    an array formula in Excel inside SUMPRODUCT): x + (floor - x)(x < floor), then the
    same with the cap. The floor is at most the cap, so the order does not matter.
    """
    rate = "TL_INFL"
    if coupon.uplift_floor is not None:
        rate = f"({rate}+(in_bond_coupon_uplift_floor-{rate})*({rate}<in_bond_coupon_uplift_floor))"
    if coupon.uplift_cap is not None:
        rate = f"({rate}-({rate}-in_bond_coupon_uplift_cap)*({rate}>in_bond_coupon_uplift_cap))"
    return rate


def _outside(layout: Layout) -> dict[str, str]:
    """The Timeline and Cashflows rows the Bond sheet's templates name in capitals."""
    return {
        "TL_T": layout.rows["timeline.t"],
        "TL_PRICE": layout.rows["timeline.price_index"],
        "TL_INFL": layout.rows["timeline.inflation"],
        "CF_NET": layout.rows["cashflows.net_savings"],
        "CF_GROSS": layout.rows["cashflows.gross_savings"],
        "CF_CAPEX_BASE": layout.rows["cashflows.capex_base"],
        "CF_CONTINGENCY": layout.rows["cashflows.capex_contingency"],
        "CF_OPTIMISM_BIAS": layout.rows["cashflows.capex_optimism_bias"],
    }


# ---------------------------------------------------------------------------
# Bond metrics as Excel functions, for the Metrics sheet
# ---------------------------------------------------------------------------


def bond_metric_formulas(results: Results, layout: Layout) -> dict[str, str]:
    """Each bond metric's live formula over the Bond and Cashflows rows (defined ones only)."""
    bond = results.bond
    if bond is None:
        return {}
    r, c = layout.rows, layout.cells
    flows = r["bond.investor_flow"]
    after = r["bond.investor_flow.after_issue"]
    k_after = r["bond.payment.after_issue"]
    years_after = r["bond.years.after_issue"]
    repaid = f"({r['bond.principal_paid']}+{r['bond.sweep']})"
    loss = f"SUM({r['bond.write_off']})"
    out = {
        "principal": "=bd_principal",
        "gearing": "=bd_gearing",
        "funding_gap": "=bd_funding_gap",
        "money_multiple": f"=SUM({after})/-{c['bond.investor_flow.first']}",
        "wal_years": (
            f"=SUMPRODUCT({repaid}*{r['bond.years']})"
            f"/(SUM({r['bond.principal_paid']})+SUM({r['bond.sweep']}))"
        ),
        "total_interest": f"=SUM({r['bond.interest']})",
        "total_performance": f"=SUM({r['bond.performance_paid']})",
        "investor_loss": f"={loss}",
        "loss_given_default": (
            f'=IF({loss}>0,{loss}/({loss}+MAX(SUMPRODUCT({r["bond.deferred"]},{flows}),0)),"n/a")'
        ),
        "council_npv": f"=SUM({r['cashflows.council_discounted']})",
        "min_dscr": f'=IF(COUNT({r["bond.dscr"]})=0,"n/a",MIN({r["bond.dscr"]}))',
        "avg_dscr": f'=IF(COUNT({r["bond.dscr"]})=0,"n/a",AVERAGE({r["bond.dscr"]}))',
        "llcr": (
            f"=SUMPRODUCT(({r['bond.payment']}>=1)*({r['bond.payment']}<=bd_n_term)"
            f"*{r['bond.cfads']}*{r['bond.debt_df']})/bd_principal"
        ),
        "plcr": (
            f"=in_bond_pledged_share*SUMPRODUCT(({r['timeline.t']}>bd_issue_t)"
            f"*{r['cashflows.net_savings']}*{r['cashflows.debt_df']})/bd_principal"
        ),
        "total_topup": f"=IF(SUM({r['bond.topup']})>bd_tol,SUM({r['bond.topup']}),0)",
        "shortfall_periods": (
            f"=SUMPRODUCT(--({r['bond.reserve_draw']}+{r['bond.topup']}+{r['bond.shortfall']}"
            ">bd_tol))"
        ),
    }
    if int(bond.metrics["investor_irr_flag"] or 0) == 0:
        # Newton's starting point: the rate that turns the money multiple into
        # interest over the term (0 for a bond repaid at par without coupon)
        guess = f"(SUM({after})/-{c['bond.investor_flow.first']})^(1/bd_n_term)-1"
        periodic = f"IRR({flows},{guess})"
        discount = f"(1+{periodic})^(-{k_after})"
        out["investor_irr"] = f"=(1+{periodic})^bd_freq-1"
        out["macaulay_duration"] = (
            f"=SUMPRODUCT({after}*{discount}*{years_after})/SUMPRODUCT({after}*{discount})"
        )
        out["modified_duration"] = (
            f"=SUMPRODUCT({after}*{discount}*{years_after})/SUMPRODUCT({after}*{discount})"
            f"/(1+{periodic})"
        )
    if "cashflows.pwlb_discounted" in r:
        out["pwlb_npv"] = f"=SUM({r['cashflows.pwlb_discounted']})"
        out["council_npv_vs_pwlb"] = (
            f"=SUM({r['cashflows.council_discounted']})-SUM({r['cashflows.pwlb_discounted']})"
        )
    return out
