"""Simulation output as tables and native charts: distributions, S-curves, fans, sensitivity.

Everything here is a value, labelled as simulation output: a spreadsheet
cannot recompute a Monte Carlo run. The tables sit beside their charts so a
reader can trace each bar and line to its numbers.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel.engine import Results
from bondmodel.labels import (
    FANS,
    PATH_METRICS,
    TARGETS,
    Unit,
    metric_names_of,
    path_metric_label,
    path_metric_unit,
    risk_input_label,
)
from bondmodel.risk.analyses import SIGNIFICANT_SD
from bondmodel.types import FloatArray
from bondmodel.workbook.layout import Layout, column_span
from bondmodel.workbook.printing import place_charts
from bondmodel.workbook.styles import Styles, heading_height, write_value

#: Histogram bins of a key output.
HISTOGRAM_BINS = 30


def _key_outputs(results: Results) -> list[str]:
    """The outputs that get a histogram and an S-curve."""
    return ["council_npv", "min_dscr"] if results.bond is not None else ["npv", "payback_years"]


def _axis_format(key: str, styles: Styles) -> str:
    unit = PATH_METRICS[key].unit if key in PATH_METRICS else "ratio"
    return styles.millions if unit == "money" else "0.00"


def histogram_range(values: FloatArray) -> tuple[float, float]:
    """The histogram's range: the data's, or a small one around it when all values are equal
    to the last few bits (numpy cannot split such a range into equal bins)."""
    lo, hi = float(values.min()), float(values.max())
    if hi - lo > 1e-9 * max(1.0, abs(lo), abs(hi)):
        return lo, hi
    pad = max(1.0, abs(lo) * 1e-6)
    return lo - pad, hi + pad


#: The Risk sheet's charts: their size, and how many a row under the statistics.
RISK_CHART_SIZE: Final[dict[str, int]] = {"width": 560, "height": 300}
RISK_CHARTS_PER_ROW: Final = 3
#: Rows a row of charts takes: the chart's height at the default row height (20 pixels),
#: and one row between rows of charts.
_CHART_ROWS: Final = RISK_CHART_SIZE["height"] // 20 + 2


def _charted_outputs(results: Results) -> list[str]:
    """The key outputs with at least one defined value: each gets a histogram and an S-curve."""
    sim = results.risk
    if sim is None:
        return []
    return [k for k in _key_outputs(results) if np.isfinite(sim.per_path[k].to_numpy()).any()]


def chart_block_rows(results: Results) -> int:
    """The rows to keep free under the Risk sheet's statistics for its charts, so that a
    reader (and the printed page) meets the charts before the long tables behind them."""
    sim = results.risk
    if sim is None:
        return 0
    count = 2 * len(_charted_outputs(results)) + len(sim.fans)
    return -(-count // RISK_CHARTS_PER_ROW) * _CHART_ROWS


def distribution_tables(
    wb: Workbook,
    ws: Worksheet,
    styles: Styles,
    results: Results,
    layout: Layout,
    row: int,
    chart_top: int,
) -> int:
    """Histograms and S-curves of the key outputs, and a chart per fan, the charts in the
    block from ``chart_top`` that :func:`chart_block_rows` kept free; returns the next row."""
    sim = results.risk
    if sim is None:
        return row
    charts = []
    for key in _charted_outputs(results):
        stored = sim.per_path[key].to_numpy()
        # one working copy, in double precision, of the defined values (the percentiles below
        # partition it in place)
        values = stored[np.isfinite(stored)].astype(np.float64, copy=False)
        label = PATH_METRICS[key].label
        counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=histogram_range(values))
        mids = (edges[:-1] + edges[1:]) / 2.0
        unit: Unit = PATH_METRICS[key].unit
        ws.write(row, 0, f"Histogram: {label}", styles.header)
        ws.write(row, 1, "Paths", styles.header)
        ws.write(row, 3, f"S-curve: {label}", styles.header)
        ws.write(row, 4, "Cumulative probability", styles.header)
        for i, (mid, count) in enumerate(zip(mids, counts, strict=True)):
            write_value(ws, row + 1 + i, 0, float(mid), unit, styles)
            ws.write_number(row + 1 + i, 1, int(count), styles.unit("count"))
        percentiles = np.percentile(
            values, np.arange(1, 100), method="linear", overwrite_input=True
        )
        for i, level in enumerate(percentiles):
            write_value(ws, row + 1 + i, 3, float(level), unit, styles)
            ws.write_number(row + 1 + i, 4, (i + 1) / 100.0, styles.unit("rate"))
        layout.columns[f"histogram.{key}.value"] = column_span(
            "Risk", row + 1, row + HISTOGRAM_BINS, 0
        )
        layout.columns[f"histogram.{key}.paths"] = column_span(
            "Risk", row + 1, row + HISTOGRAM_BINS, 1
        )
        hist = wb.add_chart({"type": "column"})
        hist.add_series(
            {
                "name": "Paths",
                "categories": column_span("Risk", row + 1, row + HISTOGRAM_BINS, 0),
                "values": column_span("Risk", row + 1, row + HISTOGRAM_BINS, 1),
                "gap": 5,
            }
        )
        hist.set_title({"name": f"Histogram: {label}"})
        hist.set_x_axis({"num_format": _axis_format(key, styles)})
        hist.set_legend({"none": True})
        curve = wb.add_chart({"type": "scatter", "subtype": "straight"})
        curve.add_series(
            {
                "name": "Cumulative probability",
                "categories": column_span("Risk", row + 1, row + 99, 3),
                "values": column_span("Risk", row + 1, row + 99, 4),
            }
        )
        curve.set_title({"name": f"S-curve: {label}"})
        curve.set_x_axis({"num_format": _axis_format(key, styles)})
        curve.set_y_axis({"num_format": "0%", "min": 0, "max": 1})
        curve.set_legend({"none": True})
        charts += [hist, curve]
        row += 101
    for name in sim.fans:
        if f"fan.{name}.P50" not in layout.columns:
            continue
        fan = wb.add_chart({"type": "line"})
        for p in ("P5", "P10", "P50", "P90", "P95"):
            fan.add_series(
                {
                    "name": p,
                    "categories": layout.columns[f"fan.{name}.period"],
                    "values": layout.columns[f"fan.{name}.{p}"],
                }
            )
        fan.set_title({"name": f"Fan chart: {FANS[name]}"})
        fan.set_y_axis({"num_format": "0.00" if name == "dscr" else styles.millions})
        fan.set_legend({"position": "bottom"})
        charts.append(fan)
    # under the statistics, three a row, in the rows kept free for them
    for chart in charts:
        chart.set_size(RISK_CHART_SIZE)
    below = place_charts(ws, charts, chart_top, 0, per_row=RISK_CHARTS_PER_ROW)
    block_end = chart_top + chart_block_rows(results)
    if below > block_end:
        raise AssertionError(f"the Risk charts run to row {below}, into the tables below them")
    # printed on a page of their own, between the statistics and the tables behind them
    ws.set_h_pagebreaks([chart_top, block_end])
    return row


def sensitivity_sheet(wb: Workbook, styles: Styles, results: Results) -> None:
    """The tornado (table and chart) and the rank correlation tables."""
    sim = results.risk
    if sim is None:
        return
    ws = wb.add_worksheet("Sensitivity")
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, 30)
    ws.set_column(2, 12, 18)
    who = metric_names_of(results.scenario)
    out_label = path_metric_label(sim.tornado_output, *who)
    unit = path_metric_unit(sim.tornado_output)
    ws.write(0, 0, f"Sensitivity of {out_label} (simulation output, values)", styles.title)
    ws.write(
        1,
        0,
        f"Tornado: each input alone at its P10 and P90, the others at the scenario's values; "
        f"base {out_label} = {sim.tornado_base:,.2f}. Seed {sim.settings.seed}.",
        styles.note,
    )
    headers = [
        "Input",
        "Target",
        "Input at P10",
        "Input at P90",
        "Output at P10",
        "Output at P90",
        "Swing",
        "P10 - base",
        "P90 - base",
    ]
    for j, h in enumerate(headers):
        ws.write_string(3, j, h, styles.header)
    t = sim.tornado
    numbers = {
        key: t[key].to_numpy(dtype=np.float64)
        for key in ("p10_value", "p90_value", "output_at_p10", "output_at_p90", "swing")
    }
    for i, (name, target) in enumerate(zip(t["input"], t["target"], strict=True)):
        row = 4 + i
        ws.write_string(row, 0, risk_input_label(str(name)))
        ws.write_string(row, 1, TARGETS[str(target)])
        write_value(ws, row, 2, float(numbers["p10_value"][i]), "ratio", styles)
        write_value(ws, row, 3, float(numbers["p90_value"][i]), "ratio", styles)
        low, high = numbers["output_at_p10"][i], numbers["output_at_p90"][i]
        for j, v in enumerate(
            (low, high, numbers["swing"][i], low - sim.tornado_base, high - sim.tornado_base)
        ):
            write_value(ws, row, 4 + j, float(v), unit, styles)
    last = 3 + len(t)
    if len(t):
        chart = wb.add_chart({"type": "bar"})
        for col, name in ((7, "Input at P10"), (8, "Input at P90")):
            chart.add_series(
                {
                    "name": name,
                    "categories": column_span("Sensitivity", 4, last, 0),
                    "values": column_span("Sensitivity", 4, last, col),
                    "overlap": 100,
                }
            )
        _rows_of_bars(chart, f"Tornado: change in {out_label} from base", unit, styles, 320)
        ws.insert_chart(last + 3, 0, chart)
    row = last + 21
    row = _spider(wb, ws, styles, results, row, out_label, unit)
    for title, frame in (
        ("Spearman rank correlation (input x output)", sim.rank_correlation),
        ("Contribution to variance (input x output)", sim.contribution),
        ("PAWN index (input x output; 0 = no effect, 1 = the largest possible)", sim.pawn),
    ):
        if frame is sim.pawn:
            for sentence in which_to_trust(results):
                ws.write_string(row, 0, sentence, styles.note)
                row += 1
            row += 1
        ws.write(row, 0, title, styles.bold)
        row += 1
        ws.write(row, 0, "Input", styles.header)
        headings = [path_metric_label(str(key), *who) for key in frame.columns]
        for j, heading in enumerate(headings):
            ws.write_string(row, 1 + j, heading, styles.header_wrap)
        ws.set_row(row, heading_height(headings, 18))
        for i, (input_name, values) in enumerate(frame.iterrows()):
            ws.write_string(row + 1 + i, 0, risk_input_label(str(input_name)))
            for j, value in enumerate(values):
                write_value(ws, row + 1 + i, 1 + j, float(value), "ratio", styles)
        row += len(frame) + 3
    ws.set_landscape()
    ws.fit_to_pages(1, 0)


def _spider(
    wb: Workbook,
    ws: Worksheet,
    styles: Styles,
    results: Results,
    row: int,
    out_label: str,
    unit: Unit,
) -> int:
    """The spider table (each input alone at its P1 ... P99, the others at base) and its line
    chart, from ``row``; the row after them."""
    sim = results.risk
    assert sim is not None
    frame = sim.spider
    ws.write(
        row,
        0,
        f"Spider: {out_label} with each input alone at a percentile of its distribution, "
        "the others at the scenario's values",
        styles.bold,
    )
    row += 1
    ws.write(row, 0, "Input", styles.header)
    for j, column in enumerate(frame.columns):
        ws.write_string(row, 1 + j, str(column), styles.header)
    for i, (name, values) in enumerate(frame.iterrows()):
        ws.write_string(row + 1 + i, 0, risk_input_label(str(name)))
        for j, value in enumerate(values):
            write_value(ws, row + 1 + i, 1 + j, float(value), unit, styles)
    last = row + len(frame)
    if len(frame):
        chart = wb.add_chart({"type": "line"})
        for i in range(len(frame)):
            r = row + 1 + i
            chart.add_series(
                {
                    "name": ["Sensitivity", r, 0],
                    "categories": ["Sensitivity", row, 1, row, len(frame.columns)],
                    "values": ["Sensitivity", r, 1, r, len(frame.columns)],
                    "marker": {"type": "circle", "size": 4},
                }
            )
        chart.set_title({"name": f"Spider: {out_label} against each input's percentile"})
        chart.set_x_axis({"name": "Input's percentile (the others at base)"})
        chart.set_y_axis({"num_format": styles.millions if unit == "money" else "0.00"})
        chart.set_legend({"position": "bottom"})
        chart.set_size({"width": 640, "height": 320})
        ws.insert_chart(last + 2, 0, chart)
    return last + 20


def which_to_trust(results: Results) -> list[str]:
    """The sentences above the PAWN table: which sensitivity measure to trust here, given
    whether the scenario correlates its risk inputs."""
    risk = results.scenario.risk
    correlated: list[str] = []
    if risk is not None and risk.correlation is not None:
        names = list(risk.correlation.names)
        matrix = risk.correlation.matrix
        correlated = [
            f"{risk_input_label(names[i])} and {risk_input_label(names[j])}"
            for i in range(len(names))
            for j in range(i + 1, len(names))
            if matrix[i][j] != 0.0
        ]
    lines = [
        "Rank correlation assumes an input moves the output one way; contribution to variance "
        "also splits the variance as if the inputs were independent. PAWN (Pianosi and Wagener "
        "2015) compares the output's whole distribution with the input held within each tenth "
        "of its range: it sees effects in the tails or in both directions, and splits nothing."
    ]
    if correlated:
        lines.append(
            f"This scenario correlates {'; '.join(correlated)}: contribution to variance "
            "double-counts their shared effect, so rank the inputs by PAWN. Each measure "
            "credits an input with its correlated partners' effect too."
        )
    else:
        lines.append(
            "The inputs here are independent: the rankings should agree. Where they do not, an "
            "input acts in the tails or in both directions, which PAWN sees and rank "
            "correlation does not."
        )
    return lines


#: The analyses sheet (after ``run --stress`` or ``--scenario-analysis``).
ANALYSES_SHEET: Final = "Stress"


def has_analyses(results: Results) -> bool:
    """Whether the run made a stress or scenario analysis (the Stress sheet is written)."""
    sim = results.risk
    return sim is not None and (not sim.stress.empty or bool(sim.regions))


def analyses_sheet(wb: Workbook, styles: Styles, results: Results) -> None:
    """The stress analyses (the output's statistics on the baseline and under each stress,
    with a chart) and the scenario analyses (each input's median in the region against all
    paths), as values: simulation output for the stated seed."""
    sim = results.risk
    if sim is None or not has_analyses(results):
        return
    ws = wb.add_worksheet(ANALYSES_SHEET)
    ws.set_column(0, 0, 34)
    ws.set_column(1, 10, 20)
    who = (results.scenario.partner_names, results.scenario.bond is not None)
    out_label = path_metric_label(sim.tornado_output, *who)
    unit = path_metric_unit(sim.tornado_output)
    ws.write(0, 0, "Stress and scenario analysis (simulation output, values)", styles.title)
    ws.write(
        1,
        0,
        f"Seed {sim.settings.seed}, {sim.settings.paths:,} paths. A stress runs the simulation "
        "again on the same seed with one input drawn only between two of its percentiles.",
        styles.note,
    )
    row = 3
    if not sim.stress.empty:
        row = _stress_table(wb, ws, styles, results, row, out_label, unit)
    for region in sim.analyses.regions:
        frame = sim.regions[region.text]
        metric = path_metric_label(region.metric, *who)
        ws.write(
            row,
            0,
            f"Scenario analysis: paths where {metric} {region.op} {region.level:g} "
            f"({frame.attrs['paths']:,} paths, {frame.attrs['share']:.1%})",
            styles.bold,
        )
        row += 1
        headers = ["Input", "Median, all paths", "Median in the region", "Input's sd",
                   "Move (sd)", "Significant"]  # fmt: skip
        for j, h in enumerate(headers):
            ws.write_string(row, j, h, styles.header)
        for i, record in enumerate(frame.to_dict(orient="records")):
            r = row + 1 + i
            ws.write_string(r, 0, risk_input_label(str(record["input"])))
            for j, key in enumerate(("median_all", "median_region", "sd_all", "z")):
                write_value(ws, r, 1 + j, float(record[key]), "ratio", styles)
            ws.write_string(r, 5, "yes" if record["significant"] else "no")
        row += len(frame) + 1
        ws.write_string(
            row,
            0,
            f"An input is significant when its median in the region moves by at least "
            f"{SIGNIFICANT_SD} of its standard deviations from its median on all paths.",
            styles.note,
        )
        row += 3
    ws.set_landscape()
    ws.fit_to_pages(1, 0)


def _stress_table(
    wb: Workbook,
    ws: Worksheet,
    styles: Styles,
    results: Results,
    row: int,
    out_label: str,
    unit: Unit,
) -> int:
    sim = results.risk
    assert sim is not None
    frame = sim.stress
    ws.write(row, 0, f"Stress analysis: {out_label}", styles.bold)
    row += 1
    headers = ["Case", "Mean", "P5", "P10", "P50", "P90", "P95", "Change in mean"]
    for j, h in enumerate(headers):
        ws.write_string(row, j, h, styles.header)
    keys = ("mean", "p5", "p10", "p50", "p90", "p95", "mean_change")
    for i, record in enumerate(frame.to_dict(orient="records")):
        r = row + 1 + i
        case = (
            "Baseline (no stress)"
            if record["case"] == "baseline"
            else f"{risk_input_label(str(record['input']))} within "
            f"P{record['low']:g}-P{record['high']:g}"
        )
        ws.write_string(r, 0, case)
        for j, key in enumerate(keys):
            write_value(ws, r, 1 + j, float(record[key]), unit, styles)
    last = row + len(frame)
    chart = wb.add_chart({"type": "bar"})
    for col, name in ((3, "P10"), (4, "P50"), (5, "P90")):
        chart.add_series(
            {
                "name": name,
                "categories": column_span(ANALYSES_SHEET, row + 1, last, 0),
                "values": column_span(ANALYSES_SHEET, row + 1, last, col),
            }
        )
    _rows_of_bars(chart, f"Stress analysis: {out_label}", unit, styles, 300)
    ws.insert_chart(last + 2, 0, chart)
    return last + 19


def _rows_of_bars(chart: Any, title: str, unit: Unit, styles: Styles, height: int) -> None:
    """A horizontal bar chart whose bars read down in the table's order (the tornado's
    inputs, the stress cases), its value axis in the output's unit, the legend below."""
    chart.set_title({"name": title})
    chart.set_y_axis({"reverse": True})
    chart.set_x_axis({"num_format": styles.millions if unit == "money" else "0.00"})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 640, "height": height})
