"""Changing one field of a scenario by its path, and the ``--vary`` grammar of ``sweep``.

A path names a field as the Inputs sheet does: ``bond.coupon.rate``,
``bond.tenor_years``, ``costs[0].amount``. The changed scenario is validated
again in full, so a value the schema refuses is an error naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bondmodel.errors import ScenarioError
from bondmodel.labels import FIELDS, Column, Unit
from bondmodel.scenario.loader import parse_scenario
from bondmodel.scenario.paths import FIELD_PATH, path_parts
from bondmodel.scenario.schema import Scenario
from bondmodel.workbook.inputs import input_unit

#: Most values one ``--vary`` may give (a range is expanded).
MAX_VALUES = 1_000


def parts_of(path: str) -> list[str | int]:
    """``costs[0].amount`` -> ``['costs', 0, 'amount']``; a clear error for a malformed path."""
    if not FIELD_PATH.match(path):
        raise ScenarioError(
            f"{path!r} is not a field path; write it as on the Inputs sheet, such as "
            "bond.coupon.rate, bond.tenor_years or costs[0].amount"
        )
    return path_parts(path)


def current_value(scenario: Scenario, path: str) -> Any:
    """The value of the field at ``path`` (an error names the missing part)."""
    node: Any = scenario.model_dump()
    for part in parts_of(path):
        node = _step(node, part, path)
    return node


def with_value(scenario: Scenario, path: str, value: Any) -> Scenario:
    """``scenario`` with the field at ``path`` set to ``value``, validated again."""
    data = scenario.model_dump()
    parts = parts_of(path)
    node: Any = data
    for part in parts[:-1]:
        node = _step(node, part, path)
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise ScenarioError(f"{path}: there is no item {last} here")
    elif not isinstance(node, dict) or last not in node:
        allowed = ", ".join(sorted(node)) if isinstance(node, dict) else "none"
        raise ScenarioError(f"{path}: the scenario has no field {last!r} here; fields: {allowed}")
    node[last] = value
    return parse_scenario(data, source=f"{path} = {value!r}")


def _step(node: Any, part: str | int, path: str) -> Any:
    if isinstance(part, int):
        if isinstance(node, list | tuple) and part < len(node):
            return node[part]
        raise ScenarioError(f"{path}: there is no item {part} here")
    if isinstance(node, dict) and part in node:
        if node[part] is None:
            raise ScenarioError(f"{path}: {part!r} is not set in this scenario")
        return node[part]
    allowed = ", ".join(sorted(node)) if isinstance(node, dict) else "none"
    raise ScenarioError(f"{path}: the scenario has no field {part!r} here; fields: {allowed}")


#: The display unit of a field outside the labels table, from its unit on the Inputs sheet.
_INPUT_UNITS: dict[str, Unit] = {
    "£": "money",
    "£ a year": "money",
    "£, 'sized' or 'dscr'": "money",
    "£ nominal": "money",
    "£ nominal a year": "money",
    "factor": "factor",
    "rate a year": "rate",
    "share": "rate",
    "share of principal": "rate",
    "share of spend": "rate",
    "years": "years",
    "years after close": "years",
    "ratio": "ratio",
    "fraction of par": "factor",
    "months": "count",
    "period": "count",
    "periods": "count",
    "programme year": "count",
    "paths": "count",
}


def field_column(path: str, scenario: Scenario | None = None) -> Column:
    """A field's label in words and its display unit, for a sweep's axis or a solve's answer.

    From the labels table (``labels.FIELDS``) where the field is there, else the path in
    words with the unit the Inputs sheet gives it. A list item is named: "One-off cost
    (Systems)" for ``costs[0].amount``.
    """
    key = re.sub(r"\[\d+\]", "[]", path)
    found = FIELDS.get(key)
    if found is None:
        unit = _INPUT_UNITS.get(input_unit(path), "count")
        words = re.sub(r"\[(\d+)\]", lambda m: f" {int(m.group(1)) + 1}", path)
        words = words.replace(".", " ").replace("_", " ")
        found = Column(words[:1].upper() + words[1:], unit)
    index = re.search(r"^([a-z_]+)\[(\d+)\]", path)
    if found.label and index is not None and scenario is not None:
        items = getattr(scenario, index.group(1), ())
        i = int(index.group(2))
        name = getattr(items[i], "name", None) if i < len(items) else None
        if name and key in FIELDS:
            found = Column(f"{found.label} ({name})", found.unit)
    return found


@dataclass(frozen=True)
class Variation:
    """One ``--vary PATH=VALUES``: a field and the values it takes."""

    path: str
    values: tuple[Any, ...]


def parse_vary(text: str, scenario: Scenario) -> Variation:
    """Parse ``PATH=LO:HI:STEP`` (a range, both ends included) or ``PATH=V1,V2,...``.

    Values take the type of the field's current value (a whole number stays
    whole, a string stays a string).
    """
    if "=" not in text:
        raise ScenarioError(
            f"variations: {text!r} should be PATH=LO:HI:STEP or PATH=V1,V2,... "
            "(such as bond.coupon.rate=0.03:0.07:0.005)"
        )
    path, _, spec = text.partition("=")
    path = path.strip()
    current = current_value(scenario, path)
    if isinstance(current, tuple | list):
        raise ScenarioError(list_field_message("--vary", path, current))
    if ":" in spec:
        pieces = spec.split(":")
        if len(pieces) != 3:
            raise ScenarioError(f"--vary {path}: a range is LO:HI:STEP, got {spec!r}")
        lo, hi, step = (_number(p, path) for p in pieces)
        if step <= 0 or hi < lo:
            raise ScenarioError(
                f"--vary {path}: the range {spec} needs LO <= HI and a positive STEP"
            )
        count = math.floor((hi - lo) / step + 1e-9) + 1
        if count > MAX_VALUES:
            raise ScenarioError(f"--vary {path}: {count} values; at most {MAX_VALUES}")
        raw: list[Any] = [round(lo + i * step, 12) for i in range(count)]
    else:
        raw = [p.strip() for p in spec.split(",") if p.strip()]
        if not raw:
            raise ScenarioError(f"--vary {path}: no values given")
    values = tuple(_typed(v, current, path) for v in raw)
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if numbers:
        # past the schema's bounds: refused now, before the seed, not mid-sweep
        domain = field_domain(scenario, path)
        outside = [v for v in numbers if not domain.contains(float(v))]
        if outside:
            raise ScenarioError(
                f"--vary {path}: {outside[0]:g} is outside the field's values; allowed: "
                f"{domain.describe()}"
            )
    return Variation(path, values)


def list_field_message(flag: str, path: str, current: Sequence[Any]) -> str:
    """Why ``flag`` refuses a field that holds a list (an inflation path, a cost profile, a
    reference-rate path): it sets one value, and which one to give instead."""
    shown = ", ".join(str(v) for v in current[:4]) + (", ..." if len(current) > 4 else "")
    last = len(current) - 1
    return (
        f"{flag} {path}: the scenario holds a list of {len(current)} values here ([{shown}]), "
        f"and {flag} sets one number; allowed: one of its items, {path}[0] to {path}[{last}], "
        "or make the field a single number in the scenario first"
    )


def _number(text: str, path: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ScenarioError(f"--vary {path}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ScenarioError(f"--vary {path}: {text!r} is not a finite number")
    return value


def _typed(value: Any, current: Any, path: str) -> Any:
    """``value`` in the type of the field's current value."""
    if isinstance(current, bool):
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise ScenarioError(f"--vary {path}: {value!r} should be true or false")
    if isinstance(current, int):
        number = _number(str(value), path)
        if number != int(number):
            raise ScenarioError(f"--vary {path}: {value!r} should be a whole number")
        return int(number)
    if isinstance(current, float):
        return _number(str(value), path)
    if isinstance(current, str) and isinstance(value, str):
        try:
            return float(value)  # e.g. principal: "sized" or a number
        except ValueError:
            return value
    return value


@dataclass(frozen=True)
class Domain:
    """The values a numeric field may take by the schema: its bounds (None: unbounded) and
    its step (1 for whole numbers and for years, None for a continuous field)."""

    low: float | None
    high: float | None
    low_open: bool
    high_open: bool
    step: float | None

    def contains(self, x: float) -> bool:
        if self.low is not None and (x < self.low or (self.low_open and x == self.low)):
            return False
        return self.high is None or not (x > self.high or (self.high_open and x == self.high))

    def describe(self) -> str:
        """The bounds in words: ``> 0 and <= 100``, or ``any value``."""
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return " and ".join(parts) or "any value"

    def check_range(self, flag: str, path: str, low: float, high: float) -> None:
        """Refuse a search range ``low``:``high`` that leaves the field's values: a search
        would evaluate structures the schema refuses, and report them as merely infeasible."""
        for end in (low, high):
            if not self.contains(end):
                raise ScenarioError(
                    f"{flag} {low:g}:{high:g} for {path}: {end:g} is outside the field's "
                    f"values; allowed: a range within {self.describe()}"
                )


def field_domain(scenario: Scenario, path: str) -> Domain:
    """The schema's bounds of the field at ``path`` (``gt``, ``ge``, ``lt``, ``le``) and its
    step: whole numbers for an integer field, whole years for a field in years."""
    parts = parts_of(path)
    if isinstance(parts[-1], int) and len(parts) > 1:
        # an item of a list field (one year of an inflation path): the list's item type
        # holds the bounds, found by _constraints inside the field's annotation
        parts = parts[:-1]
    model: Any = scenario
    for part in parts[:-1]:
        model = model[part] if isinstance(part, int) else getattr(model, part)
    name = parts[-1]
    fields = getattr(type(model), "model_fields", {})
    if not isinstance(name, str) or name not in fields:
        raise ScenarioError(f"{path}: not a field of the scenario")
    info = fields[name]
    low = high = None
    low_open = high_open = False
    for rule in _constraints(info.metadata, info.annotation):
        for attr, is_low, is_open in (
            ("gt", True, True),
            ("ge", True, False),
            ("lt", False, True),
            ("le", False, False),
        ):
            bound = getattr(rule, attr, None)
            if bound is None:
                continue
            if is_low:
                low, low_open = float(bound), is_open
            else:
                high, high_open = float(bound), is_open
    current = current_value(scenario, path)
    whole = (isinstance(current, int) and not isinstance(current, bool)) or name.endswith("_years")
    return Domain(low, high, low_open, high_open, 1.0 if whole else None)


def _constraints(metadata: list[Any], annotation: Any) -> list[Any]:
    """The constraint objects of a field: its own, and those inside an ``Annotated`` member
    of an optional type (``Annotated[float, Field(gt=0)] | None``)."""
    import typing

    found = list(metadata)
    for arg in typing.get_args(annotation):
        if typing.get_origin(arg) is typing.Annotated:
            for meta in typing.get_args(arg)[1:]:
                found += [*getattr(meta, "metadata", []), meta]
        else:
            found += _constraints([], arg)  # a list's item type: FrozenList[Rate]
    return found
