"""`dbt-revsync run <dbt arguments>`: dbt through dbtRunner, then a push of exactly what it built."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

BLOCK = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "primary_key": "account_id",
    "fields": {"name": "name"},
}


def names(project: Project) -> list[str]:
    return sorted(r["name"] for r in project.sandbox.emulator("freshsales").records("sales_accounts"))


def test_run_builds_with_dbt_and_pushes_only_what_that_invocation_built(project: Project) -> None:
    project.seed("raw", ["account_id", "name"], [[1, "One"], [2, "Two"]])
    project.model("first", "select account_id, name || ' (first)' as name from {{ ref('raw') }}", BLOCK)
    project.model("second", "select account_id, name || ' (second)' as name from {{ ref('raw') }}", BLOCK)
    project.dbt("seed")
    result = project.revsync("run", "run", "--select", "first")
    assert result.code == 0, result.err + result.out
    assert names(project) == ["One (first)", "Two (first)"]
    assert "first -> freshsales.sales_accounts" in result.out and "second ->" not in result.out
    # A node dbt fails on is not pushed; what it built still is, and the exit status says 1.
    project.model("second", "select account_id, name, no_such_column from {{ ref('raw') }}", BLOCK)
    project.model(
        "third", "select account_id + 10 as account_id, name || ' (third)' as name from {{ ref('raw') }}", BLOCK
    )
    result = project.revsync("run", "build", "--exclude", "first")
    assert result.code == 1
    assert names(project) == ["One (first)", "One (third)", "Two (first)", "Two (third)"]
    assert (
        "second -> freshsales.sales_accounts: not pushed: model_error" in result.out
    )  # held, and the summary says why


def test_run_refuses_a_dbt_command_that_builds_nothing_and_a_dbt_that_cannot_start(project: Project) -> None:
    project.seed("raw", ["account_id", "name"], [[1, "One"]])
    project.model("first", "select * from {{ ref('raw') }}", BLOCK)
    result = project.revsync("run", "compile")
    assert result.code == 2 and "takes a dbt command that builds" in result.err
    result = project.revsync("run", "run", "--no-such-dbt-flag")
    assert result.code == 2 and "did not run" in result.err
    assert project.sandbox.stats()["freshsales"]["requests"] == 0
