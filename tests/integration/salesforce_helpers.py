"""Reading and driving the sandbox's Salesforce from the integration tests: its connection in
``revsync.yml``, its records, its REST API and the routes a push took."""

from __future__ import annotations

from typing import Any

import requests

from dbt_revsync.crms.salesforce.emulator import DEFAULT_CLIENT_SECRET, DEFAULT_TOKEN
from tests.integration.conftest import Project

V = "services/data/v62.0"


def of(rows: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["sync_id"].startswith(f"model.revsync_test.{model}:")]


def connect(project: Project, **settings: Any) -> None:
    base = {"type": "salesforce", "base_url": f"{project.sandbox.url}/salesforce/{V}", "max_concurrency": 2}
    if not settings:
        settings = {"access_token": "{{ env_var('SF_TOKEN') }}"}
    project.env["SF_TOKEN"] = DEFAULT_TOKEN
    project.env["SF_SECRET"] = DEFAULT_CLIENT_SECRET
    project.connections({"salesforce": {**base, **settings}})


def emulator(project: Project) -> Any:
    return project.sandbox.emulator("salesforce")


def held(project: Project, sobject: str = "Account", key: str = "Ext_Id__c") -> dict[str, dict[str, Any]]:
    return {str(r.get(key)): r for r in emulator(project).records(sobject)}


def sf(project: Project, method: str, path: str, body: Any = None) -> Any:
    answer = requests.request(
        method,
        f"{project.sandbox.url}/salesforce/{V}/{path}",
        json=body,
        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
        timeout=10,
    )
    assert answer.status_code < 300, answer.text
    return answer.json()


def routes(project: Project) -> dict[str, int]:
    return dict(project.sandbox.stats()["salesforce"]["by_route"])
