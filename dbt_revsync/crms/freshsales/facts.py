"""Freshsales (Freshworks CRM) vendor facts, read by both the connector and the emulator.

Each fact names its source; "stricter reading" marks a choice made where the sources are
unclear or disagree (the emulator must be at least as strict as Freshsales).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALWAYS_UNIQUE",
    "CUSTOM_FIELD_TYPES",
    "CUSTOM_PREFIX",
    "DEFAULT_PLAN",
    "DEFAULT_UNIQUE",
    "EMAIL_NAMES",
    "MAX_BATCH",
    "MAX_UNIQUE",
    "NEVER_UNIQUE",
    "PlanLimits",
    "PLANS",
    "RATE_HEADERS",
    "TYPE_ALIASES",
    "unique_rule",
    "UNIQUE_TYPES",
    "WRAPPERS",
]

# Resources and the key their bodies are wrapped in (developers.freshworks.com/crm/api;
# freshworks/marketplace-sample-apps; notes "Freshsales").
WRAPPERS: dict[str, str] = {"contacts": "contact", "sales_accounts": "sales_account", "deals": "deal"}

# Records a write request carries: no batch write is used, one record a request; the runner's
# batch is what one send() handles (notes: bulk endpoints quote 100 records a request).
MAX_BATCH = 100


# ---- rate limits ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanLimits:
    """Requests per account (all users and integrations together) per rolling hour and minute."""

    per_hour: int
    per_minute: int


# support.freshsales.io/support/solutions/articles/50000010026 (per hour and per minute, by plan:
# Blossom/Garden 1000/h, Estate 2000/h, Forest 5000/h, 400/min on each) and
# crmsupport.freshworks.com/support/solutions/articles/50000005599 (Free 1000, Growth 1000, Pro 2000,
# Enterprise 5000 an hour). Past either limit Freshsales answers 429; no rate-limit header is
# documented. The per-minute figure for Free is not published ("N/A" for Sprout): stricter
# reading, 400 a minute like every other plan.
PLANS: dict[str, PlanLimits] = {
    "free": PlanLimits(per_hour=1000, per_minute=400),
    "growth": PlanLimits(per_hour=1000, per_minute=400),
    "pro": PlanLimits(per_hour=2000, per_minute=400),
    "enterprise": PlanLimits(per_hour=5000, per_minute=400),
}
DEFAULT_PLAN = "free"  # the strictest: a connection that does not say its plan is paced for the smallest
RATE_HEADERS: tuple[str, ...] = ()  # none documented


# ---- unique fields (upsert) ----------------------------------------------------------------
# crmsupport.freshworks.com/support/solutions/articles/50000002578 and
# support.freshsales.io/support/solutions/articles/240601: upsert's ``unique_identifier`` must be a
# field marked unique; only text and number fields can be; "up to 2 unique fields (default or
# custom) per module", and in the newer article "up to 4 unique contact fields and 2 unique account
# fields". Stricter reading: contacts 4 in all, sales accounts 2 in all, deals 2 in all, the
# default unique fields still marked counted among them.
MAX_UNIQUE: dict[str, int] = {"contacts": 4, "sales_accounts": 2, "deals": 2}
UNIQUE_TYPES = ("text", "number")
# Unique by default (article 50000002578): the contact's primary email (may be made non-unique),
# External ID (cannot be made non-unique), the account's name (may be made non-unique once another
# field is unique). Mobile is no longer unique by default (accounts created since 2021-05-25).
DEFAULT_UNIQUE: dict[str, tuple[str, ...]] = {
    "contacts": ("emails", "external_id"),
    "sales_accounts": ("name",),
    "deals": (),
}
ALWAYS_UNIQUE: dict[str, tuple[str, ...]] = {"contacts": ("external_id",), "sales_accounts": (), "deals": ()}
# Names a contact's primary email goes by in a body or a unique_identifier (notes: rudder-transformer
# sends ``{"emails": ...}``; the create body takes ``email`` or ``emails``).
EMAIL_NAMES = frozenset({"emails", "email", "contact_email.email"})
# Standard fields that can never be unique (not text or number: lists, lookups, dropdowns, dates),
# after the field types of the create calls in developers.freshworks.com/crm/api. An upsert_key
# among them is a configuration error before anything is asked of Freshsales.
NEVER_UNIQUE: dict[str, frozenset[str]] = {
    "contacts": frozenset(
        {
            "sales_accounts",
            "sales_account_id",
            "territory_id",
            "lead_source_id",
            "owner_id",
            "subscription_status",
            "campaign_id",
            "time_zone",
            "contact_status_id",
            "lifecycle_stage_id",
            "tags",
            "address",
            "medium",
            "keyword",
        }
    ),
    "sales_accounts": frozenset(
        {
            "industry_type_id",
            "business_type_id",
            "owner_id",
            "territory_id",
            "parent_sales_account_id",
            "tags",
            "address",
        }
    ),
    "deals": frozenset(
        {
            "expected_close",
            "closed_date",
            "deal_stage_id",
            "deal_pipeline_id",
            "deal_reason_id",
            "deal_type_id",
            "deal_payment_status_id",
            "campaign_id",
            "lead_source_id",
            "owner_id",
            "sales_account_id",
            "contacts_added_list",
            "territory_id",
            "currency_id",
            "tags",
        }
    ),
}

# Custom field types (Admin Settings > <module> > fields; the fields API's ``type``). Assumed list:
# the documented field kinds; ``string`` is taken as a name for ``text``.
CUSTOM_FIELD_TYPES = (
    "text",
    "paragraph",
    "number",
    "dropdown",
    "multiselect_dropdown",
    "checkbox",
    "radio",
    "date",
    "datetime",
    "url",
    "lookup",
    "auto_number",
)
TYPE_ALIASES = {"string": "text", "integer": "number", "float": "number"}
CUSTOM_PREFIX = "cf_"  # custom fields' API names (notes: ``{"custom_field": {"cf_is_active": true}}``)


def unique_rule(resource: str) -> str:
    """The unique-field rule in one sentence, for messages and docs."""
    defaults = ", ".join(DEFAULT_UNIQUE.get(resource, ())) or "none"
    return (
        f"Freshsales upserts by a field marked unique in Admin Settings (text or number; at most "
        f"{MAX_UNIQUE.get(resource, 2)} unique fields on {resource}; unique by default: {defaults})"
    )
