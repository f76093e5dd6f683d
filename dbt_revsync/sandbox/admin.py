"""The sandbox's control API under ``/_admin`` (no auth, loopback clients only):

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

Its endpoints are declared with :func:`~dbt_revsync.sandbox.routes.route`, as an emulator's are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from dbt_revsync.sandbox.emulator import DeclaredField
from dbt_revsync.sandbox.faults import iter_rules
from dbt_revsync.sandbox.http import is_loopback
from dbt_revsync.sandbox.messages import SandboxRequest, SandboxResponse, json_response
from dbt_revsync.sandbox.routes import Route, collect_routes, find_route, route
from dbt_revsync.sandbox.window import Limits

if TYPE_CHECKING:
    from dbt_revsync.sandbox.lifecycle import SandboxServer

__all__ = ["ADMIN", "AdminApi"]

ADMIN = "_admin"


class AdminApi:
    """Answers ``/_admin/...`` requests by driving a :class:`SandboxServer`."""

    routes: ClassVar[tuple[Route, ...]] = ()

    def __init__(self, server: SandboxServer) -> None:
        self.server = server

    def handle(self, request: SandboxRequest, client: str) -> SandboxResponse:
        """Answer one admin request (its path below ``/_admin``) from ``client``'s address."""
        if not is_loopback(client):
            return json_response(403, {"error": "the admin API answers loopback clients only"})
        path = "/" + "/".join(part for part in request.path.split("/") if part)
        found = find_route(self.routes, request.method, path)
        if found is None:
            return json_response(404, {"error": f"no admin endpoint {request.method} /{ADMIN}{request.path}"})
        found_route, params = found
        try:
            response: SandboxResponse = getattr(self, found_route.handler)(request, **params)
        except (ValueError, TypeError) as exc:
            return json_response(400, {"error": str(exc)})
        except KeyError as exc:
            return json_response(404, {"error": str(exc.args[0]) if exc.args else "not found"})
        return response

    @route("GET", r"/(?:emulators)?", "emulators")
    def emulators(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(200, {"emulators": self.server.describe()})

    @route("GET", r"/stats", "stats")
    def stats(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(200, self.server.stats())

    @route("GET", r"/state", "state")
    def state(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(200, self.server.state())

    @route("POST", r"/reset", "reset")
    def reset(self, request: SandboxRequest) -> SandboxResponse:
        self.server.reset()
        return json_response(200, {"reset": True})

    @route("GET", r"/faults", "faults")
    def faults(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(200, {"faults": [rule.to_dict() for rule in self.server.faults.rules()]})

    @route("POST", r"/faults", "faults.add")
    def add_faults(self, request: SandboxRequest) -> SandboxResponse:
        rules = list(iter_rules(_admin_json(request)))
        for rule in rules:  # all valid, or none added
            if rule.prefix is not None:
                self.server.emulator(rule.prefix)
        added = [self.server.add_fault(rule) for rule in rules]
        return json_response(201, {"faults": [rule.to_dict() for rule in added]})

    @route("DELETE", r"/faults", "faults.clear")
    def clear_faults(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(200, {"cleared": self.server.clear_faults()})

    @route("GET", r"/limits", "limits")
    def limits(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(200, self.server.limits())

    @route("POST", r"/limits", "limits.set")
    def set_limits(self, request: SandboxRequest) -> SandboxResponse:
        body = _admin_json(request)
        if not isinstance(body, dict):
            raise ValueError('send {"prefix": ..., "per_minute": ..., "per_hour": ...}')
        limits = Limits.from_mapping(body)
        self.server.set_limits(body.get("prefix"), limits.per_minute, limits.per_hour)
        return json_response(200, self.server.limits())

    @route("GET", r"/fields", "fields")
    def fields(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(200, self.server.declared_fields())

    @route("POST", r"/fields", "fields.declare")
    def declare_fields(self, request: SandboxRequest) -> SandboxResponse:
        body = _admin_json(request)
        items = body if isinstance(body, list) else [body]
        wanted: list[tuple[str, DeclaredField]] = []
        for index, item in enumerate(items):
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("prefix"), str)
                or not isinstance(item.get("object"), str)
            ):
                raise ValueError(f'field {index}: send {{"prefix", "object", "name", "type", "unique"}}')
            self.server.emulator(item["prefix"])
            try:
                wanted.append(
                    (
                        item["prefix"],
                        DeclaredField.from_mapping(
                            item["object"], {k: v for k, v in item.items() if k not in ("prefix", "object")}
                        ),
                    )
                )
            except (ValueError, TypeError) as exc:
                raise ValueError(f"field {index}: {exc}") from None
        for prefix, declared in wanted:  # SchemaRefused (a ValueError): 400, the fields before it stay declared
            self.server.declare_field(prefix, declared)
        return json_response(201, self.server.declared_fields())

    # Declared last: a fixed endpoint above wins over an emulator named like it.
    @route("GET", r"/(?P<prefix>[^/]+)", "records")
    def records(self, request: SandboxRequest, prefix: str) -> SandboxResponse:
        return json_response(200, self.server.emulator(prefix).snapshot())

    @route("GET", r"/(?P<prefix>[^/]+)/(?P<resource>[^/]+)", "records.resource")
    def resource_records(self, request: SandboxRequest, prefix: str, resource: str) -> SandboxResponse:
        emulator = self.server.emulator(prefix)
        if resource not in emulator.store.resources:
            raise KeyError(f"/{prefix} has no resource {resource!r}; it has {', '.join(emulator.resources)}")
        return json_response(200, emulator.records(resource))


AdminApi.routes = tuple(collect_routes(AdminApi))


def _admin_json(request: SandboxRequest) -> Any:
    if request.json_error:
        raise ValueError(request.json_error)
    if not request.has_body:
        raise ValueError("a JSON body is required")
    return request.json
