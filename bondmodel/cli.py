"""The ``bondmodel`` command: thin, it parses arguments and calls the public API.

Exit codes: 0 ok, 1 a check failed, 2 bad input (message only, no traceback),
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bondmodel import __version__
from bondmodel.errors import BondModelError, ScenarioError
from bondmodel.io import atomic_write_text
from bondmodel.scenario.loader import (
    DEFAULT_TEMPLATE,
    list_templates,
    load_scenario,
    template_path,
)


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
        "scenario", nargs="?", type=Path, help="scenario TOML file (default: the built-in default)"
    )
    run.add_argument(
        "-o", "--output", type=Path, help="workbook to write (default: SCENARIO_NAME.xlsx here)"
    )
    run.add_argument("--json", action="store_true", help="print the summary metrics as JSON")

    validate = sub.add_parser("validate", help="check a scenario without running it")
    validate.add_argument("scenario", type=Path)

    new = sub.add_parser("new", help="write a commented starter scenario")
    new.add_argument("path", type=Path)
    new.add_argument(
        "--template", default=DEFAULT_TEMPLATE, help=f"template name (default {DEFAULT_TEMPLATE})"
    )
    new.add_argument("--force", action="store_true", help="overwrite an existing file")

    sub.add_parser("templates", help="list the templates")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(_dispatch(args))
    except BondModelError as exc:
        print(f"bondmodel: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        # the file system refused (permission, full disk): nothing was replaced
        print(f"bondmodel: error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bondmodel: interrupted; nothing was written", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run(args)
    if args.command == "validate":
        scenario = load_scenario(args.scenario)
        print(
            f"{args.scenario}: valid: '{scenario.meta.name}', {len(scenario.partners)} partner(s), "
            f"{len(scenario.costs)} cost item(s), {len(scenario.savings)} savings stream(s), "
            f"{scenario.timeline.n_periods} {scenario.timeline.frequency} period(s)"
        )
        return 0
    if args.command == "new":
        return _new(args)
    for name in list_templates():
        print(name)
    return 0


def _run(args: argparse.Namespace) -> int:
    # Imported here so that `validate`, `new` and `--help` stay quick.
    from bondmodel.engine import run
    from bondmodel.workbook.writer import write_workbook

    scenario_path: Path | None = args.scenario
    output: Path = args.output or Path(
        f"{scenario_path.stem if scenario_path else DEFAULT_TEMPLATE}.xlsx"
    )
    if output.suffix.lower() != ".xlsx":
        raise ScenarioError(f"--output: {str(output)!r} must end in .xlsx")
    if scenario_path is not None and _same_file(scenario_path, output):
        raise ScenarioError(
            f"--output: {str(output)!r} is the scenario file itself; choose another output path"
        )
    scenario = load_scenario(scenario_path)
    results = run(scenario)
    write_workbook(results, output)
    print(f"bondmodel: wrote {output}", file=sys.stderr)
    if args.json:
        print(json.dumps(_jsonable(results.summary()), indent=2, allow_nan=False))
    return 0


def _new(args: argparse.Namespace) -> int:
    source = template_path(args.template)
    target: Path = args.path
    if target.exists() and not args.force:
        raise ScenarioError(f"{target}: already exists; pass --force to overwrite it")
    atomic_write_text(target, source.read_text(encoding="utf-8"))
    print(f"bondmodel: wrote {target} from template '{args.template}'", file=sys.stderr)
    return 0


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and a.samefile(b))
    except OSError:
        return False


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
    sys.exit(main())
