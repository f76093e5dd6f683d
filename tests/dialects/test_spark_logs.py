"""Spark's append-only state: one lease for the whole state schema, and a compaction that
stopped half-way finished by the next push whatever the logs measure."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from dbt_revsync.state import StateStore
from dbt_revsync.testing.dialects import Rendering, installed, rendering
from tests.factories import accounts_sync

pytestmark = pytest.mark.skipif(
    not installed(["spark"]), reason="dbt-spark not installed: pip install -e '.[dialects]'"
)


@pytest.fixture(scope="module")
def spark() -> Iterator[Rendering]:
    with rendering("spark") as r:
        yield r


def lease(spark: Rendering, sync_id: str, holder: str) -> Any:
    return spark.render(
        "revsync_lease_sql",
        schema_relation="revsync",
        sync_id=sync_id,
        holder=holder,
        now="2026-01-01 00:00:00",
        expires="2026-01-01 00:10:00",
    )


def test_a_lease_on_spark_logs_is_one_for_every_sync_of_the_state_schema(spark: Rendering) -> None:
    # two syncs' pushes appending to one log at once fail each other's inserts (one staging
    # directory per table): they must see each other's lease
    first, second = lease(spark, "sync-a", "push-1"), lease(spark, "sync-b", "push-2")
    assert first["holders"] == second["holders"]
    assert "sync-a" not in str(first["take"]) and "sync-b" not in str(second["take"])


class Logs:
    """A warehouse whose logs measure small: compaction is due only when a kept table is left."""

    def __init__(self, spark: Rendering, tables: Sequence[str]) -> None:
        self.spark, self.tables, self.ran = spark, set(tables), []  # type: list[str]
        self.state_schema = "revsync"

    def render(self, name: str, **kwargs: Any) -> Any:
        return self.spark.render(name, **kwargs)

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        return ["log_rows", "live_rows"], [(10, 10)]

    def has_table(self, name: str) -> bool:
        return name in self.tables

    def execute(self, statements: Any) -> None:
        self.ran.extend([statements] if isinstance(statements, str) else statements)


def test_a_compaction_stopped_half_way_is_finished_by_the_next_push(spark: Rendering) -> None:
    spec = accounts_sync()
    left_behind = Logs(spark, [f"revsync_sync_state__log_kept_{spec.short_id}"])
    assert StateStore(left_behind).compact(spec)  # type: ignore[arg-type]
    assert any("insert overwrite" in s for s in left_behind.ran)
    assert any(
        f"drop table if exists revsync.revsync_sync_state__log_kept_{spec.short_id}" in s for s in left_behind.ran
    )
    clean = Logs(spark, [])
    assert not StateStore(clean).compact(spec)  # type: ignore[arg-type]
    assert clean.ran == []
