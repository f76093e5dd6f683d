"""A sync's change set: the diff, materialised in the warehouse, read back a page at a time.

``build`` renders ``revsync_changes_sql`` (new and changed rows, rows with bad keys) into a
scratch table ``<state schema>.revsync_changes_<sync>``; ``build_removed`` replaces it with
``revsync_removed_sql`` (the records whose rows left the model, for ``mirror``), which the
runner asks for only once the current rows are committed. ``pages`` reads it by sequence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from dbt_revsync.errors import WarehouseError
from dbt_revsync.model import ChangeRow, SyncSpec
from dbt_revsync.warehouse import Warehouse, is_out_of_memory

__all__ = ["META_COLUMNS", "SYNC_MEMORY_LIMIT", "ChangeSet", "DiffStats"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

# A sync's diff, pages and commits run with the engine's memory bounded where the engine runs in
# this process (DuckDB): its joins, aggregates and sorts spill to disk, and its buffer pool evicts,
# rather than grow with the rows. A commit the bound is too tight for runs again with the bound
# lifted (``Warehouse.execute_relieved``): what the CRM acknowledged is never dropped for memory.
SYNC_MEMORY_LIMIT = "50MB"
UNBOUNDED = "-1"
# A statement that reads the whole model (the diff, its counts) tries the sync's bound, then looser
# ones, then none: each only when the engine says the one before was too tight. Measured on one
# thread (``benchmarks/bench_ladder.py``): 1M rows of five columns fit 50MB; 10M rows need 100MB for
# a first push and 200MB beside a state of 10M rows (peak 394 MiB, where unbounded peaks at 2,241).
DIFF_MEMORY_LIMITS = (SYNC_MEMORY_LIMIT, "100MB", "200MB", "400MB", UNBOUNDED)
META_COLUMNS = (
    "__rs_seq",
    "__rs_status",
    "__rs_remote_id",
    "__rs_key",
    "__rs_hash",
    "__rs_upsert",
    "__rs_inc",
    "__rs_origin",
)


@dataclass(frozen=True)
class DiffStats:
    read: int
    high_water: str | None
    changes: int
    agreed: bool = False  # the relation and the state agreed: no diff was run, nothing changed


class ChangeSet:
    """The change set of one sync against one target."""

    def __init__(self, warehouse: Warehouse, spec: SyncSpec, target: str) -> None:
        self.warehouse, self.spec, self.target = warehouse, spec, target
        self.table = warehouse.state_table(f"revsync_changes_{spec.short_id}")
        self.empty = False  # the relation and the state agreed: there is no changes table to read

    def build(self, *, full_refresh: bool, watermark: str | None, compare_first: bool = True) -> DiffStats:
        """Materialise the sync's changes in the warehouse; return what was read. With
        ``compare_first``, a sync that reads its whole relation first asks whether the relation
        and the state agree (see ``revsync_agreement_sql``): when they do, nothing has changed
        and no diff runs; when they do not, the question cost a scan of each."""
        wh, spec = self.warehouse, self.spec
        relation = wh.relation(spec.node)
        incremental = (
            wh.quoted(spec, spec.incremental_key) if spec.fetch_mode == "incremental" and spec.incremental_key else None
        )
        self.empty = False
        if compare_first and not full_refresh and incremental is None:
            agreed = self._agreed_rows(relation)
            if agreed is not None:
                self.empty = True
                logger.info("%s: the model and the state agree (%d rows): nothing changed", spec.label, agreed)
                return DiffStats(read=agreed, high_water=None, changes=0, agreed=True)
        mark = self._watermark_literal(watermark) if incremental else None
        upsert = spec.upsert_field
        select = wh.render(
            "revsync_changes_sql",
            relation=relation,
            **self._hashed(),
            columns=[wh.quoted(spec, c) for c in spec.columns],
            upsert_column=wh.quoted(spec, upsert.column) if upsert else None,
            state_relation=wh.state_table("revsync_sync_state"),
            full_refresh=full_refresh,
            incremental_column=incremental,
            watermark=mark,
        )
        self._materialise(select)
        stats = wh.render(
            "revsync_source_stats_sql",
            relation=relation,
            incremental_column=incremental,
            watermark=mark,
            full_refresh=full_refresh,
        )
        _, rows = self._laddered(lambda: wh.query(stats))
        read, high_water = rows[0]
        return DiffStats(read=int(read or 0), high_water=high_water, changes=self._count())

    def _hashed(self) -> dict[str, Any]:
        """What every macro that hashes the sync's rows is given: whose rows, and how keyed and hashed."""
        wh, spec = self.warehouse, self.spec
        return {
            "sync_id": spec.sync_id,
            "target": self.target,
            "key_columns": [wh.quoted(spec, c) for c in spec.primary_key],
            "hash_columns": [wh.quoted(spec, f.column) for f in spec.fields],
            "fingerprint": spec.fingerprint,
        }

    def _agreed_rows(self, relation: Any) -> int | None:
        """The relation's row count when it holds exactly the keys and row hashes the state
        remembers and no reject is held; else (or where the warehouse cannot tell) None."""
        wh = self.warehouse
        sql = wh.render("revsync_agreement_sql", relation=relation, schema_relation=wh.state_schema, **self._hashed())
        found = self._compared(str(sql)) if sql else None
        if found is None:
            return None
        agree = (
            int(found["model_rows"]) == int(found["state_rows"])
            and found["model_sum"] == found["state_sum"]
            and not int(found["state_unclaimed"] or 0)
            and not int(found["rejects"])
        )
        return int(found["model_rows"]) if agree else None

    def _compared(self, sql: str) -> dict[str, Any] | None:
        """The comparison's one row: on two threads under the sync's bound (two sums: the md5
        row hashes take half the time), on one should two run out of memory; None if it cannot
        be had (e.g. a view too big for the bound): the diff decides."""
        wh, spec = self.warehouse, self.spec
        for parallel in (True, False):
            with wh.bounded_memory(SYNC_MEMORY_LIMIT, parallel=parallel):
                try:
                    return wh.select(sql)[0]
                except WarehouseError as exc:
                    if not (parallel and is_out_of_memory(exc)):
                        logger.info("%s: could not compare the model with the state (%s); diffing", spec.label, exc)
                        return None
            logger.info("%s: comparing the model with the state on two threads ran out of memory", spec.label)
        return None

    def upgrade_row_hashes(self) -> int:
        """Rewrite the state's older row hashes where the rows still match them (nothing is
        sent), and retire the rest; how many the state held. A no-op once none is left."""
        wh, spec = self.warehouse, self.spec
        state = wh.state_table("revsync_sync_state")
        _, rows = wh.query(
            wh.render("revsync_older_row_hashes_sql", sync_id=spec.sync_id, target=self.target, state_relation=state)
        )
        older = int(rows[0][0] or 0)
        if older:
            wh.execute(
                [
                    str(
                        wh.render(
                            "revsync_upgrade_row_hashes_sql",
                            relation=wh.relation(spec.node),
                            state_relation=state,
                            **self._hashed(),
                        )
                    ),
                    str(
                        wh.render(
                            "revsync_retire_row_hashes_sql",
                            sync_id=spec.sync_id,
                            target=self.target,
                            state_relation=state,
                        )
                    ),
                ]
            )
        return older

    def build_removed(self) -> int:
        """Replace the change set with the records whose rows left the model; their count."""
        wh, spec = self.warehouse, self.spec
        upsert = spec.upsert_field
        select = wh.render(
            "revsync_removed_sql",
            relation=wh.relation(spec.node),
            sync_id=spec.sync_id,
            target=self.target,
            key_columns=[wh.quoted(spec, c) for c in spec.primary_key],
            columns=[wh.quoted(spec, c) for c in spec.columns],
            upsert_column=wh.quoted(spec, upsert.column) if upsert else None,
            state_relation=wh.state_table("revsync_sync_state"),
        )
        self.empty = False
        self._materialise(select)
        return self._count()

    def _materialise(self, select: Any) -> None:
        """Create the changes table from ``select`` (see ``_laddered``)."""
        wh = self.warehouse
        statements = wh.render("revsync_create_changes_table_sql", relation=self.table, sql=select)
        self._laddered(lambda: wh.execute(statements))

    def _laddered(self, run: Callable[[], T]) -> T:
        """``run``, with the engine's memory bounded (where the engine runs in this process) by
        each of ``DIFF_MEMORY_LIMITS`` in turn: should the engine find a bound too tight for a
        statement that reads the whole model, it runs again under the next, the last none."""
        wh = self.warehouse
        *tighter, last = DIFF_MEMORY_LIMITS
        for limit in tighter:
            try:
                with wh.bounded_memory(limit):
                    return run()
            except WarehouseError as exc:
                if not is_out_of_memory(exc):
                    raise
                logger.info("%s: the model needed more memory than %s; run again with more", self.spec.label, limit)
        with wh.bounded_memory(last):
            return run()

    def _count(self) -> int:
        _, counted = self.warehouse.query(self.warehouse.render("revsync_count_sql", relation=self.table))
        return int(counted[0][0])

    def _watermark_literal(self, watermark: str | None) -> str | None:
        if watermark is None:
            return None
        spec = self.spec
        return str(
            self.warehouse.render(
                "revsync_typed_literal",
                value=watermark,
                data_type=self.warehouse.column_type(spec, spec.incremental_key or ""),
            )
        )

    def pages(self, page_size: int) -> Iterator[list[ChangeRow]]:
        """The changes table, a page at a time, in sequence order."""
        wh = self.warehouse
        after = 0
        while not self.empty:
            names, rows = wh.query(
                wh.render("revsync_changes_page_sql", changes_relation=self.table, after_seq=after, limit=page_size)
            )
            if not rows:
                return
            read = _change_reader(names, self.spec.columns)
            page = [read(row) for row in rows]
            after = page[-1].seq
            yield page

    def drop(self) -> None:
        self.warehouse.execute(self.warehouse.render("revsync_drop_table_sql", relation=self.table))


def _change_reader(names: list[str], columns: tuple[str, ...]) -> Callable[[tuple[Any, ...]], ChangeRow]:
    """Turns a row of a changes page into a ChangeRow; positions are looked up once a page."""
    at = {name.lower(): i for i, name in enumerate(names)}
    seq, status, remote, key, row_hash, upsert, inc, origin = (at[name] for name in META_COLUMNS)
    value_at = [(column, at.get(f"c{i}")) for i, column in enumerate(columns)]

    def read(row: tuple[Any, ...]) -> ChangeRow:
        remote_id = row[remote]
        return ChangeRow(
            seq=int(row[seq]),
            status=str(row[status]),
            remote_id=None if remote_id is None else str(remote_id),
            key=row[key],
            row_hash=row[row_hash],
            upsert_value=row[upsert],
            incremental_value=row[inc],
            values={column: None if i is None else row[i] for column, i in value_at},
            origin=row[origin],
        )

    return read
