"""What the design tools show a person: terminal tables and the sweep's heat maps.

The tables carry the measures' labels in words and values in their units, equal to the
numbers of ``--json``; the best value of each measure is marked by the measure's own better
direction; each heat map is coloured by that direction and says so; its axes carry the
varied fields' labels and values in the fields' units.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bondmodel.cli import main
from bondmodel.design.measures import parse_measure
from bondmodel.design.report import BAD, GOOD, PLAIN_HIGH, PLAIN_LOW
from bondmodel.design.study import KEY_MEASURES
from bondmodel.display import format_value, text_table

from .conftest import ROOT

TEMPLATE = ROOT / "templates" / "shared-services.toml"
PATHS = "300"
SEED = "5"
MEASURES = ("P50(council_npv)", "P(shortfall)", "investor_irr", "principal")


def _line(out: str, label: str) -> str:
    """The table row whose first column is ``label``."""
    found = [line for line in out.splitlines() if line.startswith(label + "  ")]
    assert len(found) == 1, (label, out)
    return found[0]


def _cells(line: str) -> list[str]:
    """A table row's cells (columns are two or more spaces apart); a best marker stays on
    its value."""
    return [c.strip() for c in line.split("  ") if c.strip()]


@pytest.fixture(scope="module")
def eip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("design") / "eip.toml"
    text = TEMPLATE.read_text(encoding="utf-8")
    path.write_text(
        text.replace('repayment = { type = "annuity" }', 'repayment = { type = "eip" }'),
        encoding="utf-8",
    )
    return path


def test_compare_prints_a_table_with_labels_units_and_best_by_direction(
    eip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["compare", str(TEMPLATE), str(eip), "--paths", PATHS, "--seed", SEED]
    assert main([*args, "-o", str(tmp_path / "a.xlsx"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert main([*args, "-o", str(tmp_path / "b.xlsx")]) == 0
    out = capsys.readouterr().out
    assert not out.lstrip().startswith("{")
    labels = ["shared-services", "eip"]
    header = next(line for line in out.splitlines() if line.startswith("Measure"))
    assert _cells(header) == ["Measure", "Better", *labels]
    # a value the table shows is the result's own number, in its unit
    median = data["measures"]["P50(council_npv)"]
    row = _cells(_line(out, "Council NPV after debt service, P50"))
    assert row[1] == "higher (council)"
    for label, cell in zip(labels, row[2:], strict=True):
        assert cell.rstrip(" *") == format_value(median[label]["value"], "money")
        assert cell.startswith("£")
    # a lower-is-better measure: the structure with the lower probability is marked, only it
    shortfall = data["measures"]["P(shortfall)"]
    values = [shortfall[label]["value"] for label in labels]
    assert values[0] != values[1], values
    lower = values.index(min(values))
    row = _cells(_line(out, "Probability of a shortfall"))
    assert row[1] == "lower (both)"
    assert row[2 + lower] == format_value(values[lower], "rate") + " *"
    assert row[3 - lower] == format_value(values[1 - lower], "rate")
    assert row[2 + lower].endswith("% *")
    # investor IRR: better for investors, not for the council; a ratio shows as 2.00x
    assert (
        _cells(_line(out, "Investor IRR (annual effective), base case"))[1] == "higher (investors)"
    )
    assert _cells(_line(out, "Minimum DSCR, P10"))[2].rstrip(" *").endswith("x")
    # the share-of-paths table: the annuity's council NPV beats the EIP's on every path
    assert data["pathwise_share_better"]["shared-services"]["eip"] == 1.0
    assert _cells(_line(out, "shared-services"))[1:] == ["-", "100.00%"]
    # the workbook says the same in words: labels, and what is best for the council
    sheet = openpyxl.load_workbook(tmp_path / "b.xlsx")["Comparison"]
    column = [c.value for c in sheet["A"]]
    assert "Probability of a shortfall" in column and "P(shortfall)" not in column
    assert f"{labels[lower]} has the lowest probability of a shortfall" in column
    assert (
        openpyxl.load_workbook(tmp_path / "b.xlsx")["S-curves"]["A1"].value
        == "S-curves of the council NPV after debt service (percentiles over the paths)"
    )


def test_compare_json_best_is_still_the_council_s(
    eip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json keeps its meaning: "best" is best for the council, so a measure the council
    does not count (the investors' IRR, the principal) names no best structure."""
    old = {  # the council's directions before the BETTER table replaced them
        "principal": 0,
        "investor_irr": 0,
        "npv": 1,
        "council_npv": 1,
        "min_dscr": 1,
        "council_npv_vs_pwlb": 1,
        "P(shortfall)": -1,
        "P(investor_loss)": -1,
        "P(total_topup)": -1,
        "P(council_npv_vs_pwlb < 0)": -1,
        "P50(investor_irr)": 0,
    }
    for text, sign in old.items():
        better = parse_measure(text).better
        assert (better.sign if better.council else 0) == sign, text
    assert all(parse_measure(text).better.whom for text in KEY_MEASURES)
    assert parse_measure("P(npv < 0)").better.sign == -parse_measure("npv").better.sign


def test_sweep_prints_a_table_and_colours_each_heat_map_by_its_measure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "sweep",
        str(TEMPLATE),
        "--vary",
        "bond.coupon.rate=0.04,0.06",
        "--vary",
        "bond.tenor_years=8,10",
        "--paths",
        PATHS,
        "--seed",
        SEED,
    ]
    for m in MEASURES:
        args += ["--measure", m]
    book = tmp_path / "s.xlsx"
    assert main([*args, "-o", str(tmp_path / "j.xlsx"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert main([*args, "-o", str(book)]) == 0
    out = capsys.readouterr().out
    # the table: fields and measures in words, one row per grid cell, values in units
    assert "Coupon rate" in out and "Tenor" in out and "Probability of a" in out
    assert "bond.coupon.rate" not in out and "P(shortfall)" not in out
    table = data["table"]
    rows = [_cells(line) for line in out.splitlines() if line.startswith(("4.00%", "6.00%"))]
    assert [r[:2] for r in rows] == [
        ["4.00%", "8 years"],
        ["4.00%", "10 years"],
        ["6.00%", "8 years"],
        ["6.00%", "10 years"],
    ]
    for row, cell in zip(rows, table, strict=True):
        assert row[2].rstrip(" *") == format_value(cell["P50(council_npv)"], "money")
        assert row[3].rstrip(" *") == format_value(cell["P(shortfall)"], "rate")
    shortfall = [cell["P(shortfall)"] for cell in table]
    best = {k for k, v in enumerate(shortfall) if v == min(shortfall)}
    assert best != set(range(4))
    assert {k for k, row in enumerate(rows) if row[3].endswith(" *")} == best
    # the principal has no better direction: no cell is marked
    assert not any(row[5].endswith("*") for row in rows)

    ws = openpyxl.load_workbook(book)["Heat maps"]
    scales = _colour_scales(ws)
    assert list(scales) == list(MEASURES)
    higher, lower = scales["P50(council_npv)"], scales["P(shortfall)"]
    assert (higher["min"], higher["max"]) == (BAD, GOOD)
    assert (lower["min"], lower["max"]) == (GOOD, BAD)  # reversed: lower is better
    assert (scales["investor_irr"]["min"], scales["investor_irr"]["max"]) == (BAD, GOOD)
    assert (scales["principal"]["min"], scales["principal"]["max"]) == (PLAIN_LOW, PLAIN_HIGH)
    assert lower["legend"] == (
        "Green = lower, better for investors and the council; red = "
        "higher, worse for investors and the council"
    )
    assert scales["investor_irr"]["legend"].startswith("Green = higher, better for investors;")
    assert "neither is better" in scales["principal"]["legend"]
    # the axes: both fields named in words, values in the fields' units
    block = lower["top"]
    assert ws.cell(block + 2, 1).value == "Coupon rate \\ Tenor"
    assert [ws.cell(block + 2, c).value for c in (2, 3)] == ["Tenor: 8 years", "Tenor: 10 years"]
    assert [ws.cell(block + r, 1).value for r in (3, 4)] == ["4.00%", "6.00%"]
    assert ws.cell(block + 3, 2).value == pytest.approx(shortfall[0])
    sweep = openpyxl.load_workbook(book)["Sweep"]
    assert [sweep.cell(4, c).value for c in (1, 2, 3)] == [
        "Coupon rate",
        "Tenor",
        "Council NPV after debt service, P50",
    ]


def _colour_scales(ws: Any) -> dict[str, dict[str, Any]]:
    """Each heat map's measure (as written, at the end of its title), first row, legend and
    the colours of its scale's lowest and highest values (#RRGGBB), in sheet order."""
    out: dict[str, dict[str, Any]] = {}
    for cf in ws.conditional_formatting:
        (rule,) = cf.rules
        colours = ["#" + c.rgb[-6:] for c in rule.colorScale.color]
        top = min(r.min_row for r in cf.sqref.ranges) - 3
        title = ws.cell(top, 1).value
        (measure,) = [m for m in MEASURES if title.endswith(f"({m})")]
        out[measure] = {
            "min": colours[0],
            "max": colours[-1],
            "top": top,
            "legend": ws.cell(top + 1, 1).value,
        }
    return dict(sorted(out.items(), key=lambda kv: kv[1]["top"]))


def test_solve_prints_the_answer_and_its_constraints_in_units(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "solve",
                str(TEMPLATE),
                "--find",
                "bond.coupon.rate",
                "--minimise",
                "--constraint",
                "P(shortfall) <= 0.5",
                "--constraint",
                "P10(min_dscr) >= 0",
                "--paths",
                PATHS,
                "--seed",
                SEED,
                "-o",
                str(tmp_path / "s.xlsx"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("smallest coupon rate (bond.coupon.rate) meeting every constraint: ")
    assert "% (0." in first or "% (0)" in first  # a rate, then the number to type
    row = _cells(_line(out, "Probability of a shortfall"))
    assert row[1] == "<= 50.00%" and row[2].endswith("%")
    search = openpyxl.load_workbook(tmp_path / "s.xlsx")["Search"]
    assert search["A3"].value == "Coupon rate (bond.coupon.rate)"
    assert search["A4"].number_format == "0.00%"  # the field's values in its unit


def test_values_are_formatted_by_unit_and_wide_tables_split() -> None:
    assert format_value(-406_197.4, "money") == "(£406,197)"
    assert format_value(-0.4, "money") == "£0"  # no bracketed zero
    assert format_value(88_333_174.2, "money", "EUR") == "EUR 88,333,174"
    assert format_value(0.04, "rate") == "4.00%"
    assert format_value(2.2449, "ratio") == "2.24x"
    assert format_value(8.0, "years") == "8 years"
    assert format_value(2.25, "years") == "2.2 years"
    assert format_value(float("nan"), "money") == format_value(None, "rate") == "n/a"
    text = text_table(
        ["Key", *(f"Measure {i}" for i in range(6))],
        [["row", *("£88,333,174" for _ in range(6))]],
        keep=1,
        width=60,
    )
    parts = text.split("\n\n")
    assert len(parts) > 1
    assert all(p.splitlines()[-1].startswith("row") for p in parts)  # the key repeats
    assert all(len(line) <= 60 for line in text.splitlines())
