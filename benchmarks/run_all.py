"""Run every benchmark in turn (`make bench`), each in its own process, printing as it goes.

    python benchmarks/run_all.py            the sizes benchmarks/README.md's figures come from
    python benchmarks/run_all.py --quick    tiny sizes: checks that every script still runs

A benchmark's exit status is non-zero when it lost or duplicated rows or sent requests it
should not have; a missed speed target is printed, not failed on (speed depends on the machine).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL = {
    "bench_noop.py": [],
    "bench_diff.py": [],
    "bench_ladder.py": [],
    "bench_join.py": [],
    "bench_throughput.py": [],
    "bench_crm_connectors.py": [],
    "bench_429_storm.py": [],
    "bench_salesforce_bulk.py": [],
    "bench_postgres_pages.py": [],  # needs PostgreSQL: `scripts/test_postgres.sh start`
}
QUICK = {
    "bench_ab.py": [str(HERE.parent), str(HERE.parent), "--rows", "1000", "--runs", "1"],  # this tree against itself
    "bench_noop.py": ["--rows", "1000"],
    "bench_diff.py": ["--rows", "2000", "--repeat", "1"],
    "bench_ladder.py": ["--rows", "2000"],
    "bench_join.py": ["--rows", "2000"],
    "bench_throughput.py": ["--rows", "1000", "--per-minute", "600"],
    "bench_429_storm.py": ["--rows", "40", "--skip-old"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the scripts run")
    parser.add_argument("only", nargs="*", help="benchmark scripts to run (default: all)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    failed = []
    for script, options in plan.items():
        if args.only and script not in args.only:
            continue
        print(f"\n=== {script} {' '.join(options)}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(HERE / script), *options], cwd=HERE)
        print(f"=== {script}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
        if code:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
