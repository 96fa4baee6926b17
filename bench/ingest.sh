#!/usr/bin/env bash
# ingest.sh: billed readings per second, batched (500 a batch, 1,000 meters, 8 clients) and
# single (one reading a request, 64 clients), beside pgbench -M prepared -c 8 -T 20
# (tpcb-like) on the same durable PostgreSQL (synchronous_commit on). Prints figures.
# The three alternate over ROUNDS rounds (default 3), so a machine whose speed drifts
# (this one does, by 20% within minutes) slows all three alike; medians are compared.
set -euo pipefail
meters=1000
source "$(dirname "$0")/lib.sh"
echo "synchronous_commit: $(psql "$pg dbname=postgres" -tAc 'SHOW synchronous_commit'), fsync: $(psql "$pg dbname=postgres" -tAc 'SHOW fsync')"

rounds=${ROUNDS:-3}
pgbench_init -M prepared -c 8 -j 2

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
wattle_serve 18094
srv=${pids[-1]}
start=$(( $(date +%s) - 40 * 86400 ))
load="$root/build/bench-ingest-load http://127.0.0.1:18094 $key $meters"
$load 8 500 1 "$start" >/dev/null   # baselines and warm-up

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for r in $(seq "$rounds"); do
  echo "== round $r of $rounds: pgbench tpcb-like ${dur}s, batched ${dur}s (8 clients x 500), single ${dur}s (64 clients x 1)"
  pgbench -M prepared -c 8 -j 2 -T "$dur" "$pg dbname=pgbench" 2>/dev/null | awk '/^tps = /{print int($3)}' >>"$tmp/res_pg"
  if [ -n "${BENCH_PROFILE:-}" ] && [ "$r" = 1 ]; then (sleep 2; perf record -F 999 -g -p $srv -o /tmp/perf.data -- sleep 3 >/dev/null 2>&1) & fi
  $load 8 500 "$dur" $((start + (1 + 6 * r) * 86400)) >>"$tmp/res_batched"
  b_rss=$(awk '/VmRSS/{print int($2/1024)}' /proc/$srv/status)
  $load 64 1 "$dur" $((start + (4 + 6 * r) * 86400)) >>"$tmp/res_single"
  s_rss=$(awk '/VmRSS/{print int($2/1024)}' /proc/$srv/status)
  printf "   pgbench %s tps, batched %s readings/s, single %s readings/s\n" "$(tail -1 "$tmp/res_pg")" \
    "$(tail -1 "$tmp/res_batched" | awk '{print $2}')" "$(tail -1 "$tmp/res_single" | awk '{print $2}')"
done
pg_tps=$(median <"$tmp/res_pg")
b_rps=$(awk '{print $2}' "$tmp/res_batched" | median)
s_rps=$(awk '{print $2}' "$tmp/res_single" | median)
b_p50=$(awk '{print $6}' "$tmp/res_batched" | median); b_p99=$(awk '{print $8}' "$tmp/res_batched" | median)
s_p50=$(awk '{print $6}' "$tmp/res_single" | median); s_p99=$(awk '{print $8}' "$tmp/res_single" | median)
b_fail=$(awk '{n += $10} END {print n}' "$tmp/res_batched"); s_fail=$(awk '{n += $10} END {print n}' "$tmp/res_single")
peak=$(awk '/VmHWM/{print int($2/1024)}' /proc/$srv/status)
billed=$(psql "$WATTLE_DATABASE_URL" -tAc "SELECT count(*) FILTER (WHERE billed_wh > 0) || ' meters billed, ' || (SELECT count(*) FROM readings WHERE billed) || ' billed readings' FROM meter_state")
bad=$(psql "$WATTLE_DATABASE_URL" -tAc "SELECT count(*) FROM accounts a WHERE balance_minor <> (SELECT sum(amount_minor) FROM ledger_entries e WHERE e.account_id = a.id)")

echo
echo "medians of $rounds rounds:"
printf "%-52s %12s %9s %9s\n" "what" "per second" "p50 ms" "p99 ms"
printf "%-52s %12s %9s %9s\n" "pgbench tpcb-like -M prepared -c8 -j2 (tps)" "$pg_tps" "" ""
printf "%-52s %12s %9s %9s\n" "wattle batched readings (8 clients x 500)" "$b_rps" "$b_p50" "$b_p99"
printf "%-52s %12s %9s %9s\n" "wattle single-reading posts (64 clients)" "$s_rps" "$s_p50" "$s_p99"
echo
awk -v b="$b_rps" -v s="$s_rps" -v p="$pg_tps" 'BEGIN {
  printf "batched / pgbench: %.1fx (goal >= 10x)\nsingle / pgbench:  %.2fx (goal >= 1x)\n", b/p, s/p }'
paste "$tmp/res_pg" "$tmp/res_batched" "$tmp/res_single" | awk '{printf "round %d: batched %.1fx, single %.2fx\n", NR, $3/$1, $15/$1}'
echo "server RSS: ${b_rss} MB after batched, ${s_rss} MB after single, peak ${peak} MB (goal < 64 MB)"
echo "failed requests: batched $b_fail, single $s_fail; $billed; accounts off their ledger: $bad"
