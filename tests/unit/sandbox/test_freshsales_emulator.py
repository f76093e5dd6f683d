"""The Freshsales emulator, over loopback HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dbt_revsync.crms.freshsales.emulator import DEFAULT_API_KEY, FreshsalesEmulator
from dbt_revsync.sandbox import DeclaredField, SandboxServer

FIRST_ID = 16000000001
OFFSET_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(emulators=[FreshsalesEmulator()]) as running:
        yield running


@pytest.fixture
def api(server: SandboxServer) -> Iterator[Api]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Token token={DEFAULT_API_KEY}"
        yield Api(session, f"{server.url}/freshsales")


class Api:
    """A thin client of the emulated API root."""

    def __init__(self, session: requests.Session, root: str) -> None:
        self.session = session
        self.root = root

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.root}{path}", json=body, timeout=5, **kwargs)

    def create(self, resource: str, wrapper: str, fields: dict[str, Any]) -> requests.Response:
        return self.call("POST", f"/{resource}", {wrapper: fields})

    def upsert(
        self, resource: str, wrapper: str, identifier: dict[str, Any], fields: dict[str, Any]
    ) -> requests.Response:
        return self.call("POST", f"/{resource}/upsert", {"unique_identifier": identifier, wrapper: fields})

    def search(self, entity: str, attribute: str, value: Any, **paging: Any) -> requests.Response:
        rule = {"attribute": attribute, "operator": "is_in", "value": value}
        return self.call("POST", f"/filtered_search/{entity}", {"filter_rule": [rule], **paging})


def contacts(server: SandboxServer) -> list[dict[str, Any]]:
    return server.emulator("freshsales").records("contacts")


# -- auth ----------------------------------------------------------------------------


def test_a_good_key_is_accepted_quoted_or_bare(api: Api) -> None:
    assert api.call("GET", "/contacts/1").status_code == 404
    quoted = {"Authorization": f'Token token="{DEFAULT_API_KEY}"'}
    assert api.call("GET", "/contacts/1", headers=quoted).status_code == 404


@pytest.mark.parametrize("header", [None, "Token token=wrong", f"Bearer {DEFAULT_API_KEY}", DEFAULT_API_KEY])
def test_a_wrong_or_missing_key_answers_401(server: SandboxServer, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    answer = requests.post(f"{server.url}/freshsales/contacts", json={"contact": {}}, headers=headers, timeout=5)
    assert answer.status_code == 401
    assert answer.json() == {"login": "failed", "message": "Incorrect or expired API key"}
    assert contacts(server) == []


def test_accepted_keys_are_configurable() -> None:
    with SandboxServer(emulators=[FreshsalesEmulator(api_keys=["k1", "k2"])]) as running:
        url = f"{running.url}/freshsales/deals/1"
        codes = [
            requests.get(url, headers={"Authorization": f"Token token={key}"}, timeout=5).status_code
            for key in ("k1", "k2", DEFAULT_API_KEY)
        ]
    assert codes == [404, 404, 401]


# -- create, view, update, delete ------------------------------------------------------


def test_create_view_update_delete_a_sales_account(api: Api) -> None:
    created = api.create(
        "sales_accounts",
        "sales_account",
        {"name": "Acme", "website": "acme.test", "custom_field": {"cf_tier": "gold", "cf_x": 1}},
    )
    assert created.status_code == 200
    record = created.json()["sales_account"]
    assert record["id"] == FIRST_ID and record["name"] == "Acme"
    assert OFFSET_DATETIME.match(record["created_at"]) and OFFSET_DATETIME.match(record["updated_at"])

    viewed = api.call("GET", f"/sales_accounts/{FIRST_ID}")
    assert viewed.status_code == 200 and viewed.json() == {"sales_account": record}

    updated = api.call(
        "PUT",
        f"/sales_accounts/{FIRST_ID}",
        {
            "sales_account": {
                "website": "acme.example",
                "custom_field": {"cf_tier": "platinum"},
                "id": 5,
                "created_at": "nope",
            }
        },
    )
    assert updated.status_code == 200
    changed = updated.json()["sales_account"]
    assert changed["website"] == "acme.example" and changed["name"] == "Acme"
    assert changed["custom_field"] == {"cf_tier": "platinum", "cf_x": 1}
    assert changed["id"] == FIRST_ID and changed["created_at"] == record["created_at"]

    deleted = api.call("DELETE", f"/sales_accounts/{FIRST_ID}")
    assert (deleted.status_code, deleted.json()) == (200, True)
    assert api.call("GET", f"/sales_accounts/{FIRST_ID}").status_code == 404


def test_ids_count_up_per_resource(api: Api) -> None:
    ids = [api.create("deals", "deal", {"name": f"d{index}"}).json()["deal"]["id"] for index in range(3)]
    assert ids == [FIRST_ID, FIRST_ID + 1, FIRST_ID + 2]
    assert api.create("contacts", "contact", {"first_name": "x"}).json()["contact"]["id"] == FIRST_ID


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("record_id", ["999", "abc"])
def test_unknown_record_answers_404(api: Api, method: str, record_id: str) -> None:
    answer = api.call(method, f"/deals/{record_id}", {"deal": {"name": "x"}} if method == "PUT" else None)
    assert answer.status_code == 404
    assert answer.json() == {"errors": {"code": 404, "message": "Record not found"}}


def test_unknown_route_answers_404(api: Api) -> None:
    assert api.call("GET", "/leads/1").status_code == 404
    assert api.call("PATCH", "/contacts/1", {"contact": {}}).json()["errors"]["code"] == 404


@pytest.mark.parametrize("resource,wrapper", [("sales_accounts", "sales_account"), ("deals", "deal")])
def test_name_is_required(api: Api, resource: str, wrapper: str) -> None:
    answer = api.create(resource, wrapper, {"website": "x"})
    assert answer.status_code == 400 and "name" in answer.json()["errors"]["message"]
    created = api.create(resource, wrapper, {"name": "ok"}).json()[wrapper]
    blanked = api.call("PUT", f"/{resource}/{created['id']}", {wrapper: {"name": " "}})
    assert blanked.status_code == 400


def test_malformed_json_and_missing_wrapper_answer_400(api: Api, server: SandboxServer) -> None:
    malformed = api.session.post(
        f"{api.root}/contacts", data=b'{"contact": ', timeout=5, headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400 and malformed.json()["errors"]["code"] == 400
    assert api.call("POST", "/contacts", {"first_name": "bare"}).status_code == 400
    assert api.call("POST", "/contacts", {"contact": "nope"}).status_code == 400
    assert api.call("POST", "/contacts").status_code == 400
    assert api.call("POST", "/sales_accounts/upsert", {"unique_identifier": {"name": "x"}}).status_code == 400
    assert contacts(server) == []


# -- contact emails ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields,expected",
    [
        ({"emails": "one@example.com"}, [("one@example.com", True)]),
        ({"emails": ["one@example.com", "two@example.com"]}, [("one@example.com", True), ("two@example.com", False)]),
        (
            {
                "emails": [
                    {"value": "one@example.com", "is_primary": False},
                    {"value": "two@example.com", "is_primary": True},
                ]
            },
            [("one@example.com", False), ("two@example.com", True)],
        ),
        ({"email": "solo@example.com"}, [("solo@example.com", True)]),
        (
            {"emails": ["one@example.com", "two@example.com"], "email": "two@example.com"},
            [("two@example.com", True), ("one@example.com", False)],
        ),
        ({"emails": ["one@example.com", "ONE@example.com"]}, [("one@example.com", True)]),
    ],
)
def test_emails_are_normalised(api: Api, fields: dict[str, Any], expected: list[tuple[str, bool]]) -> None:
    contact = api.create("contacts", "contact", fields).json()["contact"]
    assert [(entry["value"], entry["is_primary"]) for entry in contact["emails"]] == expected
    assert contact["email"] == next(value for value, primary in expected if primary)


def test_email_alone_on_update_replaces_the_primary(api: Api) -> None:
    contact = api.create("contacts", "contact", {"emails": ["old@example.com", "alt@example.com"]}).json()["contact"]
    updated = api.call("PUT", f"/contacts/{contact['id']}", {"contact": {"email": "new@example.com"}}).json()
    assert [entry["value"] for entry in updated["contact"]["emails"]] == ["new@example.com", "alt@example.com"]
    assert updated["contact"]["email"] == "new@example.com"


def test_duplicate_email_answers_400(api: Api, server: SandboxServer) -> None:
    first = api.create("contacts", "contact", {"email": "taken@example.com"}).json()["contact"]
    duplicate = api.create("contacts", "contact", {"emails": ["other@example.com", "TAKEN@example.com"]})
    assert duplicate.status_code == 400
    assert "TAKEN@example.com" in duplicate.json()["errors"]["message"]
    second = api.create("contacts", "contact", {"email": "free@example.com"}).json()["contact"]
    moved = api.call("PUT", f"/contacts/{second['id']}", {"contact": {"email": "taken@example.com"}})
    assert moved.status_code == 400 and "taken@example.com" in moved.json()["errors"]["message"]
    same = api.call("PUT", f"/contacts/{first['id']}", {"contact": {"email": "taken@example.com", "city": "x"}})
    assert same.status_code == 200
    assert [contact["email"] for contact in contacts(server)] == ["taken@example.com", "free@example.com"]


# -- upsert --------------------------------------------------------------------------------


def test_upsert_creates_then_updates_one_record(api: Api, server: SandboxServer) -> None:
    # The sandbox account made name non-unique for its two custom keys; an admin makes room for it again.
    server.emulator("freshsales").declare_field(DeclaredField("sales_accounts", "cf_ref", "text", unique=False))
    server.emulator("freshsales").declare_field(DeclaredField("sales_accounts", "name", "text", unique=True))
    identifier = {"name": "Acme"}
    created = api.upsert("sales_accounts", "sales_account", identifier, {"website": "a.test"})
    assert created.status_code == 201
    assert created.json()["sales_account"]["name"] == "Acme"
    updated = api.upsert("sales_accounts", "sales_account", identifier, {"website": "b.test"})
    assert updated.status_code == 200
    assert updated.json()["sales_account"]["id"] == created.json()["sales_account"]["id"]
    records = server.emulator("freshsales").records("sales_accounts")
    assert [(record["name"], record["website"]) for record in records] == [("Acme", "b.test")]


def test_upsert_by_emails_matches_any_email_ignoring_case(api: Api, server: SandboxServer) -> None:
    created = api.upsert("contacts", "contact", {"emails": "pat@example.com"}, {"first_name": "Pat"})
    assert created.status_code == 201 and created.json()["contact"]["email"] == "pat@example.com"
    api.call(
        "PUT",
        f"/contacts/{created.json()['contact']['id']}",
        {"contact": {"emails": ["pat@example.com", "p.alt@example.com"]}},
    )
    updated = api.upsert("contacts", "contact", {"emails": "P.ALT@example.com"}, {"last_name": "Lee"})
    assert updated.status_code == 200
    assert [(contact["first_name"], contact["last_name"]) for contact in contacts(server)] == [("Pat", "Lee")]


def test_upsert_by_custom_field(api: Api, server: SandboxServer) -> None:
    identifier = {"cf_account_id": "A-1"}
    created = api.upsert("sales_accounts", "sales_account", identifier, {"name": "Acme"})
    assert created.status_code == 201
    assert created.json()["sales_account"]["custom_field"] == {"cf_account_id": "A-1"}
    updated = api.upsert(
        "sales_accounts", "sales_account", identifier, {"name": "Acme Inc", "custom_field": {"cf_tier": "gold"}}
    )
    assert updated.status_code == 200
    records = server.emulator("freshsales").records("sales_accounts")
    assert len(records) == 1
    assert records[0]["name"] == "Acme Inc"
    assert records[0]["custom_field"] == {"cf_account_id": "A-1", "cf_tier": "gold"}


def test_upsert_refuses_duplicate_email_on_create(api: Api) -> None:
    api.create("contacts", "contact", {"email": "held@example.com"})
    clash = api.upsert("contacts", "contact", {"external_id": "9"}, {"email": "held@example.com"})
    assert clash.status_code == 400


@pytest.mark.parametrize("identifier", [{}, {"name": "a", "website": "b"}, {"name": ""}, "name", None])
def test_upsert_needs_exactly_one_identifier(api: Api, identifier: Any) -> None:
    answer = api.call(
        "POST", "/sales_accounts/upsert", {"unique_identifier": identifier, "sales_account": {"name": "a"}}
    )
    assert answer.status_code == 400 and "unique_identifier" in answer.json()["errors"]["message"]


# -- filtered search -------------------------------------------------------------------------


def test_filtered_search_by_contact_email(api: Api) -> None:
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        api.create("contacts", "contact", {"emails": [email, f"alt.{email}"]})
    answer = api.search("contact", "contact_email.email", ["A@example.com", "alt.c@example.com", "z@example.com"])
    assert answer.status_code == 200
    body = answer.json()
    assert [contact["email"] for contact in body["contacts"]] == ["a@example.com", "c@example.com"]
    assert body["meta"] == {"total": 2, "total_pages": 1}
    single = api.search("contact", "contact_email.email", "b@example.com").json()
    assert [contact["email"] for contact in single["contacts"]] == ["b@example.com"]


def test_filtered_search_by_field_and_custom_field(api: Api) -> None:
    for index in range(5):
        api.create(
            "sales_accounts", "sales_account", {"name": f"acct{index}", "custom_field": {"cf_account_id": index}}
        )
    by_custom = api.search("sales_account", "cf_account_id", ["1", "3"]).json()
    assert [account["name"] for account in by_custom["sales_accounts"]] == ["acct1", "acct3"]
    by_name = api.search("sales_account", "name", "acct4").json()
    assert by_name["meta"]["total"] == 1
    paged = api.search("sales_account", "cf_account_id", [0, 1, 2, 3, 4], page=2, per_page=2).json()
    assert [account["name"] for account in paged["sales_accounts"]] == ["acct2", "acct3"]
    assert paged["meta"] == {"total": 5, "total_pages": 3}
    assert api.search("deal", "name", "nothing").json() == {"deals": [], "meta": {"total": 0, "total_pages": 0}}


def test_filtered_search_refuses_bad_rules(api: Api) -> None:
    assert api.call("POST", "/filtered_search/contact", {"filter_rule": "x"}).status_code == 400
    bad_operator = {"filter_rule": [{"attribute": "name", "operator": "contains", "value": "a"}]}
    assert api.call("POST", "/filtered_search/deal", bad_operator).status_code == 400
    assert api.call("POST", "/filtered_search/lead", {"filter_rule": []}).status_code == 404
