"""The CRMs dbt-revsync can push to: one package per CRM, registered once.

A CRM package (``dbt_revsync.crms.<name>``, or a separate distribution such as
``dbt-revsync-zoho``) holds its connector, its sandbox emulator and the vendor facts
both read, and declares a :class:`Crm` record. The record is registered through the
``dbt_revsync.crms`` entry-point group::

    [project.entry-points."dbt_revsync.crms"]
    zoho = "dbt_revsync_zoho:CRM"

The connector and the emulator are named by ``"module:Class"`` and imported on first
use, so one CRM's module never stops the others loading. When dbt-revsync runs from a
source tree that was never installed (no entry points), the packages under this one are
read instead.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dbt_revsync.destinations.base import Destination
    from dbt_revsync.sandbox import Emulator

GROUP = "dbt_revsync.crms"


@dataclass(frozen=True)
class Crm:
    """One CRM: its connection ``type``, its connector, its emulator and its docs page."""

    name: str  # the connection ``type`` in revsync.yml
    destination: str  # "module:Class" of its Destination
    emulator: str  # "module:Class" of its sandbox Emulator
    sandbox_prefix: str  # the sandbox serves the emulator under /<prefix>
    docs: str  # its page, relative to the repository's docs/ (e.g. "destinations/hubspot.md")


def _load(ref: str) -> object:
    module_name, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _from_source_tree() -> list[Crm]:
    records = []
    for info in pkgutil.iter_modules(__path__, prefix=f"{__name__}."):
        record = getattr(importlib.import_module(info.name), "CRM", None)
        if isinstance(record, Crm):
            records.append(record)
    return records


@cache
def registry() -> dict[str, Crm]:
    """name -> Crm, for every registered CRM."""
    found = [ep.load() for ep in entry_points(group=GROUP)]
    records = [r for r in found if isinstance(r, Crm)] or _from_source_tree()
    return {record.name: record for record in sorted(records, key=lambda r: r.name)}


def crm(name: str) -> Crm:
    try:
        return registry()[name]
    except KeyError:
        raise KeyError(f"no CRM {name!r}; known: {', '.join(registry())}") from None


def destination_class(name: str) -> type[Destination]:
    return _load(crm(name).destination)  # type: ignore[return-value]


def emulator_class(prefix: str) -> type[Emulator]:
    for record in registry().values():
        if record.sandbox_prefix == prefix:
            return _load(record.emulator)  # type: ignore[return-value]
    known = ", ".join(r.sandbox_prefix for r in registry().values())
    raise KeyError(f"no sandbox emulator {prefix!r}; known: {known}")


__all__ = ["GROUP", "Crm", "crm", "destination_class", "emulator_class", "registry"]
