"""Evaluating structures on common random numbers, and the measures and constraints on them.

Every structure is run with the same seed, sampler and path count. Because
each block's random numbers depend only on the seed, the block number and the
risk inputs (``bondmodel.risk.sampling``), two structures with the same
``[risk]`` section see the same draws path by path: differences between them
come from the structure, not from noise (common random numbers), and they can
be compared path by path.

Measures, as written on the command line:

- ``METRIC``: the base-case value (``council_npv_vs_pwlb``, ``min_dscr``, ...);
- ``Pnn(METRIC)``: the nn-th percentile over the paths (``P90(min_dscr)`` is the
  value 90% of paths fall at or below, as on the Risk sheet);
- ``mean(METRIC)``: the mean over the paths;
- ``P(METRIC)``: the probability that the metric is above zero (``P(investor_loss)``,
  ``P(shortfall)``, ``P(total_topup)``); ``P(METRIC < X)`` and ``P(METRIC > X)`` too.

Each measure has its own good direction (:data:`BETTER`, one entry per metric): higher or
lower, and for whom; a probability ``P(METRIC > X)`` is better in the metric's own direction,
``P(METRIC < X)`` in the opposite one. The comparison's "best for the council" counts only the
measures whose direction the council shares; the heat maps and the terminal tables mark every
measure by its own direction and say whom it favours.

A constraint is ``MEASURE >= X`` or ``MEASURE <= X``. Without a simulation
(a scenario with no ``[risk]``, or ``--paths 0``) the base case is the only
path: a percentile or a mean is the base-case value, a probability 0 or 1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from bondmodel.display import format_value, in_sentence
from bondmodel.engine import Results, run
from bondmodel.errors import ScenarioError
from bondmodel.labels import (
    BOND_METRICS,
    METRICS,
    PATH_EVENTS,
    PATH_METRICS,
    Unit,
    finite_or_none,
    path_metric_label,
    route_metric,
)
from bondmodel.risk.events import event_probability, parse_condition
from bondmodel.risk.sampling import Sampler
from bondmodel.risk.summary import (
    mean_with_error,
    order_statistics,
    sorted_percentile_with_error,
)
from bondmodel.scenario.schema import Scenario
from bondmodel.types import FloatArray

#: The z of the 95% intervals reported with each measure.
Z95 = 1.959963984540054

_MEASURE = re.compile(
    r"^\s*(?:(?P<kind>P\d{1,2}(?:\.\d+)?|mean|P)\(\s*(?P<metric>[a-z_][a-z0-9_]*)\s*"
    r"(?:(?P<op><|>)\s*(?P<level>[^\s<>()]+)\s*)?\)|(?P<bare>[a-z_][a-z0-9_]*))\s*$"
)
_CONSTRAINT = re.compile(r"^(?P<measure>.+?)\s*(?P<op><=|>=)\s*(?P<bound>[-+0-9.eE_]+)\s*$")


@dataclass(frozen=True)
class Evaluation:
    """One structure's results: its label, scenario and run."""

    label: str
    scenario: Scenario
    results: Results

    @property
    def paths(self) -> int:
        return 0 if self.results.risk is None else self.results.risk.settings.paths

    def per_path(self, metric: str) -> FloatArray:
        """The metric on every simulated path, or the base case as one path."""
        if self.results.risk is not None and metric in self.results.risk.per_path:
            return self.results.risk.per_path[metric].to_numpy(dtype=np.float64)
        if metric == "shortfall":
            value = self.base("shortfall_periods")
            return np.array([math.nan if value is None else float(value > 0)])
        value = self.base(metric)
        return np.array([math.nan if value is None else float(value)])

    def base(self, metric: str) -> float | None:
        """The base-case value of a programme or bond metric (None if undefined)."""
        if metric.startswith("partner_npv_") and metric[12:].isdigit():
            index = int(metric[12:])
            names = self.scenario.partner_names
            if index >= len(names):
                raise ScenarioError(f"{metric!r}: the scenario has {len(names)} partners")
            found = self.results.partner_metrics[names[index]]
            value = found.get("npv_after_debt_service", found["npv"])
        elif route_metric(metric) is not None:
            routes = self.results.routes
            if routes is None or metric not in routes.base_metrics:
                count = 0 if routes is None else len(routes.views)
                raise ScenarioError(f"{metric!r}: the scenario has {count} funding routes")
            value = routes.base_metrics[metric]
        elif metric in self.results.metrics:
            value = self.results.metrics[metric]
        elif self.results.bond is not None and metric in self.results.bond.metrics:
            value = self.results.bond.metrics[metric]
        else:
            raise ScenarioError(f"{metric!r} is not a metric of this scenario; {_known()}")
        return None if value is None else float(value)


@dataclass(frozen=True)
class SharedDraws:
    """What every structure of a study shares, made once and handed down whole.

    ``paths`` (None: the scenario's ``risk.default_paths``; 0: the base case only), ``seed``
    and ``sampler`` give each structure the same draws; ``workers`` and ``scheduler`` only
    spread the work.
    """

    paths: int | None
    seed: int
    sampler: Sampler = "random"
    workers: int = 1
    scheduler: str | None = None


def evaluate(label: str, scenario: Scenario, draws: SharedDraws) -> Evaluation:
    """Run ``scenario`` on the shared draws: every structure sees the same ones."""
    results = run(
        scenario,
        paths=draws.paths,
        seed=draws.seed,
        sampler=draws.sampler,
        workers=draws.workers,
        scheduler=draws.scheduler,
    )
    return Evaluation(label, scenario, results)


def _known() -> str:
    names = sorted(set(METRICS) | set(BOND_METRICS) | set(PATH_METRICS))
    return (
        "known metrics: "
        + ", ".join(names)
        + "; with funding routes, route_npv_K, route_peak_cash_K, route_council_shortfall_K "
        "and route_investor_shortfall_K (route K from 0)"
    )


@dataclass(frozen=True)
class Better:
    """A metric's good direction: ``sign`` +1 higher is better, -1 lower, 0 neither (a
    choice, such as the principal); ``whom`` it is better for, in words."""

    sign: int
    whom: str

    @property
    def council(self) -> bool:
        """Whether the council counts this direction as its own (its "best" in compare)."""
        return self.sign != 0 and "council" in self.whom


COUNCIL = "the council"
INVESTORS = "investors"
BOTH = "investors and the council"

#: The one table of good directions, by metric (base case and per path alike). A DSCR and a
#: shortfall matter to both sides: cover protects the investors' payments and the council's
#: pledged savings. An investor loss is the investors' loss and a default on the council's
#: bond (its credit and its next bond pay for it). The investors' IRR is the council's cost,
#: so it is better only for the investors; the principal is a choice, better for neither.
BETTER: Final[dict[str, Better]] = {
    "principal": Better(0, "neither: a choice"),
    "gearing": Better(0, "neither: a choice"),
    "funding_gap": Better(-1, COUNCIL),
    "investor_irr": Better(+1, INVESTORS),
    "money_multiple": Better(+1, INVESTORS),
    "npv": Better(+1, COUNCIL),
    "pv_savings": Better(+1, COUNCIL),
    "pv_costs": Better(-1, COUNCIL),
    "bcr": Better(+1, COUNCIL),
    "payback_years": Better(-1, COUNCIL),
    "discounted_payback_years": Better(-1, COUNCIL),
    "peak_funding_need": Better(-1, COUNCIL),
    "council_npv": Better(+1, COUNCIL),
    "council_npv_vs_pwlb": Better(+1, COUNCIL),
    "pwlb_npv": Better(+1, COUNCIL),
    "total_topup": Better(-1, COUNCIL),
    "min_dscr": Better(+1, BOTH),
    "avg_dscr": Better(+1, BOTH),
    "llcr": Better(+1, BOTH),
    "plcr": Better(+1, BOTH),
    "shortfall": Better(-1, BOTH),
    "shortfall_periods": Better(-1, BOTH),
    "investor_loss": Better(-1, BOTH),
    "loss_given_default": Better(-1, BOTH),
}
NEITHER = Better(0, "neither: no direction")
#: The good direction of each funding route's per-path metric, by its prefix.
ROUTE_BETTER: Final[dict[str, Better]] = {
    "route_npv": Better(+1, COUNCIL),
    "route_peak_cash": Better(-1, COUNCIL),
    "route_council_shortfall": Better(-1, COUNCIL),
    "route_investor_shortfall": Better(-1, INVESTORS),
}


@dataclass(frozen=True)
class Measure:
    """A statistic of a metric: ``kind`` is base, mean, pNN or prob; ``text`` as written."""

    text: str
    kind: str
    metric: str
    percentile: float = 50.0
    op: str = ">"
    level: float = 0.0

    @property
    def better(self) -> Better:
        """The measure's good direction: its metric's, reversed for ``P(METRIC < X)``."""
        route = route_metric(self.metric)
        if self.metric.startswith("partner_npv_"):
            found = Better(+1, "that partner")
        elif route is not None:
            found = ROUTE_BETTER[route[0]]
        else:
            found = BETTER.get(self.metric, NEITHER)
        if self.kind == "prob" and self.op == "<":
            return Better(-found.sign, found.whom)
        return found

    @property
    def unit(self) -> Unit:
        """The display unit: a probability is a rate; otherwise the metric's own."""
        if self.kind == "prob":
            return "rate"
        return self.metric_unit

    @property
    def metric_unit(self) -> Unit:
        if self.metric.startswith("partner_npv_") or route_metric(self.metric) is not None:
            return "money"
        table = BOND_METRICS | METRICS if self.kind == "base" else PATH_METRICS
        column = table.get(self.metric) or (BOND_METRICS | METRICS).get(self.metric)
        return "ratio" if column is None else column.unit

    def label(
        self, partners: Sequence[str] = (), currency: str = "GBP", routes: Sequence[str] = ()
    ) -> str:
        """The measure in words, from the labels table: "Minimum DSCR, P10", "Probability of
        a shortfall", "Council NPV after debt service, base case"; a route's metric names the
        route (``routes``, the scenario's route names)."""
        metric = self.metric_label(partners, routes)
        if self.kind == "base":
            return f"{metric}, base case"
        if self.kind == "mean":
            return f"{metric}, mean"
        if self.kind == "percentile":
            return f"{metric}, P{self.percentile:g}"
        if self.op == ">" and self.level == 0.0 and self.metric in PATH_EVENTS:
            return f"Probability of {PATH_EVENTS[self.metric]}"
        level = format_value(self.level, self.metric_unit, currency)
        return f"Probability {in_sentence(metric)} {self.op} {level}"

    def metric_label(self, partners: Sequence[str] = (), routes: Sequence[str] = ()) -> str:
        """The metric's label: the base case's for a bare metric, else the per-path one."""
        if route_metric(self.metric) is not None:
            return path_metric_label(self.metric, routes=routes)
        if self.metric.startswith("partner_npv_"):
            index = int(self.metric[12:])
            name = partners[index] if index < len(partners) else f"partner {index + 1}"
            return f"NPV after debt service: {name}"
        if self.kind == "base":
            column = (BOND_METRICS | METRICS).get(self.metric)
        else:
            column = PATH_METRICS.get(self.metric)
        return self.metric if column is None else column.label

    def value(self, ev: Evaluation) -> tuple[float, float]:
        """The measure on ``ev`` and its Monte Carlo standard error (0 for the base case)."""
        if self.kind == "base":
            value = ev.base(self.metric)
            return (math.nan if value is None else value), 0.0
        if (
            self.metric not in PATH_METRICS
            and not self.metric.startswith("partner_npv_")
            and route_metric(self.metric) is None
        ):
            raise ScenarioError(
                f"{self.text}: {self.metric!r} is not simulated path by path; per-path metrics: "
                + ", ".join(PATH_METRICS)
            )
        values = ev.per_path(self.metric)
        if self.kind == "prob":
            # the one definition of an event's probability, shared with run (risk/events.py)
            return event_probability(values, ">" if self.op == ">" else "<", self.level)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return math.nan, math.nan
        # the one definition of each statistic, shared with run's summary (risk/summary.py)
        if self.kind == "mean":
            mean, _, se = mean_with_error(finite)
            return mean, se
        ordered = order_statistics(finite, [self.percentile], Z95)
        level, _, _, se = sorted_percentile_with_error(ordered, self.percentile, Z95)
        return level, se


def parse_measure(text: str) -> Measure:
    """Parse ``council_npv``, ``P50(council_npv)``, ``mean(npv)``, ``P(investor_loss)``, ..."""
    match = _MEASURE.match(text)
    if match is None:
        raise ScenarioError(
            f"{text!r} is not a measure; write METRIC (base case), Pnn(METRIC), mean(METRIC) "
            "or P(METRIC) (the probability it is above 0), such as P90(min_dscr)"
        )
    if match.group("bare"):
        return Measure(text.strip(), "base", match.group("bare"))
    kind, metric = match.group("kind"), match.group("metric")
    if kind == "mean":
        return Measure(text.strip(), "mean", metric)
    if kind == "P":
        if match.group("op") is None:
            return Measure(text.strip(), "prob", metric, op=">", level=0.0)
        # the one grammar of a condition, shared with run --scenario-analysis
        condition = parse_condition(f"{metric}{match.group('op')}{match.group('level')}")
        if condition is None:
            raise ScenarioError(
                f"{text!r}: {match.group('level')!r} is not a finite number, such as "
                "P(min_dscr < 1.0)"
            )
        return Measure(text.strip(), "prob", metric, op=condition.op, level=condition.level)
    if match.group("op") is not None:
        raise ScenarioError(f"{text!r}: a comparison goes only inside P(...), such as P(npv < 0)")
    percentile = float(kind[1:])
    if not 0.0 <= percentile <= 100.0:
        raise ScenarioError(f"{text!r}: a percentile is between P0 and P100")
    return Measure(text.strip(), "percentile", metric, percentile=percentile)


@dataclass(frozen=True)
class Constraint:
    """``measure op bound``, op ``>=`` or ``<=``."""

    text: str
    measure: Measure
    op: str
    bound: float

    def margin(self, value: float) -> float:
        """How far inside the limit the value is (>= 0: satisfied; NaN: undefined)."""
        return value - self.bound if self.op == ">=" else self.bound - value

    def as_json(self, ev: Evaluation) -> dict[str, Any]:
        value, se = self.measure.value(ev)
        margin = self.margin(value)
        return {
            "constraint": self.text,
            "value": finite_or_none(value),
            "se": finite_or_none(se),
            "margin": finite_or_none(margin),
            "satisfied": bool(margin >= 0),
        }


def parse_constraint(text: str) -> Constraint:
    """Parse ``P(investor_loss) <= 0.05``, ``P90(min_dscr) >= 1.2``, ``council_npv >= 0``."""
    match = _CONSTRAINT.match(text.strip())
    if match is None:
        raise ScenarioError(
            f"constraint {text!r} should be MEASURE >= NUMBER or MEASURE <= NUMBER, such as "
            "'P(investor_loss) <= 0.05' or 'P90(min_dscr) >= 1.20'"
        )
    try:
        bound = float(match.group("bound"))
    except ValueError:
        raise ScenarioError(
            f"constraint {text!r}: {match.group('bound')!r} is not a number"
        ) from None
    if not math.isfinite(bound):
        raise ScenarioError(f"constraint {text!r}: the bound must be finite")
    return Constraint(text.strip(), parse_measure(match.group("measure")), match.group("op"), bound)
