"""Stress analysis and scenario analysis (issue 18 item 2), checked against direct runs
and by hand."""

from __future__ import annotations

import tomllib
from typing import Any

import numpy as np
import openpyxl
import pytest

from bondmodel import cli, parse_scenario, run
from bondmodel.risk.analyses import Analyses, parse_region, parse_stress
from bondmodel.risk.results import simulate
from bondmodel.risk.simulate import RunSettings

from .conftest import ROOT

DEFAULT = ROOT / "templates" / "shared-services.toml"
PATHS = 2 * 8192 + 500


def default_data(realisation: dict[str, Any]) -> dict[str, Any]:
    """The default template with its savings realisation drawn from ``realisation``
    (its correlation with the other inputs kept)."""
    with open(DEFAULT, "rb") as handle:
        data = tomllib.load(handle)
    data["risk"]["inputs"][0]["distribution"] = realisation
    return data


@pytest.fixture(scope="module")
def stressed() -> Any:
    scenario = parse_scenario(default_data({"type": "uniform", "min": 0.5, "max": 1.5}))
    analyses = Analyses(
        (parse_stress("savings_realisation=P5:P25"), parse_stress("start_delay=P75:P100")),
        (parse_region("council_npv<50000000"),),
    )
    return scenario, simulate(scenario, RunSettings(PATHS, seed=31), analyses=analyses)


def test_a_stress_equals_a_direct_run_with_the_restricted_distribution(stressed: Any) -> None:
    # P5-P25 of a uniform on [0.5, 1.5] is a uniform on [0.55, 0.75]: the stressed run maps
    # each rank-correlated uniform u to 0.05 + 0.2 u, the direct run draws 0.55 + 0.2 u from
    # the same u, so the two runs agree path for path up to rounding
    _, sim = stressed
    direct = simulate(
        parse_scenario(default_data({"type": "uniform", "min": 0.55, "max": 0.75})),
        RunSettings(PATHS, seed=31),
    )
    row = sim.stress.set_index("case").loc["savings_realisation=P5:P25"]
    direct_mean = float(direct.per_path["council_npv"].mean())
    assert row["mean"] == pytest.approx(direct_mean, rel=1e-12)
    assert row["p50"] == pytest.approx(float(direct.summary["council_npv"]["p50"]), rel=1e-12)
    # low savings lower the council NPV, by much: the baseline's mean less the direct run's
    baseline = sim.stress.set_index("case").loc["baseline"]
    assert baseline["mean"] == pytest.approx(float(sim.per_path["council_npv"].mean()), rel=1e-15)
    assert row["mean_change"] == pytest.approx(direct_mean - baseline["mean"], rel=1e-9)
    assert row["mean_change"] < -0.2 * baseline["mean"]
    # a long start delay lowers it too, by less
    delay = sim.stress.set_index("case").loc["start_delay=P75:P100"]
    assert row["mean_change"] < delay["mean_change"] < 0.0


def test_stress_runs_are_bit_identical_across_executors(stressed: Any) -> None:
    scenario, sim = stressed
    other = simulate(
        scenario,
        RunSettings(PATHS, seed=31, workers=2, chunk_blocks=1),
        analyses=sim.analyses,
    )
    assert other.stress.equals(sim.stress)
    for key, frame in sim.regions.items():
        assert other.regions[key].equals(frame)


def test_stress_and_scenario_analysis_run_on_the_dask_scheduler_bit_for_bit(
    stressed: Any,
) -> None:
    """The analyses run on a Dask cluster as a plain run does, with the same tables; the
    PAWN indices, computed from the paths afterwards, are the same too."""
    distributed = pytest.importorskip("distributed")
    scenario, sim = stressed
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        other = simulate(
            scenario,
            RunSettings(PATHS, seed=31, scheduler=cluster.scheduler_address, chunk_blocks=1),
            analyses=sim.analyses,
        )
    assert other.settings.executor == "dask"
    assert other.stress.equals(sim.stress)
    assert other.regions.keys() == sim.regions.keys()
    for key, frame in sim.regions.items():
        assert other.regions[key].equals(frame)
    assert other.per_path.equals(sim.per_path)
    assert other.pawn.equals(sim.pawn)


@pytest.mark.parametrize(
    "text", ["min_dscr<1", "council_npv > -2.5e6", "npv<0", " irr >0.035 ", "min_dscr<1e-2"]
)
def test_a_region_and_a_p_measure_read_one_grammar_and_count_the_same_paths(text: str) -> None:
    """``--scenario-analysis METRIC<LEVEL`` and the design tools' ``P(METRIC<LEVEL)`` are one
    condition: the same metric, comparison and level, and the same paths (an undefined value
    neither in the region nor counted)."""
    from bondmodel.design.measures import parse_measure
    from bondmodel.risk.events import event_probability

    region = parse_region(text)
    measure = parse_measure(f"P({text.strip()})")
    assert (measure.metric, measure.op, measure.level) == (
        region.metric,
        region.op,
        region.level,
    )
    values = np.array([-1e7, -0.5, 0.0, 0.02, 0.5, 2.0, 1e8, np.nan, np.inf, -np.inf])
    inside = region.holds(values)
    assert not inside[-3:].any()
    p, _ = event_probability(values, measure.op, measure.level)
    assert p == inside.sum() / 7


@pytest.mark.parametrize("level", ["inf", "nan", "1e999", "x", "1..2"])
def test_a_condition_needs_a_finite_number_in_both_places(level: str) -> None:
    from bondmodel.design.measures import parse_measure
    from bondmodel.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"--scenario-analysis: .*finite number"):
        parse_region(f"npv<{level}")
    with pytest.raises(ScenarioError, match="not a finite number"):
        parse_measure(f"P(npv<{level})")


def test_scenario_analysis_by_hand(stressed: Any) -> None:
    _, sim = stressed
    frame = sim.regions["council_npv<5e+07"]
    inside = sim.per_path["council_npv"].to_numpy() < 50_000_000
    assert frame.attrs["paths"] == int(inside.sum()) > 0
    for record in frame.to_dict(orient="records"):
        x = sim.inputs[record["input"]].to_numpy()
        z = (np.median(x[inside]) - np.median(x)) / x.std(ddof=1)
        assert record["z"] == pytest.approx(z, rel=1e-12)
        assert record["significant"] == (abs(z) >= 0.5)
    # sorted by the size of the move; low savings drive the council NPV below £50m
    assert frame["z"].abs().is_monotonic_decreasing
    assert frame["input"].iloc[0] == "savings_realisation" and frame["z"].iloc[0] < -0.5


def test_scenario_analysis_finds_the_one_input_that_drives_the_region() -> None:
    # three independent inputs; only the savings realisation moves the programme NPV (the
    # other two scale a fixed, zero-cost running cost and nothing), so it alone is significant
    data = default_data({"type": "uniform", "min": 0.5, "max": 1.5})
    data["risk"].pop("correlation")
    data["running_costs"] = [
        {"name": "None", "annual_amount": 0.0, "start_year": 1, "indexation": "none"}
    ]
    data["risk"]["inputs"][1:] = [
        {
            "name": f"noise_{i}",
            "target": "running_costs.factor",
            "distribution": {"type": "uniform", "min": 0.5, "max": 1.5},
        }
        for i in (1, 2)
    ]
    sim = simulate(
        parse_scenario(data),
        RunSettings(8192, seed=5),
        analyses=Analyses((), (parse_region("npv<80000000"),)),
    )
    frame = sim.regions["npv<8e+07"].set_index("input")
    assert frame.loc["savings_realisation", "significant"]
    assert not frame.loc["noise_1", "significant"] and not frame.loc["noise_2", "significant"]
    assert abs(frame.loc["noise_1", "z"]) < 0.1 and abs(frame.loc["noise_2", "z"]) < 0.1


def test_the_command_writes_the_stress_sheet_and_verify_reruns_it(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.xlsx"
    argv = ["run", str(DEFAULT), "-o", str(out), "--paths", "3000", "--seed", "8", "--quiet"]
    argv += ["--stress", "savings_realisation=P5:P25", "--scenario-analysis", "min_dscr<1.0"]
    assert cli.main(argv) == 0
    wb = openpyxl.load_workbook(out)
    assert "Stress" in wb.sheetnames
    texts = [r[0] for r in wb["Stress"].iter_rows(values_only=True) if r and r[0]]
    assert "Baseline (no stress)" in texts
    assert "Savings realisation within P5-P25" in texts
    assert any(str(t).startswith("Scenario analysis: paths where Minimum DSCR < 1") for t in texts)
    capsys.readouterr()
    assert cli.main(["verify", str(out)]) == 0
    assert "MATCH" in capsys.readouterr().out
    # the JSON carries both analyses
    results = run(
        parse_scenario(default_data({"type": "pert", "min": 0.5, "mode": 1.0, "max": 2.0})),
        paths=3000,
        seed=8,
        analyses=Analyses(
            (parse_stress("savings_realisation=P5:P25"),), (parse_region("min_dscr<1"),)
        ),
    )
    data = results.summary()["risk"]
    assert data["stress"]["rows"][1]["case"] == "savings_realisation=P5:P25"
    assert data["scenario_analysis"][0]["region"] == "min_dscr<1"


def test_analyses_need_a_simulation(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    out = tmp_path / "m.xlsx"
    code = cli.main(
        ["run", str(DEFAULT), "-o", str(out), "--paths", "0", "--stress", "start_delay=P0:P10"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "--paths N" in err and "Traceback" not in err
    assert not out.exists()


def test_verify_refuses_a_recorded_analysis_the_command_line_would_refuse(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import zipfile

    out = tmp_path / "m.xlsx"
    argv = ["run", str(DEFAULT), "-o", str(out), "--paths", "300", "--seed", "2", "--quiet"]
    assert cli.main([*argv, "--stress", "savings_realisation=P5:P25"]) == 0
    tampered = tmp_path / "t.xlsx"
    with zipfile.ZipFile(out) as source, zipfile.ZipFile(tampered, "w") as target:
        for name in source.namelist():
            data = source.read(name).replace(b"=P5:P25", b"=P5:P999")
            target.writestr(name, data)
    capsys.readouterr()
    assert cli.main(["verify", str(tampered)]) == 2
    err = capsys.readouterr().err
    assert "run manifest: stress.0:" in err and "P5:P999" in err and "0 <= low < high <= 100" in err
    assert "rerunning" not in err and "Traceback" not in err
