"""The package's import graph has no cycle, counting imports inside functions.

An import hidden inside a function still makes two modules depend on each other; the
graph here counts every ``import`` of a bondmodel module wherever it is written (except
under ``if TYPE_CHECKING:``, which never runs), so a cycle cannot hide that way.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "bondmodel"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The bondmodel modules ``path`` imports, at any depth of its code."""
    out: set[str] = set()
    stack: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            continue
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if sub in modules:
                    out.add(sub)  # "from package import submodule"
                elif node.module in modules:
                    out.add(node.module)
        stack.extend(ast.iter_child_nodes(node))
    return out


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    names = set(files)
    # "importlib.import_module" of a name given as data is not followed: only the package's
    # lazy public names use it, and they point down the layers
    return {name: imported_modules(path, names) - {name} for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import b\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("def f():\n    import a\n", encoding="utf-8")
    graph = {name: imported_modules(tmp_path / f"{name}.py", {"a", "b"}) - {name} for name in "ab"}
    assert cycles(graph) == [["a", "b"]]


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50 and graph["bondmodel.engine"]  # the graph was read
    assert cycles(graph) == []


def test_the_types_module_imports_nothing_of_the_package() -> None:
    assert import_graph()["bondmodel.types"] == set()


def test_help_and_validate_import_no_heavy_library() -> None:
    # start-up: `bondmodel --help` and `bondmodel validate` need neither the engine's
    # statistics nor the tables nor the workbook (benchmarks/bench_startup.py times them)
    import subprocess
    import sys

    heavy = ("scipy.stats", "pandas", "dask", "distributed", "xlsxwriter", "openpyxl", "matplotlib")
    probe = (
        "import sys; from bondmodel.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        f"print('IMPORTED', sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    template = str(ROOT / "templates" / "shared-services.toml")
    for args in (["--help"], ["validate", template]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True
        )
        assert done.stdout.splitlines()[-1] == "IMPORTED []", args
        assert "usage" in done.stdout or "valid:" in done.stdout


# ---------------------------------------------------------------------------
# Function size in the engine
# ---------------------------------------------------------------------------

#: The engine's packages and modules, where no function may be longer than MAX_FUNCTION_LINES.
ENGINE = ("programme.py", "bond", "risk", "metrics.py")
MAX_FUNCTION_LINES = 80


def long_functions(limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Every function or method in the engine longer than ``limit`` lines, from its ``def``
    (decorators not counted) to its last line, docstring included."""
    found = []
    for part in ENGINE:
        target = PACKAGE / part
        for path in sorted(target.rglob("*.py")) if target.is_dir() else [target]:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > limit:
                        where = path.relative_to(ROOT)
                        found.append(f"{where}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_engine_function_is_longer_than_80_lines() -> None:
    assert long_functions() == []


def test_the_function_size_check_sees_a_long_function() -> None:
    # the check measures what it says: a smaller limit finds the engine's longer functions
    assert any("programme_flows" in f or "run_waterfall" in f for f in long_functions(30))
