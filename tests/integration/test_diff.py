"""The diff in the warehouse: every status on a model full of repeated and missing keys,
checked against the rules written out in Python, on every warehouse; and where dbt-revsync
takes dbt's macros from (the project's manifest when it still matches the macro files)."""

from __future__ import annotations

import collections
import json
import os
import random
import re
from pathlib import Path
from typing import Any

import pytest

from dbt_revsync import commands
from dbt_revsync.config import Settings, SyncSpec
from dbt_revsync.changes import ChangeSet
from dbt_revsync.state import StateStore
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


def expected_statuses(rows: list[list[Any]], state: dict[str, str], hashes: dict[str, str]) -> collections.Counter[tuple[str | None, str]]:
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


@pytest.mark.warehouses
def test_every_status_follows_the_rules_on_a_model_full_of_repeats(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = trouble_rows()
    project.seed("raw", ["account_id", "ref", "name"], rows, {"account_id": "varchar", "ref": "varchar", "name": "varchar"})
    project.model("accounts", "select * from {{ ref('raw') }}", BLOCK)
    project.build()
    settings, spec = open_project(project, monkeypatch)
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
        table, sync_id = warehouse.state_table("revsync_sync_state"), warehouse.render("revsync_literal", value=spec.sync_id)
        values = ", ".join(f"({sync_id}, '{TARGET}', '{k}', '{h}', 'crm-{k}', 'created', current_timestamp, 'seeded')" for k, h in state.items())
        warehouse.execute(f"insert into {table} (sync_id, target, record_key, row_hash, destination_id, origin, synced_at, run_id) values {values}")
        second = changes(warehouse, spec, include_removed=True)
    assert collections.Counter((c.key, c.status) for c in second) == expected_statuses(rows, state, hashes)
    current = [c for c in second if c.status != "removed"]
    assert [c.seq for c in current] == list(range(1, len(current) + 1))
    keys = [c.key for c in current]
    assert keys == sorted(k for k in keys if k is not None) + [None] * keys.count(None)  # by key, missing keys last
    assert all(c.remote_id == f"crm-{c.key}" for c in second if c.status in ("changed", "removed"))
    assert all(c.remote_id is None and c.values["name"] for c in second if c.status == "new")


def test_macros_come_from_the_manifest_while_it_matches_the_macro_files(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
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
    with Warehouse(settings) as warehouse:
        assert warehouse.macros_from == "parsed"
        StateStore(warehouse).ensure()
        change_set = ChangeSet(warehouse, spec, TARGET)
        assert change_set.build(full_refresh=False, watermark=None).changes == 42
        change_set.drop()
