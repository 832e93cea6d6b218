"""Bond identities on every template: they hold by construction, so any break is a bug."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bondmodel import load_scenario, run
from bondmodel.engine import BondResults

from .conftest import TEMPLATES

BOND_TEMPLATES = [t for t in TEMPLATES if load_scenario(t).bond is not None]


def check_bond_identities(bond: BondResults, net_cash_flow: np.ndarray) -> None:
    """The identities every bond must satisfy, for one path (the base case)."""
    t = bond.table
    s = bond.schedule
    scale = max(s.principal, 1.0)
    tol = 1e-9 * scale
    # sources equal uses at issue
    su = bond.sources_uses
    assert su["proceeds"] + su["council_contribution"] == pytest.approx(
        su["financed_costs"] + su["arrangement_fee"] + su["reserve_initial"] + su["surplus"],
        abs=tol,
    )
    # balances never negative; zero at legal maturity
    assert (t["closing_balance"] >= -tol).all()
    assert (t["reserve_balance"] >= -tol).all()
    assert (t["arrears_balance"] >= -tol).all()
    assert t["closing_balance"].iloc[-1] == pytest.approx(0.0, abs=tol)
    # principal: issued + capitalised + indexation = repaid + swept + written off (principal part)
    grown = s.principal + t["capitalised_interest"].sum() + t["indexation"].sum()
    repaid = t["principal_paid"].sum() + t["sweep"].sum()
    written_off = t["write_off"].sum()
    arrears_written = written_off - (grown - repaid)
    assert repaid <= grown + tol
    assert arrears_written >= -tol
    # the cash paid to investors and agents = pledged cash used + reserve draws + top-ups + sweeps
    paid_out = (
        t["fees_paid"]
        + t["arrears_paid"]
        + t["interest_paid"]
        + t["principal_paid"]
        + t["performance_paid"]
    )
    sources = t["cash_used"] + t["reserve_draw"] + t["topup"]
    np.testing.assert_allclose(paid_out, sources, atol=tol)
    # investors receive exactly what is paid to them
    received = (
        t["arrears_paid"]
        + t["interest_paid"]
        + t["principal_paid"]
        + t["sweep"]
        + (t["performance_paid"])
    )
    # during a capitalised grace period investors also fund the agents' fees
    funded = t["capitalised_interest"] - t["interest"].where(t["capitalised_interest"] > 0, 0.0)
    np.testing.assert_allclose(t["investor_flow"][1:], (received - funded)[1:], atol=tol)
    assert t["investor_flow"][0] == pytest.approx(-s.proceeds)
    # the reserve balances: opening + deposits - draws - releases = closing
    reserve = s.reserve_initial + np.cumsum(
        t["reserve_deposit"] - t["reserve_draw"] - t["reserve_release"]
    )
    np.testing.assert_allclose(reserve, t["reserve_balance"], atol=tol)
    assert t["reserve_balance"].iloc[-1] == pytest.approx(0.0, abs=tol)
    # pledged cash used and deposits never exceed the cash available
    cash = np.maximum(t["cfads"], 0.0)
    assert (t["cash_used"] + t["reserve_deposit"] + t["sweep"] <= cash + tol).all()
    # the council's cash after debt service reconciles with the programme and the investors:
    # sum(council) = sum(programme) + proceeds - fee - sum(paid to investors and agents
    # from the council's side) ... i.e. everything investors and agents receive beyond the
    # proceeds came out of the council's cash.
    council_total = bond.council_flow.sum()
    investors_total = paid_out.sum() + t["sweep"].sum()
    expected = net_cash_flow.sum() + s.proceeds - s.arrangement_fee - investors_total
    assert council_total == pytest.approx(expected, abs=1e-6 * scale)


@pytest.mark.parametrize("template", BOND_TEMPLATES, ids=lambda p: Path(p).stem)
def test_template_bond_identities(template: Path) -> None:
    res = run(load_scenario(template))
    assert res.bond is not None
    check_bond_identities(res.bond, res.flows.net_cash_flow[0])


def test_templates_cover_the_required_structures() -> None:
    kinds = set()
    for template in BOND_TEMPLATES:
        bond = load_scenario(template).bond
        assert bond is not None
        kinds.add((bond.recourse, bond.coupon.type, bond.performance is not None))
    assert ("full", "fixed", False) in kinds
    assert ("limited", "fixed", True) in kinds
    assert any(coupon == "index_linked" for _, coupon, _ in kinds)


def test_fees_stop_once_a_settled_bond_leaves_only_a_rounding_residue() -> None:
    """Found by the workbook's live-input test: this sib-limited-recourse variant repays
    early, leaving senior arrears of about 1e-10 pounds (floating-point rounding); fees
    ran "while anything is owed" (> 0) and cost the council 46,000 pounds a year to
    legal maturity. Owed means more than the balance tolerance (1e-9 of the principal)."""
    import tomllib

    from bondmodel import parse_scenario, run
    from bondmodel.bond.waterfall import balance_tolerance

    from .conftest import ROOT

    data = tomllib.loads((ROOT / "templates" / "sib-limited-recourse.toml").read_text())
    data["costs"][1].update(contingency=1.0, ob_mitigation=0.7216549648446025)
    data["pwlb"]["margin"] = 0.009857515374911377
    data["bond"]["issue_price"] = 1.4558981107288984
    bond = run(parse_scenario(data), paths=0).bond
    assert bond is not None
    t = bond.table
    tol = balance_tolerance(bond.schedule.principal)
    settled = (
        (t["closing_balance"] <= tol)
        & (t["arrears_balance"] <= tol)
        & (t["fee_arrears_balance"] <= tol)
    ).to_numpy()
    after = np.concatenate([[False], settled[:-1]])  # periods that open with nothing owed
    assert after.sum() >= 3
    assert (t["fees_paid"].to_numpy()[after] == 0.0).all()
    assert t["fees_paid"].to_numpy()[~after].sum() > 0  # fees were paid while owed
