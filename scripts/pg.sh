#!/usr/bin/env bash
# pg.sh: a private PostgreSQL 15 cluster in a folder, on a unix socket in that folder.
#   pg.sh start DIR [--fast]   initdb if needed, start; prints the libpq conninfo
#   pg.sh stop DIR             stop (fast shutdown)
# As root, the cluster runs as the unprivileged 'postgres' user (initdb refuses root).
# --fast turns off fsync for throwaway test clusters; without it the cluster is durable.
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop DIR [--fast]}
dir=$(realpath -m "${2:?usage: pg.sh start|stop DIR}")
fast=${3:-}
bin=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)
[ -n "$bin" ] || { echo "pg.sh: PostgreSQL 15 server binaries not found (scripts/deps.sh installs them)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
    {
      echo "listen_addresses = ''"
      echo "unix_socket_directories = '$dir'"
      echo "max_connections = 200"
      echo "shared_buffers = 256MB"
      echo "logging_collector = off"
      [ "$fast" = --fast ] && { echo "fsync = off"; echo "synchronous_commit = off"; echo "full_page_writes = off"; }
      true
    } >>"$dir/data/postgresql.conf"
  fi
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null
  fi
  echo "host=$dir user=postgres"
  ;;
stop)
  if [ -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  ;;
*)
  echo "usage: pg.sh start|stop DIR [--fast]" >&2; exit 2 ;;
esac
