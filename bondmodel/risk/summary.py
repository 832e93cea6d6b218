"""Statistics of the simulated per-path metrics, each with its Monte Carlo error.

Percentiles are exact: computed from every path's value (numpy's "linear"
method, as Excel's PERCENTILE.INC), by a partial sort at the ranks they read.
Standard errors assume independent paths, which is exact for the random sampler
and conservative for Latin hypercube and Sobol samples, whose errors are usually
smaller.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

import numpy as np
import pandas as pd
from scipy import special

from bondmodel.risk import threads
from bondmodel.types import FloatArray

PERCENTILES: Final = (1, 5, 10, 25, 50, 75, 90, 95, 99)


def describe(values: FloatArray, confidence: float = 0.95) -> dict[str, float]:
    """Mean, sd and percentiles of the finite values, with errors and intervals.

    Notes
    -----
    Standard error of the mean :math:`s/\\sqrt{n}`. For percentile p, a
    distribution-free confidence interval from order statistics: the values
    of rank :math:`np \\mp z\\sqrt{np(1-p)}` (the binomial normal approximation);
    its standard error is reported as the interval's half-width over z.
    Undefined values (NaN) are left out and counted in ``n_undefined``.
    """
    finite = values[np.isfinite(values)]
    n = int(finite.size)
    out: dict[str, float] = {"n": float(n), "n_undefined": float(values.size - n)}
    if n == 0:
        for key in ("mean", "sd", "se_mean"):
            out[key] = math.nan
        for p in PERCENTILES:
            out[f"p{p}"] = out[f"p{p}_se"] = out[f"p{p}_ci_low"] = out[f"p{p}_ci_high"] = math.nan
        return out
    z = float(special.ndtri(0.5 + confidence / 2.0))  # the standard normal quantile
    out["mean"], out["sd"], out["se_mean"] = mean_with_error(finite)
    # a copy already: put in order in place, and only at the ranks the percentiles read
    ordered = order_statistics(finite, PERCENTILES, z)
    for p in PERCENTILES:
        level, low, high, se = sorted_percentile_with_error(ordered, p, z)
        out[f"p{p}"] = level
        out[f"p{p}_ci_low"] = low
        out[f"p{p}_ci_high"] = high
        out[f"p{p}_se"] = se
    return out


def mean_with_error(finite: FloatArray) -> tuple[float, float, float]:
    """The mean of finite values (in path order), their sample standard deviation and the
    mean's standard error :math:`s/\\sqrt{n}` (sd 0 for one value), accumulated in double
    precision."""
    n = finite.size
    # float64 accumulators: values stored in single precision (methodology §20.9) are summed
    # in double precision, as double-precision values always are
    mean = float(finite.mean(dtype=np.float64))
    sd = float(finite.std(ddof=1, dtype=np.float64)) if n > 1 else 0.0
    return mean, sd, sd / math.sqrt(n)


def _ranks(n: int, p: float, z: float) -> tuple[int, int, int, int]:
    """The ranks (0-based) percentile p of n sorted values reads: the two its linear rule
    interpolates between, and the ends of its order-statistic interval."""
    q = p / 100.0
    position = (n - 1) * q
    lo = math.floor(position)
    half = z * math.sqrt(n * q * (1 - q))
    low = int(np.clip(math.floor(n * q - half), 0, n - 1))
    high = int(np.clip(math.ceil(n * q + half), 0, n - 1))
    return lo, min(lo + 1, n - 1), low, high


def order_statistics(finite: FloatArray, percentiles: Iterable[float], z: float) -> FloatArray:
    """``finite`` (changed in place) with the value of every rank that
    :func:`sorted_percentile_with_error` reads for ``percentiles`` where a full sort would put
    it: a partial sort (``np.partition``), about three times quicker than sorting a million
    values, and the same order statistics to the bit."""
    ranks = sorted({r for p in percentiles for r in _ranks(finite.size, p, z)})
    finite.partition(ranks)
    return finite


def sorted_percentile_with_error(
    ordered: FloatArray, p: float, z: float
) -> tuple[float, float, float, float]:
    r"""Percentile p of ordered finite values, its order-statistic interval and standard error.

    ``ordered`` is sorted, or in order at least at the ranks of p
    (:func:`order_statistics`). See :func:`describe`: the interval runs between the values
    of rank :math:`np \mp z\sqrt{np(1-p)}`; the standard error is its half-width over z.
    """
    _, _, lo, hi = _ranks(ordered.size, p, z)
    low, high = float(ordered[lo]), float(ordered[hi])
    return _sorted_percentile(ordered, p), low, high, (high - low) / (2.0 * z)


def _sorted_percentile(ordered: FloatArray, p: float) -> float:
    """numpy's "linear" percentile (Excel's PERCENTILE.INC) of an array in order at the two
    ranks it reads."""
    position = (ordered.size - 1) * p / 100.0
    lo = math.floor(position)
    hi = min(lo + 1, ordered.size - 1)
    a, b = float(ordered[lo]), float(ordered[hi])  # in double precision whatever the storage
    return a + (b - a) * (position - lo)


def summary_table(metrics: dict[str, FloatArray], confidence: float = 0.95) -> pd.DataFrame:
    """One column per metric, one row per statistic (see :func:`describe`).

    The metrics are described in parallel, in the process's summary threads
    (:mod:`bondmodel.risk.threads`; numpy's partition releases the GIL); each column is
    computed on its own, so the result is the same.
    """
    names = list(metrics)
    pool = threads.ready(warm_up)
    columns = list(pool.map(lambda name: describe(metrics[name], confidence), names))
    return pd.DataFrame(dict(zip(names, columns, strict=True)))


def warm_up() -> None:
    """The summary's numpy calls on a few values, in double and single precision: what a
    summary thread runs when it starts (:func:`bondmodel.risk.threads.ready`)."""
    values = np.linspace(1.0, 0.0, 16)
    describe(values.copy())
    describe(values.astype(np.float32))
    value_at_risk(values, 0.05)


def percentile_rank(values: FloatArray, x: float) -> float:
    """Where ``x`` falls among the finite ``values``, as a percentile (0 to 100): the share
    of them below ``x`` plus half the share equal to it (the mid-rank, so a value equal to
    every path sits at 50). NaN when ``x`` is undefined or no value is finite.

    The base case's place in its own simulation (methodology §20.10): a base case of
    central inputs need not sit at the simulated median, and a committee should see where
    it does sit.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0 or not math.isfinite(x):
        return math.nan
    # compared in the paths' own precision (single above 512 MiB, methodology §20.9), so a
    # path equal to the base case counts as equal
    x = finite.dtype.type(x)
    below = int(np.count_nonzero(finite < x))
    equal = int(np.count_nonzero(finite == x))
    return 100.0 * (below + 0.5 * equal) / finite.size


def value_at_risk(values: FloatArray, alpha: float = 0.05) -> tuple[float, float]:
    """VaR and CVaR at level ``alpha`` of a value where low is bad (an NPV).

    VaR is the alpha-quantile of the value (exceeded with probability 1 - alpha);
    CVaR is the mean of the values at or below it (the expected shortfall).
    Both are in the value's own units: a negative VaR of an NPV is a loss.
    """
    finite = values[np.isfinite(values)].astype(np.float64, copy=False)
    finite.sort()
    if finite.size == 0:
        return math.nan, math.nan
    var = float(np.percentile(finite, 100 * alpha, method="linear"))
    tail = finite[finite <= var]
    return var, float(tail.mean()) if tail.size else var
