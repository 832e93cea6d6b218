"""Scale economics of shared services, per service line: cited defaults, overridable by TOML.

The defaults are data, as in :mod:`bondmodel.conventions`: each figure is either taken
from a source or calibrated to one by the arithmetic stated beside it, so a reviewer
checks them here and in ``docs/methodology.md`` section 25.2. A TOML file
(``bondmodel match --economics FILE``) overrides any of them.

The cost curve: a council producing volume :math:`q` of a service line at unit cost
:math:`c(q) = k q^{-\\varepsilon}` spends :math:`x = k q^{1-\\varepsilon}`; a shared service
producing the members' combined volume costs

.. math:: C(S) = \\Big(\\sum_{i \\in S} x_i^{\\,p}\\Big)^{1/p}, \\qquad p = 1/(1-\\varepsilon),

so the annual saving is :math:`\\sum_i x_i - C(S)` (:mod:`.value`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Final

from bondmodel.conventions import GREEN_BOOK_STPR
from bondmodel.errors import ScenarioError
from bondmodel.scenario.loader import read_toml_file

# ---------------------------------------------------------------------------
# Service lines: the revenue outturn's categories a register may hold (issue 20), each
# with the words a table shows. Their order is the order of every per-line array.
# ---------------------------------------------------------------------------

#: Each service line's key (the register's column prefix) and its label.
SERVICE_LINES: Final[dict[str, str]] = {
    "finance": "Finance",
    "hr": "HR and payroll",
    "it": "IT",
    "revenues_benefits": "Revenues and benefits",
    "legal": "Legal",
    "procurement": "Procurement",
    "waste": "Waste collection",
    "asc_commissioning": "Adult social care commissioning",
}

#: The back-office lines, which NLGN's 1.8% and 3.6% figures are about.
BACK_OFFICE: Final[tuple[str, ...]] = (
    "finance",
    "hr",
    "it",
    "revenues_benefits",
    "legal",
    "procurement",
)

# ---------------------------------------------------------------------------
# Calibration of the back-office lines.
# Sources: NLGN, "Shared Necessities: the next generation of shared services" (March 2011):
# sharing back offices saves 1.8% of total spending realistically, 3.6% at best; back-office
# functions are about 8.9% of total council expenditure (the same report, as quoted by
# D. Rees, PA Consulting, "Making shared services work in local government", The Guardian
# Public Leaders Network, 13 June 2011). So the saving on the back office itself is
# 1.8 / 8.9 = 20.2% (realistic) and 3.6 / 8.9 = 40.4% (best). For four equal councils (the
# shared-services template's partnership) the curve saves 1 - 4^(-e) of their combined
# spend, so e = ln(8.9 / (8.9 - 1.8)) / ln 4 = 0.1630 (realistic) and
# ln(8.9 / (8.9 - 3.6)) / ln 4 = 0.3739 (best); tests/test_market.py checks the arithmetic.
# Set-up cost: the shared-services template's one-off costs, 5,400,000 for four councils
# with 400,000,000 of spending, so 8.9% x 400m = 35.6m of back office: 10% of the combined
# spend of each line plus 75,000 per partner per line (0.10 x 35.6m + 4 x 6 x 75,000 =
# 5.36m). Transition: the template's savings start a year after close and ramp up
# linearly over three years.
# ---------------------------------------------------------------------------

#: NLGN's back-office share of total council spending.
BACK_OFFICE_SHARE_OF_SPEND: Final[float] = 0.089
#: NLGN's savings from sharing back offices, as fractions of total spending.
NLGN_REALISTIC_SAVING: Final[float] = 0.018
NLGN_BEST_SAVING: Final[float] = 0.036
#: The group size the elasticities are calibrated on (the shared-services template's).
CALIBRATION_GROUP: Final[int] = 4
#: Back-office elasticities calibrated to NLGN's realistic and best cases (rounded to 4 places).
BACK_OFFICE_ELASTICITY: Final[float] = 0.1630
BACK_OFFICE_ELASTICITY_BEST: Final[float] = 0.3739


@dataclass(frozen=True)
class LineEconomics:
    """The scale economics of one service line.

    Attributes
    ----------
    elasticity
        :math:`\\varepsilon`: unit cost falls as scale to the power :math:`-\\varepsilon`.
    setup_share
        One-off set-up cost as a fraction of the participants' combined annual spend.
    setup_per_partner
        One-off set-up cost per participating council, in pounds (base-date prices).
    start_delay_years
        Years after close before the line saves anything.
    ramp_years
        Years over which its saving then rises linearly to the steady state.
    source
        Where the figures come from, in words (shown by ``match --json``).
    """

    elasticity: float
    setup_share: float
    setup_per_partner: float
    start_delay_years: float
    ramp_years: float
    source: str


_NLGN = "calibrated to NLGN (2011) 1.8% of spending, back office 8.9%; set-up as the template"

#: The defaults, each line's figures and their source. The two frontline lines are
#: judgements bounded by the literature (docs/methodology.md section 25.2): Bel and
#: Warner (2015) and Bel and Sebo (2021) find scale savings from inter-municipal
#: cooperation mainly in capital-intensive services with high fixed costs such as waste
#: collection, and little in labour-intensive services, where Andrews and Boyne (2009)
#: also find administrative costs flat beyond a moderate size.
DEFAULT_LINES: Final[dict[str, LineEconomics]] = {
    **{
        line: LineEconomics(BACK_OFFICE_ELASTICITY, 0.10, 75_000.0, 1.0, 3.0, _NLGN)
        for line in BACK_OFFICE
    },
    "waste": LineEconomics(
        0.10,
        0.15,
        150_000.0,
        1.0,
        2.0,
        "judgement: Bel and Warner (2015), Bel and Sebo (2021): scale savings in waste",
    ),
    "asc_commissioning": LineEconomics(
        0.05,
        0.05,
        75_000.0,
        1.0,
        3.0,
        "judgement: Bel and Warner (2015): little scale economy in labour-intensive services",
    ),
}


@dataclass(frozen=True)
class Appraisal:
    """How a group's flows are valued and how distance costs it.

    Attributes
    ----------
    horizon_years
        Years of savings appraised (and the written scenario's horizon).
    discount_rate
        Real annual rate; the Green Book STPR for years 0-30 (:data:`GREEN_BOOK_STPR`).
    distance_cost
        Pounds a year each member pays per kilometre of its mean distance to the others
        (travel, split sites, governance): a judgement, docs/methodology.md section 25.3.
    km_per_hop
        Kilometres one step in the neighbour graph stands for, when the register gives
        neighbours instead of coordinates.
    max_distance_km
        Groups with two members further apart than this are not considered.
    no_host_factor
        Set-up cost multiplier for a line no participant offers (a service built anew
        rather than hosted by a council that already runs it).
    """

    horizon_years: int = 15
    discount_rate: float = GREEN_BOOK_STPR[0].rate
    distance_cost: float = 2_000.0
    km_per_hop: float = 15.0
    max_distance_km: float = 100.0
    no_host_factor: float = 1.5


@dataclass(frozen=True)
class Economics:
    """Every line's economics and the appraisal settings."""

    lines: dict[str, LineEconomics]
    appraisal: Appraisal
    source: str = "defaults"

    def line(self, key: str) -> LineEconomics:
        return self.lines[key]


def default_economics() -> Economics:
    """The cited defaults."""
    return Economics(dict(DEFAULT_LINES), Appraisal())


#: Each overridable number: (low, high, whole number?) with its meaning for messages.
_LINE_RANGES: Final[dict[str, tuple[float, float, str]]] = {
    "elasticity": (0.0, 0.9, "0 to 0.9"),
    "setup_share": (0.0, 5.0, "0 to 5 (a fraction of the combined annual spend)"),
    "setup_per_partner": (0.0, 1e9, "0 to 1e9 pounds"),
    "start_delay_years": (0.0, 10.0, "0 to 10 years"),
    "ramp_years": (0.0, 20.0, "0 to 20 years"),
}
_APPRAISAL_RANGES: Final[dict[str, tuple[float, float, str]]] = {
    "horizon_years": (1, 30, "a whole number of years from 1 to 30"),
    "discount_rate": (0.0, 0.2, "0 to 0.2"),
    "distance_cost": (0.0, 1e7, "0 to 1e7 pounds a year per km"),
    "km_per_hop": (0.0, 1000.0, "0 to 1000 km"),
    "max_distance_km": (0.0, 40_000.0, "0 to 40000 km"),
    "no_host_factor": (1.0, 10.0, "1 to 10"),
}
#: Largest economics file read.
MAX_ECONOMICS_BYTES: Final[int] = 1_000_000


def load_economics(path: Path) -> Economics:
    """The defaults with the overrides of the TOML file ``path``.

    The file has an optional ``[appraisal]`` table and ``[lines.KEY]`` tables, each
    giving any of a line's numbers; what it leaves out keeps its default.

    Raises
    ------
    ScenarioError
        Naming the file and the key (``lines.waste.elasticity``), the value and what is
        allowed, for a missing or unreadable file, an unknown key or line, or a number out
        of range.
    """
    data = read_toml_file(
        path, "economics", "give [appraisal] or [lines.KEY] tables", MAX_ECONOMICS_BYTES
    )
    economics = default_economics()
    unknown = set(data) - {"appraisal", "lines"}
    if unknown:
        raise ScenarioError(
            f"{path}: {sorted(unknown)[0]}: unknown table; allowed: appraisal, lines"
        )
    appraisal = _table(path, "appraisal", data.get("appraisal", {}))
    values = _numbers(path, "appraisal", appraisal, _APPRAISAL_RANGES)
    lines = dict(economics.lines)
    for key, table in _table(path, "lines", data.get("lines", {})).items():
        if key not in SERVICE_LINES:
            raise ScenarioError(
                f"{path}: lines.{key}: unknown service line; allowed: {', '.join(SERVICE_LINES)}"
            )
        given = _numbers(path, f"lines.{key}", _table(path, f"lines.{key}", table), _LINE_RANGES)
        lines[key] = replace(lines[key], **given, source=f"{path}")
    return Economics(lines, replace(economics.appraisal, **values), source=str(path))


def _table(path: Path, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(f"{path}: {where}: {value!r} is not a table; allowed: [{where}]")
    return value


def _numbers(
    path: Path, where: str, table: dict[str, Any], ranges: dict[str, tuple[float, float, str]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in ranges:
            raise ScenarioError(f"{path}: {where}.{key}: unknown key; allowed: {', '.join(ranges)}")
        low, high, allowed = ranges[key]
        whole = key == "horizon_years"
        ok_type = isinstance(value, int) if whole else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type:
            raise ScenarioError(f"{path}: {where}.{key}: {value!r}; allowed: {allowed}")
        if not (math.isfinite(value) and low <= value <= high):
            raise ScenarioError(f"{path}: {where}.{key}: {value!r}; allowed: {allowed}")
        out[key] = value if whole else float(value)
    return out


def economics_json(economics: Economics) -> dict[str, Any]:
    """The economics as a JSON-ready mapping (``match --json``)."""
    return {
        "source": economics.source,
        "appraisal": {f.name: getattr(economics.appraisal, f.name) for f in fields(Appraisal)},
        "lines": {
            key: {f.name: getattr(line, f.name) for f in fields(LineEconomics)}
            for key, line in economics.lines.items()
        },
    }
