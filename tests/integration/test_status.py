"""`dbt-revsync status`: the last runs per sync from revsync_runs, with the first rejects."""

from __future__ import annotations

import re

import pytest

from tests.integration.conftest import Project

pytestmark = [pytest.mark.integration, pytest.mark.warehouses]

BLOCK = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "primary_key": "account_id",
    "fields": {"name": "name"},
}


@pytest.mark.warehouses
def test_status_shows_recent_runs_counts_durations_and_first_rejects(project: Project) -> None:
    project.seed("raw", ["account_id", "name"], [[1, "One"], [2, ""], [3, "Three"], [None, "Nameless key"]])
    project.model("accounts", "select * from {{ ref('raw') }}", BLOCK)
    project.build()
    before = project.revsync("status")
    assert before.code == 0 and "no runs yet" in before.out
    assert project.push().code == 1  # a null key is refused here, a blank name by the CRM
    project.seed("raw", ["account_id", "name"], [[1, "One again"], [2, ""], [3, "Three"], [None, "Nameless key"]])
    project.build()
    assert project.push().code == 1
    result = project.revsync("status", "--limit", "5", "--rejects", "1")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "model.revsync_test.accounts:freshsales.sales_accounts"
    runs = [line.split() for line in lines[2:4]]
    # newest first: append mode never updates; both pushes retried the two rejected rows
    assert [run[3:] for run in runs] == [["rejected", "0", "0", "0", "2"], ["rejected", "2", "0", "0", "2"]]
    assert all(float(run[2]) >= 0 for run in runs)
    rejected = [line for line in lines if line.startswith("    ") and " rejected " in line]
    assert len(rejected) == 1  # revsync_rejects keeps each record's latest rejection: the second run's
    assert all("null_primary_key" in line for line in rejected)
    assert len(project.runs()) == 2
    limited = project.revsync("status", "--limit", "1")
    assert len([line for line in limited.out.splitlines() if re.search(r"\d  rejected  ", line)]) == 1  # one run


def test_status_honours_select_through_dbt_ls(project: Project) -> None:
    project.seed("raw", ["account_id", "name"], [[1, "One"], [2, "Two"]])
    project.model("accounts", "select * from {{ ref('raw') }}", BLOCK)
    project.model(
        "partners", "select account_id + 10 as account_id, name from {{ ref('raw') }}", {**BLOCK, "object": "deals"}
    )
    project.build()
    assert project.push().code == 0
    everything = project.revsync("status")
    assert "model.revsync_test.accounts:" in everything.out and "model.revsync_test.partners:" in everything.out
    selected = project.revsync("status", "--select", "partners")
    assert selected.code == 0, selected.err
    assert "model.revsync_test.partners:freshsales.deals" in selected.out and "accounts" not in selected.out
    excluded = project.revsync("status", "--exclude", "partners")
    assert "model.revsync_test.accounts:" in excluded.out and "partners" not in excluded.out
