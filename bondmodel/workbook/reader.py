"""Reading a scenario back from a workbook's Inputs sheet.

The Inputs sheet (bondmodel.workbook.inputs) holds one row per input: its
path in column A (``bond.coupon.rate``, ``costs[0].amount``,
``risk.correlation.matrix[1]``) and its value, or a list's values across the
row, from column E. Reading it back is the inverse of ``flatten``: each path is
set in a nested mapping, lists are recognised from the schema, and the result
is validated exactly like a TOML scenario. Errors name the workbook, the sheet,
the cell and the field.

The workbook is untrusted (bondmodel.workbook.untrusted): nothing a cell says is
evaluated, and a formula where a value belongs is an error, not a value. The one
exception is ``=TRUE()``/``=FALSE()``, which is how LibreOffice saves the constants
TRUE and FALSE: those are read as the constants (nothing is evaluated). Only the
cells the Inputs sheet's XML holds are visited (read_sheet_cells), so the work is
bounded by what the file contains, never by a range it claims.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from openpyxl.utils import get_column_letter
from pydantic import BaseModel, ValidationError

from bondmodel.errors import ScenarioError, WorkbookError
from bondmodel.scenario.loader import format_validation_error
from bondmodel.scenario.paths import FIELD_PATH, path_parts
from bondmodel.scenario.schema import Scenario
from bondmodel.workbook.canonical import boolean_constant
from bondmodel.workbook.inputs import (
    CONVENTIONS_HEADING,
    HEADERS,
    LABEL_COL,
    LIST_WIDTH,
    VALUE_COL,
)
from bondmodel.workbook.untrusted import SheetCell, read_sheet_cells

INPUTS_SHEET = "Inputs"
#: 1-based worksheet row of the Inputs sheet's headings; inputs start on the next row.
HEADER_ROW = 4
#: Most values a list input may hold across its row: the longest list a scenario may hold,
#: which is also the width its defined name covers (so formulas see every value read).
MAX_LIST = LIST_WIDTH
#: Most parts an input's path may have (``risk.inputs[0].distribution.values`` has 5).
MAX_PATH_PARTS = 8


@dataclass(frozen=True)
class InputCell:
    """Where one input was read: its path, the first value cell, and the values."""

    path: str
    row: int
    values: tuple[Any, ...]

    def cell(self, offset: int = 0) -> str:
        """``Inputs!E12``: the cell of the value (or of a list's item ``offset``)."""
        return f"{INPUTS_SHEET}!{get_column_letter(VALUE_COL + 1 + offset)}{self.row}"


def read_scenario(path: str | Path) -> Scenario:
    """Read and validate the scenario on the Inputs sheet of workbook ``path``."""
    path = Path(path)
    names, cells = read_sheet_cells(path, INPUTS_SHEET)
    if INPUTS_SHEET not in names:
        raise WorkbookError(
            f"{path}: has no {INPUTS_SHEET!r} sheet (sheets: {', '.join(names)}); "
            "give a workbook written by bondmodel or `bondmodel template`"
        )
    inputs = read_inputs(cells, path)
    data = assemble(inputs, path)
    if any(item.path.endswith(".fit.data") for item in inputs):
        # a risk input fitted to data: refitted from the data beside the workbook, as
        # load_scenario refits from the data beside a scenario file
        from bondmodel.risk.fitting import resolve_fits

        data = resolve_fits(data, path.parent, str(path))
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        by_path = {cell.path: cell for cell in inputs}
        raise ScenarioError(
            format_validation_error(exc, data, str(path), locate=_locator(by_path))
        ) from None


def read_inputs(cells: Mapping[int, Mapping[int, SheetCell]], source: Path) -> list[InputCell]:
    """Every input row of the sheet (its cells by row and column), values as Python values."""
    header = cells.get(HEADER_ROW, {})
    headings = [_plain(header.get(1 + j)) for j in range(len(HEADERS))]
    if headings != list(HEADERS):
        raise WorkbookError(
            f"{source}: {INPUTS_SHEET}!A{HEADER_ROW}:{get_column_letter(len(HEADERS))}"
            f"{HEADER_ROW} should head the columns {', '.join(HEADERS)}; got "
            f"{', '.join(str(h) for h in headings)}: this is not a bondmodel Inputs sheet, "
            "or its rows were moved"
        )
    out: list[InputCell] = []
    seen: dict[str, int] = {}
    conventions = False
    for number in sorted(r for r in cells if r > HEADER_ROW):
        row = cells[number]
        if all(c.value is None for c in row.values()):
            continue  # a blank row an analyst added
        head = row.get(1)
        text_head = head is not None and head.kind != "f" and isinstance(head.value, str)
        if text_head and head.value == CONVENTIONS_HEADING:  # type: ignore[union-attr]
            conventions = True  # the workbook's conventions follow, not the scenario's
            continue
        if conventions and (
            (text_head and str(head.value).startswith("conventions."))  # type: ignore[union-attr]
            or all(c.value is None for col, c in row.items() if col not in (1, LABEL_COL + 1))
        ):
            # a convention's row, or the block's note (in column A in a workbook written
            # before the paths were hidden, in the label column since); anything else is read
            # below
            continue
        where = f"{source}: {INPUTS_SHEET}!A{number}"
        if head is None or head.kind == "f" or not isinstance(head.value, str):
            raise WorkbookError(
                f"{where}: should hold an input's path (such as bond.coupon.rate); got "
                f"{_show(head)}: was a row renamed or moved?"
            )
        text = head.value.strip()
        if not FIELD_PATH.match(text) or len(path_parts(text)) > MAX_PATH_PARTS:
            raise WorkbookError(
                f"{where}: {text[:80]!r} is not an input path (such as bond.coupon.rate or "
                "costs[0].amount): was a row renamed or moved?"
            )
        if text in seen:
            raise WorkbookError(
                f"{where}: {text!r} appears twice (also on row {seen[text]}); each input has "
                "one row"
            )
        seen[text] = number
        used = [c for c, cell in row.items() if c > VALUE_COL and cell.value is not None]
        count = max(used) - VALUE_COL if used else 0
        if count > MAX_LIST:
            raise WorkbookError(
                f"{where}: {text} has {count:,} values (to column "
                f"{get_column_letter(VALUE_COL + count)}); at most {MAX_LIST:,}"
            )
        values = tuple(
            _value(row.get(VALUE_COL + 1 + j), number, VALUE_COL + 1 + j, text, source)
            for j in range(count)
        )
        out.append(InputCell(text, number, values))
    if not out:
        raise WorkbookError(f"{source}: the {INPUTS_SHEET} sheet holds no inputs")
    return out


def _plain(cell: SheetCell | None) -> Any:
    return None if cell is None else cell.value


def _value(cell: SheetCell | None, row: int, column: int, path: str, source: Path) -> Any:
    """A cell's stored value as the scenario wants it; formulas are refused, never evaluated."""
    if cell is None:
        return None
    where = f"{source}: {INPUTS_SHEET}!{get_column_letter(column)}{row} ({path})"
    constant = boolean_constant(str(cell.value)) if cell.kind == "f" else None
    if constant is not None:
        return constant  # =TRUE(): how LibreOffice saves the constant TRUE, not a computation
    if cell.kind == "f":
        raise ScenarioError(
            f"{where}: holds a formula ({str(cell.value)[:60]}); an input must be a value: "
            "bondmodel never evaluates what a cell says"
        )
    value = cell.value
    if isinstance(value, datetime):
        if value.time() != time(0, 0):
            raise ScenarioError(f"{where}: should be a date without a time (got {value})")
        return value.date()
    if isinstance(value, date | bool | int | float | str) or value is None:
        return value
    raise ScenarioError(f"{where}: cannot be read as an input value (got {type(value).__name__})")


def _show(cell: SheetCell | None) -> str:
    if cell is None:
        return "an empty cell"
    if cell.kind == "f":
        return f"a formula ({str(cell.value)[:40]})"
    return repr(cell.value)


# ---------------------------------------------------------------------------
# From paths to the nested scenario
# ---------------------------------------------------------------------------


def assemble(inputs: list[InputCell], source: Path) -> dict[str, Any]:
    """The nested mapping the rows describe, lists shaped as the schema wants them."""
    data: dict[str, Any] = {}
    for item in inputs:
        _put(data, path_parts(item.path), item, source)
    # a second pass, now that every tag (coupon type, ramp type, ...) is known
    for item in inputs:
        parts = path_parts(item.path)
        shape = _shape(parts, data)
        if shape == "scalar":
            if len(item.values) > 1:
                raise ScenarioError(
                    f"{source}: {item.cell(1)} ({item.path}): this input takes one value; "
                    f"the row holds {len(item.values)}"
                )
            value = item.values[0] if item.values else None
        else:
            value = list(item.values) if item.values else None
        if value is None:
            _remove(data, parts)  # an unset optional value: the scenario's default applies
        else:
            _set(data, parts, value)
    result: dict[str, Any] = _compact(data)
    return result


def _put(data: dict[str, Any], parts: list[str | int], item: InputCell, source: Path) -> None:
    """Create the containers along ``parts`` and a placeholder at its end."""
    node: Any = data
    for part, following in zip(parts, [*parts[1:], None], strict=True):
        if following is None:
            if isinstance(part, int):
                _grow(node, part)[part] = None
            else:
                node[part] = None
            return
        container: Any = [] if isinstance(following, int) else {}
        if isinstance(part, int):
            items = _grow(node, part)
            if items[part] is None:
                items[part] = container
            node = items[part]
        else:
            existing = node.get(part)
            if existing is None:
                node[part] = container
            elif isinstance(existing, list) != isinstance(container, list):
                raise ScenarioError(
                    f"{source}: {INPUTS_SHEET}!A{item.row} ({item.path}): clashes with another "
                    f"row's use of {part!r}: was a row renamed?"
                )
            node = node[part]


def _grow(items: list[Any], index: int) -> list[Any]:
    while len(items) <= index:
        items.append(None)
    return items


def _set(data: dict[str, Any], parts: list[str | int], value: Any) -> None:
    node: Any = data
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


def _remove(data: dict[str, Any], parts: list[str | int]) -> None:
    node: Any = data
    for part in parts[:-1]:
        node = node[part]
    last = parts[-1]
    if isinstance(last, str):
        node.pop(last, None)


def _compact(value: Any) -> Any:
    """Drop the holes a gap in the item numbers left (they fail validation as missing items)."""
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_compact(v) if v is not None else {} for v in value]
    return value


def _shape(parts: list[str | int], data: Mapping[str, Any]) -> str:
    """``scalar``, ``list`` or ``row`` (one row of a list of lists) for the input at ``parts``."""
    if isinstance(parts[-1], int) and not isinstance(parts[-2], int):
        leaf_parts = parts[:-1]
        return "row" if _is_list(_annotation(leaf_parts, data)) else "scalar"
    return "list" if _is_list(_annotation(parts, data)) else "scalar"


def _annotation(parts: list[str | int], data: Mapping[str, Any]) -> Any:
    """The type annotation of the field at ``parts`` (None if the schema has no such field)."""
    model: type[BaseModel] | None = Scenario
    node: Any = data
    annotation: Any = None
    for part in parts:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            model = _model_of(_item_type(annotation), node)
            continue
        if model is None or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        node = node.get(part) if isinstance(node, dict) else None
        model = _model_of(annotation, node)
    return annotation


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of an annotation, Annotated and Optional removed."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out += _unwrap(arg)
        return out
    return [annotation]


def _is_list(annotation: Any) -> bool:
    return any(typing.get_origin(a) is tuple for a in _unwrap(annotation))


def _item_type(annotation: Any) -> Any:
    for alternative in _unwrap(annotation):
        if typing.get_origin(alternative) is tuple:
            return typing.get_args(alternative)[0]
    return None


def _model_of(annotation: Any, node: Any) -> type[BaseModel] | None:
    """The model a table at this field validates against (a tagged union picks by ``type``)."""
    models = [a for a in _unwrap(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    if len(models) == 1:
        return models[0]
    tag = node.get("type") if isinstance(node, dict) else None
    for model in models:
        field = model.model_fields.get("type")
        if field is not None and tag in typing.get_args(field.annotation):
            return model
    return None


def _locator(by_path: dict[str, InputCell]) -> Any:
    """Map a validation error's location to the Inputs cell that holds the value."""

    def locate(loc: list[int | str]) -> str | None:
        text = ""
        for part in loc:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        if text in by_path:
            return by_path[text].cell()
        # an item of a list input: bond.repayment.schedule[3]
        match = re.match(r"^(.*)\[(\d+)\]$", text)
        if match and match.group(1) in by_path:
            return by_path[match.group(1)].cell(int(match.group(2)))
        return None

    return locate
