"""Vendor rules of the HubSpot and Pipedrive emulators, asked directly (no socket)."""

from __future__ import annotations

from typing import Any

from dbt_revsync.crms.hubspot.emulator import DEFAULT_TOKEN as HUBSPOT_TOKEN
from dbt_revsync.crms.hubspot.emulator import HubSpotEmulator
from dbt_revsync.crms.pipedrive.emulator import DEFAULT_TOKEN as PIPEDRIVE_TOKEN
from dbt_revsync.crms.pipedrive.emulator import PipedriveEmulator
from dbt_revsync.sandbox import RollingWindow, SandboxRequest, SandboxResponse


def hs(emulator: HubSpotEmulator, method: str, path: str, body: Any = None) -> SandboxResponse:
    return emulator.handle(
        SandboxRequest(method, path, headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"}, json=body)
    )


def pd(
    emulator: PipedriveEmulator, method: str, path: str, body: Any = None, query: dict[str, str] | None = None
) -> SandboxResponse:
    return emulator.handle(
        SandboxRequest(method, path, query=query or {}, headers={"x-api-token": PIPEDRIVE_TOKEN}, json=body)
    )


def test_hubspot_refuses_more_than_100_inputs_and_duplicate_ids() -> None:
    emulator = HubSpotEmulator()
    inputs = [{"properties": {"email": f"p{i}@x.io"}, "associations": []} for i in range(101)]
    too_many = hs(emulator, "POST", "/crm/v3/objects/contacts/batch/create", {"inputs": inputs})
    assert too_many.status == 400 and "at most 100" in too_many.body["message"]
    twice = [{"id": "a@x.io", "idProperty": "email", "properties": {}}] * 2
    dupes = hs(emulator, "POST", "/crm/v3/objects/contacts/batch/upsert", {"inputs": twice})
    assert dupes.status == 400 and "Duplicate IDs" in dupes.body["message"]
    assert emulator.records("contacts") == []


def test_hubspot_batch_create_without_trace_ids_is_all_or_nothing() -> None:
    emulator = HubSpotEmulator()
    inputs = [
        {"properties": {"email": "ok@x.io"}, "associations": []},
        {"properties": {"nope": "1"}, "associations": []},
    ]
    answer = hs(emulator, "POST", "/crm/v3/objects/contacts/batch/create", {"inputs": inputs})
    assert answer.status == 400 and 'Property "nope" does not exist' in answer.body["message"]
    assert emulator.records("contacts") == []


def test_hubspot_dates_must_be_midnight_utc_and_unique_values_unique() -> None:
    emulator = HubSpotEmulator()
    emulator.define_property("companies", "signed", type="date")
    emulator.define_property("companies", "key", unique=True)
    late = hs(
        emulator, "POST", "/crm/v3/objects/companies", {"properties": {"signed": "1709634600000"}, "associations": []}
    )
    assert late.status == 400 and "not midnight" in late.body["message"]
    assert (
        hs(emulator, "POST", "/crm/v3/objects/companies", {"properties": {"key": "K"}, "associations": []}).status
        == 201
    )
    taken = hs(emulator, "POST", "/crm/v3/objects/companies", {"properties": {"key": "K"}, "associations": []})
    assert taken.status == 409 and taken.body["category"] == "CONFLICT"
    not_unique = hs(
        emulator,
        "POST",
        "/crm/v3/objects/companies/batch/upsert",
        {"inputs": [{"id": "x", "idProperty": "signed", "properties": {}}]},
    )
    assert not_unique.status == 400


def test_hubspot_window_headers_and_429() -> None:
    emulator = HubSpotEmulator()
    emulator.window = RollingWindow(limit=2, seconds=10, enforce=True)
    answers = [hs(emulator, "GET", "/crm/v3/objects/contacts") for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 429]
    assert [a.headers["X-HubSpot-RateLimit-Remaining"] for a in answers] == ["1", "0", "0"]
    assert answers[2].body["policyName"] == "TEN_SECONDLY_ROLLING"


def test_hubspot_vendor_limits_turn_the_window_on() -> None:
    emulator = HubSpotEmulator()
    assert not emulator.window.enforce
    emulator.set_limits(emulator.vendor_limits)
    assert emulator.window.enforce


def test_pipedrive_refuses_an_empty_list_for_a_multi_option_field() -> None:
    emulator = PipedriveEmulator()
    regions = emulator.define_field("organizations", "Regions", "set", ["EMEA"])
    empty = pd(emulator, "POST", "/organizations", {"name": "Acme", "custom_fields": {regions: []}})
    assert empty.status == 400 and empty.body["success"] is False and "null to clear" in empty.body["error"]
    cleared = pd(emulator, "POST", "/organizations", {"name": "Acme", "custom_fields": {regions: None}})
    assert cleared.status == 200 and cleared.body["data"]["custom_fields"][regions] is None


def test_pipedrive_requires_name_and_title_and_existing_links() -> None:
    emulator = PipedriveEmulator()
    assert pd(emulator, "POST", "/organizations", {"website": "x.io"}).status == 400
    assert pd(emulator, "POST", "/deals", {"title": " "}).status == 400
    missing_org = pd(emulator, "POST", "/persons", {"name": "Ann", "org_id": 7})
    assert missing_org.status == 400 and "org_id" in missing_org.body["error"]


def test_pipedrive_search_paging_and_soft_delete() -> None:
    emulator = PipedriveEmulator()
    for name in ("Acme", "Acme Two", "Globex"):
        pd(emulator, "POST", "/organizations", {"name": name})
    short = pd(emulator, "GET", "/organizations/search", query={"term": "A"})
    assert short.status == 400
    exact = pd(
        emulator, "GET", "/organizations/search", query={"term": "acme", "exact_match": "true", "fields": "name"}
    )
    assert [i["item"]["name"] for i in exact.body["data"]["items"]] == ["Acme"]
    first = pd(emulator, "GET", "/organizations", query={"limit": "2"})
    rest = pd(
        emulator, "GET", "/organizations", query={"limit": "2", "cursor": first.body["additional_data"]["next_cursor"]}
    )
    assert [r["name"] for r in rest.body["data"]] == ["Globex"] and rest.body["additional_data"]["next_cursor"] is None
    assert pd(emulator, "DELETE", "/organizations/1").status == 200
    assert pd(emulator, "GET", "/organizations/1").status == 404
    assert [r["name"] for r in emulator.records("organizations")] == ["Acme Two", "Globex"]


def test_pipedrive_rate_limit_headers_and_token_cost() -> None:
    emulator = PipedriveEmulator()
    emulator.window = RollingWindow(limit=1, seconds=2, enforce=True)
    ok, refused = (
        pd(emulator, "GET", "/organizations/search", query={"term": "ab"}),
        pd(emulator, "GET", "/organizations"),
    )
    assert (ok.status, refused.status) == (200, 429)
    assert ok.headers["x-token-cost"] == "20" and ok.headers["x-ratelimit-remaining"] == "0"
    assert refused.body == {
        "success": False,
        "error": "Request over limit",
        "error_info": refused.body["error_info"],
        "data": None,
        "additional_data": None,
    }
    assert emulator.tokens_used == 20
    assert emulator.handle(SandboxRequest("GET", "/organizations", headers={"x-api-token": "wrong"})).status == 401


def test_pipedrive_daily_token_budget() -> None:
    emulator = PipedriveEmulator(token_budget=25)
    first, second = (
        pd(emulator, "GET", "/organizations/search", query={"term": "ab"}),
        pd(emulator, "POST", "/organizations", {"name": "A"}),
    )
    assert (first.status, second.status) == (200, 200) and second.headers["x-daily-requests-left"] == "9999"
    assert pd(emulator, "GET", "/organizationFields").status == 429  # 25 tokens spent, the list costs 10
    assert emulator.tokens_used == 25
