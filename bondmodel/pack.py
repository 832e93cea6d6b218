"""The committee pack: a model workbook printed to one PDF by LibreOffice, recalculated.

``bondmodel report MODEL.xlsx -o PACK.pdf`` and ``bondmodel run ... --pdf PACK.pdf``
both come here. The workbook already carries its print setup (``workbook/printing.py``:
A4 landscape, one page wide, a print area per sheet, headers and footers), so the pack
is the sheets' print areas, in the workbook's sheet order.

LibreOffice (``soffice``) is an optional dependency, needed only for the PDF. It runs
headless with the profile of :mod:`bondmodel.workbook.recalc`, which recalculates every
formula on loading: XlsxWriter caches the engine's values, and a workbook edited since
(an input changed in Excel) must print what its formulas now say, not what was cached.
The PDF is written atomically: a failed or interrupted render leaves no file behind and
an existing pack untouched.

``report --png`` rebuilds the run from the workbook's Audit sheet (the embedded scenario
and the run manifest, as ``verify`` does) to draw the charts; it refuses a workbook whose
Inputs sheet no longer holds the scenario as run, whose charts would not be the
workbook's numbers.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bondmodel.errors import ScenarioError, WorkbookError
from bondmodel.io import atomic_write, check_output_path

if TYPE_CHECKING:
    from bondmodel.engine import Results

#: How to install LibreOffice where it is missing (the one package the PDF needs).
INSTALL_HINT: Final = (
    "install LibreOffice (Debian/Ubuntu: apt-get install -y libreoffice-calc-nogui; "
    "macOS: brew install --cask libreoffice) and make sure soffice is on PATH"
)
#: Sheets every model workbook written by ``bondmodel run`` has, and an input form lacks.
MODEL_SHEETS: Final = ("Summary", "Audit")
#: Longest a render may take before it is abandoned (seconds).
RENDER_TIMEOUT: Final = 600.0
#: A page object in a PDF (not the page tree, ``/Pages``).
_PAGE = re.compile(rb"/Type\s*/Page(?![s\w])")
_SHEET_NAME = re.compile(rb'<sheet\b[^>]*?\bname="([^"]*)"')


def require_soffice() -> str:
    """The LibreOffice executable; a one-line error naming how to install it if absent."""
    from bondmodel.workbook.recalc import soffice_path

    exe = soffice_path()
    if exe is None:
        raise ScenarioError(
            f"the PDF pack needs LibreOffice, which was not found (no soffice on PATH); "
            f"{INSTALL_HINT}"
        )
    return exe


def check_pdf_output(path: Path, flag: str) -> None:
    """Refuse, before anything runs, a PDF path that does not end in .pdf or whose folder
    is missing; ``flag`` names the option that gave it."""
    check_output_path(path, flag, ".pdf")


def check_model_workbook(path: Path) -> None:
    """Refuse anything but a model workbook written by ``bondmodel run``: the file must be
    a sound .xlsx archive (``workbook/untrusted.check_archive``: no macros, no zip bomb)
    holding the Summary and Audit sheets."""
    from bondmodel.workbook.untrusted import check_archive

    if path.suffix.lower() != ".xlsx":
        raise ScenarioError(f"{path}: is not an .xlsx workbook; give a model workbook")
    check_archive(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = {
                n.decode("utf-8", "replace")
                for n in _SHEET_NAME.findall(archive.read("xl/workbook.xml"))
            }
    except (zipfile.BadZipFile, OSError, KeyError) as exc:
        raise WorkbookError(f"{path}: cannot be read as a workbook ({exc})") from None
    missing = [s for s in MODEL_SHEETS if s not in names]
    if missing:
        hint = (
            "it is a pool workbook (`bondmodel pool`), set up to print as it is: convert it "
            "with LibreOffice (soffice --headless --convert-to pdf) or print it from Excel"
            if {"Members", "Waterfall", "Loss"} <= names
            else f"run it first: bondmodel run {path} -o MODEL.xlsx"
        )
        raise ScenarioError(
            f"{path}: is not a model workbook written by `bondmodel run` (no "
            f"{' or '.join(missing)} sheet); {hint}"
        )


def page_count(pdf: bytes) -> int:
    """Pages in a PDF: its page objects."""
    return len(_PAGE.findall(pdf))


def write_pack(workbook: Path, output: Path) -> int:
    """Render ``workbook`` to the PDF ``output`` in LibreOffice, every formula recalculated;
    returns the number of pages. ``output`` is written atomically."""
    from bondmodel.workbook.recalc import convert

    require_soffice()
    pages = 0

    def write(tmp: Path) -> None:
        nonlocal pages
        with tempfile.TemporaryDirectory(prefix="bondmodel-pack-") as folder:
            try:
                # the workbook's own name: the pages' footers show it (&F)
                pdf = convert(workbook.resolve(), Path(folder), to="pdf", timeout=RENDER_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise WorkbookError(
                    f"{workbook}: LibreOffice did not finish the PDF within "
                    f"{RENDER_TIMEOUT:.0f} seconds; nothing was written"
                ) from None
            data = pdf.read_bytes()
        pages = page_count(data)
        if not data.startswith(b"%PDF") or pages == 0:
            raise WorkbookError(f"{workbook}: LibreOffice wrote no printable page")
        tmp.write_bytes(data)

    atomic_write(output, write)
    return pages


def rerun_workbook(path: Path, announce: Callable[[str], None] | None = None) -> Results:
    """The run a model workbook records, repeated from its Audit sheet (embedded scenario
    and run manifest, as ``verify`` reruns it), for the charts of ``report --png``.

    Refused when the Inputs sheet no longer holds the embedded scenario (an input was
    edited: the workbook's numbers are no longer the run's) or the embedded scenario does
    not match its recorded SHA-256, and a recorded run larger than verify reruns by default
    (``DEFAULT_MAX_PATHS``). ``announce``, if given, is told what is rerun.
    """
    from bondmodel.workbook.reader import read_scenario
    from bondmodel.workbook.untrusted import open_workbook
    from bondmodel.workbook.verify import (
        DEFAULT_MAX_PATHS,
        _rerun,
        _what_is_rerun,
        embedded_scenario,
        read_audit,
    )

    audit = read_audit(open_workbook(path, data_only=True), path)
    scenario = embedded_scenario(audit, path)
    recorded = audit.records.get("Scenario SHA-256", "")
    if scenario.sha256() != recorded:
        raise WorkbookError(
            f"{path}: the Audit sheet's embedded scenario does not match its recorded SHA-256 "
            "(the Audit sheet was edited); `bondmodel verify` says more"
        )
    if read_scenario(path).sha256() != recorded:
        raise ScenarioError(
            f"{path}: an input on the Inputs sheet was changed since the run, so the workbook "
            "no longer holds one run's numbers; rerun it first "
            f"(bondmodel run {path} -o MODEL.xlsx --png DIR)"
        )
    settings = audit.settings
    paths = settings.rerun_paths
    if paths > DEFAULT_MAX_PATHS:
        raise ScenarioError(
            f"{path}: records a run of {paths:,} paths; report --png reruns at most "
            f"{DEFAULT_MAX_PATHS:,}: draw the charts with the run instead "
            f"(bondmodel run {path} -o MODEL.xlsx --png DIR)"
        )
    if announce is not None:
        announce(f"report: rerunning {_what_is_rerun(settings, paths, None)}, for the charts")
    return _rerun(scenario, settings, paths, workers=1, scheduler=None)
