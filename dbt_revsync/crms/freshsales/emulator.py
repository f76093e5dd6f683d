"""Freshsales (Freshworks CRM) emulator, served under ``/freshsales``.

``<sandbox url>/freshsales`` stands in for ``https://<alias>.myfreshworks.com/crm/sales/api``.

Endpoints: ``POST /<resource>``, ``GET|PUT|DELETE /<resource>/<id>``,
``POST /<resource>/upsert``, ``POST /filtered_search/<entity>`` and
``GET /settings/<resource>/fields`` (the field list), for the resources
``contacts``, ``sales_accounts`` and ``deals`` (bodies wrapped in ``contact``,
``sales_account``, ``deal``). Auth: ``Authorization: Token token=<key>``.

Freshsales publishes no formal spec; where the public docs are silent or disagree the
behaviour chosen is written next to the code as "Assumed".

The account's plan (``plan=``, default ``free``) sets its published limits (``facts.PLANS``),
applied when the sandbox serves vendor limits. Upsert's ``unique_identifier`` must name a field
marked unique: the documented default ones (a contact's primary email and External ID, an
account's name) and the custom fields declared unique (``declare_field``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from dbt_revsync.crms.freshsales import facts
from dbt_revsync.sandbox import (
    DeclaredField,
    Emulator,
    Limits,
    Record,
    RequestRejected,
    SandboxRequest,
    SandboxResponse,
    SchemaRefused,
    WindowState,
    json_response,
    route,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_CUSTOM_FIELDS",
    "DEFAULT_UNIQUE_FIELDS",
    "ENTITIES",
    "FreshsalesEmulator",
    "STANDARD_FIELDS",
    "WRAPPERS",
]

DEFAULT_API_KEY = "sandbox-freshsales-key"

WRAPPERS: dict[str, str] = facts.WRAPPERS
ENTITIES: dict[str, str] = {wrapper: resource for resource, wrapper in WRAPPERS.items()}

_RESOURCE = r"(?P<resource>contacts|sales_accounts|deals)"
_RECORD = _RESOURCE + r"/(?P<record_id>[^/]+)"
_READ_ONLY = frozenset({"id", "created_at", "updated_at"})
_EMAIL_FIELDS = frozenset({"emails", "email", "contact_email.email"})
_REQUIRED: dict[str, tuple[str, ...]] = {"sales_accounts": ("name",), "deals": ("name",)}
# Assumed: contacts have no required field here (the notes name none).

# Rails-style token header; Freshsales runs on Rails, whose token parser accepts the
# value quoted or bare, so both are accepted here.
_TOKEN = re.compile(r'^\s*Token\s+token="?(?P<key>[^"\s]+)"?\s*$', re.IGNORECASE)

# The standard fields ``GET /settings/<resource>/fields`` lists, as the Freshsales API docs
# name them for each resource's create call (developers.freshworks.com/crm/api). Custom
# fields are listed beside them under their ``cf_`` names; the sandbox account has the
# ones the example project maps, and ``define_custom_field`` adds more.
STANDARD_FIELDS: dict[str, tuple[str, ...]] = {
    "contacts": (
        "first_name",
        "last_name",
        "job_title",
        "email",
        "emails",
        "work_number",
        "mobile_number",
        "address",
        "city",
        "state",
        "zipcode",
        "country",
        "sales_accounts",
        "sales_account_id",
        "territory_id",
        "lead_source_id",
        "owner_id",
        "subscription_status",
        "medium",
        "campaign_id",
        "keyword",
        "time_zone",
        "facebook",
        "twitter",
        "linkedin",
        "contact_status_id",
        "lifecycle_stage_id",
        "external_id",
        "tags",
    ),
    "sales_accounts": (
        "name",
        "address",
        "city",
        "state",
        "zipcode",
        "country",
        "industry_type_id",
        "business_type_id",
        "number_of_employees",
        "annual_revenue",
        "website",
        "phone",
        "owner_id",
        "facebook",
        "twitter",
        "linkedin",
        "territory_id",
        "parent_sales_account_id",
        "tags",
    ),
    "deals": (
        "name",
        "amount",
        "base_currency_amount",
        "expected_close",
        "closed_date",
        "probability",
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
    ),
}
DEFAULT_CUSTOM_FIELDS: dict[str, tuple[str, ...]] = {
    "contacts": ("cf_account_id", "cf_lifecycle", "cf_contact_id", "cf_ref"),
    "sales_accounts": ("cf_account_id", "cf_plan", "cf_industry", "cf_ref"),
    "deals": ("cf_account_id",),
}
# The sandbox account's unique fields, as its admin set them: the defaults, plus custom keys. On
# sales accounts ``name`` was made non-unique (allowed once another field is unique) so that two
# custom keys fit the limit of 2; contacts keep their two defaults beside two custom ones (4).
DEFAULT_UNIQUE_FIELDS: dict[str, tuple[str, ...]] = {
    "contacts": ("emails", "external_id", "cf_account_id", "cf_ref"),
    "sales_accounts": ("cf_account_id", "cf_ref"),
    "deals": ("cf_account_id",),
}

_DEFAULT_PER_PAGE = 25  # Assumed page size of filtered_search ([sec] in the notes)
_MAX_PER_PAGE = 100


class FreshsalesEmulator(Emulator):
    """Freshsales contacts, sales accounts and deals, with upsert and filtered search."""

    prefix = "freshsales"
    resources = tuple(WRAPPERS)
    default_api_keys = (DEFAULT_API_KEY,)
    # Published (facts.PLANS): 400/min, and 1000/h on Free and Growth (the default plan here).
    vendor_limits = Limits(
        per_minute=facts.PLANS[facts.DEFAULT_PLAN].per_minute, per_hour=facts.PLANS[facts.DEFAULT_PLAN].per_hour
    )
    first_id = 16000000001
    auth_hint = "Authorization: Token token=<key>"

    def __init__(
        self,
        *,
        api_keys: Iterable[str] | None = None,
        limits: Limits | None = None,
        utc_offset_hours: float = -4.0,
        plan: str = facts.DEFAULT_PLAN,
        **kwargs: Any,
    ) -> None:
        super().__init__(api_keys=api_keys, limits=limits, **kwargs)
        self._zone = timezone(timedelta(hours=utc_offset_hours))
        self.set_plan(plan)
        self._default_schema()

    def set_plan(self, plan: str) -> None:
        """The account's plan: its published limits become ``vendor_limits`` (applied when the
        sandbox serves vendor limits; applied at once if they already were)."""
        if plan not in facts.PLANS:
            raise ValueError(f"unknown Freshsales plan {plan!r}; expected one of {', '.join(facts.PLANS)}")
        applied = self.limiter.limits == self.vendor_limits
        self.plan = plan
        self.vendor_limits = Limits(per_minute=facts.PLANS[plan].per_minute, per_hour=facts.PLANS[plan].per_hour)
        if applied and self.limiter.limits.per_hour is not None:
            self.set_limits(self.vendor_limits)

    def _default_schema(self) -> None:
        self.custom_fields: dict[str, list[str]] = {r: list(names) for r, names in DEFAULT_CUSTOM_FIELDS.items()}
        self.field_types: dict[tuple[str, str], str] = {}
        self.unique_fields: dict[str, list[str]] = {r: list(names) for r, names in DEFAULT_UNIQUE_FIELDS.items()}

    def reset(self) -> None:
        super().reset()
        self._default_schema()

    def define_custom_field(self, resource: str, name: str) -> None:
        """Add a custom field (``cf_<name>``) to what the field list of ``resource`` shows."""
        if name not in self.custom_fields[resource]:
            self.custom_fields[resource].append(name)

    def declare_field(self, declared: DeclaredField) -> None:
        """A custom field as an admin adds it: a ``cf_`` name, a Freshsales field type, and
        ``unique`` only for text and number fields, within the module's limit of unique fields
        (``facts.MAX_UNIQUE``, the default unique ones counted). Declaring a default unique field
        (``emails``, ``name``) with ``unique: false`` makes it non-unique, as Freshsales allows;
        External ID always stays unique."""
        resource, name = declared.object, declared.name
        if resource not in WRAPPERS:
            raise SchemaRefused(f"Freshsales has no module {resource!r}; expected one of {', '.join(WRAPPERS)}")
        if name in facts.DEFAULT_UNIQUE[resource]:
            self._mark_default(resource, name, declared.unique)
            return
        if not name.startswith(facts.CUSTOM_PREFIX) or len(name) <= len(facts.CUSTOM_PREFIX):
            raise SchemaRefused(
                f"a Freshsales custom field's API name starts with {facts.CUSTOM_PREFIX!r}; got {name!r}"
            )
        kind = facts.TYPE_ALIASES.get(declared.type, declared.type)
        if kind not in facts.CUSTOM_FIELD_TYPES:
            raise SchemaRefused(
                f"{resource}.{name}: unknown Freshsales field type {declared.type!r}; "
                f"expected one of {', '.join(facts.CUSTOM_FIELD_TYPES)}"
            )
        if declared.unique:
            if kind not in facts.UNIQUE_TYPES:
                raise SchemaRefused(f"{resource}.{name}: only text and number fields can be marked unique, not {kind}")
            marked = [n for n in self.unique_fields[resource] if n != name]
            if len(marked) >= facts.MAX_UNIQUE[resource]:
                raise SchemaRefused(
                    f"{resource}.{name}: at most {facts.MAX_UNIQUE[resource]} unique fields on {resource} "
                    f"(already unique: {', '.join(marked)})"
                )
        self.define_custom_field(resource, name)
        self.field_types[(resource, name)] = kind
        unique = self.unique_fields[resource]
        if declared.unique and name not in unique:
            unique.append(name)
        elif not declared.unique and name in unique:
            unique.remove(name)

    def _mark_default(self, resource: str, name: str, unique: bool) -> None:
        """A default unique field marked unique again, or made non-unique where Freshsales allows."""
        marked = self.unique_fields[resource]
        if not unique:
            if name in facts.ALWAYS_UNIQUE[resource]:
                raise SchemaRefused(f"{resource}.{name} cannot be made non-unique")
            if name in marked:
                marked.remove(name)
        elif name not in marked:
            if len(marked) >= facts.MAX_UNIQUE[resource]:
                raise SchemaRefused(
                    f"{resource}.{name}: at most {facts.MAX_UNIQUE[resource]} unique fields on {resource} "
                    f"(already unique: {', '.join(marked)})"
                )
            marked.append(name)

    def is_unique(self, resource: str, field_name: str) -> bool:
        """Whether upsert may use ``field_name`` as its ``unique_identifier``."""
        if resource == "contacts" and field_name in facts.EMAIL_NAMES:
            field_name = "emails"
        return field_name in self.unique_fields[resource]

    # -- vendor shapes -----------------------------------------------------------

    def authenticate(self, request: SandboxRequest) -> bool:
        found = _TOKEN.match(request.headers.get("Authorization", ""))
        return found is not None and found.group("key") in self.api_keys

    def unauthorized_response(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(401, {"login": "failed", "message": "Incorrect or expired API key"})

    def error_response(self, status: int, message: str) -> SandboxResponse:
        # Assumed: the notes give the error body as {"errors": {"code", "message"}} [sec][unc].
        return json_response(status, {"errors": {"code": status, "message": message}})

    def rate_limited_response(self, windows: list[WindowState]) -> SandboxResponse:
        # Assumed: a 429 carries the usual error body; no rate-limit headers are documented,
        # so none are sent (rate_limit_headers keeps the base class's empty default).
        return self.error_response(429, "Too many requests: API rate limit exceeded")

    def unmatched_response(self, request: SandboxRequest) -> SandboxResponse:
        return self.error_response(404, f"Route not found: {request.method} {request.path}")

    # -- routes --------------------------------------------------------------------

    @route("POST", rf"/{_RESOURCE}/upsert", "{resource}.upsert")
    def upsert(self, request: SandboxRequest, resource: str) -> SandboxResponse:
        """Update the record whose identifier field matches (200), or create one (201)."""
        body = self.json_object(request)
        field_name, value = _unique_identifier(body)
        if not self.is_unique(resource, field_name):
            # Assumed answer (the docs say only that the identifier must be a unique field): a 400
            # in the usual error body, naming the field.
            raise RequestRejected(400, f"unique_identifier {field_name} is not a unique field of {resource}")
        fields = _unwrap(body, WRAPPERS[resource])
        matches = self.store.find(resource, lambda record: _matches(resource, record, field_name, [value]))
        if matches:
            # Assumed: when several records match, the oldest (lowest id) is updated.
            return self._wrapped(200, resource, self._update(resource, matches[0], fields))
        fields = _with_identifier(resource, fields, field_name, value)
        return self._wrapped(201, resource, self._create(resource, fields))

    @route("POST", rf"/{_RESOURCE}", "{resource}.create")
    def create(self, request: SandboxRequest, resource: str) -> SandboxResponse:
        # Assumed: a plain create answers 200 (the notes quote 201 only for upsert).
        fields = _unwrap(self.json_object(request), WRAPPERS[resource])
        return self._wrapped(200, resource, self._create(resource, fields))

    @route("GET", rf"/{_RECORD}", "{resource}.view")
    def view(self, request: SandboxRequest, resource: str, record_id: str) -> SandboxResponse:
        return self._wrapped(200, resource, self._existing(resource, record_id))

    @route("PUT", rf"/{_RECORD}", "{resource}.update")
    def update(self, request: SandboxRequest, resource: str, record_id: str) -> SandboxResponse:
        fields = _unwrap(self.json_object(request), WRAPPERS[resource])
        existing = self._existing(resource, record_id)
        return self._wrapped(200, resource, self._update(resource, existing, fields))

    @route("DELETE", rf"/{_RECORD}", "{resource}.delete")
    def delete(self, request: SandboxRequest, resource: str, record_id: str) -> SandboxResponse:
        existing = self._existing(resource, record_id)
        self.store.delete(resource, existing["id"])
        # Assumed: a delete answers 200 with the JSON body `true`.
        return json_response(200, True)

    @route("POST", r"/filtered_search/(?P<entity>contact|sales_account|deal)", "{entity}.filtered_search")
    def filtered_search(self, request: SandboxRequest, entity: str) -> SandboxResponse:
        """Records matching every rule of ``filter_rule`` (operator ``is_in`` or ``is``)."""
        resource = ENTITIES[entity]
        body = self.json_object(request)
        rules = _filter_rules(body)
        found = self.store.find(resource, lambda record: all(_rule_matches(resource, record, rule) for rule in rules))
        page, per_page = _paging(body, request.query)
        total_pages = math.ceil(len(found) / per_page)
        chunk = found[(page - 1) * per_page : page * per_page]
        return json_response(200, {resource: chunk, "meta": {"total": len(found), "total_pages": total_pages}})

    @route("GET", rf"/settings/{_RESOURCE}/fields", "{resource}.fields")
    def fields(self, request: SandboxRequest, resource: str) -> SandboxResponse:
        """The resource's fields: standard ones (``default: true``), then custom ones.
        Assumed: the shape of each entry beyond ``name``, ``label`` and ``default`` [sec];
        ``unique`` marks the fields upsert may use (the attribute name is not documented)."""
        unique = set(self.unique_fields[resource])
        standard = [
            {
                "name": n,
                "label": n.replace("_", " ").capitalize(),
                "default": True,
                "type": "text",
                "unique": n in unique,
            }
            for n in STANDARD_FIELDS[resource]
        ]
        custom = [
            {
                "name": n,
                "label": n.removeprefix("cf_").replace("_", " ").capitalize(),
                "default": False,
                "type": self.field_types.get((resource, n), "text"),
                "unique": n in unique,
            }
            for n in self.custom_fields[resource]
        ]
        return json_response(200, {"fields": [{"id": i + 1, **f} for i, f in enumerate(standard + custom)]})

    # -- record life cycle -------------------------------------------------------------

    def _existing(self, resource: str, record_id: str) -> Record:
        # Assumed: the not-found body follows the general error shape [unc].
        record = self.store.get(resource, int(record_id)) if record_id.isdigit() else None
        if record is None:
            raise RequestRejected(404, "Record not found")
        return record

    def _create(self, resource: str, fields: dict[str, Any]) -> Record:
        now = self._now()
        record = _merge(resource, {"custom_field": {}}, fields)
        _check_required(resource, record)
        self._check_unique(resource, record, own_id=None)
        return self.store.insert(resource, {**record, "created_at": now, "updated_at": now})

    def _update(self, resource: str, existing: Record, fields: dict[str, Any]) -> Record:
        record = _merge(resource, existing, fields)
        _check_required(resource, record)
        self._check_unique(resource, record, own_id=existing["id"])
        record["updated_at"] = self._now()
        return self.store.replace(resource, existing["id"], record)

    def _check_unique(self, resource: str, record: Record, own_id: int | None) -> None:
        """A contact's email may belong to no other contact (compared case-insensitively)."""
        if resource != "contacts":
            return
        for entry in record.get("emails") or []:
            email = entry["value"]
            holders = self.store.find("contacts", _another_holder(email, own_id))
            if holders:
                raise RequestRejected(
                    400, f"Contact with email '{email}' already exists (contact id {holders[0]['id']})"
                )

    def _wrapped(self, status: int, resource: str, record: Record) -> SandboxResponse:
        return json_response(status, {WRAPPERS[resource]: record})

    def _now(self) -> str:
        return datetime.now(self._zone).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------
# Request bodies
# ---------------------------------------------------------------------------


def _unwrap(body: dict[str, Any], wrapper: str) -> dict[str, Any]:
    # Assumed: the record must come wrapped; some clients send it bare [unc], which is refused.
    fields = body.get(wrapper)
    if not isinstance(fields, dict):
        raise RequestRejected(400, f'The request body must carry the record as {{"{wrapper}": {{...}}}}')
    return fields


def _unique_identifier(body: dict[str, Any]) -> tuple[str, Any]:
    identifier = body.get("unique_identifier")
    if not isinstance(identifier, dict) or len(identifier) != 1:
        raise RequestRejected(400, "unique_identifier must be an object with exactly one field")
    ((field_name, value),) = identifier.items()
    if value is None or value == "" or isinstance(value, (dict, list)):
        raise RequestRejected(400, f"unique_identifier {field_name} must be a non-empty value")
    return _plain_field(field_name), value


def _plain_field(field_name: str) -> str:
    # Tolerated: "custom_field.cf_x" names the custom field cf_x.
    return field_name.removeprefix("custom_field.")


def _with_identifier(resource: str, fields: dict[str, Any], field_name: str, value: Any) -> dict[str, Any]:
    """The fields of a record created by upsert: the identifier is set unless given."""
    fields = dict(fields)
    if resource == "contacts" and field_name in _EMAIL_FIELDS:
        # Assumed: when the body names emails of its own, those are kept as they are.
        if "email" not in fields and "emails" not in fields:
            fields["email"] = value
    elif field_name.startswith("cf_") and field_name not in fields:
        fields["custom_field"] = {field_name: value, **(fields.get("custom_field") or {})}
    else:
        fields.setdefault(field_name, value)
    return fields


def _filter_rules(body: dict[str, Any]) -> list[dict[str, Any]]:
    rules = body.get("filter_rule")
    if not isinstance(rules, list) or not all(isinstance(rule, dict) for rule in rules):
        raise RequestRejected(400, "filter_rule must be a list of {attribute, operator, value} objects")
    for rule in rules:
        if not isinstance(rule.get("attribute"), str):
            raise RequestRejected(400, "Every filter rule needs an attribute")
        if rule.get("operator") not in ("is_in", "is"):
            # Assumed: only equality operators are emulated.
            raise RequestRejected(400, f"Unsupported filter operator: {rule.get('operator')!r}")
    return rules


def _paging(body: dict[str, Any], query: dict[str, str]) -> tuple[int, int]:
    """page / per_page from the body or the query string."""
    try:
        page = int(body.get("page", query.get("page", 1)))
        per_page = int(body.get("per_page", query.get("per_page", _DEFAULT_PER_PAGE)))
    except (TypeError, ValueError):
        raise RequestRejected(400, "page and per_page must be integers") from None
    if page < 1 or per_page < 1:
        raise RequestRejected(400, "page and per_page must be positive")
    return page, min(per_page, _MAX_PER_PAGE)


# ---------------------------------------------------------------------------
# Records: merge, emails, matching
# ---------------------------------------------------------------------------


def _merge(resource: str, existing: Record, fields: dict[str, Any]) -> Record:
    """``existing`` with ``fields`` applied: top-level keys replace, ``custom_field``
    merges key by key, read-only keys are ignored, contact emails are normalised."""
    record = dict(existing)
    for key, value in fields.items():
        if key in _READ_ONLY or (resource == "contacts" and key in ("email", "emails")):
            continue
        if key == "custom_field":
            if not isinstance(value, dict):
                raise RequestRejected(400, "custom_field must be an object")
            record["custom_field"] = {**(record.get("custom_field") or {}), **value}
        else:
            record[key] = value
    if resource == "contacts":
        _apply_emails(record, fields)
    return record


def _check_required(resource: str, record: Record) -> None:
    for name in _REQUIRED.get(resource, ()):
        value = record.get(name)
        if not isinstance(value, str) or not value.strip():
            raise RequestRejected(400, f"{name} is required and cannot be blank")


def _apply_emails(record: Record, fields: dict[str, Any]) -> None:
    """Store ``emails`` as ``[{"value", "is_primary"}]`` with one primary, and ``email``
    as the primary value.

    Assumed semantics: ``emails`` replaces the whole list; ``email`` makes its value the
    primary one: alongside ``emails`` (or on create) it is promoted if listed, else put
    first; on its own in an update it replaces the old primary address. Null or ""
    removes the primary address.
    """
    emails = list(record.get("emails") or [])
    if "emails" in fields:
        emails = _normalise_emails(fields["emails"])
    if "email" in fields:
        emails = _set_primary(emails, fields["email"], replace_old="emails" not in fields)
    emails = _one_primary(_dedupe(emails))
    record["emails"] = emails
    record["email"] = next((entry["value"] for entry in emails if entry["is_primary"]), None)


def _normalise_emails(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise RequestRejected(400, "emails must be a string or a list")
    emails = []
    for item in items:
        entry = _email_entry(item)
        if entry is not None:
            emails.append(entry)
    return emails


def _email_entry(item: Any) -> dict[str, Any] | None:
    value: str | None
    if isinstance(item, str):
        value, primary = item, False
    elif isinstance(item, dict):
        if item.get("_destroy"):
            return None
        value, primary = item.get("value"), bool(item.get("is_primary"))
    else:
        raise RequestRejected(400, "Each entry of emails must be a string or a {value, is_primary} object")
    if value is not None and not isinstance(value, str):
        raise RequestRejected(400, "An email value must be a string")
    value = (value or "").strip()
    return {"value": value, "is_primary": primary} if value else None


def _set_primary(emails: list[dict[str, Any]], value: Any, replace_old: bool) -> list[dict[str, Any]]:
    if value is not None and not isinstance(value, str):
        raise RequestRejected(400, "email must be a string")
    others = [dict(entry, is_primary=False) for entry in emails if not (replace_old and entry["is_primary"])]
    value = (value or "").strip()
    if not value:
        return others
    rest = [entry for entry in others if entry["value"].lower() != value.lower()]
    return [{"value": value, "is_primary": True}, *rest]


def _dedupe(emails: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept: dict[str, dict[str, Any]] = {}
    for entry in emails:
        key = entry["value"].lower()
        if key in kept:
            kept[key]["is_primary"] = kept[key]["is_primary"] or entry["is_primary"]
        else:
            kept[key] = dict(entry)
    return list(kept.values())


def _one_primary(emails: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first entry marked primary stays primary (the first entry if none is)."""
    primary = next((index for index, entry in enumerate(emails) if entry["is_primary"]), 0)
    return [dict(entry, is_primary=index == primary) for index, entry in enumerate(emails)]


def _another_holder(email: str, own_id: int | None) -> Callable[[Record], bool]:
    """A store filter: a contact other than ``own_id`` that holds ``email`` (case-insensitively)."""
    wanted = email.lower()
    return lambda other: other["id"] != own_id and wanted in _email_values(other)


def _email_values(record: Record) -> set[str]:
    return {entry["value"].lower() for entry in record.get("emails") or []}


def _comparable(value: Any) -> str:
    """Values compare as text: 12 == "12", 12.0 == "12", True == "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _field_values(resource: str, record: Record, field_name: str) -> tuple[set[str], bool]:
    """The record's values for a field as text, and whether they compare case-insensitively.

    ``cf_*`` is looked up under ``custom_field`` first, then at the top level; a list
    value matches on any element; contact emails match any address, ignoring case.
    """
    field_name = _plain_field(field_name)
    if resource == "contacts" and field_name in _EMAIL_FIELDS:
        return _email_values(record), True
    custom = record.get("custom_field") or {}
    if field_name.startswith("cf_") and field_name in custom:
        value = custom[field_name]
    else:
        value = record.get(field_name)
    values = value if isinstance(value, list) else [value]
    return {_comparable(item) for item in values if item is not None}, False


def _matches(resource: str, record: Record, field_name: str, wanted: list[Any]) -> bool:
    values, fold_case = _field_values(resource, record, field_name)
    targets = {_comparable(item) for item in wanted if item is not None}
    if fold_case:
        targets = {target.lower() for target in targets}
    return bool(values & targets)


def _rule_matches(resource: str, record: Record, rule: dict[str, Any]) -> bool:
    value = rule.get("value")
    wanted = value if isinstance(value, list) else [value]
    return _matches(resource, record, rule["attribute"], wanted)
