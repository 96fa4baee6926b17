#!/usr/bin/env bash
# cluster.sh: the replica suite's own PostgreSQL pair (test_replica.c), apart from the shared
# cluster of tests/run.sh so that no other suite pays for it: a primary with the migrated
# template database, and a hot standby made from it by pg_basebackup -R, streaming.
#   cluster.sh start DIR WATTLE_BIN   both; prints the primary's conninfo, then the standby's
#   cluster.sh stop DIR               both
#   cluster.sh standby-stop DIR | standby-start DIR
#   cluster.sh bouncer-start DIR PORT MODE POOL   Debian's pgbouncer on 127.0.0.1:PORT in front
#                                     of the primary, pool_mode MODE, POOL server connections
#                                     per database; prints nothing
#   cluster.sh bouncer-stop DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/tests/lib.sh"
cmd=${1:?usage: cluster.sh start|stop|standby-stop|standby-start|bouncer-start|bouncer-stop DIR}
dir=$(realpath -m "${2:?DIR}")
pg() { "$root/scripts/pg.sh" "$@"; }
standby_up() {
  pg start "$dir/s" --fast >/dev/null
  for _ in $(seq 200); do
    [ "$(psql "host=$dir/s user=postgres dbname=postgres" -qAtc 'SELECT pg_is_in_recovery()' 2>/dev/null)" = t ] && return 0
    sleep 0.05
  done
  echo "cluster.sh: the standby did not come up in recovery (see $dir/s/postgres.log)" >&2
  return 1
}
case "$cmd" in
start)
  bin=${3:?WATTLE_BIN}
  mkdir -p "$dir"; chmod 755 "$dir"
  p=$(pg start "$dir/p" --fast)
  # initdb's defaults already stream: wal_level replica, max_wal_senders 10, and pg_hba's
  # "local replication all trust"
  psql "$p dbname=postgres" -qc "CREATE DATABASE wattle_template"
  WATTLE_LOG_LEVEL=warn WATTLE_DATABASE_URL="$p dbname=wattle_template" "$bin" migrate
  mkdir -p "$dir/s"; [ "$(id -u)" = 0 ] && chown postgres: "$dir/s"
  as_pg pg_basebackup -h "$dir/p" -U postgres -D "$dir/s/data" -R -X stream -c fast
  echo "unix_socket_directories = '$dir/s'" | as_pg tee -a "$dir/s/data/postgresql.conf" >/dev/null
  standby_up
  echo "$p"
  echo "host=$dir/s user=postgres"
  ;;
stop)
  bouncer_pid=$(cat "$dir/b/pgbouncer.pid" 2>/dev/null || true)
  [ -n "$bouncer_pid" ] && kill "$bouncer_pid" 2>/dev/null || true
  pg stop "$dir/s" || true
  pg stop "$dir/p" || true
  ;;
standby-stop) pg stop "$dir/s" ;;
standby-start) standby_up ;;
bouncer-start)
  port=${3:?PORT} mode=${4:?MODE} pool=${5:?POOL}
  "$0" bouncer-stop "$dir" # one at a time: a test that failed may have left its own running
  mkdir -p "$dir/b"; [ "$(id -u)" = 0 ] && chown postgres: "$dir/b"
  # wattle's libpq sends no startup parameter pgbouncer refuses; auth is the cluster's (trust)
  cat >"$dir/b/pgbouncer.ini" <<INI
[databases]
* = host=$dir/p user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
admin_users = postgres
auth_file = $dir/b/users.txt
pool_mode = $mode
default_pool_size = $pool
max_client_conn = 500
server_reset_query = DISCARD ALL
logfile = $dir/b/pgbouncer.log
pidfile = $dir/b/pgbouncer.pid
INI
  echo '"postgres" ""' >"$dir/b/users.txt"
  rm -f "$dir/b/pgbouncer.pid"
  as_pg pgbouncer -d "$dir/b/pgbouncer.ini"
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && exit 0; sleep 0.05; done
  echo "cluster.sh: pgbouncer did not listen on $port (see $dir/b/pgbouncer.log)" >&2; exit 1
  ;;
bouncer-stop)
  pid=$(cat "$dir/b/pgbouncer.pid" 2>/dev/null || true)
  [ -n "$pid" ] || exit 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || { rm -f "$dir/b/pgbouncer.pid"; exit 0; }; sleep 0.05; done
  ;;
*) echo "cluster.sh: unknown command $cmd" >&2; exit 2 ;;
esac
