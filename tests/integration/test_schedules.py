"""`schedule:` on a block and `push --due`: one cron line serves every scheduled sync."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

BASE = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "primary_key": "account_id",
    "insert_mode": "upsert",
    "upsert_key": "cf_account_id",
}


def block(schedule: str | None) -> dict[str, object]:
    fields = {"name": "name", "custom_field.cf_account_id": "account_id"}
    return {**BASE, "fields": fields, **({"schedule": schedule} if schedule else {})}


def pushed(result_out: str) -> list[str]:
    return sorted(
        line.split()[0] for line in result_out.splitlines() if " -> freshsales." in line and " success " in line
    )


@pytest.mark.warehouses
def test_push_due_takes_only_syncs_whose_last_success_is_older_than_their_schedule(project: Project) -> None:
    project.seed("raw", ["account_id", "name"], [[1, "One"]])
    for name, schedule in (
        ("every_30m", "30m"),
        ("every_hour", "hourly"),
        ("every_day", "daily"),
        ("unscheduled", None),
    ):
        project.model(
            name,
            f"select account_id + {len(name)} * 100 as account_id, name from {{{{ ref('raw') }}}}",
            block(schedule),
        )
    project.build()
    first = project.push("--due")
    assert first.code == 0, first.err
    assert pushed(first.out) == ["every_30m", "every_day", "every_hour"]  # never succeeded: due; unscheduled: never
    again = project.push("--due")
    assert again.code == 0 and "no sync is due" in again.out
    waiting = {line.split()[0]: line for line in again.out.splitlines() if line.startswith("  ")}
    assert set(waiting) == {"every_30m", "every_hour", "every_day", "unscheduled"}
    assert "(30m): " in waiting["every_30m"] and waiting["every_30m"].endswith(" UTC")
    assert "never (no schedule" in waiting["unscheduled"]
    # Forty minutes later the 30m sync is due again, the hourly and daily ones are not.
    project.query("update revsync.revsync_runs set started_at = started_at - interval '40 minutes' returning sync_id")
    later = project.push("--due")
    assert pushed(later.out) == ["every_30m"]
    # A failed (or partial) run is not a success: the sync stays due.
    project.query("update revsync.revsync_runs set started_at = started_at - interval '2 hours' returning sync_id")
    project.sandbox.add_fault("status", prefix="freshsales", status=401, times=1)
    failed = project.push("--due", "--full-refresh", "--select", "every_hour")
    assert failed.code == 1
    retried = project.push("--due", "--select", "every_hour", "every_day")
    assert pushed(retried.out) == ["every_hour"]


def test_an_unknown_schedule_is_a_configuration_error(project: Project) -> None:
    project.seed("raw", ["account_id", "name"], [[1, "One"]])
    project.model("accounts", "select * from {{ ref('raw') }}", block("weekly"))
    project.build()
    result = project.push("--due")
    assert result.code == 2
    assert "config.meta.revsync.schedule" in result.err and "30m, hourly, daily" in result.err


def test_push_due_with_nothing_due_lists_when_each_is_due_and_never_says_nothing_was_built(project: Project) -> None:
    project.seed("raw", ["account_id", "name"], [[1, "One"]])
    project.model("every_hour", "select account_id, name from {{ ref('raw') }}", block("hourly"))
    project.build()
    assert project.push("--due").code == 0
    again = project.push("--due")
    assert again.code == 0 and "no sync is due" in again.out
    assert "was built" not in again.out + again.err and "nothing to push" not in again.out + again.err
