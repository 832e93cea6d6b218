"""The council's own finances and the funding routes compared (issue 17), as frozen models.

``[council]`` holds the council's starting figures: its budget (net revenue stream), tax
base, capital financing requirement, debt, the limits it sets itself, its reserves and
capital receipts, and how it makes minimum revenue provision. ``[[routes]]`` lists the
ways of paying for the programme that the comparison runs on the same draws: the
invest-to-save bond as specified in ``[bond]``, a PWLB loan, the flexible use of capital
receipts, a community municipal investment, reserves and an outcomes-based contract.
Both are optional: a scenario without them runs exactly as before. docs/scenario-reference.md
lists every field; docs/methodology.md, section 23, the equations and the law.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bondmodel.scenario.fieldtypes import (
    Fraction,
    Money,
    Name,
    PositiveMoney,
    Rate,
    first_repeat,
    repeat_note,
)
from bondmodel.scenario.frozen import FrozenList
from bondmodel.scenario.located import located

#: The longest term of a route's loan, in years: the PWLB lends for up to 50 years
#: (UK Debt Management Office, PWLB lending arrangements).
MAX_TERM_YEARS = 50
#: The most routes a scenario compares.
MAX_ROUTES = 20
#: The largest tax base, in Band D equivalents (the largest English council, Birmingham,
#: has about 280,000).
MAX_TAX_BASE = 10_000_000.0


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


TermYears = Annotated[int, Field(ge=1, le=MAX_TERM_YEARS)]


class Council(_Model):
    """The council's own figures: the budget, tax base and Prudential Code starting point.

    ``net_revenue_stream`` is at base-date prices and indexed like every real input;
    the stocks (CFR, gross debt, limits, reserves) and ``financing_costs`` are held at
    their opening values in pounds of the day, so each route's effect shows alone;
    ``capital_receipts`` are nominal pounds by financial year from the first.
    """

    net_revenue_stream: PositiveMoney
    tax_base_band_d: Annotated[float, Field(gt=0.0, le=MAX_TAX_BASE, allow_inf_nan=False)]
    opening_cfr: Money
    gross_debt: Money
    financing_costs: Money = 0.0
    operational_boundary: Money
    authorised_limit: Money
    financing_ratio_limit: Fraction | None = None
    usable_reserves: Money = 0.0
    investment_rate: Rate = 0.0
    capital_receipts: FrozenList[Money] = Field(default_factory=tuple)
    mrp_method: Literal["equal_instalment", "annuity"] = "equal_instalment"
    mrp_life_years: Annotated[int, Field(ge=1, le=100)]
    capitalisation_direction: bool = False

    @model_validator(mode="after")
    def _limit_above_boundary(self) -> Council:
        if self.authorised_limit < self.operational_boundary:
            raise located(
                "authorised_limit",
                f"{self.authorised_limit:,.0f} is below operational_boundary = "
                f"{self.operational_boundary:,.0f}; the Prudential Code sets the authorised "
                "limit at or above the operational boundary",
            )
        return self


class BondRoute(_Model):
    """The invest-to-save bond exactly as ``[bond]`` specifies it."""

    type: Literal["bond"]
    name: Name


class PWLBRoute(_Model):
    """A PWLB loan of the financing need, drawn at close, repaid yearly over ``term_years``
    at the gilt yield plus the rate type's margin (``conventions.PWLB_MARGINS``).

    ``eligible``: the council confirms the loan qualifies for a concessionary rate type (HRA
    borrowing for ``hra``, an HM Treasury-approved project for ``local_infrastructure``);
    without it the route is flagged. Not allowed with ``standard`` or ``certainty``.
    """

    type: Literal["pwlb"]
    name: Name
    gilt_yield: Rate
    rate_type: Literal["standard", "certainty", "local_infrastructure", "hra"] = "certainty"
    loan_type: Literal["annuity", "eip", "maturity"] = "annuity"
    term_years: TermYears
    eligible: bool = False

    @model_validator(mode="after")
    def _eligibility_for_concessions(self) -> PWLBRoute:
        if self.eligible and self.rate_type in ("standard", "certainty"):
            raise located(
                "eligible",
                f"true is only for the concessionary rate types 'hra' and "
                f"'local_infrastructure'; rate_type = {self.rate_type!r} needs no eligibility: "
                "remove eligible",
            )
        return self


class CapitalReceiptsRoute(_Model):
    """The flexible use of capital receipts: ``council.capital_receipts`` pay the costs as
    they arise; costs the receipts do not cover fall on the revenue budget."""

    type: Literal["capital_receipts"]
    name: Name


class CommunityInvestmentRoute(_Model):
    """A community municipal investment (a retail bond sold to residents, as West Berkshire
    and Warrington issued): the financing need at ``rate``, drawn at close and repaid over
    ``term_years`` (bullet, equal instalments of principal or an annuity), yearly."""

    type: Literal["community_investment"]
    name: Name
    rate: Rate
    term_years: TermYears
    repayment: Literal["bullet", "eip", "annuity"] = "bullet"


class ReservesRoute(_Model):
    """The council's usable reserves pay the costs and are restored from the savings; the
    cost is the interest forgone at ``council.investment_rate`` on the amount drawn."""

    type: Literal["reserves"]
    name: Name


class OutcomesRoute(_Model):
    """An outcomes-based contract (a social impact bond): investors pay the financing need at
    close; the council pays ``share`` of the gross savings achieved in the first
    ``term_years`` years, in total at most ``cap_multiple`` times what investors paid."""

    type: Literal["outcomes_contract"]
    name: Name
    share: Fraction
    cap_multiple: Annotated[float, Field(gt=0.0, le=10.0, allow_inf_nan=False)]
    term_years: TermYears


#: Any one route, of whichever type.
AnyRoute = (
    BondRoute
    | PWLBRoute
    | CapitalReceiptsRoute
    | CommunityInvestmentRoute
    | ReservesRoute
    | OutcomesRoute
)
#: A route as the scenario validates it: its ``type`` picks the model.
Route = Annotated[AnyRoute, Field(discriminator="type")]

#: Cost categories that are capital expenditure (an asset: property, IT systems); the
#: others (redundancy, programme, other) are revenue costs (docs/methodology.md, 23.7).
CAPITAL_CATEGORIES = ("it", "property")


def routes_problem(
    routes: tuple[AnyRoute, ...],
    council: Council | None,
    *,
    has_bond: bool,
    has_costs: bool,
    horizon_years: int,
) -> tuple[tuple[str | int, ...], str] | None:
    """The first incoherence of the routes with the rest of the scenario, as (field, message)."""
    if council is None:
        return (
            ("routes",),
            "needs a [council] section: the budget and Prudential Code figures every route "
            "is measured against",
        )
    if not has_costs:
        return (("routes",), "needs at least one one-off cost ([[costs]]) to finance")
    names = [route.name for route in routes]
    repeat = first_repeat(names)
    if repeat is not None:
        j, i = repeat
        return (
            ("routes", i, "name"),
            f"duplicate name '{names[i]}' (already used by routes[{j}])"
            f"{repeat_note(names[j], names[i])}; names must be unique",
        )
    for i, route in enumerate(routes):
        if isinstance(route, BondRoute) and not has_bond:
            return (("routes", i, "type"), "'bond' needs a [bond] section to compare")
        if isinstance(route, CapitalReceiptsRoute) and not council.capital_receipts:
            return (
                ("routes", i, "type"),
                "'capital_receipts' needs council.capital_receipts (the receipts available "
                "by financial year)",
            )
        term = getattr(route, "term_years", None)
        if term is not None and term > horizon_years:
            return (
                ("routes", i, "term_years"),
                f"{term} years is beyond the horizon of {horizon_years} years; allowed "
                f"1..{horizon_years}",
            )
    if len(council.capital_receipts) > horizon_years + 1:
        return (
            ("council", "capital_receipts"),
            f"gives {len(council.capital_receipts)} years; the horizon of {horizon_years} "
            f"years touches at most {horizon_years + 1} financial years",
        )
    return None
