"""Which syncs a plain push takes, from what dbt built and how its tests went (dbt/builds.py),
and the artifacts' checks that go with it (dbt/artifacts.py)."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dbt_revsync.dbt import artifacts, builds
from dbt_revsync.errors import ManifestError
from dbt_revsync.model import NodeRef, SyncSpec
from tests.factories import connection, sync_spec

T0 = datetime(2030, 1, 1, 12, 0, 0)


def spec(uid: str = "model.p.a", resource_type: str = "model", **extra: Any) -> SyncSpec:
    node = NodeRef(
        unique_id=uid,
        name=uid.rsplit(".", 1)[-1],
        resource_type=resource_type,
        yaml_file="models/a.yml",
        database="db",
        schema="main",
        identifier="a",
    )
    return sync_spec(connection("freshsales", "fs", base_url=None), "x", "append", {}, node=node, **extra)


def built(uid: str, status: str = "success", inv: str = "i1", at: datetime = T0) -> builds.BuildRecord:
    return builds.BuildRecord(inv, "build", at, uid, uid.split(".")[0], status)


def outcome(
    on: str,
    status: str,
    severity: str = "error",
    inv: str = "i1",
    name: str = "not_null_a_x",
    stored: str | None = None,
) -> builds.BuildRecord:
    return builds.BuildRecord(
        inv, "build", T0, f"test.p.{name}", "test", status, on, name, severity, 1 if status != "pass" else 0, stored
    )


def judge(
    s: SyncSpec,
    records: list[builds.BuildRecord],
    last_push: datetime | None = None,
    parents: dict[str, list[str]] | None = None,
    since: bool = True,
) -> builds.Verdict:
    return builds.judge(s, builds.latest_builds(records), builds.source_tests(records), parents or {}, last_push, since)


def test_a_node_built_since_its_last_push_is_taken_and_not_again() -> None:
    records = [built("model.p.a")]
    assert judge(spec(), records).action == "take"
    assert judge(spec(), records, last_push=T0 - timedelta(seconds=1)).action == "take"
    assert judge(spec(), records, last_push=T0 + timedelta(seconds=1)).action == "skip"
    assert judge(spec(), [], last_push=None).action == "skip"


def test_warn_counts_as_built_and_a_failed_or_skipped_build_holds() -> None:
    assert judge(spec(), [built("model.p.a", "warn")]).action == "take"
    for status in ("error", "skipped"):
        verdict = judge(spec(), [built("model.p.a", "success", "i0"), built("model.p.a", status, "i1")])
        assert (verdict.action, verdict.reason.split(":")[0]) == ("hold", f"model_{status}")


def test_an_error_severity_test_failure_holds_a_warn_one_does_not() -> None:
    verdict = judge(spec(), [built("model.p.a"), outcome("model.p.a", "fail")])
    assert (verdict.action, verdict.reason) == ("hold", "failed_test:not_null_a_x")
    assert judge(spec(), [built("model.p.a"), outcome("model.p.a", "warn", "warn")]).action == "take"
    assert judge(spec(), [built("model.p.a"), outcome("model.p.a", "error")]).action == "hold"
    assert judge(spec(gate="none"), [built("model.p.a"), outcome("model.p.a", "fail")]).action == "take"


def test_only_tests_of_the_invocation_that_built_the_node_count() -> None:
    records = [built("model.p.a", inv="i0"), outcome("model.p.a", "fail", inv="i0"), built("model.p.a", inv="i1")]
    assert judge(spec(), records).action == "take"


def test_upstream_gate_looks_at_the_tests_of_every_node_upstream() -> None:
    parents = {"model.p.a": ["model.p.b"], "model.p.b": ["seed.p.c"]}
    records = [built("seed.p.c"), outcome("seed.p.c", "fail", name="unique_c"), built("model.p.b"), built("model.p.a")]
    assert judge(spec(), records, parents=parents).action == "take"
    verdict = judge(spec(gate="upstream"), records, parents=parents)
    assert verdict.action == "hold" and verdict.reason.startswith("failed_test:unique_c (upstream, on seed.p.c)")


def test_quarantine_needs_stored_failures() -> None:
    records = [built("model.p.a"), outcome("model.p.a", "fail", stored='"db"."audit"."t"')]
    verdict = judge(spec(quarantine="tests"), records)
    assert verdict.action == "take" and verdict.quarantines == (builds.Quarantine("not_null_a_x", '"db"."audit"."t"'),)
    verdict = judge(spec(quarantine="tests"), [built("model.p.a"), outcome("model.p.a", "fail")])
    assert verdict.action == "hold" and "store_failures" in str(verdict.reason)


def test_sources_are_taken_unless_their_tests_failed() -> None:
    source = spec("source.p.s.t", "source")
    assert judge(source, []).action == "take"
    assert judge(source, [outcome("source.p.s.t", "fail")]).action == "hold"


def test_run_results_read_as_records_with_the_manifests_test_config() -> None:
    manifest = {
        "nodes": {
            "model.p.a": {"resource_type": "model"},
            "test.p.t": {
                "resource_type": "test",
                "name": "t",
                "attached_node": "model.p.a",
                "config": {"severity": "warn", "store_failures": True},
                "relation_name": '"db"."audit"."t"',
            },
        }
    }
    run_results = {
        "args": {"which": "build"},
        "metadata": {"invocation_id": "abc"},
        "results": [
            {"unique_id": "model.p.a", "status": "success"},
            {"unique_id": "test.p.t", "status": "warn", "failures": 2},
        ],
    }
    records = builds.records_from_run_results(run_results, manifest)
    assert records[1] == builds.BuildRecord(
        "abc", "build", None, "test.p.t", "test", "warn", "model.p.a", "t", "warn", 2, '"db"."audit"."t"'
    )
    assert judge(spec(), records, since=False).action == "take"


@pytest.mark.parametrize(
    "which, ok", [("build", True), ("run", True), ("retry", True), ("test", False), ("generate", False), (None, False)]
)
def test_run_results_count_only_from_a_command_that_builds(which: str | None, ok: bool) -> None:
    document = {"args": {"which": which} if which else {}, "results": []}
    if ok:
        assert artifacts.building_run_results(document, "rr") is document
    else:
        with pytest.raises(ManifestError, match="not by a command that builds"):
            artifacts.building_run_results(document, "rr")


def test_a_revsync_key_where_it_is_not_read_is_reported_with_its_path() -> None:
    manifest = {
        "nodes": {
            "model.p.ok": {
                "resource_type": "model",
                "name": "ok",
                "config": {"meta": {"revsync": {}}},
                "meta": {"revsync": {}},
                "unrendered_config": {"meta": {"revsync": {}}},
            },
            "model.p.off": {
                "resource_type": "model",
                "name": "off",
                "config": {"revsync": {}},
                "unrendered_config": {"revsync": {}},
                "patch_path": "p://models/off.yml",
                "columns": {"x": {"meta": {"revsync": {}}}, "revsync": {"name": "revsync"}},
            },
            "seed.p.s": {"resource_type": "seed", "name": "s", "config": {"column_types": {"revsync": "text"}}},
            "test.p.t": {"resource_type": "test", "name": "t", "config": {"meta": {"revsync": {}}}},
        }
    }
    found = sorted((i.where, i.key, i.file) for i in artifacts.misplaced_blocks(manifest))
    assert found == [
        ("model 'off'", "columns.x.meta.revsync", "models/off.yml"),
        ("model 'off'", "config.revsync", "models/off.yml"),
        ("test 't'", "config.meta.revsync", ""),
    ]


def test_missing_artifacts_name_the_command_that_writes_them(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="run `dbt parse`"):
        artifacts.load_manifest(tmp_path)
    with pytest.raises(ManifestError, match=r"run `dbt build`.*record_results"):
        artifacts.load_run_results(tmp_path)


def test_project_files_newer_than_the_manifest_are_found(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: p\nmodel-paths: [mine]\n")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.sql").write_text("select 1")
    manifest = tmp_path / "target" / "manifest.json"
    assert len(artifacts.stale_inputs(tmp_path, manifest)) == 2  # no manifest: everything is newer
    manifest.parent.mkdir()
    manifest.write_text(json.dumps({}))
    past = time.time() - 60
    for path in (tmp_path / "dbt_project.yml", tmp_path / "mine" / "a.sql"):
        os.utime(path, (past, past))
    assert artifacts.stale_inputs(tmp_path, manifest) == []
    (tmp_path / "mine" / "a.yml").write_text("version: 2")
    (tmp_path / "mine" / "notes.txt").write_text("not a project file")
    assert artifacts.stale_inputs(tmp_path, manifest) == [tmp_path / "mine" / "a.yml"]
