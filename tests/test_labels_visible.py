"""Labels and units for people: nothing a reader sees is a code name (issue 16, item 3).

Every template's workbook is opened as a reader opens it and every text cell is
scanned, on every sheet but Audit (the auditors' record: manifest, canonical JSON,
the scenario's TOML), for what reads like code: a ``snake_case`` key
(``p_any_shortfall``), an item path (``costs[0].ob_mitigation``) or a call
(``P10(council_npv)``). What a reader does not see is left out, and only that:
hidden columns and rows (the Inputs sheet's paths, the keys of the Paths sheet's
sample, which the reader and ``verify`` read), and the input values on Inputs and
As run, which are the scenario's own data (a choice such as ``at_close`` is what
the engine reads). Chart titles and series names are scanned in the charts' XML.
Each Unit column's cells must be words from the one table of unit words
(``labels.UNIT_WORDS`` and ``INPUT_UNIT_WORDS``), and the Inputs sheet's labels and
units must be the labels table's words for each row's path.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils import get_column_letter

from bondmodel import Scenario, load_scenario, run
from bondmodel.labels import UNIT_WORDS, input_label
from bondmodel.scenario.loader import list_templates, template_path
from bondmodel.workbook.conventions_block import conventions
from bondmodel.workbook.inputs import FIELD_INFO, PATH_INFO, VALUE_COL, input_unit
from bondmodel.workbook.styles import scenario_unit_words
from bondmodel.workbook.writer import write_workbook

#: What reads like code: a snake_case key, a list item's path, a call such as P10(x).
CODE = (
    re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b"),
    re.compile(r"\w+\[\d+\]"),
    re.compile(r"\b[A-Z][A-Za-z0-9]*\([a-z_]{2,}"),
)
#: Sheets whose columns from E hold input values (the scenario's data, not labels).
VALUE_SHEETS = ("Inputs", "As run")
#: The heading a Unit column has.
UNIT_HEADING = "Unit"


def code_names(text: str) -> list[str]:
    """The parts of ``text`` that read like code, not words."""
    return [m.group(0) for pattern in CODE for m in pattern.finditer(text)]


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Scenario, Path]]:
    folder = tmp_path_factory.mktemp("labels")
    out = {}
    for name in list_templates():
        scenario = load_scenario(template_path(name))
        path = write_workbook(run(scenario, paths=600, seed=5), folder / f"{name}.xlsx")
        out[name] = (scenario, path)
    return out


def _hidden(ws: Any) -> tuple[set[int], set[int]]:
    """The hidden columns (1-based) and rows of a sheet."""
    cols = {
        c
        for dim in ws.column_dimensions.values()
        if dim.hidden
        for c in range(dim.min or 1, (dim.max or dim.min or 1) + 1)
    }
    rows = {r for r, dim in ws.row_dimensions.items() if dim.hidden}
    return cols, rows


def visible_text(path: Path) -> list[tuple[str, str, str]]:
    """(sheet, cell, text) of every text a reader sees, as the module's docstring says."""
    wb = openpyxl.load_workbook(path, data_only=True)
    out = []
    for ws in wb.worksheets:
        if ws.title == "Audit":
            continue
        cols, rows = _hidden(ws)
        for row in ws.iter_rows():
            for cell in row:
                if not isinstance(cell.value, str) or cell.column in cols or cell.row in rows:
                    continue
                if ws.title in VALUE_SHEETS and cell.column > VALUE_COL and cell.row > 4:
                    continue
                out.append((ws.title, cell.coordinate, cell.value))
    return out


def chart_text(path: Path) -> list[tuple[str, str]]:
    """(chart part, text) of every chart title and series name."""
    out = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if not name.startswith("xl/charts/chart"):
                continue
            xml = z.read(name).decode("utf-8")
            for block in re.findall(r"<c:tx>(.*?)</c:tx>", xml, re.S):
                out += [(name, t) for t in re.findall(r"<(?:c:v|a:t)>([^<]*)<", block)]
            for block in re.findall(r"<c:title>(.*?)</c:title>", xml, re.S):
                out += [(name, t) for t in re.findall(r"<a:t>([^<]*)<", block)]
    return out


def test_the_scanner_finds_code_names() -> None:
    for code in (
        "p_any_shortfall",
        "p10_ci_low",
        "var_5_council_npv",
        "se_mean",
        "partner_npv_0",
        "costs[0].ob_mitigation",
        "bond.tenor_years",
        "P10(council_npv)",
    ):
        assert code_names(f"Label: {code} here"), code
    for words in (
        "P10, lower bound of its 95% confidence interval",
        "Cost item 1 (Digital platform): optimism-bias mitigation",
        "£ real (2026/27 prices)",
        "NPV after debt service: Northvale District Council",
        "Value(s)",
    ):
        assert not code_names(words), words


def test_no_code_name_where_a_reader_looks(
    workbooks: dict[str, tuple[Scenario, Path]],
) -> None:
    found = []
    for name, (_, path) in workbooks.items():
        texts = visible_text(path)
        assert len(texts) > 500, (name, len(texts))  # the scan reads the sheets' labels
        found += [(name, sheet, cell, text[:80]) for sheet, cell, text in texts if code_names(text)]
    assert not found, found[:20]


def test_no_code_name_in_a_chart(workbooks: dict[str, tuple[Scenario, Path]]) -> None:
    found = []
    for name, (_, path) in workbooks.items():
        texts = chart_text(path)
        assert texts, name
        found += [(name, part, text) for part, text in texts if code_names(text)]
    assert not found, found


def test_every_unit_cell_is_in_the_table_of_unit_words(
    workbooks: dict[str, tuple[Scenario, Path]],
) -> None:
    units = (
        {u for u, _ in FIELD_INFO.values()}
        | {u for u, _ in PATH_INFO.values()}
        | {c.unit for c in conventions()}
    )
    for name, (scenario, path) in workbooks.items():
        vocabulary = scenario_unit_words(scenario).vocabulary(units)
        # the engine's unit codes that are not words are never a reader's unit
        codes = {u for u, words in UNIT_WORDS.items() if u != words}
        assert codes >= {"money", "count", "rate", "ratio"}
        assert not vocabulary & codes, vocabulary & codes
        wb = openpyxl.load_workbook(path, data_only=True)
        checked = 0
        for ws in wb.worksheets:
            headings = [
                (c.row, c.column) for row in ws.iter_rows() for c in row if c.value == UNIT_HEADING
            ]
            for top, col in headings:
                for r in range(top + 1, ws.max_row + 1):
                    value = ws.cell(r, col).value
                    if not isinstance(value, str) or value == UNIT_HEADING:
                        continue
                    where = f"{name}: {ws.title}!{get_column_letter(col)}{r}"
                    assert value in vocabulary, (where, value)
                    checked += 1
        assert checked > 100, (name, checked)


def test_inputs_labels_and_units_are_the_tables_words(
    workbooks: dict[str, tuple[Scenario, Path]],
) -> None:
    for name, (scenario, path) in workbooks.items():
        words = scenario_unit_words(scenario)
        ws = openpyxl.load_workbook(path)["Inputs"]
        assert ws.column_dimensions["A"].hidden, name  # the paths: the reader's keys
        rows = 0
        for r in range(5, ws.max_row + 1):
            key = ws.cell(r, 1).value
            if not isinstance(key, str) or key == "Conventions":
                continue
            if key.startswith("conventions."):
                continue
            assert ws.cell(r, 2).value == input_label(key, scenario), (name, key)
            assert ws.cell(r, 3).value == words.input(input_unit(key)), (name, key)
            rows += 1
        assert rows > 50, (name, rows)


def test_money_in_real_terms_says_so(workbooks: dict[str, tuple[Scenario, Path]]) -> None:
    scenario, path = workbooks["shared-services"]
    ws = openpyxl.load_workbook(path)["Cashflows"]
    units = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(1, ws.max_row + 1)}
    assert units["Net cash flow (real)"] == "£ real (2026/27 prices)"
    assert units["Net cash flow (after one-off costs)"] == "£ nominal"
    assert scenario.economics.appraisal_basis == "real"
    assert units["Discounted net cash flow (appraisal basis)"] == "£ real (2026/27 prices)"
