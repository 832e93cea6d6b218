"""Faults injected into real runs: a kill during the write, Ctrl-C, a Dask worker dying.

Each must end with a correct result or a clear error, never with a damaged or
partial output, and never with silently partial statistics.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bondmodel import load_scenario
from bondmodel.risk.results import simulate
from bondmodel.risk.simulate import RunSettings

from .conftest import ROOT

OLD = b"PK\x03\x04 the workbook from last week, which a failed run must not touch"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _wait_for(condition: object, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def _slow_write_script(args: list[str]) -> str:
    """A script running ``bondmodel ARGS`` whose workbook writer stops half-way for a minute."""
    return textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from bondmodel import cli
        from bondmodel.workbook import writer

        def slow_write(results, path, command=None):
            Path(path).write_bytes(b"PK half a workbook")
            time.sleep(60)

        writer._write = slow_write
        sys.exit(cli.main({args!r}))
    """)


def test_killed_while_writing_leaves_the_old_workbook_intact(tmp_path: Path) -> None:
    """SIGKILL (no handler can run) while the new workbook is half written."""
    out = tmp_path / "out.xlsx"
    out.write_bytes(OLD)
    script = _slow_write_script(["run", "-o", str(out), "--paths", "0"])
    proc = subprocess.Popen([sys.executable, "-c", script], env=_env(), cwd=tmp_path)
    try:
        assert _wait_for(lambda: any(p.name.endswith(".tmp") for p in tmp_path.iterdir()), 60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert out.read_bytes() == OLD  # the rename never happened: the old file is whole
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "out.xlsx"]
    # only the half-written temporary file, beside and not instead of the workbook
    assert all(name.startswith(".out.xlsx.") and name.endswith(".tmp") for name in leftovers)


@pytest.mark.alone  # times itself: the other workers wait (tests/conftest.py)
@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_within_a_second_writes_nothing_and_prints_the_seed(
    tmp_path: Path, workers: int
) -> None:
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it."""
    out = tmp_path / "out.xlsx"
    out.write_bytes(OLD)
    # Start the run as a terminal would: a test runner started in the background by a shell
    # without job control ignores SIGINT, and a child inherits an ignored signal (but not a
    # handler, which exec resets to the default).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bondmodel.cli",
                "run",
                "-o",
                str(out),
                "--paths",
                "5000000",
                "--seed",
                "4242",
                "--workers",
                str(workers),
                "--quiet",
            ],
            env=_env(),
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        time.sleep(3.0)  # well into the simulation
        assert proc.poll() is None, "the run ended before it could be interrupted"
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        stopped = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    print(f"stopped {stopped:.3f} s after Ctrl-C")
    assert stopped < 1.0, f"took {stopped:.2f} s to stop"
    assert "--seed 4242" in err
    assert "Traceback" not in err, err
    assert out.read_bytes() == OLD
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]


def test_a_dask_worker_dying_mid_run_changes_nothing() -> None:
    """A worker killed mid-run: its chunks run again elsewhere, bit for bit the same."""
    distributed = pytest.importorskip("distributed")
    scenario = load_scenario(None)
    paths, seed = 8192 * 24, 99
    serial = simulate(scenario, RunSettings(paths, seed=seed, chunk_blocks=1))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        result: dict[str, object] = {}

        def work() -> None:
            try:
                result["sim"] = simulate(
                    scenario,
                    RunSettings(
                        paths, seed=seed, chunk_blocks=1, scheduler=cluster.scheduler_address
                    ),
                )
            except BaseException as exc:  # reported below
                result["error"] = exc

        thread = threading.Thread(target=work)
        thread.start()
        client = distributed.Client(cluster.scheduler_address)
        try:
            assert _wait_for(lambda: sum(len(v) for v in client.processing().values()) > 0, 60)
            time.sleep(0.5)
            victim = next(iter(client.scheduler_info()["workers"]))
            pid = client.run(os.getpid, workers=[victim])[victim]
            running = thread.is_alive()
            os.kill(pid, signal.SIGKILL)  # no goodbye: the worker just dies
        finally:
            thread.join(timeout=300)
            client.close()
    assert not thread.is_alive()
    assert running, "the worker died after the run had finished: nothing was tested"
    if "error" in result:  # allowed: a clear error, never partial statistics
        assert "chunk" in str(result["error"]) or "worker" in str(result["error"]).lower()
        return
    print("completed after losing a worker")
    other = result["sim"]
    assert other.settings.paths == paths  # type: ignore[attr-defined]
    for name in serial.per_path.columns:
        np.testing.assert_array_equal(serial.per_path[name], other.per_path[name])  # type: ignore[attr-defined]


def _start_as_from_a_terminal(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    """A subprocess whose SIGINT is not ignored (see the Ctrl-C test above)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            args,
            env=_env(),
            cwd=cwd,
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize(
    ("sig", "code"),
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_a_signal_during_the_write_removes_the_temporary_file(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    """SIGTERM (kill, a scheduler), SIGHUP (the terminal closing) and Ctrl-C while the new
    workbook is half written: the temporary file is removed, the old workbook is intact,
    the seed is printed, and the exit code is 128 + the signal's number."""
    out = tmp_path / "out.xlsx"
    out.write_bytes(OLD)
    script = _slow_write_script(
        ["run", "-o", str(out), "--paths", "300", "--seed", "77", "--quiet"]
    )
    proc = _start_as_from_a_terminal([sys.executable, "-c", script], tmp_path)
    try:
        assert _wait_for(lambda: any(p.name.endswith(".tmp") for p in tmp_path.iterdir()), 60)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err, err
    assert f"interrupted ({sig.name}); nothing was written; repeat with --seed 77" in err
    assert out.read_bytes() == OLD
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]  # no temporary file


def test_a_stop_while_the_libraries_load_is_clean(tmp_path: Path) -> None:
    """Ctrl-C in the first second, while numpy and pandas are still being imported: exit
    130 and one line, not a KeyboardInterrupt traceback (status -2)."""
    marker = tmp_path / "importing"
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path

        class SlowPandas:
            # the import of pandas takes a while: long enough to be interrupted in it
            def find_spec(self, name, path=None, target=None):
                if name == "pandas":
                    Path({str(marker)!r}).touch()
                    time.sleep(30)
                return None

        from bondmodel import cli
        assert "numpy" not in sys.modules and "pandas" not in sys.modules, "cli loads numpy"
        sys.meta_path.insert(0, SlowPandas())
        sys.exit(cli.main(["run", "--paths", "0", "-o", "out.xlsx"]))
    """)
    proc = _start_as_from_a_terminal([sys.executable, "-c", script], tmp_path)
    try:
        assert _wait_for(marker.exists, 60)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip() == "bondmodel: interrupted (SIGINT); nothing was written", err
    assert [p.name for p in tmp_path.iterdir()] == ["importing"]


def test_the_console_script_loads_nothing_slow_before_main() -> None:
    """``bondmodel`` imports ``bondmodel.cli`` before calling main: that import must not load
    numpy, pandas, scipy or pydantic, or a stop during it would be a traceback."""
    probe = (
        "import sys; import bondmodel.cli; "
        "print(sorted(m for m in ('numpy', 'pandas', 'scipy', 'pydantic') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=_env(), capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


@pytest.mark.alone  # times itself: the other workers wait (tests/conftest.py)
def test_sigterm_to_the_parent_stops_its_workers_too(tmp_path: Path) -> None:
    """SIGTERM to the command alone (as ``kill PID`` sends it), mid-run on two worker
    processes: the command stops within a second with 143 and its workers are gone (they
    ignore the stop themselves and die when the parent terminates them)."""
    out = tmp_path / "out.xlsx"
    proc = _start_as_from_a_terminal(
        [
            sys.executable,
            "-m",
            "bondmodel.cli",
            "run",
            "-o",
            str(out),
            "--paths",
            "5000000",
            "--seed",
            "4243",
            "--workers",
            "2",
            "--quiet",
        ],
        tmp_path,
    )
    try:
        time.sleep(3.0)
        assert proc.poll() is None, "the run ended before it could be stopped"
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        if not children.exists():
            pytest.skip("this kernel does not list a process's children")
        workers = [int(p) for p in children.read_text().split()]
        assert len(workers) >= 2, workers  # the two workers (the pool starts them on demand)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        stopped = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, err
    assert stopped < 1.0, f"took {stopped:.2f} s to stop"
    assert "interrupted (SIGTERM); nothing was written; repeat with --seed 4243" in err
    assert "Traceback" not in err, err
    assert not out.exists()
    time.sleep(0.5)
    alive = [
        pid
        for pid in workers
        if Path(f"/proc/{pid}").exists()
        and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    ]
    assert not alive, f"worker processes {alive} outlived the run"


_CUT_SHORT = textwrap.dedent("""
    import multiprocessing, os, struct, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from bondmodel.risk.simulate import stop_pool

    def cut_short():
        # a worker stopped while it sends its results: a header promising a megabyte,
        # then ten bytes of it
        os.write(WRITER.fileno(), struct.pack("!i", 1 << 20) + b"x" * 10)
        time.sleep(60)

    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    WRITER = pool._result_queue._writer
    pool.submit(cut_short)
    manager = pool._executor_manager_thread
    time.sleep(1.0)  # the manager thread now waits for the rest of the message
    stop_pool(pool)
    manager.join(10.0)
    print("stuck" if manager.is_alive() else "stopped", flush=True)
    os._exit(0)
""")


@pytest.mark.alone  # times itself: the other workers wait (tests/conftest.py)
def test_a_worker_stopped_mid_message_does_not_hold_the_exit() -> None:
    """The pool's manager thread, left waiting for the rest of a result that a terminated
    worker was sending, stops once :func:`stop_pool` has run; Python's exit waits for that
    thread, so this is what lets a stopped run end (CI once waited 30 s and more here)."""
    done = subprocess.run(
        [sys.executable, "-c", _CUT_SHORT],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        check=False,
    )
    assert done.stdout.strip() == "stopped", done.stdout + done.stderr


_HANGING_EXIT = textwrap.dedent("""
    import threading
    from bondmodel import cli, interrupts

    def stopped_mid_run(args):
        # a library thread Python's exit will wait for, stuck for good
        threading.Thread(target=threading.Event().wait).start()
        raise interrupts.Interrupted(15)

    cli._dispatch = stopped_mid_run
    cli.command()
""")


@pytest.mark.alone  # times itself: the other workers wait (tests/conftest.py)
def test_a_stopped_command_ends_even_when_a_thread_hangs() -> None:
    """Whatever a library thread does, a stopped command ends within the grace period with
    the stop's code and its one line (the watchdog of ``cli.command``)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _HANGING_EXIT, "run"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        check=False,
    )
    took = time.monotonic() - started
    assert done.returncode == 143, done.stderr
    assert "bondmodel: interrupted (SIGTERM); nothing was written" in done.stderr
    assert "Traceback" not in done.stderr
    assert took < 20.0, f"took {took:.1f} s"
