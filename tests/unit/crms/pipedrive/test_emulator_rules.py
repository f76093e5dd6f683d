"""Rules of the Pipedrive emulator, asked directly (no socket): requests checked against the
v2 spec, search limited to searchable fields and to 10 requests per 2 s, declared fields."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dbt_revsync.crms.pipedrive import facts
from dbt_revsync.crms.pipedrive.emulator import DEFAULT_TOKEN, PipedriveEmulator
from dbt_revsync.sandbox import (
    DeclaredField,
    SandboxRequest,
    SandboxResponse,
    SchemaRefused,
)

ENVELOPE = {"success", "error", "error_info", "data", "additional_data"}


def pd(
    emulator: PipedriveEmulator, method: str, path: str, body: Any = None, query: dict[str, str] | None = None
) -> SandboxResponse:
    return emulator.handle(
        SandboxRequest(method, path, query=query or {}, headers={"x-api-token": DEFAULT_TOKEN}, json=body)
    )


def refused(response: SandboxResponse, *words: str) -> bool:
    body = response.body
    return (
        response.status == 400
        and set(body) == ENVELOPE
        and body["success"] is False
        and body["data"] is None
        and all(w in body["error"] for w in words)
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "words"),
    [
        ("POST", "/organizations", {"name": "Acme", "address": "Main St 1"}, ("body.address", "object")),
        ("POST", "/persons", {"name": "Ann", "postal_address": "Main St 1"}, ("body.postal_address", "object")),
        ("POST", "/persons", {"name": "Ann", "org_id": "1"}, ("body.org_id", "integer")),
        ("POST", "/persons", {"name": "Ann", "marketing_status": "maybe"}, ("body.marketing_status", "one of")),
        ("POST", "/persons", {"name": "Ann", "emails": ["ann@example.com"]}, ("body.emails[0]", "object")),
        ("POST", "/deals", {"title": "T", "value": "12"}, ("body.value", "number")),
        ("POST", "/deals", {"value": 12}, ("body.title is required",)),
        ("PATCH", "/deals/1", {"is_archived": "yes"}, ("body.is_archived", "boolean")),
        ("POST", "/organizations", {"name": "Acme", "address": {"value": 3}}, ("body.address.value", "string")),
        ("POST", "/organizations", {"name": None}, ("body.name", "null")),
    ],
)
def test_a_body_the_spec_refuses_is_answered_400_in_pipedrives_envelope(
    method: str, path: str, body: Any, words: tuple[str, ...]
) -> None:
    emulator = PipedriveEmulator()
    pd(emulator, "POST", "/deals", {"title": "Existing"})
    assert refused(pd(emulator, method, path, body), "Validation failed", *words)


@pytest.mark.parametrize(
    ("path", "query", "words"),
    [
        ("/persons/search", {"term": "ann", "fields": "job_title"}, ("fields", "one of")),
        ("/deals/search", {"term": "ann", "fields": "name"}, ("fields", "one of")),  # deals are searched by title
        ("/persons/search", {"term": "ann", "fields": "name,email"}, ("fields",)),  # one value of the enum
        ("/persons/search", {"term": "ann", "exact_match": "1"}, ("exact_match", "true or false")),
        ("/persons/search", {"term": "ann", "limit": "ten"}, ("limit", "integer")),
        ("/persons/search", {"fields": "name"}, ("term is required",)),
        ("/persons/search", {"term": "ann", "match": "exact"}, ("unknown query parameter 'match'",)),
        ("/organizations", {"sort_direction": "up"}, ("sort_direction",)),
        ("/personFields", {"limit": "x"}, ("limit", "integer")),
    ],
)
def test_query_parameters_the_spec_refuses_are_answered_400(
    path: str, query: dict[str, str], words: tuple[str, ...]
) -> None:
    assert refused(pd(PipedriveEmulator(), "GET", path, query=query), *words)


def test_search_reaches_only_searchable_fields() -> None:
    emulator = PipedriveEmulator()
    number = emulator.define_field("persons", "Legacy number", "int")
    code = emulator.define_field("persons", "Badge", "varchar")
    pd(emulator, "POST", "/persons", {"name": "Ann", "job_title": "Pilot", "custom_fields": {number: 42, code: "B-7"}})
    pd(emulator, "POST", "/organizations", {"name": "Acme", "address": {"value": "Main St 1"}})

    def found(path: str, term: str, fields: str | None = None) -> int:
        query = {"term": term, "exact_match": "true", **({"fields": fields} if fields else {})}
        answer = pd(emulator, "GET", path, query=query)
        assert answer.status == 200, answer.body
        return len(answer.body["data"]["items"])

    assert found("/persons/search", "Pilot") == 0  # job_title is not searchable
    assert found("/persons/search", "42", "custom_fields") == 0  # an int custom field is not searchable
    assert found("/persons/search", "B-7", "custom_fields") == 1
    assert found("/organizations/search", "main st 1", "address") == 1
    item = pd(emulator, "GET", "/organizations/search", query={"term": "Acme"}).body["data"]["items"][0]["item"]
    assert item["address"] == "Main St 1"  # the search answer gives the address as text


def test_search_is_limited_to_10_requests_per_2_seconds() -> None:
    emulator = PipedriveEmulator()
    answers = [pd(emulator, "GET", "/persons/search", query={"term": "ann"}) for _ in range(11)]
    assert [a.status for a in answers] == [200] * 10 + [429]
    assert answers[-1].body["success"] is False and answers[-1].body["error"] == "Request over limit"
    assert pd(emulator, "GET", "/persons").status == 200  # other requests are not held back by search's limit


def test_a_declared_custom_field_gets_a_40_hex_key_and_is_listed_with_its_type() -> None:
    emulator = PipedriveEmulator()
    emulator.declare_field(DeclaredField("deals", "Deal key", "varchar"))
    emulator.declare_field(DeclaredField("deals", "Score", "double"))
    listed = {f["field_name"]: f for f in pd(emulator, "GET", "/dealFields").body["data"]}
    assert listed["Deal key"]["field_type"] == "varchar" and listed["Score"]["field_type"] == "double"
    assert listed["Deal key"]["is_custom_field"] is True and re.fullmatch(
        r"[0-9a-f]{40}", listed["Deal key"]["field_code"]
    )
    answer = pd(emulator, "POST", "/deals", {"title": "T", "custom_fields": {listed["Score"]["field_code"]: 1.5}})
    assert answer.status == 200 and answer.body["data"]["custom_fields"][listed["Score"]["field_code"]] == 1.5


@pytest.mark.parametrize(
    ("declared", "words"),
    [
        (DeclaredField("deals", "Key", "varchar", unique=True), "cannot be unique"),
        (DeclaredField("deals", "Key", "string"), "no field type 'string'"),
        (DeclaredField("leads", "Key", "varchar"), "no object 'leads'"),
        (DeclaredField("deals", "Tier", "enum"), "needs options"),
        (DeclaredField("deals", "title", "varchar"), "already have a field named 'title'"),
    ],
)
def test_a_field_pipedrive_would_not_create_is_refused(declared: DeclaredField, words: str) -> None:
    with pytest.raises(SchemaRefused, match=re.escape(words)):
        PipedriveEmulator().declare_field(declared)


def test_the_searchable_custom_types_are_the_ones_pipedrive_documents() -> None:
    assert set(facts.SEARCHABLE_CUSTOM_TYPES) == {
        "address",
        "varchar",
        "text",
        "varchar_auto",
        "double",
        "monetary",
        "phone",
    }
