"""Redshift: dbt-redshift dispatches ``postgres__`` macros where it has no ``redshift__`` one.
Every statement of a push, a forget and the status is rendered through the real dbt-redshift
adapter (no account), parsed as Redshift by sqlglot, and held to what Redshift lacks of
PostgreSQL: arrays and ``unnest``, ``on conflict``, ``do`` blocks, indexes, unlogged tables,
advisory locks, ``string_agg``/``array_agg``, ``distinct on``, ``returning``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from dbt_revsync.state import RejectRow, StateRow
from dbt_revsync.testing.dialects import Rendering, installed, rendering

sqlglot = pytest.importorskip("sqlglot")
pytestmark = pytest.mark.skipif("redshift" not in installed(["redshift"]), reason="dbt-redshift is not installed")

NOW = "2026-01-01 00:00:00.000000"
POSTGRES_ONLY = {
    "an array": r"\[\]|\barray\s*\[|\bunnest\s*\(",
    "on conflict": r"\bon\s+conflict\b",
    "a do block": r"\bdo\s+\$",
    "an index": r"\bcreate\s+(unique\s+)?index\b",
    "an unlogged table": r"\bunlogged\b",
    "an advisory lock": r"advisory_(un)?lock",
    "string_agg or array_agg": r"\b(string_agg|array_agg)\s*\(",
    "distinct on": r"\bdistinct\s+on\b",
    "returning": r"\breturning\b",
    "a bind marker": r"%s",
    "hashtextextended": r"hashtextextended",
}


@pytest.fixture(scope="module")
def redshift() -> Iterator[Rendering]:
    with rendering("redshift") as opened:
        yield opened


def flatten(value: Any) -> list[str]:
    if value is None or value is True or value is False:
        return []
    if isinstance(value, dict):
        return [s for v in value.values() for s in flatten(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in flatten(v)]
    text = str(value).strip()
    return [text] if text else []


def statements(r: Rendering) -> dict[str, list[str]]:
    schema = r.relation("revsync")
    state = r.state_table("revsync_sync_state")
    model = r.relation("analytics", "contacts")
    key, columns = [r.quote("id")], [r.quote("id"), r.quote("email")]
    acks = [StateRow("k1", "h", "7", "created", None, True, True), StateRow("k2", None, "8", None, None, False, False)]
    rejects = [RejectRow("bad", "create", "400", "no"), RejectRow(None, "create", "422", "x")]
    run = {"started_at": NOW, "finished_at": NOW, "status": "ok", "read": 3, "target": "t"}
    changes = r.render(
        "revsync_changes_sql",
        relation=model,
        sync_id="s",
        target="t",
        key_columns=key,
        columns=columns,
        hash_columns=columns,
        fingerprint="f",
        upsert_column=r.quote("email"),
        state_relation=state,
        full_refresh=False,
        incremental_column=r.quote("updated_at"),
        watermark="'2026-01-01'",
    )
    made = {
        "state_ddl": r.render("revsync_state_ddl", schema_relation=schema),
        "unique": r.render("revsync_state_unique_sql", schema_relation=schema),
        "add_column": r.render("revsync_add_column_sql", relation=state, column="origin", kind="text"),
        "claim": r.render("revsync_claim_legacy_sql", schema_relation=schema, sync_id="s", target="t"),
        "lease": r.render("revsync_lease_sql", schema_relation=schema, sync_id="s", holder="h", now=NOW, expires=NOW),
        "advisory": r.render("revsync_advisory_lock_sql", sync_id="s"),
        "bound": r.render("revsync_bound_commit_sql", schema_relation=schema),
        "commit": r.render(
            "revsync_commit_sql",
            schema_relation=schema,
            sync_id="s",
            target="t",
            run_id="r",
            acks=acks,
            rejects=rejects,
            run=run,
            now=NOW,
        ),
        "handover": r.render(
            "revsync_handover_sql", schema_relation=schema, sync_id="s", target="t", destination_ids=["7"]
        ),
        "watermark": r.render(
            "revsync_last_watermark_sql", runs_relation=r.state_table("revsync_runs"), sync_id="s", target="t"
        ),
        "changes_table": r.render(
            "revsync_create_changes_table_sql", relation=r.state_table("revsync_changes_s"), sql=changes
        ),
        "removed": r.render(
            "revsync_removed_sql",
            relation=model,
            sync_id="s",
            target="t",
            key_columns=key,
            columns=columns,
            upsert_column=None,
            state_relation=state,
        ),
        "stats": r.render(
            "revsync_source_stats_sql", relation=model, incremental_column=None, watermark=None, full_refresh=True
        ),
        "page": r.render(
            "revsync_changes_page_sql", changes_relation=r.state_table("revsync_changes_s"), after_seq=0, limit=500
        ),
        "count": r.render("revsync_count_sql", relation=state),
        "drop": r.render("revsync_drop_table_sql", relation=r.state_table("revsync_changes_s")),
        "older": r.render("revsync_older_row_hashes_sql", sync_id="s", target="t", state_relation=state),
        "upgrade": r.render(
            "revsync_upgrade_row_hashes_sql",
            relation=model,
            sync_id="s",
            target="t",
            key_columns=key,
            hash_columns=columns,
            fingerprint="f",
            state_relation=state,
        ),
        "retire": r.render("revsync_retire_row_hashes_sql", sync_id="s", target="t", state_relation=state),
        "remembered": r.render("revsync_remembered_sql", schema_relation=schema, sync_id="s"),
        "forget": r.render("revsync_forget_sql", schema_relation=schema, sync_id="s"),
        "recent_runs": r.render("revsync_recent_runs_sql", schema_relation=schema, per_sync=5),
        "first_rejects": r.render("revsync_first_rejects_sql", schema_relation=schema, run_ids=["r"], per_run=3),
        "last_success": r.render("revsync_last_success_sql", schema_relation=schema),
    }
    return {name: flatten(value) for name, value in made.items()}


def test_redshift_takes_a_lease_and_renders_commits_batch_by_batch(redshift: Rendering) -> None:
    assert str(redshift.render("revsync_lock_kind")) == "lease"
    assert not redshift.render("revsync_bound_commit_sql", schema_relation=redshift.relation("revsync"))
    assert not redshift.render("revsync_advisory_lock_sql", sync_id="s")
    assert not redshift.render("revsync_state_unique_sql", schema_relation=redshift.relation("revsync"))


def test_no_statement_uses_what_redshift_lacks_and_every_one_parses_as_redshift(redshift: Rendering) -> None:
    made = statements(redshift)
    assert made["commit"] and made["changes_table"] and made["lease"]
    found = [
        (name, what)
        for name, sqls in made.items()
        for sql in sqls
        for what, pattern in POSTGRES_ONLY.items()
        if re.search(pattern, sql, re.IGNORECASE)
    ]
    assert found == []
    for name, sqls in made.items():
        for sql in sqls:
            try:
                sqlglot.parse_one(sql, read="redshift")
            except sqlglot.errors.ParseError as exc:  # pragma: no cover - the failure message names the statement
                pytest.fail(f"{name}: {exc}\n{sql}")
