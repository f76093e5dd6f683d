"""Each insert mode and each fetch mode, exactly as the design defines them, on real dbt + sandbox."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.integration.conftest import FRESHSALES_KEY, Project

pytestmark = [pytest.mark.integration, pytest.mark.warehouses, pytest.mark.spark]

BASE = {"destination": "freshsales", "object": "sales_accounts", "primary_key": "account_id"}
FIELDS = {"name": "name", "city": "city", "custom_field.cf_account_id": "account_id"}


def write(project: Project, block: dict[str, Any], rows: list[list[Any]], extra_columns: tuple[str, ...] = ()) -> None:
    header = ["account_id", "name", "city", *extra_columns]
    project.seed("raw", header, rows)
    project.model("accounts", "select * from {{ ref('raw') }}", block)
    project.build()


def crm(project: Project, method: str, path: str, body: Any = None) -> Any:
    url = f"{project.sandbox.url}/freshsales/{path}"
    answer = requests.request(
        method, url, json=body, headers={"Authorization": f"Token token={FRESHSALES_KEY}"}, timeout=10
    )
    answer.raise_for_status()
    return answer.json()


def held(project: Project) -> dict[str, dict[str, Any]]:
    return {
        r["custom_field"]["cf_account_id"]: r for r in project.sandbox.emulator("freshsales").records("sales_accounts")
    }


def routes(project: Project) -> dict[str, int]:
    return dict(project.sandbox.stats()["freshsales"]["by_route"])


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def test_append_creates_new_keys_only_and_never_updates(project: Project) -> None:
    block = {**BASE, "insert_mode": "append", "fields": FIELDS}
    write(project, block, [[1, "One", "Oslo"], [2, "Two", "Rome"]])
    assert project.push().code == 0
    write(project, block, [[1, "One renamed", "Oslo"], [2, "Two", "Rome"], [3, "Three", "Lima"]])
    before = routes(project)
    assert project.push().code == 0
    assert delta(before, routes(project)) == {"POST sales_accounts.create": 1}
    records = held(project)
    assert records["1"]["name"] == "One" and sorted(records) == ["1", "2", "3"]
    run = project.runs()[-1]
    assert (run["created"], run["updated"], run["unchanged"]) == (1, 0, 2)


def test_update_changes_existing_records_and_rejects_rows_without_a_match(project: Project) -> None:
    existing = crm(
        project,
        "POST",
        "sales_accounts",
        {"sales_account": {"name": "Old One", "custom_field": {"cf_account_id": "1"}}},
    )
    block = {**BASE, "insert_mode": "update", "upsert_key": "cf_account_id", "fields": FIELDS}
    write(project, block, [[1, "One", "Oslo"], [2, "Two", "Rome"]])
    result = project.push()
    assert result.code == 1
    records = held(project)
    assert sorted(records) == ["1"] and records["1"]["name"] == "One"
    assert records["1"]["id"] == existing["sales_account"]["id"]
    rejects = project.rejects()
    assert [(r["record_key"], r["error_code"]) for r in rejects] == [("2", "no_match")]
    assert "no record with cf_account_id" in rejects[0]["error_message"]
    # The remembered id is used from now on: no search, a direct PUT.
    write(project, block, [[1, "One again", "Oslo"], [2, "Two", "Rome"]])
    before = routes(project)
    project.push()
    changed = delta(before, routes(project))
    assert changed["PUT sales_accounts.update"] == 1
    assert changed.get("POST sales_account.filtered_search", 0) == 1  # only row 2 searches again
    assert held(project)["1"]["name"] == "One again"


def test_upsert_updates_when_matched_and_creates_otherwise(project: Project) -> None:
    crm(
        project,
        "POST",
        "sales_accounts",
        {"sales_account": {"name": "Pre-existing", "custom_field": {"cf_account_id": "1"}}},
    )
    block = {**BASE, "insert_mode": "upsert", "upsert_key": "cf_account_id", "fields": FIELDS}
    write(project, block, [[1, "One", "Oslo"], [2, "Two", "Rome"]])
    assert project.push().code == 0
    records = held(project)
    assert sorted(records) == ["1", "2"] and records["1"]["name"] == "One"
    run = project.runs()[-1]
    assert (run["created"], run["updated"]) == (1, 1)


def test_delete_removes_the_records_each_row_names(project: Project) -> None:
    ids = [
        crm(project, "POST", "sales_accounts", {"sales_account": {"name": f"Doomed {i}"}})["sales_account"]["id"]
        for i in range(3)
    ]
    keep = crm(project, "POST", "sales_accounts", {"sales_account": {"name": "Keep"}})["sales_account"]["id"]
    block = {**BASE, "insert_mode": "delete", "upsert_key": "id", "fields": {"id": "crm_id"}}
    project.seed(
        "raw",
        ["account_id", "crm_id"],
        [[i, crm_id] for i, crm_id in enumerate(ids)] + [[9, 99999999]],
        {"account_id": "bigint", "crm_id": "bigint"},
    )
    project.model("accounts", "select * from {{ ref('raw') }}", block)
    project.build()
    assert project.push().code == 0  # an id the CRM no longer knows is already deleted
    left = project.sandbox.emulator("freshsales").records("sales_accounts")
    assert [r["id"] for r in left] == [keep]
    before = routes(project)
    assert project.push().code == 0
    assert delta(before, routes(project)) == {}
    assert project.runs()[-1]["deleted"] == 0


def test_mirror_deletes_only_what_this_sync_created(project: Project) -> None:
    other = crm(
        project,
        "POST",
        "sales_accounts",
        {"sales_account": {"name": "Not ours", "custom_field": {"cf_account_id": "77"}}},
    )
    block = {**BASE, "insert_mode": "mirror", "upsert_key": "cf_account_id", "fields": FIELDS}
    write(project, block, [[1, "One", "Oslo"], [2, "Two", "Rome"]])
    assert project.push().code == 0
    write(project, block, [[2, "Two", "Rome"]])
    assert project.push().code == 0
    records = held(project)
    assert sorted(records) == ["2", "77"] and records["77"]["id"] == other["sales_account"]["id"]


def test_full_fetch_sends_only_rows_whose_mapped_values_changed(project: Project) -> None:
    block = {**BASE, "insert_mode": "upsert", "upsert_key": "cf_account_id", "fields": FIELDS}
    write(project, block, [[1, "One", "Oslo", "x"], [2, "Two", "Rome", "y"]], ("unmapped",))
    project.push()
    write(project, block, [[1, "One", "Oslo", "changed"], [2, "Two", "Paris", "y"]], ("unmapped",))
    before = routes(project)
    project.push()
    assert delta(before, routes(project)) == {"PUT sales_accounts.update": 1}  # the unmapped change stays home


def test_incremental_reads_only_rows_above_the_watermark(project: Project) -> None:
    block = {
        **BASE,
        "insert_mode": "upsert",
        "upsert_key": "cf_account_id",
        "fetch_mode": "incremental",
        "incremental_key": "updated_at",
        "fields": FIELDS,
    }
    rows = [[1, "One", "Oslo", "2024-01-01 10:00:00"], [2, "Two", "Rome", "2024-01-02 10:00:00"]]
    write(project, block, rows, ("updated_at",))
    assert project.push().code == 0
    assert project.runs()[-1]["watermark"].startswith("2024-01-02 10:00:00")
    # Row 1 changes without its key moving (invisible); row 3 arrives above the watermark.
    rows = [[1, "One changed", "Oslo", "2024-01-01 10:00:00"], rows[1], [3, "Three", "Lima", "2024-01-03 09:00:00"]]
    write(project, block, rows, ("updated_at",))
    before = routes(project)
    assert project.push().code == 0
    assert delta(before, routes(project)) == {"POST sales_accounts.upsert": 1}
    run = project.runs()[-1]
    assert run["read"] == 2  # the watermark row itself and the new one
    assert held(project)["1"]["name"] == "One" and "3" in held(project)
    # Moving row 1's key makes it visible; --full-refresh reads and resends everything.
    rows[0] = [1, "One changed", "Oslo", "2024-01-04 00:00:00"]
    write(project, block, rows, ("updated_at",))
    project.push()
    assert held(project)["1"]["name"] == "One changed"
    before = routes(project)
    project.push("--full-refresh")
    assert sum(delta(before, routes(project)).values()) == 3


def test_dry_run_and_plan_send_nothing_and_write_no_state(project: Project) -> None:
    block = {**BASE, "insert_mode": "upsert", "upsert_key": "cf_account_id", "fields": FIELDS}
    write(project, block, [[1, "One", "Oslo"], [2, "Two", "Rome"]])
    for args in (("plan",), ("push", "--dry-run")):
        result = project.revsync(*args)
        assert result.code == 0, result.err
        assert "would upsert 2" in result.out
        assert '"name": "One"' in result.out
    assert project.sandbox.stats()["freshsales"]["requests"] == 0
    assert project.state() == [] and project.runs() == []
