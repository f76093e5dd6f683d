"""Negative contract tests: each class of request Freshsales or Freshsuccess refuses, refused by the
sandbox the way the vendor documents (status and error body), over loopback.

No independent Python client of either API is in wide use (PyPI holds only small, unmaintained
wrappers), so these refusals, with the vendor docs each rests on, are the contract checked here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dbt_revsync.crms.freshsales.emulator import DEFAULT_API_KEY as FS_KEY
from dbt_revsync.crms.freshsales.emulator import FreshsalesEmulator
from dbt_revsync.crms.freshsuccess.emulator import DEFAULT_API_KEY as FSU_KEY
from dbt_revsync.crms.freshsuccess.emulator import FreshsuccessEmulator
from dbt_revsync.sandbox import Limits, SandboxServer


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(emulators=[FreshsalesEmulator(), FreshsuccessEmulator()]) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(server: SandboxServer) -> None:
    server.reset()
    server.set_limits(None)


def fs(
    server: SandboxServer, method: str, path: str, body: Any = None, key: str = FS_KEY, raw: bytes | None = None
) -> requests.Response:
    headers = {"Authorization": f"Token token={key}", "Content-Type": "application/json"}
    return requests.request(
        method,
        f"{server.url}/freshsales{path}",
        json=body if raw is None else None,
        data=raw,
        headers=headers,
        timeout=10,
    )


def fs_error(answer: requests.Response) -> tuple[int, str]:
    body = answer.json()
    assert set(body) == {"errors"} and set(body["errors"]) == {"code", "message"}  # {"errors": {code, message}} [sec]
    return answer.status_code, body["errors"]["message"]


# ---- Freshsales -------------------------------------------------------------------------------


def test_freshsales_refuses_a_wrong_key_with_401(server: SandboxServer) -> None:
    answer = fs(server, "GET", "/contacts/1", key="nope")
    assert answer.status_code == 401 and answer.json()["login"] == "failed"


@pytest.mark.parametrize(
    ("resource", "identifier"),
    [
        ("sales_accounts", {"cf_plan": "gold"}),  # a custom field not marked unique
        ("contacts", {"first_name": "Ann"}),  # a standard field never unique
        ("contacts", {"mobile_number": "+1 555"}),  # not unique by default since 2021-05-25
        ("deals", {"name": "Deal"}),  # deals have no default unique field
    ],
)
def test_freshsales_refuses_an_upsert_by_a_field_not_marked_unique(
    server: SandboxServer, resource: str, identifier: dict[str, str]
) -> None:
    wrapper = {"contacts": "contact", "sales_accounts": "sales_account", "deals": "deal"}[resource]
    answer = fs(server, "POST", f"/{resource}/upsert", {"unique_identifier": identifier, wrapper: {"name": "X"}})
    status, message = fs_error(answer)
    assert status == 400 and "is not a unique field" in message
    assert server.emulator("freshsales").records(resource) == []


@pytest.mark.parametrize(
    ("method", "path", "body", "raw", "status", "words"),
    [
        ("POST", "/sales_accounts", {"name": "bare"}, None, 400, "sales_account"),  # the record must be wrapped
        ("POST", "/sales_accounts", None, b"{not json", 400, "Malformed JSON"),
        ("POST", "/sales_accounts", {"sales_account": {"website": "x"}}, None, 400, "name is required"),
        (
            "POST",
            "/sales_accounts/upsert",
            {"unique_identifier": {}, "sales_account": {"name": "a"}},
            None,
            400,
            "unique_identifier",
        ),
        (
            "POST",
            "/filtered_search/contact",
            {"filter_rule": [{"attribute": "x", "operator": "contains", "value": 1}]},
            None,
            400,
            "operator",
        ),
        ("GET", "/contacts/999", None, None, 404, "not found"),
        ("GET", "/leads/1", None, None, 404, "Route not found"),
    ],
)
def test_freshsales_refuses_malformed_requests_with_its_error_body(
    server: SandboxServer, method: str, path: str, body: Any, raw: bytes | None, status: int, words: str
) -> None:
    got_status, message = fs_error(fs(server, method, path, body, raw=raw))
    assert got_status == status and words.lower() in message.lower()


def test_freshsales_refuses_a_second_contact_with_the_same_email(server: SandboxServer) -> None:
    assert fs(server, "POST", "/contacts", {"contact": {"email": "a@x.test"}}).status_code == 200
    status, message = fs_error(fs(server, "POST", "/contacts", {"contact": {"email": "A@x.test"}}))
    assert status == 400 and "already exists" in message


def test_freshsales_answers_429_past_the_plans_hour_without_rate_headers(server: SandboxServer) -> None:
    server.set_limits("freshsales", per_minute=400, per_hour=2)
    answers = [fs(server, "GET", "/settings/deals/fields") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert fs_error(answers[2])[0] == 429
    assert not [
        h for h in answers[2].headers if "ratelimit" in h.lower() or h.lower() == "retry-after"
    ]  # none documented


def test_freshsales_vendor_limits_follow_the_plan(server: SandboxServer) -> None:
    emulator = server.emulator("freshsales")
    assert emulator.vendor_limits == Limits(per_minute=400, per_hour=1000)
    emulator.set_plan("enterprise")
    assert emulator.vendor_limits == Limits(per_minute=400, per_hour=5000)
    emulator.set_plan("free")


# ---- Freshsuccess -----------------------------------------------------------------------------


def fsu(server: SandboxServer, method: str, path: str, body: Any = None, key: str = FSU_KEY) -> requests.Response:
    return requests.request(method, f"{server.url}/freshsuccess{path}", json=body, params={"api_key": key}, timeout=10)


def test_freshsuccess_refuses_a_wrong_key_with_401(server: SandboxServer) -> None:
    answer = fsu(server, "POST", "/accounts", {"records": []}, key="nope")
    assert answer.status_code == 401 and answer.json()["status_is_ok"] is False


def test_freshsuccess_refuses_a_body_without_records(server: SandboxServer) -> None:
    answer = fsu(server, "POST", "/accounts", {"data": {}})
    assert answer.status_code == 400 and answer.json()["status_is_ok"] is False


def test_freshsuccess_fails_a_record_missing_required_fields_alone(server: SandboxServer) -> None:
    answer = fsu(
        server,
        "POST",
        "/accounts",
        {"records": [{"account_id": "a", "name": "A", "join_date": 0}, {"account_id": "b"}]},
    )
    body = answer.json()
    assert answer.status_code == 200 and body["status_is_ok"] is True
    assert [
        (f["record"], f["message"].startswith("Missing/invalid required field(s)")) for f in body["failed_results"]
    ] == [(1, True)]


def test_freshsuccess_refuses_a_batch_with_a_contact_of_an_unknown_account_whole(server: SandboxServer) -> None:
    answer = fsu(server, "POST", "/account_contacts", {"records": [{"account_id": "zz", "user_id": "u1"}]})
    body = answer.json()
    assert body["status_is_ok"] is False and body["failed_results"][0]["message"] == "Account not found"
    assert server.emulator("freshsuccess").records("account_contacts") == []


def test_freshsuccess_has_no_documented_delete(server: SandboxServer) -> None:
    fsu(server, "POST", "/accounts", {"records": [{"account_id": "a", "name": "A", "join_date": 0}]})
    answer = fsu(server, "DELETE", "/accounts/a")
    assert answer.status_code == 404 and answer.json()["status_is_ok"] is False
    assert len(server.emulator("freshsuccess").records("accounts")) == 1
