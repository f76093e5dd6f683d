"""The generic http destination passes the destination conformance suite against the
sandbox's JSON echo endpoint.

Quirks: the echo endpoint keeps every request it receives, not records, so it cannot show
that a second push updated rather than duplicated, or that a delete removed something; and
the http destination cannot search (``find``), so it has no update-by-key or delete. A row
is refused by asking the echo endpoint for an error status in the URL (``?status=``); a
request's body is what the record holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dbt_revsync.crms.http.emulator import DEFAULT_TOKEN
from dbt_revsync.testing import DestinationConformance

RECORDS_NOT_KEPT = "the echo endpoint keeps requests, not records: it cannot show a duplicate, an update or a deletion"


class TestHttpConformance(DestinationConformance):
    crm = "http"
    object = "accounts"
    resource = "requests"
    fields: ClassVar[dict[str, str]] = {"name": "name", "ref": "id", "force": "force"}
    upsert_key = "ref"
    credentials: ClassVar[dict[str, Any]] = {"headers": {"Authorization": f"Bearer {DEFAULT_TOKEN}"}}
    settings: ClassVar[dict[str, Any]] = {"url": "{object}?status={force}", "id_path": "$.id"}
    rows: ClassVar[list[dict[str, Any]]] = [
        {"id": 1, "name": "Acme", "force": None},
        {"id": 2, "name": "Nordwind", "force": None},
        {"id": 3, "name": "株式会社サンプル", "force": None},
    ]
    changed: ClassVar[dict[str, Any]] = {"name": "Acme Inc"}
    bad_row: ClassVar[dict[str, Any]] = {"id": 4, "name": "Refused", "force": 422}
    unsupported: ClassVar[dict[str, str]] = {
        "test_upsert": RECORDS_NOT_KEPT,
    }

    def stored_value(self, record: Mapping[str, Any], path: str) -> Any:
        return super().stored_value(record.get("body") or {}, path)
