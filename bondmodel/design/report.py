"""Workbooks for ``compare``, ``sweep`` and ``solve``: values, labelled as simulation output.

They hold results of many runs, so they are tables of values (each run's own
live model is what ``bondmodel run`` writes), with native charts and an Audit
sheet that records the seed, the sampler, the paths and every structure's
scenario, so that any cell can be repeated with ``bondmodel run``.
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel import __version__
from bondmodel.design.measures import Better, parse_measure
from bondmodel.design.optimise import Optimum
from bondmodel.design.solve import Solution
from bondmodel.design.study import S_CURVE, Comparison, Row, Sweep
from bondmodel.design.text import optimum_text, solution_text
from bondmodel.design.variation import field_column
from bondmodel.display import format_value, in_sentence
from bondmodel.io import XLSX_OPTIONS, atomic_write
from bondmodel.labels import Unit, route_names
from bondmodel.scenario.export import scenario_toml
from bondmodel.scenario.schema import Scenario
from bondmodel.workbook.styles import Styles, write_value


def _workbook(path: Path) -> tuple[Workbook, Styles]:
    wb = xlsxwriter.Workbook(
        str(path),
        XLSX_OPTIONS,
    )
    return wb, Styles(wb, "GBP")


def _close(wb: Workbook) -> None:
    """Landscape A4, each sheet one page wide, then write the file."""
    for ws in wb.worksheets():
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
    wb.close()


def unit_of(measure: str) -> Unit:
    """The display unit of a measure (as written), from the labels table."""
    return parse_measure(measure).unit


#: The heat maps' colours: green where the measure is better, red where worse, amber between;
#: a measure with no good direction is shaded from white to blue, which says only "higher".
GOOD, MIDDLE, BAD = "#63BE7B", "#FFEB84", "#F8696B"
PLAIN_LOW, PLAIN_HIGH = "#FFFFFF", "#5B9BD5"


def heat_colours(better: Better) -> dict[str, str]:
    """The colour scale of a measure's heat map: its lowest value's colour and its highest's
    (green at the better end by the measure's own direction), as XlsxWriter takes them."""
    if better.sign == 0:
        return {"type": "2_color_scale", "min_color": PLAIN_LOW, "max_color": PLAIN_HIGH}
    low, high = (BAD, GOOD) if better.sign > 0 else (GOOD, BAD)
    return {"type": "3_color_scale", "min_color": low, "mid_color": MIDDLE, "max_color": high}


def heat_legend(better: Better) -> str:
    """What the colours of a measure's heat map mean, in words."""
    if better.sign == 0:
        return (
            f"No better direction ({better.whom}): darker blue = higher, white = lower; "
            "neither is better"
        )
    good, bad = ("higher", "lower") if better.sign > 0 else ("lower", "higher")
    return f"Green = {good}, better for {better.whom}; red = {bad}, worse for {better.whom}"


def _audit(
    wb: Workbook,
    styles: Styles,
    scenarios: list[tuple[str, Scenario]],
    settings: dict[str, Any],
    command: str | None,
) -> None:
    """Versions, settings, and each scenario's hash and TOML (enough to repeat any cell)."""
    ws = wb.add_worksheet("Audit")
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, 110)
    ws.write(0, 0, "Audit record", styles.title)
    record = [
        ("Engine", f"bondmodel {__version__}"),
        ("Python / numpy", f"{platform.python_version()} / {np.__version__}"),
        ("Run at (UTC)", datetime.now(UTC).isoformat(timespec="seconds")),
        ("Command", command or "(Python API)"),
        *((key.replace("_", " ").capitalize(), str(value)) for key, value in settings.items()),
    ]
    for i, (key, value) in enumerate(record):
        ws.write_string(2 + i, 0, key, styles.bold)
        ws.write_string(2 + i, 1, value)
    row = 3 + len(record)
    for label, scenario in scenarios:
        ws.write_string(row, 0, label, styles.header)
        ws.write_string(row, 1, f"scenario SHA-256 {scenario.sha256()}", styles.header)
        for line in scenario_toml(scenario).splitlines():
            row += 1
            ws.write_string(row, 1, line)
        row += 2


def _measure_table(
    ws: Worksheet,
    styles: Styles,
    top: int,
    labels: list[str],
    rows: list[Row],
    partners: list[str],
    best: bool = True,
    routes: list[str] | None = None,
) -> int:
    ws.write(top, 0, "Measure", styles.header)
    for j, label in enumerate(labels):
        ws.write_string(top, 1 + 2 * j, label, styles.header)
        ws.write_string(top, 2 + 2 * j, "s.e.", styles.header)
    if best:
        ws.write(top, 1 + 2 * len(labels), "Best for the council", styles.header)
        ws.set_column(1 + 2 * len(labels), 1 + 2 * len(labels), 34)
    for i, row in enumerate(rows):
        r = top + 1 + i
        ws.write_string(r, 0, parse_measure(row.measure).label(partners, routes=routes or ()))
        unit = unit_of(row.measure)
        for j, (v, e) in enumerate(zip(row.values, row.errors, strict=True)):
            write_value(ws, r, 1 + 2 * j, v, unit, styles)
            if e:  # a base-case value has no sampling error: left blank
                write_value(ws, r, 2 + 2 * j, e, unit, styles)
        if best and row.best:
            ws.write_string(
                r, 1 + 2 * len(labels), ", ".join(labels[i] for i in row.best), styles.good
            )
    return top + 1 + len(rows)


def write_comparison(comparison: Comparison, path: str | Path, command: str | None = None) -> Path:
    """The side-by-side workbook of ``compare``, written atomically."""

    def write(tmp: Path) -> None:
        wb, styles = _workbook(tmp)
        labels = [ev.label for ev in comparison.evaluations]
        ws = wb.add_worksheet("Comparison")
        ws.set_column(0, 0, 46)
        ws.set_column(1, 2 * len(labels) + 1, 16)
        ws.write(
            0, 0, "Structures compared on common random numbers (simulation output)", styles.title
        )
        ws.write(
            1,
            0,
            f"seed {comparison.seed}, sampler {comparison.sampler}, "
            f"{comparison.paths:,} paths, the same draws for every structure; "
            "P10, P50, P90 = percentiles over the paths (10% of paths fall at or "
            "below P10); base case = the central values, no risk drawn",
            styles.note,
        )
        first = comparison.evaluations[0].scenario
        end = _measure_table(
            ws,
            styles,
            3,
            labels,
            comparison.rows,
            first.partner_names,
            routes=route_names(first),
        )
        ws.write(end + 1, 0, "What the comparison shows", styles.bold)
        for i, text in enumerate(comparison.statements(words=True) + comparison.notes):
            ws.write_string(end + 2 + i, 0, text)
        ws.freeze_panes(4, 1)
        _curves_sheet(wb, styles, comparison)
        _beats_sheet(wb, styles, comparison)
        _audit(
            wb,
            styles,
            [(ev.label, ev.scenario) for ev in comparison.evaluations],
            {"seed": comparison.seed, "sampler": comparison.sampler, "paths": comparison.paths},
            command,
        )
        _close(wb)

    return atomic_write(path, write)


def _metric_words(comparison: Comparison) -> str:
    """The S-curves' metric in words (its label over the paths)."""
    first = comparison.evaluations[0].scenario
    label = parse_measure(f"mean({comparison.metric})").metric_label(
        first.partner_names, route_names(first)
    )
    return in_sentence(label)


def _curves_sheet(wb: Workbook, styles: Styles, comparison: Comparison) -> None:
    ws = wb.add_worksheet("S-curves")
    metric = _metric_words(comparison)
    labels = list(comparison.curves)
    ws.set_column(0, len(labels), 16)
    ws.write(0, 0, f"S-curves of the {metric} (percentiles over the paths)", styles.title)
    ws.write(2, 0, "Percentile", styles.header)
    for j, label in enumerate(labels):
        ws.write_string(2, 1 + j, label, styles.header)
    for i, p in enumerate(S_CURVE):
        ws.write_number(3 + i, 0, p)
        for j, label in enumerate(labels):
            write_value(ws, 3 + i, 1 + j, comparison.curves[label][i], "money", styles)
    chart = wb.add_chart({"type": "scatter", "subtype": "straight"})
    last = 2 + len(S_CURVE)
    for j, label in enumerate(labels):
        chart.add_series(
            {
                "name": label,
                "categories": ["S-curves", 3, 1 + j, last, 1 + j],
                "values": ["S-curves", 3, 0, last, 0],
            }
        )
    chart.set_title({"name": f"S-curves: {metric}"})
    chart.set_x_axis({"name": metric, "num_format": '£#,##0.0,,"m"'})
    chart.set_y_axis({"name": "percentile", "min": 0, "max": 100})
    chart.set_size({"width": 760, "height": 420})
    ws.insert_chart(2, len(labels) + 2, chart)


def _beats_sheet(wb: Workbook, styles: Styles, comparison: Comparison) -> None:
    ws = wb.add_worksheet("Path by path")
    labels = [ev.label for ev in comparison.evaluations]
    ws.set_column(0, len(labels), 22)
    metric = _metric_words(comparison)
    ws.write(0, 0, f"Share of paths on which the row's {metric} beats the column's", styles.title)
    ws.write(1, 0, "The same futures for every structure (common random numbers)", styles.note)
    for j, label in enumerate(labels):
        ws.write_string(3, 1 + j, label, styles.header)
    for i, label in enumerate(labels):
        ws.write_string(4 + i, 0, label, styles.bold)
        for j in range(len(labels)):
            write_value(ws, 4 + i, 1 + j, comparison.beats[i][j], "rate", styles)


def write_sweep(result: Sweep, path: str | Path, command: str | None = None) -> Path:
    """The sweep's table and heat maps, written atomically."""

    def write(tmp: Path) -> None:
        wb, styles = _workbook(tmp)
        fields = [v.path for v in result.variations]
        scenario = result.evaluations[0].scenario
        columns = [field_column(f, scenario) for f in fields]
        ws = wb.add_worksheet("Sweep")
        ws.set_column(0, len(fields) + len(result.rows), 18)
        ws.write(
            0, 0, "Sweep of structures on common random numbers (simulation output)", styles.title
        )
        ws.write(
            1,
            0,
            f"seed {result.seed}, sampler {result.sampler}, {result.paths:,} paths; "
            "every cell sees the same draws",
            styles.note,
        )
        headings = [c.label for c in columns] + [
            parse_measure(row.measure).label(
                scenario.partner_names, scenario.meta.currency, route_names(scenario)
            )
            for row in result.rows
        ]
        for j, name in enumerate(headings):
            ws.write_string(3, j, name, styles.header)
        for k, cell in enumerate(result.cells):
            for j, value in enumerate(cell):
                write_value(ws, 4 + k, j, value, columns[j].unit, styles)
            for j, row in enumerate(result.rows):
                write_value(ws, 4 + k, len(fields) + j, row.values[k], unit_of(row.measure), styles)
        ws.freeze_panes(4, len(fields))
        _heatmaps(wb, styles, result)
        first = [("First cell's scenario", ev.scenario) for ev in result.evaluations[:1]]
        _audit(
            wb,
            styles,
            first,
            {
                "seed": result.seed,
                "sampler": result.sampler,
                "paths": result.paths,
                "fields varied": ", ".join(fields),
            },
            command,
        )
        _close(wb)

    return atomic_write(path, write)


def _heatmaps(wb: Workbook, styles: Styles, result: Sweep) -> None:
    """One heat map per measure: rows the first varied field's values, columns the second's,
    each axis headed by its field in words and its values in the field's unit; coloured by
    the measure's own good direction, with a legend saying what green and red mean."""
    maps = result.heatmaps()
    if not maps:
        return
    ws = wb.add_worksheet("Heat maps")
    ws.set_column(0, 0, 34)
    ws.set_column(1, 30, 16)
    ws.write(
        0,
        0,
        "Heat maps: each measure over the varied fields (simulation output); each "
        "map is coloured by its own measure's better direction, as its legend says",
        styles.title,
    )
    scenario = result.evaluations[0].scenario
    currency = scenario.meta.currency
    rows_field = field_column(result.variations[0].path, scenario)
    cols_field = (
        field_column(result.variations[1].path, scenario) if len(result.variations) == 2 else None
    )
    by_measure = {row.measure: row for row in result.rows}
    top = 2
    for measure, data in maps.items():
        parsed = parse_measure(measure)
        better = by_measure[measure].better
        rows, cols = data["rows"], data["columns"]
        ws.write_string(
            top,
            0,
            f"{parsed.label(scenario.partner_names, currency, route_names(scenario))} ({measure})",
            styles.bold,
        )
        ws.write_string(top + 1, 0, heat_legend(better), styles.note)
        corner = rows_field.label + (f" \\ {cols_field.label}" if cols_field else "")
        ws.write_string(top + 2, 0, corner, styles.header)
        col_values = cols["values"] if cols else [None]
        for j, v in enumerate(col_values):
            heading = (
                ""
                if cols_field is None
                else f"{cols_field.label}: {format_value(v, cols_field.unit, currency)}"
            )
            ws.write_string(
                top + 2,
                1 + j,
                heading or parsed.label(scenario.partner_names, routes=route_names(scenario)),
                styles.header,
            )
        for i, v in enumerate(rows["values"]):
            ws.write_string(top + 3 + i, 0, format_value(v, rows_field.unit, currency), styles.bold)
            for j in range(len(col_values)):
                write_value(ws, top + 3 + i, 1 + j, data["values"][i][j], parsed.unit, styles)
        first = xl_rowcol_to_cell(top + 3, 1)
        last = xl_rowcol_to_cell(top + 2 + len(rows["values"]), len(col_values))
        ws.conditional_format(f"{first}:{last}", heat_colours(better))
        top += len(rows["values"]) + 5


def write_solution(
    solution: Solution, scenario: Scenario, path: str | Path, command: str | None = None
) -> Path:
    """The answer of ``solve``, its constraints and every point searched, written atomically."""

    def write(tmp: Path) -> None:
        wb, styles = _workbook(tmp)
        ws = wb.add_worksheet("Solution")
        ws.set_column(0, 0, 46)
        ws.set_column(1, 4, 18)
        goal = "largest" if solution.maximise else "smallest"
        field = field_column(solution.path, scenario)
        ws.write(
            0,
            0,
            f"Solve: the {goal} {in_sentence(field.label)} ({solution.path}) "
            "meeting every constraint",
            styles.title,
        )
        ws.write(
            1,
            0,
            f"seed {solution.seed}, {solution.paths:,} paths per evaluation, common "
            f"random numbers; range {solution.low:.10g} to {solution.high:.10g}",
            styles.note,
        )
        # the terminal's heading lines: the answer and its interval, or why there is none
        lines = solution_text(solution, scenario).split("\n\n")[0].splitlines()
        for i, line in enumerate(lines):
            ws.write_string(3 + i, 0, line, styles.bold if i == 0 else styles.label)
        row = 5 + len(lines)
        ws.write(row, 0, "Constraint", styles.header)
        for j, h in enumerate(("value", "s.e.", "margin", "satisfied")):
            ws.write(row, 1 + j, h, styles.header)
        at = solution.at_answer
        if at is not None:
            for i, c in enumerate(solution.constraints):
                value, se = at.values[i]
                margin = at.margins(solution.constraints)[i]
                unit = c.measure.unit
                ws.write_string(row + 1 + i, 0, c.text)
                write_value(ws, row + 1 + i, 1, value, unit, styles)
                write_value(ws, row + 1 + i, 2, se, unit, styles)
                write_value(ws, row + 1 + i, 3, margin, unit, styles)
                ws.write_boolean(row + 1 + i, 4, bool(margin >= 0))
        search = wb.add_worksheet("Search")
        search.set_column(0, len(solution.constraints) + 2, 20)
        search.write(
            0, 0, "Every grid point evaluated (bisection points are not listed)", styles.title
        )
        search.write(2, 0, f"{field.label} ({solution.path})", styles.header)
        search.write(2, 1, "feasible", styles.header)
        for j, c in enumerate(solution.constraints):
            search.write_string(2, 2 + j, c.text, styles.header)
        for i, p in enumerate(solution.grid):
            write_value(search, 3 + i, 0, p.x, field.unit, styles)
            search.write_boolean(3 + i, 1, p.feasible(solution.constraints))
            for j, (v, _) in enumerate(p.values):
                write_value(search, 3 + i, 2 + j, v, solution.constraints[j].measure.unit, styles)
        _audit(
            wb,
            styles,
            [("Scenario", scenario)],
            {"seed": solution.seed, "paths": solution.paths, "field": solution.path},
            command,
        )
        _close(wb)

    return atomic_write(path, write)


def write_optimum(
    result: Optimum, scenario: Scenario, path: str | Path, command: str | None = None
) -> Path:
    """The answer of ``solve --objective``: the fields, the objective, the constraints and
    every structure the search ran, written atomically."""

    def write(tmp: Path) -> None:
        wb, styles = _workbook(tmp)
        ws = wb.add_worksheet("Solution")
        ws.set_column(0, 0, 46)
        ws.set_column(1, 5, 18)
        goal = "Maximise" if result.maximise else "Minimise"
        objective = result.objective.label(scenario.partner_names, routes=route_names(scenario))
        ws.write(0, 0, f"Solve: {goal.lower()} {in_sentence(objective)}", styles.title)
        ws.write(
            1,
            0,
            f"seed {result.seed}, {result.paths:,} paths per structure, common random numbers; "
            f"differential evolution, {result.evaluations:,} model runs",
            styles.note,
        )
        # the terminal's heading lines: the answer, or why there is none
        lines = optimum_text(result, scenario).split("\n\n")[0].splitlines()
        for i, line in enumerate(lines):
            ws.write_string(3 + i, 0, line, styles.bold if i == 0 else styles.label)
        row = 4 + len(lines)
        for j, h in enumerate(("Field", "from", "to", "answer")):
            ws.write(row, j, h, styles.header)
        columns = [field_column(f.path, scenario) for f in result.fields]
        for i, f in enumerate(result.fields):
            ws.write_string(row + 1 + i, 0, f"{columns[i].label} ({f.path})")
            write_value(ws, row + 1 + i, 1, f.low, columns[i].unit, styles)
            write_value(ws, row + 1 + i, 2, f.high, columns[i].unit, styles)
            if result.answer is not None:
                write_value(ws, row + 1 + i, 3, result.answer.x[i], columns[i].unit, styles)
        row += len(result.fields) + 2
        ws.write(row, 0, "Constraint", styles.header)
        for j, h in enumerate(("value", "s.e.", "margin", "satisfied", "binding")):
            ws.write(row, 1 + j, h, styles.header)
        if result.answer is not None:
            ws.write_string(row - 1, 0, f"Objective: {result.objective.text}", styles.bold)
            value, se = result.answer.objective
            write_value(ws, row - 1, 1, value, result.objective.unit, styles)
            write_value(ws, row - 1, 2, se, result.objective.unit, styles)
            margins = result.answer.margins(result.constraints)
            for i, c in enumerate(result.constraints):
                v, s = result.answer.values[i]
                unit = c.measure.unit
                ws.write_string(row + 1 + i, 0, c.text)
                write_value(ws, row + 1 + i, 1, v, unit, styles)
                write_value(ws, row + 1 + i, 2, s, unit, styles)
                write_value(ws, row + 1 + i, 3, margins[i], unit, styles)
                ws.write_boolean(row + 1 + i, 4, bool(margins[i] >= 0))
                ws.write_boolean(row + 1 + i, 5, c.text in result.binding)
        search = wb.add_worksheet("Search")
        width = len(result.fields) + len(result.constraints) + 3
        search.set_column(0, width, 20)
        search.write(0, 0, "Every structure the search ran, in the order it ran them", styles.title)
        headers = [
            *(f"{c.label} ({f.path})" for c, f in zip(columns, result.fields, strict=True)),
            "feasible",
            result.objective.text,
            *(c.text for c in result.constraints),
        ]
        for j, h in enumerate(headers):
            search.write_string(2, j, h, styles.header)
        n = len(result.fields)
        for i, t in enumerate(result.trials):
            r = 3 + i
            for j, x in enumerate(t.x):
                write_value(search, r, j, x, columns[j].unit, styles)
            search.write_boolean(r, n, t.feasible(result.constraints))
            write_value(search, r, n + 1, t.objective[0], result.objective.unit, styles)
            for j, (v, _) in enumerate(t.values):
                write_value(search, r, n + 2 + j, v, result.constraints[j].measure.unit, styles)
        _audit(
            wb,
            styles,
            [("Scenario", scenario)],
            {
                "seed": result.seed,
                "paths": result.paths,
                "fields": ", ".join(f"{f.path} {f.low:.10g}:{f.high:.10g}" for f in result.fields),
                "objective": f"{goal.lower()} {result.objective.text}",
                "population": result.population,
                "generations": result.generations,
            },
            command,
        )
        _close(wb)

    return atomic_write(path, write)
