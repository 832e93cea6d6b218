"""Pooled invest-to-save bonds: many councils' programmes behind one bond.

``load_portfolio`` reads a portfolio file, ``run_pool`` simulates it jointly and returns
:class:`PoolResults`, ``write_pool_workbook`` writes their workbook;
``synthetic.synthetic_portfolio`` builds an N-member pool for benchmarks.
docs/methodology.md ("Pooled bonds") gives the equations, docs/user-guide.md an example.
The names are imported when first used, so that the command line's parser can load
``pool.command`` without numpy or pandas (as ``bondmodel/__init__.py`` does).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bondmodel.pool.loader import Portfolio, load_portfolio, parse_portfolio
    from bondmodel.pool.model import PoolModel, member_seed
    from bondmodel.pool.results import PoolResults, run_pool
    from bondmodel.pool.workbook import write_pool_workbook

#: Each public name and the module it comes from.
_PUBLIC = {
    "Portfolio": "bondmodel.pool.loader",
    "load_portfolio": "bondmodel.pool.loader",
    "parse_portfolio": "bondmodel.pool.loader",
    "PoolModel": "bondmodel.pool.model",
    "member_seed": "bondmodel.pool.model",
    "PoolResults": "bondmodel.pool.results",
    "run_pool": "bondmodel.pool.results",
    "write_pool_workbook": "bondmodel.pool.workbook",
}

__all__ = [
    "PoolModel",
    "PoolResults",
    "Portfolio",
    "load_portfolio",
    "member_seed",
    "parse_portfolio",
    "run_pool",
    "write_pool_workbook",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'bondmodel.pool' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
