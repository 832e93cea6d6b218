"""Shared fixtures: scenario builders and the LibreOffice gate."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from bondmodel import Scenario, parse_scenario
from bondmodel.workbook.recalc import soffice_path

# CI runs a fixed, reproducible set of hypothesis examples; local runs explore anew.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((ROOT / "templates").glob("*.toml"))


def base_dict() -> dict[str, Any]:
    """A small valid scenario with round numbers, for hand-worked checks."""
    return {
        "meta": {"name": "Reference", "base_date": _d("2026-04-01")},
        "timeline": {"start_date": _d("2026-04-01"), "frequency": "annual", "horizon_years": 5},
        "economics": {"inflation": 0.0},
        "partners": [{"name": "A", "baseline_expenditure": 100_000_000.0}],
        "costs": [],
        "running_costs": [],
        "savings": [],
    }


def _d(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)


def deep_update(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``base`` with nested dict ``changes`` merged in (lists replaced)."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.fixture
def make_scenario() -> Callable[..., Scenario]:
    """Build a validated scenario from :func:`base_dict` plus nested overrides."""

    def build(**changes: Any) -> Scenario:
        return parse_scenario(deep_update(base_dict(), changes))

    return build


@pytest.fixture(scope="session")
def soffice() -> str:
    """The LibreOffice executable; the spreadsheet tests fail rather than skip under CI."""
    exe = soffice_path()
    if exe is None:
        if os.environ.get("BONDMODEL_REQUIRE_SOFFICE") == "1":
            pytest.fail("LibreOffice (soffice) is required but not installed")
        pytest.skip("LibreOffice (soffice) is not installed")
    return exe


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", default=False,
        help="rewrite the golden files under tests/golden from the current output",
    )
    parser.addoption(
        "--update-docs", action="store_true", default=False,
        help="rewrite the outputs quoted in docs/ from the tool's (tests/test_docs.py)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run should refresh the golden files instead of comparing."""
    return bool(request.config.getoption("--update-golden"))
