"""Freshsales (Freshworks CRM): sales accounts, contacts and deals.

Facts (see docs/crm-notes in the README): ``Authorization: Token token=<key>``; API root
``https://<alias>.myfreshworks.com/crm/sales/api`` (``https://<domain>.freshsales.io/api``
on the legacy host); bodies wrapped in the singular resource name; upsert through
``POST /<resource>/upsert`` with ``unique_identifier``; update and delete by id; custom
fields under ``custom_field`` with ``cf_`` keys. No batch write is used: the bulk endpoints'
body shape is not documented, so each record is one request.

Limits (``facts.PLANS``): per account an hourly cap by plan (1000 Free and Growth, 2000 Pro,
5000 Enterprise) and 400 a minute, answered with 429 past either. The connection's ``plan``
(default ``free``, the strictest) gives the client both windows; when the hour is spent the
client raises ``BudgetSpent`` before sending, and the rest of the sync waits for the next push.

Upsert: ``unique_identifier`` must be a field marked unique in Freshsales (text or number, a
few per module): ``check_spec`` refuses a key that can never be one, ``validate --remote``
checks the field list's ``unique`` marker.

Acknowledged: a create, update or upsert only by an answer holding the wrapped record with
its ``id``; a delete by a 2xx whose body is empty or JSON (or a 404: already gone). Created
or matched: ``POST /<resource>`` makes a new record (``created``); ``POST /<resource>/upsert``
answers 201 when it created the record and 200 when it updated one (a third-party doc;
Freshworks' own docs say only "200 with the record"), so only a 201 counts as ``created``;
a ``PUT`` by id is ``updated``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dbt_revsync.crms.freshsales import facts
from dbt_revsync.delivery import Reply, Window
from dbt_revsync.destinations.base import (
    Found,
    PerRecordDestination,
    RecordRejected,
    confirms_without_body,
    unconfirmed,
)
from dbt_revsync.errors import ConfigIssue, DestinationError, TransientDestinationError
from dbt_revsync.model import BatchResult, Change, Connection, SyncSpec

__all__ = [
    "error_of",
    "FreshsalesDestination",
    "is_unique",
    "SEARCH_ATTRIBUTES",
    "UPSERTING_MODES",
    "WRAPPERS",
]

WRAPPERS = facts.WRAPPERS
UPSERTING_MODES = ("upsert", "mirror")  # the modes whose writes go through POST /<resource>/upsert
# The attribute filtered search knows a field by, when it is not the field's own name.
SEARCH_ATTRIBUTES = {("contacts", "emails"): "contact_email.email", ("contacts", "email"): "contact_email.email"}


class FreshsalesDestination(PerRecordDestination):
    type_name: ClassVar[str] = "freshsales"
    required_settings: ClassVar[tuple[str, ...]] = ("api_key",)
    optional_settings: ClassVar[tuple[str, ...]] = ("domain", "plan")
    secret_settings: ClassVar[tuple[str, ...]] = ("api_key",)
    objects: ClassVar[tuple[str, ...]] = tuple(WRAPPERS)
    max_batch_size: ClassVar[int] = facts.MAX_BATCH
    default_rate_limit: ClassVar[float] = facts.PLANS[facts.DEFAULT_PLAN].per_minute / 60

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._field_lists: dict[str, list[dict[str, Any]]] = {}

    @classmethod
    def check_connection(cls, connection: Connection) -> list[str]:
        problems = []
        if not connection.base_url and not connection.setting("domain"):
            problems.append("a freshsales connection needs 'domain' (e.g. acme.myfreshworks.com) or 'base_url'")
        plan = connection.setting("plan", facts.DEFAULT_PLAN)
        if plan not in facts.PLANS:
            problems.append(
                f"'plan' must be one of {', '.join(facts.PLANS)} (the Freshsales plan, which sets the "
                f"hourly API limit), got {plan!r}"
            )
        return problems

    @classmethod
    def plan_limits(cls, connection: Connection) -> facts.PlanLimits:
        """The connection's plan's limits; an unknown plan (refused by check_connection) gets the strictest."""
        return facts.PLANS.get(str(connection.setting("plan", facts.DEFAULT_PLAN)), facts.PLANS[facts.DEFAULT_PLAN])

    @classmethod
    def windows(cls, connection: Connection) -> Mapping[str, tuple[Window, ...]]:
        """Every request counts against the account's hourly cap and its 400 a minute."""
        limits = cls.plan_limits(connection)
        return {"": (Window(limits.per_hour, 3600), Window(limits.per_minute, 60))}

    @classmethod
    def check_spec(cls, spec: SyncSpec) -> list[tuple[str, str]]:
        """An upsert key must be a field Freshsales can hold unique (its ``unique_identifier``)."""
        problems = super().check_spec(spec)
        key = spec.upsert_key
        if problems or not key or spec.insert_mode not in UPSERTING_MODES:
            return problems
        name = key.removeprefix("custom_field.")
        if "." in name and name not in facts.EMAIL_NAMES:
            problems.append((f"{facts.unique_rule(spec.object)}: {key!r} is a nested path, not a field", "upsert_key"))
        elif name == "id":
            message = (
                f"{facts.unique_rule(spec.object)}: the record id is not one; to write by id use "
                "insert_mode: update with upsert_key: id"
            )
            problems.append((message, "upsert_key"))
        elif name in facts.NEVER_UNIQUE[spec.object]:
            message = (
                f"{facts.unique_rule(spec.object)}: {name!r} is not a text or number field, so it can never be unique"
            )
            problems.append((message, "upsert_key"))
        return problems

    @classmethod
    def default_root(cls, connection: Connection) -> str:
        domain = cls.vendor_host(connection, "domain", "myfreshworks.com")
        if domain.endswith(".freshsales.io"):
            return f"https://{domain}/api"
        return f"https://{domain}/crm/sales/api"

    # ---- requests ----------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Token token={self.connection.setting('api_key')}"}

    def _call(self, result: BatchResult, method: str, path: str, body: Any = None) -> Reply:
        return result.count(self.http.request(method, f"{self.root}/{path}", json=body, headers=self._headers()))

    def send_one(self, spec: SyncSpec, change: Change, result: BatchResult) -> None:
        resource, wrapper = spec.object, WRAPPERS[spec.object]
        if change.op == "delete":
            self._delete(spec, change, result)
            return
        if change.remote_id and change.op in ("upsert", "update"):
            reply = self._call(result, "PUT", f"{resource}/{change.remote_id}", {wrapper: change.fields})
            if reply.status != 404 or change.op == "update":
                self._read(reply, change, result, "updated")
                return
        if change.op == "create":
            self._read(self._call(result, "POST", resource, {wrapper: change.fields}), change, result, "created")
        elif change.op == "upsert":
            body = {"unique_identifier": {spec.upsert_key: change.upsert_value}, wrapper: change.fields}
            reply = self._call(result, "POST", f"{resource}/upsert", body)
            self._read(reply, change, result, "created" if reply.status == 201 else "updated")  # 200: matched
        else:  # update without a remembered id: find the one record by the upsert key
            record_id = self._find_one(spec, change, result)
            if record_id is not None:
                self._read(
                    self._call(result, "PUT", f"{resource}/{record_id}", {wrapper: change.fields}),
                    change,
                    result,
                    "updated",
                )

    # ---- the object's field list ---------------------------------------------------------
    def list_fields(self, spec: SyncSpec) -> set[str] | None:
        """``GET /settings/<resource>/fields``: ``{"fields": [{"name": .., ..}, ..]}``, custom
        fields among them under their ``cf_`` names."""
        return {str(f["name"]) for f in self._fields_of(spec.object) if f.get("name")}

    def remote_issues(self, spec: SyncSpec) -> list[ConfigIssue]:
        """``validate --remote``: the upsert key must be a field the field list marks unique."""
        key = spec.upsert_key
        if not key or spec.insert_mode not in UPSERTING_MODES:
            return []
        try:
            fields = self._fields_of(spec.object)
        except DestinationError as exc:
            return [ConfigIssue(str(exc))]
        name = self.field_name(key)
        wanted = {"emails", "email"} if spec.object == "contacts" and name in facts.EMAIL_NAMES else {name}
        listed = [f for f in fields if f.get("name") in wanted]
        if any(is_unique(f) for f in listed):
            return []
        why = "is not a field of" if not listed else "is not marked unique in"
        return [
            ConfigIssue(
                f"{facts.unique_rule(spec.object)}: {name!r} {why} {spec.connection.name}.{spec.object} "
                f"(GET /settings/{spec.object}/fields); mark it unique in Freshsales or upsert by a unique field",
                where=f"{spec.node.resource_type} '{spec.node.name}'",
                file=spec.node.yaml_file,
                key=f"{spec.key_path}.upsert_key",
            )
        ]

    def _fields_of(self, resource: str) -> list[dict[str, Any]]:
        """The resource's field list, asked once per connection."""
        if resource not in self._field_lists:
            reply = self.http.request("GET", f"{self.root}/settings/{resource}/fields", headers=self._headers())
            body = reply.json()
            if not reply.ok or not isinstance(body, dict) or not isinstance(body.get("fields"), list):
                code, message = error_of(reply)
                raise DestinationError(f"Freshsales did not list the {resource} fields ({code}): {message}")
            self._field_lists[resource] = [f for f in body["fields"] if isinstance(f, dict)]
        return self._field_lists[resource]

    @classmethod
    def field_name(cls, path: str) -> str:
        """``custom_field.cf_x`` is the custom field ``cf_x``; any other path its first part."""
        return path.split(".")[-1] if path.startswith("custom_field.") else path.split(".", 1)[0]

    def _delete(self, spec: SyncSpec, change: Change, result: BatchResult) -> None:
        record_id = change.remote_id
        if record_id is None:
            record_id = str(change.upsert_value) if spec.upsert_key == "id" else self._find_one(spec, change, result)
        if record_id is None:
            return
        reply = self._call(result, "DELETE", f"{spec.object}/{record_id}")
        if reply.status == 404 or confirms_without_body(reply):  # 404: already gone, the goal is reached
            result.ack(change, record_id, "deleted")
        elif reply.ok:
            result.leave(change, unconfirmed(reply, "an empty or JSON body"))
        else:
            result.reject(change, *error_of(reply))

    def find(self, spec: SyncSpec, field: str, value: Any, result: BatchResult) -> list[Found]:
        """Filtered search on one attribute (a custom field by its ``cf_`` name)."""
        name = field.removeprefix("custom_field.")
        attribute = SEARCH_ATTRIBUTES.get((spec.object, name), name)
        body = {"filter_rule": [{"attribute": attribute, "operator": "is_in", "value": value}]}
        reply = self._call(result, "POST", f"filtered_search/{WRAPPERS[spec.object]}", body)
        if not reply.ok:
            raise RecordRejected(*error_of(reply))
        body = reply.json()
        if not isinstance(body, dict) or not isinstance(body.get(spec.object), list):
            raise TransientDestinationError(unconfirmed(reply, f"a search answer listing {spec.object}"))
        return [
            Found(str(record["id"]), record)
            for record in body[spec.object]
            if isinstance(record, dict) and record.get("id") is not None
        ]

    def fetch(self, spec: SyncSpec, record_id: str, result: BatchResult) -> Mapping[str, Any] | None:
        reply = self._call(result, "GET", f"{spec.object}/{record_id}")
        if reply.status == 404:
            return None
        if not reply.ok:
            raise RecordRejected(*error_of(reply))
        body = reply.json()
        record = body.get(WRAPPERS[spec.object]) if isinstance(body, dict) else None
        if not isinstance(record, dict):
            raise TransientDestinationError(unconfirmed(reply, f"the {WRAPPERS[spec.object]} record"))
        return record

    def _find_one(self, spec: SyncSpec, change: Change, result: BatchResult) -> str | None:
        """The id of the single record whose upsert key matches; rejects none or several."""
        assert spec.upsert_key is not None
        if spec.upsert_key == "id":
            return str(change.upsert_value)
        try:
            matches = self.find(spec, spec.upsert_key, change.upsert_value, result)
        except RecordRejected as exc:
            result.reject(change, exc.code, exc.message)
            return None
        if len(matches) != 1:
            what = "no record" if not matches else f"{len(matches)} records"
            result.reject(
                change,
                "no_match" if not matches else "multiple_matches",
                f"{what} with {spec.upsert_key} = {change.upsert_value!r}",
            )
            return None
        return matches[0].id

    def _read(self, reply: Reply, change: Change, result: BatchResult, outcome: str) -> None:
        """Acknowledge by the record the answer holds (``{"contact": {"id": ..}}``), else leave."""
        if not reply.ok:
            result.reject(change, *error_of(reply))
            return
        body = reply.json()
        record = body.get(_wrapper_key(body)) if isinstance(body, dict) else None
        found = record.get("id") if isinstance(record, dict) else None
        if found in (None, ""):
            result.leave(change, unconfirmed(reply, "the record with its id"))
        else:
            result.ack(change, found, outcome)


def is_unique(field: Mapping[str, Any]) -> bool:
    """Whether a field-list entry is marked unique. The fields API's documentation does not name
    the attribute: stricter reading, only an explicit ``unique: true`` (on the entry, or in its
    ``field_options``) counts; an entry that does not say is not unique."""
    options = field.get("field_options")
    return field.get("unique") is True or (isinstance(options, Mapping) and options.get("unique") is True)


def _wrapper_key(body: dict[str, Any]) -> str | None:
    """The wrapper key of an answer (``{"contact": {...}}``)."""
    return next((key for key in body if key in WRAPPERS.values()), None)


def error_of(reply: Reply) -> tuple[str, str]:
    """Freshsales error bodies look like ``{"errors": {"code": .., "message": ..}}`` (unconfirmed)."""
    body = reply.json()
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, dict):
        message = errors.get("message")
        message = "; ".join(map(str, message)) if isinstance(message, list) else str(message or reply.text)
        return str(errors.get("code") or reply.status), message
    if isinstance(body, dict) and body.get("message"):
        return str(reply.status), str(body["message"])
    return str(reply.status), reply.text[:500] or f"HTTP {reply.status}"
