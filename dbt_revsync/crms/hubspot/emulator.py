"""HubSpot CRM v3 emulator, served under ``/hubspot`` (stands in for ``https://api.hubapi.com``).

Endpoints, for ``contacts``, ``companies`` and ``deals`` under ``/crm/v3/objects/<object>``
(and the date-based ``/crm/objects/<YYYY-MM>/<object>``): ``POST`` (create), ``GET`` (list,
``limit`` <= 100 and an ``after`` cursor), ``GET|PATCH|DELETE /<id>`` (``?idProperty=`` to
address by a unique property), ``POST /batch/{create,read,update,upsert,archive}`` (at most
100 inputs) and ``POST /search`` (``filterGroups``, ``limit`` <= 200, ``after``); the
properties API ``GET /crm/v3/properties/<object>[/<name>]``. Auth: ``Authorization: Bearer <token>``.

As strict as HubSpot (facts.py names the source of each rule):
- reads (``GET``, ``batch/read``, ``search``) answer only the properties asked for (those
  with a value), plus ``hs_object_id``, ``createdate`` and the last-modified
  date; asking for none gives the object's default set;
- ``idProperty`` must be a property with unique values; a contact's ``email`` only where
  HubSpot documents it (reading, upserting): ``batch/update`` by email is refused with
  HubSpot's words; an email-keyed upsert has no partial results (one bad input fails all);
- a contact's email is stored in lower case and compared case-blind;
- search allows 4 requests a second (429 ``SECONDLY`` with vendor limits; search answers
  carry no rate headers);
- archived records are gone from reads, listed and read with ``archived=true``.

Shapes follow HubSpot's published OpenAPI specs (tests/contract/specs): records are
``{id, properties, createdAt, updatedAt, archived}`` with every property value a string;
errors are ``{status: "error", message, correlationId, category, errors, context}``;
a batch with some failures answers 207 with ``errors[]`` (each naming its inputs in
``context``: ``ids`` and, when sent, ``objectWriteTraceId``) and ``numErrors``.

Properties are typed (string, number, date, datetime, enumeration, bool): an unknown
property, a number that is not one, a date that is not midnight-UTC epoch milliseconds, an
option that is not defined, or an invalid email is a VALIDATION_ERROR. Unique properties
(a contact's ``email``, and any defined with ``unique=True``) answer CONFLICT when taken.
Batch create answers per input (207) only when every input carries an
``objectWriteTraceId`` (HubSpot's multi-status opt-in); otherwise one bad input fails the
whole batch with 400 and nothing is created.

Rate limit: a rolling 10 s window (100 requests, the Free/Starter figure), enforced with the
vendor limits and then reported on every answer in ``X-HubSpot-RateLimit-*`` headers (a
sandbox without limits reports none, so no client slows down for a window nobody enforces).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dbt_revsync.crms.hubspot import facts
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
    "BATCH_LIMIT",
    "DAILY_LIMIT",
    "DEFAULT_TOKEN",
    "HubSpotEmulator",
    "LIST_LIMIT",
    "OBJECTS",
    "Problem",
    "Property",
    "SEARCH_LIMIT",
    "TYPE_IDS",
    "WINDOW_LIMIT",
    "WINDOW_SECONDS",
]

DEFAULT_TOKEN = "sandbox-hubspot-token"
OBJECTS = facts.OBJECTS
BATCH_LIMIT = facts.BATCH_LIMIT
LIST_LIMIT = facts.LIST_LIMIT
SEARCH_LIMIT = facts.SEARCH_PAGE_LIMIT
WINDOW_SECONDS = facts.WINDOW_SECONDS
WINDOW_LIMIT = facts.WINDOW_LIMIT  # Free and Starter; 190 on Professional and Enterprise
DAILY_LIMIT = facts.DAILY_LIMIT
_VERSION = r"/crm/(?:v3/{api}|{api}/20\d\d-(?:03|09))/"
_KIND = r"(?P<obj>contacts|companies|deals|0-1|0-2|0-3)"
_OBJ = _VERSION.format(api="objects") + _KIND
_PROPS = _VERSION.format(api="properties") + _KIND
TYPE_IDS = facts.TYPE_IDS  # HubSpot takes either name
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SINGULAR = {"contacts": "Contact", "companies": "Company", "deals": "Deal"}


@dataclass(frozen=True)
class Property:
    """A property definition: ``type`` string | number | date | datetime | enumeration | bool;
    ``multiple`` marks a multi-checkbox enumeration (``a;b``)."""

    name: str
    type: str = "string"
    unique: bool = False
    options: tuple[str, ...] | None = None
    multiple: bool = False
    read_only: bool = False
    custom: bool = False


def _defaults() -> dict[str, dict[str, Property]]:
    per_object = {
        # A contact's email is no hasUniqueValue property; HubSpot keeps it unique on its own
        # and takes it as idProperty only to read and upsert (facts.EMAIL_ID_USES).
        "contacts": [
            Property("email"),
            Property("firstname"),
            Property("lastname"),
            Property("phone"),
            Property("company"),
            Property("website"),
            Property("city"),
            Property("country"),
            Property("jobtitle"),
            Property(
                "lifecyclestage",
                "enumeration",
                options=(
                    "subscriber",
                    "lead",
                    "marketingqualifiedlead",
                    "salesqualifiedlead",
                    "opportunity",
                    "customer",
                    "evangelist",
                    "other",
                ),
            ),
        ],
        "companies": [
            Property("name"),
            Property("domain"),
            Property("city"),
            Property("country"),
            Property("phone"),
            Property("industry"),
            Property("website"),
            Property("description"),
            Property("numberofemployees", "number"),
            Property("annualrevenue", "number"),
        ],
        "deals": [
            Property("dealname"),
            Property("amount", "number"),
            Property("closedate", "datetime"),
            Property("dealstage"),
            Property("pipeline"),
            Property("description"),
        ],
    }

    def common(obj: str) -> list[Property]:
        return [
            Property("hs_object_id", "number", read_only=True),
            Property("createdate", "datetime", read_only=True),
            Property(facts.MODIFIED[obj], "datetime", read_only=True),
        ]

    return {obj: {p.name: p for p in [*common(obj), *props]} for obj, props in per_object.items()}


@dataclass
class Problem:
    """Why one input was refused, as HubSpot words it."""

    category: str
    message: str
    status: int = 400
    details: list[dict[str, Any]] = field(default_factory=list)


class HubSpotEmulator(Emulator):
    """HubSpot contacts, companies and deals, with batch endpoints and search."""

    prefix = "hubspot"
    resources = OBJECTS
    default_api_keys = (DEFAULT_TOKEN,)
    vendor_limits = Limits(per_minute=None, per_hour=None)
    first_id = 1001
    auth_hint = "Authorization: Bearer <token>"

    def __init__(
        self,
        *,
        api_keys: Iterable[str] | None = None,
        limits: Limits | None = None,
        window_limit: int = WINDOW_LIMIT,
        enforce_window: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(api_keys=api_keys, limits=limits, **kwargs)
        self._window = (window_limit, enforce_window)
        self.window = RollingWindow(window_limit, WINDOW_SECONDS, enforce=enforce_window)
        self.search_window = RollingWindow(facts.SEARCH_PER_SECOND, 1.0, enforce=enforce_window)
        self.daily_used = 0
        self.schema = _defaults()
        self.archived: dict[str, dict[int, Record]] = {obj: {} for obj in OBJECTS}

    # -- configuration -------------------------------------------------------------

    def define_property(self, obj: str, name: str, **options: Any) -> Property:
        """Add a (custom) property to an object, e.g. ``define_property("companies",
        "account_key", unique=True)``; kept until ``reset``."""
        prop = Property(name, **{"custom": True, **options})
        self.schema[obj][name] = prop
        return prop

    def declare_field(self, declared: DeclaredField) -> None:
        """A custom property, as an admin creates it: a lower-case internal name not taken,
        a type of the properties API; ``unique`` (hasUniqueValue) only for text and number
        properties, as HubSpot allows it."""
        obj = TYPE_IDS.get(declared.object, declared.object)
        if obj not in OBJECTS:
            raise SchemaRefused(f"HubSpot has no object {declared.object!r}; expected one of: {', '.join(OBJECTS)}")
        if declared.type not in facts.PROPERTY_TYPES:
            raise SchemaRefused(
                f"{declared.type!r} is not a HubSpot property type; expected one of: {', '.join(facts.PROPERTY_TYPES)}"
            )
        if not _NAME.match(declared.name):
            raise SchemaRefused(f"{declared.name!r} is not a HubSpot internal name (lower case letters, digits, _)")
        if declared.name in self.schema[obj]:
            raise SchemaRefused(f"{obj} already have a property named {declared.name!r}")
        if declared.unique and declared.type not in ("string", "number"):
            raise SchemaRefused(f"{declared.name!r}: HubSpot keeps values unique only for text and number properties")
        self.define_property(obj, declared.name, type=declared.type, unique=declared.unique)

    def set_limits(self, limits: Limits) -> None:
        """The vendor limits (``SandboxServer(limits="vendor")``) turn the 10 s window on."""
        super().set_limits(limits)
        self.window.enforce = limits is self.vendor_limits
        self.search_window.enforce = limits is self.vendor_limits

    def reset(self) -> None:
        super().reset()
        limit, enforce = self._window
        self.window = RollingWindow(limit, WINDOW_SECONDS, enforce=enforce or self.window.enforce)
        self.search_window = RollingWindow(facts.SEARCH_PER_SECOND, 1.0, enforce=self.window.enforce)
        self.daily_used = 0
        self.schema = _defaults()
        self.archived = {obj: {} for obj in OBJECTS}

    # -- vendor shapes ---------------------------------------------------------------

    def authenticate(self, request: SandboxRequest) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and token.strip() in self.api_keys

    def unauthorized_response(self, request: SandboxRequest) -> SandboxResponse:
        return self._error(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
        )

    def error_response(self, status: int, message: str) -> SandboxResponse:
        category = {404: "OBJECT_NOT_FOUND", 409: "CONFLICT", 429: "RATE_LIMITS"}.get(status, "VALIDATION_ERROR")
        return self._error(status, category, message)

    def _error(self, status: int, category: str, message: str, **extra: Any) -> SandboxResponse:
        body = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
            **extra,
        }
        return json_response(status, body)

    def rate_limited_response(self, windows: list[WindowState]) -> SandboxResponse:
        return self._error(
            429,
            "RATE_LIMITS",
            "You have reached your ten_secondly_rolling limit.",
            errorType="RATE_LIMIT",
            policyName="TEN_SECONDLY_ROLLING",
        )

    def search_limited_response(self) -> SandboxResponse:
        """HubSpot's answer past the search limit (its secondly policy)."""
        return self._error(
            429,
            "RATE_LIMITS",
            "You have reached your secondly limit.",
            errorType="RATE_LIMIT",
            policyName="SECONDLY",
            groupName="publicapi:private-app-search-secondly",
        )

    def unmatched_response(self, request: SandboxRequest) -> SandboxResponse:
        return self._error(404, "OBJECT_NOT_FOUND", f"Unable to route {request.method} {request.path}")

    def _respond(self, request: SandboxRequest, found: tuple[Route, dict[str, str]] | None) -> SandboxResponse:
        if not self.authenticate(request):
            return self.unauthorized_response(request)
        count = self.window.hit()
        searching = found is not None and found[0].handler == "search"
        if not count.allowed:
            response = self.rate_limited_response([])
        elif searching and not self.search_window.hit().allowed:
            response = self.search_limited_response()
        else:
            response = super()._respond(request, found)
        if count.allowed:
            self.daily_used += 1
        if searching:  # search answers carry no rate headers
            return response
        if self.window.enforce:
            response.headers.update(
                {
                    "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.window.seconds * 1000)),
                    "X-HubSpot-RateLimit-Max": str(count.limit),
                    "X-HubSpot-RateLimit-Remaining": str(count.remaining),
                }
            )
        response.headers.update(
            {
                "X-HubSpot-RateLimit-Daily": str(DAILY_LIMIT),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(DAILY_LIMIT - self.daily_used, 0)),
            }
        )
        return response

    def _call(self, request: SandboxRequest, found_route: Route, params: dict[str, str]) -> SandboxResponse:
        params = {**params, "obj": TYPE_IDS.get(params.get("obj", ""), params.get("obj", ""))}
        return super()._call(request, found_route, params)

    # -- single-record routes -----------------------------------------------------------

    @route("POST", _OBJ, "{obj}.create")
    def create(self, request: SandboxRequest, obj: str) -> SandboxResponse:
        body = self.json_object(request)
        problem, record = self._create(obj, _props(body))
        if problem:
            return self._error(problem.status, problem.category, problem.message, errors=problem.details)
        return json_response(201, record)

    @route("GET", _OBJ, "{obj}.list")
    def list_records(self, request: SandboxRequest, obj: str) -> SandboxResponse:
        limit = _int(request.query.get("limit"), 10, LIST_LIMIT)
        start = _int(request.query.get("after"), 0, None)
        records = list(self.archived[obj].values()) if _archived(request) else self.store.all(obj)
        wanted = _wanted(request.query.get("properties"))
        chunk = [self._view(obj, r, wanted) for r in records[start : start + limit]]
        body: dict[str, Any] = {"results": chunk}
        if start + limit < len(records):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return json_response(200, body)

    @route("GET", _OBJ + r"/(?P<record_id>[^/]+)", "{obj}.read")
    def read(self, request: SandboxRequest, obj: str, record_id: str) -> SandboxResponse:
        id_property = self._id_property(obj, request.query.get("idProperty"), "read")
        record = self._existing(obj, record_id, id_property, archived=_archived(request))
        return json_response(200, self._view(obj, record, _wanted(request.query.get("properties"))))

    @route("PATCH", _OBJ + r"/(?P<record_id>[^/]+)", "{obj}.update")
    def update(self, request: SandboxRequest, obj: str, record_id: str) -> SandboxResponse:
        existing = self._existing(obj, record_id, self._id_property(obj, request.query.get("idProperty"), "update"))
        problem, record = self._update(obj, existing, _props(self.json_object(request)))
        if problem:
            return self._error(problem.status, problem.category, problem.message, errors=problem.details)
        return json_response(200, record)

    @route("DELETE", _OBJ + r"/(?P<record_id>[^/]+)", "{obj}.archive")
    def archive(self, request: SandboxRequest, obj: str, record_id: str) -> SandboxResponse:
        self._archive(obj, record_id)
        return SandboxResponse(status=204)

    # -- batch routes ---------------------------------------------------------------------

    @route("POST", _OBJ + r"/batch/create", "{obj}.batch_create")
    def batch_create(self, request: SandboxRequest, obj: str) -> SandboxResponse:
        inputs = self._inputs(request)
        multi_status = all(isinstance(i.get("objectWriteTraceId"), str) for i in inputs)
        if not multi_status:  # all or nothing: check every input before creating any
            for item in inputs:
                problem = self._check(obj, _props(item), own_id=None)
                if problem:
                    return self._error(problem.status, problem.category, problem.message, errors=problem.details)
        results, errors = [], []
        for item in inputs:
            problem, record = self._create(obj, _props(item))
            if problem:
                errors.append(_standard_error(problem, item, None))
            else:
                results.append(_traced(record, item))
        return _batch(results, errors, ok_status=201)

    @route("POST", _OBJ + r"/batch/update", "{obj}.batch_update")
    def batch_update(self, request: SandboxRequest, obj: str) -> SandboxResponse:
        inputs = self._inputs(request)
        _no_duplicates(obj, inputs)
        for item in inputs:
            self._id_property(obj, item.get("idProperty"), "update")
        results, errors = [], []
        for item in inputs:
            existing = self._find(obj, _input_id(item), item.get("idProperty"))
            if existing is None:
                errors.append(_standard_error(_not_found(obj, [_input_id(item)]), item, _input_id(item)))
                continue
            problem, record = self._update(obj, existing, _props(item))
            if problem:
                errors.append(_standard_error(problem, item, _input_id(item)))
            else:
                results.append(_traced(record, item))
        return _batch(results, errors)

    @route("POST", _OBJ + r"/batch/upsert", "{obj}.batch_upsert")
    def batch_upsert(self, request: SandboxRequest, obj: str) -> SandboxResponse:
        inputs = self._inputs(request)
        _no_duplicates(obj, inputs)
        for item in inputs:
            if not item.get("idProperty"):
                raise RequestRejected(400, "Every upsert input needs an idProperty")
            self._id_property(obj, item["idProperty"], "upsert")
        if any(facts.upsert_is_all_or_nothing(obj, item["idProperty"]) for item in inputs):
            problem = self._first_problem(obj, inputs)
            if problem:  # no partial results: one bad input fails the whole batch, nothing is written
                return self._error(problem.status, problem.category, problem.message, errors=problem.details)
        results, errors = [], []
        for item in inputs:
            value, name = _input_id(item), item["idProperty"]
            existing = self._find(obj, value, name)
            if existing is None:
                problem, record = self._create(obj, {**_props(item), name: value})
            else:
                problem, record = self._update(obj, existing, _props(item))
            if problem:
                errors.append(_standard_error(problem, item, value))
            else:
                results.append({**_traced(record, item), "new": existing is None})
        return _batch(results, errors)

    @route("POST", _OBJ + r"/batch/read", "{obj}.batch_read")
    def batch_read(self, request: SandboxRequest, obj: str) -> SandboxResponse:
        body = self.json_object(request)
        inputs = self._inputs(request)
        id_property = self._id_property(obj, body.get("idProperty"), "read")
        wanted = body.get("properties")
        if wanted is not None and (not isinstance(wanted, list) or not all(isinstance(w, str) for w in wanted)):
            raise RequestRejected(400, "properties must be a list of property names")
        archived = _archived(request)
        results, missing = [], []
        for item in inputs:
            existing = self._find(obj, _input_id(item), id_property, archived=archived)
            if existing is None:
                missing.append(_input_id(item))
            else:
                results.append(self._view(obj, existing, wanted))
        errors = [_standard_error(_not_found(obj, missing), {}, None, ids=missing)] if missing else []
        return _batch(results, errors)

    @route("POST", _OBJ + r"/batch/archive", "{obj}.batch_archive")
    def batch_archive(self, request: SandboxRequest, obj: str) -> SandboxResponse:
        for item in self._inputs(request):
            self._archive(obj, _input_id(item))
        return SandboxResponse(status=204)

    @route("POST", _OBJ + r"/search", "{obj}.search")
    def search(self, request: SandboxRequest, obj: str) -> SandboxResponse:
        body = self.json_object(request)
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list) or len(groups) > 5 or any(len(g.get("filters") or []) > 6 for g in groups):
            raise RequestRejected(400, "filterGroups: at most 5 groups of at most 6 filters")
        limit = _int(body.get("limit"), 10, SEARCH_LIMIT)
        start = _int(body.get("after"), 0, None)
        wanted = body.get("properties")
        if wanted is not None and (not isinstance(wanted, list) or not all(isinstance(w, str) for w in wanted)):
            raise RequestRejected(400, "properties must be a list of property names")
        found = [
            r for r in self.store.all(obj) if not groups or any(_group_matches(self._out(obj, r), g) for g in groups)
        ]
        body_out: dict[str, Any] = {
            "total": len(found),
            "results": [self._view(obj, r, wanted) for r in found[start : start + limit]],
        }
        if start + limit < len(found):
            body_out["paging"] = {"next": {"after": str(start + limit)}}
        return json_response(200, body_out)

    # -- the properties API -------------------------------------------------------------------

    @route("GET", _PROPS, "{obj}.properties")
    def list_properties(self, request: SandboxRequest, obj: str) -> SandboxResponse:
        if _archived(request):
            return json_response(200, {"results": []})  # no property is ever archived here
        return json_response(200, {"results": [_property_json(obj, p) for p in self.schema[obj].values()]})

    @route("GET", _PROPS + r"/(?P<name>[^/]+)", "{obj}.property")
    def read_property(self, request: SandboxRequest, obj: str, name: str) -> SandboxResponse:
        prop = self.schema[obj].get(name)
        if prop is None:
            return self._error(404, "OBJECT_NOT_FOUND", f"Unable to find property {name} for object type {obj}")
        return json_response(200, _property_json(obj, prop))

    # -- records ---------------------------------------------------------------------------

    def _id_property(self, obj: str, name: Any, use: str) -> str | None:
        """The ``idProperty`` if HubSpot takes it for ``use`` (read | update | upsert), else
        HubSpot's refusal: a unique property, or a contact's email to read or upsert."""
        if name in (None, "", "hs_object_id"):
            return None
        prop = self.schema[obj].get(str(name))
        if prop is not None and (prop.unique or (facts.folds_case(obj, prop.name) and use in facts.EMAIL_ID_USES)):
            return prop.name
        raise RequestRejected(400, facts.non_unique_message(obj))

    def _first_problem(self, obj: str, inputs: list[dict[str, Any]]) -> Problem | None:
        """The first input of an upsert that would fail, checked before anything is written."""
        for item in inputs:
            value, name = _input_id(item), item["idProperty"]
            existing = self._find(obj, value, name)
            props = _props(item) if existing is not None else {**_props(item), name: value}
            problem = self._check(obj, props, own_id=existing["id"] if existing else None)
            if problem:
                return problem
        return None

    def _archive(self, obj: str, record_id: str) -> None:
        record = self.store.get(obj, int(record_id)) if record_id.isdigit() else None
        if record is not None:
            self.store.delete(obj, record["id"])
            self.archived[obj][record["id"]] = {**record, "archived": True, "archivedAt": _now()}

    def _inputs(self, request: SandboxRequest) -> list[dict[str, Any]]:
        inputs = self.json_object(request).get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise RequestRejected(400, "inputs must be a list of objects")
        if len(inputs) > BATCH_LIMIT:
            raise RequestRejected(
                400, f"Batch input limit exceeded: {len(inputs)} inputs, at most {BATCH_LIMIT} allowed"
            )
        return inputs

    def _create(self, obj: str, props: dict[str, Any]) -> tuple[Problem | None, Record | None]:
        problem = self._check(obj, props, own_id=None)
        if problem:
            return problem, None
        now = _now()
        props = _normalised(obj, props)
        stored = self.store.insert(
            obj,
            {
                "properties": {k: v for k, v in props.items() if v != ""},
                "createdAt": now,
                "updatedAt": now,
                "archived": False,
            },
        )
        return None, self._out(obj, stored)

    def _update(self, obj: str, existing: Record, props: dict[str, Any]) -> tuple[Problem | None, Record | None]:
        problem = self._check(obj, props, own_id=existing["id"])
        if problem:
            return problem, None
        merged = {**existing["properties"], **_normalised(obj, props)}
        record = {**existing, "properties": {k: v for k, v in merged.items() if v != ""}, "updatedAt": _now()}
        return None, self._out(obj, self.store.replace(obj, existing["id"], record))

    def _check(self, obj: str, props: dict[str, Any], own_id: int | None) -> Problem | None:
        details = [d for name, value in props.items() if (d := self._invalid(obj, name, value)) is not None]
        if details:
            return Problem(
                "VALIDATION_ERROR",
                "Property values were not valid: " + "; ".join(d["message"] for d in details),
                details=details,
            )
        for name, value in props.items():
            prop = self.schema[obj][name]
            if (prop.unique or facts.folds_case(obj, name)) and value != "":
                holder = self._find(obj, value, name)
                if holder is not None and holder["id"] != own_id:
                    if obj == "contacts" and name == "email":
                        return Problem("CONFLICT", f"Contact already exists. Existing ID: {holder['id']}", status=409)
                    return Problem(
                        "CONFLICT",
                        f"A {_SINGULAR[obj].lower()} with {name} '{value}' already exists. Existing ID: {holder['id']}",
                        status=409,
                    )
        return None

    def _invalid(self, obj: str, name: str, value: Any) -> dict[str, Any] | None:
        prop = self.schema[obj].get(name)
        if prop is None:
            return _detail(name, f'Property "{name}" does not exist', "PROPERTY_DOESNT_EXIST")
        if prop.read_only:
            return _detail(name, f'"{name}" is a read only property; its value cannot be set', "READ_ONLY_VALUE")
        if not isinstance(value, str):
            return _detail(name, f'{value!r} is not a valid value for "{name}": values must be strings', "INVALID_TYPE")
        if value == "":
            return None
        reason = _type_problem(prop, value)
        if reason is None and obj == "contacts" and name == "email" and not _EMAIL.match(value):
            reason = f"Email address {value} is invalid", "INVALID_EMAIL"
        return _detail(name, *reason) if reason else None

    def _find(self, obj: str, value: str, id_property: str | None, archived: bool = False) -> Record | None:
        """The live record (or with ``archived`` the archived one) by id or a property's value."""
        if archived:
            pool = list(self.archived[obj].values())
        elif not id_property or id_property == "hs_object_id":
            return self.store.get(obj, int(value)) if str(value).isdigit() else None
        else:
            pool = self.store.all(obj)
        name = id_property or "hs_object_id"
        fold = facts.folds_case(obj, name)
        wanted = str(value).lower() if fold else str(value)
        for record in pool:
            held = str(record["id"]) if name == "hs_object_id" else str(record["properties"].get(name, ""))
            if (held.lower() if fold else held) == wanted:
                return record
        return None

    def _existing(self, obj: str, record_id: str, id_property: str | None, archived: bool = False) -> Record:
        record = self._find(obj, record_id, id_property, archived=archived)
        if record is None:
            raise RequestRejected(
                404,
                "Object not found.  objectId are usually numeric.",
                response=self._error(404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric."),
            )
        return record

    def _out(self, obj: str, record: Record) -> Record:
        """The record with every property it holds (write answers, sandbox inspection)."""
        props = {
            **record["properties"],
            "hs_object_id": str(record["id"]),
            "createdate": record["createdAt"],
            facts.MODIFIED[obj]: record["updatedAt"],
        }
        out = {
            "id": str(record["id"]),
            "properties": props,
            "createdAt": record["createdAt"],
            "updatedAt": record["updatedAt"],
            "archived": bool(record.get("archived")),
        }
        if record.get("archivedAt"):
            out["archivedAt"] = record["archivedAt"]
        return out

    def _view(self, obj: str, record: Record, wanted: Iterable[str] | None) -> Record:
        """A read answer: only the properties asked for that hold a value, plus those HubSpot
        always returns; asking for none gives the object's default set."""
        full = self._out(obj, record)
        names = [*(facts.DEFAULT_PROPERTIES[obj] if wanted is None else wanted), *facts.always_returned(obj)]
        known = self.schema[obj]
        props = full["properties"]  # an asked property without a value is left out, as the spec's
        # non-nullable string values require
        return {
            **full,
            "properties": {n: props[n] for n in dict.fromkeys(names) if n in known and props.get(n) is not None},
        }

    def snapshot(self) -> dict[str, list[Record]]:
        return {obj: [self._out(obj, r) for r in self.store.all(obj)] for obj in OBJECTS}

    def records(self, resource: str) -> list[Record]:
        return [self._out(resource, r) for r in self.store.all(resource)]


# ---------------------------------------------------------------------------
# Values and bodies
# ---------------------------------------------------------------------------


def _type_problem(prop: Property, value: str) -> tuple[str, str] | None:
    if prop.type == "number":
        try:
            float(value)
        except ValueError:
            return f'{value} is not a valid number for "{prop.name}"', "INVALID_INTEGER"
    elif prop.type == "bool" and value not in ("true", "false"):
        return f'{value} is not a valid boolean for "{prop.name}"', "INVALID_BOOLEAN"
    elif prop.type in ("date", "datetime"):
        if not value.lstrip("-").isdigit():
            return f'{value} is not a valid date for "{prop.name}": send epoch milliseconds', "INVALID_DATE"
        if prop.type == "date":
            moment = dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.timezone.utc)
            if int(value) % 86_400_000:
                return (
                    f"{value} is at {moment.hour}:{moment.minute}:{moment.second}.{moment.microsecond // 1000} UTC, "
                    f'not midnight! (property "{prop.name}")',
                    "INVALID_DATE",
                )
    elif prop.type == "enumeration" and prop.options is not None:
        chosen = value.split(";") if prop.multiple else [value]
        unknown = [v for v in chosen if v not in prop.options]
        if unknown:
            return (
                f"{unknown[0]} was not one of the allowed options: [{', '.join(prop.options)}] (property "
                f'"{prop.name}")',
                "INVALID_OPTION",
            )
    return None


def _normalised(obj: str, props: dict[str, Any]) -> dict[str, Any]:
    """HubSpot stores a contact's email in lower case."""
    return {k: v.lower() if isinstance(v, str) and facts.folds_case(obj, k) else v for k, v in props.items()}


def _wanted(query: str | None) -> list[str] | None:
    """The ``properties`` query parameter (comma-separated names); None when absent."""
    return None if query is None else [n.strip() for n in query.split(",") if n.strip()]


def _archived(request: SandboxRequest) -> bool:
    return str(request.query.get("archived", "")).lower() == "true"


def _property_json(obj: str, prop: Property) -> dict[str, Any]:
    """A property as the properties API describes it (the spec's ``Property``)."""
    if prop.type == "bool":
        options = [
            {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
            {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
        ]
    else:
        options = [
            {"label": o, "value": o, "displayOrder": i, "hidden": False} for i, o in enumerate(prop.options or ())
        ]
    field_type = "checkbox" if prop.multiple else facts.PROPERTY_TYPES.get(prop.type, "text")
    stamp = "2020-01-01T00:00:00.000Z"
    return {
        "name": prop.name,
        "label": prop.name.replace("_", " ").title(),
        "type": prop.type,
        "fieldType": field_type,
        "description": "",
        "groupName": f"{_SINGULAR[obj].lower()}information",
        "options": options,
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": prop.unique,
        "hidden": False,
        "formField": not prop.read_only,
        "hubspotDefined": not prop.custom,
        "archived": False,
        "createdAt": stamp,
        "updatedAt": stamp,
        "modificationMetadata": {
            "archivable": prop.custom,
            "readOnlyDefinition": not prop.custom,
            "readOnlyValue": prop.read_only,
        },
    }


def _detail(name: str, message: str, code: str) -> dict[str, Any]:
    return {"message": message, "code": code, "in": name, "context": {"propertyName": [name]}}


def _props(item: dict[str, Any]) -> dict[str, Any]:
    props = item.get("properties")
    if not isinstance(props, dict):
        raise RequestRejected(400, "Every input needs a properties object")
    return props


def _input_id(item: dict[str, Any]) -> str:
    value = item.get("id")
    if not isinstance(value, str) or not value:
        raise RequestRejected(400, "Every input needs an id (a string)")
    return value


def _no_duplicates(obj: str, inputs: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for item in inputs:
        value = _input_id(item).lower() if facts.folds_case(obj, str(item.get("idProperty"))) else _input_id(item)
        if value in seen:
            raise RequestRejected(400, f"Duplicate IDs found in batch input: [{value}]. IDs must be unique")
        seen.add(value)


def _not_found(obj: str, ids: list[str]) -> Problem:
    return Problem(
        "OBJECT_NOT_FOUND",
        f"Could not get some {_SINGULAR[obj].upper()} objects, they may be deleted "
        "or not exist. Check that ids are valid.",
        status=404,
    )


def _standard_error(
    problem: Problem, item: dict[str, Any], record_id: str | None, ids: list[str] | None = None
) -> dict[str, Any]:
    context: dict[str, list[str]] = {}
    if ids or record_id is not None:
        context["ids"] = list(ids or [record_id or ""])
    if isinstance(item.get("objectWriteTraceId"), str):
        context["objectWriteTraceId"] = [item["objectWriteTraceId"]]
    return {
        "status": "error",
        "category": problem.category,
        "message": problem.message,
        "context": context,
        "errors": problem.details,
        "links": {},
    }


def _traced(record: Record | None, item: dict[str, Any]) -> Record:
    assert record is not None
    trace = item.get("objectWriteTraceId")
    return {**record, "objectWriteTraceId": trace} if isinstance(trace, str) else record


def _batch(results: list[Record], errors: list[dict[str, Any]], ok_status: int = 200) -> SandboxResponse:
    now = _now()
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "requestedAt": now,
        "startedAt": now,
        "completedAt": now,
    }
    if errors:
        body.update(errors=errors, numErrors=len(errors))
    return json_response(207 if errors else ok_status, body)


def _group_matches(record: Record, group: dict[str, Any]) -> bool:
    return all(_filter_matches(record, f) for f in group.get("filters") or [])


def _filter_matches(record: Record, rule: dict[str, Any]) -> bool:
    name, operator = rule.get("propertyName"), rule.get("operator")
    value = record["properties"].get(name)
    wanted: Any = rule.get("value")  # any JSON value: compared as a number when both read as one, else as text
    if operator == "HAS_PROPERTY":
        return value not in (None, "")
    if operator == "NOT_HAS_PROPERTY":
        return value in (None, "")
    if operator in ("IN", "NOT_IN"):
        hit = str(value).lower() in {str(v).lower() for v in rule.get("values") or []}
        return hit if operator == "IN" else not hit
    if value is None:
        return operator == "NEQ"
    text, other = str(value).lower(), str(wanted).lower()
    if operator == "EQ":
        return text == other
    if operator == "NEQ":
        return text != other
    if operator == "CONTAINS_TOKEN":
        return other.strip("*") in text
    if operator in ("GT", "GTE", "LT", "LTE"):
        try:
            left, right = float(value), float(wanted)
        except (TypeError, ValueError):
            left, right = text, other  # type: ignore[assignment]
        return {"GT": left > right, "GTE": left >= right, "LT": left < right, "LTE": left <= right}[operator]
    raise RequestRejected(400, f"Unsupported filter operator: {operator!r}")


def _int(value: Any, default: int, maximum: int | None) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RequestRejected(400, f"{value!r} is not a whole number") from None
    if number < 0:
        raise RequestRejected(400, f"{value!r} must not be negative")
    return min(number, maximum) if maximum else number


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
