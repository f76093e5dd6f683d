"""Freshsuccess: dates the API takes as epoch ms, and no delete that cannot be confirmed."""

from __future__ import annotations

from typing import Any

import pytest

from dbt_revsync.crms.freshsuccess import facts
from dbt_revsync.crms.freshsuccess.connector import FreshsuccessDestination, to_record
from dbt_revsync.crms.freshsuccess.emulator import FreshsuccessEmulator
from dbt_revsync.delivery import HttpClient
from dbt_revsync.model import Change, SyncSpec
from dbt_revsync.sandbox import DeclaredField, SandboxRequest, SchemaRefused
from tests.factories import connection, sync_spec

CONN = connection("freshsuccess", "fs", api_key="k")
FIELDS = {"account_id": "id", "name": "name", "join_date": "joined"}


def spec(mode: str, fields: dict[str, str] | None = None) -> SyncSpec:
    return sync_spec(CONN, "accounts", mode, fields or FIELDS, "account_id")


@pytest.mark.parametrize("name", ["inactive_time", "latest_status_date"])
def test_inactive_time_and_latest_status_date_travel_as_epoch_milliseconds(name: str) -> None:
    record, problem = to_record(
        "accounts", {"account_id": "a", "name": "A", "join_date": "2024-01-01", name: "2024-01-02 00:00:00"}
    )
    assert problem is None and record[name] == 1704153600000
    with pytest.raises(ValueError, match=name):
        to_record("accounts", {"account_id": "a", "name": "A", "join_date": 0, name: "2023-02-29"})


def test_every_date_field_is_declared_once_in_the_facts() -> None:
    assert {"inactive_time", "latest_status_date", "join_date", "renewal_date"} <= set(facts.DATE_FIELDS)


@pytest.mark.parametrize("mode", ["delete", "mirror"])
def test_delete_and_mirror_are_refused_since_no_delete_path_is_documented(mode: str) -> None:
    problems = FreshsuccessDestination.check_spec(spec(mode))
    assert [key for _, key in problems] == ["insert_mode"]
    assert "documents no way to delete" in problems[0][0] and "use upsert" in problems[0][0]
    assert FreshsuccessDestination.check_spec(spec("upsert")) == []


def test_a_delete_that_reaches_send_is_rejected_never_acknowledged() -> None:
    def no_network(*_: Any) -> tuple[int, dict[str, str], bytes]:
        raise AssertionError("a delete must not be sent")

    destination = FreshsuccessDestination(CONN, HttpClient(transport=no_network))
    change = Change(key="a", op="delete", fields={}, row_hash=None, remote_id="a")
    result = destination.send(spec("upsert"), [change])
    assert result.acked == [] and [(r.key, r.code) for r in result.rejected] == [("a", "delete_unsupported")]


def test_the_sandbox_has_no_delete_route_and_no_custom_fields_to_declare() -> None:
    emulator = FreshsuccessEmulator()
    emulator.store.insert("accounts", {"account_id": "a", "name": "A", "join_date": 0})
    answer = emulator.handle(SandboxRequest("DELETE", "/accounts/a", query={"api_key": emulator.api_keys[0]}))
    assert answer.status == 404 and emulator.store.count("accounts") == 1
    with pytest.raises(SchemaRefused):
        emulator.declare_field(DeclaredField("accounts", "tier"))
