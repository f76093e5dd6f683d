"""The JSON echo endpoint, over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from dbt_revsync.crms.http.emulator import DEFAULT_TOKEN, EchoEmulator
from dbt_revsync.sandbox import SandboxServer

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(emulators=[EchoEmulator()]) as running:
        yield running


def test_an_object_is_echoed_with_an_id_and_kept(server: SandboxServer) -> None:
    answer = requests.put(f"{server.url}/echo/accounts/7?x=1", json={"name": "Acme"}, headers=AUTH, timeout=5)
    assert answer.status_code == 200 and answer.json() == {"id": 1, "received": {"name": "Acme"}}
    created = requests.post(f"{server.url}/echo/accounts", json={"name": "B"}, headers=AUTH, timeout=5)
    assert created.status_code == 201 and created.json()["id"] == 2
    kept = server.emulator("echo").records("requests")
    assert [(r["method"], r["path"], r["query"]) for r in kept] == [
        ("PUT", "/accounts/7", {"x": "1"}),
        ("POST", "/accounts", {}),
    ]


def test_lists_and_wrapped_lists_get_one_id_per_item(server: SandboxServer) -> None:
    bare = requests.post(f"{server.url}/echo/x", json=[{"a": 1}, {"a": 2}], headers=AUTH, timeout=5).json()
    assert [r["id"] for r in bare["results"]] == [1, 2]
    wrapped = requests.post(f"{server.url}/echo/x", json={"records": [{"a": 3}]}, headers=AUTH, timeout=5).json()
    assert wrapped["results"] == [{"id": 3, "received": {"a": 3}}]


def test_a_status_can_be_asked_for_and_a_wrong_token_is_refused(server: SandboxServer) -> None:
    asked = requests.post(f"{server.url}/echo/x?status=409", json={"a": 1}, headers=AUTH, timeout=5)
    assert asked.status_code == 409 and server.emulator("echo").records("requests") == []
    assert (
        requests.post(f"{server.url}/echo/x", json={}, headers={"Authorization": "Bearer nope"}, timeout=5).status_code
        == 401
    )
    assert requests.post(f"{server.url}/echo/x", json={}, timeout=5).status_code == 401
