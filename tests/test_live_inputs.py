"""Every editable input is live, or the workbook says it must be rerun: proved in LibreOffice.

For each template this edits the workbook as a user would (one input cell, or
a choice with the companion inputs it needs to stay valid, in the file
itself), recalculates it in LibreOffice, and compares every formula with the
workbook ``bondmodel run`` writes for the edited workbook:

- every option of every live choice (discount and appraisal basis, repayment
  profile, cost timing, ramp type, PWLB loan type, ...) and at least
  ``BONDMODEL_LIVE_EDITS`` (25) numeric inputs drawn at random, each given a
  new valid value: every formula must equal the rerun's value (1e-9 relative,
  1e-6 absolute) and nothing may say RERUN NEEDED; options a formula cannot
  follow (a sculpted profile) must instead show RERUN NEEDED;
- every structural input, changed at once in one workbook: each one's row on
  the As run sheet must flag a structural change, and every sheet must show
  RERUN NEEDED.

A silent disagreement (a formula that differs from the rerun while nothing
says so) fails the test. The counts per template are printed (``-s``).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bondmodel import load_scenario, run
from bondmodel.errors import BondModelError
from bondmodel.scenario.schema import Scenario
from bondmodel.workbook.as_run import RERUN_NEEDED, rule_for
from bondmodel.workbook.inputs import InputRow, flatten
from bondmodel.workbook.reader import InputCell, assemble, read_scenario
from bondmodel.workbook.recalc import convert_many
from bondmodel.workbook.writer import BANNERS, write_workbook

from .conftest import TEMPLATES
from .xlsx_tools import edit_inputs, read_cells

EDITS = int(os.environ.get("BONDMODEL_LIVE_EDITS", "25"))
SIMULATION_EDITS = 4
#: The label of the Checks sheet's row that records whether any input changed.
SINCE_THE_RUN = "No input changed since the run"
GROUP = int(os.environ.get("BONDMODEL_LIVE_GROUP", "4"))
SEED = int(os.environ.get("BONDMODEL_LIVE_SEED", "20261129"))
REL, ABS = 1e-9, 1e-6


@dataclass(frozen=True)
class Edit:
    """One user edit: new values for some inputs, and whether the formulas should follow."""

    label: str
    values: dict[str, tuple[Any, ...]]
    expect: str  # "live" or "structural"


def _current(item: InputRow) -> tuple[Any, ...]:
    if isinstance(item.value, tuple):
        return item.value
    return () if item.value is None else (item.value,)


def _edited(rows: list[InputRow], values: dict[str, tuple[Any, ...]]) -> Scenario | None:
    """The scenario the Inputs sheet describes after the edit, or None if it is not valid."""
    cells = [InputCell(r.path, 0, values.get(r.path, _current(r))) for r in rows]
    try:
        return Scenario.model_validate(assemble(cells, Path("edit")))
    except (ValidationError, BondModelError):
        return None


def _sibling(path: str, name: str) -> str:
    return path.rsplit(".", 1)[0] + "." + name


def _companions(path: str, option: Any) -> dict[str, tuple[Any, ...]]:
    """The other inputs a valid change of this choice needs (set or cleared)."""
    field = path.rsplit(".", 1)[-1]
    if field == "ob_band":
        # a band and an explicit uplift are exclusive: choosing a band clears the uplift
        return {_sibling(path, "optimism_bias"): ()}
    if path == "economics.discount_basis":
        return {"economics.discount_rate": (0.05,) if option == "flat" else ()}
    if field == "timing":
        return {
            "at_close": {
                _sibling(path, "start_period"): (),
                _sibling(path, "periods"): (),
                _sibling(path, "profile"): (),
            },
            "spread": {_sibling(path, "periods"): (3,), _sibling(path, "profile"): ()},
            "profile": {_sibling(path, "profile"): (0.25, 0.75), _sibling(path, "periods"): ()},
        }[option]
    if path.endswith("ramp.type"):
        return {
            "linear": {
                _sibling(path, "years"): (3.0,),
                _sibling(path, "fractions"): (),
                _sibling(path, "steepness"): (),
            },
            "s_curve": {
                _sibling(path, "years"): (4.0,),
                _sibling(path, "fractions"): (),
                _sibling(path, "steepness"): (6.0,),
            },
            "explicit": {
                _sibling(path, "fractions"): (0.25, 0.5, 1.0),
                _sibling(path, "years"): (),
                _sibling(path, "steepness"): (),
            },
        }[option]
    return {}


def _options(item: InputRow) -> tuple[Any, ...]:
    if item.choices:
        return item.choices
    if isinstance(item.value, bool):
        return (True, False)
    if item.path.endswith("indexation"):
        return ("inflation", "none", 0.03)
    if item.path == "bond.principal":
        return ("sized", 7_500_000.0)
    return ()


def choice_edits(rows: list[InputRow], scenario: Scenario) -> Iterator[Edit]:
    """Every other option of every live choice, with its companions."""
    for item in rows:
        rule = rule_for(item.path, scenario)
        if rule.kind != "live":
            continue
        for option in _options(item):
            if option == item.value:
                continue
            values = {item.path: (option,), **_companions(item.path, option)}
            # live among its options only from one of them (a sculpted profile's rows do not
            # follow a change to bullet, EIP or annuity)
            live = not rule.live_choices or (
                option in rule.live_choices and str(item.value) in rule.live_choices
            )
            yield Edit(f"{item.path} = {option!r}", values, "live" if live else "structural")


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, 1 if day.day == 1 else min(day.day, 28))


def _perturb(x: Any, item: InputRow, rng: random.Random) -> Any:
    if isinstance(x, date):
        return _add_months(x, rng.choice([-9, -3, 3, 6, 12]))
    if isinstance(x, int) and not isinstance(x, bool):
        return max(int(item.low or 0), x + rng.choice([-2, -1, 1, 2]))
    x = float(x)
    new = x * rng.uniform(0.5, 1.5) if x != 0 else rng.choice([0.01, 0.05, 0.2, 1.0, 50_000.0])
    if item.path.endswith("_years") and rng.random() < 0.75:
        new = float(max(1, round(new)))  # terms in whole years, as a bond's must be
    if item.low is not None:
        new = max(new, item.low)
    if item.high is not None:
        new = min(new, item.high)
    return new


def numeric_edits(
    rows: list[InputRow],
    scenario: Scenario,
    rng: random.Random,
    count: int,
    kind: str = "live",
) -> Iterator[Edit]:
    """``count`` numeric cells (a number, a date, or one value of a list of numbers) of inputs
    of ``kind`` (live, or simulation: the formulas must not depend on those), drawn at random
    without replacement (then again, up to three rounds, when a template has fewer cells than
    ``count``), each given a new valid value drawn at random."""

    def numeric(v: Any) -> bool:
        return isinstance(v, int | float | date) and not isinstance(v, bool)

    pool: list[tuple[InputRow, int | None]] = []
    for r in rows:
        if rule_for(r.path, scenario).kind != kind or r.value is None:
            continue
        if numeric(r.value):
            pool.append((r, None))
        elif isinstance(r.value, tuple) and all(map(numeric, r.value)):
            pool += [(r, j) for j in range(len(r.value))]  # each cell of a list
    everything = list(pool)
    rng.shuffle(pool)
    made, rounds = 0, 1
    while made < count and everything and (pool or rounds < 3):
        if not pool:  # fewer numeric cells than edits asked for: each again, another value
            pool, rounds = list(everything), rounds + 1
            rng.shuffle(pool)
        item, j = pool.pop()
        for _ in range(8):
            if j is not None:
                values = list(item.value)
                values[j] = _perturb(values[j], item, rng)
                new: tuple[Any, ...] = tuple(values)
            else:
                new = (_perturb(item.value, item, rng),)
            if new != _current(item) and _edited(rows, {item.path: new}) is not None:
                cell = item.path if j is None else f"{item.path}[{j}]"
                yield Edit(f"{cell} = {new[j or 0]!r}", {item.path: new}, "live")
                made += 1
                break
        # a number that no new value keeps valid (a share pinned by others) is passed over


def grouped(edits: list[Edit], size: int, rows: list[InputRow]) -> list[Edit]:
    """Live edits applied together, ``size`` to a workbook, on distinct inputs (companions
    included), the group valid as a whole; an edit that fits no group goes alone.

    One LibreOffice recalculation then proves several inputs live at once: if any of them
    were not, its workbook would disagree with the rerun (``BONDMODEL_LIVE_GROUP=1`` puts
    one edit in each workbook, to find which).
    """
    out: list[Edit] = []
    open_groups: list[list[Edit]] = []
    for edit in edits:
        for group in open_groups:
            taken = {p for e in group for p in e.values}
            if len(group) < size and not taken & set(edit.values):
                merged = {k: v for e in (*group, edit) for k, v in e.values.items()}
                if _edited(rows, merged) is not None:
                    group.append(edit)
                    break
        else:
            open_groups.append([edit])
    for group in open_groups:
        out.append(
            Edit(
                " & ".join(e.label for e in group),
                {k: v for e in group for k, v in e.values.items()},
                "live",
            )
        )
    return out


def _structural_value(item: InputRow) -> tuple[Any, ...]:
    """A different value for a structural input (validity does not matter: the formulas
    cannot follow it either way)."""
    v = item.value
    if isinstance(v, tuple):
        return (*v, v[-1]) if v else ("x",)
    if item.choices:
        return (next(c for c in item.choices if c != v),)
    if isinstance(v, bool):
        return (not v,)
    if isinstance(v, int | float):
        return (v + 1,)
    if isinstance(v, date):
        return (_add_months(v, 12),)
    if v is None:
        return (1,)
    if item.path == "meta.currency":
        return ("EUR" if v != "EUR" else "GBP",)
    return (f"{v} X",)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL, abs_tol=ABS)
    if a in (None, "") and b in (None, ""):
        return True
    return bool(a == b)


def _disagreements(recalculated: Path, rerun: Path) -> list[tuple[Any, ...]]:
    """Formula cells of the rerun's workbook whose recalculated value differs.

    Left out: what records the edit itself, the As run sheet's Changed flags and the
    Checks sheet's "no input changed since the run" (TRUE in the rerun, FALSE after it).
    """
    got, want = read_cells(recalculated), read_cells(rerun)
    since = since_the_run(want)
    return [
        (key, got.get(key, (None, None))[1], value)
        for key, (formula, value) in want.items()
        if formula
        and key[0] != "As run"
        and key != since
        and not _close(got.get(key, (None, None))[1], value)
    ]


def since_the_run(cells: dict[tuple[str, str], Any]) -> tuple[str, str]:
    """The Checks sheet's cell testing that no input changed since the run."""
    row = next(
        ref[1:]
        for (sheet, ref), (_, v) in cells.items()
        if sheet == "Checks" and ref[0] == "A" and str(v).startswith(SINCE_THE_RUN)
    )
    return ("Checks", f"B{row}")


def _status(recalculated: Path) -> str:
    cells = read_cells(recalculated, {"Cover"})
    return next(str(v) for (_, ref), (f, v) in cells.items() if f and ref.startswith("C"))


@pytest.mark.spreadsheet
def test_every_input_is_live_or_says_rerun_needed(soffice: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    (tmp_path / "reruns").mkdir()
    live: list[tuple[str, Edit, Path, Scenario]] = []  # template, edit, edited file, scenario
    structural: list[tuple[str, Edit, Path, dict[str, int]]] = []
    refused: list[tuple[str, Edit, Path]] = []  # valid in a cell, refused by the scenario's rules
    counts: dict[str, dict[str, int]] = {}
    for template in TEMPLATES:
        name = template.stem
        scenario = load_scenario(template)
        base = write_workbook(run(scenario, paths=0), tmp_path / f"{name}.xlsx")
        rows = flatten(scenario)
        row_of = {r.path: 5 + i for i, r in enumerate(rows)}  # Inputs rows, 1-based
        numbers = list(numeric_edits(rows, scenario, rng, EDITS))
        # a few simulation inputs too: the formulas must not depend on them
        simulation = list(numeric_edits(rows, scenario, rng, SIMULATION_EDITS, "simulation"))
        options = list(choice_edits(rows, scenario))
        singles = [*options, *numbers, *simulation]
        valid = [e for e in singles if e.expect == "live" and _edited(rows, e.values)]
        edits = [
            *grouped(valid, GROUP, rows),
            *(e for e in singles if e.expect == "structural" or not _edited(rows, e.values)),
        ]
        for k, edit in enumerate(edits):
            path = edit_inputs(
                base,
                tmp_path / "edits" / f"{name}-{k:03d}.xlsx",
                {row_of[p]: v for p, v in edit.values.items()},
            )
            edited = _edited(rows, edit.values)
            if edit.expect == "structural":
                structural.append((name, edit, path, {}))
            elif edited is None:
                refused.append((name, edit, path))
            else:
                live.append((name, edit, path, edited))
        # every structural input at once, each flagged on its own row of the As run sheet
        changed = {
            r.path: _structural_value(r)
            for r in rows
            if rule_for(r.path, scenario).kind == "structural"
        }
        together = Edit("every structural input", changed, "structural")
        path = edit_inputs(
            base,
            tmp_path / "edits" / f"{name}-structural.xlsx",
            {row_of[p]: v for p, v in changed.items()},
        )
        structural.append((name, together, path, {p: row_of[p] for p in changed}))
        counts[name] = {
            "edits tried": len(singles) + len(changed),
            "numeric (live)": len(numbers),
            "numeric (simulation)": len(simulation),
            "choice options (live)": sum(1 for e in valid if e in options),
            "choice options refused by the scenario's rules": sum(
                1 for t, *_ in refused if t == name
            ),
            "choice options structural": sum(1 for e in options if e.expect == "structural"),
            "structural inputs": len(changed),
            "workbooks recalculated": len(edits) + 1,
        }

    # LibreOffice recalculates on both cores while the engine reruns the edited scenarios
    files = [p for _, _, p, _ in live] + [p for _, _, p, _ in structural]
    halves = [files[0::2], files[1::2]]
    with ThreadPoolExecutor(2) as pool:
        pending = pool.map(
            lambda h: convert_many(h[1], tmp_path / f"recalc{h[0]}"), enumerate(halves)
        )
        reruns = {
            path: write_workbook(run(edited, paths=0), tmp_path / "reruns" / path.name)
            for _, _, path, edited in live
        }
        done = list(pending)
    recalculated = {
        src: out
        for half, outs in zip(halves, done, strict=True)
        for src, out in zip(half, outs, strict=True)
    }

    # the edit helper wrote what each edit meant: the real reader reads a sample back
    for _, edit, path, edited in live[:: max(1, len(live) // 12)]:
        assert read_scenario(path).sha256() == edited.sha256(), edit.label
    for _, _, path in refused:
        with pytest.raises(BondModelError):
            read_scenario(path)

    silent = []
    for name, edit, path, _ in live:
        out = recalculated[path]
        status = _status(out)
        bad = _disagreements(out, reruns[path])
        if bad or status.startswith("RERUN NEEDED"):
            silent.append((name, edit.label, status[:40], len(bad), bad[:3]))
    assert not silent, f"{len(silent)} live edits disagree with the rerun: {silent[:8]}"

    for name, edit, path, flagged in structural:
        out = recalculated[path]
        assert _status(out) == RERUN_NEEDED, (name, edit.label)
        cells = read_cells(out, set(BANNERS) | {"As run"})
        for sheet, (col, _) in BANNERS.items():
            ref = f"{chr(65 + col)}1"
            if (sheet, ref) in cells:
                assert str(cells[(sheet, ref)][1]).startswith("RERUN NEEDED"), (sheet, edit.label)
        for input_path, row in flagged.items():
            assert cells[("As run", f"C{row}")][1] is True, (name, input_path)
    for name, c in counts.items():
        print(f"{name}: {c}")
        assert c["numeric (live)"] >= EDITS, (name, c)
