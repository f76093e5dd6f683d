#!/usr/bin/env bash
# Programs the test suite drives besides Python: tmux (tests/integration/test_terminal.py runs
# a real push in an 80x24 terminal) and a Java 17 runtime (the integration suite's `spark`
# warehouse: PySpark in local mode). Installed from Debian's packages when missing (root);
# otherwise says how, and their tests skip (under CI=true they fail instead).
set -euo pipefail

say() { echo "test_tools: $*" >&2; }

missing=()
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "${missing[*]} not installed and cannot be installed here; run: sudo apt-get install -y ${missing[*]} (their tests will skip)"
  exit 0
fi
say "installing ${missing[*]} from Debian's packages"
apt-get update -qq
# the JRE's post-install step links its man pages: a slim image lacks the directory
mkdir -p /usr/share/man/man1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
