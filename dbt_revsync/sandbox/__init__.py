"""Local emulators of the supported CRMs (``dbt-revsync sandbox``).

Each CRM is one module holding an :class:`~dbt_revsync.sandbox.framework.Emulator`
subclass, registered below with one line: URL prefix -> ``"module:Class"``. Entries
are imported on first use, so one emulator's module never stops the others loading.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from dbt_revsync.sandbox.framework import Emulator, Limits, SandboxRequest, SandboxResponse
from dbt_revsync.sandbox.server import FaultRule, SandboxServer, serve

EMULATORS: dict[str, str] = {
    "freshsales": "dbt_revsync.sandbox.freshsales:FreshsalesEmulator",
    "hubspot": "dbt_revsync.sandbox.hubspot:HubSpotEmulator",
    "pipedrive": "dbt_revsync.sandbox.pipedrive:PipedriveEmulator",
    "salesforce": "dbt_revsync.sandbox.salesforce:SalesforceEmulator",
    "freshdesk": "dbt_revsync.sandbox.freshdesk:FreshdeskEmulator",
    "freshsuccess": "dbt_revsync.sandbox.freshsuccess:FreshsuccessEmulator",
    "echo": "dbt_revsync.sandbox.echo:EchoEmulator",
}


def emulator_class(name: str) -> type[Emulator]:
    """The Emulator subclass registered under ``name``."""
    try:
        module_name, _, class_name = EMULATORS[name].partition(":")
    except KeyError:
        raise KeyError(f"no sandbox emulator {name!r}; known: {', '.join(EMULATORS)}") from None
    return getattr(importlib.import_module(module_name), class_name)


def create_emulator(name: str, **options: Any) -> Emulator:
    """A fresh emulator of the registered CRM ``name``."""
    return emulator_class(name)(**options)


def create_emulators(names: Iterable[str] | None = None) -> dict[str, Emulator]:
    """prefix -> fresh emulator, for ``names`` (default: every registered CRM)."""
    return {name: create_emulator(name) for name in (names if names is not None else EMULATORS)}


__all__ = [
    "EMULATORS",
    "Emulator",
    "FaultRule",
    "Limits",
    "SandboxRequest",
    "SandboxResponse",
    "SandboxServer",
    "create_emulator",
    "create_emulators",
    "emulator_class",
    "serve",
]
