"""Salesforce: the same push through sObject Collections and through Bulk API 2.0.

For each size: build a model of accounts with real dbt (rows from `range()`), push it to the
sandbox's Salesforce once with the bulk path switched off (200 records a request) and once
with it on (jobs of `bulk_batch_size` rows), each into an empty org and a fresh state, in a
fresh process; print wall and CPU seconds, requests, and the ratios.

Target: the bulk path needs at least 5x fewer API requests (about seven per job instead of
one per 200 rows), which is what the daily allocation counts; the ratio grows with the size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys

import requests
from harness import BenchProject, Sandbox, machine, table, temp_dir, verdict

SQL = """{{ config(materialized='table') }}
select i as account_id, 'Account ' || i as name, 'City ' || (i % 997) as city
from range({{ var('rows') }}) t(i)
"""
BLOCK = {
    "destination": "salesforce",
    "object": "Account",
    "insert_mode": "upsert",
    "primary_key": "account_id",
    "upsert_key": "Ext_Id__c",
    "fields": {"Name": "name", "BillingCity": "city", "Ext_Id__c": "account_id"},
}


def salesforce_requests(sandbox: Sandbox) -> int:
    return int(requests.get(f"{sandbox.url}/_admin/stats", timeout=30).json()["salesforce"]["requests"])


def measure(rows: int, bulk: bool, sandbox: Sandbox) -> dict[str, object]:
    sandbox.reset()
    with temp_dir() as root:
        project = BenchProject(root, sandbox.url, "unused")
        conn = {
            "type": "salesforce",
            "access_token": "sandbox-salesforce-token",
            "max_concurrency": 4,
            "base_url": f"{sandbox.url}/salesforce/services/data/v62.0",
            "bulk_poll_seconds": 0.2,
            "bulk_threshold": 2000 if bulk else 10**9,
            "bulk_batch_size": 25_000,
        }
        (root / "revsync.yml").write_text(json.dumps({"connections": {"salesforce": conn}}))
        project.model("accounts", SQL, BLOCK)
        project.build(rows)
        push = project.revsync("push", "--no-progress")
        sent = salesforce_requests(sandbox)
        shutil.rmtree(root / "target", ignore_errors=True)
    return {
        "rows": rows,
        "path": "bulk" if bulk else "collections",
        "requests": sent,
        "push": push.seconds,
        "cpu": push.cpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 50_000])
    args = parser.parse_args(argv)
    print(f"Salesforce collections vs Bulk API 2.0 ({machine()})")
    lines, ok = [], True
    with Sandbox() as sandbox:
        for rows in args.rows:
            plain, bulk = measure(rows, False, sandbox), measure(rows, True, sandbox)
            ratio = int(plain["requests"]) / max(1, int(bulk["requests"]))
            ok = ok and ratio >= 5
            for r in (plain, bulk):
                lines.append(
                    [
                        f"{rows:,}",
                        r["path"],
                        r["requests"],
                        r["push"],
                        r["cpu"],
                        float(r["push"]) / float(plain["push"]),
                    ]
                )
            print(
                f"  {rows:,} rows done (requests {plain['requests']} vs {bulk['requests']}, x{ratio:.0f})", flush=True
            )
    print(table(["rows", "path", "requests", "push s", "cpu s", "time vs collections"], lines))
    print(f"bulk needs at least 5x fewer requests: {verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
