"""A ranked group as a ready-to-run partnership scenario (``match --write DIR``).

The scenario is the ``shared-services`` template (its economics, bond, PWLB benchmark and
risk) with the group put in: its members as partners (net revenue expenditure as the
baseline, cost and savings shares from the chosen rule), one set-up cost and one savings
stream per shared line from the scale curves, and the distance cost as a running cost.
The programme's present value is then the group's NPV as ``match`` ranks it (the same
discounting, the same ramps; tested), and the bond is sized to the set-up costs.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from dataclasses import dataclass
from typing import Any

import numpy as np

from bondmodel.defaults import DEFAULT_TEMPLATE
from bondmodel.errors import ScenarioError
from bondmodel.market.economics import SERVICE_LINES
from bondmodel.market.match import Group, MatchResult
from bondmodel.market.shares import RULES
from bondmodel.scenario.export import scenario_toml
from bondmodel.scenario.loader import parse_scenario, template_path

#: Longest bond written (years), and its grace period, within the appraisal horizon.
BOND_TENOR_YEARS = 10
BOND_GRACE_YEARS = 2


@dataclass(frozen=True)
class Written:
    """One scenario to write: its file name, its text."""

    name: str
    text: str


def group_scenario(result: MatchResult, group: Group, rule: str) -> dict[str, Any]:
    """The scenario of ``group`` as a mapping, its shares from ``rule`` (validated by the
    caller with :func:`~bondmodel.scenario.loader.parse_scenario`)."""
    reg = result.register
    market = result.market
    a = market.economics.appraisal
    data = tomllib.loads(template_path(DEFAULT_TEMPLATE).read_text(encoding="utf-8"))
    names = [reg.names[i] for i in group.members]
    shares = _shares(group, rule, names)
    data["meta"]["name"] = f"Shared services: {_short(names)}"[:120]
    data["meta"]["description"] = (
        f"Written by bondmodel match from {reg.path.name}: rank {group.rank} of the "
        f"partnerships found, NPV {group.value:,.0f} over {a.horizon_years} years; cost and "
        f"savings shares by {RULES[rule]}. Set-up costs are the scale curves' before optimism "
        "bias (optimism_bias = 0): set each item's optimism bias before relying on the bond."
    )
    data["timeline"]["horizon_years"] = a.horizon_years
    if not math.isclose(a.discount_rate, 0.035):
        data["economics"]["discount_basis"] = "flat"
        data["economics"]["discount_rate"] = a.discount_rate
    data["partners"] = [
        {
            "name": name,
            "baseline_expenditure": float(reg.revenue[i]),
            "cost_share": share,
            "savings_share": share,
        }
        for name, i, share in zip(names, group.members, shares, strict=True)
    ]
    costs, savings = [], []
    for k, line in enumerate(market.lines):
        if not group.values.shared[0, k]:
            continue
        econ = market.economics.line(line)
        label = SERVICE_LINES[line]
        costs.append(
            {
                "name": f"Set-up: {label} shared service",
                "amount": float(group.values.setup[0, k]),
                "category": "programme",
                "timing": "at_close",
                "optimism_bias": 0.0,
            }
        )
        savings.append(
            {
                "name": f"{label} shared service",
                "annual_amount": float(group.values.gross[0, k]),
                "ramp": {"type": "linear", "years": econ.ramp_years},
                "start_delay_years": econ.start_delay_years,
                "erosion": 0.0,
                "allocation": "shares",
            }
        )
    data["costs"] = costs
    data["savings"] = savings
    data["running_costs"] = (
        [
            {
                "name": "Working across sites (distance cost)",
                "annual_amount": group.penalty,
                "start_year": 1,
                "indexation": "inflation",
            }
        ]
        if group.penalty > 0
        else []
    )
    tenor = min(BOND_TENOR_YEARS, a.horizon_years)
    data["bond"]["tenor_years"] = tenor
    data["bond"]["grace_years"] = min(BOND_GRACE_YEARS, tenor - 1)
    return data


def _short(names: list[str]) -> str:
    short = [re.sub(r" (Borough |District |County )?Council$", "", n) for n in names]
    return ", ".join(short[:-1]) + f" and {short[-1]}"


def _shares(group: Group, rule: str, names: list[str]) -> list[float]:
    """Each member's fraction of the group's value by ``rule``, summing to 1 exactly."""
    fractions = group.shares.shares(rule)
    low = int(np.argmin(fractions))
    if fractions[low] < 0:
        raise ScenarioError(
            f"--rule {rule}: gives {names[low]} a negative share ({fractions[low]:.4f}) of "
            f"rank {group.rank}'s value; allowed: a rule giving every member 0 or more "
            f"(try {', '.join(r for r in RULES if r != rule)})"
        )
    shares = [float(f) for f in fractions]
    big = int(np.argmax(fractions))
    shares[big] = 1.0 - math.fsum(s for j, s in enumerate(shares) if j != big)
    return shares


def slug(result: MatchResult, group: Group) -> str:
    """The group's file name: its rank and its members' identifiers."""
    ids = "-".join(result.register.identifiers[i] for i in group.members)
    text = re.sub(r"[^a-z0-9-]+", "-", ids.lower()).strip("-")[:80]
    return f"{group.rank:02d}-{text}.toml"


def scenarios(result: MatchResult, rule: str, command: str) -> list[Written]:
    """Every ranked group's scenario, validated, as text (nothing is written here)."""
    digest = hashlib.sha256(result.register.path.read_bytes()).hexdigest()
    out = []
    for group in result.groups:
        data = group_scenario(result, group, rule)
        scenario = parse_scenario(data, source=f"{slug(result, group)} (written by match)")
        header = (
            f"# bondmodel scenario written by `{command}`\n"
            f"# from the register {result.register.path} (SHA-256 {digest}):\n"
            f"# partnership ranked {group.rank}, NPV {group.value:,.0f}, shares by "
            f"{RULES[rule]}.\n"
            "# Set-up costs are the scale curves' (docs/methodology.md section 25) before\n"
            "# optimism bias: set optimism_bias (or ob_band / ob_mitigation) on each cost.\n\n"
        )
        out.append(Written(slug(result, group), header + scenario_toml(scenario)))
    return out
