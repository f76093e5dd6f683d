"""``dbt-revsync listen``: receives dbt Cloud's job-run webhooks and pushes what each run built.

dbt Cloud signs every delivery: the ``Authorization`` header carries the hex HMAC-SHA256 of
the raw request body, keyed with the webhook's secret token. A request whose header is
missing or wrong is answered 401 and nothing runs. A verified ``job.run.completed`` event
is answered 202 at once (dbt Cloud retries a delivery that is slow or fails) and queued;
one worker pushes the queued runs one after the other, so pushes never overlap. Other
event types are answered 200 and ignored, and a delivery seen before (same ``eventId``,
as dbt Cloud's retries are) is not pushed twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)

COMPLETED = "job.run.completed"
MAX_BODY = 1024 * 1024


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verified(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the body's signature (compared in constant time)."""
    return bool(header) and hmac.compare_digest(signature(secret, body), str(header).strip().lower())


@dataclass(frozen=True)
class RunEvent:
    event_id: str
    event_type: str
    run_id: str
    job_id: str
    run_status: str


def parse_event(body: bytes) -> RunEvent:
    """A dbt Cloud webhook payload; ValueError when it is not one."""
    document = json.loads(body)
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict) or not document.get("eventType"):
        raise ValueError("not a dbt Cloud webhook payload (no eventType or data)")
    return RunEvent(
        event_id=str(document.get("eventId") or ""),
        event_type=str(document["eventType"]),
        run_id=str(data.get("runId") or ""),
        job_id=str(data.get("jobId") or ""),
        run_status=str(data.get("runStatus") or ""),
    )


@dataclass
class Outcome:
    """How the push of one run went: ``error`` is None when it ran."""

    run_id: str
    ok: bool
    error: str | None = None


class Listener:
    """The webhook server and its push worker. ``push_run(run_id)`` returns whether every
    sync finished clean; an exception it raises is logged, never fatal to the listener."""

    def __init__(self, secret: str, push_run: Callable[[str], bool], host: str = "127.0.0.1", port: int = 8080) -> None:
        if not secret:
            raise ValueError("a webhook secret is required")
        self.secret, self.push_run = secret, push_run
        self.jobs: queue.Queue[str | None] = queue.Queue()
        self.outcomes: list[Outcome] = []
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.worker = threading.Thread(target=self._work, name="revsync-listen-push", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Listener:
        self.worker.start()
        threading.Thread(target=self.server.serve_forever, name="revsync-listen", daemon=True).start()
        return self

    def serve_forever(self) -> None:
        self.worker.start()
        try:
            self.server.serve_forever()
        finally:
            self.stop()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.jobs.put(None)
        self.worker.join(timeout=600)

    def accept(self, body: bytes, header: str | None) -> tuple[int, dict[str, Any]]:
        """The answer to one delivery: (HTTP status, JSON body)."""
        if not verified(self.secret, body, header):
            logger.warning("webhook refused: bad or missing signature")
            return 401, {"error": "bad or missing signature"}
        try:
            event = parse_event(body)
        except ValueError as exc:
            return 400, {"error": str(exc)}
        if event.event_type != COMPLETED or not event.run_id:
            return 200, {"ignored": event.event_type}
        with self.lock:
            key = event.event_id or f"run:{event.run_id}"
            if key in self.seen:
                return 200, {"duplicate": event.event_id, "run_id": event.run_id}
            self.seen.add(key)
        logger.info("dbt Cloud run %s of job %s completed (%s): push queued", event.run_id, event.job_id, event.run_status)
        self.jobs.put(event.run_id)
        return 202, {"accepted": event.run_id}

    def _work(self) -> None:
        while (run_id := self.jobs.get()) is not None:
            try:
                outcome = Outcome(run_id, self.push_run(run_id))
            except Exception as exc:  # one bad run must not stop the listener
                logger.error("push of dbt Cloud run %s failed: %s", run_id, exc)
                outcome = Outcome(run_id, False, str(exc))
            with self.lock:
                self.outcomes.append(outcome)


def send_json(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    """Answer an ``http.server`` request with a JSON body."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _handler(listener: Listener) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                send_json(self, 413, {"error": "body too large"})
                return
            body = self.rfile.read(length)
            send_json(self, *listener.accept(body, self.headers.get("Authorization")))

        def do_GET(self) -> None:  # noqa: N802
            send_json(self, 200, {"listening": True, "pushed": len(listener.outcomes)})

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
            logger.debug("listen: " + format, *args)

    return Handler
