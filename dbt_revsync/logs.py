"""Logging set-up, done once by the CLI: stderr (text or JSON lines), secrets redacted."""

from __future__ import annotations

import base64
import json
import logging
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

from dbt_revsync.events import LOGGER_NAME

__all__ = ["REDACTED", "REDACTOR", "JsonFormatter", "Redactor", "redact", "secret_forms", "setup"]

REDACTED = "***"


class Redactor(logging.Filter):
    """Replaces every known secret value in a record's rendered message."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, secrets: Iterable[str]) -> None:
        """Register secrets and every form they travel in (see ``secret_forms``)."""
        forms = {form for secret in secrets for form in secret_forms(secret) if len(form) >= 4}
        if not forms <= self.secrets:  # rebound, never changed in place: other threads iterate it
            self.secrets = self.secrets | forms

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):  # an event's own fields are written beside the message
            record.fields = {k: self.redact(v) if isinstance(v, str) else v for k, v in fields.items()}
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, message, plus a record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", "log"),
            "message": record.getMessage(),
        }
        event.update(getattr(record, "fields", {}) or {})
        return REDACTOR.redact(json.dumps(event, default=str, ensure_ascii=False))


REDACTOR = Redactor()

# HTTP Basic pairs vendors build from an API key: Freshdesk ``key:X``, Freshsuccess ``api:key``.
_BASIC_PAIRS = ("{}:X", "api:{}", "{}:", "{}")


def secret_forms(secret: str) -> set[str]:
    """``secret`` and every form it can be echoed in: trimmed (a trailing newline from the
    environment), URL-encoded (in a path or query), escaped as JSON or Python text (an
    exception's repr), and base64 of the HTTP Basic pairs built from it."""
    if not secret:
        return set()
    forms = {secret}
    for value in {secret, secret.strip()} - {""}:
        forms.update(
            {
                value,
                quote(value, safe=""),
                quote(value),
                quote_plus(value),
                json.dumps(value)[1:-1],
                repr(value)[1:-1],
                value.encode("unicode_escape").decode("ascii"),
            }
        )
        for pattern in _BASIC_PAIRS:
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                encoded = encode(pattern.format(value).encode("utf-8")).decode("ascii")
                forms.update({encoded, encoded.rstrip("=")})
    return forms


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``***``, longest first."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def setup(level: str = "WARNING", fmt: str = "text", stream: TextIO | None = None) -> Redactor:
    """Text goes to stderr; JSON lines go to stdout, with every event of ``events.py``
    whatever the level (stdout then carries nothing else)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or (sys.stdout if fmt == "json" else sys.stderr))
    handler.addFilter(REDACTOR)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger(LOGGER_NAME).setLevel(logging.INFO if fmt == "json" else logging.NOTSET)
    return REDACTOR
