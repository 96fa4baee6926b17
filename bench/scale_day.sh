#!/usr/bin/env bash
# scale_day.sh: one simulated day of a large fleet in compressed time (issue 19, item 7).
# METERS meters (default 100,000), each its tenant's, on a time-of-use tariff; a baseline
# reading each, then 96 readings 15 minutes apart (one site-day) posted the way gateways post
# them (POST /v1/readings with a gateway key, batches of BATCH (500) on CLIENTS (8)
# connections, each connection a gateway's share of the meters), as fast as wattle bills
# them, on one durable PostgreSQL (synchronous_commit on). Prints the sustained billed
# readings per second, the billing lag from each request's arrival to its ledger commit
# (p50 and p99 from wattle's own histogram), the database's growth per million readings
# (readings with their indexes, ledger, rollups), and pgbench tpcb-like on the same
# PostgreSQL beside it. Not a test: it only measures.
set -euo pipefail
meters=${METERS:-100000}
clients=${CLIENTS:-8}
batch=${BATCH:-500}
source "$(dirname "$0")/lib.sh"
pgbench_init -M prepared -c 8 -j 2
tps=$(pgbench -M prepared -c 8 -j 2 -T "$dur" "$pg dbname=pgbench" 2>/dev/null | awk '/^tps = /{print int($3)}')
psql "$WATTLE_DATABASE_URL" -q <<SQL
INSERT INTO sites (name, timezone, currency, created_at) VALUES ('Bench Mall', 'Asia/Shanghai', 'CNY', now());
INSERT INTO tariffs (site_id, name, currency, kind, spec, effective_from, created_at) VALUES (1, 'TOU', 'CNY', 'tou',
  '{"bands":[{"name":"peak","rate_micros_per_kwh":1200000},{"name":"valley","rate_micros_per_kwh":400000}],
    "schedule":[{"from":"00:00","to":"08:00","band":"valley"},{"from":"08:00","to":"22:00","band":"peak"},{"from":"22:00","to":"24:00","band":"valley"}]}',
  '2020-01-01', now());
INSERT INTO tariff_versions (tariff_id, effective_from, kind, spec, created_at) SELECT id, effective_from, kind, spec, created_at FROM tariffs;
$(fleet_sql "$meters")
SQL
psql "$WATTLE_DATABASE_URL" -qc 'VACUUM ANALYZE' -c 'CHECKPOINT'
key=$("$root/build/wattle" keys create --role gateway --name bench)
port=18096
wattle_serve $port
load="$root/build/bench-ingest-load http://127.0.0.1:$port $key $meters $clients $batch 3600"
# the simulated day: yesterday in UTC, from 00:00; the baseline 15 minutes before
day=$(( ($(date +%s) / 86400 - 1) * 86400 ))
size_sql="SELECT (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
    WHERE c.relkind = 'r' AND (c.relname = 'readings' OR c.oid IN (SELECT inhrelid FROM pg_inherits i
      JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'readings')))
  || ' ' || pg_total_relation_size('ledger_entries') || ' ' || pg_total_relation_size('meter_daily')
  || ' ' || pg_database_size(current_database())"
hist() { curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^wattle_billing_lag_seconds_bucket\{from="arrival"/ {
  match($1, /le="[^"]*"/); le = substr($1, RSTART + 4, RLENGTH - 5); print le, $2 }'; }
BENCH_STEP_S=900 BENCH_COUNT=1 $load $((day - 1800)) >/dev/null   # each meter's baseline (not billed)
read -r r0 l0 d0 db0 < <(psql "$WATTLE_DATABASE_URL" -Atc "$size_sql")
hist >"$tmp/h0"
n0=$(psql "$WATTLE_DATABASE_URL" -Atc "SELECT count(*) FROM readings")
echo "one simulated day: $meters meters x 96 readings (15 min), $clients gateway connections x $batch a batch"
out=$(BENCH_STEP_S=900 BENCH_COUNT=96 $load $((day - 900)))
read -r r1 l1 d1 db1 < <(psql "$WATTLE_DATABASE_URL" -Atc "$size_sql")
hist >"$tmp/h1"
n1=$(psql "$WATTLE_DATABASE_URL" -Atc "SELECT count(*) FROM readings")
billed=$(psql "$WATTLE_DATABASE_URL" -Atc "SELECT count(*) FROM readings WHERE billed AND ts >= to_timestamp($day)")
echo "  load: $out"
echo "  readings stored: $((n1 - n0)) (billed in the day: $billed)"
# p50 and p99 of the day's observations: the first bucket whose count reaches the share
paste -d' ' "$tmp/h0" "$tmp/h1" | awk '{ d[NR] = $4 - $2; le[NR] = $1; n = NR } END {
  tot = d[n]; for (q = 50; q <= 99; q += 49) { for (i = 1; i <= n; i++) if (d[i] >= tot * q / 100) break;
  printf "  billing lag (arrival to ledger commit) p%d <= %s s\n", q, le[i] } }'
awk -v r="$((r1 - r0))" -v l="$((l1 - l0))" -v d="$((d1 - d0))" -v db="$((db1 - db0))" -v n="$((n1 - n0))" 'BEGIN {
  m = n / 1e6; printf "  growth per million readings: readings %.0f MB, ledger %.0f MB, rollups %.1f MB, whole database %.0f MB\n",
  r / m / 1048576, l / m / 1048576, d / m / 1048576, db / m / 1048576 }'
echo "  pgbench tpcb-like on the same PostgreSQL, before: $tps tps"
