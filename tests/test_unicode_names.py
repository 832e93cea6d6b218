"""Names that differ only in Unicode form are the same name (fieldtypes.first_repeat).

'Café' typed with an accented e (NFC) and with an e and a combining accent (NFD) look the
same on every screen and in every workbook; as two partners, two pool members or two
councils of a register they would be told apart only by their bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bondmodel import ScenarioError, parse_scenario
from bondmodel.market.register import read_register
from bondmodel.pool import parse_portfolio
from bondmodel.scenario.fieldtypes import first_repeat

from .conftest import ROOT, base_dict

NFC, NFD = "Caf\u00e9 Council", "Cafe\u0301 Council"


def test_the_two_forms_differ_in_bytes_and_are_one_name() -> None:
    assert NFC != NFD
    assert first_repeat([NFC, "Other", NFD]) == (0, 2)
    assert first_repeat([NFC, "Other"]) is None


def test_two_partners_named_alike_in_two_forms_are_refused() -> None:
    data = base_dict()
    partner = data["partners"][0]
    data["partners"] = [{**partner, "name": NFC}, {**partner, "name": NFD}]
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    message = str(info.value)
    assert "partners[1]" in message and "already used by partners[0]" in message, message
    assert "the same name in another Unicode form" in message, message


def test_two_risk_inputs_and_two_pool_members_named_alike_are_refused() -> None:
    data = base_dict()
    risk_input = {
        "target": "savings.realisation",
        "distribution": {"type": "triangular", "min": 0.5, "mode": 1.0, "max": 1.2},
    }
    data["risk"] = {"inputs": [{**risk_input, "name": NFC}, {**risk_input, "name": NFD}]}
    with pytest.raises(ScenarioError, match="another Unicode form"):
        parse_scenario(data)
    pool = {
        "name": "Pool",
        "bond": {"tenor_years": 8, "legal_maturity_years": 10,
                 "coupon": {"type": "fixed", "rate": 0.03}},
        "members": [{"name": NFC, "scenario": "sib-limited-recourse.toml"},
                    {"name": NFD, "scenario": "sib-limited-recourse.toml"}],
    }  # fmt: skip
    with pytest.raises(ScenarioError) as info:
        parse_portfolio(pool, base=ROOT / "templates")
    assert "members[1]" in str(info.value) and "another Unicode form" in str(info.value)


def test_two_councils_of_a_register_named_alike_are_refused(tmp_path: Path) -> None:
    text = (ROOT / "templates" / "register-illustrative.csv").read_text(encoding="utf-8")
    rows = text.splitlines()
    first = next(i for i, r in enumerate(rows) if r.startswith("Thornham Council,"))
    second = next(i for i, r in enumerate(rows) if r.startswith("Brookton Council,"))
    rows[first] = rows[first].replace("Thornham Council,", f"{NFC},", 1)
    rows[second] = rows[second].replace("Brookton Council,", f"{NFD},", 1)
    path = tmp_path / "register.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        read_register(path)
    message = str(info.value)
    assert f"line {second + 1}, column 'name'" in message, message
    assert f"council on line {first + 1} (the same name in another Unicode form)" in message
