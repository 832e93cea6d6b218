"""The scenario schema: frozen pydantic models that reject unknown keys.

A scenario is validated once, here, at the boundary. Everything downstream may
assume the invariants stated in each model's docstring. Rates and shares are
decimal fractions throughout (``0.02`` is 2%); money is in pounds at base-date
prices; ``docs/scenario-reference.md`` lists every field.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, model_validator

from bondmodel.conventions import (
    CATEGORY_DEFAULT_BAND,
    FREQUENCIES,
    OPTIMISM_BIAS_BANDS,
)
from bondmodel.dates import model_close, period_boundaries
from bondmodel.scenario.bond import (
    PWLB,
    BondTerms,
    pwlb_problem,
    sizing_problem,
    timeline_problem,
)
from bondmodel.scenario.council import MAX_ROUTES, Council, Route, routes_problem
from bondmodel.scenario.fieldtypes import (
    MAX_DATE,
    MAX_PRICE_BASE_YEARS,
    Date,
    Description,
    Fraction,
    InflationPath,
    Money,
    Name,
    PositiveMoney,
    first_repeat,
    repeat_note,
)
from bondmodel.scenario.frozen import FrozenList
from bondmodel.scenario.located import located as _located
from bondmodel.scenario.risk import Risk

#: Optional sections added after scenarios were first hashed: left out of the canonical
#: text while unset (:meth:`Scenario.canonical_json`).
LATER_SECTIONS = ("council", "routes")
#: Fields of ``[bond]`` added after scenarios were first hashed, left out of the hash while
#: unset.
LATER_BOND_FIELDS = ("sizing",)

#: Tolerance for "sums to 1" checks on shares and profiles.
SUM_TOLERANCE = 1e-9

Frequency = Literal["annual", "semi-annual", "quarterly", "monthly"]
CostCategory = Literal["it", "redundancy", "programme", "property", "other"]
BandName = Literal[
    "standard_buildings",
    "non_standard_buildings",
    "standard_civil_engineering",
    "non_standard_civil_engineering",
    "equipment_development",
    "outsourcing",
]


def _indexation(value: object) -> str | float:
    """Validate an indexation setting: 'inflation', 'none' or an annual rate."""
    if isinstance(value, str) and value in ("inflation", "none"):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        rate = float(value)
        if math.isfinite(rate) and -0.5 <= rate <= 1.0:
            return rate
    raise ValueError(
        f"got {value!r}; allowed: 'inflation' (the scenario's inflation rate), "
        "'none' (flat in cash terms), or an annual nominal rate between -0.5 and 1.0"
    )


Indexation = Annotated[str | float, PlainValidator(_indexation)]


class _Model(BaseModel):
    """Shared configuration: immutable, strict types, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Meta(_Model):
    """Who and what the scenario describes."""

    name: Name
    description: Description = ""
    currency: str = Field(default="GBP", pattern=r"^[A-Z]{3}$")
    base_date: Date


class TimelineSettings(_Model):
    """The ``[timeline]`` section, the model's periods as given: close at ``start_date``
    (t = 0), then T = horizon x f periods. (The grid computed from it, dates, labels and
    year fractions, is :class:`bondmodel.timeline.Timeline`.)"""

    start_date: Date
    frequency: Frequency = "annual"
    horizon_years: int = Field(ge=1, le=150)
    align_to_financial_year: bool = False

    @property
    def periods_per_year(self) -> int:
        """f, the number of periods in a year."""
        return FREQUENCIES[self.frequency]

    @property
    def n_periods(self) -> int:
        """T, the number of periods after close."""
        return self.horizon_years * self.periods_per_year


class Economics(_Model):
    """Inflation and the discounting basis of the appraisal."""

    inflation: InflationPath = 0.02
    discount_basis: Literal["green_book", "flat"] = "green_book"
    discount_rate: float | None = Field(default=None, gt=-0.5, le=1.0, allow_inf_nan=False)
    appraisal_basis: Literal["real", "nominal"] = "real"

    @model_validator(mode="after")
    def _rate_matches_basis(self) -> Economics:
        if self.discount_basis == "flat" and self.discount_rate is None:
            raise _located(
                "discount_rate",
                "is required when discount_basis = 'flat'; give an annual effective rate "
                "between -0.5 and 1.0, e.g. 0.035",
            )
        if self.discount_basis == "green_book" and self.discount_rate is not None:
            raise _located(
                "discount_rate",
                f"got {self.discount_rate!r}; discount_rate is only allowed with "
                "discount_basis = 'flat' (the Green Book basis uses the published schedule): "
                "remove it, or set discount_basis = 'flat'",
            )
        return self


class Partner(_Model):
    """A council in the partnership.

    ``cost_share`` and ``savings_share`` default to shares proportional to
    ``baseline_expenditure``; the resolved shares are on :class:`Scenario`.
    """

    name: Name
    baseline_expenditure: PositiveMoney
    cost_share: Fraction | None = None
    savings_share: Fraction | None = None
    #: The partner leaves this many years after close: its savings stop from then on
    #: (pro rata within the period it leaves in); its share of costs is unchanged.
    exit_year: float | None = Field(default=None, gt=0.0, le=300.0, allow_inf_nan=False)


class CostItem(_Model):
    """A one-off transformation cost at base-date prices.

    Timing: ``at_close`` puts it all at t = 0; ``spread`` divides it evenly over
    ``periods`` periods from ``start_period`` (default 1); ``profile`` gives the
    fraction paid in each period from ``start_period`` (default 0).
    """

    name: Name
    amount: Money
    category: CostCategory
    timing: Literal["at_close", "spread", "profile"] = "at_close"
    start_period: int | None = Field(default=None, ge=0)
    periods: int | None = Field(default=None, ge=1)
    profile: FrozenList[Fraction] | None = None
    optimism_bias: float | None = Field(default=None, ge=0.0, le=5.0, allow_inf_nan=False)
    ob_band: BandName | None = None
    ob_mitigation: Fraction = 0.0
    contingency: float = Field(default=0.0, ge=0.0, le=5.0, allow_inf_nan=False)
    indexed: bool = True

    @model_validator(mode="after")
    def _timing_fields(self) -> CostItem:
        if self.timing == "at_close":
            for field in ("start_period", "periods", "profile"):
                if getattr(self, field) is not None:
                    raise _located(
                        field,
                        f"got {getattr(self, field)!r}, but {field} is not allowed with "
                        "timing = 'at_close' (use timing = 'spread' or 'profile')",
                    )
        elif self.timing == "spread":
            if self.periods is None:
                raise _located(
                    "periods", "is required with timing = 'spread' (a whole number >= 1)"
                )
            if self.profile is not None:
                raise _located(
                    "profile",
                    f"got {self.profile!r}, but profile is only allowed with timing = 'profile'",
                )
        else:
            if not self.profile:
                raise _located(
                    "profile",
                    ("got []; " if self.profile is not None else "")
                    + "is required with timing = 'profile' "
                    "(a list of fractions per period summing to 1)",
                )
            if self.periods is not None:
                raise _located(
                    "periods",
                    f"got {self.periods!r}, but periods is only allowed with timing = 'spread'",
                )
            total = math.fsum(self.profile)
            if abs(total - 1.0) > SUM_TOLERANCE:
                raise _located(
                    "profile",
                    f"must sum to 1, got {_num(total)} (from {list(self.profile)!r})",
                )
        if self.optimism_bias is not None and (self.ob_band is not None or self.ob_mitigation):
            given = ", ".join(
                f"{f} = {getattr(self, f)!r}"
                for f in ("optimism_bias", "ob_band", "ob_mitigation")
                if getattr(self, f) is not None and (f != "ob_mitigation" or self.ob_mitigation)
            )
            raise _located(
                "optimism_bias",
                f"got {given}; give either optimism_bias (the adjusted uplift itself) or "
                "ob_band/ob_mitigation (derived from the Green Book band), not both",
            )
        return self

    @property
    def first_period(self) -> int:
        """The first period in which this cost is paid."""
        if self.timing == "at_close":
            return 0
        if self.start_period is not None:
            return self.start_period
        return 1 if self.timing == "spread" else 0

    @property
    def last_period(self) -> int:
        """The last period in which this cost is paid."""
        if self.timing == "spread" and self.periods is not None:
            return self.first_period + self.periods - 1
        if self.timing == "profile" and self.profile is not None:
            return self.first_period + len(self.profile) - 1
        return self.first_period

    @property
    def effective_optimism_bias(self) -> float:
        """The uplift applied: explicit, or band upper bound x (1 - mitigation)."""
        if self.optimism_bias is not None:
            return self.optimism_bias
        band = self.ob_band or CATEGORY_DEFAULT_BAND[self.category]
        if band is None:
            return 0.0
        return OPTIMISM_BIAS_BANDS[band].upper * (1.0 - self.ob_mitigation)


class RunningCost(_Model):
    """A recurring cost of the new arrangement, from ``start_year`` to ``end_year``."""

    name: Name
    annual_amount: Money
    start_year: int = Field(default=1, ge=1)
    end_year: int | None = Field(default=None, ge=1)
    indexation: Indexation = "inflation"

    @model_validator(mode="after")
    def _years_in_order(self) -> RunningCost:
        if self.end_year is not None and self.end_year < self.start_year:
            raise _located(
                "end_year",
                f"end_year = {self.end_year} is before start_year = {self.start_year}; "
                "end_year must be >= start_year",
            )
        return self


class LinearRamp(_Model):
    """Savings rise in a straight line from 0 to 100% over ``years`` (0 = at once)."""

    type: Literal["linear"]
    years: float = Field(ge=0.0, le=50.0, allow_inf_nan=False)


class ExplicitRamp(_Model):
    """The fraction of steady-state savings achieved in each savings year."""

    type: Literal["explicit"]
    fractions: FrozenList[Fraction] = Field(min_length=1)


class SCurveRamp(_Model):
    """A logistic S-curve from 0 to 100% over ``years``; ``steepness`` shapes it."""

    type: Literal["s_curve"]
    years: float = Field(gt=0.0, le=50.0, allow_inf_nan=False)
    steepness: float = Field(default=10.0, gt=0.0, le=100.0, allow_inf_nan=False)


Ramp = Annotated[LinearRamp | ExplicitRamp | SCurveRamp, Field(discriminator="type")]


class SavingsStream(_Model):
    """A stream of recurring savings.

    The steady-state annual saving is ``annual_amount`` pounds, or
    ``pct_of_expenditure`` of the summed baseline expenditure of ``partners``
    (all partners when omitted). Savings start ``start_delay_years`` after
    close, follow ``ramp``, erode at ``erosion`` a year and stop after
    ``end_year``.
    """

    name: Name
    annual_amount: Money | None = None
    pct_of_expenditure: Fraction | None = None
    partners: FrozenList[Name] | None = Field(default=None, min_length=1)
    allocation: Literal["shares", "expenditure"] = "shares"
    ramp: Ramp = Field(default_factory=lambda: LinearRamp(type="linear", years=0.0))
    start_delay_years: float = Field(default=0.0, ge=0.0, le=150.0, allow_inf_nan=False)
    end_year: float | None = Field(default=None, gt=0.0, le=300.0, allow_inf_nan=False)
    erosion: float = Field(default=0.0, ge=0.0, lt=1.0, allow_inf_nan=False)
    indexation: Indexation = "inflation"

    @model_validator(mode="after")
    def _one_amount(self) -> SavingsStream:
        if (self.annual_amount is None) == (self.pct_of_expenditure is None):
            got = (
                f"got annual_amount = {_num(self.annual_amount)} and pct_of_expenditure = "
                f"{_num(self.pct_of_expenditure)}"
                if self.annual_amount is not None and self.pct_of_expenditure is not None
                else "got neither"
            )
            raise ValueError(
                f"{got}; give exactly one of annual_amount (pounds a year) or "
                "pct_of_expenditure (a fraction of the partners' baseline expenditure)"
            )
        if self.partners is not None and len(set(self.partners)) != len(self.partners):
            repeated = sorted({p for p in self.partners if self.partners.count(p) > 1})
            raise _located(
                "partners",
                f"names {repeated} more than once; name each partner once",
            )
        if self.end_year is not None and self.end_year <= self.start_delay_years:
            raise _located(
                "end_year",
                f"end_year = {_num(self.end_year)} must be after start_delay_years = "
                f"{_num(self.start_delay_years)} (savings stop after end_year years from close)",
            )
        return self


class Scenario(_Model):
    """A whole invest-to-save programme, validated across sections."""

    meta: Meta
    timeline: TimelineSettings
    economics: Economics = Field(default_factory=Economics)
    partners: FrozenList[Partner] = Field(min_length=1, max_length=50)
    costs: FrozenList[CostItem] = Field(default_factory=tuple)
    running_costs: FrozenList[RunningCost] = Field(default_factory=tuple)
    savings: FrozenList[SavingsStream] = Field(default_factory=tuple)
    bond: BondTerms | None = None
    pwlb: PWLB | None = None
    risk: Risk | None = None
    council: Council | None = None
    routes: FrozenList[Route] | None = Field(default=None, min_length=1, max_length=MAX_ROUTES)

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        _check_unique("partners", [p.name for p in self.partners])
        _check_unique("costs", [c.name for c in self.costs])
        _check_unique("running_costs", [c.name for c in self.running_costs])
        _check_unique("savings", [s.name for s in self.savings])
        for kind in ("cost_share", "savings_share"):
            given = [getattr(p, kind) for p in self.partners]
            if all(v is None for v in given):
                continue
            if any(v is None for v in given):
                first = next(i for i, v in enumerate(given) if v is None)
                have = [p.name for p in self.partners if getattr(p, kind) is not None]
                missing = [p.name for p in self.partners if getattr(p, kind) is None]
                raise _located(
                    ("partners", first, kind),
                    f"is missing; give {kind} for every partner or for none "
                    f"(given for {have}, missing for {missing})",
                )
            total = math.fsum(v for v in given if v is not None)
            if abs(total - 1.0) > SUM_TOLERANCE:
                raise _located(
                    ("partners", kind),
                    f"shares must sum to 1, got {_num(total)} "
                    f"({', '.join(f'{p.name}={getattr(p, kind)}' for p in self.partners)})",
                )
        if self.meta.base_date > self.timeline.start_date:
            raise _located(
                ("meta", "base_date"),
                f"{self.meta.base_date.isoformat()} is after timeline.start_date "
                f"{self.timeline.start_date.isoformat()}; the price base date must be "
                "on or before the start date",
            )
        self._check_derived_dates()
        last = self.timeline.n_periods
        for i, cost in enumerate(self.costs):
            if cost.last_period > last:
                raise _located(
                    ("costs", i),
                    f"runs to period {cost.last_period} (timing = '{cost.timing}' from period "
                    f"{cost.first_period}), beyond the horizon's last period {last}; "
                    f"allowed periods are 0..{last}",
                )
        for i, rc in enumerate(self.running_costs):
            for field in ("start_year", "end_year"):
                value = getattr(rc, field)
                if value is not None and value > self.timeline.horizon_years:
                    raise _located(
                        ("running_costs", i, field),
                        f"{value} is beyond the horizon of {self.timeline.horizon_years} years; "
                        f"allowed 1..{self.timeline.horizon_years}",
                    )
        names = {p.name for p in self.partners}
        for i, stream in enumerate(self.savings):
            for j, name in enumerate(stream.partners or []):
                if name not in names:
                    raise _located(
                        ("savings", i, "partners", j),
                        f"unknown partner '{name}'; the partners are {sorted(names)}",
                    )
        if self.bond is not None:
            tl = self.timeline
            close = model_close(tl.start_date, tl.align_to_financial_year)
            problem = timeline_problem(
                self.bond,
                tl.periods_per_year,
                tl.n_periods,
                close,
                period_boundaries(close, tl.periods_per_year, tl.n_periods),
            )
            if problem is None and self.pwlb is not None:
                problem = pwlb_problem(self.pwlb, self.bond)
            if problem is None:
                problem = sizing_problem(self.bond, self.risk is not None)
            if problem is not None:
                raise _located(tuple(problem[0].split(".")), problem[1])
        elif self.pwlb is not None:
            raise _located(("pwlb",), "needs a [bond] section to compare against")
        if self.risk is not None:
            self._check_risk_targets(self.risk)
        if self.routes is not None:
            found = routes_problem(
                self.routes,
                self.council,
                has_bond=self.bond is not None,
                has_costs=bool(self.costs),
                horizon_years=self.timeline.horizon_years,
            )
            if found is not None:
                raise _located(*found)
        elif self.council is not None:
            raise _located(
                ("council",),
                "is only used by the funding routes compared: add [[routes]], or remove [council]",
            )
        return self

    def _check_derived_dates(self) -> None:
        """The dates the model derives stay representable, and indexation to the start bounded.

        The horizon ends ``horizon_years`` after close, on or before :data:`MAX_DATE`
        (every bond date lies inside the horizon, checked with the bond); the price
        base date is at most :data:`MAX_PRICE_BASE_YEARS` before the start, so that
        indexing base-date prices to the start cannot overflow.
        """
        tl = self.timeline
        close = model_close(tl.start_date, tl.align_to_financial_year)
        if close.year + tl.horizon_years > MAX_DATE.year:
            raise _located(
                ("timeline", "horizon_years"),
                f"{tl.horizon_years} years from close on {close.isoformat()} ends in "
                f"{close.year + tl.horizon_years}; allowed: a horizon ending on or before "
                f"{MAX_DATE.isoformat()} (at most {MAX_DATE.year - close.year} years from "
                "this start)",
            )
        base = self.meta.base_date
        if (tl.start_date.year - base.year) * 12 + tl.start_date.month - base.month > (
            MAX_PRICE_BASE_YEARS * 12
        ):
            raise _located(
                ("meta", "base_date"),
                f"{base.isoformat()} is more than {MAX_PRICE_BASE_YEARS} years before "
                f"timeline.start_date {tl.start_date.isoformat()}; allowed: a price base "
                f"date at most {MAX_PRICE_BASE_YEARS} years before the start",
            )

    def _check_risk_targets(self, risk: Risk) -> None:
        """Every name a risk input selects exists, and its target applies to this scenario."""
        known = {
            "streams": [s.name for s in self.savings],
            "partners": self.partner_names,
            "items": [c.name for c in self.costs],
        }
        for i, spec in enumerate(risk.inputs):
            for field, names in known.items():
                for j, name in enumerate(getattr(spec, field) or []):
                    if name not in names:
                        raise _located(
                            ("risk", "inputs", i, field, j),
                            f"unknown name '{name}'; allowed: {names}",
                        )
            if spec.target.startswith("savings.") and not self.savings:
                raise _located(
                    ("risk", "inputs", i, "target"),
                    f"'{spec.target}' needs at least one savings stream",
                )
            if spec.target == "costs.overrun":
                chosen = [
                    c
                    for c in self.costs
                    if (spec.items is None and spec.categories is None)
                    or (spec.items is not None and c.name in spec.items)
                    or (spec.categories is not None and c.category in spec.categories)
                ]
                if not chosen:
                    field = "categories" if spec.categories is not None else "items"
                    raise _located(
                        ("risk", "inputs", i, field),
                        f"{list(getattr(spec, field))} selects no cost item; allowed items "
                        f"{[c.name for c in self.costs]}, categories "
                        f"{sorted({c.category for c in self.costs})}",
                    )
            if spec.target == "running_costs.factor" and not self.running_costs:
                raise _located(
                    ("risk", "inputs", i, "target"),
                    "'running_costs.factor' needs at least one running cost",
                )
            if spec.target == "bond.reference_rate" and (
                self.bond is None or self.bond.coupon.type != "floating"
            ):
                raise _located(
                    ("risk", "inputs", i, "target"),
                    "'bond.reference_rate' needs a bond with a floating coupon",
                )

    # ----- resolved values -------------------------------------------------

    @property
    def partner_names(self) -> list[str]:
        """Partner names in scenario order."""
        return [p.name for p in self.partners]

    def shares(self, kind: Literal["cost_share", "savings_share"]) -> list[float]:
        """Resolved partner shares: as given, or proportional to baseline expenditure."""
        given = [getattr(p, kind) for p in self.partners]
        if all(v is not None for v in given):
            return [float(v) for v in given]
        total = math.fsum(p.baseline_expenditure for p in self.partners)
        return [p.baseline_expenditure / total for p in self.partners]

    @property
    def total_expenditure(self) -> float:
        """Summed baseline annual expenditure of all partners."""
        return math.fsum(p.baseline_expenditure for p in self.partners)

    def canonical_json(self) -> str:
        """A canonical text of the scenario: sorted keys, no whitespace, defaults filled in.

        The sections and fields added after scenarios were first hashed (``council``,
        ``routes``, ``bond.sizing``) are left out while unset, so a scenario without them
        keeps the SHA-256 it always had (and a workbook made before them still verifies).
        """
        data = self.model_dump(mode="json")
        for key in LATER_SECTIONS:
            if data.get(key) is None:
                data.pop(key, None)
        bond = data.get("bond")
        if isinstance(bond, dict):
            for key in LATER_BOND_FIELDS:
                if bond.get(key) is None:
                    bond.pop(key, None)
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    def sha256(self) -> str:
        """SHA-256 of :meth:`canonical_json`, identifying the scenario in audit records."""
        return hashlib.sha256(self.canonical_json().encode("ascii")).hexdigest()


def _num(value: float | None) -> str:
    """A float shown as people write it: 0.9, not 0.8999999999999999."""
    return "None" if value is None else f"{value:.12g}"


def _check_unique(section: str, names: list[str]) -> None:
    repeat = first_repeat(names)
    if repeat is not None:
        j, i = repeat
        raise _located(
            (section, i, "name"),
            f"duplicate name '{names[i]}' (already used by {section}[{j}])"
            f"{repeat_note(names[j], names[i])}; names must be unique",
        )
