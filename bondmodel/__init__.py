"""bondmodel: model invest-to-save bonds end to end.

The public API::

    import bondmodel
    scenario = bondmodel.load_scenario("scenario.toml")   # or None for the default
    results = bondmodel.run(scenario)
    results.periods, results.partners, results.metrics
"""

from __future__ import annotations

__version__ = "0.1.0"

from bondmodel.engine import Results, run
from bondmodel.errors import BondModelError, ModelError, ScenarioError, WorkbookError
from bondmodel.scenario import Scenario, load_scenario, parse_scenario

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
