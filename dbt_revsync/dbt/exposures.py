"""Lineage for ``dbt docs``: one dbt exposure per sync, written as a YAML file dbt parses.

Each exposure is ``type: application``, named ``revsync_<node>_<connection>_<object>``
(plus the block's ``name``), depends on the node the sync reads, and is owned by the
block's ``owner``, else the node's ``meta.owner``, else the connection (dbt requires an
owner). Pure: it turns syncs and the manifest into YAML text; the command writes it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ruamel.yaml import YAML

from dbt_revsync.model import SyncSpec

__all__ = ["HEADER", "config_keys", "depends_on", "exposure", "exposure_name", "exposures_yaml", "owner"]

HEADER = "# Written by `dbt-revsync exposures`: one exposure per sync. Regenerate it rather than edit it.\n"


def exposure_name(spec: SyncSpec) -> str:
    parts = ["revsync", spec.node.name, spec.connection.name, spec.object, *([spec.name] if spec.name else [])]
    return re.sub(r"[^0-9A-Za-z_]+", "_", "_".join(parts)).strip("_").lower()


def depends_on(spec: SyncSpec, node: Mapping[str, Any], root_package: str) -> str:
    """``ref(..)`` or ``source(..)`` naming the node, as dbt's YAML wants it."""
    if spec.node.resource_type == "source":
        return f"source('{node.get('source_name')}', '{node.get('name')}')"
    package = spec.node.package_name
    return (
        f"ref('{package}', '{spec.node.name}')" if package and package != root_package else f"ref('{spec.node.name}')"
    )


def owner(spec: SyncSpec, node: Mapping[str, Any]) -> dict[str, str]:
    if spec.owner:
        return dict(spec.owner)
    for meta in ((node.get("config") or {}).get("meta") or {}, node.get("meta") or {}):
        found = meta.get("owner")
        if isinstance(found, str) and found.strip():
            return {"email" if "@" in found else "name": found.strip()}
        if isinstance(found, dict):
            picked = {k: str(v) for k, v in found.items() if k in ("name", "email") and v}
            if picked:
                return picked
    return {"name": spec.connection.name}


def config_keys(dbt_version: str) -> bool:
    """Whether dbt ``dbt_version`` (as the manifest records it) takes meta and tags under config."""
    match = re.match(r"^\s*(\d+)\.(\d+)", dbt_version or "")
    return match is not None and (int(match.group(1)), int(match.group(2))) >= (1, 10)


def exposure(spec: SyncSpec, node: Mapping[str, Any], root_package: str = "", dbt_version: str = "") -> dict[str, Any]:
    revsync = {
        "sync_id": spec.sync_id,
        "destination": spec.connection.name,
        "destination_type": spec.connection.type,
        "object": spec.object,
        "insert_mode": spec.insert_mode,
        "fetch_mode": spec.fetch_mode,
    }
    if spec.schedule:
        revsync["schedule"] = spec.schedule
    fields = ", ".join(f"{f.path} <- {f.column}" for f in spec.fields)
    item = {
        "name": exposure_name(spec),
        "label": spec.label,
        "type": "application",
        "description": (
            f"dbt-revsync pushes the rows of {spec.node.name} to {spec.connection.type} "
            f"({spec.connection.name}), object {spec.object}, insert mode {spec.insert_mode}. Fields: {fields}."
        ),
        "owner": owner(spec, node),
        "depends_on": [depends_on(spec, node, root_package)],
    }
    tagged = {"tags": ["revsync"], "meta": {"revsync": revsync}}
    return {**item, "config": tagged} if config_keys(dbt_version) else {**item, **tagged}


def exposures_yaml(
    specs: Sequence[SyncSpec], nodes: Mapping[str, Mapping[str, Any]], root_package: str, dbt_version: str = ""
) -> str:
    """The YAML file: ``nodes`` maps a unique id to its manifest entry; ``root_package`` is
    the project's own name (its models are ``ref``'d by name alone); ``dbt_version`` is the
    manifest's (``metadata.dbt_version``)."""
    items = sorted(
        (exposure(spec, nodes.get(spec.node.unique_id, {}), root_package, dbt_version) for spec in specs),
        key=lambda e: e["name"],
    )
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    stream = io.StringIO()
    yaml.dump({"version": 2, "exposures": items}, stream)
    return HEADER + stream.getvalue()
