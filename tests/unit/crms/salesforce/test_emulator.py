"""The sandbox's Salesforce, over loopback: the rules it holds clients to, each as strict as the vendor's."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dbt_revsync.crms.salesforce.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TOKEN,
    SalesforceEmulator,
)
from dbt_revsync.sandbox import DeclaredField, SandboxServer, SchemaRefused

V = "/services/data/v62.0"
CSV = {"Accept": "text/csv"}


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(emulators=[SalesforceEmulator()]) as running:
        yield running


@pytest.fixture
def sf(server: SandboxServer) -> Iterator[Api]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {DEFAULT_TOKEN}"
        yield Api(session, f"{server.url}/salesforce", server.emulator("salesforce"))  # type: ignore[arg-type]


class Api:
    def __init__(self, session: requests.Session, root: str, emulator: SalesforceEmulator) -> None:
        self.session, self.root, self.emulator = session, root, emulator

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.root}{V}{path}", json=body, timeout=10, **kwargs)

    def account(self, **fields: Any) -> str:
        answer = self.call("POST", "/sobjects/Account", fields)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    def job(self, csv_text: str, operation: str = "insert", **extra: Any) -> str:
        job = self.call(
            "POST", "/jobs/ingest", {"object": "Account", "operation": operation, "contentType": "CSV", **extra}
        ).json()
        assert (
            self.call(
                "PUT", f"/jobs/ingest/{job['id']}/batches", data=csv_text, headers={"Content-Type": "text/csv"}
            ).status_code
            == 201
        )
        self.call("PATCH", f"/jobs/ingest/{job['id']}", {"state": "UploadComplete"})
        while self.call("GET", f"/jobs/ingest/{job['id']}").json()["state"] not in ("JobComplete", "Failed", "Aborted"):
            pass
        return str(job["id"])

    def results(self, job_id: str, kind: str) -> list[dict[str, str]]:
        answer = self.call("GET", f"/jobs/ingest/{job_id}/{kind}/", headers=CSV)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
        return list(csv.DictReader(io.StringIO(answer.text)))


def accounts(body: list[dict[str, Any]], all_or_none: bool = False) -> dict[str, Any]:
    return {"allOrNone": all_or_none, "records": [{"attributes": {"type": "Account"}, **r} for r in body]}


# ---- single records ----------------------------------------------------------------------------


def test_a_record_is_updated_deleted_and_found_by_external_id_one_at_a_time(sf: Api) -> None:
    record_id = sf.account(Name="One", Ext__c="E1")
    assert sf.call("GET", "/sobjects/Account/Ext__c/E1").json()["Id"] == record_id
    updated = sf.call("PATCH", f"/sobjects/Account/{record_id}", {"Website": "one.example"})
    assert updated.status_code == 204 and updated.content == b""
    assert sf.call("GET", f"/sobjects/Account/{record_id}").json()["Website"] == "one.example"
    bad = sf.call("PATCH", f"/sobjects/Account/{record_id}", {"Name": None})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert sf.call("DELETE", f"/sobjects/Account/{record_id}").status_code == 204
    again = sf.call("DELETE", f"/sobjects/Account/{record_id}")
    assert again.status_code == 404 and again.json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    assert sf.call("GET", "/sobjects/Account/Ext__c/E1").status_code == 404
    assert sf.call("GET", "/sobjects/Account/Website/x").json()[0]["errorCode"] == "INVALID_FIELD"  # not an External ID


# ---- sObject Collections: allOrNone -----------------------------------------------------------


def test_all_or_none_rolls_every_record_back_when_one_fails(sf: Api) -> None:
    kept = sf.account(Name="Kept", Ext__c="K")
    answer = sf.call(
        "POST", "/composite/sobjects", accounts([{"Name": "A"}, {"Website": "no-name.example"}], all_or_none=True)
    )
    first, second = answer.json()
    assert answer.status_code == 200
    assert first == {
        "id": None,
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid"
                " and the request was using AllOrNone header",
                "fields": [],
            }
        ],
    }
    assert second["success"] is False and second["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    upsert = sf.call(
        "PATCH",
        "/composite/sobjects/Account/Ext__c",
        accounts([{"Ext__c": "K", "Name": "Renamed"}, {"Ext__c": "N"}], True),
    )
    assert [r["success"] for r in upsert.json()] == [False, False]
    assert [r["Name"] for r in sf.emulator.records("Account")] == ["Kept"] and sf.emulator.records("Account")[0][
        "Id"
    ] == kept
    assert (
        sf.call("DELETE", f"/composite/sobjects?ids={kept},001000000000000AAA&allOrNone=true").json()[0]["success"]
        is False
    )
    assert len(sf.emulator.records("Account")) == 1


def test_collections_upsert_refuses_the_record_id_as_key(sf: Api) -> None:
    answer = sf.call("PATCH", "/composite/sobjects/Account/Id", accounts([{"Id": "001000000000001AAA", "Name": "A"}]))
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "INVALID_FIELD"


# ---- Bulk API 2.0 --------------------------------------------------------------------------------


def test_a_bulk_job_can_fail_after_committing_rows_and_reports_the_rest_unprocessed(sf: Api) -> None:
    sf.emulator.bulk_fail_after = 2
    job_id = sf.job("Name,Ext__c\nA,1\n,2\nC,3\nD,4\n")
    info = sf.call("GET", f"/jobs/ingest/{job_id}").json()
    assert info["state"] == "Failed" and info["numberRecordsProcessed"] == 2 and info["errorMessage"]
    assert [r["Ext__c"] for r in sf.results(job_id, "successfulResults")] == ["1"]
    assert [r["Ext__c"] for r in sf.results(job_id, "failedResults")] == ["2"]
    assert [r["Ext__c"] for r in sf.results(job_id, "unprocessedrecords")] == ["3", "4"]
    assert [r["Name"] for r in sf.emulator.records("Account")] == ["A"]
    assert sf.emulator.bulk_fail_after is None  # the knob acts on one job


def test_bulk_results_answer_only_a_request_that_asks_for_csv(sf: Api) -> None:
    job_id = sf.job("Name\nA\n")
    for accept in (None, "application/json", "*/*"):
        answer = sf.call(
            "GET", f"/jobs/ingest/{job_id}/successfulResults/", headers={"Accept": accept} if accept else {}
        )
        assert answer.status_code == 406 and answer.json()[0]["errorCode"] == "NOT_ACCEPTABLE"
    assert sf.call("GET", f"/jobs/ingest/{job_id}/unprocessedRecords/", headers=CSV).status_code == 200  # any case


def test_an_aborted_job_reports_every_row_unprocessed(sf: Api) -> None:
    job = sf.call("POST", "/jobs/ingest", {"object": "Account", "operation": "insert", "contentType": "CSV"}).json()
    sf.call("PUT", f"/jobs/ingest/{job['id']}/batches", data="Name\nA\nB\n", headers={"Content-Type": "text/csv"})
    assert sf.call("PATCH", f"/jobs/ingest/{job['id']}", {"state": "Aborted"}).json()["state"] == "Aborted"
    assert [r["Name"] for r in sf.results(job["id"], "unprocessedrecords")] == ["A", "B"]
    assert sf.results(job["id"], "successfulResults") == []


# ---- OAuth ---------------------------------------------------------------------------------------


def test_the_token_endpoint_takes_basic_client_authentication_and_answers_a_real_instance_url(
    server: SandboxServer, sf: Api
) -> None:
    basic = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
    answer = requests.post(
        f"{sf.root}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
        timeout=5,
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["instance_url"] == f"{server.url}/salesforce"
    assert (
        requests.get(
            f"{body['instance_url']}{V}/limits", headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=5
        ).status_code
        == 200
    )
    wrong = base64.b64encode(f"{DEFAULT_CLIENT_ID}:nope".encode()).decode()
    refused = requests.post(
        f"{sf.root}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {wrong}"},
        timeout=5,
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


# ---- query, describe, URI length -----------------------------------------------------------------


def test_a_query_answers_pages_of_2000_with_next_records_url(sf: Api) -> None:
    for i in range(4500):
        sf.emulator.add_record("Account", {"Name": f"A{i}"})
    first = sf.call("GET", "/query", params={"q": "SELECT Id, Name FROM Account"}).json()
    assert (first["totalSize"], first["done"], len(first["records"])) == (4500, False, 2000)
    second = requests.get(f"{sf.root}{first['nextRecordsUrl']}", headers=sf.session.headers, timeout=10).json()
    third = requests.get(f"{sf.root}{second['nextRecordsUrl']}", headers=sf.session.headers, timeout=10).json()
    assert (len(second["records"]), len(third["records"]), third["done"]) == (
        2000,
        500,
        True,
    ) and "nextRecordsUrl" not in third
    assert sf.call("GET", first["nextRecordsUrl"].replace(V, "").replace("-2000", "-7")).status_code == 400


def test_describe_answers_the_documented_field_attributes(sf: Api) -> None:
    sf.emulator.declare_field(DeclaredField("Account", "Code__c", "string", unique=True))
    fields = {f["name"]: f for f in sf.call("GET", "/sobjects/Account/describe").json()["fields"]}
    for field in fields.values():
        assert {
            "name",
            "type",
            "externalId",
            "idLookup",
            "createable",
            "updateable",
            "nillable",
            "unique",
            "length",
            "label",
            "custom",
            "referenceTo",
            "relationshipName",
            "soapType",
        } <= set(field)
    assert (fields["Id"]["type"], fields["Id"]["createable"], fields["Id"]["idLookup"]) == ("id", False, True)
    assert (fields["Name"]["nillable"], fields["Name"]["createable"]) == (False, True)
    assert (fields["Code__c"]["externalId"], fields["Code__c"]["unique"], fields["Code__c"]["idLookup"]) == (
        True,
        True,
        True,
    )
    assert fields["OwnerId"]["type"] == "reference" and fields["OwnerId"]["referenceTo"] == ["User"]


def test_a_uri_and_headers_past_16384_bytes_answer_414(sf: Api) -> None:
    def query(length: int) -> requests.Response:
        return sf.call("GET", "/query", params={"q": "SELECT Id FROM Account WHERE Name = '" + "a" * length + "'"})

    assert query(15_500).status_code == 200  # URI and headers together just under the limit
    answer = query(16_400)
    assert answer.status_code == 414 and answer.json()[0]["errorCode"] == "URI_TOO_LONG"


# ---- custom fields ----------------------------------------------------------------------------------


def test_a_declared_unique_field_is_an_external_id_that_refuses_duplicates(sf: Api) -> None:
    sf.emulator.declare_field(DeclaredField("Contact", "Name__c", "string", unique=True))
    sf.emulator.declare_field(DeclaredField("Contact", "Note__c", "string"))
    first = sf.call(
        "POST",
        "/composite/sobjects",
        {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "LastName": "A", "Name__c": "n1"},
                {"attributes": {"type": "Contact"}, "LastName": "B", "Name__c": "n1"},
            ],
        },
    ).json()
    assert first[0]["success"] and first[1]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    assert sf.call("GET", "/sobjects/Contact/Name__c/n1").json()["LastName"] == "A"
    assert (
        sf.call("PATCH", "/composite/sobjects/Contact/Note__c", {"records": []}).json()[0]["errorCode"]
        == "INVALID_FIELD"
    )


@pytest.mark.parametrize(
    "declared",
    [
        DeclaredField("Widget", "Name__c"),
        DeclaredField("Account", "Name"),
        DeclaredField("Account", "Bad__c", "blob"),
        DeclaredField("Account", "Flag__c", "boolean", unique=True),
    ],
)
def test_declaring_a_field_salesforce_would_not_take_is_refused(declared: DeclaredField) -> None:
    with pytest.raises(SchemaRefused):
        SalesforceEmulator().declare_field(declared)
