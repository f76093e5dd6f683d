"""A generic JSON echo endpoint, served under ``/echo``: the other end of an ``http`` sync.

Any method on any path below ``/echo`` is accepted, kept (method, path, query, JSON body)
as a record of the ``requests`` resource, and answered with what was received and an id
per object (each object kept as a record of ``objects``, whose ids, like every sandbox
id, are never given twice, restarts included): a JSON object is answered ``{"id": n, "received": {...}}``; a list, or an
object holding one list (``{"records": [...]}``), ``{"results": [{"id": n, ...}, ...]}``
in order. POST answers 201, the rest 200. ``?status=NNN`` answers that status instead
(nothing is kept), to try a sync's ``success_codes``. Auth: ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

from typing import Any

from dbt_revsync.sandbox import Emulator, SandboxRequest, SandboxResponse, json_response, route

__all__ = ["DEFAULT_TOKEN", "EchoEmulator"]

DEFAULT_TOKEN = "sandbox-echo-token"


class EchoEmulator(Emulator):
    prefix = "echo"
    resources = ("requests", "objects")
    default_api_keys = (DEFAULT_TOKEN,)
    auth_hint = "Authorization: Bearer <token>"

    def authenticate(self, request: SandboxRequest) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token.strip() in self.api_keys

    @route("POST", r"(?P<path>/.*)", "echo")
    @route("PUT", r"(?P<path>/.*)", "echo")
    @route("PATCH", r"(?P<path>/.*)", "echo")
    @route("DELETE", r"(?P<path>/.*)", "echo")
    @route("GET", r"(?P<path>/.*)", "echo")
    def echo(self, request: SandboxRequest, path: str) -> SandboxResponse:
        forced = request.query.get("status")
        if forced:
            return json_response(int(forced), {"error": f"answered {forced} as asked", "received": request.json})
        body = self.json_body(request) if request.has_body else None
        self.store.insert(
            "requests", {"method": request.method, "path": path, "query": dict(request.query), "body": body}
        )
        items = _items(body)
        status = 201 if request.method == "POST" else 200
        if items is None:
            return json_response(status, {"id": self._keep(body), "received": body})
        return json_response(status, {"results": [{"id": self._keep(item), "received": item} for item in items]})

    def _keep(self, item: Any) -> int:
        return int(self.store.insert("objects", {"received": item})["id"])


def _items(body: Any) -> list[Any] | None:
    """The list a body carries: the body itself, or the one list value of an object."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and len(body) == 1:
        (value,) = body.values()
        if isinstance(value, list):
            return value
    return None
