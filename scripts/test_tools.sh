#!/usr/bin/env bash
# Programs the test suite drives besides Python: tmux (tests/integration/test_terminal.py runs
# a real push in an 80x24 terminal). Installed from Debian's packages when missing (root);
# otherwise says how, and the test skips (under CI=true it fails instead).
set -euo pipefail

say() { echo "test_tools: $*" >&2; }

if command -v tmux >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "tmux is not installed and cannot be installed here; run: sudo apt-get install -y tmux (its test will skip)"
  exit 0
fi
say "installing tmux from Debian's packages"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tmux >/dev/null
