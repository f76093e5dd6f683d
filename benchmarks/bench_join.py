"""Why the diff beside a large state needs more than the sync's bound: DuckDB alone.

    bench_join.py [--rows N] [--limit 50MB]

The diff's heaviest step is a left join of the model's rows to the state's remembered
(record key, row hash) pairs; the state is the join's build side. This script runs that
join's shape in DuckDB alone (no dbt), N rows beside N rows, on one thread under one memory
bound, with the build side carrying each of:

- what the state holds: a short text key and the row hash, a 35-character text;
- the same key with a 64-bit hash of the row hash in its place;
- a 24-character text key (an e-mail address) with that 64-bit hash;
- 64-bit hashes of both.

Each case runs in a fresh process, on tables written beforehand by another: printed, whether
it fits the bound, its wall seconds and peak RSS. The baseline, in the same run, is the same
join of 64-bit numbers on both sides.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from harness import PYTHON, machine, run_child, table, temp_dir, verdict

# case -> (the model's side, the state's side): each selects k (the key) and h (the row's hash).
KEY = "cast(i as varchar)"
EMAIL = "'user' || i || '@example.com'"
ROW_HASH = "'h2:' || md5(cast(i as varchar))"
CASES = {
    "64-bit numbers (baseline)": ("select hash(i) as k, hash(i + 1) as h from rows", None),
    "text key, 35-character row hash (the state)": (f"select {KEY} as k, {ROW_HASH} as h from rows", None),
    "text key, 64-bit hash of the row hash": (
        f"select {KEY} as k, {ROW_HASH} as h from rows",
        f"select {KEY} as k, hash({ROW_HASH}) as h from rows",
    ),
    "e-mail key, 64-bit hash of the row hash": (
        f"select {EMAIL} as k, {ROW_HASH} as h from rows",
        f"select {EMAIL} as k, hash({ROW_HASH}) as h from rows",
    ),
    "64-bit hashes of both": (
        f"select hash({KEY}) as k, {ROW_HASH} as h from rows",
        f"select hash({KEY}) as k, hash({ROW_HASH}) as h from rows",
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--limit", default="50MB", help="DuckDB's memory_limit for the join")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # a child's one case
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(_join(args.database, args.case, args.limit)))
        return 0
    print(f"{args.rows:,} rows beside {args.rows:,}, one thread, memory_limit {args.limit} ({machine()})")
    lines = []
    with temp_dir() as root:
        database = root / "join.duckdb"
        _write(database, args.rows)
        for case in CASES:
            child = run_child([PYTHON, __file__, "--case", case, "--database", str(database), "--limit", args.limit])
            if child.code != 0:
                raise RuntimeError(f"{case} failed:\n{child.err[-3000:]}")
            found = json.loads(child.out.strip().splitlines()[-1])
            fits = "fits" if found["fitted"] else "out of memory"
            lines.append([case, fits, found["seconds"], child.peak_mib])
    print(table(["the state's side carries", "join", "join s", "peak MiB"], lines))
    print(f"the baseline fits {args.limit}: {verdict(lines[0][1] == 'fits')}")
    return 0


def _write(database: Path, rows: int) -> None:
    """Both sides of every case as tables, written by a process of its own."""
    statements = [f"create table rows as select i from range({rows}) t(i)"]
    for n, (model, state) in enumerate(CASES.values()):
        statements += [f"create table model_{n} as {model}", f"create table state_{n} as {state or model}"]
    script = (
        "import duckdb, json, sys\n"
        "c = duckdb.connect(sys.argv[1])\n"
        "for s in json.loads(sys.argv[2]):\n"
        "    c.execute(s)\n"
    )
    child = run_child([PYTHON, "-c", script, str(database), json.dumps(statements)])
    if child.code != 0:
        raise RuntimeError(f"writing the tables failed:\n{child.err[-3000:]}")


def _join(database: Path, case: str, limit: str) -> dict[str, object]:
    """The left join of one case under the bound: whether it fits, and how long it took."""
    import duckdb

    n = list(CASES).index(case)
    hashed = CASES[case][1] is not None  # the state's side holds hash(row hash): compare so
    compare = "hash(m.h)" if hashed else "m.h"
    connection = duckdb.connect(str(database))
    connection.execute("set threads = 1")
    connection.execute(f"set memory_limit = '{limit}'")
    started = time.perf_counter()
    try:
        connection.execute(
            f"select count(*) from model_{n} m left join state_{n} s on s.k = m.k where s.h is distinct from {compare}"
        ).fetchall()
        fitted = True
    except duckdb.OutOfMemoryException:
        fitted = False
    return {"fitted": fitted, "seconds": time.perf_counter() - started}


if __name__ == "__main__":
    sys.exit(main())
