"""A local stand-in for dbt Cloud's Administrative API v2: run artifacts served from disk.

``GET /api/v2/accounts/<account>/runs/<run>/artifacts/<file>`` with ``Authorization: Token
<token>`` (or ``Bearer``) answers the file registered for that run; a wrong token 401, an
unknown account 404 ... as dbt Cloud answers them.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from dbt_revsync.webhook import send_json

ARTIFACT = re.compile(r"^/api/v2/accounts/(?P<account>\d+)/runs/(?P<run>\d+)/artifacts/(?P<name>[\w./-]+)$")


class DbtCloudStandIn:
    def __init__(self, account_id: str, token: str) -> None:
        self.account_id, self.token = account_id, token
        self.runs: dict[str, Path] = {}
        self.requests: list[tuple[str, int]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_run(self, run_id: str, artifacts_dir: Path) -> None:
        self.runs[run_id] = artifacts_dir

    def __enter__(self) -> DbtCloudStandIn:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, authorization: str) -> tuple[int, Any]:
        if authorization not in (f"Token {self.token}", f"Bearer {self.token}"):
            return 401, {"status": {"code": 401, "is_success": False, "user_message": "Invalid token."}, "data": None}
        match = ARTIFACT.match(path)
        if not match or match["account"] != self.account_id or match["run"] not in self.runs:
            return 404, {"status": {"code": 404, "is_success": False, "user_message": "The requested resource was not found."}, "data": None}
        file = self.runs[match["run"]] / match["name"]
        if not file.is_file():
            return 404, {"status": {"code": 404, "is_success": False, "user_message": "Artifact not found."}, "data": None}
        return 200, json.loads(file.read_text())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                status, body = standin.answer(self.path, self.headers.get("Authorization", ""))
                standin.requests.append((self.path, status))
                send_json(self, status, body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler
