"""Salesforce (REST API): any sObject, through sObject Collections or Bulk API 2.0.

Facts (docs/crm-notes.md): ``Authorization: Bearer <access token>``; API root
``https://<MyDomain>.my.salesforce.com/services/data/vNN.N``. sObject Collections take 200
records a request: ``POST /composite/sobjects`` (create), ``PATCH /composite/sobjects``
(update by ``id``), ``PATCH /composite/sobjects/<Object>/<ExtIdField>`` (upsert) and
``DELETE /composite/sobjects?ids=..`` with ``allOrNone: false``; the answer is an ordered
list of ``SaveResult`` ``{id, success, errors: [{statusCode, message, fields}], created}``.
An external id that matches several records is a ``DUPLICATE_EXTERNAL_ID`` error of that
record: it is rejected, never guessed. Every answer carries ``Sforce-Limit-Info:
api-usage=<used>/<allocation>``; the connector stops the sync cleanly when fewer than
``api_reserve`` requests of the daily allocation are left.

A push of more than ``bulk_threshold`` changes goes through Bulk API 2.0 (``bulk.py``) in
chunks of ``bulk_batch_size`` rows: one ingest job per operation and chunk (inserts only when
every row carries an External ID, so an unknown outcome can be checked; see ``bulk.py``).

Look-ups by external id (``update``/``delete`` without a remembered id) are SOQL ``IN`` queries
cut by length: each URL stays within ``facts.URI_BUDGET`` (Salesforce answers 414 past 16,384
bytes of URI and headers). ``upsert_key: Id`` is refused for ``upsert``/``mirror``: Collections
upsert takes External ID fields only.

The token: ``access_token`` as given, or fetched from ``token_url`` with a refresh token
(``grant_type=refresh_token``) or with client credentials (``grant_type=client_credentials``);
the token answer's ``instance_url`` then roots every API request.
A 401 renews a fetchable token once and repeats the request; a second 401 is fatal.

Acknowledged: only by a SaveResult with ``success: true`` at the record's place in the
ordered answer (with the record's ``id`` for a create or an upsert); a 2xx that is not a
list of one SaveResult per record acknowledges nothing and leaves the records for the next
push. Created or matched: a create's SaveResult is ``created``; an upsert's is ``created``
only when it carries ``"created": true`` (Salesforce sets it on each upsert result), else
``updated``; an update by id is ``updated``. Bulk API 2.0 likewise reads ``sf__Created``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

from dbt_revsync.crms.salesforce import facts
from dbt_revsync.crms.salesforce.bulk import send_bulk
from dbt_revsync.delivery import HttpClient, Reply
from dbt_revsync.destinations.base import Destination, Found, RecordRejected, unconfirmed
from dbt_revsync.errors import DestinationError, FatalDestinationError, TransientDestinationError
from dbt_revsync.model import BatchResult, Change, Connection, SyncSpec

__all__ = [
    "API_VERSION",
    "COLLECTION_SIZE",
    "DEFAULT_BULK_BATCH_SIZE",
    "DEFAULT_BULK_THRESHOLD",
    "lookup_queries",
    "OUTCOMES",
    "QUERY_CHUNK",
    "record",
    "SalesforceDestination",
    "save_error",
    "soql_literal",
]

logger = logging.getLogger(__name__)

API_VERSION = facts.API_VERSION
COLLECTION_SIZE = facts.COLLECTION_SIZE  # records a sObject Collections request takes
QUERY_CHUNK = 200  # external id values per lookup query at most; fewer when the URI would grow too long
DEFAULT_BULK_THRESHOLD = 2000
DEFAULT_BULK_BATCH_SIZE = 10000
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
OUTCOMES = {"create": "created", "update": "updated", "delete": "deleted"}


class SalesforceDestination(Destination):
    type_name: ClassVar[str] = "salesforce"
    optional_settings: ClassVar[tuple[str, ...]] = (
        "my_domain",
        "api_version",
        "access_token",
        "refresh_token",
        "client_id",
        "client_secret",
        "token_url",
        "bulk_threshold",
        "bulk_batch_size",
        "bulk_poll_seconds",
        "bulk_timeout",
        "api_reserve",
    )
    secret_settings: ClassVar[tuple[str, ...]] = ("access_token", "refresh_token", "client_secret")
    max_batch_size: ClassVar[int] = COLLECTION_SIZE
    default_rate_limit: ClassVar[float | None] = None  # Salesforce meters a daily allocation instead

    def __init__(self, connection: Connection, http: HttpClient) -> None:
        super().__init__(connection, http)
        self._token: str | None = connection.setting("access_token") or None
        self._token_lock = threading.Lock()
        self._usage: tuple[int, int] | None = None  # (used, allocation) from Sforce-Limit-Info
        self._instance: str | None = None  # the token answer's instance_url, once a token was fetched

    # ---- configuration checks ------------------------------------------------------------
    @classmethod
    def check_connection(cls, connection: Connection) -> list[str]:
        problems = []
        if not connection.base_url and not connection.setting("my_domain"):
            problems.append(
                "a salesforce connection needs 'my_domain' (e.g. acme for acme.my.salesforce.com) or 'base_url'"
            )
        if not connection.setting("access_token") and not _grant(connection):
            problems.append(
                "a salesforce connection needs 'access_token', or 'refresh_token' with 'client_id', "
                "or 'client_id' with 'client_secret' (client credentials)"
            )
        for key in ("bulk_threshold", "bulk_batch_size", "api_reserve"):
            value = connection.setting(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                problems.append(f"'{key}' must be a whole number, got {value!r}")
        return problems

    @classmethod
    def check_spec(cls, spec: SyncSpec) -> list[tuple[str, str]]:
        if not _NAME.match(spec.object):
            return [(f"{spec.object!r} is not an sObject API name (e.g. Account, Contact, Invoice__c)", "object")]
        if spec.upsert_key and not _NAME.match(spec.upsert_key):
            return [(f"{spec.upsert_key!r} is not a field API name", "upsert_key")]
        if (
            spec.upsert_key
            and spec.upsert_key.upper() == facts.RECORD_ID_FIELD.upper()
            and spec.insert_mode in ("upsert", "mirror")
        ):
            message = (
                f"model {spec.node.name!r}: insert_mode {spec.insert_mode} cannot use upsert_key "
                f"{spec.upsert_key!r}: Salesforce "
                f"upserts {spec.object} by an External ID field only, never by the record Id (use a custom "
                "field marked "
                "External ID, e.g. Ext_Id__c; 'Id' is allowed for update and delete)"
            )
            return [(message, "upsert_key")]
        return []

    @classmethod
    def default_root(cls, connection: Connection) -> str:
        domain = cls.vendor_host(connection, "my_domain", "my.salesforce.com")
        return f"https://{domain}/services/data/v{connection.setting('api_version', API_VERSION)}"

    @property
    def api_root(self) -> str:
        """Where API requests go: the ``instance_url`` of the last token answer (the docs: use it
        for every API call), else the configured root."""
        if self._instance:
            return f"{self._instance}/services/data/v{self.connection.setting('api_version', API_VERSION)}"
        return self.root

    @property
    def origin(self) -> str:
        """The API root without ``/services/data/vNN.N`` (``nextRecordsUrl`` is relative to it)."""
        return self.api_root.split("/services/data/", 1)[0]

    @property
    def token_url(self) -> str:
        explicit = self.connection.setting("token_url")
        if explicit:
            return str(explicit)
        origin = self.root.split("/services/data/", 1)[0]
        return f"{origin}/services/oauth2/token"

    # ---- batching -------------------------------------------------------------------------
    def batch_size_for(self, spec: SyncSpec, pending: int) -> int:
        """Collections batches normally; Bulk API 2.0 chunks when the push is big."""
        if pending > int(self.connection.setting("bulk_threshold", DEFAULT_BULK_THRESHOLD)):
            return max(1, int(self.connection.setting("bulk_batch_size", DEFAULT_BULK_BATCH_SIZE)))
        return super().batch_size_for(spec, pending)

    def send(self, spec: SyncSpec, changes: Sequence[Change]) -> BatchResult:
        result = BatchResult()
        try:
            if len(changes) > COLLECTION_SIZE:
                send_bulk(self, spec, changes, result)
            else:
                self.send_collections(spec, changes, result)
        except (TransientDestinationError, FatalDestinationError) as exc:
            result.cut_short(changes, exc)
        return result

    # ---- requests -------------------------------------------------------------------------
    def call(
        self,
        result: BatchResult,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
        accept: str | None = None,
    ) -> Reply:
        """One API request: bearer token (renewed once on a 401), usage tracked and guarded."""
        self._guard_allocation()
        token = self._current_token(result)
        headers = {
            "Authorization": f"Bearer {token}",
            **({"Content-Type": content_type} if content_type else {}),
            **({"Accept": accept} if accept else {}),
        }
        try:
            reply = self.http.request(method, self._url(path), json=json, data=data, headers=headers)
        except FatalDestinationError as exc:
            if exc.status != 401 or not _grant(self.connection):
                raise
            logger.info("salesforce answered 401: renewing the access token once")
            headers["Authorization"] = f"Bearer {self._renew_token(result, token)}"
            reply = self.http.request(method, self._url(path), json=json, data=data, headers=headers)
        result.count(reply)
        self._track(reply)
        return reply

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.api_root}/{path}"

    def _current_token(self, result: BatchResult) -> str:
        with self._token_lock:
            if self._token is None:
                self._token = self._fetch_token(result)
            return self._token

    def _renew_token(self, result: BatchResult, stale: str) -> str:
        with self._token_lock:
            if self._token == stale or self._token is None:
                self._token = self._fetch_token(result)
            return self._token

    def _fetch_token(self, result: BatchResult) -> str:
        grant = _grant(self.connection)
        if grant is None:
            raise FatalDestinationError(
                "the access token was refused and there is no refresh token or client credentials to renew it"
            )
        form = urlencode(grant).encode()
        reply = result.count(
            self.http.request(
                "POST", self.token_url, data=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
        )
        body = reply.json() if reply.ok else None
        if not isinstance(body, dict) or not body.get("access_token"):
            error = reply.json() if isinstance(reply.json(), dict) else {}
            what = f"{error.get('error', reply.status)}: {error.get('error_description', reply.text[:200])}"
            raise FatalDestinationError(
                self.http.redact(f"the token request to {urlsplit(self.token_url).path} was refused ({what})")
            )
        self._instance = _instance_url(body.get("instance_url"), self.token_url) or self._instance
        return str(body["access_token"])

    def _track(self, reply: Reply) -> None:
        found = _LIMIT_INFO.search(
            reply.headers.get("Sforce-Limit-Info", "") or reply.headers.get("sforce-limit-info", "")
        )
        if found:
            self._usage = (int(found.group(1)), int(found.group(2)))

    def _guard_allocation(self) -> None:
        """Stop before the org's daily API allocation runs out, keeping ``api_reserve`` requests.

        The usage is the last ``Sforce-Limit-Info`` seen; requests already in flight on other
        threads may each spend one more, which the reserve absorbs.
        """
        if self._usage is None:
            return
        used, allocation = self._usage
        reserve = self.connection.setting("api_reserve")
        reserve = int(reserve) if reserve is not None else allocation // 20
        if allocation - used <= reserve:
            raise FatalDestinationError(
                f"stopping before the daily API allocation runs out: {used}/{allocation} used, "
                f"{reserve} kept in reserve (api_reserve); the rest is sent by a later push"
            )

    # ---- sObject Collections -------------------------------------------------------------
    def send_collections(self, spec: SyncSpec, changes: Sequence[Change], result: BatchResult) -> None:
        for op in ("create", "upsert", "update", "delete"):
            group = [c for c in changes if c.op == op]
            if not group:
                continue
            if op in ("update", "delete"):
                group = self.with_ids(spec, group, result)
            if group:
                getattr(self, f"_collection_{op}")(spec, group, result)

    def _collection_create(self, spec: SyncSpec, changes: list[Change], result: BatchResult) -> None:
        body = {"allOrNone": False, "records": [record(spec, c.fields) for c in changes]}
        self._read_saves(self.call(result, "POST", "composite/sobjects", json=body), changes, result, "create")

    def _collection_upsert(self, spec: SyncSpec, changes: list[Change], result: BatchResult) -> None:
        body = {"allOrNone": False, "records": [record(spec, c.fields) for c in changes]}
        reply = self.call(result, "PATCH", f"composite/sobjects/{spec.object}/{spec.upsert_key}", json=body)
        self._read_saves(reply, changes, result, "upsert")

    def _collection_update(self, spec: SyncSpec, changes: list[Change], result: BatchResult) -> None:
        records = [{**record(spec, c.fields), "id": c.remote_id} for c in changes]
        body = {"allOrNone": False, "records": records}
        self._read_saves(self.call(result, "PATCH", "composite/sobjects", json=body), changes, result, "update")

    def _collection_delete(self, spec: SyncSpec, changes: list[Change], result: BatchResult) -> None:
        ids = ",".join(str(c.remote_id) for c in changes)
        reply = self.call(result, "DELETE", f"composite/sobjects?ids={ids}&allOrNone=false")
        self._read_saves(reply, changes, result, "delete")

    def _read_saves(self, reply: Reply, changes: list[Change], result: BatchResult, op: str) -> None:
        """An ordered list of SaveResults, one per record; anything else rejects the request's records."""
        if not reply.ok:
            code, message = facts.error_of(reply)
            for change in changes:
                result.reject(change, code, message)
            return
        saves = reply.json()
        if not isinstance(saves, list) or len(saves) != len(changes) or not all(isinstance(s, dict) for s in saves):
            for change in changes:
                result.leave(change, unconfirmed(reply, f"a list of {len(changes)} SaveResults"))
            return
        for change, save in zip(changes, saves):
            if save.get("success") is True:
                record_id = save.get("id") or change.remote_id
                if op in ("create", "upsert") and not save.get("id"):
                    result.leave(change, unconfirmed(reply, "the record's id in its SaveResult"))
                    continue
                outcome = ("created" if save.get("created") is True else "updated") if op == "upsert" else OUTCOMES[op]
                result.ack(change, record_id, outcome)
            elif op == "delete" and _already_deleted(save):
                result.ack(change, change.remote_id, "deleted")
            else:
                code, message = save_error(save)
                result.reject(change, code, message)

    # ---- finding records by external id ----------------------------------------------------
    def with_ids(self, spec: SyncSpec, changes: list[Change], result: BatchResult) -> list[Change]:
        """The changes, each carrying the id of its one record; a key matching none or several is rejected."""
        lookup = [c for c in changes if not c.remote_id and spec.upsert_key != "Id"]
        found = self.find_ids(spec, sorted({str(c.upsert_value) for c in lookup}), result)
        ready = []
        for change in changes:
            if change.remote_id:
                ready.append(change)
            elif spec.upsert_key == "Id":
                ready.append(_with_remote(change, str(change.upsert_value)))
            else:
                ids = found.get(str(change.upsert_value), [])
                if len(ids) == 1:
                    ready.append(_with_remote(change, ids[0]))
                elif change.op == "delete" and not ids:
                    result.ack(change, None, "deleted")  # nothing carries that key: the goal is reached
                else:
                    what = "no record" if not ids else f"{len(ids)} records ({', '.join(ids)})"
                    result.reject(
                        change,
                        "no_match" if not ids else "multiple_matches",
                        f"{what} with {spec.upsert_key} = {change.upsert_value!r}",
                    )
        return ready

    def find_ids(self, spec: SyncSpec, values: list[str], result: BatchResult) -> dict[str, list[str]]:
        """external id value -> the ids of the records carrying it, by SOQL queries whose URIs
        stay within Salesforce's limit (``lookup_queries``)."""
        found: dict[str, list[str]] = {}
        for first in lookup_queries(f"{self.api_root}/query", spec.object, spec.upsert_key or "", values):
            path: str | None = first
            while path:
                reply = self.call(result, "GET", path)
                if not reply.ok:
                    code, message = facts.error_of(reply)
                    raise FatalDestinationError(f"the lookup query by {spec.upsert_key} failed: {code}: {message}")
                body = reply.json()
                if not isinstance(body, dict) or not isinstance(body.get("records"), list):
                    raise TransientDestinationError(unconfirmed(reply, "a query answer with records"))
                for row in body["records"]:
                    found.setdefault(_text(row.get(spec.upsert_key)), []).append(str(row["Id"]))
                nxt = body.get("nextRecordsUrl")
                path = f"{self.origin}{nxt}" if nxt and not body.get("done", True) else None
        return found

    # ---- the object's field list (validate --remote) ---------------------------------------
    def list_fields(self, spec: SyncSpec) -> set[str] | None:
        """``GET /sobjects/<Object>/describe``: every field's ``name``, and the
        ``relationshipName`` of lookups (so ``Account.Ext_Id__c`` checks as ``Account``)."""
        reply = self.call(BatchResult(), "GET", f"sobjects/{spec.object}/describe")
        body = reply.json()
        if not reply.ok or not isinstance(body, dict) or not isinstance(body.get("fields"), list):
            code, message = facts.error_of(reply)
            raise DestinationError(f"Salesforce did not describe {spec.object} ({code}): {message}")
        names: set[str] = set()
        for entry in body["fields"]:
            if isinstance(entry, dict):
                names.update(str(entry[k]) for k in ("name", "relationshipName") if entry.get(k))
        return names

    # ---- optional capabilities (match_on, on_update: if_empty) ------------------------------
    def find(self, spec: SyncSpec, field: str, value: Any, result: BatchResult) -> list[Found]:
        """The records whose ``field`` equals ``value``, by SOQL, with the mapped fields."""
        if not _NAME.match(field):
            raise RecordRejected("INVALID_FIELD", f"{field!r} is not a field API name")
        wanted = dict.fromkeys(["Id", field, *(f.path for f in spec.fields if _NAME.match(f.path))])
        soql = f"SELECT {', '.join(wanted)} FROM {spec.object} WHERE {field} = {soql_literal(_text(value))}"
        reply = self.call(result, "GET", f"query?{urlencode({'q': soql})}")
        if not reply.ok:
            raise RecordRejected(*facts.error_of(reply))
        body = reply.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise TransientDestinationError(unconfirmed(reply, "a query answer with records"))
        rows = [row for row in body["records"] if isinstance(row, dict) and row.get("Id")]
        return [Found(str(row["Id"]), {k: v for k, v in row.items() if k != "attributes"}) for row in rows]

    def fetch(self, spec: SyncSpec, record_id: str, result: BatchResult) -> dict[str, Any] | None:
        reply = self.call(result, "GET", f"sobjects/{spec.object}/{record_id}")
        if reply.status == 404:
            return None
        if not reply.ok:
            raise RecordRejected(*facts.error_of(reply))
        body = reply.json()
        if not isinstance(body, dict):
            raise TransientDestinationError(unconfirmed(reply, f"record {record_id}"))
        return body


# ---- shapes -----------------------------------------------------------------------------
def _grant(connection: Connection) -> dict[str, str] | None:
    client_id, secret = connection.setting("client_id"), connection.setting("client_secret")
    refresh = connection.setting("refresh_token")
    if refresh and client_id:
        grant = {"grant_type": "refresh_token", "refresh_token": str(refresh), "client_id": str(client_id)}
        return {**grant, "client_secret": str(secret)} if secret else grant
    if client_id and secret:
        return {"grant_type": "client_credentials", "client_id": str(client_id), "client_secret": str(secret)}
    return None


def _instance_url(value: Any, token_url: str) -> str | None:
    """The token answer's ``instance_url`` when it can carry the bearer token: https, or plain
    http on the token endpoint's own host (the loopback sandbox); anything else is ignored."""
    if not isinstance(value, str) or not value:
        return None
    parts, token = urlsplit(value), urlsplit(token_url)
    if parts.scheme == "https" and parts.netloc or parts.scheme == "http" and parts.netloc == token.netloc:
        return value.rstrip("/")
    return None


def record(spec: SyncSpec, fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": spec.object}, **fields}


def _with_remote(change: Change, remote_id: str) -> Change:
    return replace(change, remote_id=remote_id)


def _already_deleted(save: dict[str, Any]) -> bool:
    return any(e.get("statusCode") == "ENTITY_IS_DELETED" for e in save.get("errors") or [])


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def lookup_queries(
    query_url: str,
    sobject: str,
    field: str,
    values: Sequence[str],
    budget: int = facts.URI_BUDGET,
    most: int = QUERY_CHUNK,
) -> list[str]:
    """``query?q=SELECT Id, <field> FROM <sobject> WHERE <field> IN (...)`` paths, the values
    split so that each whole URL, encoded as sent, stays within ``budget`` bytes (Salesforce
    answers 414 past 16,384 bytes of URI and headers) and holds at most ``most`` values.
    A single value too long for any URL is still sent alone (Salesforce then refuses it)."""
    head = f"SELECT Id, {field} FROM {sobject} WHERE {field} IN ("
    fixed = len(query_url) + 1 + len(urlencode({"q": head + ")"}))
    paths: list[str] = []
    chunk: list[str] = []
    size = fixed
    for value in values:
        piece = len(urlencode({"q": soql_literal(value) + ", "})) - 2  # "q=" is counted once, in fixed
        if chunk and (size + piece > budget or len(chunk) >= most):
            paths.append(_in_query(head, chunk))
            chunk, size = [], fixed
        chunk.append(value)
        size += piece
    if chunk:
        paths.append(_in_query(head, chunk))
    return paths


def _in_query(head: str, values: Sequence[str]) -> str:
    return f"query?{urlencode({'q': head + ', '.join(soql_literal(v) for v in values) + ')'})}"


def soql_literal(value: str) -> str:
    """A SOQL string literal: backslash and quote escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def save_error(save: dict[str, Any]) -> tuple[str, str]:
    """The first error of a SaveResult as (statusCode, message), fields appended."""
    errors = save.get("errors") or [{}]
    first = errors[0]
    message = str(first.get("message") or "failed")
    fields = first.get("fields") or []
    if fields and not any(f in message for f in fields):
        message = f"{message} (fields: {', '.join(fields)})"
    extra = [str(e.get("message")) for e in errors[1:] if e.get("message")]
    return str(first.get("statusCode") or "ERROR"), "; ".join([message, *extra])
