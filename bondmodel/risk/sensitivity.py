"""Sensitivity of outputs to risk inputs from the simulated paths: rank correlation,
contribution to variance and the PAWN index (the one-at-a-time tornado and spider are in
:mod:`bondmodel.risk.results`)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from bondmodel.types import FloatArray

#: Rank correlations use at most this many paths: the first ones, in path order.
#: The standard error of a Spearman coefficient from n paths is below
#: 1/sqrt(n - 3), 0.0032 here, far finer than a sensitivity ranking needs.
RANK_PATHS = 100_000

#: The PAWN index's conditioning slices: each input's range cut at its deciles.
PAWN_SLICES = 10

#: The outputs the PAWN index is computed for: the per-path metrics among the Summary's
#: headline tiles (``headline.BOND_TILES`` and ``PROGRAMME_TILES``; tests/test_sensitivity_depth
#: checks the two agree), besides the tornado's output.
PAWN_OUTPUTS = (
    "npv",
    "council_npv",
    "investor_irr",
    "min_dscr",
    "peak_funding_need",
    "council_npv_vs_pwlb",
    "payback_years",
)


def rank_correlations(
    inputs: FloatArray, names: list[str], outputs: dict[str, FloatArray]
) -> pd.DataFrame:
    """Spearman rank correlation of each input (rows) with each output (columns).

    Computed on the first :data:`RANK_PATHS` paths. Paths where an output is
    undefined (NaN) are left out for that output. An input that does not vary
    (a fixed distribution) has no correlation (NaN).
    """
    inputs = inputs[:RANK_PATHS]
    outputs = {k: v[:RANK_PATHS] for k, v in outputs.items()}
    ranks_all = np.column_stack([average_ranks(inputs[:, j]) for j in range(inputs.shape[1])])
    table = {}
    for out_name, y in outputs.items():
        ok = np.isfinite(y)
        if ok.all():
            x_ranks = ranks_all
        else:
            x_ranks = np.column_stack(
                [average_ranks(inputs[ok, j]) for j in range(inputs.shape[1])]
            )
        y_ranks = average_ranks(y[ok])
        column = []
        for j in range(inputs.shape[1]):
            x = x_ranks[:, j]
            if x.size < 3 or np.ptp(x) == 0 or np.ptp(y_ranks) == 0:
                column.append(np.nan)
            else:
                column.append(float(np.corrcoef(x, y_ranks)[0, 1]))
        table[out_name] = column
    return pd.DataFrame(table, index=pd.Index(names, name="input"))


def average_ranks(values: FloatArray) -> FloatArray:
    """Ranks 1..n of ``values``, ties given the mean of their ranks (``scipy.stats.rankdata``'s
    default, to the bit: every rank is a whole or half number), without importing scipy.stats."""
    # ties share their mean rank, so the order among them (the sort's stability) does not matter
    order = np.argsort(values)
    ordered = values[order]
    first = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    group = np.cumsum(first)  # 1-based group of each sorted value
    bounds = np.concatenate([np.flatnonzero(first), [values.size]])
    ranks = np.empty(values.size)
    # a group of ties at sorted positions [lo, hi) has ranks lo+1..hi: their mean (lo+1+hi)/2
    ranks[order] = 0.5 * (bounds[group - 1] + bounds[group] + 1)
    return ranks


def contribution_to_variance(correlations: pd.DataFrame) -> pd.DataFrame:
    """Each input's share of the explained variance: squared rank correlations, normalised.

    Notes
    -----
    :math:`c_i = \\rho_i^2 / \\sum_j \\rho_j^2`, the approximation @RISK reports
    as "contribution to variance"; it is exact for a linear model in the
    ranks of independent inputs and indicative otherwise.
    """
    squared = correlations.fillna(0.0) ** 2
    totals = squared.sum(axis=0)
    result: pd.DataFrame = squared.div(totals.where(totals > 0), axis=1)
    return result


def pawn_indices(
    inputs: FloatArray, names: list[str], outputs: dict[str, FloatArray]
) -> pd.DataFrame:
    """The PAWN sensitivity index of each input (rows) for each output (columns): the median,
    over :data:`PAWN_SLICES` slices of the input's range at its quantiles, of the
    Kolmogorov-Smirnov distance between the output's distribution on the slice's paths and
    on all paths (Pianosi and Wagener 2015, 2018, given data; the slices as SALib's
    ``analyze.pawn`` cuts them).

    Moment-independent: it sees an input that moves the output's tails or acts
    non-monotonically, which a rank correlation misses, and it does not split the variance
    into shares, which correlated inputs make wrong. Computed on the first
    :data:`RANK_PATHS` paths with the output defined; an input that does not vary, or an
    output that does not, has no index (NaN).
    """
    inputs = inputs[:RANK_PATHS]
    cuts = np.linspace(0.0, 1.0, PAWN_SLICES + 1)
    table = {}
    for out_name, y_all in outputs.items():
        y_all = np.asarray(y_all[:RANK_PATHS], dtype=np.float64)
        ok = np.isfinite(y_all)
        y = y_all[ok]
        ordered = np.sort(y)
        # the output's empirical CDF on all paths, at each of its values (right-continuous)
        cdf_all = np.searchsorted(ordered, ordered, side="right") / ordered.size
        column = []
        for j in range(inputs.shape[1]):
            x = inputs[ok, j]
            if x.size < 2 * PAWN_SLICES or np.ptp(x) == 0 or np.ptp(y) == 0:
                column.append(np.nan)
                continue
            edges = np.quantile(x, cuts)
            distances = [
                ks_distance(np.sort(y[inside]), ordered, cdf_all)
                for low, high in itertools.pairwise(edges)
                if (inside := (x >= low) & (x < high)).any()
            ]
            column.append(float(np.median(distances)))
        table[out_name] = column
    return pd.DataFrame(table, index=pd.Index(names, name="input"))


def ks_distance(part: FloatArray, ordered: FloatArray, cdf_all: FloatArray) -> float:
    """The two-sample Kolmogorov-Smirnov statistic between a subset ``part`` (sorted) of the
    paths and all of them (``ordered``, with their CDF ``cdf_all``): the largest gap
    between the two empirical CDFs, taken at the values of all paths, which include the
    subset's (``scipy.stats.ks_2samp``'s statistic, without its p-value; tested equal)."""
    cdf_part = np.searchsorted(part, ordered, side="right") / part.size
    return float(np.max(np.abs(cdf_part - cdf_all)))
