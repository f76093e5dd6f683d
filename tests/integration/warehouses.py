"""The warehouses the integration harness builds test projects in: DuckDB and PostgreSQL.

A test runs on DuckDB alone unless it carries ``@pytest.mark.warehouses`` (every warehouse
below) or ``@pytest.mark.warehouses("postgres")`` (those named): it then runs once per
warehouse, with ``[duckdb]`` / ``[postgres]`` in its id. On PostgreSQL each test project gets
a database of its own, dropped afterwards, whose target schema is ``main`` as on DuckDB.

PostgreSQL is found through ``REVSYNC_PG_HOST``, ``REVSYNC_PG_PORT``, ``REVSYNC_PG_USER`` and
``REVSYNC_PG_PASSWORD`` (defaults: the server ``scripts/test_postgres.sh start`` runs). When it
cannot be reached its tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

WAREHOUSES = ("duckdb", "postgres")
DEFAULT_WAREHOUSE = "duckdb"
TARGET_SCHEMA = "main"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str

    @classmethod
    def from_env(cls) -> PostgresServer:
        return cls(
            host=os.environ.get("REVSYNC_PG_HOST", "127.0.0.1"),
            port=int(os.environ.get("REVSYNC_PG_PORT", "54329")),
            user=os.environ.get("REVSYNC_PG_USER", "revsync"),
            password=os.environ.get("REVSYNC_PG_PASSWORD", "revsync"),
        )

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def _admin(self):  # type: ignore[no-untyped-def]
        import psycopg2

        connection = psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password, dbname="postgres", connect_timeout=5)
        connection.autocommit = True  # create/drop database cannot run in a transaction
        return connection

    def version(self) -> str:
        connection = self._admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute("show server_version")
                return str(cursor.fetchone()[0])
        finally:
            connection.close()

    def create_database(self) -> str:
        name = f"revsync_test_{uuid.uuid4().hex[:12]}"
        self._run(f'create database "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self._run(f'drop database if exists "{name}" with (force)')

    def _run(self, sql: str) -> None:
        connection = self._admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()


@lru_cache(maxsize=1)
def postgres_status() -> tuple[PostgresServer, str | None, str | None]:
    """(server, its version, why it cannot be used): asked once per test session."""
    server = PostgresServer.from_env()
    try:
        return server, server.version(), None
    except Exception as exc:  # any failure means the same: no PostgreSQL for these tests
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return server, None, f"PostgreSQL not reachable at {server.address} ({reason}); start one with `scripts/test_postgres.sh start`"


def describe() -> str:
    """The header line: which warehouses the integration suite runs on."""
    server, version, reason = postgres_status()
    if reason is None:
        return f"warehouses: duckdb, postgres (PostgreSQL {version} at {server.address})"
    outcome = "FAIL (CI=true)" if in_ci() else "skip"
    return f"warehouses: duckdb; postgres tests will {outcome}: {reason}"


def profile_text(warehouse: str, root: Path, database: str | None = None) -> tuple[str, dict[str, str]]:
    """profiles.yml for a test project and the environment it reads. ``database``: the
    PostgreSQL database made for this project."""
    if warehouse == "duckdb":
        text = (
            "revsync_test:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
            "      path: \"{{ env_var('REVSYNC_TEST_DB') }}\"\n      threads: 1\n"
        )
        return text, {"REVSYNC_TEST_DB": str(root / "warehouse.duckdb")}
    if warehouse == "postgres":
        server = PostgresServer.from_env()
        text = (
            "revsync_test:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n"
            f"      host: {server.host}\n      port: {server.port}\n      user: {server.user}\n"
            "      password: \"{{ env_var('REVSYNC_TEST_PG_PASSWORD') }}\"\n"
            "      dbname: \"{{ env_var('REVSYNC_TEST_DB') }}\"\n"
            f"      schema: {TARGET_SCHEMA}\n      threads: 1\n"
        )
        return text, {"REVSYNC_TEST_DB": database or "", "REVSYNC_TEST_PG_PASSWORD": server.password}
    raise ValueError(f"unknown warehouse {warehouse!r}; known: {', '.join(WAREHOUSES)}")
