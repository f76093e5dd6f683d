"""Freshdesk passes the destination conformance suite against its emulator.

Quirk: deleting a contact is soft in Freshdesk (it goes to the trash, ``deleted: true``);
the suite counts only the contacts not deleted. A contact deleted in the CRM is one removed
for good (from the trash): a contact in the trash keeps its email taken, so it could only
be restored, never made again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

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
    bad_row: ClassVar[dict[str, Any]] = {"id": 4, "name": "Nobody", "email": None}  # a contact needs an email, phone, mobile or other id

    def stored(self) -> list[Mapping[str, Any]]:
        return [r for r in super().stored() if not r.get("deleted")]

    def delete_in_crm(self, row: Mapping[str, Any], record_id: str) -> None:
        self.emulator.store.delete("contacts", int(record_id))  # DELETE /contacts/{id}/hard_delete
