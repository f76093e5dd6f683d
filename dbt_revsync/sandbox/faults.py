"""Fault injection: rules that make the sandbox answer as a failing CRM would.

A :class:`FaultRule` picks requests (emulator, method, path) and says what happens to them:
an error status instead of the emulator's answer, a delay, a dropped connection, the request
applied and then its answer dropped, replaced or stripped, or a hostile answer
(:mod:`dbt_revsync.sandbox.hostile`). :class:`FaultInjector` holds the active rules, and
:func:`answer_with_fault` answers a request a rule hit.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from dbt_revsync.sandbox.emulator import Emulator
from dbt_revsync.sandbox.hostile import (
    HOSTILE_ACTIONS,
    header_number,
    hostile_answer,
    validate_hostile,
)
from dbt_revsync.sandbox.messages import SandboxRequest, SandboxResponse, json_response

__all__ = [
    "ANSWER_FAULT_ACTIONS",
    "FAULT_ACTIONS",
    "FaultInjector",
    "FaultRule",
    "alter_answer",
    "answer_with_fault",
    "iter_rules",
]

# Faults on the answer (see "Answer faults" below): the emulator applies the request, then
# the answer it would send is replaced or stripped.
ANSWER_FAULT_ACTIONS = ("apply_then_answer", "apply_then_strip")

FAULT_ACTIONS = ("status", "delay", "drop", "apply_then_drop") + ANSWER_FAULT_ACTIONS


@dataclass
class FaultRule:
    """One fault to inject.

    A rule applies to a request when every filter given matches: ``prefix`` (the
    emulator), ``method``, and ``path``, a regex searched in the request path both
    with and without the emulator prefix (``"/contacts/upsert$"`` and
    ``"^/freshsales/contacts"`` both work).

    Actions:
      - ``status``: answer ``status`` (default 503) instead of the emulator, with
        ``body`` (default: the emulator's own error body), ``headers``, and a
        ``Retry-After`` header when ``retry_after`` is set. The emulator sees nothing.
      - ``delay``: wait ``seconds``, then let the emulator answer.
      - ``drop``: close the connection without an answer; the emulator sees nothing.
      - ``apply_then_drop``: let the emulator apply the request, then close the
        connection without sending its answer.
      - hostile answers (``HOSTILE_ACTIONS``): ``trickle`` sends the emulator's answer
        a few bytes at a time over ``seconds``; ``truncate`` sends half of it as a chunked
        body and closes; ``bad_gzip`` labels it gzip and sends garbage; ``huge`` answers
        ``status`` 200 with a body of ``size`` bytes (the emulator sees nothing); and
        ``echo_auth`` answers ``status`` with an error body echoing the request's
        credentials (the Authorization header, decoded Basic pair, URL and query).
      - ``apply_then_answer`` / ``apply_then_strip``: see ``alter_answer`` below.
    ``after``: the rule lets that many applicable requests through untouched first (a 401
    in the middle of a run). ``seconds`` also delays the other actions. ``times``: the rule expires after hitting
    that many requests (None: never). ``probability``: each applicable request is hit
    with that probability, drawn from ``random.Random(seed)``, so a seeded rule hits the
    same requests on every run.
    """

    action: str
    prefix: str | None = None
    method: str | None = None
    path: str | None = None
    status: int = 503
    retry_after: str | int | float | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    times: int | None = None
    after: int = 0
    probability: float | None = None
    seed: int | None = None
    size: int = 0  # bytes of a ``huge`` answer
    id: int = 0
    hits: int = 0
    seen: int = 0

    def __post_init__(self) -> None:
        self._validate()
        self.method = self.method.upper() if self.method else None
        self._pattern = re.compile(self.path) if self.path else None
        self._random = random.Random(self.seed)

    def _validate(self) -> None:
        if self.action not in FAULT_ACTIONS + HOSTILE_ACTIONS:
            raise ValueError(
                f"unknown fault action {self.action!r}; use one of {', '.join(FAULT_ACTIONS + HOSTILE_ACTIONS)}"
            )
        validate_hostile(self)
        if not isinstance(self.status, int) or not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, not {self.status!r}")
        if not isinstance(self.seconds, (int, float)) or self.seconds < 0:
            raise ValueError("seconds must be a non-negative number")
        if self.action == "delay" and not self.seconds:
            raise ValueError("a delay rule needs seconds > 0")
        if not isinstance(self.after, int) or self.after < 0:
            raise ValueError("after must be a non-negative integer")
        if self.times is not None and (not isinstance(self.times, int) or self.times < 1):
            raise ValueError("times must be a positive integer or null")
        if self.probability is not None and not 0 <= self.probability <= 1:
            raise ValueError("probability must lie between 0 and 1")
        check_answer_fault(self)
        if self.path is not None:
            try:
                re.compile(self.path)
            except re.error as exc:
                raise ValueError(f"path is not a valid regex: {exc}") from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultRule:
        """A rule from JSON; its counters (``id``, ``hits``, ``seen``) are ignored, unknown keys refused."""
        if not isinstance(data, Mapping):
            raise ValueError("a fault rule must be a JSON object")
        counters = {"id", "hits", "seen"}
        unknown = set(data) - {item.name for item in fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault rule field(s): {', '.join(sorted(unknown))}")
        if "action" not in data:
            raise ValueError("a fault rule needs an action")
        try:
            return cls(**{key: value for key, value in data.items() if key not in counters})
        except TypeError as exc:
            raise ValueError(str(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        return {item.name: getattr(self, item.name) for item in fields(self)}

    def applies_to(self, prefix: str, method: str, path: str) -> bool:
        if self.prefix is not None and self.prefix != prefix:
            return False
        if self.method is not None and self.method != method:
            return False
        if self._pattern is None:
            return True
        return bool(self._pattern.search(path) or self._pattern.search(f"/{prefix}{path}"))

    def roll(self) -> bool:
        return self.probability is None or self._random.random() < self.probability


def iter_rules(data: Any) -> Iterator[FaultRule]:
    """Fault rules from JSON-like data: one rule object or a list of them."""
    for item in data if isinstance(data, list) else [data]:
        yield FaultRule.from_dict(item)


class FaultInjector:
    """The active fault rules; the first rule that applies and rolls a hit wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def clear(self) -> int:
        with self._lock:
            count = len(self._rules)
            self._rules = []
            return count

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def take(self, prefix: str, method: str, path: str) -> FaultRule | None:
        """The rule that hits this request, if any; counts the hit and expires the rule."""
        with self._lock:
            for rule in self._rules:
                if not rule.applies_to(prefix, method, path):
                    continue
                rule.seen += 1
                if rule.seen > rule.after and rule.roll():
                    rule.hits += 1
                    if rule.times is not None and rule.hits >= rule.times:
                        self._rules.remove(rule)
                    return rule
            return None


def answer_with_fault(rule: FaultRule, emulator: Emulator, request: SandboxRequest) -> SandboxResponse | None:
    """The answer to a request ``rule`` hit (the hit already counted); None: close the
    connection without answering."""
    emulator.stats.record_fault(rule.action)
    if rule.action in HOSTILE_ACTIONS:
        return hostile_answer(emulator, rule, request)
    if rule.seconds:
        time.sleep(rule.seconds)
    if rule.action == "status":
        return _status_answer(emulator, rule)
    if rule.action == "drop":
        return None
    response = emulator.handle(request)
    if rule.action in ANSWER_FAULT_ACTIONS:
        return alter_answer(rule, response)
    return None if rule.action == "apply_then_drop" else response


# ---------------------------------------------------------------------------
# Answer faults: the CRM did the work, its answer does not say so
# ---------------------------------------------------------------------------


def check_answer_fault(rule: FaultRule) -> None:
    """``apply_then_strip`` needs ``body``: the list of JSON keys to strip."""
    if rule.action == "apply_then_strip" and (
        not isinstance(rule.body, list) or not rule.body or not all(isinstance(k, str) for k in rule.body)
    ):
        raise ValueError("an apply_then_strip rule needs body: a list of the JSON keys to strip")


def alter_answer(rule: FaultRule, response: SandboxResponse) -> SandboxResponse:
    """The emulator has applied the request (its records changed); the answer is altered.

    - ``apply_then_answer``: the answer is ``status`` with ``body`` instead (None: an empty
      body, a string: that text as is, e.g. an HTML page, else JSON) and ``headers``: a
      ``201`` with no body, a ``200`` maintenance page after the write went through.
    - ``apply_then_strip``: the emulator's own answer, with every key named in ``body``
      removed wherever it occurs in the JSON (an id, HubSpot's ``new``, Salesforce's
      ``created``); the status is kept.
    """
    if rule.action == "apply_then_answer":
        if rule.body is None:
            altered = SandboxResponse(status=rule.status, raw=b"")
        elif isinstance(rule.body, str):
            altered = SandboxResponse(
                status=rule.status, raw=rule.body.encode(), headers={"Content-Type": "text/plain"}
            )
        else:
            altered = json_response(rule.status, rule.body)
        altered.headers.update(rule.headers)
        altered.route = response.route
        return altered
    if response.raw is None and response.body is not None:
        response.body = _strip_keys(response.body, frozenset(rule.body))
    return response


def _strip_keys(node: Any, keys: frozenset[str]) -> Any:
    if isinstance(node, dict):
        return {k: _strip_keys(v, keys) for k, v in node.items() if k not in keys}
    if isinstance(node, list):
        return [_strip_keys(item, keys) for item in node]
    return node


def _status_answer(emulator: Emulator, rule: FaultRule) -> SandboxResponse:
    if rule.body is not None:
        response = (
            SandboxResponse(status=rule.status, raw=rule.body.encode(), headers={"Content-Type": "text/plain"})
            if isinstance(rule.body, str)
            else json_response(rule.status, rule.body)
        )
    elif rule.status == 429:
        response = emulator.rate_limited_response([])
    else:
        response = emulator.error_response(rule.status, "Injected fault")
    response.status = rule.status
    response.headers.update(rule.headers)
    if rule.retry_after is not None:
        response.headers["Retry-After"] = header_number(rule.retry_after)
    response.route = "fault"
    return response
