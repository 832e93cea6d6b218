"""The funding routes in the workbook (issue 17): the Routes, Budget and Prudential sheets.

Written only when the scenario has ``[council]`` and ``[[routes]]``. Every number is a
live formula over the Inputs, Timeline, Cashflows and Bond sheets, rendered from the
equations of docs/methodology.md, section 23, independently of
:mod:`bondmodel.council.routes`; each cell caches the engine's value (the recalculation
tests prove the two agree):

- **Routes**, by timeline period: each route's terms (a loan's rate = gilt yield + the
  rate type's margin, its term and level payment), its schedule (a PWLB loan's or a
  community investment's yearly annuity, EIP or maturity repayments; the bond's charges
  and balance, linked to the Bond sheet; the reserves drawn and the interest forgone; an
  outcomes contract's payments, a share of the savings up to a cap), the council's cash
  flow, discounted and cumulated; then the routes side by side (one column each), the
  simulation's statistics as values, and a chart.
- **Budget**, by financial year: the programme's savings, running and one-off costs, and
  per route the one-off costs charged to revenue, interest, MRP (asset life, equal
  instalments or annuity, and the capitalisation direction's deemed life), payments for
  outcomes, the net effect, its Band D equivalent and the cumulative gap.
- **Prudential**, by financial year: the council before the programme and per route the
  CFR, gross debt against it, financing costs over the net revenue stream, the
  headroom under the operational boundary and the authorised limit, and breach flags.

Financial years are the Timeline's ("Financial year" row; a balance is taken at the
year's last period, the Timeline's flag), summed with ``SUMIFS`` as on the Annual sheet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel.council.routes import (
    RouteFlows,
    RouteTerms,
    RouteView,
    YearGrid,
    financed_share,
    pwlb_rate_open,
    receipts_applied,
    revenue_capex,
    route_flows,
    year_grid,
)
from bondmodel.engine import Results
from bondmodel.labels import ROUTE_PRUDENTIAL, ROUTE_RISK, ROUTE_SUMMARY, Unit
from bondmodel.metrics import peak_funding_need
from bondmodel.scenario.council import CAPITAL_CATEGORIES, PWLBRoute
from bondmodel.types import FloatArray
from bondmodel.workbook.as_run import status_banner
from bondmodel.workbook.cost_rows import timeline_rows
from bondmodel.workbook.inputs import defined_name
from bondmodel.workbook.layout import FIRST_PERIOD_COL, Layout, ref, span
from bondmodel.workbook.printing import place_charts
from bondmodel.workbook.rows import Grid, Line, same, write_lines
from bondmodel.workbook.styles import UNIT_WIDTH, Styles, heading_height, print_across, write_value

ROUTES: Final = "Routes"
BUDGET: Final = "Budget"
PRUDENTIAL: Final = "Prudential"

#: The route types' names in words (a heading, the comparison's "Type" row).
TYPE_WORDS: Final = {
    "bond": "invest-to-save bond",
    "pwlb": "PWLB loan",
    "capital_receipts": "flexible use of capital receipts",
    "community_investment": "community municipal investment",
    "reserves": "usable reserves",
    "outcomes_contract": "outcomes-based contract",
}
#: The loan types a MATCH picks among, in CHOOSE's order (annuity, EIP, maturity), for a PWLB
#: loan's ``loan_type`` and a community investment's ``repayment``.
_LOAN_CHOICES: Final = {"pwlb": ("annuity", "eip", "maturity"), "cmi": ("annuity", "eip", "bullet")}

#: Rows (0-based) of the time-series sheets' headings; the first line item below them.
PERIOD_ROW, LABEL_ROW, HEADER_ROW = 2, 3, 4
FIRST_ROW = HEADER_ROW + 1
#: Width of the comparison's route columns on the Routes sheet.
ROUTE_WIDTH = 18
#: The column of each sheet's RERUN NEEDED banner: right of the title, which it would cut.
BANNER_COL = 8


def has_council_sheets(results: Results) -> bool:
    """True when the scenario compares funding routes (so the three sheets are written)."""
    return results.routes is not None


@dataclass(frozen=True)
class _Route:
    """One route as the sheets need it: its index, terms, base-case view and flows."""

    k: int
    terms: RouteTerms
    view: RouteView
    flows: RouteFlows

    @property
    def type(self) -> str:
        return self.terms.type

    @property
    def loan(self) -> bool:
        """A loan drawn at close and repaid yearly (PWLB, community investment)."""
        return self.type in ("pwlb", "community_investment")

    @property
    def has_interest(self) -> bool:
        return self.type in ("bond", "pwlb", "community_investment", "reserves")

    def name(self, field: str) -> str:
        """The defined name of this route's input ``field``."""
        return defined_name(f"routes[{self.k}].{field}")


def _routes(results: Results) -> list[_Route]:
    rr = results.routes
    council = results.scenario.council
    assert rr is not None and council is not None
    bond = results.bond
    out = []
    for k, view in enumerate(rr.views):
        flows = route_flows(
            view.terms,
            results.flows,
            None if bond is None else bond.flows,
            None if bond is None else bond.schedule.grid,
            council,
            results.timeline,
        )
        out.append(_Route(k, view.terms, view, flows))
    return out


def council_sheets(wb: Workbook, styles: Styles, results: Results, layout: Layout) -> None:
    """Add and write the Routes, Budget and Prudential sheets, in that order."""
    ws_routes = wb.add_worksheet(ROUTES)
    ws_budget = wb.add_worksheet(BUDGET)
    ws_prudential = wb.add_worksheet(PRUDENTIAL)
    routes = _routes(results)
    below = _routes_periods(wb, ws_routes, styles, results, layout, routes)
    years = year_grid(results.timeline)
    budget = _Yearly(results, routes, years)
    _budget_sheet(ws_budget, styles, results, layout, routes, budget)
    _prudential_sheet(ws_prudential, styles, results, layout, routes, budget)
    _comparison(wb, ws_routes, styles, results, layout, routes, below)


# ---------------------------------------------------------------------------
# Routes: each route's terms and schedule by timeline period
# ---------------------------------------------------------------------------


def _scalar(
    wb: Workbook,
    ws: Worksheet,
    styles: Styles,
    row: int,
    name: str,
    label: str,
    unit: Unit,
    formula: str,
    value: float,
) -> None:
    """One term of a route: its label, unit and live value in column C, a defined name."""
    ws.write_string(row, 0, label, styles.label)
    ws.write_string(row, 1, styles.unit_words(unit), styles.note)
    ws.write_formula(row, 2, formula, styles.unit(unit), value)
    wb.define_name(name, f"={ref(ROUTES, row, 2)}")


def _terms(results: Results, routes: list[_Route], layout: Layout) -> list[tuple[Any, ...]]:
    """The terms block: (name, label, unit, formula, value) of each scalar."""
    capex = layout.rows["cashflows.capex"]
    total = float(results.flows.capex[0].sum())
    need = routes[0].terms.amount
    out: list[tuple[Any, ...]] = [
        ("rt_capex", "One-off costs of the programme, in total", "money", f"=SUM({capex})", total),
        (
            "rt_need",
            "Financing need: what each route provides at close (the bond's financed costs)"
            if results.bond is not None
            else "Financing need: what each route provides at close (the one-off costs)",
            "money",
            "=bd_financed" if results.bond is not None else "=rt_capex",
            need,
        ),
    ]
    share = financed_share(need, total)
    for r in routes:
        title = r.terms.name
        k = r.k
        if r.type == "pwlb":
            rate = (
                f"={r.name('gilt_yield')}+INDEX(conv_pwlb_margins,MATCH({r.name('rate_type')},"
                "conv_pwlb_rate_types,0))"
            )
        elif r.type == "community_investment":
            rate = f"={r.name('rate')}"
        elif r.type == "bond":
            rate = f"=INDEX({layout.rows['bond.rate']},1,2)"
        elif r.type == "reserves":
            rate = "=in_council_investment_rate"
        else:
            rate = ""
        if rate:
            words = {
                "pwlb": "rate: gilt yield + the rate type's margin",
                "community_investment": "rate",
                "bond": "the first coupon rate (for MRP as an annuity)",
                "reserves": "what the reserves earn, forgone",
            }[r.type]
            out.append((f"rt{k}_rate", f"{title}: {words}", "rate", rate, r.terms.rate))
        if r.loan:
            years = int(r.terms.route.term_years)  # type: ignore[union-attr]
            out.append(
                (f"rt{k}_n", f"{title}: term", "years", f"={r.name('term_years')}", float(years))
            )
            i = r.terms.rate
            level = need * i / (1.0 - (1.0 + i) ** -years) if abs(i) > 1e-15 else need / years
            out.append(
                (
                    f"rt{k}_level",
                    f"{title}: annuity payment a year (PMT)",
                    "money",
                    f"=IF(ABS(rt{k}_rate)>bd_tiny,PMT(rt{k}_rate,rt{k}_n,-rt_need),rt_need/rt{k}_n)",
                    level,
                )
            )
        if r.type != "capital_receipts":
            out.append(
                (
                    f"rt{k}_share",
                    f"{title}: share of the one-off costs it finances",
                    "rate",
                    "=IF(rt_capex>0,MIN(1,rt_need/rt_capex),0)",
                    share,
                )
            )
    return out


def _route_lines(r: _Route, results: Results) -> list[Line]:
    """The period rows of one route (keys ``r{k}_...``)."""
    k = r.k
    p = f"r{k}_"
    terms, rf = r.terms, r.flows
    net = "{cashflows.net_cash_flow}"
    head = Line(f"{p}h", f"{terms.name}: {TYPE_WORDS[r.type]}", "count", "")

    def flow(label: str, formula: str) -> Line:
        """The council's cash flow under the route, by period."""
        return same(f"{p}flow", label, "money", formula, values=rf.council[0], total=True)

    lines: list[Line] = [head]
    if r.type == "bond":
        lines += [
            same(
                f"{p}interest",
                "Charged by the bond: interest, fees and performance payments (Bond sheet)",
                "money",
                "=SUMIF(BOND_T,{timeline.t},BOND_INT)+SUMIF(BOND_T,{timeline.t},BOND_FEES)"
                "+SUMIF(BOND_T,{timeline.t},BOND_PERF)",
                values=rf.interest[0],
                total=True,
            ),
            same(
                f"{p}balance",
                "Bond outstanding (the last payment's closing balance)",
                "money",
                "=IFERROR(INDEX(BOND_BAL,1,MATCH({timeline.t},BOND_T,1)),0)",
                values=terms.balance,
            ),
            flow(
                "Council cash flow (Cashflows: with the bond)",
                "={cashflows.council_flow}",
            ),
        ]
    elif r.loan:
        field, choices = (
            ("loan_type", _LOAN_CHOICES["pwlb"])
            if r.type == "pwlb"
            else ("repayment", _LOAN_CHOICES["cmi"])
        )
        options = ",".join(f'"{c}"' for c in choices)
        pay = "{timeline.f_year_end}*({timeline.years}<=" + f"rt{k}_n)"
        lines += [
            Line(
                f"{p}interest",
                "Interest: the balance x the rate, at each year's end",
                "money",
                f"={pay}*{{{p}balance@p}}*rt{k}_rate",
                0.0,
                values=terms.interest,
                total=True,
            ),
            Line(
                f"{p}principal",
                "Principal repaid (annuity, equal instalments or at maturity)",
                "money",
                "={timeline.f_year_end}*(({timeline.years}<"
                f"rt{k}_n)*CHOOSE(MATCH({r.name(field)},{{{options}}},0),rt{k}_level-"
                f"{{{p}interest}},rt_need/rt{k}_n,0)+({{timeline.years}}=rt{k}_n)*{{{p}balance@p}})",
                0.0,
                values=terms.principal,
                total=True,
            ),
            Line(
                f"{p}balance",
                "Loan outstanding",
                "money",
                f"={{{p}balance@p}}-{{{p}principal}}",
                "=rt_need",
                values=terms.balance,
            ),
            flow(
                "Council cash flow: the programme's, plus the loan less its debt service",
                f"={net}-{{{p}interest}}-{{{p}principal}}+{{timeline.f_close}}*rt_need",
            ),
        ]
    elif r.type == "reserves":
        ncf = results.flows.net_cash_flow[0]
        drawn = np.zeros_like(ncf)
        level = 0.0
        for t, cash in enumerate(ncf):
            level = max(level - float(cash), 0.0)
            drawn[t] = level
        lines += [
            Line(
                f"{p}drawn",
                "Reserves drawn: deficits paid, restored from surpluses",
                "money",
                f"=MAX({{{p}drawn@p}}-{net},0)",
                f"=MAX(-{net},0)",
                values=drawn,
            ),
            Line(
                f"{p}interest",
                "Investment income forgone: last period's amount drawn x the rate / f",
                "money",
                f"={{{p}drawn@p}}*rt{k}_rate/tl_f",
                0.0,
                values=rf.interest[0],
                total=True,
            ),
            flow(
                "Council cash flow: the programme's less the income forgone",
                f"={net}-{{{p}interest}}",
            ),
        ]
    elif r.type == "outcomes_contract":
        assert rf.outcome_payments is not None
        route: Any = terms.route
        due = route.share * results.flows.gross_savings[0].copy()
        due[route.term_years * results.timeline.f + 1 :] = 0.0
        due[0] = 0.0
        cap = f"{r.name('cap_multiple')}*rt_need"
        lines += [
            Line(
                f"{p}due",
                "Payments due, cumulative: the share of the savings achieved in the term",
                "money",
                f"={{{p}due@p}}+{r.name('share')}*{{cashflows.gross_savings}}"
                f"*({{timeline.t}}<={r.name('term_years')}*tl_f)",
                0.0,
                values=np.cumsum(due),
            ),
            Line(
                f"{p}payments",
                "Payments for outcomes (in total at most the cap x the investment)",
                "money",
                f"=MIN({{{p}due}},{cap})-MIN({{{p}due@p}},{cap})",
                0.0,
                values=rf.outcome_payments[0],
                total=True,
            ),
            flow(
                "Council cash flow: the programme's, plus the investment less the payments",
                f"={net}-{{{p}payments}}+{{timeline.f_close}}*rt_need",
            ),
        ]
    else:  # capital receipts: the receipts pay the costs; the cash flow is the programme's
        lines.append(
            flow(
                "Council cash flow: the programme's (receipts are the council's own cash)",
                f"={net}",
            )
        )
    df = results.flows.discount_factors[0]
    basis = results.flows.on_basis(rf.council)[0]
    lines += [
        same(
            f"{p}discounted",
            "Council cash flow, discounted (appraisal basis)",
            "money",
            f"={{{p}flow}}/{{timeline.deflator}}*{{cashflows.discount_factor}}",
            values=basis * df,
            total=True,
            prices="appraisal",
        ),
        Line(
            f"{p}cumulative",
            "Council cash flow, cumulative",
            "money",
            f"={{{p}cumulative@p}}+{{{p}flow}}",
            f"={{{p}flow}}",
            values=np.cumsum(rf.council[0]),
        ),
    ]
    return lines


def _routes_periods(
    wb: Workbook,
    ws: Worksheet,
    styles: Styles,
    results: Results,
    layout: Layout,
    routes: list[_Route],
) -> int:
    """Write the Routes sheet's terms and period rows; returns the first row below them."""
    n = results.timeline.n_periods + 1
    last_col = FIRST_PERIOD_COL + n - 1
    ws.set_column(0, 0, 64)
    ws.set_column(1, 1, UNIT_WIDTH)
    ws.set_column(2, 2, ROUTE_WIDTH)
    ws.set_column(FIRST_PERIOD_COL, last_col, 14)
    ws.write(
        0, 0, f"Funding routes compared (base case): {results.scenario.meta.name}", styles.title
    )
    ws.write(
        1,
        0,
        "Each route pays for the same programme. Live formulas over the Inputs, Timeline, "
        "Cashflows and Bond sheets; the side-by-side comparison is below the periods.",
        styles.note,
    )
    ws.write(PERIOD_ROW, 0, "Period", styles.bold)
    ws.write(LABEL_ROW, 0, "Financial year", styles.bold)
    for j in range(n):
        col = FIRST_PERIOD_COL + j
        t_cell = xl_rowcol_to_cell(layout.row_numbers["timeline.t"], col)
        ws.write_formula(PERIOD_ROW, col, f"=Timeline!{t_cell}", styles.bold_count, j)
    fy = results.timeline.financial_years()
    for j in range(n):
        col = FIRST_PERIOD_COL + j
        fy_cell = xl_rowcol_to_cell(layout.row_numbers["timeline.financial_year"], col)
        y = int(fy[j])
        ws.write_formula(
            LABEL_ROW,
            col,
            f'=Timeline!{fy_cell}&"/"&TEXT(MOD(Timeline!{fy_cell}+1,100),"00")',
            styles.bold_right,
            f"{y}/{(y + 1) % 100:02d}",
        )
    # the terms: one value each, named, in column C
    ws.write(HEADER_ROW, 0, "Terms of each route (fixed on the base case)", styles.header)
    ws.write(HEADER_ROW, 1, "Unit", styles.header)
    ws.write(HEADER_ROW, 2, "Value", styles.header)
    terms = _terms(results, routes, layout)
    for i, (name, label, unit, formula, value) in enumerate(terms):
        _scalar(wb, ws, styles, FIRST_ROW + i, name, label, unit, formula, value)
    top = FIRST_ROW + len(terms) + 1
    ws.write(top, 0, "Line item", styles.header)
    ws.write(top, 1, "Unit", styles.header)
    ws.write(top, 2, "Total", styles.header)
    for j in range(n):
        ws.write(top, FIRST_PERIOD_COL + j, "", styles.header)
    revenue = _revenue_line(results)
    lines = [revenue]
    for r in routes:
        lines += _route_lines(r, results)
    rows: dict[str, int | tuple[str, int]] = {
        **timeline_rows(layout, "t", "years", "f_close", "f_year_end", "deflator", "price_index"),
        **{
            f"cashflows.{key}": ("Cashflows", layout.row_numbers[f"cashflows.{key}"])
            for key in ("net_cash_flow", "gross_savings", "discount_factor")
        },
        **{line.key: top + 1 + i for i, line in enumerate(lines)},
    }
    outside: dict[str, str] = {}
    if results.bond is not None:
        rows["cashflows.council_flow"] = ("Cashflows", layout.row_numbers["cashflows.council_flow"])
        outside = {
            "BOND_T": layout.rows["bond.t"],
            "BOND_INT": layout.rows["bond.interest"],
            "BOND_FEES": layout.rows["bond.fees_paid"],
            "BOND_PERF": layout.rows["bond.performance_paid"],
            "BOND_BAL": layout.rows["bond.closing_balance"],
        }
    for i in range(len(results.scenario.costs)):
        for kind in ("base", "contingency", "optimism_bias"):
            key = f"cashflows.cost{i}.{kind}"
            rows[key] = ("Cashflows", layout.row_numbers[key])
    write_lines(ws, styles, lines, Grid(rows, n, outside), layout, ROUTES)
    ws.freeze_panes(top + 1, FIRST_PERIOD_COL)
    print_across(ws, LABEL_ROW + 1)
    return top + 1 + len(lines) + 2


def _revenue_line(results: Results) -> Line:
    """The one-off costs of the revenue categories (not IT or property) by period: what
    borrowing cannot fund without a capitalisation direction. Each item's base, contingency
    and optimism bias times the outturn factor, where its category (live) is not capital."""
    capital = ",".join(f'"{c}"' for c in CAPITAL_CATEGORIES)
    parts = [
        f"({{cashflows.cost{i}.base}}+{{cashflows.cost{i}.contingency}}"
        f"+{{cashflows.cost{i}.optimism_bias}})*conv_cost_factor"
        f"*(1-ISNUMBER(MATCH({defined_name(f'costs[{i}].category')},{{{capital}}},0)))"
        for i in range(len(results.scenario.costs))
    ]
    return same(
        "revenue_costs",
        "One-off costs of revenue categories (not IT or property)",
        "money",
        "=" + ("+".join(parts) or "0"),
        values=revenue_capex(results.scenario, results.timeline),
        total=True,
    )


# ---------------------------------------------------------------------------
# Budget and Prudential: by financial year
# ---------------------------------------------------------------------------


class _Yearly:
    """The base case by financial year, as the engine computes it, for the cached values."""

    def __init__(self, results: Results, routes: list[_Route], years: YearGrid) -> None:
        flows = results.flows
        self.years = years
        self.n = len(years.years)
        self.capex = years.total(flows.capex[0])
        self.revenue = years.total(revenue_capex(results.scenario, results.timeline))
        self.price_end = years.at_end(flows.price_index[0])
        council = results.scenario.council
        assert council is not None
        self.applied = receipts_applied(
            self.capex, np.asarray(council.capital_receipts, dtype=float)
        )
        receipts = np.zeros(self.n)
        m = min(self.n, len(council.capital_receipts))
        receipts[:m] = council.capital_receipts[:m]
        self.receipts = receipts
        pool = np.zeros(self.n)
        left = 0.0
        for y in range(self.n):
            pool[y] = left + receipts[y]
            left = pool[y] - self.applied[y]
        self.pool = pool


def _year_header(
    ws: Worksheet, styles: Styles, results: Results, title: str, note: str, n: int
) -> None:
    last_col = FIRST_PERIOD_COL + n - 1
    ws.set_column(0, 0, 62)
    ws.set_column(1, 1, UNIT_WIDTH)
    ws.set_column(2, 2, 16)
    ws.set_column(FIRST_PERIOD_COL, last_col, 14)
    ws.write(0, 0, f"{title}: {results.scenario.meta.name}", styles.title)
    ws.write(1, 0, note, styles.note)
    ws.write(HEADER_ROW, 0, "Line item", styles.header)
    ws.write(HEADER_ROW, 1, "Unit", styles.header)
    ws.write(HEADER_ROW, 2, "Total", styles.header)
    for j in range(n):
        ws.write(HEADER_ROW, FIRST_PERIOD_COL + j, "", styles.header)


def _year_labels(ws: Worksheet, styles: Styles, grid: Grid, years: YearGrid) -> None:
    """Row 3: each year's label (2026/27) from the sheet's ``fy`` row."""
    ws.write_string(LABEL_ROW, 0, "Financial year", styles.bold)
    for j, label in enumerate(years.labels()):
        col = FIRST_PERIOD_COL + j
        fy = grid.cell("fy", "", col)
        ws.write_formula(
            LABEL_ROW, col, f'={fy}&"/"&TEXT(MOD({fy}+1,100),"00")', styles.bold_right, label
        )


def _budget_sheet(
    ws: Worksheet,
    styles: Styles,
    results: Results,
    layout: Layout,
    routes: list[_Route],
    yearly: _Yearly,
) -> None:
    council = results.scenario.council
    assert council is not None
    years = yearly.years
    n = yearly.n
    _year_header(
        ws,
        styles,
        results,
        "Revenue budget by funding route (base case)",
        "By financial year (1 April to 31 March): what each route does to the General Fund. "
        "For borrowing the budget bears interest plus MRP, not the cash repaid. Positive net "
        "effect: the route costs the budget more than it saves. Live formulas.",
        n,
    )
    flows = results.flows
    b = [r.view.budget for r in routes]
    lines: list[Line] = [
        Line(
            "fy",
            "Financial year: its first calendar year",
            "count",
            "={fy@p}+1",
            "=MIN(TL_FY)",
            values=years.years.astype(float),
        ),
        same(
            "j",
            "Year of the programme (1 = the first financial year)",
            "count",
            "={fy}-MIN(TL_FY)+1",
            values=np.arange(1, n + 1, dtype=float),
        ),
        Line("h_programme", "The programme (Cashflows sheet), by financial year", "count", ""),
        *(
            same(key, label, "money", f"=SUMIFS({source},TL_FY,{{fy}})", values=v, total=True)
            for key, label, source, v in (
                ("savings", "Savings", "CF_GROSS", years.total(flows.gross_savings[0])),
                ("running", "Running costs", "CF_RUNNING", years.total(flows.running_costs[0])),
                ("capex", "One-off costs", "CF_CAPEX", yearly.capex),
                (
                    "revenue",
                    "of which revenue costs (not IT or property)",
                    "RT_REVENUE",
                    yearly.revenue,
                ),
            )
        ),
        same(
            "capital",
            "of which capital costs",
            "money",
            "={capex}-{revenue}",
            values=yearly.capex - yearly.revenue,
            total=True,
        ),
        same(
            "price_end",
            "Price index at the year's end",
            "index",
            "=SUMIFS(TL_PRICE,TL_FY,{fy},TL_END,1)",
            values=yearly.price_end,
        ),
        same(
            "nrs",
            "Net revenue stream (the council's budget, indexed)",
            "money",
            "=in_council_net_revenue_stream*{price_end}",
            values=council.net_revenue_stream * yearly.price_end,
        ),
    ]
    for r, budget in zip(routes, b, strict=True):
        lines += _budget_route_lines(r, budget, yearly, council.tax_base_band_d)
    outside = {
        "TL_FY": layout.rows["timeline.financial_year"],
        "TL_END": layout.rows["timeline.f_fy_end"],
        "TL_PRICE": layout.rows["timeline.price_index"],
        "CF_GROSS": layout.rows["cashflows.gross_savings"],
        "CF_RUNNING": layout.rows["cashflows.running_costs"],
        "CF_CAPEX": layout.rows["cashflows.capex"],
        "RT_REVENUE": layout.rows["routes.revenue_costs"],
    }
    for r in routes:
        for part in ("interest", "payments", "balance"):
            key = f"routes.r{r.k}_{part}"
            if key in layout.rows:
                outside[f"RT{r.k}_{part.upper()}"] = layout.rows[key]
    rows: dict[str, int | tuple[str, int]] = {
        "fy": PERIOD_ROW,
        **{line.key: FIRST_ROW + i - 1 for i, line in enumerate(lines) if i > 0},
    }
    grid = Grid(rows, n, outside)
    write_lines(ws, styles, lines, grid, layout, BUDGET)
    _year_labels(ws, styles, grid, years)
    ws.freeze_panes(FIRST_ROW, FIRST_PERIOD_COL)
    print_across(ws, HEADER_ROW + 1)


def _budget_route_lines(r: _Route, budget: Any, yearly: _Yearly, tax_base: float) -> list[Line]:
    """One route's rows on the Budget sheet (keys ``r{k}_...``)."""
    k = r.k
    p = f"r{k}_"
    zero = np.zeros(yearly.n)
    lines: list[Line] = [Line(f"{p}h", f"{r.terms.name}: {TYPE_WORDS[r.type]}", "count", "")]
    if r.type == "capital_receipts":
        lines += [
            same(
                f"{p}receipts",
                "Capital receipts arising in the year (Inputs)",
                "money",
                "=IF({j}<=COLUMNS(in_council_capital_receipts),"
                "N(INDEX(in_council_capital_receipts,1,{j})),0)",
                values=yearly.receipts,
                total=True,
            ),
            Line(
                f"{p}pool",
                "Receipts available: this year's and those carried forward",
                "money",
                f"={{{p}pool@p}}-{{{p}applied@p}}+{{{p}receipts}}",
                f"={{{p}receipts}}",
                values=yearly.pool,
            ),
            same(
                f"{p}applied",
                "Receipts applied to the year's one-off costs",
                "money",
                f"=MIN({{capex}},{{{p}pool}})",
                values=yearly.applied,
                total=True,
            ),
        ]
        one_off = f"={{capex}}-{{{p}applied}}"
    elif r.type == "reserves":
        one_off = "={capex}"
    else:
        one_off = f"={{capex}}*(1-rt{k}_share)"
    lines.append(
        same(
            f"{p}one_off",
            "One-off costs charged to revenue",
            "money",
            one_off,
            values=budget.one_off_costs if budget.one_off_costs is not None else zero,
            total=True,
        )
    )
    parts = []
    if r.has_interest:
        words = "Interest forgone on the reserves drawn" if r.type == "reserves" else "Interest"
        lines.append(
            same(
                f"{p}interest",
                words
                + (" (with the bond's fees and performance payments)" if r.type == "bond" else ""),
                "money",
                f"=SUMIFS(RT{k}_INTEREST,TL_FY,{{fy}})",
                values=budget.interest,
                total=True,
            )
        )
        parts.append(f"{{{p}interest}}")
    if r.terms.borrowing:
        cap, rev, j, jr = "{capital@row}", "{revenue@row}", "{j}", "{j@row}"

        def mask(life: str) -> str:
            return f"({j}-{jr}>=1)*({j}-{jr}<={life})"

        life, rate = "in_council_mrp_life_years", f"rt{k}_rate"
        annuity = (
            f"SUMPRODUCT({cap}*{mask(life)}*(1+{rate})^({j}-{jr}-1))*{rate}/((1+{rate})^{life}-1)"
        )
        equal = f"SUMPRODUCT({cap}*{mask(life)})/{life}"
        direction = f"SUMPRODUCT({rev}*{mask('conv_cd_life')})/conv_cd_life"
        lines += [
            same(
                f"{p}borrowed",
                "Spending financed by borrowing (adds to the CFR)",
                "money",
                f"={{capex}}*rt{k}_share",
                values=yearly.capex * financed_share(r.terms.amount, float(yearly.capex.sum())),
                total=True,
            ),
            same(
                f"{p}mrp",
                "Minimum revenue provision (from the year after the spending)",
                "money",
                f'=rt{k}_share*(IF(AND(in_council_mrp_method="annuity",ABS({rate})>bd_tiny),'
                f"{annuity},{equal})+{direction})",
                values=budget.mrp,
                total=True,
            ),
        ]
        parts.append(f"{{{p}mrp}}")
    lines.append(
        same(
            f"{p}financing",
            "Financing costs (interest + MRP)",
            "money",
            "=" + ("+".join(parts) or "0"),
            values=budget.financing_costs,
            total=True,
        )
    )
    net = f"={{running}}+{{{p}financing}}+{{{p}one_off}}-{{savings}}"
    if r.type == "outcomes_contract":
        lines.append(
            same(
                f"{p}outcomes",
                "Payments for outcomes",
                "money",
                f"=SUMIFS(RT{k}_PAYMENTS,TL_FY,{{fy}})",
                values=budget.outcome_payments,
                total=True,
            )
        )
        net += f"+{{{p}outcomes}}"
    lines += [
        same(
            f"{p}net",
            "Net budget effect (+ costs the budget)",
            "money",
            net,
            values=budget.net,
            total=True,
            bold=True,
        ),
        Line(
            f"{p}cumulative",
            "Cumulative net budget effect (the gap reserves must cover)",
            "money",
            f"={{{p}cumulative@p}}+{{{p}net}}",
            f"={{{p}net}}",
            values=np.cumsum(budget.net),
        ),
        same(
            f"{p}band_d",
            "Band D council-tax equivalent (net effect / tax base)",
            "money",
            f"={{{p}net}}/in_council_tax_base_band_d",
            values=budget.band_d(tax_base),
        ),
        same(
            f"{p}share",
            "Share of the net revenue stream",
            "rate",
            f"={{{p}net}}/{{nrs}}",
            values=budget.share_of_budget(r.view.indicators.net_revenue_stream),
        ),
    ]
    return lines


def _prudential_sheet(
    ws: Worksheet,
    styles: Styles,
    results: Results,
    layout: Layout,
    routes: list[_Route],
    yearly: _Yearly,
) -> None:
    council = results.scenario.council
    rr = results.routes
    assert council is not None and rr is not None
    n = yearly.n
    _year_header(
        ws,
        styles,
        results,
        "Prudential Code indicators by funding route (base case)",
        "By financial year, at the year's end. The council's own figures (Inputs) before the "
        "programme, then each route after it. Headroom below zero crosses the limit; a flag "
        "of 1 marks a breach. Live formulas.",
        n,
    )
    before = _indicator_rows(rr.prudential, "Before the programme")
    lines: list[Line] = [
        same(
            "fy",
            "Financial year: its first calendar year",
            "count",
            "={budget.fy}",
            values=yearly.years.years.astype(float),
        ),
        Line("b_h", "Before the programme: the council's starting figures", "count", ""),
        *_indicator_lines("b_", before, None, council.financing_ratio_limit),
    ]
    for r in routes:
        ind = _indicator_rows(rr.prudential, r.terms.name)
        lines += [
            Line(f"r{r.k}_h", f"{r.terms.name}: {TYPE_WORDS[r.type]}", "count", ""),
            *_indicator_lines(f"r{r.k}_", ind, r, council.financing_ratio_limit),
        ]
    outside = {
        "TL_FY": layout.rows["timeline.financial_year"],
        "TL_END": layout.rows["timeline.f_fy_end"],
    }
    for r in routes:
        key = f"routes.r{r.k}_balance"
        if key in layout.rows:
            outside[f"RT{r.k}_BALANCE"] = layout.rows[key]
    rows: dict[str, int | tuple[str, int]] = {
        "fy": PERIOD_ROW,
        **{line.key: FIRST_ROW + i - 1 for i, line in enumerate(lines) if i > 0},
    }
    for key in layout.row_numbers:
        if key.startswith("budget."):
            rows[key] = (BUDGET, layout.row_numbers[key])
    grid = Grid(rows, n, outside)
    write_lines(ws, styles, lines, grid, layout, PRUDENTIAL)
    _year_labels(ws, styles, grid, yearly.years)
    ws.freeze_panes(FIRST_ROW, FIRST_PERIOD_COL)
    print_across(ws, HEADER_ROW + 1)


def _indicator_rows(frame: Any, name: str) -> dict[str, FloatArray]:
    part = frame[frame["route"] == name]
    return {
        key: part[key].to_numpy(dtype=float)
        for key in ROUTE_PRUDENTIAL
        if key not in ("route", "financial_year")
    }


def _indicator_lines(
    p: str, v: dict[str, FloatArray], r: _Route | None, ratio_limit: float | None
) -> list[Line]:
    """The indicator rows of the council before the programme (``r`` None) or of a route."""
    cols = ROUTE_PRUDENTIAL
    lines: list[Line] = []
    if r is not None and r.terms.borrowing:
        k = r.k
        lines += [
            Line(
                f"{p}cfr",
                cols["cfr"].label + ": opening + borrowing - MRP to date",
                "money",
                f"={{{p}cfr@p}}+{{budget.r{k}_borrowed}}-{{budget.r{k}_mrp}}",
                f"=in_council_opening_cfr+{{budget.r{k}_borrowed}}-{{budget.r{k}_mrp}}",
                values=v["cfr"],
            ),
            same(
                f"{p}debt",
                cols["gross_debt"].label + ": the council's + the route's",
                "money",
                f"=in_council_gross_debt+SUMIFS(RT{k}_BALANCE,TL_FY,{{fy}},TL_END,1)",
                values=v["gross_debt"],
            ),
        ]
        financing = f"=in_council_financing_costs+{{budget.r{k}_financing}}"
    else:
        lines += [
            same(f"{p}cfr", cols["cfr"].label, "money", "=in_council_opening_cfr", values=v["cfr"]),
            same(
                f"{p}debt",
                cols["gross_debt"].label,
                "money",
                "=in_council_gross_debt",
                values=v["gross_debt"],
            ),
        ]
        financing = (
            "=in_council_financing_costs"
            if r is None
            else f"=in_council_financing_costs+{{budget.r{r.k}_financing}}"
        )
    lines += [
        same(
            f"{p}over",
            cols["debt_over_cfr"].label + " (above zero: borrowing beyond the need)",
            "money",
            f"={{{p}debt}}-{{{p}cfr}}",
            values=v["debt_over_cfr"],
        ),
        same(
            f"{p}financing",
            cols["financing_costs"].label + " (interest + MRP)",
            "money",
            financing,
            values=v["financing_costs"],
        ),
        same(
            f"{p}nrs",
            cols["net_revenue_stream"].label + " (Budget sheet)",
            "money",
            "={budget.nrs}",
            values=v["net_revenue_stream"],
        ),
        same(
            f"{p}ratio",
            cols["financing_ratio"].label,
            "rate",
            f"={{{p}financing}}/{{{p}nrs}}",
            values=v["financing_ratio"],
        ),
        same(
            f"{p}boundary",
            cols["boundary_headroom"].label,
            "money",
            f"=in_council_operational_boundary-{{{p}debt}}",
            values=v["boundary_headroom"],
        ),
        same(
            f"{p}limit",
            cols["limit_headroom"].label,
            "money",
            f"=in_council_authorised_limit-{{{p}debt}}",
            values=v["limit_headroom"],
        ),
    ]
    if r is None:
        return lines
    flags = [
        (
            "limit_breach",
            "Breach: above the authorised limit (1 = yes)",
            f"=({{{p}limit}}<0)*1",
            v["limit_headroom"] < 0,
        ),
        (
            "boundary_breach",
            "Breach: above the operational boundary (1 = yes)",
            f"=({{{p}boundary}}<0)*1",
            v["boundary_headroom"] < 0,
        ),
        (
            "cfr_breach",
            "Flag: gross debt above the CFR (1 = yes)",
            f"=({{{p}over}}>0)*1",
            v["debt_over_cfr"] > 0,
        ),
    ]
    if ratio_limit is not None:
        flags.append(
            (
                "ratio_breach",
                "Flag: financing costs above the council's limit (1 = yes)",
                f"=({{{p}ratio}}>in_council_financing_ratio_limit)*1",
                v["financing_ratio"] > ratio_limit,
            )
        )
    for key, label, formula, values in flags:
        lines.append(
            same(f"{p}{key}", label, "count", formula, values=values.astype(float), total=True)
        )
    return lines


# ---------------------------------------------------------------------------
# The routes side by side, the simulation's statistics and the chart
# ---------------------------------------------------------------------------


def _comparison(
    wb: Workbook,
    ws: Worksheet,
    styles: Styles,
    results: Results,
    layout: Layout,
    routes: list[_Route],
    top: int,
) -> None:
    rr = results.routes
    assert rr is not None
    summary = rr.summary
    cols = ROUTE_SUMMARY
    rows = layout.rows
    ws.write(top, 0, "The routes side by side (base case: live formulas)", styles.header)
    ws.write(top, 1, "Unit", styles.header)
    names = [r.terms.name for r in routes]
    for j, name in enumerate(names):
        ws.write_string(top, 2 + j, name, styles.header_wrap)
    ws.set_row(top, heading_height(names, ROUTE_WIDTH))
    if len(routes) > 1:
        ws.set_column(FIRST_PERIOD_COL, 1 + len(routes), ROUTE_WIDTH)
    name_row = top

    def value(key: str, k: int) -> Any:
        return summary[key].iloc[k]

    table: list[tuple[str, str, Unit, list[tuple[str, Any]]]] = []

    def add(key: str, label: str, unit: Unit, items: list[tuple[str, Any]]) -> None:
        table.append((key, label, unit, items))

    add("type", cols["type"].label, "text", [("", TYPE_WORDS[r.type]) for r in routes])
    add(
        "amount",
        cols["amount"].label,
        "money",
        [("=rt_need", value("amount", r.k)) for r in routes],
    )
    add(
        "rate",
        cols["rate"].label,
        "rate",
        [
            (f"=rt{r.k}_rate", value("rate", r.k))
            if f"rt{r.k}_rate" in _rate_names(routes)
            else ("", "n/a")
            for r in routes
        ],
    )

    def over(key: str, fn: str, row: str) -> None:
        """A summary column as ``fn`` over each route's row ``row`` (``{k}`` its index)."""
        items = [(f"={fn.format(rows[row.format(k=r.k)])}", value(key, r.k)) for r in routes]
        add(key, cols[key].label, cols[key].unit, items)

    over("council_npv", "SUM({})", "routes.r{k}_discounted")
    over("peak_cash_need", "MAX(0,-MIN({}))", "routes.r{k}_cumulative")
    add(
        "total_net",
        "Net budget effect over the horizon (Budget sheet)",
        "money",
        [(f"=SUM({rows[f'budget.r{r.k}_net']})", float(r.view.budget.net.sum())) for r in routes],
    )
    over("max_band_d", "MAX({})", "budget.r{k}_band_d")
    over("reserves_needed", "MAX(0,MAX({}))", "budget.r{k}_cumulative")
    over("max_financing_ratio", "MAX({})", "prudential.r{k}_ratio")
    over("min_boundary_headroom", "MIN({})", "prudential.r{k}_boundary")
    over("min_limit_headroom", "MIN({})", "prudential.r{k}_limit")
    breach_keys = ("limit_breach", "boundary_breach", "cfr_breach", "ratio_breach")
    add(
        "breaches",
        "Prudential Code: years with a limit crossed or a flag raised",
        "count",
        [
            (
                "="
                + "+".join(
                    f"SUM({rows[f'prudential.r{r.k}_{b}']})"
                    for b in breach_keys
                    if f"prudential.r{r.k}_{b}" in rows
                ),
                None,
            )
            for r in routes
        ],
    )
    add(
        "borrowing",
        cols["borrowing"].label,
        "text",
        [("", value("borrowing", r.k)) for r in routes],
    )
    revenue_total = f"SUM({rows['budget.revenue']})"
    capex_total = f"SUM({rows['budget.capex']})"
    add(
        "revenue_costs",
        cols["revenue_costs"].label,
        "money",
        [
            (
                f"=IF({capex_total}>0,{revenue_total}*SUM({rows[f'budget.r{r.k}_applied']})"
                f"/{capex_total},0)"
                if r.type == "capital_receipts"
                else f"={revenue_total}*rt{r.k}_share",
                value("revenue_costs", r.k),
            )
            for r in routes
        ],
    )
    add(
        "lawful_for_revenue_costs",
        cols["lawful_for_revenue_costs"].label,
        "text",
        [
            (
                '=IF(AND({revenue_costs}>0,NOT(in_council_capitalisation_direction)),"NO","yes")'
                if r.terms.borrowing
                else '="yes"',
                value("lawful_for_revenue_costs", r.k),
            )
            for r in routes
        ],
    )
    # the two checks the flags' words also make, live: a PWLB rate the loan may not have, and
    # reserves the programme would draw beyond those usable (the engine's _route_flags)
    council = results.scenario.council
    assert council is not None
    drawn = float(peak_funding_need(results.flows.net_cash_flow)[0][0])
    if any(r.type == "pwlb" for r in routes):
        add(
            "rate_open",
            "PWLB rate open to this loan (HRA and local infrastructure rates: if eligible)",
            "text",
            [
                (
                    f'=IF(OR({r.name("rate_type")}="standard",{r.name("rate_type")}="certainty",'
                    f'{r.name("eligible")}),"yes","NO")',
                    "yes" if pwlb_rate_open(r.terms.route) else "NO",
                )
                if isinstance(r.terms.route, PWLBRoute)
                else ("", "n/a")
                for r in routes
            ],
        )
    if any(r.type == "reserves" for r in routes):
        add(
            "reserves_short",
            "Reserves drawn beyond those usable (peak funding need less usable reserves)",
            "money",
            [
                (
                    f"=MAX(0,MAX(0,-MIN({rows['cashflows.cumulative_net_cash_flow']}))"
                    "-in_council_usable_reserves)",
                    max(0.0, drawn - council.usable_reserves),
                )
                if r.type == "reserves"
                else ("", "n/a")
                for r in routes
            ],
        )
    where = {key: top + 1 + i for i, (key, *_rest) in enumerate(table)}
    for i, (key, label, unit, items) in enumerate(table):
        row = top + 1 + i
        # the type's words wrap to two lines: its label sits at their top, not their foot
        ws.write_string(row, 0, label, styles.wrap if key == "type" else styles.label)
        if unit != "text":
            prices = cols[key].prices if key in cols else "nominal"
            ws.write_string(row, 1, styles.unit_words(unit, prices), styles.note)
        for j, (formula, cached) in enumerate(items):
            col = 2 + j
            if key == "breaches":
                cached = _breach_count(results, routes[j])
            if key == "type":  # words that wrap in the route's column
                ws.write_string(row, col, str(cached), styles.wrap)
                continue
            if not formula and isinstance(cached, str) and cached != "n/a":
                ws.write_string(row, col, cached, styles.bold_right)
                continue
            if not formula:
                write_value(ws, row, col, cached, unit, styles)
                continue
            text = formula.replace(
                "{revenue_costs}", xl_rowcol_to_cell(where["revenue_costs"], col)
            )
            fmt = styles.unit(unit) if unit != "text" else styles.bold_right
            if isinstance(cached, str) or cached is None:
                ws.write_formula(row, col, text, fmt, cached if cached is not None else 0)
            elif math.isfinite(float(cached)):
                ws.write_formula(row, col, text, fmt, float(cached))
            else:
                ws.write_formula(row, col, text, styles.note, "n/a")
        layout.rows[f"routes.compare.{key}"] = span(ROUTES, row, 2, 1 + len(routes))
        if key == "type":
            ws.set_row(row, heading_height([str(c) for _, c in items], ROUTE_WIDTH))
        if key in ("lawful_for_revenue_costs", "rate_open"):  # a route it may not use stands out
            ws.conditional_format(
                row,
                2,
                row,
                1 + len(routes),
                {"type": "cell", "criteria": "==", "value": '"NO"', "format": styles.bad},
            )
    row = top + 1 + len(table) + 1
    ws.write_string(row, 0, "Flags (the engine's words for the inputs as run)", styles.bold)
    row += 1
    for r in routes:
        words = "; ".join(r.view.flags) or "none"
        ws.write_string(row, 0, f"{r.terms.name}: {words}", styles.note)
        row += 1
    row += 1
    risk = rr.risk
    npv_row = where["council_npv"]
    series = [("Base case", npv_row)]
    if risk is not None and results.risk is not None:
        s = results.risk.settings
        ws.write(
            row,
            0,
            f"Monte Carlo simulation output (values, not formulas): {s.paths:,} paths, seed "
            f"{s.seed}, sampler {s.sampler}; every route on the same draws",
            styles.note,
        )
        status_banner(ws, row, BANNER_COL, styles, simulation=True)
        row += 1
        ws.write(row, 0, "Who bears a savings shortfall (simulated)", styles.header)
        ws.write(row, 1, "Unit", styles.header)
        for j, name in enumerate(names):
            ws.write_string(row, 2 + j, name, styles.header_wrap)
        ws.set_row(row, heading_height(names, ROUTE_WIDTH))
        for i, key in enumerate(k for k in ROUTE_RISK if k != "route"):
            r_i = row + 1 + i
            column = ROUTE_RISK[key]
            ws.write_string(r_i, 0, column.label, styles.label)
            ws.write_string(r_i, 1, styles.unit_words(column.unit, column.prices), styles.note)
            for j in range(len(routes)):
                write_value(ws, r_i, 2 + j, float(risk[key].iloc[j]), column.unit, styles)
            if key == "mean_council_npv":
                series.append(("Simulated mean", r_i))
            if key == "p10_council_npv":
                series.append(("Simulated P10", r_i))
        row += len(ROUTE_RISK) + 1
    chart = wb.add_chart({"type": "column"})
    for title, r_i in series:
        chart.add_series(
            {
                "name": title,
                "categories": span(ROUTES, name_row, 2, 1 + len(routes)),
                "values": span(ROUTES, r_i, 2, 1 + len(routes)),
            }
        )
    chart.set_title({"name": "Council NPV by funding route"})
    chart.set_y_axis({"num_format": styles.millions, "name": "Council NPV"})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 760, "height": 340})
    place_charts(ws, [chart], row + 1, 0, per_row=1)


def _rate_names(routes: list[_Route]) -> set[str]:
    return {
        f"rt{r.k}_rate"
        for r in routes
        if r.type in ("pwlb", "community_investment", "bond", "reserves")
    }


def _breach_count(results: Results, r: _Route) -> float:
    """The years flagged on the Prudential sheet for route ``r`` (its flags' cached values)."""
    ind = r.view.indicators
    council = results.scenario.council
    assert council is not None
    count = (
        np.sum(ind.limit_headroom < 0)
        + np.sum(ind.boundary_headroom < 0)
        + np.sum(ind.debt_over_cfr > 0)
    )
    if council.financing_ratio_limit is not None:
        count += np.sum(ind.financing_ratio > council.financing_ratio_limit)
    return float(count)
