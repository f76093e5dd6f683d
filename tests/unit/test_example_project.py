"""The example project the README points new users at passes the config checks."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from dbt_revsync.blocks import parse_sync_blocks
from dbt_revsync.connections import load_connections
from dbt_revsync.destinations import catalog
from dbt_revsync.model import NodeRef

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"


def test_every_sync_in_the_example_project_passes_its_destinations_checks() -> None:
    connections, issues = load_connections(EXAMPLE / "revsync.yml", {}, destinations=catalog())
    assert issues == []
    found: list[str] = []
    for yml in sorted((EXAMPLE / "models").rglob("*.yml")):
        for model in YAML(typ="safe").load(yml.read_text()).get("models", []):
            block = model.get("config", {}).get("meta", {}).get("revsync")
            if block is None:
                continue
            node = NodeRef(
                f"model.revsync_example.{model['name']}",
                model["name"],
                "model",
                str(yml.relative_to(EXAMPLE)),
                "db",
                "main",
                model["name"],
            )
            specs, problems, _ = parse_sync_blocks(node, block, connections, destinations=catalog())
            found.extend(str(problem) for problem in problems)
            assert specs or problems
    assert found == []
