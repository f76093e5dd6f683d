"""`dbt-revsync exposures`: one exposure per sync, in a YAML file that `dbt parse` accepts."""

from __future__ import annotations

import json

import pytest
from ruamel.yaml import YAML

from tests.integration.conftest import Project, _yaml_text

pytestmark = pytest.mark.integration

ACCOUNTS = {
    "destination": "freshsales",
    "object": "sales_accounts",
    "primary_key": "account_id",
    "fields": {"name": "name", "custom_field.cf_account_id": "account_id"},
}


def test_exposures_file_parses_in_dbt_and_links_every_sync_to_its_node(project: Project) -> None:
    project.seed("raw", ["account_id", "name"], [[1, "One"]])
    two_blocks = [
        {
            **ACCOUNTS,
            "name": "main",
            "schedule": "hourly",
            "owner": {"name": "Revenue Ops", "email": "revops@example.com"},
        },
        {**ACCOUNTS, "name": "copy", "object": "deals"},
    ]
    project.model("accounts", "select * from {{ ref('raw') }}", two_blocks)
    project.models["accounts"]["config"]["meta"]["owner"] = "accounts-owner@example.com"
    project.model(
        "contacts",
        "select account_id as contact_id, name from {{ ref('raw') }}",
        {
            "destination": "freshsales",
            "object": "contacts",
            "primary_key": "contact_id",
            "fields": {"first_name": "name"},
        },
    )
    project.models["contacts"]["config"]["meta"]["owner"] = "data-team@example.com"
    (project.root / "models" / "schema.yml").write_text(
        _yaml_text({"version": 2, "models": list(project.models.values())})
    )
    (project.root / "models" / "sources.yml").write_text(
        _yaml_text(
            {
                "version": 2,
                "sources": [
                    {
                        "name": "crm",
                        "schema": "main",
                        "tables": [{"name": "raw", "config": {"meta": {"revsync": {**ACCOUNTS, "object": "deals"}}}}],
                    }
                ],
            }
        )
    )
    project.build()
    result = project.revsync("exposures")
    assert result.code == 0, result.err
    path = project.root / "models" / "revsync_exposures.yml"
    assert f"wrote 4 exposure(s) to {path}" in result.out
    written = YAML(typ="safe").load(path.read_text())
    assert written["version"] == 2 and len(written["exposures"]) == 4

    # dbt >= 1.10 takes meta and tags under config (at the top level it warns that they moved)
    assert all("meta" not in e and e["config"]["tags"] == ["revsync"] for e in written["exposures"])
    parsed = project.dbt("parse", "--no-partial-parse")  # dbt itself accepts the file
    assert "Deprecat" not in parsed.stdout, parsed.stdout[-2000:]
    manifest = json.loads((project.root / "target" / "manifest.json").read_text())
    found = {e["name"]: e for e in manifest["exposures"].values()}
    assert sorted(found) == [
        "revsync_accounts_freshsales_deals_copy",
        "revsync_accounts_freshsales_sales_accounts_main",
        "revsync_contacts_freshsales_contacts",
        "revsync_raw_freshsales_deals",
    ]
    main = found["revsync_accounts_freshsales_sales_accounts_main"]
    assert main["type"] == "application"
    assert main["depends_on"]["nodes"] == ["model.revsync_test.accounts"]
    assert (main["owner"]["name"], main["owner"]["email"]) == ("Revenue Ops", "revops@example.com")
    assert (
        main["config"]["meta"]["revsync"]["schedule"] == "hourly"
        and main["label"] == "accounts [main] -> freshsales.sales_accounts"
    )
    assert (
        found["revsync_contacts_freshsales_contacts"]["owner"]["email"] == "data-team@example.com"
    )  # from the model's meta
    assert (
        found["revsync_accounts_freshsales_deals_copy"]["owner"]["email"] == "accounts-owner@example.com"
    )  # the block has none
    source = found["revsync_raw_freshsales_deals"]
    assert source["depends_on"]["nodes"] == ["source.revsync_test.crm.raw"]
    assert source["owner"]["name"] == "freshsales"  # nobody named anywhere: the connection
    # Regenerating gives the same file: it can be committed and kept in step.
    before = path.read_text()
    assert project.revsync("exposures").code == 0 and path.read_text() == before


def test_exposures_honours_select_and_writes_meta_where_the_dbt_version_reads_it(project: Project) -> None:
    from dbt_revsync.dbt import exposures

    project.seed("raw", ["account_id", "name"], [[1, "One"]])
    project.model("accounts", "select * from {{ ref('raw') }}", ACCOUNTS)
    project.model("deals", "select * from {{ ref('raw') }}", {**ACCOUNTS, "object": "deals"})
    project.build()
    result = project.revsync("exposures", "--select", "deals")
    assert result.code == 0, result.err
    assert "wrote 1 exposure(s)" in result.out
    written = YAML(typ="safe").load((project.root / "models" / "revsync_exposures.yml").read_text())
    assert [e["name"] for e in written["exposures"]] == ["revsync_deals_freshsales_deals"]
    assert (
        exposures.config_keys("1.10.0")
        and exposures.config_keys("2.0.0-preview.45")
        and not exposures.config_keys("1.9.8")
    )
    assert not exposures.config_keys("")
