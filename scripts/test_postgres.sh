#!/usr/bin/env bash
# A throw-away PostgreSQL server for the test suite, on this machine only.
#
#   scripts/test_postgres.sh start   install PostgreSQL from Debian's packages when missing (root),
#                                    create a cluster in $REVSYNC_PG_DATA and start it on
#                                    127.0.0.1:$REVSYNC_PG_PORT with a role that may create databases
#   scripts/test_postgres.sh stop    stop that cluster (its files stay for the next start)
#   scripts/test_postgres.sh status  exit 0 when that cluster is up
#   scripts/test_postgres.sh env     print the connection variables the tests read
#   scripts/test_postgres.sh run CMD...
#                                    CMD with the server up and its variables set; a server this
#                                    started is stopped afterwards. Where no server can be had,
#                                    CMD runs anyway (its PostgreSQL tests skip), except under
#                                    CI=true, where that is a failure. With REVSYNC_PG_HOST set,
#                                    CMD runs against that server and nothing is started
#
# Idempotent: a start with the server already up only checks the role. The cluster is for
# tests (fsync off, trust on loopback); never point it at data you care about.
set -euo pipefail

PORT="${REVSYNC_PG_PORT:-54329}"
USER_NAME="${REVSYNC_PG_USER:-revsync}"
PASSWORD="${REVSYNC_PG_PASSWORD:-revsync}"
DATA="${REVSYNC_PG_DATA:-/tmp/dbt-revsync-postgres-$PORT}"

say() { echo "test_postgres: $*" >&2; }

bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$dir" ] && command -v pg_ctl >/dev/null 2>&1; then dir=$(dirname "$(command -v pg_ctl)"); fi
  echo "$dir"
}

install_server() {
  if [ -n "$(bin_dir)" ] && [ -x "$(bin_dir)/initdb" ]; then return; fi
  if [ "$(id -u)" != 0 ]; then
    say "PostgreSQL is not installed; run: sudo apt-get install -y postgresql"
    exit 1
  fi
  say "installing PostgreSQL from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}

# Server commands must not run as root: as root, run them as the postgres user.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

psql_admin() {
  as_owner "$(bin_dir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$DATA" -p "$PORT" -d postgres "$@"
}

start() {
  install_server
  local bin
  bin=$(bin_dir)
  if [ -f "$DATA/PG_VERSION" ] && [ "$(cat "$DATA/PG_VERSION")" != "$(basename "$(dirname "$bin")")" ] \
     && [[ "$bin" == /usr/lib/postgresql/* ]]; then
    say "discarding a test cluster made by another PostgreSQL version"
    rm -rf "$DATA"
  fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA"
    [ "$(id -u)" = 0 ] && chown postgres: "$DATA"
    chmod 700 "$DATA"
    as_owner "$bin/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! is_up; then
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start \
      -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null
  fi
  psql_admin <<SQL
do \$\$ begin
  if not exists (select from pg_roles where rolname = '$USER_NAME') then
    create role "$USER_NAME" login createdb password '$PASSWORD';
  end if;
end \$\$;
SQL
  say "PostgreSQL $(psql_admin -At -c 'show server_version') up on 127.0.0.1:$PORT (data in $DATA)"
}

is_up() {
  local bin
  bin=$(bin_dir)
  [ -n "$bin" ] && [ -f "$DATA/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

stop() {
  local bin
  bin=$(bin_dir)
  if [ -n "$bin" ] && [ -f "$DATA/PG_VERSION" ]; then
    as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

print_env() {
  echo "export REVSYNC_PG_HOST=127.0.0.1 REVSYNC_PG_PORT=$PORT REVSYNC_PG_USER=$USER_NAME REVSYNC_PG_PASSWORD=$PASSWORD"
}

run_with_server() {
  local started=no code=0
  if [ -n "${REVSYNC_PG_HOST:-}" ]; then  # a server of the caller's own: use it as it is
    "$@"
    return
  fi
  if ! is_up; then
    if bash "$0" start; then  # its own process, so that any failing step fails the start
      started=yes
    elif [ "${CI:-}" = true ]; then
      say "no PostgreSQL server could be started; under CI=true that fails the run"
      exit 1
    else
      say "no PostgreSQL server: the PostgreSQL tests will skip"
    fi
  fi
  eval "$(print_env)"
  "$@" || code=$?
  if [ "$started" = yes ]; then stop; fi
  return "$code"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) is_up ;;
  env) print_env ;;
  run) shift; run_with_server "$@" ;;
  *) echo "usage: $0 start|stop|status|env|run CMD..." >&2; exit 2 ;;
esac
