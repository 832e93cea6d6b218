"""The first workbook: structure, read-back, formula injection, and LibreOffice recalculation."""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bondmodel import Scenario, load_scenario, run
from bondmodel.labels import (
    BOND_COLUMNS,
    BOND_METRICS,
    PATH_METRICS,
    PERIOD_COLUMNS,
    statistic_label,
)
from bondmodel.workbook.recalc import convert_many
from bondmodel.workbook.writer import FIRST_ITEM_ROW, FIRST_PERIOD_COL, HEADER_KEYS, write_workbook

from .conftest import TEMPLATES

SHEETS = [
    "Cover",
    "Model map",
    "Summary",
    "Inputs",
    "Timeline",
    "Cashflows",
    "Partners",
    "Bond",
    "Sources and uses",
    "Metrics",
    "Risk",
    "Sensitivity",
    "Checks",
    "As run",
    "Audit",
    "Paths",
]


def _item_rows() -> dict[str, int]:
    """1-based worksheet row of each Cashflows line item."""
    keys = [k for k in PERIOD_COLUMNS if k not in HEADER_KEYS]
    return {k: FIRST_ITEM_ROW + 1 + i for i, k in enumerate(keys)}


def _formula_cells(path: Path) -> dict[tuple[str, str], str]:
    wb = openpyxl.load_workbook(path, data_only=False)
    out = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    out[(ws.title, cell.coordinate)] = cell.value
    return out


def _values(path: Path) -> dict[tuple[str, str], Any]:
    wb = openpyxl.load_workbook(path, data_only=True)
    return {
        (ws.title, cell.coordinate): cell.value
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for cell in row
    }


def test_sheets_and_cached_values_read_back(tmp_path: Path) -> None:
    res = run(load_scenario(None), paths=2000, seed=17)
    path = write_workbook(res, tmp_path / "model.xlsx")
    wb = openpyxl.load_workbook(path, data_only=True)
    assert wb.sheetnames == SHEETS
    ws = wb["Cashflows"]
    rows = _item_rows()
    for key in ("capex", "gross_savings", "net_cash_flow", "cumulative_discounted_net_cash_flow"):
        row = rows[key]
        assert ws.cell(row=row, column=1).value == PERIOD_COLUMNS[key].label
        for t, expected in enumerate(res.periods[key]):
            got = ws.cell(row=row, column=FIRST_PERIOD_COL + 1 + t).value
            assert got == pytest.approx(expected, rel=1e-12, abs=1e-9), (key, t)
    metrics = {r[0]: r[1] for r in wb["Metrics"].iter_rows(min_row=5, values_only=True)}
    assert metrics["Net present value of the programme"] == pytest.approx(res.metrics["npv"])
    audit = {r[0]: r[1] for r in wb["Audit"].iter_rows(min_row=3, values_only=True)}
    assert audit["Scenario SHA-256"] == res.scenario.sha256()
    # The bond: every waterfall row reads back to the engine's table.
    assert res.bond is not None
    rows_by_label = {
        row[0]: row for row in wb["Bond"].iter_rows(values_only=True) if row and row[0]
    }
    for key, column in BOND_COLUMNS.items():
        if column.unit in ("money", "ratio", "years"):
            got = rows_by_label[column.label][FIRST_PERIOD_COL:]
            for k, expected in enumerate(res.bond.table[key]):
                if k == 0 and got[k] is None:
                    # nothing happens at issue: the cell is left blank
                    assert expected == 0.0, key
                elif math.isfinite(expected):
                    assert got[k] == pytest.approx(expected, rel=1e-12, abs=1e-9), (key, k)
                else:
                    assert got[k] == "n/a", (key, k)
    # Monte Carlo statistics read back as values, labelled with their seed.
    assert res.risk is not None
    risk_rows = list(wb["Risk"].iter_rows(values_only=True))
    assert "seed 17" in risk_rows[1][0]
    header = risk_rows[3]
    stats_rows = {r[0]: r for r in risk_rows[4 : 4 + len(res.risk.summary.index)]}
    for j, key in enumerate(res.risk.summary.columns):
        if key.startswith("partner_npv_"):
            name = res.scenario.partner_names[int(key.rsplit("_", 1)[1])]
            assert header[1 + j] == f"NPV after debt service: {name}"
        else:
            assert header[1 + j] == PATH_METRICS[key].label
        expected = res.risk.summary.loc["mean", key]
        got = stats_rows[statistic_label("mean")][1 + j]
        if math.isfinite(expected):
            assert got == pytest.approx(expected, rel=1e-12), key
    bond_metrics = {r[0]: r[1] for r in wb["Metrics"].iter_rows(values_only=True) if r[0]}
    assert bond_metrics[BOND_METRICS["investor_irr"].label] == pytest.approx(
        res.bond.metrics["investor_irr"], rel=1e-12
    )


def test_no_nan_reaches_a_cell(make_scenario: Callable[..., Scenario], tmp_path: Path) -> None:
    # BCR is undefined without costs.
    sc = make_scenario(savings=[{"name": "s", "annual_amount": 5.0}])
    res = run(sc)
    assert res.metrics["bcr"] is None
    path = write_workbook(res, tmp_path / "m.xlsx")
    values = _values(path)
    for key, value in values.items():
        if isinstance(value, float):
            assert math.isfinite(value), key
    metrics = {
        r[0]: r[1]
        for r in openpyxl.load_workbook(path, data_only=True)["Metrics"].iter_rows(
            min_row=5, values_only=True
        )
    }
    assert metrics["Benefit-cost ratio"] == "n/a"  # the live formula's cached text


def test_user_text_is_never_a_formula(
    make_scenario: Callable[..., Scenario], tmp_path: Path
) -> None:
    hostile = ["=1+1", "+SUM(A1:A2)", "-2+3", "@cmd", '=HYPERLINK("http://x","y")']
    sc = make_scenario(
        meta={"name": hostile[0], "description": hostile[4]},
        partners=[
            {"name": hostile[1], "baseline_expenditure": 1e6},
            {"name": hostile[2], "baseline_expenditure": 1e6},
        ],
        costs=[{"name": hostile[3], "amount": 10.0, "category": "other"}],
        savings=[{"name": hostile[4], "annual_amount": 100.0}],
    )
    path = write_workbook(run(sc), tmp_path / "m.xlsx")
    formulas = _formula_cells(path)
    for text in hostile:
        assert all(text not in f for f in formulas.values()), text
    # No <f> element carries user text in the stored XML either.
    with zipfile.ZipFile(path) as archive:
        xml = "".join(
            archive.read(n).decode("utf-8") for n in archive.namelist() if "worksheets/" in n
        )
    for formula in re.findall(r"<f>([^<]*)</f>", xml):
        assert not any(text.lstrip("=+-@") in formula for text in hostile[:2]), formula
    wb = openpyxl.load_workbook(path)
    found = {
        cell.value
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for cell in row
        if cell.data_type == "s"
    }
    for text in hostile:
        assert text in found or any(text in str(v) for v in found), text


# ---------------------------------------------------------------------------
# LibreOffice: forced recalculation must reproduce the engine's values
# ---------------------------------------------------------------------------


def _tamper(path: Path, out: Path, sheet_xml: str, wrong: float) -> str:
    """Copy ``path`` to ``out`` with the cached value of the first numeric formula cell (no
    ``t=`` type: not a text or boolean result) set to ``wrong``."""
    with zipfile.ZipFile(path) as src:
        parts = {name: src.read(name) for name in src.namelist()}
    xml = parts[sheet_xml].decode("utf-8")
    match = re.search(r'<c r="([A-Z]+[0-9]+)"(?: s="\d+")?><f>[^<]*</f><v>[^<]+</v>', xml)
    assert match is not None
    cell = match.group(1)
    tampered = re.sub(r"<v>[^<]*</v>", f"<v>{wrong}</v>", match.group(0), count=1)
    parts[sheet_xml] = (xml[: match.start()] + tampered + xml[match.end() :]).encode("utf-8")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in parts.items():
            dst.writestr(name, data)
    return cell


@pytest.mark.spreadsheet
def test_libreoffice_recalculates_to_engine_values(soffice: str, tmp_path: Path) -> None:
    sources = []
    for template in TEMPLATES:
        res = run(load_scenario(template))
        sources.append(write_workbook(res, tmp_path / f"{template.stem}.xlsx"))
    # A deliberately wrong cached value must come back corrected, or the
    # recalculation proves nothing.
    wrong = 123456789.0
    tampered = tmp_path / "tampered.xlsx"
    position = openpyxl.load_workbook(sources[0]).sheetnames.index("Cashflows") + 1
    cell = _tamper(sources[0], tampered, f"xl/worksheets/sheet{position}.xml", wrong)
    assert _values(tampered)[("Cashflows", cell)] == wrong
    out = convert_many([*sources, tampered], tmp_path / "recalc")

    checked = 0
    for source, recalculated in zip(sources, out[:-1], strict=True):
        formulas = _formula_cells(source)
        cached = _values(source)
        fresh = _values(recalculated)
        assert len(formulas) > 100
        for key in formulas:
            expected, got = cached[key], fresh[key]
            if expected in (None, ""):
                # a banner that is empty while the workbook stands (RERUN NEEDED, STALE)
                assert got in (None, ""), (source.name, key, formulas[key], got)
            elif isinstance(expected, bool | str | datetime):
                # checks (TRUE/FALSE), the Cover's check status text, and dates
                assert got == expected, (source.name, key, formulas[key], expected, got)
            else:
                assert isinstance(got, int | float), (source.name, key, got)
                assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-6), (
                    source.name,
                    key,
                    formulas[key],
                    expected,
                    got,
                )
            checked += 1
        # every integrity check is TRUE after LibreOffice recalculates
        assert fresh[("Checks", "B2")] is True
    assert checked > 0
    corrected = _values(out[-1])[("Cashflows", cell)]
    original = _values(sources[0])[("Cashflows", cell)]
    assert corrected != wrong
    assert corrected == pytest.approx(original, rel=1e-12)


def test_cover_checks_charts_and_audit(tmp_path: Path) -> None:
    res = run(load_scenario(None), paths=1000, seed=9)
    path = write_workbook(res, tmp_path / "m.xlsx")
    wb = openpyxl.load_workbook(path, data_only=True)
    cover: dict[str, Any] = {}
    for r in wb["Cover"].iter_rows(values_only=True):
        if r[1] and r[1] not in cover:  # the details come before the contents list
            cover[r[1]] = r[2]
    assert cover["Scenario"] == res.scenario.meta.name
    assert cover["Checks"].startswith("All ") and cover["Checks"].endswith("checks pass")
    # the contents list links to every sheet
    links = {
        c.value: c.hyperlink.location
        for row in wb["Cover"].iter_rows()
        for c in row
        if c.hyperlink is not None
    }
    assert set(links) == set(wb.sheetnames)
    assert links["Bond"] == "'Bond'!A1"
    # every check is TRUE, and the master check is their AND
    checks = [r for r in wb["Checks"].iter_rows(min_row=5, values_only=True) if r[0]]
    assert len(checks) >= 8 and all(r[1] is True for r in checks)
    assert wb["Checks"]["B2"].value is True
    # native charts, not pictures
    with zipfile.ZipFile(path) as archive:
        charts = [n for n in archive.namelist() if n.startswith("xl/charts/chart")]
        pictures = [n for n in archive.namelist() if n.startswith("xl/media/")]
    # Summary 4, Risk: 2 histograms + 2 S-curves + 4 fans, Sensitivity: the tornado and the
    # spider
    assert len(charts) == 14 and not pictures
    # the Audit sheet alone repeats the run: its TOML loads to the same scenario
    audit = list(wb["Audit"].iter_rows(values_only=True))
    start = next(i for i, r in enumerate(audit) if r[0] == "Scenario (TOML)")
    text = "\n".join(r[1] for r in audit[start + 1 :] if r[1] is not None) + "\n"
    import tomllib

    from bondmodel import parse_scenario

    again = parse_scenario(tomllib.loads(text))
    assert again.sha256() == res.scenario.sha256()
    fields = {r[0]: r[1] for r in audit if r[0]}
    assert fields["Seed"] == "9"
    assert fields["Sampler"] == "random"


def test_summary_tiles_show_base_case_over_percentiles(tmp_path: Path) -> None:
    """Each dashboard tile: its label, the base case (a live link to the Metrics sheet) and
    under it the simulation's P10, P50 and P90; a probability's tile its standard error."""
    from bondmodel.headline import BOND_TILES
    from bondmodel.workbook.dashboard import tile_cell

    res = run(load_scenario(None), paths=1000, seed=9)
    path = write_workbook(res, tmp_path / "m.xlsx")
    values = openpyxl.load_workbook(path, data_only=True)["Summary"]
    formulas = openpyxl.load_workbook(path)["Summary"]
    assert res.bond is not None and res.risk is not None
    assert [t.key for t in BOND_TILES] == [
        "npv",
        "council_npv",
        "investor_irr",
        "min_dscr",
        "peak_funding_need",
        "p_any_shortfall",
        "council_npv_vs_pwlb",
        "payback_years",
    ]
    for tile in BOND_TILES:
        big = values[tile_cell(res, tile.key)]
        label = values.cell(row=big.row - 1, column=big.column).value
        below = [values.cell(row=big.row + 2, column=big.column + j).value for j in range(3)]
        assert label == tile.label
        if tile.kind == "probability":
            prob = res.risk.probabilities.loc[tile.key]
            assert big.value == pytest.approx(prob["value"], rel=1e-12)
            assert below[0] == pytest.approx(prob["se"], rel=1e-12)
            continue
        base = res.metrics.get(tile.key, res.bond.metrics.get(tile.key))
        assert big.value == pytest.approx(base, rel=1e-12)
        assert formulas[big.coordinate].value.startswith("='Metrics'!")
        for j, stat in enumerate(("p10", "p50", "p90")):
            assert below[j] == pytest.approx(res.risk.summary.loc[stat, tile.key], rel=1e-12)
    assert '£#,##0.0,,"m"' in values[tile_cell(res, "npv")].number_format


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: Path(p).stem)
def test_inputs_sheet_names_styles_and_documents_every_input(
    template: Path, tmp_path: Path
) -> None:
    from xlsxwriter.utility import xl_col_to_name

    from bondmodel.workbook.as_run import annotation
    from bondmodel.workbook.inputs import (
        CONVENTIONS_HEADING,
        LIST_WIDTH,
        VALUE_COL,
        defined_name,
        flatten,
    )

    res = run(load_scenario(template), paths=0)
    path = write_workbook(res, tmp_path / "m.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["Inputs"]
    rows = {}
    for r in ws.iter_rows(min_row=5):
        if r[0].value == CONVENTIONS_HEADING:
            break
        if r[0].value:
            rows[r[0].value] = r
    expected = flatten(res.scenario)
    assert len(rows) == len(expected)
    fills: dict[str, set[str]] = {"input": set(), "structural": set()}
    last_col = xl_col_to_name(VALUE_COL + LIST_WIDTH - 1)
    for item in expected:
        cells = rows[item.path]
        value_cell = cells[4]
        assert cells[2].value, f"no unit for {item.path}"
        assert cells[3].value, f"no note for {item.path}"
        kind = annotation(item.path, res.scenario)[0]
        fills[kind].add(value_cell.fill.fgColor.rgb)
        if kind == "structural":
            assert str(cells[3].value).startswith("STRUCTURAL"), item.path
        # the defined name points at the value cell (a list: LIST_WIDTH cells across its row,
        # so that a value added at its end is one the formulas see)
        target = wb.defined_names[defined_name(item.path)].attr_text
        if item.is_list:
            assert target == f"Inputs!$E${value_cell.row}:${last_col}${value_cell.row}"
        if isinstance(item.value, tuple):
            n = len(item.value)
            got = [c.value for c in cells[4 : 4 + n]]
            assert got == [float(v) if isinstance(v, int) else v for v in item.value]
        else:
            if not item.is_list:
                assert target == f"Inputs!$E${value_cell.row}"
            if item.value is None:
                assert value_cell.value is None
    # one consistent style per kind, and the two differ
    assert len(fills["input"]) == 1 and len(fills["structural"]) == 1
    assert fills["input"] != fills["structural"]
    # data validation on fields with fixed choices
    validated = {str(dv.sqref) for dv in ws.data_validations.dataValidation}
    assert f"E{rows['timeline.frequency'][4].row}" in validated


TIMELINE_VARIANTS = {
    "nominal_green_book_offset": {
        "meta": {"base_date": date(2024, 11, 17)},
        "timeline": {
            "start_date": date(2026, 6, 15),
            "align_to_financial_year": True,
            "frequency": "quarterly",
            "horizon_years": 40,
        },
        "economics": {"inflation": 0.025, "appraisal_basis": "nominal"},
    },
    "flat_real_monthly": {
        "timeline": {"frequency": "monthly", "horizon_years": 3},
        "economics": {"inflation": 0.03, "discount_basis": "flat", "discount_rate": 0.04},
    },
    "flat_nominal_semiannual": {
        "meta": {"base_date": date(2025, 1, 31)},
        "timeline": {
            "start_date": date(2026, 1, 31),
            "frequency": "semi-annual",
            "horizon_years": 6,
        },
        "economics": {
            "inflation": -0.01,
            "discount_basis": "flat",
            "discount_rate": 0.06,
            "appraisal_basis": "nominal",
        },
    },
}


@pytest.mark.spreadsheet
def test_timeline_and_cashflow_formulas_recalculate_for_varied_timelines(
    soffice: str, make_scenario: Callable[..., Scenario], tmp_path: Path
) -> None:
    sources = []
    for name, changes in TIMELINE_VARIANTS.items():
        sc = make_scenario(
            costs=[
                {"name": "c", "amount": 1e6, "category": "it", "timing": "spread", "periods": 3}
            ],
            partners=[
                {"name": "A", "baseline_expenditure": 6e7},
                {"name": "B", "baseline_expenditure": 4e7},
            ],
            savings=[
                {"name": "s", "annual_amount": 4e5, "ramp": {"type": "linear", "years": 2.0}},
                {
                    "name": "s2",
                    "pct_of_expenditure": 0.01,
                    "partners": ["B"],
                    "allocation": "expenditure",
                    "start_delay_years": 0.5,
                    "end_year": 2.5,
                    "erosion": 0.1,
                    "ramp": {"type": "explicit", "fractions": [0.3, 1.0]},
                    "indexation": 0.02,
                },
                {
                    "name": "s3",
                    "pct_of_expenditure": 0.002,
                    "indexation": "none",
                    "ramp": {"type": "s_curve", "years": 1.5, "steepness": 3.0},
                },
                # nearly straight S-curves: either side of the linear limit, and one so
                # flat that TANH(k/4) would underflow to a division by zero
                *(
                    {
                        "name": f"flat{i}",
                        "annual_amount": 1e5,
                        "ramp": {"type": "s_curve", "years": 2.0, "steepness": k},
                    }
                    for i, k in enumerate((2e-6, 5e-7, 1e-300, 1e-320))
                ),
            ],
            running_costs=[
                {
                    "name": "flat",
                    "annual_amount": 1e5,
                    "start_year": 2,
                    "end_year": 3,
                    "indexation": "none",
                },
                {"name": "own rate", "annual_amount": 5e4, "indexation": 0.035},
            ],
            **changes,
        )
        sources.append(write_workbook(run(sc, paths=0), tmp_path / f"{name}.xlsx"))
    out = convert_many(sources, tmp_path / "recalc")
    for source, recalculated in zip(sources, out, strict=True):
        formulas = _formula_cells(source)
        cached, fresh = _values(source), _values(recalculated)
        timeline_cells = [k for k in formulas if k[0] == "Timeline"]
        assert len(timeline_cells) > 20
        for key in formulas:
            expected, got = cached[key], fresh[key]
            if expected in (None, ""):
                assert got in (None, ""), (source.name, key, formulas[key], got)
            elif isinstance(expected, bool | str | datetime):
                assert got == expected, (source.name, key, formulas[key], expected, got)
            else:
                assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-6), (
                    source.name,
                    key,
                    formulas[key],
                    expected,
                    got,
                )


#: The only numbers a formula on the calculation sheets may contain: positions and the
#: constants of the equations themselves (0 and 1; 2 for "the period after" in an INDEX
#: and for halving; 0.5 and 4 in the S-curve's tanh form). Every assumption and every
#: convention is a named cell.
STRUCTURAL_NUMBERS = {"0", "1", "2", "4", "0.5"}


def _numbers_in(formula: str) -> list[str]:
    text = re.sub(r'"[^"]*"', "", formula)  # string literals
    text = re.sub(r"('[^']*'|[A-Za-z_][A-Za-z0-9_.]*)!", "", text)  # sheet prefixes
    text = re.sub(r"(?<![A-Za-z0-9_])\$?[A-Z]{1,3}\$?[0-9]+(?![A-Za-z0-9_(])", "", text)  # cells
    # numbers, not the digits inside names such as in_costs_0_amount
    return re.findall(r"(?<![A-Za-z0-9_.])[0-9]+(?:\.[0-9]+)?(?:[Ee][+-]?[0-9]+)?", text)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.stem)
def test_no_assumption_is_typed_into_a_formula(template: Path, tmp_path: Path) -> None:
    path = write_workbook(run(load_scenario(template), paths=0), tmp_path / "m.xlsx")
    formulas = _formula_cells(path)
    found: dict[str, tuple[str, str, str]] = {}
    for (sheet, cell), formula in formulas.items():
        if sheet in ("Timeline", "Cashflows", "Bond", "Metrics"):
            for number in _numbers_in(formula):
                found.setdefault(number, (sheet, cell, formula))
    assert "0" in found and "1" in found  # the scan sees numbers where they are
    stray = {n: where for n, where in found.items() if n not in STRUCTURAL_NUMBERS}
    assert not stray, stray


def test_the_typed_number_scan_finds_numbers() -> None:
    assert _numbers_in("=A1*0.0525+in_bond_rate/12-'Bond'!$C$5") == ["0.0525", "12"]
    assert _numbers_in('=IF(B2>1E-9,"n/a 12",SUM(D4:D9))') == ["1E-9"]
