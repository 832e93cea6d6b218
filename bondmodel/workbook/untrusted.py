"""Opening a workbook from outside: every check before a byte of it is parsed as XML.

A workbook received by email is untrusted input. Before openpyxl reads it:

- it must be a regular file no larger than :data:`MAX_WORKBOOK_BYTES`;
- macro-enabled and binary formats (``.xlsm``, ``.xltm``, ``.xlsb``, ``.xls``) are refused,
  by name and by content (a ``vbaProject.bin`` part or a macro-enabled content type);
- the zip archive must be sound, with at most :data:`MAX_ENTRIES` entries, at most
  :data:`MAX_UNCOMPRESSED_BYTES` uncompressed in all, and no entry expanding more
  than :data:`MAX_RATIO` times (a zip bomb is refused before it is expanded).

openpyxl then parses the XML with defusedxml (a dependency: openpyxl uses it
whenever it is installed), which refuses entity-expansion and external-entity
attacks. Cells are read as stored values: a formula is never evaluated, and
its text is reported as a formula, not taken as a value.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import openpyxl
import openpyxl.xml
from defusedxml import DefusedXmlException
from openpyxl.workbook.workbook import Workbook

from bondmodel.errors import WorkbookError

#: Largest workbook accepted, in bytes. A model workbook is well under a megabyte;
#: a 30-year quarterly model with full risk sheets is about 0.5 MB.
MAX_WORKBOOK_BYTES = 25 * 1024 * 1024
#: Most entries a workbook archive may hold (sheets, charts, styles, ...).
MAX_ENTRIES = 2_000
#: Largest total uncompressed size, in bytes.
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
#: Largest compression ratio of any one entry. XML compresses well (10-30x is
#: usual for a sheet of numbers); a zip bomb compresses by thousands.
MAX_RATIO = 200

#: Extensions of workbooks that can carry macros, or are not Office Open XML.
REFUSED_SUFFIXES = {
    ".xlsm": "a macro-enabled workbook",
    ".xltm": "a macro-enabled template",
    ".xlsb": "a binary workbook",
    ".xls": "an old binary (BIFF) workbook",
    ".xla": "an add-in",
    ".xlam": "a macro-enabled add-in",
}


def check_archive(path: Path) -> None:
    """Refuse ``path`` unless it is a plain, sound, reasonably sized .xlsx archive."""
    if not path.exists():
        raise WorkbookError(f"{path}: workbook does not exist")
    if not path.is_file():
        raise WorkbookError(f"{path}: is not a file; give an .xlsx workbook")
    suffix = path.suffix.lower()
    if suffix in REFUSED_SUFFIXES:
        raise WorkbookError(
            f"{path}: is {REFUSED_SUFFIXES[suffix]} ({suffix}); only .xlsx workbooks without "
            "macros are accepted"
        )
    size = path.stat().st_size
    if size > MAX_WORKBOOK_BYTES:
        raise WorkbookError(
            f"{path}: is {size:,} bytes; at most {MAX_WORKBOOK_BYTES:,} are accepted"
        )
    if not zipfile.is_zipfile(path):
        raise WorkbookError(
            f"{path}: is not an .xlsx workbook (not a zip archive): the file is corrupt or in "
            "another format"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            _check_entries(path, entries)
            names = {e.filename for e in entries}
            types = archive.read("[Content_Types].xml") if "[Content_Types].xml" in names else b""
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
            RuntimeError, ValueError) as exc:
        # a damaged archive fails in many ways: bad headers, bad compressed data,
        # an unknown compression method, an encrypted entry
        raise WorkbookError(
            f"{path}: is a corrupt zip archive ({' '.join(str(exc).split())[:120]})"
        ) from None
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise WorkbookError(
            f"{path}: is a zip archive but not an .xlsx workbook (no xl/workbook.xml)"
        )
    if any(n.lower().endswith("vbaproject.bin") for n in names) or b"macroEnabled" in types:
        raise WorkbookError(
            f"{path}: contains macros (a VBA project); only workbooks without macros are "
            "accepted"
        )


def _check_entries(path: Path, entries: list[zipfile.ZipInfo]) -> None:
    if len(entries) > MAX_ENTRIES:
        raise WorkbookError(
            f"{path}: holds {len(entries):,} archive entries; at most {MAX_ENTRIES:,} are "
            "accepted"
        )
    total = 0
    for entry in entries:
        total += entry.file_size
        ratio = entry.file_size / max(entry.compress_size, 1)
        if ratio > MAX_RATIO and entry.file_size > 1_000_000:
            raise WorkbookError(
                f"{path}: entry {entry.filename!r} expands {ratio:,.0f} "
                f"times (to {entry.file_size:,} bytes); at most {MAX_RATIO} times is accepted: "
                "this looks like a zip bomb"
            )
    if total > MAX_UNCOMPRESSED_BYTES:
        raise WorkbookError(
            f"{path}: expands to {total:,} bytes; at most {MAX_UNCOMPRESSED_BYTES:,} are "
            "accepted"
        )


def open_workbook(path: str | Path, data_only: bool = False) -> Workbook:
    """Check ``path`` (:func:`check_archive`) and load it with openpyxl: formulas as text,
    or with ``data_only`` the values cached with them (nothing is ever evaluated)."""
    path = Path(path)
    check_archive(path)
    if not openpyxl.xml.DEFUSEDXML:
        raise WorkbookError(
            "defusedxml is not installed: reading an untrusted workbook needs it "
            "(pip install defusedxml)"
        )
    try:
        return openpyxl.load_workbook(
            path, data_only=data_only, keep_vba=False, keep_links=False
        )
    except WorkbookError:
        raise
    except Exception as exc:  # openpyxl raises many kinds on a malformed part
        raise WorkbookError(f"{path}: cannot be read as a workbook: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    """One line saying why: an XML attack by name, else the library's message, shortened."""
    cause: BaseException | None = exc
    while cause is not None:  # openpyxl wraps the parser's exception in its own
        if isinstance(cause, DefusedXmlException):
            return (
                f"its XML declares entities or external references ({type(cause).__name__}); "
                "they are refused as a defence against XML attacks"
            )
        cause = cause.__cause__ or cause.__context__
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
