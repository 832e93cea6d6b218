"""``bondmodel verify``: prove a workbook's numbers came from its stated inputs and engine.

The workbook carries everything needed (Audit sheet): the scenario as TOML and
as canonical JSON with its SHA-256, and the run manifest (seed, sampler, paths,
tornado metric, versions). Verify

1. checks the embedded scenario against its recorded SHA-256, and the Inputs
   sheet against the embedded scenario;
2. reruns the engine on the embedded scenario with the recorded settings
   (deterministic and Monte Carlo) and writes the workbook the rerun gives;
3. compares every cell of every sheet, value and formula, with the rerun's,
   except the cells that record when and with which versions the run was made.

With ``--paths-check N`` the Monte Carlo is not rerun in full: the base case
is, and N of the paths on the Paths sheet are rerun and compared one by one,
which the reproducibility contract (a path depends only on the scenario, the
seed, the sampler and its index) makes exact. docs/auditors-guide.md explains
what verify checks and what it cannot.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
import tomllib
import typing
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
from bondmodel.risk.sampling import BLOCK_SIZE, SAMPLERS, Sampler
from bondmodel.scenario.loader import parse_scenario
from bondmodel.scenario.schema import Scenario
from bondmodel.workbook.reader import read_scenario
from bondmodel.workbook.untrusted import open_workbook
from bondmodel.workbook.writer import write_workbook

#: Rows that record when and with what the run was made, not what it computed
#: (label in column A of Audit, column B of Cover): not compared.
VOLATILE_LABELS = frozenset({
    "Run at (UTC)", "Engine", "Python", "numpy / scipy / pandas", "XlsxWriter", "Executor",
    "Chunking (blocks per task)", "Run manifest (JSON)",
})
#: Sheets compared cell by cell only after a full rerun: the Monte Carlo output, and the
#: Cover and Audit, whose layout lists the simulation's settings (checked record by record).
MONTE_CARLO_SHEETS = frozenset({"Summary", "Risk", "Sensitivity", "Paths", "Cover", "Audit"})
#: Tolerances for numbers: the rerun is bit-identical on one machine; another
#: machine's libraries may round the last bits differently.
REL_TOL, ABS_TOL = 1e-9, 1e-6
#: Mismatches listed in full (the count is always exact).
MAX_LISTED = 1_000


@dataclass(frozen=True)
class Mismatch:
    """One cell whose content differs from the rerun's."""

    sheet: str
    cell: str
    label: str
    workbook: Any
    rerun: Any

    def as_json(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "cell": self.cell, "label": self.label,
                "workbook": _jsonable(self.workbook), "rerun": _jsonable(self.rerun)}


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
    cells_compared: int = 0
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
            "paths_compared": self.paths_compared,
            "mismatch_count": self.mismatch_count,
            "mismatches": [m.as_json() for m in self.mismatches],
        }

    def text(self, limit: int = 30) -> str:
        """The verdict line, problems, notes and a table of the first mismatches."""
        what = f"{self.cells_compared:,} cells"
        if self.paths_compared:
            what += f" and {self.paths_compared} simulated paths"
        lines = [
            f"{'MATCH' if self.ok else 'MISMATCH'}: {self.workbook} ({self.mode}; {what} "
            "compared with the rerun)"
        ]
        lines += [f"problem: {p}" for p in self.problems]
        lines += [f"note: {n}" for n in self.notes]
        if self.mismatch_count:
            lines.append(f"{self.mismatch_count:,} cell(s) differ from the rerun:")
            lines.append(
                f"  {'sheet':<12} {'cell':<8} {'label':<40} {'workbook':>20} {'rerun':>20}"
            )
            for m in self.mismatches[:limit]:
                lines.append(
                    f"  {m.sheet:<12} {m.cell:<8} {m.label[:40]:<40} {_short(m.workbook):>20} "
                    f"{_short(m.rerun):>20}"
                )
            if self.mismatch_count > limit:
                lines.append(f"  ... and {self.mismatch_count - limit:,} more (--json lists them)")
        return "\n".join(lines)


def verify(
    path: str | Path,
    paths_check: int | None = None,
    workers: int = 1,
    scheduler: str | None = None,
) -> Report:
    """Verify the workbook at ``path``; see the module docstring."""
    path = Path(path)
    formulas_wb = open_workbook(path)
    values_wb = open_workbook(path, data_only=True)
    audit = read_audit(values_wb, path)
    scenario = embedded_scenario(audit, path)
    manifest = audit.manifest
    paths = int(manifest.get("paths") or 0)
    settings = {k: manifest.get(k) for k in ("paths", "seed", "sampler", "tornado_output")}
    if paths_check is not None and paths_check < 1:
        raise ScenarioError(f"--paths-check: {paths_check} must be at least 1")
    sampled = paths_check is not None and paths > 0
    mode = f"base case rerun, {paths_check} of {paths:,} paths rerun" if sampled else (
        f"full rerun of {paths:,} paths" if paths else "full rerun (base case only)"
    )
    report = Report(path, mode, settings)

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
    _check_inputs(path, scenario, report)
    _check_settings(audit, report)

    rerun_paths = 0 if sampled else paths
    results = _rerun(scenario, manifest, rerun_paths, workers, scheduler)
    with tempfile.TemporaryDirectory() as folder:
        fresh = write_workbook(results, Path(folder) / "rerun.xlsx")
        rerun_formulas = openpyxl.load_workbook(fresh)
        rerun_values = openpyxl.load_workbook(fresh, data_only=True)
    skip = MONTE_CARLO_SHEETS if sampled else frozenset()
    _compare_workbooks(formulas_wb, values_wb, rerun_formulas, rerun_values, skip, report)
    if sampled and paths_check is not None:
        _check_paths(values_wb, scenario, manifest, paths_check, report)
    return report


# ---------------------------------------------------------------------------
# The Audit sheet
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    """What the Audit sheet records."""

    records: dict[str, str]
    toml: str
    manifest: dict[str, Any]


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
    manifest: dict[str, Any] = {}
    text = records.get("Run manifest (JSON)")
    if text:
        try:
            manifest = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WorkbookError(
                f"{source}: Audit sheet: the run manifest is not valid JSON ({exc.msg})"
            ) from None
    else:
        manifest = _settings_from_records(records)
    return Audit(records, "\n".join(lines) + "\n", manifest)


def _settings_from_records(records: dict[str, str]) -> dict[str, Any]:
    """Run settings from the Audit rows, for a workbook without a manifest."""
    if "Seed" not in records:
        return {"paths": 0}
    match = re.match(r"(\d+)", records.get("Paths", ""))
    return {
        "paths": int(match.group(1)) if match else 0,
        "seed": int(records["Seed"]),
        "sampler": records.get("Sampler", "random"),
        "tornado_output": None,
    }


def embedded_scenario(audit: Audit, source: Path) -> Scenario:
    """The scenario written into the Audit sheet (validated like any scenario)."""
    try:
        data = tomllib.loads(audit.toml)
    except tomllib.TOMLDecodeError as exc:
        raise WorkbookError(
            f"{source}: Audit sheet: the embedded scenario is not valid TOML ({exc})"
        ) from None
    return parse_scenario(data, source=f"{source} (Audit sheet, embedded scenario)")


def _check_settings(audit: Audit, report: Report) -> None:
    """The Audit sheet's settings rows must say what the run manifest says."""
    manifest, records = audit.manifest, audit.records
    if not manifest.get("paths"):
        return
    shown = {
        "Seed": str(manifest.get("seed")),
        "Sampler": str(manifest.get("sampler")),
        "Paths": f"{manifest.get('paths')} (asked for {manifest.get('paths_requested')})",
        "Per-path values stored in": f"{manifest.get('per_path_precision', 'double')} precision",
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
    scenario: Scenario, manifest: dict[str, Any], paths: int, workers: int,
    scheduler: str | None,
) -> Results:
    """The run again: with the paths asked for and the stopping rule, if there was one
    (convergence is checked block by block in order, so it stops at the same block)."""
    from bondmodel.risk.simulate import Convergence

    converge = manifest.get("convergence") if paths else None
    convergence = None
    if converge:
        convergence = Convergence(
            tolerance=float(converge["tolerance"]), confidence=float(converge["confidence"]),
            metrics=tuple(converge.get("metrics") or ()),
        )
    requested = int(manifest.get("paths_requested") or paths) if paths else 0
    return run(
        scenario,
        paths=requested,
        seed=manifest.get("seed") if paths else None,
        sampler=_sampler(manifest),
        workers=workers,
        scheduler=scheduler,
        tornado_output=manifest.get("tornado_output"),
        convergence=convergence,
    )


def _sampler(manifest: dict[str, Any]) -> Sampler:
    name = manifest.get("sampler") or "random"
    if name not in SAMPLERS:
        raise WorkbookError(f"the run manifest names an unknown sampler {name!r}")
    return typing.cast(Sampler, name)


def _compare_workbooks(
    formulas_wb: Workbook, values_wb: Workbook, rerun_formulas: Workbook,
    rerun_values: Workbook, skip: frozenset[str], report: Report,
) -> None:
    ours = [s for s in formulas_wb.sheetnames if s not in skip]
    theirs = [s for s in rerun_formulas.sheetnames if s not in skip]
    for name in sorted(set(ours) ^ set(theirs)):
        where = "workbook" if name in ours else "rerun"
        _add(report, Mismatch(name, "-", f"sheet only in the {where}",
                              name if name in ours else None, name if name in theirs else None))
    for name in [s for s in ours if s in theirs]:
        _compare_sheet(name, formulas_wb[name], values_wb[name], rerun_formulas[name],
                       rerun_values[name], report)


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
        _add(report, Mismatch(
            name, openpyxl.utils.get_column_letter(col + 1) + str(row + 1),
            "" if label is None else str(label), _shown(a), _shown(b),
        ))


def _cells(formulas: Any, values: Any) -> dict[tuple[int, int], tuple[str | None, Any]]:
    """{(row, col): (formula or None, value)} of every non-empty cell (0-based)."""
    out: dict[tuple[int, int], tuple[str | None, Any]] = {}
    value_rows = list(values.iter_rows(values_only=True))
    for r, row in enumerate(formulas.iter_rows()):
        for c, cell in enumerate(row):
            formula = cell.value if cell.data_type == "f" else None
            value = value_rows[r][c] if r < len(value_rows) and c < len(value_rows[r]) else None
            if formula is None and value is None:
                continue
            out[(r, c)] = (str(formula) if formula is not None else None, value)
    return out


def _same(a: tuple[str | None, Any], b: tuple[str | None, Any]) -> bool:
    if a[0] != b[0]:
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
    formula, value = cell
    return value if formula is None else f"{value} [{formula[:60]}]"


def _add(report: Report, mismatch: Mismatch) -> None:
    report.mismatch_count += 1
    if len(report.mismatches) < MAX_LISTED:
        report.mismatches.append(mismatch)


# ---------------------------------------------------------------------------
# Path by path
# ---------------------------------------------------------------------------


def _check_paths(
    wb: Workbook, scenario: Scenario, manifest: dict[str, Any], n: int, report: Report
) -> None:
    """Rerun ``n`` of the Paths sheet's paths and compare each metric."""
    from bondmodel.risk.simulate import _engine_for

    if "Paths" not in wb.sheetnames:
        raise WorkbookError(
            f"{report.workbook}: has no 'Paths' sheet: --paths-check needs a workbook with a "
            "Monte Carlo run written by this version of bondmodel"
        )
    ws = wb["Paths"]
    rows = list(ws.iter_rows(min_row=5, values_only=True))
    keys = [str(k) for k in rows[0][1:] if k is not None]
    sample = [r for r in rows[1:] if isinstance(r[0], int | float)]
    if not sample:
        raise WorkbookError(f"{report.workbook}: the Paths sheet holds no paths")
    chosen = [sample[round(i)] for i in np.linspace(0, len(sample) - 1, min(n, len(sample)))]
    chosen = list({int(r[0]): r for r in chosen}.values())
    engine = _engine_for(scenario)
    total = int(manifest["paths"])
    seed, sampler = int(manifest["seed"]), _sampler(manifest)
    # a very large run stored each path's values in single precision (methodology §20.9):
    # the rerun's values are rounded the same way before they are compared
    single = manifest.get("per_path_precision") == "single"
    by_block: dict[int, list[tuple[Any, ...]]] = {}
    for r in chosen:
        by_block.setdefault(int(r[0]) // BLOCK_SIZE, []).append(r)
    for block, rows_in_block in sorted(by_block.items()):
        metrics, _, _ = engine.block(seed, sampler, block, total)  # the run's path count
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
