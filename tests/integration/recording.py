"""Records every request an emulator receives and every answer it gives, as the HTTP
server handed them over: what the contract tests validate against the vendors' specs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dbt_revsync.sandbox import Emulator, SandboxRequest, SandboxResponse


@dataclass(frozen=True)
class Exchange:
    request: SandboxRequest
    response: SandboxResponse

    @property
    def route(self) -> str:
        return f"{self.request.method} {self.response.route}"

    @property
    def body(self) -> Any:
        return self.request.json


class Recorder:
    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    def add(self, request: SandboxRequest, response: SandboxResponse) -> None:
        with self._lock:
            self.exchanges.append(Exchange(request, response))

    def on(self, route: str) -> list[Exchange]:
        """The exchanges of one route, e.g. ``POST contacts.batch_upsert``."""
        return [e for e in self.exchanges if e.route == route]

    def clear(self) -> None:
        with self._lock:
            self.exchanges.clear()


@contextmanager
def recording(emulator: Emulator) -> Iterator[Recorder]:
    """Record what ``emulator`` handles while the block runs."""
    recorder = Recorder()
    previous = emulator.__dict__.get("handle")  # an outer recording, if any
    original = emulator.handle

    def handle(request: SandboxRequest) -> SandboxResponse:
        response = original(request)
        recorder.add(request, response)
        return response

    emulator.handle = handle  # type: ignore[method-assign]
    try:
        yield recorder
    finally:
        if previous is None:
            del emulator.handle
        else:
            emulator.handle = previous  # type: ignore[method-assign]
