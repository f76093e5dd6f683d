"""`--log-format json`: one JSON event per line on stdout, with the documented field names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dbt_revsync import events
from tests.integration.conftest import FRESHSALES_KEY, Project

pytestmark = pytest.mark.integration

BLOCK = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "primary_key": "account_id",
    "fields": {"name": "name"},
}


def lines(out: str) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert parsed, "no JSON lines on stdout"
    return parsed


def test_json_log_events_for_start_batch_reject_retry_and_finish(project: Project) -> None:
    project.seed("raw", ["account_id", "name"], [[1, "One"], [2, "Two"], [None, "No key"]])
    project.model("accounts", "select * from {{ ref('raw') }}", {**BLOCK, "batch_size": 1})
    project.build()
    project.sandbox.add_fault("status", prefix="freshsales", status=429, retry_after=0, times=1)
    result = project.push("--log-format", "json")
    assert result.code == 1  # the null key is rejected
    out = lines(result.out)  # every stdout line is JSON: the summary table is not printed
    kinds = [e["event"] for e in out]
    assert kinds[0] == "sync_started" and kinds[-1] == "sync_finished"
    assert kinds.count("batch_done") == 2 and kinds.count("retry") == 1 and kinds.count("reject") == 1
    for event in out:
        assert set(event) == {*events.COMMON, *events.FIELDS[event["event"]]}, event["event"]
    reject = next(e for e in out if e["event"] == "reject")
    assert (reject["error_code"], reject["operation"]) == ("null_primary_key", "create")
    retry = next(e for e in out if e["event"] == "retry")
    assert (retry["status"], retry["attempt"], retry["connection"], retry["method"]) == (429, 1, "freshsales", "POST")
    batches = [e for e in out if e["event"] == "batch_done"]
    assert sum(b["created"] for b in batches) == 2 and all(b["requests"] >= 1 for b in batches)
    finished = out[-1]
    assert (finished["status"], finished["created"], finished["rejected"], finished["read"]) == ("rejected", 2, 1, 3)
    assert len({e["run_id"] for e in out if "run_id" in e}) == 1
    assert FRESHSALES_KEY not in result.out + result.err


def test_json_log_reports_a_configuration_error_as_an_error_event(project: Project) -> None:
    project.seed("raw", ["account_id", "name"], [[1, "One"]])
    project.model("accounts", "select * from {{ ref('raw') }}", {**BLOCK, "insert_mode": "upsert"})
    project.build()
    result = project.push("--log-format", "json")
    assert result.code == 2
    (event,) = lines(result.out)
    assert event["event"] == "error" and "upsert_key" in event["message"]
