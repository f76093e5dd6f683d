"""The one place that runs dbt itself, through ``dbtRunner``.

Run before the warehouse is opened: an invocation resets dbt's adapters when it ends.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence

from dbt_revsync.errors import ManifestError, UsageError
from dbt_revsync.model import Settings

__all__ = ["BUILD_COMMANDS", "RESOURCE_TYPES", "invoke", "parse", "selected_unique_ids"]

RESOURCE_TYPES = ("model", "seed", "snapshot", "source")


def _common_args(settings: Settings) -> list[str]:
    args = ["--project-dir", str(settings.project_dir)]
    if settings.profiles_dir:
        args += ["--profiles-dir", str(settings.profiles_dir)]
    if settings.target:
        args += ["--target", settings.target]
    if settings.vars:
        args += ["--vars", settings.vars]
    return args


def selected_unique_ids(settings: Settings, select: Sequence[str], exclude: Sequence[str]) -> set[str]:
    """Resolve dbt selector syntax with dbt's own ``ls``."""
    from dbt.cli.main import dbtRunner

    args = [
        "ls",
        *_common_args(settings),
        "--resource-types",
        *RESOURCE_TYPES,
        "--output",
        "json",
        "--output-keys",
        "unique_id",
    ]
    if select:
        args += ["--select", *select]
    if exclude:
        args += ["--exclude", *exclude]
    with contextlib.redirect_stdout(io.StringIO()) as captured:
        result = dbtRunner().invoke([*args, "--quiet", "--log-level", "none"])
    if not result.success:
        reason = str(result.exception or "").strip() or captured.getvalue().strip()[-500:]
        raise UsageError(f"dbt ls could not resolve the selection: {reason or 'dbt failed'}")
    lines = result.result if isinstance(result.result, list) else []
    return {json.loads(line)["unique_id"] for line in lines if isinstance(line, str) and line.strip().startswith("{")}


BUILD_COMMANDS = ("build", "run", "seed", "snapshot")


def invoke(args: Sequence[str]) -> bool:
    """Run ``dbt <args>`` in-process, its output going where dbt sends it.

    Returns whether every node succeeded. A dbt that could not run at all (unknown
    command, broken project, bad profile) raises ``UsageError``: nothing was built.
    """
    from dbt.cli.main import dbtRunner

    if not args or args[0] not in BUILD_COMMANDS:
        raise UsageError(f"dbt-revsync run takes a dbt command that builds: {', '.join(BUILD_COMMANDS)}")
    result = dbtRunner().invoke(list(args))
    if result.result is None and not result.success:
        reason = str(result.exception or "").strip() or "dbt failed before building anything"
        raise UsageError(f"dbt {args[0]} did not run: {reason}")
    return bool(result.success)


def parse(settings: Settings) -> None:
    """``dbt parse``: writes a fresh ``manifest.json`` for the project as it is on disk.

    A project dbt cannot parse raises ``ManifestError`` with dbt's own reason.
    """
    from dbt.cli.main import dbtRunner

    with contextlib.redirect_stdout(io.StringIO()) as captured:
        result = dbtRunner().invoke(["parse", *_common_args(settings), "--quiet", "--log-level", "none"])
    if not result.success:
        reason = " ".join(str(result.exception or "").split()) or captured.getvalue().strip()[-500:]
        raise ManifestError(f"dbt parse failed, so the manifest cannot be brought up to date: {reason or 'dbt failed'}")
