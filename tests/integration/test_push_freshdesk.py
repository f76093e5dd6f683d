"""Freshdesk end to end, per insert mode: dbt build -> push -> the sandbox's Freshdesk."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

FRESHDESK_KEY = "sandbox-freshdesk-key"
CONTACT = {"destination": "freshdesk", "object": "contacts", "primary_key": "pid"}
FIELDS = {"name": "name", "email": "email", "mobile": "mobile", "unique_external_id": "pid"}
HEADER = ["pid", "name", "email", "mobile"]


def use_freshdesk(project: Project) -> None:
    project.env["FRESHDESK_API_KEY"] = FRESHDESK_KEY
    project.connections(
        {
            "freshdesk": {
                "type": "freshdesk",
                "api_key": "{{ env_var('FRESHDESK_API_KEY') }}",
                "base_url": f"{project.sandbox.url}/freshdesk",
                "max_concurrency": 2,
            }
        }
    )


def write(project: Project, block: Any, rows: list[list[Any]], header: list[str] = HEADER) -> None:
    use_freshdesk(project)
    project.seed("people", header, rows, {"pid": "varchar", "mobile": "varchar"})
    project.model("fd_contacts", "select * from {{ ref('people') }}", block)
    project.build()


def crm(project: Project, method: str, path: str, body: Any = None) -> Any:
    answer = requests.request(
        method, f"{project.sandbox.url}/freshdesk/{path}", json=body, auth=(FRESHDESK_KEY, "X"), timeout=10
    )
    answer.raise_for_status()
    return answer.json() if answer.content else None


def contacts(project: Project) -> dict[str, dict[str, Any]]:
    """Live contacts by name."""
    return {c["name"]: c for c in project.sandbox.emulator("freshdesk").records("contacts") if not c.get("deleted")}


def routes(project: Project) -> dict[str, int]:
    return dict(project.sandbox.stats()["freshdesk"]["by_route"])


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def test_append_creates_contacts_and_400s_become_rejects_with_field_and_code(project: Project) -> None:
    crm(project, "POST", "contacts", {"name": "Zed", "email": "zed@x.io"})
    rows = [
        ["1", "Ann", "ann@x.io", "+4711"],
        ["2", "Bob", "not-an-email", None],
        ["3", "Cid", "ZED@x.io", None],
        ["4", None, "dee@x.io", None],
    ]
    rows += [[str(i), f"P{i}", f"p{i}@x.io", None] for i in range(5, 10)]
    write(project, {**CONTACT, "insert_mode": "append", "fields": FIELDS}, rows)
    # A 429 storm with Retry-After: waited out, nothing lost.
    project.sandbox.add_fault("status", prefix="freshdesk", status=429, retry_after=1, times=2)
    result = project.push()
    assert result.code == 1
    held = contacts(project)
    assert sorted(held) == ["Ann", "P5", "P6", "P7", "P8", "P9", "Zed"]
    assert project.sandbox.stats()["freshdesk"]["faults"] == {"status": 2}
    assert project.runs()[-1]["requests"] == 9 + 2  # every row once, and the two answered 429
    assert (held["Ann"]["email"], held["Ann"]["mobile"], held["Ann"]["unique_external_id"]) == (
        "ann@x.io",
        "+4711",
        "1",
    )
    rejects = {r["record_key"]: r for r in project.rejects()}
    assert {k: r["error_code"] for k, r in rejects.items()} == {
        "2": "invalid_value",
        "3": "duplicate_value",
        "4": "missing_field",
    }
    assert rejects["3"]["error_message"] == "email: It should be a unique value (duplicate_value)"
    assert rejects["2"]["error_message"].startswith("email: ")
    assert {s["record_key"]: s["destination_id"] for s in project.state()}["1"] == str(held["Ann"]["id"])


def test_upsert_finds_by_the_key_then_puts_or_posts_and_repush_sends_nothing(project: Project) -> None:
    existing = crm(project, "POST", "contacts", {"name": "Old Ann", "email": "ANN@x.io"})
    block = {**CONTACT, "insert_mode": "upsert", "upsert_key": "email", "fields": FIELDS}
    write(project, block, [["1", "Ann", "ann@x.io", None], ["2", "Bob", "bob@x.io", None]])
    assert project.push().code == 0
    held = contacts(project)
    assert sorted(held) == ["Ann", "Bob"] and held["Ann"]["id"] == existing["id"]
    assert delta({}, routes(project)) == {"POST contacts.create": 2, "GET contacts.list": 2, "PUT contacts.update": 1}
    run = project.runs()[-1]
    assert (run["created"], run["updated"], run["requests"]) == (1, 1, 4)
    before = routes(project)
    write(project, block, [["1", "Ann", "ann@x.io", None], ["2", "Bob B.", "bob@x.io", None]])
    assert project.push().code == 0
    assert delta(before, routes(project)) == {"PUT contacts.update": 1}  # the remembered id: no search


def test_update_rejects_rows_with_no_match_and_companies_match_through_search(project: Project) -> None:
    crm(project, "POST", "companies", {"name": "Acme"})
    block = {
        "destination": "freshdesk",
        "object": "companies",
        "primary_key": "acct",
        "insert_mode": "update",
        "upsert_key": "account_no",
        "fields": {"name": "name", "industry": "industry", "custom_fields.account_no": "acct"},
    }
    use_freshdesk(project)
    project.seed("accts", ["acct", "name", "industry"], [["A-1", "Acme Inc", "Retail"], ["A-2", "Nobody", "Mining"]])
    project.model("fd_companies", "select * from {{ ref('accts') }}", block)
    project.build()
    # validate --remote reads /company_fields: the custom field must be defined in the account.
    undefined = project.revsync("validate", "--remote")
    assert undefined.code == 2 and "'account_no' is not a field of freshdesk companies" in undefined.err
    project.sandbox.emulator("freshdesk").define_custom_field("companies", "account_no")
    assert project.revsync("validate", "--remote").code == 0
    crm(
        project,
        "PUT",
        f"companies/{project.sandbox.emulator('freshdesk').records('companies')[0]['id']}",
        {"custom_fields": {"account_no": "A-1"}},
    )
    assert project.push().code == 1
    companies = project.sandbox.emulator("freshdesk").records("companies")
    assert [(c["name"], c["industry"]) for c in companies] == [("Acme Inc", "Retail")]
    assert [(r["record_key"], r["error_code"]) for r in project.rejects()] == [("A-2", "no_match")]
    assert routes(project)["GET companies.search"] == 2


def test_mirror_soft_deletes_what_left_the_model_and_delete_mode_deletes_by_id(project: Project) -> None:
    block = {**CONTACT, "insert_mode": "mirror", "upsert_key": "email", "fields": FIELDS}
    write(project, block, [["1", "Ann", "ann@x.io", None], ["2", "Bob", "bob@x.io", None]])
    assert project.push().code == 0
    write(project, block, [["2", "Bob", "bob@x.io", None]])
    assert project.push().code == 0
    assert sorted(contacts(project)) == ["Bob"]
    trashed = [c for c in project.sandbox.emulator("freshdesk").records("contacts") if c.get("deleted")]
    assert [c["name"] for c in trashed] == ["Ann"]  # Freshdesk's DELETE moves a contact to the trash
    bob = contacts(project)["Bob"]["id"]
    delete = {**CONTACT, "insert_mode": "delete", "upsert_key": "id", "fields": {"id": "crm_id"}}
    use_freshdesk(project)
    project.seed("doomed", ["pid", "crm_id"], [["9", bob]], {"pid": "varchar", "crm_id": "bigint"})
    project.model("fd_contacts", "select * from {{ ref('doomed') }}", delete)
    project.build()
    assert project.push().code == 0
    assert contacts(project) == {}


def test_a_match_key_freshdesk_cannot_look_up_is_a_config_error(project: Project) -> None:
    use_freshdesk(project)
    project.seed("people", HEADER, [["1", "Ann", "ann@x.io", None]], {"pid": "varchar", "mobile": "varchar"})
    project.model(
        "fd_contacts",
        "select * from {{ ref('people') }}",
        {**CONTACT, "insert_mode": "upsert", "upsert_key": "unique_external_id", "fields": FIELDS},
    )
    checked = project.revsync("validate")
    assert checked.code == 2 and "Freshdesk cannot look contacts up by 'unique_external_id'" in checked.err


def test_mirror_restores_a_contact_it_trashed_when_its_row_returns(project: Project) -> None:
    """Freshdesk's DELETE keeps a contact's email and external id reserved in the trash: the
    returning row restores and updates the same contact, never a reject, never a new one."""
    block = {**CONTACT, "insert_mode": "mirror", "upsert_key": "email", "fields": FIELDS}
    write(project, block, [["1", "Ann", "ann@x.io", None], ["2", "Bob", "bob@x.io", None]])
    assert project.push().code == 0
    ann = contacts(project)["Ann"]["id"]
    write(project, block, [["2", "Bob", "bob@x.io", None]])
    assert project.push().code == 0
    assert sorted(contacts(project)) == ["Bob"]
    write(project, block, [["1", "Ann B", "ann@x.io", "+4711"], ["2", "Bob", "bob@x.io", None]])
    before = routes(project)
    assert project.push().code == 0
    assert project.rejects() == []
    held = contacts(project)
    assert sorted(held) == ["Ann B", "Bob"] and held["Ann B"]["id"] == ann and held["Ann B"]["mobile"] == "+4711"
    assert len(project.sandbox.emulator("freshdesk").records("contacts")) == 2, "no new contact"
    assert delta(before, routes(project)) == {
        "GET contacts.list": 2,
        "POST contacts.create": 1,
        "PUT contacts.restore": 1,
        "PUT contacts.update": 1,
    }
    run = project.runs()[-1]
    assert (run["created"], run["updated"]) == (0, 1)
    assert {s["record_key"]: s["destination_id"] for s in project.state()}["1"] == str(ann)
    before = routes(project)
    assert project.push().code == 0
    assert delta(before, routes(project)) == {}, "the restored contact is remembered: nothing more to send"
