"""What the contract tests share to drive the HubSpot and Pipedrive connectors against the
sandbox and read what came back."""

from __future__ import annotations

from typing import Any

import requests

from dbt_revsync.delivery import HttpClient, RetryPolicy
from dbt_revsync.model import BatchResult, Change, Connection
from dbt_revsync.sandbox import SandboxServer
from tests.factories import parsed_connection
from tests.integration.recording import Recorder

HUBSPOT_TOKEN = "sandbox-hubspot-token"
PIPEDRIVE_TOKEN = "sandbox-pipedrive-token"


def connect(server: SandboxServer, vendor: str, token: str) -> Connection:
    secret = "access_token" if vendor == "hubspot" else "api_token"
    return parsed_connection(vendor, **{secret: token, "base_url": f"{server.url}/{vendor}"})


def client(conn: Connection) -> HttpClient:
    return HttpClient(max_concurrency=2, secrets=conn.secrets, policy=RetryPolicy(max_attempts=4, base=0.05, cap=0.2))


def change(op: str, key: str, fields: dict[str, Any], remote_id: str | None = None, upsert: Any = None) -> Change:
    return Change(op, key, fields, remote_id, f"hash-{key}", upsert)


def outcome(result: BatchResult) -> dict[str, str]:
    found = {a.key: a.outcome for a in result.acked}
    found.update({r.key: f"rejected:{r.code}" for r in result.rejected})
    return found


def call(server: SandboxServer, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{server.url}{path}", headers=headers, timeout=10, **kwargs)


def covered(calls: Recorder) -> set[str]:
    return {f"{e.route} {e.response.status}" for e in calls.exchanges}
