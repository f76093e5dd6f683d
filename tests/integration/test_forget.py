"""`dbt-revsync forget`: reset a sync's state, after saying what that means, and only if asked."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Project

pytestmark = [pytest.mark.integration, pytest.mark.warehouses]

UPSERT = {
    "name": "to_sales",
    "destination": "freshsales",
    "object": "sales_accounts",
    "primary_key": "account_id",
    "insert_mode": "upsert",
    "upsert_key": "cf_account_id",
    "fields": {"name": "name", "custom_field.cf_account_id": "account_id"},
}
APPEND = {
    "name": "to_sales_log",
    "destination": "freshsales",
    "object": "contacts",
    "primary_key": "account_id",
    "fields": {"first_name": "name", "emails": "email"},
}


def sandbox_accounts(project: Project) -> list[dict[str, object]]:
    return project.sandbox.emulator("freshsales").records("sales_accounts")


def test_a_forgotten_upsert_sync_relinks_by_its_upsert_key_and_creates_nothing(project: Project) -> None:
    project.seed("raw", ["account_id", "name", "email"], [[1, "One", "one@example.com"], [2, "Two", "two@example.com"]])
    project.model("accounts", "select * from {{ ref('raw') }}", [UPSERT, APPEND])
    project.build()
    assert project.push().code == 0
    ids = sorted(r["id"] for r in sandbox_accounts(project))
    shown = project.revsync("forget", "--select", "accounts", "--sync", "to_sales", "--yes")
    assert shown.code == 0, shown.err
    assert "2 record(s) created at freshsales:" in shown.out and "relinks by upsert key" in shown.out
    assert "forgot 1 sync(s)" in shown.out
    kept = {row["sync_id"] for row in project.state()}
    assert kept == {"model.revsync_test.accounts:to_sales_log"}  # the other block keeps its state
    status = project.revsync("status", "--select", "accounts")
    assert "forgotten" in status.out
    again = project.push()
    assert again.code == 0, again.out + again.err
    assert sorted(r["id"] for r in sandbox_accounts(project)) == ids  # relinked, not created again
    assert {row["origin"] for row in project.state() if row["sync_id"].endswith(":to_sales")} == {"matched"}


def test_forget_says_an_append_sync_would_create_again_and_asks_first(project: Project) -> None:
    project.seed("raw", ["account_id", "name", "email"], [[1, "One", "one@example.com"]])
    project.model("accounts", "select * from {{ ref('raw') }}", [UPSERT, APPEND])
    project.build()
    assert project.push().code == 0
    before = project.state()
    asked = project.revsync("forget", "--select", "accounts", "--sync", "to_sales_log")
    assert asked.code == 2 and "add --yes" in asked.err  # not a terminal: nothing dropped without --yes
    assert "creates every row again" in asked.out
    assert project.state() == before
    assert project.revsync("forget", "--select", "accounts", "--sync", "nope", "--yes").code == 2
    assert project.revsync("forget", "--yes").code == 2  # a selection is required
    assert project.state() == before


LEASE_MACRO = "{% macro duckdb__revsync_lock_kind() %}{{ return('lease') }}{% endmacro %}\n"


@pytest.mark.warehouses("duckdb")  # the lease, on DuckDB as other warehouses keep it
def test_forget_skips_a_sync_a_push_holds_forgets_the_others_and_says_which(project: Project) -> None:
    (project.root / "macros").mkdir(exist_ok=True)
    (project.root / "macros" / "lease.sql").write_text(LEASE_MACRO)
    project.seed("raw", ["account_id", "name", "email"], [[1, "One", "one@example.com"]])
    project.model("accounts", "select * from {{ ref('raw') }}", [UPSERT, APPEND])
    project.build()
    assert project.push().code == 0
    held = "model.revsync_test.accounts:to_sales"
    with project.duckdb() as db:
        db.execute(
            "insert into revsync.revsync_locks values (?, 'another-push', now(), now() + interval 1 hour)", [held]
        )
    result = project.revsync("forget", "--select", "accounts", "--yes")
    assert result.code == 1, result.out + result.err
    said = result.out + result.err
    assert "forgot 1 sync(s)" in said and "nothing sent" not in said
    assert "accounts [to_sales] -> freshsales.sales_accounts: not forgotten" in said
    assert {row["sync_id"] for row in project.state()} == {held}  # the held sync keeps its state, the other forgot
