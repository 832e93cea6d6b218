"""Sensitivity beyond the tornado (issue 18 items 3 and 4): the spider chart and the PAWN
index, checked by hand-built cases and against independent computations."""

from __future__ import annotations

import itertools
import tomllib
from typing import Any

import numpy as np
import openpyxl
import pytest
from scipy import stats

from bondmodel import load_scenario, parse_scenario, run
from bondmodel.risk.results import SPIDER_PERCENTILES, one_at_a_time, spider, tornado
from bondmodel.risk.sensitivity import PAWN_SLICES, pawn_indices
from bondmodel.workbook.riskcharts import which_to_trust
from bondmodel.workbook.writer import write_workbook

from .conftest import ROOT

DEFAULT = ROOT / "templates" / "shared-services.toml"


def default_data() -> dict[str, Any]:
    with open(DEFAULT, "rb") as handle:
        return tomllib.load(handle)


def test_the_spider_reads_the_tornado_at_p10_and_p90() -> None:
    scenario = load_scenario(DEFAULT)
    web = spider(scenario, "council_npv")
    swings = tornado(scenario, "council_npv").set_index("input")
    assert list(web.columns) == [f"P{p}" for p in SPIDER_PERCENTILES]
    for name, row in web.iterrows():
        assert row["P10"] == swings.loc[name, "output_at_p10"]
        assert row["P90"] == swings.loc[name, "output_at_p90"]


def test_the_spider_of_a_linear_input_is_a_straight_line_in_the_inputs_values() -> None:
    # the programme NPV is linear in the savings realisation multiplier (savings scale with
    # it, costs do not), so NPV against the input's value has no curvature
    data = default_data()
    data["risk"]["inputs"] = [
        {
            "name": "realisation",
            "target": "savings.realisation",
            "distribution": {"type": "uniform", "min": 0.5, "max": 1.5},
        }
    ]
    data["risk"].pop("correlation", None)
    data.pop("bond")
    data.pop("pwlb", None)
    scenario = parse_scenario(data)
    levels = tuple(p / 100.0 for p in SPIDER_PERCENTILES)
    values, npv = one_at_a_time(scenario, "npv", levels)
    # the input's values are the uniform's quantiles: 0.5 + p
    np.testing.assert_allclose(values[0], [0.5 + q for q in levels], rtol=0, atol=1e-15)
    slope = np.diff(npv[0]) / np.diff(values[0])
    np.testing.assert_allclose(slope, slope[0], rtol=1e-9)
    # at the multiplier 1 the NPV is the base case's
    base = run(scenario, paths=0).metrics["npv"]
    at_one = npv[0][SPIDER_PERCENTILES.index(50)]
    assert at_one == pytest.approx(base, rel=1e-12)


def test_pawn_is_the_median_ks_distance_over_decile_slices() -> None:
    rng = np.random.default_rng(3)
    x = rng.random((20_000, 2))
    y = 3.0 * x[:, 0] + np.sin(6.0 * x[:, 1])
    y[::97] = np.nan  # undefined paths are left out
    got = pawn_indices(x, ["a", "b"], {"y": y})
    ok = np.isfinite(y)
    for j, name in enumerate(("a", "b")):
        xj, yj = x[ok, j], y[ok]
        edges = np.quantile(xj, np.linspace(0.0, 1.0, PAWN_SLICES + 1))
        distances = [
            stats.ks_2samp(yj[(xj >= lo) & (xj < hi)], yj).statistic
            for lo, hi in itertools.pairwise(edges)
        ]
        assert got.loc[name, "y"] == pytest.approx(float(np.median(distances)), abs=1e-12)
    # the linear input moves the distribution more than the sine
    assert got.loc["a", "y"] > got.loc["b", "y"]


def test_pawn_sees_an_input_that_acts_in_both_directions_where_rank_correlation_does_not() -> None:
    rng = np.random.default_rng(5)
    x = rng.random((20_000, 2))
    y = (x[:, 0] - 0.5) ** 2 + 0.02 * x[:, 1]  # symmetric in the first input
    got = pawn_indices(x, ["both_ways", "small"], {"y": y})
    rho = stats.spearmanr(x[:, 0], y).statistic
    assert abs(rho) < 0.05
    assert got.loc["both_ways", "y"] > 0.3 > got.loc["small", "y"]


def test_an_input_that_does_not_vary_has_no_pawn_index() -> None:
    x = np.column_stack([np.linspace(0, 1, 500), np.full(500, 2.0)])
    got = pawn_indices(x, ["varies", "fixed"], {"y": x[:, 0]})
    assert np.isnan(got.loc["fixed", "y"]) and got.loc["varies", "y"] > 0.5


def test_the_sensitivity_sheet_and_json_carry_spider_and_pawn(tmp_path: Any) -> None:
    results = run(load_scenario(DEFAULT), paths=3000, seed=4)
    data = results.summary()["risk"]
    assert set(data["spider"]["inputs"]) == set(results.risk.spider.index)
    assert (
        data["pawn"]["npv"]["savings_realisation"]
        == results.risk.pawn.loc["savings_realisation", "npv"]
    )
    out = tmp_path / "m.xlsx"
    write_workbook(results, out)
    rows = [r for r in openpyxl.load_workbook(out)["Sensitivity"].iter_rows(values_only=True)]
    texts = [r[0] for r in rows if r and isinstance(r[0], str)]
    assert any(t.startswith("Spider:") for t in texts)
    assert any(t.startswith("PAWN index") for t in texts)
    for sentence in which_to_trust(results):
        assert sentence in texts
    # the savings realisation ranks first by PAWN on the programme NPV, as by the tornado
    assert results.risk.pawn["npv"].idxmax() == results.risk.tornado["input"].iloc[0]


def test_which_to_trust_names_the_correlated_inputs() -> None:
    data = default_data()
    names = [r["name"] for r in data["risk"]["inputs"]]
    n = len(names)
    matrix = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
    matrix[0][1] = matrix[1][0] = -0.4
    data["risk"]["correlation"] = {"names": names, "matrix": matrix}
    results = run(parse_scenario(data), paths=0)
    # no simulation needed for the words: they depend on the scenario's correlation
    words = " ".join(which_to_trust(results))
    assert "This scenario correlates Savings realisation and Start delay:" in words
    assert "rank the inputs by PAWN" in words and "The inputs here are independent" not in words
    # the template's own matrix correlates all three pairs
    template = " ".join(which_to_trust(run(load_scenario(DEFAULT), paths=0)))
    assert template.count(" and ") >= 3 and "Cost overrun" in template
    data["risk"].pop("correlation")
    independent = " ".join(which_to_trust(run(parse_scenario(data), paths=0)))
    assert "The inputs here are independent" in independent and "correlates" not in independent


def test_pawn_is_computed_for_the_headline_tiles_metrics() -> None:
    from bondmodel.headline import BOND_TILES, PROGRAMME_TILES
    from bondmodel.risk.sensitivity import PAWN_OUTPUTS

    tiles = {t.key for t in (*BOND_TILES, *PROGRAMME_TILES) if t.kind == "metric"}
    assert set(PAWN_OUTPUTS) == tiles
