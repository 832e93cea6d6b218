"""Print-ready workbooks: every sheet A4 landscape, one page wide, with a print area, a header
and a footer; charts cover neither cells nor each other; the PDF's page count is bounded.

Issue 16's limits: the default workbook prints in at most 30 pages, no template in more
than 45 (before: 97, 143 and 127 pages).
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from bondmodel import load_scenario, run
from bondmodel.workbook.dashboard import tile_cell
from bondmodel.workbook.model_map import sheets_read
from bondmodel.workbook.printing import RUN_STAMP, header_footer
from bondmodel.workbook.recalc import convert_many
from bondmodel.workbook.styles import LINK_GREEN
from bondmodel.workbook.writer import write_workbook

from .conftest import TEMPLATES
from .xlsx_tools import general_format_cells

DEFAULT = "shared-services"
#: Most pages a template's workbook may print in (issue 16).
PAGE_LIMIT = {DEFAULT: 30}
OTHER_LIMIT = 45


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each template's workbook with a small simulation (so the risk sheets are there)."""
    folder = tmp_path_factory.mktemp("print")
    return {
        t.stem: write_workbook(run(load_scenario(t), paths=600, seed=3), folder / f"{t.stem}.xlsx")
        for t in TEMPLATES
    }


def test_every_sheet_is_set_up_for_a4_landscape_one_page_wide(
    workbooks: dict[str, Path],
) -> None:
    for name, path in workbooks.items():
        wb = openpyxl.load_workbook(path)
        scenario = load_scenario(next(t for t in TEMPLATES if t.stem == name)).meta.name
        for ws in wb.worksheets:
            where = (name, ws.title)
            assert ws.print_area, where
            assert int(ws.page_setup.paperSize) == 9, where  # A4
            assert ws.page_setup.orientation == "landscape", where
            assert ws.sheet_properties.pageSetUpPr.fitToPage, where
            assert ws.page_setup.fitToWidth in (1, None), where  # 1 is the default when set
            assert scenario.replace("&", "&&") in ws.oddHeader.left.text, where
            assert ws.oddHeader.right.text == "&A", where  # the sheet's name
            assert ws.oddFooter.center.text == "Page &P of &N", where
            assert "bondmodel" in ws.oddFooter.left.text, where
            assert ws.oddFooter.right.text == "&F", where


def test_data_for_verify_is_not_printed(workbooks: dict[str, Path]) -> None:
    """The Audit sheet prints its record without the run manifest, JSON and TOML; the Paths
    sheet its headings without the per-path sample (both stay in the file)."""
    wb = openpyxl.load_workbook(workbooks[DEFAULT])
    audit = wb["Audit"]
    last = int(
        re.findall(
            r"\$(\d+)",
            audit.print_area[0] if isinstance(audit.print_area, list) else audit.print_area,
        )[-1]
    )
    labels = [audit.cell(row=r, column=1).value for r in range(1, audit.max_row + 1)]
    manifest = labels.index("Run manifest (JSON)") + 1
    assert last < manifest < audit.max_row
    paths = wb["Paths"]
    last = int(re.findall(r"\$(\d+)", str(paths.print_area))[-1])
    assert last <= 5 < paths.max_row


def _anchors(path: Path) -> dict[str, list[tuple[int, int, int, int]]]:
    """Each sheet's chart rectangles (first row, first col, last row, last col; zero-based)
    from the drawing parts, as a spreadsheet application places them."""
    with zipfile.ZipFile(path) as zf:
        workbook = zf.read("xl/workbook.xml").decode()
        names = re.findall(r'<sheet name="([^"]+)"', workbook)
        out: dict[str, list[tuple[int, int, int, int]]] = {}
        for i, name in enumerate(names, start=1):
            rels = f"xl/worksheets/_rels/sheet{i}.xml.rels"
            if rels not in zf.namelist():
                continue
            drawings = re.findall(r'Target="../drawings/(drawing\d+\.xml)"', zf.read(rels).decode())
            for target in drawings:
                xml = zf.read(f"xl/drawings/{target}").decode()
                for a in re.findall(r"<xdr:twoCellAnchor>(.*?)</xdr:twoCellAnchor>", xml, re.S):
                    (c0, r0), (c1, r1) = (
                        tuple(
                            map(
                                int,
                                re.search(
                                    rf"<xdr:{end}><xdr:col>(\d+)</xdr:col>.*?<xdr:row>(\d+)</xdr:row>",
                                    a,
                                    re.S,
                                ).groups(),
                            )
                        )  # type: ignore[union-attr]
                        for end in ("from", "to")
                    )
                    out.setdefault(name, []).append((r0, c0, r1, c1))
    return out


def test_no_chart_covers_a_cell_or_another_chart(workbooks: dict[str, Path]) -> None:
    for name, path in workbooks.items():
        wb = openpyxl.load_workbook(path)
        anchors = _anchors(path)
        assert anchors.get("Summary"), name  # the test reads the charts it means to
        for sheet, rects in anchors.items():
            ws = wb[sheet]
            for r0, c0, r1, c1 in rects:
                covered = [
                    cell.coordinate
                    for row in ws.iter_rows(
                        min_row=r0 + 1, max_row=r1 + 1, min_col=c0 + 1, max_col=c1 + 1
                    )
                    for cell in row
                    if cell.value not in (None, "")
                ]
                assert not covered, (name, sheet, (r0, c0, r1, c1), covered[:5])
            for i, a in enumerate(rects):
                for b in rects[i + 1 :]:
                    apart = a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]
                    assert apart, (name, sheet, a, b)


def test_a_header_escapes_the_ampersand_and_stays_within_excel_s_limit() -> None:
    stamp = datetime(2026, 1, 2, tzinfo=UTC)
    header, footer = header_footer("Barking & Dagenham " + "x" * 400, stamp)
    assert "Barking && Dagenham" in header
    assert len(header) <= 255 and len(footer) <= 255
    assert "run 2026-01-02 00:00 UTC" in footer
    assert RUN_STAMP.search(footer)  # what verify leaves out of the comparison


@pytest.mark.spreadsheet
def test_page_counts_are_within_the_limits(
    soffice: str, workbooks: dict[str, Path], tmp_path: Path
) -> None:
    pdfs = convert_many(list(workbooks.values()), tmp_path / "pdf", to="pdf")
    pages = {
        path.stem: len(re.findall(rb"/Type\s*/Page(?![s\w])", path.read_bytes())) for path in pdfs
    }
    print(f"pages printed: {pages}")
    for name, count in pages.items():
        assert 5 <= count <= PAGE_LIMIT.get(name, OTHER_LIMIT), (name, count)
    for path in pdfs:
        # the dashboard prints on one page: one page's header names the Summary sheet
        text = subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
        heads = [page.strip().splitlines()[0] for page in text.split("\f") if page.strip()]
        assert sum(head.rstrip().endswith("Summary") for head in heads) == 1, (path.stem, heads)


def test_every_number_has_a_number_format(workbooks: dict[str, Path]) -> None:
    """No number shows in General format (95000000, 0.0525, 1E-15): each has its unit's."""
    for name, path in workbooks.items():
        general = general_format_cells(path)
        assert not general, (name, len(general), general[:8])


def test_inputs_are_formatted_by_their_unit(workbooks: dict[str, Path]) -> None:
    wb = openpyxl.load_workbook(workbooks[DEFAULT])
    ws = wb["Inputs"]
    formats = {
        ws.cell(row=r, column=1).value: ws.cell(row=r, column=5).number_format
        for r in range(5, ws.max_row + 1)
    }
    assert formats["costs[0].amount"].startswith("£#,##0")
    assert "(£" in formats["costs[0].amount"]  # negatives in brackets
    assert formats["bond.coupon.rate"] == "0.00%"
    assert formats["bond.tenor_years"] == "#,##0.00##"
    assert formats["conventions.zero_rate"] == "0.0E+00"  # 1e-15 shown, not as 0.00%


def test_the_cover_explains_the_colour_code(workbooks: dict[str, Path]) -> None:
    """Each sample on the Cover's colour key is written in the style it explains."""
    wb = openpyxl.load_workbook(workbooks[DEFAULT])
    cover, inputs = wb["Cover"], wb["Inputs"]
    samples = {
        cover.cell(row=r, column=2).value: cover.cell(row=r, column=2)
        for r in range(1, cover.max_row + 1)
    }
    assert "Colour key" in samples
    row = next(
        r
        for r in range(1, inputs.max_row + 1)
        if inputs.cell(row=r, column=1).value == "economics.inflation"
    )
    key, typed = samples["Input"], inputs.cell(row=row, column=5)  # a live input's value
    assert typed.fill.fgColor.rgb == key.fill.fgColor.rgb == "FFFFF2CC"
    assert typed.font.color.rgb == key.font.color.rgb == "FF0000FF"
    assert samples["Structural input"].font.i and samples["TRUE"].font.b
    # a link's sample is green, as a formula reading another sheet is (the Summary's tiles)
    summary = wb["Summary"]
    tile = summary[tile_cell(run(load_scenario(None), paths=0), "npv")]
    assert str(tile.value).startswith("='Metrics'!")
    assert samples["Link"].font.color.rgb == "FF" + LINK_GREEN[1:]
    assert tile.font.color.rgb == samples["Link"].font.color.rgb


def _name_sheets(wb: openpyxl.Workbook) -> dict[str, str]:
    """Each defined name of ``wb`` (lower case) and the sheet it points at, as read back."""
    return {
        n.lower(): str(d.attr_text).rsplit("!", 1)[0].strip("'")
        for n, d in wb.defined_names.items()
    }


def test_formulas_reading_another_sheet_are_green_and_no_others(
    workbooks: dict[str, Path],
) -> None:
    """The colour code's links: every formula that reads another sheet, by a reference or a
    defined name, is green unless its style has a colour of its own, and none other is."""
    for name, path in workbooks.items():
        wb = openpyxl.load_workbook(path)
        names = _name_sheets(wb)
        green = other = 0
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if not (isinstance(cell.value, str) and cell.value.startswith("=")):
                        continue
                    colour = cell.font.color.rgb if cell.font.color is not None else None
                    if sheets_read(cell.value, names) - {ws.title}:
                        assert colour is not None, (name, ws.title, cell.coordinate)
                        green += colour == "FF" + LINK_GREEN[1:]
                    else:
                        assert colour != "FF" + LINK_GREEN[1:], (name, ws.title, cell.coordinate)
                        other += 1
        assert green > 100 and other > 100, (name, green, other)


def test_which_sheets_a_formula_reads_agrees_with_openpyxl_s_tokenizer(
    workbooks: dict[str, Path],
) -> None:
    """The fast reading of a formula's references (a regular expression, for the Model map and
    the link colours) finds the same sheets as openpyxl's formula tokenizer, on every formula
    of every template's workbook."""
    from openpyxl.formula.tokenizer import Token, Tokenizer

    def by_tokenizer(formula: str, names: dict[str, str]) -> set[str]:
        found = set()
        for token in Tokenizer(formula).items:
            if token.type == Token.OPERAND and token.subtype == Token.RANGE:
                ref = token.value
                if "!" in ref:
                    sheet = ref.rsplit("!", 1)[0]
                    found.add(sheet[1:-1].replace("''", "'") if sheet[0] == "'" else sheet)
                elif ref.lower() in names:
                    found.add(names[ref.lower()])
        return found

    for name, path in workbooks.items():
        wb = openpyxl.load_workbook(path)
        names = _name_sheets(wb)
        count = 0
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if isinstance(cell.value, str) and cell.value.startswith("="):
                        assert sheets_read(cell.value, names) == by_tokenizer(cell.value, names), (
                            name,
                            ws.title,
                            cell.coordinate,
                            cell.value,
                        )
                        count += 1
        assert count > 2000, (name, count)
