"""Market and appraisal conventions, kept as data with their sources.

Nothing here is computed: each table is a published figure, cited where it is
defined, so that a reviewer can check it against the source in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# ---------------------------------------------------------------------------
# Timeline frequencies
# ---------------------------------------------------------------------------

#: Periods per year for each named frequency.
FREQUENCIES: Final[dict[str, int]] = {
    "annual": 1,
    "semi-annual": 2,
    "quarterly": 4,
    "monthly": 12,
}

#: First month of the UK local-government financial year (1 April).
UK_FINANCIAL_YEAR_START_MONTH: Final[int] = 4

# ---------------------------------------------------------------------------
# HM Treasury Green Book: social time preference rate (STPR), real terms.
# Source: HM Treasury, "The Green Book: Central Government Guidance on
# Appraisal and Evaluation" (2022 edition), Annex A6 "Discounting"
# "Discounting": 3.5% for years 0-30, 3.0% for 31-75, 2.5% for 76-125,
# 2.0% for 126-200, 1.5% for 201-300 and 1.0% beyond 300 years.
# Each band's rate applies to the years inside it; discount factors are
# compounded piecewise across the bands.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RateBand:
    """A discount rate applying from ``start_year`` (exclusive) to ``end_year``."""

    start_year: float
    end_year: float
    rate: float


GREEN_BOOK_STPR: Final[tuple[RateBand, ...]] = (
    RateBand(0.0, 30.0, 0.035),
    RateBand(30.0, 75.0, 0.030),
    RateBand(75.0, 125.0, 0.025),
    RateBand(125.0, 200.0, 0.020),
    RateBand(200.0, 300.0, 0.015),
    RateBand(300.0, float("inf"), 0.010),
)

# ---------------------------------------------------------------------------
# Optimism bias: HM Treasury, "Supplementary Green Book Guidance: Optimism
# Bias" (2003, prepared from Mott MacDonald, "Review of Large Public
# Procurement in the UK", 2002), Table 1 "Recommended adjustment ranges".
# Capital expenditure bands, as a fraction of the base cost estimate.
# The guidance: start from the upper bound and reduce it by the mitigation
# achieved (0 = none, 1 = fully mitigated): OB = upper x (1 - mitigation).
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OptimismBiasBand:
    """One project type's capital-expenditure optimism-bias range."""

    label: str
    lower: float
    upper: float


OPTIMISM_BIAS_BANDS: Final[dict[str, OptimismBiasBand]] = {
    "standard_buildings": OptimismBiasBand("Standard buildings", 0.02, 0.24),
    "non_standard_buildings": OptimismBiasBand("Non-standard buildings", 0.04, 0.51),
    "standard_civil_engineering": OptimismBiasBand("Standard civil engineering", 0.03, 0.44),
    "non_standard_civil_engineering": OptimismBiasBand(
        "Non-standard civil engineering", 0.06, 0.66
    ),
    "equipment_development": OptimismBiasBand("Equipment/development", 0.10, 2.00),
    "outsourcing": OptimismBiasBand("Outsourcing", 0.00, 0.41),
}

#: Default band for each cost category: a documented judgement, see
#: docs/methodology.md "Optimism bias". Redundancy payments follow statutory
#: and pension-strain formulae; the guidance has no band for them, so they
#: default to no band (0%) unless the scenario names one.
CATEGORY_DEFAULT_BAND: Final[dict[str, str | None]] = {
    "it": "equipment_development",
    "property": "standard_buildings",
    "programme": "outsourcing",
    "redundancy": None,
    "other": None,
}
