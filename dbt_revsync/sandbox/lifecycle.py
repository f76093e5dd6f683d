"""The sandbox server: every emulator under ``/<prefix>``, plus the admin API under ``/_admin``,
served from a daemon thread (or the calling one), with fault injection and, given a state
directory, records and ids kept across restarts.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable, Mapping
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any

from dbt_revsync.sandbox.admin import ADMIN, AdminApi
from dbt_revsync.sandbox.emulator import DeclaredField, Emulator
from dbt_revsync.sandbox.faults import FaultInjector, FaultRule, answer_with_fault
from dbt_revsync.sandbox.http import listen
from dbt_revsync.sandbox.ids import IdLedger
from dbt_revsync.sandbox.messages import SandboxRequest, SandboxResponse, json_response
from dbt_revsync.sandbox.registry import create_emulator, create_emulators
from dbt_revsync.sandbox.schema import SchemaSpec, load_schema
from dbt_revsync.sandbox.snapshot import (
    SNAPSHOT_FILE,
    Restored,
    SnapshotWriter,
    read_snapshot,
    restore,
)
from dbt_revsync.sandbox.window import Limits

if TYPE_CHECKING:  # typing.Self is Python 3.11; the package supports 3.10
    from typing_extensions import Self

__all__ = ["EmulatorsSpec", "LimitsSpec", "SandboxServer"]

logger = logging.getLogger(__name__)

EmulatorsSpec = Mapping[str, Emulator] | Iterable[Emulator | str] | None
LimitsSpec = Limits | str | Mapping[str, Limits | Mapping[str, Any]] | None


class SandboxServer:
    """Serves emulators under ``/<prefix>``, plus ``/_admin``, from a daemon thread.

    ``emulators``: Emulator instances (or registry names), or a mapping prefix ->
    Emulator; None serves every registered emulator with its defaults. ``limits``: None
    (no limits), ``"vendor"`` (each emulator's published limits), a :class:`Limits` for
    every emulator, or a mapping prefix -> Limits / ``{"per_minute", "per_hour"}``.
    ``schema``: a schema file (path) or its parsed mapping, declaring custom fields per
    emulator and object (:mod:`dbt_revsync.sandbox.schema`; ConfigError when it is wrong).
    ``state_dir``: where ids (:mod:`dbt_revsync.sandbox.ids`), records and declared fields
    (:mod:`dbt_revsync.sandbox.snapshot`) are kept across restarts; None (the default in-process)
    keeps no state and starts every counter at its ``first_id``. ``fresh``: with a state
    directory, start with no records and no fields from the snapshot (ids still never repeat).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        emulators: EmulatorsSpec = None,
        limits: LimitsSpec = None,
        schema: SchemaSpec = None,
        state_dir: str | os.PathLike[str] | None = None,
        fresh: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self._emulators = _build_emulators(emulators)
        self.faults = FaultInjector()
        self.admin = AdminApi(self)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._serving = False
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._apply_limits(limits)
        self.declarations = load_schema(schema, self._emulators)
        self.ledger: IdLedger | None = None
        self.snapshot: SnapshotWriter | None = None
        self.restored = Restored()
        if state_dir is not None:
            self.ledger = IdLedger.open(state_dir)
            try:
                for name, emulator in self._emulators.items():
                    emulator.store.persist_ids(self.ledger.reservation(name))
                self._keep_records(fresh)
            except BaseException:
                self.ledger.close()
                raise

    def _keep_records(self, fresh: bool) -> None:
        """Restore the snapshot (unless ``fresh``) and start writing it (SandboxStateError when
        it cannot be read). A fresh start replaces the snapshot at once, so a sandbox killed
        before its first write does not bring the old records back."""
        assert self.ledger is not None
        path = self.ledger.state_dir / SNAPSHOT_FILE
        sections = {} if fresh else read_snapshot(path)
        self.restored = restore(self._emulators, sections)
        carried = {prefix: section.raw for prefix, section in sections.items() if prefix not in self._emulators}
        self.snapshot = SnapshotWriter(path, self._emulators, carried)
        if fresh:
            self.snapshot.flush(force=True)
        self.snapshot.start()

    # -- life cycle ------------------------------------------------------------

    def bind(self) -> None:
        """Open the listening socket (done by start(); port 0 picks a free port)."""
        if self._httpd is not None:
            return
        self._httpd = listen(self.host, self.port, self)
        self.port = self._httpd.server_address[1]
        logger.info("sandbox listening on %s", self.url)

    def start(self) -> Self:
        """Serve from a daemon thread; returns self."""
        self.bind()
        if self._thread is None:
            self._serving = True
            self._thread = threading.Thread(target=self._serve, name="dbt-revsync-sandbox", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until stop() or KeyboardInterrupt."""
        self.bind()
        self._serving = True
        self._serve()

    def _serve(self) -> None:
        assert self._httpd is not None
        self._httpd.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        """Stop serving, close open connections and the socket, write the snapshot a last time,
        then let go of the state directory's lock. Safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            if self._serving:
                httpd.shutdown()
                self._serving = False
            self._close_connections()
            httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
                self._thread = None
        if self.snapshot is not None:
            self.snapshot.close()
        if self.ledger is not None:
            self.ledger.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://host:port``; the server must be bound (started)."""
        if self._httpd is None:
            raise RuntimeError("the sandbox server is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def _close_connections(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- emulators, limits, faults, stats -----------------------------------------

    @property
    def prefixes(self) -> list[str]:
        return list(self._emulators)

    def emulator(self, name: str) -> Emulator:
        try:
            return self._emulators[name]
        except KeyError:
            raise KeyError(f"no emulator {name!r}; serving: {', '.join(self._emulators)}") from None

    def set_limits(self, prefix: str | None, per_minute: int | None = None, per_hour: int | None = None) -> None:
        """Set one emulator's rate limits (every emulator's when prefix is None)."""
        limits = Limits(per_minute=per_minute, per_hour=per_hour)
        targets = self._emulators.values() if prefix is None else [self.emulator(prefix)]
        for target in targets:
            target.set_limits(limits)

    def limits(self) -> dict[str, dict[str, int | None]]:
        return {name: emulator.limiter.limits.as_dict() for name, emulator in self._emulators.items()}

    def _apply_limits(self, limits: LimitsSpec) -> None:
        if limits is None:
            return
        if limits == "vendor":
            for emulator in self._emulators.values():
                emulator.set_limits(emulator.vendor_limits)
        elif isinstance(limits, Limits):
            for emulator in self._emulators.values():
                emulator.set_limits(limits)
        elif isinstance(limits, Mapping):
            for name, value in limits.items():
                self.emulator(name).set_limits(value if isinstance(value, Limits) else Limits.from_mapping(value))
        else:
            raise ValueError(f"limits must be None, 'vendor', Limits or a mapping, not {limits!r}")

    def add_fault(self, action: str | FaultRule, **options: Any) -> FaultRule:
        """Add a fault rule: ``add_fault("status", status=429, retry_after=2, times=3)``
        or ``add_fault(FaultRule(...))``; see :class:`FaultRule` for the fields."""
        rule = action if isinstance(action, FaultRule) else FaultRule(action=action, **options)
        if rule.prefix is not None:
            self.emulator(rule.prefix)
        return self.faults.add(rule)

    def clear_faults(self) -> int:
        """Remove every fault rule; returns how many there were."""
        return self.faults.clear()

    def stats(self) -> dict[str, dict[str, Any]]:
        """prefix -> ``{requests, by_route, by_status, faults}``; every request that
        reached an emulator counts, whatever its answer (401, 404, 429 included)."""
        return {name: emulator.stats.snapshot() for name, emulator in self._emulators.items()}

    def state(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        return {name: emulator.snapshot() for name, emulator in self._emulators.items()}

    def reset(self) -> None:
        """Forget every record, counter, rate-limit history and fault rule; keep limits, keys and
        declared fields (declared again after the reset). Ids are never given again. The snapshot
        is written before this returns, so a sandbox killed right after brings nothing back."""
        for emulator in self._emulators.values():
            emulator.reset()
            emulator.restore_declared()
        self.clear_faults()
        if self.snapshot is not None:
            self.snapshot.flush()

    def declare_field(self, prefix: str, declared: DeclaredField) -> None:
        """Declare a custom field on a running emulator (SchemaRefused if it refuses)."""
        self.emulator(prefix).declare(declared)

    def declared_fields(self) -> dict[str, list[dict[str, Any]]]:
        return {name: [d.as_dict() for d in emulator.declared_fields] for name, emulator in self._emulators.items()}

    def describe(self) -> list[dict[str, Any]]:
        return [dict(emulator.describe(), prefix=name) for name, emulator in self._emulators.items()]

    # -- dispatch ---------------------------------------------------------------

    def dispatch(
        self,
        method: str,
        path: str,
        query: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        client: str = "127.0.0.1",
    ) -> SandboxResponse | None:
        """Answer one HTTP request; None means: close the connection without answering."""
        head, _, rest = path.lstrip("/").partition("/")
        request = SandboxRequest.from_http(method, "/" + rest, query, headers, body)
        if head == ADMIN:
            return self.admin.handle(request, client)
        if head == "":
            return json_response(200, {"service": "dbt-revsync sandbox", "emulators": self.describe()})
        emulator = self._emulators.get(head)
        if emulator is None:
            return json_response(
                404, {"error": f"no emulator under /{head}", "emulators": [f"/{name}" for name in self._emulators]}
            )
        return self._through_faults(head, emulator, request)

    def _through_faults(self, prefix: str, emulator: Emulator, request: SandboxRequest) -> SandboxResponse | None:
        rule = self.faults.take(prefix, request.method, request.path)
        if rule is None:
            return emulator.handle(request)
        logger.debug("fault %s (rule %s) on %s /%s%s", rule.action, rule.id, request.method, prefix, request.path)
        return answer_with_fault(rule, emulator, request)


def _build_emulators(spec: EmulatorsSpec) -> dict[str, Emulator]:
    if spec is None:
        return create_emulators()
    if isinstance(spec, Mapping):
        return dict(spec)
    built: dict[str, Emulator] = {}
    for item in spec:
        emulator = create_emulator(item) if isinstance(item, str) else item
        built[emulator.prefix] = emulator
    return built
