"""Fair shares of a group's value: pro rata, equal, the Shapley value, and the core.

A cooperative game on players :math:`0..n-1` is given by its characteristic function
:math:`v`, an array indexed by coalition bitmask (bit :math:`i` set when player
:math:`i` is in): ``v[0] = 0``. For a partnership, :math:`v(S)` is the value of the
councils of :math:`S` sharing among themselves, or 0 if that does not pay
(:func:`partnership_game`). The equations are in ``docs/methodology.md`` section 25.5.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np

from bondmodel.errors import ScenarioError
from bondmodel.market.value import GroupValues, Market
from bondmodel.types import FloatArray, IntArray

#: Shapley values are exact (every coalition) up to this many partners, sampled above.
EXACT_LIMIT: Final[int] = 12
#: Permutations sampled for a larger group.
SAMPLES: Final[int] = 2_000
#: The allocation rules, with their words.
RULES: Final[dict[str, str]] = {
    "spend": "pro rata to spend on the shared lines",
    "use": "pro rata to use (each member's share of each shared service's volume)",
    "equal": "equal shares",
    "shapley": "Shapley value",
}
#: Tolerance of the core checks, relative to the grand coalition's value.
CORE_TOLERANCE: Final[float] = 1e-9


def popcounts(n: int) -> IntArray:
    """The number of players in each coalition mask 0..2^n - 1."""
    masks = np.arange(1 << n, dtype=np.int64)
    return np.asarray(sum((masks >> i) & 1 for i in range(n)), dtype=np.int64)


def shapley_exact(v: FloatArray, n: int) -> FloatArray:
    """The Shapley value of the game ``v`` (an array over the 2^n coalition masks).

    Notes
    -----
    :math:`\\phi_i = \\sum_{S \\not\\ni i} w_{|S|}\\,(v(S \\cup \\{i\\}) - v(S))` with
    :math:`w_s = s!\\,(n-s-1)!/n!`.

    References
    ----------
    Shapley, L. S. (1953), "A value for n-person games", in *Contributions to the Theory of
    Games II*, Annals of Mathematics Studies 28, 307-317.
    """
    sizes = popcounts(n)
    weight = np.asarray(
        [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)]
    )
    masks = np.arange(1 << n, dtype=np.int64)
    phi = np.zeros(n)
    for i in range(n):
        without = masks[(masks >> i) & 1 == 0]
        phi[i] = float(np.sum(weight[sizes[without]] * (v[without | (1 << i)] - v[without])))
    return phi


def shapley_sampled(
    value: Callable[[IntArray], FloatArray], n: int, samples: int, seed: int
) -> tuple[FloatArray, FloatArray]:
    """The Shapley value estimated from ``samples`` random orders of the players, with
    the standard error of each estimate.

    ``value`` maps a block of coalitions (rows of player indices, all of one size) to
    their values. Each order adds the players one at a time; a player's marginal
    contribution where it joins is one draw of its Shapley value (Castro, Gomez and
    Tejada 2009). The orders come from ``SeedSequence(seed)``, so a seed repeats them.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    orders = rng.permuted(np.tile(np.arange(n), (samples, 1)), axis=1)
    draws = np.zeros((samples, n))
    previous = np.zeros(samples)
    rows = np.arange(samples)
    for k in range(1, n + 1):
        current = np.sort(orders[:, :k], axis=1)
        now = value(current)
        draws[rows, orders[:, k - 1]] = now - previous
        previous = now
    return draws.mean(axis=0), draws.std(axis=0, ddof=1) / math.sqrt(samples)


@dataclass(frozen=True)
class CoreCheck:
    """Whether the game's core is empty, by the least-core linear programme.

    Attributes
    ----------
    epsilon
        The least :math:`\\varepsilon` such that some allocation of :math:`v(N)` gives every
        coalition at least :math:`v(S) - \\varepsilon`; the core is empty when it is above 0.
    allocation
        An allocation achieving it (in the core when the core is not empty).
    """

    epsilon: float
    allocation: FloatArray
    tolerance: float

    @property
    def empty(self) -> bool:
        return self.epsilon > self.tolerance


def least_core(v: FloatArray, n: int) -> CoreCheck:
    """Solve :math:`\\min \\varepsilon` subject to :math:`x(S) \\ge v(S) - \\varepsilon` for
    every proper coalition and :math:`x(N) = v(N)` (``scipy.optimize.linprog``, HiGHS).

    References
    ----------
    Maschler, M., Peleg, B. and Shapley, L. S. (1979), "Geometric properties of the kernel,
    nucleolus and related solution concepts", *Mathematics of Operations Research* 4(4),
    303-338: the least core.
    """
    from scipy.optimize import linprog

    full = (1 << n) - 1
    masks = np.arange(1, full, dtype=np.int64)
    members = ((masks[:, None] >> np.arange(n)) & 1).astype(np.float64)
    # -x(S) - e <= -v(S)
    a_ub = np.hstack([-members, -np.ones((len(masks), 1))])
    b_ub = -v[masks]
    a_eq = np.hstack([np.ones((1, n)), np.zeros((1, 1))])
    result = linprog(
        c=np.r_[np.zeros(n), 1.0],
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=[v[full]],
        bounds=[(None, None)] * (n + 1),
        method="highs",
    )
    if result.status != 0:  # pragma: no cover (the problem is always feasible and bounded)
        raise ScenarioError(f"core check: the linear programme failed: {result.message}")
    tolerance = CORE_TOLERANCE * max(1.0, float(np.max(np.abs(v))))
    return CoreCheck(float(result.x[n]), np.asarray(result.x[:n]), tolerance)


def worst_coalition(x: FloatArray, v: FloatArray, n: int) -> tuple[int, float]:
    """The coalition that the allocation ``x`` leaves furthest below what it could make
    alone, and by how much (:math:`\\max_S v(S) - x(S)` over the proper coalitions, 0 or
    less when ``x``, which splits :math:`v(N)`, is in the core)."""
    masks = np.arange(1, (1 << n) - 1, dtype=np.int64)
    members = ((masks[:, None] >> np.arange(n)) & 1).astype(np.float64)
    excess = v[masks] - members @ x
    j = int(np.argmax(excess))
    return int(masks[j]), float(excess[j])


def partnership_game(market: Market, group: tuple[int, ...]) -> FloatArray:
    """:math:`v(S)` for every coalition of ``group``'s members: the value of sharing among
    themselves, or 0 when that does not pay (a lone council shares nothing)."""
    n = len(group)
    members = np.asarray(group, dtype=np.int64)
    sizes = popcounts(n)
    v = np.zeros(1 << n)
    masks = np.arange(1 << n, dtype=np.int64)
    for k in range(2, n + 1):
        chosen = masks[sizes == k]
        index = ((chosen[:, None] >> np.arange(n)) & 1).astype(bool)
        rows = np.asarray([members[row] for row in index], dtype=np.int64).reshape(-1, k)
        v[chosen] = _worth(market.value(rows))
    return v


def _worth(values: FloatArray) -> FloatArray:
    return np.asarray(np.where(np.isfinite(values), np.maximum(values, 0.0), 0.0))


@dataclass(frozen=True)
class FairShares:
    """A group's value split by each rule, with the core checks.

    Attributes
    ----------
    payoffs
        Each rule's payoff to each member, in pounds of present value.
    shapley_error
        Standard errors of a sampled Shapley value (None when exact).
    core
        The least-core check (None above :data:`EXACT_LIMIT` members).
    worst
        Per rule: the coalition (as member positions) worst served, and its shortfall.
    """

    members: tuple[int, ...]
    total: float
    payoffs: dict[str, FloatArray]
    shapley_error: FloatArray | None
    core: CoreCheck | None
    worst: dict[str, tuple[tuple[int, ...], float]]

    def shares(self, rule: str) -> FloatArray:
        """Each member's fraction of the total under ``rule``."""
        return np.asarray(self.payoffs[rule] / self.total)


def fair_shares(market: Market, values: GroupValues, row: int, seed: int = 0) -> FairShares:
    """Split group ``row`` of ``values`` by every rule of :data:`RULES`."""
    group = tuple(int(i) for i in values.groups[row])
    n = len(group)
    total = float(values.value[row])
    shared = values.shared[row]
    part = values.participants[row] & shared
    x = market.spend[np.asarray(group)]
    spend = np.where(part, x, 0.0).sum(axis=1)
    volume = np.where(part, x, 0.0) ** market.p
    volume_share = volume / np.where(volume.sum(axis=0) > 0, volume.sum(axis=0), 1.0)
    use = (volume_share * np.where(shared, values.gross[row], 0.0)).sum(axis=1)
    payoffs = {
        "spend": total * spend / spend.sum(),
        "use": total * use / use.sum(),
        "equal": np.full(n, total / n),
    }
    error = None
    core = None
    worst: dict[str, tuple[tuple[int, ...], float]] = {}
    if n <= EXACT_LIMIT:
        v = partnership_game(market, group)
        payoffs["shapley"] = shapley_exact(v, n)
        core = least_core(v, n)
        for rule, payoff in payoffs.items():
            mask, excess = worst_coalition(payoff, v, n)
            worst[rule] = (tuple(i for i in range(n) if mask >> i & 1), excess)
    else:
        members = np.asarray(group, dtype=np.int64)

        def value(rows: IntArray) -> FloatArray:
            if rows.shape[1] < 2:
                return np.zeros(len(rows))
            return _worth(market.value(members[rows]))

        payoffs["shapley"], error = shapley_sampled(value, n, SAMPLES, seed)
    return FairShares(group, total, payoffs, error, core, worst)
