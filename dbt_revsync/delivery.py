"""All HTTP goes through here: pacing, retries, concurrency, and what an answer means.

``classify`` is the one place that maps an answer (status and body) to an ``Outcome``:

    DONE    2xx (and 304): the destination reads the body (which may still hold per-record errors)
    REJECT  a 4xx about the request itself (400, 404, 409, 413, 422, ...) or 300 (several
            records match): this record is bad, the push goes on
    RETRY   429, 408, 423, 425, 5xx, a timeout, a reset or refused connection, and a
            vendor's limit code in the body (``REQUEST_LIMIT_EXCEEDED`` on a 403, ...)
    FATAL   401, 403, a redirect, a TLS verification failure: nothing of this sync will
            work; stop it and go on with the others

``record_outcome`` does the same for one record's error code inside a batch answer.

``HttpClient.request`` retries RETRY answers with exponential backoff and full jitter,
honouring ``Retry-After`` and the vendor's rate-limit headers (which hold every thread of
the connection, not just the one that got them), within a bound on attempts and total
time; then it raises ``TransientDestinationError``. Every hold and wait is bounded by that
retry budget (a ``Retry-After`` of hours holds the connection at most ``max_seconds``).

Hostile answers are bounded too: each request has a wall-clock deadline (``timeout``
covers connecting, the headers and the whole body, read as a stream), the body read stops
at ``max_body_bytes``, and a truncated, badly encoded or otherwise broken answer is a
transport failure (retried), never an exception escaping to the runner. A header value no
HTTP request can carry (a line break, a non-latin-1 character: a bad secret) is FATAL,
named by the header, never shown. A ``CircuitBreaker`` counts
consecutive transient failures: once it opens, requests fail at once without being sent,
so an unreachable CRM costs a few retries, not a full backoff per record; the runner
resets it at the start of each sync. FATAL raises ``FatalDestinationError``. DONE and
REJECT come back as a ``Reply`` for the destination. The transport is injectable.

Library reuse: ``Retry-After`` is parsed by urllib3's ``Retry.parse_retry_after`` (seconds
or an HTTP date). urllib3's retrying itself is switched off (``max_retries=0``): a retry
here must see the classification, feed the rate limiter and the breaker, and be counted
per sync, which an adapter-level retry hides. The AIMD token bucket below is small
enough that no rate-limiter package pays for itself (none adapts its rate to 429s).
"""

from __future__ import annotations

import http.client
import ipaddress
import json as jsonlib
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import InvalidHeader
from urllib3.util import Retry

from dbt_revsync import events, logs
from dbt_revsync.errors import FatalDestinationError, TransientDestinationError
from dbt_revsync.model import RETRY_CODES

__all__ = [
    "FATAL_STATUSES",
    "MAX_BODY_BYTES",
    "RATE_LIMIT_HEADERS",
    "REDIRECTS",
    "RETRY_STATUSES",
    "BudgetSpent",
    "CircuitBreaker",
    "CircuitOpenError",
    "ConnectionRefused",
    "HttpClient",
    "Outcome",
    "RateLimiter",
    "Reply",
    "RequestsTransport",
    "RetryPolicy",
    "TlsError",
    "Transport",
    "TransportError",
    "UnsendableError",
    "Window",
    "WindowLimiter",
    "classify",
    "header_value_problem",
    "is_loopback",
    "rate_limit_wait",
    "record_outcome",
    "refuse_plain_http",
    "retry_after",
]

logger = logging.getLogger(__name__)


class Outcome(Enum):
    DONE = "done"
    REJECT = "reject"
    RETRY = "retry"
    FATAL = "fatal"


RETRY_STATUSES = frozenset({408, 423, 425, 429})
FATAL_STATUSES = frozenset({401, 403})
REDIRECTS = frozenset({301, 302, 303, 305, 307, 308})
_CODE_TOKENS = re.compile(r"\b[A-Z][A-Z_]{4,}\b")  # codes are upper case: prose never matches


def classify(status: int | None, body: bytes | str | None = None) -> Outcome:
    """What an answer means; ``status`` None means no answer at all (timeout, reset, refused).

    ``body`` matters only for an error: a vendor's limit code in it (``RETRY_CODES``)
    turns a 4xx into RETRY, so a 403 ``REQUEST_LIMIT_EXCEEDED`` waits instead of failing.
    """
    if status is None or status in RETRY_STATUSES or status >= 500:
        return Outcome.RETRY
    if status >= 400 and _names_retry_code(body):
        return Outcome.RETRY
    if status in FATAL_STATUSES or status in REDIRECTS:
        return Outcome.FATAL
    if status >= 400 or status == 300:
        return Outcome.REJECT
    return Outcome.DONE


def record_outcome(code: Any) -> Outcome:
    """One record's error inside a batch answer: RETRY for a limit or lock code, else REJECT."""
    return Outcome.RETRY if str(code).upper() in RETRY_CODES else Outcome.REJECT


def _names_retry_code(body: bytes | str | None) -> bool:
    if not body:
        return False
    text = body[:4000].decode("utf-8", errors="replace") if isinstance(body, bytes) else body[:4000]
    return any(token in RETRY_CODES for token in _CODE_TOKENS.findall(text))


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


class ConnectionRefused(TransportError):
    """Nothing accepted the connection at that host and port."""


class TlsError(TransportError):
    """The server's certificate did not verify: retrying cannot help."""


class UnsendableError(TransportError):
    """The request itself cannot be sent (a header value HTTP cannot carry, a URL that does
    not parse): retrying cannot help. The message names what, never the value."""


Transport = Callable[[str, str, Mapping[str, str], bytes | None, float], tuple[int, Mapping[str, str], bytes]]

MAX_BODY_BYTES = (
    64 * 1024 * 1024
)  # an answer larger than this (decoded) is not read whole: a Bulk API job's results fit
_READ_SIZE = 64 * 1024
# What a broken answer can raise while it is read: a reset, a truncated chunk, bad gzip, a
# malformed status line or header, a read timeout.
_BROKEN_ANSWER = (requests.RequestException, Urllib3Error, http.client.HTTPException, OSError, ValueError)


class RequestsTransport:
    """The default transport: one pooled ``requests.Session``; TLS verification always on,
    redirects never followed (a redirect could lead to plain http or another host).

    ``timeout`` is the request's wall-clock deadline, not only a bound on each socket read:
    the body is streamed and reading stops when the deadline passes (a server trickling its
    answer a byte at a time cannot hold a thread longer than that), or once ``max_body``
    decoded bytes have come (a huge answer never lands whole in memory)."""

    def __init__(self, pool_size: int, max_body: int = MAX_BODY_BYTES) -> None:
        self.session = requests.Session()
        self.max_body = max_body
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(pool_size, 1), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> tuple[int, Mapping[str, str], bytes]:
        deadline = time.monotonic() + timeout
        try:
            response = self.session.request(
                method,
                url,
                headers=dict(headers),
                data=body,
                timeout=timeout,
                verify=True,
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.SSLError:
            raise TlsError("TLS certificate verification failed") from None
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, UnicodeError) as exc:
            raise UnsendableError(_unsendable(exc)) from None
        except _BROKEN_ANSWER as exc:
            raise _no_answer(exc) from None
        try:
            content = self._read(response, deadline)
        except _BROKEN_ANSWER as exc:
            response.close()
            raise TransportError(f"{type(exc).__name__} while reading the answer") from None
        return response.status_code, response.headers, content

    def _read(self, response: requests.Response, deadline: float) -> bytes:
        """The body, decoded, within the deadline and the size bound (else TransportError)."""
        raw = response.raw
        parts: list[bytes] = []
        size = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                response.close()
                raise TransportError("DeadlineExceeded: the answer did not arrive in full within the timeout")
            _shrink_read_timeout(raw, remaining)
            chunk = raw.read1(_READ_SIZE, decode_content=True)
            if not chunk:  # the end of the answer: the connection goes back to the pool
                raw.release_conn()
                return b"".join(parts)
            size += len(chunk)
            if size > self.max_body:
                response.close()
                raise TransportError(f"AnswerTooLarge: the answer exceeded {self.max_body // (1024 * 1024)} MiB")
            parts.append(chunk)


def _shrink_read_timeout(raw: Any, remaining: float) -> None:
    """Bound the next socket read by what is left of the deadline (best effort: the
    connection's socket may already be gone, or wrapped by TLS)."""
    sock = getattr(getattr(raw, "_connection", None), "sock", None) or getattr(
        getattr(raw, "connection", None), "sock", None
    )
    if sock is not None:
        try:
            sock.settimeout(max(remaining, 0.01))
        except OSError:
            pass


def _no_answer(exc: BaseException) -> TransportError:
    """Why no answer came, in words that never carry the URL: ``connection refused`` (nothing
    listens at that host and port), else the exception's type."""
    return ConnectionRefused("connection refused") if _was_refused(exc) else TransportError(type(exc).__name__)


def _was_refused(exc: BaseException) -> bool:
    """Whether the operating system refused the connection: a ``ConnectionRefusedError``
    among the exceptions that led to ``exc`` (requests wraps urllib3's, which wraps it)."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return True
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending.extend(item for item in linked if isinstance(item, BaseException))
    return False


def _unsendable(exc: BaseException) -> str:
    """Why a request could not be sent, without the offending value."""
    if isinstance(exc, UnicodeError):
        return "a header or the URL holds a character HTTP cannot carry (not latin-1)"
    if isinstance(exc, requests.exceptions.InvalidHeader):
        return "a header value holds a line break or leading space"
    return "the URL is not valid"


class RateLimiter:
    """A token bucket that halves its rate when the vendor's 429s track our own pace, and
    creeps back to the set rate on each success (AIMD).

    ``hold(seconds)`` stops every caller until then: a ``Retry-After`` or an exhausted
    rate-limit window holds the whole connection, not just the thread that was told.

    Not every 429 is ours: another integration spending the same account's budget draws
    429s whatever our pace. So a 429 that says how long to wait is honoured by waiting, and
    slows the rate only when it comes right after such a wait (a request sent once the last
    hold ended, with no success in between: the wait was not enough, our pace is the
    problem). A 429 that says nothing slows the rate. Requests in flight when the rate was
    last lowered do not lower it again (one decrease per round, as TCP does), so a burst
    of 429s on concurrent requests halves the rate once, not once each.
    """

    def __init__(
        self,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.target = rate
        self.rate = rate
        self.capacity = max(1.0, rate or 1.0)
        self.tokens = 1.0  # start paced: a vendor's rolling window would count an opening burst too
        self.clock, self.sleep = clock, sleep
        self.stamp = clock()
        self.not_before = 0.0
        self.last_slow_down = float("-inf")  # when the rate was last lowered
        self.last_success = float("-inf")  # when an answer last came back without a 429
        self.lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self.lock:
                now = self.clock()
                wait = self.not_before - now
                if wait <= 0:
                    if self.rate is None:
                        return
                    self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                    self.stamp = now
                    if self.tokens >= 1 - 1e-9:  # tolerance: a float refill may land a hair short
                        self.tokens -= 1
                        return
                    wait = (1 - self.tokens) / self.rate
            self.sleep(wait)

    def hold(self, seconds: float) -> None:
        """Every caller waits until ``seconds`` from now (the caller bounds ``seconds``)."""
        with self.lock:
            self.not_before = max(self.not_before, self.clock() + max(0.0, seconds))

    def right_after_a_wait(self, sent_at: float) -> bool:
        """A request sent once the last hold had ended, with no success since it ended."""
        with self.lock:
            ended = self.not_before
            return ended > 0 and sent_at >= ended and self.last_success < ended

    def slow_down(self, sent_at: float | None = None) -> None:
        """Halve the rate (down to 1/64 of the target), unless the request that drew the 429
        was sent before the rate was last lowered."""
        with self.lock:
            if self.rate is None or (sent_at is not None and sent_at < self.last_slow_down):
                return
            self.rate = max(self.rate / 2, (self.target or 1) / 64)
            self.tokens = min(self.tokens, 0.0)
            self.last_slow_down = self.clock()

    def recover(self) -> None:
        with self.lock:
            self.last_success = self.clock()
            if self.rate is not None and self.target is not None and self.rate < self.target:
                self.rate = min(self.target, self.rate * 1.05)


@dataclass(frozen=True)
class Window:
    """A vendor's rolling limit: at most ``requests`` requests in any ``seconds``."""

    requests: int
    seconds: float

    def describe(self) -> str:
        unit = {1.0: "second", 60.0: "minute", 3600.0: "hour"}.get(float(self.seconds))
        return f"{self.requests} requests per {unit or f'{self.seconds:g} s'}"


class BudgetSpent(TransientDestinationError):
    """A request would wait longer than the retry budget for a rolling window to free a slot:
    the rest of the work waits for a later push (nothing was sent). ``wait``: seconds until a
    slot frees."""

    def __init__(self, message: str, wait: float = 0.0) -> None:
        super().__init__(message)
        self.wait = wait


class WindowLimiter:
    """The send times of the last ``window.requests`` requests; ``acquire`` waits until one
    more fits in ``window.seconds``. Callers spend the slot when they send, retries included,
    as the vendor counts them."""

    def __init__(
        self, window: Window, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.window = window
        self.sent: deque[float] = deque()
        self.clock, self.sleep = clock, sleep
        self.lock = threading.Lock()

    def wait_at(self, now: float) -> float:
        """Seconds from ``now`` until one more request fits (0: it fits now). Caller holds ``lock``."""
        while self.sent and self.sent[0] <= now - self.window.seconds:
            self.sent.popleft()
        return 0.0 if len(self.sent) < self.window.requests else self.sent[0] + self.window.seconds - now

    def spent(self, what: str, wait: float) -> BudgetSpent:
        return BudgetSpent(
            f"{what}: the vendor's limit of {self.window.describe()} is spent for the next {wait:.0f} s", wait
        )

    def acquire(self, max_wait: float, what: str) -> None:
        """Take a slot, waiting at most ``max_wait`` seconds in all (slots other threads take
        meanwhile do not extend it); BudgetSpent when no slot frees within it."""
        deadline = self.clock() + max_wait
        while True:
            with self.lock:
                now = self.clock()
                wait = self.wait_at(now)
                if wait <= 0:
                    self.sent.append(now)
                    return
            if wait > deadline - now:
                raise self.spent(what, wait)
            self.sleep(wait)


@dataclass
class RetryPolicy:
    """At most ``max_attempts`` tries a request, within ``max_seconds`` from the first."""

    max_attempts: int = 6
    max_seconds: float = 120.0
    base: float = 0.5
    cap: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: a random wait up to base * 2^attempt, capped."""
        return rng.uniform(0, min(self.cap, self.base * (2**attempt)))


class CircuitBreaker:
    """Opens after ``threshold`` consecutive transient failures (any thread); a success
    closes the count again. Open, it makes ``HttpClient`` fail at once without sending."""

    def __init__(self, threshold: int = 10) -> None:
        self.threshold = threshold
        self.failures = 0
        self.last: str = ""
        self.last_refused = False  # the last failure: a connection refused
        self.lock = threading.Lock()

    @property
    def open(self) -> bool:
        return self.failures >= self.threshold

    def failure(self, what: str, refused: bool = False) -> None:
        with self.lock:
            self.failures += 1
            self.last, self.last_refused = what, refused

    def success(self) -> None:
        with self.lock:
            if not self.open:
                self.failures = 0

    def reset(self) -> None:
        with self.lock:
            self.failures, self.last, self.last_refused = 0, "", False

    def describe(self) -> str:
        return f"stopped sending after {self.failures} consecutive failed requests (last: {self.last})"


class CircuitOpenError(TransientDestinationError):
    """Not sent: the connection's breaker is open."""


_RETRY_AFTER = Retry()


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    value = _header(headers, "Retry-After")
    if not value:
        return None
    try:
        return float(_RETRY_AFTER.parse_retry_after(value))
    except (InvalidHeader, ValueError, OverflowError):
        return None


# (remaining, reset) header pairs vendors use; reset is seconds from now, or an epoch time.
RATE_LIMIT_HEADERS = (
    ("X-RateLimit-Remaining", "X-RateLimit-Reset"),
    ("RateLimit-Remaining", "RateLimit-Reset"),
    ("X-HubSpot-RateLimit-Remaining", "X-HubSpot-RateLimit-Interval-Milliseconds"),
)


def rate_limit_wait(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait before the next request when the vendor's window is used up.

    Reads ``X-RateLimit-Remaining``/``-Reset`` (Pipedrive, Freshdesk and many others),
    the IETF ``RateLimit-*`` draft and HubSpot's ``X-HubSpot-RateLimit-*``. None when
    there is room left or the headers say nothing.
    """
    for remaining_name, reset_name in RATE_LIMIT_HEADERS:
        remaining = _number(_header(headers, remaining_name))
        if remaining is None or remaining > 0:
            continue
        reset = _number(_header(headers, reset_name))
        if reset is None:
            return 1.0
        if reset_name.endswith("Milliseconds"):
            return _rolling_slot(reset / 1000, _number(_header(headers, "X-HubSpot-RateLimit-Max")))
        return max(0.0, reset - now()) if reset > 10**8 else reset
    return None


def _rolling_slot(interval: float, limit: float | None) -> float:
    """A rolling window (HubSpot's 10 s) frees a slot as its oldest request ages out; a client
    paced at the window's rate needs to wait about one slot's share of it, not the whole
    interval. Without the window's size, wait the whole interval."""
    return interval / limit if limit and limit > 0 else interval


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


@dataclass
class HttpClient:
    """Paced, bounded and retried HTTP for one connection; shared by the threads of a push.

    ``attempts`` counts every request put on the wire (failed tries included); the runner
    reads it to report a sync's ``requests``.
    """

    rate_limit: float | None = None
    max_concurrency: int = 4
    timeout: float = 30.0
    secrets: frozenset[str] = frozenset()
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    transport: Transport | None = None
    throttle_hint: Callable[[Mapping[str, str]], float | None] | None = rate_limit_wait
    sleep: Callable[[float], None] = time.sleep
    seed: int | None = None
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    clock: Callable[[], float] = time.monotonic
    name: str = ""  # the connection's name, for the retry events
    max_body_bytes: int = MAX_BODY_BYTES  # the default transport reads no more of an answer
    # The vendor's rolling limits: family -> windows. "" holds for every request of the
    # connection; another family (``request(..., family="search")``) only for its requests.
    windows: Mapping[str, tuple[Window, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stopped = threading.Event()
        self.limiter = RateLimiter(self.rate_limit, clock=self.clock, sleep=self._pause)
        self.window_limiters = {
            family: tuple(WindowLimiter(w, clock=self.clock, sleep=self.sleep) for w in windows)
            for family, windows in self.windows.items()
        }
        self.slots = threading.BoundedSemaphore(self.max_concurrency)
        self.transport = self.transport or RequestsTransport(self.max_concurrency, self.max_body_bytes)
        self._sent_secrets: frozenset[str] = frozenset()  # credential header values sent, redacted too
        self.rng = random.Random(self.seed)
        self.attempts = 0
        self._count_lock = threading.Lock()
        self._spent: tuple[float, str] = (float("-inf"), "")  # (until, which limit): see budget_spent
        self._windows_lock = threading.Lock()  # slots are taken in every window at once

    def stop(self) -> None:
        """Send nothing more (the push was interrupted): a request not yet on the wire, or
        waiting to be retried, gives up at once as not delivered."""
        self.stopped.set()

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        family: str = "",
    ) -> Reply:
        """Send, retry and pace one request. ``family`` names the vendor's limit the request
        also counts against (a search, a list) besides the connection's own."""
        refuse_plain_http(url)
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(dict(params), doseq=True)}"
        body = jsonlib.dumps(json, ensure_ascii=False).encode() if json is not None else data
        sent_headers = {
            "Accept": "application/json",
            **({"Content-Type": "application/json"} if json is not None else {}),
            **(headers or {}),
        }
        self._check_headers(method, url, sent_headers)
        started = self.clock()
        for attempt in range(1, self.policy.max_attempts + 1):
            if self.stopped.is_set():
                raise TransientDestinationError(
                    self.redact(f"{method} {_path(url)} not sent: the push was interrupted")
                )
            if self.breaker.open:
                raise CircuitOpenError(
                    self.redact(f"{method} {_path(url)} not sent: {self.breaker.describe()}"),
                    refused=self.breaker.last_refused,
                )
            self._spend_windows(
                family, max(0.0, self.policy.max_seconds - (self.clock() - started)), f"{method} {_path(url)}"
            )
            sent_at = self.clock()
            refused = False
            try:
                status, reply_headers, content = self._once(method, url, sent_headers, body)
            except TransportError as exc:  # no answer
                status, reply_headers, content = None, {}, str(exc).encode()
                refused = isinstance(exc, ConnectionRefused)
            outcome = classify(status, content)
            if outcome is Outcome.DONE or outcome is Outcome.REJECT:
                self.breaker.success()
                self.limiter.recover()
                self._hold_for_hint(reply_headers)
                return Reply(status or 0, reply_headers, content, attempt)
            if outcome is Outcome.FATAL:
                raise FatalDestinationError(
                    self.redact(f"{method} {_path(url)} {_fatal_reason(status, content)}"), status
                )
            what = f"answered {status}" if status else f"got no answer ({content.decode(errors='replace')})"
            self.breaker.failure(self.redact(f"{method} {_path(url)} {what}"), refused)
            wait = self._retry_wait(status, reply_headers, attempt, sent_at)
            spent = self.clock() - started
            if attempt == self.policy.max_attempts or spent + wait > self.policy.max_seconds or self.breaker.open:
                raise TransientDestinationError(
                    self.redact(f"{method} {_path(url)} {what} after {attempt} attempts"), refused=refused
                )
            events.emit(
                "retry",
                f"retrying {method} {_path(url)} in {wait:.2f}s (attempt {attempt}, {status or 'no answer'})",
                connection=self.name,
                method=method,
                path=_path(url),
                attempt=attempt,
                status=status,
                wait_seconds=round(wait, 3),
            )
            self._pause(wait)
        raise AssertionError("unreachable")

    def _pause(self, seconds: float) -> None:
        """Every wait of the connection (a retry's, the pace's, a window's): an interrupted push
        waits out none of them; the request waiting gives up, not sent."""
        if self.stopped.is_set():
            raise TransientDestinationError("not sent: the push was interrupted")
        if self.sleep is time.sleep:
            self.stopped.wait(seconds)
        else:
            self.sleep(seconds)
        if self.stopped.is_set():
            raise TransientDestinationError("not sent: the push was interrupted")

    def _spend_windows(self, family: str, max_wait: float, what: str) -> None:
        """A slot in every window the request counts against (the connection's, its family's),
        taken in all of them at once and only when it fits in all: a request that is not sent
        spends no slot, and each window records the moment the request goes out. Waits at
        most ``max_wait`` seconds in all; BudgetSpent past that."""
        limiters = [
            (name, limiter) for name in dict.fromkeys(("", family)) for limiter in self.window_limiters.get(name, ())
        ]
        if not limiters:
            return
        deadline = self.clock() + max_wait
        while True:
            with self._windows_lock:
                now = self.clock()
                waits = [(limiter.wait_at(now), name, limiter) for name, limiter in limiters]
                if all(wait <= 0 for wait, _, _ in waits):
                    for _, limiter in limiters:
                        limiter.sent.append(now)
                    return
            left = deadline - now
            over = [(wait, name, limiter) for wait, name, limiter in waits if wait > left]
            if over:
                own = [(wait, limiter) for wait, name, limiter in over if name == ""]
                if own:  # the connection's own budget: nothing more goes out
                    wait, limiter = max(own, key=lambda item: item[0])
                    self._spent = (now + wait, limiter.window.describe())
                wait, _, limiter = max(over, key=lambda item: item[0])
                raise limiter.spent(what, wait)
            self._pause(max(wait for wait, _, _ in waits))

    @property
    def budget_spent(self) -> str | None:
        """While a window of the whole connection is spent (``BudgetSpent``), what it is and how
        long it stays so; None otherwise. The runner sends no more batches meanwhile."""
        until, what = self._spent
        left = until - self.clock()
        return f"the vendor's limit of {what} is spent for the next {left:.0f} s" if left > 0 else None

    def _once(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int | None, Mapping[str, str], bytes]:
        """One try on the wire; ``TransportError`` when no answer came."""
        self.limiter.acquire()
        with self.slots:
            if self.stopped.is_set():  # interrupted while waiting for its turn: never put on the wire
                raise TransientDestinationError(f"{method} {_path(url)} not sent: the push was interrupted")
            with self._count_lock:
                self.attempts += 1
            try:
                assert self.transport is not None
                return self.transport(method, url, headers, body, self.timeout)
            except (TlsError, UnsendableError) as exc:
                raise FatalDestinationError(f"{method} {_path(url)}: {exc}") from None

    def _retry_wait(
        self, status: int | None, headers: Mapping[str, str], attempt: int, sent_at: float | None = None
    ) -> float:
        """Full-jitter backoff, or the vendor's own wait (held for the whole connection, at
        most the retry budget: a vendor asking for hours never stalls the connection that long).

        A 429 slows the rate only when it tracks our own pace (see ``RateLimiter``)."""
        hinted = retry_after(headers)
        if hinted is None and self.throttle_hint is not None:
            hinted = self.throttle_hint(headers)
        if status == 429 and (hinted is None or sent_at is None or self.limiter.right_after_a_wait(sent_at)):
            self.limiter.slow_down(sent_at)
        backoff = self.policy.backoff(attempt, self.rng)
        if hinted is None or hinted != hinted:  # none, or NaN
            return backoff
        self.limiter.hold(min(hinted, self.policy.max_seconds))
        return hinted + backoff * 0.1

    def _hold_for_hint(self, headers: Mapping[str, str]) -> None:
        if self.throttle_hint is None or not headers:
            return
        wait = self.throttle_hint(headers)
        if wait and wait == wait:
            self.limiter.hold(min(wait, self.policy.cap, self.policy.max_seconds))

    def _check_headers(self, method: str, url: str, headers: Mapping[str, str]) -> None:
        """Refuse, naming the header and never its value, a value no HTTP request can carry;
        remember credential values, so an answer echoing one is redacted (a token fetched
        at run time is in no connection's secrets)."""
        for name, value in headers.items():
            text = str(value)
            if _CREDENTIAL_HEADER.search(name) and text not in self._sent_secrets:
                with self._count_lock:  # rebound, never changed in place: other threads iterate it
                    self._sent_secrets = self._sent_secrets | {text} | _credential_parts(text)
                logs.REDACTOR.add(self._sent_secrets)
            problem = header_value_problem(text)
            if problem:
                raise FatalDestinationError(f"{method} {_path(url)} not sent: the {name} header {problem}")

    def redact(self, text: str) -> str:
        return logs.redact(text, self.secrets | self._sent_secrets | logs.REDACTOR.secrets)


_CREDENTIAL_HEADER = re.compile(r"auth|token|key|secret|cookie|session", re.IGNORECASE)


def _credential_parts(value: str) -> set[str]:
    """``Bearer x``, ``Token token=x``, ``Basic x``: the credential after the scheme too."""
    parts = {value}
    scheme, _, rest = value.partition(" ")
    if rest:
        parts.add(rest.strip())
        parts.add(rest.split("=", 1)[-1].strip())
    return {part for part in parts if len(part) >= 8}


def header_value_problem(value: str) -> str | None:
    """Why ``value`` cannot go in an HTTP header, in words that never quote it; None if it can."""
    if any(ch in value for ch in "\r\n\0") or any(ord(ch) < 32 and ch != "\t" for ch in value):
        return "holds a line break or another control character (a trailing newline from the environment?)"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return "holds a character HTTP headers cannot carry (not latin-1: pasted from a document?)"
    return None


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (127.0.0.0/8, ::1); never a name like ``127.0.0.1.evil.com``."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_plain_http(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname or "")):
        what = "plain http" if parts.scheme == "http" else f"a {parts.scheme or 'relative'} URL"
        raise FatalDestinationError(f"refusing {what} to {parts.hostname}: use https")


def _fatal_reason(status: int | None, content: bytes) -> str:
    if status in REDIRECTS:
        return f"answered a redirect ({status}): point base_url at the API root itself"
    return f"answered {status}: {_snippet(content)}"


def _path(url: str) -> str:
    return urlsplit(url).path


def _snippet(content: bytes, limit: int = 300) -> str:
    return content[:limit].decode("utf-8", errors="replace")
