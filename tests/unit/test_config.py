from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dbt_revsync.blocks import check_columns, parse_sync_blocks
from dbt_revsync.commands import parse_nodes
from dbt_revsync.connections import check_base_url, find_connections_file, load_connections, render_env_vars
from dbt_revsync.dbt.artifacts import SyncNode
from dbt_revsync.destinations import catalog
from dbt_revsync.errors import ConfigError
from dbt_revsync.model import NodeRef, Settings

NODE = NodeRef("model.p.accounts", "accounts", "model", "models/schema.yml", "db", "main", "accounts")


def connections(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> tuple[dict[str, Any], list[Any]]:
    path = tmp_path / "revsync.yml"
    path.write_text(text)
    return load_connections(path, env or {}, destinations=catalog())


@pytest.mark.parametrize(
    "text, env, rendered, missing",
    [
        ("{{ env_var('A') }}", {"A": "x"}, "x", []),
        ('{{env_var("A")}}', {"A": "x"}, "x", []),
        ("{{ env_var('A', 'dflt') }}", {}, "dflt", []),
        ("{{ env_var('A', 'dflt') }}", {"A": "set"}, "set", []),
        ("http://{{ env_var('H', 'h') }}:{{ env_var('P', '1') }}/x", {}, "http://h:1/x", []),
        ("{{ env_var('NOPE') }}", {}, "", ["NOPE"]),
        ("plain", {}, "plain", []),
    ],
)
def test_render_env_vars(text: str, env: dict[str, str], rendered: str, missing: list[str]) -> None:
    assert render_env_vars(text, env) == (rendered, missing)


def test_connection_secrets_are_collected_and_numbers_typed(tmp_path: Path) -> None:
    conns, issues = connections(
        tmp_path,
        "connections:\n  fs:\n    type: freshsales\n    domain: acme\n    api_key: \"{{ env_var('K') }}\"\n"
        "    rate_limit: 2.5\n    max_concurrency: 3\n",
        {"K": "s3cret-value"},
    )
    assert issues == []
    conn = conns["fs"]
    assert "s3cret-value" in conn.secrets and "***" not in conn.secrets
    assert (conn.rate_limit, conn.max_concurrency, conn.timeout) == (2.5, 3, 30.0)


def test_every_connection_mistake_is_reported(tmp_path: Path) -> None:
    _, issues = connections(
        tmp_path,
        "connections:\n  a:\n    type: nope\n  b:\n    type: freshsales\n    domain: x\n"
        "    api_key: \"{{ env_var('MISSING') }}\"\n    timeout: -1\n",
    )
    text = "\n".join(map(str, issues))
    assert "connection 'a'" in text and "unknown type 'nope'" in text
    assert "MISSING is not set" in text and "connections.b.timeout" in text and "must be greater than 0" in text


def test_jinja_other_than_env_var_is_refused(tmp_path: Path) -> None:
    _, issues = connections(
        tmp_path, "connections:\n  a:\n    type: freshsales\n    domain: x\n    api_key: \"{{ var('k') }}\"\n"
    )
    assert any("only {{ env_var('NAME') }}" in str(i) for i in issues)


def test_malformed_file_is_an_issue_not_a_traceback(tmp_path: Path) -> None:
    _, issues = connections(tmp_path, "connections: [unclosed\n")
    assert issues and "revsync.yml" in str(issues[0])


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://x.example.com/api", True),
        ("http://127.0.0.1:8765/fs", True),
        ("http://localhost/x", True),
        ("http://[::1]:80/x", True),
        ("http://crm.example.com", False),
        ("ftp://x", False),
        ("x.example.com", False),
    ],
)
def test_plain_http_only_to_loopback(url: str, ok: bool) -> None:
    assert (check_base_url(url) == []) is ok


def test_connections_file_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "revsync.yml").write_text("connections: {}")
    env_file = tmp_path / "env.yml"
    env_file.write_text("connections: {}")
    assert find_connections_file(None, project, {}) == project / "revsync.yml"
    assert find_connections_file(None, project, {"DBT_REVSYNC_CONNECTIONS": str(env_file)}) == env_file
    assert find_connections_file(str(env_file), project, {}) == env_file
    with pytest.raises(ConfigError, match="connections file not found"):
        find_connections_file(str(tmp_path / "nope.yml"), project, {})
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(ConfigError, match="no revsync.yml found"):
        find_connections_file(None, tmp_path, {})


def _conns(tmp_path: Path) -> dict[str, Any]:
    conns, _ = connections(tmp_path, "connections:\n  fs:\n    type: freshsales\n    domain: acme\n    api_key: k\n")
    return conns


BLOCK = {
    "destination": "fs",
    "object": "contacts",
    "insert_mode": "upsert",
    "primary_key": "id",
    "upsert_key": "emails",
    "fields": {"emails": "email", "custom_field.cf_x": "x"},
}


def test_block_list_with_names_and_sync_ids(tmp_path: Path) -> None:
    specs, issues, uses = parse_sync_blocks(
        NODE,
        [{**BLOCK, "name": "a"}, {**BLOCK, "name": "b", "insert_mode": "append"}],
        _conns(tmp_path),
        destinations=catalog(),
    )
    assert issues == []
    assert [s.sync_id for s in specs] == ["model.p.accounts:a", "model.p.accounts:b"]
    assert specs[0].upsert_field is not None and specs[0].upsert_field.column == "email"
    assert {u.column for u in uses} == {"id", "email", "x"}
    assert specs[0].fingerprint != specs[1].fingerprint


def test_two_unnamed_blocks_to_the_same_place_collide(tmp_path: Path) -> None:
    _, issues, _ = parse_sync_blocks(NODE, [BLOCK, BLOCK], _conns(tmp_path), destinations=catalog())
    assert any("give each a distinct 'name'" in str(i) and "revsync[1].name" in str(i) for i in issues)


def test_defaults_and_composite_keys(tmp_path: Path) -> None:
    block = {"destination": "fs", "object": "deals", "primary_key": ["a", "b"], "fields": {"name": "n"}}
    (spec,), issues, _ = parse_sync_blocks(NODE, block, _conns(tmp_path), destinations=catalog())
    assert issues == []
    assert (spec.insert_mode, spec.fetch_mode, spec.nulls, spec.primary_key) == ("append", "full", "skip", ("a", "b"))
    assert spec.effective_batch_size(100) == 100


def test_batch_size_is_capped_at_the_destinations_maximum(tmp_path: Path) -> None:
    (spec,), _, _ = parse_sync_blocks(NODE, {**BLOCK, "batch_size": 5000}, _conns(tmp_path), destinations=catalog())
    assert spec.effective_batch_size(100) == 100


@pytest.mark.parametrize(
    "extra, owner, schedule",
    [
        ({"owner": "ops@example.com", "schedule": "30m"}, (("email", "ops@example.com"),), "30m"),
        ({"owner": "Revenue Ops", "schedule": "daily"}, (("name", "Revenue Ops"),), "daily"),
        ({"owner": {"name": "Ops", "email": "o@x.io"}}, (("email", "o@x.io"), ("name", "Ops")), None),
    ],
)
def test_owner_and_schedule(tmp_path: Path, extra: dict[str, Any], owner: Any, schedule: str | None) -> None:
    (spec,), issues, _ = parse_sync_blocks(NODE, {**BLOCK, **extra}, _conns(tmp_path), destinations=catalog())
    assert issues == [] and spec.owner == owner and spec.schedule == schedule


def test_bad_owner_and_schedule_are_reported_at_their_keys(tmp_path: Path) -> None:
    specs, issues, _ = parse_sync_blocks(
        NODE, {**BLOCK, "owner": {"team": "x"}, "schedule": "weekly"}, _conns(tmp_path), destinations=catalog()
    )
    assert specs == []
    assert sorted(i.key for i in issues) == ["config.meta.revsync.owner", "config.meta.revsync.schedule"]


def test_retry_bounds_are_connection_settings() -> None:
    from dbt_revsync.connections import parse_connection

    raw = {
        "type": "freshsales",
        "api_key": "k" * 8,
        "base_url": "http://127.0.0.1:1/fs",
        "max_retries": 0,
        "max_retry_time": 7.5,
    }
    conn, issues = parse_connection("fs", raw, "revsync.yml", {}, destinations=catalog())
    assert issues == [] and conn is not None and (conn.max_retries, conn.max_retry_time) == (0, 7.5)
    _, issues = parse_connection(
        "fs", {**raw, "max_retries": -1, "max_retry_time": 0}, "revsync.yml", {}, destinations=catalog()
    )
    assert sorted(i.key for i in issues) == ["connections.fs.max_retries", "connections.fs.max_retry_time"]


def test_breaker_threshold_is_a_connection_setting_of_at_least_one() -> None:
    from dbt_revsync.connections import parse_connection

    raw = {"type": "freshsales", "api_key": "k" * 8, "base_url": "http://127.0.0.1:1/fs"}
    conn, issues = parse_connection("fs", raw, "revsync.yml", {}, destinations=catalog())
    assert issues == [] and conn is not None and conn.breaker_threshold == 10
    conn, issues = parse_connection("fs", {**raw, "breaker_threshold": 3}, "revsync.yml", {}, destinations=catalog())
    assert issues == [] and conn is not None and conn.breaker_threshold == 3
    _, issues = parse_connection("fs", {**raw, "breaker_threshold": 0}, "revsync.yml", {}, destinations=catalog())
    assert [(i.key, i.message) for i in issues] == [
        ("connections.fs.breaker_threshold", "must be from 1 to 10000; got 0")
    ]
    _, issues = parse_connection(
        "fs", {**raw, "base_url": "http://127.0.0.1.example.com/fs"}, "revsync.yml", {}, destinations=catalog()
    )
    assert [i.key for i in issues] == ["connections.fs.base_url"]


def test_the_connection_settings_reach_its_http_client() -> None:
    from dbt_revsync.destinations import destination_class
    from dbt_revsync.model import Connection, FieldMap, NodeRef, SyncSpec
    from dbt_revsync.runner import default_client

    conn = Connection(
        "fs", "freshsales", {"api_key": "k", "domain": "d"}, max_retries=2, max_retry_time=9.0, breaker_threshold=3
    )
    node = NodeRef("model.p.m", "m", "model", "models/s.yml", "db", "main", "m")
    sync = SyncSpec("s", node, conn, "sales_accounts", "upsert", ("id",), (FieldMap("name", "name"),))
    client = default_client(sync, destination_class("freshsales"))
    assert (client.breaker.threshold, client.policy.max_attempts, client.policy.max_seconds) == (3, 3, 9.0)


def test_a_missing_env_var_for_a_required_secret_is_reported_once(tmp_path: Path) -> None:
    _, issues = connections(
        tmp_path, "connections:\n  b:\n    type: freshsales\n    domain: x\n    api_key: \"{{ env_var('MISSING') }}\"\n"
    )
    assert [i.key for i in issues] == ["connections.b.api_key"]
    assert "MISSING is not set" in str(issues[0])


def test_mistyped_names_get_the_closest_right_one(tmp_path: Path) -> None:
    conns, issues = connections(
        tmp_path,
        "connections:\n  fs:\n    type: freshsale\n"
        "  f2:\n    type: freshsales\n    domain: x\n    api_key: k\n    rate_limt: 3\n",
    )
    text = "\n".join(map(str, issues))
    assert "(did you mean 'freshsales'?)" in text and "(did you mean 'rate_limit'?)" in text
    block = {**BLOCK, "destination": "fs2", "feilds": {}, "upsert_key": "email", "insert_mode": "upsret"}
    _, issues, _ = parse_sync_blocks(NODE, block, _conns(tmp_path), destinations=catalog())
    text = "\n".join(map(str, issues))
    assert "unknown destination 'fs2' (did you mean 'fs'?)" in text
    assert "revsync.feilds': unknown key (did you mean 'fields'?)" in text
    assert "got 'upsret' (did you mean 'upsert'?)" in text
    _, issues, _ = parse_sync_blocks(NODE, {**BLOCK, "upsert_key": "email"}, _conns(tmp_path), destinations=catalog())
    assert "(did you mean 'emails'?)" in str(issues[0])


def test_a_named_block_is_named_in_its_messages(tmp_path: Path) -> None:
    _, issues, uses = parse_sync_blocks(
        NODE, [{**BLOCK, "name": "to_sales", "insert_mode": "nope"}], _conns(tmp_path), destinations=catalog()
    )
    assert str(issues[0]).startswith(
        "model 'accounts', sync 'to_sales', models/schema.yml, key 'config.meta.revsync[0].insert_mode'"
    )
    (issue,) = check_columns([u for u in uses if u.column == "x"], ["id", "email", "y"])
    assert "sync 'to_sales'" in str(issue)


def test_a_revsync_yaml_beside_the_missing_revsync_yml_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "revsync.yaml").write_text("connections: {}")
    with pytest.raises(ConfigError, match="found .*revsync.yaml: rename it to revsync.yml"):
        find_connections_file(None, tmp_path, {})


def test_a_broken_connection_with_a_quote_in_its_name_is_reported_once(tmp_path: Path) -> None:
    """Issues carry the connection's name as data: a block pointing at a broken connection is
    not reported again as an unknown destination, whatever characters the name holds."""
    (tmp_path / "revsync.yml").write_text('connections:\n  "o\'brien":\n    type: freshsales\n')
    _, issues = load_connections(tmp_path / "revsync.yml", {}, destinations=catalog())
    assert issues and {issue.connection for issue in issues} == {"o'brien"}
    nodes = [SyncNode(NODE, {**BLOCK, "destination": "o'brien"})]
    _, found, _ = parse_nodes(Settings(project_dir=tmp_path), nodes)
    assert found and all(issue.connection == "o'brien" for issue in found)
    assert not any("unknown destination" in str(issue) for issue in found)
