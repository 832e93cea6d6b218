"""Issue 16's investor tables: the Annual sheet, the Sources and uses sheet and the Model map.

The Annual sheet, recalculated in LibreOffice, must equal the engine's per-period
results summed by financial year (computed here independently, with pandas); the
sources and uses must balance to the penny after recalculation; the Model map's
"reads from" must be exactly the cross-sheet references of the finished file's
formulas (read with openpyxl, found with a regex of this test's own); and
``verify`` must compare the new sheets like any other.
"""

from __future__ import annotations

import math
import re
import tomllib
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from bondmodel import Results, parse_scenario, run
from bondmodel.labels import BOND_COLUMNS, PERIOD_COLUMNS
from bondmodel.verification import verify
from bondmodel.workbook import writer
from bondmodel.workbook.layout import Layout
from bondmodel.workbook.recalc import convert_many

from .conftest import ROOT, deep_update

#: The variants: a template and what is changed in it.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    # quarterly, aligned to the financial year, a semi-annual index-linked bond and PWLB
    "quarterly": ("index-linked", {}),
    "monthly": ("index-linked", {"timeline": {"frequency": "monthly"}}),
    # not aligned: periods end mid-month, and a financial year holds parts of two programme years
    "unaligned": (
        "index-linked",
        {"timeline": {"start_date": date(2026, 6, 15), "align_to_financial_year": False}},
    ),
    # annual: no Annual sheet; given principals with a surplus and a discount, and a shortfall
    "annual-surplus": (
        "shared-services",
        {"bond": {"principal": 10_000_000.0, "issue_price": 0.98, "financed_share": 0.9}},
    ),
    "annual-short": ("shared-services", {"bond": {"principal": 6_000_000.0}}),
}
SUB_ANNUAL = ("quarterly", "monthly", "unaligned")


def _scenario(name: str) -> Any:
    template, changes = VARIANTS[name]
    data = tomllib.loads((ROOT / "templates" / f"{template}.toml").read_text(encoding="utf-8"))
    return parse_scenario(deep_update(data, changes))


class _Built:
    """A variant's results, workbook, recalculated workbook and the writer's layout."""

    def __init__(self, results: Results, path: Path, layout: Layout) -> None:
        self.results, self.path, self.layout = results, path, layout
        self.recalculated: Path | None = None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, _Built]:
    """Each variant written once (its layout captured) and recalculated in one LibreOffice."""
    folder = tmp_path_factory.mktemp("investor")
    out: dict[str, _Built] = {}
    layouts: list[Layout] = []

    class Recording(Layout):
        def __init__(self) -> None:
            super().__init__()
            layouts.append(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(writer, "Layout", Recording)
        for name in VARIANTS:
            results = run(_scenario(name), paths=0)
            path = writer.write_workbook(results, folder / f"{name}.xlsx")
            out[name] = _Built(results, path, layouts[-1])
    return out


@pytest.fixture(scope="module")
def recalculated(
    built: dict[str, _Built], soffice: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    paths = convert_many([b.path for b in built.values()], tmp_path_factory.mktemp("recalc"))
    return dict(zip(built, paths, strict=True))


def _rows(path: Path, sheet: str) -> dict[str, list[Any]]:
    """Each row of ``sheet`` by its label in column A: the values from column D on."""
    ws = openpyxl.load_workbook(path, data_only=True)[sheet]
    out: dict[str, list[Any]] = {}
    for row in ws.iter_rows(values_only=True):
        if isinstance(row[0], str):
            out.setdefault(row[0], list(row[3:]))  # the first of a label (the bond's, not PWLB's)
    return out


def _fy(dates: pd.Series) -> pd.Series:
    """The financial year (first calendar year) of each date: years start on 1 April."""
    d = pd.to_datetime(dates)
    return d.dt.year - (d.dt.month < 4).astype(int)


def _close(got: Any, expected: float) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return got == "n/a"
    return isinstance(got, int | float) and math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-6)


# ---------------------------------------------------------------------------
# The Annual sheet
# ---------------------------------------------------------------------------


@pytest.mark.spreadsheet
@pytest.mark.parametrize("name", SUB_ANNUAL)
def test_annual_sheet_recalculates_to_the_engine_summed_by_financial_year(
    name: str, built: dict[str, _Built], recalculated: dict[str, Path]
) -> None:
    b = built[name]
    periods = b.results.periods.copy()
    periods["fy"] = _fy(periods["period_end"])  # a flow is dated at its period's end
    keys = [k for k in PERIOD_COLUMNS if k not in ("period", "label", "period_start", "period_end")]
    flows = [
        k for k in keys if PERIOD_COLUMNS[k].unit == "money" and not k.startswith("cumulative")
    ]
    stocks = [k for k in keys if k not in flows]
    sums = periods.groupby("fy")[flows].sum()
    ends = periods.groupby("fy")[stocks].last()
    rows = _rows(recalculated[name], "Annual")
    years = list(sums.index)
    aligned = b.results.scenario.timeline.align_to_financial_year
    # not aligned, the start date is live: the sheet has a column for every year it can reach
    horizon = b.results.scenario.timeline.horizon_years
    assert len(years) == (horizon if aligned else horizon + 1)
    labels = [f"{y}/{(y + 1) % 100:02d}" for y in years]
    assert rows["Financial year"][: len(labels)] == labels
    assert len([v for v in rows["Financial year"] if v]) == len(labels)
    compared = 0
    for key in keys:
        label = PERIOD_COLUMNS[key].label + ("" if key in flows else " (at year end)")
        expected = sums[key] if key in flows else ends[key]
        got = rows[label][: len(years)]
        for y, g, e in zip(years, got, expected, strict=True):
            assert _close(g, float(e)), (name, key, y, g, e)
            compared += 1
    # with the bond: the council's cash flow, and debt service, CFADS and DSCR by payment
    bond = b.results.bond
    assert bond is not None
    council = pd.Series(bond.council_flow).groupby(periods["fy"].to_numpy()).sum()
    got = rows["Council cash flow"]
    assert all(_close(g, float(e)) for g, e in zip(got[: len(years)], council, strict=True))
    table = bond.table.copy()
    table["fy"] = _fy(table["date"])
    by_year = table.groupby("fy")
    for key in ("debt_service_due", "cfads"):
        expected = by_year[key].sum().reindex(years, fill_value=0.0)
        got = rows[f"{BOND_COLUMNS[key].label}: payments in the year"][: len(years)]
        assert all(_close(g, float(e)) for g, e in zip(got, expected, strict=True)), key
        compared += len(years)
    lowest = by_year["dscr"].min().reindex(years)  # NaN: no debt service that year
    got = rows["Minimum DSCR of the year's payments"][: len(years)]
    assert all(_close(g, float(e)) for g, e in zip(got, lowest, strict=True))
    assert compared > 300
    assert openpyxl.load_workbook(recalculated[name], data_only=True)["Checks"]["B2"].value is True


def test_the_annual_keys_name_a_row_by_financial_year_or_the_cashflows_years(
    built: dict[str, _Built],
) -> None:
    """A chart by financial year always finds ``annual.label`` and ``annual.net_cash_flow``:
    on the Annual sheet when the model has several periods a year, else on Cashflows (one
    column a year already), which then has no Annual sheet."""
    for name, b in built.items():
        sheets = openpyxl.load_workbook(b.path, read_only=True).sheetnames
        rows = b.layout.rows
        for key in ("label", "net_cash_flow", "cumulative_net_cash_flow", "council_flow"):
            where = rows[f"annual.{key}"]
            if name in SUB_ANNUAL:
                assert where.startswith("'Annual'!"), (name, key, where)
            else:
                assert where == rows[f"cashflows.{key}"], (name, key, where)
        assert ("Annual" in sheets) == (name in SUB_ANNUAL)
        if "Annual" in sheets:
            assert sheets.index("Annual") == sheets.index("Cashflows") + 1


# ---------------------------------------------------------------------------
# Sources and uses
# ---------------------------------------------------------------------------


@pytest.mark.spreadsheet
@pytest.mark.parametrize("name", ["quarterly", "annual-surplus", "annual-short"])
def test_sources_equal_uses_to_the_penny_after_recalculation(
    name: str, built: dict[str, _Built], recalculated: dict[str, Path]
) -> None:
    b = built[name]
    ws = openpyxl.load_workbook(recalculated[name], data_only=True)["Sources and uses"]
    table = {}
    for row in ws.iter_rows(values_only=True):
        for label, value in ((row[0], row[1]), (row[4], row[5]) if len(row) > 5 else (None, None)):
            if isinstance(label, str) and isinstance(value, int | float):
                table[label] = float(value)
    assert abs(table["Total sources"] - table["Total uses"]) < 0.005
    bond = b.results.bond
    assert bond is not None
    s = bond.schedule
    p = b.results.periods
    planned = float(p[["capex_base", "capex_contingency", "capex_optimism_bias"]].to_numpy().sum())
    expected = {
        "Bond principal issued (face value)": s.principal,
        "Council contribution: proceeds short of the uses": s.council_contribution,
        "Councils' own funds: one-off costs the bond does not finance": planned - s.financed_costs,
        PERIOD_COLUMNS["capex_base"].label: float(p["capex_base"].sum()),
        "Issue discount: principal x (1 - issue price); a premium is negative": s.principal
        - s.proceeds,
        "Arrangement fee (issue costs)": s.arrangement_fee,
        "Debt service reserve (DSRA) funded at issue": s.reserve_initial,
        "Surplus proceeds paid to the council (cash held)": max(s.surplus, 0.0),
    }
    for label, value in expected.items():
        assert table[label] == pytest.approx(value, rel=1e-9, abs=1e-6), label
    # each variant exercises its line: a surplus and a discount, or a shortfall
    if name == "annual-surplus":
        assert table["Surplus proceeds paid to the council (cash held)"] > 0
        assert table["Issue discount: principal x (1 - issue price); a premium is negative"] > 0
        assert table["Councils' own funds: one-off costs the bond does not finance"] > 0
    if name == "annual-short":
        assert table["Council contribution: proceeds short of the uses"] > 0
    checks = openpyxl.load_workbook(recalculated[name], data_only=True)["Checks"]
    labels = {row[0]: row[1] for row in checks.iter_rows(values_only=True) if row[0]}
    assert labels["Sources and uses table: total sources = total uses"] is True
    assert checks["B2"].value is True


# ---------------------------------------------------------------------------
# The Model map
# ---------------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"]|"")*"')
_SHEET_REF = re.compile(r"(?:'((?:[^']|'')+)'|([A-Za-z_][A-Za-z0-9_.]*))!")
_WORD = re.compile(r"(?<![A-Za-z0-9_.!'$])([A-Za-z_][A-Za-z0-9_.]*)(?![A-Za-z0-9_.(!])")


def _cross_references(path: Path) -> dict[str, set[str]]:
    """Each sheet's references to other sheets, from the file's formulas and defined names."""
    wb = openpyxl.load_workbook(path)
    names = {}
    for name, defined in wb.defined_names.items():
        sheets = {sheet for sheet, _ in defined.destinations}
        if len(sheets) == 1:
            names[name.lower()] = sheets.pop()
    out: dict[str, set[str]] = {}
    for ws in wb.worksheets:
        found: set[str] = set()
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type != "f":
                    continue
                text = _STRING.sub('""', str(cell.value))
                for quoted, plain in _SHEET_REF.findall(text):
                    found.add(quoted.replace("''", "'") if quoted else plain)
                for word in _WORD.findall(text):
                    if word.lower() in names:
                        found.add(names[word.lower()])
        out[ws.title] = found - {ws.title}
    return out


@pytest.mark.parametrize("name", ["quarterly", "annual-short"])
def test_the_model_map_is_the_workbook_s_cross_sheet_references(
    name: str, built: dict[str, _Built]
) -> None:
    path = built[name].path
    refs = _cross_references(path)
    ws = openpyxl.load_workbook(path)["Model map"]
    table = list(ws.iter_rows(values_only=True))
    head = next(i for i, row in enumerate(table) if row[0] == "Sheet")
    assert table[head][:4] == ("Sheet", "What it holds", "Reads from", "Read by")
    shown = {row[0]: (row[1], row[2], row[3]) for row in table[head + 1 :] if row[0]}
    assert list(shown) == openpyxl.load_workbook(path, read_only=True).sheetnames

    def parse(text: str) -> set[str]:
        return set() if text == "none" else set(text.split(", "))

    for sheet, (purpose, reads, read_by) in shown.items():
        assert purpose, sheet  # every sheet says what it holds
        assert parse(reads) == refs[sheet], sheet
        assert parse(read_by) == {other for other, r in refs.items() if sheet in r}, sheet
    # the flows an investor follows are there
    assert "Cashflows" in refs["Metrics"] and "Bond" in refs["Sources and uses"]
    assert name != "quarterly" or {"Cashflows", "Timeline", "Bond"} <= refs["Annual"]


# ---------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------


def test_verify_names_an_edited_figure_on_the_new_sheets(
    built: dict[str, _Built], tmp_path: Path
) -> None:
    """An edited figure on the Annual and on the Sources and uses sheet is each named (a fresh
    workbook of every template verifies: tests/test_verify.py)."""
    path = built["quarterly"].path
    sheets = openpyxl.load_workbook(path, read_only=True).sheetnames
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    layout = built["quarterly"].layout
    annual = layout.rows["annual.net_cash_flow"].split("!")[1].replace("$", "").split(":")[0]
    principal = layout.cells["sources_uses.principal"].split("!")[1].replace("$", "")
    edits = [("Annual", annual), ("Sources and uses", principal)]
    for sheet, cell in edits:
        part = f"xl/worksheets/sheet{sheets.index(sheet) + 1}.xml"
        xml = parts[part].decode("utf-8")
        match = re.search(rf'<c r="{cell}"[^>]*>.*?</c>', xml)
        assert match is not None and "<f>" in match.group(0), (sheet, cell)
        edited = re.sub(r"<v>[^<]*</v>", "<v>123456789</v>", match.group(0))
        parts[part] = xml.replace(match.group(0), edited, 1).encode("utf-8")
    target = tmp_path / "edited.xlsx"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts.items():
            z.writestr(n, data)
    report = verify(target)
    assert not report.ok and report.exit_code == 1
    assert sorted((m.sheet, m.cell) for m in report.mismatches) == sorted(edits)


def test_annual_rows_are_one_formula_across(built: dict[str, _Built]) -> None:
    """FAST: each line of the Annual sheet is one formula from one year to the next."""
    ws = openpyxl.load_workbook(built["quarterly"].path)["Annual"]
    checked = 0
    for row in ws.iter_rows(min_row=8):
        formulas = [c.value for c in row[3:] if c.data_type == "f"]
        if len(formulas) < 2:
            continue
        shapes = {re.sub(r"\b[D-Z]{1,2}(\d+)\b", r"COL\1", f) for f in formulas}
        assert len(shapes) == 1, (row[0].value, shapes)
        checked += 1
    assert checked > 20


@pytest.mark.spreadsheet
def test_the_new_sheets_verify_after_a_libreoffice_open_and_save(
    recalculated: dict[str, Path],
) -> None:
    """The recalculated quarterly workbook is LibreOffice's save of it: its Annual sheet
    (``MINIFS`` included), Sources and uses and Model map must still match the rerun."""
    report = verify(recalculated["quarterly"])
    assert report.ok, report.text()
    sheets = openpyxl.load_workbook(recalculated["quarterly"], read_only=True).sheetnames
    assert {"Annual", "Sources and uses", "Model map"} <= set(sheets)
