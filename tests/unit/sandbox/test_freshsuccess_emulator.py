"""The Freshsuccess emulator, over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dbt_revsync.crms.freshsuccess.emulator import DEFAULT_API_KEY, FreshsuccessEmulator
from dbt_revsync.sandbox import SandboxServer

ACCOUNT = {"account_id": "12345", "name": "Acme", "join_date": 1709251200000}


@pytest.fixture
def root() -> Iterator[str]:
    with SandboxServer(emulators=[FreshsuccessEmulator()]) as running:
        yield f"{running.url}/freshsuccess"


def post(root: str, resource: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    answer = requests.post(f"{root}/{resource}", json={"records": records}, auth=("api", DEFAULT_API_KEY), timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_key_goes_as_query_parameter_or_basic_auth(root: str) -> None:
    assert requests.get(f"{root}/accounts", params={"api_key": DEFAULT_API_KEY}, timeout=5).status_code == 200
    assert requests.get(f"{root}/accounts", auth=("api", DEFAULT_API_KEY), timeout=5).status_code == 200
    refused = requests.get(f"{root}/accounts", auth=("api", "nope"), timeout=5)
    assert refused.status_code == 401 and refused.json()["errors"][0]["message"] == "Invalid API key"


def test_bulk_upsert_is_keyed_by_exact_account_id_text(root: str) -> None:
    assert post(root, "accounts", [ACCOUNT, {**ACCOUNT, "account_id": "ABC"}]) == {
        "status_is_ok": True,
        "failed_results": [],
    }
    post(
        root, "accounts", [{**ACCOUNT, "name": "Acme 2", "custom_label_dimensions": [{"key": "tier", "value": "gold"}]}]
    )
    post(root, "accounts", [{**ACCOUNT, "custom_label_dimensions": [{"key": "size", "value": "s"}]}])
    listed = requests.get(f"{root}/accounts", params={"api_key": DEFAULT_API_KEY, "page": 0}, timeout=5).json()[
        "accounts"
    ]
    assert [(a["account_id"], a["name"]) for a in listed] == [("12345", "Acme"), ("ABC", "Acme")]
    assert [d["key"] for d in listed[0]["custom_label_dimensions"]] == ["tier", "size"]
    assert post(root, "accounts", [{**ACCOUNT, "account_id": "abc", "name": "Lower"}])["status_is_ok"] is True
    assert len(requests.get(f"{root}/accounts", auth=("api", DEFAULT_API_KEY), timeout=5).json()["accounts"]) == 3


def test_a_record_missing_a_required_field_fails_alone(root: str) -> None:
    answer = post(root, "accounts", [ACCOUNT, {"account_id": 7, "name": "Numeric id", "join_date": "2024-01-01"}])
    assert answer["status_is_ok"] is True
    [failed] = answer["failed_results"]
    assert (
        failed["record"] == 1
        and failed["message"] == "Missing/invalid required field(s) for Accounts insert: 'account_id', 'join_date'"
    )


def test_a_contact_without_its_account_refuses_the_whole_batch(root: str) -> None:
    post(root, "accounts", [ACCOUNT])
    contacts = [{"account_id": "12345", "user_id": "u1"}, {"account_id": "999", "user_id": "u2"}]
    answer = post(root, "account_contacts", contacts)
    assert answer == {
        "status_is_ok": False,
        "failed_results": [{"message": "Account not found", "account_id": "999", "user_id": "u2", "record": 1}],
    }
    assert (
        requests.get(f"{root}/account_contacts", auth=("api", DEFAULT_API_KEY), timeout=5).json()["account_contacts"]
        == []
    )
    assert post(root, "account_contacts", contacts[:1])["status_is_ok"] is True
