"""Monte Carlo: the reproducibility contract, the analytic limit, correlation and fans."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from bondmodel import load_scenario, parse_scenario, run
from bondmodel.model import Model
from bondmodel.risk.correlation import iman_conover, nearest_correlation
from bondmodel.risk.results import simulate
from bondmodel.risk.sampling import BLOCK_SIZE, block_uniforms
from bondmodel.risk.simulate import (
    Convergence,
    RunSettings,
    histogram_quantiles,
    run_chunk,
)

from .conftest import ROOT

DEFAULT = ROOT / "templates" / "shared-services.toml"
PATHS = 3 * BLOCK_SIZE + 123  # crosses block boundaries, with a partial last block


def default_data() -> dict[str, Any]:
    with open(DEFAULT, "rb") as handle:
        return tomllib.load(handle)


@pytest.fixture(scope="module")
def serial_run() -> Any:
    return simulate(load_scenario(DEFAULT), RunSettings(PATHS, seed=20261129, sampler="random"))


def assert_identical(a: Any, b: Any) -> None:
    """Bit-identical per-path results and statistics."""
    assert a.per_path.shape == b.per_path.shape
    for column in a.per_path.columns:
        assert np.array_equal(
            a.per_path[column].to_numpy(), b.per_path[column].to_numpy(), equal_nan=True
        ), column
    assert np.array_equal(a.inputs.to_numpy(), b.inputs.to_numpy())
    assert a.summary.equals(b.summary)
    for name in a.fans:
        assert a.fans[name].equals(b.fans[name]), name


@pytest.mark.parametrize("chunk_blocks", [1, 3])
def test_chunk_size_does_not_change_results(serial_run: Any, chunk_blocks: int) -> None:
    other = simulate(
        load_scenario(DEFAULT), RunSettings(PATHS, seed=20261129, chunk_blocks=chunk_blocks)
    )
    assert_identical(serial_run, other)


def test_two_local_processes_match_serial(serial_run: Any) -> None:
    other = simulate(
        load_scenario(DEFAULT), RunSettings(PATHS, seed=20261129, workers=2, chunk_blocks=1)
    )
    assert other.settings.executor == "processes"
    assert_identical(serial_run, other)


def test_dask_local_cluster_matches_serial(serial_run: Any) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        other = simulate(
            load_scenario(DEFAULT),
            RunSettings(PATHS, seed=20261129, scheduler=cluster.scheduler_address, chunk_blocks=2),
        )
    assert other.settings.executor == "dask"
    assert_identical(serial_run, other)


def test_the_added_families_are_bit_identical_across_executors_and_chunkings() -> None:
    # gamma, Weibull, Student's t, general and binomial drive the default template's inputs
    data = default_data()
    families = [
        {"type": "general", "values": [0.4, 0.8, 1.0, 1.6], "cumulative": [0.0, 0.25, 0.6, 1.0]},
        {"type": "weibull", "shape": 1.5, "scale": 0.8},
        {"type": "gamma", "shape": 20.0, "scale": 0.055},
    ]
    for spec, risk_input in zip(families, data["risk"]["inputs"], strict=False):
        risk_input["distribution"] = spec
    data["risk"]["inputs"].append(
        {
            "name": "Running cost factor",
            "target": "running_costs.factor",
            "distribution": {"type": "student_t", "df": 6.0, "location": 1.0, "scale": 0.05},
        }
    )
    data["risk"]["inputs"].append(
        {
            "name": "Cohort share",
            "target": "partners.realisation",
            "distribution": {"type": "binomial", "n": 50, "p": 0.9, "scale": 0.02},
        }
    )
    scenario = parse_scenario(data)
    paths = 2 * BLOCK_SIZE + 77
    serial = simulate(scenario, RunSettings(paths, seed=5))
    for settings in (
        RunSettings(paths, seed=5, chunk_blocks=1),
        RunSettings(paths, seed=5, workers=2, chunk_blocks=1),
    ):
        assert_identical(serial, simulate(scenario, settings))
    drawn = serial.inputs.to_numpy()
    assert np.isfinite(drawn).all()
    # the binomial share moves in steps of 1/50, and the general stays on its support
    share = serial.inputs.iloc[:, 4].to_numpy()
    assert np.allclose(share * 50, np.round(share * 50), atol=1e-12)
    assert serial.inputs.iloc[:, 0].between(0.4, 1.6).all()


def test_seed_matters_and_is_recorded(serial_run: Any) -> None:
    other = simulate(load_scenario(DEFAULT), RunSettings(PATHS, seed=1))
    assert not np.array_equal(other.per_path["npv"], serial_run.per_path["npv"])
    assert serial_run.settings.seed == 20261129
    assert serial_run.settings.paths == PATHS


@pytest.mark.parametrize("sampler", ["random", "lhs", "sobol"])
def test_every_distribution_fixed_at_central_equals_base_case(sampler: str) -> None:
    # Each risk input fixed at the value the scenario already has: realisation 1,
    # no extra delay, overrun 1, running factor 1, inflation as given, erosion as given.
    data = default_data()
    data["running_costs"][0]["indexation"] = "inflation"
    data["risk"] = {
        "default_paths": 100,
        "inputs": [
            {
                "name": "r",
                "target": "savings.realisation",
                "distribution": {"type": "fixed", "value": 1.0},
            },
            {
                "name": "d",
                "target": "savings.start_delay",
                "distribution": {"type": "fixed", "value": 0.0},
            },
            {
                "name": "o",
                "target": "costs.overrun",
                "distribution": {"type": "fixed", "value": 1.0},
            },
            {
                "name": "f",
                "target": "running_costs.factor",
                "distribution": {"type": "fixed", "value": 1.0},
            },
            {
                "name": "i",
                "target": "economics.inflation",
                "distribution": {"type": "fixed", "value": data["economics"]["inflation"]},
            },
            {
                "name": "e",
                "target": "savings.erosion",
                "distribution": {"type": "fixed", "value": data["savings"][0]["erosion"]},
            },
        ],
    }
    scenario = parse_scenario(data)
    base = run(scenario, paths=0)
    sim = simulate(scenario, RunSettings(300, seed=3, sampler=sampler))  # type: ignore[arg-type]
    assert base.bond is not None
    expected = {
        "npv": base.metrics["npv"],
        "payback_years": base.metrics["payback_years"],
        "peak_funding_need": base.metrics["peak_funding_need"],
        "investor_irr": base.bond.metrics["investor_irr"],
        "council_npv": base.bond.metrics["council_npv"],
        "min_dscr": base.bond.metrics["min_dscr"],
        "total_topup": base.bond.metrics["total_topup"],
        "investor_loss": base.bond.metrics["investor_loss"],
        "council_npv_vs_pwlb": base.bond.metrics["council_npv_vs_pwlb"],
    }
    for key, value in expected.items():
        column = sim.per_path[key].to_numpy()
        assert (column == value).all(), (key, column[:3], value)


def test_iman_conover_reaches_target_rank_correlation(serial_run: Any) -> None:
    target = np.array(default_data()["risk"]["correlation"]["matrix"])
    achieved = stats.spearmanr(serial_run.inputs.to_numpy()).statistic
    np.testing.assert_allclose(achieved, target, atol=0.02)


def test_iman_conover_keeps_marginals_and_handles_perfect_correlation() -> None:
    rng = np.random.default_rng(5)
    u = rng.random((5000, 3))
    target = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    out = iman_conover(u, target, np.random.default_rng(6))
    np.testing.assert_array_equal(np.sort(out, axis=0), np.sort(u, axis=0))
    rho = stats.spearmanr(out).statistic
    assert rho[0, 1] == pytest.approx(1.0, abs=1e-12)
    assert abs(rho[0, 2]) < 0.05


def test_nearest_correlation_repairs_a_non_psd_matrix() -> None:
    bad = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    assert np.linalg.eigvalsh(bad).min() < 0
    fixed = nearest_correlation(bad)
    assert np.linalg.eigvalsh(fixed).min() > -1e-10
    np.testing.assert_allclose(np.diag(fixed), 1.0)
    np.testing.assert_allclose(fixed, fixed.T)
    # Higham's answer for this matrix is symmetric with off-diagonals +-0.5 ...
    np.testing.assert_allclose(np.abs(fixed[np.triu_indices(3, 1)]), 0.5, atol=1e-6)


def test_lhs_stratifies_each_block() -> None:
    u = block_uniforms(9, "lhs", 1, 2 * BLOCK_SIZE, 3)
    for j in range(3):
        strata = np.floor(u[:, j] * BLOCK_SIZE).astype(int)
        assert np.array_equal(np.sort(strata), np.arange(BLOCK_SIZE))


def test_sobol_blocks_continue_one_sequence() -> None:
    whole = np.concatenate([block_uniforms(4, "sobol", b, 2 * BLOCK_SIZE, 2) for b in (0, 1)])
    from scipy.stats import qmc

    engine = qmc.Sobol(
        d=2,
        scramble=True,
        seed=np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(4, spawn_key=(2**31 - 1,)))
        ),
    )
    expected = np.clip(engine.random(2 * BLOCK_SIZE), 2.0**-53, 1 - 2.0**-53)
    np.testing.assert_array_equal(whole, expected)


def test_fan_chart_histogram_within_two_bins_of_exact(serial_run: Any) -> None:
    # Recompute the exact per-period percentiles of net savings for the same paths.
    scenario = load_scenario(DEFAULT)
    engine = Model.compile(scenario)
    series = np.concatenate(
        [engine.block(20261129, "random", b, PATHS).series["net_savings"] for b in range(4)]
    )
    exact = np.percentile(series, [5, 10, 50, 90, 95], axis=0, method="linear").T
    fan = serial_run.fans["net_savings"][["P5", "P10", "P50", "P90", "P95"]].to_numpy()
    from bondmodel.risk.simulate import FAN_BINS, fan_edges_from

    pilot = engine.block(20261129, "random", 0, PATHS).series["net_savings"]
    width = (fan_edges_from(pilot)[:, -1] - fan_edges_from(pilot)[:, 0]) / FAN_BINS
    assert (np.abs(fan - exact) <= 2 * width[:, None] + 1e-6).all()


def test_histogram_quantiles_on_a_known_sample() -> None:
    # 1..1000 in one period with 10 bins of width 100: the median is 500.
    values = np.arange(1, 1001, dtype=float)[:, None]
    edges = np.linspace(0.0, 1000.0, 2049)[None, :]
    from bondmodel.risk.simulate import histogram_counts

    counts = histogram_counts(values, edges)
    q = histogram_quantiles(counts, edges, np.array([1.0]), np.array([1000.0]), [0.5, 0.1])
    assert q[0, 0] == pytest.approx(500.0, abs=1.0)
    assert q[0, 1] == pytest.approx(100.0, abs=1.0)


def test_convergence_stops_at_a_block_and_is_reproducible() -> None:
    scenario = load_scenario(DEFAULT)
    rule = Convergence(tolerance=0.01, confidence=0.95)
    a = simulate(scenario, RunSettings(20 * BLOCK_SIZE, seed=11, convergence=rule))
    b = simulate(
        scenario,
        RunSettings(20 * BLOCK_SIZE, seed=11, convergence=rule, workers=2, chunk_blocks=3),
    )
    assert a.settings.converged_at_block is not None
    assert a.settings.paths < 20 * BLOCK_SIZE
    assert a.settings.paths % BLOCK_SIZE == 0
    assert_identical(a, b)
    # the same as asking for that many paths outright, fan-chart histograms included: a
    # chunk running past the stopping block has only its kept blocks counted, whatever the
    # chunking (the stopping block falls inside a chunk for at least one of these)
    c = simulate(scenario, RunSettings(a.settings.paths, seed=11))
    assert_identical(a, c)
    for chunk_blocks in (2, 3, 4):
        d = simulate(
            scenario,
            RunSettings(20 * BLOCK_SIZE, seed=11, convergence=rule, chunk_blocks=chunk_blocks),
        )
        assert_identical(a, d)
    assert any((a.settings.converged_at_block + 1) % k for k in (2, 3, 4))
    mean = a.summary.loc["mean", "council_npv"]
    half = 1.96 * a.summary.loc["se_mean", "council_npv"]
    assert half <= 0.01 * abs(mean)


def test_tornado_orders_by_swing(serial_run: Any) -> None:
    swings = serial_run.tornado["swing"].abs().to_numpy()
    assert (np.diff(swings) <= 0).all()
    top = serial_run.tornado.iloc[0]
    assert top["input"] == "savings_realisation"
    assert top["output_at_p90"] > top["output_at_p10"]


def test_chunk_output_is_self_contained() -> None:
    scenario = load_scenario(DEFAULT)
    from bondmodel.risk.simulate import Context

    out = run_chunk(Context(scenario, 1, "random", 100, {}), [0])
    assert out.blocks == [0]
    assert out.metrics[0]["npv"].shape == (100,)


def test_run_without_paths_uses_the_scenario_default() -> None:
    data = copy.deepcopy(default_data())
    data["risk"]["default_paths"] = 500
    res = run(parse_scenario(data), seed=5)
    assert res.risk is not None
    assert res.risk.settings.paths == 500
    assert run(parse_scenario(data), paths=0).risk is None


def test_path_count_and_seed_errors() -> None:
    from bondmodel import ScenarioError

    scenario = load_scenario(DEFAULT)
    with pytest.raises(ScenarioError, match=r"^paths: "):
        run(scenario, paths=-1)
    with pytest.raises(ScenarioError, match=r"^seed: "):
        run(scenario, paths=10, seed=-3)
    no_risk = load_scenario(ROOT / "templates" / "single-council-bold.toml")
    if no_risk.risk is None:
        with pytest.raises(ScenarioError, match="no \\[risk\\]"):
            run(no_risk, paths=10)


def test_templates_directory_exists() -> None:
    assert Path(DEFAULT).is_file()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"confidence": 2.0}, "convergence.confidence: 2.0 must be in [0.5, 1)"),
        ({"confidence": float("nan")}, "convergence.confidence: nan must be in [0.5, 1)"),
        ({"tolerance": 0.0}, "convergence.tolerance: 0.0 must be between 0 and 1"),
        ({"tolerance": float("nan")}, "convergence.tolerance: nan must be between 0 and 1"),
        ({"metrics": "npv"}, "convergence.metrics: 'npv' must be a tuple of metric names"),
    ],
)
def test_convergence_is_checked_through_the_api(kwargs: dict[str, Any], message: str) -> None:
    # through the API a confidence of 2 once gave z = NaN and reported "converged" after the
    # first block; the API now refuses what the command line refuses, naming the parameter
    from bondmodel import ScenarioError
    from bondmodel.risk.simulate import Convergence

    with pytest.raises(ScenarioError) as caught:
        Convergence(**kwargs)
    assert str(caught.value) == message


def test_the_command_line_names_the_flag_for_a_parameter_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from bondmodel.cli import flag_wording, main

    assert flag_wording("chunk_blocks: 0 must be >= 1") == "--chunk-blocks: 0 must be >= 1"
    assert flag_wording("scenario.toml: timeline: bad") == "scenario.toml: timeline: bad"
    assert main(["run", "--paths", "100", "--converge", "0.01", "--confidence", "2"]) == 2
    assert "bondmodel: error: --confidence: 2.0 must be in [0.5, 1)" in capsys.readouterr().err
    assert main(["run", "--paths", "-4"]) == 2
    assert "bondmodel: error: --paths: -4 is negative" in capsys.readouterr().err
    assert main(["new", str(tmp_path / "x.toml"), "--template", "no-such-template"]) == 2
    assert "bondmodel: error: --template: unknown template 'no-such-template'" in (
        capsys.readouterr().err
    )
