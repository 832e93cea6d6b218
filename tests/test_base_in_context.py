"""The base case in context (issue 18 item 7): where each base-case figure falls among the
simulated paths, on run's table, the Summary dashboard, the Risk sheet and in the JSON."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import openpyxl
import pytest

from bondmodel import load_scenario, run
from bondmodel.headline import headline_metrics, headline_text, ordinal
from bondmodel.model import Model
from bondmodel.risk.summary import percentile_rank
from bondmodel.workbook.writer import write_workbook

from .conftest import ROOT

SIB = ROOT / "templates" / "sib-limited-recourse.toml"


def test_percentile_rank_by_hand() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    # the NaN is left out: four values; 2.5 has two below: 2/4 = 50
    assert percentile_rank(values, 2.5) == 50.0
    # 2.0 has one below and one equal: (1 + 0.5) / 4 = 37.5
    assert percentile_rank(values, 2.0) == 37.5
    assert percentile_rank(values, 0.0) == 0.0
    assert percentile_rank(values, 9.0) == 100.0
    assert math.isnan(percentile_rank(values, math.nan))
    assert math.isnan(percentile_rank(np.array([np.nan]), 1.0))
    # single precision: a path equal to the base case counts as equal
    assert percentile_rank(np.array([0.0525, 0.0525], dtype=np.float32), 0.0525) == 50.0


def test_ordinals() -> None:
    words = [ordinal(p) for p in (1, 2, 3, 4, 11, 12, 13, 21, 22, 96, 100, 0.4)]
    assert words == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "96th", "100th", "0th"
    ]  # fmt: skip


@pytest.fixture(scope="module")
def sib() -> Any:
    return run(load_scenario(SIB), paths=6000, seed=3)


def test_the_base_case_and_its_percentile_are_the_engines(sib: Any) -> None:
    frame = sib.risk.base_case
    base = Model.compile(sib.scenario).base_case().path_metrics
    assert list(frame.columns) == list(sib.risk.per_path.columns)
    for key in frame.columns:
        assert frame[key]["value"] == float(base[key][0]), key
        paths = sib.risk.per_path[key].to_numpy()
        finite = paths[np.isfinite(paths)]
        expected = (
            100.0
            * (np.sum(finite < base[key][0]) + 0.5 * np.sum(finite == base[key][0]))
            / finite.size
        )
        assert frame[key]["percentile"] == pytest.approx(expected, abs=1e-12), key
    data = sib.summary()
    assert (
        data["risk"]["base_case"]["investor_irr"]["percentile"]
        == frame["investor_irr"]["percentile"]
    )


def test_a_base_case_outside_p10_p90_gets_a_sentence_and_one_inside_does_not(sib: Any) -> None:
    items = {item.key: item for item in headline_metrics(sib)}
    outside = [
        item
        for item in items.values()
        if item.base is not None
        and None not in item.percentiles
        and not item.percentiles[0] <= item.base <= item.percentiles[-1]
    ]
    # the SIB's base case investor IRR sits above its simulated P90 (the example)
    assert "investor_irr" in {item.key for item in outside}
    text = headline_text(sib, width=200)
    for item in items.values():
        sentence = item.context()
        assert (sentence is not None) == (item in outside), item.key
        if sentence is not None:
            side = "above" if item.base > item.percentiles[-1] else "below"
            assert f"lies {side} the simulated" in sentence
            assert f"at the {ordinal(item.base_percentile)} percentile" in sentence
            assert sentence in text.replace("\n", " ")
    irr = items["investor_irr"]
    assert irr.base_percentile is not None and irr.base_percentile > 90.0


def test_the_dashboard_and_risk_sheet_show_the_base_case_in_context(
    sib: Any, tmp_path: Any
) -> None:
    out = tmp_path / "sib.xlsx"
    write_workbook(sib, out)
    wb = openpyxl.load_workbook(out)
    summary = [c for row in wb["Summary"].iter_rows(values_only=True) for c in row if c]
    irr = {item.key: item for item in headline_metrics(sib)}["investor_irr"]
    assert f"Base case at P{round(irr.base_percentile)} of the simulation" in summary
    sentence = irr.context()
    assert sentence in summary
    risk = {
        row[0]: row[1:]
        for row in wb["Risk"].iter_rows(values_only=True)
        if row and isinstance(row[0], str)
    }
    percentiles = risk["Base case's percentile among the simulated paths (0-100)"]
    columns = list(sib.risk.per_path.columns)
    got = percentiles[columns.index("investor_irr")]
    assert got == pytest.approx(sib.risk.base_case["investor_irr"]["percentile"])
    assert sentence in risk
