"""Structured events for orchestrators: under ``--log-format json`` each is one JSON line.

Every line carries ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``event`` and ``message``,
plus the event's own fields, listed in ``FIELDS``. Those names are a stable interface:
fields may be added, none is renamed or removed without a changelog entry.

- ``status`` of a sync is success (every change delivered), rejected (some rows rejected,
  every other one delivered), partial (rows left for the next push), failed, or interrupted
  (Ctrl-C: what was acknowledged is committed); ``reason`` says why it did not succeed
  (null when it did).
- ``status`` of a retry is the HTTP status, or null when no answer came (timeout, reset).
- ``sync_held``: failing tests (or a failed build) held a sync back; ``reason`` says which.
- ``error`` is a configuration or usage error that stopped the command; ``message`` says it.
"""

from __future__ import annotations

import logging
from typing import Any

from dbt_revsync.model import COUNTS

__all__ = ["COMMON", "FIELDS", "LOGGER_NAME", "emit"]

LOGGER_NAME = "dbt_revsync.events"
COMMON = ("ts", "level", "logger", "event", "message")
FIELDS: dict[str, tuple[str, ...]] = {
    "sync_started": (
        "sync_id",
        "sync",
        "model",
        "destination",
        "object",
        "insert_mode",
        "fetch_mode",
        "run_id",
        "dry_run",
    ),
    "batch_done": ("sync_id", "run_id", "created", "updated", "deleted", "rejected", "unresolved", "requests"),
    "reject": ("sync_id", "run_id", "record_key", "operation", "error_code", "error_message"),
    "retry": ("connection", "method", "path", "attempt", "status", "wait_seconds"),
    "sync_finished": ("sync_id", "sync", "run_id", "status", *COUNTS, "unresolved", "seconds", "reason"),
    "sync_held": ("sync_id", "sync", "invocation_id", "reason"),
    "error": (),
}
logger = logging.getLogger(LOGGER_NAME)


def emit(event: str, message: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event; the JSON formatter writes ``fields`` as top-level keys."""
    logger.log(level, message, extra={"event": event, "fields": fields})
