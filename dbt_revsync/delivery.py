"""All HTTP goes through here: pacing, retries, concurrency, and what an answer means.

``classify`` is the one place that maps an answer to an ``Outcome``:

    DONE    2xx/3xx: the destination reads the body (which may still hold per-record errors)
    REJECT  a 4xx about the request itself (400, 404, 409, 422, ...): this record is bad
    RETRY   429, 408, 5xx, a timeout, a reset or refused connection
    FATAL   401, 403: the credentials will not work for anything; stop this sync

``HttpClient.request`` retries RETRY answers with exponential backoff and full jitter,
honouring ``Retry-After`` and a destination's own rate-limit headers, within a bound on
attempts and total time; then it raises ``TransientDestinationError``. FATAL raises
``FatalDestinationError``. DONE and REJECT come back as a ``Reply`` for the destination.
The transport is injectable: a test's fake server is a function.
"""

from __future__ import annotations

import email.utils
import json as jsonlib
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter

from dbt_revsync import events
from dbt_revsync.errors import FatalDestinationError, TransientDestinationError

logger = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Outcome(Enum):
    DONE = "done"
    REJECT = "reject"
    RETRY = "retry"
    FATAL = "fatal"


def classify(status: int | None) -> Outcome:
    """``status`` None means no answer at all (timeout, reset, refused)."""
    if status is None or status == 429 or status == 408 or status >= 500:
        return Outcome.RETRY
    if status in (401, 403):
        return Outcome.FATAL
    if status >= 400:
        return Outcome.REJECT
    return Outcome.DONE


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    content: bytes
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        if not self.content:
            return None
        try:
            return jsonlib.loads(self.content)
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class TransportError(Exception):
    """No answer: a timeout, a reset or a refused connection."""


Transport = Callable[[str, str, Mapping[str, str], bytes | None, float], tuple[int, Mapping[str, str], bytes]]


class RequestsTransport:
    """The default transport: one pooled ``requests.Session``, TLS verification always on."""

    def __init__(self, pool_size: int) -> None:
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(pool_size, 1), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> tuple[int, Mapping[str, str], bytes]:
        try:
            response = self.session.request(method, url, headers=dict(headers), data=body, timeout=timeout, verify=True)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TransportError(type(exc).__name__) from None
        return response.status_code, response.headers, response.content


class RateLimiter:
    """A token bucket that halves its rate on a 429 and creeps back to the set rate."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.target = rate
        self.rate = rate
        self.capacity = max(1.0, rate or 1.0)
        self.tokens = self.capacity
        self.clock, self.sleep = clock, sleep
        self.stamp = clock()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        if self.rate is None:
            return
        while True:
            with self.lock:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            self.sleep(wait)

    def slow_down(self) -> None:
        with self.lock:
            if self.rate is not None:
                self.rate = max(self.rate / 2, (self.target or 1) / 64)
                self.tokens = min(self.tokens, 0.0)

    def recover(self) -> None:
        with self.lock:
            if self.rate is not None and self.target is not None and self.rate < self.target:
                self.rate = min(self.target, self.rate * 1.05)


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    max_seconds: float = 120.0
    base: float = 0.5
    cap: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: a random wait up to base * 2^attempt, capped."""
        return rng.uniform(0, min(self.cap, self.base * (2**attempt)))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


@dataclass
class HttpClient:
    """Paced, bounded and retried HTTP for one connection; shared by the threads of a push."""

    rate_limit: float | None = None
    max_concurrency: int = 4
    timeout: float = 30.0
    secrets: frozenset[str] = frozenset()
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    transport: Transport | None = None
    throttle_hint: Callable[[Mapping[str, str]], float | None] | None = None
    sleep: Callable[[float], None] = time.sleep
    seed: int | None = None
    name: str = ""  # the connection's name, for the retry events

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.rate_limit, sleep=self.sleep)
        self.slots = threading.BoundedSemaphore(self.max_concurrency)
        self.transport = self.transport or RequestsTransport(self.max_concurrency)
        self.rng = random.Random(self.seed)

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
    ) -> Reply:
        refuse_plain_http(url)
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(dict(params), doseq=True)}"
        body = jsonlib.dumps(json, ensure_ascii=False).encode() if json is not None else data
        sent_headers = {"Accept": "application/json", **({"Content-Type": "application/json"} if json is not None else {}), **(headers or {})}
        started = time.monotonic()
        for attempt in range(1, self.policy.max_attempts + 1):
            status, reply_headers, content = self._once(method, url, sent_headers, body)
            outcome = classify(status)
            if outcome is Outcome.DONE or outcome is Outcome.REJECT:
                self.limiter.recover()
                self._pause_for_hint(reply_headers)
                return Reply(status or 0, reply_headers, content, attempt)
            if outcome is Outcome.FATAL:
                raise FatalDestinationError(self.redact(f"{method} {_path(url)} answered {status}: {_snippet(content)}"), status)
            wait = self._retry_wait(status, reply_headers, attempt)
            spent = time.monotonic() - started
            if attempt == self.policy.max_attempts or spent + wait > self.policy.max_seconds:
                what = f"answered {status}" if status else "got no answer"
                raise TransientDestinationError(self.redact(f"{method} {_path(url)} {what} after {attempt} attempts"))
            events.emit(
                "retry", f"retrying {method} {_path(url)} in {wait:.2f}s (attempt {attempt}, {status or 'no answer'})",
                connection=self.name, method=method, path=_path(url), attempt=attempt, status=status, wait_seconds=round(wait, 3),
            )
            self.sleep(wait)
        raise AssertionError("unreachable")

    def _once(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> tuple[int | None, Mapping[str, str], bytes]:
        self.limiter.acquire()
        with self.slots:
            try:
                assert self.transport is not None
                return self.transport(method, url, headers, body, self.timeout)
            except TransportError as exc:
                return None, {}, str(exc).encode()

    def _retry_wait(self, status: int | None, headers: Mapping[str, str], attempt: int) -> float:
        if status == 429:
            self.limiter.slow_down()
        hinted = retry_after(headers)
        if hinted is None and self.throttle_hint is not None:
            hinted = self.throttle_hint(headers)
        backoff = self.policy.backoff(attempt, self.rng)
        return max(hinted, backoff * 0.1) if hinted is not None else backoff

    def _pause_for_hint(self, headers: Mapping[str, str]) -> None:
        if self.throttle_hint is None or not headers:
            return
        wait = self.throttle_hint(headers)
        if wait:
            self.sleep(wait)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


def refuse_plain_http(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "http" and (parts.hostname or "") not in LOOPBACK and not (parts.hostname or "").startswith("127."):
        raise FatalDestinationError(f"refusing plain http to {parts.hostname}: use https")


def _path(url: str) -> str:
    return urlsplit(url).path


def _snippet(content: bytes, limit: int = 300) -> str:
    return content[:limit].decode("utf-8", errors="replace")
