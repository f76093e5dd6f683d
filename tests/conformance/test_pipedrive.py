"""Pipedrive passes the destination conformance suite against its emulator.

Quirk: Pipedrive has no upsert; keyed modes find the person by email first (``find``).
"""

from __future__ import annotations

from dbt_revsync.testing import DestinationConformance


class TestPipedriveConformance(DestinationConformance):
    crm = "pipedrive"
    object = "persons"
    fields = {"name": "name", "email": "email", "org_id": "org"}
    upsert_key = "email"
    rows = [
        {"id": 1, "name": "Ann", "email": "ann@example.com"},
        {"id": 2, "name": "Bob", "email": "bob@example.com"},
        {"id": 3, "name": "Cy", "email": "cy@example.com"},
    ]
    changed = {"name": "Annie"}
    bad_row = {"id": 4, "name": "Dee", "email": "dee@example.com", "org": 999}  # no such organization
