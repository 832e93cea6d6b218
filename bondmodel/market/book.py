"""``match --output FILE.xlsx``: the ranked partnerships as a workbook of values.

A report, not a model: its figures are values (each group's model is the scenario
``--write`` makes, whose workbook ``run`` writes with live formulas). Sheets: Ranking (the
table and each group's reason), Shares (every group's split by each rule and its core
check), Lines (each shared line's participants and figures), Economics (the figures used,
with their sources) and About (the register's SHA-256 and the command).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import xlsxwriter

from bondmodel import __version__
from bondmodel.io import XLSX_OPTIONS, atomic_write
from bondmodel.market.economics import economics_json
from bondmodel.market.match import MatchResult
from bondmodel.market.report import core_word, line_details, why
from bondmodel.market.shares import RULES

MONEY = "£#,##0;[Red](£#,##0)"


def write_match_book(result: MatchResult, path: Path, rule: str, command: str) -> Path:
    """Write the workbook of ``result`` to ``path`` atomically."""

    def write(tmp: Path) -> None:
        wb = xlsxwriter.Workbook(str(tmp), XLSX_OPTIONS)
        f = {
            "title": wb.add_format({"bold": True, "font_size": 14}),
            "head": wb.add_format(
                {
                    "bold": True,
                    "text_wrap": True,
                    "valign": "top",
                    "bottom": 1,
                    "bg_color": "#DDEBF7",
                }
            ),
            "money": wb.add_format({"num_format": MONEY, "valign": "top"}),
            "years": wb.add_format({"num_format": "0.0", "valign": "top"}),
            "km": wb.add_format({"num_format": "#,##0", "valign": "top"}),
            "top": wb.add_format({"valign": "top"}),
            "right": wb.add_format({"valign": "top", "align": "right"}),
            "wrap": wb.add_format({"text_wrap": True, "valign": "top"}),
            "note": wb.add_format({"italic": True, "font_color": "#595959"}),
        }
        _ranking(wb, f, result)
        _shares(wb, f, result, rule)
        _lines(wb, f, result)
        _economics(wb, f, result)
        _about(wb, f, result, command)
        for ws in wb.worksheets():
            ws.set_landscape()
            ws.set_paper(9)
            ws.fit_to_pages(1, 0)
            ws.repeat_rows(2)
        wb.close()

    return atomic_write(path, write)


def _height(*cells: tuple[str, int]) -> float:
    """A row's height in points for wrapped texts, each (text, column width in characters):
    the spreadsheet does not grow a written row to fit its text."""
    return 15.0 * max(1, *(math.ceil(len(text) / max(width - 2, 1)) for text, width in cells))


def _table(ws: Any, f: dict[str, Any], row: int, headers: list[tuple[str, int]]) -> None:
    ws.set_row(row, _height(*headers))
    for col, (text, width) in enumerate(headers):
        ws.write(row, col, text, f["head"])
        ws.set_column(col, col, width)
    ws.freeze_panes(row + 1, 0)


def _ranking(wb: Any, f: dict[str, Any], result: MatchResult) -> None:
    ws = wb.add_worksheet("Ranking")
    reg = result.register
    a = result.market.economics.appraisal
    ws.write(0, 0, f"Partnerships ranked from the register {reg.path.name}", f["title"])
    ws.write(
        1,
        0,
        f"NPV: present value over {a.horizon_years} years at {a.discount_rate:.1%} real, "
        "base-date prices; values, not formulas (each group's model is its written scenario)",
        f["note"],
    )
    _table(
        ws,
        f,
        2,
        [
            ("Rank", 6),
            ("Councils", 44),
            ("Lines shared", 8),
            ("Saving a year (£)", 14),
            ("Set-up (£)", 14),
            ("Distance cost a year (£)", 14),
            ("Mean distance (km)", 10),
            ("NPV (£)", 15),
            ("Payback (years)", 9),
            ("Core", 7),
            ("Why it ranks here", 90),
        ],
    )
    for r, g in enumerate(result.groups, start=3):
        names = ", ".join(reg.names[i] for i in g.members)
        reason = why(result, g)
        ws.set_row(r, _height((names, 44), (reason, 90)))
        ws.write_number(r, 0, g.rank, f["top"])
        ws.write_string(r, 1, names, f["wrap"])
        ws.write_number(r, 2, int(g.values.shared[0].sum()), f["top"])
        ws.write_number(r, 3, g.annual_saving, f["money"])
        ws.write_number(r, 4, g.setup, f["money"])
        ws.write_number(r, 5, g.penalty, f["money"])
        ws.write_number(r, 6, float(g.values.mean_km[0]), f["km"])
        ws.write_number(r, 7, g.value, f["money"])
        if g.payback is None:
            ws.write_string(r, 8, "none", f["right"])
        else:
            ws.write_number(r, 8, g.payback, f["years"])
        ws.write_string(r, 9, core_word(g), f["top"])
        ws.write_string(r, 10, reason, f["wrap"])


def _shares(wb: Any, f: dict[str, Any], result: MatchResult, rule: str) -> None:
    ws = wb.add_worksheet("Shares")
    ws.write(0, 0, "Fair shares of each group's NPV", f["title"])
    ws.write(
        1,
        0,
        f"--rule {rule} sets the written scenarios' shares; in core: every member and "
        "coalition at least as well off as on its own",
        f["note"],
    )
    headers = [("Rank", 6), ("Member", 34)]
    headers += [(f"{r.capitalize()} (£)", 15) for r in RULES]
    headers += [("Shapley standard error (£)", 14)]
    headers += [(f"{r.capitalize()} in core", 9) for r in RULES]
    _table(ws, f, 2, headers)
    row = 3
    for g in result.groups:
        fs = g.shares
        for j, i in enumerate(g.members):
            ws.write_number(row, 0, g.rank)
            ws.write_string(row, 1, result.register.names[i])
            for c, r in enumerate(RULES, start=2):
                ws.write_number(row, c, float(fs.payoffs[r][j]), f["money"])
            c = 2 + len(RULES)
            if fs.shapley_error is None:
                ws.write_string(row, c, "exact", f["right"])
            else:
                ws.write_number(row, c, float(fs.shapley_error[j]), f["money"])
            for k, r in enumerate(RULES, start=c + 1):
                if fs.core is None:
                    ws.write_string(row, k, "n/a")
                else:
                    ws.write_string(row, k, "yes" if fs.worst[r][1] <= fs.core.tolerance else "no")
            row += 1


def _lines(wb: Any, f: dict[str, Any], result: MatchResult) -> None:
    ws = wb.add_worksheet("Lines")
    ws.write(0, 0, "The service lines each group shares", f["title"])
    ws.write(1, 0, "participants: members that offer or seek the line", f["note"])
    _table(
        ws,
        f,
        2,
        [
            ("Rank", 6),
            ("Line", 32),
            ("Participants", 50),
            ("Offer", 30),
            ("Seek", 30),
            ("Hosted", 7),
            ("Saving a year (£)", 14),
            ("Set-up (£)", 14),
            ("NPV (£)", 14),
        ],
    )
    row = 3
    for g in result.groups:
        for d in line_details(result, g):
            widths = {"participants": 50, "offer": 30, "seek": 30}
            ws.set_row(row, _height(*((", ".join(d[k]), w) for k, w in widths.items())))
            ws.write_number(row, 0, g.rank, f["top"])
            ws.write_string(row, 1, d["label"], f["top"])
            for c, key in ((2, "participants"), (3, "offer"), (4, "seek")):
                ws.write_string(row, c, ", ".join(d[key]), f["wrap"])
            ws.write_string(row, 5, "yes" if d["hosted"] else "no", f["top"])
            for c, key in ((6, "annual_saving"), (7, "setup"), (8, "npv")):
                ws.write_number(row, c, d[key], f["money"])
            row += 1


def _economics(wb: Any, f: dict[str, Any], result: MatchResult) -> None:
    ws = wb.add_worksheet("Economics")
    data = economics_json(result.market.economics)
    ws.write(0, 0, "Scale economics used (docs/methodology.md section 25.2)", f["title"])
    ws.write(1, 0, f"source: {data['source']}", f["note"])
    keys = [k for k in next(iter(data["lines"].values())) if k != "source"]
    _table(ws, f, 2, [("Line", 26), *[(k.replace("_", " "), 12) for k in keys], ("Source", 80)])
    row = 3
    for line, values in data["lines"].items():
        if line not in result.market.lines:
            continue
        ws.write_string(row, 0, line)
        for c, k in enumerate(keys, start=1):
            ws.write_number(row, c, values[k])
        ws.write_string(row, len(keys) + 1, values["source"])
        row += 1
    row += 1
    ws.write(row, 0, "Appraisal", f["head"])
    for k, v in data["appraisal"].items():
        row += 1
        ws.write_string(row, 0, k.replace("_", " "))
        ws.write_number(row, 1, v)


def _about(wb: Any, f: dict[str, Any], result: MatchResult, command: str) -> None:
    ws = wb.add_worksheet("About")
    ws.set_column(0, 0, 24)
    ws.set_column(1, 1, 100)
    ws.write(0, 0, "How this workbook was made", f["title"])
    ranked = result.ranked
    rows = [
        ("Command", command),
        ("Register", str(result.register.path)),
        ("Register SHA-256", hashlib.sha256(result.register.path.read_bytes()).hexdigest()),
        ("Councils", f"{result.register.size:,}"),
        ("Search", f"{ranked.method}: {ranked.valued:,} of {ranked.candidates:,} groups valued"),
        ("Sampled Shapley seed", "none" if result.seed is None else str(result.seed)),
        ("bondmodel", __version__),
    ]
    for r, (label, value) in enumerate(rows, start=2):
        ws.write_string(r, 0, label, f["head"])
        ws.write_string(r, 1, value, f["wrap"])
