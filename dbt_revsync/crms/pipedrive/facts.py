"""Pipedrive's vendor facts, read by both the connector and the sandbox emulator.

Sources: ``/work/shared/crm-api-notes.md`` ("Checked against the vendors", Pipedrive) and
Pipedrive's published v2 OpenAPI spec (``tests/contract/specs/pipedrive-v2.yaml``, copied from
github.com/juhokoskela/pipedrive-go ``openapi/upstream/v2.yaml``; its request schemas are
``v2_schemas.py``).
"""

from __future__ import annotations

__all__ = [
    "ADDRESS_FIELDS",
    "BURST_WINDOW",
    "CUSTOM_KEY_LENGTH",
    "FIELD_LISTS",
    "FIELD_TYPES",
    "OBJECTS",
    "SEARCH_FIELDS",
    "SEARCH_WINDOW",
    "SEARCHABLE_BODY_FIELDS",
    "SEARCHABLE_CUSTOM_TYPES",
    "searchable_fields_text",
]

OBJECTS = ("organizations", "persons", "deals")
# The field list each object's custom fields are read from (v2 spec: GET /organizationFields ...).
FIELD_LISTS = {"organizations": "organizationFields", "persons": "personFields", "deals": "dealFields"}

# ``fields`` of GET /<object>/search, per object (v2 spec, the parameter's enum; notes
# "Checked against the vendors"). ``custom_fields`` searches every searchable custom field.
SEARCH_FIELDS = {
    "organizations": ("name", "address", "notes", "custom_fields"),
    "persons": ("name", "email", "phone", "notes", "custom_fields"),
    "deals": ("title", "notes", "custom_fields"),
}
# The body fields a search ``fields`` value covers: a key on one of these can be searched.
SEARCHABLE_BODY_FIELDS = {
    "organizations": {"name": "name", "address": "address"},
    "persons": {
        "name": "name",
        "email": "email",
        "emails": "email",
        "phone": "phone",
        "phones": "phone",
        "notes": "notes",
    },
    "deals": {"title": "title"},
}
# "Only the following custom field types are searchable" (v2 spec, search ``fields``).
SEARCHABLE_CUSTOM_TYPES = ("address", "varchar", "text", "varchar_auto", "double", "monetary", "phone")

# Search: "10 requests per 2 seconds" per token (notes, "Checked against the vendors").
SEARCH_WINDOW = (10, 2.0)
# The general burst limit of the smallest plan (Essential): 20 requests per rolling 2 s per token
# (docs/crm-notes.md; pipedrive.readme.io core-api-concepts-rate-limiting).
BURST_WINDOW = (20, 2.0)

# Address fields are objects ({"value": "<full address>", "country": .., ...}), not text
# (v2 spec: organizations ``address``, persons ``postal_address``; notes).
ADDRESS_FIELDS = {"organizations": ("address",), "persons": ("postal_address",)}

# Custom field keys are 40 hex characters (v2 spec, ``custom_fields``: "randomly generated
# 40-character hashes").
CUSTOM_KEY_LENGTH = 40

# Custom field types (v2 spec, the field_type table of POST /dealFields).
FIELD_TYPES = (
    "varchar",
    "varchar_auto",
    "text",
    "double",
    "monetary",
    "date",
    "set",
    "enum",
    "user",
    "org",
    "people",
    "phone",
    "time",
    "timerange",
    "daterange",
    "address",
    "int",
)


def searchable_fields_text(obj: str) -> str:
    """The searchable fields of an object, as a sentence fragment for error messages."""
    builtin = ", ".join(f for f in SEARCH_FIELDS[obj] if f != "custom_fields")
    return f"{builtin}, or a custom field of type {', '.join(SEARCHABLE_CUSTOM_TYPES)}"
