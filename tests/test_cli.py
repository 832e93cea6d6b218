"""The ``bondmodel`` command line: run, validate, new, templates, --version, and atomic output.

Most tests call :func:`bondmodel.cli.main` in-process (fast, and pytest captures
its output); ``tests/test_bad_inputs.py`` runs the real console in a subprocess.
"""

from __future__ import annotations

import json
import math
import os
import stat
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

import bondmodel
from bondmodel import cli, io
from bondmodel.errors import WorkbookError
from bondmodel.scenario.loader import DEFAULT_TEMPLATE, list_templates, template_path
from bondmodel.workbook import writer

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_FILES = sorted((ROOT / "templates").glob("*.toml"))
REQUIRED_TEMPLATES = ("shared-services", "single-council-bold", "council-routes")
HEADLINE_METRICS = ("npv", "bcr", "payback_years", "peak_funding_need")
OLD_BYTES = b"an earlier workbook, which must survive a failed write\n"


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def _usage_exit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """argparse exits by raising SystemExit; return its code and the output."""
    with pytest.raises(SystemExit) as info:
        cli.main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    code = info.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


def _sheet_names(path: Path) -> list[str]:
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        return list(workbook.sheetnames)
    finally:
        workbook.close()


def _strict_json(text: str) -> Any:
    """Parse standard JSON only: NaN and Infinity are rejected."""

    def reject(constant: str) -> Any:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=reject)


@pytest.fixture(scope="module")
def default_results() -> bondmodel.Results:
    return bondmodel.run(bondmodel.load_scenario(None))


# ---------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------


def test_run_without_a_scenario_writes_the_default_workbook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = _main(capsys, "run")
    assert code == 0, err
    expected = tmp_path / f"{DEFAULT_TEMPLATE}.xlsx"
    assert [p.name for p in tmp_path.iterdir()] == [expected.name]
    assert zipfile.is_zipfile(expected)
    assert {"Inputs", "Cashflows", "Metrics"} <= set(_sheet_names(expected))
    assert f"wrote {expected.name}" in err
    # without --json, the headline metrics as a table (tests/test_report.py checks its values)
    assert out.startswith("Summary: Four-council shared back office\n")
    assert "Net present value of the programme" in out and "P90" in out


def test_run_json_prints_the_headline_metrics(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    default_results: bondmodel.Results,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = _main(capsys, "run", "--json")
    assert code == 0, err
    summary = _strict_json(out)
    metrics = summary["metrics"]
    for key in HEADLINE_METRICS:
        assert key in metrics
        assert metrics[key] is None or isinstance(metrics[key], int | float)
    # the default scenario is a sound programme: every headline metric is defined
    assert all(isinstance(metrics[key], float) for key in HEADLINE_METRICS)
    assert math.isclose(metrics["npv"], default_results.metrics["npv"] or math.nan, rel_tol=1e-12)
    assert metrics["bcr"] > 1.0
    assert metrics["peak_funding_need"] > 0.0
    assert summary["scenario"]["name"] == default_results.scenario.meta.name
    assert summary["scenario"]["sha256"] == default_results.scenario.sha256()
    assert (tmp_path / f"{DEFAULT_TEMPLATE}.xlsx").is_file()


def test_run_named_scenario_defaults_output_to_its_stem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _main(capsys, "run", str(template_path("single-council-bold")))
    assert code == 0, err
    assert [p.name for p in tmp_path.iterdir()] == ["single-council-bold.xlsx"]


def test_run_output_option_writes_there_and_replaces_an_old_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.xlsx"
    out.write_bytes(OLD_BYTES)
    os.chmod(out, 0o640)
    code, _, err = _main(capsys, "run", "-o", str(out))
    assert code == 0, err
    assert out.read_bytes() != OLD_BYTES
    assert zipfile.is_zipfile(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o640, "the old file's permissions were lost"
    assert [p.name for p in tmp_path.iterdir()] == ["report.xlsx"]


@pytest.mark.parametrize("name", ["out.csv", "out.xls", "out", "out.xlsx.bak"])
def test_run_rejects_an_output_that_is_not_xlsx(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / name
    code, _, err = _main(capsys, "run", "-o", str(out))
    assert code == 2
    assert ".xlsx" in err and str(out) in err
    assert list(tmp_path.iterdir()) == []


def test_run_accepts_an_upper_case_suffix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "OUT.XLSX"
    code, _, err = _main(capsys, "run", "-o", str(out))
    assert code == 0, err
    assert zipfile.is_zipfile(out)


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink"])
def test_run_refuses_to_overwrite_the_scenario(
    spelling: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "scenario.xlsx"  # TOML text, named so the suffix check passes
    text = template_path(DEFAULT_TEMPLATE).read_bytes()
    scenario.write_bytes(text)
    (tmp_path / "sub").mkdir()
    output = {
        "same": scenario,
        "dotted": tmp_path / "sub" / ".." / "scenario.xlsx",
        "symlink": tmp_path / "link.xlsx",
    }[spelling]
    if spelling == "symlink":
        output.symlink_to(scenario)
    code, _, err = _main(capsys, "run", str(scenario), "-o", str(output))
    assert code == 2
    assert "scenario file itself" in err
    assert scenario.read_bytes() == text
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


@pytest.mark.parametrize("command", ["compare", "sweep", "solve", "template"])
def test_every_writing_command_refuses_an_input_as_its_output(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """compare, sweep, solve and template read a scenario (TOML text here, in a file named
    .xlsx so the suffix check passes and only the same-file rule can refuse it)."""
    scenario = tmp_path / "scenario.xlsx"
    text = template_path(DEFAULT_TEMPLATE).read_bytes()
    scenario.write_bytes(text)
    other = tmp_path / "other.toml"
    other.write_bytes(text)
    s, o = str(scenario), str(other)
    argv = {
        "compare": ["compare", o, s, "-o", s, "--paths", "100", "--seed", "1"],
        "sweep": ["sweep", s, "--vary", "bond.coupon.rate=0.05,0.06", "-o", s, "--seed", "1"],
        "solve": [
            "solve",
            s,
            "--find",
            "bond.principal",
            "--maximise",
            "--constraint",
            "P10(min_dscr)>=1.2",
            "-o",
            s,
            "--seed",
            "1",
        ],
        "template": ["template", s, "--scenario", s, "--force"],
    }[command]
    code, _, err = _main(capsys, *argv)
    assert code == 2
    assert "is an input file" in err or "is the input file itself" in err
    assert scenario.read_bytes() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.toml", "scenario.xlsx"]


@pytest.mark.parametrize(
    "flag",
    [["--sampler", "halton"], ["--paths", "-5"], ["--seed", "-3"], ["--workers", "0"]],
    ids=["sampler", "paths", "seed", "workers"],
)
def test_every_simulating_command_gives_a_bad_flag_the_same_error(
    flag: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """run, compare, sweep and solve share one rule and one message per run setting."""
    scenario = tmp_path / "s.toml"
    scenario.write_bytes(template_path(DEFAULT_TEMPLATE).read_bytes())
    s, out = str(scenario), str(tmp_path / "out.xlsx")
    commands = {
        "run": ["run", s, "-o", out],
        "compare": ["compare", s, s, "-o", out],
        "sweep": ["sweep", s, "--vary", "bond.coupon.rate=0.05,0.06", "-o", out],
        "solve": [
            "solve",
            s,
            "--find",
            "bond.principal",
            "--maximise",
            "--constraint",
            "P10(min_dscr)>=1.2",
            "-o",
            out,
        ],
    }
    errors = {}
    for name, argv in commands.items():
        code, _, err = _main(capsys, *argv, *flag)
        assert code == 2, name
        errors[name] = err.strip().splitlines()[-1]
    assert len(set(errors.values())) == 1, errors
    assert f"{flag[0]}: {flag[1]}" in errors["run"] or f"{flag[0]}: '{flag[1]}'" in errors["run"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_run_into_a_missing_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no-such-folder" / "out.xlsx"
    code, _, err = _main(capsys, "run", "-o", str(out))
    assert code == 2
    assert "does not exist" in err and "no-such-folder" in err
    assert list(tmp_path.iterdir()) == []


def test_run_into_a_folder_that_is_a_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder\n", encoding="utf-8")
    code, _, _ = _main(capsys, "run", "-o", str(blocker / "out.xlsx"))
    assert code == 2
    assert blocker.read_text(encoding="utf-8") == "a file, not a folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_run_onto_an_existing_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "out.xlsx"
    folder.mkdir()
    code, _, _ = _main(capsys, "run", "-o", str(folder))
    assert code == 2
    assert folder.is_dir()


def test_run_a_folder_as_scenario_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _main(capsys, "run", str(tmp_path), "-o", str(tmp_path / "out.xlsx"))
    assert code == 2
    assert "not a file" in err
    assert list(tmp_path.iterdir()) == []


def test_run_rejects_an_oversized_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bondmodel.scenario.loader import MAX_SCENARIO_BYTES

    big = tmp_path / "big.toml"
    padding = "# " + "x" * 98 + "\n"
    text = template_path(DEFAULT_TEMPLATE).read_text(encoding="utf-8")
    big.write_text(text + padding * (MAX_SCENARIO_BYTES // len(padding) + 1), encoding="utf-8")
    code, _, err = _main(capsys, "run", str(big), "-o", str(tmp_path / "out.xlsx"))
    assert code == 2
    assert "bytes" in err and str(MAX_SCENARIO_BYTES) in err
    assert not (tmp_path / "out.xlsx").exists()


# ---------------------------------------------------------------------------
# validate, templates, new, --version, usage errors
# ---------------------------------------------------------------------------


def test_the_templates_folder_holds_the_required_templates() -> None:
    names = [p.stem for p in TEMPLATE_FILES]
    assert set(REQUIRED_TEMPLATES) <= set(names)
    assert list_templates() == sorted(names)


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=[p.stem for p in TEMPLATE_FILES])
def test_validate_accepts_every_template(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main(capsys, "validate", str(path))
    assert code == 0, err
    assert "valid" in out
    scenario = bondmodel.load_scenario(path)
    assert f"'{scenario.meta.name}'" in out
    assert f"{len(scenario.partners)} partner(s)" in out


def test_validate_needs_a_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _usage_exit(capsys, "validate")
    assert code == 2
    assert "scenario" in err


def test_templates_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(capsys, "templates")
    assert code == 0
    lines = out.splitlines()
    assert lines == list_templates()
    assert set(REQUIRED_TEMPLATES) <= set(lines)


@pytest.mark.parametrize("name", REQUIRED_TEMPLATES)
def test_new_writes_a_scenario_that_validates(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "mine.toml"
    code, _, err = _main(capsys, "new", str(target), "--template", name)
    assert code == 0, err
    assert target.read_bytes() == template_path(name).read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["mine.toml"]
    code, out, err = _main(capsys, "validate", str(target))
    assert code == 0, err
    assert "valid" in out


def test_new_uses_the_default_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "mine.toml"
    code, _, _ = _main(capsys, "new", str(target))
    assert code == 0
    assert target.read_bytes() == template_path(DEFAULT_TEMPLATE).read_bytes()


def test_new_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "mine.toml"
    target.write_text("# my own work\n", encoding="utf-8")
    code, _, err = _main(capsys, "new", str(target), "--template", "single-council-bold")
    assert code == 2
    assert "already exists" in err and "--force" in err
    assert target.read_text(encoding="utf-8") == "# my own work\n"

    code, _, err = _main(capsys, "new", str(target), "--template", "single-council-bold", "--force")
    assert code == 0, err
    assert target.read_bytes() == template_path("single-council-bold").read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["mine.toml"]


def test_new_with_an_unknown_template_names_the_allowed_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "mine.toml"
    code, _, err = _main(capsys, "new", str(target), "--template", "triple-council")
    assert code == 2
    assert "'triple-council'" in err
    for name in list_templates():
        assert name in err
    assert list(tmp_path.iterdir()) == []


def test_new_into_a_missing_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _main(capsys, "new", str(tmp_path / "nowhere" / "mine.toml"))
    assert code == 2
    assert "does not exist" in err
    assert list(tmp_path.iterdir()) == []


def test_new_onto_a_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mine.toml"
    folder.mkdir()
    code, _, _ = _main(capsys, "new", str(folder), "--force")
    assert code == 2
    assert folder.is_dir()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _usage_exit(capsys, "--version")
    assert code == 0
    assert out.strip() == f"bondmodel {bondmodel.__version__}"


@pytest.mark.parametrize(
    "argv",
    [[], ["frobnicate"], ["run", "--no-such-option"], ["new"], ["run", "a.toml", "b.toml"]],
    ids=["no-command", "unknown-command", "unknown-option", "new-without-path", "two-scenarios"],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _usage_exit(capsys, *argv)
    assert code == 2
    assert "usage: bondmodel" in err
    assert out == ""


# ---------------------------------------------------------------------------
# Atomic output: a write that fails half-way leaves the old file and no debris
# ---------------------------------------------------------------------------


class _BoomError(Exception):
    pass


def _failing_write(error: BaseException) -> Any:
    """A stand-in for the workbook writer: writes half a file to the temp path, then fails."""
    seen: list[Path] = []

    def write(results: bondmodel.Results, path: Path, command: str | None = None) -> None:
        seen.append(Path(path))
        Path(path).write_bytes(b"PK\x03\x04 half a workbook")
        assert Path(path).is_file()  # the temporary file really exists at this point
        raise error

    write.seen = seen  # type: ignore[attr-defined]
    return write


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "data.txt"
    target.write_bytes(OLD_BYTES)
    temp_paths: list[Path] = []

    def write(tmp: Path) -> None:
        temp_paths.append(tmp)
        tmp.write_bytes(b"partial")
        raise _BoomError

    with pytest.raises(_BoomError):
        io.atomic_write(target, write)
    assert target.read_bytes() == OLD_BYTES
    assert temp_paths and temp_paths[0].parent == tmp_path and temp_paths[0] != target
    assert not temp_paths[0].exists()
    assert [p.name for p in tmp_path.iterdir()] == ["data.txt"]


def test_atomic_write_replaces_the_file_when_writing_succeeds(tmp_path: Path) -> None:
    target = tmp_path / "data.txt"
    target.write_bytes(OLD_BYTES)
    io.atomic_write_text(target, "new text\n")
    assert target.read_text(encoding="utf-8") == "new text\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.txt"]


def test_workbook_writer_failing_midway_keeps_the_old_workbook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default_results: bondmodel.Results
) -> None:
    out = tmp_path / "out.xlsx"
    out.write_bytes(OLD_BYTES)
    failing = _failing_write(_BoomError("disk full"))
    monkeypatch.setattr(writer, "_write", failing)
    with pytest.raises(_BoomError):
        writer.write_workbook(default_results, out)
    assert failing.seen and failing.seen[0] != out  # it wrote to a temporary file
    assert out.read_bytes() == OLD_BYTES
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]


def test_cli_run_failing_midway_exits_2_and_keeps_the_old_workbook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.xlsx"
    out.write_bytes(OLD_BYTES)
    failing = _failing_write(WorkbookError("cannot write the Metrics sheet"))
    monkeypatch.setattr(writer, "_write", failing)
    code, stdout, err = _main(capsys, "run", "--json", "-o", str(out))
    assert code == 2
    assert "cannot write the Metrics sheet" in err
    assert stdout == ""  # no JSON summary for a run that wrote nothing
    assert failing.seen
    assert out.read_bytes() == OLD_BYTES
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]


def test_cli_run_interrupted_midway_exits_130_and_keeps_the_old_workbook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.xlsx"
    out.write_bytes(OLD_BYTES)
    monkeypatch.setattr(writer, "_write", _failing_write(KeyboardInterrupt()))
    code, _, err = _main(capsys, "run", "-o", str(out))
    assert code == 130
    assert "nothing was written" in err
    assert out.read_bytes() == OLD_BYTES
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]


def test_cli_run_failing_midway_without_an_old_file_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.xlsx"
    monkeypatch.setattr(writer, "_write", _failing_write(WorkbookError("failed")))
    code, _, _ = _main(capsys, "run", "-o", str(out))
    assert code == 2
    assert list(tmp_path.iterdir()) == []
