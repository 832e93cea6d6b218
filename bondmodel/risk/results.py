"""The Monte Carlo results: summaries, probabilities, fan charts and sensitivity."""

from __future__ import annotations

import dataclasses
import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from bondmodel.labels import finite_or_none
from bondmodel.model import Model
from bondmodel.risk import threads
from bondmodel.risk.analyses import (
    Analyses,
    band,
    check_analyses,
    check_tornado_output,
    output_statistics,
    region_json,
    scenario_analysis,
    stress_json,
)
from bondmodel.risk.distributions import ppf
from bondmodel.risk.events import EVENTS, NO_PAYBACK, partner_event
from bondmodel.risk.sampling import BLOCK_SIZE, MAX_SEED, Sampler
from bondmodel.risk.sensitivity import (
    PAWN_OUTPUTS,
    contribution_to_variance,
    pawn_indices,
    rank_correlations,
)
from bondmodel.risk.simulate import (
    Convergence,
    RawSimulation,
    RunSettings,
    histogram_quantiles,
    simulate_raw,
)
from bondmodel.risk.summary import percentile_rank, summary_table, value_at_risk
from bondmodel.risk.summary import warm_up as summary_warm_up
from bondmodel.scenario.schema import Scenario
from bondmodel.types import FloatArray

#: Fan-chart percentiles per period.
FAN_PERCENTILES: Final = (5, 10, 50, 90, 95)


@dataclass(frozen=True)
class SimulationSettings:
    """How a simulation was made, as recorded: enough to repeat it exactly.

    ``seed``, ``sampler``, ``paths_requested`` and ``convergence`` fix the numbers (with the
    scenario); ``paths`` is how many ran (fewer when the run converged, at block
    ``converged_at_block``); ``chunk_blocks``, ``executor`` and ``workers`` only spread the
    work; ``per_path_precision`` is ``"double"`` or ``"single"``; ``fan_bins`` the bins of
    each fan-chart histogram.
    """

    seed: int
    sampler: Sampler
    paths_requested: int
    paths: int
    block_size: int
    chunk_blocks: int
    executor: str
    workers: int
    converged_at_block: int | None
    convergence: Convergence | None
    correlation_repaired: bool
    per_path_precision: str
    fan_bins: int

    def to_json(self) -> dict[str, Any]:
        """The settings as JSON (the ``risk.settings`` block of ``run --json``)."""
        c = self.convergence
        return {
            "seed": self.seed,
            "sampler": self.sampler,
            "paths_requested": self.paths_requested,
            "paths": self.paths,
            "block_size": self.block_size,
            "chunk_blocks": self.chunk_blocks,
            "executor": self.executor,
            "workers": self.workers,
            "converged_at_block": self.converged_at_block,
            "convergence": None
            if c is None
            else {"tolerance": c.tolerance, "confidence": c.confidence, "metrics": list(c.metrics)},
            "correlation_repaired": self.correlation_repaired,
            "per_path_precision": self.per_path_precision,
            "fan_bins": self.fan_bins,
        }


@dataclass(frozen=True)
class Simulation:
    """The outcome of a Monte Carlo run.

    Attributes
    ----------
    settings : seed, sampler, paths, block size, chunking, executor, convergence.
    per_path : one row per path, one column per per-path metric.
    inputs : one row per path, one column per risk input (the sampled values).
    summary : statistics (rows) of each per-path metric (columns), with errors.
    probabilities : rows of probability metrics with their standard errors.
    risk_measures : VaR and CVaR of the council NPV (or programme NPV) at 5%.
    fans : per series, one row per period with the P5/P10/P50/P90/P95 columns.
    tornado : one-at-a-time P10/P90 swings of each input on ``tornado_output``.
    rank_correlation, contribution : inputs (rows) by outputs (columns).
    spider : ``tornado_output`` with each input (rows) alone at its P1 ... P99 (columns).
    pawn : the PAWN index of each input (rows) for each headline output (columns).
    stress : the tornado output's statistics (mean, P5 ... P95) on the baseline and with each
        stressed input drawn within its band (empty without ``--stress``).
    regions : per scenario analysis, each input's median on all paths and in the region.
    base_case : rows ``value`` (each per-path metric on the base case, central inputs) and
        ``percentile`` (where that value falls among the simulated paths, 0-100).
    """

    settings: SimulationSettings
    per_path: pd.DataFrame
    inputs: pd.DataFrame
    summary: pd.DataFrame
    probabilities: pd.DataFrame
    risk_measures: dict[str, float]
    fans: dict[str, pd.DataFrame]
    tornado: pd.DataFrame
    tornado_output: str
    tornado_base: float
    rank_correlation: pd.DataFrame
    contribution: pd.DataFrame
    base_case: pd.DataFrame
    stress: pd.DataFrame = field(default_factory=pd.DataFrame)
    regions: dict[str, pd.DataFrame] = field(default_factory=dict)
    analyses: Analyses = field(default_factory=Analyses)
    #: the scenario simulated, for the sensitivity computed on demand (spider)
    scenario: Scenario | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def spider(self) -> pd.DataFrame:
        """``tornado_output`` with each input (rows) alone at its P1 ... P99 (columns),
        computed when first read: the design tools, which run many simulations, never
        read it."""
        assert self.scenario is not None
        return spider(self.scenario, self.tornado_output)

    @functools.cached_property
    def pawn(self) -> pd.DataFrame:
        """The PAWN index of each input (rows) for the headline outputs (columns: the
        per-path metrics among the Summary's tiles, headline.py), from the first
        :data:`~bondmodel.risk.sensitivity.RANK_PATHS` paths, computed when first read."""
        names = [str(c) for c in self.inputs.columns]
        outputs = {
            str(k): self.per_path[k].to_numpy()
            for k in self.per_path.columns
            if k in PAWN_OUTPUTS or k == self.tornado_output
        }
        return pawn_indices(self.inputs.to_numpy(), names, outputs)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (no per-path data); undefined values are None."""
        return {
            "settings": self.settings.to_json(),
            "summary": {
                metric: {stat: finite_or_none(v) for stat, v in column.items()}
                for metric, column in self.summary.items()
            },
            "base_case": {
                metric: {stat: finite_or_none(v) for stat, v in column.items()}
                for metric, column in self.base_case.items()
            },
            "probabilities": {
                str(name): {"value": finite_or_none(row["value"]), "se": finite_or_none(row["se"])}
                for name, row in self.probabilities.iterrows()
            },
            "risk_measures": {k: finite_or_none(v) for k, v in self.risk_measures.items()},
            "fans": {
                name: {
                    str(col): [str(v) if col == "period" else finite_or_none(v) for v in frame[col]]
                    for col in frame.columns
                }
                for name, frame in self.fans.items()
            },
            "tornado": {
                "output": self.tornado_output,
                "base": finite_or_none(self.tornado_base),
                "rows": [
                    {k: (finite_or_none(v) if isinstance(v, float) else v) for k, v in row.items()}
                    for row in self.tornado.to_dict(orient="records")
                ],
            },
            "rank_correlation": {
                str(out): {str(i): finite_or_none(v) for i, v in col.items()}
                for out, col in self.rank_correlation.items()
            },
            "contribution_to_variance": {
                str(out): {str(i): finite_or_none(v) for i, v in col.items()}
                for out, col in self.contribution.items()
            },
            "spider": {
                "output": self.tornado_output,
                "inputs": {
                    str(name): {str(p): finite_or_none(v) for p, v in row.items()}
                    for name, row in self.spider.iterrows()
                },
            },
            "pawn": {
                str(out): {str(i): finite_or_none(v) for i, v in col.items()}
                for out, col in self.pawn.items()
            },
            "stress": None if self.stress.empty else stress_json(self.stress, self.tornado_output),
            "scenario_analysis": [
                region_json(region, self.regions[region.text]) for region in self.analyses.regions
            ],
        }


def new_seed() -> int:
    """A fresh random seed, to be printed and recorded so the run can be repeated."""
    return secrets.randbelow(MAX_SEED)


def _warm_up() -> None:
    """A summary thread's first work: the summary's numpy calls and the rank correlations'
    on a few values (bondmodel.risk.threads)."""
    summary_warm_up()
    values = np.linspace(1.0, 0.0, 16)
    rank_correlations(np.column_stack([values, values[::-1]]), ["a", "b"], {"x": values})


def simulate(
    scenario: Scenario,
    settings: RunSettings,
    progress: Callable[[int], None] | None = None,
    tornado_output: str | None = None,
    analyses: Analyses | None = None,
) -> Simulation:
    """Simulate ``scenario`` as ``settings`` say and summarise the paths.

    ``tornado_output`` is the per-path metric the tornado swings are measured
    on (default: the council NPV after debt service, or the programme NPV); the stress
    analyses measure it too. ``analyses``: the stress and scenario analyses to make
    (:mod:`bondmodel.risk.analyses`).
    """
    analyses = analyses or Analyses()
    model = Model.compile(scenario)
    allowed = model.metric_names
    check_analyses(analyses, model.risk.names, allowed)
    check_tornado_output(tornado_output, allowed)
    # the summary's threads start now, while memory is free (bondmodel.risk.threads)
    pool = threads.ready(_warm_up)
    raw = simulate_raw(scenario, settings, progress)
    convergence = settings.convergence
    per_path = pd.DataFrame(raw.metric_matrix, columns=list(raw.metrics), copy=False)
    per_path.index.name = "path"
    inputs = pd.DataFrame(raw.inputs, columns=raw.names, copy=False)
    inputs.index.name = "path"
    probs = _probabilities(raw)
    npv_key = "council_npv" if "council_npv" in raw.metrics else "npv"
    # the rank correlations and VaR in threads beside the summary's (numpy's sorts release
    # the GIL): each is computed on its own, so the results are the same
    ranked = pool.submit(rank_correlations, raw.inputs, raw.names, raw.metrics)
    at_risk = pool.submit(value_at_risk, raw.metrics[npv_key], 0.05)
    summary = summary_table(raw.metrics)
    rank = ranked.result()
    var, cvar = at_risk.result()
    tornado_output = tornado_output or npv_key
    recorded = SimulationSettings(
        seed=settings.seed,
        sampler=settings.sampler,
        paths_requested=settings.paths,
        paths=raw.paths,
        block_size=BLOCK_SIZE,
        chunk_blocks=raw.chunk_blocks,
        executor=raw.executor,
        workers=raw.workers,
        converged_at_block=raw.converged_at,
        convergence=convergence,
        correlation_repaired=raw.repaired,
        per_path_precision=raw.precision,
        fan_bins=int(next(iter(raw.fan_edges.values())).shape[1] - 1) if raw.fan_edges else 0,
    )
    stress = _stress_table(scenario, settings, raw, tornado_output, analyses)
    regions = {
        region.text: scenario_analysis(region, raw.metrics[region.metric], raw.inputs, raw.names)
        for region in analyses.regions
    }
    return Simulation(
        settings=recorded,
        per_path=per_path,
        inputs=inputs,
        summary=summary,
        probabilities=probs,
        risk_measures={f"var_5_{npv_key}": var, f"cvar_5_{npv_key}": cvar},
        fans=_fans(raw, scenario),
        tornado=tornado(scenario, tornado_output),
        tornado_base=tornado_base(scenario, tornado_output),
        tornado_output=tornado_output,
        rank_correlation=rank,
        contribution=contribution_to_variance(rank),
        scenario=scenario,
        base_case=base_in_context(scenario, raw.metrics),
        stress=stress,
        regions=regions,
        analyses=analyses,
    )


def _stress_table(
    scenario: Scenario,
    settings: RunSettings,
    raw: RawSimulation,
    output: str,
    analyses: Analyses,
) -> pd.DataFrame:
    """The output's statistics on the baseline and under each stress: the simulation again
    with the same seed and paths, the stressed input drawn within its band (empty without
    stresses)."""
    if not analyses.stresses:
        return pd.DataFrame()
    rows = [{"case": "baseline", "input": "", "low": 0.0, "high": 100.0,
             **output_statistics(np.asarray(raw.metrics[output]))}]  # fmt: skip
    # the paths the baseline ran (fewer than asked when it converged), each stress in full
    again = dataclasses.replace(settings, paths=raw.paths, convergence=None)
    for stress in analyses.stresses:
        stressed = simulate_raw(scenario, again, None, band(stress, raw.names))
        rows.append(
            {
                "case": stress.text,
                "input": stress.name,
                "low": stress.low,
                "high": stress.high,
                **output_statistics(np.asarray(stressed.metrics[output])),
            }
        )
    frame = pd.DataFrame(rows)
    frame["mean_change"] = frame["mean"] - frame["mean"].iloc[0]
    return frame


def base_in_context(scenario: Scenario, metrics: dict[str, Any]) -> pd.DataFrame:
    """Each per-path metric's base case (central inputs) and its percentile among the
    simulated paths (:func:`~bondmodel.risk.summary.percentile_rank`)."""
    base = Model.compile(scenario).base_case().path_metrics
    values = {key: float(base[key][0]) for key in metrics}
    frame = pd.DataFrame(
        {
            key: [values[key], percentile_rank(np.asarray(metrics[key]), values[key])]
            for key in metrics
        },
        index=["value", "percentile"],
    )
    frame.index.name = "base_case"
    return frame


def _probabilities(raw: RawSimulation) -> pd.DataFrame:
    """run's probabilities: the events of ``risk.events`` that this scenario's metrics allow."""
    m = raw.metrics
    events = [e for e in EVENTS if e.metric in m]
    events += [partner_event(key) for key in m if key.startswith("partner_npv_")]
    rows = {e.key: e.probability(m[e.metric]) for e in [*events, NO_PAYBACK]}
    frame = pd.DataFrame(rows, index=["value", "se"]).T
    frame.index.name = "probability"
    return frame


def _fans(raw: RawSimulation, scenario: Scenario) -> dict[str, pd.DataFrame]:
    model = Model.compile(scenario)
    q = [p / 100.0 for p in FAN_PERCENTILES]
    out = {}
    for name, counts in raw.fan_counts.items():
        values = histogram_quantiles(
            counts, raw.fan_edges[name], raw.fan_min[name], raw.fan_max[name], q
        )
        if name == "net_savings":
            labels = model.timeline.labels[1:]
        else:
            grid = model.grid
            labels = [] if grid is None else [model.timeline.labels[int(t)] for t in grid.pay_t[1:]]
        frame = pd.DataFrame(values, columns=[f"P{p}" for p in FAN_PERCENTILES])
        frame.insert(0, "period", labels)
        out[name] = frame
    return out


def tornado_base(scenario: Scenario, output: str) -> float:
    """The tornado's centre: ``output`` with every input at the scenario's values."""
    model = Model.compile(scenario)
    return float(model.evaluate(model.base_draws).path_metrics[output][0])


#: The input percentiles of the spider chart (each input alone at each, the others at base).
SPIDER_PERCENTILES: Final = (1, 5, 10, 25, 50, 75, 90, 95, 99)


def one_at_a_time(
    scenario: Scenario, output: str, levels: tuple[float, ...]
) -> tuple[FloatArray, FloatArray]:
    """Each risk input alone at each of ``levels`` (probabilities), the others at the
    scenario's values: the input's values and ``output`` there, both (inputs, levels).

    "Base" is the scenario's own values (the deterministic case); mean-reverting paths are
    held at their level. The tornado and the spider chart are both read from this.
    """
    model = Model.compile(scenario)
    risk = model.risk
    n = len(risk.inputs)
    values = np.zeros((n, len(levels)))
    outputs = np.zeros((n, len(levels)))
    for j, r in enumerate(risk.inputs):
        at = ppf(r.spec.distribution, np.array(levels, dtype=np.float64))
        drawn = np.zeros((len(levels), n))
        drawn[:, j] = at
        draws, rates = risk.draws(drawn, 0, 0, only=j, shocks=False)
        values[j] = at
        outputs[j] = model.evaluate(draws, rates).path_metrics[output]
    return values, outputs


def tornado(scenario: Scenario, output: str) -> pd.DataFrame:
    """One-at-a-time swings: each input alone at its P10 and P90, the others at base
    (:func:`one_at_a_time`). Sorted by the absolute swing, largest first."""
    risk = Model.compile(scenario).risk
    values, y = one_at_a_time(scenario, output, (0.1, 0.9))
    rows = [
        {
            "input": r.spec.name,
            "target": r.spec.target,
            "p10_value": float(values[j, 0]),
            "p90_value": float(values[j, 1]),
            "output_at_p10": float(y[j, 0]),
            "output_at_p90": float(y[j, 1]),
            "swing": float(y[j, 1] - y[j, 0]),
        }
        for j, r in enumerate(risk.inputs)
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "input",
            "target",
            "p10_value",
            "p90_value",
            "output_at_p10",
            "output_at_p90",
            "swing",
        ],
    )
    if frame.empty:
        return frame
    order = frame["swing"].abs().sort_values(ascending=False, kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def spider(scenario: Scenario, output: str) -> pd.DataFrame:
    """The spider chart's data: ``output`` with each input (rows) alone at each of
    :data:`SPIDER_PERCENTILES` of its distribution (columns ``P1`` ... ``P99``), the others at
    the scenario's values (:func:`one_at_a_time`). A steep line is an input that matters; a
    bent one acts more at one end of its range than the other."""
    risk = Model.compile(scenario).risk
    _, y = one_at_a_time(scenario, output, tuple(p / 100.0 for p in SPIDER_PERCENTILES))
    return pd.DataFrame(
        y,
        index=pd.Index([r.spec.name for r in risk.inputs], name="input"),
        columns=[f"P{p}" for p in SPIDER_PERCENTILES],
    )
