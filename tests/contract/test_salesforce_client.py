"""simple-salesforce (a third-party client that runs against the real Salesforce) judges the
sandbox's Salesforce: its own request building and answer parsing must accept every answer.

simple-salesforce always speaks https; the sandbox serves plain http on loopback, so the
client's session rewrites ``https://`` to ``http://`` (and the My Domain host of the OAuth
login to the sandbox) and changes nothing else.
"""

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
    DEFAULT_TOKEN,
    SalesforceEmulator,
)
from dbt_revsync.sandbox import SandboxServer

simple_salesforce = pytest.importorskip("simple_salesforce")

VERSION = "62.0"


class LoopbackSession(requests.Session):
    """Sends simple-salesforce's https requests to the loopback sandbox."""

    def __init__(self, server: SandboxServer) -> None:
        super().__init__()
        self.sandbox = server.url
        self.seen: list[tuple[str, str]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        target = (
            str(url)
            .replace("https://acme.my.salesforce.com", f"{self.sandbox}/salesforce")
            .replace("https://", "http://", 1)
        )
        self.seen.append((str(method), target))
        return super().request(method, target, *args, **kwargs)


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(emulators=[SalesforceEmulator()]) as running:
        yield running


@pytest.fixture
def sf(server: SandboxServer) -> Any:
    instance = server.url.split("://", 1)[1] + "/salesforce"
    return simple_salesforce.Salesforce(
        instance=instance, session_id=DEFAULT_TOKEN, version=VERSION, session=LoopbackSession(server)
    )


def emulator(server: SandboxServer) -> SalesforceEmulator:
    found = server.emulator("salesforce")
    assert isinstance(found, SalesforceEmulator)
    return found


def test_simple_salesforce_logs_in_by_client_credentials_and_follows_the_instance_url(server: SandboxServer) -> None:
    session = LoopbackSession(server)
    sf = simple_salesforce.Salesforce(
        consumer_key=DEFAULT_CLIENT_ID,
        consumer_secret=DEFAULT_CLIENT_SECRET,
        domain="acme.my",
        version=VERSION,
        session=session,
    )
    assert sf.sf_instance == server.url.split("://", 1)[1] + "/salesforce"
    assert sf.Contact.create({"LastName": "Lovelace"})["success"] is True
    assert session.seen[0] == ("POST", f"{server.url}/salesforce/services/oauth2/token")


def test_simple_salesforce_creates_finds_updates_and_deletes_a_contact(sf: Any) -> None:
    created = sf.Contact.create({"LastName": "Lovelace", "Email": "ada@example.com", "Ext_Id__c": "C-1"})
    assert created["success"] is True and created["id"].startswith("003")
    found = sf.Contact.get_by_custom_id("Ext_Id__c", "C-1")
    assert found["Id"] == created["id"] and found["LastName"] == "Lovelace"
    assert sf.Contact.update(created["id"], {"Title": "Countess"}) == 204
    assert sf.Contact.get(created["id"])["Title"] == "Countess"
    assert sf.Contact.delete(created["id"]) == 204
    with pytest.raises(simple_salesforce.exceptions.SalesforceResourceNotFound):
        sf.Contact.get_by_custom_id("Ext_Id__c", "C-1")


def test_simple_salesforce_reads_a_refusal_as_the_documented_error(sf: Any) -> None:
    with pytest.raises(simple_salesforce.exceptions.SalesforceMalformedRequest) as refused:
        sf.Contact.create({"Email": "nobody@example.com"})
    assert refused.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_simple_salesforce_query_all_follows_pages_of_2000(server: SandboxServer, sf: Any) -> None:
    for i in range(4100):
        emulator(server).add_record("Contact", {"LastName": f"C{i}"})
    answer = sf.query_all("SELECT Id, LastName FROM Contact")
    assert answer["totalSize"] == 4100 and len(answer["records"]) == 4100 and answer["done"] is True
    assert len({r["Id"] for r in answer["records"]}) == 4100
    first = sf.query("SELECT Id FROM Contact")
    assert len(first["records"]) == 2000 and first["nextRecordsUrl"]
    assert len(sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)["records"]) == 2000


def test_simple_salesforce_describes_an_object(sf: Any) -> None:
    described = sf.Contact.describe()
    fields = {f["name"]: f for f in described["fields"]}
    assert described["name"] == "Contact" and fields["LastName"]["nillable"] is False
    assert fields["Ext_Id__c"]["externalId"] is True and fields["Id"]["type"] == "id"
    assert {"Contact", "Account"} <= {o["name"] for o in sf.describe()["sobjects"]}


def test_simple_salesforce_bulk2_insert_and_results(server: SandboxServer, sf: Any) -> None:
    rows = [{"LastName": f"B{i}", "Ext_Id__c": str(i)} for i in range(5)] + [{"Ext_Id__c": "no-name"}]
    results = sf.bulk2.Contact.insert(records=rows, wait=0.01)
    assert results[0]["numberRecordsProcessed"] == 6 and results[0]["numberRecordsFailed"] == 1
    job_id = results[0]["job_id"]
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_successful_records(job_id))))
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_failed_records(job_id))))
    unprocessed = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_unprocessed_records(job_id))))
    assert sorted(r["Ext_Id__c"] for r in ok) == ["0", "1", "2", "3", "4"] and all(r["sf__Id"] for r in ok)
    assert failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING") and unprocessed == []


def test_simple_salesforce_bulk2_reports_a_job_that_failed_after_committing_rows(
    server: SandboxServer, sf: Any
) -> None:
    emulator(server).bulk_fail_after = 2
    with pytest.raises(simple_salesforce.exceptions.SalesforceOperationError):
        sf.bulk2.Contact.insert(records=[{"LastName": f"B{i}"} for i in range(4)], wait=0.01)
    (job_id,) = emulator(server).jobs
    unprocessed = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_unprocessed_records(job_id))))
    assert [r["LastName"] for r in unprocessed] == ["B2", "B3"] and len(emulator(server).records("Contact")) == 2
