"""``solve``: the largest or smallest value of one field that meets every constraint.

The method, one-dimensional and robust rather than fast:

1. evaluate an evenly spaced grid of ``GRID`` values over the range, every one
   on the same draws (common random numbers), and mark each feasible or not;
2. take the best feasible grid value in the direction asked (the largest when
   maximising) and bisect between it and its infeasible neighbour until the
   bracket is narrower than the tolerance; the answer is the feasible end;
3. report each constraint at the answer (value, standard error, margin), the
   binding one, and the Monte Carlo uncertainty of the answer: the binding
   constraint's standard error divided by its slope across the last grid step,
   times 1.96.

No smoothness or monotonicity is assumed beyond the grid step: a feasible
region narrower than one grid step can be missed (make the grid finer with a
narrower --range). Probabilities over a finite number of paths move in steps,
which bisection handles. If no grid value is feasible the problem is reported
infeasible, with the best value each constraint reached and where.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bondmodel.design.measures import Z95, Constraint, Evaluation, SharedDraws, evaluate
from bondmodel.design.variation import (
    Domain,
    current_value,
    field_domain,
    list_field_message,
    with_value,
)
from bondmodel.errors import BondModelError, ScenarioError
from bondmodel.labels import finite_or_none
from bondmodel.scenario.schema import Scenario

#: Grid points over the range (both ends included).
GRID = 11
#: Most bisection steps.
MAX_STEPS = 60


class Checked:
    """What every evaluated point of a search has: each constraint's (value, se), or the
    reason it could not be evaluated; and from them its margins and feasibility."""

    values: tuple[tuple[float, float], ...]
    error: str | None

    def margins(self, constraints: list[Constraint]) -> list[float]:
        if self.error is not None:
            return [math.nan] * len(constraints)
        return [c.margin(v) for c, (v, _) in zip(constraints, self.values, strict=True)]

    def feasible(self, constraints: list[Constraint]) -> bool:
        margins = self.margins(constraints)
        return self.error is None and all(m >= 0 for m in margins)


@dataclass(frozen=True)
class Point(Checked):
    """One evaluated value of the field: each constraint's (value, se) and feasibility."""

    x: float
    values: tuple[tuple[float, float], ...]
    error: str | None = None


@dataclass
class Solution:
    """The answer, or the report of an infeasible problem."""

    path: str
    maximise: bool
    constraints: list[Constraint]
    low: float
    high: float
    feasible: bool
    answer: float | None = None
    at_bound: bool = False
    binding: str | None = None
    ci: tuple[float, float] | None = None
    at_answer: Point | None = None
    grid: list[Point] = field(default_factory=list)
    steps: int = 0
    seed: int = 0
    paths: int = 0

    @property
    def exit_code(self) -> int:
        return 0 if self.feasible else 1

    def best_achievable(self) -> list[tuple[str, float | None, float | None]]:
        """Per constraint: the best margin over the grid and the value of the field there."""
        out: list[tuple[str, float | None, float | None]] = []
        for i, c in enumerate(self.constraints):
            found = [(p.margins(self.constraints)[i], p.x) for p in self.grid]
            finite = [(m, x) for m, x in found if math.isfinite(m)]
            if not finite:
                out.append((c.text, None, None))
                continue
            margin, x = max(finite)
            value = margin + c.bound if c.op == ">=" else c.bound - margin
            out.append((c.text, value, x))
        return out

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "field": self.path,
            "objective": "maximise" if self.maximise else "minimise",
            "range": [self.low, self.high],
            "feasible": self.feasible,
            "seed": self.seed,
            "paths": self.paths,
            "evaluations": len(self.grid) + self.steps,
        }
        if self.feasible and self.at_answer is not None:
            out |= {
                "answer": self.answer,
                "at_range_end": self.at_bound,
                "confidence_interval_95": None if self.ci is None else list(self.ci),
                "binding": self.binding,
                "constraints": [
                    {
                        "constraint": c.text,
                        "value": finite_or_none(v),
                        "se": finite_or_none(se),
                        "margin": finite_or_none(m),
                    }
                    for c, (v, se), m in zip(
                        self.constraints,
                        self.at_answer.values,
                        self.at_answer.margins(self.constraints),
                        strict=True,
                    )
                ],
            }
        else:
            out["best_achievable"] = [
                {"constraint": t, "value": v, "at": x} for t, v, x in self.best_achievable()
            ]
        out["grid"] = [
            {
                "x": p.x,
                "feasible": p.feasible(self.constraints),
                "error": p.error,
                "values": [finite_or_none(v) for v, _ in p.values],
            }
            for p in self.grid
        ]
        return out


def default_range(scenario: Scenario, path: str, base: Evaluation) -> tuple[float, float]:
    """A search range of valid values (``--range`` overrides it).

    A first guess by the kind of field (a principal from 5% to 3 times the base case's, a
    rate from 0 to 15%, whole numbers and years across the schema's bounds, otherwise 0 to 3
    times the current value), within the schema's bounds; for a whole-number field, then
    narrowed to the consecutive values around the current one that the scenario's own
    checks accept (a tenor within the horizon, after the grace period, ...).
    """
    domain = field_domain(scenario, path)
    last = path.rsplit(".", 1)[-1]
    value = current_value(scenario, path)
    if path == "bond.principal":
        principal = base.base("principal") or 1.0
        low, high = 0.05 * principal, 3.0 * principal
    elif last in ("rate", "margin", "real_rate", "reference_rate", "floor"):
        low, high = 0.0, 0.15
    elif domain.step is not None and domain.low is not None and domain.high is not None:
        low, high = domain.low, domain.high
    elif isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        low, high = 0.0, 3.0 * float(value)
    else:
        raise ScenarioError(f"solve: give --range LO:HI for {path}")
    if domain.low is not None:
        low = max(low, domain.low)
    if domain.high is not None:
        high = min(high, domain.high)
    if domain.step is None:
        return low, high
    return _valid_run(scenario, path, domain, low, high, float(value))


def _valid_run(
    scenario: Scenario, path: str, domain: Domain, low: float, high: float, current: float
) -> tuple[float, float]:
    """The consecutive whole values in [low, high] around ``current`` that validate."""
    step = domain.step or 1.0
    candidates = [
        x
        for x in np.arange(math.ceil(low), math.floor(high) + step, step)
        if domain.contains(float(x))
    ]
    valid: list[float] = []
    first_error: str | None = None
    for x in candidates:
        try:
            with_value(scenario, path, _typed(float(x), scenario, path))
        except ScenarioError as exc:
            first_error = first_error or f"{path} = {x:g}: {exc}"
            continue
        valid.append(float(x))
    if not valid:
        raise ScenarioError(
            f"solve: no whole value of {path} from {low:g} to {high:g} is valid; the first: "
            f"{first_error}"
        )
    runs: list[list[float]] = []
    for x in valid:
        if runs and x - runs[-1][-1] <= step + 1e-9:
            runs[-1].append(x)
        else:
            runs.append([x])
    around = [r for r in runs if r[0] <= current <= r[-1]]
    run = around[0] if around else max(runs, key=len)
    if len(run) == 1:
        raise ScenarioError(
            f"solve: {path} can only be {run[0]:g} in this scenario (nothing to search); "
            "change the fields that constrain it, or give --range LO:HI"
        )
    return run[0], run[-1]


def check_solve(
    scenario: Scenario,
    path: str,
    constraints: list[Constraint],
    bounds: tuple[float, float] | None = None,
) -> None:
    """Refuse what :func:`solve` cannot do before anything is drawn (the command line calls
    it before it draws and prints a seed): no constraint, a field that does not exist or
    holds a list, a range that is not LO < HI."""
    if not constraints:
        raise ScenarioError("solve: give at least one --constraint")
    if isinstance(current_value(scenario, path), tuple | list):  # the field must exist
        raise ScenarioError(list_field_message("--find", path, current_value(scenario, path)))
    domain = field_domain(scenario, path)
    if bounds is not None:
        low, high = bounds
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ScenarioError(f"bounds: {low}:{high} needs LO < HI")
        domain.check_range("bounds:", path, low, high)  # the command line says --range


def solve(
    scenario: Scenario,
    path: str,
    constraints: list[Constraint],
    maximise: bool,
    draws: SharedDraws,
    bounds: tuple[float, float] | None = None,
    tolerance: float | None = None,
) -> Solution:
    """Find the best value of the field at ``path`` meeting every constraint."""
    check_solve(scenario, path, constraints, bounds)

    def point(x: float) -> Point:
        try:
            ev = evaluate(
                f"{path}={x}", with_value(scenario, path, _typed(x, scenario, path)), draws
            )
        except BondModelError as exc:
            return Point(x, tuple((math.nan, math.nan) for _ in constraints), str(exc))
        return Point(x, tuple(c.measure.value(ev) for c in constraints))

    if bounds is None:
        base = evaluate("base", scenario, replace(draws, paths=0))
        bounds = default_range(scenario, path, base)
    low, high = bounds
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ScenarioError(f"bounds: {low}:{high} needs LO < HI")
    unit = field_domain(scenario, path).step
    tol = tolerance if tolerance is not None else (unit or 1e-6 * (high - low))
    if tol <= 0:
        raise ScenarioError(f"tolerance: {tol} must be positive")
    xs = [_snap(float(x), low, unit) for x in np.linspace(low, high, GRID)]
    grid = [point(x) for x in dict.fromkeys(xs)]  # a whole-number range may repeat a value
    solution = Solution(path, maximise, constraints, low, high, False, grid=grid, seed=draws.seed)
    solution.paths = (
        int(draws.paths)
        if draws.paths is not None
        else (scenario.risk.default_paths if scenario.risk is not None else 0)
    )
    feasible = [i for i, p in enumerate(grid) if p.feasible(constraints)]
    if not feasible:
        return solution
    best = max(feasible) if maximise else min(feasible)
    step = 1 if maximise else -1
    neighbour = best + step
    good = grid[best]
    if not 0 <= neighbour < len(grid):
        solution.feasible, solution.answer, solution.at_bound = True, good.x, True
        solution.at_answer = good
        solution.binding = _tightest(good, constraints)
        return solution
    bad = grid[neighbour]
    outer_good, outer_bad = good, bad
    while abs(bad.x - good.x) > tol and solution.steps < MAX_STEPS:
        middle = _snap(0.5 * (good.x + bad.x), low, unit)
        if middle in (good.x, bad.x):
            break  # whole values next to each other: nothing between them
        mid = point(middle)
        solution.steps += 1
        if mid.feasible(constraints):
            good = mid
        else:
            bad = mid
    solution.feasible, solution.answer, solution.at_answer = True, good.x, good
    binding = _binding(bad, constraints)
    solution.binding = binding
    solution.ci = _interval(good, outer_good, outer_bad, constraints, binding)
    return solution


def _snap(x: float, low: float, step: float | None) -> float:
    """``x`` on the field's step from ``low`` (whole years, whole numbers); as is without."""
    if step is None:
        return x
    return float(low + round((x - low) / step) * step)


def _typed(x: float, scenario: Scenario, path: str) -> Any:
    """Whole-number fields get whole numbers (the grid is a float range)."""
    current = current_value(scenario, path)
    if isinstance(current, int) and not isinstance(current, bool):
        return round(x)
    return x


def _binding(bad: Point, constraints: list[Constraint]) -> str | None:
    """The constraint the first infeasible value breaks (the most, if several)."""
    margins = bad.margins(constraints)
    broken = [(m, c.text) for m, c in zip(margins, constraints, strict=True) if not m >= 0]
    return min(broken)[1] if broken else None


def _tightest(p: Point, constraints: list[Constraint]) -> str | None:
    margins = [
        (m, c.text)
        for m, c in zip(p.margins(constraints), constraints, strict=True)
        if math.isfinite(m)
    ]
    return min(margins)[1] if margins else None


def _interval(
    answer: Point, left: Point, right: Point, constraints: list[Constraint], binding: str | None
) -> tuple[float, float] | None:
    """1.96 standard errors of the binding constraint over its slope across the grid step."""
    if binding is None:
        return None
    i = [c.text for c in constraints].index(binding)
    _, se = answer.values[i]
    slope = (right.values[i][0] - left.values[i][0]) / (right.x - left.x)
    if not (math.isfinite(se) and math.isfinite(slope)) or slope == 0.0:
        return None
    half = Z95 * se / abs(slope)
    return answer.x - half, answer.x + half
