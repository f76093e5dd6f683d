"""Freshdesk (API v2) facts, read by both the connector and the emulator.

Sources: developers.freshdesk.com/api (sections "Contacts", "Companies", "Filter Contacts",
"Filter Companies", "Rate Limit"); support.freshdesk.com/support/solutions/articles/225439
(API rate limits per plan); /work/shared/crm-api-notes.md "Checked against the vendors".
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONTACT_STATES",
    "CUSTOM_TYPES",
    "DEFAULT_PLAN",
    "GENERIC_TYPES",
    "HEADER_REMAINING",
    "HEADER_TOTAL",
    "HEADER_USED",
    "LIST_FILTERS",
    "MATCH_FILTERS",
    "MAX_BATCH",
    "OBJECTS",
    "PER_PAGE_DEFAULT",
    "PER_PAGE_MAX",
    "Plan",
    "PLAN_SOURCE",
    "PLANS",
    "QUERY_MAX",
    "SEARCH_FIELD_SOURCES",
    "SEARCH_FIELDS",
    "SEARCH_NAME_OF",
    "SEARCH_PAGE",
    "SEARCH_PAGES",
    "SEARCHABLE_CUSTOM_TYPES",
]

OBJECTS = ("contacts", "companies")
MAX_BATCH = 100  # records per push batch: no bulk write, one request per record
PER_PAGE_MAX = 100  # developers.freshdesk.com/api "Pagination": per_page at most 100 (default 30)
PER_PAGE_DEFAULT = 30


@dataclass(frozen=True)
class Plan:
    """Requests per rolling minute for the whole account, and the "Contacts List" sub-limit."""

    per_minute: int
    contacts_list: int


# support.freshdesk.com/support/solutions/articles/225439 ("API rate limits"): per minute,
# per account; Growth 200 (Contacts List 20), Pro 400 (100), Enterprise 700 (200); trial
# accounts 50 a minute whatever the plan (the Contacts List sub-limit cannot exceed it).
PLANS: dict[str, Plan] = {
    "growth": Plan(per_minute=200, contacts_list=20),
    "pro": Plan(per_minute=400, contacts_list=100),
    "enterprise": Plan(per_minute=700, contacts_list=200),
    "trial": Plan(per_minute=50, contacts_list=50),
}
# The safe default: the Growth plan, whose Contacts List sub-limit (20) is the strictest.
DEFAULT_PLAN = "growth"
PLAN_SOURCE = "https://support.freshdesk.com/support/solutions/articles/225439"

# Rate headers on every answer (developers.freshdesk.com/api "Rate Limit"); a 429 carries
# Retry-After in seconds. Invalid requests count too.
HEADER_TOTAL = "X-Ratelimit-Total"
HEADER_REMAINING = "X-Ratelimit-Remaining"
HEADER_USED = "X-Ratelimit-Used-CurrentRequest"

# "List All Contacts": the documented filters (email, mobile, phone; company_id; state one
# of blocked|deleted|unverified|verified; _updated_since, an ISO timestamp). Nothing else:
# ``unique_external_id`` works in public clients but is not documented, so it is not used.
# "List All Companies" documents no filter.
LIST_FILTERS: dict[str, tuple[str, ...]] = {
    "contacts": ("email", "mobile", "phone", "company_id", "state", "_updated_since"),
    "companies": (),
}
# The list filters that find a record by an exact value (what matching may use).
MATCH_FILTERS: dict[str, tuple[str, ...]] = {"contacts": ("email", "mobile", "phone", "company_id"), "companies": ()}
CONTACT_STATES = ("blocked", "deleted", "unverified", "verified")

# "Filter Contacts" (GET /search/contacts?query="..."): the supported standard fields and
# their types; custom fields by their name as /contact_fields lists it.
SEARCH_FIELDS: dict[str, dict[str, str]] = {
    "contacts": {
        "active": "boolean",
        "company_id": "number",
        "created_at": "date",
        "email": "string",
        "language": "string",
        "mobile": "string",
        "phone": "string",
        "tag": "string",
        "time_zone": "string",
        "twitter_id": "string",
        "updated_at": "date",
    },
    # "Filter Companies" (beta): domain and the dates; custom fields by name.
    "companies": {"domain": "string", "created_at": "date", "updated_at": "date"},
}
# A search field that reads a record field of another name (``tag`` looks in ``tags``).
SEARCH_FIELD_SOURCES = {"tag": "tags", "domain": "domains"}
# The record field a destination field path is searched by (``tags`` -> ``tag``).
SEARCH_NAME_OF = {"tags": "tag", "domains": "domain"}
QUERY_MAX = 512  # characters between the double quotes
SEARCH_PAGE = 30  # results a page; pages 1..10
SEARCH_PAGES = 10
# "Updates may take a few minutes to get indexed, after which it will be available through API".

# Custom field types a contact or company field may have (/contact_fields "type").
CUSTOM_TYPES = (
    "custom_text",
    "custom_paragraph",
    "custom_checkbox",
    "custom_number",
    "custom_dropdown",
    "custom_phone_number",
    "custom_url",
    "custom_date",
    "custom_decimal",
)
# The search API accepts custom fields of these types ("Filter Contacts": number, checkbox,
# dropdown, text (single line), date).
SEARCHABLE_CUSTOM_TYPES = ("custom_text", "custom_checkbox", "custom_number", "custom_dropdown", "custom_date")
# A generic type name (DeclaredField.type) -> Freshdesk's own.
GENERIC_TYPES = {
    "string": "custom_text",
    "text": "custom_text",
    "number": "custom_number",
    "integer": "custom_number",
    "boolean": "custom_checkbox",
    "date": "custom_date",
    "decimal": "custom_decimal",
}
