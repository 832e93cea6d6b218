"""What a group of councils gains by sharing: the scale curves, set-up, distance, present value.

Every function works on a block of groups at once, an index array shaped
``(groups, size)``, so the exhaustive search, the heuristic's moves and the coalitions
of the fair-share games are one vectorised call per group size. The equations are in
``docs/methodology.md`` section 25.3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bondmodel.errors import ScenarioError
from bondmodel.market.economics import SERVICE_LINES, Economics
from bondmodel.market.register import Register, distances_km
from bondmodel.types import BoolArray, FloatArray, IntArray


def savings_profile(delay: float, ramp: float, years: int) -> FloatArray:
    """The fraction of a line's steady-state saving in each year 1..``years``.

    The engine's linear ramp with a start delay (``methodology.md`` section 7), on annual
    periods: the active part of year :math:`y`, :math:`\\operatorname{clip}(y - d, 0, 1)`,
    times :math:`\\min((y - d)/N, 1)` (1 with :math:`N = 0`), so a written scenario's
    savings are exactly these.
    """
    y = np.arange(1, years + 1, dtype=np.float64)
    tau = y - delay
    active = np.clip(tau, 0.0, 1.0)
    ramp_fraction = np.where(
        tau <= 0, 0.0, 1.0 if ramp == 0 else np.minimum(tau / max(ramp, 1e-300), 1.0)
    )
    return np.asarray(active * ramp_fraction)


@dataclass(frozen=True)
class GroupValues:
    """A block of groups, valued. Per group (G,) or per group and line (G, L).

    Attributes
    ----------
    groups
        (G, k) council indices.
    value
        Net present value of sharing: the shared lines' savings less set-up, less the
        distance penalty; ``-inf`` for a group beyond the distance limit.
    gross
        Steady-state annual saving of each line the group could share.
    setup
        One-off set-up cost of each line.
    shared
        Whether the group shares the line (two or more participants, positive NPV).
    hosted
        Whether a participant offers the line.
    participants
        (G, k, L): which members take part in each line.
    penalty
        Annual distance penalty.
    mean_km
        Mean distance between two members.
    """

    groups: IntArray
    value: FloatArray
    gross: FloatArray
    setup: FloatArray
    shared: BoolArray
    hosted: BoolArray
    participants: BoolArray
    penalty: FloatArray
    mean_km: FloatArray


class Market:
    """A register, its economics and the service lines in play, ready to value groups."""

    def __init__(
        self, register: Register, economics: Economics, services: list[str] | None = None
    ) -> None:
        self.register = register
        self.economics = economics
        lines = list(register.lines) if services is None else services
        for line in lines:
            if line not in register.lines:
                allowed = ", ".join(register.lines)
                raise ScenarioError(
                    f"--services: {line!r} "
                    + (
                        "is not a service line"
                        if line not in SERVICE_LINES
                        else f"has no spend column in {register.path}"
                    )
                    + f"; allowed: {allowed}"
                )
        self.lines = tuple(line for line in register.lines if line in lines)
        cols = [register.lines.index(line) for line in self.lines]
        self.spend = register.spend[:, cols]
        self.offer = register.offer[:, cols]
        self.active = (register.offer[:, cols] | register.seek[:, cols]) & (self.spend > 0)
        econ = [economics.line(line) for line in self.lines]
        self.p = np.asarray([1.0 / (1.0 - e.elasticity) for e in econ])
        self.setup_share = np.asarray([e.setup_share for e in econ])
        self.per_partner = np.asarray([e.setup_per_partner for e in econ])
        a = economics.appraisal
        self.years = a.horizon_years
        self.discount = (1.0 + a.discount_rate) ** -np.arange(1, a.horizon_years + 1)
        self.profiles = np.asarray(
            [savings_profile(e.start_delay_years, e.ramp_years, a.horizon_years) for e in econ]
        ).reshape(len(econ), a.horizon_years)
        #: Present value of one pound a year of steady-state saving, per line.
        self.ramp_factor = self.profiles @ self.discount
        #: Present value of one pound a year from year 1 to the horizon.
        self.annuity = float(self.discount.sum())
        self.km = distances_km(register, a.km_per_hop)

    @property
    def size(self) -> int:
        return self.register.size

    def evaluate(self, groups: IntArray) -> GroupValues:
        """Value every group of the block ``groups`` (G, k) (section 25.3)."""
        groups = np.asarray(groups, dtype=np.int64)
        count, k = groups.shape
        a = self.economics.appraisal
        x = self.spend[groups]
        part = self.active[groups]
        xp = np.where(part, x, 0.0)
        m = part.sum(axis=1)
        total = xp.sum(axis=1)
        scale = np.where(total > 0, total, 1.0)
        shared_cost = scale * ((xp / scale[:, None, :]) ** self.p).sum(axis=1) ** (1.0 / self.p)
        gross = np.where(m >= 2, np.maximum(total - shared_cost, 0.0), 0.0)
        hosted = (self.offer[groups] & part).any(axis=1)
        setup = (self.setup_share * total + self.per_partner * m) * np.where(
            hosted, 1.0, a.no_host_factor
        )
        line_npv = gross * self.ramp_factor - setup
        shared = (m >= 2) & (line_npv > 0)
        if k > 1:
            d = self.km[groups[:, :, None], groups[:, None, :]]
            feasible = d.max(axis=(1, 2)) <= a.max_distance_km
            d = np.where(np.isfinite(d), d, 0.0)
            mean_km = d.sum(axis=(1, 2)) / (k * (k - 1))
        else:
            feasible = np.ones(count, dtype=bool)
            mean_km = np.zeros(count)
        # each member pays distance_cost a year per km of its mean distance to the others
        penalty = np.where(shared.any(axis=1), a.distance_cost * k * mean_km, 0.0)
        value = np.where(shared, line_npv, 0.0).sum(axis=1) - penalty * self.annuity
        value = np.where(feasible, value, -np.inf)
        return GroupValues(groups, value, gross, setup, shared, hosted, part, penalty, mean_km)

    def value(self, groups: IntArray) -> FloatArray:
        """Just the values of :meth:`evaluate`."""
        return self.evaluate(groups).value

    def yearly_net(self, values: GroupValues, row: int) -> FloatArray:
        """Group ``row``'s undiscounted net saving in years 1..H (shared lines less penalty)."""
        lines = np.where(values.shared[row], values.gross[row], 0.0)
        return np.asarray(lines @ self.profiles - values.penalty[row])

    def payback_years(self, values: GroupValues, row: int) -> float | None:
        """Years until the cumulative net saving repays the set-up (interpolated within the
        year), or None when it does not within the horizon."""
        cost = float(np.where(values.shared[row], values.setup[row], 0.0).sum())
        if cost <= 0:
            return 0.0
        net = self.yearly_net(values, row)
        cumulative = np.cumsum(net)
        reached = np.flatnonzero(cumulative >= cost)
        if reached.size == 0:
            return None
        y = int(reached[0])
        before = 0.0 if y == 0 else float(cumulative[y - 1])
        return y + (cost - before) / float(net[y])
