"""``bondmodel pool PORTFOLIO.toml``: simulate a pool and print its metrics.

The argument parser lives in :mod:`bondmodel.cli` (one line adds this command); this
module prints. Tables are the :class:`~bondmodel.pool.results.PoolResults` frames,
shown with the pounds, percentages and years a reader expects.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bondmodel.pool.loader import Portfolio
    from bondmodel.pool.results import PoolResults

#: Paths a pool simulates when --paths is not given.
DEFAULT_POOL_PATHS = 10_000


def add_arguments(
    parser: argparse.ArgumentParser, int_arg: Callable[[str], Callable[[str], int]]
) -> None:
    """The ``pool`` command's arguments (``int_arg`` is the CLI's whole-number parser)."""
    parser.add_argument("portfolio", help="a portfolio file (TOML)")
    parser.add_argument(
        "--paths",
        type=int_arg("--paths"),
        default=DEFAULT_POOL_PATHS,
        help=f"paths to simulate (default {DEFAULT_POOL_PATHS:,})",
    )
    parser.add_argument(
        "--seed",
        type=int_arg("--seed"),
        default=None,
        help="random seed (default: drawn and printed)",
    )
    parser.add_argument(
        "--sampler",
        default="random",
        help="how each member's own inputs are drawn: random (PCG64), lhs (Latin hypercube) "
        "or sobol; the common factors are drawn at random",
    )
    parser.add_argument(
        "--workers", type=int_arg("--workers"), default=1, help="local worker processes"
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on a Dask cluster at this scheduler address (same results as --workers)",
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="also write the pool workbook (.xlsx): members, the base case's waterfall in "
        "live formulas, the loss distribution, the run manifest",
    )


def check_output(output: Path | None, inputs: list[Path]) -> None:
    """Refuse a bad --output before anything runs: not .xlsx, in a folder that does not
    exist, a folder, or one of the run's input files (the portfolio, a member's scenario)."""
    from bondmodel.errors import ScenarioError
    from bondmodel.io import check_output_path, same_file

    if output is None:
        return
    check_output_path(output, "--output", ".xlsx")
    for source in inputs:
        if same_file(source, output):
            raise ScenarioError(
                f"--output: {str(output)!r} is an input file ({source}); choose another output path"
            )


def _input_files(portfolio: Portfolio, path: str) -> list[Path]:
    """The portfolio file and the members' scenario files."""
    base = Path(path).parent
    return [Path(path)] + [base / m.scenario for m in portfolio.members if m.scenario is not None]


def run_command(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    """Run the ``pool`` command; returns the exit code."""
    # imported here: the command line's parser (which adds this command's arguments) loads
    # only the standard library, so that --help and the signal handlers come up at once
    from bondmodel.pool.loader import load_portfolio
    from bondmodel.pool.results import run_pool
    from bondmodel.risk.results import new_seed
    from bondmodel.risk.simulate import check_run_flags

    # the run's own settings first, before the portfolio and its members are read
    check_run_flags(seed=args.seed, sampler=args.sampler)
    output: Path | None = getattr(args, "output", None)
    check_output(output, [Path(args.portfolio)])
    portfolio = load_portfolio(args.portfolio)
    check_output(output, _input_files(portfolio, args.portfolio))
    seed = new_seed() if args.seed is None else args.seed
    results = run_pool(portfolio, args.paths, seed, args.workers, args.scheduler, args.sampler)
    if output is not None:
        import shlex
        import sys

        from bondmodel.pool.workbook import write_pool_workbook

        write_pool_workbook(output, portfolio, results, shlex.join(["bondmodel", *sys.argv[1:]]))
    if args.json:
        out(json.dumps(results.to_json(), indent=2))
    else:
        out(render(results, portfolio.spec.name))
    return 0


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _pounds(x: Any) -> str:
    return "n/a" if _missing(x) else (f"({-x:,.0f})" if x < 0 else f"{x:,.0f}")


def _pct(x: Any) -> str:
    return "n/a" if _missing(x) else f"{100 * x:.2f}%"


def render(results: PoolResults, name: str) -> str:
    """The metrics as text tables."""
    s = results.settings
    lines = [
        f"Pool: {name}: {s['members']} members, principal £{_pounds(s['principal'])}; "
        f"{s['paths']:,} paths, seed {s['seed']}, sampler {s['sampler']} ({s['executor']})",
        "",
        f"Pool losses, £ (VaR and ES at {100 * s['tail_level']:g}%, tail of "
        f"{s['tail_paths']} paths):",
    ]
    pool = results.pool
    lines.append(f"  {'':22}{'mean':>14}{'sd':>14}{'P(loss)':>9}{'VaR':>14}{'ES':>14}")
    for label, row in pool.iterrows():
        lines.append(
            f"  {label!s:22}{_pounds(row['mean']):>14}{_pounds(row['sd']):>14}"
            f"{_pct(row['probability']):>9}{_pounds(row['var']):>14}{_pounds(row['es']):>14}"
        )
    lines += ["", "Tranches (in order of priority):"]
    lines.append(
        f"  {'':12}{'size £':>14}{'coupon':>8}{'EL £':>12}{'EL %':>8}{'P(loss)':>9}"
        f"{'WAL y':>7}{'IRR mean':>9}{'IRR P5':>8}{'IRR P95':>8}"
    )
    for _, t in results.tranches.iterrows():
        lines.append(
            f"  {t['tranche']!s:12}{_pounds(t['size']):>14}{_pct(t['coupon']):>8}"
            f"{_pounds(t['expected_loss']):>12}{_pct(t['expected_loss_share']):>8}"
            f"{_pct(t['probability_of_loss']):>9}{t['wal_years']:>7.2f}{_pct(t['irr_mean']):>9}"
            f"{_pct(t['irr_p5']):>8}{_pct(t['irr_p95']):>8}"
        )
    d = results.diversification
    lines += [
        "",
        f"Diversification: pool P95 loss £{_pounds(d['pool_p95_loss'])} against "
        f"£{_pounds(d['sum_member_p95_loss'])} for the members alone: benefit "
        f"{_pct(d['benefit'])}",
        f"Guarantee: mean paid £{_pounds(s['guarantee_mean'])}, called on "
        f"{_pct(s['guarantee_probability'])} of paths; reserve drawn on "
        f"{_pct(s['reserve_probability'])} (mean £{_pounds(s['reserve_draw_mean'])})",
        "",
        "Members (stand-alone losses; Euler contribution to the pool's ES):",
        f"  {'':24}{'loan £':>14}{'EL £':>12}{'P(loss)':>9}{'P95 £':>13}{'ES contr £':>13}"
        f"{'share':>8}{'guar. £':>10}{'P(call)':>8}",
    ]
    for _, m in results.members.iterrows():
        lines.append(
            f"  {str(m['member'])[:23]:24}{_pounds(m['loan']):>14}"
            f"{_pounds(m['expected_loss']):>12}{_pct(m['probability_of_loss']):>9}"
            f"{_pounds(m['p95_loss']):>13}{_pounds(m['es_contribution']):>13}"
            f"{_pct(m['es_share']):>8}{_pounds(m['guarantee_paid_in']):>10}"
            f"{_pct(m['probability_called']):>8}"
        )
    lines.append("")
    lines.append(
        "Each member's seed (bondmodel run MEMBER --seed SEED draws its paths): "
        "see --json, members[].seed"
    )
    return "\n".join(lines)
