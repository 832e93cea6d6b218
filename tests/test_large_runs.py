"""Very large runs: single-precision storage of per-path values, and ten million paths.

Above :data:`DOUBLE_PRECISION_BUDGET` (512 MiB of per-path values) each path's metrics and
inputs are stored in single precision (methodology §20.9). Here the budget is lowered to force
that mode on small runs and compare it with the double-precision run of the same paths; then
ten million paths of the default template run for real. Its peak memory is measured in
benchmarks/bench_large_run.py, not asserted here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bondmodel import load_scenario
from bondmodel.errors import ScenarioError
from bondmodel.model import Model
from bondmodel.risk import simulate as simulate_module
from bondmodel.risk.results import simulate
from bondmodel.risk.sampling import BLOCK_SIZE
from bondmodel.risk.simulate import (
    DOUBLE_PRECISION_BUDGET,
    RunSettings,
    per_path_precision,
)

from .conftest import ROOT

DEFAULT = ROOT / "templates" / "shared-services.toml"
PATHS = 2 * BLOCK_SIZE + 77


def test_the_precision_rule_switches_at_the_budget() -> None:
    columns = 17
    largest_double = DOUBLE_PRECISION_BUDGET // (8 * columns)
    assert per_path_precision(largest_double, columns) == "double"
    assert per_path_precision(largest_double + 1, columns) == "single"
    # the default template: 14 metrics and 3 inputs, so 1,000,000 paths stay in double
    assert largest_double == 3_947_580
    assert per_path_precision(1_000_000, columns) == "double"
    assert per_path_precision(10_000_000, columns) == "single"


@pytest.fixture(scope="module")
def both() -> tuple[Any, Any]:
    """The same run stored in double and (budget forced to 0) in single precision."""
    scenario = load_scenario(DEFAULT)
    double = simulate(scenario, RunSettings(PATHS, seed=20261129))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(simulate_module, "DOUBLE_PRECISION_BUDGET", 0)
        single = simulate(scenario, RunSettings(PATHS, seed=20261129))
    return double, single


def test_each_value_is_rounded_once_to_single_precision(both: tuple[Any, Any]) -> None:
    double, single = both
    assert double.settings.per_path_precision == "double"
    assert single.settings.per_path_precision == "single"
    assert (single.per_path.dtypes == np.float32).all()
    assert (single.inputs.dtypes == np.float32).all()
    for column in double.per_path.columns:
        expected = double.per_path[column].to_numpy().astype(np.float32)
        assert np.array_equal(single.per_path[column].to_numpy(), expected, equal_nan=True), column
    assert np.array_equal(single.inputs.to_numpy(), double.inputs.to_numpy().astype(np.float32))
    # the rounding is real: the stored values differ from the double ones
    npv = double.per_path["council_npv"].to_numpy()
    assert not np.array_equal(single.per_path["council_npv"].to_numpy(np.float64), npv)


def test_statistics_differ_only_by_the_rounding(both: tuple[Any, Any]) -> None:
    double, single = both
    for metric in double.summary.columns:
        for stat in ("mean", "p5", "p50", "p95", "p5_ci_low", "p95_ci_high"):
            a, b = double.summary.loc[stat, metric], single.summary.loc[stat, metric]
            if math.isnan(a):
                assert math.isnan(b), (metric, stat)
                continue
            # one rounding of each value: 2**-24 of the largest value involved
            scale = np.nanmax(
                np.abs(
                    double.per_path[metric].to_numpy()[
                        np.isfinite(double.per_path[metric].to_numpy())
                    ]
                )
            )
            assert abs(a - b) <= 2.0**-24 * scale, (metric, stat, a, b)
        assert double.summary.loc["n", metric] == single.summary.loc["n", metric]
    # signs survive the rounding: the probabilities are the same
    assert double.probabilities.equals(single.probabilities)
    for name in double.fans:  # the fans come from the engine's own values, not the stored ones
        assert double.fans[name].equals(single.fans[name]), name
    # the sums accumulate in double precision, not in float32
    stored = single.per_path["council_npv"].to_numpy()
    assert single.summary.loc["mean", "council_npv"] == pytest.approx(
        math.fsum(stored.astype(np.float64)) / stored.size, rel=1e-15
    )


def test_single_precision_runs_are_reproducible_across_executors() -> None:
    scenario = load_scenario(DEFAULT)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(simulate_module, "DOUBLE_PRECISION_BUDGET", 0)
        serial = simulate(scenario, RunSettings(PATHS, seed=7))
        pooled = simulate(scenario, RunSettings(PATHS, seed=7, workers=2, chunk_blocks=1))
    assert serial.per_path.equals(pooled.per_path)
    assert serial.inputs.equals(pooled.inputs)
    assert serial.summary.equals(pooled.summary)


def test_ten_million_paths() -> None:
    """The whole pipeline at 10,000,000 paths on two workers: complete, counted, consistent."""
    scenario = load_scenario(DEFAULT)
    paths = 10_000_000
    sim = simulate(scenario, RunSettings(paths, seed=20261129, workers=2, chunk_blocks=8))
    assert sim.settings.paths == paths
    assert sim.settings.per_path_precision == "single"
    assert len(sim.per_path) == paths
    # the parent keeps 4 bytes per value: 680 MB for 14 metrics and 3 inputs
    stored = (
        sim.per_path.memory_usage(index=False).sum() + sim.inputs.memory_usage(index=False).sum()
    )
    assert stored == paths * 17 * 4
    # every path counted once in every fan period (no chunk lost or counted twice)
    assert sim.summary.loc["n", "npv"] == paths
    assert sim.summary.loc["n", "council_npv"] == paths
    # the first and the last block equal the engine's own values, rounded once
    engine_ = Model.compile(scenario)
    for block in (0, paths // BLOCK_SIZE):
        metrics, values, _ = engine_.block(20261129, "random", block, paths)
        start = block * BLOCK_SIZE
        stop = start + values.shape[0]
        expected = metrics["council_npv"].astype(np.float32)
        got = sim.per_path["council_npv"].to_numpy()[start:stop]
        assert np.array_equal(got, expected)
        assert np.array_equal(sim.inputs.to_numpy()[start:stop], values.astype(np.float32))
    # statistics from every stored value, in double precision
    npv = sim.per_path["council_npv"].to_numpy(np.float64)
    assert sim.summary.loc["p50", "council_npv"] == pytest.approx(np.percentile(npv, 50), rel=1e-15)
    assert sim.summary.loc["mean", "council_npv"] == pytest.approx(npv.mean(), rel=1e-12)
    assert sim.probabilities.loc["p_council_npv_negative", "value"] == np.mean(npv < 0)
    # 10M paths pin the mean far more tightly than 100,000 do: they agree within the error
    small = simulate(scenario, RunSettings(100_000, seed=20261129))
    se = small.summary.loc["se_mean", "council_npv"]
    assert abs(small.summary.loc["mean", "council_npv"] - npv.mean()) < 4 * se


def test_a_run_too_large_for_the_machine_is_refused_clearly() -> None:
    """Two billion paths need 127 GiB of per-path results even in single precision: refused
    before any path runs, naming --paths and the size (not a MemoryError, not the OOM killer)."""
    psutil = pytest.importorskip("psutil")
    need = 2_000_000_000 * 17 * 4
    if psutil.virtual_memory().total + psutil.swap_memory().total > need:
        pytest.skip("this machine could hold two billion paths")
    policy = Path("/proc/sys/vm/overcommit_memory")
    if not policy.exists() or policy.read_text().strip() == "1":
        # a kernel that grants any allocation would let the run start, and kill it much later
        pytest.skip("the kernel does not refuse an allocation larger than the machine")
    scenario = load_scenario(DEFAULT)
    with pytest.raises(ScenarioError) as caught:
        simulate(scenario, RunSettings(2_000_000_000, seed=1))
    message = str(caught.value)
    assert message.startswith("paths: 2,000,000,000 paths need 126.7 GiB")
    assert "fewer paths" in message
