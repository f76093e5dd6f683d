"""The exceptions dbt-revsync raises.

    RevsyncError                      every error the product raises on purpose
    ├── UsageError                    bad command-line use                      (exit 2)
    ├── ConfigError                   one or more sync/connection mistakes      (exit 2)
    ├── ManifestError                 dbt artifacts missing, unreadable, unknown version (exit 2)
    ├── WarehouseError                the warehouse refused a query or is unreachable
    └── DestinationError              a CRM could not be reached or refused us
        ├── TransientDestinationError retry later: 429, 5xx, timeout, reset; the batch stays
        │                             uncommitted and is sent again by the next push
        │                             (``refused``: no connection was accepted)
        └── FatalDestinationError     401/403 and alike: stop this sync, go on with others

A rejected record is never an exception: it is a value in a ``BatchResult``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "DestinationError",
    "FatalDestinationError",
    "ManifestError",
    "RevsyncError",
    "TransientDestinationError",
    "UsageError",
    "WarehouseError",
    "did_you_mean",
    "raise_if",
]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to a mistyped ``word``, else ``""``.

    Case and ``_``/``-`` are ignored when comparing (``lastname`` finds ``last_name``)."""
    folded = {_fold(choice): choice for choice in choices}
    close = difflib.get_close_matches(_fold(word), list(folded), n=1, cutoff=0.75)
    return f" (did you mean {folded[close[0]]!r}?)" if close and folded[close[0]] != word else ""


def _fold(word: str) -> str:
    return word.lower().replace("_", "").replace("-", "")


class RevsyncError(Exception):
    """Root of every error dbt-revsync raises on purpose."""


class UsageError(RevsyncError):
    pass


@dataclass(frozen=True)
class ConfigIssue:
    """One configuration mistake, located as precisely as we can."""

    message: str
    where: str = ""  # model/connection name
    file: str = ""  # YAML file at fault
    key: str = ""  # dotted key at fault
    connection: str = ""  # the connection at fault, when the mistake is in one

    def __str__(self) -> str:
        place = ", ".join(part for part in (self.where, self.file, self.key and f"key '{self.key}'") if part)
        return f"{place}: {self.message}" if place else self.message


class ConfigError(RevsyncError):
    """Every configuration mistake found, reported together."""

    def __init__(self, issues: list[ConfigIssue] | ConfigIssue | str) -> None:
        if isinstance(issues, (ConfigIssue, str)):
            issues = [issues if isinstance(issues, ConfigIssue) else ConfigIssue(issues)]
        self.issues = list(issues)
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.issues)
        head = f"{count} configuration error{'s' if count != 1 else ''}:"
        return "\n".join([head, *(f"  - {issue}" for issue in self.issues)])


def raise_if(issues: list[ConfigIssue]) -> None:
    """Raise every issue found as one ``ConfigError``; nothing when there is none."""
    if issues:
        raise ConfigError(issues)


class ManifestError(RevsyncError):
    pass


class WarehouseError(RevsyncError):
    pass


class DestinationError(RevsyncError):
    pass


class TransientDestinationError(DestinationError):
    """The destination may accept the same request later.

    ``refused``: the last try found nothing accepting connections where the request went
    (a wrong host or port, a server not started)."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class FatalDestinationError(DestinationError):
    """The destination will refuse every request of this sync (bad credentials, no access).

    ``status`` is the HTTP status that made it fatal, when there was one (a connector may
    renew an expired token on a 401 and try once more).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
