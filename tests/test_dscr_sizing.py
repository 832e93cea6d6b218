"""Sizing the bond to a DSCR target (``principal = "dscr"``), worked by hand.

docs/methodology.md, "Sizing to a DSCR target", gives the rules: a sculpted
profile's principal is the present value of CFADS / target at the coupon; any
other profile's is the largest whose scheduled debt service the CFADS covers at
the target in every amortising payment. Gearing = principal / (principal +
funding gap + one-off costs not financed); the funding gap is the financed uses
the net proceeds leave to the council.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bondmodel import Scenario, load_scenario, run
from bondmodel.errors import ModelError
from bondmodel.workbook.inputs import flatten
from bondmodel.workbook.reader import read_scenario
from bondmodel.workbook.recalc import convert_many
from bondmodel.workbook.writer import write_workbook

from .conftest import TEMPLATES
from .test_live_inputs import _disagreements
from .xlsx_tools import edit_inputs

Build = Callable[..., Scenario]

#: The reference case: CFADS of 500,000, 750,000, 1,000,000 and 1,000,000 in years 1-4.
CFADS = np.array([500_000.0, 750_000.0, 1_000_000.0, 1_000_000.0])


def reference(make_scenario: Build, repayment: dict[str, Any], **bond: Any) -> Any:
    """Four annual payments at 5%, a DSCR target of 1.25 and 2,000,000 of costs at close.

    Savings of 1,000,000 a year ramp in over 0.5, 0.75, 1 (no inflation, all pledged), so
    the CFADS is :data:`CFADS`.
    """
    terms = {
        "principal": "dscr",
        "sizing": {"target_dscr": 1.25},
        "tenor_years": 4.0,
        "coupon": {"type": "fixed", "rate": 0.05},
        "repayment": repayment,
        **bond,
    }
    scenario = make_scenario(
        timeline={"horizon_years": 4},
        costs=[
            {
                "name": "c",
                "amount": 2_000_000.0,
                "category": "it",
                "timing": "at_close",
                "contingency": 0.0,
                "optimism_bias": 0.0,
            }
        ],
        savings=[
            {
                "name": "s",
                "annual_amount": 1_000_000.0,
                "ramp": {"type": "explicit", "fractions": [0.5, 0.75, 1.0]},
            }
        ],
        bond=terms,
    )
    result = run(scenario).bond
    assert result is not None
    np.testing.assert_allclose(result.table["cfads"].to_numpy()[1:], CFADS, rtol=1e-12)
    return result


def test_sculpted_principal_is_the_present_value_of_cfads_over_the_target(
    make_scenario: Build,
) -> None:
    # Debt service = CFADS / 1.25 = 400,000, 600,000, 800,000, 800,000. At 5%:
    #   P = 400,000/1.05 + 600,000/1.05^2 + 800,000/1.05^3 + 800,000/1.05^4
    #     = 380,952.38 + 544,217.69 + 691,070.08 + 658,161.98 = 2,274,402.13
    # which exceeds the 2,000,000 of costs: 274,402.13 of surplus, no funding gap, and
    # gearing = P / (P + 0 + 0) = 1.
    bond = reference(make_scenario, {"type": "sculpted", "target_dscr": 1.25})
    assert bond.schedule.principal == pytest.approx(2_274_402.13, abs=0.01)
    table = bond.table
    np.testing.assert_allclose(
        (table["interest_paid"] + table["principal_paid"]).to_numpy()[1:],
        [400_000.0, 600_000.0, 800_000.0, 800_000.0],
        rtol=1e-9,
    )
    np.testing.assert_allclose(table["dscr"].to_numpy()[1:], 1.25, rtol=1e-9)
    assert table["closing_balance"].iloc[-1] == pytest.approx(0.0, abs=1e-6)
    assert bond.metrics["funding_gap"] == 0.0
    assert bond.metrics["gearing"] == pytest.approx(1.0, rel=1e-12)
    assert bond.sources_uses["surplus"] == pytest.approx(274_402.13, abs=0.01)


def test_level_principal_is_the_smallest_cover_as_an_annuity(make_scenario: Build) -> None:
    # Level (annuity) debt service L = min_k CFADS_k / 1.25 = 500,000 / 1.25 = 400,000;
    #   P = L (1 - 1.05^-4) / 0.05 = 400,000 x 3.545951 = 1,418,380.20.
    # Funding gap = 2,000,000 - 1,418,380.20 = 581,619.80 (no fee, no reserve);
    # gearing = 1,418,380.20 / (1,418,380.20 + 581,619.80) = 0.709190.
    # DSCR: 500/400 = 1.25, 750/400 = 1.875, 1,000/400 = 2.5, 2.5.
    bond = reference(make_scenario, {"type": "annuity"})
    assert bond.schedule.principal == pytest.approx(1_418_380.20, abs=0.01)
    assert bond.metrics["funding_gap"] == pytest.approx(581_619.80, abs=0.01)
    assert bond.metrics["gearing"] == pytest.approx(0.709190, abs=1e-6)
    assert bond.sources_uses["council_contribution"] == bond.metrics["funding_gap"]
    np.testing.assert_allclose(
        bond.table["dscr"].to_numpy()[1:], [1.25, 1.875, 2.5, 2.5], rtol=1e-9
    )


def test_eip_and_bullet_bind_where_their_debt_service_is_heaviest(make_scenario: Build) -> None:
    # EIP: payment 1 is P/4 + 5% P = 0.30 P <= 400,000 -> P = 1,333,333.33 (later payments
    # are lighter and the cash heavier). Bullet: the balloon 1.05 P <= 1,000,000 / 1.25 =
    # 800,000 -> P = 761,904.76; interest alone, 0.05 P = 38,095.24, is covered 13.1x in year 1.
    eip = reference(make_scenario, {"type": "eip"})
    assert eip.schedule.principal == pytest.approx(1_333_333.33, abs=0.01)
    assert eip.metrics["min_dscr"] == pytest.approx(1.25, rel=1e-9)
    bullet = reference(make_scenario, {"type": "bullet"})
    assert bullet.schedule.principal == pytest.approx(761_904.76, abs=0.01)
    assert bullet.table["dscr"].iloc[4] == pytest.approx(1.25, rel=1e-9)
    assert bullet.table["dscr"].iloc[1] == pytest.approx(13.125, rel=1e-9)


def structure(make_scenario: Build, repayment: dict[str, Any], **bond: Any) -> Any:
    """A harder case: quarterly timeline, semi-annual payments, costs over two years,
    indexed savings ramping in, fees, a reserve, a two-year grace."""
    terms = {
        "principal": "dscr",
        "sizing": {"target_dscr": 1.4},
        "tenor_years": 8.0,
        "payment_frequency": "semi-annual",
        "coupon": {"type": "fixed", "rate": 0.06},
        "repayment": repayment,
        "grace_years": 2.0,
        "grace_interest": "capitalised",
        "annual_fees": 20_000.0,
        "arrangement_fee": 0.01,
        "reserve": {"months": 6.0},
        "pledged_share": 0.8,
        **bond,
    }
    scenario = make_scenario(
        timeline={"frequency": "quarterly", "horizon_years": 10},
        economics={"inflation": 0.025},
        costs=[
            {"name": "c", "amount": 6_000_000.0, "category": "it", "timing": "spread", "periods": 8}
        ],
        savings=[
            {
                "name": "s",
                "annual_amount": 2_000_000.0,
                "ramp": {"type": "linear", "years": 3.0},
                "start_delay_years": 0.5,
            }
        ],
        bond=terms,
    )
    result = run(scenario).bond
    assert result is not None
    return result


COUPONS: list[dict[str, Any]] = [
    {"type": "fixed", "rate": 0.06},
    {"type": "index_linked", "real_rate": 0.01, "uplift_cap": 0.03},
    {"type": "floating", "reference_path": [0.02, 0.04, 0.05], "margin": 0.01},
]


@pytest.mark.parametrize("coupon", COUPONS, ids=lambda c: c["type"])
@pytest.mark.parametrize("grace_interest", ["capitalised", "paid"])
def test_a_sculpted_bond_sized_to_its_target_covers_exactly_that_every_amortising_period(
    make_scenario: Build, coupon: dict[str, Any], grace_interest: str
) -> None:
    bond = structure(
        make_scenario,
        {"type": "sculpted", "target_dscr": 1.4},
        coupon=coupon,
        grace_interest=grace_interest,
    )
    grid = bond.schedule.grid
    dscr = bond.table["dscr"].to_numpy()[grid.n_grace + 1 : grid.n_scheduled + 1]
    np.testing.assert_allclose(dscr, 1.4, rtol=1e-9)
    assert bond.table["closing_balance"].iloc[grid.n_scheduled] == pytest.approx(0.0, abs=1e-4)


def test_a_sculpted_profile_without_its_own_target_sculpts_to_the_sizing_target(
    make_scenario: Build,
) -> None:
    # the same bond with and without repayment.target_dscr = 1.4: identical contracts
    given = structure(make_scenario, {"type": "sculpted", "target_dscr": 1.4})
    implied = structure(make_scenario, {"type": "sculpted"})
    assert implied.schedule.terms.repayment.target_dscr is None
    assert implied.schedule.terms.sculpting_dscr == 1.4
    assert implied.schedule.principal == given.schedule.principal
    np.testing.assert_array_equal(implied.schedule.remaining, given.schedule.remaining)
    # a different sculpting target: the bond repays faster, the sized principal unchanged
    faster = structure(make_scenario, {"type": "sculpted", "target_dscr": 1.2})
    assert faster.schedule.principal == given.schedule.principal
    assert faster.metrics["wal_years"] < given.metrics["wal_years"]


@pytest.mark.parametrize("kind", ["eip", "annuity", "custom", "bullet"])
@pytest.mark.parametrize("coupon", COUPONS, ids=lambda c: c["type"])
def test_a_fixed_shape_bond_sized_to_a_target_meets_it_in_its_tightest_period(
    make_scenario: Build, kind: str, coupon: dict[str, Any]
) -> None:
    repayment: dict[str, Any] = {"type": kind}
    if kind == "custom":
        repayment["schedule"] = [0.05, 0.05, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05]
    bond = structure(make_scenario, repayment, coupon=coupon)
    grid = bond.schedule.grid
    dscr = bond.table["dscr"].to_numpy()[grid.n_grace + 1 : grid.n_scheduled + 1]
    assert np.nanmin(dscr) == pytest.approx(1.4, rel=1e-9)
    assert np.all(dscr >= 1.4 * (1 - 1e-9))


def test_a_target_the_cash_cannot_carry_is_refused(make_scenario: Build) -> None:
    # capitalised fees of 20,000 a year grow the balance though no cash comes: at zero CFADS
    # no principal, however small, leaves the debt service covered
    with pytest.raises(ModelError, match=r"bond\.sizing\.target_dscr = 1\.4"):
        structure(
            make_scenario,
            {"type": "annuity"},
            pledged_share=0.0,
        )


def test_gearing_and_the_funding_gap_balance_the_sources_and_uses(make_scenario: Build) -> None:
    bond = structure(make_scenario, {"type": "annuity"}, financed_share=0.9)
    s = bond.schedule
    own = s.planned_costs - s.financed_costs
    assert own == pytest.approx(0.1 * s.planned_costs, rel=1e-12)
    gap = s.financed_costs + s.arrangement_fee + s.reserve_initial - s.proceeds
    assert bond.metrics["funding_gap"] == pytest.approx(gap, rel=1e-12)
    assert bond.metrics["gearing"] == pytest.approx(
        s.principal / (s.principal + gap + own), rel=1e-12
    )


def percentile_case(make_scenario: Build, **sizing: Any) -> Scenario:
    return make_scenario(
        timeline={"horizon_years": 8},
        costs=[{"name": "c", "amount": 3_000_000.0, "category": "it", "timing": "at_close"}],
        savings=[
            {"name": "s", "annual_amount": 1_000_000.0, "ramp": {"type": "linear", "years": 2.0}}
        ],
        bond={
            "principal": "dscr",
            "sizing": {"target_dscr": 1.3, **sizing},
            "tenor_years": 6.0,
            "coupon": {"type": "fixed", "rate": 0.05},
            "repayment": {"type": "sculpted", "target_dscr": 1.3},
        },
        risk={
            "inputs": [
                {
                    "name": "realisation",
                    "target": "savings.realisation",
                    "distribution": {"type": "triangular", "min": 0.4, "mode": 1.0, "max": 1.1},
                }
            ]
        },
    )


def test_a_percentile_basis_is_fixed_by_the_scenario_not_by_the_run(make_scenario: Build) -> None:
    base = run(percentile_case(make_scenario))
    p10 = percentile_case(make_scenario, basis="percentile", percentile=10.0, paths=400, seed=3)
    quiet = run(p10).bond
    simulated = run(p10, paths=300, seed=99).bond
    assert base.bond is not None and quiet is not None and simulated is not None
    # the contract is the same whatever the run simulates
    assert simulated.schedule.principal == quiet.schedule.principal
    # the P10 CFADS is below the base case's (realisation 0.4-1.1, mode 1): less debt
    assert quiet.schedule.principal < 0.9 * base.bond.schedule.principal
    assert np.all(quiet.schedule.sizing_cfads <= base.bond.schedule.base_cfads + 1e-6)
    # sculpted on the base case at the same target, the bond repays early: the sized
    # principal is the P10's present value, the debt service follows the base CFADS
    assert quiet.metrics["min_dscr"] == pytest.approx(1.3, rel=1e-9)
    # the risk inputs fix the contract now: on the workbook they are structural, not simulation
    from bondmodel.workbook.as_run import input_kind

    assert input_kind("risk.inputs[0].distribution.min", p10) == "structural"
    assert input_kind("risk.inputs[0].distribution.min", base.scenario) == "simulation"
    other = run(
        percentile_case(make_scenario, basis="percentile", percentile=10.0, paths=400, seed=4)
    )
    assert other.bond is not None
    assert other.bond.schedule.principal != quiet.schedule.principal


def _dscr_templates() -> list[Path]:
    return [
        t for t in TEMPLATES if load_scenario(t).bond and load_scenario(t).bond.principal == "dscr"
    ]  # type: ignore[union-attr]


def test_a_template_sizes_its_bond_to_a_dscr_target() -> None:
    (template,) = _dscr_templates()
    bond = run(load_scenario(template)).bond
    assert bond is not None
    terms = bond.schedule.terms
    assert terms.sizing is not None and terms.repayment.type == "sculpted"
    assert bond.metrics["min_dscr"] == pytest.approx(terms.sizing.target_dscr, rel=1e-9)
    assert 0.5 < bond.metrics["gearing"] < 1.0
    assert bond.metrics["funding_gap"] > 0.0


@pytest.mark.spreadsheet
def test_the_dscr_target_is_live_in_the_workbook(
    soffice: str, tmp_path: Path, make_scenario: Build
) -> None:
    # a sculpted and a level bond sized to a DSCR, and the percentile basis: the target
    # (and the savings behind the CFADS) edited on Inputs, recalculated in LibreOffice, equal
    # the engine's rerun of the edited workbook in every formula
    scenarios = {
        "sculpted": structure_scenario(make_scenario, {"type": "sculpted", "target_dscr": 1.4}),
        "annuity": structure_scenario(make_scenario, {"type": "annuity"}),
        "percentile": percentile_case(
            make_scenario, basis="percentile", percentile=10.0, paths=200, seed=3
        ),
    }
    edited, reruns = [], []
    (tmp_path / "reruns").mkdir()
    for name, scenario in scenarios.items():
        rows = [r.path for r in flatten(scenario)]
        base = write_workbook(run(scenario, paths=0), tmp_path / f"{name}.xlsx")
        edits = {5 + rows.index("bond.sizing.target_dscr"): (1.6,)}
        if name != "percentile":  # the percentile's CFADS are values: the savings are not live
            edits[5 + rows.index("savings[0].annual_amount")] = (2_500_000.0,)
        path = edit_inputs(base, tmp_path / "edits" / f"{name}.xlsx", edits)
        rerun = run(read_scenario(path), paths=0)
        assert rerun.bond is not None
        assert rerun.bond.schedule.terms.sizing.target_dscr == 1.6  # type: ignore[union-attr]
        edited.append(path)
        reruns.append(write_workbook(rerun, tmp_path / "reruns" / f"{name}.xlsx"))
    for path, rerun, out in zip(
        edited, reruns, convert_many(edited, tmp_path / "recalc"), strict=True
    ):
        assert _disagreements(out, rerun) == [], path.name


def structure_scenario(make_scenario: Build, repayment: dict[str, Any]) -> Scenario:
    """The scenario of :func:`structure`, not run."""
    captured: dict[str, Scenario] = {}

    def keep(**changes: Any) -> Scenario:
        captured["s"] = make_scenario(**changes)
        return captured["s"]

    structure(keep, repayment)
    return captured["s"]
