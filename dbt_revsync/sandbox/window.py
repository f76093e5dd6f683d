"""The emulators' rate limits: one sliding-window primitive, and the quota built from it.

:class:`RollingWindow` counts the requests let in during the last ``seconds`` (a
sliding-window log): a vendor's own short window (HubSpot's 10 s, Pipedrive's 2 s) is one.
:class:`Quota` holds an emulator to its :class:`Limits`, a window per rolling minute and
per rolling hour, a request let in only when every window has room.

Refused requests are never counted, so a client that backs off gets in again as soon as the
oldest counted request leaves the window. (The client's side of a limit, the token bucket
that paces requests, is ``dbt_revsync.delivery.RateLimiter``.)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["Clock", "Limits", "Quota", "RollingWindow", "WindowState"]

Clock = Callable[[], float]


@dataclass(frozen=True)
class Limits:
    """Requests allowed per rolling minute and per rolling hour; None = unlimited."""

    per_minute: int | None = None
    per_hour: int | None = None

    def __post_init__(self) -> None:
        for name in ("per_minute", "per_hour"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer or null, not {value!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Limits:
        unknown = set(data) - {"per_minute", "per_hour", "prefix"}
        if unknown:
            raise ValueError(f"unknown limit field(s): {', '.join(sorted(unknown))}")
        return cls(per_minute=data.get("per_minute"), per_hour=data.get("per_hour"))

    def as_dict(self) -> dict[str, int | None]:
        return {"per_minute": self.per_minute, "per_hour": self.per_hour}


@dataclass(frozen=True)
class WindowState:
    """One window as it stood when a request was checked."""

    name: str  # "minute", "hour", or "" for a window of its own
    seconds: float  # the window's length
    limit: int
    used: int  # requests counted in the window, the current one included if it was let in
    reset_after: float  # seconds until the oldest counted request leaves the window
    allowed: bool = True  # whether the request was let in

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


class RollingWindow:
    """Requests let in during the last ``seconds``, at most ``limit`` of them.

    It refuses only when ``enforce`` is on: an emulator reports a vendor's short window in
    its rate-limit headers only when the vendor's published limits were asked for, and a
    window nobody enforces must not slow a client down.
    """

    def __init__(
        self, limit: int, seconds: float, enforce: bool = False, clock: Clock = time.monotonic, name: str = ""
    ) -> None:
        self.limit, self.seconds, self.enforce, self.name = limit, seconds, enforce, name
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: deque[float] = deque()

    def hit(self) -> WindowState:
        """Count a request if the window has room (or does not enforce); return its state."""
        with self._lock:
            return hit_together((self,), self._clock())[0]

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()

    def _slide(self, now: float) -> None:
        while self._seen and self._seen[0] <= now - self.seconds:
            self._seen.popleft()

    def _has_room(self) -> bool:
        return not self.enforce or len(self._seen) < self.limit

    def _state(self, now: float, allowed: bool) -> WindowState:
        reset_after = max(self._seen[0] + self.seconds - now, 0.0) if self._seen else 0.0
        return WindowState(
            name=self.name,
            seconds=self.seconds,
            limit=self.limit,
            used=len(self._seen),
            reset_after=reset_after,
            allowed=allowed,
        )


def hit_together(windows: Sequence[RollingWindow], now: float) -> list[WindowState]:
    """Count one request at ``now`` in every window if each has room; their states after.
    The caller holds whatever lock keeps the windows still."""
    for window in windows:
        window._slide(now)
    allowed = all(window._has_room() for window in windows)
    if allowed:
        for window in windows:
            window._seen.append(now)
    return [window._state(now, allowed) for window in windows]


class Quota:
    """An emulator's :class:`Limits` in force: an enforced :class:`RollingWindow` per rolling
    minute and per rolling hour that has a limit. Changing the limits forgets the history."""

    SPANS: ClassVar[tuple[tuple[str, int, str], ...]] = (
        ("minute", 60, "per_minute"),
        ("hour", 3600, "per_hour"),
    )

    def __init__(self, limits: Limits | None = None, clock: Clock = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._limits = limits or Limits()
        self._windows: tuple[RollingWindow, ...] = self._build()

    @property
    def limits(self) -> Limits:
        return self._limits

    def set_limits(self, limits: Limits) -> None:
        with self._lock:
            self._limits = limits
            self._windows = self._build()

    def reset(self) -> None:
        """Forget the requests counted so far; keep the limits."""
        with self._lock:
            self._windows = self._build()

    def _build(self) -> tuple[RollingWindow, ...]:
        return tuple(
            RollingWindow(limit, seconds, enforce=True, clock=self._clock, name=name)
            for name, seconds, attribute in self.SPANS
            if (limit := getattr(self._limits, attribute)) is not None
        )

    def acquire(self) -> tuple[bool, list[WindowState]]:
        """Count a request if every window has room; return (let in, window states)."""
        with self._lock:
            states = hit_together(self._windows, self._clock())
            return all(state.allowed for state in states), states
