"""Diff: `dbt-revsync plan` on a 1,000,000-row model with 1% of its rows changed, on DuckDB.

The model is built with real dbt, every row is remembered as acknowledged (the state a full
push leaves, written from the engine's own diff SQL), then the model is rebuilt with every
hundredth row renamed. Measured in fresh processes:

- `dbt-revsync plan`: wall time and peak RSS of the whole command: process start, imports
  (dbt included), reading the manifest, adapter and macro set-up, the diff SQL, paging the
  changed rows through the planner, printing.
- the same work split into its parts (`probe.py plan`).
- baselines in the same run: dbt's own floor, a fresh process that imports dbt, reads the
  project and profile and opens the adapter's connection, without dbt-revsync, macros or SQL
  (`probe.py floor`: what any Python tool driving the project's dbt adapter pays, so the
  rest is dbt-revsync's); and a bare scan hashing the same columns through the same adapter.
- `plan` again with a DuckDB `memory_limit` in the profile: what the memory costs a user
  who bounds it.

Target: <= 2 s and <= 300 MB on a 2-core machine.
"""

from __future__ import annotations

import argparse
import re
import sys

from harness import ACCOUNTS_SQL, UPSERT_BLOCK, BenchProject, Sandbox, machine, table, temp_dir, verdict

TARGET_SECONDS = 2.0
TARGET_MB = 300.0
BOUNDED = "100MB"  # a DuckDB memory_limit in the profile, for the last figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of plan; the best is reported")
    args = parser.parse_args(argv)
    rows, changed = args.rows, len(range(0, args.rows, 100))
    print(f"Diff of {rows:,} rows, {changed:,} changed, DuckDB ({machine()})")
    with Sandbox() as sandbox, temp_dir() as root:
        project = BenchProject(root, sandbox.url)
        project.model("accounts", ACCOUNTS_SQL, UPSERT_BLOCK)
        project.build(rows, version=1)
        assert project.probe("seed")["seeded"] == rows
        project.build(rows, version=2)
        plans = [project.revsync("plan") for _ in range(args.repeat)]
        best = min(plans, key=lambda c: c.seconds)
        found = re.search(r"would ([^\n]*)", best.out)
        assert found and f"upsert {changed}" in found.group(1), best.out
        parts = min((project.probe("plan") for _ in range(args.repeat)), key=lambda p: p["wall"])
        floors = [project.probe("floor") for _ in range(args.repeat)]
        scan = min((project.probe("scan") for _ in range(args.repeat)), key=lambda p: p["scan"])
        project.profile({"memory_limit": BOUNDED})  # what a user who needs the memory target sets
        bounded = min((project.revsync("plan") for _ in range(args.repeat)), key=lambda c: c.seconds)
        sent = sandbox.requests_sent()
    peak = max(c.peak_mib for c in plans)
    floor = min(floors, key=lambda p: p["wall"])
    floor_peak = max(p["peak_mib"] for p in floors)
    start = parts["wall"] - parts["total_in_process"]
    dbt_open = parts["adapter_setup"] - parts["macros"]
    print(
        table(
            ["what", "seconds", "ratio"],
            [
                [
                    f"`dbt-revsync plan`, wall (best of {len(plans)})",
                    best.seconds,
                    f"{best.seconds / TARGET_SECONDS:.2f} of the 2 s target",
                ],
                ["`dbt-revsync plan`, CPU (user + system)", best.cpu, ""],
                [
                    "baseline: dbt's floor, wall (import dbt, profile, adapter; no SQL)",
                    floor["wall"],
                    f"{floor['wall'] / best.seconds:.0%} of the plan",
                ],
                ["baseline: dbt's floor, CPU", floor["cpu"], ""],
                [
                    "dbt-revsync's own: plan wall - dbt's floor",
                    best.seconds - floor["wall"],
                    f"{(best.seconds - floor['wall']) / best.seconds:.0%} of the plan",
                ],
                ["plan in parts: interpreter start", start, ""],
                ["  import dbt_revsync", parts["import"], ""],
                ["  manifest and sync specs", parts["specs"], ""],
                [
                    "  dbt: import, flags, project + profile, adapter",
                    dbt_open,
                    f"{floor['total_in_process']:.2f} in the floor's process",
                ],
                [
                    f"  macros ({parts['macros_from']})",
                    parts["macros"],
                    "from target/manifest.json" if parts["macros_from"] == "manifest" else "parsed by dbt",
                ],
                [
                    "  diff SQL (changes table, counts)",
                    parts["diff_sql"],
                    f"{parts['diff_sql'] / scan['scan']:.1f}x the bare scan",
                ],
                ["  page + plan the changed rows", parts["page_and_plan"], ""],
                ["  close", parts["close"], ""],
                ["baseline: bare scan + hash of the mapped columns", scan["scan"], "1.0"],
            ],
        )
    )
    print(
        table(
            ["what", "MiB", "ratio"],
            [
                ["`dbt-revsync plan`, peak RSS", peak, f"{peak * 1.048576 / TARGET_MB:.2f} of the 300 MB target"],
                ["baseline: dbt's floor, peak RSS", floor_peak, f"{floor_peak / peak:.0%} of the plan's"],
                ["dbt-revsync's own: plan peak - dbt's floor peak", peak - floor_peak, ""],
                [
                    f"`plan` with the profile's `settings: {{memory_limit: {BOUNDED}}}`",
                    bounded.peak_mib,
                    f"{bounded.peak_mib * 1.048576 / TARGET_MB:.2f} of the target, wall {bounded.seconds:.2f} s",
                ],
            ],
        )
    )
    print(f"planned: {parts['planned']}; requests sent: {sent}")
    ok_time, ok_mem = best.seconds <= TARGET_SECONDS, peak * 1.048576 <= TARGET_MB
    print(f"target <= 2 s: {verdict(ok_time)}; target <= 300 MB: {verdict(ok_mem)}")
    return 0 if sent == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
