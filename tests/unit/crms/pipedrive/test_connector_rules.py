"""The Pipedrive connector's configuration checks, pacing and bodies (pure, no request)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dbt_revsync.crms.pipedrive import facts
from dbt_revsync.crms.pipedrive.connector import PipedriveDestination
from dbt_revsync.delivery import HttpClient, Window
from dbt_revsync.model import BatchResult, Change, NodeRef, SyncSpec
from tests.factories import parsed_connection, sync_spec

NODE = NodeRef("model.demo.crm", "crm", "model", "models/schema.yml", None, "main", "crm")
PIPEDRIVE = parsed_connection("pipedrive", api_token="t")


def spec(
    obj: str,
    fields: dict[str, str],
    upsert_key: str | None = None,
    match_on: tuple[str, ...] = (),
    mode: str = "upsert",
) -> SyncSpec:
    return sync_spec(PIPEDRIVE, obj, mode, fields, upsert_key, node=NODE, match_on=match_on)


def created_body(sync: SyncSpec, fields: dict[str, Any]) -> Any:
    """The body a create of ``fields`` sends (to a transport that keeps it and answers 201)."""
    bodies: list[Any] = []

    def transport(
        method: str, url: str, headers: object, body: bytes | None, timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        bodies.append(json.loads(body or b"null"))
        return 201, {"Content-Type": "application/json"}, b'{"success": true, "data": {"id": 1}}'

    result = BatchResult()
    PipedriveDestination(sync.connection, HttpClient(transport=transport)).send_one(
        sync, Change("create", "1", fields), result
    )
    assert [a.key for a in result.acked] == ["1"], result
    return bodies[0]


@pytest.mark.parametrize(
    ("obj", "fields", "key"),
    [
        ("persons", {"name": "n", "job_title": "j"}, "job_title"),
        ("organizations", {"name": "n", "website": "w"}, "website"),
        ("deals", {"title": "t", "value": "v"}, "value"),
        ("persons", {"name": "n", "postal_address": "a"}, "postal_address"),  # persons' search has no address
    ],
)
def test_a_built_in_key_search_cannot_reach_is_a_config_error(obj: str, fields: dict[str, str], key: str) -> None:
    problems = PipedriveDestination.check_spec(spec(obj, fields, upsert_key=key))
    assert [setting for _, setting in problems] == ["upsert_key"]
    message = problems[0][0]
    assert f"'{key}'" in message and "crm" in message and facts.searchable_fields_text(obj) in message


def test_a_match_on_key_search_cannot_reach_is_named_by_its_position() -> None:
    problems = PipedriveDestination.check_spec(
        spec("persons", {"name": "n", "email": "e", "job_title": "j"}, match_on=("email", "job_title"))
    )
    assert [setting for _, setting in problems] == ["match_on[1]"]


@pytest.mark.parametrize(
    ("obj", "fields", "key"),
    [
        ("persons", {"name": "n", "email": "e"}, "email"),
        ("persons", {"name": "n", "phones": "p"}, "phones"),
        ("persons", {"name": "n", "notes": "x"}, "notes"),
        ("organizations", {"name": "n", "address": "a"}, "address"),
        ("deals", {"title": "t"}, "title"),
        ("deals", {"id": "id"}, "id"),  # the record id is used as is, never searched
        ("deals", {"title": "t", "Deal key": "k"}, "Deal key"),  # a custom field: its type is checked remotely
        ("deals", {"title": "t", "custom_fields.Deal key": "k"}, "Deal key"),
    ],
)
def test_a_searchable_key_passes_the_check(obj: str, fields: dict[str, str], key: str) -> None:
    assert PipedriveDestination.check_spec(spec(obj, fields, upsert_key=key)) == []


def test_searches_are_paced_in_their_own_family_at_10_per_2_seconds() -> None:
    assert PipedriveDestination.windows(PIPEDRIVE) == {"search": (Window(10, 2.0),)}


@pytest.mark.parametrize(("obj", "name"), [("organizations", "address"), ("persons", "postal_address")])
def test_an_address_is_sent_as_the_object_v2_takes(obj: str, name: str) -> None:
    sync = spec(obj, {"name": "n", name: "a"}, mode="append")
    assert created_body(sync, {"name": "Acme", name: "Main St 1"}) == {"name": "Acme", name: {"value": "Main St 1"}}
    given = {"value": "Main St 1", "country": "EE"}
    assert created_body(sync, {"name": "Acme", name: given}) == {"name": "Acme", name: given}
    assert created_body(sync, {"name": "Acme", name: None}) == {"name": "Acme", name: None}
