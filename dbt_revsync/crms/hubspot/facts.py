"""HubSpot's vendor facts, declared once: the connector and the emulator both read them.

Sources: /work/shared/crm-api-notes.md ("HubSpot (CRM v3)" and "Checked against the vendors"),
HubSpot's OpenAPI specs (tests/contract/specs/hubspot-crm-*-v3.json) and the pages named on
each fact.
"""

from __future__ import annotations

import re

__all__ = [
    "always_returned",
    "api_path",
    "API_VERSION",
    "API_VERSION_DEFAULT",
    "BATCH_LIMIT",
    "DAILY_LIMIT",
    "DATE_TYPES",
    "DEFAULT_PROPERTIES",
    "EMAIL_ID_USES",
    "folds_case",
    "LIST_LIMIT",
    "MODIFIED",
    "non_unique_message",
    "OBJECT_TYPE_ID",
    "OBJECTS",
    "PROPERTY_TYPES",
    "ROOT",
    "SEARCH_FILTER_GROUPS",
    "SEARCH_FILTERS_PER_GROUP",
    "SEARCH_PAGE_LIMIT",
    "SEARCH_PER_SECOND",
    "TYPE_IDS",
    "upsert_is_all_or_nothing",
    "WINDOW_LIMIT",
    "WINDOW_SECONDS",
]

ROOT = "https://api.hubapi.com"
OBJECTS = ("contacts", "companies", "deals")
# HubSpot takes an object's type id wherever it takes its name (the deals spec writes 0-3).
TYPE_IDS = {"0-1": "contacts", "0-2": "companies", "0-3": "deals"}
OBJECT_TYPE_ID = {name: type_id for type_id, name in TYPE_IDS.items()}

# Batch endpoints take at most 100 inputs (notes, "HubSpot (CRM v3)").
BATCH_LIMIT = 100
LIST_LIMIT = 100
SEARCH_PAGE_LIMIT = 200  # search pages of at most 200 (notes)
SEARCH_FILTER_GROUPS = 5
SEARCH_FILTERS_PER_GROUP = 6

# Rolling 10 s limit per app: 100 requests on Free and Starter, 190 on Professional and
# Enterprise; 250,000 a day at least (notes, "HubSpot (CRM v3)";
# https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details).
WINDOW_SECONDS = 10
WINDOW_LIMIT = 100
DAILY_LIMIT = 250_000
# Search has its own limit: about 4 requests a second per account, and its answers carry no
# rate headers (notes, "Checked against the vendors"; HubSpot's search guide and changelog).
SEARCH_PER_SECOND = 4

# API versions (notes, "Checked against the vendors"; developers.hubspot.com/docs/api-reference/
# latest/overview): the semantic ``v3`` paths (/crm/v3/objects/contacts) are supported until
# September 2027; date-based versions (/crm/objects/2026-03/contacts) since March 2026, one
# each March and September.
API_VERSION_DEFAULT = "v3"
API_VERSION = re.compile(r"^(v3|20\d\d-(03|09))$")


def api_path(version: str, api: str, rest: str) -> str:
    """The path of ``api`` (``objects`` | ``properties``) for ``rest`` (``contacts/batch/read``)
    in a version: ``/crm/v3/objects/contacts`` or ``/crm/objects/2026-03/contacts``."""
    if version.startswith("v"):
        return f"/crm/{version}/{api}/{rest}"
    return f"/crm/{api}/{version}/{rest}"


# Property types (the properties API's ``type``) and the field type each is shown with
# (https://developers.hubspot.com/docs/guides/api/crm/properties, "Property type and fieldType values").
PROPERTY_TYPES = {
    "string": "text",
    "number": "number",
    "date": "date",
    "datetime": "date",
    "enumeration": "select",
    "bool": "booleancheckbox",
}
# Date properties take midnight-UTC epoch milliseconds, date-time ones epoch milliseconds;
# text properties take text, kept as sent (notes, "Checked against the vendors").
DATE_TYPES = ("date", "datetime")

# The properties every record answer carries besides the ones asked for (notes: search and
# GET return only the requested properties plus these). Contacts call the last-modified
# date ``lastmodifieddate``, companies and deals ``hs_lastmodifieddate``.
MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate", "deals": "hs_lastmodifieddate"}


def always_returned(obj: str) -> tuple[str, ...]:
    return ("hs_object_id", "createdate", MODIFIED[obj])


# Properties returned when a read names none (HubSpot's default sets, per object).
DEFAULT_PROPERTIES = {
    "contacts": ("email", "firstname", "lastname"),
    "companies": ("name", "domain"),
    "deals": ("dealname", "amount", "closedate", "dealstage", "pipeline"),
}

# ``idProperty``: the name of a unique property (hasUniqueValue), per the batch specs. A
# contact's ``email`` is not one, but HubSpot documents it for reading and upserting
# contacts; ``batch/update`` by email is refused (hubspot-api-nodejs issue 548).
EMAIL_ID_USES = ("read", "upsert")


def non_unique_message(obj: str) -> str:
    """HubSpot's words refusing an update/upsert by a property that is not unique."""
    return f"Unable to perform update/upsert by non-unique {OBJECT_TYPE_ID[obj]} property"


# Email-keyed batch upserts of contacts have no partial results: one invalid input fails the
# whole batch (contacts guide, "Upsert contacts"; notes, "Checked against the vendors").
def upsert_is_all_or_nothing(obj: str, id_property: str) -> bool:
    return obj == "contacts" and id_property == "email"


# HubSpot stores a contact's email in lower case and compares emails case-insensitively.
def folds_case(obj: str, name: str) -> bool:
    return obj == "contacts" and name == "email"
