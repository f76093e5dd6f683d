"""The world a model-based test of push sequences drives, and what it must hold.

One dbt-duckdb project whose model ``accounts`` is a view over ``main.src``, a table the
test writes directly (a row edit needs no ``dbt build``). Its one named sync (``main``)
goes to one of three Freshsales accounts: ``crm_a`` and ``crm_b`` under two prefixes of
one sandbox server, ``crm_c`` on a second server; each account has its own API key and its
own id counter, so the ids of one account are valid ids of records in another. A YAML
edit rewrites ``models/schema.yml`` and runs ``dbt parse`` (once per distinct YAML text:
the manifest is kept and put back when the same text comes again).

The world also keeps what the test knows: the model's rows (the table's content), the
sync's config, the records a person made directly in a CRM, and the records a killed or
overlapping push may have left without telling the state. The ``check_*`` functions
compare that knowledge with the sandbox and ``revsync.revsync_sync_state``.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from dbt_revsync.crms.freshsales.emulator import FreshsalesEmulator
from dbt_revsync.sandbox import Emulator, SandboxServer
from tests.integration.conftest import FRESHSALES_KEY, Project, Result, _env

MODEL = "accounts"
SYNC_NAME = "main"
UPSERT_KEY = "cf_account_id"
CONNECTIONS = ("crm_a", "crm_b", "crm_c")
OBJECTS = ("sales_accounts", "contacts")
MODES = ("upsert", "mirror", "append")
PRIMARY_KEYS = ("account_id", "alt_id")
LABEL_FIELD = {"sales_accounts": "name", "contacts": "first_name"}
WRAPPER = {"sales_accounts": "sales_account", "contacts": "contact"}
KEYS = {"crm_a": FRESHSALES_KEY, "crm_b": "fsb-live-5d0c2e9a41f7", "crm_c": "fsc-live-81be3f6c09d2"}
ENV_NAMES = {"crm_a": "FRESHSALES_API_KEY", "crm_b": "CRM_B_API_KEY", "crm_c": "CRM_C_API_KEY"}
BATCH_SIZE = 3


@dataclass(frozen=True)
class Target:
    """Where records live: a connection (an account) and an object."""

    connection: str
    object: str

    def __str__(self) -> str:
        return f"{self.connection}.{self.object}"


@dataclass(frozen=True)
class Row:
    account_id: int
    alt_id: str
    ext: str  # the upsert key's value (custom_field.cf_account_id)
    name: str
    city: str

    def key(self, primary_key: str) -> str:
        return str(getattr(self, primary_key))


@dataclass(frozen=True)
class Config:
    destination: str = "crm_a"
    object: str = "sales_accounts"
    insert_mode: str = "mirror"
    primary_key: str = "account_id"

    @property
    def target(self) -> Target:
        return Target(self.destination, self.object)

    def block(self) -> dict[str, Any]:
        return {
            "name": SYNC_NAME,
            "destination": self.destination,
            "object": self.object,
            "insert_mode": self.insert_mode,
            "primary_key": self.primary_key,
            "upsert_key": UPSERT_KEY,
            "batch_size": BATCH_SIZE,
            "fields": {LABEL_FIELD[self.object]: "name", "city": "city", f"custom_field.{UPSERT_KEY}": "ext"},
        }


@dataclass(frozen=True)
class PersonRecord:
    """A record a person made in the CRM: no push may delete it or change its key."""

    target: Target
    id: int
    ext: str


@dataclass
class Knowledge:
    """What the test knows, beyond the table and the sandbox."""

    config: Config = field(default_factory=Config)
    rows: dict[int, Row] = field(default_factory=dict)  # by account_id
    people: list[PersonRecord] = field(default_factory=list)
    appended: set[Target] = field(default_factory=set)  # append ran here: keys may repeat
    # Records mirror need not delete: (target, upsert key value) of records a push may have
    # made without the state hearing of it (killed, answer lost), and of records made before
    # the sync last pointed elsewhere or changed its primary key (a fixed product may count
    # those as matched rather than created).
    tolerated: set[tuple[Target, str]] = field(default_factory=set)
    settled_here: bool = False  # a push exited 0 since the last YAML edit: the state is this config's
    used: set[int] = field(default_factory=set)  # key numbers ever used: a key value never comes back for another row
    outputs: list[str] = field(default_factory=list)

    def number(self) -> int:
        """A key number never used before in this example."""
        fresh = max(self.used, default=0) + 1
        self.used.add(fresh)
        return fresh

    def exts(self) -> set[str]:
        return {row.ext for row in self.rows.values()}


INITIAL_ROWS = 4


def initial_rows() -> dict[int, Row]:
    return {i: Row(i, f"alt-{i}", f"e{i}", f"Account {i}", "Oslo") for i in range(1, INITIAL_ROWS + 1)}


class World:
    """The project, the two sandbox servers, and the test's knowledge; reset per example."""

    def __init__(self, root: Path, main: SandboxServer, other: SandboxServer) -> None:
        self.main, self.other = main, other
        self.project = Project(root, main, warehouse="duckdb")
        self.project.env.update({ENV_NAMES[c]: KEYS[c] for c in CONNECTIONS})
        self.use_connections()
        self.known = Knowledge()
        self._manifests: dict[str, bytes] = {}
        self._write_table(initial_rows())
        self.project.model(MODEL, "{{ config(materialized='view') }} select * from main.src", Config().block())
        self.project.build()
        self._run_results = (self.target_dir / "run_results.json").read_bytes()
        self._manifests[self._schema_text()] = (self.target_dir / "manifest.json").read_bytes()

    # -- set-up ------------------------------------------------------------------------------
    def use_connections(self, max_concurrency: int = 1) -> None:
        """Write revsync.yml: the three accounts, with short timeouts and retry budgets. One
        batch at a time: a push sends in the diff's order, so a counterexample replays exactly."""
        self.project.connections({c: self._connection(c, max_concurrency) for c in CONNECTIONS})

    def _connection(self, name: str, max_concurrency: int) -> dict[str, Any]:
        server, prefix = self.where(name)
        return {
            "type": "freshsales",
            "api_key": "{{ env_var('" + ENV_NAMES[name] + "') }}",
            "base_url": f"{server.url}/{prefix}",
            "max_concurrency": max_concurrency,
            "rate_limit": 500,
            "timeout": 1.0,
            "max_retries": 3,
            "max_retry_time": 4,
        }

    def where(self, connection: str) -> tuple[SandboxServer, str]:
        return {"crm_a": (self.main, "freshsales"), "crm_b": (self.main, "fs_b"), "crm_c": (self.other, "freshsales")}[
            connection
        ]

    def emulator(self, connection: str) -> Emulator:
        server, prefix = self.where(connection)
        return server.emulator(prefix)

    @property
    def target_dir(self) -> Path:
        return self.project.root / "target"

    def reset(self) -> None:
        """A fresh example: empty CRMs and state, the initial rows and config."""
        self.main.reset()
        self.other.reset()
        with self.project.duckdb() as db:
            db.execute("drop schema if exists revsync cascade")
        self._write_table(initial_rows())
        self.known = Knowledge(rows=initial_rows(), used=set(range(1, INITIAL_ROWS + 1)))
        self.apply_config(Config())

    def _write_table(self, rows: dict[int, Row]) -> None:
        with self.project.duckdb() as db:
            db.execute(
                "create or replace table main.src"
                " (account_id integer, alt_id varchar, ext varchar, name varchar, city varchar)"
            )
            if rows:
                db.executemany(
                    "insert into main.src values (?, ?, ?, ?, ?)",
                    [[r.account_id, r.alt_id, r.ext, r.name, r.city] for r in rows.values()],
                )

    # -- the model's rows ------------------------------------------------------------------------
    def put_rows(self, rows: dict[int, Row]) -> None:
        """The table holds exactly ``rows`` from now on."""
        self.known.rows = dict(rows)
        self._write_table(rows)

    # -- YAML ---------------------------------------------------------------------------------
    def _schema_text(self) -> str:
        return (self.project.root / "models" / "schema.yml").read_text()

    def apply_config(self, config: Config) -> None:
        """Rewrite the model's YAML and parse it (or put back the manifest of the same text)."""
        self.project.model(MODEL, "{{ config(materialized='view') }} select * from main.src", config.block())
        text = self._schema_text()
        manifest = self.target_dir / "manifest.json"
        if text in self._manifests:
            manifest.write_bytes(self._manifests[text])
        else:
            self._parse()
            self._manifests[text] = manifest.read_bytes()
        # a plain push takes the nodes the last build built: dbt parse must not change that
        (self.target_dir / "run_results.json").write_bytes(self._run_results)
        if config != self.known.config:
            self.known.settled_here = False
        old = self.known.config
        if (old.target, old.primary_key) != (config.target, config.primary_key):
            self.known.tolerated |= {(old.target, ext) for ext in exts_held(self, old.target)}
        self.known.config = config

    def _parse(self) -> None:
        """``dbt parse``, in this process (a second interpreter would cost more than the parse)."""
        from dbt.cli.main import dbtRunner

        root = str(self.project.root)
        with _env(self.project.env), contextlib.redirect_stdout(io.StringIO()) as out:
            result = dbtRunner().invoke(["parse", "--project-dir", root, "--profiles-dir", root, "--quiet"])
        assert result.success, f"dbt parse failed: {result.exception or out.getvalue()[-2000:]}"

    # -- people in the CRM ----------------------------------------------------------------------
    def person_creates(self, target: Target, ext: str, name: str) -> PersonRecord:
        """A record made through the CRM's own HTTP API, as a person (or another tool) would."""
        server, prefix = self.where(target.connection)
        body = {WRAPPER[target.object]: {LABEL_FIELD[target.object]: name, "custom_field": {UPSERT_KEY: ext}}}
        answer = requests.post(
            f"{server.url}/{prefix}/{target.object}",
            json=body,
            timeout=10,
            headers={"Authorization": f"Token token={KEYS[target.connection]}"},
        )
        answer.raise_for_status()
        record = PersonRecord(target, int(answer.json()[WRAPPER[target.object]]["id"]), ext)
        self.known.people.append(record)
        return record

    def records(self, target: Target) -> list[dict[str, Any]]:
        return self.emulator(target.connection).records(target.object)

    def holders(self, target: Target, ext: str) -> list[dict[str, Any]]:
        return [r for r in self.records(target) if (r.get("custom_field") or {}).get(UPSERT_KEY) == ext]

    # -- pushes --------------------------------------------------------------------------------
    def push(self) -> Result:
        result = self.project.push("--no-progress")
        self.known.outputs.append(result.out + result.err)
        self._pushed()
        return result

    def _pushed(self) -> None:
        if self.known.config.insert_mode == "append":
            self.known.appended.add(self.known.config.target)

    def _command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "dbt_revsync",
            "push",
            "--no-progress",
            "--project-dir",
            str(self.project.root),
            "--profiles-dir",
            str(self.project.root),
        ]

    def start_push(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self._command(),
            cwd=self.project.root,
            env={**os.environ, **self.project.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def _collect(self, process: subprocess.Popen[str]) -> int:
        out, err = process.communicate(timeout=120)
        self.known.outputs.append(out + err)
        return process.returncode

    def _may_leave_records(self) -> None:
        """A push that did not finish may have created records the state never heard of."""
        target = self.known.config.target
        self.known.tolerated |= {(target, ext) for ext in self.known.exts()}

    def push_killed(self, after_requests: int, delay: float) -> bool:
        """A subprocess push, slowed by the sandbox, SIGKILLed once the CRM has seen
        ``after_requests`` requests; False when it ended before."""
        server, prefix = self.where(self.known.config.destination)
        server.add_fault("delay", prefix=prefix, seconds=delay)
        stats = self.emulator(self.known.config.destination).stats
        start = stats.snapshot()["requests"]
        process = self.start_push()
        try:
            deadline = time.monotonic() + 60
            while (
                process.poll() is None
                and stats.snapshot()["requests"] - start < after_requests
                and time.monotonic() < deadline
            ):
                time.sleep(0.002)
            killed = process.poll() is None
            if killed:
                process.send_signal(signal.SIGKILL)
            self._collect(process)
        finally:
            server.clear_faults()
        self._may_leave_records()
        self._pushed()
        return killed

    def push_twice_at_once(self) -> tuple[int, int]:
        first, second = self.start_push(), self.start_push()
        codes = self._collect(first), self._collect(second)
        self._may_leave_records()
        self._pushed()
        return codes

    def push_with_fault(self, rule: dict[str, Any]) -> Result:
        server, prefix = self.where(self.known.config.destination)
        server.add_fault(rule["action"], prefix=prefix, **{k: v for k, v in rule.items() if k != "action"})
        try:
            result = self.push()
        finally:
            server.clear_faults()
        self._may_leave_records()
        return result

    # -- what the warehouse holds ------------------------------------------------------------------
    def state(self) -> dict[str, set[str]]:
        """The sync's remembered record key -> destination ids. This project has one sync, so
        every state row is its own; only the current target's rows (its connection and object)
        are read."""
        with self.project.duckdb(read_only=True) as db:
            columns = {
                str(r[0])
                for r in db.execute(
                    "select column_name from information_schema.columns where table_schema = 'revsync' "
                    "and table_name = 'revsync_sync_state'"
                ).fetchall()
            }
            if not columns:
                return {}
            where, values = [], []
            config = self.known.config
            if "target" in columns:  # <type>:<connection>@<host>/<object>
                where.append("target like ?")
                values.append(f"%:{config.destination}@%/{config.object}")
            sql = "select record_key, destination_id from revsync.revsync_sync_state"
            found = db.execute(sql + (" where " + " and ".join(where) if where else ""), values).fetchall()
        remembered: dict[str, set[str]] = {}
        for key, remote in found:
            remembered.setdefault(str(key), set()).add(str(remote))
        return remembered


# ---- invariants ---------------------------------------------------------------------------------------
def all_targets() -> Iterator[Target]:
    for connection in CONNECTIONS:
        for obj in OBJECTS:
            yield Target(connection, obj)


def check_people(world: World) -> None:
    """No record a person made was deleted, or given another upsert key value."""
    for person in world.known.people:
        held = {int(r["id"]): r for r in world.records(person.target)}
        record = held.get(person.id)
        assert record is not None, f"{person.target}: the person-made record {person.id} ({person.ext}) was deleted"
        now = (record.get("custom_field") or {}).get(UPSERT_KEY)
        assert now == person.ext, (
            f"{person.target}: the person-made record {person.id} was overwritten: "
            f"its {UPSERT_KEY} {person.ext!r} became {now!r}"
        )


def check_unique_keys(world: World) -> None:
    """No two records share an upsert key value (append aside: it never looks records up)."""
    for target in all_targets():
        if target in world.known.appended:
            continue
        keys = Counter((r.get("custom_field") or {}).get(UPSERT_KEY) for r in world.records(target))
        repeated = sorted(str(k) for k, n in keys.items() if n > 1)
        assert not repeated, f"{target}: several records share {UPSERT_KEY} {repeated}"


class StateDisagrees(AssertionError):
    """A remembered id names no record of the sync's target, or another row's record."""


def check_state(world: World) -> None:
    """Every remembered id of a row in the model names a record of the sync's current
    connection and object, and that record is that row's (holds its upsert key value)."""
    if not world.known.settled_here:
        return
    config = world.known.config
    by_key = {row.key(config.primary_key): row for row in world.known.rows.values()}
    held = {str(r["id"]): (r.get("custom_field") or {}).get(UPSERT_KEY) for r in world.records(config.target)}
    for key, remotes in sorted(world.state().items()):
        row = by_key.get(key)
        if row is None:
            continue
        for remote in sorted(remotes):
            if held.get(remote) != row.ext:
                what = (
                    f"record {remote} holds {UPSERT_KEY} {held[remote]!r}"
                    if remote in held
                    else f"it has no record {remote}"
                )
                raise StateDisagrees(
                    f"the state remembers {remote} for row {config.primary_key}={key} ({row.ext}), "
                    f"but in {config.target} {what}"
                )


class RecordLost(AssertionError):
    """A row still in the model lost the record a push had given it."""


class RowNotDelivered(AssertionError):
    """A row's record never reached the sync's connection and object."""


class WrongValues(AssertionError):
    """A row's record holds other values than the model's, or the row has several records."""


class MirrorKeptRecord(AssertionError):
    """Mirror kept a record it created for a row that has left the model."""


class ForeignRecordTouched(AssertionError):
    """A push changed records of a connection or object the sync does not point at."""


def exts_held(world: World, target: Target) -> set[str]:
    return {str((r.get("custom_field") or {}).get(UPSERT_KEY)) for r in world.records(target)}


def check_projection(world: World, before: set[str]) -> None:
    """After a settled push: the target holds every row once, with its mapped values; under
    mirror, nothing else but records people made (and those ``tolerated``).
    ``before``: the upsert key values the target held before the push."""
    config = world.known.config
    target = config.target
    label = LABEL_FIELD[config.object]
    appended = target in world.known.appended
    for row in sorted(world.known.rows.values(), key=lambda r: r.ext):
        found = world.holders(target, row.ext)
        where = f"{target}: row {config.primary_key}={row.key(config.primary_key)} ({UPSERT_KEY} {row.ext})"
        if not found and row.ext in before:
            raise RecordLost(f"{where}: its record is gone after the push")
        if not found:
            raise RowNotDelivered(f"{where}: no record after a push that exited 0")
        if appended:
            continue
        if len(found) != 1:
            raise WrongValues(f"{where}: {len(found)} records")
        values = (found[0].get(label), found[0].get("city"))
        if values != (row.name, row.city):
            raise WrongValues(f"{where}: record {found[0]['id']} holds {values}, the model {(row.name, row.city)}")
    if config.insert_mode != "mirror" or appended:
        return
    exts = world.known.exts()
    people = {p.id for p in world.known.people if p.target == target}
    for record in world.records(target):
        ext = (record.get("custom_field") or {}).get(UPSERT_KEY)
        if ext in exts or record["id"] in people or (target, ext) in world.known.tolerated:
            continue
        raise MirrorKeptRecord(f"{target}: mirror kept record {record['id']} ({ext}) whose row left the model")


Snapshot = dict[Target, dict[int, tuple[Any, ...]]]


def snapshot_others(world: World) -> Snapshot:
    """Every record of every target but the sync's own, as (key, label, city)."""
    current = world.known.config.target
    return {
        t: {
            int(r["id"]): ((r.get("custom_field") or {}).get(UPSERT_KEY), r.get(LABEL_FIELD[t.object]), r.get("city"))
            for r in world.records(t)
        }
        for t in all_targets()
        if t != current
    }


def check_others_untouched(world: World, before: Snapshot) -> None:
    """A push reads and writes its own connection and object only: the others are as they were."""
    after = snapshot_others(world)
    for target, records in before.items():
        now = after[target]
        if now != records:
            changed = sorted(i for i in set(now) | set(records) if now.get(i) != records.get(i))
            raise ForeignRecordTouched(
                f"a push to {world.known.config.target} changed {target}: records {changed[:5]} "
                f"were {[records.get(i) for i in changed[:5]]}, now {[now.get(i) for i in changed[:5]]}"
            )


def check_no_secret(world: World) -> None:
    for text in world.known.outputs:
        for connection, secret in KEYS.items():
            assert secret not in text, f"the API key of {connection} appears in a push's output"
    logs = world.project.root / "logs"
    if logs.is_dir():
        for path in logs.rglob("*"):
            if path.is_file():
                text = path.read_text(errors="replace")
                for connection, secret in KEYS.items():
                    assert secret not in text, f"the API key of {connection} appears in {path}"


def check_always(world: World) -> None:
    """What holds after every step, whatever the step."""
    check_people(world)
    check_unique_keys(world)
    check_no_secret(world)


def servers() -> tuple[SandboxServer, SandboxServer]:
    """Two sandbox servers: two Freshsales accounts on one (two prefixes), one on the other."""
    main = SandboxServer(
        emulators={
            "freshsales": FreshsalesEmulator(api_keys=(KEYS["crm_a"],)),
            "fs_b": FreshsalesEmulator(api_keys=(KEYS["crm_b"],)),
        }
    )
    other = SandboxServer(emulators={"freshsales": FreshsalesEmulator(api_keys=(KEYS["crm_c"],))})
    return main.start(), other.start()
