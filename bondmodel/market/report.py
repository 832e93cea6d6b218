"""``match``'s result in words: the ranked table, why each group ranks there, fair shares; and
the same as JSON."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from bondmodel.display import text_table
from bondmodel.market.economics import SERVICE_LINES, economics_json
from bondmodel.market.match import Group, MatchResult
from bondmodel.market.shares import RULES, SAMPLES


def _m(value: float) -> str:
    """Pounds in millions, 2 decimals, negatives in brackets."""
    text = f"{abs(value) / 1e6:,.2f}"
    return f"({text})" if value < 0 else text


def _names(result: MatchResult, members: tuple[int, ...]) -> list[str]:
    return [result.register.names[i] for i in members]


def line_details(result: MatchResult, group: Group) -> list[dict[str, Any]]:
    """Each line the group shares: who takes part, who offers and seeks, its figures."""
    market = result.market
    v = group.values
    out = []
    for k, line in enumerate(market.lines):
        if not v.shared[0, k]:
            continue
        part = [group.members[j] for j in range(len(group.members)) if v.participants[0, j, k]]
        out.append(
            {
                "line": line,
                "label": SERVICE_LINES[line],
                "participants": [market.register.names[i] for i in part],
                "offer": [market.register.names[i] for i in part if market.offer[i, k]],
                "seek": [
                    market.register.names[i]
                    for i in part
                    if market.register.seek[i, market.register.lines.index(line)]
                ],
                "hosted": bool(v.hosted[0, k]),
                "annual_saving": float(v.gross[0, k]),
                "setup": float(v.setup[0, k]),
                "npv": float(v.gross[0, k] * market.ramp_factor[k] - v.setup[0, k]),
            }
        )
    return out


def why(result: MatchResult, group: Group) -> str:
    """Why the group ranks where it does, in one paragraph."""
    lines = line_details(result, group)
    a = result.market.economics.appraisal
    biggest = sorted(lines, key=lambda d: -d["npv"])[:3]
    hosted = [d for d in lines if d["hosted"]]
    unhosted = [d["label"] for d in lines if not d["hosted"]]
    text = (
        f"Shares {len(lines)} line(s); scale saves £{_m(group.annual_saving)}m a year "
        f"(most from {', '.join(d['label'] for d in biggest)}). "
        f"{len(hosted)} of {len(lines)} shared line(s) have a member that offers them"
        + (
            f"; {', '.join(unhosted)} would be built anew (set-up x{a.no_host_factor:g})"
            if unhosted
            else ""
        )
        + f". Members are {float(group.values.mean_km[0]):,.0f} km apart on average, "
        f"costing £{_m(group.penalty)}m a year. "
    )
    if group.rank > 1:
        best = result.groups[0]
        text += f"NPV £{_m(best.value - group.value)}m below rank 1."
    elif len(result.groups) > 1:
        text += f"NPV £{_m(group.value - result.groups[1].value)}m above rank 2."
    return text.strip()


def match_text(result: MatchResult, rule: str, width: int) -> str:
    """The ranked table, each group's members and why, and the first group's fair shares."""
    reg = result.register
    ranked = result.ranked
    a = result.market.economics.appraisal
    lines = [
        f"Register {reg.path}: {reg.size} councils in {len(set(reg.regions))} region(s); "
        f"service lines: {', '.join(result.market.lines)}",
        "The group given by --group, valued"
        if ranked.method == "given"
        else (
            f"Searched exhaustively: all {ranked.candidates:,} candidate groups of 2 to "
            f"{result.max_partners} councils valued"
            if ranked.method == "exhaustive"
            else f"Searched by local search from the {ranked.starts} best pairs: "
            f"{ranked.valued:,} of {ranked.candidates:,} candidate groups of 2 to "
            f"{result.max_partners} councils valued"
        )
        + (f", all holding {reg.names[result.required]}" if result.required is not None else "")
        + f"; {ranked.positive:,} with a positive NPV",
        f"Values: present value over {a.horizon_years} years at {a.discount_rate:.1%} real, "
        f"base-date prices, economics: {result.market.economics.source}",
        "",
    ]
    if not result.groups:
        lines.append("No group of these councils saves more than it costs to set up.")
        return "\n".join(lines)
    headers = [
        "Rank",
        "Councils",
        "Lines shared",
        "Saving a year (£m)",
        "Set-up (£m)",
        "Distance cost a year (£m)",
        "NPV (£m)",
        "Payback (years)",
        "Core",
    ]
    rows = [
        [
            str(g.rank),
            " ".join(reg.identifiers[i] for i in g.members),
            str(int(g.values.shared[0].sum())),
            _m(g.annual_saving),
            _m(g.setup),
            _m(g.penalty),
            _m(g.value),
            "none" if g.payback is None else f"{g.payback:.1f}",
            core_word(g),
        ]
        for g in result.groups
    ]
    note = (
        "Core: whether some split of the NPV leaves every member and every coalition at least "
        "as well off as on its own (EMPTY: none does)."
    )
    lines += [text_table(headers, rows, keep=2, width=width), "", *textwrap.wrap(note, width), ""]
    for g in result.groups:
        lines.append(f"{g.rank}. {', '.join(_names(result, g.members))}")
        lines += textwrap.wrap(why(result, g), width, initial_indent="   ", subsequent_indent="   ")
    lines += ["", *shares_text(result, result.groups[0], rule, width)]
    return "\n".join(lines)


def core_word(group: Group) -> str:
    """The table's core column: ``yes`` (a split satisfies every coalition), ``EMPTY``, or
    ``n/a`` (not checked above 12 members)."""
    core = group.shares.core
    if core is None:
        return "n/a"
    return "EMPTY" if core.empty else "yes"


def shares_text(result: MatchResult, group: Group, rule: str, width: int) -> list[str]:
    """The group's value split by every rule, and the core checks."""
    fs = group.shares
    names = _names(result, group.members)
    headers = ["Member", *(f"{r.capitalize()} (£m)" for r in RULES)]
    rows = [[name, *(_m(float(fs.payoffs[r][j])) for r in RULES)] for j, name in enumerate(names)]
    out = [
        f"Fair shares of rank {group.rank}'s NPV of £{_m(group.value)}m (--rule {rule} "
        "goes into --write's scenarios):",
        "",
        text_table(headers, rows, keep=1, width=width),
        "",
    ]
    if fs.shapley_error is not None:
        out.append(
            f"Shapley values sampled from {SAMPLES:,} random orders (seed {result.seed}) "
            f"(largest standard error £{_m(float(np.max(fs.shapley_error)))}m)."
        )
    if fs.core is None:
        out.append("Core: not checked (more than 12 members).")
        return out
    if fs.core.empty:
        out.append(
            f"Core: EMPTY. No split satisfies every coalition: the best leaves some coalition "
            f"£{_m(fs.core.epsilon)}m short of what it could make on its own."
        )
    else:
        out.append(
            "Core: not empty; a split exists that gives every member and every coalition at "
            "least what it could make on its own."
        )
    for r in RULES:
        members, excess = fs.worst[r]
        if excess <= fs.core.tolerance:
            out.append(f"  {r}: in the core (every member and coalition at least as well off)")
        else:
            who = ", ".join(names[j] for j in members)
            out.append(f"  {r}: outside the core: {who} would gain £{_m(excess)}m on their own")
    return out


def match_json(result: MatchResult, rule: str) -> dict[str, Any]:
    """The result as a JSON-ready mapping."""
    reg = result.register
    return {
        "register": {
            "path": str(reg.path),
            "councils": reg.size,
            "regions": sorted(set(reg.regions)),
            "lines": list(result.market.lines),
        },
        "economics": economics_json(result.market.economics),
        "search": {
            "method": result.ranked.method,
            "max_partners": result.max_partners,
            "council": None if result.required is None else reg.names[result.required],
            "candidates": result.ranked.candidates,
            "valued": result.ranked.valued,
            "positive": result.ranked.positive,
            "starts": result.ranked.starts,
        },
        "rule": rule,
        "groups": [group_json(result, g) for g in result.groups],
    }


def group_json(result: MatchResult, group: Group) -> dict[str, Any]:
    reg = result.register
    fs = group.shares
    core = None
    if fs.core is not None:
        core = {
            "empty": fs.core.empty,
            "least_core_epsilon": fs.core.epsilon,
            "rules": {
                r: {
                    "in_core": fs.worst[r][1] <= fs.core.tolerance,
                    "worst_coalition": [reg.names[group.members[j]] for j in fs.worst[r][0]],
                    "shortfall": fs.worst[r][1],
                }
                for r in RULES
            },
        }
    return {
        "rank": group.rank,
        "members": [
            {"name": reg.names[i], "identifier": reg.identifiers[i], "region": reg.regions[i]}
            for i in group.members
        ],
        "npv": group.value,
        "annual_saving": group.annual_saving,
        "setup": group.setup,
        "distance_cost_a_year": group.penalty,
        "mean_km": float(group.values.mean_km[0]),
        "payback_years": group.payback,
        "lines": line_details(result, group),
        "why": why(result, group),
        "shares": {r: [float(x) for x in fs.payoffs[r]] for r in RULES},
        "shapley_standard_error": None
        if fs.shapley_error is None
        else [float(x) for x in fs.shapley_error],
        "core": core,
    }
