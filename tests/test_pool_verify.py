"""``bondmodel verify`` of a pool workbook: rerun from the Audit sheet alone, every cell
compared; tampering named (bondmodel/pool/verify.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import openpyxl
import pytest

from bondmodel import cli
from bondmodel.errors import ScenarioError
from bondmodel.pool.workbook import RESOLVED_HEADER
from bondmodel.verification import verify

from .conftest import ROOT
from .xlsx_tools import edit_cell, edit_string

POOL = ROOT / "templates" / "pools" / "pooled-programme.toml"
PATHS, SEED = 600, 2026


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template pool as `bondmodel pool -o` writes it, moved away from its member files:
    verify needs none of them."""
    folder = tmp_path_factory.mktemp("pool")
    out = folder / "made.xlsx"
    args = ["pool", str(POOL), "--paths", str(PATHS), "--seed", str(SEED), "-o", str(out)]
    assert cli.main(args) == 0
    alone = tmp_path_factory.mktemp("elsewhere") / "pool.xlsx"
    shutil.move(out, alone)
    return alone


def _loss_value_cell(path: Path) -> tuple[str, float]:
    ws = openpyxl.load_workbook(path, data_only=True)["Loss"]
    for row in ws.iter_rows(min_row=4):
        for c in row:
            if isinstance(c.value, float) and c.value > 1000:
                return str(c.coordinate), float(c.value)
    raise AssertionError("no money value on the Loss sheet")


def test_a_fresh_pool_workbook_matches_its_rerun(pool: Path) -> None:
    report = verify(pool)
    assert report.ok, report.text()
    assert report.cells_compared > 1000 and report.features_compared > 500
    assert not report.problems and not report.notes
    assert report.mode.startswith("full rerun of the pool of 4 members, 600 paths")


def test_the_audit_sheet_embeds_the_resolved_portfolio(pool: Path) -> None:
    rows = list(openpyxl.load_workbook(pool)["Audit"].iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] == RESOLVED_HEADER)
    lines = [r[1] for r in rows[start + 1 :] if r[1] is not None]
    text = "\n".join(str(x) for x in lines)
    # every member inline, none by file: the workbook alone repeats the run
    assert text.count("[members.inline]") == 4 and "scenario = " not in text
    manifest = json.loads(
        next(rows[i + 1][0] for i, r in enumerate(rows) if r[0] == "Manifest as JSON")
    )
    assert manifest["seed"] == SEED and manifest["paths"] == PATHS
    assert len(manifest["resolved_portfolio_sha256"]) == 64


def test_an_edited_result_is_named(pool: Path, tmp_path: Path) -> None:
    cell, value = _loss_value_cell(pool)
    tampered = edit_cell(pool, tmp_path / "t.xlsx", "Loss", cell, repr(value + 1.0))
    report = verify(tampered)
    assert not report.ok and report.exit_code == 1
    assert [(m.sheet, m.cell) for m in report.mismatches] == [("Loss", cell)]


def test_an_edited_embedded_portfolio_is_caught_by_its_hash(pool: Path, tmp_path: Path) -> None:
    tampered = edit_string(pool, tmp_path / "s.xlsx", "coupon_rate = 0.09", "coupon_rate = 0.19")
    report = verify(tampered)
    assert not report.ok
    assert any("embedded portfolio was changed" in p for p in report.problems)
    # and the rerun of the edited terms differs from the workbook's figures
    assert report.mismatch_count > 0


def test_more_workers_give_the_same_workbook(pool: Path) -> None:
    report = verify(pool, workers=2)
    assert report.ok, report.text()
    assert any("serial on 1 worker(s), the rerun processes on 2" in n for n in report.notes)


def test_paths_check_and_too_many_paths_are_refused_before_the_rerun(
    pool: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ScenarioError, match="pool workbook, which holds no per-path values"):
        verify(pool, paths_check=10)
    assert cli.main(["verify", str(pool), "--max-paths", "100"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bondmodel: error: ") and "--max-paths 600" in err
    assert "Traceback" not in err


def test_the_command_line_verdict_and_json(pool: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", str(pool), "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["verdict"] == "match" and verdict["mismatch_count"] == 0
    assert verdict["settings"] == {"paths": PATHS, "seed": SEED}


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ('"seed": 2026', '"seed": -5', "records seed -5 and 600 paths"),
        ('"paths": 600', '"paths": 0', "records seed 2026 and 0 paths"),
        ('"seed": 2026', '"seed": "abc"', "the run manifest's JSON is not as"),
        ('"run_at_utc": "', '"run_at_utc": "x', "it needs seed, paths and run_at_utc"),
        ('"paths": 600', '"paths": 9000000000000000000', "--max-paths 9000000000000000000"),
        ('name = "Pooled', "x = " + "[" * 3000 + "]" * 3000 + '\nname = "Pooled', "too deeply"),
    ],
    ids=["negative_seed", "no_paths", "seed_text", "bad_time", "huge_paths", "deep_toml"],
)
def test_a_damaged_audit_sheet_is_one_line_naming_it(
    pool: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, words: str
) -> None:
    """A manifest or resolved portfolio no pool run writes: exit 2, one line naming the
    workbook (not a flag the user did not give), and nothing rerun."""
    damaged = edit_string(pool, tmp_path / "d.xlsx", old, new)
    assert cli.main(["verify", str(damaged)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bondmodel: error: {damaged}") and err.count("\n") == 1, err
    assert words in err and "verify: rerunning" not in err, err


def test_a_pool_drawn_by_another_sampler_reruns_with_it(tmp_path: Path) -> None:
    out = tmp_path / "sobol.xlsx"
    args = [
        "pool",
        str(POOL),
        "--paths",
        "300",
        "--seed",
        "5",
        "--sampler",
        "sobol",
        "-o",
        str(out),
    ]
    assert cli.main(args) == 0
    rows = list(openpyxl.load_workbook(out)["Audit"].iter_rows(values_only=True))
    assert ("Sampler of the members' inputs", "sobol") in [(r[0], r[1]) for r in rows]
    report = verify(out)
    assert report.ok, report.text()
