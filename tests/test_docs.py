"""The documentation's quoted outputs are the tool's real ones, so they cannot go stale.

Each example quoted in the docs is extracted from the Markdown and compared with what the
documented command prints now: the JSON summaries of docs/user-guide.md (every value
shown, keys elided with "..." skipped), verify's cell count, and the error lines that
name an Inputs cell (which moves whenever a row is added to the Inputs sheet).

``pytest tests/test_docs.py --update-docs`` rewrites the quoted figures from the tool's
output instead (then review the diff): the workbook's layout changes as the model grows.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bondmodel import cli

from .conftest import ROOT

USER_GUIDE = ROOT / "docs" / "user-guide.md"
GUARANTEES = ROOT / "docs" / "guarantees.md"


@pytest.fixture
def update_docs(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-docs"))


def _blocks(text: str, language: str) -> list[tuple[int, int, str]]:
    """(start, end, body) of every fenced block in ``language``."""
    return [
        (m.start(1), m.end(1), m.group(1))
        for m in re.finditer(rf"```{language}\n(.*?)```", text, flags=re.S)
    ]


def _block_after(text: str, marker: str) -> tuple[int, int, str]:
    """The first JSON block after (or, for a caption below it, just before) ``marker``."""
    at = text.index(marker)
    blocks = _blocks(text, "json")
    after = [b for b in blocks if b[0] > at]
    before = [b for b in blocks if b[1] < at]
    return (
        after[0] if after and (not before or after[0][0] - at < at - before[-1][1]) else before[-1]
    )


def _leaves(doc: Any, real: Any, where: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, quoted, real) for every value the docs quote; "..." entries are elisions."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "...":
                continue
            assert isinstance(real, dict) and key in real, f"{where}.{key}: not in the output"
            yield from _leaves(value, real[key], f"{where}.{key}")
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            if value == "...":
                continue
            yield from _leaves(value, real[i], f"{where}[{i}]")
    else:
        yield where, doc, real


def _same(quoted: Any, real: Any) -> bool:
    if (
        isinstance(quoted, float | int)
        and isinstance(real, float | int)
        and not isinstance(quoted, bool)
    ):
        return math.isclose(quoted, real, rel_tol=1e-9, abs_tol=1e-9)
    return bool(quoted == real)


def _run_json(args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    code = cli.main([*args, "--json", "--quiet", "-o", str(tmp_path / "m.xlsx")])
    assert code == 0
    return json.loads(capsys.readouterr().out)


def _check_json_block(path: Path, marker: str, wrap: str | None, real: Any, update: bool) -> None:
    text = path.read_text(encoding="utf-8")
    start, end, body = _block_after(text, marker)
    doc = json.loads("{" + body + "}" if wrap else body)
    if wrap:
        real = {wrap: real}
    stale = [(w, q, r) for w, q, r in _leaves(doc, real) if not _same(q, r)]
    if update and stale:
        for _, quoted, value in stale:
            body = body.replace(json.dumps(quoted), json.dumps(value), 1)
        path.write_text(text[:start] + body + text[end:], encoding="utf-8")
        pytest.skip(f"{len(stale)} figure(s) refreshed in {path.name}")
    assert not stale, (
        "the docs quote outputs the tool no longer gives "
        f"(pytest {Path(__file__).name} --update-docs refreshes them): {stale[:5]}"
    )


def test_the_base_case_json_example_is_the_tool_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], update_docs: bool
) -> None:
    real = _run_json(["run", "--paths", "0"], tmp_path, capsys)
    _check_json_block(
        USER_GUIDE, "(The output of `bondmodel run --json --paths 0`", None, real, update_docs
    )


def test_the_risk_json_example_is_the_tool_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], update_docs: bool
) -> None:
    real = _run_json(["run", "--seed", "20260401"], tmp_path, capsys)
    _check_json_block(
        USER_GUIDE, "from `bondmodel run --json --seed 20260401`", "risk", real["risk"], update_docs
    )


def _replace_or_assert(path: Path, pattern: str, actual: str, update: bool) -> None:
    """The text ``pattern`` (a regex with one group) matches in ``path`` must be ``actual``."""
    text = path.read_text(encoding="utf-8")
    matches = list(re.finditer(pattern, text))
    assert matches, f"{path.name}: no {pattern!r} to check"
    stale = [m for m in matches if m.group(1) != actual]
    if update and stale:
        for m in reversed(stale):
            text = text[: m.start(1)] + actual + text[m.end(1) :]
        path.write_text(text, encoding="utf-8")
        pytest.skip(f"refreshed {len(stale)} quote(s) in {path.name}")
    assert not stale, (
        f"{path.name} quotes {stale[0].group(1)!r}; the tool says {actual!r} "
        f"(pytest {Path(__file__).name} --update-docs refreshes it)"
    )


def test_the_quoted_error_for_a_bad_workbook_cell_is_the_tool_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], update_docs: bool
) -> None:
    """The user guide's example: a coupon rate of 7.5 typed on the input workbook."""
    inputs = tmp_path / "inputs.xlsx"
    assert cli.main(["template", str(inputs)]) == 0
    book = openpyxl.load_workbook(inputs)
    sheet = book["Inputs"]
    row = next(r for r in sheet.iter_rows() if r[0].value == "bond.coupon.rate")
    row[4].value = 7.5
    book.save(inputs)
    capsys.readouterr()
    assert cli.main(["run", str(inputs), "-o", str(tmp_path / "m.xlsx")]) == 2
    line = capsys.readouterr().err.strip().replace(str(tmp_path) + "/", "")
    assert line.startswith("bondmodel: error: inputs.xlsx: Inputs!E")
    _replace_or_assert(
        USER_GUIDE,
        r"\n(bondmodel: error: inputs\.xlsx: Inputs!E\d+ "
        r"\(bond\.coupon\.rate\)[^\n]*)",
        line,
        update_docs,
    )
    cell = re.search(r"Inputs!E\d+", line)
    assert cell is not None
    _replace_or_assert(
        GUARANTEES, r"`(Inputs!E\d+) \(bond\.coupon\.rate\)`", cell.group(0), update_docs
    )


def test_verify_s_quoted_cell_count_is_the_tool_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], update_docs: bool
) -> None:
    model = tmp_path / "model.xlsx"
    assert cli.main(["run", "-o", str(model), "--seed", "7", "--paths", "3000", "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["verify", str(model)]) == 0
    out = capsys.readouterr().out
    found = re.search(r"seed 7\); ([\d,]+) cells, ([\d,]+) other features compared", out)
    assert found is not None, out
    _replace_or_assert(
        USER_GUIDE,
        r"seed 7\); ([\d,]+) cells, [\d,]+ other features compared",
        found.group(1),
        update_docs,
    )
    _replace_or_assert(
        USER_GUIDE,
        r"seed 7\); [\d,]+ cells, ([\d,]+) other features compared",
        found.group(2),
        update_docs,
    )


#: The scenario files the user guide's design examples name: the default template, changed as
#: the guide says (each file's fields, set through the same path grammar as ``--vary``).
DESIGN_FILES: dict[str, dict[str, Any]] = {
    "shared-services.toml": {},
    "eip.toml": {"bond.repayment.type": "eip"},
    "five.toml": {"bond.principal": 5_000_000.0},
    "five-grace3.toml": {"bond.principal": 5_000_000.0, "bond.grace_years": 3.0},
    "five-grace3-eip.toml": {
        "bond.principal": 5_000_000.0,
        "bond.grace_years": 3.0,
        "bond.repayment.type": "eip",
    },
    "grace3.toml": {"bond.grace_years": 3.0},
    "eastbrook-leaves.toml": {"partners[1].exit_year": 5.0},
}
#: The fitted pilot of the user guide ("From pilot data to a structure"): ``bondmodel new``'s
#: default template with its savings realisation fitted to the shipped pilot data (the ``fit``
#: line the guide gives), and that pilot with four years of grace; the data file beside them.
PILOT_DATA = "pilot-savings-realisation.csv"
PILOT_FIT = f'fit = {{ data = "{PILOT_DATA}", column = "realisation", family = "lognormal" }}'
PILOT_FILES: dict[str, dict[str, str]] = {
    "pilot.toml": {},
    "pilot-grace4.toml": {"grace_years = 2 ": "grace_years = 4 "},
}
DESIGN_COMMANDS = ("compare", "sweep", "solve")
#: Commands whose quoted output is their standard error then their standard output (run's
#: seed and "wrote" lines, then its table); run's examples on the default scenario (no file
#: named) are checked, the others read files the guide asks the reader to make.
BOTH_STREAMS = ("run",)


def _console_examples(text: str) -> list[tuple[int, int, str, list[str]]]:
    """(start, end, command, output lines) of each console block that runs a design command."""
    out = []
    for start, end, body in _blocks(text, "console"):
        lines = body.rstrip("\n").split("\n")
        if not lines[0].startswith("$ bondmodel "):
            continue
        words = lines[0].split()
        on_default = words[2] in BOTH_STREAMS and (len(words) == 3 or words[3].startswith("--"))
        if words[2] not in DESIGN_COMMANDS and not on_default:
            continue
        n = 1
        while lines[n - 1].endswith("\\"):
            n += 1
        command = " ".join(line.rstrip("\\").strip() for line in lines[:n])[2:]
        out.append((start, end, command, lines[n:]))
    return out


def test_the_design_tools_quoted_outputs_are_the_tool_output(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    update_docs: bool,
) -> None:
    """Every run, compare, sweep and solve example in the user guide prints what it quotes."""
    import shlex

    from bondmodel import load_scenario
    from bondmodel.design.variation import with_value
    from bondmodel.scenario.export import scenario_toml

    base = load_scenario(None)
    for name, edits in DESIGN_FILES.items():
        scenario = base
        for path, value in edits.items():
            scenario = with_value(scenario, path, value)
        (tmp_path / name).write_text(scenario_toml(scenario), encoding="utf-8")
    template = (ROOT / "templates" / "shared-services.toml").read_text(encoding="utf-8")
    pert = 'distribution = { type = "pert", min = 0.5, mode = 1.0, max = 2.0 }'
    assert template.count(pert) == 1, "the template's savings realisation changed"
    (tmp_path / PILOT_DATA).write_bytes((ROOT / "templates" / PILOT_DATA).read_bytes())
    for name, edits in PILOT_FILES.items():
        pilot = template.replace(pert, PILOT_FIT)
        for old, new in edits.items():
            assert pilot.count(old) == 1, old
            pilot = pilot.replace(old, new)
        (tmp_path / name).write_text(pilot, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    text = USER_GUIDE.read_text(encoding="utf-8")
    examples = _console_examples(text)
    assert len(examples) >= 6, "the user guide's design examples are gone"
    stale = []
    for start, end, command, quoted in reversed(examples):
        words = shlex.split(command)[1:]
        capsys.readouterr()
        assert cli.main(words) in (0, 1), command
        captured = capsys.readouterr()
        printed = captured.out
        if words[0] in BOTH_STREAMS:
            printed = captured.err + printed
        real = [line.rstrip() for line in printed.rstrip("\n").split("\n")]
        if [line.rstrip() for line in quoted] != real:
            stale.append(command)
            body = text[start:end].rstrip("\n").split("\n")
            kept = body[: len(body) - len(quoted)] if quoted else body
            text = text[:start] + "\n".join(kept + real) + "\n" + text[end:]
    if update_docs and stale:
        USER_GUIDE.write_text(text, encoding="utf-8")
        pytest.skip(f"refreshed {len(stale)} design example(s) in {USER_GUIDE.name}")
    assert not stale, (
        f"{USER_GUIDE.name} quotes outputs the tool no longer prints for "
        f"{stale} (pytest {Path(__file__).name} --update-docs refreshes them)"
    )


def test_every_scenario_field_is_in_the_scenario_reference() -> None:
    """Each field of every section of the schema (every alternative of a tagged union, every
    route type) is named in docs/scenario-reference.md, and each council and route field has
    a row of its own section's table."""
    import typing

    from pydantic import BaseModel

    from bondmodel.scenario.council import Council
    from bondmodel.scenario.schema import Scenario

    doc = (ROOT / "docs" / "scenario-reference.md").read_text(encoding="utf-8")

    def models(annotation: object) -> list[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return [annotation]
        return [m for arg in typing.get_args(annotation) for m in models(arg)]

    seen: set[type[BaseModel]] = set()
    missing: list[str] = []

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            if f"`{name}`" not in doc:
                missing.append(f"{model.__name__}.{name}")
            for sub in models(info.annotation):
                walk(sub)

    walk(Scenario)
    assert not missing
    council = doc[doc.index("## `[council]`") : doc.index("## `[[routes]]`")]
    routes = doc[doc.index("## `[[routes]]`") : doc.index("## `[risk]`")]
    assert all(f"\n| `{name}` |" in council for name in Council.model_fields)
    route_models = models(Scenario.model_fields["routes"].annotation)
    assert len(route_models) == 6
    for model in route_models:
        for name in model.model_fields:
            assert f"\n| `{name}` |" in routes, f"{model.__name__}.{name}"
        assert f'| `"{model.model_fields["type"].annotation.__args__[0]}"` |' in routes


def test_the_user_guide_s_fit_output_is_the_tool_output(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    update_docs: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The "Fitting a distribution to pilot data" example: fit's whole output, quoted."""
    command = "bondmodel fit templates/pilot-savings-realisation.csv --seed 20260401"
    monkeypatch.chdir(ROOT)
    args = command.split()[1:]
    assert cli.main([*args, "--png", str(tmp_path / "fit.png")]) == 0
    actual = capsys.readouterr().out
    text = USER_GUIDE.read_text(encoding="utf-8")
    found = re.search(re.escape(command) + r"\n```\n\n```text\n(.*?)```", text, flags=re.S)
    assert found is not None, "the user guide no longer quotes the fit example"
    if update_docs and found.group(1) != actual:
        USER_GUIDE.write_text(
            text[: found.start(1)] + actual + text[found.end(1) :], encoding="utf-8"
        )
        pytest.skip("refreshed the fit example in user-guide.md")
    assert found.group(1) == actual, "the user guide's fit output is stale (--update-docs)"
