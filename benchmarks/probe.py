"""Times the parts of a dbt-revsync command in a fresh process; prints one JSON object.

    probe.py PROJECT_DIR plan   import, specs, adapter set-up, diff SQL, paging + planning
    probe.py PROJECT_DIR scan   adapter set-up, then a bare scan hashing the mapped columns
    probe.py PROJECT_DIR seed   remember every row of the model as acknowledged, as a push
                                that sent them all would (the rows' hashes come from the
                                engine's own diff SQL); sends nothing
    probe.py PROJECT_DIR rung LIMIT
                                the diff as a push runs it (under the sync's memory bound),
                                its statements bounded by LIMIT alone (a rung of the memory
                                ladder), or by the whole ladder (LIMIT ``ladder``): whether
                                it fitted, its seconds, the rungs tried
    probe.py PROJECT_DIR floor  dbt's own floor, without dbt-revsync: import dbt, read the
                                project and profile, register the adapter, open its
                                connection to the database and close it; no macros, no SQL

Run by the benchmarks with the project's environment; not part of the product.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()


def main(root: Path, what: str, *args: str) -> dict[str, Any]:
    if what == "floor":
        return _floor(root)
    figures: dict[str, Any] = {}
    mark = time.perf_counter()
    from dbt_revsync import (
        commands,  # imports dbt_revsync; dbt itself loads on first use
    )
    from dbt_revsync.model import Settings
    from dbt_revsync.runner import Pusher
    from dbt_revsync.warehouse import Warehouse

    figures["import"] = time.perf_counter() - mark
    settings = Settings(project_dir=root, profiles_dir=root)
    mark = time.perf_counter()
    specs, issues, _ = commands.load_specs(settings, commands.Selection(all_syncs=True))
    assert not issues, issues
    figures["specs"] = time.perf_counter() - mark
    load_macros = Warehouse._load_macros

    def timed_load_macros(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return load_macros(self, *args, **kwargs)
        finally:
            figures["macros"] = time.perf_counter() - started

    Warehouse._load_macros = timed_load_macros  # type: ignore[method-assign]
    mark = time.perf_counter()
    with Warehouse(settings) as warehouse:
        figures["adapter_setup"] = time.perf_counter() - mark
        figures["macros_from"] = warehouse.macros_from
        if what == "plan":
            figures.update(_plan(warehouse, specs, Pusher))
        elif what == "scan":
            figures.update(_scan(warehouse, specs[0]))
        elif what == "seed":
            figures.update(_seed(warehouse, specs[0]))
        elif what == "rung":
            figures.update(_rung(warehouse, specs[0], *args))
        else:
            raise SystemExit(f"unknown probe {what!r}")
        mark = time.perf_counter()
    figures["close"] = time.perf_counter() - mark
    figures["total_in_process"] = time.perf_counter() - STARTED
    return figures


def _floor(root: Path) -> dict[str, Any]:
    """What any tool that drives the project's dbt adapter from Python pays before its
    first statement: the same calls as the warehouse's opening, less the macros."""
    import os
    from argparse import Namespace

    figures: dict[str, Any] = {}
    mark = time.perf_counter()
    from dbt.adapters.factory import get_adapter, register_adapter, reset_adapters
    from dbt.config.runtime import RuntimeConfig
    from dbt.flags import set_from_args
    from dbt.mp_context import get_mp_context
    from dbt_common.context import set_invocation_context
    from dbt_common.events.event_manager_client import cleanup_event_logger

    figures["import_dbt"] = time.perf_counter() - mark
    mark = time.perf_counter()
    cleanup_event_logger()
    set_invocation_context(os.environ)
    args = Namespace(project_dir=str(root), profiles_dir=str(root), target=None, vars={}, profile=None, threads=None)
    set_from_args(args, None)
    config = RuntimeConfig.from_args(args)
    figures["flags_and_config"] = time.perf_counter() - mark
    mark = time.perf_counter()
    reset_adapters()
    register_adapter(config, get_mp_context())
    adapter = get_adapter(config)
    connection = adapter.connection_named("floor")
    connection.__enter__()
    assert adapter.connections.get_thread_connection().handle is not None  # dbt opens lazily: open it
    figures["adapter_and_connection"] = time.perf_counter() - mark
    mark = time.perf_counter()
    connection.__exit__(None, None, None)
    adapter.cleanup_connections()
    figures["close"] = time.perf_counter() - mark
    figures["total_in_process"] = time.perf_counter() - STARTED
    return figures


def _plan(warehouse: Any, specs: list[Any], pusher_class: Any) -> dict[str, Any]:
    """A dry-run push, as `dbt-revsync plan` does it, with the diff SQL timed on its own."""
    from dbt_revsync.changes import ChangeSet

    timed: dict[str, float] = {}
    build = ChangeSet.build

    def build_changes(*args: Any, **kwargs: Any) -> Any:
        mark = time.perf_counter()
        try:
            return build(*args, **kwargs)
        finally:
            timed["diff_sql"] = timed.get("diff_sql", 0.0) + time.perf_counter() - mark

    ChangeSet.build = build_changes  # type: ignore[method-assign]
    mark = time.perf_counter()
    try:
        reports = pusher_class(warehouse, dry_run=True).push_all(specs)
    finally:
        ChangeSet.build = build  # type: ignore[method-assign]
    total = time.perf_counter() - mark
    planned = {op: n for r in reports for op, n in r.planned.items()}
    return {
        "diff_sql": timed.get("diff_sql", 0.0),
        "page_and_plan": total - timed.get("diff_sql", 0.0),
        "planned": planned,
        "read": sum(r.counts["read"] for r in reports),
    }


def _scan(warehouse: Any, spec: Any) -> dict[str, Any]:
    """Read every mapped column of every row and hash it, through the same adapter."""
    columns = [warehouse.quoted(spec, f.column) for f in spec.fields]
    row_hash = warehouse.render("revsync_row_hash", columns=columns, fingerprint=spec.fingerprint)
    sql = f"select count(*), max({row_hash}) from {warehouse.relation(spec.node)}"
    mark = time.perf_counter()
    _, rows = warehouse.query(sql)
    return {"scan": time.perf_counter() - mark, "rows": int(rows[0][0])}


def _rung(warehouse: Any, spec: Any, limit: str) -> dict[str, Any]:
    """The sync's diff (no comparison first) under one rung of the memory ladder, or all of it."""
    from dbt_revsync import changes
    from dbt_revsync.errors import WarehouseError
    from dbt_revsync.runner import DestinationPool, target_of
    from dbt_revsync.warehouse import is_out_of_memory

    if limit != "ladder":
        changes.DIFF_MEMORY_LIMITS = (limit,)
    tried: list[tuple[str, bool]] = []  # each bound as it ends, innermost first: (limit, fitted)
    bounded_memory = warehouse.bounded_memory

    @contextmanager
    def recording(limit: str, **kwargs: Any) -> Iterator[bool]:
        with bounded_memory(limit, **kwargs) as held:
            try:
                yield held
            except BaseException:
                tried.append((limit, False))
                raise
            tried.append((limit, True))

    warehouse.bounded_memory = recording
    change_set = changes.ChangeSet(warehouse, spec, target_of(spec, DestinationPool()(spec)))
    mark = time.perf_counter()
    try:
        with warehouse.bounded_memory(changes.SYNC_MEMORY_LIMIT):
            found = change_set.build(full_refresh=False, watermark=None, compare_first=False).changes
        fitted = True
    except WarehouseError as exc:
        if not is_out_of_memory(exc):
            raise
        found, fitted = -1, False
    seconds = time.perf_counter() - mark
    if fitted:
        change_set.drop()
    inner = tried[:-1]  # the sync's own bound ends last
    fits = [fitted for _, fitted in inner]
    diff_rungs = inner[: fits.index(True) + 1] if True in fits else inner  # the changes table's, not the counts'
    return {"fitted": fitted, "diff_seconds": seconds, "changes": found, "rungs": [limit for limit, _ in diff_rungs]}


def _seed(warehouse: Any, spec: Any) -> dict[str, Any]:
    from dbt_revsync.changes import ChangeSet
    from dbt_revsync.runner import DestinationPool, target_of
    from dbt_revsync.state import StateStore

    StateStore(warehouse).ensure()
    mark = time.perf_counter()
    target = target_of(spec, DestinationPool()(spec))
    change_set = ChangeSet(warehouse, spec, target)
    change_set.build(full_refresh=False, watermark=None)
    changes, state = change_set.table, warehouse.state_table("revsync_sync_state")
    sync_id = warehouse.render("revsync_literal", value=spec.sync_id)
    target_literal = warehouse.render("revsync_literal", value=target)
    warehouse.execute(
        [
            f"delete from {state} where sync_id = {sync_id}",
            f"insert into {state} (sync_id, target, record_key, row_hash, destination_id, origin, synced_at, run_id) "
            f"select {sync_id}, {target_literal}, __rs_key, __rs_hash, cast(__rs_seq as varchar), 'created', "
            "current_timestamp, 'seeded' "
            f"from {changes} where __rs_status = 'new'",
        ]
    )
    change_set.drop()
    _, rows = warehouse.query(f"select count(*) from {state} where sync_id = {sync_id}")
    return {"seeded": int(rows[0][0]), "seed_seconds": time.perf_counter() - mark}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), sys.argv[2], *sys.argv[3:])))
