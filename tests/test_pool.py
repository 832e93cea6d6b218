"""Pooled bonds (issue 19): the portfolio file, joint simulation, waterfall and metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bondmodel import cli
from bondmodel.engine import run
from bondmodel.pool import (
    PoolModel,
    PoolResults,
    Portfolio,
    load_portfolio,
    member_seed,
    parse_portfolio,
    run_pool,
)
from bondmodel.pool.model import common_normals, common_shocks
from bondmodel.pool.simulate import (
    MEMBER_GROUP,
    block_paths,
    group_part,
    structure_of,
    tail_count,
)
from bondmodel.pool.synthetic import synthetic_portfolio
from bondmodel.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
SIB = "sib-limited-recourse.toml"


def portfolio_dict(members: int = 1, **extra: Any) -> dict[str, Any]:
    """A pool of ``members`` copies of the limited-recourse template (each its own key)."""
    data: dict[str, Any] = {
        "name": "Test pool",
        "bond": {
            "tenor_years": 8,
            "legal_maturity_years": 10,
            "coupon": {"type": "fixed", "rate": 0.03},
            "repayment": {"type": "bullet"},
        },
        "members": [{"name": f"Council {i}", "scenario": SIB} for i in range(members)],
    }
    data.update(extra)
    return data


def pool_of(data: dict[str, Any]) -> PoolModel:
    return PoolModel(parse_portfolio(data, base=TEMPLATES))


def test_a_pool_of_one_member_is_its_stand_alone_run_path_for_path() -> None:
    paths, seed = 400, 20261130
    model = pool_of(portfolio_dict(1))
    structure = structure_of(model)
    pooled = block_paths(model, structure, seed, 0, paths).member_loss[:, 0]
    alone = run(load_scenario(TEMPLATES / SIB), paths=paths, seed=member_seed(seed, "Council 0"))
    standalone = alone.risk.per_path["investor_loss"].to_numpy()
    assert (standalone > 0).sum() > 20  # the comparison covers paths with losses
    assert np.array_equal(pooled, standalone)
    # and the pool's reported stand-alone figures are the run's
    results = run_pool(parse_portfolio(portfolio_dict(1), base=TEMPLATES), paths, seed)
    member = results.members.iloc[0]
    assert member["expected_loss"] == pytest.approx(standalone.mean(), rel=1e-12)
    assert member["probability_of_loss"] == pytest.approx((standalone > 1e-6).mean())
    assert member["seed"] == str(member_seed(seed, "Council 0"))


def test_a_members_paths_are_the_same_alone_and_in_a_pool() -> None:
    factors = {"delivery": 0.5, "inflation": 1.0}
    alone = pool_of(portfolio_dict(1, factors=factors))
    crowd = portfolio_dict(5, factors=factors)
    crowd["members"] = list(reversed(crowd["members"]))  # Council 0 is now the last member
    pooled = pool_of(crowd)
    seed, paths = 7, 300
    common = common_normals(seed, 0, paths, alone.factor_root)
    a = alone.member_block(0, seed, 0, paths, common)
    b = pooled.member_block(4, seed, 0, paths, common)
    assert np.array_equal(a.paid, b.paid)
    assert np.array_equal(a.loss, b.loss)
    # the common factor moves the member's paths (it is not ignored) ...
    independent = pool_of(portfolio_dict(1)).member_block(0, seed, 0, paths, common)
    assert not np.array_equal(a.loss, independent.loss)
    # ... and members of one pool differ (own keys) yet share the delivery factor
    other = pooled.member_block(3, seed, 0, paths, common)
    assert not np.array_equal(a.loss, other.loss)


def test_members_losses_correlate_through_the_delivery_factor() -> None:
    seed, paths = 11, 2000

    def correlation(rho: float) -> float:
        model = pool_of(portfolio_dict(2, factors={"delivery": rho}))
        loss = block_paths(model, structure_of(model), seed, 0, paths).member_loss
        return float(np.corrcoef(loss[:, 0], loss[:, 1])[0, 1])

    none, strong = correlation(0.0), correlation(0.8)
    assert abs(none) < 0.1  # independent within sampling error (sd ~ 1/sqrt(2000) = 0.022)
    assert strong > 0.4


def structured(members: int = 3) -> dict[str, Any]:
    return portfolio_dict(
        members,
        tranches=[
            {"name": "senior", "share": 0.7, "coupon_rate": 0.025},
            {"name": "mezzanine", "share": 0.2, "coupon_rate": 0.04},
            {"name": "junior", "share": 0.1, "coupon_rate": 0.07},
        ],
        reserve={"share": 0.03},
        guarantee={"type": "joint_and_several", "cap": 0.05},
        factors={"delivery": 0.3},
    )


def test_tranche_losses_add_up_to_the_pools_loss_on_every_path() -> None:
    model = pool_of(structured())
    structure = structure_of(model)
    bp = block_paths(model, structure, 5, 0, 4000)
    f = bp.flows
    assert (f.investor_loss > 1.0).sum() > 20  # paths where investors lose
    assert (f.loss[0] > 1.0).sum() > 2  # ... even the senior tranche
    np.testing.assert_array_equal(f.loss.sum(axis=0), f.investor_loss)
    # each tranche: owed (principal + interest accrued) = received + lost, path by path
    received = f.investor_flow[:, :, 1:].sum(axis=2)
    owed = structure.sizes[:, None] + f.interest_accrued
    np.testing.assert_allclose(received + f.loss, owed, rtol=1e-12, atol=1e-4)
    # junior absorbs first: where the senior loses, the junior has lost everything owed to it
    senior_hit = f.loss[0] > 1.0
    assert np.all(f.loss[2][senior_hit] > 0.99 * structure.sizes[2])
    # the pool's gross loss is the members' write-offs
    np.testing.assert_array_equal(bp.gross, bp.member_loss.sum(axis=1))
    # the joint-and-several calls are paid by members without a loss, at most cap x loan
    payers = f.contributions > 0
    assert payers.any()
    assert not np.any(payers & (bp.member_loss > 0))
    assert np.all(f.contributions <= 0.05 * structure.loans[None, :] * (1 + 1e-12))
    np.testing.assert_allclose(
        f.contributions.sum(axis=1), f.guarantee_paid.sum(axis=1), rtol=1e-12, atol=1e-6
    )


def test_pool_cash_is_conserved() -> None:
    model = pool_of(structured())
    structure = structure_of(model)
    seed, paths = 5, 500
    from bondmodel.pool.waterfall import run_pool_waterfall

    common = common_normals(seed, 0, paths, model.factor_root)
    blocks = [model.member_block(i, seed, 0, paths, common) for i in range(model.n_members)]
    paid = sum(b.paid for b in blocks)
    write_off = sum(b.write_off for b in blocks)
    losses = np.stack([b.loss for b in blocks], axis=1)
    assert isinstance(paid, np.ndarray) and isinstance(write_off, np.ndarray)
    f = run_pool_waterfall(structure, paid, write_off, losses)
    cash_in = paid.sum(axis=1) + f.guarantee_paid.sum(axis=1) + structure.reserve
    cash_out = f.investor_flow[:, :, 1:].sum(axis=(0, 2)) + f.residual.sum(axis=1)
    np.testing.assert_allclose(cash_in, cash_out, rtol=1e-12, atol=1e-4)
    assert (f.reserve_draw > 0).any()


def test_pool_loss_variance_falls_as_one_over_n_without_correlation() -> None:
    seed, paths, n = 3, 3000, 12

    def shares(members: int) -> np.ndarray:
        model = pool_of(portfolio_dict(members))
        return block_paths(model, structure_of(model), seed, 0, paths).gross / model.principal

    one, many = shares(1), shares(n)
    ratio = n * many.var(ddof=1) / one.var(ddof=1)

    def rel_se(x: np.ndarray) -> float:
        # standard error of a sample variance, relative: sqrt((kurtosis - (m-3)/(m-1)) / m)
        m = x.size
        z = x - x.mean()
        kurtosis = (z**4).mean() / (z**2).mean() ** 2
        return math.sqrt((kurtosis - (m - 3) / (m - 1)) / m)

    se = math.hypot(rel_se(one), rel_se(many))
    assert abs(math.log(ratio)) < 4 * se, (ratio, se)
    assert se < 0.15  # the test can tell 1/N from, say, 1/(N/2)


def test_euler_contributions_add_up_to_the_pools_expected_shortfall() -> None:
    paths, seed = 9000, 2  # two blocks: the tail is merged across them
    portfolio = parse_portfolio(structured(3), base=TEMPLATES)
    results = run_pool(portfolio, paths, seed)
    es = results.pool.loc["members' write-offs", "es"]
    contributions = results.members["es_contribution"].to_numpy()
    assert es > 0
    assert contributions.sum() == pytest.approx(es, rel=1e-12)
    # the ES is the mean of the K largest gross losses, computed here from the paths
    model = PoolModel(portfolio)
    structure = structure_of(model)
    gross = np.concatenate([block_paths(model, structure, seed, b, paths).gross for b in (0, 1)])
    k = tail_count(paths)
    assert k == 450
    assert es == pytest.approx(np.sort(gross)[-k:].mean(), rel=1e-12)
    assert results.pool.loc["members' write-offs", "var"] == np.sort(gross)[-k]
    d = results.diversification
    assert d["pool_p95_loss"] <= d["sum_member_p95_loss"]  # subadditive here
    assert 0.0 < d["benefit"] < 1.0


@pytest.fixture(scope="module")
def wide_pool() -> tuple[Portfolio, dict[str, Any]]:
    """Two member groups (MEMBER_GROUP + 2 members) by two blocks (the second small): the
    serial run's JSON, with what says how it ran left out."""
    portfolio = synthetic_portfolio(MEMBER_GROUP + 2, years=12, delivery=0.3)
    return portfolio, _numbers(run_pool(portfolio, 8192 + 300, 9))


def _numbers(results: PoolResults) -> dict[str, Any]:
    data = results.to_json()
    for key in ("workers", "executor"):
        data["settings"].pop(key)
    return data


def test_results_are_bit_identical_across_workers(
    wide_pool: tuple[Portfolio, dict[str, Any]],
) -> None:
    portfolio, serial = wide_pool
    assert serial["pool"]["members' write-offs"]["probability"] > 0.05
    other = run_pool(portfolio, 8192 + 300, 9, workers=2)
    assert other.settings["executor"] == "processes"
    assert json.dumps(serial, sort_keys=True) == json.dumps(_numbers(other), sort_keys=True)


def test_dask_local_cluster_matches_serial(wide_pool: tuple[Portfolio, dict[str, Any]]) -> None:
    distributed = pytest.importorskip("distributed")
    portfolio, serial = wide_pool
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        other = run_pool(portfolio, 8192 + 300, 9, scheduler=cluster.scheduler_address)
    assert other.settings["executor"] == "dask"
    assert json.dumps(serial, sort_keys=True) == json.dumps(_numbers(other), sort_keys=True)


# ---------------------------------------------------------------------------
# Bad input: a clear message naming the field, the value and what is allowed
# ---------------------------------------------------------------------------


# The bad portfolio files (23 cases, each through the API and `bondmodel pool`) are in the
# bad-input corpus: tests/bad_inputs/pools/, run by tests/test_bad_inputs.py.


def test_the_template_pool_runs_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    template = TEMPLATES / "pools" / "pooled-programme.toml"
    code = cli.main(["pool", str(template), "--paths", "300", "--seed", "5", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    portfolio = load_portfolio(template)
    assert out["settings"]["members"] == len(portfolio.members) >= 3
    assert [t["tranche"] for t in out["tranches"]] == [t.name for t in portfolio.spec.tranches]
    assert sum(m["es_contribution"] for m in out["members"]) == pytest.approx(
        out["pool"]["members' write-offs"]["es"], rel=1e-12
    )


def test_the_synthetic_pool_is_reproducible_and_member_by_member_stable() -> None:
    small, large = synthetic_portfolio(3), synthetic_portfolio(40)
    assert len(large.members) == 40
    assert small.scenarios[2].sha256() == large.scenarios[2].sha256()
    assert small.scenarios[1].sha256() != small.scenarios[2].sha256()
    assert synthetic_portfolio(3, seed=1).scenarios[2].sha256() != small.scenarios[2].sha256()


def test_the_user_guide_s_pool_output_is_the_tool_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    guide = (ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8")
    section = guide[guide.index("## Building a pool") :]
    quoted = section[
        section.index("```text\n") + 8 : section.index("```\n", section.index("```text"))
    ]
    template = TEMPLATES / "pools" / "pooled-programme.toml"
    assert cli.main(["pool", str(template), "--paths", "5000", "--seed", "1"]) == 0
    printed = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    checked = 0
    for line in quoted.splitlines():
        if line.strip() and "..." not in line:
            shown = line.rstrip().replace(f"{template}", "")
            assert shown in printed, shown
            checked += 1
        elif "..." in line:  # an abridged row: its start is the tool's
            start = line.split("...")[0].rstrip()
            assert any(p.startswith(start) for p in printed), start
    assert checked >= 8


def test_the_tails_do_not_depend_on_the_order_blocks_arrive_in() -> None:
    from bondmodel.pool.simulate import Tails, combine, summarise

    portfolio = parse_portfolio(structured(2), base=TEMPLATES)
    model = PoolModel(portfolio)
    structure = structure_of(model)
    paths = 8192 + 2000

    def summaries() -> list[Any]:
        out = []
        for b in (0, 1):
            bp = combine(structure, [group_part(model, 3, b, paths, 0)])
            out.append(summarise(model, structure, bp, b, paths))
        return out

    forward, backward = Tails.empty(tail_count(paths), 2), Tails.empty(tail_count(paths), 2)
    for s in summaries():
        forward.add(s)
    for s in reversed(summaries()):
        backward.add(s)
    assert forward.loss.size == tail_count(paths) == 510
    for name in ("loss", "path", "members", "net", "member_top"):
        assert np.array_equal(getattr(forward, name), getattr(backward, name)), name
    assert forward.path.max() >= 8192  # the second block reaches the tail


def test_a_run_whose_tails_cannot_fit_is_refused_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blocks' work is bounded by the block, but the tails kept for the expected
    shortfall grow with the paths: 5% of them, with each member's loss. A run whose tails
    exceed the memory this process may hold is refused before anything runs, naming --paths
    (exit 2, nothing written); 1e11 paths of the template would need 820 GiB."""
    from bondmodel.pool import simulate as pool_simulate
    from bondmodel.resources import MemoryLimit

    template = TEMPLATES / "pools" / "pooled-programme.toml"
    assert pool_simulate.tail_bytes(100_000_000_000, 4) > 800 * 2**30
    # 10,000 paths: 500 tails of 4 members, 2 x 500 x 11 x 8 bytes = 88,000 bytes
    assert pool_simulate.tail_bytes(10_000, 4) == 88_000
    monkeypatch.setattr(
        pool_simulate, "memory_limit", lambda: MemoryLimit(80_000, "a test's limit")
    )
    out = tmp_path / "pool.xlsx"
    assert cli.main(["pool", str(template), "--paths", "10000", "--seed", "1", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bondmodel: error: --paths: 10,000 paths of 4 members") and (
        "a test's limit" in err
    ), err
    assert not out.exists()
    monkeypatch.setattr(
        pool_simulate, "memory_limit", lambda: MemoryLimit(88_000, "a test's limit")
    )
    assert cli.main(["pool", str(template), "--paths", "10000", "--seed", "1"]) == 0


def _inflation_only_pool(loading: float) -> PoolModel:
    """Two members on the index-linked template, inflation (a mean-reverting yearly path)
    their only risk input, loaded ``loading`` on the common inflation factor."""
    import tomllib

    scenario = tomllib.loads((TEMPLATES / "index-linked.toml").read_text(encoding="utf-8"))
    risk = scenario["risk"]
    risk["inputs"] = [r for r in risk["inputs"] if r["target"] == "economics.inflation"]
    assert risk["inputs"][0]["path"]["volatility"] > 0  # the shocks are what is tested
    risk.pop("correlation", None)
    data = {
        "name": "Inflation pool",
        "bond": {
            "tenor_years": 15,
            "legal_maturity_years": 20,
            "payment_frequency": "semi-annual",
            "coupon": {"type": "fixed", "rate": 0.03},
        },
        "members": [{"name": f"Council {i}", "inline": scenario} for i in range(2)],
        "factors": {"inflation": loading},
    }
    return pool_of(data)


def test_a_common_inflation_factor_shares_the_yearly_shocks_too() -> None:
    """Loading 1 on inflation is one economy: two members with the same inflation input
    follow the same yearly path on every path (level and shocks), so their index-linked
    payments are equal; loading 0 leaves each its own path, and 0.5 correlates the
    members' payments partly. Before the shocks were shared, only the level was common
    and the paths (and payments) differed."""
    paths, seed = 300, 17
    paid: dict[float, list[np.ndarray]] = {}
    for loading in (1.0, 0.5, 0.0):
        model = _inflation_only_pool(loading)
        assert (model.shock_years > 0) == (loading > 0)
        common = common_normals(seed, 0, paths, model.factor_root)
        shocks = (
            common_shocks(seed, 0, paths, model.shock_years, model.factor_root)
            if model.shock_years
            else None
        )
        paid[loading] = [
            model.member_block(i, seed, 0, paths, common, shocks).paid.sum(axis=1) for i in range(2)
        ]
    a, b = paid[1.0]
    assert np.array_equal(a, b) and np.ptp(a) > 0  # the same economy, and it varies
    a0, b0 = paid[0.0]
    assert not np.allclose(a0, b0)
    corr = {k: float(np.corrcoef(*v)[0, 1]) for k, v in paid.items() if k < 1}
    assert abs(corr[0.0]) < 0.2 < corr[0.5] < 0.95, corr


def test_a_pool_without_a_loaded_path_draws_no_common_shocks() -> None:
    """The shared shocks cost a block nothing unless a loaded factor drives a path: the
    limited-recourse template's inputs follow no path."""
    assert pool_of(portfolio_dict(2, factors={"inflation": 1.0, "delivery": 0.5})).shock_years == 0


@pytest.mark.parametrize("sampler", ["lhs", "sobol"])
def test_a_samplers_member_is_its_stand_alone_run_with_that_sampler(sampler: str) -> None:
    """--sampler draws each member's own inputs as `bondmodel run MEMBER --sampler S --seed
    member_seed` does, path for path (the common factors stay random: none is loaded here)."""
    paths, seed = 400, 20261201
    model = pool_of(portfolio_dict(1))
    structure = structure_of(model)
    pooled = block_paths(model, structure, seed, 0, paths, sampler).member_loss[:, 0]  # type: ignore[arg-type]
    alone = run(
        load_scenario(TEMPLATES / SIB),
        paths=paths,
        seed=member_seed(seed, "Council 0"),
        sampler=sampler,  # type: ignore[arg-type]
    )
    standalone = alone.risk.per_path["investor_loss"].to_numpy()
    assert (standalone > 0).sum() > 20
    assert np.array_equal(pooled, standalone)
    random_run = block_paths(model, structure, seed, 0, paths).member_loss[:, 0]
    assert not np.array_equal(pooled, random_run)  # the sampler changed the draws


def test_a_sampled_pool_is_bit_identical_on_processes(
    wide_pool: tuple[Portfolio, dict[str, Any]],
) -> None:
    portfolio, _ = wide_pool
    serial = run_pool(portfolio, 8192 + 300, 9, sampler="lhs")
    other = run_pool(portfolio, 8192 + 300, 9, workers=2, sampler="lhs")
    assert serial.settings["sampler"] == "lhs"
    assert json.dumps(_numbers(serial), sort_keys=True) == json.dumps(
        _numbers(other), sort_keys=True
    )


def test_the_sampler_is_checked_before_the_portfolio_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-portfolio.toml"
    assert cli.main(["pool", str(missing), "--sampler", "halton"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--sampler: 'halton' is unknown" in err, err
