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

from dbt_revsync.dbt.builds import BUILDING_COMMANDS
from dbt_revsync.errors import ConfigIssue, ManifestError
from dbt_revsync.model import NodeRef

__all__ = [
    "MANIFEST_VERSIONS",
    "PATH_SETTINGS",
    "PROJECT_FILES",
    "READ_PATHS",
    "RUN_RESULTS_VERSIONS",
    "SOURCE_SUFFIXES",
    "SUCCESS_STATUSES",
    "SYNC_RESOURCE_TYPES",
    "WRITTEN_BY",
    "Artifacts",
    "SyncNode",
    "building_run_results",
    "check_artifact",
    "dag_order",
    "default_selection",
    "load_manifest",
    "load_run_results",
    "misplaced_blocks",
    "model_paths",
    "no_sync_reason",
    "nodes_by_id",
    "read_artifact",
    "stale_inputs",
    "succeeded_nodes",
    "sync_nodes",
]

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


# What writes each artifact, for the hint when it is missing.
WRITTEN_BY = {
    "manifest": "`dbt parse` (or any dbt command that reads the project)",
    "run-results": "`dbt build` (or `dbt run`, `dbt seed`, `dbt snapshot`), or add the post-run hook "
    '`on-run-end: "{{ dbt_revsync.record_results(results) }}"`',
}


def read_artifact(path: Path, kind: str, versions: tuple[int, ...]) -> dict[str, Any]:
    if not path.is_file():
        raise ManifestError(f"{path} not found: run {WRITTEN_BY.get(kind, '`dbt build`')} first")
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


def no_sync_reason(manifest: Mapping[str, Any]) -> str:
    """Why a manifest holds no sync, for the warning that says so."""
    counts: dict[str, int] = {}
    for node in _all_nodes(manifest):
        kind = str(node.get("resource_type"))
        if kind in SYNC_RESOURCE_TYPES:
            counts[kind] = counts.get(kind, 0) + 1
    read = ", ".join(f"{n} {kind}(s)" for kind, n in sorted(counts.items())) or "no model, seed, snapshot or source"
    return f"no sync found: none of the manifest's nodes ({read}) carries a revsync block under config.meta (or meta)"


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


def building_run_results(run_results: Mapping[str, Any], origin: str) -> Mapping[str, Any]:
    """``run_results`` if a command that builds wrote it: ``dbt test``, ``dbt docs generate``
    or ``dbt compile`` write one too, which says nothing of what was built."""
    which = str((run_results.get("args") or {}).get("which") or "")
    if which not in BUILDING_COMMANDS:
        shown = (
            f"`dbt {'docs generate' if which == 'generate' else which}`"
            if which
            else "a dbt command that does not say which"
        )
        raise ManifestError(
            f"{origin} was written by {shown}, not by a command that builds ({', '.join(BUILDING_COMMANDS)}): "
            "it does not say what was built. Run `dbt build` again, pass --select, or add the post-run hook "
            '`on-run-end: "{{ dbt_revsync.record_results(results) }}"` so push reads what each build recorded'
        )
    return run_results


def misplaced_blocks(manifest: Mapping[str, Any]) -> list[ConfigIssue]:
    """A ``revsync`` key anywhere dbt-revsync does not read it (``config.revsync``, a column's
    ``meta``, ...): an error naming the node and the path, instead of a sync silently ignored."""
    issues = []
    for node in _all_nodes(manifest):
        for path in _revsync_paths(node, ""):
            if path in READ_PATHS and node.get("resource_type") in SYNC_RESOURCE_TYPES:
                continue
            where = f"{node.get('resource_type')} '{node.get('name')}'"
            file = str(node.get("patch_path") or node.get("original_file_path") or "").split("://", 1)[-1]
            hint = (
                "a sync block goes under config.meta.revsync"
                if node.get("resource_type") in SYNC_RESOURCE_TYPES
                else (f"a {node.get('resource_type')} cannot carry a sync; put it on a model, seed, snapshot or source")
            )
            issues.append(
                ConfigIssue(f"dbt-revsync does not read a 'revsync' key here: {hint}", where=where, file=file, key=path)
            )
    return issues


READ_PATHS = ("config.meta.revsync", "meta.revsync")
_NAMED_BY_KEY = ("columns", "column_types")  # their keys are column names: a column may be called revsync
_SKIPPED_KEYS = ("unrendered_config", "config_call_dict", "unrendered_config_call_dict", "raw_code", "compiled_code")


def _revsync_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if not path and key in _SKIPPED_KEYS:
                continue
            here = f"{path}.{key}" if path else str(key)
            if key == "revsync" and path.rsplit(".", 1)[-1] not in _NAMED_BY_KEY:
                yield here
            elif isinstance(item, (dict, list)):
                yield from _revsync_paths(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _revsync_paths(item, f"{path}[{index}]")


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


PROJECT_FILES = ("dbt_project.yml", "packages.yml", "dependencies.yml", "selectors.yml")
PATH_SETTINGS = {  # dbt_project.yml setting -> dbt's default
    "model-paths": ["models"],
    "seed-paths": ["seeds"],
    "snapshot-paths": ["snapshots"],
    "macro-paths": ["macros"],
    "test-paths": ["tests"],
    "analysis-paths": ["analyses"],
}
SOURCE_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".py", ".md")


def stale_inputs(project_dir: Path, manifest_path: Path) -> list[Path]:
    """The project files written after ``manifest_path`` (all of them when it is missing):
    dbt would parse the project differently now."""
    try:
        written = manifest_path.stat().st_mtime
    except OSError:
        written = float("-inf")
    settings = _project_settings(project_dir)
    candidates = [project_dir / name for name in PROJECT_FILES]
    for key, default in PATH_SETTINGS.items():
        paths = settings.get(key)
        for folder in paths if isinstance(paths, list) and paths else default:
            root = project_dir / str(folder)
            if root.is_dir():
                candidates.extend(p for p in root.rglob("*") if p.suffix in SOURCE_SUFFIXES)
    newer = []
    for candidate in candidates:
        try:
            if candidate.stat().st_mtime > written:
                newer.append(candidate)
        except OSError:
            continue
    return newer


def _project_settings(project_dir: Path) -> Mapping[str, Any]:
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe").load((project_dir / "dbt_project.yml").read_text(encoding="utf-8"))
    except Exception:  # a broken dbt_project.yml is dbt's to report
        return {}
    return data if isinstance(data, dict) else {}


def model_paths(project_dir: Path) -> list[str]:
    """``model-paths`` of the project's ``dbt_project.yml`` (dbt's default: ``models``)."""
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe").load((project_dir / "dbt_project.yml").read_text(encoding="utf-8"))
    except Exception:  # a broken dbt_project.yml is dbt's to report
        return ["models"]
    paths = data.get("model-paths") if isinstance(data, dict) else None
    return [str(p) for p in paths] if isinstance(paths, list) and paths else ["models"]
