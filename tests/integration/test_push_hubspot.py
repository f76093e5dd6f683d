"""HubSpot end to end: real dbt builds, real pushes over loopback to the HubSpot emulator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from dbt_revsync.crms.hubspot.emulator import HubSpotEmulator
from dbt_revsync.sandbox import RollingWindow, SandboxServer
from tests.contract.openapi_check import assert_conforms
from tests.integration.conftest import Project
from tests.integration.recording import recording

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def conforms_to_the_spec(sandbox: SandboxServer) -> Iterator[None]:
    """Every request and answer of every test here must validate against the published spec."""
    with recording(sandbox.emulator("hubspot")) as traffic:
        yield
    assert_conforms("hubspot", traffic.exchanges)


TOKEN = "sandbox-hubspot-token"

# object -> (upsert key, model columns, field map, custom properties the portal defines)
OBJECTS: dict[str, tuple[str, list[str], dict[str, str], dict[str, dict[str, Any]]]] = {
    "contacts": (
        "email",
        ["person_id", "email", "first_name", "stage"],
        {"email": "email", "firstname": "first_name", "lifecyclestage": "stage"},
        {},
    ),
    "companies": (
        "account_key",
        ["account_id", "account_key", "name", "employees"],
        {"account_key": "account_key", "name": "name", "numberofemployees": "employees"},
        {"account_key": {"unique": True}},
    ),
    "deals": (
        "deal_key",
        ["deal_id", "deal_key", "title", "amount"],
        {"deal_key": "deal_key", "dealname": "title", "amount": "amount"},
        {"deal_key": {"unique": True}},
    ),
}
ROWS: dict[str, list[list[Any]]] = {
    "contacts": [
        [1, "ann@example.com", "Ann", "lead"],
        [2, "bob@example.com", "Bob", "customer"],
        [3, "cy@example.com", "Cy", "lead"],
    ],
    "companies": [[1, "A-1", "Acme", 10], [2, "A-2", "Globex", 250], [3, "A-3", "Initech", 40]],
    "deals": [[1, "D-1", "Renewal", 1200.5], [2, "D-2", "Upsell", 300], [3, "D-3", "Pilot", 50]],
}


def use_hubspot(project: Project) -> HubSpotEmulator:
    project.env["HUBSPOT_TOKEN"] = TOKEN
    project.connections(
        {
            "hubspot": {
                "type": "hubspot",
                "access_token": "{{ env_var('HUBSPOT_TOKEN') }}",
                "base_url": f"{project.sandbox.url}/hubspot",
                "max_concurrency": 2,
            },
        }
    )
    emulator = project.sandbox.emulator("hubspot")
    assert isinstance(emulator, HubSpotEmulator)
    return emulator


def write(
    project: Project, obj: str, rows: list[list[Any]], mode: str = "mirror", build: bool = True
) -> dict[str, Any]:
    key, header, fields, _ = OBJECTS[obj]
    block = {
        "destination": "hubspot",
        "object": obj,
        "insert_mode": mode,
        "primary_key": header[0],
        "upsert_key": key,
        "fields": fields,
    }
    project.seed(f"raw_{obj}", header, rows)
    project.model(f"hs_{obj}", f"select * from {{{{ ref('raw_{obj}') }}}}", block)
    if build:
        project.build()
    return block


def held(emulator: HubSpotEmulator, obj: str) -> list[dict[str, str]]:
    """The writable properties of every record, without HubSpot's own."""
    own = ("hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate")
    return sorted(
        ({k: v for k, v in r["properties"].items() if k not in own} for r in emulator.records(obj)),
        key=lambda p: sorted(p.items()),
    )


def expected(obj: str, rows: list[list[Any]]) -> list[dict[str, str]]:
    _, header, fields, _ = OBJECTS[obj]
    out = []
    for row in rows:
        values = dict(zip(header, row))
        out.append({prop: _text(values[column]) for prop, column in fields.items()})
    return sorted(out, key=lambda p: sorted(p.items()))


def _text(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def test_mirror_holds_exactly_the_model_then_patches_and_deletes(project: Project) -> None:
    """Each object: one dbt build for all three, so the module stays quick."""
    emulator = use_hubspot(project)
    for obj, (_, _, _, custom) in OBJECTS.items():
        for name, options in custom.items():
            emulator.define_property(obj, name, **options)
        write(project, obj, ROWS[obj], build=False)
    project.build()
    result = project.push()
    assert result.code == 0, result.out + result.err
    for obj in OBJECTS:
        assert held(emulator, obj) == expected(obj, ROWS[obj]), obj
    ids = {r["id"] for obj in OBJECTS for r in emulator.records(obj)}
    assert {s["destination_id"] for s in project.state()} == ids

    with recording(emulator) as calls:
        assert project.push().code == 0
    assert calls.exchanges == []  # nothing changed: nothing sent

    changed = {obj: [rows[0], [*rows[1][:2], "Renamed", rows[1][3]]] for obj, rows in ROWS.items()}  # row 3 leaves
    for obj in OBJECTS:
        write(project, obj, changed[obj], build=False)
    project.build()
    with recording(emulator) as calls:
        assert project.push().code == 0
    for obj in OBJECTS:
        routes = sorted(e.route for e in calls.exchanges if e.route.split(" ")[1].startswith(f"{obj}."))
        assert routes == [f"GET {obj}.properties", f"POST {obj}.batch_archive", f"POST {obj}.batch_update"], (
            obj
        )  # types read once
        (update,) = calls.on(f"POST {obj}.batch_update")
        remembered = {s["destination_id"] for s in project.state() if s["record_key"] == "2" and obj in s["sync_id"]}
        assert {i["id"] for i in update.body["inputs"]} == remembered
        assert held(emulator, obj) == expected(obj, changed[obj]), obj
    run_counts = [(r["created"], r["updated"], r["deleted"]) for r in project.runs()[-3:]]
    assert run_counts == [(0, 1, 1)] * 3


def test_append_creates_in_batches_of_at_most_100(project: Project) -> None:
    emulator = use_hubspot(project)
    block = {
        "destination": "hubspot",
        "object": "contacts",
        "insert_mode": "append",
        "primary_key": "n",
        "fields": {"email": "email", "firstname": "name"},
    }
    project.model(
        "many",
        "select range as n, 'p' || range || '@example.com' as email, 'P' || range as name from range(250)",
        block,
    )
    project.build()
    with recording(emulator) as calls:
        assert project.push().code == 0
    sizes = [len(e.body["inputs"]) for e in calls.on("POST contacts.batch_create")]
    assert sorted(sizes) == [50, 100, 100]
    assert len(emulator.records("contacts")) == 250
    assert all(
        i["objectWriteTraceId"] and i["associations"] == []
        for e in calls.on("POST contacts.batch_create")
        for i in e.body["inputs"]
    )


def test_values_travel_as_hubspot_strings(project: Project) -> None:
    emulator = use_hubspot(project)
    emulator.define_property("contacts", "signup_date", type="date")
    emulator.define_property(
        "contacts", "interests", type="enumeration", multiple=True, options=("golf", "chess", "tea")
    )
    emulator.define_property("contacts", "vip", type="bool")
    emulator.define_property("contacts", "score", type="number")
    block = {
        "destination": "hubspot",
        "object": "contacts",
        "insert_mode": "upsert",
        "primary_key": "id",
        "upsert_key": "email",
        "fields": {
            "email": "email",
            "signup_date": "signed_up",
            "interests": "interests",
            "vip": "vip",
            "score": "score",
        },
    }
    sql = (
        "select 1 as id, 'ann@example.com' as email, date '2024-03-05' as signed_up, "
        "['golf', 'tea'] as interests, true as vip, 12.5 as score"
    )
    project.model("typed", sql, block)
    project.build()
    result = project.push()
    assert result.code == 0, result.out + result.err
    (record,) = emulator.records("contacts")
    props = record["properties"]
    assert props["signup_date"] == "1709596800000"  # 2024-03-05T00:00:00Z
    assert (props["interests"], props["vip"], props["score"]) == ("golf;tea", "true", "12.5")


def test_an_email_upsert_commits_the_good_records_rejects_the_bad_and_retries_only_them(project: Project) -> None:
    """HubSpot has no partial results for email-keyed upserts: the batch is halved until only
    the bad rows are refused, in the same push."""
    emulator = use_hubspot(project)
    header = ["person_id", "email", "first_name", "stage"]
    rows = [
        [1, "ann@example.com", "Ann", "lead"],
        [2, "not-an-email", "Bob", "lead"],
        [3, "cy@example.com", "Cy", "sailor"],
        [4, "dee@example.com", "Dee", "customer"],
    ]
    project.seed("raw_contacts", header, rows)
    block = {
        "destination": "hubspot",
        "object": "contacts",
        "insert_mode": "upsert",
        "primary_key": "person_id",
        "upsert_key": "email",
        "fields": OBJECTS["contacts"][2],
    }
    project.model("hs_contacts", "select * from {{ ref('raw_contacts') }}", block)
    project.build()
    with recording(emulator) as calls:
        assert project.push().code == 1
    upserts = [e.response.status for e in calls.on("POST contacts.batch_upsert")]
    assert upserts[0] == 400 and 200 in upserts
    assert sorted(s["record_key"] for s in project.state()) == ["1", "4"]
    rejects = {r["record_key"]: r for r in project.rejects()}
    assert sorted(rejects) == ["2", "3"]
    assert rejects["2"]["error_code"] == "VALIDATION_ERROR"
    assert "Email address not-an-email is invalid" in rejects["2"]["error_message"]
    assert "sailor was not one of the allowed options" in rejects["3"]["error_message"]

    with recording(emulator) as calls:
        assert project.push().code == 1
    retry = calls.on("POST contacts.batch_upsert")[0]
    assert sorted(i["objectWriteTraceId"] for i in retry.body["inputs"]) == ["2", "3"]

    rows[1][1], rows[2][3] = "bob@example.com", "customer"
    project.seed("raw_contacts", header, rows)
    project.build()
    assert project.push().code == 0
    assert sorted(s["record_key"] for s in project.state()) == ["1", "2", "3", "4"]
    assert len(emulator.records("contacts")) == 4


def test_update_mode_rejects_rows_hubspot_does_not_know(project: Project) -> None:
    emulator = use_hubspot(project)
    rows = [[1, "ann@example.com", "Ann", "lead"], [2, "bob@example.com", "Bob", "lead"]]
    write(project, "contacts", rows[:1], mode="upsert")
    assert project.push().code == 0
    project.seed("raw_contacts", OBJECTS["contacts"][1], [[1, "ann@example.com", "Annie", "lead"], rows[1]])
    block = {
        "destination": "hubspot",
        "object": "contacts",
        "insert_mode": "update",
        "primary_key": "person_id",
        "upsert_key": "email",
        "fields": OBJECTS["contacts"][2],
        "name": "updater",
    }
    project.model("hs_contacts", "select * from {{ ref('raw_contacts') }}", block)
    project.build()
    assert project.push().code == 1
    (reject,) = project.rejects()
    assert (reject["record_key"], reject["error_code"]) == ("2", "OBJECT_NOT_FOUND")
    assert [r["properties"]["firstname"] for r in emulator.records("contacts")] == ["Annie"]


def test_a_duplicate_email_is_hubspots_conflict(project: Project) -> None:
    emulator = use_hubspot(project)
    block = {
        "destination": "hubspot",
        "object": "contacts",
        "insert_mode": "append",
        "primary_key": "n",
        "fields": {"email": "email"},
    }
    project.model("dupes", "select * from (values (1, 'same@example.com'), (2, 'SAME@example.com')) t(n, email)", block)
    project.build()
    assert project.push().code == 1
    assert len(emulator.records("contacts")) == 1
    (reject,) = project.rejects()
    assert reject["error_code"] == "CONFLICT" and "Contact already exists" in reject["error_message"]


def test_rate_limit_headers_and_429_are_honoured(project: Project) -> None:
    emulator = use_hubspot(project)
    emulator.window = RollingWindow(limit=1, seconds=1.0, enforce=True)
    project.sandbox.add_fault("status", status=429, prefix="hubspot", times=2)
    block = {
        "destination": "hubspot",
        "object": "contacts",
        "insert_mode": "append",
        "primary_key": "n",
        "fields": {"email": "email"},
        "batch_size": 1,
    }
    project.model("few", "select range as n, 'r' || range || '@example.com' as email from range(3)", block)
    project.build()
    started = time.monotonic()
    with recording(emulator) as calls:
        assert project.push().code == 0
    elapsed = time.monotonic() - started
    stats = project.sandbox.stats()["hubspot"]
    assert stats["faults"] == {"status": 2}  # two injected 429s, retried
    assert len(emulator.records("contacts")) == 3
    created = [e for e in calls.exchanges if e.response.status == 201]
    assert len(created) == 3 and all(e.response.headers["X-HubSpot-RateLimit-Max"] == "1" for e in created)
    assert elapsed >= 2.0  # one request a second: the remaining-0 header made the client wait
