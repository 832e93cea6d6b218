"""Properties of the funding routes over generated scenarios (hypothesis).

On any timeline, costs of any category, any route's terms and any savings on the path:

- the savings shortfall is split between the council and investors, each part at least
  zero, the investors' at most the whole, and none on the base case;
- a loan's lenders never bear any of it; an outcomes contract's payments never pass the cap;
- the capital receipts route leaves the programme's own NPV;
- each year's net budget effect is its parts added up; the CFR moves by what is borrowed less
  MRP; a loan repays what it lent;
- a borrowing route is lawful for the revenue costs exactly when there are none, or the
  council holds a capitalisation direction.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import date
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bondmodel import parse_scenario
from bondmodel.council.routes import route_views
from bondmodel.model import Model

EXAMPLES = int(os.environ.get("BONDMODEL_HYPOTHESIS_EXAMPLES", "150")) // 3
FREQ = {"annual": 1, "semi-annual": 2, "quarterly": 4}
REALISATION = np.array([1.0, 0.0, 0.35, 0.8, 1.6])


@st.composite
def route_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    frequency = draw(st.sampled_from(list(FREQ)))
    horizon = draw(st.integers(6, 20))  # the costs end by period 4
    term = draw(st.integers(1, horizon))
    costs = [
        {
            "name": f"Cost {i}",
            "amount": draw(st.floats(1e4, 2e7)),
            "category": draw(st.sampled_from(["it", "redundancy", "programme", "property"])),
            "timing": "spread",
            "start_period": draw(st.integers(0, 2)),
            "periods": draw(st.integers(1, 3)),
        }
        for i in range(draw(st.integers(1, 3)))
    ]
    routes: list[dict[str, Any]] = [
        {
            "name": "PWLB",
            "type": "pwlb",
            "gilt_yield": draw(st.floats(0.0, 0.08)),
            "rate_type": draw(st.sampled_from(["standard", "certainty"])),
            "loan_type": draw(st.sampled_from(["annuity", "eip", "maturity"])),
            "term_years": term,
        },
        {
            "name": "CMI",
            "type": "community_investment",
            "rate": draw(st.floats(0.0, 0.08)),
            "term_years": term,
            "repayment": draw(st.sampled_from(["bullet", "eip", "annuity"])),
        },
        {"name": "Receipts", "type": "capital_receipts"},
        {"name": "Reserves", "type": "reserves"},
        {
            "name": "Outcomes",
            "type": "outcomes_contract",
            "share": draw(st.floats(0.0, 1.0)),
            "cap_multiple": draw(st.floats(0.1, 3.0)),
            "term_years": term,
        },
    ]
    return {
        "meta": {"name": "Generated routes", "base_date": date(2026, 4, 1)},
        "timeline": {
            "start_date": date(2026, 4, 1),
            "frequency": frequency,
            "horizon_years": horizon,
            "align_to_financial_year": draw(st.booleans()),
        },
        "economics": {"inflation": draw(st.floats(0.0, 0.05))},
        "partners": [{"name": "Council", "baseline_expenditure": 3e8}],
        "costs": costs,
        "running_costs": [{"name": "Run", "annual_amount": draw(st.floats(0.0, 1e6))}],
        "savings": [
            {
                "name": "Savings",
                "annual_amount": draw(st.floats(1e5, 1e7)),
                "start_delay_years": draw(st.floats(0.0, 2.0)),
            }
        ],
        "council": {
            "net_revenue_stream": 3e8,
            "tax_base_band_d": 100_000.0,
            "opening_cfr": 2e8,
            "gross_debt": 1.5e8,
            "operational_boundary": 2.5e8,
            "authorised_limit": 2.6e8,
            "investment_rate": draw(st.floats(0.0, 0.06)),
            "capital_receipts": draw(st.lists(st.floats(0.0, 1e7), min_size=1, max_size=3)),
            "mrp_method": draw(st.sampled_from(["equal_instalment", "annuity"])),
            "mrp_life_years": draw(st.integers(1, 40)),
            "capitalisation_direction": draw(st.booleans()),
        },
        "routes": routes,
    }


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(route_scenarios())
def test_route_invariants(data: dict[str, Any]) -> None:
    scenario = parse_scenario(data)
    model = Model(scenario)
    draws = type(model.base_draws).central(scenario, paths=len(REALISATION))
    draws = dataclasses.replace(draws, savings_realisation=REALISATION[:, None].copy())
    ev = model.evaluate(draws)
    m = ev.path_metrics
    shortfall = np.maximum(model.base_pv_savings - ev.core["pv_savings"], 0.0)
    scale = 1e-9 * max(1.0, model.base_pv_savings)
    for k in range(len(model.routes)):
        council = m[f"route_council_shortfall_{k}"]
        investors = m[f"route_investor_shortfall_{k}"]
        assert np.all(council >= -scale) and np.all(investors >= 0.0)
        assert np.all(investors <= shortfall + scale)
        assert council + investors == pytest.approx(shortfall, abs=scale)
        assert abs(council[0]) <= scale and investors[0] == 0.0  # the base case
    # lenders are paid whatever the savings
    assert np.all(m["route_investor_shortfall_0"] == 0.0)
    assert np.all(m["route_investor_shortfall_1"] == 0.0)
    assert m["route_npv_2"] == pytest.approx(m["npv"], rel=1e-9, abs=1e-3)

    _years, _before, views = route_views(
        scenario, model.timeline, model.routes, model.base_flows, None, None
    )
    council_data = scenario.council
    assert council_data is not None
    revenue_categories = {"redundancy", "programme"}
    has_revenue = any(c["category"] in revenue_categories for c in data["costs"])
    for view in views:
        b = view.budget
        other = sum(x for x in (b.one_off_costs, b.outcome_payments) if x is not None)
        assert b.net == pytest.approx(
            b.running_costs + b.interest + b.mrp + other - b.savings, rel=1e-12, abs=1e-6
        )
        ind = view.indicators
        assert ind.cfr[-1] - council_data.opening_cfr == pytest.approx(
            (view.terms.amount if view.terms.borrowing else 0.0) - b.mrp.sum(),
            rel=1e-9,
            abs=1e-3,
        )
        assert np.all(ind.gross_debt >= council_data.gross_debt - 1e-6)
        if view.terms.borrowing:
            assert view.terms.principal.sum() == pytest.approx(view.terms.amount, rel=1e-9)
            assert view.lawful_for_revenue_costs == (
                not has_revenue or council_data.capitalisation_direction
            )
        else:
            assert view.lawful_for_revenue_costs
    outcomes = views[4]
    assert outcomes.budget.outcome_payments is not None
    route = scenario.routes[4] if scenario.routes else None
    assert route is not None and route.type == "outcomes_contract"
    assert outcomes.budget.outcome_payments.sum() <= (
        route.cap_multiple * outcomes.terms.amount * (1 + 1e-12) + 1e-6
    )
