"""HubSpot and Pipedrive connectors against their emulators: requests, tokens and time per record.

Drives each connector the way the runner does (``matching.send`` per batch, batches of the
connector's maximum) over loopback HTTP to the in-process sandbox, with no token bucket (only the vendor's
rate-limit headers pace it: Pipedrive's emulator enforces and reports its 2 s window of 20, so
the Pipedrive runs go at the vendor's burst pace, as they would for real), for a
first push (every record new) and a second push (every record changed, ids remembered).
Prints one JSON object per run and the ratios that matter: requests per record, Pipedrive
tokens per record, and how long the same push takes at the vendor's default pace.

    .venv/bin/python benchmarks/bench_crm_connectors.py [RECORDS]     (default 200)
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from dbt_revsync import matching
from dbt_revsync.connections import parse_connection
from dbt_revsync.delivery import HttpClient
from dbt_revsync.destinations import catalog, destination_class
from dbt_revsync.destinations.base import Destination
from dbt_revsync.model import Change, FieldMap, NodeRef, SyncSpec
from dbt_revsync.sandbox import SandboxServer

NODE = NodeRef("model.bench.crm", "crm", "model", "models/schema.yml", None, "main", "crm")
SETUPS: dict[str, dict[str, Any]] = {
    "hubspot": {
        "secret": ("access_token", "sandbox-hubspot-token"),
        "object": "contacts",
        "key": "email",
        "fields": {"email": "email", "firstname": "name"},
    },
    "pipedrive": {
        "secret": ("api_token", "sandbox-pipedrive-token"),
        "object": "persons",
        "key": "email",
        "fields": {"email": "email", "name": "name"},
    },
}


def destination(server: SandboxServer, vendor: str) -> tuple[Destination, SyncSpec]:
    setup = SETUPS[vendor]
    name, token = setup["secret"]
    conn, issues = parse_connection(
        vendor,
        {"type": vendor, name: token, "base_url": f"{server.url}/{vendor}"},
        "revsync.yml",
        {},
        destinations=catalog(),
    )
    assert conn is not None and not issues, issues
    cls = destination_class(vendor)
    http = HttpClient(rate_limit=None, max_concurrency=1, secrets=conn.secrets, throttle_hint=cls.throttle_hint)
    fields = tuple(FieldMap(path, column) for path, column in setup["fields"].items())
    spec = SyncSpec(
        f"{NODE.unique_id}:{vendor}", NODE, conn, setup["object"], "upsert", ("id",), fields, upsert_key=setup["key"]
    )
    return cls(conn, http), spec


def push(dest: Destination, spec: SyncSpec, records: int, suffix: str, ids: dict[str, str]) -> dict[str, Any]:
    dest.prepare(spec)
    name_field = next(f.path for f in spec.fields if f.column == "name")
    changes = [
        Change(
            "upsert",
            str(n),
            {"email": f"p{n}@example.com", name_field: f"Person {n}{suffix}"},
            ids.get(str(n)),
            f"h{n}{suffix}",
            f"p{n}@example.com",
        )
        for n in range(records)
    ]
    started, requests, acked = time.perf_counter(), 0, 0
    size = dest.max_batch_size
    for start in range(0, len(changes), size):
        result = matching.send(dest, spec, changes[start : start + size])
        requests += result.requests
        acked += len(result.acked)
        ids.update({a.key: a.destination_id for a in result.acked if a.destination_id})
    seconds = time.perf_counter() - started
    assert acked == records, f"{acked} of {records} acknowledged"
    return {
        "records": records,
        "requests": requests,
        "seconds": round(seconds, 3),
        "requests_per_record": round(requests / records, 3),
        "records_per_second": round(records / seconds, 1),
        "seconds_at_vendor_pace": round(requests / (type(dest).default_rate_limit or 1), 1),
    }


def main(records: int) -> None:
    with SandboxServer(emulators=["hubspot", "pipedrive"]) as server:
        server.emulator("pipedrive").window.enforce = True
        for vendor in SETUPS:
            dest, spec = destination(server, vendor)
            ids: dict[str, str] = {}
            for label, suffix in (("first push", ""), ("changed, ids remembered", " again")):
                emulator = server.emulator(vendor)
                tokens_before = getattr(emulator, "tokens_used", 0)
                figures = push(dest, spec, records, suffix, ids)
                if vendor == "pipedrive":
                    tokens = emulator.tokens_used - tokens_before
                    figures.update(tokens=tokens, tokens_per_record=round(tokens / records, 2))
                print(json.dumps({"vendor": vendor, "run": label, **figures}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
