"""Fixtures of the dialect tests: a dbt adapter per warehouse type, built with no account."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dbt_revsync.testing.dialects import Rendering, installed, rendering

# the warehouses the dialect check covers (no engine here) and those it also runs (an engine here)
PARSED = ["snowflake", "bigquery", "databricks", "redshift", "spark"]
RUN_HERE = ["duckdb", "postgres"]


def adapter_params(types: list[str]) -> list[object]:
    """One parameter per adapter type; a type whose adapter is not installed is skipped, saying
    how to install it (the `dialects` extra)."""
    present = set(installed(types))
    return [
        pytest.param(
            t,
            marks=()
            if t in present
            else pytest.mark.skip(reason=f"dbt-{t} not installed: pip install -e '.[dialects]'"),
        )
        for t in types
    ]


@pytest.fixture(scope="module")
def rendered(request: pytest.FixtureRequest) -> Iterator[Rendering]:
    """An adapter of the type in ``request.param``, opened once per test module (dbt holds one
    adapter per process: the tests of one type run together, pytest orders them so)."""
    with rendering(request.param) as r:
        yield r
