"""What an emulator reads and writes: an HTTP request and its answer, with no sockets in sight."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

__all__ = ["Headers", "RequestRejected", "SandboxRequest", "SandboxResponse", "json_response"]


class Headers(Mapping[str, str]):
    """Read-only HTTP headers with case-insensitive names."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        pairs = items.items() if isinstance(items, Mapping) else (items or ())
        self._items: dict[str, tuple[str, str]] = {name.lower(): (name, value) for name, value in pairs}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass
class SandboxRequest:
    """One HTTP request, as an emulator sees it.

    ``path`` is the part below the emulator's prefix (``/contacts/1`` for
    ``/freshsales/contacts/1``). ``query`` holds the first value of each query
    parameter, ``query_all`` every value. When ``body`` is not empty it is parsed as
    JSON into ``json``; if that fails, ``json`` is None and ``json_error`` says why.
    """

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=Headers)
    body: bytes = b""
    json: Any = None
    json_error: str | None = None
    query_all: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if not isinstance(self.headers, Headers):
            self.headers = Headers(self.headers)
        if self.body.strip() and self.json is None:
            self._parse_body()
        elif self.json is not None and not self.body:
            self.body = json.dumps(self.json).encode()
        if self.query and not self.query_all:
            self.query_all = {key: [value] for key, value in self.query.items()}

    def _parse_body(self) -> None:
        try:
            self.json = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            self.json_error = f"Malformed JSON body: {exc}"

    @property
    def has_body(self) -> bool:
        return bool(self.body.strip())

    @classmethod
    def from_http(
        cls, method: str, path: str, query_string: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> SandboxRequest:
        """Build a request from the pieces an HTTP server has at hand."""
        query_all = parse_qs(query_string, keep_blank_values=True)
        query = {key: values[0] for key, values in query_all.items()}
        return cls(
            method=method, path=path or "/", query=query, headers=Headers(headers), body=body, query_all=query_all
        )


@dataclass
class SandboxResponse:
    """An emulator's answer.

    ``body`` is sent as JSON unless it is None; ``raw`` (bytes) is sent as is and wins
    over ``body``. ``route`` is filled in by :meth:`Emulator.handle` for the stats.
    """

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    route: str = ""

    def encode(self) -> tuple[bytes, dict[str, str]]:
        """The bytes to send and the headers to send with them (Content-Type included)."""
        headers = dict(self.headers)
        has_type = any(name.lower() == "content-type" for name in headers)
        if self.raw is not None:
            payload = self.raw
            if not has_type:
                headers["Content-Type"] = "application/octet-stream"
        elif self.body is not None:
            payload = json.dumps(self.body).encode("utf-8")
            if not has_type:
                headers["Content-Type"] = "application/json; charset=utf-8"
        else:
            payload = b""
        return payload, headers


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> SandboxResponse:
    """A JSON answer."""
    return SandboxResponse(status=status, body=body, headers=dict(headers or {}))


class RequestRejected(Exception):
    """Raised by a route handler to answer with the emulator's own error body.

    The emulator turns it into ``error_response(status, message)``; pass ``response``
    to answer with something else entirely.
    """

    def __init__(self, status: int, message: str, response: SandboxResponse | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.response = response
