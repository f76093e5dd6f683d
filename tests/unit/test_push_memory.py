"""A push holds its rows a batch at a time: no per-row object outlives its batch.

The runner's send loop is driven over many pages of a fake change set, to a destination that
acknowledges everything, with a state store that only counts what it is given. At every
page read, the live ``ChangeRow`` and ``Change`` objects are counted: the count must stay
below a few pages' worth however many pages went before (the batches in flight and the
page being cut), and the state must have been handed every row exactly once.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from typing import Any

from dbt_revsync.model import BatchResult, Change, ChangeRow, Connection, FieldMap, NodeRef, SyncSpec
from dbt_revsync.runner import PAGE_ROWS, Pusher, SyncRun

NODE = NodeRef("model.p.m", "m", "model", "models/s.yml", "db", "main", "m")
CONN = Connection("endpoint", "http", {"url": "http://127.0.0.1:9/x", "batch": True}, max_concurrency=2)
SPEC = SyncSpec("s", NODE, CONN, "things", "append", ("id",), (FieldMap("name", "name"), FieldMap("id", "id")))
PAGES = 8
BATCH = 100


def live(kind: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is kind)


class Pages:
    """A change set of ``PAGES`` pages of new rows; counts live per-row objects at each page."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def pages(self, page_size: int) -> Iterator[list[ChangeRow]]:
        for number in range(PAGES):
            self.seen.append((live(ChangeRow), live(Change)))
            first = number * page_size
            yield [
                ChangeRow(
                    first + i + 1,
                    "new",
                    None,
                    str(first + i),
                    f"h{first + i}",
                    None,
                    None,
                    {"id": first + i, "name": f"Name {first + i}"},
                )
                for i in range(page_size)
            ]


class Endpoint:
    """Acknowledges every change it is sent."""

    native_upsert = True

    def send(self, spec: SyncSpec, changes: Sequence[Change]) -> BatchResult:
        result = BatchResult()
        for change in changes:
            result.ack(change, None, "updated")
        return result


class CountingState:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def commit(
        self, spec: Any, target: str, run_id: str, acks: Sequence[Any], rejects: Sequence[Any], run: Any
    ) -> None:
        self.keys += [a.record_key for a in acks]

    def hand_over(self, *args: Any) -> None: ...

    def renew(self) -> None: ...


def test_no_change_row_or_change_outlives_its_batch() -> None:
    pusher = Pusher(warehouse=None)  # type: ignore[arg-type]  # never reached: the state is counted
    state = CountingState()
    pusher.state = state  # type: ignore[assignment]
    run = SyncRun(pusher, SPEC)
    pages = Pages()
    run.report.changes = PAGES * PAGE_ROWS
    run.send(Endpoint(), pages, BATCH)  # type: ignore[arg-type]
    assert len(state.keys) == len(set(state.keys)) == PAGES * PAGE_ROWS  # every row committed once
    most_rows = max(rows for rows, _ in pages.seen)
    most_changes = max(changes for _, changes in pages.seen)
    # at most the page being cut and the batches in flight (2 x max_concurrency), never the pages before
    assert most_rows <= 2 * PAGE_ROWS, pages.seen
    assert most_changes <= 2 * PAGE_ROWS, pages.seen
    assert live(ChangeRow) <= PAGE_ROWS and live(Change) <= PAGE_ROWS
