"""The dashboard charts as PNG files, for pasting into a committee paper.

Four charts, each from the engine's :class:`~bondmodel.engine.Results` (the numbers the
workbook caches), each in a file of its own with a stable name (:data:`CHART_FILES`):

1. the programme's net cash flow by financial year, with its running total;
2. the bond's debt service due against the cash available for it (CFADS), by payment
   date (with a bond);
3. the net-savings fan: P5, P10, P50, P90 and P95 of each period's net savings across
   the simulated paths (with a Monte Carlo run);
4. the distribution of the minimum DSCR across the simulated paths (with a bond and a
   Monte Carlo run).

The data of each chart is computed by a function of its own (``*_data``), so the tests
check the numbers plotted against the engine's, not pixels. matplotlib (Agg backend) is
imported only when a chart is drawn, so commands that draw none stay quick to start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from bondmodel.dates import financial_year_start
from bondmodel.display import currency_symbol
from bondmodel.io import atomic_write
from bondmodel.labels import BOND_COLUMNS, BOND_METRICS, PERIOD_COLUMNS
from bondmodel.types import FloatArray

if TYPE_CHECKING:
    from bondmodel.engine import Results
    from bondmodel.risk.fitting import Fit, FitData

#: Each chart's file name (stable: a committee paper's links keep working after a rerun).
CHART_FILES: Final = {
    "cash_flows": "1-programme-cash-flows.png",
    "debt_service": "2-bond-debt-service.png",
    "fan": "3-net-savings-fan.png",
    "min_dscr": "4-minimum-dscr-distribution.png",
}
#: Size (inches) and resolution: 1,800 x 1,050 pixels, sharp at the width of an A4 page.
FIGURE_INCHES: Final = (9.0, 5.25)
DPI: Final = 200
#: Bins of the minimum-DSCR histogram (as the workbook's Risk sheet).
HISTOGRAM_BINS: Final = 30
#: The fan's percentiles, outer band first.
FAN_BANDS: Final = (("P5", "P95"), ("P10", "P90"))


@dataclass(frozen=True)
class CashFlowsByYear:
    """Net cash flow summed by financial year, and its running total (nominal)."""

    years: list[str]
    net: FloatArray
    cumulative: FloatArray


@dataclass(frozen=True)
class DebtService:
    """The bond's payments in the base case: date, CFADS and debt service due."""

    dates: list[date]
    cfads: FloatArray
    debt_service_due: FloatArray


@dataclass(frozen=True)
class Fan:
    """Percentiles of net savings by period across the simulated paths."""

    periods: list[str]
    levels: dict[str, FloatArray]
    paths: int


@dataclass(frozen=True)
class Histogram:
    """The minimum DSCR across the simulated paths: bin counts and edges, the base case,
    and how many paths had no debt service to cover (no DSCR)."""

    counts: FloatArray
    edges: FloatArray
    base: float | None
    paths: int
    undefined: int


def financial_year(day: date) -> str:
    """The UK financial year a day falls in, as ``2026/27``."""
    start = financial_year_start(day).year
    return f"{start}/{(start + 1) % 100:02d}"


def cash_flows_data(results: Results) -> CashFlowsByYear:
    """Net cash flow (nominal) by financial year: each period's flow is dated at its end
    (the close's at the close), as the methodology dates flows."""
    periods = results.periods
    years = [financial_year(day) for day in periods["period_end"]]
    order = list(dict.fromkeys(years))
    net_by_period = periods["net_cash_flow"].to_numpy(dtype=np.float64)
    net = np.zeros(len(order))
    for year, value in zip(years, net_by_period, strict=True):
        net[order.index(year)] += value
    return CashFlowsByYear(order, net, np.cumsum(net))


def debt_service_data(results: Results) -> DebtService | None:
    """Each payment's CFADS and debt service due (the issue left out); None without a bond."""
    if results.bond is None:
        return None
    table = results.bond.table.iloc[1:]
    return DebtService(
        list(table["date"]),
        table["cfads"].to_numpy(dtype=np.float64),
        table["debt_service_due"].to_numpy(dtype=np.float64),
    )


def fan_data(results: Results) -> Fan | None:
    """The simulation's net-savings fan; None without a simulation."""
    sim = results.risk
    if sim is None or "net_savings" not in sim.fans:
        return None
    frame = sim.fans["net_savings"]
    levels = {c: frame[c].to_numpy(dtype=np.float64) for c in frame.columns if c != "period"}
    return Fan([str(p) for p in frame["period"]], levels, sim.settings.paths)


def min_dscr_data(results: Results) -> Histogram | None:
    """The histogram of the minimum DSCR over the simulated paths (the workbook's bins);
    None without a bond or a simulation."""
    from bondmodel.workbook.riskcharts import histogram_range

    sim = results.risk
    if results.bond is None or sim is None or "min_dscr" not in sim.per_path.columns:
        return None
    stored = sim.per_path["min_dscr"].to_numpy()
    values = stored[np.isfinite(stored)].astype(np.float64)
    if values.size == 0:
        return None
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=histogram_range(values))
    return Histogram(
        counts.astype(np.float64),
        edges,
        results.bond.metrics["min_dscr"],
        int(stored.size),
        int(stored.size - values.size),
    )


def write_charts(results: Results, folder: Path) -> list[Path]:
    """Draw every chart ``results`` has data for into ``folder`` (created if missing, its
    parent must exist); each file is written atomically. Returns the files written."""
    check_chart_folder(folder)
    currency = results.scenario.meta.currency
    drawers: dict[str, Callable[[Any], Callable[[Any], None]]] = {
        "cash_flows": lambda d: lambda ax: _draw_cash_flows(ax, d, currency),
        "debt_service": lambda d: lambda ax: _draw_debt_service(ax, d, currency),
        "fan": lambda d: lambda ax: _draw_fan(ax, d, currency),
        "min_dscr": lambda d: lambda ax: _draw_histogram(ax, d),
    }
    data: dict[str, Any] = {
        "cash_flows": cash_flows_data(results),
        "debt_service": debt_service_data(results),
        "fan": fan_data(results),
        "min_dscr": min_dscr_data(results),
    }
    folder.mkdir(exist_ok=True)
    written = []
    for key, name in CHART_FILES.items():
        if data[key] is None:
            continue
        written.append(_save(folder / name, drawers[key](data[key]), results.scenario.meta.name))
    return written


def stale_charts(folder: Path, written: list[Path]) -> list[Path]:
    """Chart files of an earlier run in ``folder`` that this run did not draw (a scenario
    without a bond or a simulation has no such chart): they would show another run."""
    names = {p.name for p in written}
    return [folder / n for n in CHART_FILES.values() if n not in names and (folder / n).is_file()]


def check_chart_folder(folder: Path) -> None:
    """Refuse, before anything runs, a chart folder that is a file or cannot be made."""
    from bondmodel.errors import ScenarioError

    if folder.exists() and not folder.is_dir():
        raise ScenarioError(
            f"--png: {folder} is a file, not a folder; give a folder for the charts"
        )
    parent = folder.parent if str(folder.parent) else Path(".")
    if not folder.exists() and not parent.is_dir():
        raise ScenarioError(
            f"--png: {folder}: its parent folder {parent} does not exist; create it first"
        )


def _money_axis(currency: str) -> str:
    """The money axis's unit: ``£m``, or ``EUR m`` for another currency."""
    return f"{currency_symbol(currency).strip()}{'m' if currency == 'GBP' else ' m'}"


def _millions(value: float, _: object = None) -> str:
    """A tick in millions, negatives in brackets as the workbook shows them."""
    text = f"{abs(value) / 1e6:,.1f}"
    return f"({text})" if value < -0.5e5 else text


def _save(path: Path, draw: Callable[[Any], None], scenario_name: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGURE_INCHES, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    draw(ax)
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.text(0.995, 0.005, scenario_name, ha="right", va="bottom", fontsize=7, color="#666666")

    def write(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})

    return atomic_write(path, write)


def _draw_cash_flows(ax: Any, d: CashFlowsByYear, currency: str) -> None:
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    x = np.arange(len(d.years))
    colours = ["#2e7d32" if v >= 0 else "#c62828" for v in d.net]
    ax.bar(x, d.net, color=colours, width=0.7)
    (line,) = ax.plot(x, d.cumulative, color="#1f3864", marker="o", markersize=3, linewidth=2)
    ax.axhline(0, color="#333333", linewidth=0.8)
    ax.set_xticks(x, d.years, rotation=45, ha="right", fontsize=8)
    ax.yaxis.set_major_formatter(FuncFormatter(_millions))
    ax.set_xlabel("Financial year (1 April to 31 March)")
    ax.set_ylabel(f"{_money_axis(currency)}, nominal")
    ax.set_title("Programme net cash flow by financial year (savings less all costs)")
    # one legend entry per bar colour, then the running total
    ax.legend(
        [Patch(color="#2e7d32"), Patch(color="#c62828"), line],
        [
            "Net cash flow in the year: inflow",
            "Net cash flow in the year: outflow",
            PERIOD_COLUMNS["cumulative_net_cash_flow"].label,
        ],
        loc="upper left",
        fontsize=8,
        frameon=False,
    )


def _draw_debt_service(ax: Any, d: DebtService, currency: str) -> None:
    from matplotlib.ticker import FuncFormatter

    x = np.arange(len(d.dates))
    ax.bar(x - 0.2, d.cfads, width=0.4, color="#5b9bd5", label=BOND_COLUMNS["cfads"].label)
    ax.bar(
        x + 0.2,
        d.debt_service_due,
        width=0.4,
        color="#ed7d31",
        label=BOND_COLUMNS["debt_service_due"].label,
    )
    ax.set_xticks(
        x, [day.strftime("%b %Y") for day in d.dates], rotation=45, ha="right", fontsize=8
    )
    ax.yaxis.set_major_formatter(FuncFormatter(_millions))
    ax.set_xlabel("Payment date")
    ax.set_ylabel(f"{_money_axis(currency)}, nominal")
    ax.set_title("Bond: debt service due against the cash available for it (base case)")
    ax.legend(loc="upper left", fontsize=8, frameon=False)


def _draw_fan(ax: Any, d: Fan, currency: str) -> None:
    from matplotlib.ticker import FuncFormatter

    x = np.arange(len(d.periods))
    for (low, high), shade in zip(FAN_BANDS, ("#c6dbef", "#6baed6"), strict=True):
        ax.fill_between(
            x,
            d.levels[low],
            d.levels[high],
            color=shade,
            linewidth=0,
            label=f"{low} to {high}: {_band_words(low, high)}",
        )
    ax.plot(x, d.levels["P50"], color="#08306b", linewidth=2, label="P50 (median)")
    ax.axhline(0, color="#333333", linewidth=0.8)
    step = max(1, len(x) // 20)
    ax.set_xticks(x[::step], d.periods[::step], rotation=45, ha="right", fontsize=8)
    ax.yaxis.set_major_formatter(FuncFormatter(_millions))
    ax.set_xlabel("Period")
    ax.set_ylabel(f"Net savings in the period ({_money_axis(currency)}, nominal)")
    ax.set_title(f"Net savings: range across {d.paths:,} simulated paths")
    ax.legend(loc="upper left", fontsize=8, frameon=False)


def _band_words(low: str, high: str) -> str:
    share = int(high[1:]) - int(low[1:])
    return f"{share}% of paths fall in this band"


def _draw_histogram(ax: Any, d: Histogram) -> None:
    widths = np.diff(d.edges)
    ax.bar(
        d.edges[:-1],
        d.counts,
        width=widths,
        align="edge",
        color="#5b9bd5",
        edgecolor="white",
        linewidth=0.5,
        label="Simulated paths",
    )
    ax.axvline(
        1.0,
        color="#c62828",
        linestyle="--",
        linewidth=1.5,
        label="1.00x: cash just covers debt service",
    )
    if d.base is not None:
        ax.axvline(d.base, color="#08306b", linewidth=1.5, label=f"Base case: {d.base:,.2f}x")
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:,.2f}x")
    ax.set_xlabel(f"{BOND_METRICS['min_dscr'].label} over the bond's life (x)")
    ax.set_ylabel("Number of simulated paths")
    note = f", {d.undefined:,} with no debt service" if d.undefined else ""
    ax.set_title(f"Minimum DSCR across {d.paths:,} simulated paths{note}")
    ax.legend(loc="upper right", fontsize=8, frameon=False)


#: Line colours of the fitted families on the fit chart, the chosen family first.
FIT_COLOURS: Final = ("#1f3864", "#c62828", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#795548")


def write_fit_chart(data: FitData, fits: Sequence[Fit], path: Path) -> Path:
    """The fit chart of ``bondmodel fit``, written atomically to ``path``: on the left the
    data's histogram (as a density) under each fitted density, on the right the P-P plot of
    each fit (:func:`bondmodel.risk.fitting.pp_points`). ``fits[0]`` (the chosen family)
    is drawn first and thickest."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from bondmodel.risk.fitting import pp_points

    fig = Figure(figsize=(FIGURE_INCHES[0] * 1.25, FIGURE_INCHES[1]), dpi=DPI, layout="constrained")
    hist, pp = fig.subplots(1, 2)
    x = data.values
    hist.hist(x, bins="auto", density=True, color="#cfd8e3", edgecolor="#8896a8", label="Data")
    grid = np.linspace(x.min() - 0.1 * np.ptp(x), x.max() + 0.1 * np.ptp(x), 400)
    pp.plot([0, 1], [0, 1], color="#999999", linewidth=0.8, linestyle="--")
    for i, fit in enumerate(fits):
        colour = FIT_COLOURS[i % len(FIT_COLOURS)]
        width = 2.4 if i == 0 else 1.2
        label = fit.family.name + (" (chosen)" if i == 0 else "")
        with np.errstate(all="ignore"):
            hist.plot(grid, fit.frozen().pdf(grid), color=colour, linewidth=width, label=label)
        empirical, fitted = pp_points(data, fit)
        pp.plot(empirical, fitted, color=colour, linewidth=width, marker="o", markersize=2.5)
    hist.set_title(f"Column '{data.column}': {x.size} values and the fitted densities")
    hist.set_xlabel(data.column)
    hist.set_ylabel("Density")
    hist.legend(fontsize=8, frameon=False)
    pp.set_title("P-P plot: on the diagonal where a fit is right")
    pp.set_xlabel("Empirical cumulative probability, (i - 0.5)/n")
    pp.set_ylabel("Fitted cumulative probability, F(x_(i))")
    pp.set_xlim(0, 1)
    pp.set_ylim(0, 1)
    for ax in (hist, pp):
        ax.grid(color="#dddddd", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.text(0.995, 0.005, data.path.name, ha="right", va="bottom", fontsize=7, color="#666666")

    def write(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})

    return atomic_write(path, write)
