"""The warehouse side on every warehouse (Spark included): paging through the changes,
per-batch state, and each warehouse's own macros found through adapter.dispatch."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dbt_revsync import state
from dbt_revsync.errors import WarehouseError
from tests.integration.conftest import Project

pytestmark = [pytest.mark.integration, pytest.mark.warehouses, pytest.mark.spark]

BLOCK = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "insert_mode": "upsert",
    "primary_key": "account_id",
    "upsert_key": "cf_account_id",
    "batch_size": 5,
    "fields": {"name": "name", "custom_field.cf_account_id": "account_id"},
}


def generated(project: Project, rows: int, renamed: int = 0) -> None:
    """``rows`` accounts made in SQL; the first ``renamed`` of them with a new name."""
    spark = project.warehouse == "spark"
    numbers = f"(select id as i from range(1, {rows + 1})) t" if spark else f"generate_series(1, {rows}) as t(i)"
    project.model(
        "accounts",
        "select cast(i as bigint) as account_id, "
        f"case when i <= {renamed} then 'Renamed ' else 'Account ' end || cast(i as "
        f"{'string' if spark else 'varchar'}) as name "
        f"from {numbers}",
        BLOCK,
    )
    project.build()


def test_changes_travel_page_by_page_in_small_batches(project: Project) -> None:
    generated(project, 23)
    assert project.push().code == 0
    held = project.sandbox.emulator("freshsales").records("sales_accounts")
    assert sorted(int(r["custom_field"]["cf_account_id"]) for r in held) == list(range(1, 24))
    state = project.state()
    assert len(state) == 23 and len({s["run_id"] for s in state}) == 1
    assert all(isinstance(s["synced_at"], dt.datetime) for s in state)
    run = project.runs()[-1]
    assert (run["status"], run["read"], run["created"], run["requests"]) == ("success", 23, 23, 23)
    generated(project, 23, renamed=7)
    assert project.push().code == 0
    run = project.runs()[-1]
    assert (run["read"], run["updated"], run["unchanged"], run["requests"]) == (23, 7, 16, 7)
    names = {
        r["custom_field"]["cf_account_id"]: r["name"]
        for r in project.sandbox.emulator("freshsales").records("sales_accounts")
    }
    assert names["7"] == "Renamed 7" and names["8"] == "Account 8"


STATE_TABLES = ["revsync_locks", "revsync_rejects", "revsync_runs", "revsync_sync_state"]


def state_tables(project: Project) -> list[str]:
    if project.warehouse == "spark":
        return sorted(t["tablename"] for t in project.query(f"show tables in {project.state_schema}"))
    tables = project.query(
        f"select table_name from information_schema.tables where table_schema = '{project.state_schema}'"
    )
    return sorted(t["table_name"] for t in tables)


def expected_tables(project: Project) -> list[str]:
    """Spark keeps each state table as a log and a view of its latest rows."""
    if project.warehouse == "spark":
        return sorted([*STATE_TABLES, *(f"{t}__log" for t in STATE_TABLES)])
    return STATE_TABLES


def test_the_scratch_changes_table_is_gone_after_a_push(project: Project) -> None:
    generated(project, 3)
    assert project.push().code == 0
    assert state_tables(project) == expected_tables(project)


@pytest.mark.warehouses("duckdb")
def test_the_changes_table_is_dropped_when_the_runs_row_cannot_be_written(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated(project, 3)
    commit = state.StateStore.commit

    def failing(self: state.StateStore, spec: Any, target: str, run_id: str, acks: Any, rejects: Any, run: Any) -> None:
        if run and run.get("finished_at"):  # the finished runs row
            raise WarehouseError("the warehouse refused a statement: runs row")
        commit(self, spec, target, run_id, acks, rejects, run)

    monkeypatch.setattr(state.StateStore, "commit", failing)
    result = project.push()
    assert result.code == 1 and "runs row" in result.out + result.err
    assert state_tables(project) == expected_tables(project)


@pytest.mark.warehouses("spark")
def test_spark_state_is_appended_to_and_compacted(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    generated(project, 6)
    assert project.push().code == 0
    generated(project, 4, renamed=2)  # two renamed, two rows gone: upsert forgets nothing, keeps every key
    assert project.push().code == 0
    logged = project.query(f"select count(*) as n from {project.state_schema}.revsync_sync_state__log")[0]["n"]
    assert logged == 6 + 2 and len(project.state()) == 6
    assert project.revsync("forget", "--select", "accounts", "--yes").code == 0
    assert (
        project.state() == []
        and project.query(f"select count(*) as n from {project.state_schema}.revsync_sync_state__log")[0]["n"] == 14
    )
    monkeypatch.setattr(state, "COMPACT_FLOOR", 0)
    assert project.push().code == 0  # compacts first (nothing live), then creates the four records again
    rows = project.query(f"select * from {project.state_schema}.revsync_sync_state__log")
    assert len(rows) == 4 and not any(r["__rs_gone"] for r in rows)
    assert sorted(r["record_key"] for r in project.state()) == ["1", "2", "3", "4"]
    before = project.sandbox.stats()["freshsales"]["requests"]
    assert project.push().code == 0 and project.sandbox.stats()["freshsales"]["requests"] == before


@pytest.mark.warehouses("postgres")
def test_postgres_uses_its_own_macros_through_dispatch(project: Project) -> None:
    generated(project, 3)
    assert project.push().code == 0
    indexes = project.query("select indexname from pg_indexes where schemaname = 'revsync'")
    assert sorted(i["indexname"] for i in indexes) == ["revsync_sync_state_key", "revsync_sync_state_unique"]
