"""Defaults the command line shows in its help, in a module that imports nothing.

``bondmodel --help`` builds its parser from these without importing the scenario schema
(pydantic), numpy or pandas: start-up stays quick (benchmarks/bench_startup.py).
"""

from __future__ import annotations

from typing import Final

#: The built-in default scenario, run by ``bondmodel run`` with no scenario.
DEFAULT_TEMPLATE: Final = "shared-services"
