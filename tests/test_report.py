"""The committee pack (issue 16, items 6 and 7): ``bondmodel report``, ``run --pdf/--png``,
the PNG charts' data, and the summary table ``run`` prints.

One small model workbook (2,000 paths) is built once for the module; the PDF tests
render it in LibreOffice (about 3 seconds each).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tomli_w

import bondmodel
from bondmodel import cli
from bondmodel.charts import (
    CHART_FILES,
    DPI,
    FIGURE_INCHES,
    HISTOGRAM_BINS,
    cash_flows_data,
    debt_service_data,
    fan_data,
    financial_year,
    min_dscr_data,
    stale_charts,
    write_charts,
)
from bondmodel.display import DEFAULT_WIDTH, format_value
from bondmodel.engine import Results
from bondmodel.errors import ScenarioError
from bondmodel.headline import event_probabilities, headline_metrics, headline_text
from bondmodel.labels import BOND_METRICS, METRICS
from bondmodel.pack import page_count, rerun_workbook
from bondmodel.workbook.writer import write_workbook

from .conftest import ROOT
from .xlsx_tools import edit_inputs, read_cells, sheet_files

PATHS, SEED = 2000, 20261130
#: The workbook's sheets, in order, each printed from its print area.
PAGE_HEADER = re.compile(r"Page (\d+) of (\d+)")


def _template(name: str) -> Path:
    return ROOT / "templates" / f"{name}.toml"


def _without_bond(folder: Path) -> Path:
    """``single-council-bold`` without its bond and PWLB comparison: a programme appraisal
    alone, with a simulation (no template is without a bond)."""
    data = tomllib.loads(_template("single-council-bold").read_text(encoding="utf-8"))
    del data["bond"], data["pwlb"]
    path = folder / "no-bond.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def results() -> Results:
    return bondmodel.run(bondmodel.load_scenario(None), paths=PATHS, seed=SEED)


@pytest.fixture(scope="module")
def model(results: Results, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_workbook(results, tmp_path_factory.mktemp("pack") / "model.xlsx")


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


# ---------------------------------------------------------------------------
# run's summary table
# ---------------------------------------------------------------------------


def test_the_table_holds_the_summary_sheet_s_metrics_as_results_has_them(
    results: Results, model: Path
) -> None:
    items = headline_metrics(results)
    assert results.bond is not None and results.risk is not None
    # the workbook's Summary sheet shows the same metrics, in the same reading order (row by
    # row, left to right), whatever its layout: a metric's label is where it is shown
    labels = {c.label for c in (METRICS | BOND_METRICS).values()}
    cells = read_cells(model, {"Summary"})
    found = sorted(
        (_row_col(ref), value) for (_, ref), (_, value) in cells.items() if value in labels
    )
    assert [i.column.label for i in items] == [value for _, value in found]
    assert len(items) >= 7
    text = headline_text(results)
    summary = results.risk.summary
    for item in items:
        column = (METRICS | BOND_METRICS)[item.key]
        assert item.column == column
        engine = results.metrics.get(item.key, results.bond.metrics.get(item.key))
        assert item.base == engine
        levels = [float(summary[item.key][s]) for s in ("p10", "p50", "p90")]
        assert item.percentiles == tuple(levels)
        row = [column.label, *(format_value(v, column.unit) for v in [engine, *levels])]
        # the row as the table lays it out: label, then each value right-aligned
        assert re.search(r"\s+".join(re.escape(c) for c in row), text), row
    for label, p in event_probabilities(results):
        assert re.search(re.escape(label) + r"\s+" + re.escape(format_value(p, "rate")), text)
    shortfall = float(results.risk.probabilities["value"]["p_any_shortfall"])
    assert ("Probability of a shortfall", shortfall) in event_probabilities(results)
    assert f"seed {SEED}, {PATHS:,} paths" in text


def _row_col(ref: str) -> tuple[int, int]:
    letters = ref.rstrip("0123456789")
    col = 0
    for ch in letters:
        col = col * 26 + ord(ch) - 64
    return int(ref[len(letters) :]), col


def test_a_base_case_run_has_no_percentile_columns(tmp_path: Path) -> None:
    res = bondmodel.run(bondmodel.load_scenario(_without_bond(tmp_path)), paths=0)
    text = headline_text(res)
    assert "P10" not in text and "Probability" not in text
    assert "Base case only: no Monte Carlo run." in text
    assert [i.key for i in headline_metrics(res)] == ["npv", "payback_years", "peak_funding_need"]
    assert format_value(res.metrics["npv"], "money") in text


def test_run_prints_the_table_and_quiet_or_json_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], results: Results
) -> None:
    common = ["run", "-o", str(tmp_path / "m.xlsx"), "--paths", str(PATHS), "--seed", str(SEED)]
    code, out, err = _main(capsys, *common)
    assert code == 0, err
    # the whole table, exactly as the results format it (stdout is not a terminal here)
    assert out == headline_text(results, DEFAULT_WIDTH) + "\n"
    assert "Summary" not in err  # the seed and "wrote" lines stay on stderr
    code, out, err = _main(capsys, *common, "--quiet")
    assert (code, out) == (0, "")
    code, out, _ = _main(capsys, *common, "--json")
    assert code == 0 and out.startswith("{") and "Summary:" not in out


# ---------------------------------------------------------------------------
# The charts' data
# ---------------------------------------------------------------------------


def test_cash_flows_by_financial_year_sum_the_periods(results: Results) -> None:
    data = cash_flows_data(results)
    net = results.periods["net_cash_flow"].to_numpy()
    # annual periods from 1 April: financial year k holds period k+1 (and the close, in the first)
    assert data.years[:3] == ["2026/27", "2027/28", "2028/29"]
    assert len(data.years) == results.timeline.n_periods
    assert data.net[0] == pytest.approx(net[0] + net[1], rel=1e-12)
    np.testing.assert_allclose(data.net[1:], net[2:], rtol=1e-12)
    np.testing.assert_allclose(data.cumulative, np.cumsum(data.net), rtol=1e-12)
    assert data.cumulative[-1] == pytest.approx(results.metrics["total_net_cash_flow"], rel=1e-12)


def test_quarterly_periods_are_summed_four_to_a_financial_year() -> None:
    res = bondmodel.run(bondmodel.load_scenario(_template("index-linked")), paths=0)
    assert res.timeline.f == 4
    data = cash_flows_data(res)
    net = res.periods["net_cash_flow"].to_numpy()
    expected = [net[0] + net[1:5].sum()] + [
        net[4 * k + 1 : 4 * k + 5].sum() for k in range(1, len(data.years))
    ]
    np.testing.assert_allclose(data.net, expected, rtol=1e-12)
    assert data.years[1] == financial_year(res.timeline.period_end[5])


def test_debt_service_fan_and_dscr_data_are_the_engine_s(results: Results) -> None:
    assert results.bond is not None and results.risk is not None
    bond = debt_service_data(results)
    assert bond is not None
    table = results.bond.table
    assert bond.dates == list(table["date"])[1:]
    np.testing.assert_array_equal(bond.cfads, table["cfads"].to_numpy()[1:])
    np.testing.assert_array_equal(bond.debt_service_due, table["debt_service_due"].to_numpy()[1:])

    fan = fan_data(results)
    assert fan is not None
    frame = results.risk.fans["net_savings"]
    assert fan.periods == list(frame["period"])
    for level in ("P5", "P10", "P50", "P90", "P95"):
        np.testing.assert_array_equal(fan.levels[level], frame[level].to_numpy())

    hist = min_dscr_data(results)
    assert hist is not None
    values = results.risk.per_path["min_dscr"].to_numpy()
    finite = values[np.isfinite(values)]
    assert len(hist.counts) == HISTOGRAM_BINS and hist.counts.sum() == finite.size
    assert hist.edges[0] == finite.min() and hist.edges[-1] == finite.max()
    assert hist.undefined == values.size - finite.size and hist.paths == PATHS
    assert hist.base == results.bond.metrics["min_dscr"]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    assert data.endswith(b"IEND\xaeB`\x82"), f"{path} is cut short"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_charts_are_one_png_each_of_the_stated_size(results: Results, tmp_path: Path) -> None:
    size = (round(FIGURE_INCHES[0] * DPI), round(FIGURE_INCHES[1] * DPI))
    written = write_charts(results, tmp_path / "charts")
    assert [p.name for p in written] == list(CHART_FILES.values())
    for path in written:
        assert _png_size(path) == size
    # no bond: no debt-service or DSCR chart; no simulation either: the cash flows alone
    no_bond = bondmodel.run(bondmodel.load_scenario(_without_bond(tmp_path)), paths=500, seed=1)
    assert no_bond.bond is None
    again = write_charts(no_bond, tmp_path / "charts")
    assert [p.name for p in again] == [CHART_FILES["cash_flows"], CHART_FILES["fan"]]
    assert stale_charts(tmp_path / "charts", again) == [
        tmp_path / "charts" / CHART_FILES[k] for k in ("debt_service", "min_dscr")
    ]
    base_only = bondmodel.run(bondmodel.load_scenario(None), paths=0)
    assert [p.name for p in write_charts(base_only, tmp_path / "base")] == [
        CHART_FILES["cash_flows"],
        CHART_FILES["debt_service"],
    ]
    assert not list((tmp_path / "base").glob(".*")), "a temporary file was left behind"


def test_a_chart_folder_that_is_a_file_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "charts").write_text("not a folder")
    code, out, err = _main(
        capsys, "run", "-o", str(tmp_path / "m.xlsx"), "--png", str(tmp_path / "charts")
    )
    assert code == 2 and out == ""
    assert (
        err == f"bondmodel: error: --png: {tmp_path / 'charts'} is a file, not a folder; "
        "give a folder for the charts\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["charts"]


# ---------------------------------------------------------------------------
# report --png: the charts of the run the workbook records
# ---------------------------------------------------------------------------


def test_report_png_reruns_the_workbook_s_run(results: Results, model: Path) -> None:
    again = rerun_workbook(model)
    assert again.risk is not None and results.risk is not None
    np.testing.assert_array_equal(cash_flows_data(again).net, cash_flows_data(results).net)
    a, b = min_dscr_data(again), min_dscr_data(results)
    assert a is not None and b is not None
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.edges, b.edges)
    fa, fb = fan_data(again), fan_data(results)
    assert fa is not None and fb is not None
    for level in fb.levels:
        np.testing.assert_array_equal(fa.levels[level], fb.levels[level])


def test_report_png_alone_needs_no_libreoffice_and_writes_only_the_charts(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no soffice
    monkeypatch.chdir(tmp_path)
    code, out, err = _main(capsys, "report", str(model), "--png", "charts")
    assert (code, out) == (0, "")
    assert err.splitlines()[0] == (
        f"bondmodel: report: rerunning the base case and {PATHS:,} paths "
        f"(sampler random, seed {SEED}), for the charts"
    )
    assert err.splitlines()[1].startswith("bondmodel: wrote 4 charts to charts: ")
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == sorted(CHART_FILES.values())
    assert [p.name for p in tmp_path.iterdir()] == ["charts"]  # no PDF


def _input_row(path: Path, field: str) -> int:
    cells = read_cells(path, {"Inputs"})
    ref = next(ref for (sheet, ref), (_, v) in cells.items() if ref.startswith("A") and v == field)
    return int(ref[1:])


def test_report_png_refuses_a_workbook_edited_since_its_run(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = edit_inputs(
        model, tmp_path / "edited.xlsx", {_input_row(model, "economics.inflation"): (0.031,)}
    )
    with pytest.raises(ScenarioError, match="an input on the Inputs sheet was changed"):
        rerun_workbook(edited)
    code, out, err = _main(
        capsys, "report", str(edited), "-o", str(tmp_path / "p.pdf"), "--png", str(tmp_path / "c")
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("bondmodel: error: ")  # before any rerun
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.xlsx"]


# ---------------------------------------------------------------------------
# The PDF pack
# ---------------------------------------------------------------------------


def test_without_libreoffice_report_and_run_pdf_fail_at_once(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    pack = tmp_path / "pack.pdf"
    pack.write_bytes(b"%PDF-1.7 an earlier pack")
    code, out, err = _main(capsys, "report", str(model), "-o", str(pack))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith("bondmodel: error: the PDF pack needs LibreOffice")
    assert "apt-get install -y libreoffice-calc-nogui" in err
    assert pack.read_bytes() == b"%PDF-1.7 an earlier pack"
    # run --pdf: refused before the seed is drawn and anything runs or is written
    code, out, err = _main(
        capsys, "run", "-o", str(tmp_path / "m.xlsx"), "--pdf", str(tmp_path / "new.pdf")
    )
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "seed" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "pack.pdf"]


def test_a_failed_render_leaves_an_existing_pack_and_no_debris(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A LibreOffice that writes half a PDF and fails: the old pack stays, nothing is left."""
    fake = tmp_path / "bin" / "soffice"
    fake.parent.mkdir()
    fake.write_text(
        '#!/bin/sh\nwhile [ "$1" != "--outdir" ]; do shift; done\n'
        'printf "%%PDF-1.7 half" > "$2/model.pdf"\necho "crashed" >&2\nexit 3\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    pack = out_dir / "pack.pdf"
    pack.write_bytes(b"%PDF-1.7 an earlier pack")
    code, out, err = _main(capsys, "report", str(model), "-o", str(pack))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "LibreOffice failed to convert" in err and "crashed" in err
    assert pack.read_bytes() == b"%PDF-1.7 an earlier pack"
    assert [p.name for p in out_dir.iterdir()] == ["pack.pdf"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["report", "{tmp}/none.xlsx"], "none.xlsx: workbook does not exist"),
        (["report", "{tmp}/notes.txt"], "is not an .xlsx workbook"),
        (["report", "{tmp}/form.xlsx"], "is not a model workbook written by `bondmodel run`"),
        (["report", "{model}", "-o", "{tmp}/pack.txt"], "--output: '{tmp}/pack.txt' must end in"),
        (["report", "{model}", "-o", "{tmp}/no/pack.pdf"], "the folder {tmp}/no does not exist"),
        (["run", "-o", "{tmp}/m.xlsx", "--pdf", "{tmp}/pack.xlsx"], "--pdf: '{tmp}/pack.xlsx'"),
    ],
    ids=["missing", "not-xlsx", "input-form", "not-pdf", "no-folder", "run-not-pdf"],
)
def test_bad_report_input_is_one_line_exit_2_and_writes_nothing(
    argv: list[str],
    words: str,
    model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    bondmodel_form = tmp_path / "form.xlsx"
    assert cli.main(["template", str(bondmodel_form)]) == 0
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    filled = [a.format(tmp=tmp_path, model=model) for a in argv]
    code, out, err = _main(capsys, *filled)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("bondmodel: error: ")
    assert words.format(tmp=tmp_path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def _tamper_summary_npv(source: Path, target: Path, npv: float, wrong: float) -> str:
    """Copy ``source`` with the Summary sheet's cached base-case NPV (the formula cell that
    caches the engine's ``npv``, wherever the layout puts it) set to ``wrong``; returns the
    cell's reference."""
    cells = read_cells(source, {"Summary"})
    refs = [ref for (_, ref), (formula, v) in cells.items() if formula and v == npv]
    assert len(refs) == 1, refs  # the base case is one live formula
    ref = refs[0]
    with zipfile.ZipFile(source) as src:
        parts = {info: src.read(info.filename) for info in src.infolist()}
        part = sheet_files(src)["Summary"]
    for info, data in parts.items():
        if info.filename == part:
            xml = data.decode("utf-8")
            cell = re.search(rf'<c r="{ref}"[^>]*><f>[^<]*</f><v>[^<]+</v>', xml)
            assert cell is not None
            new = re.sub(r"<v>[^<]+</v>", f"<v>{wrong}</v>", cell.group(0))
            parts[info] = (xml[: cell.start()] + new + xml[cell.end() :]).encode("utf-8")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in parts.items():
            dst.writestr(info, data)
    assert read_cells(target, {"Summary"})[("Summary", ref)][1] == wrong
    return ref


def _pages(pdf: Path) -> list[str]:
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")[: page_count(pdf.read_bytes())]


@pytest.mark.spreadsheet
def test_report_prints_every_print_area_recalculated(
    soffice: str,
    model: Path,
    results: Results,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler's pdftotext is not installed")
    workbook = tmp_path / "model.xlsx"
    wrong = 123456789.0
    npv = results.metrics["npv"]
    assert npv is not None
    _tamper_summary_npv(model, workbook, npv, wrong)
    pack = tmp_path / "pack.pdf"
    code, out, err = _main(capsys, "report", str(workbook), "-o", str(pack))
    assert (code, out) == (0, "")
    pages = _pages(pack)
    count = page_count(pack.read_bytes())
    assert err == f"bondmodel: wrote {pack} ({count} pages)\n"
    # each page's header names its sheet; the sheets come in order, each with its pages,
    # and every sheet (each has a print area) is there: the pack is the print areas
    with zipfile.ZipFile(workbook) as zf:
        sheets = list(sheet_files(zf))
    on_page = []
    for number, page in enumerate(pages, start=1):
        header = page.strip().splitlines()[0].split()
        on_page.append(next(s for s in sheets if header[-len(s.split()) :] == s.split()))
        assert PAGE_HEADER.search(page).groups() == (str(number), str(count))  # type: ignore[union-attr]
    assert list(dict.fromkeys(on_page)) == sheets
    assert sum(on_page.count(s) for s in sheets) == count == len(pages)
    # the Summary page holds the engine's NPV, recalculated over the wrong cached value
    summary = pages[on_page.index("Summary")]
    assert f"Summary: {results.scenario.meta.name}" in summary
    # in pounds, or in millions on a dashboard tile, as the sheet's format shows it
    assert format_value(npv, "money") in summary or f"£{npv / 1e6:,.1f}m" in summary
    text = "".join(pages)
    assert "123,456,789" not in text and "123.5m" not in text
    assert "model.xlsx" in pages[0]  # the footer names the workbook, not a temporary copy


@pytest.mark.spreadsheet
def test_run_pdf_writes_the_workbook_and_its_pack(
    soffice: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workbook, pack = tmp_path / "m.xlsx", tmp_path / "m.pdf"
    code, out, err = _main(
        capsys,
        "run",
        str(_template("single-council-bold")),
        "-o",
        str(workbook),
        "--paths",
        "0",
        "--pdf",
        str(pack),
        "--quiet",
    )
    assert (code, out) == (0, "")
    count = page_count(pack.read_bytes())
    assert err.splitlines() == [
        f"bondmodel: wrote {workbook}",
        f"bondmodel: wrote {pack} ({count} pages)",
    ]
    assert count >= 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pdf", "m.xlsx"]


def test_the_user_guide_s_run_example_is_the_tool_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8")
    command = "$ bondmodel run --paths 2000 --seed 1\n"
    block = text[text.index(command) + len(command) :].split("```", 1)[0]
    quoted = block.rstrip("\n").split("\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = _main(capsys, *command[12:].split())
    assert code == 0
    assert [line for line in quoted if line.startswith("bondmodel: ")] == err.splitlines()
    assert [line for line in quoted if not line.startswith("bondmodel: ")] == out.splitlines()


def test_run_png_removes_an_earlier_run_s_chart_it_has_no_data_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    charts = tmp_path / "charts"
    charts.mkdir()
    earlier = charts / CHART_FILES["min_dscr"]
    earlier.write_bytes(b"an earlier run's chart")
    (charts / "notes.txt").write_text("the user's own file")
    scenario = str(_without_bond(tmp_path))
    argv = ["run", scenario, "-o", str(tmp_path / "m.xlsx"), "--paths", "0", "--quiet"]
    code, out, err = _main(capsys, *argv, "--png", str(charts))
    assert (code, out) == (0, "")
    assert err.splitlines()[1:] == [
        f"bondmodel: removed {earlier} (an earlier run's chart; this run has none)",
        f"bondmodel: wrote 1 chart to {charts}: {CHART_FILES['cash_flows']}",
    ]
    assert sorted(p.name for p in charts.iterdir()) == [CHART_FILES["cash_flows"], "notes.txt"]


def test_a_pool_workbook_is_told_how_it_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report takes model workbooks; a pool workbook was told to be run with `bondmodel run`,
    which cannot read it."""
    pool = tmp_path / "pool.xlsx"
    portfolio = ROOT / "templates" / "pools" / "pooled-programme.toml"
    assert cli.main(["pool", str(portfolio), "--paths", "20", "--seed", "1", "-o", str(pool)]) == 0
    capsys.readouterr()
    code, out, err = _main(capsys, "report", str(pool))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "it is a pool workbook" in err and "bondmodel run" in err
    assert "run it first" not in err
