"""The bad-input corpus: every malformed scenario fails once, clearly, and writes nothing.

Each case in ``tests/bad_inputs/cases.toml`` names a file in that folder, the
field path its error message must contain and words it must also contain:
typically the bad value and what is allowed. Most files are
``templates/shared-services.toml`` as of commit 5f935f3 with one thing broken,
kept as standalone copies so that later edits to the template cannot change
them. Every case is checked three ways:

* ``bondmodel.load_scenario`` raises :class:`bondmodel.ScenarioError` with that message;
* ``bondmodel run CASE -o out.xlsx`` and ``bondmodel validate CASE``, called
  in-process, exit with code 2, print the message and no traceback, and write
  nothing (an existing ``out.xlsx`` stays byte-identical);
* a handful again in a real subprocess (``python -m bondmodel.cli``), so that the
  exit code and the absence of a traceback are those the user's shell sees.

Portfolio files (``bondmodel pool``) have their own cases in ``tests/bad_inputs/pools/``
(manifest ``pools/cases.toml``), checked through ``load_portfolio`` and ``PoolModel`` and
through ``bondmodel pool CASE -o out.xlsx`` the same way.

The large classes (numeric extremes by field type, Unicode, nesting, workbook
damage) are generated case by case by tests/bad_input_classes.py and checked the
same way by tests/test_bad_input_classes.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import bondmodel
from bondmodel import cli
from bondmodel.workbook.reader import read_scenario

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES_DIR = HERE / "bad_inputs"
MANIFEST = CASES_DIR / "cases.toml"
BASE_TEMPLATE = ROOT / "templates" / "shared-services.toml"

#: The manifest must never shrink below this many cases.
MIN_CASES = 40

#: Bytes of a stand-in for a workbook the user already has; it must survive every failure.
OLD_WORKBOOK = b"PK\x03\x04 an earlier workbook that a failed run must not touch \x00\xff"

#: Text that means a raw library message leaked through instead of ours.
LEAKS = ("Traceback", "pydantic", "errors.pydantic.dev", "For further information", "Value error,")

#: Cases also run in a real subprocess: one of each kind of failure.
SUBPROCESS_CASES = (
    "empty.toml",
    "missing_file.toml",
    "not_utf8.toml",
    "syntax_error.toml",
    "shares_cost_partial.toml",
    "unknown_ramp.toml",
    "type_amount_string.toml",
)


def _load_manifest() -> list[dict[str, Any]]:
    cases = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))["case"]
    assert isinstance(cases, list)
    return cases


CASES = _load_manifest()
BY_FILE = {case["file"]: case for case in CASES}


def _case_path(case: dict[str, Any]) -> Path:
    return CASES_DIR / case["file"]


def _params(cases: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(case, id=case["file"]) for case in cases]


def _assert_explains(message: str, case: dict[str, Any]) -> None:
    """The message names the field path and every expected word, and leaks nothing raw."""
    assert case["field"] in message, f"field path {case['field']!r} not in:\n{message}"
    for word in case["words"]:
        assert word in message, f"{word!r} not in:\n{message}"
    for leak in LEAKS:
        assert leak not in message, f"{leak!r} leaked into:\n{message}"


# ---------------------------------------------------------------------------
# The manifest itself
# ---------------------------------------------------------------------------


def test_manifest_has_enough_cases() -> None:
    assert len(CASES) >= MIN_CASES


def test_manifest_entries_are_well_formed() -> None:
    files = [case["file"] for case in CASES]
    assert len(files) == len(set(files)), "a file is listed twice"
    for case in CASES:
        assert set(case) <= {"file", "description", "field", "words", "exists"}, case
        assert isinstance(case["field"], str) and case["field"].strip(), case
        assert isinstance(case["description"], str) and case["description"].strip(), case
        assert isinstance(case["words"], list) and case["words"], case
        assert all(isinstance(w, str) and w.strip() for w in case["words"]), case


def test_every_file_in_the_folder_is_in_the_manifest() -> None:
    on_disk = {p.name for p in CASES_DIR.iterdir() if p.is_file()} - {MANIFEST.name}
    listed = {case["file"] for case in CASES if case.get("exists", True)}
    assert on_disk == listed, (
        f"not in the manifest: {sorted(on_disk - listed)}; "
        f"listed but missing: {sorted(listed - on_disk)}"
    )


def test_missing_file_cases_really_are_missing() -> None:
    missing = [case for case in CASES if not case.get("exists", True)]
    assert missing, "the corpus should include a scenario file that does not exist"
    for case in missing:
        assert not _case_path(case).exists()


def test_the_base_scenario_is_valid() -> None:
    """The corpus mutates this template, so each case fails because of its one change."""
    scenario = bondmodel.load_scenario(BASE_TEMPLATE)
    assert scenario.partners and scenario.costs and scenario.savings


# ---------------------------------------------------------------------------
# The public API
# ---------------------------------------------------------------------------


def _is_workbook(path: Path) -> bool:
    return path.suffix.lower() in (".xlsx", ".xlsm")


def _load(path: Path) -> Any:
    """A scenario as the CLI reads it: TOML, or a workbook's Inputs sheet."""
    if _is_workbook(path):
        return read_scenario(path)
    return bondmodel.load_scenario(path)


def test_the_corpus_covers_workbooks_and_enough_of_everything() -> None:
    workbooks = [c for c in CASES if _is_workbook(_case_path(c))]
    assert len(workbooks) >= 15
    assert len(CASES) >= 80


@pytest.mark.parametrize("case", _params(CASES))
def test_load_scenario_rejects_with_a_clear_message(case: dict[str, Any]) -> None:
    path = _case_path(case)
    error = bondmodel.BondModelError if _is_workbook(path) else bondmodel.ScenarioError
    with pytest.raises(error) as info:
        _load(path)
    message = str(info.value)
    _assert_explains(message, case)
    # one message per problem, each line naming the file, not a cascade of errors
    lines = message.splitlines()
    assert 1 <= len(lines) <= 2, message
    assert all(line.startswith(f"{path}: ") for line in lines), message
    # the exception carries no chained cause that a traceback would print
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ or info.value.__context__ is None


@pytest.mark.parametrize("case", _params([c for c in CASES if c.get("exists", True)]))
def test_the_message_names_the_file_it_read(case: dict[str, Any], tmp_path: Path) -> None:
    """The same bytes under another name fail the same way, naming the new file."""
    copy = tmp_path / f"renamed{_case_path(case).suffix}"
    copy.write_bytes(_case_path(case).read_bytes())
    with pytest.raises(bondmodel.BondModelError) as info:
        _load(copy)
    message = str(info.value)
    assert str(copy) in message
    if case["field"] != case["file"]:  # field-level cases: same field, same words
        _assert_explains(message, case)


# ---------------------------------------------------------------------------
# The CLI, in-process
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params(CASES))
def test_cli_run_exits_2_and_writes_nothing(
    case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.xlsx"
    code = cli.main(["run", str(_case_path(case)), "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("bondmodel: error: ")
    _assert_explains(captured.err, case)
    assert captured.out == ""
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [], "a temporary file was left behind"


@pytest.mark.parametrize("case", _params(CASES))
def test_cli_run_leaves_an_existing_workbook_byte_identical(
    case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.xlsx"
    out.write_bytes(OLD_WORKBOOK)
    before = out.stat()
    code = cli.main(["run", str(_case_path(case)), "-o", str(out)])
    capsys.readouterr()
    assert code == 2
    assert out.read_bytes() == OLD_WORKBOOK
    assert out.stat().st_ino == before.st_ino, "the workbook was replaced"
    assert out.stat().st_mtime_ns == before.st_mtime_ns
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]


@pytest.mark.parametrize("case", _params(CASES))
def test_cli_validate_exits_2(case: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["validate", str(_case_path(case))])
    captured = capsys.readouterr()
    assert code == 2
    _assert_explains(captured.err, case)
    assert "valid:" not in captured.out


def test_cli_run_with_default_output_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without -o the workbook would be CASE_NAME.xlsx in the working folder: not created."""
    monkeypatch.chdir(tmp_path)
    case = BY_FILE["dates_out_of_order.toml"]
    code = cli.main(["run", str(_case_path(case))])
    capsys.readouterr()
    assert code == 2
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# The CLI, for real
# ---------------------------------------------------------------------------


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "bondmodel.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("case", _params([BY_FILE[name] for name in SUBPROCESS_CASES]))
def test_cli_subprocess_exits_2_without_traceback(case: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out.xlsx"
    out.write_bytes(OLD_WORKBOOK)
    proc = _run_cli("run", str(_case_path(case)), "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    _assert_explains(proc.stderr, case)
    assert proc.stdout == ""
    assert out.read_bytes() == OLD_WORKBOOK
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]


def test_cli_subprocess_validate_exits_2(tmp_path: Path) -> None:
    case = BY_FILE["bad_frequency.toml"]
    proc = _run_cli("validate", str(_case_path(case)), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    _assert_explains(proc.stderr, case)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# Portfolio files: bondmodel pool
# ---------------------------------------------------------------------------

POOL_DIR = CASES_DIR / "pools"
POOL_MANIFEST = POOL_DIR / "cases.toml"
#: The members' scenario the portfolio cases name (valid; not a case).
POOL_MEMBER = "valid-member.toml"
POOL_CASES: list[dict[str, Any]] = tomllib.loads(POOL_MANIFEST.read_text(encoding="utf-8"))["case"]


def test_every_portfolio_file_is_in_its_manifest() -> None:
    on_disk = {p.name for p in POOL_DIR.iterdir()} - {POOL_MANIFEST.name, POOL_MEMBER}
    listed = {case["file"] for case in POOL_CASES}
    assert on_disk == listed
    assert len(POOL_CASES) >= 23
    for case in POOL_CASES:
        assert set(case) <= {"file", "description", "field", "words"}, case
        assert case["words"] and all(w.strip() for w in case["words"]), case


def test_the_portfolio_cases_member_is_valid() -> None:
    """Each case fails because of its one change, not because of its members' scenario."""
    assert bondmodel.load_scenario(POOL_DIR / POOL_MEMBER).bond is not None


@pytest.mark.parametrize("case", _params(POOL_CASES))
def test_a_bad_portfolio_is_refused_by_the_api(case: dict[str, Any]) -> None:
    from bondmodel.pool import PoolModel, load_portfolio

    path = POOL_DIR / case["file"]
    with pytest.raises(bondmodel.ScenarioError) as info:
        PoolModel(load_portfolio(path))
    message = str(info.value)
    _assert_explains(message, case)
    assert all(line.startswith(f"{path}: ") for line in message.splitlines()), message
    assert info.value.__cause__ is None


@pytest.mark.parametrize("case", _params(POOL_CASES))
def test_cli_pool_exits_2_and_leaves_an_existing_workbook_byte_identical(
    case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.xlsx"
    out.write_bytes(OLD_WORKBOOK)
    before = out.stat()
    args = ["pool", str(POOL_DIR / case["file"]), "--paths", "10", "--seed", "1", "-o", str(out)]

    code = cli.main(args)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("bondmodel: error: ")
    # one line per problem, each naming the file
    path = POOL_DIR / case["file"]
    lines = captured.err.removeprefix("bondmodel: error: ").strip().splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines), captured.err
    _assert_explains(captured.err, case)
    assert captured.out == ""
    assert out.read_bytes() == OLD_WORKBOOK
    assert out.stat().st_ino == before.st_ino and out.stat().st_mtime_ns == before.st_mtime_ns
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]


def test_cli_subprocess_pool_exits_2_without_traceback(tmp_path: Path) -> None:
    case = next(c for c in POOL_CASES if c["file"] == "frequency.toml")
    proc = _run_cli("pool", str(POOL_DIR / case["file"]), "-o", "out.xlsx", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    _assert_explains(proc.stderr, case)
    assert list(tmp_path.iterdir()) == []
