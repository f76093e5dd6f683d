"""The generic http destination against the sandbox's JSON echo endpoint: one dbt build,
per-row and batched requests, URL templates, secret headers, success codes and id paths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbt_revsync.sandbox import SandboxServer
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

TOKEN = "sandbox-echo-token"
ROWS = [[1001.0, "Acme", "Berlin"], [1002.0, "Nordwind", None], [1003.0, "Sample", "Tokyo"]]
BLOCK = {
    "object": "accounts",
    "primary_key": "account_id",
    "fields": {"name": "name", "address.city": "city", "ref": "account_id"},
}


def connection(url: str, **settings: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "base_url": "{{ env_var('ECHO_URL') }}",
        "url": url,
        "headers": {"Authorization": "Bearer {{ env_var('ECHO_TOKEN') }}", "X-Source": "dbt-revsync"},
        **settings,
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, sandbox_server: SandboxServer) -> Iterator[Project]:
    sandbox_server.reset()
    project = Project(Path(tmp_path_factory.mktemp("http")) / "project", sandbox_server)
    project.env.update({"ECHO_TOKEN": TOKEN, "ECHO_URL": f"{sandbox_server.url}/echo"})
    project.connections(
        {
            "per_row": connection("{object}/{account_id}", method="PUT", id_path="$.id"),
            "batched": connection(
                "{object}/bulk", batch=True, batch_size=2, body_field="records", id_path="$.results[*].id"
            ),
            "conflict": connection("{object}?status=409", body="list", success_codes=[200, 201]),
            "conflict_ok": connection("{object}?status=409", success_codes=[409]),
        }
    )
    project.seed("accounts", ["account_id", "name", "city"], ROWS, {"account_id": "double", "city": "varchar"})
    sql = "select * from {{ ref('accounts') }}"
    project.model("per_row", sql, {**BLOCK, "destination": "per_row", "insert_mode": "upsert", "upsert_key": "ref"})
    project.model("batched", sql, {**BLOCK, "destination": "batched"})
    project.model("conflict", sql + " where account_id = 1001", {**BLOCK, "destination": "conflict"})
    project.model("conflict_ok", sql + " where account_id = 1001", {**BLOCK, "destination": "conflict_ok"})
    project.model(
        "cannot_match", sql, {**BLOCK, "destination": "per_row", "insert_mode": "upsert", "match_on": ["ref"]}
    )
    project.build()
    yield project
    sandbox_server.reset()


@pytest.fixture(scope="module")
def pushed(built: Project) -> dict[str, Any]:
    result = built.push("--exclude", "cannot_match")
    return {"result": result, "requests": built.sandbox.emulator("echo").records("requests")}


def ids(project: Project, model: str) -> dict[str, str | None]:
    return {r["record_key"]: r["destination_id"] for r in project.state() if f".{model}:" in r["sync_id"]}


def test_match_on_on_a_destination_that_cannot_search_is_a_config_error(built: Project) -> None:
    before = built.sandbox.stats()["echo"]["requests"]
    result = built.push("--select", "cannot_match")
    assert result.code == 2
    assert "config.meta.revsync.match_on" in result.err and "cannot search records" in result.err
    assert built.sandbox.stats()["echo"]["requests"] == before


def test_one_request_per_row_with_url_placeholders_method_headers_and_id_path(
    built: Project, pushed: dict[str, Any]
) -> None:
    per_row = [r for r in pushed["requests"] if r["path"].startswith("/accounts/10")]
    assert sorted((r["method"], r["path"]) for r in per_row) == [
        ("PUT", "/accounts/1001"),
        ("PUT", "/accounts/1002"),
        ("PUT", "/accounts/1003"),
    ]
    bodies = {r["path"]: r["body"] for r in per_row}
    assert bodies["/accounts/1001"] == {"name": "Acme", "address": {"city": "Berlin"}, "ref": "1001"}
    assert bodies["/accounts/1002"] == {"name": "Nordwind", "ref": "1002"}  # nulls skipped
    remembered = ids(built, "per_row")
    assert sorted(remembered) == ["1001", "1002", "1003"] and all(v and v.isdigit() for v in remembered.values())


def test_batch_mode_sends_lists_and_remembers_one_id_per_row(built: Project, pushed: dict[str, Any]) -> None:
    batches = [r for r in pushed["requests"] if r["path"] == "/accounts/bulk"]
    assert [len(r["body"]["records"]) for r in batches] == [2, 1]
    assert [r["method"] for r in batches] == ["POST", "POST"]
    remembered = ids(built, "batched")
    assert len(set(remembered.values())) == 3 and None not in remembered.values()


def test_status_codes_outside_success_codes_reject_and_inside_acknowledge(
    built: Project, pushed: dict[str, Any]
) -> None:
    assert pushed["result"].code == 1
    rejects = [r for r in built.rejects() if ".conflict:" in r["sync_id"]]
    assert [(r["record_key"], r["error_code"]) for r in rejects] == [("1001", "409")]
    assert "not one of the success codes" in rejects[0]["error_message"]
    assert ids(built, "conflict_ok") == {"1001": None}


def test_secret_headers_reach_the_endpoint_but_never_the_output(built: Project, pushed: dict[str, Any]) -> None:
    assert built.sandbox.stats()["echo"]["by_status"].get("401") is None
    output = pushed["result"].out + pushed["result"].err
    assert TOKEN not in output
    assert all(TOKEN not in str(r.values()) for r in built.rejects())


def test_an_unchanged_model_sends_nothing_again(built: Project, pushed: dict[str, Any]) -> None:
    before = built.sandbox.stats()["echo"]["requests"]
    built.push("--exclude", "cannot_match")
    assert built.sandbox.stats()["echo"]["requests"] - before == 1  # only the rejected row is retried
