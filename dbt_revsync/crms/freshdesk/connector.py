"""Freshdesk (API v2): contacts and companies.

Facts (``facts.py``): HTTP Basic with the API key as user name and ``X`` as password;
API root ``https://<domain>.freshdesk.com/api/v2``; ``POST /<resource>``, ``PUT|DELETE
/<resource>/{id}`` (a contact's DELETE is a soft delete); **no upsert**, so upsert, update,
delete and mirror find the record first (``find``) and then POST or PUT by id; the shared
matching step does that with the sync's match keys. A 400 body lists ``errors: [{field,
message, code}]``: each becomes the record's reject code and message.

Look-ups use only what Freshdesk documents: the contact list filters ``email``, ``mobile``,
``phone`` and ``company_id`` (``GET /contacts?email=``: immediate), else the filter API
(``GET /search/<resource>?query="field:'value'"``, URL-encoded) on its documented fields
(``facts.SEARCH_FIELDS``) and custom fields. A match key no look-up can serve is refused by
``check_spec``. The filter API indexes with a lag ("Updates may take a few minutes to get
indexed"), so the records this connector created in the push are remembered and found by
their values even before the index has them: a second row with the same key never creates
a duplicate.

Limits per plan (``plan``: growth|pro|enterprise|trial; default growth, the strictest): the
account's requests per rolling minute, and every look-up also counts against the "Contacts
List" sub-limit (``windows``). ``X-Ratelimit-Remaining`` at 0 pauses the connection, and
``Retry-After`` on a 429 is honoured by ``delivery``.

Acknowledged: a create or update only by an answer holding the record with its ``id``; a
delete by ``204 No Content`` (any 2xx whose body is empty or JSON; a 404 is already gone).
Created or matched: ``POST`` makes a new record (201; a duplicate email is refused with
``duplicate_value``), so it is ``created``; a ``PUT`` to the id the matching step found or
remembered is ``updated``.

The trash: a contact's DELETE is soft. The contact keeps its email (and other unique values)
reserved, no list filter but ``state=deleted`` shows it, and it takes no update until
restored. So a row whose contact is in the trash comes back by a restore, never a new
contact (``restored``): in upsert and mirror, a create answered ``duplicate_value`` on fields
the row sent, where one trashed contact holds every duplicated value (found by the answer's
``additional_info.user_id`` when Freshdesk gives it, else ``GET /contacts?state=deleted&email=``);
in any mode that updates, a ``PUT`` to a remembered id refused while ``GET /contacts/{id}``
says ``deleted: true``. The contact is restored (``PUT /contacts/{id}/restore``, 204), then
updated with the row's values, and acknowledged ``updated`` with its id (the runner keeps
the origin the state remembers for that id; an id it did not remember is ``matched``). A
duplicate held by a live contact stays a reject with Freshdesk's reason. The connector never
hard-deletes: what mirror deletes stays recoverable from the trash.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from dbt_revsync.blocks import KEYED_MODES
from dbt_revsync.crms.freshdesk import facts
from dbt_revsync.delivery import Reply, Window
from dbt_revsync.destinations.base import (
    Found,
    PerRecordDestination,
    RecordRejected,
    confirms_without_body,
    unconfirmed,
)
from dbt_revsync.errors import DestinationError, TransientDestinationError
from dbt_revsync.model import BatchResult, Change, Connection, SyncSpec

__all__ = [
    "error_of",
    "FIELD_LISTS",
    "FreshdeskDestination",
    "LOOKUP",
    "lookup_of",
    "OBJECTS",
    "PER_PAGE",
    "search_query",
    "searchable",
    "TRASH_SUSPECTED",
]

OBJECTS = facts.OBJECTS
PER_PAGE = facts.PER_PAGE_MAX
FIELD_LISTS = {"contacts": "contact_fields", "companies": "company_fields"}
LOOKUP = "lookup"  # the request family of list, filter and search calls
# The refusals of a PUT to a remembered contact after which the connector looks in the trash.
# Assumed: the docs do not say how Freshdesk answers an update of a trashed contact.
TRASH_SUSPECTED = (400, 404, 405, 409)

logger = logging.getLogger(__name__)


class FreshdeskDestination(PerRecordDestination):
    type_name: ClassVar[str] = "freshdesk"
    required_settings: ClassVar[tuple[str, ...]] = ("api_key",)
    optional_settings: ClassVar[tuple[str, ...]] = ("domain", "plan")
    secret_settings: ClassVar[tuple[str, ...]] = ("api_key",)
    objects: ClassVar[tuple[str, ...]] = OBJECTS
    max_batch_size: ClassVar[int] = facts.MAX_BATCH
    # No steady pace: the plan's rolling windows (``windows``) hold the requests to what the
    # account allows; ``rate_limit`` on the connection still sets one.
    default_rate_limit: ClassVar[float | None] = None
    native_upsert: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # object -> [(id, fields sent)] of the records this connector created in the push.
        self._created: dict[str, list[tuple[str, Mapping[str, Any]]]] = {name: [] for name in OBJECTS}
        self._created_lock = threading.Lock()

    @classmethod
    def check_connection(cls, connection: Connection) -> list[str]:
        problems = []
        if not connection.base_url and not connection.setting("domain"):
            problems.append("a freshdesk connection needs 'domain' (e.g. acme.freshdesk.com) or 'base_url'")
        plan = connection.setting("plan")
        if plan is not None and str(plan).strip().lower() not in facts.PLANS:
            problems.append(f"unknown freshdesk plan {plan!r} in 'plan'; expected one of: {', '.join(facts.PLANS)}")
        return problems

    @classmethod
    def plan(cls, connection: Connection) -> facts.Plan:
        """The connection's plan (``plan``), Growth when not given or not known."""
        name = str(connection.setting("plan") or facts.DEFAULT_PLAN).strip().lower()
        return facts.PLANS.get(name, facts.PLANS[facts.DEFAULT_PLAN])

    @classmethod
    def windows(cls, connection: Connection) -> Mapping[str, tuple[Window, ...]]:
        """Every request counts against the plan's per-minute limit; list, filter and search
        requests also against the "Contacts List" sub-limit (``facts.PLANS``). Assumed,
        the stricter reading: the sub-limit covers the filter API and company look-ups too."""
        plan = cls.plan(connection)
        return {"": (Window(plan.per_minute, 60.0),), LOOKUP: (Window(plan.contacts_list, 60.0),)}

    @classmethod
    def check_spec(cls, spec: SyncSpec) -> list[tuple[str, str]]:
        problems = super().check_spec(spec)
        if problems or spec.object not in OBJECTS:
            return problems
        if not spec.match_on and spec.insert_mode not in KEYED_MODES:
            return problems
        key_name = "match_on" if spec.match_on else "upsert_key"
        for key in spec.match_keys:
            field = spec.field_for(key)
            path = field.path if field else key
            if path != "id" and lookup_of(spec.object, path) is None:
                usable = ", ".join(searchable(spec.object))
                problems.append(
                    (
                        f"Freshdesk cannot look {spec.object} up by {path!r}: use {usable} or a custom field "
                        "(custom_fields.<name>)",
                        key_name,
                    )
                )
        return problems

    @classmethod
    def default_root(cls, connection: Connection) -> str:
        return f"https://{cls.vendor_host(connection, 'domain', 'freshdesk.com')}/api/v2"

    @classmethod
    def throttle_hint(cls, headers: Mapping[str, str]) -> float | None:
        """The budget is per minute: with none left, wait one request's share of the minute."""
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            remaining, total = int(lowered["x-ratelimit-remaining"]), int(lowered["x-ratelimit-total"])
        except (KeyError, ValueError):
            return None
        return 60 / max(total, 1) if remaining <= 0 else None

    # ---- requests ----------------------------------------------------------------------
    def _call(
        self,
        result: BatchResult,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        family: str = "",
    ) -> Reply:
        token = base64.b64encode(f"{self.connection.setting('api_key')}:X".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        reply = self.http.request(
            method, f"{self.root}/{path}", json=body, params=params, headers=headers, family=family
        )
        return result.count(reply)

    def send_one(self, spec: SyncSpec, change: Change, result: BatchResult) -> None:
        """Only by id: the matching step has turned every upsert into a create or an update."""
        if change.op == "create" or (change.op == "upsert" and not change.remote_id):
            self._create(spec, change, result)
        elif change.op == "delete":
            reply = self._call(result, "DELETE", f"{spec.object}/{change.remote_id}")
            if reply.status == 404 or confirms_without_body(reply):  # 404: already gone, the goal is reached
                result.ack(change, change.remote_id, "deleted")
            elif reply.ok:
                result.leave(change, unconfirmed(reply, "204 No Content"))
            else:
                result.reject(change, *error_of(reply))
        else:
            reply = self._call(result, "PUT", f"{spec.object}/{change.remote_id}", change.fields)
            if (
                spec.object == "contacts"
                and reply.status in TRASH_SUSPECTED
                and change.remote_id
                and self._in_trash(str(change.remote_id), result) is not None
            ):
                self._restore(spec, change, str(change.remote_id), result)
            elif reply.status == 404 and spec.insert_mode in (
                "upsert",
                "mirror",
            ):  # the remembered record is gone: made again
                self._create(spec, change, result)
            else:
                self._read(reply, spec, change, result, "updated")

    def _create(self, spec: SyncSpec, change: Change, result: BatchResult) -> None:
        """POST; a duplicate that a trashed contact holds brings that contact back instead."""
        reply = self._call(result, "POST", spec.object, change.fields)
        trashed = self._trashed_holder(spec, change, reply, result) if not reply.ok else None
        if trashed is None:
            self._read(reply, spec, change, result, "created")
        else:
            self._restore(spec, change, trashed, result)

    # ---- the trash ---------------------------------------------------------------------
    def _in_trash(self, record_id: str, result: BatchResult) -> Mapping[str, Any] | None:
        """The contact ``record_id`` when ``GET /contacts/{id}`` shows it in the trash."""
        reply = self._call(result, "GET", f"contacts/{record_id}")
        body = reply.json() if reply.ok else None
        return body if isinstance(body, dict) and body.get("deleted") is True else None

    def _trashed_holder(self, spec: SyncSpec, change: Change, reply: Reply, result: BatchResult) -> str | None:
        """The id of the one trashed contact holding every value a refused create duplicated,
        in the modes that may update a record (upsert, mirror); None for anything else (a
        live holder, several holders, another error), which stays a reject."""
        if spec.object != "contacts" or spec.insert_mode not in ("upsert", "mirror") or reply.status not in (400, 409):
            return None
        body = reply.json()
        errors = body.get("errors") if isinstance(body, dict) else None
        if not isinstance(errors, list) or not errors or not all(isinstance(e, dict) for e in errors):
            return None
        if any(e.get("code") != "duplicate_value" for e in errors):
            return None
        named = {
            str(e["additional_info"]["user_id"])
            for e in errors
            if isinstance(e.get("additional_info"), dict) and e["additional_info"].get("user_id") is not None
        }
        if len(named) > 1:
            return None
        if named:
            found = self._in_trash(named.pop(), result)
            candidates = [found] if found is not None else []
        else:
            candidates = self._trash_by_filter(change, errors, result)
        if len(candidates) != 1 or not all(_holds(candidates[0], change.fields, str(e.get("field"))) for e in errors):
            return None
        return str(candidates[0]["id"])

    def _trash_by_filter(
        self, change: Change, errors: list[dict[str, Any]], result: BatchResult
    ) -> list[Mapping[str, Any]]:
        """The trashed contacts (``state=deleted``) holding the value of the first duplicated
        field a list filter serves (email, mobile, phone)."""
        for error in errors:
            field = str(error.get("field"))
            value = change.fields.get(field)
            if field in facts.MATCH_FILTERS["contacts"] and value not in (None, ""):
                reply = self._call(
                    result,
                    "GET",
                    "contacts",
                    params={"state": "deleted", field: value, "per_page": PER_PAGE},
                    family=LOOKUP,
                )
                records = reply.json() if reply.ok else None
                if not isinstance(records, list):
                    return []
                return [
                    r
                    for r in records
                    if isinstance(r, dict) and r.get("id") is not None and r.get("deleted") is not False
                ]
        return []

    def _restore(self, spec: SyncSpec, change: Change, record_id: str, result: BatchResult) -> None:
        """``PUT /contacts/{id}/restore`` (204), then the row's values by ``PUT``: ``updated``."""
        reply = self._call(result, "PUT", f"contacts/{record_id}/restore")
        if not reply.ok:
            result.reject(change, *error_of(reply))
            return
        if not confirms_without_body(reply):
            result.leave(change, unconfirmed(reply, "204 No Content"))
            return
        logger.info("%s: row %s: contact %s restored from the Freshdesk trash", spec.label, change.key, record_id)
        self._read(self._call(result, "PUT", f"contacts/{record_id}", change.fields), spec, change, result, "updated")

    def find(self, spec: SyncSpec, field: str, value: Any, result: BatchResult) -> list[Found]:
        """A list filter when Freshdesk has one for ``field`` (immediate), else the filter API
        (indexed with a lag), plus the records created in this push that hold ``value``."""
        how = lookup_of(spec.object, field)
        if how is None:
            raise RecordRejected("unsearchable_field", f"Freshdesk cannot look {spec.object} up by {field!r}")
        kind, name = how
        if kind == "list":
            reply = self._call(result, "GET", spec.object, params={name: value, "per_page": PER_PAGE}, family=LOOKUP)
            records = reply.json() if reply.ok else None
        else:
            query = search_query(name, value)
            reply = self._call(result, "GET", f"search/{spec.object}?query={quote(query, safe='')}", family=LOOKUP)
            body = reply.json() if reply.ok else None
            records = body.get("results") if isinstance(body, dict) else None
        if not reply.ok:
            raise RecordRejected(*error_of(reply))
        if not isinstance(records, list):
            raise TransientDestinationError(unconfirmed(reply, f"a list of {spec.object}"))
        found = [
            Found(str(record["id"]), record)
            for record in records
            if isinstance(record, dict) and record.get("id") is not None
        ]
        known = {match.id for match in found}
        return found + [
            Found(record_id) for record_id in self._created_with(spec.object, field, value) if record_id not in known
        ]

    def _remember(self, resource: str, record_id: str, fields: Mapping[str, Any]) -> None:
        with self._created_lock:
            self._created[resource].append((record_id, fields))

    def _created_with(self, resource: str, path: str, value: Any) -> list[str]:
        """The ids of the records created in this push whose sent ``path`` holds ``value``."""
        wanted = _folded(value)
        if wanted is None:
            return []
        with self._created_lock:
            created = list(self._created[resource])
        return [record_id for record_id, fields in created if wanted in map(_folded, _values_at(fields, path))]

    def list_fields(self, spec: SyncSpec) -> set[str] | None:
        """``GET /contact_fields`` or ``/company_fields``: a list of ``{"name", "default", ..}``,
        custom fields under their bare names."""
        reply = self._call(BatchResult(), "GET", FIELD_LISTS[spec.object])
        body = reply.json()
        if not reply.ok or not isinstance(body, list):
            code, message = error_of(reply)
            raise DestinationError(f"Freshdesk did not list the {spec.object} fields ({code}): {message}")
        return {str(f["name"]) for f in body if isinstance(f, dict) and f.get("name")}

    @classmethod
    def field_name(cls, path: str) -> str:
        """``custom_fields.x`` is the custom field ``x``; any other path its first part."""
        return path.split(".")[-1] if path.startswith("custom_fields.") else path.split(".", 1)[0]

    def fetch(self, spec: SyncSpec, record_id: str, result: BatchResult) -> Mapping[str, Any] | None:
        reply = self._call(result, "GET", f"{spec.object}/{record_id}")
        if reply.status == 404:
            return None
        if not reply.ok:
            raise RecordRejected(*error_of(reply))
        body = reply.json()
        if not isinstance(body, dict):
            raise TransientDestinationError(unconfirmed(reply, f"record {record_id}"))
        return body

    def _read(self, reply: Reply, spec: SyncSpec, change: Change, result: BatchResult, outcome: str) -> None:
        """Acknowledge by the record the answer holds (``{"id": .., ..}``), else leave."""
        if not reply.ok:
            result.reject(change, *error_of(reply))
            return
        body = reply.json()
        found = body.get("id") if isinstance(body, dict) else None
        if found in (None, ""):
            result.leave(change, unconfirmed(reply, "the record with its id"))
        else:
            if outcome == "created":
                self._remember(spec.object, str(found), change.fields)
            result.ack(change, found, outcome)


def _holds(record: Mapping[str, Any], fields: Mapping[str, Any], field: str) -> bool:
    """Whether ``record`` holds the value the row sent for ``field`` (an email: any of the
    row's emails among the record's, primary or other), compared ignoring case."""
    if field == "email":
        sent = [fields.get("email"), *(fields.get("other_emails") or [])]
        held = [record.get("email"), *(record.get("other_emails") or [])]
        return bool(({_folded(v) for v in sent} - {None}) & {_folded(v) for v in held})
    wanted = _folded(fields.get(field))
    return wanted is not None and wanted == _folded(record.get(field))


def searchable(resource: str) -> list[str]:
    """The destination fields a look-up can serve, standard ones (custom fields aside)."""
    names = set(facts.MATCH_FILTERS[resource]) | set(facts.SEARCH_FIELDS[resource])
    return sorted(
        facts.SEARCH_FIELD_SOURCES.get(name, name) for name in names if name not in ("created_at", "updated_at")
    )


def lookup_of(resource: str, path: str) -> tuple[str, str] | None:
    """How to find ``resource`` records by the destination field ``path``: ``("list",
    filter)`` for a documented list filter, ``("search", field)`` for the filter API, None
    when Freshdesk documents no way."""
    if path in facts.MATCH_FILTERS[resource]:
        return "list", path
    if path.startswith("custom_fields.") and path.count(".") == 1:
        return "search", path.split(".", 1)[1]
    name = facts.SEARCH_NAME_OF.get(path, path)
    if name in facts.SEARCH_FIELDS[resource] and name not in ("created_at", "updated_at"):
        return "search", name
    return None


def search_query(name: str, value: Any) -> str:
    """``"name:value"`` in the filter API's language: numbers and booleans bare, text in single
    quotes (the docs give no escape: a value holding a quote cannot be searched), at most 512
    characters between the double quotes."""
    if isinstance(value, bool):
        literal = "true" if value else "false"
    elif isinstance(value, (int, float)):
        literal = str(value)
    elif isinstance(value, (list, dict)):
        raise RecordRejected("unsearchable_value", f"Freshdesk's filter API searches {name} for one value, not a list")
    else:
        text = str(value)
        if "'" in text or '"' in text or "\\" in text:
            raise RecordRejected(
                "unsearchable_value",
                f"Freshdesk's filter API cannot search {name} for a value holding a quote or backslash",
            )
        literal = f"'{text}'"
    inner = f"{name}:{literal}"
    if len(inner) > facts.QUERY_MAX:
        raise RecordRejected(
            "unsearchable_value", f"a search for {name} would exceed Freshdesk's {facts.QUERY_MAX} characters"
        )
    return f'"{inner}"'


def _values_at(fields: Mapping[str, Any], path: str) -> list[Any]:
    node: Any = fields
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return []
        node = node.get(part)
    return node if isinstance(node, list) else [node]


def _folded(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().lower()


def error_of(reply: Reply) -> tuple[str, str]:
    """``{"description", "errors": [{"field", "message", "code"}]}``: the first error's code,
    and every error as ``field: message (code)``; else ``{"code", "message"}``; else the status."""
    body = reply.json()
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and all(isinstance(e, dict) for e in errors):
        message = "; ".join(f"{e.get('field')}: {e.get('message')} ({e.get('code')})" for e in errors)
        return str(errors[0].get("code") or reply.status), message
    if isinstance(body, dict) and body.get("message"):
        return str(body.get("code") or reply.status), str(body["message"])
    return str(reply.status), reply.text[:500] or f"HTTP {reply.status}"
