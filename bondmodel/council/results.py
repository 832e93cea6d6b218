"""The funding routes compared, as DataFrames and JSON (``Results.routes``).

One row per route (``summary``), the General Fund by route and financial year (``budget``),
the Prudential Code indicators by route and financial year with the council's position
before the programme (``prudential``) and, after a simulation, who bears a savings
shortfall on the simulated paths (``risk``). Columns: :data:`bondmodel.labels.ROUTE_SUMMARY`,
``ROUTE_BUDGET``, ``ROUTE_PRUDENTIAL``, ``ROUTE_RISK``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from bondmodel.council.prudential import Indicators
from bondmodel.council.routes import RouteView, YearGrid, route_views
from bondmodel.labels import (
    ROUTE_BUDGET,
    ROUTE_PRUDENTIAL,
    ROUTE_RISK,
    ROUTE_SUMMARY,
    route_metric,
)

if TYPE_CHECKING:
    from bondmodel.model import Evaluation, Model
    from bondmodel.risk.results import Simulation

#: The name of the council's position before the programme in the Prudential table.
BEFORE: Final = "Before the programme"


@dataclass(frozen=True)
class RouteResults:
    """The funding routes compared on the base case (and, after a simulation, on its paths).

    Attributes
    ----------
    summary : one row per route (columns :data:`~bondmodel.labels.ROUTE_SUMMARY`).
    budget : one row per route and financial year (``ROUTE_BUDGET``).
    prudential : one row per route and financial year, the council before the programme
        first (``ROUTE_PRUDENTIAL``).
    risk : one row per route over the simulated paths (``ROUTE_RISK``); None without a
        simulation.
    views : each route's base case as arrays (budget effect, indicators, flags).
    base_metrics : each route's per-path metrics on the base case (``route_npv_0``, ...).
    """

    summary: pd.DataFrame
    budget: pd.DataFrame
    prudential: pd.DataFrame
    risk: pd.DataFrame | None
    views: tuple[RouteView, ...]
    base_metrics: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        """The tables as lists of records (undefined numbers as null)."""
        frames = {
            "summary": self.summary,
            "budget": self.budget,
            "prudential": self.prudential,
            "risk": self.risk,
        }
        return {key: None if frame is None else _records(frame) for key, frame in frames.items()}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({str(k): _plain(v) for k, v in row.items()})
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return number if np.isfinite(number) else None
    return value


def route_results(
    model: Model, base: Evaluation, simulation: Simulation | None = None
) -> RouteResults:
    """The routes of ``model`` on its base case ``base``, with the simulation's paths."""
    scenario = model.scenario
    council = scenario.council
    if council is None or not model.routes:
        raise ValueError("the scenario has no routes")
    years, before, views = route_views(
        scenario, model.timeline, model.routes, base.flows, base.bond, model.grid
    )
    summary = pd.DataFrame(
        [_summary_row(view, council.tax_base_band_d) for view in views], columns=list(ROUTE_SUMMARY)
    )
    budget = pd.concat(
        [_budget_rows(view, years, council.tax_base_band_d) for view in views], ignore_index=True
    )
    prudential = pd.concat(
        [_prudential_rows(BEFORE, before, years)]
        + [_prudential_rows(view.terms.name, view.indicators, years) for view in views],
        ignore_index=True,
    )
    risk = None if simulation is None else _risk_rows(model, simulation)
    base_metrics = {
        key: float(value[0]) for key, value in base.path_metrics.items() if route_metric(key)
    }
    return RouteResults(summary, budget, prudential, risk, tuple(views), base_metrics)


def _summary_row(view: RouteView, tax_base: float) -> dict[str, Any]:
    ind = view.indicators
    return {
        "route": view.terms.name,
        "type": view.terms.type,
        "amount": view.terms.amount,
        "rate": view.terms.rate,
        "council_npv": view.council_npv,
        "peak_cash_need": view.peak_cash_need,
        "reserves_needed": view.budget.reserves_needed,
        "max_band_d": float(np.max(view.budget.band_d(tax_base))),
        "max_financing_ratio": float(np.max(ind.financing_ratio)),
        "min_boundary_headroom": float(np.min(ind.boundary_headroom)),
        "min_limit_headroom": float(np.min(ind.limit_headroom)),
        "borrowing": "yes" if view.terms.borrowing else "no",
        "revenue_costs": view.revenue_costs,
        "lawful_for_revenue_costs": "yes" if view.lawful_for_revenue_costs else "NO",
        "flags": "; ".join(view.flags),
    }


def _budget_rows(view: RouteView, years: YearGrid, tax_base: float) -> pd.DataFrame:
    b = view.budget
    zero = np.zeros(len(years.years))
    data: dict[str, Any] = {
        "route": view.terms.name,
        "financial_year": years.labels(),
        "savings": b.savings,
        "running_costs": b.running_costs,
        "one_off_costs": zero if b.one_off_costs is None else b.one_off_costs,
        "interest": b.interest,
        "mrp": b.mrp,
        "outcome_payments": zero if b.outcome_payments is None else b.outcome_payments,
        "financing_costs": b.financing_costs,
        "net": b.net,
        "cumulative_net": np.cumsum(b.net),
        "band_d": b.band_d(tax_base),
        "share_of_budget": b.share_of_budget(view.indicators.net_revenue_stream),
    }
    return pd.DataFrame({k: data[k] for k in ROUTE_BUDGET})


def _prudential_rows(name: str, ind: Indicators, years: YearGrid) -> pd.DataFrame:
    data: dict[str, Any] = {
        "route": name,
        "financial_year": years.labels(),
        "cfr": ind.cfr,
        "gross_debt": ind.gross_debt,
        "debt_over_cfr": ind.debt_over_cfr,
        "financing_costs": ind.financing_costs,
        "net_revenue_stream": ind.net_revenue_stream,
        "financing_ratio": ind.financing_ratio,
        "boundary_headroom": ind.boundary_headroom,
        "limit_headroom": ind.limit_headroom,
    }
    return pd.DataFrame({k: data[k] for k in ROUTE_PRUDENTIAL})


def _risk_rows(model: Model, simulation: Simulation) -> pd.DataFrame:
    """Over the simulated paths: each route's council NPV, peak cash need and who bears a
    savings shortfall (a share of paths where it is above zero, and its mean)."""
    table = simulation.per_path
    rows = []
    for k, terms in enumerate(model.routes):

        def column(prefix: str, k: int = k) -> Any:
            return table[f"{prefix}_{k}"].to_numpy(dtype=np.float64)

        npv = column("route_npv")
        council = column("route_council_shortfall")
        investors = column("route_investor_shortfall")
        rows.append(
            {
                "route": terms.name,
                "mean_council_npv": float(np.mean(npv)),
                "p10_council_npv": float(np.percentile(npv, 10)),
                "p90_peak_cash": float(np.percentile(column("route_peak_cash"), 90)),
                "p_council_shortfall": float(np.mean(council > 0.0)),
                "mean_council_shortfall": float(np.mean(council)),
                "p_investor_shortfall": float(np.mean(investors > 0.0)),
                "mean_investor_shortfall": float(np.mean(investors)),
            }
        )
    return pd.DataFrame(rows, columns=list(ROUTE_RISK))
