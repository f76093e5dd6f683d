"""What each connector makes of the CRM's answer: acknowledged only with what the CRM
confirmed, ``created`` only when the CRM says it created the record, else ``updated``.

Every connector runs against a scripted transport (no network): each case gives the answers
in order and the one outcome expected for the single change sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import pytest

from dbt_revsync.delivery import HttpClient
from dbt_revsync.destinations import destination_class
from dbt_revsync.destinations.base import UNREADABLE, Reply, answer_body
from dbt_revsync.model import BatchResult, Change, Connection, FieldMap, NodeRef, SyncSpec
from tests.factories import sync_spec

NODE = NodeRef("model.p.m", "m", "model", "models/schema.yml", None, "main", "m")
HTML = "<html><body>Down for maintenance</body></html>"


class Scripted:
    """A transport answering from a list, in order; keeps what was asked."""

    def __init__(self, answers: list[tuple[int, Any]]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, str, Any]] = []

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        self.asked.append((method, url, json.loads(body) if body else None))
        status, answer = self.answers.pop(0)
        if answer is None:
            return status, {}, b""
        if isinstance(answer, tuple):  # (content type, body)
            return status, {"Content-Type": answer[0]}, answer[1]
        if isinstance(answer, bytes):
            return status, {"Content-Type": "text/html"}, answer
        if isinstance(answer, str):
            return status, {"Content-Type": "text/html"}, answer.encode()
        return status, {"Content-Type": "application/json"}, json.dumps(answer).encode()


def run(
    kind: str,
    settings: dict[str, Any],
    obj: str,
    mode: str,
    change: Change,
    answers: list[tuple[int, Any]],
    fields: dict[str, str],
    upsert_key: str | None = None,
) -> tuple[Any, ...]:
    conn = Connection(kind, kind, MappingProxyType(settings), base_url="http://127.0.0.1:1/api")
    spec = sync_spec(conn, obj, mode, fields, upsert_key, node=NODE, sync_id="id")
    transport = Scripted(answers)
    dest = destination_class(kind)(conn, HttpClient(transport=transport, sleep=lambda _: None))
    result = dest.send(spec, [change])
    assert not transport.answers, "every scripted answer is asked for"
    return outcome_of(result)


def outcome_of(result: BatchResult) -> tuple[Any, ...]:
    assert len(result.acked) + len(result.rejected) + len(result.left) == 1, result
    if result.acked:
        return (result.acked[0].outcome, result.acked[0].destination_id)
    if result.rejected:
        return ("rejected", result.rejected[0].code)
    return ("left",)


# ---- Freshsales -------------------------------------------------------------------------------
FS = {"api_key": "k"}
FS_FIELDS = {"name": "name", "custom_field.cf_id": "id"}
FS_UPSERT = Change("upsert", "1", {"name": "A", "custom_field": {"cf_id": "1"}}, upsert_value="1")
FS_CREATE = Change("create", "1", {"name": "A"})
FS_UPDATE = Change("upsert", "1", {"name": "A"}, remote_id="5", upsert_value="1")
FS_DELETE = Change("delete", "1", {}, remote_id="5")
ACCOUNT = {"sales_account": {"id": 5, "name": "A"}}


@pytest.mark.parametrize(
    ("change", "mode", "answers", "expected"),
    [
        (FS_UPSERT, "upsert", [(201, ACCOUNT)], ("created", "5")),  # upsert made a new record
        (FS_UPSERT, "upsert", [(200, ACCOUNT)], ("updated", "5")),  # upsert matched one
        (FS_CREATE, "append", [(200, ACCOUNT)], ("created", "5")),
        (FS_UPDATE, "upsert", [(200, ACCOUNT)], ("updated", "5")),
        (FS_UPDATE, "upsert", [(404, {"errors": {"code": 404, "message": "gone"}}), (201, ACCOUNT)], ("created", "5")),
        (FS_UPSERT, "upsert", [(200, HTML)], ("left",)),  # a maintenance page
        (FS_UPSERT, "upsert", [(200, b'{"sales_account": {"id": 5')], ("left",)),  # invalid JSON
        (FS_UPSERT, "upsert", [(200, {"ok": True})], ("left",)),  # no record
        (FS_UPSERT, "upsert", [(200, {"sales_account": {"name": "A"}})], ("left",)),  # no id
        (FS_CREATE, "append", [(201, None)], ("left",)),  # 201 with an empty body
        (FS_UPSERT, "upsert", [(400, {"errors": {"code": "invalid", "message": "bad"}})], ("rejected", "invalid")),
        (FS_DELETE, "mirror", [(200, True)], ("deleted", "5")),
        (FS_DELETE, "mirror", [(204, None)], ("deleted", "5")),
        (FS_DELETE, "mirror", [(200, HTML)], ("left",)),
    ],
)
def test_freshsales_acknowledges_only_the_record_it_answers(
    change: Change, mode: str, answers: list[Any], expected: tuple[Any, ...]
) -> None:
    assert run("freshsales", FS, "sales_accounts", mode, change, answers, FS_FIELDS, "cf_id") == expected


# ---- Freshdesk --------------------------------------------------------------------------------
FD = {"api_key": "k"}
FD_FIELDS = {"name": "name", "email": "email"}
FD_CREATE = Change("create", "1", {"name": "A", "email": "a@x.io"})
FD_UPDATE = Change("update", "1", {"name": "A"}, remote_id="7")
FD_DELETE = Change("delete", "1", {}, remote_id="7")


@pytest.mark.parametrize(
    ("change", "answers", "expected"),
    [
        (FD_CREATE, [(201, {"id": 7, "name": "A"})], ("created", "7")),
        (FD_UPDATE, [(200, {"id": 7, "name": "A"})], ("updated", "7")),
        (FD_CREATE, [(201, None)], ("left",)),
        (FD_CREATE, [(200, HTML)], ("left",)),
        (FD_UPDATE, [(200, {"description": "ok"})], ("left",)),
        (
            FD_CREATE,
            [
                (
                    409,
                    {
                        "description": "Validation failed",
                        "errors": [{"field": "email", "message": "dup", "code": "duplicate_value"}],
                    },
                )
            ],
            ("rejected", "duplicate_value"),
        ),
        (FD_DELETE, [(204, None)], ("deleted", "7")),
        (FD_DELETE, [(404, None)], ("deleted", "7")),
        (FD_DELETE, [(200, HTML)], ("left",)),
    ],
)
def test_freshdesk_acknowledges_only_the_record_it_answers(
    change: Change, answers: list[Any], expected: tuple[Any, ...]
) -> None:
    assert run("freshdesk", FD, "contacts", "append", change, answers, FD_FIELDS) == expected


# ---- Pipedrive --------------------------------------------------------------------------------
PD = {"api_token": "t"}
PD_FIELDS = {"name": "name"}
PD_CREATE = Change("create", "1", {"name": "Acme"})
PD_UPDATE = Change("update", "1", {"name": "Acme"}, remote_id="3")
PD_DELETE = Change("delete", "1", {}, remote_id="3")
ORG = {"success": True, "data": {"id": 3, "name": "Acme"}, "additional_data": None}


@pytest.mark.parametrize(
    ("change", "mode", "answers", "expected"),
    [
        (PD_CREATE, "append", [(200, ORG)], ("created", "3")),  # v2 answers a create with 200
        (PD_UPDATE, "update", [(200, ORG)], ("updated", "3")),
        (PD_UPDATE, "upsert", [(404, {"success": False, "error": "not found"}), (200, ORG)], ("created", "3")),
        (PD_CREATE, "append", [(200, HTML)], ("left",)),
        (PD_CREATE, "append", [(201, None)], ("left",)),
        (PD_CREATE, "append", [(200, {"success": True, "data": None})], ("left",)),
        (PD_CREATE, "append", [(200, {"data": {"id": 3}})], ("left",)),  # no success flag: not Pipedrive's envelope
        (PD_CREATE, "append", [(200, {"success": False, "error": "Validation failed"})], ("rejected", "200")),
        (PD_DELETE, "mirror", [(200, {"success": True, "data": {"id": 3}})], ("deleted", "3")),
        (PD_DELETE, "mirror", [(200, HTML)], ("left",)),
    ],
)
def test_pipedrive_acknowledges_only_its_success_envelope(
    change: Change, mode: str, answers: list[Any], expected: tuple[Any, ...]
) -> None:
    assert run("pipedrive", PD, "organizations", mode, change, answers, PD_FIELDS) == expected


# ---- HubSpot ----------------------------------------------------------------------------------
HS = {"access_token": "t"}
HS_FIELDS = {"email": "email", "firstname": "name"}
HS_UPSERT = Change("upsert", "1", {"email": "a@x.io", "firstname": "A"}, upsert_value="a@x.io")
HS_CREATE = Change("create", "1", {"email": "a@x.io", "firstname": "A"})
HS_UPDATE = Change("upsert", "1", {"firstname": "A"}, remote_id="51", upsert_value="a@x.io")
HS_DELETE = Change("delete", "1", {}, remote_id="51")


def hs_result(**extra: Any) -> dict[str, Any]:
    return {
        "status": "COMPLETE",
        "results": [{"id": "51", "properties": {"email": "a@x.io"}, "objectWriteTraceId": "1", **extra}],
    }


@pytest.mark.parametrize(
    ("change", "answers", "expected"),
    [
        (HS_UPSERT, [(200, hs_result(new=True))], ("created", "51")),
        (HS_UPSERT, [(200, hs_result(new=False))], ("updated", "51")),
        (HS_UPSERT, [(200, hs_result())], ("updated", "51")),  # no "new" flag: a creation cannot be confirmed
        (HS_UPSERT, [(200, hs_result(new="true"))], ("updated", "51")),  # only the boolean true says created
        (HS_CREATE, [(201, hs_result())], ("created", "51")),
        (HS_UPDATE, [(200, hs_result())], ("updated", "51")),
        (HS_UPSERT, [(200, HTML)], ("left",)),
        (HS_CREATE, [(201, None)], ("left",)),
        (
            HS_UPSERT,
            [
                (
                    200,
                    {
                        "status": "COMPLETE",
                        "results": [{"properties": {"email": "a@x.io"}, "objectWriteTraceId": "1", "new": True}],
                    },
                )
            ],
            ("left",),
        ),  # a result without the record's id
        (HS_DELETE, [(204, None)], ("deleted", "51")),
        (HS_DELETE, [(200, HTML)], ("left",)),
    ],
)
def test_hubspot_acknowledges_results_and_reads_the_new_flag(
    change: Change, answers: list[Any], expected: tuple[Any, ...]
) -> None:
    assert run("hubspot", HS, "contacts", "upsert", change, answers, HS_FIELDS, "email") == expected


# ---- Salesforce -------------------------------------------------------------------------------
SF = {"access_token": "t"}
SF_FIELDS = {"Name": "name", "Ext__c": "id"}
SF_UPSERT = Change("upsert", "1", {"Name": "A", "Ext__c": "1"}, upsert_value="1")
SF_CREATE = Change("create", "1", {"Name": "A"})
SF_UPDATE = Change("update", "1", {"Name": "A"}, remote_id="001A")
SF_DELETE = Change("delete", "1", {}, remote_id="001A")


def save(**extra: Any) -> list[dict[str, Any]]:
    return [{"id": "001A", "success": True, "errors": [], **extra}]


@pytest.mark.parametrize(
    ("change", "answers", "expected"),
    [
        (SF_UPSERT, [(200, save(created=True))], ("created", "001A")),
        (SF_UPSERT, [(200, save(created=False))], ("updated", "001A")),
        (SF_UPSERT, [(200, save())], ("updated", "001A")),  # no created flag: a creation cannot be confirmed
        (SF_CREATE, [(200, save())], ("created", "001A")),
        (SF_UPDATE, [(200, save())], ("updated", "001A")),
        (SF_DELETE, [(200, save())], ("deleted", "001A")),
        (SF_CREATE, [(200, [{"success": True, "errors": []}])], ("left",)),  # success without the new id
        (SF_UPSERT, [(200, HTML)], ("left",)),
        (SF_UPSERT, [(201, None)], ("left",)),
        (SF_UPSERT, [(200, save() * 2)], ("left",)),  # not one SaveResult per record
        (
            SF_UPSERT,
            [
                (
                    200,
                    [
                        {
                            "id": "001A",
                            "success": False,
                            "errors": [{"statusCode": "INVALID_EMAIL_ADDRESS", "message": "bad"}],
                        }
                    ],
                )
            ],
            ("rejected", "INVALID_EMAIL_ADDRESS"),
        ),
        (SF_DELETE, [(200, HTML)], ("left",)),
    ],
)
def test_salesforce_acknowledges_save_results_and_reads_the_created_flag(
    change: Change, answers: list[Any], expected: tuple[Any, ...]
) -> None:
    assert run("salesforce", SF, "Account", "upsert", change, answers, SF_FIELDS, "Ext__c") == expected


def bulk_job(answers: Mapping[str, Any]) -> Callable[..., tuple[int, dict[str, str], bytes]]:
    """A transport answering Bulk API 2.0 by "METHOD path": text as CSV, None as an empty 201."""

    def transport(
        method: str, url: str, headers: object, body: bytes | None, timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        answer = answers[f"{method} {url.removeprefix('http://127.0.0.1:1/api/')}"]
        if isinstance(answer, str):
            return 200, {"Content-Type": "text/csv"}, answer.encode()
        return (
            (201, {}, b"")
            if answer is None
            else (200, {"Content-Type": "application/json"}, json.dumps(answer).encode())
        )

    return transport


def test_salesforce_bulk_reads_sf_created_and_leaves_a_row_without_sf_id() -> None:
    from dbt_revsync.crms.salesforce.bulk import BulkJob

    conn = Connection("salesforce", "salesforce", MappingProxyType(SF), base_url="http://127.0.0.1:1/api")
    spec = SyncSpec(
        "id",
        NODE,
        conn,
        "Account",
        "upsert",
        ("id",),
        tuple(FieldMap(p, c) for p, c in SF_FIELDS.items()),
        upsert_key="Ext__c",
    )
    outcomes = []
    for op, row in [
        ("upsert", {"sf__Id": "001A", "sf__Created": "true"}),
        ("upsert", {"sf__Id": "001A", "sf__Created": "false"}),
        ("upsert", {"sf__Id": "001A"}),
        ("create", {"sf__Id": "001A", "sf__Created": "true"}),
        ("create", {"sf__Id": ""}),
    ]:
        header, line = (
            BulkJob(destination_class("salesforce")(conn, HttpClient()), spec, op, [SF_UPSERT], BatchResult())
            .csv()
            .decode()
            .splitlines()
        )
        successful = f"{','.join(row)},{header}\n{','.join(row.values())},{line}\n"
        answers = {
            "POST jobs/ingest": {"id": "J"},
            "PUT jobs/ingest/J/batches": None,
            "PATCH jobs/ingest/J": {"id": "J"},
            "GET jobs/ingest/J": {"id": "J", "state": "JobComplete"},
            "GET jobs/ingest/J/successfulResults/": successful,
            "GET jobs/ingest/J/failedResults/": f"sf__Id,sf__Error,{header}\n",
            "GET jobs/ingest/J/unprocessedrecords/": f"{header}\n",
        }
        result = BatchResult()
        BulkJob(
            destination_class("salesforce")(conn, HttpClient(transport=bulk_job(answers))),
            spec,
            op,
            [SF_UPSERT],
            result,
        ).run()
        outcomes.append(outcome_of(result)[0])
    assert outcomes == ["created", "updated", "updated", "created", "left"]


# ---- Freshsuccess -----------------------------------------------------------------------------
FSU = {"api_key": "k"}
FSU_FIELDS = {"account_id": "id", "name": "name", "join_date": "joined"}
FSU_WRITE = Change("upsert", "1", {"account_id": "a1", "name": "A", "join_date": "2024-01-01"}, upsert_value="a1")
FSU_APPEND = Change("create", "1", {"account_id": "a1", "name": "A", "join_date": "2024-01-01"})
FSU_DELETE = Change("delete", "1", {}, remote_id="a1")


@pytest.mark.parametrize(
    ("change", "answers", "expected"),
    [
        (
            FSU_WRITE,
            [(200, {"status_is_ok": True, "failed_results": []})],
            ("updated", "a1"),
        ),  # cannot tell inserted from updated
        (FSU_APPEND, [(200, {"status_is_ok": True, "failed_results": []})], ("updated", "a1")),
        (FSU_WRITE, [(200, HTML)], ("left",)),
        (FSU_WRITE, [(200, {})], ("left",)),  # not Freshsuccess's answer
        (FSU_WRITE, [(201, None)], ("left",)),
        (
            FSU_WRITE,
            [(200, {"status_is_ok": True, "failed_results": [{"message": "Bad name", "record": 0}]})],
            ("rejected", "bad_name"),
        ),
        (
            FSU_DELETE,
            [],
            ("rejected", "delete_unsupported"),
        ),  # no delete path is documented: never sent, never acknowledged
    ],
)
def test_freshsuccess_acknowledges_only_status_is_ok_and_never_claims_a_creation(
    change: Change, answers: list[Any], expected: tuple[Any, ...]
) -> None:
    assert run("freshsuccess", FSU, "accounts", "mirror", change, answers, FSU_FIELDS, "account_id") == expected


# ---- http -------------------------------------------------------------------------------------
HTTP_FIELDS = {"name": "name"}
HTTP_ROW = Change("create", "1", {"name": "A"})


@pytest.mark.parametrize(
    ("settings", "answers", "expected"),
    [
        ({"id_path": "$.id"}, [(201, {"id": 9})], ("created", "9")),  # 201 Created, with the new id
        ({"id_path": "$.id"}, [(200, {"id": 9})], ("updated", "9")),
        ({"id_path": "$.id"}, [(201, None)], ("left",)),
        ({"id_path": "$.id"}, [(200, HTML)], ("left",)),
        ({"id_path": "$.id"}, [(200, {"ok": True})], ("left",)),  # no id where the sync reads it
        ({}, [(204, None)], ("updated", None)),
        ({}, [(201, {"ok": True})], ("updated", None)),  # created, but no id to remember: not claimed
        ({}, [(200, None)], ("updated", None)),  # a webhook's empty 200
        ({}, [(200, ("text/plain", b"ok"))], ("updated", None)),  # and its plain "ok"
        ({}, [(200, HTML)], ("left",)),
        ({}, [(200, ("text/plain", b"<html>Down</html>"))], ("left",)),
        ({}, [(200, ("application/json", b'{"cut sho'))], ("left",)),
        ({}, [(409, {"error": "conflict"})], ("rejected", "409")),
    ],
)
def test_http_acknowledges_per_its_id_path_or_a_json_answer(
    settings: dict[str, Any], answers: list[Any], expected: tuple[Any, ...]
) -> None:
    settings = {"url": "http://127.0.0.1:1/api/things", **settings}
    assert run("http", settings, "things", "append", HTTP_ROW, answers, HTTP_FIELDS) == expected


def test_http_batch_answered_201_does_not_say_which_rows_it_created() -> None:
    conn = Connection(
        "http",
        "http",
        MappingProxyType({"url": "http://127.0.0.1:1/api/b", "batch": True, "id_path": "$.results[*].id"}),
    )
    spec = SyncSpec("id", NODE, conn, "things", "append", ("id",), (FieldMap("name", "name"),))
    rows = [Change("create", str(i), {"name": str(i)}) for i in (1, 2)]
    dest = destination_class("http")(conn, HttpClient(transport=Scripted([(201, {"results": [{"id": 1}, {"id": 2}]})])))
    assert [(a.outcome, a.destination_id) for a in dest.send(spec, rows).acked] == [("updated", "1"), ("updated", "2")]
    dest = destination_class("http")(conn, HttpClient(transport=Scripted([(201, {"results": [{"id": 1}]})])))
    assert len(dest.send(spec, rows).left) == 2  # one id for two rows: nothing acknowledged


# ---- the shared reading of answers ------------------------------------------------------------


def test_answer_bodies_tell_empty_json_and_unreadable_apart() -> None:
    assert answer_body(Reply(204, {}, b"")) is None
    assert answer_body(Reply(200, {}, b"null")) is None
    assert answer_body(Reply(200, {}, b'{"a": 1}')) == {"a": 1}
    assert answer_body(Reply(200, {}, HTML.encode())) is UNREADABLE


def test_created_is_never_acknowledged_without_the_new_records_id() -> None:
    with pytest.raises(ValueError):
        BatchResult().ack(HTTP_ROW, None, "created")
    with pytest.raises(ValueError):
        BatchResult().ack(HTTP_ROW, "1", "matched")


# ---- values a connector cannot convert --------------------------------------------------------


HS_PROPERTIES = {"results": [{"name": "email", "type": "string"}, {"name": "since", "type": "date"}]}


@pytest.mark.parametrize("bad", ["2023-02-29", "2024-13-01", "2024-02-30T10:00:00", "2024-01-01T25:00"])
def test_an_invalid_date_rejects_its_hubspot_row_and_the_others_are_sent(bad: str) -> None:
    conn = Connection("hubspot", "hubspot", MappingProxyType(HS), base_url="http://127.0.0.1:1/api")
    spec = SyncSpec(
        "id", NODE, conn, "contacts", "append", ("id",), (FieldMap("email", "email"), FieldMap("since", "since"))
    )
    rows = [
        Change("create", "bad", {"email": "b@x.io", "since": bad}),
        Change("create", "good", {"email": "g@x.io", "since": "2024-02-29"}),
    ]
    transport = Scripted(
        [(200, HS_PROPERTIES), (201, {"results": [{"id": "7", "objectWriteTraceId": "good", "properties": {}}]})]
    )
    destination = destination_class("hubspot")(conn, HttpClient(transport=transport))
    destination.prepare(spec)  # ``since`` is a date property: its values are converted, or rejected
    result = destination.send(spec, rows)
    assert [(r.key, r.code) for r in result.rejected] == [("bad", "invalid_value")]
    assert bad in result.rejected[0].message and "since" in result.rejected[0].message
    assert [(a.key, a.outcome) for a in result.acked] == [("good", "created")]
    assert [i["objectWriteTraceId"] for i in transport.asked[1][2]["inputs"]] == ["good"]


def test_an_invalid_date_in_a_hubspot_lookup_rejects_the_row() -> None:
    from dbt_revsync.destinations.base import RecordRejected

    conn = Connection("hubspot", "hubspot", MappingProxyType(HS), base_url="http://127.0.0.1:1/api")
    spec = SyncSpec("id", NODE, conn, "contacts", "upsert", ("id",), (FieldMap("since", "since"),))
    dest = destination_class("hubspot")(conn, HttpClient(transport=Scripted([(200, HS_PROPERTIES)])))
    dest.prepare(spec)
    with pytest.raises(RecordRejected) as raised:
        dest.find(spec, "since", "2023-02-29", BatchResult())
    assert raised.value.code == "invalid_value"


def test_an_invalid_date_rejects_its_freshsuccess_row_and_the_others_are_sent() -> None:
    conn = Connection("freshsuccess", "freshsuccess", MappingProxyType(FSU), base_url="http://127.0.0.1:1/api")
    spec = SyncSpec(
        "id",
        NODE,
        conn,
        "accounts",
        "upsert",
        ("id",),
        tuple(FieldMap(p, c) for p, c in FSU_FIELDS.items()),
        upsert_key="account_id",
    )
    rows = [
        Change("upsert", "bad", {"account_id": "b", "name": "B", "join_date": "2023-02-29"}),
        Change("upsert", "good", {"account_id": "g", "name": "G", "join_date": "2024-02-29"}),
    ]
    transport = Scripted([(200, {"status_is_ok": True, "failed_results": []})])
    result = destination_class("freshsuccess")(conn, HttpClient(transport=transport)).send(spec, rows)
    assert [(r.key, r.code) for r in result.rejected] == [("bad", "invalid_value")]
    assert "join_date" in result.rejected[0].message
    assert [a.key for a in result.acked] == ["good"] and [
        r["account_id"] for r in transport.asked[0][2]["records"]
    ] == ["g"]


@pytest.mark.parametrize(
    "kind, settings, obj, fields, change, answers",
    [
        (
            "freshsales",
            FS,
            "sales_accounts",
            FS_FIELDS,
            Change("update", "1", {"name": "A"}, upsert_value="1"),
            [(200, HTML)],
        ),
        (
            "freshdesk",
            FD,
            "contacts",
            FD_FIELDS,
            Change("upsert", "1", {"name": "A", "email": "a@x.io"}),
            [(200, HTML)],
        ),
        (
            "pipedrive",
            PD,
            "organizations",
            PD_FIELDS,
            Change("upsert", "1", {"name": "Acme"}, upsert_value="Acme"),
            [(200, HTML)],
        ),
    ],
)
def test_a_lookup_answered_with_a_maintenance_page_leaves_the_row_and_creates_nothing(
    kind: str, settings: dict[str, Any], obj: str, fields: dict[str, str], change: Change, answers: list[Any]
) -> None:
    """A search answered 200 with HTML is no "no match": creating then would make a duplicate."""
    from dbt_revsync import matching

    conn = Connection(kind, kind, MappingProxyType(settings), base_url="http://127.0.0.1:1/api")
    key = {"freshsales": "cf_id", "freshdesk": "email", "pipedrive": "name"}[kind]
    spec = SyncSpec(
        "id", NODE, conn, obj, change.op, ("id",), tuple(FieldMap(p, c) for p, c in fields.items()), upsert_key=key
    )
    transport = Scripted(answers)
    result = matching.send(destination_class(kind)(conn, HttpClient(transport=transport)), spec, [change])
    assert (result.acked, result.rejected, len(result.left)) == ([], [], 1)
    assert [method for method, _, _ in transport.asked] in (["GET"], ["POST"])  # the lookup only
