"""Bulk API 2.0 insert jobs whose outcome is not read straight away: a record the job may have
created is never sent again blindly, and one found by its External ID is never claimed as
created by this sync (it may have existed before)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from dbt_revsync.crms.salesforce.bulk import BulkJob
from dbt_revsync.crms.salesforce.connector import SalesforceDestination
from dbt_revsync.delivery import HttpClient, RetryPolicy
from dbt_revsync.model import BatchResult, Change, Connection, FieldMap, NodeRef, SyncSpec

NODE = NodeRef("model.p.m", "m", "model", "models/schema.yml", None, "main", "m")
ROOT = "http://127.0.0.1:1/services/data/v62.0"
Answer = tuple[int, Any]


class Router:
    """Answers by (method, path start); a callable answer is called each time."""

    def __init__(self, routes: list[tuple[str, str, Answer | Callable[[], Answer]]]) -> None:
        self.routes = routes
        self.asked: list[tuple[str, str]] = []

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        path = url.removeprefix(ROOT + "/")
        self.asked.append((method, path))
        for verb, start, answer in self.routes:
            if verb == method and path.startswith(start):
                status, content = answer() if callable(answer) else answer
                if isinstance(content, str):
                    return status, {"Content-Type": "text/csv"}, content.encode()
                return status, {"Content-Type": "application/json"}, json.dumps(content).encode()
        raise AssertionError(f"unexpected {method} {path}")


def job(routes: list[tuple[str, str, Answer | Callable[[], Answer]]], **settings: Any) -> tuple[BatchResult, Router]:
    conn = Connection("sf", "salesforce", MappingProxyType({"access_token": "t", **settings}), base_url=ROOT)
    spec = SyncSpec(
        "id",
        NODE,
        conn,
        "Account",
        "append",
        ("id",),
        (FieldMap("Name", "name"), FieldMap("Ext__c", "id")),
        upsert_key="Ext__c",
    )
    router = Router(routes)
    dest = SalesforceDestination(
        conn, HttpClient(transport=router, sleep=lambda _: None, policy=RetryPolicy(max_attempts=1))
    )
    changes = [Change("create", str(i), {"Name": f"n{i}", "Ext__c": f"e{i}"}) for i in (1, 2)]
    result = BatchResult()
    BulkJob(dest, spec, "create", changes, result).run()
    return result, router


OPEN = [
    ("POST", "jobs/ingest", (200, {"id": "J"})),
    ("PUT", "jobs/ingest/J/batches", (201, None)),
    ("PATCH", "jobs/ingest/J", (200, {"id": "J", "state": "UploadComplete"})),
]
SUCCESS = "sf__Id,sf__Created,Name,Ext__c\n001A,true,n1,e1\n001B,true,n2,e2\n"


def test_an_insert_job_whose_status_cannot_be_read_is_still_settled_from_its_results() -> None:
    """Every poll of the job fails (retries spent): the job may still commit, so its rows are
    not left to be inserted again next push; once bulk_timeout passes the job is aborted and
    its results read (here: both rows created)."""
    polls = iter([(503, {"message": "busy"})] * 3 + [(200, {"id": "J", "state": "JobComplete"})])
    routes = [
        *OPEN,
        ("GET", "jobs/ingest/J/successfulResults", (200, SUCCESS)),
        ("GET", "jobs/ingest/J/failedResults", (200, "sf__Id,sf__Error,Name,Ext__c\n")),
        ("GET", "jobs/ingest/J/unprocessedrecords", (200, "Name,Ext__c\n")),
        ("GET", "jobs/ingest/J", lambda: next(polls)),
    ]
    result, _ = job(routes, bulk_timeout=600)
    assert sorted((a.key, a.destination_id, a.outcome) for a in result.acked) == [
        ("1", "001A", "created"),
        ("2", "001B", "created"),
    ]
    assert result.left_keys == frozenset()


def test_an_insert_job_never_read_is_aborted_then_checked_by_external_id() -> None:
    """Polls fail until bulk_timeout (0): the job is aborted, results cannot be read, the
    rows are looked up by External ID; nothing is left to be inserted blindly."""
    query = {"done": True, "records": [{"Id": "001A", "Ext__c": "e1"}, {"Id": "001B", "Ext__c": "e2"}]}
    routes = [
        *OPEN[:2],
        ("PATCH", "jobs/ingest/J", (200, {"id": "J", "state": "Aborted"})),
        ("GET", "jobs/ingest/J", (503, {"message": "busy"})),
        ("GET", "query", (200, query)),
    ]
    result, router = job(routes, bulk_timeout=0)
    assert ("PATCH", "jobs/ingest/J") in router.asked[3:]  # the abort, after the failed poll
    assert sorted(a.key for a in result.acked) == ["1", "2"] and result.left_keys == frozenset()


def test_a_record_found_by_external_id_after_an_unknown_outcome_is_not_claimed_as_created() -> None:
    """No result set could be read: the one Account carrying Ext__c = e1 may be one a person
    made before (the insert then failed as a duplicate), so it is acknowledged as matched
    (``updated``), never ``created`` (which would let mirror delete it one day)."""
    query = {"done": True, "records": [{"Id": "001A", "Ext__c": "e1"}]}
    routes = [
        *OPEN,
        ("GET", "jobs/ingest/J/", (503, {"message": "busy"})),
        ("GET", "jobs/ingest/J", (200, {"id": "J", "state": "JobComplete"})),
        ("GET", "query", (200, query)),
    ]
    result, _ = job(routes)
    assert [(a.key, a.destination_id, a.outcome) for a in result.acked] == [("1", "001A", "updated")]
    assert result.left_keys == frozenset({"2"})
