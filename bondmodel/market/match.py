"""``bondmodel match``: rank the partnerships of a register and split each one's value.

:func:`match` is the API behind the command: read and value, search, then for each of
the best groups its lines, payback and fair shares. :mod:`.report` renders the result
as a table or JSON; :mod:`.write` turns a group into a scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bondmodel.errors import ScenarioError
from bondmodel.market.economics import Economics, default_economics
from bondmodel.market.register import Register, read_register
from bondmodel.market.search import Method, Ranked, rank_groups
from bondmodel.market.shares import EXACT_LIMIT, FairShares, fair_shares
from bondmodel.market.value import GroupValues, Market


@dataclass(frozen=True)
class Group:
    """One ranked group: its values (a block of one row), payback and fair shares."""

    rank: int
    members: tuple[int, ...]
    values: GroupValues
    payback: float | None
    shares: FairShares

    @property
    def value(self) -> float:
        return float(self.values.value[0])

    @property
    def setup(self) -> float:
        return float(np.where(self.values.shared[0], self.values.setup[0], 0.0).sum())

    @property
    def annual_saving(self) -> float:
        return float(np.where(self.values.shared[0], self.values.gross[0], 0.0).sum())

    @property
    def penalty(self) -> float:
        return float(self.values.penalty[0])


@dataclass(frozen=True)
class MatchResult:
    """What ``match`` found: the market searched, how, and the best groups."""

    market: Market
    ranked: Ranked
    groups: tuple[Group, ...]
    required: int | None
    max_partners: int
    seed: int | None

    @property
    def register(self) -> Register:
        return self.market.register


def chosen_group(market: Market, names: list[str]) -> Ranked:
    """The one group named by ``--group``, valued; refused when sharing would not pay."""
    reg = market.register
    members = tuple(sorted({reg.index(name, "--group") for name in names}))
    if len(members) < 2:
        raise ScenarioError(f"--group: {','.join(names)!r} names one council; a group needs two")
    value = float(market.value(np.asarray([members], dtype=np.int64))[0])
    if not value > 0:
        shown = ", ".join(reg.names[i] for i in members)
        reason = (
            f"two of them are more than {market.economics.appraisal.max_distance_km:g} km apart"
            if value == -np.inf
            else f"its NPV is {value:,.0f}: no line they could share repays its set-up and "
            "the distance cost"
        )
        raise ScenarioError(f"--group: sharing does not pay for {shown}: {reason}")
    return Ranked((members,), (value,), "given", 1, 1, 1)


def needs_seed(max_partners: int) -> bool:
    """Whether a group may be too large for the exact Shapley value (so one is sampled)."""
    return max_partners > EXACT_LIMIT


def match(
    register: Register | Path,
    *,
    council: str | None = None,
    services: list[str] | None = None,
    max_partners: int = 4,
    top: int = 10,
    method: Method = "auto",
    economics: Economics | None = None,
    seed: int | None = None,
    group: list[str] | None = None,
) -> MatchResult:
    """Rank the groups of ``register`` and split the best ``top`` by every rule.

    Parameters
    ----------
    register
        A :class:`Register` or the path of its CSV file.
    council
        Only groups that hold this council (name or identifier).
    services
        Service lines to share (default: every line the register has).
    max_partners
        Largest group (2 or more).
    top
        How many groups to report.
    method
        ``auto`` (exhaustive when there are at most
        :data:`~.search.EXHAUSTIVE_LIMIT` candidate groups), ``exhaustive`` or ``heuristic``.
    economics
        Scale economics (default: :func:`default_economics`).
    seed
        Seed of the sampled Shapley values of groups over 12 councils.
    group
        A chosen group (names or identifiers) to value and split instead of searching.
    """
    if not isinstance(register, Register):
        register = read_register(register)
    market = Market(register, economics or default_economics(), services)
    required = None if council is None else register.index(council)
    if group is not None:
        ranked = chosen_group(market, group)
        max_partners = len(ranked.groups[0])
    else:
        ranked = rank_groups(market, max_partners, required, keep=top, method=method)
    groups = []
    for rank, members in enumerate(ranked.groups, start=1):
        values = market.evaluate(np.asarray([members], dtype=np.int64))
        groups.append(
            Group(
                rank,
                members,
                values,
                market.payback_years(values, 0),
                fair_shares(market, values, 0, seed or 0),
            )
        )
    return MatchResult(market, ranked, tuple(groups), required, max_partners, seed)
