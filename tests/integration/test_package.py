"""The repository installed as a dbt package: dbt reads its macros and the state sources alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_the_package_never_parses_the_repositorys_test_fixtures(project: Project, tmp_path: Path) -> None:
    package = tmp_path / "dbt_revsync_checkout"
    package.mkdir()
    shutil.copy(REPO / "dbt_project.yml", package / "dbt_project.yml")
    shutil.copytree(REPO / "macros", package / "macros")
    shutil.copytree(REPO / "models", package / "models")
    # What a checkout also holds, in dbt's default folders: none of it is part of the package.
    for folder, name, text in (
        ("tests/fixtures", "probe.sql", "select 1 as x where false"),
        ("seeds", "probe.csv", "a,b\n1,2\n"),
        ("snapshots", "probe.sql", "select 1"),
        ("analyses", "probe.sql", "select 1"),
        ("tests/contract", "spec.yml", "version: 2\nmodels: [{name: not_a_model}]\n"),
    ):
        (package / folder).mkdir(parents=True, exist_ok=True)
        (package / folder / name).write_text(text)
    (project.root / "packages.yml").write_text(f"packages:\n  - local: {package}\n")
    project.model("m", "select 1 as id")
    project.dbt("deps")
    parsed = project.dbt("parse", "--no-partial-parse")
    manifest = json.loads((project.root / "target" / "manifest.json").read_text())
    ours = sorted(k for k in [*manifest["nodes"], *manifest["sources"]] if ".dbt_revsync." in k)
    assert ours == [
        f"source.dbt_revsync.revsync.{t}" for t in ("revsync_rejects", "revsync_runs", "revsync_sync_state")
    ], ours
    assert any(k.startswith("macro.dbt_revsync.revsync_listen_ddl") for k in manifest["macros"])
    assert "not_a_model" not in parsed.stdout
