"""A push holds its rows a batch at a time: no per-row object outlives its batch.

The runner's send loop is driven over many pages of a fake change set, to a destination that
acknowledges everything, with a state store that only counts what it is given. At every
page read, the live ``ChangeRow`` and ``Change`` objects are counted: the count must stay
below a few pages' worth however many pages went before (the batches in flight and the
page being cut), and the state must have been handed every row exactly once.
"""

from __future__ import annotations

from dbt_revsync.model import Change, ChangeRow
from dbt_revsync.runner import PAGE_ROWS, Pusher, SyncRun
from tests.unit.push_fakes import SPEC, Acknowledging, CountingState, Pages, live

PAGES = 8
BATCH = 100


def test_no_change_row_or_change_outlives_its_batch() -> None:
    pusher = Pusher(warehouse=None)  # type: ignore[arg-type]  # never reached: the state is counted
    state = CountingState()
    pusher.state = state  # type: ignore[assignment]
    run = SyncRun(pusher, SPEC)
    pages = Pages(PAGES)
    run.report.changes = PAGES * PAGE_ROWS
    run.send(Acknowledging(), pages, BATCH)  # type: ignore[arg-type]
    assert len(state.keys) == len(set(state.keys)) == PAGES * PAGE_ROWS  # every row committed once
    most_rows = max(rows for rows, _ in pages.seen)
    most_changes = max(changes for _, changes in pages.seen)
    # at most the page being cut and the batches in flight (2 x max_concurrency), never the pages before
    assert most_rows <= 2 * PAGE_ROWS, pages.seen
    assert most_changes <= 2 * PAGE_ROWS, pages.seen
    assert live(ChangeRow) <= PAGE_ROWS and live(Change) <= PAGE_ROWS
