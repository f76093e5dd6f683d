"""Freshdesk passes the destination conformance suite against its emulator.

Quirk: deleting a contact is soft in Freshdesk (it goes to the trash, ``deleted: true``,
keeping its email reserved); the suite counts only the contacts not in the trash. The
suite's "deleted in the CRM" case wants the record made again with a new id, which only a
contact removed for good allows, so ``delete_in_crm`` deletes it as an admin does "Delete
forever": the soft delete, then ``DELETE /contacts/{id}/hard_delete`` from the trash, both
over the API. A contact only moved to the trash comes back by a restore instead (the same
id, ``updated``): ``test_upsert_restores_a_contact_trashed_in_the_crm``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import requests

from dbt_revsync.crms.freshdesk.emulator import DEFAULT_API_KEY
from dbt_revsync.testing import DestinationConformance


class TestFreshdeskConformance(DestinationConformance):
    crm = "freshdesk"
    object = "contacts"
    fields: ClassVar[dict[str, str]] = {"name": "name", "email": "email"}
    upsert_key = "email"
    rows: ClassVar[list[dict[str, Any]]] = [
        {"id": 1, "name": "Ann", "email": "ann@example.com"},
        {"id": 2, "name": "Bob", "email": "bob@example.com"},
        {"id": 3, "name": "Zoë Ångström", "email": "cy@example.com"},
    ]
    changed: ClassVar[dict[str, Any]] = {"name": "Annie"}
    bad_row: ClassVar[dict[str, Any]] = {
        "id": 4,
        "name": "Nobody",
        "email": None,
    }  # a contact needs an email, phone, mobile or other id

    def stored(self) -> list[Mapping[str, Any]]:
        return [r for r in super().stored() if not r.get("deleted")]

    def admin(self, method: str, path: str) -> requests.Response:
        """A request as someone using Freshdesk makes it, beside the sync."""
        return requests.request(
            method, f"{self.sandbox.url}/{self.prefix}/{path}", auth=(DEFAULT_API_KEY, "X"), timeout=10
        )

    def delete_in_crm(self, row: Mapping[str, Any], record_id: str) -> None:
        assert self.admin("DELETE", f"contacts/{record_id}").status_code == 204  # to the trash
        assert self.admin("DELETE", f"contacts/{record_id}/hard_delete").status_code == 204  # "Delete forever"

    def test_upsert_restores_a_contact_trashed_in_the_crm(self) -> None:
        """The remembered contact was moved to the trash in Freshdesk: the upsert restores it
        and updates it (same id, ``updated``, so the state keeps its origin), never a reject
        for the email the trash still holds."""
        self.require("test_upsert", "upsert")
        row = self.rows[0]
        old = self.seed([row])[self.key(row)]
        assert self.admin("DELETE", f"contacts/{old}").status_code == 204
        assert self.stored() == []
        spec = self.spec("upsert")
        again = self.push(spec, [self.change(spec, self.updated_row(row), "changed", remote_id=old, origin="created")])
        assert again.outcomes() == {self.key(row): "updated"}, again
        assert again.acked[self.key(row)].destination_id == old
        assert len(self.stored()) == 1
        self.assert_holds(old, self.updated_row(row))
