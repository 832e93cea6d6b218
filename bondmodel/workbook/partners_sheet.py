"""The Partners sheet: shares, the allocation of each stream, and each partner's flows, live.

Resolved shares (given, or proportional to baseline spend), each stream's
allocation across partners (its members, weighted by savings share or spend,
normalised, falling back to spend when every member's share is 0) and, one
block per partner with time across the columns, its one-off and running costs
(by its cost share), gross savings (the streams by their allocation), net
savings, net cash flow and its running total, real and discounted flows. As
the engine (programme.allocation_matrix, partner_table).
"""

from __future__ import annotations

import numpy as np
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook

from bondmodel.engine import Results
from bondmodel.labels import PARTNER_BOND_METRICS, PARTNER_METRICS, Unit
from bondmodel.programme import allocation_matrix, partner_presence
from bondmodel.workbook.inputs import defined_name
from bondmodel.workbook.layout import FIRST_PERIOD_COL, Layout, span
from bondmodel.workbook.styles import Styles, print_across, write_value

BLOCK = (
    ("in_partnership", "In the partnership (share of the period)"),
    ("capex", "One-off costs"),
    ("running_costs", "Running costs"),
    ("gross_savings", "Gross savings"),
    ("net_savings", "Net savings (after running costs)"),
    ("net_cash_flow", "Net cash flow (after one-off costs)"),
    ("cumulative_net_cash_flow", "Cumulative net cash flow"),
    ("net_cash_flow_real", "Net cash flow (real)"),
    ("discounted_net_cash_flow", "Discounted net cash flow (appraisal basis)"),
)


def partners_sheet(wb: Workbook, styles: Styles, results: Results, layout: Layout) -> None:
    """Write the Partners sheet and register the share rows for the Checks sheet."""
    ws = wb.add_worksheet("Partners")
    sc = results.scenario
    names = sc.partner_names
    n_p = len(names)
    n = results.timeline.n_periods + 1
    last = FIRST_PERIOD_COL + n - 1
    ws.set_column(0, 0, 44)
    ws.set_column(1, max(2, n_p), 18)
    ws.set_column(FIRST_PERIOD_COL, last, 14)
    ws.write(0, 0, "Partners: shares, allocation and cash flows (base case, live)", styles.title)
    ws.write(1, 0, "Nominal pounds; NPV and PVs on the appraisal basis.", styles.note)
    spend = [defined_name(f"partners[{p}].baseline_expenditure") for p in range(n_p)]
    total_spend = "(" + "+".join(spend) + ")"
    ws.write(3, 0, "Metric", styles.header)
    for p, name in enumerate(names):
        ws.write_string(3, 1 + p, name, styles.header)
    metric_row = {key: 4 + i for i, key in enumerate(PARTNER_METRICS)}
    for key, row in metric_row.items():
        ws.write_string(row, 0, PARTNER_METRICS[key].label)
        layout.rows[f"partners.{key}"] = span("Partners", row, 1, n_p)
    shares = {"cost_share": sc.shares("cost_share"), "savings_share": sc.shares("savings_share")}
    for kind in ("cost_share", "savings_share"):
        for p in range(n_p):
            given = defined_name(f"partners[{p}].{kind}")
            ws.write_formula(
                metric_row[kind], 1 + p,
                f"=IF(ISBLANK({given}),{spend[p]}/{total_spend},{given})",
                styles.unit("rate"), shares[kind][p],
            )

    def share(kind: str, p: int) -> str:
        return str(xl_rowcol_to_cell(metric_row[kind], 1 + p, True, True))

    for p in range(n_p):
        layout.cells[f"partners.cost_share.{p}"] = share("cost_share", p)
        layout.cells[f"partners.npv.{p}"] = share("npv", p)

    # Allocation of each stream across the partners
    row = 5 + len(PARTNER_METRICS)
    alloc_rows: list[int] = []
    alloc = allocation_matrix(sc)
    if sc.savings:
        ws.write(row, 0, "Allocation of each stream's savings", styles.header)
        for p, name in enumerate(names):
            ws.write_string(row, 1 + p, name, styles.header)
        row += 1
        for s, stream in enumerate(sc.savings):
            members_name = defined_name(f"savings[{s}].partners")
            how = defined_name(f"savings[{s}].allocation")
            member = [
                f"IF(COUNTA({members_name})=0,1,--ISNUMBER(MATCH("
                f"{defined_name(f'partners[{q}].name')},{members_name},0)))"
                for q in range(n_p)
            ]
            raw = [
                f"({member[p]}*IF({how}=\"shares\",{share('savings_share', p)},{spend[p]}))"
                for p in range(n_p)
            ]
            fallback = [f"({member[p]}*{spend[p]})" for p in range(n_p)]
            raw_total = "(" + "+".join(raw) + ")"
            fallback_total = "(" + "+".join(fallback) + ")"
            ws.write_string(row, 0, f"{stream.name}: share of savings")
            for p in range(n_p):
                ws.write_formula(
                    row, 1 + p,
                    f"=IF({raw_total}>0,{raw[p]}/{raw_total},{fallback[p]}/{fallback_total})",
                    styles.unit("rate"), float(alloc[s, p]),
                )
            alloc_rows.append(row)
            for p in range(n_p):
                layout.cells[f"partners.alloc.{s}.{p}"] = str(
                    xl_rowcol_to_cell(row, 1 + p, True, True)
                )
            row += 1
    row += 1

    # One block per partner, time across the columns
    cf = layout.row_numbers
    real = sc.economics.appraisal_basis == "real"
    partner_table = results.partners
    presence = partner_presence(sc, results.timeline)
    for p, name in enumerate(names):
        ws.write(row, 0, name, styles.header)
        for j in range(n):
            ws.write(row, FIRST_PERIOD_COL + j, "", styles.header)
        rows = {key: row + 1 + i for i, (key, _) in enumerate(BLOCK)}
        data = partner_table[partner_table["partner"] == name]
        layout.row_numbers[f"partners.in_partnership.{p}"] = rows["in_partnership"]
        exit_year = defined_name(f"partners[{p}].exit_year")
        for key, label in BLOCK:
            ws.write_string(rows[key], 0, label)
            unit: Unit = "factor" if key == "in_partnership" else "money"
            values = (
                presence[p] if key == "in_partnership" else data[key].to_numpy(dtype=np.float64)
            )
            for j in range(n):
                col = FIRST_PERIOD_COL + j

                def c(key2: str, col: int = col, rows: dict[str, int] = rows) -> str:
                    return str(xl_rowcol_to_cell(rows[key2], col))

                def cash(key2: str, col: int = col) -> str:
                    return f"Cashflows!{xl_rowcol_to_cell(cf[f'cashflows.{key2}'], col)}"

                streams = "+".join(
                    f"Cashflows!{xl_rowcol_to_cell(cf[f'cashflows.stream.{s}'], col)}"
                    f"*{xl_rowcol_to_cell(alloc_rows[s], 1 + p, True, True)}"
                    for s in range(len(sc.savings))
                ) or "0"
                prev = xl_rowcol_to_cell(rows["cumulative_net_cash_flow"], col - 1)
                t = f"Timeline!{xl_rowcol_to_cell(cf['timeline.t'], col)}"
                formula = {
                    "in_partnership": (
                        f"=IF(ISBLANK({exit_year}),1,MIN(MAX({exit_year}*tl_f-({t}-1),0),1))"
                    ),
                    "capex": f"={cash('capex')}*{share('cost_share', p)}",
                    "running_costs": f"={cash('running_costs')}*{share('cost_share', p)}",
                    "gross_savings": f"=({streams})*{c('in_partnership')}",
                    "net_savings": f"={c('gross_savings')}-{c('running_costs')}",
                    "net_cash_flow": f"={c('net_savings')}-{c('capex')}",
                    "cumulative_net_cash_flow": (
                        f"={c('net_cash_flow')}" if j == 0
                        else f"={prev}+{c('net_cash_flow')}"
                    ),
                    "net_cash_flow_real": f"={c('net_cash_flow')}/{cash('price_index')}",
                    "discounted_net_cash_flow": (
                        f"={c('net_cash_flow_real' if real else 'net_cash_flow')}"
                        f"*{cash('discount_factor')}"
                    ),
                }[key]
                ws.write_formula(rows[key], col, formula, styles.unit(unit), float(values[j]))
        # the partner's metrics over its block
        first = FIRST_PERIOD_COL

        def whole(key: str, rows: dict[str, int] = rows) -> str:
            return (
                f"{xl_rowcol_to_cell(rows[key], FIRST_PERIOD_COL)}:"
                f"{xl_rowcol_to_cell(rows[key], last)}"
            )

        df = f"Cashflows!{xl_rowcol_to_cell(cf['cashflows.discount_factor'], first)}:" \
            f"{xl_rowcol_to_cell(cf['cashflows.discount_factor'], last)}"
        index = f"Cashflows!{xl_rowcol_to_cell(cf['cashflows.price_index'], first)}:" \
            f"{xl_rowcol_to_cell(cf['cashflows.price_index'], last)}"
        basis = f"/{index}" if real else ""
        pm = results.partner_metrics[name]
        pv_s = f"SUMPRODUCT({whole('gross_savings')}{basis},{df})"
        pv_c = (
            f"SUMPRODUCT(({whole('capex')}+{whole('running_costs')}){basis},{df})"
        )
        for key, formula in (
            ("pv_savings", f"={pv_s}"),
            ("pv_costs", f"={pv_c}"),
            ("npv", f"=SUM({whole('discounted_net_cash_flow')})"),
        ):
            value = pm[key]
            if value is None:
                write_value(ws, metric_row[key], 1 + p, None, "money", styles)
            else:
                ws.write_formula(metric_row[key], 1 + p, formula, styles.unit("money"), value)
        write_value(ws, metric_row["payback_years"], 1 + p, pm["payback_years"], "years", styles)
        row += len(BLOCK) + 2
    layout.row_numbers["partners.free"] = row
    ws.freeze_panes(4, 1)
    print_across(ws, 0, 1)
    if any(partner.exit_year is not None for partner in sc.partners):
        _gross_after_exits(wb, styles, results, layout)


def _gross_after_exits(wb: Workbook, styles: Styles, results: Results, layout: Layout) -> None:
    """With a partner leaving, Cashflows' gross savings: each stream times the share of it
    still with partners in the partnership, sum over p of allocation x presence."""
    sc = results.scenario
    ws = wb.get_worksheet_by_name("Cashflows")
    cf = layout.row_numbers
    row = cf["cashflows.gross_savings"]
    values = results.periods["gross_savings"].to_numpy()
    fmt = styles.unit("money")
    for j in range(results.timeline.n_periods + 1):
        col = FIRST_PERIOD_COL + j
        terms = []
        for s in range(len(sc.savings)):
            stream = xl_rowcol_to_cell(cf[f"cashflows.stream.{s}"], col)
            kept = "+".join(
                f"Partners!{layout.cells[f'partners.alloc.{s}.{p}']}*Partners!"
                f"{xl_rowcol_to_cell(cf[f'partners.in_partnership.{p}'], col)}"
                for p in range(len(sc.partners))
            )
            terms.append(f"{stream}*({kept})")
        ws.write_formula(row, col, "=" + ("+".join(terms) or "0"), fmt, float(values[j]))


def partner_bond_rows(wb: Workbook, styles: Styles, results: Results, layout: Layout) -> None:
    """With a bond: each partner's share of the debt service, its top-ups and its NPV after
    debt service, live, below the partner blocks (written once the Bond sheet exists)."""
    if results.bond is None:
        return
    ws = wb.get_worksheet_by_name("Partners")
    top = layout.row_numbers["partners.free"]
    names = results.scenario.partner_names
    ws.write(top, 0, "With the bond: the partners share the financing as they share costs",
             styles.header)
    for p, name in enumerate(names):
        ws.write_string(top, 1 + p, name, styles.header)
    rows = layout.rows
    bond_effect = (
        f"(SUM({rows['cashflows.council_discounted']})"
        f"-SUM({rows['cashflows.discounted_net_cash_flow']}))"
    )
    for i, (key, column) in enumerate(PARTNER_BOND_METRICS.items()):
        r = top + 1 + i
        ws.write_string(r, 0, column.label)
        for p, name in enumerate(names):
            kappa = layout.cells[f"partners.cost_share.{p}"]
            formula = {
                "debt_service_share": f"={kappa}",
                "total_topup": f"={kappa}*SUM({rows['bond.topup']})",
                "npv_after_debt_service": (
                    f"={layout.cells[f'partners.npv.{p}']}+{kappa}*{bond_effect}"
                ),
            }[key]
            value = results.partner_metrics[name][key]
            ws.write_formula(r, 1 + p, formula, styles.unit(column.unit), value)
