"""Two source trees of dbt-revsync, interleaved on one project: what a change moved.

    bench_ab.py BEFORE AFTER [--rows N] [--runs K]

BEFORE and AFTER are source trees of dbt-revsync (a `git worktree` of the commit before a
change, and the change). Every command runs in a fresh process with its tree first on
PYTHONPATH, before and after taking turns, on one model of N rows whose every row is
remembered as acknowledged (the state a full push leaves). Cases:

- steady no-op push: the sync's last run found nothing, so the model and the state are
  compared before any diff;
- `plan` with 1% changed: the model rebuilt with every hundredth row renamed (the diff runs).

Printed: the median wall, CPU and peak RSS of each, and after/before. Baselines, in the same
run: dbt's floor (``probe.py floor``) and the bare scan (``probe.py scan``). Both trees must
read and write the same state tables.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from harness import (
    ACCOUNTS_SQL,
    UPSERT_BLOCK,
    BenchProject,
    Child,
    Sandbox,
    machine,
    table,
    temp_dir,
)

CASES = {"steady no-op push": ("push", "--no-progress"), "plan, 1% changed": ("plan",)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="runs of each case by each tree")
    args = parser.parse_args(argv)
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    for tree in trees.values():
        if not (tree / "dbt_revsync" / "__init__.py").is_file():
            parser.error(f"{tree}: not a dbt-revsync source tree (no dbt_revsync/__init__.py)")
    print(f"before {trees['before']}, after {trees['after']}: {args.rows:,} rows ({machine()})")
    runs: dict[tuple[str, str], list[Child]] = {}
    with Sandbox() as sandbox, temp_dir() as root:
        project = BenchProject(root, sandbox.url, {"max_concurrency": 8})
        project.model("accounts", ACCOUNTS_SQL, UPSERT_BLOCK)
        project.build(args.rows)
        assert project.probe("seed")["seeded"] == args.rows
        project.revsync(*CASES["steady no-op push"], tree=trees["after"])  # a run that finds nothing
        for case, command in CASES.items():
            if case.startswith("plan"):
                project.build(args.rows, version=2)
            for _ in range(args.runs):
                for name, tree in trees.items():
                    runs.setdefault((case, name), []).append(project.revsync(*command, tree=tree))
        floor, scan = project.probe("floor"), project.probe("scan")
        sent = sandbox.requests_sent()
    lines = []
    for case in CASES:
        medians = {
            name: [statistics.median(getattr(c, f) for c in runs[(case, name)]) for f in ("seconds", "cpu", "peak_mib")]
            for name in trees
        }
        for name, (wall, cpu, peak) in medians.items():
            ratio = wall / medians["before"][0]
            lines.append([case, name, wall, cpu, peak, f"{ratio:.2f}"])
    print(table(["case", "tree", "wall s", "CPU s", "peak MiB", "wall x before"], lines))
    print(f"medians of {args.runs} runs each, before and after taking turns")
    print(f"dbt's floor: {floor['wall']:.2f} s, {floor['peak_mib']:.0f} MiB; bare scan: {scan['scan']:.2f} s")
    print(f"requests sent: {sent}")
    return 0 if sent == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
