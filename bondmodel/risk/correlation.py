"""Rank correlation by Iman-Conover, and the nearest correlation matrix (Higham).

Iman-Conover reorders each column of a sample so that its rank correlations
approach a target matrix while every marginal distribution is kept exactly,
as the Excel tools @RISK and Crystal Ball do.

References
----------
Iman, R. L. and Conover, W. J. (1982), "A distribution-free approach to
inducing rank correlation among input variables", Communications in
Statistics - Simulation and Computation 11(3), 311-334.
Higham, N. J. (2002), "Computing the nearest correlation matrix - a problem
from finance", IMA Journal of Numerical Analysis 22(3), 329-343.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, special

from bondmodel.types import FloatArray, IntArray


def matrix_sqrt(c: FloatArray) -> FloatArray:
    """A square root L with L L^T = C, for a positive semi-definite C.

    Cholesky when C is positive definite; otherwise the symmetric eigenvalue
    square root, which also serves singular matrices (a correlation of 1).
    """
    try:
        result: FloatArray = linalg.cholesky(c, lower=True)
        return result
    except linalg.LinAlgError:
        values, vectors = np.linalg.eigh(c)
        root: FloatArray = vectors * np.sqrt(np.clip(values, 0.0, None))
        return root


def iman_conover(u: FloatArray, target: FloatArray, rng: np.random.Generator) -> FloatArray:
    r"""Reorder the columns of ``u`` (n, k) to rank correlation ~ ``target`` (k, k).

    Notes
    -----
    1. Scores: each column is a random permutation of the van der Waerden
       scores :math:`\\Phi^{-1}(i/(n+1))`, i = 1..n.
    2. With E the scores' correlation, P its Cholesky factor and Q a square
       root of :math:`C' = 2\sin(\pi C/6)` (the normal-score correlation whose
       rank correlation is the target C), :math:`T = S (P^{-1})^T Q^T`.
    3. Each column of u is rearranged to the rank order of T's column
       (ties kept in a stable order).
    """
    n, k = u.shape
    if k < 2 or n < 3:
        return u
    # ndtri is the standard normal quantile (what scipy.stats.norm.ppf evaluates, to the bit)
    scores = special.ndtri(np.arange(1, n + 1) / (n + 1))
    s = np.empty((n, k))
    for j in range(k):
        s[:, j] = scores[rng.permutation(n)]
    e = np.corrcoef(s, rowvar=False)
    p = linalg.cholesky(e, lower=True)  # random permutations: E is positive definite
    q = matrix_sqrt(pearson_for_spearman(target))
    # (k x k) transform applied once: T = S (P^-1)^T Q^T
    transform = linalg.solve_triangular(p, np.eye(k), lower=True).T @ q.T
    t = s @ transform
    out = np.empty_like(u)
    for j in range(k):
        # the i-th smallest u goes where T's column has its i-th smallest value
        out[_stable_order(t[:, j]), j] = np.sort(u[:, j])
    return out


def _stable_order(x: FloatArray) -> IntArray:
    """``np.argsort(x, kind="stable")``, quicker: numpy's default sort (vectorised, not stable)
    gives the same permutation whenever no two values tie, which is checked; with a tie the
    stable sort decides."""
    order = np.argsort(x)
    ordered = x[order]
    if (ordered[1:] == ordered[:-1]).any():
        order = np.argsort(x, kind="stable")
    return order


def pearson_for_spearman(rank: FloatArray) -> FloatArray:
    r"""The normal-score correlation that gives rank correlation ``rank``.

    For a bivariate normal, Spearman's rho_s and Pearson's rho satisfy
    :math:`\rho = 2 \sin(\pi \rho_s / 6)` (Pearson 1907; Kruskal 1958). The
    converted matrix is projected back to a correlation matrix when the
    conversion leaves the positive semi-definite cone.
    """
    converted: FloatArray = 2.0 * np.sin(np.pi * rank / 6.0)
    np.fill_diagonal(converted, 1.0)
    if np.linalg.eigvalsh(converted).min() < -1e-12:
        converted = nearest_correlation(converted)
    return converted


def nearest_correlation(a: FloatArray, tol: float = 1e-12, max_iter: int = 1000) -> FloatArray:
    """The nearest correlation matrix to ``a`` in the Frobenius norm (Higham 2002).

    Alternating projections with Dykstra's correction: onto the positive
    semi-definite cone, then onto the unit-diagonal matrices.
    """
    y = np.array(a, dtype=np.float64)
    correction = np.zeros_like(y)
    x = y.copy()
    for _ in range(max_iter):
        r = y - correction
        values, vectors = np.linalg.eigh((r + r.T) / 2.0)
        x = (vectors * np.clip(values, 0.0, None)) @ vectors.T
        correction = x - r
        y_new = x.copy()
        np.fill_diagonal(y_new, 1.0)
        scale = max(1.0, float(np.linalg.norm(y, "fro")))
        if float(np.linalg.norm(y_new - y, "fro")) <= tol * scale:
            y = y_new
            break
        y = y_new
    result: FloatArray = (y + y.T) / 2.0
    np.fill_diagonal(result, 1.0)
    return result
