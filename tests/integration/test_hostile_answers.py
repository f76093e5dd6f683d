"""Hostile answers end to end: the sandbox trickles, truncates, mis-encodes, inflates and
echoes credentials; `dbt-revsync` pushes through it and must finish in bounded time with
every row delivered once, and no secret in any output, log, file or table. Bad settings
(secrets with line breaks, non-UTF-8 files, unbounded numbers, userinfo hosts) are
configuration errors at `validate` and `push`, naming the connection and key."""

from __future__ import annotations

import base64
import resource
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from dbt_revsync.delivery import HttpClient, RetryPolicy
from dbt_revsync.errors import TransientDestinationError
from dbt_revsync.sandbox import SandboxServer
from tests.integration.conftest import FRESHSALES_KEY, Project

pytestmark = pytest.mark.integration

ROWS = 20
FIELDS = {"name": "name", "custom_field.cf_account_id": "account_id"}
FD_KEY = "fd-live-5e2a9c0d7b41"
HOOK = "hk-7d1f0e93b25c4a"
ECHO_TOKEN = "sandbox-echo-token"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, sandbox_server: SandboxServer) -> Iterator[Project]:
    """One dbt build for the module: a Freshsales, a Freshdesk and an http sync of one seed."""
    fd = sandbox_server.emulator("freshdesk")
    keys = fd.api_keys
    fd.api_keys = (*keys, FD_KEY)
    project = Project(tmp_path_factory.mktemp("hostile") / "project", sandbox_server, warehouse="duckdb")
    project.env.update({"FD_KEY": FD_KEY, "HOOK_SECRET": HOOK, "ECHO_TOKEN": ECHO_TOKEN})
    project.seed("raw", ["account_id", "name"], [[i, f"Account {i}"] for i in range(1, ROWS + 1)])
    sql = "select * from {{ ref('raw') }}"
    project.model(
        "accounts",
        sql,
        {
            "destination": "freshsales",
            "object": "sales_accounts",
            "insert_mode": "upsert",
            "primary_key": "account_id",
            "upsert_key": "cf_account_id",
            "fields": FIELDS,
            "batch_size": 5,
        },
    )
    project.model(
        "people",
        sql,
        {
            "destination": "freshdesk",
            "object": "contacts",
            "primary_key": "account_id",
            "fields": {"name": "name", "unique_external_id": "account_id"},
        },
    )
    project.model(
        "hooked",
        sql,
        {
            "destination": "hook",
            "object": "accounts",
            "primary_key": "account_id",
            "fields": {"name": "name", "ref": "account_id"},
        },
    )
    write_connections(project)
    project.build()
    yield project
    fd.api_keys = keys


def write_connections(project: Project, **freshsales: Any) -> None:
    url = project.sandbox.url
    project.connections(
        {
            "freshsales": project.freshsales_connection(
                **{"timeout": 1.0, "max_retry_time": 20, "rate_limit": 100, **freshsales}
            ),
            "freshdesk": {
                "type": "freshdesk",
                "api_key": "{{ env_var('FD_KEY') }}",
                "base_url": f"{url}/freshdesk",
                "max_retry_time": 5,
            },
            "hook": {
                "type": "http",
                "url": f"{url}/echo/hooks/{{{{ env_var('HOOK_SECRET') }}}}/{{object}}",
                "headers": {"Authorization": "Bearer {{ env_var('ECHO_TOKEN') }}"},
                "max_retry_time": 5,
            },
        }
    )


@pytest.fixture
def project(built: Project, sandbox_server: SandboxServer) -> Iterator[Project]:
    sandbox_server.reset()
    with built.duckdb() as db:
        for (table,) in db.execute(
            "select table_name from information_schema.tables where table_schema = 'revsync'"
        ).fetchall():
            db.execute(f"delete from revsync.{table}")
    write_connections(built)
    yield built
    sandbox_server.clear_faults()
    write_connections(built)


def accounts(project: Project) -> Counter[str]:
    return Counter(
        r["custom_field"]["cf_account_id"] for r in project.sandbox.emulator("freshsales").records("sales_accounts")
    )


def timed_push(project: Project, *args: str, limit: float = 60.0) -> tuple[Any, float]:
    """A push in a thread, so a hang fails the test instead of stalling the suite."""
    box: dict[str, Any] = {}
    started = time.monotonic()
    thread = threading.Thread(target=lambda: box.update(result=project.push("--no-progress", *args)), daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"the push still ran after {limit} s"
    return box["result"], time.monotonic() - started


# ---- broken answers: retried within the budget, every row delivered once -----------------------

BROKEN = {
    "trickle": {"seconds": 40.0},  # longer than the whole push may take
    "truncate": {},
    "bad_gzip": {},
    "huge": {"size": 80 * 1024 * 1024},  # over the 64 MiB an answer is read up to
}


@pytest.mark.parametrize("action", list(BROKEN))
def test_a_broken_answer_is_a_transient_failure_retried_and_every_row_is_delivered_once(
    project: Project, action: str
) -> None:
    project.sandbox.add_fault(action, prefix="freshsales", path="/sales_accounts/upsert$", times=2, **BROKEN[action])
    result, took = timed_push(project, "--select", "accounts")
    assert result.code == 0, result.out + result.err
    assert project.sandbox.stats()["freshsales"]["faults"].get(action) == 2
    assert accounts(project) == Counter({str(i): 1 for i in range(1, ROWS + 1)})
    assert "Traceback" not in result.err
    assert took < 30, took  # a trickled answer costs one timeout (1 s), not its 40 s


def test_a_trickling_answer_is_cut_at_the_requests_deadline(sandbox: SandboxServer) -> None:
    sandbox.add_fault("trickle", prefix="freshsales", seconds=10.0)
    http = HttpClient(timeout=0.6, policy=RetryPolicy(max_attempts=2, max_seconds=5, base=0.01))
    started = time.monotonic()
    with pytest.raises(TransientDestinationError, match="after 2 attempts"):
        http.request(
            "GET", f"{sandbox.url}/freshsales/contacts/1", headers={"Authorization": f"Token token={FRESHSALES_KEY}"}
        )
    assert time.monotonic() - started < 2.5


def test_a_huge_answer_is_never_read_whole(sandbox: SandboxServer) -> None:
    sandbox.add_fault("huge", prefix="freshsales", size=200 * 1024 * 1024)
    http = HttpClient(timeout=20, policy=RetryPolicy(max_attempts=3, max_seconds=10, base=0.01))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(TransientDestinationError, match="AnswerTooLarge"):
        http.request(
            "GET", f"{sandbox.url}/freshsales/contacts/1", headers={"Authorization": f"Token token={FRESHSALES_KEY}"}
        )
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 150, grown_mib  # at most the 64 MiB an answer is read up to, not its 200


# ---- 429s: a long Retry-After never holds the connection beyond the retry budget ---------------


def test_a_long_retry_after_never_holds_the_push_beyond_the_retry_budget(project: Project) -> None:
    write_connections(project, max_retry_time=2)
    project.sandbox.add_fault("status", status=429, retry_after=36000, prefix="freshsales", times=1)
    result, took = timed_push(project, "--select", "accounts", limit=90)
    assert took < 45, took
    assert result.code in (0, 1)
    project.sandbox.clear_faults()
    assert project.push("--no-progress", "--select", "accounts").code == 0
    assert accounts(project) == Counter({str(i): 1 for i in range(1, ROWS + 1)})


# ---- echoed credentials: no secret anywhere ------------------------------------------------------


def forms(secret: str) -> list[str]:
    return [secret, base64.b64encode(f"{secret}:X".encode()).decode(), quote(secret, safe="")]


def leaks_in(text: str | bytes, secrets: list[str]) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [s for s in secrets if s.encode() in data]


def test_echoed_basic_credentials_and_url_secrets_reach_no_output_log_or_table(project: Project) -> None:
    project.sandbox.add_fault("echo_auth", status=400, prefix="freshdesk", path="/contacts", times=4)
    project.sandbox.add_fault("echo_auth", status=400, prefix="echo", times=4)
    project.sandbox.add_fault("echo_auth", status=500, prefix="echo", times=2)

    def tables() -> tuple[list[Any], list[Any]]:
        with project.duckdb(read_only=True) as db:
            return (
                db.execute("select error_message from revsync.revsync_rejects").fetchall(),
                db.execute("select message from revsync.revsync_runs").fetchall(),
            )

    pushes = [
        project.push("--no-progress", "--select", "people", "hooked", "--log-format", "json", "--log-level", "debug")
    ]
    rejects, _ = tables()  # the first push's: a record delivered later replaces its reject
    pushes.append(project.push("--no-progress", "--select", "people", "hooked", "--log-level", "debug"))
    joined = "\n".join(p.out + p.err for p in pushes)
    assert "***" in joined and "invalid_value" in joined  # the echoes came, and were hidden
    secrets = forms(FD_KEY) + forms(HOOK)
    leaks = {f"push {i}": leaks_in(p.out + p.err, secrets) for i, p in enumerate(pushes)}
    for path in project.root.rglob("*"):
        if path.is_file() and path.name != "revsync.yml":
            leaks[str(path.relative_to(project.root))] = leaks_in(path.read_bytes(), secrets)
    later, runs = tables()
    rejects += later
    assert rejects, "the echoing answers were recorded as rejects"
    leaks["revsync_rejects"] = leaks_in(repr(rejects), secrets)
    leaks["revsync_runs"] = leaks_in(repr(runs), secrets)
    assert {where: found for where, found in leaks.items() if found} == {}


# ---- bad settings: configuration errors naming connection and key, never the value ---------------


@pytest.mark.parametrize("value", [f"{FRESHSALES_KEY}\n", f"{FRESHSALES_KEY}\u2019"])
def test_a_bad_secret_value_is_a_config_error_at_validate_and_push(project: Project, value: str) -> None:
    saved = project.env["FRESHSALES_API_KEY"]
    project.env["FRESHSALES_API_KEY"] = value
    try:
        for command in ("validate", "push"):
            result = project.revsync(command, "--select", "accounts")
            assert result.code == 2, (command, result.out, result.err)
            assert "connection 'freshsales'" in result.err and "connections.freshsales.api_key" in result.err
            assert FRESHSALES_KEY not in result.out + result.err and "Traceback" not in result.err
    finally:
        project.env["FRESHSALES_API_KEY"] = saved
    assert project.sandbox.stats()["freshsales"]["requests"] == 0


@pytest.mark.parametrize(
    "setting, key",
    [
        ({"timeout": ".nan"}, "timeout"),
        ({"timeout": ".inf"}, "timeout"),
        ({"max_concurrency": 100000000}, "max_concurrency"),
        ({"base_url": "http://localhost:80@203.0.113.9/freshsales"}, "base_url"),
    ],
)
def test_an_unbounded_or_disguised_setting_is_a_config_error(
    project: Project, setting: dict[str, Any], key: str
) -> None:
    text = (project.root / "revsync.yml").read_text()
    name, value = next(iter(setting.items()))
    lines = [line for line in text.splitlines() if not line.strip().startswith(f"{name}:")]
    at = next(i for i, line in enumerate(lines) if line.strip() == "freshsales:")
    lines.insert(at + 1, f"    {name}: {value}")
    (project.root / "revsync.yml").write_text("\n".join(lines) + "\n")
    result = project.revsync("validate", "--select", "accounts")
    assert result.code == 2, result.out + result.err
    assert f"connections.freshsales.{key}" in result.err and "Traceback" not in result.err


def test_a_utf16_connections_file_is_a_clear_error_naming_the_file(project: Project) -> None:
    path = project.root / "revsync.yml"
    path.write_bytes(path.read_text().encode("utf-16"))
    for command in ("validate", "push"):
        result = project.revsync(command, "--select", "accounts")
        assert result.code == 2 and "not UTF-8" in result.err and str(path) in result.err, result.err
        assert "Traceback" not in result.err
