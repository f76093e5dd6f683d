"""The Freshdesk connector: limits per plan, documented look-ups only, no duplicate when the
filter API lags."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from dbt_revsync import matching
from dbt_revsync.blocks import parse_sync_blocks
from dbt_revsync.connections import load_connections
from dbt_revsync.crms.freshdesk import facts
from dbt_revsync.crms.freshdesk.connector import FreshdeskDestination
from dbt_revsync.crms.freshdesk.emulator import DEFAULT_API_KEY, FreshdeskEmulator
from dbt_revsync.delivery import HttpClient, Window
from dbt_revsync.destinations import catalog
from dbt_revsync.model import BatchResult, Change, Connection, NodeRef
from dbt_revsync.sandbox import SandboxServer

NODE = NodeRef("model.p.people", "people", "model", "models/schema.yml", "db", "main", "people")


def connection(tmp_path: Path, **settings: str) -> Connection:
    extra = "".join(f"    {k}: {v}\n" for k, v in settings.items())
    path = tmp_path / "revsync.yml"
    path.write_text(f"connections:\n  fd:\n    type: freshdesk\n    api_key: {DEFAULT_API_KEY}\n{extra}")
    found, issues = load_connections(path, {}, destinations=catalog())
    assert issues == [], issues
    return found["fd"]


def spec_issues(tmp_path: Path, **block: Any) -> list[str]:
    path = tmp_path / "revsync.yml"
    path.write_text(f"connections:\n  fd:\n    type: freshdesk\n    domain: acme\n    api_key: {DEFAULT_API_KEY}\n")
    conns, _ = load_connections(path, {}, destinations=catalog())
    base = {"destination": "fd", "object": "contacts", "primary_key": "pid", "insert_mode": "upsert"}
    _, issues, _ = parse_sync_blocks(NODE, {**base, **block}, conns, destinations=catalog())
    return [str(issue) for issue in issues]


class Clock:
    """A fake clock: ``sleep`` moves it on and records the wait."""

    def __init__(self) -> None:
        self.now, self.waits = 0.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


class Stub:
    """A transport answering as Freshdesk would, recording each URL."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> tuple[int, Mapping[str, str], bytes]:
        self.urls.append(url)
        if method == "POST":
            return (
                201,
                {"Content-Type": "application/json"},
                json.dumps({"id": len(self.urls), **json.loads(body or b"{}")}).encode(),
            )
        if "/search/" in url:
            return 200, {"Content-Type": "application/json"}, b'{"results": [], "total": 0}'
        return 200, {"Content-Type": "application/json"}, b"[]"


# -- the plan -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "total", "lookups"),
    [(None, 200, 20), ("growth", 200, 20), ("pro", 400, 100), ("enterprise", 700, 200), ("trial", 50, 50)],
)
def test_the_plan_sets_the_minute_limit_and_the_contacts_list_sub_limit(
    tmp_path: Path, plan: str | None, total: int, lookups: int
) -> None:
    conn = connection(tmp_path, domain="acme", **({"plan": plan} if plan else {}))
    assert FreshdeskDestination.check_connection(conn) == []
    assert FreshdeskDestination.windows(conn) == {"": (Window(total, 60.0),), "lookup": (Window(lookups, 60.0),)}


def test_an_unknown_plan_is_refused_naming_the_allowed_values(tmp_path: Path) -> None:
    path = tmp_path / "revsync.yml"
    path.write_text(
        f"connections:\n  fd:\n    type: freshdesk\n    api_key: {DEFAULT_API_KEY}\n"
        "    domain: acme\n    plan: platinum\n"
    )
    _, issues = load_connections(path, {}, destinations=catalog())
    assert [issue.message for issue in issues] == [
        "unknown freshdesk plan 'platinum' in 'plan'; expected one of: growth, pro, enterprise, trial"
    ]


def test_plan_numbers_come_from_the_rate_limit_article() -> None:
    assert facts.PLAN_SOURCE.endswith("/225439")
    assert {name: (p.per_minute, p.contacts_list) for name, p in facts.PLANS.items()} == {
        "growth": (200, 20),
        "pro": (400, 100),
        "enterprise": (700, 200),
        "trial": (50, 50),
    }


def test_lookups_wait_for_the_contacts_list_budget_and_every_request_for_the_minute_budget(tmp_path: Path) -> None:
    conn = connection(tmp_path, base_url="https://acme.freshdesk.com/api/v2")
    clock, stub = Clock(), Stub()
    http = HttpClient(
        max_concurrency=1, transport=stub, clock=clock, sleep=clock.sleep, windows=FreshdeskDestination.windows(conn)
    )
    destination = FreshdeskDestination(conn, http)
    (spec,) = parse_sync_blocks(
        NODE,
        {
            "destination": "fd",
            "object": "contacts",
            "primary_key": "pid",
            "insert_mode": "upsert",
            "upsert_key": "email",
            "fields": {"name": "name", "email": "email"},
        },
        {"fd": conn},
        destinations=catalog(),
    )[0]

    def create(key: str) -> BatchResult:
        return destination.send(spec, [Change("create", key, {"name": "n", "email": f"{key}@x.io"})])

    for i in range(20):  # the Growth plan's Contacts List budget, spent without a wait
        destination.find(spec, "email", f"p{i}@x.io", BatchResult())
    for i in range(180):  # creates are no look-ups: the minute's 200 requests, no wait
        create(f"c{i}")
    assert clock.waits == []
    create("late")  # the 201st request of the minute waits for the minute's budget
    assert clock.waits == [pytest.approx(60.0)]
    for i in range(20):  # a new minute: look-ups again, then the 21st waits for the sub-limit alone
        destination.find(spec, "email", f"q{i}@x.io", BatchResult())
    create("more")
    assert len(clock.waits) == 1
    destination.find(spec, "email", "q20@x.io", BatchResult())
    assert len(clock.waits) == 2 and clock.waits[1] == pytest.approx(60.0) and len(stub.urls) == 223


# -- documented look-ups only --------------------------------------------------------


def test_filter_api_queries_are_url_encoded_in_the_documented_syntax(tmp_path: Path) -> None:
    conn = connection(tmp_path, base_url="https://acme.freshdesk.com/api/v2")
    stub = Stub()
    destination = FreshdeskDestination(conn, HttpClient(max_concurrency=1, transport=stub))
    (spec,) = parse_sync_blocks(
        NODE,
        {
            "destination": "fd",
            "object": "contacts",
            "primary_key": "pid",
            "insert_mode": "upsert",
            "match_on": "custom_fields.sfid",
            "fields": {"name": "name", "custom_fields.sfid": "sfid"},
        },
        {"fd": conn},
        destinations=catalog(),
    )[0]
    destination.find(spec, "custom_fields.sfid", "a b+c@x&y", BatchResult())
    destination.find(spec, "custom_fields.sfid", 12, BatchResult())
    destination.find(spec, "email", "a+b@x.io", BatchResult())
    assert stub.urls == [
        "https://acme.freshdesk.com/api/v2/search/contacts?query=%22sfid%3A%27a%20b%2Bc%40x%26y%27%22",
        "https://acme.freshdesk.com/api/v2/search/contacts?query=%22sfid%3A12%22",
        "https://acme.freshdesk.com/api/v2/contacts?email=a%2Bb%40x.io&per_page=100",
    ]


def test_a_value_the_query_language_cannot_hold_is_rejected_unsent(tmp_path: Path) -> None:
    conn = connection(tmp_path, base_url="https://acme.freshdesk.com/api/v2")
    stub = Stub()
    destination = FreshdeskDestination(conn, HttpClient(max_concurrency=1, transport=stub))
    (spec,) = parse_sync_blocks(
        NODE,
        {
            "destination": "fd",
            "object": "contacts",
            "primary_key": "pid",
            "insert_mode": "upsert",
            "match_on": "custom_fields.sfid",
            "fields": {"name": "name", "custom_fields.sfid": "sfid"},
        },
        {"fd": conn},
        destinations=catalog(),
    )[0]
    result = matching.send(
        destination, spec, [Change("upsert", "1", {"name": "n", "custom_fields": {"sfid": "O'Brien"}})]
    )
    assert [(r.key, r.code) for r in result.rejected] == [("1", "unsearchable_value")] and stub.urls == []


def test_match_keys_freshdesk_documents_no_lookup_for_are_refused(tmp_path: Path) -> None:
    fields = {"name": "name", "unique_external_id": "pid", "job_title": "title", "email": "email", "tags": "tags"}
    issues = spec_issues(tmp_path, match_on="unique_external_id", fields=fields)
    assert any("Freshdesk cannot look contacts up by 'unique_external_id'" in i and "match_on" in i for i in issues), (
        issues
    )
    assert any(
        "cannot look contacts up by 'job_title'" in i
        for i in spec_issues(tmp_path, match_on="job_title", fields=fields)
    )
    assert (
        spec_issues(tmp_path, match_on=["email", "tags"], fields=fields) == []
    )  # a list filter; ``tag`` in the filter API
    assert spec_issues(tmp_path, insert_mode="append", fields=fields) == []
    companies = {"name": "name", "custom_fields.acct": "acct"}
    assert any(
        "cannot look companies up by 'name'" in i
        for i in spec_issues(tmp_path, object="companies", upsert_key="name", fields=companies)
    )
    assert spec_issues(tmp_path, object="companies", upsert_key="acct", fields=companies) == []


# -- the filter API's indexing lag -----------------------------------------------------


@pytest.fixture
def lagging(tmp_path: Path) -> Iterator[tuple[FreshdeskDestination, FreshdeskEmulator]]:
    emulator = FreshdeskEmulator(search_lag=300)
    emulator.define_custom_field("contacts", "sfid")
    with SandboxServer(emulators=[emulator]) as server:
        conn = connection(tmp_path, base_url=f"{server.url}/freshdesk")
        yield FreshdeskDestination(conn, HttpClient(max_concurrency=1)), emulator


def test_no_duplicate_when_the_filter_api_has_not_indexed_a_record_created_in_the_push(
    tmp_path: Path, lagging: tuple[FreshdeskDestination, FreshdeskEmulator]
) -> None:
    destination, emulator = lagging
    (spec,) = parse_sync_blocks(
        NODE,
        {
            "destination": "fd",
            "object": "contacts",
            "primary_key": "pid",
            "insert_mode": "upsert",
            "match_on": "custom_fields.sfid",
            "fields": {"name": "name", "email": "email", "custom_fields.sfid": "sfid"},
        },
        {"fd": destination.connection},
        destinations=catalog(),
    )[0]
    first = matching.send(
        destination,
        spec,
        [Change("upsert", "1", {"name": "Ann", "email": "ann@x.io", "custom_fields": {"sfid": "SF1"}})],
    )
    second = matching.send(
        destination,
        spec,
        [Change("upsert", "2", {"name": "Ann B", "email": "annb@x.io", "custom_fields": {"sfid": "sf1"}})],
    )
    assert [a.outcome for a in first.acked] == ["created"] and [a.outcome for a in second.acked] == ["updated"]
    assert [c["name"] for c in emulator.records("contacts")] == ["Ann B"]


def test_the_email_list_filter_finds_a_record_at_once_despite_the_lag(
    tmp_path: Path, lagging: tuple[FreshdeskDestination, FreshdeskEmulator]
) -> None:
    destination, emulator = lagging
    emulator.store.insert("contacts", {"name": "Old", "email": "old@x.io", "deleted": False})  # created by someone else
    (spec,) = parse_sync_blocks(
        NODE,
        {
            "destination": "fd",
            "object": "contacts",
            "primary_key": "pid",
            "insert_mode": "upsert",
            "upsert_key": "email",
            "fields": {"name": "name", "email": "email"},
        },
        {"fd": destination.connection},
        destinations=catalog(),
    )[0]
    result = matching.send(destination, spec, [Change("upsert", "1", {"name": "New", "email": "OLD@x.io"})])
    assert [a.outcome for a in result.acked] == ["updated"], (result.rejected, result.left)


# -- the trash: a row whose contact is in the trash brings it back ---------------------


def trash_spec(destination: FreshdeskDestination, mode: str, **block: Any) -> Any:
    fields = {"name": "name", "email": "email", "unique_external_id": "pid"}
    keyed = {"upsert_key": "email"} if mode != "append" else {}
    (spec,) = parse_sync_blocks(
        NODE,
        {
            "destination": "fd",
            "object": "contacts",
            "primary_key": "pid",
            "insert_mode": mode,
            "fields": fields,
            **keyed,
            **block,
        },
        {"fd": destination.connection},
        destinations=catalog(),
    )[0]
    return spec


@pytest.fixture(params=[False, True], ids=["found-by-state-deleted", "named-in-additional-info"])
def trash(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[FreshdeskDestination, FreshdeskEmulator, SandboxServer]]:
    emulator = FreshdeskEmulator(duplicate_ids=request.param)
    with SandboxServer(emulators=[emulator]) as server:
        conn = connection(tmp_path, base_url=f"{server.url}/freshdesk")
        yield FreshdeskDestination(conn, HttpClient(max_concurrency=1)), emulator, server


def by_route(server: SandboxServer) -> dict[str, int]:
    return {name.split(" ", 1)[-1]: count for name, count in server.stats()["freshdesk"]["by_route"].items()}


def test_mirror_restores_and_updates_a_contact_it_deleted_when_the_row_returns(
    trash: tuple[FreshdeskDestination, FreshdeskEmulator, SandboxServer],
) -> None:
    destination, emulator, server = trash
    spec = trash_spec(destination, "mirror")
    created = matching.send(
        destination, spec, [Change("upsert", "1", {"name": "Ann", "email": "ann@x.io", "unique_external_id": "1"})]
    )
    ann = created.acked[0].destination_id
    gone = matching.send(destination, spec, [Change("delete", "1", {}, remote_id=ann, origin="created")])
    assert [a.outcome for a in gone.acked] == ["deleted"] and emulator.records("contacts")[0]["deleted"] is True
    back = matching.send(
        destination, spec, [Change("upsert", "1", {"name": "Ann B", "email": "ann@x.io", "unique_external_id": "1"})]
    )
    assert not back.rejected and not back.left, (back.rejected, back.left)
    assert [(a.outcome, a.destination_id) for a in back.acked] == [("updated", ann)], (
        "restored: the same contact, never 'created'"
    )
    (held,) = emulator.records("contacts")
    assert (held["name"], held["deleted"]) == ("Ann B", False)
    assert by_route(server).get("contacts.restore") == 1
    assert "contacts.hard_delete" not in by_route(server), "the connector never deletes for good"


def test_a_remembered_id_in_the_trash_is_restored_then_updated_in_update_mode(
    trash: tuple[FreshdeskDestination, FreshdeskEmulator, SandboxServer],
) -> None:
    destination, emulator, _server = trash
    ann = emulator.store.insert("contacts", {"name": "Ann", "email": "ann@x.io", "deleted": True})["id"]
    spec = trash_spec(destination, "update")
    result = matching.send(
        destination,
        spec,
        [Change("update", "1", {"name": "Ann B"}, remote_id=str(ann), in_state=True, origin="created")],
    )
    assert [(a.outcome, a.destination_id) for a in result.acked] == [("updated", str(ann))], (
        result.rejected,
        result.left,
    )
    assert emulator.records("contacts")[0]["name"] == "Ann B" and emulator.records("contacts")[0]["deleted"] is False


def test_a_duplicate_held_by_a_live_contact_stays_a_reject_with_freshdesks_reason(
    trash: tuple[FreshdeskDestination, FreshdeskEmulator, SandboxServer],
) -> None:
    destination, emulator, server = trash
    emulator.store.insert("contacts", {"name": "Bob", "email": "bob@x.io", "unique_external_id": "7", "deleted": False})
    spec = trash_spec(destination, "upsert")
    result = matching.send(
        destination, spec, [Change("upsert", "7", {"name": "Ann", "email": "ann@x.io", "unique_external_id": "7"})]
    )
    assert [(r.code, r.message) for r in result.rejected] == [
        ("duplicate_value", "unique_external_id: It should be a unique value (duplicate_value)")
    ]
    assert "contacts.restore" not in by_route(server)


def test_a_trashed_contact_holding_only_part_of_the_duplicates_is_not_restored(
    trash: tuple[FreshdeskDestination, FreshdeskEmulator, SandboxServer],
) -> None:
    destination, emulator, server = trash
    emulator.store.insert("contacts", {"name": "Ann", "email": "ann@x.io", "unique_external_id": "1", "deleted": True})
    emulator.store.insert("contacts", {"name": "Bob", "email": "bob@x.io", "unique_external_id": "2", "deleted": False})
    spec = trash_spec(destination, "upsert")
    result = matching.send(
        destination, spec, [Change("upsert", "1", {"name": "Ann", "email": "ann@x.io", "unique_external_id": "2"})]
    )
    assert [r.code for r in result.rejected] == ["duplicate_value"] and not result.acked
    assert "contacts.restore" not in by_route(server)


def test_append_never_restores_a_trashed_contact(
    trash: tuple[FreshdeskDestination, FreshdeskEmulator, SandboxServer],
) -> None:
    destination, emulator, server = trash
    emulator.store.insert("contacts", {"name": "Ann", "email": "ann@x.io", "deleted": True})
    result = matching.send(
        destination, trash_spec(destination, "append"), [Change("create", "1", {"name": "Ann", "email": "ann@x.io"})]
    )
    assert [r.code for r in result.rejected] == ["duplicate_value"]
    assert emulator.records("contacts")[0]["deleted"] is True and "contacts.restore" not in by_route(server)
