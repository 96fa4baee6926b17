#!/usr/bin/env bash
# run.sh: a private PostgreSQL under ./var/pg, the database migrated, an admin key printed,
# and wattle serving on WATTLE_LISTEN (default 127.0.0.1:8080) until Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p var
pg=$(scripts/pg.sh start "$root/var/pg")
psql "$pg dbname=postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = 'wattle'" | grep -q 1 ||
  psql "$pg dbname=postgres" -qc "CREATE DATABASE wattle"
export WATTLE_DATABASE_URL="$pg dbname=wattle"
build/wattle migrate
key=$(build/wattle keys create --role admin --name "make run $(date -u +%FT%TZ)")
listen=${WATTLE_LISTEN:-127.0.0.1:8080}
cat <<MSG

wattle is starting on http://$listen (PostgreSQL in ./var/pg; stop with Ctrl-C).
Admin API key (shown once):

  $key

Try:
  curl -s -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \\
       -d '{"name":"Harbour Mall","timezone":"Asia/Shanghai","currency":"CNY"}' http://$listen/v1/sites

MSG
exec build/wattle serve --no-migrate
