"""The bound commit's statements: which keys the state forgets and remembers, and the
parameters in the order `revsync_bound_commit_sql` documents them."""

from __future__ import annotations

from dbt_revsync.state import RejectRow, StateRow, bound_statements

SQL = {
    name: name
    for name in ("forget", "remember", "forget_rejects", "forget_unkeyed", "reject", "forget_run", "remember_run")
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
