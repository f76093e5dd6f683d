"""Requests checked against the request schemas of Pipedrive's published v2 spec
(``v2_schemas.py``): query parameters (required, type, enum) and JSON bodies (type, enum,
nested objects and arrays, nullable, required). Pure: returns the problems found, each
naming the parameter or body path at fault; the emulator answers them as Pipedrive answers
a bad request (400, its error envelope).

Stricter than the spec where the spec is loose, each said in the docs page:
- a query parameter the operation does not list is refused (Pipedrive ignores some);
- a boolean query parameter is ``true`` or ``false`` only;
- search ``fields`` takes one value of its enum (the schema is a single-value enum even
  though the description speaks of a comma-separated list).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dbt_revsync.crms.pipedrive.v2_schemas import SCHEMAS

__all__ = ["body_problems", "operation", "query_problems", "value_problems"]

_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def operation(method: str, path: str) -> tuple[str, str] | None:
    """The spec operation a request path (below the API root) belongs to."""
    parts = [p for p in path.split("/") if p]
    if len(parts) == 2 and parts[1] != "search" and parts[1].isdigit():
        key = (method, f"/{parts[0]}/{{id}}")
    else:
        key = (method, "/" + "/".join(parts))
    return key if key in SCHEMAS else None


def query_problems(key: tuple[str, str], query: Mapping[str, str]) -> list[str]:
    declared = SCHEMAS[key]["query"]
    problems = [f"unknown query parameter {name!r}" for name in sorted(set(query) - set(declared))]
    for name, parameter in declared.items():
        if name not in query:
            if parameter["required"]:
                problems.append(f"{name} is required")
            continue
        problems += _query_value(name, query[name], parameter["schema"])
    return problems


def _query_value(name: str, text: str, schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if kind == "integer" and not _INTEGER.fullmatch(text):
        return [f"{name} must be an integer, got {text!r}"]
    if kind == "number" and not _NUMBER.fullmatch(text):
        return [f"{name} must be a number, got {text!r}"]
    if kind == "boolean" and text not in ("true", "false"):
        return [f"{name} must be true or false, got {text!r}"]
    if "enum" in schema and text not in [str(v) for v in schema["enum"]]:
        return [f"{name} must be one of {', '.join(map(str, schema['enum']))}, got {text!r}"]
    return []


def body_problems(key: tuple[str, str], body: Any) -> list[str]:
    schema = SCHEMAS[key]["body"]
    return value_problems(schema, body, "body") if schema else []


def value_problems(schema: Mapping[str, Any], value: Any, where: str) -> list[str]:
    if value is None:
        return [] if schema.get("nullable") else [f"{where} must not be null"]
    kind = schema.get("type")
    if kind is not None and not _is(kind, value):
        return [f"{where} must be of type {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where} must be one of {', '.join(map(str, schema['enum']))}, got {value!r}"]
    problems: list[str] = []
    if kind == "object" or "properties" in schema:
        assert isinstance(value, dict)
        problems += [f"{where}.{name} is required" for name in schema.get("required", []) if name not in value]
        for name, item in value.items():
            if name in schema.get("properties", {}):
                problems += value_problems(schema["properties"][name], item, f"{where}.{name}")
    if kind == "array" and "items" in schema:
        for index, item in enumerate(value):
            problems += value_problems(schema["items"], item, f"{where}[{index}]")
    return problems


def _is(kind: str, value: Any) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {"string": str, "boolean": bool, "object": dict, "array": list}[kind])
