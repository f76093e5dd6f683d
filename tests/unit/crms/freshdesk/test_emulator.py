"""The Freshdesk emulator's vendor rules: documented list filters, the filter API's language,
limits per plan, the indexing lag, declared custom fields."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from dbt_revsync.crms.freshdesk.emulator import DEFAULT_API_KEY, FreshdeskEmulator
from dbt_revsync.sandbox import (
    DeclaredField,
    SandboxRequest,
    SandboxResponse,
    SchemaRefused,
)

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{DEFAULT_API_KEY}:X".encode()).decode()}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def call(emulator: FreshdeskEmulator, method: str, path: str, body: Any = None, **query: Any) -> SandboxResponse:
    return emulator.handle(
        SandboxRequest(method, path, query={k: str(v) for k, v in query.items()}, headers=AUTH, json=body)
    )


def errors(answer: SandboxResponse) -> list[tuple[str, str]]:
    assert answer.status == 400, answer.body
    assert answer.body["description"] == "Validation failed"
    return [(e["field"], e["code"]) for e in answer.body["errors"]]


def names(answer: SandboxResponse) -> list[str]:
    assert answer.status == 200, answer.body
    records = answer.body["results"] if isinstance(answer.body, dict) else answer.body
    return [r["name"] for r in records]


@pytest.fixture
def fd() -> FreshdeskEmulator:
    emulator = FreshdeskEmulator()
    emulator.declare_field(DeclaredField("contacts", "cf_score", "number"))
    emulator.declare_field(DeclaredField("contacts", "cf_renewal", "date"))
    emulator.declare_field(DeclaredField("contacts", "sfid", "custom_text"))
    emulator.declare_field(DeclaredField("companies", "acct", "string"))
    call(
        emulator,
        "POST",
        "/contacts",
        {
            "name": "Ann",
            "email": "ann@x.io",
            "tags": ["vip"],
            "unique_external_id": "E1",
            "custom_fields": {"cf_score": 7, "cf_renewal": "2026-03-01", "sfid": "SF1"},
        },
    )
    call(
        emulator,
        "POST",
        "/contacts",
        {"name": "Bob", "mobile": "+47", "tags": ["new"], "custom_fields": {"cf_score": 3}},
    )
    call(emulator, "POST", "/companies", {"name": "Acme", "domains": ["acme.io"], "custom_fields": {"acct": "A-1"}})
    return emulator


def test_contact_list_takes_the_documented_filters_and_refuses_any_other(fd: FreshdeskEmulator) -> None:
    assert names(call(fd, "GET", "/contacts", email="ANN@x.io")) == ["Ann"]
    assert names(call(fd, "GET", "/contacts", mobile="+47")) == ["Bob"]
    assert names(call(fd, "GET", "/contacts", state="unverified")) == ["Ann", "Bob"]
    assert names(call(fd, "GET", "/contacts", _updated_since="2000-01-01T00:00:00Z")) == ["Ann", "Bob"]
    assert names(call(fd, "GET", "/contacts", _updated_since="2999-01-01T00:00:00Z")) == []
    refused = call(fd, "GET", "/contacts", unique_external_id="E1")
    assert refused.body == {
        "description": "Validation failed",
        "errors": [
            {"field": "unique_external_id", "message": "Unexpected/invalid field in request", "code": "invalid_field"}
        ],
    }
    assert errors(call(fd, "GET", "/contacts", state="gone")) == [("state", "invalid_value")]
    assert errors(call(fd, "GET", "/contacts", _updated_since="yesterday")) == [("_updated_since", "invalid_value")]
    assert errors(call(fd, "GET", "/companies", name="Acme")) == [("name", "invalid_field")]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("\"tag:'vip'\"", ["Ann"]),
        ("\"(tag:'vip' OR tag:'new') AND cf_score:>5\"", ["Ann"]),
        ("\"tag:'new' OR (email:'ann@x.io' AND cf_score:<7)\"", ["Ann", "Bob"]),
        ('"cf_score:<6"', ["Bob"]),
        ("\"created_at:>'2000-01-01' AND cf_renewal:<'2026-03-01'\"", ["Ann"]),
        ('"cf_renewal:null"', ["Bob"]),
        ("\"sfid:'sf1'\"", ["Ann"]),
        ("\"mobile:'+47' AND active:false\"", ["Bob"]),
    ],
)
def test_the_filter_api_language(fd: FreshdeskEmulator, query: str, found: list[str]) -> None:
    assert names(call(fd, "GET", "/search/contacts", query=query)) == found


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("\"name:'Ann'\"", ("name", "invalid_field")),  # not a documented search field
        ("\"unique_external_id:'E1'\"", ("unique_external_id", "invalid_field")),
        ("\"undeclared:'x'\"", ("undeclared", "invalid_field")),
        ("tag:'vip'", ("query", "invalid_value")),  # not in double quotes
        ("\"tag:>'vip'\"", ("query", "invalid_value")),  # :> on text
        ("\"cf_score:'7'\"", ("cf_score", "invalid_value")),  # a number field takes a number
        ("\"(tag:'vip'\"", ("query", "invalid_value")),
        ("\"tag:'vip' AND\"", ("query", "invalid_value")),
        ("\"tag='vip'\"", ("query", "invalid_value")),
        ("\"tag:'" + "x" * 520 + "'\"", ("query", "invalid_value")),
    ],
)
def test_the_filter_api_refuses_what_it_does_not_document(
    fd: FreshdeskEmulator, query: str, error: tuple[str, str]
) -> None:
    assert errors(call(fd, "GET", "/search/contacts", query=query)) == [error]


def test_company_search_takes_domain_and_custom_fields_only(fd: FreshdeskEmulator) -> None:
    assert names(call(fd, "GET", "/search/companies", query="\"domain:'acme.io'\"")) == ["Acme"]
    assert names(call(fd, "GET", "/search/companies", query="\"acct:'A-1'\"")) == ["Acme"]
    assert errors(call(fd, "GET", "/search/companies", query="\"name:'Acme'\"")) == [("name", "invalid_field")]


def test_a_write_reaches_the_filter_api_only_after_the_indexing_lag() -> None:
    clock = Clock()
    fd = FreshdeskEmulator(search_lag=120, clock=clock)
    created = call(fd, "POST", "/contacts", {"name": "Ann", "email": "ann@x.io", "tags": ["vip"]}).body
    assert names(call(fd, "GET", "/search/contacts", query="\"tag:'vip'\"")) == []
    assert names(call(fd, "GET", "/contacts", email="ann@x.io")) == ["Ann"]  # the list filter is immediate
    clock.now += 121
    assert names(call(fd, "GET", "/search/contacts", query="\"tag:'vip'\"")) == ["Ann"]
    call(fd, "PUT", f"/contacts/{created['id']}", {"tags": ["gold"]})
    assert names(call(fd, "GET", "/search/contacts", query="\"tag:'vip'\"")) == [
        "Ann"
    ]  # the old version, still indexed
    clock.now += 121
    assert names(call(fd, "GET", "/search/contacts", query="\"tag:'gold'\"")) == ["Ann"]


@pytest.mark.parametrize(("plan", "total", "lookups"), [("growth", 200, 20), ("pro", 400, 100), ("trial", 50, 50)])
def test_vendor_limits_per_plan_with_the_contacts_list_sub_limit(plan: str, total: int, lookups: int) -> None:
    fd = FreshdeskEmulator(plan=plan, clock=Clock())
    fd.set_limits(fd.vendor_limits)
    answers = [call(fd, "GET", "/contacts") for _ in range(lookups + 1)]
    assert {a.status for a in answers[:-1]} == {200} and answers[-1].status == 429
    assert answers[-1].body == {
        "code": "rate_limit_exceeded",
        "message": "You have exceeded the limit of requests per minute",
    }
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert (
        answers[0].headers["X-Ratelimit-Total"] == str(total)
        and answers[0].headers["X-Ratelimit-Used-CurrentRequest"] == "1"
    )
    assert call(fd, "GET", "/search/contacts", query="\"tag:'x'\"").status == 429  # the filter API shares the budget
    rest = [
        call(fd, "POST", "/contacts", {"name": f"P{i}", "email": f"p{i}@x.io"})
        for i in range(max(total - lookups - 2, 0))
    ]
    assert all(a.status == 201 for a in rest) and (not rest or rest[-1].headers["X-Ratelimit-Remaining"] == "0")
    over = call(fd, "POST", "/contacts", {"name": "Late", "email": "late@x.io"})
    assert (
        over.status == 429 and over.headers["X-Ratelimit-Used-CurrentRequest"] == "0" and "Retry-After" in over.headers
    )


def test_without_vendor_limits_no_sub_limit_applies() -> None:
    fd = FreshdeskEmulator(clock=Clock())
    assert {call(fd, "GET", "/contacts").status for _ in range(30)} == {200}


def test_declared_custom_fields_are_listed_typed_and_checked(fd: FreshdeskEmulator) -> None:
    listed = {f["name"]: f["type"] for f in call(fd, "GET", "/contact_fields").body}
    assert (listed["cf_score"], listed["cf_renewal"], listed["sfid"]) == ("custom_number", "custom_date", "custom_text")
    assert errors(
        call(fd, "POST", "/contacts", {"name": "C", "email": "c@x.io", "custom_fields": {"cf_score": "high"}})
    ) == [("cf_score", "datatype_mismatch")]
    assert errors(
        call(fd, "POST", "/contacts", {"name": "C", "email": "c@x.io", "custom_fields": {"cf_renewal": "01/03/2026"}})
    ) == [("cf_renewal", "datatype_mismatch")]
    assert errors(call(fd, "POST", "/contacts", {"name": "C", "email": "c@x.io", "custom_fields": {"nope": "x"}})) == [
        ("nope", "invalid_field")
    ]
    assert (
        call(fd, "POST", "/contacts", {"name": "C", "email": "c@x.io", "custom_fields": {"cf_score": None}}).status
        == 201
    )


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (DeclaredField("tickets", "cf_x"), "no object 'tickets'"),
        (DeclaredField("contacts", "Bad Name"), "not a Freshdesk field name"),
        (DeclaredField("contacts", "email"), "standard contacts field"),
        (DeclaredField("contacts", "cf_x", "geo"), "unknown Freshdesk field type 'geo'"),
        (DeclaredField("contacts", "cf_x", unique=True), "cannot be unique"),
        (DeclaredField("contacts", "cf_score", "date"), "already a custom_number field"),
    ],
)
def test_declare_field_refuses_what_freshdesk_has_no_field_for(
    fd: FreshdeskEmulator, declared: DeclaredField, message: str
) -> None:
    with pytest.raises(SchemaRefused, match=message):
        fd.declare_field(declared)
    fd.declare_field(DeclaredField("contact", "cf_score", "custom_number"))  # the same again: accepted


# -- the trash -------------------------------------------------------------------------


def trashed_ann(emulator: FreshdeskEmulator) -> int:
    ann = call(emulator, "POST", "/contacts", {"name": "Ann", "email": "ann@x.io", "unique_external_id": "E1"}).body
    assert call(emulator, "DELETE", f"/contacts/{ann['id']}").status == 204
    return int(ann["id"])


def test_a_trashed_contact_keeps_its_email_and_external_id_reserved_with_a_409() -> None:
    emulator = FreshdeskEmulator()
    trashed_ann(emulator)
    answer = call(emulator, "POST", "/contacts", {"name": "Ann", "email": "ANN@x.io", "unique_external_id": "e1"})
    assert answer.status == 409 and answer.body["description"] == "Validation failed"
    assert [(e["field"], e["code"], e["message"]) for e in answer.body["errors"]] == [
        ("email", "duplicate_value", "It should be a unique value"),
        ("unique_external_id", "duplicate_value", "It should be a unique value"),
    ]
    assert all("additional_info" not in e for e in answer.body["errors"]), (
        "the docs do not show the holder's id: left out by default"
    )


def test_duplicate_ids_names_the_holder_in_additional_info() -> None:
    emulator = FreshdeskEmulator(duplicate_ids=True)
    ann = trashed_ann(emulator)
    answer = call(emulator, "POST", "/contacts", {"name": "Ann", "email": "ann@x.io"})
    assert answer.status == 409
    assert answer.body["errors"] == [
        {
            "field": "email",
            "additional_info": {"user_id": ann},
            "message": "It should be a unique value",
            "code": "duplicate_value",
        }
    ]


def test_field_errors_come_before_duplicates_as_a_400() -> None:
    emulator = FreshdeskEmulator()
    trashed_ann(emulator)
    assert errors(call(emulator, "POST", "/contacts", {"email": "ann@x.io"})) == [("name", "missing_field")]


def test_the_trash_shows_only_through_state_deleted_and_the_record_itself() -> None:
    emulator = FreshdeskEmulator()
    ann = trashed_ann(emulator)
    assert call(emulator, "GET", "/contacts").body == []
    assert call(emulator, "GET", "/contacts", email="ann@x.io").body == []
    assert names(call(emulator, "GET", "/contacts", state="deleted", email="ann@x.io")) == ["Ann"]
    assert call(emulator, "GET", "/search/contacts", query="\"email:'ann@x.io'\"").body["results"] == []
    assert call(emulator, "GET", f"/contacts/{ann}").body["deleted"] is True
    assert call(emulator, "PUT", f"/contacts/{ann}", {"name": "Ann B"}).status == 404  # no update until restored


def test_restore_brings_a_trashed_contact_back_with_204_and_refuses_a_live_one() -> None:
    emulator = FreshdeskEmulator()
    ann = trashed_ann(emulator)
    restored = call(emulator, "PUT", f"/contacts/{ann}/restore")
    assert restored.status == 204 and restored.body is None
    assert call(emulator, "GET", f"/contacts/{ann}").body["deleted"] is False
    assert names(call(emulator, "GET", "/contacts", email="ann@x.io")) == ["Ann"]
    assert call(emulator, "PUT", f"/contacts/{ann}", {"name": "Ann B"}).status == 200
    assert errors(call(emulator, "PUT", f"/contacts/{ann}/restore")) == [("id", "invalid_value")]
    assert call(emulator, "PUT", "/contacts/999/restore").status == 404


def test_hard_delete_needs_force_for_a_contact_not_in_the_trash_and_frees_its_email() -> None:
    emulator = FreshdeskEmulator()
    live = call(emulator, "POST", "/contacts", {"name": "Bob", "email": "bob@x.io"}).body["id"]
    assert errors(call(emulator, "DELETE", f"/contacts/{live}/hard_delete")) == [("force", "missing_field")]
    assert errors(call(emulator, "DELETE", f"/contacts/{live}/hard_delete", force="yes")) == [
        ("force", "datatype_mismatch")
    ]
    assert call(emulator, "DELETE", f"/contacts/{live}/hard_delete", force="true").status == 204
    ann = trashed_ann(emulator)
    assert call(emulator, "DELETE", f"/contacts/{ann}/hard_delete").status == 204
    assert call(emulator, "GET", f"/contacts/{ann}").status == 404
    assert call(emulator, "POST", "/contacts", {"name": "Ann", "email": "ann@x.io"}).status == 201


def test_a_company_delete_is_permanent_and_its_contacts_lose_the_company() -> None:
    emulator = FreshdeskEmulator()
    acme = call(emulator, "POST", "/companies", {"name": "Acme"}).body["id"]
    ann = call(emulator, "POST", "/contacts", {"name": "Ann", "email": "ann@x.io", "company_id": acme}).body["id"]
    assert call(emulator, "DELETE", f"/companies/{acme}").status == 204
    assert call(emulator, "GET", f"/companies/{acme}").status == 404
    assert call(emulator, "GET", f"/contacts/{ann}").body["company_id"] is None
    assert call(emulator, "POST", "/companies", {"name": "Acme"}).status == 201  # the name is free again
