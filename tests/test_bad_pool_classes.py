"""The generated portfolio corpus: each hostile portfolio fails once, clearly, writing nothing.

tests/bad_pool_classes.py generates the cases by class (numeric extremes by
field, wrong types, text, sizes, rules across fields, the checks made once the
members are read). Each is written to a real file and checked as the
hand-written portfolio cases are (tests/test_bad_inputs.py, "Portfolio files"):
``PoolModel(load_portfolio(path))`` raises a ScenarioError whose every line starts
with the file's path and one of them with the field's; ``bondmodel pool CASE
--paths 10 --seed 1 -o out.xlsx``, called in-process, exits 2 with one line per
problem, each naming the file, no traceback, and an existing out.xlsx
byte-identical, nothing else written.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from bondmodel import ScenarioError, cli
from bondmodel.pool import PoolModel, load_portfolio
from bondmodel.pool.loader import parse_portfolio
from bondmodel.pool.schema import MAX_MEMBERS, Factors, PoolBond, PortfolioFile, Tranche
from bondmodel.scenario.fieldtypes import bad_character

from .bad_input_classes import Case
from .bad_pool_classes import PoolCase, all_cases, base_data, schema_leaves
from .test_bad_inputs import OLD_WORKBOOK, _assert_explains

CASES = all_cases()

#: Slowest a refusal may take through the API, in seconds (the 5,001-member file, the
#: largest, is refused in about 0.3 s).
MAX_SECONDS = 5.0


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of generated portfolios, each written when first asked for."""
    return tmp_path_factory.mktemp("generated_bad_portfolios")


def _file(corpus: Path, case: Case) -> Path:
    path = corpus / case.file
    if not path.exists():
        case.write(path)
    return path


def _params() -> list[Any]:
    return [pytest.param(case, id=case.file) for case in CASES]


def _as_manifest(case: Case) -> dict[str, Any]:
    return {"file": case.file, "field": case.field, "words": case.words}


def _assert_lines(text: str, path: Path, case: Case) -> None:
    """One line per problem, each naming the file; one names the case's field right after
    it; none holds a character the file could use to hide or forge a line."""
    lines = text.splitlines()
    assert len(lines) == (case.lines if isinstance(case, PoolCase) else 1), text
    assert all(line.startswith(f"{path}: ") for line in lines), text
    assert any(line.startswith(f"{path}: {case.field}:") for line in lines), (
        f"no line starts with the field {case.field!r}:\n{text}"
    )
    for line in lines:
        assert bad_character(line) is None, line


def test_the_generated_corpus_covers_every_class() -> None:
    names = [case.file for case in CASES]
    assert len(names) == len(set(names)), "two generated cases share a file name"
    for prefix, least in (
        ("gen_pool_num_", 80),
        ("gen_pool_type_", 100),
        ("gen_pool_text_", 100),
        ("gen_pool_size_", 3),
        ("gen_pool_rule_", 90),
        ("gen_pool_member_", 6),
        ("gen_pool_loaded_", 10),
    ):
        assert sum(n.startswith(prefix) for n in names) >= least, prefix


def test_the_base_portfolio_is_valid() -> None:
    """Each case breaks one thing in a valid portfolio, so it fails for that one thing."""
    model = PoolModel(parse_portfolio(base_data(), source="base"))
    assert model.n_members == 4 and len(model.portfolio.spec.tranches) == 3


def test_the_walk_finds_every_number_of_the_schema_and_each_is_bounded_and_finite() -> None:
    """A number field added to the portfolio schema joins the numeric cases by itself, and
    must come with its bounds: the walk finds it, and this fails until it is bounded."""
    numbers = [leaf for leaf in schema_leaves() if leaf.kind in ("number", "integer")]
    paths = {leaf.path for leaf in numbers}
    for expected in (
        "bond.tenor_years",
        "members[1].loan",
        "tranches[0].share",
        "factors.delivery",
        "factors.correlation",
        "reserve.share",
        "guarantee.cap",
    ):
        assert expected in paths, sorted(paths)
    for leaf in numbers:
        kinds = {kind for kind, _ in leaf.bounds}
        assert kinds & {"ge", "gt"} and kinds & {"le", "lt"}, f"{leaf.path} is not bounded"
        assert leaf.kind == "integer" or leaf.finite, f"{leaf.path} allows inf and nan"
    # every field of every table is walked, the top level's and each table's below it
    leaves = {leaf.path for leaf in schema_leaves()}
    assert {p for p in leaves if "." not in p and "[" not in p} == set(PortfolioFile.model_fields)
    for table, model in (("bond", PoolBond), ("tranches[0]", Tranche), ("factors", Factors)):
        assert {p.removeprefix(f"{table}.") for p in leaves if p.startswith(f"{table}.")} >= set(
            model.model_fields
        ), table


def test_a_pool_of_max_members_passes_the_schema() -> None:
    """The size case's bound is the schema's own: MAX_MEMBERS members are allowed (a
    FrozenList's 2,000-item limit once cut them short, with pydantic's wording)."""
    data = base_data()
    data["members"] = [{"name": f"M{i}", "inline": {}} for i in range(MAX_MEMBERS)]
    data["guarantee"] = {"type": "none"}
    assert len(PortfolioFile.model_validate(data).members) == MAX_MEMBERS


def test_too_many_members_are_refused_before_any_member_is_read(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The size is checked by the schema, before the loader reads a member's scenario."""
    import bondmodel.pool.loader as loader

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a member's scenario was read before the size was checked")

    monkeypatch.setattr(loader, "load_scenario", refuse)
    monkeypatch.setattr(loader, "parse_scenario", refuse)
    case = next(c for c in CASES if c.file == "gen_pool_size_members_over_max.toml")
    with pytest.raises(ScenarioError) as info:
        load_portfolio(_file(corpus, case))
    assert "is not a file" not in str(info.value)
    _assert_explains(str(info.value), _as_manifest(case))


@pytest.mark.parametrize("case", _params())
def test_the_api_refuses_each_case(case: Case, corpus: Path) -> None:
    path = _file(corpus, case)
    start = time.perf_counter()
    with pytest.raises(ScenarioError) as info:
        PoolModel(load_portfolio(path))
    elapsed = time.perf_counter() - start
    message = str(info.value)
    _assert_explains(message, _as_manifest(case))
    _assert_lines(message, path, case)
    assert info.value.__cause__ is None
    assert elapsed < MAX_SECONDS, f"took {elapsed:.1f} s"


@pytest.mark.parametrize("case", _params())
def test_cli_pool_exits_2_and_leaves_an_existing_workbook_byte_identical(
    case: Case, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(corpus, case)
    out = tmp_path / "out.xlsx"
    out.write_bytes(OLD_WORKBOOK)
    before = out.stat()
    code = cli.main(["pool", str(path), "--paths", "10", "--seed", "1", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("bondmodel: error: ")
    assert "Traceback" not in captured.err
    _assert_explains(captured.err, _as_manifest(case))
    _assert_lines(captured.err.removeprefix("bondmodel: error: "), path, case)
    assert captured.out == ""
    assert out.read_bytes() == OLD_WORKBOOK
    assert out.stat().st_ino == before.st_ino and out.stat().st_mtime_ns == before.st_mtime_ns
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]
