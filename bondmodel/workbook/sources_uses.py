"""The Sources and uses sheet: where the money at issue comes from and where it goes, in two
columns that balance.

Every figure is a live formula over the cells that compute it: the Bond sheet's
constants (``bd_principal``, ``bd_proceeds``, ``bd_fee``, ``bd_reserve0``,
``bd_contribution``, ``bd_surplus``), the input ``in_bond_financed_share`` and the Cashflows sheet's
one-off cost rows. Each is one :class:`~bondmodel.workbook.rows.Expr`, rendered
to its formula and evaluated with numpy on the engine's values for the value it
caches. The Checks sheet tests that the two totals agree. docs/methodology.md,
section 14, gives each line's rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook

from bondmodel.display import currency_symbol
from bondmodel.engine import Results
from bondmodel.labels import PERIOD_COLUMNS
from bondmodel.workbook.layout import Layout, ref
from bondmodel.workbook.rows import Env, Expr, Group, Ref, fn
from bondmodel.workbook.styles import Styles

#: The sheet's name.
SOURCES_USES_SHEET = "Sources and uses"
#: Row (0-based) of the column headings; the lines start below it.
HEAD = 3
#: Columns: sources' label and amount, a gap, uses' label and amount.
SOURCE_COL, USE_COL = 0, 3


@dataclass(frozen=True)
class Item:
    """One line of the table: its key, label and expression."""

    key: str
    label: str
    expr: Expr


def _costs(kind: str) -> Expr:
    return fn("SUM", Ref(f"cashflows.{kind}", "row"))


_PLANNED = _costs("capex_base") + _costs("capex_optimism_bias") + _costs("capex_contingency")

SOURCES: tuple[Item, ...] = (
    Item("principal", "Bond principal issued (face value)", Ref("bd_principal")),
    Item(
        "council_contribution",
        "Council contribution: proceeds short of the uses",
        Ref("bd_contribution"),
    ),
    Item(
        "own_funds",
        "Councils' own funds: one-off costs the bond does not finance",
        (1 - Ref("in_bond_financed_share")) * Group(_PLANNED),
    ),
)

USES: tuple[Item, ...] = (
    Item("capex_base", PERIOD_COLUMNS["capex_base"].label, _costs("capex_base")),
    Item(
        "capex_optimism_bias",
        PERIOD_COLUMNS["capex_optimism_bias"].label,
        _costs("capex_optimism_bias"),
    ),
    Item(
        "capex_contingency", PERIOD_COLUMNS["capex_contingency"].label, _costs("capex_contingency")
    ),
    Item(
        "issue_discount",
        "Issue discount: principal x (1 - issue price); a premium is negative",
        Ref("bd_principal") - Ref("bd_proceeds"),
    ),
    Item("arrangement_fee", "Arrangement fee (issue costs)", Ref("bd_fee")),
    Item("reserve_initial", "Debt service reserve (DSRA) funded at issue", Ref("bd_reserve0")),
    Item("surplus", "Surplus proceeds paid to the council (cash held)", Ref("bd_surplus")),
)

#: Shown below the table, outside the totals: not paid from the proceeds at issue.
MEMO: tuple[Item, ...] = (
    Item(
        "capitalised_interest",
        "Interest and fees capitalised in the grace period (added to the bond's balance)",
        fn("SUM", Ref("bond.capitalised_interest", "row")),
    ),
)


def _values(results: Results) -> dict[str, Any]:
    """The engine's value of every cell and row the table reads."""
    bond = results.bond
    assert bond is not None
    s = bond.schedule
    p = results.periods
    return {
        **{
            f"cashflows.{k}": p[k].to_numpy(dtype=float)
            for k in ("capex_base", "capex_optimism_bias", "capex_contingency")
        },
        "bond.capitalised_interest": bond.table["capitalised_interest"].to_numpy(dtype=float),
        "in_bond_financed_share": s.terms.financed_share,
        "bd_principal": s.principal,
        "bd_proceeds": s.proceeds,
        "bd_fee": s.arrangement_fee,
        "bd_reserve0": s.reserve_initial,
        "bd_contribution": s.council_contribution,
        "bd_surplus": max(s.surplus, 0.0),
    }


def _env(results: Results, layout: Layout) -> Env:
    def cell(key: str, where: str) -> str:
        if where == "row":
            return layout.rows[key]
        return layout.cells[key] if "." in key else key  # a defined name stands for itself

    return Env(cell, _values(results))


def sources_uses_values(results: Results) -> dict[str, float]:
    """Each line's value and the two totals, by layout key (``sources_uses.total_uses``)."""
    env = Env(lambda key, where: key, _values(results))
    out = {f"sources_uses.{i.key}": float(i.expr.value(env)) for i in (*SOURCES, *USES, *MEMO)}
    out["sources_uses.total_sources"] = sum(out[f"sources_uses.{i.key}"] for i in SOURCES)
    out["sources_uses.total_uses"] = sum(out[f"sources_uses.{i.key}"] for i in USES)
    return out


def sources_uses_sheet(wb: Workbook, styles: Styles, results: Results, layout: Layout) -> None:
    """Write the Sources and uses sheet (a scenario with a bond only) and register each
    figure in ``layout.cells`` as ``sources_uses.<key>``."""
    if results.bond is None:
        return
    ws = wb.add_worksheet(SOURCES_USES_SHEET)
    ws.set_column(SOURCE_COL, SOURCE_COL, 58)
    ws.set_column(SOURCE_COL + 1, SOURCE_COL + 1, 18)
    ws.set_column(SOURCE_COL + 2, SOURCE_COL + 2, 3)
    ws.set_column(USE_COL, USE_COL, 66)
    ws.set_column(USE_COL + 1, USE_COL + 1, 18)
    ws.write(
        0,
        0,
        f"Sources and uses of funds at issue (base case): {results.scenario.meta.name}",
        styles.title,
    )
    ws.write(
        1,
        0,
        "Nominal pounds. The bond finances its financed share of the planned one-off costs "
        "(summed over all periods); live formulas over the Bond sheet's constants and the "
        "Cashflows sheet (docs/methodology.md, section 14).",
        styles.note,
    )
    env = _env(results, layout)
    values = sources_uses_values(results)
    money = styles.unit("money")
    for col, title in ((SOURCE_COL, "Sources"), (USE_COL, "Uses")):
        ws.write(HEAD, col, title, styles.header)
        ws.write(HEAD, col + 1, currency_symbol(results.scenario.meta.currency), styles.header)
    total_row = HEAD + 1 + max(len(SOURCES), len(USES))
    for col, items, total_key, total_label in (
        (SOURCE_COL, SOURCES, "total_sources", "Total sources"),
        (USE_COL, USES, "total_uses", "Total uses"),
    ):
        for i, item in enumerate(items):
            row = HEAD + 1 + i
            ws.write_string(row, col, item.label)
            ws.write_formula(
                row, col + 1, item.expr.formula(env), money, values[f"sources_uses.{item.key}"]
            )
            layout.cells[f"sources_uses.{item.key}"] = ref(SOURCES_USES_SHEET, row, col + 1)
        first = xl_rowcol_to_cell(HEAD + 1, col + 1)
        last = xl_rowcol_to_cell(total_row - 1, col + 1)
        ws.write_string(total_row, col, total_label, styles.header)
        ws.write_formula(
            total_row,
            col + 1,
            f"=SUM({first}:{last})",
            styles.total_money,
            values[f"sources_uses.{total_key}"],
        )
        layout.cells[f"sources_uses.{total_key}"] = ref(SOURCES_USES_SHEET, total_row, col + 1)
    row = total_row + 2
    ws.write_string(row, 0, "Sources less uses (0: the table balances; the Checks sheet tests it)")
    diff = values["sources_uses.total_sources"] - values["sources_uses.total_uses"]
    ws.write_formula(
        row,
        1,
        f"={layout.cells['sources_uses.total_sources']}-{layout.cells['sources_uses.total_uses']}",
        money,
        diff,
    )
    row += 2
    ws.write(row, 0, "Memo: not paid from the proceeds at issue", styles.bold)
    for i, item in enumerate(MEMO):
        ws.write_string(row + 1 + i, 0, item.label)
        ws.write_formula(
            row + 1 + i, 1, item.expr.formula(env), money, values[f"sources_uses.{item.key}"]
        )
        layout.cells[f"sources_uses.{item.key}"] = ref(SOURCES_USES_SHEET, row + 1 + i, 1)
    ws.freeze_panes(HEAD + 1, 0)
