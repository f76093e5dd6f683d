"""Freshdesk (API v2) emulator, served under ``/freshdesk``.

``<sandbox url>/freshdesk`` stands in for ``https://<domain>.freshdesk.com/api/v2``.

Endpoints: ``POST /contacts|/companies``, ``GET|PUT|DELETE /contacts/<id>|/companies/<id>``,
``DELETE /contacts/<id>/hard_delete``, ``GET /contacts`` and ``GET /companies`` (filters
``email``, ``mobile``, ``phone``, ``company_id``, ``unique_external_id``; ``page``/``per_page``
with a ``Link`` header), ``GET /search/contacts|companies?query="..."``. Auth: HTTP Basic
with the API key as user name (the password, conventionally ``X``, is not checked).

Errors: 400 ``{"description": "Validation failed", "errors": [{"field", "message",
"code"}]}`` with the codes ``missing_field``, ``invalid_value``, ``duplicate_value``,
``datatype_mismatch``, ``invalid_field``. Rate limit per minute with ``X-RateLimit-Total``,
``X-RateLimit-Remaining`` and ``X-RateLimit-Used-CurrentRequest``; a 429 carries
``Retry-After``. Where the public docs are silent the behaviour chosen says "Assumed".
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from dbt_revsync.sandbox.framework import (
    Emulator,
    Limits,
    Record,
    RequestRejected,
    SandboxRequest,
    SandboxResponse,
    WindowState,
    json_response,
    route,
)

DEFAULT_API_KEY = "sandbox-freshdesk-key"

CONTACT_FIELDS = frozenset({
    "name", "email", "phone", "mobile", "twitter_id", "unique_external_id", "other_emails", "company_id",
    "view_all_tickets", "other_companies", "address", "avatar", "custom_fields", "description", "job_title",
    "language", "tags", "time_zone",
})
COMPANY_FIELDS = frozenset({
    "name", "description", "domains", "note", "health_score", "account_tier", "renewal_date", "industry",
    "custom_fields",
})
FIELDS = {"contacts": CONTACT_FIELDS, "companies": COMPANY_FIELDS}
LIST_FILTERS = {"contacts": ("email", "mobile", "phone", "company_id", "unique_external_id"), "companies": ()}
# A contact needs one of these (the notes: "[unc]"; the error names them all).
CONTACT_IDENTIFIERS = ("email", "mobile", "phone", "twitter_id", "unique_external_id")
STRING_LISTS = ("tags", "other_emails", "domains")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_RESOURCE = r"(?P<resource>contacts|companies)"
_RECORD = _RESOURCE + r"/(?P<record_id>[^/]+)"
_DEFAULT_PER_PAGE = 30
_MAX_PER_PAGE = 100
_SEARCH_PAGE = 30  # search answers 30 a page, 10 pages at most
_SEARCH_PAGES = 10
_QUERY_MAX = 512
_TERM = re.compile(r"\s*(?P<field>[A-Za-z_][A-Za-z0-9_]*)\s*:\s*(?P<value>'(?:[^'\\]|\\.)*'|-?\d+(?:\.\d+)?|null|true|false)\s*")


class ValidationFailed(RequestRejected):
    """A 400 in Freshdesk's shape, carrying every field error found."""

    def __init__(self, errors: list[dict[str, str]], status: int = 400) -> None:
        body = {"description": "Validation failed", "errors": errors}
        super().__init__(status, "Validation failed", json_response(status, body))


def _error(field: str, message: str, code: str) -> dict[str, str]:
    return {"field": field, "message": message, "code": code}


class FreshdeskEmulator(Emulator):
    """Freshdesk contacts and companies: no upsert, so clients filter then POST or PUT."""

    prefix = "freshdesk"
    resources = ("contacts", "companies")
    default_api_keys = (DEFAULT_API_KEY,)
    # Published per-minute limits: trial 50, Growth 200, Pro 400, Enterprise 700. Growth here.
    vendor_limits = Limits(per_minute=200)
    first_id = 43000000001
    auth_hint = "Authorization: Basic base64(<key>:X)"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.custom_fields: dict[str, list[str]] = {resource: [] for resource in self.resources}

    def define_custom_field(self, resource: str, name: str) -> None:
        """Add a custom field to what ``/contact_fields`` or ``/company_fields`` lists.
        Assumed: records may still carry any custom field (a real account refuses undefined ones)."""
        if name not in self.custom_fields[resource]:
            self.custom_fields[resource].append(name)

    def reset(self) -> None:
        super().reset()
        self.custom_fields = {resource: [] for resource in self.resources}

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
        return json_response(401, {"code": "invalid_credentials", "message": "You have to be logged in to perform this action."})

    def error_response(self, status: int, message: str) -> SandboxResponse:
        # Assumed: errors other than validation carry {"code", "message"}.
        codes = {404: "not_found", 405: "method_not_allowed", 429: "rate_limit_exceeded"}
        return json_response(status, {"code": codes.get(status, "invalid_request"), "message": message})

    def unmatched_response(self, request: SandboxRequest) -> SandboxResponse:
        return self.error_response(404, f"No route for {request.method} {request.path}")

    def rate_limited_response(self, windows: list[WindowState]) -> SandboxResponse:
        response = self.error_response(429, "You have exceeded the limit of requests per minute")
        minute = next((window for window in windows if window.name == "minute"), None)
        response.headers["Retry-After"] = str(max(1, math.ceil(minute.reset_after)) if minute else 60)
        return response

    def rate_limit_headers(self, windows: list[WindowState], limited: bool) -> dict[str, str]:
        minute = next((window for window in windows if window.name == "minute"), None)
        if minute is None:
            return {}
        return {
            "X-RateLimit-Total": str(minute.limit),
            "X-RateLimit-Remaining": str(minute.remaining),
            "X-RateLimit-Used-CurrentRequest": "0" if limited else "1",
        }

    # -- routes --------------------------------------------------------------------

    @route("POST", rf"/{_RESOURCE}", "{resource}.create")
    def create(self, request: SandboxRequest, resource: str) -> SandboxResponse:
        fields = self._fields(resource, self.json_object(request))
        now = _now()
        record = self._validated(resource, {**_defaults(resource), **fields}, own_id=None)
        return json_response(201, self.store.insert(resource, {**record, "created_at": now, "updated_at": now}))

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
        return json_response(200, self.store.replace(resource, existing["id"], record))

    @route("DELETE", rf"/{_RECORD}", "{resource}.delete")
    def delete(self, request: SandboxRequest, resource: str, record_id: str) -> SandboxResponse:
        existing = self._existing(resource, record_id)
        if resource == "contacts":  # a soft delete: the contact goes to the trash
            self.store.replace(resource, existing["id"], {**existing, "deleted": True})
        else:
            self.store.delete(resource, existing["id"])
        return SandboxResponse(status=204)

    @route("DELETE", r"/contacts/(?P<record_id>[^/]+)/hard_delete", "contacts.hard_delete")
    def hard_delete(self, request: SandboxRequest, record_id: str) -> SandboxResponse:
        existing = self._existing("contacts", record_id, allow_deleted=True)
        self.store.delete("contacts", existing["id"])
        return SandboxResponse(status=204)

    @route("GET", rf"/{_RESOURCE}", "{resource}.list")
    def index(self, request: SandboxRequest, resource: str) -> SandboxResponse:
        filters = {key: value for key, value in request.query.items() if key not in ("page", "per_page")}
        for key in filters:
            if key not in LIST_FILTERS[resource]:
                raise ValidationFailed([_error(key, "Unexpected/invalid field in request", "invalid_field")])
        found = self.store.find(resource, lambda r: not r.get("deleted") and all(_equals(r, k, v) for k, v in filters.items()))
        page, per_page = _paging(request.query, _DEFAULT_PER_PAGE, _MAX_PER_PAGE)
        chunk = found[(page - 1) * per_page: page * per_page]
        headers = {}
        if page * per_page < len(found):
            query = urlencode({**request.query, "page": page + 1, "per_page": per_page})
            headers["Link"] = f'</api/v2/{resource}?{query}>; rel="next"'
        return json_response(200, chunk, headers)

    @route("GET", r"/(?P<kind>contact|company)_fields", "{kind}_fields")
    def field_list(self, request: SandboxRequest, kind: str) -> SandboxResponse:
        """The resource's fields, a bare list: standard ones (``default: true``), then custom
        ones under their bare names. Assumed: each entry's shape beyond ``name``, ``label``,
        ``default`` [sec]."""
        resource = "contacts" if kind == "contact" else "companies"
        standard = [{"name": n, "label": n.replace("_", " ").capitalize(), "default": True, "type": "default"} for n in sorted(FIELDS[resource])
                    if n != "custom_fields"]
        custom = [{"name": n, "label": n.replace("_", " ").capitalize(), "default": False, "type": "custom_text"} for n in self.custom_fields[resource]]
        return json_response(200, [{"id": i + 1, **f} for i, f in enumerate(standard + custom)])

    @route("GET", rf"/search/{_RESOURCE}", "{resource}.search")
    def search(self, request: SandboxRequest, resource: str) -> SandboxResponse:
        predicate = parse_query(request.query.get("query", ""))
        found = self.store.find(resource, lambda r: not r.get("deleted") and predicate(r))
        page, _ = _paging(request.query, _SEARCH_PAGE, _SEARCH_PAGE)
        if page > _SEARCH_PAGES:
            raise ValidationFailed([_error("page", f"It should be between 1 and {_SEARCH_PAGES}", "invalid_value")])
        return json_response(200, {"results": found[(page - 1) * _SEARCH_PAGE: page * _SEARCH_PAGE], "total": len(found)})

    # -- records -------------------------------------------------------------------

    def _existing(self, resource: str, record_id: str, allow_deleted: bool = False) -> Record:
        record = self.store.get(resource, int(record_id)) if record_id.isdigit() else None
        if record is None or (record.get("deleted") and not allow_deleted):
            # Assumed: Freshdesk answers a missing record with 404 and no meaningful body.
            raise RequestRejected(404, "", SandboxResponse(status=404))
        return record

    @staticmethod
    def _fields(resource: str, body: dict[str, Any]) -> dict[str, Any]:
        errors = [_error(key, "Unexpected/invalid field in request", "invalid_field") for key in body if key not in FIELDS[resource]]
        errors += _type_errors(body)
        if errors:
            raise ValidationFailed(errors)
        return body

    def _validated(self, resource: str, record: Record, own_id: int | None) -> Record:
        errors = _required_errors(resource, record) + self._unique_errors(resource, record, own_id)
        if resource == "contacts" and record.get("company_id") is not None:
            if self.store.get("companies", int(record["company_id"])) is None:
                errors.append(_error("company_id", "There is no company matching the given company_id", "invalid_value"))
        if errors:
            raise ValidationFailed(errors)
        return record

    def _unique_errors(self, resource: str, record: Record, own_id: int | None) -> list[dict[str, str]]:
        """Emails (primary and other) are unique across contacts, deleted ones included;
        ``unique_external_id`` too; a company's name is unique. Compared ignoring case."""
        others = self.store.find(resource, lambda other: other["id"] != own_id)
        errors = []
        if resource == "contacts":
            taken = {email for other in others for email in _emails(other)}
            for email in _emails(record):
                if email in taken:
                    errors.append(_error("email", "It should be a unique value", "duplicate_value"))
            external = _folded(record.get("unique_external_id"))
            if external and external in {_folded(o.get("unique_external_id")) for o in others}:
                errors.append(_error("unique_external_id", "It should be a unique value", "duplicate_value"))
        else:
            if _folded(record.get("name")) in {_folded(o.get("name")) for o in others}:
                errors.append(_error("name", "It should be a unique value", "duplicate_value"))
        return errors


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _defaults(resource: str) -> Record:
    if resource == "contacts":
        return {"active": False, "name": None, "email": None, "phone": None, "mobile": None, "twitter_id": None,
                "unique_external_id": None, "other_emails": [], "company_id": None, "job_title": None,
                "language": "en", "time_zone": "Eastern Time (US & Canada)", "tags": [], "custom_fields": {}}
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
        elif key in ("name", "email", "phone", "mobile", "unique_external_id", "twitter_id") and value is not None and not isinstance(value, str):
            errors.append(_error(key, "It should be a/an String", "datatype_mismatch"))
        elif key == "email" and value is not None and not _EMAIL.match(value):
            errors.append(_error(key, "It should be in the 'valid email address' format", "invalid_value"))
    for email in body.get("other_emails") or [] if isinstance(body.get("other_emails"), list) else []:
        if isinstance(email, str) and not _EMAIL.match(email):
            errors.append(_error("other_emails", "It should contain elements that are in the 'valid email address' format", "invalid_value"))
    for key, value in (body.get("custom_fields") or {}).items() if isinstance(body.get("custom_fields"), dict) else ():
        if isinstance(value, (dict, list)):
            errors.append(_error(key, "It should be a/an String", "datatype_mismatch"))
    return errors


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
        raise ValidationFailed([_error("per_page", f"It should be a Positive Number less than or equal to {maximum}", "invalid_value")])
    return page, per_page


# ---------------------------------------------------------------------------
# Matching: list filters and the search query language
# ---------------------------------------------------------------------------


def _field(record: Record, name: str) -> Any:
    """A top-level field, else a custom field of that name (search names custom fields bare)."""
    if name in record:
        return record[name]
    return (record.get("custom_fields") or {}).get(name)


def _equals(record: Record, name: str, wanted: Any) -> bool:
    """Text comparison, ignoring case for emails (which also match ``other_emails``)."""
    if name == "email":
        return _folded(wanted) in _emails(record)
    value = _field(record, name)
    if wanted is None:
        return value in (None, "", [])
    values = value if isinstance(value, list) else [value]
    return any(_text(item) == _text(wanted) for item in values if item is not None)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_query(query: str) -> Any:
    """A predicate for ``"field:'text' AND other:12 OR x:null"`` (quotes around the whole).

    Supported: terms joined by ``AND``/``OR`` (AND binds tighter), no parentheses.
    Assumed: any stored field or custom field may be searched.
    """
    if len(query) > _QUERY_MAX + 2 or len(query) < 2 or not (query.startswith('"') and query.endswith('"')):
        raise ValidationFailed([_error("query", 'It should be a string wrapped in double quotes, at most 512 characters', "invalid_value")])
    groups: list[list[tuple[str, Any]]] = []
    for part in re.split(r"\s+OR\s+", query[1:-1].strip()):
        terms = []
        for term in re.split(r"\s+AND\s+", part.strip()):
            found = _TERM.fullmatch(term)
            if not found:
                raise ValidationFailed([_error("query", f"Invalid query term: {term!r}", "invalid_value")])
            terms.append((found.group("field"), _literal(found.group("value"))))
        groups.append(terms)
    return lambda record: any(all(_equals(record, name, value) for name, value in terms) for terms in groups)


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if text in ("null", "true", "false"):
        return {"null": None, "true": True, "false": False}[text]
    return float(text) if "." in text else int(text)
