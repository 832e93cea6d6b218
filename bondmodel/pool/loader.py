"""Reading a portfolio file: TOML, validated, each member's programme resolved.

Errors name the file, the field path (with the member's name), the value and what is
allowed, as the scenario loader's do; a member's scenario file is read by
:func:`~bondmodel.scenario.loader.load_scenario` and its inline table by
:func:`~bondmodel.scenario.loader.parse_scenario`, so their errors are the scenario's own,
prefixed with the member.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bondmodel.errors import ScenarioError
from bondmodel.io import same_file
from bondmodel.pool.schema import Member, PortfolioFile
from bondmodel.scenario.loader import (
    MAX_DEPTH as SCENARIO_DEPTH,
)
from bondmodel.scenario.loader import (
    format_validation_error,
    load_scenario,
    parse_scenario,
    read_toml_file,
    too_deep,
)
from bondmodel.scenario.schema import Scenario

#: Deepest nesting a portfolio file may have: a member's inline scenario sits three levels
#: down (members, the member, inline), so its own limit plus three.
MAX_DEPTH = SCENARIO_DEPTH + 3


@dataclass(frozen=True)
class Portfolio:
    """A validated portfolio: the file's settings and each member's validated scenario.

    Attributes
    ----------
    spec : the portfolio file as validated.
    scenarios : each member's scenario, in member order.
    source : where it was read from (for messages).
    """

    spec: PortfolioFile
    scenarios: tuple[Scenario, ...]
    source: str = "portfolio"

    @property
    def members(self) -> tuple[Member, ...]:
        """The members, in file order."""
        return self.spec.members


def load_portfolio(path: str | Path) -> Portfolio:
    """Read and validate a portfolio file and every member's scenario.

    Raises
    ------
    ScenarioError
        The file is missing, not TOML, or fails validation; or a member's scenario does.
        The message names the file, the field path, the bad value and what is allowed.
    """
    path = Path(path)
    data = read_toml_file(
        path, "portfolio", "start from templates/pools/pooled-programme.toml", depth=MAX_DEPTH
    )
    return parse_portfolio(data, base=path.parent, source=str(path))


def parse_portfolio(
    data: Mapping[str, Any], base: Path | None = None, source: str = "portfolio"
) -> Portfolio:
    """Validate a mapping (parsed TOML) into a :class:`Portfolio`; member files are read
    relative to ``base`` (default: the working directory)."""
    deep = too_deep(data, MAX_DEPTH)
    if deep is not None:
        raise ScenarioError(
            f"{source}: {deep}: nests tables or arrays more than {MAX_DEPTH} levels deep; "
            f"at most {MAX_DEPTH} are allowed (a portfolio with inline scenarios needs 7)"
        )
    try:
        spec = PortfolioFile.model_validate(dict(data))
    except ValidationError as exc:
        raise ScenarioError(
            format_validation_error(exc, data, source, root=PortfolioFile)
        ) from None
    base = base or Path()
    scenarios = []
    for i, member in enumerate(spec.members):
        where = f"{source}: members[{i}] ('{member.name}')"
        if member.scenario is not None:
            file = base / member.scenario
            if not file.is_file():
                raise ScenarioError(
                    f"{where}.scenario: {member.scenario!r} is not a file (looked for {file}); "
                    "give a scenario file's path relative to the portfolio file"
                )
            if same_file(file, Path(source)):
                raise ScenarioError(
                    f"{where}.scenario: {member.scenario!r} is the portfolio file itself; give "
                    "the member's scenario file (a scenario, not a portfolio)"
                )
            try:
                scenario = load_scenario(file)
            except ScenarioError as exc:
                # every line names the portfolio and the member, not only the first
                lines = str(exc).splitlines()
                raise ScenarioError(
                    "\n".join(f"{where}.scenario: {line}" for line in lines)
                ) from None
        else:
            assert member.inline is not None  # one of the two, checked by the schema
            scenario = parse_scenario(member.inline, source=f"{where}.inline")
        scenarios.append(_member_scenario(scenario, member, where))
    return Portfolio(spec, tuple(scenarios), source)


def _member_scenario(scenario: Scenario, member: Member, where: str) -> Scenario:
    """The member's scenario with its loan as the bond's principal; it must have a bond."""
    if scenario.bond is None:
        raise ScenarioError(
            f"{where}: its scenario has no [bond] section; a member borrows from the pool on "
            "the terms of its scenario's bond (give one, e.g. principal = 'sized')"
        )
    if member.loan is None:
        return scenario
    bond = scenario.bond.model_copy(update={"principal": float(member.loan), "sizing": None})
    return scenario.model_copy(update={"bond": bond})
