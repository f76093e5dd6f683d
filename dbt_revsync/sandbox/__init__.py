"""Local emulators of the supported CRMs (``dbt-revsync sandbox``).

Each CRM's package (:mod:`dbt_revsync.crms`) holds an :class:`Emulator` subclass and names
the URL prefix it is served under; emulators are imported on first use. The names below are
the sandbox's public API, for tests and for CRM authors (``docs/writing-a-crm.md``):

- an emulator: :class:`Emulator`, :func:`route`, :class:`SandboxRequest`,
  :class:`SandboxResponse`, :func:`json_response`, :class:`RequestRejected`, its
  :class:`RecordStore` of :data:`Record`, its :class:`Limits` (held by a :class:`Quota`), a
  vendor's own :class:`RollingWindow`, and :class:`DeclaredField` / :class:`SchemaRefused`
  for custom fields;
- the server: :class:`SandboxServer`, :class:`FaultRule`, :class:`PortUnavailable`, :func:`serve`.

Its modules, by concern: ``messages``, ``store``, ``window``, ``routes``, ``emulator`` (what an
emulator is made of); ``faults``, ``hostile``, ``http``, ``admin``, ``lifecycle``, ``cli`` (the
server); ``registry``, ``schema``, ``ids``, ``snapshot``.
"""

from __future__ import annotations

from dbt_revsync.sandbox.cli import serve
from dbt_revsync.sandbox.emulator import DeclaredField, Emulator, SchemaRefused, Stats
from dbt_revsync.sandbox.faults import FaultRule
from dbt_revsync.sandbox.http import PortUnavailable
from dbt_revsync.sandbox.lifecycle import SandboxServer
from dbt_revsync.sandbox.messages import (
    Headers,
    RequestRejected,
    SandboxRequest,
    SandboxResponse,
    json_response,
)
from dbt_revsync.sandbox.registry import (
    create_emulator,
    create_emulators,
    emulator_class,
    emulator_names,
)
from dbt_revsync.sandbox.routes import Route, route
from dbt_revsync.sandbox.store import Record, RecordStore
from dbt_revsync.sandbox.window import Clock, Limits, Quota, RollingWindow, WindowState

__all__ = [
    "Clock",
    "DeclaredField",
    "Emulator",
    "FaultRule",
    "Headers",
    "Limits",
    "PortUnavailable",
    "Quota",
    "Record",
    "RecordStore",
    "RequestRejected",
    "RollingWindow",
    "Route",
    "SandboxRequest",
    "SandboxResponse",
    "SandboxServer",
    "SchemaRefused",
    "Stats",
    "WindowState",
    "create_emulator",
    "create_emulators",
    "emulator_class",
    "emulator_names",
    "json_response",
    "route",
    "serve",
]
