#!/usr/bin/env bash
# account_read.sh: GET /v1/tenants/{id}/account over random tenants (wrk -t2 -c64, 20 s),
# beside the same machine's limits measured in the same run: pgbench -S -M prepared -c 8 -j 2
# on the same PostgreSQL, and a bare libmicrohttpd server replying a fixed JSON body.
# Prints requests/s, p50 and p99 for each and the ratios. Not a test: it only measures.
# The three alternate over ROUNDS rounds (default 3), so a machine whose speed drifts slows
# all three alike; medians are compared.
set -euo pipefail
tenants=${TENANTS:-1000}
source "$(dirname "$0")/lib.sh"

rounds=${ROUNDS:-3}
pgbench_init -S -M prepared -c 8 -j 2
pgbench_run() { # -> prints "tps p50ms p99ms"
  rm -f "$tmp"/pgb.*
  (cd "$tmp" && pgbench -S -M prepared -c 8 -j 2 -T "$dur" -l --log-prefix=pgb "$pg dbname=pgbench" >"$tmp/pgbench.out" 2>&1)
  local tps
  tps=$(awk '/^tps = /{print int($3)}' "$tmp/pgbench.out" | tail -1)
  cat "$tmp"/pgb.* | awk '{print $3}' | sort -n |
    awk -v t="$tps" '{a[NR]=$1} END {printf "%s %.2f %.2f\n", t, a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000}'
}

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

"$root/build/bench-bare" 18091 "$(nproc)" & pids+=($!)
sleep 0.3
wrk -t2 -c64 -d2s http://127.0.0.1:18091/ >/dev/null  # warm-up

echo "== seeding $tenants tenants for wattle GET /v1/tenants/{id}/account"
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
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for r in $(seq "$rounds"); do
  echo "== round $r of $rounds: pgbench -S ${dur}s, bare libmicrohttpd ${dur}s, wattle GET account ${dur}s (wrk -t2 -c64)"
  pgbench_run >>"$tmp/res_pg"
  wrk_run http://127.0.0.1:18091/ >>"$tmp/res_bare"
  WATTLE_KEY=$key TENANTS=$tenants wrk_run http://127.0.0.1:18092 "$root/bench/account_read.lua" >>"$tmp/res_wattle"
  printf "   pgbench -S %s tps, bare %s req/s, wattle %s req/s\n" "$(tail -1 "$tmp/res_pg" | awk '{print $1}')" \
    "$(tail -1 "$tmp/res_bare" | awk '{print $1}')" "$(tail -1 "$tmp/res_wattle" | awk '{print $1}')"
done
rss=$(ps -o rss= -p "${pids[-1]}" | awk '{printf "%.1f", $1/1024}')
col() { awk -v k="$2" '{print $k}' "$tmp/res_$1" | median; }

echo
echo "medians of $rounds rounds:"
printf "%-44s %10s %9s %9s\n" "what" "req/s" "p50 ms" "p99 ms"
printf "%-44s %10s %9s %9s\n" "pgbench -S -M prepared -c8 -j2 (tps)" "$(col pg 1)" "$(col pg 2)" "$(col pg 3)"
printf "%-44s %10s %9s %9s\n" "bare libmicrohttpd, fixed body" "$(col bare 1)" "$(col bare 2)" "$(col bare 3)"
printf "%-44s %10s %9s %9s\n" "wattle GET account (finance key)" "$(col wattle 1)" "$(col wattle 2)" "$(col wattle 3)"
echo
awk -v w="$(col wattle 1)" -v p="$(col pg 1)" -v b="$(col bare 1)" 'BEGIN {
  printf "wattle / pgbench -S: %.2fx (goal >= 0.5x)\nwattle / bare server: %.2fx\n", w/p, w/b }'
paste "$tmp/res_pg" "$tmp/res_bare" "$tmp/res_wattle" | awk '{printf "round %d: wattle / pgbench -S %.2fx\n", NR, $7/$1}'
echo "wattle RSS after the runs: ${rss} MB; request log lines: $(wc -l <"$tmp/wattle.log")"
