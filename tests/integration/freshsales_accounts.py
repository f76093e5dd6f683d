"""The accounts model the Freshsales integration tests push: its seed rows, its sync block,
and the records the sandbox's Freshsales holds."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Project

ACCOUNTS = [
    [1001.0, "Acme GmbH", "acme.de", "Berlin", 120],
    [1002.0, "Société Générale Import", "sgi.fr", "Paris", None],
    [1003.0, "株式会社サンプル", None, "Tokyo", 40],
    [1004.0, "Nordwind Logistik", "nordwind.de", "  ", 7],
]

ACCOUNT_BLOCK = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "insert_mode": "upsert",
    "primary_key": "account_id",
    "upsert_key": "cf_account_id",
    "fields": {
        "name": "name",
        "website": "website",
        "city": "city",
        "number_of_employees": "employees",
        "custom_field.cf_account_id": "account_id",
    },
}


def accounts_project(
    project: Project, block: dict[str, Any] | None = None, rows: list[list[Any]] | None = None
) -> None:
    project.seed(
        "raw_accounts",
        ["account_id", "name", "website", "city", "employees"],
        ACCOUNTS if rows is None else rows,
        {"account_id": "double precision", "city": "varchar"},
    )
    project.model(
        "crm_accounts",
        "select account_id, name, website, city, employees from {{ ref('raw_accounts') }}",
        block or ACCOUNT_BLOCK,
    )


def records(project: Project, resource: str) -> list[dict[str, Any]]:
    return project.sandbox.emulator("freshsales").records(resource)
