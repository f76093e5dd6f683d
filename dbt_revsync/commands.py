"""What each command does, from settings to reports. The CLI only parses and prints."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbt_revsync import dbt_cloud, dbt_invoke, exposures, listen_ledger, logs, project, schedule, webhook
from dbt_revsync.config import (
    ColumnUse,
    ConfigIssue,
    Settings,
    SyncSpec,
    check_columns,
    find_connections_file,
    load_connections,
    parse_sync_blocks,
    raise_if,
)
from dbt_revsync.destinations.base import Destination
from dbt_revsync.errors import ConfigError, ManifestError, UsageError
from dbt_revsync.runner import DestinationPool, Progress, Pusher, SyncReport
from dbt_revsync.state import StateStore
from dbt_revsync.warehouse import Warehouse

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Selection:
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    all_syncs: bool = False  # validate: every sync in the manifest, not just the last run's


def target_dir(settings: Settings) -> Path:
    path = os.environ.get("DBT_TARGET_PATH") or "target"
    return settings.project_dir / path


def load_specs(
    settings: Settings, selection: Selection, artifacts: project.Artifacts | None = None
) -> tuple[list[SyncSpec], list[ConfigIssue], list[ColumnUse]]:
    """The selected syncs, parsed and checked against the connections file (no warehouse).

    ``artifacts`` replaces the project's ``target/`` files (a dbt Cloud run's, say).
    """
    ids = dbt_invoke.selected_unique_ids(settings, selection.select, selection.exclude) if (selection.select or selection.exclude) else None
    manifest = artifacts.manifest if artifacts else project.load_manifest(target_dir(settings))
    nodes = project.sync_nodes(manifest)
    if ids is not None:
        nodes = [n for n in nodes if n.ref.unique_id in ids]
    elif not selection.all_syncs:
        run_results = artifacts.run_results if artifacts and artifacts.run_results else project.load_run_results(target_dir(settings))
        nodes = project.default_selection(nodes, project.succeeded_nodes(run_results))
    nodes = project.dag_order(nodes, manifest)
    path = find_connections_file(settings.connections_file, settings.project_dir, os.environ)
    connections, connection_issues = load_connections(path)
    logs.REDACTOR.add(secret for conn in connections.values() for secret in conn.secrets)
    issues = _used_connection_issues(nodes, connection_issues)
    broken = {issue.where.split("'")[1] for issue in connection_issues if issue.where.count("'") >= 2}
    specs: list[SyncSpec] = []
    uses: list[ColumnUse] = []
    for node in nodes:
        found, node_issues, node_uses = parse_sync_blocks(node.ref, node.block, connections, broken)
        specs.extend(found)
        issues.extend(node_issues)
        uses.extend(node_uses)
    return specs, issues, uses


def _used_connection_issues(nodes: Sequence[project.SyncNode], issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """Issues of the connections file itself and of the connections the chosen syncs use."""
    used = set()
    for node in nodes:
        blocks = node.block if isinstance(node.block, list) else [node.block]
        used.update(str(b.get("destination")) for b in blocks if isinstance(b, dict))
    return [i for i in issues if not i.where or any(i.where == f"connection '{name}'" for name in used)]


def check_relations(uses: Sequence[ColumnUse], warehouse: Warehouse) -> list[ConfigIssue]:
    """Each block's relation must exist and hold every column the block reads."""
    issues: list[ConfigIssue] = []
    by_node: dict[str, list[ColumnUse]] = {}
    for use in uses:
        by_node.setdefault(use.node.unique_id, []).append(use)
    for node_uses in by_node.values():
        node = node_uses[0].node
        if node.materialized == "ephemeral":
            issues.append(ConfigIssue(
                f"{node.name} is an ephemeral model: it has no relation in the warehouse to read; "
                "materialize it as a view or a table to sync it",
                where=f"{node.resource_type} '{node.name}'", file=node.yaml_file, key="config.materialized",
            ))
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
    artifacts: project.Artifacts | None = None,
    due: bool = False,
) -> list[SyncReport]:
    specs, issues, uses = load_specs(settings, selection, artifacts)
    with Warehouse(settings) as warehouse:
        issues.extend(check_relations(uses, warehouse))
        raise_if(issues)
        if due:
            specs = due_specs(specs, StateStore(warehouse).last_successes())
        pusher = Pusher(warehouse, progress=progress or Progress(), full_refresh=full_refresh, dry_run=dry_run, samples=samples)
        return pusher.push_all(specs)


def due_specs(specs: Sequence[SyncSpec], last_successes: Mapping[str, Any]) -> list[SyncSpec]:
    """The syncs whose ``schedule`` says they are due (see schedule.py)."""
    now = schedule.utc_now()
    return [s for s in specs if schedule.is_due(s.schedule, last_successes.get(s.sync_id), now)]


def run_then_push(settings: Settings, dbt_args: Sequence[str], *, target_path: str | None = None, progress: Progress | None = None) -> tuple[bool, list[SyncReport]]:
    """``dbt <dbt_args>``, then a push of exactly the nodes that invocation built.

    Returns whether dbt succeeded on every node, and the push's reports. Nodes dbt failed
    on are not pushed; the ones it built are, even when others failed.
    """
    started = time.time()
    dbt_ok = dbt_invoke.invoke(dbt_args)
    target = settings.project_dir / target_path if target_path else target_dir(settings)
    results_file = target / "run_results.json"
    if not results_file.is_file() or results_file.stat().st_mtime < started - 1:
        raise ManifestError(f"dbt wrote no {results_file} in this invocation; nothing pushed")
    artifacts = project.Artifacts(project.load_manifest(target), project.load_run_results(target))
    return dbt_ok, push(settings, Selection(), progress=progress, artifacts=artifacts)


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


def check_remote_fields(
    specs: Sequence[SyncSpec], pool: Callable[[SyncSpec], Destination] | None = None
) -> tuple[list[ConfigIssue], list[str]]:
    """Each sync against its destination, with read-only requests: the mapped fields against
    the object's own field list (one request per object) where the destination can list it,
    and whatever else only that CRM can reveal (``Destination.remote_issues``). A sync that
    could not be checked is named in the notes."""
    pool = pool or DestinationPool()
    issues: list[ConfigIssue] = []
    notes: list[str] = []
    listed: dict[tuple[str, str], set[str] | None] = {}
    for spec in specs:
        destination = pool(spec)
        own = destination.remote_issues(spec)
        issues.extend(own)
        where = (spec.connection.name, spec.object)
        if where not in listed:
            listed[where] = destination.list_fields(spec)
        names = listed[where]
        if names is None:
            if type(destination).remote_issues is Destination.remote_issues:
                notes.append(f"{spec.label}: not checked remotely: {spec.connection.type} destinations cannot list their fields")
            elif not own:
                notes.append(f"{spec.label}: checked against {spec.connection.name}.{spec.object}")
            continue
        missing = [f for f in spec.fields if destination.field_name(f.path) not in names]
        for f in missing:
            issues.append(ConfigIssue(
                f"{destination.field_name(f.path)!r} is not a field of {spec.connection.type} {spec.object} "
                f"(the destination lists {len(names)} fields)",
                where=f"{spec.node.resource_type} '{spec.node.name}'", file=spec.node.yaml_file, key=f"{spec.key_path}.fields.{f.path}",
            ))
        if not missing:
            notes.append(f"{spec.label}: {len(spec.fields)} mapped field(s) exist in {spec.connection.name}.{spec.object}")
    return issues, notes


@dataclass(frozen=True)
class RunHistory:
    """What ``status`` shows: recent runs per sync and the first rejects of each."""

    runs: list[dict[str, Any]]
    rejects: dict[tuple[str, str], list[dict[str, Any]]]  # (sync_id, run_id) -> first rejects


def status(settings: Settings, per_sync: int = 5, rejects_per_run: int = 3, selection: Selection = Selection()) -> RunHistory:
    """The recent runs; with ``--select``/``--exclude``, of the selected nodes' syncs alone."""
    wanted = _selected_sync_ids(settings, selection)
    with Warehouse(settings) as warehouse:
        state = StateStore(warehouse)
        runs = state.recent_runs(per_sync)
        if wanted is not None:
            runs = [r for r in runs if r.get("sync_id") in wanted]
        found = state.first_rejects(sorted({r["run_id"] for r in runs if r.get("rejected")}), rejects_per_run)
    rejects: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in found:
        rejects.setdefault((row["sync_id"], row["run_id"]), []).append(row)
    return RunHistory(runs, rejects)


def _selected_sync_ids(settings: Settings, selection: Selection) -> set[str] | None:
    """The sync ids of the selected nodes (resolved by dbt ls, as push does); None: no selection."""
    if not (selection.select or selection.exclude):
        return None
    specs, _, _ = load_specs(settings, Selection(selection.select, selection.exclude, all_syncs=True))
    return {spec.sync_id for spec in specs}


def write_exposures(settings: Settings, path: Path | None = None, selection: Selection = Selection()) -> tuple[Path, int]:
    """Write one exposure per sync of the manifest (with a selection, of the selected nodes);
    returns the file and the count."""
    specs, issues, _ = load_specs(settings, Selection(selection.select, selection.exclude, all_syncs=True))
    raise_if(issues)
    manifest = project.load_manifest(target_dir(settings))
    path = path or settings.project_dir / project.model_paths(settings.project_dir)[0] / "revsync_exposures.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = manifest.get("metadata") or {}
    root, dbt_version = str(metadata.get("project_name") or ""), str(metadata.get("dbt_version") or "")
    path.write_text(exposures.exposures_yaml(specs, project.nodes_by_id(manifest), root, dbt_version), encoding="utf-8")
    return path, len(specs)


WEBHOOK_SECRET_ENV = "DBT_CLOUD_WEBHOOK_SECRET"
LISTEN_JOURNAL = "revsync_listen_journal.jsonl"


def cloud_artifacts(run_id: str, step: int | None = None) -> project.Artifacts:
    """A dbt Cloud run's artifacts (its building steps', or step ``step``'s); the account,
    token and access URL come from the environment."""
    return dbt_cloud.fetch_artifacts(dbt_cloud.CloudAccount.from_env(os.environ), run_id, step)


@dataclass(frozen=True)
class ListenOptions:
    """Which runs ``listen`` pushes: an allowlist of jobs and/or environments is required."""

    host: str = "127.0.0.1"
    port: int = 8080
    job_ids: tuple[str, ...] = ()
    environment_ids: tuple[str, ...] = ()
    push_errored: bool = False


def _listen_policy(account: dbt_cloud.CloudAccount, options: ListenOptions) -> webhook.ListenPolicy:
    issues = [ConfigIssue(f"{flag} takes dbt Cloud ids (numbers), got {value!r}", key=flag)
              for flag, values in (("--job-id", options.job_ids), ("--environment-id", options.environment_ids))
              for value in values if not str(value).strip().isdigit()]
    if not options.job_ids and not options.environment_ids:
        issues.append(ConfigIssue(
            "listen needs --job-id and/or --environment-id: a dbt Cloud webhook sends every job's runs "
            "(CI jobs' included), and only the runs of the jobs and environments named are pushed"))
    raise_if(issues)
    return webhook.ListenPolicy(account.account_id, frozenset(j.strip() for j in options.job_ids),
                                frozenset(e.strip() for e in options.environment_ids), options.push_errored)


def listener(
    settings: Settings, options: ListenOptions, on_reports: Callable[[str, list[SyncReport]], None] | None = None
) -> webhook.Listener:
    """A webhook listener that pushes what each allowed, successful dbt Cloud run built.

    The runs it accepted and did not push before it last stopped are queued again here."""
    secret = os.environ.get(WEBHOOK_SECRET_ENV, "")
    if not secret:
        raise ConfigError(ConfigIssue(f"environment variable {WEBHOOK_SECRET_ENV} is not set (the webhook's secret token)"))
    logs.REDACTOR.add([secret])
    account = dbt_cloud.CloudAccount.from_env(os.environ)
    policy = _listen_policy(account, options)
    ledger = listen_ledger.Ledger(target_dir(settings) / LISTEN_JOURNAL, settings.state_schema)

    def record() -> None:
        with Warehouse(settings) as warehouse:
            ledger.record(warehouse)

    def push_run(run_id: str) -> bool:
        reports = push(settings, Selection(), artifacts=dbt_cloud.fetch_artifacts(account, run_id))
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
        logger.warning("dbt Cloud runs accepted before and not pushed yet, queued again: %s", ", ".join(r.run_id for r in again))
    return server
