"""The pool workbook: ``bondmodel pool PORTFOLIO.toml -o pool.xlsx``.

Sheets, left to right:

* **Cover**: what the pool is, the run, the key figures and what each sheet holds.
* **Inputs**: the pool's terms the Waterfall sheet reads (tranche shares and coupons, the
  liquidity reserve, the guarantee's amount or cap): blue cells are inputs, and an edit
  recalculates the waterfall; grey cells are fixed by the members' programmes.
* **Members**: each member's loan, guarantee share, stand-alone loss figures, Euler
  contribution to the pool's expected shortfall and guarantee payments (simulation values),
  and its base case, from which the guarantee's capacity is a live formula.
* **Waterfall**: the base case's tranche waterfall by payment period, in live formulas
  (docs/methodology.md, "Pool waterfall"); the members' payments and write-offs are the
  engine's base-case values, every other cell a formula caching the engine's value.
* **Loss**: the simulated loss distribution (the fixed-edge histogram and a chart), VaR and
  ES, each tranche's expected loss, probability of loss, WAL and IRR percentiles, the
  diversification benefit: simulation values, written as values.
* **Audit**: the run manifest (engine version, command, seed, paths, portfolio SHA-256) and
  the resolved portfolio (every member inline) as TOML lines, from which `bondmodel verify`
  reruns the pool (:mod:`bondmodel.pool.verify`).

The file is written atomically (:func:`bondmodel.io.atomic_write`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import tomli_w
import xlsxwriter
from xlsxwriter.utility import xl_range, xl_range_abs, xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel import __version__
from bondmodel.io import XLSX_OPTIONS, atomic_write
from bondmodel.labels import Unit
from bondmodel.pool.base import PoolBase
from bondmodel.pool.loader import Portfolio
from bondmodel.pool.results import PoolResults
from bondmodel.pool.waterfall import Structure
from bondmodel.scenario.export import toml_data
from bondmodel.types import FloatArray
from bondmodel.workbook.printing import print_ready
from bondmodel.workbook.styles import Styles, print_across, write_value

#: The Waterfall sheet's columns: labels, the total, then one per payment period.
LABEL_COL: Final = 0
TOTAL_COL: Final = 1
FIRST_PERIOD: Final = 2
#: Rows above the Waterfall sheet's first line: title, note, payment, year.
WATERFALL_HEAD: Final = 4

#: Most payment periods the Waterfall sheet prints across one page (more: more pages wide).
PERIODS_PER_PAGE: Final = 13


def waterfall_pages_wide(n_legal: int) -> int:
    """Pages the Waterfall sheet prints across: one per :data:`PERIODS_PER_PAGE` payments."""
    return max(1, math.ceil(n_legal / PERIODS_PER_PAGE))


#: Sheet names, in order.
SHEETS: Final = ("Cover", "Inputs", "Members", "Waterfall", "Loss", "Audit")


@dataclass
class _Names:
    """The defined names the Waterfall sheet's formulas read, and their cells."""

    cells: dict[str, str] = field(default_factory=dict)

    def define(self, wb: Workbook, name: str, sheet: str, row: int, col: int) -> str:
        cell = xl_rowcol_to_cell(row, col, row_abs=True, col_abs=True)
        wb.define_name(name, f"='{sheet}'!{cell}")
        self.cells[name] = f"'{sheet}'!{cell}"
        return name


def portfolio_sha256(path: str | Path) -> str:
    """The SHA-256 of the portfolio file's bytes, as the Audit sheet records it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_pool_workbook(
    path: str | Path, portfolio: Portfolio, results: PoolResults, command: str | None = None
) -> Path:
    """Write the pool workbook for a run's ``results`` to ``path``, atomically (no
    half-written file on error): the base case is computed here, and the Audit sheet records
    ``command`` and the SHA-256 of the portfolio file (``portfolio.source``, when a file).

    ``bondmodel pool PORTFOLIO.toml -o pool.xlsx`` calls this.
    """
    from bondmodel.pool.base import pool_base_case
    from bondmodel.pool.model import PoolModel
    from bondmodel.pool.simulate import structure_of

    model = PoolModel(portfolio)
    structure = structure_of(model)
    source = Path(portfolio.source)
    sha256 = portfolio_sha256(source) if source.is_file() else None
    base = pool_base_case(model, structure)
    return write_parts(path, portfolio, structure, base, results, command, sha256)


def write_parts(
    path: str | Path,
    portfolio: Portfolio,
    structure: Structure,
    base: PoolBase,
    results: PoolResults,
    command: str | None = None,
    sha256: str | None = None,
    stamp: datetime | None = None,
) -> Path:
    """:func:`write_pool_workbook` given the pool's contract and base case; ``sha256`` is
    recorded as the portfolio file's, ``stamp`` as the time of the run (default: now;
    ``verify`` gives the original's)."""
    when = stamp or datetime.now(UTC)
    return atomic_write(
        path,
        lambda tmp: _write(tmp, portfolio, structure, base, results, command, sha256, when),
    )


def _write(
    path: Path,
    portfolio: Portfolio,
    structure: Structure,
    base: PoolBase,
    results: PoolResults,
    command: str | None,
    sha256: str | None,
    stamp: datetime,
) -> None:
    wb = xlsxwriter.Workbook(str(path), XLSX_OPTIONS)
    styles = Styles(wb, portfolio.scenarios[0].meta.currency)
    sheets = {name: wb.add_worksheet(name) for name in SHEETS}
    names = _Names()
    _inputs_sheet(wb, sheets["Inputs"], styles, names, portfolio, structure, results)
    _members_sheet(wb, sheets["Members"], styles, names, portfolio, structure, base, results)
    _waterfall_sheet(wb, sheets["Waterfall"], styles, structure, base)
    _loss_sheet(wb, sheets["Loss"], styles, results)
    # the manifest's JSON is for a program, not the printed page
    json_row = _audit_sheet(sheets["Audit"], styles, portfolio, results, stamp, command, sha256)
    _cover_sheet(sheets["Cover"], styles, portfolio, structure, results, stamp)
    # the Waterfall prints at most PERIODS_PER_PAGE payments a page, its labels repeated
    n_legal = len(structure.remaining) - 1
    wide = {"Waterfall": waterfall_pages_wide(n_legal)}
    print_ready(wb, portfolio.spec.name, stamp, {"Audit": json_row - 2}, {}, wide)
    wb.close()


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------

#: Rows of the Inputs sheet (zero-based).
_INPUT_ROWS: Final = {
    "principal": 4,
    "payments": 5,
    "reserve": 6,
    "guarantee_type": 7,
    "guarantee_amount": 8,
    "cap": 9,
    "capacity": 10,
}
#: The first tranche's row on Inputs (zero-based); its columns: name, share, size, coupon.
TRANCHE_ROW: Final = 14
SHARE_COL: Final = 1
SIZE_COL: Final = 2
COUPON_COL: Final = 3

_GUARANTEE_WORDS: Final = {
    "none": "none",
    "first_loss": "a guarantor's first-loss amount",
    "joint_and_several": "joint and several: members pay for one another, capped",
}


def _inputs_sheet(
    wb: Workbook,
    ws: Worksheet,
    styles: Styles,
    names: _Names,
    portfolio: Portfolio,
    structure: Structure,
    results: PoolResults,
) -> None:
    ws.set_column(0, 0, 58)
    ws.set_column(1, 3, 16)
    whole = wb.add_format({**styles.structural_style, "num_format": "0"})
    ws.write(0, 0, "Pool inputs", styles.title)
    ws.merge_range(
        1,
        0,
        1,
        3,
        "Blue cells are inputs: edit them and the Waterfall sheet recalculates. Grey cells are "
        "fixed by the members' programmes: change them in the portfolio file and rerun.",
        styles.note_wrap,
    )
    ws.merge_range(
        2,
        0,
        2,
        3,
        "Simulation results (Members and Loss sheets) are values from the run: an edit here "
        "does not change them.",
        styles.note_wrap,
    )
    ws.set_row(1, 30)
    ws.write(3, 0, "The pool", styles.header)
    ws.write(3, 1, "Value", styles.header)
    g = structure.guarantee
    r = _INPUT_ROWS
    rows: list[tuple[str, str, str, float | str, str]] = [
        ("principal", "Pool principal (the members' loans added), £", "structural",
         float(results.settings["principal"]), "pl_principal"),
        ("payments", "Payments a year", "structural", float(structure.g), "pl_payments"),
        ("reserve", "Liquidity reserve funded at close, £", "input", structure.reserve,
         "pl_reserve"),
    ]  # fmt: skip
    for key, label, kind, value, name in rows:
        ws.write(r[key], 0, label)
        assert isinstance(value, float)
        fmt = styles.input_value(kind, "£", value) if label.endswith("£") else whole
        ws.write_number(r[key], 1, value, fmt)
        names.define(wb, name, ws.name, r[key], 1)
    ws.write(r["guarantee_type"], 0, "Guarantee")
    ws.merge_range(
        r["guarantee_type"], 1, r["guarantee_type"], 3, _GUARANTEE_WORDS[g.type], styles.structural
    )
    if g.type == "first_loss":
        assert g.amount is not None
        ws.write(r["guarantee_amount"], 0, "Guarantor's first-loss amount, £ in all")
        amount = float(g.amount)
        ws.write_number(r["guarantee_amount"], 1, amount, styles.input_value("input", "£", amount))
        names.define(wb, "pl_guarantee_amount", ws.name, r["guarantee_amount"], 1)
    if g.type == "joint_and_several":
        assert g.cap is not None
        ws.write(r["cap"], 0, "Cap on each member's guarantee payments, share of its loan")
        ws.write_number(r["cap"], 1, g.cap, styles.input_value("input", "share", g.cap))
        names.define(wb, "pl_cap", ws.name, r["cap"], 1)
    ws.write(r["capacity"], 0, "Most the guarantee can pay in the base case, £")
    names.define(wb, "pl_capacity", ws.name, r["capacity"], 1)
    # the capacity's formula needs the Members sheet's rows: written by _members_sheet
    ws.write(TRANCHE_ROW - 2, 0, "Tranches, most senior first", styles.bold)
    for col, text in enumerate(("Tranche", "Share of the principal", "Size, £", "Coupon, a year")):
        ws.write(TRANCHE_ROW - 1, col, text, styles.header_wrap)
    ws.set_row(TRANCHE_ROW - 1, 30)
    for k, name in enumerate(structure.names):
        row = TRANCHE_ROW + k
        share = _tranche_share(portfolio, k)
        ws.write_string(row, 0, _tranche_label(name), styles.structural)
        ws.write_number(row, SHARE_COL, share, styles.input_value("input", "share", share))
        coupon = float(structure.coupons[k])
        ws.write_number(row, COUPON_COL, coupon, styles.input_value("input", "rate", coupon))
        ws.write_formula(
            row,
            SIZE_COL,
            f"={xl_rowcol_to_cell(row, SHARE_COL)}*pl_principal",
            styles.unit("money"),
            float(structure.sizes[k]),
        )
        names.define(wb, f"pl_share_{k + 1}", ws.name, row, SHARE_COL)
        names.define(wb, f"pl_coupon_{k + 1}", ws.name, row, COUPON_COL)
        names.define(wb, f"pl_size_{k + 1}", ws.name, row, SIZE_COL)
    last = TRANCHE_ROW + len(structure.names)
    shares = xl_range_abs(TRANCHE_ROW, SHARE_COL, last - 1, SHARE_COL)
    ws.write(last, 0, "All tranches", styles.bold)
    total = float(math.fsum(_tranche_share(portfolio, k) for k in range(len(structure.names))))
    ws.write_formula(last, SHARE_COL, f"=SUM({shares})", styles.unit("rate"), total)
    ws.write(last + 1, 0, "Check: the tranches' shares add up to 100%")
    ok = abs(total - 1.0) <= 1e-9
    rule = f"ABS(SUM({shares})-1)<=1E-9"
    good, bad = "yes", "NO: make the shares add up to 100%"
    ws.write_formula(
        last + 1, SHARE_COL, f'=IF({rule},"{good}","{bad}")', styles.bold, good if ok else bad
    )
    # red when the shares do not add up (a rule on the text result: LibreOffice's PDF
    # export fails on a conditional format over a true/false result)
    ws.conditional_format(
        last + 1,
        SHARE_COL,
        last + 1,
        SHARE_COL,
        {"type": "formula", "criteria": f"=NOT({rule})", "format": styles.bad_dynamic},
    )
    ws.freeze_panes(4, 0)


def _tranche_share(portfolio: Portfolio, k: int) -> float:
    tranches = portfolio.spec.tranches
    return float(tranches[k].share) if tranches else 1.0


def _tranche_label(name: str) -> str:
    """A tranche's name as a label: the whole bond when there are no tranches."""
    return "The pool's bond" if name == "bond" else name[:1].upper() + name[1:]


# ---------------------------------------------------------------------------
# Members
# ---------------------------------------------------------------------------

_MEMBER_COLUMNS: Final[tuple[tuple[str, int, Unit], ...]] = (
    ("Member", 34, "text"),
    ("Stream key", 26, "text"),
    ("Loan, £", 15, "money"),
    ("Guarantee share", 11, "rate"),
    ("Expected loss alone, £", 14, "money"),
    ("Probability of a loss", 11, "rate"),
    ("P95 loss alone, £", 14, "money"),
    ("Contribution to the pool's ES95, £", 15, "money"),
    ("Share of the pool's ES95", 11, "rate"),
    ("Expected guarantee payments, £", 14, "money"),
    ("Probability it pays a call", 11, "rate"),
    ("Base case: written off, £", 14, "money"),
    ("Base case: share of a call", 11, "rate"),
    ("Base case: most a call can be before its cap, £", 16, "money"),
)
_MEMBER_HEAD: Final = 4


def _members_sheet(
    wb: Workbook,
    ws: Worksheet,
    styles: Styles,
    names: _Names,
    portfolio: Portfolio,
    structure: Structure,
    base: PoolBase,
    results: PoolResults,
) -> None:
    s = results.settings
    ws.write(0, 0, "Members", styles.title)
    ws.write(
        1,
        0,
        f"Simulation values ({s['paths']:,} paths, seed {s['seed']}): values, not formulas; "
        "rerun bondmodel pool to change them. The last three columns are the base case, "
        "whose formulas give the guarantee's capacity on the Inputs sheet.",
        styles.note,
    )
    ws.write(
        2,
        0,
        "Each member's stand-alone loss is what its own loan writes off; its contribution "
        "to the pool's ES95 is its mean loss on the pool's worst 5% of paths (Euler "
        "allocation), and the contributions add up to the pool's ES95.",
        styles.note,
    )
    for col, (text, width, _) in enumerate(_MEMBER_COLUMNS):
        ws.set_column(col, col, width)
        ws.write(_MEMBER_HEAD - 1, col, text, styles.header_wrap)
    ws.set_row(_MEMBER_HEAD - 1, 48)
    m = results.members
    n = len(m)
    first, last = _MEMBER_HEAD, _MEMBER_HEAD + n - 1
    loss_col, share_col, call_col, room_col = 11, 3, 12, 13
    losses = xl_range_abs(first, loss_col, last, loss_col)
    shares = xl_range_abs(first, share_col, last, share_col)
    payers = f'SUMIF({losses},"<=0",{shares})'
    g = structure.guarantee
    for i in range(n):
        row = first + i
        ws.write_string(row, 0, str(m["member"].iloc[i]))
        ws.write_string(row, 1, str(m["key"].iloc[i]))
        ws.write_number(row, 2, float(m["loan"].iloc[i]), styles.unit("money"))
        ws.write_number(
            row, 3, float(structure.shares[i]), styles.input_value("structural", "share", 0.5)
        )
        for col, key in enumerate(
            ("expected_loss", "probability_of_loss", "p95_loss", "es_contribution", "es_share",
             "guarantee_paid_in", "probability_called"),
            start=4,
        ):  # fmt: skip
            write_value(ws, row, col, float(m[key].iloc[i]), _MEMBER_COLUMNS[col][2], styles)
        loss = float(base.member_loss[i])
        ws.write_number(row, loss_col, loss, styles.unit("money"))
        if g.type == "joint_and_several":
            payer_total = float(np.where(base.member_loss > 0.0, 0.0, structure.shares).sum())
            share = (
                float(structure.shares[i]) / payer_total if loss <= 0 and payer_total > 0 else 0.0
            )
            loss_ref, s_ref = xl_rowcol_to_cell(row, loss_col), xl_rowcol_to_cell(row, share_col)
            ws.write_formula(
                row, call_col,
                f"=IF(AND({loss_ref}<=0,{payers}>0),{s_ref}/{payers},0)",
                styles.unit("rate"), share,
            )  # fmt: skip
            assert g.cap is not None
            room: float | str = g.cap * float(structure.loans[i]) / share if share > 0 else ""
            c_ref, loan_ref = xl_rowcol_to_cell(row, call_col), xl_rowcol_to_cell(row, 2)
            ws.write_formula(
                row, room_col, f'=IF({c_ref}>0,pl_cap*{loan_ref}/{c_ref},"")',
                styles.unit("money"), room,
            )  # fmt: skip
    ws.write(last + 1, 0, "The pool", styles.bold)
    for col, key in ((2, "loan"), (4, "expected_loss"), (7, "es_contribution"),
                     (9, "guarantee_paid_in")):  # fmt: skip
        rng = xl_range_abs(first, col, last, col)
        ws.write_formula(last + 1, col, f"=SUM({rng})", styles.total_money, float(m[key].sum()))
    ws.write_formula(last + 1, loss_col, f"=SUM({losses})", styles.total_money,
                     float(base.member_loss.sum()))  # fmt: skip
    ws.freeze_panes(_MEMBER_HEAD, 1)
    print_across(ws, _MEMBER_HEAD, 1)
    # the guarantee's capacity on the Inputs sheet, from these rows
    inputs = wb.get_worksheet_by_name("Inputs")
    assert inputs is not None
    capacity_row = _INPUT_ROWS["capacity"]
    capacity = float(_base_capacity(structure, base))
    money = styles.unit("money")
    if g.type == "joint_and_several":
        rooms = f"Members!{xl_range_abs(first, room_col, last, room_col)}"
        formula = f"=IF(COUNT({rooms})=0,0,MIN({rooms}))"
        inputs.write_formula(capacity_row, 1, formula, money, capacity)
    elif g.type == "first_loss":
        inputs.write_formula(capacity_row, 1, "=pl_guarantee_amount", money, capacity)
    else:
        inputs.write_number(capacity_row, 1, 0.0, styles.input_value("structural", "£", 0.0))


def _base_capacity(structure: Structure, base: PoolBase) -> float:
    from bondmodel.pool.waterfall import guarantee_capacity

    return float(guarantee_capacity(structure, base.member_loss[None, :])[0])


# ---------------------------------------------------------------------------
# Waterfall
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """One row of the Waterfall sheet.

    ``formula(t)`` gives the Excel formula of payment period ``t`` (1-based), or None for a
    row of the engine's values; ``values`` the engine's value per period (index t);
    ``total`` whether the Total column adds the row up.
    """

    key: str
    label: str
    values: FloatArray
    formula: Callable[..., str] | None = None
    total: bool = True
    unit: Unit = "money"
    section: str = ""


def _period_col(t: int) -> int:
    return FIRST_PERIOD + t - 1


def _waterfall_lines(structure: Structure, base: PoolBase) -> list[_Line]:
    """The waterfall's rows, in the order of its steps (docs/methodology.md 24.3)."""
    tr = {k: v[..., 0, :] if v.ndim == 3 else v[0] for k, v in base.trace.items()}
    rows: dict[str, int] = {}
    lines: list[_Line] = []
    names = structure.names
    K = len(names)  # noqa: N806

    def c(key: str, t: int) -> str:
        """The cell of row ``key`` in period ``t``."""
        cell: str = xl_rowcol_to_cell(rows[key], _period_col(t))
        return cell

    def run(keys: list[str], t: int) -> str:
        """The cells of rows ``keys`` (consecutive) in period ``t``, as a range."""
        return f"{c(keys[0], t)}:{c(keys[-1], t)}"

    def before(key: str, t: int) -> str:
        """Row ``key`` in the periods before ``t`` (t >= 2)."""
        return f"{xl_rowcol_to_cell(rows[key], _period_col(1))}:{c(key, t - 1)}"

    def add(line: _Line) -> None:
        rows[line.key] = WATERFALL_HEAD + len(lines) + _sections_before(lines, line)
        lines.append(line)

    def tranche(i: int) -> str:
        return _tranche_label(names[i])

    def sum_before(prefix: str, k: int, t: int) -> str:
        """The sum of tranches 1..k-1's row ``prefix`` (0 for the first tranche)."""
        if k == 0:
            return "0"
        return f"SUM({c(f'{prefix}_0', t)}:{c(f'{prefix}_{k - 1}', t)})"

    sec = ""

    def pool_row(key: str, label: str, formula: Callable[[int], str], total: bool = True) -> None:
        """A pool-wide row of the trace's step ``key``."""
        add(_Line(key, label, tr[key], formula, total, section=sec))

    def per_tranche(
        key: str, label: str, formula: Callable[[int, int], str], total: bool = True
    ) -> list[str]:
        """A row per tranche (``key_k``) of the trace's step ``key``; ``formula(k, t)``.
        Returns the rows' keys, most senior first."""
        keys = [f"{key}_{k}" for k in range(K)]
        for k in range(K):
            add(
                _Line(
                    keys[k],
                    f"{tranche(k)}: {label}",
                    tr[key][k],
                    functools.partial(formula, k),
                    total,
                    section=sec,
                )
            )
        return keys

    sec = "Cash into the pool"
    add(
        _Line(
            "remaining",
            "Scheduled principal outstanding, share of the original",
            structure.remaining,
            None,
            False,
            "rate",
            sec,
        )
    )
    add(_Line("paid", "Members' payments to the pool (engine's base case)", base.paid, section=sec))
    add(
        _Line(
            "write_off",
            "Members' loans written off (engine's base case)",
            base.write_off,
            section=sec,
        )
    )
    pool_row(
        "guarantee",
        "Paid by the guarantee towards the write-offs",
        lambda t: (
            f"=MIN({c('write_off', t)},pl_capacity)"
            if t == 1
            else f"=MIN({c('write_off', t)},pl_capacity-SUM({before('guarantee', t)}))"
        ),
    )
    pool_row("cash", "Cash in the period", lambda t: f"={c('paid', t)}+{c('guarantee', t)}")

    sec = "Due to the tranches this period"
    per_tranche(
        "opening",
        "balance at the start",
        lambda k, t: f"=pl_size_{k + 1}" if t == 1 else f"={c(f'closing_{k}', t - 1)}",
        total=False,
    )
    interest_keys = per_tranche(
        "interest_due",
        "interest due (with any unpaid)",
        lambda k, t: (
            f"={c(f'opening_{k}', t)}*pl_coupon_{k + 1}/pl_payments"
            + ("" if t == 1 else f"+{c(f'arrears_{k}', t - 1)}")
        ),
        total=False,
    )
    principal_keys = per_tranche(
        "principal_due",
        "principal due on the schedule",
        lambda k, t: f"=MAX({c(f'opening_{k}', t)}-pl_size_{k + 1}*{c('remaining', t)},0)",
        total=False,
    )
    pool_row(
        "shortfall",
        "Shortfall of cash against what is due",
        lambda t: (
            f"=MAX(SUM({run(interest_keys, t)})+SUM({run(principal_keys, t)})-{c('cash', t)},0)"
        ),
        total=False,
    )

    sec = "Liquidity reserve"
    pool_row(
        "reserve_opening",
        "Reserve at the start of the period",
        lambda t: "=pl_reserve" if t == 1 else f"={c('reserve_closing', t - 1)}",
        total=False,
    )
    pool_row(
        "draw",
        "Drawn from the reserve",
        lambda t: f"=MIN({c('reserve_opening', t)},{c('shortfall', t)})",
    )
    pool_row(
        "available",
        "Cash available to pay the tranches",
        lambda t: f"={c('cash', t)}+{c('draw', t)}",
    )

    def in_order(due: str, cash: str, paid: str, k: int, t: int) -> str:
        """Tranche k's payment in order of priority: what is ``due`` (a formula), at most
        the cash of row ``cash`` less what the tranches before it were paid (row ``paid``)."""
        return f"=MIN(MAX({due},0),MAX({c(cash, t)}-{sum_before(paid, k, t)},0))"

    sec = "Interest, by seniority"
    paid_keys = per_tranche(
        "interest_paid",
        "interest paid",
        lambda k, t: in_order(c(f"interest_due_{k}", t), "available", "interest_paid", k, t),
    )
    per_tranche(
        "arrears",
        "interest unpaid, carried forward",
        lambda k, t: f"={c(f'interest_due_{k}', t)}-{c(f'interest_paid_{k}', t)}",
        total=False,
    )
    pool_row(
        "after_interest",
        "Cash left after interest",
        lambda t: f"={c('available', t)}-SUM({run(paid_keys, t)})",
        total=False,
    )

    sec = "Principal on the schedule, by seniority"
    scheduled_keys = per_tranche(
        "scheduled",
        "scheduled principal paid",
        lambda k, t: in_order(c(f"principal_due_{k}", t), "after_interest", "scheduled", k, t),
    )
    pool_row(
        "after_principal",
        "Cash left after scheduled principal",
        lambda t: f"={c('after_interest', t)}-SUM({run(scheduled_keys, t)})",
        total=False,
    )
    pool_row(
        "refill",
        "Reserve refilled to its size",
        lambda t: (
            f"=MIN(MAX(pl_reserve-({c('reserve_opening', t)}-{c('draw', t)}),0),"
            f"MAX({c('after_principal', t)},0))"
        ),
    )
    pool_row(
        "reserve_closing",
        "Reserve at the end of the period",
        lambda t: f"={c('reserve_opening', t)}-{c('draw', t)}+{c('refill', t)}",
        total=False,
    )
    pool_row(
        "after_refill",
        "Surplus after the reserve",
        lambda t: f"={c('after_principal', t)}-{c('refill', t)}",
        total=False,
    )

    sec = "Surplus prepays principal, by seniority"
    sweep_keys = per_tranche(
        "sweep",
        "principal prepaid from the surplus",
        lambda k, t: in_order(
            f"{c(f'opening_{k}', t)}-{c(f'scheduled_{k}', t)}", "after_refill", "sweep", k, t
        ),
    )
    n_legal = len(structure.remaining) - 1
    pool_row(
        "released",
        "Released to the members (the reserve too at legal maturity)",
        lambda t: (
            f"={c('after_refill', t)}-SUM({run(sweep_keys, t)})"
            + (f"+{c('reserve_closing', t)}" if t == n_legal else "")
        ),
    )

    sec = "Tranches: balances and payments"
    per_tranche(
        "closing",
        "balance at the end",
        lambda k, t: f"={c(f'opening_{k}', t)}-{c(f'scheduled_{k}', t)}-{c(f'sweep_{k}', t)}",
        total=False,
    )
    per_tranche(
        "to_investors",
        "paid to its investors",
        lambda k, t: f"={c(f'interest_paid_{k}', t)}+{c(f'scheduled_{k}', t)}+{c(f'sweep_{k}', t)}",
    )
    return lines


def _sections_before(lines: list[_Line], line: _Line) -> int:
    """Heading rows above ``line``: one per section started so far (a blank and a heading
    for each, after the first)."""
    sections = [x.section for x in lines] + [line.section]
    starts = sum(1 for i, s in enumerate(sections) if i == 0 or s != sections[i - 1])
    return 2 * starts - 1


def _waterfall_sheet(
    wb: Workbook, ws: Worksheet, styles: Styles, structure: Structure, base: PoolBase
) -> None:
    symbol = styles.currency_symbol
    # the headings' style, with a number format for the payment numbers and years
    heading = {"bold": True, "bg_color": "#1F3864", "font_color": "#FFFFFF", "border": 1}
    head_count = wb.add_format({**heading, "num_format": "0"})
    head_years = wb.add_format({**heading, "num_format": "0.00"})
    bold_money = wb.add_format({"bold": True, "num_format": f"{symbol}#,##0;[Red]({symbol}#,##0)"})
    lines = _waterfall_lines(structure, base)
    n_legal = len(structure.remaining) - 1
    ws.write(0, 0, "Pool waterfall: the base case", styles.title)
    ws.write(
        1,
        0,
        "Live formulas: each cell reads the Inputs sheet and the cells above it, and shows "
        "the engine's value until recalculated. Members' payments and write-offs are the "
        "engine's base case (values).",
        styles.note,
    )
    ws.set_column(LABEL_COL, LABEL_COL, 54)
    ws.set_column(TOTAL_COL, TOTAL_COL, 14)
    ws.set_column(FIRST_PERIOD, _period_col(n_legal), 12.5)
    ws.write(2, LABEL_COL, "Payment", styles.header)
    ws.write(3, LABEL_COL, "Years from close", styles.header)
    ws.write(2, TOTAL_COL, "Total", styles.header)
    ws.write(3, TOTAL_COL, "", styles.header)
    for t in range(1, n_legal + 1):
        ws.write_number(2, _period_col(t), t, head_count)
        ws.write_number(3, _period_col(t), t / structure.g, head_years)
    section = None
    row = WATERFALL_HEAD
    for line in lines:
        if line.section != section:
            if section is not None:
                row += 1
            ws.write(row, LABEL_COL, line.section, styles.bold)
            row += 1
            section = line.section
        ws.write(row, LABEL_COL, line.label)
        fmt = styles.unit(line.unit)
        for t in range(1, n_legal + 1):
            value = float(line.values[t])
            if line.formula is None:
                ws.write_number(row, _period_col(t), value, fmt)
            else:
                ws.write_formula(row, _period_col(t), line.formula(t), fmt, value)
        if line.total:
            span = xl_range(row, _period_col(1), row, _period_col(n_legal))
            ws.write_formula(
                row, TOTAL_COL, f"=SUM({span})", bold_money, float(line.values[1:].sum())
            )
        row += 1
    # the losses at legal maturity, and the guarantee paid in all
    row += 1
    ws.write(row, LABEL_COL, "At legal maturity", styles.bold)
    row += 1
    rows = _line_rows(lines)
    last = _period_col(n_legal)
    for k, name in enumerate(structure.names):
        ws.write(row, LABEL_COL, f"{_tranche_label(name)}: loss (balance and interest unpaid)")
        closing = xl_rowcol_to_cell(rows[f"closing_{k}"], last)
        arrears = xl_rowcol_to_cell(rows[f"arrears_{k}"], last)
        ws.write_formula(row, TOTAL_COL, f"={closing}+{arrears}", styles.unit("money"),
                         float(base.flows.loss[k, 0]))  # fmt: skip
        row += 1
    ws.freeze_panes(WATERFALL_HEAD, FIRST_PERIOD)
    print_across(ws, WATERFALL_HEAD, FIRST_PERIOD)


def _line_rows(lines: list[_Line]) -> dict[str, int]:
    """Each line's row (zero-based), as :func:`_waterfall_sheet` writes them."""
    out: dict[str, int] = {}
    section = None
    row = WATERFALL_HEAD
    for line in lines:
        if line.section != section:
            row += 1 if section is not None else 0
            row += 1
            section = line.section
        out[line.key] = row
        row += 1
    return out


def waterfall_cells(structure: Structure, base: PoolBase) -> dict[str, tuple[int, FloatArray]]:
    """Each Waterfall line's key -> (its row, zero-based; the engine's values by period):
    where the tests find the engine's base case on the sheet."""
    lines = _waterfall_lines(structure, base)
    rows = _line_rows(lines)
    return {line.key: (rows[line.key], line.values) for line in lines}


# ---------------------------------------------------------------------------
# Loss
# ---------------------------------------------------------------------------


def _loss_sheet(wb: Workbook, ws: Worksheet, styles: Styles, results: PoolResults) -> None:
    s = results.settings
    ws.set_column(0, 0, 40)
    ws.set_column(1, 11, 13)
    ws.write(0, 0, "Pool losses: the simulation", styles.title)
    ws.write(
        1,
        0,
        f"Simulation values ({s['paths']:,} paths, seed {s['seed']}): values, not formulas; "
        "an edit on Inputs does not change them. Rerun bondmodel pool to change them.",
        styles.note,
    )
    level = f"{100 * s['tail_level']:g}"
    row = 3
    heads = ("", "Mean, £", "Std dev, £", "Probability of a loss", f"VaR{level}, £",
             f"ES{level}, £")  # fmt: skip
    for col, text in enumerate(heads):
        ws.write(row, col, text, styles.header_wrap)
    ws.set_row(row, 32)
    labels = {"members' write-offs": "Members' loans written off",
              "investors' loss": "Investors' loss (the tranches')"}  # fmt: skip
    for label, data in results.pool.iterrows():
        row += 1
        ws.write(row, 0, labels.get(str(label), str(label)))
        for col, (key, unit) in enumerate(
            (("mean", "money"), ("sd", "money"), ("probability", "rate"), ("var", "money"),
             ("es", "money")), start=1,
        ):  # fmt: skip
            write_value(ws, row, col, float(data[key]), unit, styles)  # type: ignore[arg-type]
    row += 1
    ws.write(
        row, 0,
        f"VaR{level} is the {s['tail_paths']:,}-th largest loss, ES{level} the mean of the "
        f"{s['tail_paths']:,} largest.", styles.note,
    )  # fmt: skip
    row += 2
    tranche_heads = ("Tranche", "Size, £", "Coupon", "Expected loss, £", "Expected loss, share",
             "Probability of a loss", "WAL, years", "IRR: mean", "IRR: P5", "IRR: P50",
             "IRR: P95")  # fmt: skip
    for col, text in enumerate(tranche_heads):
        ws.write(row, col, text, styles.header_wrap)
    ws.set_row(row, 32)
    cols = (("size", "money"), ("coupon", "rate"), ("expected_loss", "money"),
            ("expected_loss_share", "rate"), ("probability_of_loss", "rate"),
            ("wal_years", "years"), ("irr_mean", "rate"), ("irr_p5", "rate"),
            ("irr_p50", "rate"), ("irr_p95", "rate"))  # fmt: skip
    for _, t in results.tranches.iterrows():
        row += 1
        ws.write(row, 0, _tranche_label(str(t["tranche"])))
        for col, (key, unit) in enumerate(cols, start=1):
            write_value(ws, row, col, float(t[key]), unit, styles)  # type: ignore[arg-type]
    row += 2
    d = results.diversification
    ws.write(row, 0, "Diversification", styles.header)
    ws.write(row, 1, "", styles.header)
    for label, value, unit in (
        ("The pool's P95 loss, £", d["pool_p95_loss"], "money"),
        ("The members' P95 losses alone, added, £", d["sum_member_p95_loss"], "money"),
        ("Diversification benefit (1 - pool / added)", d["benefit"], "rate"),
        ("Guarantee: mean paid, £", s["guarantee_mean"], "money"),
        ("Guarantee: probability it is called", s["guarantee_probability"], "rate"),
        ("Reserve: mean drawn, £", s["reserve_draw_mean"], "money"),
        ("Reserve: probability it is drawn", s["reserve_probability"], "rate"),
    ):
        row += 1
        ws.write(row, 0, label)
        write_value(ws, row, 1, float(value), unit, styles)  # type: ignore[arg-type]
    row += 2
    _histogram(wb, ws, styles, results, row)


def _histogram(wb: Workbook, ws: Worksheet, styles: Styles, results: PoolResults, top: int) -> None:
    """The fixed-edge loss histogram as a table (to the last bin holding a path) and a
    column chart of the paths with a loss."""
    h = results.loss_histogram
    counts = h[["members_write_offs", "investors_loss"]].to_numpy()
    used = np.nonzero(counts.sum(axis=1))[0]
    last = int(used.max()) if used.size else 0
    last = max(last, 1)
    ws.write(top, 0, "Loss distribution: paths by size of loss", styles.bold)
    ws.write(
        top + 1, 0,
        f"Fixed bins of 1/{len(h) - 2} of the pool's principal, each from its lower edge up "
        "to (not including) its upper one; the first holds the paths with no loss; bins "
        "above the last shown hold no path.", styles.note,
    )  # fmt: skip
    head = top + 2
    for col, text in enumerate(("Loss from, £", "Loss up to, £", "Members' write-offs: paths",
                                "Investors' loss: paths")):  # fmt: skip
        ws.write(head, col, text, styles.header_wrap)
    ws.set_row(head, 45)
    # a histogram longer than the first page carries its column headings onto the next
    ws.repeat_rows(head)
    # the underflow bin (a negative loss) only when it holds a path
    start = 0 if counts[0].any() else 1
    money = styles.unit("money")
    for i in range(start, last + 1):
        row = head + 1 + i - start
        lo, hi = float(h["from"].iloc[i]), float(h["to"].iloc[i])
        if math.isfinite(lo):
            ws.write_number(row, 0, lo, money)
        else:
            ws.write(row, 0, "below", styles.note)
        if math.isfinite(hi):
            ws.write_number(row, 1, hi, money)
        else:
            ws.write(row, 1, "and above", styles.note)
        ws.write_number(row, 2, int(counts[i, 0]), styles.unit("count"))
        ws.write_number(row, 3, int(counts[i, 1]), styles.unit("count"))
    # the chart leaves out the first bin from 0 (the paths with no loss, mostly): it
    # would dwarf the rest
    first_loss, end = head + 1 + (2 - start), head + 1 + last - start
    chart = wb.add_chart({"type": "column"})
    for col, name in ((2, "Members' write-offs"), (3, "Investors' loss")):
        chart.add_series(
            {
                "name": name,
                "categories": ["Loss", first_loss, 1, max(end, first_loss), 1],
                "values": ["Loss", first_loss, col, max(end, first_loss), col],
                "gap": 20,
            }
        )
    floor = float(h["to"].iloc[1])
    chart.set_title(
        {
            "name": f"Paths with a loss of {styles.currency_symbol}{floor:,.0f} or more",
            "name_font": {"size": 11},
        }
    )
    chart.set_x_axis(
        {"name": "Loss up to", "num_format": styles.millions, "num_font": {"rotation": -45}}
    )
    chart.set_y_axis({"name": "Paths"})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 640, "height": 340})
    # below the headings' row, which repeats on the next page: the chart must not repeat with it
    ws.insert_chart(head + 1, 5, chart)


# ---------------------------------------------------------------------------
# Cover and Audit
# ---------------------------------------------------------------------------


#: The Audit sheet's heading of the resolved portfolio's TOML lines (column B below it).
RESOLVED_HEADER: Final = "Resolved portfolio (TOML)"


def resolved_toml(portfolio: Portfolio) -> str:
    """The portfolio as TOML with every member's programme inline: each member's scenario
    as validated (its loan already its bond's principal), so the text alone repeats the run
    (``bondmodel verify``), whatever becomes of the member files."""
    data = toml_data(portfolio.spec)
    for member, scenario in zip(data["members"], portfolio.scenarios, strict=True):
        member.pop("scenario", None)
        member["inline"] = toml_data(scenario)
    return tomli_w.dumps(data)


def text_sha256(text: str) -> str:
    """The SHA-256 of ``text`` (UTF-8): what the Audit sheet records of the resolved
    portfolio's lines, so that an edit to them is found."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest(
    portfolio: Portfolio,
    results: PoolResults,
    stamp: datetime,
    command: str | None,
    sha256: str | None,
    resolved: str,
) -> dict[str, Any]:
    """The run manifest the Audit sheet records (also as JSON, for a program to read);
    ``resolved`` is :func:`resolved_toml` of the portfolio."""
    s = results.settings
    return {
        "bondmodel_version": __version__,
        "command": command or "",
        "run_at_utc": f"{stamp:%Y-%m-%d %H:%M:%S}",
        "portfolio_file": portfolio.source,
        "portfolio_sha256": sha256 or "",
        "resolved_portfolio_sha256": text_sha256(resolved),
        "seed": int(s["seed"]),
        "sampler": str(s["sampler"]),
        "paths": int(s["paths"]),
        "members": int(s["members"]),
        "executor": str(s["executor"]),
        "workers": int(s["workers"]),
        "tail_level": float(s["tail_level"]),
        "tail_paths": int(s["tail_paths"]),
    }


_MANIFEST_WORDS: Final = {
    "bondmodel_version": "bondmodel version",
    "command": "Command",
    "run_at_utc": "Run at (UTC)",
    "portfolio_file": "Portfolio file",
    "portfolio_sha256": "Portfolio file's SHA-256",
    "resolved_portfolio_sha256": "Resolved portfolio's SHA-256",
    "seed": "Seed",
    "sampler": "Sampler of the members' inputs",
    "paths": "Paths",
    "members": "Members",
    "executor": "Executor",
    "workers": "Workers",
    "tail_level": "Tail level of VaR and ES",
    "tail_paths": "Paths in the tail",
}


def _audit_sheet(
    ws: Worksheet,
    styles: Styles,
    portfolio: Portfolio,
    results: PoolResults,
    stamp: datetime,
    command: str | None,
    sha256: str | None,
) -> int:
    """Write the Audit sheet; returns the row of the manifest's JSON."""
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, 70)
    ws.set_column(2, 2, 24)
    ws.write(0, 0, "Audit record", styles.title)
    ws.write(
        1,
        0,
        "The run manifest: rerun the command with this seed and these paths, on the "
        "portfolio file with this SHA-256, to reproduce every value.",
        styles.note,
    )
    ws.write(
        2,
        0,
        "Or run `bondmodel verify` on this workbook: it reruns the resolved portfolio kept "
        "below the printed page, and needs no member's file.",
        styles.note,
    )
    ws.write(3, 0, "Run manifest", styles.header)
    ws.write(3, 1, "", styles.header)
    resolved = resolved_toml(portfolio)  # dumped once: its lines below, its SHA-256 here
    data = manifest(portfolio, results, stamp, command, sha256, resolved)
    row = 4
    for key, value in data.items():
        ws.write(row, 0, _MANIFEST_WORDS[key])
        if isinstance(value, str):
            ws.write_string(row, 1, value or "(not recorded)")
        elif key == "seed":
            # as text: a seed runs to 2**63, past the 15 digits a spreadsheet number keeps
            ws.write_string(row, 1, str(value))
        else:
            ws.write_number(row, 1, value, styles.unit("rate" if key == "tail_level" else "count"))
        row += 1
    row += 1
    ws.write(row, 0, "Member", styles.header)
    ws.write(row, 1, "Programme", styles.header)
    ws.write(row, 2, "Seed of its own streams", styles.header)
    seeds = results.members["seed"]
    for i, member in enumerate(portfolio.members):
        row += 1
        ws.write(row, 0, member.name)
        ws.write(row, 1, member.scenario if member.scenario is not None else "inline table")
        ws.write_string(row, 2, str(seeds.iloc[i]))
    row += 2
    ws.write(row, 0, "Manifest as JSON", styles.bold)
    ws.write_string(row + 1, 0, json.dumps(data, sort_keys=True))
    json_row = row + 1
    row += 3
    ws.write_string(row, 0, RESOLVED_HEADER, styles.header)
    ws.write_string(
        row,
        1,
        "The portfolio with every member's programme inline: save the lines below as a "
        ".toml file to rerun this pool without its scenario files; `bondmodel verify` reruns "
        "it from here.",
        styles.header,
    )
    for i, line in enumerate(resolved.splitlines()):
        ws.write_string(row + 1 + i, 1, line)
    return json_row


def _cover_sheet(
    ws: Worksheet,
    styles: Styles,
    portfolio: Portfolio,
    structure: Structure,
    results: PoolResults,
    stamp: datetime,
) -> None:
    s = results.settings
    spec = portfolio.spec
    ws.set_column(0, 0, 34)
    ws.set_column(1, 1, 90)
    ws.write(0, 0, f"Pooled bond: {spec.name}", styles.title)
    if spec.description:
        ws.write(1, 0, spec.description, styles.note)
    row = 3
    ws.write(row, 0, "The pool", styles.header)
    ws.write(row, 1, "", styles.header)
    facts: list[tuple[str, str]] = [
        ("Members", f"{s['members']:,}"),
        ("Principal", f"{styles.currency_symbol}{s['principal']:,.0f}"),
        ("Tranches", ", ".join(
            f"{_tranche_label(n)} {100 * float(sz) / s['principal']:.0f}% at "
            f"{100 * float(cp):.2f}%" for n, sz, cp in zip(structure.names, structure.sizes,
                                                        structure.coupons, strict=True))),
        ("Guarantee", _GUARANTEE_WORDS[structure.guarantee.type]),
        ("Simulation", f"{s['paths']:,} paths, seed {s['seed']}, sampler {s['sampler']} "
                       f"(run {stamp:%Y-%m-%d %H:%M} UTC, bondmodel {__version__})"),
        ("Pool's expected loss to investors",
         f"{styles.currency_symbol}{float(results.pool['mean'].iloc[1]):,.0f}"),
        ("Diversification benefit", "n/a" if not math.isfinite(
            results.diversification["benefit"]) else
            f"{100 * results.diversification['benefit']:.1f}% (pool P95 loss against the "
            "members' alone, added)"),
    ]  # fmt: skip
    for label, text in facts:
        row += 1
        ws.write(row, 0, label, styles.bold)
        ws.write_string(row, 1, text)
    row += 2
    ws.write(row, 0, "Sheet", styles.header)
    ws.write(row, 1, "What it holds", styles.header)
    for sheet, text in (
        ("Inputs", "The pool's terms the Waterfall reads: blue cells are inputs (edit them and "
                   "the waterfall recalculates), grey cells come from the members' programmes."),
        ("Members", "Each member's loan, guarantee share, stand-alone losses, contribution to "
                    "the pool's ES and guarantee payments (simulation values), and its base case."),
        ("Waterfall", "The base case's payments through the pool, period by period, in live "
                      "formulas: guarantee, reserve, interest then principal by seniority."),
        ("Loss", "The simulated loss distribution and each tranche's risk (values)."),
        ("Audit", "The run manifest: engine version, command, seed, sampler, paths, portfolio "
                   "SHA-256; and the resolved portfolio that `bondmodel verify` reruns."),
    ):  # fmt: skip
        row += 1
        ws.write_url(row, 0, f"internal:'{sheet}'!A1", styles.link_top, sheet)
        ws.write(row, 1, text, styles.wrap)
        ws.set_row(row, 30)
    row += 2
    ws.write(row, 0, "Colour key", styles.header)
    ws.write(row, 1, "", styles.header)
    ws.write(row + 1, 0, "Input", styles.input)
    ws.write(row + 1, 1, "edit it; the live formulas recalculate")
    ws.write(row + 2, 0, "Fixed by the programmes", styles.structural)
    ws.write(row + 2, 1, "change it in the portfolio file and rerun")
    ws.write(row + 3, 0, "Simulation value", styles.copy)
    ws.write(row + 3, 1, "the run's result: rerun to change it (Members, Loss)")
