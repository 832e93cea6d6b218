"""An inflation path: ``economics.inflation`` as annual rates by programme year, the last holding.

- Reference: a 3-year path (4%, 3%, 2%, then 2% held) gives, on an annual and a
  quarterly timeline (and across a year from the price base date to the close),
  the price index that compounding by hand gives, and a running cost indexed by
  it is its real amount times that index.
- A number and a flat path of that number are the same scenario: the results of
  a simulation are bit-identical.
- The index-linked coupon's uplift caps and floors each year's rate of the path;
  the LLCR/PLCR discount along the path, year by year.
- Risk inputs on inflation vary around the path: the draw is the long-run rate and
  the whole path moves with it; a draw at the path's own long-run rate, with or
  without a mean-reverting path of zero volatility, gives back the path exactly.
- The workbook follows an edit of any year's rate, and a longer path, to the
  engine's rerun (LibreOffice).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bondmodel import Scenario, load_scenario, parse_scenario, run
from bondmodel.bond.metrics import debt_discount_factors
from bondmodel.bond.schedule import uplift_factors
from bondmodel.model import Model
from bondmodel.workbook.inputs import flatten
from bondmodel.workbook.reader import read_scenario
from bondmodel.workbook.recalc import convert_many
from bondmodel.workbook.writer import write_workbook

from .conftest import ROOT
from .test_live_inputs import _disagreements
from .xlsx_tools import edit_inputs, read_cells

PATH = [0.04, 0.03, 0.02]
INDEX_LINKED = ROOT / "templates" / "index-linked.toml"


def _hand_index(t: int, f: int, offset: float) -> float:
    """The price index at period t by hand: each year's rate over the part of it elapsed."""
    rates = {1: 0.04, 2: 0.03}  # year 3 and every later year: 2%
    index = 1.04**offset  # base date to close at the first year's rate
    years = t / f
    for year in range(1, math.ceil(years) + 1):
        elapsed = min(years, year) - (year - 1)
        index *= (1.0 + rates.get(year, 0.02)) ** elapsed
    return index


@pytest.mark.parametrize(
    ("frequency", "f", "base_date"),
    [("annual", 1, "2026-04-01"), ("quarterly", 4, "2026-04-01"), ("quarterly", 4, "2025-04-01")],
)
def test_the_price_index_is_the_path_compounded_by_hand(
    make_scenario: Callable[..., Scenario], frequency: str, f: int, base_date: str
) -> None:
    from datetime import date

    scenario = make_scenario(
        meta={"name": "Path", "base_date": date.fromisoformat(base_date)},
        timeline={"frequency": frequency, "horizon_years": 5},
        economics={"inflation": PATH},
        running_costs=[{"name": "Licences", "annual_amount": 1_000_000.0}],
    )
    results = run(scenario, paths=0)
    offset = results.timeline.price_offset_years
    assert offset == (1.0 if base_date == "2025-04-01" else 0.0)
    index = results.flows.price_index[0]
    hand = np.array([_hand_index(t, f, offset) for t in range(5 * f + 1)])
    # e.g. annual: 1, 1.04, 1.0712, 1.092624, 1.11447648, 1.1367660096
    np.testing.assert_allclose(index, hand, rtol=1e-15, atol=0.0)
    assert index[-1] == pytest.approx(1.04**offset * 1.04 * 1.03 * 1.02**3, rel=1e-15)
    # real to nominal: the running cost is its real amount a period times the index
    np.testing.assert_allclose(
        results.flows.running_costs[0, 1:], 1_000_000.0 / f * hand[1:], rtol=1e-15
    )


def _summary(scenario: Scenario) -> str:
    """Every summary figure of a 400-path run, exactly (the scenario's own hash left out)."""

    def without_hash(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: without_hash(v) for k, v in node.items() if k != "sha256"}
        return node

    results = run(scenario, paths=400, seed=11)
    return json.dumps(without_hash(results.summary()), sort_keys=True, default=repr)


def test_a_number_and_a_flat_path_of_it_are_bit_identical() -> None:
    scenario = load_scenario(INDEX_LINKED)
    data = scenario.model_dump()
    flat = parse_scenario({**data, "economics": {**data["economics"], "inflation": [0.02] * 7}})
    assert scenario.economics.inflation == 0.02
    assert flat.economics.inflation == (0.02,) * 7
    assert _summary(flat) == _summary(scenario)
    # a path of one rate is that rate: the same scenario
    one = parse_scenario({**data, "economics": {**data["economics"], "inflation": [0.02]}})
    assert one.sha256() == scenario.sha256()


def _il_scenario(inflation: Any, cap: float | None = 0.03, floor: float | None = 0.0) -> Scenario:
    data = load_scenario(INDEX_LINKED).model_dump()
    coupon: dict[str, Any] = {"type": "index_linked", "real_rate": 0.00846}
    if cap is not None:
        coupon["uplift_cap"] = cap
    if floor is not None:
        coupon["uplift_floor"] = floor
    return parse_scenario(
        {
            **data,
            "economics": {**data["economics"], "inflation": inflation},
            "timeline": {**data["timeline"], "frequency": "annual"},
            "bond": {**data["bond"], "coupon": coupon, "payment_frequency": "annual"},
            "risk": None,
        }
    )


def test_the_uplift_caps_and_floors_each_years_rate_of_the_path() -> None:
    path = [0.05, -0.01, 0.025, 0.04]  # above the cap, below the floor, between, above (held)
    model = Model.compile(_il_scenario(path))
    assert model.schedule is not None and model.grid is not None
    grid = model.grid
    uplift = uplift_factors(
        model.scenario.bond,  # type: ignore[arg-type]
        grid,
        model.timeline,
        model.base_draws.inflation,
    )[0]
    year = model.timeline.programme_year[grid.pay_t[1:]]
    capped = {1: 0.03, 2: 0.0, 3: 0.025}
    expected = np.array([1.0 + capped.get(int(y), 0.03) for y in year])
    np.testing.assert_allclose(uplift[1:], expected, rtol=1e-15)
    assert set(np.round(uplift[1:], 12)) >= {1.03, 1.0, 1.025}
    # the cover ratios discount along the path: each year at the real rate and that year's
    # inflation (uncapped: the debt's nominal rate), (1.00846 (1 + pi_j))^-1 a year, compounded
    held = [path[min(int(y), len(path)) - 1] for y in year]
    df = np.cumprod([1.0 / (1.00846 * (1.0 + pi)) for pi in held])
    got = debt_discount_factors(model.schedule, model.scenario.economics, model.timeline)
    np.testing.assert_allclose(got[grid.pay_t[1:]], df, rtol=1e-13)
    assert np.all(got[: grid.issue_t + 1] == 1.0)
    base = model.base_case()
    assert base.bond is not None
    n = grid.n_scheduled
    llcr = (base.bond.cfads[0, 1 : n + 1] * df[:n]).sum() / model.schedule.principal
    assert base.bond_metrics["llcr"][0] == pytest.approx(llcr, rel=1e-12)
    # not the flat rate of the first year, which the path moves away from
    flat = (1.00846 * (1.0 + held[0])) ** -grid.years[1 : n + 1]
    assert (
        abs((base.bond.cfads[0, 1 : n + 1] * flat).sum() / model.schedule.principal - llcr) > 1e-3
    )


def _with_risk(path: list[float], distribution: dict[str, Any], reversion: bool) -> Scenario:
    data = load_scenario(INDEX_LINKED).model_dump()
    spec: dict[str, Any] = {
        "name": "inflation",
        "target": "economics.inflation",
        "distribution": distribution,
    }
    if reversion:
        spec["path"] = {"reversion": 0.3, "volatility": 0.0}
    return parse_scenario(
        {
            **data,
            "economics": {**data["economics"], "inflation": path},
            "risk": {"default_paths": 100, "inputs": [spec]},
        }
    )


@pytest.mark.parametrize("reversion", [False, True], ids=["level", "mean-reverting"])
def test_risk_on_inflation_varies_around_the_path(reversion: bool) -> None:
    path = [0.05, 0.04, 0.03, 0.025]
    one = {"type": "discrete", "values": [0.025], "probabilities": [1.0]}
    model = Model.compile(_with_risk(path, one, reversion))
    values = np.full((6, 1), 0.025)
    draws, _ = model.risk.draws(values, seed=1, block=0)
    base = np.broadcast_to(model.base_draws.inflation, draws.inflation.shape)
    # a draw at the path's own long-run rate gives back the scenario's path exactly
    np.testing.assert_array_equal(draws.inflation, base)
    # a draw one point higher moves the path's centre up one point, its shape kept; a
    # mean-reverting path starts at the scenario's first rate and reverts to that centre
    moved, _ = model.risk.draws(values + 0.01, seed=1, block=0)
    year = model.timeline.programme_year[1:]
    phi = 1.0 - 0.3
    expected = 0.01 * (1.0 - phi ** (year - 1)) if reversion else np.full(year.shape, 0.01)
    np.testing.assert_allclose(
        moved.inflation - base, np.broadcast_to(expected, base.shape), rtol=0, atol=1e-15
    )
    assert moved.inflation[0, 0] == pytest.approx(0.05 if reversion else 0.06, rel=1e-15)


@pytest.mark.spreadsheet
def test_the_workbook_follows_an_edit_of_any_years_inflation(soffice: str, tmp_path: Path) -> None:
    """One year's rate changed, and the path made a year longer: after recalculation every
    formula equals the engine's rerun of the edited workbook (and differed before it).

    Annual periods and payments, the bond issued a year after close: its first payment is
    period 2, alone in programme year 2, so the LLCR's discount rate must read year 2's rate
    (which the first edit changes), not its neighbours'.
    """
    data = load_scenario(INDEX_LINKED).model_dump()
    path = [0.04, 0.03, 0.025]
    start = data["timeline"]["start_date"]
    scenario = parse_scenario(
        {
            **data,
            "economics": {**data["economics"], "inflation": path},
            "timeline": {**data["timeline"], "frequency": "annual"},
            "bond": {
                **data["bond"],
                "issue_date": start.replace(year=start.year + 1),
                "payment_frequency": "annual",
            },
        }
    )
    model = Model.compile(scenario)
    assert model.grid is not None
    assert model.timeline.programme_year[model.grid.pay_t[1]] == 2
    base = write_workbook(run(scenario, paths=0), tmp_path / "base.xlsx")
    row = 5 + [r.path for r in flatten(scenario)].index("economics.inflation")
    edits = {"year 2": (0.04, 0.05, 0.025), "a year longer": (0.04, 0.03, 0.025, 0.035)}
    files = {
        k: edit_inputs(base, tmp_path / f"{i}.xlsx", {row: v})
        for i, (k, v) in enumerate(edits.items())
    }
    reruns = {}
    for i, (key, edited) in enumerate(files.items()):
        again = read_scenario(edited)
        assert again.economics.inflation == edits[key]
        reruns[key] = write_workbook(run(again, paths=0), tmp_path / f"rerun{i}.xlsx")
    recalculated = dict(
        zip(files, convert_many(list(files.values()), tmp_path / "recalc"), strict=True)
    )
    for key in files:
        assert _disagreements(files[key], reruns[key]), f"{key}: the edit changed nothing"
        assert _disagreements(recalculated[key], reruns[key]) == [], key
    # the price index at the end of year 2 (period 2, column F) follows the edited rate
    cells = read_cells(recalculated["year 2"], {"Timeline"})
    label = next(
        ref[1:]
        for (s, ref), (_, v) in cells.items()
        if ref[0] == "A" and v == "Price index (base date = 1)"
    )
    offset = run(scenario, paths=0).timeline.price_offset_years
    assert cells[("Timeline", f"F{label}")][1] == pytest.approx(
        1.04 ** (1 + offset) * 1.05, rel=1e-12
    )


def test_risk_on_a_reference_path_varies_around_it_too() -> None:
    """The floating coupon's reference path has the same shape: a draw at its last rate gives
    the scenario's coupon rates back exactly, and a higher draw moves every bond year's rate."""
    data = load_scenario(INDEX_LINKED).model_dump()
    path = [0.04, 0.045, 0.05]
    scenario = parse_scenario(
        {
            **data,
            "bond": {
                **data["bond"],
                "coupon": {"type": "floating", "reference_path": path, "margin": 0.01},
            },
            "risk": {
                "inputs": [
                    {
                        "name": "bank_rate",
                        "target": "bond.reference_rate",
                        "distribution": {
                            "type": "discrete",
                            "values": [0.05],
                            "probabilities": [1.0],
                        },
                    }
                ]
            },
        }
    )
    model = Model.compile(scenario)
    assert model.schedule is not None
    _, rates = model.risk.draws(np.full((3, 1), 0.05), seed=1, block=0)
    assert rates is not None
    np.testing.assert_array_equal(rates, np.broadcast_to(model.schedule.rates, rates.shape))
    _, higher = model.risk.draws(np.full((3, 1), 0.06), seed=1, block=0)
    assert higher is not None
    np.testing.assert_allclose(higher - rates, 0.01, rtol=0, atol=1e-15)
    assert model.schedule.rates[1] == 0.05  # bond year 1: 4% + 1% margin
    assert model.schedule.rates[-1] == pytest.approx(0.06, rel=1e-15)  # 5% held, + margin


@pytest.mark.parametrize(
    "flags",
    [
        ("sweep", "--vary", "economics.inflation=0.01,0.03"),
        ("sweep", "--vary", "economics.inflation=0.01:0.03:0.01"),
        ("solve", "--find", "economics.inflation", "--range", "0:0.05", "--maximise"),
    ],
    ids=["sweep-values", "sweep-range", "solve"],
)
def test_a_design_tool_refuses_to_set_a_path_to_one_number(
    flags: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a path is not silently replaced by a flat rate: exit 2, naming the flag, the path's
    # values and what is allowed (one of its years), and nothing written
    from bondmodel import cli

    scenario = tmp_path / "path.toml"
    text = (ROOT / "templates" / "shared-services.toml").read_text(encoding="utf-8")
    scenario.write_text(
        text.replace("inflation = 0.02 ", "inflation = [0.04, 0.03, 0.02] ", 1), encoding="utf-8"
    )
    assert load_scenario(scenario).economics.inflation == (0.04, 0.03, 0.02)
    out = tmp_path / "out.xlsx"
    command, *rest = flags
    extra = ("--constraint", "min_dscr >= 1.2") if command == "solve" else ()
    code = cli.main([command, str(scenario), *rest, *extra, "--paths", "0", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    flag = "--find" if command == "solve" else "--vary"
    assert f"{flag} economics.inflation: the scenario holds a list of 3 values" in err
    assert "[0.04, 0.03, 0.02]" in err and "economics.inflation[0] to economics.inflation[2]" in err
    assert not out.exists()
    # one year of the path is a number, and varies
    vary = ("--vary", "economics.inflation[2]=0.01,0.03")
    code = cli.main(["sweep", str(scenario), *vary, "--paths", "0", "-o", str(out)])
    assert code == 0 and out.exists()
    # and a year's value past the rate's bounds is refused before the seed, naming them
    capsys.readouterr()
    past = ("--vary", "economics.inflation[2]=0.01,5")
    assert cli.main(["sweep", str(scenario), *past, "--paths", "0", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "economics.inflation[2]: 5 is outside" in err, err
