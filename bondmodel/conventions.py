"""Market and appraisal conventions, kept as data with their sources.

Nothing here is computed: each table is a published figure, cited where it is
defined, so that a reviewer can check it against the source in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
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

# ---------------------------------------------------------------------------
# PWLB rate types: the margin each adds to the gilt yield.
# Source: UK Debt Management Office, "PWLB Concessionary Rates" and HM Treasury,
# "Public Works Loan Board: future lending terms, response to the consultation"
# (25 November 2020):
# - standard rate: gilt yield + 100bp (from 26 November 2020; it had been +180bp
#   since 9 October 2019);
# - certainty rate: the standard rate less 20bp, gilt + 80bp (from 1 November 2012;
#   since 26 November 2020 the default rate of every principal local authority that
#   submits its certainty-rate return of capital plans);
# - local infrastructure rate: gilt + 60bp (from 11 April 2018, for nominated
#   infrastructure projects approved by HM Treasury);
# - HRA rate: gilt + 40bp, the standard rate less 60bp (from 15 June 2023, solely for
#   borrowing within a Housing Revenue Account, primarily new housing).
# The gilt yield is an input (PWLB's daily rates notices publish each term's rate).
# ---------------------------------------------------------------------------

#: Margin over the gilt yield of each PWLB rate type.
PWLB_MARGINS: Final[dict[str, float]] = {
    "standard": 0.010,
    "certainty": 0.008,
    "local_infrastructure": 0.006,
    "hra": 0.004,
}

# ---------------------------------------------------------------------------
# Minimum revenue provision (MRP).
# Source: Ministry of Housing, Communities and Local Government, "Statutory guidance
# on minimum revenue provision" (4th edition, 2018; 5th edition, April 2024, for
# accounting periods from 1 April 2025), issued under s.21(1A) of the Local
# Government Act 2003: Option 3, the asset life method, by equal instalments or as an
# annuity; MRP normally starts in the financial year after the expenditure is
# incurred (or the asset comes into use); expenditure capitalised under a direction
# of the Secretary of State (s.16(2)(b) of the 2003 Act) is charged over a deemed
# life of 20 years.
# ---------------------------------------------------------------------------

#: Years over which expenditure capitalised under a direction is provided for.
CAPITALISATION_DIRECTION_LIFE_YEARS: Final[int] = 20

# ---------------------------------------------------------------------------
# Flexible use of capital receipts.
# Source: Ministry of Housing, Communities and Local Government, "Flexible use of capital
# receipts: direction" (updated 26 March 2025), made under sections 16(2)(b) and 20 of
# the Local Government Act 2003, and the "Guidance on the flexible use of capital
# receipts" (updated August 2022), issued under s.15(1): local authorities may treat as
# capital expenditure, met only from capital receipts of their own asset sales, the
# expenditure on projects designed to generate ongoing revenue savings or transform
# service delivery, properly incurred in the financial years beginning 1 April 2025 to
# 1 April 2029 (the November 2024 policy statement extended the flexibility to 2030;
# earlier directions covered the years from 1 April 2016). The guidance (paragraph 7):
# "local authorities cannot borrow to finance the revenue costs of service reform".
# ---------------------------------------------------------------------------

#: The last day of the financial years the flexible use of capital receipts direction covers.
FLEXIBLE_RECEIPTS_LAST_DAY: Final[date] = date(2030, 3, 31)
