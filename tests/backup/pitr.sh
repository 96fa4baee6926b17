#!/usr/bin/env bash
# pitr.sh BUILD_DIR: backup and point-in-time recovery, end to end (docs/operations.md).
# A durable cluster archives its WAL; wattle takes top-ups; a base backup is taken with
# pg_basebackup in the middle of them; more top-ups follow; the cluster is stopped. A fresh
# cluster is restored from the base backup plus the archived WAL, and there `wattle verify`
# must pass and every acknowledged top-up must be present, exactly once.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/tests/lib.sh"
build=$(cd "${1:?usage: pitr.sh BUILD_DIR}" && pwd)
bin=/usr/lib/postgresql/15/bin
tmp=$(mktemp -d /tmp/wattle-pitr.XXXXXX)
chmod 755 "$tmp"
wpid=
cleanup() {
  [ -n "$wpid" ] && kill "$wpid" 2>/dev/null || true
  "$root/scripts/pg.sh" stop "$tmp/a" || true
  "$root/scripts/pg.sh" stop "$tmp/b" || true
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/wal"
[ "$(id -u)" = 0 ] && chown postgres: "$tmp/wal"

# 1. the primary: durable, archiving every WAL segment
pg=$("$root/scripts/pg.sh" start "$tmp/a")
cat >>"$tmp/a/data/postgresql.conf" <<CONF
wal_level = replica
archive_mode = on
archive_command = 'test ! -f $tmp/wal/%f && cp %p $tmp/wal/%f'
CONF
"$root/scripts/pg.sh" stop "$tmp/a"
pg=$("$root/scripts/pg.sh" start "$tmp/a")
psql "$pg dbname=postgres" -qc "CREATE DATABASE wattle"
export WATTLE_DATABASE_URL="$pg dbname=wattle" WATTLE_LOG_LEVEL=warn
"$build/wattle" migrate
admin=$("$build/wattle" keys create --role admin --name pitr)
port=$(free_ports 1)
WATTLE_LISTEN=127.0.0.1:$port "$build/wattle" serve --no-migrate 2>"$tmp/wattle.log" &
wpid=$!
for _ in $(seq 100); do
  kill -0 "$wpid" 2>/dev/null || { echo "pitr: wattle did not start" >&2; exit 1; }
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
api() { curl -s -o "$tmp/out" -w '%{http_code}' -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
          ${4:+-H "Idempotency-Key: $4"} -X POST -d "$3" "http://127.0.0.1:$port$2"; }
[ "$(api "$admin" /v1/sites '{"name":"Mall","timezone":"Asia/Shanghai","currency":"CNY"}')" = 201 ]
[ "$(api "$admin" /v1/api-keys '{"role":"finance","name":"fin"}')" = 201 ]
fin=$(sed 's/.*"key":"\([^"]*\)".*/\1/' "$tmp/out")
[ "$(api "$fin" /v1/tenants '{"site_id":"site_1","name":"Noodle Bar","category":"catering","area_m2":"80","credit_rating":"A"}')" = 201 ]
acked=0
topups() {
  for i in $(seq "$1" "$2"); do
    if [ "$(api "$fin" /v1/tenants/ten_1/topups "{\"amount_minor\":$i,\"channel\":\"cash\"}" "pitr-$i")" = 201 ]; then
      acked=$((acked + 1)); sum=$((${sum:-0} + i))
    fi
  done
}
topups 1 200
# 2. the base backup, while wattle serves
pg_basebackup -h "$tmp/a" -U postgres -D "$tmp/base" -X stream -c fast
topups 201 400
kill "$wpid"; wait "$wpid" 2>/dev/null || true; wpid=
psql "$pg dbname=postgres" -qAtc "SELECT pg_switch_wal()" >/dev/null
for _ in $(seq 100); do
  [ "$(psql "$pg dbname=postgres" -qAtc "SELECT last_archived_wal >= pg_walfile_name(pg_current_wal_lsn() - 1) FROM pg_stat_archiver")" = t ] && break
  sleep 0.1
done
"$root/scripts/pg.sh" stop "$tmp/a"

# 3. restore into a fresh cluster: the base backup, then every archived segment
mkdir -p "$tmp/b"
cp -a "$tmp/base" "$tmp/b/data"
[ "$(id -u)" = 0 ] && chown -R postgres: "$tmp/b"
chmod 700 "$tmp/b/data"
cat >>"$tmp/b/data/postgresql.conf" <<CONF
unix_socket_directories = '$tmp/b'
archive_mode = off
restore_command = 'cp $tmp/wal/%f %p'
CONF
as_pg touch "$tmp/b/data/recovery.signal"
pgb=$("$root/scripts/pg.sh" start "$tmp/b")
recovered=
for _ in $(seq 300); do
  [ "$(psql "$pgb dbname=postgres" -qAtc 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ] && { recovered=1; break; }
  sleep 0.1
done
[ -n "$recovered" ] || { echo "pitr: the restored cluster did not finish recovery in 30 s" >&2; exit 1; }
export WATTLE_DATABASE_URL="$pgb dbname=wattle"
"$build/wattle" verify
got=$(psql "$WATTLE_DATABASE_URL" -qAtc "SELECT count(*) || ' ' || coalesce(sum(amount_minor), 0) FROM ledger_entries WHERE kind = 'topup'")
echo "pitr: $acked top-ups acknowledged (sum $sum fen), restored: $got (count, sum)"
[ "$got" = "$acked $sum" ] || { echo "pitr: the restored cluster lost or doubled top-ups" >&2; exit 1; }
[ "$acked" = 400 ]
