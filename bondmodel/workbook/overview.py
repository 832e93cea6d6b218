"""The overview sheets: Cover, Summary (with native charts) and Checks.

Checks are live formulas over the other sheets, each TRUE or FALSE; their
cached values are computed here from the engine's numbers with the same
tolerances, so a viewer that never recalculates shows the true state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel import __version__
from bondmodel.engine import Results
from bondmodel.labels import BOND_METRICS, METRICS, Unit
from bondmodel.workbook.as_run import RERUN_NEEDED, SIMULATION_CHECK, STRUCTURE_CHECK
from bondmodel.workbook.conventions_block import CHECK_ABS, CHECK_REL
from bondmodel.workbook.layout import Layout
from bondmodel.workbook.styles import Styles, write_value

#: Axis format: pounds in millions.
MILLIONS = '£#,##0.0,,"m"'

DISCLAIMER = (
    "This workbook is the output of a model. Its numbers follow from the assumptions on the "
    "Inputs sheet and the methods in docs/methodology.md; they are estimates, not forecasts "
    "or advice. Monte Carlo results are simulation output for the stated seed. Check the "
    "assumptions before relying on any figure."
)


@dataclass(frozen=True)
class CheckResult:
    """Where the master check is, and whether every check passed."""

    master: str
    passed: bool
    count: int


def _close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol


def checks_sheet(wb: Workbook, styles: Styles, results: Results, layout: Layout) -> CheckResult:
    """Every integrity check as a live TRUE/FALSE formula, and the master check."""
    ws = wb.add_worksheet("Checks")
    ws.set_column(0, 0, 70)
    ws.set_column(1, 1, 14)
    ws.set_column(2, 2, 80)
    ws.write(0, 0, "Integrity checks", styles.title)
    rows: list[tuple[str, str, bool, str]] = []
    pm = results.partner_metrics
    for kind, label in (("cost_share", "cost"), ("savings_share", "savings")):
        total = math.fsum(float(v[kind] or 0.0) for v in pm.values())
        rows.append((
            f"Partners' {label} shares sum to 1",
            f"=ABS(SUM({layout.rows[f'partners.{kind}']})-1)<=chk_rel_tol",
            _close(total, 1.0, CHECK_REL),
            "Partners sheet",
        ))
    p = results.periods
    residual = float(np.abs(
        p["net_cash_flow"] - (p["gross_savings"] - p["running_costs"] - p["capex"])
    ).sum())
    cf = layout.rows
    rows.append((
        "Net cash flow = gross savings - running costs - one-off costs, every period",
        f"=SUMPRODUCT(ABS({cf['cashflows.net_cash_flow']}-({cf['cashflows.gross_savings']}"
        f"-{cf['cashflows.running_costs']}-{cf['cashflows.capex']})))<=chk_abs_tol",
        residual <= CHECK_ABS,
        "Cashflows sheet",
    ))
    if results.bond is not None:
        rows.extend(_bond_checks(results, layout))
    structure = "SUMPRODUCT(--run_structural_changes)=0"
    label = "No structural input changed since the run: the formulas describe the inputs"
    bond = results.bond
    if bond is not None and bond.schedule.terms.repayment.type == "sculpted" and (
        bond.schedule.terms.principal == "sized"
    ):
        # a sculpted bond's sized principal is the engine's value: any change that moves the
        # uses needs the engine to size it again
        structure = (
            f"AND({structure},ABS(bd_residual)<=chk_rel_tol*MAX(1,bd_principal)+chk_abs_tol)"
        )
        label += ", and the sculpted bond's sized principal still solves the sizing equation"
    rows.append((label, f"={structure}", True, "As run sheet (Structural change column)"))
    top = 4
    ws.write(top - 1, 0, "Check", styles.header)
    ws.write(top - 1, 1, "Result", styles.header)
    ws.write(top - 1, 2, "Where", styles.header)
    for i, (label, formula, value, where) in enumerate(rows):
        ws.write_string(top + i, 0, label)
        ws.write_formula(top + i, 1, formula, styles.good if value else styles.bad, value)
        ws.write_string(top + i, 2, where, styles.note)
    first, last = top, top + len(rows) - 1
    wb.define_name(STRUCTURE_CHECK, f"='Checks'!$B${last + 1}")
    passed = all(r[2] for r in rows)
    ws.write_string(1, 0, "All checks pass (master check)", styles.bold)
    ws.write_formula(
        1, 1, f"=AND(B{first + 1}:B{last + 1})", styles.good if passed else styles.bad, passed
    )
    # not an integrity check: a simulation's values are simply for other inputs (written with
    # or without one, so the sheet is the same whichever ran)
    row = last + 2
    ws.write_string(
        row, 0, "No input changed since the run: any simulation results are current "
        "(not part of the master check)",
    )
    ws.write_formula(row, 1, "=SUMPRODUCT(--run_changes)=0", styles.good, True)
    ws.write_string(row, 2, "As run sheet (Changed column)", styles.note)
    wb.define_name(SIMULATION_CHECK, f"='Checks'!$B${row + 1}")
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    return CheckResult(master="'Checks'!$B$2", passed=passed, count=len(rows))


def _bond_checks(results: Results, layout: Layout) -> list[tuple[str, str, bool, str]]:
    bond = results.bond
    assert bond is not None
    t = bond.table
    s = bond.schedule
    c, r = layout.cells, layout.rows
    tol = CHECK_REL * max(1.0, s.principal) + CHECK_ABS  # pounds: rounding, not money
    tol_text = "(chk_rel_tol*MAX(1,bd_principal)+chk_abs_tol)"
    su = bond.sources_uses
    uses = su["financed_costs"] + su["arrangement_fee"] + su["reserve_initial"] + su["surplus"]
    paid = float((t["fees_paid"] + t["arrears_paid"] + t["interest_paid"] + t["principal_paid"]
                  + t["performance_paid"]).sum())
    sources = float((t["cash_used"] + t["reserve_draw"] + t["topup"]).sum())
    grown = s.principal + float(t["capitalised_interest"].sum() + t["indexation"].sum())
    repaid = float((t["principal_paid"] + t["sweep"]).sum())
    written = float(t["write_off"].sum())
    reserve_end = s.reserve_initial + float(
        (t["reserve_deposit"] - t["reserve_draw"] - t["reserve_release"]).sum()
    )
    sizing: list[tuple[str, str, bool, str]] = []
    if s.terms.repayment.type != "sculpted" or s.terms.principal == "sized":
        # sized in closed form on the sheet (a sculpted bond: the engine's fixed point, as a
        # value); this tests the sizing equation holds, live, whenever the input says sized
        sizing.append((
            "A principal sized to the uses solves the sizing equation: proceeds - fee = "
            "financed costs + initial DSRA",
            f'=OR(in_bond_principal<>"sized",ABS(bd_residual)<={tol_text})',
            s.terms.principal != "sized" or abs(s.surplus) <= tol,
            "Bond sheet, constants and sources and uses",
        ))
    checks = [
        (
            "Sources equal uses at issue",
            f"=ABS({c['bond.proceeds']}+{c['bond.council_contribution']}-({c['bond.financed_costs']}"
            f"+{c['bond.arrangement_fee']}+{c['bond.reserve_initial']}+{c['bond.surplus']}))"
            f"<={tol_text}",
            _close(su["proceeds"] + su["council_contribution"], uses, tol),
            "Bond sheet, sources and uses",
        ),
        (
            "Balance is zero at legal maturity (repaid, or the rest written off as a loss)",
            f"=ABS({c['bond.closing_balance.last']})<={tol_text}",
            abs(float(t["closing_balance"].iloc[-1])) <= tol,
            "Bond sheet, closing balance",
        ),
        (
            "Principal issued, capitalised and indexed is repaid or written off",
            f"=AND({c['bond.principal']}+SUM({r['bond.capitalised_interest']})"
            f"+SUM({r['bond.indexation']})-SUM({r['bond.principal_paid']})-SUM({r['bond.sweep']})"
            f"<=SUM({r['bond.write_off']})+{tol_text},"
            f"SUM({r['bond.principal_paid']})+SUM({r['bond.sweep']})<={c['bond.principal']}"
            f"+SUM({r['bond.capitalised_interest']})+SUM({r['bond.indexation']})+{tol_text})",
            grown - repaid <= written + tol and repaid <= grown + tol,
            "Bond sheet",
        ),
        (
            "Cash reconciles: paid to investors and agents = pledged cash + reserve + top-ups",
            f"=ABS(SUM({r['bond.fees_paid']})+SUM({r['bond.arrears_paid']})"
            f"+SUM({r['bond.interest_paid']})+SUM({r['bond.principal_paid']})"
            f"+SUM({r['bond.performance_paid']})-(SUM({r['bond.cash_used']})"
            f"+SUM({r['bond.reserve_draw']})+SUM({r['bond.topup']})))<={tol_text}",
            _close(paid, sources, tol),
            "Bond sheet",
        ),
        (
            "The reserve balances: initial + deposits - draws - releases = final balance",
            f"=ABS({c['bond.reserve_initial']}+SUM({r['bond.reserve_deposit']})"
            f"-SUM({r['bond.reserve_draw']})-SUM({r['bond.reserve_release']})"
            f"-{c['bond.reserve_balance.last']})<={tol_text}",
            _close(reserve_end, float(t["reserve_balance"].iloc[-1]), tol),
            "Bond sheet, DSRA rows",
        ),
    ]
    return [*sizing, *checks]


def cover_sheet(
    ws: Worksheet,
    styles: Styles,
    results: Results,
    sheets: list[str],
    checks: CheckResult,
    stamp: datetime,
) -> None:
    """Title, scenario, date, engine version, contents with links, check status, disclaimer."""
    ws.set_column(0, 0, 4)
    ws.set_column(1, 1, 34)
    ws.set_column(2, 2, 90)
    sc = results.scenario
    ws.write(1, 1, "Invest-to-save bond model", styles.title)
    details = [
        ("Scenario", sc.meta.name),
        ("Description", sc.meta.description or ""),
        ("Run at (UTC)", stamp.isoformat(timespec="seconds")),
        ("Engine", f"bondmodel {__version__}"),
        ("Scenario SHA-256", sc.sha256()),
    ]
    for i, (key, value) in enumerate(details):
        ws.write_string(3 + i, 1, key, styles.bold)
        ws.write_string(3 + i, 2, value, styles.wrap)
    row = 4 + len(details)
    ws.write_string(row, 1, "Checks", styles.bold)
    ok, fail = f"All {checks.count} checks pass", "CHECKS FAIL: see the Checks sheet"
    status = f'IF({checks.master},"{ok}","{fail}")'
    if results.risk is not None:
        status = (
            f'IF({checks.master},IF({SIMULATION_CHECK},"{ok}",'
            f'"{ok}; the simulation results are STALE: inputs changed since it ran"),"{fail}")'
        )
    ws.write_formula(
        row, 2, f'=IF({STRUCTURE_CHECK},{status},"{RERUN_NEEDED}")',
        styles.good if checks.passed else styles.bad, ok if checks.passed else fail,
    )
    ws.conditional_format(row, 2, row, 2, {
        "type": "formula", "criteria": f"=NOT({checks.master})", "format": styles.bad_dynamic,
    })
    row += 2
    ws.write_string(row, 1, "Contents", styles.header)
    ws.write_string(row, 2, "", styles.header)
    purpose = {
        "Cover": "this page",
        "Summary": "key metrics, base case beside P10/P50/P90, headline charts",
        "Inputs": "every assumption of the scenario",
        "Timeline": "periods, dates, the price index and discount factors (live formulas)",
        "Cashflows": "programme cash flows by period (live formulas)",
        "Partners": "each partner's shares, NPV and cash flows",
        "Bond": "the bond waterfall and the sources and uses",
        "Metrics": "appraisal, investor and council metrics",
        "Risk": "Monte Carlo statistics, probabilities, fan charts, histograms and S-curves",
        "Sensitivity": "tornado of one-at-a-time swings, rank correlations",
        "Checks": "integrity checks (live TRUE/FALSE formulas)",
        "As run": "each input as run, and whether it has changed since (live)",
        "Audit": "versions, run settings, scenario hash and text to repeat the run",
        "Paths": "a sample of simulated paths, for `bondmodel verify --paths-check`",
    }
    for i, name in enumerate(sheets):
        ws.write_url(row + 1 + i, 1, f"internal:'{name}'!A1", styles.link, name)
        ws.write_string(row + 1 + i, 2, purpose.get(name, ""))
    row += len(sheets) + 3
    ws.merge_range(row, 1, row + 3, 2, DISCLAIMER, styles.wrap)
    ws.set_landscape()
    ws.fit_to_pages(1, 1)
    ws.activate()


def summary_sheet(
    wb: Workbook, ws: Worksheet, styles: Styles, results: Results, layout: Layout
) -> None:
    """Key metrics (base case beside P10/P50/P90) and the headline charts."""
    ws.set_column(0, 0, 46)
    ws.set_column(1, 4, 18)
    ws.write(0, 0, f"Summary: {results.scenario.meta.name}", styles.title)
    sim = results.risk
    note = (
        "Base case from the engine; P10/P50/P90 are Monte Carlo output "
        f"(seed {sim.settings['seed']}, {sim.settings['paths']:,} paths)."
        if sim is not None
        else "Base case only: no Monte Carlo run."
    )
    ws.write(1, 0, note, styles.note)
    headers = ["Metric", "Base case", "P10", "P50", "P90"]
    for j, h in enumerate(headers):
        ws.write_string(3, j, h, styles.header)
    items: list[tuple[str, str, float | None, Unit]] = [
        ("npv", METRICS["npv"].label, results.metrics["npv"], "money"),
        ("payback_years", METRICS["payback_years"].label, results.metrics["payback_years"],
         "years"),
        ("peak_funding_need", METRICS["peak_funding_need"].label,
         results.metrics["peak_funding_need"], "money"),
    ]
    if results.bond is not None:
        bm = results.bond.metrics
        items += [
            (key, BOND_METRICS[key].label, bm[key], BOND_METRICS[key].unit)
            for key in ("council_npv", "investor_irr", "min_dscr", "total_topup",
                        "investor_loss", "council_npv_vs_pwlb")
        ]
    for i, (key, label, base, unit) in enumerate(items):
        row = 4 + i
        ws.write_string(row, 0, label)
        # the base case is the Metrics sheet's live figure, whatever the inputs now say
        ws.write_formula(
            row, 1, f"={layout.cells[f'metrics.{key}']}",
            styles.unit(unit),
            base if base is not None and math.isfinite(base) else "n/a",
        )
        for j, stat in enumerate(("p10", "p50", "p90")):
            if sim is None or key not in sim.summary.columns:
                ws.write_string(row, 2 + j, "", styles.note)
            else:
                write_value(ws, row, 2 + j, float(sim.summary[key][stat]), unit, styles)
    row = 6 + len(items)
    charts = _summary_charts(wb, results, layout)
    for i, chart in enumerate(charts):
        chart.set_size({"width": 620, "height": 320})
        ws.insert_chart(row + 17 * (i // 2), 0 if i % 2 == 0 else 2, chart,
                        {"x_offset": 5 if i % 2 == 0 else 60})
    ws.set_landscape()
    ws.fit_to_pages(1, 0)


def _summary_charts(wb: Workbook, results: Results, layout: Layout) -> list[Any]:
    charts = []
    rows = layout.rows
    flows = wb.add_chart({"type": "column"})
    flows.add_series({"name": "Net cash flow (nominal)", "categories": rows["cashflows.label"],
                      "values": rows["cashflows.net_cash_flow"]})
    cumulative = wb.add_chart({"type": "line"})
    cumulative.add_series({"name": "Cumulative net cash flow",
                           "categories": rows["cashflows.label"],
                           "values": rows["cashflows.cumulative_net_cash_flow"]})
    flows.combine(cumulative)
    flows.set_title({"name": "Programme cash flows"})
    flows.set_y_axis({"num_format": MILLIONS})
    flows.set_legend({"position": "bottom"})
    charts.append(flows)
    if results.bond is not None:
        bond = wb.add_chart({"type": "column"})
        payments = rows["bond.payment"]
        bond.add_series({"name": "CFADS", "categories": payments, "values": rows["bond.cfads"]})
        bond.add_series({"name": "Debt service due", "categories": payments,
                         "values": rows["bond.debt_service_due"]})
        balance = wb.add_chart({"type": "line"})
        balance.add_series({"name": "Closing balance (right axis)", "categories": payments,
                            "values": rows["bond.closing_balance"], "y2_axis": True})
        bond.combine(balance)
        bond.set_x_axis({"name": "Payment"})
        bond.set_y_axis({"num_format": MILLIONS})
        balance.set_y2_axis({"num_format": MILLIONS})
        bond.set_title({"name": "Bond: cash, debt service and balance"})
        bond.set_legend({"position": "bottom"})
        charts.append(bond)
    if results.risk is not None and "fan.net_savings.P50" in layout.columns:
        fan = wb.add_chart({"type": "line"})
        for p in ("P5", "P10", "P50", "P90", "P95"):
            fan.add_series({"name": p, "categories": layout.columns["fan.net_savings.period"],
                            "values": layout.columns[f"fan.net_savings.{p}"]})
        fan.set_title({"name": "Net savings fan chart (simulation)"})
        fan.set_y_axis({"num_format": MILLIONS})
        fan.set_legend({"position": "bottom"})
        charts.append(fan)
    return charts
