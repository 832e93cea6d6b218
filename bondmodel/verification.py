"""``bondmodel verify`` (:func:`verify`): a model workbook or a pool workbook, each rerun
and compared.

The workbook says which it is: a pool workbook's Audit sheet names its portfolio file
(:func:`bondmodel.pool.verify.is_pool_workbook`); any other is a model workbook
(:mod:`bondmodel.workbook.verify`). Both give the same :class:`Report`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bondmodel.errors import ScenarioError
from bondmodel.pool.verify import is_pool_workbook, verify_pool
from bondmodel.workbook.untrusted import open_workbook
from bondmodel.workbook.verify import (
    DEFAULT_MAX_PATHS,
    Report,
    check_verify_settings,
    verify_model,
)


def verify(
    path: str | Path,
    paths_check: int | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    max_paths: int = DEFAULT_MAX_PATHS,
    announce: Callable[[str], None] | None = None,
) -> Report:
    """Verify the workbook at ``path``, a model's or a pool's; see the module docstring.

    A full rerun of more than ``max_paths`` paths is refused (``WorkbookError``) before
    anything runs; ``announce``, if given, is told what is about to be rerun.

    ``paths_check`` (a sample of a model's paths rerun) has no pool counterpart: a pool
    workbook holds no per-path values, so it is rerun in full.
    """
    path = Path(path)
    check_verify_settings(paths_check, max_paths)
    values_wb = open_workbook(path, data_only=True)
    if is_pool_workbook(values_wb):
        if paths_check is not None:
            raise ScenarioError(
                f"paths_check: {path} is a pool workbook, which holds no per-path values to "
                "sample: leave out --paths-check to rerun the pool in full"
            )
        return verify_pool(path, values_wb, workers, scheduler, max_paths, announce)
    return verify_model(path, values_wb, paths_check, workers, scheduler, max_paths, announce)
