"""Where each sheet put what: cell and range references for formulas and charts elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field

from xlsxwriter.utility import xl_rowcol_to_cell

#: First column of period values (D) on every sheet with time across the columns,
#: so that a formula's column on one such sheet is the same period on another.
FIRST_PERIOD_COL = 3


def ref(sheet: str, row: int, col: int) -> str:
    """An absolute reference to one cell on ``sheet``, e.g. ``'Bond'!$C$5``."""
    return f"'{sheet}'!{xl_rowcol_to_cell(row, col, True, True)}"


def span(sheet: str, row: int, first_col: int, last_col: int) -> str:
    """An absolute reference to part of one row on ``sheet``."""
    return (
        f"'{sheet}'!{xl_rowcol_to_cell(row, first_col, True, True)}:"
        f"{xl_rowcol_to_cell(row, last_col, True, True)}"
    )


def column_span(sheet: str, first_row: int, last_row: int, col: int) -> str:
    """An absolute reference to part of one column on ``sheet``."""
    return (
        f"'{sheet}'!{xl_rowcol_to_cell(first_row, col, True, True)}:"
        f"{xl_rowcol_to_cell(last_row, col, True, True)}"
    )


@dataclass
class Layout:
    """References registered by the sheet writers, by name.

    ``cells`` holds single cells (``"bond.proceeds"``), ``rows`` whole line
    items across the periods (``"bond.interest_paid"``), ``columns`` a table's
    column (``"fan.net_savings.P50"``).
    """

    cells: dict[str, str] = field(default_factory=dict)
    rows: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    #: 0-based worksheet row of a line item whose columns line up with the periods
    row_numbers: dict[str, int] = field(default_factory=dict)
    #: the label and unit of each line item in ``rows`` written by ``rows.write_lines``
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)
