"""The first workbook: inputs, the period table with live formulas, partners and metrics.

Written with XlsxWriter, which stores each formula together with the engine's
value, so viewers that never recalculate still show the right numbers. Time
runs across the columns (FAST standard); each row uses one formula from one
column to the next. Text from the scenario is never read as a formula
(``strings_to_formulas`` is off).
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy
import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook

from bondmodel import __version__
from bondmodel.engine import Results
from bondmodel.headline import context_sentences, headline_metrics
from bondmodel.io import XLSX_OPTIONS, atomic_write
from bondmodel.irr import FLAG_LABELS
from bondmodel.labels import (
    BOND_METRICS,
    FANS,
    METRICS,
    PERIOD_COLUMNS,
    Unit,
    metric_names_of,
    name_in_words,
    path_metric_label,
    path_metric_unit,
    probability_label,
    risk_measure_label,
    statistic_label,
)
from bondmodel.scenario.export import scenario_toml
from bondmodel.scenario.schema import Scenario
from bondmodel.workbook.annual_sheet import (
    ANNUAL,
    alias_cashflows,
    annual_sheet,
    has_annual_sheet,
)
from bondmodel.workbook.as_run import annotation, as_run_sheet, status_banner
from bondmodel.workbook.bond_sheet import bond_metric_formulas, bond_sheet, council_rows
from bondmodel.workbook.conventions_block import convention_values, conventions_block
from bondmodel.workbook.cost_rows import (
    ITEM_ROWS,
    cost_item_rows,
    running_cost_rows,
    timeline_rows,
)
from bondmodel.workbook.council_sheets import (
    BANNER_COL,
    BUDGET,
    PRUDENTIAL,
    ROUTES,
    council_sheets,
    has_council_sheets,
)
from bondmodel.workbook.dashboard import dashboard_sheet
from bondmodel.workbook.formulas import payback_formula
from bondmodel.workbook.inputs import inputs_sheet
from bondmodel.workbook.layout import FIRST_PERIOD_COL, Layout, column_span, ref, span
from bondmodel.workbook.links import colour_links
from bondmodel.workbook.model_map import MODEL_MAP, model_map_sheet
from bondmodel.workbook.overview import checks_sheet, cover_sheet
from bondmodel.workbook.partners_sheet import (
    gross_savings_after_exits,
    partner_bond_rows,
    partners_sheet,
)
from bondmodel.workbook.printing import print_ready
from bondmodel.workbook.riskcharts import (
    ANALYSES_SHEET,
    analyses_sheet,
    chart_block_rows,
    distribution_tables,
    has_analyses,
    sensitivity_sheet,
)
from bondmodel.workbook.rows import (
    Env,
    Expr,
    Grid,
    Group,
    Line,
    Ref,
    Running,
    Template,
    fn,
    write_lines,
)
from bondmodel.workbook.savings_rows import savings_rows
from bondmodel.workbook.sources_uses import SOURCES_USES_SHEET, sources_uses_sheet
from bondmodel.workbook.styles import (
    UNIT_WIDTH,
    heading_height,
    print_across,
    scenario_unit_words,
)
from bondmodel.workbook.styles import Styles as _Styles
from bondmodel.workbook.styles import write_value as _write_value
from bondmodel.workbook.timeline_sheet import excel_serial, timeline_sheet

#: Row (0-based) of the first line item on the Cashflows sheet.
FIRST_ITEM_ROW = 6

#: Rows of the period table that are not line items (they head the columns).
HEADER_KEYS = ("period", "label", "period_start", "period_end")


def write_workbook(results: Results, path: str | Path, command: str | None = None) -> Path:
    """Write the workbook for ``results`` to ``path`` atomically.

    ``command`` is the command line that produced the run, recorded in the
    run manifest on the Audit sheet (the Python API records ``None``).
    """
    return atomic_write(path, lambda tmp: _write(results, tmp, command))


def _write(results: Results, path: Path, command: str | None = None) -> None:
    wb = xlsxwriter.Workbook(
        str(path),
        XLSX_OPTIONS,
    )
    styles = _Styles(wb, results.scenario.meta.currency, scenario_unit_words(results.scenario))
    layout = Layout()
    sheets = sheet_names(results)
    stamp = datetime.now(UTC)
    # FAST order, left to right: overview, inputs, calculations, outputs, checks, audit.
    cover = wb.add_worksheet("Cover")
    model_map = wb.add_worksheet(MODEL_MAP)  # filled last, from every sheet's formulas
    summary = wb.add_worksheet("Summary")
    input_rows = inputs_sheet(
        wb, styles, results.scenario, annotate=lambda path: annotation(path, results.scenario)
    )
    input_rows += conventions_block(
        wb,
        wb.get_worksheet_by_name("Inputs"),
        styles,
        input_rows[-1][0] + 3,
        council=results.routes is not None,
    )
    timeline_sheet(wb, styles, results, layout)
    rows = _cashflows_sheet(wb, styles, results, layout)
    # filled once the Bond sheet and the council's rows exist
    annual = wb.add_worksheet(ANNUAL) if has_annual_sheet(results) else None
    partners_sheet(wb, styles, results, layout)
    if results.bond is not None:
        bond_sheet(wb, styles, results, layout)
        sources_uses_sheet(wb, styles, results, layout)
        council_rows(
            wb.get_worksheet_by_name("Cashflows"),
            styles,
            results,
            layout,
            layout.row_numbers["cashflows.free"],
        )
        partner_bond_rows(wb, styles, results, layout)
    if annual is not None:
        annual_sheet(wb, annual, styles, results, layout)
    else:
        alias_cashflows(layout)
    _metrics_sheet(wb, styles, results, rows, layout)
    if has_council_sheets(results):
        council_sheets(wb, styles, results, layout)
    if results.risk is not None:
        _risk_sheet(wb, styles, results, layout)
        sensitivity_sheet(wb, styles, results)
        analyses_sheet(wb, styles, results)
    checks = checks_sheet(wb, styles, results, layout)
    as_run_sheet(wb, styles, results.scenario, input_rows)
    # what is data for verify rather than for a reader stays out of the print areas
    last_rows = {"Audit": _audit_sheet(wb, styles, results, stamp, command)}
    if results.risk is not None:
        last_rows["Paths"] = _paths_sheet(wb, styles, results)
    cover_sheet(cover, styles, results, sheets, checks, stamp)
    dashboard_sheet(wb, summary, styles, results, layout)
    for name, (col, simulation) in BANNERS.items():
        ws = wb.get_worksheet_by_name(name)
        if ws is not None:
            status_banner(ws, 0, col, styles, simulation=simulation and results.risk is not None)
    model_map_sheet(wb, model_map, styles)
    last_cols = (
        {}
        if results.bond is None
        else {
            "Bond": FIRST_PERIOD_COL + results.bond.schedule.grid.n_legal  # the bond's life as run
        }
    )
    colour_links(wb)
    print_ready(wb, results.scenario.meta.name, stamp, last_rows, last_cols)
    wb.close()


#: Where each sheet shows RERUN NEEDED (or STALE, for the simulation's sheets): the column of
#: the title row, and whether the sheet holds simulation results.
BANNERS: dict[str, tuple[int, bool]] = {
    "Summary": (12, True),  # above the last tile: the title runs on across the others
    "Inputs": (3, False),
    "Timeline": (3, False),
    "Cashflows": (3, False),
    "Annual": (3, False),
    "Partners": (3, False),
    "Bond": (3, False),
    "Sources and uses": (6, False),
    "Metrics": (2, False),
    ROUTES: (BANNER_COL, False),
    BUDGET: (BANNER_COL, False),
    PRUDENTIAL: (BANNER_COL, False),
    "Risk": (3, True),
    "Sensitivity": (3, True),
    "Stress": (3, True),
    "Checks": (2, False),
    "As run": (4, False),
    "Paths": (3, True),
}


def sheet_names(results: Results) -> list[str]:
    """The workbook's sheets, in order."""
    names = ["Cover", MODEL_MAP, "Summary", "Inputs", "Timeline", "Cashflows"]
    names += [ANNUAL] if has_annual_sheet(results) else []
    names += ["Partners"]
    names += ["Bond", SOURCES_USES_SHEET] if results.bond is not None else []
    names += ["Metrics"]
    names += [ROUTES, BUDGET, PRUDENTIAL] if has_council_sheets(results) else []
    names += ["Risk", "Sensitivity"] if results.risk is not None else []
    names += [ANALYSES_SHEET] if has_analyses(results) else []
    return [*names, "Checks", "As run", "Audit", *(["Paths"] if results.risk is not None else [])]


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------


def _cashflows_sheet(
    wb: Workbook, styles: _Styles, results: Results, layout: Layout
) -> dict[str, int]:
    ws = wb.add_worksheet("Cashflows")
    table = results.periods
    n_cols = len(table)
    last_col = FIRST_PERIOD_COL + n_cols - 1
    ws.set_column(0, 0, 44)
    ws.set_column(1, 1, UNIT_WIDTH)
    ws.set_column(2, 2, 16)
    ws.set_column(FIRST_PERIOD_COL, last_col, 14)
    ws.freeze_panes(FIRST_ITEM_ROW, FIRST_PERIOD_COL)
    ws.write(0, 0, f"Programme cash flows (base case): {results.scenario.meta.name}", styles.title)
    ws.write(
        1,
        0,
        "Nominal pounds unless marked real; formulas recalculate from the rows above.",
        styles.note,
    )

    def timeline(key: str, col: int) -> str:
        return f"Timeline!{xl_rowcol_to_cell(layout.row_numbers[f'timeline.{key}'], col)}"

    ws.write(2, 0, "Period", styles.bold)
    ws.write(3, 0, "Label", styles.bold)
    ws.write(4, 0, "Period end", styles.bold)
    ws.write(FIRST_ITEM_ROW - 1, 0, "Line item", styles.header)
    ws.write(FIRST_ITEM_ROW - 1, 1, "Unit", styles.header)
    ws.write(FIRST_ITEM_ROW - 1, 2, "Total", styles.header)
    for j in range(n_cols):
        col = FIRST_PERIOD_COL + j
        ws.write_formula(
            2, col, f"={timeline('t', col)}", styles.bold_count, int(table["period"].iloc[j])
        )
        ws.write_string(3, col, str(table["label"].iloc[j]), styles.bold)
        ws.write_formula(
            4,
            col,
            f"={timeline('period_end', col)}",
            styles.unit("date"),
            excel_serial(table["period_end"].iloc[j]),
        )
        ws.write(FIRST_ITEM_ROW - 1, col, "", styles.header)
    layout.rows["cashflows.label"] = span("Cashflows", 3, FIRST_PERIOD_COL, last_col)

    keys = [k for k in PERIOD_COLUMNS if k not in HEADER_KEYS]
    rows: dict[str, int] = {key: FIRST_ITEM_ROW + i for i, key in enumerate(keys)}
    items = cost_item_rows(ws, styles, results, layout, FIRST_ITEM_ROW + len(keys) + 2)
    below = (
        FIRST_ITEM_ROW
        + len(keys)
        + 2
        + (1 + len(ITEM_ROWS) * len(results.scenario.costs) + 1 if results.scenario.costs else 0)
    )
    running_rows = running_cost_rows(ws, styles, results, layout, below)
    below += len(results.scenario.running_costs) + 2 if results.scenario.running_costs else 0
    stream_rows = savings_rows(wb, ws, styles, results, layout, below)
    for s, stream_row in enumerate(stream_rows):
        layout.row_numbers[f"cashflows.stream.{s}"] = stream_row
    # the council's cash after debt service goes below, once the Bond sheet exists
    layout.row_numbers["cashflows.free"] = (max(stream_rows) if stream_rows else below) + 2

    def linked(cells: list[int]) -> str:
        """``=`` the sum of these rows of the sheet (``=0`` for none)."""
        for r in cells:
            grid_rows[f"row{r}"] = r
        return "=" + ("+".join(f"{{row{r}}}" for r in cells) or "0")

    grid_rows = timeline_rows(layout, "years", "price_index", "discount_factor", "deflator")
    grid_rows.update(rows)
    gross, partner_refs = gross_savings_after_exits(
        results.scenario, [f"row{r}" for r in stream_rows]
    )
    linked(stream_rows)
    grid_rows.update(partner_refs)
    lines = cashflow_lines(
        {kind: linked(cells) for kind, cells in items.items()},
        linked(running_rows),
        # each stream times the share of it still with partners in the partnership
        # (Partners sheet), so a partner's exit year is live whether set or not
        gross,
        table,
    )
    grid = Grid(grid_rows, n_cols)
    real = results.scenario.economics.appraisal_basis == "real"
    price = results.flows.price_index[0]
    write_lines(
        ws,
        styles,
        lines,
        grid,
        layout,
        "Cashflows",
        {
            **convention_values(),
            "timeline.deflator": price if real else np.ones_like(price),
        },
    )
    print_across(ws, FIRST_ITEM_ROW)
    return rows


def cashflow_lines(
    costs: dict[str, str], running: str, gross: str, table: pd.DataFrame
) -> list[Line]:
    """The Cashflows sheet's period table: links to the rows below and to the Timeline,
    then the derived rows, each one :class:`Expr` (its formula and its cached value).

    ``costs`` (by kind: base, contingency, optimism_bias), ``running`` and ``gross`` are
    the templates that total the cost item, running cost and savings stream rows below.
    """
    r = Ref

    def real(key: str) -> Expr:
        return r(key) / r("price_index")

    derived: dict[str, Template] = {
        "years": "={timeline.years}",
        "price_index": "={timeline.price_index}",
        "discount_factor": "={timeline.discount_factor}",
        "capex_base": costs["base"],
        "capex_contingency": costs["contingency"],
        "capex_optimism_bias": costs["optimism_bias"],
        "gross_savings": gross,
        "running_costs": running,
        "capex_overrun": (
            (r("capex_base") + r("capex_contingency") + r("capex_optimism_bias"))
            * (r("conv_cost_factor") - 1)
        ),
        "capex": (
            r("capex_base") + r("capex_contingency") + r("capex_optimism_bias") + r("capex_overrun")
        ),
        "net_savings": r("gross_savings") - r("running_costs"),
        "net_cash_flow": r("net_savings") - r("capex"),
        "cumulative_net_cash_flow": Running(r("net_cash_flow")),
        "capex_real": real("capex"),
        "running_costs_real": real("running_costs"),
        "gross_savings_real": real("gross_savings"),
        "net_savings_real": real("net_savings"),
        "net_cash_flow_real": real("net_cash_flow"),
        "cumulative_net_cash_flow_real": Running(r("net_cash_flow_real")),
        "discounted_net_cash_flow": (
            r("net_cash_flow") / r("timeline.deflator") * r("discount_factor")
        ),
        "cumulative_discounted_net_cash_flow": Running(r("discounted_net_cash_flow")),
    }
    lines = []
    for key in (k for k in PERIOD_COLUMNS if k not in HEADER_KEYS):
        column = PERIOD_COLUMNS[key]
        template = derived[key]
        lines.append(
            Line(
                key,
                column.label,
                column.unit,
                template,
                template,
                values=table[key].to_numpy(dtype=float),
                total=column.unit == "money" and not key.startswith("cumulative"),
                prices=column.prices,
            )
        )
    return lines


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise TypeError(f"not a date: {value!r}")


# ---------------------------------------------------------------------------
# Partners, metrics, audit
# ---------------------------------------------------------------------------


def _metrics_sheet(
    wb: Workbook, styles: _Styles, results: Results, rows: dict[str, int], layout: Layout
) -> None:
    ws = wb.add_worksheet("Metrics")
    ws.set_column(0, 0, 48)
    ws.set_column(1, 1, 20)
    ws.set_column(2, 2, 60)
    ws.write(0, 0, f"Metrics (base case): {results.scenario.meta.name}", styles.title)
    ws.write_formula(
        1,
        0,
        '="Appraisal basis: "&in_economics_appraisal_basis&"; discounting: "'
        '&SUBSTITUTE(in_economics_discount_basis,"_"," ")',
        styles.note,
        f"Appraisal basis: {results.scenario.economics.appraisal_basis}; discounting: "
        f"{name_in_words(results.scenario.economics.discount_basis)}",
    )
    ws.write(3, 0, "Metric", styles.header)
    ws.write(3, 1, "Value", styles.header)
    ws.write(3, 2, "How it is computed", styles.header)
    n = len(results.periods)
    last = FIRST_PERIOD_COL + n - 1

    def span(key: str) -> str:
        return (
            f"Cashflows!{xl_rowcol_to_cell(rows[key], FIRST_PERIOD_COL, True, True)}:"
            f"{xl_rowcol_to_cell(rows[key], last, True, True)}"
        )

    t_row = layout.rows["timeline.t"]

    def on_basis(key: str) -> str:
        """The row on the appraisal basis: CHOOSE picks the nominal or the real row."""
        return f"CHOOSE(tl_real+1,{span(key)},{span(key + '_real')})"

    def whole(key: str) -> Ref:
        return Ref(f"cashflows.{key}", "row")

    def on_sheet(key: str, where: str) -> str:
        return layout.rows[key] if key.startswith("timeline.") else span(key.split(".", 1)[1])

    real = results.scenario.economics.appraisal_basis == "real"
    price = results.flows.price_index[0]
    env = Env(
        on_sheet,
        {
            **{f"cashflows.{key}": results.periods[key].to_numpy(dtype=float) for key in rows},
            "timeline.deflator": price if real else np.ones_like(price),
        },
    )
    deflated = Ref("timeline.deflator", "row")
    sums: dict[str, Expr] = {
        "pv_savings": fn("SUMPRODUCT", whole("gross_savings") / deflated, whole("discount_factor")),
        "pv_costs": fn(
            "SUMPRODUCT",
            Group(whole("capex") + whole("running_costs")) / deflated,
            whole("discount_factor"),
        ),
        "npv": fn("SUM", whole("discounted_net_cash_flow")),
        "peak_funding_need": fn("MAX", 0, -fn("MIN", whole("cumulative_net_cash_flow"))),
        "total_capex": fn("SUM", whole("capex")),
        "total_capex_base": fn("SUM", whole("capex_base")),
        "total_running_costs": fn("SUM", whole("running_costs")),
        "total_gross_savings": fn("SUM", whole("gross_savings")),
        "total_net_cash_flow": fn("SUM", whole("net_cash_flow")),
    }
    live: dict[str, str | Expr] = {
        **sums,
        "payback_years": payback_formula(
            on_basis("cumulative_net_cash_flow"), span("years"), t_row
        ),
        "discounted_payback_years": payback_formula(
            span("cumulative_discounted_net_cash_flow"), span("years"), t_row
        ),
        "peak_funding_period": (
            f"=IF(MIN({span('cumulative_net_cash_flow')})<0,INDEX({t_row},"
            f"MATCH(MIN({span('cumulative_net_cash_flow')}),"
            f"{span('cumulative_net_cash_flow')},0)),0)"
        ),
    }
    metric_rows = {key: 4 + i for i, key in enumerate(METRICS)}
    pv_s = xl_rowcol_to_cell(metric_rows["pv_savings"], 1)
    pv_c = xl_rowcol_to_cell(metric_rows["pv_costs"], 1)
    live["bcr"] = f'=IF({pv_c}>0,{pv_s}/{pv_c},"n/a")'
    for key, column in METRICS.items():
        row = metric_rows[key]
        layout.cells[f"metrics.{key}"] = ref("Metrics", row, 1)
        ws.write_string(row, 0, column.label)
        value = results.metrics[key]
        formula = live[key]  # every programme metric is a live formula
        if isinstance(formula, Expr):
            # a sum over the Cashflows rows: its cached value is what the formula gives
            value = float(formula.value(env))
            formula = formula.formula(env)
        # undefined values (never paid back, no costs) are the formula's text n/a
        ws.write_formula(
            row, 1, formula, styles.unit(column.unit), "n/a" if value is None else value
        )
        ws.write_string(row, 2, "live formula over the Cashflows sheet", styles.note)
    if results.bond is None:
        return
    top = 6 + len(METRICS)
    ws.write(top - 1, 0, "Bond: investor and council metrics (base case)", styles.bold)
    ws.write(top, 0, "Metric", styles.header)
    ws.write(top, 1, "Value", styles.header)
    ws.write(top, 2, "Note", styles.header)
    flag = int(results.bond.metrics["investor_irr_flag"] or 0)
    bond_live = bond_metric_formulas(results, layout)
    for i, (key, column) in enumerate(BOND_METRICS.items()):
        row = top + 1 + i
        layout.cells[f"metrics.{key}"] = ref("Metrics", row, 1)
        ws.write_string(row, 0, column.label)
        value = results.bond.metrics[key]
        if key in bond_live:
            ws.write_formula(
                row, 1, bond_live[key], styles.unit(column.unit), "n/a" if value is None else value
            )
            ws.write_string(row, 2, "live formula over the Bond sheet", styles.note)
            continue
        _write_value(ws, row, 1, value, column.unit, styles)
        if key == "investor_irr_flag":
            ws.write_string(row, 2, FLAG_LABELS[flag], styles.note)
        elif key in ("pwlb_npv", "council_npv_vs_pwlb") and results.bond.pwlb is None:
            ws.write_string(row, 2, "no [pwlb] section in the scenario", styles.note)


#: Width of the Risk sheet's columns of numbers.
RISK_WIDTH = 16


def _risk_sheet(wb: Workbook, styles: _Styles, results: Results, layout: Layout) -> None:
    """Monte Carlo results as values, labelled as simulation output with their seed."""
    sim = results.risk
    if sim is None:
        return
    ws = wb.add_worksheet("Risk")
    ws.set_column(0, 0, 58)  # the statistics' and probabilities' labels in words
    ws.set_column(1, 40, RISK_WIDTH)
    s = sim.settings
    ws.write(0, 0, "Monte Carlo simulation output (values, not formulas)", styles.title)
    ws.write(
        1,
        0,
        f"seed {s.seed}, sampler {s.sampler}, {s.paths:,} paths in blocks of "
        f"{s.block_size:,}; repeat with: bondmodel run SCENARIO --paths {s.paths_requested} "
        f"--seed {s.seed} --sampler {s.sampler}",
        styles.note,
    )
    if s.correlation_repaired:
        ws.write(
            2,
            0,
            "The correlation matrix given was not positive semi-definite: the nearest "
            "correlation matrix (Higham 2002) was used (repair = true).",
            styles.note,
        )
    row = 3
    ws.write(row, 0, "Statistic", styles.header)
    names = list(sim.summary.columns)
    headings = [_path_metric_label(name, results.scenario) for name in names]
    for j, heading in enumerate(headings):
        ws.write_string(row, 1 + j, heading, styles.header_wrap)
    ws.set_row(row, heading_height(headings, RISK_WIDTH))
    for i, stat in enumerate(sim.summary.index):
        ws.write_string(row + 1 + i, 0, statistic_label(str(stat)))
        for j, name in enumerate(names):
            value = float(sim.summary.loc[stat, name])
            unit: Unit = "count" if str(stat).startswith("n") else path_metric_unit(name)
            _write_value(ws, row + 1 + i, 1 + j, value, unit, styles)
    row += len(sim.summary.index) + 1
    # the base case in context: each metric's base case and its percentile among the paths
    for i, (stat, words) in enumerate(
        (
            ("value", "Base case (every input at its central value)"),
            ("percentile", "Base case's percentile among the simulated paths (0-100)"),
        )
    ):
        ws.write_string(row + i, 0, words, styles.bold)
        for j, name in enumerate(names):
            value = float(sim.base_case[name][stat])
            unit = "ratio" if stat == "percentile" else path_metric_unit(name)
            _write_value(ws, row + i, 1 + j, value, unit, styles)
    row += 2
    for sentence in context_sentences(headline_metrics(results), results.scenario.meta.currency):
        row += 1
        ws.write_string(row, 0, sentence, styles.note)
    row += 3
    who = (results.scenario.partner_names, results.scenario.bond is not None)
    ws.write(row, 0, "Probability", styles.header)
    ws.write(row, 1, "Value", styles.header)
    ws.write(row, 2, "Standard error", styles.header)
    for i, (event, prob) in enumerate(sim.probabilities.iterrows()):
        ws.write_string(row + 1 + i, 0, probability_label(str(event), *who))
        _write_value(ws, row + 1 + i, 1, float(prob["value"]), "rate", styles)
        _write_value(ws, row + 1 + i, 2, float(prob["se"]), "rate", styles)
    row += len(sim.probabilities) + 3
    for key, value in sim.risk_measures.items():
        ws.write_string(row, 0, risk_measure_label(key))
        _write_value(ws, row, 1, value, "money", styles)
        row += 1
    row += 2
    chart_top = row  # the charts, under the statistics
    row += chart_block_rows(results)
    for name, fan in sim.fans.items():
        ws.write(row, 0, f"Fan chart: {FANS[name]}", styles.header)
        for j, col in enumerate(fan.columns[1:]):
            ws.write_string(row, 1 + j, str(col), styles.header)
        unit_fan: Unit = "ratio" if name == "dscr" else "money"
        for i in range(len(fan)):
            ws.write_string(row + 1 + i, 0, str(fan["period"].iloc[i]))
            for j, col in enumerate(fan.columns[1:]):
                _write_value(ws, row + 1 + i, 1 + j, float(fan[col].iloc[i]), unit_fan, styles)
        last = row + len(fan)
        layout.columns[f"fan.{name}.period"] = column_span("Risk", row + 1, last, 0)
        for j, col in enumerate(fan.columns[1:]):
            layout.columns[f"fan.{name}.{col}"] = column_span("Risk", row + 1, last, 1 + j)
        row += len(fan) + 3
    row = distribution_tables(wb, ws, styles, results, layout, row, chart_top)
    print_across(ws, 0, 1)


def _path_metric_label(key: str, scenario: Scenario) -> str:
    return path_metric_label(key, *metric_names_of(scenario))


#: Per-path rows kept on the Paths sheet: enough to check a rerun path by path.
PATH_SAMPLE = 256


def path_sample(paths: int) -> list[int]:
    """The indices of the paths the Paths sheet keeps: up to 256, evenly spread, first and last."""
    if paths <= PATH_SAMPLE:
        return list(range(paths))
    return sorted({round(float(x)) for x in np.linspace(0, paths - 1, PATH_SAMPLE)})


def _paths_sheet(wb: Workbook, styles: _Styles, results: Results) -> int:
    """A sample of simulated paths (values), for ``bondmodel verify --paths-check``.

    Returns the last row to print: the headings, not the keys (a hidden row) nor the sample
    (data for verify)."""
    sim = results.risk
    assert sim is not None
    ws = wb.add_worksheet("Paths")
    ws.set_column(0, 0, 12)
    ws.set_column(1, 40, 18)
    s = sim.settings
    ws.write(0, 0, "A sample of simulated paths (simulation output: values)", styles.title)
    ws.write(
        1,
        0,
        f"seed {s.seed}, sampler {s.sampler}, {s.paths:,} paths: each row is one path's "
        "metrics, so `bondmodel verify --paths-check N` can rerun a few paths and compare them "
        "one by one. The sample is data for verify: it is not printed.",
        styles.note,
    )
    names = list(sim.per_path.columns)
    ws.write(3, 0, "Path", styles.header)
    for j, name in enumerate(names):
        ws.write_string(3, 1 + j, _path_metric_label(name, results.scenario), styles.header)
        ws.write_string(4, 1 + j, name, styles.note)
    ws.write_string(4, 0, "(key)", styles.note)
    # the keys verify --paths-check reads the metrics by: data for verify, hidden from a reader
    ws.set_row(4, None, None, {"hidden": True})
    values = sim.per_path.to_numpy()
    for i, index in enumerate(path_sample(len(sim.per_path))):
        ws.write_number(5 + i, 0, index, styles.unit("count"))
        for j, name in enumerate(names):
            _write_value(ws, 5 + i, 1 + j, float(values[index, j]), path_metric_unit(name), styles)
    ws.freeze_panes(5, 1)
    return 3


def run_manifest(results: Results, command: str | None) -> dict[str, Any]:
    """What reproduces the run: command, settings, scenario hash, versions, a replay command."""
    sim = results.risk
    settings: dict[str, Any] = {"paths": 0}
    replay = "bondmodel run scenario.toml --paths 0"
    if sim is not None:
        s = sim.settings
        settings = {
            "paths": s.paths,
            "paths_requested": s.paths_requested,
            "seed": s.seed,
            "sampler": s.sampler,
            "block_size": s.block_size,
            "chunk_blocks": s.chunk_blocks,
            "convergence": s.to_json()["convergence"],
            "tornado_output": sim.tornado_output,
            "per_path_precision": s.per_path_precision,
            "stress": [stress.text for stress in sim.analyses.stresses] or None,
            "scenario_analysis": [region.text for region in sim.analyses.regions] or None,
        }
        # convergence stops at a whole block; running that many paths outright is the same run
        replay = (
            f"bondmodel run scenario.toml --paths {s.paths} --seed {s.seed} "
            f"--sampler {s.sampler} --tornado-output {sim.tornado_output}"
            + "".join(f" --stress {stress.text}" for stress in sim.analyses.stresses)
            + "".join(f" --scenario-analysis '{r.text}'" for r in sim.analyses.regions)
        )
    return {
        "manifest_version": 1,
        "command": command,
        "scenario_sha256": results.scenario.sha256(),
        **settings,
        "engine": __version__,
        "libraries": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pandas": pd.__version__,
            "xlsxwriter": xlsxwriter.__version__,
        },
        "replay": replay,
    }


def _audit_sheet(
    wb: Workbook, styles: _Styles, results: Results, stamp: datetime, command: str | None = None
) -> int:
    """Everything needed to repeat the run: versions, settings, hash and the scenario itself.

    Returns the last row to print: the record, without the run manifest, the canonical JSON
    and the embedded TOML (data for verify and for a rerun, each still in the file)."""
    ws = wb.add_worksheet("Audit")
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, 110)
    ws.write(0, 0, "Audit record", styles.title)
    sim = results.risk
    settings: list[tuple[str, str]] = (
        [("Monte Carlo", "not run: base case only (--paths 0)")]
        if sim is None
        else [
            ("Seed", str(sim.settings.seed)),
            ("Sampler", str(sim.settings.sampler)),
            ("Paths", f"{sim.settings.paths} (asked for {sim.settings.paths_requested})"),
            ("Block size (paths)", str(sim.settings.block_size)),
            ("Per-path values stored in", f"{sim.settings.per_path_precision} precision"),
            ("Chunking (blocks per task)", str(sim.settings.chunk_blocks)),
            ("Executor", f"{sim.settings.executor}, {sim.settings.workers} worker(s)"),
            (
                "Repeat with",
                f"bondmodel run scenario.toml --paths {sim.settings.paths_requested} "
                f"--seed {sim.settings.seed} --sampler {sim.settings.sampler}",
            ),
        ]
    )
    record: list[tuple[str, str]] = [
        ("Engine", f"bondmodel {__version__}"),
        ("Python", platform.python_version()),
        ("numpy / scipy / pandas", f"{np.__version__} / {scipy.__version__} / {pd.__version__}"),
        ("XlsxWriter", xlsxwriter.__version__),
        ("Run at (UTC)", stamp.isoformat(timespec="seconds")),
        ("Scenario name", results.scenario.meta.name),
        ("Scenario SHA-256", results.scenario.sha256()),
        *settings,
        ("Run manifest (JSON)", json.dumps(run_manifest(results, command), sort_keys=True)),
        ("Scenario (canonical JSON)", results.scenario.canonical_json()),
    ]
    for i, (key, value) in enumerate(record):
        ws.write_string(2 + i, 0, key, styles.bold)
        ws.write_string(2 + i, 1, value)
    row = 4 + len(record)
    ws.write_string(row, 0, "Scenario (TOML)", styles.header)
    ws.write_string(
        row,
        1,
        "Save the lines below as scenario.toml to repeat this run: it loads to the same "
        "scenario and SHA-256.",
        styles.header,
    )
    for i, line in enumerate(scenario_toml(results.scenario).splitlines()):
        ws.write_string(row + 1 + i, 1, line)
    return 2 + len(record) - 3  # the record up to the run manifest
