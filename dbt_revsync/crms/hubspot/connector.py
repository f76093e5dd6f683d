"""HubSpot (CRM v3): contacts, companies and deals, through the batch endpoints.

Facts (docs/crm-notes.md): ``Authorization: Bearer <private app token>``; API root
``https://api.hubapi.com``; ``POST /crm/v3/objects/<object>/batch/{create,update,upsert,
read,archive}`` take at most 100 inputs. Every property value is a string; date properties
take midnight-UTC epoch milliseconds; multi-checkbox values are ``;``-separated.

How each insert mode travels:

    create   batch/create, each input tagged with ``objectWriteTraceId`` = the record key, so
             a 207 answer says which inputs failed
    upsert   a remembered id: batch/update by id (an id HubSpot no longer knows falls back to
             the next line); otherwise batch/upsert with ``idProperty`` = upsert_key
    update   batch/update by the remembered id, else by ``idProperty`` = upsert_key: no
             match is HubSpot's own OBJECT_NOT_FOUND, a reject
    delete   batch/archive by id (the remembered one, or upsert_key ``id``/``hs_object_id``);
             by another unique property, batch/read finds the ids first

A 207 answer is split: ``results`` are acknowledged, each ``errors[]`` entry rejects the
inputs its ``context`` names (``objectWriteTraceId`` or ``ids``) with HubSpot's message.
Anything neither acknowledged nor rejected stays uncommitted and is sent again.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from dbt_revsync.config import Connection, SyncSpec
from dbt_revsync.delivery import Reply
from dbt_revsync.destinations.base import (
    BatchResult,
    Change,
    Destination,
    Found,
    RecordRejected,
    confirms_without_body,
    unconfirmed,
)
from dbt_revsync.errors import FatalDestinationError, TransientDestinationError

OBJECTS = ("contacts", "companies", "deals")
ID_KEYS = ("id", "hs_object_id")  # an upsert_key naming HubSpot's own record id
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


class HubSpotDestination(Destination):
    type_name: ClassVar[str] = "hubspot"
    required_settings: ClassVar[tuple[str, ...]] = ("access_token",)
    secret_settings: ClassVar[tuple[str, ...]] = ("access_token",)
    objects: ClassVar[tuple[str, ...]] = OBJECTS
    max_batch_size: ClassVar[int] = 100
    # 100 requests per rolling 10 s on the Free and Starter plans (190 on Professional and
    # Enterprise): 9 a second with a bucket of 9 never puts more than 99 in any 10 s.
    default_rate_limit: ClassVar[float] = 9.0

    @classmethod
    def default_root(cls, connection: Connection) -> str:
        return "https://api.hubapi.com"

    @classmethod
    def check_spec(cls, spec: SyncSpec) -> list[tuple[str, str]]:
        problems = super().check_spec(spec)
        for field in spec.fields:
            if len(field.parts) > 1:
                problems.append((f"HubSpot properties are flat: {field.path!r} cannot be a dotted path", f"fields.{field.path}"))
        return problems

    # ---- requests ----------------------------------------------------------------------
    def _post(self, result: BatchResult, spec: SyncSpec, action: str, body: Any) -> Reply:
        url = f"{self.root}/crm/v3/objects/{spec.object}/batch/{action}"
        return result.count(self.http.request("POST", url, json=body, headers=self._auth()))

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.connection.setting('access_token')}"}

    def send(self, spec: SyncSpec, changes: Sequence[Change]) -> BatchResult:
        result = BatchResult()
        changes = convertible(changes, result)
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
        inputs = [{"properties": properties(c.fields), "associations": [], "objectWriteTraceId": c.key} for c in changes]
        reply = self._post(result, spec, "create", {"inputs": inputs})
        read_batch(reply, changes, result, "created", lambda c, r: r.get("objectWriteTraceId") == c.key)

    def _update(self, spec: SyncSpec, changes: list[Change], result: BatchResult) -> None:
        """By HubSpot id; an upsert whose remembered record is gone is upserted instead."""
        ids = {c.key: str(c.remote_id or c.upsert_value) for c in changes}
        inputs = [{"id": ids[c.key], "properties": properties(c.fields), "objectWriteTraceId": c.key} for c in changes]
        reply = self._post(result, spec, "update", {"inputs": inputs})
        gone = [c for c in changes if c.op == "upsert" and c.remote_id and _not_found(reply, ids[c.key])]
        rest = [c for c in changes if c not in gone]
        read_batch(reply, rest, result, "updated", lambda c, r: str(r.get("id")) == ids[c.key], ids)
        if gone:
            self._upsert(spec, gone, result)

    def _upsert(self, spec: SyncSpec, changes: list[Change], result: BatchResult) -> None:
        key = spec.upsert_key or ""
        inputs = [
            {"id": str(c.upsert_value), "idProperty": key, "properties": properties(c.fields), "objectWriteTraceId": c.key}
            for c in changes
        ]
        reply = self._post(result, spec, "upsert", {"inputs": inputs})
        values = {c.key: str(c.upsert_value) for c in changes}
        read_batch(reply, changes, result, None, _property_match(key, values), values)

    def _update_by_property(self, spec: SyncSpec, changes: list[Change], result: BatchResult) -> None:
        key = spec.upsert_key or ""
        values = {c.key: str(c.upsert_value) for c in changes}
        inputs = [{"id": values[c.key], "idProperty": key, "properties": properties(c.fields), "objectWriteTraceId": c.key} for c in changes]
        reply = self._post(result, spec, "update", {"inputs": inputs})
        read_batch(reply, changes, result, "updated", _property_match(key, values), values)

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
        """Records whose property ``field`` equals ``value``: ``POST .../search`` with EQ."""
        try:
            wanted = property_value(value)
        except ValueError as exc:
            raise RecordRejected("invalid_value", f"{field}: {exc}") from None
        body = {"filterGroups": [{"filters": [{"propertyName": field, "operator": "EQ", "value": wanted}]}],
                "properties": [field], "sorts": [], "limit": 10, "after": "0"}
        url = f"{self.root}/crm/v3/objects/{spec.object}/search"
        reply = result.count(self.http.request("POST", url, json=body, headers=self._auth()))
        if not reply.ok:
            raise RecordRejected(*error_of(reply))
        answer = reply.json()
        if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
            raise TransientDestinationError(unconfirmed(reply, "a search answer with results"))
        return [Found(str(r["id"]), r) for r in answer["results"] if isinstance(r, dict) and r.get("id") is not None]

    def fetch(self, spec: SyncSpec, record_id: str, result: BatchResult) -> Mapping[str, Any] | None:
        names = ",".join(f.path for f in spec.fields)
        url = f"{self.root}/crm/v3/objects/{spec.object}/{record_id}"
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

    def _find_ids(self, spec: SyncSpec, changes: list[Change], result: BatchResult) -> dict[str, str]:
        """Record ids by a unique property (batch/read); a value with no record is rejected."""
        key = spec.upsert_key or ""
        values = {c.key: str(c.upsert_value) for c in changes}
        body = {"idProperty": key, "inputs": [{"id": v} for v in values.values()], "properties": [key], "propertiesWithHistory": []}
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
        found = {str((r.get("properties") or {}).get(key)): str(r.get("id")) for r in answer.get("results") or []}
        ids = {}
        for change in changes:
            if values[change.key] in found:
                ids[change.key] = found[values[change.key]]
            else:
                result.reject(change, "no_match", f"no {spec.object} record with {key} = {values[change.key]!r}")
        return ids

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
    context = error.get("context") if isinstance(error.get("context"), dict) else {}
    traces = {str(v) for v in context.get("objectWriteTraceId") or []}
    named = {str(v) for v in context.get("ids") or []}
    return [c for c in changes if c.key in traces or (not traces and ids is not None and ids.get(c.key) in named)]


def _not_found(reply: Reply, record_id: str) -> bool:
    body = reply.json() if isinstance(reply.json(), dict) else {}
    return any(
        isinstance(e, dict) and e.get("category") == "OBJECT_NOT_FOUND" and record_id in map(str, (e.get("context") or {}).get("ids") or [])
        for e in body.get("errors") or []
    )


def _property_match(key: str, values: Mapping[str, str]) -> Callable[[Change, Mapping[str, Any]], bool]:
    def matches(change: Change, record: Mapping[str, Any]) -> bool:
        if record.get("objectWriteTraceId") is not None:
            return record.get("objectWriteTraceId") == change.key
        wanted = values[change.key]
        found = str((record.get("properties") or {}).get(key, ""))
        return found.lower() == wanted.lower() if key == "email" else found == wanted

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


def convertible(changes: Sequence[Change], result: BatchResult) -> list[Change]:
    """The changes whose values HubSpot can take; each other one is rejected with the reason."""
    kept = []
    for change in changes:
        try:
            properties(change.fields)
        except ValueError as exc:
            result.reject(change, "invalid_value", str(exc))
        else:
            kept.append(change)
    return kept


def properties(fields: Mapping[str, Any]) -> dict[str, str]:
    """Every field as HubSpot's text; ValueError naming the field when one cannot be converted."""
    out = {}
    for name, value in fields.items():
        try:
            out[name] = property_value(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return out


def property_value(value: Any) -> str:
    """HubSpot's text form of a value.

    Null clears (``""``); booleans ``true``/``false``; a list is a multi-checkbox value
    (``a;b``); a ``YYYY-MM-DD`` date is its midnight-UTC epoch milliseconds, and an ISO
    date-time its epoch milliseconds (UTC when it carries no offset). Assumed: a text
    column holding exactly a date is meant as a date. Text shaped like a date that is no
    date (``2023-02-29``) raises ValueError: the row is rejected, never sent half-converted.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ";".join(property_value(item) for item in value if item is not None)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str):
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
