"""The portfolio file: a pool of councils behind one bond, as frozen pydantic models.

A portfolio names its members (each a council's programme: a scenario file or an
inline scenario table, its loan from the pool and its share of a joint
guarantee), the pool's bond (coupon and repayment profile, reusing the scenario's
:class:`~bondmodel.scenario.bond.FixedCoupon` and
:class:`~bondmodel.scenario.bond.Repayment`), its tranches in order of priority, a
liquidity reserve, the guarantee, and the common risk factors the members share.
docs/methodology.md ("Pooled bonds") gives the equations, docs/user-guide.md an example.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bondmodel.scenario.bond import FixedCoupon, PaymentFrequency, Repayment
from bondmodel.scenario.fieldtypes import (
    Description,
    FilePath,
    Fraction,
    Money,
    Name,
    Principal,
    first_repeat,
    repeat_note,
)
from bondmodel.scenario.frozen import FrozenList, FrozenTuple
from bondmodel.scenario.located import located, located_all

#: The common factors, in the order of the factor correlation matrix, and the risk-input
#: targets each drives (docs/methodology.md, "Common factors").
FACTOR_TARGETS: dict[str, tuple[str, ...]] = {
    "inflation": ("economics.inflation",),
    "rates": ("bond.reference_rate",),
    "delivery": ("savings.realisation", "partners.realisation"),
}
FACTORS: tuple[str, ...] = tuple(FACTOR_TARGETS)

#: Most members a portfolio may hold (every council in England is about 320).
MAX_MEMBERS = 5_000


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Member(_Model):
    """One council (or partnership) borrowing from the pool.

    ``scenario`` is a scenario file (relative to the portfolio file) or ``inline`` a whole
    scenario table; the member's own bond section gives its loan's terms. ``loan`` (pounds)
    replaces that bond's principal; without it the loan is the principal the scenario sizes.
    ``key`` keys the member's random streams (default: its name), so its paths are the same
    in any pool. ``guarantee_share`` is its share of joint-and-several calls (default: pro
    rata to loans).
    """

    name: Name
    key: Name | None = None
    scenario: FilePath | None = None
    inline: dict[str, Any] | None = None
    loan: Principal | None = None
    guarantee_share: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _one_programme(self) -> Member:
        if (self.scenario is None) == (self.inline is None):
            raise located(
                "scenario",
                "give exactly one of scenario (a scenario file, relative to the portfolio "
                "file) or inline (a scenario table)",
            )
        return self

    @property
    def stream_key(self) -> str:
        """The key of the member's random streams."""
        return self.key if self.key is not None else self.name


class PoolRepayment(Repayment):
    """The pool bond's repayment profile: a scenario's :class:`Repayment` without
    ``sculpted`` (there is no one programme to sculpt to), so a wrong type is told the
    profiles a pool may take."""

    type: Literal["bullet", "eip", "annuity", "custom"] = "bullet"

    @model_validator(mode="after")
    def _fields_for_type(self) -> PoolRepayment:
        """Replaces the scenario's check of the same name (and calls it): a sculpted
        profile's target is refused as such, since no pool profile is sculpted."""
        if self.target_dscr is not None:
            raise located(
                "target_dscr",
                "is the target of a sculpted profile, which a pool's bond cannot have; remove it",
            )
        self.check_fields_for_type()
        return self


#: A fixed annual coupon of the pool's bond or a tranche: 0 to 100%. A negative fixed coupon
#: would have the investors pay the pool interest, and a tranche's "loss" (owed less
#: received) then comes out negative; a negative yield is a price above par, not a coupon.
CouponRate = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class PoolCoupon(FixedCoupon):
    """The pool bond's fixed coupon: as a scenario's (:class:`FixedCoupon`), from 0."""

    rate: CouponRate


class PoolBond(_Model):
    """The pool's bond: its payment grid, coupon and repayment profile.

    The principal is the sum of the members' loans. ``coupon`` is the coupon of a pool
    without tranches and of any tranche that gives none. A sculpted profile has no
    single programme to sculpt to and is refused.
    """

    tenor_years: Annotated[float, Field(gt=0.0, le=100.0, allow_inf_nan=False)]
    legal_maturity_years: Annotated[float, Field(gt=0.0, le=100.0, allow_inf_nan=False)] | None = (
        None
    )
    payment_frequency: PaymentFrequency = "annual"
    coupon: PoolCoupon
    repayment: PoolRepayment = Field(default_factory=PoolRepayment)
    grace_years: Annotated[float, Field(ge=0.0, le=50.0, allow_inf_nan=False)] = 0.0

    @field_validator("repayment", mode="before")
    @classmethod
    def _not_sculpted(cls, value: Any) -> Any:
        """A sculpted profile named for what it is, not as one more bad choice."""
        if isinstance(value, dict) and value.get("type") == "sculpted":
            raise located(
                "type",
                "'sculpted' is not available for a pool (there is no one programme to sculpt "
                "to); allowed: 'bullet', 'eip', 'annuity', 'custom'",
            )
        return value

    @model_validator(mode="after")
    def _profile(self) -> PoolBond:
        if self.legal_maturity_years is not None and self.legal_maturity_years < self.tenor_years:
            raise located(
                "legal_maturity_years",
                f"{self.legal_maturity_years:g} is before tenor_years = {self.tenor_years:g}; "
                "it must be >= the scheduled maturity",
            )
        if self.grace_years >= self.tenor_years:
            raise located(
                "grace_years",
                f"{self.grace_years:g} must be less than tenor_years = {self.tenor_years:g}",
            )
        return self

    @property
    def legal_years(self) -> float:
        """Years from close to the legal final maturity."""
        return self.tenor_years if self.legal_maturity_years is None else self.legal_maturity_years


class Tranche(_Model):
    """A tranche: its share of the pool's principal and its fixed annual coupon (default:
    the pool bond's). Tranches are listed from the most senior to the most junior."""

    name: Name
    share: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)]
    coupon_rate: CouponRate | None = None


class LiquidityReserve(_Model):
    """Cash held by the pool from close: ``amount`` pounds, or ``share`` of the principal.

    Drawn when the members' payments (and any guarantee) fall short of what the tranches are
    due; refilled to its size from later surplus; what is left is released at maturity.
    """

    amount: Money | None = None
    share: Fraction | None = None

    @model_validator(mode="after")
    def _one_size(self) -> LiquidityReserve:
        if (self.amount is None) == (self.share is None):
            raise located(
                "amount",
                "give exactly one of amount (pounds) or share (of the pool's principal)",
            )
        return self


class Guarantee(_Model):
    """Who stands behind the members' losses.

    ``none``; ``first_loss``: a guarantor pays the members' written-off amounts up to
    ``amount`` pounds in all; ``joint_and_several``: the members without a loss on a path
    pay the others' written-off amounts, each in proportion to its ``guarantee_share``
    (default pro rata to loans), and the calls stop when a member's contributions reach
    ``cap`` times its loan.
    """

    type: Literal["none", "first_loss", "joint_and_several"] = "none"
    amount: Money | None = None
    cap: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _fields_for_type(self) -> Guarantee:
        needs = {"first_loss": "amount", "joint_and_several": "cap"}
        problems = []
        for kind, name in needs.items():
            if self.type == kind and getattr(self, name) is None:
                example = "5_000_000" if name == "amount" else "0.1 (10% of each loan)"
                problems.append(located(name, f"is required with type = '{kind}' (e.g. {example})"))
            if self.type != kind and getattr(self, name) is not None:
                problems.append(located(name, f"is only allowed with type = '{kind}'"))
        if problems:  # each its own line: a type given with the other's field breaks both
            raise located_all(problems)
        return self


class Factors(_Model):
    """The common factors' loadings (each the correlation between any two members'
    normal scores of the inputs it drives) and, optionally, the factors' own correlation
    matrix, in the order inflation, rates, delivery."""

    inflation: Fraction = 0.0
    rates: Fraction = 0.0
    delivery: Fraction = 0.0
    correlation: (
        FrozenList[FrozenList[Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)]]] | None
    ) = None

    @model_validator(mode="after")
    def _matrix(self) -> Factors:
        c = self.correlation
        if c is None:
            return self
        k = len(FACTORS)
        if len(c) != k or any(len(row) != k for row in c):
            raise located("correlation", f"must be {k} x {k} (order: {', '.join(FACTORS)})")
        for i in range(k):
            if c[i][i] != 1.0:
                raise located("correlation", f"diagonal entry [{i}][{i}] is {c[i][i]}; must be 1")
            for j in range(i):
                if c[i][j] != c[j][i]:
                    raise located(
                        "correlation",
                        f"is not symmetric: [{i}][{j}] = {c[i][j]} but [{j}][{i}] = {c[j][i]}",
                    )
        import numpy as np

        if float(np.linalg.eigvalsh(np.asarray(c, dtype=np.float64)).min()) < -1e-10:
            raise located("correlation", "is not positive semi-definite; give a valid matrix")
        return self

    def loading(self, factor: str) -> float:
        """The loading of ``factor`` (one of :data:`FACTORS`)."""
        value: float = getattr(self, factor)
        return value


class PortfolioFile(_Model):
    """A portfolio file as written: members still as file names or tables."""

    name: Name
    description: Description = ""
    bond: PoolBond
    # FrozenTuple, not FrozenList: a FrozenList's own limit (2,000 items) would cut the
    # members short of MAX_MEMBERS
    members: FrozenTuple[Member] = Field(min_length=1, max_length=MAX_MEMBERS)
    tranches: FrozenList[Tranche] = Field(default=(), max_length=10)
    reserve: LiquidityReserve | None = None
    guarantee: Guarantee = Field(default_factory=Guarantee)
    factors: Factors = Field(default_factory=Factors)

    @model_validator(mode="after")
    def _across(self) -> PortfolioFile:
        for field, attr, values in (
            ("members", "name", [m.name for m in self.members]),
            ("tranches", "name", [t.name for t in self.tranches]),
        ):
            repeat = first_repeat(values)
            if repeat is not None:
                j, i = repeat
                raise located(
                    (field, i, attr),
                    f"{values[i]!r} appears twice{repeat_note(values[j], values[i])}; each "
                    "must be unique",
                )
        self._keys_unique()
        given = [m.guarantee_share is not None for m in self.members]
        if any(given) and not all(given):
            i = given.index(False)
            raise located(
                ("members", i, "guarantee_share"),
                "is missing while other members give one; give every member's share, or "
                "none (then the shares are pro rata to loans)",
            )
        if any(given) and self.guarantee.type != "joint_and_several":
            raise located(
                ("members", given.index(True), "guarantee_share"),
                "is only allowed with guarantee.type = 'joint_and_several'",
            )
        if self.tranches:
            total = math.fsum(t.share for t in self.tranches)
            if abs(total - 1.0) > 1e-9:
                raise located(
                    ("tranches", 0, "share"),
                    f"the tranches' shares sum to {total:.12g}; they must sum to 1",
                )
        return self

    def _keys_unique(self) -> None:
        """Each member's stream key (its key, or its name) is unique; the member blamed is
        one that gave the key, not one whose key is its name by default."""
        keys = [member.stream_key for member in self.members]
        repeat = first_repeat(keys)
        if repeat is None:
            return
        j, i = repeat
        blamed, other = (i, j) if self.members[i].key is not None else (j, i)
        whose = "key" if self.members[other].key is not None else "name (its key by default)"
        raise located(
            ("members", blamed, "key"),
            f"{keys[blamed]!r} appears twice: it is also members[{other}]'s {whose}"
            f"{repeat_note(keys[other], keys[blamed])}; each must be unique (a member's key "
            "defaults to its name)",
        )
