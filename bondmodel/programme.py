"""Programme cash flows: one-off costs, running costs, savings ramps and partner allocation.

Every array here is shaped ``(paths, T+1)`` (or ``(paths, partners, T+1)``);
the deterministic base case is one path of central values (:meth:`Draws.central`).
Loops run over cost items and savings streams, never over paths. The equations
are in docs/methodology.md, sections "Costs", "Savings" and "Partners".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bondmodel.errors import ModelError
from bondmodel.scenario.schema import (
    CostItem,
    ExplicitRamp,
    LinearRamp,
    Scenario,
    SCurveRamp,
)
from bondmodel.timeline import Timeline, growth_index, inflation_by_period, real_discount_factors
from bondmodel.types import FloatArray


@dataclass(frozen=True)
class Draws:
    """Per-path values of the programme's uncertain inputs.

    The central case has every multiplier at 1 and every other input at its
    scenario value. Monte Carlo fills these arrays from distributions.

    Attributes
    ----------
    savings_realisation : (paths, streams) multiplier on each stream's steady-state saving.
    partner_realisation : (paths, partners) multiplier on each partner's share of savings.
    start_delay_years : (paths, streams) delay from close to the first saving.
    ramp_speed : (paths, streams) multiplier on ramp speed (2 = twice as fast).
    erosion : (paths, streams) annual erosion rate.
    cost_factor : (paths, items) outturn multiplier on each cost item (1 = no overrun).
    running_cost_factor : (paths,) multiplier on every running cost.
    inflation : (paths, T) annual inflation rate in force in each period t = 1..T.
    """

    savings_realisation: FloatArray
    partner_realisation: FloatArray
    start_delay_years: FloatArray
    ramp_speed: FloatArray
    erosion: FloatArray
    cost_factor: FloatArray
    running_cost_factor: FloatArray
    inflation: FloatArray

    @property
    def n_paths(self) -> int:
        """The number of paths."""
        return int(self.running_cost_factor.shape[0])

    @classmethod
    def central(cls, scenario: Scenario, paths: int = 1) -> Draws:
        """Every input at its central (scenario) value, repeated over ``paths``."""
        n_streams = len(scenario.savings)
        ones = np.ones
        tl = scenario.timeline
        inflation = inflation_by_period(scenario.economics, tl.periods_per_year, tl.n_periods)
        return cls(
            savings_realisation=ones((paths, n_streams)),
            partner_realisation=ones((paths, len(scenario.partners))),
            start_delay_years=np.tile(
                np.array([s.start_delay_years for s in scenario.savings], dtype=np.float64),
                (paths, 1),
            ),
            ramp_speed=ones((paths, n_streams)),
            erosion=np.tile(
                np.array([s.erosion for s in scenario.savings], dtype=np.float64), (paths, 1)
            ),
            cost_factor=ones((paths, len(scenario.costs))),
            running_cost_factor=ones(paths),
            inflation=np.tile(inflation[1:], (paths, 1)),
        )


@dataclass(frozen=True)
class ProgrammeFlows:
    """Programme cash flows in nominal pounds, shaped (paths, T+1) unless stated.

    ``price_index`` converts to real base-date prices (real = nominal / index);
    ``discount_factors`` are on the scenario's appraisal basis.
    """

    capex_base: FloatArray
    capex_contingency: FloatArray
    capex_optimism_bias: FloatArray
    capex_overrun: FloatArray
    capex: FloatArray
    running_costs: FloatArray
    gross_savings: FloatArray
    net_savings: FloatArray
    net_cash_flow: FloatArray
    price_index: FloatArray
    discount_factors: FloatArray
    #: (paths, partners, T+1) per-partner flows; None when not computed
    partner_capex: FloatArray | None
    partner_running_costs: FloatArray | None
    partner_gross_savings: FloatArray | None
    #: (paths, streams, T+1) gross savings by stream, before partner realisation
    stream_savings: FloatArray
    appraisal_basis: str
    #: (paths, partners) each partner's savings realisation multiplier
    partner_realisation: FloatArray

    @staticmethod
    def _partner(array: FloatArray | None) -> FloatArray:
        if array is None:
            raise ModelError("per-partner flows were not computed (partners = False)")
        return array

    def partner(self, key: str) -> FloatArray:
        """A per-partner array ('capex', 'running_costs' or 'gross_savings'), required."""
        return self._partner(getattr(self, f"partner_{key}"))

    @property
    def partner_net_savings(self) -> FloatArray:
        """(paths, partners, T+1) gross savings less running costs, per partner."""
        return self._partner(self.partner_gross_savings) - self._partner(self.partner_running_costs)

    @property
    def partner_net_cash_flow(self) -> FloatArray:
        """(paths, partners, T+1) net savings less one-off costs, per partner."""
        return self.partner_net_savings - self._partner(self.partner_capex)

    def on_basis(self, nominal: FloatArray) -> FloatArray:
        """Convert a nominal array to the appraisal basis (real divides by the price index)."""
        if self.appraisal_basis == "real":
            if nominal.ndim == 3:
                return nominal / self.price_index[:, None, :]
            return nominal / self.price_index
        return nominal


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------


def cost_weights(item: CostItem, n_periods: int) -> FloatArray:
    """Fraction of the item's amount paid in each period 0..T (sums to 1)."""
    w = np.zeros(n_periods + 1)
    first = item.first_period
    if item.timing == "at_close":
        w[0] = 1.0
    elif item.timing == "spread" and item.periods is not None:
        w[first : first + item.periods] = 1.0 / item.periods
    elif item.profile is not None:
        w[first : first + len(item.profile)] = item.profile
    return w


def ramp_fraction(ramp: LinearRamp | ExplicitRamp | SCurveRamp, tau: FloatArray) -> FloatArray:
    """Fraction of steady-state savings reached ``tau`` years after savings start.

    Notes
    -----
    Linear over N years: :math:`r = \\min(\\max(\\tau/N, 0), 1)` (N = 0: 1 for tau > 0).
    Explicit fractions F: :math:`r = F_{k}`, k = ceil(tau) clipped to 1..len(F).
    S-curve over N years with steepness k: the logistic
    :math:`L(x) = 1/(1+e^{-k(x/N - 1/2)})` rescaled so r(0) = 0 and r(N) = 1,
    computed as :math:`(\tanh(k(x/N - 1/2)/2) + \tanh(k/4)) / (2\tanh(k/4))`,
    the same function, stable for any k.
    """
    if isinstance(ramp, LinearRamp):
        if ramp.years == 0.0:
            return np.where(tau > 0.0, 1.0, 0.0)
        with np.errstate(over="ignore"):  # a ramp of a few seconds is a step
            return np.clip(tau / ramp.years, 0.0, 1.0)
    if isinstance(ramp, ExplicitRamp):
        fractions = np.asarray(ramp.fractions, dtype=np.float64)
        k = np.clip(np.ceil(tau), 1, len(fractions)).astype(np.int64)
        return np.where(tau > 0.0, fractions[k - 1], 0.0)
    n, steep = ramp.years, ramp.steepness
    # The rescaled logistic written with tanh, exact and stable for any
    # steepness: L(x) = (1 + tanh(k (x/N - 1/2) / 2)) / 2, so
    # r = (tanh(k (x/N - 1/2) / 2) + tanh(k/4)) / (2 tanh(k/4)); as k -> 0, r -> x/N.
    if steep < SCURVE_LINEAR_BELOW:
        # the S-curve differs from a straight line by O(k^2): below 1e-12 here
        return np.clip(tau / n, 0.0, 1.0)
    half = np.tanh(steep / 4.0)
    centred = np.tanh(steep * (np.clip(tau, 0.0, n) / n - 0.5) / 2.0)
    result: FloatArray = (centred + half) / (2.0 * half)
    return result


#: Below this steepness an S-curve ramp is computed as the straight line it tends to.
SCURVE_LINEAR_BELOW = 1e-6


def _index_for(indexation: str | float, price_index: FloatArray, timeline: Timeline) -> FloatArray:
    """Nominal multiplier on base-date amounts for an indexation setting, (paths, T+1)."""
    if indexation == "inflation":
        return price_index
    if indexation == "none":
        return np.ones_like(price_index)
    own = growth_index(float(indexation), timeline.years, timeline.price_offset_years)
    return np.broadcast_to(own, price_index.shape)


def price_index_paths(scenario: Scenario, timeline: Timeline, inflation: FloatArray) -> FloatArray:
    """Price index from the base date, (paths, T+1).

    Notes
    -----
    .. math:: I_0 = (1+\\pi)^{o}, \\qquad I_t = I_{t-1} (1+\\pi_t)^{1/f}

    with o the years from the price base date to close at the scenario's
    inflation rate (a path's first rate), and :math:`\\pi_t` the annual rate in
    force in period t (a path's rate for the period's programme year, the last
    holding after it). With constant :math:`\\pi` this is :math:`(1+\\pi)^{o + t/f}`.
    """
    start = (1.0 + inflation_by_period(scenario.economics, timeline.f, 0)[0]) ** (
        timeline.price_offset_years
    )
    paths = inflation.shape[0]
    if paths > 1 and (inflation == inflation[:1]).all():
        # the same inflation on every path: one row, shared (read-only)
        return np.broadcast_to(
            price_index_paths(scenario, timeline, inflation[:1]), (paths, timeline.n_periods + 1)
        )
    steps = np.power(1.0 + inflation, 1.0 / timeline.f)
    index = np.empty((paths, timeline.n_periods + 1))
    index[:, 0] = start
    np.cumprod(steps, axis=1, out=index[:, 1:])
    index[:, 1:] *= start
    return index


def partner_presence(scenario: Scenario, timeline: Timeline) -> FloatArray:
    r"""(partners, T+1): the share of each period a partner is still in the partnership.

    Notes
    -----
    A partner leaving ``exit_year`` years after close is in for
    :math:`\min(\max(Y f - (t - 1), 0), 1)` of period t (1 before it leaves, the
    fraction before the exit in the period it leaves in, 0 after); 1 throughout
    without an exit year.
    """
    t = timeline.t.astype(np.float64)
    out = np.ones((len(scenario.partners), t.size))
    for p, partner in enumerate(scenario.partners):
        if partner.exit_year is not None:
            out[p] = np.clip(partner.exit_year * timeline.f - (t - 1.0), 0.0, 1.0)
    return out


def allocation_matrix(scenario: Scenario) -> FloatArray:
    """(streams, partners) share of each stream's savings going to each partner.

    A stream's savings go to its ``partners`` (all partners when omitted): by
    their savings shares renormalised over those partners (``allocation =
    'shares'``), or by their baseline expenditure (``'expenditure'``). Partners
    outside the stream get nothing.
    """
    names = scenario.partner_names
    shares = np.asarray(scenario.shares("savings_share"))
    spend = np.array([p.baseline_expenditure for p in scenario.partners])
    rows = []
    for stream in scenario.savings:
        members = set(stream.partners or names)
        inside = np.array([name in members for name in names])
        weights = np.where(inside, shares if stream.allocation == "shares" else spend, 0.0)
        total = weights.sum()
        if total <= 0.0:
            # every member has a zero savings share: fall back to expenditure
            weights = np.where(inside, spend, 0.0)
            total = weights.sum()
        rows.append(weights / total)
    if not rows:
        return np.zeros((0, len(names)))
    return np.vstack(rows)


def steady_state_savings(scenario: Scenario) -> FloatArray:
    """(streams,) steady-state annual saving of each stream at base-date prices."""
    spend = {p.name: p.baseline_expenditure for p in scenario.partners}
    values = []
    for stream in scenario.savings:
        if stream.annual_amount is not None:
            values.append(stream.annual_amount)
        else:
            members = stream.partners or list(spend)
            pct = stream.pct_of_expenditure or 0.0
            values.append(pct * sum(spend[m] for m in members))
    return np.asarray(values, dtype=np.float64)


# ---------------------------------------------------------------------------
# The programme
# ---------------------------------------------------------------------------


def programme_flows(
    scenario: Scenario, timeline: Timeline, draws: Draws, partners: bool = True
) -> ProgrammeFlows:
    """Compute the programme's cash flows for every path of ``draws``.

    With ``partners = False`` the per-partner arrays (paths x partners x
    periods) are not built (a Monte Carlo run does not need them); every
    programme total is computed the same way either way.

    Notes
    -----
    Costs, item i, period t (nominal):

    .. math:: C_{i,t} = A_i w_{i,t} (1+c_i)(1+u_i) \\phi_i J_{i,t}

    with amount A, timing weight w, contingency c, optimism bias u, outturn
    factor :math:`\\phi` and indexation J. Savings, stream s:

    .. math:: S_{s,t} = \\frac{S_s}{f} \\rho_s\\, a_{s,t}\\, r_s(\\tau_{s,t})
              (1-e_s)^{\\max(0, (t-1)/f - d_s)} J_{s,t}

    where :math:`\\tau = t/f - d` is the time since savings start at the period
    end and :math:`a_{s,t}` the share of period t between the start delay and
    the end year. docs/methodology.md derives each term.
    """
    price_index = price_index_paths(scenario, timeline, draws.inflation)
    costs = _one_off_costs(scenario, timeline, draws, price_index)
    running = _running_costs(scenario, timeline, draws, price_index)
    stream_savings = _stream_savings(scenario, timeline, draws, price_index)
    gross = _gross_savings(scenario, timeline, draws, stream_savings)
    split = _PartnerSplit.of(
        scenario, timeline, draws, stream_savings, costs.capex, running, partners
    )
    net_savings = gross - running
    return ProgrammeFlows(
        capex_base=costs.base,
        capex_contingency=costs.contingency,
        capex_optimism_bias=costs.optimism_bias,
        capex_overrun=costs.overrun,
        capex=costs.capex,
        running_costs=running,
        gross_savings=gross,
        net_savings=net_savings,
        net_cash_flow=net_savings - costs.capex,
        price_index=price_index,
        discount_factors=_discount_factors(scenario, timeline, price_index),
        partner_capex=split.capex,
        partner_running_costs=split.running,
        partner_gross_savings=split.gross,
        stream_savings=stream_savings,
        appraisal_basis=scenario.economics.appraisal_basis,
        partner_realisation=draws.partner_realisation,
    )


@dataclass(frozen=True)
class _Costs:
    """The one-off costs, (paths, T+1) each: base, contingency, optimism bias, overrun, total."""

    base: FloatArray
    contingency: FloatArray
    optimism_bias: FloatArray
    overrun: FloatArray
    capex: FloatArray


def _shared_row(price_index: FloatArray) -> FloatArray | None:
    """The one row of a price index that every path shares (a read-only broadcast, see
    :func:`price_index_paths`), or None when paths differ."""
    if price_index.shape[0] > 1 and price_index.strides[0] == 0:
        return price_index[:1]
    return None


def _one_off_costs(
    scenario: Scenario, timeline: Timeline, draws: Draws, price_index: FloatArray
) -> _Costs:
    """The one-off costs (methodology "Costs"): planned amounts by item, indexed or flat,
    and each path's outturn on them."""
    paths, n = draws.n_paths, timeline.n_periods
    n_items = len(scenario.costs)
    rows = np.zeros((4, 2, n_items, n + 1))  # (base, cont, ob, planned) x (indexed, flat)
    for i, item in enumerate(scenario.costs):
        base = item.amount * cost_weights(item, n)
        cont = base * item.contingency
        ob = (base + cont) * item.effective_optimism_bias
        kind = 0 if item.indexed else 1
        rows[:, kind, i] = (base, cont, ob, base + cont + ob)
    totals = rows.sum(axis=2)  # (4, 2, T+1)
    overrun = draws.cost_factor - 1.0  # (paths, items)
    # with one price index for every path, the planned costs are one row, shared: the same
    # values, computed once instead of once per path
    row = _shared_row(price_index)
    index = price_index if row is None else row

    def indexed(pair: FloatArray) -> FloatArray:
        result: FloatArray = pair[0] * index + pair[1]
        return result

    capex_base, capex_cont, capex_ob = (indexed(totals[j]) for j in range(3))
    # a loop over items, not a matrix product: the sum's order (and so every
    # bit of the result) must not depend on how many paths are run together
    over_indexed = np.zeros((paths, n + 1))
    over_flat = np.zeros((paths, n + 1))
    for i in range(n_items):
        # an item without an outturn factor on any path adds exact zeros: skipped (a sum that
        # starts at +0 is never -0, so adding +0 or -0 changes no bit of it)
        if not overrun[:, i].any():
            continue
        if rows[3, 0, i].any():
            over_indexed += overrun[:, i : i + 1] * rows[3, 0, i]
        if rows[3, 1, i].any():
            over_flat += overrun[:, i : i + 1] * rows[3, 1, i]
    capex_over = over_indexed * price_index + over_flat
    capex = capex_base + capex_cont + capex_ob + capex_over
    if row is not None:
        shape = (paths, n + 1)
        capex_base, capex_cont, capex_ob = (
            np.broadcast_to(a, shape) for a in (capex_base, capex_cont, capex_ob)
        )
    return _Costs(capex_base, capex_cont, capex_ob, capex_over, capex)


def _running_costs(
    scenario: Scenario, timeline: Timeline, draws: Draws, price_index: FloatArray
) -> FloatArray:
    """Running costs, (paths, T+1): each item's annual amount per period while it runs,
    indexed, times each path's running-cost factor."""
    running = np.zeros((draws.n_paths, timeline.n_periods + 1))
    for rc in scenario.running_costs:
        last = rc.end_year if rc.end_year is not None else scenario.timeline.horizon_years
        active = (timeline.programme_year >= rc.start_year) & (timeline.programme_year <= last)
        running += (
            (rc.annual_amount / timeline.f)
            * active[None, :]
            * _index_for(rc.indexation, price_index, timeline)
        )
    running *= draws.running_cost_factor[:, None]
    return running


def _stream_savings(
    scenario: Scenario, timeline: Timeline, draws: Draws, price_index: FloatArray
) -> FloatArray:
    """(paths, streams, T+1) gross savings of each stream, before partner realisation."""
    t = timeline.t.astype(np.float64)
    f = timeline.f
    steady = steady_state_savings(scenario)
    out = np.zeros((draws.n_paths, len(scenario.savings), timeline.n_periods + 1))
    for s, stream in enumerate(scenario.savings):
        delay = draws.start_delay_years[:, s : s + 1]  # (paths, 1)
        end = stream.end_year if stream.end_year is not None else np.inf
        # share of period [t-1, t] (in periods) inside [delay*f, end*f]
        active = np.clip(
            np.minimum(t[None, :], end * f) - np.maximum(t[None, :] - 1.0, delay * f), 0.0, 1.0
        )
        active[:, 0] = 0.0
        tau = (t[None, :] / f - delay) * draws.ramp_speed[:, s : s + 1]
        ramp = ramp_fraction(stream.ramp, tau)
        eroded = np.power(
            1.0 - draws.erosion[:, s : s + 1],
            np.maximum(0.0, (t[None, :] - 1.0) / f - delay),
        )
        out[:, s, :] = (
            (steady[s] / f)
            * draws.savings_realisation[:, s : s + 1]
            * active
            * ramp
            * eroded
            * _index_for(stream.indexation, price_index, timeline)
        )
    return out


def _gross_savings(
    scenario: Scenario, timeline: Timeline, draws: Draws, stream_savings: FloatArray
) -> FloatArray:
    """(paths, T+1) gross savings: each stream weighted by its partners' shares and
    realisations (and presence, when a partner leaves)."""
    paths, n = draws.n_paths, timeline.n_periods
    alloc = allocation_matrix(scenario)  # (streams, partners)
    stay = partner_presence(scenario, timeline)  # (partners, T+1), 1 while in
    if (stay == 1.0).all():
        # each stream's weight on each path: sum over partners of share x realisation,
        # summed in partner order whatever the number of paths (no BLAS)
        weight = np.zeros((paths, alloc.shape[0]))
        for p in range(alloc.shape[1]):
            weight += draws.partner_realisation[:, p : p + 1] * alloc[:, p]
        gross: FloatArray = np.einsum("asn,as->an", stream_savings, weight)
        return gross
    # a partner that leaves takes its share of every stream with it, period by period
    weight_t = np.zeros((paths, alloc.shape[0], n + 1))
    for p in range(alloc.shape[1]):
        weight_t += (
            draws.partner_realisation[:, p, None, None]
            * alloc[None, :, p, None]
            * stay[None, None, p, :]
        )
    gross = np.einsum("asn,asn->an", stream_savings, weight_t)
    return gross


@dataclass(frozen=True)
class _PartnerSplit:
    """The per-partner arrays, (paths, partners, T+1); None when not asked for."""

    capex: FloatArray | None
    running: FloatArray | None
    gross: FloatArray | None

    @classmethod
    def of(
        cls,
        scenario: Scenario,
        timeline: Timeline,
        draws: Draws,
        stream_savings: FloatArray,
        capex: FloatArray,
        running: FloatArray,
        partners: bool,
    ) -> _PartnerSplit:
        if not partners:
            return cls(None, None, None)
        alloc = allocation_matrix(scenario)
        stay = partner_presence(scenario, timeline)
        gross = (
            np.einsum("asn,sp->apn", stream_savings, alloc)
            * (draws.partner_realisation[:, :, None])
            * stay[None, :, :]
        )
        cost_share = np.asarray(scenario.shares("cost_share"))
        return cls(
            capex=capex[:, None, :] * cost_share[None, :, None],
            running=running[:, None, :] * cost_share[None, :, None],
            gross=gross,
        )


def _discount_factors(
    scenario: Scenario, timeline: Timeline, price_index: FloatArray
) -> FloatArray:
    """(paths, T+1) discount factors on the appraisal basis (a read-only broadcast when
    they are the same on every path)."""
    economics = scenario.economics
    paths, n = price_index.shape[0], timeline.n_periods
    if economics.appraisal_basis == "real" or economics.discount_basis == "green_book":
        df = np.broadcast_to(real_discount_factors(timeline.years, economics), (paths, n + 1))
        if economics.appraisal_basis == "nominal":
            df = df / (price_index / price_index[:, :1])
        return df
    rate = economics.discount_rate if economics.discount_rate is not None else 0.0
    return np.broadcast_to(np.power(1.0 + rate, -timeline.years), (paths, n + 1))
