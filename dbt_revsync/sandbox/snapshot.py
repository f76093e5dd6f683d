"""The records of a sandbox, kept across restarts in ``<state dir>/records.json``.

A warehouse state remembers the records a push created; a sandbox that forgot them on a
restart would answer the next push's updates and deletes with "not found". So a sandbox with
a state directory (``dbt-revsync sandbox`` always has one) keeps a **snapshot**: every
emulator's records (what its :class:`~dbt_revsync.sandbox.store.RecordStore` holds) and the
fields declared on it, read back when it starts.

- A background thread writes the snapshot at most once a second, and only when a record or a
  declared field changed; a clean stop (Ctrl-C, SIGTERM, ``SandboxServer.stop``) writes it a
  last time. A sandbox killed with SIGKILL loses at most the last second of writes.
- Every write replaces the file atomically (temporary file, fsync, rename): a crash leaves the
  previous snapshot or the new one, never a part of one.
- Only the records of each changed object are encoded again; the others' text is reused.
- The section of an emulator that is not served this time (a CRM plugin not installed) is
  written back as it was read, so it is not lost.
- A snapshot that cannot be read is a :class:`~dbt_revsync.sandbox.ids.SandboxStateError`
  naming the file and the key (exit code 2 on the command line), never a partial restore.

What an emulator keeps beside its store (HubSpot's archived records, Salesforce's deleted ids
and Bulk jobs, rate-limit windows, ...) is not in the snapshot; ``docs/sandbox.md`` lists it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbt_revsync.sandbox.emulator import DeclaredField, Emulator, SchemaRefused
from dbt_revsync.sandbox.ids import (
    SandboxStateError,
    remove_temporaries,
    write_atomically,
)
from dbt_revsync.sandbox.store import Record

__all__ = [
    "SNAPSHOT_FILE",
    "EmulatorSection",
    "Restored",
    "SnapshotWriter",
    "read_snapshot",
    "restore",
]

logger = logging.getLogger(__name__)

SNAPSHOT_FILE = "records.json"
TEMPORARY_PREFIX = ".records-"
INTERVAL = 1.0  # seconds between two writes, at most one a second
VERSION = 1


@dataclass(frozen=True)
class EmulatorSection:
    """One emulator's part of a snapshot, checked."""

    declared: tuple[DeclaredField, ...]
    records: Mapping[str, list[Record]]
    raw: Any  # the section as read, written back unchanged when its emulator is not served


@dataclass(frozen=True)
class Restored:
    """What a start put back from the snapshot."""

    records: int = 0
    fields: int = 0


def read_snapshot(path: Path) -> dict[str, EmulatorSection]:
    """prefix -> its section; empty when there is no snapshot. SandboxStateError naming the
    file and the key when it cannot be read or is not a snapshot."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise _damaged(path, f"cannot read it: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _damaged(path, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise _damaged(path, f"key 'version' is not {VERSION}: not a snapshot this sandbox can read")
    emulators = data.get("emulators")
    if not isinstance(emulators, dict):
        raise _damaged(path, "key 'emulators' is missing or not a mapping")
    return {str(prefix): _section(path, str(prefix), section) for prefix, section in emulators.items()}


def _section(path: Path, prefix: str, section: Any) -> EmulatorSection:
    key = f"emulators.{prefix}"
    if not isinstance(section, dict):
        raise _damaged(path, f"key '{key}' is not a mapping")
    fields, records = section.get("declared_fields", []), section.get("records", {})
    if not isinstance(fields, list):
        raise _damaged(path, f"key '{key}.declared_fields' is not a list")
    if not isinstance(records, dict):
        raise _damaged(path, f"key '{key}.records' is not a mapping")
    declared = tuple(_declared(path, f"{key}.declared_fields[{index}]", item) for index, item in enumerate(fields))
    for resource, kept in records.items():
        _check_records(path, f"{key}.records.{resource}", kept)
    return EmulatorSection(declared, records, section)


def _declared(path: Path, key: str, item: Any) -> DeclaredField:
    if not isinstance(item, dict) or not isinstance(item.get("object"), str):
        raise _damaged(path, f"key '{key}' is not a field {{object, name, type, unique}}")
    try:
        return DeclaredField.from_mapping(item["object"], {k: v for k, v in item.items() if k != "object"})
    except (ValueError, TypeError) as exc:
        raise _damaged(path, f"key '{key}': {exc}") from None


def _check_records(path: Path, key: str, kept: Any) -> None:
    if not isinstance(kept, list):
        raise _damaged(path, f"key '{key}' is not a list of records")
    seen: set[int] = set()
    for index, record in enumerate(kept):
        record_id = record.get("id") if isinstance(record, dict) else None
        if not isinstance(record_id, int) or isinstance(record_id, bool) or record_id < 0:
            raise _damaged(path, f"key '{key}[{index}].id' is missing or not a whole number")
        if record_id in seen:
            raise _damaged(path, f"key '{key}[{index}].id': id {record_id} appears twice")
        seen.add(record_id)


def _damaged(path: Path, problem: str) -> SandboxStateError:
    return SandboxStateError(
        f"{path}: {problem}; restore it, start with --fresh to begin with no records (ids are kept), or delete it"
    )


def restore(emulators: Mapping[str, Emulator], sections: Mapping[str, EmulatorSection]) -> Restored:
    """Declare each section's fields on its emulator and put its records back.

    A field already declared under that name (by the schema file) keeps the schema file's
    definition; a field the emulator refuses now, or an object it no longer has, is skipped with
    a warning. Sections of emulators not served are left to :class:`SnapshotWriter` to carry."""
    records = fields = 0
    for prefix, section in sections.items():
        emulator = emulators.get(prefix)
        if emulator is None:
            logger.info("the snapshot holds records of %s, not served now: kept in the snapshot as they are", prefix)
            continue
        fields += _declare(prefix, emulator, section.declared)
        known = {resource: kept for resource, kept in section.records.items() if resource in emulator.resources}
        for resource in sorted(set(section.records) - set(known)):
            logger.warning(
                "the snapshot's %s records of %s are dropped: the emulator has no such object now", resource, prefix
            )
        emulator.restore_records(known)
        records += sum(len(kept) for kept in known.values())
    return Restored(records=records, fields=fields)


def _declare(prefix: str, emulator: Emulator, declared: tuple[DeclaredField, ...]) -> int:
    count = 0
    for item in declared:
        if any((d.object, d.name) == (item.object, item.name) for d in emulator.declared_fields):
            continue  # the schema file declared it this time: its definition wins
        try:
            emulator.declare(item)
            count += 1
        except SchemaRefused as exc:
            logger.warning(
                "the snapshot's field %s.%s.%s is no longer accepted, skipped: %s", prefix, item.object, item.name, exc
            )
    return count


class SnapshotWriter:
    """Writes the snapshot of ``emulators`` to ``path`` from a daemon thread, at most once every
    ``interval`` seconds and only after a change; :meth:`close` writes it a last time."""

    def __init__(
        self,
        path: Path,
        emulators: Mapping[str, Emulator],
        carried: Mapping[str, Any] | None = None,
        interval: float = INTERVAL,
    ) -> None:
        self.path = path
        self.interval = interval
        self._emulators = dict(emulators)
        self._carried = {prefix: json.dumps(section) for prefix, section in (carried or {}).items()}
        self._encoded: dict[tuple[str, str], tuple[int, str]] = {}  # (prefix, resource) -> (version, JSON)
        self._written = self._token()  # what was restored is what the file holds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_problem = ""
        self.writes = 0
        remove_temporaries(path.parent, TEMPORARY_PREFIX)

    def start(self) -> SnapshotWriter:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="dbt-revsync-sandbox-snapshot", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop the thread and write what changed since the last write. Safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self, force: bool = False) -> bool:
        """Write the snapshot if a record or a declared field changed since the last write (or
        ``force``); True when written. A failure is logged (once per distinct problem) and tried
        again next time."""
        with self._lock:
            try:
                return self._flush(force)
            except (OSError, TypeError, ValueError) as exc:
                problem = f"cannot write the sandbox snapshot {self.path}: {exc}"
                if problem != self._last_problem:
                    logger.error("%s", problem)
                    self._last_problem = problem
                return False

    def _flush(self, force: bool) -> bool:
        token = self._token()
        if token == self._written and not force:
            return False
        parts = [
            f"{json.dumps(prefix)}:{self._section_text(prefix, emulator)}"
            for prefix, emulator in self._emulators.items()
        ]
        parts += [f"{json.dumps(prefix)}:{text}" for prefix, text in self._carried.items()]
        write_atomically(
            self.path, f'{{"version":{VERSION},"emulators":{{' + ",\n".join(parts) + "}}\n", prefix=TEMPORARY_PREFIX
        )
        self._written = token
        self._last_problem = ""
        self.writes += 1
        return True

    def _token(self) -> tuple[Any, ...]:
        """What the snapshot depends on: each object's version and each emulator's declared fields."""
        return tuple(
            (prefix, emulator.declared_fields, tuple(emulator.store.version(r) for r in emulator.store.resources))
            for prefix, emulator in self._emulators.items()
        )

    def _section_text(self, prefix: str, emulator: Emulator) -> str:
        records = []
        for resource in emulator.store.resources:
            cached = self._encoded.get((prefix, resource))
            if cached is None or cached[0] != emulator.store.version(resource):
                try:
                    cached = emulator.store.encoded(resource)
                except TypeError as exc:
                    raise TypeError(f"a {prefix} {resource} record holds a value JSON cannot hold ({exc})") from None
                self._encoded[(prefix, resource)] = cached
            records.append(f"{json.dumps(resource)}:{cached[1]}")
        fields = json.dumps([declared.as_dict() for declared in emulator.declared_fields])
        return f'{{"declared_fields":{fields},"records":{{' + ",".join(records) + "}}"
