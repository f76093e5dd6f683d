"""The connections file (``revsync.yml``): where it is found, its ``env_var`` calls rendered,
its secrets collected for redaction, its number settings and URLs checked.

Parsing never stops at the first mistake: each function returns what it could build and the
list of ``ConfigIssue``s it found, so every mistake is reported at once. The destination
classes a connection ``type`` names are handed in (``destinations``: type name -> class);
nothing here imports the registry. Nothing here does I/O but reading the file and the
environment.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from dbt_revsync import logs
from dbt_revsync.delivery import header_value_problem, is_loopback
from dbt_revsync.errors import ConfigError, ConfigIssue, did_you_mean
from dbt_revsync.model import Connection

if TYPE_CHECKING:
    from dbt_revsync.destinations.base import Destination

__all__ = [
    "CONNECTIONS_ENV",
    "CONNECTION_KEYS",
    "NUMBER_BOUNDS",
    "URL_KEYS",
    "Destinations",
    "check_base_url",
    "find_connections_file",
    "load_connections",
    "parse_connection",
    "render_env_vars",
]

Destinations = Mapping[str, "type[Destination]"]  # connection type -> its destination class

CONNECTION_KEYS = (
    "type",
    "base_url",
    "rate_limit",
    "max_concurrency",
    "timeout",
    "max_retries",
    "max_retry_time",
    "breaker_threshold",
)
CONNECTIONS_ENV = "DBT_REVSYNC_CONNECTIONS"
URL_KEYS = ("url", "base_url")  # settings that hold a URL (a token may ride in its path or query)
_SECRET_WORDS = re.compile(r"(key|token|secret|password)", re.IGNORECASE)
_ENV_VAR = re.compile(
    r"""\{\{\s*env_var\(\s*(['"])(?P<name>[^'"]+)\1\s*(?:,\s*(['"])(?P<default>.*?)\3\s*)?\)\s*\}\}"""
)
_ANY_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")


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


def load_connections(
    path: Path, environ: Mapping[str, str] | None = None, *, destinations: Destinations
) -> tuple[dict[str, Connection], list[ConfigIssue]]:
    environ = os.environ if environ is None else environ
    try:
        data = YAML(typ="safe").load(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError:
        return {}, [
            ConfigIssue(
                "cannot read connections file: it is not UTF-8 text (saved as UTF-16?); save it as UTF-8",
                file=str(path),
            )
        ]
    except (OSError, YAMLError) as exc:
        return {}, [ConfigIssue(f"cannot read connections file: {exc}", file=str(path))]
    if not isinstance(data, dict) or not isinstance(data.get("connections"), dict):
        return {}, [ConfigIssue("expected a mapping with a 'connections' mapping", file=str(path), key="connections")]
    connections: dict[str, Connection] = {}
    issues: list[ConfigIssue] = []
    for name, raw in data["connections"].items():
        conn, found = parse_connection(str(name), raw, str(path), environ, destinations=destinations)
        issues.extend(found)
        if conn is not None:
            connections[str(name)] = conn
    return connections, issues


def parse_connection(
    name: str, raw: Any, file: str, environ: Mapping[str, str], *, destinations: Destinations
) -> tuple[Connection | None, list[ConfigIssue]]:
    where = f"connection '{name}'"

    def issue(message: str, key: str) -> ConfigIssue:
        return ConfigIssue(message, where=where, file=file, key=f"connections.{name}.{key}", connection=name)

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
    if not isinstance(ctype, str) or ctype not in destinations:
        known = ", ".join(destinations)
        hint = did_you_mean(str(ctype), destinations) if isinstance(ctype, str) else ""
        return None, [*issues, issue(f"unknown type {ctype!r}{hint}; expected one of: {known}", "type")]
    cls = destinations[ctype]
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
            issues.append(
                issue(f"unknown key for a {ctype} connection{hint}; allowed: {', '.join(sorted(allowed))}", key)
            )
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
    pairs = (
        zip(raw.values(), rendered.values())
        if isinstance(raw, dict) and isinstance(rendered, dict)
        else (zip(raw, rendered) if isinstance(raw, list) and isinstance(rendered, list) else ())
    )
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
            issues.append(
                (
                    key,
                    f"must be from {low:g} to {high:g}; got {_shown(value)}"
                    if low_ok
                    else f"must be greater than {low:g} and at most {high:g}; got {_shown(value)}",
                )
            )
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
