#!/usr/bin/env bash
# alarms.sh: the cost of alarm detection on the money path. Batched ingest (500 readings a
# request, 1,000 meters, 8 clients), every reading carrying power, voltage, current, power
# factor and THD, with detection off (WATTLE_ALARMS=off) and on, alternated over several
# rounds on the same durable PostgreSQL, beside pgbench tpcb-like. Prints figures.
set -euo pipefail
meters=1000
rounds=${BENCH_ROUNDS:-3}
source "$(dirname "$0")/lib.sh"
dur=${BENCH_SECONDS:-10}

echo "== pgbench -M prepared -c 8 -j 2 -T $dur (tpcb-like, scale 10)"
pgbench_init -M prepared -c 8 -j 2
pg_tps=$(pgbench -M prepared -c 8 -j 2 -T "$dur" "$pg dbname=pgbench" 2>/dev/null | awk '/^tps = /{print int($3)}')

psql "$WATTLE_DATABASE_URL" -q <<SQL
INSERT INTO sites (name, timezone, currency, created_at, alarm_settings) VALUES ('Bench Mall', 'Asia/Shanghai', 'CNY', now(),
  '{"overload_readings":3,"step_w":1500,"malicious_hours":{"from":"22:00","to":"06:00"},"duty_phone":"+8613900000000"}');
INSERT INTO tariffs (site_id, name, currency, kind, spec, effective_from, created_at) VALUES (1, 'Flat', 'CNY', 'flat',
  '{"rate_micros_per_kwh":1000000}', '2020-01-01', now());
INSERT INTO tariff_versions (tariff_id, effective_from, kind, spec, created_at) SELECT id, effective_from, kind, spec, created_at FROM tariffs;
$(tenants_sql "$meters")
INSERT INTO meters (serial, site_id, tenant_id, purpose, tariff_id, max_power_w, created_at, updated_at)
  SELECT 'M-' || g, 1, g, 'tenant', 1, 20000, now(), now() FROM generate_series(1, $meters) g;
INSERT INTO meter_state (meter_id) SELECT id FROM meters;
SQL
psql "$WATTLE_DATABASE_URL" -qc 'VACUUM ANALYZE' -c 'CHECKPOINT'
key=$("$root/build/wattle" keys create --role gateway --name bench)
export BENCH_VALUES=1
start=$(( $(date +%s) - 300 * 86400 ))
load="$root/build/bench-ingest-load http://127.0.0.1:18095 $key $meters"
port=18095
declare -A sum=([off]=0 [on]=0)
round() { # round MODE DAY
  WATTLE_ALARMS=$1 wattle_serve $port
  $load 8 500 2 $(( start + $2 * 86400 )) >/dev/null   # warm-up (and baselines the first time)
  read -r _ rps _ _ _ p50 _ p99 _ fail _ _ < <($load 8 500 "$dur" $(( start + $2 * 86400 + 3600 )))
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'
  echo "  alarms $1: $rps readings/s, p50 $p50 ms, p99 $p99 ms, failed $fail"
  sum[$1]=$(( ${sum[$1]} + rps ))
}
day=0
for r in $(seq "$rounds"); do
  echo "== round $r"
  round off $(( day += 10 ))
  round on $(( day += 10 ))
done
alarms=$(psql "$WATTLE_DATABASE_URL" -tAc "SELECT count(*) FROM alarms")
echo
printf "%-52s %12s\n" "what" "per second"
printf "%-52s %12s\n" "pgbench tpcb-like -M prepared -c8 -j2 (tps)" "$pg_tps"
printf "%-52s %12s\n" "wattle batched readings, detection off (mean)" "$(( sum[off] / rounds ))"
printf "%-52s %12s\n" "wattle batched readings, detection on (mean)" "$(( sum[on] / rounds ))"
awk -v a="${sum[on]}" -v b="${sum[off]}" 'BEGIN { printf "on / off: %.2f (goal >= 0.9)\n", a / b }'
echo "alarms opened by clean readings: $alarms (expected 0)"
