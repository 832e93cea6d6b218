"""Internal rate of return, vectorised over paths, with explicit flags.

Newton's method runs on every path at once; paths where it fails fall back to a
bracketed search (a grid scan for a sign change of NPV, then bisection). Cash
flows whose IRR does not exist, or is not unique, are flagged and get NaN:
never a silent pick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from bondmodel.types import FloatArray

#: Flag values, one per path.
OK: Final = 0
NO_SIGN_CHANGE: Final = 1  # all flows of one sign (or all zero): no IRR exists
MULTIPLE_SIGN_CHANGES: Final = 2  # several sign changes, but exactly one root found: reported
NOT_UNIQUE: Final = 3  # several roots (or none found) with several sign changes: NaN
NOT_CONVERGED: Final = 4  # no root found in (-100%, +1e6%): NaN

FLAG_LABELS: Final[dict[int, str]] = {
    OK: "ok",
    NO_SIGN_CHANGE: "no IRR: cash flows do not change sign",
    MULTIPLE_SIGN_CHANGES: "several sign changes; unique IRR found",
    NOT_UNIQUE: "several sign changes; IRR not unique, not reported",
    NOT_CONVERGED: "IRR not found",
}

_GRID: Final = np.concatenate(
    [
        -1.0 + np.geomspace(1e-9, 0.01, 30)[:-1],
        np.linspace(-0.99, -0.1, 45),
        np.linspace(-0.1, 1.0, 111)[1:],
        np.geomspace(1.0, 1e4, 60)[1:],
    ]
)


@dataclass(frozen=True)
class IRRResult:
    """Per-path IRR: the periodic rate, the annual effective rate and a flag."""

    periodic: FloatArray
    annual: FloatArray
    flag: npt.NDArray[np.int8]


def npv_at(rate: FloatArray, flows: FloatArray) -> FloatArray:
    """NPV of each path's flows at its own periodic rate: sum_t CF_t (1+r)^-t."""
    t = np.arange(flows.shape[-1], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result: FloatArray = np.sum(flows * np.power(1.0 + rate[:, None], -t[None, :]), axis=-1)
    return result


def _sign_changes(flows: FloatArray) -> npt.NDArray[np.int64]:
    """How many times each row of ``flows`` changes sign, zeros skipped (a zero carries the
    last non-zero sign forward); period by period, for every path at once."""
    signs = np.sign(flows)
    last = signs[:, 0].copy()
    result = np.zeros(flows.shape[0], dtype=np.int64)
    for t in range(1, flows.shape[1]):
        current = signs[:, t]
        result += current * last < 0
        np.copyto(last, current, where=current != 0)
    return result


def irr(flows: FloatArray, periods_per_year: int = 1, tol: float = 1e-12) -> IRRResult:
    """IRR of each row of ``flows`` (paths, n), flows at t = 0..n-1 periods.

    Notes
    -----
    The periodic IRR r solves :math:`\\sum_t CF_t (1+r)^{-t} = 0`; the annual
    effective rate is :math:`(1+r)^f - 1`. Newton's step on r is
    :math:`r \\leftarrow r - NPV(r)/NPV'(r)` with
    :math:`NPV'(r) = -\\sum_t t\\, CF_t (1+r)^{-t-1}`.

    References
    ----------
    numpy_financial.irr and pyxirr.irr solve the same equation; tests require
    agreement to 1e-9 on ordinary cash flows.
    """
    flows = np.atleast_2d(np.asarray(flows, dtype=np.float64))
    n_paths = flows.shape[0]
    changes = _sign_changes(flows)
    scale = np.abs(flows).sum(axis=-1)
    scale = np.where(scale > 0, scale, 1.0)

    x = _newton(flows, tol)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = 1.0 / x - 1.0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        residual = np.abs(_horner(np.ascontiguousarray(flows.T), x)) / scale
        good = np.isfinite(x) & (x > 0.0) & (residual < 1e-9)

    flag = np.full(n_paths, OK, dtype=np.int8)
    flag[changes == 0] = NO_SIGN_CHANGE
    multi = changes > 1
    # Bracketed fallback for single-change paths Newton missed, and a uniqueness
    # check for every path with several sign changes.
    fallback = np.flatnonzero((changes >= 1) & (~good | multi))
    for i in fallback:
        roots = _bracketed_roots(flows[i])
        if changes[i] == 1:
            if roots:
                rate[i] = roots[0]
            else:
                rate[i] = np.nan
                flag[i] = NOT_CONVERGED
        elif len(roots) == 1:
            rate[i] = roots[0]
            flag[i] = MULTIPLE_SIGN_CHANGES
        elif not roots:
            rate[i] = np.nan
            flag[i] = NOT_CONVERGED
        else:
            rate[i] = np.nan
            flag[i] = NOT_UNIQUE
    rate[changes == 0] = np.nan
    annual = np.power(1.0 + rate, periods_per_year) - 1.0
    return IRRResult(periodic=rate, annual=annual, flag=flag)


def _horner(columns: FloatArray, x: FloatArray) -> FloatArray:
    """sum_k columns[k] * x**k by Horner's scheme; columns is (n, paths)."""
    value: FloatArray = columns[-1].copy()
    for k in range(columns.shape[0] - 2, -1, -1):
        value *= x
        value += columns[k]
    return value


def _newton(flows: FloatArray, tol: float) -> FloatArray:
    """Newton's method on the discount factor x = 1/(1+r), all paths at once.

    NPV and its derivative are evaluated by Horner's scheme over the periods,
    so each iteration costs two multiply-adds per flow and no powers.
    Returns x; the rate is 1/x - 1.
    """
    columns = np.ascontiguousarray(flows.T)  # (n, paths): one contiguous row per period
    n = columns.shape[0]
    x = np.full(columns.shape[1], 1.0 / 1.05)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(50):
            value = columns[n - 1].copy()
            slope = np.zeros_like(x)
            for k in range(n - 2, -1, -1):
                slope *= x
                slope += value
                value *= x
                value += columns[k]
            step = value / slope
            x_new = x - step
            # keep x in (0, inf): a step past zero halves x instead
            x_new = np.asarray(np.where(x_new > 0.0, x_new, x / 2.0), dtype=np.float64)
            moved = np.abs(x_new - x)
            x = x_new
            if not np.any(moved > tol * x):
                break
    return x


def _bracketed_roots(cf: FloatArray) -> list[float]:
    """Every root of NPV(r) found by a grid scan and bisection, for one path."""
    values = npv_at(_GRID, np.broadcast_to(cf, (_GRID.size, cf.size)))
    roots: list[float] = []
    for j in range(_GRID.size - 1):
        a, b = values[j], values[j + 1]
        if not (np.isfinite(a) and np.isfinite(b)):
            continue
        if a == 0.0:
            roots.append(float(_GRID[j]))
            continue
        if a < 0.0 < b or b < 0.0 < a:  # opposite signs (a product could overflow)
            roots.append(_bisect(cf, float(_GRID[j]), float(_GRID[j + 1])))
    return roots


def _bisect(cf: FloatArray, lo: float, hi: float) -> float:
    f_lo = float(npv_at(np.array([lo]), cf[None, :])[0])
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        f_mid = float(npv_at(np.array([mid]), cf[None, :])[0])
        if f_mid == 0.0 or hi - lo <= 1e-16 * max(1.0, abs(mid)):
            return mid
        if (f_mid < 0) == (f_lo < 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
