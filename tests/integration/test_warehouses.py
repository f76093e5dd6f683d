"""The warehouse side on every warehouse: paging through the changes, per-batch state, and
each warehouse's own macros found through adapter.dispatch."""

from __future__ import annotations

import datetime as dt

import pytest

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
    project.model(
        "accounts",
        "select cast(i as bigint) as account_id, "
        f"case when i <= {renamed} then 'Renamed ' else 'Account ' end || cast(i as varchar) as name "
        f"from generate_series(1, {rows}) as t(i)",
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
    names = {r["custom_field"]["cf_account_id"]: r["name"] for r in project.sandbox.emulator("freshsales").records("sales_accounts")}
    assert names["7"] == "Renamed 7" and names["8"] == "Account 8"


def test_the_scratch_changes_table_is_gone_after_a_push(project: Project) -> None:
    generated(project, 3)
    assert project.push().code == 0
    tables = project.query("select table_name from information_schema.tables where table_schema = 'revsync' order by table_name")
    assert [t["table_name"] for t in tables] == ["revsync_locks", "revsync_rejects", "revsync_runs", "revsync_sync_state"]


@pytest.mark.warehouses("postgres")
def test_postgres_uses_its_own_macros_through_dispatch(project: Project) -> None:
    generated(project, 3)
    assert project.push().code == 0
    indexes = project.query("select indexname from pg_indexes where schemaname = 'revsync'")
    assert sorted(i["indexname"] for i in indexes) == ["revsync_sync_state_key", "revsync_sync_state_unique"]
