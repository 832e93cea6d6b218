"""Shared fixtures: scenario builders and the LibreOffice gate."""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from bondmodel import Scenario, parse_scenario
from bondmodel.workbook.recalc import soffice_path

# CI runs a fixed, reproducible set of hypothesis examples; local runs explore anew.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((ROOT / "templates").glob("*.toml"))


def base_dict() -> dict[str, Any]:
    """A small valid scenario with round numbers, for hand-worked checks."""
    return {
        "meta": {"name": "Reference", "base_date": _d("2026-04-01")},
        "timeline": {"start_date": _d("2026-04-01"), "frequency": "annual", "horizon_years": 5},
        "economics": {"inflation": 0.0},
        "partners": [{"name": "A", "baseline_expenditure": 100_000_000.0}],
        "costs": [],
        "running_costs": [],
        "savings": [],
    }


def _d(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)


def deep_update(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``base`` with nested dict ``changes`` merged in (lists replaced)."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.fixture
def make_scenario() -> Callable[..., Scenario]:
    """Build a validated scenario from :func:`base_dict` plus nested overrides."""

    def build(**changes: Any) -> Scenario:
        return parse_scenario(deep_update(base_dict(), changes))

    return build


@pytest.fixture(scope="session")
def soffice() -> str:
    """The LibreOffice executable; the spreadsheet tests fail rather than skip under CI."""
    exe = soffice_path()
    if exe is None:
        if os.environ.get("BONDMODEL_REQUIRE_SOFFICE") == "1":
            pytest.fail("LibreOffice (soffice) is required but not installed")
        pytest.skip("LibreOffice (soffice) is not installed")
    return exe


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files under tests/golden from the current output",
    )
    parser.addoption(
        "--update-docs",
        action="store_true",
        default=False,
        help="rewrite the outputs quoted in docs/ from the tool's (tests/test_docs.py)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run should refresh the golden files instead of comparing."""
    return bool(request.config.getoption("--update-golden"))


# ---------------------------------------------------------------------------
# No test leaves a process behind
# ---------------------------------------------------------------------------

#: Processes a run may keep until it ends (multiprocessing's tracker of shared resources).
_LONG_LIVED = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")
#: Marks every process this test session starts (children inherit the environment), so that
#: another session's processes on the same machine are never mistaken for ours.
#: scripts/test sets it, to reap strays after the run; a plain pytest uses its own pid.
os.environ.setdefault("BONDMODEL_TEST_SESSION", f"pytest-{os.getpid()}")
#: The pytest-xdist worker this process is ("gw0", "gw1", ...), or None in a serial run.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER is not None and "/" not in os.environ["BONDMODEL_TEST_SESSION"]:
    # Each worker marks what it starts as its own ("SESSION/gw0"), so that one worker never
    # judges (or kills) the other's children; the run's marker stays the prefix, which
    # scripts/test's backstop matches. The workers themselves carry the run's plain marker.
    os.environ["BONDMODEL_TEST_SESSION"] += f"/{_WORKER}"
_SESSION = f"BONDMODEL_TEST_SESSION={os.environ['BONDMODEL_TEST_SESSION']}"


def _ours() -> dict[int, str]:
    """Other processes started by this test session, by pid, with their command lines.

    A process in the middle of ``exec`` shows an empty environment for a moment (the kernel
    sets it up after the parent's ``Popen`` has returned), so a test's teardown can catch
    the child it just started that way: such a process is read again until it shows one.
    """
    found: dict[int, str] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    me, marker = os.getpid(), _SESSION.encode()
    entries = [e for e in proc.iterdir() if e.name.isdigit() and int(e.name) != me]
    for attempt in range(20):
        starting = []
        for entry in entries:
            try:
                environ = (entry / "environ").read_bytes()
                if not environ and _starting(entry):
                    starting.append(entry)
                    continue
                if marker not in environ.split(b"\0"):
                    continue
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            text = cmd.decode(errors="replace")
            if not any(x in text for x in _LONG_LIVED):
                found[int(entry.name)] = text.strip()
        if not starting:
            break
        entries = starting
        time.sleep(0.005 * (attempt + 1))
    return found


def _starting(entry: Path) -> bool:
    """A process with no environment yet: neither a kernel thread nor a zombie (those have
    none for good), so one in the middle of ``exec``."""
    try:
        fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    pf_kthread = 0x00200000
    return fields[0] not in ("Z", "X") and not int(fields[6]) & pf_kthread


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie holds nothing open


@pytest.fixture(autouse=True)
def _no_process_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that leaves a process running (a Dask worker, a LibreOffice, a CLI run).

    A process left behind holds the job's output open, so CI waits for it after the
    tests end (a run that passed in 14 minutes timed out at 90). The process is killed,
    and the test that left it fails with its command line.
    """
    before = set(_ours())
    yield
    strays = {pid: cmd for pid, cmd in _ours().items() if pid not in before}
    deadline = time.monotonic() + 15.0  # time to exit on their own (a cluster closing)
    while strays and time.monotonic() < deadline:
        time.sleep(0.2)
        strays = {pid: cmd for pid, cmd in strays.items() if _alive(pid)}
    for pid in strays:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    if strays:
        pytest.fail(
            f"{request.node.nodeid} left {len(strays)} process(es) running: "
            + "; ".join(f"{pid}: {cmd[:200]}" for pid, cmd in strays.items()),
            pytrace=False,
        )


# ---------------------------------------------------------------------------
# Two workers (pytest-xdist; scripts/test runs one per core)
# ---------------------------------------------------------------------------

#: Test files one worker runs whole, one test after another (any other test may go to
#: either worker). xdist's own ``xdist_group`` marks are not used: with pytest 9.2 its
#: ``--dist loadgroup`` silently stops grouping (pytest-xdist issue 1386).
_GROUPS = {
    # runs signalled, killed or starved of memory and disk, each timed: never two at once
    "tests/test_faults.py": "timed",
    "tests/test_machine_limits.py": "timed",
    # a module fixture that costs seconds (LibreOffice, every template's workbook): once a run
    "tests/test_investor_tables.py": "tests/test_investor_tables.py",
    "tests/test_printing.py": "tests/test_printing.py",
    "tests/test_labels_visible.py": "tests/test_labels_visible.py",
    # ruff and mypy, each once, never two writing .ruff_cache or .mypy_cache at once
    "tests/test_quality.py": "tests/test_quality.py",
    # with --update-docs several tests rewrite docs/user-guide.md
    "tests/test_docs.py": "tests/test_docs.py",
}


class _Plan:
    """The xdist hooks, registered only where pytest-xdist is installed."""

    @pytest.hookimpl(tryfirst=True)  # before xdist's own choice
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """``-n N`` (``--dist load``, the default): each test goes to whichever worker is
        free, except the files of :data:`_GROUPS`, each sent whole to one worker (largest
        group first). An explicit other ``--dist`` is xdist's own."""
        if config.getvalue("dist") != "load":
            return None
        from xdist.scheduler import LoadScopeScheduling

        class Grouped(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                return _GROUPS.get(nodeid.split("::", 1)[0], nodeid)

        return Grouped(config, log)


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_Plan(), "bondmodel-xdist-plan")


class _Turns:
    """A readers-writer lock shared by the xdist workers of one run (``flock`` on two files).

    Every test holds the room shared; a test marked ``alone`` holds it exclusively, so no
    other worker's test runs beside it. A worker waiting to be alone holds the gate, which
    every test passes before it enters the room, so the other worker cannot keep the room
    busy test after test while it waits.
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._gate = os.open(folder / "gate", os.O_RDWR | os.O_CREAT, 0o600)
        self._room = os.open(folder / "room", os.O_RDWR | os.O_CREAT, 0o600)
        self.alone = False
        self.held = False

    def enter(self, alone: bool) -> None:
        if self.held and self.alone == alone:
            return
        self.leave()
        if alone:
            fcntl.flock(self._gate, fcntl.LOCK_EX)  # held until it leaves: no one new enters
            fcntl.flock(self._room, fcntl.LOCK_EX)  # once the test in the room has finished
        else:
            fcntl.flock(self._gate, fcntl.LOCK_SH)
            fcntl.flock(self._room, fcntl.LOCK_SH)
            fcntl.flock(self._gate, fcntl.LOCK_UN)
        self.alone, self.held = alone, True

    def leave(self) -> None:
        if self.held:
            fcntl.flock(self._room, fcntl.LOCK_UN)
            fcntl.flock(self._gate, fcntl.LOCK_UN)
        self.held = False


_turns: _Turns | None = None


def _is_alone(item: pytest.Item | None) -> bool:
    return item is not None and item.get_closest_marker("alone") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist the ``alone`` tests come first, in order (every worker collects the same
    list), so that in the ``timed`` group they run one after another: the other workers
    wait for them once, at the start, rather than once each."""
    if _WORKER is not None:
        items.sort(key=lambda item: not _is_alone(item))  # a stable sort


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Under xdist, run an ``alone`` test (set-up and tear-down included) with the other
    workers idle, keeping the room from one ``alone`` test to the next. A serial run
    needs no lock."""
    global _turns
    if _WORKER is None or int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) < 2:
        return (yield)
    if _turns is None:
        # the folder every worker of this run shares: the parent of each worker's base temp
        factory: pytest.TempPathFactory = item.config._tmp_path_factory  # type: ignore[attr-defined]
        _turns = _Turns(factory.getbasetemp().parent / "bondmodel-turns")
    alone = _is_alone(item)
    _turns.enter(alone)
    try:
        return (yield)
    finally:
        if not (alone and _is_alone(nextitem)):
            _turns.leave()
