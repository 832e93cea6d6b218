"""Every command against the machine's limits: exit 2, one line, no traceback, nothing written.

Each case runs the real command in a subprocess under a memory limit (RLIMIT_AS) and a
time limit, with a hostile setting (a path count no machine holds, a scheduler address
that is not one, a grid too large, a worker count too large), or with the output's
disk refusing (a file-size limit, RLIMIT_FSIZE, with SIGXFSZ ignored so the write fails
with EFBIG as it would with ENOSPC; /dev/full as the standard output; a full tmpfs
when the tests may mount one). docs/guarantees.md, "The machine's limits", lists them.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bondmodel import cli
from bondmodel.risk.simulate import SOBOL_MAX_PATHS

from .conftest import ROOT

SCENARIO = str(ROOT / "templates" / "shared-services.toml")
SIB = str(ROOT / "templates" / "sib-limited-recourse.toml")
INPUTS = str(ROOT / "templates" / "inputs.xlsx")

#: Address space each command may use: enough for the interpreter, numpy and pandas.
MEMORY = 3 * 2**30
#: Seconds each command may take: every refusal comes long before.
TIME = 60.0
OLD = b"PK\x03\x04 last week's output, which a failed command must leave alone"


def _limits(memory: int, file_size: int | None) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if file_size is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    return apply


def _bondmodel(
    args: list[str],
    cwd: Path,
    *,
    memory: int = MEMORY,
    file_size: int | None = None,
    stdout: int | None = subprocess.PIPE,
    stdout_path: str | None = None,
) -> tuple[int, str, float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    out = open(stdout_path, "w") if stdout_path else None  # noqa: SIM115
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bondmodel.cli", *args],
            cwd=cwd,
            env=env,
            stdout=out or stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=TIME,
            preexec_fn=_limits(memory, file_size),
        )
    finally:
        if out is not None:
            out.close()
    return proc.returncode, proc.stderr, time.monotonic() - start


def _one_error_line(code: int, err: str, *words: str, started: bool = False) -> str:
    """The error is the only line on stderr; after ``started`` (the settings accepted and
    the seed printed), the last line after the seed's."""
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("bondmodel: error: "), err
    assert len(lines) == 1 or (
        started and len(lines) == 2 and lines[0].startswith("bondmodel: seed ")
    ), err
    for word in words:
        assert word in lines[-1], (word, err)
    return lines[-1]


HUGE = "9000000000000000000"

#: (id, arguments, words the one error line must contain)
HOSTILE_SETTINGS = [
    ("run_paths_9e18", ["run", SCENARIO, "--paths", HUGE], ["--paths", "GiB", "at most"]),
    ("run_paths_3e9", ["run", SCENARIO, "--paths", "3000000000"], ["--paths", "GiB"]),
    ("run_paths_1e20", ["run", SCENARIO, "--paths", "1e20"], ["--paths", "GiB"]),
    (
        "run_sobol_beyond_its_points",
        ["run", SCENARIO, "--sampler", "sobol", "--paths", str(SOBOL_MAX_PATHS + 1)],
        ["--paths", "Sobol"],
    ),
    (
        "run_not_a_scheduler",
        ["run", SCENARIO, "--scheduler", "not a url"],
        ["--scheduler", "'not a url'", "HOST:PORT"],
    ),
    ("run_a_million_workers", ["run", SCENARIO, "--workers", "1000000"], ["--workers"]),
    (
        "verify_not_a_scheduler",
        ["verify", "model.xlsx", "--scheduler", "not a url"],
        ["--scheduler"],
    ),
    ("compare_paths_9e18", ["compare", SCENARIO, SIB, "--paths", HUGE], ["--paths", "GiB"]),
    (
        "sweep_grid_too_large",
        [
            "sweep",
            SCENARIO,
            "--vary",
            "bond.coupon.rate=0.01:0.08:0.0001",
            "--vary",
            "bond.tenor_years=5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20",
        ],
        ["--vary", "11,216 structures", "at most 2,000"],
    ),
    (
        "solve_paths_9e18",
        [
            "solve",
            SCENARIO,
            "--find",
            "bond.coupon.rate",
            "--maximise",
            "--constraint",
            "P50(council_npv) >= 0",
            "--paths",
            HUGE,
        ],
        ["--paths", "GiB"],
    ),
]


@pytest.mark.parametrize(
    ("args", "words"), [pytest.param(a, w, id=i) for i, a, w in HOSTILE_SETTINGS]
)
def test_a_hostile_setting_is_one_line_under_a_memory_and_time_limit(
    tmp_path: Path, args: list[str], words: list[str]
) -> None:
    code, err, seconds = _bondmodel(args, tmp_path)
    _one_error_line(code, err, *words)
    assert seconds < 20, f"took {seconds:.1f} s to refuse"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.alone  # 2.4 s for its three runs on its own: the others wait (tests/conftest.py)
def test_memory_running_out_mid_run_is_one_line(tmp_path: Path) -> None:
    """Two million paths under 640 MB of address space: the per-path table (0.3 GiB) is
    below the limit, so the run starts, and memory runs out on the way (numpy's
    _ArrayMemoryError, or the table's own allocation): one line either way.

    Before the summary's threads were started ahead of the paths (bondmodel.risk.threads),
    2 runs in 14 here died in C instead (exit -11 or 127): run it a few times."""
    for _ in range(3):
        code, err, _ = _bondmodel(
            ["run", SCENARIO, "--paths", "2000000", "--quiet", "--seed", "5"],
            tmp_path,
            memory=640 * 2**20,
        )
        line = _one_error_line(code, err, started=True)
        assert "memory" in line or "allocate" in line, line
        assert list(tmp_path.iterdir()) == []


#: (id, arguments with OUT for the output path, file-size limit in bytes)
FULL_DISK = [
    ("run", ["run", SCENARIO, "--paths", "0", "-o", "OUT.xlsx"], 64 * 1024),
    ("template", ["template", "OUT.xlsx", "--force"], 8 * 1024),
    ("export", ["export", INPUTS, "OUT.toml", "--force"], 512),
    ("new", ["new", "OUT.toml", "--force"], 256),
    (
        "compare",
        ["compare", SCENARIO, SIB, "--paths", "0", "--seed", "1", "-o", "OUT.xlsx"],
        16 * 1024,
    ),
]


@pytest.mark.parametrize(("args", "limit"), [pytest.param(a, n, id=i) for i, a, n in FULL_DISK])
def test_a_full_disk_names_the_output_and_keeps_the_old_file(
    tmp_path: Path, args: list[str], limit: int
) -> None:
    name = next(a for a in args if a.startswith("OUT."))
    out = tmp_path / name
    out.write_bytes(OLD)
    before = out.stat()
    code, err, _ = _bondmodel(args, tmp_path, file_size=limit)
    # the design tools print the seed they share before they run (even on the base case)
    line = _one_error_line(
        code,
        err,
        name,
        "cannot write it",
        "file size limit",
        "the existing file is unchanged",
        started=args[0] == "compare",
    )
    assert line
    assert out.read_bytes() == OLD
    assert (out.stat().st_ino, out.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left


@pytest.mark.parametrize(
    "args", [["templates"], ["validate", SCENARIO]], ids=["templates", "validate"]
)
def test_a_standard_output_that_cannot_be_written_is_one_line(
    tmp_path: Path, args: list[str]
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    code, err, _ = _bondmodel(args, tmp_path, stdout_path="/dev/full")
    _one_error_line(code, err, "standard output", "no space left")


def test_a_really_full_disk(tmp_path: Path) -> None:
    """ENOSPC from a 64 KiB tmpfs (when the tests may mount one): the message names the
    output and says the disk is full."""
    mount = tmp_path / "small"
    mount.mkdir()
    if (
        shutil.which("mount") is None
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
            capture_output=True,
            check=False,
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        out = mount / "out.xlsx"
        code, err, _ = _bondmodel(["run", SCENARIO, "--paths", "0", "-o", str(out)], tmp_path)
        _one_error_line(code, err, str(out), "no space left on the disk", "nothing was written")
        assert list(mount.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount)], check=False)


class _Boom:
    """Stands in for the engine and raises what the machine raises when it runs out."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __call__(self, *args: object, **kwargs: object) -> object:
        raise self.exc


def _numpy_memory_error() -> BaseException:
    """numpy's own MemoryError (``_ArrayMemoryError``), as an allocation it refuses raises."""
    import numpy as np

    try:
        from numpy._core._exceptions import _ArrayMemoryError
    except ImportError:  # numpy 1.x
        from numpy.core._exceptions import _ArrayMemoryError  # type: ignore[no-redef]
    error: BaseException = _ArrayMemoryError((2**40,), np.dtype(np.float64))
    assert isinstance(error, MemoryError)
    return error


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (_numpy_memory_error, ["out of memory", "at most"]),
        (lambda: RuntimeError("can't start new thread"), ["refused to start a thread"]),
        (
            lambda: __import__("concurrent.futures.process", fromlist=["x"]).BrokenProcessPool(
                "A child process terminated abruptly"
            ),
            ["worker process stopped"],
        ),
        (lambda: OSError(12, "Cannot allocate memory"), ["out of memory"]),
        (lambda: BlockingIOError(11, "Resource temporarily unavailable"), ["new process"]),
        (
            lambda: ImportError("x.so: failed to map segment from shared object", name="x"),
            ["out of memory while loading x"],
        ),
    ],
    ids=["numpy", "thread", "broken_pool", "enomem", "eagain", "dlopen"],
)
def test_each_way_of_running_out_is_mapped_to_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make: Callable[[], BaseException],
    words: list[str],
) -> None:
    import bondmodel.engine

    monkeypatch.setattr(bondmodel.engine, "run", _Boom(make()))
    code = cli.main(["run", SCENARIO, "--paths", "100", "--quiet", "-o", str(tmp_path / "m.xlsx")])
    err = capsys.readouterr().err
    line = _one_error_line(code, err, *words, started=True)
    assert line
    assert list(tmp_path.iterdir()) == []


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the machine running out is mapped: any other RuntimeError is a bug, and is not
    hidden behind a one-line message."""
    import bondmodel.engine

    monkeypatch.setattr(bondmodel.engine, "run", _Boom(RuntimeError("an engine bug")))
    with pytest.raises(RuntimeError, match="an engine bug"):
        cli.main(["run", SCENARIO, "--paths", "100", "--quiet", "-o", str(tmp_path / "m.xlsx")])


@pytest.mark.alone  # times itself: the other workers wait (tests/conftest.py)
@pytest.mark.parametrize("text", ["1e999999999", "9" * 5000])
def test_a_flag_with_a_vast_exponent_is_refused_at_once(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--seed 1e999999999`` is a whole number written in 11 characters whose expansion
    would take minutes: refused from its size, in well under a second."""
    start = time.monotonic()
    with pytest.raises(SystemExit) as stop:
        cli.main(["run", SCENARIO, "--seed", text])
    assert stop.value.code == 2
    assert time.monotonic() - start < 1.0
    err = capsys.readouterr().err
    assert "argument --seed:" in err and "digits" in err and "Traceback" not in err
    assert len(err.splitlines()[-1]) < 200  # the value is cut short in the message


def test_whole_numbers_may_be_written_in_scientific_notation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # through the command itself: what the run records is the whole number written
    for paths, seed, expected in (("1e1", "10_000", (10, 10_000)), ("2.5e1", "2.5e3", (25, 2500))):
        code = cli.main(
            [
                "run",
                "--paths",
                paths,
                "--seed",
                seed,
                "--json",
                "--quiet",
                "-o",
                str(tmp_path / "m.xlsx"),
            ]
        )
        assert code == 0
        settings = json.loads(capsys.readouterr().out)["risk"]["settings"]
        assert (settings["paths"], settings["seed"]) == expected
    for bad in ("1.5", "nan", "inf", "1e-3", "ten"):
        with pytest.raises(SystemExit) as stop:
            cli.main(["run", "--paths", bad, "-o", str(tmp_path / "bad.xlsx")])
        assert stop.value.code == 2
        assert f"argument --paths: '{bad}' is not a whole number" in capsys.readouterr().err
    assert not (tmp_path / "bad.xlsx").exists()
