"""Salesforce Bulk API 2.0: one ingest job per operation of a big chunk of changes.

The steps (Bulk API 2.0 Developer Guide): ``POST /jobs/ingest`` ``{object, operation,
externalIdFieldName, contentType: CSV, lineEnding: LF}``; ``PUT /jobs/ingest/<id>/batches``
with the CSV; ``PATCH /jobs/ingest/<id>`` ``{"state": "UploadComplete"}``; poll
``GET /jobs/ingest/<id>`` until ``JobComplete``, ``Failed`` or ``Aborted``. A job that ends
``Failed`` or ``Aborted`` may still have committed rows, so every finished job's three result
sets are read (``Accept: text/csv``): ``successfulResults/`` (``sf__Id``, ``sf__Created``, the
row as sent) are acknowledged, ``failedResults/`` (``sf__Id``, ``sf__Error``, the row as sent)
rejected, ``unprocessedrecords/`` (the row as sent) left for the next push. Results are matched
to changes by the row as sent, since Salesforce does not keep the upload's order.

A row whose outcome no readable result set tells (a set that could not be read, a job that
did not finish in time and was aborted) is "unknown": an upsert, update or delete is left for
the next push (sending it again is harmless); an insert is never sent again blindly: it is
looked up by its External ID (``upsert_key``) and acknowledged (``updated``: the look-up cannot
tell that the job created it) when one record carries it. A job whose status cannot be read
is polled again until ``bulk_timeout``, then aborted and settled the same way.
That is why inserts use a job only when every row carries an External ID; other inserts go
through sObject Collections, answered in the same request.

CSV: a dotted field path is a column of that name (``Account.Ext__c`` is how Bulk names a
relationship by external id); an empty cell leaves the field alone, ``#N/A`` blanks it (sent
for a null under ``nulls: overwrite``). Waiting between polls goes through the HTTP client's
``sleep``, so tests and benchmarks can replace it.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import time
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dbt_revsync.crms.salesforce import facts
from dbt_revsync.errors import TransientDestinationError
from dbt_revsync.model import BatchResult, Change, SyncSpec

if TYPE_CHECKING:
    from dbt_revsync.crms.salesforce.connector import SalesforceDestination

__all__ = [
    "BulkJob",
    "cell",
    "checkable",
    "DONE_STATES",
    "flatten",
    "NULL",
    "OPERATIONS",
    "parse_error",
    "send_bulk",
]

logger = logging.getLogger(__name__)

OPERATIONS = {"create": "insert", "upsert": "upsert", "update": "update", "delete": "delete"}
DONE_STATES = facts.BULK_DONE_STATES
NULL = "#N/A"
_ERROR = re.compile(r"^(?P<code>[A-Z_]+):(?P<message>.*?)(?::(?P<fields>[^:]*) --)?$", re.DOTALL)


def send_bulk(dest: SalesforceDestination, spec: SyncSpec, changes: Sequence[Change], result: BatchResult) -> None:
    """One job per operation among ``changes``; acks and rejects go into ``result``.

    Inserts go through a job only when each row carries an External ID the connector can look
    up (``checkable``): an insert job whose outcome cannot be read is then checked by SOQL
    before anything is sent again. Inserts without one go through sObject Collections, whose
    answer is read in the same request."""
    for op in ("create", "upsert", "update", "delete"):
        group = [c for c in changes if c.op == op]
        if op in ("update", "delete") and group:
            group = dest.with_ids(spec, group, result)
        if not group:
            continue
        if op == "create" and not checkable(spec, group):
            for start in range(0, len(group), facts.COLLECTION_SIZE):
                dest.send_collections(spec, group[start : start + facts.COLLECTION_SIZE], result)
            continue
        BulkJob(dest, spec, op, group, result).run()


def checkable(spec: SyncSpec, changes: Sequence[Change]) -> bool:
    """Every row sends a value of the sync's External ID field (``upsert_key``), so a record the
    job may have created can be found again by it."""
    key = spec.upsert_key
    if not key or key.upper() == facts.RECORD_ID_FIELD.upper():
        return False
    return all(flatten(c.fields).get(key) not in (None, "") for c in changes)


class BulkJob:
    """One ingest job: upload, close, wait, read every result set back."""

    def __init__(
        self, dest: SalesforceDestination, spec: SyncSpec, op: str, changes: list[Change], result: BatchResult
    ) -> None:
        self.dest, self.spec, self.op, self.changes, self.result = dest, spec, op, changes, result
        self.columns = _columns(spec, op, changes)

    def run(self) -> None:
        job_id = self._open()
        if job_id is None:
            return
        upload = self.dest.call(
            self.result, "PUT", f"jobs/ingest/{job_id}/batches", data=self.csv(), content_type="text/csv"
        )
        if not upload.ok:
            self._reject_all(upload)
            return
        closed = self.dest.call(self.result, "PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"})
        if not closed.ok:
            self._reject_all(closed)
            return
        info = self._wait(job_id)
        if info.get("state") not in DONE_STATES:
            self._settle_unknown(
                self.changes, f"bulk job {job_id} did not finish within bulk_timeout (state {info.get('state')})"
            )
            return
        if info.get("state") != "JobComplete":
            logger.warning(
                "%s: bulk job %s ended %s: %s",
                self.spec.label,
                job_id,
                info.get("state"),
                info.get("errorMessage") or "",
            )
        self._read_results(job_id, info)

    def _open(self) -> str | None:
        body: dict[str, Any] = {
            "object": self.spec.object,
            "operation": OPERATIONS[self.op],
            "contentType": "CSV",
            "lineEnding": "LF",
        }
        if self.op == "upsert":
            body["externalIdFieldName"] = self.spec.upsert_key
        reply = self.dest.call(self.result, "POST", "jobs/ingest", json=body)
        job = reply.json() if reply.ok else None
        if not isinstance(job, dict) or not job.get("id"):
            self._reject_all(reply)
            return None
        logger.info(
            "%s: bulk %s job %s for %d rows", self.spec.label, OPERATIONS[self.op], job["id"], len(self.changes)
        )
        return str(job["id"])

    def _wait(self, job_id: str) -> dict[str, Any]:
        """The job's info once it is finished; past ``bulk_timeout`` the job is aborted (so it
        commits nothing more) and its info returned as it then stands. A poll that fails (its
        retries spent) is not the end: the job runs on and may commit rows, so it is polled
        again until the deadline, then aborted and settled like any other."""
        setting = self.dest.connection.setting
        pause = float(setting("bulk_poll_seconds", 2.0))
        deadline = time.monotonic() + float(setting("bulk_timeout", 1800))
        while True:
            try:
                reply = self.dest.call(self.result, "GET", f"jobs/ingest/{job_id}")
            except TransientDestinationError as exc:
                if self.dest.http.breaker.open:
                    raise  # nothing more goes out: not even the abort
                logger.warning("%s: bulk job %s: status not read (%s): asked again", self.spec.label, job_id, exc)
                reply = None
            info = reply.json() if reply is not None and reply.ok else None
            if isinstance(info, dict) and info.get("state") in DONE_STATES:
                return info
            if time.monotonic() > deadline:
                aborted = self.dest.call(self.result, "PATCH", f"jobs/ingest/{job_id}", json={"state": "Aborted"})
                after = aborted.json() if aborted.ok else None
                return after if isinstance(after, dict) else {"state": "unknown"}
            self.dest.http.sleep(pause)
            pause = min(pause * 1.5, 30.0)

    def _read_results(self, job_id: str, info: Mapping[str, Any]) -> None:
        """Every result set of a finished job, whatever its state: successful rows are
        acknowledged, failed rows rejected, unprocessed rows left for the next push. Rows whose
        outcome no readable set tells are settled by ``_settle_unknown``."""
        waiting = self._by_row()
        unread = []
        for kind in facts.BULK_RESULT_SETS:
            try:
                reply = self.dest.call(
                    self.result, "GET", f"jobs/ingest/{job_id}/{kind}/", accept=facts.BULK_RESULTS_MEDIA_TYPE
                )
            except TransientDestinationError as exc:  # retries spent: this set stays unread
                unread.append(f"{kind}: {exc}")
                continue
            if not reply.ok:
                unread.append(f"{kind} answered {reply.status}")
                continue
            for row in csv.DictReader(io.StringIO(reply.text)):
                queue = waiting.get(tuple(row.get(column, "") for column in self.columns))
                if not queue:
                    continue
                change = queue.popleft()
                if kind == "successfulResults":
                    self._ack(change, row)
                elif kind == "failedResults":
                    code, message = parse_error(row.get("sf__Error", ""))
                    self.result.reject(change, code, message)
                else:
                    why = info.get("errorMessage") or f"the job ended {info.get('state')}"
                    self.result.leave(change, f"not processed by bulk job {job_id} ({why}): sent again next push")
        rest = [c for queue in waiting.values() for c in queue]
        if rest:
            what = "; ".join(unread) or "in none of its result sets"
            self._settle_unknown(rest, f"the outcome of bulk job {job_id} is unknown ({what})")

    def _settle_unknown(self, changes: list[Change], why: str) -> None:
        """Rows a job may or may not have committed. Sending an upsert, update or delete again
        is harmless: they are left for the next push. An insert is never sent again blindly:
        its rows are looked up by their External ID; one record found is acknowledged as
        ``updated`` (the look-up cannot tell this job made it), none is left (nothing was
        committed), several are rejected."""
        if self.op != "create":
            for change in changes:
                self.result.leave(change, f"{why}: sent again next push")
            return
        key = str(self.spec.upsert_key)
        values = {str(flatten(c.fields)[key]) for c in changes}
        found = self.dest.find_ids(self.spec, sorted(values), self.result)
        for change in changes:
            ids = found.get(str(flatten(change.fields)[key]), [])
            if len(ids) == 1:  # a record that carries the key, perhaps made before this job: matched, not created
                self.result.ack(change, ids[0], "updated")
            elif not ids:
                self.result.leave(
                    change,
                    f"{why}; no {self.spec.object} carries {key} = {flatten(change.fields)[key]!r}: sent again "
                    "next push",
                )
            else:
                self.result.reject(
                    change,
                    "multiple_matches",
                    f"{why}; {len(ids)} records ({', '.join(ids)}) carry {key} = {flatten(change.fields)[key]!r}",
                )

    def _ack(self, change: Change, row: Mapping[str, str]) -> None:
        """A successful result row: ``created`` for an insert, or an upsert whose
        ``sf__Created`` is true; an insert or upsert row without ``sf__Id`` is left."""
        if self.op in ("create", "upsert") and not row.get("sf__Id"):
            self.result.leave(change, "a successful result row of the bulk job without sf__Id: sent again next push")
            return
        if self.op == "upsert":
            outcome = "created" if row.get("sf__Created", "").lower() == "true" else "updated"
        else:
            outcome = {"create": "created", "update": "updated", "delete": "deleted"}[self.op]
        self.result.ack(change, row.get("sf__Id") or change.remote_id, outcome)

    def _by_row(self) -> dict[tuple[str, ...], deque[Change]]:
        waiting: dict[tuple[str, ...], deque[Change]] = defaultdict(deque)
        for change, row in zip(self.changes, self._rows()):
            waiting[tuple(row)].append(change)
        return waiting

    def _rows(self) -> Iterator[list[str]]:
        for change in self.changes:
            if self.op == "delete":
                yield [str(change.remote_id)]
                continue
            flat = flatten(change.fields)
            if self.op == "update":
                flat["Id"] = change.remote_id
            yield [cell(flat, column) for column in self.columns]

    def csv(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self._rows())
        return out.getvalue().encode("utf-8")

    def _reject_all(self, reply: Any) -> None:
        from dbt_revsync.destinations.base import unconfirmed

        if reply.ok:  # a 2xx without what the step needs (the job's id): nothing was confirmed
            for change in self.changes:
                self.result.leave(change, unconfirmed(reply, "the bulk job's answer"))
            return
        code, message = facts.error_of(reply)
        for change in self.changes:
            self.result.reject(change, code, message)


def _columns(spec: SyncSpec, op: str, changes: Sequence[Change]) -> list[str]:
    if op == "delete":
        return ["Id"]
    seen: dict[str, None] = {"Id": None} if op == "update" else {}
    for change in changes:
        for name in flatten(change.fields):
            seen.setdefault(name, None)
    return list(seen)


def flatten(fields: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"Account": {"Ext__c": 1}}`` -> ``{"Account.Ext__c": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in fields.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def cell(flat: Mapping[str, Any], column: str) -> str:
    if column not in flat:
        return ""
    value = flat[column]
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value))  # multi-select picklists
    return str(value)


def parse_error(text: str) -> tuple[str, str]:
    """``sf__Error`` as (statusCode, message).

    e.g. ``REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --``."""
    found = _ERROR.match(text.strip())
    if not found:
        return "BULK_ERROR", text.strip() or "failed"
    message = found.group("message").strip()
    fields = (found.group("fields") or "").strip()
    if fields and fields not in message:
        message = f"{message} (fields: {fields})"
    return found.group("code"), message
