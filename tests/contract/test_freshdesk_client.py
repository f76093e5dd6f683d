"""python-freshdesk (PyPI 1.3.x), a third-party client, against the Freshdesk emulator over
loopback: its models must parse every answer, and its error classes must see the refusals
Freshdesk gives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dbt_revsync.crms.freshdesk.emulator import DEFAULT_API_KEY, FreshdeskEmulator
from dbt_revsync.sandbox import DeclaredField, SandboxServer

freshdesk_api = pytest.importorskip("freshdesk.v2.api")
freshdesk_errors = pytest.importorskip("freshdesk.v2.errors")


@pytest.fixture
def client() -> Iterator[object]:
    emulator = FreshdeskEmulator()
    emulator.declare_field(DeclaredField("contacts", "cf_tier", "custom_dropdown"))
    emulator.declare_field(DeclaredField("companies", "cf_acct", "custom_text"))
    with SandboxServer(emulators=[emulator]) as server:
        api = freshdesk_api.API("acme.freshdesk.com", DEFAULT_API_KEY)
        api._api_prefix = f"{server.url}/freshdesk/"  # the client insists on https://<x>.freshdesk.com
        yield api


def test_contacts_create_get_update_list_and_filter(client: object) -> None:
    api = client
    ann = api.contacts.create_contact(name="Ann", email="ann@x.io", tags=["vip"], custom_fields={"cf_tier": "gold"})
    assert ann.id and ann.name == "Ann" and ann.created_at.year >= 2024
    assert api.contacts.get_contact(ann.id).email == "ann@x.io"
    assert api.contacts.update_contact(ann.id, mobile="+47").mobile == "+47"
    api.contacts.create_contact(name="Bob", email="bob@x.io")
    assert [c.name for c in api.contacts.list_contacts()] == ["Ann", "Bob"]
    assert [c.name for c in api.contacts.list_contacts(email="bob@x.io")] == ["Bob"]
    assert [c.name for c in api.contacts.list_contacts(state="unverified", _updated_since="2000-01-01T00:00:00Z")] == [
        "Ann",
        "Bob",
    ]
    assert [
        c.name for c in api.contacts.filter_contacts("tag:'vip' OR (cf_tier:'gold' AND created_at:>'2000-01-01')")
    ] == ["Ann"]
    api.contacts.soft_delete_contact(ann.id)
    assert [c.name for c in api.contacts.list_contacts(state="deleted")] == ["Ann"]


def test_companies_create_get_update_list_and_filter(client: object) -> None:
    api = client
    acme = api.companies.create_company(name="Acme", domains=["acme.io"], custom_fields={"cf_acct": "A-1"})
    assert acme.id and acme.updated_at.year >= 2024
    assert api.companies.get_company(acme.id).name == "Acme"
    assert api.companies.update_company(acme.id, industry="Retail").industry == "Retail"
    assert [c.name for c in api.companies.list_companies()] == ["Acme"]
    assert [c.name for c in api.companies.filter_companies("domain:'acme.io' AND cf_acct:'A-1'")] == ["Acme"]
    api.companies.delete_company(acme.id)
    with pytest.raises(freshdesk_errors.FreshdeskNotFound):
        api.companies.get_company(acme.id)


@pytest.mark.parametrize(
    "refused",
    [
        lambda api: api.contacts.list_contacts(unique_external_id="E1"),  # an undocumented list filter
        lambda api: api.contacts.filter_contacts("name:'Ann'"),  # not a searchable field
        lambda api: api.contacts.filter_contacts("tag:>'vip'"),  # :> on text
        lambda api: api.contacts.create_contact(name="Ann", email="not-an-email"),
        lambda api: api.contacts.create_contact(name="Ann", email="a@x.io", custom_fields={"cf_nope": "x"}),
    ],
)
def test_spec_invalid_requests_are_refused_as_freshdesk_refuses_them(client: object, refused: object) -> None:
    with pytest.raises(freshdesk_errors.FreshdeskBadRequest, match=r"^Validation failed: \[\{'field'"):
        refused(client)


def test_the_rate_limit_answer_is_the_clients_rate_limited_error() -> None:
    emulator = FreshdeskEmulator(plan="growth")
    with SandboxServer(emulators=[emulator], limits="vendor") as server:
        api = freshdesk_api.API("acme.freshdesk.com", DEFAULT_API_KEY)
        api._api_prefix = f"{server.url}/freshdesk/"
        for _ in range(20):
            api.contacts.list_contacts(page=1)
        with pytest.raises(freshdesk_errors.FreshdeskRateLimited, match="until [0-9]+ seconds"):
            api.contacts.list_contacts(page=1)
