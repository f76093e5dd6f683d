"""Pipedrive passes the destination conformance suite against its emulator.

Quirks: Pipedrive has no upsert; keyed modes find the person by email first (``find``). A
person holds its emails as a list of ``{value, primary, label}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dbt_revsync.testing import DestinationConformance


class TestPipedriveConformance(DestinationConformance):
    crm = "pipedrive"
    object = "persons"
    fields: ClassVar[dict[str, str]] = {"name": "name", "email": "email", "org_id": "org"}
    upsert_key = "email"
    rows: ClassVar[list[dict[str, Any]]] = [
        {"id": 1, "name": "Ann", "email": "ann@example.com"},
        {"id": 2, "name": "Bob", "email": "bob@example.com"},
        {"id": 3, "name": "Zoë Ångström", "email": "cy@example.com"},
    ]
    changed: ClassVar[dict[str, Any]] = {"name": "Annie"}
    bad_row: ClassVar[dict[str, Any]] = {
        "id": 4,
        "name": "Dee",
        "email": "dee@example.com",
        "org": 999,
    }  # no such organization

    def stored_value(self, record: Mapping[str, Any], path: str) -> Any:
        if path == "email":
            return next((e.get("value") for e in record.get("emails") or [] if e.get("primary")), None)
        return super().stored_value(record, path)
