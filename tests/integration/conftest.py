"""Real parts: a dbt project on disk built by the real `dbt` (DuckDB, or PostgreSQL and Spark
for tests marked ``@pytest.mark.warehouses`` / ``@pytest.mark.spark``: see warehouses.py), the
sandbox on loopback, and `dbt-revsync` run through its own command line."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from dbt_revsync import cli
from dbt_revsync.model import Settings
from dbt_revsync.sandbox import SandboxServer
from dbt_revsync.warehouse import Warehouse
from tests.integration import warehouses

DBT = str(Path(sys.executable).parent / "dbt")
REPO_ROOT = Path(__file__).resolve().parents[2]  # also the dbt package dbt_revsync
FRESHSALES_KEY = "sandbox-freshsales-key"


@dataclass
class Result:
    code: int
    out: str
    err: str


class Project:
    """A throw-away dbt project with helpers to write models, build and push. ``warehouse``:
    duckdb (a file in the project), postgres (``database``, made for this project) or spark
    (``database``: the project's schema; its state schema is ``<database>_state``)."""

    def __init__(
        self,
        root: Path,
        sandbox: SandboxServer,
        warehouse: str = warehouses.DEFAULT_WAREHOUSE,
        database: str | None = None,
    ) -> None:
        self.root = root
        self.sandbox = sandbox
        self.warehouse = warehouse
        profile, profile_env = warehouses.profile_text(warehouse, root, database)
        self.env = {**profile_env, "FRESHSALES_API_KEY": FRESHSALES_KEY}
        self.state_schema = profile_env.get("DBT_REVSYNC_STATE_SCHEMA", "revsync")
        (root / "models").mkdir(parents=True)
        (root / "seeds").mkdir()
        self.seed_types: dict[str, dict[str, str]] = {}
        self.hooked = False
        self._write_project()
        (root / "profiles.yml").write_text(profile)
        self.connections({"freshsales": self.freshsales_connection()})
        self.models: dict[str, dict[str, Any]] = {}

    def freshsales_connection(self, **overrides: Any) -> dict[str, Any]:
        return {
            "type": "freshsales",
            "api_key": "{{ env_var('FRESHSALES_API_KEY') }}",
            "base_url": f"{self.sandbox.url}/freshsales",
            "max_concurrency": 2,
            **overrides,
        }

    def connections(self, connections: Mapping[str, Any]) -> None:
        self._dump(self.root / "revsync.yml", {"connections": dict(connections)})

    def seed(
        self, name: str, header: list[str], rows: list[list[Any]], column_types: Mapping[str, str] | None = None
    ) -> None:
        lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
        (self.root / "seeds" / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        if column_types:
            self.seed_types[name] = dict(column_types)
            self._write_project()

    def _write_project(self) -> None:
        seeds = {"revsync_test": {n: {"+column_types": t} for n, t in self.seed_types.items()}}
        project = {
            "name": "revsync_test",
            "version": "1.0",
            "config-version": 2,
            "profile": "revsync_test",
            "seeds": seeds,
        }
        if self.hooked:
            project["on-run-end"] = "{{ dbt_revsync.record_results(results) }}"
        self._dump(self.root / "dbt_project.yml", project)

    def install_hook(self) -> None:
        """The dbt_revsync package (this repository, as a local package) and its post-run hook."""
        self._dump(self.root / "packages.yml", {"packages": [{"local": str(REPO_ROOT)}]})
        self.hooked = True
        self._write_project()
        self.dbt("deps")

    def model(
        self,
        name: str,
        sql: str,
        block: Any = None,
        meta_place: str = "config",
        columns: list[dict[str, Any]] | None = None,
    ) -> None:
        (self.root / "models" / f"{name}.sql").write_text(sql)
        entry: dict[str, Any] = {"name": name}
        if columns:
            entry["columns"] = columns
        if block is not None:
            if meta_place == "config":
                entry["config"] = {"meta": {"revsync": block}}
            elif meta_place == "config_only":  # misplaced: config.revsync, which dbt-revsync does not read
                entry["config"] = {"revsync": block}
            else:
                entry["meta"] = {"revsync": block}
        self.models[name] = entry
        self._dump(self.root / "models" / "schema.yml", {"version": 2, "models": list(self.models.values())})

    def dbt(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        if self.warehouse == warehouses.SPARK:
            result = self._dbt_in_process(args)
            if check:
                assert result.returncode == 0, result.stdout[-6000:]
            return result
        result = subprocess.run(
            [DBT, *args, "--project-dir", str(self.root), "--profiles-dir", str(self.root)],
            cwd=self.root,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=False,
        )
        if check:
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result

    def _dbt_in_process(self, args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        """dbt in this process, through dbtRunner (Spark: the one JVM holds the metastore)."""
        from dbt.cli.main import dbtRunner

        argv = [*args, "--project-dir", str(self.root), "--profiles-dir", str(self.root)]
        out = io.StringIO()
        with _env(self.env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            result = dbtRunner().invoke(argv)
        code = 0 if result.success else (1 if result.result is not None else 2)
        return subprocess.CompletedProcess(
            [DBT, *argv], code, out.getvalue() + (f"\n{result.exception}" if result.exception else ""), ""
        )

    def build(self) -> None:
        self.dbt("build")

    def revsync(self, *args: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        with _env(self.env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([*args, "--project-dir", str(self.root), "--profiles-dir", str(self.root)])
        return Result(code, out.getvalue(), err.getvalue())

    def push(self, *args: str) -> Result:
        return self.revsync("push", *args)

    def query(self, sql: str) -> list[dict[str, Any]]:
        settings = Settings(project_dir=self.root, profiles_dir=self.root, state_schema=self.state_schema)
        with _env(self.env), Warehouse(settings) as warehouse:
            return warehouse.select(sql)

    @contextlib.contextmanager
    def duckdb(self, read_only: bool = False) -> Iterator[Any]:
        """The DuckDB file itself, opened directly (setting up or reading state without dbt)."""
        import duckdb

        db = duckdb.connect(self.env["REVSYNC_TEST_DB"], read_only=read_only)
        try:
            yield db
        finally:
            db.close()

    def state(self) -> list[dict[str, Any]]:
        return self.query(f"select * from {self.state_schema}.revsync_sync_state order by sync_id, record_key")

    def runs(self) -> list[dict[str, Any]]:
        return self.query(f"select * from {self.state_schema}.revsync_runs order by started_at")

    def rejects(self) -> list[dict[str, Any]]:
        at = "`at`" if self.warehouse == warehouses.SPARK else '"at"'
        return self.query(f"select * from {self.state_schema}.revsync_rejects order by {at}, record_key")

    def _dump(self, path: Path, data: Any) -> None:
        path.write_text(_yaml_text(data))


def _yaml_text(data: Any) -> str:
    stream = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.dump(json.loads(json.dumps(data)), stream)
    return stream.getvalue()


@contextlib.contextmanager
def _env(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    sandbox_server.reset()
    sandbox_server.clear_faults()
    yield sandbox_server
    sandbox_server.clear_faults()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``@pytest.mark.warehouses`` runs a test once per warehouse (or per one named);
    ``@pytest.mark.spark`` adds Spark to a bare ``warehouses`` marker."""
    marker = metafunc.definition.get_closest_marker("warehouses")
    if marker is not None and "warehouse" in metafunc.fixturenames:
        names = list(marker.args) or list(warehouses.WAREHOUSES)
        if not marker.args and metafunc.definition.get_closest_marker("spark") is not None:
            names.append(warehouses.SPARK)
        metafunc.parametrize("warehouse", names, indirect=True, ids=names)


@pytest.fixture
def warehouse(request: pytest.FixtureRequest) -> str:
    """The warehouse this test's project lives in: duckdb unless the test is marked."""
    name = str(getattr(request, "param", warehouses.DEFAULT_WAREHOUSE))
    request.node.user_properties.append(("warehouse", name))
    if name == "postgres":
        _, _, reason = warehouses.postgres_status()
        if reason is not None:
            if warehouses.in_ci():
                pytest.fail(f"CI=true and {reason}", pytrace=False)
            pytest.skip(reason)
    if name == warehouses.SPARK:
        reason = warehouses.spark_missing()
        if reason is not None:
            if warehouses.in_ci():
                pytest.fail(f"CI=true and {reason}", pytrace=False)
            pytest.skip(reason)
        request.getfixturevalue("spark_session")
    return name


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One warm SparkSession for the whole test process (see warehouses.py)."""
    session = warehouses.spark_session(tmp_path_factory.mktemp("spark"))
    yield session
    session.stop()


@pytest.fixture
def project(tmp_path: Path, sandbox: SandboxServer, warehouse: str) -> Iterator[Project]:
    if warehouse == warehouses.SPARK:
        yield Project(tmp_path / "project", sandbox, warehouse, f"rs_{uuid.uuid4().hex[:10]}")
        return
    if warehouse != "postgres":
        yield Project(tmp_path / "project", sandbox, warehouse)
        return
    server = warehouses.PostgresServer.from_env()
    database = server.create_database()
    try:
        yield Project(tmp_path / "project", sandbox, warehouse, database)
    finally:
        server.drop_database(database)
