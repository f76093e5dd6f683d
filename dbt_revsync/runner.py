"""A push, as a straight line: diff in the warehouse, send in batches, commit what succeeded.

For each sync: materialise its changes (SQL), read them a page at a time, turn each row
into a change or a reject (``plan``), send batches to the destination on up to
``max_concurrency`` threads, and commit every batch's acknowledged records and rejects
as it comes back (in whatever order), together with the run's running counts. A batch
that did not come back acknowledged is simply not committed: the next push sends it again.

Batches may come back in any order: each is committed on its own, by key, so order does
not matter and nothing is counted twice. A batch whose request failed transiently as a
whole (retries ran out) is left uncommitted; one that failed fatally (401/403) stops the
sync after what was already acknowledged is committed. When the connection's circuit
breaker opens (too many consecutive transient failures), the sync stops sending: the
rest of its changes are counted as left for the next push and the run says so.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from dbt_revsync import events, logs, matching, plan
from dbt_revsync.config import SyncSpec
from dbt_revsync.delivery import CircuitBreaker, HttpClient, RetryPolicy
from dbt_revsync.destinations import destination_class
from dbt_revsync.destinations.base import BatchResult, Change, Destination
from dbt_revsync.errors import DestinationError, FatalDestinationError, TransientDestinationError, WarehouseError
from dbt_revsync.events import COUNTS
from dbt_revsync.warehouse import Warehouse, utc_now

logger = logging.getLogger(__name__)

MAX_REJECT_REASONS = 10  # distinct reasons a report lists; every reject is in revsync_rejects
PAGE_ROWS = 2000  # changed rows read from the warehouse per query, then cut into batches
RUN_ROW_SECONDS = 1.0  # how often a running push rewrites its revsync_runs row


@dataclass
class SyncReport:
    """How one sync went; ``status`` is success, partial (rows left for next time) or failed."""

    spec: SyncSpec
    status: str = "running"
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    planned: dict[str, int] = field(default_factory=dict)  # op -> rows, for plan/dry runs
    samples: list[dict[str, Any]] = field(default_factory=list)
    reject_reasons: dict[str, list[Any]] = field(default_factory=dict)  # reason -> [rows, first key]
    unresolved: int = 0
    held: dict[str, int] = field(default_factory=dict)  # reason -> rows held back by a failing test, not sent
    acted: int = 0  # rows of the relation that became a change or a reject
    watermark: str | None = None
    message: str | None = None
    started_at: str = field(default_factory=utc_now)
    seconds: float = 0.0
    run_row_at: float = float("-inf")  # when the runs row was last written (monotonic)

    @property
    def reject_samples(self) -> list[str]:
        """One line per distinct reject reason: the first key, how many more, the reason."""
        return [
            f"{key}{f' and {rows - 1} more' if rows > 1 else ''}: {reason}"
            for reason, (rows, key) in self.reject_reasons.items()
        ]

    def note_rejects(self, rejects: Iterable[tuple[str | None, str]]) -> None:
        reasons = self.reject_reasons
        for key, reason in rejects:
            if reason in reasons:
                reasons[reason][0] += 1
            elif len(reasons) < MAX_REJECT_REASONS:
                reasons[reason] = [1, key]

    @property
    def ok(self) -> bool:
        return self.status == "success" and self.counts["rejected"] == 0


class Progress:
    """Hooks the command line uses to draw progress; the default draws nothing."""

    def start(self, spec: SyncSpec, total: int) -> None: ...
    def advance(self, spec: SyncSpec, rows: int) -> None: ...
    def finish(self, report: SyncReport) -> None: ...


DestinationFactory = Callable[[SyncSpec], Destination]


class DestinationPool:
    """One destination (and one paced HTTP client) per connection, shared by its syncs."""

    def __init__(self, make_client: Callable[[SyncSpec, type[Destination]], HttpClient] | None = None) -> None:
        self._made: dict[str, Destination] = {}
        self._make_client = make_client or default_client

    def __call__(self, spec: SyncSpec) -> Destination:
        name = spec.connection.name
        if name not in self._made:
            cls = destination_class(spec.connection.type)
            self._made[name] = cls(spec.connection, self._make_client(spec, cls))
        return self._made[name]


def default_client(spec: SyncSpec, cls: type[Destination]) -> HttpClient:
    conn = spec.connection
    return HttpClient(
        rate_limit=conn.rate_limit or cls.default_rate_limit,
        max_concurrency=conn.max_concurrency,
        timeout=conn.timeout,
        secrets=conn.secrets,
        policy=RetryPolicy(max_attempts=conn.max_retries + 1, max_seconds=conn.max_retry_time),
        breaker=CircuitBreaker(conn.breaker_threshold),
        name=conn.name,
        throttle_hint=cls.throttle_hint,
    )


@dataclass
class Pusher:
    warehouse: Warehouse
    destinations: DestinationFactory = field(default_factory=DestinationPool)
    progress: Progress = field(default_factory=Progress)
    full_refresh: bool = False
    dry_run: bool = False
    samples: int = 3
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    held: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # sync_id -> record key -> reason: not sent
    _meters: dict[str, tuple[HttpClient, int]] = field(default_factory=dict, init=False, repr=False)

    def push_all(self, specs: Iterable[SyncSpec]) -> list[SyncReport]:
        self.warehouse.ensure_state()
        return [self.push(spec) for spec in specs]

    def push(self, spec: SyncSpec) -> SyncReport:
        report = SyncReport(spec)
        started = time.monotonic()
        events.emit(
            "sync_started", f"{spec.label}: started", sync_id=spec.sync_id, sync=spec.label, model=spec.node.name,
            destination=spec.connection.name, object=spec.object, insert_mode=spec.insert_mode,
            fetch_mode=spec.fetch_mode, run_id=self.run_id, dry_run=self.dry_run,
        )
        try:
            self._push(spec, report)
        except (DestinationError, WarehouseError) as exc:
            report.status, report.message = "failed", hidden(spec, str(exc))
        finally:
            report.seconds = time.monotonic() - started
            self._close(spec, report)
        return report

    def _push(self, spec: SyncSpec, report: SyncReport) -> None:
        watermark = self.warehouse.last_watermark(spec) if spec.fetch_mode == "incremental" else None
        stats = self.warehouse.build_changes(
            spec, full_refresh=self.full_refresh, include_removed=spec.insert_mode == "mirror", watermark=watermark
        )
        report.watermark = watermark
        report.counts["read"] = stats.read
        report.counts["unchanged"] = stats.read
        self._record(spec, report)
        self.progress.start(spec, stats.changes)
        destination = self.destinations(spec)
        http = getattr(destination, "http", None)
        if isinstance(http, HttpClient):
            http.breaker.reset()
            self._meters[spec.sync_id] = (http, http.attempts)
        if not self.dry_run:
            destination.prepare(spec)
        size = destination.batch_size_for(spec, stats.changes)
        inflight: dict[Future[BatchResult], list[Change]] = {}
        limit = max(1, spec.connection.max_concurrency)
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="revsync-send") as pool:
            for changes in self._batches(spec, report, size):
                if report.status == "failed":
                    break
                if self.dry_run:
                    self.progress.advance(spec, len(changes))
                    continue
                if isinstance(http, HttpClient) and http.breaker.open:
                    self._leave(spec, report, changes)
                    continue
                inflight[pool.submit(matching.send, destination, spec, changes)] = changes
                while len(inflight) >= limit * 2:
                    self._drain(spec, report, inflight)
            while inflight:
                self._drain(spec, report, inflight)
        if report.status == "running":
            report.status = "partial" if report.unresolved else "success"
            if report.status == "success" and spec.fetch_mode == "incremental":
                report.watermark = stats.high_water or watermark
        if report.status == "partial":
            tripped = f"{http.breaker.describe()}; " if isinstance(http, HttpClient) and http.breaker.open else ""
            report.message = hidden(spec, f"{tripped}{report.unresolved} row(s) not delivered this time; the next push sends them again")
            logger.warning("%s: %s", spec.label, report.message)

    def _batches(self, spec: SyncSpec, report: SyncReport, size: int) -> Iterator[list[Change]]:
        """Changes in batches of ``size``; rejects the diff found are committed on the way."""
        pending: list[Change] = []
        for page in self.warehouse.iter_changes(spec, max(size, PAGE_ROWS)):
            planned_rejects = []
            held = self.held.get(spec.sync_id) or {}
            for row in page:
                if held and row.key in held:
                    report.held[held[row.key]] = report.held.get(held[row.key], 0) + 1
                    report.acted += 1
                    report.counts["unchanged"] = report.counts["read"] - report.acted
                    continue
                decided = plan.decide(spec, row)
                if decided is not None and row.status != "removed":
                    report.acted += 1
                    report.counts["unchanged"] = report.counts["read"] - report.acted
                if decided is None:
                    continue
                if isinstance(decided, plan.PlannedReject):
                    planned_rejects.append(decided)
                else:
                    report.planned[decided.op] = report.planned.get(decided.op, 0) + 1
                    if len(report.samples) < self.samples:
                        report.samples.append({"op": decided.op, "key": decided.key, "fields": decided.fields})
                    pending.append(decided)
            if planned_rejects:
                self._commit_rejects(spec, report, planned_rejects)
            while len(pending) >= size:
                yield pending[:size]
                pending = pending[size:]
        if pending:
            yield pending

    def _commit_rejects(self, spec: SyncSpec, report: SyncReport, rejects: list[plan.PlannedReject]) -> None:
        self._emit_rejects(spec, ((r.key, r.operation, r.code, r.message) for r in rejects))
        report.counts["rejected"] += len(rejects)
        report.planned["reject"] = report.planned.get("reject", 0) + len(rejects)
        report.note_rejects((r.key, r.message) for r in rejects)
        if not self.dry_run:
            rows = [[r.key, r.operation, r.code, r.message] for r in rejects]
            self.warehouse.commit(spec, self.run_id, [], rows, self._progress_row(report))
        self.progress.advance(spec, len(rejects))

    def _drain(self, spec: SyncSpec, report: SyncReport, inflight: dict[Future[BatchResult], list[Change]]) -> None:
        """Commit every batch that has come back, whatever order they were sent in, in one
        transaction: while a commit runs, more batches finish, so commits keep up."""
        done, _ = wait(inflight, return_when=FIRST_COMPLETED)
        batches = [(future, inflight.pop(future)) for future in done]
        fresh = {change.key for _, changes in batches for change in changes if not change.in_state}
        self._commit_result(spec, report, merged([outcome_of(future, changes) for future, changes in batches]), fresh)

    def _leave(self, spec: SyncSpec, report: SyncReport, changes: list[Change]) -> None:
        """Not sent at all (the breaker is open): left for the next push."""
        report.unresolved += len(changes)
        self.progress.advance(spec, len(changes))

    def _commit_result(self, spec: SyncSpec, report: SyncReport, result: BatchResult, fresh: set[str] | frozenset[str] = frozenset()) -> None:
        """Count and commit a batch's result; ``fresh`` are keys the state did not hold before."""
        counts = report.counts
        for ack in result.acked:
            counts[ack.outcome] = counts.get(ack.outcome, 0) + 1
        counts["rejected"] += len(result.rejected)
        self._count_requests(spec, report, result)
        report.unresolved += len(result.unresolved)
        for reason in result.unresolved[:3]:
            logger.warning("%s: left for the next push: %s", spec.label, hidden(spec, reason))
        rejects = [[r.key, r.operation, r.code, hidden(spec, r.message)] for r in result.rejected]
        report.note_rejects((key, f"{code}: {message}") for key, _, code, message in rejects)
        self._emit_rejects(spec, (tuple(row) for row in rejects))
        outcomes = [a.outcome for a in result.acked]
        events.emit(
            "batch_done", f"{spec.label}: batch of {len(outcomes) + len(result.rejected) + len(result.unresolved)} done",
            sync_id=spec.sync_id, run_id=self.run_id, created=outcomes.count("created"), updated=outcomes.count("updated"),
            deleted=outcomes.count("deleted"), rejected=len(result.rejected), unresolved=len(result.unresolved),
            requests=result.requests,
        )
        if result.fatal:
            report.status, report.message = "failed", hidden(spec, result.fatal)
        acks = [[a.key, a.row_hash, a.destination_id, a.outcome != "deleted" or spec.insert_mode == "delete", a.key not in fresh]
                for a in result.acked]
        self.warehouse.commit(spec, self.run_id, acks, rejects, self._progress_row(report))
        self.progress.advance(spec, len(result.acked) + len(result.rejected) + len(result.unresolved))

    def _count_requests(self, spec: SyncSpec, report: SyncReport, result: BatchResult) -> None:
        """Every try put on the wire (from the connection's meter), else what the batch counted."""
        meter = self._meters.get(spec.sync_id)
        if meter is None:
            report.counts["requests"] += result.requests
        else:
            report.counts["requests"] = meter[0].attempts - meter[1]

    def _emit_rejects(self, spec: SyncSpec, rejects: Iterable[tuple[str | None, str, str, str]]) -> None:
        for key, operation, code, message in rejects:
            events.emit(
                "reject", f"{spec.label}: rejected {key}: {code}: {message}", sync_id=spec.sync_id, run_id=self.run_id,
                record_key=key, operation=operation, error_code=code, error_message=message,
            )

    def _progress_row(self, report: SyncReport) -> dict[str, Any] | None:
        """The runs row to write with a batch: at most once every ``RUN_ROW_SECONDS`` (it shows
        a running push's progress; the state itself is committed with every batch, and the
        finished row is always written)."""
        now = time.monotonic()
        if now - report.run_row_at < RUN_ROW_SECONDS:
            return None
        report.run_row_at = now
        return self._run_row(report)

    def _run_row(self, report: SyncReport, finished: bool = False) -> dict[str, Any]:
        return {
            **report.counts,
            "status": report.status,
            "started_at": report.started_at,
            "finished_at": utc_now() if finished else None,
            "watermark": report.watermark,
            "message": report.message,
        }

    def _record(self, spec: SyncSpec, report: SyncReport, finished: bool = False) -> None:
        if not self.dry_run:
            self.warehouse.commit(spec, self.run_id, [], [], self._run_row(report, finished))

    def _close(self, spec: SyncSpec, report: SyncReport) -> None:
        if spec.sync_id in self._meters:
            self._count_requests(spec, report, BatchResult())
        if report.status == "running":
            report.status = "failed"
        try:
            self._record(spec, report, finished=True)
            self.warehouse.drop_changes(spec)
        except WarehouseError as exc:
            report.status, report.message = "failed", str(exc)
        events.emit(
            "sync_finished", f"{spec.label}: {report.status}", logging.WARNING if report.status == "failed" else logging.INFO,
            sync_id=spec.sync_id, sync=spec.label, run_id=self.run_id, status=report.status, **report.counts,
            unresolved=report.unresolved, seconds=round(report.seconds, 3), reason=report.message,
        )
        self.progress.finish(report)


def hidden(spec: SyncSpec, text: str) -> str:
    """``text`` without any secret: this connection's, and every other connection's (a CRM
    may echo anything it was sent, and error texts travel to tables, logs and output)."""
    return logs.redact(text, spec.connection.secrets | logs.REDACTOR.secrets)


def outcome_of(future: Future[BatchResult], changes: list[Change]) -> BatchResult:
    """A batch's result; a whole-batch transient failure leaves its records for next time,
    a fatal one stops the sync."""
    try:
        return future.result()
    except TransientDestinationError as exc:
        return BatchResult(unresolved=[f"{change.key}: {exc}" for change in changes])
    except FatalDestinationError as exc:
        return BatchResult(fatal=str(exc))


def merged(results: list[BatchResult]) -> BatchResult:
    """Several batches' results as one (acknowledged, rejected and unresolved records,
    requests, the first fatal error)."""
    if len(results) == 1:
        return results[0]
    total = BatchResult()
    for result in results:
        total.acked.extend(result.acked)
        total.rejected.extend(result.rejected)
        total.unresolved.extend(result.unresolved)
        total.requests += result.requests
        total.fatal = total.fatal or result.fatal
    return total
