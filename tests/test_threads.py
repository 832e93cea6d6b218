"""The summary threads (bondmodel.risk.threads): started and warmed before the paths run,
reused after, and never inherited by a forked process."""

from __future__ import annotations

import os
import threading

import pytest

from bondmodel.risk import results, summary, threads
from bondmodel.risk.simulate import RunSettings
from bondmodel.scenario import load_scenario

from .conftest import ROOT


def _summary_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("bondmodel-summary")]


def test_ready_starts_every_thread_once_and_reuses_them() -> None:
    pool = threads.ready(summary.warm_up)
    started = _summary_threads()
    assert len(started) == threads.SIZE
    assert threads.ready(results._warm_up) is pool
    assert _summary_threads() == started


def test_the_threads_are_running_before_the_first_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """simulate() starts them before simulate_raw takes the per-path memory: a thread
    started after it could die in C when its first numpy call finds memory gone."""
    seen: list[int] = []
    real = results.simulate_raw

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(len(threads._POOL))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(threads, "_POOL", [])
    monkeypatch.setattr(results, "simulate_raw", spy)
    scenario = load_scenario(ROOT / "templates" / "shared-services.toml")
    results.simulate(scenario, RunSettings(paths=64, seed=3))
    assert seen == [1]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_process_forgets_the_parents_threads() -> None:
    threads.ready(results._warm_up)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, str(len(threads._POOL)).encode())
        os._exit(0)
    os.close(write)
    in_child = os.read(read, 16).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert in_child == "0"
    assert len(threads._POOL) == 1
