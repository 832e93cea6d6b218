"""Opening a workbook from outside: every check before a byte of it is parsed as XML.

A workbook received by email is untrusted input. Before openpyxl reads it:

- it must be a regular file no larger than :data:`MAX_WORKBOOK_BYTES`;
- macro-enabled and binary formats (``.xlsm``, ``.xltm``, ``.xlsb``, ``.xls``) are refused,
  by name and by content (a ``vbaProject.bin`` part or a macro-enabled content type);
- the zip archive must be sound, with at most :data:`MAX_ENTRIES` entries, each name
  once (Office part names ignore case), at most :data:`MAX_UNCOMPRESSED_BYTES`
  uncompressed in all, and no entry expanding more than :data:`MAX_RATIO` times
  (a zip bomb is refused before it is expanded).

openpyxl then parses the XML with defusedxml (a dependency: openpyxl uses it
whenever it is installed), which refuses entity-expansion and external-entity
attacks. Cells are read as stored values: a formula is never evaluated, and
its text is reported as a formula, not taken as a value. Text is read back as it
was written: Excel's ``_xHHHH_`` escapes (a carriage return is ``_x000D_``) are
undone exactly once, which openpyxl's own string table does not do.

:func:`read_sheet_cells` reads one sheet without trusting it further: it visits
only the cells the sheet's XML holds (never a range its ``<dimension>`` or its
largest cell claims), at most :data:`MAX_SHEET_CELLS` of them, and refuses a
cell outside Excel's grid, a number that is not a finite number, a shared-string
index outside the table, an unknown cell type or the same cell given twice,
naming the sheet and the cell.
"""

from __future__ import annotations

import math
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl.xml
from defusedxml import DefusedXmlException
from openpyxl.cell.text import Text
from openpyxl.reader.excel import ExcelReader
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.utils.datetime import from_excel, from_ISO8601
from openpyxl.workbook.workbook import Workbook
from openpyxl.xml.constants import SHARED_STRINGS, SHEET_MAIN_NS
from openpyxl.xml.functions import iterparse

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

#: Most cells (and rows) one sheet may declare for :func:`read_sheet_cells`. The
#: Inputs sheet of a scenario at every size limit holds well under this.
MAX_SHEET_CELLS = 250_000
#: Most cells the rectangle from A1 to a sheet's last cell may cover in :func:`open_workbook`.
#: A model's widest sheet (150 years monthly: 1,801 period columns) covers about 110,000.
MAX_SHEET_SPAN = 5_000_000
#: Excel's grid: the largest row and column numbers (XFD1048576).
MAX_ROW = 1_048_576
MAX_COLUMN = 16_384

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
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        NotImplementedError,
        RuntimeError,
        ValueError,
    ) as exc:
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
            f"{path}: contains macros (a VBA project); only workbooks without macros are accepted"
        )


def _check_entries(path: Path, entries: list[zipfile.ZipInfo]) -> None:
    if len(entries) > MAX_ENTRIES:
        raise WorkbookError(
            f"{path}: holds {len(entries):,} archive entries; at most {MAX_ENTRIES:,} are accepted"
        )
    seen: set[str] = set()
    for entry in entries:
        # zipfile reads the last of two same-named entries, Excel may read the first
        key = entry.filename.lower()
        if key in seen:
            raise WorkbookError(
                f"{path}: archive entry {entry.filename!r} appears more than once (part names "
                "ignore case); a workbook holds each part once"
            )
        seen.add(key)
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
            f"{path}: expands to {total:,} bytes; at most {MAX_UNCOMPRESSED_BYTES:,} are accepted"
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
    wb: Workbook = _load(path, data_only=data_only, read_only=False, exact=False).wb
    for ws in wb.worksheets:
        # a caller walks a sheet's rows and columns: bound that walk by the cells it holds
        span = ws.max_row * ws.max_column
        if span > MAX_SHEET_SPAN:
            raise WorkbookError(
                f"{path}: sheet {ws.title!r}: its cells span A1:"
                f"{get_column_letter(ws.max_column)}{ws.max_row} ({span:,} cells); at most "
                f"{MAX_SHEET_SPAN:,} are read: a cell lies far outside the model"
            )
    return wb


def _load(path: Path, data_only: bool, read_only: bool, exact: bool = True) -> ExcelReader:
    """Run openpyxl's reader; ``exact`` reads text with :class:`_ExactTextReader`.

    :func:`open_workbook` keeps openpyxl's own reading of text, so that a workbook
    compared with a fresh one (verify) reads both the same way.
    """
    kind = _ExactTextReader if exact else ExcelReader
    reader = kind(path, read_only=read_only, keep_vba=False, data_only=data_only, keep_links=False)
    try:
        reader.read()
    except WorkbookError:
        raise
    except Exception as exc:  # openpyxl raises many kinds on a malformed part
        raise WorkbookError(f"{path}: cannot be read as a workbook: {_reason(exc)}") from None
    return reader


#: Excel's escape of a character in text: ``_x000D_`` is a carriage return.
_ESCAPE = re.compile("_x([0-9A-Fa-f]{4})_")


def unescape_text(text: str) -> str:
    """Undo Excel's ``_xHHHH_`` escapes, once, left to right (ECMA-376 Part 1, 22.9.2.19).

    ``_x005F_`` is an escaped underscore, so ``_x005F_x000D_`` reads as the
    literal text ``_x000D_``, as XlsxWriter, Excel and LibreOffice write it.
    """
    if "_x" not in text:
        return text
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


class _ExactTextReader(ExcelReader):  # type: ignore[misc]
    """openpyxl's reader with the shared strings unescaped exactly (:func:`unescape_text`).

    openpyxl leaves ``_x000D_`` as it is and deletes every ``x005F_``, so a carriage
    return, or text that looks like an escape, would not read back as written.
    """

    def read_strings(self) -> None:
        ct = self.package.find(SHARED_STRINGS)
        if ct is None:
            return
        strings: list[str] = []
        with self.archive.open(ct.PartName[1:]) as src:
            for _, node in iterparse(src):
                if node.tag == _SI:
                    strings.append(unescape_text(Text.from_tree(node).content))
                    node.clear()
        self.shared_strings = strings


_SI = f"{{{SHEET_MAIN_NS}}}si"
_ROW = f"{{{SHEET_MAIN_NS}}}row"
_CELL = f"{{{SHEET_MAIN_NS}}}c"
_VALUE = f"{{{SHEET_MAIN_NS}}}v"
_FORMULA = f"{{{SHEET_MAIN_NS}}}f"
_INLINE = f"{{{SHEET_MAIN_NS}}}is"
#: A number as a sheet stores it (at most 30 characters: 17 digits, a sign, an exponent).
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?$")
_REF = re.compile(r"^([A-Z]{1,3})([1-9][0-9]{0,6})$")


@dataclass(frozen=True)
class SheetCell:
    """One cell as the sheet's XML declares it.

    ``kind`` is ``"n"`` (a number), ``"s"`` (text), ``"b"`` (a boolean),
    ``"d"`` (a date, a number in a date format) or ``"f"`` (a formula: ``value``
    is its text, never evaluated).
    """

    row: int
    column: int
    value: Any
    kind: str

    @property
    def coordinate(self) -> str:
        """``E12``."""
        return f"{get_column_letter(self.column)}{self.row}"


def read_sheet_cells(
    path: str | Path, title: str
) -> tuple[list[str], dict[int, dict[int, SheetCell]]]:
    """The sheet names of workbook ``path`` and its sheet ``title``'s cells, by row and column.

    Only the sheet's own cells are visited (see the module's notes); the other
    sheets are not parsed at all. Returns an empty mapping when there is no
    such sheet.

    Raises
    ------
    WorkbookError
        The archive or a part of it is refused; the message names the file,
        the sheet and the cell.
    """
    path = Path(path)
    check_archive(path)
    reader = _load(path, data_only=False, read_only=True)
    wb = reader.wb
    try:
        names = list(wb.sheetnames)
        if title not in names:
            return names, {}
        ws = wb[title]
        scanner = _CellScanner(path, title, wb, reader.shared_strings)
        cells: dict[int, dict[int, SheetCell]] = {}
        try:
            with ws._get_source() as src:  # the sheet's XML part in the archive
                for cell in scanner.cells(src):
                    row = cells.setdefault(cell.row, {})
                    if cell.column in row:
                        raise scanner.error(cell.coordinate, "is given twice in the sheet's XML")
                    row[cell.column] = cell
        except WorkbookError:
            raise
        except Exception as exc:  # malformed XML, a damaged entry
            raise WorkbookError(f"{path}: sheet {title!r} cannot be read: {_reason(exc)}") from None
        return names, cells
    finally:
        wb.close()


class _CellScanner:
    """Turns a sheet's ``<row>`` and ``<c>`` elements into checked :class:`SheetCell` s."""

    def __init__(self, path: Path, title: str, wb: Workbook, strings: list[str]) -> None:
        self.path, self.title = path, title
        self.strings = strings
        self.dates = set(wb._date_formats) - set(wb._timedelta_formats)
        self.epoch = wb.epoch
        self.count = 0

    def error(self, where: str, problem: str) -> WorkbookError:
        return WorkbookError(f"{self.path}: {self.title}!{where}: {problem}")

    def cells(self, src: Any) -> Iterator[SheetCell]:
        """Each cell as its element ends: a huge row is never held whole in memory."""
        row = column = 0
        for event, element in iterparse(src, events=("start", "end")):
            if event == "start":
                if element.tag == _ROW:
                    row, column = self._row_number(element, row), 0
                continue
            if element.tag == _CELL:
                cell = self._cell(element, row, column)
                row, column = cell.row, cell.column
                element.clear()
                yield cell
            elif element.tag == _ROW:
                element.clear()

    def _tick(self, where: str) -> None:
        self.count += 1
        if self.count > MAX_SHEET_CELLS:
            raise self.error(
                where,
                f"the sheet declares more than {MAX_SHEET_CELLS:,} cells and rows; "
                "at most that many are read",
            )

    def _row_number(self, element: Any, previous: int) -> int:
        text = element.get("r")
        where = f"row {previous + 1}" if text is None else f"row {text[:20]}"
        self._tick(where)
        if text is None:
            number = previous + 1
        elif text.isdigit() and len(text) <= 7:
            number = int(text)
        else:
            raise self.error(where, "is not a row number (1 to 1,048,576)")
        if not 1 <= number <= MAX_ROW:
            raise self.error(where, f"row {number} is outside the sheet (rows 1 to {MAX_ROW:,})")
        return number

    def _cell(self, element: Any, row: int, previous_column: int) -> SheetCell:
        ref = element.get("r")
        if ref is None:
            column = previous_column + 1
            where = f"row {row}, column {column}"
        else:
            where = repr(ref[:20])
            match = _REF.match(ref)
            if match is None:
                raise self.error(where, "is not a cell reference (such as E12) inside XFD1048576")
            column = column_index_from_string(match.group(1))
            row = int(match.group(2))
        self._tick(where)
        if not (1 <= row <= MAX_ROW and 1 <= column <= MAX_COLUMN):
            raise self.error(where, f"lies outside the sheet (XFD{MAX_ROW} is the last cell)")
        where = SheetCell(row, column, None, "n").coordinate
        if element.find(_FORMULA) is not None:
            formula = element.find(_FORMULA).text or ""
            return SheetCell(row, column, "=" + formula, "f")
        kind = element.get("t", "n")
        if kind == "inlineStr":
            inline = element.find(_INLINE)
            text = Text.from_tree(inline).content if inline is not None else None
            return SheetCell(row, column, None if text is None else unescape_text(text), "s")
        raw = element.findtext(_VALUE)
        if raw is None or raw == "":
            return SheetCell(row, column, None, "n")
        return SheetCell(row, column, *self._value(kind, raw, element, where))

    def _value(self, kind: str, raw: str, element: Any, where: str) -> tuple[Any, str]:
        if kind == "n":
            if len(raw) > 30 or _NUMBER.match(raw) is None:
                raise self.error(
                    where, f"holds {raw[:40]!r} where a number is stored; not a finite number"
                )
            # as openpyxl reads it: a whole number without a point or exponent is an int
            number: float = float(raw) if any(c in raw for c in ".eE") else int(raw)
            if not math.isfinite(number):
                raise self.error(where, f"holds {raw[:40]!r}; a number must be finite")
            style = element.get("s", "0")
            if not style.isdigit():
                raise self.error(where, f"has the style {style[:20]!r}; not a style number")
            if int(style) in self.dates:
                try:
                    return from_excel(number, self.epoch), "d"
                except (OverflowError, ValueError):
                    raise self.error(
                        where,
                        f"holds the date serial number {raw[:40]}, outside the dates "
                        "a workbook can hold",
                    ) from None
            return number, "n"
        if kind == "s":
            if not raw.isdigit() or int(raw) >= len(self.strings):
                raise self.error(
                    where,
                    f"refers to shared string {raw[:20]!r}; the table holds "
                    f"{len(self.strings)} (0 to {len(self.strings) - 1})",
                )
            return self.strings[int(raw)], "s"
        if kind == "str":
            return unescape_text(raw), "s"
        if kind == "b":
            if raw not in ("0", "1"):
                raise self.error(where, f"holds {raw[:20]!r} as a boolean; allowed: 0 or 1")
            return raw == "1", "b"
        if kind == "d":
            try:
                value = from_ISO8601(raw)
            except (ValueError, OverflowError):
                raise self.error(
                    where, f"holds {raw[:40]!r} as a date; not an ISO 8601 date"
                ) from None
            if not isinstance(value, datetime):
                raise self.error(where, f"holds {raw[:40]!r} as a date; give a calendar date")
            return value, "d"
        if kind == "e":
            raise self.error(where, f"holds the error value {raw[:20]}; an input must be a value")
        raise self.error(where, f"has the unknown cell type {kind[:20]!r}")


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
