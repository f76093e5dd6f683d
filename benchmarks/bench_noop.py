"""No-op push: push a model that has not changed since the last push.

For each size: build the model with real dbt (rows from `range()`), make every row
acknowledged (a real push for small sizes; for big ones the state a full push would leave,
written from the engine's own diff SQL), then time `dbt-revsync push` end to end in a fresh
process and count the requests the sandbox saw. Baseline, in the same run and through the
same adapter: a bare scan that reads and hashes the same columns of the same model.

Target: 0 requests; the time grows only with the warehouse scan, i.e. push minus scan
stays about flat across sizes; and the push's wall time is at most dbt's floor (a fresh
process that imports dbt and opens the same adapter, ``probe.py floor``, in the same run)
plus 1.5x the bare scan.
"""

from __future__ import annotations

import argparse
import sys

from harness import ACCOUNTS_SQL, UPSERT_BLOCK, BenchProject, Sandbox, machine, table, temp_dir, verdict

REAL_FIRST_PUSH_UP_TO = 2_000  # a real push first; above, the state it would leave is written


def measure(rows: int, sandbox: Sandbox) -> dict[str, float | int | str]:
    with temp_dir() as root:
        project = BenchProject(root, sandbox.url, {"max_concurrency": 8})
        project.model("accounts", ACCOUNTS_SQL, UPSERT_BLOCK)
        project.build(rows)
        if rows <= REAL_FIRST_PUSH_UP_TO:
            project.revsync("push", "--no-progress")
            how = "real push"
        else:
            seeded = project.probe("seed")["seeded"]
            assert seeded == rows, (seeded, rows)
            how = "state written"
        before = sandbox.requests_sent()
        push = project.revsync("push", "--no-progress")  # the diff runs: the last run sent rows, or none ran
        again = project.revsync("push", "--no-progress")  # steady: the last run found nothing, so compare first
        sent = sandbox.requests_sent() - before
        scan = project.probe("scan")
        assert scan["rows"] == rows
        floor = project.probe("floor")
        return {
            "rows": rows,
            "state": how,
            "requests": sent,
            "push": push.seconds,
            "cpu": push.cpu,
            "scan": scan["scan"],
            "setup": scan["wall"] - scan["scan"],
            "peak_mib": push.peak_mib,
            "again_peak_mib": again.peak_mib,
            "again": again.seconds,
            "floor": floor["wall"],
            "floor_mib": floor["peak_mib"],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args(argv)
    print(f"No-op push ({machine()})")
    results = []
    with Sandbox() as sandbox:
        for rows in args.rows:
            results.append(measure(rows, sandbox))
            print(f"  {rows:,} rows done", flush=True)
    first = results[0]
    lines = []
    for r in results:
        rest = float(r["push"]) - float(r["scan"])
        lines.append(
            [
                f"{r['rows']:,}",
                r["state"],
                r["requests"],
                r["push"],
                r["cpu"],
                r["scan"],
                rest,
                float(r["push"]) / float(first["push"]),
                float(r["scan"]) / float(first["scan"]),
                rest / (float(first["push"]) - float(first["scan"])),
                r["again"],
                r["floor"],
                float(r["floor"]) + 1.5 * float(r["scan"]),
                r["peak_mib"],
                r["again_peak_mib"],
                float(r["peak_mib"]) - float(r["floor_mib"]),
                float(r["again_peak_mib"]) - float(r["floor_mib"]),
            ]
        )
    print(
        table(
            [
                "rows",
                "state from",
                "requests",
                "push s",
                "push CPU s",
                "scan s",
                "push - scan s",
                "push x",
                "scan x",
                "push - scan x",
                "again s",
                "floor s",
                "goal s",
                "push peak MiB",
                "again peak MiB",
                "push peak - floor MiB",
                "again peak - floor MiB",
            ],
            lines,
        )
    )
    print(
        "push: `dbt-revsync push` wall time in a fresh process"
        " (start, dbt import, adapter set-up, diff SQL, state writes)."
    )
    print("again: the same push once more, now that the last run found nothing (model and state compared first).")
    print(
        "scan: `select count(*), max(<row hash of the mapped columns>)` over the model, same adapter, query time only."
    )
    print("x columns: ratio to the smallest size in this run.")
    print("goal: dbt's floor (import dbt, open the adapter; a fresh process, same run) + 1.5x the scan.")
    zero = all(r["requests"] == 0 for r in results)
    print(f"target 0 requests: {verdict(zero)}")
    for r in results:
        goal = float(r["floor"]) + 1.5 * float(r["scan"])
        for name in ("push", "again"):
            over = float(r[name]) - goal
            met = verdict(over <= 0)
            print(f"{r['rows']:,} rows, {name}: <= floor + 1.5x scan ({goal:.2f} s): {met} ({over:+.2f} s)")
    return 0 if zero else 1


if __name__ == "__main__":
    sys.exit(main())
