"""Matching rules any destination can use: find the record by ordered keys, keep values
the record already holds, then send by id.

Runs before a batch reaches the destination's ``send``, on the same worker thread:

- **Linking.** A change whose record id is remembered is linked already. Otherwise the match
  keys (``match_on``, else ``upsert_key`` on a CRM with no upsert of its own) are tried in
  order: a key whose value is null is skipped; the first key that finds exactly one record
  links the change to it; a key that finds several rejects the row (``multiple_matches``);
  when no key finds anything, upsert creates and update/delete reject (``no_match``).
- **``on_update: if_empty``.** For a change that updates a record, each such field is left
  out when the record's current value is not empty (the record as the search found it, else
  ``Destination.fetch``).

The result is plain ``create`` / ``update`` / ``delete`` changes, with ids, that every
connector can send. Lookups go through the destination (``find``/``fetch``), so all HTTP
still goes through ``delivery``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from dbt_revsync.blocks import KEYED_MODES
from dbt_revsync.destinations.base import Destination, Found, RecordRejected
from dbt_revsync.errors import FatalDestinationError, TransientDestinationError
from dbt_revsync.model import BatchResult, Change, SyncSpec

__all__ = ["EMPTY", "needs_matching", "resolve", "send"]

logger = logging.getLogger(__name__)

EMPTY: tuple[Any, ...] = (None, "", [], {})


def needs_matching(destination: Destination, spec: SyncSpec) -> bool:
    keyed = spec.insert_mode in KEYED_MODES
    return bool(spec.match_on) or bool(spec.if_empty_fields) or (keyed and not destination.native_upsert)


def send(destination: Destination, spec: SyncSpec, changes: Sequence[Change]) -> BatchResult:
    """Match, then send through the destination; the one entry point the runner calls."""
    if not needs_matching(destination, spec):
        return destination.send(spec, changes)
    result = BatchResult()
    ready: list[Change] = []
    for change in changes:
        try:
            resolved = resolve(destination, spec, change, result)
        except RecordRejected as exc:
            result.reject(change, exc.code, exc.message)
            continue
        except TransientDestinationError as exc:
            result.leave(change, exc)
            continue
        except FatalDestinationError as exc:
            result.fatal = str(exc)
            return result
        if resolved is not None:
            ready.append(resolved)
    if ready:
        result.absorb(destination.send(spec, ready))
    return result


def resolve(destination: Destination, spec: SyncSpec, change: Change, result: BatchResult) -> Change | None:
    """The change to send (by id), or None when nothing is left to send for it."""
    if change.op == "create":
        return change
    found = _link(destination, spec, change, result)
    if found is None:
        if change.op in ("update", "delete"):
            keys = ", ".join(spec.match_keys)
            raise RecordRejected("no_match", f"no record matched on {keys} ({_shown(spec, change)})")
        return replace(change, op="create")
    if change.op == "delete":
        return replace(change, remote_id=found.id)
    fields = _keep_if_empty(destination, spec, change, found, result)
    if fields is None:  # the record is gone: what this sync remembered no longer exists
        if change.op != "upsert":
            raise RecordRejected("no_match", f"record {found.id} no longer exists")
        return replace(change, op="create", remote_id=None)
    if not fields:
        result.ack(change, found.id, "updated")  # nothing may be changed: linked, nothing sent
        return None
    return replace(change, op="update", remote_id=found.id, fields=fields)


def _link(destination: Destination, spec: SyncSpec, change: Change, result: BatchResult) -> Found | None:
    if change.remote_id:
        return Found(change.remote_id)
    for key in spec.match_keys:
        value = _field_value(change.fields, spec, key)
        if value in EMPTY:
            continue
        if key == "id":
            return Found(str(value))
        matches = destination.find(spec, _path(spec, key), value, result)
        if len(matches) == 1:
            logger.debug("%s: %s matched %s on %s", spec.label, change.key, matches[0].id, key)
            return matches[0]
        if len(matches) > 1:
            ids = ", ".join(m.id for m in matches[:5])
            raise RecordRejected("multiple_matches", f"{len(matches)} records have {key} = {value!r} (ids {ids})")
    return None


def _keep_if_empty(
    destination: Destination, spec: SyncSpec, change: Change, found: Found, result: BatchResult
) -> dict[str, Any] | None:
    """The change's fields without the ``if_empty`` ones the record already has a value for;
    None when the record no longer exists."""
    guarded = [f for f in spec.if_empty_fields if _field_value(change.fields, spec, f.path, exact=True) is not _MISSING]
    if not guarded:
        return dict(change.fields)
    record = found.record if found.record is not None else destination.fetch(spec, found.id, result)
    if record is None:
        return None
    fields = _copy(change.fields)
    for field in guarded:
        if destination.current_value(spec, record, field.path) not in EMPTY:
            _drop(fields, field.parts)
    return fields


_MISSING = object()


def _path(spec: SyncSpec, key: str) -> str:
    field = spec.field_for(key)
    return field.path if field else key


def _field_value(fields: Mapping[str, Any], spec: SyncSpec, key: str, exact: bool = False) -> Any:
    """The payload's value at the mapped field ``key`` (``_MISSING`` with ``exact`` when absent)."""
    node: Any = fields
    for part in _path(spec, key).split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING if exact else None
        node = node[part]
    return node


def _copy(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _copy(v) if isinstance(v, Mapping) else v for k, v in fields.items()}


def _drop(fields: dict[str, Any], parts: tuple[str, ...]) -> None:
    """Remove a nested field, and the objects it leaves empty."""
    node = fields.get(parts[0])
    if len(parts) == 1:
        fields.pop(parts[0], None)
    elif isinstance(node, dict):
        _drop(node, parts[1:])
        if not node:
            fields.pop(parts[0], None)


def _shown(spec: SyncSpec, change: Change) -> str:
    shown = [f"{key} = {_field_value(change.fields, spec, key)!r}" for key in spec.match_keys]
    return ", ".join(shown)
