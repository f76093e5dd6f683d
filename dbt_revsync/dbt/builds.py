"""What dbt built and how its tests went, and which syncs a plain ``push`` therefore takes.

Pure logic, no I/O. The record comes from the post-run hook (``macros/revsync_results.sql``:
each node's latest build, with the tests run in that invocation) or, as a fallback, from a
building invocation's ``run_results.json``. The policy:

- A sync is taken when its node's latest recorded build succeeded (``warn`` counts as built)
  after the sync's last successful push (the hook's record) or in that invocation (the
  fallback). Sources are never built: they are taken every time.
- Tests gate it (the block's ``gate``): ``model`` (default) looks at the tests of the sync's
  own node, ``upstream`` also at those of every node upstream of it, ``none`` at none. A test
  blocks when it failed or errored at error severity in the invocation that built the node
  (``warn`` severity never blocks).
- With ``quarantine: tests``, a blocking test on the node itself that stored its failures
  (dbt's ``store_failures``) holds back only the rows whose keys it stored; the other rows go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dbt_revsync.model import SyncSpec

__all__ = [
    "BLOCKING_TEST_STATUSES",
    "BUILDING_COMMANDS",
    "BUILT_STATUSES",
    "BUILT_TYPES",
    "BuildRecord",
    "NodeBuild",
    "Quarantine",
    "Verdict",
    "judge",
    "latest_builds",
    "records_from_rows",
    "records_from_run_results",
    "source_tests",
    "upstream",
]

BUILDING_COMMANDS = ("build", "run", "seed", "snapshot", "retry")
BUILT_STATUSES = ("success", "warn")  # what a node's own result says when dbt built it
BLOCKING_TEST_STATUSES = ("fail", "error")
BUILT_TYPES = ("model", "seed", "snapshot")


@dataclass(frozen=True)
class BuildRecord:
    """One row of ``revsync_build_results``: a node's own result (``attached_to`` None) or a
    test's result on the node ``attached_to``."""

    invocation_id: str
    command: str
    recorded_at: datetime | None
    unique_id: str
    resource_type: str
    status: str
    attached_to: str | None = None
    test_name: str | None = None
    severity: str | None = None
    failures: int | None = None
    failures_relation: str | None = None

    @property
    def blocks(self) -> bool:
        """A test that failed or errored at error severity."""
        return self.status in BLOCKING_TEST_STATUSES and (self.severity or "error") == "error"


@dataclass(frozen=True)
class Quarantine:
    """A failing test whose stored failures name the rows to hold back."""

    test_name: str
    relation: str

    @property
    def reason(self) -> str:
        return f"failed_test:{self.test_name}"


@dataclass(frozen=True)
class Verdict:
    """What a plain push does with one sync: ``take`` it, ``skip`` it (nothing new was built:
    silent), or ``hold`` it (``reason`` says why). A sync taken may carry quarantines."""

    spec: SyncSpec
    action: str  # take | skip | hold
    reason: str | None = None
    invocation_id: str | None = None
    quarantines: tuple[Quarantine, ...] = ()


def records_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[BuildRecord]:
    """The hook's table, as records."""
    return [
        BuildRecord(
            invocation_id=str(row["invocation_id"]),
            command=str(row["command"]),
            recorded_at=row.get("recorded_at"),
            unique_id=str(row["unique_id"]),
            resource_type=str(row["resource_type"]),
            status=str(row["status"]),
            attached_to=row.get("attached_to"),
            test_name=row.get("test_name"),
            severity=(str(row["severity"]).lower() if row.get("severity") else None),
            failures=None if row.get("failures") is None else int(row["failures"]),
            failures_relation=row.get("failures_relation"),
        )
        for row in rows
    ]


def records_from_run_results(run_results: Mapping[str, Any], manifest: Mapping[str, Any]) -> list[BuildRecord]:
    """A building invocation's ``run_results.json`` as the hook would have recorded it (the
    tests' severity, tested node and stored failures come from the manifest)."""
    args = run_results.get("args") or {}
    invocation = str((run_results.get("metadata") or {}).get("invocation_id") or "run_results.json")
    nodes = manifest.get("nodes") or {}
    records = []
    for result in run_results.get("results") or ():
        uid = str(result.get("unique_id"))
        node = nodes.get(uid) or {}
        kind = str(node.get("resource_type") or uid.split(".", 1)[0])
        status = str(result.get("status"))
        base: dict[str, Any] = {
            "invocation_id": invocation,
            "command": str(args.get("which") or ""),
            "recorded_at": None,
            "unique_id": uid,
            "resource_type": kind,
            "status": status,
        }
        if kind in BUILT_TYPES:
            records.append(BuildRecord(**base))
        elif kind == "test":
            config = node.get("config") or {}
            attached = node.get("attached_node")
            targets = [attached] if attached else list((node.get("depends_on") or {}).get("nodes") or ())
            stored = node.get("relation_name") if config.get("store_failures") else None
            failures = result.get("failures")
            for target in targets:
                records.append(
                    BuildRecord(
                        **base,
                        attached_to=str(target),
                        test_name=str(node.get("name") or uid),
                        severity=str(config.get("severity") or "error").lower(),
                        failures=failures if isinstance(failures, int) else None,
                        failures_relation=stored,
                    )
                )
    return records


@dataclass(frozen=True)
class NodeBuild:
    """A node's latest build and the tests run on it in that invocation."""

    record: BuildRecord
    tests: tuple[BuildRecord, ...]

    @property
    def built(self) -> bool:
        return self.record.status in BUILT_STATUSES


def latest_builds(records: Sequence[BuildRecord]) -> dict[str, NodeBuild]:
    """unique_id -> its latest build (records in the order they were recorded)."""
    latest: dict[str, BuildRecord] = {}
    for record in records:
        if record.attached_to is None and record.resource_type in BUILT_TYPES:
            latest[record.unique_id] = record
    tests: dict[tuple[str, str], list[BuildRecord]] = {}
    for record in records:
        if record.attached_to is not None:
            tests.setdefault((record.attached_to, record.invocation_id), []).append(record)
    return {uid: NodeBuild(rec, tuple(tests.get((uid, rec.invocation_id), ()))) for uid, rec in latest.items()}


def source_tests(records: Sequence[BuildRecord]) -> dict[str, tuple[BuildRecord, ...]]:
    """Tests on nodes dbt never builds (sources), from the latest invocation that tested each."""
    latest: dict[str, str] = {}
    for record in records:
        if record.attached_to is not None:
            latest[record.attached_to] = record.invocation_id
    found: dict[str, list[BuildRecord]] = {}
    for record in records:
        if record.attached_to is not None and latest.get(record.attached_to) == record.invocation_id:
            found.setdefault(record.attached_to, []).append(record)
    return {uid: tuple(tests) for uid, tests in found.items()}


def upstream(uid: str, parents: Mapping[str, Sequence[str]]) -> list[str]:
    """Every node upstream of ``uid`` (its parents, their parents, ...)."""
    seen: dict[str, None] = {}
    stack = list(parents.get(uid, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen[node] = None
            stack.extend(parents.get(node, ()))
    return list(seen)


def judge(
    spec: SyncSpec,
    builds: Mapping[str, NodeBuild],
    tested_sources: Mapping[str, tuple[BuildRecord, ...]],
    parents: Mapping[str, Sequence[str]],
    last_push: datetime | None,
    since_last_push: bool = True,
) -> Verdict:
    """Take, skip or hold one sync (see the module's docstring)."""
    uid = spec.node.unique_id
    if spec.node.resource_type == "source":
        own = tested_sources.get(uid, ())
        invocation = own[0].invocation_id if own else None
    else:
        build = builds.get(uid)
        if build is None:
            return Verdict(spec, "skip", "not built by any recorded dbt invocation")
        invocation = build.record.invocation_id
        if (
            since_last_push
            and last_push is not None
            and build.record.recorded_at is not None
            and build.record.recorded_at <= last_push
        ):
            return Verdict(spec, "skip", "not built since its last push", invocation)
        if not build.built:
            return Verdict(
                spec, "hold", f"model_{build.record.status}: dbt {build.record.command} did not build it", invocation
            )
        own = build.tests
    if spec.gate == "none":
        return Verdict(spec, "take", invocation_id=invocation)
    quarantines: list[Quarantine] = []
    for test in (t for t in own if t.blocks):
        if spec.quarantine == "tests" and test.status == "fail" and test.failures_relation:
            quarantines.append(Quarantine(str(test.test_name), test.failures_relation))
            continue
        why = " (quarantine needs the test's store_failures)" if spec.quarantine == "tests" else ""
        return Verdict(spec, "hold", f"failed_test:{test.test_name}{why}", invocation)
    if spec.gate == "upstream":
        for parent in upstream(uid, parents):
            parent_tests = builds[parent].tests if parent in builds else tested_sources.get(parent, ())
            failing = next((t for t in parent_tests if t.blocks), None)
            if failing is not None:
                return Verdict(spec, "hold", f"failed_test:{failing.test_name} (upstream, on {parent})", invocation)
    return Verdict(spec, "take", invocation_id=invocation, quarantines=tuple(quarantines))
