"""The send loop never forgets a batch the CRM may have acknowledged.

When the loop fails part-way (here: a page of the change set cannot be read), batches are
already on the wire; each is awaited and its acknowledgements committed before the error
goes up, so the next push does not create those records a second time.
"""

from __future__ import annotations

import pytest

from dbt_revsync.errors import WarehouseError
from dbt_revsync.runner import PAGE_ROWS, Pusher, SyncRun
from tests.unit.push_fakes import SPEC, Acknowledging, CountingState, Pages


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_batches_on_the_wire_when_a_page_fails_are_committed(fail_at: int) -> None:
    pusher = Pusher(warehouse=None)  # type: ignore[arg-type]  # never reached: the state is counted
    state = CountingState()
    pusher.state = state  # type: ignore[assignment]
    run = SyncRun(pusher, SPEC)
    endpoint = Acknowledging(delay=0.05)  # slow enough that batches are in flight when the page fails
    run.report.changes = 4 * PAGE_ROWS
    with pytest.raises(WarehouseError, match="connection lost"):
        run.send(endpoint, Pages(4, fail_at=fail_at), 100)  # type: ignore[arg-type]
    assert endpoint.acked, "nothing was sent before the failure"
    assert sorted(state.keys) == sorted(endpoint.acked)  # every acknowledged record is in the state, once


def test_a_commit_refused_after_the_failure_does_not_stop_the_other_batches_being_committed() -> None:
    pusher = Pusher(warehouse=None)  # type: ignore[arg-type]
    pages = Pages(4, fail_at=1)
    state = CountingState(refuse_after=pages)
    pusher.state = state  # type: ignore[assignment]
    run = SyncRun(pusher, SPEC)
    endpoint = Acknowledging(delay=0.05)
    run.report.changes = 4 * PAGE_ROWS
    with pytest.raises(WarehouseError, match="connection lost"):  # the loop's error, not the commit's
        run.send(endpoint, pages, 100)  # type: ignore[arg-type]
    refused = [i for i, (r, _) in enumerate(state.commits) if r]
    assert len(refused) == 1 and refused[0] < len(state.commits) - 1, state.commits  # commits went on after it
    lost = state.commits[refused[0]][1]
    assert sorted(state.keys + lost) == sorted(endpoint.acked)
