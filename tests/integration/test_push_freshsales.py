"""The spine, end to end: model YAML -> dbt artifacts -> warehouse diff -> Freshsales -> state."""

from __future__ import annotations

from typing import Any

import pytest

from dbt_revsync.crms.freshsales import facts
from dbt_revsync.sandbox import DeclaredField
from tests.integration.conftest import Project
from tests.integration.freshsales_accounts import ACCOUNT_BLOCK, ACCOUNTS, accounts_project, records

pytestmark = [pytest.mark.integration, pytest.mark.warehouses]


def requests(project: Project) -> int:
    return project.sandbox.stats()["freshsales"]["requests"]


def by_account_id(project: Project) -> dict[str, dict[str, Any]]:
    return {r["custom_field"]["cf_account_id"]: r for r in records(project, "sales_accounts")}


def test_push_makes_the_crm_equal_the_model_field_by_field(project: Project) -> None:
    accounts_project(project)
    project.build()
    result = project.push()
    assert result.code == 0, result.err + result.out
    held = by_account_id(project)
    assert sorted(held) == ["1001", "1002", "1003", "1004"]  # integral floats travel as whole numbers
    assert held["1001"]["name"] == "Acme GmbH" and held["1001"]["website"] == "acme.de"
    assert held["1001"]["city"] == "Berlin" and held["1001"]["number_of_employees"] == 120
    assert held["1002"]["name"] == "Société Générale Import" and "number_of_employees" not in held["1002"]
    assert held["1003"]["name"] == "株式会社サンプル" and "website" not in held["1003"]  # nulls skipped
    assert "city" not in held["1004"]  # a blank never blanks a field
    state = project.state()
    assert {s["record_key"] for s in state} == {"1001", "1002", "1003", "1004"}
    assert {s["destination_id"] for s in state} == {str(r["id"]) for r in held.values()}
    run = project.runs()[-1]
    assert (run["status"], run["read"], run["created"], run["requests"]) == ("success", 4, 4, 4)
    assert "crm_accounts -> freshsales.sales_accounts" in result.out and "success" in result.out


def test_repush_with_nothing_changed_sends_zero_requests(project: Project) -> None:
    accounts_project(project)
    project.build()
    assert project.push().code == 0
    before = requests(project)
    project.build()
    result = project.push()
    assert result.code == 0
    assert requests(project) == before
    run = project.runs()[-1]
    assert (run["read"], run["unchanged"], run["requests"], run["created"], run["updated"]) == (4, 4, 0, 0, 0)


def test_k_changed_rows_update_exactly_k_records_and_mirror_deletes_removed(project: Project) -> None:
    block = {**ACCOUNT_BLOCK, "insert_mode": "mirror"}
    accounts_project(project, block)
    project.build()
    assert project.push().code == 0
    ids_before = {k: r["id"] for k, r in by_account_id(project).items()}
    changed = [list(row) for row in ACCOUNTS[:3]]
    changed[0][3], changed[1][3] = "Hamburg", "Lyon"  # k = 2 changed, 1004 removed
    accounts_project(project, block, changed)
    project.build()
    before = project.sandbox.stats()["freshsales"]["by_route"]
    result = project.push()
    assert result.code == 0, result.out
    after = project.sandbox.stats()["freshsales"]["by_route"]
    delta = {route: n - before.get(route, 0) for route, n in after.items() if n != before.get(route, 0)}
    assert delta == {"PUT sales_accounts.update": 2, "DELETE sales_accounts.delete": 1}
    held = by_account_id(project)
    assert sorted(held) == ["1001", "1002", "1003"]
    assert held["1001"]["city"] == "Hamburg" and held["1002"]["city"] == "Lyon"
    assert {k: r["id"] for k, r in held.items()} == {k: ids_before[k] for k in held}  # updated in place
    run = project.runs()[-1]
    assert (run["updated"], run["deleted"], run["unchanged"], run["created"]) == (2, 1, 1, 0)
    assert {s["record_key"] for s in project.state()} == {"1001", "1002", "1003"}


def test_full_refresh_resends_every_row(project: Project) -> None:
    accounts_project(project)
    project.build()
    project.push()
    before = requests(project)
    assert project.push("--full-refresh").code == 0
    assert requests(project) - before == 4
    assert len(records(project, "sales_accounts")) == 4


def test_key_hygiene_rejects_null_and_duplicated_keys_and_never_sends_them(project: Project) -> None:
    rows = [
        [" 77 ", "Seventy-seven"],
        ["77", "Duplicate of 77"],
        [None, "No key"],
        ["12345.0", "Float key"],
        ["abc", "Text"],
    ]
    project.seed("raw", ["account_id", "name"], rows, {"account_id": "varchar"})
    block = {**ACCOUNT_BLOCK, "fields": {"name": "name", "custom_field.cf_account_id": "account_id"}}
    project.model("crm_accounts", "select * from {{ ref('raw') }}", block)
    project.build()
    result = project.push()
    assert result.code == 1  # rows were rejected
    held = by_account_id(project)
    assert sorted(held) == ["12345", "abc"]
    rejects = project.rejects()
    reasons = sorted((r["record_key"] or "", r["error_code"]) for r in rejects)
    assert reasons == [("", "null_primary_key"), ("77", "duplicate_primary_key"), ("77", "duplicate_primary_key")]
    assert all(r["error_message"] for r in rejects)
    assert project.runs()[-1]["rejected"] == 3


@pytest.mark.parametrize("place", ["config", "meta"])
def test_blocks_work_on_seeds_sources_snapshots_and_the_older_meta_place(project: Project, place: str) -> None:
    project.seed("people", ["pid", "name", "mail"], [[1, "Ann", "ann@x.io"], [2, "Bob", "bob@x.io"]])
    contact = {
        "destination": "freshsales",
        "object": "contacts",
        "insert_mode": "upsert",
        "primary_key": "pid",
        "upsert_key": "emails",
    }
    seed_block = {**contact, "fields": {"first_name": "name", "emails": "mail"}}
    meta_key = {"config": {"meta": {"revsync": seed_block}}} if place == "config" else {"meta": {"revsync": seed_block}}
    (project.root / "seeds" / "schema.yml").write_text(_yaml({"version": 2, "seeds": [{"name": "people", **meta_key}]}))
    source_block = {**ACCOUNT_BLOCK, "fields": {"name": "name", "custom_field.cf_account_id": "account_id"}}
    (project.root / "models" / "sources.yml").write_text(
        _yaml(
            {
                "version": 2,
                "sources": [
                    {
                        "name": "crm",
                        "schema": "main",
                        "tables": [{"name": "raw_accts", "meta": {"revsync": source_block}}],
                    }
                ],
            }
        )
    )
    project.model("raw_accts", "select 5 as account_id, 'Source Co' as name")
    (project.root / "snapshots").mkdir()
    (project.root / "snapshots" / "snap.sql").write_text(
        "{% snapshot snap %}{{ config(target_schema='snapshots', unique_key='id', strategy='check', check_cols='all', "
        "meta={'revsync': "
        + repr(
            {
                **ACCOUNT_BLOCK,
                "name": "snap",
                "primary_key": "id",
                "fields": {"name": "name", "custom_field.cf_account_id": "id"},
            }
        )
        + "}) }}"
        "select 9 as id, 'Snapshot Co' as name{% endsnapshot %}"
    )
    project.build()
    result = project.push()
    assert result.code == 0, result.err + result.out
    assert {c["email"] for c in records(project, "contacts")} == {"ann@x.io", "bob@x.io"}
    assert {a["name"] for a in records(project, "sales_accounts")} == {"Source Co", "Snapshot Co"}


def test_select_goes_through_dbt_ls_and_default_takes_the_last_runs_successes(project: Project) -> None:
    accounts_project(project)
    project.model(
        "other",
        "select 1 as account_id, 'Other' as name",
        {**ACCOUNT_BLOCK, "fields": {"name": "name", "custom_field.cf_account_id": "account_id"}},
    )
    project.build()
    result = project.push("--select", "other")
    assert result.code == 0
    assert [r["name"] for r in records(project, "sales_accounts")] == ["Other"]
    project.dbt("run", "--select", "crm_accounts")  # the last run built crm_accounts only
    assert project.push().code == 0
    assert len(records(project, "sales_accounts")) == 5
    assert {r["sync_id"] for r in project.runs()} == {
        "model.revsync_test.other:freshsales.sales_accounts",
        "model.revsync_test.crm_accounts:freshsales.sales_accounts",
    }


def test_two_blocks_on_one_model_need_names_and_both_push(project: Project) -> None:
    deal = {
        "destination": "freshsales",
        "object": "deals",
        "insert_mode": "append",
        "primary_key": "account_id",
        "fields": {"name": "name"},
    }
    accounts_project(project, [{**ACCOUNT_BLOCK, "name": "accounts"}, {**deal, "name": "deals"}])
    project.build()
    assert project.push().code == 0
    assert len(records(project, "sales_accounts")) == 4 and len(records(project, "deals")) == 4


def _yaml(data: Any) -> str:
    from tests.integration.conftest import _yaml_text

    return _yaml_text(data)


def test_a_spent_hourly_budget_ends_the_sync_with_rows_left_and_says_so(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan's hourly cap is paced client-side: once it is spent nothing more is sent, the sync
    ends partial with the rest left for the next push, and the message names the spent limit."""
    monkeypatch.setitem(facts.PLANS, "free", facts.PlanLimits(per_hour=3, per_minute=400))
    rows = [[1000.0 + i, f"Account {i}", None, None, None] for i in range(8)]
    accounts_project(project, {**ACCOUNT_BLOCK, "batch_size": 2}, rows=rows)
    project.build()
    result = project.push()
    assert requests(project) == 3  # never past the hour's budget: no 429 and no breaker
    assert len(records(project, "sales_accounts")) == 3
    run = project.runs()[-1]
    assert (run["status"], run["created"]) == ("partial", 3)
    assert "limit of 3 requests per hour is spent" in run["message"] and "5 row(s) not delivered" in run["message"]
    assert "limit of 3 requests per hour is spent" in result.out + result.err
    assert "circuit" not in (run["message"] or "").lower()
    assert len(project.state()) == 3
    # The client's windows live as long as its process: a later push starts a budget of its own
    # (the vendor's 429 is the backstop when two pushes share one hour).
    again = project.push()
    assert requests(project) == 6 and len(records(project, "sales_accounts")) == 6
    assert project.runs()[-1]["status"] == "partial", again.out + again.err
    assert "2 row(s) not delivered" in project.runs()[-1]["message"]


def test_an_unknown_plan_is_a_configuration_error(project: Project) -> None:
    project.connections({"freshsales": project.freshsales_connection(plan="platinum")})
    accounts_project(project)
    project.build()
    result = project.push()
    assert result.code == 2 and "'plan' must be one of free, growth, pro, enterprise" in result.err
    assert requests(project) == 0


def test_upsert_by_a_field_that_can_never_be_unique_is_refused_by_validate(project: Project) -> None:
    accounts_project(
        project,
        {**ACCOUNT_BLOCK, "upsert_key": "owner_id", "fields": {**ACCOUNT_BLOCK["fields"], "owner_id": "employees"}},
    )
    project.dbt("parse")
    result = project.revsync("validate")
    assert result.code == 2
    assert (
        "key 'config.meta.revsync.upsert_key'" in result.err
        and "Freshsales upserts by a field marked unique" in result.err
    )
    assert "'owner_id' is not a text or number field" in result.err


def test_validate_remote_refuses_an_upsert_key_freshsales_does_not_hold_unique(project: Project) -> None:
    block = {**ACCOUNT_BLOCK, "upsert_key": "cf_plan", "fields": {"name": "name", "custom_field.cf_plan": "account_id"}}
    accounts_project(project, block)
    project.build()
    assert project.revsync("validate").code == 0  # a custom field may be unique: only Freshsales can say
    result = project.revsync("validate", "--remote")
    assert result.code == 2
    assert "'cf_plan' is not marked unique in freshsales.sales_accounts" in result.err
    assert project.push().code != 0 or records(project, "sales_accounts") == []  # the sandbox refuses it too
    emulator = project.sandbox.emulator("freshsales")
    emulator.declare_field(DeclaredField("sales_accounts", "cf_ref", "text", unique=False))
    emulator.declare_field(DeclaredField("sales_accounts", "cf_plan", "text", unique=True))
    result = project.revsync("validate", "--remote")
    assert result.code == 0, result.err
