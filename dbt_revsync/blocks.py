"""The ``revsync`` blocks of a model's ``config.meta``: read key by key, the rules between
modes checked, and the model columns each block reads listed for checking against the relation.

Parsing never stops at the first mistake: it returns what it could build and every
``ConfigIssue`` it found. The destination classes are handed in (``destinations``: type
name -> class) for their capabilities and their own rules; nothing here imports the
registry, and nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dbt_revsync.errors import ConfigIssue, did_you_mean
from dbt_revsync.model import Connection, FieldMap, NodeRef, SyncSpec

if TYPE_CHECKING:
    from dbt_revsync.destinations.base import Destination

__all__ = [
    "BLOCK_KEYS",
    "FETCH_MODES",
    "GATES",
    "INSERT_MODES",
    "KEYED_MODES",
    "LIST_FORMATS",
    "NULL_POLICIES",
    "ON_UPDATE",
    "QUARANTINES",
    "SCHEDULES",
    "ColumnUse",
    "capability_issues",
    "check_columns",
    "parse_sync_blocks",
]

INSERT_MODES = ("append", "update", "upsert", "delete", "mirror")
FETCH_MODES = ("full", "incremental")
NULL_POLICIES = ("skip", "overwrite", "skip_until_linked")
ON_UPDATE = ("always", "if_empty")
GATES = ("none", "model", "upstream")  # whose failing tests hold a sync back (see dbt/builds.py)
QUARANTINES = ("none", "tests")  # tests: hold back only the rows a failing test stored
LIST_FORMATS = ("text", "tags")  # a list column as comma-separated text, or as a list of strings
KEYED_MODES = ("update", "upsert", "delete", "mirror")  # modes that need an upsert_key or match_on
BLOCK_KEYS = (
    "name",
    "destination",
    "object",
    "insert_mode",
    "primary_key",
    "upsert_key",
    "fetch_mode",
    "incremental_key",
    "fields",
    "nulls",
    "batch_size",
    "schedule",
    "owner",
    "match_on",
    "on_update",
    "lists",
    "gate",
    "quarantine",
)
SCHEDULES = ("30m", "hourly", "daily")  # sync frequencies; schedule.INTERVALS gives each its length


@dataclass(frozen=True)
class ColumnUse:
    """A model column a block reads, at a key: checked against the relation even when the
    block has other mistakes, so every mistake is reported in one go."""

    node: NodeRef
    key: str
    column: str
    where: str = ""  # the model and the block's name; default: the model


def parse_sync_blocks(
    node: NodeRef,
    raw: Any,
    connections: Mapping[str, Connection],
    unavailable: Iterable[str] = (),
    *,
    destinations: Mapping[str, type[Destination]],
) -> tuple[list[SyncSpec], list[ConfigIssue], list[ColumnUse]]:
    """Every block of one node (``revsync`` may be one block or a list of them).

    ``destinations`` maps a connection type to its destination class (its capabilities and
    its own rules are checked).

    ``unavailable`` names connections that exist but were themselves misconfigured, so a
    block pointing at one is not reported twice.
    """
    blocks = raw if isinstance(raw, list) else [raw]
    base = f"{node.meta_path}.revsync"
    specs: list[SyncSpec] = []
    issues: list[ConfigIssue] = []
    uses: list[ColumnUse] = []
    for index, block in enumerate(blocks):
        key_path = f"{base}[{index}]" if isinstance(raw, list) else base
        spec, found, used = _parse_block(node, block, key_path, connections, set(unavailable), destinations)
        issues.extend(found)
        uses.extend(used)
        if spec is not None:
            specs.append(spec)
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.sync_id in seen:
            issues.append(
                ConfigIssue(
                    f"two blocks send this node to {spec.connection.name}.{spec.object}; give each a distinct 'name'",
                    where=_where(node),
                    file=node.yaml_file,
                    key=f"{spec.key_path}.name",
                )
            )
        seen[spec.sync_id] = spec.key_path
    return specs, issues, uses


def _where(node: NodeRef) -> str:
    return f"{node.resource_type} '{node.name}'"


class _BlockReader:
    """Reads one block, collecting issues located at its keys."""

    def __init__(self, node: NodeRef, block: Mapping[str, Any], key_path: str) -> None:
        self.node, self.block, self.key_path = node, block, key_path
        self.issues: list[ConfigIssue] = []
        name = block.get("name")
        # a named block is named in every message; its key path still locates it in the file
        self.where = (
            f"{_where(node)}, sync {name.strip()!r}" if isinstance(name, str) and name.strip() else _where(node)
        )

    def fail(self, key: str, message: str) -> None:
        self.issues.append(
            ConfigIssue(
                message,
                where=self.where,
                file=self.node.yaml_file,
                key=f"{self.key_path}.{key}" if key else self.key_path,
            )
        )

    def text(self, key: str, required: bool = False, default: str | None = None) -> str | None:
        value = self.block.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(key, "is required")
            return default
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            self.fail(key, f"expected text, got {type(value).__name__}")
            return default
        return str(value).strip()

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(key, default=default) or default
        if value not in choices:
            self.fail(key, f"must be one of {', '.join(choices)}; got {value!r}{did_you_mean(value, choices)}")
        return value

    def names(self, key: str) -> tuple[str, ...]:
        value = self.block.get(key)
        if value is None or value == [] or value == "":
            self.fail(key, "is required (a model column, or a list of them)")
            return ()
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) and item.strip() for item in items):
            self.fail(key, "expected a column name or a list of column names")
            return ()
        return tuple(item.strip() for item in items)

    def fields(self) -> tuple[FieldMap, ...]:
        value = self.block.get("fields")
        if not isinstance(value, dict) or not value:
            self.fail("fields", "is required: a mapping of destination field to model column")
            return ()
        out = []
        for path, column in value.items():
            path = str(path).strip()
            if not path or any(not part for part in path.split(".")):
                self.fail(f"fields.{path}", "is not a valid destination field path")
            elif not isinstance(column, str) or not column.strip():
                self.fail(f"fields.{path}", "expected the name of a model column")
            else:
                out.append(FieldMap(path, column.strip()))
        return tuple(out)

    def schedule(self) -> str | None:
        value = self.text("schedule")
        if value is not None and value not in SCHEDULES:
            self.fail("schedule", f"must be one of {', '.join(SCHEDULES)}; got {value!r}")
            return None
        return value

    def owner(self) -> tuple[tuple[str, str], ...]:
        """``owner: a@b.com``, ``owner: Team name`` or ``owner: {name: .., email: ..}``."""
        value = self.block.get("owner")
        if value is None:
            return ()
        if isinstance(value, str) and value.strip():
            return (("email" if "@" in value else "name", value.strip()),)
        if (
            isinstance(value, dict)
            and value
            and set(value) <= {"name", "email"}
            and all(isinstance(v, str) and v.strip() for v in value.values())
        ):
            return tuple(sorted((str(k), str(v).strip()) for k, v in value.items()))
        self.fail("owner", "expected an email, a name, or a mapping with 'name' and/or 'email'")
        return ()

    def paths(self, key: str) -> tuple[str, ...]:
        """A destination field or a list of them (``match_on``); empty when absent."""
        value = self.block.get(key)
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(item, str) and item.strip() for item in items):
            self.fail(key, "expected a destination field or a list of them")
            return ()
        return tuple(item.strip() for item in items)

    def per_field(self, key: str, choices: tuple[str, ...]) -> dict[str, str]:
        """A mapping of destination field to one of ``choices`` (``on_update``, ``lists``)."""
        value = self.block.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"expected a mapping of destination field to one of {', '.join(choices)}")
            return {}
        out = {}
        for path, choice in value.items():
            if choice not in choices:
                self.fail(f"{key}.{path}", f"must be one of {', '.join(choices)}; got {choice!r}")
            else:
                out[str(path).strip()] = str(choice)
        return out

    def batch_size(self) -> int | None:
        value = self.block.get("batch_size")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            self.fail("batch_size", f"must be a whole number above 0; got {value!r}")
            return None
        return value


def _parse_block(
    node: NodeRef,
    block: Any,
    key_path: str,
    connections: Mapping[str, Connection],
    unavailable: set[str],
    destinations: Mapping[str, type[Destination]],
) -> tuple[SyncSpec | None, list[ConfigIssue], list[ColumnUse]]:
    if not isinstance(block, dict):
        return (
            None,
            [ConfigIssue("a revsync block must be a mapping", where=_where(node), file=node.yaml_file, key=key_path)],
            [],
        )
    reader = _BlockReader(node, block, key_path)
    for key in block:
        if key not in BLOCK_KEYS:
            reader.fail(str(key), f"unknown key{did_you_mean(str(key), BLOCK_KEYS)}; allowed: {', '.join(BLOCK_KEYS)}")
    destination = reader.text("destination", required=True)
    connection = connections.get(destination or "")
    if destination and connection is None and destination not in unavailable:
        known = ", ".join(sorted(connections)) or "none defined"
        hint = did_you_mean(destination, connections)
        reader.fail("destination", f"unknown destination {destination!r}{hint} (connections: {known})")
    spec_args: dict[str, Any] = dict(
        name=reader.text("name"),
        object=reader.text("object", required=True) or "",
        insert_mode=reader.choice("insert_mode", INSERT_MODES, "append"),
        primary_key=reader.names("primary_key"),
        upsert_key=reader.text("upsert_key"),
        fetch_mode=reader.choice("fetch_mode", FETCH_MODES, "full"),
        incremental_key=reader.text("incremental_key"),
        fields=reader.fields(),
        nulls=reader.choice("nulls", NULL_POLICIES, "skip"),
        batch_size=reader.batch_size(),
        schedule=reader.schedule(),
        owner=reader.owner(),
        match_on=reader.paths("match_on"),
        gate=reader.choice("gate", GATES, "model"),
        quarantine=reader.choice("quarantine", QUARANTINES, "none"),
    )
    spec_args["fields"] = _field_options(reader, spec_args["fields"])
    _check_modes(reader, spec_args)
    uses = _column_uses(node, key_path, spec_args, reader.where)
    if reader.issues or connection is None:
        return None, reader.issues, uses
    label = spec_args["name"] or f"{connection.name}.{spec_args['object']}"
    sync_id = f"{node.unique_id}:{label}"
    spec = SyncSpec(sync_id=sync_id, node=node, connection=connection, key_path=key_path, **spec_args)
    if spec.upsert_key and spec.upsert_field is None:
        hint = did_you_mean(spec.upsert_key, _mapped_names(spec.fields))
        reader.fail("upsert_key", f"{spec.upsert_key!r} is not one of the mapped destination fields{hint}")
    for index, name in enumerate(spec.match_on):
        if spec.field_for(name) is None:
            hint = did_you_mean(name, _mapped_names(spec.fields))
            reader.fail(f"match_on[{index}]", f"{name!r} is not one of the mapped destination fields{hint}")
    cls = destinations[connection.type]
    for message, key in [*capability_issues(cls, spec), *cls.check_spec(spec)]:
        reader.fail(key, message)
    return (None, reader.issues, uses) if reader.issues else (spec, [], uses)


def _field_options(reader: _BlockReader, fields: tuple[FieldMap, ...]) -> tuple[FieldMap, ...]:
    """The fields with their per-field ``on_update`` and ``lists`` options attached."""
    options: dict[str, dict[str, str]] = {}
    for key, attribute, choices in (("on_update", "on_update", ON_UPDATE), ("lists", "list_format", LIST_FORMATS)):
        for path, choice in reader.per_field(key, choices).items():
            target = next((f for f in fields if f.path == path), None) or next(
                (f for f in fields if f.parts[-1] == path), None
            )
            if target is None:
                hint = did_you_mean(path, _mapped_names(fields))
                reader.fail(f"{key}.{path}", f"{path!r} is not one of the mapped destination fields{hint}")
            else:
                options.setdefault(target.path, {})[attribute] = choice
    return tuple(replace(f, **options[f.path]) if f.path in options else f for f in fields)


def _mapped_names(fields: Iterable[FieldMap]) -> list[str]:
    return [name for f in fields for name in dict.fromkeys((f.path, f.parts[-1]))]


def capability_issues(cls: Any, spec: SyncSpec) -> list[tuple[str, str]]:
    """Options that need a destination to find or read records, on one that cannot."""
    issues = []
    if spec.match_on and not cls.supports("find"):
        issues.append(
            (f"a {cls.type_name} destination cannot search records, so match_on is not available", "match_on")
        )
    elif spec.insert_mode in KEYED_MODES and not cls.native_upsert and not cls.supports("find"):
        issues.append(
            (
                f"a {cls.type_name} destination cannot search records, so insert_mode {spec.insert_mode} is not "
                "available",
                "insert_mode",
            )
        )
    if spec.if_empty_fields and not cls.supports("fetch"):
        issues.append(
            (f"a {cls.type_name} destination cannot read a record, so on_update if_empty is not available", "on_update")
        )
    return issues


def _column_uses(node: NodeRef, key_path: str, args: Mapping[str, Any], where: str) -> list[ColumnUse]:
    keyed = [("primary_key", c) for c in args["primary_key"]] + [(f"fields.{f.path}", f.column) for f in args["fields"]]
    if args["incremental_key"]:
        keyed.append(("incremental_key", args["incremental_key"]))
    return [ColumnUse(node, f"{key_path}.{key}", column, where) for key, column in keyed]


def _check_modes(reader: _BlockReader, args: Mapping[str, Any]) -> None:
    mode, fetch = args["insert_mode"], args["fetch_mode"]
    if mode in KEYED_MODES and not args["upsert_key"] and not args["match_on"]:
        reader.fail("upsert_key", f"is required when insert_mode is {mode} (or give match_on)")
    if args["upsert_key"] and args["match_on"]:
        reader.fail("match_on", "give match_on or upsert_key, not both (match_on is the ordered list of keys)")
    if args["match_on"] and mode == "append":
        reader.fail("match_on", "append never matches existing records; use upsert or update")
    if fetch == "incremental" and not args["incremental_key"]:
        reader.fail("incremental_key", "is required when fetch_mode is incremental")
    if args["quarantine"] == "tests" and args["gate"] == "none":
        reader.fail("quarantine", "quarantine: tests holds rows back by the gate's tests; gate none runs none")
    if fetch == "incremental" and mode == "mirror":
        reader.fail("fetch_mode", "mirror needs fetch_mode full: an incremental read cannot see removed rows")


def check_columns(uses: Iterable[ColumnUse], available: Iterable[str]) -> list[ConfigIssue]:
    """Every column a block reads must exist in the relation (compared case-insensitively)."""
    columns = list(available)
    have = {column.lower() for column in columns}
    return [
        ConfigIssue(
            f"column {use.column!r} is not in "
            f"{use.node.schema}.{use.node.identifier}{did_you_mean(use.column, columns)}",
            where=use.where or _where(use.node),
            file=use.node.yaml_file,
            key=use.key,
        )
        for use in uses
        if use.column.lower() not in have
    ]
