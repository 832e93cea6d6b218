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
from bondmodel.labels import BOND_METRICS, PERIOD_COLUMNS
from bondmodel.workbook.layout import Layout, ref
from bondmodel.workbook.rows import Env, Expr, Group, Ref, fn
from bondmodel.workbook.styles import Styles

#: The sheet's name.
SOURCES_USES_SHEET = "Sources and uses"
#: Row (0-based) of the column headings; the lines start below it.
HEAD = 4
#: Columns: sources' label, amount and share of the total; a gap; the same for uses.
SOURCE_COL, USE_COL = 0, 4
#: The notes under the title.
NOTES = (
    "Nominal pounds. The bond finances its financed share of the planned one-off costs, "
    "summed over all periods (docs/methodology.md, section 14).",
    "Live formulas over the Bond sheet's constants, the Inputs and the Cashflows sheet's "
    "one-off cost rows; % is each line's share of its column's total.",
)


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
        "Interest and fees capitalised in grace (added to the balance)",
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
    for col, width in ((SOURCE_COL, 56), (USE_COL, 62)):
        ws.set_column(col, col, width)
        ws.set_column(col + 1, col + 1, 16)
        ws.set_column(col + 2, col + 2, 8)
    ws.set_column(SOURCE_COL + 3, SOURCE_COL + 3, 3)
    ws.write(
        0, 0, f"Sources and uses at issue (base case): {results.scenario.meta.name}", styles.title
    )
    for row, note in enumerate(NOTES, start=1):
        ws.write(row, 0, note, styles.note)
    env = _env(results, layout)
    values = sources_uses_values(results)
    money, share = styles.unit("money"), styles.unit("rate")
    total_row = HEAD + 1 + max(len(SOURCES), len(USES))
    for col, title, items, key in (
        (SOURCE_COL, "Sources", SOURCES, "total_sources"),
        (USE_COL, "Uses", USES, "total_uses"),
    ):
        for j, head in enumerate((title, currency_symbol(results.scenario.meta.currency), "%")):
            ws.write(HEAD, col + j, head, styles.header)
        total = ref(SOURCES_USES_SHEET, total_row, col + 1)
        whole = values[f"sources_uses.{key}"]
        for i, item in enumerate(items):
            row = HEAD + 1 + i
            value = values[f"sources_uses.{item.key}"]
            ws.write_string(row, col, item.label)
            ws.write_formula(row, col + 1, item.expr.formula(env), money, value)
            amount = xl_rowcol_to_cell(row, col + 1)
            ws.write_formula(
                row,
                col + 2,
                f"=IF({total}=0,0,{amount}/{total})",
                share,
                value / whole if whole else 0.0,
            )
            layout.cells[f"sources_uses.{item.key}"] = ref(SOURCES_USES_SHEET, row, col + 1)
        first = xl_rowcol_to_cell(HEAD + 1, col + 1)
        last = xl_rowcol_to_cell(total_row - 1, col + 1)
        ws.write_string(total_row, col, f"Total {title.lower()}", styles.header)
        ws.write_formula(total_row, col + 1, f"=SUM({first}:{last})", styles.total_money, whole)
        ws.write_blank(total_row, col + 2, None, styles.header)
        layout.cells[f"sources_uses.{key}"] = total
    row = total_row + 2
    ws.write_string(row, 0, "Sources less uses (0: the table balances; the Checks sheet tests it)")
    ws.write_formula(
        row,
        1,
        f"={layout.cells['sources_uses.total_sources']}-{layout.cells['sources_uses.total_uses']}",
        money,
        values["sources_uses.total_sources"] - values["sources_uses.total_uses"],
    )
    for key, name in (("gearing", "bd_gearing"), ("funding_gap", "bd_funding_gap")):
        row += 1
        column = BOND_METRICS[key]
        ws.write_string(row, 0, column.label)
        metric = results.bond.metrics[key]
        ws.write_formula(
            row, 1, f"={name}", styles.unit(column.unit), "n/a" if metric is None else metric
        )
        layout.cells[f"sources_uses.{key}"] = ref(SOURCES_USES_SHEET, row, 1)
    row += 2
    ws.write(row, 0, "Memo: not paid from the proceeds at issue", styles.bold)
    for i, item in enumerate(MEMO):
        ws.write_string(row + 1 + i, 0, item.label)
        ws.write_formula(
            row + 1 + i, 1, item.expr.formula(env), money, values[f"sources_uses.{item.key}"]
        )
        layout.cells[f"sources_uses.{item.key}"] = ref(SOURCES_USES_SHEET, row + 1 + i, 1)
    ws.freeze_panes(HEAD + 1, 0)
