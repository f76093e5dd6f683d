"""HubSpot's settings for the destination conformance suite: what test_hubspot.py runs against
the emulator, and what the suite's own tests break on purpose (tests/unit/test_conformance_suite.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dbt_revsync.testing import DestinationConformance


class HubSpotConformance(DestinationConformance):
    crm = "hubspot"
    object = "contacts"
    fields: ClassVar[dict[str, str]] = {"email": "email", "firstname": "name"}
    upsert_key = "email"
    rows: ClassVar[list[dict[str, Any]]] = [
        {"id": 1, "email": "ann@example.com", "name": "Ann"},
        {"id": 2, "email": "bob@example.com", "name": "Bob"},
        {"id": 3, "email": "cy@example.com", "name": "Zoë Ångström"},
    ]
    changed: ClassVar[dict[str, Any]] = {"name": "Annie"}
    bad_row: ClassVar[dict[str, Any]] = {"id": 4, "email": "not-an-email", "name": "Bad"}

    def stored_value(self, record: Mapping[str, Any], path: str) -> Any:
        return super().stored_value(record.get("properties") or record, path)
