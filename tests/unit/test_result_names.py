"""Result columns are read case-insensitively: Snowflake answers unquoted names in upper case
(``C0``, ``SYNC_ID``, ``__RS_SEQ``), and every lookup by name goes through ``Warehouse.query``,
which lower-cases them once."""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dbt.adapters.sql.connections import SQLConnectionManager

from dbt_revsync.changes import META_COLUMNS, ChangeSet
from dbt_revsync.dbt import build_state
from dbt_revsync.state import StateStore
from dbt_revsync.warehouse import Warehouse, statement_path

PACKAGE = Path(__file__).resolve().parents[2] / "dbt_revsync"
WHEN = datetime(2026, 1, 2, 3, 4, 5)


class UpperCaseCursor:
    """A DB-API cursor as Snowflake's: every unquoted column name comes back upper-cased."""

    def __init__(self, names: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.description = [(name.upper(), None, None, None, None, None, None) for name in names]
        self._rows = rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows


class UpperCaseConnections(SQLConnectionManager):
    """dbt's SQL connection manager, answering each query (by the macro name it was rendered
    from) with an upper-cased cursor."""

    TYPE = "fake"

    def __init__(self, answers: dict[str, tuple[list[str], list[tuple[Any, ...]]]]) -> None:  # no dbt profile needed
        self.answers = answers
        self.ran: list[str] = []

    def add_query(
        self, sql: str, auto_begin: bool = True, bindings: Any = None, abridge_sql_log: bool = False, **kw: Any
    ) -> Any:
        self.ran.append(sql)
        names, rows = self.answers.get(sql.split()[0], ([], []))
        return None, UpperCaseCursor(names, rows)

    def commit_if_has_connection(self) -> None:
        pass

    cancel = exception_handler = get_response = open = None  # type: ignore[assignment]

    def rollback_if_open(self) -> None:
        pass


def warehouse(answers: dict[str, tuple[list[str], list[tuple[Any, ...]]]]) -> Warehouse:
    wh = Warehouse(SimpleNamespace(state_schema="revsync"))  # type: ignore[arg-type]
    wh.adapter = SimpleNamespace(
        connections=UpperCaseConnections(answers),
        get_relation=lambda *a: object(),
        type=lambda: "fake",
        Relation=SimpleNamespace(create=lambda **kw: SimpleNamespace(without_identifier=lambda: "revsync", **kw)),
    )
    wh.config = SimpleNamespace(credentials=SimpleNamespace(database="db"))
    wh.render = lambda name, **kw: {"revsync_table_exists": True}.get(name, f"{name} ...")  # type: ignore[method-assign]
    return wh


SPEC = SimpleNamespace(sync_id="models.contacts", short_id="contacts", columns=("id", "email"), label="contacts")


def test_the_cursor_path_is_taken_for_dbt_sql_connection_managers() -> None:
    assert statement_path(warehouse({}).adapter) == "cursor"


def test_query_and_select_answer_lower_case_names() -> None:
    wh = warehouse({"q": (["Sync_Id", "RECORDS"], [("s", 3)])})
    assert wh.query("q") == (["sync_id", "records"], [("s", 3)])
    assert wh.select("q") == [{"sync_id": "s", "records": 3}]


def test_result_names_keep_the_warehouse_spelling_for_quoting_back() -> None:
    assert warehouse({"select": (["Id", "email"], [])}).result_names("select * from t where 1 = 0") == ["ID", "EMAIL"]


def test_changes_pages_read_upper_case_meta_and_value_columns() -> None:
    names = [*META_COLUMNS, "c0", "c1"]
    row = (1, "new", None, "k1", "h", None, None, None, 7, "a@b.c")
    wh = warehouse({"revsync_changes_page_sql": (names, [row])})
    pages = ChangeSet(wh, SPEC, "tgt").pages(10)  # type: ignore[arg-type]
    page = next(pages)
    assert page[0].seq == 1 and page[0].key == "k1" and page[0].values == {"id": 7, "email": "a@b.c"}


def test_state_reads_by_name_see_upper_case_answers() -> None:
    wh = warehouse(
        {
            "revsync_remembered_sql": (["target", "origin", "records"], [("crm", "created", 4)]),
            "revsync_last_success_sql": (["sync_id", "last_success"], [("models.contacts", WHEN)]),
            "revsync_recent_runs_sql": (["run_id", "rejected"], [("r1", 2)]),
        }
    )
    store = StateStore(wh)
    assert [tuple(r) for r in store.remembered(SPEC)] == [("crm", "created", 4)]  # type: ignore[arg-type]
    assert store.last_successes() == {"models.contacts": WHEN}
    assert build_state.last_pushes(wh) == {"models.contacts": WHEN}
    assert store.recent_runs(1) == [{"run_id": "r1", "rejected": 2}]


def test_quarantined_keys_read_upper_case_columns_and_keys() -> None:
    wh = warehouse({"select": (["id"], []), "revsync_failed_keys_sql": (["record_key"], [("10",), (None,)])})
    assert build_state.quarantined_keys(wh, "db.tests.failures", ("id",)).keys == frozenset({"10"})


# ---- every lookup goes through Warehouse.query ----------------------------------------------
CURSOR_ATTRIBUTES = {"description", "fetchall", "fetchone", "fetchmany", "add_query", "column_names"}


def attribute_uses(tree: ast.AST) -> list[tuple[str, int]]:
    return [
        (node.attr, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in CURSOR_ATTRIBUTES
    ]


def test_no_module_but_the_warehouse_reads_a_cursor_or_result_names() -> None:
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name != "warehouse.py":
            found += [
                (str(path.relative_to(PACKAGE)), *use)
                for use in attribute_uses(ast.parse(path.read_text(encoding="utf-8")))
            ]
    assert {(path, attribute) for path, attribute, _ in found} <= {
        ("output.py", "description")
    }  # a progress bar's task


def test_in_the_warehouse_only_run_reads_result_names_and_only_query_and_result_names_call_it() -> None:
    tree = ast.parse((PACKAGE / "warehouse.py").read_text(encoding="utf-8"))
    warehouse_class = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Warehouse")
    methods = {n.name: n for n in warehouse_class.body if isinstance(n, ast.FunctionDef)}
    readers = {
        name
        for name, fn in methods.items()
        if {a for a, _ in attribute_uses(fn)} & {"description", "column_names", "fetchall"}
    }
    assert readers == {"_run"}

    def callers(target: str) -> set[str]:
        return {
            name
            for name, fn in methods.items()
            if any(isinstance(n, ast.Attribute) and n.attr == target for n in ast.walk(fn))
        }

    assert callers("_query") == {"query", "result_names"}
    assert callers("_run") == {"execute", "execute_alone", "_query"}
    assert callers("query") == {"select"}
    # outside the warehouse, raw names are taken only to be quoted back into SQL
    uses = [
        str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if ".result_names(" in p.read_text(encoding="utf-8")
    ]
    assert uses == ["dbt/build_state.py"]
