"""One-off costs item by item on the Cashflows sheet, as live formulas over the inputs.

For cost item i in period t (nominal): the timing weight w from its timing
inputs; base = amount x w x (the price index if indexed, else 1); contingency
= base x contingency; optimism bias = (base + contingency) x the effective
uplift (the explicit optimism_bias, else the band's upper bound x (1 -
mitigation), the band from ob_band or the category's default). The totals
rows on Cashflows sum these rows.
"""

from __future__ import annotations

import numpy as np
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.worksheet import Worksheet

from bondmodel.engine import Results
from bondmodel.programme import cost_weights
from bondmodel.workbook.inputs import defined_name
from bondmodel.workbook.layout import FIRST_PERIOD_COL, Layout
from bondmodel.workbook.styles import Styles

#: The item rows written per cost, in order.
ITEM_ROWS = ("weight", "base", "contingency", "optimism_bias")


class _ItemFormulas:
    """The formulas of one cost item's rows, by column."""

    def __init__(self, i: int, rows: dict[str, int], t_row: int, idx_row: int):
        self.i = i
        self.rows = rows
        self.t_row = t_row
        self.idx_row = idx_row

    def name(self, field: str) -> str:
        return defined_name(f"costs[{self.i}].{field}")

    def own(self, kind: str, col: int) -> str:
        return str(xl_rowcol_to_cell(self.rows[kind], col))

    def t(self, col: int) -> str:
        return f"Timeline!{xl_rowcol_to_cell(self.t_row, col)}"

    def uplift_cell(self) -> str:
        return str(xl_rowcol_to_cell(self.rows["optimism_bias"], 2, True, True))

    def uplift(self) -> str:
        """The effective optimism bias: explicit, else band upper x (1 - mitigation)."""
        n = self.name
        band = (
            f"IF(ISBLANK({n('ob_band')}),INDEX(category_bands,MATCH({n('category')},"
            f"category_names,0)),{n('ob_band')})"
        )
        return (
            f"=IF(ISBLANK({n('optimism_bias')}),INDEX(ob_band_upper,MATCH({band},"
            f"ob_band_names,0))*(1-{n('ob_mitigation')}),{n('optimism_bias')})"
        )

    def formula(self, kind: str, col: int) -> str:
        n, t = self.name, self.t(col)
        if kind == "weight":
            # one formula for every timing: a flag per timing times its weight
            timing = n("timing")
            default = f'IF({timing}="spread",conv_spread_start,conv_profile_start)'
            s = f"IF(ISBLANK({n('start_period')}),{default},{n('start_period')})"
            periods = f"N({n('periods')})"
            profile = n("profile")
            return (
                f'=({timing}="at_close")*({t}=0)'
                f'+({timing}="spread")*({t}>={s})*({t}<{s}+{periods})/MAX({periods},1)'
                f'+({timing}="profile")*IF(AND({t}>={s},{t}<{s}+COUNT({profile})),'
                f"INDEX({profile},1,{t}-{s}+1),0)"
            )
        if kind == "base":
            idx = f"Timeline!{xl_rowcol_to_cell(self.idx_row, col)}"
            return (
                f"={n('amount')}*{self.own('weight', col)}*({n('indexed')}*{idx}"
                f"+(1-{n('indexed')}))"
            )
        if kind == "contingency":
            return f"={self.own('base', col)}*{n('contingency')}"
        return f"=({self.own('base', col)}+{self.own('contingency', col)})*{self.uplift_cell()}"


def cost_item_rows(
    ws: Worksheet, styles: Styles, results: Results, layout: Layout, top: int
) -> dict[str, list[int]]:
    """Write each cost item's rows from ``top``; returns the rows of each kind, by item."""
    sc = results.scenario
    n = results.timeline.n_periods + 1
    index = results.flows.price_index[0]
    out: dict[str, list[int]] = {kind: [] for kind in ITEM_ROWS}
    if not sc.costs:
        return out
    ws.write(top, 0, "One-off costs by item (nominal)", styles.header)
    row = top + 1
    for i, item in enumerate(sc.costs):
        rows = {kind: row + k for k, kind in enumerate(ITEM_ROWS)}
        row += len(ITEM_ROWS)
        formulas = _ItemFormulas(
            i, rows, layout.row_numbers["timeline.t"],
            layout.row_numbers["timeline.price_index"],
        )
        w = cost_weights(item, results.timeline.n_periods)
        base = item.amount * w * (index if item.indexed else np.ones(n))
        cont = base * item.contingency
        values = {
            "weight": w,
            "base": base,
            "contingency": cont,
            "optimism_bias": (base + cont) * item.effective_optimism_bias,
        }
        for kind in ITEM_ROWS:
            r = rows[kind]
            ws.write_string(r, 0, f"{item.name}: {kind.replace('_', ' ')}")
            fmt = styles.unit("factor" if kind == "weight" else "money")
            for j in range(n):
                col = FIRST_PERIOD_COL + j
                ws.write_formula(r, col, formulas.formula(kind, col), fmt, float(values[kind][j]))
            out[kind].append(r)
        ws.write_string(rows["optimism_bias"], 1, "uplift", styles.note)
        ws.write_formula(
            rows["optimism_bias"], 2, formulas.uplift(), styles.unit("rate"),
            item.effective_optimism_bias,
        )
    return out


def running_cost_rows(
    ws: Worksheet, styles: Styles, results: Results, layout: Layout, top: int
) -> list[int]:
    """Each running cost's row as a live formula; returns the rows (for the total).

    Notes
    -----
    Per period: annual amount / f while the programme year is within
    [start_year, end_year (default: the horizon)], times the indexation: the
    price index for 'inflation', 1 for 'none', or (1 + rate)^(offset + years).
    """
    sc = results.scenario
    tl = results.timeline
    n = tl.n_periods + 1
    out: list[int] = []
    if not sc.running_costs:
        return out
    ws.write(top, 0, "Running costs by item (nominal)", styles.header)
    rownum = layout.row_numbers
    for i, rc in enumerate(sc.running_costs):
        r = top + 1 + i
        out.append(r)

        def name(field: str, i: int = i) -> str:
            return defined_name(f"running_costs[{i}].{field}")

        last = rc.end_year if rc.end_year is not None else sc.timeline.horizon_years
        active = (tl.programme_year >= rc.start_year) & (tl.programme_year <= last)
        if rc.indexation == "inflation":
            growth = results.flows.price_index[0]
        elif rc.indexation == "none":
            growth = np.ones(n)
        else:
            growth = (1.0 + float(rc.indexation)) ** (tl.price_offset_years + tl.years)
        values = rc.annual_amount / tl.f * active * growth
        ws.write_string(r, 0, f"{rc.name}: running cost")
        for j in range(n):
            col = FIRST_PERIOD_COL + j
            year = f"Timeline!{xl_rowcol_to_cell(rownum['timeline.programme_year'], col)}"
            years = f"Timeline!{xl_rowcol_to_cell(rownum['timeline.years'], col)}"
            idx = f"Timeline!{xl_rowcol_to_cell(rownum['timeline.price_index'], col)}"
            end = f"IF(ISBLANK({name('end_year')}),in_timeline_horizon_years,{name('end_year')})"
            index = indexation_formula(name("indexation"), years, idx)
            formula = (
                f"={name('annual_amount')}/tl_f*AND({year}>={name('start_year')},"
                f"{year}<={end})*{index}"
            )
            ws.write_formula(r, col, formula, styles.unit("money"), float(values[j]))
    return out


def indexation_formula(indexation: str, years: str, idx: str) -> str:
    """The indexation multiplier of an input: price index, 1, or its own rate from the base date.

    ``indexation`` is the input's defined name, ``years`` and ``idx`` the
    period's years-after-close and price-index cells.
    """
    return (
        f"IF(ISNUMBER({indexation}),(1+{indexation})^(tl_offset+{years}),"
        f'IF({indexation}="inflation",{idx},1))'
    )
