"""The destination registry: one line per CRM, imported only when used."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dbt_revsync.destinations.base import Destination

REGISTRY: dict[str, str] = {
    "freshsales": "dbt_revsync.destinations.freshsales:FreshsalesDestination",
    "hubspot": "dbt_revsync.destinations.hubspot:HubSpotDestination",
    "pipedrive": "dbt_revsync.destinations.pipedrive:PipedriveDestination",
    "salesforce": "dbt_revsync.destinations.salesforce:SalesforceDestination",
    "freshdesk": "dbt_revsync.destinations.freshdesk:FreshdeskDestination",
    "freshsuccess": "dbt_revsync.destinations.freshsuccess:FreshsuccessDestination",
    "http": "dbt_revsync.destinations.http:HttpDestination",
}


def destination_types() -> tuple[str, ...]:
    return tuple(REGISTRY)


def destination_class(type_name: str) -> type[Destination]:
    module_name, _, class_name = REGISTRY[type_name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)
