"""``solve --objective``: several fields searched at once for the best objective under constraints.

The one-field ``solve`` (:mod:`bondmodel.design.solve`) bisects for the largest or
smallest value of a field. With several fields there is no "largest structure", so this
search maximises or minimises a named measure (``--objective``, such as
``P50(council_npv)`` or the base-case ``principal``) over a box of field values, subject
to the same chance constraints:

1. every candidate structure is evaluated on the same draws (common random numbers: the
   same seed, sampler and paths, :class:`~bondmodel.design.measures.SharedDraws`), so the
   objective and the constraints are deterministic functions of the fields;
2. the search is scipy's differential evolution (Storn and Price 1997), derivative-free,
   with a population of ``population`` members per field, at most ``generations``
   generations, whole-number fields searched as integers (scipy's ``integrality``),
   ``workers=1`` (the model runs may themselves be spread by ``--workers`` or a Dask
   scheduler) and no gradient polish (the measures of a finite sample move in steps);
3. its own random choices (the Latin-hypercube start and the mutations) come from a
   generator seeded from ``--seed`` on a stream of its own, so the same seed gives the
   same search and the same answer, bit for bit, on any executor;
4. constraints are scipy ``NonlinearConstraint`` margins (>= 0 when met), handled by
   Lampinen's rules: a feasible point beats an infeasible one, two feasible points compare
   by objective, and an infeasible trial replaces an infeasible point only when it breaks
   no constraint more (each constraint in its own unit, so money and probabilities are
   never added together);
5. the answer is the best feasible structure evaluated (first found on a tie). A
   constraint *binds* when the search evaluated a structure with a better objective that
   broke that constraint alone: dropping it would have improved the answer. (Two
   constraints that keep out better structures only together are not marked.)

Nothing is guaranteed to be the global optimum: differential evolution is a heuristic
that can stop short of a narrow optimum or on a plateau; the report says how many model
runs it took and whether the population converged.

References
----------
.. [1] Storn, R. and Price, K. (1997). Differential evolution: a simple and efficient
   heuristic for global optimization over continuous spaces. Journal of Global
   Optimization 11, 341-359.
.. [2] Lampinen, J. (2002). A constraint handling approach for the differential
   evolution algorithm. Proceedings of the 2002 Congress on Evolutionary Computation.
.. [3] scipy.optimize.differential_evolution, SciPy documentation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bondmodel.design.measures import Constraint, Evaluation, Measure, SharedDraws, evaluate
from bondmodel.design.solve import Checked, _typed, default_range
from bondmodel.design.variation import current_value, field_domain, list_field_message, with_value
from bondmodel.errors import BondModelError, ScenarioError
from bondmodel.labels import finite_or_none
from bondmodel.scenario.schema import Scenario

#: Population members per searched field (scipy's ``popsize``; at least 5 members in all).
POPULATION = 10
#: Most generations after the first population.
GENERATIONS = 30
#: Stop when the population's objective spread is below this share of its mean (scipy's tol).
TOLERANCE = 1e-6
#: The stream of the search's own random choices (spawn key), apart from the model's draws.
SEARCH_STREAM = 0x501FE
#: Most fields one search takes.
MAX_FIELDS = 8
#: Most structures one search may run (members x generations, the first included): ten times
#: sweep's largest grid (``study.MAX_CELLS``), as a search keeps only a few numbers per run.
MAX_RUNS = 20_000


@dataclass(frozen=True)
class Field:
    """One searched field: its path, its range, and whether it takes whole values."""

    path: str
    low: float
    high: float
    whole: bool


@dataclass(frozen=True)
class Trial(Checked):
    """One evaluated structure: the fields' values, the objective and each constraint
    (value, standard error), or the reason it could not be evaluated."""

    x: tuple[float, ...]
    objective: tuple[float, float]
    values: tuple[tuple[float, float], ...]
    error: str | None = None


@dataclass
class Optimum:
    """The best structure found, or the report of an infeasible search."""

    fields: list[Field]
    objective: Measure
    maximise: bool
    constraints: list[Constraint]
    seed: int
    paths: int
    population: int
    generations: int
    trials: list[Trial] = field(default_factory=list)
    answer: Trial | None = None
    binding: list[str] = field(default_factory=list)
    generations_run: int = 0
    converged: bool = False

    @property
    def feasible(self) -> bool:
        return self.answer is not None

    @property
    def exit_code(self) -> int:
        return 0 if self.feasible else 1

    @property
    def evaluations(self) -> int:
        """Model runs: each distinct structure is run once (a revisited one is remembered)."""
        return len(self.trials)

    def at_range_end(self) -> list[str]:
        """The fields whose answer is an end of their range (widen --range to look further)."""
        if self.answer is None:
            return []
        return [
            f.path for f, x in zip(self.fields, self.answer.x, strict=True) if x in (f.low, f.high)
        ]

    def best_achievable(self) -> list[tuple[str, float | None, tuple[float, ...] | None]]:
        """Per constraint: the best value any evaluated structure reached, and where."""
        out: list[tuple[str, float | None, tuple[float, ...] | None]] = []
        for i, c in enumerate(self.constraints):
            found = [(t.margins(self.constraints)[i], k) for k, t in enumerate(self.trials)]
            finite = [(m, -k) for m, k in found if math.isfinite(m)]
            if not finite:
                out.append((c.text, None, None))
                continue
            margin, k = max(finite)
            value = margin + c.bound if c.op == ">=" else c.bound - margin
            out.append((c.text, value, self.trials[-k].x))
        return out

    def statement(self) -> str:
        """What repeats the answer, in words."""
        return (
            f"Reproducible: the same scenario, --seed {self.seed}, paths, sampler and search "
            "settings give the same search and the same answer, bit for bit, with any "
            "--workers or --scheduler."
        )

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": "differential_evolution",
            "fields": [
                {"field": f.path, "range": [f.low, f.high], "whole": f.whole} for f in self.fields
            ],
            "objective": {
                "measure": self.objective.text,
                "goal": "maximise" if self.maximise else "minimise",
            },
            "feasible": self.feasible,
            "seed": self.seed,
            "paths": self.paths,
            "evaluations": self.evaluations,
            "generations": self.generations_run,
            "population": self.population,
            "max_generations": self.generations,
            "converged": self.converged,
            "reproducible": self.statement(),
        }
        if self.answer is not None:
            value, se = self.answer.objective
            out["answer"] = {f.path: x for f, x in zip(self.fields, self.answer.x, strict=True)}
            out["at_range_end"] = self.at_range_end()
            out["objective"] |= {"value": finite_or_none(value), "se": finite_or_none(se)}
            out["binding"] = list(self.binding)
            out["constraints"] = [
                {
                    "constraint": c.text,
                    "value": finite_or_none(v),
                    "se": finite_or_none(s),
                    "margin": finite_or_none(m),
                    "binding": c.text in self.binding,
                }
                for c, (v, s), m in zip(
                    self.constraints,
                    self.answer.values,
                    self.answer.margins(self.constraints),
                    strict=True,
                )
            ]
        else:
            out["best_achievable"] = [
                {
                    "constraint": t,
                    "value": v,
                    "at": None
                    if x is None
                    else dict(zip([f.path for f in self.fields], x, strict=True)),
                }
                for t, v, x in self.best_achievable()
            ]
        out["search"] = [
            {
                "x": list(t.x),
                "feasible": t.feasible(self.constraints),
                "error": t.error,
                "objective": finite_or_none(t.objective[0]),
                "values": [finite_or_none(v) for v, _ in t.values],
            }
            for t in self.trials
        ]
        return out


def search_fields(
    scenario: Scenario,
    paths: list[str],
    bounds: list[tuple[float, float]] | None,
    draws: SharedDraws,
) -> list[Field]:
    """The searched fields with their ranges: ``bounds`` in order, else each field's default
    range (as the one-field solve's), refused clearly when a field cannot be searched."""
    check_fields(scenario, paths, bounds)
    base: Evaluation | None = None
    out: list[Field] = []
    for i, path in enumerate(paths):
        domain = field_domain(scenario, path)
        whole = domain.step is not None
        if bounds is not None:
            low, high = bounds[i]
        else:
            if base is None:
                base = evaluate("base", scenario, replace(draws, paths=0))
            low, high = default_range(scenario, path, base)
        out.append(Field(path, *_checked_range(path, low, high, whole), whole))
    return out


def _checked_range(path: str, low: float, high: float, whole: bool) -> tuple[float, float]:
    """``low``, ``high`` for the field at ``path``: finite, LO < HI, and two whole values
    apart for a whole-number field (then rounded inwards)."""
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ScenarioError(f"--range {low:g}:{high:g} for {path}: needs LO < HI, both finite")
    if whole and math.floor(high) - math.ceil(low) < 1:
        raise ScenarioError(
            f"--range {low:g}:{high:g} for {path}: the field takes whole values and the "
            "range holds fewer than two; allowed: a range spanning two whole values or more"
        )
    if whole:
        return float(math.ceil(low)), float(math.floor(high))
    return low, high


def check_fields(
    scenario: Scenario, paths: list[str], bounds: list[tuple[float, float]] | None
) -> None:
    """Refuse fields that cannot be searched, and given ranges that cannot be, before anything
    is drawn (the command line calls it before it draws and prints a seed)."""
    if not paths:
        raise ScenarioError("--find: give at least one field")
    if len(paths) > MAX_FIELDS:
        raise ScenarioError(f"--find: {len(paths)} fields; at most {MAX_FIELDS}")
    repeated = sorted({p for p in paths if paths.count(p) > 1})
    if repeated:
        raise ScenarioError(
            f"--find: {', '.join(repeated)} given more than once; allowed: each field once"
        )
    if bounds is not None:
        check_range_count(len(bounds), len(paths))
    for i, path in enumerate(paths):
        current = current_value(scenario, path)  # the field must exist
        if isinstance(current, tuple | list):
            raise ScenarioError(list_field_message("--find", path, current))
        if isinstance(current, bool) or not isinstance(current, int | float | str):
            raise ScenarioError(
                f"--find {path}: the field holds {current!r}; allowed: a numeric field"
            )
        if isinstance(current, str) and path != "bond.principal":
            raise ScenarioError(
                f"--find {path}: the field holds the text {current!r}; allowed: a numeric field"
            )
        domain = field_domain(scenario, path)
        if bounds is not None:
            _checked_range(path, *bounds[i], domain.step is not None)
            domain.check_range("--range", path, *bounds[i])


def optimise(
    scenario: Scenario,
    fields: list[Field],
    objective: Measure,
    maximise: bool,
    constraints: list[Constraint],
    draws: SharedDraws,
    population: int = POPULATION,
    generations: int = GENERATIONS,
) -> Optimum:
    """Search ``fields`` for the best ``objective`` meeting every constraint (see the module)."""
    from scipy.optimize import NonlinearConstraint, differential_evolution

    if not constraints:
        raise ScenarioError("solve: give at least one --constraint")
    check_search_flags(population, generations, len(fields))
    paths = (
        int(draws.paths)
        if draws.paths is not None
        else (scenario.risk.default_paths if scenario.risk is not None else 0)
    )
    result = Optimum(
        fields, objective, maximise, constraints, draws.seed, paths, population, generations
    )
    seen: dict[tuple[float, ...], Trial] = {}

    def trial(x: np.ndarray) -> Trial:
        key = tuple(
            float(round(v)) if f.whole else float(v) for f, v in zip(fields, x, strict=True)
        )
        found = seen.get(key)
        if found is not None:
            return found
        label = ", ".join(f"{f.path}={v!r}" for f, v in zip(fields, key, strict=True))
        try:
            changed = scenario
            for f, v in zip(fields, key, strict=True):
                changed = with_value(changed, f.path, _typed(v, scenario, f.path))
            ev = evaluate(label, changed, draws)
        except BondModelError as exc:
            nan = (math.nan, math.nan)
            found = Trial(key, nan, tuple(nan for _ in constraints), str(exc))
        else:
            try:
                value = objective.value(ev)
            except ScenarioError as exc:
                raise ScenarioError(f"--objective: {exc}") from None
            found = Trial(key, value, tuple(c.measure.value(ev) for c in constraints))
        seen[key] = found
        result.trials.append(found)
        return found

    def energy(x: np.ndarray) -> float:
        value = trial(x).objective[0]
        if not math.isfinite(value):
            return math.inf
        return -value if maximise else value

    def margins(x: np.ndarray) -> np.ndarray:
        found = trial(x).margins(constraints)
        return np.array([m if math.isfinite(m) else -math.inf for m in found])

    rng = np.random.default_rng(np.random.SeedSequence(draws.seed, spawn_key=(SEARCH_STREAM,)))
    outcome = differential_evolution(
        energy,
        [(f.low, f.high) for f in fields],
        maxiter=generations,
        popsize=population,
        tol=TOLERANCE,
        rng=rng,
        polish=False,
        workers=1,
        updating="immediate",
        init="latinhypercube",
        constraints=NonlinearConstraint(margins, 0.0, np.inf),
        integrality=[f.whole for f in fields],
    )
    result.generations_run = int(outcome.nit)
    result.converged = bool(outcome.success)
    feasible = [t for t in result.trials if t.feasible(constraints)]
    if feasible:
        sign = -1.0 if maximise else 1.0

        def score(t: Trial) -> float:
            v = t.objective[0]
            return sign * v if math.isfinite(v) else math.inf

        best = min(feasible, key=score)  # min keeps the first of equals
        result.answer = best
        result.binding = _binding(best, result, score)
    return result


def _binding(best: Trial, result: Optimum, score: Any) -> list[str]:
    """The constraints that alone kept out a better structure the search evaluated: dropping
    such a constraint would have improved the answer (its shadow price is positive)."""
    found: set[int] = set()
    for t in result.trials:
        if t.error is not None or not score(t) < score(best):
            continue
        broken = [i for i, m in enumerate(t.margins(result.constraints)) if not m >= 0]
        if len(broken) == 1:
            found.add(broken[0])
    return [c.text for i, c in enumerate(result.constraints) if i in found]


def check_search_flags(population: int | None, generations: int | None, fields: int) -> None:
    """Refuse a population or generation count outside the search's bounds, or a search of
    more model runs than :data:`MAX_RUNS` (before the seed is printed, as sweep's grid)."""
    if population is not None and not 5 <= population <= 100:
        raise ScenarioError(f"population: {population} is outside 5..100 members per field")
    if generations is not None and not 1 <= generations <= 10_000:
        raise ScenarioError(f"generations: {generations} is outside 1..10000")
    members = max(5, (POPULATION if population is None else population) * fields)
    runs = members * ((GENERATIONS if generations is None else generations) + 1)
    if runs > MAX_RUNS:
        raise ScenarioError(
            f"generations: the search could run {runs:,} structures ({members} members for "
            f"{runs // members:,} generations with the first); at most {MAX_RUNS:,}: lower "
            "--generations or --population"
        )


def check_range_count(ranges: int, fields: int) -> None:
    """Refuse ``--range`` flags that cannot be paired with the ``--find`` fields in order."""
    if ranges != fields:
        raise ScenarioError(
            f"--range: {ranges} range{'' if ranges == 1 else 's'} for {fields} --find "
            f"field{'' if fields == 1 else 's'}; allowed: one --range LO:HI per --find, in the "
            "same order, or none (each field's default range)"
        )
