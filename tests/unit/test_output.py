"""The summary a person reads after a push."""

from __future__ import annotations

from dbt_revsync import output
from dbt_revsync.runner import SyncReport
from tests.unit.test_plan import spec


def test_rejects_are_summarised_once_per_reason_with_their_count() -> None:
    report = SyncReport(spec())
    rejects = [("1", "upsert key is null"), ("2", "upsert key is null"), ("3", "duplicated key"), ("4", "upsert key is null")]
    report.note_rejects(rejects)
    report.counts["rejected"] = len(rejects)
    text = output.summary([report])
    assert "s: rejected 1 and 2 more: upsert key is null" in text
    assert "s: rejected 3: duplicated key" in text
    assert text.count("rejected 1") == 1


def test_a_report_lists_a_bounded_number_of_reasons() -> None:
    report = SyncReport(spec())
    report.note_rejects(((str(n), f"reason {n}") for n in range(50)))
    assert len(report.reject_samples) == 10


def test_held_syncs_and_held_rows_are_said_with_their_reason() -> None:
    held = SyncReport(spec(), status="held", message="not pushed: failed_test:not_null_a_name")
    quarantined = SyncReport(spec())
    quarantined.status, quarantined.held = "success", {"failed_test:not_null_a_region": 2}
    text = output.summary([held, quarantined])
    assert ": not pushed: failed_test:not_null_a_name" in text
    assert ": held back 2 row(s): failed_test:not_null_a_region" in text
    assert "held" in output.plan_text([held]).splitlines()[0]
    status = output.status_text([], {}, [{"sync_id": "model.p.a:fs.x", "invocation_id": "inv1", "held_at": None, "reason": "not pushed: failed_test:t"}])
    assert status.splitlines() == ["model.p.a:fs.x", "  held since - (dbt invocation inv1): not pushed: failed_test:t"]
