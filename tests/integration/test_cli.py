"""The command line as a user runs it: real processes."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).parent / "dbt-revsync")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sandbox_command_serves_with_limits_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [CLI, "sandbox", "--port", str(port), "--per-minute", "2"], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert f"http://127.0.0.1:{port}" in (process.stdout.readline() if process.stdout else "")
        url = f"http://127.0.0.1:{port}/freshsales/sales_accounts"
        headers = {"Authorization": "Token token=sandbox-freshsales-key"}
        statuses = [
            requests.post(url, json={"sales_account": {"name": "A"}}, headers=headers, timeout=5).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        assert requests.get(url, headers={"Authorization": "Token token=wrong"}, timeout=5).status_code == 401
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_usage_errors_exit_2_without_a_traceback() -> None:
    result = subprocess.run([CLI, "push", "--no-such-flag"], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run([CLI], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    result = subprocess.run([CLI, "push", "--project-dir", "/nonexistent"], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "is not a dbt project" in result.stderr and "Traceback" not in result.stderr


def test_plan_exits_1_when_a_sync_fails(project: Project) -> None:
    project.seed("raw", ["account_id", "name"], [[1, "One"]])
    block = {
        "destination": "freshsales",
        "object": "sales_accounts",
        "primary_key": "account_id",
        "fields": {"name": "name"},
    }
    project.model("accounts", "select * from {{ ref('raw') }}", block)
    project.build()
    (project.root / "macros").mkdir(exist_ok=True)
    (project.root / "macros" / "broken.sql").write_text(
        "{% macro duckdb__revsync_changes_sql(relation, sync_id, target, key_columns, columns, hash_columns, "
        "fingerprint, upsert_column, "
        "state_relation, full_refresh, incremental_column, watermark) %}"
        "{{ exceptions.raise_compiler_error('diff broken on purpose') }}{% endmacro %}\n"
    )
    result = project.revsync("plan")
    assert result.code == 1 and "accounts -> freshsales.sales_accounts: failed" in result.out
    assert "diff broken on purpose" in result.out and "Traceback" not in result.err
