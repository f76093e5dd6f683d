"""The records an emulator holds: per resource, keyed by an id that is never handed out twice."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

__all__ = ["IdReservation", "Record", "RecordStore"]

Record = dict[str, Any]


class IdReservation(Protocol):
    """Where one emulator's id counters are kept across restarts (see ``dbt_revsync.sandbox.ids``)."""

    def start(self, resource: str, first_id: int) -> int:
        """The first id this run may hand out for ``resource``."""
        ...

    def reserve(self, resource: str, next_id: int) -> int:
        """Record, durably, that ids up to the returned ceiling (exclusive, > ``next_id``) may be in use."""
        ...


class RecordStore:
    """Records per resource, keyed by an auto-incremented integer id.

    Every method is thread-safe and hands out deep copies, so callers can never change
    a stored record behind the store's back. ``lock`` is re-entrant: hold it to make a
    read-check-write sequence atomic.
    """

    def __init__(self, resources: Iterable[str], first_id: int = 1) -> None:
        self.lock = threading.RLock()
        self._resources = tuple(resources)
        self._first_id = first_id
        self._records: dict[str, dict[int, Record]] = {}
        self._next_id: dict[str, int] = {}
        self._reservation: IdReservation | None = None
        self._ceiling: dict[str, int] = {}
        # resource -> a counter raised by every change of its records (what a snapshot writer watches)
        self._versions: dict[str, int] = dict.fromkeys(self._resources, 0)
        self.reset()

    @property
    def resources(self) -> tuple[str, ...]:
        return self._resources

    def reset(self) -> None:
        """Forget every record. Ids go on from where they were, as a CRM never gives one id to
        two records: a warehouse state from before the reset can never name a new record."""
        with self.lock:
            self._records = {name: {} for name in self._resources}
            self._next_id = {name: self._next_id.get(name, self._first_id) for name in self._resources}
            for name in self._resources:
                self._changed(name)

    def _changed(self, resource: str) -> None:
        self._versions[resource] += 1

    def version(self, resource: str) -> int:
        """A counter raised by every change of ``resource``'s records (insert, replace, delete,
        reset, load): equal versions mean equal records."""
        with self.lock:
            self._table(resource)
            return self._versions[resource]

    def encoded(self, resource: str) -> tuple[int, str]:
        """The version and the JSON text of ``resource``'s records (a list, in id order).
        TypeError when a record holds a non-JSON value.

        The lock is held only to list the records: a stored record is never changed in place
        (``insert`` and ``replace`` store a new copy), so it is encoded outside the lock, and
        the emulator is not held up while a large store is written."""
        with self.lock:
            table = self._table(resource)
            version, records = self._versions[resource], [table[key] for key in sorted(table)]
        return version, json.dumps(records, separators=(",", ":"))

    def load(self, resource: str, records: Iterable[Record]) -> None:
        """Replace ``resource``'s records with ``records`` (each with an integer ``id``), as a
        restarted sandbox restores its snapshot. The counter moves above the highest id loaded."""
        with self.lock:
            self._table(resource)
            table = {record["id"]: _with_id(record, record["id"]) for record in records}
            self._records[resource] = table
            if table:
                self._next_id[resource] = max(self._next_id[resource], max(table) + 1)
            self._changed(resource)

    def _table(self, resource: str) -> dict[int, Record]:
        try:
            return self._records[resource]
        except KeyError:
            raise KeyError(f"unknown resource {resource!r}; known: {', '.join(self._resources)}") from None

    def insert(self, resource: str, record: Record) -> Record:
        """Store a new record under the next id (set as ``record["id"]``); return a copy."""
        with self.lock:
            table = self._table(resource)
            record_id = self._take_id(resource)
            table[record_id] = _with_id(record, record_id)
            self._changed(resource)
            return copy.deepcopy(table[record_id])

    def persist_ids(self, reservation: IdReservation) -> None:
        """From now on, ids survive restarts: each counter starts where ``reservation`` says
        (never lower than it is), and no id is handed out before the reservation has recorded
        a ceiling above it (see :mod:`dbt_revsync.sandbox.ids`)."""
        with self.lock:
            self._reservation = reservation
            for name in self._resources:
                self._next_id[name] = max(self._next_id[name], reservation.start(name, self._first_id))
                self._ceiling[name] = self._next_id[name]

    def next_id(self, resource: str) -> int:
        """The id the next record of ``resource`` will get."""
        with self.lock:
            self._table(resource)
            return self._next_id[resource]

    def _take_id(self, resource: str) -> int:
        record_id = self._next_id[resource]
        if self._reservation is not None and record_id >= self._ceiling[resource]:
            self._ceiling[resource] = self._reservation.reserve(resource, record_id)
        self._next_id[resource] = record_id + 1
        return record_id

    def get(self, resource: str, record_id: int) -> Record | None:
        with self.lock:
            record = self._table(resource).get(record_id)
            return copy.deepcopy(record) if record is not None else None

    def replace(self, resource: str, record_id: int, record: Record) -> Record:
        """Replace an existing record whole; KeyError if there is none."""
        with self.lock:
            table = self._table(resource)
            if record_id not in table:
                raise KeyError(f"{resource} {record_id} does not exist")
            table[record_id] = _with_id(record, record_id)
            self._changed(resource)
            return copy.deepcopy(table[record_id])

    def delete(self, resource: str, record_id: int) -> bool:
        """Remove a record; False if it did not exist."""
        with self.lock:
            removed = self._table(resource).pop(record_id, None) is not None
            if removed:
                self._changed(resource)
            return removed

    def all(self, resource: str) -> list[Record]:
        """Every record of a resource, in id order."""
        with self.lock:
            table = self._table(resource)
            return [copy.deepcopy(table[key]) for key in sorted(table)]

    def find(self, resource: str, predicate: Callable[[Record], bool]) -> list[Record]:
        """The records, in id order, for which ``predicate`` is true."""
        with self.lock:
            table = self._table(resource)
            return [copy.deepcopy(table[key]) for key in sorted(table) if predicate(table[key])]

    def count(self, resource: str) -> int:
        with self.lock:
            return len(self._table(resource))

    def snapshot(self) -> dict[str, list[Record]]:
        """resource -> its records, in id order."""
        with self.lock:
            return {name: self.all(name) for name in self._resources}


def _with_id(record: Record, record_id: int) -> Record:
    """A deep copy of ``record`` with ``id`` as its first key."""
    return {"id": record_id, **{key: copy.deepcopy(value) for key, value in record.items() if key != "id"}}
