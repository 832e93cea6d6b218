"""The overview sheets: Cover and Checks (the Summary is :mod:`bondmodel.workbook.dashboard`).

Checks are live formulas over the other sheets, each TRUE or FALSE. Each is
one expression (bondmodel.workbook.rows.Expr) rendered to its formula and
evaluated with numpy on the engine's numbers for its cached value, so a viewer
that never recalculates shows the true state and the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel import __version__
from bondmodel.engine import Results
from bondmodel.workbook.as_run import RERUN_NEEDED, SIMULATION_CHECK, STRUCTURE_CHECK
from bondmodel.workbook.conventions_block import CHECK_ABS, CHECK_REL
from bondmodel.workbook.layout import Layout
from bondmodel.workbook.model_map import SHEET_PURPOSES
from bondmodel.workbook.rows import Env, Expr, Group, Neg, Ref, fn, total
from bondmodel.workbook.sources_uses import sources_uses_values
from bondmodel.workbook.styles import Styles, heading_height

DISCLAIMER = (
    "This workbook is the output of a model. Its numbers follow from the assumptions on the "
    "Inputs sheet and the methods in docs/methodology.md; they are estimates, not forecasts "
    "or advice. Monte Carlo results are simulation output for the stated seed. Check the "
    "assumptions before relying on any figure."
)


@dataclass(frozen=True)
class CheckResult:
    """Where the master check is, and whether every check passed."""

    master: str
    passed: bool
    count: int


def _checks_env(results: Results, layout: Layout) -> Env:
    """What the checks refer to: rows and cells by their layout key (with a dot), defined
    names (without) as themselves; and the value each holds as the run wrote it."""
    sc = results.scenario
    p = results.periods
    values: dict[str, Any] = {
        "chk_rel_tol": CHECK_REL,
        "chk_abs_tol": CHECK_ABS,
        # as run, no input differs from the run's: every change flag is 0
        "run_structural_changes": np.zeros(1),
        "run_changes": np.zeros(1),
        **{
            f"cashflows.{key}": p[key].to_numpy(dtype=float)
            for key in p.columns
            if key not in ("label", "period_start", "period_end")
        },
    }
    for kind in ("cost_share", "savings_share"):
        values[f"partners.{kind}"] = np.array(
            [float(v[kind] or 0.0) for v in results.partner_metrics.values()]
        )
    bond = results.bond
    if bond is not None:
        s = bond.schedule
        t = bond.table
        values.update(
            {f"bond.{key}": t[key].to_numpy(dtype=float) for key in t.columns if key != "date"}
        )
        values.update({f"bond.{key}": float(v) for key, v in bond.sources_uses.items()})
        values.update(sources_uses_values(results))
        values.update(
            {
                "bond.principal": s.principal,
                "bd_principal": s.principal,
                "bd_fits": 1.0,
                "bd_residual": s.surplus,
                "in_bond_principal": sc.bond.principal if sc.bond else 0,
                "bond.closing_balance.last": float(t["closing_balance"].iloc[-1]),
                "bond.reserve_balance.last": float(t["reserve_balance"].iloc[-1]),
            }
        )

    def cell(key: str, where: str) -> str:
        if where == "row":
            return layout.rows[key]
        # layout keys have a dot ("bond.proceeds"); a defined name stands for itself
        return layout.cells[key] if "." in key else key

    return Env(cell, values)


def _row(key: str) -> Ref:
    return Ref(key, "row")


def _sum(*keys: str) -> Expr:
    """``SUM(a)+SUM(b)+...`` over whole rows."""
    return total(*(fn("SUM", _row(k)) for k in keys))


#: A check's tolerance in pounds: relative to the principal, and absolute for rounding.
_TOL = Group(Ref("chk_rel_tol") * fn("MAX", 1, Ref("bd_principal")) + Ref("chk_abs_tol"))

#: The check that the formulas still describe the inputs (no structural change since the run).
_STRUCTURE = fn("SUMPRODUCT", Neg(Neg(Ref("run_structural_changes")))).eq(0)


def checks_sheet(wb: Workbook, styles: Styles, results: Results, layout: Layout) -> CheckResult:
    """Every integrity check as a live TRUE/FALSE formula, and the master check.

    Each check is one :class:`~bondmodel.workbook.rows.Expr`: written to the
    sheet as its formula and evaluated with numpy on the run's values for the
    cached TRUE/FALSE.
    """
    ws = wb.add_worksheet("Checks")
    ws.set_column(0, 0, CHECK_LABEL_WIDTH)
    ws.set_column(1, 1, 14)
    ws.set_column(2, 2, 50)
    ws.write(0, 0, "Integrity checks", styles.title)
    rows: list[tuple[str, Expr, str]] = []
    for kind, label in (("cost_share", "cost"), ("savings_share", "savings")):
        rows.append(
            (
                f"Partners' {label} shares sum to 1",
                fn("ABS", fn("SUM", _row(f"partners.{kind}")) - 1).le(Ref("chk_rel_tol")),
                "Partners sheet",
            )
        )
    rows.append(
        (
            "Net cash flow = gross savings - running costs - one-off costs, every period",
            fn(
                "SUMPRODUCT",
                fn(
                    "ABS",
                    _row("cashflows.net_cash_flow")
                    - (
                        _row("cashflows.gross_savings")
                        - _row("cashflows.running_costs")
                        - _row("cashflows.capex")
                    ),
                ),
            ).le(Ref("chk_abs_tol")),
            "Cashflows sheet",
        )
    )
    if results.bond is not None:
        rows.extend(_bond_checks(results))
    structure = _STRUCTURE
    label = "No structural input changed since the run: the formulas describe the inputs"
    bond = results.bond
    if (
        bond is not None
        and bond.schedule.terms.repayment.type == "sculpted"
        and (bond.schedule.terms.principal == "sized")
    ):
        # a sculpted bond's sized principal is the engine's value: any change that moves the
        # uses needs the engine to size it again
        structure = fn("AND", structure, fn("ABS", Ref("bd_residual")).le(_TOL.inner))
        label += ", and the sculpted bond's sized principal still solves the sizing equation"
    if bond is not None:
        # a tenor, legal maturity or grace the engine would refuse (not whole payments, out of
        # order, beyond the horizon) is live in no formula: the engine must say what is wrong
        structure = fn("AND", structure, Ref("bd_fits").eq(1))
        label += "; the bond's terms fit its payment grid (Bond sheet, terms fit the payment grid)"
    rows.append((label, structure, "As run sheet (Structural change column)"))
    env = _checks_env(results, layout)
    top = 4
    ws.write(top - 1, 0, "Check", styles.header)
    ws.write(top - 1, 1, "Result", styles.header)
    ws.write(top - 1, 2, "Where", styles.header)
    passed = True
    for i, (label, check, where) in enumerate(rows):
        value = bool(check.value(env))
        passed = passed and value
        _wrapped(ws, top + i, label, styles)
        ws.write_formula(
            top + i, 1, check.formula(env), styles.good if value else styles.bad, value
        )
        ws.write_string(top + i, 2, where, styles.note)
    first, last = top, top + len(rows) - 1
    wb.define_name(STRUCTURE_CHECK, f"='Checks'!$B${last + 1}")
    ws.write_string(1, 0, "All checks pass (master check)", styles.bold)
    ws.write_formula(
        1, 1, f"=AND(B{first + 1}:B{last + 1})", styles.good if passed else styles.bad, passed
    )
    # not an integrity check: a simulation's values are simply for other inputs (written with
    # or without one, so the sheet is the same whichever ran)
    row = last + 2
    _wrapped(
        ws,
        row,
        "No input changed since the run: any simulation results are current "
        "(not part of the master check)",
        styles,
    )
    current = fn("SUMPRODUCT", Neg(Neg(Ref("run_changes")))).eq(0)
    ws.write_formula(row, 1, current.formula(env), styles.good, bool(current.value(env)))
    ws.write_string(row, 2, "As run sheet (Changed column)", styles.note)
    wb.define_name(SIMULATION_CHECK, f"='Checks'!$B${row + 1}")
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    return CheckResult(master="'Checks'!$B$2", passed=passed, count=len(rows))


#: The width of the Checks sheet's label column (characters); longer labels wrap.
CHECK_LABEL_WIDTH = 70


def _wrapped(ws: Worksheet, row: int, label: str, styles: Styles) -> None:
    """A check's label in column A, wrapped onto as many lines as it needs."""
    ws.write_string(row, 0, label, styles.wrap)
    ws.set_row(row, heading_height([label], CHECK_LABEL_WIDTH))


def _bond_checks(results: Results) -> list[tuple[str, Expr, str]]:
    bond = results.bond
    assert bond is not None
    s = bond.schedule
    sizing: list[tuple[str, Expr, str]] = []
    if s.terms.repayment.type != "sculpted" or s.terms.principal == "sized":
        # sized in closed form on the sheet (a sculpted bond: the engine's fixed point, as a
        # value); this tests the sizing equation holds, live, whenever the input says sized
        sizing.append(
            (
                "A principal sized to the uses solves the sizing equation: proceeds - fee = "
                "financed costs + initial DSRA",
                fn(
                    "OR",
                    Ref("in_bond_principal").ne("sized"),
                    fn("ABS", Ref("bd_residual")).le(_TOL),
                ),
                "Bond sheet, constants and sources and uses",
            )
        )
    principal = Ref("bond.principal")
    grown = (
        principal
        + fn("SUM", _row("bond.capitalised_interest"))
        + fn("SUM", _row("bond.indexation"))
    )
    checks = [
        (
            "Sources equal uses at issue",
            fn(
                "ABS",
                Ref("bond.proceeds")
                + Ref("bond.council_contribution")
                - (
                    Ref("bond.financed_costs")
                    + Ref("bond.arrangement_fee")
                    + Ref("bond.reserve_initial")
                    + Ref("bond.surplus")
                ),
            ).le(_TOL),
            "Bond sheet, sources and uses",
        ),
        (
            "Balance is zero at legal maturity (repaid, or the rest written off as a loss)",
            fn("ABS", Ref("bond.closing_balance.last")).le(_TOL),
            "Bond sheet, closing balance",
        ),
        (
            "Principal issued, capitalised and indexed is repaid or written off",
            fn(
                "AND",
                (grown - fn("SUM", _row("bond.principal_paid")) - fn("SUM", _row("bond.sweep"))).le(
                    fn("SUM", _row("bond.write_off")) + _TOL
                ),
                _sum("bond.principal_paid", "bond.sweep").le(grown + _TOL),
            ),
            "Bond sheet",
        ),
        (
            "Cash reconciles: paid to investors and agents = pledged cash + reserve + top-ups",
            fn(
                "ABS",
                _sum(
                    "bond.fees_paid",
                    "bond.arrears_paid",
                    "bond.interest_paid",
                    "bond.principal_paid",
                    "bond.performance_paid",
                )
                - _sum("bond.cash_used", "bond.reserve_draw", "bond.topup"),
            ).le(_TOL),
            "Bond sheet",
        ),
        (
            "The reserve balances: initial + deposits - draws - releases = final balance",
            fn(
                "ABS",
                Ref("bond.reserve_initial")
                + fn("SUM", _row("bond.reserve_deposit"))
                - fn("SUM", _row("bond.reserve_draw"))
                - fn("SUM", _row("bond.reserve_release"))
                - Ref("bond.reserve_balance.last"),
            ).le(_TOL),
            "Bond sheet, DSRA rows",
        ),
        (
            "Sources and uses table: total sources = total uses",
            fn(
                "ABS",
                Ref("sources_uses.total_sources") - Ref("sources_uses.total_uses"),
            ).le(_TOL),
            "Sources and uses sheet",
        ),
    ]
    return [*sizing, *checks]


def cover_sheet(
    ws: Worksheet,
    styles: Styles,
    results: Results,
    sheets: list[str],
    checks: CheckResult,
    stamp: datetime,
) -> None:
    """Title, scenario, date, engine version, contents with links, check status, disclaimer."""
    ws.set_column(0, 0, 4)
    ws.set_column(1, 1, 34)
    ws.set_column(2, 2, 90)
    sc = results.scenario
    ws.write(1, 1, "Invest-to-save bond model", styles.title)
    details = [
        ("Scenario", sc.meta.name),
        ("Description", sc.meta.description or ""),
        ("Run at (UTC)", stamp.isoformat(timespec="seconds")),
        ("Engine", f"bondmodel {__version__}"),
        ("Scenario SHA-256", sc.sha256()),
    ]
    for i, (key, value) in enumerate(details):
        ws.write_string(3 + i, 1, key, styles.bold)
        ws.write_string(3 + i, 2, value, styles.wrap)
    row = 4 + len(details)
    ws.write_string(row, 1, "Checks", styles.bold)
    ok, fail = f"All {checks.count} checks pass", "CHECKS FAIL: see the Checks sheet"
    status = f'IF({checks.master},"{ok}","{fail}")'
    if results.risk is not None:
        status = (
            f'IF({checks.master},IF({SIMULATION_CHECK},"{ok}",'
            f'"{ok}; the simulation results are STALE: inputs changed since it ran"),"{fail}")'
        )
    ws.write_formula(
        row,
        2,
        f'=IF({STRUCTURE_CHECK},{status},"{RERUN_NEEDED}")',
        styles.good if checks.passed else styles.bad,
        ok if checks.passed else fail,
    )
    ws.conditional_format(
        row,
        2,
        row,
        2,
        {
            "type": "formula",
            "criteria": f"=NOT({checks.master})",
            "format": styles.bad_dynamic,
        },
    )
    row += 2
    ws.write_string(row, 1, "Contents", styles.header)
    ws.write_string(row, 2, "", styles.header)
    for i, name in enumerate(sheets):
        ws.write_url(row + 1 + i, 1, f"internal:'{name}'!A1", styles.link, name)
        ws.write_string(row + 1 + i, 2, SHEET_PURPOSES.get(name, ""))
    row += len(sheets) + 2
    row = _colour_key(ws, styles, row) + 1
    # one row as tall as the wrapped text: LibreOffice's fit to one page left the second
    # line of a four-row merge below the page
    ws.merge_range(row, 1, row, 2, DISCLAIMER, styles.wrap)
    ws.set_row(row, heading_height([DISCLAIMER], 34 + 90))
    ws.set_landscape()
    ws.fit_to_pages(1, 1)
    ws.activate()


#: The Cover's colour key: (sample text, its style's name on Styles, what it means).
COLOUR_KEY = (
    (
        "Input",
        "input",
        "a live assumption (blue on pale yellow, Inputs sheet): change it and the formulas follow",
    ),
    (
        "Structural input",
        "structural",
        "the workbook was built for its value (grey, italic): a change shows RERUN NEEDED",
    ),
    ("Formula", "label", "computed from cells of its own sheet (black)"),
    (
        "Link",
        "reads_other_sheet",
        "a formula that reads another sheet (green): follow it to the sheet it names",
    ),
    (
        "Record of the run",
        "copy",
        "values kept as run (grey text: As run, Audit), for comparison, not for editing",
    ),
    ("TRUE", "good", "a check that passes (Checks sheet, Cover)"),
    ("FALSE", "bad", "a check that fails: the Cover says so"),
    (
        "RERUN NEEDED",
        "alert",
        "on every sheet after a structural change; STALE on the simulation's sheets after any",
    ),
)


def _colour_key(ws: Worksheet, styles: Styles, row: int) -> int:
    """Write the colour key from ``row``; returns the row below it."""
    ws.write_string(row, 1, "Colour key", styles.header)
    ws.write_string(row, 2, "", styles.header)
    for i, (sample, style, meaning) in enumerate(COLOUR_KEY):
        ws.write_string(row + 1 + i, 1, sample, getattr(styles, style))
        ws.write_string(row + 1 + i, 2, meaning)
    return row + 1 + len(COLOUR_KEY)
