"""From a row of the diff to the change to send: insert-mode semantics and payload mapping.

Pure logic, no I/O. The diff (SQL) says whether a row is new, changed or removed, or has a
bad key; this module turns that into an operation under the sync's insert mode:

    mode     new      changed   removed
    append   create   -         -
    update   update   update    -
    upsert   upsert   upsert    -
    delete   delete   -         -
    mirror   upsert   upsert    delete

and maps the row's columns to the destination's (nested) fields under the null policy.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import re
import uuid
from collections.abc import Mapping
from typing import Any

from dbt_revsync.model import Change, ChangeRow, PlannedReject, SyncSpec

__all__ = ["OPERATIONS", "decide", "format_list", "key_text", "payload"]

OPERATIONS: Mapping[tuple[str, str], str] = {
    ("append", "new"): "create",
    ("update", "new"): "update",
    ("update", "changed"): "update",
    ("upsert", "new"): "upsert",
    ("upsert", "changed"): "upsert",
    ("delete", "new"): "delete",
    ("mirror", "new"): "upsert",
    ("mirror", "changed"): "upsert",
    ("mirror", "removed"): "delete",
}


def decide(spec: SyncSpec, row: ChangeRow) -> Change | PlannedReject | None:
    """The change a diff row becomes; ``None`` when the insert mode leaves it alone."""
    if row.status.startswith("reject_"):
        return _reject(spec, row)
    op = OPERATIONS.get((spec.insert_mode, row.status))
    if op is None:
        return None
    if op == "delete" and row.status == "removed":
        return Change(op, str(row.key), {}, row.remote_id, None, origin=row.origin, upsert_text=row.upsert_value)
    fields = payload(spec, row.values, linked=row.remote_id is not None)
    upsert = spec.upsert_field
    upsert_value = _value(spec, upsert.column, row.values) if upsert else None
    return Change(
        op,
        str(row.key),
        fields,
        row.remote_id,
        row.row_hash,
        upsert_value,
        row=row.values,
        in_state=row.status != "new",
        origin=row.origin,
        upsert_text=row.upsert_value,
        incremental_value=row.incremental_value,
    )


def _reject(spec: SyncSpec, row: ChangeRow) -> PlannedReject:
    op = OPERATIONS.get((spec.insert_mode, "new"), spec.insert_mode)
    keys = ", ".join(spec.primary_key)
    upsert = spec.upsert_field
    reasons = {
        "reject_null_key": ("null_primary_key", f"primary key ({keys}) is null or blank"),
        "reject_duplicate_key": (
            "duplicate_primary_key",
            f"primary key ({keys}) value {row.key!r} is on more than one row",
        ),
        "reject_null_upsert_key": (
            "null_upsert_key",
            f"upsert key {spec.upsert_key} (column {upsert.column if upsert else '?'}) is null or blank",
        ),
        "reject_duplicate_upsert_key": (
            "duplicate_upsert_key",
            f"upsert key {spec.upsert_key} value {row.upsert_value!r} is also on another row with a lower primary key",
        ),
    }
    code, message = reasons.get(row.status, (row.status, "rejected by the diff"))
    return PlannedReject(row.key, op, code, message)


def payload(spec: SyncSpec, values: Mapping[str, Any], linked: bool = False) -> dict[str, Any]:
    """The nested body fields of one row: ``a.b: col`` becomes ``{"a": {"b": value}}``.

    Null policy. A value counts as null when it is null, a text of blanks only (``""``,
    ``"  "``), or a list with no item left (``[]``, ``[None, " "]``), after its list format.
    Under ``nulls: skip`` such a value is left out, so it never blanks a field in the CRM
    (an empty list would reach a CRM as ``""`` or ``[]`` and clear the field); under
    ``overwrite`` it is sent as null (a list as ``[]``); under
    ``skip_until_linked`` it is left out until the row's record has been linked
    (acknowledged once, its id remembered), and sent as under ``overwrite`` from then on.
    A field with a list format is formatted first. Text values are sent as the model holds
    them, surrounding blanks included: only key values are trimmed (``key_text``).
    """
    send_nulls = spec.nulls == "overwrite" or (spec.nulls == "skip_until_linked" and linked)
    body: dict[str, Any] = {}
    for field in spec.fields:
        value = format_list(_value(spec, field.column, values), field.list_format)
        if _is_null(value):
            if not send_nulls:
                continue
            value = [] if isinstance(value, list) else None
        node = body
        for part in field.parts[:-1]:
            node = node.setdefault(part, {})
        node[field.parts[-1]] = value
    return body


def _is_null(value: Any) -> bool:
    """Null under the null policy: None, blank-only text, or a list of nothing but those."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list):
        return all(_is_null(item) for item in value)
    return False


def format_list(value: Any, list_format: str | None) -> Any:
    """``text``: a list becomes comma-separated text (``a,b``); ``tags``: comma-separated text
    becomes a list of trimmed strings. Empty results are null; other formats pass through."""
    if list_format is None or value is None:
        return value
    if list_format == "text":
        items = value if isinstance(value, list) else [value]
        text = ",".join(str(item).strip() for item in items if item is not None and str(item).strip())
        return text or None
    items = value if isinstance(value, list) else str(value).split(",")
    tags = [str(item).strip() for item in items if item is not None and str(item).strip()]
    return tags or None


def _value(spec: SyncSpec, column: str, values: Mapping[str, Any]) -> Any:
    """A key column's value travels as its key text, so ``12345.0`` reaches the CRM as ``12345``;
    the upsert key's text is trimmed (the diff compares it trimmed); other text is kept as is."""
    value = values.get(column)
    if column in spec.primary_key:
        return key_text(value)
    cleaned = _clean(value)
    upsert = spec.upsert_field
    if upsert is not None and column == upsert.column and isinstance(cleaned, str):
        return cleaned.strip() or None
    return cleaned


_INTEGRAL = re.compile(r"-?[0-9]+[.]0+")
_KEY_SPACES = str.maketrans("\t\n\r", "   ")


def key_text(value: Any) -> str | None:
    """The text form of a key value, exactly as the diff SQL (``revsync_key_text``) computes it.

    Tabs, line feeds and carriage returns count as spaces; surrounding spaces are trimmed and
    no other character is (a no-break space stays); an integral decimal is a whole number
    (``12345.0`` -> ``12345``, ``-3.00`` -> ``-3``); an empty text is ``None``.
    """
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, decimal.Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value))
    text = str(value).translate(_KEY_SPACES).strip(" ")
    if _INTEGRAL.fullmatch(text):
        text = text.rstrip("0").rstrip(".")
    return text or None


def _clean(value: Any) -> Any:
    """A warehouse value as JSON: decimals numbers, times ISO 8601. Text is kept as it is,
    surrounding blanks included (``payload`` decides whether blank-only text counts as null)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    return str(value)
