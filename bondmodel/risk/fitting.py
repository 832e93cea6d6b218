"""Fitting risk distributions to data: maximum likelihood, AIC/BIC, bootstrap KS and AD tests.

A pilot designer's savings-realisation, delay and overrun figures come from earlier pilots
and benchmark programmes. This module reads one column of such figures from a CSV file
(:func:`read_column`), fits each candidate family by maximum likelihood (``scipy.stats``),
ranks the fits by AIC or BIC, tests each with the Kolmogorov-Smirnov and the
Anderson-Darling statistics whose p-values come from one seeded parametric bootstrap (the
parameters refitted on every replicate, so the p-values allow for their estimation), and
gives each fit as the
``[[risk.inputs]]`` distribution of the scenario schema (:meth:`Fit.distribution`).

docs/methodology.md, "Fitting distributions to data", gives every formula and its source.

Notes
-----
The fit is deterministic: the point estimates depend only on the data (the optimisers
start from fixed points and draw nothing). Only the bootstrap p-values depend on the seed,
each family's replicates drawn from ``SeedSequence(seed, spawn_key=(family index,))``.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from pydantic import TypeAdapter, ValidationError

from bondmodel.csvtext import CsvKind, read_csv_lines
from bondmodel.errors import ScenarioError
from bondmodel.scenario.fieldtypes import bad_character
from bondmodel.scenario.risk import Distribution, risk_inputs
from bondmodel.types import FloatArray

if TYPE_CHECKING:
    from scipy import stats

#: Largest data file read, in bytes (docs/guarantees.md, "Limits").
MAX_FIT_BYTES: Final = 10_000_000
#: A data file, as messages call it.
DATA_FILE: Final = CsvKind(
    "data file", "a CSV file of figures, one column per series", MAX_FIT_BYTES
)
#: Most values fitted: the bootstrap refits every replicate, so its time grows with this.
MAX_FIT_VALUES: Final = 100_000
#: Fewest values fitted: below this a three-parameter fit and a goodness-of-fit test say
#: little (the standard errors grow as 1/sqrt(n) and the test has almost no power).
MIN_FIT_POINTS: Final = 10
#: Bootstrap replicates of the KS p-value by default, and the most allowed.
DEFAULT_BOOTSTRAP: Final = 200
MAX_BOOTSTRAP: Final = 10_000
#: A difference in AIC (or BIC) below this says little between two fits (Burnham &
#: Anderson 2002, section 2.6: "substantial support").
CLOSE_CRITERION: Final = 2.0
#: Families fitted unless others are asked for; the rest of :data:`FAMILIES` on request.
DEFAULT_FAMILIES: Final = ("normal", "lognormal", "gamma", "weibull", "student_t")

_DISTRIBUTION: Final = TypeAdapter(Distribution)


@dataclass(frozen=True)
class FitData:
    """One column of figures read from a CSV file, with where it came from."""

    path: Path
    column: str
    values: FloatArray
    rows: tuple[int, ...]  # each value's line in the file (1 = the first line)
    sha256: str
    blanks: int  # blank cells skipped

    def where(self, i: int) -> str:
        """``FILE: column C, line L`` of the i-th value."""
        return f"{self.path}: column {self.column!r}, line {self.rows[i]}"


@dataclass(frozen=True)
class Family:
    """A family that can be fitted: its scipy distribution, how it is fitted, its support,
    and how the fitted scipy parameters become a scenario distribution.

    ``fixed`` are the scipy parameters held fixed (a gamma's ``loc`` = 0); the others,
    ``free`` of them, are estimated. ``regular`` says the likelihood is smooth at the
    estimate, so standard errors come from the observed information; the uniform's likelihood
    has its maximum on the edge of the support, where that theory does not hold, and gives
    none.
    """

    name: str
    scipy_name: str
    free: int
    fixed: dict[str, float]
    support: str
    bounds: tuple[float, float]  # the open interval the data must lie in
    regular: bool
    schema: Callable[[tuple[float, ...]], dict[str, Any]]

    def dist(self) -> stats.rv_continuous:
        """The scipy.stats family."""
        from scipy import stats

        family: stats.rv_continuous = getattr(stats, self.scipy_name)
        return family

    def estimate(self, x: FloatArray) -> tuple[float, ...]:
        """The maximum-likelihood scipy parameters (shapes, loc, scale) of the data ``x``."""
        if self.name == "normal":
            return float(np.mean(x)), float(np.std(x))
        if self.name == "lognormal":
            logs = np.log(x)
            return float(np.std(logs)), 0.0, float(np.exp(np.mean(logs)))
        if self.name == "uniform":
            low, high = float(np.min(x)), float(np.max(x))
            return low, high - low
        if self.name == "student_t":
            return _student_t_mle(x)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            fixed = {f"f{k}": v for k, v in self.fixed.items()}
            return tuple(float(v) for v in self.dist().fit(x, **fixed))

    def frozen(self, params: Sequence[float]) -> Any:
        """The fitted scipy.stats distribution."""
        return self.dist()(*params)


def _lognormal(p: tuple[float, ...]) -> dict[str, Any]:
    s, _, scale = p
    mean = scale * math.exp(s * s / 2.0)
    return {"type": "lognormal", "mean": mean, "sd": mean * math.sqrt(math.expm1(s * s))}


def _student_t_mle(x: FloatArray) -> tuple[float, float, float]:
    """The maximum-likelihood (df, location, scale) of Student's t.

    scipy's generic ``t.fit`` (Nelder-Mead from df = 1) is slow and can stop short on
    small samples; this maximises the same likelihood by L-BFGS-B over (ln df, location,
    ln scale), from df = 5, the median and 1.4826 x the median absolute deviation, with
    df in [0.1, 1e6] (the schema's range).
    """
    from scipy import optimize, special

    n = x.size

    def nll(t: FloatArray) -> float:
        df, loc, scale = math.exp(t[0]), t[1], math.exp(t[2])
        z2 = ((x - loc) / scale) ** 2
        value = n * (
            special.gammaln((df + 1) / 2) - special.gammaln(df / 2)
            - 0.5 * math.log(df * math.pi) - t[2]
        ) - (df + 1) / 2 * float(np.sum(np.log1p(z2 / df)))  # fmt: skip
        return -float(value)

    median = float(np.median(x))
    mad = float(np.median(np.abs(x - median))) * 1.4826 or float(np.std(x)) or 1.0
    start = np.array([math.log(5.0), median, math.log(mad)])
    bounds = [(math.log(0.1), math.log(1e6)), (None, None), (None, None)]
    with np.errstate(all="ignore"):
        result = optimize.minimize(nll, start, method="L-BFGS-B", bounds=bounds)
    t = result.x
    return float(math.exp(t[0])), float(t[1]), float(math.exp(t[2]))


ANY: Final = (-math.inf, math.inf)
POSITIVE: Final = (0.0, math.inf)

#: Every family that can be fitted, by its scenario ``type``.
FAMILIES: Final[dict[str, Family]] = {
    f.name: f
    for f in (
        Family(
            "normal", "norm", 2, {}, "any value", ANY, True,
            lambda p: {"type": "normal", "mean": p[0], "sd": p[1]},
        ),
        Family(
            "lognormal", "lognorm", 2, {"loc": 0.0}, "values above 0", POSITIVE, True,
            _lognormal,
        ),
        Family(
            "gamma", "gamma", 2, {"loc": 0.0}, "values above 0", POSITIVE, True,
            lambda p: {"type": "gamma", "shape": p[0], "scale": p[2]},
        ),
        Family(
            "weibull", "weibull_min", 2, {"loc": 0.0}, "values above 0", POSITIVE, True,
            lambda p: {"type": "weibull", "shape": p[0], "scale": p[2]},
        ),
        Family(
            "student_t", "t", 3, {}, "any value", ANY, True,
            lambda p: {"type": "student_t", "df": p[0], "location": p[1], "scale": p[2]},
        ),
        Family(
            "beta", "beta", 2, {"loc": 0.0, "scale": 1.0}, "values strictly between 0 and 1",
            (0.0, 1.0), True, lambda p: {"type": "beta", "alpha": p[0], "beta": p[1]},
        ),
        Family(
            "uniform", "uniform", 2, {}, "any value", ANY, False,
            lambda p: {"type": "uniform", "min": p[0], "max": p[0] + p[1]},
        ),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Fit:
    """One family fitted to the data.

    ``params`` are scipy's (shapes, loc, scale); :meth:`distribution` gives them in the
    schema's parameters, ``se`` each of those parameters' standard error (None where the
    likelihood is not regular or its curvature is not measurable), ``problem`` why the fit
    cannot be used (its parameters outside the schema's ranges), else None.
    """

    family: Family
    params: tuple[float, ...]
    log_likelihood: float
    n: int
    ks: float
    se: dict[str, float | None] = field(default_factory=dict)
    problem: str | None = None
    p_value: float | None = None
    replicates: int = 0
    #: the Anderson-Darling statistic A^2 and its bootstrap p-value (same replicates as KS)
    ad: float = math.nan
    ad_p_value: float | None = None

    @property
    def aic(self) -> float:
        """Akaike's information criterion, 2k - 2 ln L."""
        return 2.0 * self.family.free - 2.0 * self.log_likelihood

    @property
    def bic(self) -> float:
        """Schwarz's Bayesian information criterion, k ln n - 2 ln L."""
        return self.family.free * math.log(self.n) - 2.0 * self.log_likelihood

    def distribution(self) -> dict[str, Any]:
        """The fitted distribution in the scenario schema's parameters (a TOML table)."""
        return self.family.schema(self.params)

    def frozen(self) -> Any:
        """The fitted scipy.stats distribution."""
        return self.family.frozen(self.params)

    def as_json(self) -> dict[str, Any]:
        """The fit as ``fit --json`` gives it: the schema's parameters (every digit) with
        their standard errors, the criteria and both tests, or why it is unusable."""
        return {
            "family": self.family.name,
            "usable": self.problem is None,
            "problem": self.problem,
            "distribution": self.distribution() if self.problem is None else None,
            "standard_errors": dict(self.se),
            "log_likelihood": self.log_likelihood,
            "aic": self.aic,
            "bic": self.bic,
            "n": self.n,
            "ks": {"statistic": self.ks, "p_value": self.p_value},
            "ad": {"statistic": self.ad, "p_value": self.ad_p_value},
            "bootstrap_replicates": self.replicates,
        }


def read_column(path: Path, column: str | None = None) -> FitData:
    """The numbers in one column of the CSV file ``path``.

    The file is UTF-8 text; lines starting with ``#`` are comments (a data set's label and
    source), skipped; the first other line names the columns; blank cells are skipped (and
    counted). ``column`` may be omitted when the file has one column.

    Raises
    ------
    ScenarioError
        Naming the file (and the column, line and value) for a missing, empty, binary or
        oversized file, a missing column, a cell that is not a finite number, or fewer than
        :data:`MIN_FIT_POINTS` values.
    """
    raw, lines = read_csv_lines(path, DATA_FILE)
    if not lines:
        raise ScenarioError(
            f"{path}: holds no header row and no data; allowed: a CSV file "
            "whose first line (after # comments) names the columns"
        )
    table = [cells for _, cells in lines]
    header = [h.strip() for h in table[0]]
    index = _column_index(path, header, column, table[1:])
    name = header[index]
    values: list[float] = []
    rows: list[int] = []
    blanks = 0
    for (number, _), cells in zip(lines[1:], table[1:], strict=True):
        if len(cells) != len(header):
            raise ScenarioError(
                f"{path}: line {number} has {len(cells)} cell(s) but the header names "
                f"{len(header)} column(s); allowed: the same number of cells on every line"
            )
        cell = cells[index].strip()
        if not cell:
            blanks += 1
            continue
        values.append(_number(path, name, number, cell))
        rows.append(number)
        if len(values) > MAX_FIT_VALUES:
            raise ScenarioError(
                f"{path}: column {name!r} has more than {MAX_FIT_VALUES:,} values; "
                f"at most {MAX_FIT_VALUES:,} are fitted"
            )
    if len(values) < MIN_FIT_POINTS:
        got = "no values" if not values else f"only {len(values)} value(s)"
        raise ScenarioError(
            f"{path}: column {name!r} has {got}; at least {MIN_FIT_POINTS} are needed to fit "
            "and test a distribution"
        )
    if len(set(values)) == 1:
        raise ScenarioError(
            f"{path}: column {name!r}: all {len(values)} values are {values[0]:g}; a "
            'distribution cannot be fitted to a constant (use type = "fixed")'
        )
    digest = hashlib.sha256(raw).hexdigest()
    return FitData(path, name, np.asarray(values, dtype=np.float64), tuple(rows), digest, blanks)


def _column_index(path: Path, header: list[str], column: str | None, rows: list[list[str]]) -> int:
    """The column named ``column``; when None, the file's only column, or its only column
    of numbers (a label column beside it is fine)."""
    if column is None:
        if len(header) == 1:
            return 0
        numeric = [
            j
            for j in range(len(header))
            if all(_is_number(r[j]) for r in rows if len(r) == len(header) and r[j].strip())
        ]
        if len(numeric) == 1:
            return numeric[0]
        raise ScenarioError(
            f"{path}: has {len(header)} columns ({', '.join(map(repr, header))}), "
            f"{len(numeric)} of them numbers; choose one with --column "
            "(in a scenario: column = ...)"
        )
    if column not in header:
        raise ScenarioError(
            f"{path}: has no column {column!r}; allowed: {', '.join(map(repr, header))}"
        )
    return header.index(column)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _number(path: Path, column: str, line: int, cell: str) -> float:
    shown = cell if len(cell) <= 40 else cell[:37] + "..."
    try:
        value = float(cell.replace(",", "").replace("_", "x"))
    except ValueError:
        raise ScenarioError(
            f"{path}: column {column!r}, line {line}: {shown!r} is not a number; "
            "allowed: a finite decimal number (or a blank cell, skipped)"
        ) from None
    if not math.isfinite(value):
        raise ScenarioError(
            f"{path}: column {column!r}, line {line}: {shown!r} is not a finite number; "
            "allowed: a finite decimal number (or a blank cell, skipped)"
        )
    return value


def family_names(names: Sequence[str] | None) -> list[Family]:
    """The families called ``names`` (the defaults when None), checked."""
    chosen = list(DEFAULT_FAMILIES) if names is None else list(names)
    for name in chosen:
        if name not in FAMILIES:
            raise ScenarioError(
                f"families: {name!r} cannot be fitted; allowed: {', '.join(FAMILIES)}"
            )
    if len(set(chosen)) != len(chosen):
        raise ScenarioError(f"families: {chosen} names a family twice")
    return [FAMILIES[n] for n in chosen]


def check_support(data: FitData, family: Family) -> None:
    """Refuse data outside ``family``'s support, naming the first value outside it."""
    low, high = family.bounds
    bad = np.flatnonzero((data.values <= low) | (data.values >= high))
    if bad.size:
        i = int(bad[0])
        raise ScenarioError(
            f"{data.where(i)}: {data.values[i]:g} is outside the {family.name} "
            f"distribution's support; allowed: {family.support}"
        )


def fit_family(data: FitData, family: Family) -> Fit:
    """``family`` fitted to ``data`` by maximum likelihood, with standard errors and the KS
    and AD statistics (no p-values: see :func:`bootstrap_p_value`)."""
    check_support(data, family)
    x = data.values
    failure: str | None = None
    # data near the float range overflow the moments and the fitted distribution: the
    # parameters come out not finite and the fit says so, without numpy's warnings on the
    # user's screen
    with quiet_numerics():
        try:
            params = family.estimate(x)
        except (ValueError, ArithmeticError, RuntimeError) as exc:
            # scipy's optimisers on degenerate data (two distinct values, say)
            params = _no_params(family)
            failure = f"the fit did not converge ({type(exc).__name__})"
        try:
            table = family.schema(params)
        except ArithmeticError:
            # the scenario's parameters of the fit (a lognormal's mean, say) overflow
            params = _no_params(family)
            table = family.schema(params)
            failure = failure or "the fit did not converge (a parameter overflows the float range)"
        frozen = family.frozen(params)
        log_likelihood = float(np.sum(frozen.logpdf(x)))
        problem = failure or _schema_problem(table)
        if problem is None and not math.isfinite(log_likelihood):
            problem = "its likelihood is zero at some values (a fitted bound at a data point)"
        se = _standard_errors(family, x, params) if family.regular and problem is None else {}
        names = [k for k in table if k != "type"]
        return Fit(
            family,
            params,
            log_likelihood,
            int(x.size),
            ks_statistic(x, frozen),
            {k: se.get(k) for k in names},
            problem,
            ad=float(ad_statistics(np.sort(x)[None, :], frozen)[0]),
        )


def _replicate_statistics(fit: Fit, samples: FloatArray) -> tuple[list[float], list[float]]:
    """The KS and AD statistics of each bootstrap replicate (a row of ``samples``) against
    its own refit; a replicate outside the family's support, or whose refit fails, is
    left out."""
    statistics: list[float] = []
    ad: list[float] = []
    for row in samples:
        low, high = fit.family.bounds
        if np.any((row <= low) | (row >= high)):
            continue
        try:
            params = fit.family.estimate(row)
        except (ValueError, ArithmeticError, RuntimeError):
            continue
        if not all(math.isfinite(p) for p in params):
            continue
        frozen = fit.family.frozen(params)
        ordered = np.sort(row)[None, :]
        statistics.append(float(ks_statistics(ordered, frozen.cdf)[0]))
        ad.append(float(ad_statistics(ordered, frozen)[0]))
    return statistics, ad


@contextlib.contextmanager
def quiet_numerics() -> Iterator[None]:
    """numpy's floating-point warnings off (and scipy's RuntimeWarnings): for fits on data
    near the float range, whose results are checked for being finite instead."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _no_params(family: Family) -> tuple[float, ...]:
    """A family's parameters when the fit gave none: NaN each."""
    return tuple(math.nan for _ in range(family.free + len(family.fixed)))


def _schema_problem(table: dict[str, Any]) -> str | None:
    """Why the fitted parameters are not a valid scenario distribution, else None."""
    if not all(math.isfinite(v) for k, v in table.items() if k != "type"):
        return "the fit did not converge (a parameter is not finite)"
    try:
        _DISTRIBUTION.validate_python(table)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"][1:]) or "parameters"
        return f"{where}: {error['msg']}"
    return None


def ks_statistic(x: FloatArray, frozen: Any) -> float:
    """The Kolmogorov-Smirnov statistic D = sup |F_n(x) - F(x)| of the data ``x``.

    Notes
    -----
    With x_(1) <= ... <= x_(n): D = max_i max(i/n - F(x_(i)), F(x_(i)) - (i - 1)/n).
    """
    return float(ks_statistics(np.sort(x)[None, :], frozen.cdf)[0])


def ks_statistics(sorted_rows: FloatArray, cdf: Callable[[FloatArray], Any]) -> FloatArray:
    """D of each row of ``sorted_rows`` (each sorted ascending) against ``cdf``."""
    n = sorted_rows.shape[1]
    f = np.asarray(cdf(sorted_rows), dtype=np.float64)
    i = np.arange(1, n + 1)
    result: FloatArray = np.maximum(i / n - f, f - (i - 1) / n).max(axis=1)
    return result


def ad_statistics(sorted_rows: FloatArray, frozen: Any) -> FloatArray:
    """The Anderson-Darling statistic A^2 of each row of ``sorted_rows`` (each sorted
    ascending) against the distribution ``frozen``.

    Notes
    -----
    With x_(1) <= ... <= x_(n): A^2 = -n - (1/n) sum_i (2i - 1) [ln F(x_(i)) +
    ln(1 - F(x_(n+1-i)))] (Anderson & Darling 1954; Stephens 1974), the logarithms taken by
    the distribution's own ``logcdf`` and ``logsf`` so a far tail does not round to ln 0.
    A value outside the support gives +inf (the worst fit).
    """
    n = sorted_rows.shape[1]
    with np.errstate(all="ignore"):
        log_f = np.asarray(frozen.logcdf(sorted_rows), dtype=np.float64)
        log_s = np.asarray(frozen.logsf(sorted_rows), dtype=np.float64)[:, ::-1]
    i = np.arange(1, n + 1)
    total = np.sum((2 * i - 1) * (log_f + log_s), axis=1)
    result: FloatArray = np.where(np.isnan(total), np.inf, -n - total / n)
    return result


def _standard_errors(family: Family, x: FloatArray, params: tuple[float, ...]) -> dict[str, float]:
    """Each schema parameter's standard error, from the observed information.

    Notes
    -----
    The covariance of the free scipy parameters theta is the inverse of the observed
    information, the Hessian of -ln L at the estimate (central differences, step 1e-4
    relative); a schema parameter g(theta) has variance J C J^T, J its gradient (the delta
    method). Empty when the Hessian is not positive definite.
    """
    free = _free_indices(family, len(params))
    theta = np.array([params[i] for i in free])

    def full(t: FloatArray) -> tuple[float, ...]:
        p = list(params)
        for j, i in enumerate(free):
            p[i] = float(t[j])
        return tuple(p)

    def nll(t: FloatArray) -> float:
        with np.errstate(all="ignore"):
            return -float(np.sum(family.frozen(full(t)).logpdf(x)))

    steps = 1e-4 * np.maximum(np.abs(theta), 1e-3)
    k = theta.size
    hessian = np.empty((k, k))
    for a in range(k):
        for b in range(a, k):
            ea, eb = np.eye(k)[a] * steps[a], np.eye(k)[b] * steps[b]
            value = (
                nll(theta + ea + eb) - nll(theta + ea - eb) - nll(theta - ea + eb)
                + nll(theta - ea - eb)
            ) / (4.0 * steps[a] * steps[b])  # fmt: skip
            hessian[a, b] = hessian[b, a] = value
    if not np.all(np.isfinite(hessian)) or np.linalg.eigvalsh(hessian).min() <= 0:
        return {}
    covariance = np.linalg.inv(hessian)
    names = [key for key in family.schema(params) if key != "type"]

    def schema_values(t: FloatArray) -> FloatArray:
        table = family.schema(full(t))
        return np.array([table[key] for key in names], dtype=np.float64)

    jacobian = np.empty((len(names), k))
    for j in range(k):
        e = np.eye(k)[j] * steps[j]
        jacobian[:, j] = (schema_values(theta + e) - schema_values(theta - e)) / (2 * steps[j])
    variance = np.einsum("ij,jk,ik->i", jacobian, covariance, jacobian)
    return {key: float(math.sqrt(v)) for key, v in zip(names, variance, strict=True) if v >= 0.0}


def _free_indices(family: Family, count: int) -> list[int]:
    """Positions of the free parameters in scipy's (shapes..., loc, scale)."""
    fixed = {count - 2 if name == "loc" else count - 1 for name in family.fixed}
    return [i for i in range(count) if i not in fixed]


def bootstrap_p_value(fit: Fit, seed: int, replicates: int, index: int) -> Fit:
    """``fit`` with the parametric-bootstrap p-values of its KS and AD statistics.

    Notes
    -----
    B samples of the data's size are drawn from the fitted distribution, uniforms from
    ``SeedSequence(seed, spawn_key=(index,))`` inverted by the scenario distribution's own
    quantile function (the distribution a run samples); each is refitted, and its
    statistics D*_b and A*_b measured against its own fit. p = (1 + #{D*_b >= D}) / (B + 1),
    and the same for A^2 on the same replicates
    (Stute, Gonzalez Manteiga & Presedo Quindimil 1993; Babu & Rao 2004). Replicates whose
    refit fails are dropped, and counted out of B.
    """
    from bondmodel.risk.distributions import ppf

    if replicates < 1 or replicates > MAX_BOOTSTRAP:
        raise ScenarioError(f"bootstrap: {replicates} replicates; allowed: 1 to {MAX_BOOTSTRAP:,}")
    if fit.problem is not None:
        return fit
    dist = _DISTRIBUTION.validate_python(fit.distribution())
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index,))))
    with quiet_numerics():
        # a fit near the float range draws replicates that overflow: they leave the
        # family's support and are dropped below
        samples = np.asarray(ppf(dist, rng.random((replicates, fit.n))))
        statistics, ad = _replicate_statistics(fit, samples)
    done = len(statistics)
    exceed = int(np.sum(np.asarray(statistics) >= fit.ks))
    ad_exceed = int(np.sum(np.asarray(ad) >= fit.ad))
    return replace(
        fit,
        p_value=(1.0 + exceed) / (done + 1.0),
        replicates=done,
        ad_p_value=(1.0 + ad_exceed) / (done + 1.0),
    )


def fit_all(
    data: FitData,
    families: Sequence[Family],
    *,
    seed: int,
    replicates: int = DEFAULT_BOOTSTRAP,
    rank: str = "aic",
    strict_support: bool = True,
) -> tuple[list[Fit], list[str]]:
    """Every family fitted, tested and ranked (best first by ``rank``, "aic" or "bic";
    unusable fits last), and notes on the families left out.

    A family whose support the data leave is an error when ``strict_support`` (the family
    was asked for by name), else left out with a note.
    """
    if rank not in ("aic", "bic"):
        raise ScenarioError(f"rank: {rank!r}; allowed: 'aic' or 'bic'")
    fits: list[Fit] = []
    notes: list[str] = []
    for family in families:
        try:
            fit = fit_family(data, family)
        except ScenarioError as exc:
            if strict_support:
                raise
            notes.append(f"{family.name} not fitted: {str(exc).split(': ', 1)[-1]}")
            continue
        index = list(FAMILIES).index(family.name)
        fits.append(bootstrap_p_value(fit, seed, replicates, index))
    fits.sort(key=lambda f: (f.problem is not None, f.aic if rank == "aic" else f.bic))
    return fits, notes


def fit_distribution(data: FitData, family_name: str) -> dict[str, Any]:
    """The ``family_name`` distribution fitted to ``data`` (the scenario route: deterministic,
    no bootstrap), as a schema table; refuses a fit that is not a valid distribution."""
    family = family_names([family_name])[0]
    fit = fit_family(data, family)
    if fit.problem is not None:
        raise ScenarioError(
            f"{data.path}: column {data.column!r}: the {family.name} fit cannot be used: "
            f"{fit.problem}"
        )
    return fit.distribution()


def toml_value(value: Any) -> str:
    """A value as TOML: text quoted, floats with every digit (repr), so the fitted
    distribution is reproduced exactly."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(float(value))


def distribution_toml(table: dict[str, Any]) -> str:
    """``distribution = { type = ..., ... }``: one line to paste into ``[[risk.inputs]]``."""
    inner = ", ".join(f"{key} = {toml_value(v)}" for key, v in table.items())
    return f"distribution = {{ {inner} }}"


def pp_points(data: FitData, fit: Fit) -> tuple[FloatArray, FloatArray]:
    """The P-P plot of ``fit``: the plotting positions (i - 0.5)/n of the sorted data against
    the fitted cumulative probabilities F(x_(i)); on the diagonal for a perfect fit."""
    x = np.sort(data.values)
    empirical = (np.arange(1, x.size + 1) - 0.5) / x.size
    return empirical, np.asarray(fit.frozen().cdf(x), dtype=np.float64)


def summary_line(data: FitData) -> str:
    """One line on the data: file, column, count, range and SHA-256."""
    x = data.values
    blanks = f", {data.blanks} blank cell(s) skipped" if data.blanks else ""
    return (
        f"{data.path}: column {data.column!r}, {x.size} values from {x.min():.6g} to "
        f"{x.max():.6g} (mean {x.mean():.4g}, sd {x.std(ddof=1):.4g}){blanks}; "
        f"SHA-256 {data.sha256}"
    )


def parameter_text(fit: Fit) -> str:
    """``mean 0.874 (0.033), sd 0.206 (0.026)``: each schema parameter to 4 significant
    figures with its standard error in brackets (n/a where there is none)."""
    parts = []
    for key, value in fit.distribution().items():
        if key == "type":
            continue
        se = fit.se.get(key)
        parts.append(f"{key} {value:.4g} ({'n/a' if se is None else f'{se:.2g}'})")
    return ", ".join(parts)


def fit_toml(data: FitData, family: str) -> str:
    """``fit = { data = ..., column = ..., family = ... }``: the scenario route, one line."""
    return (
        f"fit = {{ data = {toml_value(str(data.path))}, column = {toml_value(data.column)}, "
        f"family = {toml_value(family)} }}"
    )


def data_path(recorded: str, base: Path) -> Path:
    """The data file a scenario's ``fit.data`` names: relative to ``base`` (the scenario's
    folder, or the workbook's for verify) unless absolute."""
    path = Path(recorded)
    return path if path.is_absolute() else base / path


def resolve_fits(data: dict[str, Any], base: Path, source: str) -> dict[str, Any]:
    """``data`` (a parsed scenario) with each risk input's ``fit`` resolved: the data file
    read (relative to ``base``), the family fitted, and ``distribution`` and
    ``fit.sha256`` filled in.

    An input that already gives ``fit.sha256`` or ``distribution`` must agree: the data's
    SHA-256 and the refitted distribution, to the last bit (a distribution with no
    parameters, only a ``type``, is filled in). Malformed ``fit`` tables are left for the
    schema to report. ``load_scenario`` calls this with the scenario's folder, the Inputs
    sheet's reader with the workbook's.

    Raises
    ------
    ScenarioError
        Naming the scenario, the input and the data file (and its column, line, value).
    """
    inputs = risk_inputs(data)
    if not inputs:
        return data
    resolved = []
    for i, item in enumerate(inputs):
        fit = item.get("fit") if isinstance(item, dict) else None
        if not (
            isinstance(fit, dict)
            and isinstance(fit.get("data"), str)
            and bad_character(fit["data"]) is None  # else the schema's FilePath says why
            and fit.get("family") in FAMILIES
            and isinstance(fit.get("column"), str | None)
        ):
            resolved.append(item)
            continue
        name = item.get("name")
        where = f"{source}: risk.inputs[{i}]" + (f" ({name!r})" if isinstance(name, str) else "")
        try:
            column = read_column(data_path(fit["data"], base), fit.get("column"))
            table = fit_distribution(column, fit["family"])
        except ScenarioError as exc:
            raise ScenarioError(f"{where}.fit.data: {exc}") from None
        recorded = fit.get("sha256")
        if recorded is not None and recorded != column.sha256:
            raise ScenarioError(
                f"{where}.fit.sha256: {column.path} has SHA-256 {column.sha256}, not the "
                f"{recorded} recorded: the data changed; remove sha256 to fit the new data"
            )
        given = item.get("distribution")
        # a distribution without parameters (cleared on the Inputs sheet) is the fit's to fill
        if isinstance(given, dict) and set(given) - {"type"} and given != table:
            raise ScenarioError(
                f"{where}.distribution: {given!r} is not the {fit['family']} fitted to "
                f"{column.path} ({table!r}); remove (or clear) the distribution's parameters "
                "to use the fit, or remove the fit to keep the distribution as typed"
            )
        resolved.append({**item, "distribution": table, "fit": {**fit, "sha256": column.sha256}})
    return {**data, "risk": {**data["risk"], "inputs": resolved}}


def refit_problems(scenario: Any, base: Path, source: str) -> list[str]:
    """For ``bondmodel verify``: each fitted risk input of ``scenario`` refitted from its data
    file (relative to ``base``, the workbook's folder): problems where the refit is not the
    recorded distribution to the last bit. ``source`` (the workbook) starts each message.

    Raises
    ------
    ScenarioError
        A data file is missing or unreadable, or its SHA-256 is not the one recorded: the
        fit cannot be checked (exit 2).
    """
    problems = []
    risk = scenario.risk
    for i, item in enumerate(risk.inputs if risk is not None else ()):
        fit = item.fit
        if fit is None:
            continue
        where = f"{source}: risk.inputs[{i}] ({item.name!r}).fit"
        path = data_path(fit.data, base)
        try:
            column = read_column(path, fit.column)
        except ScenarioError as exc:
            raise ScenarioError(
                f"{where}.data: {exc}; verify refits the distribution from the data file, "
                "found relative to the workbook's folder"
            ) from None
        if column.sha256 != fit.sha256:
            raise ScenarioError(
                f"{where}.sha256: {path} has SHA-256 {column.sha256}, but the run fitted data "
                f"with SHA-256 {fit.sha256}: not the data the run used"
            )
        table = fit_distribution(column, fit.family)
        recorded = item.distribution.model_dump()
        if any(recorded.get(k) != v for k, v in table.items()):
            problems.append(
                f"{where}: refitting {fit.family} to {path} gives {table!r}, the workbook "
                f"records {recorded!r}"
            )
    return problems
