"""Inverse CDFs (quantile functions) of the risk distributions, vectorised.

Sampling is by inversion: a uniform u in (0, 1) maps to ppf(u), so the rank
order of the uniforms, which Iman-Conover sets, carries through to the values.
Every ppf here is non-decreasing in u. scipy's special functions provide the
continuous families (the beta and PERT quantiles through :class:`BetaQuantile`,
a checked table); the discrete ones are inverted directly. ``scipy.stats`` is
imported only where it is needed (the truncated normal and :func:`frozen`): importing
it takes longer than simulating a block of paths.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final

import numpy as np
from scipy import special

from bondmodel.scenario.risk import (
    Bernoulli,
    Beta,
    Binomial,
    Discrete,
    Distribution,
    Empirical,
    Fixed,
    Gamma,
    General,
    Lognormal,
    Normal,
    Pert,
    StudentT,
    Triangular,
    Uniform,
    Weibull,
)
from bondmodel.types import BoolArray, FloatArray, IntArray

if TYPE_CHECKING:
    from scipy import stats


def ppf(dist: Distribution, u: FloatArray) -> FloatArray:
    """The quantile function of ``dist`` at ``u`` (any shape).

    Notes
    -----
    - uniform: min + u (max - min);
    - triangular, with c = (mode - min)/(max - min): min + sqrt(u (max - min)(mode - min))
      for u < c, else max - sqrt((1 - u)(max - min)(max - mode)) (scipy.stats.triang);
    - PERT with shape lambda: Beta(1 + lambda (mode - min)/(max - min),
      1 + lambda (max - mode)/(max - min)) on [min, max] (Vose, Risk Analysis, 2008);
    - normal, truncated to [min, max] by scipy.stats.truncnorm when bounded;
    - lognormal: log X ~ N(mu, sigma); from mean m and sd s,
      sigma^2 = ln(1 + s^2/m^2), mu = ln m - sigma^2/2; from P10 and P90,
      mu = (ln P10 + ln P90)/2, sigma = (ln P90 - ln P10)/(2 z_0.9);
    - beta: scipy.stats.beta on [min, max];
    - PERT and beta: the beta quantile from :class:`BetaQuantile`, within
      :data:`BETA_QUANTILE_BOUND` x (max - min) of the exact one (methodology §20.1).
    - discrete: the smallest value (in ascending order) whose cumulative
      probability reaches u;
    - Bernoulli: the larger of (base, impact) when u > the probability of the
      smaller one, else the smaller;
    - empirical: the inverted empirical CDF of the sorted samples;
    - gamma: shift + scale P^-1(shape, u), the inverse regularised lower incomplete gamma
      (``special.gammaincinv``, as scipy.stats.gamma);
    - Weibull: shift + scale (-ln(1 - u))^(1/shape) (scipy.stats.weibull_min);
    - Student's t: location + scale t_df^-1(u) (``special.stdtrit``, as scipy.stats.t);
    - general: the piecewise-linear inverse of the cumulative probabilities, the smallest x
      with F(x) = u (scipy.stats.rv_histogram where no segment is flat);
    - binomial: scale x the smallest k with P(K <= k) >= u, from the cumulative table
      (``special.bdtr``), as scipy.stats.binom.
    """
    u = np.asarray(u, dtype=np.float64)
    if isinstance(dist, Fixed):
        return np.full_like(u, dist.value)
    if isinstance(dist, Uniform):
        return dist.min + u * (dist.max - dist.min)
    if isinstance(dist, Triangular):
        # closed form of scipy.stats.triang.ppf
        width = dist.max - dist.min
        c = (dist.mode - dist.min) / width
        left = dist.min + np.sqrt(u * width * (dist.mode - dist.min))
        right = dist.max - np.sqrt((1.0 - u) * width * (dist.max - dist.mode))
        return np.where(u < c, left, right)
    if isinstance(dist, Pert):
        a, b = pert_shape(dist)
        return np.asarray(dist.min + (dist.max - dist.min) * beta_quantile(a, b)(u))
    if isinstance(dist, Normal):
        if dist.min is None and dist.max is None:
            return np.asarray(dist.mean + dist.sd * special.ndtri(u))
        lo = -np.inf if dist.min is None else (dist.min - dist.mean) / dist.sd
        hi = np.inf if dist.max is None else (dist.max - dist.mean) / dist.sd
        from scipy import stats

        frozen = stats.truncnorm(lo, hi, loc=dist.mean, scale=dist.sd)
        values = np.asarray(frozen.ppf(u), dtype=np.float64)
        # scipy can land one unit in the last place outside the bounds at the extremes
        low = -np.inf if dist.min is None else dist.min
        high = np.inf if dist.max is None else dist.max
        return np.clip(values, low, high)
    if isinstance(dist, Lognormal):
        mu, sigma = dist.log_params()
        return np.asarray(np.exp(mu + sigma * special.ndtri(u)))
    return _ppf_rest(dist, u)


def _ppf_rest(dist: Distribution, u: FloatArray) -> FloatArray:
    """:func:`ppf` of the beta, the discrete families and the families added in issue 18."""
    if isinstance(dist, Beta):
        span = dist.max - dist.min
        return np.asarray(dist.min + span * beta_quantile(dist.alpha, dist.beta)(u))
    if isinstance(dist, Discrete):
        order = np.argsort(dist.values, kind="stable")
        values = np.asarray(dist.values)[order]
        cumulative = np.cumsum(np.asarray(dist.probabilities)[order])
        cumulative[-1] = 1.0
        index = np.searchsorted(cumulative, u, side="left")
        return values[np.clip(index, 0, len(values) - 1)]
    if isinstance(dist, Bernoulli):
        low, high = sorted((dist.base, dist.impact))
        p_low = 1.0 - dist.p if dist.impact >= dist.base else dist.p
        return np.where(u > p_low, high, low)
    if isinstance(dist, Empirical):
        samples = np.sort(np.asarray(dist.samples, dtype=np.float64))
        n = samples.size
        index = np.clip(np.ceil(u * n).astype(np.int64) - 1, 0, n - 1)
        return samples[index]
    if isinstance(dist, Gamma):
        return np.asarray(dist.shift + dist.scale * special.gammaincinv(dist.shape, u))
    if isinstance(dist, Weibull):
        return np.asarray(dist.shift + dist.scale * (-np.log1p(-u)) ** (1.0 / dist.shape))
    if isinstance(dist, StudentT):
        return np.asarray(dist.location + dist.scale * special.stdtrit(dist.df, u))
    if isinstance(dist, General):
        return _general_ppf(dist, u)
    if isinstance(dist, Binomial):
        cumulative = binomial_cdf(dist.n, dist.p)
        k = np.searchsorted(cumulative, u, side="left")
        return dist.scale * np.minimum(k, dist.n).astype(np.float64)
    raise TypeError(f"unknown distribution {dist!r}")


def _general_ppf(dist: General, u: FloatArray) -> FloatArray:
    """The inverse of a piecewise-linear CDF: on the segment k where
    c_{k-1} < u <= c_k, x_{k-1} + (u - c_{k-1}) / (c_k - c_{k-1}) (x_k - x_{k-1}); a flat
    segment (c_{k-1} = c_k, no probability) is never landed in, so u = c_k takes the smallest
    x with F(x) = u."""
    x = np.asarray(dist.values, dtype=np.float64)
    c = np.asarray(dist.cumulative, dtype=np.float64)
    k = np.clip(np.searchsorted(c, u, side="left"), 1, c.size - 1)
    left_c, right_c = c[k - 1], c[k]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(right_c > left_c, (u - left_c) / (right_c - left_c), 0.0)
    result: FloatArray = x[k - 1] + np.clip(fraction, 0.0, 1.0) * (x[k] - x[k - 1])
    return result


@functools.lru_cache(maxsize=32)
def binomial_cdf(n: int, p: float) -> FloatArray:
    """P(K <= k) for k = 0..n of a binomial(n, p) (``special.bdtr``), the last set to 1 so
    that every u < 1 finds a k; built once per process and parameters, read-only."""
    cumulative = np.asarray(special.bdtr(np.arange(n + 1), n, p), dtype=np.float64)
    cumulative = np.maximum.accumulate(cumulative)
    cumulative[-1] = 1.0
    cumulative.setflags(write=False)
    return cumulative


def pert_shape(dist: Pert) -> tuple[float, float]:
    """The beta shape parameters (a, b) of a (modified) PERT distribution."""
    width = dist.max - dist.min
    a = 1.0 + dist.shape * (dist.mode - dist.min) / width
    b = 1.0 + dist.shape * (dist.max - dist.mode) / width
    return a, b


def frozen(dist: Distribution) -> stats.rv_continuous | None:
    """The scipy.stats distribution that ``dist`` equals, for checks (None if discrete)."""
    from scipy import stats

    if isinstance(dist, Uniform):
        return stats.uniform(dist.min, dist.max - dist.min)
    if isinstance(dist, Triangular):
        width = dist.max - dist.min
        return stats.triang(c=(dist.mode - dist.min) / width, loc=dist.min, scale=width)
    if isinstance(dist, Pert):
        a, b = pert_shape(dist)
        return stats.beta(a, b, loc=dist.min, scale=dist.max - dist.min)
    if isinstance(dist, Normal):
        if dist.min is None and dist.max is None:
            return stats.norm(dist.mean, dist.sd)
        lo = -np.inf if dist.min is None else (dist.min - dist.mean) / dist.sd
        hi = np.inf if dist.max is None else (dist.max - dist.mean) / dist.sd
        return stats.truncnorm(lo, hi, loc=dist.mean, scale=dist.sd)
    if isinstance(dist, Lognormal):
        mu, sigma = dist.log_params()
        return stats.lognorm(s=sigma, scale=np.exp(mu))
    if isinstance(dist, Beta):
        return stats.beta(dist.alpha, dist.beta, loc=dist.min, scale=dist.max - dist.min)
    if isinstance(dist, Gamma):
        return stats.gamma(dist.shape, loc=dist.shift, scale=dist.scale)
    if isinstance(dist, Weibull):
        return stats.weibull_min(dist.shape, loc=dist.shift, scale=dist.scale)
    if isinstance(dist, StudentT):
        return stats.t(dist.df, loc=dist.location, scale=dist.scale)
    if isinstance(dist, General):
        values = np.asarray(dist.values)
        density = np.diff(np.asarray(dist.cumulative)) / np.diff(values)
        return stats.rv_histogram((density, values), density=True)
    return None


#: Knots of the beta quantile table from each of its two grids (see :class:`BetaQuantile`).
BETA_TABLE_KNOTS: Final = 4096

#: The table's guaranteed accuracy: |table - exact quantile| <= this, on the [0, 1] scale of
#: the beta variable (so x (max - min) in a distribution's units).
BETA_QUANTILE_BOUND: Final = 1e-11

#: An interval is interpolated only if its measured error is this far inside the bound.
_BETA_ACCEPT: Final = BETA_QUANTILE_BOUND / 10.0


class BetaQuantile:
    r"""The quantile function of Beta(a, b) on [0, 1]: a checked cubic table, exact elsewhere.

    ``special.betaincinv`` (the exact inverse) costs about 1.5 microseconds a value, a fifth
    of a whole path's engine time. This evaluates the same function from a table, built
    once per process and shape:

    1. Knots :math:`x_k` in [0, 1]: the union of :math:`\sin^2(\pi v/2)` (dense near 0 and
       1, where the quantile behaves like :math:`u^{1/a}` and :math:`1-(1-u)^{1/b}`) and the
       exact quantiles at v (dense where the probability is), v at
       :data:`BETA_TABLE_KNOTS` equal steps; :math:`u_k = I_{x_k}(a, b)` (``special.betainc``,
       the exact CDF) and the exact slopes :math:`dx/du = 1/f(x_k)`, f the beta density.
    2. On :math:`[u_k, u_{k+1}]`, the cubic Hermite interpolant of those values and slopes.
    3. Each interval is checked where it is built: at x a quarter, half and three quarters
       of the way from :math:`x_k` to :math:`x_{k+1}` (whose u is again the exact CDF) the
       interpolant must be within a tenth of :data:`BETA_QUANTILE_BOUND` of x, and it must be
       monotone (Fritsch-Carlson: :math:`\alpha^2 + \beta^2 \le 9`). The cubic's error is
       :math:`Q^{(4)}(\xi)\,(u-u_k)^2 (u-u_{k+1})^2 / 24`, largest near the middle of the
       interval, so the factor of ten covers the rest of it. An interval that fails uses
       ``special.betaincinv``.
    4. Every value is clamped to its interval's :math:`[x_k, x_{k+1}]`, so the function is
       non-decreasing in u across the knots, to the last bit. Below the first interpolated
       interval and above the last (the far tails, where one unit in the last place of u
       moves x so far that the exact CDF and ``betaincinv`` can disagree by more than the
       bound), values are ``betaincinv``'s, only kept from passing the table's ends.

    So every value is within :data:`BETA_QUANTILE_BOUND` of the exact quantile
    (tests/test_distributions.py checks this against ``betaincinv`` at 254,000 points for
    several shapes), and the exact function's rank order is kept.
    """

    def __init__(self, a: float, b: float, knots: int = BETA_TABLE_KNOTS) -> None:
        self.a, self.b = a, b
        v = np.linspace(0.0, 1.0, knots + 1)
        grids = np.concatenate([np.sin(0.5 * np.pi * v) ** 2, special.betaincinv(a, b, v)])
        x = np.unique(np.clip(grids, 0.0, 1.0))
        u = np.asarray(special.betainc(a, b, x), dtype=np.float64)
        u[0], u[-1] = 0.0, 1.0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            slope = 1.0 / self._density(x)
            h = np.diff(u)
            dx = np.diff(x)
            self.c1 = h * slope[:-1]
            self.c2 = 3.0 * dx - 2.0 * self.c1 - h * slope[1:]
            self.c3 = self.c1 + h * slope[1:] - 2.0 * dx
            self.inv_h = 1.0 / h
            alpha, beta = self.c1 / dx, h * slope[1:] / dx
            monotone = (alpha >= 0) & (beta >= 0) & (alpha**2 + beta**2 <= 9.0)
        finite = np.isfinite(self.c1) & np.isfinite(self.c2) & np.isfinite(self.c3)
        self.u, self.x = u, x
        good = monotone & finite & (h > 0) & np.isfinite(self.inv_h)
        self.interpolated: BoolArray = good & self._accurate(good)

    def _density(self, x: FloatArray) -> FloatArray:
        log_pdf = (self.a - 1.0) * np.log(x) + (self.b - 1.0) * np.log1p(-x)
        result: FloatArray = np.exp(log_pdf - special.betaln(self.a, self.b))
        return result

    def _accurate(self, candidate: BoolArray) -> BoolArray:
        """Whether each candidate interval's cubic is within the acceptance bound at its
        quarter, half and three-quarter points (non-candidates: False)."""
        k = np.flatnonzero(candidate)
        ok = np.zeros_like(candidate)
        if k.size == 0:
            return ok
        error = np.zeros(k.size)
        for frac in (0.25, 0.5, 0.75):
            x = self.x[k] + frac * (self.x[k + 1] - self.x[k])
            u = np.asarray(special.betainc(self.a, self.b, x), dtype=np.float64)
            error = np.maximum(error, np.abs(self._cubic(u, k) - x))
        ok[k] = error <= _BETA_ACCEPT
        return ok

    def _cubic(self, u: FloatArray, k: IntArray) -> FloatArray:
        t = (u - self.u[k]) * self.inv_h[k]
        result: FloatArray = self.x[k] + t * (self.c1[k] + t * (self.c2[k] + t * self.c3[k]))
        return result

    def __call__(self, u: FloatArray) -> FloatArray:
        """Q(u) for u in [0, 1], any shape."""
        u = np.asarray(u, dtype=np.float64)
        flat = u.ravel()
        table_k = np.flatnonzero(self.interpolated)
        if table_k.size == 0:
            return np.asarray(special.betaincinv(self.a, self.b, u))
        k = np.clip(np.searchsorted(self.u, flat, side="right") - 1, 0, self.inv_h.size - 1)
        out = np.empty_like(flat)
        table = self.interpolated[k]
        if table.all():
            out[:] = self._cubic(flat, k)
        else:
            out[table] = self._cubic(flat[table], k[table])
            exact = ~table
            out[exact] = special.betaincinv(self.a, self.b, flat[exact])
        # each value within its interval's [x_k, x_k+1]; below the first interpolated interval
        # and above the last (the tails, where a bit of u moves x far and betainc and
        # betaincinv may disagree by more than the bound), only not past the table's ends
        first, last = int(table_k[0]), int(table_k[-1])
        inner = np.clip(k, first, last)
        lower = np.where(k < first, 0.0, self.x[inner])
        upper = np.where(k > last, 1.0, self.x[inner + 1])
        np.clip(out, lower, upper, out=out)
        return out.reshape(u.shape)


@functools.lru_cache(maxsize=32)
def beta_quantile(a: float, b: float) -> BetaQuantile:
    """The :class:`BetaQuantile` of Beta(a, b), built once per process and shape: a
    simulation's workers build each distribution's table once, for all their blocks."""
    return BetaQuantile(a, b)
