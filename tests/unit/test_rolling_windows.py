"""Rolling windows (``delivery.WindowLimiter`` and the client's use of them): a wait never
outlasts the retry budget, and a slot is only spent by a request that is actually sent, at
the moment it is sent."""

from __future__ import annotations

import pytest

from dbt_revsync.delivery import (
    BudgetSpent,
    HttpClient,
    RetryPolicy,
    Window,
    WindowLimiter,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_window_wait_under_contention_is_bounded_by_the_budget_given() -> None:
    """Another thread takes each slot that frees while this one sleeps: this one must give up
    once its whole budget (15 s) is spent, not wait 10 s again and again."""
    clock = Clock()
    limiter = WindowLimiter(Window(1, 10.0), clock=clock)
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        if len(waited) > 20:
            raise AssertionError(f"still waiting after {sum(waited):.0f} s: the 15 s budget is not enforced")
        waited.append(seconds)
        clock.now += seconds
        with limiter.lock:  # meanwhile another thread takes the slot that just freed
            limiter.sent.append(clock.now)

    limiter.sleep = sleep
    limiter.acquire(15.0, "GET /a")  # the first slot is free
    with pytest.raises(BudgetSpent):
        limiter.acquire(15.0, "GET /b")
    assert sum(waited) <= 15.0


def test_a_request_refused_by_its_family_window_spends_no_slot_of_the_connection() -> None:
    """Searches spent (1 per hour) while the connection allows 2 per hour: a refused search
    was never sent, so the connection still has room for a plain request."""
    clock = Clock()
    sent: list[str] = []

    def transport(
        method: str, url: str, headers: object, body: object, timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        sent.append(url)
        return 200, {}, b"{}"

    http = HttpClient(
        transport=transport,
        clock=clock,
        sleep=lambda s: None,
        policy=RetryPolicy(max_attempts=1, max_seconds=60),
        windows={"": (Window(2, 3600.0),), "search": (Window(1, 3600.0),)},
    )
    http.request("GET", "http://127.0.0.1:9/search", family="search")
    with pytest.raises(BudgetSpent):
        http.request("GET", "http://127.0.0.1:9/search", family="search")
    http.request("GET", "http://127.0.0.1:9/contacts/1")  # the connection's second slot is still free
    assert len(sent) == 2
    assert http.budget_spent is None


def test_a_slot_is_taken_when_the_request_goes_out_not_before_waiting_on_another_window() -> None:
    """Connection: 2 per 60 s; search: 1 per 50 s. A search that waits 50 s for its own window
    goes out at t=50; the connection's window must count it at t=50, so that by t=61 only one
    more request fits before t=110 (the vendor counts 3 sends in 60 s otherwise)."""
    clock = Clock()
    sends: list[float] = []

    def transport(
        method: str, url: str, headers: object, body: object, timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        sends.append(clock.now)
        return 200, {}, b"{}"

    def sleep(seconds: float) -> None:
        clock.now += seconds

    http = HttpClient(
        transport=transport,
        clock=clock,
        sleep=sleep,
        policy=RetryPolicy(max_attempts=1, max_seconds=600),
        windows={"": (Window(2, 60.0),), "search": (Window(1, 50.0),)},
    )
    http.request("GET", "http://127.0.0.1:9/search", family="search")  # t=0
    http.request("GET", "http://127.0.0.1:9/search", family="search")  # waits for the search window: t=50
    clock.now = 61.0
    http.request("GET", "http://127.0.0.1:9/contacts/1")  # the t=0 send has left the window
    http.request("GET", "http://127.0.0.1:9/contacts/2")
    for i, at in enumerate(sends):
        assert sum(1 for other in sends[i:] if other < at + 60.0) <= 2, sends
