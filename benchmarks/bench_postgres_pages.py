"""Paging on PostgreSQL: `dbt-revsync plan` of a model whose rows are all new, so every row
of the changes table is read, a page (`batch_size` rows) at a time, by `__rs_seq` range.

Two runs on the same model and the same server, each in a fresh process:

- shipped: the package's `postgres__revsync_create_changes_table_sql` (an unlogged changes
  table with an index on `__rs_seq`);
- default: the project overrides that macro with the `default__` version (a plain table, no
  index) through dbt's `dispatch` search order, as a user would override any macro.

Needs a PostgreSQL reachable as the tests find it (`scripts/test_postgres.sh start`, or the
REVSYNC_PG_* variables). Prints wall and CPU seconds and the ratio; no target, no verdict.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from harness import UPSERT_BLOCK, BenchProject, Child, Sandbox, machine, table, temp_dir

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.integration.warehouses import PostgresServer, postgres_status  # noqa: E402

MODEL_SQL = """{{ config(materialized='table') }}
select
    i as account_id,
    'Account ' || i as account_name,
    'City ' || (i % 997) as city,
    'https://a' || i || '.example.com' as website
from generate_series(1, {{ var('rows') }}) as t(i)
"""

DEFAULT_OVERRIDE = """{% macro postgres__revsync_create_changes_table_sql(relation, sql) -%}
  {{ return(dbt_revsync.default__revsync_create_changes_table_sql(relation, sql)) }}
{%- endmacro %}
"""


class PostgresBenchProject(BenchProject):
    """The benchmarks' project, in a PostgreSQL database of its own."""

    def __init__(self, root: Path, sandbox_url: str, api_key: str, server: PostgresServer, database: str) -> None:
        super().__init__(root, sandbox_url, api_key)
        self.env["REVSYNC_BENCH_PG_PASSWORD"] = server.password
        (root / "profiles.yml").write_text(
            "revsync_bench:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n"
            f"      host: {server.host}\n      port: {server.port}\n      user: {server.user}\n"
            "      password: \"{{ env_var('REVSYNC_BENCH_PG_PASSWORD') }}\"\n"
            f"      dbname: {database}\n      schema: main\n      threads: 1\n"
        )

    def use_default_paging(self) -> None:
        (self.root / "macros").mkdir(exist_ok=True)
        (self.root / "macros" / "paging.sql").write_text(DEFAULT_OVERRIDE)
        with (self.root / "dbt_project.yml").open("a") as project:
            project.write(
                "dispatch:\n  - macro_namespace: dbt_revsync\n    search_order: ['revsync_bench', 'dbt_revsync']\n"
            )


def plan(project: PostgresBenchProject, rows: int) -> Child:
    child = project.revsync("plan")
    found = re.search(r"would ([^\n]*)", child.out)
    assert found and f"upsert {rows}" in found.group(1), child.out
    return child


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)
    server, version, reason = postgres_status()
    if reason:
        print(reason)
        return 1
    pages = -(-args.rows // args.batch_size)
    print(f"Paging {args.rows:,} new rows in {pages:,} pages of {args.batch_size}, PostgreSQL {version} ({machine()})")
    database = server.create_database()
    try:
        with Sandbox() as sandbox, temp_dir() as root:
            project = PostgresBenchProject(root, sandbox.url, sandbox.api_key(), server, database)
            project.model("accounts", MODEL_SQL, {**UPSERT_BLOCK, "batch_size": args.batch_size})
            project.build(args.rows)
            shipped = plan(project, args.rows)
            project.use_default_paging()
            default = plan(project, args.rows)
    finally:
        server.drop_database(database)
    print(
        table(
            ["`dbt-revsync plan`", "wall s", "CPU s", "wall ratio"],
            [
                ["shipped postgres__ macro (indexed, unlogged)", shipped.seconds, shipped.cpu, "1.0"],
                [
                    "default__ macro (plain table)",
                    default.seconds,
                    default.cpu,
                    f"{default.seconds / shipped.seconds:.1f}x",
                ],
            ],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
