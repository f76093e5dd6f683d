"""delivery.py: what every answer means, retries, pacing, the breaker, redaction.

The transport is a plain function here (the pure retry logic is under test); the real
HTTP paths are covered by tests/integration/test_faults.py against the sandbox.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any

import pytest

from dbt_revsync.delivery import (
    BudgetSpent,
    CircuitBreaker,
    CircuitOpenError,
    ConnectionRefused,
    HttpClient,
    Outcome,
    RateLimiter,
    RetryPolicy,
    TlsError,
    TransportError,
    Window,
    classify,
    rate_limit_wait,
    record_outcome,
    retry_after,
)
from dbt_revsync.errors import FatalDestinationError, TransientDestinationError
from tests.unit.http_fakes import URL, Clock, Script, client

CLASSIFICATION = [
    # (status, body, outcome)  status None: no answer at all
    (200, b'{"contact": {"id": 1}}', Outcome.DONE),
    (201, b"", Outcome.DONE),
    (202, b'{"job_id": "x"}', Outcome.DONE),
    (204, b"", Outcome.DONE),
    (304, b"", Outcome.DONE),
    (
        300,
        b'["/services/data/v59.0/sobjects/Account/001", "/services/data/v59.0/sobjects/Account/002"]',
        Outcome.REJECT,
    ),
    (
        400,
        b'{"description": "Validation failed", "errors": [{"field": "email", "code": "invalid_value"}]}',
        Outcome.REJECT,
    ),
    (404, b'{"errors": {"code": 404, "message": "Record not found"}}', Outcome.REJECT),
    (409, b'{"status": "error", "category": "CONFLICT", "message": "Contact already exists"}', Outcome.REJECT),
    (413, b"payload too large", Outcome.REJECT),
    (
        422,
        b'[{"errorCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Name]"}]',
        Outcome.REJECT,
    ),
    (400, b'[{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access"}]', Outcome.RETRY),
    (401, b'{"errors": {"code": 401, "message": "Login failed"}}', Outcome.FATAL),
    (401, b"", Outcome.FATAL),
    (403, b'{"success": false, "error": "feature capping", "code": "feature_capping_deals_limit"}', Outcome.FATAL),
    (403, b'[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]', Outcome.RETRY),
    (301, b"", Outcome.FATAL),
    (302, b"", Outcome.FATAL),
    (308, b"", Outcome.FATAL),
    (408, b"", Outcome.RETRY),
    (423, b"", Outcome.RETRY),
    (425, b"", Outcome.RETRY),
    (429, b'{"errors": {"code": 429, "message": "Rate limit exceeded"}}', Outcome.RETRY),
    (429, b"", Outcome.RETRY),
    (500, b"<html>Internal Server Error</html>", Outcome.RETRY),
    (502, b"Bad Gateway", Outcome.RETRY),
    (503, b'{"message": "Service Unavailable"}', Outcome.RETRY),
    (504, b"", Outcome.RETRY),
    (None, b"ReadTimeout", Outcome.RETRY),
    (None, b"ConnectionError", Outcome.RETRY),
]


@pytest.mark.parametrize(("status", "body", "outcome"), CLASSIFICATION)
def test_every_answer_is_classified_in_one_place(status: int | None, body: bytes, outcome: Outcome) -> None:
    assert classify(status, body) is outcome


def test_a_limit_word_in_a_successful_body_changes_nothing() -> None:
    assert classify(200, b'{"note": "REQUEST_LIMIT_EXCEEDED is a code"}') is Outcome.DONE
    assert classify(400, "rate limit mentioned in prose, not as a code") is Outcome.REJECT
    assert classify(400, b'{"message": "request_limit_exceeded timeout is not a valid field"}') is Outcome.REJECT


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("UNABLE_TO_LOCK_ROW", Outcome.RETRY),
        ("request_limit_exceeded", Outcome.RETRY),
        ("DUPLICATE_VALUE", Outcome.REJECT),
        ("invalid_value", Outcome.REJECT),
        (400, Outcome.REJECT),
    ],
)
def test_a_records_error_in_a_batch_answer(code: Any, outcome: Outcome) -> None:
    assert record_outcome(code) is outcome


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after({"Retry-After": "3"}) == 3.0
    assert retry_after({"retry-after": "0"}) == 0.0
    later = retry_after({"Retry-After": formatdate(timeval=__import__("time").time() + 30, usegmt=True)})
    assert later is not None and 25 <= later <= 31
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({}) is None


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"}, 2.0),  # Pipedrive: seconds
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1000000060"}, 60.0),  # epoch time
        ({"RateLimit-Remaining": "0", "RateLimit-Reset": "5"}, 5.0),
        ({"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}, 10.0),
        (
            {
                "X-HubSpot-RateLimit-Remaining": "0",
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                "X-HubSpot-RateLimit-Max": "100",
            },
            0.1,
        ),  # a rolling window: one slot's share of it
        ({"X-RateLimit-Remaining": "0"}, 1.0),  # Freshdesk: no reset header
        ({"X-RateLimit-Remaining": "12", "X-RateLimit-Reset": "2"}, None),
        ({"Sforce-Limit-Info": "api-usage=10/100000"}, None),
        ({}, None),
    ],
)
def test_vendor_rate_limit_headers(headers: Mapping[str, str], wait: float | None) -> None:
    assert rate_limit_wait(headers, now=lambda: 1_000_000_000.0) == wait


# ---- the client, over a scripted transport --------------------------------------------------


def test_retries_transient_answers_then_returns_the_reply() -> None:
    sleeps: list[float] = []
    script = Script((503, {}, b""), TransportError("ReadTimeout"), (200, {}, b'{"ok": true}'))
    http = client(script, sleeps)
    reply = http.request("POST", URL, json={"a": 1})
    assert (reply.status, reply.attempts, reply.json()) == (200, 3, {"ok": True})
    assert len(sleeps) == 2 and all(0 <= s <= 30 for s in sleeps)
    assert http.attempts == 3


def test_retry_after_is_honoured_and_holds_the_connection() -> None:
    sleeps: list[float] = []
    http = client(Script((429, {"Retry-After": "7"}, b""), (200, {}, b"")), sleeps)
    assert http.request("GET", URL).status == 200
    assert 7 <= sleeps[0] <= 7 + 0.1 * 30
    assert http.limiter.not_before == 7  # every thread waits, not just this one


def test_attempts_are_bounded_in_count_and_in_time() -> None:
    sleeps: list[float] = []
    http = client(Script((502, {}, b"bad gateway")), sleeps)
    with pytest.raises(TransientDestinationError, match="answered 502 after 4 attempts"):
        http.request("GET", URL)
    assert http.attempts == 4
    slow = client(Script((429, {"Retry-After": "100"}, b"")), [], policy=RetryPolicy(max_attempts=10, max_seconds=30))
    with pytest.raises(TransientDestinationError, match="after 1 attempts"):
        slow.request("GET", URL)


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    policy = RetryPolicy(base=0.5, cap=4)
    rng = random.Random(1)
    waits = [[policy.backoff(attempt, rng) for _ in range(200)] for attempt in range(1, 6)]
    assert [round(max(w), 1) for w in waits] == pytest.approx([1.0, 2.0, 4.0, 4.0, 4.0], abs=0.1)
    assert all(min(w) < 0.2 for w in waits)


def test_401_and_403_are_fatal_at_once_and_redacted() -> None:
    http = client(Script((401, {}, b'{"message": "bad token s3cr3t-t0ken"}')), [], secrets=frozenset({"s3cr3t-t0ken"}))
    with pytest.raises(FatalDestinationError) as raised:
        http.request("GET", URL, headers={"Authorization": "Bearer s3cr3t-t0ken"})
    assert "s3cr3t-t0ken" not in str(raised.value) and "***" in str(raised.value)
    assert http.attempts == 1


def test_a_tls_failure_is_fatal_not_retried() -> None:
    http = client(Script(TlsError("TLS certificate verification failed")), [])
    with pytest.raises(FatalDestinationError, match="TLS"):
        http.request("GET", "https://crm.example.com/x")
    assert http.attempts == 1


def test_plain_http_is_refused_except_to_loopback() -> None:
    script = Script((200, {}, b""))
    http = client(script, [])
    for url in ("http://crm.example.com/x", "http://10.0.0.8/x", "http://127.0.0.1.example.com/x"):
        with pytest.raises(FatalDestinationError, match="plain http"):
            http.request("GET", url)
    assert script.calls == []
    for url in ("http://127.0.0.1:1/x", "http://localhost:1/x", "http://[::1]:1/x", "https://crm.example.com/x"):
        http.request("GET", url)
    assert len(script.calls) == 4


def test_the_breaker_opens_after_consecutive_failures_and_sends_nothing_more() -> None:
    sleeps: list[float] = []
    script = Script(TransportError("ConnectionError"))
    http = client(script, sleeps, breaker=CircuitBreaker(threshold=5))
    with pytest.raises(TransientDestinationError):
        http.request("GET", URL)  # 4 attempts
    with pytest.raises(TransientDestinationError):
        http.request("GET", URL)  # the 5th failure opens it
    assert http.attempts == 5 and http.breaker.open
    with pytest.raises(CircuitOpenError, match="5 consecutive failed requests"):
        http.request("GET", URL)
    assert http.attempts == 5
    http.breaker.reset()
    script.answers = [(200, {}, b"")]
    assert http.request("GET", URL).status == 200


def test_a_success_closes_the_count() -> None:
    http = client(Script((503, {}, b""), (503, {}, b""), (200, {}, b"")), [], breaker=CircuitBreaker(threshold=3))
    http.request("GET", URL)
    assert http.breaker.failures == 0 and not http.breaker.open


def test_rate_limit_headers_on_a_success_hold_the_next_request() -> None:
    http = client(Script((200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"}, b"")), [])
    http.request("GET", URL)
    assert http.limiter.not_before == 2


def test_the_limiter_paces_slows_on_429_and_recovers() -> None:
    clock = Clock()
    limiter = RateLimiter(10.0, clock=clock, sleep=clock.sleep)
    for _ in range(30):
        limiter.acquire()
    assert 2.8 <= clock.now <= 3.0  # no opening burst: one at once, then 10 a second
    limiter.slow_down()
    assert limiter.rate == 5.0
    for _ in range(100):
        limiter.recover()
    assert limiter.rate == 10.0
    limiter.hold(3)
    start = clock.now
    limiter.acquire()
    assert clock.now - start >= 3


def test_a_rolling_window_spaces_requests_of_its_family_only() -> None:
    """3 searches per 2 s: the fourth search waits for the first to leave the window; a
    request of another family does not count against it."""
    sleeps: list[float] = []
    http = client(Script((200, {}, b"{}")), sleeps, windows={"search": (Window(3, 2.0),)})
    for _ in range(3):
        http.request("POST", URL, json={}, family="search")
    http.request("POST", URL, json={})
    assert sleeps == []
    http.request("POST", URL, json={}, family="search")
    assert sleeps == [pytest.approx(2.0)]


def test_every_request_counts_against_the_connections_window_retries_included() -> None:
    sleeps: list[float] = []
    script = Script((503, {}, b""), (200, {}, b"{}"))
    http = client(
        script, sleeps, windows={"": (Window(2, 60.0),)}, policy=RetryPolicy(max_attempts=4, max_seconds=600, base=0.0)
    )
    http.request("POST", URL, json={})  # two sends: the 503 and its retry
    http.request("POST", URL, json={}, family="search")
    assert sleeps[-1] == pytest.approx(60.0)


def test_a_window_spent_beyond_the_retry_budget_stops_without_sending() -> None:
    sleeps: list[float] = []
    script = Script((200, {}, b"{}"))
    http = client(
        script, sleeps, windows={"": (Window(1, 3600.0),)}, policy=RetryPolicy(max_attempts=4, max_seconds=120)
    )
    http.request("GET", URL)
    with pytest.raises(BudgetSpent, match="1 requests per hour is spent"):
        http.request("GET", URL)
    assert len(script.calls) == 1 and sleeps == []


def test_a_stopped_client_sends_nothing_more_and_gives_up_a_retry_wait_at_once() -> None:
    import threading
    import time

    script = Script(TransportError("connection refused"))
    http = HttpClient(transport=script, policy=RetryPolicy(max_attempts=4, max_seconds=60, base=30, cap=30), seed=7)
    threading.Timer(0.3, http.stop).start()
    started = time.monotonic()
    with pytest.raises(TransientDestinationError, match="not sent: the push was interrupted"):
        http.request("GET", URL)  # the first try fails, its 30 s retry wait is cut short by stop()
    assert time.monotonic() - started < 2 and http.attempts == 1
    with pytest.raises(TransientDestinationError, match="interrupted"):
        http.request("GET", URL)
    assert http.attempts == 1


def test_a_refused_connection_is_named_without_the_url() -> None:
    import requests

    from dbt_revsync.delivery import RequestsTransport

    with pytest.raises(ConnectionRefused) as caught:
        RequestsTransport(1)("GET", "http://127.0.0.1:1/x?token=secret", {}, None, 2.0)
    assert str(caught.value) == "connection refused"
    assert requests  # the default transport's own library


@pytest.mark.parametrize(
    ("no_answer", "refused"),
    [
        (ConnectionRefused("connection refused"), True),
        (TransportError("ReadTimeout"), False),
        (TransportError("connection refused"), False),  # the words alone are not the fact
    ],
)
def test_a_request_whose_every_try_was_refused_says_so_and_so_does_the_breaker(
    no_answer: TransportError, refused: bool
) -> None:
    http = client(Script(no_answer), [], breaker=CircuitBreaker(threshold=5))
    with pytest.raises(TransientDestinationError) as spent:
        http.request("GET", URL)  # 4 attempts
    assert spent.value.refused is refused
    with pytest.raises(TransientDestinationError):
        http.request("GET", URL)  # the 5th failure opens the breaker
    with pytest.raises(CircuitOpenError) as stopped:
        http.request("GET", URL)
    assert stopped.value.refused is refused


def test_a_refusal_then_another_failure_is_not_a_refusal() -> None:
    refusal = ConnectionRefused("connection refused")
    script = Script(refusal, refusal, TransportError("ReadTimeout"))  # the last is answered again
    http = client(script, [], breaker=CircuitBreaker(threshold=50))
    with pytest.raises(TransientDestinationError) as spent:
        http.request("GET", URL)
    assert http.attempts == 4 and not spent.value.refused


def test_an_interrupted_push_waits_out_no_window_and_sends_nothing_more() -> None:
    """Ctrl-C while a request waits for a spent window's slot: it gives up at once, unsent."""
    import threading
    import time as clock

    script = Script((200, {}, b"{}"))
    http = HttpClient(
        transport=script, windows={"": (Window(1, 30.0),)}, policy=RetryPolicy(max_attempts=2, max_seconds=60)
    )
    http.request("GET", URL)
    threading.Timer(0.2, http.stop).start()
    began = clock.monotonic()
    with pytest.raises(TransientDestinationError, match="interrupted"):
        http.request("GET", URL)
    assert clock.monotonic() - began < 5 and len(script.calls) == 1
