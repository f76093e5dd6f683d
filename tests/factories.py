"""Builders of the records tests hand to the package: a model node, a connection, a sync spec.

One place builds them, so a new field on a record changes one builder, not every test module.
Each builder takes what a test varies and defaults the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from dbt_revsync.connections import parse_connection
from dbt_revsync.destinations import catalog
from dbt_revsync.model import Connection, FieldMap, NodeRef, SyncSpec

# A port nothing listens on: a connection that must never be reached.
UNREACHABLE = "http://127.0.0.1:1/x"

NODE = NodeRef("model.p.m", "m", "model", "models/schema.yml", None, "main", "m")


def connection(crm: str, name: str | None = None, *, base_url: str | None = UNREACHABLE, **settings: Any) -> Connection:
    """A connection of type ``crm`` (named ``name``, else the type) with ``settings``, built
    directly: no ``revsync.yml`` rules apply."""
    return Connection(name=name or crm, type=crm, settings=MappingProxyType(dict(settings)), base_url=base_url)


def parsed_connection(crm: str, name: str | None = None, **raw: Any) -> Connection:
    """A connection as ``revsync.yml`` would give it (the vendor's defaults, its secrets known)."""
    conn, issues = parse_connection(name or crm, {"type": crm, **raw}, "revsync.yml", {}, destinations=catalog())
    assert conn is not None and not issues, issues
    return conn


def field_maps(fields: Mapping[str, str] | Iterable[FieldMap]) -> tuple[FieldMap, ...]:
    """``{destination path: model column}``, or field maps as they are."""
    if isinstance(fields, Mapping):
        return tuple(FieldMap(path, column) for path, column in fields.items())
    return tuple(fields)


def sync_spec(
    conn: Connection,
    obj: str,
    mode: str = "upsert",
    fields: Mapping[str, str] | Iterable[FieldMap] = MappingProxyType({"name": "name"}),
    upsert_key: str | None = None,
    *,
    node: NodeRef = NODE,
    primary_key: tuple[str, ...] = ("id",),
    sync_id: str | None = None,
    **options: Any,
) -> SyncSpec:
    """A sync of ``node`` to ``obj`` over ``conn`` in insert mode ``mode``; ``options`` are any
    other ``SyncSpec`` field (``nulls``, ``batch_size``, ``match_on``, ...)."""
    return SyncSpec(
        sync_id or f"{node.unique_id}:{conn.name}.{obj}",
        node,
        conn,
        obj,
        mode,
        primary_key,
        field_maps(fields),
        upsert_key=upsert_key,
        **options,
    )


def accounts_sync(mode: str = "upsert", **options: Any) -> SyncSpec:
    """Freshsales sales accounts keyed by ``custom_field.cf_id``, with a name and a score: the
    sync the plan and output tests describe."""
    fields = {"name": "name", "custom_field.cf_id": "id", "custom_field.cf_score": "score"}
    conn = connection("freshsales", "fs", base_url=None, api_key="k", domain="d")
    return sync_spec(conn, "sales_accounts", mode, fields, "cf_id", **options)
