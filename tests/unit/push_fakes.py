"""Fakes for driving the runner's send loop without a warehouse or a CRM: a change set of
generated pages, a destination that acknowledges what it is sent, and a state store that
records what it is handed."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from dbt_revsync.errors import WarehouseError
from dbt_revsync.model import BatchResult, Change, ChangeRow, Connection, FieldMap, NodeRef, SyncSpec

__all__ = ["SPEC", "Acknowledging", "CountingState", "Pages", "live"]

NODE = NodeRef("model.p.m", "m", "model", "models/s.yml", "db", "main", "m")
CONN = Connection("endpoint", "http", {"url": "http://127.0.0.1:9/x", "batch": True}, max_concurrency=2)
SPEC = SyncSpec("s", NODE, CONN, "things", "append", ("id",), (FieldMap("name", "name"), FieldMap("id", "id")))


def live(kind: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is kind)


class Pages:
    """A change set of ``count`` pages of new rows; counts live per-row objects at each page,
    and fails reading page ``fail_at`` (a warehouse error) when it is given."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.seen: list[tuple[int, int]] = []
        self.failed = False

    def pages(self, page_size: int) -> Iterator[list[ChangeRow]]:
        for number in range(self.count):
            if number == self.fail_at:
                self.failed = True
                raise WarehouseError("the warehouse refused a query: connection lost")
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


class Acknowledging:
    """Acknowledges every change it is sent, after ``delay`` seconds; remembers the keys."""

    native_upsert = True

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.acked: list[str] = []
        self._lock = threading.Lock()

    def send(self, spec: SyncSpec, changes: Sequence[Change]) -> BatchResult:
        time.sleep(self.delay)
        result = BatchResult()
        for change in changes:
            result.ack(change, f"rec-{change.key}", "created")
        with self._lock:
            self.acked += [change.key for change in changes]
        return result


class CountingState:
    """Records the keys of every acknowledgement it is handed to commit, in ``commits``; once
    ``refuse_after`` has failed, refuses the first commit it is handed."""

    def __init__(self, refuse_after: Pages | None = None) -> None:
        self.keys: list[str] = []
        self.refuse_after = refuse_after
        self.commits: list[tuple[bool, list[str]]] = []  # (refused, keys), in order

    def commit(
        self, spec: Any, target: str, run_id: str, acks: Sequence[Any], rejects: Sequence[Any], run: Any
    ) -> None:
        keys = [a.record_key for a in acks]
        refuse = self.refuse_after is not None and self.refuse_after.failed and not any(r for r, _ in self.commits)
        self.commits.append((refuse, keys))
        if refuse:
            raise WarehouseError("the warehouse refused a statement: disk full")
        self.keys += keys

    def hand_over(self, *args: Any) -> None: ...

    def renew(self) -> None: ...
