"""Savings streams on the Cashflows sheet, as live formulas over the inputs.

Per stream s and period t: steady-state saving S (pounds, or a share of the
named partners' spend), the active share of the period (between the start
delay and the end year), the ramp (linear, explicit or S-curve, at the
period end), the erosion factor (measured at the period start) and the
indexation; savings = S / f x active x ramp x erosion x index. As the engine.
"""

from __future__ import annotations

import numpy as np
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from bondmodel.engine import Results
from bondmodel.programme import ramp_fraction, steady_state_savings
from bondmodel.workbook.cost_rows import indexation_formula, timeline_rows
from bondmodel.workbook.inputs import defined_name
from bondmodel.workbook.layout import Layout
from bondmodel.workbook.rows import Grid, Line, same, write_lines
from bondmodel.workbook.styles import Styles

STREAM_ROWS = ("active", "ramp", "erosion", "savings")


def savings_rows(
    wb: Workbook, ws: Worksheet, styles: Styles, results: Results, layout: Layout, top: int
) -> list[int]:
    """Write the partner helper block and each stream's rows; returns the savings rows."""
    sc = results.scenario
    tl = results.timeline
    n = tl.n_periods + 1
    out: list[int] = []
    if not sc.savings:
        return out
    # Partner names and spend as ranges, for the share-of-spend streams.
    ws.write(top, 0, "Partners' baseline expenditure", styles.header)
    for i, partner in enumerate(sc.partners):
        r = top + 1 + i
        ws.write_formula(r, 0, f"={defined_name(f'partners[{i}].name')}", None, partner.name)
        ws.write_formula(
            r,
            2,
            f"={defined_name(f'partners[{i}].baseline_expenditure')}",
            styles.unit("money"),
            partner.baseline_expenditure,
        )
    first, last = top + 1, top + len(sc.partners)
    wb.define_name("cf_partner_names", f"=Cashflows!$A${first + 1}:$A${last + 1}")
    wb.define_name("cf_partner_spend", f"=Cashflows!$C${first + 1}:$C${last + 1}")
    row = last + 2
    ws.write(row, 0, "Savings by stream (nominal)", styles.header)
    row += 1
    steady = steady_state_savings(sc)
    t = tl.t.astype(np.float64)
    f = float(tl.f)
    grid = Grid(timeline_rows(layout, "t", "years", "price_index"), n)
    lines: list[Line] = []
    for s, stream in enumerate(sc.savings):
        rows = {kind: row + k for k, kind in enumerate(STREAM_ROWS)}
        row += len(STREAM_ROWS)
        key = f"stream{s}"
        grid.rows.update({f"{key}.{kind}": r for kind, r in rows.items()})

        def name(field: str, s: int = s) -> str:
            return defined_name(f"savings[{s}].{field}")

        d = stream.start_delay_years
        end = stream.end_year if stream.end_year is not None else np.inf
        active = np.clip(np.minimum(t, end * f) - np.maximum(t - 1.0, d * f), 0.0, 1.0)
        active[0] = 0.0
        tau = t / f - d
        values = {
            "active": active,
            "ramp": ramp_fraction(stream.ramp, tau),
            "erosion": np.power(1.0 - stream.erosion, np.maximum(0.0, (t - 1.0) / f - d)),
            "savings": results.flows.stream_savings[0, s],
        }
        steady_cell = str(xl_rowcol_to_cell(rows["savings"], 2, True, True))
        tt = "{timeline.t}"
        delay = name("start_delay_years")
        end_f = f"IF(ISBLANK({name('end_year')}),conv_no_end,{name('end_year')})"
        templates = {
            "active": (
                f"=IF({tt}=0,0,MAX(0,MIN(1,MIN({tt},{end_f}*tl_f)-MAX({tt}-1,{delay}*tl_f))))"
            ),
            "ramp": "=" + _ramp(s, f"({{timeline.years}}-{delay})"),
            "erosion": f"=(1-{name('erosion')})^MAX(0,({tt}-1)/tl_f-{delay})",
            "savings": (
                f"={steady_cell}/tl_f*{{{key}.active}}*{{{key}.ramp}}*{{{key}.erosion}}*"
                + indexation_formula(
                    name("indexation"), "{timeline.years}", "{timeline.price_index}"
                )
            ),
        }
        lines += [
            same(
                f"{key}.{kind}",
                f"{stream.name}: {kind}",
                "money" if kind == "savings" else "factor",
                templates[kind],
                values=values[kind],
            )
            for kind in STREAM_ROWS
        ]
        members = (
            f"IF(COUNTA({name('partners')})=0,SUM(cf_partner_spend),"
            f"SUMPRODUCT(ISNUMBER(MATCH(cf_partner_names,{name('partners')},0))"
            f"*cf_partner_spend))"
        )
        ws.write_string(rows["savings"], 1, styles.unit_words("money", "real"), styles.note)
        ws.write_formula(
            rows["savings"],
            2,
            f"=IF(ISBLANK({name('annual_amount')}),{name('pct_of_expenditure')}*{members},"
            f"{name('annual_amount')})",
            styles.unit("money"),
            float(steady[s]),
        )
        out.append(rows["savings"])
    write_lines(ws, styles, lines, grid, layout, "Cashflows", units=False)
    return out


#: The ramp types, in the order of _ramp's CHOOSE.
RAMP_TYPES = ("linear", "explicit", "s_curve")


def _ramp(s: int, tau: str) -> str:
    """The ramp fraction at time ``tau`` after savings start, for whichever ramp type the
    stream's input names (as the engine). CHOOSE evaluates only the chosen type's formula,
    so the inputs another type needs may stay blank."""

    def name(field: str) -> str:
        return defined_name(f"savings[{s}].ramp.{field}")

    n, fr = name("years"), name("fractions")
    k = f"IF(ISBLANK({name('steepness')}),conv_scurve_steepness,{name('steepness')})"
    linear = f"IF(N({n})=0,IF({tau}>0,1,0),MIN(MAX({tau}/{n},0),1))"
    explicit = f"IF({tau}>0,INDEX({fr},1,MIN(MAX(ROUNDUP({tau},0),1),COUNT({fr}))),0)"
    s_curve = (
        f"IF({k}<conv_scurve_linear,MIN(MAX({tau}/{n},0),1),"
        f"(TANH({k}*(MIN(MAX({tau},0),{n})/{n}-0.5)/2)+TANH({k}/4))/(2*TANH({k}/4)))"
    )
    types = ",".join(f'"{t}"' for t in RAMP_TYPES)
    return f"CHOOSE(MATCH({name('type')},{{{types}}},0),{linear},{explicit},{s_curve})"
