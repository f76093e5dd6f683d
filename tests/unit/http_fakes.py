"""An HTTP client over a scripted transport and a fake clock, for the delivery tests: no
socket is opened and no time passes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dbt_revsync.delivery import HttpClient, RetryPolicy


class Script:
    """Answers from a list, in order; an exception instance is raised instead of answered."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str, Mapping[str, str]]] = []

    def __call__(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float) -> Any:
        self.calls.append((method, url, headers))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        status, answer_headers, content = answer
        return status, answer_headers, content


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def client(script: Script, sleeps: list[float], **options: Any) -> HttpClient:
    """A client on a fake clock: ``sleeps`` records every wait, and waiting moves the clock."""
    policy = options.pop("policy", RetryPolicy(max_attempts=4, max_seconds=60))
    clock = Clock()

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.sleep(seconds)

    return HttpClient(transport=script, sleep=sleep, clock=clock, seed=7, policy=policy, **options)


URL = "http://127.0.0.1:9/crm/contacts"
