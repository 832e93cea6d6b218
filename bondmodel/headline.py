"""The headline metrics of a run, as ``bondmodel run`` prints them on the terminal.

The same metrics, labels and units as the workbook's Summary sheet
(``workbook/overview.py`` ``summary_sheet``): the base case beside the simulation's
P10, P50 and P90, then the probabilities of the events a committee asks about
(a shortfall, an investor loss, a council top-up, ...), each labelled in words as the
design tools label ``P(...)``. Values are formatted by :mod:`bondmodel.display`, so
the terminal shows what the workbook shows (``£1,234,567``, ``5.25%``, ``1.32x``).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from bondmodel.display import DEFAULT_WIDTH, format_value, text_table
from bondmodel.labels import BOND_METRICS, METRICS, Column, finite_or_none

if TYPE_CHECKING:
    from bondmodel.engine import Results

#: The Summary sheet's programme metrics, then (with a bond) its bond metrics, in its reading
#: order (``tests/test_report.py`` reads the sheet and fails when the two disagree).
PROGRAMME_HEADLINE: Final = ("npv", "payback_years", "peak_funding_need")
BOND_HEADLINE: Final = (
    "council_npv",
    "investor_irr",
    "min_dscr",
    "total_topup",
    "investor_loss",
    "council_npv_vs_pwlb",
)
#: The simulation's percentiles shown beside the base case (columns of ``Simulation.summary``).
PERCENTILES: Final = ("p10", "p50", "p90")


@dataclass(frozen=True)
class Headline:
    """One headline metric: its key, label and unit, the base case and its percentiles
    (None where undefined or not simulated)."""

    key: str
    column: Column
    base: float | None
    percentiles: tuple[float | None, ...]


def headline_metrics(results: Results) -> list[Headline]:
    """The Summary sheet's metrics for ``results``: base case and, after a simulation,
    P10/P50/P90 (None for a metric the simulation does not record per path)."""
    keys = [(k, METRICS[k], results.metrics[k]) for k in PROGRAMME_HEADLINE]
    if results.bond is not None:
        keys += [(k, BOND_METRICS[k], results.bond.metrics[k]) for k in BOND_HEADLINE]
    sim = results.risk
    out = []
    for key, column, base in keys:
        if sim is None or key not in sim.summary.columns:
            levels: tuple[float | None, ...] = (None,) * len(PERCENTILES)
        else:
            levels = tuple(_defined(sim.summary[key][stat]) for stat in PERCENTILES)
        out.append(Headline(key, column, _defined(base), levels))
    return out


def event_probabilities(results: Results) -> list[tuple[str, float | None]]:
    """The simulation's event probabilities, each labelled in words ("Probability of a
    shortfall"), in the order of :data:`bondmodel.risk.events.EVENTS`; empty without one."""
    from bondmodel.design.measures import Measure
    from bondmodel.risk.events import EVENTS

    sim = results.risk
    if sim is None:
        return []
    out = []
    for event in EVENTS:
        if event.key not in sim.probabilities.index or event.op is None:
            continue
        measure = Measure(f"P({event.metric})", "prob", event.metric, op=event.op, level=0.0)
        label = measure.label(results.scenario.partner_names, results.scenario.meta.currency)
        out.append((label, _defined(float(sim.probabilities["value"][event.key]))))
    return out


def headline_text(results: Results, width: int = DEFAULT_WIDTH) -> str:
    """What ``bondmodel run`` prints: the headline metrics as a table, and the
    probabilities of the simulation's events."""
    currency = results.scenario.meta.currency
    sim = results.risk
    headers = ["Metric", "Base case"] + ([s.upper() for s in PERCENTILES] if sim else [])
    rows = []
    for item in headline_metrics(results):
        values = [item.base, *(item.percentiles if sim else ())]
        rows.append(
            [item.column.label, *(format_value(v, item.column.unit, currency) for v in values)]
        )
    lines = [f"Summary: {results.scenario.meta.name}", "", text_table(headers, rows, width=width)]
    if sim is not None:
        probabilities = event_probabilities(results)
        lines += [
            "",
            text_table(
                ["Risk (simulation)", "Probability"],
                [[label, format_value(p, "rate")] for label, p in probabilities],
                width=width,
            ),
            "",
            *textwrap.wrap(
                f"Base case from the engine; P10/P50/P90 and probabilities from the Monte "
                f"Carlo run (seed {sim.settings.seed}, {sim.settings.paths:,} paths).",
                width,
            ),
        ]
    else:
        lines += ["", "Base case only: no Monte Carlo run."]
    return "\n".join(lines)


def _defined(value: float | None) -> float | None:
    """A value as a float, or None where it is undefined (no IRR, no payback)."""
    return None if value is None else finite_or_none(value)
