"""A scenario written back as TOML loads to an equal scenario, for every template."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bondmodel import load_scenario, parse_scenario
from bondmodel.scenario.export import scenario_toml

from .conftest import TEMPLATES


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: Path(p).stem)
def test_scenario_round_trips_through_toml(template: Path) -> None:
    scenario = load_scenario(template)
    text = scenario_toml(scenario)
    again = parse_scenario(tomllib.loads(text))
    assert again == scenario
    assert again.sha256() == scenario.sha256()
