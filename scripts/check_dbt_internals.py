"""Does every dbt internal dbt-revsync imports exist in dbt-core 1.12?

pyproject.toml allows dbt-core 1.12, but this project's own install stays below it
(constraints.txt: its install pulls a parser whose wheel comes from outside the package
registries). So the 1.12 wheel is downloaded ALONE (``pip download --no-deps``, from PyPI
only) and read as a zip, never installed: every ``from dbt.x import name`` and ``import
dbt.x`` in dbt_revsync/ must name a module of the wheel that defines (or imports) ``name``
at its top level. ``dbt.adapters`` is another distribution, dbt-adapters: it is checked in
the newest dbt-adapters wheel that dbt-core 1.12 accepts.

    python scripts/check_dbt_internals.py [--version '1.12.*'] [--wheel-dir DIR]

Exit status: 0 every import found (or no network, outside CI: skipped, said so); 1 an
import is missing; 2 no network under CI=true, or the download failed otherwise.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INDEX = "https://pypi.org/simple"


@dataclass(frozen=True)
class DbtImport:
    """One name dbt-revsync takes from dbt: ``module`` and, for ``from .. import``, ``name``."""

    module: str
    name: str | None
    where: str

    def __str__(self) -> str:
        return f"from {self.module} import {self.name}" if self.name else f"import {self.module}"


def dbt_imports(package: Path) -> list[DbtImport]:
    """Every import of a ``dbt.`` module in the package's source (nested ones included)."""
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(package.parent)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("dbt."):
                found.extend(DbtImport(str(node.module), alias.name, where) for alias in node.names)
            elif isinstance(node, ast.Import):
                found.extend(
                    DbtImport(alias.name, None, where) for alias in node.names if alias.name.startswith("dbt.")
                )
    return found


def top_level_names(source: str) -> set[str]:
    """Names a module defines or imports at its top level (inside top-level if/try too)."""
    names: set[str] = set()

    def visit(body: Iterable[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(t.id for target in node.targets for t in ast.walk(target) if isinstance(t, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)

    visit(ast.parse(source).body)
    return names


class Wheels:
    """Module sources from wheels read as zips: ``dbt/x/y.py`` or ``dbt/x/y/__init__.py``."""

    def __init__(self, wheels: Iterable[Path]) -> None:
        self.files: dict[str, tuple[Path, str]] = {}
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                for name in archive.namelist():
                    if name.endswith(".py"):
                        self.files.setdefault(name, (wheel, name))

    def source(self, module: str) -> str | None:
        base = module.replace(".", "/")
        for candidate in (f"{base}.py", f"{base}/__init__.py"):
            if candidate in self.files:
                wheel, name = self.files[candidate]
                with zipfile.ZipFile(wheel) as archive:
                    return archive.read(name).decode("utf-8")
        return None

    def is_package(self, module: str) -> bool:
        prefix = module.replace(".", "/") + "/"
        return any(name.startswith(prefix) for name in self.files)


def missing(imports: Iterable[DbtImport], wheels: Wheels) -> Iterator[str]:
    for item in imports:
        source = wheels.source(item.module)
        if source is None and not (item.name is None and wheels.is_package(item.module)):
            yield f"{item.where}: {item}: module {item.module} is not in the wheel"
        elif (
            item.name is not None
            and item.name not in top_level_names(source or "")
            and not wheels.is_package(f"{item.module}.{item.name}")
        ):
            yield f"{item.where}: {item}: {item.module} has no {item.name}"


def _pip_download(requirement: str, into: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--isolated",
        "--no-deps",
        "--only-binary=:all:",
        "--index-url",
        INDEX,
        "--dest",
        str(into),
        "--quiet",
        requirement,
    ]
    if os.environ.get("PIP_CERT"):
        command[4:4] = ["--cert", os.environ["PIP_CERT"]]
    before = set(into.glob("*.whl"))
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pip download {requirement} failed: {result.stderr.strip()[-600:]}")
    new = set(into.glob("*.whl")) - before
    distribution = re.split(r"[<>=!~ ]", requirement, maxsplit=1)[0].replace("-", "_").lower()
    return (
        next(iter(new)) if new else max(p for p in into.glob("*.whl") if p.name.lower().startswith(distribution + "-"))
    )


def adapters_requirement(core_wheel: Path) -> str:
    """The ``dbt-adapters`` requirement in the dbt-core wheel's metadata."""
    with zipfile.ZipFile(core_wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        for line in archive.read(metadata).decode().splitlines():
            match = re.match(r"^Requires-Dist:\s*dbt-adapters\s*(\(?[^;]*\)?)", line)
            if match:
                return "dbt-adapters" + match.group(1).strip().strip("()").replace(" ", "")
    return "dbt-adapters"


def network_reachable(url: str = f"{INDEX}/dbt-core/", timeout: float = 10.0) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except Exception:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--version", default="1.12.*", help="the dbt-core version to check against (pip syntax after ==)"
    )
    parser.add_argument(
        "--wheel-dir", default=None, help="keep the downloaded wheels here (default: a temporary folder)"
    )
    args = parser.parse_args(argv)
    in_ci = os.environ.get("CI", "").lower() == "true"
    imports = dbt_imports(ROOT / "dbt_revsync")
    if not network_reachable():
        if in_ci:
            print(
                "check_dbt_internals: PyPI is not reachable and CI=true: cannot check dbt-core",
                args.version,
                file=sys.stderr,
            )
            return 2
        print(
            f"check_dbt_internals: SKIPPED: PyPI is not reachable (no network); {len(imports)} dbt imports"
            f" not checked against dbt-core {args.version}"
        )
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.wheel_dir or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            core = _pip_download(f"dbt-core=={args.version}", folder)
            adapters_spec = adapters_requirement(core)
            adapters = _pip_download(adapters_spec, folder)
        except RuntimeError as exc:
            print(f"check_dbt_internals: {exc}", file=sys.stderr)
            return 2
        problems = list(missing(imports, Wheels([core, adapters])))
    print(
        f"check_dbt_internals: {len(imports)} dbt imports of dbt_revsync/"
        f" against {core.name} and {adapters.name} ({adapters_spec})"
    )
    for problem in problems:
        print(f"  MISSING {problem}")
    if problems:
        return 1
    print("check_dbt_internals: every import found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
