"""The sandbox HTTP server: CRM emulators on loopback, with fault injection.

``/<prefix>/...`` goes to the emulator registered under ``prefix``; ``/_admin/...`` is
the control API (no auth, loopback clients only):

    GET    /_admin/emulators              prefixes, accepted API keys, limits
    GET    /_admin/stats                  request counters per emulator
    GET    /_admin/state                  every emulator's records
    GET    /_admin/<prefix>               one emulator's records
    GET    /_admin/<prefix>/<resource>    the records of one resource
    POST   /_admin/reset                  forget records, counters, rate-limit history, faults
    GET    /_admin/faults                 the active fault rules
    POST   /_admin/faults                 add rules: a JSON list of rules (or one rule)
    DELETE /_admin/faults                 remove every rule
    GET    /_admin/limits                 rate limits per emulator
    POST   /_admin/limits                 {"prefix": "freshsales", "per_minute": 10, "per_hour": null}
                                          (no prefix: every emulator)
    GET    /_admin/fields                 the declared custom fields per emulator
    POST   /_admin/fields                 declare fields: {"prefix": "hubspot", "object": "contacts",
                                          "name": "tier", "type": "string", "unique": false} (or a list)

The HTTP side is standard library only. HTTP/1.1 keep-alive is supported: every answer carries a
Content-Length.
"""

from __future__ import annotations

import base64
import errno
import ipaddress
import logging
import os
import random
import re
import signal
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, TextIO, Union
from urllib.parse import unquote, urlsplit

from dbt_revsync.errors import UsageError
from dbt_revsync.sandbox.framework import (
    DeclaredField,
    Emulator,
    Limits,
    SandboxRequest,
    SandboxResponse,
    json_response,
)
from dbt_revsync.sandbox.ids import IdLedger
from dbt_revsync.sandbox.schema import SchemaSpec, load_schema
from dbt_revsync.sandbox.snapshot import (
    SNAPSHOT_FILE,
    Restored,
    SnapshotWriter,
    read_snapshot,
    restore,
)

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8765
MAX_BODY_BYTES = 64 * 1024 * 1024
ADMIN = "_admin"

EmulatorsSpec = Union[Mapping[str, Emulator], Iterable[Union[Emulator, str]], None]
LimitsSpec = Union[Limits, str, Mapping[str, Union[Limits, Mapping[str, Any]]], None]

# ---------------------------------------------------------------------------
# Fault injection
# ---------------------------------------------------------------------------

# Faults on the answer (see the block "Answer faults" below): the emulator applies the
# request, then the answer it would send is replaced or stripped.
ANSWER_FAULT_ACTIONS = ("apply_then_answer", "apply_then_strip")

FAULT_ACTIONS = ("status", "delay", "drop", "apply_then_drop") + ANSWER_FAULT_ACTIONS
# Hostile answers (see the "Hostile answers" block below): bounded in time and size.
HOSTILE_ACTIONS = ("trickle", "truncate", "bad_gzip", "huge", "echo_auth")


@dataclass
class FaultRule:
    """One fault to inject.

    A rule applies to a request when every filter given matches: ``prefix`` (the
    emulator), ``method``, and ``path``, a regex searched in the request path both
    with and without the emulator prefix (``"/contacts/upsert$"`` and
    ``"^/freshsales/contacts"`` both work).

    Actions:
      - ``status``: answer ``status`` (default 503) instead of the emulator, with
        ``body`` (default: the emulator's own error body), ``headers``, and a
        ``Retry-After`` header when ``retry_after`` is set. The emulator sees nothing.
      - ``delay``: wait ``seconds``, then let the emulator answer.
      - ``drop``: close the connection without an answer; the emulator sees nothing.
      - ``apply_then_drop``: let the emulator apply the request, then close the
        connection without sending its answer.
      - hostile answers (``HOSTILE_ACTIONS``): ``trickle`` sends the emulator's answer
        a few bytes at a time over ``seconds``; ``truncate`` sends half of it as a chunked
        body and closes; ``bad_gzip`` labels it gzip and sends garbage; ``huge`` answers
        ``status`` 200 with a body of ``size`` bytes (the emulator sees nothing); and
        ``echo_auth`` answers ``status`` with an error body echoing the request's
        credentials (the Authorization header, decoded Basic pair, URL and query).
      - ``apply_then_answer`` / ``apply_then_strip``: see ``alter_answer`` below.
    ``after``: the rule lets that many applicable requests through untouched first (a 401
    in the middle of a run). ``seconds`` also delays the other actions. ``times``: the rule expires after hitting
    that many requests (None: never). ``probability``: each applicable request is hit
    with that probability, drawn from ``random.Random(seed)``, so a seeded rule hits the
    same requests on every run.
    """

    action: str
    prefix: str | None = None
    method: str | None = None
    path: str | None = None
    status: int = 503
    retry_after: str | int | float | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    times: int | None = None
    after: int = 0
    probability: float | None = None
    seed: int | None = None
    size: int = 0  # bytes of a ``huge`` answer
    id: int = 0
    hits: int = 0
    seen: int = 0

    def __post_init__(self) -> None:
        self._validate()
        self.method = self.method.upper() if self.method else None
        self._pattern = re.compile(self.path) if self.path else None
        self._random = random.Random(self.seed)

    def _validate(self) -> None:
        if self.action not in FAULT_ACTIONS + HOSTILE_ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r}; use one of {', '.join(FAULT_ACTIONS + HOSTILE_ACTIONS)}")
        _validate_hostile(self)
        if not isinstance(self.status, int) or not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, not {self.status!r}")
        if not isinstance(self.seconds, (int, float)) or self.seconds < 0:
            raise ValueError("seconds must be a non-negative number")
        if self.action == "delay" and not self.seconds:
            raise ValueError("a delay rule needs seconds > 0")
        if not isinstance(self.after, int) or self.after < 0:
            raise ValueError("after must be a non-negative integer")
        if self.times is not None and (not isinstance(self.times, int) or self.times < 1):
            raise ValueError("times must be a positive integer or null")
        if self.probability is not None and not 0 <= self.probability <= 1:
            raise ValueError("probability must lie between 0 and 1")
        check_answer_fault(self)
        if self.path is not None:
            try:
                re.compile(self.path)
            except re.error as exc:
                raise ValueError(f"path is not a valid regex: {exc}") from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultRule:
        """A rule from JSON; its counters (``id``, ``hits``, ``seen``) are ignored, unknown keys refused."""
        if not isinstance(data, Mapping):
            raise ValueError("a fault rule must be a JSON object")
        counters = {"id", "hits", "seen"}
        unknown = set(data) - {item.name for item in fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault rule field(s): {', '.join(sorted(unknown))}")
        if "action" not in data:
            raise ValueError("a fault rule needs an action")
        try:
            return cls(**{key: value for key, value in data.items() if key not in counters})
        except TypeError as exc:
            raise ValueError(str(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        return {item.name: getattr(self, item.name) for item in fields(self)}

    def applies_to(self, prefix: str, method: str, path: str) -> bool:
        if self.prefix is not None and self.prefix != prefix:
            return False
        if self.method is not None and self.method != method:
            return False
        if self._pattern is None:
            return True
        return bool(self._pattern.search(path) or self._pattern.search(f"/{prefix}{path}"))

    def roll(self) -> bool:
        return self.probability is None or self._random.random() < self.probability


def iter_rules(data: Any) -> Iterator[FaultRule]:
    """Fault rules from JSON-like data: one rule object or a list of them."""
    for item in data if isinstance(data, list) else [data]:
        yield FaultRule.from_dict(item)


class FaultInjector:
    """The active fault rules; the first rule that applies and rolls a hit wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def clear(self) -> int:
        with self._lock:
            count = len(self._rules)
            self._rules = []
            return count

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def take(self, prefix: str, method: str, path: str) -> FaultRule | None:
        """The rule that hits this request, if any; counts the hit and expires the rule."""
        with self._lock:
            for rule in self._rules:
                if not rule.applies_to(prefix, method, path):
                    continue
                rule.seen += 1
                if rule.seen > rule.after and rule.roll():
                    rule.hits += 1
                    if rule.times is not None and rule.hits >= rule.times:
                        self._rules.remove(rule)
                    return rule
            return None


# ---------------------------------------------------------------------------
# Answer faults: the CRM did the work, its answer does not say so
# ---------------------------------------------------------------------------


def check_answer_fault(rule: FaultRule) -> None:
    """``apply_then_strip`` needs ``body``: the list of JSON keys to strip."""
    if rule.action == "apply_then_strip" and (
        not isinstance(rule.body, list) or not rule.body or not all(isinstance(k, str) for k in rule.body)
    ):
        raise ValueError("an apply_then_strip rule needs body: a list of the JSON keys to strip")


def alter_answer(rule: FaultRule, response: SandboxResponse) -> SandboxResponse:
    """The emulator has applied the request (its records changed); the answer is altered.

    - ``apply_then_answer``: the answer is ``status`` with ``body`` instead (None: an empty
      body, a string: that text as is, e.g. an HTML page, else JSON) and ``headers``: a
      ``201`` with no body, a ``200`` maintenance page after the write went through.
    - ``apply_then_strip``: the emulator's own answer, with every key named in ``body``
      removed wherever it occurs in the JSON (an id, HubSpot's ``new``, Salesforce's
      ``created``); the status is kept.
    """
    if rule.action == "apply_then_answer":
        if rule.body is None:
            altered = SandboxResponse(status=rule.status, raw=b"")
        elif isinstance(rule.body, str):
            altered = SandboxResponse(status=rule.status, raw=rule.body.encode(), headers={"Content-Type": "text/plain"})
        else:
            altered = json_response(rule.status, rule.body)
        altered.headers.update(rule.headers)
        altered.route = response.route
        return altered
    if response.raw is None and response.body is not None:
        response.body = _strip_keys(response.body, frozenset(rule.body))
    return response


def _strip_keys(node: Any, keys: frozenset[str]) -> Any:
    if isinstance(node, dict):
        return {k: _strip_keys(v, keys) for k, v in node.items() if k not in keys}
    if isinstance(node, list):
        return [_strip_keys(item, keys) for item in node]
    return node


# ---------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: SandboxServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (killed, timed out) is no error of the sandbox's."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _HTTPServerV6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, hands it to the SandboxServer, writes the answer (or drops)."""

    protocol_version = "HTTP/1.1"
    server_version = "dbt-revsync-sandbox"
    sys_version = ""
    timeout = 120  # seconds an idle keep-alive connection is kept open
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.sandbox._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sandbox._untrack(self.connection)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        logger.debug("%s - %s", self.address_string(), format % args)

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            self._send(json_response(400, {"error": str(exc)}))
            return
        target = urlsplit(self.path)
        try:
            response = self.server.sandbox.dispatch(
                self.command, unquote(target.path), target.query, self.headers.items(), body,
                client=self.client_address[0])
        except Exception:
            logger.exception("sandbox failed on %s %s", self.command, self.path)
            response = json_response(500, {"error": "internal sandbox error"})
        if response is None:
            self.close_connection = True  # drop: no answer at all
            return
        self._send(response)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            raise ValueError(f"bad or too large Content-Length: {length}")
        return self.rfile.read(int(length))

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise ValueError("request body too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, response: SandboxResponse) -> None:
        if isinstance(response, HostileAnswer):
            response.write(self)
            return
        payload, headers = response.encode()
        try:
            self.send_response(response.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _is_loopback(address: str) -> bool:
    try:
        parsed = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(parsed, "ipv4_mapped", None)
    return (mapped or parsed).is_loopback


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------


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

    def __init__(self, host: str = "127.0.0.1", port: int = 0, emulators: EmulatorsSpec = None,
                 limits: LimitsSpec = None, schema: SchemaSpec = None,
                 state_dir: str | os.PathLike[str] | None = None, fresh: bool = False) -> None:
        self.host = host
        self.port = port
        self._emulators = _build_emulators(emulators)
        self.faults = FaultInjector()
        self._httpd: _HTTPServer | None = None
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
        server_class = _HTTPServerV6 if ":" in self.host else _HTTPServer
        try:
            self._httpd = server_class((self.host, self.port), _Handler)
        except OSError as exc:
            raise PortUnavailable(_bind_problem(self.host, self.port, exc)) from None
        self._httpd.sandbox = self
        self.port = self._httpd.server_address[1]
        logger.info("sandbox listening on %s", self.url)

    def start(self) -> SandboxServer:
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

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://host:port``; the server must be bound (started)."""
        if self._httpd is None:
            raise RuntimeError("the sandbox server is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def _untrack(self, connection: socket.socket) -> None:
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

    def dispatch(self, method: str, path: str, query: str, headers: Iterable[tuple[str, str]], body: bytes,
                 client: str = "127.0.0.1") -> SandboxResponse | None:
        """Answer one HTTP request; None means: close the connection without answering."""
        head, _, rest = path.lstrip("/").partition("/")
        request = SandboxRequest.from_http(method, "/" + rest, query, headers, body)
        if head == ADMIN:
            return self._admin(request, client)
        if head == "":
            return json_response(200, {"service": "dbt-revsync sandbox", "emulators": self.describe()})
        emulator = self._emulators.get(head)
        if emulator is None:
            return json_response(404, {"error": f"no emulator under /{head}",
                                       "emulators": [f"/{name}" for name in self._emulators]})
        return self._through_faults(head, emulator, request)

    def _through_faults(self, prefix: str, emulator: Emulator, request: SandboxRequest) -> SandboxResponse | None:
        rule = self.faults.take(prefix, request.method, request.path)
        if rule is None:
            return emulator.handle(request)
        logger.debug("fault %s (rule %s) on %s /%s%s", rule.action, rule.id, request.method, prefix, request.path)
        emulator.stats.record_fault(rule.action)
        if rule.action in HOSTILE_ACTIONS:
            return _hostile_answer(emulator, rule, request)
        if rule.seconds:
            time.sleep(rule.seconds)
        if rule.action == "status":
            return _fault_response(emulator, rule)
        if rule.action == "drop":
            return None
        response = emulator.handle(request)
        if rule.action in ANSWER_FAULT_ACTIONS:
            return alter_answer(rule, response)
        return None if rule.action == "apply_then_drop" else response

    # -- admin API ----------------------------------------------------------------

    def _admin(self, request: SandboxRequest, client: str) -> SandboxResponse:
        if not _is_loopback(client):
            return json_response(403, {"error": "the admin API answers loopback clients only"})
        parts = [part for part in request.path.split("/") if part]
        try:
            return self._admin_route(request, parts)
        except (ValueError, TypeError) as exc:
            return json_response(400, {"error": str(exc)})
        except KeyError as exc:
            return json_response(404, {"error": str(exc.args[0]) if exc.args else "not found"})

    def _admin_route(self, request: SandboxRequest, parts: list[str]) -> SandboxResponse:
        method = request.method
        key = parts[0] if parts else "emulators"
        if len(parts) <= 1 and (method, key) in self._ADMIN_ROUTES:
            return getattr(self, self._ADMIN_ROUTES[(method, key)])(request)
        if method == "GET" and len(parts) == 1:
            return json_response(200, self.emulator(parts[0]).snapshot())
        if method == "GET" and len(parts) == 2:
            emulator = self.emulator(parts[0])
            if parts[1] not in emulator.store.resources:
                raise KeyError(f"/{parts[0]} has no resource {parts[1]!r}; it has {', '.join(emulator.resources)}")
            return json_response(200, emulator.records(parts[1]))
        return json_response(404, {"error": f"no admin endpoint {method} /{ADMIN}{request.path}"})

    _ADMIN_ROUTES: dict[tuple[str, str], str] = {
        ("GET", "emulators"): "_admin_emulators",
        ("GET", "stats"): "_admin_stats",
        ("GET", "state"): "_admin_state",
        ("POST", "reset"): "_admin_reset",
        ("GET", "faults"): "_admin_faults",
        ("POST", "faults"): "_admin_add_faults",
        ("DELETE", "faults"): "_admin_clear_faults",
        ("GET", "limits"): "_admin_limits",
        ("POST", "limits"): "_admin_set_limits",
        ("GET", "fields"): "_admin_fields",
        ("POST", "fields"): "_admin_declare_fields",
    }

    def _admin_emulators(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(200, {"emulators": self.describe()})

    def _admin_stats(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(200, self.stats())

    def _admin_state(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(200, self.state())

    def _admin_reset(self, request: SandboxRequest) -> SandboxResponse:
        self.reset()
        return json_response(200, {"reset": True})

    def _admin_faults(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(200, {"faults": [rule.to_dict() for rule in self.faults.rules()]})

    def _admin_add_faults(self, request: SandboxRequest) -> SandboxResponse:
        rules = list(iter_rules(_admin_json(request)))
        for rule in rules:  # all valid, or none added
            if rule.prefix is not None:
                self.emulator(rule.prefix)
        added = [self.add_fault(rule) for rule in rules]
        return json_response(201, {"faults": [rule.to_dict() for rule in added]})

    def _admin_clear_faults(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(200, {"cleared": self.clear_faults()})

    def _admin_limits(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(200, self.limits())

    def _admin_set_limits(self, request: SandboxRequest) -> SandboxResponse:
        body = _admin_json(request)
        if not isinstance(body, dict):
            raise ValueError('send {"prefix": ..., "per_minute": ..., "per_hour": ...}')
        limits = Limits.from_mapping(body)
        self.set_limits(body.get("prefix"), limits.per_minute, limits.per_hour)
        return json_response(200, self.limits())


    def _admin_fields(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(200, self.declared_fields())

    def _admin_declare_fields(self, request: SandboxRequest) -> SandboxResponse:
        body = _admin_json(request)
        items = body if isinstance(body, list) else [body]
        wanted: list[tuple[str, DeclaredField]] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("prefix"), str) or not isinstance(item.get("object"), str):
                raise ValueError(f"field {index}: send {{\"prefix\", \"object\", \"name\", \"type\", \"unique\"}}")
            self.emulator(item["prefix"])
            try:
                wanted.append((item["prefix"], DeclaredField.from_mapping(
                    item["object"], {k: v for k, v in item.items() if k not in ("prefix", "object")})))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"field {index}: {exc}") from None
        for prefix, declared in wanted:  # SchemaRefused (a ValueError): 400, the fields before it stay declared
            self.declare_field(prefix, declared)
        return json_response(201, self.declared_fields())


def _admin_json(request: SandboxRequest) -> Any:
    if request.json_error:
        raise ValueError(request.json_error)
    if not request.has_body:
        raise ValueError("a JSON body is required")
    return request.json


def _fault_response(emulator: Emulator, rule: FaultRule) -> SandboxResponse:
    if rule.body is not None:
        response = (SandboxResponse(status=rule.status, raw=rule.body.encode(), headers={"Content-Type": "text/plain"})
                    if isinstance(rule.body, str) else json_response(rule.status, rule.body))
    elif rule.status == 429:
        response = emulator.rate_limited_response([])
    else:
        response = emulator.error_response(rule.status, "Injected fault")
    response.status = rule.status
    response.headers.update(rule.headers)
    if rule.retry_after is not None:
        response.headers["Retry-After"] = _header_number(rule.retry_after)
    response.route = "fault"
    return response


# ---------------------------------------------------------------------------
# Hostile answers: an answer the client must survive (slow, broken, huge, echoing secrets)
# ---------------------------------------------------------------------------

MAX_TRICKLE_SECONDS = 60.0
MAX_HUGE_BYTES = 512 * 1024 * 1024


def _validate_hostile(rule: FaultRule) -> None:
    if not isinstance(rule.size, int) or not 0 <= rule.size <= MAX_HUGE_BYTES:
        raise ValueError(f"size must be a whole number of bytes up to {MAX_HUGE_BYTES}")
    if rule.action == "huge" and not rule.size:
        raise ValueError("a huge rule needs size > 0")
    if rule.action == "trickle" and not 0 < rule.seconds <= MAX_TRICKLE_SECONDS:
        raise ValueError(f"a trickle rule needs seconds from 0 to {MAX_TRICKLE_SECONDS:g}")


class HostileAnswer(SandboxResponse):
    """An answer the handler does not send the usual way: ``write`` sends it on the socket."""

    mode: str = ""
    seconds: float = 0.0
    size: int = 0

    def write(self, handler: _Handler) -> None:
        payload, headers = self.encode()
        try:
            handler.send_response(self.status)
            for name, value in headers.items():
                handler.send_header(name, value)
            getattr(self, f"_write_{self.mode}")(handler, payload)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the client gave up: that is what it should do
        handler.close_connection = True

    def _write_trickle(self, handler: _Handler, payload: bytes) -> None:
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        pieces = max(1, min(len(payload), 40))
        step = -(-len(payload) // pieces)
        for start in range(0, len(payload), step):
            time.sleep(self.seconds / pieces)
            handler.wfile.write(payload[start:start + step])
            handler.wfile.flush()

    def _write_truncate(self, handler: _Handler, payload: bytes) -> None:
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        half = payload[: max(1, len(payload) // 2)]
        handler.wfile.write(f"{len(payload):x}\r\n".encode() + half)  # promises more than it sends
        handler.wfile.flush()

    def _write_bad_gzip(self, handler: _Handler, payload: bytes) -> None:
        garbage = b"\x1f\x8b\x08\x00" + b"this is not deflate data" * 4
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(garbage)))
        handler.end_headers()
        handler.wfile.write(garbage)

    def _write_huge(self, handler: _Handler, payload: bytes) -> None:
        handler.send_header("Content-Length", str(self.size))
        handler.end_headers()
        block = b" " * (1024 * 1024)
        sent = 0
        while sent < self.size:
            piece = block[: min(len(block), self.size - sent)]
            handler.wfile.write(piece)
            sent += len(piece)


def _hostile_answer(emulator: Emulator, rule: FaultRule, request: SandboxRequest) -> SandboxResponse | None:
    if rule.action == "echo_auth":
        return _echo_auth(emulator, rule, request)
    if rule.action == "huge":
        answer = SandboxResponse(status=rule.status if rule.status != 503 else 200, headers={"Content-Type": "application/json"})
    else:
        answer = emulator.handle(request)
        if answer is None:
            return None
    hostile = HostileAnswer(status=answer.status, body=answer.body, raw=answer.raw, headers=dict(answer.headers), route="fault")
    hostile.mode, hostile.seconds, hostile.size = rule.action, rule.seconds, rule.size
    return hostile


def _echo_auth(emulator: Emulator, rule: FaultRule, request: SandboxRequest) -> SandboxResponse:
    """An error body that repeats every credential the request carried, as careless CRMs do."""
    auth = request.headers.get("Authorization") or ""
    scheme, _, token = auth.partition(" ")
    decoded = ""
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(token).decode("utf-8", errors="replace")
        except ValueError:
            decoded = ""
    query = "&".join(f"{k}={v}" for k, v in request.query.items())
    body = {"errors": {"code": "invalid_value", "message": f"request {request.method} {request.path}?{query} "
                       f"was refused for credentials {auth!r} ({decoded})"}}
    response = json_response(rule.status, body)
    response.headers.update(rule.headers)
    response.route = "fault"
    return response


def _header_number(value: str | int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _build_emulators(spec: EmulatorsSpec) -> dict[str, Emulator]:
    from dbt_revsync.sandbox import create_emulator, create_emulators  # the registry imports this module

    if spec is None:
        return create_emulators()
    if isinstance(spec, Mapping):
        return dict(spec)
    built: dict[str, Emulator] = {}
    for item in spec:
        emulator = create_emulator(item) if isinstance(item, str) else item
        built[emulator.prefix] = emulator
    return built


# ---------------------------------------------------------------------------
# The blocking entry point of `dbt-revsync sandbox`
# ---------------------------------------------------------------------------


class PortUnavailable(UsageError):
    """The sandbox cannot listen where it was asked to (port in use, not allowed, bad host)."""


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"port {port} on {host} is already in use: stop what listens there, or pick another --port "
                "(--port 0 picks a free one)")
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on port {port} on {host}: pick a port above 1023, or --port 0"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, emulators: EmulatorsSpec = None,
          limits: LimitsSpec = None, out: TextIO | None = None, schema: SchemaSpec = None,
          state_dir: str | os.PathLike[str] | None = None, fresh: bool = False) -> None:
    """Serve until Ctrl-C (or SIGTERM), printing the URL, the emulators and their keys.
    A busy port raises PortUnavailable, a bad schema file ConfigError (a UsageError /
    ConfigError: exit code 2 on the command line), before anything is served."""
    out = out or sys.stdout
    server = SandboxServer(host, port, emulators=emulators, limits=limits, schema=schema, state_dir=state_dir,
                           fresh=fresh)
    try:
        server.bind()
    except PortUnavailable:
        server.stop()
        raise
    if not _is_loopback(host) and host != "localhost":
        logger.warning("the sandbox is listening on %s, not loopback: anyone who can reach it can use it", host)
    print(_banner(server), file=out, flush=True)
    previous = _raise_on_sigterm()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Stopping the sandbox.", file=out, flush=True)
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _banner(server: SandboxServer) -> str:
    """What the sandbox serves, each CRM on two lines (its path and key, then how to send
    the key), so the banner fits 80 columns."""
    lines = [f"dbt-revsync sandbox listening on {server.url}", "  each CRM under its path:"]
    for info in server.describe():
        keys = ", ".join(info["api_keys"]) or "(none needed)"
        lines.append(f"  /{info['prefix']:<14} key {keys}")
        lines.extend(textwrap.wrap(str(info["auth"]), 78, initial_indent=" " * 18, subsequent_indent=" " * 18))
    declared = sum(len(fields) for fields in server.declared_fields().values())
    if declared:
        lines.append(f"  {declared} custom field(s) declared: /{ADMIN}/fields")
    if server.ledger is not None:
        lines.append(f"  ids kept across restarts in {server.ledger.path}")
    if server.snapshot is not None:
        restored = server.restored
        lines.append(f"  records kept in {server.snapshot.path}")
        lines.append(f"    {restored.records} record(s) and {restored.fields} field(s) restored; --fresh starts with none")
    lines.append(f"  admin: /{ADMIN}/state, /{ADMIN}/stats, /{ADMIN}/faults   (Ctrl-C to stop)")
    return "\n".join(lines)


def _raise_on_sigterm() -> Any:
    """Turn SIGTERM into KeyboardInterrupt so the server stops cleanly; returns the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)
