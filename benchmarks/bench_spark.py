"""Spark beside DuckDB: `dbt build`, a 10-row push and a no-op push, in one process.

Each warehouse gets the integration harness's own test project (tests/integration: a seed of
10 accounts and a model over it, pushed to the sandbox's Freshsales over loopback). On Spark,
dbt and dbt-revsync run in this process against one warm SparkSession (local mode, 2 shuffle
partitions; its Derby metastore admits one JVM), as `dbt-revsync run build` does. The
SparkSession's start is timed apart. Each step is timed `--repeat` times (a fresh project
each time) and the median printed, with the ratio Spark / DuckDB.

    PYTHONPATH=. python benchmarks/bench_spark.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dbt_revsync.sandbox import SandboxServer
from tests.integration import warehouses
from tests.integration.conftest import Project

BLOCK = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "insert_mode": "upsert",
    "primary_key": "account_id",
    "upsert_key": "cf_account_id",
    "fields": {"name": "name", "city": "city", "custom_field.cf_account_id": "account_id"},
}
STEPS = ("dbt build", "10-row push", "no-op push")


def timed(step: object) -> float:
    started = time.perf_counter()
    step()  # type: ignore[operator]
    return time.perf_counter() - started


def once(warehouse: str, root: Path, sandbox: SandboxServer) -> dict[str, float]:
    sandbox.reset()
    schema = f"rs_{uuid.uuid4().hex[:10]}" if warehouse == warehouses.SPARK else None
    project = Project(root, sandbox, warehouse, schema)
    project.seed("raw", ["account_id", "name", "city"], [[i, f"Account {i}", "Oslo"] for i in range(1, 11)])
    project.model("accounts", "select * from {{ ref('raw') }}", BLOCK)

    def push() -> None:
        result = project.push("--no-progress")
        assert result.code == 0, result.out + result.err

    times = {"dbt build": timed(project.build), "10-row push": timed(push)}
    held = len(sandbox.emulator("freshsales").records("sales_accounts"))
    assert held == 10, held
    times["no-op push"] = timed(push)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    reason = warehouses.spark_missing()
    if reason:
        print(f"cannot run Spark here: {reason}", file=sys.stderr)
        return 2
    results: dict[str, dict[str, list[float]]] = {w: {s: [] for s in STEPS} for w in ("duckdb", warehouses.SPARK)}
    with tempfile.TemporaryDirectory() as tmp, SandboxServer() as sandbox:
        start = timed(lambda: warehouses.spark_session(Path(tmp) / "spark"))
        for n in range(args.repeat):
            for warehouse in results:
                for step, seconds in once(warehouse, Path(tmp) / f"{warehouse}-{n}", sandbox).items():
                    results[warehouse][step].append(seconds)
    print(
        f"Spark (PySpark local[2], {warehouses.SPARK_SHUFFLE_PARTITIONS} shuffle partitions) beside DuckDB; "
        f"median of {args.repeat}; SparkSession start {start:.1f} s (once per process)"
    )
    print(f"  {'step':<14}{'duckdb s':>10}{'spark s':>10}{'spark/duckdb':>14}")
    for step in STEPS:
        duck, spark = (statistics.median(results[w][step]) for w in ("duckdb", warehouses.SPARK))
        print(f"  {step:<14}{duck:>10.2f}{spark:>10.2f}{spark / duck:>13.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
