"""Shared fixtures: scenario builders and the LibreOffice gate."""

from __future__ import annotations

import contextlib
import copy
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
_SESSION = f"BONDMODEL_TEST_SESSION={os.environ['BONDMODEL_TEST_SESSION']}"


def _ours() -> dict[int, str]:
    """Other processes started by this test session, by pid, with their command lines."""
    found: dict[int, str] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    me, marker = os.getpid(), _SESSION.encode()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if not any(x in cmd for x in _LONG_LIVED):
            found[int(entry.name)] = cmd.strip()
    return found


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
