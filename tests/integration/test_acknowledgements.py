"""What the CRM confirmed, and only that, is committed: answers that do not hold the record
acknowledge nothing, "created" is what the CRM says it created, and a value a connector
cannot convert rejects its row without stopping the push."""

from __future__ import annotations

from typing import Any

import pytest

from dbt_revsync.sandbox import DeclaredField
from tests.integration.conftest import Project
from tests.integration.freshsales_accounts import ACCOUNT_BLOCK, accounts_project, records

pytestmark = pytest.mark.integration

MAINTENANCE = "<!DOCTYPE html><html><body><h1>We'll be back soon</h1></body></html>"
HUBSPOT_TOKEN = "sandbox-hubspot-token"


def of(rows: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    return [r for r in rows if f".{model}:" in r["sync_id"]]


def use_hubspot(project: Project) -> None:
    project.env["HUBSPOT_TOKEN"] = HUBSPOT_TOKEN
    project.connections(
        {
            "freshsales": project.freshsales_connection(),
            "hubspot": {
                "type": "hubspot",
                "access_token": "{{ env_var('HUBSPOT_TOKEN') }}",
                "base_url": f"{project.sandbox.url}/hubspot",
            },
        }
    )


def contacts_model(project: Project, name: str, sql: str) -> None:
    block = {
        "destination": "hubspot",
        "object": "contacts",
        "insert_mode": "upsert",
        "primary_key": "person_id",
        "upsert_key": "email",
        "fields": {"email": "email", "firstname": "first_name"},
    }
    project.model(name, sql, block)


def test_a_200_maintenance_page_acknowledges_nothing_and_the_next_push_syncs(project: Project) -> None:
    accounts_project(project)
    project.build()
    project.sandbox.add_fault(
        "status",
        status=200,
        body=MAINTENANCE,
        headers={"Content-Type": "text/html"},
        prefix="freshsales",
        path="/upsert$",
    )
    project.push()
    assert project.state() == [] and records(project, "sales_accounts") == []
    project.sandbox.clear_faults()
    assert project.push().code == 0
    assert len(project.state()) == 4 and len(records(project, "sales_accounts")) == 4
    assert project.runs()[-1]["created"] == 4


def test_an_upsert_answered_201_with_an_empty_body_is_not_acknowledged_and_is_matched_next_push(
    project: Project,
) -> None:
    accounts_project(project)
    project.build()
    project.sandbox.add_fault("apply_then_answer", status=201, prefix="freshsales", path="/upsert$")
    project.push()
    assert project.state() == [] and len(records(project, "sales_accounts")) == 4  # written, never confirmed
    project.sandbox.clear_faults()
    assert project.push().code == 0
    assert len(records(project, "sales_accounts")) == 4  # matched, no duplicate
    run = project.runs()[-1]
    assert (run["created"], run["updated"]) == (0, 4)  # the CRM matched them: never claimed as created


def test_a_hubspot_upsert_answer_without_the_new_flag_counts_as_updated(project: Project) -> None:
    use_hubspot(project)
    contacts_model(project, "hs_people", "select 1 as person_id, 'ann@example.com' as email, 'Ann' as first_name")
    project.build()
    project.sandbox.add_fault("apply_then_strip", body=["new"], prefix="hubspot", path="/batch/upsert$")
    assert project.push("--select", "hs_people").code == 0
    run = project.runs()[-1]
    assert (run["created"], run["updated"]) == (0, 1)
    project.sandbox.clear_faults()
    project.sandbox.reset()
    assert project.push("--select", "hs_people", "--full-refresh").code == 0
    assert (project.runs()[-1]["created"], project.runs()[-1]["updated"]) == (1, 0)  # "new": true is a creation


def test_a_hubspot_date_that_is_no_date_rejects_its_row_and_never_stops_the_push(project: Project) -> None:
    """A date property's value is converted to epoch ms; one that is no date rejects its row.
    A text property's date-looking value travels as the text it is."""
    use_hubspot(project)
    project.sandbox.emulator("hubspot").declare(DeclaredField("contacts", "renewal_date", "date"))
    block = {
        "destination": "hubspot",
        "object": "contacts",
        "insert_mode": "upsert",
        "primary_key": "person_id",
        "upsert_key": "email",
        "fields": {"email": "email", "firstname": "first_name", "renewal_date": "renewal"},
    }
    project.model(
        "hs_people",
        "select * from (values (1, 'ann@example.com', 'Ann', '2023-02-29'), "
        "(2, 'bob@example.com', '2024-01-05', '2024-03-01')) as t(person_id, email, first_name, renewal)",
        block,
    )
    accounts_project(project)
    project.build()
    result = project.push()
    assert result.code == 1 and "Traceback" not in result.err
    rejects = project.rejects()
    assert [(r["record_key"], r["error_code"]) for r in rejects] == [("1", "invalid_value")]
    assert "2023-02-29" in rejects[0]["error_message"]
    assert [s["record_key"] for s in of(project.state(), "hs_people")] == ["2"]
    (bob,) = project.sandbox.emulator("hubspot").records("contacts")
    assert bob["properties"]["firstname"] == "2024-01-05"  # text stays text
    assert bob["properties"]["renewal_date"] == "1709251200000"  # 2024-03-01, midnight UTC, in epoch ms
    assert len(of(project.state(), "crm_accounts")) == 4  # the other sync went on


def test_nulls_skip_never_blanks_a_field_with_an_empty_list(project: Project) -> None:
    use_hubspot(project)
    contacts_model(project, "hs_people", "select 1 as person_id, 'ann@example.com' as email, ['Ann'] as first_name")
    project.build()
    assert project.push("--select", "hs_people").code == 0
    contacts_model(
        project, "hs_people", "select 1 as person_id, 'ann@example.com' as email, []::varchar[] as first_name"
    )
    project.build()
    assert project.push("--select", "hs_people").code == 0
    (held,) = project.sandbox.emulator("hubspot").records("contacts")
    assert held["properties"]["firstname"] == "Ann"


def test_text_values_reach_the_crm_with_their_blanks(project: Project) -> None:
    rows = [[1001.0, "  Acme  ", "acme.de", "Berlin", 120]]
    accounts_project(project, {**ACCOUNT_BLOCK}, rows)
    project.build()
    assert project.push().code == 0
    (held,) = records(project, "sales_accounts")
    assert held["name"] == "  Acme  " and held["custom_field"]["cf_account_id"] == "1001"
