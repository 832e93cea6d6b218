"""Edits a treasury analyst makes, recalculated in LibreOffice.

- A cost that grows makes the bond grow: the principal is sized in formulas, so
  the recalculated principal, minimum DSCR and sources and uses equal the
  engine's rerun of the edited workbook (and sources = uses is a check that
  could fail).
- Monte Carlo results are values: after any edit the Summary, Risk,
  Sensitivity and Paths sheets say STALE, and the Cover says so; after a
  structural edit every sheet says RERUN NEEDED; an unedited workbook says
  neither.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bondmodel import load_scenario, run
from bondmodel.labels import BOND_METRICS, SOURCES_USES
from bondmodel.workbook.as_run import RERUN_NEEDED, STALE
from bondmodel.workbook.inputs import flatten
from bondmodel.workbook.reader import read_scenario
from bondmodel.workbook.recalc import convert_many
from bondmodel.workbook.writer import BANNERS, write_workbook

from .test_live_inputs import since_the_run
from .xlsx_tools import edit_inputs, read_cells


def _row(scenario: object, path: str) -> int:
    return 5 + [r.path for r in flatten(scenario)].index(path)  # type: ignore[arg-type]


def _named(path: Path, labels: dict[str, str]) -> dict[str, object]:
    """Values of the Bond sheet's constants by label, and Metrics by label."""
    cells = read_cells(path, {"Bond", "Metrics"})
    text = {(s, ref): v for (s, ref), (_, v) in cells.items()}
    out = {}
    for key, (sheet, label) in {k: tuple(v.split("|")) for k, v in labels.items()}.items():
        row = next(
            ref[1:] for (s, ref), v in text.items() if s == sheet and ref[0] == "A" and v == label
        )
        col = "C" if sheet == "Bond" else "B"
        out[key] = text[(sheet, f"{col}{row}")]
    return out


LABELS = {
    "principal": "Bond|Principal issued",
    "proceeds": f"Bond|{SOURCES_USES['proceeds'].label}",
    "fee": f"Bond|{SOURCES_USES['arrangement_fee'].label}",
    "reserve": f"Bond|{SOURCES_USES['reserve_initial'].label}",
    "financed": f"Bond|{SOURCES_USES['financed_costs'].label}",
    "min_dscr": f"Metrics|{BOND_METRICS['min_dscr'].label}",
}


@pytest.mark.spreadsheet
def test_a_larger_cost_grows_the_bond_in_the_formulas(soffice: str, tmp_path: Path) -> None:
    scenario = load_scenario(None)
    base = write_workbook(run(scenario, paths=0), tmp_path / "base.xlsx")
    assert scenario.costs[0].amount == 2_400_000
    edited = edit_inputs(
        base, tmp_path / "edited.xlsx", {_row(scenario, "costs[0].amount"): (3_600_000,)}
    )
    rerun = write_workbook(run(read_scenario(edited), paths=0), tmp_path / "rerun.xlsx")
    (out,) = convert_many([edited], tmp_path / "recalc")
    before, after, engine = (_named(p, LABELS) for p in (base, out, rerun))
    assert after["principal"] > before["principal"] * 1.1  # type: ignore[operator]
    for key in LABELS:
        assert after[key] == pytest.approx(engine[key], rel=1e-9), key
    # sources = uses, live: proceeds = financed costs + fee + initial DSRA (sized, no surplus)
    assert after["proceeds"] == pytest.approx(
        after["financed"] + after["fee"] + after["reserve"],
        rel=1e-12,  # type: ignore[operator]
    )
    checks = read_cells(out, {"Checks"})
    since = since_the_run(checks)  # records the edit itself: FALSE, and not an integrity check
    assert checks[since][1] is False
    assert all(
        v is True
        for (s, ref), (f, v) in checks.items()
        if f and ref.startswith("B") and (s, ref) != since
    )


def _banners(path: Path) -> dict[str, str]:
    cells = read_cells(path, set(BANNERS))
    return {
        sheet: str(cells.get((sheet, f"{chr(65 + col)}1"), (False, ""))[1] or "")
        for sheet, (col, _) in BANNERS.items()
        if (sheet, f"{chr(65 + col)}1") in cells
    }


def _cover(path: Path) -> str:
    cells = read_cells(path, {"Cover"})
    return next(str(v) for (_, ref), (f, v) in cells.items() if f and ref.startswith("C"))


@pytest.mark.spreadsheet
def test_simulation_results_say_stale_and_structure_says_rerun(
    soffice: str, tmp_path: Path
) -> None:
    scenario = load_scenario(None)
    base = write_workbook(run(scenario, paths=300, seed=5), tmp_path / "base.xlsx")
    risk = next(
        r.path
        for r in flatten(scenario)
        if r.path.startswith("risk.inputs") and isinstance(r.value, float)
    )
    files = {
        "unedited": base,
        "live": edit_inputs(
            base, tmp_path / "live.xlsx", {_row(scenario, "economics.inflation"): (0.03,)}
        ),
        "risk": edit_inputs(base, tmp_path / "risk.xlsx", {_row(scenario, risk): (0.123,)}),
        "structural": edit_inputs(
            base, tmp_path / "structural.xlsx", {_row(scenario, "timeline.horizon_years"): (26,)}
        ),
    }
    out = dict(zip(files, convert_many(list(files.values()), tmp_path / "recalc"), strict=True))
    simulation_sheets = {s for s, (_, sim) in BANNERS.items() if sim}
    assert set(_banners(out["unedited"]).values()) == {""}
    assert _cover(out["unedited"]).startswith("All ")
    for edit in ("live", "risk"):
        banners = _banners(out[edit])
        # the simulation's sheets this workbook has (no Stress sheet without an analysis)
        assert {banners[s] for s in simulation_sheets if s in banners} == {STALE}, edit
        assert {"Summary", "Risk", "Sensitivity", "Paths"} <= set(banners), edit
        assert {v for s, v in banners.items() if s not in simulation_sheets} == {""}, edit
        assert "STALE" in _cover(out[edit])
    banners = _banners(out["structural"])
    assert set(banners.values()) == {RERUN_NEEDED}
    assert _cover(out["structural"]) == RERUN_NEEDED


#: (template, {input path: new value}) edits of the bond's term: longer and shorter tenors, a
#: legal maturity added, moved and cleared, with the grace period moved too.
TERM_EDITS: list[tuple[str, dict[str, object]]] = [
    ("shared-services", {"bond.tenor_years": 14.0}),
    ("shared-services", {"bond.tenor_years": 6.0, "bond.legal_maturity_years": 9.0}),
    ("index-linked", {"bond.tenor_years": 12.5, "bond.grace_years": 2.5}),
    ("sib-limited-recourse", {"bond.tenor_years": 9.0, "bond.legal_maturity_years": 12.0}),
    ("sib-limited-recourse", {"bond.legal_maturity_years": None}),
]
#: Terms the engine refuses, so no formula can stand behind them: RERUN NEEDED must show.
REFUSED_TERMS: list[tuple[str, dict[str, object]]] = [
    ("shared-services", {"bond.tenor_years": 10.3}),  # not a whole number of annual payments
    ("shared-services", {"bond.tenor_years": 30.0}),  # beyond the 25-year horizon
    ("sib-limited-recourse", {"bond.tenor_years": 11.0}),  # after the legal maturity
]


@pytest.mark.spreadsheet
def test_the_bond_term_is_live(soffice: str, tmp_path: Path) -> None:
    """Tenor, legal maturity and grace typed on Inputs: every formula cell recalculates to the
    engine's rerun (the Bond sheet's columns run to the horizon; a life flag ends the bond),
    and a term the engine would refuse shows RERUN NEEDED instead of a number."""
    from .conftest import ROOT
    from .test_live_inputs import _disagreements, _status

    edited: list[tuple[str, Path, Path | None]] = []
    bases: dict[str, Path] = {}
    for i, (name, change) in enumerate(TERM_EDITS + REFUSED_TERMS):
        scenario = load_scenario(ROOT / "templates" / f"{name}.toml")
        if name not in bases:
            bases[name] = write_workbook(run(scenario, paths=0), tmp_path / f"{name}.xlsx")
        rows = {_row(scenario, path): (value,) for path, value in change.items()}
        path = edit_inputs(bases[name], tmp_path / f"edit{i}.xlsx", rows)
        rerun = None
        if i < len(TERM_EDITS):
            rerun = write_workbook(run(read_scenario(path), paths=0), tmp_path / f"rerun{i}.xlsx")
        edited.append((f"{name} {change}", path, rerun))
    recalculated = convert_many([p for _, p, _ in edited], tmp_path / "recalc")
    for (what, _, rerun), out in zip(edited, recalculated, strict=True):
        if rerun is None:
            assert RERUN_NEEDED in _status(out), what
        else:
            assert _disagreements(out, rerun) == [], what
            assert RERUN_NEEDED not in _status(out), what
