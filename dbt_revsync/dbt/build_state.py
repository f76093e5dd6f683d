"""The post-run hook's tables, read and written through the warehouse's public calls
(``render``, ``execute``, ``select``): what dbt built, when each sync was last pushed, the
keys a failing test stored, and each sync's current hold (what ``status`` shows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dbt_revsync.dbt import builds
from dbt_revsync.errors import WarehouseError
from dbt_revsync.model import utc_now
from dbt_revsync.warehouse import Warehouse

__all__ = [
    "RESULTS_TABLE",
    "HeldKeys",
    "current_holds",
    "ensure_tables",
    "has_holds_table",
    "hook_records",
    "last_pushes",
    "quarantined_keys",
    "set_hold",
]

RESULTS_TABLE = "revsync_build_results"


def _exists(warehouse: Warehouse, identifier: str) -> bool:
    return bool(warehouse.render("revsync_table_exists", schema_relation=warehouse.state_schema, identifier=identifier))


def hook_records(warehouse: Warehouse) -> list[builds.BuildRecord] | None:
    """What the hook recorded; None when it never ran against this state schema."""
    if not _exists(warehouse, RESULTS_TABLE):
        return None
    return builds.records_from_rows(
        warehouse.select(warehouse.render("revsync_build_results_sql", schema_relation=warehouse.state_schema))
    )


def last_pushes(warehouse: Warehouse) -> dict[str, datetime]:
    """sync_id -> when its last successful push started."""
    if not _exists(warehouse, "revsync_runs"):
        return {}
    rows = warehouse.select(warehouse.render("revsync_last_success_sql", schema_relation=warehouse.state_schema))
    return {str(row["sync_id"]): row["last_success"] for row in rows if isinstance(row.get("last_success"), datetime)}


@dataclass(frozen=True)
class HeldKeys:
    """A quarantine's outcome: the keys to hold back, or why it could not be applied."""

    keys: frozenset[str] = frozenset()
    problem: str | None = None


def quarantined_keys(warehouse: Warehouse, relation: str, primary_key: Sequence[str]) -> HeldKeys:
    """The record keys in a test's stored failures (the table must carry the primary key)."""
    try:
        names = warehouse.result_names(f"select * from {relation} where 1 = 0")
    except WarehouseError:
        return HeldKeys(problem=f"its stored failures {relation} cannot be read")
    actual = {name.lower(): name for name in names}
    missing = [column for column in primary_key if column.lower() not in actual]
    if missing:
        return HeldKeys(problem=f"its stored failures lack the primary key column(s) {', '.join(missing)}")
    sql = warehouse.render(
        "revsync_failed_keys_sql", relation=relation, key_columns=[actual[c.lower()] for c in primary_key]
    )
    return HeldKeys(frozenset(str(row["record_key"]) for row in warehouse.select(sql) if row["record_key"] is not None))


def ensure_tables(warehouse: Warehouse) -> None:
    """The hook's tables; the state schema exists already (a push creates it first)."""
    warehouse.execute(warehouse.render("revsync_results_ddl", schema_relation=warehouse.state_schema))


def set_hold(
    warehouse: Warehouse, sync_id: str, invocation_id: str | None, reason: str | None, rows: int | None = None
) -> None:
    """Record a sync's hold (or clear it with ``reason`` None)."""
    warehouse.execute(
        warehouse.render(
            "revsync_hold_sql",
            schema_relation=warehouse.state_schema,
            sync_id=sync_id,
            invocation_id=invocation_id,
            reason=reason,
            held_rows=rows,
            now=utc_now(),
        )
    )


def has_holds_table(warehouse: Warehouse) -> bool:
    return _exists(warehouse, "revsync_holds")


def current_holds(warehouse: Warehouse) -> list[dict[str, Any]]:
    if not _exists(warehouse, "revsync_holds"):
        return []
    return warehouse.select(warehouse.render("revsync_holds_sql", schema_relation=warehouse.state_schema))
