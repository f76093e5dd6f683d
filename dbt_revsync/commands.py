"""What each command does, from settings to reports. The CLI only parses and prints."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from dbt_revsync import events, listen_ledger, logs, schedule, webhook
from dbt_revsync.blocks import ColumnUse, check_columns, parse_sync_blocks
from dbt_revsync.connections import find_connections_file, load_connections
from dbt_revsync.dbt import artifacts as dbt_artifacts
from dbt_revsync.dbt import build_state, builds, cloud, exposures, invocation
from dbt_revsync.destinations import catalog
from dbt_revsync.destinations.base import Destination
from dbt_revsync.errors import (
    ConfigError,
    ConfigIssue,
    DestinationError,
    ManifestError,
    UsageError,
    did_you_mean,
    raise_if,
)
from dbt_revsync.model import Settings, SyncReport, SyncSpec, SyncStatus
from dbt_revsync.runner import DestinationPool, Progress, Pusher
from dbt_revsync.state import Remembered, StateStore, SyncLocked
from dbt_revsync.warehouse import Warehouse

__all__ = [
    "LISTEN_JOURNAL",
    "MAX_LISTED",
    "WEBHOOK_SECRET_ENV",
    "ForgetPlan",
    "ListenOptions",
    "NotDue",
    "RunHistory",
    "Selection",
    "after_forgetting",
    "check_relations",
    "check_remote_fields",
    "cloud_artifacts",
    "current_manifest",
    "due_specs",
    "ensure_project",
    "forget",
    "forget_plan",
    "listener",
    "load_specs",
    "no_sync_reason",
    "parse_nodes",
    "push",
    "run_then_push",
    "status",
    "target_dir",
    "validate",
    "write_exposures",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Selection:
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    all_syncs: bool = False  # validate: every sync in the manifest, not just the last run's


def target_dir(settings: Settings) -> Path:
    path = os.environ.get("DBT_TARGET_PATH") or "target"
    return settings.project_dir / path


def ensure_project(settings: Settings) -> None:
    if not (settings.project_dir / "dbt_project.yml").is_file():
        raise UsageError(
            f"{settings.project_dir} is not a dbt project (it has no dbt_project.yml): run dbt-revsync from the "
            "project's directory, or pass --project-dir (or set DBT_PROJECT_DIR)"
        )


def current_manifest(settings: Settings) -> dict[str, Any]:
    """``target/manifest.json``, parsed again by dbt first when a project file (a model's SQL
    or YAML, dbt_project.yml, ...) is newer than it: a push never goes by yesterday's config."""
    ensure_project(settings)
    path = target_dir(settings) / "manifest.json"
    stale = dbt_artifacts.stale_inputs(settings.project_dir, path)
    if stale:
        first = (
            stale[0].relative_to(settings.project_dir) if stale[0].is_relative_to(settings.project_dir) else stale[0]
        )
        more = f" and {len(stale) - 1} other file(s)" if len(stale) > 1 else ""
        logger.info("%s is older than %s%s: running dbt parse", path, first, more)
        invocation.parse(settings)
    return dbt_artifacts.load_manifest(target_dir(settings))


def load_specs(
    settings: Settings,
    selection: Selection,
    artifacts: dbt_artifacts.Artifacts | None = None,
    manifest: Mapping[str, Any] | None = None,
) -> tuple[list[SyncSpec], list[ConfigIssue], list[ColumnUse]]:
    """The selected syncs, parsed and checked against the connections file (no warehouse).

    ``artifacts`` replaces the project's ``target/`` files (a dbt Cloud run's, say). Without
    ``--select`` and ``all_syncs``, the nodes the run results say were built (the fallback of
    a push with no hook record).
    """
    ids = (
        invocation.selected_unique_ids(settings, selection.select, selection.exclude)
        if (selection.select or selection.exclude)
        else None
    )
    if manifest is None:
        manifest = artifacts.manifest if artifacts else current_manifest(settings)
    nodes = dbt_artifacts.sync_nodes(manifest)
    if ids is not None:
        nodes = [n for n in nodes if n.ref.unique_id in ids]
    elif not selection.all_syncs:
        nodes = dbt_artifacts.default_selection(nodes, dbt_artifacts.succeeded_nodes(_run_results(settings, artifacts)))
    return parse_nodes(settings, dbt_artifacts.dag_order(nodes, manifest), dbt_artifacts.misplaced_blocks(manifest))


def _run_results(settings: Settings, artifacts: dbt_artifacts.Artifacts | None) -> Mapping[str, Any]:
    """The fallback record of what was built: a building invocation's run results."""
    if artifacts and artifacts.run_results:
        return dbt_artifacts.building_run_results(artifacts.run_results, "the run's run_results.json")
    path = target_dir(settings) / "run_results.json"
    return dbt_artifacts.building_run_results(dbt_artifacts.load_run_results(target_dir(settings)), str(path))


def parse_nodes(
    settings: Settings, nodes: Sequence[dbt_artifacts.SyncNode], issues: list[ConfigIssue] | None = None
) -> tuple[list[SyncSpec], list[ConfigIssue], list[ColumnUse]]:
    """The nodes' blocks as syncs, checked against the connections file (no warehouse)."""
    issues = list(issues or ())
    path = find_connections_file(settings.connections_file, settings.project_dir, os.environ)
    connections, connection_issues = load_connections(path, destinations=catalog())
    logs.REDACTOR.add(secret for conn in connections.values() for secret in conn.secrets)
    issues.extend(_used_connection_issues(nodes, connection_issues))
    broken = {issue.connection for issue in connection_issues if issue.connection}
    specs: list[SyncSpec] = []
    uses: list[ColumnUse] = []
    for node in nodes:
        found, node_issues, node_uses = parse_sync_blocks(
            node.ref, node.block, connections, broken, destinations=catalog()
        )
        specs.extend(found)
        issues.extend(node_issues)
        uses.extend(node_uses)
    return specs, issues, uses


def _used_connection_issues(nodes: Sequence[dbt_artifacts.SyncNode], issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """Issues of the connections file itself and of the connections the chosen syncs use."""
    used: set[str] = set()
    for node in nodes:
        blocks = node.block if isinstance(node.block, list) else [node.block]
        used.update(str(b.get("destination")) for b in blocks if isinstance(b, dict))
    return [i for i in issues if not i.where or i.connection in used]


def check_relations(uses: Sequence[ColumnUse], warehouse: Warehouse) -> list[ConfigIssue]:
    """Each block's relation must exist and hold every column the block reads."""
    issues: list[ConfigIssue] = []
    by_node: dict[str, list[ColumnUse]] = {}
    for use in uses:
        by_node.setdefault(use.node.unique_id, []).append(use)
    for node_uses in by_node.values():
        node = node_uses[0].node
        if node.materialized == "ephemeral":
            issues.append(
                ConfigIssue(
                    f"{node.name} is an ephemeral model: it has no relation in the warehouse to read; "
                    "materialize it as a view or a table to sync it",
                    where=f"{node.resource_type} '{node.name}'",
                    file=node.yaml_file,
                    key="config.materialized",
                )
            )
            continue
        columns = warehouse.columns(node)
        if columns is None:
            issues.append(
                ConfigIssue(
                    f"relation {warehouse.relation(node)} does not exist in the warehouse: build it with dbt first",
                    where=f"{node.resource_type} '{node.name}'",
                    file=node.yaml_file,
                )
            )
        else:
            issues.extend(check_columns(node_uses, (name for name, _ in columns)))
    return issues


def push(
    settings: Settings,
    selection: Selection,
    *,
    full_refresh: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    samples: int = 3,
    artifacts: dbt_artifacts.Artifacts | None = None,
    due: bool = False,
    stop: threading.Event | None = None,
    waiting: list[NotDue] | None = None,
) -> list[SyncReport]:
    """Push the selected (or built) syncs; with ``due``, those whose schedule says so, and
    the others, with when they are next due, appended to ``waiting``. ``stop`` set (Ctrl-C)
    sends nothing more: the sync under way commits what comes back and is recorded
    ``interrupted``, the ones after it do not start. ``progress`` hears of the start-up (dbt,
    the warehouse) before any sync, and is closed."""
    progress = progress or Progress()
    progress.phase(None, "reading the dbt project")
    try:
        return _push(
            settings,
            selection,
            full_refresh=full_refresh,
            dry_run=dry_run,
            progress=progress,
            samples=samples,
            artifacts=artifacts,
            due=due,
            stop=stop,
            waiting=waiting,
        )
    finally:
        progress.close()


def _push(
    settings: Settings,
    selection: Selection,
    *,
    full_refresh: bool,
    dry_run: bool,
    progress: Progress,
    samples: int,
    artifacts: dbt_artifacts.Artifacts | None,
    due: bool,
    stop: threading.Event | None,
    waiting: list[NotDue] | None,
) -> list[SyncReport]:
    manifest = artifacts.manifest if artifacts else current_manifest(settings)
    explicit = bool(selection.select or selection.exclude or selection.all_syncs)
    if explicit:
        specs, issues, uses = load_specs(settings, selection, artifacts, manifest)
    with Warehouse(settings) as warehouse:
        verdicts: list[builds.Verdict] = []
        if not explicit:
            specs, issues, uses, verdicts = _built_syncs(
                settings, manifest, artifacts, warehouse, since_last_push=not full_refresh
            )
        issues.extend(check_relations(uses, warehouse))
        raise_if(issues)
        if due:
            specs, later = due_specs(specs, StateStore(warehouse).last_successes())
            if waiting is not None:
                waiting.extend(later)
        held_keys, verdicts = _quarantine(warehouse, verdicts)
        held = [v for v in verdicts if v.action == "hold"]
        specs = [s for s in specs if s.sync_id not in {v.spec.sync_id for v in held}]
        if not specs and not held and not due:  # --due lists when each sync is next due instead
            logger.warning("nothing to push: %s", _nothing_reason(manifest, verdicts, artifacts is not None))
        pusher = Pusher(
            warehouse,
            progress=progress,
            full_refresh=full_refresh,
            dry_run=dry_run,
            samples=samples,
            held={sync_id: dict.fromkeys(keys, reason) for sync_id, (keys, reason) in held_keys.items()},
            stop=stop or threading.Event(),
        )
        reports = [_held_report(v) for v in held] + pusher.push_all(specs)
        if not dry_run:
            _record_holds(warehouse, reports, verdicts)
        return reports


def _built_syncs(
    settings: Settings,
    manifest: Mapping[str, Any],
    artifacts: dbt_artifacts.Artifacts | None,
    warehouse: Warehouse,
    since_last_push: bool = True,
) -> tuple[list[SyncSpec], list[ConfigIssue], list[ColumnUse], list[builds.Verdict]]:
    """A plain push's syncs: those whose node dbt built since their last push (the hook's
    record; else the run results of the last building invocation), judged by their tests.
    ``since_last_push`` False (``--full-refresh``): every sync whose node's latest build passed."""
    records = None if artifacts else build_state.hook_records(warehouse)
    from_hook = records is not None
    if records is None:
        records = builds.records_from_run_results(_run_results(settings, artifacts), manifest)
    latest = builds.latest_builds(records)
    nodes = [
        n for n in dbt_artifacts.sync_nodes(manifest) if n.ref.unique_id in latest or n.ref.resource_type == "source"
    ]
    specs, issues, uses = parse_nodes(
        settings, dbt_artifacts.dag_order(nodes, manifest), dbt_artifacts.misplaced_blocks(manifest)
    )
    since_last_push = since_last_push and from_hook
    last = build_state.last_pushes(warehouse) if since_last_push else {}
    tested_sources = builds.source_tests(records)
    parents = {
        uid: list((node.get("depends_on") or {}).get("nodes") or ())
        for uid, node in dbt_artifacts.nodes_by_id(manifest).items()
    }
    verdicts = [builds.judge(s, latest, tested_sources, parents, last.get(s.sync_id), since_last_push) for s in specs]
    for verdict in verdicts:
        if verdict.action != "skip":
            logger.info(
                "%s: %s%s", verdict.spec.label, verdict.action, f" ({verdict.reason})" if verdict.reason else ""
            )
    # the relations of syncs not taken are not checked (a node dbt failed on may have none)
    idle = {v.spec.node.unique_id for v in verdicts} - {v.spec.node.unique_id for v in verdicts if v.action == "take"}
    return (
        [v.spec for v in verdicts if v.action == "take"],
        issues,
        [u for u in uses if u.node.unique_id not in idle],
        verdicts,
    )


def _quarantine(
    warehouse: Warehouse, verdicts: list[builds.Verdict]
) -> tuple[dict[str, tuple[frozenset[str], str]], list[builds.Verdict]]:
    """The keys each quarantined sync holds back (sync_id -> keys, reason); a quarantine that
    cannot name its rows holds the whole sync instead."""
    held: dict[str, tuple[frozenset[str], str]] = {}
    judged = []
    for verdict in verdicts:
        for quarantine in verdict.quarantines:
            found = build_state.quarantined_keys(warehouse, quarantine.relation, verdict.spec.primary_key)
            if found.problem:
                verdict = builds.Verdict(
                    verdict.spec, "hold", f"{quarantine.reason} ({found.problem})", verdict.invocation_id
                )
                held.pop(verdict.spec.sync_id, None)
                break
            keys, reasons = held.get(verdict.spec.sync_id, (frozenset(), ""))
            held[verdict.spec.sync_id] = (keys | found.keys, ", ".join(r for r in (reasons, quarantine.reason) if r))
        judged.append(verdict)
    return held, judged


def _held_report(verdict: builds.Verdict) -> SyncReport:
    spec = verdict.spec
    events.emit(
        "sync_held",
        f"{spec.label}: held back: {verdict.reason}",
        logging.WARNING,
        sync_id=spec.sync_id,
        sync=spec.label,
        invocation_id=verdict.invocation_id,
        reason=verdict.reason,
    )
    return SyncReport(spec, status=SyncStatus.HELD, message=f"not pushed: {verdict.reason}")


def _record_holds(warehouse: Warehouse, reports: Sequence[SyncReport], verdicts: Sequence[builds.Verdict]) -> None:
    """Each pushed or held sync's hold, for ``status``: what was held back and why."""
    invocations = {v.spec.sync_id: v.invocation_id for v in verdicts}
    if any(r.status == SyncStatus.HELD or r.held for r in reports):
        build_state.ensure_tables(warehouse)
    elif not build_state.has_holds_table(warehouse):
        return
    for report in reports:
        sync_id = report.spec.sync_id
        if report.status == SyncStatus.HELD:
            build_state.set_hold(warehouse, sync_id, invocations.get(sync_id), report.message)
        elif report.held:
            reason = ", ".join(f"{rows} row(s) held back: {why}" for why, rows in report.held.items())
            build_state.set_hold(warehouse, sync_id, invocations.get(sync_id), reason, sum(report.held.values()))
        else:
            build_state.set_hold(warehouse, sync_id, None, None)


def _nothing_reason(manifest: Mapping[str, Any], verdicts: Sequence[builds.Verdict], from_run: bool) -> str:
    if not dbt_artifacts.sync_nodes(manifest):
        return dbt_artifacts.no_sync_reason(manifest)
    if not verdicts:
        return "no node that carries a revsync block was built" + (
            " by this run" if from_run else " (run `dbt build` first)"
        )
    return (
        f"dbt built none of the {len(verdicts)} sync(s)' nodes since that sync's last push "
        "(build with dbt first, or push --select or --full-refresh to push anyway)"
    )


class NotDue(NamedTuple):
    """A sync ``push --due`` left alone: when it is next due (None: it has no schedule)."""

    spec: SyncSpec
    next_due: datetime | None


def due_specs(specs: Sequence[SyncSpec], last_successes: Mapping[str, Any]) -> tuple[list[SyncSpec], list[NotDue]]:
    """The syncs whose ``schedule`` says they are due (see schedule.py), and the others."""
    now = schedule.utc_datetime()
    due, later = [], []
    for spec in specs:
        last = last_successes.get(spec.sync_id)
        if schedule.is_due(spec.schedule, last, now):
            due.append(spec)
        else:
            later.append(NotDue(spec, schedule.next_due(spec.schedule, last, now)))
    return due, later


def run_then_push(
    settings: Settings,
    dbt_args: Sequence[str],
    *,
    target_path: str | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> tuple[bool, list[SyncReport]]:
    """``dbt <dbt_args>``, then a push of exactly the nodes that invocation built.

    Returns whether dbt succeeded on every node, and the push's reports. Nodes dbt failed
    on are not pushed; the ones it built are, even when others failed.
    """
    started = time.time()
    dbt_ok = invocation.invoke(dbt_args)
    target = settings.project_dir / target_path if target_path else target_dir(settings)
    results_file = target / "run_results.json"
    if not results_file.is_file() or results_file.stat().st_mtime < started - 1:
        raise ManifestError(f"dbt wrote no {results_file} in this invocation; nothing pushed")
    artifacts = dbt_artifacts.Artifacts(dbt_artifacts.load_manifest(target), dbt_artifacts.load_run_results(target))
    return dbt_ok, push(settings, Selection(), progress=progress, artifacts=artifacts, stop=stop)


def no_sync_reason(settings: Settings) -> str:
    """Why validate found no sync: the manifest's nodes, or the selection."""
    manifest = dbt_artifacts.load_manifest(target_dir(settings))
    found = len(dbt_artifacts.sync_nodes(manifest))
    return (
        f"no sync found: none of the manifest's {found} node(s) with a sync is selected"
        if found
        else dbt_artifacts.no_sync_reason(manifest)
    )


def validate(settings: Settings, selection: Selection, remote: bool = False) -> tuple[list[SyncSpec], list[str]]:
    """The valid syncs, and with ``remote`` what was checked against each destination."""
    specs, issues, uses = load_specs(settings, selection)
    with Warehouse(settings) as warehouse:
        issues.extend(check_relations(uses, warehouse))
    raise_if(issues)
    if not remote:
        return specs, []
    issues, notes = check_remote_fields(specs)
    raise_if(issues)
    return specs, notes


MAX_LISTED = 40  # the fields a missing-field message lists


def check_remote_fields(
    specs: Sequence[SyncSpec], pool: Callable[[SyncSpec], Destination] | None = None
) -> tuple[list[ConfigIssue], list[str]]:
    """Each sync against its destination, with read-only requests: the mapped fields against
    the object's own field list (one request per object) where the destination can list it,
    and whatever else only that CRM can reveal (``Destination.remote_issues``). A destination
    that cannot be reached is one issue naming its host; a sync that could not be checked is
    named in the notes."""
    pool = pool or DestinationPool()
    issues: list[ConfigIssue] = []
    notes: list[str] = []
    listed: dict[tuple[str, str], set[str] | None] = {}
    unreachable: set[str] = set()
    for spec in specs:
        if spec.connection.name in unreachable:
            continue
        destination = pool(spec)
        try:
            own = destination.remote_issues(spec)
            where = (spec.connection.name, spec.object)
            if where not in listed:
                listed[where] = destination.list_fields(spec)
        except DestinationError as exc:
            unreachable.add(spec.connection.name)
            issues.append(_unreachable(spec, destination, exc))
            continue
        issues.extend(own)
        names = listed[where]
        if names is None:
            if type(destination).remote_issues is Destination.remote_issues:
                notes.append(
                    f"{spec.label}: not checked remotely: {spec.connection.type} destinations cannot list their fields"
                )
            elif not own:
                notes.append(f"{spec.label}: checked against {spec.connection.name}.{spec.object}")
            continue
        missing = [f for f in spec.fields if destination.field_name(f.path) not in names]
        issues.extend(_missing_field(spec, destination.field_name(f.path), f.path, names) for f in missing)
        if not missing:
            notes.append(
                f"{spec.label}: {len(spec.fields)} mapped field(s) exist in {spec.connection.name}.{spec.object}"
            )
    return issues, notes


def _unreachable(spec: SyncSpec, destination: Destination, exc: DestinationError) -> ConfigIssue:
    host = urlsplit(destination.root).netloc or destination.root
    return ConfigIssue(
        f"{spec.connection.type} at {host} did not answer as expected: {exc} (check base_url and the credentials)",
        where=f"connection '{spec.connection.name}'",
        file=spec.connection.file,
        key=f"connections.{spec.connection.name}.base_url"
        if spec.connection.base_url
        else f"connections.{spec.connection.name}",
    )


def _missing_field(spec: SyncSpec, name: str, path: str, names: set[str]) -> ConfigIssue:
    shown = sorted(names)
    listing = ", ".join(shown[:MAX_LISTED]) + (
        f" and {len(shown) - MAX_LISTED} more" if len(shown) > MAX_LISTED else ""
    )
    return ConfigIssue(
        f"{name!r} is not a field of {spec.connection.type} {spec.object}{did_you_mean(name, names)}; it has: "
        f"{listing}",
        where=f"{spec.node.resource_type} '{spec.node.name}'",
        file=spec.node.yaml_file,
        key=f"{spec.key_path}.fields.{path}",
    )


@dataclass(frozen=True)
class RunHistory:
    """What ``status`` shows: recent runs per sync and the first rejects of each."""

    runs: list[dict[str, Any]]
    rejects: dict[tuple[str, str], list[dict[str, Any]]]  # (sync_id, run_id) -> first rejects
    holds: list[dict[str, Any]] = field(default_factory=list)  # each sync's current hold (tests failed)


def status(
    settings: Settings, per_sync: int = 5, rejects_per_run: int = 3, selection: Selection = Selection()
) -> RunHistory:
    """The recent runs; with ``--select``/``--exclude``, of the selected nodes' syncs alone."""
    ensure_project(settings)
    wanted = _selected_sync_ids(settings, selection)
    with Warehouse(settings) as warehouse:
        state = StateStore(warehouse)
        runs = state.recent_runs(per_sync)
        if wanted is not None:
            runs = [r for r in runs if r.get("sync_id") in wanted]
        found = state.first_rejects(sorted({r["run_id"] for r in runs if r.get("rejected")}), rejects_per_run)
        holds = build_state.current_holds(warehouse)
    rejects: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in found:
        rejects.setdefault((row["sync_id"], row["run_id"]), []).append(row)
    return RunHistory(runs, rejects, holds)


class ForgetPlan(NamedTuple):
    """A sync ``forget`` would reset, what its state holds, and what its next push will do."""

    spec: SyncSpec
    remembered: list[Remembered]
    consequence: str


def forget_plan(settings: Settings, selection: Selection, names: Sequence[str] = ()) -> list[ForgetPlan]:
    """The selected syncs (``names``: only the blocks so named) and what forgetting each means."""
    if not (selection.select or selection.exclude):
        raise UsageError("forget needs --select: the models whose syncs to forget")
    specs, issues, _ = load_specs(settings, Selection(selection.select, selection.exclude, all_syncs=True))
    raise_if(issues)
    if names:
        unknown = sorted(set(names) - {s.name for s in specs if s.name})
        if unknown:
            raise UsageError(f"no selected sync is named {', '.join(map(repr, unknown))}")
        specs = [s for s in specs if s.name in names]
    if not specs:
        raise UsageError("no sync in the selection")
    with Warehouse(settings) as warehouse:
        state = StateStore(warehouse)
        return [ForgetPlan(spec, state.remembered(spec), after_forgetting(spec)) for spec in specs]


def after_forgetting(spec: SyncSpec) -> str:
    """What the next push of a forgotten sync does: it finds the CRM's records by the keys it
    matches on (``match_on``, else the upsert key); a row without any of them cannot be found."""
    if spec.insert_mode == "append":
        return "append: its next push creates every row again (duplicates of what it created)"
    keys = spec.match_keys
    if spec.match_on:
        creates = spec.insert_mode in ("upsert", "mirror")
        by = f"match_on {', then '.join(keys)}" + ("; a row with none of them set is created again" if creates else "")
    elif keys:
        by = f"upsert key {keys[0]}"
    else:
        return f"{spec.insert_mode}: its next push sends every row with no key to find the CRM's records by"
    if spec.insert_mode == "mirror":
        return f"mirror: its next push relinks by {by}; records it created count as matched, never deleted"
    return f"{spec.insert_mode}: its next push sends every row and relinks by {by}"


def forget(settings: Settings, plans: Sequence[ForgetPlan]) -> list[ForgetPlan]:
    """Forget each planned sync, each under its own lock; returns those a running push held
    (left as they were), having forgotten the others."""
    run_id = f"forget-{time.time_ns()}"
    held: list[ForgetPlan] = []
    with Warehouse(settings) as warehouse:
        state = StateStore(warehouse)
        state.ensure()
        for plan in plans:
            records = sum(r.records for r in plan.remembered)
            try:
                state.forget(plan.spec, run_id, f"state forgotten: {records} remembered record(s) dropped")
            except SyncLocked:
                held.append(plan)
    return held


def _selected_sync_ids(settings: Settings, selection: Selection) -> set[str] | None:
    """The sync ids of the selected nodes (resolved by dbt ls, as push does); None: no selection."""
    if not (selection.select or selection.exclude):
        return None
    specs, _, _ = load_specs(settings, Selection(selection.select, selection.exclude, all_syncs=True))
    return {spec.sync_id for spec in specs}


def write_exposures(
    settings: Settings, path: Path | None = None, selection: Selection = Selection()
) -> tuple[Path, int]:
    """Write one exposure per sync of the manifest (with a selection, of the selected nodes);
    returns the file and the count."""
    specs, issues, _ = load_specs(settings, Selection(selection.select, selection.exclude, all_syncs=True))
    raise_if(issues)
    manifest = dbt_artifacts.load_manifest(target_dir(settings))
    path = path or settings.project_dir / dbt_artifacts.model_paths(settings.project_dir)[0] / "revsync_exposures.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = manifest.get("metadata") or {}
    root, dbt_version = str(metadata.get("project_name") or ""), str(metadata.get("dbt_version") or "")
    path.write_text(
        exposures.exposures_yaml(specs, dbt_artifacts.nodes_by_id(manifest), root, dbt_version), encoding="utf-8"
    )
    return path, len(specs)


WEBHOOK_SECRET_ENV = "DBT_CLOUD_WEBHOOK_SECRET"
LISTEN_JOURNAL = "revsync_listen_journal.jsonl"


def cloud_artifacts(run_id: str, step: int | None = None) -> dbt_artifacts.Artifacts:
    """A dbt Cloud run's artifacts (its building steps', or step ``step``'s); the account,
    token and access URL come from the environment."""
    return cloud.fetch_artifacts(cloud.CloudAccount.from_env(os.environ), run_id, step)


@dataclass(frozen=True)
class ListenOptions:
    """Which runs ``listen`` pushes: an allowlist of jobs and/or environments is required."""

    host: str = "127.0.0.1"
    port: int = 8080
    job_ids: tuple[str, ...] = ()
    environment_ids: tuple[str, ...] = ()
    push_errored: bool = False


def _listen_policy(account: cloud.CloudAccount, options: ListenOptions) -> webhook.ListenPolicy:
    issues = [
        ConfigIssue(f"{flag} takes dbt Cloud ids (numbers), got {value!r}", key=flag)
        for flag, values in (("--job-id", options.job_ids), ("--environment-id", options.environment_ids))
        for value in values
        if not str(value).strip().isdigit()
    ]
    if not options.job_ids and not options.environment_ids:
        issues.append(
            ConfigIssue(
                "listen needs --job-id and/or --environment-id: a dbt Cloud webhook sends every job's runs "
                "(CI jobs' included), and only the runs of the jobs and environments named are pushed"
            )
        )
    raise_if(issues)
    return webhook.ListenPolicy(
        account.account_id,
        frozenset(j.strip() for j in options.job_ids),
        frozenset(e.strip() for e in options.environment_ids),
        options.push_errored,
    )


def listener(
    settings: Settings, options: ListenOptions, on_reports: Callable[[str, list[SyncReport]], None] | None = None
) -> webhook.Listener:
    """A webhook listener that pushes what each allowed, successful dbt Cloud run built.

    The runs it accepted and did not push before it last stopped are queued again here."""
    secret = os.environ.get(WEBHOOK_SECRET_ENV, "")
    if not secret:
        raise ConfigError(
            ConfigIssue(f"environment variable {WEBHOOK_SECRET_ENV} is not set (the webhook's secret token)")
        )
    logs.REDACTOR.add([secret])
    account = cloud.CloudAccount.from_env(os.environ)
    policy = _listen_policy(account, options)
    ledger = listen_ledger.Ledger(target_dir(settings) / LISTEN_JOURNAL, settings.state_schema)

    def record() -> None:
        with Warehouse(settings) as warehouse:
            ledger.record(warehouse)

    def push_run(run_id: str) -> bool:
        reports = push(settings, Selection(), artifacts=cloud.fetch_artifacts(account, run_id))
        if on_reports:
            on_reports(run_id, reports)
        return all(r.ok for r in reports)

    try:
        server = webhook.Listener(secret, policy, ledger, push_run, record, options.host, options.port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {options.host}:{options.port}: {exc.strerror or exc}") from None
    try:
        with Warehouse(settings) as warehouse:
            again = ledger.load(warehouse)
    except BaseException:
        server.server.server_close()
        raise
    if again:
        logger.warning(
            "dbt Cloud runs accepted before and not pushed yet, queued again: %s", ", ".join(r.run_id for r in again)
        )
    return server
