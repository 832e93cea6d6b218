"""The ``bondmodel`` command: thin, it parses arguments and calls the public API.

Exit codes: 0 ok, 1 a check failed, 2 bad input or a machine limit reached (message
only, no traceback), 128 + the signal's number when stopped by a signal: 130 Ctrl-C
(SIGINT), 143 SIGTERM, 129 SIGHUP.

:func:`main` installs the signal handlers before it imports anything slow, so a stop
at any moment (even while numpy loads) ends the same way: clean-up, one line, that
exit code. This module therefore imports only the standard library and bondmodel's
light modules at the top; the rest is imported inside the commands.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, NoReturn

from bondmodel import __version__, interrupts
from bondmodel.defaults import DEFAULT_TEMPLATE
from bondmodel.errors import BondModelError, ResourceError, ScenarioError
from bondmodel.io import atomic_write_text, check_output_path, same_file
from bondmodel.resources import os_error_words, resource_message


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as exit code 2 without a traceback (its default)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = _Parser(
        prog="bondmodel",
        description="Model invest-to-save bonds: programme cash flows, metrics and workbooks.",
    )
    parser.add_argument("--version", action="version", version=f"bondmodel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a scenario and write a workbook")
    run.add_argument(
        "scenario",
        nargs="?",
        type=Path,
        help="scenario: a TOML file, or a workbook whose Inputs sheet holds it "
        "(default: the built-in default)",
    )
    run.add_argument(
        "-o",
        "--output",
        type=Path,
        help="workbook to write (default: the scenario file's name with .xlsx, here; "
        "NAME-model.xlsx for a workbook NAME.xlsx)",
    )
    run.add_argument("--json", action="store_true", help="print the summary metrics as JSON")
    sim = run.add_argument_group("Monte Carlo")
    sim.add_argument(
        "--paths",
        type=_int_arg("--paths"),
        default=None,
        help="paths to simulate (default: the scenario's risk.default_paths; 0: base case only)",
    )
    sim.add_argument(
        "--seed",
        type=_int_arg("--seed"),
        default=None,
        help="random seed (default: drawn, printed and recorded)",
    )
    sim.add_argument(
        "--sampler", default="random", help="random (PCG64), lhs (Latin hypercube) or sobol"
    )
    sim.add_argument(
        "--workers", type=_int_arg("--workers"), default=1, help="local worker processes"
    )
    sim.add_argument("--scheduler", default=None, help="address of a Dask scheduler to run on")
    sim.add_argument(
        "--chunk-blocks",
        type=_int_arg("--chunk-blocks"),
        default=4,
        help="blocks of 8192 paths per task (does not change the results)",
    )
    sim.add_argument(
        "--converge",
        type=float,
        default=None,
        metavar="TOL",
        help="stop once the mean of each watched metric is known to this relative tolerance "
        "(--paths is then the maximum)",
    )
    sim.add_argument(
        "--confidence", type=float, default=0.95, help="confidence level for --converge"
    )
    sim.add_argument(
        "--converge-on",
        action="append",
        default=None,
        metavar="METRIC",
        help="per-path metric to watch (repeatable; default council_npv or npv)",
    )
    sim.add_argument(
        "--tornado-output",
        default=None,
        metavar="METRIC",
        help="per-path metric the tornado swings are measured on (default council_npv or npv)",
    )
    sim.add_argument(
        "--stress",
        action="append",
        default=None,
        metavar="INPUT=PLOW:PHIGH",
        help="stress analysis: the simulation again with INPUT drawn only between two of its "
        "percentiles, e.g. savings_realisation=P5:P25 (repeatable; same seed)",
    )
    sim.add_argument(
        "--scenario-analysis",
        action="append",
        default=None,
        metavar="REGION",
        help="which inputs drive an output into a region, e.g. 'min_dscr<1.0' (repeatable)",
    )
    sim.add_argument(
        "--quiet", action="store_true", help="no progress bar and no summary table on the output"
    )
    pack = run.add_argument_group("Committee pack")
    pack.add_argument(
        "--pdf",
        type=Path,
        default=None,
        metavar="PACK.pdf",
        help="also print the workbook to one PDF (its print areas, recalculated; "
        "needs LibreOffice)",
    )
    pack.add_argument(
        "--png",
        type=Path,
        default=None,
        metavar="DIR",
        help="also draw the dashboard charts as PNG files in this folder",
    )

    report = sub.add_parser(
        "report",
        help="print a model workbook to a PDF committee pack (LibreOffice) and draw its charts",
    )
    report.add_argument("workbook", type=Path, help="a model workbook written by `bondmodel run`")
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="PACK.pdf",
        help="PDF to write (default: the workbook's name with .pdf, here; none with only --png)",
    )
    report.add_argument(
        "--png",
        type=Path,
        default=None,
        metavar="DIR",
        help="draw the dashboard charts as PNG files in this folder (reruns the run the "
        "workbook records)",
    )

    validate = sub.add_parser("validate", help="check a scenario without running it")
    validate.add_argument("scenario", type=Path, help="a TOML scenario or a workbook")

    check = sub.add_parser(
        "verify", help="rerun a model workbook from its embedded scenario and compare every value"
    )
    check.add_argument("workbook", type=Path, help="a model workbook written by `bondmodel run`")
    check.add_argument(
        "--paths-check",
        type=_int_arg("--paths-check"),
        default=None,
        metavar="N",
        help="rerun the base case and N of the recorded paths instead of the whole simulation",
    )
    check.add_argument(
        "--workers", type=_int_arg("--workers"), default=1, help="local worker processes"
    )
    check.add_argument("--scheduler", default=None, help="address of a Dask scheduler to run on")
    check.add_argument(
        "--max-paths",
        type=_int_arg("--max-paths"),
        default=None,
        metavar="N",
        help="largest Monte Carlo run to repeat in full (default 1,000,000)",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")

    cmp = sub.add_parser(
        "compare", help="compare structures on the same random draws (common random numbers)"
    )
    cmp.add_argument("scenarios", type=Path, nargs="+", help="two or more scenarios")
    _design_options(cmp, "comparison.xlsx")

    swp = sub.add_parser("sweep", help="evaluate a grid of structures on the same random draws")
    swp.add_argument("scenario", type=Path)
    swp.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="PATH=VALUES",
        help="a field and its values: LO:HI:STEP or V1,V2,... (repeatable), "
        "such as bond.coupon.rate=0.03:0.07:0.005",
    )
    swp.add_argument(
        "--measure",
        action="append",
        default=None,
        metavar="MEASURE",
        help="a measure to tabulate (repeatable; default: the key measures), "
        "such as 'P50(council_npv)'",
    )
    _design_options(swp, "sweep.xlsx")

    slv = sub.add_parser(
        "solve",
        help="find the largest or smallest value of a field that meets constraints, or the "
        "best --objective over several fields",
    )
    slv.add_argument("scenario", type=Path)
    slv.add_argument(
        "--find",
        action="append",
        required=True,
        metavar="PATH",
        help="the field, such as bond.principal or bond.coupon.rate (repeatable with "
        "--objective: several fields searched at once)",
    )
    goal = slv.add_mutually_exclusive_group(required=True)
    goal.add_argument("--maximise", "--maximize", action="store_true", dest="maximise")
    goal.add_argument("--minimise", "--minimize", action="store_true", dest="minimise")
    slv.add_argument(
        "--objective",
        default=None,
        metavar="MEASURE",
        help="maximise or minimise this measure over the --find fields (differential "
        "evolution on common random numbers), such as 'P50(council_npv)' or principal; "
        "without it, solve bisects one field for its own largest or smallest value",
    )
    slv.add_argument(
        "--constraint",
        action="append",
        required=True,
        metavar="TEXT",
        help="MEASURE >= X or MEASURE <= X (repeatable), such as 'P(investor_loss) <= 0.05', "
        "'P90(min_dscr) >= 1.20', 'P50(council_npv) >= 0', 'council_npv_vs_pwlb >= 0'",
    )
    slv.add_argument(
        "--range",
        action="append",
        default=None,
        metavar="LO:HI",
        help="where to search: one per --find, in the same order (or none: defaults)",
    )
    slv.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="stop bisecting when the bracket is this narrow (default 1e-6 x range)",
    )
    slv.add_argument(
        "--population",
        type=_int_arg("--population"),
        default=None,
        help="with --objective: population members per field (default 10)",
    )
    slv.add_argument(
        "--generations",
        type=_int_arg("--generations"),
        default=None,
        help="with --objective: most generations of the search (default 30)",
    )
    _design_options(slv, "solve.xlsx")

    export = sub.add_parser(
        "export", help="recover the TOML scenario from a workbook's Inputs sheet"
    )
    export.add_argument("workbook", type=Path)
    export.add_argument("output", type=Path, help="TOML file to write")
    export.add_argument("--force", action="store_true", help="overwrite an existing file")

    form = sub.add_parser(
        "template", help="write an input workbook to fill in Excel and run with `bondmodel run`"
    )
    form.add_argument("path", type=Path, help="input workbook to write (.xlsx)")
    source = form.add_mutually_exclusive_group()
    source.add_argument(
        "--template",
        default=None,
        help=f"pre-fill from this template (default {DEFAULT_TEMPLATE})",
    )
    source.add_argument("--scenario", type=Path, default=None, help="pre-fill from this scenario")
    form.add_argument(
        "--blank", action="store_true", help="leave every value blank (keep the rows and notes)"
    )
    form.add_argument("--force", action="store_true", help="overwrite an existing file")

    new = sub.add_parser("new", help="write a commented starter scenario")
    new.add_argument("path", type=Path)
    new.add_argument(
        "--template", default=DEFAULT_TEMPLATE, help=f"template name (default {DEFAULT_TEMPLATE})"
    )
    new.add_argument("--force", action="store_true", help="overwrite an existing file")

    sub.add_parser("templates", help="list the templates")

    from bondmodel.pool.command import add_arguments as pool_arguments

    pool_arguments(
        sub.add_parser("pool", help="simulate a pool of councils behind one bond"), _int_arg
    )

    fit = sub.add_parser(
        "fit",
        help="fit distributions to data (a CSV column) and print the best as scenario TOML",
    )
    fit.add_argument("data", type=Path, help="a CSV file; lines starting with # are comments")
    fit.add_argument(
        "--column", default=None, help="the column to fit (default: the file's only column)"
    )
    fit.add_argument(
        "--families",
        default=None,
        metavar="F1,F2,...",
        help="families to fit, comma-separated, or 'all' (default normal, lognormal, gamma, "
        "weibull, student_t; also beta (on 0 to 1) and uniform)",
    )
    fit.add_argument(
        "--rank", default="aic", choices=("aic", "bic"), help="rank the fits by AIC or BIC"
    )
    fit.add_argument(
        "--bootstrap",
        type=_int_arg("--bootstrap"),
        default=None,
        metavar="B",
        help="parametric-bootstrap replicates of each KS and AD p-value (default 200)",
    )
    fit.add_argument(
        "--seed",
        type=_int_arg("--seed"),
        default=None,
        help="seed of the bootstrap (default: drawn and printed)",
    )
    fit.add_argument(
        "--png",
        type=Path,
        default=None,
        metavar="FILE.png",
        help="the chart of the fits (default: DATA-fit.png, here)",
    )
    fit.add_argument("--no-png", action="store_true", help="draw no chart")
    fit.add_argument(
        "--json", action="store_true", help="print the table, the choice and the TOML as JSON"
    )
    _match_parser(sub)
    return parser


def _match_parser(sub: Any) -> None:
    """``bondmodel match``'s arguments."""
    mt = sub.add_parser(
        "match",
        help="rank partnerships of the councils in a register, split their value fairly, "
        "and write the best as scenarios",
    )
    mt.add_argument("register", type=Path, help="a register CSV file, one row per council")
    mt.add_argument(
        "--council", default=None, metavar="NAME", help="only groups holding this council"
    )
    mt.add_argument(
        "--group",
        default=None,
        metavar="ID,ID,...",
        help="value and split this group (names or identifiers) instead of searching",
    )
    mt.add_argument(
        "--services",
        action="append",
        default=None,
        metavar="LINE,LINE",
        help="service lines to share (comma-separated, repeatable; default every line)",
    )
    mt.add_argument(
        "--max-partners",
        type=_int_arg("--max-partners"),
        default=None,
        metavar="K",
        help="largest group (default 4)",
    )
    mt.add_argument(
        "--top", type=_int_arg("--top"), default=10, metavar="N", help="groups to report"
    )
    mt.add_argument(
        "--search",
        default="auto",
        choices=("auto", "exhaustive", "heuristic"),
        help="every group, or local search (auto: every group up to 250,000)",
    )
    mt.add_argument(
        "--economics",
        type=Path,
        default=None,
        metavar="FILE.toml",
        help="scale economics overriding the defaults (docs/register-reference.md)",
    )
    mt.add_argument(
        "--rule",
        default="shapley",
        choices=("spend", "use", "equal", "shapley"),
        help="how --write's scenarios share costs and savings (default shapley)",
    )
    mt.add_argument(
        "--seed",
        type=_int_arg("--seed"),
        default=None,
        help="seed of sampled Shapley values (groups over 12 councils; default drawn)",
    )
    mt.add_argument("--json", action="store_true", help="print the result as JSON")
    mt.add_argument(
        "--write",
        type=Path,
        default=None,
        metavar="DIR",
        help="write each ranked group as a scenario TOML in this folder",
    )
    mt.add_argument("--force", action="store_true", help="overwrite scenarios already there")
    mt.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="FILE.xlsx",
        help="also write the ranking, shares and lines as a workbook of values",
    )


@dataclass
class _Session:
    """What the command has done so far, for the line it prints when stopped."""

    seed: int | None = None
    written: list[Path] = field(default_factory=list)
    stopped: bool = False


_SESSION = _Session()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    previous = interrupts.install()
    # The engine runs BLAS on one thread (threadpool_limits); telling OpenBLAS before numpy
    # loads also spares the memory of its other threads' buffers.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    global _SESSION
    _SESSION = _Session()
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:
        return _stopped(exc)
    finally:
        interrupts.restore(previous)


def command() -> NoReturn:
    """The console script's entry (and ``python -m bondmodel``'s): :func:`main`, then exit.

    A stopped command has done its clean-up when :func:`main` returns; should a thread
    that Python's exit waits for hang, the process still ends within
    :data:`interrupts.STOP_GRACE` seconds, with the stop's exit code.
    """
    code = main()
    if _SESSION.stopped:
        interrupts.exit_within(interrupts.STOP_GRACE, code)
    sys.exit(code)


def _main(argv: Sequence[str] | None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(words)
    args.command_line = shlex.join(["bondmodel", *words])
    try:
        return int(_dispatch(args))
    except BondModelError as exc:
        _error(flag_wording(str(exc)))
        return exc.exit_code
    except (MemoryError, OSError, RuntimeError, ImportError) as exc:
        # the machine refused something (memory, disk, threads, processes): one line
        message = resource_message(exc)
        if message is None:
            raise
        _error(message)
        return 2


def _out(text: str) -> None:
    """Print a result on the standard output, flushed now, so that a closed pipe or a full
    disk behind it is reported here, as one line, rather than at exit as a traceback."""
    try:
        print(text, flush=True)
    except OSError as exc:
        # nothing more can reach the standard output; keep Python's exit from retrying
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (open until the process exits)
        raise ResourceError(f"standard output: cannot write it: {os_error_words(exc)}") from None


#: The API parameter each flag sets: a library error names the parameter
#: (``paths: -1 is negative ...``) and the command line shows it as the flag it typed.
PARAMETER_FLAGS: Final = {
    "paths": "--paths",
    "seed": "--seed",
    "sampler": "--sampler",
    "workers": "--workers",
    "chunk_blocks": "--chunk-blocks",
    "scheduler": "--scheduler",
    "convergence.tolerance": "--converge",
    "convergence.confidence": "--confidence",
    "convergence.metrics": "--converge-on",
    "tornado_output": "--tornado-output",
    "variations": "--vary",
    "bounds": "--range",
    "tolerance": "--tolerance",
    "population": "--population",
    "generations": "--generations",
    "objective": "--objective",
    "template": "--template",
    "paths_check": "--paths-check",
    "max_paths": "--max-paths",
}


def flag_wording(message: str) -> str:
    """``message`` with a leading API parameter name (``paths: ...``) given as its flag."""
    name, sep, rest = message.partition(": ")
    flag = PARAMETER_FLAGS.get(name) if sep else None
    return message if flag is None else f"{flag}: {rest}"


def _error(message: str) -> None:
    print(f"bondmodel: error: {message}", file=sys.stderr)


def _stopped(exc: KeyboardInterrupt) -> int:
    """The one line printed when a signal stops the command; returns 128 + its number."""
    _SESSION.stopped = True
    signal_name = str(exc) if isinstance(exc, interrupts.Interrupted) else "SIGINT"
    code = exc.exit_code if isinstance(exc, interrupts.Interrupted) else 130
    done = (
        "wrote " + ", ".join(str(p) for p in _SESSION.written) + " before stopping"
        if _SESSION.written
        else "nothing was written"
    )
    repeat = f"; repeat with --seed {_SESSION.seed}" if _SESSION.seed is not None else ""
    print(f"bondmodel: interrupted ({signal_name}); {done}{repeat}", file=sys.stderr)
    return code


def _wrote(path: Path, note: str = "") -> None:
    """Record and announce a finished output."""
    _SESSION.written.append(path)
    print(f"bondmodel: wrote {path}{note}", file=sys.stderr)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run(args)
    if args.command == "report":
        return _report(args)
    if args.command == "validate":
        scenario = _load(args.scenario)
        _out(
            f"{args.scenario}: valid: '{scenario.meta.name}', {len(scenario.partners)} partner(s), "
            f"{len(scenario.costs)} cost item(s), {len(scenario.savings)} savings stream(s), "
            f"{scenario.timeline.n_periods} {scenario.timeline.frequency} period(s)"
        )
        return 0
    if args.command == "new":
        return _new(args)
    if args.command == "verify":
        return _verify(args)
    if args.command == "export":
        return _export(args)
    if args.command == "compare":
        return _compare(args)
    if args.command == "sweep":
        return _sweep(args)
    if args.command == "solve":
        return _solve(args)
    if args.command == "template":
        return _template(args)
    if args.command == "fit":
        return _fit(args)
    if args.command == "pool":
        from bondmodel.pool.command import run_command

        return run_command(args, _out)
    if args.command == "match":
        return _match(args)
    from bondmodel.scenario.loader import list_templates

    for name in list_templates():
        _out(name)
    return 0


def _run(args: argparse.Namespace) -> int:
    # Imported here so that `validate`, `new` and `--help` stay quick.
    from bondmodel.engine import check_run_analyses, check_run_settings, run
    from bondmodel.workbook.writer import write_workbook

    scenario_path: Path | None = args.scenario
    default_name = scenario_path.stem if scenario_path else DEFAULT_TEMPLATE
    if scenario_path is not None and _is_workbook(scenario_path):
        default_name += "-model"
    output: Path = args.output or Path(f"{default_name}.xlsx")
    if output.suffix.lower() != ".xlsx":
        raise ScenarioError(f"--output: {str(output)!r} must end in .xlsx")
    if scenario_path is not None and same_file(scenario_path, output):
        raise ScenarioError(
            f"--output: {str(output)!r} is the scenario file itself; choose another output path"
        )
    _check_pack_outputs(args.pdf, "--pdf", args.png, [p for p in (scenario_path,) if p])
    from bondmodel.risk.results import new_seed
    from bondmodel.risk.simulate import Convergence, progress_bar

    scenario = _load(scenario_path)
    paths = check_run_settings(
        scenario,
        args.paths,
        args.seed,
        args.workers,
        args.chunk_blocks,
        args.sampler,
        args.scheduler,
    )
    from bondmodel.risk.analyses import Analyses, parse_region, parse_stress

    analyses = Analyses(
        tuple(parse_stress(text) for text in args.stress or ()),
        tuple(parse_region(text) for text in args.scenario_analysis or ()),
    )
    check_run_analyses(scenario, paths, analyses, args.tornado_output)
    convergence = None
    if args.converge is None and (args.converge_on or args.confidence != 0.95):
        raise ScenarioError("--converge-on and --confidence apply only with --converge TOL")
    if args.converge is not None:
        convergence = Convergence(
            tolerance=args.converge,
            confidence=args.confidence,
            metrics=tuple(args.converge_on or ()),
        )
    seed = args.seed if args.seed is not None else (new_seed() if paths > 0 else None)
    if paths > 0:
        _SESSION.seed = seed
        print(f"bondmodel: seed {seed} (repeat with --seed {seed})", file=sys.stderr)
    update, close = progress_bar(paths, paths > 0 and not args.quiet and sys.stderr.isatty())
    try:
        results = run(
            scenario,
            paths=paths,
            seed=seed,
            sampler=args.sampler,
            workers=args.workers,
            scheduler=args.scheduler,
            chunk_blocks=args.chunk_blocks,
            progress=update,
            convergence=convergence,
            tornado_output=args.tornado_output,
            analyses=analyses,
        )
    finally:
        close()
    if results.risk is not None and results.risk.settings.correlation_repaired:
        print(
            "bondmodel: the correlation matrix was not positive semi-definite and was replaced "
            "by the nearest correlation matrix (repair = true)",
            file=sys.stderr,
        )
    text = json.dumps(_jsonable(results.summary()), indent=2, allow_nan=False)
    write_workbook(results, output, command=args.command_line)
    _wrote(output)
    if args.pdf is not None:
        _write_pack(output, args.pdf)
    if args.png is not None:
        _write_charts(results, args.png)
    if args.json:
        _out(text)
    elif not args.quiet:
        from bondmodel.headline import headline_text

        _out(headline_text(results, _table_width()))
    return 0


def _report(args: argparse.Namespace) -> int:
    """``bondmodel report``: the PDF pack of a model workbook, and its charts."""
    from bondmodel.pack import check_model_workbook, rerun_workbook

    workbook: Path = args.workbook
    pdf: Path | None = args.output
    if pdf is None and args.png is None:
        pdf = Path(f"{workbook.stem}.pdf")
    _check_pack_outputs(pdf, "--output", args.png, [workbook])
    check_model_workbook(workbook)
    results = None
    if args.png is not None:
        # the charts' numbers are the run's: repeated from the Audit sheet, before anything
        # is written (an edited workbook is refused here)
        results = rerun_workbook(
            workbook, announce=lambda text: print(f"bondmodel: {text}", file=sys.stderr)
        )
    if pdf is not None:
        _write_pack(workbook, pdf)
    if results is not None:
        _write_charts(results, args.png)
    return 0


def _check_pack_outputs(pdf: Path | None, flag: str, png: Path | None, inputs: list[Path]) -> None:
    """Refuse a PDF or chart folder that cannot be written, and a PDF without LibreOffice,
    before anything runs."""
    if pdf is not None:
        from bondmodel.pack import check_pdf_output, require_soffice

        check_pdf_output(pdf, flag)
        for source in inputs:
            if same_file(source, pdf):
                raise ScenarioError(f"{flag}: {str(pdf)!r} is an input file; choose another path")
        require_soffice()
    if png is not None:
        from bondmodel.charts import check_chart_folder

        check_chart_folder(png)


def _write_pack(workbook: Path, pdf: Path) -> None:
    from bondmodel.pack import write_pack

    pages = write_pack(workbook, pdf)
    _wrote(pdf, f" ({pages} page{'s' if pages != 1 else ''})")


def _write_charts(results: Any, folder: Path) -> None:
    """Draw the charts into ``folder``; an earlier run's chart this run has no data for
    (no bond, no simulation) is removed, so the folder holds one run's charts."""
    from bondmodel.charts import stale_charts, write_charts

    written = write_charts(results, folder)
    for old in stale_charts(folder, written):
        old.unlink()
        print(
            f"bondmodel: removed {old} (an earlier run's chart; this run has none)", file=sys.stderr
        )
    _SESSION.written.extend(written)
    names = ", ".join(p.name for p in written)
    count = f"{len(written)} chart{'s' if len(written) != 1 else ''}"
    print(f"bondmodel: wrote {count} to {folder}: {names}", file=sys.stderr)


def _design_options(parser: argparse.ArgumentParser, default_output: str) -> None:
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path(default_output),
        help=f"workbook to write (default {default_output})",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--paths",
        type=_int_arg("--paths"),
        default=None,
        help="paths per structure (default: the scenario's risk.default_paths; 0: base case)",
    )
    parser.add_argument(
        "--seed",
        type=_int_arg("--seed"),
        default=None,
        help="the seed every structure shares (default: drawn and printed)",
    )
    parser.add_argument("--sampler", default="random", help="random, lhs or sobol")
    parser.add_argument(
        "--workers", type=_int_arg("--workers"), default=1, help="local worker processes"
    )
    parser.add_argument("--scheduler", default=None, help="address of a Dask scheduler")


def _check_design_options(args: argparse.Namespace, sources: list[Path]) -> None:
    """Check the shared options of compare, sweep and solve (flags and output path) before
    any file is read."""
    from bondmodel.risk.simulate import check_run_flags

    check_run_flags(
        paths=args.paths,
        seed=args.seed,
        sampler=args.sampler,
        workers=args.workers,
        scheduler=args.scheduler,
    )
    output: Path = args.output
    if output.suffix.lower() != ".xlsx":
        raise ScenarioError(f"--output: {str(output)!r} must end in .xlsx")
    for source in sources:
        if same_file(source, output):
            raise ScenarioError(
                f"--output: {str(output)!r} is an input file; choose another output path"
            )


def _shared_draws(args: argparse.Namespace) -> Any:
    """The SharedDraws of compare, sweep and solve, once every input is checked: the seed is
    drawn (unless given) and printed."""
    from bondmodel.design.measures import SharedDraws
    from bondmodel.risk.results import new_seed

    seed = args.seed if args.seed is not None else new_seed()
    _SESSION.seed = seed
    print(f"bondmodel: seed {seed} (repeat with --seed {seed})", file=sys.stderr)
    return SharedDraws(args.paths, seed, args.sampler, args.workers, args.scheduler)


def _compare(args: argparse.Namespace) -> int:
    from bondmodel.design.report import write_comparison
    from bondmodel.design.study import compare

    _check_design_options(args, list(args.scenarios))
    scenarios = [(_label(p, i, args.scenarios), _load(p)) for i, p in enumerate(args.scenarios)]
    draws = _shared_draws(args)
    result = compare(scenarios, draws)
    write_comparison(result, args.output, command=args.command_line)
    _wrote(args.output)
    if args.json:
        _out(json.dumps(_jsonable(result.as_json()), indent=2, allow_nan=False))
    else:
        from bondmodel.design.text import comparison_text

        _out(comparison_text(result, _table_width()))
    return 0


def _table_width() -> int:
    """The width the design tools' tables fit: the terminal's, or a fixed one when the
    output goes to a file or a pipe (so that saved output does not depend on a window)."""
    import shutil

    from bondmodel.display import DEFAULT_WIDTH

    if sys.stdout.isatty():
        return max(60, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)
    return DEFAULT_WIDTH


def _label(path: Path, index: int, paths: list[Path]) -> str:
    """A structure's label: its file's stem, numbered if two files share a stem."""
    stems = [p.stem for p in paths]
    return path.stem if stems.count(path.stem) == 1 else f"{path.stem} ({index + 1})"


def _sweep(args: argparse.Namespace) -> int:
    from bondmodel.design.report import write_sweep
    from bondmodel.design.study import grid_cells, parse_measures, sweep
    from bondmodel.design.variation import parse_vary

    _check_design_options(args, [args.scenario])
    scenario = _load(args.scenario)
    variations = [parse_vary(text, scenario) for text in args.vary]
    measures = parse_measures(args.measure)
    grid_cells(variations)  # refused now, before the seed is printed
    draws = _shared_draws(args)
    result = sweep(scenario, variations, draws, measures)
    write_sweep(result, args.output, command=args.command_line)
    _wrote(args.output, f" ({len(result.cells)} structures)")
    if args.json:
        _out(json.dumps(_jsonable(result.as_json()), indent=2, allow_nan=False))
    else:
        from bondmodel.design.text import sweep_text

        _out(sweep_text(result, _table_width()))
    return 0


def _solve(args: argparse.Namespace) -> int:
    from bondmodel.design.measures import parse_constraint
    from bondmodel.design.optimise import check_range_count
    from bondmodel.design.report import write_solution
    from bondmodel.design.solve import check_solve, solve

    constraints = [parse_constraint(text) for text in args.constraint]
    ranges = None if args.range is None else [_range(text) for text in args.range]
    if args.objective is not None:
        return _solve_several(args, constraints, ranges)
    if len(args.find) > 1:
        raise ScenarioError(
            f"--find: {len(args.find)} fields ({', '.join(args.find)}) need --objective "
            "MEASURE, the measure to maximise or minimise over them (such as "
            "'P50(council_npv)' or principal); one --find alone is bisected for its own value"
        )
    for flag, value in (("--population", args.population), ("--generations", args.generations)):
        if value is not None:
            raise ScenarioError(
                f"{flag}: {value} sets the --objective search; without --objective, solve "
                "bisects one field (--tolerance sets how finely)"
            )
    if ranges is not None:
        check_range_count(len(ranges), 1)
    _check_design_options(args, [args.scenario])
    scenario = _load(args.scenario)
    bounds = None if ranges is None else ranges[0]
    check_solve(scenario, args.find[0], constraints, bounds)  # before the seed is printed
    draws = _shared_draws(args)
    solution = solve(
        scenario, args.find[0], constraints, args.maximise, draws, bounds, args.tolerance
    )
    write_solution(solution, scenario, args.output, command=args.command_line)
    _wrote(args.output)
    if args.json:
        _out(json.dumps(_jsonable(solution.as_json()), indent=2, allow_nan=False))
    else:
        from bondmodel.design.text import solution_text

        _out(solution_text(solution, scenario, _table_width()))
    return solution.exit_code


def _range(text: str) -> tuple[float, float]:
    """One ``--range LO:HI``, as two finite numbers with LO < HI."""
    low, sep, high = text.partition(":")
    try:
        bounds = (float(low), float(high))
    except ValueError:
        raise ScenarioError(f"--range: {text!r} should be LO:HI") from None
    if not sep:
        raise ScenarioError(f"--range: {text!r} should be LO:HI")
    return bounds


def _solve_several(
    args: argparse.Namespace, constraints: list[Any], ranges: list[tuple[float, float]] | None
) -> int:
    """``solve --objective``: the fields searched at once by differential evolution."""
    from bondmodel.design.measures import parse_measure
    from bondmodel.design.optimise import (
        GENERATIONS,
        POPULATION,
        check_fields,
        check_range_count,
        check_search_flags,
        optimise,
        search_fields,
    )
    from bondmodel.design.report import write_optimum

    if args.tolerance is not None:
        raise ScenarioError(
            f"--tolerance: {args.tolerance:g} sets the one-field bisection; with --objective "
            "the search ends after --generations, or when its population agrees"
        )
    try:
        objective = parse_measure(args.objective)
    except ScenarioError as exc:
        raise ScenarioError(f"--objective: {exc}") from None
    check_search_flags(args.population, args.generations, len(args.find))
    if ranges is not None:
        check_range_count(len(ranges), len(args.find))
    _check_design_options(args, [args.scenario])
    scenario = _load(args.scenario)
    check_fields(scenario, list(args.find), ranges)  # before the seed is printed
    draws = _shared_draws(args)
    fields = search_fields(scenario, list(args.find), ranges, draws)
    result = optimise(
        scenario,
        fields,
        objective,
        args.maximise,
        constraints,
        draws,
        population=POPULATION if args.population is None else args.population,
        generations=GENERATIONS if args.generations is None else args.generations,
    )
    write_optimum(result, scenario, args.output, command=args.command_line)
    _wrote(args.output)
    if args.json:
        _out(json.dumps(_jsonable(result.as_json()), indent=2, allow_nan=False))
    else:
        from bondmodel.design.text import optimum_text

        _out(optimum_text(result, scenario, _table_width()))
    return result.exit_code


#: Most digits a whole-number flag is read with (the largest allowed, a seed, has 19).
MAX_FLAG_DIGITS = 30


def _int_arg(flag: str) -> Any:
    """An argparse type for whole numbers, also written as ``1e6`` or ``10_000``.

    argparse puts ``argument FLAG:`` before the message, so the flag is named once.
    """

    def parse(text: str) -> int:
        shown = text if len(text) <= 40 else text[:37] + "..."
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = Decimal(text.strip())
        except ArithmeticError:
            number = None
        if number is None or not number.is_finite() or number != number.to_integral_value():
            raise argparse.ArgumentTypeError(f"{shown!r} is not a whole number") from None
        if number.adjusted() > MAX_FLAG_DIGITS:
            # every whole-number flag's range ends below 10^19; an exponent like 1e999999999
            # would otherwise take minutes to expand
            raise argparse.ArgumentTypeError(
                f"{shown!r} has more than {MAX_FLAG_DIGITS} digits; far outside any allowed range"
            )
        return int(number)

    return parse


def _new(args: argparse.Namespace) -> int:
    from bondmodel.scenario.loader import template_path

    source = template_path(args.template)
    target: Path = args.path
    if target.exists() and not args.force:
        raise ScenarioError(f"{target}: already exists; pass --force to overwrite it")
    atomic_write_text(target, source.read_text(encoding="utf-8"))
    _wrote(target, f" from template '{args.template}'")
    return 0


#: Suffixes read as workbooks (the macro-enabled and binary ones are refused, by name).
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm", ".xlsb", ".xls", ".xla", ".xlam")


def _is_workbook(path: Path) -> bool:
    return path.suffix.lower() in WORKBOOK_SUFFIXES


def _load(path: Path | None) -> Any:
    """A scenario from a TOML file, or from a workbook's Inputs sheet."""
    if path is not None and _is_workbook(path):
        from bondmodel.workbook.reader import read_scenario

        return read_scenario(path)
    from bondmodel.scenario.loader import load_scenario

    return load_scenario(path)


def _refuse_existing(target: Path, force: bool, *sources: Path) -> None:
    for source in sources:
        if same_file(source, target):
            raise ScenarioError(f"{target}: is the input file itself; choose another output path")
    if target.exists() and not force:
        raise ScenarioError(f"{target}: already exists; pass --force to overwrite it")


def _verify(args: argparse.Namespace) -> int:
    from bondmodel.risk.simulate import check_run_flags
    from bondmodel.verification import verify

    check_run_flags(workers=args.workers, scheduler=args.scheduler)
    limit = {} if args.max_paths is None else {"max_paths": args.max_paths}
    report = verify(
        args.workbook,
        args.paths_check,
        args.workers,
        args.scheduler,
        **limit,
        announce=lambda text: print(f"bondmodel: {text}", file=sys.stderr),
    )
    if args.json:
        _out(json.dumps(report.as_json(), indent=2, default=str, allow_nan=False))
    else:
        _out(report.text())
    return report.exit_code


def _export(args: argparse.Namespace) -> int:
    from bondmodel.scenario.export import scenario_toml
    from bondmodel.workbook.reader import read_scenario

    target: Path = args.output
    if target.suffix.lower() != ".toml":
        raise ScenarioError(f"output: {str(target)!r} must end in .toml")
    _refuse_existing(target, args.force, args.workbook)
    scenario = read_scenario(args.workbook)
    atomic_write_text(target, scenario_toml(scenario))
    _wrote(
        target, f" from the Inputs sheet of {args.workbook} (scenario SHA-256 {scenario.sha256()})"
    )
    return 0


def _template(args: argparse.Namespace) -> int:
    from bondmodel.workbook.input_form import write_input_form

    target: Path = args.path
    if target.suffix.lower() != ".xlsx":
        raise ScenarioError(f"path: {str(target)!r} must end in .xlsx")
    sources = [args.scenario] if args.scenario is not None else []
    _refuse_existing(target, args.force, *sources)
    if args.scenario is not None:
        scenario = _load(args.scenario)
    else:
        from bondmodel.scenario.loader import load_scenario, template_path

        scenario = load_scenario(template_path(args.template or DEFAULT_TEMPLATE))
    write_input_form(scenario, target, blank=args.blank)
    _wrote(target, " (an input workbook to fill in)")
    return 0


def _fit(args: argparse.Namespace) -> int:
    """``bondmodel fit``: fit, rank and test families on one column of a CSV file, draw the
    chart, and print the chosen distribution as scenario TOML."""
    from bondmodel.display import text_table
    from bondmodel.risk import fitting
    from bondmodel.risk.results import new_seed
    from bondmodel.risk.sampling import MAX_SEED

    names = None
    if args.families is not None:
        listed = [n.strip() for n in args.families.split(",") if n.strip()]
        names = list(fitting.FAMILIES) if listed == ["all"] else listed
    families = fitting.family_names(names)
    replicates = fitting.DEFAULT_BOOTSTRAP if args.bootstrap is None else args.bootstrap
    if not 1 <= replicates <= fitting.MAX_BOOTSTRAP:
        raise ScenarioError(
            f"--bootstrap: {replicates}; allowed: 1 to {fitting.MAX_BOOTSTRAP:,} replicates"
        )
    png: Path | None = None
    if not args.no_png:
        png = args.png or Path(f"{args.data.stem}-fit.png")
        if png.suffix.lower() != ".png":
            raise ScenarioError(f"--png: {str(png)!r} must end in .png")
        if same_file(args.data, png):
            raise ScenarioError(f"--png: {str(png)!r} is the data file; choose another path")
    seed = args.seed if args.seed is not None else new_seed()
    if not 0 <= seed <= MAX_SEED:
        raise ScenarioError(f"--seed: {seed}; allowed: 0 to {MAX_SEED:,}")
    _SESSION.seed = seed
    data = fitting.read_column(args.data, args.column)
    fits, notes = fitting.fit_all(
        data,
        families,
        seed=seed,
        replicates=replicates,
        rank=args.rank,
        strict_support=names is not None,
    )
    usable = [f for f in fits if f.problem is None]
    if not usable:
        raise ScenarioError(
            f"{args.data}: column {data.column!r}: no family fits: "
            + "; ".join(f"{f.family.name}: {f.problem}" for f in fits)
        )
    best = usable[0]
    criterion = "aic" if args.rank == "aic" else "bic"

    def delta(f: Any) -> str:
        return f"{getattr(f, criterion) - getattr(best, criterion):.2f}"

    rows = [
        [
            f.family.name,
            fitting.parameter_text(f) if f.problem is None else f"unusable: {f.problem}",
            f"{f.log_likelihood:.2f}",
            f"{f.aic:.2f}",
            f"{f.bic:.2f}",
            delta(f),
            f"{f.ks:.4f}",
            "n/a" if f.p_value is None else f"{f.p_value:.3f}",
            f"{f.ad:.3f}",
            "n/a" if f.ad_p_value is None else f"{f.ad_p_value:.3f}",
        ]
        for f in fits
    ]
    near = [
        f.family.name
        for f in usable[1:]
        if getattr(f, criterion) - getattr(best, criterion) < fitting.CLOSE_CRITERION
    ]
    close = (
        [
            f"Within {fitting.CLOSE_CRITERION:g} of the lowest {criterion.upper()}, so about as "
            f"well supported by the data: {', '.join(near)}."
        ]
        if near
        else []
    )
    headers = [
        "Family", "Parameters (standard error)", "ln L", "AIC", "BIC",
        f"Δ{criterion.upper()}", "KS D", "KS p-value", "AD A²", "AD p-value",
    ]  # fmt: skip
    if args.json:
        report = {
            "data": {
                "path": str(data.path),
                "column": data.column,
                "n": int(data.values.size),
                "blank_cells_skipped": data.blanks,
                "sha256": data.sha256,
            },
            "seed": seed,
            "bootstrap_replicates": replicates,
            "rank": criterion,
            "fits": [f.as_json() for f in fits],
            "chosen": best.family.name,
            "close_to_chosen": near,
            "notes": notes,
            "toml": fitting.distribution_toml(best.distribution()),
            "fit_toml": fitting.fit_toml(data, best.family.name),
        }
        _out(json.dumps(_jsonable(report), indent=2, allow_nan=False))
    lines = [
        fitting.summary_line(data),
        f"Fitted by maximum likelihood; Kolmogorov-Smirnov (KS) and Anderson-Darling (AD) "
        f"p-values from {replicates} parametric-bootstrap replicates each, seed {seed} "
        f"(repeat with --seed {seed})",
        "",
        text_table(headers, rows, keep=1, width=_table_width()),
        "",
        *notes,
        f"Chosen: {best.family.name} (lowest {criterion.upper()}). Its KS p-value is "
        f"{best.p_value:.3f}, its AD p-value {best.ad_p_value:.3f}"
        + (
            ": the data are unlikely under even the best fit (p < 0.05); look at the chart"
            if min(best.p_value or 1.0, best.ad_p_value or 1.0) < 0.05
            else "."
        ),
        *close,
        "",
        "Paste into a [[risk.inputs]] entry (every digit kept):",
        fitting.distribution_toml(best.distribution()),
        "",
        "Or keep the link to the data (refitted on each run, its SHA-256 recorded; the data",
        "path is read relative to the scenario file):",
        fitting.fit_toml(data, best.family.name),
    ]
    if not args.json:
        _out("\n".join(lines))
    if png is not None:
        from bondmodel.charts import write_fit_chart

        _wrote(write_fit_chart(data, [best, *[f for f in usable if f is not best]], png))
    return 0


def _match(args: argparse.Namespace) -> int:
    """``bondmodel match``: rank a register's partnerships, print them, write scenarios."""
    from bondmodel.market import report
    from bondmodel.market.economics import load_economics
    from bondmodel.market.match import match, needs_seed
    from bondmodel.market.search import check_max_partners
    from bondmodel.market.write import scenarios
    from bondmodel.risk.results import new_seed
    from bondmodel.risk.sampling import MAX_SEED

    if not 1 <= args.top <= 1000:
        raise ScenarioError(f"--top: {args.top}; allowed: 1 to 1000")
    group = None
    if args.group is not None:
        given = [
            ("--council", args.council is not None),
            ("--max-partners", args.max_partners is not None),
        ]
        given.append(("--search", args.search != "auto"))
        clash = [flag for flag, used in given if used]
        if clash:
            raise ScenarioError(f"--group: names the group, so {clash[0]} does not apply")
        group = [g.strip() for g in args.group.split(",") if g.strip()]
        if not group:
            raise ScenarioError("--group: names no council; give ID,ID,... (two or more)")
    max_partners = 4 if args.max_partners is None else args.max_partners
    if group is not None:
        max_partners = len(group)
    else:
        # before a seed is drawn and printed: a bad flag is refused with nothing said first
        check_max_partners(max_partners)
    if args.write is not None and args.write.exists() and not args.write.is_dir():
        raise ScenarioError(f"--write: {str(args.write)!r} is a file; give a folder")
    if args.output is not None:
        check_output_path(args.output, "--output", ".xlsx")
        if same_file(args.register, args.output):
            raise ScenarioError(f"--output: {str(args.output)!r} is the register itself")
    services = None
    if args.services is not None:
        services = [s.strip() for text in args.services for s in text.split(",") if s.strip()]
        if not services:
            raise ScenarioError("--services: names no service line; give LINE,LINE,...")
    economics = None if args.economics is None else load_economics(args.economics)
    seed = args.seed
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ScenarioError(f"--seed: {seed}; allowed: 0 to {MAX_SEED:,}")
    if seed is None and needs_seed(max_partners):
        seed = new_seed()
        print(f"bondmodel: seed {seed} (repeat with --seed {seed})", file=sys.stderr)
    _SESSION.seed = seed
    result = match(
        args.register,
        council=args.council,
        services=services,
        max_partners=max_partners,
        top=args.top,
        method=args.search,
        economics=economics,
        seed=seed,
        group=group,
    )
    written = []
    if args.write is not None:
        # every scenario is built and validated before the first is written
        written = scenarios(result, args.rule, args.command_line)
        for item in written:
            _refuse_existing(args.write / item.name, args.force, args.register)
        try:
            args.write.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ScenarioError(
                f"--write: cannot create the folder {str(args.write)!r}: {os_error_words(exc)}"
            ) from None
        for item in written:
            atomic_write_text(args.write / item.name, item.text)
            _wrote(args.write / item.name)
    if args.output is not None:
        from bondmodel.market.book import write_match_book

        _wrote(write_match_book(result, args.output, args.rule, args.command_line))
    if args.json:
        data = report.match_json(result, args.rule)
        data["written"] = [str(args.write / item.name) for item in written]
        _out(json.dumps(_jsonable(data), indent=2, allow_nan=False))
    else:
        _out(report.match_text(result, args.rule, _table_width()))
    return 0


def _jsonable(value: Any) -> Any:
    """Replace non-finite floats by None so the JSON is standard (undefined = null)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


if __name__ == "__main__":  # pragma: no cover
    command()
