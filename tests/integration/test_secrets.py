"""No secret value anywhere: pushes that fail in every way, then every place a secret could land.

Two connections carry secrets (a key the sandbox accepts, one it refuses), a third points
at a closed port. Faults make answers 429, 5xx, slow, dropped, applied-then-dropped, 401,
and error bodies that echo the secrets back (as some CRMs do). Then stdout, stderr, JSON
and text logs, every file in the project (``logs/``, ``target/``, the warehouse file),
the state, runs and reject tables, and exception texts are searched for the values.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt_revsync.delivery import HttpClient, RetryPolicy
from dbt_revsync.errors import DestinationError
from dbt_revsync.sandbox import SandboxServer
from tests.integration.conftest import FRESHSALES_KEY, Project

pytestmark = pytest.mark.integration

SECRET = "fs-live-9c1e4f0b7a2d"
WRONG = "fs-revoked-3b8d61aa57"
SECRETS = (SECRET, WRONG)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def project(tmp_path: Path, sandbox: SandboxServer) -> Iterator[Project]:
    emulator = sandbox.emulator("freshsales")
    keys = emulator.api_keys
    emulator.api_keys = (FRESHSALES_KEY, SECRET)
    built = Project(tmp_path / "project", sandbox, warehouse="duckdb")
    built.env.update({"FRESHSALES_API_KEY": SECRET, "REVOKED_KEY": WRONG})
    fields = {"name": "name", "custom_field.cf_account_id": "account_id"}
    built.seed("raw", ["account_id", "name"], [[i, f"Account {i}"] for i in range(1, 21)])
    blocks = [
        {
            "name": "good",
            "destination": "freshsales",
            "object": "sales_accounts",
            "insert_mode": "upsert",
            "primary_key": "account_id",
            "upsert_key": "cf_account_id",
            "fields": fields,
            "batch_size": 4,
        },
        {
            "name": "revoked",
            "destination": "revoked",
            "object": "deals",
            "insert_mode": "update",
            "primary_key": "account_id",
            "upsert_key": "cf_account_id",
            "fields": fields,
        },
        {
            "name": "down",
            "destination": "down",
            "object": "contacts",
            "insert_mode": "upsert",
            "primary_key": "account_id",
            "upsert_key": "cf_account_id",
            "fields": {"first_name": "name", "custom_field.cf_account_id": "account_id"},
        },
    ]
    built.model("accounts", "select * from {{ ref('raw') }}", blocks)
    built.connections(
        {
            "freshsales": built.freshsales_connection(timeout=0.5, max_retry_time=5, rate_limit=100),
            "revoked": built.freshsales_connection(api_key="{{ env_var('REVOKED_KEY') }}"),
            "down": built.freshsales_connection(
                base_url=f"http://127.0.0.1:{closed_port()}/freshsales", max_retry_time=3
            ),
        }
    )
    built.build()
    yield built
    emulator.api_keys = keys


def inject_every_fault(sandbox: SandboxServer) -> None:
    echo = {"errors": {"code": "invalid_value", "message": f"token {SECRET} (not {WRONG}) may not do this"}}
    for action, options in [
        ("status", {"status": 429, "retry_after": 0.2, "times": 3}),
        ("status", {"status": 503, "times": 2, "body": {"message": f"upstream refused key {SECRET}"}}),
        ("drop", {"times": 2}),
        ("delay", {"seconds": 0.8, "times": 1}),
        ("apply_then_drop", {"times": 1}),
        ("status", {"status": 400, "times": 3, "body": echo}),
    ]:
        sandbox.add_fault(action, prefix="freshsales", path="/sales_accounts/", **options)
    sandbox.add_fault(
        "status",
        status=401,
        prefix="freshsales",
        path="filtered_search/deal",
        body={"message": f"key {WRONG} was revoked"},
    )


def found_in(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [secret for secret in SECRETS if secret.encode() in data]


def table_texts(project: Project) -> str:
    with project.duckdb(read_only=True) as db:
        tables = db.execute("select table_schema, table_name from information_schema.tables").fetchall()
        return "\n".join(repr(db.execute(f'select * from "{schema}"."{name}"').fetchall()) for schema, name in tables)


def test_no_secret_in_any_output_log_file_table_or_exception(project: Project) -> None:
    inject_every_fault(project.sandbox)
    pushes = [project.push("--no-progress", "--log-format", "json", "--log-level", "debug")]
    inject_every_fault(project.sandbox)
    pushes.append(project.push("--no-progress", "--log-level", "debug"))
    assert all(p.code == 1 for p in pushes)
    joined = "\n".join(p.out + p.err for p in pushes)
    # The pushes did fail in each way, and said so.
    assert '"event": "retry"' in joined and '"event": "reject"' in joined
    assert "answered 401" in joined and "consecutive failed requests" in joined
    assert "***" in joined  # the echoed secrets were there, and were hidden
    leaks = {f"push {i} stdout": found_in(p.out) for i, p in enumerate(pushes)}
    leaks.update({f"push {i} stderr": found_in(p.err) for i, p in enumerate(pushes)})
    for path in project.root.rglob("*"):
        if path.is_file() and path.name != "revsync.yml":
            leaks[str(path.relative_to(project.root))] = found_in(path.read_bytes())
    tables = table_texts(project)
    assert "invalid_value" in tables and "answered 401" in tables  # rejects and runs were written
    leaks["warehouse tables"] = found_in(tables)
    assert {where: found for where, found in leaks.items() if found} == {}


def test_exception_texts_carry_no_secret(sandbox: SandboxServer) -> None:
    errors: list[str] = []
    http = HttpClient(secrets=frozenset(SECRETS), policy=RetryPolicy(max_attempts=2, max_seconds=2))
    sandbox.add_fault("status", status=401, prefix="freshsales", body={"message": f"bad key {SECRET}"}, times=1)
    for url in (
        f"{sandbox.url}/freshsales/contacts?api_key={SECRET}",  # a key in the query, as some CRMs take it
        f"http://127.0.0.1:{closed_port()}/x?api_key={WRONG}",
        f"http://crm.example.com/x?api_key={SECRET}",
    ):
        with pytest.raises(DestinationError) as raised:
            http.request("GET", url, headers={"Authorization": f"Token token={SECRET}"})
        errors.append(str(raised.value))
    assert len(errors) == 3 and all(found_in(e) == [] for e in errors), errors
