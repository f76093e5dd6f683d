"""Delivery under the sandbox's injected faults, on one real dbt build for the module.

Each test starts from an empty CRM and empty state, injects faults, pushes until the run
succeeds (faults cleared after the first push where the fault would last), then checks:
every row delivered exactly once (no duplicate record, every field as the model says)
or rejected with a reason, the state agreeing with the CRM, and the counts in
``revsync_runs`` matching what the sandbox saw.
"""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import requests

from dbt_revsync.delivery import HttpClient, RetryPolicy
from dbt_revsync.errors import FatalDestinationError
from dbt_revsync.sandbox import SandboxServer
from tests.integration.conftest import FRESHSALES_KEY, Project

pytestmark = pytest.mark.integration

ROWS = 30
KEY = "custom_field.cf_account_id"
SYNCS = {
    "up": ("sales_accounts", "upsert"),
    "upd": ("contacts", "update"),
    "mir": ("deals", "mirror"),
}


def blocks() -> list[dict[str, Any]]:
    out = []
    for name, (obj, mode) in SYNCS.items():
        fields = {"first_name" if obj == "contacts" else "name": "name", KEY: "account_id"}
        if obj == "sales_accounts":
            fields["city"] = "city"
        out.append(
            {
                "name": name,
                "destination": "freshsales",
                "object": obj,
                "insert_mode": mode,
                "primary_key": "account_id",
                "upsert_key": "cf_account_id",
                "fields": fields,
                "batch_size": 5,
            }
        )
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, sandbox_server: SandboxServer) -> Project:
    """One dbt build: a view over a table the tests change directly (no rebuild needed)."""
    project = Project(tmp_path_factory.mktemp("faults") / "project", sandbox_server, warehouse="duckdb")
    with project.duckdb() as db:
        db.execute(
            "create table main.src as select i as account_id, 'Account ' || i as name, 'City ' || (i % 7) as city "
            f"from range(1, {ROWS + 1}) t(i)"
        )
    project.model("accounts", "{{ config(materialized='view') }} select * from main.src", blocks())
    project.build()
    return project


@pytest.fixture
def project(built: Project, sandbox_server: SandboxServer) -> Iterator[Project]:
    sandbox_server.reset()
    with built.duckdb() as db:
        tables = [
            r[0]
            for r in db.execute(
                "select table_name from information_schema.tables where table_schema = 'revsync'"
            ).fetchall()
        ]
        for table in tables:
            db.execute(f"delete from revsync.{table}")
        db.execute("delete from main.src")
        db.execute(f"insert into main.src select i, 'Account ' || i, 'City ' || (i % 7) from range(1, {ROWS + 1}) t(i)")
    built.connections({"freshsales": built.freshsales_connection(rate_limit=100, timeout=1.0, max_retry_time=20)})
    for i in range(1, ROWS + 1):  # the update sync changes contacts that exist
        crm(built, "POST", "contacts", {"contact": {"first_name": "old", "custom_field": {"cf_account_id": str(i)}}})
    built.sandbox.emulator("freshsales").stats.reset()
    yield built
    sandbox_server.clear_faults()


def crm(project: Project, method: str, path: str, body: Any = None) -> Any:
    answer = requests.request(
        method,
        f"{project.sandbox.url}/freshsales/{path}",
        json=body,
        timeout=10,
        headers={"Authorization": f"Token token={FRESHSALES_KEY}"},
    )
    answer.raise_for_status()
    return answer.json()


def rows(project: Project, sql: str) -> list[dict[str, Any]]:
    with project.duckdb() as db:
        cursor = db.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def model(project: Project) -> dict[str, str]:
    return {str(r["account_id"]): r["name"] for r in rows(project, "select * from main.src")}


def held(project: Project, resource: str) -> list[dict[str, Any]]:
    return project.sandbox.emulator("freshsales").records(resource)


def runs(project: Project) -> list[dict[str, Any]]:
    return rows(project, "select * from revsync.revsync_runs order by started_at")


def push_until_done(project: Project, tries: int = 3) -> list[int]:
    codes = []
    for _ in range(tries):
        result = project.push("--no-progress")
        codes.append(result.code)
        if result.code == 0:
            return codes
        project.sandbox.clear_faults()
    return codes


def attempts_seen(project: Project) -> int:
    """Every HTTP try the sandbox saw: those that reached the emulator, and the injected
    answers and dropped connections that did not."""
    stats = project.sandbox.stats()["freshsales"]
    return stats["requests"] + stats["faults"].get("status", 0) + stats["faults"].get("drop", 0)


def assert_delivered_exactly_once(project: Project, exact_counts: bool) -> None:
    want = model(project)
    for name, (resource, _mode) in SYNCS.items():
        records = held(project, resource)
        keys = Counter(r["custom_field"]["cf_account_id"] for r in records)
        assert [k for k, n in keys.items() if n > 1] == [], f"{name}: duplicates"
        label = "first_name" if resource == "contacts" else "name"
        assert {r["custom_field"]["cf_account_id"]: r[label] for r in records} == want, name
    state = rows(project, "select * from revsync.revsync_sync_state")
    by_sync: dict[str, dict[str, str]] = {}
    for r in state:
        by_sync.setdefault(r["sync_id"], {})[r["record_key"]] = r["destination_id"]
    assert len(by_sync) == 3 and all(set(s) == set(want) for s in by_sync.values())
    all_ids = {
        resource: {str(r["id"]): r["custom_field"]["cf_account_id"] for r in held(project, resource)}
        for resource, _ in SYNCS.values()
    }
    for sync_state in by_sync.values():  # each remembered id is the CRM's record of that very row
        assert any(all(ids.get(rid) == key for key, rid in sync_state.items()) for ids in all_ids.values())
    history = runs(project)
    assert sum(r["rejected"] for r in history) == 0
    if exact_counts:
        created = sum(r["created"] for r in history)
        updated = sum(r["updated"] for r in history)
        assert created == 2 * ROWS and updated == ROWS  # accounts and deals created, contacts updated
        assert sum(r["requests"] for r in history) == attempts_seen(project)


FAULTS = {
    "429 storm with Retry-After": ([{"action": "status", "status": 429, "retry_after": 1, "times": 8}], True),
    "bursts of 500, 502, 503": (
        [{"action": "status", "status": s, "probability": 0.15, "seed": s} for s in (500, 502, 503)],
        True,
    ),
    "connections reset mid-request": ([{"action": "drop", "probability": 0.2, "seed": 3}], True),
    "answers slower than the timeout": ([{"action": "delay", "seconds": 1.6, "times": 4, "method": "POST"}], False),
    "applied, then the connection dropped": ([{"action": "apply_then_drop", "times": 5, "method": "POST"}], False),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_row_is_delivered_exactly_once_under_faults(project: Project, fault: str) -> None:
    rules, exact = FAULTS[fault]
    for rule in rules:
        options = dict(rule)
        project.sandbox.add_fault(options.pop("action"), prefix="freshsales", **options)
    codes = push_until_done(project)
    assert codes[-1] == 0, codes
    assert project.sandbox.stats()["freshsales"]["faults"], "no fault was injected"
    time.sleep(1.7 if fault.startswith("answers slower") else 0)  # let a late answer land before counting
    assert_delivered_exactly_once(project, exact_counts=exact)


def test_changes_and_mirror_deletes_under_mixed_faults(project: Project) -> None:
    assert push_until_done(project)[-1] == 0
    with project.duckdb() as db:
        db.execute("update main.src set name = name || ' v2' where account_id <= 6")
        db.execute("delete from main.src where account_id > 24")
    for status in (429, 503):
        project.sandbox.add_fault(
            "status", status=status, retry_after=0.2, probability=0.15, seed=status, prefix="freshsales"
        )
    project.sandbox.add_fault("drop", probability=0.1, seed=9, prefix="freshsales")
    codes = push_until_done(project)
    assert codes[-1] == 0, codes
    want = model(project)
    deals = held(project, "deals")
    assert {r["custom_field"]["cf_account_id"]: r["name"] for r in deals} == want  # mirror deleted 25..30
    accounts = held(project, "sales_accounts")
    assert (
        len(accounts) == ROWS
        and Counter(r["custom_field"]["cf_account_id"] for r in accounts).most_common(1)[0][1] == 1
    )
    deleted = sum(r["deleted"] for r in runs(project))
    assert deleted == ROWS - len(want)


def test_batches_acknowledged_out_of_order_are_committed_once(project: Project) -> None:
    # The first request of the push is held 0.8 s: its batch comes back after later ones.
    project.connections({"freshsales": project.freshsales_connection(rate_limit=100, timeout=5.0, max_concurrency=3)})
    project.sandbox.add_fault("delay", seconds=0.8, times=1, prefix="freshsales", path="/sales_accounts/upsert$")
    assert project.push("--no-progress").code == 0
    state = rows(project, "select record_key, synced_at from revsync.revsync_sync_state where sync_id like '%:up'")
    assert_delivered_exactly_once(project, exact_counts=True)
    first_batch = {"1", "2", "3", "4", "5"}
    late = max(r["synced_at"] for r in state if r["record_key"] in first_batch)
    assert any(r["synced_at"] < late for r in state if r["record_key"] not in first_batch), (
        "the delayed batch was not the last"
    )


def test_a_401_in_the_middle_stops_that_sync_and_the_others_go_on(project: Project) -> None:
    project.sandbox.add_fault("status", status=401, after=12, prefix="freshsales", path="/sales_accounts/")
    result = project.push("--no-progress")
    assert result.code == 1
    history = {r["sync_id"]: r for r in runs(project)}
    failed = [r for r in history.values() if r["status"] == "failed"]
    assert len(failed) == 1 and "401" in failed[0]["message"]
    assert sorted(r["status"] for r in history.values()) == ["failed", "success", "success"]
    committed = rows(
        project, f"select count(*) as n from revsync.revsync_sync_state where sync_id = '{failed[0]['sync_id']}'"
    )[0]["n"]
    assert committed == failed[0]["created"] == len(held(project, "sales_accounts")) <= 12
    project.sandbox.clear_faults()
    assert project.push("--no-progress").code == 0
    assert_delivered_exactly_once(project, exact_counts=True)


def test_the_breaker_stops_a_sync_the_crm_keeps_failing_and_the_next_push_resumes(project: Project) -> None:
    project.connections({"freshsales": project.freshsales_connection(rate_limit=100, timeout=1.0, max_retry_time=4)})
    project.sandbox.add_fault("status", status=503, prefix="freshsales")  # down for good
    started = time.monotonic()
    result = project.push("--no-progress")
    took = time.monotonic() - started
    assert result.code == 1
    assert "consecutive failed requests" in result.out and "next push" in result.out
    history = runs(project)
    assert [r["status"] for r in history] == ["failed"] * 3  # nothing at all delivered: not "partial"
    assert all("not delivered" in r["message"] for r in history)
    # Each sync stops after the breaker's 10 consecutive failures (plus what was in flight).
    assert all(r["requests"] <= 10 + 2 for r in history), [r["requests"] for r in history]
    assert rows(project, "select count(*) as n from revsync.revsync_sync_state")[0]["n"] == 0
    assert took < 120
    project.sandbox.clear_faults()
    assert project.push("--no-progress").code == 0
    assert_delivered_exactly_once(project, exact_counts=False)


# ---- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An https server on loopback with a self-signed certificate: nothing trusts it."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_tls_verification_is_always_on_and_a_bad_certificate_is_fatal(tls_server: str) -> None:
    http = HttpClient(policy=RetryPolicy(max_attempts=3))
    with pytest.raises(FatalDestinationError, match="TLS certificate verification failed"):
        http.request("GET", f"{tls_server}/crm/x")
    assert http.attempts == 1  # not retried
