"""dbt's artifacts, read as versioned JSON: which nodes carry a sync, which ones to push.

``manifest.json`` and ``run_results.json`` are read as documents with a schema version,
never through dbt's Python classes, so a new dbt only needs its versions added here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbt_revsync.config import NodeRef
from dbt_revsync.errors import ManifestError

# dbt 1.6 writes manifest v10, 1.7 v11, 1.8 to 1.11 v12; run_results v4 to v6 over the same span.
# dbt Fusion writes manifest v20, whose nodes carry what dbt-revsync reads as v12 does: read as v12.
MANIFEST_VERSIONS = (10, 11, 12, 20)
RUN_RESULTS_VERSIONS = (4, 5, 6)
SYNC_RESOURCE_TYPES = ("model", "seed", "snapshot", "source")
# A node built with warnings ("warn") was built; "pass" is a test's success.
SUCCESS_STATUSES = ("success", "pass", "warn")
_VERSION = re.compile(r"/(manifest|run-results)/v(\d+)\.json$")


@dataclass(frozen=True)
class SyncNode:
    """A node carrying a ``revsync`` block, as found in the manifest."""

    ref: NodeRef
    block: Any


def read_artifact(path: Path, kind: str, versions: tuple[int, ...]) -> dict[str, Any]:
    if not path.is_file():
        raise ManifestError(f"{path} not found: run `dbt build` (or `dbt run`/`dbt parse`) first")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path} is not readable JSON: {exc}") from None
    return check_artifact(document, kind, versions, str(path))


def check_artifact(document: Any, kind: str, versions: tuple[int, ...], origin: str) -> dict[str, Any]:
    """``document`` if it is a ``kind`` artifact of a schema version dbt-revsync reads."""
    metadata = document.get("metadata") if isinstance(document, dict) else None
    schema = str((metadata or {}).get("dbt_schema_version", ""))
    match = _VERSION.search(schema)
    if not match or match.group(1) != kind or int(match.group(2)) not in versions:
        supported = ", ".join(f"v{v}" for v in versions)
        raise ManifestError(f"{origin} has schema version {schema or 'none'!r}; dbt-revsync reads {kind} {supported}")
    assert isinstance(document, dict)
    return document


@dataclass(frozen=True)
class Artifacts:
    """A manifest and, when there is one, the run results of the invocation to push after."""

    manifest: Mapping[str, Any]
    run_results: Mapping[str, Any] | None = None

    @classmethod
    def from_documents(cls, manifest: Any, run_results: Any, origin: str) -> Artifacts:
        return cls(
            check_artifact(manifest, "manifest", MANIFEST_VERSIONS, f"{origin} manifest.json"),
            check_artifact(run_results, "run-results", RUN_RESULTS_VERSIONS, f"{origin} run_results.json"),
        )


def load_manifest(target_dir: Path) -> dict[str, Any]:
    return read_artifact(target_dir / "manifest.json", "manifest", MANIFEST_VERSIONS)


def load_run_results(target_dir: Path) -> dict[str, Any]:
    return read_artifact(target_dir / "run_results.json", "run-results", RUN_RESULTS_VERSIONS)


def sync_nodes(manifest: Mapping[str, Any]) -> list[SyncNode]:
    """Every model, seed, snapshot and source that carries a ``revsync`` block."""
    found = []
    for node in _all_nodes(manifest):
        if node.get("resource_type") not in SYNC_RESOURCE_TYPES:
            continue
        located = _find_block(node)
        if located is not None:
            meta_path, block = located
            found.append(SyncNode(_node_ref(node, meta_path), block))
    return sorted(found, key=lambda n: n.ref.unique_id)


def _all_nodes(manifest: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from (manifest.get("nodes") or {}).values()
    yield from (manifest.get("sources") or {}).values()


def _find_block(node: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``config.meta.revsync`` first, then the older top-level ``meta.revsync``."""
    config_meta = (node.get("config") or {}).get("meta") or {}
    if "revsync" in config_meta:
        return "config.meta", config_meta["revsync"]
    meta = node.get("meta") or {}
    if "revsync" in meta:
        return "meta", meta["revsync"]
    return None


def _node_ref(node: Mapping[str, Any], meta_path: str) -> NodeRef:
    patch = str(node.get("patch_path") or "")
    yaml_file = patch.split("://", 1)[-1] if patch else str(node.get("original_file_path") or node.get("path") or "")
    identifier = node.get("identifier") if node.get("resource_type") == "source" else node.get("alias")
    return NodeRef(
        unique_id=str(node["unique_id"]),
        name=str(node.get("name")),
        resource_type=str(node.get("resource_type")),
        yaml_file=yaml_file,
        database=node.get("database"),
        schema=str(node.get("schema")),
        identifier=str(identifier or node.get("name")),
        meta_path=meta_path,
        package_name=str(node.get("package_name") or ""),
        depends_on=tuple((node.get("depends_on") or {}).get("nodes") or ()),
        materialized=str((node.get("config") or {}).get("materialized") or ""),
    )


def succeeded_nodes(run_results: Mapping[str, Any]) -> set[str]:
    """Unique ids of the nodes the last invocation built successfully."""
    return {
        str(result.get("unique_id"))
        for result in run_results.get("results") or ()
        if str(result.get("status")) in SUCCESS_STATUSES
    }


def default_selection(nodes: Iterable[SyncNode], built: set[str]) -> list[SyncNode]:
    """What a plain ``push`` takes: nodes the last run built, and sources (dbt never builds those)."""
    return [n for n in nodes if n.ref.unique_id in built or n.ref.resource_type == "source"]


def dag_order(nodes: list[SyncNode], manifest: Mapping[str, Any]) -> list[SyncNode]:
    """Upstream nodes first (accounts before the contacts that reference them)."""
    parents = {k: set((v.get("depends_on") or {}).get("nodes") or ()) for k, v in (manifest.get("nodes") or {}).items()}
    depth: dict[str, int] = {}

    def level(uid: str, trail: frozenset[str] = frozenset()) -> int:
        if uid not in depth:
            ups = [p for p in parents.get(uid, ()) if p not in trail]
            depth[uid] = 1 + max((level(p, trail | {uid}) for p in ups), default=-1)
        return depth[uid]

    return sorted(nodes, key=lambda n: (level(n.ref.unique_id), n.ref.unique_id))


def nodes_by_id(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Every node and source of the manifest, by unique id."""
    return {str(node.get("unique_id")): node for node in _all_nodes(manifest)}


def model_paths(project_dir: Path) -> list[str]:
    """``model-paths`` of the project's ``dbt_project.yml`` (dbt's default: ``models``)."""
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe").load((project_dir / "dbt_project.yml").read_text(encoding="utf-8"))
    except Exception:  # a broken dbt_project.yml is dbt's to report
        return ["models"]
    paths = data.get("model-paths") if isinstance(data, dict) else None
    return [str(p) for p in paths] if isinstance(paths, list) and paths else ["models"]
