"""The public run: scenario -> timeline -> programme flows -> metrics -> Results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from bondmodel import __version__
from bondmodel.bond.pwlb import PWLBLoan
from bondmodel.bond.waterfall import BondFlows, BondSchedule
from bondmodel.council.results import RouteResults, route_results
from bondmodel.errors import ScenarioError
from bondmodel.irr import FLAG_LABELS
from bondmodel.labels import (
    BOND_COLUMNS,
    BOND_METRICS,
    METRICS,
    PARTNER_COLUMNS,
    PERIOD_COLUMNS,
    finite_or_none,
)
from bondmodel.metrics import (
    benefit_cost_ratio,
    partner_npvs_after_debt_service,
    payback_years,
    present_value,
    programme_core_metrics,
)
from bondmodel.model import Evaluation, Model, path_columns
from bondmodel.programme import ProgrammeFlows
from bondmodel.risk.analyses import Analyses, check_analyses, check_tornado_output
from bondmodel.risk.results import Simulation, new_seed, simulate
from bondmodel.risk.sampling import Sampler
from bondmodel.risk.simulate import Convergence, RunSettings, check_run_flags
from bondmodel.scenario.schema import Scenario
from bondmodel.timeline import Timeline
from bondmodel.types import FloatArray

MetricValue = float | None


@dataclass(frozen=True)
class BondResults:
    """The bond in the base case: the contract, the waterfall and its metrics.

    Attributes
    ----------
    schedule : the contract fixed at issue (principal, profile, reserve targets).
    flows : the waterfall arrays, (paths, payments), here one path.
    table : one row per payment period (columns: :data:`bondmodel.labels.BOND_COLUMNS`).
    metrics : investor and council metrics (keys: :data:`bondmodel.labels.BOND_METRICS`).
    sources_uses : the sources and uses at issue (keys: :data:`SOURCES_USES`).
    council_flow : the council's cash after debt service per timeline period, nominal.
    """

    schedule: BondSchedule
    flows: BondFlows
    table: pd.DataFrame
    metrics: dict[str, MetricValue]
    sources_uses: dict[str, float]
    council_flow: FloatArray
    pwlb: PWLBLoan | None


@dataclass(frozen=True)
class Results:
    """The outcome of :func:`run` for the deterministic base case.

    Attributes
    ----------
    scenario : the validated scenario.
    timeline : the period grid.
    flows : the engine's arrays, (paths, T+1), here one path.
    periods : one row per period t = 0..T (columns: :data:`bondmodel.labels.PERIOD_COLUMNS`).
    partners : one row per partner and period (columns: :data:`PARTNER_COLUMNS`).
    metrics : the headline metrics (keys: :data:`bondmodel.labels.METRICS`); None = undefined.
    partner_metrics : per partner, NPV and its parts (keys: :data:`PARTNER_METRICS`).
    bond : the bond on the base case; None without ``[bond]``.
    risk : the simulation; None without one.
    routes : the funding routes compared (summary, budget, prudential, risk); None without
        ``[[routes]]``.
    """

    scenario: Scenario
    timeline: Timeline
    flows: ProgrammeFlows
    periods: pd.DataFrame
    partners: pd.DataFrame
    metrics: dict[str, MetricValue]
    partner_metrics: dict[str, dict[str, MetricValue]] = field(default_factory=dict)
    bond: BondResults | None = None
    risk: Simulation | None = None
    routes: RouteResults | None = None

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: scenario identity, settings and metrics (undefined = null)."""
        sc = self.scenario
        out: dict[str, Any] = {
            "engine_version": __version__,
            "scenario": {
                "name": sc.meta.name,
                "sha256": sc.sha256(),
                "currency": sc.meta.currency,
                "close_date": self.timeline.close_date.isoformat(),
                "frequency": sc.timeline.frequency,
                "periods": self.timeline.n_periods,
                "appraisal_basis": sc.economics.appraisal_basis,
                "discount_basis": sc.economics.discount_basis,
            },
            "metrics": dict(self.metrics),
            "partners": {k: dict(v) for k, v in self.partner_metrics.items()},
            "bond": None
            if self.bond is None
            else {
                "metrics": dict(self.bond.metrics),
                "investor_irr_flag_label": FLAG_LABELS[
                    int(self.bond.metrics["investor_irr_flag"] or 0)
                ],
                "sources_uses": dict(self.bond.sources_uses),
            },
            "risk": None if self.risk is None else self.risk.to_json(),
        }
        if self.routes is not None:  # only with routes: every other summary is as it was
            out["routes"] = self.routes.to_json()
        return out


def run(
    scenario: Scenario,
    paths: int | None = None,
    seed: int | None = None,
    sampler: Sampler = "random",
    workers: int = 1,
    scheduler: str | None = None,
    chunk_blocks: int = 4,
    progress: Callable[[int], None] | None = None,
    convergence: Convergence | None = None,
    tornado_output: str | None = None,
    analyses: Analyses | None = None,
) -> Results:
    """Run the base case of ``scenario`` and, when it has risk, a Monte Carlo simulation.

    The base case is the vectorised engine run on one path of central values,
    so it is the same code the simulation runs.

    Parameters
    ----------
    paths
        Monte Carlo paths. None: the scenario's ``risk.default_paths`` when it
        has a [risk] section, else none. 0: the base case only.
    seed
        The seed; None draws a fresh one (recorded in ``Results.risk.settings``).
    sampler, workers, scheduler, chunk_blocks, progress, convergence, tornado_output, analyses
        See :func:`bondmodel.risk.results.simulate`; the results do not depend
        on workers, scheduler or chunk_blocks.
    """
    paths = check_run_settings(scenario, paths, seed, workers, chunk_blocks, sampler, scheduler)
    analyses = analyses or Analyses()
    check_run_analyses(scenario, paths, analyses)
    settings = (
        None
        if paths == 0
        else RunSettings(
            paths,
            new_seed() if seed is None else seed,
            sampler,
            workers,
            scheduler,
            chunk_blocks,
            convergence,
        )
    )
    # One BLAS thread, as in the simulation's workers: the same arithmetic everywhere.
    with threadpool_limits(limits=1, user_api="blas"):
        return _run(scenario, settings, progress, tornado_output, analyses)


def check_run_settings(
    scenario: Scenario,
    paths: int | None,
    seed: int | None,
    workers: int,
    chunk_blocks: int,
    sampler: str = "random",
    scheduler: str | None = None,
) -> int:
    """Check a run's settings before anything runs; returns the path count to simulate."""
    if paths is None:
        paths = scenario.risk.default_paths if scenario.risk is not None else 0
    check_run_flags(
        paths=paths,
        seed=seed,
        sampler=sampler,
        workers=workers,
        chunk_blocks=chunk_blocks,
        scheduler=scheduler,
        columns=path_columns(scenario),
    )
    if paths > 0 and scenario.risk is None:
        raise ScenarioError(
            f"paths: {paths} asks for a simulation but the scenario has no [risk] section; "
            "use --paths 0 or add [[risk.inputs]]"
        )
    return paths


def check_run_analyses(
    scenario: Scenario, paths: int, analyses: Analyses, tornado_output: str | None = None
) -> None:
    """Stress and scenario analyses need a simulation, and name risk inputs and per-path
    metrics of the scenario, as the tornado's output does: checked before the seed is
    printed."""
    asked = bool(analyses.stresses or analyses.regions)
    if paths == 0:
        if asked:
            raise ScenarioError(
                "--stress and --scenario-analysis analyse a simulation; give --paths N (N > 0)"
            )
        return  # no simulation: the tornado's output is not read
    if not asked and tornado_output is None:
        return
    model = Model.compile(scenario)  # once, for both checks
    check_tornado_output(tornado_output, model.metric_names)
    check_analyses(analyses, model.risk.names, model.metric_names)


def _run(
    scenario: Scenario,
    settings: RunSettings | None,
    progress: Callable[[int], None] | None,
    tornado_output: str | None,
    analyses: Analyses,
) -> Results:
    model = Model.compile(scenario)
    simulation = None
    if settings is not None:
        simulation = simulate(scenario, settings, progress, tornado_output, analyses)
    base = model.base_case()
    timeline, flows = model.timeline, base.flows
    bond = None if model.schedule is None else bond_results(model, base)
    return Results(
        scenario=scenario,
        timeline=timeline,
        flows=flows,
        periods=period_table(flows, timeline),
        partners=partner_table(flows, timeline, scenario.partner_names),
        metrics=programme_metrics(flows, timeline, path=0),
        partner_metrics=partner_metrics(flows, timeline, scenario, path=0, bond=bond),
        bond=bond,
        risk=simulation,
        routes=None if not model.routes else route_results(model, base, simulation),
    )


def bond_results(model: Model, base: Evaluation) -> BondResults:
    """The bond of the base case ``base`` of ``model``: its contract (fixed on the base case),
    waterfall, table, metrics and sources and uses."""
    schedule, bond_flows, arrays = model.schedule, base.bond, base.bond_metrics
    if schedule is None or bond_flows is None or arrays is None:
        raise ValueError("the model has no bond")
    metrics = {k: finite_or_none(float(arrays[k][0])) for k in BOND_METRICS}
    if model.pwlb is None:
        metrics["pwlb_npv"] = None
        metrics["council_npv_vs_pwlb"] = None
    sources_uses = {
        "proceeds": schedule.proceeds,
        "council_contribution": schedule.council_contribution,
        "financed_costs": schedule.financed_costs,
        "arrangement_fee": schedule.arrangement_fee,
        "reserve_initial": schedule.reserve_initial,
        "surplus": max(schedule.surplus, 0.0),
    }
    return BondResults(
        schedule=schedule,
        flows=bond_flows,
        table=bond_table(schedule, bond_flows, model.timeline),
        metrics=metrics,
        sources_uses=sources_uses,
        council_flow=bond_flows.council_flow[0],
        pwlb=model.pwlb,
    )


def bond_trace(results: Results) -> dict[str, FloatArray]:
    """The base case's bond contract and waterfall step by step, one value per payment.

    Keys: :data:`bondmodel.bond.waterfall.TRACE_KEYS` and the scheduled path's
    rows (``scheduled_*``, ``reserve_target_raw``, ``uplift``, ...). The
    workbook's Bond sheet caches its live rows at these values.
    """
    return Model.compile(results.scenario).bond_trace()


def bond_table(
    schedule: BondSchedule, flows: BondFlows, timeline: Timeline, path: int = 0
) -> pd.DataFrame:
    """One row per payment period k = 0..NL for one path."""
    grid = schedule.grid
    data: dict[str, Any] = {
        "payment": np.arange(grid.n_legal + 1),
        # the issue on its date; each payment at the end of its period
        "date": [timeline.boundaries[grid.issue_t]]
        + [timeline.period_end[int(t)] for t in grid.pay_t[1:]],
        "years": grid.years,
    }
    for key in BOND_COLUMNS:
        if key not in data:
            data[key] = getattr(flows, key)[path]
    return pd.DataFrame({k: data[k] for k in BOND_COLUMNS})


def programme_metrics(
    flows: ProgrammeFlows, timeline: Timeline, path: int = 0
) -> dict[str, MetricValue]:
    """Headline metrics of one path (undefined values are None)."""
    arrays = programme_metric_arrays(flows, timeline)
    return {k: finite_or_none(float(v[path])) for k, v in arrays.items()}


def programme_metric_arrays(flows: ProgrammeFlows, timeline: Timeline) -> dict[str, FloatArray]:
    """Headline metrics, one value per path (NaN = undefined); keys as :data:`METRICS`."""
    df = flows.discount_factors
    core = programme_core_metrics(flows, timeline.years)
    net = flows.on_basis(flows.net_cash_flow)
    arrays: dict[str, FloatArray] = {
        **core,
        "bcr": benefit_cost_ratio(core["pv_savings"], core["pv_costs"]),
        "discounted_payback_years": payback_years(np.cumsum(net * df, axis=-1), timeline.years),
        "total_capex": flows.capex.sum(axis=-1),
        "total_capex_base": flows.capex_base.sum(axis=-1),
        "total_running_costs": flows.running_costs.sum(axis=-1),
        "total_gross_savings": flows.gross_savings.sum(axis=-1),
        "total_net_cash_flow": flows.net_cash_flow.sum(axis=-1),
    }
    if set(arrays) != set(METRICS):
        raise RuntimeError("metrics and bondmodel.labels.METRICS disagree")
    return {key: arrays[key] for key in METRICS}


def partner_metrics(
    flows: ProgrammeFlows,
    timeline: Timeline,
    scenario: Scenario,
    path: int = 0,
    bond: BondResults | None = None,
) -> dict[str, dict[str, MetricValue]]:
    """Per-partner shares, NPV, PVs and payback for one path; with a bond, each partner's
    share of the debt service and top-ups and its NPV after debt service."""
    df = flows.discount_factors[path]
    cost_share = scenario.shares("cost_share")
    savings_share = scenario.shares("savings_share")
    gross = flows.on_basis(flows.partner("gross_savings"))[path]
    costs = flows.on_basis(flows.partner("capex") + flows.partner("running_costs"))[path]
    out: dict[str, dict[str, MetricValue]] = {}
    for p, name in enumerate(scenario.partner_names):
        pv_s = float(present_value(gross[p], df))
        pv_c = float(present_value(costs[p], df))
        payback = payback_years(np.cumsum(gross[p] - costs[p])[None, :], timeline.years)
        out[name] = {
            "cost_share": cost_share[p],
            "savings_share": savings_share[p],
            "npv": pv_s - pv_c,
            "pv_savings": pv_s,
            "pv_costs": pv_c,
            "payback_years": finite_or_none(float(payback[0])),
        }
    if bond is not None:
        after = partner_npvs_after_debt_service(
            flows,
            timeline,
            scenario,
            programme_core_metrics(flows, timeline.years),
            np.array([float(bond.metrics["council_npv"] or 0.0)]),
        )
        for p, name in enumerate(scenario.partner_names):
            out[name] |= {
                "debt_service_share": cost_share[p],
                "total_topup": cost_share[p] * float(bond.table["topup"].sum()),
                "npv_after_debt_service": float(after[path, p]),
            }
    return out


def period_table(flows: ProgrammeFlows, timeline: Timeline, path: int = 0) -> pd.DataFrame:
    """One row per period for one path; columns in :data:`PERIOD_COLUMNS` order."""
    p = path
    real = 1.0 / flows.price_index[p]
    discounted = flows.on_basis(flows.net_cash_flow)[p] * flows.discount_factors[p]
    data: dict[str, Any] = {
        "period": timeline.t,
        "label": timeline.labels,
        "period_start": timeline.period_start,
        "period_end": timeline.period_end,
        "years": timeline.years,
        "price_index": flows.price_index[p],
        "discount_factor": flows.discount_factors[p],
        "capex_base": flows.capex_base[p],
        "capex_contingency": flows.capex_contingency[p],
        "capex_optimism_bias": flows.capex_optimism_bias[p],
        "capex_overrun": flows.capex_overrun[p],
        "capex": flows.capex[p],
        "running_costs": flows.running_costs[p],
        "gross_savings": flows.gross_savings[p],
        "net_savings": flows.net_savings[p],
        "net_cash_flow": flows.net_cash_flow[p],
        "cumulative_net_cash_flow": np.cumsum(flows.net_cash_flow[p]),
        "capex_real": flows.capex[p] * real,
        "running_costs_real": flows.running_costs[p] * real,
        "gross_savings_real": flows.gross_savings[p] * real,
        "net_savings_real": flows.net_savings[p] * real,
        "net_cash_flow_real": flows.net_cash_flow[p] * real,
        "cumulative_net_cash_flow_real": np.cumsum(flows.net_cash_flow[p] * real),
        "discounted_net_cash_flow": discounted,
        "cumulative_discounted_net_cash_flow": np.cumsum(discounted),
    }
    return pd.DataFrame({k: data[k] for k in PERIOD_COLUMNS})


def partner_table(
    flows: ProgrammeFlows, timeline: Timeline, names: list[str], path: int = 0
) -> pd.DataFrame:
    """One row per partner and period for one path (long format)."""
    frames = []
    real = 1.0 / flows.price_index[path]
    df = flows.discount_factors[path]
    net_all = flows.partner_net_cash_flow[path]
    basis_net = flows.on_basis(flows.partner_net_cash_flow)[path]
    for i, name in enumerate(names):
        net = net_all[i]
        data: dict[str, Any] = {
            "partner": name,
            "period": timeline.t,
            "label": timeline.labels,
            "capex": flows.partner("capex")[path, i],
            "running_costs": flows.partner("running_costs")[path, i],
            "gross_savings": flows.partner("gross_savings")[path, i],
            "net_savings": flows.partner_net_savings[path, i],
            "net_cash_flow": net,
            "cumulative_net_cash_flow": np.cumsum(net),
            "net_cash_flow_real": net * real,
            "discounted_net_cash_flow": basis_net[i] * df,
        }
        frames.append(pd.DataFrame({k: data[k] for k in PARTNER_COLUMNS}))
    return pd.concat(frames, ignore_index=True)
