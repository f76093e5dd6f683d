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

A sync whose every answer so far is the same failure is stopped as misconfigured: every
request refused a connection, or the first rows all rejected for one reason (see
``SameFailure``). An interrupted push (``Pusher.stop`` set, on Ctrl-C) sends nothing more,
commits the batches that come back, and records the run as ``interrupted``.

A finished sync's ``status`` (the runs table, the JSON events and the summary say the same):

- ``success``: every change delivered;
- ``rejected``: the CRM (or the diff) rejected some rows, every other one was delivered;
- ``partial``: some rows were left for the next push (retries ran out, the breaker opened);
- ``failed``: the sync stopped (401/403, a misconfiguration, the warehouse), or nothing at
  all was delivered;
- ``interrupted``: the push was interrupted; what was acknowledged is committed;
- ``held``: failing tests held the whole sync back (it was not pushed).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from dbt_revsync import events, logs, matching, plan
from dbt_revsync.changes import SYNC_MEMORY_LIMIT, ChangeSet
from dbt_revsync.delivery import CircuitBreaker, HttpClient, RetryPolicy
from dbt_revsync.destinations import destination_class
from dbt_revsync.destinations.base import Destination
from dbt_revsync.errors import (
    ConfigError,
    FatalDestinationError,
    RevsyncError,
    TransientDestinationError,
    WarehouseError,
)
from dbt_revsync.model import Ack, BatchResult, Change, Left, PlannedReject, SyncReport, SyncSpec, SyncStatus, utc_now
from dbt_revsync.state import RejectRow, StateRow, StateStore
from dbt_revsync.warehouse import Warehouse

__all__ = [
    "LEASE_RENEW_SECONDS",
    "MAX_LEFT_REASONS",
    "PAGE_ROWS",
    "RUN_ROW_SECONDS",
    "SAME_REJECTS_TO_STOP",
    "STOP_CHECK_SECONDS",
    "DestinationFactory",
    "DestinationPool",
    "Progress",
    "Pusher",
    "SameFailure",
    "SameFailureVerdict",
    "SyncRun",
    "address_of",
    "default_client",
    "hidden",
    "is_loopback_address",
    "merged",
    "outcome_of",
    "settled_status",
    "target_of",
]

logger = logging.getLogger(__name__)

PAGE_ROWS = 2000  # changed rows read from the warehouse per query, then cut into batches
RUN_ROW_SECONDS = 1.0  # how often a running push rewrites its revsync_runs row
LEASE_RENEW_SECONDS = 30.0  # how often a push waiting on its batches renews a lease
MAX_LEFT_REASONS = 3  # distinct reasons for leaving rows a sync logs
STOP_CHECK_SECONDS = 0.2  # how often a push waiting on its batches looks whether it was interrupted
SAME_REJECTS_TO_STOP = 10  # rows rejected one same way, none delivered: the sync is misconfigured


def settled_status(report: SyncReport) -> SyncStatus:
    """The status of a sync that ran to its end: rows left for later make it ``partial``
    (``failed`` when nothing at all was delivered), rejected rows ``rejected``."""
    counts = report.counts
    answered = counts["created"] + counts["updated"] + counts["deleted"] + counts["rejected"]
    if report.left:
        return SyncStatus.PARTIAL if answered else SyncStatus.FAILED
    return SyncStatus.REJECTED if counts["rejected"] else SyncStatus.SUCCESS


class Progress:
    """Hooks the command line uses to draw progress; the default draws nothing.

    ``phase`` says what a sync (None: the push, before any sync) is doing before its changes
    are known (dbt starting, the diff running in the warehouse); ``start`` gives the number of
    changes to send (0: nothing to draw); ``close`` comes once, when the push is over."""

    def phase(self, spec: SyncSpec | None, text: str) -> None: ...
    def close(self) -> None: ...
    def start(self, spec: SyncSpec, total: int) -> None: ...
    def grow(self, spec: SyncSpec, rows: int) -> None: ...
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
        # a pace of the user's own replaces the vendor's published windows (the sandbox, a proxy)
        windows={} if conn.rate_limit else cls.windows(conn),
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
    stop: threading.Event = field(default_factory=threading.Event)  # set on Ctrl-C: send nothing more

    def __post_init__(self) -> None:
        self.state = StateStore(self.warehouse)

    def push_all(self, specs: Iterable[SyncSpec]) -> list[SyncReport]:
        self.state.ensure()
        reports = []
        for spec in specs:
            if self.stop.is_set():
                reports.append(
                    SyncReport(spec, status=SyncStatus.INTERRUPTED, message="not started: the push was interrupted")
                )
                continue
            reports.append(self.push(spec))
        return reports

    def push(self, spec: SyncSpec) -> SyncReport:
        return SyncRun(self, spec).run()


def target_of(spec: SyncSpec, destination: Destination) -> str:
    """What a sync's state belongs to besides the sync: the connection (name, type and the
    account's host) and the object. ``freshsales:crm@acme.myfreshworks.com/contacts``."""
    try:
        host = urlsplit(destination.root).netloc.lower()
    except (NotImplementedError, ValueError):
        host = ""
    conn = spec.connection
    return f"{conn.type}:{conn.name}@{host}/{spec.object}"


class SyncRun:
    """One sync's push, as a straight line: lock, diff, send in batches, commit what came
    back; for ``mirror``, the records whose rows left the model only after the rest is
    committed. A failure of this sync is recorded in its report and never raised."""

    def __init__(self, pusher: Pusher, spec: SyncSpec) -> None:
        self.pusher, self.spec = pusher, spec
        self.state = pusher.state
        self.report = SyncReport(spec)
        self.target = ""
        self.http: HttpClient | None = None
        self.attempts_before = 0
        self.held: Any = None  # the lowest incremental value of a row not acknowledged
        self.changes: ChangeSet | None = None
        self.address = ""  # host:port of the destination, for messages
        self.same = SameFailure()
        self.told: set[str] = set()  # the reasons for leaving rows already logged: each once

    @property
    def label(self) -> str:
        return self.spec.label

    def run(self) -> SyncReport:
        spec, report, pusher = self.spec, self.report, self.pusher
        started = time.monotonic()
        events.emit(
            "sync_started",
            f"{spec.label}: started",
            sync_id=spec.sync_id,
            sync=spec.label,
            model=spec.node.name,
            destination=spec.connection.name,
            object=spec.object,
            insert_mode=spec.insert_mode,
            fetch_mode=spec.fetch_mode,
            run_id=pusher.run_id,
            dry_run=pusher.dry_run,
        )
        locked = False
        try:
            destination = pusher.destinations(spec)
            self.target = target_of(spec, destination)
            self.address = address_of(destination)
            with (
                self.state.lock(spec, holder=f"{pusher.run_id}:{spec.sync_id}"),
                pusher.warehouse.bounded_memory(SYNC_MEMORY_LIMIT),
            ):
                locked = True
                try:
                    self._push(destination)
                except Exception as exc:  # one sync's failure never stops the others
                    self._fail(exc)
                self._count_unsent()
                report.seconds = time.monotonic() - started
                self._close(drop=True)
        except Exception as exc:
            self._fail(exc)
            if not locked:
                report.seconds = time.monotonic() - started
                self._close(drop=False)
        self.pusher.progress.finish(report)
        return report

    def _fail(self, exc: Exception) -> None:
        if isinstance(exc, RevsyncError):
            message = str(exc)
        else:
            logger.debug("%s: unexpected error", self.label, exc_info=True)
            message = f"unexpected error: {type(exc).__name__}: {exc}"
        self.report.status, self.report.message = SyncStatus.FAILED, hidden(self.spec, message)
        self.report.config_error = isinstance(exc, ConfigError)
        logger.warning("%s: %s", self.label, self.report.message)

    def _push(self, destination: Destination) -> None:
        spec, report, pusher = self.spec, self.report, self.pusher
        if not pusher.dry_run:
            self.state.claim_legacy(spec, self.target)
            self.state.compact(spec)
        watermark = self.state.last_watermark(spec, self.target) if spec.fetch_mode == "incremental" else None
        changes = ChangeSet(pusher.warehouse, spec, self.target)
        self.changes = changes
        pusher.progress.phase(spec, "reading changes")
        if not pusher.dry_run:
            self._upgrade_row_hashes(changes)
        # the model and the state are compared first only where the last run found nothing to send:
        # a sync whose rows change on every run would pay for the comparison and the diff both
        quiet = not pusher.full_refresh and self.state.last_run_found_nothing(spec, self.target)
        stats = changes.build(full_refresh=pusher.full_refresh, watermark=watermark, compare_first=quiet)
        report.changes = stats.changes
        report.watermark = watermark
        report.counts["read"] = stats.read
        report.counts["unchanged"] = stats.read
        if pusher.full_refresh and spec.insert_mode == "append":
            logger.warning(
                "%s: append never creates a record twice: --full-refresh sends nothing already created", spec.label
            )
        self._record()
        pusher.progress.start(spec, stats.changes)
        http = getattr(destination, "http", None)
        if isinstance(http, HttpClient):
            http.breaker.reset()
            self.http, self.attempts_before = http, http.attempts
        if not pusher.dry_run:
            destination.prepare(spec)
        size = destination.batch_size_for(spec, stats.changes)
        self.send(destination, changes, size)
        mirror = spec.insert_mode == "mirror" and not stats.agreed  # agreed: no remembered record left the model
        if mirror and report.status == SyncStatus.RUNNING and self._deletes_are_safe():
            removed = changes.build_removed()
            report.changes += removed
            pusher.progress.grow(spec, removed)
            self.send(destination, changes, size)
        self._settle(stats.high_water, watermark)

    def _upgrade_row_hashes(self, changes: ChangeSet) -> None:
        """Older row hashes rewritten in place; a failure only costs the diff a little more."""
        try:
            if changes.upgrade_row_hashes():
                logger.info("%s: row hashes of an older version rewritten in the state; nothing resent", self.label)
        except WarehouseError as exc:
            logger.warning("%s: could not rewrite older row hashes (the diff still reads them): %s", self.label, exc)

    def _deletes_are_safe(self) -> bool:
        """Mirror's deletes wait for a push whose current rows all went through: a row left for
        later or held back may be a re-keyed row whose record would look abandoned, and without
        an upsert key a rejected row's record cannot be told from one nobody points at."""
        report, spec = self.report, self.spec
        waiting = report.left + sum(report.held.values())
        if waiting or (report.counts["rejected"] and not spec.upsert_key):
            why = (
                f"{waiting} row(s) not delivered or held back"
                if waiting
                else f"{report.counts['rejected']} row(s) rejected"
            )
            logger.warning(
                "%s: mirror deletes nothing this push: %s; the next push that delivers every row does", spec.label, why
            )
            return False
        return True

    def _settle(self, high_water: str | None, watermark: str | None) -> None:
        """The run's status, and for incremental syncs a watermark that never passes a row
        that was not acknowledged (rejected or left for later): those rows are read again."""
        report, spec = self.report, self.spec
        if report.status != SyncStatus.RUNNING:
            return
        report.status = settled_status(report)
        if spec.fetch_mode == "incremental":
            report.watermark = str(self.held) if self.held is not None else (high_water or watermark)
        if report.kept:
            logger.warning(
                "%s: %d record(s) whose rows left the model left in the CRM: the sync did not create them "
                "(or cannot show it did), or a current row points at them",
                spec.label,
                report.kept,
            )
        if report.left:
            http = self.http
            tripped = f"{http.breaker.describe()}; " if http is not None and http.breaker.open else ""
            spent = http.budget_spent if http is not None else None
            tripped += f"{spent}, so this push stopped sending; " if spent else ""
            report.message = hidden(
                spec, f"{tripped}{report.left} row(s) not delivered this time; the next push sends them again"
            )
            logger.warning("%s: %s", spec.label, report.message)

    def send(self, destination: Destination, changes: ChangeSet, size: int) -> None:
        """Every batch of the change set, on up to ``max_concurrency`` threads, each
        committed as it comes back; returns when all are committed."""
        spec, report, pusher = self.spec, self.report, self.pusher
        inflight: dict[Future[BatchResult], list[Change]] = {}
        limit = max(1, spec.connection.max_concurrency)
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="revsync-send") as pool:
            try:
                for batch in self._batches(changes, size):
                    if pusher.stop.is_set():
                        self._interrupt()
                    if report.status in (SyncStatus.FAILED, SyncStatus.INTERRUPTED):
                        break
                    if pusher.dry_run:
                        self._advance(len(batch))
                        continue
                    if self.http is not None and (self.http.breaker.open or self.http.budget_spent):
                        self._leave(batch)  # the breaker is open or the vendor's budget spent: not sent at all
                        continue
                    inflight[pool.submit(matching.send, destination, spec, batch)] = batch
                    while len(inflight) >= limit * 2:
                        self._drain(inflight)
            except Exception:
                self._commit_inflight(inflight)
                raise
            while inflight:
                self._drain(inflight)

    def _commit_inflight(self, inflight: dict[Future[BatchResult], list[Change]]) -> None:
        """The send loop failed (a page could not be read, a commit refused): the batches already
        on the wire may be acknowledged by the CRM, so each is still awaited and committed, lest
        the next push send them again. A commit that fails here too is logged and the others are
        still tried; the loop's own error is what the sync reports."""
        while inflight:
            waiting = len(inflight)
            try:
                self._drain(inflight)
            except Exception as exc:
                logger.warning("%s: a batch sent before the failure could not be committed: %s", self.label, exc)
                logger.debug("%s: commit after the failure", self.label, exc_info=True)
                if len(inflight) == waiting:  # failed before taking any batch: it would fail again
                    return

    def _batches(self, changes: ChangeSet, size: int) -> Iterator[list[Change]]:
        """Changes in batches of ``size``; rejects the diff found, and records to forget
        without sending, are committed on the way."""
        spec, report = self.spec, self.report
        pending: list[Change] = []
        held = self.pusher.held.get(spec.sync_id) or {}
        for page in changes.pages(max(size, PAGE_ROWS)):
            planned_rejects: list[PlannedReject] = []
            forgotten: list[StateRow] = []
            for row in page:
                if (
                    held
                    and row.key is not None
                    and row.key in held
                    and row.status not in ("forget", "handover", "removed")
                ):
                    report.held[held[row.key]] = report.held.get(held[row.key], 0) + 1
                    report.acted += 1
                    report.counts["unchanged"] = report.counts["read"] - report.acted
                    self._hold(row.incremental_value)
                    continue
                if row.status in ("forget", "handover"):
                    forgotten.append(
                        StateRow(str(row.key), None, row.remote_id, row.origin, row.upsert_value, False, True)
                    )
                    report.kept += row.status == "forget"
                    continue
                decided = plan.decide(spec, row)
                if decided is not None and row.status != "removed":
                    report.acted += 1
                    report.counts["unchanged"] = report.counts["read"] - report.acted
                if decided is None:
                    continue
                if isinstance(decided, PlannedReject):
                    planned_rejects.append(decided)
                    self._hold(row.incremental_value)
                else:
                    report.planned[decided.op] = report.planned.get(decided.op, 0) + 1
                    if len(report.samples) < self.pusher.samples:
                        report.samples.append({"op": decided.op, "key": decided.key, "fields": decided.fields})
                    pending.append(decided)
            if planned_rejects or forgotten:
                self._commit_planned(planned_rejects, forgotten)
            while len(pending) >= size:
                yield pending[:size]
                pending = pending[size:]
        if pending:
            yield pending

    def _commit_planned(self, rejects: list[PlannedReject], forgotten: list[StateRow]) -> None:
        """Rejects the diff found, and state rows of records left alone, committed unsent."""
        spec, report, pusher = self.spec, self.report, self.pusher
        self._emit_rejects(RejectRow(r.key, r.operation, r.code, r.message) for r in rejects)
        report.counts["rejected"] += len(rejects)
        if rejects:
            report.planned["reject"] = report.planned.get("reject", 0) + len(rejects)
        if forgotten:
            report.planned["keep"] = report.planned.get("keep", 0) + len(forgotten)
        report.note_rejects((r.key, r.message) for r in rejects)
        if not pusher.dry_run:
            rows = [RejectRow(r.key, r.operation, r.code, r.message) for r in rejects]
            self.state.hand_over(
                spec, self.target, [f.destination_id for f in forgotten if f.origin == "created" and f.destination_id]
            )
            self.state.commit(spec, self.target, pusher.run_id, forgotten, rows, self._progress_row())
        self._advance(len(rejects) + len(forgotten))

    def _drain(self, inflight: dict[Future[BatchResult], list[Change]]) -> None:
        """Commit every batch that has come back, whatever order they were sent in, in one
        transaction: while a commit runs, more batches finish, so commits keep up."""
        done: set[Future[BatchResult]] = set()
        renewed = time.monotonic()
        while not done:  # a long wait (retries, a bulk job) keeps the sync's lease alive
            done, _ = wait(inflight, timeout=STOP_CHECK_SECONDS, return_when=FIRST_COMPLETED)
            if self.pusher.stop.is_set():
                self._interrupt()
            if time.monotonic() - renewed >= LEASE_RENEW_SECONDS:
                self.state.renew()
                renewed = time.monotonic()
        batches = [(future, inflight.pop(future)) for future in done]
        sent = {change.key: change for _, batch in batches for change in batch}
        self._commit_result(merged([outcome_of(future, batch) for future, batch in batches]), sent)

    def _leave(self, batch: list[Change]) -> None:
        """Not sent at all (the breaker is open, or the vendor's rate budget spent): left for the next push."""
        self.report.left += len(batch)
        for change in batch:
            self._hold(change.incremental_value)
        self._advance(len(batch))

    def _advance(self, rows: int, shown: int | None = None) -> None:
        self.report.done += rows
        self.pusher.progress.advance(self.spec, rows if shown is None else shown)

    def _interrupt(self) -> None:
        """Ctrl-C: nothing more is sent (the connection's requests not yet on the wire give
        up); the batches in flight still come back and are committed."""
        if self.report.status == SyncStatus.INTERRUPTED:
            return
        if self.http is not None:
            self.http.stop()
        if self.report.status == SyncStatus.RUNNING:
            self.report.status = SyncStatus.INTERRUPTED

    def _count_unsent(self) -> None:
        """A sync stopped early (interrupted, failed): its changes never sent are left for the
        next push, and its message says how far it got."""
        report = self.report
        if report.status not in (SyncStatus.INTERRUPTED, SyncStatus.FAILED) or self.pusher.dry_run:
            return
        unsent = max(0, report.changes - report.done - sum(report.held.values()))
        report.left += unsent
        if report.status == SyncStatus.INTERRUPTED:
            counts = report.counts
            answered = counts["created"] + counts["updated"] + counts["deleted"] + counts["rejected"]
            report.message = (
                f"interrupted: {answered} of {report.changes} change(s) answered and committed; "
                f"the next push sends the other {report.left}"
            )

    def _hold(self, value: Any) -> None:
        """Keep the watermark at or below ``value`` (a row that was not acknowledged)."""
        if value is None:
            return
        try:
            if self.held is None or value < self.held:
                self.held = value
        except TypeError:  # values of one column compare; anything else keeps the first
            pass

    def _commit_result(self, result: BatchResult, sent: Mapping[str, Change]) -> None:
        """Count and commit a batch's result."""
        spec, report, pusher = self.spec, self.report, self.pusher
        counts = report.counts
        for ack in result.acked:
            counts[ack.outcome] = counts.get(ack.outcome, 0) + 1
        counts["rejected"] += len(result.rejected)
        self._count_requests(result)
        report.left += len(result.left)
        self._tell_left(result)
        acknowledged = {a.key for a in result.acked}
        for key, change in sent.items():
            if key not in acknowledged:  # rejected, left, or in neither list: read again next push
                self._hold(change.incremental_value)
        rejects = [RejectRow(r.key, r.operation, r.code, hidden(spec, r.message)) for r in result.rejected]
        report.note_rejects((r.record_key, f"{r.error_code}: {r.error_message}") for r in rejects)
        self._emit_rejects(rejects)
        outcomes = [a.outcome for a in result.acked]
        events.emit(
            "batch_done",
            f"{spec.label}: batch of {len(outcomes) + len(result.rejected) + len(result.left)} done",
            sync_id=spec.sync_id,
            run_id=pusher.run_id,
            created=outcomes.count("created"),
            updated=outcomes.count("updated"),
            deleted=outcomes.count("deleted"),
            rejected=len(result.rejected),
            unresolved=len(result.left),
            requests=result.requests,
        )
        if result.fatal:
            report.status, report.message = SyncStatus.FAILED, hidden(spec, result.fatal)
        elif report.status in (SyncStatus.RUNNING, SyncStatus.INTERRUPTED):
            self._stop_if_misconfigured(result, rejects)
        acks = [self._state_row(ack, sent.get(ack.key)) for ack in result.acked]
        self.state.commit(spec, self.target, pusher.run_id, acks, rejects, self._progress_row())
        answered = len(result.acked) + len(result.rejected)
        # interrupted: the progress shows what was answered, never rows merely given up on
        self._advance(answered + len(result.left), answered if report.status == SyncStatus.INTERRUPTED else None)

    def _stop_if_misconfigured(self, result: BatchResult, rejects: list[RejectRow]) -> None:
        """Every answer so far the same failure: stop the sync, and say it is the configuration."""
        self.same.add(
            len(result.acked),
            [f"{r.error_code}: {r.error_message}" for r in rejects],
            result.left,
        )
        verdict = self.same.verdict(self.report.changes)
        if verdict is None or self.report.status != SyncStatus.RUNNING:
            return
        report, spec = self.report, self.spec
        if verdict.refused:
            where = (
                "is the sandbox (or the server meant to be there) running?"
                if is_loopback_address(self.address)
                else "is the host right, and reachable from here?"
            )
            text = (
                f"every request to {self.address} was refused: {where} "
                f"check base_url of connection '{spec.connection.name}'"
            )
        else:
            text = (
                f"all {verdict.rows} row(s) answered so far were rejected by {self.address or spec.connection.name} "
                f"the same way ({verdict.reason}): a configuration problem (the object, a mapped field or the "
                "account), not bad rows; the sync stopped, check its fields and object"
            )
        report.status, report.config_error, report.message = SyncStatus.FAILED, True, hidden(spec, text)
        logger.warning("%s: %s", spec.label, report.message)

    def _state_row(self, ack: Ack, change: Change | None) -> StateRow:
        """What the state remembers of an acknowledged record. ``created`` only when the CRM
        created it for this sync; a record matched by a key the state did not hold is
        ``matched``; a known record keeps the origin it had."""
        in_state = change.in_state if change is not None else True
        if ack.outcome == "created":
            origin: str | None = "created"
        elif change is not None and in_state and ack.destination_id == change.remote_id:
            origin = change.origin
        else:  # matched by a key, or the remembered record gone and another one matched instead
            origin = "matched"
        keep = ack.outcome != "deleted" or self.spec.insert_mode == "delete"
        upsert = change.upsert_text if change is not None else None
        return StateRow(ack.key, ack.row_hash, ack.destination_id, origin, upsert, keep, in_state)

    def _count_requests(self, result: BatchResult) -> None:
        """Every try put on the wire (from the connection's meter), else what the batch counted."""
        if self.http is None:
            self.report.counts["requests"] += result.requests
        else:
            self.report.counts["requests"] = self.http.attempts - self.attempts_before

    def _tell_left(self, result: BatchResult) -> None:
        """Why rows were left for the next push: each reason once a sync, and at most three
        (a spent budget or an open breaker leaves every later row for the same reason)."""
        if self.report.status == SyncStatus.INTERRUPTED:
            return
        for record in result.left:
            if record.reason not in self.told and len(self.told) < MAX_LEFT_REASONS:
                self.told.add(record.reason)
                logger.warning("%s: left for the next push: %s", self.label, hidden(self.spec, str(record)))

    def _emit_rejects(self, rejects: Iterable[RejectRow]) -> None:
        spec = self.spec
        for r in rejects:
            events.emit(
                "reject",
                f"{spec.label}: rejected {r.record_key}: {r.error_code}: {r.error_message}",
                sync_id=spec.sync_id,
                run_id=self.pusher.run_id,
                record_key=r.record_key,
                operation=r.operation,
                error_code=r.error_code,
                error_message=r.error_message,
            )

    def _progress_row(self) -> dict[str, Any] | None:
        """The runs row to write with a batch: at most once every ``RUN_ROW_SECONDS`` (it shows
        a running push's progress; the state itself is committed with every batch, and the
        finished row is always written)."""
        now = time.monotonic()
        if now - self.report.run_row_at < RUN_ROW_SECONDS:
            return None
        self.report.run_row_at = now
        return self._run_row()

    def _run_row(self, finished: bool = False) -> dict[str, Any]:
        report = self.report
        return {
            **report.counts,
            "status": str(report.status),
            "started_at": report.started_at,
            "finished_at": utc_now() if finished else None,
            "watermark": report.watermark,
            "message": report.message,
            "target": self.target or None,
        }

    def _record(self, finished: bool = False) -> None:
        if not self.pusher.dry_run:
            self.state.commit(self.spec, self.target, self.pusher.run_id, [], [], self._run_row(finished))

    def _close(self, drop: bool) -> None:
        """The finished runs row, and the change set dropped (only by the lock's holder)."""
        report = self.report
        if self.http is not None:
            self._count_requests(BatchResult())
        if report.status == SyncStatus.RUNNING:
            report.status = SyncStatus.FAILED
        failures: list[WarehouseError] = []
        try:
            self._record(finished=True)
        except WarehouseError as exc:
            failures.append(exc)
        if drop and self.changes is not None:  # dropped even when the runs row could not be written
            try:
                self.changes.drop()
            except WarehouseError as exc:
                failures.append(exc)
        if failures:
            report.status, report.message = SyncStatus.FAILED, hidden(self.spec, str(failures[0]))
        events.emit(
            "sync_finished",
            f"{self.label}: {report.status}",
            logging.WARNING if report.status in (SyncStatus.FAILED, SyncStatus.INTERRUPTED) else logging.INFO,
            sync_id=self.spec.sync_id,
            sync=self.label,
            run_id=self.pusher.run_id,
            status=str(report.status),
            **report.counts,
            unresolved=report.left,
            seconds=round(report.seconds, 3),
            reason=report.message,
        )


@dataclass(frozen=True)
class SameFailureVerdict:
    refused: bool  # every request was refused a connection
    reason: str
    rows: int


class SameFailure:
    """Whether every answer of a sync so far is one same failure: no row acknowledged, and
    either every row left because its request was refused a connection (one batch whose
    retries all were refused is enough), or at least ``SAME_REJECTS_TO_STOP`` rows (every row
    of a smaller sync, two at least) rejected with one same code and message."""

    def __init__(self) -> None:
        self.acked = 0
        self.reasons: set[str] = set()
        self.rejected = 0
        self.refused = 0
        self.other = 0

    def add(self, acked: int, reject_reasons: list[str], left: Sequence[Left]) -> None:
        self.acked += acked
        self.rejected += len(reject_reasons)
        self.reasons.update(reject_reasons)
        refused = sum(record.refused for record in left)
        self.refused += refused
        self.other += len(left) - refused

    def verdict(self, changes: int) -> SameFailureVerdict | None:
        if self.acked or self.other:
            return None
        if self.refused and not self.rejected:
            return SameFailureVerdict(True, "connection refused", self.refused)
        if not self.refused and len(self.reasons) == 1 and self.rejected >= max(2, min(SAME_REJECTS_TO_STOP, changes)):
            return SameFailureVerdict(False, next(iter(self.reasons)), self.rejected)
        return None


def address_of(destination: Destination) -> str:
    """``host:port`` of a destination's API root (the default port of its scheme when none)."""
    try:
        parts = urlsplit(destination.root)
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except (NotImplementedError, ValueError, AttributeError):
        return ""
    return f"{parts.hostname}:{port}" if parts.hostname else ""


def is_loopback_address(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


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
        result = BatchResult()
        for change in changes:
            result.leave(change, exc)
        return result
    except FatalDestinationError as exc:
        return BatchResult(fatal=str(exc))
    except Exception as exc:  # a connector's own bug: the batch's outcome is unknown, never acknowledged
        logger.debug("a batch failed unexpectedly", exc_info=True)
        result = BatchResult()
        for change in changes:
            result.leave(change, f"unexpected error: {type(exc).__name__}: {exc}")
        return result


def merged(results: list[BatchResult]) -> BatchResult:
    """Several batches' results as one (acknowledged, rejected and left records, requests,
    the first fatal error)."""
    if len(results) == 1:
        return results[0]
    total = BatchResult()
    for result in results:
        total.absorb(result)
    return total
