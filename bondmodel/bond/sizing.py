"""Sizing the principal to a DSCR target: ``principal = "dscr"``.

The debt the pledged cash can carry at the target cover ``bond.sizing.target_dscr``,
on the base case's CFADS or on a percentile of a recorded simulation's. Everything
here is fixed before the waterfall runs. docs/methodology.md, "Sizing to a DSCR
target", gives the equations and their sources.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bondmodel.bond.schedule import BondGrid
from bondmodel.errors import ModelError
from bondmodel.scenario.bond import BondTerms
from bondmodel.types import FloatArray

#: The scheduled path of a principal: given the principal, a record of its steps (or None)
#: and a scale on the fees, the record filled and the debt service (interest + principal)
#: due in each payment period k = 0..NL.
ScheduledPath = Callable[[float, dict[str, FloatArray] | None, float], FloatArray]

#: Debt service per pound of principal below which a period carries none (a zero coupon in
#: a bullet bond's life before maturity): it sets no bound on the principal.
_NO_DEBT_SERVICE = 1e-15


def dscr_principal(
    bond: BondTerms,
    grid: BondGrid,
    rates: FloatArray,
    uplift: FloatArray,
    cfads: FloatArray,
    path: ScheduledPath,
) -> float:
    r"""The principal whose scheduled debt service the CFADS covers at the target DSCR.

    Parameters
    ----------
    bond
        The terms; ``bond.sizing`` gives the target.
    grid
        The payment grid.
    rates, uplift
        The base case's annual coupon rates and principal uplift per payment period (NL+1,).
    cfads
        The CFADS the sizing uses per payment period (NL+1,), at least 0: the base case's,
        or the percentile of a simulation's.
    path
        The scheduled path of a principal (:data:`ScheduledPath`).

    Notes
    -----
    With target D, grace G payments and scheduled maturity N, the amortising periods
    are k = G+1..N. A sculpted profile pays :math:`DS_k = CFADS_k / D`, so the nominal
    balance after grace is its present value at the coupon rates (and the uplift of an
    index-linked bond):

    .. math:: B_G = \sum_{k=G+1}^{N} \frac{CFADS_k}{D}
              \prod_{j=G+1}^{k} \frac{1}{u_j (1 + i_j / g)}

    and the real balance after grace :math:`B_G / I_G` (:math:`I_G` the index ratio) is
    affine in the principal, :math:`a P + b` (a capitalised grace grows it by
    :math:`a = \prod_{k \le G}(1 + i_k/g)` and adds the fees, ``b``; a paid grace has
    a = 1, b = 0), so :math:`P = (B_G / I_G - b) / a`.

    Every other profile (bullet, EIP, annuity, custom) has a shape fixed by the terms,
    so its scheduled debt service is affine in P too: :math:`DS_k = d_k P + e_k`, with
    :math:`d_k` the debt service of a unit principal without fees and :math:`e_k` that
    of the capitalised fees alone. The principal is the largest whose debt service the
    cash covers at D in every amortising period:

    .. math:: P = \min_{k = G+1..N,\ d_k > 0} \frac{CFADS_k / D - e_k}{d_k}

    For a level (annuity) profile at a fixed coupon this is the level payment
    :math:`\min_k CFADS_k / D` times the annuity factor; a bullet's bound is its
    balloon at maturity. References: Yescombe, *Principles of Project Finance*
    (2nd ed., 2014), section 12.5 (debt sizing by cover ratio, sculpting); Gatti,
    *Project Finance in Theory and Practice* (3rd ed., 2018), chapter 5.
    """
    sizing = bond.sizing
    if sizing is None:
        raise ModelError("bond.principal = 'dscr' needs [bond.sizing]")
    if bond.repayment.type == "sculpted":
        principal = _sculpted(sizing.target_dscr, grid, rates, uplift, cfads, path)
        where = "the present value of CFADS / target_dscr"
    else:
        principal, k = _fixed_shape(sizing.target_dscr, grid, cfads, path)
        where = f"payment {k}"
    target = sizing.target_dscr
    if not np.isfinite(principal) or principal < 0.0:
        raise ModelError(
            f"bond.sizing.target_dscr = {target:g}: the CFADS cannot carry any debt at this "
            f"cover ({where} does not cover the grace period's capitalised fees); lower the "
            "target, pay the grace interest, or give the principal"
        )
    return principal


def _sculpted(
    target: float,
    grid: BondGrid,
    rates: FloatArray,
    uplift: FloatArray,
    cfads: FloatArray,
    path: ScheduledPath,
) -> float:
    """A sculpted profile's principal: (B_G / I_G - b) / a (see :func:`dscr_principal`)."""
    k = np.arange(grid.n_grace + 1, grid.n_scheduled + 1)
    growth = uplift[k] * (1.0 + rates[k] / grid.g)
    nominal_after_grace = float(np.sum(cfads[k] / target / np.cumprod(growth)))
    index_after_grace = float(np.prod(uplift[1 : grid.n_grace + 1]))
    unit: dict[str, FloatArray] = {}
    fees: dict[str, FloatArray] = {}
    path(1.0, unit, 0.0)
    path(0.0, fees, 1.0)
    a = float(unit["post_grace_scheduled"][-1])
    b = float(fees["post_grace_scheduled"][-1])
    return (nominal_after_grace / index_after_grace - b) / a


def _fixed_shape(
    target: float, grid: BondGrid, cfads: FloatArray, path: ScheduledPath
) -> tuple[float, int]:
    """Any other profile's principal, min_k (CFADS_k / D - e_k) / d_k, and the payment k
    that binds (see :func:`dscr_principal`)."""
    k = np.arange(grid.n_grace + 1, grid.n_scheduled + 1)
    d = path(1.0, None, 0.0)[k]
    e = path(0.0, None, 1.0)[k]
    carried = d > _NO_DEBT_SERVICE
    bounds = (cfads[k][carried] / target - e[carried]) / d[carried]
    tightest = int(np.argmin(bounds))
    return float(bounds[tightest]), int(k[carried][tightest])


def percentile_cfads(cfads: FloatArray, percentile: float) -> FloatArray:
    """The ``percentile``-th percentile of each payment period's CFADS over paths, (NL+1,).

    ``cfads`` is (paths, NL+1). The percentile is numpy's default (linear interpolation
    between order statistics, Hyndman and Fan's definition 7), per period: the P10 of
    period 3 and the P10 of period 4 may come from different paths.
    """
    result: FloatArray = np.percentile(cfads, percentile, axis=0)
    return result
