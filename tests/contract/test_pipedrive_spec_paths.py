"""Pipedrive's paths added with searchable keys, address objects and the search limit, judged by
its published v2 spec (openapi-core): the connector's traffic conforms, and every class of
request the spec refuses is refused by the emulator as Pipedrive refuses a bad request (400 and
its documented error envelope) -- with openapi-core agreeing the request was invalid, so the
emulator refuses nothing the spec allows and lets through nothing it refuses in these classes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dbt_revsync import matching
from dbt_revsync.crms.pipedrive.connector import PipedriveDestination
from dbt_revsync.crms.pipedrive.emulator import PipedriveEmulator
from dbt_revsync.sandbox import SandboxServer
from tests.contract.openapi_check import Contract, assert_conforms
from tests.contract.vendor_calls import PIPEDRIVE_TOKEN, call, change, client, connect, covered, outcome
from tests.factories import sync_spec
from tests.integration.recording import recording

AUTH = {"x-api-token": PIPEDRIVE_TOKEN}


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(emulators=["pipedrive"]) as running:
        yield running


def test_addresses_searches_and_the_search_limit_conform_to_pipedrives_spec(server: SandboxServer) -> None:
    server.reset()
    emulator = server.emulator("pipedrive")
    assert isinstance(emulator, PipedriveEmulator)
    emulator.define_field("persons", "Badge", "varchar")
    conn = connect(server, "pipedrive", PIPEDRIVE_TOKEN)
    pipedrive = PipedriveDestination(conn, client(conn))
    orgs = sync_spec(conn, "organizations", "upsert", {"name": "n", "address": "a"}, "address")
    people = sync_spec(
        conn, "persons", "upsert", {"name": "n", "Badge": "b", "postal_address": "p", "phone": "ph"}, "Badge"
    )
    with recording(emulator) as calls:
        for sync in (orgs, people):
            pipedrive.prepare(sync)
        first = matching.send(
            pipedrive, orgs, [change("upsert", "o1", {"name": "Acme", "address": "Main St 1"}, upsert="Main St 1")]
        )
        again = matching.send(
            pipedrive, orgs, [change("upsert", "o1", {"name": "Acme Inc", "address": "Main St 1"}, upsert="Main St 1")]
        )
        assert (outcome(first), outcome(again)) == ({"o1": "created"}, {"o1": "updated"})
        person = {
            "name": "Ann",
            "Badge": "B-7",
            "postal_address": {"value": "Harbour 2", "country": "NO"},
            "phone": "+3721",
        }
        assert outcome(matching.send(pipedrive, people, [change("upsert", "p1", person, upsert="B-7")])) == {
            "p1": "created"
        }
        assert outcome(matching.send(pipedrive, people, [change("upsert", "p1", person, upsert="B-7")])) == {
            "p1": "updated"
        }
        for _ in range(11):  # the 11th search in 2 s is over Pipedrive's search limit
            last = call(server, "GET", "/pipedrive/deals/search", AUTH, params={"term": "x", "fields": "title"})
        assert last.status_code == 429
    report = assert_conforms("pipedrive", calls.exchanges)
    assert report.checked == len(calls.exchanges)
    assert {
        "GET organizations.search 200",
        "GET persons.search 200",
        "POST organizations.create 200",
        "PATCH organizations.update 200",
        "POST persons.create 200",
        "PATCH persons.update 200",
        "GET deals.search 429",
    } <= covered(calls)
    sent = [e.body for e in calls.exchanges if e.request.method in ("POST", "PATCH")]
    assert {"name": "Acme", "address": {"value": "Main St 1"}} in sent


# Each class of request the spec refuses: (method, path, query, body).
REFUSED: dict[str, tuple[str, str, dict[str, str], Any]] = {
    "body field of the wrong type": ("POST", "/persons", {}, {"name": "Ann", "org_id": "12"}),
    "text where the spec wants an object": ("POST", "/organizations", {}, {"name": "Acme", "address": "Main St 1"}),
    "nested field of the wrong type": ("POST", "/persons", {}, {"name": "Ann", "postal_address": {"value": 1}}),
    "list item of the wrong type": ("POST", "/persons", {}, {"name": "Ann", "emails": ["ann@example.com"]}),
    "body value outside its enum": ("POST", "/persons", {}, {"name": "Ann", "marketing_status": "maybe"}),
    "required body field missing": ("POST", "/deals", {}, {"value": 10}),
    "null where the spec allows none": ("PATCH", "/organizations/1", {}, {"name": None}),
    "search field outside its enum": ("GET", "/persons/search", {"term": "ann", "fields": "job_title"}, None),
    "search fields given as a list": ("GET", "/persons/search", {"term": "ann", "fields": "name,email"}, None),
    "integer parameter not an integer": ("GET", "/organizations", {"limit": "many"}, None),
    "required parameter missing": ("GET", "/deals/search", {"fields": "title"}, None),
    "parameter value outside its enum": ("GET", "/deals", {"sort_direction": "up"}, None),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_request_the_spec_refuses_is_refused_as_pipedrive_does(server: SandboxServer, case: str) -> None:
    server.reset()
    emulator = server.emulator("pipedrive")
    call(server, "POST", "/pipedrive/organizations", AUTH, json={"name": "Existing"})
    method, path, query, body = REFUSED[case]
    with recording(emulator) as calls:
        answer = call(
            server,
            method,
            f"/pipedrive{path}",
            {**AUTH, "Content-Type": "application/json"},
            params=query,
            data=json.dumps(body) if body is not None else None,
        )
    assert answer.status_code == 400, answer.text
    assert answer.json()["success"] is False and answer.json()["error"].startswith("Validation failed")
    report = Contract("pipedrive").check(calls.exchanges)
    # openapi-core, the independent judge, finds the request invalid; the answer is Pipedrive's error envelope.
    assert [p for p in report.problems if p.startswith("request")], f"the spec allows {case!r}: {report.problems}"
    assert not [p for p in report.problems if p.startswith("answer")], report.problems


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"term": "ann", "exactmatch": "true"}, "unknown query parameter 'exactmatch'"),
        ({"term": "ann", "exact_match": "yes"}, "exact_match must be true or false"),
    ],
)
def test_the_emulator_is_stricter_than_the_spec_where_the_spec_is_loose(
    server: SandboxServer, query: dict[str, str], words: str
) -> None:
    """The spec does not forbid extra parameters, and openapi-core reads ``yes`` as a boolean;
    the emulator refuses both (the stricter reading: a misspelt ``exact_match`` would otherwise
    be ignored, and Pipedrive documents only ``true``/``false``)."""
    answer = call(server, "GET", "/pipedrive/persons/search", AUTH, params=query)
    assert answer.status_code == 400 and words in answer.json()["error"]
    assert set(answer.json()) == {"success", "error", "error_info", "data", "additional_data"}
