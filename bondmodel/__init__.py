"""bondmodel: model invest-to-save bonds end to end.

The public API::

    import bondmodel
    scenario = bondmodel.load_scenario("scenario.toml")   # or None for the default
    results = bondmodel.run(scenario)
    results.periods, results.partners, results.metrics

The names are imported when first used (PEP 562), so ``import bondmodel.cli`` is quick
and the command can install its signal handlers before numpy and pandas load.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from bondmodel.engine import Results, run
    from bondmodel.errors import BondModelError, ModelError, ScenarioError, WorkbookError
    from bondmodel.scenario import Scenario, load_scenario, parse_scenario

#: Each public name and the module it comes from.
_PUBLIC = {
    "Results": "bondmodel.engine",
    "run": "bondmodel.engine",
    "BondModelError": "bondmodel.errors",
    "ModelError": "bondmodel.errors",
    "ScenarioError": "bondmodel.errors",
    "WorkbookError": "bondmodel.errors",
    "Scenario": "bondmodel.scenario",
    "load_scenario": "bondmodel.scenario",
    "parse_scenario": "bondmodel.scenario",
}

__all__ = [
    "BondModelError",
    "ModelError",
    "Results",
    "Scenario",
    "ScenarioError",
    "WorkbookError",
    "__version__",
    "load_scenario",
    "parse_scenario",
    "run",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'bondmodel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
