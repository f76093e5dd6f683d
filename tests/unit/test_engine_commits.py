"""A batch's commit on engines without multi-statement transactions (Snowflake, BigQuery,
Databricks): one MERGE per table, the state's first, rendered through the real dbt adapter and
parsed by sqlglot in the engine's dialect. On Snowflake the statements also RUN, on fakesnow
(Snowflake's connector emulated on DuckDB), and what they leave in the tables is checked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dbt_revsync.state import RejectRow, StateRow
from dbt_revsync.testing.dialects import Rendering, installed, rendering

sqlglot = pytest.importorskip("sqlglot")
from sqlglot import exp

MERGING = installed(["snowflake", "bigquery", "databricks"])
NOW = "2026-01-01 00:00:00.000000"
RUN = {"started_at": NOW, "finished_at": None, "status": "running", "read": 3, "created": 2, "target": "crm/contacts"}


def ack(
    key: str,
    row_hash: str | None = "h",
    rid: str = "7",
    keep: bool = True,
    origin: str | None = "created",
    upsert: str | None = None,
) -> StateRow:
    return StateRow(key, row_hash, rid, origin, upsert, keep, True)


@pytest.fixture(scope="module", params=MERGING)
def engine(request: pytest.FixtureRequest) -> Iterator[Rendering]:
    with rendering(request.param) as opened:
        yield opened


def commit(
    r: Rendering, acks: list[StateRow], rejects: list[RejectRow], run: dict[str, Any] | None = RUN, run_id: str = "r1"
) -> list[str]:
    return [
        str(s)
        for s in r.render(
            "revsync_commit_sql",
            schema_relation=r.relation("revsync"),
            sync_id="s",
            target="tgt",
            run_id=run_id,
            acks=acks,
            rejects=rejects,
            run=dict(run or {}),
            now=NOW,
        )
    ]


def merged_tables(r: Rendering, statements: list[str]) -> list[str]:
    """Each statement parsed in the engine's dialect: the table each MERGE writes."""
    tables = []
    for sql in statements:
        tree = sqlglot.parse_one(sql, read=r.sqlglot_dialect)
        assert isinstance(tree, exp.Merge), sql
        tables.append(tree.this.find(exp.Table).name)
    return tables


def test_a_batch_is_one_merge_per_table_the_state_first(engine: Rendering) -> None:
    made = commit(
        engine,
        [ack("k1"), ack("k2", keep=False)],
        [RejectRow("bad", "create", "400", "no"), RejectRow(None, "create", "422", "x")],
    )
    assert merged_tables(engine, made) == ["revsync_sync_state", "revsync_rejects", "revsync_runs"]


def test_a_batch_without_rejects_still_clears_the_earlier_rejects_of_its_keys(engine: Rendering) -> None:
    made = commit(engine, [ack("k1")], [], run=None)
    assert merged_tables(engine, made) == ["revsync_sync_state", "revsync_rejects"]
    assert "'k1'" in made[1]


def test_the_run_row_alone_is_one_merge(engine: Rendering) -> None:
    assert merged_tables(engine, commit(engine, [], [])) == ["revsync_runs"]
    run_sql = engine.render(
        "revsync_run_sql", schema_relation=engine.relation("revsync"), sync_id="s", run_id="r1", run=RUN
    )
    assert merged_tables(engine, [str(s) for s in run_sql]) == ["revsync_runs"]


def test_a_key_acknowledged_twice_in_a_batch_is_one_source_row(engine: Rendering) -> None:
    """A MERGE may match a target row with one source row only (BigQuery and Databricks refuse more)."""
    state = commit(engine, [ack("k1", "old"), ack("k1", "new")], [], run=None)[0]
    assert "'old'" not in state and state.count("'k1'") == 1


# ---- Snowflake, run on fakesnow --------------------------------------------------------------
@pytest.fixture(scope="module")
def snowflake() -> Iterator[tuple[Rendering, Any]]:
    fakesnow = pytest.importorskip("fakesnow")
    if "snowflake" not in installed(["snowflake"]):
        pytest.skip("dbt-snowflake is not installed")
    import snowflake.connector

    with rendering("snowflake") as r, fakesnow.patch():
        cursor = snowflake.connector.connect(database="analytics", schema="revsync").cursor()
        cursor.execute("create schema if not exists analytics.revsync")
        for statement in r.render("revsync_state_ddl", schema_relation=r.relation("revsync")):
            cursor.execute(str(statement))
        yield r, cursor


def table(cursor: Any, name: str, columns: str) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in cursor.execute(f"select {columns} from analytics.revsync.{name} order by 1, 2, 3").fetchall()
    ]


def test_on_snowflake_the_merges_remember_replace_forget_and_settle(snowflake: tuple[Rendering, Any]) -> None:
    r, cursor = snowflake
    for sql in commit(
        r, [ack("k1"), ack("k2")], [RejectRow("bad", "create", "400", "no"), RejectRow(None, "create", "422", "x")]
    ):
        cursor.execute(sql)
    assert table(cursor, "revsync_sync_state", "record_key, row_hash, origin") == [
        ("k1", "h", "created"),
        ("k2", "h", "created"),
    ]
    assert table(cursor, "revsync_rejects", "run_id, record_key, error_code") == [
        ("r1", "bad", "400"),
        ("r1", None, "422"),
    ]

    second = [ack("k1", "h2", origin="matched", upsert="a@b"), ack("k2", None, keep=False), ack("bad", "h3", rid="9")]
    for sql in commit(
        r, second, [RejectRow(None, "create", "422", "y")], run={**RUN, "status": "ok", "created": 3}, run_id="r2"
    ):
        cursor.execute(sql)
    assert table(cursor, "revsync_sync_state", "record_key, row_hash, origin, upsert_value, run_id") == [
        ("bad", "h3", "created", None, "r2"),
        ("k1", "h2", "matched", "a@b", "r2"),
    ]
    # the settled key's reject left, the earlier run's unkeyed reject gave way to this run's
    assert table(cursor, "revsync_rejects", "run_id, record_key, error_message") == [("r2", None, "y")]
    assert table(cursor, "revsync_runs", "run_id, status, created") == [("r1", "running", 2), ("r2", "ok", 3)]
    for sql in commit(r, [], [], run={**RUN, "status": "ok", "created": 4}, run_id="r2"):
        cursor.execute(sql)
    assert table(cursor, "revsync_runs", "run_id, status, created") == [("r1", "running", 2), ("r2", "ok", 4)]
