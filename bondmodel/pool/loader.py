"""Reading a portfolio file: TOML, validated, each member's programme resolved.

Errors name the file, the field path (with the member's name), the value and what is
allowed, as the scenario loader's do; a member's scenario file is read by
:func:`~bondmodel.scenario.loader.load_scenario` and its inline table by
:func:`~bondmodel.scenario.loader.parse_scenario`, so their errors are the scenario's own,
prefixed with the member.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bondmodel.errors import ScenarioError
from bondmodel.pool.schema import Member, PortfolioFile
from bondmodel.scenario.fieldtypes import shown_value
from bondmodel.scenario.loader import MAX_SCENARIO_BYTES, _loc_text, load_scenario, parse_scenario
from bondmodel.scenario.located import LocatedError
from bondmodel.scenario.schema import Scenario


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
    if not path.is_file():
        what = "does not exist" if not path.exists() else "is not a file"
        raise ScenarioError(f"{path}: portfolio file {what}; give a TOML portfolio file")
    if path.stat().st_size > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{path}: portfolio file is larger than {MAX_SCENARIO_BYTES} bytes")
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8").removeprefix("\ufeff"))
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: is not a UTF-8 text file (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: is not valid TOML: {exc}") from None
    return parse_portfolio(data, base=path.parent, source=str(path))


def parse_portfolio(
    data: Mapping[str, Any], base: Path | None = None, source: str = "portfolio"
) -> Portfolio:
    """Validate a mapping (parsed TOML) into a :class:`Portfolio`; member files are read
    relative to ``base`` (default: the working directory)."""
    try:
        spec = PortfolioFile.model_validate(dict(data))
    except ValidationError as exc:
        raise ScenarioError(format_errors(exc, data, source)) from None
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
            try:
                scenario = load_scenario(file)
            except ScenarioError as exc:
                raise ScenarioError(f"{where}.scenario: {exc}") from None
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


def format_errors(exc: ValidationError, data: Mapping[str, Any], source: str) -> str:
    """pydantic's errors as lines of ``source: field.path: problem (got value)``."""
    lines = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if isinstance(p, int) or not _is_label(p)]
        ctx = err.get("ctx") or {}
        original = ctx.get("error")
        message = str(err["msg"]).removeprefix("Value error, ")
        show = True
        if isinstance(original, LocatedError):
            loc, message, show = [*loc, *original.loc], original.message, False
        elif err["type"] == "extra_forbidden":
            allowed = _allowed(loc[:-1])
            message = f"unknown key; allowed: {', '.join(allowed)}"
            show = False
        elif err["type"] == "missing":
            message, show = "is required but missing", False
        if show:
            message = f"{message} (got {shown_value(err.get('input'))})"
        lines.append(f"{source}: {_loc_text(loc, data) or '(top level)'}: {message}")
    return "\n".join(lines)


def _is_label(part: str) -> bool:
    """A union alternative's label that pydantic puts into an error location."""
    return part.startswith(("constrained-", "function-")) or part in ("float", "int", "str")


def _allowed(loc: list[Any]) -> list[str]:
    """The keys allowed in the table at ``loc``."""
    model: Any = PortfolioFile
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if _is_model(model) else None
        if field is None:
            return []
        model = _inner_model(field.annotation)
    return sorted(model.model_fields) if _is_model(model) else []


def _is_model(x: Any) -> bool:
    return isinstance(x, type) and issubclass(x, BaseModel)


def _inner_model(annotation: Any) -> Any:
    """The model inside ``X``, ``X | None`` or ``tuple[X, ...]`` (annotated or not)."""
    from typing import get_args

    if _is_model(annotation):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
