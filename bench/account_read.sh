#!/usr/bin/env bash
# account_read.sh: GET /v1/tenants/{id}/account over random tenants (wrk -t2 -c64, 20 s),
# beside the same machine's limits measured in the same run: pgbench -S -M prepared -c 8 -j 2
# on the same PostgreSQL, and a bare libmicrohttpd server replying a fixed JSON body.
# Prints requests/s, p50 and p99 for each and the ratios. Not a test: it only measures.
set -euo pipefail
tenants=${TENANTS:-1000}
source "$(dirname "$0")/lib.sh"

echo "== pgbench -S -M prepared -c 8 -j 2 -T $dur (scale 10)"
pgbench_init -S -M prepared -c 8 -j 2
(cd "$tmp" && pgbench -S -M prepared -c 8 -j 2 -T "$dur" -l --log-prefix=pgb "$pg dbname=pgbench" >"$tmp/pgbench.out" 2>&1)
pg_tps=$(awk '/^tps = /{print int($3)}' "$tmp/pgbench.out" | tail -1)
read -r pg_p50 pg_p99 < <(cat "$tmp"/pgb.* | awk '{print $3}' | sort -n |
  awk '{a[NR]=$1} END {printf "%.2f %.2f\n", a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000}')

wrk_run() { # url [script] -> prints "rps p50ms p99ms"
  local out
  if [ -n "${2:-}" ]; then out=$(wrk -t2 -c64 -d"${dur}s" --latency -s "$2" "$1"); else out=$(wrk -t2 -c64 -d"${dur}s" --latency "$1"); fi
  echo "$out" >>"$tmp/wrk.out"
  local rps p50 p99
  rps=$(echo "$out" | awk '/^Requests\/sec:/{print int($2)}')
  p50=$(echo "$out" | awk '$1=="50%"{print $2}')
  p99=$(echo "$out" | awk '$1=="99%"{print $2}')
  local errs
  errs=$(echo "$out" | awk '/Non-2xx|Socket errors/{print}' )
  [ -z "$errs" ] || echo "   wrk: $errs" >&2
  echo "$rps $(to_ms "$p50") $(to_ms "$p99")"
}
to_ms() { # wrk prints 1.23ms / 456.00us / 1.20s
  awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.2f", n }'
}

echo "== bare libmicrohttpd server, fixed JSON body (wrk -t2 -c64 ${dur}s)"
"$root/build/bench-bare" 18091 "$(nproc)" & pids+=($!)
sleep 0.3
wrk -t2 -c64 -d2s http://127.0.0.1:18091/ >/dev/null  # warm-up
read -r bare_rps bare_p50 bare_p99 < <(wrk_run http://127.0.0.1:18091/)

echo "== wattle GET /v1/tenants/{id}/account, $tenants tenants (wrk -t2 -c64 ${dur}s)"
psql "$WATTLE_DATABASE_URL" -q <<SQL
INSERT INTO sites (name, timezone, currency, created_at) VALUES ('Bench Mall', 'Asia/Shanghai', 'CNY', now());
INSERT INTO tenants (site_id, name, category, area_centi_m2, credit_rating, created_at, updated_at)
  SELECT 1, 'Shop ' || g, 'retail', 5000 + g, (ARRAY['A','B','C','D'])[1 + g % 4], now(), now()
  FROM generate_series(1, $tenants) g;
INSERT INTO accounts (tenant_id, currency, balance_minor, created_at, updated_at)
  SELECT id, 'CNY', 0, now(), now() FROM tenants;
INSERT INTO credit_policies (site_id, rating, warn_levels_minor, overdraft_minor, grace_minutes,
  restore_min_minor, created_at, updated_at)
  SELECT 1, r, '{50000,20000}', 1000, 60, 0, now(), now() FROM unnest(ARRAY['A','B','C','D']) r;
SQL
psql "$WATTLE_DATABASE_URL" -qc 'VACUUM ANALYZE' -c 'CHECKPOINT'
key=$("$root/build/wattle" keys create --role finance --name bench)
WATTLE_BENCH_LOG=info wattle_serve 18092   # with the request log, as an operator runs it
curl -fs -H "Authorization: Bearer $key" http://127.0.0.1:18092/v1/tenants/ten_1/account >/dev/null
WATTLE_KEY=$key TENANTS=$tenants wrk -t2 -c64 -d2s -s "$root/bench/account_read.lua" http://127.0.0.1:18092 >/dev/null  # warm-up
read -r w_rps w_p50 w_p99 < <(WATTLE_KEY=$key TENANTS=$tenants wrk_run http://127.0.0.1:18092 "$root/bench/account_read.lua")
rss=$(ps -o rss= -p "${pids[-1]}" | awk '{printf "%.1f", $1/1024}')

echo
printf "%-44s %10s %9s %9s\n" "what" "req/s" "p50 ms" "p99 ms"
printf "%-44s %10s %9s %9s\n" "pgbench -S -M prepared -c8 -j2 (tps)" "$pg_tps" "$pg_p50" "$pg_p99"
printf "%-44s %10s %9s %9s\n" "bare libmicrohttpd, fixed body" "$bare_rps" "$bare_p50" "$bare_p99"
printf "%-44s %10s %9s %9s\n" "wattle GET account (finance key)" "$w_rps" "$w_p50" "$w_p99"
echo
awk -v w="$w_rps" -v p="$pg_tps" -v b="$bare_rps" 'BEGIN {
  printf "wattle / pgbench -S: %.2fx (goal >= 0.5x)\nwattle / bare server: %.2fx\n", w/p, w/b }'
echo "wattle RSS after the run: ${rss} MB; request log lines: $(wc -l <"$tmp/wattle.log")"
