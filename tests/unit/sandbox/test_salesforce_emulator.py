"""The Salesforce emulator, over loopback HTTP."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dbt_revsync.crms.salesforce.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_TOKEN,
    SalesforceEmulator,
)
from dbt_revsync.sandbox import SandboxServer

V = "/services/data/v62.0"
CSV = {"Accept": "text/csv"}  # result sets answer only a request that asks for CSV


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(emulators=[SalesforceEmulator()]) as running:
        yield running


@pytest.fixture
def sf(server: SandboxServer) -> Iterator[Api]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {DEFAULT_TOKEN}"
        yield Api(session, f"{server.url}/salesforce")


class Api:
    def __init__(self, session: requests.Session, root: str) -> None:
        self.session, self.root = session, root

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.root}{V}{path}", json=body, timeout=10, **kwargs)

    def account(self, **fields: Any) -> str:
        answer = self.call("POST", "/sobjects/Account", fields)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])


def accounts(body: list[dict[str, Any]]) -> dict[str, Any]:
    return {"allOrNone": False, "records": [{"attributes": {"type": "Account"}, **r} for r in body]}


def test_bearer_token_is_checked_and_usage_is_reported(server: SandboxServer, sf: Api) -> None:
    answer = requests.get(f"{sf.root}{V}/limits", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert answer.status_code == 401
    assert answer.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    first = sf.call("GET", "/limits")
    second = sf.call("GET", "/limits")
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/100000"
    assert second.headers["Sforce-Limit-Info"] == "api-usage=2/100000"


def test_the_daily_allocation_ends_in_403_request_limit_exceeded(server: SandboxServer, sf: Api) -> None:
    server.emulator("salesforce").daily_allocation = 2  # type: ignore[attr-defined]
    assert [sf.call("GET", "/limits").status_code for _ in range(3)] == [200, 200, 403]
    last = sf.call("GET", "/limits")
    assert last.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert last.headers["Sforce-Limit-Info"] == "api-usage=2/2"


@pytest.mark.parametrize(
    "form, ok",
    [
        ({"grant_type": "refresh_token", "refresh_token": DEFAULT_REFRESH_TOKEN, "client_id": DEFAULT_CLIENT_ID}, True),
        (
            {
                "grant_type": "client_credentials",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
            },
            True,
        ),
        ({"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID, "client_secret": "wrong"}, False),
        ({"grant_type": "refresh_token", "refresh_token": "stale", "client_id": DEFAULT_CLIENT_ID}, False),
    ],
)
def test_tokens_come_from_the_oauth_endpoint(server: SandboxServer, sf: Api, form: dict[str, str], ok: bool) -> None:
    answer = requests.post(f"{sf.root}/services/oauth2/token", data=form, timeout=5)
    if not ok:
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
        return
    token = answer.json()["access_token"]
    assert (
        requests.get(f"{sf.root}{V}/limits", headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 200
    )
    server.emulator("salesforce").expire_tokens()  # type: ignore[attr-defined]
    assert (
        requests.get(f"{sf.root}{V}/limits", headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 401
    )


def test_collections_create_answers_ordered_save_results(sf: Api) -> None:
    answer = sf.call("POST", "/composite/sobjects", accounts([{"Name": "A"}, {"Website": "x.com"}, {"Name": "C"}]))
    results = answer.json()
    assert answer.status_code == 200 and [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"] == [
        {"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Name]", "fields": ["Name"]}
    ]
    assert results[0]["id"].startswith("001") and len(results[0]["id"]) == 18


def test_collections_refuse_more_than_200_records_and_unknown_fields(sf: Api) -> None:
    too_many = sf.call("POST", "/composite/sobjects", accounts([{"Name": str(i)} for i in range(201)]))
    assert too_many.status_code == 400 and too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    unknown = sf.call("POST", "/composite/sobjects", accounts([{"Name": "A", "Nope": 1}]))
    assert unknown.status_code == 400
    assert unknown.json() == [
        {"message": "No such column 'Nope' on sobject of type Account", "errorCode": "INVALID_FIELD"}
    ]


def test_collections_upsert_by_external_id_creates_updates_and_refuses_several_matches(sf: Api) -> None:
    first = sf.account(Name="One", Ext__c="1")
    twin_a, twin_b = sf.account(Name="Twin", Ext__c="2"), sf.account(Name="Twin too", Ext__c="2")
    answer = sf.call(
        "PATCH",
        "/composite/sobjects/Account/Ext__c",
        accounts(
            [{"Ext__c": "1", "Name": "One renamed"}, {"Ext__c": "2", "Name": "Who?"}, {"Ext__c": "3", "Name": "Three"}]
        ),
    )
    one, two, three = answer.json()
    assert one == {"id": first, "success": True, "errors": [], "created": False}
    assert two["success"] is False and two["errors"][0]["statusCode"] == "DUPLICATE_EXTERNAL_ID"
    assert f"[{twin_a}, {twin_b}]" in two["errors"][0]["message"]
    assert three["success"] is True and three["created"] is True
    assert sf.call("GET", f"/sobjects/Account/{first}").json()["Name"] == "One renamed"
    single = sf.call("PATCH", "/sobjects/Account/Ext__c/2", {"Name": "Who?"})
    assert single.status_code == 300 and len(single.json()) == 2


def test_collections_update_and_delete_by_id(sf: Api) -> None:
    kept = sf.account(Name="Kept")
    answer = sf.call(
        "PATCH",
        "/composite/sobjects",
        {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "id": kept, "Name": "Changed"},
                {"attributes": {"type": "Account"}, "id": "001000000000000AAA", "Name": "Ghost"},
            ],
        },
    )
    ok, ghost = answer.json()
    assert ok["success"] and ghost["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    gone = sf.call("DELETE", f"/composite/sobjects?ids={kept}&allOrNone=false").json()
    again = sf.call("DELETE", f"/composite/sobjects?ids={kept}&allOrNone=false").json()
    assert gone[0]["success"] and again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_query_finds_records_by_a_field(sf: Api) -> None:
    a = sf.account(Name="A", Ext__c="x'1")
    sf.account(Name="B", Ext__c="y")
    answer = sf.call("GET", "/query", params={"q": "SELECT Id, Ext__c FROM Account WHERE Ext__c IN ('x\\'1', 'z')"})
    assert answer.json()["records"] == [
        {"attributes": {"type": "Account", "url": f"{V}/sobjects/Account/{a}"}, "Id": a, "Ext__c": "x'1"}
    ]
    assert sf.call("GET", "/query", params={"q": "DELETE everything"}).json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_bulk_ingest_job_runs_through_its_states_and_reports_results(sf: Api) -> None:
    sf.account(Name="Old", Ext__c="1")
    job = sf.call(
        "POST",
        "/jobs/ingest",
        {
            "object": "Account",
            "operation": "upsert",
            "externalIdFieldName": "Ext__c",
            "contentType": "CSV",
            "lineEnding": "LF",
        },
    ).json()
    assert job["state"] == "Open"
    data = "Ext__c,Name\n1,Renamed\n2,New\n3,\n"
    upload = sf.call("PUT", f"/jobs/ingest/{job['id']}/batches", data=data, headers={"Content-Type": "text/csv"})
    assert upload.status_code == 201
    assert (
        sf.call("PATCH", f"/jobs/ingest/{job['id']}", {"state": "UploadComplete"}).json()["state"] == "UploadComplete"
    )
    states = [sf.call("GET", f"/jobs/ingest/{job['id']}").json() for _ in range(2)]
    assert [s["state"] for s in states] == ["InProgress", "JobComplete"]
    assert (states[1]["numberRecordsProcessed"], states[1]["numberRecordsFailed"]) == (3, 1)
    ok = list(
        csv.DictReader(io.StringIO(sf.call("GET", f"/jobs/ingest/{job['id']}/successfulResults/", headers=CSV).text))
    )
    failed = list(
        csv.DictReader(io.StringIO(sf.call("GET", f"/jobs/ingest/{job['id']}/failedResults/", headers=CSV).text))
    )
    assert [(r["Ext__c"], r["sf__Created"]) for r in ok] == [("1", "false"), ("2", "true")]
    assert failed == [
        {
            "sf__Id": "",
            "sf__Error": "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
            "Ext__c": "3",
            "Name": "",
        }
    ]


def test_a_bulk_job_with_an_unknown_column_fails_whole(sf: Api) -> None:
    job = sf.call("POST", "/jobs/ingest", {"object": "Account", "operation": "insert", "contentType": "CSV"}).json()
    sf.call("PUT", f"/jobs/ingest/{job['id']}/batches", data="Name,Bogus\nA,1\n", headers={"Content-Type": "text/csv"})
    sf.call("PATCH", f"/jobs/ingest/{job['id']}", {"state": "UploadComplete"})
    states = [sf.call("GET", f"/jobs/ingest/{job['id']}").json() for _ in range(2)]
    assert states[-1]["state"] == "Failed" and "Bogus" in states[-1]["errorMessage"]


def test_a_contact_names_its_account_by_external_id(sf: Api) -> None:
    account = sf.account(Name="Acme", Ext__c="A1")
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Contact"}, "LastName": "Ada", "Account": {"Ext__c": "A1"}},
            {"attributes": {"type": "Contact"}, "LastName": "Bob", "Account": {"Ext__c": "nope"}},
        ],
    }
    ok, missing = sf.call("POST", "/composite/sobjects", body).json()
    assert sf.call("GET", f"/sobjects/Contact/{ok['id']}").json()["AccountId"] == account
    assert missing["errors"][0] == {
        "statusCode": "INVALID_FIELD",
        "fields": ["Account"],
        "message": "Foreign key external ID: nope not found for field Ext__c in entity Account",
    }
    job = sf.call("POST", "/jobs/ingest", {"object": "Contact", "operation": "insert", "contentType": "CSV"}).json()
    sf.call(
        "PUT",
        f"/jobs/ingest/{job['id']}/batches",
        data="LastName,Account.Ext__c\nCy,A1\n",
        headers={"Content-Type": "text/csv"},
    )
    sf.call("PATCH", f"/jobs/ingest/{job['id']}", {"state": "UploadComplete"})
    assert [sf.call("GET", f"/jobs/ingest/{job['id']}").json()["state"] for _ in range(2)][-1] == "JobComplete"
    ok_rows = list(
        csv.DictReader(io.StringIO(sf.call("GET", f"/jobs/ingest/{job['id']}/successfulResults/", headers=CSV).text))
    )
    assert sf.call("GET", f"/sobjects/Contact/{ok_rows[0]['sf__Id']}").json()["AccountId"] == account


def test_a_custom_object_takes_collections_too(sf: Api) -> None:
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Invoice__c"}, "Name": "INV-1", "Amount__c": 10}]}
    [saved] = sf.call(
        "PATCH",
        "/composite/sobjects/Invoice__c/Number__c",
        {**body, "records": [{**body["records"][0], "Number__c": "1"}]},
    ).json()
    assert saved["success"] and saved["created"] and saved["id"].startswith("a00")
    assert sf.call("GET", "/sobjects/Unknown__c/describe").status_code == 404
