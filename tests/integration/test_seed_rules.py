"""The Freshdesk–Salesforce sync rules as sync options, on real dbt + the Freshdesk emulator.

One dbt build and two pushes (a first push that links records, then a full refresh once
they are linked) are shared by the module; each test checks one rule on the outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dbt_revsync.sandbox import SandboxServer
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

FRESHDESK_KEY = "sandbox-freshdesk-key"
REPO_ROOT = Path(__file__).resolve().parents[2]
SF_TOKEN = "sandbox-salesforce-token"

# Contacts already in Freshdesk before the first push, by a label kept in job_title's place.
EXISTING = {
    "c1": {"name": "C1", "email": "one@x.io", "job_title": "CTO", "custom_fields": {"sfcontactid": "SF1"}},
    "c2": {"name": "C2", "email": "two@x.io"},
    "c3": {"name": "C3", "mobile": "+33"},
    "c4": {"name": "C4", "phone": "+44"},
    "c5": {"name": "C5", "mobile": "+99", "email": "five@x.io"},
    "c6": {"name": "C6", "mobile": "+99", "email": "six@x.io"},
    "c7": {"name": "C7", "phone": "+55"},
    "c8": {"name": "C8", "email": "over@x.io", "job_title": "CEO"},
    "c9": {"name": "C9", "email": "skip@x.io", "job_title": "CFO"},
}
HEADER = ["pid", "name", "email", "mobile", "phone", "job_title", "sfid", "tags"]
ROWS = [
    ["1", "Ann by SF id", "new1@x.io", None, None, None, "SF1", "a|b"],  # step 1 wins; email kept
    ["2", "Bea by email", "two@x.io", "+99", None, None, "SF2", None],  # step 2 wins before the ambiguous mobile
    ["3", "Cy by mobile", "three@x.io", "+33", None, None, "SF3", None],  # step 3; the empty email is filled
    ["4", "Di by phone", None, None, "+44", None, "SF4", None],  # step 4
    ["5", "Ed ambiguous", "r5@x.io", "+99", "+55", None, "SF5", None],  # several on mobile: rejected
    ["6", "Flo new", "six-new@x.io", None, None, "COO", "SF6", "x"],  # nothing matches: created
]
RULES = {
    "destination": "freshdesk",
    "object": "contacts",
    "insert_mode": "upsert",
    "primary_key": "pid",
    "match_on": ["custom_fields.sfcontactid", "email", "mobile", "phone"],
    "on_update": {"email": "if_empty", "mobile": "if_empty", "phone": "if_empty"},
    "nulls": "skip_until_linked",
    "lists": {"tags": "tags", "custom_fields.sf_tags": "text"},
    "fields": {
        "name": "name",
        "email": "email",
        "mobile": "mobile",
        "phone": "phone",
        "job_title": "job_title",
        "custom_fields.sfcontactid": "sfid",
        "tags": "tags",
        "custom_fields.sf_tags": "tag_list",
    },
}
SIMPLE = {
    "destination": "freshdesk",
    "object": "contacts",
    "insert_mode": "upsert",
    "primary_key": "pid",
    "match_on": "email",
    "fields": {"name": "name", "email": "email", "job_title": "job_title"},
}


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory, sandbox_server: SandboxServer) -> Iterator[dict[str, Any]]:
    sandbox_server.reset()
    sandbox_server.clear_faults()
    for name in ("sfcontactid", "sf_tags"):  # the account's custom contact fields
        sandbox_server.emulator("freshdesk").define_custom_field("contacts", name)
    project = Project(Path(tmp_path_factory.mktemp("rules")) / "project", sandbox_server)
    project.env["FRESHDESK_API_KEY"] = FRESHDESK_KEY
    project.connections(
        {
            "freshdesk": {
                "type": "freshdesk",
                "api_key": "{{ env_var('FRESHDESK_API_KEY') }}",
                "base_url": f"{sandbox_server.url}/freshdesk",
                "max_concurrency": 1,
            },
            "freshsales": project.freshsales_connection(),
            "salesforce": {
                "type": "salesforce",
                "access_token": "{{ env_var('SF_TOKEN') }}",
                "base_url": f"{sandbox_server.url}/salesforce/services/data/v62.0",
            },
        }
    )
    project.env["SF_TOKEN"] = SF_TOKEN
    # The dbt_revsync package, installed as users do, brings the sources over the state tables.
    (project.root / "packages.yml").write_text(f"packages:\n  - local: {REPO_ROOT}\n")
    project.dbt("deps")
    ids = {label: crm(sandbox_server, "POST", "contacts", body)["id"] for label, body in EXISTING.items()}
    text = {column: "varchar" for column in HEADER}
    project.seed("people", HEADER, ROWS, text)
    project.seed(
        "others",
        ["pid", "name", "email", "job_title"],
        [["8", "Gil overwrite", "over@x.io", None], ["9", "Hal skip", "skip@x.io", None]],
        text,
    )
    # Tags arrive as comma-separated text ("a, b") and as a list column (['a', 'b']).
    sql = (
        "select * replace (replace(tags, '|', ', ') as tags),"
        " string_split(replace(tags, '|', ','), ',') as tag_list from {{ ref('people') }}"
    )
    project.model("fd_rules", sql, RULES)
    project.model("fd_overwrite", "select * from {{ ref('others') }} where pid = '8'", {**SIMPLE, "nulls": "overwrite"})
    project.model("fd_skip", "select * from {{ ref('others') }} where pid = '9'", SIMPLE)
    project.build()
    first = project.push()
    after_first = contacts(sandbox_server)
    routes_first = dict(sandbox_server.stats()["freshdesk"]["by_route"])
    second = project.push("--full-refresh")
    yield {
        "project": project,
        "ids": ids,
        "first": first,
        "second": second,
        "after_first": after_first,
        "after_second": contacts(sandbox_server),
        "routes_first": routes_first,
    }
    sandbox_server.reset()


def crm(server: SandboxServer, method: str, path: str, body: Any = None) -> Any:
    answer = requests.request(
        method, f"{server.url}/freshdesk/{path}", json=body, auth=(FRESHDESK_KEY, "X"), timeout=10
    )
    answer.raise_for_status()
    return answer.json()


def contacts(server: SandboxServer) -> dict[int, dict[str, Any]]:
    return {c["id"]: c for c in server.emulator("freshdesk").records("contacts")}


def state_ids(pushed: dict[str, Any], model: str = "fd_rules") -> dict[str, int]:
    rows = pushed["project"].state()
    return {r["record_key"]: int(r["destination_id"]) for r in rows if f".{model}:" in r["sync_id"]}


def test_step_1_the_external_id_field_matches_first(pushed: dict[str, Any]) -> None:
    c1 = pushed["after_first"][pushed["ids"]["c1"]]
    assert c1["name"] == "Ann by SF id"
    assert state_ids(pushed)["1"] == pushed["ids"]["c1"]


def test_step_2_email_matches_when_the_id_finds_nothing_and_wins_over_later_keys(pushed: dict[str, Any]) -> None:
    c2 = pushed["after_first"][pushed["ids"]["c2"]]
    assert (c2["name"], c2["custom_fields"]["sfcontactid"]) == ("Bea by email", "SF2")
    assert state_ids(pushed)["2"] == pushed["ids"]["c2"]  # the mobile +99 would have matched two


def test_step_3_mobile_then_step_4_phone(pushed: dict[str, Any]) -> None:
    ids, after = pushed["ids"], pushed["after_first"]
    assert state_ids(pushed)["3"] == ids["c3"] and after[ids["c3"]]["name"] == "Cy by mobile"
    assert state_ids(pushed)["4"] == ids["c4"] and after[ids["c4"]]["name"] == "Di by phone"


def test_several_matches_on_a_key_reject_the_row_without_trying_the_next_key(pushed: dict[str, Any]) -> None:
    rejects = [r for r in pushed["project"].rejects() if r["record_key"] == "5"]
    assert rejects and {r["error_code"] for r in rejects} == {"multiple_matches"}
    assert "mobile" in rejects[0]["error_message"]
    assert pushed["after_second"][pushed["ids"]["c7"]]["name"] == "C7"  # the phone +55 would have matched one
    assert pushed["first"].code == 1


def test_no_match_creates_a_record(pushed: dict[str, Any]) -> None:
    created = pushed["after_first"][state_ids(pushed)["6"]]
    assert created["id"] not in pushed["ids"].values()
    assert (created["name"], created["email"], created["job_title"]) == ("Flo new", "six-new@x.io", "COO")


def test_if_empty_keeps_a_value_the_record_holds_and_fills_an_empty_one(pushed: dict[str, Any]) -> None:
    ids, after = pushed["ids"], pushed["after_second"]
    assert after[ids["c1"]]["email"] == "one@x.io"  # not overwritten, not even once linked
    assert after[ids["c3"]]["email"] == "three@x.io"  # was empty: filled
    assert after[ids["c2"]]["mobile"] == "+99"  # was empty: filled
    assert after[ids["c3"]]["mobile"] == "+33"


def test_nulls_skip_until_linked_then_overwrite(pushed: dict[str, Any]) -> None:
    c1 = pushed["ids"]["c1"]
    assert pushed["after_first"][c1]["job_title"] == "CTO"  # first link: the null is not sent
    assert pushed["after_second"][c1]["job_title"] is None  # linked since: the null overwrites
    assert pushed["second"].code == 1  # row 5 is still ambiguous


def test_nulls_overwrite_blanks_at_once_and_skip_never_does(pushed: dict[str, Any]) -> None:
    ids = pushed["ids"]
    assert pushed["after_first"][ids["c8"]]["job_title"] is None
    assert pushed["after_second"][ids["c9"]]["job_title"] == "CFO"
    assert pushed["after_second"][ids["c9"]]["name"] == "Hal skip"


def test_lists_become_tags_or_comma_separated_text(pushed: dict[str, Any]) -> None:
    c1 = pushed["after_first"][pushed["ids"]["c1"]]
    assert c1["tags"] == ["a", "b"]
    assert c1["custom_fields"]["sf_tags"] == "a,b"
    created = pushed["after_first"][state_ids(pushed)["6"]]
    assert created["tags"] == ["x"] and created["custom_fields"]["sf_tags"] == "x"


def test_searches_go_by_list_filter_or_search_query(pushed: dict[str, Any]) -> None:
    routes = pushed["routes_first"]
    assert routes["GET contacts.search"] == 6  # the custom field, once per rules row
    assert routes["GET contacts.list"] >= 5 + 2


def test_remembered_ids_are_a_dbt_source_a_model_carries_into_the_other_crm(pushed: dict[str, Any]) -> None:
    """The FDCONTACTID pattern: Freshdesk's ids, read back in dbt, land in Freshsales and in
    Salesforce, where the same rules match an existing contact by email."""
    project, server = pushed["project"], pushed["project"].sandbox
    existing = requests.post(
        f"{server.url}/salesforce/services/data/v62.0/sobjects/Contact",
        json={"LastName": "Bea", "Email": "keep@x.io", "FDCONTACTID__c": None},
        headers={"Authorization": f"Bearer {SF_TOKEN}"},
        timeout=10,
    ).json()["id"]
    sql = (
        "select p.pid, p.name, case when p.pid = '2' then 'keep@x.io' else p.email end as email, "
        "s.destination_id as fdcontactid from {{ ref('people') }} p "
        "join {{ source('revsync', 'revsync_sync_state') }} s on s.record_key = p.pid "
        "and s.sync_id = 'model.revsync_test.fd_rules:freshdesk.contacts'"
    )
    project.model(
        "fs_contacts",
        sql,
        {
            "destination": "freshsales",
            "object": "contacts",
            "primary_key": "pid",
            "fields": {"first_name": "name", "custom_field.cf_fdcontactid": "fdcontactid"},
        },
    )
    project.model(
        "sf_contacts",
        sql,
        {
            "destination": "salesforce",
            "object": "Contact",
            "primary_key": "pid",
            "insert_mode": "upsert",
            "match_on": ["FDCONTACTID__c", "Email"],
            "on_update": {"Email": "if_empty"},
            "nulls": "skip_until_linked",
            "fields": {"LastName": "name", "Email": "email", "FDCONTACTID__c": "fdcontactid"},
        },
    )
    project.dbt("build", "--select", "fs_contacts", "sf_contacts")
    result = project.push("--select", "fs_contacts", "sf_contacts")
    assert result.code == 0, result.out + result.err
    expected = {row[1]: str(state_ids(pushed)[row[0]]) for row in ROWS if row[0] != "5"}
    carried = {
        c["first_name"]: c["custom_field"]["cf_fdcontactid"] for c in server.emulator("freshsales").records("contacts")
    }
    assert carried == expected and len(carried) == 5
    salesforce = {c["LastName"]: c for c in server.emulator("salesforce").records("Contact")}
    assert {name: c["FDCONTACTID__c"] for name, c in salesforce.items()} == expected
    assert salesforce["Bea by email"]["Id"] == existing  # matched by email, not created
