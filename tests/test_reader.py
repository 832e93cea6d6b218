"""Reading a scenario from a workbook's Inputs sheet, and refusing hostile workbooks.

The round trip scenario -> workbook -> scenario is exact for every template
(the same SHA-256); a bad value is reported with its sheet, cell and field;
untrusted files (macros, zip bombs, oversized or corrupt archives, XML entity
attacks, formulas in input cells, renamed rows) are refused with a clear error.
"""

from __future__ import annotations

import re
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bondmodel import Scenario, load_scenario, parse_scenario, run
from bondmodel.cli import main
from bondmodel.errors import ScenarioError, WorkbookError
from bondmodel.scenario.export import scenario_toml
from bondmodel.workbook import untrusted
from bondmodel.workbook.input_form import write_input_form
from bondmodel.workbook.reader import read_scenario
from bondmodel.workbook.writer import write_workbook

from .conftest import ROOT, TEMPLATES


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default template's model workbook (base case only)."""
    path = tmp_path_factory.mktemp("model") / "model.xlsx"
    return write_workbook(run(load_scenario(None), paths=0), path)


def _row_of(path: Path, field: str) -> int:
    ws = openpyxl.load_workbook(path)["Inputs"]
    for row in ws.iter_rows(min_row=5):
        if row[0].value == field:
            return row[0].row
    raise AssertionError(field)


def _edited(source: Path, target: Path, edits: dict[str, object]) -> Path:
    """A copy of ``source`` with Inputs cells set (``{"E12": value}``), saved by openpyxl."""
    wb = openpyxl.load_workbook(source)
    for cell, value in edits.items():
        wb["Inputs"][cell] = value
    wb.save(target)
    return target


#: The templates, and a scenario with the council's figures and every kind of funding route.
ROUND_TRIPS = [*TEMPLATES, ROOT / "tests" / "scenarios" / "council-routes.toml"]


@pytest.mark.parametrize("template", ROUND_TRIPS, ids=lambda p: p.stem)
def test_round_trip_model_and_input_workbooks(template: Path, tmp_path: Path) -> None:
    scenario = load_scenario(template)
    model = write_workbook(run(scenario, paths=0), tmp_path / "model.xlsx")
    back = read_scenario(model)
    assert back == scenario
    assert back.sha256() == scenario.sha256()
    assert scenario_toml(back) == scenario_toml(scenario)
    form = write_input_form(scenario, tmp_path / "inputs.xlsx")
    assert read_scenario(form).sha256() == scenario.sha256()


def test_the_committed_input_workbook_holds_the_default_scenario() -> None:
    committed = ROOT / "templates" / "inputs.xlsx"
    assert read_scenario(committed).sha256() == load_scenario(None).sha256()


def test_an_edited_input_is_read_and_a_bad_one_names_its_cell(model: Path, tmp_path: Path) -> None:
    row = _row_of(model, "bond.coupon.rate")
    edited = read_scenario(_edited(model, tmp_path / "a.xlsx", {f"E{row}": 0.061}))
    assert edited.bond is not None and edited.bond.coupon.rate == 0.061  # type: ignore[union-attr]
    with pytest.raises(ScenarioError) as err:
        read_scenario(_edited(model, tmp_path / "b.xlsx", {f"E{row}": "six percent"}))
    text = str(err.value)
    assert f"Inputs!E{row} (bond.coupon.rate)" in text
    assert "six percent" in text
    with pytest.raises(ScenarioError) as err:
        read_scenario(_edited(model, tmp_path / "c.xlsx", {f"E{row}": 7.5}))
    assert f"Inputs!E{row} (bond.coupon.rate)" in str(err.value)
    assert "less than or equal to 1" in str(err.value)


def test_a_list_item_error_names_the_item_cell(model: Path, tmp_path: Path) -> None:
    row = _row_of(model, "risk.correlation.matrix[1]")
    with pytest.raises(ScenarioError) as err:
        read_scenario(_edited(model, tmp_path / "m.xlsx", {f"G{row}": 3.0}))
    assert f"Inputs!G{row} (risk.correlation.matrix[1][2])" in str(err.value)
    assert "less than or equal to 1 (got 3" in str(err.value)


def test_a_formula_in_an_input_cell_is_refused_not_evaluated(model: Path, tmp_path: Path) -> None:
    row = _row_of(model, "bond.coupon.rate")
    with pytest.raises(ScenarioError) as err:
        read_scenario(_edited(model, tmp_path / "f.xlsx", {f"E{row}": "=0.05+0.01"}))
    assert f"Inputs!E{row} (bond.coupon.rate): holds a formula" in str(err.value)


def test_text_that_looks_like_a_formula_is_kept_as_text(tmp_path: Path) -> None:
    scenario = load_scenario(None)
    data = scenario.model_dump()
    data["meta"]["name"] = '=HYPERLINK("http://x")'
    from bondmodel import parse_scenario

    odd = parse_scenario(data)
    back = read_scenario(write_workbook(run(odd, paths=0), tmp_path / "m.xlsx"))
    assert back.meta.name == '=HYPERLINK("http://x")'


def test_renamed_and_moved_rows_are_reported(model: Path, tmp_path: Path) -> None:
    row = _row_of(model, "bond.coupon.rate")
    with pytest.raises(ScenarioError) as err:
        read_scenario(_edited(model, tmp_path / "r.xlsx", {f"A{row}": "bond.coupon.rat"}))
    assert "unknown key 'rat'" in str(err.value)
    assert f"Inputs!E{row}" in str(err.value)
    with pytest.raises(WorkbookError) as err2:
        read_scenario(_edited(model, tmp_path / "s.xlsx", {f"A{row}": None, f"B{row}": "x"}))
    assert f"Inputs!A{row}" in str(err2.value) and "renamed or moved" in str(err2.value)
    with pytest.raises(WorkbookError) as err3:
        read_scenario(_edited(model, tmp_path / "h.xlsx", {"A4": "Name"}))
    assert "not a bondmodel Inputs sheet" in str(err3.value)
    with pytest.raises(WorkbookError) as err4:
        read_scenario(_edited(model, tmp_path / "p.xlsx", {f"A{row}": "Bond Coupon!"}))
    assert "is not an input path" in str(err4.value)


def test_a_missing_inputs_sheet_is_reported(model: Path, tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(model)
    wb["Inputs"].title = "Assumptions"
    wb.save(tmp_path / "n.xlsx")
    with pytest.raises(WorkbookError, match="has no 'Inputs' sheet"):
        read_scenario(tmp_path / "n.xlsx")


# ---------------------------------------------------------------------------
# Untrusted files
# ---------------------------------------------------------------------------


def _rezip(
    source: Path,
    target: Path,
    extra: dict[str, bytes] | None = None,
    replace: dict[str, bytes] | None = None,
) -> Path:
    with zipfile.ZipFile(source) as src:
        parts = {name: src.read(name) for name in src.namelist()}
    parts.update(replace or {})
    parts.update(extra or {})
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in parts.items():
            dst.writestr(name, data)
    return target


def test_macro_enabled_workbooks_are_refused(model: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "model.xlsm"
    renamed.write_bytes(model.read_bytes())
    with pytest.raises(WorkbookError, match="macro-enabled workbook"):
        read_scenario(renamed)
    hidden = _rezip(model, tmp_path / "vba.xlsx", extra={"xl/vbaProject.bin": b"\x00" * 64})
    with pytest.raises(WorkbookError, match="contains macros"):
        read_scenario(hidden)


def test_zip_bombs_and_oversized_files_are_refused(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = _rezip(model, tmp_path / "bomb.xlsx", extra={"xl/media/zeros.bin": b"\0" * 50_000_000})
    assert bomb.stat().st_size < 1_000_000  # 50 MB of zeros in well under 1 MB
    with pytest.raises(WorkbookError, match="zip bomb"):
        read_scenario(bomb)
    monkeypatch.setattr(untrusted, "MAX_WORKBOOK_BYTES", 10_000)
    with pytest.raises(WorkbookError, match="at most 10,000 are accepted"):
        read_scenario(model)
    monkeypatch.setattr(untrusted, "MAX_WORKBOOK_BYTES", 25 * 1024 * 1024)
    monkeypatch.setattr(untrusted, "MAX_ENTRIES", 5)
    with pytest.raises(WorkbookError, match="archive entries; at most 5"):
        read_scenario(model)
    monkeypatch.setattr(untrusted, "MAX_ENTRIES", 2000)
    monkeypatch.setattr(untrusted, "MAX_UNCOMPRESSED_BYTES", 1000)
    with pytest.raises(WorkbookError, match="expands to"):
        read_scenario(model)


def test_corrupt_and_foreign_files_are_refused(model: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "cut.xlsx"
    truncated.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    with pytest.raises(WorkbookError, match=r"corrupt|not an \.xlsx"):
        read_scenario(truncated)
    text = tmp_path / "notes.xlsx"
    text.write_text("name,value\n", encoding="utf-8")
    with pytest.raises(WorkbookError, match="not a zip archive"):
        read_scenario(text)
    other = tmp_path / "other.xlsx"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(WorkbookError, match=r"no xl/workbook\.xml"):
        read_scenario(other)
    garbled = _rezip(model, tmp_path / "garbled.xlsx", replace={"xl/workbook.xml": b"<not xml"})
    with pytest.raises(WorkbookError, match="cannot be read as a workbook"):
        read_scenario(garbled)
    with pytest.raises(WorkbookError, match="does not exist"):
        read_scenario(tmp_path / "absent.xlsx")


def test_xml_entity_attacks_are_refused(model: Path, tmp_path: Path) -> None:
    """A 'billion laughs' entity and an external entity in a sheet are never expanded."""
    with zipfile.ZipFile(model) as src:
        names = src.namelist()
        sheet = next(n for n in names if n.startswith("xl/worksheets/sheet"))
        xml = src.read(sheet).decode("utf-8")
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    )
    external = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    body = xml.split("?>", 1)[1]
    for i, doctype in enumerate((laughs, external)):
        hostile = _rezip(
            model, tmp_path / f"xml{i}.xlsx", replace={sheet: (doctype + body).encode("utf-8")}
        )
        with pytest.raises(WorkbookError, match="cannot be read as a workbook"):
            read_scenario(hostile)


# ---------------------------------------------------------------------------
# The commands
# ---------------------------------------------------------------------------


def test_run_export_and_template_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    form = tmp_path / "inputs.xlsx"
    assert main(["template", str(form)]) == 0
    assert main(["validate", str(form)]) == 0
    out = tmp_path / "out.xlsx"
    assert main(["run", str(form), "-o", str(out), "--paths", "0"]) == 0
    toml = tmp_path / "back.toml"
    assert main(["export", str(out), str(toml)]) == 0
    assert load_scenario(toml).sha256() == load_scenario(None).sha256()
    # existing outputs and the input itself are refused
    assert main(["export", str(out), str(toml)]) == 2
    assert main(["run", str(form), "-o", str(form), "--paths", "0"]) == 2
    blank = tmp_path / "blank.xlsx"
    assert main(["template", str(blank), "--blank", "--template", "index-linked"]) == 0
    before = out.read_bytes()
    assert main(["run", str(blank), "-o", str(out), "--paths", "0"]) == 2
    assert out.read_bytes() == before  # nothing half-written over the old file
    err = capsys.readouterr().err
    assert "Inputs!E5 (meta.name): is required but missing" in err
    assert "Traceback" not in err


def test_a_workbook_scenario_gets_its_own_default_output_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_input_form(load_scenario(None), tmp_path / "plan.xlsx")
    before = (tmp_path / "plan.xlsx").read_bytes()
    assert main(["run", "plan.xlsx", "--paths", "0"]) == 0
    assert (tmp_path / "plan-model.xlsx").exists()
    assert (tmp_path / "plan.xlsx").read_bytes() == before


def test_round_trip_over_generated_bond_structures(tmp_path: Path) -> None:
    """Every coupon, repayment profile (custom schedules are lists), reserve and PWLB type."""
    from bondmodel import parse_scenario

    from .test_workbook_bonds import N_DESIGNS, design

    for i in range(N_DESIGNS):
        scenario = parse_scenario(design(i))
        form = write_input_form(scenario, tmp_path / f"d{i}.xlsx")
        assert read_scenario(form).sha256() == scenario.sha256(), i


# ---------------------------------------------------------------------------
# Text, and what a hostile sheet claims
# ---------------------------------------------------------------------------


def _with_text(name: str, description: str) -> Scenario:
    base = load_scenario(None)
    meta = base.meta.model_copy(update={"name": name, "description": description})
    return parse_scenario({**base.model_dump(), "meta": meta.model_dump()})


def test_a_description_with_line_breaks_round_trips_through_run(tmp_path: Path) -> None:
    """CR, LF, a tab and text that looks like Excel's escape survive `bondmodel run` exactly."""
    text = (ROOT / "templates" / "shared-services.toml").read_text(encoding="utf-8")
    text = re.sub(
        r"(?m)^description = .*$",
        lambda _: r'description = "Line one\r\nLine two\tend\rthree _x00 and x000D_ kept"',
        text,
        count=1,
    )
    source = tmp_path / "crlf.toml"
    source.write_text(text, encoding="utf-8")
    scenario = load_scenario(source)
    assert "\r\n" in scenario.meta.description
    out = tmp_path / "crlf.xlsx"
    assert main(["run", str(source), "-o", str(out), "--paths", "0"]) == 0
    back = read_scenario(out)
    assert back.meta.description == scenario.meta.description
    assert back.sha256() == scenario.sha256()


def test_a_byte_order_mark_is_read_past(tmp_path: Path) -> None:
    """Excel and Notepad start UTF-8 files with a BOM: the scenario is the same without it."""
    template = ROOT / "templates" / "shared-services.toml"
    with_bom = tmp_path / "bom.toml"
    with_bom.write_bytes(b"\xef\xbb\xbf" + template.read_bytes())
    assert load_scenario(with_bom).sha256() == load_scenario(template).sha256()


@pytest.mark.parametrize(
    "name",
    [
        "Ærø Kommune – Øst",
        "東京都",
        "Council 🏛",
        'O\'Neill "Q"',
        "=SUM(A1)",
        "_x00D_ x000D_ _X000D",
        "a  b",
    ],
)
def test_names_in_any_script_validate_and_round_trip(name: str, tmp_path: Path) -> None:
    scenario = _with_text(name, "Tabs\tand\nlines\r\n")
    form = write_input_form(scenario, tmp_path / "inputs.xlsx")
    back = read_scenario(form)
    assert back.meta.name == name
    assert back.sha256() == scenario.sha256()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(min_size=1, max_size=20), description=st.text(max_size=30))
def test_any_text_that_validates_writes_and_reads_back(
    name: str, description: str, tmp_path: Path
) -> None:
    """The text rules refuse exactly what a workbook cannot give back unchanged."""
    try:
        scenario = _with_text(name, description)
    except ScenarioError:
        return
    form = write_input_form(scenario, tmp_path / "inputs.xlsx")
    back = read_scenario(form)
    assert (back.meta.name, back.meta.description) == (name, description)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a_x000D_b", "a\rb"),
        ("_x005F_x000D_", "_x000D_"),
        ("x_x005F_y", "x_y"),
        ("_x0041__x0042_", "AB"),
        ("_x00zz_", "_x00zz_"),
        ("plain", "plain"),
    ],
)
def test_excel_escapes_are_undone_once(text: str, expected: str) -> None:
    assert untrusted.unescape_text(text) == expected


def _with_far_cell(model: Path, sheet_name: str, target: Path) -> Path:
    """A copy of ``model`` with one cell at XFD1048576 on its sheet ``sheet_name``."""
    with zipfile.ZipFile(model) as src:
        parts = {name: src.read(name) for name in src.namelist()}
    # XlsxWriter numbers the sheet parts in the workbook's order
    index = openpyxl.load_workbook(model, read_only=True).sheetnames.index(sheet_name)
    sheet = f"xl/worksheets/sheet{index + 1}.xml"
    xml = (
        parts[sheet]
        .decode("utf-8")
        .replace(
            "</sheetData>", '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'
        )
    )
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for name, blob in {**parts, sheet: xml.encode("utf-8")}.items():
            out.writestr(name, blob)
    return target


@pytest.mark.alone  # times itself: the other workers wait (tests/conftest.py)
def test_a_cell_at_the_end_of_the_grid_is_refused_at_once(model: Path, tmp_path: Path) -> None:
    """One cell at XFD1048576 once made the reader visit 17 billion cells (24 GB, minutes)."""
    hostile = _with_far_cell(model, "Inputs", tmp_path / "far.xlsx")
    start = time.perf_counter()
    with pytest.raises(WorkbookError, match=r"Inputs!A1048576: should hold an input's path"):
        read_scenario(hostile)
    assert time.perf_counter() - start < 1.0


@pytest.mark.alone  # times itself: the other workers wait (tests/conftest.py)
def test_a_far_cell_on_any_sheet_is_refused_before_verify_walks_it(
    model: Path, tmp_path: Path
) -> None:
    """open_workbook (used by verify) bounds a sheet's walk by its cells, not by a far one."""
    hostile = _with_far_cell(model, "Timeline", tmp_path / "far-model.xlsx")
    assert untrusted.open_workbook(model).worksheets  # the model itself opens
    start = time.perf_counter()
    with pytest.raises(WorkbookError, match=r"'Timeline': its cells span A1:XFD1048576 .* at most"):
        untrusted.open_workbook(hostile)
    assert time.perf_counter() - start < 5.0


def test_the_conventions_are_skipped_but_a_row_added_below_them_is_read(
    model: Path, tmp_path: Path
) -> None:
    """The conventions block ends the scenario's inputs, but not silently: a row an analyst
    adds below it is read like any other (a known path is an input; anything else an error)."""
    assert read_scenario(model).sha256() == load_scenario(None).sha256()
    book = openpyxl.load_workbook(model)
    sheet = book["Inputs"]
    below = sheet.max_row + 2
    sheet.cell(row=below, column=1, value="not.an.input")
    sheet.cell(row=below, column=5, value=3)
    book.save(tmp_path / "junk.xlsx")
    with pytest.raises(ScenarioError, match="unknown key 'not'"):
        read_scenario(tmp_path / "junk.xlsx")
    sheet.cell(row=below, column=1, value="bond.coupon.rate")
    book.save(tmp_path / "twice.xlsx")
    with pytest.raises(WorkbookError, match="appears twice"):
        read_scenario(tmp_path / "twice.xlsx")


def test_the_conventions_note_reads_in_either_column(model: Path, tmp_path: Path) -> None:
    # Since the paths' column A is hidden, the conventions block's note is in the label column
    # (B); a workbook written before has it in column A. Both read as the same scenario, and
    # anything else in the block is still read (a value beside the note is an error).
    ws = openpyxl.load_workbook(model)["Inputs"]
    heading = next(r[0].row for r in ws.iter_rows(min_row=5) if r[0].value == "Conventions")
    note = ws.cell(heading + 1, 2).value
    assert isinstance(note, str) and note.startswith("Published data")
    assert ws.cell(heading + 1, 1).value is None
    older = _edited(
        model, tmp_path / "older.xlsx", {f"A{heading + 1}": note, f"B{heading + 1}": None}
    )
    assert read_scenario(older) == read_scenario(model)
    with pytest.raises(WorkbookError, match=rf"Inputs!A{heading + 1}: should hold an input's path"):
        read_scenario(_edited(model, tmp_path / "odd.xlsx", {f"E{heading + 1}": 1.0}))
