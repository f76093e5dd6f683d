"""What `forget` says a sync's next push will do, for each way a sync finds its records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbt_revsync.blocks import parse_sync_blocks
from dbt_revsync.commands import ForgetPlan, after_forgetting
from dbt_revsync.connections import load_connections
from dbt_revsync.destinations import catalog
from dbt_revsync.model import NodeRef
from dbt_revsync.output import forget_text

NODE = NodeRef("model.p.people", "people", "model", "models/schema.yml", "db", "main", "people")


def spec(tmp_path: Path, **block: Any) -> Any:
    path = tmp_path / "revsync.yml"
    path.write_text(
        "connections:\n  fd:\n    type: freshdesk\n    domain: acme\n    api_key: k\n"
        "  fs:\n    type: freshsales\n    domain: acme.myfreshworks.com\n    api_key: k\n"
    )
    conns, issues = load_connections(path, {}, destinations=catalog())
    assert issues == []
    (found,), problems, _ = parse_sync_blocks(
        NODE, {"primary_key": "pid", "insert_mode": "upsert", **block}, conns, destinations=catalog()
    )
    assert problems == []
    return found


def test_forget_names_the_match_keys_a_sync_relinks_by_and_warns_rows_without_them_are_created_again(
    tmp_path: Path,
) -> None:
    matched = spec(
        tmp_path,
        destination="fd",
        object="contacts",
        match_on=["email", "mobile"],
        fields={"name": "name", "email": "email", "mobile": "mobile"},
    )
    said = after_forgetting(matched)
    assert "upsert key" not in said  # Freshdesk has none: it finds contacts by match_on
    assert "email, then mobile" in said and "created again" in said
    upserted = spec(
        tmp_path,
        destination="fs",
        object="contacts",
        upsert_key="emails",
        fields={"first_name": "name", "emails": "email"},
    )
    assert "relinks by upsert key emails" in after_forgetting(upserted)


def test_forget_text_fits_80_columns(tmp_path: Path) -> None:
    matched = spec(
        tmp_path,
        destination="fd",
        object="contacts",
        match_on=["email", "mobile"],
        fields={"name": "name", "email": "email", "mobile": "mobile"},
    )
    text = forget_text([ForgetPlan(matched, [], after_forgetting(matched))])
    assert max(len(line) for line in text.splitlines()) <= 80, text
