"""Pipedrive API v2 emulator, served under ``/pipedrive`` (stands in for
``https://api.pipedrive.com/api/v2``).

Endpoints, for ``organizations``, ``persons`` and ``deals``: ``POST /<object>`` (answers 200),
``GET /<object>`` (``limit`` <= 500, opaque ``cursor``), ``GET|PATCH|DELETE /<object>/{id}``,
``GET /<object>/search`` (``term``, ``fields``, ``exact_match``, ``limit``, ``cursor``) and the
field lists ``GET /organizationFields``, ``/personFields``, ``/dealFields``. There is no
upsert and no batch write, as in v2. Auth: the ``x-api-token`` header.

Shapes follow Pipedrive's published v2 OpenAPI spec (tests/contract/specs): every answer is
``{success, data, additional_data}``; an error is ``{success: false, error, error_info,
data: null, additional_data: null}`` (plus ``code`` where Pipedrive sends one).
Checked: organization ``name`` and deal ``title`` are required; ``org_id``, ``person_id`` and
``owner_id`` must exist; custom fields live under ``custom_fields`` by their 40-character
key and must exist; option fields take option ids; a multi-option field refuses ``[]``
(``null`` clears). Deleting is soft: the record leaves lists, search and reads.

Rate limit: a rolling 2 s burst window (20 requests per api_token, the Essential plan),
enforced with the vendor limits and then reported on every answer in ``x-ratelimit-limit``,
``x-ratelimit-remaining`` and ``x-ratelimit-reset``; ``x-daily-requests-left`` always;
``x-token-cost`` gives each call's cost in tokens, and a ``token_budget`` (the company's
daily tokens) answers 429 once spent.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dbt_revsync.crms.pipedrive import facts, spec_check
from dbt_revsync.sandbox import (
    DeclaredField,
    Emulator,
    Limits,
    Record,
    RequestRejected,
    RollingWindow,
    Route,
    SandboxRequest,
    SandboxResponse,
    SchemaRefused,
    WindowState,
    json_response,
    route,
)

__all__ = [
    "COSTS",
    "DAILY_WRITES",
    "DEFAULT_TOKEN",
    "Field",
    "field_key",
    "FIELD_LISTS",
    "MAX_LIMIT",
    "OBJECTS",
    "OWNER_IDS",
    "PipedriveEmulator",
    "REFERENCES",
    "REQUIRED",
    "STANDARD_FIELDS",
    "WRITABLE",
]

DEFAULT_TOKEN = "sandbox-pipedrive-token"
OBJECTS = facts.OBJECTS
FIELD_LISTS = {name: obj for obj, name in facts.FIELD_LISTS.items()}
WINDOW_LIMIT, WINDOW_SECONDS = facts.BURST_WINDOW  # Essential plan, per api_token; 40 / 80 / 120 on the bigger plans
SEARCH_LIMIT, SEARCH_SECONDS = facts.SEARCH_WINDOW
DAILY_WRITES = 10_000  # POST/PUT a day per user (x-daily-requests-left)
MAX_LIMIT = 500
OWNER_IDS = (1,)  # the account's one user
REQUIRED = {"organizations": "name", "deals": "title"}
REFERENCES = {"org_id": "organizations", "person_id": "persons"}
_OBJ = r"/(?P<obj>organizations|persons|deals)"
# Token cost per call (x-token-cost in the v2 spec).
COSTS = {"list": 10, "create": 5, "get": 1, "update": 5, "delete": 3, "search": 20, "fields": 10}
STANDARD_FIELDS = {
    "organizations": [
        ("Name", "name", "varchar"),
        ("Owner", "owner_id", "user"),
        ("Address", "address", "address"),
        ("Website", "website", "varchar"),
        ("Employee count", "employee_count", "int"),
    ],
    "persons": [
        ("Name", "name", "varchar"),
        ("Owner", "owner_id", "user"),
        ("Organization", "org_id", "org"),
        ("Email", "emails", "varchar"),
        ("Phone", "phones", "phone"),
        ("Job title", "job_title", "varchar"),
    ],
    "deals": [
        ("Title", "title", "varchar"),
        ("Owner", "owner_id", "user"),
        ("Organization", "org_id", "org"),
        ("Contact person", "person_id", "people"),
        ("Value", "value", "monetary"),
        ("Currency", "currency", "varchar"),
        ("Expected close date", "expected_close_date", "date"),
        ("Status", "status", "status"),
    ],
}
WRITABLE = {
    "organizations": {
        "name",
        "owner_id",
        "add_time",
        "visible_to",
        "label_ids",
        "address",
        "website",
        "linkedin",
        "industry",
        "annual_revenue",
        "employee_count",
        "custom_fields",
    },
    "persons": {
        "name",
        "owner_id",
        "org_id",
        "add_time",
        "emails",
        "phones",
        "visible_to",
        "label_ids",
        "postal_address",
        "notes",
        "im",
        "birthday",
        "job_title",
        "marketing_status",
        "custom_fields",
    },
    "deals": {
        "title",
        "owner_id",
        "person_id",
        "org_id",
        "pipeline_id",
        "stage_id",
        "value",
        "currency",
        "is_deleted",
        "is_archived",
        "archive_time",
        "status",
        "probability",
        "lost_reason",
        "visible_to",
        "close_time",
        "won_time",
        "lost_time",
        "expected_close_date",
        "label_ids",
        "custom_fields",
    },
}


@dataclass(frozen=True)
class Field:
    name: str
    code: str
    field_type: str
    is_custom: bool = False
    options: tuple[tuple[int, str], ...] = ()

    def answer(self) -> dict[str, Any]:
        return {
            "field_name": self.name,
            "field_code": self.code,
            "field_type": self.field_type,
            "is_custom_field": self.is_custom,
            "is_optional_response_field": False,
            "options": [{"id": i, "label": label} for i, label in self.options] if self.options else None,
        }


def field_key(obj: str, name: str) -> str:
    """A custom field's 40-character key (Pipedrive's are random; these are stable)."""
    return hashlib.sha1(f"{obj}:{name}".encode()).hexdigest()


class PipedriveEmulator(Emulator):
    """Pipedrive organizations, persons and deals (API v2), with search and field lists."""

    prefix = "pipedrive"
    resources = OBJECTS
    default_api_keys = (DEFAULT_TOKEN,)
    vendor_limits = Limits(per_minute=None, per_hour=None)
    first_id = 1
    auth_hint = "x-api-token: <token>"

    def __init__(
        self,
        *,
        api_keys: Iterable[str] | None = None,
        limits: Limits | None = None,
        window_limit: int = WINDOW_LIMIT,
        enforce_window: bool = False,
        token_budget: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(api_keys=api_keys, limits=limits, **kwargs)
        self._window = (window_limit, enforce_window)
        self.window = RollingWindow(window_limit, WINDOW_SECONDS, enforce=enforce_window)
        # Search has its own limit, always enforced: 10 requests per 2 s per token.
        self.search_window = RollingWindow(SEARCH_LIMIT, SEARCH_SECONDS, enforce=True)
        self.token_budget = token_budget  # the company's daily tokens; None: not enforced
        self.tokens_used = 0
        self.writes = 0
        self.fields = self._default_fields()

    # -- configuration -------------------------------------------------------------

    @staticmethod
    def _default_fields() -> dict[str, dict[str, Field]]:
        return {
            obj: {code: Field(name, code, kind) for name, code, kind in fields}
            for obj, fields in STANDARD_FIELDS.items()
        }

    def define_field(self, obj: str, name: str, field_type: str = "varchar", options: Iterable[str] = ()) -> str:
        """Add a custom field; returns its 40-character key. Options get ids from 1."""
        if obj not in OBJECTS:
            raise SchemaRefused(f"Pipedrive has no object {obj!r}; custom fields belong to {', '.join(OBJECTS)}")
        if field_type not in facts.FIELD_TYPES:
            raise SchemaRefused(
                f"Pipedrive has no field type {field_type!r}; expected one of {', '.join(facts.FIELD_TYPES)}"
            )
        if field_type in ("enum", "set") and not list(options):
            raise SchemaRefused(f"a Pipedrive {field_type} field needs options (POST /{facts.FIELD_LISTS[obj]})")
        if any(f.name.strip().lower() == name.strip().lower() for f in self.fields[obj].values()):
            raise SchemaRefused(f"{obj} already have a field named {name!r}")
        code = field_key(obj, name)
        numbered = tuple((index, label) for index, label in enumerate(options, start=1))
        self.fields[obj][code] = Field(name, code, field_type, is_custom=True, options=numbered)
        return code

    def declare_field(self, declared: DeclaredField) -> None:
        """A custom field of organizations, persons or deals, of a Pipedrive ``field_type``
        (``varchar``, ``double``, ``date``, ...). Pipedrive has no unique custom fields (any
        searchable field serves as an upsert key, and Pipedrive does not stop duplicates), so
        ``unique`` is refused; option fields (``enum``, ``set``) need options, which a
        declaration does not carry: use ``define_field``."""
        if declared.unique:
            raise SchemaRefused(
                f"Pipedrive custom fields cannot be unique ({declared.object}.{declared.name}); "
                "drop unique: any searchable field can be an upsert key"
            )
        self.define_field(declared.object, declared.name, declared.type)

    def set_limits(self, limits: Limits) -> None:
        """The vendor limits (``SandboxServer(limits="vendor")``) turn the 2 s window on."""
        super().set_limits(limits)
        self.window.enforce = limits is self.vendor_limits

    def reset(self) -> None:
        super().reset()
        limit, enforce = self._window
        self.window = RollingWindow(limit, WINDOW_SECONDS, enforce=enforce or self.window.enforce)
        self.search_window = RollingWindow(SEARCH_LIMIT, SEARCH_SECONDS, enforce=True)
        self.tokens_used = 0
        self.writes = 0
        self.fields = self._default_fields()

    # -- vendor shapes ---------------------------------------------------------------

    def authenticate(self, request: SandboxRequest) -> bool:
        return request.headers.get("x-api-token", "") in self.api_keys

    def unauthorized_response(self, request: SandboxRequest) -> SandboxResponse:
        return self._error(401, "unauthorized access", "Please check the API token (x-api-token header).")

    def error_response(self, status: int, message: str) -> SandboxResponse:
        info = {404: "The requested item was not found.", 429: "Please slow down: see the x-ratelimit-* headers."}
        return self._error(status, message, info.get(status, "Please check developers.pipedrive.com"))

    def _error(self, status: int, error: str, info: str, code: str | None = None) -> SandboxResponse:
        body: dict[str, Any] = {
            "success": False,
            "error": error,
            "error_info": info,
            "data": None,
            "additional_data": None,
        }
        if code:
            body["code"] = code
        return json_response(status, body)

    def rate_limited_response(self, windows: list[WindowState]) -> SandboxResponse:
        return self._error(429, "Request over limit", "Please slow down: see the x-ratelimit-* headers.")

    def unmatched_response(self, request: SandboxRequest) -> SandboxResponse:
        return self._error(
            404, f"Unknown method {request.method} {request.path}", "Please check developers.pipedrive.com"
        )

    def _respond(self, request: SandboxRequest, found: tuple[Route, dict[str, str]] | None) -> SandboxResponse:
        if not self.authenticate(request):
            return self.unauthorized_response(request)
        count = self.window.hit()
        cost = _cost(request.method, request.path)
        over_budget = self.token_budget is not None and self.tokens_used + cost > self.token_budget
        searching = request.method == "GET" and request.path.rstrip("/").endswith("/search")
        if not count.allowed or over_budget or (searching and not self.search_window.hit().allowed):
            response, cost = self.rate_limited_response([]), 0
        elif found is not None and (problems := self._spec_problems(request)):
            response = self._error(
                400, f"Validation failed: {'; '.join(problems)}", "Please check developers.pipedrive.com"
            )
        else:
            response = super()._respond(request, found)
            self.tokens_used += cost
            self.writes += request.method in ("POST", "PUT", "PATCH")
        if self.window.enforce:
            response.headers.update(
                {
                    "x-ratelimit-limit": str(count.limit),
                    "x-ratelimit-remaining": str(count.remaining),
                    "x-ratelimit-reset": str(max(1, math.ceil(count.reset_after))),
                }
            )
        response.headers.update(
            {
                "x-daily-requests-left": str(max(DAILY_WRITES - self.writes, 0)),
                "x-token-cost": str(cost),
            }
        )
        return response

    @staticmethod
    def _spec_problems(request: SandboxRequest) -> list[str]:
        """The request's query parameters and JSON body checked against the v2 spec's schemas."""
        key = spec_check.operation(request.method, request.path)
        if key is None:
            return []
        problems = spec_check.query_problems(key, request.query)
        if request.method in ("POST", "PATCH") and request.body:
            try:
                body = Emulator.json_body(request)
            except RequestRejected as exc:
                return [*problems, str(exc)]
            problems += spec_check.body_problems(key, body)
        return problems

    # -- routes ----------------------------------------------------------------------

    @route("GET", r"/(?P<list_name>organizationFields|personFields|dealFields)", "{list_name}.list")
    def field_list(self, request: SandboxRequest, list_name: str) -> SandboxResponse:
        fields = [f.answer() for f in self.fields[FIELD_LISTS[list_name]].values()]
        return self._page(request, fields)

    @route("POST", _OBJ, "{obj}.create")
    def create(self, request: SandboxRequest, obj: str) -> SandboxResponse:
        body = self._body(obj, request)
        required = REQUIRED.get(obj)
        if required and (not isinstance(body.get(required), str) or not body[required].strip()):
            raise RequestRejected(400, f"Validation failed: {required}: Required")
        now = _now()
        record = self._apply(
            obj, {"owner_id": OWNER_IDS[0], "add_time": now, "custom_fields": {}, "is_deleted": False}, body
        )
        record["update_time"] = now
        return self._ok(self._out(obj, self.store.insert(obj, record)))

    @route("GET", _OBJ, "{obj}.list")
    def list_records(self, request: SandboxRequest, obj: str) -> SandboxResponse:
        return self._page(request, [self._out(obj, r) for r in self._live(obj)])

    @route("GET", _OBJ + r"/search", "{obj}.search")
    def search(self, request: SandboxRequest, obj: str) -> SandboxResponse:
        term = request.query.get("term", "")
        exact = request.query.get("exact_match", "false") == "true"
        if len(term.strip()) < (1 if exact else 2):
            raise RequestRejected(400, "term must be at least 2 characters long (1 with exact_match)")
        fields = request.query.get("fields")
        items = []
        for record in self._live(obj):
            values = self._searchable(obj, record, fields)
            hit = any(v.lower() == term.lower() if exact else term.lower() in v.lower() for v in values)
            if hit:
                items.append({"result_score": 1.0 if exact else 0.5, "item": self._search_item(obj, record)})
        return self._page(request, items, wrap="items")

    @route("GET", _OBJ + r"/(?P<record_id>\d+)", "{obj}.get")
    def read(self, request: SandboxRequest, obj: str, record_id: str) -> SandboxResponse:
        return self._ok(self._out(obj, self._existing(obj, record_id)))

    @route("PATCH", _OBJ + r"/(?P<record_id>\d+)", "{obj}.update")
    def update(self, request: SandboxRequest, obj: str, record_id: str) -> SandboxResponse:
        existing = self._existing(obj, record_id)
        body = self._body(obj, request)
        if obj in REQUIRED and REQUIRED[obj] in body and not body[REQUIRED[obj]]:
            raise RequestRejected(400, f"Validation failed: {REQUIRED[obj]}: cannot be empty")
        record = self._apply(obj, existing, body)
        record["update_time"] = _now()
        return self._ok(self._out(obj, self.store.replace(obj, existing["id"], record)))

    @route("DELETE", _OBJ + r"/(?P<record_id>\d+)", "{obj}.delete")
    def delete(self, request: SandboxRequest, obj: str, record_id: str) -> SandboxResponse:
        existing = self._existing(obj, record_id)
        self.store.replace(obj, existing["id"], {**existing, "is_deleted": True, "update_time": _now()})
        return self._ok({"id": existing["id"]})

    # -- records ---------------------------------------------------------------------

    def _body(self, obj: str, request: SandboxRequest) -> dict[str, Any]:
        body = self.json_object(request)
        unknown = sorted(set(body) - WRITABLE[obj])
        if unknown:
            raise RequestRejected(400, f"Validation failed: unknown field(s): {', '.join(unknown)}")
        for key, target in REFERENCES.items():
            if body.get(key) is not None and not self._is_live(target, body[key]):
                raise RequestRejected(400, f"Validation failed: {key}: {target[:-1]} {body[key]!r} does not exist")
        if body.get("owner_id") is not None and body["owner_id"] not in OWNER_IDS:
            raise RequestRejected(400, f"Validation failed: owner_id: user {body['owner_id']!r} does not exist")
        if "value" in body and body["value"] is not None and not isinstance(body["value"], (int, float)):
            raise RequestRejected(400, "Validation failed: value: must be a number")
        for key in ("emails", "phones"):
            if key in body and not _contact_list(body[key]):
                raise RequestRejected(400, f"Validation failed: {key}: must be a list of {{value, primary, label}}")
        self._check_custom(obj, body.get("custom_fields"))
        return body

    def _check_custom(self, obj: str, custom: Any) -> None:
        if custom is None:
            return
        if not isinstance(custom, dict):
            raise RequestRejected(400, "Validation failed: custom_fields: must be an object")
        for code, value in custom.items():
            field = self.fields[obj].get(code)
            if field is None or not field.is_custom:
                raise RequestRejected(400, f"Validation failed: custom_fields: unknown field key {code!r}")
            option_ids = {i for i, _ in field.options}
            if field.field_type == "set" and value is not None:
                if not isinstance(value, list) or not value:
                    raise RequestRejected(
                        400,
                        f"Validation failed: custom_fields.{code}: a multiple option field takes a "
                        "non-empty list of option ids, or null to clear",
                    )
                if any(v not in option_ids for v in value):
                    raise RequestRejected(400, f"Validation failed: custom_fields.{code}: unknown option id in {value}")
            if field.field_type == "enum" and value is not None and value not in option_ids:
                raise RequestRejected(400, f"Validation failed: custom_fields.{code}: unknown option id {value!r}")
            if (
                field.field_type in ("int", "double", "monetary")
                and value is not None
                and not isinstance(value, (int, float))
            ):
                raise RequestRejected(400, f"Validation failed: custom_fields.{code}: must be a number")

    def _apply(self, obj: str, existing: Record, body: dict[str, Any]) -> Record:
        record = dict(existing)
        for key, value in body.items():
            if key == "custom_fields":
                record["custom_fields"] = {**(record.get("custom_fields") or {}), **value}
            else:
                record[key] = value
        return record

    def _live(self, obj: str) -> list[Record]:
        return self.store.find(obj, lambda r: not r.get("is_deleted"))

    def _is_live(self, obj: str, record_id: Any) -> bool:
        record = self.store.get(obj, record_id) if isinstance(record_id, int) else None
        return record is not None and not record.get("is_deleted")

    def _existing(self, obj: str, record_id: str) -> Record:
        record = self.store.get(obj, int(record_id))
        if record is None or record.get("is_deleted"):
            raise RequestRejected(404, f"{obj[:-1].capitalize()} not found")
        return record

    def _out(self, obj: str, record: Record) -> Record:
        out = dict(record)
        custom = {code: None for code, f in self.fields[obj].items() if f.is_custom}
        out["custom_fields"] = {**custom, **(record.get("custom_fields") or {})}
        return out

    def _searchable(self, obj: str, record: Record, fields: str | None) -> list[str]:
        """The values a search looks at: the object's searchable fields only (``fields``
        names one; none: all of them), and only custom fields of a searchable type."""
        chosen = {fields} if fields else set(facts.SEARCH_FIELDS[obj])
        values: list[Any] = []
        if chosen & {"name", "title"}:
            values.append(record.get("title" if obj == "deals" else "name"))
        if "address" in chosen and obj == "organizations":
            values.append(_address_text(record.get("address")))
        if "notes" in chosen and obj == "persons":
            values.append(record.get("notes"))
        if "email" in chosen:
            values += [e.get("value") for e in record.get("emails") or []]
        if "phone" in chosen:
            values += [p.get("value") for p in record.get("phones") or []]
        if "custom_fields" in chosen:
            values += [
                _address_text(v) if isinstance(v, dict) else v
                for code, v in (record.get("custom_fields") or {}).items()
                if self.fields[obj].get(code) and self.fields[obj][code].field_type in facts.SEARCHABLE_CUSTOM_TYPES
            ]
        return [_text(v) for v in values if v is not None]

    def _search_item(self, obj: str, record: Record) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": record["id"],
            "type": obj[:-1],
            "owner": {"id": record.get("owner_id", OWNER_IDS[0])},
            "custom_fields": [
                _text(_address_text(v) if isinstance(v, dict) else v)
                for v in (record.get("custom_fields") or {}).values()
                if v is not None
            ],
            "notes": [],
            "visible_to": record.get("visible_to", 3),
        }
        if obj == "deals":
            item.update(
                title=record.get("title") or "",
                value=record.get("value"),
                currency=record.get("currency"),
                status=record.get("status", "open"),
            )
        else:
            item["name"] = record.get("name") or ""
        if obj == "organizations" and _address_text(record.get("address")) is not None:
            item["address"] = _address_text(record.get("address"))
        if obj == "persons":
            item["emails"] = [e["value"] for e in record.get("emails") or []]
            item["phones"] = [p["value"] for p in record.get("phones") or []]
        return item

    def _page(self, request: SandboxRequest, rows: list[Any], wrap: str | None = None) -> SandboxResponse:
        try:
            limit = int(request.query.get("limit", 100))
        except ValueError:
            raise RequestRejected(400, "limit must be an integer") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise RequestRejected(400, f"limit must be between 1 and {MAX_LIMIT}")
        start = _decode_cursor(request.query.get("cursor"))
        chunk = rows[start : start + limit]
        next_cursor = _encode_cursor(start + limit) if start + limit < len(rows) else None
        data = {wrap: chunk} if wrap else chunk
        return json_response(200, {"success": True, "data": data, "additional_data": {"next_cursor": next_cursor}})

    def _ok(self, data: Any) -> SandboxResponse:
        return json_response(200, {"success": True, "data": data, "additional_data": None})

    def records(self, resource: str) -> list[Record]:
        """The live (not deleted) records of a resource."""
        return [self._out(resource, r) for r in self._live(resource)]

    def snapshot(self) -> dict[str, list[Record]]:
        return {obj: self.records(obj) for obj in OBJECTS}


def _address_text(value: Any) -> str | None:
    """The full address of an address object (``{"value": "<full address>", ...}``)."""
    return value.get("value") if isinstance(value, dict) else None


def _contact_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) and isinstance(v.get("value"), str) for v in value)


def _cost(method: str, path: str) -> int:
    parts = [p for p in path.split("/") if p]
    if not parts:
        return 0
    if parts[0] in FIELD_LISTS:
        return COSTS["fields"]
    if len(parts) == 2 and parts[1] == "search":
        return COSTS["search"]
    if len(parts) == 1:
        return COSTS["create"] if method == "POST" else COSTS["list"]
    return {"GET": COSTS["get"], "PATCH": COSTS["update"], "DELETE": COSTS["delete"]}.get(method, 0)


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("offset:"))
    except ValueError:
        raise RequestRejected(400, "cursor is not valid") from None


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
