"""The destination conformance suite: the behaviour every CRM connector owes the runner,
checked against the CRM's own emulator over loopback.

A per-CRM pytest module subclasses :class:`DestinationConformance`, names the CRM (its
``dbt_revsync.crms`` registry name), an object, a field map, sample rows and the keys, and
inherits these tests (``TESTS``):

- ``test_declaration_is_complete``: the subclass names a registered CRM, mapped keys and
  three distinct rows, and a reason for every test it declares unsupported.
- ``test_create``: ``append`` creates one record per row, each acknowledged ``created``
  with the CRM's id; the emulator holds exactly those records, with every value sent.
- ``test_upsert``: a second push of the same key updates the record, remembered id or
  not; never a duplicate, never a second ``created``.
- ``test_upsert_recreates_a_record_deleted_in_the_crm``: the remembered record is gone;
  the upsert makes it again.
- ``test_update``: ``update`` changes records found by id and by key; a key that matches
  nothing is rejected with a reason and creates nothing.
- ``test_delete``: ``delete`` removes the record of its key and nothing else.
- ``test_mirror``: a record the sync did not create (already in the CRM) is acknowledged
  ``updated``, never ``created`` (the state lets mirror delete only records it created);
  removing the sync's own record deletes it and leaves the other one alone.
- ``test_partial_batch_failure``: in one batch with a bad row, the good rows are
  acknowledged and the bad one rejected with a reason; nothing is left for the next push.
- ``test_a_full_batch``: ``max_batch_size`` changes in one ``send`` are all acknowledged,
  on create and on upsert.
- ``test_401_is_fatal``: a 401 stops the sync (``FatalDestinationError``); nothing is
  acknowledged or stored. A 401 mid-batch keeps what was acknowledged before it.
- ``test_429_is_retried``: a 429 is retried and the push then succeeds, once per record
  (an upsert's lookup included: never a duplicate).
- ``test_2xx_without_the_record_is_not_acknowledged``: the CRM applied the write but
  answered a maintenance page or an empty ``201``: nothing is acknowledged or rejected, the
  rows are left for the next push.
- ``test_secrets_never_echoed``: an error body that repeats the request's credentials
  (as careless CRMs do) never brings them into a reject, an error or a log line.

Changes are made as the runner makes them (``plan.decide`` on a diff row) and sent as it
sends them (``Destination.prepare`` once, then ``matching.send``), through the runner's own
``HttpClient`` (only retries are made fast and the steady pace is lifted, so the suite runs
in seconds). Faults come from the sandbox's fault rules (:class:`~dbt_revsync.sandbox.FaultRule`).

Skipping is never silent: a mode the destination cannot do (the product's own capability
and ``check_spec`` checks refuse the sync block) is skipped with the product's message, and
a subclass declares anything else it cannot pass in ``unsupported = {"test_name": "reason"}``.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, ClassVar

import pytest

from dbt_revsync import logs, matching, plan
from dbt_revsync.blocks import capability_issues
from dbt_revsync.connections import parse_connection
from dbt_revsync.crms import crm as crm_record
from dbt_revsync.crms import destination_class, emulator_class
from dbt_revsync.delivery import RetryPolicy
from dbt_revsync.destinations import catalog
from dbt_revsync.destinations.base import Destination, PerRecordDestination
from dbt_revsync.errors import FatalDestinationError, RevsyncError
from dbt_revsync.model import Ack, BatchResult, Change, ChangeRow, Connection, FieldMap, Left, NodeRef, Reject, SyncSpec
from dbt_revsync.runner import default_client, hidden
from dbt_revsync.sandbox import Emulator, SandboxRequest, SandboxResponse, SandboxServer

__all__ = ["MAINTENANCE_PAGE", "NODE", "TESTS", "DestinationConformance", "Pushed"]

TESTS = (
    "test_declaration_is_complete",
    "test_create",
    "test_upsert",
    "test_upsert_recreates_a_record_deleted_in_the_crm",
    "test_update",
    "test_delete",
    "test_mirror",
    "test_partial_batch_failure",
    "test_a_full_batch",
    "test_401_is_fatal",
    "test_429_is_retried",
    "test_2xx_without_the_record_is_not_acknowledged",
    "test_secrets_never_echoed",
)

NODE = NodeRef("model.conformance.rows", "rows", "model", "models/schema.yml", None, "main", "rows")
MAINTENANCE_PAGE = "<html><body><h1>Down for maintenance</h1></body></html>"
_CREDENTIAL_HEADER = re.compile(r"auth|token|key|secret|session", re.IGNORECASE)


@dataclass(frozen=True)
class Pushed:
    """What one push of a batch came to, keyed by the rows' primary keys."""

    acked: Mapping[str, Ack]
    rejected: Mapping[str, Reject]
    left: Mapping[str, Left]
    fatal: str | None
    raised: str | None = None  # the class of the error that stopped the push, when one was raised

    @classmethod
    def of(cls, result: BatchResult, raised: RevsyncError | None = None) -> Pushed:
        return cls(
            acked=MappingProxyType({a.key: a for a in result.acked}),
            rejected=MappingProxyType({r.key: r for r in result.rejected}),
            left=MappingProxyType({record.key: record for record in result.left}),
            fatal=str(raised) if raised is not None else result.fatal,
            raised=type(raised).__name__ if raised is not None else None,
        )

    def outcomes(self) -> dict[str, str]:
        """key -> created | updated | deleted | rejected:<code> | left."""
        found = {key: ack.outcome for key, ack in self.acked.items()}
        found.update({key: f"rejected:{r.code}" for key, r in self.rejected.items()})
        found.update({key: "left" for key in self.left})
        return found

    def ids(self) -> dict[str, str | None]:
        return {key: ack.destination_id for key, ack in self.acked.items()}

    def texts(self) -> list[str]:
        """Every text this push produced: reject codes and messages, reasons, the fatal error."""
        return [
            *(f"{r.code} {r.message}" for r in self.rejected.values()),
            *(record.reason for record in self.left.values()),
            self.fatal or "",
        ]


class DestinationConformance:
    """Base of a CRM's conformance module; see the module docstring.

    Required class attributes: ``crm``, ``object``, ``fields``, ``rows`` (three or more),
    ``changed``; ``upsert_key`` for the keyed modes; ``bad_row`` for the partial failure.
    """

    # ---- what the subclass declares ----------------------------------------------------
    crm: ClassVar[str]  # the registry name (the connection ``type``)
    object: ClassVar[str]  # the CRM object the suite writes
    fields: ClassVar[Mapping[str, str]]  # destination field path -> model column
    primary_key: ClassVar[str] = "id"  # the model column that keys a row
    upsert_key: ClassVar[str | None] = None  # the destination field that finds a record (keyed modes)
    rows: ClassVar[Sequence[Mapping[str, Any]]] = ()  # model rows (column -> value); three or more
    changed: ClassVar[Mapping[str, Any]] = {}  # column -> new value, applied to rows[0] for updates
    bad_row: ClassVar[Mapping[str, Any] | None] = None  # a row the CRM rejects (partial batch failure)
    partial_mode: ClassVar[str] = "append"  # the insert mode the partial batch failure is pushed with
    credentials: ClassVar[Mapping[str, str] | None] = None  # setting -> value; default: the emulator's key
    settings: ClassVar[Mapping[str, Any]] = {}  # other connection settings
    base_path: ClassVar[str] = ""  # appended to ``<sandbox>/<prefix>`` to make the base_url
    resource: ClassVar[str | None] = None  # the emulator resource holding the object's records (default: object)
    unsupported: ClassVar[Mapping[str, str]] = {}  # test name -> why this destination cannot pass it
    # False: the CRM's answers never say a record was created (a bulk upsert answering only
    # "ok"), so every write is acknowledged ``updated`` and ``mirror`` never deletes.
    confirms_creation: ClassVar[bool] = True

    sandbox: SandboxServer

    # ---- fixtures ----------------------------------------------------------------------
    @pytest.fixture(autouse=True)
    def _sandbox(self) -> Iterator[None]:
        record = crm_record(self.crm)
        with SandboxServer(emulators=[emulator_class(record.sandbox_prefix)()]) as server:
            self.sandbox = server
            yield

    # ---- what the subclass may override ------------------------------------------------
    @property
    def prefix(self) -> str:
        return crm_record(self.crm).sandbox_prefix

    @property
    def emulator(self) -> Emulator:
        return self.sandbox.emulator(self.prefix)

    def stored(self) -> Sequence[Mapping[str, Any]]:
        """The records of the object as the emulator holds them."""
        return self.emulator.records(self.resource or self.object)

    def stored_id(self, record: Mapping[str, Any]) -> str:
        """The id the connector acknowledges a stored record by."""
        return str(record.get("id") or record.get("Id"))

    def stored_value(self, record: Mapping[str, Any], path: str) -> Any:
        """The value a stored record holds at a destination field path (dots: nested)."""
        node: Any = record
        for part in path.split("."):
            if not isinstance(node, Mapping):
                return None
            node = node.get(part)
        return node

    def same_value(self, held: Any, sent: Any) -> bool:
        """Whether the CRM holds the value sent (override where the CRM converts it)."""
        return held == sent or str(held) == str(sent)

    def connection(self, **overrides: Any) -> Connection:
        """The connection as revsync.yml would declare it, parsed by the product's own parser."""
        raw = {
            "type": self.crm,
            **self._credentials(),
            **self.settings,
            "base_url": f"{self.sandbox.url}/{self.prefix}{self.base_path}",
            **overrides,
        }
        conn, issues = parse_connection(self.crm, raw, "revsync.yml", {}, destinations=catalog())
        assert conn is not None and not issues, [str(i) for i in issues]
        return conn

    def spec(self, mode: str, connection: Connection | None = None) -> SyncSpec:
        keyed = mode != "append"
        return SyncSpec(
            f"{NODE.unique_id}:{self.object}:{mode}",
            NODE,
            connection or self.connection(),
            self.object,
            mode,
            (self.primary_key,),
            tuple(FieldMap(path, column) for path, column in self.fields.items()),
            upsert_key=self.upsert_key if keyed else None,
        )

    def destination(self, spec: SyncSpec) -> Destination:
        """The destination as the runner makes it: its own client, retries made fast, no steady pace."""
        cls = destination_class(self.crm)
        client = default_client(spec, cls)
        client = replace(
            client, rate_limit=None, policy=RetryPolicy(max_attempts=4, max_seconds=15, base=0.02, cap=0.1)
        )
        return cls(spec.connection, client)

    def change(
        self,
        spec: SyncSpec,
        row: Mapping[str, Any],
        status: str = "new",
        remote_id: str | None = None,
        origin: str | None = None,
    ) -> Change:
        """The change the runner makes of a diff row (``new``, ``changed`` or ``removed``)."""
        upsert = spec.upsert_field
        values = {column: row.get(column) for column in spec.columns}
        diff_row = ChangeRow(
            seq=0,
            status=status,
            remote_id=remote_id,
            key=plan.key_text(row[self.primary_key]),
            row_hash=f"h{abs(hash(tuple(sorted(map(str, values.items())))))}",
            upsert_value=(plan.key_text(values.get(upsert.column)) or "").lower() or None if upsert else None,
            incremental_value=None,
            values=values,
            origin=origin,
        )
        decided = plan.decide(spec, diff_row)
        assert isinstance(decided, Change), f"{spec.insert_mode}: the diff row {diff_row} makes no change ({decided})"
        return decided

    def push(self, spec: SyncSpec, changes: Sequence[Change], prepare: bool = True) -> Pushed:
        """One batch sent as the runner sends it: ``prepare`` once, then ``matching.send``.
        An error raised on the way fails the sync, as in the runner: it becomes ``fatal``."""
        destination = self.destination(spec)
        try:
            if prepare:
                destination.prepare(spec)
            return Pushed.of(matching.send(destination, spec, changes))
        except RevsyncError as exc:
            return Pushed.of(BatchResult(), raised=exc)

    def push_rows(self, mode: str, rows: Sequence[Mapping[str, Any]]) -> Pushed:
        spec = self.spec(mode)
        return self.push(spec, [self.change(spec, row) for row in rows])

    def seed(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
        """Records put in the CRM beforehand (by another sync's append); key -> id."""
        pushed = self.push_rows("append", rows)
        assert set(pushed.acked) == {self.key(r) for r in rows}, (
            f"could not seed the CRM: {pushed.outcomes()} {list(pushed.left.values())}"
        )
        return {key: str(id_) for key, id_ in pushed.ids().items()}

    # ---- helpers -----------------------------------------------------------------------
    def key(self, row: Mapping[str, Any]) -> str:
        return str(plan.key_text(row[self.primary_key]))

    def require(self, test: str, *modes: str) -> None:
        """Skip, saying why, a test the destination declared unsupported or whose mode the
        product refuses for this destination; fail a declaration that is incomplete."""
        if test in self.unsupported:
            pytest.skip(f"{self.crm}: {self.unsupported[test]}")
        for mode in modes:
            issues = self.mode_issues(mode)
            if issues and mode == "append":
                pytest.fail(f"{self.crm}: the suite's append sync is refused: {'; '.join(issues)}")
            if issues:
                pytest.skip(f"{self.crm} cannot {mode}: {'; '.join(issues)}")
        if len(self.rows) < 3:
            pytest.fail("declare at least three sample rows")

    def can(self, mode: str) -> bool:
        """Whether the suite exercises ``mode`` beyond its own test: the product allows it for
        this destination and the subclass did not declare ``test_<mode>`` unsupported."""
        return not self.mode_issues(mode) and f"test_{mode}" not in self.unsupported

    def mode_issues(self, mode: str) -> list[str]:
        """The product's own objections to a sync in ``mode`` (capabilities, ``check_spec``)."""
        if mode != "append" and not self.upsert_key:
            return [f"no upsert_key declared for {mode}"]
        cls = destination_class(self.crm)
        conn = Connection(
            self.crm, self.crm, MappingProxyType(dict(self._credentials())), base_url="http://127.0.0.1:1"
        )
        spec = self.spec(mode, conn)
        return [message for message, _ in [*capability_issues(cls, spec), *cls.check_spec(spec)]]

    def sample(self, n: int) -> dict[str, Any]:
        """The ``n``-th of many distinct rows, made from the sample rows: the primary key and
        the upsert key's column made unique, an email's local part numbered. Override where
        the CRM holds other fields unique."""
        row = dict(self.rows[n % len(self.rows)])
        upsert = self.spec("upsert").upsert_field if self.upsert_key else None
        for column in {self.primary_key, *([upsert.column] if upsert else [])}:
            value = row.get(column)
            row[column] = 100000 + n if isinstance(value, (int, float)) else f"{value}-{n}"
        for column, value in row.items():
            if isinstance(value, str) and "@" in value:
                local, _, domain = value.partition("@")
                row[column] = f"{local}.{n}@{domain}"
        return row

    def delete_in_crm(self, row: Mapping[str, Any], record_id: str) -> None:
        """Delete a record as someone using the CRM would (default: another sync's ``delete``)."""
        spec = self.spec("delete")
        gone = self.push(spec, [self.change(spec, row)])
        assert gone.outcomes() == {self.key(row): "deleted"}, gone

    def updated_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {**row, **self.changed}

    def record(self, record_id: str | None) -> Mapping[str, Any] | None:
        return next((r for r in self.stored() if self.stored_id(r) == str(record_id)), None)

    def assert_holds(self, record_id: str | None, row: Mapping[str, Any], every_field: bool = False) -> None:
        """The CRM's record ``record_id`` holds the changed values of ``row`` (with
        ``every_field``: every non-null mapped value of ``row``)."""
        record = self.record(record_id)
        assert record is not None, f"no record {record_id} in the CRM"
        for path, column in self.fields.items():
            if column in self.changed or (every_field and row.get(column) is not None):
                held = self.stored_value(record, path)
                assert self.same_value(held, row[column]), (
                    f"record {record_id}: {path} holds {held!r}, not {row[column]!r}"
                )

    def _credentials(self) -> Mapping[str, str]:
        if self.credentials is not None:
            return self.credentials
        cls = destination_class(self.crm)
        setting = (cls.secret_settings or cls.required_settings)[0]
        return {setting: emulator_class(self.prefix).default_api_keys[0]}

    def _secret_values(self) -> set[str]:
        found: set[str] = set()

        def walk(value: Any) -> None:
            if isinstance(value, Mapping):
                for item in value.values():
                    walk(item)
            elif isinstance(value, str) and value:
                found.add(value)

        walk(self._credentials())
        return found

    # ---- the tests ---------------------------------------------------------------------
    def test_declaration_is_complete(self) -> None:
        """The subclass names a registered CRM, an object it has, keys it maps, and gives a
        reason for every test it cannot pass."""
        record = crm_record(self.crm)
        assert record.name == self.crm
        unknown = sorted(set(self.unsupported) - set(TESTS))
        assert not unknown, f"unsupported names no test of the suite: {unknown}; the tests are {', '.join(TESTS)}"
        assert all(str(reason).strip() for reason in self.unsupported.values()), "every unsupported test needs a reason"
        assert len(self.rows) >= 3 and all(self.primary_key in row for row in self.rows), (
            "three rows, each with its primary key"
        )
        assert len({self.key(row) for row in self.rows}) == len(self.rows), "the sample rows' keys are distinct"
        if self.upsert_key:
            assert self.spec("upsert").upsert_field is not None, f"upsert_key {self.upsert_key!r} is not a mapped field"
        assert set(self.changed) <= set(self.fields.values()), "changed names mapped columns"

    def test_create(self) -> None:
        self.require("test_create", "append")
        pushed = self.push_rows("append", self.rows)
        assert pushed.fatal is None and not pushed.rejected and not pushed.left, pushed
        assert set(pushed.acked) == {self.key(r) for r in self.rows}
        expected = "created" if self.confirms_creation else "updated"
        assert {a.outcome for a in pushed.acked.values()} == {expected}, pushed.outcomes()
        assert all(a.destination_id for a in pushed.acked.values())
        held = self.stored()
        assert len(held) == len(self.rows), f"{len(held)} records for {len(self.rows)} rows"
        assert {self.stored_id(r) for r in held} == set(pushed.ids().values())
        for row in self.rows:
            self.assert_holds(pushed.acked[self.key(row)].destination_id, row, every_field=True)

    def test_upsert(self) -> None:
        self.require("test_upsert", "upsert")
        spec = self.spec("upsert")
        first = self.push(spec, [self.change(spec, row) for row in self.rows[:2]])
        assert set(first.acked) == {self.key(r) for r in self.rows[:2]}, first
        assert len(self.stored()) == 2
        row = self.updated_row(self.rows[0])
        known = first.acked[self.key(row)].destination_id
        again = self.push(spec, [self.change(spec, row, "changed", remote_id=known, origin="created")])
        assert again.outcomes() == {self.key(row): "updated"}, again
        assert again.acked[self.key(row)].destination_id == known
        assert len(self.stored()) == 2, "a second push of the same key made a duplicate"
        self.assert_holds(known, row)
        forgotten = self.push(spec, [self.change(spec, self.rows[1])])  # the id was never remembered
        assert forgotten.outcomes() == {self.key(self.rows[1]): "updated"}, forgotten
        assert len(self.stored()) == 2, "an upsert by key made a duplicate"

    def test_upsert_recreates_a_record_deleted_in_the_crm(self) -> None:
        """The id the state remembers points at a record someone deleted in the CRM: the
        upsert makes the record again (a new id), never rejects the row or resurrects nothing."""
        self.require("test_upsert_recreates_a_record_deleted_in_the_crm", "upsert", "delete")
        row = self.rows[0]
        old = self.seed([row])[self.key(row)]
        self.delete_in_crm(row, old)
        assert self.stored() == [], "the record was not deleted"
        spec = self.spec("upsert")
        again = self.push(spec, [self.change(spec, self.updated_row(row), "changed", remote_id=old, origin="created")])
        assert set(again.acked) == {self.key(row)}, again
        ack = again.acked[self.key(row)]
        assert ack.outcome == ("created" if self.confirms_creation else "updated"), again
        assert len(self.stored()) == 1, "the record was not made again"
        self.assert_holds(ack.destination_id, self.updated_row(row))

    def test_update(self) -> None:
        self.require("test_update", "update")
        ids = self.seed(self.rows[:2])
        spec = self.spec("update")
        by_key, by_id = self.updated_row(self.rows[0]), self.updated_row(self.rows[1])
        pushed = self.push(
            spec,
            [
                self.change(spec, by_key),
                self.change(spec, by_id, "changed", remote_id=ids[self.key(by_id)], origin="created"),
                self.change(spec, self.rows[2]),  # matches nothing
            ],
        )
        assert pushed.fatal is None and not pushed.left, pushed
        assert {k: a.outcome for k, a in pushed.acked.items()} == {
            self.key(by_key): "updated",
            self.key(by_id): "updated",
        }, pushed
        assert set(pushed.rejected) == {self.key(self.rows[2])}, pushed
        assert pushed.rejected[self.key(self.rows[2])].message, "a reject says why"
        assert len(self.stored()) == 2, "an update created a record"
        self.assert_holds(ids[self.key(by_key)], by_key)
        self.assert_holds(ids[self.key(by_id)], by_id)

    def test_delete(self) -> None:
        self.require("test_delete", "delete")
        ids = self.seed(self.rows[:3])
        spec = self.spec("delete")
        pushed = self.push(spec, [self.change(spec, self.rows[0])])
        assert pushed.outcomes() == {self.key(self.rows[0]): "deleted"}, pushed
        remaining = {self.stored_id(r) for r in self.stored()}
        assert remaining == {ids[self.key(r)] for r in self.rows[1:3]}, "delete removed the wrong records"

    def test_mirror(self) -> None:
        self.require("test_mirror", "mirror")
        foreign = self.seed(self.rows[:1])[self.key(self.rows[0])]  # in the CRM before this sync
        spec = self.spec("mirror")
        own, theirs = self.rows[1], self.rows[0]
        pushed = self.push(spec, [self.change(spec, theirs), self.change(spec, own)])
        assert set(pushed.acked) == {self.key(theirs), self.key(own)}, pushed
        assert pushed.acked[self.key(theirs)].outcome == "updated", (
            "a record the sync did not create was acknowledged 'created': mirror would delete it"
        )
        assert pushed.acked[self.key(theirs)].destination_id == foreign
        own_id = pushed.acked[self.key(own)].destination_id
        removed = self.push(spec, [self.change(spec, own, "removed", remote_id=own_id, origin="created")])
        assert removed.outcomes() == {self.key(own): "deleted"}, removed
        assert {self.stored_id(r) for r in self.stored()} == {foreign}, "mirror touched a record it did not create"

    def test_partial_batch_failure(self) -> None:
        self.require("test_partial_batch_failure", self.partial_mode)
        if self.bad_row is None:
            pytest.fail(
                "declare bad_row (a row the CRM rejects), or unsupported['test_partial_batch_failure'] with a reason"
            )
        spec = self.spec(self.partial_mode)
        good = [self.rows[0], self.rows[1]]
        batch = [self.change(spec, good[0]), self.change(spec, self.bad_row), self.change(spec, good[1])]
        pushed = self.push(spec, batch)
        assert pushed.fatal is None and not pushed.left, pushed
        assert set(pushed.acked) == {self.key(r) for r in good}, pushed.outcomes()
        assert set(pushed.rejected) == {self.key(self.bad_row)}, pushed.outcomes()
        reject = pushed.rejected[self.key(self.bad_row)]
        assert reject.code and reject.message, "a reject carries the CRM's code and a reason"
        assert len(self.stored()) == len(good)

    def test_a_full_batch(self) -> None:
        """As many changes as one ``send`` gets (``max_batch_size``) go in and come back
        acknowledged, one each, on create and again on upsert: the connector and the
        emulator agree on the vendor's batch maximum."""
        self.require("test_a_full_batch", "append")
        cls = destination_class(self.crm)
        if issubclass(cls, PerRecordDestination):
            pytest.skip(
                f"{self.crm} sends one request per record: a full batch is {cls.max_batch_size} single requests"
            )
        rows = [self.sample(n) for n in range(cls.max_batch_size)]
        created = self.push_rows("append", rows)
        assert len(created.acked) == len(rows) and not created.rejected and not created.left, created.outcomes()
        assert len(self.stored()) == len(rows)
        if self.can("upsert"):
            again = self.push_rows("upsert", [self.updated_row(row) for row in rows])
            assert {a.outcome for a in again.acked.values()} == {"updated"} and len(again.acked) == len(rows), list(
                again.left.values()
            )[:3]
            assert len(self.stored()) == len(rows), "an upsert of a full batch made duplicates"

    def test_401_is_fatal(self) -> None:
        self.require("test_401_is_fatal", "append")
        self.sandbox.add_fault("status", prefix=self.prefix, status=401)
        modes = ["append"] + (["upsert"] if self.can("upsert") else [])
        for mode in modes:
            pushed = self.push_rows(mode, self.rows[:2])
            assert pushed.fatal, (
                f"{mode}: a 401 did not stop the sync: {pushed.outcomes()} {list(pushed.left.values())}"
            )
            assert not pushed.acked, f"{mode}: acknowledged under a 401"
            assert pushed.raised in (None, FatalDestinationError.__name__), (
                f"{mode}: a 401 raised {pushed.raised}, not a fatal error"
            )
            assert "401" in pushed.fatal or "nauthori" in pushed.fatal, pushed.fatal
        assert self.stored() == []
        self.sandbox.clear_faults()
        # A 401 in the middle of a batch: what was acknowledged before it stands (it is in
        # the CRM and committed); nothing after it is acknowledged, and the sync stops.
        # (A destination that sent the batch in one request never meets it.)
        rule = self.sandbox.add_fault("status", prefix=self.prefix, status=401, after=1)
        pushed = self.push_rows("append", self.rows[:3])
        if not rule.hits:
            assert pushed.fatal is None and len(pushed.acked) == 3, pushed
            return
        assert pushed.fatal, f"a 401 mid-batch did not stop the sync: {pushed.outcomes()}"
        held = {self.stored_id(r) for r in self.stored()}
        assert set(pushed.ids().values()) <= held, "acknowledged a record the CRM does not hold"
        assert len(pushed.acked) <= 1, f"acknowledged after the 401: {pushed.outcomes()}"

    def test_429_is_retried(self) -> None:
        """A 429 on the first requests is retried: a create, and (where the destination has
        it) an upsert of a record already in the CRM, whose lookup must not turn into a
        "no match" and create a duplicate."""
        self.require("test_429_is_retried", "append")
        self.sandbox.add_fault("status", prefix=self.prefix, status=429, retry_after=0, times=2)
        pushed = self.push_rows("append", self.rows[:2])
        assert pushed.fatal is None and not pushed.rejected and not pushed.left, pushed
        assert set(pushed.acked) == {self.key(r) for r in self.rows[:2]}
        assert self.sandbox.stats()[self.prefix]["faults"], "the 429 was never answered"
        assert len(self.stored()) == 2, "a retried request made a duplicate"
        if not self.can("upsert"):
            return
        self.sandbox.add_fault("status", prefix=self.prefix, status=429, retry_after=0, times=2)
        row = self.updated_row(self.rows[0])
        again = self.push_rows("upsert", [row])
        assert again.outcomes() == {self.key(row): "updated"}, again
        assert len(self.stored()) == 2, "an upsert retried after a 429 made a duplicate"
        self.assert_holds(pushed.acked[self.key(row)].destination_id, row)

    def test_2xx_without_the_record_is_not_acknowledged(self) -> None:
        """The CRM applied the write, then answered a maintenance page or an empty ``201``:
        for a create, an upsert and a delete (where the destination has them) nothing is
        acknowledged or rejected, and the row is left for the next push. (A delete needs no
        record back: an empty 2xx may confirm it, see ``confirms_without_body``; a page never.)"""
        self.require("test_2xx_without_the_record_is_not_acknowledged", "append")
        cases: list[tuple[str, Mapping[str, Any]]] = [("append", self.rows[0])]
        if self.can("upsert"):
            cases.append(("upsert", self.rows[1]))
        if self.can("delete"):
            cases.append(("delete", self.rows[2]))
            self.seed([self.rows[2]])
        for mode, row in cases:
            for status, body in ((200, MAINTENANCE_PAGE), (201, None))[: 1 if mode == "delete" else 2]:
                spec = self.spec(mode)
                destination = self.destination(spec)
                destination.prepare(spec)
                self.sandbox.add_fault("apply_then_answer", prefix=self.prefix, status=status, body=body)
                try:
                    pushed = Pushed.of(matching.send(destination, spec, [self.change(spec, row)]))
                finally:
                    self.sandbox.clear_faults()
                assert not pushed.acked and not pushed.rejected and pushed.fatal is None, (mode, status, pushed)
                assert set(pushed.left) == {self.key(row)}, (mode, status, pushed)

    def test_secrets_never_echoed(self, caplog: pytest.LogCaptureFixture) -> None:
        """Checked where texts leave the product: rejects, reasons and the fatal error as the
        runner stores and shows them (``runner.hidden``), log lines through the redacting
        filter every handler of the CLI carries (``logs.REDACTOR``)."""
        self.require("test_secrets_never_echoed", "append")
        secrets = self._secret_values() | self._credentials_sent()
        assert secrets, "the connection sends no credential"
        caplog.set_level(logging.DEBUG)
        texts: list[str] = []
        modes = ["append"] + (["upsert"] if self.can("upsert") else [])
        for mode in modes:
            spec = self.spec(mode)
            for status in (400, 401, 500):
                self.sandbox.add_fault("echo_auth", prefix=self.prefix, status=status)
                pushed = self.push(spec, [self.change(spec, self.rows[1])])
                self.sandbox.clear_faults()
                assert not pushed.acked, (mode, status, pushed)
                texts += [hidden(spec, text) for text in pushed.texts()]
        texts += [logs.REDACTOR.redact(record.getMessage()) for record in caplog.records]
        leaked = sorted({s for s in secrets for text in texts if s in text})
        assert not leaked, f"credentials echoed in rejects, errors or logs: {len(leaked)} value(s)"

    def _credentials_sent(self) -> set[str]:
        """The credential values one ordinary push puts on the wire (headers and query)."""
        sent: set[str] = set()
        handle = self.emulator.handle

        def recording(request: SandboxRequest) -> SandboxResponse:
            for name, value in request.headers.items():
                if _CREDENTIAL_HEADER.search(name) and value:
                    sent.update(_parts(value))
            sent.update(v for k, v in request.query.items() if _CREDENTIAL_HEADER.search(k) and v)
            return handle(request)

        # the instance attribute shadows the class's handler for one push; del restores it
        self.emulator.handle = recording  # type: ignore[method-assign]
        try:
            self.push_rows("append", self.rows[:1])
        finally:
            del self.emulator.handle
        return {s for s in sent if len(s) >= 6}


def _parts(value: str) -> set[str]:
    """A credential header value and the secrets inside it (a Basic pair decoded)."""
    found = {value}
    scheme, _, token = value.partition(" ")
    if token:
        found.add(token.strip())
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(token.strip()).decode("utf-8")
            except ValueError:
                pair = ""
            found |= {part for part in pair.split(":") if len(part) >= 6}
            found.add(pair)
    return {part for part in found if part}
