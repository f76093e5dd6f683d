"""The sandbox schema file: custom fields and properties declared per CRM and object.

::

    hubspot:
      contacts:
        - {name: customer_tier, type: string}
        - {name: external_id, type: string, unique: true}
    freshsales:
      contacts:
        - {name: cf_tier, type: text}

Top-level keys are the sandbox prefixes of the emulators (``hubspot``, ``freshsales``, ...),
second-level keys their objects, and each field is ``{name, type, unique}`` (``type``
defaults to ``string``, ``unique`` to false) or just its name. ``type`` is the vendor's own
type name; each emulator decides what it accepts (``Emulator.declare_field``).

Every mistake found is reported at once, as a :class:`~dbt_revsync.errors.ConfigError`
naming the file and the key at fault (exit code 2 on the command line).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from dbt_revsync.errors import ConfigError, ConfigIssue
from dbt_revsync.sandbox.emulator import DeclaredField, Emulator, SchemaRefused

__all__ = ["Declaration", "SchemaSpec", "apply_schema", "load_schema", "parse_schema", "read_schema"]

SchemaSpec = str | os.PathLike[str] | Mapping[str, Any] | None


@dataclass(frozen=True)
class Declaration:
    """One field of a schema file, with where it was declared."""

    prefix: str
    field: DeclaredField
    key: str  # e.g. "hubspot.contacts[1]"


def read_schema(path: str | os.PathLike[str]) -> Any:
    """The parsed YAML of a schema file; ConfigError when it cannot be read or parsed."""
    source = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(
            ConfigIssue(f"cannot read the sandbox schema file: {exc.strerror or exc}", file=source)
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(ConfigIssue("the sandbox schema file is not UTF-8 text", file=source)) from None
    try:
        return YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise ConfigError(ConfigIssue(f"not valid YAML: {exc}", file=source)) from None


def parse_schema(data: Any, source: str, emulators: Mapping[str, Emulator]) -> tuple[Declaration, ...]:
    """The declarations of a parsed schema file, checked against the emulators served
    (prefix -> emulator): CRM keys and object keys must name one. ConfigError listing every mistake."""
    found, issues = _parse(data, source, emulators)
    if issues:
        raise ConfigError(issues)
    return found


def _parse(
    data: Any, source: str, emulators: Mapping[str, Emulator]
) -> tuple[tuple[Declaration, ...], list[ConfigIssue]]:
    """The well-formed declarations, and every mistake in the others."""
    if data is None:
        return (), []
    if not isinstance(data, Mapping):
        return (), [ConfigIssue("the schema file must be a mapping: CRM -> object -> list of fields", file=source)]
    issues: list[ConfigIssue] = []
    found: list[Declaration] = []
    for prefix, objects in data.items():
        emulator = emulators.get(prefix) if isinstance(prefix, str) else None
        if emulator is None:
            issues.append(
                ConfigIssue(f"unknown CRM; the sandbox serves {', '.join(emulators)}", file=source, key=str(prefix))
            )
            continue
        if not isinstance(objects, Mapping):
            issues.append(ConfigIssue("must be a mapping: object -> list of fields", file=source, key=prefix))
            continue
        for object_name, entries in objects.items():
            found += _object_fields(prefix, emulator, object_name, entries, source, issues)
    return tuple(found), issues


def _object_fields(
    prefix: str, emulator: Emulator, object_name: Any, entries: Any, source: str, issues: list[ConfigIssue]
) -> list[Declaration]:
    key = f"{prefix}.{object_name}"
    if object_name not in emulator.resources:
        issues.append(
            ConfigIssue(f"unknown object; {prefix} has {', '.join(emulator.resources)}", file=source, key=key)
        )
        return []
    if not isinstance(entries, list):
        issues.append(ConfigIssue("must be a list of fields ({name, type, unique})", file=source, key=key))
        return []
    found = []
    for index, entry in enumerate(entries):
        try:
            found.append(Declaration(prefix, DeclaredField.from_mapping(object_name, entry), f"{key}[{index}]"))
        except (ValueError, TypeError) as exc:
            issues.append(ConfigIssue(str(exc), file=source, key=f"{key}[{index}]"))
    return found


def apply_schema(
    declarations: tuple[Declaration, ...],
    emulators: Mapping[str, Emulator],
    source: str,
    earlier: Sequence[ConfigIssue] = (),
) -> None:
    """Hand every declaration to its emulator; ConfigError listing every refusal, after the
    ``earlier`` mistakes found reading the file (so one run reports them all)."""
    issues = list(earlier)
    for item in declarations:
        try:
            emulators[item.prefix].declare(item.field)
        except SchemaRefused as exc:
            issues.append(
                ConfigIssue(
                    f"field {item.field.name!r} refused by the {item.prefix} emulator: {exc}", file=source, key=item.key
                )
            )
    if issues:
        raise ConfigError(issues)


def load_schema(spec: SchemaSpec, emulators: Mapping[str, Emulator]) -> tuple[Declaration, ...]:
    """Read (a path) or take (a mapping) a schema, check it and declare its fields."""
    if spec is None:
        return ()
    if isinstance(spec, Mapping):
        data, source = spec, "<schema>"
    else:
        data, source = read_schema(spec), str(spec)
    declarations, issues = _parse(data, source, emulators)
    apply_schema(declarations, emulators, source, issues)
    return declarations
