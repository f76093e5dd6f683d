"""Render dbt-revsync's macros through a real dbt adapter, with no account and no network.

dbt opens connections lazily: an adapter built from a profile of dummy values renders every
macro through its own ``adapter.dispatch`` (``snowflake__``, ``bigquery__``, ...), and as long
as nothing executes, nothing leaves the machine. This module builds such an adapter for a
warehouse type and renders any ``dbt_revsync`` macro through it, exactly as
``Warehouse.render`` does on a real connection.

Use::

    from dbt_revsync.testing.dialects import rendering

    with rendering("snowflake") as r:
        sql = r.render("revsync_literal", value="it's")        # the macro's text, as a push renders it
        key = r.render("revsync_key_text", expression="id")
        relation = r.relation("analytics", "contacts")         # a relation of that adapter
        r.sqlglot_dialect                                      # "snowflake": sqlglot's name for it

``ADAPTERS`` lists the types this module knows a dummy profile for; ``installed()`` those whose
dbt adapter package is importable here. The adapters themselves are the ``dialects`` extra of
pyproject.toml. Only one adapter is registered at a time in a process (dbt keeps them in a
global): open one ``rendering`` after another, never two at once.
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbt_revsync.model import Settings
from dbt_revsync.warehouse import Warehouse

__all__ = ["ADAPTERS", "Dialect", "Rendering", "installed", "rendering"]

PROJECT_NAME = "revsync_dialects"


@dataclass(frozen=True)
class Dialect:
    """A warehouse type: its dbt adapter's module, a profile output of dummy values, and the
    name sqlglot gives its SQL dialect."""

    adapter_type: str
    module: str
    sqlglot: str
    profile: Mapping[str, Any]


ADAPTERS: dict[str, Dialect] = {
    dialect.adapter_type: dialect
    for dialect in (
        Dialect(
            "snowflake",
            "dbt.adapters.snowflake",
            "snowflake",
            {
                "account": "dummy",
                "user": "dummy",
                "password": "dummy",
                "role": "dummy",
                "database": "analytics",
                "warehouse": "dummy",
                "schema": "dbt",
            },
        ),
        Dialect(
            "bigquery",
            "dbt.adapters.bigquery",
            "bigquery",
            {"method": "oauth", "project": "dummy-project", "dataset": "dbt"},
        ),
        Dialect(
            "databricks",
            "dbt.adapters.databricks",
            "databricks",
            {
                "host": "dummy.cloud.databricks.com",
                "http_path": "/sql/1.0/warehouses/dummy",
                "token": "dummy",
                "catalog": "main",
                "schema": "dbt",
            },
        ),
        Dialect(
            "redshift",
            "dbt.adapters.redshift",
            "redshift",
            {
                "host": "dummy.invalid",
                "user": "dummy",
                "password": "dummy",
                "port": 5439,
                "dbname": "dev",
                "schema": "dbt",
            },
        ),
        # the session method builds its SparkSession only when a statement runs
        Dialect("spark", "dbt.adapters.spark", "spark", {"method": "session", "host": "localhost", "schema": "dbt"}),
        Dialect(
            "postgres",
            "dbt.adapters.postgres",
            "postgres",
            {"host": "localhost", "user": "dummy", "password": "dummy", "port": 5432, "dbname": "dev", "schema": "dbt"},
        ),
        Dialect("duckdb", "dbt.adapters.duckdb", "duckdb", {"path": ":memory:", "schema": "dbt"}),
    )
}


def installed(types: Iterator[str] | list[str] | None = None) -> list[str]:
    """The adapter types (of ``types``, else all of ``ADAPTERS``) whose dbt adapter imports here.
    The spark adapter's session method also needs pyspark."""
    found = []
    for adapter_type in types if types is not None else list(ADAPTERS):
        dialect = ADAPTERS[adapter_type]
        if importlib.util.find_spec(dialect.module.rsplit(".", 1)[0]) is None:
            continue
        try:
            present = importlib.util.find_spec(dialect.module) is not None
        except ModuleNotFoundError:
            present = False
        if present and (adapter_type != "spark" or importlib.util.find_spec("pyspark") is not None):
            found.append(adapter_type)
    return found


class Rendering:
    """An opened adapter of one type, rendering the package's macros; see ``rendering``."""

    def __init__(self, dialect: Dialect, warehouse: Warehouse) -> None:
        self.dialect = dialect
        self.warehouse = warehouse

    @property
    def adapter_type(self) -> str:
        return self.dialect.adapter_type

    @property
    def sqlglot_dialect(self) -> str:
        return self.dialect.sqlglot

    @property
    def adapter(self) -> Any:
        return self.warehouse.adapter

    def render(self, name: str, **kwargs: Any) -> Any:
        """The macro ``name`` of dbt_revsync rendered with ``kwargs``, as ``Warehouse.render``
        returns it (text, or what the macro ``return``s: a list of statements, a dict)."""
        return self.warehouse.render(name, **kwargs)

    def sql(self, name: str, **kwargs: Any) -> str:
        """The rendered macro as stripped text (for a macro that renders a statement)."""
        return str(self.render(name, **kwargs)).strip()

    def relation(self, schema: str, identifier: str | None = None) -> Any:
        """A relation of this adapter in its profile's database (catalog, project)."""
        database = self.warehouse.config.credentials.database
        relation = self.adapter.Relation.create(database=database, schema=schema, identifier=identifier)
        return relation if identifier else relation.without_identifier()

    def state_table(self, name: str) -> Any:
        """A table of the state schema, as ``Warehouse.state_table`` names it."""
        return self.warehouse.state_table(name)

    def quote(self, identifier: str) -> str:
        return str(self.adapter.quote(identifier))


@contextmanager
def rendering(adapter_type: str, state_schema: str = "revsync") -> Iterator[Rendering]:
    """An adapter of ``adapter_type`` built from a profile of dummy values, with dbt_revsync's
    macros loaded; nothing connects unless a statement is executed."""
    dialect = ADAPTERS[adapter_type]
    with tempfile.TemporaryDirectory(prefix="revsync-dialect-") as folder:
        project_dir = Path(folder)
        _write_project(project_dir, dialect)
        warehouse = Warehouse(Settings(project_dir=project_dir, profiles_dir=project_dir, state_schema=state_schema))
        warehouse.open()
        try:
            yield Rendering(dialect, warehouse)
        finally:
            _discard(warehouse)


def _write_project(project_dir: Path, dialect: Dialect) -> None:
    import json

    (project_dir / "dbt_project.yml").write_text(
        f"name: {PROJECT_NAME}\nversion: '1.0'\nconfig-version: 2\nprofile: {PROJECT_NAME}\n", encoding="utf-8"
    )
    output = {"type": dialect.adapter_type, "threads": 1, **dialect.profile}
    # JSON is YAML: no quoting rules to get wrong for the dummy values
    profiles = {PROJECT_NAME: {"target": "dummy", "outputs": {"dummy": output}}}
    (project_dir / "profiles.yml").write_text(json.dumps(profiles), encoding="utf-8")


def _discard(warehouse: Warehouse) -> None:
    """Close without closing the connection: it never opened, and some adapters' ``close``
    opens a lazy handle first (dbt-bigquery asks for credentials)."""
    from dbt.adapters.factory import reset_adapters

    from dbt_revsync import warehouse as module

    warehouse.adapter.connections.clear_thread_connection()
    warehouse._connection = None
    reset_adapters()
    module._thaw()
