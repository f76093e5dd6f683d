"""A local stand-in for dbt Cloud's Administrative API v2: runs, their steps, their artifacts.

``GET /api/v2/accounts/<account>/runs/<run>/?include_related=["run_steps"]`` answers the run
with its ``run_steps`` (index, name, status); ``GET .../runs/<run>/artifacts/<file>[?step=N]``
answers step N's file, and without ``step`` the last step's, as dbt Cloud does. A wrong token
is answered 401, an unknown account, run or file 404.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dbt_revsync.webhook import send_json

RUN = re.compile(r"^/api/v2/accounts/(?P<account>\d+)/runs/(?P<run>\d+)/?$")
ARTIFACT = re.compile(r"^/api/v2/accounts/(?P<account>\d+)/runs/(?P<run>\d+)/artifacts/(?P<name>[\w./-]+)$")
SUCCESS, ERROR, CANCELLED = 10, 20, 30


@dataclass
class Step:
    name: str
    artifacts: Path | None = None  # the directory holding this step's files (None: it wrote none)
    status: int = SUCCESS


@dataclass
class Run:
    steps: list[Step]
    job_id: str = "123"
    environment_id: str = "1234"
    status: int = SUCCESS
    extra: dict[str, Any] = field(default_factory=dict)


def dbt_step(command: str, artifacts: Path | None = None, status: int = SUCCESS) -> Step:
    return Step(f"Invoke dbt with `{command}`", artifacts, status)


def job_steps(*commands: Step) -> list[Step]:
    """A job run's steps: the three dbt Cloud always runs first, then the job's commands."""
    return [
        Step("Clone git repository"),
        Step("Create profile from connection Warehouse"),
        dbt_step("dbt deps"),
        *commands,
    ]


def not_found(message: str) -> tuple[int, Any]:
    return 404, {"status": {"code": 404, "is_success": False, "user_message": message}, "data": None}


class DbtCloudStandIn:
    def __init__(self, account_id: str, token: str) -> None:
        self.account_id, self.token = account_id, token
        self.runs: dict[str, Run] = {}
        self.requests: list[tuple[str, int]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_run(self, run_id: str, run: Run | Path) -> None:
        """A run; a bare directory is a one-command job whose `dbt build` wrote those files."""
        self.runs[run_id] = run if isinstance(run, Run) else Run(job_steps(dbt_step("dbt build", run)))

    def __enter__(self) -> DbtCloudStandIn:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, target: str, authorization: str) -> tuple[int, Any]:
        if authorization not in (f"Token {self.token}", f"Bearer {self.token}"):
            return 401, {"status": {"code": 401, "is_success": False, "user_message": "Invalid token."}, "data": None}
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        if match := RUN.match(parts.path):
            return self._run(match, query)
        match = ARTIFACT.match(parts.path)
        if not match or match["account"] != self.account_id or match["run"] not in self.runs:
            return not_found("The requested resource was not found.")
        steps = self.runs[match["run"]].steps
        wanted = query.get("step", [str(len(steps))])[0]
        if not wanted.isdigit() or not 1 <= int(wanted) <= len(steps):
            return not_found("Step not found.")
        folder = steps[int(wanted) - 1].artifacts
        file = folder / match["name"] if folder else None
        if file is None or not file.is_file():
            return not_found("Artifact not found.")
        return 200, json.loads(file.read_text())

    def _run(self, match: re.Match[str], query: dict[str, list[str]]) -> tuple[int, Any]:
        if match["account"] != self.account_id or match["run"] not in self.runs:
            return not_found("The requested resource was not found.")
        run = self.runs[match["run"]]
        data: dict[str, Any] = {
            "id": int(match["run"]),
            "account_id": int(self.account_id),
            "job_definition_id": int(run.job_id),
            "environment_id": int(run.environment_id),
            "status": run.status,
            **run.extra,
        }
        if "run_steps" in "".join(query.get("include_related", [])):
            data["run_steps"] = [
                {"index": i, "name": step.name, "status": step.status, "run_id": int(match["run"])}
                for i, step in enumerate(run.steps, start=1)
            ]
        return 200, {"status": {"code": 200, "is_success": True}, "data": data}

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
