"""The sync state in the warehouse: what each sync remembers of each record, its runs and
its rejects, and the lock that keeps one push per sync at a time.

What the state guarantees (the runner relies on each):

- A record is remembered only after its destination acknowledged it, batch by batch, with
  the id the CRM gave it, whether the sync created it or matched one that existed, and the
  row's upsert key value. One row per (sync, target, record key).
- A sync's rows belong to its *target*: the connection (name, type and account host) and
  the object. A remembered id is never read for another target, so moving a sync from a
  staging connection to production, or to another object, starts from an empty state.
- One push per sync at a time: the warehouse's own lock where it has one (PostgreSQL's
  advisory locks; DuckDB admits one writing process), else a lease row that expires.
- ``revsync_rejects`` holds each record's latest rejection: a batch that settles a key
  (acknowledged or rejected again) replaces its earlier rejects.

Rows cross into the macros as named tuples, read by name in Jinja.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from dbt_revsync.errors import WarehouseError
from dbt_revsync.model import COUNTS, SyncSpec, utc_now
from dbt_revsync.warehouse import Statement, Warehouse, first_line

__all__ = [
    "LEASE_SECONDS",
    "RENEW_SECONDS",
    "RejectRow",
    "Remembered",
    "StateRow",
    "StateStore",
    "SyncLocked",
    "bound_statements",
]

logger = logging.getLogger(__name__)

COMPACT_RATIO = 4  # an append-only state is rewritten when its logs hold this many times its live rows
COMPACT_FLOOR = 200  # ... plus this many (a small sync's few rows are not rewritten on every push)
LEASE_SECONDS = 600  # a lease not renewed for this long is taken to be a dead push's
RENEW_SECONDS = 60  # how often a running push renews its lease


class StateRow(NamedTuple):
    """An acknowledged record, to remember (``keep``) or to forget (deleted)."""

    record_key: str
    row_hash: str | None
    destination_id: str | None
    origin: str | None  # created | matched
    upsert_value: str | None  # the row's upsert key value as the diff compares it
    keep: bool
    in_state: bool  # the state held this key when the push began


class RejectRow(NamedTuple):
    record_key: str | None
    operation: str
    error_code: str
    error_message: str


class SyncLocked(WarehouseError):
    """Another push of the same sync holds its lock."""


class Remembered(NamedTuple):
    """Records the state remembers of one sync at one target, by origin (created | matched)."""

    target: str
    origin: str
    records: int


class StateStore:
    """The state tables of one opened warehouse."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self._bound: Mapping[str, Any] | None | bool = False  # False: not rendered yet
        self._held: tuple[SyncSpec, str] | None = None  # the lease this store holds and renews
        self._renewed = 0.0  # when it was last renewed (monotonic)
        self._locked: set[str] = set()  # syncs whose lock this store holds now
        self._rejects: dict[str, bool] = {}  # of those, whether the state may hold rejects of the sync

    # ---- tables ---------------------------------------------------------------------------
    def ensure(self) -> None:
        """Create the schema and tables on first use; add the columns an older version lacked."""
        wh = self.warehouse
        try:
            wh.adapter.create_schema(wh.state_schema)
        except Exception as exc:
            raise WarehouseError(f"cannot create schema {wh.settings.state_schema}: {first_line(exc)}") from None
        wh.execute(wh.render("revsync_state_ddl", schema_relation=wh.state_schema))
        for table, columns in wh.render("revsync_state_tables").items():
            present = {name.lower() for name, _ in wh.table_columns(wh.state_table(table))}
            for column, kind in columns:
                if column.lower() not in present:
                    logger.info("adding column %s to %s", column, table)
                    wh.execute(
                        str(
                            wh.render(
                                "revsync_add_column_sql", relation=wh.state_table(table), column=column, kind=kind
                            )
                        )
                    )
        unique = wh.render("revsync_state_unique_sql", schema_relation=wh.state_schema)
        if unique:
            wh.execute(unique)

    def claim_legacy(self, spec: SyncSpec, target: str) -> None:
        """Rows written before targets were recorded become the current target's."""
        wh = self.warehouse
        wh.execute(
            wh.render("revsync_claim_legacy_sql", schema_relation=wh.state_schema, sync_id=spec.sync_id, target=target)
        )

    def compact(self, spec: SyncSpec) -> bool:
        """Where the state is append-only (``revsync_compaction_sql``: Spark), rewrite the sync's
        logs as their live rows once they hold ``COMPACT_RATIO`` times as many (plus
        ``COMPACT_FLOOR``); whether it did. Runs under the sync's lock, before its diff."""
        wh = self.warehouse
        sql = wh.render(
            "revsync_compaction_sql", schema_relation=wh.state_schema, sync_id=spec.sync_id, suffix=spec.short_id
        )
        if not sql:
            return False
        if self._compaction_stopped(sql["kept"]):
            logger.warning("%s: an earlier compaction of the state's logs stopped half-way; finishing it", spec.label)
        else:
            _, rows = wh.query(sql["measure"])
            logged, live = (int(v or 0) for v in rows[0][:2])
            if logged <= COMPACT_RATIO * live + COMPACT_FLOOR:
                return False
            logger.info("%s: compacting the state's logs (%d rows, %d live)", spec.label, logged, live)
        for statement in sql["compact"]:
            wh.execute(str(statement))
        return True

    def _compaction_stopped(self, kept: Sequence[str]) -> bool:
        """Whether a compaction left a kept table behind: its rows may be nowhere else."""
        return any(self.warehouse.has_table(name) for name in kept)

    def has_state(self) -> bool:
        return self.warehouse.has_table("revsync_runs")

    # ---- the lock -------------------------------------------------------------------------
    @contextmanager
    def lock(self, spec: SyncSpec, holder: str) -> Iterator[None]:
        """Hold the sync's lock while the block runs; ``SyncLocked`` when another push has it.

        What the store learns of the sync's rejects (``_rejects_held``) holds only while it holds
        the lock: only a push, under the lock, writes them."""
        kind = str(self.warehouse.render("revsync_lock_kind"))
        if kind == "advisory":
            context: AbstractContextManager[None] = self._advisory(spec)
        elif kind == "lease":
            context = self._lease(spec, holder)
        else:
            context = nullcontext()
        with context:
            self._locked.add(spec.sync_id)
            try:
                yield
            finally:
                self._locked.discard(spec.sync_id)
                self._rejects.pop(spec.sync_id, None)

    @contextmanager
    def _advisory(self, spec: SyncSpec) -> Iterator[None]:
        wh = self.warehouse
        sql = wh.render("revsync_advisory_lock_sql", sync_id=spec.sync_id)
        _, rows = wh.query(sql["take"])
        if not rows or not rows[0][0]:
            raise SyncLocked(f"another push of {spec.label} is running (it holds the sync's lock); nothing sent")
        try:
            yield
        finally:
            try:
                wh.query(sql["release"])
            except WarehouseError:
                logger.warning("%s: could not release the sync's lock; it ends with the connection", spec.label)

    @contextmanager
    def _lease(self, spec: SyncSpec, holder: str) -> Iterator[None]:
        wh = self.warehouse
        sql = self._lease_sql(spec, holder)
        wh.execute(sql["take"])
        _, holders = wh.query(sql["holders"])
        first = holders[0] if holders else None
        if first is None or str(first[0]) != holder:
            wh.execute(str(sql["release"]))
            since = f" since {first[1]}" if first else ""
            raise SyncLocked(
                f"another push of {spec.label} is running (its lease in revsync_locks{since} expires "
                f"{first[2] if first else '?'});"
                " nothing sent"
            )
        self._renewed = time.monotonic()
        self._held = (spec, holder)
        try:
            yield
        finally:
            self._held = None
            try:
                wh.execute(str(sql["release"]))
            except WarehouseError:
                logger.warning("%s: could not release the sync's lease; it expires on its own", spec.label)

    def _lease_sql(self, spec: SyncSpec, holder: str) -> Mapping[str, Any]:
        now = datetime.now(timezone.utc)
        expires = now + timedelta(seconds=LEASE_SECONDS)
        fmt = "%Y-%m-%d %H:%M:%S.%f"
        return self.warehouse.render(
            "revsync_lease_sql",
            schema_relation=self.warehouse.state_schema,
            sync_id=spec.sync_id,
            holder=holder,
            now=now.strftime(fmt),
            expires=expires.strftime(fmt),
        )

    def renew(self) -> None:
        """Keep a lease alive while a push runs (a no-op for the other kinds of lock)."""
        if self._held is None or time.monotonic() - self._renewed < RENEW_SECONDS:
            return
        self.warehouse.execute(str(self._lease_sql(*self._held)["renew"]))
        self._renewed = time.monotonic()

    # ---- reading and writing ---------------------------------------------------------------
    def last_watermark(self, spec: SyncSpec, target: str) -> str | None:
        rows = self._last_run("revsync_last_watermark_sql", spec, target)
        return rows[0][0] if rows else None

    def _last_run(self, macro: str, spec: SyncSpec, target: str) -> list[tuple[Any, ...]]:
        """What ``macro`` reads of the sync's runs against ``target``."""
        wh = self.warehouse
        runs = wh.state_table("revsync_runs")
        return wh.query(wh.render(macro, runs_relation=runs, sync_id=spec.sync_id, target=target))[1]

    def last_run_found_nothing(self, spec: SyncSpec, target: str) -> bool:
        """Whether the sync's last finished run against ``target`` read rows and found every
        one unchanged (so this one may well find nothing either)."""
        rows = self._last_run("revsync_last_run_counts_sql", spec, target)
        return bool(rows) and rows[0][0] is not None and int(rows[0][0]) == int(rows[0][1] or 0)

    def commit(
        self,
        spec: SyncSpec,
        target: str,
        run_id: str,
        acks: Sequence[StateRow],
        rejects: Sequence[RejectRow],
        run: Mapping[str, Any] | None,
    ) -> None:
        """One transaction: the batch's acknowledged records, its rejects, the run's counts.

        Where the warehouse binds parameters (``revsync_bound_commit_sql``) the values travel
        as parameters of statements rendered once; elsewhere they are rendered each batch.
        A sync with no rejects in the state (asked once under its lock, and kept while the push
        writes none) is sent no statement deleting them.
        """
        self.renew()
        bound = self._bound_commit()
        wh = self.warehouse
        if bound is not None:
            rejects_held = self._rejects_held(bound, spec.sync_id, bool(rejects))
            statements = bound_statements(
                bound, spec.sync_id, target, run_id, acks, rejects, run, utc_now(), rejects_held=rejects_held
            )
            if statements:
                wh.execute_relieved(statements, alone=len(statements) == 1 and bool(bound.get("autocommit")))
            return
        statements = wh.render(
            "revsync_commit_sql",
            schema_relation=wh.state_schema,
            sync_id=spec.sync_id,
            target=target,
            run_id=run_id,
            acks=list(acks),
            rejects=list(rejects),
            run=dict(run or {}),
            now=utc_now(),
        )
        if statements:
            wh.execute_relieved(statements)

    def _rejects_held(self, bound: Mapping[str, str], sync_id: str, writing: bool) -> bool:
        """Whether the state may hold rejects of the sync once this commit is written: true
        unless the store holds the sync's lock and knows it had none and has written none."""
        if sync_id not in self._locked or "any_reject" not in bound:
            return True
        if writing:
            self._rejects[sync_id] = True  # before the commit: a rolled-back one only costs the shortcut
        elif sync_id not in self._rejects:
            _, rows = self.warehouse.query((bound["any_reject"], [sync_id]))
            self._rejects[sync_id] = bool(rows)
        return self._rejects[sync_id]

    def hand_over(self, spec: SyncSpec, target: str, destination_ids: Sequence[str]) -> None:
        """The rows holding these ids inherit the origin ``created`` (see revsync_removed_sql)."""
        if destination_ids:
            wh = self.warehouse
            wh.execute(
                str(
                    wh.render(
                        "revsync_handover_sql",
                        schema_relation=wh.state_schema,
                        sync_id=spec.sync_id,
                        target=target,
                        destination_ids=list(destination_ids),
                    )
                )
            )

    def _bound_commit(self) -> Mapping[str, Any] | None:
        if self._bound is False:
            self._bound = (
                self.warehouse.render("revsync_bound_commit_sql", schema_relation=self.warehouse.state_schema) or None
            )
        return self._bound  # type: ignore[return-value]

    # ---- forgetting a sync ----------------------------------------------------------------
    def remembered(self, spec: SyncSpec) -> list[Remembered]:
        """What the state holds of a sync: records per target and origin."""
        if not self.has_state():
            return []
        wh = self.warehouse
        rows = wh.select(wh.render("revsync_remembered_sql", schema_relation=wh.state_schema, sync_id=spec.sync_id))
        return [Remembered(str(r["target"] or ""), str(r["origin"] or "unknown"), int(r["records"])) for r in rows]

    def forget(self, spec: SyncSpec, run_id: str, message: str) -> None:
        """Drop a sync's records, rejects and watermarks under its lock, and say so in its runs."""
        wh = self.warehouse
        with self.lock(spec, holder=f"{run_id}:{spec.sync_id}"):
            now = utc_now()
            run = {"started_at": now, "finished_at": now, "status": "forgotten", "message": message}
            statements = [
                *wh.render("revsync_forget_sql", schema_relation=wh.state_schema, sync_id=spec.sync_id),
                *wh.render(
                    "revsync_run_sql", schema_relation=wh.state_schema, sync_id=spec.sync_id, run_id=run_id, run=run
                ),
            ]
            wh.execute([str(statement) for statement in statements])

    # ---- reading back (status, push --due) -------------------------------------------------
    def recent_runs(self, per_sync: int) -> list[dict[str, Any]]:
        """The last ``per_sync`` rows of ``revsync_runs`` of every sync, newest first."""
        if not self.has_state():
            return []
        wh = self.warehouse
        return wh.select(wh.render("revsync_recent_runs_sql", schema_relation=wh.state_schema, per_sync=per_sync))

    def first_rejects(self, run_ids: Sequence[str], per_run: int) -> list[dict[str, Any]]:
        if not run_ids:
            return []
        wh = self.warehouse
        return wh.select(
            wh.render(
                "revsync_first_rejects_sql", schema_relation=wh.state_schema, run_ids=list(run_ids), per_run=per_run
            )
        )

    def last_successes(self) -> dict[str, Any]:
        """sync_id -> when its last successful run started."""
        if not self.has_state():
            return {}
        wh = self.warehouse
        rows = wh.select(wh.render("revsync_last_success_sql", schema_relation=wh.state_schema))
        return {row["sync_id"]: row["last_success"] for row in rows}


def bound_statements(
    sql: Mapping[str, str],
    sync_id: str,
    target: str,
    run_id: str,
    acks: Sequence[StateRow],
    rejects: Sequence[RejectRow],
    run: Mapping[str, Any] | None,
    now: str,
    rejects_held: bool = True,
) -> list[Statement]:
    """The bound commit's statements with their parameters, in the order the macro documents.

    A key the state did not hold when the push began (and that the push's lock kept
    everyone else from writing) is remembered without a delete first; where the state holds
    no rejects of the sync (``rejects_held`` false) none is deleted.
    """
    statements: list[Statement] = []
    forget = [a.record_key for a in acks if a.in_state or not a.keep]
    if forget:
        statements.append((sql["forget"], [sync_id, target, forget]))
    kept = [a for a in acks if a.keep]
    if kept:
        columns = [
            [_text(getattr(a, name)) for a in kept]
            for name in ("record_key", "row_hash", "destination_id", "origin", "upsert_value")
        ]
        statements.append((sql["remember"], [sync_id, target, *columns, now, run_id]))
    settled = [a.record_key for a in acks] + [r.record_key for r in rejects if r.record_key is not None]
    if settled and rejects_held:
        statements.append((sql["forget_rejects"], [sync_id, settled]))
    if rejects_held and any(r.record_key is None for r in rejects):
        statements.append((sql["forget_unkeyed"], [sync_id, run_id]))
    if rejects:
        columns = [[_text(getattr(r, name)) for r in rejects] for name in RejectRow._fields]
        statements.append((sql["reject"], [run_id, sync_id, *columns, now]))
    if run:
        statements.append((sql["forget_run"], [sync_id, run_id]))
        values = [run.get("started_at"), run.get("finished_at"), run.get("status")]
        statements.append(
            (
                sql["remember_run"],
                [
                    run_id,
                    sync_id,
                    *values,
                    *(int(run.get(c) or 0) for c in COUNTS),
                    run.get("watermark"),
                    run.get("message"),
                    run.get("target"),
                ],
            )
        )
    return statements


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
