"""The generic http destination passes the destination conformance suite against the
sandbox's JSON echo endpoint.

Quirks: the echo endpoint keeps every request it receives, not records, so it cannot show
that a second push updated rather than duplicated, or that a delete removed something; and
the http destination cannot search (``find``), so it has no update-by-key or delete. A row
is refused by asking the echo endpoint for an error status in the URL (``?status=``).
"""

from __future__ import annotations

from dbt_revsync.crms.http.emulator import DEFAULT_TOKEN
from dbt_revsync.testing import DestinationConformance

RECORDS_NOT_KEPT = "the echo endpoint keeps requests, not records: it cannot show a duplicate, an update or a deletion"


class TestHttpConformance(DestinationConformance):
    crm = "http"
    object = "accounts"
    resource = "requests"
    fields = {"name": "name", "ref": "id", "force": "force"}
    upsert_key = "ref"
    credentials = {"headers": {"Authorization": f"Bearer {DEFAULT_TOKEN}"}}
    settings = {"url": "{object}?status={force}", "id_path": "$.id"}
    rows = [
        {"id": 1, "name": "Acme", "force": None},
        {"id": 2, "name": "Nordwind", "force": None},
        {"id": 3, "name": "Sample", "force": None},
    ]
    changed = {"name": "Acme Inc"}
    bad_row = {"id": 4, "name": "Refused", "force": 422}
    unsupported = {
        "test_upsert": RECORDS_NOT_KEPT,
    }
