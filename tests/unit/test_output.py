"""The summary a person reads after a push."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from rich.console import Console

from dbt_revsync import cli, output, runner
from dbt_revsync.delivery import CircuitOpenError
from dbt_revsync.errors import TransientDestinationError
from dbt_revsync.model import BatchResult, Change, Left, SyncReport
from tests.factories import NODE, accounts_sync


def test_rejects_are_summarised_once_per_reason_with_their_count() -> None:
    report = SyncReport(accounts_sync())
    rejects = [
        ("1", "upsert key is null"),
        ("2", "upsert key is null"),
        ("3", "duplicated key"),
        ("4", "upsert key is null"),
    ]
    report.note_rejects(rejects)
    report.counts["rejected"] = len(rejects)
    text = output.summary([report])
    assert "s: rejected 1 and 2 more: upsert key is null" in text
    assert "s: rejected 3: duplicated key" in text
    assert text.count("rejected 1") == 1


def test_a_report_lists_a_bounded_number_of_reasons() -> None:
    report = SyncReport(accounts_sync())
    report.note_rejects((str(n), f"reason {n}") for n in range(50))
    assert len(report.reject_samples) == 10


def test_held_syncs_and_held_rows_are_said_with_their_reason() -> None:
    held = SyncReport(accounts_sync(), status="held", message="not pushed: failed_test:not_null_a_name")
    quarantined = SyncReport(accounts_sync())
    quarantined.status, quarantined.held = "success", {"failed_test:not_null_a_region": 2}
    text = output.summary([held, quarantined])
    assert ": not pushed: failed_test:not_null_a_name" in text
    assert ": held back 2 row(s): failed_test:not_null_a_region" in text
    assert "held" in output.plan_text([held]).splitlines()[0]
    status = output.status_text(
        [],
        {},
        [
            {
                "sync_id": "model.p.a:fs.x",
                "invocation_id": "inv1",
                "held_at": None,
                "reason": "not pushed: failed_test:t",
            }
        ],
    )
    assert status.splitlines() == ["model.p.a:fs.x", "  held since - (dbt invocation inv1): not pushed: failed_test:t"]


# ---- the summary's width ------------------------------------------------------------------


def report(name: str = "m", status: str = "success", **counts: int) -> SyncReport:
    made = SyncReport(dataclasses.replace(accounts_sync(), node=dataclasses.replace(NODE, name=name)), status=status)
    made.counts.update(counts)
    made.seconds = 12.3
    return made


def test_the_summary_fits_80_columns_and_keeps_every_name_whole() -> None:
    short = report(created=123456, read=123456, requests=1235)
    long = report(
        "a_model_with_a_name_so_long_it_can_never_fit_in_an_eighty_column_terminal_at_all", "partial", created=3
    )
    long.left, long.message = (
        7,
        "circuit breaker open after 10 consecutive failed requests (last: POST /x answered 503); " * 2,
    )
    for reports in ([short], [short, long]):
        text = output.summary(reports, width=80)
        assert max(map(len, text.splitlines())) <= 80, text
        assert "read" not in text.splitlines()[0]  # the compact table
    text = output.summary([short, long], width=80)
    name = long.spec.node.name
    assert f"\n{name}\n-> fs.sales_accounts\n  partial " in text  # the name wraps, whole, on lines of its own
    assert "consecutive failed requests" in text.replace("\n    ", " ")


def test_the_wide_table_when_asked_or_when_it_fits() -> None:
    reports = [report(created=5, read=9, unchanged=4, requests=5)]
    assert output.summary(reports, width=80).splitlines()[0].split() == ["sync", "status", *output.COMPACT, "secs"]
    wide = ["sync", "status", *output.WIDE, "seconds"]
    assert output.summary(reports, width=80, wide=True).splitlines()[0].split() == wide
    assert output.summary(reports, width=200).splitlines()[0].split() == wide
    message = report(status="failed")
    message.message = "x " * 100
    assert len(output.summary([message], width=200, wrap=False).splitlines()[-1]) == len(
        f"{message.spec.label}: {message.message}"
    )


# ---- progress -------------------------------------------------------------------------------


def terminal(width: int = 80) -> tuple[io.StringIO, output.TerminalProgress]:
    stream = io.StringIO()
    return stream, output.TerminalProgress(Console(file=stream, width=width, force_terminal=True, color_system=None))


def drawn(stream: io.StringIO) -> list[str]:
    plain = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", stream.getvalue())
    return [line for line in re.split(r"[\r\n]", plain) if line.strip()]


@pytest.mark.parametrize("width", [60, 80, 120])
def test_a_progress_line_never_is_wider_than_the_terminal_and_cuts_the_label(width: int) -> None:
    stream, progress = terminal(width)
    long = report("a_model_with_a_name_so_long_it_can_never_fit_in_an_eighty_column_terminal_at_all")
    progress.phase(long.spec, "reading changes")
    progress.start(long.spec, 123456)
    progress.advance(long.spec, 1000)
    long.status = "interrupted"
    progress.finish(long)
    lines = drawn(stream)
    assert lines and all(len(line) <= width for line in lines)
    assert any("reading changes" in line for line in lines)
    assert "…" in lines[-1] and "1000/123456" in lines[-1]  # the true count, never drawn as full


def test_a_sync_with_nothing_to_send_leaves_no_line() -> None:
    stream, progress = terminal()
    idle = report()
    progress.phase(idle.spec, "reading changes")
    progress.start(idle.spec, 0)
    progress.finish(idle)
    assert "0/0" not in stream.getvalue()
    assert "reading changes" in stream.getvalue()
    left_on_screen = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", stream.getvalue().split("\x1b[2K")[-1])
    assert left_on_screen.strip() == ""  # the phase line was erased


def test_off_a_terminal_one_line_per_sync_and_no_redraw() -> None:
    stream = io.StringIO()
    progress = output.LineProgress(stream)
    busy, idle = report(created=3, rejected=1), report()
    busy.changes, busy.seconds = 5, 2.0
    for made in (busy, idle):
        progress.phase(made.spec, "reading changes")
        progress.start(made.spec, made.changes)
        progress.advance(made.spec, made.changes)
        progress.finish(made)
    assert stream.getvalue().splitlines() == [
        f"{busy.spec.label}: success, 4/5 change(s) answered in 2.0s (2 rows/s)",
        f"{idle.spec.label}: success, nothing to send",
    ]


# ---- statuses and exit codes ------------------------------------------------------------------


def test_a_status_says_what_happened_to_the_rows() -> None:
    assert runner.settled_status(report(created=100)) == "success"
    assert runner.settled_status(report(rejected=100)) == "rejected"
    assert runner.settled_status(report(created=1, rejected=100)) == "rejected"
    left = report()
    left.left = 101
    assert runner.settled_status(left) == "failed"  # nothing at all delivered is not "partial"
    left.counts["created"] = 1
    assert runner.settled_status(left) == "partial"


@pytest.mark.parametrize(
    "statuses, code",
    [
        (["success"], 0),
        (["success", "rejected"], 1),
        (["partial"], 1),
        (["failed", "success"], 1),
        (["success", "interrupted"], 130),
        (["held"], 1),
    ],
)
def test_the_exit_code_follows_the_statuses(statuses: list[str], code: int) -> None:
    assert cli.push_exit_code([report(status=s, rejected=int(s == "rejected")) for s in statuses]) == code


def test_a_record_left_by_a_refused_request_is_marked_refused_whatever_its_reason_says() -> None:
    result = BatchResult()
    first, second, third, fourth = (Change("upsert", str(n), {}) for n in range(4))
    result.cut_short([first], TransientDestinationError("POST /x got no answer after 4 attempts", refused=True))
    result.leave(second, CircuitOpenError("POST /x not sent: stopped sending", refused=True))
    result.leave(third, "POST /x got no answer (connection refused) after 4 attempts")  # words, not the fact
    result.cut_short([fourth], TransientDestinationError("POST /x answered 503 after 4 attempts"))
    assert [(record.key, record.refused) for record in result.left] == [
        ("0", True),
        ("1", True),
        ("2", False),
        ("3", False),
    ]


def test_one_same_failure_everywhere_is_a_configuration_problem() -> None:
    refused = runner.SameFailure()
    refused.add(
        0, [], [Left(str(n), "POST /x got no answer (connection refused) after 6 attempts", True) for n in range(4)]
    )
    assert refused.verdict(101) == runner.SameFailureVerdict(True, "connection refused", 4)
    worded = runner.SameFailure()  # a reason that only reads like a refusal
    worded.add(0, [], [Left("1", "400: connection refused by the CRM's rules")])
    assert worded.verdict(101) is None
    refused.add(1, [], [])
    assert refused.verdict(101) is None  # one row delivered: not the configuration
    rejected = runner.SameFailure()
    rejected.add(0, ["400: unknown field cf_x"] * 9, [])
    assert rejected.verdict(100) is None
    rejected.add(0, ["400: unknown field cf_x"], [])
    assert rejected.verdict(100) == runner.SameFailureVerdict(False, "400: unknown field cf_x", 10)
    assert rejected.verdict(3) is not None
    mixed = runner.SameFailure()
    mixed.add(0, ["400: bad email a", "400: bad email b"] * 10, [])
    assert mixed.verdict(100) is None
    single = runner.SameFailure()
    single.add(0, ["400: unknown field cf_x"], [])
    assert single.verdict(1) is None  # one bad row is a bad row
    assert runner.is_loopback_address("127.0.0.1:8081") and not runner.is_loopback_address("api.example.com:443")


def test_the_start_up_shows_a_line_that_the_first_sync_takes_over_or_close_erases() -> None:
    stream, progress = terminal()
    progress.phase(None, "reading the dbt project")
    busy = report()
    progress.phase(busy.spec, "reading changes")
    progress.start(busy.spec, 3)
    progress.advance(busy.spec, 3)
    progress.finish(busy)
    progress.close()
    lines = drawn(stream)
    assert any("dbt-revsync" in line and "reading the dbt project" in line for line in lines)
    assert "3/3" in lines[-1] and busy.spec.label in lines[-1]
    stream, progress = terminal()
    progress.phase(None, "reading the dbt project")
    progress.close()  # nothing to push, or an error: the start-up line goes
    assert re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", stream.getvalue().split("\x1b[2K")[-1]).strip() == ""


def test_the_rate_is_rows_over_the_time_since_the_sync_started_not_the_last_burst() -> None:
    """Batches come back in bursts: 300 rows answered in the last 10 ms of a 5 s sync is 60
    rows a second, not tens of thousands."""
    now = [0.0]
    stream = io.StringIO()
    progress = output.TerminalProgress(
        Console(file=stream, width=120, force_terminal=True, color_system=None, get_time=lambda: now[0])
    )
    busy = report()
    progress.start(busy.spec, 400)
    now[0] = 4.99
    progress.advance(busy.spec, 0)
    now[0] = 5.0
    progress.advance(busy.spec, 300)
    progress.finish(busy)
    assert "300/400" in drawn(stream)[-1] and " 60 rows/s" in drawn(stream)[-1], drawn(stream)[-1]


def test_status_messages_fit_a_terminal_and_stay_whole_off_one() -> None:
    from datetime import datetime

    started = datetime(2026, 5, 1, 12, 0, 2)
    runs = [
        {
            "sync_id": "model.analytics.crm_accounts:freshsales.sales_accounts",
            "run_id": "r1",
            "started_at": started,
            "finished_at": started,
            "status": "rejected",
            "created": 3,
            "updated": 41,
            "deleted": 0,
            "rejected": 1,
        }
    ]
    reject = {"record_key": "10077", "error_code": "400", "error_message": "name is required and cannot be blank " * 3}
    rejects = {("model.analytics.crm_accounts:freshsales.sales_accounts", "r1"): [reject]}
    at_80 = output.status_text(runs, rejects, width=80)
    assert max(map(len, at_80.splitlines())) <= 80
    assert "rejected 10077: 400: name is required" in at_80
    piped = output.status_text(runs, rejects)
    assert any(len(line) > 80 and "rejected 10077" in line for line in piped.splitlines())
