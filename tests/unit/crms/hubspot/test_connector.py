"""The HubSpot connector against the HubSpot emulator over loopback (as strict as HubSpot):
one regression test per defect found by checking against real HubSpot behaviour."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import pytest
import requests

from dbt_revsync import matching
from dbt_revsync.commands import check_remote_fields
from dbt_revsync.crms.hubspot.connector import HubSpotDestination
from dbt_revsync.crms.hubspot.emulator import DEFAULT_TOKEN, HubSpotEmulator
from dbt_revsync.delivery import HttpClient, RetryPolicy, Window
from dbt_revsync.model import (
    BatchResult,
    Change,
    Connection,
    FieldMap,
    NodeRef,
    SyncSpec,
)
from dbt_revsync.sandbox import SandboxServer
from tests.factories import sync_spec
from tests.integration.recording import recording

NODE = NodeRef("model.demo.crm", "crm", "model", "models/schema.yml", None, "main", "crm")


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(emulators=[HubSpotEmulator()]) as running:
        yield running


def emulator_of(server: SandboxServer) -> HubSpotEmulator:
    found = server.emulator("hubspot")
    assert isinstance(found, HubSpotEmulator)
    return found


def connect(server: SandboxServer, **settings: Any) -> Connection:
    return Connection(
        "hs", "hubspot", MappingProxyType({"access_token": DEFAULT_TOKEN, **settings}), base_url=f"{server.url}/hubspot"
    )


def destination(conn: Connection) -> HubSpotDestination:
    http = HttpClient(
        max_concurrency=1,
        policy=RetryPolicy(max_attempts=2, base=0.01, cap=0.05),
        windows=HubSpotDestination.windows(conn),
    )
    return HubSpotDestination(conn, http)


def sync(
    conn: Connection, obj: str, mode: str, fields: dict[str, str], upsert_key: str | None = None, **extra: Any
) -> SyncSpec:
    on_update = extra.pop("on_update", {})
    maps = [FieldMap(path, column, on_update.get(path, "always")) for path, column in fields.items()]
    return sync_spec(conn, obj, mode, maps, upsert_key, node=NODE, sync_id=f"s:{obj}:{mode}", **extra)


def create(server: SandboxServer, obj: str, props: dict[str, str]) -> str:
    """A record made as a HubSpot client would make it (``POST /crm/v3/objects/{obj}``)."""
    answer = requests.post(
        f"{server.url}/hubspot/crm/v3/objects/{obj}",
        json={"properties": props},
        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def outcome(result: BatchResult) -> dict[str, str]:
    found = {a.key: a.outcome for a in result.acked}
    found.update({r.key: f"rejected:{r.code}" for r in result.rejected})
    return found


def test_if_empty_keeps_a_value_the_record_holds_when_the_record_is_found_by_search(server: SandboxServer) -> None:
    record = create(server, "contacts", {"email": "ann@x.io", "firstname": "Ann", "lastname": "Old"})
    conn = connect(server)
    spec = sync(
        conn,
        "contacts",
        "upsert",
        {"email": "e", "firstname": "f", "lastname": "l"},
        match_on=("email",),
        on_update={"firstname": "if_empty"},
    )
    result = matching.send(
        destination(conn), spec, [Change("upsert", "1", {"email": "ann@x.io", "firstname": "Annie", "lastname": "Lee"})]
    )
    assert outcome(result) == {"1": "updated"}
    held = emulator_of(server).store.get("contacts", int(record))
    assert held is not None and (held["properties"]["firstname"], held["properties"]["lastname"]) == ("Ann", "Lee")


def test_update_by_email_finds_the_ids_first_and_updates_by_id(server: SandboxServer) -> None:
    create(server, "contacts", {"email": "ann@x.io"})
    conn = connect(server)
    dest = destination(conn)
    spec = sync(conn, "contacts", "update", {"email": "e", "firstname": "f"}, "email")
    with recording(emulator_of(server)) as calls:
        result = dest.send(
            spec,
            [
                Change("update", "1", {"firstname": "Ann"}, upsert_value="ann@x.io"),
                Change("update", "2", {"firstname": "Nobody"}, upsert_value="nobody@x.io"),
            ],
        )
    assert outcome(result) == {"1": "updated", "2": "rejected:OBJECT_NOT_FOUND"}
    (update,) = calls.on("POST contacts.batch_update")
    assert all("idProperty" not in i for i in update.body["inputs"])  # HubSpot refuses batch/update by email
    assert [r["properties"]["firstname"] for r in emulator_of(server).records("contacts")] == ["Ann"]


def test_one_bad_row_in_an_email_upsert_rejects_only_that_row(server: SandboxServer) -> None:
    conn = connect(server)
    spec = sync(conn, "contacts", "upsert", {"email": "e", "firstname": "f"}, "email")
    emails = [f"p{n}@x.io" for n in range(16)]
    emails[11] = "not-an-email"
    rows = [Change("upsert", str(n), {"email": e, "firstname": f"P{n}"}, upsert_value=e) for n, e in enumerate(emails)]
    with recording(emulator_of(server)) as calls:
        result = destination(conn).send(spec, rows)
    assert [(r.key, r.code) for r in result.rejected] == [("11", "VALIDATION_ERROR")]
    assert "Email address not-an-email is invalid" in result.rejected[0].message
    assert sorted(a.key for a in result.acked) == sorted(str(n) for n in range(16) if n != 11)
    assert len(emulator_of(server).records("contacts")) == 15
    assert len(calls.exchanges) <= 2 * 4 + 1  # halving: about 2·log2(n) requests, not one per row


def test_a_date_shaped_text_value_is_sent_as_text_and_a_date_property_as_epoch_ms(server: SandboxServer) -> None:
    emulator_of(server).define_property("contacts", "signup_date", type="date")
    conn = connect(server)
    dest = destination(conn)
    spec = sync(conn, "contacts", "append", {"email": "e", "jobtitle": "j", "signup_date": "s"})
    dest.prepare(spec)
    result = dest.send(
        spec, [Change("create", "1", {"email": "a@x.io", "jobtitle": "2024-03-05", "signup_date": "2024-03-05"})]
    )
    assert outcome(result) == {"1": "created"}
    (record,) = emulator_of(server).records("contacts")
    assert (record["properties"]["jobtitle"], record["properties"]["signup_date"]) == ("2024-03-05", "1709596800000")


def test_without_the_property_list_values_travel_unconverted(
    server: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    emulator_of(server).define_property("contacts", "signup_date", type="date")
    server.add_fault(
        "status", status=403, prefix="hubspot", path="/crm/v3/properties/contacts$"
    )  # the list cannot be read
    conn = connect(server)
    dest = destination(conn)
    spec = sync(conn, "contacts", "append", {"email": "e", "signup_date": "s"})
    dest.prepare(spec)
    with recording(emulator_of(server)) as calls:
        dest.send(spec, [Change("create", "1", {"email": "a@x.io", "signup_date": "2024-03-05"})])
    sent = [e.body for e in calls.exchanges if e.request.method == "POST"]
    assert "2024-03-05" in json.dumps(sent) and "1709596800000" not in json.dumps(sent), sent
    assert "values are sent unconverted" in caplog.text


def test_emails_compare_case_blind(server: SandboxServer) -> None:
    create(server, "contacts", {"email": "Ann@X.io"})  # HubSpot stores it in lower case
    conn = connect(server)
    dest = destination(conn)
    deleted = dest.send(
        sync(conn, "contacts", "delete", {"email": "e"}, "email"), [Change("delete", "1", {}, upsert_value="ANN@x.IO")]
    )
    assert outcome(deleted) == {"1": "deleted"}
    assert emulator_of(server).records("contacts") == []


def test_searches_are_paced_at_four_a_second_in_their_own_family(server: SandboxServer) -> None:
    emulator_of(server).set_limits(emulator_of(server).vendor_limits)
    conn = connect(server)
    assert HubSpotDestination.windows(conn) == {"search": (Window(4, 1.0),)}
    dest = destination(conn)
    spec = sync(conn, "contacts", "upsert", {"email": "e"}, match_on=("email",))
    started = time.monotonic()
    for n in range(9):
        assert dest.find(spec, "email", f"p{n}@x.io", BatchResult()) == []  # never a 429
    assert time.monotonic() - started >= 1.0  # 9 searches at 4 a second


def test_api_version_is_a_validated_setting_that_builds_the_paths(server: SandboxServer) -> None:
    assert HubSpotDestination.check_connection(connect(server)) == []
    assert HubSpotDestination.check_connection(connect(server, api_version="2026-03")) == []
    (problem,) = HubSpotDestination.check_connection(connect(server, api_version="v4"))
    assert "api_version" in problem and "'v4'" in problem
    conn = connect(server, api_version="2026-09")
    with recording(emulator_of(server)) as calls:
        result = destination(conn).send(
            sync(conn, "contacts", "append", {"email": "e"}), [Change("create", "1", {"email": "a@x.io"})]
        )
    assert outcome(result) == {"1": "created"}
    assert [e.request.path for e in calls.exchanges] == ["/crm/objects/2026-09/contacts/batch/create"]


def test_validate_remote_checks_hubspot_properties(server: SandboxServer) -> None:
    emulator_of(server).define_property("companies", "account_key", unique=True)
    conn = connect(server)
    dest = destination(conn)
    good = sync(conn, "companies", "upsert", {"account_key": "k", "name": "n"}, "account_key")
    bad = sync(conn, "companies", "upsert", {"name": "n", "no_such": "x"}, "name")
    issues, notes = check_remote_fields([good, bad], lambda s: dest)
    assert notes == ["crm -> hs.companies: 2 mapped field(s) exist in hs.companies"]
    assert sorted(i.key.rsplit(".", 1)[-1] for i in issues) == ["no_such", "upsert_key"]


def test_declared_properties_join_the_properties_api_and_bad_ones_are_refused() -> None:
    from dbt_revsync.sandbox import DeclaredField, SchemaRefused

    emulator = HubSpotEmulator()
    emulator.declare_field(DeclaredField("companies", "account_key", "string", unique=True))
    assert emulator.schema["companies"]["account_key"].unique
    for bad in (
        DeclaredField("tickets", "x"),
        DeclaredField("contacts", "x", "money"),
        DeclaredField("contacts", "Bad Name"),
        DeclaredField("contacts", "email"),
        DeclaredField("contacts", "since", "date", unique=True),
    ):
        with pytest.raises(SchemaRefused):
            emulator.declare_field(bad)
    emulator.reset()
    assert "account_key" not in emulator.schema["companies"]
