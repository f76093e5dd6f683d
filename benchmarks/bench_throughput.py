"""Throughput: a first push of 100,000 rows to the sandbox.

The model is built with real dbt; each contender starts from an empty sandbox and sends
every row to the same endpoint, each in its own process, timed end to end. The endpoint is
HubSpot's `POST /crm/v3/objects/companies/batch/create` (100 records a request; `--crm
freshsales` uses Freshsales' `POST /sales_accounts`, one record a request, instead).

- dbt-revsync: `dbt-revsync push` (append mode, `max_concurrency` connections, no rate limit).
- plain loop: one `requests.post` per row, sequential (a batch of one on a batch endpoint).
- dlt: `@dlt.destination(batch_size=100)`, posting each batch it is handed on a keep-alive
  session (each row of it, on a one-record endpoint).
- the sandbox's ceiling: light keep-alive clients in 2 processes sending full batches, to
  show what the emulator itself can serve on this machine.

(a) Under the vendor's limit: HubSpot's published rolling window of 100 requests per 10 s,
enforced by a sandbox started with `--vendor-limits` and reported in its
`X-HubSpot-RateLimit-*` headers (`--crm freshsales`: the sandbox answers 429 past
`--per-minute` requests in any rolling minute). The connection's `rate_limit` is set to
that rate. Reported: the share of the allowed rows per second sustained while sending,
rows lost, 429s seen.

Targets: (a) >= 95% of the allowed rate, 0 lost; (b) >= 10x the plain loop, >= 3x dlt.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import ACCOUNTS_SQL, PYTHON, BenchProject, Child, Sandbox, machine, run_child, table, temp_dir, verdict

FIELDS = {"name": "account_name", "city": "city", "website": "website"}
BLOCKS = {
    "hubspot": {
        "destination": "hubspot",
        "object": "companies",
        "insert_mode": "append",
        "primary_key": "account_id",
        "fields": {**FIELDS, "description": "account_id"},
    },
    "freshsales": {
        "destination": "freshsales",
        "object": "sales_accounts",
        "insert_mode": "append",
        "primary_key": "account_id",
        "fields": {**FIELDS, "custom_field.cf_account_id": "account_id"},
    },
}
RESOURCES = {"hubspot": "companies", "freshsales": "sales_accounts"}
ROWS_PER_REQUEST = {"hubspot": 100, "freshsales": 1}
VENDOR_PER_MINUTE = {"hubspot": 600}  # the rolling 10 s window of 100 the emulator enforces with --vendor-limits


def record_key(crm: str, record: dict[str, Any]) -> str:
    """The model's account_id as the CRM holds it."""
    if crm == "hubspot":
        return str(record.get("properties", {}).get("description"))
    return str(record.get("custom_field", {}).get("cf_account_id"))


CONTENDERS = str(Path(__file__).with_name("contenders.py"))


@dataclass
class Poller:
    """Samples the sandbox's request count while a contender runs, to find the rate
    sustained between the first and the last request (process start-up left out)."""

    sandbox: Sandbox
    crm: str
    every: float = 0.25
    samples: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), self.sandbox.requests_sent(self.crm)))
            self._stop.wait(self.every)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter(), self.sandbox.requests_sent(self.crm)))

    def sustained(self) -> float:
        """Requests per second from the last sample before sending began to the first
        sample that saw the final count."""
        final = self.samples[-1][1]
        start = max((s for s in self.samples if s[1] == 0), default=self.samples[0])
        end = next(s for s in self.samples if s[1] == final)
        return (end[1] - start[1]) / max(end[0] - start[0], 1e-9)


@dataclass
class Outcome:
    name: str
    rows: int
    child: Child
    sustained: float
    held: int
    distinct: int
    status: dict[str, int]

    @property
    def per_second(self) -> float:
        return self.rows / self.child.seconds


def run(name: str, crm: str, rows: int, sandbox: Sandbox, start: Callable[[], Child]) -> Outcome:
    sandbox.reset()
    with Poller(sandbox, crm) as poller:
        child = start()
    if child.code != 0:
        raise RuntimeError(f"{name} exited {child.code}:\n{child.out[-2000:]}{child.err[-2000:]}")
    records = sandbox.records(crm, RESOURCES[crm])
    distinct = len({record_key(crm, r) for r in records})
    return Outcome(name, rows, child, poller.sustained(), len(records), distinct, sandbox.stats(crm)["by_status"])


def contender(*args: Any) -> Callable[[], Child]:
    return lambda: run_child([PYTHON, CONTENDERS, *map(str, args)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--crm", choices=sorted(BLOCKS), default="hubspot")
    parser.add_argument(
        "--loop-rows",
        type=int,
        default=10_000,
        help="rows the plain loop sends (default 10,000: one request a row, sequential, it would "
        "take a quarter of an hour for 100,000; its rate is steady, and rates are compared)",
    )
    parser.add_argument("--concurrency", type=int, default=4, help="max_concurrency of the connection")
    parser.add_argument(
        "--per-minute",
        type=int,
        default=600,
        help="limit for (a) where the vendor's own is not emulated, requests a minute",
    )
    parser.add_argument("--skip-dlt", action="store_true")
    args = parser.parse_args(argv)
    crm, rows, loop_rows = args.crm, args.rows, min(args.loop_rows, args.rows)
    print(f"Throughput, {rows:,} rows, {crm} create endpoint, {ROWS_PER_REQUEST[crm]} row(s) a request ({machine()})")
    with Sandbox() as sandbox, temp_dir() as root:
        url = f"{sandbox.url}/{crm}"
        free = BenchProject(
            root / "free", sandbox.url, {"rate_limit": 1_000_000, "max_concurrency": args.concurrency}, crm
        )
        free.model("accounts", ACCOUNTS_SQL, BLOCKS[crm])
        free.build(rows)
        db = free.env["REVSYNC_BENCH_DB"]
        ceiling = json.loads(
            run_child([PYTHON, CONTENDERS, "ceiling", crm, url, min(rows, 20_000 * ROWS_PER_REQUEST[crm]), 2, 4]).out
        )
        ours = run("dbt-revsync", crm, rows, sandbox, lambda: free.revsync("push", "--no-progress"))
        loop = run("plain requests loop", crm, loop_rows, sandbox, contender("loop", crm, db, url, loop_rows))
        dlt = (
            None
            if args.skip_dlt
            else run(
                "dlt @dlt.destination", crm, rows, sandbox, contender("dlt", crm, db, url, rows, 100, root / "dlt")
            )
        )
    per_minute = VENDOR_PER_MINUTE.get(crm, args.per_minute)
    with Sandbox(vendor_limits=crm in VENDOR_PER_MINUTE) as sandbox, temp_dir() as root:
        if crm not in VENDOR_PER_MINUTE:
            sandbox.set_limit(crm, per_minute)
        paced = BenchProject(
            root / "paced", sandbox.url, {"rate_limit": per_minute / 60, "max_concurrency": args.concurrency}, crm
        )
        paced.model("accounts", ACCOUNTS_SQL, BLOCKS[crm])
        paced.build(rows)
        limited = run("dbt-revsync, limited", crm, rows, sandbox, lambda: paced.revsync("push", "--no-progress"))
    return report(crm, ceiling, ours, loop, dlt, limited, per_minute)


def report(
    crm: str,
    ceiling: dict[str, Any],
    ours: Outcome,
    loop: Outcome,
    dlt: Outcome | None,
    limited: Outcome,
    per_minute: int,
) -> int:
    outcomes = [o for o in (ours, loop, dlt) if o is not None]
    print("(b) no limit; rows/s over the whole process (start, read, send); sustained: requests/s while sending")
    print(
        table(
            ["contender", "rows", "wall s", "CPU s", "rows/s", "sustained req/s", "held", "lost", "dbt-revsync is"],
            [
                [
                    o.name,
                    o.rows,
                    o.child.seconds,
                    o.child.cpu,
                    o.per_second,
                    o.sustained,
                    o.held,
                    o.rows - o.distinct,
                    "" if o is ours else f"{ours.per_second / o.per_second:.1f}x",
                ]
                for o in outcomes
            ]
            + [
                [
                    "sandbox ceiling (light clients)",
                    ceiling["rows"],
                    ceiling["seconds"],
                    "",
                    ceiling["per_second"],
                    ceiling["per_second"] / ROWS_PER_REQUEST[crm],
                    "",
                    "",
                    "",
                ]
            ],
        )
    )
    allowed = per_minute / 60
    share = limited.sustained / allowed
    lost = limited.rows - limited.distinct
    print(
        f"(a) vendor's limit: {per_minute:,} requests a minute ({allowed * ROWS_PER_REQUEST[crm]:,.0f} rows/s allowed)"
    )
    print(
        table(
            ["rows", "wall s", "sustained req/s", "share of allowed", "held", "lost", "429s"],
            [
                [
                    limited.rows,
                    limited.child.seconds,
                    limited.sustained,
                    f"{share:.1%}",
                    limited.held,
                    lost,
                    limited.status.get("429", 0),
                ]
            ],
        )
    )
    ok_a = share >= 0.95 and lost == 0 and limited.held == limited.rows
    print(f"target (a) >= 95% and 0 lost: {verdict(ok_a)}")
    print(
        f"target (b) >= 10x the plain loop: {verdict(ours.per_second >= 10 * loop.per_second)}"
        f" ({ours.per_second / loop.per_second:.1f}x)"
    )
    if dlt is not None:
        print(
            f"target (b) >= 3x dlt: {verdict(ours.per_second >= 3 * dlt.per_second)}"
            f" ({ours.per_second / dlt.per_second:.1f}x)"
        )
    complete = all(o.held == o.rows == o.distinct for o in outcomes) and lost == 0
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
