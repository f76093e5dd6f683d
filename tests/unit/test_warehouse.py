"""The bound commit's statements: which keys the state forgets and remembers, and the
parameters in the order `revsync_bound_commit_sql` documents them."""

from __future__ import annotations

from dbt_revsync.warehouse import _bound_statements

SQL = {name: name for name in ("forget", "remember", "reject", "forget_run", "remember_run")}
RUN = {"status": "running", "started_at": "2026-01-01 00:00:00.000000", "finished_at": None, "read": 5, "created": 2,
       "updated": 1, "deleted": 1, "unchanged": 1, "rejected": 1, "requests": 4, "watermark": None, "message": None}


def statements(acks: list[list[object]], rejects: list[list[object]], run: dict[str, object] | None = RUN) -> dict[str, list[object]]:
    made = _bound_statements(SQL, "sync", "run", acks, rejects, run, "NOW")
    return {sql: list(params) for sql, params in made}  # type: ignore[misc]


def test_new_keys_are_remembered_without_a_delete_and_known_keys_are_replaced() -> None:
    made = statements([["new", "h1", "7", True, False], ["old", "h2", "8", True, True]], [])
    assert made["forget"] == ["sync", ["old"]]
    assert made["remember"] == ["sync", ["new", "old"], ["h1", "h2"], ["7", "8"], "NOW", "run"]


def test_deleted_records_are_forgotten_and_not_remembered() -> None:
    made = statements([["gone", None, "9", False, True]], [])
    assert made["forget"] == ["sync", ["gone"]]
    assert "remember" not in made


def test_an_ack_without_the_state_flag_is_forgotten_first() -> None:
    assert statements([["k", "h", 12, True]], [])["forget"] == ["sync", ["k"]]


def test_values_are_bound_as_text_and_the_run_row_in_column_order() -> None:
    made = statements([["k", "h", 12, True, False]], [["bad", "create", 400, "no"]])
    assert made["remember"][3] == ["12"]
    assert made["reject"] == ["run", "sync", ["bad"], ["create"], ["400"], ["no"], "NOW"]
    assert made["forget_run"] == ["sync", "run"]
    assert made["remember_run"] == ["run", "sync", RUN["started_at"], None, "running", 5, 2, 1, 1, 1, 1, 4, None, None]


def test_nothing_to_write_is_no_statement() -> None:
    assert statements([], [], None) == {}
