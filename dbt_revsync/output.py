"""What a person sees: a progress bar per sync on a terminal, a summary table, a plan."""

from __future__ import annotations

import json
import sys
import textwrap
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO

from dbt_revsync.config import SyncSpec
from dbt_revsync.runner import Progress, SyncReport

COLUMNS = ("read", "created", "updated", "deleted", "unchanged", "rejected", "requests")


class TerminalProgress(Progress):
    """One redrawn line per sync on stderr: ``label [#####.....] 412/1000``."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.lock = threading.Lock()
        self.total = 0
        self.done = 0
        self.last = 0.0

    def start(self, spec: SyncSpec, total: int) -> None:
        self.label, self.total, self.done = spec.label, total, 0
        self._draw(force=True)

    def grow(self, spec: SyncSpec, rows: int) -> None:
        with self.lock:
            self.total += rows
        self._draw(force=True)

    def advance(self, spec: SyncSpec, rows: int) -> None:
        with self.lock:
            self.done += rows
        self._draw()

    def finish(self, report: SyncReport) -> None:
        if getattr(self, "label", None):
            self.done = self.total
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        share = 1.0 if not self.total else min(1.0, self.done / self.total)
        bar = "#" * int(share * self.width)
        self.stream.write(f"\r{self.label} [{bar:<{self.width}}] {self.done}/{self.total}")
        self.stream.flush()


def not_due_text(waiting: Sequence[Any], due: int) -> str:
    """What ``push --due`` left alone, and when each sync is next due."""
    if not waiting:
        return f"{due} sync(s) due" if due else "no sync has a schedule (give a block schedule: 30m, hourly or daily)"
    lines = [f"{due} sync(s) due; not due yet:" if due else "no sync is due; next due:"]
    for item in sorted(waiting, key=lambda w: (w.next_due is None, w.next_due or datetime.min)):
        when = item.next_due.strftime("%Y-%m-%d %H:%M UTC") if item.next_due else "never (no schedule; plain push sends it)"
        schedule = f" ({item.spec.schedule})" if item.spec.schedule else ""
        lines.append(f"  {item.spec.label}{schedule}: {when}")
    return "\n".join(lines)


def forget_text(plans: Sequence[Any]) -> str:
    """What ``forget`` is about to drop, sync by sync."""
    lines = []
    for plan in plans:
        lines.append(plan.spec.label)
        for held in plan.remembered or ():
            lines.append(f"  {held.records} record(s) {held.origin} at {held.target}")
        if not plan.remembered:
            lines.append("  nothing remembered")
        lines.extend(textwrap.wrap(plan.consequence, 78, initial_indent="  ", subsequent_indent="    "))
    return "\n".join(lines)


def summary(reports: Sequence[SyncReport]) -> str:
    header = ("sync", "status", *COLUMNS, "seconds")
    rows = [header]
    for r in reports:
        rows.append((r.spec.label, r.status, *(str(r.counts.get(c, 0)) for c in COLUMNS), f"{r.seconds:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in reports:
        if r.message:
            lines.append(f"{r.spec.label}: {r.message}")
        if r.unresolved and not r.message:
            lines.append(f"{r.spec.label}: {r.unresolved} row(s) not delivered this time; the next push sends them again")
        for reason, rows in r.held.items():
            lines.append(f"{r.spec.label}: held back {rows} row(s): {reason}")
        for sample in r.reject_samples:
            lines.append(f"{r.spec.label}: rejected {sample}")
    return "\n".join(lines)


def plan_text(reports: Sequence[SyncReport]) -> str:
    lines = []
    for r in reports:
        ops = ", ".join(f"{op} {n}" for op, n in sorted(r.planned.items())) or "send nothing"
        unchanged = r.counts.get("unchanged", 0)
        if r.status in ("failed", "held"):
            lines.append(f"{r.spec.label}: {r.status}")
        else:
            lines.append(f"{r.spec.label}: read {r.counts.get('read', 0)}, unchanged {unchanged}; would {ops}")
        for sample in r.samples:
            lines.append("    " + json.dumps(sample, ensure_ascii=False, default=str))
        for sample in r.reject_samples:
            lines.append(f"    would reject {sample}")
        for reason, rows in r.held.items():
            lines.append(f"    would hold back {rows} row(s): {reason}")
        if r.message:
            lines.append(f"    {r.message}")
    return "\n".join(lines) if lines else "no syncs selected"


def status_text(
    runs: Sequence[Mapping[str, Any]], rejects: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]],
    holds: Sequence[Mapping[str, Any]] = (),
) -> str:
    """Per sync, its current hold (what failing tests held back), its last runs (newest first)
    and the first rejects of each run."""
    if not runs and not holds:
        return "no runs yet: nothing was pushed with this state schema"
    header = ("started (UTC)", "seconds", "status", "created", "updated", "deleted", "rejected")
    lines: list[str] = []
    held = {h["sync_id"]: h for h in holds}
    for sync_id in dict.fromkeys([*(r["sync_id"] for r in runs), *held]):
        lines.append(sync_id)
        if sync_id in held:
            lines.append(f"  held since {_when(held[sync_id].get('held_at'))} (dbt invocation {held[sync_id].get('invocation_id') or '-'}): "
                         f"{held[sync_id].get('reason')}")
        if not any(r["sync_id"] == sync_id for r in runs):
            lines.append("")
            continue
        rows = [header]
        notes: list[str] = []
        for run in (r for r in runs if r["sync_id"] == sync_id):
            rows.append((_when(run.get("started_at")), _seconds(run), str(run.get("status")),
                         *(str(run.get(c) or 0) for c in ("created", "updated", "deleted", "rejected"))))
            if run.get("message"):
                notes.append(f"    {_when(run.get('started_at'))}: {run['message']}")
            for reject in rejects.get((sync_id, run["run_id"]), ()):
                notes.append(f"    {_when(run.get('started_at'))} rejected {reject['record_key']}: {reject['error_code']}: {reject['error_message']}")
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines += ["  " + "  ".join(c.ljust(w) if i in (0, 2) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in rows]
        lines += notes
        lines.append("")
    return "\n".join(lines).rstrip()


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else str(value or "-")[:19]


def _seconds(run: Mapping[str, Any]) -> str:
    start, end = run.get("started_at"), run.get("finished_at")
    if isinstance(start, datetime) and isinstance(end, datetime):
        return f"{(end - start).total_seconds():.1f}"
    return "-"
