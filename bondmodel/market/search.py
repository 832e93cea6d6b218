"""Finding the best groups: every group when there are few enough, else a local search.

**Exhaustive.** Every group of 2 to ``K`` councils (holding ``--council`` when given)
is valued, in blocks of one size.

**Heuristic** (a register too large to enumerate): best-improvement local search
from many starts. Every pair is valued; from each of the best pairs the search moves,
while any move improves the group's value, to the best of its neighbours: the group with
one council added (while smaller than ``K``), one removed (while larger than 2) or one
swapped for a council outside it. The first moves grow the pair greedily; the later
ones improve it locally. Every group valued on the way is kept, and the ranked list is
the best of them. Its optimality gap against the exhaustive search is measured on small
random registers (``tests/test_market.py``; ``docs/methodology.md`` section 25.4).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from bondmodel.errors import ScenarioError
from bondmodel.market.value import Market
from bondmodel.types import IntArray

#: Auto mode searches exhaustively up to this many candidate groups.
EXHAUSTIVE_LIMIT: Final[int] = 250_000
#: Groups valued per block.
BLOCK: Final[int] = 50_000
#: Largest group searched.
MAX_PARTNERS: Final[int] = 30


def check_max_partners(max_partners: int) -> None:
    """Refuse a group size outside 2 to :data:`MAX_PARTNERS`, naming the flag."""
    if not 2 <= max_partners <= MAX_PARTNERS:
        raise ScenarioError(f"--max-partners: {max_partners}; allowed: 2 to {MAX_PARTNERS}")


Method = Literal["auto", "exhaustive", "heuristic"]


@dataclass(frozen=True)
class Ranked:
    """The best groups found, best first, and how they were found."""

    groups: tuple[tuple[int, ...], ...]
    values: tuple[float, ...]
    method: str
    valued: int
    positive: int
    candidates: int
    starts: int | None = None


def candidate_count(n: int, k_max: int, required: int | None) -> int:
    """How many groups of 2..``k_max`` councils of ``n`` (holding one, if ``required``)."""
    if required is None:
        return sum(math.comb(n, k) for k in range(2, k_max + 1))
    return sum(math.comb(n - 1, k - 1) for k in range(2, k_max + 1))


def rank_groups(
    market: Market,
    max_partners: int,
    required: int | None = None,
    keep: int = 10,
    method: Method = "auto",
    starts: int | None = None,
) -> Ranked:
    """The ``keep`` best groups of 2 to ``max_partners`` councils, by value."""
    n = market.size
    check_max_partners(max_partners)
    if n < 2:
        raise ScenarioError(f"{market.register.path}: has {n} council; a group needs two")
    k_max = min(max_partners, n)
    count = candidate_count(n, k_max, required)
    if method == "auto":
        method = "exhaustive" if count <= EXHAUSTIVE_LIMIT else "heuristic"
    if method == "exhaustive":
        if count > 50 * EXHAUSTIVE_LIMIT:
            raise ScenarioError(
                f"--search exhaustive: {count:,} groups of up to {k_max} councils; at most "
                f"{50 * EXHAUSTIVE_LIMIT:,} are enumerated (use --search heuristic)"
            )
        seen, positive = _exhaustive(market, k_max, required, keep)
        valued = count
    else:
        starts = starts or max(3 * keep, 30)
        seen = _local_search(market, k_max, required, starts)
        valued = len(seen)
        positive = sum(1 for v in seen.values() if math.isfinite(v) and v > 0)
    best = sorted(
        ((v, g) for g, v in seen.items() if math.isfinite(v) and v > 0),
        key=lambda item: (-item[0], item[1]),
    )[:keep]
    return Ranked(
        tuple(g for _, g in best),
        tuple(v for v, _ in best),
        method,
        valued,
        positive,
        count,
        None if method == "exhaustive" else starts,
    )


def _blocks(n: int, k: int, required: int | None) -> Iterator[IntArray]:
    """Every group of ``k`` of ``n`` councils (holding ``required``), :data:`BLOCK` at a time,
    so that memory does not grow with the number of groups."""
    if required is None:
        rows: Iterator[tuple[int, ...]] = itertools.combinations(range(n), k)
    else:
        others = [i for i in range(n) if i != required]
        rows = (tuple(sorted((required, *c))) for c in itertools.combinations(others, k - 1))
    while True:
        flat = itertools.chain.from_iterable(itertools.islice(rows, BLOCK))
        block = np.fromiter(flat, dtype=np.int64).reshape(-1, k)
        if not len(block):
            return
        yield block


def _exhaustive(
    market: Market, k_max: int, required: int | None, keep: int
) -> tuple[dict[tuple[int, ...], float], int]:
    """The ``keep`` best groups of every size (at least), and how many have a positive value;
    only the best of each block are kept, so memory does not grow with the register."""
    best: dict[tuple[int, ...], float] = {}
    positive = 0
    for k in range(2, k_max + 1):
        for block in _blocks(market.size, k, required):
            values = market.value(block)
            good = np.flatnonzero(values > 0)
            positive += int(good.size)
            if good.size > keep:
                good = good[np.argpartition(-values[good], keep - 1)[:keep]]
            best.update((tuple(int(i) for i in block[j]), float(values[j])) for j in good)
            if len(best) > 4 * keep:
                best = dict(sorted(best.items(), key=lambda item: (-item[1], item[0]))[:keep])
    return best, positive


def _value_all(
    market: Market, groups: list[tuple[int, ...]], seen: dict[tuple[int, ...], float]
) -> None:
    """Value the groups not valued yet, one block per size."""
    new = sorted({g for g in groups if g not in seen}, key=len)
    for k, same_size in itertools.groupby(new, key=len):
        rows = list(same_size)
        for start in range(0, len(rows), BLOCK):
            part = rows[start : start + BLOCK]
            values = market.value(np.asarray(part, dtype=np.int64).reshape(-1, k))
            seen.update(zip(part, (float(v) for v in values), strict=True))


def _local_search(
    market: Market, k_max: int, required: int | None, starts: int
) -> dict[tuple[int, ...], float]:
    n = market.size
    seen: dict[tuple[int, ...], float] = {}
    pairs: list[tuple[int, ...]] = [
        g for g in itertools.combinations(range(n), 2) if required in (None, *g)
    ]
    _value_all(market, pairs, seen)
    # start from the best pairs (each feasible pair at most once)
    ordered = sorted(pairs, key=lambda g: -seen[g])
    for start in ordered[:starts]:
        if not math.isfinite(seen[start]):
            break
        group = start
        while True:
            moves = _moves(group, n, k_max, required)
            _value_all(market, moves, seen)
            best = max(moves, key=lambda g: (seen[g], tuple(-i for i in g)), default=group)
            if seen[best] <= seen[group] + 1e-9 * max(1.0, abs(seen[group])):
                break
            group = best
    return seen


def _moves(
    group: tuple[int, ...], n: int, k_max: int, required: int | None
) -> list[tuple[int, ...]]:
    """The groups one add, drop or swap away from ``group``."""
    inside = set(group)
    outside = [c for c in range(n) if c not in inside]
    removable = [j for j in group if j != required]
    moves: list[tuple[int, ...]] = []
    if len(group) < k_max:
        moves += [tuple(sorted((*group, c))) for c in outside]
    if len(group) > 2:
        moves += [tuple(i for i in group if i != j) for j in removable]
    for j in removable:
        rest = [i for i in group if i != j]
        moves += [tuple(sorted((*rest, c))) for c in outside]
    return moves
