"""Configuration mistakes: exit status 2, a message naming model, file and key, zero requests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

GOOD = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "insert_mode": "upsert",
    "primary_key": "account_id",
    "upsert_key": "cf_account_id",
    "fields": {"name": "name", "custom_field.cf_account_id": "account_id"},
}
MODEL_SQL = "select 1 as account_id, 'Acme' as name, timestamp '2024-01-01' as updated_at"
YAML_FILE = "models/schema.yml"


def broken(**changes: Any) -> dict[str, Any]:
    block = {**GOOD, **changes}
    return {k: v for k, v in block.items() if v is not None}


CASES = [
    (
        "unknown destination",
        broken(destination="hubspott"),
        "config.meta.revsync.destination",
        "unknown destination 'hubspott'",
    ),
    (
        "column the model lacks",
        broken(fields={"name": "company_name", "custom_field.cf_account_id": "account_id"}),
        "config.meta.revsync.fields.name",
        "column 'company_name' is not in",
    ),
    (
        "upsert without upsert_key",
        broken(upsert_key=None),
        "config.meta.revsync.upsert_key",
        "is required when insert_mode is upsert",
    ),
    (
        "incremental without incremental_key",
        broken(fetch_mode="incremental"),
        "config.meta.revsync.incremental_key",
        "is required when fetch_mode is incremental",
    ),
    (
        "unknown insert mode",
        broken(insert_mode="merge"),
        "config.meta.revsync.insert_mode",
        "must be one of append, update, upsert, delete, mirror",
    ),
    ("misspelt key", {**GOOD, "feilds": {}}, "config.meta.revsync.feilds", "unknown key"),
    (
        "upsert key not mapped",
        broken(upsert_key="cf_customer_no"),
        "config.meta.revsync.upsert_key",
        "is not one of the mapped destination fields",
    ),
    ("unknown object", broken(object="leads"), "config.meta.revsync.object", "unknown freshsales object 'leads'"),
    (
        "batch size not positive",
        broken(batch_size=0),
        "config.meta.revsync.batch_size",
        "must be a whole number above 0",
    ),
    ("no primary key", broken(primary_key=None), "config.meta.revsync.primary_key", "is required"),
    (
        "mirror cannot be incremental",
        broken(insert_mode="mirror", fetch_mode="incremental", incremental_key="updated_at"),
        "config.meta.revsync.fetch_mode",
        "mirror needs fetch_mode full",
    ),
    (
        "incremental key the model lacks",
        broken(fetch_mode="incremental", incremental_key="modified"),
        "config.meta.revsync.incremental_key",
        "column 'modified' is not in",
    ),
    ("unknown null policy", broken(nulls="blank"), "config.meta.revsync.nulls", "must be one of skip, overwrite"),
]


def assert_config_error(project: Project, result: Any, *expected: str) -> None:
    assert result.code == 2, result.out + result.err
    assert "Traceback" not in result.err
    for text in expected:
        assert text in result.err, result.err
    assert project.sandbox.stats()["freshsales"]["requests"] == 0


@pytest.mark.parametrize("title, block, key, message", CASES, ids=[c[0] for c in CASES])
def test_a_block_mistake_is_named_with_model_file_and_key(
    project: Project, title: str, block: dict[str, Any], key: str, message: str
) -> None:
    project.model("crm_accounts", MODEL_SQL, block)
    project.build()
    for command in ("push", "validate", "plan"):
        result = project.revsync(command)
        assert_config_error(project, result, "model 'crm_accounts'", YAML_FILE, f"key '{key}'", message)


def test_every_mistake_of_every_sync_is_reported_at_once(project: Project) -> None:
    project.model("a", MODEL_SQL, broken(destination="nowhere"))
    project.model(
        "b",
        MODEL_SQL,
        broken(
            upsert_key=None,
            insert_mode="mirror",
            fields={"name": "missing_col", "custom_field.cf_account_id": "account_id"},
        ),
    )
    project.model("c", MODEL_SQL, GOOD)
    project.build()
    result = project.push()
    assert_config_error(
        project,
        result,
        "3 configuration errors",
        "model 'a'",
        "model 'b'",
        "nowhere",
        "insert_mode is mirror",
        "missing_col",
    )


@pytest.mark.parametrize(
    "connection, key, message",
    [
        (
            {"type": "freshsales", "api_key": "{{ env_var('REVSYNC_UNSET_VAR') }}", "domain": "acme.myfreshworks.com"},
            "connections.freshsales.api_key",
            "REVSYNC_UNSET_VAR is not set",
        ),
        ({"type": "freshsails", "api_key": "x"}, "connections.freshsales.type", "unknown type 'freshsails'"),
        (
            {"type": "freshsales", "api_key": "x", "base_url": "http://crm.example.com/api"},
            "connections.freshsales.base_url",
            "plain http is refused",
        ),
        ({"type": "freshsales", "api_key": "x"}, "connections.freshsales", "needs 'domain'"),
        (
            {"type": "freshsales", "api_key": "x", "domain": "a.myfreshworks.com", "rate_limit": "fast"},
            "connections.freshsales.rate_limit",
            "expected a number",
        ),
        (
            {"type": "freshsales", "api_key": "x", "domain": "a.myfreshworks.com", "api_secret": "y"},
            "connections.freshsales.api_secret",
            "unknown key",
        ),
    ],
)
def test_a_connection_mistake_is_named_with_file_and_key(
    project: Project, connection: dict[str, Any], key: str, message: str
) -> None:
    project.connections({"freshsales": connection})
    project.model("crm_accounts", MODEL_SQL, GOOD)
    project.build()
    result = project.push()
    assert_config_error(project, result, "connection 'freshsales'", "revsync.yml", key, message)


def test_env_var_default_and_secrets_never_printed(project: Project) -> None:
    project.env["MY_FS_KEY"] = "sandbox-freshsales-key"
    project.connections(
        {
            "freshsales": project.freshsales_connection(
                api_key="{{ env_var('MY_FS_KEY') }}", timeout="{{ env_var('REVSYNC_T', '15') }}"
            )
        }
    )
    project.model("crm_accounts", MODEL_SQL, GOOD)
    project.build()
    result = project.push("--log-level", "debug")
    assert result.code == 0, result.err
    assert "sandbox-freshsales-key" not in result.out + result.err
    assert project.sandbox.stats()["freshsales"]["requests"] == 1


def test_unknown_manifest_version_is_a_clear_error(project: Project) -> None:
    project.model("crm_accounts", MODEL_SQL, GOOD)
    project.build()
    manifest = project.root / "target" / "manifest.json"
    document = json.loads(manifest.read_text())
    document["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v99.json"
    manifest.write_text(json.dumps(document))
    result = project.push()
    assert_config_error(
        project, result, "manifest.json has schema version", "v99", "dbt-revsync reads manifest v10, v11, v12"
    )


def test_missing_artifacts_and_missing_relation(project: Project) -> None:
    project.model("crm_accounts", MODEL_SQL, GOOD)
    result = project.push()  # dbt-revsync parses the project itself; what it lacks is a record of a build
    assert_config_error(project, result, "run_results.json not found", "run `dbt build`")
    project.dbt("parse")
    result = project.revsync("validate")
    assert_config_error(project, result, "does not exist in the warehouse", "model 'crm_accounts'")
