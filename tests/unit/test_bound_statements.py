"""A statement with bindings runs on the adapter's own cursor: in the adapter's connection and
the transaction the adapter begins and commits, its errors rolled back and refused; a
statement without bindings still goes through ``add_query``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from dbt.adapters.sql.connections import SQLConnectionManager

from dbt_revsync.errors import WarehouseError
from dbt_revsync.warehouse import Warehouse


class Cursor:
    def __init__(self, ran: list[Any], fail: bool) -> None:
        self.ran, self.fail = ran, fail
        self.description = [("one",)]

    def execute(self, sql: str, bindings: Any = None) -> None:
        if self.fail:
            raise RuntimeError("refused")
        self.ran.append((sql, bindings))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [(1,)]


class Connections(SQLConnectionManager):
    """dbt's SQL connection manager over one fake connection, recording what ran."""

    TYPE = "fake"

    def __init__(self, fail: bool = False) -> None:  # no dbt profile needed
        self.ran: list[Any] = []
        self.connection = SimpleNamespace(transaction_open=False, handle=SimpleNamespace(cursor=self._cursor))
        self.fail = fail

    def _cursor(self) -> Cursor:
        return Cursor(self.ran, self.fail)

    def get_thread_connection(self) -> Any:
        return self.connection

    def begin(self) -> Any:
        self.ran.append("BEGIN")
        self.connection.transaction_open = True
        return self.connection

    def commit_if_has_connection(self) -> None:
        if self.connection.transaction_open:
            self.ran.append("COMMIT")
            self.connection.transaction_open = False

    def rollback_if_open(self) -> None:
        if self.connection.transaction_open:
            self.ran.append("ROLLBACK")
            self.connection.transaction_open = False

    @contextmanager
    def exception_handler(self, sql: str) -> Iterator[None]:
        try:
            yield
        except RuntimeError as exc:
            self.ran.append("HANDLED")
            raise ValueError(str(exc)) from exc

    def add_query(  # type: ignore[override]
        self, sql: str, auto_begin: bool = True, bindings: Any = None, abridge_sql_log: bool = False, **_: Any
    ) -> Any:
        if auto_begin and not self.connection.transaction_open:
            self.begin()
        self.ran.append(f"add_query {sql}")
        return self.connection, self._cursor()

    cancel = get_response = open = None  # type: ignore[assignment]


def warehouse(connections: Connections) -> Warehouse:
    wh = Warehouse(SimpleNamespace(state_schema="revsync"))  # type: ignore[arg-type]
    wh.adapter = SimpleNamespace(connections=connections, type=lambda: "fake")
    return wh


def test_bound_statements_run_in_the_adapters_transaction_on_its_cursor() -> None:
    connections = Connections()
    warehouse(connections).execute([("insert ?", ["a"]), "delete plain", ("insert ?", ["b"])])
    assert connections.ran == ["BEGIN", ("insert ?", ["a"]), "add_query delete plain", ("insert ?", ["b"]), "COMMIT"]


def test_a_bound_statement_alone_begins_no_transaction() -> None:
    connections = Connections()
    warehouse(connections).execute_alone(("insert ?", ["a"]))
    assert connections.ran == [("insert ?", ["a"])]


def test_a_bound_query_reads_its_rows() -> None:
    connections = Connections()
    assert warehouse(connections).query(("select ?", [1])) == (["one"], [(1,)])
    assert connections.ran == ["BEGIN", ("select ?", [1]), "COMMIT"]


def test_a_refused_bound_statement_is_rolled_back_and_named() -> None:
    connections = Connections(fail=True)
    with pytest.raises(WarehouseError, match="refused"):
        warehouse(connections).execute([("insert ?", ["a"])])
    assert connections.ran == ["BEGIN", "HANDLED", "ROLLBACK"]
