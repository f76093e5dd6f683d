"""What the state guarantees over sequences of pushes and edits: mirror deletes only records
the sync created and nothing a current row points at; a sync's state belongs to its target;
one push per sync at a time; an incremental watermark never passes an unacknowledged row."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import requests

from dbt_revsync.sandbox import SandboxServer
from tests.integration.conftest import FRESHSALES_KEY, Project

pytestmark = pytest.mark.integration

ACCOUNTS = {"destination": "freshsales", "object": "sales_accounts", "primary_key": "account_id"}
FIELDS = {"name": "name", "custom_field.cf_account_id": "account_id", "custom_field.cf_ref": "ref"}
MIRROR = {**ACCOUNTS, "insert_mode": "mirror", "upsert_key": "cf_ref", "fields": FIELDS}


def write(
    project: Project, block: Any, rows: list[list[Any]], header: tuple[str, ...] = ("account_id", "ref", "name")
) -> None:
    project.seed("raw", list(header), rows, {c: "varchar" for c in header})
    project.model("accounts", "select * from {{ ref('raw') }}", block)
    project.build()


def records(sandbox: SandboxServer, resource: str = "sales_accounts") -> list[dict[str, Any]]:
    return list(sandbox.emulator("freshsales").records(resource))


def by_ref(sandbox: SandboxServer) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for record in records(sandbox):
        ref = record["custom_field"].get("cf_ref")
        assert ref not in found, f"two records share the upsert key {ref!r}"
        found[ref] = record
    return found


def make_by_hand(sandbox: SandboxServer, name: str, ref: str) -> int:
    answer = requests.post(
        f"{sandbox.url}/freshsales/sales_accounts",
        json={"sales_account": {"name": name, "custom_field": {"cf_ref": ref}}},
        headers={"Authorization": f"Token token={FRESHSALES_KEY}"},
        timeout=10,
    )
    answer.raise_for_status()
    return int(answer.json()["sales_account"]["id"])


def requests_made(sandbox: SandboxServer) -> int:
    return int(sandbox.stats()["freshsales"]["requests"])


def test_mirror_keeps_the_record_a_rekeyed_row_upserted(project: Project) -> None:
    write(project, MIRROR, [["1", "r1", "One"], ["2", "r2", "Two"]])
    assert project.push().code == 0
    first = by_ref(project.sandbox)
    write(project, MIRROR, [["10", "r1", "One"], ["2", "r2", "Two"]])  # row 1 re-keyed, same upsert key
    result = project.push()
    assert result.code == 0, result.out + result.err
    after = by_ref(project.sandbox)
    assert sorted(after) == ["r1", "r2"] and after["r1"]["id"] == first["r1"]["id"]
    state = {row["record_key"]: row["destination_id"] for row in project.state()}
    assert state == {"10": str(first["r1"]["id"]), "2": str(first["r2"]["id"])}
    assert project.runs()[-1]["deleted"] == 0


def test_changing_the_primary_key_of_a_mirror_sync_deletes_nothing(project: Project) -> None:
    header = ("account_id", "ref", "name", "other_id")
    write(project, MIRROR, [["1", "r1", "One", "a"], ["2", "r2", "Two", "b"]], header)
    assert project.push().code == 0
    write(project, {**MIRROR, "primary_key": "other_id"}, [["1", "r1", "One", "a"], ["2", "r2", "Two", "b"]], header)
    assert project.push().code == 0
    assert sorted(by_ref(project.sandbox)) == ["r1", "r2"]
    assert sorted(row["record_key"] for row in project.state()) == ["a", "b"]
    again = project.push()
    assert again.code == 0 and project.runs()[-1]["unchanged"] == 2
    write(project, {**MIRROR, "primary_key": "other_id"}, [["2", "r2", "Two", "b"]], header)
    assert project.push().code == 0
    assert sorted(by_ref(project.sandbox)) == ["r2"]  # created by the sync under "1", handed over to "a"


def test_mirror_never_deletes_a_record_it_did_not_create(project: Project) -> None:
    by_hand = make_by_hand(project.sandbox, "Made by a person", "r1")
    write(project, MIRROR, [["1", "r1", "One"], ["2", "r2", "Two"]])
    assert project.push().code == 0
    assert by_ref(project.sandbox)["r1"]["id"] == by_hand  # matched, not duplicated
    origins = {row["record_key"]: row["origin"] for row in project.state()}
    assert origins == {"1": "matched", "2": "created"}
    write(project, MIRROR, [["3", "r3", "Three"]])
    result = project.push()
    assert result.code == 0, result.out + result.err
    held = by_ref(project.sandbox)
    assert sorted(held) == ["r1", "r3"] and held["r1"]["id"] == by_hand  # r2 (created) deleted, r1 (a person's) kept
    assert sorted(row["record_key"] for row in project.state()) == ["3"]
    assert project.runs()[-1]["deleted"] == 1


def test_mirror_keeps_a_record_whose_upsert_key_a_current_row_still_carries(project: Project) -> None:
    write(project, MIRROR, [["1", "r1", "One"]])
    assert project.push().code == 0
    record = by_ref(project.sandbox)["r1"]
    project.sandbox.add_fault("status", status=400, prefix="freshsales", path="/sales_accounts/upsert$")
    write(project, MIRROR, [["10", "r1", "One"]])  # re-keyed while the CRM refuses every upsert
    assert project.push().code == 1
    assert by_ref(project.sandbox)["r1"]["id"] == record["id"]  # the old key's record was not deleted
    project.sandbox.clear_faults()
    assert project.push().code == 0
    assert by_ref(project.sandbox)["r1"]["id"] == record["id"]


def test_a_named_sync_moved_to_another_object_never_uses_its_remembered_ids(project: Project) -> None:
    block = {**ACCOUNTS, "name": "crm", "insert_mode": "upsert", "upsert_key": "cf_ref", "fields": FIELDS}
    write(project, block, [["1", "r1", "One"]])
    assert project.push().code == 0
    account = records(project.sandbox)[0]
    contact_fields = {"first_name": "name", "last_name": "name", "custom_field.cf_ref": "ref"}
    block = {**block, "object": "contacts", "fields": contact_fields}
    write(project, block, [["1", "r1", "One"]])
    result = project.push()
    assert result.code == 0, result.out + result.err
    contacts = records(project.sandbox, "contacts")
    assert len(contacts) == 1 and contacts[0]["custom_field"]["cf_ref"] == "r1"
    assert records(project.sandbox) == [account]  # the account untouched
    targets = {row["target"] for row in project.state()}
    assert len(targets) == 2 and any(t.endswith("/contacts") for t in targets)


def test_a_named_sync_moved_to_another_connection_starts_afresh(project: Project) -> None:
    with SandboxServer() as production:
        project.connections(
            {
                "freshsales": project.freshsales_connection(),
                "production": {**project.freshsales_connection(), "base_url": f"{production.url}/freshsales"},
            }
        )
        unrelated = make_by_hand(production, "Somebody else", "other")
        block = {**ACCOUNTS, "name": "crm", "insert_mode": "upsert", "upsert_key": "cf_ref", "fields": FIELDS}
        write(project, block, [["1", "r1", "One"], ["2", "r2", "Two"]])
        assert project.push().code == 0
        write(project, {**block, "destination": "production"}, [["1", "r1", "One"], ["2", "r2", "Two"]])
        result = project.push()
        assert result.code == 0, result.out + result.err
        held = {r["custom_field"].get("cf_ref"): r for r in production.emulator("freshsales").records("sales_accounts")}
        assert sorted(held) == ["other", "r1", "r2"]
        assert held["other"]["id"] == unrelated and held["other"]["name"] == "Somebody else"
        assert project.runs()[-1]["created"] == 2


def test_the_first_push_after_an_upgrade_claims_the_old_state(project: Project) -> None:
    block = {**ACCOUNTS, "insert_mode": "append", "fields": FIELDS}
    write(project, block, [["1", "r1", "One"]])
    assert project.push().code == 0
    with project.duckdb() as db:  # as an older version left it: no target, no origin
        db.execute("update revsync.revsync_sync_state set target = null, origin = null")
        db.execute("update revsync.revsync_runs set target = null")
    assert project.push().code == 0
    assert requests_made(project.sandbox) == 1 and len(records(project.sandbox)) == 1
    assert all(row["target"] for row in project.state())


def test_a_second_push_while_the_duckdb_file_is_in_use_sends_nothing(project: Project) -> None:
    write(project, {**ACCOUNTS, "insert_mode": "append", "fields": FIELDS}, [["1", "r1", "One"]])
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; d = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)",
            project.env["REVSYNC_TEST_DB"],
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = project.push()
    finally:
        holder.kill()
        holder.wait()
    assert result.code != 0 and "in use by another process" in result.err + result.out
    assert "Traceback" not in result.err and requests_made(project.sandbox) == 0


LEASE_MACRO = "{% macro duckdb__revsync_lock_kind() %}{{ return('lease') }}{% endmacro %}\n"


def test_a_lease_held_by_another_push_stops_the_sync_until_it_expires(project: Project) -> None:
    (project.root / "macros").mkdir(exist_ok=True)
    (project.root / "macros" / "lease.sql").write_text(LEASE_MACRO)
    write(project, {**ACCOUNTS, "insert_mode": "append", "fields": FIELDS}, [["1", "r1", "One"]])
    assert project.push("--dry-run").code == 0  # makes the state tables
    sync_id = "model.revsync_test.accounts:freshsales.sales_accounts"
    with project.duckdb() as db:
        db.execute(
            "insert into revsync.revsync_locks values (?, 'another-push', now(), now() + interval 1 hour)", [sync_id]
        )
    result = project.push()
    assert (
        result.code == 1
        and "another push of accounts -> freshsales.sales_accounts is running" in result.out + result.err
    )
    assert requests_made(project.sandbox) == 0
    with project.duckdb() as db:
        db.execute("update revsync.revsync_locks set expires_at = now() - interval 1 minute")
    assert project.push().code == 0
    assert requests_made(project.sandbox) == 1
    with project.duckdb() as db:
        assert db.execute("select count(*) from revsync.revsync_locks").fetchone() == (0,)


def test_incremental_watermark_never_passes_a_rejected_row(project: Project) -> None:
    header = ("account_id", "ref", "name", "updated_at")
    block = {
        **ACCOUNTS,
        "insert_mode": "upsert",
        "upsert_key": "cf_ref",
        "fields": FIELDS,
        "fetch_mode": "incremental",
        "incremental_key": "updated_at",
    }
    rows = [
        ["1", "r1", "One", "2024-01-01 10:00:00"],
        ["2", None, "Two", "2024-01-02 10:00:00"],
        ["3", "r3", "Three", "2024-01-03 10:00:00"],
    ]
    write(project, block, rows, header)
    assert project.push().code == 1  # row 2 has no upsert key: rejected
    assert project.runs()[-1]["watermark"].startswith("2024-01-02")
    rows[1] = ["2", "r2", "Two", "2024-01-02 10:00:00"]  # fixed, its incremental key unchanged
    write(project, block, rows, header)
    assert project.push().code == 0
    assert sorted(by_ref(project.sandbox)) == ["r1", "r2", "r3"]
    assert project.runs()[-1]["watermark"].startswith("2024-01-03")


def test_rejects_keep_only_each_records_latest_rejection(project: Project) -> None:
    block = {**ACCOUNTS, "insert_mode": "upsert", "upsert_key": "cf_ref", "fields": FIELDS}
    write(project, block, [["1", None, "One"], ["2", "r2", "Two"]])
    for _ in range(3):
        assert project.push().code == 1
    assert [row["record_key"] for row in project.rejects()] == ["1"]
    write(project, block, [["1", "r1", "One"], ["2", "r2", "Two"]])
    assert project.push().code == 0
    assert project.rejects() == []


def test_full_refresh_never_creates_an_append_record_twice(project: Project) -> None:
    block = {**ACCOUNTS, "insert_mode": "append", "fields": FIELDS}
    write(project, block, [["1", "r1", "One"]])
    assert project.push().code == 0
    result = project.push("--full-refresh")
    assert result.code == 0 and "append never creates a record twice" in result.err
    assert len(records(project.sandbox)) == 1


def test_a_sync_that_fails_with_a_config_error_does_not_stop_the_others(project: Project) -> None:
    project.connections(
        {
            "freshsales": project.freshsales_connection(),
            "pipedrive": {
                "type": "pipedrive",
                "api_token": "sandbox-pipedrive-token",
                "base_url": f"{project.sandbox.url}/pipedrive",
            },
        }
    )
    broken = {
        "destination": "pipedrive",
        "object": "organizations",
        "insert_mode": "append",
        "primary_key": "account_id",
        "fields": {"name": "name", "no_such_custom_field": "ref"},
    }
    good = {**ACCOUNTS, "insert_mode": "append", "fields": FIELDS}
    write(project, [broken, good], [["1", "r1", "One"]])
    result = project.push()
    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.err
    assert len(records(project.sandbox)) == 1
    statuses = sorted((run["status"], bool(run["message"])) for run in project.runs())
    assert statuses == [("failed", True), ("success", False)]


def test_an_ephemeral_model_is_named_as_such(project: Project) -> None:
    project.seed("raw", ["account_id", "ref", "name"], [["1", "r1", "One"]])
    project.model(
        "accounts",
        "{{ config(materialized='ephemeral') }} select * from {{ ref('raw') }}",
        {**ACCOUNTS, "insert_mode": "append", "fields": FIELDS},
    )
    project.build()
    result = project.revsync("validate")
    assert result.code == 2 and "ephemeral" in result.err


def postgres_connection(project: Project) -> Any:
    import psycopg2

    from tests.integration.warehouses import PostgresServer

    server = PostgresServer.from_env()
    connection = psycopg2.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        dbname=project.env["REVSYNC_TEST_DB"],
        connect_timeout=5,
    )
    connection.autocommit = True
    return connection


@pytest.mark.warehouses("postgres")
def test_two_pushes_of_one_sync_at_once_on_postgres_send_once(project: Project, warehouse: str) -> None:
    write(project, {**ACCOUNTS, "insert_mode": "append", "fields": FIELDS}, [["1", "r1", "One"], ["2", "r2", "Two"]])
    sync_id = "model.revsync_test.accounts:freshsales.sales_accounts"
    other = postgres_connection(project)  # another push, holding the sync's lock
    try:
        with other.cursor() as cursor:
            cursor.execute("select pg_advisory_lock(hashtextextended(%s, 0))", [f"dbt-revsync:{sync_id}"])
        result = project.push()
        assert (
            result.code == 1
            and "another push of accounts -> freshsales.sales_accounts is running" in result.out + result.err
        )
        assert requests_made(project.sandbox) == 0
    finally:
        other.close()  # the lock ends with the connection, as a killed push's does
    assert project.push().code == 0
    assert len(records(project.sandbox)) == 2 and len(project.state()) == 2


@pytest.mark.warehouses("postgres")
def test_the_state_keeps_one_row_per_sync_and_key_on_postgres(project: Project, warehouse: str) -> None:
    write(project, {**ACCOUNTS, "insert_mode": "append", "fields": FIELDS}, [["1", "r1", "One"]])
    assert project.push().code == 0
    connection = postgres_connection(project)
    try:
        with connection.cursor() as cursor:
            cursor.execute("drop index revsync.revsync_sync_state_unique")
            cursor.execute(
                "insert into revsync.revsync_sync_state select * from revsync.revsync_sync_state"
            )  # an old duplicate
        assert project.push().code == 0  # the index is made again, the duplicate gone
        with connection.cursor() as cursor:
            cursor.execute("select count(*) from revsync.revsync_sync_state")
            assert cursor.fetchone() == (1,)
            with pytest.raises(Exception, match="revsync_sync_state_unique"):
                cursor.execute("insert into revsync.revsync_sync_state select * from revsync.revsync_sync_state")
    finally:
        connection.close()


DEFAULT_PATHS = (
    "{% macro duckdb__revsync_bound_commit_sql(schema_relation) %}{{ return(none) }}{% endmacro %}\n"
    "{% macro duckdb__revsync_lock_kind() %}{{ return('lease') }}{% endmacro %}\n"
)


def test_warehouses_without_bound_parameters_or_locks_keep_the_same_state(project: Project) -> None:
    """The statements other warehouses run (literal commits, a lease), exercised on DuckDB."""
    (project.root / "macros").mkdir(exist_ok=True)
    (project.root / "macros" / "defaults.sql").write_text(DEFAULT_PATHS)
    by_hand = make_by_hand(project.sandbox, "Made by a person", "r1")
    write(project, MIRROR, [["1", "r1", "O'Neil"], ["2", "r2", "Two"], ["3", None, "No ref"]])
    assert project.push().code == 1  # row 3 rejected
    assert {row["record_key"]: row["origin"] for row in project.state()} == {"1": "matched", "2": "created"}
    assert [row["record_key"] for row in project.rejects()] == ["3"]
    write(project, MIRROR, [["10", "r2", "Two"], ["3", "r3", "Three"]])
    assert project.push().code == 0
    held = by_ref(project.sandbox)
    assert sorted(held) == ["r1", "r2", "r3"] and held["r1"]["id"] == by_hand
    assert {row["record_key"]: row["origin"] for row in project.state()} == {"10": "created", "3": "created"}
    assert project.rejects() == []
    with project.duckdb() as db:
        assert db.execute("select count(*) from revsync.revsync_locks").fetchone() == (0,)


def test_mirror_deletes_nothing_while_a_current_row_is_left_for_later(project: Project) -> None:
    project.connections({"freshsales": project.freshsales_connection(max_retries=1, max_retry_time=1)})
    write(project, MIRROR, [["1", "r1", "One"], ["2", "r2", "Two"]])
    assert project.push().code == 0
    project.sandbox.add_fault("status", status=503, prefix="freshsales", path="/sales_accounts/upsert$")
    write(project, MIRROR, [["10", "r1x", "One"]])  # re-keyed and its upsert key changed; row 2 gone
    result = project.push()
    assert "mirror deletes nothing this push" in result.err
    assert sorted(by_ref(project.sandbox)) == ["r1", "r2"]
    project.sandbox.clear_faults()
    assert project.push().code == 0
    assert sorted(by_ref(project.sandbox)) == [
        "r1x"
    ]  # r1 and r2 were created by the sync, and nothing points at them now


def test_a_record_matched_in_place_of_a_remembered_one_is_not_the_syncs(project: Project) -> None:
    write(project, MIRROR, [["1", "r1", "One"]])
    assert project.push().code == 0
    created = by_ref(project.sandbox)["r1"]["id"]
    requests.delete(
        f"{project.sandbox.url}/freshsales/sales_accounts/{created}",
        headers={"Authorization": f"Token token={FRESHSALES_KEY}"},
        timeout=10,
    ).raise_for_status()
    by_hand = make_by_hand(project.sandbox, "Made by a person", "r1")
    write(project, MIRROR, [["1", "r1", "One renamed"]])
    assert project.push().code == 0
    assert {row["record_key"]: (row["destination_id"], row["origin"]) for row in project.state()} == {
        "1": (str(by_hand), "matched")
    }
    write(project, MIRROR, [["2", "r2", "Two"]])
    assert project.push().code == 0
    assert sorted(by_ref(project.sandbox)) == ["r1", "r2"] and by_ref(project.sandbox)["r1"]["id"] == by_hand


def test_mirror_never_deletes_a_record_another_sync_on_the_same_object_remembers(project: Project) -> None:
    project.seed(
        "raw",
        ["account_id", "ref", "name"],
        [["1", "r1", "One"]],
        {c: "varchar" for c in ("account_id", "ref", "name")},
    )
    project.model("accounts", "select * from {{ ref('raw') }}", MIRROR)
    project.model("others", "select * from {{ ref('raw') }}", {**MIRROR, "insert_mode": "upsert"})
    project.build()
    assert project.push("--select", "accounts").code == 0  # the mirror sync creates the record
    assert project.push().code == 0  # the other one matches it
    record = by_ref(project.sandbox)["r1"]
    assert {row["origin"] for row in project.state()} == {"created", "matched"}
    project.model("accounts", "select * from {{ ref('raw') }} where false", MIRROR)
    project.build()
    assert project.push().code == 0
    assert by_ref(project.sandbox)["r1"]["id"] == record["id"]
