"""Salesforce end to end: dbt build -> dbt-revsync push -> the sandbox's Salesforce, per insert mode."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from dbt_revsync.sandbox.salesforce import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, DEFAULT_TOKEN
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

V = "services/data/v62.0"
ACCOUNT = {"destination": "salesforce", "object": "Account", "primary_key": "account_id",
           "fields": {"Name": "name", "BillingCity": "city", "Ext_Id__c": "account_id"}}


def connect(project: Project, **settings: Any) -> None:
    base = {"type": "salesforce", "base_url": f"{project.sandbox.url}/salesforce/{V}", "max_concurrency": 2}
    if not settings:
        settings = {"access_token": "{{ env_var('SF_TOKEN') }}"}
    project.env["SF_TOKEN"] = DEFAULT_TOKEN
    project.env["SF_SECRET"] = DEFAULT_CLIENT_SECRET
    project.connections({"salesforce": {**base, **settings}})


def accounts_model(project: Project, block: dict[str, Any], rows: list[list[Any]]) -> None:
    project.seed("raw_accounts", ["account_id", "name", "city"], rows, {"account_id": "double"})
    project.model("sf_accounts", "select * from {{ ref('raw_accounts') }}", block)
    project.build()


def emulator(project: Project) -> Any:
    return project.sandbox.emulator("salesforce")


def held(project: Project, sobject: str = "Account", key: str = "Ext_Id__c") -> dict[str, dict[str, Any]]:
    return {str(r.get(key)): r for r in emulator(project).records(sobject)}


def sf(project: Project, method: str, path: str, body: Any = None) -> Any:
    answer = requests.request(method, f"{project.sandbox.url}/salesforce/{V}/{path}", json=body,
                              headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=10)
    assert answer.status_code < 300, answer.text
    return answer.json()


def routes(project: Project) -> dict[str, int]:
    return dict(project.sandbox.stats()["salesforce"]["by_route"])


def test_upsert_through_collections_with_saveresult_rejects_and_multiple_matches(project: Project) -> None:
    connect(project)
    twins = [sf(project, "POST", "sobjects/Account", {"Name": f"Twin {i}", "Ext_Id__c": "7"})["id"] for i in range(2)]
    rows = [[i, f"Account {i}", "Oslo"] for i in range(1, 451)]
    rows[4][1] = None  # Name is required: a REQUIRED_FIELD_MISSING reject
    rows[6][1] = "Seven"  # account 7 matches two records: rejected, never guessed
    accounts_model(project, {**ACCOUNT, "insert_mode": "upsert", "upsert_key": "Ext_Id__c"}, rows)
    result = project.push()
    assert result.code == 1
    assert routes(project)["PATCH collections.upsert"] == 3  # 450 rows, 200 a request
    rejects = {r["record_key"]: r for r in project.rejects()}
    assert sorted(rejects) == ["5", "7"]
    assert rejects["5"]["error_code"] == "REQUIRED_FIELD_MISSING" and "[Name]" in rejects["5"]["error_message"]
    assert rejects["7"]["error_code"] == "DUPLICATE_EXTERNAL_ID"
    assert all(twin in rejects["7"]["error_message"] for twin in twins)
    records = held(project)
    assert len(records) == 448 + 1 and records["12"]["Name"] == "Account 12"  # the twins share key 7
    assert "12.0" not in records  # a double key travels as its text, 12
    state = {r["record_key"]: r["destination_id"] for r in project.state()}
    assert len(state) == 448 and state["12"] == records["12"]["Id"]
    run = project.runs()[-1]
    assert (run["created"], run["updated"], run["rejected"]) == (448, 0, 2)
    # Unchanged rows send nothing; a changed one is one request.
    rows[11][2] = "Bergen"
    accounts_model(project, {**ACCOUNT, "insert_mode": "upsert", "upsert_key": "Ext_Id__c"}, rows)
    before = routes(project)["PATCH collections.upsert"]
    project.push()
    assert routes(project)["PATCH collections.upsert"] - before == 1  # only 12 and the two rejected rows
    assert held(project)["12"]["BillingCity"] == "Bergen"


def test_append_creates_and_contacts_carry_their_own_rejects(project: Project) -> None:
    connect(project)
    project.seed("raw_contacts", ["contact_id", "last_name", "email"],
                 [[1, "Lovelace", "ada@example.com"], [2, "Hopper", "not-an-email"], [3, "Turing", "alan@example.com"]])
    block = {"destination": "salesforce", "object": "Contact", "primary_key": "contact_id", "insert_mode": "append",
             "fields": {"LastName": "last_name", "Email": "email", "Ext_Id__c": "contact_id"}}
    project.model("sf_contacts", "select * from {{ ref('raw_contacts') }}", block)
    project.build()
    assert project.push().code == 1
    [reject] = project.rejects()
    assert (reject["record_key"], reject["error_code"], reject["operation"]) == ("2", "INVALID_EMAIL_ADDRESS", "create")
    assert "not-an-email" in reject["error_message"]
    assert sorted(held(project, "Contact")) == ["1", "3"]
    assert routes(project) == {"POST collections.create": 1}


def test_update_finds_records_by_external_id_and_rejects_none_or_several(project: Project) -> None:
    connect(project)
    one = sf(project, "POST", "sobjects/Account", {"Name": "Old one", "Ext_Id__c": "1"})["id"]
    for i in range(2):
        sf(project, "POST", "sobjects/Account", {"Name": f"Twin {i}", "Ext_Id__c": "3"})
    accounts_model(project, {**ACCOUNT, "insert_mode": "update", "upsert_key": "Ext_Id__c"},
                   [[1, "One", "Oslo"], [2, "Two", "Rome"], [3, "Three", "Lima"]])
    assert project.push().code == 1
    assert {r["record_key"]: r["error_code"] for r in project.rejects()} == {"2": "no_match", "3": "multiple_matches"}
    assert held(project)["1"]["Name"] == "One" and held(project)["1"]["Id"] == one
    assert [r["destination_id"] for r in project.state()] == [one]
    assert routes(project)["PATCH collections.update"] == 1 and routes(project)["GET query"] == 1


def test_mirror_deletes_what_it_created_and_delete_mode_removes_named_records(project: Project) -> None:
    connect(project)
    block = {**ACCOUNT, "insert_mode": "mirror", "upsert_key": "Ext_Id__c"}
    accounts_model(project, block, [[1, "One", "Oslo"], [2, "Two", "Rome"], [3, "Three", "Lima"]])
    assert project.push().code == 0
    accounts_model(project, block, [[2, "Two", "Rome"]])
    assert project.push().code == 0
    assert sorted(held(project)) == ["2"]
    assert routes(project)["DELETE collections.delete"] == 1
    # delete mode: each row names a record by Id; an id already gone counts as deleted.
    doomed = [sf(project, "POST", "sobjects/Account", {"Name": f"Doomed {i}"})["id"] for i in range(2)]
    sf(project, "DELETE", f"composite/sobjects?ids={doomed[1]}")
    project.seed("raw_doomed", ["account_id", "crm_id"], [[1, doomed[0]], [2, doomed[1]]])
    project.model("sf_doomed", "select * from {{ ref('raw_doomed') }}",
                  {"destination": "salesforce", "object": "Account", "primary_key": "account_id",
                   "insert_mode": "delete", "upsert_key": "Id", "fields": {"Id": "crm_id"}})
    project.build()
    assert project.push("--select", "sf_doomed").code == 0
    assert all(r["Id"] not in doomed for r in emulator(project).records("Account"))


def test_an_expired_token_is_renewed_once_with_the_refresh_token(project: Project) -> None:
    connect(project, access_token="{{ env_var('SF_TOKEN') }}", refresh_token=DEFAULT_REFRESH_TOKEN, client_id=DEFAULT_CLIENT_ID)
    emulator(project).expire_tokens()
    accounts_model(project, {**ACCOUNT, "insert_mode": "upsert", "upsert_key": "Ext_Id__c"}, [[1, "One", "Oslo"]])
    result = project.push()
    assert result.code == 0, result.out + result.err
    assert sorted(held(project)) == ["1"]
    assert routes(project)["POST oauth2.token"] == 1
    assert project.sandbox.stats()["salesforce"]["by_status"]["401"] == 1


def test_client_credentials_fetch_the_first_token(project: Project) -> None:
    connect(project, client_id=DEFAULT_CLIENT_ID, client_secret="{{ env_var('SF_SECRET') }}")
    accounts_model(project, {**ACCOUNT, "insert_mode": "upsert", "upsert_key": "Ext_Id__c"}, [[1, "One", "Oslo"]])
    result = project.push()
    assert result.code == 0 and sorted(held(project)) == ["1"]
    assert DEFAULT_CLIENT_SECRET not in result.out + result.err


def test_a_token_refused_twice_is_fatal_and_sends_nothing_more(project: Project) -> None:
    connect(project)  # an access token alone: nothing to renew it with
    emulator(project).expire_tokens()
    accounts_model(project, {**ACCOUNT, "insert_mode": "upsert", "upsert_key": "Ext_Id__c"}, [[1, "One", "Oslo"], [2, "Two", "Rome"]])
    result = project.push()
    assert result.code == 1
    assert project.runs()[-1]["status"] == "failed" and "401" in project.runs()[-1]["message"]
    assert project.state() == [] and held(project) == {}
    assert DEFAULT_TOKEN not in result.out + result.err + project.runs()[-1]["message"]


def test_the_push_stops_cleanly_before_the_daily_allocation_runs_out(project: Project) -> None:
    connect(project, access_token="{{ env_var('SF_TOKEN') }}", api_reserve=3)
    emulator(project).daily_allocation = 6  # each 200-row request costs one; 3 are kept in reserve
    rows = [[i, f"Account {i}", "Oslo"] for i in range(1, 1001)]
    accounts_model(project, {**ACCOUNT, "insert_mode": "upsert", "upsert_key": "Ext_Id__c"}, rows)
    result = project.push()
    assert result.code == 1
    run = project.runs()[-1]
    assert run["status"] == "failed" and "daily API allocation" in run["message"]
    assert emulator(project).api_usage <= 6 - 3 + 1  # never ran into REQUEST_LIMIT_EXCEEDED
    assert "403" not in project.sandbox.stats()["salesforce"]["by_status"]
    sent = len(project.state())
    assert 0 < sent < 1000 and sent == len(held(project))  # what went is committed, nothing lost
    emulator(project).daily_allocation = 100_000  # a new day
    assert project.push().code == 0
    assert len(project.state()) == 1000 == len(held(project))
