"""Fuzzing the readers: malformed bytes end in bondmodel's own errors, never a crash.

Hypothesis mutates a valid TOML scenario and a valid input workbook byte by
byte (flips, insertions, deletions, truncation) and also feeds raw bytes. It
also builds documents structurally: a template with values of every TOML type
at every place, keys removed and added, lists grown, values nested deeper and
numbers at the edges of their ranges; and input workbooks whose cells hold
every cell type and reference. The readers must return a valid scenario or
raise :class:`bondmodel.BondModelError`; any other exception (a KeyError from a
parser, a zipfile error, a recursion error) fails. A structured scenario that
validates must also run its base case without a numpy warning and read back
unchanged from its input workbook. ``BONDMODEL_FUZZ_EXAMPLES`` raises the count
for a longer hunt.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import os
import re
import tempfile
import tomllib
import warnings
import zipfile
from datetime import date
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import pytest
import tomli_w
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from bondmodel import BondModelError, load_scenario, run
from bondmodel.scenario.fieldtypes import bad_character
from bondmodel.workbook.input_form import write_input_form
from bondmodel.workbook.reader import read_scenario

from .conftest import ROOT, TEMPLATES

EXAMPLES = int(os.environ.get("BONDMODEL_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
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


# ---------------------------------------------------------------------------
# Structural fuzzing: documents built from the templates, not byte edits
# ---------------------------------------------------------------------------

#: Examples of the structural fuzz tests: 200 in CI; BONDMODEL_FUZZ_EXAMPLES sets more.
STRUCTURAL_EXAMPLES = int(os.environ.get("BONDMODEL_FUZZ_EXAMPLES", "200"))
STRUCTURAL = settings(
    max_examples=STRUCTURAL_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
TEMPLATE_DATA = [tomllib.loads(path.read_text(encoding="utf-8")) for path in TEMPLATES]

#: Every TOML scalar type, extremes included; text from all of Unicode.
SCALARS = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, 1e13, 1e14, 1e308, -1e308, 5e-324, 1e6, 1e-300]),
    st.text(max_size=12),
    st.sampled_from(["", " ", "A\u202eB", "\ufeff", "\uffff", "a\r\nb", "sized", "annual"]),
    st.booleans(),
    st.dates(),
    st.sampled_from([date(1, 1, 1), date(9999, 12, 31), date(1900, 2, 28)]),
    st.datetimes(),
    st.times(),
)
#: Any TOML value: scalars, arrays and tables, nested.
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _locations(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a document: each key of each table and each item of each array."""
    found: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        found.append((*prefix, key))
        if isinstance(value, dict | list):
            found += _locations(value, (*prefix, key))
    return found


def _container(doc: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc[:-1]:
        doc = doc[part]
    return doc


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A template with a few structural edits: a value of any type at any place, a key
    removed or added, a list item dropped or repeated, a value nested deeper, or a
    number moved to the edge of its field's range."""
    doc = copy.deepcopy(draw(st.sampled_from(TEMPLATE_DATA)))
    for _ in range(draw(st.integers(1, 4))):
        locations = _locations(doc)
        if not locations:
            break
        loc = draw(st.sampled_from(locations))
        parent, key = _container(doc, loc), loc[-1]
        kind = draw(
            st.sampled_from(
                ["replace", "replace", "edge", "edge", "delete", "add", "repeat", "deepen"]
            )
        )
        if kind == "replace":
            parent[key] = draw(VALUES)
        elif kind == "edge" and isinstance(parent[key], int | float):
            parent[key] = draw(st.sampled_from(EDGES))
        elif kind == "delete":
            del parent[key]
        elif kind == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(VALUES)
        elif kind == "repeat" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif kind == "deepen":
            value = parent[key]
            for _ in range(draw(st.integers(1, 40))):
                value = [value]
            parent[key] = value
    return doc


#: Numbers at and just past every bound a field type has, and the float extremes.
EDGES = sorted(
    {
        bound * scale
        for bound in (1.0, 0.5, 0.2, 0.1, 5.0, 36.0, 50.0, 100.0, 150.0, 300.0, 1e6, 1e8, 1e13)
        for scale in (-1.0, 1.0, 1.0 + 1e-12, -(1.0 + 1e-12))
    }
    | {0.0, 1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan},
    key=repr,
)


def _dump(doc: dict[str, Any]) -> str | None:
    try:
        return tomli_w.dumps(doc)
    except (TypeError, ValueError):
        return None  # a value TOML cannot hold (tomli_w refuses it): not a document


@STRUCTURAL
@given(doc=documents())
def test_structured_documents_give_a_scenario_or_our_error(
    doc: dict[str, Any], tmp_path: Path
) -> None:
    """Whatever the structure, the loader returns a scenario or a BondModelError; and a
    scenario that validates runs its base case without a numpy warning and reads back
    unchanged from its input workbook."""
    text = _dump(doc)
    assume(text is not None)
    path = tmp_path / "structured.toml"
    path.write_text(text or "", encoding="utf-8")
    try:
        scenario = load_scenario(path)
    except BondModelError as exc:
        event("refused by the loader")
        # the message shows what was written, escaped: never a raw control or bidi character
        for line in str(exc).splitlines():
            assert bad_character(line) is None, line
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow or a division by zero is a finding
        try:
            run(scenario, paths=0)
        except BondModelError:
            event("valid, refused by the run")
            return
    event("valid and run")
    workbook = tmp_path / "structured.xlsx"
    write_input_form(scenario, workbook)
    assert read_scenario(workbook).sha256() == scenario.sha256()


#: Every kind of cell a sheet's XML can hold, including the hostile ones.
CELLS = st.one_of(
    st.builds(lambda v: f"<v>{v!r}</v>", st.floats(allow_nan=True, allow_infinity=True)),
    st.builds(lambda v: f"<v>{v}</v>", st.integers(-(2**70), 2**70)),
    st.builds(lambda v: f'<v>{v}</v>" t="s', st.integers(-5, 500)),
    st.builds(lambda v: f'<v>{v}</v>" t="b', st.sampled_from(["0", "1", "2", "x"])),
    st.builds(
        lambda v: "<is><t>" + xml_escape(v) + '</t></is>" t="inlineStr', st.text(max_size=12)
    ),
    st.sampled_from(
        [
            '<v>#N/A</v>" t="e',
            "<f>1+1</f><v>2</v>",
            '<v>2026-04-01</v>" t="d',
            '<v>garbage</v>" t="d',
            "<v>1e999</v>",
            '<v>1</v>" t="str',
            "",
        ]
    ),
)


@STRUCTURAL
@given(data=st.data())
def test_structured_workbooks_give_a_scenario_or_our_error(
    data: st.DataObject, tmp_path: Path
) -> None:
    """Input cells replaced by cells of every type and reference: a scenario or our error."""
    parts = _input_form_parts()
    sheet = parts[INPUTS_PART].decode("utf-8")
    cells = re.findall(r'<c r="([A-Z]+[0-9]+)"[^>]*?(?:/>|>.*?</c>)', sheet)
    for _ in range(data.draw(st.integers(1, 4))):
        ref = data.draw(st.sampled_from(cells))
        target = data.draw(
            st.one_of(
                st.just(ref), st.sampled_from(["XFD1048576", "E0", "A", "E1048577", "XFE5", "e5"])
            )
        )
        body = data.draw(CELLS)
        content, _, kind = body.partition('" t="')
        attr = f' t="{kind}"' if kind else ""
        sheet = re.sub(
            rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)',
            lambda _m, t=target, a=attr, c=content: f'<c r="{t}"{a}>{c}</c>',
            sheet,
            count=1,
        )
    path = tmp_path / "structured.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, blob in {**parts, INPUTS_PART: sheet.encode("utf-8")}.items():
            out.writestr(name, blob)
    _read(path, read_scenario)


INPUTS_PART = "xl/worksheets/sheet2.xml"


@functools.cache
def _input_form_parts() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "inputs.xlsx"
        write_input_form(load_scenario(None), path)
        with zipfile.ZipFile(path) as archive:
            return {name: archive.read(name) for name in archive.namelist()}


def test_a_misleading_key_in_a_too_deep_path_is_shown_escaped() -> None:
    """Found by the structural fuzzer: the depth check named a key holding ESC as written,
    so the message carried a raw control character to the terminal."""
    from bondmodel import parse_scenario
    from bondmodel.scenario.fieldtypes import bad_character

    deep: object = [1]
    for _ in range(10):
        deep = [deep]
    with pytest.raises(BondModelError) as caught:
        parse_scenario({"risk": {"inputs": [{"\x1b": deep}]}})
    message = str(caught.value)
    assert "nests tables or arrays more than" in message
    assert "'\\x1b'" in message and bad_character(message) is None
