"""Freshdesk (API v2) emulator, served under ``/freshdesk``.

``<sandbox url>/freshdesk`` stands in for ``https://<domain>.freshdesk.com/api/v2``.

Endpoints: ``POST /contacts|/companies``, ``GET|PUT|DELETE /contacts/<id>|/companies/<id>``,
``PUT /contacts/<id>/restore``, ``DELETE /contacts/<id>/hard_delete``, ``GET /contacts`` (the documented filters only:
``email``, ``mobile``, ``phone``, ``company_id``, ``state``, ``_updated_since``) and ``GET
/companies`` (no filter), ``page``/``per_page`` with a ``Link`` header; ``GET
/search/contacts|companies?query="..."`` (the filter API: parentheses, ``AND``/``OR``,
``:``, ``:>``/``:<`` on numbers and dates, quoted strings, ``null``; only the documented
field names and declared custom fields); ``GET /contact_fields|/company_fields``. Auth:
HTTP Basic with the API key as user name (the password, conventionally ``X``, unchecked).

Errors: 400 ``{"description": "Validation failed", "errors": [{"field", "message",
"code"}]}`` with the codes ``missing_field``, ``invalid_value``, ``datatype_mismatch``,
``invalid_field``; a value another record holds (``duplicate_value``) is a 409 of the same
shape ("409 Conflict: ... e.g. Create a Contact with an email already associated with an
existing user"). ``duplicate_ids=True`` adds ``"additional_info": {"user_id": <id>}`` naming
the contact that holds it, as public reports show; the docs do not show it, so by default
(the stricter reading) it is left out and a client must find the contact itself.

The trash: ``DELETE /contacts/<id>`` is a soft delete (``deleted: true``). A trashed contact
keeps its emails and ``unique_external_id`` reserved, shows in ``GET /contacts/<id>`` and
in ``GET /contacts?state=deleted`` only, is refused a ``PUT`` (404, assumed: the stricter
reading) until ``PUT /contacts/<id>/restore`` (204) brings it back; ``DELETE
/contacts/<id>/hard_delete`` removes it for good, and a contact not in the trash only with
``force=true``. A company's DELETE is permanent (Freshdesk has no company trash); its
contacts lose their ``company_id``. Limits per plan (``plan=``; applied with the vendor
limits): the account's requests per minute, and the "Contacts List" sub-limit on every
look-up (list, filter); every answer carries ``X-Ratelimit-Total``,
``X-Ratelimit-Remaining`` and ``X-Ratelimit-Used-CurrentRequest``; a 429 carries
``Retry-After``. ``search_lag=N`` (seconds, default 0) keeps a write out of the filter API's
answers for N seconds, as Freshdesk's index does. Where the public docs are silent the
behaviour chosen says "Assumed" (the stricter reading).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from dbt_revsync.crms.freshdesk import facts
from dbt_revsync.sandbox import (
    Clock,
    DeclaredField,
    Emulator,
    Limits,
    Record,
    RequestRejected,
    RollingWindow,
    SandboxRequest,
    SandboxResponse,
    SchemaRefused,
    WindowState,
    json_response,
    route,
)

__all__ = [
    "COMPANY_FIELDS",
    "CONTACT_FIELDS",
    "CONTACT_IDENTIFIERS",
    "DEFAULT_API_KEY",
    "FIELDS",
    "FreshdeskEmulator",
    "LIST_FILTERS",
    "parse_query",
    "Predicate",
    "STRING_LISTS",
    "ValidationFailed",
]

DEFAULT_API_KEY = "sandbox-freshdesk-key"

CONTACT_FIELDS = frozenset(
    {
        "name",
        "email",
        "phone",
        "mobile",
        "twitter_id",
        "unique_external_id",
        "other_emails",
        "company_id",
        "view_all_tickets",
        "other_companies",
        "address",
        "avatar",
        "custom_fields",
        "description",
        "job_title",
        "language",
        "tags",
        "time_zone",
    }
)
COMPANY_FIELDS = frozenset(
    {
        "name",
        "description",
        "domains",
        "note",
        "health_score",
        "account_tier",
        "renewal_date",
        "industry",
        "custom_fields",
    }
)
FIELDS = {"contacts": CONTACT_FIELDS, "companies": COMPANY_FIELDS}
LIST_FILTERS = facts.LIST_FILTERS
# A contact needs one of these (the notes: "[unc]"; the error names them all).
CONTACT_IDENTIFIERS = ("email", "mobile", "phone", "twitter_id", "unique_external_id")
STRING_LISTS = ("tags", "other_emails", "domains")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RESOURCE = r"(?P<resource>contacts|companies)"
_RECORD = _RESOURCE + r"/(?P<record_id>[^/]+)"
_DEFAULT_PER_PAGE = facts.PER_PAGE_DEFAULT
_MAX_PER_PAGE = facts.PER_PAGE_MAX
_SEARCH_PAGE = facts.SEARCH_PAGE
_SEARCH_PAGES = facts.SEARCH_PAGES
_QUERY_MAX = facts.QUERY_MAX
_OBJECT_NAMES = {"contacts": "contacts", "contact": "contacts", "companies": "companies", "company": "companies"}


class ValidationFailed(RequestRejected):
    """A 400 (or a 409 for duplicates) in Freshdesk's shape, carrying every field error found."""

    def __init__(self, errors: list[dict[str, Any]], status: int = 400) -> None:
        body = {"description": "Validation failed", "errors": errors}
        super().__init__(status, "Validation failed", json_response(status, body))


def _error(field: str, message: str, code: str) -> dict[str, str]:
    return {"field": field, "message": message, "code": code}


class FreshdeskEmulator(Emulator):
    """Freshdesk contacts and companies: no upsert, so clients filter then POST or PUT."""

    prefix = "freshdesk"
    resources = ("contacts", "companies")
    default_api_keys = (DEFAULT_API_KEY,)
    # The Growth plan's per-minute limit; an instance's plan (``plan=``) sets its own.
    vendor_limits = Limits(per_minute=facts.PLANS[facts.DEFAULT_PLAN].per_minute)
    first_id = 43000000001
    auth_hint = "Authorization: Basic base64(<key>:X)"

    def __init__(
        self,
        *,
        plan: str = facts.DEFAULT_PLAN,
        search_lag: float = 0.0,
        clock: Clock = time.monotonic,
        duplicate_ids: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(clock=clock, **options)
        if plan not in facts.PLANS:
            raise ValueError(f"unknown freshdesk plan {plan!r}; expected one of: {', '.join(facts.PLANS)}")
        self.plan = plan
        self.vendor_limits = Limits(per_minute=facts.PLANS[plan].per_minute)
        self.lookups = RollingWindow(facts.PLANS[plan].contacts_list, 60.0, enforce=False, clock=clock)
        self.search_lag = search_lag
        self.duplicate_ids = duplicate_ids
        self.clock = clock
        self.custom_fields: dict[str, dict[str, str]] = {resource: {} for resource in self.resources}
        # resource -> id -> [(visible from, the record as indexed, None once gone)]
        self._index: dict[str, dict[int, list[tuple[float, Record | None]]]] = {
            resource: {} for resource in self.resources
        }

    def define_custom_field(self, resource: str, name: str, type: str = "custom_text") -> None:
        """Add a custom field to what ``/contact_fields`` or ``/company_fields`` lists, as an
        admin would; records may then carry it under ``custom_fields`` and searches name it."""
        self.declare_field(DeclaredField(resource, name, type))

    def declare_field(self, declared: DeclaredField) -> None:
        """A custom contact or company field: a lower-case name (``cf_`` prefixed or not, kept as
        given), one of Freshdesk's types (``facts.CUSTOM_TYPES``) or a generic name for one.
        Freshdesk has no unique custom field: ``unique`` is refused."""
        resource = _OBJECT_NAMES.get(declared.object)
        if resource is None:
            raise SchemaRefused(
                f"Freshdesk has no object {declared.object!r} with custom fields; expected contacts or companies"
            )
        if not _NAME.match(declared.name):
            raise SchemaRefused(f"{declared.name!r} is not a Freshdesk field name (lower-case letters, digits and _)")
        if declared.name in FIELDS[resource]:
            raise SchemaRefused(f"{declared.name!r} is a standard {resource} field, not a custom one")
        kind = facts.GENERIC_TYPES.get(declared.type, declared.type)
        if kind not in facts.CUSTOM_TYPES:
            raise SchemaRefused(
                f"unknown Freshdesk field type {declared.type!r}; expected one of: {', '.join(facts.CUSTOM_TYPES)}"
            )
        if declared.unique:
            raise SchemaRefused(f"Freshdesk custom fields cannot be unique ({resource}.{declared.name})")
        known = self.custom_fields[resource].get(declared.name)
        if known is not None and known != kind:
            raise SchemaRefused(f"{resource}.{declared.name} is already a {known} field")
        self.custom_fields[resource][declared.name] = kind

    def set_limits(self, limits: Limits) -> None:
        """The vendor limits (``SandboxServer(limits="vendor")``) turn the plan's look-up
        sub-limit on as well."""
        super().set_limits(limits)
        self.lookups.enforce = limits == self.vendor_limits

    def reset(self) -> None:
        super().reset()
        self.lookups.reset()
        self.custom_fields = {resource: {} for resource in self.resources}
        self._index = {resource: {} for resource in self.resources}

    # -- vendor shapes -----------------------------------------------------------

    def authenticate(self, request: SandboxRequest) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, _ = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user in self.api_keys

    def unauthorized_response(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(
            401, {"code": "invalid_credentials", "message": "You have to be logged in to perform this action."}
        )

    def error_response(self, status: int, message: str) -> SandboxResponse:
        # Assumed: errors other than validation carry {"code", "message"}.
        codes = {404: "not_found", 405: "method_not_allowed", 429: "rate_limit_exceeded"}
        return json_response(status, {"code": codes.get(status, "invalid_request"), "message": message})

    def unmatched_response(self, request: SandboxRequest) -> SandboxResponse:
        return self.error_response(404, f"No route for {request.method} {request.path}")

    def rate_limited_response(self, windows: list[WindowState]) -> SandboxResponse:
        minute = next((window for window in windows if window.name == "minute"), None)
        return self._too_many(minute.reset_after if minute else 60.0)

    def _too_many(self, reset_after: float) -> SandboxResponse:
        response = self.error_response(429, "You have exceeded the limit of requests per minute")
        response.headers["Retry-After"] = str(max(1, math.ceil(reset_after)))
        return response

    def rate_limit_headers(self, windows: list[WindowState], limited: bool) -> dict[str, str]:
        minute = next((window for window in windows if window.name == "minute"), None)
        if minute is None:
            return {}
        return {
            facts.HEADER_TOTAL: str(minute.limit),
            facts.HEADER_REMAINING: str(minute.remaining),
            facts.HEADER_USED: "0" if limited else "1",
        }

    def _lookup(self) -> None:
        """Count a list or filter request against the plan's "Contacts List" sub-limit.
        Assumed (stricter): the sub-limit covers the filter API and company lists too."""
        count = self.lookups.hit()
        if not count.allowed:
            raise RequestRejected(429, "", self._too_many(count.reset_after))

    # -- routes --------------------------------------------------------------------

    @route("POST", rf"/{_RESOURCE}", "{resource}.create")
    def create(self, request: SandboxRequest, resource: str) -> SandboxResponse:
        fields = self._fields(resource, self.json_object(request))
        now = _now()
        record = self._validated(resource, {**_defaults(resource), **fields}, own_id=None)
        created = self.store.insert(resource, {**record, "created_at": now, "updated_at": now})
        self._indexed(resource, created)
        return json_response(201, created)

    @route("GET", rf"/{_RECORD}", "{resource}.view")
    def view(self, request: SandboxRequest, resource: str, record_id: str) -> SandboxResponse:
        return json_response(200, self._existing(resource, record_id, allow_deleted=True))

    @route("PUT", rf"/{_RECORD}", "{resource}.update")
    def update(self, request: SandboxRequest, resource: str, record_id: str) -> SandboxResponse:
        fields = self._fields(resource, self.json_object(request))
        existing = self._existing(resource, record_id)
        merged = {**existing, **fields}
        if "custom_fields" in fields:  # custom fields merge key by key
            merged["custom_fields"] = {**(existing.get("custom_fields") or {}), **fields["custom_fields"]}
        record = self._validated(resource, merged, own_id=existing["id"])
        record["updated_at"] = _now()
        updated = self.store.replace(resource, existing["id"], record)
        self._indexed(resource, updated)
        return json_response(200, updated)

    @route("DELETE", rf"/{_RECORD}", "{resource}.delete")
    def delete(self, request: SandboxRequest, resource: str, record_id: str) -> SandboxResponse:
        """A contact goes to the trash ("Delete a Contact": a soft delete); a company is removed
        for good and its contacts keep no ``company_id`` ("Delete a Company")."""
        existing = self._existing(resource, record_id)
        if resource == "contacts":
            self.store.replace(resource, existing["id"], {**existing, "deleted": True, "updated_at": _now()})
        else:
            self.store.delete(resource, existing["id"])
            for contact in self.store.find("contacts", lambda c: c.get("company_id") == existing["id"]):
                self.store.replace("contacts", contact["id"], {**contact, "company_id": None})
        self._unindexed(resource, existing["id"])
        return SandboxResponse(status=204)

    @route("PUT", r"/contacts/(?P<record_id>[^/]+)/restore", "contacts.restore")
    def restore(self, request: SandboxRequest, record_id: str) -> SandboxResponse:
        """``PUT /contacts/<id>/restore`` ("Restore a Contact"): a trashed contact comes back,
        204 and no body. Assumed (stricter): a contact not in the trash is refused, 400
        ``invalid_value``; the docs say only that the contact must have been soft deleted."""
        existing = self._existing("contacts", record_id, allow_deleted=True)
        if not existing.get("deleted"):
            raise ValidationFailed([_error("id", "The contact is not deleted", "invalid_value")])
        restored = self.store.replace("contacts", existing["id"], {**existing, "deleted": False, "updated_at": _now()})
        self._indexed("contacts", restored)
        return SandboxResponse(status=204)

    @route("DELETE", r"/contacts/(?P<record_id>[^/]+)/hard_delete", "contacts.hard_delete")
    def hard_delete(self, request: SandboxRequest, record_id: str) -> SandboxResponse:
        """ "Permanently Delete a Contact": a trashed contact, or any contact with ``force=true``
        ("mandatory" for one not soft deleted). Assumed: without it, 400 ``missing_field`` on
        ``force``; a ``force`` other than true/false is 400 ``datatype_mismatch``."""
        existing = self._existing("contacts", record_id, allow_deleted=True)
        force = request.query.get("force", "false").lower()
        if force not in ("true", "false"):
            raise ValidationFailed([_error("force", "It should be a/an Boolean", "datatype_mismatch")])
        if not existing.get("deleted") and force != "true":
            raise ValidationFailed(
                [
                    _error(
                        "force",
                        "It should be true to permanently delete a contact that is not deleted",
                        "missing_field",
                    )
                ]
            )
        self.store.delete("contacts", existing["id"])
        self._unindexed("contacts", existing["id"])
        return SandboxResponse(status=204)

    @route("GET", rf"/{_RESOURCE}", "{resource}.list")
    def index(self, request: SandboxRequest, resource: str) -> SandboxResponse:
        """The documented list filters only (``facts.LIST_FILTERS``); several are ANDed.
        Assumed: ``state`` gives the contacts in that state only (``deleted``: the trash)."""
        filters = {key: value for key, value in request.query.items() if key not in ("page", "per_page")}
        errors = [
            _error(key, "Unexpected/invalid field in request", "invalid_field")
            for key in filters
            if key not in LIST_FILTERS[resource]
        ]
        if errors:
            raise ValidationFailed(errors)
        page, per_page = _paging(request.query, _DEFAULT_PER_PAGE, _MAX_PER_PAGE)
        predicate = _list_predicate(filters)
        self._lookup()
        found = self.store.find(resource, predicate)
        chunk = found[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(found):
            query = urlencode({**request.query, "page": page + 1, "per_page": per_page})
            headers["Link"] = f'</api/v2/{resource}?{query}>; rel="next"'
        return json_response(200, chunk, headers)

    @route("GET", r"/(?P<kind>contact|company)_fields", "{kind}_fields")
    def field_list(self, request: SandboxRequest, kind: str) -> SandboxResponse:
        """The resource's fields, a bare list: standard ones (``default: true``), then custom
        ones under their names and types. Assumed: each entry's shape beyond ``name``,
        ``label``, ``default``, ``type`` [sec]."""
        resource = "contacts" if kind == "contact" else "companies"
        standard = [
            {"name": n, "label": n.replace("_", " ").capitalize(), "default": True, "type": f"default_{n}"}
            for n in sorted(FIELDS[resource])
            if n != "custom_fields"
        ]
        custom = [
            {"name": n, "label": n.removeprefix("cf_").replace("_", " ").capitalize(), "default": False, "type": t}
            for n, t in self.custom_fields[resource].items()
        ]
        now = _now()
        fields = [
            {"id": i + 1, **f, "position": i + 1, "created_at": now, "updated_at": now}
            for i, f in enumerate(standard + custom)
        ]
        return json_response(200, fields)

    @route("GET", rf"/search/{_RESOURCE}", "{resource}.search")
    def search(self, request: SandboxRequest, resource: str) -> SandboxResponse:
        """The filter API: ``query`` (required, in double quotes, at most 512 characters)
        and ``page`` (1 to 10); 30 results a page with the ``total``. Deleted contacts are
        not included; a write shows only once indexed (``search_lag``)."""
        unknown = [key for key in request.query if key not in ("query", "page")]
        if unknown:
            raise ValidationFailed(
                [_error(key, "Unexpected/invalid field in request", "invalid_field") for key in unknown]
            )
        if "query" not in request.query:
            raise ValidationFailed([_error("query", "It should be a/an String", "missing_field")])
        predicate = parse_query(request.query["query"], self._searchable(resource))
        page, _ = _paging(request.query, _SEARCH_PAGE, _SEARCH_PAGE)
        if page > _SEARCH_PAGES:
            raise ValidationFailed([_error("page", f"It should be between 1 and {_SEARCH_PAGES}", "invalid_value")])
        self._lookup()
        found = [record for record in self._searchable_records(resource) if predicate(record)]
        return json_response(
            200, {"results": found[(page - 1) * _SEARCH_PAGE : page * _SEARCH_PAGE], "total": len(found)}
        )

    # -- the search index ------------------------------------------------------------

    def after_restore(self) -> None:  # records put back by a restarted sandbox are searchable at once
        self._index = {r: {rec["id"]: [(float("-inf"), rec)] for rec in self.store.all(r)} for r in self.resources}

    def _indexed(self, resource: str, record: Record) -> None:
        self._index[resource].setdefault(record["id"], []).append((self.clock() + self.search_lag, record))

    def _unindexed(self, resource: str, record_id: int) -> None:
        self._index[resource].setdefault(record_id, []).append((self.clock() + self.search_lag, None))

    def _searchable_records(self, resource: str) -> list[Record]:
        """Each record as the index holds it now: its latest version indexed by now."""
        now, found = self.clock(), []
        for record_id in sorted(self._index[resource]):
            versions = [record for since, record in self._index[resource][record_id] if since <= now]
            if versions and versions[-1] is not None and not versions[-1].get("deleted"):
                found.append(versions[-1])
        return found

    def _searchable(self, resource: str) -> dict[str, str]:
        """Field name -> its type (boolean, number, date, string) for the filter API."""
        kinds = {"custom_number": "number", "custom_checkbox": "boolean", "custom_date": "date"}
        custom = {
            name: kinds.get(kind, "string")
            for name, kind in self.custom_fields[resource].items()
            if kind in facts.SEARCHABLE_CUSTOM_TYPES
        }
        return {**facts.SEARCH_FIELDS[resource], **custom}

    # -- records -------------------------------------------------------------------

    def _existing(self, resource: str, record_id: str, allow_deleted: bool = False) -> Record:
        record = self.store.get(resource, int(record_id)) if record_id.isdigit() else None
        if record is None or (record.get("deleted") and not allow_deleted):
            # Assumed: Freshdesk answers a missing record with 404 and no meaningful body.
            raise RequestRejected(404, "", SandboxResponse(status=404))
        return record

    def _fields(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        errors = [
            _error(key, "Unexpected/invalid field in request", "invalid_field")
            for key in body
            if key not in FIELDS[resource]
        ]
        errors += _type_errors(body)
        if isinstance(body.get("custom_fields"), dict):
            errors += _custom_errors(self.custom_fields[resource], body["custom_fields"])
        if errors:
            raise ValidationFailed(errors)
        return body

    def _validated(self, resource: str, record: Record, own_id: int | None) -> Record:
        """Field errors first (400, every one found); then a value another record holds:
        409 ``duplicate_value``, naming each field (Freshdesk's "409 Conflict")."""
        errors = _required_errors(resource, record)
        company_id = record.get("company_id") if resource == "contacts" else None
        if company_id is not None and self.store.get("companies", int(company_id)) is None:
            errors.append(_error("company_id", "There is no company matching the given company_id", "invalid_value"))
        if errors:
            raise ValidationFailed(errors)
        duplicates = self._unique_errors(resource, record, own_id)
        if duplicates:
            raise ValidationFailed(duplicates, status=409)
        return record

    def _unique_errors(self, resource: str, record: Record, own_id: int | None) -> list[dict[str, Any]]:
        """Emails (primary and other) are unique across contacts, trashed ones included (a
        trashed contact keeps them until it is permanently deleted); ``unique_external_id``
        too; a company's name is unique. Compared ignoring case. With ``duplicate_ids`` a
        contact's error names the holder in ``additional_info.user_id``."""
        others = self.store.find(resource, lambda other: other["id"] != own_id)
        errors: list[dict[str, Any]] = []
        if resource == "contacts":
            holders = {email: other["id"] for other in others for email in _emails(other)}
            for email in _emails(record):
                if email in holders:
                    errors.append(self._duplicate("email", holders[email]))
            external = _folded(record.get("unique_external_id"))
            holder = next(
                (o["id"] for o in others if external and _folded(o.get("unique_external_id")) == external), None
            )
            if holder is not None:
                errors.append(self._duplicate("unique_external_id", holder))
        else:
            if _folded(record.get("name")) in {_folded(o.get("name")) for o in others}:
                errors.append(_error("name", "It should be a unique value", "duplicate_value"))
        return errors

    def _duplicate(self, field: str, holder: int) -> dict[str, Any]:
        error: dict[str, Any] = {"field": field, "message": "It should be a unique value", "code": "duplicate_value"}
        if self.duplicate_ids:
            error = {
                "field": field,
                "additional_info": {"user_id": holder},
                "message": error["message"],
                "code": error["code"],
            }
        return error


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _defaults(resource: str) -> Record:
    if resource == "contacts":
        return {
            "active": False,
            "name": None,
            "email": None,
            "phone": None,
            "mobile": None,
            "twitter_id": None,
            "unique_external_id": None,
            "other_emails": [],
            "company_id": None,
            "job_title": None,
            "language": "en",
            "time_zone": "Eastern Time (US & Canada)",
            "tags": [],
            "custom_fields": {},
        }
    return {"name": None, "description": None, "domains": [], "note": None, "industry": None, "custom_fields": {}}


def _type_errors(body: dict[str, Any]) -> list[dict[str, str]]:
    errors = []
    for key, value in body.items():
        if key in STRING_LISTS and not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
            errors.append(_error(key, "It should be an Array of Strings", "datatype_mismatch"))
        elif key == "custom_fields" and not isinstance(value, dict):
            errors.append(_error(key, "It should be a/an key/value pair", "datatype_mismatch"))
        elif key == "company_id" and value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            errors.append(_error(key, "It should be a/an Positive Integer", "datatype_mismatch"))
        elif (
            key in ("name", "email", "phone", "mobile", "unique_external_id", "twitter_id")
            and value is not None
            and not isinstance(value, str)
        ):
            errors.append(_error(key, "It should be a/an String", "datatype_mismatch"))
        elif key == "email" and value is not None and not _EMAIL.match(value):
            errors.append(_error(key, "It should be in the 'valid email address' format", "invalid_value"))
    for email in body.get("other_emails") or [] if isinstance(body.get("other_emails"), list) else []:
        if isinstance(email, str) and not _EMAIL.match(email):
            errors.append(
                _error(
                    "other_emails",
                    "It should contain elements that are in the 'valid email address' format",
                    "invalid_value",
                )
            )
    return errors


def _custom_errors(declared: dict[str, str], values: dict[str, Any]) -> list[dict[str, str]]:
    """Custom fields must be defined in the account and hold a value of their type (null
    clears). Assumed: the field named in the error is the custom field's own name."""
    errors = []
    for name, value in values.items():
        kind = declared.get(name)
        if kind is None:
            errors.append(_error(name, "Unexpected/invalid field in request", "invalid_field"))
        elif value is not None and not _fits(kind, value):
            errors.append(_error(name, f"It should be a/an {_TYPE_WORDS.get(kind, 'String')}", "datatype_mismatch"))
    return errors


_TYPE_WORDS = {
    "custom_number": "Integer",
    "custom_decimal": "Number",
    "custom_checkbox": "Boolean",
    "custom_date": "date in the format YYYY-MM-DD",
}


def _fits(kind: str, value: Any) -> bool:
    if kind == "custom_number":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "custom_decimal":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "custom_checkbox":
        return isinstance(value, bool)
    if kind == "custom_date":
        return isinstance(value, str) and bool(_DATE.match(value))
    return isinstance(value, str)


def _required_errors(resource: str, record: Record) -> list[dict[str, str]]:
    errors = []
    if not isinstance(record.get("name"), str) or not record["name"].strip():
        errors.append(_error("name", "It should be a/an String", "missing_field"))
    if resource == "contacts" and not any(record.get(key) for key in CONTACT_IDENTIFIERS):
        message = f"Please fill at least 1 of {', '.join(CONTACT_IDENTIFIERS)} fields"
        errors.append(_error("requester_id", message, "missing_field"))
    return errors


def _folded(value: Any) -> str | None:
    return str(value).strip().lower() if value not in (None, "") else None


def _emails(record: Record) -> list[str]:
    found = [record.get("email"), *(record.get("other_emails") or [])]
    return [folded for folded in map(_folded, found) if folded]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _paging(query: dict[str, str], default: int, maximum: int) -> tuple[int, int]:
    try:
        page, per_page = int(query.get("page", 1)), int(query.get("per_page", default))
    except ValueError:
        raise ValidationFailed([_error("page", "It should be a/an Positive Integer", "datatype_mismatch")]) from None
    if page < 1 or not 1 <= per_page <= maximum:
        raise ValidationFailed(
            [_error("per_page", f"It should be a Positive Number less than or equal to {maximum}", "invalid_value")]
        )
    return page, per_page


# ---------------------------------------------------------------------------
# Matching: list filters and the search query language
# ---------------------------------------------------------------------------


def _field(record: Record, name: str) -> Any:
    """A top-level field (``tag`` reads ``tags``, ``domain`` ``domains``), else a custom field
    of that name."""
    source = facts.SEARCH_FIELD_SOURCES.get(name, name)
    if source in record and source != "custom_fields":
        return record[source]
    return (record.get("custom_fields") or {}).get(name)


def _equals(record: Record, name: str, wanted: Any) -> bool:
    """Equal as text ignoring case; emails also match ``other_emails``; a list field matches
    when any element does; a date field on its day."""
    if name == "email":
        return wanted is not None and _folded(wanted) in _emails(record)
    value = _field(record, name)
    if wanted is None:
        return value in (None, "", [])
    values = value if isinstance(value, list) else [value]
    if name in ("created_at", "updated_at"):
        values = [str(item)[:10] for item in values if item is not None]
    return any(_text(item).lower() == _text(wanted).lower() for item in values if item is not None)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _list_predicate(filters: dict[str, str]) -> Callable[[Record], bool]:
    """``GET /contacts`` filters: exact values, ``state``, ``_updated_since``; without
    ``state=deleted`` the trash is left out."""
    state = filters.get("state")
    if state is not None and state not in facts.CONTACT_STATES:
        raise ValidationFailed(
            [_error("state", f"It should be one of these values: '{','.join(facts.CONTACT_STATES)}'", "invalid_value")]
        )
    since = None
    if "_updated_since" in filters:
        since = _timestamp(filters["_updated_since"])
        if since is None:
            raise ValidationFailed(
                [_error("_updated_since", "It should be in the 'valid date time' format", "invalid_value")]
            )
    if "company_id" in filters and not filters["company_id"].isdigit():
        raise ValidationFailed([_error("company_id", "It should be a/an Positive Integer", "datatype_mismatch")])
    exact = {key: value for key, value in filters.items() if key not in ("state", "_updated_since")}

    def keep(record: Record) -> bool:
        if bool(record.get("deleted")) != (state == "deleted"):
            return False
        if state == "verified" and not record.get("active"):
            return False
        if state == "unverified" and record.get("active"):
            return False
        if state == "blocked":
            return False  # the emulator blocks no contact
        if since is not None and (_timestamp(str(record.get("updated_at"))) or since) < since:
            return False
        return all(_equals(record, key, value) for key, value in exact.items())

    return keep


def _timestamp(text: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------------------
# The filter API's query language
# ---------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:(?P<open>\()|(?P<close>\))|(?P<string>'[^']*')|(?P<number>-?\d+(?:\.\d+)?)(?![\w.])"""
    r"""|(?P<op>:[<>]|:)|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"""
)

Predicate = Callable[[Record], bool]


def _invalid(message: str, field: str = "query") -> ValidationFailed:
    return ValidationFailed([_error(field, message, "invalid_value")])


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        if not text[position:].strip():
            break
        found = _TOKEN.match(text, position)
        if not found or found.end() == position:
            raise _invalid(f"Invalid query near {text[position : position + 20]!r}")
        kind = found.lastgroup or ""
        tokens.append((kind, found.group(kind)))
        position = found.end()
    return tokens


def parse_query(query: str, fields: dict[str, str] | None = None) -> Predicate:
    """A predicate for a filter API query: ``"(tag:'vip' OR company_id:12) AND
    created_at:>'2024-01-01'"`` (the double quotes around the whole included).

    Grammar (developers.freshdesk.com/api "Filter Contacts"): terms ``field:value``,
    ``field:>value`` (greater than or equal) and ``field:<value`` (less than or equal) on
    number and date fields only; values ``'text'`` (no escape is documented: a quote ends the
    text), numbers, ``true``/``false``, ``null``; ``AND`` binds tighter than ``OR``;
    parentheses group. ``fields`` (name -> boolean|number|date|string) are the names a query
    may use; any other is refused with ``invalid_field`` (default: the contact fields).
    """
    fields = fields if fields is not None else facts.SEARCH_FIELDS["contacts"]
    if len(query) < 2 or not (query.startswith('"') and query.endswith('"')):
        raise _invalid("It should be a string wrapped in double quotes")
    if len(query) > _QUERY_MAX + 2:
        raise _invalid(f"It should have at most {_QUERY_MAX} characters")
    tokens = _tokens(query[1:-1])
    if not tokens:
        raise _invalid("It should not be blank")
    parser = _Parser(tokens, fields)
    predicate = parser.expression()
    if parser.position != len(tokens):
        raise _invalid(f"Unexpected {tokens[parser.position][1]!r} in query")
    return predicate


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], fields: dict[str, str]) -> None:
        self.tokens, self.fields, self.position = tokens, fields, 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def take(self, kind: str) -> str:
        found_kind, text = self.peek()
        if found_kind != kind:
            raise _invalid(
                f"Expected {kind} in query, found {text!r}" if text else f"Expected {kind} at the end of the query"
            )
        self.position += 1
        return text

    def expression(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek() == ("word", "OR"):
            self.position += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda record: any(part(record) for part in parts))

    def conjunction(self) -> Predicate:
        parts = [self.factor()]
        while self.peek() == ("word", "AND"):
            self.position += 1
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else (lambda record: all(part(record) for part in parts))

    def factor(self) -> Predicate:
        if self.peek()[0] == "open":
            self.position += 1
            inner = self.expression()
            self.take("close")
            return inner
        name = self.take("word")
        if name in ("AND", "OR"):
            raise _invalid(f"Unexpected {name} in query")
        if name not in self.fields:
            raise ValidationFailed([_error(name, "Unexpected/invalid field in request", "invalid_field")])
        operator = self.take("op")
        kind, text = self.peek()
        self.position += 1
        return self.term(name, self.fields[name], operator, kind, text)

    def term(self, name: str, field_type: str, operator: str, kind: str, text: str) -> Predicate:
        if kind == "word" and text == "null" and operator == ":":
            return lambda record: _equals(record, name, None)
        value = _value(name, field_type, kind, text)
        if operator == ":":
            return lambda record: _equals(record, name, value)
        if field_type not in ("number", "date"):
            raise _invalid(f"{operator} can only be used with number and date fields, not {name}")

        def compare(record: Record) -> bool:
            current = _field(record, name)
            if current in (None, ""):
                return False
            current = str(current)[:10] if field_type == "date" else current
            try:
                return current >= value if operator == ":>" else current <= value
            except TypeError:
                return False

        return compare


def _value(name: str, field_type: str, kind: str, text: str) -> Any:
    """A literal of the field's type; a mismatch is refused (the stricter reading)."""
    if field_type == "boolean" and kind == "word" and text in ("true", "false"):
        return text == "true"
    if field_type == "number" and kind == "number":
        return float(text) if "." in text else int(text)
    if field_type == "date" and kind == "string" and _DATE.match(text[1:-1]):
        return text[1:-1]
    if field_type == "string" and kind == "string":
        return text[1:-1]
    wanted = {
        "boolean": "true or false",
        "number": "a number",
        "date": "a date as 'YYYY-MM-DD'",
        "string": "a string in single quotes",
    }
    raise _invalid(f"{name} should be {wanted[field_type]}, not {text!r}", field=name)
