"""The other ways of pushing the same rows to the same endpoint, each run as its own process.

    contenders.py loop    DB URL KEY ROWS             one `requests.post` per row, sequential
    contenders.py dlt     DB URL KEY ROWS BATCH WORK  dlt's `@dlt.destination(batch_size=BATCH)`
    contenders.py ceiling URL KEY N PROCS THREADS the sandbox's ceiling: N light keep-alive
                                                  requests from PROCS processes x THREADS threads

DB is the DuckDB file holding the model ``main.accounts`` (its first ROWS rows are sent);
URL the sandbox's Freshsales root.
Each prints one JSON object. Used by bench_throughput.py; not part of the product.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any
from urllib.parse import urlsplit

COLUMNS = "account_id, account_name, city, website"


def read_rows(db: str, limit: int) -> Iterator[dict[str, Any]]:
    import duckdb

    with duckdb.connect(db, read_only=True) as con:
        cursor = con.execute(f"select {COLUMNS} from main.accounts order by account_id limit {int(limit)}")
        while chunk := cursor.fetchmany(10_000):
            for account_id, name, city, website in chunk:
                yield {"account_id": account_id, "name": name, "city": city, "website": website}


def payload(row: dict[str, Any]) -> dict[str, Any]:
    """The body dbt-revsync sends for the same row and mapping."""
    return {"sales_account": {"name": row["name"], "city": row["city"], "website": row["website"],
                              "custom_field": {"cf_account_id": row["account_id"]}}}


def plain_loop(db: str, url: str, key: str, limit: int) -> dict[str, Any]:
    import requests

    headers = {"Authorization": f"Token token={key}"}
    sent = failed = 0
    for row in read_rows(db, limit):
        answer = requests.post(f"{url}/sales_accounts", json=payload(row), headers=headers, timeout=30)
        sent += 1
        failed += answer.status_code >= 300
    return {"sent": sent, "failed": failed}


def with_dlt(db: str, url: str, key: str, limit: int, batch_size: int, work: str) -> dict[str, Any]:
    import os

    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    import dlt
    import requests

    session = requests.Session()
    headers = {"Authorization": f"Token token={key}"}
    counts = {"sent": 0, "failed": 0}

    @dlt.destination(batch_size=batch_size, loader_file_format="typed-jsonl", name="sandbox", max_table_nesting=0)
    def sandbox(items: Any, table: Any) -> None:
        for item in items:
            answer = session.post(f"{url}/sales_accounts", json=payload(item), headers=headers, timeout=30)
            counts["sent"] += 1
            counts["failed"] += answer.status_code >= 300

    @dlt.resource(name="accounts", write_disposition="append", max_table_nesting=0)
    def accounts() -> Iterator[dict[str, Any]]:
        yield from read_rows(db, limit)

    pipeline = dlt.pipeline(pipeline_name="revsync_bench", destination=sandbox, pipelines_dir=work, progress=None)
    pipeline.run(accounts())
    return counts


def ceiling(url: str, key: str, total: int, procs: int, threads: int) -> dict[str, Any]:
    started = time.perf_counter()
    with ProcessPoolExecutor(procs) as pool:
        done = sum(pool.map(_ceiling_process, [(url, key, total // procs, threads)] * procs))
    seconds = time.perf_counter() - started
    return {"sent": done, "seconds": seconds, "per_second": done / seconds}


def _ceiling_process(args: tuple[str, str, int, int]) -> int:
    url, key, count, threads = args
    parts = urlsplit(url)
    body = json.dumps(payload({"account_id": 0, "name": "Ceiling", "city": "Oslo", "website": "https://x.example"})).encode()
    headers = {"Authorization": f"Token token={key}", "Content-Type": "application/json"}
    done = [0] * threads

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        for _ in range(count // threads):
            connection.request("POST", f"{parts.path}/sales_accounts", body=body, headers=headers)
            answer = connection.getresponse()
            answer.read()
            done[index] += answer.status < 300
        connection.close()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done)


if __name__ == "__main__":
    what, *rest = sys.argv[1:]
    if what == "loop":
        result = plain_loop(rest[0], rest[1], rest[2], int(rest[3]))
    elif what == "dlt":
        result = with_dlt(rest[0], rest[1], rest[2], int(rest[3]), int(rest[4]), rest[5])
    elif what == "ceiling":
        result = ceiling(rest[0], rest[1], int(rest[2]), int(rest[3]), int(rest[4]))
    else:
        raise SystemExit(f"unknown contender {what!r}")
    print(json.dumps(result))
