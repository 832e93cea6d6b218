"""What ``compare``, ``sweep`` and ``solve`` print on the terminal: readable tables.

Measures and fields are shown by their labels in words (``bondmodel.labels``), values in
their units (:func:`bondmodel.display.format_value`), and the best value of each measure is
marked ``*`` by the measure's own better direction (``measures.BETTER``), with a column
saying which way is better and for whom. The numbers are the result's own: ``--json`` and
the workbook hold the same values, with their standard errors.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from bondmodel.design.measures import Better, Constraint, parse_measure
from bondmodel.design.optimise import Optimum
from bondmodel.design.solve import Solution
from bondmodel.design.study import Comparison, Row, Sweep
from bondmodel.design.variation import field_column
from bondmodel.display import DEFAULT_WIDTH, format_value, in_sentence, text_table
from bondmodel.labels import route_names
from bondmodel.scenario.schema import Scenario

#: The marker of the best value of a measure.
BEST = "*"
#: For whom a direction is better, as the tables' "Better" column says it.
_WHOM = {
    "the council": "council",
    "investors": "investors",
    "investors and the council": "both",
    "that partner": "partner",
}


def better_words(better: Better) -> str:
    """``higher (council)``, ``lower (both)``, or ``neither`` for a measure with no direction."""
    if better.sign == 0:
        return "neither"
    way = "higher" if better.sign > 0 else "lower"
    return f"{way} ({_WHOM.get(better.whom, better.whom)})"


def _marked(text: str, best: bool) -> str:
    """A value with the best marker, or padded to align with one."""
    return f"{text} {BEST}" if best else f"{text}  "


def _legend(rows: list[Row], width: int, where: str, better: str) -> str:
    text = (
        f"{BEST} best of the measure{where} in its better direction; {better}: which way "
        "is better, and for whom"
    )
    if any(_WHOM.get(r.better.whom) == "both" for r in rows):
        text += " (both = investors and the council)"
    return "\n".join(textwrap.wrap(text, width))


def comparison_text(result: Comparison, width: int = DEFAULT_WIDTH) -> str:
    """The comparison as a table: one row per measure, one column per structure."""
    scenario = result.evaluations[0].scenario
    labels = [ev.label for ev in result.evaluations]
    headers = ["Measure", "Better", *labels]
    rows = []
    for row in result.rows:
        measure = parse_measure(row.measure)
        best = set(row.best_own)
        rows.append(
            [
                measure.label(
                    scenario.partner_names, scenario.meta.currency, route_names(scenario)
                ),
                better_words(row.better),
                *(
                    _marked(format_value(v, measure.unit, scenario.meta.currency), i in best)
                    for i, v in enumerate(row.values)
                ),
            ]
        )
    lines = [
        f"Compared on common random numbers: {len(labels)} structures, "
        f"{_paths(result.paths)}, seed {result.seed}, sampler {result.sampler}",
        "",
        text_table(headers, rows, keep=2, width=width),
        "",
        _legend(result.rows, width, "", "Better"),
    ]
    metric = parse_measure(f"mean({result.metric})").metric_label(
        scenario.partner_names, route_names(scenario)
    )
    if result.paths > 0:
        beats = [
            [label, *("-" if i == j else format_value(v, "rate") for j, v in enumerate(shares))]
            for i, (label, shares) in enumerate(zip(labels, result.beats, strict=True))
        ]
        title = (
            f"Share of paths on which the row's {in_sentence(metric)} beats "
            "the column's (the same futures for every structure):"
        )
        lines += [
            "",
            *textwrap.wrap(title, width),
            "",
            text_table(["", *labels], beats, keep=1, width=width),
        ]
    lines += [""] * bool(result.always_best() or result.notes)
    lines += [
        f"{labels[i]} is best for the council (or tied) on every measure that tells them apart"
        for i in result.always_best()
    ]
    lines += [f"Note: {note}" for note in result.notes]
    return "\n".join(lines)


def sweep_text(result: Sweep, width: int = DEFAULT_WIDTH) -> str:
    """The sweep as a table: one row per grid cell, one column per measure."""
    scenario = result.evaluations[0].scenario
    currency = scenario.meta.currency
    fields = [field_column(v.path, scenario) for v in result.variations]
    measures = [parse_measure(row.measure) for row in result.rows]
    headers = [f.label for f in fields] + [
        m.label(scenario.partner_names, currency, route_names(scenario))
        + f" [{better_words(row.better)}]"
        for m, row in zip(measures, result.rows, strict=True)
    ]
    best = [set(row.best_own) for row in result.rows]
    rows = [
        [format_value(value, f.unit, currency) for f, value in zip(fields, cell, strict=True)]
        + [
            _marked(format_value(row.values[k], m.unit, currency), k in b)
            for m, row, b in zip(measures, result.rows, best, strict=True)
        ]
        for k, cell in enumerate(result.cells)
    ]
    return "\n".join(
        [
            f"Swept on common random numbers: {len(result.cells)} structures, "
            f"{_paths(result.paths)}, seed {result.seed}, sampler {result.sampler}",
            "",
            text_table(headers, rows, keep=len(fields), width=width),
            "",
            _legend(result.rows, width, " over the grid", "[better]"),
        ]
    )


def solution_text(result: Solution, scenario: Scenario, width: int = DEFAULT_WIDTH) -> str:
    """The answer in the field's unit, then each constraint's value, limit and margin."""
    currency = scenario.meta.currency
    field = field_column(result.path, scenario)
    goal = "largest" if result.maximise else "smallest"

    def shown(x: float) -> str:
        # the field's unit, and the exact number to type back into a scenario
        return f"{format_value(x, field.unit, currency)} ({x:.10g})"

    span = f"[{shown(result.low)}, {shown(result.high)}]"
    if not result.feasible or result.answer is None:
        if result.grid and all(p.error is not None for p in result.grid):
            first = result.grid[0]
            return (
                f"INFEASIBLE: no {in_sentence(field.label)} ({result.path}) in {span} could be "
                f"evaluated; the first, {result.path} = {first.x:.10g} "
                f"({format_value(first.x, field.unit, currency)}): {first.error}"
            )
        rows = _best_rows(result.constraints, result.best_achievable(), shown, scenario)
        heading = (
            f"INFEASIBLE: no {in_sentence(field.label)} ({result.path}) in {span} meets "
            "every constraint; the best each reached:"
        )
        return "\n".join(
            [
                *textwrap.wrap(heading, width),
                "",
                text_table(
                    ["Constraint", "Limit", "Best value", f"At {in_sentence(field.label)}"],
                    rows,
                    keep=1,
                    width=width,
                ),
            ]
        )
    lines = [
        f"{goal} {in_sentence(field.label)} ({result.path}) meeting every constraint: "
        f"{shown(result.answer)}"
    ]
    if result.at_bound:
        lines.append("  (the end of the range: widen --range to look further)")
    if result.ci is not None and result.ci[0] == result.ci[1]:
        lines.append("  no Monte Carlo uncertainty: the binding constraint is exact")
    elif result.ci is not None:
        lines.append(f"  95% Monte Carlo interval: {shown(result.ci[0])} to {shown(result.ci[1])}")
    if result.at_answer is not None:
        rows = []
        margins = result.at_answer.margins(result.constraints)
        for c, (v, se), m in zip(result.constraints, result.at_answer.values, margins, strict=True):
            unit = c.measure.unit
            rows.append(
                [
                    c.measure.label(scenario.partner_names, currency, route_names(scenario)),
                    f"{c.op} {format_value(c.bound, unit, currency)}",
                    format_value(v, unit, currency),
                    format_value(se, unit, currency),
                    format_value(m, unit, currency),
                    "binding" if c.text == result.binding else "",
                ]
            )
        lines += [
            "",
            "At the answer (s.e.: the Monte Carlo standard error):",
            "",
            text_table(
                ["Constraint", "Limit", "Value", "s.e.", "Margin", ""], rows, keep=1, width=width
            ),
        ]
    return "\n".join(lines)


def _paths(paths: int) -> str:
    return "the base case only (no simulation)" if paths == 0 else f"{paths:,} paths each"


def optimum_text(result: Optimum, scenario: Scenario, width: int = DEFAULT_WIDTH) -> str:
    """The answer of ``solve --objective``: each field's value, the objective, each
    constraint's value, standard error and margin, the binding ones, and the search's size."""
    currency = scenario.meta.currency
    partners, routes = scenario.partner_names, route_names(scenario)
    columns = [field_column(f.path, scenario) for f in result.fields]

    def shown(x: float, i: int) -> str:
        # the field's unit, and the exact number to type back into a scenario
        return f"{format_value(x, columns[i].unit, currency)} ({x:.10g})"

    def at(x: tuple[float, ...]) -> str:
        return ", ".join(f"{f.path} = {v:.10g}" for f, v in zip(result.fields, x, strict=True))

    goal = "largest" if result.maximise else "smallest"
    objective = result.objective.label(partners, currency, routes)
    names = ", ".join(f.path for f in result.fields)
    search = (
        f"Search: differential evolution on common random numbers, seed {result.seed}, "
        f"{result.paths:,} paths per structure; {result.evaluations:,} model runs (each "
        f"structure run once) in {result.generations_run} generations of "
        f"{max(5, result.population * len(result.fields))}; "
        + (
            "the population converged."
            if result.converged
            else f"stopped at --generations {result.generations} before the population "
            "converged (more generations may find better)."
        )
    )
    tail = ["", *textwrap.wrap(search, width), *textwrap.wrap(result.statement(), width)]
    if result.answer is None:
        errors = [t for t in result.trials if t.error is not None]
        if errors and len(errors) == len(result.trials):
            head = (
                f"INFEASIBLE: no structure of {names} in the ranges could be evaluated; the "
                f"first, {at(errors[0].x)}: {errors[0].error}"
            )
            return "\n".join([*textwrap.wrap(head, width), *tail])
        rows = _best_rows(result.constraints, result.best_achievable(), at, scenario)
        head = (
            f"INFEASIBLE: no structure of {names} the search evaluated meets every "
            "constraint; the best each reached:"
        )
        table = text_table(["Constraint", "Limit", "Best value", "At"], rows, width=width)
        return "\n".join([*textwrap.wrap(head, width), "", table, *tail])
    answer = result.answer
    value, se = answer.objective
    unit = result.objective.unit
    lines = [
        *textwrap.wrap(
            f"{goal} {in_sentence(objective)} ({result.objective.text}) over {names} meeting "
            f"every constraint: {format_value(value, unit, currency)}"
            + (f" (s.e. {format_value(se, unit, currency)})" if se else ""),
            width,
        ),
        "",
        text_table(
            ["Field", "From", "To", "Answer"],
            [
                [
                    f"{columns[i].label} ({f.path})",
                    format_value(f.low, columns[i].unit, currency),
                    format_value(f.high, columns[i].unit, currency),
                    shown(x, i),
                ]
                for i, (f, x) in enumerate(zip(result.fields, answer.x, strict=True))
            ],
            width=width,
        ),
    ]
    for path in result.at_range_end():
        lines.append(f"  ({path} is at the end of its range: widen its --range to look further)")
    rows = []
    margins = answer.margins(result.constraints)
    for c, (v, s), m in zip(result.constraints, answer.values, margins, strict=True):
        cu = c.measure.unit
        rows.append(
            [
                c.measure.label(partners, currency, routes),
                f"{c.op} {format_value(c.bound, cu, currency)}",
                format_value(v, cu, currency),
                format_value(s, cu, currency),
                format_value(m, cu, currency),
                "binding" if c.text in result.binding else "",
            ]
        )
    lines += [
        "",
        *textwrap.wrap(
            "At the answer (s.e.: the Monte Carlo standard error; binding: the search ran a "
            "structure with a better objective that broke only this constraint):",
            width,
        ),
        "",
        text_table(["Constraint", "Limit", "Value", "s.e.", "Margin", ""], rows, width=width),
    ]
    return "\n".join([*lines, *tail])


def _best_rows(
    constraints: Sequence[Constraint],
    best: Sequence[tuple[str, float | None, Any]],
    where: Callable[[Any], str],
    scenario: Scenario,
) -> list[list[str]]:
    """An infeasible search's table: each constraint, its limit, the best value it reached and
    where (``where`` puts the place in words: a value of the field, or every field's)."""
    currency = scenario.meta.currency
    rows = []
    for c, (_, value, x) in zip(constraints, best, strict=True):
        unit = c.measure.unit
        rows.append(
            [
                c.measure.label(scenario.partner_names, currency, route_names(scenario)),
                f"{c.op} {format_value(c.bound, unit, currency)}",
                format_value(value, unit, currency),
                "n/a" if x is None else where(x),
            ]
        )
    return rows
