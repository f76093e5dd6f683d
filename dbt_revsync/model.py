"""The value types every layer passes around: a sync block and its connection, the rows a
push reads and sends, what a batch and a sync came to.

This module imports nothing of the package but ``errors``, so any layer (configuration,
diff, delivery, connectors, state, output) may use it without pulling in another.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, TypeVar

from dbt_revsync.errors import FatalDestinationError, TransientDestinationError

__all__ = [
    "COUNTS",
    "MAX_REJECT_REASONS",
    "OPS",
    "OUTCOMES",
    "RETRY_CODES",
    "Ack",
    "Left",
    "BatchResult",
    "Change",
    "ChangeRow",
    "Connection",
    "FieldMap",
    "NodeRef",
    "PlannedReject",
    "Reject",
    "Settings",
    "SyncReport",
    "SyncSpec",
    "SyncStatus",
    "is_retry_code",
    "utc_now",
]

COUNTS = (
    "read",
    "created",
    "updated",
    "deleted",
    "unchanged",
    "rejected",
    "requests",
)  # what a sync counts (runs table, events)


# Error codes that mean "not now" whatever the status: a vendor's own limit or lock codes
# (Salesforce REQUEST_LIMIT_EXCEEDED on a 403, UNABLE_TO_LOCK_ROW in a batch answer, ...).
RETRY_CODES = frozenset(
    {
        "REQUEST_LIMIT_EXCEEDED",
        "UNABLE_TO_LOCK_ROW",
        "SERVER_UNAVAILABLE",
        "TOO_MANY_REQUESTS",
        "RATE_LIMIT_EXCEEDED",
        "RATELIMIT_EXCEEDED",
        "TEMPORARILY_UNAVAILABLE",
    }
)


MAX_REJECT_REASONS = 10  # distinct reasons a report lists; every reject is in revsync_rejects


def utc_now() -> str:
    """Now, in UTC, as the text the state tables store (``2026-01-31 12:00:00.000000``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def is_retry_code(code: Any) -> bool:
    """A record's error code that means "not now" (a limit or lock code): the record is left
    for the next push instead of rejected."""
    return str(code).upper() in RETRY_CODES


class _Counted(Protocol):
    @property
    def attempts(self) -> int: ...


_Reply = TypeVar("_Reply", bound=_Counted)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Connection:
    """One entry of ``revsync.yml``, its ``env_var`` calls rendered."""

    name: str
    type: str
    settings: Mapping[str, Any]
    base_url: str | None = None
    rate_limit: float | None = None  # requests per second; None: the vendor's default
    max_concurrency: int = 4
    timeout: float = 30.0
    max_retries: int = 5  # retries of one request after its first try
    max_retry_time: float = 120.0  # seconds one request may spend retrying
    breaker_threshold: int = 10  # consecutive transient failures that stop a sync's sending
    file: str = ""
    secrets: frozenset[str] = frozenset()

    def setting(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)


@dataclass(frozen=True)
class FieldMap:
    """``path`` is the destination field (dots mean nested objects); ``column`` the model's."""

    path: str
    column: str
    on_update: str = "always"  # if_empty: never overwrite a value the record already holds
    list_format: str | None = None  # text | tags; None: the value travels as it is

    @cached_property  # read for every field of every row sent
    def parts(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))


@dataclass(frozen=True)
class NodeRef:
    """What a sync needs to know of the dbt node that carries it."""

    unique_id: str
    name: str
    resource_type: str
    yaml_file: str
    database: str | None
    schema: str
    identifier: str
    meta_path: str = "config.meta"  # where the block was found, for messages
    package_name: str = ""
    depends_on: tuple[str, ...] = ()
    materialized: str = ""  # dbt's materialization (ephemeral models have no relation)


@dataclass(frozen=True)
class SyncSpec:
    """One ``revsync`` block of one node: everything a push of it needs."""

    sync_id: str
    node: NodeRef
    connection: Connection
    object: str
    insert_mode: str
    primary_key: tuple[str, ...]
    fields: tuple[FieldMap, ...]
    upsert_key: str | None = None
    fetch_mode: str = "full"
    incremental_key: str | None = None
    nulls: str = "skip"
    batch_size: int | None = None
    name: str | None = None
    key_path: str = ""  # e.g. config.meta.revsync[1]
    schedule: str | None = None  # 30m | hourly | daily: what `push --due` honours
    owner: tuple[tuple[str, str], ...] = ()  # (("name", ..), ("email", ..)) for exposures
    match_on: tuple[str, ...] = ()  # destination fields, tried in order, that find a record
    gate: str = "model"  # none | model | upstream: whose failing tests hold the sync back
    quarantine: str = "none"  # tests: a failing test holds back only the rows it stored

    @property
    def label(self) -> str:
        suffix = f" [{self.name}]" if self.name else ""
        return f"{self.node.name}{suffix} -> {self.connection.name}.{self.object}"

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """Model columns the sync reads, each once, in a stable order."""
        seen: dict[str, None] = {}
        for column in (*self.primary_key, *(f.column for f in self.fields)):
            seen.setdefault(column, None)
        if self.incremental_key:
            seen.setdefault(self.incremental_key, None)
        return tuple(seen)

    @cached_property  # read for every row sent
    def upsert_field(self) -> FieldMap | None:
        """The mapped field that carries the upsert key's value."""
        return self.field_for(self.upsert_key) if self.upsert_key else None

    def field_for(self, name: str) -> FieldMap | None:
        """The mapped field named ``name``: its whole path, else its last part."""
        exact = [f for f in self.fields if f.path == name]
        tail = [f for f in self.fields if f.parts[-1] == name]
        found = exact or tail
        return found[0] if found else None

    @property
    def match_keys(self) -> tuple[str, ...]:
        """The destination fields that find an existing record, in order: ``match_on``,
        else the upsert key."""
        return self.match_on or ((self.upsert_key,) if self.upsert_key else ())

    @property
    def if_empty_fields(self) -> tuple[FieldMap, ...]:
        return tuple(f for f in self.fields if f.on_update == "if_empty")

    @property
    def fingerprint(self) -> str:
        """Changes whenever what a row turns into changes, so a new mapping resends rows."""
        fields = [
            (f.path, f.column)
            + ((f.on_update, f.list_format) if (f.on_update, f.list_format) != ("always", None) else ())
            for f in self.fields
        ]
        text = repr(
            (self.object, self.insert_mode, self.upsert_key, self.nulls, fields)
            + ((self.match_on,) if self.match_on else ())
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def short_id(self) -> str:
        return hashlib.sha256(self.sync_id.encode()).hexdigest()[:12]

    def effective_batch_size(self, maximum: int) -> int:
        return min(self.batch_size or maximum, maximum)


@dataclass(frozen=True)
class Settings:
    """Command-line and environment settings shared by every command."""

    project_dir: Path
    profiles_dir: Path | None = None
    target: str | None = None
    vars: str | None = None
    connections_file: str | None = None
    state_schema: str = "revsync"
    threads: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- rows and batches


OPS = ("create", "update", "upsert", "delete")


OUTCOMES = ("created", "updated", "deleted")


@dataclass(frozen=True)
class Change:
    """One row to send. ``fields`` is the nested payload, already mapped and cleaned."""

    op: str
    key: str
    fields: Mapping[str, Any]
    remote_id: str | None = None
    row_hash: str | None = None
    upsert_value: Any = None
    row: Mapping[str, Any] = field(default_factory=dict)  # the model's values (column -> value), for URL templates
    in_state: bool = True  # the state remembered this key when the push began
    origin: str | None = None  # what the state remembers of the record: created | matched
    upsert_text: str | None = None  # the upsert key value as the diff compares it (trimmed, lower case)
    incremental_value: Any = None  # the row's incremental key value (incremental syncs)


@dataclass(frozen=True)
class Ack:
    key: str
    destination_id: str | None
    outcome: str  # created | updated | deleted
    row_hash: str | None = None


@dataclass(frozen=True)
class Reject:
    key: str
    operation: str
    code: str
    message: str


@dataclass(frozen=True)
class Left:
    """A record neither acknowledged nor rejected: the next push sends it again."""

    key: str
    reason: str
    refused: bool = False  # its request found nothing accepting connections (see TransientDestinationError)

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}"


@dataclass
class BatchResult:
    """What a batch came to. ``fatal`` set: the sync must stop after committing this."""

    acked: list[Ack] = field(default_factory=list)
    rejected: list[Reject] = field(default_factory=list)
    requests: int = 0
    left: list[Left] = field(default_factory=list)  # the records left for the next push, and why
    fatal: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def left_keys(self) -> frozenset[str]:
        """The keys of the records left for the next push."""
        with self._lock:
            return frozenset(record.key for record in self.left)

    def ack(self, change: Change, destination_id: Any, outcome: str) -> None:
        """``outcome``: created (the CRM made a new record for this change: its id is
        required), updated (an existing record was matched or changed) or deleted."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        rid = None if destination_id in (None, "") else str(destination_id)
        if outcome == "created" and rid is None:
            raise ValueError("a created record is acknowledged with its id")
        with self._lock:
            self.acked.append(Ack(change.key, rid, outcome, change.row_hash))

    def reject(self, change: Change, code: Any, message: str) -> None:
        with self._lock:
            self.rejected.append(Reject(change.key, change.op, str(code), message))

    def leave(self, change: Change, reason: Any) -> None:
        """Neither acknowledged nor rejected: the record is sent again by the next push.
        ``reason``: words, or the transient error that left it."""
        refused = isinstance(reason, TransientDestinationError) and reason.refused
        with self._lock:
            self.left.append(Left(change.key, str(reason), refused))

    def error(self, change: Change, code: Any, message: str) -> None:
        """A record's error from a batch answer: rejected, unless its code means "not now"
        (a lock or limit code, see ``delivery.record_outcome``): then left for next time."""
        if is_retry_code(code):
            self.leave(change, f"{code}: {message}")
        else:
            self.reject(change, code, message)

    def cut_short(self, changes: Sequence[Change], exc: TransientDestinationError | FatalDestinationError) -> None:
        """A batch request failed as a whole: a transient failure leaves every record not yet
        answered for the next push; a fatal one stops the sync after this batch is committed."""
        if isinstance(exc, FatalDestinationError):
            self.fatal = str(exc)
            return
        settled = {a.key for a in self.acked} | {r.key for r in self.rejected} | {record.key for record in self.left}
        for change in changes:
            if change.key not in settled:
                self.leave(change, exc)

    def count(self, reply: _Reply) -> _Reply:
        with self._lock:
            self.requests += reply.attempts
        return reply

    def absorb(self, other: BatchResult) -> None:
        """Add another result of the same batch to this one."""
        with self._lock:
            self.acked.extend(other.acked)
            self.rejected.extend(other.rejected)
            self.requests += other.requests
            self.left.extend(other.left)
            self.fatal = self.fatal or other.fatal


@dataclass(frozen=True)
class ChangeRow:
    """One row of the changes table: what the diff decided and the values to map."""

    seq: int
    status: str
    remote_id: str | None
    key: str | None
    row_hash: str | None
    upsert_value: str | None  # as the diff compares it: trimmed, lower case
    incremental_value: Any
    values: Mapping[str, Any]  # model column -> value
    origin: str | None = None  # what the state remembers: created | matched


@dataclass(frozen=True)
class PlannedReject:
    """A row refused before sending, for a reason the diff found."""

    key: str | None
    operation: str
    code: str
    message: str


# --------------------------------------------------------------------------- reports


class SyncStatus(str, Enum):
    """Where a sync stands (``runner``'s docstring says what each finished status means).

    The members are their own text, so the runs table, the JSON events and the summary
    read exactly what they did as plain strings (``enum.StrEnum`` would say the same, but
    Python 3.10 has none)."""

    RUNNING = "running"
    SUCCESS = "success"
    REJECTED = "rejected"
    PARTIAL = "partial"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    HELD = "held"

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


@dataclass
class SyncReport:
    """How one sync went; ``status`` is a ``SyncStatus``."""

    spec: SyncSpec
    status: SyncStatus = SyncStatus.RUNNING
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    planned: dict[str, int] = field(default_factory=dict)  # op -> rows, for plan/dry runs
    samples: list[dict[str, Any]] = field(default_factory=list)
    reject_reasons: dict[str, list[Any]] = field(default_factory=dict)  # reason -> [rows, first key]
    left: int = 0  # rows left for the next push (not answered, not sent)
    config_error: bool = False  # the sync failed on its configuration (as the CRM revealed it)
    kept: int = (
        0  # mirror: records whose rows left the model, left alone (not created by the sync, or still pointed at)
    )
    held: dict[str, int] = field(default_factory=dict)  # reason -> rows held back by a failing test, not sent
    acted: int = 0  # rows of the relation that became a change or a reject
    changes: int = 0  # changes the diff found (mirror: with the records to delete)
    done: int = 0  # changes dealt with: sent and answered, rejected unsent, or left
    watermark: str | None = None
    message: str | None = None
    started_at: str = field(default_factory=utc_now)
    seconds: float = 0.0
    run_row_at: float = float("-inf")  # when the runs row was last written (monotonic)

    @property
    def reject_samples(self) -> list[str]:
        """One line per distinct reject reason: the first key, how many more, the reason."""
        return [
            f"{key}{f' and {rows - 1} more' if rows > 1 else ''}: {reason}"
            for reason, (rows, key) in self.reject_reasons.items()
        ]

    def note_rejects(self, rejects: Iterable[tuple[str | None, str]]) -> None:
        reasons = self.reject_reasons
        for key, reason in rejects:
            if reason in reasons:
                reasons[reason][0] += 1
            elif len(reasons) < MAX_REJECT_REASONS:
                reasons[reason] = [1, key]

    @property
    def ok(self) -> bool:
        return self.status == SyncStatus.SUCCESS and self.counts["rejected"] == 0
