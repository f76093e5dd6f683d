"""The building blocks of a local CRM emulator.

An emulator is a plain Python object that turns a :class:`SandboxRequest` into a
:class:`SandboxResponse`; it knows nothing about sockets. :class:`Emulator` gives a
subclass a route table (declared with :func:`route`), an auth hook, a thread-safe
:class:`RecordStore`, per-emulator rate limits (:class:`RateLimiter`) and request
counters (:class:`Stats`). The HTTP side lives in ``server.py``.

A new CRM is one module::

    class AcmeEmulator(Emulator):
        prefix = "acme"
        resources = ("people",)
        default_api_keys = ("sandbox-acme-key",)

        def authenticate(self, request: SandboxRequest) -> bool:
            return request.headers.get("x-api-key") in self.api_keys

        @route("GET", r"/people/(?P<record_id>\\d+)", "people.view")
        def view(self, request: SandboxRequest, record_id: str) -> SandboxResponse:
            ...

plus one line in the registry of ``dbt_revsync/sandbox/__init__.py``.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar
from urllib.parse import parse_qs

logger = logging.getLogger(__name__)

Record = dict[str, Any]
Clock = Callable[[], float]
HandlerT = TypeVar("HandlerT", bound=Callable[..., "SandboxResponse"])

# ---------------------------------------------------------------------------
# Requests and responses
# ---------------------------------------------------------------------------


class Headers(Mapping[str, str]):
    """Read-only HTTP headers with case-insensitive names."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        pairs = items.items() if isinstance(items, Mapping) else (items or ())
        self._items: dict[str, tuple[str, str]] = {name.lower(): (name, value) for name, value in pairs}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass
class SandboxRequest:
    """One HTTP request, as an emulator sees it.

    ``path`` is the part below the emulator's prefix (``/contacts/1`` for
    ``/freshsales/contacts/1``). ``query`` holds the first value of each query
    parameter, ``query_all`` every value. When ``body`` is not empty it is parsed as
    JSON into ``json``; if that fails, ``json`` is None and ``json_error`` says why.
    """

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=Headers)
    body: bytes = b""
    json: Any = None
    json_error: str | None = None
    query_all: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if not isinstance(self.headers, Headers):
            self.headers = Headers(self.headers)
        if self.body.strip() and self.json is None:
            self._parse_body()
        elif self.json is not None and not self.body:
            self.body = json.dumps(self.json).encode()
        if self.query and not self.query_all:
            self.query_all = {key: [value] for key, value in self.query.items()}

    def _parse_body(self) -> None:
        try:
            self.json = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            self.json_error = f"Malformed JSON body: {exc}"

    @property
    def has_body(self) -> bool:
        return bool(self.body.strip())

    @classmethod
    def from_http(cls, method: str, path: str, query_string: str, headers: Iterable[tuple[str, str]],
                  body: bytes) -> SandboxRequest:
        """Build a request from the pieces an HTTP server has at hand."""
        query_all = parse_qs(query_string, keep_blank_values=True)
        query = {key: values[0] for key, values in query_all.items()}
        return cls(method=method, path=path or "/", query=query, headers=Headers(headers), body=body,
                   query_all=query_all)


@dataclass
class SandboxResponse:
    """An emulator's answer.

    ``body`` is sent as JSON unless it is None; ``raw`` (bytes) is sent as is and wins
    over ``body``. ``route`` is filled in by :meth:`Emulator.handle` for the stats.
    """

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    route: str = ""

    def encode(self) -> tuple[bytes, dict[str, str]]:
        """The bytes to send and the headers to send with them (Content-Type included)."""
        headers = dict(self.headers)
        has_type = any(name.lower() == "content-type" for name in headers)
        if self.raw is not None:
            payload = self.raw
            if not has_type:
                headers["Content-Type"] = "application/octet-stream"
        elif self.body is not None:
            payload = json.dumps(self.body).encode("utf-8")
            if not has_type:
                headers["Content-Type"] = "application/json; charset=utf-8"
        else:
            payload = b""
        return payload, headers


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> SandboxResponse:
    """A JSON answer."""
    return SandboxResponse(status=status, body=body, headers=dict(headers or {}))


class RequestRejected(Exception):
    """Raised by a route handler to answer with the emulator's own error body.

    The emulator turns it into ``error_response(status, message)``; pass ``response``
    to answer with something else entirely.
    """

    def __init__(self, status: int, message: str, response: SandboxResponse | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.response = response


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Rate limits
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Requests allowed per rolling minute and per rolling hour; None = unlimited."""

    per_minute: int | None = None
    per_hour: int | None = None

    def __post_init__(self) -> None:
        for name in ("per_minute", "per_hour"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer or null, not {value!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Limits:
        unknown = set(data) - {"per_minute", "per_hour", "prefix"}
        if unknown:
            raise ValueError(f"unknown limit field(s): {', '.join(sorted(unknown))}")
        return cls(per_minute=data.get("per_minute"), per_hour=data.get("per_hour"))

    def as_dict(self) -> dict[str, int | None]:
        return {"per_minute": self.per_minute, "per_hour": self.per_hour}


@dataclass(frozen=True)
class WindowState:
    """One rate-limit window as it stood when a request was checked."""

    name: str  # "minute" or "hour"
    seconds: int  # the window's length
    limit: int
    used: int  # requests counted in the window, the current one included if it was let in
    reset_after: float  # seconds until the oldest counted request leaves the window

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


class RateLimiter:
    """Sliding-window-log limiter: a request is let in when fewer than ``limit``
    requests were let in during the last 60 s (and the last 3600 s).

    Refused requests are not counted, so a client that backs off gets in again as soon
    as the oldest counted request leaves the window. Changing the limits forgets the
    history.
    """

    WINDOWS: ClassVar[tuple[tuple[str, int, str], ...]] = (
        ("minute", 60, "per_minute"),
        ("hour", 3600, "per_hour"),
    )

    def __init__(self, limits: Limits | None = None, clock: Clock = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._limits = limits or Limits()
        self._seen: dict[str, deque[float]] = {}
        self._reset_windows()

    @property
    def limits(self) -> Limits:
        return self._limits

    def set_limits(self, limits: Limits) -> None:
        with self._lock:
            self._limits = limits
            self._reset_windows()

    def reset(self) -> None:
        """Forget the requests counted so far; keep the limits."""
        with self._lock:
            self._reset_windows()

    def _reset_windows(self) -> None:
        self._seen = {name: deque() for name, _, _ in self.WINDOWS}

    def acquire(self) -> tuple[bool, list[WindowState]]:
        """Count a request if every window has room; return (let in, window states)."""
        with self._lock:
            now = self._clock()
            active = self._active_windows(now)
            allowed = all(len(self._seen[name]) < limit for name, _, limit in active)
            if allowed:
                for name, _, _ in active:
                    self._seen[name].append(now)
            return allowed, [self._state(name, seconds, limit, now) for name, seconds, limit in active]

    def _active_windows(self, now: float) -> list[tuple[str, int, int]]:
        active = []
        for name, seconds, attribute in self.WINDOWS:
            limit = getattr(self._limits, attribute)
            if limit is None:
                continue
            seen = self._seen[name]
            while seen and seen[0] <= now - seconds:
                seen.popleft()
            active.append((name, seconds, limit))
        return active

    def _state(self, name: str, seconds: int, limit: int, now: float) -> WindowState:
        seen = self._seen[name]
        reset_after = max(seen[0] + seconds - now, 0.0) if seen else 0.0
        return WindowState(name=name, seconds=seconds, limit=limit, used=len(seen), reset_after=reset_after)


# ---------------------------------------------------------------------------
# Stats
# ---------------------------------------------------------------------------


class Stats:
    """Thread-safe request counters of one emulator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests = 0
            self._by_route: Counter[str] = Counter()
            self._by_status: Counter[int] = Counter()
            self._faults: Counter[str] = Counter()

    def record(self, method: str, route_name: str, status: int) -> None:
        with self._lock:
            self._requests += 1
            self._by_route[f"{method} {route_name}"] += 1
            self._by_status[status] += 1

    def record_fault(self, action: str) -> None:
        with self._lock:
            self._faults[action] += 1

    def snapshot(self) -> dict[str, Any]:
        """``requests``, ``by_route`` ("METHOD route" -> n), ``by_status`` ("200" -> n),
        ``faults`` (action -> injected count)."""
        with self._lock:
            return {
                "requests": self._requests,
                "by_route": dict(sorted(self._by_route.items())),
                "by_status": {str(code): count for code, count in sorted(self._by_status.items())},
                "faults": dict(sorted(self._faults.items())),
            }


# ---------------------------------------------------------------------------
# Routes and the emulator base class
# ---------------------------------------------------------------------------

_ROUTE_ATTRIBUTE = "__sandbox_routes__"


@dataclass(frozen=True)
class Route:
    """``method`` + a regex matched against the whole path; ``name`` is a format
    string over the regex's named groups (``"{resource}.create"``) used in the stats."""

    method: str
    pattern: re.Pattern[str]
    name: str
    handler: str  # the emulator method's name, looked up per instance so overrides work

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None

    def label(self, params: Mapping[str, str]) -> str:
        try:
            return self.name.format(**params)
        except (KeyError, IndexError):
            return self.name


def route(method: str, pattern: str, name: str) -> Callable[[HandlerT], HandlerT]:
    """Declare an emulator method as the handler of ``method`` + ``pattern``.

    The handler is called as ``handler(request, **named_groups)``. A method may carry
    several routes; routes are tried in the order they are defined.
    """

    def decorate(function: HandlerT) -> HandlerT:
        declared = list(getattr(function, _ROUTE_ATTRIBUTE, []))
        declared.append((method.upper(), pattern, name))
        setattr(function, _ROUTE_ATTRIBUTE, declared)
        return function

    return decorate


@dataclass(frozen=True)
class DeclaredField:
    """A custom field or property a user declares for the sandbox (its schema file), so a
    realistic mapping can be tried offline. ``type`` is the vendor's own type name
    (``string``, ``number``, ``date``, ...); ``unique`` marks a field the vendor lets one
    use as an upsert identifier."""

    object: str
    name: str
    type: str = "string"
    unique: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"object": self.object, "name": self.name, "type": self.type, "unique": self.unique}

    @classmethod
    def from_mapping(cls, object_name: str, data: Any) -> DeclaredField:
        """One field entry of a schema file (``{name, type, unique}``, or just its name);
        ValueError (a value) or TypeError (a shape) naming what is wrong."""
        if isinstance(data, str):
            data = {"name": data}
        if not isinstance(data, Mapping):
            raise TypeError(f"a field is a mapping {{name, type, unique}} or a name, not {type(data).__name__}")
        unknown = set(data) - {"name", "type", "unique"}
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; a field has name, type, unique")
        name, kind, unique = data.get("name"), data.get("type", "string"), data.get("unique", False)
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a field needs a name (a non-empty string)")
        if not isinstance(kind, str) or not kind.strip():
            raise ValueError(f"type must be a non-empty string, not {kind!r}")
        if not isinstance(unique, bool):
            raise TypeError(f"unique must be true or false, not {unique!r}")
        return cls(object=object_name, name=name.strip(), type=kind.strip(), unique=unique)


class SchemaRefused(ValueError):
    """The emulator cannot take a declared field (unknown object, type, or a vendor rule)."""


class Emulator:
    """Base class of a CRM emulator; see the module docstring.

    ``handle`` runs, in order: route lookup, ``authenticate``, the rate limiter, then the
    route's handler while holding the store's lock (so each handler's
    read-check-write is atomic). Every request is counted in ``stats``. Subclasses set
    the class attributes below and override the ``*_response`` hooks to give answers
    in the vendor's own shape.
    """

    prefix: ClassVar[str] = ""
    resources: ClassVar[tuple[str, ...]] = ()
    default_api_keys: ClassVar[tuple[str, ...]] = ()
    # The vendor's published limits, applied only when asked for (SandboxServer(limits="vendor")).
    # An emulator whose limits depend on the account's plan sets its own on the instance.
    vendor_limits: Limits = Limits()
    first_id: ClassVar[int] = 1
    auth_hint: ClassVar[str] = ""  # how to send the key, e.g. "Authorization: Token token=<key>"
    routes: ClassVar[tuple[Route, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.routes = tuple(cls._collect_routes())

    @classmethod
    def _collect_routes(cls) -> Iterator[Route]:
        # The most derived declaration of a handler's routes wins; a subclass that
        # overrides a handler without @route keeps the routes its base declared.
        seen: set[str] = set()
        for klass in cls.__mro__:
            for attribute, value in vars(klass).items():
                declared = getattr(value, _ROUTE_ATTRIBUTE, ())
                if attribute in seen or not declared:
                    continue
                seen.add(attribute)
                for method, pattern, name in declared:
                    yield Route(method, re.compile(pattern), name, attribute)

    def __init__(self, *, api_keys: Iterable[str] | None = None, limits: Limits | None = None,
                 clock: Clock = time.monotonic) -> None:
        self.api_keys: tuple[str, ...] = tuple(api_keys) if api_keys is not None else self.default_api_keys
        self.store = RecordStore(self.resources, first_id=self.first_id)
        self.limiter = RateLimiter(limits, clock=clock)
        self.stats = Stats()
        self._declared: list[DeclaredField] = []

    # -- the contract --------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request; never raises."""
        found = self.match(request)
        route_name = found[0].label(found[1]) if found else "unmatched"
        response = self._respond(request, found)
        response.route = route_name
        self.stats.record(request.method, route_name, response.status)
        return response

    def match(self, request: SandboxRequest) -> tuple[Route, dict[str, str]] | None:
        path = request.path.rstrip("/") or "/"
        for candidate in self.routes:
            params = candidate.match(request.method, path)
            if params is not None:
                return candidate, params
        return None

    def _respond(self, request: SandboxRequest, found: tuple[Route, dict[str, str]] | None) -> SandboxResponse:
        if not self.authenticate(request):
            return self.unauthorized_response(request)
        allowed, windows = self.limiter.acquire()
        if not allowed:
            response = self.rate_limited_response(windows)
        elif found is None:
            response = self.unmatched_response(request)
        else:
            response = self._call(request, *found)
        response.headers.update(self.rate_limit_headers(windows, limited=not allowed))
        return response

    def _call(self, request: SandboxRequest, found_route: Route, params: dict[str, str]) -> SandboxResponse:
        handler = getattr(self, found_route.handler)
        try:
            with self.store.lock:
                return handler(request, **params)
        except RequestRejected as rejected:
            return rejected.response or self.error_response(rejected.status, rejected.message)
        except Exception:  # an emulator bug must not kill the server thread
            logger.exception("%s emulator failed on %s %s", self.prefix, request.method, request.path)
            return self.error_response(500, "Internal error in the sandbox emulator")

    # -- hooks for subclasses --------------------------------------------------

    def authenticate(self, request: SandboxRequest) -> bool:
        """True when the request carries an accepted credential. Default: no auth."""
        return True

    def unauthorized_response(self, request: SandboxRequest) -> SandboxResponse:
        return self.error_response(401, "Unauthorized")

    def error_response(self, status: int, message: str) -> SandboxResponse:
        """An error in the vendor's shape. Default: ``{"error": {"code", "message"}}``."""
        return json_response(status, {"error": {"code": status, "message": message}})

    def unmatched_response(self, request: SandboxRequest) -> SandboxResponse:
        return self.error_response(404, f"No route for {request.method} {request.path}")

    def rate_limited_response(self, windows: list[WindowState]) -> SandboxResponse:
        """The 429 answer. ``windows`` may be empty when a fault rule injects the 429."""
        return self.error_response(429, "Rate limit exceeded")

    def rate_limit_headers(self, windows: list[WindowState], limited: bool) -> dict[str, str]:
        """Headers added to every answer that went through the limiter. Default: none."""
        return {}

    # -- helpers for handlers --------------------------------------------------

    @staticmethod
    def json_body(request: SandboxRequest) -> Any:
        """The parsed JSON body; RequestRejected(400) when it is missing or malformed."""
        if request.json_error:
            raise RequestRejected(400, request.json_error)
        if not request.has_body:
            raise RequestRejected(400, "A JSON body is required")
        return request.json

    @staticmethod
    def json_object(request: SandboxRequest) -> dict[str, Any]:
        body = Emulator.json_body(request)
        if not isinstance(body, dict):
            raise RequestRejected(400, "The JSON body must be an object")
        return body

    # -- introspection and control ---------------------------------------------

    def snapshot(self) -> dict[str, list[Record]]:
        """resource -> its records, in id order."""
        return self.store.snapshot()

    def records(self, resource: str) -> list[Record]:
        return self.store.all(resource)

    def set_limits(self, limits: Limits) -> None:
        self.limiter.set_limits(limits)

    def reset(self) -> None:
        """Forget records, counters and rate-limit history; keep keys and limits."""
        self.store.reset()
        self.stats.reset()
        self.limiter.reset()

    def declare_field(self, declared: DeclaredField) -> None:
        """Add a custom field or property, as an admin would in the CRM's settings.
        Emulators that model custom fields override this; the rest refuse."""
        raise SchemaRefused(f"the {self.prefix} emulator has no custom fields to declare")

    def declare(self, declared: DeclaredField) -> None:
        """Declare a field through :meth:`declare_field` and remember it (``describe`` lists it;
        ``restore_declared`` declares it again after a reset). Declaring the same field twice is
        a no-op; SchemaRefused when the emulator refuses it (nothing is remembered then)."""
        if declared in self._declared:
            return
        if declared.object not in self.resources:
            raise SchemaRefused(f"the {self.prefix} emulator has no object {declared.object!r}; "
                                f"it has {', '.join(self.resources)}")
        self.declare_field(declared)
        self._declared = [d for d in self._declared if (d.object, d.name) != (declared.object, declared.name)]
        self._declared.append(declared)

    @property
    def declared_fields(self) -> tuple[DeclaredField, ...]:
        """The fields declared through :meth:`declare`, in declaration order."""
        return tuple(self._declared)

    def restore_records(self, records: Mapping[str, list[Record]]) -> None:
        """Put back the records of a snapshot (resource -> records), as a restarted sandbox does,
        then call :meth:`after_restore`."""
        with self.store.lock:
            for resource, kept in records.items():
                self.store.load(resource, kept)
            self.after_restore()

    def after_restore(self) -> None:
        """Hook: rebuild what an emulator derives from its records (a search index, say) after
        :meth:`restore_records`. Default: nothing."""

    def restore_declared(self) -> None:
        """Declare again every remembered field, after a reset made the emulator forget its
        custom fields. A field the emulator still has (it kept it through the reset) is skipped."""
        for declared in self._declared:
            try:
                self.declare_field(declared)
            except SchemaRefused as exc:
                logger.debug("%s kept %s.%s through the reset: %s", self.prefix, declared.object, declared.name, exc)

    def describe(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "resources": list(self.resources),
            "api_keys": list(self.api_keys),
            "auth": self.auth_hint,
            "limits": self.limiter.limits.as_dict(),
            "declared_fields": [declared.as_dict() for declared in self._declared],
        }


# ---------------------------------------------------------------------------
# A vendor's own short rate-limit window
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowCount:
    """One request's view of a rolling window: let in or not, used, and seconds to reset."""

    allowed: bool
    limit: int
    used: int
    reset_after: float

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


class RollingWindow:
    """Requests in a rolling window of ``seconds`` (HubSpot's 10 s, Pipedrive's 2 s).

    It refuses only when ``enforce`` is on (the vendor's published limits were asked for),
    and an emulator reports it in its vendor's rate-limit headers only then: a window
    nobody enforces must not slow a client down. Refused requests are not counted.
    """

    def __init__(self, limit: int, seconds: float, enforce: bool = False, clock: Clock = time.monotonic) -> None:
        self.limit, self.seconds, self.enforce = limit, seconds, enforce
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: deque[float] = deque()

    def hit(self) -> WindowCount:
        with self._lock:
            now = self._clock()
            while self._seen and self._seen[0] <= now - self.seconds:
                self._seen.popleft()
            allowed = not self.enforce or len(self._seen) < self.limit
            if allowed:
                self._seen.append(now)
            reset_after = max(self._seen[0] + self.seconds - now, 0.0) if self._seen else 0.0
            return WindowCount(allowed, self.limit, len(self._seen), reset_after)

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()
