"""``bondmodel verify``: fresh workbooks pass; each kind of tampering fails, naming the cell.

Tampering is done the way it would happen to a saved file: by editing the
workbook's XML (a cached value, an input, a formula, the embedded scenario),
so everything else in the file stays exactly as bondmodel wrote it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from bondmodel import load_scenario, run
from bondmodel.cli import main
from bondmodel.errors import WorkbookError
from bondmodel.verification import verify
from bondmodel.workbook.writer import path_sample, write_workbook

from .conftest import ROOT, TEMPLATES
from .xlsx_tools import edit_cell as _edit_cell
from .xlsx_tools import edit_string as _edit_string
from .xlsx_tools import write_zip_parts as _write_parts
from .xlsx_tools import zip_parts as _parts


def _first_formula_cell(path: Path, sheet: str) -> str:
    ws = openpyxl.load_workbook(path)[sheet]
    for row in ws.iter_rows(min_row=8):
        for c in row:
            if c.data_type == "f" and c.column > 4:
                return str(c.coordinate)
    raise AssertionError(sheet)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default template with 10,000 paths (two blocks), as `bondmodel run` writes it."""
    out = tmp_path_factory.mktemp("verify") / "model.xlsx"
    assert main(["run", "-o", str(out), "--paths", "10000", "--seed", "11", "--quiet"]) == 0
    return out


@pytest.mark.parametrize("paths", [0, 1500])
@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.stem)
def test_fresh_workbooks_verify(template: Path, paths: int, tmp_path: Path) -> None:
    results = run(load_scenario(template), paths=paths, seed=5)
    path = write_workbook(results, tmp_path / "m.xlsx")
    report = verify(path)
    assert report.ok, report.text()
    assert report.exit_code == 0
    assert report.cells_compared > 1000
    assert not report.problems and not report.notes


def test_the_manifest_records_the_run(model: Path) -> None:
    records = {
        r[0]: r[1]
        for r in openpyxl.load_workbook(model)["Audit"].iter_rows(values_only=True)
        if r[0]
    }
    manifest = json.loads(records["Run manifest (JSON)"])
    assert manifest["seed"] == 11 and manifest["paths"] == 10000
    assert manifest["sampler"] == "random"
    assert manifest["scenario_sha256"] == load_scenario(None).sha256()
    assert manifest["command"].startswith("bondmodel run -o ")
    assert manifest["replay"] == (
        "bondmodel run scenario.toml --paths 10000 --seed 11 --sampler random "
        "--tornado-output council_npv"
    )
    assert set(manifest["libraries"]) == {"python", "numpy", "scipy", "pandas", "xlsxwriter"}


def test_an_edited_output_value_is_named(model: Path, tmp_path: Path) -> None:
    cell = _first_formula_cell(model, "Cashflows")
    tampered = _edit_cell(model, tmp_path / "t.xlsx", "Cashflows", cell, "123456789")
    report = verify(tampered)
    assert not report.ok and report.exit_code == 1
    assert [(m.sheet, m.cell) for m in report.mismatches] == [("Cashflows", cell)]
    assert report.mismatches[0].workbook.startswith("123456789")


def test_an_edited_simulation_statistic_is_named(model: Path, tmp_path: Path) -> None:
    tampered = _edit_cell(model, tmp_path / "r.xlsx", "Risk", "B6", "42")
    report = verify(tampered)
    assert [(m.sheet, m.cell) for m in report.mismatches] == [("Risk", "B6")]


def test_a_formula_replaced_by_its_value_is_named(model: Path, tmp_path: Path) -> None:
    cell = _first_formula_cell(model, "Bond")
    value = openpyxl.load_workbook(model, data_only=True)["Bond"][cell].value
    tampered = _edit_cell(model, tmp_path / "f.xlsx", "Bond", cell, str(value), drop_formula=True)
    report = verify(tampered)
    assert [(m.sheet, m.cell) for m in report.mismatches] == [("Bond", cell)]


def test_an_edited_input_is_named(model: Path, tmp_path: Path) -> None:
    ws = openpyxl.load_workbook(model)["Inputs"]
    row = next(r[0].row for r in ws.iter_rows(min_row=5) if r[0].value == "bond.coupon.rate")
    tampered = _edit_cell(model, tmp_path / "i.xlsx", "Inputs", f"E{row}", "0.06")
    report = verify(tampered)
    assert not report.ok
    assert any("Inputs sheet no longer matches" in p for p in report.problems)
    assert ("Inputs", f"E{row}") in [(m.sheet, m.cell) for m in report.mismatches]


def test_a_changed_embedded_scenario_is_caught_by_its_hash(model: Path, tmp_path: Path) -> None:
    tampered = _edit_string(model, tmp_path / "s.xlsx", "rate = 0.0525", "rate = 0.0625")
    report = verify(tampered)
    assert not report.ok
    assert any("embedded scenario was changed" in p for p in report.problems)


def test_another_engine_version_is_noted_and_the_rerun_decides(model: Path, tmp_path: Path) -> None:
    from bondmodel import __version__

    old = _edit_string(model, tmp_path / "v.xlsx", f"bondmodel {__version__}<", "bondmodel 0.0.1<")
    report = verify(old)
    assert report.ok, report.text()
    assert any("bondmodel 0.0.1" in n for n in report.notes)


def test_paths_check_reruns_recorded_paths_one_by_one(model: Path, tmp_path: Path) -> None:
    report = verify(model, paths_check=5)
    assert report.ok, report.text()
    assert report.paths_compared == 5  # including the last path, 9,999, in the second block
    sample = path_sample(10_000)
    assert sample[0] == 0 and sample[-1] == 9_999 and len(sample) == 256
    # an edited path (the last one recorded) is named
    last_row = 5 + len(sample)
    tampered = _edit_cell(model, tmp_path / "p.xlsx", "Paths", f"B{last_row}", "1")
    bad = verify(tampered, paths_check=5)
    assert not bad.ok
    assert [(m.sheet, m.cell, m.label) for m in bad.mismatches] == [("Paths", "path 9999", "npv")]


def test_paths_check_of_a_single_precision_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A very large run stores each path in single precision (methodology §20.9); forced
    here on a small run. The rerun's values are rounded the same way, and a change of one
    single-precision step is still caught."""
    from bondmodel.model import Model
    from bondmodel.risk import simulate as simulate_module

    monkeypatch.setattr(simulate_module, "DOUBLE_PRECISION_BUDGET", 0)
    scenario = load_scenario(ROOT / "templates" / "shared-services.toml")
    out = write_workbook(run(scenario, paths=10_000, seed=3), tmp_path / "single.xlsx")
    report = verify(out, paths_check=5)
    assert report.ok, report.text()
    assert report.paths_compared == 5
    audit = {r[0]: r[1] for r in openpyxl.load_workbook(out)["Audit"].iter_rows(values_only=True)}
    assert audit["Per-path values stored in"] == "single precision"
    # the last path's council NPV (column F) is a single-precision number, not the engine's
    last_row = 5 + len(path_sample(10_000))
    stored = openpyxl.load_workbook(out)["Paths"][f"F{last_row}"].value
    block = Model.compile(scenario).block(3, "random", 1, 10_000)
    engine_value = float(block.metrics["council_npv"][-1])
    assert stored == float(np.float32(engine_value)) != engine_value
    step = float(np.nextafter(np.float32(stored), np.float32(np.inf)))
    tampered = _edit_cell(out, tmp_path / "p.xlsx", "Paths", f"F{last_row}", repr(step))
    bad = verify(tampered, paths_check=5)
    assert [(m.sheet, m.cell, m.label) for m in bad.mismatches] == [
        ("Paths", "path 9999", "council_npv")
    ]


def test_verify_command_exit_codes_and_json(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(model), "--paths-check", "3"]) == 0
    assert capsys.readouterr().out.startswith("MATCH: ")
    cell = _first_formula_cell(model, "Cashflows")
    tampered = _edit_cell(model, tmp_path / "t.xlsx", "Cashflows", cell, "1")
    assert main(["verify", str(tampered), "--paths-check", "3", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "mismatch" and out["mismatch_count"] == 1
    assert out["mismatches"][0]["sheet"] == "Cashflows" and out["mismatches"][0]["cell"] == cell
    # unusable input: exit 2, no traceback
    text = tmp_path / "notes.xlsx"
    text.write_text("hello", encoding="utf-8")
    assert main(["verify", str(text)]) == 2
    form = tmp_path / "inputs.xlsx"
    assert main(["template", str(form)]) == 0
    assert main(["verify", str(form)]) == 2
    err = capsys.readouterr().err
    assert "has no 'Audit' sheet" in err and "Traceback" not in err
    assert main(["verify", str(model), "--paths-check", "0"]) == 2


def test_a_footer_from_another_run_time_and_engine_verifies_but_its_text_is_compared(
    model: Path, tmp_path: Path
) -> None:
    """The footer records the engine and the run time (volatile, like the Audit sheet's rows:
    not compared); the rest of it is compared."""
    parts = _parts(model)
    sheets = [k for k in parts if k.startswith("xl/worksheets/sheet")]
    earlier, blanked = dict(parts), dict(parts)
    for key in sheets:
        text = parts[key].decode("utf-8")
        stamp = re.search(r"bondmodel [^,&<]+, run \d{4}-\d\d-\d\d \d\d:\d\d UTC", text)
        assert stamp, key
        earlier[key] = text.replace(
            stamp.group(0), "bondmodel 0.0.1, run 1999-01-01 00:00 UTC"
        ).encode("utf-8")
        blanked[key] = text.replace("Page &amp;P of &amp;N", "Page &amp;P").encode("utf-8")
    report = verify(_write_parts(earlier, tmp_path / "earlier.xlsx"))
    assert report.ok, report.text()
    report = verify(_write_parts(blanked, tmp_path / "blanked.xlsx"))
    assert report.exit_code == 1
    assert {m.what for m in report.mismatches} == {"oddFooter"}


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("x = " + "[" * 3000 + "]" * 3000, ["nests arrays or tables too deeply"]),
        (".".join(["a"] * 3000) + " = 1", ["line 1", "a dotted key nests tables"]),
        ("[meta\n", ["is not valid TOML"]),
    ],
)
def test_a_hostile_embedded_scenario_is_one_workbook_error(toml: str, words: list[str]) -> None:
    """The Audit sheet's TOML is read by the scenario's reader: a workbook built to crash the
    reader (arrays nested past the recursion limit, a dotted key of cubic parsing time) is
    refused in one line naming the sheet."""
    from bondmodel.workbook.verify import Audit, embedded_scenario

    audit = Audit({}, toml, None)  # type: ignore[arg-type]  # the settings are not read
    with pytest.raises(WorkbookError) as info:
        embedded_scenario(audit, Path("model.xlsx"))
    message = str(info.value)
    assert message.startswith("model.xlsx (Audit sheet, embedded scenario): "), message
    for word in words:
        assert word in message, message
