"""The base of a local CRM emulator.

An emulator is a plain Python object that turns a :class:`SandboxRequest` into a
:class:`SandboxResponse`; it knows nothing about sockets. :class:`Emulator` gives a
subclass a route table (declared with :func:`route`), an auth hook, a thread-safe
:class:`RecordStore`, per-emulator rate limits (a :class:`Quota`) and request
counters (:class:`Stats`). The HTTP side is :class:`dbt_revsync.sandbox.SandboxServer`.

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

plus its ``Crm`` record (``docs/writing-a-crm.md``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from dbt_revsync.sandbox.messages import (
    RequestRejected,
    SandboxRequest,
    SandboxResponse,
    json_response,
)
from dbt_revsync.sandbox.routes import Route, collect_routes, find_route
from dbt_revsync.sandbox.store import Record, RecordStore
from dbt_revsync.sandbox.window import Clock, Limits, Quota, WindowState

__all__ = ["DeclaredField", "Emulator", "SchemaRefused", "Stats"]

logger = logging.getLogger(__name__)


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
        cls.routes = tuple(collect_routes(cls))

    def __init__(
        self, *, api_keys: Iterable[str] | None = None, limits: Limits | None = None, clock: Clock = time.monotonic
    ) -> None:
        self.api_keys: tuple[str, ...] = tuple(api_keys) if api_keys is not None else self.default_api_keys
        self.store = RecordStore(self.resources, first_id=self.first_id)
        self.limiter = Quota(limits, clock=clock)
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
        return find_route(self.routes, request.method, request.path.rstrip("/") or "/")

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
            raise SchemaRefused(
                f"the {self.prefix} emulator has no object {declared.object!r}; it has {', '.join(self.resources)}"
            )
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
