"""``dbt-revsync listen``: receives dbt Cloud's job-run webhooks and pushes what each run built.

dbt Cloud signs every delivery: the ``Authorization`` header carries the hex HMAC-SHA256 of
the raw request body, keyed with the webhook's secret token. A request whose header is
missing or wrong is answered 401 and nothing runs.

A webhook is account-wide unless it names jobs, so every job's runs may arrive, a CI job's
(which builds a pull request's schema) among them. A verified ``job.run.completed`` event is
taken only when (``ListenPolicy``):

- its ``accountId`` is the account's, its ``jobId`` is in the job allowlist (when one is
  given) and its ``environmentId`` in the environment allowlist (when one is given; at
  least one of the two lists is required);
- its ``runStatusCode`` is 10 (success), or 20 (error) when errored runs are asked for;
  a cancelled run (30) never is;
- its ``runId`` was never taken before (dbt Cloud retries a delivery up to five times, and
  a run can be re-sent under a new ``eventId``).

A taken run is answered 202 at once (dbt Cloud's webhook timeout is 10 seconds) after it is
recorded durably (``listen_ledger``); one worker pushes the taken runs one after the other,
so pushes never overlap. Anything else verified is answered 200 with why it was ignored.
``job.run.errored`` is ignored: it fires before the run's artifacts are available.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dbt_revsync.listen_ledger import AcceptedRun, Ledger

__all__ = [
    "COMPLETED",
    "MAX_BODY",
    "ListenPolicy",
    "Listener",
    "Outcome",
    "RunEvent",
    "parse_event",
    "send_json",
    "signature",
    "verified",
]

logger = logging.getLogger(__name__)

COMPLETED = "job.run.completed"
MAX_BODY = 1024 * 1024
SUCCESS, ERROR, CANCELLED = 10, 20, 30
_STATUS_WORDS = {"success": SUCCESS, "error": ERROR, "errored": ERROR, "cancelled": CANCELLED, "canceled": CANCELLED}


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verified(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the body's signature (compared in constant time)."""
    return bool(header) and hmac.compare_digest(signature(secret, body), str(header).strip().lower())


@dataclass(frozen=True)
class RunEvent:
    event_id: str
    event_type: str
    account_id: str
    run_id: str
    job_id: str
    environment_id: str
    run_status: str
    run_status_code: int | None


def _status_code(data: dict[str, Any]) -> int | None:
    code = data.get("runStatusCode")
    if isinstance(code, int) or (isinstance(code, str) and code.strip().isdigit()):
        return int(code)
    return _STATUS_WORDS.get(str(data.get("runStatus") or "").strip().lower())


def parse_event(body: bytes) -> RunEvent:
    """A dbt Cloud webhook payload; ValueError when it is not one."""
    document = json.loads(body)
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict) or not document.get("eventType"):
        raise ValueError("not a dbt Cloud webhook payload (no eventType or data)")
    return RunEvent(
        event_id=str(document.get("eventId") or ""),
        event_type=str(document["eventType"]),
        account_id=str(document.get("accountId") or ""),
        run_id=str(data.get("runId") or "").strip(),
        job_id=str(data.get("jobId") or "").strip(),
        environment_id=str(data.get("environmentId") or "").strip(),
        run_status=str(data.get("runStatus") or ""),
        run_status_code=_status_code(data),
    )


@dataclass(frozen=True)
class ListenPolicy:
    """Which completed runs ``listen`` pushes (see the module)."""

    account_id: str
    job_ids: frozenset[str] = frozenset()
    environment_ids: frozenset[str] = frozenset()
    push_errored: bool = False

    def __post_init__(self) -> None:
        if not self.job_ids and not self.environment_ids:
            raise ValueError("listen needs an allowlist: job ids and/or environment ids")

    def refusal(self, event: RunEvent) -> str | None:
        """Why ``event`` is not pushed, or None when it is."""
        if event.event_type != COMPLETED:
            return f"event {event.event_type}"
        if not event.run_id.isdigit():
            return "no run id"
        if event.account_id and event.account_id != self.account_id:
            return f"account {event.account_id} is not this listener's"
        if self.job_ids and event.job_id not in self.job_ids:
            return f"job {event.job_id or '?'} is not in the job allowlist"
        if self.environment_ids and event.environment_id not in self.environment_ids:
            return f"environment {event.environment_id or '?'} is not in the environment allowlist"
        if event.run_status_code == SUCCESS or (event.run_status_code == ERROR and self.push_errored):
            return None
        return f"run status {event.run_status or event.run_status_code} is not pushed"


@dataclass(frozen=True)
class Outcome:
    """How the push of one run went: ``error`` is None when it ran."""

    run_id: str
    ok: bool
    error: str | None = None


class Listener:
    """The webhook server and its push worker.

    ``push_run(run_id)`` returns whether every sync finished clean; an exception it raises is
    logged, never fatal to the listener. ``record()`` writes the ledger to the warehouse
    (``Ledger.record`` with a warehouse opened for it); it runs on the worker after each push.
    """

    def __init__(
        self,
        secret: str,
        policy: ListenPolicy,
        ledger: Ledger,
        push_run: Callable[[str], bool],
        record: Callable[[], None] = lambda: None,
        host: str = "127.0.0.1",
        port: int = 8080,
    ) -> None:
        if not secret:
            raise ValueError("a webhook secret is required")
        self.secret, self.policy, self.ledger, self.push_run, self.record = secret, policy, ledger, push_run, record
        self.outcomes: list[Outcome] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.worker = threading.Thread(target=self._work, name="revsync-listen-push", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

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

    def stop(self, wait: float = 600) -> None:
        """Stop taking webhooks; the push under way finishes, the runs still waiting stay
        in the ledger for the next start."""
        self.server.shutdown()
        self.server.server_close()
        self.stopping.set()
        if self.worker.is_alive():
            self.worker.join(timeout=wait)

    def accept(self, body: bytes, header: str | None) -> tuple[int, dict[str, Any]]:
        """The answer to one delivery: (HTTP status, JSON body)."""
        if not verified(self.secret, body, header):
            logger.warning("webhook refused: bad or missing signature")
            return 401, {"error": "bad or missing signature"}
        try:
            event = parse_event(body)
        except ValueError as exc:
            return 400, {"error": str(exc)}
        refusal = self.policy.refusal(event)
        if refusal is not None:
            logger.info("dbt Cloud run %s of job %s ignored: %s", event.run_id or "?", event.job_id or "?", refusal)
            return 200, {"ignored": refusal, "run_id": event.run_id}
        run = AcceptedRun(event.run_id, event.job_id, event.environment_id, event.run_status_code)
        try:
            taken = self.ledger.accept(run)
        except OSError as exc:  # cannot record it: let dbt Cloud deliver it again
            logger.error("cannot record dbt Cloud run %s: %s", run.run_id, exc)
            return 503, {"error": "cannot record the run now"}
        if not taken:
            return 200, {"duplicate": event.run_id, "event_id": event.event_id}
        logger.info(
            "dbt Cloud run %s of job %s completed (%s): push queued", event.run_id, event.job_id, event.run_status
        )
        return 202, {"accepted": event.run_id}

    def _work(self) -> None:
        while not self.stopping.is_set():
            run = self.ledger.next(timeout=0.2)
            if run is None:
                continue
            try:
                outcome = Outcome(run.run_id, self.push_run(run.run_id))
            except Exception as exc:  # one bad run must not stop the listener
                logger.error("push of dbt Cloud run %s failed: %s", run.run_id, exc)
                outcome = Outcome(run.run_id, False, str(exc))
            self.ledger.finish(run, outcome.ok, outcome.error)
            try:
                self.record()
            except Exception as exc:  # the journal keeps it; recorded after the next push or at start
                logger.warning("could not record the listener's runs in the warehouse: %s", exc)
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
            send_json(
                self, 200, {"listening": True, "pushed": len(listener.outcomes), "waiting": listener.ledger.waiting()}
            )

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
            logger.debug("listen: " + format, *args)

    return Handler
