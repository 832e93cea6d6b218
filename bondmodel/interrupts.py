"""Stopping cleanly on a signal: Ctrl-C (SIGINT), SIGTERM and SIGHUP alike.

Python turns SIGINT into :class:`KeyboardInterrupt`, and every clean-up in the package
(the atomic writer removing its temporary file, the process pool stopping its workers,
the command printing the seed) runs on it. :func:`install` makes SIGTERM (``kill``, a
job scheduler, a container stopping) and SIGHUP (the terminal closing) raise the same
exception, as :class:`Interrupted` carrying the signal, so all three stop a run the
same way and the command exits with ``128 + signal number`` (130, 143, 129), as a shell
reports a process stopped by that signal.

This module imports only the standard library, so the command can install the
handlers before it imports anything slow (numpy, pandas, pydantic).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, Final

#: The signals that stop a run cleanly.
HANDLED: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class Interrupted(KeyboardInterrupt):
    """A stop asked for by a signal; ``exit_code`` is 128 + its number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _stop(signum: int, frame: FrameType | None) -> None:
    """The handler: the first signal raises :class:`Interrupted` where the program is.

    A second signal while the first one's clean-up runs (removing a temporary file,
    stopping workers) forces the exit at once, as a second Ctrl-C does in most tools.
    """
    if _STATE["stopping"]:
        os._exit(128 + signum)
    _STATE["stopping"] = True
    raise Interrupted(signum)


_STATE: dict[str, bool] = {"stopping": False}


def install() -> dict[int, Handler]:
    """Handle SIGINT, SIGTERM and SIGHUP as :class:`Interrupted`; returns the old handlers.

    Does nothing outside the main thread (only it may set handlers) and leaves an
    ignored signal ignored, as Python does for SIGINT: a command started with ``nohup``
    keeps ignoring SIGHUP, one started in the background keeps ignoring Ctrl-C.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    _STATE["stopping"] = False
    previous: dict[int, Handler] = {}
    for sig in HANDLED:
        old = signal.getsignal(sig)
        if old == signal.SIG_IGN:
            continue
        previous[sig] = old
        signal.signal(sig, _stop)
    return previous


def restore(previous: dict[int, Handler]) -> None:
    """Put back the handlers :func:`install` replaced."""
    for sig, old in previous.items():
        signal.signal(sig, old if old is not None else signal.SIG_DFL)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold the stop signals back for a few instructions that must not be split (creating a
    file and remembering its name); one that arrives meanwhile is delivered at the end."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


#: Seconds a stopped command's exit may take before :func:`exit_within` forces it.
STOP_GRACE: Final = 5.0


def exit_within(seconds: float, code: int) -> None:
    """Make sure the process ends within ``seconds``, with ``code``, whatever still runs.

    For a stopped command whose clean-up has already run: Python's exit still waits for
    the threads a library left (a process pool's manager thread, a Dask client's), and one
    of them waiting on a dead process must not keep the command alive. A daemon timer
    flushes the standard streams and ends the process if the exit has not happened by then.
    """

    def force() -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)

    timer = threading.Timer(seconds, force)
    timer.daemon = True
    timer.start()


def worker_defaults() -> None:
    """In a worker process: ignore SIGINT and stop at once on SIGTERM or SIGHUP.

    The parent handles a stop and terminates its workers (SIGTERM), whose chunks write
    nothing; a worker forked from a parent with :func:`install`'s handlers would otherwise
    catch that SIGTERM as an exception and keep running.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
