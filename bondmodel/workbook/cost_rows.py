"""One-off costs item by item on the Cashflows sheet, as live formulas over the inputs.

For cost item i in period t (nominal): the timing weight w from its timing
inputs; base = amount x w x (the price index if indexed, else 1); contingency
= base x contingency; optimism bias = (base + contingency) x the effective
uplift (the explicit optimism_bias, else the band's upper bound x (1 -
mitigation), the band from ob_band or the category's default). The totals
rows on Cashflows sum these rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.worksheet import Worksheet

from bondmodel.engine import Results
from bondmodel.programme import cost_weights
from bondmodel.workbook.inputs import defined_name
from bondmodel.workbook.layout import Layout
from bondmodel.workbook.rows import Grid, Line, same, write_lines
from bondmodel.workbook.styles import Styles

#: The item rows written per cost, in order.
ITEM_ROWS = ("weight", "base", "contingency", "optimism_bias")


def _uplift(name: Callable[[str], str]) -> str:
    """The effective optimism bias: explicit, else band upper x (1 - mitigation)."""
    band = (
        f"IF(ISBLANK({name('ob_band')}),INDEX(category_bands,MATCH({name('category')},"
        f"category_names,0)),{name('ob_band')})"
    )
    return (
        f"=IF(ISBLANK({name('optimism_bias')}),INDEX(ob_band_upper,MATCH({band},"
        f"ob_band_names,0))*(1-{name('ob_mitigation')}),{name('optimism_bias')})"
    )


def _item_templates(name: Callable[[str], str], key: str, uplift: str) -> dict[str, str]:
    """The row templates of one cost item (rows ``{key}.weight`` ...)."""
    t = "{timeline.t}"
    # one formula for every timing: a flag per timing times its weight
    timing = name("timing")
    default = f'IF({timing}="spread",conv_spread_start,conv_profile_start)'
    s = f"IF(ISBLANK({name('start_period')}),{default},{name('start_period')})"
    periods = f"N({name('periods')})"
    profile = name("profile")
    return {
        "weight": (
            f'=({timing}="at_close")*({t}=0)'
            f'+({timing}="spread")*({t}>={s})*({t}<{s}+{periods})/MAX({periods},1)'
            f'+({timing}="profile")*IF(AND({t}>={s},{t}<{s}+COUNT({profile})),'
            f"INDEX({profile},1,{t}-{s}+1),0)"
        ),
        "base": (
            f"={name('amount')}*{{{key}.weight}}*({name('indexed')}*{{timeline.price_index}}"
            f"+(1-{name('indexed')}))"
        ),
        "contingency": f"={{{key}.base}}*{name('contingency')}",
        "optimism_bias": f"=({{{key}.base}}+{{{key}.contingency}})*{uplift}",
    }


def timeline_rows(layout: Layout, *keys: str) -> dict[str, int | tuple[str, int]]:
    """The Timeline rows ``keys`` for a grid of another sheet (``{timeline.key}``)."""
    return {f"timeline.{key}": ("Timeline", layout.row_numbers[f"timeline.{key}"]) for key in keys}


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
    grid = Grid(timeline_rows(layout, "t", "price_index"), n)
    lines: list[Line] = []
    for i, item in enumerate(sc.costs):
        key = f"cost{i}"
        rows = {kind: top + 1 + len(ITEM_ROWS) * i + k for k, kind in enumerate(ITEM_ROWS)}
        grid.rows.update({f"{key}.{kind}": r for kind, r in rows.items()})

        def name(field: str, i: int = i) -> str:
            return defined_name(f"costs[{i}].{field}")

        uplift_cell = str(xl_rowcol_to_cell(rows["optimism_bias"], 2, True, True))
        templates = _item_templates(name, key, uplift_cell)
        w = cost_weights(item, results.timeline.n_periods)
        base = item.amount * w * (index if item.indexed else np.ones(n))
        cont = base * item.contingency
        values = {
            "weight": w,
            "base": base,
            "contingency": cont,
            "optimism_bias": (base + cont) * item.effective_optimism_bias,
        }
        lines += [
            same(
                f"{key}.{kind}",
                f"{item.name}: {kind.replace('_', ' ')}",
                "factor" if kind == "weight" else "money",
                templates[kind],
                values=values[kind],
            )
            for kind in ITEM_ROWS
        ]
        for kind in ITEM_ROWS:
            out[kind].append(rows[kind])
        ws.write_string(rows["optimism_bias"], 1, styles.unit_words("rate"), styles.note)
        ws.write_formula(
            rows["optimism_bias"],
            2,
            _uplift(name),
            styles.unit("rate"),
            item.effective_optimism_bias,
        )
    write_lines(ws, styles, lines, grid, layout, "Cashflows", units=False)
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
    grid = Grid(timeline_rows(layout, "programme_year", "years", "price_index"), n)
    lines: list[Line] = []
    for i, rc in enumerate(sc.running_costs):
        r = top + 1 + i
        out.append(r)
        grid.rows[f"running{i}"] = r

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
        year = "{timeline.programme_year}"
        end = f"IF(ISBLANK({name('end_year')}),in_timeline_horizon_years,{name('end_year')})"
        index = indexation_formula(name("indexation"), "{timeline.years}", "{timeline.price_index}")
        lines.append(
            same(
                f"running{i}",
                f"{rc.name}: running cost",
                "money",
                f"={name('annual_amount')}/tl_f*AND({year}>={name('start_year')},"
                f"{year}<={end})*{index}",
                values=rc.annual_amount / tl.f * active * growth,
            )
        )
    write_lines(ws, styles, lines, grid, layout, "Cashflows", units=False)
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
