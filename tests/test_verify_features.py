"""``bondmodel verify`` compares everything the writer wrote, and distrusts the run manifest.

Each tampering is made the way it would happen to a saved file, by editing the XML
inside the workbook's zip, so that nothing else changes (openpyxl rewriting a file
would drop or add things of its own). Each must fail with exit 1 and a mismatch that
names it. The manifest cases must fail with exit 2, naming the field, before anything
is rerun.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from bondmodel import load_scenario, run
from bondmodel.cli import main
from bondmodel.verification import verify
from bondmodel.workbook.verify import Mismatch
from bondmodel.workbook.writer import write_workbook

from .xlsx_tools import sheet_xml as _sheet_xml
from .xlsx_tools import write_zip_parts as _write_parts
from .xlsx_tools import zip_parts as _parts

PATHS = 600


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default template with a small simulation (every sheet and chart is written)."""
    out = tmp_path_factory.mktemp("features") / "small.xlsx"
    return write_workbook(run(load_scenario(None), paths=PATHS, seed=7), out)


def _replace(source: Path, target: Path, part: str, old: str, new: str, count: int = 1) -> Path:
    parts = _parts(source)
    text = parts[part].decode("utf-8")
    assert old in text, (part, old)
    parts[part] = text.replace(old, new, count).encode("utf-8")
    return _write_parts(parts, target)


def _found(mismatches: list[Mismatch], what: str, sheet: str, cell: str) -> Mismatch:
    hits = [m for m in mismatches if (m.what, m.sheet, m.cell) == (what, sheet, cell)]
    assert hits, [(m.what, m.sheet, m.cell) for m in mismatches[:20]]
    return hits[0]


def test_a_redirected_defined_name_is_named(small: Path, tmp_path: Path) -> None:
    """The coupon rate's name pointed at the next input cell: the formulas compute other
    numbers from unchanged cells, and verify must say which name moved."""
    target = str(openpyxl.load_workbook(small).defined_names["in_bond_coupon_rate"].attr_text)
    sheet, cell = target.split("!")
    row = int(cell.split("$")[-1])
    moved = f"{sheet}!$E${row + 1}"
    tampered = _replace(
        small,
        tmp_path / "n.xlsx",
        "xl/workbook.xml",
        f'name="in_bond_coupon_rate">{target}<',
        f'name="in_bond_coupon_rate">{moved}<',
    )
    report = verify(tampered)
    assert report.exit_code == 1
    m = _found(report.mismatches, "defined name", "(workbook)", "in_bond_coupon_rate")
    assert (m.workbook, m.rerun) == (moved, target)


def test_an_added_defined_name_is_named(small: Path, tmp_path: Path) -> None:
    tampered = _replace(
        small,
        tmp_path / "a.xlsx",
        "xl/workbook.xml",
        "<definedNames>",
        '<definedNames><definedName name="zz_added">Inputs!$E$10</definedName>',
    )
    report = verify(tampered)
    assert report.exit_code == 1
    m = _found(report.mismatches, "defined name", "(workbook)", "zz_added")
    assert (m.workbook, m.rerun) == ("Inputs!$E$10", None)
    assert report.mismatch_count == 1


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
def test_a_hidden_sheet_is_named(small: Path, tmp_path: Path, state: str) -> None:
    tampered = _replace(
        small,
        tmp_path / "h.xlsx",
        "xl/workbook.xml",
        '<sheet name="Checks"',
        f'<sheet name="Checks" state="{state}"',
    )
    report = verify(tampered)
    assert report.exit_code == 1
    m = _found(report.mismatches, "sheet visibility", "Checks", "-")
    assert (m.workbook, m.rerun) == (state, "visible")
    assert re.search(rf"Checks +- +sheet visibility +{state}", report.text())


def test_a_number_format_hiding_negatives_is_named(small: Path, tmp_path: Path) -> None:
    """The money format's negative section emptied: negatives would show as blanks."""
    tampered = _replace(
        small,
        tmp_path / "f.xlsx",
        "xl/styles.xml",
        'formatCode="£#,##0;[Red](£#,##0)"',
        'formatCode="£#,##0;;"',
    )
    report = verify(tampered)
    assert report.exit_code == 1
    formats = [m for m in report.mismatches if m.what == "number format"]
    assert formats and all(m.workbook == "£#,##0;;" for m in formats)
    assert all(m.rerun == "£#,##0;[Red](£#,##0)" for m in formats)
    assert report.mismatch_count > 1000
    # more than the report lists: the counts by sheet and kind still name every sheet
    assert report.counts["Cashflows: number format"] > 100
    assert report.counts["Bond: number format"] > 100
    assert sum(report.counts.values()) == report.mismatch_count
    assert "Cashflows: number format" in report.text()
    assert not [m for m in report.mismatches if m.what == "cell"]  # only the formats changed


def test_text_coloured_like_its_fill_is_named(small: Path, tmp_path: Path) -> None:
    """The inputs' blue text made the yellow of their fill: every input would vanish."""
    tampered = _replace(
        small, tmp_path / "w.xlsx", "xl/styles.xml", 'rgb="FF0000FF"', 'rgb="FFFFF2CC"'
    )
    report = verify(tampered)
    assert report.exit_code == 1
    looks = [m for m in report.mismatches if m.what == "font or fill"]
    assert looks and report.mismatch_count == len(looks)
    assert "Inputs" in {m.sheet for m in looks}
    assert "text colour FFF2CC" in looks[0].workbook and "fill FFF2CC" in looks[0].workbook
    assert "text colour 0000FF" in looks[0].rerun


def test_a_removed_data_validation_is_named(small: Path, tmp_path: Path) -> None:
    part = _sheet_xml(small, "Inputs")
    xml = _parts(small)[part].decode("utf-8")
    first = re.search(r"<dataValidation [^>]*sqref=\"([A-Z]+\d+)\".*?</dataValidation>", xml)
    assert first is not None
    tampered = _replace(small, tmp_path / "v.xlsx", part, first.group(0), "")
    report = verify(tampered)
    assert report.exit_code == 1
    m = _found(report.mismatches, "data validation", "Inputs", first.group(1))
    assert m.workbook is None and m.rerun is not None
    assert report.mismatch_count == 1


@pytest.mark.parametrize("series", ["$D$18:$AC$18", "$D$19:$AC$19"])
def test_a_changed_chart_reference_is_named(small: Path, tmp_path: Path, series: str) -> None:
    """Either series of the Summary's combined column-and-line chart, pointed at another
    row: the chart would plot other numbers."""
    tampered = _replace(
        small,
        tmp_path / "c.xlsx",
        "xl/charts/chart1.xml",
        f"'Cashflows'!{series}",
        "'Cashflows'!$D$20:$AC$20",
    )
    report = verify(tampered)
    assert report.exit_code == 1
    charts = [m for m in report.mismatches if m.what == "chart"]
    assert [(m.sheet, m.cell) for m in charts] == [("Summary", "A16")]  # the first chart's anchor
    assert "$D$20:$AC$20" in charts[0].workbook and series in charts[0].rerun


def test_a_changed_formula_is_named_and_shown_where_it_differs(small: Path, tmp_path: Path) -> None:
    """Two long formulas that differ in the middle look the same cut to 20 characters: the
    text report shows the differing fragment with a caret under the first difference."""
    part = _sheet_xml(small, "Metrics")
    xml = _parts(small)[part].decode("utf-8")
    found = re.search(r'<c r="(B\d+)"[^>]*><f>([^<]{80,})</f>', xml)
    assert found is not None
    cell, formula = found.group(1), found.group(2)
    at = formula.index("$", 40)  # a reference well inside the formula
    changed = formula[:at] + "$Z" + formula[at + 2 :] if formula[at + 1] != "Z" else None
    assert changed is not None and changed != formula
    tampered = _replace(small, tmp_path / "g.xlsx", part, f"<f>{formula}</f>", f"<f>{changed}</f>")
    report = verify(tampered)
    m = _found(report.mismatches, "cell", "Metrics", cell)
    assert m.workbook.endswith(f"[={changed}]") and m.rerun.endswith(f"[={formula}]")  # whole
    text = report.text()
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "differ from character" in line)
    ours, theirs, caret = lines[start + 1], lines[start + 2], lines[start + 3]
    assert ours.startswith("      workbook: ") and theirs.startswith("      rerun:    ")
    column = caret.index("^")
    assert ours[column] != theirs[column]
    assert ours[column - 8 : column] == theirs[column - 8 : column]  # the common part before it
    assert "$Z" in ours


def test_a_changed_value_and_input_are_still_named(small: Path, tmp_path: Path) -> None:
    ws = openpyxl.load_workbook(small)["Inputs"]
    row = next(r[0].row for r in ws.iter_rows(min_row=5) if r[0].value == "bond.coupon.rate")
    part = _sheet_xml(small, "Inputs")
    xml = _parts(small)[part].decode("utf-8")
    old = re.search(rf'<c r="E{row}"[^>]*><v>[^<]*</v></c>', xml)
    assert old is not None
    new = re.sub(r"<v>[^<]*</v>", "<v>0.0625</v>", old.group(0))
    report = verify(_replace(small, tmp_path / "i.xlsx", part, old.group(0), new))
    assert any("Inputs sheet no longer matches" in p for p in report.problems)
    assert _found(report.mismatches, "cell", "Inputs", f"E{row}").workbook == 0.0625


# ---------------------------------------------------------------------------
# The run manifest is untrusted input
# ---------------------------------------------------------------------------


def _manifest(path: Path) -> str:
    records = {
        r[0]: r[1]
        for r in openpyxl.load_workbook(path)["Audit"].iter_rows(values_only=True)
        if r[0]
    }
    return str(records["Run manifest (JSON)"])


def _with_manifest(small: Path, target: Path, edit: Callable[[dict[str, object]], None]) -> Path:
    text = _manifest(small)
    data = json.loads(text)
    edit(data)
    return _replace(small, target, "xl/sharedStrings.xml", text, json.dumps(data, sort_keys=True))


@pytest.mark.alone  # times itself: the other workers wait (tests/conftest.py)
def test_a_huge_manifest_is_refused_at_once(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = _with_manifest(
        small,
        tmp_path / "huge.xlsx",
        lambda d: d.update(paths=100_000_000, paths_requested=100_000_000),
    )
    started = time.perf_counter()
    assert main(["verify", str(huge)]) == 2
    assert time.perf_counter() - started < 1.0
    err = capsys.readouterr().err
    assert "100,000,000 paths" in err and "--max-paths" in err and "Traceback" not in err


def test_max_paths_moves_the_limit(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(small), "--max-paths", str(PATHS - 1)]) == 2
    assert f"records a run of {PATHS} paths" in capsys.readouterr().err
    assert main(["verify", str(small), "--max-paths", str(PATHS)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("MATCH: ")
    # what is rerun is said before it starts
    assert f"rerunning the base case and {PATHS} paths (sampler random, seed 7)" in captured.err


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda d: d.update(seed={"value": [7]}), ["seed", "a JSON object"]),
        (lambda d: d.update(seed="7"), ["seed", "'7', a string", "valid integer"]),
        (lambda d: d.update(surprise=1), ["surprise", "unknown field", "allowed fields"]),
        (lambda d: d.update(sampler="halton"), ["sampler", "'halton'", "'sobol'"]),
        (lambda d: d.update(paths=-1), ["paths", "-1", "greater than or equal to 0"]),
        (
            lambda d: d.update(convergence={"tolerance": "x", "confidence": 0.9, "metrics": []}),
            ["convergence.tolerance", "'x'"],
        ),
        (lambda d: d.update(libraries={"numpy": {"nested": True}}), ["libraries.numpy"]),
    ],
    ids=["nested", "string-seed", "unknown-field", "sampler", "negative", "rule", "library"],
)
def test_a_bad_manifest_field_is_named(
    small: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: Callable[[dict[str, object]], None],
    words: list[str],
) -> None:
    bad = _with_manifest(small, tmp_path / "bad.xlsx", edit)
    assert main(["verify", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "run manifest" in err and "Traceback" not in err
    for word in words:
        assert word in err, (word, err)


# ---------------------------------------------------------------------------
# The spellings a spreadsheet application changes compare equal; nothing else does
# ---------------------------------------------------------------------------


def test_libreoffice_spellings_verify_without_libreoffice(small: Path, tmp_path: Path) -> None:
    """LibreOffice's rewrites, made in the XML: sheet names unquoted in every formula, TRUE
    saved as =TRUE(), a number literal in exponent form, literal text in number formats
    escaped and quoted. The workbook still verifies (tests/test_verify_roundtrip.py does
    the same through LibreOffice itself)."""
    parts = _parts(small)
    for name, data in list(parts.items()):
        if name.startswith("xl/worksheets/sheet"):
            text = data.decode("utf-8")
            text = re.sub(r"'(Bond|Cashflows|Timeline|Partners)'!", r"\1!", text)
            text = re.sub(
                r'<c r="([A-Z]+\d+)"([^>]*) t="b"><v>1</v></c>',
                r'<c r="\1"\2 t="b"><f>TRUE()</f><v>1</v></c>',
                text,
            )
            text = text.replace("-0.5)/2)", "-5E-1)/2)")  # the S-curve half as 5E-1
            parts[name] = text.encode("utf-8")
    styles = parts["xl/styles.xml"].decode("utf-8")
    styles = styles.replace(
        'formatCode="£#,##0;[Red](£#,##0)"', 'formatCode="\\£#,##0;[RED]&quot;(£&quot;#,##0\\)"'
    )
    parts["xl/styles.xml"] = styles.replace(
        'formatCode="yyyy-mm-dd"', 'formatCode="yyyy\\-mm\\-dd"'
    ).encode("utf-8")
    saved = _write_parts(parts, tmp_path / "respelt.xlsx")
    wb = openpyxl.load_workbook(saved)
    assert wb["Inputs"]["E12"].value == "=TRUE()"  # the rewrites really are in the file
    assert wb["Metrics"]["B5"].number_format.startswith("\\£")
    assert any("5E-1" in str(c.value) for row in wb["Cashflows"].iter_rows() for c in row)
    assert not any("'Bond'!" in str(c.value) for row in wb["Metrics"].iter_rows() for c in row)
    report = verify(saved)
    assert report.ok, report.text()


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("='Bond'!$D$5*2", "=Bond!$D$5*2", True),
        ("=SUM('Bond'!A1:B2)", "=SUM(Bond!A1:B2)", True),
        ("=A1<=0.000000001", "=A1<=1E-9", True),
        ("=A1<=0.000000001", "=A1<=0.00000001", False),
        ("=Bond!$D$5", "=Bond!$D$6", False),
        ("=A1 B1", "=A1B1", False),  # a space is the intersection operator
        ("=IF(A1,\"'Bond'!\",1)", '=IF(A1,"Bond!",1)', False),  # text is text
    ],
)
def test_formulas_compare_by_meaning_only(a: str, b: str, same: bool) -> None:
    from bondmodel.workbook.canonical import formula_key

    assert (formula_key(a) == formula_key(b)) is same


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("£#,##0;[Red]-£#,##0", '\\£#,##0;[RED]"-£"#,##0', True),
        ("yyyy-mm-dd", "yyyy\\-mm\\-dd", True),
        ("General", "general", True),
        ("£#,##0;[Red]-£#,##0", "£#,##0;;", False),
        ("0.00", "0.000", False),
        ("0.00%", '0.00"%"', False),  # a percent sign scales; the quoted one is text
        ("#,##0", "#,##0,", False),  # a trailing comma divides by 1,000
    ],
)
def test_number_formats_compare_by_meaning_only(a: str, b: str, same: bool) -> None:
    from bondmodel.workbook.canonical import number_format_key

    assert (number_format_key(a) == number_format_key(b)) is same


def test_a_path_index_outside_the_run_is_named(small: Path, tmp_path: Path) -> None:
    """--paths-check regenerates each recorded path's block from its index: an index edited
    beyond the run is reported, not rerun."""
    part = _sheet_xml(small, "Paths")
    xml = _parts(small)[part].decode("utf-8")
    first = re.search(r'<c r="A6"[^>]*><v>0</v></c>', xml)
    assert first is not None
    tampered = _replace(
        small,
        tmp_path / "p.xlsx",
        part,
        first.group(0),
        first.group(0).replace("<v>0</v>", "<v>1000000000000000</v>"),
    )
    report = verify(tampered, paths_check=3)
    assert report.exit_code == 1
    assert any("path 1000000000000000 (row 6)" in p and "0 to 599" in p for p in report.problems)
