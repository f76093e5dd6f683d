#!/usr/bin/env bash
# The floor leg: dbt-revsync on the LOWEST dbt-core and dbt-duckdb that pyproject.toml allows,
# installed as a user installs it. A separate venv (FLOOR_VENV, default .venv-floor) gets
# exactly those two versions, then a wheel built from this tree (not an editable install); a
# copy of the example project outside the tree is built into a scratch DuckDB file and pushed
# to the sandbox (in-process, on loopback), twice: the first push must deliver records, the
# second must find nothing left to send. Takes a minute or two once the venv exists.
#
#   bash scripts/floor_leg.sh            exit 0: the floor builds and pushes; non-zero otherwise
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
VENV=${FLOOR_VENV:-$ROOT/.venv-floor}

floor() {  # the lower bound of a dependency in pyproject.toml, e.g. floor dbt-core -> 1.10.8
    sed -n "s/^ *\"$1>=\([0-9.]*\),.*/\1/p" pyproject.toml | head -1
}
CORE=$(floor dbt-core)
DUCKDB=$(floor dbt-duckdb)
if [ -z "$CORE" ] || [ -z "$DUCKDB" ]; then
    echo "floor_leg: cannot read the dbt-core / dbt-duckdb floors from pyproject.toml" >&2
    exit 2
fi
echo "floor_leg: dbt-core==$CORE dbt-duckdb==$DUCKDB in $VENV"

pins=$(mktemp)
trap 'rm -f "$pins"' EXIT
printf 'dbt-core==%s\ndbt-duckdb==%s\n' "$CORE" "$DUCKDB" > "$pins"
if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$pins" "$VENV/.floor-pins"; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -c "$pins" "dbt-core==$CORE" "dbt-duckdb==$DUCKDB" 2> >(grep -v "^WARNING: Location" >&2)
    cp "$pins" "$VENV/.floor-pins"
fi
scratch=$(mktemp -d)
trap 'rm -f "$pins"; rm -rf "$scratch"' EXIT
# dbt-revsync itself as a user gets it: a wheel built from this tree, installed (not editable)
# with its other dependencies resolved around the pinned dbt
"$VENV/bin/python" -m pip wheel --quiet --no-deps -w "$scratch/dist" "$ROOT" 2> >(grep -v "^WARNING: Location" >&2)
"$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps "$scratch"/dist/dbt_revsync-*.whl 2> >(grep -v "^WARNING: Location" >&2)
"$VENV/bin/python" -m pip install --quiet -c "$pins" "$scratch"/dist/dbt_revsync-*.whl 2> >(grep -v "^WARNING: Location" >&2)
"$VENV/bin/dbt" --version | head -3
"$VENV/bin/dbt-revsync" --version
# the example project copied beside, outside this tree: the wheel must carry everything a push needs
cp -r "$ROOT/example_project" "$scratch/project"
rm -rf "$scratch/project/target" "$scratch/project/logs"
(cd "$scratch" && "$VENV/bin/python" -c "import dbt_revsync, sys; sys.exit(0 if 'site-packages' in dbt_revsync.__file__ else 'floor_leg: dbt_revsync imported from ' + dbt_revsync.__file__ + ', not the wheel')")
(cd "$scratch" && "$VENV/bin/python" - "$scratch/project" "$scratch") <<'PY'
import os
import subprocess
import sys
from pathlib import Path

from dbt_revsync.sandbox import SandboxServer

project, scratch = Path(sys.argv[1]), Path(sys.argv[2])
bin_dir = Path(sys.executable).parent
env = {**os.environ, "REVSYNC_EXAMPLE_DB": str(scratch / "floor.duckdb"), "DBT_TARGET_PATH": str(scratch / "target"),
       "DBT_LOG_PATH": str(scratch / "logs")}
where = ["--project-dir", str(project), "--profiles-dir", str(project)]


def run(*command: str) -> int:
    print("$", " ".join(command[:2]), flush=True)
    return subprocess.run(command, env=env, check=False).returncode


with SandboxServer() as sandbox:
    env["REVSYNC_SANDBOX_URL"] = sandbox.url
    if run(str(bin_dir / "dbt"), "build", *where, "--quiet"):
        sys.exit("floor_leg: the example project does not build on the floor dbt")
    first = run(str(bin_dir / "dbt-revsync"), "push", *where, "--log-level", "error")
    held = sum(len(records) for crm in sandbox.state().values() for records in crm.values())
    before = sum(s["requests"] for s in sandbox.stats().values())
    second = run(str(bin_dir / "dbt-revsync"), "push", *where, "--log-level", "error")
    again = sum(s["requests"] for s in sandbox.stats().values()) - before
print(f"floor_leg: first push exit {first}, {held} records in the sandbox; second push exit {second}, {again} requests")
# The example's data is messy on purpose: some rows are rejected (exit 1), none is lost.
if first not in (0, 1) or second not in (0, 1) or held == 0:
    sys.exit("floor_leg: the push did not deliver on the floor dbt")
if again > 0:
    sys.exit("floor_leg: the second push re-sent what the first had delivered")
print("floor_leg: ok")
PY
