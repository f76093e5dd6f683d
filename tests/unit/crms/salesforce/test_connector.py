"""The Salesforce connector against the sandbox's Salesforce over loopback: bulk outcomes,
look-ups within the URI limit, the token's instance_url, and the configuration checks."""

from __future__ import annotations

from collections.abc import Iterator
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import pytest

from dbt_revsync.crms.salesforce import facts
from dbt_revsync.crms.salesforce.connector import SalesforceDestination, lookup_queries
from dbt_revsync.crms.salesforce.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TOKEN,
    SalesforceEmulator,
)
from dbt_revsync.delivery import HttpClient, RetryPolicy
from dbt_revsync.model import Change, Connection, NodeRef, SyncSpec
from dbt_revsync.sandbox import SandboxServer
from tests.factories import sync_spec

NODE = NodeRef("model.p.accounts", "accounts", "model", "models/schema.yml", None, "main", "accounts")


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(emulators=[SalesforceEmulator()]) as running:
        yield running


def emulator(server: SandboxServer) -> SalesforceEmulator:
    found = server.emulator("salesforce")
    assert isinstance(found, SalesforceEmulator)
    return found


def destination(server: SandboxServer, **settings: Any) -> SalesforceDestination:
    base = settings.pop("base_url", f"{server.url}/salesforce/services/data/v62.0")
    conn = Connection(
        "sf",
        "salesforce",
        MappingProxyType({"access_token": DEFAULT_TOKEN, "bulk_poll_seconds": 0.01, **settings}),
        base_url=base,
    )
    http = HttpClient(sleep=lambda _: None, policy=RetryPolicy(max_attempts=2, max_seconds=5))
    return SalesforceDestination(conn, http)


def spec_for(
    dest: SalesforceDestination, mode: str, upsert_key: str | None = "Ext_Id__c", obj: str = "Account"
) -> SyncSpec:
    fields = {"Name": "name", "Ext_Id__c": "ext"}
    return sync_spec(dest.connection, obj, mode, fields, upsert_key, node=NODE, sync_id="accounts")


def rows(op: str, count: int, ext: bool = True) -> list[Change]:
    return [
        Change(op, str(i), {"Name": f"Account {i}", **({"Ext_Id__c": f"E{i}"} if ext else {})}, upsert_value=f"E{i}")
        for i in range(count)
    ]


# ---- Bulk API 2.0: every result set of every finished job ------------------------------------


def test_a_failed_bulk_job_acknowledges_its_committed_rows_and_leaves_the_unprocessed(server: SandboxServer) -> None:
    dest = destination(server)
    emulator(server).bulk_fail_after = 40  # the job commits 40 rows, then ends Failed
    changes = rows("upsert", 250)
    changes[3] = Change("upsert", "3", {"Name": None, "Ext_Id__c": "E3"}, upsert_value="E3")  # fails: no Name
    result = dest.send(spec_for(dest, "upsert"), changes)

    held = {r["Ext_Id__c"]: r["Id"] for r in emulator(server).records("Account")}
    assert len(held) == 39  # 40 processed, one of them failed
    assert {a.key: a.destination_id for a in result.acked} == {str(i): held[f"E{i}"] for i in range(40) if i != 3}
    assert all(a.outcome == "created" for a in result.acked)
    assert [(r.key, r.code) for r in result.rejected] == [("3", "REQUIRED_FIELD_MISSING")]
    assert result.left_keys == frozenset(str(i) for i in range(40, 250))
    assert "InternalServerError" in result.left[0].reason


def test_an_aborted_bulk_job_leaves_every_row_for_the_next_push(server: SandboxServer) -> None:
    server.add_fault(
        "status",
        prefix="salesforce",
        method="PATCH",
        path=r"/jobs/ingest/\w+$",
        status=200,
        body={"id": "x", "state": "Aborted"},
        times=None,
    )
    # The close answers 200 but the job is not closed: the emulator's job stays Open, so polling times out,
    # the connector aborts it and reads its results: every row is unprocessed.
    dest = destination(server, bulk_timeout=0)
    result = dest.send(spec_for(dest, "upsert"), rows("upsert", 210))
    assert emulator(server).records("Account") == [] and not result.acked and not result.rejected
    assert len(result.left) == 210


def test_bulk_results_are_read_as_csv(server: SandboxServer) -> None:
    dest = destination(server)
    result = dest.send(spec_for(dest, "upsert"), rows("upsert", 201))
    assert len(result.acked) == 201 and not result.left
    routes = emulator(server).stats.snapshot()["by_route"]
    assert (
        routes["GET bulk.successfulResults"]
        == routes["GET bulk.failedResults"]
        == routes["GET bulk.unprocessedrecords"]
        == 1
    )
    assert "406" not in emulator(server).stats.snapshot()["by_status"]


def test_an_insert_job_whose_results_cannot_be_read_is_checked_by_external_id_never_sent_again(
    server: SandboxServer,
) -> None:
    server.add_fault("status", prefix="salesforce", path="successfulResults", status=503, times=None)
    dest = destination(server)
    spec = spec_for(dest, "append")
    result = dest.send(spec, rows("create", 230))

    held = {r["Ext_Id__c"]: r["Id"] for r in emulator(server).records("Account")}
    assert len(held) == 230
    assert sorted((a.key, a.destination_id, a.outcome) for a in result.acked) == sorted(
        (str(i), held[f"E{i}"], "updated") for i in range(230)
    )  # found by key: the look-up cannot tell who made it
    assert not result.left and not result.rejected
    # Pushing the same rows again would be what creates duplicates: nothing is left to push.
    routes = emulator(server).stats.snapshot()["by_route"]
    assert routes["POST bulk.create_job"] == 1 and routes["GET query"] >= 1


def test_an_insert_without_an_external_id_never_goes_through_a_bulk_job(server: SandboxServer) -> None:
    dest = destination(server)
    spec = spec_for(dest, "append", upsert_key=None)
    result = dest.send(spec, rows("create", 230, ext=False))
    routes = emulator(server).stats.snapshot()["by_route"]
    assert "POST bulk.create_job" not in routes and routes["POST collections.create"] == 2
    assert len(result.acked) == 230 and len(emulator(server).records("Account")) == 230


# ---- look-ups by external id within the URI limit ---------------------------------------------


def test_lookups_of_long_keys_stay_under_the_uri_limit(server: SandboxServer) -> None:
    dest = destination(server)
    spec = spec_for(dest, "update")
    long_keys = [f"{i:04d}-" + "k\u00e9y'" * 60 for i in range(200)]  # 300+ characters, escaped and encoded
    for key in long_keys:
        emulator(server).add_record("Account", {"Name": "A", "Ext_Id__c": key})

    found = dest.find_ids(spec, long_keys, _result())
    assert sorted(found) == sorted(long_keys) and all(len(ids) == 1 for ids in found.values())
    assert "414" not in emulator(server).stats.snapshot()["by_status"]
    assert emulator(server).stats.snapshot()["by_route"]["GET query"] > 1

    paths = lookup_queries(f"{dest.api_root}/query", "Account", "Ext_Id__c", long_keys)
    assert all(len(f"{dest.api_root}/{p}") <= facts.URI_BUDGET for p in paths)
    assert sum(p.count("IN+%28") for p in paths) == len(paths)


def test_the_sandbox_refuses_a_uri_past_16384_bytes_with_414(server: SandboxServer) -> None:
    dest = destination(server)
    long_keys = [f"{i:04d}-" + "x" * 300 for i in range(200)]
    (path,) = lookup_queries(f"{dest.api_root}/query", "Account", "Ext_Id__c", long_keys, budget=10**9)
    reply = dest.call(_result(), "GET", path)
    assert reply.status == 414


# ---- the token answer's instance_url -------------------------------------------------------------


def test_the_connector_sends_its_requests_to_the_instance_url_of_the_token_answer(server: SandboxServer) -> None:
    # The configured root points nowhere; only the token answer's instance_url leads to the org.
    conn = Connection(
        "sf",
        "salesforce",
        MappingProxyType(
            {
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "token_url": f"{server.url}/salesforce/services/oauth2/token",
            }
        ),
        base_url="http://127.0.0.1:9/nowhere/services/data/v62.0",
    )
    dest = SalesforceDestination(conn, HttpClient(sleep=lambda _: None))
    result = dest.send(spec_for(dest, "upsert"), rows("upsert", 2))
    assert len(result.acked) == 2
    assert urlsplit(dest.api_root).netloc == urlsplit(server.url).netloc
    assert dest.api_root == f"{server.url}/salesforce/services/data/v62.0"


# ---- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["upsert", "mirror"])
def test_an_upsert_by_record_id_is_a_configuration_error_naming_the_model_and_key(
    server: SandboxServer, mode: str
) -> None:
    dest = destination(server)
    problems = SalesforceDestination.check_spec(spec_for(dest, mode, upsert_key="Id"))
    assert len(problems) == 1 and problems[0][1] == "upsert_key"
    assert "'accounts'" in problems[0][0] and "'Id'" in problems[0][0] and "External ID" in problems[0][0]
    assert SalesforceDestination.check_spec(spec_for(dest, "update", upsert_key="Id")) == []
    assert SalesforceDestination.check_spec(spec_for(dest, mode, upsert_key="Ext_Id__c")) == []


def _result() -> Any:
    from dbt_revsync.model import BatchResult

    return BatchResult()
