"""The threads that summarise a run, started and warmed before the paths take the memory.

A run summarises its per-path metrics in threads (numpy's sorts release the GIL:
:func:`bondmodel.risk.summary.summary_table`, the rank correlations and the value at risk
beside it). A thread started only then, when the per-path table already holds most of the
memory the process may use, can die in C: its first numpy call allocates the thread's own
storage of numpy's libraries (glibc's thread-local data), and when that allocation fails
glibc aborts the process ("cannot allocate memory for thread-local data") or it takes a
segmentation fault, which no ``except MemoryError`` can turn into the one line the command
promises (docs/guarantees.md, "The machine's limits").

So the threads are started once, before any path runs (:func:`ready`), and each makes
the same numpy calls on a handful of values at once, which allocates that storage while
memory is free. Later work only reuses them: memory running out mid-run is then numpy's
``MemoryError``, raised in the thread and re-raised by its future in the caller. Forked
worker processes forget the pool (they never summarise), so a fork never inherits it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final

#: One thread per CPU for the summary's columns, and one for the rank correlations beside it.
SIZE: Final = (os.cpu_count() or 1) + 1
#: Seconds the threads may take to start together before the pool is used as it stands.
_START_TIMEOUT: Final = 60.0

_POOL: list[ThreadPoolExecutor] = []
_LOCK = threading.Lock()


def _start(barrier: threading.Barrier, warm: Callable[[], object]) -> None:
    """Each thread's first work: wait until all have started (so each task has a thread of
    its own), then make the calls ``warm`` makes."""
    barrier.wait(timeout=_START_TIMEOUT)
    warm()


def ready(warm: Callable[[], object]) -> ThreadPoolExecutor:
    """The process's summary threads, all started, each having called ``warm`` (the numpy
    calls its later work makes, on a few values); made on the first call, reused after.

    Call it before the paths run. A thread the system refuses to start raises
    ``RuntimeError("can't start new thread")`` here, which the command reports in one line.
    """
    with _LOCK:
        if _POOL:
            return _POOL[0]
        pool = ThreadPoolExecutor(max_workers=SIZE, thread_name_prefix="bondmodel-summary")
        barrier = threading.Barrier(SIZE)
        try:
            for future in [pool.submit(_start, barrier, warm) for _ in range(SIZE)]:
                future.result()
        except BaseException:
            barrier.abort()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        _POOL.append(pool)
        return pool


def _forget_in_child() -> None:
    """A forked process has none of the parent's threads: it starts its own if it needs them."""
    global _LOCK
    _POOL.clear()
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)
