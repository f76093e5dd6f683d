"""The other ways of pushing the same rows to the same endpoint, each run as its own process.

    contenders.py loop    CRM DB URL ROWS              one `requests.post` per row, sequential
    contenders.py dlt     CRM DB URL ROWS BATCH WORK   dlt's `@dlt.destination(batch_size=BATCH)`
    contenders.py ceiling CRM URL N PROCS THREADS      the sandbox's ceiling: N light keep-alive
                                                       requests (full batches) from PROCS x THREADS

CRM is ``hubspot`` (batch create, 100 records a request) or ``freshsales`` (one record a
request). DB is the DuckDB file holding the model ``main.accounts`` (its first ROWS rows
are sent); URL the sandbox's root for that CRM. Each prints one JSON object. Bodies are
the ones dbt-revsync sends for the same rows and mapping. Used by bench_throughput.py;
not part of the product.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

COLUMNS = "account_id, account_name, city, website"


@dataclass(frozen=True)
class Target:
    """Where a CRM's create endpoint is and what its body looks like."""

    crm: str
    path: str
    batch: int  # records a request at most

    def headers(self) -> dict[str, str]:
        key = {"hubspot": "Bearer sandbox-hubspot-token", "freshsales": "Token token=sandbox-freshsales-key"}[self.crm]
        return {"Authorization": key, "Content-Type": "application/json"}

    def body(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        if self.crm == "hubspot":
            return {
                "inputs": [
                    {
                        "properties": {
                            "name": r["name"],
                            "city": r["city"],
                            "website": r["website"],
                            "description": str(r["account_id"]),
                        },
                        "associations": [],
                        "objectWriteTraceId": str(r["account_id"]),
                    }
                    for r in rows
                ]
            }
        (row,) = rows
        return {
            "sales_account": {
                "name": row["name"],
                "city": row["city"],
                "website": row["website"],
                "custom_field": {"cf_account_id": row["account_id"]},
            }
        }


TARGETS = {
    "hubspot": Target("hubspot", "/crm/v3/objects/companies/batch/create", 100),
    "freshsales": Target("freshsales", "/sales_accounts", 1),
}


def read_rows(db: str, limit: int) -> Iterator[dict[str, Any]]:
    import duckdb

    with duckdb.connect(db, read_only=True) as con:
        cursor = con.execute(f"select {COLUMNS} from main.accounts order by account_id limit {int(limit)}")
        while chunk := cursor.fetchmany(10_000):
            for account_id, name, city, website in chunk:
                yield {"account_id": account_id, "name": name, "city": city, "website": website}


def plain_loop(target: Target, db: str, url: str, limit: int) -> dict[str, Any]:
    """The naive script: one `requests.post` per row, one after the other."""
    import requests

    sent = failed = 0
    for row in read_rows(db, limit):
        answer = requests.post(f"{url}{target.path}", json=target.body([row]), headers=target.headers(), timeout=30)
        sent += 1
        failed += answer.status_code >= 300
    return {"requests": sent, "failed": failed}


def with_dlt(target: Target, db: str, url: str, limit: int, batch_size: int, work: str) -> dict[str, Any]:
    """dlt's custom destination: a function called with each batch of items; it posts the
    batch (a batch endpoint) or each item of it (one record a request) on a keep-alive session."""
    import os

    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    import dlt
    import requests

    session = requests.Session()
    counts = {"requests": 0, "failed": 0}

    def post(rows: Sequence[dict[str, Any]]) -> None:
        answer = session.post(f"{url}{target.path}", json=target.body(rows), headers=target.headers(), timeout=30)
        counts["requests"] += 1
        counts["failed"] += answer.status_code >= 300

    @dlt.destination(batch_size=batch_size, loader_file_format="typed-jsonl", name="sandbox", max_table_nesting=0)
    def sandbox(items: Any, table: Any) -> None:
        rows = list(items)
        if target.batch > 1:
            for start in range(0, len(rows), target.batch):
                post(rows[start : start + target.batch])
        else:
            for row in rows:
                post([row])

    @dlt.resource(name="accounts", write_disposition="append", max_table_nesting=0)
    def accounts() -> Iterator[dict[str, Any]]:
        yield from read_rows(db, limit)

    pipeline = dlt.pipeline(pipeline_name="revsync_bench", destination=sandbox, pipelines_dir=work, progress=None)
    pipeline.run(accounts())
    return counts


def ceiling(target: Target, url: str, total: int, procs: int, threads: int) -> dict[str, Any]:
    started = time.perf_counter()
    with ProcessPoolExecutor(procs) as pool:
        done = sum(pool.map(_ceiling_process, [(target.crm, url, total // procs, threads)] * procs))
    seconds = time.perf_counter() - started
    return {"rows": done, "seconds": seconds, "per_second": done / seconds}


def _ceiling_process(args: tuple[str, str, int, int]) -> int:
    crm, url, rows, threads = args
    target = TARGETS[crm]
    parts = urlsplit(url)
    done = [0] * threads

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        first = index * (rows // threads)
        for start in range(first, first + rows // threads, target.batch):
            batch = [
                {"account_id": i, "name": f"Ceiling {i}", "city": "Oslo", "website": "https://x.example"}
                for i in range(start, start + target.batch)
            ]
            connection.request(
                "POST",
                f"{parts.path}{target.path}",
                body=json.dumps(target.body(batch)).encode(),
                headers=target.headers(),
            )
            answer = connection.getresponse()
            answer.read()
            done[index] += target.batch if answer.status < 300 else 0
        connection.close()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done)


if __name__ == "__main__":
    what, crm, *rest = sys.argv[1:]
    chosen = TARGETS[crm]
    if what == "loop":
        result = plain_loop(chosen, rest[0], rest[1], int(rest[2]))
    elif what == "dlt":
        result = with_dlt(chosen, rest[0], rest[1], int(rest[2]), int(rest[3]), rest[4])
    elif what == "ceiling":
        result = ceiling(chosen, rest[0], int(rest[1]), int(rest[2]), int(rest[3]))
    else:
        raise SystemExit(f"unknown contender {what!r}")
    print(json.dumps(result))
