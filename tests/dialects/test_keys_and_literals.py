"""What each adapter's key and literal macros write, for values that break naive quoting.

Every literal is rendered through the real adapter and read back by sqlglot in that dialect:
the text sqlglot reads must be the Python value (Spark reads `'it''s'` as `its`, BigQuery
refuses it, a trailing backslash swallows the closing quote on every backslash-escaping
dialect). Where an engine runs here (DuckDB; PostgreSQL when the test server is up) the
literal and the key expression are also evaluated.
"""

from __future__ import annotations

import decimal
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from dbt_revsync.plan import key_text
from dbt_revsync.testing.dialects import Rendering
from tests.dialects.conftest import PARSED, RUN_HERE, adapter_params

NASTY = [
    "plain",
    "it's",
    "''",
    "back\\slash",
    "trailing\\",
    "\\",
    "\\'",
    "'\\",
    "\\\\'",
    "a\\nb",  # a backslash and an n, not a line break
    "tab\there",
    "line\nbreak",
    "cr\rlf",
    "10042.0",
    "-3.00",
    "10010",
    "10020",
    "ünïcödé ✓ 日本 🚀",
    "100%_like",
    "$$dollar$$",
    '"double"',
    "",
    " ",
]

ALL = PARSED + RUN_HERE


def literal_text(sql: str, dialect: str) -> Any:
    """The value of the one literal `sql` is, as sqlglot reads it in `dialect`."""
    tree = sqlglot.parse_one(f"select {sql} as v", read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, exp.Select)
    projection = tree.selects[0].this
    if isinstance(projection, exp.Null):
        return None
    assert isinstance(projection, exp.Literal) and projection.is_string, (
        f"{dialect}: {sql!r} is not one text literal: {projection!r}"
    )
    return projection.this


@pytest.mark.parametrize("rendered", adapter_params(ALL), indirect=True)
class TestLiterals:
    def test_each_literal_reads_back_as_its_value(self, rendered: Rendering) -> None:
        for value in NASTY:
            sql = str(rendered.render("revsync_literal", value=value))
            assert literal_text(sql, rendered.sqlglot_dialect) == value, (
                f"{rendered.adapter_type}: {value!r} written as {sql}"
            )

    def test_literals_quote_as_literal_does(self, rendered: Rendering) -> None:
        many = rendered.render("revsync_literals", values=[*NASTY, None])
        assert many == [str(rendered.render("revsync_literal", value=v)) for v in NASTY] + ["null"]

    def test_results_hook_literals_read_back(self, rendered: Rendering) -> None:
        for value in NASTY:
            sql = str(rendered.render("revsync_results_literal", value=value))
            assert literal_text(sql, rendered.sqlglot_dialect) == value, (
                f"{rendered.adapter_type}: {value!r} written as {sql}"
            )
        assert rendered.render("revsync_results_literal", value=None) == "null"
        assert rendered.render("revsync_results_literal", value=3) == "3"

    def test_typed_literal_reads_back(self, rendered: Rendering) -> None:
        sql = str(rendered.render("revsync_typed_literal", value="2024-01-02 03:04:05", data_type="timestamp"))
        tree = sqlglot.parse_one(f"select {sql}", read=rendered.sqlglot_dialect)
        assert tree.find(exp.Literal).this == "2024-01-02 03:04:05"  # type: ignore[union-attr]


@pytest.mark.parametrize("rendered", adapter_params(["bigquery"]), indirect=True)
def test_bigquery_literals_hold_no_line_break(rendered: Rendering) -> None:
    """A line break may not stand inside '...' on BigQuery: it is written as an escape."""
    for value in NASTY:
        assert "\n" not in str(rendered.render("revsync_literal", value=value))


@pytest.mark.parametrize("rendered", adapter_params(["spark", "databricks"]), indirect=True)
def test_spark_never_doubles_a_quote(rendered: Rendering) -> None:
    """Spark reads 'it''s' as two adjacent literals, `it` and `s`: a quote is backslash-escaped."""
    assert str(rendered.render("revsync_literal", value="it's")) == "'it\\'s'"


# ---- the key text ---------------------------------------------------------------------------

KEYS = {
    "10042.0": "10042",
    "10010": "10010",
    "10020": "10020",
    "-3.00": "-3",
    "1.50": "1.50",
    "0.0": "0",
    "100": "100",
    "10042.5": "10042.5",
    " \t10042.0\n": "10042",
    "a\\1": "a\\1",
    "x.0y": "x.0y",
    "": None,
    "  ": None,
    "it's": "it's",
}


@pytest.mark.parametrize("rendered", adapter_params(ALL), indirect=True)
def test_key_text_has_no_backslash_and_parses(rendered: Rendering) -> None:
    """No warehouse reads a backslash in the key expression: `'\\.'` became `.` and `'\\1'` `1`
    on Spark, and every key collapsed to `1`."""
    for name, args in (
        ("revsync_key_text", {"expression": "k"}),
        ("revsync_upsert_expression", {"upsert_column": "k"}),
    ):
        sql = str(rendered.render(name, **args)).strip()
        assert "\\" not in sql, f"{rendered.adapter_type}: {sql}"
        sqlglot.parse_one(
            f"select {sql} as key_text from t", read=rendered.sqlglot_dialect, error_level=sqlglot.ErrorLevel.RAISE
        )


@pytest.mark.parametrize("rendered", adapter_params(["duckdb"]), indirect=True)
def test_key_text_on_duckdb(rendered: Rendering) -> None:
    import duckdb

    expression = str(rendered.render("revsync_key_text", expression="v")).strip()
    texts = list(KEYS)
    with duckdb.connect() as connection:
        rows = connection.execute(f"select {expression} from unnest(?) as t(v)", [texts]).fetchall()
        assert dict(zip(texts, (r[0] for r in rows))) == KEYS
        typed = [
            "cast(10042.0 as decimal(12, 2))",
            "cast(-3.00 as decimal(5, 2))",
            "cast(1.50 as decimal(5, 2))",
            "cast(10010 as double)",
            "cast(10042.0 as double)",
            "cast(10020 as bigint)",
        ]
        numbers = [
            connection.execute(f"select {expression} from (select {value} as v) t").fetchone()[0] for value in typed
        ]  # type: ignore[index]
    assert numbers == ["10042", "-3", "1.50", "10010", "10042", "10020"]
    for text in texts:  # Python's key text agrees with the warehouse's
        assert key_text(text) == KEYS[text]
    assert [key_text(decimal.Decimal("10042.00")), key_text(-3.0), key_text(decimal.Decimal("1.50"))] == [
        "10042",
        "-3",
        "1.50",
    ]


@pytest.mark.parametrize("rendered", adapter_params(["duckdb"]), indirect=True)
def test_literals_on_duckdb(rendered: Rendering) -> None:
    import duckdb

    with duckdb.connect() as connection:
        for value in NASTY:
            sql = str(rendered.render("revsync_literal", value=value))
            assert connection.execute(f"select {sql}").fetchone() == (value,)


@pytest.fixture(scope="module")
def postgres() -> Any:
    """A connection to the test PostgreSQL server (scripts/test_postgres.sh), or a skip."""
    from tests.integration.warehouses import postgres_status

    server, _, reason = postgres_status()
    if reason is not None:
        pytest.skip(reason)
    import psycopg2  # type: ignore[import-untyped]

    connection = psycopg2.connect(
        host=server.host, port=server.port, user=server.user, password=server.password, dbname="postgres"
    )
    connection.autocommit = True
    yield connection
    connection.close()


@pytest.mark.parametrize("rendered", adapter_params(["postgres"]), indirect=True)
def test_keys_and_literals_on_postgres(rendered: Rendering, postgres: Any) -> None:
    expression = str(rendered.render("revsync_key_text", expression="v")).strip()
    with postgres.cursor() as cursor:
        for value in NASTY:
            cursor.execute(
                f"select {rendered.render('revsync_literal', value=value)}"
            )  # no parameters: % stays as it is
            assert cursor.fetchone() == (value,)
        texts = list(KEYS)
        bound = expression.replace("%", "%%")  # with parameters psycopg2 reads % as a placeholder
        cursor.execute(f"select {bound} from unnest(%s::text[]) as t(v)", (texts,))
        assert dict(zip(texts, (r[0] for r in cursor.fetchall()))) == KEYS
        cursor.execute(
            f"select {expression} from"
            " (values (10042.0::numeric), (-3.00::numeric), (1.50::numeric), (10010::numeric)) t(v)"
        )
        assert [r[0] for r in cursor.fetchall()] == ["10042", "-3", "1.50", "10010"]


@pytest.mark.parametrize("rendered", adapter_params(PARSED), indirect=True)
def test_key_text_logic_through_duckdb(rendered: Rendering) -> None:
    """No Snowflake, BigQuery or Spark here: each one's key expression, as sqlglot reads it in
    that dialect, translated to DuckDB and run there. This proves the logic (which functions,
    in which order), not how the warehouse itself evaluates them."""
    import duckdb

    expression = str(rendered.render("revsync_key_text", expression="v")).strip()
    translated = sqlglot.transpile(f"select {expression} as k from t", read=rendered.sqlglot_dialect, write="duckdb")[0]
    texts = list(KEYS)
    with duckdb.connect() as connection:
        connection.execute("create table t as select * from unnest(?) as u(v)", [texts])
        rows = connection.execute(translated).fetchall()
    assert sorted(map(str, (r[0] for r in rows))) == sorted(map(str, KEYS.values())), translated
