"""Freshsuccess passes the destination conformance suite against its emulator.

Quirks: Freshsuccess identifies a record by its own key (``account_id``): the id a write is
acknowledged with is that key, and its answer never says whether a record was inserted or
updated, so nothing is ever acknowledged ``created`` (``confirms_creation = False``); and it
holds a date as epoch milliseconds (UTC midnight).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar

from dbt_revsync.testing import DestinationConformance


class TestFreshsuccessConformance(DestinationConformance):
    crm = "freshsuccess"
    object = "accounts"
    fields: ClassVar[dict[str, str]] = {"account_id": "id", "name": "name", "join_date": "joined"}
    upsert_key = "account_id"
    rows: ClassVar[list[dict[str, Any]]] = [
        {"id": "a1", "name": "Acme", "joined": "2024-01-01"},
        {"id": "a2", "name": "Nordwind", "joined": "2024-02-29"},
        {"id": "a3", "name": "Société Générale", "joined": "2023-12-31"},
    ]
    changed: ClassVar[dict[str, Any]] = {"name": "Acme Inc"}
    bad_row: ClassVar[dict[str, Any]] = {"id": "a4", "name": "Bad date", "joined": "2023-02-29"}  # no such day
    confirms_creation = False

    def stored_id(self, record: Mapping[str, Any]) -> str:
        return str(record.get("account_id"))

    def same_value(self, held: Any, sent: Any) -> bool:
        if isinstance(held, int) and isinstance(sent, str):
            day = dt.datetime.strptime(sent, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
            return held == int(day.timestamp() * 1000)
        return super().same_value(held, sent)
