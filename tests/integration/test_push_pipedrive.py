"""Pipedrive end to end: real dbt builds, real pushes over loopback to the Pipedrive emulator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dbt_revsync.crms.pipedrive.emulator import PipedriveEmulator, field_key
from dbt_revsync.sandbox import RollingWindow, SandboxServer
from tests.contract.openapi_check import assert_conforms
from tests.integration.conftest import Project
from tests.integration.recording import recording

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def conforms_to_the_spec(sandbox: SandboxServer) -> Iterator[None]:
    """Every request and answer of every test here must validate against the published spec."""
    with recording(sandbox.emulator("pipedrive")) as traffic:
        yield
    assert_conforms("pipedrive", traffic.exchanges)


TOKEN = "sandbox-pipedrive-token"
WRITES = ("POST", "PATCH", "DELETE")

# object -> (upsert key, model columns, field map, custom fields the account defines)
OBJECTS: dict[str, tuple[str, list[str], dict[str, str], list[str]]] = {
    "organizations": (
        "Account ID",
        ["account_id", "account_key", "name", "employees"],
        {"name": "name", "custom_fields.Account ID": "account_key", "employee_count": "employees"},
        ["Account ID"],
    ),
    "persons": (
        "email",
        ["person_id", "email", "name", "job"],
        {"email": "email", "name": "name", "job_title": "job"},
        [],
    ),
    "deals": (
        "Deal key",
        ["deal_id", "deal_key", "title", "amount"],
        {"Deal key": "deal_key", "title": "title", "value": "amount"},
        ["Deal key"],
    ),
}
ROWS: dict[str, list[list[Any]]] = {
    "organizations": [[1, "A-1", "Acme", 10], [2, "A-2", "Globex", 250], [3, "A-3", "Initech", 40]],
    "persons": [
        [1, "ann@example.com", "Ann", "CEO"],
        [2, "bob@example.com", "Bob", "CTO"],
        [3, "cy@example.com", "Cy", "CFO"],
    ],
    "deals": [[1, "D-1", "Renewal", 1200.5], [2, "D-2", "Upsell", 300], [3, "D-3", "Pilot", 50]],
}


def use_pipedrive(project: Project) -> PipedriveEmulator:
    project.env["PIPEDRIVE_API_TOKEN"] = TOKEN
    project.connections(
        {
            "pipedrive": {
                "type": "pipedrive",
                "api_token": "{{ env_var('PIPEDRIVE_API_TOKEN') }}",
                "base_url": f"{project.sandbox.url}/pipedrive",
                "max_concurrency": 2,
            },
        }
    )
    emulator = project.sandbox.emulator("pipedrive")
    assert isinstance(emulator, PipedriveEmulator)
    return emulator


def sync(
    project: Project, obj: str, rows: list[list[Any]], mode: str = "mirror", build: bool = True, **extra: Any
) -> None:
    key, header, fields, _ = OBJECTS[obj]
    block = {
        "destination": "pipedrive",
        "object": obj,
        "insert_mode": mode,
        "primary_key": header[0],
        "upsert_key": key,
        "fields": fields,
        **extra,
    }
    project.seed(f"raw_{obj}", header, rows)
    project.model(f"pd_{obj}", f"select * from {{{{ ref('raw_{obj}') }}}}", block)
    if build:
        project.build()


def held(emulator: PipedriveEmulator, obj: str) -> list[tuple[Any, ...]]:
    """What the CRM holds, as the model's columns would show it."""
    out = []
    for r in emulator.records(obj):
        custom = r["custom_fields"]
        if obj == "organizations":
            out.append((custom[field_key(obj, "Account ID")], r["name"], r["employee_count"]))
        elif obj == "persons":
            out.append((r["emails"][0]["value"], r["name"], r["job_title"]))
        else:
            out.append((custom[field_key(obj, "Deal key")], r["title"], r["value"]))
    return sorted(out)


def expected(rows: list[list[Any]]) -> list[tuple[Any, ...]]:
    return sorted(tuple(row[1:]) for row in rows)


def writes(calls: Any) -> list[str]:
    return sorted(e.route for e in calls.exchanges if e.request.method in WRITES)


def test_mirror_holds_exactly_the_model_then_patches_and_deletes(project: Project) -> None:
    """Each object: one dbt build for all three, so the module stays quick."""
    emulator = use_pipedrive(project)
    for obj, (_, _, _, custom) in OBJECTS.items():
        for name in custom:
            emulator.define_field(obj, name)
        sync(project, obj, ROWS[obj], build=False)
    project.build()
    with recording(emulator) as calls:
        result = project.push()
    assert result.code == 0, result.out + result.err
    for obj in OBJECTS:
        assert held(emulator, obj) == expected(ROWS[obj]), obj
        assert [r for r in writes(calls) if r.split(" ")[1].startswith(f"{obj}.")] == [f"POST {obj}.create"] * 3
    assert {s["destination_id"] for s in project.state()} == {
        str(r["id"]) for obj in OBJECTS for r in emulator.records(obj)
    }

    with recording(emulator) as calls:
        assert project.push().code == 0
    assert sorted(e.route for e in calls.exchanges) == sorted(
        f"GET {_field_list(obj)}.list" for obj in OBJECTS
    )  # read, nothing sent

    changed = {obj: [rows[0], [*rows[1][:2], "Renamed", rows[1][3]]] for obj, rows in ROWS.items()}  # row 3 leaves
    for obj in OBJECTS:
        sync(project, obj, changed[obj], build=False)
    project.build()
    with recording(emulator) as calls:
        assert project.push().code == 0
    assert not [e for e in calls.exchanges if e.route.endswith(".search")]  # the remembered ids: no search
    for obj in OBJECTS:
        assert [r for r in writes(calls) if r.split(" ")[1].startswith(f"{obj}.")] == [
            f"DELETE {obj}.delete",
            f"PATCH {obj}.update",
        ]
        assert held(emulator, obj) == expected(changed[obj]), obj


def _field_list(obj: str) -> str:
    return {"organizations": "organizationFields", "persons": "personFields", "deals": "dealFields"}[obj]


def test_upsert_matches_by_exact_search_and_remembers_the_id(project: Project) -> None:
    emulator = use_pipedrive(project)
    code = emulator.define_field("organizations", "Account ID")
    emulator.define_field("organizations", "Legacy ref")  # holds the same text: must not match
    headers = {"x-api-token": TOKEN}
    url = f"{project.sandbox.url}/pipedrive/organizations"
    decoy = requests.post(
        url,
        json={"name": "Decoy", "custom_fields": {field_key("organizations", "Legacy ref"): "A-1"}},
        headers=headers,
        timeout=10,
    ).json()["data"]
    mine = requests.post(
        url, json={"name": "Old name", "custom_fields": {code: "A-1"}}, headers=headers, timeout=10
    ).json()["data"]
    sync(project, "organizations", [[1, "A-1", "Acme", 10], [2, "A-2", "Globex", 5]], mode="upsert")
    with recording(emulator) as calls:
        assert project.push().code == 0
    assert writes(calls) == ["PATCH organizations.update", "POST organizations.create"]
    names = {r["id"]: r["name"] for r in emulator.records("organizations")}
    assert names[mine["id"]] == "Acme" and names[decoy["id"]] == "Decoy"
    sync(project, "organizations", [[1, "A-1", "Acme Inc", 10], [2, "A-2", "Globex", 5]], mode="upsert")
    with recording(emulator) as calls:
        assert project.push().code == 0
    assert [e.route for e in calls.exchanges] == ["GET organizationFields.list", "PATCH organizations.update"]
    assert calls.exchanges[-1].request.path == f"/organizations/{mine['id']}"


def test_custom_fields_by_name_reach_their_keys_and_options_become_ids(project: Project) -> None:
    emulator = use_pipedrive(project)
    account = emulator.define_field("organizations", "Account ID")
    tier = emulator.define_field("organizations", "Tier", "enum", ["Gold", "Silver"])
    regions = emulator.define_field("organizations", "Regions", "set", ["EMEA", "APAC", "AMER"])
    block = {
        "destination": "pipedrive",
        "object": "organizations",
        "insert_mode": "upsert",
        "primary_key": "id",
        "upsert_key": "Account ID",
        "nulls": "overwrite",
        "fields": {
            "name": "name",
            "custom_fields.Account ID": "id",
            "Tier": "tier",
            "custom_fields.Regions": "regions",
        },
    }
    sql = (
        "select * from (values (1, 'Acme', 'Gold', ['EMEA', 'APAC']), (2, 'Globex', 'silver', null)) "
        "t(id, name, tier, regions)"
    )
    project.model("orgs", sql, block)
    project.build()
    with recording(emulator) as calls:
        result = project.push()
    assert result.code == 0, result.out + result.err
    sent = [e.body for e in calls.on("POST organizations.create")]
    assert sorted(sent, key=lambda b: b["name"]) == [
        {"name": "Acme", "custom_fields": {account: "1", tier: 1, regions: [1, 2]}},
        {"name": "Globex", "custom_fields": {account: "2", tier: 2, regions: None}},  # null clears, never []
    ]
    by_name = {r["name"]: r["custom_fields"] for r in emulator.records("organizations")}
    assert by_name["Acme"][regions] == [1, 2] and by_name["Globex"][regions] is None


def test_an_unknown_custom_field_name_is_a_config_error_before_any_write_and_in_validate_remote(
    project: Project,
) -> None:
    emulator = use_pipedrive(project)
    block = {
        "destination": "pipedrive",
        "object": "organizations",
        "insert_mode": "append",
        "primary_key": "id",
        "fields": {"name": "name", "custom_fields.No such field": "id"},
    }
    project.model("orgs", "select 1 as id, 'Acme' as name", block)
    project.build()
    assert project.revsync("validate").code == 0  # only Pipedrive knows its fields
    with recording(emulator) as calls:
        remote = project.revsync("validate", "--remote")
    assert remote.code == 2 and "no organization field named 'No such field'" in remote.err
    assert [e.route for e in calls.exchanges] == ["GET organizationFields.list"]
    with recording(emulator) as calls:
        result = project.push()
    assert result.code == 2
    assert "no organization field named 'No such field'" in result.err
    assert "orgs" in result.err and "schema.yml" in result.err and "fields.custom_fields.No such field" in result.err
    assert [e.request.method for e in calls.exchanges] == ["GET"]


def test_required_fields_are_checked_before_sending(project: Project) -> None:
    emulator = use_pipedrive(project)
    block = {
        "destination": "pipedrive",
        "object": "deals",
        "insert_mode": "append",
        "primary_key": "id",
        "fields": {"title": "title", "value": "amount"},
    }
    project.model("deals", "select * from (values (1, 'Renewal', 10), (2, null, 20)) t(id, title, amount)", block)
    project.build()
    with recording(emulator) as calls:
        assert project.push().code == 1
    assert writes(calls) == ["POST deals.create"]
    (reject,) = project.rejects()
    assert (reject["record_key"], reject["error_code"]) == ("2", "missing_required_field")
    assert "needs title" in reject["error_message"]


def test_update_without_a_match_is_rejected_and_vendor_errors_keep_their_message(project: Project) -> None:
    emulator = use_pipedrive(project)
    block = {
        "destination": "pipedrive",
        "object": "persons",
        "insert_mode": "update",
        "primary_key": "id",
        "upsert_key": "email",
        "fields": {"email": "email", "name": "name", "org_id": "org"},
    }
    requests.post(
        f"{project.sandbox.url}/pipedrive/persons",
        json={"name": "Ann", "emails": [{"value": "ann@example.com"}]},
        headers={"x-api-token": TOKEN},
        timeout=10,
    )
    sql = (
        "select * from (values (1, 'ann@example.com', 'Ann B', 999), (2, 'zed@example.com', 'Zed', null))"
        " t(id, email, name, org)"
    )
    project.model("people", sql, block)
    project.build()
    assert project.push().code == 1
    rejects = {r["record_key"]: r for r in project.rejects()}
    assert rejects["2"]["error_code"] == "no_match"
    assert (
        rejects["1"]["error_code"] == "400"
        and "org_id: organization 999 does not exist" in rejects["1"]["error_message"]
    )
    assert [r["name"] for r in emulator.records("persons")] == ["Ann"]


def test_rate_limit_headers_and_429_are_honoured(project: Project) -> None:
    emulator = use_pipedrive(project)
    emulator.window = RollingWindow(limit=2, seconds=1.0, enforce=True)
    project.sandbox.add_fault("status", status=429, prefix="pipedrive", method="POST", times=2)
    block = {
        "destination": "pipedrive",
        "object": "organizations",
        "insert_mode": "append",
        "primary_key": "n",
        "fields": {"name": "name"},
    }
    project.model("few", "select range as n, 'Org ' || range as name from range(4)", block)
    project.build()
    started = time.monotonic()
    with recording(emulator) as calls:
        assert project.push().code == 0
    elapsed = time.monotonic() - started
    assert project.sandbox.stats()["pipedrive"]["faults"] == {"status": 2}
    assert len(emulator.records("organizations")) == 4
    assert all("x-ratelimit-remaining" in e.response.headers for e in calls.exchanges)
    assert elapsed >= 1.0  # five requests at two a second: the client waited on x-ratelimit-reset


def test_a_custom_key_of_a_type_search_cannot_reach_is_refused_before_any_write(project: Project) -> None:
    """A key Pipedrive's search skips (here an ``int`` field) would find nothing, so upsert
    would create a duplicate of every record on every push without a remembered id."""
    emulator = use_pipedrive(project)
    emulator.define_field("organizations", "Legacy number", "int")
    block = {
        "destination": "pipedrive",
        "object": "organizations",
        "insert_mode": "upsert",
        "primary_key": "id",
        "upsert_key": "Legacy number",
        "fields": {"name": "name", "custom_fields.Legacy number": "id"},
    }
    project.model("orgs", "select 1 as id, 'Acme' as name", block)
    project.build()
    assert project.revsync("validate").code == 0  # only Pipedrive knows the field's type
    with recording(emulator) as calls:
        remote = project.revsync("validate", "--remote")
    assert remote.code == 2 and "'Legacy number' of type 'int'" in remote.err, remote.err
    assert [e.route for e in calls.exchanges] == ["GET organizationFields.list"]
    with recording(emulator) as calls:
        result = project.push()
    assert result.code == 2
    assert "orgs" in result.err and "upsert_key" in result.err and "name, address, notes" in result.err, result.err
    assert [e.request.method for e in calls.exchanges] == ["GET"] and emulator.records("organizations") == []


def test_a_built_in_key_search_cannot_reach_is_a_validate_error(project: Project) -> None:
    use_pipedrive(project)
    block = {
        "destination": "pipedrive",
        "object": "persons",
        "insert_mode": "upsert",
        "primary_key": "id",
        "upsert_key": "job_title",
        "fields": {"name": "name", "job_title": "job"},
    }
    project.model("people", "select 1 as id, 'Ann' as name, 'CEO' as job", block)
    result = project.revsync("validate")
    assert result.code == 2, result.out + result.err
    assert "people" in result.err and "upsert_key" in result.err and "'job_title'" in result.err
    assert "name, email, phone, notes" in result.err


def test_addresses_are_sent_as_objects_and_found_by_search(project: Project) -> None:
    emulator = use_pipedrive(project)
    url = f"{project.sandbox.url}/pipedrive/organizations"
    old = requests.post(
        url,
        json={"name": "Old", "address": {"value": "Main St 1, Tallinn"}},
        headers={"x-api-token": TOKEN},
        timeout=10,
    ).json()["data"]
    block = {
        "destination": "pipedrive",
        "object": "organizations",
        "insert_mode": "upsert",
        "primary_key": "id",
        "upsert_key": "address",
        "fields": {"name": "name", "address": "address"},
    }
    sql = (
        "select * from (values (1, 'Acme', 'Main St 1, Tallinn'), (2, 'Globex', 'Harbour 2, Oslo'))"
        " t(id, name, address)"
    )
    project.model("orgs", sql, block)
    project.build()
    with recording(emulator) as calls:
        result = project.push()
    assert result.code == 0, result.out + result.err
    assert writes(calls) == ["PATCH organizations.update", "POST organizations.create"]
    assert [e.body for e in calls.on("PATCH organizations.update")] == [
        {"name": "Acme", "address": {"value": "Main St 1, Tallinn"}}
    ]
    assert [e.body for e in calls.on("POST organizations.create")] == [
        {"name": "Globex", "address": {"value": "Harbour 2, Oslo"}}
    ]
    addresses = {r["id"]: r["address"] for r in emulator.records("organizations")}
    assert addresses[old["id"]] == {"value": "Main St 1, Tallinn"} and len(addresses) == 2
