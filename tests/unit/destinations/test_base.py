"""A batch's result: every record ends acknowledged, rejected or left for the next push, once."""

from __future__ import annotations

from dbt_revsync.errors import FatalDestinationError, TransientDestinationError
from dbt_revsync.model import BatchResult, Change

CHANGES = [Change("upsert", key, {}) for key in ("a", "b", "c", "d")]


def test_a_batch_cut_short_leaves_only_the_records_not_yet_settled() -> None:
    result = BatchResult()
    result.ack(CHANGES[0], "1", "created")
    result.error(CHANGES[1], "INVALID_EMAIL", "bad email")  # rejected
    result.error(CHANGES[2], "UNABLE_TO_LOCK_ROW", "busy")  # left: a "not now" code
    result.cut_short(CHANGES, TransientDestinationError("POST /x answered 503 after 6 attempts"))
    assert [r.key for r in result.rejected] == ["b"]
    assert [str(record) for record in result.left] == [
        "c: UNABLE_TO_LOCK_ROW: busy",
        "d: POST /x answered 503 after 6 attempts",
    ]


def test_a_fatal_failure_stops_the_sync_and_leaves_nothing() -> None:
    result = BatchResult()
    result.cut_short(CHANGES, FatalDestinationError("answered 401", 401))
    assert result.fatal == "answered 401" and result.left == []


def test_absorbing_a_result_keeps_what_it_left() -> None:
    first, second = BatchResult(), BatchResult()
    second.leave(CHANGES[0], "timed out")
    first.absorb(second)
    first.cut_short(CHANGES[:2], TransientDestinationError("reset"))
    assert [str(record) for record in first.left] == ["a: timed out", "b: reset"]
