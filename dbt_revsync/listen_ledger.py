"""The runs ``listen`` accepted, kept so that a restart loses none and none is pushed twice.

Two places, one record. Accepting a webhook must be answered within dbt Cloud's 10-second
timeout, also while a push holds the warehouse, so an accepted run is first appended (and
fsync'ed) to a local journal; the push worker then records the journal in the warehouse
table ``<state schema>.revsync_listen_runs`` (macros/revsync_listen.sql) and empties it.
A listener that starts records what the journal still holds, then takes back every run
still ``accepted`` there (a crash mid-push included: a push resumes safely) and knows every
run id it ever took, so a redelivered or re-sent run is not taken again.

Warehouse access goes through ``Warehouse.render`` / ``execute`` / ``select`` alone.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from dbt_revsync.model import utc_now

__all__ = ["AcceptedRun", "Ledger", "SqlRunner"]

logger = logging.getLogger(__name__)

ACCEPTED, PUSHED, FAILED = "accepted", "pushed", "failed"


class SqlRunner(Protocol):
    def render(self, name: str, **kwargs: Any) -> Any: ...
    def execute(self, statements: Any) -> None: ...
    def select(self, sql: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class AcceptedRun:
    """One dbt Cloud run the listener took, and where its push stands."""

    run_id: str
    job_id: str = ""
    environment_id: str = ""
    run_status_code: int | None = None
    accepted_at: str = ""
    status: str = ACCEPTED
    error: str | None = None
    finished_at: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AcceptedRun:
        code = row.get("run_status_code")
        return cls(
            run_id=str(row["run_id"]),
            job_id=str(row.get("job_id") or ""),
            environment_id=str(row.get("environment_id") or ""),
            run_status_code=int(code) if code is not None else None,
            accepted_at=str(row.get("accepted_at") or ""),
            status=str(row.get("status") or ACCEPTED),
            error=row.get("error"),
            finished_at=str(row["finished_at"]) if row.get("finished_at") is not None else None,
        )


class Ledger:
    """Thread-safe: the webhook handlers accept, the push worker takes, finishes and records."""

    def __init__(self, journal: Path, schema: str) -> None:
        self.journal, self.schema = journal, schema
        self.known: set[str] = set()
        self.pending: deque[AcceptedRun] = deque()
        self.ready = threading.Condition()

    # ---- the handlers' side: fast, local ------------------------------------------------
    def accept(self, run: AcceptedRun) -> bool:
        """Take ``run`` (durably, in the journal) unless its run id was taken before."""
        with self.ready:
            if run.run_id in self.known:
                return False
            self._append(replace(run, accepted_at=run.accepted_at or utc_now(), status=ACCEPTED))
            self.known.add(run.run_id)
            self.pending.append(run)
            self.ready.notify_all()
        return True

    def next(self, timeout: float) -> AcceptedRun | None:
        """The oldest run waiting for its push, or None after ``timeout`` seconds."""
        with self.ready:
            if not self.pending:
                self.ready.wait(timeout)
            return self.pending.popleft() if self.pending else None

    def waiting(self) -> int:
        with self.ready:
            return len(self.pending)

    def finish(self, run: AcceptedRun, ok: bool, error: str | None = None) -> None:
        with self.ready:
            self._append(
                replace(
                    run, status=PUSHED if ok else FAILED, error=(error or None) and error[:2000], finished_at=utc_now()
                )
            )

    def _append(self, run: AcceptedRun) -> None:
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        with self.journal.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(run)) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    # ---- the worker's side: the warehouse -----------------------------------------------
    def record(self, warehouse: SqlRunner) -> int:
        """Write what the journal holds to the warehouse table, then drop it from the journal."""
        with self.ready:
            lines = self._journal_lines()
        if lines:
            rows = [json.loads(line) for line in lines]
            warehouse.execute(warehouse.render("revsync_listen_record_sql", schema_name=self.schema, rows=rows))
            with self.ready:
                rest = self._journal_lines()[len(lines) :]
                scratch = self.journal.with_suffix(".tmp")
                scratch.write_text("".join(line + "\n" for line in rest), encoding="utf-8")
                os.replace(scratch, self.journal)
        return len(lines)

    def _journal_lines(self) -> list[str]:
        try:
            return [line for line in self.journal.read_text(encoding="utf-8").splitlines() if line.strip()]
        except FileNotFoundError:
            return []

    def load(self, warehouse: SqlRunner) -> list[AcceptedRun]:
        """On start: create the table, record the journal, know every run id taken before and
        queue again each run still ``accepted``. Returns the runs queued again."""
        warehouse.execute(warehouse.render("revsync_listen_ddl", schema_name=self.schema))
        self.record(warehouse)
        rows = warehouse.select(warehouse.render("revsync_listen_runs_sql", schema_name=self.schema))
        runs = [AcceptedRun.from_row(row) for row in rows]
        again = [run for run in runs if run.status == ACCEPTED]
        with self.ready:
            self.known.update(run.run_id for run in runs)
            queued = {run.run_id for run in self.pending}
            self.pending.extend(run for run in again if run.run_id not in queued)
            self.ready.notify_all()
        return again
