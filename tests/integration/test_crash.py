"""Crash safety: `dbt-revsync push` killed with SIGKILL at seeded random points, then pushed again.

One dbt build (a view over a table the test changes between pushes); the push runs as a
real separate process (`python -m dbt_revsync push`) against the sandbox served by this
test process, and is killed right after the k-th request reached the CRM, k drawn from a
seeded generator (plus a random few milliseconds, to land inside commits too). After every
kill: no duplicate record, and every record the state remembers is in the CRM. After
every resumed push: the CRM holds the model, and the state agrees with the CRM. A record
whose creation a killed push never committed is matched by the next push (the CRM's answer
no longer says it was created), so mirror leaves it when its row goes: the CRM may hold such
records of rows that left the model, never any other.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pytest

from dbt_revsync.sandbox import SandboxServer
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

SEED = 20261123
KILLS = 20
BLOCK = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "insert_mode": "mirror",
    "primary_key": "account_id",
    "upsert_key": "cf_account_id",
    "batch_size": 4,
    "fields": {"name": "name", "custom_field.cf_account_id": "account_id"},
}


def query(project: Project, sql: str) -> list[tuple[Any, ...]]:
    with project.duckdb() as db:
        return db.execute(sql).fetchall()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, sandbox_server: SandboxServer) -> Project:
    sandbox_server.reset()
    built = Project(tmp_path_factory.mktemp("crash") / "project", sandbox_server, warehouse="duckdb")
    with built.duckdb() as db:
        db.execute("create table main.src as select i as account_id, 'Account ' || i as name from range(1, 41) t(i)")
    built.model("accounts", "{{ config(materialized='view') }} select * from main.src", BLOCK)
    built.build()
    built.connections({"freshsales": built.freshsales_connection(rate_limit=60, max_concurrency=2)})
    return built


def mutate(project: Project, rng: random.Random, step: int, may_delete: bool) -> tuple[int, set[str]]:
    """Rename, delete and add some rows; returns how many rows changed (one request each) and
    the keys deleted.

    Rows are deleted only after a push that ran to the end: a record created by a killed
    push whose row leaves the model before the next push is unknown to the state, so mirror
    cannot delete it (see docs/how-it-works.md, "Delivery and retries")."""
    with project.duckdb() as db:
        ids = [r[0] for r in db.execute("select account_id from main.src").fetchall()]
        renamed = rng.sample(ids, min(len(ids), rng.randint(3, 8)))
        kept = [i for i in ids if i not in renamed]
        gone = rng.sample(kept, min(len(kept), rng.randint(1, 4))) if may_delete else []
        top = max(ids, default=0)
        added = list(range(top + 1, top + 1 + rng.randint(2, 6)))
        db.execute(
            f"update main.src set name = 'Account {step}.' || account_id"
            f" where account_id in ({','.join(map(str, renamed))})"
        )
        if gone:
            db.execute(f"delete from main.src where account_id in ({','.join(map(str, gone))})")
        db.execute(f"insert into main.src select i, 'Account ' || i from unnest([{','.join(map(str, added))}]) t(i)")
    return len(renamed) + len(gone) + len(added), {str(i) for i in gone}


def start_push(project: Project) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "dbt_revsync",
        "push",
        "--no-progress",
        "--project-dir",
        str(project.root),
        "--profiles-dir",
        str(project.root),
    ]
    return subprocess.Popen(
        command, cwd=project.root, env={**os.environ, **project.env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def crm_requests(project: Project) -> int:
    return int(project.sandbox.stats()["freshsales"]["requests"])


def kill_after(project: Project, process: subprocess.Popen[bytes], requests: int, extra: float) -> bool:
    """SIGKILL the push once the CRM has seen ``requests`` more requests; False if it ended first."""
    start = crm_requests(project)
    deadline = time.monotonic() + 90
    while process.poll() is None and crm_requests(project) - start < requests and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(extra)
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


def crm_records(project: Project) -> list[dict[str, Any]]:
    return project.sandbox.emulator("freshsales").records("sales_accounts")


def model(project: Project) -> dict[str, str]:
    return {str(k): v for k, v in query(project, "select account_id, name from main.src")}


def state(project: Project) -> dict[str, str]:
    return {k: v for k, v in query(project, "select record_key, destination_id from revsync.revsync_sync_state")}


def assert_no_duplicate(records: list[dict[str, Any]]) -> None:
    keys = Counter(r["custom_field"]["cf_account_id"] for r in records)
    assert [k for k, n in keys.items() if n > 1] == []


def assert_state_within_crm(project: Project) -> None:
    """What the state remembers is in the CRM, as that very row; a row that left the model
    may still be remembered after its delete was applied but not yet committed."""
    by_id = {str(r["id"]): r["custom_field"]["cf_account_id"] for r in crm_records(project)}
    leaving = set(state(project)) - set(model(project))
    for key, remote in state(project).items():
        assert by_id.get(remote) == key or key in leaving, (key, remote)


def assert_crm_holds_the_model(project: Project, left: set[str]) -> None:
    records = crm_records(project)
    assert_no_duplicate(records)
    held = {r["custom_field"]["cf_account_id"]: r["name"] for r in records}
    rows = model(project)
    assert {k: held.get(k) for k in rows} == rows
    assert set(held) - set(rows) <= left  # only records of rows that left the model
    by_id = {str(r["id"]): r["custom_field"]["cf_account_id"] for r in records}
    remembered = state(project)
    assert set(remembered) == set(rows)
    assert all(by_id[remote] == key for key, remote in remembered.items())


def test_sigkill_at_random_points_then_push_again(project: Project) -> None:
    rng = random.Random(SEED)
    killed, pushes = 0, 0
    left: set[str] = set()
    for step in range(1, KILLS + 1):
        changed, gone = mutate(project, rng, step, may_delete=step % 2 == 1)
        left |= gone
        process = start_push(project)
        pushes += 1
        if kill_after(project, process, rng.randint(1, changed), rng.uniform(0, 0.03)):
            killed += 1
        else:
            assert process.returncode == 0, process.stderr.read().decode()[-2000:] if process.stderr else ""
        assert_no_duplicate(crm_records(project))
        assert_state_within_crm(project)
        if step % 2 == 0:  # push again to the end
            resumed = start_push(project)
            pushes += 1
            _, err = resumed.communicate(timeout=120)
            assert resumed.returncode == 0, err.decode()[-2000:]
            assert_crm_holds_the_model(project, left)
    assert killed >= 20, f"only {killed} of {KILLS} pushes were killed mid-send"
    runs = query(project, "select status, count(*) from revsync.revsync_runs group by status")
    assert dict(runs).get("success", 0) >= KILLS // 2
    deleted = query(project, "select sum(deleted) from revsync.revsync_runs")[0][0]
    assert deleted and deleted > 0  # mirror still deletes the records it knows it created
    print(f"\n{killed} pushes killed, {pushes} processes in all")
