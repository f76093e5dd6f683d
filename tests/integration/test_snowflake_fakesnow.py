"""Snowflake end to end, offline: the real dbt-snowflake adapter builds the project and
dbt-revsync pushes it to the sandbox, with Snowflake's Python connector emulated by fakesnow
(each statement translated by sqlglot and run on DuckDB). It proves dbt-snowflake's path
through the package (its dispatch, relations, quoting, upper-case result names, the MERGE
commit, the lease) and that the statements are Snowflake SQL sqlglot reads as Snowflake; not
Snowflake's own engine: see docs/warehouses.md."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbt_revsync import cli
from dbt_revsync.model import Settings
from dbt_revsync.sandbox import SandboxServer
from dbt_revsync.testing.dialects import installed
from dbt_revsync.warehouse import Warehouse

fakesnow = pytest.importorskip("fakesnow")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif("snowflake" not in installed(["snowflake"]), reason="dbt-snowflake is not installed"),
]

BLOCK = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "insert_mode": "upsert",
    "primary_key": "account_id",
    "upsert_key": "cf_account_id",
    "fields": {"name": "name", "city": "city", "custom_field.cf_account_id": "account_id"},
}


class SnowflakeProject:
    def __init__(self, root: Path, sandbox: SandboxServer) -> None:
        self.root, self.sandbox = root, sandbox
        (root / "models").mkdir()
        (root / "seeds").mkdir()
        (root / "fakesnow").mkdir()
        (root / "dbt_project.yml").write_text(
            "name: revsync_test\nversion: '1.0'\nconfig-version: 2\nprofile: revsync_test\n"
        )
        output = {
            "type": "snowflake",
            "account": "offline",
            "user": "offline",
            "password": "offline",
            "database": "analytics",
            "warehouse": "offline",
            "schema": "dbt",
            "threads": 1,
        }
        (root / "profiles.yml").write_text(json.dumps({"revsync_test": {"target": "dev", "outputs": {"dev": output}}}))
        (root / "models" / "crm_accounts.sql").write_text(
            "select account_id, name, city from {{ ref('raw_accounts') }}"
        )
        models = [{"name": "crm_accounts", "config": {"meta": {"revsync": BLOCK}}}]
        (root / "models" / "schema.yml").write_text(json.dumps({"version": 2, "models": models}))
        connection = {
            "type": "freshsales",
            "api_key": "{{ env_var('FRESHSALES_API_KEY') }}",
            "base_url": f"{sandbox.url}/freshsales",
        }
        (root / "revsync.yml").write_text(json.dumps({"connections": {"freshsales": connection}}))

    def build(self, rows: list[str]) -> None:
        from dbt.cli.main import dbtRunner

        (self.root / "seeds" / "raw_accounts.csv").write_text(
            "account_id,name,city\n" + "".join(r + "\n" for r in rows)
        )
        result = dbtRunner().invoke(
            ["build", "--project-dir", str(self.root), "--profiles-dir", str(self.root), "--quiet"]
        )
        assert result.success, result.exception

    def revsync(self, *args: str) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main([*args, "--project-dir", str(self.root), "--profiles-dir", str(self.root)])
        return code, out.getvalue()

    def select(self, sql: str) -> list[dict[str, Any]]:
        with Warehouse(Settings(project_dir=self.root, profiles_dir=self.root)) as warehouse:
            return warehouse.select(sql)


@pytest.fixture
def snowflake(tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[SnowflakeProject]:
    monkeypatch.setenv("FRESHSALES_API_KEY", "sandbox-freshsales-key")
    project = SnowflakeProject(tmp_path, sandbox)
    with fakesnow.patch(db_path=str(tmp_path / "fakesnow")):
        yield project


def test_dbt_snowflake_builds_pushes_remembers_and_pushes_only_changes(snowflake: SnowflakeProject) -> None:
    snowflake.build(["1001,Acme GmbH,Berlin", "1002,Nordwind,Hamburg"])
    code, out = snowflake.revsync("push")
    assert code == 0, out
    records = snowflake.sandbox.emulator("freshsales").records("sales_accounts")
    assert sorted(r["name"] for r in records) == ["Acme GmbH", "Nordwind"]

    state = snowflake.select(
        "select sync_id, record_key, destination_id, origin"
        " from analytics.revsync.revsync_sync_state order by record_key"
    )
    assert [(r["record_key"], r["origin"]) for r in state] == [("1001", "created"), ("1002", "created")]
    assert {str(r["destination_id"]) for r in state} == {str(r["id"]) for r in records}

    code, out = snowflake.revsync("push")  # nothing changed: the state, read back by name, says so (the runs below)
    assert code == 0, out

    snowflake.build(["1001,Acme GmbH,München", "1002,Nordwind,Hamburg"])
    code, out = snowflake.revsync("push")
    assert code == 0, out
    runs = snowflake.select(
        "select status, created, updated, unchanged from analytics.revsync.revsync_runs order by started_at"
    )
    assert [(r["status"], r["created"], r["updated"], r["unchanged"]) for r in runs] == [
        ("success", 2, 0, 0),
        ("success", 0, 0, 2),
        ("success", 0, 1, 1),
    ]
    assert {r["city"] for r in snowflake.sandbox.emulator("freshsales").records("sales_accounts")} == {
        "München",
        "Hamburg",
    }
    code, out = snowflake.revsync("status")
    assert code == 0 and "success" in out, out
