"""Hostile answers: answers a client must survive (slow, broken, huge, or echoing its secrets).

Each is what a :class:`~dbt_revsync.sandbox.faults.FaultRule` with one of ``HOSTILE_ACTIONS``
answers; bounded in time and size.
"""

from __future__ import annotations

import base64
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from dbt_revsync.sandbox.emulator import Emulator
from dbt_revsync.sandbox.messages import SandboxRequest, SandboxResponse, json_response

if TYPE_CHECKING:
    from dbt_revsync.sandbox.faults import FaultRule

__all__ = [
    "HOSTILE_ACTIONS",
    "MAX_HUGE_BYTES",
    "MAX_TRICKLE_SECONDS",
    "HostileAnswer",
    "header_number",
    "hostile_answer",
    "validate_hostile",
]

HOSTILE_ACTIONS = ("trickle", "truncate", "bad_gzip", "huge", "echo_auth")
MAX_TRICKLE_SECONDS = 60.0
MAX_HUGE_BYTES = 512 * 1024 * 1024


def validate_hostile(rule: FaultRule) -> None:
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

    def write(self, handler: BaseHTTPRequestHandler) -> None:
        payload, headers = self.encode()
        try:
            handler.send_response(self.status)
            for name, value in headers.items():
                handler.send_header(name, value)
            getattr(self, f"_write_{self.mode}")(handler, payload)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the client gave up: that is what it should do
        handler.close_connection = True

    def _write_trickle(self, handler: BaseHTTPRequestHandler, payload: bytes) -> None:
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        pieces = max(1, min(len(payload), 40))
        step = -(-len(payload) // pieces)
        for start in range(0, len(payload), step):
            time.sleep(self.seconds / pieces)
            handler.wfile.write(payload[start : start + step])
            handler.wfile.flush()

    def _write_truncate(self, handler: BaseHTTPRequestHandler, payload: bytes) -> None:
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        half = payload[: max(1, len(payload) // 2)]
        handler.wfile.write(f"{len(payload):x}\r\n".encode() + half)  # promises more than it sends
        handler.wfile.flush()

    def _write_bad_gzip(self, handler: BaseHTTPRequestHandler, payload: bytes) -> None:
        garbage = b"\x1f\x8b\x08\x00" + b"this is not deflate data" * 4
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(garbage)))
        handler.end_headers()
        handler.wfile.write(garbage)

    def _write_huge(self, handler: BaseHTTPRequestHandler, payload: bytes) -> None:
        handler.send_header("Content-Length", str(self.size))
        handler.end_headers()
        block = b" " * (1024 * 1024)
        sent = 0
        while sent < self.size:
            piece = block[: min(len(block), self.size - sent)]
            handler.wfile.write(piece)
            sent += len(piece)


def hostile_answer(emulator: Emulator, rule: FaultRule, request: SandboxRequest) -> SandboxResponse | None:
    if rule.action == "echo_auth":
        return _echo_auth(emulator, rule, request)
    if rule.action == "huge":
        answer = SandboxResponse(
            status=rule.status if rule.status != 503 else 200, headers={"Content-Type": "application/json"}
        )
    else:
        answer = emulator.handle(request)
        if answer is None:
            return None
    hostile = HostileAnswer(
        status=answer.status, body=answer.body, raw=answer.raw, headers=dict(answer.headers), route="fault"
    )
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
    body = {
        "errors": {
            "code": "invalid_value",
            "message": f"request {request.method} {request.path}?{query} "
            f"was refused for credentials {auth!r} ({decoded})",
        }
    }
    response = json_response(rule.status, body)
    response.headers.update(rule.headers)
    response.route = "fault"
    return response


def header_number(value: str | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
