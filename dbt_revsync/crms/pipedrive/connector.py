"""Pipedrive (API v2): organizations, persons and deals.

Facts (docs/crm-notes.md): header ``x-api-token``; API root ``https://api.pipedrive.com/api/v2``
(or ``https://<company>.pipedrive.com/api/v2``); every answer is ``{success, data,
additional_data}``, an error ``{success: false, error, error_info}``. v2 has **no upsert and
no batch write** for these objects, so each record is its own requests:

    create   POST /<object>                      (organization ``name`` and deal ``title``
                                                  are checked first: a row without them is
                                                  rejected, never sent)
    update   PATCH /<object>/{id}                a remembered record that is gone (404) is
                                                  created again under upsert and mirror
    delete   DELETE /<object>/{id}               a 404 means already gone

Upsert, update, delete and mirror go through the shared matching step (``matching``): the
remembered id, else ``find`` by the upsert key (``GET /<object>/search?term=..&fields=..
&exact_match=true``; for a custom field the candidates are read back with ``fetch`` to
compare the exact field, since search answers do not say which custom field matched); no
match creates (upsert) or rejects (update, delete). The id is committed with the row, so
later pushes patch directly without searching (a search costs 20 tokens). Searches are
paced in their own family, 10 per 2 s (``facts.SEARCH_WINDOW``).

Only searchable fields can be keys (``facts``): a key search cannot reach finds nothing, so
upsert would create a duplicate of every record. ``check_spec`` refuses a built-in field that
is not searchable; ``prepare`` (push) and ``remote_issues`` (``validate --remote``) refuse a
custom field whose type is not searchable, before anything is sent.

``address`` (organizations) and ``postal_address`` (persons) are objects in v2: a text value
is sent as ``{"value": text}``; an object is sent as given.

Custom fields are named in the model YAML by their **name** (``custom_fields.<name>`` or the
bare name); ``prepare`` reads ``/organizationFields`` (``/personFields``, ``/dealFields``)
once per push and resolves each name to its 40-character key; an unknown name is a
configuration error. Option fields take option labels or ids; a multi-option field gets
``null`` to clear, never ``[]``.

Acknowledged: only by Pipedrive's envelope ``{"success": true, "data": {"id": ..}}`` (a
delete's ``data`` may hold only the id); a 2xx without it is left for the next push. Created
or matched: ``POST`` (answered 200, not 201) always makes a new record (``created``); a
``PATCH`` by id is ``updated``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from dbt_revsync.crms.pipedrive import facts
from dbt_revsync.delivery import HttpClient, Reply, Window
from dbt_revsync.destinations.base import Found, PerRecordDestination, RecordRejected, unconfirmed
from dbt_revsync.errors import ConfigError, ConfigIssue, TransientDestinationError
from dbt_revsync.model import BatchResult, Change, Connection, SyncSpec

__all__ = [
    "custom_name",
    "custom_value",
    "CustomField",
    "envelope_data",
    "error_of",
    "FIELD_LISTS",
    "LIST_FIELDS",
    "OPTION_TYPES",
    "PipedriveDestination",
    "REQUIRED",
    "Resolved",
    "STANDARD",
]

logger = logging.getLogger(__name__)

FIELD_LISTS = facts.FIELD_LISTS
REQUIRED = {"organizations": ("name",), "deals": ("title",)}
LIST_FIELDS = ("emails", "phones", "im")  # v2 takes a list of {value, primary, label}
# Standard body fields of v2 (the published spec's request bodies), known even when a
# field list leaves them out.
STANDARD = {
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
    },
    "persons": {
        "name",
        "owner_id",
        "org_id",
        "add_time",
        "emails",
        "email",
        "phones",
        "phone",
        "visible_to",
        "label_ids",
        "postal_address",
        "notes",
        "im",
        "birthday",
        "job_title",
        "marketing_status",
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
        "status",
        "probability",
        "lost_reason",
        "visible_to",
        "close_time",
        "won_time",
        "lost_time",
        "expected_close_date",
        "label_ids",
        "is_archived",
        "archive_time",
    },
}
OPTION_TYPES = ("enum", "set")


@dataclass(frozen=True)
class CustomField:
    name: str
    code: str
    field_type: str
    options: Mapping[str, int]  # label (lower case) -> option id


@dataclass(frozen=True)
class Resolved:
    """A sync's YAML field names, resolved against the object's field list."""

    custom: Mapping[str, CustomField]  # name as written in YAML -> field


class PipedriveDestination(PerRecordDestination):
    type_name: ClassVar[str] = "pipedrive"
    required_settings: ClassVar[tuple[str, ...]] = ("api_token",)
    optional_settings: ClassVar[tuple[str, ...]] = ("company_domain",)
    secret_settings: ClassVar[tuple[str, ...]] = ("api_token",)
    objects: ClassVar[tuple[str, ...]] = tuple(FIELD_LISTS)
    max_batch_size: ClassVar[int] = 100
    # The burst limit of the smallest plan: 20 requests per rolling 2 s.
    default_rate_limit: ClassVar[float] = 9.0
    native_upsert: ClassVar[bool] = False  # upsert, update, delete, mirror: ``find`` first

    def __init__(self, connection: Connection, http: HttpClient) -> None:
        super().__init__(connection, http)
        self._field_lists: dict[str, list[dict[str, Any]]] = {}
        self._resolved: dict[str, Resolved] = {}

    @classmethod
    def default_root(cls, connection: Connection) -> str:
        if connection.setting("company_domain"):
            return f"https://{cls.vendor_host(connection, 'company_domain', 'pipedrive.com')}/api/v2"
        return "https://api.pipedrive.com/api/v2"

    @classmethod
    def windows(cls, connection: Connection) -> Mapping[str, tuple[Window, ...]]:
        """Search has its own limit: 10 requests per 2 s per token (``facts.SEARCH_WINDOW``)."""
        return {"search": (Window(*facts.SEARCH_WINDOW),)}

    @classmethod
    def check_spec(cls, spec: SyncSpec) -> list[tuple[str, str]]:
        """A built-in field Pipedrive's search cannot search is no key: nothing would ever be
        found, and upsert would create a duplicate of every record. (Custom field keys are
        checked against their type once the field list is read: ``prepare``, ``remote_issues``.)"""
        problems = super().check_spec(spec)
        if problems:
            return problems
        for setting, key in _keys(spec):
            parts = _key_path(spec, key).split(".")
            name = parts[0]
            if (
                name != "custom_fields"
                and len(parts) == 1
                and name in STANDARD[spec.object]
                and name not in facts.SEARCHABLE_BODY_FIELDS[spec.object]
            ):
                problems.append((_unsearchable(spec, key, f"the built-in field {name!r}"), setting))
        return problems

    # ---- requests ----------------------------------------------------------------------
    def _call(
        self,
        result: BatchResult | None,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        family: str = "",
    ) -> Reply:
        headers = {"x-api-token": str(self.connection.setting("api_token"))}
        reply = self.http.request(
            method, f"{self.root}/{path}", json=body, params=params, headers=headers, family=family
        )
        return result.count(reply) if result is not None else reply

    # ---- custom fields -------------------------------------------------------------------
    def prepare(self, spec: SyncSpec) -> None:
        """Read the object's field list (once per push) and resolve the sync's custom field names;
        an unknown name is a configuration error."""
        resolved, issues = self._resolve(spec)
        if issues:
            raise ConfigError(issues)
        self._resolved[spec.sync_id] = resolved
        logger.debug("%s: custom fields %s", spec.label, {name: f.code for name, f in resolved.custom.items()})

    def remote_issues(self, spec: SyncSpec) -> list[ConfigIssue]:
        """``validate --remote``: the custom field names Pipedrive does not know."""
        try:
            return self._resolve(spec)[1]
        except ConfigError as exc:
            return exc.issues

    def _resolve(self, spec: SyncSpec) -> tuple[Resolved, list[ConfigIssue]]:
        fields = self._fields_of(spec.object)
        by_name = {str(f.get("field_name", "")).strip().lower(): f for f in fields if f.get("is_custom_field")}
        standard = STANDARD[spec.object] | {str(f.get("field_code")) for f in fields if not f.get("is_custom_field")}
        custom: dict[str, CustomField] = {}
        issues = []
        for field in spec.fields:
            name = custom_name(field.parts, standard)
            if name is None:
                continue
            found = by_name.get(name.strip().lower())
            if found is None:
                issues.append(
                    ConfigIssue(
                        f"Pipedrive has no {spec.object[:-1]} field named {name!r} (see /{FIELD_LISTS[spec.object]})",
                        where=f"{spec.node.resource_type} '{spec.node.name}'",
                        file=spec.node.yaml_file,
                        key=f"{spec.key_path}.fields.{field.path}",
                    )
                )
                continue
            options = {
                str(o.get("label", "")).strip().lower(): int(o["id"]) for o in found.get("options") or [] if "id" in o
            }
            custom[name] = CustomField(
                str(found["field_name"]), str(found["field_code"]), str(found.get("field_type")), options
            )
        issues += self._unsearchable_keys(spec, custom, standard)
        return Resolved(custom), issues

    def _unsearchable_keys(
        self, spec: SyncSpec, custom: Mapping[str, CustomField], standard: set[str]
    ) -> list[ConfigIssue]:
        """The keys Pipedrive's search cannot reach: a custom field of a type search skips, or
        a standard field (of the field list) that no search ``fields`` value covers."""
        issues = []
        for setting, key in _keys(spec):
            name = custom_name(tuple(_key_path(spec, key).split(".")), standard)
            field = custom.get(name) if name is not None else None
            if field is not None and field.field_type not in facts.SEARCHABLE_CUSTOM_TYPES:
                what = f"the custom field {field.name!r} of type {field.field_type!r}"
            elif name is None and _key_path(spec, key) not in facts.SEARCHABLE_BODY_FIELDS[spec.object]:
                what = f"the built-in field {_key_path(spec, key)!r}"
            else:
                continue
            issues.append(
                ConfigIssue(
                    _unsearchable(spec, key, what),
                    where=f"{spec.node.resource_type} '{spec.node.name}'",
                    file=spec.node.yaml_file,
                    key=f"{spec.key_path}.{setting}",
                )
            )
        return issues

    def _fields_of(self, obj: str) -> list[dict[str, Any]]:
        if obj not in self._field_lists:
            fields: list[dict[str, Any]] = []
            cursor = None
            while True:
                params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
                reply = self._call(None, "GET", FIELD_LISTS[obj], params=params)
                body = reply.json() if isinstance(reply.json(), dict) else {}
                if not reply.ok or not body.get("success"):
                    code, message = error_of(reply)
                    raise ConfigError(ConfigIssue(f"cannot read Pipedrive's /{FIELD_LISTS[obj]}: {code}: {message}"))
                fields.extend(f for f in body.get("data") or [] if isinstance(f, dict))
                cursor = (body.get("additional_data") or {}).get("next_cursor")
                if not cursor:
                    break
            self._field_lists[obj] = fields
        return self._field_lists[obj]

    # ---- one record (the shared matching step has linked it: create, or update/delete by id) --
    def send_one(self, spec: SyncSpec, change: Change, result: BatchResult) -> None:
        if change.op == "delete":
            self._delete(spec, change, result)
            return
        try:
            body = self._body(spec, change.fields)
        except ValueError as exc:
            result.reject(change, "invalid_value", str(exc))
            return
        if change.op == "create" or not change.remote_id:
            self._create(spec, change, body, result)
            return
        reply = self._call(result, "PATCH", f"{spec.object}/{change.remote_id}", body)
        if reply.status == 404 and spec.insert_mode in ("upsert", "mirror"):
            self._create(spec, change, body, result)  # the remembered record is gone: upsert creates
        else:
            self._read(reply, change, result, "updated")

    def _create(self, spec: SyncSpec, change: Change, body: dict[str, Any], result: BatchResult) -> None:
        missing = [name for name in REQUIRED.get(spec.object, ()) if body.get(name) in (None, "")]
        if missing:
            result.reject(
                change,
                "missing_required_field",
                f"a new {spec.object[:-1]} needs {', '.join(missing)}: the row has none",
            )
            return
        self._read(self._call(result, "POST", spec.object, body), change, result, "created")

    def _delete(self, spec: SyncSpec, change: Change, result: BatchResult) -> None:
        record_id = change.remote_id or change.upsert_value
        reply = self._call(result, "DELETE", f"{spec.object}/{record_id}")
        if reply.status == 404:  # already gone
            result.ack(change, record_id, "deleted")
        else:
            self._read(reply, change, result, "deleted")

    # ---- lookups for the shared matching step ------------------------------------------------
    def find(self, spec: SyncSpec, field: str, value: Any, result: BatchResult) -> list[Found]:
        """Records whose ``field`` equals ``value`` exactly: ``/<object>/search`` with
        ``exact_match``; for a custom field each candidate is read back and compared, since a
        search answer does not say which custom field matched."""
        custom = self._custom_field(spec, field)
        searched = "custom_fields" if custom else facts.SEARCHABLE_BODY_FIELDS[spec.object].get(field, field)
        params = {"term": _text(value), "fields": searched, "exact_match": "true", "limit": 100}
        reply = self._call(result, "GET", f"{spec.object}/search", params=params, family="search")
        if not reply.ok:
            raise RecordRejected(*error_of(reply))
        data = envelope_data(reply)
        if data is None or not isinstance(data.get("items", []), list):
            raise TransientDestinationError(unconfirmed(reply, "Pipedrive's search answer"))
        items = data.get("items") or []
        candidates = [i.get("item") or {} for i in items if isinstance(i, dict)]
        if custom is None:
            return [Found(str(c["id"])) for c in candidates if _text(value).lower() in _item_values(c, searched)]
        found = []
        for candidate in candidates:
            record = self.fetch(spec, str(candidate["id"]), result)
            held = ((record or {}).get("custom_fields") or {}).get(custom.code)
            if held is not None and _text(held) == _text(value):
                found.append(Found(str(candidate["id"]), record))
        return found

    def fetch(self, spec: SyncSpec, record_id: str, result: BatchResult) -> Mapping[str, Any] | None:
        reply = self._call(result, "GET", f"{spec.object}/{record_id}")
        if reply.status == 404:
            return None
        if not reply.ok:
            raise RecordRejected(*error_of(reply))
        data = envelope_data(reply)
        if data is None or data.get("id") is None:
            raise TransientDestinationError(unconfirmed(reply, f"record {record_id} in Pipedrive's envelope"))
        return data

    def current_value(self, spec: SyncSpec, record: Mapping[str, Any], path: str) -> Any:
        custom = self._custom_field(spec, path)
        if custom is not None:
            return (record.get("custom_fields") or {}).get(custom.code)
        if path in ("email", "phone"):
            items = record.get(f"{path}s") or []
            return next((e.get("value") for e in items if e.get("primary")), items[0].get("value") if items else None)
        return super().current_value(spec, record, path)

    def _custom_field(self, spec: SyncSpec, path: str) -> CustomField | None:
        resolved = self._resolved.get(spec.sync_id)
        if resolved is None:
            return None
        name = path.removeprefix("custom_fields.")
        return next((f for n, f in resolved.custom.items() if n.lower() == name.lower()), None)

    # ---- bodies ------------------------------------------------------------------------------
    def _body(self, spec: SyncSpec, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The v2 body: standard fields at the top, custom ones under ``custom_fields`` by key."""
        resolved = self._resolved.get(spec.sync_id) or Resolved({})
        body: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        flat = dict(fields)
        nested = flat.pop("custom_fields", None)
        for name, value in [*((n, v) for n, v in (nested or {}).items()), *flat.items()]:
            field = resolved.custom.get(name)
            if field is not None:
                custom[field.code] = custom_value(field, value)
            elif name in LIST_FIELDS and isinstance(value, str):
                body[name] = [{"value": value, "primary": True, "label": "work"}]
            elif name in ("email", "phone") and spec.object == "persons":  # v2 takes lists: the one given is primary
                body[f"{name}s"] = [{"value": value, "primary": True, "label": "work"}] if value else []
            elif (
                name in facts.ADDRESS_FIELDS.get(spec.object, ()) and value is not None and not isinstance(value, dict)
            ):
                body[name] = {"value": _text(value)}  # v2 takes an address object, not text
            else:
                body[name] = value
        if custom:
            body["custom_fields"] = custom
        return body

    def _read(self, reply: Reply, change: Change, result: BatchResult, outcome: str) -> None:
        """Acknowledge by the envelope's ``data.id``; an error envelope or status rejects."""
        body = reply.json() if isinstance(reply.json(), dict) else {}
        if not reply.ok or body.get("success") is False:
            result.reject(change, *error_of(reply))
            return
        data = envelope_data(reply)
        found = data.get("id") if data is not None else None
        if found in (None, ""):
            result.leave(change, unconfirmed(reply, '{"success": true, "data": {"id": ..}}'))
        else:
            result.ack(change, found, outcome)


def envelope_data(reply: Reply) -> dict[str, Any] | None:
    """The ``data`` object of a ``{"success": true, "data": {..}}`` answer; None otherwise."""
    body = reply.json()
    if not isinstance(body, dict) or body.get("success") is not True or not isinstance(body.get("data"), dict):
        return None
    return body["data"]


def custom_name(parts: tuple[str, ...], standard: set[str]) -> str | None:
    """The custom field a YAML field path names, or None for a standard field."""
    if parts[0] == "custom_fields" and len(parts) > 1:
        return ".".join(parts[1:])
    if len(parts) == 1 and parts[0] not in standard:
        return parts[0]
    return None


def custom_value(field: CustomField, value: Any) -> Any:
    """An option field's labels become option ids; a multi-option field's empty value is null."""
    if field.field_type not in OPTION_TYPES or value is None:
        return value
    items = (
        value
        if isinstance(value, list)
        else ([v.strip() for v in value.split(",")] if isinstance(value, str) else [value])
    )
    ids = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            ids.append(item)
        elif str(item).strip().lower() in field.options:
            ids.append(field.options[str(item).strip().lower()])
        elif str(item).strip():
            raise ValueError(f"{item!r} is not an option of the Pipedrive field {field.name!r}")
    if field.field_type == "set":
        return ids or None  # [] is a validation error in v2: null clears
    return ids[0] if ids else None


def _keys(spec: SyncSpec) -> list[tuple[str, str]]:
    """(setting, key) for each key that finds a record by search (``id`` is used as is)."""
    if spec.match_on:
        return [(f"match_on[{i}]", key) for i, key in enumerate(spec.match_on) if key != "id"]
    return [("upsert_key", spec.upsert_key)] if spec.upsert_key and spec.upsert_key != "id" else []


def _key_path(spec: SyncSpec, key: str) -> str:
    field = spec.field_for(key)
    return field.path if field else key


def _unsearchable(spec: SyncSpec, key: str, what: str) -> str:
    return (
        f"{spec.node.name}: the key {key!r} is {what}, which Pipedrive's search cannot search, so no record would "
        f"ever be found and every row would create a duplicate; {spec.object} can be found by "
        f"{facts.searchable_fields_text(spec.object)}"
    )


def _item_values(item: Mapping[str, Any], searched: str) -> set[str]:
    """The values of a search answer's item in the searched field."""
    raw = item.get({"email": "emails", "phone": "phones"}.get(searched, searched))
    values = raw if isinstance(raw, list) else [raw]
    return {_text(v).lower() for v in values if v is not None}


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def error_of(reply: Reply) -> tuple[str, str]:
    """Pipedrive's error body: ``{"success": false, "error": .., "error_info": .., "code"?: ..}``."""
    body = reply.json()
    if isinstance(body, dict) and body.get("error"):
        code = body.get("code") or body.get("errorCode") or reply.status
        return str(code), str(body["error"])
    return str(reply.status), reply.text[:500] or f"HTTP {reply.status}"
