"""The row model shared by the sheets with time across the columns, and by the Checks sheet.

A sheet is declared as a list of :class:`Line` s, one per row: its key, label,
unit (which gives the number format), the formula for the first period column
and for the later ones, the engine's values it caches, and whether the Total
column sums it. :func:`write_lines` writes any such list; :func:`renderer`
turns a row template into the formula of one column.

A template is either text or an :class:`Expr`.

* Text templates: ``{key}`` is this column's cell of row ``key``, ``{key@p}``
  the previous column's, ``{key@row}`` the whole row (absolute). A key may name
  a row of another sheet registered in the layout (``{timeline.years}``), and
  capitalised placeholders (``CF_NET``, ...) stand for fixed references given
  to the renderer. Scalars are defined names (``bd_...``, ``tl_...``, ``in_...``).
* :class:`Expr`: a small expression (references, + - * /, comparisons, ABS,
  SUM, SUMPRODUCT, AND, OR, MAX, MIN, a running total) written once and
  rendered twice: to the Excel formula text by :meth:`Expr.excel` and to its
  value with numpy by :meth:`Expr.value`. A derived row or a check declared
  this way caches exactly what its formula computes from the cached values of
  the cells it refers to, with no second copy of its arithmetic in Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.worksheet import Worksheet

from bondmodel.labels import Prices, Unit
from bondmodel.workbook.layout import FIRST_PERIOD_COL, Layout, span
from bondmodel.workbook.styles import Styles

_TOKEN = re.compile(r"\{([\w.]+)(?:@(p|row))?\}")

# ---------------------------------------------------------------------------
# Expressions: one definition, rendered to Excel and evaluated with numpy
# ---------------------------------------------------------------------------

#: Binding strength of each operator (Excel's order: comparison < + - < * / < negation).
_PREC = {"=": 1, "<>": 1, "<": 1, "<=": 1, ">": 1, ">=": 1, "+": 3, "-": 3, "*": 4, "/": 4}
_ATOM = 9

_NUMPY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "=": np.equal,
    "<>": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


@dataclass
class Env:
    """What an expression refers to: each key's Excel text and its value.

    ``cell(key, where)`` gives the reference text (``where`` is ``""`` for this
    column's cell or a single cell, ``"p"`` for the previous column's, ``"row"``
    for the whole row); ``values[key]`` the value (a row's array, or a scalar).
    ``own`` is the row being written and ``first`` whether the column is the
    first period's, for running totals.
    """

    cell: Callable[[str, str], str]
    values: Mapping[str, Any]
    own: str = ""
    first: bool = True


class Expr:
    """An expression over rows, cells and names; build with + - * / and the helpers below."""

    prec = _ATOM

    def excel(self, env: Env) -> str:
        """The Excel text (no leading ``=``)."""
        raise NotImplementedError

    def value(self, env: Env) -> Any:
        """The value with numpy, from ``env.values``."""
        raise NotImplementedError

    def formula(self, env: Env) -> str:
        """The Excel formula, with its ``=``."""
        return "=" + self.excel(env)

    def __add__(self, other: Expr | float) -> Expr:
        return Bin("+", self, lift(other))

    def __radd__(self, other: float) -> Expr:
        return Bin("+", lift(other), self)

    def __sub__(self, other: Expr | float) -> Expr:
        return Bin("-", self, lift(other))

    def __rsub__(self, other: float) -> Expr:
        return Bin("-", lift(other), self)

    def __mul__(self, other: Expr | float) -> Expr:
        return Bin("*", self, lift(other))

    def __rmul__(self, other: float) -> Expr:
        return Bin("*", lift(other), self)

    def __truediv__(self, other: Expr | float) -> Expr:
        return Bin("/", self, lift(other))

    def __neg__(self) -> Expr:
        return Neg(self)

    def le(self, other: Expr | float) -> Expr:
        """``self <= other``."""
        return Bin("<=", self, lift(other))

    def eq(self, other: Expr | float | str) -> Expr:
        """``self = other``."""
        return Bin("=", self, lift(other))

    def ne(self, other: Expr | float | str) -> Expr:
        """``self <> other``."""
        return Bin("<>", self, lift(other))


def lift(x: Expr | float | str) -> Expr:
    """A constant as an expression (an expression stays itself)."""
    if isinstance(x, Expr):
        return x
    if isinstance(x, str):
        return Text(x)
    return Num(float(x))


@dataclass(frozen=True, eq=False)
class Ref(Expr):
    """A reference: a row (this column's cell, ``where="p"`` the previous, ``"row"`` all of
    it), a registered cell or a defined name."""

    key: str
    where: str = ""

    def excel(self, env: Env) -> str:
        return env.cell(self.key, self.where)

    def value(self, env: Env) -> Any:
        if self.where == "p":
            raise ValueError(f"{self.key}@p has no value of its own: use running()")
        return env.values[self.key]


@dataclass(frozen=True, eq=False)
class Num(Expr):
    """A number, written as Excel writes it (1, not 1.0)."""

    number: float

    def excel(self, env: Env) -> str:
        return f"{self.number:.15g}"

    def value(self, env: Env) -> Any:
        return self.number


@dataclass(frozen=True, eq=False)
class Text(Expr):
    """A text constant."""

    text: str

    def excel(self, env: Env) -> str:
        return '"' + self.text.replace('"', '""') + '"'

    def value(self, env: Env) -> Any:
        return self.text


@dataclass(frozen=True, eq=False)
class Bin(Expr):
    """A binary operator; parentheses only where Excel's precedence needs them."""

    op: str
    left: Expr
    right: Expr

    @property
    def prec(self) -> int:  # type: ignore[override]
        return _PREC[self.op]

    def excel(self, env: Env) -> str:
        p = self.prec
        left = self.left.excel(env)
        right = self.right.excel(env)
        if self.left.prec < p:
            left = f"({left})"
        if self.right.prec < p or (self.right.prec == p and self.op in ("-", "/", *_CMP)):
            right = f"({right})"
        return f"{left}{self.op}{right}"

    def value(self, env: Env) -> Any:
        left, right = self.left.value(env), self.right.value(env)
        if isinstance(left, str) or isinstance(right, str):
            same = isinstance(left, str) and isinstance(right, str) and left == right
            return same if self.op == "=" else not same
        with np.errstate(divide="ignore", invalid="ignore"):
            return _NUMPY_OPS[self.op](left, right)


_CMP = ("=", "<>", "<", "<=", ">", ">=")


@dataclass(frozen=True, eq=False)
class Neg(Expr):
    """Unary minus (``--x`` turns TRUE/FALSE into 1/0)."""

    operand: Expr
    prec = 6

    def excel(self, env: Env) -> str:
        inner = self.operand.excel(env)
        return "-" + (f"({inner})" if self.operand.prec < self.prec else inner)

    def value(self, env: Env) -> Any:
        return -np.asarray(self.operand.value(env), dtype=float)


@dataclass(frozen=True, eq=False)
class Group(Expr):
    """Explicit parentheses, kept where a formula has always been written with them."""

    inner: Expr

    def excel(self, env: Env) -> str:
        return f"({self.inner.excel(env)})"

    def value(self, env: Env) -> Any:
        return self.inner.value(env)


def _all(*args: Any) -> bool:
    return all(bool(np.all(a)) for a in args)


def _any(*args: Any) -> bool:
    return any(bool(np.any(a)) for a in args)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "ABS": np.abs,
    "SUM": lambda *a: float(sum(np.sum(x) for x in a)),
    "SUMPRODUCT": lambda *a: float(
        np.sum(np.prod([np.asarray(x, dtype=float) for x in a], axis=0))
    ),
    "AND": _all,
    "OR": _any,
    "MAX": lambda *a: float(max(np.max(x) for x in a)),
    "MIN": lambda *a: float(min(np.min(x) for x in a)),
}


@dataclass(frozen=True, eq=False)
class Fn(Expr):
    """A worksheet function of :data:`_FUNCTIONS`."""

    name: str
    args: tuple[Expr, ...]

    def excel(self, env: Env) -> str:
        return f"{self.name}({','.join(a.excel(env) for a in self.args)})"

    def value(self, env: Env) -> Any:
        return _FUNCTIONS[self.name](*(a.value(env) for a in self.args))


@dataclass(frozen=True, eq=False)
class Running(Expr):
    """A running total of a row: the source in the first column, then the row's own
    previous cell plus the source."""

    source: Expr

    @property
    def prec(self) -> int:  # type: ignore[override]
        return _ATOM

    def excel(self, env: Env) -> str:
        if env.first:
            return self.source.excel(env)
        return f"{env.cell(env.own, 'p')}+{self.source.excel(env)}"

    def value(self, env: Env) -> Any:
        return np.cumsum(np.asarray(self.source.value(env), dtype=float))


def fn(name: str, *args: Expr | float | str) -> Expr:
    """``NAME(args)``, for a function of :data:`_FUNCTIONS`."""
    if name not in _FUNCTIONS:
        raise ValueError(f"no numpy rendering for the worksheet function {name}")
    return Fn(name, tuple(lift(a) for a in args))


def total(*exprs: Expr) -> Expr:
    """``a+b+...`` (``0`` for none)."""
    if not exprs:
        return Num(0.0)
    out = exprs[0]
    for e in exprs[1:]:
        out = out + e
    return out


# ---------------------------------------------------------------------------
# Lines: one row of a sheet
# ---------------------------------------------------------------------------

Template = str | Expr | float | None


@dataclass(frozen=True)
class Line:
    """One row: its key, label, unit, the formula for later columns and for the first.

    ``first`` None (the default) leaves the first column blank (nothing happens
    at issue); a number writes that constant (an initial condition, such as
    index = 1). ``rest`` None writes the cached values as numbers (a row that
    is data, not a formula); ``""`` makes the line a group heading.
    ``values`` are the engine's values the cells cache (an :class:`Expr` row
    caches its own numpy value instead); ``total`` puts ``=SUM`` of the row in
    the Total column; ``bold`` marks a headline row.
    """

    key: str
    label: str
    unit: Unit
    rest: Template
    first: Template = None
    values: Any = None
    total: bool = False
    bold: bool = False
    prices: Prices = "nominal"

    @property
    def heading(self) -> bool:
        """A group heading, not a row of numbers."""
        return self.rest == ""


def same(key: str, label: str, unit: Unit, template: str | Expr, **kw: Any) -> Line:
    """A line with one formula in every column, the first included."""
    return Line(key, label, unit, template, template, **kw)


@dataclass
class Grid:
    """Where a sheet's lines are: the row of each key (its own, or ``(sheet, row)`` of
    another sheet's), the period columns, and fixed references for capitalised names."""

    rows: dict[str, int | tuple[str, int]]
    n: int
    outside: Mapping[str, str] = field(default_factory=dict)
    first_col: int = FIRST_PERIOD_COL

    @property
    def last_col(self) -> int:
        """The last period column."""
        return self.first_col + self.n - 1

    def cell(self, key: str, where: str, col: int) -> str:
        """The reference text of row ``key`` at column ``col`` (``where``: "", "p", "row")."""
        if key not in self.rows and "." not in key:
            return key  # a defined name
        place = self.rows[key]
        sheet, r = ("", place) if isinstance(place, int) else (place[0] + "!", place[1])
        if where == "p":
            return sheet + str(xl_rowcol_to_cell(r, col - 1))
        if where == "row":
            return (
                f"{sheet}{xl_rowcol_to_cell(r, self.first_col, True, True)}:"
                f"{xl_rowcol_to_cell(r, self.last_col, True, True)}"
            )
        return sheet + str(xl_rowcol_to_cell(r, col))

    def render(self, template: str, col: int) -> str:
        """Turn a text template into the formula for column ``col``."""
        text = _TOKEN.sub(lambda m: self.cell(m.group(1), m.group(2) or "", col), template)
        if not self.outside:
            return text
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, self.outside)) + r")\b")
        return pattern.sub(lambda m: self.outside[m.group(1)], text)

    def env(self, values: Mapping[str, Any], own: str = "", col: int | None = None) -> Env:
        """The environment of an :class:`Expr` in column ``col`` of row ``own``."""
        at = self.first_col if col is None else col
        return Env(lambda key, where: self.cell(key, where, at), values, own, at == self.first_col)


def renderer(rows: dict[str, int], n: int, outside: Mapping[str, str]) -> Callable[[str, int], str]:
    """Turn a row template into a formula for column ``col`` (see :class:`Grid`)."""
    grid = Grid(dict(rows), n, outside)
    return grid.render


def line_values(line: Line, grid: Grid, values: Mapping[str, Any]) -> Any:
    """What a line's cells cache: its expression's numpy value, else its engine values."""
    if isinstance(line.rest, Expr):
        out = np.broadcast_to(
            np.asarray(line.rest.value(grid.env(values, line.key)), dtype=float), (grid.n,)
        )
        return out
    return line.values


def write_lines(
    ws: Worksheet,
    styles: Styles,
    lines: Sequence[Line],
    grid: Grid,
    layout: Layout,
    sheet: str,
    values: dict[str, Any] | None = None,
    units: bool = True,
) -> dict[str, Any]:
    """Write each line's label, unit, period cells (formula and cached value) and total.

    ``values`` holds the values of rows an :class:`Expr` refers to (other sheets'
    rows, by their layout key); each line's own cached values are added to it
    as it is written, so a later line's expression can use an earlier one's.
    Registers each row in ``layout`` as ``{sheet_key}.{key}`` (``sheet_key``
    is the sheet's name in lower case). ``units`` False writes neither the unit
    column nor a label format (the Timeline sheet). Returns the values written, by key.
    """
    env_values: dict[str, Any] = {} if values is None else values
    prefix = sheet.lower()
    for line in lines:
        r = grid.rows[line.key]
        assert isinstance(r, int)
        if line.heading:
            ws.write_string(r, 0, line.label, styles.header)
            for col in range(1, grid.last_col + 1):
                ws.write_blank(r, col, None, styles.header)
            continue
        if units:
            ws.write_string(r, 0, line.label, styles.bold if line.bold else styles.label)
            ws.write_string(r, 1, styles.unit_words(line.unit, line.prices), styles.note)
        else:
            ws.write_string(r, 0, line.label)
        fmt = styles.unit(line.unit)
        vals = line_values(line, grid, env_values)
        env_values[line.key] = vals
        for j in range(grid.n):
            col = grid.first_col + j
            template = line.rest if j > 0 else line.first
            if template is None and line.rest is None:
                ws.write_number(r, col, float(vals[j]), fmt)
                continue
            if template is None:
                continue
            if isinstance(template, float):
                ws.write_number(r, col, template, fmt)
                continue
            if isinstance(template, Expr):
                formula = template.formula(grid.env(env_values, line.key, col))
            elif not template.startswith("="):
                ws.write_string(r, col, template, styles.note)
                continue
            else:
                formula = grid.render(template, col)
            value = float(vals[j])
            if np.isfinite(value):
                ws.write_formula(r, col, formula, fmt, value)
            else:
                ws.write_formula(r, col, formula, styles.note, "n/a")
        if line.total:
            first = xl_rowcol_to_cell(r, grid.first_col)
            end = xl_rowcol_to_cell(r, grid.last_col)
            ws.write_formula(r, 2, f"=SUM({first}:{end})", fmt, float(np.nansum(vals)))
        layout.rows[f"{prefix}.{line.key}"] = span(sheet, r, grid.first_col, grid.last_col)
        layout.row_numbers[f"{prefix}.{line.key}"] = r
        layout.labels[f"{prefix}.{line.key}"] = (line.label, line.unit)
    return env_values
