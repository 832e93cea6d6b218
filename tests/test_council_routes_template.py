"""The ``council-routes`` template (issue 17): the routes rank differently under risk.

On the base case the outcomes contract gives the council the least of all the routes (it
pays investors up to 1.45 times what they invested); under the simulation it gives the most,
on average and in a bad year in ten, because its investors bear part of every savings
shortfall. Every figure here is computed from the engine, at two seeds, with a margin of
several standard errors; the user guide's worked example is the tool's output.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bondmodel import cli, load_scenario, run
from bondmodel.scenario.loader import template_path
from bondmodel.verification import verify

from .conftest import ROOT

USER_GUIDE = ROOT / "docs" / "user-guide.md"
OUTCOMES = "Outcomes contract"
#: Paths per seed: enough for the reversal to stand many standard errors clear, cheap in CI.
PATHS = 500
#: How many standard errors the simulated advantage must clear.
MARGIN_SE = 5.0


def _p10_se(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> float:
    """The bootstrap standard error of P10(x) - P10(y), x and y on the same paths."""
    n = len(x)
    diffs = []
    for _ in range(200):
        i = rng.integers(0, n, n)
        diffs.append(np.quantile(x[i], 0.1) - np.quantile(y[i], 0.1))
    return float(np.std(diffs))


@pytest.mark.parametrize("seed", [1, 2])
def test_the_routes_rank_differently_under_risk(seed: int) -> None:
    results = run(load_scenario(template_path("council-routes")), paths=PATHS, seed=seed)
    routes = results.routes
    assert routes is not None and routes.risk is not None and results.risk is not None
    names = routes.summary["route"].tolist()
    oc = names.index(OUTCOMES)
    base = routes.summary["council_npv"].to_numpy(dtype=float)
    # the base case: the outcomes contract is last, a borrowing route first
    assert int(np.argmin(base)) == oc
    best = int(np.argmax(base))
    assert routes.summary["borrowing"][best] == "yes"
    assert base[best] - base[oc] > 1_000_000
    # every route is lawful as set up: the costs are capital, the receipts may fund capital
    assert (routes.summary["lawful_for_revenue_costs"] == "yes").all()
    assert not any("NOT LAWFUL" in f or "NOT ELIGIBLE" in f for f in routes.summary["flags"])

    per_path = results.risk.per_path
    npv = {k: per_path[f"route_npv_{k}"].to_numpy(dtype=float) for k in range(len(names))}
    rng = np.random.default_rng(seed)
    for k in range(len(names)):
        if k == oc:
            continue
        # mean council NPV: the difference on common paths, its standard error
        d = npv[oc] - npv[k]
        assert d.mean() > MARGIN_SE * d.std(ddof=1) / np.sqrt(len(d)), names[k]
        # P10 council NPV, with a bootstrap standard error
        p10 = np.quantile(npv[oc], 0.1) - np.quantile(npv[k], 0.1)
        assert p10 > MARGIN_SE * _p10_se(npv[oc], npv[k], rng), names[k]
    # the engine's own summary agrees: first by mean and P10 under risk
    risk = routes.risk.set_index("route")
    assert risk["mean_council_npv"].idxmax() == OUTCOMES
    assert risk["p10_council_npv"].idxmax() == OUTCOMES
    # why: investors bear a shortfall only under the outcomes contract, and the council less
    assert (risk["p_investor_shortfall"].drop(OUTCOMES) == 0).all()
    assert risk.loc[OUTCOMES, "p_investor_shortfall"] > 0.5
    others = risk["mean_council_shortfall"].drop(OUTCOMES)
    assert (risk.loc[OUTCOMES, "mean_council_shortfall"] < others).all()


def _quoted_block(text: str, command: str) -> tuple[int, int, list[str]]:
    """(start, end, output lines) of the console block of the guide that quotes ``$ command``."""
    for m in re.finditer(r"```console\n(.*?)```", text, flags=re.S):
        lines = m.group(1).rstrip("\n").split("\n")
        if lines[0] == f"$ {command}":
            return m.start(1), m.end(1), lines[1:]
    raise AssertionError(f"the user guide no longer quotes `{command}`")


def test_the_worked_example_is_the_tool_output_and_its_workbook_verifies(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """The guide's worked example prints what it quotes (``--update-docs`` refreshes the
    quoted output; the figures in its prose are then to be checked by hand), and the
    workbook it writes verifies."""
    monkeypatch.chdir(tmp_path)
    text = USER_GUIDE.read_text(encoding="utf-8")
    steps = [
        "bondmodel new riverford.toml --template council-routes",
        "bondmodel validate riverford.toml",
        "bondmodel run riverford.toml --paths 2000 --seed 1",
    ]
    stale = []
    for command in steps:
        capsys.readouterr()
        assert cli.main(command.split()[1:]) == 0, command
        captured = capsys.readouterr()
        printed = captured.err + captured.out
        real = [line.rstrip() for line in printed.rstrip("\n").split("\n")]
        start, end, quoted = _quoted_block(text, command)
        if [line.rstrip() for line in quoted] != real:
            stale.append(command)
            text = text[:start] + "\n".join([f"$ {command}", *real]) + "\n" + text[end:]
    report = verify(tmp_path / "riverford.xlsx")
    assert report.ok, report.text()
    assert not report.problems
    if stale and request.config.getoption("--update-docs"):
        USER_GUIDE.write_text(text, encoding="utf-8")
        pytest.skip(f"refreshed {stale} in {USER_GUIDE.name}: check the figures in its prose")
    assert not stale, f"{USER_GUIDE.name} quotes outputs the tool no longer prints for {stale}"
