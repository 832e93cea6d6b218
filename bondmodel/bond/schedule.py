"""The bond's payment grid, coupon rates, repayment profile, reserve targets and sizing.

Everything here is fixed before the waterfall runs: it depends on the bond
terms and on the deterministic base case only, so that every Monte Carlo path
is served the same contract. docs/methodology.md, "Bond", gives the equations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bondmodel.conventions import FREQUENCIES
from bondmodel.errors import ModelError
from bondmodel.scenario.bond import (
    BondTerms,
    FixedCoupon,
    IndexLinkedCoupon,
)
from bondmodel.timeline import Timeline, bond_year, rates_by_year
from bondmodel.types import FloatArray, IntArray


@dataclass(frozen=True)
class BondGrid:
    """Bond payment periods k = 0..NL mapped onto the timeline.

    ``pay_t[k]`` is the timeline period at whose end payment k falls; k = 0 is
    the issue. N is the scheduled maturity and NL the legal final maturity, in
    payment periods; G the grace periods.
    """

    g: int
    step: int
    issue_t: int
    n_scheduled: int
    n_legal: int
    n_grace: int
    pay_t: IntArray

    @property
    def years(self) -> FloatArray:
        """Years from issue of each payment date k = 0..NL."""
        return np.arange(self.n_legal + 1, dtype=np.float64) / self.g

    def aggregate(self, flows: FloatArray) -> FloatArray:
        """Sum timeline flows (paths, T+1) into bond periods (paths, NL+1).

        Bond period k collects timeline periods pay_t[k-1] < t <= pay_t[k];
        k = 0 holds nothing (flows up to the issue are not bond cash).
        """
        out = np.zeros((*flows.shape[:-1], self.n_legal + 1))
        if self.step == 1:
            out[..., 1:] = flows[..., self.pay_t[1:]]
        else:
            starts = self.pay_t[:-1] + 1  # first timeline period of each payment period
            within = flows[..., : self.pay_t[-1] + 1]  # nothing after legal maturity
            out[..., 1:] = np.add.reduceat(within, starts, axis=-1)
        return out

    def to_timeline(self, values: FloatArray, n_periods: int) -> FloatArray:
        """Place bond-period values (paths, NL+1) at their timeline periods (paths, T+1)."""
        out = np.zeros((*values.shape[:-1], n_periods + 1))
        out[..., self.pay_t] = values
        return out


def build_grid(bond: BondTerms, timeline: Timeline) -> BondGrid:
    """Lay the bond's payment periods on ``timeline`` (coherence is checked by the schema)."""
    g = FREQUENCIES[bond.payment_frequency]
    step = timeline.f // g
    issue = bond.issue_date or timeline.close_date
    issue_t = timeline.boundaries.index(issue)
    n_legal = round(bond.legal_years * g)
    return BondGrid(
        g=g,
        step=step,
        issue_t=issue_t,
        n_scheduled=round(bond.tenor_years * g),
        n_legal=n_legal,
        n_grace=round(bond.grace_years * g),
        pay_t=issue_t + step * np.arange(n_legal + 1, dtype=np.int64),
    )


def annual_coupon_rates(bond: BondTerms, grid: BondGrid) -> FloatArray:
    """The annual coupon rate in force in each payment period k = 0..NL (k = 0 unused).

    Fixed: the rate. Floating: max(reference + margin, floor), the reference
    path indexed by bond year (the last value holds). Index-linked: the real rate
    (applied to the uplifted principal).
    """
    k = np.arange(grid.n_legal + 1)
    coupon = bond.coupon
    if isinstance(coupon, FixedCoupon):
        return np.full(k.shape, coupon.rate)
    if isinstance(coupon, IndexLinkedCoupon):
        return np.full(k.shape, coupon.real_rate)
    if coupon.reference_path is not None:
        reference = rates_by_year(coupon.reference_path, bond_year(k, grid.g))
    else:
        reference = np.full(k.shape, coupon.reference_rate or 0.0)
    rate = reference + coupon.margin
    if coupon.floor is not None:
        rate = np.maximum(rate, coupon.floor)
    return np.asarray(rate, dtype=np.float64)


def uplift_factors(
    bond: BondTerms, grid: BondGrid, timeline: Timeline, inflation: FloatArray
) -> FloatArray:
    """Per-path principal uplift over each payment period, (paths, NL+1); 1 unless index-linked.

    Notes
    -----
    With annual inflation :math:`\\pi_t` in force in timeline period t, the
    uplift over payment period k is :math:`\\prod_{t \\in k} (1 + \\min(\\max(\\pi_t,
    floor), cap))^{1/f}`: each annual rate is capped and floored, then
    compounded over the period's length.
    """
    paths = inflation.shape[0]
    out = np.ones((paths, grid.n_legal + 1))
    coupon = bond.coupon
    if not isinstance(coupon, IndexLinkedCoupon):
        return out
    rates = inflation
    if coupon.uplift_cap is not None:
        rates = np.minimum(rates, coupon.uplift_cap)
    if coupon.uplift_floor is not None:
        rates = np.maximum(rates, coupon.uplift_floor)
    log_step = np.log1p(rates) / timeline.f  # (paths, T) for t = 1..T
    log_cum = np.zeros((paths, timeline.n_periods + 1))
    np.cumsum(log_step, axis=1, out=log_cum[:, 1:])
    at = log_cum[:, grid.pay_t]
    out[:, 1:] = np.exp(np.diff(at, axis=1))
    return out


def remaining_fraction(
    bond: BondTerms,
    grid: BondGrid,
    rates: FloatArray,
    uplift: FloatArray,
    cfads: FloatArray,
    post_grace_balance: float,
    trace: dict[str, FloatArray] | None = None,
) -> FloatArray:
    """Scheduled outstanding principal after payment k, as a fraction of the post-grace balance.

    ``rates``, ``uplift`` and ``cfads`` are base-case values per payment period
    (NL+1,); ``post_grace_balance`` is the base-case nominal balance after the
    grace period (used by sculpting only). The fraction is in real terms for
    index-linked bonds.

    Notes
    -----
    With n = N - G amortisation periods and j = k - G of them elapsed:

    - bullet: 1 until maturity;
    - EIP: 1 - j/n;
    - annuity at periodic rate i: :math:`((1+i)^n - (1+i)^j)/((1+i)^n - 1)`
      (1 - j/n when i = 0), the outstanding balance of a level-payment loan;
    - custom: 1 minus the cumulative schedule;
    - sculpted: the balance B_k = B_{k-1} u_k (1 + i_k) - CFADS_k / DSCR, floored
      at 0, divided by the cumulative uplift (a balloon remains due at maturity
      if the cash cannot carry the principal).

    All fractions are 0 from maturity N on.
    """
    n_total = grid.n_legal + 1
    frac = np.ones(n_total)
    big_g, big_n = grid.n_grace, grid.n_scheduled
    n = big_n - big_g
    j = np.arange(n_total) - big_g
    amortising = (j > 0) & (np.arange(n_total) < big_n)
    kind = bond.repayment.type
    if kind == "eip":
        frac[amortising] = 1.0 - j[amortising] / n
    elif kind == "annuity":
        i = float(rates[big_g + 1]) / grid.g
        if abs(i) < 1e-15:
            frac[amortising] = 1.0 - j[amortising] / n
        else:
            growth = (1.0 + i) ** n
            frac[amortising] = (growth - (1.0 + i) ** j[amortising]) / (growth - 1.0)
    elif kind == "custom" and bond.repayment.schedule is not None:
        schedule = np.asarray(bond.repayment.schedule, dtype=np.float64)
        if len(schedule) != n:
            raise ModelError(
                f"bond.repayment.schedule has {len(schedule)} entries; the bond has {n} "
                "amortisation periods (tenor minus grace, in payment periods)"
            )
        cumulative = np.cumsum(schedule)
        frac[amortising] = 1.0 - cumulative[j[amortising] - 1]
    elif kind == "sculpted" and bond.sculpting_dscr is not None:
        _sculpt(frac, bond.sculpting_dscr, grid, rates, uplift, cfads, post_grace_balance, trace)
    frac[big_n:] = 0.0
    frac[: big_g + 1] = 1.0
    if big_n <= big_g:
        raise ModelError("bond: the grace period covers the whole tenor")
    return np.clip(frac, 0.0, 1.0)


def _sculpt(
    frac: FloatArray,
    target_dscr: float,
    grid: BondGrid,
    rates: FloatArray,
    uplift: FloatArray,
    cfads: FloatArray,
    post_grace_balance: float,
    trace: dict[str, FloatArray] | None,
) -> None:
    """The sculpted profile into ``frac`` (see :func:`remaining_fraction`): each amortising
    payment repays the base-case CFADS over the target DSCR."""
    big_g, big_n, n_total = grid.n_grace, grid.n_scheduled, grid.n_legal + 1
    balance = 1.0  # nominal, relative to the post-grace balance
    index = 1.0
    scale = post_grace_balance if post_grace_balance > 0 else 1.0
    sculpt_balance = np.ones(n_total)
    sculpt_index = np.ones(n_total)
    for k in range(big_g + 1, big_n):
        index *= uplift[k]
        # relative to a tiny balance the cash is huge: it repays at once
        paid = cfads[k] / target_dscr
        repaid_now = paid >= scale * balance * uplift[k] * (1.0 + rates[k] / grid.g)
        balance = (
            0.0 if repaid_now else (balance * uplift[k] * (1.0 + rates[k] / grid.g) - paid / scale)
        )
        frac[k] = max(balance, 0.0) / index
        sculpt_balance[k:] = balance
        sculpt_index[k:] = index
    if trace is not None:
        trace["sculpt_balance"] = sculpt_balance
        trace["sculpt_index"] = sculpt_index
