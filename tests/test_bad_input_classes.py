"""The generated bad-input corpus: each class of hostile input fails once, clearly, writing nothing.

tests/bad_input_classes.py generates the cases by class (numeric extremes by
field type, dates, distribution parameters, Unicode classes, nesting depth,
sizes, workbook damage). Each is written to a real file and checked as the
hand-written corpus is (tests/test_bad_inputs.py): the API raises bondmodel's
own error naming the field and the expected words; ``bondmodel run`` and
``bondmodel validate``, called in-process, exit with code 2, print the message
without a traceback and leave an existing output byte-identical. Each case
must also be refused quickly: the hostile workbooks once took minutes and
gigabytes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import bondmodel
from bondmodel import cli
from bondmodel.scenario.fieldtypes import bad_character
from bondmodel.workbook.reader import read_scenario

from .bad_input_classes import Case, all_cases, base_data
from .test_bad_inputs import OLD_WORKBOOK, _assert_explains

CASES = all_cases()

#: Slowest a refusal may take through the API, in seconds (the largest generated
#: file, 250,000 cells, is read in about 1 s on a loaded 2-core machine).
MAX_SECONDS = 5.0


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The folder of generated files, each written when first asked for."""
    return {"folder": tmp_path_factory.mktemp("generated_bad_inputs")}


def _file(corpus: dict[str, Path], case: Case) -> Path:
    path = corpus["folder"] / case.file
    if not path.exists():
        case.write(path)
    return path


#: The cases that take about a second of MAX_SECONDS' five on their own: under xdist the
#: other workers wait while they run (tests/conftest.py), as the full run under load
#: otherwise took 5.7 s over it.
_SLOWEST = {"gen_wb_too_many_cells.xlsx"}


def _params() -> list[Any]:
    return [
        pytest.param(case, id=case.file, marks=[pytest.mark.alone] if case.file in _SLOWEST else [])
        for case in CASES
    ]


def _as_manifest(case: Case) -> dict[str, Any]:
    return {"file": case.file, "field": case.field, "words": case.words}


def test_the_generated_corpus_is_large_and_covers_every_class() -> None:
    names = [case.file for case in CASES]
    assert len(names) == len(set(names)), "two generated cases share a file name"
    assert len(CASES) >= 250
    for prefix, least in (
        ("gen_num_", 100),
        ("gen_text_", 100),
        ("gen_nest_", 16),
        ("gen_wb_", 30),
        ("gen_date_", 8),
        ("gen_dist_", 10),
    ):
        assert sum(n.startswith(prefix) for n in names) >= least, prefix


def test_the_base_of_the_generated_cases_is_valid() -> None:
    """Each case breaks one thing in a valid scenario, so it fails for that one thing."""
    scenario = bondmodel.parse_scenario(base_data())
    assert scenario.bond is not None and scenario.bond.performance is not None


def _load(path: Path) -> Any:
    if path.suffix == ".xlsx":
        return read_scenario(path)
    return bondmodel.load_scenario(path)


@pytest.mark.parametrize("case", _params())
def test_the_api_refuses_each_case_quickly_and_clearly(case: Case, corpus: dict[str, Path]) -> None:
    path = _file(corpus, case)
    start = time.perf_counter()
    with pytest.raises(bondmodel.BondModelError) as info:
        _load(path)
    elapsed = time.perf_counter() - start
    message = str(info.value)
    _assert_explains(message, _as_manifest(case))
    lines = message.splitlines()
    assert 1 <= len(lines) <= 2, message
    for line in lines:  # what the file holds is shown escaped, never raw
        assert bad_character(line) is None, line
    assert all(line.startswith(f"{path}: ") for line in lines), message
    assert info.value.__cause__ is None
    assert elapsed < MAX_SECONDS, f"took {elapsed:.1f} s"


@pytest.mark.parametrize("case", _params())
def test_cli_run_exits_2_and_leaves_the_old_workbook(
    case: Case, corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(corpus, case)
    out = tmp_path / "out.xlsx"
    out.write_bytes(OLD_WORKBOOK)
    before = out.stat()
    code = cli.main(["run", str(path), "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("bondmodel: error: ")
    assert "Traceback" not in captured.err
    _assert_explains(captured.err, _as_manifest(case))
    assert captured.out == ""
    assert out.read_bytes() == OLD_WORKBOOK
    assert out.stat().st_ino == before.st_ino
    assert out.stat().st_mtime_ns == before.st_mtime_ns
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]


@pytest.mark.parametrize("case", _params())
def test_cli_validate_exits_2(
    case: Case, corpus: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["validate", str(_file(corpus, case))])
    captured = capsys.readouterr()
    assert code == 2
    _assert_explains(captured.err, _as_manifest(case))
    assert "valid:" not in captured.out
