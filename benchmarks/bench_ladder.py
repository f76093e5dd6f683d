"""The diff's memory ladder: a no-op diff beside a state of every row, under each rung alone.

The model is built with real dbt and every row is remembered as acknowledged (the state a
full push leaves), so the diff joins the whole model with a state as big: the heaviest
statement a push runs. In a fresh process each (``probe.py rung``), the diff runs as a push
runs it, under the sync's bound, with its statements bounded by one rung of
``changes.DIFF_MEMORY_LIMITS`` alone: whether it fits, its wall seconds (the changes table
and its counts) and the process's peak RSS. Then the ladder itself, as a push climbs it: the
rungs the changes table tried, and the peak of the whole process, failed tries included.
Baseline, in the same run: dbt's own floor (``probe.py floor``), the peak any tool driving
the project's adapter pays.

Target: the ladder settles on the first rung that fits, and peaks at most 100 MB above
dbt's floor (at 1M and 10M rows).
"""

from __future__ import annotations

import argparse
import sys

from harness import ACCOUNTS_SQL, UPSERT_BLOCK, BenchProject, Sandbox, machine, table, temp_dir, verdict

from dbt_revsync.changes import DIFF_MEMORY_LIMITS

TARGET_ABOVE_FLOOR_MIB = 100 / 1.048576


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    print(f"The diff's memory ladder, {args.rows:,} rows beside a state of as many, DuckDB ({machine()})")
    with Sandbox() as sandbox, temp_dir() as root:
        project = BenchProject(root, sandbox.url)
        project.model("accounts", ACCOUNTS_SQL, UPSERT_BLOCK)
        project.build(args.rows)
        assert project.probe("seed")["seeded"] == args.rows
        floor = project.probe("floor")
        rungs = {limit: project.probe("rung", limit) for limit in DIFF_MEMORY_LIMITS}
        ladder = project.probe("rung", "ladder")
        sent = sandbox.requests_sent()
    lines = []
    for limit, r in [*rungs.items(), ("the ladder", ladder)]:
        shown = "none" if limit == DIFF_MEMORY_LIMITS[-1] else limit
        tried = " > ".join("none" if t == DIFF_MEMORY_LIMITS[-1] else t for t in r["rungs"])
        lines.append(
            [
                shown,
                "fits" if r["fitted"] else "out of memory",
                r["diff_seconds"],
                r["peak_mib"],
                r["peak_mib"] - floor["peak_mib"],
                tried,
            ]
        )
    print(table(["bound", "diff", "diff s", "peak MiB", "peak - floor MiB", "rungs tried"], lines))
    print(f"dbt's floor: {floor['peak_mib']:.0f} MiB peak, {floor['wall']:.2f} s")
    first_fit = next(limit for limit, r in rungs.items() if r["fitted"])
    settled = ladder["fitted"] and ladder["rungs"][-1] == first_fit and ladder["changes"] == 0
    print(f"the ladder settles on the first rung that fits ({first_fit}): {verdict(settled)}")
    lean = ladder["peak_mib"] - floor["peak_mib"] <= TARGET_ABOVE_FLOOR_MIB
    print(f"the ladder peaks <= floor + 100 MB at {args.rows:,} rows: {verdict(lean)}")
    print(f"requests sent: {sent}")
    return 0 if settled and sent == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
