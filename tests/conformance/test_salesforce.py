"""Salesforce passes the destination conformance suite against its emulator."""

from __future__ import annotations

from typing import Any, ClassVar

from dbt_revsync.crms.salesforce.emulator import DEFAULT_TOKEN
from dbt_revsync.testing import DestinationConformance


class TestSalesforceConformance(DestinationConformance):
    crm = "salesforce"
    object = "Account"
    fields: ClassVar[dict[str, str]] = {"Name": "name", "BillingCity": "city", "Ext_Id__c": "id"}
    upsert_key = "Ext_Id__c"
    credentials: ClassVar[dict[str, Any]] = {"access_token": DEFAULT_TOKEN}
    base_path = "/services/data/v62.0"
    rows: ClassVar[list[dict[str, Any]]] = [
        {"id": "A-1", "name": "Acme", "city": "Berlin"},
        {"id": "A-2", "name": "Nordwind", "city": "Hamburg"},
        {"id": "A-3", "name": "株式会社サンプル", "city": "東京"},
    ]
    changed: ClassVar[dict[str, Any]] = {"name": "Acme Inc"}
    bad_row: ClassVar[dict[str, Any]] = {"id": "A-4", "name": None, "city": "Paris"}  # an Account needs a Name
