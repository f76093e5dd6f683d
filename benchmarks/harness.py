"""What the benchmarks share: a throw-away dbt-duckdb project built by the real `dbt`, the
sandbox in its own process, timed child processes with their peak memory, and tables.

Rows are generated in SQL with DuckDB's ``range()``; nothing is read from files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

PYTHON = sys.executable
DBT = str(Path(sys.executable).parent / "dbt")
KEYS = {"freshsales": "sandbox-freshsales-key", "hubspot": "sandbox-hubspot-token"}  # the sandbox's defaults

# One account per row; `version` > 1 renames every hundredth account (1% changed).
ACCOUNTS_SQL = """{{ config(materialized='table') }}
select
    i as account_id,
    case when {{ var('version', 1) }} > 1 and i % 100 = 0
         then 'Account ' || i || ' v' || {{ var('version', 1) }}
         else 'Account ' || i end as account_name,
    'City ' || (i % 997) as city,
    'https://a' || i || '.example.com' as website
from range({{ var('rows') }}) t(i)
"""

UPSERT_BLOCK = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "insert_mode": "upsert",
    "primary_key": "account_id",
    "upsert_key": "cf_account_id",
    "fields": {
        "name": "account_name",
        "city": "city",
        "website": "website",
        "custom_field.cf_account_id": "account_id",
    },
}


@dataclass(frozen=True)
class Child:
    """A finished child process: exit code, output, wall and CPU seconds, peak RSS (MiB).

    CPU seconds (user + system) say what the work costs when other processes share the
    cores and stretch the wall time."""

    code: int
    out: str
    err: str
    seconds: float
    cpu: float
    peak_mib: float


def run_child(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Child:
    """Run ``argv`` and measure it alone: ``os.wait4`` gives this child's own rusage
    (the per-child form of ``getrusage(RUSAGE_CHILDREN)``), so earlier children never
    inflate the peak."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(a) for a in argv], stdout=out, stderr=err, env=dict(env) if env else None, cwd=cwd
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Child(
            process.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            seconds,
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sandbox:
    """`dbt-revsync sandbox` in its own process, so it never competes for our interpreter."""

    def __init__(self, per_minute: int | None = None, vendor_limits: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._state = tempfile.TemporaryDirectory(prefix="revsync-bench-sandbox-")  # ids of this run only
        argv = [PYTHON, "-m", "dbt_revsync", "sandbox", "--port", str(self.port), "--state-dir", self._state.name]
        if per_minute:
            argv += ["--per-minute", str(per_minute)]
        if vendor_limits:
            argv += ["--vendor-limits"]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the sandbox stopped: {self.process.stdout.read().decode() if self.process.stdout else ''}"
                )
            try:
                requests.get(f"{self.url}/_admin/stats", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("the sandbox did not start within 30 s")

    def api_key(self, prefix: str = "freshsales") -> str:
        emulators = requests.get(f"{self.url}/_admin/emulators", timeout=10).json()["emulators"]
        found = next(e for e in emulators if e["prefix"] == prefix)
        return str(found["api_keys"][0])

    def stats(self, prefix: str = "freshsales") -> dict[str, Any]:
        return requests.get(f"{self.url}/_admin/stats", timeout=30).json()[prefix]

    def requests_sent(self, prefix: str = "freshsales") -> int:
        return int(self.stats(prefix)["requests"])

    def records(self, prefix: str, resource: str) -> list[dict[str, Any]]:
        held = requests.get(f"{self.url}/_admin/{prefix}/{resource}", timeout=300).json()
        return held if isinstance(held, list) else held.get(resource, held.get("records", []))

    def reset(self) -> None:
        requests.post(f"{self.url}/_admin/reset", timeout=30).raise_for_status()

    def set_limit(self, prefix: str, per_minute: int | None) -> None:
        body = {"prefix": prefix, "per_minute": per_minute, "per_hour": None}
        requests.post(f"{self.url}/_admin/limits", json=body, timeout=10).raise_for_status()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._state.cleanup()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BenchProject:
    """A dbt-duckdb project in a temporary directory, with one model and its sync block."""

    def __init__(
        self, root: Path, sandbox_url: str, connection: Mapping[str, Any] | None = None, crm: str = "freshsales"
    ) -> None:
        self.root = root
        self.env = {**os.environ, "REVSYNC_BENCH_DB": str(root / "warehouse.duckdb"), "REVSYNC_BENCH_KEY": KEYS[crm]}
        (root / "models").mkdir(parents=True, exist_ok=True)
        (root / "dbt_project.yml").write_text(
            "name: revsync_bench\nversion: '1.0'\nconfig-version: 2\nprofile: revsync_bench\n"
        )
        self.profile()
        secret = "api_key" if crm == "freshsales" else "access_token"
        conn = {
            "type": crm,
            secret: "{{ env_var('REVSYNC_BENCH_KEY') }}",
            "base_url": f"{sandbox_url}/{crm}",
            **(connection or {}),
        }
        (root / "revsync.yml").write_text(json.dumps({"connections": {crm: conn}}, indent=2))

    def profile(self, duckdb_settings: Mapping[str, str] | None = None) -> None:
        """(Re)write profiles.yml; ``duckdb_settings`` go under dbt-duckdb's ``settings``."""
        settings = "".join(f"        {k}: '{v}'\n" for k, v in (duckdb_settings or {}).items())
        (self.root / "profiles.yml").write_text(
            "revsync_bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
            "      path: \"{{ env_var('REVSYNC_BENCH_DB') }}\"\n      threads: 1\n"
            + (f"      settings:\n{settings}" if settings else "")
        )

    def model(self, name: str, sql: str, block: Mapping[str, Any]) -> None:
        (self.root / "models" / f"{name}.sql").write_text(sql)
        schema = {"version": 2, "models": [{"name": name, "config": {"meta": {"revsync": dict(block)}}}]}
        (self.root / "models" / "schema.yml").write_text(json.dumps(schema, indent=2))

    def dbt(self, *args: str) -> Child:
        child = run_child(
            [DBT, *args, "--project-dir", str(self.root), "--profiles-dir", str(self.root)], self.env, self.root
        )
        if child.code != 0:
            raise RuntimeError(f"dbt {' '.join(args)} failed:\n{child.out[-3000:]}{child.err[-3000:]}")
        return child

    def build(self, rows: int, version: int = 1) -> Child:
        return self.dbt("run", "--vars", json.dumps({"rows": rows, "version": version}))

    def revsync(self, *args: str, check: bool = True, tree: Path | None = None) -> Child:
        """``dbt-revsync ARGS`` on this project; ``tree``: a dbt-revsync source tree to run instead."""
        argv = [PYTHON, "-m", "dbt_revsync", *args, "--project-dir", str(self.root), "--profiles-dir", str(self.root)]
        child = run_child(argv, {**self.env, "PYTHONPATH": str(tree)} if tree else self.env, self.root)
        if check and child.code != 0:
            raise RuntimeError(
                f"dbt-revsync {' '.join(args)} exited {child.code}:\n{child.out[-3000:]}{child.err[-3000:]}"
            )
        return child

    def probe(self, *args: str) -> dict[str, Any]:
        """Run ``benchmarks/probe.py`` on this project; it prints one JSON object."""
        argv = [PYTHON, str(Path(__file__).with_name("probe.py")), str(self.root), *args]
        child = run_child(argv, self.env, self.root)
        if child.code != 0:
            raise RuntimeError(f"probe {' '.join(args)} failed:\n{child.out[-3000:]}{child.err[-3000:]}")
        result = json.loads(child.out.strip().splitlines()[-1])
        result["peak_mib"] = child.peak_mib
        result["wall"] = child.seconds
        result["cpu"] = child.cpu
        return result


@contextmanager
def temp_dir(keep: bool = False) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="revsync-bench-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def summary_counts(text: str) -> dict[str, int]:
    """The numbers of dbt-revsync's summary line for a sync (created, updated, ...)."""
    return {
        name: int(value)
        for value, name in re.findall(r"(\d+) (created|updated|deleted|unchanged|rejected|requests)", text)
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table: what the scripts print and what benchmarks/README.md shows."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def machine() -> str:
    """Cores, Python, and the load average at the start: other work on the machine
    stretches wall times, so the scripts print CPU seconds too."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {load:.1f}"
