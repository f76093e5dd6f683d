"""Salesforce Bulk API 2.0: one ingest job per operation of a big chunk of changes.

The steps (docs/crm-notes.md): ``POST /jobs/ingest`` ``{object, operation, externalIdFieldName,
contentType: CSV, lineEnding: LF}``; ``PUT /jobs/ingest/<id>/batches`` with the CSV;
``PATCH /jobs/ingest/<id>`` ``{"state": "UploadComplete"}``; poll ``GET /jobs/ingest/<id>``
until ``JobComplete`` (or ``Failed``/``Aborted``); then ``successfulResults/`` (``sf__Id``,
``sf__Created``, the row as sent) are acknowledged and ``failedResults/`` (``sf__Id``,
``sf__Error``, the row as sent) rejected. Results are matched to changes by the row as sent,
since Salesforce does not promise to keep the upload's order. A row in neither list stays
uncommitted and goes again next push.

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

from dbt_revsync.config import SyncSpec
from dbt_revsync.destinations.base import BatchResult, Change
from dbt_revsync.errors import TransientDestinationError

if TYPE_CHECKING:
    from dbt_revsync.crms.salesforce.connector import SalesforceDestination

logger = logging.getLogger(__name__)

OPERATIONS = {"create": "insert", "upsert": "upsert", "update": "update", "delete": "delete"}
DONE_STATES = ("JobComplete", "Failed", "Aborted")
NULL = "#N/A"
_ERROR = re.compile(r"^(?P<code>[A-Z_]+):(?P<message>.*?)(?::(?P<fields>[^:]*) --)?$", re.DOTALL)


def send_bulk(dest: SalesforceDestination, spec: SyncSpec, changes: Sequence[Change], result: BatchResult) -> None:
    """One job per operation among ``changes``; acks and rejects go into ``result``."""
    for op in ("create", "upsert", "update", "delete"):
        group = [c for c in changes if c.op == op]
        if op in ("update", "delete") and group:
            group = dest.with_ids(spec, group, result)
        if group:
            BulkJob(dest, spec, op, group, result).run()


class BulkJob:
    """One ingest job: upload, close, wait, read the results back."""

    def __init__(self, dest: SalesforceDestination, spec: SyncSpec, op: str, changes: list[Change], result: BatchResult) -> None:
        self.dest, self.spec, self.op, self.changes, self.result = dest, spec, op, changes, result
        self.columns = _columns(spec, op, changes)

    def run(self) -> None:
        job_id = self._open()
        if job_id is None:
            return
        upload = self.dest.call(self.result, "PUT", f"jobs/ingest/{job_id}/batches", data=self.csv(), content_type="text/csv")
        if not upload.ok:
            self._reject_all(upload)
            return
        closed = self.dest.call(self.result, "PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"})
        if not closed.ok:
            self._reject_all(closed)
            return
        info = self._wait(job_id)
        if info.get("state") != "JobComplete":
            message = str(info.get("errorMessage") or f"the job ended {info.get('state')}")
            for change in self.changes:
                self.result.reject(change, "BULK_JOB_FAILED", message)
            return
        self._read_results(job_id)

    def _open(self) -> str | None:
        body: dict[str, Any] = {"object": self.spec.object, "operation": OPERATIONS[self.op], "contentType": "CSV", "lineEnding": "LF"}
        if self.op == "upsert":
            body["externalIdFieldName"] = self.spec.upsert_key
        reply = self.dest.call(self.result, "POST", "jobs/ingest", json=body)
        job = reply.json() if reply.ok else None
        if not isinstance(job, dict) or not job.get("id"):
            self._reject_all(reply)
            return None
        logger.info("%s: bulk %s job %s for %d rows", self.spec.label, OPERATIONS[self.op], job["id"], len(self.changes))
        return str(job["id"])

    def _wait(self, job_id: str) -> dict[str, Any]:
        setting = self.dest.connection.setting
        pause = float(setting("bulk_poll_seconds", 2.0))
        deadline = time.monotonic() + float(setting("bulk_timeout", 1800))
        while True:
            reply = self.dest.call(self.result, "GET", f"jobs/ingest/{job_id}")
            info = reply.json() if reply.ok else None
            if isinstance(info, dict) and info.get("state") in DONE_STATES:
                return info
            if time.monotonic() > deadline:
                raise TransientDestinationError(f"bulk job {job_id} did not finish within bulk_timeout; its rows go again next push")
            self.dest.http.sleep(pause)
            pause = min(pause * 1.5, 30.0)

    def _read_results(self, job_id: str) -> None:
        waiting = self._by_row()
        for kind in ("successfulResults", "failedResults"):
            reply = self.dest.call(self.result, "GET", f"jobs/ingest/{job_id}/{kind}/")
            if not reply.ok:
                continue  # left unresolved: sent again next push
            for row in csv.DictReader(io.StringIO(reply.text)):
                queue = waiting.get(tuple(row.get(column, "") for column in self.columns))
                if not queue:
                    continue
                change = queue.popleft()
                if kind == "successfulResults":
                    self._ack(change, row)
                else:
                    code, message = parse_error(row.get("sf__Error", ""))
                    self.result.reject(change, code, message)
        for change in (c for queue in waiting.values() for c in queue):
            self.result.leave(change, f"not in the results of bulk job {job_id}")

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
        from dbt_revsync.crms.salesforce.connector import error_of

        if reply.ok:  # a 2xx without what the step needs (the job's id): nothing was confirmed
            for change in self.changes:
                self.result.leave(change, unconfirmed(reply, "the bulk job's answer"))
            return
        code, message = error_of(reply)
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
    """``sf__Error`` as (statusCode, message); e.g. ``REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --``."""
    found = _ERROR.match(text.strip())
    if not found:
        return "BULK_ERROR", text.strip() or "failed"
    message = found.group("message").strip()
    fields = (found.group("fields") or "").strip()
    if fields and fields not in message:
        message = f"{message} (fields: {fields})"
    return found.group("code"), message
