"""``bondmodel verify``: prove a workbook's numbers came from its stated inputs and engine.

The workbook carries everything needed (Audit sheet): the scenario as TOML and
as canonical JSON with its SHA-256, and the run manifest (seed, sampler, paths,
tornado metric, versions). Verify

1. checks the embedded scenario against its recorded SHA-256, and the Inputs
   sheet against the embedded scenario;
2. reruns the engine on the embedded scenario with the recorded settings
   (deterministic and Monte Carlo) and writes the workbook the rerun gives;
3. compares every cell of every sheet, value and formula, with the rerun's,
   except the cells that record when and with which versions the run was made,
   and everything else the writer wrote (bondmodel.workbook.structure: sheets and
   their visibility, defined names, number formats, validations, conditional
   formats, merged cells, print settings, charts).

Spellings a spreadsheet application changes on saving without changing the
meaning (bondmodel.workbook.canonical) compare equal, so an unedited workbook
opened and saved in LibreOffice still verifies. The run manifest is validated
like a scenario (bondmodel.workbook.manifest), and a rerun larger than
``max_paths`` is refused before it starts.

With ``--paths-check N`` the Monte Carlo is not rerun in full: the base case
is, and N of the paths on the Paths sheet are rerun and compared one by one,
which the reproducibility contract (a path depends only on the scenario, the
seed, the sampler and its index) makes exact. docs/auditors-guide.md explains
what verify checks and what it cannot.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
from openpyxl.workbook.workbook import Workbook

from bondmodel import __version__
from bondmodel.engine import Results, run
from bondmodel.errors import BondModelError, ScenarioError, WorkbookError
from bondmodel.risk.analyses import Analyses, parse_region, parse_stress
from bondmodel.risk.sampling import BLOCK_SIZE, Sampler
from bondmodel.scenario.loader import parse_scenario, read_toml
from bondmodel.scenario.schema import Scenario
from bondmodel.workbook.canonical import boolean_constant, formula_key
from bondmodel.workbook.manifest import RerunSettings, parse_manifest, settings_from_records
from bondmodel.workbook.reader import read_scenario
from bondmodel.workbook.structure import compare, describe
from bondmodel.workbook.untrusted import open_workbook
from bondmodel.workbook.writer import write_workbook

#: Rows that record when and with what the run was made, not what it computed
#: (label in column A of Audit, column B of Cover): not compared.
VOLATILE_LABELS = frozenset(
    {
        "Run at (UTC)",
        "Engine",
        "Python",
        "numpy / scipy / pandas",
        "XlsxWriter",
        "Executor",
        "Chunking (blocks per task)",
        "Run manifest (JSON)",
    }
)
#: Sheets compared cell by cell only after a full rerun: the Monte Carlo output, the Cover
#: and the Model map, which list the simulation's sheets, and the Audit, whose layout lists the
#: simulation's settings (checked record by record).
MONTE_CARLO_SHEETS = frozenset(
    {"Summary", "Risk", "Sensitivity", "Stress", "Paths", "Cover", "Model map", "Audit"}
)
#: Tolerances for numbers: the rerun is bit-identical on one machine; another
#: machine's libraries may round the last bits differently.
REL_TOL, ABS_TOL = 1e-9, 1e-6
#: Mismatches listed in full for each sheet and kind of difference (the counts are exact).
MAX_LISTED = 1_000
#: Largest Monte Carlo rerun verify starts unless told otherwise (``--max-paths``): about
#: 17 s of the default template on one core. The manifest says how many paths to rerun,
#: and the manifest is untrusted: a workbook must not be able to start an unbounded run.
DEFAULT_MAX_PATHS = 1_000_000


@dataclass(frozen=True)
class Mismatch:
    """One thing that differs from the rerun's: a cell's content (``what`` = ``"cell"``), or
    another feature (``"defined name"``, ``"number format"``, ``"chart"``...) at ``cell``
    (a cell, a range, a name, or ``-`` for the sheet or workbook as a whole)."""

    sheet: str
    cell: str
    label: str
    workbook: Any
    rerun: Any
    what: str = "cell"

    def as_json(self) -> dict[str, Any]:
        return {
            "sheet": self.sheet,
            "cell": self.cell,
            "what": self.what,
            "label": self.label,
            "workbook": _jsonable(self.workbook),
            "rerun": _jsonable(self.rerun),
        }


@dataclass
class Report:
    """The verdict: problems found (tampering), notes, and the cell mismatches."""

    workbook: Path
    mode: str
    settings: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    mismatch_count: int = 0
    #: every difference counted by sheet and kind ("Bond: number format"), listed or not
    counts: dict[str, int] = field(default_factory=dict)
    cells_compared: int = 0
    features_compared: int = 0
    paths_compared: int = 0

    @property
    def ok(self) -> bool:
        """Whether everything matched and nothing was tampered with."""
        return not self.problems and self.mismatch_count == 0

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": "match" if self.ok else "mismatch",
            "workbook": str(self.workbook),
            "mode": self.mode,
            "settings": self.settings,
            "engine": __version__,
            "problems": self.problems,
            "notes": self.notes,
            "cells_compared": self.cells_compared,
            "features_compared": self.features_compared,
            "paths_compared": self.paths_compared,
            "mismatch_count": self.mismatch_count,
            "mismatch_counts": self.counts,
            "mismatches": [m.as_json() for m in self.mismatches],
        }

    def text(self, limit: int = 30) -> str:
        """The verdict line, problems, notes and a table of the first mismatches."""
        what = f"{self.cells_compared:,} cells, {self.features_compared:,} other features"
        if self.paths_compared:
            what += f" and {self.paths_compared} simulated paths"
        lines = [
            f"{'MATCH' if self.ok else 'MISMATCH'}: {self.workbook} ({self.mode}; {what} "
            "compared with the rerun)"
        ]
        lines += [f"problem: {p}" for p in self.problems]
        lines += [f"note: {n}" for n in self.notes]
        if self.mismatch_count:
            lines.append(f"{self.mismatch_count:,} difference(s) from the rerun:")
            lines.append(
                f"  {'sheet':<12} {'cell':<8} {'what':<16} {'label':<30} {'workbook':>20} "
                f"{'rerun':>20}"
            )
            for m in self.mismatches[:limit]:
                lines.append(
                    f"  {m.sheet:<12} {m.cell:<8} {m.what[:16]:<16} {m.label[:30]:<30} "
                    f"{_short(m.workbook):>20} {_short(m.rerun):>20}"
                )
                lines += _where_they_differ(m.workbook, m.rerun)
            if self.mismatch_count > limit:
                lines.append(f"  ... and {self.mismatch_count - limit:,} more (--json lists them)")
                lines.append("  all differences, by sheet and kind:")
                lines += [f"    {where}: {n:,}" for where, n in sorted(self.counts.items())]
        return "\n".join(lines)


def check_verify_settings(paths_check: int | None, max_paths: int) -> None:
    """The rules of verify's own settings, whichever workbook it is given."""
    if paths_check is not None and paths_check < 1:
        raise ScenarioError(f"paths_check: {paths_check} must be at least 1")
    if max_paths < 0:
        raise ScenarioError(f"max_paths: {max_paths} is negative; allowed: 0 or more")


def verify_model(
    path: Path,
    values_wb: Workbook,
    paths_check: int | None,
    workers: int,
    scheduler: str | None,
    max_paths: int,
    announce: Callable[[str], None] | None,
) -> Report:
    """Verify the model workbook at ``path`` (``values_wb``: it opened with its cached
    values); see the module docstring. ``bondmodel.verification.verify`` calls it, for any
    workbook that is not a pool's.

    A full rerun of more than ``max_paths`` paths is refused (``WorkbookError``) before
    anything runs; ``announce``, if given, is told what is about to be rerun.
    """
    audit = read_audit(values_wb, path)
    settings = audit.settings
    paths = settings.paths
    sampled = paths_check is not None and paths > 0
    rerun_paths = 0 if sampled else settings.rerun_paths
    if rerun_paths > max_paths:
        raise WorkbookError(
            f"{path}: the run manifest records a run of {rerun_paths:,} paths (paths_requested); "
            f"verify reruns at most {max_paths:,} (--max-paths): give --max-paths "
            f"{rerun_paths} to rerun it in full, or --paths-check N to rerun N of its paths"
        )
    scenario = embedded_scenario(audit, path)
    formulas_wb = open_workbook(path)
    what = _what_is_rerun(settings, rerun_paths, paths_check if sampled else None)
    if announce is not None:
        announce(f"verify: rerunning {what}")
    report = Report(
        path,
        what,
        {k: getattr(settings, k) for k in ("paths", "seed", "sampler", "tornado_output")},
    )

    recorded = audit.records.get("Scenario SHA-256", "")
    if scenario.sha256() != recorded:
        report.problems.append(
            f"the embedded scenario was changed: its SHA-256 is {scenario.sha256()}, the "
            f"workbook records {recorded or 'none'} (Audit sheet)"
        )
    if audit.records.get("Scenario (canonical JSON)", "") != scenario.canonical_json():
        report.problems.append(
            "the Audit sheet's canonical JSON does not match its embedded TOML scenario"
        )
    engine = str(audit.records.get("Engine", ""))
    if engine != f"bondmodel {__version__}":
        report.notes.append(
            f"the workbook was made by {engine or 'an unknown engine'}; this is bondmodel "
            f"{__version__}: the rerun decides the verdict"
        )
    if scenario.risk is not None and any(item.fit for item in scenario.risk.inputs):
        from bondmodel.risk.fitting import refit_problems

        # the data file beside the workbook: missing or changed is exit 2, before the rerun
        # (and before the Inputs sheet, which is read by refitting the same data)
        report.problems.extend(refit_problems(scenario, path.parent, str(path)))
    _check_inputs(path, scenario, report)
    _check_settings(audit, report)

    results = _rerun(scenario, settings, rerun_paths, workers, scheduler)
    with tempfile.TemporaryDirectory() as folder:
        fresh = write_workbook(results, Path(folder) / "rerun.xlsx")
        rerun_formulas = openpyxl.load_workbook(fresh)
        rerun_values = openpyxl.load_workbook(fresh, data_only=True)
    skip = MONTE_CARLO_SHEETS if sampled else frozenset()
    compare_workbooks(formulas_wb, values_wb, rerun_formulas, rerun_values, skip, report)
    if sampled and paths_check is not None:
        _check_paths(values_wb, scenario, settings, paths_check, report)
    return report


def _what_is_rerun(settings: RerunSettings, paths: int, sample: int | None) -> str:
    """``the base case and 10,000 paths (sampler random, seed 11)``, and the like."""
    run = f"sampler {settings.sampler}, seed {settings.seed}"
    if sample is not None:
        return f"the base case and {sample} of the {settings.paths:,} recorded paths ({run})"
    if paths == 0:
        return "the base case (no Monte Carlo run recorded)"
    stop = " with its stopping rule" if settings.convergence is not None else ""
    return f"the base case and {paths:,} paths{stop} ({run})"


# ---------------------------------------------------------------------------
# The Audit sheet
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    """What the Audit sheet records."""

    records: dict[str, str]
    toml: str
    settings: RerunSettings


def read_audit(wb: Workbook, source: Path) -> Audit:
    """The Audit sheet's records, embedded TOML scenario and run manifest."""
    if "Audit" not in wb.sheetnames:
        raise WorkbookError(
            f"{source}: has no 'Audit' sheet: verify needs a model workbook written by "
            "`bondmodel run`"
        )
    ws = wb["Audit"]
    records: dict[str, str] = {}
    lines: list[str] = []
    in_toml = False
    for row in ws.iter_rows(min_row=1, max_col=2, values_only=True):
        key, value = row[0], row[1]
        if in_toml:
            if key is None and value is not None:
                lines.append(str(value))
            elif key is not None:
                in_toml = False
        if key == "Scenario (TOML)":
            in_toml = True
            continue
        if isinstance(key, str) and not in_toml:
            records[key] = "" if value is None else str(value)
    if not lines:
        raise WorkbookError(
            f"{source}: the Audit sheet holds no embedded scenario (the 'Scenario (TOML)' "
            "block): the run cannot be repeated from this workbook"
        )
    text = records.get("Run manifest (JSON)")
    settings = parse_manifest(text, source) if text else settings_from_records(records, source)
    return Audit(records, "\n".join(lines) + "\n", settings)


def embedded_scenario(audit: Audit, source: Path) -> Scenario:
    """The scenario written into the Audit sheet (validated like any scenario)."""
    where = f"{source} (Audit sheet, embedded scenario)"
    try:
        data = read_toml(audit.toml, where)
    except ScenarioError as exc:
        raise WorkbookError(str(exc)) from None
    return parse_scenario(data, source=where)


def _check_settings(audit: Audit, report: Report) -> None:
    """The Audit sheet's settings rows must say what the run manifest says."""
    settings, records = audit.settings, audit.records
    if not settings.paths:
        return
    shown = {
        "Seed": str(settings.seed),
        "Sampler": str(settings.sampler),
        "Paths": f"{settings.paths} (asked for {settings.paths_requested})",
        "Per-path values stored in": f"{settings.per_path_precision or 'double'} precision",
    }
    for key, expected in shown.items():
        if key in records and records[key] != expected:
            report.problems.append(
                f"the Audit sheet's {key!r} row says {records[key]!r}, the run manifest "
                f"{expected!r}: one of them was edited"
            )


def _check_inputs(path: Path, scenario: Scenario, report: Report) -> None:
    """Whether the Inputs sheet still holds the embedded scenario."""
    try:
        inputs = read_scenario(path)
    except BondModelError as exc:
        report.problems.append(f"the Inputs sheet was edited and is no longer valid: {exc}")
        return
    if inputs.sha256() != scenario.sha256():
        report.problems.append(
            "the Inputs sheet no longer matches the embedded scenario (an input was edited; "
            "the Inputs rows below name the cells)"
        )


# ---------------------------------------------------------------------------
# Rerun and comparison
# ---------------------------------------------------------------------------


def _rerun(
    scenario: Scenario,
    settings: RerunSettings,
    paths: int,
    workers: int,
    scheduler: str | None,
) -> Results:
    """The run again: with the paths asked for and the stopping rule, if there was one
    (convergence is checked block by block in order, so it stops at the same block)."""
    from bondmodel.risk.simulate import Convergence

    rule = settings.convergence if paths else None
    convergence = (
        None
        if rule is None
        else Convergence(
            tolerance=rule.tolerance,
            confidence=rule.confidence,
            metrics=tuple(rule.metrics),
        )
    )
    return run(
        scenario,
        paths=paths,
        seed=settings.seed if paths else None,
        sampler=_sampler(settings),
        workers=workers,
        scheduler=scheduler,
        tornado_output=settings.tornado_output,
        convergence=convergence,
        analyses=Analyses(
            tuple(parse_stress(text) for text in settings.stress or ()),
            tuple(parse_region(text) for text in settings.scenario_analysis or ()),
        ),
    )


def _sampler(settings: RerunSettings) -> Sampler:
    return settings.sampler or "random"  # the manifest's type allows only the samplers


def compare_workbooks(
    formulas_wb: Workbook,
    values_wb: Workbook,
    rerun_formulas: Workbook,
    rerun_values: Workbook,
    skip: frozenset[str],
    report: Report,
) -> None:
    ours = [s for s in formulas_wb.sheetnames if s not in skip]
    theirs = [s for s in rerun_formulas.sheetnames if s not in skip]
    for name in sorted(set(ours) ^ set(theirs)):
        where = "workbook" if name in ours else "rerun"
        _add(
            report,
            Mismatch(
                name,
                "-",
                f"sheet only in the {where}",
                name if name in ours else None,
                name if name in theirs else None,
                "sheet",
            ),
        )
    for name in [s for s in ours if s in theirs]:
        _compare_sheet(
            name,
            formulas_wb[name],
            values_wb[name],
            rerun_formulas[name],
            rerun_values[name],
            report,
        )
    common = frozenset(ours) & frozenset(theirs)
    mine, rerun = describe(formulas_wb, skip), describe(rerun_formulas, skip, rerun=True)
    report.features_compared += len(mine.keys() | rerun.keys())
    for d in compare(mine, rerun):
        if d.sheet and d.sheet not in common:
            continue  # a sheet on one side only is reported once, above
        _add(report, Mismatch(d.sheet or "(workbook)", d.where, "", d.workbook, d.rerun, d.what))


def _compare_sheet(name: str, f1: Any, v1: Any, f2: Any, v2: Any, report: Report) -> None:
    cells1 = _cells(f1, v1)
    cells2 = _cells(f2, v2)
    label_col = 1 if name == "Cover" else 0
    labels = {r: v for (r, c), (_, v) in cells2.items() if c == label_col}
    labels.update({r: v for (r, c), (_, v) in cells1.items() if c == label_col and r not in labels})
    volatile = {r for r, v in labels.items() if name in ("Audit", "Cover") and v in VOLATILE_LABELS}
    for key in sorted(set(cells1) | set(cells2)):
        row, col = key
        if row in volatile and col > label_col:
            continue
        report.cells_compared += 1
        a = cells1.get(key, (None, None))
        b = cells2.get(key, (None, None))
        if _same(a, b):
            continue
        label = labels.get(row)
        _add(
            report,
            Mismatch(
                name,
                openpyxl.utils.get_column_letter(col + 1) + str(row + 1),
                "" if label is None else str(label),
                _shown(a),
                _shown(b),
            ),
        )


def _cells(formulas: Any, values: Any) -> dict[tuple[int, int], tuple[str | None, Any]]:
    """{(row, col): (formula or None, value)} of every non-empty cell (0-based).

    A formula that only returns a boolean constant (``=TRUE()``, as LibreOffice saves the
    constant TRUE) is the constant: the cell holds its value and no formula.
    """
    out: dict[tuple[int, int], tuple[str | None, Any]] = {}
    value_rows = list(values.iter_rows(values_only=True))
    for r, row in enumerate(formulas.iter_rows()):
        for c, cell in enumerate(row):
            formula = str(cell.value) if cell.data_type == "f" else None
            value = value_rows[r][c] if r < len(value_rows) and c < len(value_rows[r]) else None
            if boolean_constant(formula) is not None:
                formula = None
            if formula is None and value is None:
                continue
            out[(r, c)] = (formula, value)
    return out


def _same(a: tuple[str | None, Any], b: tuple[str | None, Any]) -> bool:
    if (a[0] is None) != (b[0] is None):
        return False
    if a[0] is not None and b[0] is not None and formula_key(a[0]) != formula_key(b[0]):
        return False
    x, y = a[1], b[1]
    if isinstance(x, bool) or isinstance(y, bool):
        return type(x) is type(y) and x == y
    if isinstance(x, int | float) and isinstance(y, int | float):
        return math.isclose(float(x), float(y), rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if isinstance(x, datetime | date) and isinstance(y, datetime | date):
        return x == y
    return (x if x != "" else None) == (y if y != "" else None)


def _shown(cell: tuple[str | None, Any]) -> Any:
    """A cell as reported: its value, and its whole formula in brackets if it has one."""
    formula, value = cell
    return value if formula is None else f"{value} [{formula}]"


def _add(report: Report, mismatch: Mismatch) -> None:
    report.mismatch_count += 1
    where = f"{mismatch.sheet}: {mismatch.what}"
    report.counts[where] = report.counts.get(where, 0) + 1
    if report.counts[where] <= MAX_LISTED:  # each kind listed, however many cells differ
        report.mismatches.append(mismatch)


# ---------------------------------------------------------------------------
# Path by path
# ---------------------------------------------------------------------------


def _check_paths(
    wb: Workbook, scenario: Scenario, settings: RerunSettings, n: int, report: Report
) -> None:
    """Rerun ``n`` of the Paths sheet's paths and compare each metric."""
    from bondmodel.model import Model

    if "Paths" not in wb.sheetnames:
        raise WorkbookError(
            f"{report.workbook}: has no 'Paths' sheet: --paths-check needs a workbook with a "
            "Monte Carlo run written by this version of bondmodel"
        )
    ws = wb["Paths"]
    rows = list(ws.iter_rows(min_row=5, values_only=True))
    keys = [str(k) for k in rows[0][1:] if k is not None]
    total = settings.paths
    sample = [r for r in rows[1:] if isinstance(r[0], int | float)]
    if not sample:
        raise WorkbookError(f"{report.workbook}: the Paths sheet holds no paths")
    for i, r in enumerate(sample):
        index = r[0]
        if isinstance(index, bool) or not (float(index).is_integer() and 0 <= index < total):
            report.problems.append(
                f"the Paths sheet names path {index!r} (row {i + 6}), which is not a path "
                f"of this run: allowed 0 to {total - 1:,}"
            )
    sample = [
        r
        for r in sample
        if not isinstance(r[0], bool) and float(r[0]).is_integer() and 0 <= r[0] < total
    ]
    if not sample:
        return
    chosen = [sample[round(i)] for i in np.linspace(0, len(sample) - 1, min(n, len(sample)))]
    chosen = list({int(r[0]): r for r in chosen}.values())
    model = Model.compile(scenario)
    seed, sampler = int(settings.seed or 0), _sampler(settings)
    # a very large run stored each path's values in single precision (methodology §20.9):
    # the rerun's values are rounded the same way before they are compared
    single = settings.per_path_precision == "single"
    by_block: dict[int, list[tuple[Any, ...]]] = {}
    for r in chosen:
        by_block.setdefault(int(r[0]) // BLOCK_SIZE, []).append(r)
    for block, rows_in_block in sorted(by_block.items()):
        metrics = model.block(seed, sampler, block, total).metrics  # the run's path count
        for r in rows_in_block:
            index = int(r[0])
            report.paths_compared += 1
            for j, key in enumerate(keys):
                recorded = r[1 + j]
                value = float(metrics[key][index - block * BLOCK_SIZE])
                if single:
                    value = float(np.float32(value))
                shown = value if math.isfinite(value) else "n/a"
                if isinstance(recorded, int | float) and math.isfinite(value):
                    same = math.isclose(recorded, value, rel_tol=REL_TOL, abs_tol=ABS_TOL)
                else:
                    same = recorded == shown
                if not same:
                    _add(report, Mismatch("Paths", f"path {index}", key, recorded, shown))


#: Characters of context shown either side of where two long texts first differ.
_CONTEXT = 24


def _where_they_differ(workbook: Any, rerun: Any) -> list[str]:
    """For two texts too long for the table: where they first differ, with context and a
    caret, so two formulas that look alike when shortened are told apart."""
    if workbook is None or rerun is None:
        return []
    a, b = str(workbook), str(rerun)
    if a == b or (len(a) <= 20 and len(b) <= 20):
        return []
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0  # the common ending, not overlapping the common beginning
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    lo = max(0, start - _CONTEXT)

    def fragment(text: str) -> str:
        hi = min(len(text), max(len(text) - end, start) + _CONTEXT)
        return ("..." if lo else "") + text[lo:hi] + ("..." if hi < len(text) else "")

    caret = " " * (len("...") if lo else 0) + " " * (start - lo) + "^"
    return [
        f"      differ from character {start + 1}:",
        f"      workbook: {fragment(a)}",
        f"      rerun:    {fragment(b)}",
        f"                {caret}",
    ]


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.6g}"
    text = str(value)
    return text if len(text) <= 20 else text[:17] + "..."


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
