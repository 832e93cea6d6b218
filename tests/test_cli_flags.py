"""Bad Monte Carlo flags on ``bondmodel run``: exit 2, a message naming the flag, nothing written.

tests/test_bad_inputs.py runs its corpus without flags, so the flag cases live
here. Each bad flag is run twice:

* in-process (``bondmodel.cli.main``) over an existing workbook, which must stay
  byte-identical (same bytes, same inode, same modification time);
* in a real subprocess (``python -m bondmodel.cli``) with no workbook yet, so that
  the exit code and the absence of a traceback are those the user's shell sees,
  and no file is created.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bondmodel import cli

from .conftest import ROOT

SCENARIO = ROOT / "templates" / "shared-services.toml"

#: Bytes of a stand-in for a workbook the user already has; a failed run must not touch it.
OLD_WORKBOOK = b"PK\x03\x04 an earlier workbook that a failed run must not touch \x00\xff"

#: A closed local port: nothing listens on the discard port.
UNREACHABLE = "tcp://127.0.0.1:9"

#: (id, flags, words the message must contain: the flag, the bad value, what is allowed)
BAD_FLAGS = [
    ("negative_paths", ["--paths", "-5"], ["--paths", "-5", "0"]),
    ("non_integer_seed", ["--seed", "1.5"], ["--seed", "'1.5'", "whole number"]),
    ("negative_seed", ["--seed", "-3"], ["--seed", "-3", "0..9223372036854775807"]),
    ("unknown_sampler", ["--sampler", "halton"], ["--sampler", "'halton'", "random, lhs, sobol"]),
    ("zero_workers", ["--workers", "0"], ["--workers", "0", ">= 1"]),
    ("converge_2", ["--converge", "2"], ["--converge", "2", "between 0 and 1"]),
    ("unreachable_scheduler", ["--scheduler", UNREACHABLE], ["--scheduler", UNREACHABLE]),
    ("stress_grammar", ["--stress", "savings_realisation"], ["--stress", "INPUT=PLOW:PHIGH"]),
    (
        "stress_unknown_input",
        ["--stress", "no_such_input=P5:P25"],
        ["--stress", "'no_such_input'", "savings_realisation"],
    ),
    (
        "stress_band_reversed",
        ["--stress", "savings_realisation=P25:P5"],
        ["--stress", "P25:P5", "0 <= low < high <= 100"],
    ),
    (
        "stress_band_past_100",
        ["--stress", "savings_realisation=P5:P120"],
        ["--stress", "P5:P120", "0 <= low < high <= 100"],
    ),
    (
        "region_grammar",
        ["--scenario-analysis", "min_dscr"],
        ["--scenario-analysis", "'min_dscr'", "METRIC<LEVEL"],
    ),
    (
        "region_level_not_a_number",
        ["--scenario-analysis", "min_dscr<one"],
        ["--scenario-analysis", "METRIC<LEVEL"],
    ),
    (
        "region_unknown_metric",
        ["--scenario-analysis", "dscr_min<1"],
        ["--scenario-analysis", "'dscr_min'", "min_dscr"],
    ),
]

#: Found while writing the cases above, and fixed.
KNOWN_BAD = [
    pytest.param(
        ["--converge", "0.01", "--converge-on", "no_such_metric"],
        ["--converge-on", "'no_such_metric'"],
        id="unknown_converge_on",
    ),
    pytest.param(
        ["--chunk-blocks", "0"],
        ["--chunk-blocks", "0", ">= 1"],
        id="zero_chunk_blocks",
    ),
]

#: Small runs: every check happens before any real simulation work.
PATHS = ["--paths", "200", "--quiet"]


def _params() -> list[object]:
    return [pytest.param(flags, words, id=name) for name, flags, words in BAD_FLAGS]


def _run_in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """cli.main, with argparse's usage errors (SystemExit) turned into their exit code."""
    try:
        code = cli.main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _run_subprocess(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
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


def _assert_explains(err: str, words: list[str]) -> None:
    assert "Traceback" not in err, err
    assert "error:" in err, err
    for word in words:
        assert word in err, (word, err)


@pytest.mark.parametrize(("flags", "words"), [*_params(), *KNOWN_BAD])
def test_bad_flag_keeps_an_existing_workbook_byte_identical(
    flags: list[str], words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _assert_refused_in_process(["run", str(SCENARIO), *PATHS, *flags], words, tmp_path, capsys)


def _assert_refused_in_process(
    argv: list[str], words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``argv -o out.xlsx`` over an existing workbook: exit 2, the words, nothing written."""
    out = tmp_path / "out.xlsx"
    out.write_bytes(OLD_WORKBOOK)
    before = out.stat()
    code, stdout, err = _run_in_process([*argv, "-o", str(out)], capsys)
    assert code == 2, err
    _assert_explains(err, words)
    assert stdout == ""
    assert out.read_bytes() == OLD_WORKBOOK
    assert out.stat().st_ino == before.st_ino, "the workbook was replaced"
    assert out.stat().st_mtime_ns == before.st_mtime_ns
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"], "a file was left behind"


@pytest.mark.parametrize(("flags", "words"), _params())
def test_bad_flag_in_a_real_process_exits_2_and_writes_nothing(
    flags: list[str], words: list[str], tmp_path: Path
) -> None:
    proc = _run_subprocess("run", str(SCENARIO), "-o", "out.xlsx", *PATHS, *flags, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    _assert_explains(proc.stderr, words)
    assert proc.stdout == ""
    assert list(tmp_path.iterdir()) == [], "a file was written"


def test_bad_flag_without_output_option_writes_no_default_workbook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without -o the workbook would be shared-services.xlsx in the working folder."""
    monkeypatch.chdir(tmp_path)
    code, _, err = _run_in_process(["run", str(SCENARIO), *PATHS, "--workers", "0"], capsys)
    assert code == 2, err
    assert list(tmp_path.iterdir()) == []


#: ``solve`` with several fields (``--objective``): (id, flags after the scenario, words the
#: message must contain). The shared part is a maximisation under one constraint.
RATE, TENOR = ["--find", "bond.coupon.rate"], ["--find", "bond.tenor_years"]
OBJECTIVE = ["--objective", "P50(council_npv)"]
BAD_SOLVE_FLAGS = [
    ("several_finds_no_objective", [*RATE, *TENOR], ["--find", "2 fields", "--objective"]),
    (
        "fewer_ranges_than_finds",
        [*RATE, "--range", "0.03:0.08", *TENOR, *OBJECTIVE],
        ["--range", "1 range for 2 --find fields", "one --range LO:HI per --find"],
    ),
    (
        "more_ranges_than_finds",
        [*RATE, "--range", "0.03:0.08", "--range", "5:12"],
        ["--range", "2 ranges for 1 --find field"],
    ),
    (
        "unknown_field",
        ["--find", "bond.coupon.rat", *TENOR, *OBJECTIVE],
        ["bond.coupon.rat", "no field 'rat'", "fields:"],
    ),
    (
        "list_field",
        ["--find", "costs[1].profile", *TENOR, *OBJECTIVE],
        ["--find costs[1].profile", "list of 3 values", "costs[1].profile[0]"],
    ),
    ("text_field", ["--find", "meta.name", *TENOR, *OBJECTIVE], ["--find meta.name", "numeric"]),
    ("same_field_twice", [*RATE, *RATE, *OBJECTIVE], ["--find", "more than once"]),
    (
        "whole_field_narrow_range",
        [*RATE, "--range", "0.03:0.08", *TENOR, "--range", "5.2:5.8", *OBJECTIVE],
        ["--range 5.2:5.8", "bond.tenor_years", "whole values", "two whole values"],
    ),
    (
        "range_reversed",
        [*RATE, "--range", "0.08:0.03", *TENOR, "--range", "5:12", *OBJECTIVE],
        ["--range 0.08:0.03", "bond.coupon.rate", "LO < HI"],
    ),
    (
        "range_not_numbers",
        [*RATE, "--range", "low:high", *TENOR, "--range", "5:12", *OBJECTIVE],
        ["--range", "'low:high'", "LO:HI"],
    ),
    (
        "objective_grammar",
        [*RATE, *TENOR, "--objective", "median(npv)"],
        ["--objective", "'median(npv)'", "Pnn(METRIC)"],
    ),
    (
        "objective_not_per_path",
        [*RATE, "--range", "0.03:0.08", *TENOR, "--range", "5:12", "--objective", "P50(nope)"],
        ["--objective", "'nope'", "per-path metrics"],
    ),
    (
        "population_too_small",
        [*RATE, *TENOR, *OBJECTIVE, "--population", "2"],
        ["--population", "2", "5..100"],
    ),
    (
        "generations_zero",
        [*RATE, *TENOR, *OBJECTIVE, "--generations", "0"],
        ["--generations", "0", "1..10000"],
    ),
    (
        "search_too_long",
        [*RATE, *TENOR, *OBJECTIVE, "--population", "100", "--generations", "1000"],
        ["--generations", "200,200 structures", "at most 20,000"],
    ),
    (
        "tolerance_with_objective",
        [*RATE, *TENOR, *OBJECTIVE, "--tolerance", "0.001"],
        ["--tolerance", "one-field bisection", "--generations"],
    ),
    ("population_without_objective", [*RATE, "--population", "8"], ["--population", "--objective"]),
]

SOLVE = ["--maximise", "--constraint", "P10(min_dscr) >= 1.2", "--paths", "200", "--seed", "1"]


@pytest.mark.parametrize(
    ("flags", "words"), [pytest.param(f, w, id=name) for name, f, w in BAD_SOLVE_FLAGS]
)
def test_bad_solve_flag_keeps_an_existing_workbook_byte_identical(
    flags: list[str], words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _assert_refused_in_process(["solve", str(SCENARIO), *SOLVE, *flags], words, tmp_path, capsys)


@pytest.mark.parametrize("name", ["several_finds_no_objective", "objective_not_per_path"])
def test_bad_solve_flag_in_a_real_process_exits_2_and_writes_nothing(
    name: str, tmp_path: Path
) -> None:
    flags, words = next((f, w) for n, f, w in BAD_SOLVE_FLAGS if n == name)
    proc = _run_subprocess("solve", str(SCENARIO), *SOLVE, *flags, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    _assert_explains(proc.stderr, words)
    assert proc.stdout == ""
    assert list(tmp_path.iterdir()) == [], "a file was written"


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param(["--find", "bond.coupon.rat"], id="one_field_unknown"),
        pytest.param(["--find", "costs[1].profile"], id="one_field_a_list"),
        pytest.param([*RATE, "--range", "0.08:0.03"], id="one_field_range_reversed"),
        pytest.param(["--find", "bond.coupon.rat", *TENOR, *OBJECTIVE], id="several_unknown"),
        pytest.param(
            [*RATE, *TENOR, "--range", "1:2", "--range", "5.2:5.8", *OBJECTIVE],
            id="several_range_narrow",
        ),
    ],
)
def test_a_bad_solve_field_is_refused_before_a_seed_is_drawn(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --seed, solve draws a seed and prints it: a field it cannot search is refused
    before that, so the user sees one error line and nothing else (as sweep does)."""
    unseeded = ["--maximise", "--constraint", "P10(min_dscr) >= 1.2", "--paths", "200"]
    assert cli.main(["solve", str(SCENARIO), *unseeded, *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bondmodel: error: ") and err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(
            ["sweep", str(SCENARIO), "--vary", "bond.tenor_years=5,1000", "--paths", "50"],
            ["--vary bond.tenor_years: 1000 is outside the field's values", "<= 100"],
            id="sweep_value_past_its_bound",
        ),
        pytest.param(
            ["sweep", str(SCENARIO), "--vary", "bond.principal=0.5,1e6", "--paths", "50"],
            ["--vary bond.principal: 0.5 is outside", ">= 1"],
            id="sweep_principal_below_a_pound",
        ),
        pytest.param(
            ["run", str(SCENARIO), "--paths", "50", "--tornado-output", "nonsense"],
            ["--tornado-output: 'nonsense' is not a per-path metric", "council_npv"],
            id="run_tornado_output_unknown",
        ),
    ],
)
def test_a_value_past_its_field_or_an_unknown_output_is_refused_before_the_seed(
    args: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Both were refused only after the seed was drawn and printed, mid-sweep or mid-run."""
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("bondmodel: error: ") and err.count("\n") == 1, err
    for word in words:
        assert word in err, err
