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
