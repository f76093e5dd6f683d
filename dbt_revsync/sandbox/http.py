"""The sandbox's HTTP side: standard library only, HTTP/1.1 with keep-alive (every answer carries
a Content-Length). A request is read whole, handed to a :class:`Dispatcher` (the
:class:`~dbt_revsync.sandbox.SandboxServer`), and its answer written back, or the connection
dropped when the answer is None.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import sys
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from dbt_revsync.errors import UsageError
from dbt_revsync.sandbox.hostile import HostileAnswer
from dbt_revsync.sandbox.messages import SandboxResponse, json_response

__all__ = ["MAX_BODY_BYTES", "Dispatcher", "PortUnavailable", "is_loopback", "listen"]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024


class Dispatcher(Protocol):
    """What answers the requests the HTTP side reads."""

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
        ...

    def track(self, connection: socket.socket) -> None:
        """A connection was opened (it is shut down when the server stops)."""
        ...

    def untrack(self, connection: socket.socket) -> None:
        """A connection was closed."""
        ...


class PortUnavailable(UsageError):
    """The sandbox cannot listen where it was asked to (port in use, not allowed, bad host)."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: Dispatcher

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
        self.server.sandbox.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sandbox.untrack(self.connection)

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
                self.command,
                unquote(target.path),
                target.query,
                self.headers.items(),
                body,
                client=self.client_address[0],
            )
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


def is_loopback(address: str) -> bool:
    try:
        parsed = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(parsed, "ipv4_mapped", None)
    return (mapped or parsed).is_loopback


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use: stop what listens there, or pick another --port "
            "(--port 0 picks a free one)"
        )
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on port {port} on {host}: pick a port above 1023, or --port 0"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def listen(host: str, port: int, sandbox: Dispatcher) -> ThreadingHTTPServer:
    """A server listening on ``host``:``port`` (0: a free port) that hands requests to
    ``sandbox``; PortUnavailable when it cannot listen there."""
    server_class = _HTTPServerV6 if ":" in host else _HTTPServer
    try:
        httpd = server_class((host, port), _Handler)
    except OSError as exc:
        raise PortUnavailable(_bind_problem(host, port, exc)) from None
    httpd.sandbox = sandbox
    return httpd
