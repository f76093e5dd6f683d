"""The package's import graph: no module reaches back to one that imports it, and the value
types (``model``) stand on ``errors`` alone.

The graph is read with ``ast`` from every import statement of every module, those inside
functions included (a function-level import only postpones a cycle); imports under
``if TYPE_CHECKING:`` are for the type checker and are left out.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import dbt_revsync

PACKAGE = Path(dbt_revsync.__file__).parent
NAME = "dbt_revsync"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, but those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in _runtime_imports(ast.Module([child], [])))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _runtime_imports(node)


def _with_parents(name: str) -> set[str]:
    """Importing ``a.b.c`` runs ``a/__init__``, ``a/b/__init__`` and ``a/b/c``."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & set(MODULES)


def imports_of(module: str) -> set[str]:
    """The package's modules ``module`` imports (itself and its own parents left out)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])]
                )
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for target in targets:
            if target == NAME or target.startswith(NAME + "."):
                found |= _with_parents(target)
    return found - _with_parents(module)


GRAPH: dict[str, set[str]] = {module: imports_of(module) for module in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_from_every_module() -> None:
    assert {"dbt_revsync.model", "dbt_revsync.runner", "dbt_revsync.dbt.artifacts", "dbt_revsync.blocks"} <= set(GRAPH)
    assert "dbt_revsync.model" in GRAPH["dbt_revsync.runner"]
    assert "dbt_revsync.dbt.builds" in GRAPH["dbt_revsync.dbt.artifacts"]


def test_the_import_graph_has_no_cycle() -> None:
    assert cycles(GRAPH) == []


def test_a_cycle_would_be_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_value_types_import_nothing_of_the_package_but_errors() -> None:
    assert GRAPH["dbt_revsync.model"] <= {"dbt_revsync", "dbt_revsync.errors"}
    assert GRAPH["dbt_revsync.errors"] <= {"dbt_revsync"}


def test_configuration_parsing_does_not_import_the_destination_registry() -> None:
    for module in ("dbt_revsync.connections", "dbt_revsync.blocks"):
        assert not GRAPH[module] & {"dbt_revsync.destinations", "dbt_revsync.crms"}, module


def dependency_order() -> list[str]:
    """The modules, each after every module it imports."""
    done: list[str] = []
    started: set[str] = set()

    def place(module: str) -> None:
        if module not in started:
            started.add(module)
            for dependency in sorted(GRAPH[module]):
                place(dependency)
            done.append(module)

    for module in sorted(GRAPH):
        place(module)
    return done


@pytest.mark.parametrize("module", ["dbt_revsync.model", "dbt_revsync.errors"])
def test_a_fresh_interpreter_loads_it_alone(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith('dbt_revsync')))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PACKAGE.parent
    ).stdout
    assert set(eval(loaded)) <= {"dbt_revsync", "dbt_revsync.errors", module}


def test_every_module_imports_in_a_fresh_interpreter_in_dependency_order() -> None:
    # testing needs pytest; __main__ runs the command line
    order = [m for m in dependency_order() if not m.startswith(f"{NAME}.testing") and m != f"{NAME}.__main__"]
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    result = subprocess.run(
        [sys.executable, "-c", code, *order], capture_output=True, text=True, cwd=PACKAGE.parent, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_module_says_what_it_exports() -> None:
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        declared = [
            n
            for n in tree.body
            if isinstance(n, (ast.Assign, ast.AnnAssign))
            and "__all__" in ast.unparse(n.targets[0] if isinstance(n, ast.Assign) else n.target)
        ]
        assert declared, f"{module} has no __all__"
        names = ast.literal_eval(declared[0].value) if declared[0].value is not None else []
        if module != f"{NAME}.__main__":  # importing it runs the command line
            assert set(names) <= set(vars(importlib.import_module(module))), module
