"""The compiled Model: a scenario compiled once, behind every command.

A :class:`Model` holds everything about a scenario that does not change from
one path to the next: the timeline, the base-case programme flows, the bond
contract fixed on that base case, the PWLB benchmark loan and the risk model.
Its one method, :meth:`Model.evaluate`, takes a block of draws (any number of
paths) to per-path flows and metrics. ``engine.run`` evaluates the base case
with it; the simulation's workers evaluate blocks of sampled draws with it
(:meth:`Model.block`); ``verify`` reruns recorded paths with it; compare, sweep
and solve go through ``engine.run``; the benchmarks time it. A new way of
funding the programme (another route, a pool of councils) is a new step in
:meth:`Model.evaluate` and a new field of :class:`Evaluation`, wired once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np

from bondmodel.bond.metrics import bond_metrics, debt_discount_factors
from bondmodel.bond.pwlb import PWLBLoan, pwlb_loan
from bondmodel.bond.schedule import BondGrid, build_grid
from bondmodel.bond.sizing import percentile_cfads
from bondmodel.bond.waterfall import BondFlows, BondSchedule, build_schedule, run_waterfall
from bondmodel.council.routes import (
    RouteTerms,
    compile_routes,
    route_metric_names,
    route_path_metrics,
)
from bondmodel.metrics import partner_npvs, partner_npvs_after_debt_service, programme_core_metrics
from bondmodel.programme import Draws, ProgrammeFlows, programme_flows
from bondmodel.risk.model import RiskModel, build_risk_model
from bondmodel.risk.sampling import Sampler, block_count
from bondmodel.scenario.schema import Scenario
from bondmodel.timeline import Timeline, build_timeline
from bondmodel.types import FloatArray

#: Per-path metrics kept for every path (labels in bondmodel.labels.PATH_METRICS).
PROGRAMME_PATH_METRICS: Final = ("npv", "payback_years", "peak_funding_need")
BOND_PATH_METRICS: Final = (
    "investor_irr",
    "council_npv",
    "min_dscr",
    "total_topup",
    "shortfall",
    "investor_loss",
    "council_npv_vs_pwlb",
)


def partner_metric_names(scenario: Scenario) -> tuple[str, ...]:
    """``partner_npv_0``, ``partner_npv_1``, ...: each partner's NPV (after debt service with a
    bond) path by path; none for a single council."""
    n = len(scenario.partners)
    return tuple(f"partner_npv_{p}" for p in range(n)) if n > 1 else ()


def path_metric_names(scenario: Scenario) -> tuple[str, ...]:
    """The per-path metrics a simulation of ``scenario`` stores, in column order."""
    partners = partner_metric_names(scenario) + route_metric_names(scenario)
    if scenario.bond is None:
        return PROGRAMME_PATH_METRICS + partners
    names = PROGRAMME_PATH_METRICS + BOND_PATH_METRICS
    return (names if scenario.pwlb is not None else names[:-1]) + partners


def path_columns(scenario: Scenario) -> int:
    """The per-path values a simulation of ``scenario`` stores: metrics and sampled inputs."""
    inputs = 0 if scenario.risk is None else len(scenario.risk.inputs)
    return len(path_metric_names(scenario)) + inputs


#: Inputs drawn within a band of their distribution: (input index, low, high), probabilities.
Bands = tuple[tuple[int, float, float], ...]


@dataclass(frozen=True)
class Evaluation:
    """A block of draws through the engine: per-path flows and metrics.

    Attributes
    ----------
    draws : the draws evaluated (n paths).
    flows : the programme's cash flows, (n, T+1).
    core : the programme's core metrics (``programme_core_metrics``), one value per path.
    bond : the bond waterfall, (n, payments + 1); None without a bond.
    bond_metrics : every bond metric (keys ``BOND_METRIC_KEYS``), one value per path.
    path_metrics : the per-path metrics a simulation stores (:func:`path_metric_names`).
    series : the per-period series the fan charts summarise, without period 0.
    """

    draws: Draws
    flows: ProgrammeFlows
    core: dict[str, FloatArray]
    bond: BondFlows | None
    bond_metrics: dict[str, FloatArray] | None
    path_metrics: dict[str, FloatArray]
    series: dict[str, FloatArray]


class Block(NamedTuple):
    """One block of a simulation: per-path metrics, sampled input values (n, inputs) and the
    fan-chart series."""

    metrics: dict[str, FloatArray]
    values: FloatArray
    series: dict[str, FloatArray]


class Model:
    """A scenario compiled once: timeline, base flows, bond contract, PWLB loan, risk model.

    Build one with :meth:`compile` (one per scenario per process, reused) or the constructor
    (always new). Everything here is fixed by the scenario; only :meth:`evaluate`'s draws vary.

    Attributes
    ----------
    scenario : the validated scenario.
    timeline : the period grid.
    base_draws : one path of central values.
    base_flows : the programme's flows on ``base_draws`` (with per-partner arrays).
    schedule : the bond contract, fixed on the base case; None without a bond.
    grid : the bond's payment grid; None without a bond.
    pwlb : the PWLB benchmark loan; None without ``[pwlb]`` or a bond.
    routes : each funding route's contract, fixed on the base case (none without routes).
    risk : the risk model (an empty one without ``[risk]``).
    metric_names : the per-path metrics :meth:`evaluate` returns, in column order.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.timeline: Timeline = build_timeline(scenario)
        self.base_draws = Draws.central(scenario, paths=1)
        self.base_flows = programme_flows(scenario, self.timeline, self.base_draws)
        self.schedule: BondSchedule | None = None
        self.grid: BondGrid | None = None
        self.pwlb: PWLBLoan | None = None
        # the risk model needs only the bond's payment grid, which the principal does not
        # change: built first, so that a percentile sizing basis can simulate with it
        if scenario.bond is not None:
            self.grid = build_grid(scenario.bond, self.timeline)
        self.risk: RiskModel = build_risk_model(scenario, self.timeline, self.grid)
        #: The CFADS a principal sized to a DSCR on a percentile basis uses; None otherwise.
        self.sizing_cfads: FloatArray | None = None
        #: The cover ratios' discount factor per timeline period (bond.metrics).
        self.debt_df: FloatArray = np.ones(self.timeline.n_periods + 1)
        if scenario.bond is not None:
            sizing = scenario.bond.sizing
            if sizing is not None and sizing.basis == "percentile":
                self.sizing_cfads = self._percentile_cfads()
            self.schedule = build_schedule(
                scenario,
                self.timeline,
                self.base_flows,
                self.base_draws.inflation,
                sizing_cfads=self.sizing_cfads,
            )
            self.grid = self.schedule.grid
            self.debt_df = debt_discount_factors(self.schedule, scenario.economics, self.timeline)
            if scenario.pwlb is not None:
                self.pwlb = pwlb_loan(
                    scenario.pwlb,
                    self.schedule.financed_costs,
                    self.grid,
                    scenario.bond.tenor_years,
                )
        self.routes: tuple[RouteTerms, ...] = ()
        self.base_pv_savings = 0.0
        if scenario.routes:
            base_bond = (
                None
                if self.schedule is None
                else run_waterfall(
                    self.schedule, self.timeline, self.base_flows, self.base_draws.inflation
                )
            )
            self.routes = compile_routes(
                scenario, self.timeline, self.base_flows, self.schedule, base_bond
            )
            core = programme_core_metrics(self.base_flows, self.timeline.years)
            self.base_pv_savings = float(core["pv_savings"][0])
        self.metric_names: tuple[str, ...] = path_metric_names(scenario)
        self._base: Evaluation | None = None

    @classmethod
    def compile(cls, scenario: Scenario) -> Model:
        """The model of ``scenario``, built once per process and reused while the same
        scenario (by its SHA-256) is asked for: a worker compiles once for all its chunks."""
        key = scenario.sha256()
        model = _COMPILED.get(key)
        if model is None:
            _COMPILED.clear()
            model = cls(scenario)
            _COMPILED[key] = model
        return model

    def evaluate(
        self, draws: Draws, rates: FloatArray | None = None, *, partners: bool = False
    ) -> Evaluation:
        """Evaluate a block of draws: the programme, the bond on its fixed contract, metrics.

        Parameters
        ----------
        draws
            The per-path inputs (n paths).
        rates
            Per-path coupon rates of a floating coupon, (n, payments + 1); None: the
            contract's own.
        partners
            Build the per-partner arrays of the flows (paths x partners x periods); a
            simulation does not need them, and every total is the same either way.
        """
        flows = programme_flows(self.scenario, self.timeline, draws, partners=partners)
        return self._evaluate_flows(draws, flows, rates)

    def base_case(self) -> Evaluation:
        """The deterministic base case: :meth:`evaluate` on ``base_draws``, with partners."""
        if self._base is None:
            self._base = self._evaluate_flows(self.base_draws, self.base_flows, None)
        return self._base

    def sample(
        self, seed: int, sampler: Sampler, block: int, paths: int, bands: Bands = ()
    ) -> tuple[FloatArray, Draws, FloatArray | None]:
        """One block's sampled input values (n, inputs), the engine's draws and coupon rates.

        ``bands`` (input index, low, high) draws those inputs only between the probabilities
        low and high of their distributions (a stress analysis): their rank-correlated
        uniforms u become low + u (high - low), the other inputs' are untouched."""
        u = self.risk.correlated_uniforms(seed, sampler, block, paths)
        for j, low, high in bands:
            u[:, j] = low + u[:, j] * (high - low)
        values = self.risk.values(u)
        draws, rates = self.risk.draws(values, seed, block)
        return values, draws, rates

    def block(
        self, seed: int, sampler: Sampler, block: int, paths: int, bands: Bands = ()
    ) -> Block:
        """Block number ``block`` of a run of ``paths`` paths: sampled, then evaluated."""
        values, draws, rates = self.sample(seed, sampler, block, paths, bands)
        evaluation = self.evaluate(draws, rates)
        return Block(evaluation.path_metrics, values, evaluation.series)

    def bond_trace(self) -> dict[str, FloatArray]:
        """The base case's bond contract and waterfall step by step, one value per payment
        (empty without a bond); see :func:`bondmodel.engine.bond_trace`."""
        if self.scenario.bond is None:
            return {}
        draws, flows = self.base_draws, self.base_flows
        contract: dict[str, FloatArray] = {}
        schedule = build_schedule(
            self.scenario, self.timeline, flows, draws.inflation, contract, self.sizing_cfads
        )
        steps: dict[str, FloatArray] = {}
        run_waterfall(schedule, self.timeline, flows, draws.inflation, trace=steps)
        return {**contract, **{key: value[0] for key, value in steps.items()}}

    def _percentile_cfads(self) -> FloatArray:
        """Each payment period's CFADS at ``bond.sizing.percentile`` over the simulation the
        scenario records (``bond.sizing.paths`` paths, ``seed``, the random sampler), (NL+1,).

        Only the programme is simulated: its CFADS does not depend on the bond. The blocks
        are the simulation's own (:func:`~bondmodel.risk.sampling.block_count`), so the
        paths are those ``bondmodel run --paths P --seed S --sampler random`` draws.
        """
        bond, grid = self.scenario.bond, self.grid
        assert bond is not None and bond.sizing is not None and grid is not None
        sizing = bond.sizing
        assert sizing.paths is not None and sizing.seed is not None
        assert sizing.percentile is not None
        blocks = []
        for b in range(block_count(sizing.paths)):
            _, draws, _ = self.sample(sizing.seed, "random", b, sizing.paths)
            flows = programme_flows(self.scenario, self.timeline, draws)
            blocks.append(bond.pledged_share * np.maximum(grid.aggregate(flows.net_savings), 0.0))
        return percentile_cfads(np.concatenate(blocks), sizing.percentile)

    def _evaluate_flows(
        self, draws: Draws, flows: ProgrammeFlows, rates: FloatArray | None
    ) -> Evaluation:
        core = programme_core_metrics(flows, self.timeline.years)
        metrics = {k: core[k] for k in PROGRAMME_PATH_METRICS}
        series: dict[str, FloatArray] = {"net_savings": flows.net_savings[:, 1:]}
        bond: BondFlows | None = None
        arrays: dict[str, FloatArray] | None = None
        if self.schedule is not None:
            bond = run_waterfall(self.schedule, self.timeline, flows, draws.inflation, rates)
            arrays = bond_metrics(
                self.schedule,
                bond,
                flows,
                self.timeline,
                self.debt_df,
                self.pwlb,
            )
            for key in BOND_PATH_METRICS:
                if key == "shortfall":
                    metrics[key] = (arrays["shortfall_periods"] > 0).astype(np.float64)
                elif key != "council_npv_vs_pwlb" or self.pwlb is not None:
                    metrics[key] = arrays[key]
            series["cfads"] = bond.cfads[:, 1:]
            series["dscr"] = bond.dscr[:, 1:]
            series["bond_balance"] = bond.closing_balance[:, 1:]
        names = partner_metric_names(self.scenario)
        if names:
            if arrays is None:
                npvs = partner_npvs(flows, self.scenario, self.timeline, core["pv_costs"])
            else:
                npvs = partner_npvs_after_debt_service(
                    flows, self.timeline, self.scenario, core, arrays["council_npv"]
                )
            for p, name in enumerate(names):
                metrics[name] = npvs[:, p]
        # every funding route on the same paths (the bond's waterfall is the one above)
        metrics |= route_path_metrics(
            self.routes,
            flows,
            core,
            self.base_pv_savings,
            bond,
            self.grid,
            self.scenario.council,
            self.timeline,
        )
        return Evaluation(draws, flows, core, bond, arrays, metrics, series)


#: The model compiled in this process (one scenario at a time; see :meth:`Model.compile`).
_COMPILED: dict[str, Model] = {}
