"""The headline metrics of a run, as ``bondmodel run`` prints them on the terminal.

The headline measures (:data:`BOND_TILES`, :data:`PROGRAMME_TILES`) are defined here, once:
the workbook's Summary dashboard (``workbook/dashboard.py``) shows them as tiles and ``run``
as a table, the base case beside the simulation's P10, P50 and P90, then the
probabilities of the events a committee asks about (a shortfall, an investor loss, a
council top-up, ...), each labelled in words as the
design tools label ``P(...)``. Values are formatted by :mod:`bondmodel.display`, so
the terminal shows what the workbook shows (``£1,234,567``, ``5.25%``, ``1.32x``).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from bondmodel.display import DEFAULT_WIDTH, currency_symbol, format_value, text_table
from bondmodel.labels import (
    BOND_METRICS,
    METRICS,
    PATH_EVENTS,
    ROUTE_RISK,
    ROUTE_SUMMARY,
    Column,
    finite_or_none,
)

if TYPE_CHECKING:
    from bondmodel.engine import Results

#: A headline measure: a metric of the base case (on the Metrics sheet), or a simulated
#: probability.
TileKind = Literal["metric", "probability"]
#: How a headline's figures are shown: money (£m on the dashboard), a percentage, a cover
#: ratio (x) or years.
TileUnit = Literal["money", "rate", "ratio", "years"]


@dataclass(frozen=True)
class Tile:
    """One headline measure: its key (``metrics.KEY`` on the Metrics sheet, or a row of the
    simulation's probabilities), its words and how its figures are shown."""

    key: str
    label: str
    unit: TileUnit
    kind: TileKind = "metric"


def _metric(key: str) -> Tile:
    column = METRICS[key] if key in METRICS else BOND_METRICS[key]
    unit = column.unit
    assert unit in ("money", "rate", "ratio", "years"), unit
    return Tile(key, column.label, unit)


#: The headlines of a scenario with a bond, in reading order: the Summary dashboard's tiles
#: (four a row) and the rows of ``run``'s table (the probability in its own table).
BOND_TILES: Final = (
    _metric("npv"),
    _metric("council_npv"),
    _metric("investor_irr"),
    _metric("min_dscr"),
    _metric("peak_funding_need"),
    Tile("p_any_shortfall", f"Probability of {PATH_EVENTS['shortfall']}", "rate", "probability"),
    _metric("council_npv_vs_pwlb"),
    _metric("payback_years"),
)
#: The headlines of a programme without a bond.
PROGRAMME_TILES: Final = (
    _metric("npv"),
    _metric("payback_years"),
    _metric("peak_funding_need"),
    Tile("p_programme_npv_negative", "Probability the NPV is negative", "rate", "probability"),
    Tile("p_no_payback", "Probability of no payback in the horizon", "rate", "probability"),
)


def tiles(results: Results) -> tuple[Tile, ...]:
    """The headlines of ``results``: the bond's when there is one."""
    return BOND_TILES if results.bond is not None else PROGRAMME_TILES


#: Said once under the sentences of :meth:`Headline.context`.
CONTEXT_NOTE: Final = (
    "The base case takes every input at its central value; the simulation draws them from "
    "their distributions, so the two need not agree, and a base case outside P10-P90 is one "
    "the simulation finds unusual."
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
    #: where the base case falls among the simulated paths (0-100), None without a simulation
    base_percentile: float | None = None

    def context(self, currency: str = "GBP") -> str | None:
        """A plain sentence when the base case lies outside the simulated P10-P90 range
        (None inside it, or without a simulation): a reader must see that the central
        inputs give a figure the simulation finds unusual."""
        low, high = self.percentiles[0], self.percentiles[-1]
        if self.base is None or low is None or high is None or self.base_percentile is None:
            return None
        if low <= self.base <= high:
            return None
        side, level = ("above", high) if self.base > high else ("below", low)
        pct = self.base_percentile
        share = 100.0 - pct if side == "above" else pct
        unit = self.column.unit
        return (
            f"{self.column.label}: the base case, {format_value(self.base, unit, currency)}, "
            f"lies {side} the simulated {'P90' if side == 'above' else 'P10'}, "
            f"{format_value(level, unit, currency)}, at the {ordinal(pct)} percentile: only "
            f"{share:.0f}% of simulated paths are {side} it."
        )


def headline_metrics(results: Results) -> list[Headline]:
    """The Summary sheet's metrics for ``results``: base case and, after a simulation,
    P10/P50/P90 (None for a metric the simulation does not record per path)."""
    bond = results.bond.metrics if results.bond is not None else {}
    keys = [
        (
            t.key,
            METRICS.get(t.key) or BOND_METRICS[t.key],
            results.metrics.get(t.key, bond.get(t.key)),
        )
        for t in tiles(results)
        if t.kind == "metric"
    ]
    sim = results.risk
    out = []
    for key, column, base in keys:
        rank = None
        if sim is None or key not in sim.summary.columns:
            levels: tuple[float | None, ...] = (None,) * len(PERCENTILES)
        else:
            levels = tuple(_defined(sim.summary[key][stat]) for stat in PERCENTILES)
            rank = _defined(sim.base_case[key]["percentile"])
        out.append(Headline(key, column, _defined(base), levels, rank))
    return out


def ordinal(percentile: float) -> str:
    """A percentile in words as a committee reads it: 96th, 1st, 52nd (rounded, 0 to 100)."""
    n = round(percentile)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def base_percentile_text(percentile: float | None) -> str:
    """The base case's place in the simulation, short: "P96" (n/a without one)."""
    return "n/a" if percentile is None else f"P{round(percentile)}"


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
    headers = ["Metric", "Base case"] + (
        [*(s.upper() for s in PERCENTILES), "Base case at"] if sim else []
    )
    rows = []
    items = headline_metrics(results)
    for item in items:
        values = [item.base, *(item.percentiles if sim else ())]
        row = [item.column.label, *(format_value(v, item.column.unit, currency) for v in values)]
        if sim:
            row.append(base_percentile_text(item.base_percentile))
        rows.append(row)
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
            *_context_lines(items, currency, width),
            "",
            *textwrap.wrap(
                f"Base case from the engine; P10/P50/P90 and probabilities from the Monte "
                f"Carlo run (seed {sim.settings.seed}, {sim.settings.paths:,} paths).",
                width,
            ),
        ]
    else:
        lines += ["", "Base case only: no Monte Carlo run."]
    if results.routes is not None:
        lines += ["", *routes_text(results, width)]
    return "\n".join(lines)


def context_sentences(items: list[Headline], currency: str) -> list[str]:
    """The sentences for the headline figures whose base case lies outside P10-P90, with
    :data:`CONTEXT_NOTE` after them (empty when every base case lies inside)."""
    sentences = [c for item in items if (c := item.context(currency)) is not None]
    return [*sentences, CONTEXT_NOTE] if sentences else []


def _context_lines(items: list[Headline], currency: str, width: int) -> list[str]:
    return [
        line
        for sentence in context_sentences(items, currency)
        for line in ["", *textwrap.wrap(sentence, width)]
    ]


#: The columns of the funding routes' table ``run`` prints (keys of ``Results.routes.summary``,
#: then of ``Results.routes.risk`` after a simulation).
ROUTE_COLUMNS: Final = (
    "council_npv",
    "peak_cash_need",
    "reserves_needed",
    "max_band_d",
    "lawful_for_revenue_costs",
)
#: After a simulation: the council's NPV on average and in a bad year in ten (a route that
#: passes a savings shortfall to investors can rank differently here than on the base case),
#: and who bears a shortfall.
ROUTE_RISK_COLUMNS: Final = (
    "mean_council_npv",
    "p10_council_npv",
    "p_council_shortfall",
    "p_investor_shortfall",
)


def _pence(value: float, currency: str) -> str:
    """Money to the penny (a Band D equivalent is pounds and pence a year)."""
    text = f"{currency_symbol(currency)}{abs(value):,.2f}"
    return f"({text})" if value < 0 else text


def routes_text(results: Results, width: int = DEFAULT_WIDTH) -> list[str]:
    """The funding routes compared, as ``run`` prints them: one row per route, then each
    route's flags in words (an unlawful or ineligible route is never shown without them)."""
    routes = results.routes
    if routes is None:
        return []
    currency = results.scenario.meta.currency
    columns = [ROUTE_SUMMARY[key] for key in ROUTE_COLUMNS]
    risk = routes.risk
    if risk is not None:
        columns += [ROUTE_RISK[key] for key in ROUTE_RISK_COLUMNS]
    rows = []
    for i, (_, row) in enumerate(routes.summary.iterrows()):
        values = [row[key] for key in ROUTE_COLUMNS]
        if risk is not None:
            values += [risk.iloc[i][key] for key in ROUTE_RISK_COLUMNS]
        rows.append(
            [str(row["route"])]
            + [
                _pence(v, currency)
                if c is ROUTE_SUMMARY["max_band_d"]
                else format_value(v, c.unit, currency)
                for v, c in zip(values, columns, strict=True)
            ]
        )
    lines = [text_table(["Funding route", *(c.label for c in columns)], rows, width=width)]
    flagged = [row for _, row in routes.summary.iterrows() if row["flags"]]
    if flagged:
        lines.append("")
    for row in flagged:
        lines += textwrap.wrap(f"{row['route']}: {row['flags']}", width, subsequent_indent="  ")
    return lines


def _defined(value: float | None) -> float | None:
    """A value as a float, or None where it is undefined (no IRR, no payback)."""
    return None if value is None else finite_or_none(value)
