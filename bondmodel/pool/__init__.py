"""Pooled invest-to-save bonds: many councils' programmes behind one bond.

``load_portfolio`` reads a portfolio file, ``run_pool`` simulates it jointly and returns
:class:`PoolResults`; ``synthetic_portfolio`` builds an N-member pool for benchmarks.
docs/methodology.md ("Pooled bonds") gives the equations, docs/user-guide.md an example.
"""

from bondmodel.pool.loader import Portfolio, load_portfolio, parse_portfolio
from bondmodel.pool.model import PoolModel, member_seed
from bondmodel.pool.results import PoolResults, run_pool

__all__ = [
    "PoolModel",
    "PoolResults",
    "Portfolio",
    "load_portfolio",
    "member_seed",
    "parse_portfolio",
    "run_pool",
]
