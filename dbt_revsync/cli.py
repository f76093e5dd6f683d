"""The command line: argument parsing, logging set-up and exit codes; no logic.

Exit status: 0 every selected sync finished with no rejected row; 1 a row was rejected or
a sync failed; 2 a usage or configuration error, with nothing sent.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dbt_revsync import commands, logs, output
from dbt_revsync.config import Settings
from dbt_revsync.errors import ConfigError, ManifestError, RevsyncError, UsageError, WarehouseError

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    push = sub.add_parser("push", help="send what changed since the last push")
    _dbt_options(push)
    push.add_argument("--full-refresh", action="store_true", help="forget the diff and resend every row")
    push.add_argument("--dry-run", action="store_true", help="work out the changes, send nothing")
    push.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    plan = sub.add_parser("plan", help="print what push would do; send nothing")
    _dbt_options(plan)
    plan.add_argument("--full-refresh", action="store_true")
    plan.add_argument("--samples", type=int, default=3, help="sample payloads per sync")
    validate = sub.add_parser("validate", help="check every sync's config against the manifest")
    _dbt_options(validate)
    sandbox = sub.add_parser("sandbox", help="serve the local CRM emulator")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--per-minute", type=int, default=None, help="requests a minute per CRM before 429")
    sandbox.add_argument("--per-hour", type=int, default=None, help="requests an hour per CRM before 429")
    sandbox.add_argument("--vendor-limits", action="store_true", help="each CRM's published rate limits, enforced")
    return parser


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


def run_push(args: argparse.Namespace) -> int:
    show = not args.no_progress and sys.stderr.isatty() and args.log_format == "text"
    reports = commands.push(
        _settings(args),
        _selection(args),
        full_refresh=args.full_refresh,
        dry_run=args.dry_run,
        progress=output.TerminalProgress() if show else None,
    )
    print(output.plan_text(reports) if args.dry_run else output.summary(reports))
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED


def run_plan(args: argparse.Namespace) -> int:
    reports = commands.push(_settings(args), _selection(args), full_refresh=args.full_refresh, dry_run=True, samples=args.samples)
    print(output.plan_text(reports))
    return EXIT_OK


def run_validate(args: argparse.Namespace) -> int:
    specs = commands.validate(_settings(args), _selection(args, all_syncs=not args.select))
    for spec in specs:
        print(f"ok  {spec.label}  ({spec.insert_mode}, {spec.fetch_mode}, {len(spec.fields)} fields)")
    print(f"{len(specs)} sync(s) valid")
    return EXIT_OK


def run_sandbox(args: argparse.Namespace) -> int:
    from dbt_revsync.sandbox.framework import Limits
    from dbt_revsync.sandbox.server import serve

    limits = Limits(per_minute=args.per_minute, per_hour=args.per_hour) if args.per_minute or args.per_hour else None
    serve(args.host, args.port, limits="vendor" if args.vendor_limits else limits)
    return EXIT_OK


HANDLERS = {"push": run_push, "plan": run_plan, "validate": run_validate, "sandbox": run_sandbox}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    redactor = logs.setup(getattr(args, "log_level", "warning"), getattr(args, "log_format", "text"))
    try:
        return HANDLERS[args.command](args)
    except (ConfigError, ManifestError, UsageError) as exc:
        print(redactor.redact(f"error: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    except WarehouseError as exc:
        print(redactor.redact(f"error: {exc}"), file=sys.stderr)
        return EXIT_FAILED
    except RevsyncError as exc:
        print(redactor.redact(f"error: {exc}"), file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted: what was acknowledged is committed; push again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
