"""`validate --remote`: each mapped field checked against the destination's own field list."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

BLOCK = {"destination": "freshsales", "object": "sales_accounts", "primary_key": "account_id"}


def test_validate_remote_checks_mapped_fields_against_the_freshsales_field_list(project: Project) -> None:
    project.seed("raw", ["account_id", "name", "site"], [[1, "One", "one.example"]])
    good = {**BLOCK, "fields": {"name": "name", "website": "site", "custom_field.cf_account_id": "account_id"}}
    project.model("accounts", "select * from {{ ref('raw') }}", good)
    project.build()
    plain = project.revsync("validate")
    assert plain.code == 0 and "remote" not in plain.out
    assert project.sandbox.stats()["freshsales"]["requests"] == 0  # without --remote nothing is asked
    result = project.revsync("validate", "--remote")
    assert result.code == 0, result.err
    assert (
        "remote  accounts -> freshsales.sales_accounts: 3 mapped field(s) exist in freshsales.sales_accounts"
        in result.out
    )
    assert project.sandbox.stats()["freshsales"]["by_route"] == {"GET sales_accounts.fields": 1}

    bad = {**BLOCK, "fields": {"name": "name", "websit": "site", "custom_field.cf_segment": "account_id"}}
    project.model("accounts", "select * from {{ ref('raw') }}", bad)
    project.dbt("parse")
    result = project.revsync("validate", "--remote")
    assert result.code == 2
    assert "2 configuration errors" in result.err
    assert "key 'config.meta.revsync.fields.websit': 'websit' is not a field of freshsales sales_accounts" in result.err
    assert "key 'config.meta.revsync.fields.custom_field.cf_segment': 'cf_segment' is not a field" in result.err
    project.sandbox.emulator("freshsales").define_custom_field("sales_accounts", "cf_segment")
    result = project.revsync("validate", "--remote")
    assert (
        result.code == 2
        and "1 configuration error:" in result.err
        and "fields.custom_field.cf_segment" not in result.err
    )
    assert "(did you mean 'website'?); it has: " in result.err and "cf_segment" in result.err  # listed among the fields


def test_validate_remote_with_refused_credentials_fails_without_a_traceback(project: Project) -> None:
    project.seed("raw", ["account_id", "name"], [[1, "One"]])
    project.model("accounts", "select * from {{ ref('raw') }}", {**BLOCK, "fields": {"name": "name"}})
    project.build()
    project.env["FRESHSALES_API_KEY"] = "wrong-key"
    result = project.revsync("validate", "--remote")
    assert result.code == 2  # credentials the CRM refuses are a configuration error
    assert "answered 401" in result.err and "Traceback" not in result.err and "wrong-key" not in result.err
    assert "connection 'freshsales'" in result.err and "check base_url and the credentials" in result.err
