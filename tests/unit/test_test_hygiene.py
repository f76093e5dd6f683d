"""The tests hold to two rules, read from their source (ast), so a new test cannot break them
unnoticed:

- no module under tests/ imports a test module (``test_*.py``): what tests share lives in
  conftest.py, tests/factories.py or a helper module next to them;
- no module under tests/ reaches into private names (``x._name``, ``from m import _name``,
  ``getattr(x, "_name")``): tests go through the package's public names. A private attribute of
  an object the package does not own is allowed only through ``ALLOWED`` below, with its reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

# (file relative to tests/, attribute): why a test may touch it
ALLOWED: dict[tuple[str, str], str] = {
    ("contract/test_freshdesk_client.py", "_api_prefix"): (
        "python-freshdesk's API takes only https://<domain>.freshdesk.com; its base URL is pointed at the sandbox"
    ),
    ("unit/test_bigquery_path.py", "_query_and_results"): (
        "dbt-bigquery's connection manager sends every job through it: a fake stands in, so the adapter's own"
        " execute path runs with no Google account"
    ),
}


def _modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def _relative(path: Path) -> str:
    return path.relative_to(TESTS).as_posix()


def _is_test_module(dotted: str) -> bool:
    return dotted.rsplit(".", 1)[-1].startswith("test_")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _package_of(path: Path) -> list[str]:
    return ["tests", *path.parent.relative_to(TESTS).parts]


def imported_test_modules(path: Path, tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every test module ``path`` imports: ``import tests.a.test_b``, ``from tests.a.test_b
    import x``, ``from tests.a import test_b`` and their relative forms."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tests.") and any(_is_test_module(p) for p in alias.name.split(".")):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _package_of(path)[: len(_package_of(path)) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            if not module.startswith("tests"):
                continue
            if any(_is_test_module(p) for p in module.split(".")):
                yield node.lineno, module
            else:
                yield from ((node.lineno, f"{module}.{a.name}") for a in node.names if _is_test_module(a.name))


def private_uses(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every private name reached: ``x._name`` (``self``/``cls`` excepted: a helper class's own
    attributes), ``from m import _name`` and ``getattr``/``setattr``/``hasattr`` with ``"_name"``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                yield node.lineno, node.attr
        elif isinstance(node, ast.ImportFrom) and not node.level and not (node.module or "").startswith("tests"):
            yield from ((node.lineno, a.name) for a in node.names if _private(a.name))
        elif isinstance(node, ast.Call) and _attribute_by_name(node):
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and _private(name.value):
                yield node.lineno, name.value


def _attribute_by_name(call: ast.Call) -> bool:
    """``getattr``/``setattr``/``hasattr`` with an attribute name."""
    named = isinstance(call.func, ast.Name) and call.func.id in ("getattr", "setattr", "hasattr")
    return named and len(call.args) >= 2


@pytest.fixture(scope="module")
def parsed() -> list[tuple[Path, ast.AST]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"), str(path))) for path in _modules()]


def test_no_module_under_tests_imports_a_test_module(parsed: list[tuple[Path, ast.AST]]) -> None:
    found = [
        f"tests/{_relative(path)}:{line} imports {name}"
        for path, tree in parsed
        for line, name in imported_test_modules(path, tree)
    ]
    shared = "conftest.py, tests/factories.py or a helper module"
    assert found == [], f"move what they share to {shared}:\n" + "\n".join(found)


def test_tests_use_public_names_only(parsed: list[tuple[Path, ast.AST]]) -> None:
    found = [
        f"tests/{_relative(path)}:{line} reaches {name}"
        for path, tree in parsed
        for line, name in private_uses(tree)
        if (_relative(path), name) not in ALLOWED
    ]
    assert found == [], "test through public names (or give the thing a public name):\n" + "\n".join(found)


def test_every_allowance_is_still_needed(parsed: list[tuple[Path, ast.AST]]) -> None:
    used = {(_relative(path), name) for path, tree in parsed for _, name in private_uses(tree)}
    assert set(ALLOWED) <= used, f"allowed but no longer used: {sorted(set(ALLOWED) - used)}"


@pytest.mark.parametrize(
    ("source", "where", "expected"),
    [
        ("from tests.unit.test_plan import spec", "unit/test_x.py", ["tests.unit.test_plan"]),
        ("import tests.integration.test_push_http", "unit/test_x.py", ["tests.integration.test_push_http"]),
        ("from tests.conformance import test_hubspot", "unit/test_x.py", ["tests.conformance.test_hubspot"]),
        ("from .test_delivery import Clock", "unit/test_x.py", ["tests.unit.test_delivery"]),
        ("from . import test_delivery", "unit/test_x.py", ["tests.unit.test_delivery"]),
        ("from ..integration.test_cli import run", "unit/test_x.py", ["tests.integration.test_cli"]),
        ("from tests.integration.conftest import Project\nfrom tests.factories import sync_spec", "unit/test_x.py", []),
        ("from dbt_revsync import testing", "unit/test_x.py", []),
    ],
)
def test_the_import_rule_sees_every_form(source: str, where: str, expected: list[str]) -> None:
    path = TESTS / where
    assert [name for _, name in imported_test_modules(path, ast.parse(source))] == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("plan._clean(1)", ["_clean"]),
        ("BulkJob(a)._ack(b, c)", ["_ack"]),
        ("from dbt_revsync.commands import _after_forgetting", ["_after_forgetting"]),
        ("getattr(dest, '_types')(spec)", ["_types"]),
        ("self._seen = 1\ncls._made = 2", []),
        ("type(x).__name__\nx.__dict__", []),
        ("from tests.integration.conftest import _env", []),
    ],
)
def test_the_private_rule_sees_every_form(source: str, expected: list[str]) -> None:
    assert [name for _, name in private_uses(ast.parse(source))] == expected
