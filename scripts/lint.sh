#!/usr/bin/env bash
# The lint and type gates, the first step of `make test` (so CI runs them): ruff's rules,
# ruff's formatting and mypy on the package, all configured in pyproject.toml.
# Usage: bash scripts/lint.sh [PYTHON]   (default: the python on PATH; it must have the test extra)
set -uo pipefail

PY="${1:-python}"
cd "$(dirname "$0")/.."

status=0
run() {
  echo "lint: $*" >&2
  "$PY" -m "$@" || status=1
}

run ruff check --output-format concise .
run ruff format --check .
run mypy dbt_revsync
exit "$status"
