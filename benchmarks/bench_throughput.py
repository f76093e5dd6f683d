"""Throughput: a first push of 100,000 rows to the sandbox.

The model is built with real dbt; each contender starts from an empty sandbox and sends
every row to the same endpoint (Freshsales `POST /sales_accounts`, one record a request:
the only connector with no batch write), each in its own process, timed end to end:

- dbt-revsync: `dbt-revsync push` (append mode, `max_concurrency` connections, no rate limit).
- plain loop: one `requests.post` per row, sequential.
- dlt: `@dlt.destination(batch_size=100)` posting each row of a batch with a keep-alive session.
- the sandbox's ceiling: light keep-alive clients in 2 processes, to show what the
  emulator itself can serve on this machine.

(a) Under a vendor-like limit: the sandbox answers 429 past `per_minute` requests in any
rolling minute; the connection's `rate_limit` is set to that rate. Reported: the share of
the allowed rows per second sustained while sending, rows lost, 429s seen.

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

APPEND_BLOCK = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "insert_mode": "append",
    "primary_key": "account_id",
    "fields": {"name": "account_name", "city": "city", "website": "website", "custom_field.cf_account_id": "account_id"},
}
CONTENDERS = str(Path(__file__).with_name("contenders.py"))


@dataclass
class Poller:
    """Samples the sandbox's request count while a contender runs, to find the rate
    sustained between the first and the last request (process start-up left out)."""

    sandbox: Sandbox
    every: float = 0.25
    samples: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), self.sandbox.requests_sent()))
            self._stop.wait(self.every)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter(), self.sandbox.requests_sent()))

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


def run(name: str, rows: int, sandbox: Sandbox, start: Callable[[], Child]) -> Outcome:
    sandbox.reset()
    with Poller(sandbox) as poller:
        child = start()
    if child.code != 0:
        raise RuntimeError(f"{name} exited {child.code}:\n{child.out[-2000:]}{child.err[-2000:]}")
    records = sandbox.records()
    distinct = len({str(r.get("custom_field", {}).get("cf_account_id")) for r in records})
    return Outcome(name, rows, child, poller.sustained(), len(records), distinct, sandbox.stats()["by_status"])


def contender(*args: Any) -> Callable[[], Child]:
    return lambda: run_child([PYTHON, CONTENDERS, *map(str, args)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=None,
                        help="rows the plain loop and dlt send (default: all); their rates are compared")
    parser.add_argument("--concurrency", type=int, default=8, help="max_concurrency of the connection")
    parser.add_argument("--per-minute", type=int, default=None,
                        help="vendor-like limit for (a); default: half the rate dbt-revsync reached unlimited")
    parser.add_argument("--skip-dlt", action="store_true")
    args = parser.parse_args(argv)
    rows, base_rows = args.rows, min(args.baseline_rows or args.rows, args.rows)
    print(f"Throughput, {rows:,} rows, Freshsales per-record endpoint ({machine()})")
    with Sandbox() as sandbox, temp_dir() as root:
        key = sandbox.api_key()
        url = f"{sandbox.url}/freshsales"
        free = BenchProject(root / "free", sandbox.url, key, {"rate_limit": 1_000_000, "max_concurrency": args.concurrency})
        free.model("accounts", ACCOUNTS_SQL, APPEND_BLOCK)
        free.build(rows)
        db = free.env["REVSYNC_BENCH_DB"]
        ceiling = json.loads(run_child([PYTHON, CONTENDERS, "ceiling", url, key, min(rows, 20_000), 2, 4]).out)
        ours = run("dbt-revsync", rows, sandbox, lambda: free.revsync("push", "--no-progress"))
        loop = run("plain requests loop", base_rows, sandbox, contender("loop", db, url, key, base_rows))
        dlt = None if args.skip_dlt else run("dlt @dlt.destination", base_rows, sandbox,
                                              contender("dlt", db, url, key, base_rows, 100, root / "dlt"))
        per_minute = args.per_minute or max(60, int(ours.sustained * 60 / 2))
        sandbox.set_limit(per_minute)
        paced = BenchProject(root / "paced", sandbox.url, key, {"rate_limit": per_minute / 60, "max_concurrency": args.concurrency})
        paced.model("accounts", ACCOUNTS_SQL, APPEND_BLOCK)
        paced.build(rows)
        limited = run("dbt-revsync, limited", rows, sandbox, lambda: paced.revsync("push", "--no-progress"))
        sandbox.set_limit(None)
    return report(rows, ceiling, ours, loop, dlt, limited, per_minute)


def report(rows: int, ceiling: dict[str, Any], ours: Outcome, loop: Outcome, dlt: Outcome | None,
           limited: Outcome, per_minute: int) -> int:
    outcomes = [o for o in (ours, loop, dlt) if o is not None]
    print("(b) no limit; rows/s over the whole process (start, read, send); sustained: while sending")
    print(table(["contender", "rows", "wall s", "CPU s", "rows/s", "sustained req/s", "held", "lost", "dbt-revsync is"], [
        [o.name, o.rows, o.child.seconds, o.child.cpu, o.per_second, o.sustained, o.held, o.rows - o.distinct,
         "" if o is ours else f"{ours.per_second / o.per_second:.1f}x"] for o in outcomes
    ] + [["sandbox ceiling (light clients)", ceiling["sent"], ceiling["seconds"], "", ceiling["per_second"], ceiling["per_second"], "", "", ""]]))
    allowed = per_minute / 60
    share = limited.sustained / allowed
    lost = limited.rows - limited.distinct
    print(f"(a) vendor-like limit: {per_minute:,} requests a minute ({allowed:.1f} rows/s allowed, one row a request)")
    print(table(["rows", "wall s", "sustained rows/s", "share of allowed", "held", "lost", "429s"], [
        [limited.rows, limited.child.seconds, limited.sustained, f"{share:.1%}", limited.held, lost, limited.status.get("429", 0)]]))
    ok_a = share >= 0.95 and lost == 0 and limited.held == limited.rows
    ok_loop = ours.per_second >= 10 * loop.per_second
    print(f"target (a) >= 95% and 0 lost: {verdict(ok_a)}")
    print(f"target (b) >= 10x the plain loop: {verdict(ok_loop)} ({ours.per_second / loop.per_second:.1f}x)")
    if dlt is not None:
        print(f"target (b) >= 3x dlt: {verdict(ours.per_second >= 3 * dlt.per_second)} ({ours.per_second / dlt.per_second:.1f}x)")
    print(f"dbt-revsync reached {ours.sustained / ceiling['per_second']:.0%} of the sandbox's ceiling while sending.")
    complete = all(o.held == o.rows == o.distinct for o in outcomes) and lost == 0
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
