#!/usr/bin/env bash
# A throwaway PostgreSQL server for the multi-node tests (tests/tests/cluster.rs).
#
# Installs PostgreSQL from Debian's packages when it is missing, then starts a server of its own
# in a fresh temporary directory: never as root (as the system user wamux-pg, created when
# needed, when this runs as root), on a free port of 127.0.0.1 only, trusting every local TCP
# connection. It exports
#   WAMUX_TEST_POSTGRES_URL=postgres://wamux@127.0.0.1:PORT/postgres  (the tests' admin URL)
#   WAMUX_TEST_POSTGRES_BIN=the folder of the server's binaries       (where psql is looked for)
# and stops the server and removes its directory when the shell exits, whatever the outcome.
#
#   source scripts/postgres.sh    # from a script: scripts/test.sh does (this sets its EXIT trap)
#   scripts/postgres.sh CMD...    # runs CMD with the server up, e.g.
#   scripts/postgres.sh cargo nextest run -p wamux-e2e --test cluster

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  if [ $# -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]  (runs COMMAND with WAMUX_TEST_POSTGRES_URL set)" >&2
    exit 2
  fi
fi

declare -F as_root >/dev/null || as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# The folder holding initdb, pg_ctl and postgres: on PATH (a link such as /usr/local/bin/postgres
# is followed to the folder it points into), else Debian's newest /usr/lib/postgresql/N/bin.
wamux_pg_find_bin() {
  local exe dir
  if exe=$(command -v pg_ctl 2>/dev/null); then
    dir=$(dirname "$(readlink -f "$exe")")
    if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then
      echo "$dir"
      return
    fi
  fi
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
      echo "$dir"
      return
    fi
  done
  return 1
}

# The server refuses to run as root, so as root it runs as wamux-pg.
wamux_pg_as() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u wamux-pg -- "$@"; else "$@"; fi
}

wamux_pg_stop() {
  if [ -n "${wamux_pg_dir:-}" ] && [ -d "$wamux_pg_dir" ]; then
    if [ -f "$wamux_pg_dir/data/postmaster.pid" ]; then
      (cd "$wamux_pg_dir" && wamux_pg_as "$wamux_pg_bin/pg_ctl" -D "$wamux_pg_dir/data" -m immediate -w stop >/dev/null 2>&1) || true
    fi
    rm -rf "$wamux_pg_dir"
  fi
}

wamux_pg_start() {
  if ! wamux_pg_bin=$(wamux_pg_find_bin); then
    echo "postgres: installing postgresql from apt" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
    wamux_pg_bin=$(wamux_pg_find_bin) || {
      echo "postgres: no initdb, pg_ctl and postgres found after installing postgresql" >&2
      return 1
    }
  fi
  local base=${TMPDIR:-/tmp}
  if [ "$(id -u)" -eq 0 ]; then
    id -u wamux-pg >/dev/null 2>&1 \
      || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin wamux-pg
    # wamux-pg must reach the directory: root's TMPDIR may be closed to it, /tmp is not.
    base=/tmp
  fi
  wamux_pg_dir=$(mktemp -d "$base/wamux-pg.XXXXXX")
  trap wamux_pg_stop EXIT
  # So that an interrupted run still gets to the EXIT trap.
  trap 'exit 130' INT
  trap 'exit 143' TERM
  [ "$(id -u)" -ne 0 ] || chown wamux-pg: "$wamux_pg_dir"
  local data="$wamux_pg_dir/data" log="$wamux_pg_dir/server.log"
  # The server's own files need no fsync at init: the directory goes with the run.
  if ! (cd "$wamux_pg_dir" && wamux_pg_as "$wamux_pg_bin/initdb" -D "$data" -U wamux \
    --auth=trust --encoding=UTF8 --locale=C --no-sync >"$wamux_pg_dir/initdb.log" 2>&1); then
    cat "$wamux_pg_dir/initdb.log" >&2
    echo "postgres: initdb failed" >&2
    return 1
  fi
  # Its socket goes in its own directory (Debian's /var/run/postgresql is not wamux-pg's); three
  # nodes per test, each with a pool, need more than the default hundred connections.
  cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$wamux_pg_dir'
max_connections = 300
EOF
  # A port picked at random below Linux's ephemeral range; one that turns out taken makes the
  # server fail to bind, and another is tried.
  local port try
  for try in $(seq 1 20); do
    port=$((15000 + RANDOM % 17000))
    if (cd "$wamux_pg_dir" && wamux_pg_as "$wamux_pg_bin/pg_ctl" -D "$data" -l "$log" -w -t 60 \
      -o "-p $port" start >/dev/null 2>&1); then
      export WAMUX_TEST_POSTGRES_URL="postgres://wamux@127.0.0.1:$port/postgres"
      export WAMUX_TEST_POSTGRES_BIN="$wamux_pg_bin"
      echo "postgres: $("$wamux_pg_bin/postgres" --version) at $WAMUX_TEST_POSTGRES_URL" >&2
      return 0
    fi
  done
  [ -f "$log" ] && tail -n 20 "$log" >&2
  echo "postgres: the server did not start after $try tries" >&2
  return 1
}

wamux_pg_start

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  # Not exec: the EXIT trap must run after the command.
  "$@"
fi
