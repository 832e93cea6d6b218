"""``compare`` and ``sweep``: structures side by side on common random numbers.

``compare`` evaluates several scenarios (structures) with one seed and reports
the key measures of each, which structure is best on each measure, and for each
pair how often one beats the other path by path. ``sweep`` evaluates a grid of
variations of one scenario the same way and reports a table and, over one or
two varied fields, a heat map per measure.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bondmodel.design.measures import Better, Evaluation, SharedDraws, evaluate, parse_measure
from bondmodel.design.variation import Variation, with_value
from bondmodel.display import in_sentence
from bondmodel.errors import ScenarioError
from bondmodel.labels import finite_or_none, route_names
from bondmodel.scenario.schema import Scenario

#: The measures a comparison reports (bond measures are left out of a programme without a
#: bond). Each one's good direction, and whether the council counts it, is the
#: ``measures.BETTER`` table's.
KEY_MEASURES: tuple[str, ...] = (
    "principal",
    "investor_irr",
    "npv",
    "council_npv",
    "min_dscr",
    "council_npv_vs_pwlb",
    "P10(council_npv)",
    "P50(council_npv)",
    "P90(council_npv)",
    "P10(min_dscr)",
    "P50(min_dscr)",
    "P90(min_dscr)",
    "P10(investor_irr)",
    "P50(investor_irr)",
    "P90(investor_irr)",
    "P(shortfall)",
    "P(investor_loss)",
    "P(total_topup)",
    "P(council_npv_vs_pwlb < 0)",
    "P10(npv)",
    "P50(npv)",
    "P90(npv)",
)
#: Percentiles of the S-curves.
S_CURVE = tuple(range(1, 100))
#: Most structures a sweep may evaluate.
MAX_CELLS = 2_000


@dataclass(frozen=True)
class Row:
    """One measure across the structures: values, standard errors and the best structure.

    ``better`` is the measure's own good direction; ``direction`` the council's (the same
    sign where the council counts the measure, else 0).
    """

    measure: str
    better: Better
    values: tuple[float, ...]
    errors: tuple[float, ...]

    @property
    def direction(self) -> int:
        return self.better.sign if self.better.council else 0

    @property
    def best(self) -> tuple[int, ...]:
        """The best structures for the council (several if tied; none without a direction or
        if all tie)."""
        return _best(self.values, self.direction)

    @property
    def best_own(self) -> tuple[int, ...]:
        """The best structures in the measure's own direction, whoever it favours."""
        return _best(self.values, self.better.sign)


def _best(values: tuple[float, ...], sign: int) -> tuple[int, ...]:
    if sign == 0:
        return ()
    finite = [(v * sign, i) for i, v in enumerate(values) if math.isfinite(v)]
    if len(finite) < 2:
        return ()
    top = max(v for v, _ in finite)
    best = tuple(i for v, i in finite if v == top)
    return () if len(best) == len(values) else best


def measure_rows(evaluations: list[Evaluation], measures: tuple[str, ...]) -> list[Row]:
    """Each measure that applies to every structure, evaluated on each."""
    rows = []
    for text in measures:
        measure = parse_measure(text)
        try:
            pairs = [measure.value(ev) for ev in evaluations]
        except ScenarioError:
            continue  # a bond measure of a programme without a bond, say
        if measure.kind != "base" and all(ev.paths == 0 for ev in evaluations):
            continue  # a statistic of a run with no simulation says nothing more
        rows.append(
            Row(text, measure.better, tuple(v for v, _ in pairs), tuple(e for _, e in pairs))
        )
    return rows


def s_curves(evaluations: list[Evaluation], metric: str) -> dict[str, list[float | None]]:
    """Percentiles 1..99 of ``metric`` for each structure (None where undefined)."""
    out: dict[str, list[float | None]] = {}
    for ev in evaluations:
        values = ev.per_path(metric)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            out[ev.label] = [None] * len(S_CURVE)
            continue
        levels = np.percentile(finite, S_CURVE, method="linear")
        out[ev.label] = [float(x) for x in levels]
    return out


def pathwise(evaluations: list[Evaluation], metric: str) -> list[list[float | None]]:
    """``[i][j]``: the share of paths on which structure i's metric beats structure j's.

    Common random numbers make this a comparison of the same futures.
    """
    data = [ev.per_path(metric) for ev in evaluations]
    out: list[list[float | None]] = []
    for a in data:
        row: list[float | None] = []
        for b in data:
            ok = np.isfinite(a) & np.isfinite(b) if a.shape == b.shape else None
            row.append(None if ok is None or not ok.any() else float((a[ok] > b[ok]).mean()))
        out.append(row)
    return out


def key_metric(evaluations: list[Evaluation]) -> str:
    """The metric the S-curves and path-by-path table use: council NPV with a bond."""
    return "council_npv" if all(ev.results.bond is not None for ev in evaluations) else "npv"


@dataclass(frozen=True)
class Comparison:
    """The result of ``compare``."""

    evaluations: list[Evaluation]
    rows: list[Row]
    metric: str
    curves: dict[str, list[float | None]]
    beats: list[list[float | None]]
    seed: int
    sampler: str
    paths: int
    notes: list[str]

    def statements(self, words: bool = False) -> list[str]:
        """Which structure is best for the council on which measure: each measure as written
        (as --json gives them) or, with ``words``, by its label ("the lowest probability of a
        shortfall", as the workbook gives them)."""
        labels = [ev.label for ev in self.evaluations]
        scenario = self.evaluations[0].scenario
        out = []
        for row in self.rows:
            if not row.best:
                continue
            word = "highest" if row.direction > 0 else "lowest"
            names = " and ".join(labels[i] for i in row.best)
            verb = "has" if len(row.best) == 1 else "have"
            measure = row.measure
            if words:
                label = parse_measure(measure).label(
                    scenario.partner_names, scenario.meta.currency, route_names(scenario)
                )
                measure = in_sentence(label)
            out.append(f"{names} {verb} the {word} {measure}")
        for i in self.always_best():
            out.append(f"{labels[i]} is best (or tied) on every measure that tells them apart")
        return out

    def always_best(self) -> list[int]:
        """The structures best for the council (or tied) on every measure that tells the
        structures apart."""
        decided = [set(row.best) for row in self.rows if row.best]
        return sorted(set.intersection(*decided)) if decided else []

    def as_json(self) -> dict[str, Any]:
        labels = [ev.label for ev in self.evaluations]
        return {
            "seed": self.seed,
            "sampler": self.sampler,
            "paths": self.paths,
            "structures": [
                {
                    "label": ev.label,
                    "scenario": ev.scenario.meta.name,
                    "sha256": ev.scenario.sha256(),
                }
                for ev in self.evaluations
            ],
            "measures": {
                row.measure: {
                    label: {"value": finite_or_none(v), "se": finite_or_none(e)}
                    for label, v, e in zip(labels, row.values, row.errors, strict=True)
                }
                | {"best": [labels[i] for i in row.best]}
                for row in self.rows
            },
            "statements": self.statements(),
            "s_curve_metric": self.metric,
            "s_curves": {"percentiles": list(S_CURVE), **self.curves},
            "pathwise_share_better": {
                a: dict(zip(labels, row, strict=True))
                for a, row in zip(labels, self.beats, strict=True)
            },
            "notes": self.notes,
        }


def compare(scenarios: list[tuple[str, Scenario]], draws: SharedDraws) -> Comparison:
    """Evaluate each (label, scenario) on the same draws and compare them."""
    if len(scenarios) < 2:
        raise ScenarioError("compare: give at least two scenarios")
    labels = [label for label, _ in scenarios]
    if len(set(labels)) != len(labels):
        raise ScenarioError(f"compare: the structures' labels repeat: {labels}")
    notes = common_draw_notes([sc for _, sc in scenarios])
    evaluations = [evaluate(label, sc, draws) for label, sc in scenarios]
    metric = key_metric(evaluations)
    ran = {ev.paths for ev in evaluations}
    return Comparison(
        evaluations=evaluations,
        rows=measure_rows(evaluations, KEY_MEASURES),
        metric=metric,
        curves=s_curves(evaluations, metric),
        beats=pathwise(evaluations, metric),
        seed=draws.seed,
        sampler=draws.sampler,
        paths=max(ran),
        notes=notes,
    )


def common_draw_notes(scenarios: list[Scenario]) -> list[str]:
    """Warn where the structures do not share their draws (different [risk] sections)."""
    risks = {sc.risk.model_dump_json() if sc.risk is not None else "" for sc in scenarios}
    if len(risks) > 1:
        return [
            "the structures' [risk] sections differ, so their draws are common only as far as "
            "their risk inputs agree: differences include sampling noise"
        ]
    return []


# ---------------------------------------------------------------------------
# Sweep
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    """The result of ``sweep``: one evaluation per grid cell, in grid order."""

    variations: list[Variation]
    cells: list[tuple[Any, ...]]
    evaluations: list[Evaluation]
    rows: list[Row]
    seed: int
    sampler: str
    paths: int
    notes: list[str]

    def heatmaps(self) -> dict[str, dict[str, Any]]:
        """Per measure: rows = the first field's values, columns = the second's (if any)."""
        if len(self.variations) > 2:
            return {}
        first = list(self.variations[0].values)
        second = list(self.variations[1].values) if len(self.variations) == 2 else [None]
        out: dict[str, dict[str, Any]] = {}
        for row in self.rows:
            grid: list[list[float | None]] = [[None] * len(second) for _ in first]
            for cell, value in zip(self.cells, row.values, strict=True):
                i = first.index(cell[0])
                j = second.index(cell[1]) if len(cell) > 1 else 0
                grid[i][j] = finite_or_none(value)
            out[row.measure] = {
                "rows": {"field": self.variations[0].path, "values": first},
                "columns": None
                if len(self.variations) == 1
                else {
                    "field": self.variations[1].path,
                    "values": second,
                },
                "values": grid,
            }
        return out

    def as_json(self) -> dict[str, Any]:
        fields = [v.path for v in self.variations]
        return {
            "seed": self.seed,
            "sampler": self.sampler,
            "paths": self.paths,
            "fields": fields,
            "table": [
                dict(zip(fields, cell, strict=True))
                | {row.measure: finite_or_none(row.values[k]) for row in self.rows}
                for k, cell in enumerate(self.cells)
            ],
            "heatmaps": self.heatmaps(),
            "notes": self.notes,
        }


def grid_cells(variations: list[Variation]) -> list[tuple[Any, ...]]:
    """Every combination of the variations' values, in grid order; refused (before anything
    runs) with no variation, a field varied twice, or more than ``MAX_CELLS`` structures."""
    if not variations:
        raise ScenarioError("sweep: give at least one --vary PATH=VALUES")
    if len({v.path for v in variations}) != len(variations):
        raise ScenarioError("sweep: a field is varied twice")
    count = math.prod(len(v.values) for v in variations)
    if count > MAX_CELLS:
        raise ScenarioError(f"variations: {count:,} structures; at most {MAX_CELLS:,}")
    return list(itertools.product(*(v.values for v in variations)))


def sweep(
    scenario: Scenario,
    variations: list[Variation],
    draws: SharedDraws,
    measures: tuple[str, ...] = KEY_MEASURES,
) -> Sweep:
    """Evaluate every combination of the variations' values on the same draws."""
    cells = grid_cells(variations)
    evaluations = []
    for cell in cells:
        varied = scenario
        for variation, value in zip(variations, cell, strict=True):
            varied = with_value(varied, variation.path, value)
        label = ", ".join(f"{v.path}={value}" for v, value in zip(variations, cell, strict=True))
        evaluations.append(evaluate(label, varied, draws))
    return Sweep(
        variations=variations,
        cells=cells,
        evaluations=evaluations,
        rows=measure_rows(evaluations, measures),
        seed=draws.seed,
        sampler=draws.sampler,
        paths=max(ev.paths for ev in evaluations),
        notes=[],
    )


def parse_measures(texts: list[str] | None) -> tuple[str, ...]:
    """``--measure`` options (default: the key measures), each checked now."""
    if not texts:
        return KEY_MEASURES
    return tuple(parse_measure(text).text for text in texts)
