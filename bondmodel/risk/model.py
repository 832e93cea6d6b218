"""From a scenario's risk specification to per-path draws for the engine.

:class:`RiskModel` resolves each risk input's target (which streams, partners
or cost items it moves) once; :meth:`RiskModel.block_draws` then turns one
block's uniforms into the engine's :class:`~bondmodel.programme.Draws` and, for
a floating coupon, the per-path coupon rates.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from bondmodel.bond.schedule import BondGrid
from bondmodel.errors import ScenarioError
from bondmodel.programme import Draws
from bondmodel.risk.correlation import iman_conover, nearest_correlation
from bondmodel.risk.distributions import ppf
from bondmodel.risk.sampling import PERMUTATIONS, SHOCKS, Sampler, block_rng, block_uniforms
from bondmodel.scenario.bond import FloatingCoupon
from bondmodel.scenario.risk import RATE_TARGET_RANGE, RiskInput
from bondmodel.scenario.schema import Scenario
from bondmodel.timeline import Timeline, bond_year, rates_by_year
from bondmodel.types import FloatArray


@dataclass(frozen=True)
class ResolvedInput:
    """A risk input with its target resolved to indices."""

    spec: RiskInput
    indices: tuple[int, ...]


@dataclass(frozen=True)
class RiskModel:
    """Everything needed to turn uniforms into draws, fixed once per run."""

    scenario: Scenario
    timeline: Timeline
    inputs: tuple[ResolvedInput, ...]
    correlation: FloatArray | None
    repaired: bool
    grid: BondGrid | None

    @property
    def names(self) -> list[str]:
        """Risk input names, in scenario order (the columns of the samples)."""
        return [r.spec.name for r in self.inputs]

    def values(self, u: FloatArray) -> FloatArray:
        """Each input's sampled value from its uniforms, (n, k)."""
        out = np.empty_like(u)
        for j, r in enumerate(self.inputs):
            out[:, j] = ppf(r.spec.distribution, u[:, j])
        return out

    def correlated_uniforms(
        self, seed: int, sampler: Sampler, block: int, paths: int
    ) -> FloatArray:
        """One block's uniforms, rank-correlated by Iman-Conover when a matrix is given."""
        u = block_uniforms(seed, sampler, block, paths, len(self.inputs))
        if self.correlation is None or u.shape[0] < 3:
            return u
        return iman_conover(u, self.correlation, block_rng(seed, block, PERMUTATIONS))

    def draws(
        self,
        values: FloatArray,
        seed: int,
        block: int,
        only: int | None = None,
        shocks: bool = True,
        common: Mapping[str, tuple[float, FloatArray]] | None = None,
    ) -> tuple[Draws, FloatArray | None]:
        """Engine draws for sampled ``values`` (n, k); and per-path coupon rates if floating.

        Inputs on the same target multiply (factors) or add (delays); an erosion
        rate replaces the scenario's. Inflation and the reference rate take the
        sampled level, optionally as a yearly mean-reverting path. ``only``
        applies one input alone (the others stay at the scenario's values), and
        ``shocks = False`` holds mean-reverting paths at their level: both for
        one-at-a-time sensitivity. ``common`` maps a path's target to a loading and shocks
        (n, horizon years) shared with other programmes (a pool's common factor, methodology
        section 24.2): the path's shocks mix them in (:meth:`_yearly_path`).
        """
        d = Draws.central(self.scenario, paths=values.shape[0])  # fresh arrays, changed here
        paths: dict[str, FloatArray] = {}  # inflation and coupon rates, replaced whole
        for j, r in enumerate(self.inputs):
            if only is None or j == only:
                shared = common.get(r.spec.target) if common is not None else None
                self._apply(d, paths, j, r, values[:, j], seed, block, shocks, shared)
        for j in map(int, np.flatnonzero(~np.isfinite(values).all(axis=0))):
            bad = values[~np.isfinite(values[:, j]), j][0]
            raise ScenarioError(
                f"risk.inputs[{j}] ('{self.inputs[j].spec.name}'): the distribution produced "
                f"{bad}; allowed: finite values"
            )
        draws = dataclasses.replace(
            d,
            start_delay_years=np.maximum(d.start_delay_years, 0.0),
            ramp_speed=np.maximum(d.ramp_speed, 0.0),
            erosion=np.clip(d.erosion, 0.0, 1.0),
            inflation=paths.get("inflation", d.inflation),
        )
        return draws, paths.get("rates")

    def _apply(
        self,
        d: Draws,
        paths: dict[str, FloatArray],
        j: int,
        r: ResolvedInput,
        x: FloatArray,
        seed: int,
        block: int,
        shocks: bool,
        shared: tuple[float, FloatArray] | None = None,
    ) -> None:
        """Input ``j``'s sampled values ``x`` onto its target: in place in ``d``'s arrays, or
        as a whole new ``paths["inflation"]`` or ``paths["rates"]`` (``shared``: common
        yearly shocks and their loading, for a path)."""
        idx = list(r.indices)
        target = r.spec.target
        if target == "savings.realisation":
            d.savings_realisation[:, idx] *= x[:, None]
        elif target == "partners.realisation":
            d.partner_realisation[:, idx] *= x[:, None]
        elif target == "savings.start_delay":
            d.start_delay_years[:, idx] += x[:, None] / self.timeline.f
        elif target == "savings.ramp_speed":
            d.ramp_speed[:, idx] *= x[:, None]
        elif target == "savings.erosion":
            d.erosion[:, idx] = x[:, None]
        elif target == "costs.overrun":
            d.cost_factor[:, idx] *= x[:, None]
        elif target == "running_costs.factor":
            np.multiply(d.running_cost_factor, x, out=d.running_cost_factor)
        elif target == "economics.inflation":
            base = self.scenario.economics.inflation
            yearly = self._yearly_path(r, x, base, seed, block, j, shocks, shared)
            paths["inflation"] = yearly[:, self.timeline.programme_year[1:] - 1]
        elif target == "bond.reference_rate" and self.grid is not None:
            bond = self.scenario.bond
            coupon = bond.coupon if bond is not None else None
            if isinstance(coupon, FloatingCoupon):
                paths["rates"] = self._coupon_rates(
                    self.grid, coupon, r, x, seed, block, j, shocks, shared
                )

    def _coupon_rates(
        self,
        grid: BondGrid,
        coupon: FloatingCoupon,
        r: ResolvedInput,
        x: FloatArray,
        seed: int,
        block: int,
        j: int,
        shocks: bool,
        shared: tuple[float, FloatArray] | None = None,
    ) -> FloatArray:
        """(n, payments + 1) coupon rates: the reference rate's yearly path (around the
        scenario's rate or path, at the sampled long-run level) plus the margin, floored."""
        base = (
            coupon.reference_rate
            if coupon.reference_rate is not None
            else (coupon.reference_path or (0.0,))
        )
        yearly = self._yearly_path(r, x, base, seed, block, j, shocks, shared)
        year = bond_year(np.arange(grid.n_legal + 1), grid.g)
        rate = yearly[:, np.minimum(year, yearly.shape[1]) - 1] + coupon.margin
        if coupon.floor is not None:
            rate = np.maximum(rate, coupon.floor)
        return rate

    def _yearly_path(
        self,
        r: ResolvedInput,
        level: FloatArray,
        base: float | tuple[float, ...],
        seed: int,
        block: int,
        j: int,
        shocks: bool = True,
        shared: tuple[float, FloatArray] | None = None,
    ) -> FloatArray:
        """(n, years) annual rates: the scenario's path moved to the sampled long-run
        level, or a mean-reverting path around it.

        Notes
        -----
        The scenario's rate or path :math:`b_1..b_n` (the last holding after year
        n) is the centre: the sampled value L is its long-run rate, and the centre
        moves with it, :math:`c_y = b_y + (L - b_n)` (just L for a single rate),
        kept within the rate's range. With reversion a and volatility s:
        :math:`x_1 = b_1` (the scenario's first rate) and
        :math:`x_y = c_y + (1-a)(x_{y-1} - c_{y-1}) + s\\,\\epsilon_y` for later
        years, :math:`\\epsilon_y` standard normal from the block's own stream
        (spawn key (block, 2, j)). A draw equal to :math:`b_n` without
        shocks gives back the scenario's path exactly. With ``shared`` = (rho, eta), a
        loading and common standard normals (n, years), the shocks are
        sqrt(rho) eta_y + sqrt(1 - rho) epsilon_y: standard normal still,
        correlated rho with any other programme's on the same eta.
        """
        years = self.scenario.timeline.horizon_years
        n = level.shape[0]
        rates = np.atleast_1d(np.asarray(base, dtype=np.float64))
        if rates.min() == rates.max():
            centre = np.repeat(level[:, None], years, axis=1)  # a single rate: L itself
        else:
            low, high = RATE_TARGET_RANGE[r.spec.target]
            b = rates_by_year(base, np.arange(1, years + 1))
            centre = np.clip(b[None, :] + (level - rates[-1])[:, None], low, high)
        if r.spec.path is None or not shocks:
            return centre
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(block, SHOCKS, j)))
        )
        noise = rng.standard_normal((n, years))
        if shared is not None and shared[0] > 0.0:
            rho, eta = shared
            noise = math.sqrt(rho) * eta + math.sqrt(1.0 - rho) * noise
        phi = 1.0 - r.spec.path.reversion
        out = np.empty((n, years))
        out[:, 0] = rates[0]
        for y in range(1, years):
            drift = phi * (out[:, y - 1] - centre[:, y - 1])
            out[:, y] = centre[:, y] + drift + r.spec.path.volatility * noise[:, y]
        return out


def build_risk_model(scenario: Scenario, timeline: Timeline, grid: BondGrid | None) -> RiskModel:
    """Resolve the scenario's risk inputs; a scenario without risk has none."""
    risk = scenario.risk
    if risk is None:
        return RiskModel(scenario, timeline, (), None, False, grid)
    resolved = []
    for i, spec in enumerate(risk.inputs):
        resolved.append(ResolvedInput(spec, _indices(scenario, spec, i)))
    correlation = None
    repaired = False
    if risk.correlation is not None:
        names = [r.spec.name for r in resolved]
        k = len(names)
        correlation = np.eye(k)
        pos = [names.index(n) for n in risk.correlation.names]
        given = np.asarray(risk.correlation.matrix, dtype=np.float64)
        if np.linalg.eigvalsh(given).min() < -1e-10:
            given = nearest_correlation(given)
            repaired = True
        correlation[np.ix_(pos, pos)] = given
    return RiskModel(scenario, timeline, tuple(resolved), correlation, repaired, grid)


def _indices(scenario: Scenario, spec: RiskInput, i: int) -> tuple[int, ...]:
    """Which streams, partners or cost items an input moves (checked by the schema)."""
    if spec.target.startswith("savings."):
        names = [s.name for s in scenario.savings]
        chosen = spec.streams or names
        return tuple(names.index(n) for n in chosen)
    if spec.target == "partners.realisation":
        names = scenario.partner_names
        return tuple(names.index(n) for n in (spec.partners or names))
    if spec.target == "costs.overrun":
        out = []
        for j, item in enumerate(scenario.costs):
            by_name = spec.items is not None and item.name in spec.items
            by_category = spec.categories is not None and item.category in spec.categories
            if (spec.items is None and spec.categories is None) or by_name or by_category:
                out.append(j)
        return tuple(out)
    return ()
