"""HubSpot (CRM v3): contacts, companies and deals, through the batch endpoints.

Facts (``facts.py``): ``Authorization: Bearer <token>``; API root ``https://api.hubapi.com``;
``POST /crm/v3/objects/<object>/batch/{create,update,upsert,read,archive}`` take at most 100
inputs (the path follows the connection's ``api_version``). Every property value is a
string; multi-checkbox values are ``;``-separated; date and date-time properties take epoch
milliseconds, so a value is converted by its property's type, read once per push from the
properties API (``prepare``); text properties keep their text as sent.

How each insert mode travels:

    create   batch/create, each input tagged with ``objectWriteTraceId`` = the record key, so
             a 207 answer says which inputs failed
    upsert   a remembered id: batch/update by id (an id HubSpot no longer knows falls back to
             the next line); otherwise batch/upsert with ``idProperty`` = upsert_key. An
             email-keyed upsert has no partial results: a batch HubSpot refuses as a whole is
             split in halves and sent again until only the inputs at fault are rejected
    update   batch/update by the remembered id, else batch/read by ``idProperty`` = upsert_key
             finds the ids first (HubSpot refuses batch/update by email): no match is
             HubSpot's own OBJECT_NOT_FOUND, a reject
    delete   batch/archive by id (the remembered one, or upsert_key ``id``/``hs_object_id``);
             by another unique property, batch/read finds the ids first

Searches (``match_on``, ``if_empty``) ask for the properties they judge, and are paced in
their own family: HubSpot allows about 4 searches a second per account.

A 207 answer is split: ``results`` are acknowledged, each ``errors[]`` entry rejects the
inputs its ``context`` names (``objectWriteTraceId`` or ``ids``) with HubSpot's message.
Anything neither acknowledged nor rejected stays uncommitted and is sent again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from dbt_revsync.crms.hubspot import facts
from dbt_revsync.delivery import HttpClient, Reply, Window
from dbt_revsync.destinations.base import Destination, Found, RecordRejected, confirms_without_body, unconfirmed
from dbt_revsync.errors import ConfigIssue, DestinationError, FatalDestinationError, TransientDestinationError
from dbt_revsync.model import BatchResult, Change, Connection, SyncSpec

__all__ = [
    "convertible",
    "error_of",
    "HubSpotDestination",
    "ID_KEYS",
    "OBJECTS",
    "properties",
    "property_value",
    "PropertyInfo",
    "read_batch",
]

logger = logging.getLogger(__name__)

OBJECTS = facts.OBJECTS
ID_KEYS = ("id", "hs_object_id")  # an upsert_key naming HubSpot's own record id
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


@dataclass(frozen=True)
class PropertyInfo:
    """What the properties API says of one property: its type and whether it is unique."""

    name: str
    type: str
    unique: bool = False


class HubSpotDestination(Destination):
    type_name: ClassVar[str] = "hubspot"
    required_settings: ClassVar[tuple[str, ...]] = ("access_token",)
    optional_settings: ClassVar[tuple[str, ...]] = ("api_version",)
    secret_settings: ClassVar[tuple[str, ...]] = ("access_token",)
    objects: ClassVar[tuple[str, ...]] = OBJECTS
    max_batch_size: ClassVar[int] = facts.BATCH_LIMIT
    # 100 requests per rolling 10 s on the Free and Starter plans (190 on Professional and
    # Enterprise): 9 a second with a bucket of 9 never puts more than 99 in any 10 s.
    default_rate_limit: ClassVar[float] = 9.0

    def __init__(self, connection: Connection, http: HttpClient) -> None:
        super().__init__(connection, http)
        # object -> its properties as the properties API listed them in this push; None when
        # they could not be read (values then travel unconverted). Read on the push's first
        # use, so a push with nothing to send asks nothing.
        self._schema: dict[str, dict[str, PropertyInfo] | None] = {}
        self._to_read: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def default_root(cls, connection: Connection) -> str:
        return facts.ROOT

    @classmethod
    def check_connection(cls, connection: Connection) -> list[str]:
        version = connection.setting("api_version", facts.API_VERSION_DEFAULT)
        if not isinstance(version, str) or not facts.API_VERSION.match(version):
            return [
                "hubspot api_version must be 'v3' or a date-based version such as '2026-03' or '2026-09', not "
                f"{version!r}"
            ]
        return []

    @classmethod
    def windows(cls, connection: Connection) -> Mapping[str, tuple[Window, ...]]:
        """Search has its own limit, about 4 requests a second per account."""
        return {"search": (Window(facts.SEARCH_PER_SECOND, 1.0),)}

    @classmethod
    def check_spec(cls, spec: SyncSpec) -> list[tuple[str, str]]:
        problems = super().check_spec(spec)
        for field in spec.fields:
            if len(field.parts) > 1:
                problems.append(
                    (f"HubSpot properties are flat: {field.path!r} cannot be a dotted path", f"fields.{field.path}")
                )
        return problems

    # ---- requests ----------------------------------------------------------------------
    def _url(self, api: str, rest: str) -> str:
        version = str(self.connection.setting("api_version", facts.API_VERSION_DEFAULT))
        return f"{self.root}{facts.api_path(version, api, rest)}"

    def _post(self, result: BatchResult, spec: SyncSpec, action: str, body: Any) -> Reply:
        url = self._url("objects", f"{spec.object}/batch/{action}")
        return result.count(self.http.request("POST", url, json=body, headers=self._auth()))

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.connection.setting('access_token')}"}

    # ---- the object's properties (value types, validate --remote) ---------------------------
    def prepare(self, spec: SyncSpec) -> None:
        """The object's properties are read once per push (on the first batch or lookup):
        their types decide which values are converted to epoch milliseconds. When they cannot
        be read, values travel as they are (a date then goes as its ISO text) and the push
        says so in its log."""
        with self._lock:
            self._schema.pop(spec.object, None)
            self._to_read.add(spec.object)

    def _properties(self, obj: str) -> dict[str, PropertyInfo]:
        """``GET /crm/v3/properties/{object}``; DestinationError when it cannot be read."""
        reply = self.http.request("GET", self._url("properties", obj), headers=self._auth())
        body = reply.json()
        if not reply.ok or not isinstance(body, dict) or not isinstance(body.get("results"), list):
            code, message = error_of(reply)
            raise DestinationError(f"HubSpot did not list the {obj} properties ({code}): {message}")
        return {
            str(p["name"]): PropertyInfo(
                str(p["name"]), str(p.get("type") or "string"), p.get("hasUniqueValue") is True
            )
            for p in body["results"]
            if isinstance(p, dict) and p.get("name")
        }

    def _types(self, spec: SyncSpec) -> dict[str, str] | None:
        with self._lock:
            if spec.object in self._to_read:
                self._to_read.discard(spec.object)
                try:
                    self._schema[spec.object] = self._properties(spec.object)
                except DestinationError as exc:
                    self._schema[spec.object] = None
                    logger.warning(
                        "%s: HubSpot's property list could not be read (%s): values are sent unconverted",
                        spec.label,
                        exc,
                    )
            schema = self._schema.get(spec.object)
        return None if schema is None else {name: info.type for name, info in schema.items()}

    def list_fields(self, spec: SyncSpec) -> set[str] | None:
        """``validate --remote``: the names the properties API lists for the object."""
        return set(self._properties(spec.object))

    def remote_issues(self, spec: SyncSpec) -> list[ConfigIssue]:
        """``validate --remote``: an upsert_key HubSpot cannot address records by (not a
        unique property, nor a contact's email)."""
        key = spec.upsert_key
        if not key or key in ID_KEYS or spec.insert_mode == "append":
            return []
        try:
            info = self._properties(spec.object).get(key)
        except DestinationError:
            return []  # list_fields reports the same failure
        if info is None or info.unique or facts.folds_case(spec.object, key):
            return []
        return [
            ConfigIssue(
                f"upsert_key {key!r} is not a unique property of HubSpot {spec.object}: HubSpot reads and upserts "
                "records only by a property with unique values (or a contact's email)",
                where=f"{spec.node.resource_type} '{spec.node.name}'",
                file=spec.node.yaml_file,
                key=f"{spec.key_path}.upsert_key",
            )
        ]

    # ---- writes ---------------------------------------------------------------------------
    def send(self, spec: SyncSpec, changes: Sequence[Change]) -> BatchResult:
        result = BatchResult()
        types = self._types(spec)
        changes = convertible(changes, result, types)
        by_id = spec.upsert_key in ID_KEYS
        steps: list[tuple[Callable[..., None], list[Change]]] = [
            (self._create, [c for c in changes if c.op == "create"]),
            (self._update, [c for c in changes if c.op in ("upsert", "update") and (c.remote_id or by_id)]),
            (self._upsert, [c for c in changes if c.op == "upsert" and not (c.remote_id or by_id)]),
            (self._update_by_property, [c for c in changes if c.op == "update" and not (c.remote_id or by_id)]),
            (self._delete, [c for c in changes if c.op == "delete"]),
        ]
        try:
            for step, chosen in steps:
                if chosen:
                    step(spec, chosen, result)
        except (TransientDestinationError, FatalDestinationError) as exc:
            result.cut_short(changes, exc)
        return result

    def _create(self, spec: SyncSpec, changes: list[Change], result: BatchResult) -> None:
        types = self._types(spec)
        inputs = [
            {"properties": properties(c.fields, types), "associations": [], "objectWriteTraceId": c.key}
            for c in changes
        ]
        reply = self._post(result, spec, "create", {"inputs": inputs})
        read_batch(reply, changes, result, "created", lambda c, r: r.get("objectWriteTraceId") == c.key)

    def _update(self, spec: SyncSpec, changes: list[Change], result: BatchResult) -> None:
        """By HubSpot id; an upsert whose remembered record is gone is upserted instead."""
        types = self._types(spec)
        ids = {c.key: str(c.remote_id or c.upsert_value) for c in changes}
        inputs = [
            {"id": ids[c.key], "properties": properties(c.fields, types), "objectWriteTraceId": c.key} for c in changes
        ]
        reply = self._post(result, spec, "update", {"inputs": inputs})
        gone = [c for c in changes if c.op == "upsert" and c.remote_id and _not_found(reply, ids[c.key])]
        rest = [c for c in changes if c not in gone]
        read_batch(reply, rest, result, "updated", lambda c, r: str(r.get("id")) == ids[c.key], ids)
        if gone:
            self._upsert(spec, gone, result)

    def _upsert(self, spec: SyncSpec, changes: list[Change], result: BatchResult) -> None:
        """batch/upsert by ``idProperty`` = upsert_key. An email-keyed upsert of contacts has no
        partial results: when HubSpot refuses such a batch as a whole, it is split in halves and
        each half sent again, so only the inputs at fault end rejected (a batch of n with one bad
        input costs about 2·log2(n) more requests)."""
        key = spec.upsert_key or ""
        types = self._types(spec)
        inputs = [
            {
                "id": str(c.upsert_value),
                "idProperty": key,
                "properties": properties(c.fields, types),
                "objectWriteTraceId": c.key,
            }
            for c in changes
        ]
        reply = self._post(result, spec, "upsert", {"inputs": inputs})
        if len(changes) > 1 and reply.status in (400, 409, 422) and facts.upsert_is_all_or_nothing(spec.object, key):
            half = len(changes) // 2
            logger.debug(
                "%s: HubSpot refused an email-keyed upsert of %d as a whole: sending it in halves",
                spec.label,
                len(changes),
            )
            self._upsert(spec, changes[:half], result)
            self._upsert(spec, changes[half:], result)
            return
        values = {c.key: _folded(spec, key, c.upsert_value) for c in changes}
        sent = {c.key: str(c.upsert_value) for c in changes}
        read_batch(reply, changes, result, None, _property_match(spec, key, values), sent)

    def _update_by_property(self, spec: SyncSpec, changes: list[Change], result: BatchResult) -> None:
        """HubSpot updates in batch only by id (batch/update by email is refused): batch/read
        by ``idProperty`` = upsert_key finds the ids, then batch/update sends by id."""
        ids = self._find_ids(spec, changes, result, vendor_codes=True)
        found = [replace(c, remote_id=ids[c.key]) for c in changes if c.key in ids]
        if found:
            self._update(spec, found, result)

    def _delete(self, spec: SyncSpec, changes: list[Change], result: BatchResult) -> None:
        ids: dict[str, str] = {}
        lookup = []
        for change in changes:
            if change.remote_id or spec.upsert_key in ID_KEYS:
                ids[change.key] = str(change.remote_id or change.upsert_value)
            else:
                lookup.append(change)
        if lookup:
            ids.update(self._find_ids(spec, lookup, result))
        doomed = [c for c in changes if c.key in ids]
        if not doomed:
            return
        reply = self._post(result, spec, "archive", {"inputs": [{"id": ids[c.key]} for c in doomed]})
        if confirms_without_body(reply):  # 204: archiving an id HubSpot does not know is already done
            for change in doomed:
                result.ack(change, ids[change.key], "deleted")
        elif reply.ok:
            for change in doomed:
                result.leave(change, unconfirmed(reply, "204 No Content"))
        else:
            code, message = error_of(reply)
            for change in doomed:
                result.reject(change, code, message)

    # ---- lookups for the shared matching step (``match_on``, ``on_update: if_empty``) --------
    def find(self, spec: SyncSpec, field: str, value: Any, result: BatchResult) -> list[Found]:
        """Records whose property ``field`` equals ``value``: ``POST .../search`` with EQ, asking
        for every mapped property (HubSpot answers only the properties asked for, and the
        matching step judges ``if_empty`` fields on this answer). Paced as a search."""
        try:
            wanted = property_value(value, (self._types(spec) or {}).get(field))
        except ValueError as exc:
            raise RecordRejected("invalid_value", f"{field}: {exc}") from None
        asked = list(dict.fromkeys([field, *(f.path for f in spec.fields)]))
        body = {
            "filterGroups": [{"filters": [{"propertyName": field, "operator": "EQ", "value": wanted}]}],
            "properties": asked,
            "sorts": [],
            "limit": 10,
            "after": "0",
        }
        url = self._url("objects", f"{spec.object}/search")
        reply = result.count(self.http.request("POST", url, json=body, headers=self._auth(), family="search"))
        if not reply.ok:
            raise RecordRejected(*error_of(reply))
        answer = reply.json()
        if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
            raise TransientDestinationError(unconfirmed(reply, "a search answer with results"))
        return [Found(str(r["id"]), r) for r in answer["results"] if isinstance(r, dict) and r.get("id") is not None]

    def fetch(self, spec: SyncSpec, record_id: str, result: BatchResult) -> Mapping[str, Any] | None:
        names = ",".join(f.path for f in spec.fields)
        url = self._url("objects", f"{spec.object}/{record_id}")
        reply = result.count(self.http.request("GET", url, params={"properties": names}, headers=self._auth()))
        if reply.status == 404:
            return None
        if not reply.ok:
            raise RecordRejected(*error_of(reply))
        record = reply.json()
        if not isinstance(record, dict) or record.get("id") is None:
            raise TransientDestinationError(unconfirmed(reply, f"record {record_id}"))
        return record

    def current_value(self, spec: SyncSpec, record: Mapping[str, Any], path: str) -> Any:
        return (record.get("properties") or {}).get(path)

    def _find_ids(
        self, spec: SyncSpec, changes: list[Change], result: BatchResult, vendor_codes: bool = False
    ) -> dict[str, str]:
        """Record ids by a unique property (batch/read); a value with no record is rejected
        (``no_match``; with ``vendor_codes`` HubSpot's own error where its answer names the
        value, as an update by the key always answered). Emails compare case-blind."""
        key = spec.upsert_key or ""
        sent = {c.key: str(c.upsert_value) for c in changes}
        values = {c.key: _folded(spec, key, c.upsert_value) for c in changes}
        body = {
            "idProperty": key,
            "inputs": [{"id": v} for v in dict.fromkeys(sent.values())],
            "properties": [key],
            "propertiesWithHistory": [],
        }
        reply = self._post(result, spec, "read", body)
        answer = reply.json() if isinstance(reply.json(), dict) else {}
        if not reply.ok:
            code, message = error_of(reply)
            for change in changes:
                result.reject(change, code, message)
            return {}
        if not isinstance(answer.get("results"), list):
            for change in changes:
                result.leave(change, unconfirmed(reply, "a batch/read answer with results"))
            return {}
        found = {
            _folded(spec, key, (r.get("properties") or {}).get(key)): str(r.get("id"))
            for r in answer["results"]
            if isinstance(r, dict) and r.get("id") is not None
        }
        missing = _missing(answer, spec, key) if vendor_codes else {}
        ids = {}
        for change in changes:
            if values[change.key] in found:
                ids[change.key] = found[values[change.key]]
            elif values[change.key] in missing:
                result.reject(change, *missing[values[change.key]])
            else:
                result.reject(change, "no_match", f"no {spec.object} record with {key} = {sent[change.key]!r}")
        return ids


def _folded(spec: SyncSpec, key: str, value: Any) -> str:
    """A key value as HubSpot compares it: emails in lower case, every other value as is."""
    text = "" if value is None else str(value)
    return text.strip().lower() if facts.folds_case(spec.object, key) else text


def _missing(answer: Mapping[str, Any], spec: SyncSpec, key: str) -> dict[str, tuple[str, str]]:
    """The values a batch/read answer's errors name (``context.ids``): value -> (code, message)."""
    named = {}
    for error in answer.get("errors") or []:
        if isinstance(error, dict) and isinstance(error.get("context"), dict):
            for value in error["context"].get("ids") or []:
                named[_folded(spec, key, value)] = (str(error.get("category") or "OBJECT_NOT_FOUND"), _message(error))
    return named


# ---- answers --------------------------------------------------------------------------------


def read_batch(
    reply: Reply,
    changes: list[Change],
    result: BatchResult,
    outcome: str | None,
    matches: Callable[[Change, Mapping[str, Any]], bool],
    ids: Mapping[str, str] | None = None,
) -> None:
    """Acknowledge the inputs HubSpot's ``results`` hold, reject those its ``errors`` name.

    A result acknowledges an input only with the record's ``id``; an input with neither a
    result nor an error (a 2xx that is not HubSpot's batch answer) is left for the next push.
    ``outcome`` None (batch upsert): ``created`` only when the result says ``"new": true``,
    else ``updated`` (HubSpot's batch upsert answers each result with ``new``).
    """
    body = reply.json() if isinstance(reply.json(), dict) else {}
    if not reply.ok:
        code, message = error_of(reply)
        for change in changes:  # a whole-batch error: every input shares it
            result.reject(change, code, message)
        return
    results = [r for r in body.get("results") or [] if isinstance(r, dict) and r.get("id") not in (None, "")]
    traced = {str(r.get("objectWriteTraceId")): r for r in results if r.get("objectWriteTraceId") is not None}
    done: set[str] = set()
    for change in changes:
        record = traced.get(change.key)  # the input's own trace id, when HubSpot echoes it
        if record is None or not matches(change, record):
            record = next((r for r in results if matches(change, r)), None)
        if record is not None:
            done.add(change.key)
            result.ack(change, record.get("id"), outcome or ("created" if record.get("new") is True else "updated"))
    for error in body.get("errors") or []:
        if not isinstance(error, dict):
            continue
        for change in _named_by(error, changes, ids):
            if change.key not in done:
                done.add(change.key)
                result.reject(change, error.get("category") or reply.status, _message(error))
    for change in changes:
        if change.key not in done:
            result.leave(change, unconfirmed(reply, "a result or an error for this input"))


def _named_by(error: Mapping[str, Any], changes: Iterable[Change], ids: Mapping[str, str] | None) -> list[Change]:
    """The inputs an error entry names in its ``context``: trace ids first, else ids."""
    context = error.get("context")
    if not isinstance(context, dict):
        context = {}
    traces = {str(v) for v in context.get("objectWriteTraceId") or []}
    named = {str(v) for v in context.get("ids") or []}
    return [c for c in changes if c.key in traces or (not traces and ids is not None and ids.get(c.key) in named)]


def _not_found(reply: Reply, record_id: str) -> bool:
    body = reply.json() if isinstance(reply.json(), dict) else {}
    return any(
        isinstance(e, dict)
        and e.get("category") == "OBJECT_NOT_FOUND"
        and record_id in map(str, (e.get("context") or {}).get("ids") or [])
        for e in body.get("errors") or []
    )


def _property_match(spec: SyncSpec, key: str, values: Mapping[str, str]) -> Callable[[Change, Mapping[str, Any]], bool]:
    """A result is an input's when it echoes the input's trace id, else when its key property
    holds the input's value (emails compared case-blind: HubSpot stores them in lower case)."""

    def matches(change: Change, record: Mapping[str, Any]) -> bool:
        if record.get("objectWriteTraceId") is not None:
            return record.get("objectWriteTraceId") == change.key
        return _folded(spec, key, (record.get("properties") or {}).get(key)) == values[change.key]

    return matches


def _message(error: Mapping[str, Any]) -> str:
    message = str(error.get("message") or "")
    details = [str(d.get("message")) for d in error.get("errors") or [] if isinstance(d, dict) and d.get("message")]
    extra = [d for d in details if d not in message]
    return "; ".join([message, *extra]) if message else "; ".join(details) or "rejected by HubSpot"


def error_of(reply: Reply) -> tuple[str, str]:
    """HubSpot's error body: ``{"status": "error", "category", "message", "errors": [...]}``."""
    body = reply.json()
    if isinstance(body, dict) and body.get("message"):
        return str(body.get("category") or reply.status), _message(body)
    return str(reply.status), reply.text[:500] or f"HTTP {reply.status}"


# ---- values -------------------------------------------------------------------------------


def convertible(changes: Sequence[Change], result: BatchResult, types: Mapping[str, str] | None = None) -> list[Change]:
    """The changes whose values HubSpot can take; each other one is rejected with the reason."""
    kept = []
    for change in changes:
        try:
            properties(change.fields, types)
        except ValueError as exc:
            result.reject(change, "invalid_value", str(exc))
        else:
            kept.append(change)
    return kept


def properties(fields: Mapping[str, Any], types: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every field as HubSpot's text, converted by its property's type (``types``: name ->
    the properties API's ``type``; None or a name it lacks: no date conversion).
    ValueError naming the field when one cannot be converted."""
    out = {}
    for name, value in fields.items():
        try:
            out[name] = property_value(value, (types or {}).get(name))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return out


def property_value(value: Any, kind: str | None = None) -> str:
    """HubSpot's text form of a value for a property of type ``kind``.

    Null clears (``""``); booleans ``true``/``false``; a list is a multi-checkbox value
    (``a;b``). Only for a ``date`` or ``datetime`` property is a ``YYYY-MM-DD`` date turned
    into its midnight-UTC epoch milliseconds and an ISO date-time into its epoch
    milliseconds (UTC when it carries no offset); text shaped like a date that is no date
    (``2023-02-29``) then raises ValueError: the row is rejected, never sent half-converted.
    Any other property (text above all) takes the text as it is: ``"2024-03-05"`` stays.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ";".join(property_value(item, kind) for item in value if item is not None)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    dated = kind in facts.DATE_TYPES
    if isinstance(value, (dt.date, dt.datetime)):
        return _epoch_ms(value.isoformat()) if dated else value.isoformat()
    if isinstance(value, str) and dated:
        if _DATE.match(value):
            try:
                day = dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
            except ValueError:
                raise ValueError(f"{value!r} looks like a date but is not one") from None
            return str(int(day.timestamp()) * 1000)
        if _DATETIME.match(value):
            return _epoch_ms(value)
    return str(value)


def _epoch_ms(text: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} looks like a date-time but is not one") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return str(round(moment.timestamp() * 1000))
