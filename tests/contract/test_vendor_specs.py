"""Every request the HubSpot and Pipedrive connectors send, and every answer their emulators
give, validated against the vendors' published OpenAPI specs (openapi-core).

The connectors are driven directly, through the shared matching step as the runner does
(no dbt: the integration tests do that, and validate their own traffic the same way),
through every path they have: creates, upserts, updates by id and by key, a remembered
record that is gone, deletes, partial failures, vendor errors, a 429 and a 401. Then the
emulators' other endpoints are called as a client would. A coverage check makes sure the
routes and statuses that matter were exercised, so the test cannot pass by checking nothing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from dbt_revsync import matching
from dbt_revsync.crms.hubspot.connector import HubSpotDestination
from dbt_revsync.crms.hubspot.emulator import HubSpotEmulator
from dbt_revsync.crms.pipedrive.connector import PipedriveDestination
from dbt_revsync.crms.pipedrive.emulator import PipedriveEmulator
from dbt_revsync.errors import FatalDestinationError
from dbt_revsync.sandbox import (
    RollingWindow,
    SandboxRequest,
    SandboxResponse,
    SandboxServer,
    json_response,
)
from tests.contract.openapi_check import Contract, assert_conforms
from tests.contract.vendor_calls import HUBSPOT_TOKEN, PIPEDRIVE_TOKEN, call, change, client, connect, covered, outcome
from tests.factories import sync_spec
from tests.integration.recording import Exchange, recording


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(emulators=["hubspot", "pipedrive"]) as running:
        yield running


# ---------------------------------------------------------------------------------- HubSpot


def test_hubspot_traffic_conforms_to_hubspots_spec(server: SandboxServer) -> None:
    server.reset()
    emulator = server.emulator("hubspot")
    assert isinstance(emulator, HubSpotEmulator)
    emulator.define_property("companies", "account_key", unique=True)
    conn = connect(server, "hubspot", HUBSPOT_TOKEN)
    hubspot = HubSpotDestination(conn, client(conn))
    people = {"email": "email", "firstname": "name"}
    with recording(emulator) as calls:
        created = hubspot.send(
            sync_spec(conn, "contacts", "append", people),
            [
                change("create", "1", {"email": "ann@example.com", "firstname": "Ann"}),
                change("create", "2", {"email": "ann@example.com", "firstname": "Twin"}),  # 207: the email is taken
            ],
        )
        assert outcome(created) == {"1": "created", "2": "rejected:CONFLICT"}
        ann = created.acked[0].destination_id
        upserted = hubspot.send(
            sync_spec(conn, "contacts", "upsert", people, "email"),
            [
                change("upsert", "1", {"email": "ann@example.com", "firstname": "Annie"}, remote_id=ann),  # by id: 200
                change("upsert", "3", {"email": "bob@example.com", "firstname": "Bob"}, upsert="bob@example.com"),
                change(
                    "upsert", "4", {"email": "nope", "firstname": "Bad"}, upsert="nope"
                ),  # by email: 400 for all, halved
                change(
                    "upsert",
                    "5",
                    {"email": "cy@example.com", "firstname": "Cy"},
                    remote_id="999999",
                    upsert="cy@example.com",
                ),
            ],
        )
        assert outcome(upserted) == {"1": "updated", "3": "created", "4": "rejected:VALIDATION_ERROR", "5": "created"}
        updated = hubspot.send(
            sync_spec(conn, "contacts", "update", people, "email"),
            [
                change("update", "3", {"firstname": "Bobby"}, upsert="bob@example.com"),
                change("update", "9", {"firstname": "Ghost"}, upsert="ghost@example.com"),  # 207: not found
            ],
        )
        assert outcome(updated) == {"3": "updated", "9": "rejected:OBJECT_NOT_FOUND"}
        by_id = hubspot.send(
            sync_spec(conn, "contacts", "update", people, "email"),
            [change("update", "1", {"firstname": "Ann"}, remote_id=ann)],
        )
        assert outcome(by_id) == {"1": "updated"}
        deleted = hubspot.send(
            sync_spec(conn, "contacts", "delete", {"email": "email"}, "email"),
            [
                change("delete", "3", {}, upsert="bob@example.com"),
                change("delete", "8", {}, upsert="gone@example.com"),  # batch/read 207: no such record
            ],
        )
        assert outcome(deleted) == {"3": "deleted", "8": "rejected:no_match"}
        mirrored = hubspot.send(
            sync_spec(conn, "contacts", "mirror", people, "email"), [change("delete", "1", {}, remote_id=ann)]
        )
        assert outcome(mirrored) == {"1": "deleted"}
        companies = hubspot.send(
            sync_spec(conn, "companies", "upsert", {"account_key": "k", "name": "n"}, "account_key"),
            [
                change("upsert", "c1", {"account_key": "A-1", "name": "Acme", "numberofemployees": 12}, upsert="A-1"),
            ],
        )
        assert outcome(companies) == {"c1": "created"}
        by_name = dataclasses.replace(sync_spec(conn, "contacts", "upsert", people, "email"), match_on=("firstname",))
        matched = matching.send(
            hubspot,
            by_name,
            [
                change("upsert", "m1", {"email": "cy.new@example.com", "firstname": "Cy"}, upsert="cy.new@example.com"),
            ],
        )  # match_on: found by search, updated by id
        assert outcome(matched) == {"m1": "updated"}
        deal_sync = sync_spec(conn, "deals", "append", {"dealname": "t", "amount": "a", "closedate": "c"})
        hubspot.prepare(deal_sync)  # the properties API: closedate is a datetime, converted to epoch ms
        deals = hubspot.send(
            deal_sync,
            [
                change("create", "d1", {"dealname": "Renewal", "amount": 10.5, "closedate": "2024-05-01T12:00:00"}),
            ],
        )
        assert outcome(deals) == {"d1": "created"}
        _hubspot_endpoints(server, emulator, deals.acked[0].destination_id)
    report = assert_conforms("hubspot", calls.exchanges)
    assert report.checked == len(calls.exchanges) >= 20 and report.undocumented == []
    assert {
        "POST contacts.batch_create 207",
        "POST contacts.batch_update 200",
        "POST contacts.batch_update 207",
        "POST contacts.batch_upsert 400",
        "POST contacts.batch_upsert 200",
        "POST contacts.batch_read 207",
        "GET deals.properties 200",
        "GET contacts.property 200",
        "GET contacts.property 404",
        "POST contacts.search 429",
        "POST contacts.batch_update 400",
        "GET contacts.read 200",
        "POST contacts.batch_read 200",
        "POST contacts.batch_archive 204",
        "POST companies.batch_upsert 200",
        "POST deals.batch_create 201",
        "POST contacts.create 201",
        "POST contacts.create 409",
        "GET deals.read 200",
        "PATCH deals.update 200",
        "DELETE deals.archive 204",
        "GET contacts.list 200",
        "POST contacts.search 200",
        "GET contacts.read 404",
        "GET contacts.list 401",
        "POST contacts.batch_create 429",
    } <= covered(calls)


def _hubspot_endpoints(server: SandboxServer, emulator: HubSpotEmulator, deal_id: str | None) -> None:
    auth = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
    root = "/hubspot/crm/v3/objects"
    for n in range(3):
        call(
            server,
            "POST",
            f"{root}/contacts",
            auth,
            json={"properties": {"email": f"p{n}@example.com"}, "associations": []},
        )
    assert (
        call(
            server,
            "POST",
            f"{root}/contacts",
            auth,
            json={"properties": {"email": "p0@example.com"}, "associations": []},
        ).status_code
        == 409
    )
    page = call(server, "GET", f"{root}/contacts", auth, params={"limit": 2}).json()
    assert call(
        server, "GET", f"{root}/contacts", auth, params={"limit": 2, "after": page["paging"]["next"]["after"]}
    ).ok
    search = {
        "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "p1@example.com"}]}],
        "properties": ["email"],
        "sorts": [],
        "limit": 10,
        "after": "0",
    }
    assert call(server, "POST", f"{root}/contacts/search", auth, json=search).json()["total"] == 1
    assert call(server, "GET", f"{root}/contacts/p2@example.com", auth, params={"idProperty": "email"}).ok
    assert call(server, "GET", f"{root}/contacts/123456789", auth).status_code == 404
    assert call(server, "GET", f"{root}/deals/{deal_id}", auth).ok
    assert call(server, "PATCH", f"{root}/deals/{deal_id}", auth, json={"properties": {"dealname": "Renamed"}}).ok
    assert call(server, "DELETE", f"{root}/deals/{deal_id}", auth).status_code == 204
    assert call(server, "GET", f"{root}/contacts", {"Authorization": "Bearer wrong"}).status_code == 401
    props = "/hubspot/crm/v3/properties/contacts"
    assert call(server, "GET", f"{props}/email", auth).json()["hasUniqueValue"] is False
    assert call(server, "GET", f"{props}/no_such_property", auth).status_code == 404
    by_email = {"inputs": [{"id": "p1@example.com", "idProperty": "email", "properties": {"firstname": "P"}}]}
    refused = call(server, "POST", f"{root}/contacts/batch/update", auth, json=by_email)
    assert (
        refused.status_code == 400
        and refused.json()["message"] == "Unable to perform update/upsert by non-unique 0-1 property"
    )
    p1 = call(
        server, "GET", f"{root}/contacts/p1@example.com", auth, params={"idProperty": "email", "properties": "email"}
    ).json()
    assert call(server, "DELETE", f"{root}/contacts/{p1['id']}", auth).status_code == 204
    assert (
        call(server, "GET", f"{root}/contacts/{p1['id']}", auth, params={"archived": "true"}).json()["archived"] is True
    )
    archived = call(
        server,
        "POST",
        f"{root}/contacts/batch/read",
        auth,
        params={"archived": "true"},
        json={"inputs": [{"id": p1["id"]}], "properties": ["email"], "propertiesWithHistory": []},
    )
    assert archived.status_code == 200 and archived.json()["results"][0]["properties"]["email"] == "p1@example.com"
    emulator.search_window = RollingWindow(limit=1, seconds=30, enforce=True)
    searched = [call(server, "POST", f"{root}/contacts/search", auth, json=search) for _ in range(2)]
    assert searched[-1].status_code == 429 and searched[-1].json()["policyName"] == "SECONDLY"
    assert not any(k.lower().startswith("x-hubspot-ratelimit") for k in searched[0].headers)
    emulator.search_window = RollingWindow(limit=4, seconds=1.0)
    emulator.window = RollingWindow(limit=1, seconds=30, enforce=True)
    inputs = {"inputs": [{"properties": {"email": "late@example.com"}, "associations": [], "objectWriteTraceId": "x"}]}
    statuses = [call(server, "POST", f"{root}/contacts/batch/create", auth, json=inputs).status_code for _ in range(2)]
    assert statuses[-1] == 429
    emulator.window = RollingWindow(limit=100, seconds=10)


# -------------------------------------------------------------------------------- Pipedrive


def test_pipedrive_traffic_conforms_to_pipedrives_spec(server: SandboxServer) -> None:
    server.reset()
    emulator = server.emulator("pipedrive")
    assert isinstance(emulator, PipedriveEmulator)
    account = emulator.define_field("organizations", "Account ID")
    emulator.define_field("organizations", "Regions", "set", ["EMEA", "APAC"])
    conn = connect(server, "pipedrive", PIPEDRIVE_TOKEN)
    pipedrive = PipedriveDestination(conn, client(conn))
    orgs = sync_spec(
        conn, "organizations", "upsert", {"name": "n", "custom_fields.Account ID": "id", "Regions": "r"}, "Account ID"
    )
    people = sync_spec(conn, "persons", "upsert", {"name": "n", "email": "e"}, "email")
    deals = sync_spec(conn, "deals", "append", {"title": "t", "value": "v"})
    with recording(emulator) as calls:
        for sync in (orgs, people, deals):
            pipedrive.prepare(sync)
        org = matching.send(
            pipedrive,
            orgs,
            [
                change(
                    "upsert",
                    "1",
                    {"name": "Acme", "custom_fields": {"Account ID": "A-1"}, "Regions": ["EMEA"]},
                    upsert="A-1",
                ),
                change(
                    "upsert", "2", {"custom_fields": {"Account ID": "A-2"}}, upsert="A-2"
                ),  # no name: rejected unsent
            ],
        )
        assert outcome(org) == {"1": "created", "2": "rejected:missing_required_field"}
        org_id = org.acked[0].destination_id
        again = matching.send(
            pipedrive,
            orgs,
            [
                change(
                    "upsert",
                    "1",
                    {"name": "Acme Inc", "custom_fields": {"Account ID": "A-1"}, "Regions": None},
                    upsert="A-1",
                ),  # found by search + read back
                change(
                    "upsert",
                    "3",
                    {"name": "Gone", "custom_fields": {"Account ID": "A-3"}},
                    remote_id="424242",
                    upsert="A-3",
                ),
            ],
        )
        assert outcome(again) == {"1": "updated", "3": "created"}
        person = matching.send(
            pipedrive,
            people,
            [
                change(
                    "upsert",
                    "p1",
                    {"name": "Ann", "email": "ann@example.com", "org_id": int(org_id or 0)},
                    upsert="ann@example.com",
                ),
                change(
                    "upsert", "p2", {"name": "Bob", "email": "bob@example.com", "org_id": 999}, upsert="bob@example.com"
                ),  # 400
            ],
        )
        assert outcome(person) == {"p1": "created", "p2": "rejected:400"}
        matched = matching.send(
            pipedrive,
            people,
            [change("upsert", "p1", {"name": "Ann B", "email": "ann@example.com"}, upsert="ann@example.com")],
        )
        assert outcome(matched) == {"p1": "updated"}
        deal = matching.send(pipedrive, deals, [change("create", "d1", {"title": "Renewal", "value": 100.5})])
        deal_id = deal.acked[0].destination_id
        updated = matching.send(
            pipedrive,
            sync_spec(conn, "deals", "update", {"title": "t"}, "title"),
            [
                change("update", "d1", {"title": "Renewal 2"}, remote_id=deal_id),
                change("update", "d9", {"title": "Nothing"}, upsert="No such deal"),
            ],
        )
        assert outcome(updated) == {"d1": "updated", "d9": "rejected:no_match"}
        removed = matching.send(
            pipedrive,
            sync_spec(conn, "deals", "delete", {"id": "id"}, "id"),
            [
                change("delete", "d1", {"id": deal_id}, upsert=deal_id),
                change("delete", "d1-again", {"id": deal_id}, upsert=deal_id),  # 404: already gone
            ],
        )
        assert outcome(removed) == {"d1": "deleted", "d1-again": "deleted"}
        _pipedrive_endpoints(server, emulator, account)
    report = assert_conforms("pipedrive", calls.exchanges)
    assert report.checked == len(calls.exchanges) >= 20
    assert {
        "GET organizationFields.list 200",
        "GET personFields.list 200",
        "GET dealFields.list 200",
        "GET organizations.search 200",
        "GET organizations.get 200",
        "POST organizations.create 200",
        "PATCH organizations.update 200",
        "PATCH organizations.update 404",
        "GET persons.search 200",
        "POST persons.create 200",
        "POST persons.create 400",
        "PATCH persons.update 200",
        "POST deals.create 200",
        "PATCH deals.update 200",
        "GET deals.search 200",
        "DELETE deals.delete 200",
        "DELETE deals.delete 404",
        "GET organizations.list 200",
        "GET organizations.list 401",
        "GET organizations.list 429",
    } <= covered(calls)


def _pipedrive_endpoints(server: SandboxServer, emulator: PipedriveEmulator, account: str) -> None:
    auth = {"x-api-token": PIPEDRIVE_TOKEN}
    page = call(server, "GET", "/pipedrive/organizations", auth, params={"limit": 1}).json()
    assert page["additional_data"]["next_cursor"]
    assert call(
        server,
        "GET",
        "/pipedrive/organizations",
        auth,
        params={"limit": 1, "cursor": page["additional_data"]["next_cursor"]},
    ).ok
    fields = call(server, "GET", "/pipedrive/organizationFields", auth, params={"limit": 2}).json()
    assert call(
        server,
        "GET",
        "/pipedrive/organizationFields",
        auth,
        params={"cursor": fields["additional_data"]["next_cursor"]},
    ).ok
    assert call(server, "GET", "/pipedrive/organizations", {"x-api-token": "wrong"}).status_code == 401
    bad = call(
        server,
        "POST",
        "/pipedrive/organizations",
        auth,
        json={"name": "X", "custom_fields": {account: None, "f" * 40: 1}},
    )
    assert bad.status_code == 400
    emulator.window = RollingWindow(limit=1, seconds=30, enforce=True)
    statuses = [call(server, "GET", "/pipedrive/organizations", auth).status_code for _ in range(2)]
    assert statuses[-1] == 429
    emulator.window = RollingWindow(limit=20, seconds=2)


def test_a_401_stops_the_sync(server: SandboxServer) -> None:
    conn = connect(server, "hubspot", "not-the-token")
    result = HubSpotDestination(conn, client(conn)).send(
        sync_spec(conn, "contacts", "append", {"email": "e"}), [change("create", "1", {"email": "a@example.com"})]
    )
    assert result.fatal and "401" in result.fatal and "not-the-token" not in result.fatal
    conn = connect(server, "pipedrive", "not-the-token")
    with pytest.raises(FatalDestinationError, match="401"):  # the field list is read first
        PipedriveDestination(conn, client(conn)).prepare(sync_spec(conn, "persons", "append", {"name": "n"}))


# ------------------------------------------------------------------ the check itself can fail


def _exchange(method: str, path: str, body: Any, status: int, answer: Any, headers: dict[str, str]) -> Exchange:
    request = SandboxRequest(
        method,
        path,
        headers={"Content-Type": "application/json", **headers},
        body=json.dumps(body).encode() if body is not None else b"",
    )
    return Exchange(request, json_response(status, answer))


def test_a_spec_violation_is_reported() -> None:
    bearer = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
    bad_request = _exchange(
        "POST",
        "/crm/v3/objects/contacts/batch/create",
        {"inputs": [{"properties": {"firstname": 12}}]},
        201,
        {
            "status": "COMPLETE",
            "results": [],
            "startedAt": "2024-01-01T00:00:00Z",
            "completedAt": "2024-01-01T00:00:00Z",
        },
        bearer,
    )
    problems = Contract("hubspot").check([bad_request]).problems
    assert len(problems) == 1 and "request" in problems[0] and "associations" in problems[0]
    bad_answer = _exchange(
        "GET",
        "/organizations/1",
        None,
        200,
        {"success": True, "data": {"id": "1", "name": "x"}},
        {"x-api-token": PIPEDRIVE_TOKEN},
    )
    problems = Contract("pipedrive").check([bad_answer]).problems
    assert len(problems) == 1 and "answer" in problems[0] and "integer" in problems[0]
    bad_error = Exchange(
        SandboxRequest("GET", "/organizations/1", headers={"x-api-token": PIPEDRIVE_TOKEN}),
        SandboxResponse(404, {"message": "not found"}),
    )
    report = Contract("pipedrive").check([bad_error])
    assert report.undocumented and "documented error envelope" in report.problems[0]
