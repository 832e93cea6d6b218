"""Writing a scenario back out as TOML, so a workbook alone can repeat its run."""

from __future__ import annotations

from typing import Any

import tomli_w
from pydantic import BaseModel

from bondmodel.scenario.schema import Scenario


def _without_none(value: Any) -> Any:
    """TOML has no null: drop unset optional fields; tuples become arrays."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_without_none(v) for v in value]
    return value


def toml_data(model: BaseModel) -> dict[str, Any]:
    """A validated model as the table TOML would hold: every default filled in, unset
    optional fields left out, tuples as arrays."""
    data: dict[str, Any] = _without_none(model.model_dump(mode="python"))
    return data


def scenario_toml(scenario: Scenario) -> str:
    """The scenario as TOML text, every default filled in.

    Loading this text gives back an equal scenario (tests/test_export.py).
    """
    return tomli_w.dumps(toml_data(scenario))
