"""Throughput under a 429 storm the push did not cause: another integration spends the same
account's budget, so the CRM answers about every 9th write 429 with `Retry-After: 1` (and
about every 13th 500), whatever our pace.

A Freshsales upsert push of `--rows` rows (the connection's defaults: the vendor's published
rate, 4 requests in flight) to the sandbox, three ways, in the same run:

- baseline: no storm;
- storm: dbt-revsync as it is (waits each `Retry-After`, slows only when the 429s track
  its own pace);
- storm, old policy: the same push with the former policy patched in (every 429 halves
  the rate, down to 1/64, creeping back 5% per success; holds not bounded by the retry
  budget), stopped after `--old-limit` seconds if it has not finished.

Prints rows delivered, wall seconds and delivered rows/s for each, and the storm's share of
the baseline rate. Target: under the storm, >= 50% of the baseline rate, 0 rows lost or
duplicated.

    python benchmarks/bench_429_storm.py [--rows 300] [--old-limit 120]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass

import requests
from harness import ACCOUNTS_SQL, PYTHON, UPSERT_BLOCK, BenchProject, Sandbox, machine, table, temp_dir, verdict

STORM = [
    {
        "action": "status",
        "prefix": "freshsales",
        "method": "POST",
        "status": 429,
        "retry_after": 1,
        "probability": 1 / 9,
        "seed": 9,
    },
    {"action": "status", "prefix": "freshsales", "method": "POST", "status": 500, "probability": 1 / 13, "seed": 13},
]

# The former policy, patched into the child for the comparison: every 429 halves the rate,
# and a hint holds the connection unbounded.
OLD_POLICY = """
from dbt_revsync import delivery

def old_retry_wait(self, status, headers, attempt, sent_at=None):
    if status == 429:
        with self.limiter.lock:
            if self.limiter.rate is not None:
                self.limiter.rate = max(self.limiter.rate / 2, (self.limiter.target or 1) / 64)
                self.limiter.tokens = min(self.limiter.tokens, 0.0)
    hinted = delivery.retry_after(headers)
    if hinted is None and self.throttle_hint is not None:
        hinted = self.throttle_hint(headers)
    backoff = self.policy.backoff(attempt, self.rng)
    if hinted is None:
        return backoff
    self.limiter.hold(hinted)
    return hinted + backoff * 0.1

delivery.HttpClient._retry_wait = old_retry_wait
"""


@dataclass
class Run:
    name: str
    rows: int
    delivered: int
    duplicated: int
    seconds: float
    finished: bool
    injected: int  # 429s and 500s the storm answered

    @property
    def per_second(self) -> float:
        return self.delivered / self.seconds


def delivered(sandbox: Sandbox) -> Counter[str]:
    return Counter(
        str(r.get("custom_field", {}).get("cf_account_id")) for r in sandbox.records("freshsales", "sales_accounts")
    )


def push(name: str, project: BenchProject, sandbox: Sandbox, rows: int, storm: bool, old: bool, limit: float) -> Run:
    """One push from an empty CRM and empty state; a child process, stopped after ``limit`` s."""
    sandbox.reset()
    _forget_state(project)
    if storm:
        requests.post(f"{sandbox.url}/_admin/faults", json=STORM, timeout=10).raise_for_status()
    cli = [
        PYTHON,
        "-c",
        (OLD_POLICY if old else "") + "import sys\nfrom dbt_revsync import cli\nsys.exit(cli.main(sys.argv[1:]))",
        "push",
        "--no-progress",
        "--project-dir",
        str(project.root),
        "--profiles-dir",
        str(project.root),
    ]
    started = time.perf_counter()
    child = subprocess.Popen(
        cli, env=project.env, cwd=project.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        child.wait(timeout=limit)
        finished = True
    except subprocess.TimeoutExpired:
        child.terminate()
        child.wait(timeout=30)
        finished = False
    seconds = time.perf_counter() - started
    held = delivered(sandbox)
    injected = int(sandbox.stats()["faults"].get("status", 0))
    return Run(name, rows, len(held), sum(n - 1 for n in held.values()), seconds, finished, injected)


def _forget_state(project: BenchProject) -> None:
    import duckdb

    db = duckdb.connect(str(project.root / "warehouse.duckdb"))
    try:
        tables = db.execute(
            "select table_name from information_schema.tables where table_schema = 'revsync'"
        ).fetchall()
        for (name,) in tables:
            db.execute(f"delete from revsync.{name}")
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument(
        "--old-limit", type=float, default=120.0, help="seconds the old policy may push before it is stopped"
    )
    parser.add_argument("--skip-old", action="store_true", help="leave out the old policy's run")
    args = parser.parse_args(argv)
    print(f"429 storm, {args.rows:,} rows, Freshsales upsert, vendor rate 400/min, 4 in flight ({machine()})")
    with Sandbox() as sandbox, temp_dir() as root:
        project = BenchProject(root / "storm", sandbox.url, {"max_concurrency": 4})
        project.model("accounts", ACCOUNTS_SQL, UPSERT_BLOCK)
        project.build(args.rows)
        runs = [
            push("baseline, no storm", project, sandbox, args.rows, storm=False, old=False, limit=600),
            push("storm", project, sandbox, args.rows, storm=True, old=False, limit=600),
        ]
        if not args.skip_old:
            runs.append(
                push("storm, old policy", project, sandbox, args.rows, storm=True, old=True, limit=args.old_limit)
            )
    return report(runs)


def report(runs: list[Run]) -> int:
    base, storm = runs[0], runs[1]
    print(
        table(
            [
                "push",
                "rows delivered",
                "of",
                "finished",
                "wall s",
                "delivered rows/s",
                "share of baseline",
                "429/500 answered",
                "duplicated",
            ],
            [
                [
                    r.name,
                    r.delivered,
                    r.rows,
                    "yes" if r.finished else "stopped",
                    r.seconds,
                    r.per_second,
                    f"{r.per_second / base.per_second:.0%}",
                    r.injected,
                    r.duplicated,
                ]
                for r in runs
            ],
        )
    )
    ok = storm.per_second >= 0.5 * base.per_second
    print(f"target storm >= 50% of baseline: {verdict(ok)} ({storm.per_second / base.per_second:.0%})")
    complete = all(r.delivered == r.rows and r.duplicated == 0 for r in runs[:2])
    print(f"every row delivered once under the storm: {verdict(complete)}")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
