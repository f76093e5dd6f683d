"""The bound commit's statements: which keys the state forgets and remembers, and the
parameters in the order `revsync_bound_commit_sql` documents them; rejects are deleted only
where the state may hold some."""

from __future__ import annotations

from typing import Any

from dbt_revsync.model import SyncSpec
from dbt_revsync.state import RejectRow, StateRow, StateStore, bound_statements

SQL = {
    name: name
    for name in (
        "forget",
        "remember",
        "forget_rejects",
        "forget_unkeyed",
        "reject",
        "forget_run",
        "remember_run",
        "any_reject",
    )
}
RUN = {
    "status": "running",
    "started_at": "2026-01-01 00:00:00.000000",
    "finished_at": None,
    "read": 5,
    "created": 2,
    "updated": 1,
    "deleted": 1,
    "unchanged": 1,
    "rejected": 1,
    "requests": 4,
    "watermark": None,
    "message": None,
    "target": "freshsales:crm@host/contacts",
}


def ack(
    key: str,
    row_hash: str | None,
    rid: object,
    keep: bool = True,
    in_state: bool = True,
    origin: str | None = "created",
    upsert: str | None = None,
) -> StateRow:
    return StateRow(key, row_hash, rid, origin, upsert, keep, in_state)  # type: ignore[arg-type]


def statements(
    acks: list[StateRow], rejects: list[RejectRow], run: dict[str, object] | None = RUN
) -> dict[str, list[object]]:
    made = bound_statements(SQL, "sync", "tgt", "run", acks, rejects, run, "NOW")
    return {sql: list(params) for sql, params in made}  # type: ignore[misc]


def test_new_keys_are_remembered_without_a_delete_and_known_keys_are_replaced() -> None:
    made = statements(
        [ack("new", "h1", "7", in_state=False), ack("old", "h2", "8", origin="matched", upsert="a@b")], []
    )
    assert made["forget"] == ["sync", "tgt", ["old"]]
    assert made["remember"] == [
        "sync",
        "tgt",
        ["new", "old"],
        ["h1", "h2"],
        ["7", "8"],
        ["created", "matched"],
        [None, "a@b"],
        "NOW",
        "run",
    ]


def test_deleted_records_are_forgotten_and_not_remembered() -> None:
    made = statements([ack("gone", None, "9", keep=False)], [])
    assert made["forget"] == ["sync", "tgt", ["gone"]]
    assert "remember" not in made


def test_a_settled_key_replaces_its_earlier_rejects() -> None:
    made = statements([ack("k", "h", 12, in_state=False)], [RejectRow("bad", "create", "400", "no")])
    assert made["forget_rejects"] == ["sync", ["k", "bad"]]


def test_values_are_bound_as_text_and_the_run_row_in_column_order() -> None:
    made = statements([ack("k", "h", 12, in_state=False)], [RejectRow("bad", "create", 400, "no")])  # type: ignore[arg-type]
    assert made["remember"][4] == ["12"]
    assert made["reject"] == ["run", "sync", ["bad"], ["create"], ["400"], ["no"], "NOW"]
    assert made["forget_run"] == ["sync", "run"]
    assert made["remember_run"] == [
        "run",
        "sync",
        RUN["started_at"],
        None,
        "running",
        5,
        2,
        1,
        1,
        1,
        1,
        4,
        None,
        None,
        RUN["target"],
    ]


def test_nothing_to_write_is_no_statement() -> None:
    assert statements([], [], None) == {}


def test_a_sync_with_no_rejects_is_sent_no_delete_of_rejects() -> None:
    made = bound_statements(SQL, "sync", "tgt", "run", [ack("k", "h", 1, in_state=False)], [], None, "NOW", False)
    assert [sql for sql, _ in made] == ["remember"]


class FakeWarehouse:
    """Answers the lock kind and the rejects query; records every statement."""

    state_schema = "revsync"

    def __init__(self, rejects: bool) -> None:
        self.rejects = rejects
        self.queries = 0
        self.executed: list[list[str]] = []

    def render(self, name: str, **_: Any) -> Any:
        return {"revsync_lock_kind": "engine", "revsync_bound_commit_sql": {**SQL, "autocommit": False}}[name]

    def query(self, _: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        self.queries += 1
        return ["one"], [(1,)] if self.rejects else []

    def execute(self, statements: list[Any]) -> None:
        self.executed.append([sql for sql, _ in statements])

    def execute_relieved(self, statements: list[Any], *, alone: bool = False) -> None:
        assert not alone  # this warehouse's commit is a transaction (autocommit False)
        self.execute(statements)


class Spec:
    sync_id = "sync"


def commit(store: StateStore, key: str, rejects: list[RejectRow] | None = None) -> list[str]:
    spec: SyncSpec = Spec()  # type: ignore[assignment]
    store.commit(spec, "tgt", "run", [ack(key, "h", 1, in_state=False)], rejects or [], None)
    return store.warehouse.executed[-1]  # type: ignore[attr-defined, no-any-return]


def test_rejects_are_asked_once_under_the_lock_and_deleted_again_once_the_push_writes_one() -> None:
    wh = FakeWarehouse(rejects=False)
    store = StateStore(wh)  # type: ignore[arg-type]
    assert "forget_rejects" in commit(store, "a")  # not under the lock: nothing is assumed
    with store.lock(Spec(), "holder"):  # type: ignore[arg-type]
        assert commit(store, "b") == ["remember"]
        assert commit(store, "c") == ["remember"]
        assert wh.queries == 1
        assert "reject" in commit(store, "d", [RejectRow("x", "create", "400", "no")])
        assert "forget_rejects" in commit(store, "e")
    with store.lock(Spec(), "holder"):  # a new push asks again
        assert commit(store, "f") == ["remember"]
        assert wh.queries == 2


def test_a_sync_with_rejects_has_them_deleted_as_keys_settle() -> None:
    store = StateStore(FakeWarehouse(rejects=True))  # type: ignore[arg-type]
    with store.lock(Spec(), "holder"):  # type: ignore[arg-type]
        assert commit(store, "a") == ["remember", "forget_rejects"]
