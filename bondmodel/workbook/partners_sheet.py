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

from dataclasses import dataclass, replace

import numpy as np
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook

from bondmodel.engine import Results
from bondmodel.labels import PARTNER_BOND_METRICS, PARTNER_METRICS
from bondmodel.programme import allocation_matrix, partner_presence
from bondmodel.scenario.schema import Scenario
from bondmodel.workbook.cost_rows import timeline_rows
from bondmodel.workbook.formulas import payback_formula
from bondmodel.workbook.inputs import defined_name
from bondmodel.workbook.layout import FIRST_PERIOD_COL, Layout, span
from bondmodel.workbook.rows import Expr, Grid, Line, Ref, Running, same, write_lines
from bondmodel.workbook.styles import Styles, heading_height, print_across, write_value

#: Width of the narrowest column a partner's name heads (the period columns'): the names wrap
#: to fit it.
NAME_WIDTH = 14

BLOCK = (
    ("in_partnership", "In the partnership (share of the period)"),
    ("capex", "One-off costs"),
    ("running_costs", "Running costs"),
    ("gross_savings", "Gross savings"),
    ("net_savings", "Net savings (after running costs)"),
    ("net_cash_flow", "Net cash flow (after one-off costs)"),
    ("cumulative_net_cash_flow", "Cumulative net cash flow"),
    ("cumulative_basis", "Cumulative net cash flow (appraisal basis)"),
    ("net_cash_flow_real", "Net cash flow (real)"),
    ("discounted_net_cash_flow", "Discounted net cash flow (appraisal basis)"),
)


#: The block's rows whose cached values are the engine's (the others are expressions).
ENGINE_ROWS = ("capex", "running_costs", "gross_savings")


def partner_lines(key: str, presence: str, cost_share: str, streams: str) -> list[Line]:
    """One partner's block (rows ``{key}.capex`` ...): its share of the costs and of the
    streams its allocation gives it, then the derived rows, each one expression.

    ``presence`` is the in-the-partnership row's template, ``cost_share`` the cell of the
    partner's cost share and ``streams`` the sum over the streams of stream x allocation.
    """

    def r(row: str) -> Ref:
        return Ref(f"{key}.{row}")

    derived: dict[str, str | Expr] = {
        "in_partnership": presence,
        "capex": f"={{cashflows.capex}}*{cost_share}",
        "running_costs": f"={{cashflows.running_costs}}*{cost_share}",
        "gross_savings": f"=({streams})*{{{key}.in_partnership}}",
        "net_savings": r("gross_savings") - r("running_costs"),
        "net_cash_flow": r("net_savings") - r("capex"),
        "cumulative_net_cash_flow": Running(r("net_cash_flow")),
        "cumulative_basis": Running(r("net_cash_flow") / Ref("timeline.deflator")),
        "net_cash_flow_real": r("net_cash_flow") / Ref("cashflows.price_index"),
        "discounted_net_cash_flow": (
            r("net_cash_flow") / Ref("timeline.deflator") * Ref("cashflows.discount_factor")
        ),
    }
    return [
        same(f"{key}.{row}", label, "factor" if row == "in_partnership" else "money", derived[row])
        for row, label in BLOCK
    ]


@dataclass(frozen=True)
class PartnerRows:
    """Where the Partners sheet puts its rows (0-based), known before any sheet is written so
    that Cashflows, written first, can refer to them."""

    metric: dict[str, int]  # each PARTNER_METRICS row
    alloc: list[int]  # each savings stream's allocation row
    blocks: list[dict[str, int]]  # each partner's block: the row of each BLOCK line
    free: int  # the first row below the blocks


def partner_rows(scenario: Scenario) -> PartnerRows:
    """The Partners sheet's layout for ``scenario``."""
    metric = {key: 4 + i for i, key in enumerate(PARTNER_METRICS)}
    row = 5 + len(PARTNER_METRICS)
    alloc = []
    if scenario.savings:
        row += 1  # the allocation table's heading
        alloc = list(range(row, row + len(scenario.savings)))
        row += len(scenario.savings)
    row += 1
    blocks = []
    for _ in scenario.partners:
        blocks.append({key: row + 1 + i for i, (key, _) in enumerate(BLOCK)})
        row += len(BLOCK) + 2
    return PartnerRows(metric, alloc, blocks, row)


def gross_savings_after_exits(
    scenario: Scenario, stream_keys: list[str]
) -> tuple[str, dict[str, int | tuple[str, int]]]:
    """Cashflows' gross savings with a partner leaving, as a row template: each stream times
    the share of it still with partners in the partnership, the sum over p of allocation x
    presence (as programme.programme_flows).

    Returns the template over the stream rows ``stream_keys`` and the Partners rows it names
    (``partners.in_partnership.{p}``), for the Cashflows sheet's grid.
    """
    rows = partner_rows(scenario)
    named: dict[str, int | tuple[str, int]] = {
        f"partners.in_partnership.{p}": ("Partners", block["in_partnership"])
        for p, block in enumerate(rows.blocks)
    }
    terms = []
    for s, stream in enumerate(stream_keys):
        kept = "+".join(
            f"Partners!{xl_rowcol_to_cell(rows.alloc[s], 1 + p, True, True)}"
            f"*{{partners.in_partnership.{p}}}"
            for p in range(len(rows.blocks))
        )
        terms.append(f"{{{stream}}}*({kept})")
    return "=" + ("+".join(terms) or "0"), named


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
    ws.set_column(FIRST_PERIOD_COL, last, NAME_WIDTH)
    ws.write(0, 0, "Partners: shares, allocation and cash flows (base case, live)", styles.title)
    ws.write(1, 0, "Nominal pounds; NPV and PVs on the appraisal basis.", styles.note)
    spend = [defined_name(f"partners[{p}].baseline_expenditure") for p in range(n_p)]
    total_spend = "(" + "+".join(spend) + ")"
    ws.write(3, 0, "Metric", styles.header)
    for p, name in enumerate(names):
        ws.write_string(3, 1 + p, name, styles.header_wrap)
    ws.set_row(3, heading_height(names, NAME_WIDTH))
    placed = partner_rows(sc)
    metric_row = placed.metric
    for key, row in metric_row.items():
        ws.write_string(row, 0, PARTNER_METRICS[key].label)
        layout.rows[f"partners.{key}"] = span("Partners", row, 1, n_p)
    shares = {"cost_share": sc.shares("cost_share"), "savings_share": sc.shares("savings_share")}
    for kind in ("cost_share", "savings_share"):
        for p in range(n_p):
            given = defined_name(f"partners[{p}].{kind}")
            ws.write_formula(
                metric_row[kind],
                1 + p,
                f"=IF(ISBLANK({given}),{spend[p]}/{total_spend},{given})",
                styles.unit("rate"),
                shares[kind][p],
            )

    def share(kind: str, p: int) -> str:
        return str(xl_rowcol_to_cell(metric_row[kind], 1 + p, True, True))

    for p in range(n_p):
        layout.cells[f"partners.cost_share.{p}"] = share("cost_share", p)
        layout.cells[f"partners.npv.{p}"] = share("npv", p)

    # Allocation of each stream across the partners
    alloc_rows = placed.alloc
    alloc = allocation_matrix(sc)
    if sc.savings:
        heading = alloc_rows[0] - 1
        ws.write(heading, 0, "Allocation of each stream's savings", styles.header)
        for p, name in enumerate(names):
            ws.write_string(heading, 1 + p, name, styles.header_wrap)
        ws.set_row(heading, heading_height(names, NAME_WIDTH))
        for s, stream in enumerate(sc.savings):
            row = alloc_rows[s]
            members_name = defined_name(f"savings[{s}].partners")
            how = defined_name(f"savings[{s}].allocation")
            member = [
                f"IF(COUNTA({members_name})=0,1,--ISNUMBER(MATCH("
                f"{defined_name(f'partners[{q}].name')},{members_name},0)))"
                for q in range(n_p)
            ]
            raw = [
                f'({member[p]}*IF({how}="shares",{share("savings_share", p)},{spend[p]}))'
                for p in range(n_p)
            ]
            fallback = [f"({member[p]}*{spend[p]})" for p in range(n_p)]
            raw_total = "(" + "+".join(raw) + ")"
            fallback_total = "(" + "+".join(fallback) + ")"
            ws.write_string(row, 0, f"{stream.name}: share of savings")
            for p in range(n_p):
                ws.write_formula(
                    row,
                    1 + p,
                    f"=IF({raw_total}>0,{raw[p]}/{raw_total},{fallback[p]}/{fallback_total})",
                    styles.unit("rate"),
                    float(alloc[s, p]),
                )

    # One block per partner, time across the columns
    cf = layout.row_numbers
    partner_table = results.partners
    deflator = (
        results.flows.price_index[0]
        if sc.economics.appraisal_basis == "real"
        else np.ones(results.timeline.n_periods + 1)
    )
    presence = partner_presence(sc, results.timeline)
    grid = Grid(
        {
            **timeline_rows(layout, "t", "deflator"),
            **{
                f"cashflows.{key}": ("Cashflows", cf[f"cashflows.{key}"])
                for key in ("capex", "running_costs", "price_index", "discount_factor")
            },
            **{
                f"cashflows.stream.{s}": ("Cashflows", cf[f"cashflows.stream.{s}"])
                for s in range(len(sc.savings))
            },
        },
        n,
    )
    values = {
        "timeline.deflator": deflator,
        "cashflows.price_index": results.flows.price_index[0],
        "cashflows.discount_factor": results.flows.discount_factors[0],
    }
    for p, name in enumerate(names):
        rows = placed.blocks[p]
        heading = rows[BLOCK[0][0]] - 1
        ws.write(heading, 0, name, styles.header)
        for j in range(n):
            ws.write(heading, FIRST_PERIOD_COL + j, "", styles.header)
        data = partner_table[partner_table["partner"] == name]
        exit_year = defined_name(f"partners[{p}].exit_year")
        grid.rows.update({f"p{p}.{key}": r for key, r in rows.items()})
        streams = (
            "+".join(
                f"{{cashflows.stream.{s}}}*{xl_rowcol_to_cell(alloc_rows[s], 1 + p, True, True)}"
                for s in range(len(sc.savings))
            )
            or "0"
        )
        lines = partner_lines(
            f"p{p}",
            f"=IF(ISBLANK({exit_year}),1,MIN(MAX({exit_year}*tl_f-({{timeline.t}}-1),0),1))",
            share("cost_share", p),
            streams,
        )
        engine = {key: data[key].to_numpy(dtype=np.float64) for key in ENGINE_ROWS}
        engine["in_partnership"] = presence[p]
        write_lines(
            ws,
            styles,
            [replace(line, values=engine.get(line.key.split(".", 1)[1])) for line in lines],
            grid,
            layout,
            "Partners",
            values,
            units=False,
        )
        # the partner's metrics over its block
        first = FIRST_PERIOD_COL

        def whole(key: str, rows: dict[str, int] = rows) -> str:
            return (
                f"{xl_rowcol_to_cell(rows[key], FIRST_PERIOD_COL)}:"
                f"{xl_rowcol_to_cell(rows[key], last)}"
            )

        df = (
            f"Cashflows!{xl_rowcol_to_cell(cf['cashflows.discount_factor'], first)}:"
            f"{xl_rowcol_to_cell(cf['cashflows.discount_factor'], last)}"
        )
        basis = f"/{layout.rows['timeline.deflator']}"
        pm = results.partner_metrics[name]
        pv_s = f"SUMPRODUCT({whole('gross_savings')}{basis},{df})"
        pv_c = f"SUMPRODUCT(({whole('capex')}+{whole('running_costs')}){basis},{df})"
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
        ws.write_formula(
            metric_row["payback_years"],
            1 + p,
            payback_formula(
                f"{xl_rowcol_to_cell(rows['cumulative_basis'], FIRST_PERIOD_COL, True, True)}:"
                f"{xl_rowcol_to_cell(rows['cumulative_basis'], last, True, True)}",
                layout.rows["cashflows.years"],
                layout.rows["timeline.t"],
            ),
            styles.unit("years"),
            "n/a" if pm["payback_years"] is None else pm["payback_years"],
        )
    layout.row_numbers["partners.free"] = placed.free
    ws.freeze_panes(4, 1)
    print_across(ws, 0, 1)


def partner_bond_rows(wb: Workbook, styles: Styles, results: Results, layout: Layout) -> None:
    """With a bond: each partner's share of the debt service, its top-ups and its NPV after
    debt service, live, below the partner blocks (written once the Bond sheet exists)."""
    if results.bond is None:
        return
    ws = wb.get_worksheet_by_name("Partners")
    top = layout.row_numbers["partners.free"]
    names = results.scenario.partner_names
    heading = "With the bond: the partners share the financing as they share costs"
    ws.write(top, 0, heading, styles.header_wrap)
    for p, name in enumerate(names):
        ws.write_string(top, 1 + p, name, styles.header_wrap)
    ws.set_row(top, max(heading_height(names, NAME_WIDTH), heading_height([heading], 44)))
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
