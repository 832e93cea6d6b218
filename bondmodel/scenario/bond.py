"""Bond terms and the PWLB benchmark, as frozen pydantic models.

Rates are annual decimal fractions. ``principal`` is nominal pounds at issue;
``annual_fees`` and ``performance.threshold`` are pounds at base-date prices,
indexed by the price index like every other real input.
docs/scenario-reference.md lists every field and docs/methodology.md the equations.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bondmodel.scenario.fieldtypes import Date, Fraction, Money, Principal, Rate
from bondmodel.scenario.frozen import FrozenList
from bondmodel.scenario.located import located

PaymentFrequency = Literal["annual", "semi-annual", "quarterly", "monthly"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class FixedCoupon(_Model):
    """A fixed annual coupon rate, paid ``payment_frequency`` times a year (rate / g each)."""

    type: Literal["fixed"]
    rate: Rate


class FloatingCoupon(_Model):
    """Reference rate plus margin, with an optional floor on the all-in rate.

    The reference is one flat rate, or a path of annual rates, one per bond year
    (the last value holds for later years).
    """

    type: Literal["floating"]
    reference_rate: Rate | None = None
    reference_path: FrozenList[Rate] | None = Field(default=None, min_length=1)
    margin: Rate = 0.0
    floor: Rate | None = None

    @model_validator(mode="after")
    def _one_reference(self) -> FloatingCoupon:
        if (self.reference_rate is None) == (self.reference_path is None):
            raise located(
                "reference_rate",
                "give exactly one of reference_rate (a flat annual rate) or "
                "reference_path (annual rates, one per bond year)",
            )
        return self


class IndexLinkedCoupon(_Model):
    """A real coupon on a principal uplifted by CPI, the annual uplift capped and floored.

    The Warrington council bond: real_rate = 0.00846, uplift_cap = 0.03.
    """

    type: Literal["index_linked"]
    real_rate: Rate
    uplift_cap: Rate | None = None
    uplift_floor: Rate | None = None

    @model_validator(mode="after")
    def _cap_above_floor(self) -> IndexLinkedCoupon:
        if (
            self.uplift_cap is not None
            and self.uplift_floor is not None
            and self.uplift_floor > self.uplift_cap
        ):
            raise located(
                "uplift_floor",
                f"{self.uplift_floor} is above uplift_cap = {self.uplift_cap}; "
                "the floor must be <= the cap",
            )
        return self


Coupon = Annotated[FixedCoupon | FloatingCoupon | IndexLinkedCoupon, Field(discriminator="type")]


class Performance(_Model):
    """A savings-linked performance payment on top of the base coupon.

    Each payment period: ``share`` x (gross savings - threshold), if positive,
    capped so that base coupon + performance payment is at most
    ``cap_total_return`` a year on the principal issued.
    """

    share: Fraction
    threshold: Money = 0.0
    cap_total_return: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] | None = None


class Repayment(_Model):
    """How principal is repaid after any grace period.

    ``bullet``: all at maturity. ``eip``: equal instalments of principal.
    ``annuity``: level debt service. ``sculpted``: debt service follows the
    base-case cash available for debt service at ``target_dscr`` (by default the
    sizing target of a bond sized to a DSCR). ``custom``:
    ``schedule`` gives the fraction of principal repaid in each amortisation
    period (summing to 1).
    """

    type: Literal["bullet", "eip", "annuity", "sculpted", "custom"] = "bullet"
    target_dscr: Annotated[float, Field(gt=0.0, le=20.0, allow_inf_nan=False)] | None = None
    schedule: FrozenList[Fraction] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _fields_for_type(self) -> Repayment:
        self.check_fields_for_type()
        return self

    def check_fields_for_type(self) -> None:
        """The fields each profile needs or forbids (a pool's profile adds its own)."""
        # a sculpted profile's target is required unless the bond is sized to a DSCR target,
        # which it then sculpts to (checked with the principal, in BondTerms)
        if self.type != "sculpted" and self.target_dscr is not None:
            raise located("target_dscr", "is only allowed with type = 'sculpted'")
        if self.type == "custom":
            if self.schedule is None:
                raise located(
                    "schedule",
                    "is required with type = 'custom' "
                    "(fractions of principal per amortisation period, summing to 1)",
                )
            total = math.fsum(self.schedule)
            if abs(total - 1.0) > 1e-9:
                raise located("schedule", f"must sum to 1, got {total:.12g}")
        elif self.schedule is not None:
            raise located("schedule", "is only allowed with type = 'custom'")


#: The largest number of paths a percentile sizing may simulate (each is a row of CFADS).
MAX_SIZING_PATHS = 100_000


class Sizing(_Model):
    """How ``principal = "dscr"`` sizes the bond: to a DSCR target on a CFADS basis.

    ``basis = "base"`` sizes on the deterministic base case's CFADS;
    ``"percentile"`` on the ``percentile``-th percentile of each payment period's
    CFADS over a simulation of ``paths`` paths with ``seed`` (the scenario's risk
    inputs, the random sampler), recorded here so that the contract is the same
    whatever ``--paths`` or ``--seed`` a run uses.
    """

    target_dscr: Annotated[float, Field(ge=1.0, le=20.0, allow_inf_nan=False)]
    basis: Literal["base", "percentile"] = "base"
    percentile: Annotated[float, Field(gt=0.0, lt=100.0, allow_inf_nan=False)] | None = None
    paths: Annotated[int, Field(ge=100, le=MAX_SIZING_PATHS)] | None = None
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None

    @model_validator(mode="after")
    def _fields_for_basis(self) -> Sizing:
        simulated = ("percentile", "paths", "seed")
        if self.basis == "percentile":
            for name in simulated:
                if getattr(self, name) is None:
                    example = {"percentile": "10 (the P10 CFADS)", "paths": "10000", "seed": "1"}
                    raise located(
                        name,
                        f"is required with basis = 'percentile' (e.g. {example[name]}): the "
                        "simulation that fixes the contract is recorded in the scenario",
                    )
        else:
            for name in simulated:
                if getattr(self, name) is not None:
                    raise located(name, "is only allowed with basis = 'percentile'")
        return self


class Reserve(_Model):
    """Debt service reserve account: ``months`` of scheduled debt service."""

    months: Annotated[float, Field(gt=0.0, le=36.0, allow_inf_nan=False)]
    funding: Literal["at_issue", "from_cash"] = "at_issue"


class BondTerms(_Model):
    """The bond: size, price, fees, dates, coupon, repayment, reserve and recourse."""

    principal: Principal | Literal["sized", "dscr"] = "sized"
    sizing: Sizing | None = None
    financed_share: Fraction = 1.0
    issue_price: Annotated[float, Field(gt=0.5, le=1.5, allow_inf_nan=False)] = 1.0
    arrangement_fee: Annotated[float, Field(ge=0.0, le=0.2, allow_inf_nan=False)] = 0.0
    annual_fees: Money = 0.0
    issue_date: Date | None = None
    tenor_years: Annotated[float, Field(gt=0.0, le=100.0, allow_inf_nan=False)]
    legal_maturity_years: Annotated[float, Field(gt=0.0, le=100.0, allow_inf_nan=False)] | None = (
        None
    )
    payment_frequency: PaymentFrequency = "annual"
    coupon: Coupon
    performance: Performance | None = None
    repayment: Repayment = Field(default_factory=Repayment)
    grace_years: Annotated[float, Field(ge=0.0, le=50.0, allow_inf_nan=False)] = 0.0
    grace_interest: Literal["paid", "capitalised"] = "paid"
    cash_sweep: Fraction = 0.0
    recourse: Literal["full", "limited"] = "full"
    arrears_interest: bool = True
    reserve: Reserve | None = None
    pledged_share: Fraction = 1.0

    @model_validator(mode="after")
    def _dates_in_order(self) -> BondTerms:
        if self.principal == "dscr" and self.sizing is None:
            raise located(
                "sizing",
                "is required with principal = 'dscr': give [bond.sizing] with target_dscr "
                "(e.g. 1.25)",
            )
        if (
            self.repayment.type == "sculpted"
            and self.repayment.target_dscr is None
            and self.principal != "dscr"
        ):
            raise located(
                ("repayment", "target_dscr"),
                "is required with type = 'sculpted' (e.g. 1.30), unless principal = 'dscr', "
                "whose sizing target it then sculpts to",
            )
        if self.principal != "dscr" and self.sizing is not None:
            raise located(
                "sizing",
                f"is only allowed with principal = 'dscr' (principal is {self.principal!r})",
            )
        if self.legal_maturity_years is not None and self.legal_maturity_years < self.tenor_years:
            raise located(
                "legal_maturity_years",
                f"{self.legal_maturity_years} is before tenor_years = "
                f"{self.tenor_years}; it must be >= the scheduled maturity",
            )
        if self.grace_years >= self.tenor_years:
            raise located(
                "grace_years",
                f"{self.grace_years} must be less than tenor_years = {self.tenor_years}",
            )
        return self

    @property
    def sculpting_dscr(self) -> float | None:
        """The DSCR a sculpted profile sculpts to: ``repayment.target_dscr``, or when it is
        not given, the sizing target of a bond sized to a DSCR (None for other profiles)."""
        if self.repayment.type != "sculpted":
            return None
        if self.repayment.target_dscr is not None:
            return self.repayment.target_dscr
        return self.sizing.target_dscr if self.sizing is not None else None

    @property
    def legal_years(self) -> float:
        """Years from issue to legal final maturity."""
        return (
            self.legal_maturity_years
            if self.legal_maturity_years is not None
            else (self.tenor_years)
        )


class PWLB(_Model):
    """The PWLB benchmark: the same financing need as a Public Works Loan Board loan.

    Rate = gilt yield + margin; the default margin of 80bp is the PWLB
    certainty rate (HM Treasury / UK Debt Management Office).
    """

    gilt_yield: Rate
    margin: Rate = 0.008
    loan_type: Literal["annuity", "eip", "maturity"] = "annuity"
    term_years: Annotated[float, Field(gt=0.0, le=100.0, allow_inf_nan=False)] | None = None


#: A term within this many payment periods of a whole number is whole (and the workbook's
#: check of the terms typed on Inputs uses the same figure, as a convention).
WHOLE_PERIODS_TOLERANCE = 1e-9


def timeline_problem(
    bond: BondTerms, periods_per_year: int, n_periods: int, close: date, boundaries: list[date]
) -> tuple[str, str] | None:
    """The first incoherence between the bond's dates and the timeline, as (field, message).

    The bond pays no more often than the timeline's periods (g divides f), is
    issued on a period boundary, and its grace, scheduled and legal maturities
    are whole payment periods inside the horizon.
    """
    from bondmodel.conventions import FREQUENCIES

    f = periods_per_year
    g = FREQUENCIES[bond.payment_frequency]
    if f % g != 0:
        allowed = [name for name, n in FREQUENCIES.items() if f % n == 0]
        return (
            "bond.payment_frequency",
            f"{bond.payment_frequency!r} does not fit the timeline's {f} periods a year; "
            f"allowed: {', '.join(repr(a) for a in allowed)} (payments fall on period ends)",
        )
    issue = bond.issue_date or close
    if issue not in boundaries:
        return (
            "bond.issue_date",
            f"{issue.isoformat()} is not a period boundary of the timeline; allowed: "
            f"{boundaries[0].isoformat()}, {boundaries[1].isoformat()}, ... "
            f"(every {12 // f} months from close)",
        )
    start = boundaries.index(issue)
    for field, years in (
        ("bond.tenor_years", bond.tenor_years),
        ("bond.legal_maturity_years", bond.legal_years),
        ("bond.grace_years", bond.grace_years),
    ):
        periods = years * g
        if abs(periods - round(periods)) > WHOLE_PERIODS_TOLERANCE:
            return (
                field,
                f"{years} years is not a whole number of {bond.payment_frequency} payment "
                f"periods; allowed: multiples of {1 / g:g} years",
            )
    if bond.repayment.type == "custom" and bond.repayment.schedule is not None:
        amortising = round((bond.tenor_years - bond.grace_years) * g)
        if len(bond.repayment.schedule) != amortising:
            return (
                "bond.repayment.schedule",
                f"has {len(bond.repayment.schedule)} entries; the bond has {amortising} "
                "amortisation periods (tenor minus grace, in payment periods), one entry each",
            )
    end = start + round(bond.legal_years * g) * (f // g)
    if end > n_periods:
        return (
            "bond.legal_maturity_years" if bond.legal_maturity_years else "bond.tenor_years",
            f"the bond runs to period {end}, beyond the horizon's last period {n_periods}; "
            f"shorten the bond to at most {(n_periods - start) / f:g} years or lengthen "
            "timeline.horizon_years",
        )
    return None


def sizing_problem(bond: BondTerms, has_risk: bool) -> tuple[str, str] | None:
    """A percentile sizing basis simulates the scenario's risk inputs: it needs ``[risk]``."""
    if bond.sizing is not None and bond.sizing.basis == "percentile" and not has_risk:
        return (
            "bond.sizing.basis",
            "'percentile' needs a [risk] section to simulate; allowed without one: 'base'",
        )
    return None


def pwlb_problem(pwlb: PWLB, bond: BondTerms) -> tuple[str, str] | None:
    """The PWLB loan must fit on the bond's payment grid, within its legal term."""
    from bondmodel.conventions import FREQUENCIES

    g = FREQUENCIES[bond.payment_frequency]
    term = pwlb.term_years if pwlb.term_years is not None else bond.tenor_years
    periods = term * g
    if abs(periods - round(periods)) > WHOLE_PERIODS_TOLERANCE or (
        term > bond.legal_years + WHOLE_PERIODS_TOLERANCE
    ):
        return (
            "pwlb.term_years",
            f"{term} years must be a whole number of {bond.payment_frequency} payment periods "
            f"and at most the bond's legal term of {bond.legal_years:g} years",
        )
    return None
