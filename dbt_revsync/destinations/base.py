"""The contract every CRM connector implements.

A destination turns a batch of ``Change``s into vendor requests and reads the vendor's
answers into a ``BatchResult``: per record, acknowledged (with the CRM's id) or rejected
(with the CRM's own code and message). It never retries, sleeps or touches the state:
``delivery.HttpClient`` retries and paces requests, the runner commits what was
acknowledged. A record in neither list stays uncommitted and is sent again next push.

Acknowledging is a claim about the CRM, so it is made only on what the CRM's answer says:
a 2xx that lacks the record or id a connector expects (an HTML maintenance page, a body that
is not JSON, an empty ``201``) acknowledges nothing and leaves the record for the next push
(``BatchResult.leave`` with ``unconfirmed``). The outcome of an acknowledgement is
``created`` only when the answer says the CRM created a new record for this change (a
create endpoint answering the new record's id, an upsert's own "created" flag); a record
matched or changed is ``updated``; where an answer cannot tell, ``updated`` (the state uses
``created`` to decide which records ``mirror`` may delete).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from dbt_revsync.delivery import BudgetSpent, HttpClient, Reply, Window, rate_limit_wait
from dbt_revsync.errors import ConfigIssue, FatalDestinationError, TransientDestinationError, did_you_mean
from dbt_revsync.model import BatchResult, Change, Connection, SyncSpec

__all__ = [
    "UNREADABLE",
    "Destination",
    "Found",
    "PerRecordDestination",
    "RecordRejected",
    "answer_body",
    "confirms_without_body",
    "unconfirmed",
]


@dataclass(frozen=True)
class Found:
    """A record a destination found by a field's value; ``record`` when the answer held it."""

    id: str
    record: Mapping[str, Any] | None = None


class RecordRejected(Exception):
    """Raised by ``find``/``fetch`` when the destination refused the lookup for this record;
    the caller turns it into a reject (it never leaves the send of one batch)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


# ---- reading answers ---------------------------------------------------------------------
UNREADABLE: Any = object()  # an answer body that is not JSON


def answer_body(reply: Reply) -> Any:
    """The JSON body of an answer: None when it has none, ``UNREADABLE`` when it is not JSON
    (an HTML maintenance page, a truncated body)."""
    if not reply.content.strip():
        return None
    body = reply.json()
    return UNREADABLE if body is None and reply.content.strip() != b"null" else body


def confirms_without_body(reply: Reply) -> bool:
    """A 2xx that confirms a request needing no record back (a delete): a ``204 No Content``,
    an empty body, or any JSON body; never a body that is not JSON."""
    return reply.ok and answer_body(reply) is not UNREADABLE


def unconfirmed(reply: Reply, expected: str) -> str:
    """Why a 2xx answer acknowledges nothing: what was expected, what came instead."""
    body = answer_body(reply)
    content_type = next((v for k, v in reply.headers.items() if k.lower() == "content-type"), "")
    if body is None:
        what = "an empty body"
    elif body is UNREADABLE:
        what = (
            f"a body that is not JSON ({content_type.split(';')[0] or 'no content type'}: {reply.text[:80].strip()!r})"
        )
    else:
        what = f"a JSON body without it ({reply.text[:80].strip()!r})"
    return f"answered {reply.status} with {what}, not {expected}: not acknowledged, sent again next push"


class Destination:
    """Base of every connector. Subclasses set the class attributes and implement ``send``."""

    type_name: ClassVar[str]
    required_settings: ClassVar[tuple[str, ...]] = ()
    optional_settings: ClassVar[tuple[str, ...]] = ()
    secret_settings: ClassVar[tuple[str, ...]] = ()
    objects: ClassVar[tuple[str, ...] | None] = None  # None: any object name
    max_batch_size: ClassVar[int] = 100
    default_rate_limit: ClassVar[float | None] = None  # requests per second, from the vendor's docs
    # False: the CRM has no upsert; upsert, update, delete and mirror find the record with
    # ``find`` by the match keys (``match_on``, else ``upsert_key``), then send by id.
    native_upsert: ClassVar[bool] = True
    # Optional capabilities, each a method a connector overrides (see ``supports``):
    #   find(spec, field, value, result) -> [Found]    needed by ``match_on`` (and native_upsert False)
    #   fetch(spec, record_id, result) -> record|None   needed by ``on_update: if_empty``
    CAPABILITIES: ClassVar[tuple[str, ...]] = ("find", "fetch")

    def __init__(self, connection: Connection, http: HttpClient) -> None:
        self.connection = connection
        self.http = http

    # ---- configuration checks: pure, no request ------------------------------------
    @classmethod
    def check_connection(cls, connection: Connection) -> list[str]:
        return []

    @classmethod
    def check_spec(cls, spec: SyncSpec) -> list[tuple[str, str]]:
        """Problems with a sync block for this destination, as (message, key)."""
        if cls.objects is not None and spec.object not in cls.objects:
            hint = did_you_mean(spec.object, cls.objects)
            return [
                (
                    f"unknown {cls.type_name} object {spec.object!r}{hint}; expected one of: {', '.join(cls.objects)}",
                    "object",
                )
            ]
        return []

    @classmethod
    def default_root(cls, connection: Connection) -> str:
        raise NotImplementedError

    @staticmethod
    def vendor_host(connection: Connection, setting: str, suffix: str) -> str:
        """The account's host from a ``setting`` given as ``acme``, ``acme.<suffix>`` or a URL."""
        host = str(connection.setting(setting)).strip().removeprefix("https://").strip("/")
        return host if "." in host else f"{host}.{suffix}"

    @classmethod
    def supports(cls, capability: str) -> bool:
        """True when the connector implements the optional method ``capability``."""
        return capability in cls.CAPABILITIES and getattr(cls, capability) is not getattr(Destination, capability)

    @classmethod
    def windows(cls, connection: Connection) -> Mapping[str, tuple[Window, ...]]:
        """The vendor's rolling limits for this connection (its plan), by request family:
        ``""`` for every request, another name for the requests sent with that ``family``
        (``HttpClient.request(..., family=...)``). Default: none beyond ``rate_limit``."""
        return {}

    @classmethod
    def throttle_hint(cls, headers: Mapping[str, str]) -> float | None:
        """Seconds to pause the connection after an answer whose rate-limit headers say the
        budget is spent. The default reads the common ``X-RateLimit-*``, ``RateLimit-*`` and
        HubSpot families (``delivery.rate_limit_wait``); override for other headers."""
        return rate_limit_wait(headers)

    # ---- runtime ---------------------------------------------------------------------
    @property
    def root(self) -> str:
        return self.connection.base_url or self.default_root(self.connection)

    def batch_size_for(self, spec: SyncSpec, pending: int) -> int:
        """How many changes one ``send`` gets in this push, knowing ``pending`` changes wait.

        Default: the sync's ``batch_size`` capped at ``max_batch_size``. A destination with a
        bulk path (a job API for large loads) may take bigger chunks when ``pending`` is large;
        ``send`` then receives more than ``max_batch_size`` changes at once.
        """
        return spec.effective_batch_size(self.max_batch_size)

    def prepare(self, spec: SyncSpec) -> None:
        """Called once per push of a sync before the first batch (may ask the CRM)."""

    def remote_issues(self, spec: SyncSpec) -> list[ConfigIssue]:
        """``validate --remote``: configuration mistakes only the CRM can reveal (a field it
        does not have, ...), asked with read-only requests. Default: none."""
        return []

    def send(self, spec: SyncSpec, changes: Sequence[Change]) -> BatchResult:
        raise NotImplementedError

    # ---- optional capabilities -------------------------------------------------------
    def find(self, spec: SyncSpec, field: str, value: Any, result: BatchResult) -> list[Found]:
        """The records of ``spec.object`` whose destination ``field`` equals ``value``.

        Raises ``RecordRejected`` when the CRM refuses the lookup itself, and the
        transient/fatal destination errors as ``send`` does.
        """
        raise NotImplementedError

    def fetch(self, spec: SyncSpec, record_id: str, result: BatchResult) -> Mapping[str, Any] | None:
        """The current record ``record_id`` of ``spec.object`` as the CRM holds it; None if gone."""
        raise NotImplementedError

    def current_value(self, spec: SyncSpec, record: Mapping[str, Any], path: str) -> Any:
        """The value at a destination field path (dots = nested) of a record ``fetch`` or
        ``find`` returned. Override where the CRM stores a field elsewhere than it takes it."""
        node: Any = record
        for part in path.split("."):
            if not isinstance(node, Mapping):
                return None
            node = node.get(part)
        return node

    # the object's own field list (validate --remote)
    def list_fields(self, spec: SyncSpec) -> set[str] | None:
        """The names of the fields ``spec.object`` has, asked of the destination itself.

        Optional: None (the default) means this destination cannot list its fields, and
        ``validate --remote`` says so instead of checking. Raises ``DestinationError``
        when the destination cannot be asked (credentials, network).
        """
        return None

    @classmethod
    def field_name(cls, path: str) -> str:
        """The name the field list knows a mapped path by (default: its first part)."""
        return path.split(".", 1)[0]


class PerRecordDestination(Destination):
    """A CRM with no batch write: one request (or a few) per record, in order.

    A transient failure leaves that record for the next push and moves on; a fatal one stops the
    batch, keeping what was already acknowledged so it is committed before the sync stops.
    """

    def send(self, spec: SyncSpec, changes: Sequence[Change]) -> BatchResult:
        """Each change in turn. Once the connection's rate budget is spent (``BudgetSpent``: nothing
        was sent), the rest of the batch is left for the next push without trying."""
        result = BatchResult()
        for index, change in enumerate(changes):
            try:
                self.send_one(spec, change, result)
            except BudgetSpent as exc:
                result.cut_short(changes[index:], exc)
                break
            except TransientDestinationError as exc:
                result.leave(change, exc)
            except FatalDestinationError as exc:
                result.fatal = str(exc)
                break
        return result

    def send_one(self, spec: SyncSpec, change: Change, result: BatchResult) -> None:
        raise NotImplementedError
