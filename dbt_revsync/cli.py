"""The command line: argument parsing, logging set-up and exit codes; no logic.

Exit status of ``push`` (each sync's status, as the summary and ``status`` show it):

- 0: every sync ``success``;
- 1: a sync ``rejected`` (rows rejected), ``partial`` (rows left for the next push),
  ``failed``, or rows held back by failing tests;
- 2: a usage or configuration error (a sync failed on its configuration, with nothing else sent);
- 130: interrupted (Ctrl-C): what was acknowledged is committed, the run is ``interrupted``;
- 143: terminated (SIGTERM, as orchestrators stop a task): the same, ``interrupted``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import shutil
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from dbt_revsync import __version__, commands, events, logs, output, runner
from dbt_revsync.dbt.artifacts import Artifacts
from dbt_revsync.errors import ConfigError, ManifestError, RevsyncError, UsageError
from dbt_revsync.model import Settings, SyncReport, SyncStatus

__all__ = [
    "HANDLERS",
    "Interruption",
    "RUN_OWN",
    "RUN_SHARED",
    "ask",
    "build_parser",
    "interruptible",
    "main",
    "push_exit_code",
    "run_exposures",
    "run_forget",
    "run_listen",
    "run_plan",
    "run_push",
    "run_run",
    "run_sandbox",
    "run_status",
    "run_validate",
    "split_run_args",
    "version_text",
]

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _dbt_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project-dir", default=os.environ.get("DBT_PROJECT_DIR", "."), help="dbt project directory")
    parser.add_argument("--profiles-dir", default=os.environ.get("DBT_PROFILES_DIR"), help="directory of profiles.yml")
    parser.add_argument("--target", "-t", default=os.environ.get("DBT_TARGET"), help="dbt target")
    parser.add_argument("--vars", default=None, help="dbt vars, as YAML")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--connections-file", default=None, help="revsync.yml to use")
    parser.add_argument("--state-schema", default=os.environ.get("DBT_REVSYNC_STATE_SCHEMA", "revsync"))
    parser.add_argument("--select", "-s", nargs="+", default=[], help="dbt selector (resolved by dbt ls)")
    parser.add_argument("--exclude", nargs="+", default=[], help="dbt selector to leave out")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", default="text", choices=["text", "json"])


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dbt-revsync", description="Push changed dbt model rows to CRMs.")
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    push = sub.add_parser("push", help="send what changed since the last push")
    _dbt_options(push)
    push.add_argument("--full-refresh", action="store_true", help="forget the diff and resend every row")
    push.add_argument("--dry-run", action="store_true", help="work out the changes, send nothing")
    push.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    push.add_argument("--wide", action="store_true", help="the summary with every count, however wide the terminal")
    push.add_argument(
        "--dbt-cloud-run",
        default=None,
        metavar="RUN_ID",
        help="push what this dbt Cloud run built: the run results of its build/run/seed/snapshot steps "
        "(DBT_CLOUD_ACCOUNT_ID, DBT_CLOUD_API_TOKEN, DBT_CLOUD_API_URL)",
    )
    push.add_argument(
        "--dbt-cloud-step",
        type=int,
        default=None,
        metavar="N",
        help="with --dbt-cloud-run: take the artifacts of step N of the run alone (the first step is 1)",
    )
    push.add_argument("--due", action="store_true", help="push every sync whose schedule says it is due (and no other)")
    plan = sub.add_parser("plan", help="print what push would do; send nothing")
    _dbt_options(plan)
    plan.add_argument("--full-refresh", action="store_true")
    plan.add_argument("--samples", type=int, default=3, help="sample payloads per sync")
    validate = sub.add_parser("validate", help="check every sync's config against the manifest")
    _dbt_options(validate)
    validate.add_argument(
        "--remote", action="store_true", help="also check each mapped field against the destination's field list"
    )
    run = sub.add_parser(
        "run",
        help="run dbt (build/run/seed/snapshot), then push what it built",
        usage="dbt-revsync run [--connections-file F] [--state-schema S] [--no-progress] <dbt arguments>",
        description="Runs `dbt <dbt arguments>` through dbtRunner, then pushes the nodes that invocation built.",
    )
    run.add_argument("dbt_args", nargs=argparse.REMAINDER, help="a dbt build|run|seed|snapshot command line")
    status = sub.add_parser("status", help="the last runs of every sync, from the state tables")
    _dbt_options(status)
    status.add_argument("--limit", type=int, default=5, help="runs shown per sync")
    status.add_argument("--rejects", type=int, default=3, help="reject messages shown per run")
    forget = sub.add_parser(
        "forget",
        help="forget what the state remembers of the selected syncs (asks first)",
        description="Drop the selected syncs' remembered records, rejects and watermarks: their "
        "next push reads every row as new and links to records by upsert key. "
        "The runs stay, as history.",
    )
    _dbt_options(forget)
    forget.add_argument(
        "--sync", action="append", default=[], metavar="NAME", help="only the block with this name: (repeat for more)"
    )
    forget.add_argument("--yes", action="store_true", help="do not ask (needed when not on a terminal)")
    expo = sub.add_parser("exposures", help="write a dbt exposures YAML: one exposure per sync, for dbt docs")
    _dbt_options(expo)
    expo.add_argument(
        "--output", "-o", default=None, help="file to write (default: <first model path>/revsync_exposures.yml)"
    )
    listen = sub.add_parser("listen", help="receive dbt Cloud job-run webhooks and push what each run built")
    _dbt_options(listen)
    listen.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    listen.add_argument("--port", type=int, default=8080)
    listen.add_argument(
        "--job-id",
        action="append",
        default=[],
        metavar="ID",
        help="push the runs of this dbt Cloud job (repeat for more); --job-id and/or --environment-id is required",
    )
    listen.add_argument(
        "--environment-id",
        action="append",
        default=[],
        metavar="ID",
        help="push the runs of jobs in this dbt Cloud environment (repeat for more)",
    )
    listen.add_argument(
        "--push-errored",
        action="store_true",
        help="also push the nodes an errored run built (runStatusCode 20); cancelled runs never are",
    )
    sandbox = sub.add_parser("sandbox", help="serve the local CRM emulator")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765, help="port to listen on (0: a free port, printed)")
    sandbox.add_argument("--per-minute", type=int, default=None, help="requests a minute per CRM before 429")
    sandbox.add_argument("--per-hour", type=int, default=None, help="requests an hour per CRM before 429")
    sandbox.add_argument("--vendor-limits", action="store_true", help="each CRM's published rate limits, enforced")
    sandbox.add_argument(
        "--schema",
        default=None,
        metavar="FILE",
        help="YAML file declaring custom fields per CRM and object (see docs/sandbox.md)",
    )
    sandbox.add_argument(
        "--state-dir",
        default=".revsync-sandbox",
        metavar="DIR",
        help="where ids and records are kept, so a restarted sandbox still has its records and never "
        "gives an id twice (default: .revsync-sandbox under the current directory)",
    )
    sandbox.add_argument(
        "--fresh",
        action="store_true",
        help="start with no records and no declared fields from the state directory's snapshot "
        "(ids still never repeat)",
    )
    return parser


def version_text() -> str:
    """``dbt-revsync 0.5.0 (dbt-core 1.11.2, Python 3.11.7)``: the versions a bug report needs."""
    try:
        dbt_core = metadata.version("dbt-core")
    except metadata.PackageNotFoundError:
        dbt_core = "not installed"
    return f"dbt-revsync {__version__} (dbt-core {dbt_core}, Python {platform.python_version()})"


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        project_dir=Path(args.project_dir).resolve(),
        profiles_dir=Path(args.profiles_dir).resolve() if args.profiles_dir else None,
        target=args.target,
        vars=args.vars,
        connections_file=args.connections_file,
        state_schema=args.state_schema,
        threads=args.threads,
    )


def _selection(args: argparse.Namespace, all_syncs: bool = False) -> commands.Selection:
    return commands.Selection(tuple(args.select), tuple(args.exclude), all_syncs)


def _progress(args: argparse.Namespace) -> runner.Progress | None:
    """A live line per sync on a terminal; on a pipe or CI, one line per sync when it ends."""
    if args.no_progress or args.log_format != "text":
        return None
    return output.TerminalProgress() if sys.stderr.isatty() else output.LineProgress()


def _summary(args: argparse.Namespace, reports: Sequence[SyncReport]) -> str:
    """The summary, fitted to the terminal; a pipe has no width to fit (unless COLUMNS says
    one): one line per sync with every count, and one line per message."""
    width = shutil.get_terminal_size((0, 0)).columns or output.NO_WIDTH
    return output.summary(reports, width=width, wide=getattr(args, "wide", False), wrap=sys.stdout.isatty())


def _print_reports(args: argparse.Namespace, reports: Sequence[SyncReport]) -> None:
    """The summary table; under ``--log-format json`` stdout carries the events alone."""
    if args.log_format != "json":
        print(_summary(args, reports), flush=True)


@dataclass
class Interruption:
    """How a push was asked to stop: ``event`` is set by the first Ctrl-C (SIGINT) or SIGTERM,
    ``signum`` says which."""

    event: threading.Event = field(default_factory=threading.Event)
    signum: int | None = None

    def exit_code(self, code: int) -> int:
        """A push's exit status once it stopped: 143 when SIGTERM stopped it, else ``code``."""
        return EXIT_TERMINATED if code == EXIT_INTERRUPTED and self.signum == signal.SIGTERM else code


@contextlib.contextmanager
def interruptible() -> Iterator[Interruption]:
    """The first Ctrl-C (SIGINT) or SIGTERM sets the event: the push sends nothing more,
    commits what comes back and says so; a second one stops at once (KeyboardInterrupt)."""
    interruption = Interruption()
    if threading.current_thread() is not threading.main_thread():
        yield interruption
        return

    def at_once(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    def first(signum: int, frame: object) -> None:
        interruption.signum = signum
        interruption.event.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, at_once)
        what = "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted"
        print(
            f"\n{what}: sending stops; what was acknowledged is being committed (Ctrl-C again to quit at once)",
            file=sys.stderr,
            flush=True,
        )

    previous = signal.signal(signal.SIGINT, first), signal.signal(signal.SIGTERM, first)
    try:
        yield interruption
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


def _stdout_width() -> int | None:
    """The terminal's width when stdout is one (output is then wrapped to it); None off one."""
    return shutil.get_terminal_size((80, 24)).columns if sys.stdout.isatty() else None


def run_push(args: argparse.Namespace) -> int:
    waiting: list[commands.NotDue] = []
    with interruptible() as interruption:
        reports = commands.push(
            _settings(args),
            _selection(args, all_syncs=args.due and not args.select),
            full_refresh=args.full_refresh,
            dry_run=args.dry_run,
            progress=_progress(args),
            due=args.due,
            artifacts=_cloud_artifacts(args),
            stop=interruption.event,
            waiting=waiting,
        )
    if args.due and args.log_format != "json":
        print(output.not_due_text(waiting, due=len(reports), width=_stdout_width()))
        if not reports:
            return EXIT_OK
    if args.dry_run:
        print(output.plan_text(reports))
    else:
        _print_reports(args, reports)
    return interruption.exit_code(push_exit_code(reports))


def push_exit_code(reports: Sequence[SyncReport]) -> int:
    """0 when every sync is ``success`` with no held row; 130 when one was interrupted; 2 when
    a sync failed on its configuration (a field only the CRM could refuse, every request
    refused or rejected the same way) and no other sync sent anything; 1 otherwise."""
    if all(r.ok and not r.held for r in reports):
        return EXIT_OK
    if any(r.status == SyncStatus.INTERRUPTED for r in reports):
        return EXIT_INTERRUPTED
    if any(r.config_error for r in reports) and not any(r.counts["requests"] and not r.config_error for r in reports):
        return EXIT_USAGE
    return EXIT_FAILED


def _cloud_artifacts(args: argparse.Namespace) -> Artifacts | None:
    if args.dbt_cloud_step is not None and not args.dbt_cloud_run:
        raise UsageError("--dbt-cloud-step needs --dbt-cloud-run")
    if args.dbt_cloud_step is not None and args.dbt_cloud_step < 1:
        raise UsageError("--dbt-cloud-step counts from 1 (the run's first step)")
    return commands.cloud_artifacts(args.dbt_cloud_run, args.dbt_cloud_step) if args.dbt_cloud_run else None


def run_plan(args: argparse.Namespace) -> int:
    reports = commands.push(
        _settings(args), _selection(args), full_refresh=args.full_refresh, dry_run=True, samples=args.samples
    )
    print(output.plan_text(reports))
    return EXIT_FAILED if any(r.status == SyncStatus.FAILED for r in reports) else EXIT_OK


def run_validate(args: argparse.Namespace) -> int:
    specs, notes = commands.validate(_settings(args), _selection(args, all_syncs=not args.select), remote=args.remote)
    if not specs:
        print(f"warning: {commands.no_sync_reason(_settings(args))}", file=sys.stderr)
    for spec in specs:
        print(f"ok  {spec.label}  ({spec.insert_mode}, {spec.fetch_mode}, {len(spec.fields)} fields)")
    for note in notes:
        print(f"remote  {note}")
    print(f"{len(specs)} sync(s) valid")
    return EXIT_OK


def run_status(args: argparse.Namespace) -> int:
    history = commands.status(_settings(args), max(1, args.limit), max(0, args.rejects), _selection(args))
    print(output.status_text(history.runs, history.rejects, history.holds, width=_stdout_width()))
    return EXIT_OK


def ask(question: str) -> str:
    """A person's answer, lower-cased; end of input (Ctrl-D) answers no."""
    try:
        return input(question).strip().lower()
    except EOFError:
        print()
        return ""


def run_forget(args: argparse.Namespace) -> int:
    settings = _settings(args)
    plans = commands.forget_plan(settings, _selection(args), args.sync)
    print(output.forget_text(plans))
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("forget asks before it drops anything: run it on a terminal, or add --yes")
        if ask("Forget these? [y/N] ") not in ("y", "yes"):
            print("nothing forgotten")
            return EXIT_OK
    held = commands.forget(settings, plans)
    print(f"forgot {len(plans) - len(held)} sync(s)")
    for plan in held:
        print(
            f"{plan.spec.label}: not forgotten: a push of it is running (it holds the sync's lock); "
            "forget it again when that push ends",
            file=sys.stderr,
        )
    return EXIT_FAILED if held else EXIT_OK


def run_exposures(args: argparse.Namespace) -> int:
    settings = _settings(args)
    output_path = Path(args.output).resolve() if args.output else None
    path, count = commands.write_exposures(settings, output_path, _selection(args))
    print(f"wrote {count} exposure(s) to {path}")
    return EXIT_OK


def run_listen(args: argparse.Namespace) -> int:
    def show(run_id: str, reports: list[SyncReport]) -> None:
        if args.log_format != "json":
            print(f"dbt Cloud run {run_id}:\n{_summary(args, reports)}", flush=True)

    options = commands.ListenOptions(
        args.host, args.port, tuple(args.job_id), tuple(args.environment_id), args.push_errored
    )
    server = commands.listener(_settings(args), options, show)
    if args.log_format != "json":
        print(f"listening for dbt Cloud webhooks on {server.url}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.server.shutdown).start())
    server.serve_forever()
    return EXIT_OK


def run_sandbox(args: argparse.Namespace) -> int:
    from dbt_revsync.sandbox import Limits, serve

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must lie between 0 and 65535 (0: a free port), not {args.port}")
    limits = Limits(per_minute=args.per_minute, per_hour=args.per_hour) if args.per_minute or args.per_hour else None
    serve(
        args.host,
        args.port,
        limits="vendor" if args.vendor_limits else limits,
        schema=args.schema,
        state_dir=Path(args.state_dir).resolve(),
        fresh=args.fresh,
    )
    return EXIT_OK


# `run`: dbt's own options that dbt-revsync also reads (they still go to dbt), and options
# only dbt-revsync reads (taken out before dbt sees the arguments).
RUN_SHARED = {
    "--project-dir": "project_dir",
    "--profiles-dir": "profiles_dir",
    "--target": "target",
    "-t": "target",
    "--vars": "vars",
    "--threads": "threads",
    "--target-path": "target_path",
    "--log-format": "log_format",
    "--log-level": "log_level",
}
RUN_OWN = {"--connections-file": "connections_file", "--state-schema": "state_schema"}


def split_run_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """dbt-revsync's settings and dbt's arguments, from ``dbt-revsync run <arguments>``."""
    ns = argparse.Namespace(
        project_dir=os.environ.get("DBT_PROJECT_DIR", "."),
        profiles_dir=os.environ.get("DBT_PROFILES_DIR"),
        target=os.environ.get("DBT_TARGET"),
        vars=None,
        threads=None,
        target_path=None,
        log_format="text",
        log_level="warning",
        connections_file=None,
        state_schema=os.environ.get("DBT_REVSYNC_STATE_SCHEMA", "revsync"),
        no_progress=False,
        select=[],
        exclude=[],
    )
    dbt_args: list[str] = []
    items = list(argv)
    while items:
        item = items.pop(0)
        name, eq, inline = item.partition("=")
        if item == "--no-progress":
            ns.no_progress = True
            continue
        if name in RUN_SHARED or name in RUN_OWN:
            if not eq and not items:
                raise UsageError(f"dbt-revsync run: {name} needs a value")
            value = inline if eq else items.pop(0)
            setattr(ns, RUN_SHARED.get(name) or RUN_OWN[name], value)
            if name in RUN_SHARED:
                dbt_args += [name, value]
            continue
        dbt_args.append(item)
    if ns.threads is not None:
        ns.threads = int(ns.threads) if str(ns.threads).isdigit() else None
    ns.log_format = "json" if ns.log_format == "json" else "text"
    ns.log_level = ns.log_level if ns.log_level in ("debug", "info", "warning", "error") else "warning"
    return ns, dbt_args


def run_run(args: argparse.Namespace) -> int:
    with interruptible() as interruption:
        dbt_ok, reports = commands.run_then_push(
            _settings(args),
            args.dbt_args,
            target_path=args.target_path,
            progress=_progress(args),
            stop=interruption.event,
        )
    _print_reports(args, reports)
    if any(r.status == SyncStatus.INTERRUPTED for r in reports):
        return interruption.exit_code(EXIT_INTERRUPTED)
    return EXIT_OK if dbt_ok and all(r.ok for r in reports) else EXIT_FAILED


HANDLERS = {
    "push": run_push,
    "run": run_run,
    "plan": run_plan,
    "validate": run_validate,
    "status": run_status,
    "forget": run_forget,
    "exposures": run_exposures,
    "listen": run_listen,
    "sandbox": run_sandbox,
}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"] and not {"-h", "--help"} & set(argv[1:2]):
        args, dbt_args = split_run_args(argv[1:])
        args.command, args.dbt_args = "run", dbt_args
        return args
    return build_parser().parse_args(argv)


def _error(redactor: logs.Redactor, exc: Exception, code: int, args: argparse.Namespace) -> int:
    """Print the error on stderr (and as an ``error`` event on the JSON stream)."""
    text = redactor.redact(f"error: {exc}")
    print(text, file=sys.stderr)
    if getattr(args, "log_format", "text") == "json":
        events.emit("error", text, logging.ERROR)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parse(argv)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    redactor = logs.setup(getattr(args, "log_level", "warning"), getattr(args, "log_format", "text"))
    try:
        return HANDLERS[args.command](args)
    except (ConfigError, ManifestError, UsageError) as exc:
        return _error(redactor, exc, EXIT_USAGE, args)
    except RevsyncError as exc:  # WarehouseError, DestinationError, ...
        return _error(redactor, exc, EXIT_FAILED, args)
    except KeyboardInterrupt:
        print("interrupted: what was acknowledged is committed; push again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: its traceback still goes through the redactor
        print(redactor.redact("".join(traceback.format_exception(exc))), file=sys.stderr)
        return _error(redactor, RuntimeError(f"unexpected {type(exc).__name__}: {exc}"), EXIT_FAILED, args)


if __name__ == "__main__":
    sys.exit(main())
