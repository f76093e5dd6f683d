"""The dialect check: every statement dbt-revsync runs, rendered through the real Snowflake,
BigQuery, Databricks, Redshift and Spark adapters (no account: dbt connects lazily) and parsed
by sqlglot in that dialect.

A parse proves the syntax sqlglot knows of that dialect, not that the warehouse accepts every
function or plan (docs/warehouses.md, "The dialect check"). Besides the parse, a few
constructs the warehouse is known to refuse although sqlglot reads them are looked for.
A statement that cannot pass is listed in KNOWN_GAPS with its reason (strict: once it passes,
the entry must go).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from dbt_revsync.testing.dialects import Rendering
from tests.dialects.catalogue import statements
from tests.dialects.conftest import PARSED, adapter_params

# (adapter type, case) -> why it cannot pass yet
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def _update_from(tree: Any) -> str | None:
    update = tree if isinstance(tree, exp.Update) else None
    return "UPDATE ... FROM" if update is not None and update.args.get("from_", update.args.get("from")) else None


def _where_without_from(tree: Any) -> str | None:
    for select in tree.find_all(exp.Select):
        if select.args.get("where") and not select.args.get("from_", select.args.get("from")):
            return "SELECT ... WHERE without FROM"
    return None


# constructs sqlglot reads in a dialect whose warehouse refuses them
REFUSED: dict[str, list[Callable[[Any], str | None]]] = {
    "spark": [_update_from],
    "databricks": [_update_from],
    "bigquery": [_where_without_from],
}

CASES: dict[str, dict[str, list[str]]] = {}  # adapter type -> case -> statements, rendered once per type


def rendered_cases(r: Rendering) -> dict[str, list[str]]:
    if r.adapter_type not in CASES:
        CASES[r.adapter_type] = statements(r)
    return CASES[r.adapter_type]


def check(sql: str, dialect: str) -> None:
    """Parse ``sql`` in ``dialect``; fail on a parse error, a statement sqlglot could only keep as
    an opaque command, or a construct the warehouse refuses."""
    trees = sqlglot.parse(sql, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    assert trees and all(tree is not None for tree in trees), f"nothing parsed in {dialect}:\n{sql}"
    for tree in trees:
        assert tree is not None
        assert not isinstance(tree, exp.Command), f"{dialect} parses this only as an opaque command:\n{sql}"
        for refused in REFUSED.get(dialect, []):
            found = refused(tree)
            assert found is None, f"{dialect} refuses {found}:\n{sql}"


CASE_NAMES = [
    "state_ddl",
    "add_column",
    "state_unique",
    "claim_legacy",
    "advisory_lock",
    "lease",
    "last_watermark",
    "commit",
    "commit_acks_only",
    "commit_rejects_only",
    "handover",
    "remembered",
    "forget",
    "run",
    "recent_runs",
    "first_rejects",
    "first_rejects_none",
    "last_success",
    "changes",
    "changes_full_refresh",
    "changes_two_keys",
    "source_stats",
    "source_stats_full",
    "older_row_hashes",
    "upgrade_row_hashes",
    "retire_row_hashes",
    "removed",
    "count",
    "changes_page",
    "drop_table",
    "results_ddl",
    "record_results",
    "build_results",
    "failed_keys",
    "failed_keys_two",
    "hold",
    "unhold",
    "holds",
    "listen_ddl",
    "listen_record",
    "listen_runs",
    "changes_create_table",
    "bound_commit",
    "last_run_counts",
    "agreement",
]


@pytest.mark.parametrize("rendered", adapter_params(PARSED), indirect=True)
def test_the_catalogue_names_every_case(rendered: Rendering) -> None:
    """A case added to the catalogue is checked by name below."""
    assert set(rendered_cases(rendered)) <= set(CASE_NAMES)


@pytest.mark.parametrize("case", CASE_NAMES)
@pytest.mark.parametrize("rendered", adapter_params(PARSED), indirect=True)
def test_statement_parses_in_its_dialect(rendered: Rendering, case: str, request: pytest.FixtureRequest) -> None:
    gap = KNOWN_GAPS.get((rendered.adapter_type, case))
    if gap:
        request.applymarker(pytest.mark.xfail(reason=gap, strict=True))
    cases = rendered_cases(rendered)
    if case not in cases:
        pytest.skip(f"{rendered.adapter_type} renders no {case}")
    for sql in cases[case]:
        check(sql, rendered.sqlglot_dialect)


def test_the_check_catches_what_it_looks_for() -> None:
    """The check can fail: statements each dialect refuses are refused."""
    refused = [
        ("spark", "select 'it''s'"),  # parses, but as two literals: caught by the literal tests instead
        ("snowflake", "select trim(both ' ' from x)"),
        ("bigquery", "select trim(both ' ' from x)"),
        ("bigquery", "select 'a' where not exists (select 1 from t)"),
        ("databricks", "update t set a = u.a from (select 1 as a) u where t.a = u.a"),
        ("bigquery", "select 'it''s'"),
    ]
    for dialect, sql in refused[1:]:
        with pytest.raises((sqlglot.errors.ParseError, sqlglot.errors.TokenError, AssertionError)):
            check(sql, dialect)
