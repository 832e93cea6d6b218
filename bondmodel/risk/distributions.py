"""Inverse CDFs (quantile functions) of the risk distributions, vectorised.

Sampling is by inversion: a uniform u in (0, 1) maps to ppf(u), so the rank
order of the uniforms, which Iman-Conover sets, carries through to the values.
Every ppf here is non-decreasing in u. scipy.stats provides the continuous
families; the discrete ones are inverted directly.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from bondmodel.scenario.risk import (
    Bernoulli,
    Beta,
    Discrete,
    Distribution,
    Empirical,
    Fixed,
    Lognormal,
    Normal,
    Pert,
    Triangular,
    Uniform,
)
from bondmodel.types import FloatArray


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
    - discrete: the smallest value (in ascending order) whose cumulative
      probability reaches u;
    - Bernoulli: the larger of (base, impact) when u > the probability of the
      smaller one, else the smaller;
    - empirical: the inverted empirical CDF of the sorted samples.
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
        return np.asarray(dist.min + (dist.max - dist.min) * special.betaincinv(a, b, u))
    if isinstance(dist, Normal):
        if dist.min is None and dist.max is None:
            return np.asarray(dist.mean + dist.sd * special.ndtri(u))
        lo = -np.inf if dist.min is None else (dist.min - dist.mean) / dist.sd
        hi = np.inf if dist.max is None else (dist.max - dist.mean) / dist.sd
        frozen = stats.truncnorm(lo, hi, loc=dist.mean, scale=dist.sd)
        values = np.asarray(frozen.ppf(u), dtype=np.float64)
        # scipy can land one unit in the last place outside the bounds at the extremes
        low = -np.inf if dist.min is None else dist.min
        high = np.inf if dist.max is None else dist.max
        return np.clip(values, low, high)
    if isinstance(dist, Lognormal):
        mu, sigma = dist.log_params()
        return np.asarray(np.exp(mu + sigma * special.ndtri(u)))
    if isinstance(dist, Beta):
        span = dist.max - dist.min
        return np.asarray(dist.min + span * special.betaincinv(dist.alpha, dist.beta, u))
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
    raise TypeError(f"unknown distribution {dist!r}")


def pert_shape(dist: Pert) -> tuple[float, float]:
    """The beta shape parameters (a, b) of a (modified) PERT distribution."""
    width = dist.max - dist.min
    a = 1.0 + dist.shape * (dist.mode - dist.min) / width
    b = 1.0 + dist.shape * (dist.max - dist.mode) / width
    return a, b


def frozen(dist: Distribution) -> stats.rv_continuous | None:
    """The scipy.stats distribution that ``dist`` equals, for checks (None if discrete)."""
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
    return None
