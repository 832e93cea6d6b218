"""The risk specification: distributions, the inputs they drive, and their correlation.

Each ``[[risk.inputs]]`` entry gives one named risk input a distribution and
says what it drives. Every parameter is checked here (min <= mode <= max,
probabilities summing to 1, and so on), so the samplers can trust them.
docs/methodology.md, "Risk", gives each distribution's parameterisation.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from itertools import accumulate
from typing import Annotated, Any, Final, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from bondmodel.scenario.fieldtypes import (
    FilePath,
    Fraction,
    Name,
    Parameter,
    Spread,
    first_repeat,
    repeat_note,
)
from bondmodel.scenario.frozen import FrozenList
from bondmodel.scenario.located import located

#: A location, bound, value or sample: any sign, at most 1e6 in magnitude.
Finite = Parameter
#: A positive parameter (a standard deviation, a shape, a lognormal quantile): at most 1e6.
Positive = Spread
Probability = Fraction


#: The sampler's uniforms stay in [U_LOW, 1 - U_LOW] (methodology "Sampling"): the extreme
#: values a distribution can be drawn at.
U_LOW: Final = 2.0**-53
#: Phi^-1(1 - 2^-53): how many standard deviations from the mean a normal draw can reach
#: (scipy.special.ndtri, checked in tests/test_distributions.py).
Z_EXTREME: Final = 8.209536151601387
#: ln of the largest float: exp of anything above it overflows.
LOG_MAX_FLOAT: Final = math.log(sys.float_info.max)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


def _ordered(lo: float, mid: float | None, hi: float, names: tuple[str, str, str]) -> None:
    if mid is None:
        if not lo < hi:
            raise ValueError(f"{names[0]} = {lo} must be below {names[2]} = {hi}")
        return
    if not (lo <= mid <= hi and lo < hi):
        raise ValueError(
            f"need {names[0]} <= {names[1]} <= {names[2]} with {names[0]} < {names[2]}; "
            f"got {lo}, {mid}, {hi}"
        )


class Fixed(_Model):
    """Always ``value``."""

    type: Literal["fixed"]
    value: Finite

    def value_range(self) -> tuple[float, float]:
        """The least and greatest value a draw can take (see :meth:`Uniform.value_range`)."""
        return self.value, self.value


class Uniform(_Model):
    """Uniform on [min, max]."""

    type: Literal["uniform"]
    min: Finite
    max: Finite

    @model_validator(mode="after")
    def _check(self) -> Uniform:
        _ordered(self.min, None, self.max, ("min", "", "max"))
        return self

    def value_range(self) -> tuple[float, float]:
        """The least and greatest value a draw can take: the values at u = 2^-53 and
        1 - 2^-53, the sampler's extreme uniforms, from the distribution's own parameters
        (+-inf where they overflow)."""
        width = self.max - self.min
        return self.min + U_LOW * width, self.min + (1.0 - U_LOW) * width


class Triangular(_Model):
    """Triangular with ``min`` <= ``mode`` <= ``max``."""

    type: Literal["triangular"]
    min: Finite
    mode: Finite
    max: Finite

    @model_validator(mode="after")
    def _check(self) -> Triangular:
        _ordered(self.min, self.mode, self.max, ("min", "mode", "max"))
        return self

    def value_range(self) -> tuple[float, float]:
        """The least and greatest value a draw can take (see :meth:`Uniform.value_range`)."""
        width = self.max - self.min
        c = (self.mode - self.min) / width

        def at(u: float) -> float:
            if u < c:
                return self.min + math.sqrt(u * width * (self.mode - self.min))
            return self.max - math.sqrt((1.0 - u) * width * (self.max - self.mode))

        return at(U_LOW), at(1.0 - U_LOW)


class Pert(_Model):
    """(Modified) PERT: a scaled beta with mean (min + shape x mode + max) / (shape + 2).

    ``shape`` = 4 is the classic PERT; other values give Vose's modified PERT.
    """

    type: Literal["pert"]
    min: Finite
    mode: Finite
    max: Finite
    shape: Annotated[float, Field(gt=0.0, le=100.0, allow_inf_nan=False)] = 4.0

    @model_validator(mode="after")
    def _check(self) -> Pert:
        _ordered(self.min, self.mode, self.max, ("min", "mode", "max"))
        return self

    def value_range(self) -> tuple[float, float]:
        """The support [min, max], which holds every draw (see :meth:`Uniform.value_range`)."""
        return self.min, self.max


class Normal(_Model):
    """Normal(mean, sd), optionally truncated to [min, max]."""

    type: Literal["normal"]
    mean: Finite
    sd: Positive
    min: Finite | None = None
    max: Finite | None = None

    @model_validator(mode="after")
    def _check(self) -> Normal:
        if self.min is not None and self.max is not None:
            _ordered(self.min, None, self.max, ("min", "", "max"))
        return self

    def value_range(self) -> tuple[float, float]:
        """Bounds on the values a draw can take. Untruncated: mean -+ 8.21 sd, the values at
        the sampler's extreme uniforms. Truncated: the bound where one is given; on an open
        side mean -+ sd Phi^-1(1 - 2^-53 P / 4), with P the probability the truncation keeps
        (the factor 4 covers the rounding of probabilities near 1 in the truncated quantile)."""
        if self.min is None and self.max is None:
            reach = Z_EXTREME
        else:
            lo = -math.inf if self.min is None else (self.min - self.mean) / self.sd
            hi = math.inf if self.max is None else (self.max - self.mean) / self.sd
            kept = 0.5 * (math.erfc(-hi / math.sqrt(2.0)) - math.erfc(-lo / math.sqrt(2.0)))
            reach = _normal_reach(U_LOW * kept / 4.0)
        low = self.mean - reach * self.sd if self.min is None else self.min
        high = self.mean + reach * self.sd if self.max is None else self.max
        return low, high


def _normal_reach(q: float) -> float:
    """Phi^-1(1 - q): how far out, in sd, the standard normal's upper q-quantile lies
    (:data:`Z_EXTREME` at q = 2^-53); a bound beyond any float draw when q underflows."""
    if q <= 0.0:
        return 40.0  # the normal's density below 1e-300: no float draw lies further out
    from statistics import NormalDist  # stdlib, only for windows far in a tail

    return -NormalDist().inv_cdf(q)


class Lognormal(_Model):
    """Lognormal given by its ``mean`` and ``sd``, or by its ``p10`` and ``p90``."""

    type: Literal["lognormal"]
    mean: Positive | None = None
    sd: Positive | None = None
    p10: Positive | None = None
    p90: Positive | None = None

    @model_validator(mode="after")
    def _check(self) -> Lognormal:
        by_moments = self.mean is not None and self.sd is not None
        by_quantiles = self.p10 is not None and self.p90 is not None
        others = (self.p10, self.p90) if by_moments else (self.mean, self.sd)
        if by_moments == by_quantiles or any(v is not None for v in others):
            given = [k for k in ("mean", "sd", "p10", "p90") if getattr(self, k) is not None]
            raise ValueError(
                f"got {given or 'none of mean, sd, p10, p90'}; "
                "give either mean and sd, or p10 and p90 (all positive)"
            )
        if by_quantiles and not (self.p10 or 0) < (self.p90 or 0):
            raise ValueError(f"p10 = {self.p10} must be below p90 = {self.p90}")
        return self

    def log_params(self) -> tuple[float, float]:
        """(mu, sigma) of the underlying normal."""
        if self.mean is not None and self.sd is not None:
            # log(1 + (sd/mean)^2), without overflowing for a huge ratio
            sigma2 = float(np.logaddexp(0.0, 2.0 * math.log(self.sd / self.mean)))
            return math.log(self.mean) - sigma2 / 2.0, math.sqrt(sigma2)
        z90 = 1.2815515655446004  # Phi^-1(0.9)
        lo, hi = math.log(self.p10 or 1.0), math.log(self.p90 or 1.0)
        return (lo + hi) / 2.0, (hi - lo) / (2.0 * z90)

    def value_range(self) -> tuple[float, float]:
        """The least and greatest value a draw can take, exp(mu -+ 8.21 sigma); +inf where
        it overflows (see :meth:`Uniform.value_range`)."""
        mu, sigma = self.log_params()
        top = mu + Z_EXTREME * sigma
        high = math.exp(top) if top <= LOG_MAX_FLOAT else math.inf
        return math.exp(mu - Z_EXTREME * sigma), high


class Beta(_Model):
    """Beta(alpha, beta) scaled to [min, max] (default [0, 1])."""

    type: Literal["beta"]
    alpha: Positive
    beta: Positive
    min: Finite = 0.0
    max: Finite = 1.0

    @model_validator(mode="after")
    def _check(self) -> Beta:
        _ordered(self.min, None, self.max, ("min", "", "max"))
        return self

    def value_range(self) -> tuple[float, float]:
        """The support [min, max], which holds every draw (see :meth:`Uniform.value_range`)."""
        return self.min, self.max


class Discrete(_Model):
    """``values`` with ``probabilities`` (summing to 1)."""

    type: Literal["discrete"]
    values: FrozenList[Finite] = Field(min_length=1)
    probabilities: FrozenList[Probability] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Discrete:
        if len(self.values) != len(self.probabilities):
            raise ValueError(
                f"values has {len(self.values)} entries but probabilities has "
                f"{len(self.probabilities)}; they must match"
            )
        total = math.fsum(self.probabilities)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"probabilities must sum to 1, got {total!r}")
        return self

    def value_range(self) -> tuple[float, float]:
        """The least and greatest value a draw can take: the smallest value whose cumulative
        probability (values in ascending order) reaches 2^-53, and the largest reached
        before 1 - 2^-53 (see :meth:`Uniform.value_range`)."""
        pairs = sorted(zip(self.values, self.probabilities, strict=True), key=lambda vp: vp[0])
        cumulative = list(accumulate(p for _, p in pairs))
        cumulative[-1] = 1.0

        def at(u: float) -> float:
            return next(v for (v, _), c in zip(pairs, cumulative, strict=True) if c >= u)

        return at(U_LOW), at(1.0 - U_LOW)


class Bernoulli(_Model):
    """An event: ``impact`` with probability ``p``, else ``base`` (default 0)."""

    type: Literal["bernoulli"]
    p: Probability
    impact: Finite
    base: Finite = 0.0

    def value_range(self) -> tuple[float, float]:
        """The least and greatest value a draw can take (see :meth:`Uniform.value_range`)."""
        low, high = sorted((self.base, self.impact))
        p_low = 1.0 - self.p if self.impact >= self.base else self.p
        return (high if p_low < U_LOW else low), (high if p_low < 1.0 - U_LOW else low)


class Empirical(_Model):
    """Resampled from ``samples`` (the empirical distribution, at least 2 values)."""

    type: Literal["empirical"]
    samples: FrozenList[Finite] = Field(min_length=2)

    def value_range(self) -> tuple[float, float]:
        """The least and greatest sample, each drawn (see :meth:`Uniform.value_range`)."""
        return min(self.samples), max(self.samples)


def _special() -> Any:
    """scipy.special, imported only when a family's range needs it (the schema's import stays
    light)."""
    from scipy import special

    return special


def _scaled_range(low: float, high: float, scale: float, shift: float) -> tuple[float, float]:
    """shift + scale x (low, high) as the engine forms it, +-inf where it overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        ends = shift + scale * np.array([low, high], dtype=np.float64)
    return float(ends[0]), float(ends[1])


class Gamma(_Model):
    """Gamma with ``shape`` k and ``scale`` theta, moved by ``shift``: shift + theta G_k."""

    type: Literal["gamma"]
    shape: Positive
    scale: Positive
    shift: Finite = 0.0

    def value_range(self) -> tuple[float, float]:
        """The values at the sampler's extreme uniforms, computed as the engine computes them
        (see :meth:`Uniform.value_range`): shift + theta P^-1(k, u), the inverse regularised
        incomplete gamma."""
        special = _special()
        ends = special.gammaincinv(self.shape, np.array([U_LOW, 1.0 - U_LOW]))
        return _scaled_range(float(ends[0]), float(ends[1]), self.scale, self.shift)


class Weibull(_Model):
    """Weibull with ``shape`` k and ``scale`` lambda, moved by ``shift``:
    shift + lambda (-ln(1 - u))^(1/k)."""

    type: Literal["weibull"]
    shape: Positive
    scale: Positive
    shift: Finite = 0.0

    def value_range(self) -> tuple[float, float]:
        """The values at the sampler's extreme uniforms, computed as the engine computes them
        (see :meth:`Uniform.value_range`); +inf where a small shape raises -ln(2^-53) = 36.7
        to a power beyond the largest float."""

        def at(u: float) -> float:
            try:
                return float(self.shift + self.scale * (-math.log1p(-u)) ** (1.0 / self.shape))
            except OverflowError:
                return math.inf

        return at(U_LOW), at(1.0 - U_LOW)


class StudentT(_Model):
    """Student's t with ``df`` degrees of freedom, at ``location`` and ``scale``:
    location + scale T_df."""

    type: Literal["student_t"]
    df: Positive
    location: Finite = 0.0
    scale: Positive = 1.0

    def value_range(self) -> tuple[float, float]:
        """The values at the sampler's extreme uniforms, computed as the engine computes them
        (see :meth:`Uniform.value_range`): location + scale t_df^-1(u); +-inf where few degrees
        of freedom put the tail beyond the largest float."""
        ends = _special().stdtrit(self.df, np.array([U_LOW, 1.0 - U_LOW]))
        return _scaled_range(float(ends[0]), float(ends[1]), self.scale, self.location)


class General(_Model):
    """A piecewise-linear cumulative distribution (@RISK's RiskCumul): the cumulative
    probability ``cumulative[i]`` at ``values[i]``, linear in between."""

    type: Literal["general"]
    values: FrozenList[Finite] = Field(min_length=2)
    cumulative: FrozenList[Probability] = Field(min_length=2)

    @model_validator(mode="after")
    def _check(self) -> General:
        if len(self.values) != len(self.cumulative):
            raise ValueError(
                f"values has {len(self.values)} entries but cumulative has "
                f"{len(self.cumulative)}; they must match"
            )
        for i in range(1, len(self.values)):
            if not self.values[i - 1] < self.values[i]:
                raise located(
                    ("values", i),
                    f"{self.values[i]} is not above values[{i - 1}] = {self.values[i - 1]}; "
                    "allowed: values in strictly ascending order",
                )
            if not self.cumulative[i - 1] <= self.cumulative[i]:
                raise located(
                    ("cumulative", i),
                    f"{self.cumulative[i]} is below cumulative[{i - 1}] = "
                    f"{self.cumulative[i - 1]}; allowed: cumulative probabilities that never fall",
                )
        if self.cumulative[0] != 0.0:
            raise located(
                ("cumulative", 0),
                f"{self.cumulative[0]} must be 0: the first value is the distribution's minimum",
            )
        if self.cumulative[-1] != 1.0:
            raise located(
                ("cumulative", len(self.cumulative) - 1),
                f"{self.cumulative[-1]} must be 1: the last value is the distribution's maximum",
            )
        return self

    def value_range(self) -> tuple[float, float]:
        """The support [first value, last value], which holds every draw (see
        :meth:`Uniform.value_range`)."""
        return self.values[0], self.values[-1]


#: The most trials a binomial may have: its cumulative table holds n + 1 values.
MAX_BINOMIAL_TRIALS: Final = 100_000


class Binomial(_Model):
    """The number of successes in ``n`` trials of probability ``p``, times ``scale``
    (``scale`` = 1/n gives the share of a cohort that succeeds)."""

    type: Literal["binomial"]
    n: Annotated[int, Field(ge=1, le=MAX_BINOMIAL_TRIALS)]
    p: Probability
    scale: Positive = 1.0

    def value_range(self) -> tuple[float, float]:
        """Bounds on the draws, 0 and n x scale (see :meth:`Uniform.value_range`)."""
        return 0.0, self.n * self.scale


Distribution = Annotated[
    Fixed
    | Uniform
    | Triangular
    | Pert
    | Normal
    | Lognormal
    | Beta
    | Discrete
    | Bernoulli
    | Empirical
    | Gamma
    | Weibull
    | StudentT
    | General
    | Binomial,
    Field(discriminator="type"),
]

Category = Literal["it", "redundancy", "programme", "property", "other"]

Target = Literal[
    "savings.realisation",
    "partners.realisation",
    "savings.start_delay",
    "savings.ramp_speed",
    "savings.erosion",
    "costs.overrun",
    "running_costs.factor",
    "economics.inflation",
    "bond.reference_rate",
]

#: What each target's value means, for messages and docs.
TARGET_MEANING: dict[str, str] = {
    "savings.realisation": "multiplier on the steady-state saving of the chosen streams",
    "partners.realisation": "multiplier on the chosen partners' savings",
    "savings.start_delay": "extra start delay of the chosen streams, in periods",
    "savings.ramp_speed": "multiplier on the ramp speed of the chosen streams (2 = twice as fast)",
    "savings.erosion": "annual erosion rate of the chosen streams (replaces the scenario's)",
    "costs.overrun": "outturn multiplier on the chosen cost items (1 = as planned)",
    "running_costs.factor": "multiplier on every running cost",
    "economics.inflation": "annual inflation rate in the long run: the scenario's rate or "
    "path moves with it",
    "bond.reference_rate": "annual reference rate of a floating coupon in the long run: the "
    "scenario's rate or path moves with it",
}


#: The range a rate target's sampled level must stay in: it compounds year by year,
#: so a rate of -100% or less (a price index at or below zero) has no meaning.
RATE_TARGET_RANGE: dict[str, tuple[float, float]] = {
    "economics.inflation": (-0.99, 1.0),
    "bond.reference_rate": (-0.99, 1.0),
}


class MeanReversion(_Model):
    """A yearly mean-reverting path around the sampled level.

    x_1 = the scenario's value; x_y = L + phi (x_{y-1} - L) + sd e_y with
    phi = 1 - ``reversion`` and e_y standard normal, one shock per year.
    """

    reversion: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)]
    volatility: Annotated[float, Field(ge=0.0, le=0.5, allow_inf_nan=False)]


#: The families a scenario's ``fit`` may name (bondmodel.risk.fitting.FAMILIES).
FitFamily = Literal["normal", "lognormal", "gamma", "weibull", "student_t", "beta", "uniform"]


class FitSource(_Model):
    """Where a risk input's distribution was fitted from: a column of a CSV file.

    ``data`` is resolved relative to the scenario file. Loading the scenario from its file
    fits ``family`` to the data by maximum likelihood (deterministic) and fills in the
    input's ``distribution`` and ``sha256`` (the data file's SHA-256); a scenario that
    gives them already must agree with the data and the refit (docs/scenario-reference.md,
    "Fitting a distribution to data").
    """

    data: Annotated[FilePath, Field(pattern=r"(?i)\.csv$")]
    family: FitFamily
    column: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class RiskInput(_Model):
    """One named risk input: a distribution and what it drives.

    ``streams``, ``partners``, ``items`` and ``categories`` narrow the target to
    some savings streams, partners or cost items (all when omitted).
    """

    name: Annotated[Name, Field(max_length=60)]
    target: Target
    distribution: Distribution
    streams: FrozenList[str] | None = Field(default=None, min_length=1)
    partners: FrozenList[str] | None = Field(default=None, min_length=1)
    items: FrozenList[str] | None = Field(default=None, min_length=1)
    categories: FrozenList[Category] | None = Field(default=None, min_length=1)
    path: MeanReversion | None = None
    fit: FitSource | None = None

    @model_validator(mode="after")
    def _selectors_fit_target(self) -> RiskInput:
        allowed = {
            "streams": self.target.startswith("savings."),
            "partners": self.target == "partners.realisation",
            "items": self.target == "costs.overrun",
            "categories": self.target == "costs.overrun",
            "path": self.target in ("economics.inflation", "bond.reference_rate"),
        }
        takes = {
            "streams": "the savings.* targets",
            "partners": "'partners.realisation'",
            "items": "'costs.overrun'",
            "categories": "'costs.overrun'",
            "path": "'economics.inflation' and 'bond.reference_rate'",
        }
        for field, ok in allowed.items():
            if getattr(self, field) is not None and not ok:
                raise located(
                    field,
                    f"does not apply to target = '{self.target}'; only {takes[field]} take {field}",
                )
        self._check_finite()
        if self.fit is not None:
            if self.fit.sha256 is None:
                raise located(
                    ("fit", "sha256"),
                    "missing: a fitted input records its data file's SHA-256 (filled in when "
                    "the scenario is loaded from its file, which reads the data)",
                )
            if self.distribution.type != self.fit.family:
                raise located(
                    ("distribution", "type"),
                    f"'{self.distribution.type}' but fit.family is '{self.fit.family}'; "
                    "allowed: the family fitted",
                )
        return self

    @model_serializer(mode="wrap")
    def _without_unset_fit(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The input's fields, ``fit`` left out when there is none: the canonical JSON (and
        SHA-256) of every scenario written before ``fit`` existed stays what it was, so its
        workbooks still verify."""
        data: dict[str, Any] = handler(self)
        if data.get("fit", ...) is None:
            del data["fit"]
        return data

    def _check_finite(self) -> None:
        """The distribution's most extreme values must be finite floats, and a rate's within
        its range: checked on the distribution's own parameters (``value_range``)."""
        low, high = self.distribution.value_range()
        if not (math.isfinite(low) and math.isfinite(high)):
            raise located(
                "distribution",
                f"its values overflow (they run from {low!r} to {high!r}); "
                "allowed: parameters whose extreme values are finite numbers",
            )
        bounds = RATE_TARGET_RANGE.get(self.target)
        if bounds is not None and not bounds[0] <= low <= high <= bounds[1]:
            raise located(
                "distribution",
                f"its values run from {low:.6g} to {high:.6g}, outside "
                f"the range of an annual rate ({self.target}): allowed {bounds[0]} to "
                f"{bounds[1]}; narrow the distribution or truncate it (min and max)",
            )


def risk_inputs(data: Mapping[str, Any]) -> list[Any]:
    """The risk inputs of parsed TOML, as they are (an empty list when malformed)."""
    risk = data.get("risk")
    inputs = risk.get("inputs") if isinstance(risk, dict) else None
    return inputs if isinstance(inputs, list) else []


class Correlation(_Model):
    """A rank-correlation matrix between named risk inputs (Iman-Conover).

    It must be symmetric with a unit diagonal, entries in [-1, 1], and positive
    semi-definite; with ``repair = true`` a matrix that is not PSD is replaced
    by the nearest correlation matrix (Higham 2002) and the change reported.
    """

    names: FrozenList[str] = Field(min_length=2)
    matrix: FrozenList[FrozenList[Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)]]]
    repair: bool = False

    @model_validator(mode="after")
    def _check(self) -> Correlation:
        n = len(self.names)
        if first_repeat(self.names) is not None:
            raise located("names", f"must be unique, got {list(self.names)}")
        if len(self.matrix) != n or any(len(row) != n for row in self.matrix):
            shape = f"{len(self.matrix)} rows of {sorted({len(row) for row in self.matrix})}"
            raise located(
                "matrix", f"must be {n} x {n} to match the {n} names; got {shape} entries"
            )
        m = np.asarray(self.matrix)
        if not np.allclose(np.diag(m), 1.0, atol=1e-12):
            raise ValueError(f"the diagonal must be all 1, got {np.diag(m).tolist()}")
        if not np.allclose(m, m.T, atol=1e-12):
            i, j = np.argwhere(~np.isclose(m, m.T, atol=1e-12))[0]
            raise ValueError(
                f"matrix must be symmetric: [{i}][{j}] = {m[i, j]} but [{j}][{i}] = {m[j, i]}"
            )
        smallest = float(np.linalg.eigvalsh(m).min())
        if smallest < -1e-10 and not self.repair:
            raise ValueError(
                f"matrix is not positive semi-definite (smallest eigenvalue {smallest:.6g}); "
                "fix it, or set repair = true to use the nearest correlation matrix"
            )
        return self


class Risk(_Model):
    """The scenario's risk: inputs, their correlation, and run defaults."""

    inputs: FrozenList[RiskInput] = Field(min_length=1)
    correlation: Correlation | None = None
    default_paths: Annotated[int, Field(ge=1, le=100_000_000)] = 10_000

    @model_validator(mode="after")
    def _names(self) -> Risk:
        names = [r.name for r in self.inputs]
        repeat = first_repeat(names)
        if repeat is not None:
            j, i = repeat
            raise located(
                ("inputs", i, "name"),
                f"'{names[i]}' is already used by inputs[{j}]{repeat_note(names[j], names[i])}"
                "; risk input names must be unique",
            )
        if self.correlation is not None:
            for j, name in enumerate(self.correlation.names):
                if name not in names:
                    raise located(
                        ("correlation", "names", j),
                        f"'{name}' is not a risk input; allowed: {names}",
                    )
        return self
