"""Freshsuccess end to end: dbt build -> dbt-revsync push -> the sandbox's Freshsuccess."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dbt_revsync.crms.freshsuccess.emulator import DEFAULT_API_KEY
from dbt_revsync.sandbox import SandboxServer
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

ACCOUNT_FIELDS = {
    "account_id": "account_id",
    "name": "name",
    "join_date": "joined_on",
    "custom_label_dimensions.tier": "tier",
    "custom_value_dimensions.arr": "arr",
    "custom_event_dimensions.renewal": "renews_on",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, sandbox_server: SandboxServer) -> Project:
    """One dbt build for the module; each test pushes its own models with --select."""
    project = Project(Path(tmp_path_factory.mktemp("freshsuccess")) / "project", sandbox_server)
    project.env["FRESHSUCCESS_API_KEY"] = DEFAULT_API_KEY
    project.connections(
        {
            "freshsuccess": {
                "type": "freshsuccess",
                "api_key": "{{ env_var('FRESHSUCCESS_API_KEY') }}",
                "base_url": f"{sandbox_server.url}/freshsuccess",
            }
        }
    )
    project.seed(
        "raw_accounts",
        ["account_id", "name", "joined_on", "tier", "arr", "renews_on"],
        [
            [12345.0, "Acme", "2024-03-01", "gold", 1200.5, "2025-03-01 12:00:00"],
            [678.0, "Globex", "2023-11-15", "", 300, ""],
            [42.0, "No join date", "", "silver", 10, ""],
        ],
        {"account_id": "double", "joined_on": "date", "renews_on": "timestamp"},
    )
    project.seed(
        "raw_contacts",
        ["user_id", "account_id", "email", "first_name"],
        [
            ["u1", 12345.0, "ada@acme.test", "Ada"],
            ["u2", 999.0, "grace@initech.test", "Grace"],
            ["u3", 678.0, "alan@globex.test", "Alan"],
        ],
        {"account_id": "double"},
    )
    project.model(
        "fs_accounts",
        "select * from {{ ref('raw_accounts') }}",
        {
            "destination": "freshsuccess",
            "object": "accounts",
            "insert_mode": "upsert",
            "primary_key": "account_id",
            "upsert_key": "account_id",
            "fields": ACCOUNT_FIELDS,
        },
    )
    project.model(
        "fs_contacts",
        "-- depends_on: {{ ref('fs_accounts') }}\nselect * from {{ ref('raw_contacts') }}",
        {
            "destination": "freshsuccess",
            "object": "account_contacts",
            "insert_mode": "upsert",
            "primary_key": "user_id",
            "upsert_key": "user_id",
            "fields": {"user_id": "user_id", "account_id": "account_id", "email": "email", "first_name": "first_name"},
        },
    )
    project.model(
        "fs_many",
        "select i as account_id, 'Account ' || i as name, date '2024-01-01' + (i % 365)::int as joined_on"
        " from range(1, 2501) t(i)",
        {
            "destination": "freshsuccess",
            "object": "accounts",
            "insert_mode": "append",
            "primary_key": "account_id",
            "fields": {"account_id": "account_id", "name": "name", "join_date": "joined_on"},
        },
    )
    project.seed(
        "mirror_accounts",
        ["account_id", "name", "joined_on"],
        [["m1", "One", "2024-01-01"], ["m2", "Two", "2024-01-02"]],
    )
    project.model(
        "fs_mirror",
        "select * from {{ ref('mirror_accounts') }}",
        {
            "destination": "freshsuccess",
            "object": "accounts",
            "insert_mode": "mirror",
            "primary_key": "account_id",
            "upsert_key": "account_id",
            "fields": {"account_id": "account_id", "name": "name", "join_date": "joined_on"},
        },
    )
    project.model(
        "fs_delete",
        "select * from (values ('d1'), ('d3')) t(account_id)",
        {
            "destination": "freshsuccess",
            "object": "accounts",
            "insert_mode": "delete",
            "primary_key": "account_id",
            "upsert_key": "account_id",
            "fields": {"account_id": "account_id"},
        },
    )
    project.build()
    return project


@pytest.fixture
def project(built: Project, sandbox: SandboxServer) -> Iterator[Project]:
    yield built


def held(project: Project, resource: str = "accounts", key: str = "account_id") -> dict[str, dict[str, Any]]:
    return {r[key]: r for r in project.sandbox.emulator("freshsuccess").records(resource)}


def of(rows: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["sync_id"].startswith(f"model.revsync_test.{model}:")]


def routes(project: Project) -> dict[str, int]:
    return dict(project.sandbox.stats()["freshsuccess"]["by_route"])


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def test_accounts_go_first_ids_travel_as_text_and_orphan_contacts_wait(project: Project) -> None:
    result = project.push("--select", "fs_accounts", "fs_contacts")
    assert result.code == 1
    accounts = held(project)
    assert sorted(accounts) == ["12345", "678"]  # 12345.0 reached Freshsuccess as 12345
    acme = accounts["12345"]
    assert acme["join_date"] == ms("2024-03-01") and acme["name"] == "Acme"
    assert acme["custom_label_dimensions"] == [{"key": "tier", "value": "gold"}]
    assert acme["custom_value_dimensions"] == [{"key": "arr", "value": 1200.5}]
    assert acme["custom_event_dimensions"] == [{"key": "renewal", "value": ms("2025-03-01T12:00:00")}]
    assert "custom_label_dimensions" not in accounts["678"]  # nulls are skipped
    rejects = {r["record_key"]: r for r in project.rejects()}
    assert (rejects["42"]["error_code"], rejects["42"]["error_message"]) == (
        "missing_required_field",
        "Missing/invalid required field(s) for accounts: 'join_date'",
    )
    assert (rejects["u2"]["error_code"], rejects["u2"]["error_message"]) == ("account_not_found", "Account not found")
    contacts = held(project, "account_contacts", "user_id")
    assert sorted(contacts) == ["u1", "u3"] and contacts["u1"]["account_id"] == "12345"
    # Freshsuccess refused the first contacts batch whole; the two good ones went in a second request.
    assert routes(project)["POST account_contacts.bulk_upsert"] == 2
    assert [r["destination_id"] for r in of(project.state(), "fs_accounts")] == ["12345", "678"]

    # Account 999 arrives: the same push sends it first, then the contact that waited for it.
    project.query("insert into main.raw_accounts values (999.0, 'Initech', date '2022-01-01', null, null, null)")
    assert project.push("--select", "fs_accounts", "fs_contacts").code == 1  # account 42 still lacks join_date
    contacts = held(project, "account_contacts", "user_id")
    assert sorted(contacts) == ["u1", "u2", "u3"] and contacts["u2"]["account_id"] == "999"
    last = {r["sync_id"].split(":")[0]: r for r in project.runs()[-2:]}
    # Freshsuccess's answer does not say inserted or updated: never counted as created.
    assert (last["model.revsync_test.fs_contacts"]["created"], last["model.revsync_test.fs_contacts"]["updated"]) == (
        0,
        1,
    )
    assert (last["model.revsync_test.fs_accounts"]["created"], last["model.revsync_test.fs_accounts"]["updated"]) == (
        0,
        1,
    )


def test_append_sends_batches_of_up_to_a_thousand(project: Project) -> None:
    assert project.push("--select", "fs_many").code == 0
    assert routes(project) == {"POST accounts.bulk_upsert": 3}
    accounts = held(project)
    assert len(accounts) == 2500 and accounts["2500"]["join_date"] == ms("2024-01-01") + (2500 % 365) * 86_400_000
    assert project.push("--select", "fs_many").code == 0
    assert routes(project) == {"POST accounts.bulk_upsert": 3}  # nothing changed, nothing sent


@pytest.mark.parametrize("model", ["fs_mirror", "fs_delete"])
def test_delete_and_mirror_are_configuration_errors_since_no_delete_can_be_confirmed(
    project: Project, model: str
) -> None:
    """Freshsuccess documents no delete path: rather than guess one (and take a 404 for "deleted"),
    a sync that would delete is refused before anything is sent."""
    result = project.push("--select", model)
    assert result.code == 2 and "Traceback" not in result.err
    mode = model.removeprefix("fs_")
    assert f"insert_mode {mode} is not available for Freshsuccess" in result.err
    assert "documents no way to delete" in result.err and "key 'config.meta.revsync.insert_mode'" in result.err
    assert project.sandbox.stats()["freshsuccess"]["requests"] == 0
    answer = requests.delete(
        f"{project.sandbox.url}/freshsuccess/accounts/m1", params={"api_key": DEFAULT_API_KEY}, timeout=10
    )
    assert answer.status_code == 404  # the sandbox has no delete route either: none is documented


def test_a_wrong_key_is_fatal_and_never_shown(project: Project) -> None:
    project.env["FRESHSUCCESS_API_KEY"] = "wrong-key-123"
    try:
        result = project.push("--select", "fs_accounts", "--full-refresh")
    finally:
        project.env["FRESHSUCCESS_API_KEY"] = DEFAULT_API_KEY
    assert result.code == 1
    assert "wrong-key-123" not in result.out + result.err + str(project.runs()[-1]["message"])
    assert project.runs()[-1]["status"] == "failed"
