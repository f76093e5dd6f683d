"""Routes: a method of a class declared, with :func:`route`, as the handler of a verb and a path.

The emulators and the sandbox's admin API declare their endpoints the same way::

    @route("GET", r"/people/(?P<record_id>\\d+)", "people.view")
    def view(self, request: SandboxRequest, record_id: str) -> SandboxResponse:
        ...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from dbt_revsync.sandbox.messages import SandboxResponse

__all__ = ["Route", "collect_routes", "find_route", "route"]

HandlerT = TypeVar("HandlerT", bound=Callable[..., SandboxResponse])

_ROUTE_ATTRIBUTE = "__sandbox_routes__"


@dataclass(frozen=True)
class Route:
    """``method`` + a regex matched against the whole path; ``name`` is a format
    string over the regex's named groups (``"{resource}.create"``) used in the stats."""

    method: str
    pattern: re.Pattern[str]
    name: str
    handler: str  # the method's name, looked up per instance so overrides work

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None

    def label(self, params: Mapping[str, str]) -> str:
        try:
            return self.name.format(**params)
        except (KeyError, IndexError):
            return self.name


def route(method: str, pattern: str, name: str) -> Callable[[HandlerT], HandlerT]:
    """Declare a method as the handler of ``method`` + ``pattern``.

    The handler is called as ``handler(request, **named_groups)``. A method may carry
    several routes; routes are tried in the order they are defined.
    """

    def decorate(function: HandlerT) -> HandlerT:
        declared = list(getattr(function, _ROUTE_ATTRIBUTE, []))
        declared.append((method.upper(), pattern, name))
        setattr(function, _ROUTE_ATTRIBUTE, declared)
        return function

    return decorate


def collect_routes(cls: type) -> Iterator[Route]:
    """The routes declared on ``cls`` and its bases, in definition order.

    The most derived declaration of a handler's routes wins; a subclass that overrides a
    handler without @route keeps the routes its base declared."""
    seen: set[str] = set()
    for klass in cls.__mro__:
        for attribute, value in vars(klass).items():
            declared = getattr(value, _ROUTE_ATTRIBUTE, ())
            if attribute in seen or not declared:
                continue
            seen.add(attribute)
            for method, pattern, name in declared:
                yield Route(method, re.compile(pattern), name, attribute)


def find_route(routes: Sequence[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The first route that takes ``method`` + ``path``, with the path's named groups."""
    for candidate in routes:
        params = candidate.match(method, path)
        if params is not None:
            return candidate, params
    return None
