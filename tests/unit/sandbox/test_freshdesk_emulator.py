"""The Freshdesk emulator, over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dbt_revsync.crms.freshdesk.emulator import DEFAULT_API_KEY, FreshdeskEmulator
from dbt_revsync.sandbox import Limits, SandboxServer


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(emulators=[FreshdeskEmulator()]) as running:
        yield running


class Api:
    def __init__(self, root: str, key: str = DEFAULT_API_KEY) -> None:
        self.root, self.auth = root, (key, "X")

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.root}{path}", json=body, auth=self.auth, timeout=5, **kwargs)


@pytest.fixture
def api(server: SandboxServer) -> Api:
    for name in ("sfcontactid", "tier"):  # custom fields exist once an admin defines them
        server.emulator("freshdesk").define_custom_field("contacts", name)
    return Api(f"{server.url}/freshdesk")


def errors(answer: requests.Response, status: int = 400) -> list[tuple[str, str]]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["description"] == "Validation failed"
    return [(e["field"], e["code"]) for e in body["errors"]]


def test_basic_auth_with_the_key_as_user_name(api: Api, server: SandboxServer) -> None:
    assert api.call("GET", "/contacts").status_code == 200
    wrong = Api(api.root, "nope").call("GET", "/contacts")
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"
    bare = requests.get(f"{api.root}/contacts", headers={"Authorization": f"Token token={DEFAULT_API_KEY}"}, timeout=5)
    assert bare.status_code == 401


def test_create_view_update_and_soft_delete_a_contact(api: Api) -> None:
    created = api.call(
        "POST",
        "/contacts",
        {"name": "Ann", "email": "ann@x.io", "tags": ["vip"], "custom_fields": {"sfcontactid": "003A"}},
    )
    assert created.status_code == 201
    contact = created.json()
    assert contact["id"] == 43000000001 and contact["tags"] == ["vip"] and contact["created_at"].endswith("Z")
    updated = api.call("PUT", f"/contacts/{contact['id']}", {"mobile": "+47", "custom_fields": {"tier": "gold"}}).json()
    assert updated["mobile"] == "+47" and updated["email"] == "ann@x.io"
    assert updated["custom_fields"] == {"sfcontactid": "003A", "tier": "gold"}
    assert api.call("DELETE", f"/contacts/{contact['id']}").status_code == 204
    assert api.call("GET", f"/contacts/{contact['id']}").json()["deleted"] is True
    assert api.call("PUT", f"/contacts/{contact['id']}", {"name": "x"}).status_code == 404
    assert api.call("GET", "/contacts").json() == []
    assert api.call("DELETE", f"/contacts/{contact['id']}/hard_delete").status_code == 204
    assert api.call("GET", f"/contacts/{contact['id']}").status_code == 404


def test_validation_errors_name_field_and_code(api: Api) -> None:
    assert errors(api.call("POST", "/contacts", {"name": "No way to reach"})) == [("requester_id", "missing_field")]
    assert errors(api.call("POST", "/contacts", {"email": "a@x.io"})) == [("name", "missing_field")]
    assert errors(api.call("POST", "/contacts", {"name": "A", "email": "nope"})) == [("email", "invalid_value")]
    assert errors(api.call("POST", "/contacts", {"name": "A", "email": "a@x.io", "colour": "red"})) == [
        ("colour", "invalid_field")
    ]
    assert errors(api.call("POST", "/contacts", {"name": "A", "mobile": 4711})) == [("mobile", "datatype_mismatch")]
    assert errors(api.call("POST", "/contacts", {"name": "A", "email": "a@x.io", "tags": "vip"})) == [
        ("tags", "datatype_mismatch")
    ]
    assert errors(api.call("POST", "/contacts", {"name": "A", "email": "a@x.io", "company_id": 99})) == [
        ("company_id", "invalid_value")
    ]


def test_emails_external_ids_and_company_names_are_unique(api: Api) -> None:
    """A value another record holds is a 409 Conflict ("Create a Contact with an email that is
    already associated with an existing user")."""
    api.call(
        "POST",
        "/contacts",
        {"name": "Ann", "email": "ann@x.io", "other_emails": ["ann@home.io"], "unique_external_id": "E1"},
    )
    assert errors(api.call("POST", "/contacts", {"name": "B", "email": "ANN@x.io"}), 409) == [
        ("email", "duplicate_value")
    ]
    assert errors(api.call("POST", "/contacts", {"name": "B", "email": "ann@home.io"}), 409) == [
        ("email", "duplicate_value")
    ]
    assert errors(api.call("POST", "/contacts", {"name": "B", "unique_external_id": "E1"}), 409) == [
        ("unique_external_id", "duplicate_value")
    ]
    assert api.call("POST", "/companies", {"name": "Acme"}).status_code == 201
    assert errors(api.call("POST", "/companies", {"name": "acme"}), 409) == [("name", "duplicate_value")]


def test_list_filters_and_pages_with_a_link_header(api: Api) -> None:
    for i in range(5):
        api.call("POST", "/contacts", {"name": f"P{i}", "email": f"p{i}@x.io", "mobile": "+1" if i % 2 else "+2"})
    assert [c["name"] for c in api.call("GET", "/contacts", params={"email": "P3@X.IO"}).json()] == ["P3"]
    assert [c["name"] for c in api.call("GET", "/contacts", params={"mobile": "+1"}).json()] == ["P1", "P3"]
    first = api.call("GET", "/contacts", params={"per_page": 2})
    assert [c["name"] for c in first.json()] == ["P0", "P1"] and 'rel="next"' in first.headers["Link"]
    last = api.call("GET", "/contacts", params={"per_page": 2, "page": 3})
    assert [c["name"] for c in last.json()] == ["P4"] and "Link" not in last.headers
    assert errors(api.call("GET", "/contacts", params={"colour": "red"})) == [("colour", "invalid_field")]


def test_search_query_language(api: Api) -> None:
    api.call("POST", "/contacts", {"name": "Ann", "email": "a@x.io", "custom_fields": {"sfcontactid": "003A"}})
    api.call("POST", "/contacts", {"name": "Bob", "email": "b@x.io", "tags": ["cto"]})
    found = api.call("GET", "/search/contacts", params={"query": "\"sfcontactid:'003A'\""}).json()
    assert found["total"] == 1 and found["results"][0]["name"] == "Ann"
    either = api.call("GET", "/search/contacts", params={"query": "\"tag:'cto' OR sfcontactid:'003A'\""}).json()
    assert either["total"] == 2
    both = api.call("GET", "/search/contacts", params={"query": "\"tag:'cto' AND email:'a@x.io'\""}).json()
    assert both["total"] == 0
    assert errors(api.call("GET", "/search/contacts", params={"query": "name:'Ann'"})) == [("query", "invalid_value")]


def test_per_minute_limit_headers_and_retry_after() -> None:
    with SandboxServer(emulators=[FreshdeskEmulator(limits=Limits(per_minute=2))]) as running:
        api = Api(f"{running.url}/freshdesk")
        first, second, third = (api.call("GET", "/contacts") for _ in range(3))
        assert (first.headers["X-Ratelimit-Total"], first.headers["X-RateLimit-Remaining"]) == ("2", "1")
        assert (
            second.headers["X-RateLimit-Remaining"] == "0" and second.headers["X-RateLimit-Used-CurrentRequest"] == "1"
        )
        assert third.status_code == 429
        assert 1 <= int(third.headers["Retry-After"]) <= 60 and third.headers["X-RateLimit-Used-CurrentRequest"] == "0"


def test_field_lists_show_standard_and_defined_custom_fields(server: SandboxServer, api: Api) -> None:
    server.emulator("freshdesk").define_custom_field("contacts", "sfcontactid")
    names = {f["name"]: f["default"] for f in api.call("GET", "/contact_fields").json()}
    assert names["email"] is True and names["sfcontactid"] is False and "custom_fields" not in names
    assert "sfcontactid" not in {f["name"] for f in api.call("GET", "/company_fields").json()}
    assert Api(api.root, "nope").call("GET", "/contact_fields").status_code == 401
