"""Freshsuccess: ``accounts`` and ``account_contacts`` through the bulk upsert POST.

Facts (docs/crm-notes.md): API root ``https://api-us.freshsuccess.com/api/v2`` (or
``api-eu``); the key as HTTP Basic password of user ``api`` (``?api_key=`` works too: the
header keeps it out of URLs and proxy logs). ``POST /<object>`` with ``{"records": [...]}``
inserts or updates each record, keyed by ``account_id`` (accounts) or ``user_id``
(contacts, assumed); up to 1000 records a request here. The answer carries
``status_is_ok`` and ``failed_results: [{message, account_id, record}]`` where ``record`` is
the record's index in the request. ``status_is_ok: false`` means nothing in the batch was
written: the failed records are rejected and the others sent again in a new request.

Payload rules: ``account_id`` (and ``user_id``) always travel as exact text (``12345.0`` ->
``12345``); ``join_date`` and event dimensions as epoch milliseconds; a field path
``custom_label_dimensions.<key>`` (likewise ``custom_value_dimensions``,
``custom_event_dimensions``) becomes a ``{key, value}`` entry of that list. Accounts need
``account_id``, ``name`` and ``join_date``: a row without them is rejected before sending.
A contact whose account does not exist yet is rejected (``Account not found``) and goes
through on a later push, once its account has been pushed (syncs run in DAG order).
A date that cannot be read as one (``2023-02-29``) rejects its row (``invalid_value``).

Acknowledged: only by a JSON answer whose ``status_is_ok`` is true (the records it does not
name in ``failed_results``); a 2xx without ``status_is_ok`` (an HTML page, another JSON)
leaves the batch for the next push. Created or matched: the bulk POST inserts or updates and
its answer does not say which, so every acknowledged write is ``updated`` (never ``created``).

Deletes: Freshsuccess documents no delete path for accounts or contacts (``facts.NO_DELETE``),
so ``insert_mode: delete`` and ``mirror`` are configuration errors rather than guesses; a delete
change that reaches ``send`` anyway is rejected, never acknowledged.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from dbt_revsync.crms.freshsuccess import facts
from dbt_revsync.delivery import Reply
from dbt_revsync.destinations.base import Destination, unconfirmed
from dbt_revsync.errors import FatalDestinationError, TransientDestinationError
from dbt_revsync.model import BatchResult, Change, Connection, SyncSpec
from dbt_revsync.plan import key_text

__all__ = [
    "code_of",
    "DATE_FIELDS",
    "DIMENSIONS",
    "epoch_ms",
    "error_of",
    "failures",
    "FreshsuccessDestination",
    "KEYS",
    "MAX_ROUNDS",
    "REQUIRED",
    "TEXT_IDS",
    "to_record",
]

KEYS = facts.KEYS
REQUIRED = facts.REQUIRED
TEXT_IDS = facts.TEXT_IDS
DATE_FIELDS = facts.DATE_FIELDS
DIMENSIONS = facts.DIMENSIONS
MAX_ROUNDS = 5  # requests for one batch when Freshsuccess refuses it whole and names the culprits

logger = logging.getLogger(__name__)


class FreshsuccessDestination(Destination):
    type_name: ClassVar[str] = "freshsuccess"
    required_settings: ClassVar[tuple[str, ...]] = ("api_key",)
    optional_settings: ClassVar[tuple[str, ...]] = ("region",)
    secret_settings: ClassVar[tuple[str, ...]] = ("api_key",)
    objects: ClassVar[tuple[str, ...]] = tuple(KEYS)
    max_batch_size: ClassVar[int] = facts.MAX_BATCH
    default_rate_limit: ClassVar[float | None] = None  # no published limit was found

    @classmethod
    def check_connection(cls, connection: Connection) -> list[str]:
        if connection.setting("region", "us") not in ("us", "eu"):
            return [f"'region' must be us or eu, got {connection.setting('region')!r}"]
        return []

    @classmethod
    def check_spec(cls, spec: SyncSpec) -> list[tuple[str, str]]:
        problems = super().check_spec(spec)
        if problems:
            return problems
        key = KEYS[spec.object]
        if spec.insert_mode in ("delete", "mirror"):
            message = (
                f"insert_mode {spec.insert_mode} is not available for Freshsuccess: {facts.NO_DELETE}; "
                "use upsert (rows that leave the model stay in Freshsuccess)"
            )
            problems.append((message, "insert_mode"))
            return problems
        if spec.insert_mode == "update":
            problems.append(("Freshsuccess's bulk POST creates what it does not find: use upsert", "insert_mode"))
        if spec.upsert_key and spec.upsert_key != key:
            problems.append((f"Freshsuccess {spec.object} are keyed by {key}; set upsert_key: {key}", "upsert_key"))
        mapped = {f.path for f in spec.fields}
        missing = [name for name in REQUIRED[spec.object] if name not in mapped and spec.insert_mode != "delete"]
        if missing:
            problems.append((f"Freshsuccess {spec.object} need {', '.join(missing)} in fields", "fields"))
        for f in spec.fields:
            head = f.parts[0]
            if head in DIMENSIONS and len(f.parts) != 2:
                problems.append((f"write a dimension as {head}.<key>", f"fields.{f.path}"))
            elif head not in DIMENSIONS and len(f.parts) != 1:
                problems.append(("Freshsuccess fields are flat, except <dimension list>.<key>", f"fields.{f.path}"))
        return problems

    @classmethod
    def default_root(cls, connection: Connection) -> str:
        return f"https://api-{connection.setting('region', 'us')}.freshsuccess.com/api/v2"

    # ---- sending ----------------------------------------------------------------------------
    def send(self, spec: SyncSpec, changes: Sequence[Change]) -> BatchResult:
        result = BatchResult()
        try:
            deletes = [c for c in changes if c.op == "delete"]
            writes = [c for c in changes if c.op != "delete"]
            if writes:
                self._upsert(spec, writes, result)
            for change in deletes:  # refused by check_spec; never acknowledged if one gets here
                result.reject(change, "delete_unsupported", facts.NO_DELETE)
        except (TransientDestinationError, FatalDestinationError) as exc:
            result.cut_short(changes, exc)
        return result

    def _call(self, result: BatchResult, method: str, path: str, body: Any = None) -> Reply:
        auth = base64.b64encode(f"api:{self.connection.setting('api_key')}".encode()).decode()
        return result.count(
            self.http.request(method, f"{self.root}/{path}", json=body, headers={"Authorization": f"Basic {auth}"})
        )

    def _upsert(self, spec: SyncSpec, changes: list[Change], result: BatchResult) -> None:
        pending: list[tuple[Change, dict[str, Any]]] = []
        for change in changes:
            try:
                record, problem = to_record(spec.object, change.fields)
            except ValueError as exc:
                result.reject(change, "invalid_value", str(exc))
                continue
            if problem:
                result.reject(change, "missing_required_field", problem)
            else:
                pending.append((change, record))
        for _ in range(MAX_ROUNDS):
            if not pending:
                return
            reply = self._call(result, "POST", spec.object, {"records": [record for _, record in pending]})
            if not reply.ok:
                code, message = error_of(reply)
                for change, _ in pending:
                    result.reject(change, code, message)
                return
            body = reply.json()
            if not isinstance(body, dict) or not isinstance(body.get("status_is_ok"), bool):
                for change, _ in pending:
                    result.leave(change, unconfirmed(reply, "Freshsuccess's answer with status_is_ok"))
                return
            failed = failures(body.get("failed_results") or [], [record for _, record in pending], KEYS[spec.object])
            for index, message in failed.items():
                result.reject(pending[index][0], code_of(message), message)
            rest = [item for index, item in enumerate(pending) if index not in failed]
            if body["status_is_ok"]:
                for change, record in rest:
                    # The answer does not say whether a record was inserted or updated: never "created".
                    result.ack(change, record.get(KEYS[spec.object]), "updated")
                return
            if not failed:  # refused whole, naming no record: nothing to retry with
                for change, _ in rest:
                    result.reject(
                        change,
                        "batch_refused",
                        "Freshsuccess refused the batch (status_is_ok false) without naming a record",
                    )
                return
            pending = rest
        for change, _ in pending:
            result.leave(change, "Freshsuccess kept refusing the batch")


# ---- payload ------------------------------------------------------------------------------
def to_record(obj: str, fields: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The Freshsuccess record of a change's fields, or a reason it cannot be sent (a required field
    missing); ValueError when a value cannot be converted (a date that is no date)."""
    record: dict[str, Any] = {}
    for name, value in fields.items():
        if name in DIMENSIONS and isinstance(value, Mapping):
            event = name == "custom_event_dimensions"
            record[name] = [
                {"key": key, "value": _date(f"{name}.{key}", v) if event else v} for key, v in value.items()
            ]
        elif name in TEXT_IDS:
            record[name] = key_text(value)
        elif name in DATE_FIELDS:
            record[name] = _date(name, value)
        else:
            record[name] = value
    missing = [name for name in REQUIRED[obj] if record.get(name) in (None, "")]
    if missing:
        return record, f"Missing/invalid required field(s) for {obj}: {', '.join(repr(m) for m in missing)}"
    return record, None


def _date(name: str, value: Any) -> Any:
    try:
        return epoch_ms(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def epoch_ms(value: Any) -> Any:
    """A date or timestamp (ISO text, as the warehouse gives it) as epoch milliseconds (UTC);
    ValueError when the text is no date (``2023-02-29``)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip().replace(" ", "T", 1)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not a date or timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return int(moment.timestamp() * 1000)


def failures(failed: list[Any], records: list[dict[str, Any]], key: str) -> dict[int, str]:
    """index in the request -> message; by ``record`` index, else by the key's value."""
    out: dict[int, str] = {}
    for entry in failed:
        if not isinstance(entry, dict):
            continue
        message = str(entry.get("message") or "failed")
        index = entry.get("record")
        if not isinstance(index, int) or not 0 <= index < len(records):
            wanted = entry.get(key) if entry.get(key) is not None else entry.get("account_id")
            index = next(
                (i for i, r in enumerate(records) if i not in out and r.get(key, r.get("account_id")) == wanted), None
            )
        if index is not None:
            out[index] = message
    return out


def code_of(message: str) -> str:
    """Freshsuccess gives messages only; a stable code for the rejects table."""
    if message.startswith("Account not found"):
        return "account_not_found"
    if message.startswith("Missing/invalid required"):
        return "missing_required_field"
    return re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40] or "failed"


def error_of(reply: Reply) -> tuple[str, str]:
    """A whole-request error: ``{"errors": [{"code", "message"}]}`` [sec]."""
    body = reply.json()
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("code") or reply.status), str(errors[0].get("message") or reply.text[:300])
    return str(reply.status), reply.text[:300] or f"HTTP {reply.status}"
