"""Scenario schema, loading and templates."""

from bondmodel.scenario.loader import (
    DEFAULT_TEMPLATE,
    list_templates,
    load_scenario,
    parse_scenario,
    template_path,
)
from bondmodel.scenario.schema import Scenario

__all__ = [
    "DEFAULT_TEMPLATE",
    "Scenario",
    "list_templates",
    "load_scenario",
    "parse_scenario",
    "template_path",
]
