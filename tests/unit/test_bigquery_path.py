"""BigQuery's path: dbt-bigquery's connection manager has no ``add_query``; every statement is
one ``connections.execute`` (one job). The real adapter, built with no credentials, runs its own
``execute`` and ``raw_execute``; only the job call to Google (``_query_and_results``) is a fake
that records each job and answers rows as BigQuery does."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from dbt_revsync.state import RejectRow, StateRow, StateStore
from dbt_revsync.testing.dialects import Rendering, installed, rendering
from dbt_revsync.warehouse import inline_bindings, statement_path

pytestmark = pytest.mark.skipif("bigquery" not in installed(["bigquery"]), reason="dbt-bigquery is not installed")


class Jobs:
    """Google's side: each statement is a job; a SELECT answers ``rows`` under ``names``."""

    def __init__(self) -> None:
        self.sql: list[str] = []
        self.names: list[str] = []
        self.rows: list[tuple[Any, ...]] = []

    def __call__(self, conn: Any, sql: str, job_params: dict[str, Any], job_id: str, limit: int | None = None) -> Any:
        self.sql.append(sql)
        kind = sql.split()[0].upper()
        job = SimpleNamespace(
            statement_type=kind,
            num_dml_affected_rows=1,
            destination="tmp",
            total_bytes_processed=10,
            total_bytes_billed=10 << 20,
            slot_millis=1,
            location="EU",
            job_id=job_id,
            project="p",
        )
        answer = [dict(zip(self.names, row)) for row in self.rows] if kind == "SELECT" else []
        return job, Answer(answer, self.names)


class Answer(list):  # type: ignore[type-arg]
    """A result iterator: rows as mappings, and the schema's fields."""

    def __init__(self, rows: list[dict[str, Any]], names: list[str]) -> None:
        super().__init__(rows)
        self.schema = [SimpleNamespace(name=name) for name in names]


@pytest.fixture(scope="module")
def bigquery() -> Iterator[tuple[Rendering, Jobs]]:
    with rendering("bigquery") as r:
        jobs = Jobs()
        connections = r.warehouse.adapter.connections
        connections._query_and_results = jobs
        connection = connections.get_thread_connection()
        connection.handle = SimpleNamespace(get_table=lambda destination: SimpleNamespace(num_rows=len(jobs.rows)))
        yield r, jobs


def test_bigquery_takes_the_execute_path(bigquery: tuple[Rendering, Jobs]) -> None:
    r, _ = bigquery
    assert not hasattr(r.warehouse.adapter.connections, "add_query")
    assert statement_path(r.warehouse.adapter) == "execute"


def test_a_query_reads_rows_and_lower_case_names_through_execute(bigquery: tuple[Rendering, Jobs]) -> None:
    r, jobs = bigquery
    jobs.names, jobs.rows = ["SYNC_ID", "Records"], [("s", 3), ("t", None)]
    assert r.warehouse.select("select sync_id, records from x") == [
        {"sync_id": "s", "records": 3},
        {"sync_id": "t", "records": None},
    ]
    assert r.warehouse.query("select 1")[0] == ["sync_id", "records"]


def test_statements_run_one_job_each_and_bindings_are_written_as_literals(bigquery: tuple[Rendering, Jobs]) -> None:
    r, jobs = bigquery
    jobs.sql.clear()
    r.warehouse.execute(["delete from t where a = 1", ("insert into t values (%s, %s, %s)", ["it's", None, 3])])
    assert [s.strip() for s in jobs.sql] == [
        "delete from t where a = 1",
        f"insert into t values ({r.sql('revsync_literal', value=chr(39).join(['it', 's']))}, null, 3)",
    ]


def test_a_batch_costs_three_jobs_and_the_state_merge_runs_first(bigquery: tuple[Rendering, Jobs]) -> None:
    r, jobs = bigquery
    jobs.sql.clear()
    spec = SimpleNamespace(sync_id="models.contacts")
    acks = [StateRow(f"k{i}", "h", str(i), "created", None, True, False) for i in range(500)]
    StateStore(r.warehouse).commit(
        spec, "tgt", "r1", acks, [RejectRow("bad", "create", "400", "no")], {"status": "running"}
    )  # type: ignore[arg-type]
    assert [s.split()[0:3] for s in jobs.sql] == [
        ["merge", "into", f"{r.relation('revsync')}.revsync_sync_state"],
        ["merge", "into", f"{r.relation('revsync')}.revsync_rejects"],
        ["merge", "into", f"{r.relation('revsync')}.revsync_runs"],
    ]


def test_markers_inside_quoted_text_are_not_parameters() -> None:
    assert (
        inline_bindings("select '?', \"%s\", ? from t where b = %s", ["1", "'x'"])
        == "select '?', \"%s\", 1 from t where b = 'x'"
    )
    with pytest.raises(Exception, match="more parameter markers"):
        inline_bindings("select ?, ?", ["1"])
    with pytest.raises(Exception, match="fewer parameter markers"):
        inline_bindings("select ?", ["1", "2"])
