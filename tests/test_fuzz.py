"""Fuzzing the readers: malformed bytes end in bondmodel's own errors, never a crash.

Hypothesis mutates a valid TOML scenario and a valid input workbook byte by
byte (flips, insertions, deletions, truncation) and also feeds raw bytes. The
readers must return a valid scenario or raise :class:`bondmodel.BondModelError`;
any other exception (a KeyError from a parser, a zipfile error, a recursion
error) fails. ``BONDMODEL_FUZZ_EXAMPLES`` raises the count for a longer hunt.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bondmodel import BondModelError, load_scenario
from bondmodel.workbook.input_form import write_input_form
from bondmodel.workbook.reader import read_scenario

from .conftest import ROOT

EXAMPLES = int(os.environ.get("BONDMODEL_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TOML = (ROOT / "templates" / "shared-services.toml").read_bytes()


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` with a few random edits: flipped, inserted or deleted bytes, or cut short."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        else:
            del data[at:]
    return bytes(data)


def _read(path: Path, reader: object) -> None:
    # a clear error of our own is the right outcome for garbage; anything else fails
    with contextlib.suppress(BondModelError):
        reader(path)  # type: ignore[operator]


@FUZZ
@given(data=st.one_of(mutated(TOML), st.binary(max_size=2048)))
def test_the_toml_reader_fails_only_with_its_own_errors(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "fuzzed.toml"
    path.write_bytes(data)
    _read(path, load_scenario)


@functools.cache
def _workbook_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "inputs.xlsx"
        write_input_form(load_scenario(None), path)
        return path.read_bytes()


@pytest.fixture
def workbook_bytes() -> bytes:
    return _workbook_bytes()


@FUZZ
@given(seed=st.data())
def test_the_workbook_reader_fails_only_with_its_own_errors(
    seed: st.DataObject, tmp_path: Path
) -> None:
    data = seed.draw(st.one_of(mutated(_workbook_bytes()), st.binary(max_size=4096)))
    path = tmp_path / "fuzzed.xlsx"
    path.write_bytes(data)
    _read(path, read_scenario)


def test_a_mutated_workbook_usually_fails_clearly(workbook_bytes: bytes, tmp_path: Path) -> None:
    """The fuzz test is not vacuous: flipping a byte in the middle is caught as our error."""
    data = bytearray(workbook_bytes)
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "flipped.xlsx"
    path.write_bytes(bytes(data))
    with pytest.raises(BondModelError):
        read_scenario(path)
