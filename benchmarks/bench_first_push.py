"""First push, no-op push and 1%-changed re-push beside dlt and drt, to a neutral endpoint.

The table ``main.accounts`` (id, name, city, website, updated_at) is generated in DuckDB by a
dbt model (``range()``, nothing made in Python) and copied afresh for every run. Each tool
sends it, as its user would configure it, 100 rows a request, to the same keep-alive
loopback endpoint (``endpoint.py``, its own process, counting requests and rows):

- dbt-revsync: the ``http`` destination, ``batch: true``, ``batch_size: 100``;
- dlt: ``@dlt.destination(batch_size=100)`` posting each batch on a keep-alive session,
  the re-pushes with an ``updated_at`` cursor (``dlt.sources.incremental``);
- drt (``drt-core``, in its own virtualenv under ``--drt-venv``, made when missing): its
  ``rest_api`` destination in ``body_mode: batch``, ``mode: incremental`` on ``updated_at``;
- dbt's floor: a process that imports dbt and opens the adapter (``probe.py floor``).

Runs are interleaved (A B C D, A B C D, ...), medians of ``--runs``. For each tool and run:
the first push (fresh state), the no-op push right after and once more, then 1% of the rows (every
hundredth id) renamed with a later ``updated_at`` and the re-push. Printed: wall, CPU (user +
system of the process and its children), peak RSS (the process tree, sampled every 20 ms),
rows/s, requests, and the ratios. ``--profile`` runs one more first push of dbt-revsync
under py-spy (all threads; cProfile of the main thread where py-spy is missing) and prints
where the CPU goes.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import DBT, PYTHON, free_port, machine, table

HERE = Path(__file__).resolve().parent
MODEL_SQL = """{{ config(materialized='table') }}
select
    i as id,
    'Name ' || i as name,
    'City ' || (i % 997) as city,
    'https://a' || i || '.example.com' as website,
    timestamp '2024-01-01' + to_seconds(i % 86400) as updated_at
from range({{ var('rows') }}) t(i)
"""
CHANGE_SQL = "update main.accounts set name = name || ' v2', updated_at = timestamp '2025-01-01' where id % 100 = 0"
COLUMNS = ("id", "name", "city", "website", "updated_at")
BATCH = 100
TOOLS = ("dbt-revsync", "dlt", "drt")
# A second no-op push shows the steady state: dbt-revsync compares the model with its state before
# diffing only when the sync's last run found nothing to send.
PHASES = ("first", "no-op", "no-op again", "1% changed")


# ---- measuring a child process --------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    code: int
    out: str
    seconds: float
    cpu: float
    peak_mib: float


def tree_rss_kib(pid: int) -> int:
    """Resident set of ``pid`` and all its descendants, in KiB (from /proc)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo += [int(c) for c in children.read().split()]
        except (OSError, ValueError):
            continue
    return total


def measure(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Measured:
    """Run ``argv``; wall, CPU (its own and its children's) and the peak RSS of its tree."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(a) for a in argv], stdout=out, stderr=subprocess.STDOUT, env=dict(env) if env else None, cwd=cwd
        )
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss_kib(process.pid))
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return Measured(
        process.returncode, text, seconds, usage.ru_utime + usage.ru_stime, max(peak[0] / 1024, usage.ru_maxrss / 1024)
    )


# ---- the endpoint -------------------------------------------------------------------------


class Endpoint:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([PYTHON, str(HERE / "endpoint.py"), str(self.port)], stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        self.process.stdout.readline()  # "ready"

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.url}/_stats", timeout=10) as answer:
            return dict(json.loads(answer.read()))

    def reset(self) -> None:
        urllib.request.urlopen(
            urllib.request.Request(f"{self.url}/_reset", data=b"{}", method="POST"), timeout=10
        ).read()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# ---- the tools ----------------------------------------------------------------------------


class Tool:
    """One contender: ``fresh`` forgets its state, ``push`` sends what its user would."""

    name = ""

    def __init__(self, root: Path, db: Path, endpoint: Endpoint) -> None:
        self.root, self.db, self.endpoint = root, db, endpoint

    def fresh(self) -> None: ...

    def argv(self) -> tuple[list[str], dict[str, str], Path]:
        raise NotImplementedError

    def push(self) -> Measured:
        argv, env, cwd = self.argv()
        result = measure(argv, env, cwd)
        if result.code != 0:
            raise RuntimeError(f"{self.name} exited {result.code}:\n{result.out[-3000:]}")
        return result


class Revsync(Tool):
    name = "dbt-revsync"

    def __init__(self, root: Path, db: Path, endpoint: Endpoint, mode: str) -> None:
        super().__init__(root, db, endpoint)
        self.project = root / "project"
        self.env = {**os.environ, "REVSYNC_BENCH_DB": str(db)}
        write_dbt_project(self.project, endpoint.url, mode)
        built = root.parent / "build" / "target"  # dbt's run results: the model was built
        shutil.copytree(built, self.project / "target", dirs_exist_ok=True)

    def argv(self) -> tuple[list[str], dict[str, str], Path]:
        return (
            [
                PYTHON,
                "-m",
                "dbt_revsync",
                "push",
                "--no-progress",
                "--project-dir",
                str(self.project),
                "--profiles-dir",
                str(self.project),
            ],
            self.env,
            self.project,
        )


class Floor(Revsync):
    name = "dbt floor"

    def argv(self) -> tuple[list[str], dict[str, str], Path]:
        return [PYTHON, str(HERE / "probe.py"), str(self.project), "floor"], self.env, self.project


class Dlt(Tool):
    name = "dlt"

    def fresh(self) -> None:
        shutil.rmtree(self.root / "dlt", ignore_errors=True)

    def argv(self) -> tuple[list[str], dict[str, str], Path]:
        env = {**os.environ, "RUNTIME__LOG_LEVEL": "WARNING"}
        return [PYTHON, __file__, "--as-dlt", str(self.db), self.endpoint.url, str(self.root / "dlt")], env, self.root


class Drt(Tool):
    name = "drt"

    def __init__(self, root: Path, db: Path, endpoint: Endpoint, venv: Path) -> None:
        super().__init__(root, db, endpoint)
        self.venv = venv
        home, project = root / "drt-home", root / "drt-project"
        (home / ".drt").mkdir(parents=True, exist_ok=True)
        (project / "syncs").mkdir(parents=True, exist_ok=True)
        (home / ".drt" / "profiles.yml").write_text(f"bench:\n  type: duckdb\n  database: {db}\n")
        (project / "drt_project.yml").write_text('name: bench\nversion: "0.1"\nprofile: bench\n')
        (project / "syncs" / "accounts.yml").write_text(
            "name: accounts\n"
            f'model: "select {", ".join(COLUMNS)} from main.accounts"\n'
            "destination:\n  type: rest_api\n"
            f'  url: "{endpoint.url}/ingest"\n  method: POST\n'
            '  headers:\n    Content-Type: "application/json"\n'
            "  body_mode: batch\n  batch_template: '{{ rows | tojson_safe }}'\n"
            f"sync:\n  mode: incremental\n  cursor_field: updated_at\n  batch_size: {BATCH}\n  on_error: skip\n"
        )
        self.home, self.project = home, project

    def fresh(self) -> None:
        shutil.rmtree(self.project / ".drt", ignore_errors=True)
        shutil.rmtree(self.project / "target", ignore_errors=True)

    def argv(self) -> tuple[list[str], dict[str, str], Path]:
        return [str(self.venv / "bin" / "drt"), "run"], {**os.environ, "HOME": str(self.home)}, self.project


def write_dbt_project(root: Path, url: str, mode: str) -> None:
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text(
        "name: revsync_bench\nversion: '1.0'\nconfig-version: 2\nprofile: revsync_bench\n"
    )
    (root / "profiles.yml").write_text(
        "revsync_bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        "      path: \"{{ env_var('REVSYNC_BENCH_DB') }}\"\n      threads: 1\n"
    )
    connection = {"type": "http", "url": f"{url}/ingest", "batch": True, "batch_size": BATCH, "rate_limit": 1_000_000}
    (root / "revsync.yml").write_text(json.dumps({"connections": {"endpoint": connection}}, indent=2))
    (root / "models" / "accounts.sql").write_text(MODEL_SQL)
    block = {
        "destination": "endpoint",
        "object": "accounts",
        "insert_mode": mode,
        "primary_key": "id",
        "fields": {c: c for c in COLUMNS},
        **({"upsert_key": "id"} if mode == "upsert" else {}),
    }
    schema = {"version": 2, "models": [{"name": "accounts", "config": {"meta": {"revsync": block}}}]}
    (root / "models" / "schema.yml").write_text(json.dumps(schema, indent=2))


def ensure_drt(venv: Path) -> bool:
    if (venv / "bin" / "drt").exists():
        return True
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "drt-core", "duckdb"], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"drt left out: could not install drt-core into {venv}: {exc}")
        return False
    return True


# ---- dlt, as its user would write it (run in a child: --as-dlt DB URL WORK) ---------------


def as_dlt(db: str, url: str, work: str) -> None:
    import dlt
    import duckdb
    import requests

    session = requests.Session()

    @dlt.destination(batch_size=BATCH, loader_file_format="typed-jsonl", name="endpoint", max_table_nesting=0)
    def endpoint(items: Any, table: Any) -> None:
        answer = session.post(
            f"{url}/ingest", json=[{**row, "updated_at": str(row["updated_at"])} for row in items], timeout=30
        )
        answer.raise_for_status()

    @dlt.resource(name="accounts", write_disposition="append", max_table_nesting=0)
    def accounts(updated_at: Any = dlt.sources.incremental("updated_at")) -> Any:  # noqa: B008 - dlt's own idiom
        with duckdb.connect(db, read_only=True) as con:
            mark = updated_at.last_value
            where = "" if mark is None else f" where updated_at > '{mark}'"
            cursor = con.execute(f"select {', '.join(COLUMNS)} from main.accounts{where}")
            while chunk := cursor.fetchmany(10_000):
                yield [dict(zip(COLUMNS, row)) for row in chunk]

    pipeline = dlt.pipeline(pipeline_name="bench", destination=endpoint, pipelines_dir=work, progress=None)
    pipeline.run(accounts())


# ---- the run ------------------------------------------------------------------------------

Phase = tuple[str, str]  # (tool, phase)


def build(root: Path, rows: int) -> Path:
    """The model built once by real dbt; every run starts from a copy of this file."""
    project = root / "build"
    write_dbt_project(project, "http://127.0.0.1:9", "append")
    db = root / "pristine.duckdb"
    env = {**os.environ, "REVSYNC_BENCH_DB": str(db)}
    done = subprocess.run(
        [
            DBT,
            "run",
            "--vars",
            json.dumps({"rows": rows}),
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
        ],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-3000:])
    return db


def change_one_percent(db: Path) -> None:
    import duckdb

    with duckdb.connect(str(db)) as con:
        con.execute(CHANGE_SQL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--mode",
        choices=("append", "upsert"),
        default="upsert",
        help="dbt-revsync's insert mode (append never sends a changed row: the 1%% re-push needs upsert)",
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=TOOLS)
    parser.add_argument("--first-only", action="store_true", help="only the first push")
    parser.add_argument("--profile", action="store_true", help="one more first push of dbt-revsync, profiled")
    parser.add_argument("--drt-venv", type=Path, default=Path(tempfile.gettempdir()) / "revsync-bench-drt-venv")
    parser.add_argument("--as-dlt", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.as_dlt:
        as_dlt(*args.as_dlt)
        return 0
    skip = set(args.skip)
    try:
        import dlt  # noqa: F401
    except ImportError:
        print("dlt left out: install the `bench` extra")
        skip.add("dlt")
    if "drt" not in skip and not ensure_drt(args.drt_venv):
        skip.add("drt")
    rows = args.rows
    print(f"First push, {rows:,} rows, {BATCH} a request, dbt-revsync {args.mode} ({machine()})", flush=True)
    endpoint = Endpoint()
    results: dict[Phase, list[Measured]] = collections.defaultdict(list)
    requests_sent: dict[Phase, list[int]] = collections.defaultdict(list)
    root = Path(tempfile.mkdtemp(prefix="revsync-bench-first-"))
    try:
        pristine = build(root, rows)
        for run in range(args.runs):
            for name in ("dbt-revsync", "dlt", "drt", "dbt floor"):
                if name in skip:
                    continue
                work = root / f"{name.replace(' ', '-')}-{run}"
                work.mkdir()
                db = work / "warehouse.duckdb"
                shutil.copy(pristine, db)
                tool = make_tool(name, work, db, endpoint, args)
                phases = ["first"] if name == "dbt floor" or args.first_only else list(PHASES)
                for phase in phases:
                    if phase == "1% changed":
                        change_one_percent(db)
                    endpoint.reset()
                    result = tool.push()
                    sent = endpoint.stats()
                    if phase == "first" and name != "dbt floor" and sent["rows"] != rows:
                        raise RuntimeError(f"{name} sent {sent['rows']:,} rows of {rows:,}:\n{result.out[-2000:]}")
                    results[(name, phase)].append(result)
                    requests_sent[(name, phase)].append(sent["requests"])
                    print(
                        f"  run {run + 1} {name} {phase}: {result.seconds:.1f} s, CPU {result.cpu:.1f} s, "
                        f"{result.peak_mib:.0f} MiB, {sent['requests']:,} requests, {sent['rows']:,} rows",
                        flush=True,
                    )
                shutil.rmtree(work, ignore_errors=True)
        report(rows, results, requests_sent)
        if args.profile:
            work = root / "profiled"
            work.mkdir()
            shutil.copy(pristine, work / "warehouse.duckdb")
            profile(Revsync(work, work / "warehouse.duckdb", endpoint, args.mode), rows)
    finally:
        endpoint.close()
        shutil.rmtree(root, ignore_errors=True)
    return 0


def make_tool(name: str, work: Path, db: Path, endpoint: Endpoint, args: argparse.Namespace) -> Tool:
    if name == "dbt-revsync":
        return Revsync(work, db, endpoint, args.mode)
    if name == "dbt floor":
        return Floor(work, db, endpoint, args.mode)
    if name == "dlt":
        return Dlt(work, db, endpoint)
    return Drt(work, db, endpoint, args.drt_venv)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(rows: int, results: Mapping[Phase, list[Measured]], sent: Mapping[Phase, list[int]]) -> None:
    def med(tool: str, phase: str, what: Callable[[Measured], float]) -> float:
        return median([what(m) for m in results.get((tool, phase), [])])

    floor_wall = med("dbt floor", "first", lambda m: m.seconds)
    floor_cpu = med("dbt floor", "first", lambda m: m.cpu)
    floor_rss = med("dbt floor", "first", lambda m: m.peak_mib)
    lines = []
    for phase in PHASES:
        for tool in TOOLS:
            if (tool, phase) not in results:
                continue
            wall = med(tool, phase, lambda m: m.seconds)
            cpu = med(tool, phase, lambda m: m.cpu)
            rss = med(tool, phase, lambda m: m.peak_mib)
            lines.append(
                [
                    phase,
                    tool,
                    wall,
                    cpu,
                    rss,
                    rss - floor_rss,
                    rows / wall if phase == "first" else "",
                    int(median(sent[(tool, phase)])),
                    (cpu - floor_cpu) / rows * 1e6 if phase == "first" else "",
                ]
            )
    lines.append(["-", "dbt floor", floor_wall, floor_cpu, floor_rss, 0.0, "", 0, ""])
    print(f"\nMedians of {len(results.get(('dbt-revsync', 'first'), []))} interleaved runs, {rows:,} rows")
    print(
        table(
            [
                "push",
                "tool",
                "wall s",
                "CPU s",
                "peak RSS MiB",
                "RSS - floor MiB",
                "rows/s",
                "requests",
                "CPU above floor µs/row",
            ],
            lines,
        )
    )
    ours = ("dbt-revsync", "first")
    if ours not in results:
        return
    ours_rate = rows / med(*ours, lambda m: m.seconds)
    for tool in ("dlt", "drt"):
        if (tool, "first") in results:
            theirs = rows / med(tool, "first", lambda m: m.seconds)
            print(f"first push rows/s, dbt-revsync / {tool}: {ours_rate / theirs:.2f}x")
    for phase in PHASES:
        if ("dbt-revsync", phase) in results:
            over = med("dbt-revsync", phase, lambda m: m.peak_mib) - floor_rss
            print(
                f"{phase} push peak RSS above dbt's floor: {over:.0f} MiB (goal <= 100): "
                f"{'met' if over <= 100 else 'MISSED'}"
            )
    for tool in ("dlt", "drt"):
        if (tool, "1% changed") in results and ("dbt-revsync", "1% changed") in results:
            ratio = med("dbt-revsync", "1% changed", lambda m: m.seconds) / med(tool, "1% changed", lambda m: m.seconds)
            print(f"1% changed re-push wall, dbt-revsync / {tool}: {ratio:.2f}x")


def profile(tool: Revsync, rows: int) -> None:
    """One first push under py-spy (every thread), or cProfile (the main thread) without it."""
    argv, env, cwd = tool.argv()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = tool.root / "profile.txt"
    if Path(spy).exists():
        done = subprocess.run(
            [spy, "record", "--rate", "200", "--format", "raw", "--output", str(out), "--", *argv],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 and out.exists():
            print_collapsed(out.read_text(), rows)
            return
        print(f"py-spy failed ({done.stderr[-500:]}); cProfile instead (main thread only)")
    stats = tool.root / "profile.pstats"
    subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(stats), *argv[1:]],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
    )
    import pstats

    pstats.Stats(str(stats)).sort_stats("tottime").print_stats(25)


def print_collapsed(text: str, rows: int) -> None:
    """Self and inclusive shares of samples per function, from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [short(f) for f in stack.split(";")[1:]]  # the first is the thread
        n = int(count)
        total += n
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(f"\nProfile of a first push of {rows:,} rows (py-spy, every thread, {total:,} samples)")
    print(table(["self %", "function"], [[f"{100 * n / total:.1f}", f] for f, n in own.most_common(20)]))
    print(
        table(
            ["inclusive %", "function"],
            [[f"{100 * n / total:.1f}", f] for f, n in inclusive.most_common(40) if "<module>" not in f][:30],
        )
    )


def short(frame: str) -> str:
    """``send (dbt_revsync/delivery.py:123)`` -> ``delivery.py:send``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    shown = "/".join(parts[-2:]) if "site-packages" in path or "dbt_revsync" in path else Path(path).name
    return f"{shown}:{name}"


if __name__ == "__main__":
    sys.exit(main())
