"""Funding routes (issue 17, items 2-4) worked by hand, on the same draws, with their flags.

- A PWLB certainty-rate annuity route: its interest and MRP by financial year, its budget
  effect, Band D equivalent and Prudential Code indicators, written out as arithmetic.
- A capital-receipts route: receipts carried forward, never back; the rest on the budget.
- An outcomes contract whose savings fall short: investors bear their share of it.
- Every route on the same simulated paths: a route's per-path figures recomputed
  independently from the path's own programme flows for a few paths.
- Flags: borrowing for revenue costs without a direction, rate types without eligibility.
- Scenarios without routes: unchanged; adding routes changes nothing else.
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import numpy_financial as npf
import pytest

import bondmodel
from bondmodel.council.routes import receipts_applied
from bondmodel.model import Model
from bondmodel.scenario.loader import parse_scenario

ROOT = Path(__file__).resolve().parents[1]
ROUTES_SCENARIO = ROOT / "tests" / "scenarios" / "council-routes.toml"

#: 10,000,000 borrowed at the certainty rate on a 4.5% gilt: 5.3% (test_council_reference.py)
AMOUNT = 10_000_000.0
RATE = 0.053
#: The annuity's level payment and its first MRP (test_council_reference.py):
#: 10,000,000 x 0.053 / (1 - 1.053^-25) and 530,000 / (1.053^25 - 1)
LEVEL = 731_007.6857583746
MRP_1 = 201_007.68575837463


def council(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "net_revenue_stream": 200_000_000.0,
        "tax_base_band_d": 60_000.0,
        "opening_cfr": 150_000_000.0,
        "gross_debt": 120_000_000.0,
        "financing_costs": 8_000_000.0,
        "operational_boundary": 160_000_000.0,
        "authorised_limit": 170_000_000.0,
        "mrp_method": "annuity",
        "mrp_life_years": 25,
    }
    return base | changes


def hand_scenario(routes: list[dict[str, Any]], **council_changes: Any) -> dict[str, Any]:
    """One council, annual, 30 years, no inflation on the flows: 10,000,000 of IT at close
    (a capital cost, no uplift), 150,000 a year of running costs from year 1, 1,200,000 a
    year of savings from year 2."""
    return {
        "meta": {"name": "Hand-worked routes", "base_date": _date("2026-04-01")},
        "timeline": {
            "start_date": _date("2026-04-01"),
            "horizon_years": 30,
            "align_to_financial_year": True,
        },
        "economics": {"inflation": 0.02},
        "partners": [{"name": "Council", "baseline_expenditure": 200_000_000.0}],
        "costs": [
            {
                "name": "Systems",
                "amount": AMOUNT,
                "category": "it",
                "optimism_bias": 0.0,
                "indexed": False,
            }
        ],
        "running_costs": [{"name": "Licences", "annual_amount": 150_000.0, "indexation": "none"}],
        "savings": [
            {
                "name": "Redesign",
                "annual_amount": 1_200_000.0,
                "start_delay_years": 1.0,
                "indexation": "none",
            }
        ],
        "council": council(**council_changes),
        "routes": routes,
    }


def _date(text: str) -> Any:
    return tomllib.loads(f"d = {text}")["d"]


PWLB_CERTAINTY = {
    "name": "PWLB",
    "type": "pwlb",
    "gilt_yield": 0.045,
    "rate_type": "certainty",
    "loan_type": "annuity",
    "term_years": 25,
}


def test_a_pwlb_certainty_annuity_route_by_financial_year() -> None:
    results = bondmodel.run(parse_scenario(hand_scenario([PWLB_CERTAINTY])), paths=0)
    assert results.routes is not None
    budget = results.routes.budget
    assert budget["financial_year"].tolist()[:3] == ["2026/27", "2027/28", "2028/29"]
    # interest: year 1 10,000,000 x 0.053 = 530,000; year 2 (10,000,000 - 201,007.69) x 0.053
    assert budget["interest"][0] == pytest.approx(530_000.0, rel=1e-12)
    assert budget["interest"][1] == pytest.approx(519_346.5926548061, rel=1e-12)
    # MRP (annuity at the loan's rate, 25 years) starts the year after the spend: 0, then
    # 201,007.69 growing at 5.3% a year; interest + MRP = the level payment from year 2 to 25
    assert budget["mrp"][0] == 0.0
    assert budget["mrp"][1] == pytest.approx(MRP_1, rel=1e-12)
    assert budget["mrp"][2] == pytest.approx(MRP_1 * 1.053, rel=1e-12)
    # MRP runs one year behind the loan's principal: interest_y + MRP_y = the payment of
    # year y less the principal of year y plus the principal of year y - 1
    principal = LEVEL - budget["interest"].to_numpy()[:25]
    assert budget["mrp"][1:25].to_numpy() == pytest.approx(principal[:24], rel=1e-10)
    assert budget["mrp"].sum() == pytest.approx(AMOUNT, rel=1e-12)  # the whole debt
    # year 1: 150,000 running + 530,000 interest - 0 savings = 680,000; Band D 680,000 / 60,000
    assert budget["net"][0] == pytest.approx(680_000.0, rel=1e-12)
    assert budget["band_d"][0] == pytest.approx(11.333333333333334, rel=1e-12)
    # the net revenue stream is indexed to the year's end: 200,000,000 x 1.02
    assert budget["share_of_budget"][0] == pytest.approx(680_000.0 / 204_000_000.0, rel=1e-12)
    # year 2: 150,000 + 519,346.59 + 201,007.69 - 1,200,000 = -329,645.72
    assert budget["net"][1] == pytest.approx(
        150_000.0 + 519_346.5926548061 + MRP_1 - 1_200_000.0, rel=1e-12
    )
    summary = results.routes.summary.iloc[0]
    assert summary["rate"] == pytest.approx(RATE, rel=1e-15)
    assert summary["reserves_needed"] == pytest.approx(680_000.0, rel=1e-12)
    assert summary["lawful_for_revenue_costs"] == "yes"  # an IT system is a capital cost
    assert summary["flags"] == ""
    # Prudential: the CFR rises by the 10,000,000 spent at close and falls by MRP; gross debt
    # by the loan's balance after year 1's principal
    prudential = results.routes.prudential.set_index(["route", "financial_year"])
    first = prudential.loc[("PWLB", "2026/27")]
    assert first["cfr"] == pytest.approx(160_000_000.0, rel=1e-15)
    assert first["gross_debt"] == pytest.approx(130_000_000.0 - MRP_1, rel=1e-12)
    assert first["financing_costs"] == pytest.approx(8_530_000.0, rel=1e-12)
    assert prudential.loc[("PWLB", "2027/28")]["cfr"] == pytest.approx(160e6 - MRP_1, rel=1e-12)
    before = prudential.loc[("Before the programme", "2026/27")]
    assert before["cfr"] == 150e6 and before["financing_ratio"] == pytest.approx(8e6 / 204e6)
    # the loan repays with the level payment (numpy_financial.pmt agrees)
    assert float(npf.pmt(RATE, 25, -AMOUNT)) == pytest.approx(LEVEL, rel=1e-12)


def test_a_route_that_crosses_the_council_s_limits_is_flagged() -> None:
    # a boundary 5,000,000 above the opening debt: the 10,000,000 loan crosses it in year 1
    data = hand_scenario(
        [PWLB_CERTAINTY], operational_boundary=125_000_000.0, financing_ratio_limit=0.04
    )
    flags = bondmodel.run(parse_scenario(data), paths=0).routes.summary["flags"][0]  # type: ignore[union-attr]
    assert "crosses the operational boundary in year 1" in flags
    # financing costs 8,530,000 / 204,000,000 = 4.18% > 4%
    assert "financing costs exceed 4.00% of the net revenue stream in 2026/27" in flags


def test_receipts_are_carried_forward_never_back() -> None:
    # costs 1m a year; receipts 0.5m, 2m, 0: year 1 0.5m met (0.5m short), year 2 1m met
    # (1m carried forward), year 3 1m met from what was carried
    applied = receipts_applied(np.array([1e6, 1e6, 1e6]), np.array([5e5, 2e6, 0.0]))
    assert applied.tolist() == [5e5, 1e6, 1e6]


def test_a_capital_receipts_route() -> None:
    data = hand_scenario(
        [{"name": "Receipts", "type": "capital_receipts"}],
        capital_receipts=[4_000_000.0, 3_000_000.0],
    )
    data["costs"][0] |= {"category": "redundancy", "timing": "spread", "periods": 2}
    results = bondmodel.run(parse_scenario(data), paths=0)
    assert results.routes is not None
    budget = results.routes.budget
    # 5,000,000 in each of years 1 and 2; receipts 4,000,000 then 3,000,000: 1,000,000 of
    # year 1's costs fall on the budget, year 2's are met in full (3,000,000 of receipts)
    assert budget["one_off_costs"][:3].tolist() == pytest.approx([1e6, 2e6, 0.0], abs=1e-6)
    assert budget["interest"].sum() == 0.0 and budget["mrp"].sum() == 0.0
    assert budget["net"][0] == pytest.approx(150_000.0 + 1_000_000.0, rel=1e-12)
    summary = results.routes.summary.iloc[0]
    # the flexible use of capital receipts direction allows receipts to fund revenue costs
    assert summary["lawful_for_revenue_costs"] == "yes" and summary["borrowing"] == "no"
    assert "receipts cover 7,000,000 of 10,000,000" in summary["flags"]
    assert "3,000,000 falls on the revenue budget" in summary["flags"]
    # the CFR and gross debt do not move
    prudential = results.routes.prudential
    mine = prudential[prudential["route"] == "Receipts"]
    assert (mine["cfr"] == 150e6).all() and (mine["gross_debt"] == 120e6).all()


OUTCOMES = {
    "name": "Outcomes",
    "type": "outcomes_contract",
    "share": 0.4,
    "cap_multiple": 5.0,
    "term_years": 10,
}


def test_an_outcomes_contract_where_investors_bear_part_of_a_shortfall() -> None:
    model = Model(parse_scenario(hand_scenario([OUTCOMES])))
    base = Draws_with_realisation(model, [1.0, 0.5, 1.3])
    metrics = model.evaluate(base).path_metrics
    # payments: 0.4 x 1,200,000 = 480,000 a year in years 2..10 (the cap, 50,000,000, never
    # binds); on the path that saves half, the savings' PV falls by S and the payments' PV by
    # 0.4 S: the investors bear 0.4 S and the council 0.6 S
    council_part = metrics["route_council_shortfall_0"]
    investors = metrics["route_investor_shortfall_0"]
    assert council_part[0] == 0.0 and investors[0] == 0.0  # the base case: no shortfall
    assert council_part[2] == 0.0 and investors[2] == 0.0  # more savings: no shortfall
    core = model.evaluate(base).core
    shortfall = core["pv_savings"][0] - core["pv_savings"][1]
    assert shortfall > 0.0
    assert investors[1] == pytest.approx(0.4 * shortfall * _in_term(model), rel=1e-9)
    assert council_part[1] + investors[1] == pytest.approx(shortfall, rel=1e-12)
    # the council's cash flow: the investment at close, less the payments
    df = model.base_flows.discount_factors[0]
    ncf = model.base_flows.net_cash_flow[0].copy()
    pay = np.zeros_like(ncf)
    pay[2:11] = 480_000.0
    ncf[0] += AMOUNT
    expected = float(np.sum((ncf - pay) / model.base_flows.price_index[0] * df))
    assert metrics["route_npv_0"][0] == pytest.approx(expected, rel=1e-12)


def _in_term(model: Model) -> float:
    """The share of the savings' PV fall that falls within the contract's 10 years."""
    flows = model.base_flows
    pv = flows.gross_savings[0] / flows.price_index[0] * flows.discount_factors[0]
    return float(pv[:11].sum() / pv.sum())


def Draws_with_realisation(model: Model, realisation: list[float]) -> Any:  # noqa: N802
    draws = type(model.base_draws).central(model.scenario, paths=len(realisation))
    return dataclasses.replace(
        draws, savings_realisation=np.array(realisation, dtype=np.float64)[:, None]
    )


def test_every_route_sees_the_same_draws() -> None:
    scenario = bondmodel.load_scenario(ROUTES_SCENARIO)
    model = Model(scenario)
    _values, draws, rates = model.sample(11, "random", 0, 64)
    evaluation = model.evaluate(draws, rates)
    m = evaluation.path_metrics
    flows = evaluation.flows
    basis = flows.net_cash_flow / flows.price_index * flows.discount_factors
    # the bond route is the bond; capital receipts leave the programme's own cash flows
    assert np.array_equal(m["route_npv_0"], m["council_npv"])
    assert m["route_npv_3"] == pytest.approx(m["npv"], rel=1e-12)
    # a yearly PWLB route on this annual bond issued at close is the [pwlb] benchmark
    assert m["route_npv_1"] == pytest.approx(m["council_npv"] - m["council_npv_vs_pwlb"])
    amount = model.routes[1].amount
    for i in (0, 17, 63):
        # PWLB certainty annuity, 10 years at 4.6% + 0.8%, drawn at close, paid yearly
        ds = np.zeros(flows.net_cash_flow.shape[1])
        ds[1:11] = float(npf.pmt(0.054, 10, -amount))
        cash = flows.net_cash_flow[i] - ds
        cash[0] += amount
        pv = float(np.sum(cash / flows.price_index[i] * flows.discount_factors[i]))
        assert m["route_npv_1"][i] == pytest.approx(pv, rel=1e-11)
        # the community investment: 5 years at 4.2%, equal instalments of principal
        ds = np.zeros_like(ds)
        ds[1:6] = amount / 5 + 0.042 * amount * (1 - np.arange(5) / 5)
        cash = flows.net_cash_flow[i] - ds
        cash[0] += amount
        assert m["route_npv_4"][i] == pytest.approx(
            float(np.sum(cash / flows.price_index[i] * flows.discount_factors[i])), rel=1e-11
        )
        # the peak cash need of the receipts route is the programme's peak funding need
        assert m["route_peak_cash_3"][i] == pytest.approx(m["peak_funding_need"][i])
    # on these paths the savings vary, so some paths fall short and the NPVs differ
    assert np.ptp(basis.sum(axis=1)) > 0.0
    assert (m["route_council_shortfall_1"] > 0).any()
    # a loan's investors are paid whatever the savings: the council bears it all
    assert np.all(m["route_investor_shortfall_1"] == 0.0)
    shortfall = m["route_council_shortfall_1"]
    for k in range(7):
        total = m[f"route_council_shortfall_{k}"] + m[f"route_investor_shortfall_{k}"]
        assert total == pytest.approx(shortfall, rel=1e-12, abs=1e-6)


def test_a_simulation_reports_who_bears_the_shortfall() -> None:
    scenario = bondmodel.load_scenario(ROUTES_SCENARIO)
    results = bondmodel.run(scenario, paths=2_000, seed=5)
    assert results.routes is not None and results.routes.risk is not None
    risk = results.routes.risk.set_index("route")
    per_path = results.risk.per_path  # type: ignore[union-attr]
    outcomes = risk.loc["Outcomes contract"]
    assert outcomes["p_investor_shortfall"] > 0.0
    assert outcomes["mean_investor_shortfall"] == pytest.approx(
        float(per_path["route_investor_shortfall_6"].mean()), rel=1e-12
    )
    assert risk.loc["PWLB certainty annuity"]["p_investor_shortfall"] == 0.0
    summary = results.summary()
    assert [row["route"] for row in summary["routes"]["risk"]] == list(risk.index)


def test_borrowing_for_revenue_costs_is_flagged_unless_a_direction_is_held() -> None:
    data = tomllib.loads(ROUTES_SCENARIO.read_text(encoding="utf-8"))
    without = bondmodel.run(parse_scenario(data), paths=0).routes
    assert without is not None
    lawful = dict(
        zip(without.summary["route"], without.summary["lawful_for_revenue_costs"], strict=True)
    )
    assert lawful == {
        "Invest-to-save bond": "NO",
        "PWLB certainty annuity": "NO",
        "PWLB HRA maturity": "NO",
        "Flexible use of capital receipts": "yes",
        "Community municipal investment": "NO",
        "Reserves": "yes",
        "Outcomes contract": "yes",
    }
    flags = dict(zip(without.summary["route"], without.summary["flags"], strict=True))
    assert "NOT LAWFUL AS SET UP" in flags["PWLB certainty annuity"]
    assert "s.16(2)(b)" in flags["Invest-to-save bond"]
    assert "NOT ELIGIBLE: the PWLB HRA rate" in flags["PWLB HRA maturity"]
    with_direction = copy.deepcopy(data)
    with_direction["council"]["capitalisation_direction"] = True
    with_direction["routes"][2]["eligible"] = True
    routes = bondmodel.run(parse_scenario(with_direction), paths=0).routes
    assert routes is not None
    assert set(routes.summary["lawful_for_revenue_costs"]) == {"yes"}
    assert not any("NOT" in f for f in routes.summary["flags"])
    # capitalised revenue costs are provided for over 20 years, capital ones over the
    # council's asset life (10 years): the direction changes the MRP, nothing else
    a = without.budget[without.budget["route"] == "PWLB certainty annuity"]
    b = routes.budget[routes.budget["route"] == "PWLB certainty annuity"]
    assert np.array_equal(a["interest"].to_numpy(), b["interest"].to_numpy())
    assert a["mrp"].sum() == pytest.approx(b["mrp"].sum(), rel=1e-12)


def test_routes_change_nothing_else() -> None:
    data = tomllib.loads(ROUTES_SCENARIO.read_text(encoding="utf-8"))
    with_routes = bondmodel.run(parse_scenario(data), paths=300, seed=9).summary()
    plain = {k: v for k, v in data.items() if k not in ("council", "routes")}
    without = bondmodel.run(parse_scenario(plain), paths=300, seed=9).summary()
    assert "routes" not in without
    routes = with_routes.pop("routes")
    assert len(routes["summary"]) == 7
    # the scenario's hash differs (it holds more); every result does not
    with_routes["scenario"].pop("sha256")
    without["scenario"].pop("sha256")
    for key in ("metrics", "partners", "bond", "scenario"):
        assert with_routes[key] == without[key]
    # the simulation's every figure for the metrics both have is the same
    assert _common(with_routes["risk"], without["risk"]) == without["risk"]


def _common(value: Any, like: Any) -> Any:
    """``value`` cut down to the keys (and list length) of ``like``, recursively."""
    if isinstance(value, dict) and isinstance(like, dict):
        return {k: _common(value[k], like[k]) for k in like if k in value}
    if isinstance(value, list) and isinstance(like, list) and len(value) >= len(like):
        if all(isinstance(v, dict) and "metric" in v for v in like):
            found = [v for v in value if v.get("metric") in {w["metric"] for w in like}]
            return [_common(v, w) for v, w in zip(found, like, strict=False)]
        return value
    return value


def test_a_template_has_no_council_or_routes_and_keeps_its_hash() -> None:
    scenario = bondmodel.load_scenario(ROOT / "templates" / "shared-services.toml")
    assert scenario.council is None and scenario.routes is None
    assert '"routes"' not in scenario.canonical_json()
    assert '"council"' not in scenario.canonical_json()
    assert "routes" not in bondmodel.run(scenario, paths=0).summary()


def test_a_workbook_with_routes_reads_back_and_verifies(tmp_path: Path) -> None:
    from bondmodel.verification import verify
    from bondmodel.workbook.reader import read_scenario
    from bondmodel.workbook.writer import write_workbook

    scenario = bondmodel.load_scenario(ROUTES_SCENARIO)
    out = write_workbook(bondmodel.run(scenario, paths=0), tmp_path / "routes.xlsx")
    back = read_scenario(out)
    assert back == scenario and back.sha256() == scenario.sha256()
    assert verify(out).ok


def test_run_prints_the_routes_with_their_flags() -> None:
    from bondmodel.headline import headline_text

    results = bondmodel.run(bondmodel.load_scenario(ROUTES_SCENARIO), paths=0)
    text = headline_text(results, 200)
    assert results.routes is not None
    summary = results.routes.summary
    for _, row in summary.iterrows():
        line = next(x for x in text.splitlines() if x.startswith(row["route"] + "  "))
        assert f"£{row['max_band_d']:,.2f}" in line  # a Band D equivalent to the penny
        assert f"£{row['council_npv']:,.0f}" in line
    flagged = [x for x in text.splitlines() if "NOT LAWFUL AS SET UP" in x]
    assert {x.split(":")[0] for x in flagged} == {
        "Invest-to-save bond",
        "PWLB certainty annuity",
        "PWLB HRA maturity",
        "Community municipal investment",
    }
    plain = bondmodel.run(bondmodel.load_scenario(ROOT / "templates" / "shared-services.toml"), 0)
    assert "Funding route" not in headline_text(plain, 200)


@pytest.mark.spreadsheet
def test_a_routes_workbook_saved_by_libreoffice_reads_back_and_verifies(
    soffice: str, tmp_path: Path
) -> None:
    from bondmodel.verification import verify
    from bondmodel.workbook.reader import read_scenario
    from bondmodel.workbook.recalc import convert_many
    from bondmodel.workbook.writer import write_workbook

    scenario = bondmodel.load_scenario(ROUTES_SCENARIO)
    fresh = write_workbook(bondmodel.run(scenario, paths=0), tmp_path / "routes.xlsx")
    (saved,) = convert_many([fresh], tmp_path / "saved")
    # LibreOffice rewrote the booleans (capitalisation_direction, eligible) as =FALSE()
    back = read_scenario(saved)
    assert back == scenario and back.sha256() == scenario.sha256()
    report = verify(saved)
    assert report.ok, report.text()


def test_the_design_tools_measure_a_route() -> None:
    from bondmodel.design.measures import SharedDraws, evaluate, parse_measure
    from bondmodel.errors import ScenarioError

    scenario = bondmodel.load_scenario(ROUTES_SCENARIO)
    ev = evaluate("routes", scenario, SharedDraws(paths=400, seed=3))
    assert ev.results.routes is not None and ev.results.risk is not None
    per_path = ev.results.risk.per_path
    mean, se = parse_measure("mean(route_npv_1)").value(ev)
    assert mean == pytest.approx(float(per_path["route_npv_1"].mean()), rel=1e-12)
    assert se > 0.0
    base, _ = parse_measure("route_npv_1").value(ev)
    assert base == pytest.approx(float(ev.results.routes.summary["council_npv"][1]), rel=1e-12)
    p, _ = parse_measure("P(route_investor_shortfall_6)").value(ev)
    assert p == pytest.approx(float((per_path["route_investor_shortfall_6"] > 0).mean()))
    measure = parse_measure("P(route_investor_shortfall_6)")
    names = [r.name for r in scenario.routes or ()]
    assert measure.label(scenario.partner_names, routes=names) == (
        "Probability savings shortfall borne by investors (PV): Outcomes contract > £0"
    )
    assert measure.better.sign == -1 and measure.better.whom == "investors"
    assert parse_measure("mean(route_npv_0)").better.council
    with pytest.raises(ScenarioError, match="the scenario has 7 funding routes"):
        parse_measure("route_npv_9").value(ev)


def test_revenue_costs_after_the_direction_s_last_year_are_flagged() -> None:
    # from 1 April 2029: 5,000,000 of redundancy costs in each of 2029/30 and 2030/31; the
    # direction covers 2029/30 (it ends 31 March 2030), so 5,000,000 falls after it
    data = hand_scenario([{"name": "Receipts", "type": "capital_receipts"}], capital_receipts=[2e7])
    for key in ("base_date", "start_date"):
        section = "meta" if key == "base_date" else "timeline"
        data[section][key] = _date("2029-04-01")
    data["costs"][0] |= {"category": "redundancy", "timing": "spread", "periods": 2}
    flags = bondmodel.run(parse_scenario(data), paths=0).routes.summary["flags"][0]  # type: ignore[union-attr]
    assert "5,000,000 of revenue costs fall after 31 March 2030" in flags
    # a capital cost needs no direction: receipts may always finance it
    data["costs"][0]["category"] = "property"
    flags = bondmodel.run(parse_scenario(data), paths=0).routes.summary["flags"][0]  # type: ignore[union-attr]
    assert "after 31 March 2030" not in flags
