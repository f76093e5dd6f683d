"""``dbt-revsync sandbox``: serve the emulators until Ctrl-C or SIGTERM, after a banner that says
where each CRM is served and with which key."""

from __future__ import annotations

import logging
import os
import signal
import sys
import textwrap
import threading
from types import FrameType
from typing import Any, TextIO

from dbt_revsync.sandbox.admin import ADMIN
from dbt_revsync.sandbox.http import PortUnavailable, is_loopback
from dbt_revsync.sandbox.lifecycle import EmulatorsSpec, LimitsSpec, SandboxServer
from dbt_revsync.sandbox.schema import SchemaSpec

__all__ = ["DEFAULT_PORT", "serve"]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8765


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    emulators: EmulatorsSpec = None,
    limits: LimitsSpec = None,
    out: TextIO | None = None,
    schema: SchemaSpec = None,
    state_dir: str | os.PathLike[str] | None = None,
    fresh: bool = False,
) -> None:
    """Serve until Ctrl-C (or SIGTERM), printing the URL, the emulators and their keys.
    A busy port raises PortUnavailable, a bad schema file ConfigError (a UsageError /
    ConfigError: exit code 2 on the command line), before anything is served."""
    out = out or sys.stdout
    server = SandboxServer(
        host, port, emulators=emulators, limits=limits, schema=schema, state_dir=state_dir, fresh=fresh
    )
    try:
        server.bind()
    except PortUnavailable:
        server.stop()
        raise
    if not is_loopback(host) and host != "localhost":
        logger.warning("the sandbox is listening on %s, not loopback: anyone who can reach it can use it", host)
    print(_banner(server), file=out, flush=True)
    previous = _raise_on_sigterm()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Stopping the sandbox.", file=out, flush=True)
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _banner(server: SandboxServer) -> str:
    """What the sandbox serves, each CRM on two lines (its path and key, then how to send
    the key), so the banner fits 80 columns."""
    lines = [f"dbt-revsync sandbox listening on {server.url}", "  each CRM under its path:"]
    for info in server.describe():
        keys = ", ".join(info["api_keys"]) or "(none needed)"
        lines.append(f"  /{info['prefix']:<14} key {keys}")
        lines.extend(textwrap.wrap(str(info["auth"]), 78, initial_indent=" " * 18, subsequent_indent=" " * 18))
    declared = sum(len(fields) for fields in server.declared_fields().values())
    if declared:
        lines.append(f"  {declared} custom field(s) declared: /{ADMIN}/fields")
    if server.ledger is not None:
        lines.append(f"  ids kept across restarts in {server.ledger.path}")
    if server.snapshot is not None:
        restored = server.restored
        lines.append(f"  records kept in {server.snapshot.path}")
        lines.append(
            f"    {restored.records} record(s) and {restored.fields} field(s) restored; --fresh starts with none"
        )
    lines.append(f"  admin: /{ADMIN}/state, /{ADMIN}/stats, /{ADMIN}/faults   (Ctrl-C to stop)")
    return "\n".join(lines)


def _raise_on_sigterm() -> Any:
    """Turn SIGTERM into KeyboardInterrupt so the server stops cleanly; returns the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)
