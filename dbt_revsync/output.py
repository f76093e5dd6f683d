"""What a person sees: a progress bar per sync on a terminal, a summary table, a plan."""

from __future__ import annotations

import json
import logging
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, ProgressColumn, Task, TaskID, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Column
from rich.text import Text

from dbt_revsync.model import SyncReport, SyncSpec, SyncStatus
from dbt_revsync.runner import Progress

__all__ = [
    "BAR_WIDTH",
    "COLUMNS",
    "COMPACT",
    "MIN_LABEL",
    "NO_WIDTH",
    "WIDE",
    "LineProgress",
    "TerminalProgress",
    "forget_text",
    "not_due_text",
    "plan_text",
    "status_text",
    "summary",
]

COLUMNS = ("read", "created", "updated", "deleted", "unchanged", "rejected", "requests")
WIDE = ("read", "created", "updated", "deleted", "unchanged", "rejected", "left", "requests")
COMPACT = ("created", "updated", "deleted", "rejected", "left")
NO_WIDTH = 10_000  # the width of a pipe: the wide table always fits
MIN_LABEL = 12  # the narrowest a progress line's label gets before it is cut


def _count(report: SyncReport, column: str) -> int:
    return report.left if column == "left" else report.counts.get(column, 0)


class _Label(ProgressColumn):
    """The sync's label: it takes what the line leaves, cut with an ellipsis (never wrapped)."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1, min_width=MIN_LABEL))

    def render(self, task: Task) -> Text:
        return Text(task.description, no_wrap=True, overflow="ellipsis")


class _Count(ProgressColumn):
    """``412/1000``, as wide as the total needs from the start (the line does not jitter)."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True, justify="right"))

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        total = int(task.total)
        return Text(f"{int(task.completed)}/{total}".rjust(2 * len(str(total)) + 1), style="progress.download")


class _Rate(ProgressColumn):
    """Rows a second since the sync started sending (changes come back a batch at a time, in
    bursts, so a rate over the last moments swings wildly); the phase (``reading changes``)
    before the number of changes is known."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True, justify="right", min_width=len("12,345 rows/s")))

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text(str(task.fields.get("phase") or ""), style="progress.description")
        elapsed = task.elapsed
        if not elapsed or not task.completed:
            return Text("")
        return Text(f"{task.completed / elapsed:,.0f} rows/s", style="progress.data.speed")


class _Eta(ProgressColumn):
    """``eta 0:00:12`` while running; nothing once the sync is over."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True, min_width=len("eta 0:00:00")))

    def render(self, task: Task) -> Text:
        remaining = task.time_remaining
        if task.total is None or task.finished or task.stop_time is not None or remaining is None:
            return Text("")
        return Text(f"eta {timedelta(seconds=int(remaining))}", style="progress.remaining")


BAR_WIDTH = 16


class TerminalProgress(Progress):
    """On a terminal: one live line per sync on stderr, redrawn in place and never wider than
    the terminal: ``label  ━━━━━━━━╸━━━━━━━  412/1000  128 rows/s  0:00:03  eta 0:00:04``.

    Before the diff is ready the line says ``reading changes``; a sync with nothing to send
    draws nothing; an interrupted or failed sync keeps its true count (never drawn as full)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.display: RichProgress | None = None
        self.task: TaskID | None = None
        self.rerouted: list[tuple[logging.StreamHandler[Any], Any]] = []

    def _open(self, spec: SyncSpec | None) -> None:
        label = spec.label if spec is not None else "dbt-revsync"
        if self.display is not None:
            assert self.task is not None
            self.display.update(self.task, description=label)
            return
        bar = BAR_WIDTH if self.console.width >= 100 else BAR_WIDTH // 2 if self.console.width < 70 else 12
        self.display = RichProgress(
            _Label(),
            BarColumn(bar_width=bar),
            _Count(),
            _Rate(),
            TimeElapsedColumn(),
            _Eta(),
            console=self.console,
            refresh_per_second=8,
            speed_estimate_period=10.0,
            expand=True,
        )
        original = sys.stderr
        self.display.start()
        self._reroute_logging(original)
        self.task = self.display.add_task(label, total=None, phase="")

    def phase(self, spec: SyncSpec | None, text: str) -> None:
        self._open(spec)
        assert self.display is not None and self.task is not None
        self.display.update(self.task, phase=text, refresh=True)

    def start(self, spec: SyncSpec, total: int) -> None:
        self._open(spec)
        assert self.display is not None and self.task is not None
        if total:
            self.display.reset(self.task, total=total, completed=0)

    def grow(self, spec: SyncSpec, rows: int) -> None:
        if self.display is not None and self.task is not None and rows:
            total = self.display.tasks[0].total or 0
            self.display.update(self.task, total=total + rows)

    def advance(self, spec: SyncSpec, rows: int) -> None:
        if self.display is not None and self.task is not None:
            self.display.advance(self.task, rows)

    def finish(self, report: SyncReport) -> None:
        """The sync's line stays with its true count; a sync with nothing to send leaves none."""
        display, task = self.display, self.task
        if display is None or task is None:
            return
        nothing = not display.tasks[0].total
        if not nothing:
            display.stop_task(task)
        self._take_down(keep=not nothing)

    def close(self) -> None:
        """The push is over (or stopped on an error): a line still up (start-up) is erased."""
        if self.display is not None:
            self._take_down(keep=False)

    def _take_down(self, keep: bool) -> None:
        display, task = self.display, self.task
        assert display is not None and task is not None
        if not keep:
            display.remove_task(task)
        display.refresh()
        display.live.transient = not keep
        display.stop()
        self._restore_logging()
        self.display = self.task = None

    def _reroute_logging(self, original: Any) -> None:
        """Log lines written while a line is live go above it (rich's stderr proxy), never through it."""
        if sys.stderr is original:
            return
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is original:
                self.rerouted.append((handler, handler.setStream(sys.stderr)))

    def _restore_logging(self) -> None:
        for handler, stream in self.rerouted:
            handler.setStream(stream)
        self.rerouted = []


def not_due_text(waiting: Sequence[Any], due: int, width: int | None = None) -> str:
    """What ``push --due`` left alone, and when each sync is next due (with ``width``, a
    terminal's, each line wrapped to it)."""
    if not waiting:
        return f"{due} sync(s) due" if due else "no sync has a schedule (give a block schedule: 30m, hourly or daily)"
    lines = [f"{due} sync(s) due; not due yet:" if due else "no sync is due; next due:"]
    for item in sorted(waiting, key=lambda w: (w.next_due is None, w.next_due or datetime.min)):
        when = (
            item.next_due.strftime("%Y-%m-%d %H:%M UTC")
            if item.next_due
            else "never (no schedule; plain push sends it)"
        )
        schedule = f" ({item.spec.schedule})" if item.spec.schedule else ""
        line = f"  {item.spec.label}{schedule}: {when}"
        lines.append(_wrap(line, width, "      ") if width else line)
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


class LineProgress(Progress):
    """Not a terminal (a pipe, CI): nothing redrawn, one line per sync when it is over."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def finish(self, report: SyncReport) -> None:
        stream = self.stream or sys.stderr
        if report.changes:
            counts = report.counts
            answered = counts["created"] + counts["updated"] + counts["deleted"] + counts["rejected"]
            rate = f" ({answered / report.seconds:,.0f} rows/s)" if report.seconds > 0 else ""
            stream.write(
                f"{report.spec.label}: {report.status}, {answered}/{report.changes} change(s) answered "
                f"in {report.seconds:.1f}s{rate}\n"
            )
        else:
            stream.write(f"{report.spec.label}: {report.status}, nothing to send\n")
        stream.flush()


def summary(reports: Sequence[SyncReport], width: int = 80, wide: bool = False, wrap: bool = True) -> str:
    """The table after a push, then a line per message (with ``wrap``, wrapped to ``width``:
    on a terminal; a pipe keeps one line per message, for grep). The compact table fits
    ``width`` (a name too long for it goes on a line of its own); the wide one (every count)
    is used with ``wide`` or when it fits."""
    table = _table(reports, WIDE, "seconds", lambda r: f"{r.seconds:.1f}")
    if not wide and max(map(len, table)) > width:
        table = _table(reports, COMPACT, "secs", lambda r: f"{r.seconds:.1f}")
        if max(map(len, table)) > width:
            table = _stacked(reports, COMPACT, "secs", lambda r: f"{r.seconds:.1f}", width)
    notes = [_wrap(line, width) if wrap else line for line in _notes(reports)]
    return "\n".join(table + notes)


def _table(
    reports: Sequence[SyncReport], columns: Sequence[str], seconds: str, secs: Callable[[SyncReport], str]
) -> list[str]:
    header = ("sync", "status", *columns, seconds)
    rows = [header] + [(r.spec.label, r.status, *(str(_count(r, c)) for c in columns), secs(r)) for r in reports]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _stacked(
    reports: Sequence[SyncReport],
    columns: Sequence[str],
    seconds: str,
    secs: Callable[[SyncReport], str],
    width: int,
) -> list[str]:
    """The compact table with each sync's name on a line of its own (wrapped when wider than
    the terminal, never cut), its figures under it."""
    header = ("status", *columns, seconds)
    rows = [header] + [(r.status, *(str(_count(r, c)) for c in columns), secs(r)) for r in reports]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    lines = ["sync", line(header), "  " + "  ".join("-" * w for w in widths)]
    for report, row in zip(reports, rows[1:]):
        lines += [*(textwrap.wrap(report.spec.label, width=max(20, width)) or [report.spec.label]), line(row)]
    return lines


def _notes(reports: Sequence[SyncReport]) -> list[str]:
    lines = []
    for r in reports:
        if r.message:
            lines.append(f"{r.spec.label}: {r.message}")
        if r.left and not r.message:
            lines.append(f"{r.spec.label}: {r.left} row(s) not delivered this time; the next push sends them again")
        for reason, rows in r.held.items():
            lines.append(f"{r.spec.label}: held back {rows} row(s): {reason}")
        for sample in r.reject_samples:
            lines.append(f"{r.spec.label}: rejected {sample}")
    return lines


def _wrap(line: str, width: int, indent: str = "    ") -> str:
    return (
        "\n".join(textwrap.wrap(line, width=max(20, width), subsequent_indent=indent, break_on_hyphens=False)) or line
    )


def plan_text(reports: Sequence[SyncReport]) -> str:
    lines = []
    for r in reports:
        ops = ", ".join(f"{op} {n}" for op, n in sorted(r.planned.items())) or "send nothing"
        unchanged = r.counts.get("unchanged", 0)
        if r.status in (SyncStatus.FAILED, SyncStatus.HELD):
            lines.append(f"{r.spec.label}: {r.status}")
        else:
            lines.append(f"{r.spec.label}: read {r.counts.get('read', 0)}, unchanged {unchanged}; would {ops}")
        for sample in r.samples:
            lines.append("    " + json.dumps(sample, ensure_ascii=False, default=str))
        for reject in r.reject_samples:
            lines.append(f"    would reject {reject}")
        for reason, rows in r.held.items():
            lines.append(f"    would hold back {rows} row(s): {reason}")
        if r.message:
            lines.append(f"    {r.message}")
    return "\n".join(lines) if lines else "no syncs selected"


def status_text(
    runs: Sequence[Mapping[str, Any]],
    rejects: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]],
    holds: Sequence[Mapping[str, Any]] = (),
    width: int | None = None,
) -> str:
    """Per sync, its current hold (what failing tests held back), its last runs (newest first)
    and the first rejects of each run; with ``width`` (a terminal), the messages wrapped to it
    (off a terminal one line each, for grep)."""
    if not runs and not holds:
        return "no runs yet: nothing was pushed with this state schema"
    header = ("started (UTC)", "seconds", "status", "created", "updated", "deleted", "rejected")
    lines: list[str] = []
    held = {h["sync_id"]: h for h in holds}
    for sync_id in dict.fromkeys([*(r["sync_id"] for r in runs), *held]):
        lines.append(sync_id)
        if sync_id in held:
            hold = (
                f"  held since {_when(held[sync_id].get('held_at'))} (dbt invocation "
                f"{held[sync_id].get('invocation_id') or '-'}): {held[sync_id].get('reason')}"
            )
            lines.append(_wrap(hold, width, "    ") if width else hold)
        if not any(r["sync_id"] == sync_id for r in runs):
            lines.append("")
            continue
        rows: list[tuple[str, ...]] = [header]
        notes: list[str] = []
        for run in (r for r in runs if r["sync_id"] == sync_id):
            rows.append(
                (
                    _when(run.get("started_at")),
                    _seconds(run),
                    str(run.get("status")),
                    *(str(run.get(c) or 0) for c in ("created", "updated", "deleted", "rejected")),
                )
            )
            if run.get("message"):
                notes.append(f"    {_when(run.get('started_at'))}: {run['message']}")
            for reject in rejects.get((sync_id, run["run_id"]), ()):
                notes.append(
                    f"    {_when(run.get('started_at'))} rejected {reject['record_key']}: "
                    f"{reject['error_code']}: {reject['error_message']}"
                )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines += [
            "  " + "  ".join(c.ljust(w) if i in (0, 2) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
            for row in rows
        ]
        lines += [_wrap(note, width, "      ") for note in notes] if width else notes
        lines.append("")
    return "\n".join(lines).rstrip()


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else str(value or "-")[:19]


def _seconds(run: Mapping[str, Any]) -> str:
    start, end = run.get("started_at"), run.get("finished_at")
    if isinstance(start, datetime) and isinstance(end, datetime):
        return f"{(end - start).total_seconds():.1f}"
    return "-"
