"""A big Salesforce push goes through Bulk API 2.0: 50,000 rows built by dbt, some failing."""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import Project
from tests.integration.salesforce_helpers import connect, emulator, of, routes, sf

pytestmark = pytest.mark.integration

ROWS = 50_000
# Every 1000th account has no Name: Salesforce fails those rows (REQUIRED_FIELD_MISSING).
SQL = (
    "select i as account_id, case when i % 1000 = 0 then null else 'Account ' || i end as name,"
    " 'City ' || (i % 97) as city from range(1, {rows} + 1) t(i)"
)
BLOCK = {
    "destination": "salesforce",
    "object": "Account",
    "primary_key": "account_id",
    "insert_mode": "upsert",
    "upsert_key": "Ext_Id__c",
    "fields": {"Name": "name", "BillingCity": "city", "Ext_Id__c": "account_id"},
}


def test_fifty_thousand_rows_go_through_bulk_jobs_with_state_and_rejects_right(project: Project) -> None:
    connect(
        project,
        access_token="{{ env_var('SF_TOKEN') }}",
        bulk_threshold=2000,
        bulk_batch_size=12500,
        bulk_poll_seconds=0.05,
    )
    project.model("sf_bulk", SQL.format(rows=ROWS), BLOCK)
    project.build()
    existing = sf(project, "POST", "sobjects/Account", {"Name": "Old three", "Ext_Id__c": "3"})["id"]
    twins = [sf(project, "POST", "sobjects/Account", {"Name": f"Twin {i}", "Ext_Id__c": "7"})["id"] for i in range(2)]
    started = time.monotonic()
    result = project.push()
    seconds = time.monotonic() - started
    assert result.code == 1, result.out + result.err

    used = routes(project)
    assert used["POST bulk.create_job"] == 4 and used["PUT bulk.upload"] == 4  # 12,500 rows a job
    assert "PATCH collections.upsert" not in used
    failed = {r["record_key"]: r for r in of(project.rejects(), "sf_bulk")}
    assert sorted(failed, key=int) == ["7", *(str(i) for i in range(1000, ROWS + 1, 1000))]
    assert {r["error_code"] for k, r in failed.items() if k != "7"} == {"REQUIRED_FIELD_MISSING"}
    assert failed["1000"]["error_message"].startswith("Required fields are missing: [Name]")
    assert failed["7"]["error_code"] == "DUPLICATE_EXTERNAL_ID" and all(
        t in failed["7"]["error_message"] for t in twins
    )

    held = {r["Ext_Id__c"]: r for r in emulator(project).records("Account")}
    state = {r["record_key"]: r["destination_id"] for r in of(project.state(), "sf_bulk")}
    assert len(state) == ROWS - 51
    assert all(state[key] == held[key]["Id"] for key in state)
    assert state["3"] == existing and held["3"]["Name"] == "Account 3"
    assert held["49999"]["BillingCity"] == f"City {49999 % 97}"
    run = of(project.runs(), "sf_bulk")[-1]
    assert (run["created"], run["updated"], run["rejected"], run["status"]) == (ROWS - 52, 1, 51, "rejected")
    print(f"\n50,000-row bulk push: {seconds:.1f}s, {run['requests']} requests")

    # Nothing changed: only the 51 rejected rows go again (few enough for sObject Collections).
    again = project.push()
    assert again.code == 1
    assert routes(project)["POST bulk.create_job"] == 4 and routes(project)["PATCH collections.upsert"] == 1
    assert of(project.runs(), "sf_bulk")[-1]["rejected"] == 51
