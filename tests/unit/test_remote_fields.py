"""check_remote_fields with a destination that cannot list its fields: it says so."""

from __future__ import annotations

from typing import ClassVar

from dbt_revsync.commands import check_remote_fields
from dbt_revsync.crms.freshsales.connector import FreshsalesDestination
from dbt_revsync.delivery import HttpClient
from dbt_revsync.destinations.base import Destination
from dbt_revsync.model import NodeRef, SyncSpec
from tests.factories import connection, sync_spec

NODE = NodeRef("model.p.accounts", "accounts", "model", "models/schema.yml", "db", "main", "accounts")


def spec(kind: str, *paths: str) -> SyncSpec:
    return sync_spec(connection(kind, base_url=None), "things", "append", {p: "c" for p in paths}, node=NODE)


class Silent(Destination):
    type_name: ClassVar[str] = "silent"


class Listing(Destination):
    type_name: ClassVar[str] = "listing"

    def list_fields(self, spec: SyncSpec) -> set[str] | None:
        return {"name", "address"}


def test_a_destination_without_a_field_list_is_named_not_checked() -> None:
    made = {
        "silent": Silent(spec("silent").connection, HttpClient()),
        "listing": Listing(spec("listing").connection, HttpClient()),
    }
    issues, notes = check_remote_fields(
        [spec("silent", "anything"), spec("listing", "name", "address.city", "nope")], lambda s: made[s.connection.type]
    )
    assert notes == ["accounts -> silent.things: not checked remotely: silent destinations cannot list their fields"]
    assert [(i.key, i.message.split(" is not")[0]) for i in issues] == [(".fields.nope", "'nope'")]


def test_freshsales_names_custom_fields_by_their_cf_key() -> None:
    assert FreshsalesDestination.field_name("custom_field.cf_plan") == "cf_plan"
    assert FreshsalesDestination.field_name("address.city") == "address"
    assert Destination.field_name("custom_field.cf_plan") == "custom_field"


def test_freshsales_emulator_lists_fields_behind_its_auth_and_reset_forgets_defined_ones() -> None:
    from dbt_revsync.crms.freshsales.emulator import FreshsalesEmulator
    from dbt_revsync.sandbox import SandboxRequest

    emulator = FreshsalesEmulator()

    def ask(key: str) -> tuple[int, object]:
        request = SandboxRequest.from_http(
            "GET", "/settings/deals/fields", "", [("Authorization", f"Token token={key}")], b""
        )
        answer = emulator.handle(request)
        return answer.status, answer.body

    assert ask("wrong")[0] == 401
    emulator.define_custom_field("deals", "cf_region")
    status, body = ask("sandbox-freshsales-key")
    names = [f["name"] for f in body["fields"]]  # type: ignore[index]
    assert status == 200 and "amount" in names and "cf_region" in names and "name" in names
    emulator.reset()
    assert "cf_region" not in [f["name"] for f in ask("sandbox-freshsales-key")[1]["fields"]]  # type: ignore[index]
