"""What a plain `push` takes: what dbt built and tested (the post-run hook's record, else a
building invocation's run_results.json), held back where tests failed; and the manifest it
reads is the project as it is on disk."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest

from dbt_revsync import cli
from tests.integration.conftest import Project

pytestmark = [pytest.mark.integration]

BLOCK: dict[str, Any] = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "primary_key": "account_id",
    "fields": {"name": "name"},
}
ROWS = [[1, "One", "eu"], [2, "Two", "us"], [3, "Three", "eu"]]
# A missing region is a marker the model turns into null: a seed's empty cell reaches Spark as the
# text 'None' (dbt-spark's session method binds it so), so a null cannot come from the seed itself.
MISSING = "-"
NO_REGION = [4, "Four", MISSING]  # fails the model's not_null test on region
ACCOUNTS_SQL = f"select account_id, name, nullif(region, '{MISSING}') as region from {{{{ ref('raw') }}}}"


def names(project: Project) -> list[str]:
    return sorted(str(r.get("name")) for r in project.sandbox.emulator("freshsales").records("sales_accounts"))


def not_null_region(**config: Any) -> list[dict[str, Any]]:
    test: Any = {"not_null": {"config": config}} if config else "not_null"
    return [{"name": "region", "data_tests": [test]}]


def accounts(project: Project, rows: list[list[Any]], block: dict[str, Any] | None = None, **test_config: Any) -> None:
    project.seed("raw", ["account_id", "name", "region"], rows)
    project.model("accounts", ACCOUNTS_SQL, block or BLOCK, columns=not_null_region(**test_config))


def test_docs_generate_after_a_failed_build_does_not_push_the_failed_models_stale_rows(project: Project) -> None:
    project.install_hook()
    accounts(project, ROWS)
    project.build()  # built, never pushed
    project.model("accounts", "select account_id, name, no_such_column from {{ ref('raw') }}", BLOCK)
    assert project.dbt("build", check=False).returncode != 0
    project.dbt("docs", "generate")  # rewrites run_results.json: every node "success"
    result = project.push()
    assert result.code == 1, result.out + result.err
    assert "held" in result.out and "model_error" in result.out
    assert names(project) == []  # the previous build's rows are not what dbt last built


def test_without_the_hook_run_results_of_a_command_that_builds_nothing_are_refused(project: Project) -> None:
    accounts(project, ROWS)
    project.build()
    project.dbt("docs", "generate")
    result = project.push()
    assert result.code == 2 and "dbt docs generate" in result.err and "record_results" in result.err, result.err
    project.dbt("test")
    result = project.push()
    assert result.code == 2 and "`dbt test`" in result.err, result.err
    assert names(project) == []


def test_dbt_test_after_dbt_build_still_pushes_what_the_build_built(project: Project) -> None:
    project.install_hook()
    accounts(project, ROWS)
    project.build()
    project.dbt("test")  # its run_results.json name tests only
    result = project.push()
    assert result.code == 0, result.out + result.err
    assert names(project) == ["One", "Three", "Two"]


@pytest.mark.warehouses
@pytest.mark.spark
def test_a_failing_test_on_the_model_holds_the_whole_sync_back(project: Project) -> None:
    project.install_hook()
    accounts(project, [*ROWS, NO_REGION])
    assert project.dbt("build", check=False).returncode != 0  # not_null_accounts_region fails
    result = project.push()
    assert result.code == 1, result.out + result.err
    assert "failed_test:not_null_accounts_region" in result.out
    assert names(project) == []
    status = project.revsync("status")
    assert "held since" in status.out and "failed_test:not_null_accounts_region" in status.out, status.out
    accounts(project, [*ROWS, [4, "Four", "eu"]])
    project.build()
    result = project.push()
    assert result.code == 0, result.out + result.err
    assert names(project) == ["Four", "One", "Three", "Two"]
    assert "held" not in project.revsync("status").out


def test_a_failing_test_of_warn_severity_does_not_hold_the_sync(project: Project) -> None:
    project.install_hook()
    accounts(project, [*ROWS, NO_REGION], severity="warn")
    project.build()  # a warning, not an error
    result = project.push()
    assert result.code == 0, result.out + result.err
    assert names(project) == ["Four", "One", "Three", "Two"]


def test_gate_none_pushes_even_when_a_test_failed(project: Project) -> None:
    project.install_hook()
    accounts(project, [*ROWS, NO_REGION], block={**BLOCK, "gate": "none"})
    project.dbt("build", check=False)
    assert project.push().code == 0
    assert len(names(project)) == 4


def test_gate_upstream_holds_a_sync_when_an_upstream_models_test_failed(project: Project) -> None:
    project.install_hook()
    project.seed("raw", ["account_id", "name", "region"], [*ROWS, NO_REGION])
    project.model("accounts", ACCOUNTS_SQL, columns=not_null_region())
    project.model("crm", "select * from {{ ref('accounts') }} where region is not null", {**BLOCK, "gate": "upstream"})
    project.dbt("build", check=False)  # accounts' test fails; dbt build skips crm
    result = project.push()
    assert names(project) == [] and result.code == 1 and "model_skipped" in result.out, result.out + result.err
    project.dbt("run", "--select", "crm")  # crm built; accounts' failing test is still its last outcome
    result = project.push()
    assert "failed_test:not_null_accounts_region (upstream" in result.out, result.out + result.err
    assert names(project) == []


@pytest.mark.warehouses
@pytest.mark.spark
def test_quarantine_holds_back_only_the_rows_a_failing_test_stored(project: Project) -> None:
    project.install_hook()
    accounts(
        project, [*ROWS, NO_REGION, [5, "Five", MISSING]], block={**BLOCK, "quarantine": "tests"}, store_failures=True
    )
    project.dbt("build", check=False)
    result = project.push()
    assert result.code == 1, result.out + result.err
    assert names(project) == ["One", "Three", "Two"]
    assert "held back 2 row(s): failed_test:not_null_accounts_region" in result.out
    assert "2 row(s) held back: failed_test:not_null_accounts_region" in project.revsync("status").out
    accounts(
        project,
        [*ROWS, [4, "Four", "eu"], [5, "Five", "us"]],
        block={**BLOCK, "quarantine": "tests"},
        store_failures=True,
    )
    project.build()
    assert project.push().code == 0
    assert names(project) == ["Five", "Four", "One", "Three", "Two"]


def test_quarantine_without_stored_failures_holds_the_whole_sync(project: Project) -> None:
    project.install_hook()
    accounts(project, [*ROWS, NO_REGION], block={**BLOCK, "quarantine": "tests"})
    project.dbt("build", check=False)
    result = project.push()
    assert "store_failures" in result.out and names(project) == []


def test_the_hook_needs_no_run_results_and_a_push_takes_a_build_once(project: Project) -> None:
    project.install_hook()
    accounts(project, ROWS)
    project.build()
    (project.root / "target" / "run_results.json").unlink()
    assert project.push().code == 0
    assert names(project) == ["One", "Three", "Two"]
    requests = project.sandbox.stats()["freshsales"]["requests"]
    again = project.push()  # nothing built since: nothing read, nothing sent
    assert again.code == 0 and "nothing to push" in again.err, again.err
    assert project.sandbox.stats()["freshsales"]["requests"] == requests
    assert len(project.runs()) == 1


def test_validate_and_push_read_the_project_as_it_is_not_a_stale_manifest(project: Project) -> None:
    accounts(project, ROWS)
    before = project.revsync("validate")  # never parsed: dbt-revsync parses, then finds the relation missing
    assert before.code == 2 and "does not exist in the warehouse" in before.err and "0 sync(s)" not in before.out, (
        before.out + before.err
    )
    project.build()
    assert project.revsync("validate").code == 0
    project.model(
        "accounts", "select * from {{ ref('raw') }}", {**BLOCK, "destination": "nowhere"}, columns=not_null_region()
    )
    result = project.revsync("validate")  # the YAML changed since dbt last wrote the manifest
    assert result.code == 2 and "unknown destination 'nowhere'" in result.err, result.out + result.err
    assert project.push().code == 2
    assert names(project) == []


def test_a_revsync_key_where_it_is_not_read_is_an_error_naming_node_and_path(project: Project) -> None:
    accounts(project, ROWS)
    project.model("misplaced", "select * from {{ ref('raw') }}", BLOCK, meta_place="config_only")
    project.build()
    result = project.revsync("validate")
    assert result.code == 2, result.out + result.err
    assert (
        "model 'misplaced'" in result.err
        and "key 'config.revsync'" in result.err
        and "config.meta.revsync" in result.err
    )


def test_no_sync_found_is_a_warning_with_its_reason_and_hints_name_the_command(project: Project, tmp_path: Any) -> None:
    project.seed("raw", ["account_id", "name", "region"], ROWS)
    project.model("plain", "select * from {{ ref('raw') }}")
    project.dbt("parse")
    result = project.revsync("validate")
    assert result.code == 0 and "warning: no sync found" in result.err and "1 model(s)" in result.err, (
        result.out + result.err
    )
    pushed = project.push()  # dbt parse writes no run_results.json: the hint names what does
    assert pushed.code == 2 and "run `dbt build`" in pushed.err and "record_results" in pushed.err, pushed.err
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.main(["validate", "--project-dir", str(tmp_path)])
    assert code == 2 and "is not a dbt project" in err.getvalue(), err.getvalue()
