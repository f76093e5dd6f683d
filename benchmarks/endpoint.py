"""A neutral, fast loopback endpoint for the first-push benchmark, run in its own process.

    endpoint.py PORT

``POST`` any path with a JSON body: a list (one row an item), an object holding a list under
``records``/``inputs``/``data`` (one row an item), or any other object (one row). Answers
``200 {"ok": true}`` on a keep-alive HTTP/1.1 connection. ``GET /_stats`` answers
``{"requests": N, "rows": M}``; ``POST /_reset`` sets both to zero. Not part of the product.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOCK = threading.Lock()
COUNTS = {"requests": 0, "rows": 0}
OK = b'{"ok": true}'


def rows_in(body: Any) -> int:
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict):
        for name in ("records", "inputs", "data"):
            if isinstance(body.get(name), list):
                return len(body[name])
    return 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self, payload: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        with LOCK:
            payload = json.dumps(COUNTS).encode()
        self._answer(payload)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == "/_reset":
            with LOCK:
                COUNTS.update(requests=0, rows=0)
            self._answer(OK)
            return
        try:
            rows = rows_in(json.loads(raw)) if raw else 0
        except ValueError:
            self._answer(b'{"error": "not JSON"}', 400)
            return
        with LOCK:
            COUNTS["requests"] += 1
            COUNTS["rows"] += rows
        self._answer(OK)

    do_PUT = do_PATCH = do_POST


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()
