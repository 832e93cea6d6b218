"""The run command's Monte Carlo behaviour: the seed, the progress bar, the tornado output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bondmodel import ScenarioError, load_scenario
from bondmodel.risk.results import simulate
from bondmodel.risk.simulate import RunSettings


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bondmodel.cli", "run", "-o", str(tmp_path / "out.xlsx"), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )


def test_a_drawn_seed_is_printed_recorded_and_repeats_the_run(tmp_path: Path) -> None:
    first = run_cli(tmp_path, "--paths", "300", "--json")
    assert first.returncode == 0, first.stderr
    match = re.search(r"seed (\d+) \(repeat with --seed \1\)", first.stderr)
    assert match is not None, first.stderr
    seed = int(match.group(1))
    summary = json.loads(first.stdout)
    assert summary["risk"]["settings"]["seed"] == seed
    again = run_cli(tmp_path, "--paths", "300", "--json", "--seed", str(seed))
    assert json.loads(again.stdout)["risk"]["summary"] == summary["risk"]["summary"]


def test_no_progress_bar_when_not_a_terminal(tmp_path: Path) -> None:
    # stderr is a pipe here: only the seed and the 'wrote' lines, no bar.
    done = run_cli(tmp_path, "--paths", "20000", "--seed", "1")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert all(line.startswith("bondmodel: ") for line in lines), lines
    assert "path/s" not in done.stderr and "%|" not in done.stderr


def test_progress_bar_reports_every_path() -> None:
    scenario = load_scenario(None)
    seen: list[int] = []
    simulate(scenario, RunSettings(20000, seed=1), progress=seen.append)
    assert sum(seen) == 20000


def test_tornado_output_can_be_chosen() -> None:
    scenario = load_scenario(None)
    sim = simulate(scenario, RunSettings(500, seed=2), tornado_output="min_dscr")
    assert sim.tornado_output == "min_dscr"
    # a later start of savings lowers the minimum DSCR
    row = sim.tornado.set_index("input").loc["start_delay"]
    assert row["output_at_p90"] < row["output_at_p10"]
    with pytest.raises(ScenarioError, match=r"^tornado_output: "):
        simulate(scenario, RunSettings(500, seed=2), tornado_output="no_such_metric")


def test_tornado_is_centred_on_the_base_case() -> None:
    from bondmodel import run

    scenario = load_scenario(None)
    sim = simulate(scenario, RunSettings(300, seed=2))
    base = run(scenario, paths=0)
    assert base.bond is not None
    assert sim.tornado_base == base.bond.metrics["council_npv"]
