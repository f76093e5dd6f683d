"""The change set's memory ladder: a statement that reads the whole model runs under each
bound in turn, moving on only when the engine runs out of memory, and never gives up on the
last (no bound)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from dbt_revsync.changes import DIFF_MEMORY_LIMITS, ChangeSet
from dbt_revsync.errors import WarehouseError
from tests.factories import accounts_sync

UNBOUNDED = DIFF_MEMORY_LIMITS[-1]


class Engine:
    """A warehouse whose diff needs ``needs`` (a rung of the ladder) or more; records every try."""

    def __init__(self, needs: str, error: str = "Out of Memory Error: could not allocate block") -> None:
        self.needs, self.error = needs, error
        self.limit: str | None = None
        self.tries: list[str | None] = []

    def state_table(self, name: str) -> str:
        return name

    def relation(self, node: Any) -> str:
        return "model"

    def quoted(self, spec: Any, column: str) -> str:
        return column

    def render(self, name: str, **kwargs: Any) -> Any:
        return f"-- {name}"

    @contextmanager
    def bounded_memory(self, limit: str) -> Iterator[bool]:
        self.limit = limit
        yield True

    def execute(self, statements: Any) -> None:
        self.tries.append(self.limit)
        assert self.limit is not None
        if DIFF_MEMORY_LIMITS.index(self.limit) < DIFF_MEMORY_LIMITS.index(self.needs):
            raise WarehouseError(f"the warehouse refused a statement: {self.error}")

    def query(self, sql: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        return ["row_count"], [(3,)]


@pytest.mark.parametrize("needs", DIFF_MEMORY_LIMITS)
def test_the_diff_climbs_the_ladder_only_as_far_as_it_must(needs: str) -> None:
    engine = Engine(needs)
    assert ChangeSet(engine, accounts_sync(), "target").build_removed() == 3  # type: ignore[arg-type]
    assert engine.tries == list(DIFF_MEMORY_LIMITS[: DIFF_MEMORY_LIMITS.index(needs) + 1])


def test_a_failure_other_than_memory_is_not_tried_again() -> None:
    engine = Engine(UNBOUNDED, error="Catalog Error: table not found")
    with pytest.raises(WarehouseError, match="Catalog Error"):
        ChangeSet(engine, accounts_sync(), "target").build_removed()  # type: ignore[arg-type]
    assert engine.tries == [DIFF_MEMORY_LIMITS[0]]
