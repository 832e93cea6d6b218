"""Numbers and tables as a person reads them on a terminal.

One formatter per unit of :mod:`bondmodel.labels` (the workbook's number formats, in
text): money as ``£1,234,567`` (negatives in brackets, ``(£406,197)``, as accounts and
the workbook show them), rates and probabilities as ``5.25%``, ratios as ``2.24x``,
years to one decimal (a whole number of years as ``8 years``), counts with thousands
separators, and ``n/a`` where a value is undefined (no IRR, no payback). :func:`text_table` lays
rows out in columns, wrapping long headings, and splits a table wider than the
terminal into several, each repeating the leading (key) columns.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import Any

from bondmodel.labels import Unit, in_sentence

__all__ = ["currency_symbol", "format_value", "in_sentence", "text_table"]

#: Widest a heading runs before it wraps onto another line.
HEADING_WIDTH = 22
#: Width a table is fitted to when the output is not a terminal.
DEFAULT_WIDTH = 120


def currency_symbol(currency: str) -> str:
    """``£`` for GBP, else the ISO code and a space (as the workbook's formats)."""
    return "£" if currency == "GBP" else f"{currency} "


def format_value(value: Any, unit: Unit, currency: str = "GBP") -> str:
    """``value`` in its unit's display form; text and true/false as they are."""
    if isinstance(value, str | bool):
        return str(value)
    if value is None:
        return "n/a"
    v = float(value)
    if not math.isfinite(v):
        return "n/a"
    if unit == "money":
        text = f"{currency_symbol(currency)}{abs(v):,.0f}"
        return f"({text})" if round(v) < 0 else text
    if unit == "rate":
        return f"{v:.2%}"
    if unit == "ratio":
        return f"{v:,.2f}x"
    if unit == "years":
        return f"{v:.0f} years" if v == round(v) else f"{v:.1f} years"
    if unit == "count":
        return f"{v:,.0f}" if v == round(v) else f"{v:,.2f}"
    if unit in ("index", "factor"):
        return f"{v:.4f}"
    return f"{v:.10g}"


def text_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    keep: int = 1,
    width: int = DEFAULT_WIDTH,
) -> str:
    """Rows of text in aligned columns under wrapped headings.

    The first ``keep`` columns (the row's key: a measure, a structure's field values)
    are left-aligned and repeated in each part when the table is wider than ``width``;
    the other columns are right-aligned, as numbers are.
    """
    wrapped = [textwrap.wrap(h, HEADING_WIDTH) or [""] for h in headers]
    widths = [
        max([len(line) for line in wrapped[j]] + [len(row[j]) for row in rows])
        for j in range(len(headers))
    ]
    key = list(range(min(keep, len(headers))))
    key_width = sum(widths[j] + 2 for j in key)
    parts: list[list[int]] = []
    for j in range(len(key), len(headers)):
        if parts and key_width + sum(widths[i] + 2 for i in parts[-1]) + widths[j] <= width:
            parts[-1].append(j)
        else:
            parts.append([j])
    blocks = []
    for part in parts or [[]]:
        columns = key + part
        depth = max(len(wrapped[j]) for j in columns)
        lines = []
        for d in range(depth):
            cells = []
            for j in columns:
                # headings sit at the bottom of their block, next to the rule
                pad = depth - len(wrapped[j])
                text = wrapped[j][d - pad] if d >= pad else ""
                cells.append(text.ljust(widths[j]) if j in key else text.rjust(widths[j]))
            lines.append("  ".join(cells).rstrip())
        lines.append("  ".join("-" * widths[j] for j in columns))
        for row in rows:
            lines.append(
                "  ".join(
                    row[j].ljust(widths[j]) if j in key else row[j].rjust(widths[j])
                    for j in columns
                ).rstrip()
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
