"""A synthetic pool of N councils, for benchmarks and scale tests.

Every member is a small limited-recourse programme (costs, one savings stream with a
ramp, an amortising loan) whose size and risks vary with the member's number through a
generator seeded by ``seed``: the same N and seed always give the same pool, and member
i is the same in a pool of any size (its parameters come from its own stream).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np

from bondmodel.pool.loader import Portfolio, parse_portfolio


def synthetic_member(i: int, years: int = 25, seed: int = 0) -> dict[str, Any]:
    """Member ``i``'s scenario table: a council with a programme of 1-20 million pounds
    and a loan of ``years - 5`` years (legal maturity ``years``)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(i,))))
    cost = float(np.round(rng.uniform(1e6, 2e7), -3))
    yield_ = float(rng.uniform(0.2, 0.45))  # steady annual saving per pound of cost
    start = date(2026, 4, 1)
    tenor = max(years - 5, 1)
    return {
        "meta": {"name": f"Synthetic council {i}", "base_date": start},
        "timeline": {"start_date": start, "frequency": "annual", "horizon_years": years},
        "economics": {"inflation": 0.02},
        "partners": [{"name": f"Council {i}", "baseline_expenditure": 50 * cost}],
        "costs": [
            {
                "name": "Transformation",
                "amount": cost,
                "category": "programme",
                "timing": "spread",
                "periods": 2,
            }
        ],
        "running_costs": [],
        "savings": [
            {
                "name": "Savings",
                "annual_amount": float(np.round(cost * yield_, -3)),
                "ramp": {"type": "linear", "years": 3},
                "start_delay_years": 1,
                "erosion": 0.02,
            }
        ],
        "bond": {
            "principal": "sized",
            "tenor_years": float(tenor),
            "legal_maturity_years": float(years),
            "grace_years": 2.0,
            "coupon": {"type": "fixed", "rate": 0.05},
            "repayment": {"type": "annuity"},
            "recourse": "limited",
        },
        "risk": {
            "inputs": [
                {
                    "name": "realisation",
                    "target": "savings.realisation",
                    "distribution": {"type": "pert", "min": 0.2, "mode": 0.85, "max": 1.3},
                },
                {
                    "name": "overrun",
                    "target": "costs.overrun",
                    "distribution": {"type": "lognormal", "p10": 0.95, "p90": 1.3},
                },
                {
                    "name": "inflation",
                    "target": "economics.inflation",
                    "distribution": {"type": "normal", "mean": 0.02, "sd": 0.01},
                },
            ]
        },
    }


def synthetic_portfolio_data(
    n: int, years: int = 25, seed: int = 0, delivery: float = 0.2
) -> dict[str, Any]:
    """The portfolio table of a synthetic pool of ``n`` members (see module docstring):
    three tranches, a 2% reserve, a joint-and-several guarantee capped at 5% of each loan,
    common inflation and a delivery loading of ``delivery``."""
    return {
        "name": f"Synthetic pool of {n} councils",
        "bond": {
            "tenor_years": float(years),
            "coupon": {"type": "fixed", "rate": 0.045},
            "repayment": {"type": "bullet"},
        },
        "members": [
            {"name": f"Council {i}", "inline": synthetic_member(i, years, seed)} for i in range(n)
        ],
        "tranches": [
            {"name": "senior", "share": 0.85, "coupon_rate": 0.035},
            {"name": "mezzanine", "share": 0.1, "coupon_rate": 0.05},
            {"name": "junior", "share": 0.05, "coupon_rate": 0.07},
        ],
        "reserve": {"share": 0.02},
        "guarantee": {"type": "joint_and_several", "cap": 0.05},
        "factors": {"inflation": 1.0, "delivery": delivery},
    }


def synthetic_portfolio(n: int, years: int = 25, seed: int = 0, delivery: float = 0.2) -> Portfolio:
    """A validated synthetic pool of ``n`` members (:func:`synthetic_portfolio_data`)."""
    return parse_portfolio(
        synthetic_portfolio_data(n, years, seed, delivery), source=f"synthetic pool of {n}"
    )
