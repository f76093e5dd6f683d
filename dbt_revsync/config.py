"""Typed, frozen models of a sync block and of a connection, and every config check.

Parsing never stops at the first mistake: each function returns what it could build and
the list of ``ConfigIssue``s it found, so the CLI reports every mistake of every sync at
once (exit status 2) before any request is sent. Nothing here does I/O but reading
``revsync.yml`` and the environment.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from dbt_revsync import logs
from dbt_revsync.delivery import header_value_problem, is_loopback
from dbt_revsync.errors import ConfigError, ConfigIssue, did_you_mean
from dbt_revsync.model import Connection, FieldMap, NodeRef, SyncSpec

INSERT_MODES = ("append", "update", "upsert", "delete", "mirror")
FETCH_MODES = ("full", "incremental")
NULL_POLICIES = ("skip", "overwrite", "skip_until_linked")
ON_UPDATE = ("always", "if_empty")
GATES = ("none", "model", "upstream")  # whose failing tests hold a sync back (see builds.py)
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
CONNECTION_KEYS = ("type", "base_url", "rate_limit", "max_concurrency", "timeout", "max_retries", "max_retry_time", "breaker_threshold")
CONNECTIONS_ENV = "DBT_REVSYNC_CONNECTIONS"
URL_KEYS = ("url", "base_url")  # settings that hold a URL (a token may ride in its path or query)
_SECRET_WORDS = re.compile(r"(key|token|secret|password)", re.IGNORECASE)
_ENV_VAR = re.compile(
    r"""\{\{\s*env_var\(\s*(['"])(?P<name>[^'"]+)\1\s*(?:,\s*(['"])(?P<default>.*?)\3\s*)?\)\s*\}\}"""
)
_ANY_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")


# --------------------------------------------------------------------------- connections


def render_env_vars(value: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """Render dbt's ``{{ env_var('X') }}`` / ``{{ env_var('X', 'default') }}`` in ``value``.

    Returns the rendered text and the names of unset variables without a default.
    """
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    return _ENV_VAR.sub(replace, value), missing


def find_connections_file(explicit: str | None, project_dir: Path, environ: Mapping[str, str]) -> Path:
    """``--connections-file``, then ``$DBT_REVSYNC_CONNECTIONS``, then the project, then ``~/.dbt``."""
    candidates = [
        Path(explicit) if explicit else None,
        Path(environ[CONNECTIONS_ENV]) if environ.get(CONNECTIONS_ENV) else None,
        project_dir / "revsync.yml",
        Path.home() / ".dbt" / "revsync.yml",
    ]
    if explicit and not Path(explicit).is_file():
        raise ConfigError(ConfigIssue(f"connections file not found: {explicit}", key="--connections-file"))
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate
    misnamed = [p.with_suffix(".yaml") for p in candidates[2:] if p is not None and p.with_suffix(".yaml").is_file()]
    hint = f"; found {misnamed[0]}: rename it to revsync.yml" if misnamed else ""
    raise ConfigError(
        ConfigIssue(
            "no revsync.yml found (looked at --connections-file, $DBT_REVSYNC_CONNECTIONS, "
            f"{project_dir / 'revsync.yml'} and ~/.dbt/revsync.yml){hint}"
        )
    )


def load_connections(path: Path, environ: Mapping[str, str] | None = None) -> tuple[dict[str, Connection], list[ConfigIssue]]:
    environ = os.environ if environ is None else environ
    try:
        data = YAML(typ="safe").load(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError:
        return {}, [ConfigIssue("cannot read connections file: it is not UTF-8 text (saved as UTF-16?); save it as UTF-8",
                                file=str(path))]
    except (OSError, YAMLError) as exc:
        return {}, [ConfigIssue(f"cannot read connections file: {exc}", file=str(path))]
    if not isinstance(data, dict) or not isinstance(data.get("connections"), dict):
        return {}, [ConfigIssue("expected a mapping with a 'connections' mapping", file=str(path), key="connections")]
    connections: dict[str, Connection] = {}
    issues: list[ConfigIssue] = []
    for name, raw in data["connections"].items():
        conn, found = parse_connection(str(name), raw, str(path), environ)
        issues.extend(found)
        if conn is not None:
            connections[str(name)] = conn
    return connections, issues


def parse_connection(
    name: str, raw: Any, file: str, environ: Mapping[str, str]
) -> tuple[Connection | None, list[ConfigIssue]]:
    from dbt_revsync.destinations import destination_class, destination_types

    where = f"connection '{name}'"

    def issue(message: str, key: str) -> ConfigIssue:
        return ConfigIssue(message, where=where, file=file, key=f"connections.{name}.{key}")

    if not isinstance(raw, dict):
        return None, [issue("expected a mapping", "")]
    issues: list[ConfigIssue] = []
    rendered: dict[str, Any] = {}
    secrets: dict[str, set[str]] = {}  # key -> its secret values
    for key, value in raw.items():
        value, found = _render_value(value, environ)
        issues.extend(issue(message, str(key)) for message in found)
        rendered[str(key)] = value
        if _SECRET_WORDS.search(str(key)) and isinstance(value, str) and value:
            secrets.setdefault(str(key), set()).add(value)
    ctype = rendered.get("type")
    if ctype not in destination_types():
        known = ", ".join(destination_types())
        hint = did_you_mean(str(ctype), destination_types()) if isinstance(ctype, str) else ""
        return None, [*issues, issue(f"unknown type {ctype!r}{hint}; expected one of: {known}", "type")]
    cls = destination_class(ctype)
    for key in cls.secret_settings:
        secrets.setdefault(key, set()).update(_secret_leaves(raw.get(key), rendered.get(key), environ))
    for key in URL_KEYS:  # an env_var in a URL is a token in a webhook path or query
        secrets.setdefault(key, set()).update(_env_values(raw.get(key), environ))
    for key, values in secrets.items():
        problems = {problem for value in values if (problem := header_value_problem(value))}
        issues.extend(issue(f"the secret {problem}", key) for problem in sorted(problems))
    allowed = set(CONNECTION_KEYS) | set(cls.required_settings) | set(cls.optional_settings)
    for key in rendered:
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            issues.append(issue(f"unknown key for a {ctype} connection{hint}; allowed: {', '.join(sorted(allowed))}", key))
    for key in cls.required_settings:
        reported = any(found.key == f"connections.{name}.{key}" for found in issues)  # e.g. its env_var is not set
        if rendered.get(key) in (None, "") and not reported:
            issues.append(issue(f"required for a {ctype} connection", key))
    base_url = rendered.get("base_url")
    if base_url is not None:
        issues.extend(issue(message, "base_url") for message in check_base_url(str(base_url)))
    numbers, number_issues = _connection_numbers(rendered)
    issues.extend(issue(message, key) for key, message in number_issues)
    # Every form of every secret, registered for redaction even when the connection is
    # refused: its error texts may still travel to output.
    forms = frozenset(form for values in secrets.values() for value in values for form in logs.secret_forms(value))
    logs.REDACTOR.add(forms)
    if issues:
        return None, issues
    settings = {k: v for k, v in rendered.items() if k not in CONNECTION_KEYS}
    conn = Connection(
        name=name,
        type=ctype,
        settings=MappingProxyType(settings),
        base_url=str(base_url).rstrip("/") if base_url else None,
        file=file,
        secrets=forms,
        **numbers,
    )
    return conn, [issue(message, "") for message in cls.check_connection(conn)]


def _secret_leaves(raw: Any, rendered: Any, environ: Mapping[str, str]) -> set[str]:
    """The secrets of a secret setting: a plain value whole; in a mapping or list (``headers``),
    each text rendered from an environment variable, and the variables' values."""
    if isinstance(rendered, (str, int, float)) and not isinstance(raw, (dict, list)):
        return {str(rendered)} if str(rendered) else set()
    pairs = zip(raw.values(), rendered.values()) if isinstance(raw, dict) and isinstance(rendered, dict) else (
        zip(raw, rendered) if isinstance(raw, list) and isinstance(rendered, list) else ())
    found: set[str] = set()
    for raw_item, item in pairs:
        if isinstance(raw_item, str) and _ENV_VAR.search(raw_item):
            found.add(str(item))
            found.update(environ[m.group("name")] for m in _ENV_VAR.finditer(raw_item) if environ.get(m.group("name")))
        elif isinstance(raw_item, (dict, list)):
            found |= _secret_leaves(raw_item, item, environ)
    return {secret for secret in found if secret}


def _env_values(raw: Any, environ: Mapping[str, str]) -> set[str]:
    """The values of the environment variables a URL setting renders: a token in a path or
    query. A value that is itself a URL root (``https://host/...``) is an address, not a secret."""
    if not isinstance(raw, str):
        return set()
    values = (environ.get(m.group("name")) for m in _ENV_VAR.finditer(raw))
    return {value for value in values if value and "://" not in value}


def _render_value(value: Any, environ: Mapping[str, str]) -> tuple[Any, list[str]]:
    if isinstance(value, dict):
        out, messages = {}, []
        for key, item in value.items():
            out[str(key)], found = _render_value(item, environ)
            messages += found
        return out, messages
    if isinstance(value, list):
        pairs = [_render_value(item, environ) for item in value]
        return [item for item, _ in pairs], [m for _, found in pairs for m in found]
    if not isinstance(value, str):
        return value, []
    rendered, missing = render_env_vars(value, environ)
    messages = [f"environment variable {name} is not set and has no default" for name in missing]
    if _ANY_JINJA.search(rendered if not missing else _ENV_VAR.sub("", value)):
        messages.append("only {{ env_var('NAME') }} and {{ env_var('NAME', 'default') }} are supported here")
    return rendered, messages


# (kind, lowest, highest, lowest allowed itself) of every number setting of a connection
NUMBER_BOUNDS: dict[str, tuple[type, float, float, bool]] = {
    "rate_limit": (float, 0.0, 1_000_000.0, False),  # requests per second (a million: no pacing)
    "max_concurrency": (int, 1, 64, True),
    "timeout": (float, 0.0, 600.0, False),  # seconds: each request's wall-clock deadline
    "max_retries": (int, 0, 50, True),
    "max_retry_time": (float, 0.0, 86_400.0, False),  # seconds one request may spend retrying
    "breaker_threshold": (int, 1, 10_000, True),
}


def _connection_numbers(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Every number setting, checked: a finite number (whole where it counts things)
    within sane bounds; NaN, infinity, true/false and text are refused."""
    out: dict[str, Any] = {}
    issues: list[tuple[str, str]] = []
    for key, (kind, low, high, low_ok) in NUMBER_BOUNDS.items():
        value = raw.get(key)
        if value is None:
            continue
        number = _finite_number(value)
        if number is None or (kind is int and not number.is_integer()):
            what = "a whole number" if kind is int else "a number"
            issues.append((key, f"expected {what}, got {_shown(value)}"))
        elif number < low or (number == low and not low_ok) or number > high:
            issues.append((key, f"must be from {low:g} to {high:g}; got {_shown(value)}" if low_ok
                           else f"must be greater than {low:g} and at most {high:g}; got {_shown(value)}"))
        else:
            out[key] = kind(number)
    return out, issues


def _finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_base_url(url: str) -> list[str]:
    """A base_url must be https, or plain http to a loopback host only; judged on the host
    the request would really go to (``http://localhost:80@203.0.113.9/`` goes to
    203.0.113.9), and a URL with user info or characters a URL cannot hold is refused."""
    if any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in url):
        return ["holds a space, a control character or a backslash: not a valid URL"]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return ["not a valid URL (check the host and port)"]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ["not an http(s) URL (it must start with https://)"]
    if "@" in parts.netloc:
        return ["user info (user:password@) is refused in a URL: give credentials in the connection's own keys"]
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return ["plain http is refused except to a loopback host; use https"]
    return []


# --------------------------------------------------------------------------- sync blocks


@dataclass(frozen=True)
class ColumnUse:
    """A model column a block reads, at a key: checked against the relation even when the
    block has other mistakes, so every mistake is reported in one go."""

    node: NodeRef
    key: str
    column: str
    where: str = ""  # the model and the block's name; default: the model


def parse_sync_blocks(
    node: NodeRef, raw: Any, connections: Mapping[str, Connection], unavailable: Iterable[str] = ()
) -> tuple[list[SyncSpec], list[ConfigIssue], list[ColumnUse]]:
    """Every block of one node (``revsync`` may be one block or a list of them).

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
        spec, found, used = _parse_block(node, block, key_path, connections, set(unavailable))
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
        self.where = f"{_where(node)}, sync {name.strip()!r}" if isinstance(name, str) and name.strip() else _where(node)

    def fail(self, key: str, message: str) -> None:
        self.issues.append(
            ConfigIssue(message, where=self.where, file=self.node.yaml_file, key=f"{self.key_path}.{key}" if key else self.key_path)
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
        if isinstance(value, dict) and value and set(value) <= {"name", "email"} and all(isinstance(v, str) and v.strip() for v in value.values()):
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
    node: NodeRef, block: Any, key_path: str, connections: Mapping[str, Connection], unavailable: set[str]
) -> tuple[SyncSpec | None, list[ConfigIssue], list[ColumnUse]]:
    if not isinstance(block, dict):
        return None, [ConfigIssue("a revsync block must be a mapping", where=_where(node), file=node.yaml_file, key=key_path)], []
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
    spec = SyncSpec(sync_id=sync_id, node=node, connection=connection, key_path=key_path, **spec_args)  # type: ignore[arg-type]
    if spec.upsert_key and spec.upsert_field is None:
        hint = did_you_mean(spec.upsert_key, _mapped_names(spec.fields))
        reader.fail("upsert_key", f"{spec.upsert_key!r} is not one of the mapped destination fields{hint}")
    for index, name in enumerate(spec.match_on):
        if spec.field_for(name) is None:
            hint = did_you_mean(name, _mapped_names(spec.fields))
            reader.fail(f"match_on[{index}]", f"{name!r} is not one of the mapped destination fields{hint}")
    from dbt_revsync.destinations import destination_class

    cls = destination_class(connection.type)
    for message, key in [*_capability_issues(cls, spec), *cls.check_spec(spec)]:
        reader.fail(key, message)
    return (None, reader.issues, uses) if reader.issues else (spec, [], uses)


def _field_options(reader: _BlockReader, fields: tuple[FieldMap, ...]) -> tuple[FieldMap, ...]:
    """The fields with their per-field ``on_update`` and ``lists`` options attached."""
    options: dict[str, dict[str, str]] = {}
    for key, attribute, choices in (("on_update", "on_update", ON_UPDATE), ("lists", "list_format", LIST_FORMATS)):
        for path, choice in reader.per_field(key, choices).items():
            target = next((f for f in fields if f.path == path), None) or next((f for f in fields if f.parts[-1] == path), None)
            if target is None:
                hint = did_you_mean(path, _mapped_names(fields))
                reader.fail(f"{key}.{path}", f"{path!r} is not one of the mapped destination fields{hint}")
            else:
                options.setdefault(target.path, {})[attribute] = choice
    return tuple(replace(f, **options[f.path]) if f.path in options else f for f in fields)


def _mapped_names(fields: Iterable[FieldMap]) -> list[str]:
    return [name for f in fields for name in dict.fromkeys((f.path, f.parts[-1]))]


def _capability_issues(cls: Any, spec: SyncSpec) -> list[tuple[str, str]]:
    """Options that need a destination to find or read records, on one that cannot."""
    issues = []
    if spec.match_on and not cls.supports("find"):
        issues.append((f"a {cls.type_name} destination cannot search records, so match_on is not available", "match_on"))
    elif spec.insert_mode in KEYED_MODES and not cls.native_upsert and not cls.supports("find"):
        issues.append((f"a {cls.type_name} destination cannot search records, so insert_mode {spec.insert_mode} is not available", "insert_mode"))
    if spec.if_empty_fields and not cls.supports("fetch"):
        issues.append((f"a {cls.type_name} destination cannot read a record, so on_update if_empty is not available", "on_update"))
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
            f"column {use.column!r} is not in {use.node.schema}.{use.node.identifier}{did_you_mean(use.column, columns)}",
            where=use.where or _where(use.node),
            file=use.node.yaml_file,
            key=use.key,
        )
        for use in uses
        if use.column.lower() not in have
    ]


def raise_if(issues: list[ConfigIssue]) -> None:
    if issues:
        raise ConfigError(issues)


