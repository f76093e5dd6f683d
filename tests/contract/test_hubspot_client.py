"""HubSpot's own Python client (``hubspot-api-client`` v12) run against the emulator: its
models deserialize every answer, so they judge the emulator's shapes, not our reading of them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

hubspot = pytest.importorskip("hubspot")

from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ApiException

from dbt_revsync.crms.hubspot.emulator import DEFAULT_TOKEN, HubSpotEmulator
from dbt_revsync.sandbox import DeclaredField, SandboxServer


@pytest.fixture
def client() -> Iterator[tuple[object, HubSpotEmulator]]:
    emulator = HubSpotEmulator()
    with SandboxServer(emulators=[emulator]) as server:
        # the client sets every Configuration attribute it is given: ``host`` points it here
        yield hubspot.Client.create(access_token=DEFAULT_TOKEN, host=f"{server.url}/hubspot"), emulator


def test_the_client_creates_upserts_searches_and_reads_contacts(client: tuple[object, HubSpotEmulator]) -> None:
    api, _ = client
    contacts = api.crm.contacts  # type: ignore[attr-defined]
    made = contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "Ann@X.io", "firstname": "Ann"}, associations=[])
    )
    assert made.id and made.properties["email"] == "ann@x.io"
    upserted = contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                {"id": "ann@x.io", "idProperty": "email", "properties": {"lastname": "Lee"}},
                {"id": "bob@x.io", "idProperty": "email", "properties": {"firstname": "Bob"}},
            ]
        )
    )
    assert sorted((r.properties.get("email"), r.new) for r in upserted.results) == [
        ("ann@x.io", False),
        ("bob@x.io", True),
    ]
    found = contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[{"filters": [{"propertyName": "email", "operator": "EQ", "value": "ann@x.io"}]}],
            properties=["lastname"],
            limit=10,
            after="0",
            sorts=[],
        )
    )
    assert found.total == 1 and set(found.results[0].properties) == {
        "lastname",
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
    }
    read = contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            id_property="email", inputs=[{"id": "bob@x.io"}], properties=["firstname"], properties_with_history=[]
        )
    )
    assert read.results[0].properties["firstname"] == "Bob" and "email" not in read.results[0].properties
    one = contacts.basic_api.get_by_id(made.id, properties=["firstname"])
    assert one.properties["firstname"] == "Ann"


def test_the_client_reads_the_properties_api_with_declared_properties(client: tuple[object, HubSpotEmulator]) -> None:
    api, emulator = client
    emulator.declare_field(DeclaredField("contacts", "member_key", "string", unique=True))
    listed = api.crm.properties.core_api.get_all("contacts")  # type: ignore[attr-defined]
    by_name = {p.name: p for p in listed.results}
    assert by_name["member_key"].has_unique_value is True and by_name["email"].has_unique_value is False
    assert by_name["createdate"].type == "datetime" and by_name["lifecyclestage"].options


def test_the_client_sees_hubspots_refusal_of_an_update_by_email(client: tuple[object, HubSpotEmulator]) -> None:
    api, _ = client
    contacts = api.crm.contacts  # type: ignore[attr-defined]
    from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInput

    with pytest.raises(ApiException) as refused:
        contacts.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[{"id": "ann@x.io", "idProperty": "email", "properties": {"firstname": "A"}}]
            )
        )
    assert refused.value.status == 400 and "non-unique 0-1 property" in str(refused.value.body)
