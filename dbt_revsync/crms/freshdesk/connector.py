"""Freshdesk (API v2): contacts and companies.

Facts (docs/crm-notes.md): HTTP Basic with the API key as user name and ``X`` as password;
API root ``https://<domain>.freshdesk.com/api/v2``; ``POST /<resource>``, ``PUT|DELETE
/<resource>/{id}`` (a contact's DELETE is a soft delete); **no upsert**, so upsert, update,
delete and mirror find the record first (``find``: ``GET /contacts?email=`` and the other
list filters, else ``GET /search/<resource>?query="field:'value'"``) and then POST or PUT by
id; the shared matching step does that with the sync's match keys. A 400 body lists
``errors: [{field, message, code}]``: each becomes the record's reject code and message.
Rate limit per account per minute (Growth 200; ``X-RateLimit-Remaining``, and
``Retry-After`` on a 429, which ``delivery`` honours).

Acknowledged: a create or update only by an answer holding the record with its ``id``; a
delete by ``204 No Content`` (any 2xx whose body is empty or JSON; a 404 is already gone).
Created or matched: ``POST`` makes a new record (201; a duplicate email is refused with
``duplicate_value``), so it is ``created``; a ``PUT`` to the id the matching step found or
remembered is ``updated``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, ClassVar

from dbt_revsync.config import Connection, SyncSpec
from dbt_revsync.delivery import Reply
from dbt_revsync.destinations.base import (
    BatchResult,
    Change,
    Found,
    PerRecordDestination,
    RecordRejected,
    confirms_without_body,
    unconfirmed,
)
from dbt_revsync.errors import DestinationError, TransientDestinationError

OBJECTS = ("contacts", "companies")
# Fields ``GET /<resource>?<field>=`` filters on exactly (the rest go through search).
LIST_FILTERS = {"contacts": ("email", "mobile", "phone", "company_id", "unique_external_id"), "companies": ()}
PER_PAGE = 100
FIELD_LISTS = {"contacts": "contact_fields", "companies": "company_fields"}


class FreshdeskDestination(PerRecordDestination):
    type_name: ClassVar[str] = "freshdesk"
    required_settings: ClassVar[tuple[str, ...]] = ("api_key",)
    optional_settings: ClassVar[tuple[str, ...]] = ("domain",)
    secret_settings: ClassVar[tuple[str, ...]] = ("api_key",)
    objects: ClassVar[tuple[str, ...]] = OBJECTS
    max_batch_size: ClassVar[int] = 100
    default_rate_limit: ClassVar[float] = 200 / 60  # Growth plan; set rate_limit for others
    native_upsert: ClassVar[bool] = False

    @classmethod
    def check_connection(cls, connection: Connection) -> list[str]:
        if not connection.base_url and not connection.setting("domain"):
            return ["a freshdesk connection needs 'domain' (e.g. acme.freshdesk.com) or 'base_url'"]
        return []

    @classmethod
    def default_root(cls, connection: Connection) -> str:
        return f"https://{cls.vendor_host(connection, 'domain', 'freshdesk.com')}/api/v2"

    @classmethod
    def throttle_hint(cls, headers: Mapping[str, str]) -> float | None:
        """The budget is per minute: with none left, wait one request's share of the minute."""
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            remaining, total = int(lowered["x-ratelimit-remaining"]), int(lowered["x-ratelimit-total"])
        except (KeyError, ValueError):
            return None
        return 60 / max(total, 1) if remaining <= 0 else None

    # ---- requests ----------------------------------------------------------------------
    def _call(self, result: BatchResult, method: str, path: str, body: Any = None, params: Mapping[str, Any] | None = None) -> Reply:
        token = base64.b64encode(f"{self.connection.setting('api_key')}:X".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        return result.count(self.http.request(method, f"{self.root}/{path}", json=body, params=params, headers=headers))

    def send_one(self, spec: SyncSpec, change: Change, result: BatchResult) -> None:
        """Only by id: the matching step has turned every upsert into a create or an update."""
        if change.op == "create" or (change.op == "upsert" and not change.remote_id):
            self._read(self._call(result, "POST", spec.object, change.fields), change, result, "created")
        elif change.op == "delete":
            reply = self._call(result, "DELETE", f"{spec.object}/{change.remote_id}")
            if reply.status == 404 or confirms_without_body(reply):  # 404: already gone, the goal is reached
                result.ack(change, change.remote_id, "deleted")
            elif reply.ok:
                result.leave(change, unconfirmed(reply, "204 No Content"))
            else:
                result.reject(change, *error_of(reply))
        else:
            reply = self._call(result, "PUT", f"{spec.object}/{change.remote_id}", change.fields)
            if reply.status == 404 and spec.insert_mode in ("upsert", "mirror"):  # the remembered record is gone: made again
                reply, outcome = self._call(result, "POST", spec.object, change.fields), "created"
            else:
                outcome = "updated"
            self._read(reply, change, result, outcome)

    def find(self, spec: SyncSpec, field: str, value: Any, result: BatchResult) -> list[Found]:
        if field in LIST_FILTERS[spec.object]:
            reply = self._call(result, "GET", spec.object, params={field: value, "per_page": PER_PAGE})
            records = reply.json() if reply.ok else None
        else:
            name = field.removeprefix("custom_fields.")
            reply = self._call(result, "GET", f"search/{spec.object}", params={"query": f'"{name}:{_literal(value)}"'})
            body = reply.json() if reply.ok else None
            records = body.get("results") if isinstance(body, dict) else None
        if not reply.ok:
            raise RecordRejected(*error_of(reply))
        if not isinstance(records, list):
            raise TransientDestinationError(unconfirmed(reply, f"a list of {spec.object}"))
        return [Found(str(record["id"]), record) for record in records if isinstance(record, dict) and record.get("id") is not None]

    def list_fields(self, spec: SyncSpec) -> set[str] | None:
        """``GET /contact_fields`` or ``/company_fields``: a list of ``{"name", "default", ..}``,
        custom fields under their bare names."""
        reply = self._call(BatchResult(), "GET", FIELD_LISTS[spec.object])
        body = reply.json()
        if not reply.ok or not isinstance(body, list):
            code, message = error_of(reply)
            raise DestinationError(f"Freshdesk did not list the {spec.object} fields ({code}): {message}")
        return {str(f["name"]) for f in body if isinstance(f, dict) and f.get("name")}

    @classmethod
    def field_name(cls, path: str) -> str:
        """``custom_fields.x`` is the custom field ``x``; any other path its first part."""
        return path.split(".")[-1] if path.startswith("custom_fields.") else path.split(".", 1)[0]

    def fetch(self, spec: SyncSpec, record_id: str, result: BatchResult) -> Mapping[str, Any] | None:
        reply = self._call(result, "GET", f"{spec.object}/{record_id}")
        if reply.status == 404:
            return None
        if not reply.ok:
            raise RecordRejected(*error_of(reply))
        body = reply.json()
        if not isinstance(body, dict):
            raise TransientDestinationError(unconfirmed(reply, f"record {record_id}"))
        return body

    def _read(self, reply: Reply, change: Change, result: BatchResult, outcome: str) -> None:
        """Acknowledge by the record the answer holds (``{"id": .., ..}``), else leave."""
        if not reply.ok:
            result.reject(change, *error_of(reply))
            return
        body = reply.json()
        found = body.get("id") if isinstance(body, dict) else None
        if found in (None, ""):
            result.leave(change, unconfirmed(reply, "the record with its id"))
        else:
            result.ack(change, found, outcome)


def _literal(value: Any) -> str:
    """A value in Freshdesk's query language: numbers and booleans bare, text quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def error_of(reply: Reply) -> tuple[str, str]:
    """``{"description", "errors": [{"field", "message", "code"}]}``: the first error's code,
    and every error as ``field: message (code)``; else ``{"code", "message"}``; else the status."""
    body = reply.json()
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and all(isinstance(e, dict) for e in errors):
        message = "; ".join(f"{e.get('field')}: {e.get('message')} ({e.get('code')})" for e in errors)
        return str(errors[0].get("code") or reply.status), message
    if isinstance(body, dict) and body.get("message"):
        return str(body.get("code") or reply.status), str(body["message"])
    return str(reply.status), reply.text[:500] or f"HTTP {reply.status}"
