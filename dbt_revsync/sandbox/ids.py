"""Record ids a sandbox never gives twice, across restarts.

A CRM never gives one id to two records. A push remembers, in the warehouse's state table,
the id each record was acknowledged with, and later updates or deletes the record by that
id. A sandbox that started its counters over on every restart would give a new record an id
the state still names, and the next push would overwrite (or delete) it.

Two guards, both on when the sandbox has a state directory (``dbt-revsync sandbox`` always
has one: ``--state-dir``, default ``.revsync-sandbox/`` under the current directory):

1. **The reservation ledger** ``<state dir>/ids.json`` holds, per emulator and resource, a
   *ceiling*: every id handed out so far is below it. Before a store hands out an id that
   reaches the ceiling, the ledger raises the ceiling by a block of ids and writes the file
   atomically (temporary file, fsync, rename). A restarted sandbox starts each counter at
   the ceiling, so even a sandbox killed with SIGKILL never gives an id twice: it leaves a
   gap of at most one block instead.
2. **The time floor**: a counter never starts below ``first_id + 10 x (seconds since
   2025-01-01 UTC)``. A sandbox started on a new or deleted state directory therefore still
   keeps clear of a previous run's ids, as long as that run gave fewer than 10 ids of a
   resource per second between its own start and the restart. It is a safety net, not a
   guarantee: keep the state directory.

A lock (``<state dir>/lock``, ``flock``) keeps a second sandbox off a state directory in
use: two sandboxes sharing one ledger would reserve the same blocks.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from dbt_revsync.errors import UsageError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, the ledger still works
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "BLOCK",
    "DEFAULT_STATE_DIR",
    "FLOOR_EPOCH",
    "LEDGER_FILE",
    "LOCK_FILE",
    "IdLedger",
    "IdReservation",
    "SandboxStateError",
    "remove_temporaries",
    "time_floor",
    "write_atomically",
]

logger = logging.getLogger(__name__)

DEFAULT_STATE_DIR = ".revsync-sandbox"
LEDGER_FILE = "ids.json"
LOCK_FILE = "lock"
BLOCK = 1000  # ids reserved per write of the ledger
FLOOR_EPOCH = 1735689600.0  # 2025-01-01T00:00:00Z
FLOOR_IDS_PER_SECOND = 10  # Salesforce's ids carry 10 digits: this floor stays below 10**10 until 2056
VERSION = 1


class SandboxStateError(UsageError):
    """The state directory cannot be used (unreadable ledger, in use, not writable)."""


def time_floor(now: float) -> int:
    """How far above its ``first_id`` a counter starts at time ``now`` (epoch seconds)."""
    return max(0, int((now - FLOOR_EPOCH) * FLOOR_IDS_PER_SECOND))


class IdLedger:
    """The id ceilings of every emulator of one sandbox, kept in ``<state_dir>/ids.json``.

    ``open`` takes the state directory's lock and reads the ledger; ``close`` lets go of the
    lock. ``reservation(prefix)`` is what an emulator's RecordStore persists its ids through.
    """

    def __init__(self, state_dir: Path, *, block: int = BLOCK, clock: Callable[[], float] = time.time) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / LEDGER_FILE
        self.block = block
        self._clock = clock
        self._lock = threading.Lock()
        self._ceilings: dict[str, dict[str, int]] = {}
        self._lock_file: IO[str] | None = None

    @classmethod
    def open(cls, state_dir: str | os.PathLike[str], **options: Any) -> IdLedger:
        ledger = cls(Path(state_dir), **options)
        ledger._take_directory()
        remove_temporaries(ledger.state_dir, ".ids-")
        try:
            ledger._ceilings = ledger._read()
        except SandboxStateError:
            ledger.close()
            raise
        return ledger

    def close(self) -> None:
        """Let go of the state directory (the ledger file stays)."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def reservation(self, prefix: str) -> IdReservation:
        return IdReservation(self, prefix)

    def ceilings(self) -> dict[str, dict[str, int]]:
        """prefix -> resource -> ceiling, as last written."""
        with self._lock:
            return {prefix: dict(values) for prefix, values in self._ceilings.items()}

    # -- the two operations a store needs ------------------------------------------

    def start(self, prefix: str, resource: str, first_id: int) -> int:
        with self._lock:
            kept = self._ceilings.get(prefix, {}).get(resource, 0)
        return max(kept, first_id + time_floor(self._clock()))

    def reserve(self, prefix: str, resource: str, next_id: int) -> int:
        with self._lock:
            ceiling = max(next_id + self.block, self._ceilings.get(prefix, {}).get(resource, 0))
            self._ceilings.setdefault(prefix, {})[resource] = ceiling
            self._write()
            return ceiling

    # -- the files -----------------------------------------------------------------

    def _take_directory(self) -> None:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(self.state_dir / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 (held open)
        except OSError as exc:
            raise SandboxStateError(
                f"sandbox state directory {self.state_dir}: cannot use it: {exc.strerror or exc}"
            ) from None
        if fcntl is None:
            return
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.close()
            raise SandboxStateError(
                f"sandbox state directory {self.state_dir} is in use by another sandbox; stop it, or give this "
                "one its own --state-dir"
            ) from None

    def _read(self) -> dict[str, dict[str, int]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SandboxStateError(f"{self.path}: cannot read it: {exc.strerror or exc}") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SandboxStateError(
                f"{self.path}: not valid JSON ({exc}); restore it, or delete it to start ids from the time floor"
            ) from None
        return _ceilings_of(data, self.path)

    def _write(self) -> None:
        """Replace the ledger file atomically: a reader (or a crash) sees the old or the new file."""
        payload = json.dumps({"version": VERSION, "ceilings": self._ceilings}, indent=2, sort_keys=True)
        write_atomically(self.path, payload + "\n", prefix=".ids-")


class IdReservation:
    """One emulator's view of the ledger (``store.IdReservation``)."""

    def __init__(self, ledger: IdLedger, prefix: str) -> None:
        self._ledger, self._prefix = ledger, prefix

    def start(self, resource: str, first_id: int) -> int:
        return self._ledger.start(self._prefix, resource, first_id)

    def reserve(self, resource: str, next_id: int) -> int:
        return self._ledger.reserve(self._prefix, resource, next_id)


def _ceilings_of(data: Any, path: Path) -> dict[str, dict[str, int]]:
    ceilings = data.get("ceilings") if isinstance(data, dict) else None
    if not isinstance(ceilings, dict):
        raise SandboxStateError(f"{path}: key 'ceilings' is missing or not a mapping")
    out: dict[str, dict[str, int]] = {}
    for prefix, values in ceilings.items():
        if not isinstance(values, dict):
            raise SandboxStateError(f"{path}: key 'ceilings.{prefix}' is not a mapping")
        for resource, value in values.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SandboxStateError(f"{path}: key 'ceilings.{prefix}.{resource}' is not a whole number")
        out[prefix] = dict(values)
    return out


TEMPORARY_SUFFIX = ".tmp"


def write_atomically(path: Path, text: str, prefix: str) -> None:
    """Replace ``path`` with ``text``: a temporary file ``<prefix>*.tmp`` next to it, fsync, rename,
    fsync of the directory. A reader, or a crash at any point, sees the old file or the new one,
    never a part of either (at worst a temporary file is left behind: see :func:`remove_temporaries`)."""
    handle, temporary = tempfile.mkstemp(prefix=prefix, suffix=TEMPORARY_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def remove_temporaries(directory: Path, prefix: str) -> int:
    """Delete the temporary files a killed writer left in ``directory``; how many there were.
    Only for the holder of the directory's lock (no other writer can be under way)."""
    removed = 0
    for leftover in directory.glob(f"{prefix}*{TEMPORARY_SUFFIX}"):
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
