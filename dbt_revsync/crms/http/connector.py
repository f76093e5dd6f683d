"""Any JSON REST endpoint, configured by hand (a Nexla-style manual destination).

Settings (``revsync.yml``)::

    type: http
    url: "https://api.example.com/v1/{object}/{account_id}"  # or relative to base_url
    method: POST                 # POST (default) | PUT | PATCH
    headers: {Authorization: "Bearer {{ env_var('TOKEN') }}"}   # values from env_var are secrets
    body: object                 # object (default): the row's fields | list: [the row's fields]
    body_field: records            # optional: send {"records": <body>}
    batch: false                 # true: one request per batch of rows, the body a list of them
    batch_size: 100              # rows a request when batch is on (the block's batch_size may lower it)
    success_codes: [200, 201, 202, 204]
    id_path: "$.id"              # the id to remember; with batch on, a path to one id per row ($.results[*].id)

``{name}`` in the URL is the block's ``object`` or a column the sync reads (primary key or
a mapped column), URL-encoded; with batch on only ``{object}`` may be used. Any other 4xx
rejects the rows with the endpoint's message; 429, 5xx and timeouts are retried by
``delivery``. The endpoint decides what a request means, so only ``append`` and ``upsert``
are offered; it cannot be searched, so ``match_on`` is not available.

What acknowledges rows. The status must be in ``success_codes``, and then:

- with ``id_path``: the answer must be JSON holding the id there (with batch on, one id per
  row, in order); an answer without it acknowledges nothing;
- without ``id_path``: any answer but a page (``text/html``, or a body that opens with
  ``<``: the maintenance page a proxy answers 200 with) or a body labelled JSON that does not
  parse (cut short): an empty body, JSON, or plain text such as a webhook's ``ok``.

Rows not acknowledged are left for the next push, with the reason in the log.

Created or updated: ``created`` only when a one-row request is answered ``201 Created`` (the
HTTP meaning: a new resource was made) and the answer holds its id at ``id_path``; anything
else is ``updated``: a batch answer's 201 does not say which rows it created.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from dbt_revsync.connections import check_base_url
from dbt_revsync.delivery import Reply
from dbt_revsync.destinations.base import UNREADABLE, Destination, answer_body, unconfirmed
from dbt_revsync.errors import FatalDestinationError, TransientDestinationError
from dbt_revsync.model import BatchResult, Change, Connection, SyncSpec

__all__ = [
    "BODIES",
    "DEFAULT_SUCCESS",
    "HttpDestination",
    "json_path",
    "MAX_BATCH",
    "METHODS",
    "MODES",
    "PLACEHOLDER",
]

METHODS = ("POST", "PUT", "PATCH")
BODIES = ("object", "list")
MODES = ("append", "upsert")
DEFAULT_SUCCESS = (200, 201, 202, 204)
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_BATCH = 1000


class HttpDestination(Destination):
    type_name: ClassVar[str] = "http"
    required_settings: ClassVar[tuple[str, ...]] = ("url",)
    optional_settings: ClassVar[tuple[str, ...]] = (
        "method",
        "headers",
        "body",
        "body_field",
        "batch",
        "batch_size",
        "success_codes",
        "id_path",
    )
    secret_settings: ClassVar[tuple[str, ...]] = ("headers",)
    max_batch_size: ClassVar[int] = MAX_BATCH

    def __init__(self, connection: Connection, http: Any) -> None:
        super().__init__(connection, http)
        self.batch = bool(connection.setting("batch", False))
        # With batch off the runner still commits 100 rows at a time; each is its own request.
        self.max_batch_size = int(connection.setting("batch_size", 100)) if self.batch else 100  # type: ignore[misc]

    # ---- configuration checks ----------------------------------------------------------
    @classmethod
    def check_connection(cls, connection: Connection) -> list[str]:
        problems = []
        url = str(connection.setting("url"))
        if "://" in url:
            problems += check_base_url(url)
        elif not connection.base_url:
            problems.append("'url' is relative: give an absolute URL or a base_url")
        method = str(connection.setting("method", "POST")).upper()
        if method not in METHODS:
            problems.append(f"method must be one of {', '.join(METHODS)}; got {method!r}")
        if connection.setting("body", "object") not in BODIES:
            problems.append(f"body must be one of {', '.join(BODIES)}")
        headers = connection.setting("headers", {})
        if not isinstance(headers, Mapping) or not all(isinstance(v, (str, int, float)) for v in headers.values()):
            problems.append("headers must be a mapping of header name to text")
        if not isinstance(connection.setting("batch", False), bool):
            problems.append("batch must be true or false")
        size = connection.setting("batch_size", 100)
        if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_BATCH:
            problems.append(f"batch_size must be a whole number from 1 to {MAX_BATCH}")
        codes = connection.setting("success_codes", list(DEFAULT_SUCCESS))
        if not isinstance(codes, list) or not codes or not all(isinstance(c, int) and 100 <= c <= 599 for c in codes):
            problems.append("success_codes must be a list of HTTP status codes")
        try:
            json_path(connection.setting("id_path"), {})
        except ValueError as exc:
            problems.append(f"id_path: {exc}")
        return problems

    @classmethod
    def check_spec(cls, spec: SyncSpec) -> list[tuple[str, str]]:
        issues = super().check_spec(spec)
        if spec.insert_mode not in MODES:
            issues.append(
                (
                    "an http destination sends new and changed rows with one method: insert_mode must be "
                    f"{' or '.join(MODES)}",
                    "insert_mode",
                )
            )
        names = set(PLACEHOLDER.findall(str(spec.connection.setting("url")))) - {"object"}
        if names and spec.connection.setting("batch", False):
            issues.append(
                (
                    f"the connection's url uses {', '.join(sorted(names))}: with batch on only {{object}} can be used",
                    "destination",
                )
            )
        for name in sorted(names - set(spec.columns)):
            issues.append(
                (f"the connection's url uses {{{name}}}, which is not the primary key or a mapped column", "fields")
            )
        return issues

    @classmethod
    def default_root(cls, connection: Connection) -> str:
        return ""

    # ---- sending -----------------------------------------------------------------------
    def send(self, spec: SyncSpec, changes: Sequence[Change]) -> BatchResult:
        result = BatchResult()
        groups = [list(changes)] if self.batch else [[change] for change in changes]
        for group in groups:
            try:
                self._send_group(spec, group, result)
            except (TransientDestinationError, FatalDestinationError) as exc:
                result.cut_short(group, exc)
                if result.fatal:
                    break
        return result

    def _send_group(self, spec: SyncSpec, group: list[Change], result: BatchResult) -> None:
        setting = self.connection.setting
        body: Any = (
            [dict(c.fields) for c in group]
            if self.batch or setting("body", "object") == "list"
            else dict(group[0].fields)
        )
        if setting("body_field"):
            body = {str(setting("body_field")): body}
        headers = {str(k): str(v) for k, v in (setting("headers") or {}).items()}
        method = str(setting("method", "POST")).upper()
        reply = result.count(self.http.request(method, self._url(spec, group[0]), json=body, headers=headers))
        if reply.status in setting("success_codes", DEFAULT_SUCCESS):
            ids, missing = self._ids(reply, len(group))
            if missing:
                for change in group:
                    result.leave(change, unconfirmed(reply, missing))
                return
            for change, record_id in zip(group, ids):
                created = reply.status == 201 and len(group) == 1 and record_id is not None
                result.ack(change, record_id, "created" if created else "updated")
        else:
            message = reply.text[:500] or f"HTTP {reply.status}"
            for change in group:
                result.reject(
                    change, str(reply.status), f"answered {reply.status}, not one of the success codes: {message}"
                )

    def _url(self, spec: SyncSpec, change: Change) -> str:
        template = str(self.connection.setting("url"))

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            value = spec.object if name == "object" else change.row.get(name)
            return quote("" if value is None else _text(value), safe="")

        url = PLACEHOLDER.sub(fill, template)
        return url if "://" in url else f"{self.connection.base_url}/{url.lstrip('/')}"

    def _ids(self, reply: Reply, count: int) -> tuple[list[Any], str | None]:
        """The id of each row, and what the answer lacks to acknowledge them (None: nothing)."""
        body = answer_body(reply)
        path = self.connection.setting("id_path")
        if not path:
            if _broken(reply, body):
                return [], "an answer that is neither a page nor JSON cut short"
            return [None] * count, None
        found = [] if body in (None, UNREADABLE) else json_path(path, body)
        found = [v for v in found if v is not None and not isinstance(v, (dict, list)) and str(v) != ""]
        if len(found) != count:
            return [], f"{'one id' if count == 1 else f'{count} ids'} at {path}"
        return found, None


def _broken(reply: Reply, body: Any) -> bool:
    """An answer that cannot confirm anything: a page, or JSON that does not parse."""
    content_type = next((v for k, v in reply.headers.items() if k.lower() == "content-type"), "").lower()
    page = "html" in content_type or reply.content.lstrip()[:1] == b"<"
    return page or (body is UNREADABLE and "json" in content_type)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+|\*)\]|\['([^']+)'\]")


def json_path(path: Any, document: Any) -> list[Any]:
    """The values a small JSONPath selects: ``$``, ``.name``, ``['name']``, ``[0]``, ``[*]``.

    ``id`` and ``data.id`` are read as ``$.id`` and ``$.data.id``. ValueError on a bad path.
    """
    if path is None:
        return []
    text = str(path).strip()
    if not text.startswith("$"):
        text = "$." + text
    steps, at = [], 1
    while at < len(text):
        match = _STEP.match(text, at)
        if not match:
            raise ValueError(f"cannot read {str(path)!r} at {text[at:]!r} (use $.a.b, [0], [*])")
        steps.append(match.group(1) or match.group(3) or match.group(2))
        at = match.end()
    nodes = [document]
    for step in steps:
        nodes = [item for node in nodes for item in _step(node, step)]
    return nodes


def _step(node: Any, step: str) -> list[Any]:
    if step == "*":
        return list(node) if isinstance(node, list) else list(node.values()) if isinstance(node, dict) else []
    if step.isdigit():
        return [node[int(step)]] if isinstance(node, list) and int(step) < len(node) else []
    return [node[step]] if isinstance(node, dict) and step in node else []
