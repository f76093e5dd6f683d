"""Salesforce end to end: dbt build -> dbt-revsync push -> the sandbox's Salesforce, per insert mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt_revsync.crms.salesforce.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_TOKEN,
)
from dbt_revsync.sandbox import SandboxServer
from tests.integration.conftest import Project
from tests.integration.salesforce_helpers import connect, emulator, held, of, routes, sf

pytestmark = pytest.mark.integration

ACCOUNT = {
    "destination": "salesforce",
    "object": "Account",
    "primary_key": "account_id",
    "fields": {"Name": "name", "BillingCity": "city", "Ext_Id__c": "account_id"},
}


MODELS = {
    # 450 accounts: 5 has no Name (rejected by Salesforce), 7 is named "Seven"; cities can be overridden.
    "sf_upsert": (
        "select i::double as account_id,"
        " case when i = 5 then null when i = 7 then 'Seven' else 'Account ' || i end as name,"
        " coalesce(o.city, 'Oslo') as city from range(1, 451) t(i)"
        " left join {{ ref('city_overrides') }} o on o.account_id = i",
        {"insert_mode": "upsert", "upsert_key": "Ext_Id__c"},
    ),
    "sf_update": (
        "select * from (values (1, 'One', 'Oslo'), (2, 'Two', 'Rome'), (3, 'Three', 'Lima')) t(account_id, name, city)",
        {"insert_mode": "update", "upsert_key": "Ext_Id__c"},
    ),
    "sf_mirror": ("select * from {{ ref('mirror_rows') }}", {"insert_mode": "mirror", "upsert_key": "Ext_Id__c"}),
    "sf_limit": (
        "select i as account_id, 'Account ' || i as name, 'Oslo' as city from range(1, 1001) t(i)",
        {"insert_mode": "upsert", "upsert_key": "Ext_Id__c"},
    ),
    # 300 accounts appended through one Bulk API 2.0 job (bulk_threshold 100), each carrying its External ID.
    **{
        name: (
            "select i as account_id, 'Bulk ' || i as name, 'Oslo' as city from range(1, 301) t(i)",
            {"insert_mode": "append", "upsert_key": "Ext_Id__c"},
        )
        for name in ("sf_bulk_append", "sf_bulk_unread")
    },
    **{
        f"sf_token_{name}": (
            "select 1 as account_id, 'One' as name, 'Oslo' as city union all select 2, 'Two', 'Rome'",
            {"insert_mode": "upsert", "upsert_key": "Ext_Id__c"},
        )
        for name in ("refresh", "client", "fatal")
    },
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, sandbox_server: SandboxServer) -> Project:
    """One dbt build for the module: every test pushes its own model with --select."""
    project = Project(Path(tmp_path_factory.mktemp("salesforce")) / "project", sandbox_server)
    connect(project)
    project.seed("city_overrides", ["account_id", "city"], [[0, "Nowhere"]], {"account_id": "integer"})
    project.seed(
        "mirror_rows", ["account_id", "name", "city"], [[1, "One", "Oslo"], [2, "Two", "Rome"], [3, "Three", "Lima"]]
    )
    project.seed(
        "raw_contacts",
        ["contact_id", "last_name", "email", "account_ext"],
        [
            [1, "Lovelace", "ada@example.com", "A1"],
            [2, "Hopper", "not-an-email", "A1"],
            [3, "Turing", "alan@example.com", "A9"],
        ],
    )
    for name, (sql, block) in MODELS.items():
        project.model(name, sql, {**ACCOUNT, **block})
    project.model(
        "sf_contacts",
        "select * from {{ ref('raw_contacts') }}",
        {
            "destination": "salesforce",
            "object": "Contact",
            "primary_key": "contact_id",
            "insert_mode": "append",
            "fields": {
                "LastName": "last_name",
                "Email": "email",
                "Ext_Id__c": "contact_id",
                "Account.Ext_Id__c": "account_ext",
            },
        },
    )
    project.model(
        "sf_delete",
        "select * from (values (1, 'D1'), (2, 'D2'), (3, 'D3')) t(account_id, ext)",
        {
            "destination": "salesforce",
            "object": "Account",
            "primary_key": "account_id",
            "insert_mode": "delete",
            "upsert_key": "Ext_Id__c",
            "fields": {"Ext_Id__c": "ext"},
        },
    )
    project.model(
        "sf_match",
        "select * from (values (1, 'Lovelace', 'ada@example.com', '999'), (2, 'Hopper', 'grace@example.com', '222'))"
        " t(contact_id, last_name, email, phone)",
        {
            "destination": "salesforce",
            "object": "Contact",
            "primary_key": "contact_id",
            "insert_mode": "upsert",
            "match_on": ["Email"],
            "on_update": {"Phone": "if_empty"},
            "fields": {"LastName": "last_name", "Email": "email", "Phone": "phone"},
        },
    )
    project.model(
        "sf_long_keys",
        "select i as account_id, 'Renamed ' || i as name, lpad(i::varchar, 400, 'k') as ext from range(1, 201) t(i)",
        {
            "destination": "salesforce",
            "object": "Account",
            "primary_key": "account_id",
            "insert_mode": "update",
            "upsert_key": "Ext_Id__c",
            "fields": {"Name": "name", "Ext_Id__c": "ext"},
        },
    )
    project.model(
        "sf_by_id",
        "select 1 as account_id, 'A' as name, '001000000000001AAA' as sfid",
        {
            "destination": "salesforce",
            "object": "Account",
            "primary_key": "account_id",
            "insert_mode": "upsert",
            "upsert_key": "Id",
            "fields": {"Name": "name", "Id": "sfid"},
        },
    )
    project.model(
        "sf_typo",
        "select 1 as account_id, 'A' as name",
        {
            "destination": "salesforce",
            "object": "Account",
            "primary_key": "account_id",
            "insert_mode": "append",
            "fields": {"Name": "name", "BilingCity": "name"},
        },
    )
    project.build()
    return project


@pytest.fixture
def project(built: Project, sandbox: SandboxServer) -> Iterator[Project]:
    """The module's project against a freshly reset sandbox, with the plain token connection."""
    connect(built)
    yield built


def push(project: Project, model: str, *args: str) -> int:
    return project.push("--select", model, *args).code


def test_upsert_through_collections_with_saveresult_rejects_and_multiple_matches(project: Project) -> None:
    twins = [sf(project, "POST", "sobjects/Account", {"Name": f"Twin {i}", "Ext_Id__c": "7"})["id"] for i in range(2)]
    assert push(project, "sf_upsert") == 1
    assert routes(project)["PATCH collections.upsert"] == 3  # 450 rows, 200 a request
    rejects = {r["record_key"]: r for r in of(project.rejects(), "sf_upsert")}
    assert sorted(rejects) == ["5", "7"]
    assert rejects["5"]["error_code"] == "REQUIRED_FIELD_MISSING" and "[Name]" in rejects["5"]["error_message"]
    assert rejects["7"]["error_code"] == "DUPLICATE_EXTERNAL_ID"
    assert all(twin in rejects["7"]["error_message"] for twin in twins)
    records = held(project)
    assert len(records) == 448 + 1 and records["12"]["Name"] == "Account 12"  # the twins share key 7
    assert "12.0" not in records  # a double key travels as its text, 12
    state = {r["record_key"]: r["destination_id"] for r in of(project.state(), "sf_upsert")}
    assert len(state) == 448 and state["12"] == records["12"]["Id"]
    run = of(project.runs(), "sf_upsert")[-1]
    assert (run["created"], run["updated"], run["rejected"]) == (448, 0, 2)
    # Unchanged rows send nothing; one changed row and the two rejected ones make one request.
    project.query("insert into main.city_overrides values (12, 'Bergen')")
    push(project, "sf_upsert")
    assert routes(project)["PATCH collections.upsert"] == 4
    assert held(project)["12"]["BillingCity"] == "Bergen"
    assert of(project.runs(), "sf_upsert")[-1]["updated"] == 1


def test_append_creates_contacts_linked_to_accounts_by_external_id(project: Project) -> None:
    acme = sf(project, "POST", "sobjects/Account", {"Name": "Acme", "Ext_Id__c": "A1"})["id"]
    assert push(project, "sf_contacts") == 1
    rejects = {r["record_key"]: r for r in of(project.rejects(), "sf_contacts")}
    assert {k: (r["error_code"], r["operation"]) for k, r in rejects.items()} == {
        "2": ("INVALID_EMAIL_ADDRESS", "create"),
        "3": ("INVALID_FIELD", "create"),
    }
    assert "not-an-email" in rejects["2"]["error_message"]
    assert (
        rejects["3"]["error_message"] == "Foreign key external ID: A9 not found for field Ext_Id__c in entity Account"
    )
    contacts = held(project, "Contact")
    assert sorted(contacts) == ["1"] and contacts["1"]["AccountId"] == acme
    assert routes(project) == {"POST collections.create": 1, "POST Account.create": 1}


def test_update_finds_records_by_external_id_and_rejects_none_or_several(project: Project) -> None:
    one = sf(project, "POST", "sobjects/Account", {"Name": "Old one", "Ext_Id__c": "1"})["id"]
    for i in range(2):
        sf(project, "POST", "sobjects/Account", {"Name": f"Twin {i}", "Ext_Id__c": "3"})
    assert push(project, "sf_update") == 1
    assert {r["record_key"]: r["error_code"] for r in of(project.rejects(), "sf_update")} == {
        "2": "no_match",
        "3": "multiple_matches",
    }
    assert held(project)["1"]["Name"] == "One" and held(project)["1"]["Id"] == one
    assert [r["destination_id"] for r in of(project.state(), "sf_update")] == [one]
    assert routes(project)["PATCH collections.update"] == 1 and routes(project)["GET query"] == 1


def test_mirror_deletes_what_it_created(project: Project) -> None:
    other = sf(project, "POST", "sobjects/Account", {"Name": "Not ours", "Ext_Id__c": "77"})["id"]
    assert push(project, "sf_mirror") == 0
    project.query("delete from main.mirror_rows where account_id <> 2")
    assert push(project, "sf_mirror") == 0
    assert sorted(held(project)) == ["2", "77"] and held(project)["77"]["Id"] == other
    assert routes(project)["DELETE collections.delete"] == 1


def test_delete_removes_the_records_named_by_external_id(project: Project) -> None:
    doomed = [
        sf(project, "POST", "sobjects/Account", {"Name": f"Doomed {i}", "Ext_Id__c": f"D{i}"})["id"] for i in (1, 2)
    ]
    kept = sf(project, "POST", "sobjects/Account", {"Name": "Kept", "Ext_Id__c": "K"})["id"]
    assert push(project, "sf_delete") == 0  # D3 names no record: already gone
    assert [r["Id"] for r in emulator(project).records("Account")] == [kept]
    assert sorted(r["destination_id"] or "" for r in of(project.state(), "sf_delete")) == sorted(["", *doomed])


def test_an_expired_token_is_renewed_once_with_the_refresh_token(project: Project) -> None:
    connect(
        project,
        access_token="{{ env_var('SF_TOKEN') }}",
        refresh_token=DEFAULT_REFRESH_TOKEN,
        client_id=DEFAULT_CLIENT_ID,
    )
    emulator(project).expire_tokens()
    assert push(project, "sf_token_refresh") == 0
    assert sorted(held(project)) == ["1", "2"]
    assert routes(project)["POST oauth2.token"] == 1
    assert project.sandbox.stats()["salesforce"]["by_status"]["401"] == 1


def test_client_credentials_fetch_the_first_token(project: Project) -> None:
    connect(project, client_id=DEFAULT_CLIENT_ID, client_secret="{{ env_var('SF_SECRET') }}")
    result = project.push("--select", "sf_token_client")
    assert result.code == 0 and sorted(held(project)) == ["1", "2"]
    assert DEFAULT_CLIENT_SECRET not in result.out + result.err


def test_a_token_refused_with_nothing_to_renew_it_is_fatal(project: Project) -> None:
    emulator(project).expire_tokens()
    result = project.push("--select", "sf_token_fatal")
    assert result.code == 1
    run = of(project.runs(), "sf_token_fatal")[-1]
    assert run["status"] == "failed" and "401" in run["message"]
    assert of(project.state(), "sf_token_fatal") == [] and held(project) == {}
    assert project.sandbox.stats()["salesforce"]["requests"] == 1  # stopped at the first refusal
    assert DEFAULT_TOKEN not in result.out + result.err + run["message"]


def test_the_push_stops_cleanly_before_the_daily_allocation_runs_out(project: Project) -> None:
    connect(project, access_token="{{ env_var('SF_TOKEN') }}", api_reserve=3, max_concurrency=1)
    emulator(project).daily_allocation = 6  # each 200-row request costs one; 3 are kept in reserve
    try:
        assert push(project, "sf_limit") == 1
    finally:
        emulator(project).daily_allocation = 100_000  # a new day
    run = of(project.runs(), "sf_limit")[-1]
    assert run["status"] == "failed" and "daily API allocation" in run["message"]
    assert emulator(project).api_usage == 3  # 6 - 3 in reserve; never ran into REQUEST_LIMIT_EXCEEDED
    assert "403" not in project.sandbox.stats()["salesforce"]["by_status"]
    assert len(of(project.state(), "sf_limit")) == 600 == len(held(project))  # what went is committed
    assert push(project, "sf_limit") == 0
    assert len(of(project.state(), "sf_limit")) == 1000 == len(held(project))


def test_match_on_finds_contacts_by_email_and_keeps_values_they_hold(project: Project) -> None:
    ada = sf(project, "POST", "sobjects/Contact", {"LastName": "Byron", "Email": "ada@example.com", "Phone": "111"})[
        "id"
    ]
    assert push(project, "sf_match") == 0
    contacts = held(project, "Contact", "Email")
    assert contacts["ada@example.com"]["Id"] == ada and contacts["ada@example.com"]["LastName"] == "Lovelace"
    assert contacts["ada@example.com"]["Phone"] == "111"  # on_update: if_empty keeps what the record holds
    assert contacts["grace@example.com"]["Phone"] == "222"
    assert routes(project)["GET query"] == 2


def test_validate_remote_checks_fields_against_describe(project: Project) -> None:
    good = project.revsync("validate", "--remote", "--select", "sf_contacts", "sf_upsert")
    assert good.code == 0, good.out + good.err
    bad = project.revsync("validate", "--remote", "--select", "sf_typo")
    assert bad.code == 2 and "BilingCity" in bad.out + bad.err
    assert "POST collections.create" not in routes(project)


def bulk(project: Project) -> None:
    connect(
        project,
        access_token="{{ env_var('SF_TOKEN') }}",
        bulk_threshold=100,
        bulk_batch_size=1000,
        bulk_poll_seconds=0.01,
    )


def test_a_bulk_job_that_fails_midway_keeps_what_it_created_and_the_next_push_creates_no_duplicate(
    project: Project,
) -> None:
    bulk(project)
    emulator(project).bulk_fail_after = 120  # the job commits 120 rows, then ends Failed
    assert push(project, "sf_bulk_append") == 1  # partial: rows wait for the next push
    run = of(project.runs(), "sf_bulk_append")[-1]
    assert (run["created"], run["status"]) == (120, "partial")
    state = {r["record_key"]: r["destination_id"] for r in of(project.state(), "sf_bulk_append")}
    assert len(state) == 120 and sorted(state.values()) == sorted(r["Id"] for r in held(project).values())
    assert push(project, "sf_bulk_append") == 0  # the 180 unprocessed rows, once
    assert len(held(project)) == 300 == len(emulator(project).records("Account"))
    assert len(of(project.state(), "sf_bulk_append")) == 300


def test_an_insert_job_whose_results_cannot_be_read_is_settled_by_external_id_not_created_twice(
    project: Project,
) -> None:
    bulk(project)
    project.sandbox.add_fault("status", prefix="salesforce", path="successfulResults", status=503, times=None)
    try:
        assert push(project, "sf_bulk_unread") == 0
    finally:
        project.sandbox.clear_faults()
    assert len(of(project.state(), "sf_bulk_unread")) == 300
    assert push(project, "sf_bulk_unread") == 0
    assert len(emulator(project).records("Account")) == 300 and routes(project)["POST bulk.create_job"] == 1


def test_long_external_ids_are_looked_up_in_queries_within_the_uri_limit(project: Project) -> None:
    for i in range(1, 201):
        emulator(project).add_record("Account", {"Name": f"Old {i}", "Ext_Id__c": str(i).rjust(400, "k")})
    assert push(project, "sf_long_keys") == 0
    assert all(r["Name"].startswith("Renamed ") for r in emulator(project).records("Account"))
    assert routes(project)["GET query"] > 1 and "414" not in project.sandbox.stats()["salesforce"]["by_status"]


def test_an_upsert_by_record_id_is_a_configuration_error_before_anything_is_sent(project: Project) -> None:
    checked = project.revsync("validate", "--select", "sf_by_id")
    assert checked.code == 2 and "sf_by_id" in checked.out + checked.err and "External ID" in checked.out + checked.err
    assert push(project, "sf_by_id") == 2
    assert project.sandbox.stats()["salesforce"]["requests"] == 0
