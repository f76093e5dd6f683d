"""scripts/check_dbt_internals.py: the dbt imports of dbt_revsync/, checked against a wheel read as a zip."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_dbt_internals", ROOT / "scripts" / "check_dbt_internals.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def fake_wheel(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def test_every_dbt_import_of_the_package_is_found_and_a_missing_one_is_named(tmp_path: Path) -> None:
    check = checker()
    imports = check.dbt_imports(ROOT / "dbt_revsync")
    modules = {i.module for i in imports}
    assert {"dbt.cli.main", "dbt.version", "dbt.adapters.factory"} <= modules
    assert any(str(i) == "from dbt.version import __version__" for i in imports)
    # A wheel that holds every module and name: nothing missing.
    complete: dict[str, str] = {}
    for item in imports:
        name = item.module.replace(".", "/") + ".py"
        complete[name] = complete.get(name, "") + (f"{item.name} = None\n" if item.name else "")
    assert list(check.missing(imports, check.Wheels([fake_wheel(tmp_path / "ok.whl", complete)]))) == []
    # One name gone from 1.12, one module moved: both named, with where dbt-revsync imports them.
    broken = dict(complete)
    broken["dbt/version.py"] = "def get_installed_version():\n    pass\n"
    del broken["dbt/cli/main.py"]
    problems = list(check.missing(imports, check.Wheels([fake_wheel(tmp_path / "broken.whl", broken)])))
    assert any("dbt.version has no __version__" in p for p in problems)
    assert any("module dbt.cli.main is not in the wheel" in p and "dbt_revsync/" in p for p in problems)


def test_top_level_names_see_definitions_imports_and_guarded_blocks() -> None:
    source = (
        "import os\nfrom x import a as b\nclass C: pass\ndef f(): pass\nN: int = 1\nif os:\n    G = 1\n"
        "try:\n    from y import T\nexcept ImportError:\n    T = None\n"
    )
    assert checker().top_level_names(source) >= {"os", "b", "C", "f", "N", "G", "T"}


def test_the_dbt_core_metadata_names_the_dbt_adapters_range(tmp_path: Path) -> None:
    metadata = "Metadata-Version: 2.1\nName: dbt-core\nRequires-Dist: dbt-adapters<2.0,>=1.24.5\nRequires-Dist: agate\n"
    wheel = fake_wheel(tmp_path / "dbt_core-1.12.0-py3-none-any.whl", {"dbt_core-1.12.0.dist-info/METADATA": metadata})
    assert checker().adapters_requirement(wheel) == "dbt-adapters<2.0,>=1.24.5"
