"""Everything a workbook holds besides its cells' values and formulas, as comparable features.

``bondmodel verify`` regenerates the workbook from the rerun and compares it with the one
given. Cells are compared in ``verify``; this module describes the rest, generically: each
workbook becomes a mapping ``(sheet, where, what) -> Feature``, and any key present on one
side only, or with a different canonical value, is a difference. Nothing here lists
particular sheets, cells or names: a feature the writer starts to emit is compared as soon
as openpyxl reads it.

Described: the sheets (order, visibility: visible, hidden, veryHidden), workbook and
sheet-scoped defined names (target and hidden flag), print areas and titles, the number
format and visible look (text colour and size, fill) of every cell, data validations and
conditional formats (per cell they cover), hyperlinks, comments, merged ranges, hidden rows
and columns, page setup, headers and footers, and charts (by the cell they are anchored at:
type, and each series' name and ranges).

Spellings a spreadsheet application changes without changing the meaning are compared in
canonical form (bondmodel.workbook.canonical); docs/auditors-guide.md lists them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DefusedET
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from bondmodel.workbook.canonical import formula_key, number_format_key, plain
from bondmodel.workbook.printing import RUN_STAMP

#: Most cells a validation or conditional format is expanded to, one key per cell; a larger
#: range is compared whole (the writer never emits one this large).
MAX_EXPANDED = 20_000


@dataclass(frozen=True)
class Feature:
    """One thing the workbook says: its canonical value (compared) and how it is written."""

    key: Any
    shown: Any


Features = dict[tuple[str, str, str], Feature]


@dataclass(frozen=True)
class Difference:
    """A feature that differs, or exists on one side only (``None`` for the missing side)."""

    sheet: str
    where: str
    what: str
    workbook: Any
    rerun: Any


def describe(wb: Workbook, skip: frozenset[str] = frozenset(), rerun: bool = False) -> Features:
    """Every feature of ``wb`` outside the sheets in ``skip`` (see the module docstring).

    With ``rerun``, ``wb`` is the workbook the rerun wrote, and a formula cell whose number
    format is General may be matched by a format it would inherit (see
    :func:`_inheritable_formats`).
    """
    out: Features = {}
    names = [ws.title for ws in wb.worksheets if ws.title not in skip]
    out[("", "-", "sheet order")] = Feature(tuple(names), ", ".join(names))
    for name, dn in wb.defined_names.items():
        _defined_name(out, "", name, dn)
    palette = theme_colours(wb)
    for ws in wb.worksheets:
        if ws.title in skip:
            continue
        out[(ws.title, "-", "sheet visibility")] = Feature(ws.sheet_state, ws.sheet_state)
        for name, dn in ws.defined_names.items():
            _defined_name(out, ws.title, name, dn)
        _sheet_features(out, ws, wb if rerun else None, palette)
    return out


def compare(ours: Features, rerun: Features) -> Iterator[Difference]:
    """The differences between two descriptions, in a stable order."""
    for key in sorted(set(ours) | set(rerun)):
        default = DEFAULTS.get(key[2])
        a, b = ours.get(key, default), rerun.get(key, default)
        if a is not None and b is not None and _agrees(a.key, b.key):
            continue
        yield Difference(
            key[0], key[1], key[2], None if a is None else a.shown, None if b is None else b.shown
        )


@dataclass(frozen=True)
class OneOf:
    """In the rerun's description: any of these canonical values agrees."""

    keys: frozenset[Any]


def _inheritable_formats(wb: Workbook, ws: Worksheet, formula: str) -> set[Any]:
    """The number formats of the cells a formula reads directly (by reference or defined
    name), canonical.

    Notes
    -----
    LibreOffice gives a formula cell whose format is General the number format of the
    cells its formula refers to when it recalculates, and saves it: ``=Timeline!D52``
    becomes formatted as Timeline!D52 is. Only the formats the rerun itself gives those
    cells are accepted, so the cell can show nothing its source does not.
    """
    found: set[Any] = set()
    for kind, subtype, text in formula_key(formula):
        if kind != "OPERAND" or subtype != "RANGE":
            continue
        target = wb.defined_names.get(text)
        ref = str(target.attr_text) if target is not None and target.attr_text else text
        sheet_name, _, area = ref.rpartition("!")
        sheet_name = sheet_name.strip("'").replace("''", "'")
        sheet = wb[sheet_name] if sheet_name in wb.sheetnames else (ws if not sheet_name else None)
        if sheet is None:
            continue
        for coordinate in _cells_of(area.replace("$", "")):
            try:
                cell = sheet._cells.get(coordinate_to_tuple(coordinate))
            except (ValueError, TypeError):  # not a single cell (a whole column, say)
                continue
            if cell is not None:  # looked up, never created
                found.add(number_format_key(cell.number_format))
    return found


#: In the rerun's description: an attribute the writer leaves to the application's default,
#: which the application may write out as it likes (LibreOffice writes its locale's paper size).
UNSET = "(application default)"


#: What a feature that is not there means, by kind.
GENERAL = number_format_key("General")
#: A cell's look when nothing is set: black text of the default size, no fill.
PLAIN: tuple[tuple[str, Any], ...] = (
    ("text colour", "000000"),
    ("text size", None),
    ("fill", None),
)
DEFAULTS = {
    "number format": Feature(GENERAL, "General"),
    "font or fill": Feature(PLAIN, "black text, no fill"),
}


def _agrees(ours: Any, rerun: Any) -> bool:
    if isinstance(rerun, OneOf):
        return ours in rerun.keys
    if rerun == UNSET:
        return True
    if isinstance(ours, tuple) and isinstance(rerun, tuple) and len(ours) == len(rerun):
        return all(_agrees(a, b) for a, b in zip(ours, rerun, strict=True))
    return bool(ours == rerun)


def _defined_name(out: Features, scope: str, name: str, dn: Any) -> None:
    target = str(dn.attr_text or "")
    out[(scope, name, "defined name")] = Feature(
        (formula_key(target), bool(dn.hidden)), target + (" (hidden)" if dn.hidden else "")
    )


def _sheet_features(
    out: Features, ws: Worksheet, rerun: Workbook | None, palette: list[str]
) -> None:
    title = ws.title
    for what, value in (
        ("print area", ws.print_area),
        ("print title rows", ws.print_title_rows),
        ("print title columns", ws.print_title_cols),
    ):
        if value:
            text = str(value)
            out[(title, "-", what)] = Feature(formula_key(text), text)
    for (row, col), cell in ws._cells.items():
        code = cell.number_format
        key: Any = number_format_key(code)
        if key == GENERAL and rerun is not None and cell.data_type == "f":
            inherited = _inheritable_formats(rerun, ws, str(cell.value))
            if inherited:
                key = OneOf(frozenset({GENERAL, *inherited}))
        if key != GENERAL:
            out[(title, f"{get_column_letter(col)}{row}", "number format")] = Feature(key, code)
        link = cell.hyperlink
        if link is not None:
            out[(title, f"{get_column_letter(col)}{row}", "hyperlink")] = Feature(
                (plain(link.target), _maybe_formula(plain(link.location))),
                link.target or link.location,
            )
        if cell.comment is not None:
            out[(title, f"{get_column_letter(col)}{row}", "comment")] = Feature(
                cell.comment.text, cell.comment.text
            )
        look = _appearance(cell, palette)
        if look != PLAIN:
            out[(title, f"{get_column_letter(col)}{row}", "font or fill")] = Feature(
                look, ", ".join(f"{k} {v}" for k, v in look if v is not None)
            )
    for dv in ws.data_validations.dataValidation:
        shown = " ".join(
            str(x) for x in (dv.type, dv.operator, dv.formula1, dv.formula2) if x is not None
        )
        _per_cell(out, title, str(dv.sqref), "data validation", _validation(dv), shown)
    for cf in ws.conditional_formatting:
        rules = sorted(cf.rules, key=lambda r: r.priority or 0)
        shown = "; ".join(
            " ".join(
                str(x) for x in (r.type, r.operator, *(r.formula or ()), r.text) if x is not None
            )
            for r in rules
        )
        _per_cell(
            out,
            title,
            str(cf.sqref),
            "conditional format",
            tuple(_rule(r, palette) for r in rules),
            shown,
        )
    for rng in ws.merged_cells.ranges:
        out[(title, str(rng), "merged range")] = Feature(True, str(rng))
    for index, dim in ws.row_dimensions.items():
        if dim.hidden:
            out[(title, f"row {index}", "hidden row")] = Feature(True, "hidden")
    for dim in ws.column_dimensions.values():
        if dim.hidden and dim.min is not None:
            for col in range(dim.min, (dim.max or dim.min) + 1):
                out[(title, f"column {get_column_letter(col)}", "hidden column")] = Feature(
                    True, "hidden"
                )
    setup = _page_setup(ws)
    out[(title, "-", "page setup")] = Feature(setup, ", ".join(f"{k}={v}" for k, v in setup))
    for part in (
        "oddHeader",
        "oddFooter",
        "evenHeader",
        "evenFooter",
        "firstHeader",
        "firstFooter",
    ):
        text = _header_text(getattr(ws, part, None))
        if text:
            # the footer records when and with which engine the run was made, as the Audit
            # sheet's volatile rows do: not what was computed, so not compared
            out[(title, "-", part)] = Feature(RUN_STAMP.sub("bondmodel (run)", text), text)
    for chart in ws._charts:
        where, key, shown = _chart(chart)
        out[(title, where, "chart")] = Feature(key, shown)


def _per_cell(out: Features, sheet: str, sqref: str, what: str, key: Any, shown: str) -> None:
    """One feature per covered cell, so that a range split or merged differently still
    compares equal cell by cell; several rules on one cell are kept together."""
    for cell in _cells_of(sqref):
        previous = out.get((sheet, cell, what))
        if previous is None:
            out[(sheet, cell, what)] = Feature((key,), shown)
        else:
            out[(sheet, cell, what)] = Feature(
                tuple(sorted((*previous.key, key), key=repr)), f"{previous.shown}; {shown}"
            )


def _cells_of(sqref: str) -> Iterable[str]:
    for part in sqref.split():
        try:
            min_col, min_row, max_col, max_row = range_boundaries(part)
        except (ValueError, TypeError):
            yield part
            continue
        if None in (min_col, min_row, max_col, max_row):
            yield part
            continue
        assert min_col is not None and min_row is not None  # narrowed for mypy
        assert max_col is not None and max_row is not None
        if (max_col - min_col + 1) * (max_row - min_row + 1) > MAX_EXPANDED:
            yield part
            continue
        for r in range(min_row, max_row + 1):
            for c in range(min_col, max_col + 1):
                yield f"{get_column_letter(c)}{r}"


def _validation(dv: Any) -> tuple[Any, ...]:
    """A data validation's rule and messages. ``operator`` and ``formula2`` mean something
    only for a comparison (whole, decimal, date, time, text length); for a list or a custom
    rule they are not read, and LibreOffice writes ``between`` and ``0`` there."""
    kind = dv.type or "any"
    compares = kind in ("whole", "decimal", "date", "time", "textLength")
    return (
        ("type", kind),
        ("operator", (dv.operator or "between") if compares else None),
        ("formula1", _maybe_formula(dv.formula1)),
        ("formula2", _maybe_formula(dv.formula2) if compares else None),
        ("allow blank", bool(dv.allow_blank)),
        ("in-cell dropdown hidden", bool(dv.showDropDown)),
        ("error shown", bool(dv.showErrorMessage)),
        ("prompt shown", bool(dv.showInputMessage)),
        ("error style", dv.errorStyle or "stop"),
        ("error title", plain(dv.errorTitle)),
        ("error", plain(dv.error)),
        ("prompt title", plain(dv.promptTitle)),
        ("prompt", plain(dv.prompt)),
    )


def _maybe_formula(text: Any) -> Any:
    return None if text is None else formula_key(str(text))


def _rule(rule: Any, palette: list[str]) -> tuple[Any, ...]:
    dxf = rule.dxf
    font = (
        None
        if dxf is None or dxf.font is None
        else (_rgb(dxf.font.color, palette), bool(dxf.font.b), bool(dxf.font.i))
    )
    fill = (
        None
        if dxf is None or dxf.fill is None
        else _rgb(getattr(dxf.fill, "bgColor", None) or getattr(dxf.fill, "fgColor", None), palette)
    )
    numfmt = None if dxf is None or dxf.numFmt is None else number_format_key(dxf.numFmt.formatCode)
    return (
        ("type", rule.type),
        ("operator", rule.operator),
        ("formulas", tuple(formula_key(str(f)) for f in rule.formula or ())),
        ("text", plain(rule.text)),
        ("stop if true", bool(rule.stopIfTrue)),
        ("font", font),
        ("fill", fill),
        ("number format", numfmt),
    )


def theme_colours(wb: Workbook) -> list[str]:
    """The workbook theme's colours as RRGGBB, in the order a cell's ``theme`` index counts
    them (light 1, dark 1, light 2, dark 2, then the accents and links; the file lists the
    first two pairs dark first)."""
    theme = getattr(wb, "loaded_theme", None)
    if not theme:
        return []
    try:
        root = DefusedET.fromstring(theme)
    except (DefusedET.ParseError, ValueError, DefusedXmlException):
        return []
    scheme = root.find(f".//{{{_DRAWING}}}clrScheme")
    if scheme is None:
        return []
    colours = []
    for entry in scheme:
        value = next(
            (c.get("val") if c.tag.endswith("srgbClr") else c.get("lastClr") for c in entry), None
        )
        colours.append((value or "").upper())
    if len(colours) >= 4:
        colours[0], colours[1], colours[2], colours[3] = (
            colours[1],
            colours[0],
            colours[3],
            colours[2],
        )
    return colours


_DRAWING = "http://schemas.openxmlformats.org/drawingml/2006/main"


def _appearance(cell: Any, palette: list[str]) -> tuple[tuple[str, Any], ...]:
    """What decides whether a cell's text can be seen: its colour and size, and the fill
    behind it (a white number on white, or in a 1-point font, is hidden).

    Colours are compared as RRGGBB: a theme colour is looked up in the workbook's theme
    (LibreOffice saves XlsxWriter's theme colour 1 as the black it stands for), and the
    automatic colour is black.
    """
    font, fill = cell.font, cell.fill
    text = _rgb(font.color, palette) if font is not None else None
    size = float(font.sz) if font is not None and font.sz is not None else None
    if fill is None or fill.fill_type is None:
        behind = None
    elif fill.fill_type == "solid":
        behind = _rgb(fill.fgColor, palette) or "solid"
    else:
        behind = f"{fill.fill_type} {_rgb(fill.fgColor, palette)} {_rgb(fill.bgColor, palette)}"
    return (
        ("text colour", text or "000000"),
        ("text size", None if size == 11.0 else size),
        ("fill", behind),
    )


def _rgb(colour: Any, palette: list[str]) -> str | None:
    if colour is None:
        return None
    tint = float(getattr(colour, "tint", 0) or 0)
    value: str | None = None
    if colour.type == "rgb" and isinstance(colour.rgb, str):
        value = colour.rgb[-6:].upper()
    elif colour.type == "theme" and isinstance(colour.theme, int):
        value = (
            palette[colour.theme] if 0 <= colour.theme < len(palette) else (f"theme {colour.theme}")
        )
    elif colour.type == "indexed":
        value = f"indexed {colour.indexed}"
    if value is None:
        return None
    return value if tint == 0 else f"{value} tint {tint:g}"


def _page_setup(ws: Worksheet) -> tuple[tuple[str, Any], ...]:
    """Orientation, paper, scaling and fitting, with the defaults the file format gives an
    attribute that is not written (LibreOffice writes every one)."""
    ps = ws.page_setup
    fit = ws.sheet_properties.pageSetUpPr
    fit_to_page = bool(fit.fitToPage) if fit is not None else False
    setup: list[tuple[str, Any]] = [
        ("orientation", ps.orientation or "portrait"),
        ("paper", int(ps.paperSize) if ps.paperSize is not None else UNSET),
        ("fit to page", fit_to_page),
    ]
    if fit_to_page:
        setup += [
            ("pages wide", int(ps.fitToWidth if ps.fitToWidth is not None else 1)),
            ("pages tall", int(ps.fitToHeight if ps.fitToHeight is not None else 1)),
        ]
    else:
        setup.append(("scale %", int(ps.scale or 100)))
    return tuple(setup)


def _header_text(item: Any) -> str:
    if item is None:
        return ""
    parts = [getattr(item, side, None) for side in ("left", "center", "right")]
    return " | ".join(str(p.text or "") for p in parts if p is not None).strip(" |")


def _chart(chart: Any) -> tuple[str, tuple[Any, ...], str]:
    """Where a chart is anchored; its type and series (each series' name and the ranges it
    plots, canonical); and the same as written."""
    start = getattr(chart.anchor, "_from", None)
    where = "-" if start is None else f"{get_column_letter(start.col + 1)}{start.row + 1}"
    # a combined chart (columns and a line) holds one chart per plot type; openpyxl reads
    # the first and keeps them all in ``_charts``
    plots = getattr(chart, "_charts", None) or [chart]
    kind = " + ".join(
        type(p).__name__ + (f" ({p.barDir})" if getattr(p, "barDir", None) else "") for p in plots
    )
    keys: list[tuple[Any, ...]] = []
    texts: list[str] = []
    for s in (series for p in plots for series in p.series):
        key: list[tuple[str, str, Any]] = []
        text: list[str] = []
        for part in ("tx", "cat", "val", "xVal", "yVal"):
            ref, literal = _series_source(getattr(s, part, None))
            if ref is not None:
                key.append((part, "ref", formula_key(ref)))
                text.append(f"{part} {ref}")
            elif literal is not None:
                key.append((part, "text", literal))
                text.append(f"{part} {literal!r}")
        keys.append(tuple(key))
        texts.append(", ".join(text))
    return where, (kind, tuple(keys)), f"{kind}: {'; '.join(texts)}"


def _series_source(source: Any) -> tuple[str | None, str | None]:
    """The reference a series part reads, or its literal text.

    LibreOffice writes a category range as a multi-level string reference where XlsxWriter
    writes a string reference, and a series name given as text as the formula ``"Name"``;
    the range read and the text shown are the same, and they are what is compared."""
    if source is None:
        return None, None
    for attr in ("numRef", "strRef", "multiLvlStrRef"):
        ref = getattr(source, attr, None)
        if ref is not None and ref.f:
            text = str(ref.f)
            tokens = formula_key(text)
            if len(tokens) == 1 and tokens[0][1] == "TEXT":  # ="Paths": the text itself
                return None, tokens[0][2][1:-1].replace('""', '"')
            return text, None
    literal = getattr(source, "v", None)
    return None, (str(literal) if literal is not None else None)
