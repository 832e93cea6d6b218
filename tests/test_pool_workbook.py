"""The pool workbook (issue 19 item 5): ``bondmodel pool PORTFOLIO.toml -o pool.xlsx``.

- Every formula on the Waterfall sheet caches the engine's base-case value, and the
  Members and Loss sheets hold the run's metrics (to 1e-9).
- The waterfall's trace is the waterfall: recording it changes nothing, and its steps
  add up (cash in = cash out each period; balances roll forward).
- In LibreOffice (forced recalculation) a wrong cached value comes back corrected, and an
  edit of a tranche's coupon on Inputs gives the waterfall a rerun with that coupon gives.
- ``--output`` is checked before the run, and a failed write leaves no file.
"""

from __future__ import annotations

import copy
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest
import tomli_w

from bondmodel import cli
from bondmodel.pool import parse_portfolio, run_pool
from bondmodel.pool.base import PoolBase, pool_base_case
from bondmodel.pool.loader import Portfolio
from bondmodel.pool.model import PoolModel
from bondmodel.pool.simulate import structure_of
from bondmodel.pool.waterfall import Structure, run_pool_waterfall
from bondmodel.pool.workbook import (
    COUPON_COL,
    SHEETS,
    TRANCHE_ROW,
    waterfall_cells,
    write_parts,
    write_pool_workbook,
)
from bondmodel.workbook.recalc import convert_many

from .test_workbook import _tamper
from .xlsx_tools import edit_inputs, general_format_cells

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
POOL = TEMPLATES / "pools" / "pooled-programme.toml"
PATHS, SEED = 400, 7


def _template() -> dict[str, Any]:
    return tomllib.loads(POOL.read_text(encoding="utf-8"))


def _stressed() -> dict[str, Any]:
    """The template with a member whose base case writes off (its savings a quarter of the
    limited-recourse template's), so the base case calls the guarantee."""
    data = _template()
    sib = tomllib.loads((TEMPLATES / "sib-limited-recourse.toml").read_text(encoding="utf-8"))
    sib["savings"][0]["annual_amount"] = sib["savings"][0]["annual_amount"] // 4
    data["members"].append({"name": "Lowshire (struggling)", "inline": sib})
    return data


def _build(data: dict[str, Any]) -> tuple[Portfolio, Structure, PoolBase]:
    portfolio = parse_portfolio(copy.deepcopy(data), base=POOL.parent, source=str(POOL))
    model = PoolModel(portfolio)
    structure = structure_of(model)
    return portfolio, structure, pool_base_case(model, structure)


def _write(data: dict[str, Any], path: Path) -> tuple[Portfolio, Structure, PoolBase, Any]:
    portfolio, structure, base = _build(data)
    results = run_pool(portfolio, PATHS, SEED)
    write_parts(path, portfolio, structure, base, results, "test", "0" * 64)
    return portfolio, structure, base, results


def _sheet_values(path: Path, sheet: str) -> dict[tuple[int, int], Any]:
    """(row, col) zero-based -> cached value."""
    ws = openpyxl.load_workbook(path, data_only=True)[sheet]
    return {
        (c.row - 1, c.column - 1): c.value
        for row in ws.iter_rows()
        for c in row
        if c.value is not None
    }


def _close(got: Any, expected: float) -> bool:
    return isinstance(got, int | float) and math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-6)


def _check_waterfall(path: Path, structure: Structure, base: PoolBase) -> int:
    """The Waterfall sheet's cells against the engine's base case; returns cells checked."""
    cells = _sheet_values(path, "Waterfall")
    n_legal = len(structure.remaining) - 1
    checked = 0
    for key, (row, values) in waterfall_cells(structure, base).items():
        for t in range(1, n_legal + 1):
            got = cells.get((row, 1 + t), 0.0)
            assert _close(got, float(values[t])), (key, t, got, values[t])
            checked += 1
    return checked


@pytest.mark.parametrize("data", [_template(), _stressed()], ids=["template", "stressed"])
def test_the_waterfall_sheet_caches_the_engines_base_case(
    data: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "pool.xlsx"
    _, structure, base, _ = _write(data, path)
    assert openpyxl.load_workbook(path).sheetnames == list(SHEETS)
    assert _check_waterfall(path, structure, base) > 300
    # the rows the engine returns (not only its trace): each tranche's payments, the
    # guarantee, the reserve's draws, what is released, and the losses at legal maturity
    cells = waterfall_cells(structure, base)
    flows = base.flows
    for k in range(len(structure.names)):
        np.testing.assert_array_equal(
            cells[f"to_investors_{k}"][1][1:], flows.investor_flow[k, 0, 1:]
        )
    np.testing.assert_array_equal(cells["guarantee"][1], flows.guarantee_paid[0])
    np.testing.assert_array_equal(cells["draw"][1], flows.reserve_draw[0])
    np.testing.assert_array_equal(cells["released"][1], flows.residual[0])
    sheet = _sheet_values(path, "Waterfall")
    losses = [v for (r, c), v in sheet.items() if c == 1 and r > max(x[0] for x in cells.values())]
    np.testing.assert_allclose(losses, flows.loss[:, 0], rtol=1e-12, atol=1e-9)


def test_the_stressed_base_case_calls_the_guarantee_and_the_reserve() -> None:
    """The stressed pool exercises every row: a write-off, a guarantee call within the
    capacity, a reserve draw and unpaid interest carried."""
    _, structure, base = _build(_stressed())
    tr = base.trace
    assert base.write_off.sum() > 1e5
    assert tr["guarantee"].sum() > 1e5
    assert tr["draw"].sum() > 0 and tr["arrears"].max() > 0
    capacity = 0.05 * min(
        structure.loans[i] / (structure.shares[i] / structure.shares[base.member_loss <= 0].sum())
        for i in np.flatnonzero(base.member_loss <= 0)
    )
    assert tr["guarantee"].sum() == pytest.approx(min(capacity, base.write_off.sum()), rel=1e-12)


@pytest.mark.parametrize("data", [_template(), _stressed()], ids=["template", "stressed"])
def test_the_trace_is_the_waterfall(data: dict[str, Any]) -> None:
    """Recording the steps changes nothing, and the steps add up period by period."""
    _, structure, base = _build(data)
    plain = run_pool_waterfall(
        structure, base.paid[None, :], base.write_off[None, :], base.member_loss[None, :]
    )
    np.testing.assert_array_equal(plain.investor_flow, base.flows.investor_flow)
    np.testing.assert_array_equal(plain.loss, base.flows.loss)
    tr = {k: v[..., 0, :] if v.ndim == 3 else v[0] for k, v in base.trace.items()}
    out = (
        tr["interest_paid"].sum(axis=0)
        + tr["scheduled"].sum(axis=0)
        + tr["refill"]
        + tr["sweep"].sum(axis=0)
        + tr["released"]
    )
    out[-1] -= tr["reserve_closing"][-1]  # the reserve released at legal maturity
    np.testing.assert_allclose(out[1:], tr["available"][1:], rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(
        tr["closing"][:, 1:],
        tr["opening"][:, 1:] - tr["scheduled"][:, 1:] - tr["sweep"][:, 1:],
        atol=1e-6,
    )
    np.testing.assert_array_equal(tr["opening"][:, 2:], tr["closing"][:, 1:-1])


def test_the_members_and_loss_sheets_hold_the_runs_metrics(tmp_path: Path) -> None:
    path = tmp_path / "pool.xlsx"
    portfolio, structure, base, results = _write(_template(), path)
    members = _sheet_values(path, "Members")
    for i, (_, m) in enumerate(results.members.iterrows()):
        row = 4 + i
        assert members[(row, 0)] == m["member"] and members[(row, 1)] == m["key"]
        for col, key in enumerate(
            ("loan", None, "expected_loss", "probability_of_loss", "p95_loss", "es_contribution",
             "es_share", "guarantee_paid_in", "probability_called"), start=2,
        ):  # fmt: skip
            if key is not None:
                assert _close(members[(row, col)], float(m[key])), (key, members[(row, col)])
        assert _close(members[(row, 3)], float(structure.shares[i]))
        assert _close(members[(row, 11)], float(base.member_loss[i]))
    loss = _sheet_values(path, "Loss")
    values = [v for v in loss.values() if isinstance(v, int | float)]
    for _, t in results.tranches.iterrows():
        for key in ("expected_loss", "probability_of_loss", "wal_years", "irr_p5", "irr_p95"):
            assert any(_close(v, float(t[key])) for v in values), (t["tranche"], key)
    for key in ("mean", "var", "es"):
        for value in results.pool[key]:
            assert any(_close(v, float(value)) for v in values), key
    assert any(_close(v, results.diversification["sum_member_p95_loss"]) for v in values)
    # the histogram's counts add up to the paths, in both columns
    hist = results.loss_histogram
    assert int(hist["members_write_offs"].sum()) == PATHS
    assert "Simulation values" in str(loss[(1, 0)])
    audit = _sheet_values(path, "Audit")
    text = {str(v) for v in audit.values()}
    assert {"0" * 64, str(SEED), str(PATHS)} <= text | {
        str(int(v)) for v in audit.values() if isinstance(v, float)
    }
    assert portfolio.source in text


def test_output_is_checked_before_the_run_and_written_atomically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for output, words in (
        (tmp_path / "pool.txt", "must end in .xlsx"),
        (tmp_path / "no-such-folder" / "pool.xlsx", "does not exist"),
    ):
        code = cli.main(["pool", str(POOL), "--paths", "10", "--seed", "1", "-o", str(output)])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("bondmodel: error: --output: ") and words in err
        assert "Traceback" not in err and not output.exists()
    # an input file is never overwritten: here a member's scenario, TOML in a file named .xlsx
    member = tmp_path / "member.xlsx"
    member.write_bytes((TEMPLATES / "sib-limited-recourse.toml").read_bytes())
    before = member.read_bytes()
    data = _template()
    data["members"][0]["scenario"] = "member.xlsx"
    data["members"][1]["scenario"] = str(TEMPLATES / "sib-limited-recourse.toml")
    data["members"][2]["scenario"] = str(TEMPLATES / "shared-services.toml")
    portfolio = tmp_path / "pool.toml"
    portfolio.write_text(tomli_w.dumps(data), encoding="utf-8")
    capsys.readouterr()
    code = cli.main(["pool", str(portfolio), "--paths", "10", "--seed", "1", "-o", str(member)])
    err = capsys.readouterr().err
    assert code == 2 and "is an input file" in err and "Traceback" not in err
    assert member.read_bytes() == before
    # a write that fails half-way leaves the existing file as it was, and nothing else
    target = tmp_path / "pool.xlsx"
    target.write_bytes(b"the old workbook")
    import bondmodel.pool.workbook as pool_workbook

    def broken(*args: Any) -> None:
        Path(args[0]).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pool_workbook, "_write", broken)
    code = cli.main(["pool", str(POOL), "--paths", "10", "--seed", "1", "-o", str(target)])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write it" in err and "existing file is unchanged" in err
    assert target.read_bytes() == b"the old workbook"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["member.xlsx", "pool.toml", "pool.xlsx"]
    monkeypatch.undo()
    code = cli.main(["pool", str(POOL), "--paths", "10", "--seed", "1", "-o", str(target)])
    assert code == 0 and target.read_bytes()[:2] == b"PK"


@pytest.mark.spreadsheet
def test_libreoffice_recalculates_the_waterfall_and_follows_a_coupon_edit(
    soffice: str, tmp_path: Path
) -> None:
    data = _stressed()
    source = tmp_path / "pool.xlsx"
    _, structure, base, _ = _write(data, source)
    # a deliberately wrong cached value on the Waterfall sheet must come back corrected
    tampered = tmp_path / "tampered.xlsx"
    position = list(SHEETS).index("Waterfall") + 1
    wrong = 123456789.0
    cell = _tamper(source, tampered, f"xl/worksheets/sheet{position}.xml", wrong)
    assert openpyxl.load_workbook(tampered, data_only=True)["Waterfall"][cell].value == wrong
    # an edit: the senior tranche's coupon from 4% to 7.5%
    new_coupon = 0.075
    edited = edit_inputs(
        source, tmp_path / "edited.xlsx", {TRANCHE_ROW + 1: (new_coupon,)}, COUPON_COL
    )
    fresh, fixed, rerun_sheet = convert_many([source, tampered, edited], tmp_path / "recalc")

    assert _check_waterfall(fresh, structure, base) > 300
    assert _check_waterfall(fixed, structure, base) > 300
    got = openpyxl.load_workbook(fixed, data_only=True)["Waterfall"][cell].value
    assert got != wrong
    # the rerun with that coupon, by the engine
    changed = copy.deepcopy(data)
    changed["tranches"][0]["coupon_rate"] = new_coupon
    _, structure2, base2 = _build(changed)
    assert not np.allclose(base2.flows.investor_flow, base.flows.investor_flow)
    assert _check_waterfall(rerun_sheet, structure2, base2) > 300


def test_the_pool_workbook_is_print_ready(tmp_path: Path) -> None:
    """A4 landscape, one page wide, headed with the pool's name; the manifest's JSON is not
    printed; every number has its unit's format (none in General)."""
    path = tmp_path / "pool.xlsx"
    portfolio, *_ = _write(_template(), path)
    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        assert ws.print_area, ws.title
        assert int(ws.page_setup.paperSize) == 9 and ws.page_setup.orientation == "landscape"
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert ws.page_setup.fitToWidth in (1, None), ws.title  # 1 is the default when set
        assert portfolio.spec.name in ws.oddHeader.left.text, ws.title
    audit = wb["Audit"]
    area = audit.print_area[0] if isinstance(audit.print_area, list) else audit.print_area
    last = int(re.findall(r"\$(\d+)", area)[-1])
    labels = [audit.cell(row=r, column=1).value for r in range(1, audit.max_row + 1)]
    assert last < labels.index("Manifest as JSON") + 1 < audit.max_row
    general = general_format_cells(path)
    assert not general, general[:8]
    # a histogram running onto a second page repeats its column headings there, and the
    # chart beside it sits below them (a chart anchored in the repeated row prints a strip)
    loss = wb["Loss"]
    head = next(
        r for r in range(1, loss.max_row + 1) if loss.cell(row=r, column=1).value == "Loss from, £"
    )
    assert loss.print_title_rows == f"${head}:${head}"
    (chart,) = loss._charts
    assert chart.anchor._from.row + 1 > head


@pytest.mark.spreadsheet
def test_the_pool_workbook_prints_in_a_few_pages(soffice: str, tmp_path: Path) -> None:
    """Printed by LibreOffice: at least a page per sheet, at most 12 in all (the template's
    histogram to its last bin holding a path, its 12-year waterfall on one page wide)."""
    path = tmp_path / "pool.xlsx"
    _write(_template(), path)
    (pdf,) = convert_many([path], tmp_path / "pdf", to="pdf")
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf.read_bytes()))
    assert len(SHEETS) <= pages <= 12, pages


def test_a_long_waterfall_prints_across_pages_with_its_labels(tmp_path: Path) -> None:
    """A 25-year pool prints its Waterfall two pages wide (13 payments a page at most), each
    page repeating the labels and the total; the template's 12 years fit one page."""
    from bondmodel.pool.synthetic import synthetic_portfolio

    portfolio = synthetic_portfolio(2)
    assert PoolModel(portfolio).n_legal == 25
    path = tmp_path / "long.xlsx"
    results = run_pool(portfolio, 50, 1)
    write_pool_workbook(path, portfolio, results)
    ws = openpyxl.load_workbook(path)["Waterfall"]
    assert ws.page_setup.fitToWidth == 2
    assert ws.print_title_cols == "$A:$B" and ws.print_title_rows == "$1:$4"
    short = tmp_path / "short.xlsx"
    _write(_template(), short)
    assert openpyxl.load_workbook(short)["Waterfall"].page_setup.fitToWidth in (1, None)


def test_the_audit_seed_is_exact_text_however_large(tmp_path: Path) -> None:
    """A seed runs to 2**63: as a spreadsheet number it kept 15 digits
    (4.81319521986296e+18) and the run could not be repeated from the workbook."""
    from bondmodel.risk.sampling import MAX_SEED

    seed = MAX_SEED - 12_345
    assert seed > 2**53
    out = tmp_path / "pool.xlsx"
    code = cli.main(["pool", str(POOL), "--paths", "10", "--seed", str(seed), "-o", str(out)])
    assert code == 0
    audit = openpyxl.load_workbook(out)["Audit"]
    row = next(r for r in audit.iter_rows() if r[0].value == "Seed")
    assert row[1].value == str(seed) and row[1].data_type == "s"
