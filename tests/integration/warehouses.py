"""The warehouses the integration harness builds test projects in: DuckDB, PostgreSQL and
Apache Spark.

A test runs on DuckDB alone unless it carries ``@pytest.mark.warehouses`` (DuckDB and
PostgreSQL) or ``@pytest.mark.warehouses("postgres")`` (those named): it then runs once per
warehouse, with ``[duckdb]`` / ``[postgres]`` in its id. A test (or module) that also carries
``@pytest.mark.spark`` runs on Spark too (``[spark]``): the end-to-end mode tests and the
warehouse tests, which keep the Spark leg within a few minutes. On PostgreSQL each test project
gets a database of its own, dropped afterwards, whose target schema is ``main`` as on DuckDB.

On Spark (dbt-spark's ``session`` method, PySpark in local mode) one SparkSession serves the
whole test process: its embedded Derby metastore admits one JVM, so every dbt run of a Spark
project happens in this process (``Project.dbt``), never in a ``dbt`` subprocess. Each
project gets a schema of its own (``rs_<hex>``) and a state schema beside it
(``rs_<hex>_state``, through ``DBT_REVSYNC_STATE_SCHEMA``). Spark needs ``pyspark`` and
``dbt-spark[session]`` (the ``spark`` extra) and a Java runtime (``scripts/test_tools.sh``
installs Debian's ``openjdk-17-jre-headless``); without them its tests skip, except under
``CI=true``, where they fail.

PostgreSQL is found through ``REVSYNC_PG_HOST``, ``REVSYNC_PG_PORT``, ``REVSYNC_PG_USER`` and
``REVSYNC_PG_PASSWORD`` (defaults: the server ``scripts/test_postgres.sh start`` runs). When it
cannot be reached its tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

WAREHOUSES = ("duckdb", "postgres")  # what a bare ``@pytest.mark.warehouses`` runs on
SPARK = "spark"  # added by ``@pytest.mark.spark``
DEFAULT_WAREHOUSE = "duckdb"
TARGET_SCHEMA = "main"
SPARK_SHUFFLE_PARTITIONS = 2  # a test's tables hold a few rows; Spark's default 200 costs seconds a query


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

        connection = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname="postgres", connect_timeout=5
        )
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
        return (
            server,
            None,
            f"PostgreSQL not reachable at {server.address} ({reason}); start one with `scripts/test_postgres.sh start`",
        )


def spark_missing() -> str | None:
    """Why Spark tests cannot run here (no pyspark, dbt-spark or Java), or None."""
    for module, package in (("pyspark", "pyspark"), ("dbt.adapters.spark", "dbt-spark[session]")):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"{package} is not installed; install the spark extra: pip install -e '.[test,spark]'"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime; run scripts/test_tools.sh as root, or: sudo apt-get install -y openjdk-17-jre-headless"
    return None


def spark_session(root: Path):  # type: ignore[no-untyped-def]
    """The test process's one SparkSession: local mode, small shuffles, its warehouse
    directory and Derby metastore under ``root``. dbt-spark's session method finds it (its
    ``getOrCreate`` returns the session already running)."""
    from pyspark.sql import SparkSession

    root.mkdir(parents=True, exist_ok=True)
    metastore = f"jdbc:derby:;databaseName={root / 'metastore_db'};create=true"
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("dbt-revsync-tests")
        .config("spark.sql.shuffle.partitions", str(SPARK_SHUFFLE_PARTITIONS))
        .config("spark.default.parallelism", "2")
        .config("spark.sql.warehouse.dir", str(root / "warehouse"))
        .config("spark.hadoop.javax.jdo.option.ConnectionURL", metastore)
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={root / 'derby'}")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "1g")
        .enableHiveSupport()
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def describe() -> str:
    """The header line: which warehouses the integration suite runs on."""
    server, version, reason = postgres_status()
    spark_reason = spark_missing()
    outcome = "FAIL (CI=true)" if in_ci() else "skip"
    spark = "spark (started on first use)" if spark_reason is None else f"spark tests will {outcome}: {spark_reason}"
    if reason is None:
        return f"warehouses: duckdb, postgres (PostgreSQL {version} at {server.address}), {spark}"
    return f"warehouses: duckdb, {spark}; postgres tests will {outcome}: {reason}"


def profile_text(warehouse: str, root: Path, database: str | None = None) -> tuple[str, dict[str, str]]:
    """profiles.yml for a test project and the environment it reads. ``database``: the
    PostgreSQL database made for this project, or the Spark schema."""
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
    if warehouse == SPARK:
        text = (
            "revsync_test:\n  target: dev\n  outputs:\n    dev:\n      type: spark\n      method: session\n"
            "      host: NA\n      schema: \"{{ env_var('REVSYNC_TEST_DB') }}\"\n      threads: 1\n"
        )
        return text, {"REVSYNC_TEST_DB": database or "", "DBT_REVSYNC_STATE_SCHEMA": f"{database}_state"}
    raise ValueError(f"unknown warehouse {warehouse!r}; known: {', '.join((*WAREHOUSES, SPARK))}")
