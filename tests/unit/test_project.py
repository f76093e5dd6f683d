from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dbt_revsync.dbt import artifacts
from dbt_revsync.errors import ManifestError


def write(path: Path, kind: str, version: int, **body: Any) -> Path:
    path.write_text(
        json.dumps(
            {"metadata": {"dbt_schema_version": f"https://schemas.getdbt.com/dbt/{kind}/v{version}.json"}, **body}
        )
    )
    return path


@pytest.mark.parametrize(
    "version, ok", [(10, True), (11, True), (12, True), (20, True), (9, False), (13, False), (21, False)]
)
def test_manifest_versions(tmp_path: Path, version: int, ok: bool) -> None:
    write(tmp_path / "manifest.json", "manifest", version, nodes={})
    if ok:
        assert artifacts.load_manifest(tmp_path)["nodes"] == {}
    else:
        with pytest.raises(ManifestError, match="dbt-revsync reads manifest"):
            artifacts.load_manifest(tmp_path)


def test_run_results_version_and_garbage(tmp_path: Path) -> None:
    write(
        tmp_path / "run_results.json",
        "run-results",
        6,
        results=[{"unique_id": "a", "status": "success"}, {"unique_id": "b", "status": "error"}],
    )
    assert artifacts.succeeded_nodes(artifacts.load_run_results(tmp_path)) == {"a"}
    (tmp_path / "run_results.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not readable JSON"):
        artifacts.load_run_results(tmp_path)
    write(tmp_path / "run_results.json", "manifest", 12)
    with pytest.raises(ManifestError):
        artifacts.load_run_results(tmp_path)


def test_a_node_built_with_warnings_counts_as_built(tmp_path: Path) -> None:
    results = [
        {"unique_id": "model.p.warned", "status": "warn"},
        {"unique_id": "model.p.built", "status": "success"},
        {"unique_id": "model.p.failed", "status": "error"},
        {"unique_id": "model.p.skipped", "status": "skipped"},
    ]
    write(tmp_path / "run_results.json", "run-results", 6, results=results)
    assert artifacts.succeeded_nodes(artifacts.load_run_results(tmp_path)) == {"model.p.warned", "model.p.built"}


def test_dbt_fusion_manifest_v20_is_read_as_v12(tmp_path: Path) -> None:
    block = {"destination": "freshsales", "object": "contacts"}
    write(
        tmp_path / "manifest.json",
        "manifest",
        20,
        nodes={"model.p.m": node("model.p.m", config={"meta": {"revsync": block}})},
    )
    (found,) = artifacts.sync_nodes(artifacts.load_manifest(tmp_path))
    assert (found.ref.unique_id, found.block) == ("model.p.m", block)


def node(uid: str, rtype: str = "model", **extra: Any) -> dict[str, Any]:
    return {
        "unique_id": uid,
        "name": uid.split(".")[-1],
        "resource_type": rtype,
        "schema": "main",
        "database": "db",
        "alias": uid.split(".")[-1],
        **extra,
    }


def test_blocks_found_in_config_meta_then_meta_and_on_sources() -> None:
    manifest = {
        "nodes": {
            "model.p.a": node("model.p.a", config={"meta": {"revsync": {"x": 1}}}, patch_path="p://models/a.yml"),
            "model.p.b": node("model.p.b", meta={"revsync": [{"x": 2}]}, original_file_path="models/b.sql"),
            "model.p.c": node("model.p.c"),
            "test.p.t": node("test.p.t", "test", config={"meta": {"revsync": {}}}),
        },
        "sources": {
            "source.p.s.t": node(
                "source.p.s.t",
                "source",
                identifier="raw_t",
                meta={"revsync": {"x": 3}},
                original_file_path="models/src.yml",
            )
        },
    }
    found = {n.ref.unique_id: n for n in artifacts.sync_nodes(manifest)}
    assert sorted(found) == ["model.p.a", "model.p.b", "source.p.s.t"]
    assert (found["model.p.a"].ref.meta_path, found["model.p.a"].ref.yaml_file) == ("config.meta", "models/a.yml")
    assert (found["model.p.b"].ref.meta_path, found["model.p.b"].block) == ("meta", [{"x": 2}])
    assert found["source.p.s.t"].ref.identifier == "raw_t"
    picked = artifacts.default_selection(found.values(), {"model.p.a"})
    assert sorted(n.ref.unique_id for n in picked) == ["model.p.a", "source.p.s.t"]


def test_dag_order_puts_parents_first() -> None:
    synced = {"meta": {"revsync": {}}}
    manifest = {
        "nodes": {
            "model.p.contacts": node("model.p.contacts", depends_on={"nodes": ["model.p.accounts"]}, config=synced),
            "model.p.accounts": node("model.p.accounts", depends_on={"nodes": ["seed.p.raw"]}, config=synced),
            "seed.p.raw": node("seed.p.raw", "seed"),
        }
    }
    nodes = sorted(artifacts.sync_nodes(manifest), key=lambda n: n.ref.name, reverse=True)  # children first
    assert [n.ref.name for n in nodes] == ["contacts", "accounts"]
    assert [n.ref.name for n in artifacts.dag_order(nodes, manifest)] == ["accounts", "contacts"]
