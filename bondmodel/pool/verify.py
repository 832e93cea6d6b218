"""``bondmodel verify`` for a pool workbook: rerun the pool from its Audit sheet and compare.

A pool workbook (``bondmodel pool ... -o pool.xlsx``) records its run manifest (seed,
paths, the command, the time) and the resolved portfolio: the portfolio file with every
member's programme inline, as TOML lines under "Resolved portfolio (TOML)", with their
SHA-256. Verifying it:

1. reads the Audit sheet; the embedded lines must hash to the recorded SHA-256, or the
   portfolio was edited after the run (a problem, exit 1);
2. reruns the pool from those lines alone (no member file is needed) with the recorded
   seed and paths, on ``workers`` processes or a Dask ``scheduler`` (a pool's numbers do not
   depend on either: docs/methodology.md section 24);
3. writes the rerun's workbook with the original's command, time and portfolio SHA-256, and
   compares every cell (formula and value) and every other feature (number formats, defined
   names, charts, print settings) with the workbook's, as for a model workbook
   (:mod:`bondmodel.workbook.verify`).

The verdict, exit codes and JSON are the model workbook's (:class:`Report`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.workbook.workbook import Workbook

from bondmodel import __version__
from bondmodel.errors import WorkbookError
from bondmodel.pool.loader import MAX_DEPTH, Portfolio, parse_portfolio
from bondmodel.pool.workbook import RESOLVED_HEADER
from bondmodel.risk.sampling import MAX_SEED, SAMPLERS
from bondmodel.scenario.loader import read_toml
from bondmodel.workbook.verify import DEFAULT_MAX_PATHS, Report, compare_workbooks

#: The Audit sheet's label of the run manifest's JSON (the row below holds it, column A).
JSON_LABEL = "Manifest as JSON"
#: The Audit sheet's label naming the portfolio file: what marks a pool workbook.
PORTFOLIO_LABEL = "Portfolio file"
#: The heading of the member table (name, programme, seed).
MEMBER_HEADER = "Member"


def is_pool_workbook(values_wb: Workbook) -> bool:
    """Whether ``values_wb`` is a pool workbook: its Audit sheet names a portfolio file."""
    if "Audit" not in values_wb.sheetnames:
        return False
    ws = values_wb["Audit"]
    return any(row[0] == PORTFOLIO_LABEL for row in ws.iter_rows(max_col=1, values_only=True))


def verify_pool(
    path: Path,
    values_wb: Workbook,
    workers: int = 1,
    scheduler: str | None = None,
    max_paths: int = DEFAULT_MAX_PATHS,
    announce: Callable[[str], None] | None = None,
) -> Report:
    """Verify the pool workbook at ``path`` (``values_wb``: it opened with its cached
    values); see the module docstring. A rerun of more than ``max_paths`` paths is refused
    (``WorkbookError``) before anything runs."""
    from bondmodel.pool.base import pool_base_case
    from bondmodel.pool.model import PoolModel
    from bondmodel.pool.results import run_pool
    from bondmodel.pool.simulate import structure_of
    from bondmodel.pool.workbook import resolved_toml, text_sha256, write_parts
    from bondmodel.workbook.untrusted import open_workbook

    audit = _read_audit(values_wb, path)
    manifest, paths, seed = audit.manifest, audit.paths, audit.seed
    if paths > max_paths:
        raise WorkbookError(
            f"{path}: the run manifest records a pool run of {paths:,} paths; verify reruns at "
            f"most {max_paths:,} (--max-paths): give --max-paths {paths} to rerun it"
        )
    where = f"{path} (Audit sheet, resolved portfolio)"
    portfolio = _with_labels(
        parse_portfolio(read_toml(audit.toml, where, MAX_DEPTH), source=audit.source),
        audit.labels,
        path,
    )
    what = f"the pool of {len(portfolio.members)} members, {paths:,} paths, seed {seed}"
    if announce is not None:
        announce(f"verify: rerunning {what}")
    report = Report(path, f"full rerun of {what}", {"paths": paths, "seed": seed})
    recorded = str(manifest.get("resolved_portfolio_sha256", ""))
    actual = text_sha256(audit.toml)
    if actual != recorded:
        report.problems.append(
            f"the embedded portfolio was changed: its SHA-256 is {actual}, the workbook "
            f"records {recorded or 'none'} (Audit sheet)"
        )
    if resolved_toml(portfolio) != audit.toml:
        report.notes.append(
            "the embedded portfolio's lines are not as this engine writes them (reordered or "
            "reformatted): the rerun decides the verdict"
        )
    engine = str(manifest.get("bondmodel_version", ""))
    if engine != __version__:
        report.notes.append(
            f"the workbook was made by bondmodel {engine or '(unknown)'}; this is bondmodel "
            f"{__version__}: the rerun decides the verdict"
        )

    # a workbook from before the sampler was recorded was drawn at random
    sampler = str(manifest.get("sampler", "random"))
    if sampler not in SAMPLERS:
        raise WorkbookError(
            f"{path}: Audit sheet: the run manifest records sampler {sampler!r}; allowed: "
            f"{', '.join(SAMPLERS)}"
        )
    results = run_pool(portfolio, paths, seed, workers, scheduler, sampler)  # type: ignore[arg-type]
    ran = (results.settings["executor"], results.settings["workers"])
    recorded_run = (manifest.get("executor"), manifest.get("workers"))
    if ran != recorded_run:
        report.notes.append(
            f"the run used {recorded_run[0]} on {recorded_run[1]} worker(s), the rerun "
            f"{ran[0]} on {ran[1]}: a pool's numbers do not depend on either, and the "
            "rerun's workbook records the run's"
        )
        results.settings["executor"], results.settings["workers"] = recorded_run
    model = PoolModel(portfolio)
    structure = structure_of(model)
    base = pool_base_case(model, structure)
    with tempfile.TemporaryDirectory() as folder:
        fresh = write_parts(
            Path(folder) / "rerun.xlsx",
            portfolio,
            structure,
            base,
            results,
            str(manifest.get("command", "")) or None,
            str(manifest.get("portfolio_sha256", "")) or None,
            audit.stamp,
        )
        rerun_formulas = openpyxl.load_workbook(fresh)
        rerun_values = openpyxl.load_workbook(fresh, data_only=True)
    compare_workbooks(
        open_workbook(path), values_wb, rerun_formulas, rerun_values, frozenset(), report
    )
    return report


@dataclass(frozen=True)
class _Audit:
    """What a pool workbook's Audit sheet records: the manifest (its seed and paths read and
    checked), the resolved portfolio's lines, the member table's (name, programme) labels."""

    manifest: dict[str, Any]
    seed: int
    paths: int
    toml: str
    labels: list[tuple[str, str]]
    stamp: datetime
    source: str


def _read_audit(wb: Workbook, path: Path) -> _Audit:
    ws = wb["Audit"]
    rows = [(r[0], r[1] if len(r) > 1 else None) for r in ws.iter_rows(values_only=True)]
    labels: list[tuple[str, str]] = []
    manifest_text: str | None = None
    lines: list[str] = []
    in_members = in_toml = False
    for i, (key, value) in enumerate(rows):
        if in_toml:
            if key is None and value is not None:
                lines.append(str(value))
            elif key is not None:
                in_toml = False
            continue
        if key == RESOLVED_HEADER:
            in_toml = True
        elif key == MEMBER_HEADER:
            in_members = True
        elif in_members and key is not None:
            labels.append((str(key), "" if value is None else str(value)))
        elif in_members:
            in_members = False
        if key == JSON_LABEL and i + 1 < len(rows):
            manifest_text = None if rows[i + 1][0] is None else str(rows[i + 1][0])
    if manifest_text is None or not lines:
        missing = "run manifest's JSON" if manifest_text is None else "resolved portfolio"
        raise WorkbookError(
            f"{path}: the Audit sheet holds no {missing} (the '{JSON_LABEL}' row and the "
            f"'{RESOLVED_HEADER}' block): this pool workbook cannot be rerun; make it again "
            "with `bondmodel pool ... -o`"
        )
    try:
        manifest = json.loads(manifest_text)
        if not isinstance(manifest, dict):
            raise TypeError("it is not an object")
        stamp = datetime.strptime(str(manifest["run_at_utc"]), "%Y-%m-%d %H:%M:%S")
        seed, paths = int(manifest["seed"]), int(manifest["paths"])
    except (ValueError, KeyError, TypeError) as exc:
        raise WorkbookError(
            f"{path}: Audit sheet: the run manifest's JSON is not as `bondmodel pool` writes "
            f"it ({type(exc).__name__}: {exc}); it needs seed, paths and run_at_utc"
        ) from None
    if not 0 <= seed <= MAX_SEED or paths < 1:
        raise WorkbookError(
            f"{path}: Audit sheet: the run manifest records seed {seed} and {paths} paths; a "
            f"pool run has a seed from 0 to {MAX_SEED} and at least 1 path"
        )
    source = str(manifest.get("portfolio_file", "portfolio"))
    toml = "\n".join(lines) + "\n"
    return _Audit(manifest, seed, paths, toml, labels, stamp.replace(tzinfo=UTC), source)


def _with_labels(portfolio: Portfolio, labels: list[tuple[str, str]], path: Path) -> Portfolio:
    """The portfolio with each member's programme named as the run named it (its scenario
    file, or "inline table"): the embedded lines hold every programme inline, and the
    Audit sheet's member table says where each came from."""
    members = portfolio.spec.members
    if [name for name, _ in labels] != [m.name for m in members]:
        raise WorkbookError(
            f"{path}: Audit sheet: the member table names {len(labels)} member(s) that are not "
            f"the embedded portfolio's {len(members)}, in order"
        )
    renamed = tuple(
        m.model_copy(update={"scenario": None if label == "inline table" else label})
        for m, (_, label) in zip(members, labels, strict=True)
    )
    spec = portfolio.spec.model_copy(update={"members": renamed})
    return Portfolio(spec, portfolio.scenarios, portfolio.source)
