"""HubSpot CRM v3 emulator, served under ``/hubspot`` (stands in for ``https://api.hubapi.com``).

Endpoints, for ``contacts``, ``companies`` and ``deals`` under ``/crm/v3/objects/<object>``:
``POST`` (create), ``GET`` (list, ``limit`` <= 100 and an ``after`` cursor),
``GET|PATCH|DELETE /<id>`` (``?idProperty=`` to address by a unique property),
``POST /batch/{create,read,update,upsert,archive}`` (at most 100 inputs) and ``POST /search``
(``filterGroups``, ``limit`` <= 200, ``after``). Auth: ``Authorization: Bearer <token>``.

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

from dbt_revsync.sandbox.framework import (
    Emulator,
    Limits,
    Record,
    RequestRejected,
    RollingWindow,
    Route,
    SandboxRequest,
    SandboxResponse,
    WindowState,
    json_response,
    route,
)

DEFAULT_TOKEN = "sandbox-hubspot-token"
OBJECTS = ("contacts", "companies", "deals")
BATCH_LIMIT = 100
LIST_LIMIT = 100
SEARCH_LIMIT = 200
WINDOW_SECONDS = 10
WINDOW_LIMIT = 100  # Free and Starter; 190 on Professional and Enterprise
DAILY_LIMIT = 250_000
_OBJ = r"/crm/v3/objects/(?P<obj>contacts|companies|deals|0-1|0-2|0-3)"
TYPE_IDS = {"0-1": "contacts", "0-2": "companies", "0-3": "deals"}  # HubSpot takes either name
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


def _defaults() -> dict[str, dict[str, Property]]:
    common = [Property("hs_object_id", "number", read_only=True), Property("createdate", "datetime", read_only=True),
              Property("hs_lastmodifieddate", "datetime", read_only=True)]
    per_object = {
        "contacts": [Property("email", unique=True), Property("firstname"), Property("lastname"), Property("phone"),
                     Property("company"), Property("website"), Property("city"), Property("country"), Property("jobtitle"),
                     Property("lifecyclestage", "enumeration", options=(
                         "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
                         "evangelist", "other"))],
        "companies": [Property("name"), Property("domain"), Property("city"), Property("country"), Property("phone"),
                      Property("industry"), Property("website"), Property("description"),
                      Property("numberofemployees", "number"), Property("annualrevenue", "number")],
        "deals": [Property("dealname"), Property("amount", "number"), Property("closedate", "datetime"),
                  Property("dealstage"), Property("pipeline"), Property("description")],
    }
    return {obj: {p.name: p for p in [*common, *props]} for obj, props in per_object.items()}


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

    def __init__(self, *, api_keys: Iterable[str] | None = None, limits: Limits | None = None,
                 window_limit: int = WINDOW_LIMIT, enforce_window: bool = False, **kwargs: Any) -> None:
        super().__init__(api_keys=api_keys, limits=limits, **kwargs)
        self._window = (window_limit, enforce_window)
        self.window = RollingWindow(window_limit, WINDOW_SECONDS, enforce=enforce_window)
        self.daily_used = 0
        self.schema = _defaults()

    # -- configuration -------------------------------------------------------------

    def define_property(self, obj: str, name: str, **options: Any) -> Property:
        """Add a (custom) property to an object, e.g. ``define_property("companies",
        "account_key", unique=True)``; kept until ``reset``."""
        prop = Property(name, **options)
        self.schema[obj][name] = prop
        return prop

    def set_limits(self, limits: Limits) -> None:
        """The vendor limits (``SandboxServer(limits="vendor")``) turn the 10 s window on."""
        super().set_limits(limits)
        self.window.enforce = limits is self.vendor_limits

    def reset(self) -> None:
        super().reset()
        limit, enforce = self._window
        self.window = RollingWindow(limit, WINDOW_SECONDS, enforce=enforce or self.window.enforce)
        self.daily_used = 0
        self.schema = _defaults()

    # -- vendor shapes ---------------------------------------------------------------

    def authenticate(self, request: SandboxRequest) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and token.strip() in self.api_keys

    def unauthorized_response(self, request: SandboxRequest) -> SandboxResponse:
        return self._error(401, "INVALID_AUTHENTICATION",
                           "Authentication credentials not found. This API supports OAuth 2.0 authentication.")

    def error_response(self, status: int, message: str) -> SandboxResponse:
        category = {404: "OBJECT_NOT_FOUND", 409: "CONFLICT", 429: "RATE_LIMITS"}.get(status, "VALIDATION_ERROR")
        return self._error(status, category, message)

    def _error(self, status: int, category: str, message: str, **extra: Any) -> SandboxResponse:
        body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **extra}
        return json_response(status, body)

    def rate_limited_response(self, windows: list[WindowState]) -> SandboxResponse:
        return self._error(429, "RATE_LIMITS", "You have reached your ten_secondly_rolling limit.",
                           errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING")

    def unmatched_response(self, request: SandboxRequest) -> SandboxResponse:
        return self._error(404, "OBJECT_NOT_FOUND", f"Unable to route {request.method} {request.path}")

    def _respond(self, request: SandboxRequest, found: tuple[Route, dict[str, str]] | None) -> SandboxResponse:
        if not self.authenticate(request):
            return self.unauthorized_response(request)
        count = self.window.hit()
        response = super()._respond(request, found) if count.allowed else self.rate_limited_response([])
        if count.allowed:
            self.daily_used += 1
        if self.window.enforce:
            response.headers.update({
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.window.seconds * 1000)),
                "X-HubSpot-RateLimit-Max": str(count.limit),
                "X-HubSpot-RateLimit-Remaining": str(count.remaining),
            })
        response.headers.update({
            "X-HubSpot-RateLimit-Daily": str(DAILY_LIMIT),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(DAILY_LIMIT - self.daily_used, 0)),
        })
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
        records = self.store.all(obj)
        chunk = [self._out(obj, r) for r in records[start:start + limit]]
        body: dict[str, Any] = {"results": chunk}
        if start + limit < len(records):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return json_response(200, body)

    @route("GET", _OBJ + r"/(?P<record_id>[^/]+)", "{obj}.read")
    def read(self, request: SandboxRequest, obj: str, record_id: str) -> SandboxResponse:
        return json_response(200, self._out(obj, self._existing(obj, record_id, request.query.get("idProperty"))))

    @route("PATCH", _OBJ + r"/(?P<record_id>[^/]+)", "{obj}.update")
    def update(self, request: SandboxRequest, obj: str, record_id: str) -> SandboxResponse:
        existing = self._existing(obj, record_id, request.query.get("idProperty"))
        problem, record = self._update(obj, existing, _props(self.json_object(request)))
        if problem:
            return self._error(problem.status, problem.category, problem.message, errors=problem.details)
        return json_response(200, record)

    @route("DELETE", _OBJ + r"/(?P<record_id>[^/]+)", "{obj}.archive")
    def archive(self, request: SandboxRequest, obj: str, record_id: str) -> SandboxResponse:
        if record_id.isdigit():
            self.store.delete(obj, int(record_id))
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
        _no_duplicates(inputs)
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
        _no_duplicates(inputs)
        for item in inputs:
            name = item.get("idProperty")
            prop = self.schema[obj].get(name or "")
            if prop is None or not prop.unique:
                raise RequestRejected(400, f"idProperty {name!r} is not a unique value property of {obj}; "
                                           "upsert needs a property with hasUniqueValue")
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
        results, missing = [], []
        for item in inputs:
            existing = self._find(obj, _input_id(item), body.get("idProperty"))
            if existing is None:
                missing.append(_input_id(item))
            else:
                results.append(self._out(obj, existing))
        errors = [_standard_error(_not_found(obj, missing), {}, None, ids=missing)] if missing else []
        return _batch(results, errors)

    @route("POST", _OBJ + r"/batch/archive", "{obj}.batch_archive")
    def batch_archive(self, request: SandboxRequest, obj: str) -> SandboxResponse:
        for item in self._inputs(request):
            record_id = _input_id(item)
            if record_id.isdigit():
                self.store.delete(obj, int(record_id))
        return SandboxResponse(status=204)

    @route("POST", _OBJ + r"/search", "{obj}.search")
    def search(self, request: SandboxRequest, obj: str) -> SandboxResponse:
        body = self.json_object(request)
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list) or len(groups) > 5 or any(len(g.get("filters") or []) > 6 for g in groups):
            raise RequestRejected(400, "filterGroups: at most 5 groups of at most 6 filters")
        limit = _int(body.get("limit"), 10, SEARCH_LIMIT)
        start = _int(body.get("after"), 0, None)
        found = [r for r in self.store.all(obj) if not groups or any(_group_matches(self._out(obj, r), g) for g in groups)]
        body_out: dict[str, Any] = {"total": len(found), "results": [self._out(obj, r) for r in found[start:start + limit]]}
        if start + limit < len(found):
            body_out["paging"] = {"next": {"after": str(start + limit)}}
        return json_response(200, body_out)

    # -- records ---------------------------------------------------------------------------

    def _inputs(self, request: SandboxRequest) -> list[dict[str, Any]]:
        inputs = self.json_object(request).get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise RequestRejected(400, "inputs must be a list of objects")
        if len(inputs) > BATCH_LIMIT:
            raise RequestRejected(400, f"Batch input limit exceeded: {len(inputs)} inputs, at most {BATCH_LIMIT} allowed")
        return inputs

    def _create(self, obj: str, props: dict[str, Any]) -> tuple[Problem | None, Record | None]:
        problem = self._check(obj, props, own_id=None)
        if problem:
            return problem, None
        now = _now()
        stored = self.store.insert(obj, {"properties": {k: v for k, v in props.items() if v != ""},
                                         "createdAt": now, "updatedAt": now, "archived": False})
        return None, self._out(obj, stored)

    def _update(self, obj: str, existing: Record, props: dict[str, Any]) -> tuple[Problem | None, Record | None]:
        problem = self._check(obj, props, own_id=existing["id"])
        if problem:
            return problem, None
        merged = {**existing["properties"], **props}
        record = {**existing, "properties": {k: v for k, v in merged.items() if v != ""}, "updatedAt": _now()}
        return None, self._out(obj, self.store.replace(obj, existing["id"], record))

    def _check(self, obj: str, props: dict[str, Any], own_id: int | None) -> Problem | None:
        details = [d for name, value in props.items() if (d := self._invalid(obj, name, value)) is not None]
        if details:
            return Problem("VALIDATION_ERROR", "Property values were not valid: " + "; ".join(d["message"] for d in details),
                           details=details)
        for name, value in props.items():
            prop = self.schema[obj][name]
            if prop.unique and value != "":
                holder = self._find(obj, value, name)
                if holder is not None and holder["id"] != own_id:
                    if obj == "contacts" and name == "email":
                        return Problem("CONFLICT", f"Contact already exists. Existing ID: {holder['id']}", status=409)
                    return Problem("CONFLICT", f"A {_SINGULAR[obj].lower()} with {name} '{value}' already exists. "
                                               f"Existing ID: {holder['id']}", status=409)
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

    def _find(self, obj: str, value: str, id_property: str | None) -> Record | None:
        if not id_property or id_property == "hs_object_id":
            return self.store.get(obj, int(value)) if str(value).isdigit() else None
        fold = obj == "contacts" and id_property == "email"
        wanted = str(value).lower() if fold else str(value)
        found = self.store.find(obj, lambda r: (str(r["properties"].get(id_property, "")).lower() if fold
                                                else str(r["properties"].get(id_property, ""))) == wanted)
        return found[0] if found else None

    def _existing(self, obj: str, record_id: str, id_property: str | None) -> Record:
        record = self._find(obj, record_id, id_property)
        if record is None:
            raise RequestRejected(404, "Object not found.  objectId are usually numeric.",
                                  response=self._error(404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric."))
        return record

    def _out(self, obj: str, record: Record) -> Record:
        props = {**record["properties"], "hs_object_id": str(record["id"]),
                 "createdate": record["createdAt"], "hs_lastmodifieddate": record["updatedAt"]}
        return {"id": str(record["id"]), "properties": props, "createdAt": record["createdAt"],
                "updatedAt": record["updatedAt"], "archived": False}

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
                return (f"{value} is at {moment.hour}:{moment.minute}:{moment.second}.{moment.microsecond // 1000} UTC, "
                        f'not midnight! (property "{prop.name}")', "INVALID_DATE")
    elif prop.type == "enumeration" and prop.options is not None:
        chosen = value.split(";") if prop.multiple else [value]
        unknown = [v for v in chosen if v not in prop.options]
        if unknown:
            return (f'{unknown[0]} was not one of the allowed options: [{", ".join(prop.options)}] (property "{prop.name}")',
                    "INVALID_OPTION")
    return None


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


def _no_duplicates(inputs: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for item in inputs:
        value = _input_id(item)
        if value in seen:
            raise RequestRejected(400, f"Duplicate IDs found in batch input: [{value}]. IDs must be unique")
        seen.add(value)


def _not_found(obj: str, ids: list[str]) -> Problem:
    return Problem("OBJECT_NOT_FOUND", f"Could not get some {_SINGULAR[obj].upper()} objects, they may be deleted "
                                       "or not exist. Check that ids are valid.", status=404)


def _standard_error(problem: Problem, item: dict[str, Any], record_id: str | None, ids: list[str] | None = None) -> dict[str, Any]:
    context: dict[str, list[str]] = {}
    if ids or record_id is not None:
        context["ids"] = list(ids or [record_id or ""])
    if isinstance(item.get("objectWriteTraceId"), str):
        context["objectWriteTraceId"] = [item["objectWriteTraceId"]]
    return {"status": "error", "category": problem.category, "message": problem.message, "context": context,
            "errors": problem.details, "links": {}}


def _traced(record: Record | None, item: dict[str, Any]) -> Record:
    assert record is not None
    trace = item.get("objectWriteTraceId")
    return {**record, "objectWriteTraceId": trace} if isinstance(trace, str) else record


def _batch(results: list[Record], errors: list[dict[str, Any]], ok_status: int = 200) -> SandboxResponse:
    now = _now()
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "requestedAt": now, "startedAt": now, "completedAt": now}
    if errors:
        body.update(errors=errors, numErrors=len(errors))
    return json_response(207 if errors else ok_status, body)


def _group_matches(record: Record, group: dict[str, Any]) -> bool:
    return all(_filter_matches(record, f) for f in group.get("filters") or [])


def _filter_matches(record: Record, rule: dict[str, Any]) -> bool:
    name, operator = rule.get("propertyName"), rule.get("operator")
    value = record["properties"].get(name)
    wanted = rule.get("value")
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
