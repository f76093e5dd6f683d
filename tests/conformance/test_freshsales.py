"""Freshsales passes the destination conformance suite against its emulator."""

from __future__ import annotations

from typing import Any, ClassVar

from dbt_revsync.testing import DestinationConformance


class TestFreshsalesConformance(DestinationConformance):
    crm = "freshsales"
    object = "sales_accounts"
    fields: ClassVar[dict[str, str]] = {"name": "name", "city": "city", "custom_field.cf_account_id": "id"}
    upsert_key = "cf_account_id"
    rows: ClassVar[list[dict[str, Any]]] = [
        {"id": 1001, "name": "Acme GmbH", "city": "Berlin"},
        {"id": 1002, "name": "Nordwind Logistik", "city": "Hamburg"},
        {"id": 1003, "name": "株式会社サンプル", "city": "東京"},
    ]
    changed: ClassVar[dict[str, Any]] = {"name": "Acme AG"}
    bad_row: ClassVar[dict[str, Any]] = {"id": 1004, "name": None, "city": "Paris"}  # a sales account needs a name
