"""Fast, exact access to a workbook's cells for the tests: read every cell, edit Inputs cells.

openpyxl takes about a second to load a model workbook; the live-input property
test reads hundreds of them, so this reads the sheet XML directly (values,
whether a cell holds a formula, shared strings) and edits an input the way a
user's spreadsheet would store it: the new value in the cell, nothing else
touched.
"""

from __future__ import annotations

import re
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def sheet_files(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> the part that holds it (``xl/worksheets/sheet3.xml``)."""
    book = ElementTree.fromstring(zf.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    out = {}
    for sheet in book.iterfind("m:sheets/m:sheet", _NS):
        target = targets[sheet.get(_REL)].lstrip("/")
        out[str(sheet.get("name"))] = target if target.startswith("xl/") else f"xl/{target}"
    return out


def _shared_strings(zf: zipfile.ZipFile) -> list[str]:
    if "xl/sharedStrings.xml" not in zf.namelist():
        return []
    root = ElementTree.fromstring(zf.read("xl/sharedStrings.xml"))
    return ["".join(t.text or "" for t in si.iter(f"{{{_NS['m']}}}t")) for si in root]


Cell = tuple[bool, Any]


def read_cells(path: Path, sheets: set[str] | None = None) -> dict[tuple[str, str], Cell]:
    """(sheet, A1 reference) -> (holds a formula, its value) for every cell with content."""
    out: dict[tuple[str, str], Cell] = {}
    with zipfile.ZipFile(path) as zf:
        strings = _shared_strings(zf)
        for name, part in sheet_files(zf).items():
            if sheets is not None and name not in sheets:
                continue
            root = ElementTree.fromstring(zf.read(part))
            for c in root.iter(f"{{{_NS['m']}}}c"):
                f = c.find("m:f", _NS)
                v = c.find("m:v", _NS)
                kind = c.get("t", "n")
                if kind == "inlineStr":
                    value: Any = "".join(t.text or "" for t in c.iter(f"{{{_NS['m']}}}t"))
                elif v is None or v.text is None:
                    value = "" if kind == "str" else None
                elif kind == "s":
                    value = strings[int(v.text)]
                elif kind in ("str", "e"):
                    value = v.text
                elif kind == "b":
                    value = v.text.strip() == "1"
                else:
                    value = float(v.text)
                if f is None and value is None:
                    continue
                out[(name, str(c.get("r")))] = (f is not None, value)
    return out


def _serial(day: date) -> float:
    return float((datetime(day.year, day.month, day.day) - datetime(1899, 12, 30)).days)


def _cell_xml(ref: str, style: str | None, value: Any) -> str:
    s = f' s="{style}"' if style is not None else ""
    if value is None:
        return f'<c r="{ref}"{s}/>'
    if isinstance(value, bool):
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        number = float(value)
        text = str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
        return f'<c r="{ref}"{s}><v>{text}</v></c>'
    if isinstance(value, date):
        return f'<c r="{ref}"{s}><v>{_serial(value)!r}</v></c>'
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<c r="{ref}"{s} t="inlineStr"><is><t>{text}</t></is></c>'


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def edit_inputs(
    source: Path, target: Path, row_values: dict[int, tuple[Any, ...]], first_col: int = 4
) -> Path:
    """Copy ``source`` to ``target`` with Inputs rows (1-based) holding new values.

    Each row's values start at column ``first_col`` (0-based, E); cells of the
    old values beyond the new ones are cleared; the cell style is kept.
    """
    with zipfile.ZipFile(source) as zin:
        part = sheet_files(zin)["Inputs"]
        xml = zin.read(part).decode("utf-8")
        for row, values in row_values.items():
            match = re.search(rf'<row r="{row}"[^>]*>(.*?)</row>', xml, flags=re.S)
            if match is None:
                raise KeyError(f"Inputs row {row} not found")
            body = match.group(1)
            cells = re.findall(
                r'<c r="([A-Z]+)\d+"(?: s="(\d+)")?[^>]*?(?:/>|>.*?</c>)', body, flags=re.S
            )
            styles = {col: s for col, s in cells}
            keep = re.findall(r'(<c r="([A-Z]+)\d+"[^>]*?(?:/>|>.*?</c>))', body, flags=re.S)
            value_cols = {_column(first_col + j) for j in range(max(len(values), 1))}
            old_values = [col for _, col in keep if _index(col) >= first_col]
            style = styles.get(_column(first_col))
            new_cells = [xml_ for xml_, col in keep if _index(col) < first_col]
            for j, value in enumerate(values or (None,)):
                new_cells.append(_cell_xml(f"{_column(first_col + j)}{row}", style, value))
            for col in old_values:
                if col not in value_cols:
                    new_cells.append(_cell_xml(f"{col}{row}", styles.get(col), None))
            new_cells.sort(key=lambda x: _index(re.match(r'<c r="([A-Z]+)', x).group(1)))  # type: ignore[union-attr]
            head = re.sub(r' spans="[^"]*"', "", xml[match.start() : match.start(1)])
            xml = xml[: match.start()] + head + "".join(new_cells) + "</row>" + xml[match.end() :]
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                data = zin.read(info.filename)
                zout.writestr(info, xml.encode("utf-8") if info.filename == part else data)
    return target


def _index(col: str) -> int:
    n = 0
    for ch in col:
        n = n * 26 + ord(ch) - 64
    return n - 1


def general_format_cells(path: Path) -> list[str]:
    """The cells (``Sheet!A1``) holding a number shown in General format, which should
    each have their unit's format (95000000, 0.0525, 1E-15 would show as typed)."""
    import openpyxl

    wb = openpyxl.load_workbook(path, data_only=True)
    return [
        f"{ws.title}!{cell.coordinate}"
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for cell in row
        if isinstance(cell.value, int | float)
        and not isinstance(cell.value, bool)
        and cell.number_format == "General"
    ]


def zip_parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def write_zip_parts(parts: dict[str, bytes], target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return target


def sheet_xml(path: Path, sheet: str) -> str:
    import openpyxl

    return f"xl/worksheets/sheet{openpyxl.load_workbook(path).sheetnames.index(sheet) + 1}.xml"


def edit_cell(
    source: Path, target: Path, sheet: str, cell: str, value: str, drop_formula: bool = False
) -> Path:
    """Set the stored value of ``sheet!cell`` (and, if asked, delete its formula)."""
    parts = zip_parts(source)
    name = sheet_xml(source, sheet)
    xml = parts[name].decode("utf-8")
    match = re.search(rf'<c r="{cell}"[^>]*?(/>|>.*?</c>)', xml)
    assert match is not None, cell
    old = match.group(0)
    new = re.sub(r"<v>[^<]*</v>", f"<v>{value}</v>", old)
    if drop_formula:
        new = re.sub(r"<f>[^<]*</f>", "", new)
    assert new != old
    parts[name] = xml.replace(old, new, 1).encode("utf-8")
    return write_zip_parts(parts, target)


def edit_string(source: Path, target: Path, old: str, new: str) -> Path:
    parts = zip_parts(source)
    text = parts["xl/sharedStrings.xml"].decode("utf-8")
    assert old in text, old
    parts["xl/sharedStrings.xml"] = text.replace(old, new, 1).encode("utf-8")
    return write_zip_parts(parts, target)
