"""The diff in the warehouse: every status on a model full of repeated and missing keys,
checked against the rules written out in Python, on every warehouse; and where dbt-revsync
takes dbt's macros from (the project's manifest when it still matches the macro files)."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import re
from pathlib import Path
from typing import Any

import pytest

from dbt_revsync import commands, plan
from dbt_revsync.changes import SYNC_MEMORY_LIMIT, ChangeSet
from dbt_revsync.errors import WarehouseError
from dbt_revsync.model import Settings, SyncSpec
from dbt_revsync.state import StateRow, StateStore
from dbt_revsync.warehouse import Warehouse
from tests.integration.conftest import Project

pytestmark = [pytest.mark.integration]

BLOCK = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "insert_mode": "upsert",
    "primary_key": "account_id",
    "upsert_key": "cf_account_id",
    "fields": {"name": "name", "custom_field.cf_account_id": "ref"},
}
GONE = ("900", "901")  # remembered keys the model no longer holds


def trouble_rows() -> list[list[Any]]:
    """Keys 100-179, many repeated or written differently (" 105 ", "105.0"), some missing;
    upsert values shared by several keys, in other cases and spacing, some missing."""
    rnd = random.Random(7)
    rows: list[list[Any]] = []
    for n in range(100, 180):
        for copy in range(rnd.choice([1, 1, 1, 2, 3])):
            key = rnd.choice([str(n), str(n), f" {n} ", f"{n}.0"])
            ref = rnd.choice([f"R{n}", f"R{n}", f"R{n}", f" r{n % 23} ", f"R{n % 17}", None])
            rows.append([key, ref, f"Name {n}.{copy}"])
    rows += [[None, "R100", "No key"], [None, None, "Nothing"], ["", "R999", "Empty key"]]
    rnd.shuffle(rows)
    return rows


def key_text(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    whole = re.fullmatch(r"(-?[0-9]+)\.0+", text)
    return (whole.group(1) if whole else text) or None


def upsert_text(value: str | None) -> str | None:
    return (value or "").strip().lower() or None


def expected_statuses(
    rows: list[list[Any]], state: dict[str, str], hashes: dict[str, str]
) -> collections.Counter[tuple[str | None, str]]:
    """The design's rules, one row at a time. ``state``: key -> remembered hash; ``hashes``:
    key -> the row's hash (for keys on one row only)."""
    keys = collections.Counter(key_text(r[0]) for r in rows)
    firsts: dict[str, str | None] = {}
    sizes = collections.Counter(upsert_text(r[1]) for r in rows)
    for row in rows:
        upsert, key = upsert_text(row[1]), key_text(row[0])
        if upsert is not None and key is not None and (firsts.get(upsert) is None or key < str(firsts[upsert])):
            firsts[upsert] = key
    found: collections.Counter[tuple[str | None, str]] = collections.Counter()
    for row in rows:
        key, upsert = key_text(row[0]), upsert_text(row[1])
        if key is None:
            status = "reject_null_key"
        elif keys[key] > 1:
            status = "reject_duplicate_key"
        elif upsert is None:
            status = "reject_null_upsert_key"
        elif sizes[upsert] > 1 and key != firsts[upsert]:
            status = "reject_duplicate_upsert_key"
        elif key not in state:
            status = "new"
        elif state[key] != hashes[key]:
            status = "changed"
        else:
            continue
        found[(key, status)] += 1
    present = {key_text(r[0]) for r in rows}
    found.update((key, "removed") for key in state if key not in present)
    return found


TARGET = "freshsales:freshsales@test/sales_accounts"


def changes(warehouse: Warehouse, spec: SyncSpec, include_removed: bool) -> list[Any]:
    """The change set's rows, then (``include_removed``) the rows that left the model."""
    change_set = ChangeSet(warehouse, spec, TARGET)
    change_set.build(full_refresh=False, watermark=None)
    rows = [row for page in change_set.pages(50) for row in page]
    if include_removed:
        change_set.build_removed()
        rows += [row for page in change_set.pages(50) for row in page]
    change_set.drop()
    return rows


def open_project(project: Project, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, SyncSpec]:
    for name, value in project.env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(project_dir=project.root, profiles_dir=project.root)
    specs, issues, _ = commands.load_specs(settings, commands.Selection(all_syncs=True))
    assert not issues and len(specs) == 1
    return settings, specs[0]


def trouble_project(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[list[Any]], tuple[Settings, SyncSpec]]:
    """The model of ``trouble_rows``, built; its rows, and the project opened."""
    rows = trouble_rows()
    project.seed(
        "raw", ["account_id", "ref", "name"], rows, {"account_id": "varchar", "ref": "varchar", "name": "varchar"}
    )
    project.model("accounts", "select * from {{ ref('raw') }}", BLOCK)
    project.build()
    return rows, open_project(project, monkeypatch)


@pytest.mark.warehouses
def test_every_status_follows_the_rules_on_a_model_full_of_repeats(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, (settings, spec) = trouble_project(project, monkeypatch)
    with Warehouse(settings) as warehouse:
        StateStore(warehouse).ensure()
        first = changes(warehouse, spec, include_removed=False)
        assert collections.Counter((c.key, c.status) for c in first) == expected_statuses(rows, {}, {})
        hashes = {c.key: c.row_hash for c in first if c.status == "new"}
        assert len(hashes) > 20 and sum(c.status.startswith("reject_duplicate") for c in first) > 20
        # remembered: a third unchanged, a third with another hash, a third never sent; a
        # repeated key and two keys the model lost
        state = {k: (h if int(k) % 3 == 0 else "stale") for k, h in hashes.items() if int(k) % 3 != 2}
        repeated = next(c.key for c in first if c.status == "reject_duplicate_key")
        state.update({repeated: "stale", GONE[0]: "stale", GONE[1]: "stale"})
        table, sync_id = (
            warehouse.state_table("revsync_sync_state"),
            warehouse.render("revsync_literal", value=spec.sync_id),
        )
        values = ", ".join(
            f"({sync_id}, '{TARGET}', '{k}', '{h}', 'crm-{k}', 'created', current_timestamp, 'seeded')"
            for k, h in state.items()
        )
        warehouse.execute(
            f"insert into {table} (sync_id, target, record_key, row_hash, destination_id, origin, synced_at, run_id)"
            f" values {values}"
        )
        second = changes(warehouse, spec, include_removed=True)
    assert collections.Counter((c.key, c.status) for c in second) == expected_statuses(rows, state, hashes)
    current = [c for c in second if c.status != "removed"]
    assert [c.seq for c in current] == list(range(1, len(current) + 1))
    keys = [c.key for c in current]
    assert keys == sorted(k for k in keys if k is not None) + [None] * keys.count(None)  # by key, missing keys last
    assert all(c.remote_id == f"crm-{c.key}" for c in second if c.status in ("changed", "removed"))
    assert all(c.remote_id is None and c.values["name"] for c in second if c.status == "new")


def test_macros_come_from_the_manifest_while_it_matches_the_macro_files(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.root / "macros").mkdir()
    greeting = project.root / "macros" / "greeting.sql"
    greeting.write_text("{% macro revsync_test_greeting() %}hello{% endmacro %}\n")
    project.seed("raw", ["account_id", "ref", "name"], [["1", "R1", "One"]])
    project.model("accounts", "select * from {{ ref('raw') }}", BLOCK)
    project.build()
    settings, spec = open_project(project, monkeypatch)
    manifest = project.root / "target" / "manifest.json"

    def opened() -> tuple[str, str, list[str]]:
        with Warehouse(settings) as warehouse:
            StateStore(warehouse).ensure()
            statuses = [c.status for c in changes(warehouse, spec, include_removed=False)]
            return warehouse.macros_from, str(warehouse.render("revsync_test_greeting")).strip(), statuses

    assert opened() == ("manifest", "hello", ["new"])  # the package's own macros are there too
    an_hour_before = manifest.stat().st_mtime - 3600
    greeting.write_text("{% macro revsync_test_greeting() %}hello again{% endmacro %}\n")
    os.utime(greeting, (an_hour_before, an_hour_before))  # older than the manifest, yet changed
    assert opened() == ("parsed", "hello again", ["new"])
    greeting.write_text("{% macro revsync_test_greeting() %}hello{% endmacro %}\n")
    assert opened()[:2] == ("manifest", "hello")  # newer than the manifest, but what it recorded
    (project.root / "macros" / "more.sql").write_text("{% macro revsync_test_more() %}more{% endmacro %}\n")
    assert opened()[:2] == ("parsed", "hello")
    (project.root / "macros" / "more.sql").unlink()
    document = json.loads(manifest.read_text())
    document["metadata"]["dbt_version"] = "0.0.1"
    manifest.write_text(json.dumps(document))
    assert opened()[:2] == ("parsed", "hello")
    manifest.unlink()
    assert opened()[:2] == ("parsed", "hello")


def test_a_project_override_added_after_the_last_parse_wins(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.seed("raw", ["account_id", "ref", "name"], [["1", "R1", "One"]])
    project.model("accounts", "select * from {{ ref('raw') }}", BLOCK)
    project.build()
    (project.root / "macros").mkdir()
    Path(project.root / "macros" / "count.sql").write_text(
        "{% macro duckdb__revsync_count_sql(relation) %}select 41 + 1 as row_count{% endmacro %}\n"
    )
    settings, spec = open_project(project, monkeypatch)
    with Warehouse(settings) as warehouse:  # loading the syncs parsed the project again: either way the override wins
        StateStore(warehouse).ensure()
        change_set = ChangeSet(warehouse, spec, TARGET)
        assert change_set.build(full_refresh=False, watermark=None).changes == 42
        change_set.drop()


# ---- key text, row hash, incremental reads -------------------------------------------------

NASTY_KEYS = [
    "A1",
    " A1 ",
    "\tA1",
    "A1\t",
    "\r\nA1\r\n",
    "A1\n",
    "\rA1",
    " \t\r\n A1 \n\t ",
    "A\tB",
    "A\r\nB",
    "A \t B",
    "10042.0",
    " 10042.0\t",
    "\n10042.00\r",
    "-3.00",
    "-0.0",
    "0.0",
    "007",
    "007.0",
    "1.5",
    "1.50",
    "v1.0",
    "3.",
    ".0",
    "+3.0",
    "1e5",
    "1.0.0",
    "1,0",
    "O'Brien",
    "''",
    '"quoted"',
    "back\\slash",
    "trailing\\",
    "\\",
    "\\t",
    "\\1",
    "\u00a0A1\u00a0",
    "\u2003A1",
    "A1\u3000",
    "\u200bA1",
    "\x0bA1\x0c",
    "\u0661\u0662.0",
    "Ünïcødé 名前",
    "%_",
    "",
    " ",
    "\t\r\n",
    "\t \t",
]


def open_warehouse(project: Project, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    for name, value in project.env.items():
        monkeypatch.setenv(name, value)
    return Warehouse(Settings(project_dir=project.root, profiles_dir=project.root))


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@pytest.mark.warehouses
def test_key_text_is_the_same_in_the_diff_sql_and_in_python(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the diff remembers a row by and what the payload carries as its key are one text."""
    project.model("accounts", "select 1 as account_id", None)
    typed = [
        "cast(10042.0 as double precision)",
        "cast(-3.00 as decimal(10, 2))",
        "cast(12.5 as double precision)",
        "cast(7 as integer)",
        "cast(10.10 as decimal(10, 2))",
        "cast(0 as decimal(10, 3))",
        "cast(null as varchar)",
    ]
    values = ", ".join(f"({i}, {sql_text(v)})" for i, v in enumerate(NASTY_KEYS))
    with open_warehouse(project, monkeypatch) as warehouse:
        key = warehouse.render("revsync_key_text", expression="v")
        assert "\\" not in str(key)
        _, rows = warehouse.query(f"select i, v, {key} as k from (values {values}) as t(i, v) order by i")
        found = {row[0]: (row[1], row[2]) for row in rows}
        for expression in typed:
            _, [(value, text)] = warehouse.query(f"select v, {key} as k from (select {expression} as v) t")
            found[len(found)] = (value, text)
    assert [found[i][0] for i in range(len(NASTY_KEYS))] == NASTY_KEYS  # the values arrived intact
    assert [found[i][1] for i in sorted(found)] == [plan.key_text(found[i][0]) for i in sorted(found)]
    spelled = dict(zip(NASTY_KEYS, (found[i][1] for i in range(len(NASTY_KEYS)))))
    assert {spelled[k] for k in ("A1", " A1 ", "\tA1", "A1\t", "\r\nA1\r\n", "A1\n", "\rA1", " \t\r\n A1 \n\t ")} == {
        "A1"
    }
    assert (spelled["\n10042.00\r"], spelled["-3.00"], spelled["007"], spelled["007.0"], spelled["v1.0"]) == (
        "10042",
        "-3",
        "007",
        "007",
        "v1.0",
    )
    assert (
        spelled["\u00a0A1\u00a0"] == "\u00a0A1\u00a0"
        and spelled["trailing\\"] == "trailing\\"
        and spelled["\t\r\n"] is None
    )
    assert [found[len(NASTY_KEYS) + n][1] for n in range(3)] == ["10042", "-3", "12.5"]


@pytest.mark.warehouses
def test_keys_differing_only_by_tabs_or_line_breaks_are_one_key(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two rows whose payloads would carry one key never both travel (mirror would delete the record)."""
    tab, crlf = "chr(9)", "chr(13) || chr(10)"
    project.model(
        "accounts",
        f"select 'A1' as account_id, 'R1' as ref, 'One' as name union all select 'A1' || {tab}, 'R2', 'One again' "
        f"union all select {crlf} || 'B2', 'R3', 'Two' union all select 'B2', 'R4', 'Two again' "
        "union all select 'C3', 'R5', 'Three'",
        {**BLOCK, "insert_mode": "mirror"},
    )
    project.build()
    settings, spec = open_project(project, monkeypatch)
    with Warehouse(settings) as warehouse:
        StateStore(warehouse).ensure()
        found = collections.Counter((c.key, c.status) for c in changes(warehouse, spec, include_removed=True))
    assert found == {("A1", "reject_duplicate_key"): 2, ("B2", "reject_duplicate_key"): 2, ("C3", "new"): 1}


def remember(warehouse: Warehouse, spec: SyncSpec, hashes: dict[str, str]) -> None:
    """State as an acknowledged push leaves it: each key with its hash and a destination id."""
    table, sync_id = (
        warehouse.state_table("revsync_sync_state"),
        warehouse.render("revsync_literal", value=spec.sync_id),
    )
    values = ", ".join(
        f"({sync_id}, '{TARGET}', '{k}', '{h}', 'crm-{k}', 'created', current_timestamp, 'seeded')"
        for k, h in hashes.items()
    )
    warehouse.execute(
        f"insert into {table} (sync_id, target, record_key, row_hash, destination_id, origin, synced_at, run_id)"
        f" values {values}"
    )


@pytest.mark.warehouses
def test_values_moving_across_a_separator_or_spelling_null_change_the_row_hash(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = {**BLOCK, "fields": {**BLOCK["fields"], "first_name": "first", "last_name": "last"}}
    model = (
        "select '1' as account_id, 'R1' as ref, 'One' as name, {a} as first, {b} as last "
        "union all select '2', 'R2', 'Two', {c}, 'x' union all select '3', 'R3', 'Three', '', {d}"
    )
    project.model("accounts", model.format(a="'Mary|'", b="'Ann'", c="'<null>'", d="cast(null as varchar)"), block)
    project.build()
    settings, spec = open_project(project, monkeypatch)
    with Warehouse(settings) as warehouse:
        StateStore(warehouse).ensure()
        first = changes(warehouse, spec, include_removed=False)
        assert all(c.row_hash.startswith("h2:") for c in first) and len(first) == 3
        remember(warehouse, spec, {c.key: c.row_hash for c in first})
        assert changes(warehouse, spec, include_removed=False) == []
    project.model("accounts", model.format(a="'Mary'", b="'|Ann'", c="cast(null as varchar)", d="''"), block)
    project.build()
    with Warehouse(settings) as warehouse:
        assert sorted((c.key, c.status) for c in changes(warehouse, spec, include_removed=False)) == [
            ("1", "changed"),
            ("2", "changed"),
            ("3", "changed"),
        ]


@pytest.mark.warehouses
def test_a_sync_of_800_fields_is_diffed(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """No expression nests as deep as the row is wide, and no function takes a field per argument."""
    width = 800
    fields = {**BLOCK["fields"], **{f"custom_field.cf_f{i}": f"f{i}" for i in range(width)}}
    model = "select {key} as account_id, 'R{key}' as ref, 'N' as name, " + ", ".join(
        f"'v{i}' as f{i}" for i in range(width - 1)
    )
    rows = [model.format(key=n) + f", {'null' if n == 2 else repr('last')} as f{width - 1}" for n in (1, 2)]
    project.model("accounts", " union all ".join(rows), {**BLOCK, "fields": fields})
    project.build()
    settings, spec = open_project(project, monkeypatch)
    with Warehouse(settings) as warehouse:
        StateStore(warehouse).ensure()
        first = changes(warehouse, spec, include_removed=False)
        assert sorted((c.key, c.status) for c in first) == [("1", "new"), ("2", "new")]
        assert {c.key: c.values[f"f{width - 1}"] for c in first} == {"1": "last", "2": None}
        remember(warehouse, spec, {c.key: c.row_hash for c in first})
        assert changes(warehouse, spec, include_removed=False) == []
        # remembered under some older hash: compared with the older expression, as wide as the row
        table = warehouse.state_table("revsync_sync_state")
        warehouse.execute(f"update {table} set row_hash = 'not-h2-and-stale'")
        assert sorted((c.key, c.status) for c in changes(warehouse, spec, include_removed=False)) == [
            ("1", "changed"),
            ("2", "changed"),
        ]
    rows[1] = rows[1].replace("'v5' as f5", "'v5 changed' as f5")
    project.model("accounts", " union all ".join(rows), {**BLOCK, "fields": fields})
    project.build()
    with Warehouse(settings) as warehouse:
        warehouse.execute(f"delete from {warehouse.state_table('revsync_sync_state')}")
        remember(warehouse, spec, {c.key: c.row_hash for c in first})
        assert [(c.key, c.status) for c in changes(warehouse, spec, include_removed=False)] == [("2", "changed")]


PUSHED = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "primary_key": "account_id",
    "insert_mode": "upsert",
    "upsert_key": "cf_account_id",
    "fields": {"name": "name", "city": "city", "custom_field.cf_account_id": "account_id"},
}


def requests_sent(project: Project) -> int:
    return int(project.sandbox.stats()["freshsales"]["requests"])


def held_names(project: Project) -> dict[str, str]:
    return {
        r["custom_field"]["cf_account_id"]: r["name"]
        for r in project.sandbox.emulator("freshsales").records("sales_accounts")
    }


def accounts_model(rows: list[tuple[Any, ...]], columns: str = "account_id, name, city") -> str:
    def literal(value: Any) -> str:
        return "cast(null as varchar)" if value is None else sql_text(str(value))

    selects = [
        f"select {', '.join(f'{literal(v)} as {c.strip()}' for v, c in zip(row, columns.split(',')))}" for row in rows
    ]
    return " union all ".join(selects)


@pytest.mark.warehouses
def test_rows_remembered_under_the_older_row_hash_are_not_resent_after_upgrading(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [("1", "One", "Oslo"), ("2", "Two", None), ("3", "Three", "Lima"), ("4", "<null>", "|")]
    project.model("accounts", accounts_model(rows), PUSHED)
    project.build()
    assert project.push().code == 0 and requests_sent(project) == 4
    # The state as the older release wrote it: md5 of the fingerprint and each value, '|'-joined.
    _, spec = open_project(project, monkeypatch)
    parts = [f"'{spec.fingerprint}'"] + [f"'|' || coalesce(cast({f.column} as varchar), '<null>')" for f in spec.fields]
    with open_warehouse(project, monkeypatch) as warehouse:
        table = warehouse.state_table("revsync_sync_state")
        warehouse.execute(
            f"update {table} set row_hash = (select md5({' || '.join(parts)}) from main.accounts a "
            f"where a.account_id = {table}.record_key)"
        )
    assert not any(r["row_hash"].startswith("h2:") for r in project.state())
    before = requests_sent(project)
    assert project.push().code == 0
    assert requests_sent(project) == before  # nothing changed, nothing sent
    assert all(r["row_hash"].startswith("h2:") for r in project.state())  # the older hashes rewritten in place
    rows[1], rows[3] = ("2", "Two renamed", None), ("4", "<null>", "| ")
    project.model("accounts", accounts_model(rows), PUSHED)
    project.build()
    assert project.push().code == 0
    assert requests_sent(project) == before + 2
    assert held_names(project)["2"] == "Two renamed"
    assert project.push().code == 0 and requests_sent(project) == before + 2


@pytest.mark.warehouses
def test_a_changed_row_remembered_under_the_older_row_hash_is_sent(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [("1", "One", "Oslo"), ("2", "Two", None)]
    project.model("accounts", accounts_model(rows), PUSHED)
    project.build()
    assert project.push().code == 0 and requests_sent(project) == 2
    with open_warehouse(project, monkeypatch) as warehouse:
        warehouse.execute(f"update {warehouse.state_table('revsync_sync_state')} set row_hash = 'older-and-stale'")
    assert project.push().code == 0 and requests_sent(project) == 4  # neither hash matches: both sent


@pytest.mark.warehouses
def test_rows_with_a_null_incremental_key_are_read_on_every_push_and_sent_when_changed(project: Project) -> None:
    block = {**PUSHED, "fetch_mode": "incremental", "incremental_key": "updated_at"}
    columns = "account_id, name, city, updated_at"
    rows = [("1", "One", "Oslo", "2024-01-01"), ("2", "Two", "Rome", None), ("3", "Three", "Lima", "2024-01-02")]
    project.model("accounts", accounts_model(rows, columns), block)
    project.build()
    assert project.push().code == 0 and requests_sent(project) == 3
    assert project.push().code == 0 and requests_sent(project) == 3  # the null row is read again, unchanged
    assert project.runs()[-1]["read"] == 2  # the watermark row and the null one
    rows[1] = ("2", "Two renamed", "Rome", None)
    project.model("accounts", accounts_model(rows, columns), block)
    project.build()
    assert project.push().code == 0 and requests_sent(project) == 4
    assert held_names(project)["2"] == "Two renamed"
    assert project.runs()[-1]["watermark"].startswith("2024-01-02")


def engine_settings(warehouse: Warehouse) -> tuple[str, str]:
    """DuckDB's memory limit and threads, as it reads them back."""
    rows = warehouse.select("select current_setting('memory_limit') as m, current_setting('threads') as t")
    return str(rows[0]["m"]), str(rows[0]["t"])


def same_limit(one: str, other: str) -> bool:
    """DuckDB reads its memory limit back rounded to a tenth of its unit: put back is within that."""
    (number, unit), (other_number, other_unit) = one.split(), other.split()
    return unit == other_unit and abs(float(number) - float(other_number)) <= 0.1 + 1e-9


def test_a_sync_runs_duckdb_with_its_memory_bounded_and_one_thread_then_puts_both_back(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every DuckDB thread holds operator state beside the memory limit: the sync's bound comes
    with one thread, and the settings the session had are put back afterwards."""
    project.model("accounts", "select 1 as account_id", None)
    with open_warehouse(project, monkeypatch) as warehouse:
        warehouse.execute_alone("set threads = 2")
        before = engine_settings(warehouse)
        with warehouse.bounded_memory("100MB") as bounded:
            assert bounded
            inside = engine_settings(warehouse)
        assert inside[1] == "1"
        assert inside[0] != before[0]
        after = engine_settings(warehouse)
        assert after[1] == before[1] == "2"
        assert same_limit(after[0], before[0])


HUNGRY = "create or replace temp table hungry as select string_agg(repeat('x', 100), ',') as s from range(100000)"


def test_a_bound_inside_the_sync_bound_sets_only_what_it_changes_and_lifting_puts_all_back(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ladder's first rung is the sync's own bound: it sets nothing. A parallel bound has two
    threads, and one thread is back after it. Lifted (for a commit that ran out of memory), every
    setting any open bound changed is as the session had it, and stays so until the outermost
    bound ends; after it, a bound holds again."""
    project.model("accounts", "select 1 as account_id", None)
    with open_warehouse(project, monkeypatch) as warehouse:
        warehouse.execute_alone("set threads = 3")
        before = engine_settings(warehouse)
        sets: list[str] = []
        execute_alone = warehouse.execute_alone

        def recording(statement: Any) -> None:
            if str(statement).lower().startswith("set "):
                sets.append(str(statement))
            execute_alone(statement)

        monkeypatch.setattr(warehouse, "execute_alone", recording)
        with warehouse.bounded_memory(SYNC_MEMORY_LIMIT):
            bound = engine_settings(warehouse)
            assert bound[1] == "1" and len(sets) == 2
            with warehouse.bounded_memory(SYNC_MEMORY_LIMIT) as held:
                assert held and engine_settings(warehouse) == bound and len(sets) == 2
            with warehouse.bounded_memory(SYNC_MEMORY_LIMIT, parallel=True):
                assert engine_settings(warehouse) == (bound[0], "2")
            assert engine_settings(warehouse) == bound
            with warehouse.bounded_memory("1MB", parallel=True):
                assert engine_settings(warehouse)[1] == "2" and not same_limit(engine_settings(warehouse)[0], bound[0])
                with pytest.raises(WarehouseError, match="(?i)out of memory"):
                    warehouse.execute(HUNGRY)
                warehouse.execute_relieved(HUNGRY)
                lifted = engine_settings(warehouse)
                assert lifted[1] == "3" and same_limit(lifted[0], before[0])
                with warehouse.bounded_memory("1MB") as held:
                    assert not held and engine_settings(warehouse) == lifted
            assert engine_settings(warehouse) == lifted
        assert engine_settings(warehouse) == lifted
        with warehouse.bounded_memory(SYNC_MEMORY_LIMIT) as held:
            assert held and engine_settings(warehouse)[1] == "1"
        assert engine_settings(warehouse)[1] == "3"


@pytest.mark.parametrize("two_threads_fit", [True, False], ids=["on-two-threads", "out-of-memory-on-two"])
def test_the_comparison_runs_on_two_threads_or_else_one_and_the_diff_on_one(
    project: Project, monkeypatch: pytest.MonkeyPatch, two_threads_fit: bool
) -> None:
    """Comparing the model with the state sums two hashes, so it runs on two threads (the md5
    row hashes in half the time) under the sync's bound; should two run out of memory (a scan
    holds buffers per thread: a wide model, a view), it is asked again on one. The diff runs on
    one."""
    project.model("accounts", accounts_model([("1", "R1", "One"), ("2", "R2", "Two")], "account_id, ref, name"), BLOCK)
    project.build()
    config, spec = open_project(project, monkeypatch)
    with Warehouse(config) as warehouse:
        StateStore(warehouse).ensure()
        warehouse.execute_alone("set threads = 3")
        threads: dict[str, Any] = {"comparison": []}
        select, execute = warehouse.select, warehouse.execute

        def recording_select(sql: str) -> list[dict[str, Any]]:
            if "model_rows" in sql:
                threads["comparison"].append(engine_settings(warehouse)[1])
                if threads["comparison"][-1] == "2" and not two_threads_fit:
                    raise WarehouseError("the warehouse refused a query: Out of Memory Error: could not allocate")
            return select(sql)

        def recording_execute(statements: Any) -> None:
            threads.setdefault("diff", engine_settings(warehouse)[1])
            execute(statements)

        monkeypatch.setattr(warehouse, "select", recording_select)
        monkeypatch.setattr(warehouse, "execute", recording_execute)
        with warehouse.bounded_memory(SYNC_MEMORY_LIMIT):
            change_set = ChangeSet(warehouse, spec, TARGET)
            assert change_set.build(full_refresh=False, watermark=None).changes == 2
        assert threads == {"comparison": ["2"] if two_threads_fit else ["2", "1"], "diff": "1"}
        assert engine_settings(warehouse)[1] == "3"


@pytest.mark.parametrize("under_lock", [False, True], ids=["in-a-transaction", "one-statement-alone"])
def test_a_commit_that_runs_out_of_memory_under_the_sync_bound_is_written_with_the_bound_lifted(
    project: Project, monkeypatch: pytest.MonkeyPatch, under_lock: bool
) -> None:
    """Acknowledgements the CRM has given are committed even when the engine runs out of memory
    under the sync's bound (else the next push would create those records again): the bound is
    lifted for the rest of the sync, a bound opened inside it stays lifted, and the settings are
    as before once the sync ends. Under the sync's lock, with no rejects, a batch of new records
    is one statement that commits on its own; otherwise a transaction."""
    project.model("accounts", "select '1' as account_id, 'R1' as ref, 'One' as name", BLOCK)
    project.build()
    settings, spec = open_project(project, monkeypatch)
    acks = [StateRow(f"key-{i:06d}-" * 4, "h" * 32, f"crm-{i}", "created", None, True, False) for i in range(20_000)]

    def limit(warehouse: Warehouse) -> str:
        return str(warehouse.select("select current_setting('memory_limit') as m")[0]["m"])

    with Warehouse(settings) as warehouse, contextlib.ExitStack() as sync:
        store = StateStore(warehouse)
        store.ensure()
        before = limit(warehouse)
        if under_lock:
            sync.enter_context(store.lock(spec, holder="test"))
        assert sync.enter_context(warehouse.bounded_memory("1MB"))
        paths: list[bool] = []

        def unrelieved(statements: Any, alone: bool = False) -> None:  # the write as it is, nothing lifted
            paths.append(alone)
            if alone:
                warehouse.execute_alone(statements[0])
            else:
                warehouse.execute(statements)

        with monkeypatch.context() as plain:
            plain.setattr(warehouse, "execute_relieved", unrelieved)
            with pytest.raises(WarehouseError, match="(?i)out of memory"):
                store.commit(spec, TARGET, "run-1", acks, [], None)
        assert paths == [under_lock]
        store.commit(spec, TARGET, "run-1", acks, [], None)
        assert same_limit(limit(warehouse), before)  # lifted for the rest of the sync
        with warehouse.bounded_memory("1MB") as bounded:  # as the diff of mirror's removed records opens one
            assert not bounded and same_limit(limit(warehouse), before)
        sync.close()
        assert same_limit(limit(warehouse), before)
        table = warehouse.state_table("revsync_sync_state")
        assert warehouse.select(f"select count(*) as n from {table}")[0]["n"] == len(acks)


def full_diff(warehouse: Warehouse, spec: SyncSpec, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The diff's rows, current and removed, with the agreement check out of the way."""
    render = warehouse.render
    with monkeypatch.context() as patched:
        patched.setattr(
            warehouse, "render", lambda name, **kw: None if name == "revsync_agreement_sql" else render(name, **kw)
        )
        return changes(warehouse, spec, include_removed=True)


def agreed(warehouse: Warehouse, spec: SyncSpec) -> bool:
    change_set = ChangeSet(warehouse, spec, TARGET)
    stats = change_set.build(full_refresh=False, watermark=None)
    found = [row for page in change_set.pages(50) for row in page]
    change_set.drop()
    assert not stats.agreed or (stats.changes == 0 and found == [])
    return stats.agreed


@pytest.mark.warehouses
def test_the_diff_is_skipped_only_when_it_would_find_nothing(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agreement check (counts and 64-bit hash sums of (key, row hash) on each side) says
    "nothing changed" only where the full diff finds nothing: for every way the state and the
    model can drift apart, one at a time, the check and the diff are compared."""
    rows = [(str(n), f"R{n}", f"Name {n}") for n in range(1, 9)]
    project.model("accounts", accounts_model(rows, "account_id, ref, name"), BLOCK)
    project.build()
    settings, spec = open_project(project, monkeypatch)
    drifts = {
        "none": [],
        "a row changed": ["update {s} set row_hash = 'h2:0' where record_key = '3'"],
        "a row left the model": [
            "insert into {s} (sync_id, target, record_key, row_hash, destination_id, origin, synced_at, run_id) "
            "select sync_id, target, '9', row_hash, 'crm-9', origin, synced_at, run_id from {s} where record_key = '3'"
        ],
        "a row new to the state": ["delete from {s} where record_key = '4'"],
        "a key renamed": ["update {s} set record_key = '40' where record_key = '4'"],
        "two rows' hashes swapped": [
            "update {s} set row_hash = case record_key when '1' then (select row_hash from {s} where record_key = '2') "
            "else (select row_hash from {s} where record_key = '1') end where record_key in ('1', '2')"
        ],
        "remembered under the older hash": ["update {s} set row_hash = 'older' where record_key = '5'"],
        "remembered with no hash": ["update {s} set row_hash = null where record_key = '5'"],
        "not yet claimed for a target": ["update {s} set target = null where record_key = '6'"],
        "another target's rows only": ["update {s} set target = 'elsewhere'"],
        "a reject held": [
            "insert into {r} (run_id, sync_id, record_key, operation, error_code, error_message) "
            f"values ('r0', '{spec.sync_id}', '7', 'create', '400', 'bad')"
        ],
    }
    with Warehouse(settings) as warehouse:
        StateStore(warehouse).ensure()
        first = full_diff(warehouse, spec, monkeypatch)
        table = warehouse.state_table("revsync_sync_state")
        rejects = warehouse.state_table("revsync_rejects")
        for name, statements in drifts.items():
            warehouse.execute([f"delete from {table}", f"delete from {rejects}"])
            remember(warehouse, spec, {c.key: c.row_hash for c in first})
            if statements:
                warehouse.execute([s.format(s=table, r=rejects) for s in statements])
            found = full_diff(warehouse, spec, monkeypatch)
            skipped = agreed(warehouse, spec)
            assert not (skipped and found), f"{name}: the diff was skipped but finds {found}"
            if name in ("none", "a reject held", "not yet claimed for a target"):
                assert skipped == (name == "none"), name  # held rejects and unclaimed rows always diff
            else:
                assert found and not skipped, name


@pytest.mark.warehouses
def test_a_model_of_repeated_and_missing_keys_is_always_diffed(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However the state was left, a model with repeated, missing or clashing keys never agrees
    with it: the diff runs and rejects those rows."""
    rows, (settings, spec) = trouble_project(project, monkeypatch)
    with Warehouse(settings) as warehouse:
        StateStore(warehouse).ensure()
        first = full_diff(warehouse, spec, monkeypatch)
        # every key remembered, under the hash of one of its rows: the most the state could hold
        remember(warehouse, spec, {c.key: c.row_hash for c in first if c.key is not None})
        assert not agreed(warehouse, spec)
        assert any(c.status.startswith("reject") for c in full_diff(warehouse, spec, monkeypatch))


@pytest.mark.warehouses
def test_a_push_compares_the_model_with_the_state_first_only_after_a_run_that_found_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync whose rows change on every run never pays for the comparison; one whose last run
    found nothing asks it first, and skips the diff when the model and the state agree."""
    builds: list[tuple[bool, bool]] = []
    build = ChangeSet.build

    def spied(self: ChangeSet, **kwargs: Any) -> Any:
        stats = build(self, **kwargs)
        builds.append((kwargs["compare_first"], stats.agreed))
        return stats

    monkeypatch.setattr(ChangeSet, "build", spied)
    rows = [("1", "One", "Oslo"), ("2", "Two", "Rome")]
    project.model("accounts", accounts_model(rows), PUSHED)
    project.build()
    for _ in range(3):  # first; a no-op after a run that sent; a no-op after one that found nothing
        assert project.push().code == 0
    assert requests_sent(project) == 2
    rows[1] = ("2", "Two renamed", "Rome")
    project.model("accounts", accounts_model(rows), PUSHED)
    project.build()
    assert project.push().code == 0 and requests_sent(project) == 3  # compared, did not agree: diffed and sent
    assert held_names(project)["2"] == "Two renamed"
    assert project.push("--full-refresh").code == 0  # a full refresh never compares
    assert project.push().code == 0 and project.push().code == 0  # after it sent: diffed; then compared
    assert builds == [(False, False), (False, False), (True, True), (True, False)] + [
        (False, False),
        (False, False),
        (True, True),
    ]
