"""The demo: build example_project into DuckDB, start the sandbox, push, show what happened.

Run it with `make demo`. Everything happens on this machine: dbt-duckdb writes
example_project/target/demo.duckdb, the sandbox listens on a free loopback port, and
`dbt-revsync push` is the real command line, run twice (the second push has nothing to send).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dbt_revsync.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "example_project"
BIN = Path(sys.executable).parent


def run(title: str, *command: str, env: dict[str, str]) -> int:
    print(f"\n$ {' '.join(command)}    # {title}", flush=True)
    return subprocess.run(command, cwd=PROJECT, env=env, check=False).returncode


def main() -> int:
    database = PROJECT / "target" / "demo.duckdb"
    database.parent.mkdir(exist_ok=True)
    database.unlink(missing_ok=True)
    with SandboxServer() as sandbox:
        env = {**os.environ, "REVSYNC_EXAMPLE_DB": str(database), "REVSYNC_SANDBOX_URL": sandbox.url}
        print(f"sandbox listening on {sandbox.url} (Freshsales at {sandbox.url}/freshsales)")
        if run(
            "build the example project into DuckDB",
            str(BIN / "dbt"),
            "build",
            "--profiles-dir",
            ".",
            "--quiet",
            env=env,
        ):
            return 1
        run("what a push would do", str(BIN / "dbt-revsync"), "plan", "--samples", "1", env=env)
        code = run("first push: every row travels", str(BIN / "dbt-revsync"), "push", env=env)
        print(f"(exit status {code}: 1 means some rows were rejected, as the example's messy data intends)")
        before = _requests(sandbox)
        run("second push: nothing changed, nothing sent", str(BIN / "dbt-revsync"), "push", env=env)
        after = _requests(sandbox)
        held = sandbox.state()["freshsales"]
        print("\nthe sandbox's Freshsales now holds:")
        for resource, records in held.items():
            print(f"  {resource}: {len(records)} records")
        support = sandbox.state()["freshdesk"]["contacts"]
        print(f"the sandbox's Freshdesk now holds:\n  contacts: {len(support)} records")
        print(f"requests received: {after} in all, {after - before} during the second push")
        sample = next(iter(held.get("contacts") or []), None)
        if sample:
            print("one contact as the CRM holds it:\n" + json.dumps(sample, indent=2, ensure_ascii=False))
    return 0


def _requests(sandbox: SandboxServer) -> int:
    return sum(stats["requests"] for stats in sandbox.stats().values())


if __name__ == "__main__":
    sys.exit(main())
