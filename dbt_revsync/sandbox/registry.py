"""The emulators the sandbox can serve: one per registered CRM (:mod:`dbt_revsync.crms`),
imported on first use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dbt_revsync.crms import emulator_class, registry
from dbt_revsync.sandbox.emulator import Emulator

__all__ = ["create_emulator", "create_emulators", "emulator_class", "emulator_names"]


def emulator_names() -> tuple[str, ...]:
    """The URL prefix of every registered CRM's emulator."""
    return tuple(record.sandbox_prefix for record in registry().values())


def create_emulator(name: str, **options: Any) -> Emulator:
    """A fresh emulator of the registered CRM ``name``."""
    return emulator_class(name)(**options)


def create_emulators(names: Iterable[str] | None = None) -> dict[str, Emulator]:
    """prefix -> fresh emulator, for ``names`` (default: every registered CRM)."""
    return {name: create_emulator(name) for name in (names if names is not None else emulator_names())}
