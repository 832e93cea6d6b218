"""A portfolio compiled once: each member's Model, the pool's grid and the common factors.

:meth:`PoolModel.member_block` draws one member's block of paths exactly as a
stand-alone run of its scenario would with the member's own seed
(:func:`member_seed`), except that the inputs a common factor drives take the
one-factor Gaussian copula of docs/methodology.md ("Pooled bonds: common factors").
With every loading 0 the member's paths are the stand-alone run's, bit for bit.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy import special

from bondmodel.bond.schedule import BondGrid, remaining_fraction
from bondmodel.conventions import FREQUENCIES
from bondmodel.errors import ScenarioError
from bondmodel.model import Model
from bondmodel.pool.loader import Portfolio
from bondmodel.pool.schema import FACTOR_TARGETS, FACTORS
from bondmodel.risk.correlation import matrix_sqrt
from bondmodel.risk.sampling import MAX_SEED, Sampler
from bondmodel.scenario.bond import BondTerms
from bondmodel.scenario.fieldtypes import MAX_MONEY
from bondmodel.types import FloatArray

#: spawn_key streams of the pool's own seed: members' seeds, the common factors' normals
#: and their yearly shocks.
MEMBER_SEEDS: Final = 10
COMMON_FACTORS: Final = 11
COMMON_SHOCKS: Final = 12
#: The factors whose inputs may follow a mean-reverting yearly path (risk-model targets
#: economics.inflation and bond.reference_rate), and so share yearly shocks.
PATH_FACTORS: Final = ("inflation", "rates")


def member_seed(seed: int, key: str) -> int:
    """The seed of a member's own streams: from the pool's seed and the member's key only.

    ``SeedSequence(seed, spawn_key=(10, w0, w1, w2, w3))``, where w are the first four
    32-bit words of SHA-256(key), gives 64 bits, shifted to 63 (the seeds bondmodel accepts).
    ``bondmodel run MEMBER.toml --seed member_seed(S, key)`` draws the member's paths.
    """
    words = np.frombuffer(hashlib.sha256(key.encode("utf-8")).digest()[:16], dtype="<u4")
    sequence = np.random.SeedSequence(seed, spawn_key=(MEMBER_SEEDS, *map(int, words)))
    return int(sequence.generate_state(1, dtype=np.uint64)[0]) >> 1 & MAX_SEED


def common_normals(seed: int, block: int, n: int, root: FloatArray) -> FloatArray:
    """The common factors' standard normals for one block, (n, 3), correlated by ``root``
    (a square root of their correlation matrix): keyed by (seed, block) only."""
    sequence = np.random.SeedSequence(seed, spawn_key=(block, COMMON_FACTORS))
    eps = np.random.Generator(np.random.PCG64(sequence)).standard_normal((n, len(FACTORS)))
    result: FloatArray = eps @ root.T
    return result


def common_shocks(seed: int, block: int, n: int, years: int, root: FloatArray) -> FloatArray:
    """The common factors' yearly shocks for one block, (n, years, 3): standard normals
    correlated across the factors by ``root``, independent from year to year; keyed by
    (seed, block) only, apart from the levels' :func:`common_normals`."""
    sequence = np.random.SeedSequence(seed, spawn_key=(block, COMMON_SHOCKS))
    eps = np.random.Generator(np.random.PCG64(sequence)).standard_normal((n, years, len(FACTORS)))
    result: FloatArray = eps @ root.T
    return result


@dataclass(frozen=True)
class MemberBlock:
    """One member's block: what it pays the pool and writes off, on the pool's grid.

    Attributes
    ----------
    paid : (n, NL+1) the member's payments to the pool (its investors' receipts) per pool
        payment; column 0 is zero.
    write_off : (n, NL+1) what the member's loan writes off per pool payment.
    loss : (n,) the member's total write-off (its stand-alone ``investor_loss``).
    """

    paid: FloatArray
    write_off: FloatArray
    loss: FloatArray


#: The smallest member loan and tranche, pounds: a pound, below which shares and losses
#: of the pool's principal are rounding.
MIN_AMOUNT: Final = 1.0


class PoolModel:
    """A portfolio compiled once per process: member models, loans, grid, factors.

    Attributes
    ----------
    portfolio : the validated portfolio.
    models : each member's compiled :class:`~bondmodel.model.Model`.
    loans : each member's loan (its bond's principal), pounds.
    principal : the pool's principal, the sum of the loans.
    g : pool payments a year; ``n_legal`` the legal maturity in payments.
    remaining : (NL+1,) the pool's scheduled outstanding principal as a fraction.
    loadings : per member, per risk input, the loading of the factor driving it (or 0) and
        the factor's index.
    """

    def __init__(self, portfolio: Portfolio) -> None:
        self.portfolio = portfolio
        spec = portfolio.spec
        bond = spec.bond
        self.g = FREQUENCIES[bond.payment_frequency]
        # every message names the portfolio file, as the loader's do
        source = portfolio.source
        # the tenor first: the legal maturity defaults to it, and the message names the
        # field the file gives
        n_scheduled = _whole_periods(f"{source}: bond.tenor_years", bond.tenor_years, self.g)
        self.n_legal = _whole_periods(
            f"{source}: bond.legal_maturity_years", bond.legal_years, self.g
        )
        n_grace = _whole_periods(f"{source}: bond.grace_years", bond.grace_years, self.g)
        schedule = bond.repayment.schedule
        if schedule is not None and len(schedule) != n_scheduled - n_grace:
            raise ScenarioError(
                f"{source}: bond.repayment.schedule: has {len(schedule)} entries; allowed: "
                f"{n_scheduled - n_grace}, one per amortisation period of the pool's bond "
                "(tenor minus grace, in payment periods)"
            )
        self.models = tuple(Model(s) for s in portfolio.scenarios)
        self.loans = np.array([_principal(m) for m in self.models])
        self.principal = float(self.loans.sum())
        if self.principal > MAX_MONEY:
            raise ScenarioError(
                f"{source}: members: the members' loans add up to £{self.principal:,.2f}; "
                f"allowed: a pool's principal of at most £{MAX_MONEY:,.0f}, the most any "
                "amount of money may be"
            )
        for i, model in enumerate(self.models):
            self._check_member(i, model)
        self._check_sizes()
        grid = BondGrid(
            self.g, 1, 0, n_scheduled, self.n_legal, n_grace, np.arange(self.n_legal + 1)
        )
        terms = BondTerms(
            principal=self.principal,
            tenor_years=bond.tenor_years,
            legal_maturity_years=bond.legal_maturity_years,
            payment_frequency=bond.payment_frequency,
            coupon=bond.coupon,
            repayment=bond.repayment,
            grace_years=bond.grace_years,
        )
        nl1 = self.n_legal + 1
        self.remaining: FloatArray = remaining_fraction(
            terms, grid, np.full(nl1, bond.coupon.rate), np.ones(nl1), np.zeros(nl1), 0.0
        )
        factors = spec.factors
        corr = (
            np.eye(len(FACTORS))
            if factors.correlation is None
            else np.asarray(factors.correlation, dtype=np.float64)
        )
        self.factor_root: FloatArray = matrix_sqrt(corr)
        self.loadings = tuple(self._member_loadings(m) for m in self.models)
        #: the years of yearly shocks a block needs (the longest member's horizon), or 0
        #: when no member's input on a loaded inflation or rates factor follows a path
        self.shock_years = max(
            (
                m.scenario.timeline.horizon_years
                for m in self.models
                for r in m.risk.inputs
                if r.spec.path is not None and self._loading_of(r.spec.target)[0] > 0.0
            ),
            default=0,
        )
        self.seeds_cache: dict[int, tuple[int, ...]] = {}

    @property
    def n_members(self) -> int:
        """How many members the pool has."""
        return len(self.models)

    def member_seeds(self, seed: int) -> tuple[int, ...]:
        """Each member's seed (:func:`member_seed`) for the pool's ``seed``."""
        if seed not in self.seeds_cache:
            keys = [m.stream_key for m in self.portfolio.members]
            self.seeds_cache[seed] = tuple(member_seed(seed, k) for k in keys)
        return self.seeds_cache[seed]

    def member_block(
        self,
        i: int,
        seed: int,
        block: int,
        paths: int,
        common: FloatArray,
        shocks: FloatArray | None = None,
        sampler: Sampler = "random",
    ) -> MemberBlock:
        """Member ``i``'s block ``block`` of a run of ``paths`` paths, given the block's
        common normals ``common`` (n, 3) and, when :attr:`shock_years` > 0, its common
        yearly shocks ``shocks`` (n, shock_years, 3)."""
        model = self.models[i]
        mseed = self.member_seeds(seed)[i]
        u = model.risk.correlated_uniforms(mseed, sampler, block, paths)
        for j, (rho, f) in enumerate(self.loadings[i]):
            if rho > 0.0:
                # one-factor Gaussian copula: Phi(sqrt(rho) Z_common + sqrt(1 - rho) Z_own)
                own = special.ndtri(u[:, j])
                mixed = math.sqrt(rho) * common[:, f] + math.sqrt(1.0 - rho) * own
                u[:, j] = np.clip(special.ndtr(mixed), 2.0**-53, 1.0 - 2.0**-53)
        values = model.risk.values(u)
        shared: dict[str, tuple[float, FloatArray]] = {}
        if shocks is not None:
            years = model.scenario.timeline.horizon_years
            for r in model.risk.inputs:
                rho, f = self._loading_of(r.spec.target)
                if r.spec.path is not None and rho > 0.0:
                    shared[r.spec.target] = (rho, shocks[:, :years, f])
        draws, rates = model.risk.draws(values, mseed, block, common=shared or None)
        bond = model.evaluate(draws, rates).bond
        assert bond is not None  # every member has a bond (checked by the loader)
        n = u.shape[0]
        width = bond.investor_flow.shape[1]
        paid = np.zeros((n, self.n_legal + 1))
        write_off = np.zeros((n, self.n_legal + 1))
        paid[:, 1:width] = bond.investor_flow[:, 1:]
        write_off[:, 1:width] = bond.write_off[:, 1:]
        return MemberBlock(paid, write_off, bond.write_off.sum(axis=1))

    def _check_member(self, i: int, model: Model) -> None:
        member = self.portfolio.members[i]
        where = f"{self.portfolio.source}: members[{i}] ('{member.name}')"
        bond = model.scenario.bond
        assert bond is not None and model.grid is not None
        if self.loans[i] < MIN_AMOUNT:
            field = "loan" if member.loan is not None else "scenario"
            raise ScenarioError(
                f"{where}.{field}: the member's loan is {_pounds(self.loans[i])}; allowed: at "
                f"least £{MIN_AMOUNT:,.0f} (a member borrows from the pool; a scenario whose "
                "bond is sized to nothing has no loan to pool)"
            )
        if FREQUENCIES[bond.payment_frequency] != self.g:
            raise ScenarioError(
                f"{where}: its loan pays {bond.payment_frequency!r}; allowed: the pool's "
                f"bond.payment_frequency, {self.portfolio.spec.bond.payment_frequency!r}"
            )
        if model.grid.n_legal > self.n_legal:
            raise ScenarioError(
                f"{where}: its loan's legal maturity, {bond.legal_years:g} years, is after the "
                f"pool's, {self.portfolio.spec.bond.legal_years:g} years; allowed: at most the "
                "pool's (lengthen bond.legal_maturity_years or shorten the member's loan)"
            )

    def _check_sizes(self) -> None:
        """Every tranche is at least :data:`MIN_AMOUNT`, and a reserve given in pounds is
        at most the pool's principal (a share is at most 1 by its type)."""
        spec, source = self.portfolio.spec, self.portfolio.source
        for k, tranche in enumerate(spec.tranches):
            size = tranche.share * self.principal
            if size < MIN_AMOUNT:
                raise ScenarioError(
                    f"{source}: tranches[{k}] ('{tranche.name}').share: {tranche.share:g} of "
                    f"the pool's principal, £{self.principal:,.2f}, is {_pounds(size)}; allowed: "
                    f"a tranche of at least £{MIN_AMOUNT:,.0f}"
                )
        reserve = spec.reserve
        if reserve is not None and reserve.amount is not None and reserve.amount > self.principal:
            raise ScenarioError(
                f"{source}: reserve.amount: £{reserve.amount:,.2f} is more than the pool's "
                f"principal, £{self.principal:,.2f} (the members' loans added); allowed: at "
                "most the principal (or give reserve.share, a share of it)"
            )

    def _member_loadings(self, model: Model) -> tuple[tuple[float, int], ...]:
        return tuple(self._loading_of(r.spec.target) for r in model.risk.inputs)

    def _loading_of(self, target: str) -> tuple[float, int]:
        """The loading of the factor driving ``target`` and the factor's index; (0, 0) for
        a target no factor drives."""
        factors = self.portfolio.spec.factors
        for f, name in enumerate(FACTORS):
            if target in FACTOR_TARGETS[name]:
                return factors.loading(name), f
        return 0.0, 0


def _pounds(amount: float) -> str:
    """An amount in pounds and pence, or as given when it rounds to nothing."""
    return f"£{amount:,.2f}" if amount == 0.0 or abs(amount) >= 0.005 else f"£{amount:g}"


def _principal(model: Model) -> float:
    assert model.schedule is not None
    return float(model.schedule.principal)


def _whole_periods(field: str, years: float, g: int) -> int:
    periods = years * g
    if abs(periods - round(periods)) > 1e-9:
        raise ScenarioError(
            f"{field}: {years} years is not a whole number of payment periods; allowed: "
            f"multiples of {1 / g:g} years"
        )
    return round(periods)
