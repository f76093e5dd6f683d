"""The matching rules as sync options: config checks, payload policies, and the matching step
against the Freshdesk emulator over loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dbt_revsync import matching, plan
from dbt_revsync.blocks import parse_sync_blocks
from dbt_revsync.connections import load_connections
from dbt_revsync.crms.freshdesk.connector import FreshdeskDestination
from dbt_revsync.crms.freshdesk.emulator import DEFAULT_API_KEY, FreshdeskEmulator
from dbt_revsync.crms.http.connector import json_path
from dbt_revsync.delivery import HttpClient
from dbt_revsync.destinations import catalog
from dbt_revsync.model import Change, ChangeRow, NodeRef, SyncSpec
from dbt_revsync.sandbox import SandboxServer

NODE = NodeRef("model.p.people", "people", "model", "models/schema.yml", "db", "main", "people")
YAML = """connections:
  fd:
    type: freshdesk
    domain: acme
    api_key: "{{ env_var('FD_KEY') }}"
  hook:
    type: http
    url: https://hooks.example.com/{object}
    headers:
      Authorization: "Bearer {{ env_var('HOOK_TOKEN') }}"
      Accept: application/json
"""
RULES = {
    "destination": "fd",
    "object": "contacts",
    "insert_mode": "upsert",
    "primary_key": "pid",
    "match_on": ["custom_fields.sfcontactid", "email"],
    "on_update": {"email": "if_empty"},
    "nulls": "skip_until_linked",
    "lists": {"tags": "tags"},
    "fields": {"name": "name", "email": "email", "custom_fields.sfcontactid": "sfid", "tags": "tags"},
}


@pytest.fixture
def conns(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "revsync.yml"
    path.write_text(YAML)
    found, issues = load_connections(path, {"FD_KEY": "fd-secret", "HOOK_TOKEN": "hook-secret"}, destinations=catalog())
    assert issues == []
    return found


def parse(conns: dict[str, Any], **changes: Any) -> tuple[list[SyncSpec], list[str]]:
    block = {k: v for k, v in {**RULES, **changes}.items() if v is not None}
    specs, issues, _ = parse_sync_blocks(NODE, block, conns, destinations=catalog())
    return specs, [str(issue) for issue in issues]


# -- config ----------------------------------------------------------------------------


def test_rules_parse_onto_the_spec_and_its_fields(conns: dict[str, Any]) -> None:
    (spec,), issues = parse(conns)
    assert issues == []
    assert spec.match_on == ("custom_fields.sfcontactid", "email") and spec.match_keys == spec.match_on
    assert [f.path for f in spec.if_empty_fields] == ["email"]
    assert {f.path: f.list_format for f in spec.fields}["tags"] == "tags"
    (plain,), _ = parse(conns, on_update=None)
    assert plain.fingerprint != spec.fingerprint  # changing a rule resends rows


@pytest.mark.parametrize(
    "changes, key, message",
    [
        ({"match_on": ["phone"]}, "match_on[0]", "'phone' is not one of the mapped destination fields"),
        ({"upsert_key": "email"}, "match_on", "give match_on or upsert_key, not both"),
        ({"insert_mode": "append"}, "match_on", "append never matches existing records"),
        (
            {"match_on": None, "insert_mode": "update"},
            "upsert_key",
            "is required when insert_mode is update (or give match_on)",
        ),
        ({"on_update": {"email": "sometimes"}}, "on_update.email", "must be one of always, if_empty"),
        (
            {"on_update": {"mobile": "if_empty"}},
            "on_update.mobile",
            "'mobile' is not one of the mapped destination fields",
        ),
        ({"lists": {"tags": "csv"}}, "lists.tags", "must be one of text, tags"),
        ({"nulls": "sometimes"}, "nulls", "must be one of skip, overwrite, skip_until_linked"),
        ({"match_on": [1]}, "match_on", "expected a destination field or a list of them"),
    ],
)
def test_rule_mistakes_name_their_key(conns: dict[str, Any], changes: dict[str, Any], key: str, message: str) -> None:
    specs, issues = parse(conns, **changes)
    assert specs == []
    assert any(f"key 'config.meta.revsync.{key}'" in issue and message in issue for issue in issues), issues


def test_a_destination_that_cannot_search_or_read_says_so(conns: dict[str, Any]) -> None:
    _, issues = parse(conns, destination="hook", object="people")
    assert any(
        "key 'config.meta.revsync.match_on'" in i and "a http destination cannot search records" in i for i in issues
    )
    _, issues = parse(conns, destination="hook", object="people", match_on=None, upsert_key="email")
    assert any("key 'config.meta.revsync.on_update'" in i and "cannot read a record" in i for i in issues)


def test_secret_headers_are_secrets_and_plain_ones_are_not(conns: dict[str, Any]) -> None:
    hook = conns["hook"]
    assert hook.setting("headers")["Authorization"] == "Bearer hook-secret"
    assert {"Bearer hook-secret", "hook-secret"} <= hook.secrets and "application/json" not in hook.secrets
    assert "fd-secret" in conns["fd"].secrets


# -- payload policies --------------------------------------------------------------------


def row(remote_id: str | None, **values: Any) -> ChangeRow:
    base = {"pid": "1", "name": "Ann", "email": None, "sfid": None, "tags": "a, b ,,c"}
    return ChangeRow(1, "new" if remote_id is None else "changed", remote_id, "1", "h", None, None, {**base, **values})


@pytest.mark.parametrize(
    "nulls, linked, sent",
    [
        ("skip", False, False),
        ("skip", True, False),
        ("overwrite", False, True),
        ("overwrite", True, True),
        ("skip_until_linked", False, False),
        ("skip_until_linked", True, True),
    ],
)
def test_null_policies(conns: dict[str, Any], nulls: str, linked: bool, sent: bool) -> None:
    (spec,), _ = parse(conns, nulls=nulls)
    change = plan.decide(spec, row("42" if linked else None))
    assert isinstance(change, Change)
    assert ("email" in change.fields) is sent
    assert change.fields["name"] == "Ann"


@pytest.mark.parametrize(
    "value, list_format, expected",
    [
        (["a", " b", None, ""], "text", "a,b"),
        ("already, text", "text", "already, text"),
        ([], "text", None),
        ("a, b ,,c", "tags", ["a", "b", "c"]),
        (["x", 3], "tags", ["x", "3"]),
        ("", "tags", None),
        (["kept"], None, ["kept"]),
        (None, "tags", None),
    ],
)
def test_list_formats(value: Any, list_format: str | None, expected: Any) -> None:
    assert plan.format_list(value, list_format) == expected


@pytest.mark.parametrize(
    "path, document, expected",
    [
        ("$.id", {"id": 7}, [7]),
        ("id", {"id": 7}, [7]),
        ("data.id", {"data": {"id": "x"}}, ["x"]),
        ("$.results[*].id", {"results": [{"id": 1}, {"id": 2}]}, [1, 2]),
        ("$[1]", [5, 6], [6]),
        ("$['odd key']", {"odd key": 1}, [1]),
        ("$.missing", {}, []),
    ],
)
def test_json_path(path: str, document: Any, expected: list[Any]) -> None:
    assert json_path(path, document) == expected


def test_a_bad_json_path_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot read"):
        json_path("$.a..b", {})


def test_freshdesk_waits_when_the_minute_budget_is_spent() -> None:
    assert FreshdeskDestination.throttle_hint(
        {"X-RateLimit-Total": "200", "X-RateLimit-Remaining": "0"}
    ) == pytest.approx(0.3)
    assert FreshdeskDestination.throttle_hint({"X-RateLimit-Total": "200", "X-RateLimit-Remaining": "3"}) is None
    assert FreshdeskDestination.throttle_hint({}) is None


# -- the matching step, through the Freshdesk connector and emulator ----------------------


@pytest.fixture
def freshdesk(tmp_path: Path) -> Iterator[tuple[FreshdeskDestination, SandboxServer]]:
    with SandboxServer(emulators=[FreshdeskEmulator()]) as server:
        path = tmp_path / "sandbox.yml"
        path.write_text(
            f"connections:\n  fd:\n    type: freshdesk\n    api_key: {DEFAULT_API_KEY}\n"
            f"    base_url: {server.url}/freshdesk\n"
        )
        found, _ = load_connections(path, {}, destinations=catalog())
        yield FreshdeskDestination(found["fd"], HttpClient(max_concurrency=1)), server


def seed_contact(server: SandboxServer, body: dict[str, Any]) -> int:
    answer = requests.post(f"{server.url}/freshdesk/contacts", json=body, auth=(DEFAULT_API_KEY, "X"), timeout=5)
    answer.raise_for_status()
    return int(answer.json()["id"])


def test_nothing_left_to_change_links_without_a_request(
    conns: dict[str, Any], freshdesk: tuple[FreshdeskDestination, SandboxServer]
) -> None:
    destination, server = freshdesk
    existing = seed_contact(server, {"name": "Ann", "email": "ann@x.io"})
    (spec,), _ = parse(conns, fields={"name": "name", "email": "email"}, match_on="email", lists=None)
    result = matching.send(destination, spec, [Change("upsert", "1", {"name": "O", "email": "other@x.io"})])
    assert [(a.key, a.outcome) for a in result.acked] == [("1", "created")]  # other@x.io matches nothing
    result = matching.send(destination, spec, [Change("upsert", "2", {"email": "ann@x.io"})])  # email only: kept
    assert [(a.key, a.destination_id, a.outcome) for a in result.acked] == [("2", str(existing), "updated")]
    assert "PUT contacts.update" not in server.stats()["freshdesk"]["by_route"]


def test_update_with_no_match_and_ambiguous_keys_are_rejects(
    conns: dict[str, Any], freshdesk: tuple[FreshdeskDestination, SandboxServer]
) -> None:
    destination, server = freshdesk
    seed_contact(server, {"name": "A", "mobile": "+1", "email": "a@x.io"})
    seed_contact(server, {"name": "B", "mobile": "+1", "email": "b@x.io"})
    (spec,), _ = parse(
        conns,
        insert_mode="update",
        match_on=["mobile", "email"],
        on_update=None,
        lists=None,
        fields={"name": "name", "mobile": "mobile", "email": "email"},
    )
    result = matching.send(
        destination,
        spec,
        [
            Change("update", "1", {"name": "x", "mobile": "+1", "email": "a@x.io"}),
            Change("update", "2", {"name": "y", "mobile": "+2", "email": "nobody@x.io"}),
        ],
    )
    assert [(r.key, r.code) for r in result.rejected] == [("1", "multiple_matches"), ("2", "no_match")]
    assert result.acked == [] and result.requests == 3  # one search for row 1, two for row 2


def test_hubspot_matches_by_search_and_keeps_a_value_the_record_holds(tmp_path: Path) -> None:
    from dbt_revsync.crms.hubspot.connector import HubSpotDestination
    from dbt_revsync.crms.hubspot.emulator import DEFAULT_TOKEN, HubSpotEmulator

    with SandboxServer(emulators=[HubSpotEmulator()]) as server:
        path = tmp_path / "hubspot.yml"
        path.write_text(
            f"connections:\n  hs:\n    type: hubspot\n    access_token: {DEFAULT_TOKEN}\n"
            f"    base_url: {server.url}/hubspot\n"
        )
        found, issues = load_connections(path, {}, destinations=catalog())
        assert issues == []
        answer = requests.post(
            f"{server.url}/hubspot/crm/v3/objects/contacts",
            timeout=5,
            headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
            json={"properties": {"email": "ann@x.io", "firstname": "Ann"}},
        )
        existing = answer.json()["id"]
        block = {
            "destination": "hs",
            "object": "contacts",
            "insert_mode": "upsert",
            "primary_key": "pid",
            "match_on": ["phone", "email"],
            "on_update": {"firstname": "if_empty"},
            "fields": {"email": "email", "firstname": "first", "lastname": "last", "phone": "phone"},
        }
        (spec,), issues, _ = parse_sync_blocks(NODE, block, found, destinations=catalog())
        assert issues == []
        destination = HubSpotDestination(found["hs"], HttpClient(max_concurrency=1))
        result = matching.send(
            destination, spec, [Change("upsert", "1", {"email": "ann@x.io", "firstname": "New", "lastname": "Lee"})]
        )
        assert [(a.key, a.destination_id, a.outcome) for a in result.acked] == [("1", str(existing), "updated")]
        record = server.emulator("hubspot").records("contacts")[0]["properties"]
        assert (record["firstname"], record["lastname"]) == ("Ann", "Lee")


def test_pipedrive_matches_by_search_and_reads_the_record_for_if_empty(tmp_path: Path) -> None:
    from dbt_revsync.crms.pipedrive.connector import PipedriveDestination
    from dbt_revsync.crms.pipedrive.emulator import DEFAULT_TOKEN, PipedriveEmulator

    with SandboxServer(emulators=[PipedriveEmulator()]) as server:
        path = tmp_path / "pipedrive.yml"
        path.write_text(
            f"connections:\n  pd:\n    type: pipedrive\n    api_token: {DEFAULT_TOKEN}\n"
            f"    base_url: {server.url}/pipedrive\n"
        )
        found, issues = load_connections(path, {}, destinations=catalog())
        assert issues == []
        person = {
            "name": "Ann",
            "emails": [{"value": "ann@x.io", "primary": True, "label": "work"}],
            "phones": [{"value": "+1", "primary": True, "label": "work"}],
        }
        answer = requests.post(
            f"{server.url}/pipedrive/persons", json=person, headers={"x-api-token": DEFAULT_TOKEN}, timeout=5
        )
        existing = answer.json()["data"]["id"]
        block = {
            "destination": "pd",
            "object": "persons",
            "insert_mode": "upsert",
            "primary_key": "pid",
            "match_on": ["phones", "email"],
            "on_update": {"phones": "if_empty"},
            "fields": {"name": "name", "email": "email", "phones": "phone"},
        }
        (spec,), issues, _ = parse_sync_blocks(NODE, block, found, destinations=catalog())
        assert issues == []
        destination = PipedriveDestination(found["pd"], HttpClient(max_concurrency=1))
        destination.prepare(spec)
        result = matching.send(
            destination, spec, [Change("upsert", "1", {"name": "Ann Lee", "email": "ann@x.io", "phones": "+2"})]
        )
        assert [(a.key, a.destination_id, a.outcome) for a in result.acked] == [("1", str(existing), "updated")]
        record = server.emulator("pipedrive").records("persons")[0]
        assert record["name"] == "Ann Lee" and [p["value"] for p in record["phones"]] == ["+1"]
        assert "GET persons.get" in server.stats()["pipedrive"]["by_route"]  # read for if_empty


def test_freshdesk_lists_its_fields_for_validate_remote(
    freshdesk: tuple[FreshdeskDestination, SandboxServer], conns: dict[str, Any]
) -> None:
    destination, server = freshdesk
    server.emulator("freshdesk").define_custom_field("contacts", "sfcontactid")
    (spec,), _ = parse(conns)
    names = destination.list_fields(spec)
    assert names is not None and {"name", "email", "tags", "sfcontactid"} <= names
    assert [destination.field_name(f.path) for f in spec.fields if destination.field_name(f.path) not in names] == []
    assert FreshdeskDestination.field_name("custom_fields.sf_tags") == "sf_tags"
