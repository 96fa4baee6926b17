#!/usr/bin/env bash
# events.sh: GET /v1/events under ingest (issue 17's SSE figure). On a durable PostgreSQL
# (synchronous_commit on), 1,000 tenants' meters are billed in batches (8 gateways x 500
# readings: 4 of each of a gateway's 125 meters, each batch one account event per meter,
# since every meter's charge changes its tenant's balance), alone and with
# CLIENTS (default 200) streams open (bench-events-load: one poll loop, raw sockets, each
# stream decoded and its events counted), alternating over ROUNDS rounds (default 3) so a
# drifting machine slows both alike. Prints readings/s alone and with the streams, their
# ratio (goal >= 0.95), and the events per second delivered to all the streams; then ingest
# with the event triggers disabled and enabled (what writing the events costs ingest).
# SCOPE=admin (default): every stream sees every event; SCOPE=tenant: each stream is a
# tenant's key (tenants 1..CLIENTS), seeing its own tenant's events only.
set -euo pipefail
meters=1000
clients=${CLIENTS:-200}
scope=${SCOPE:-admin}
source "$(dirname "$0")/lib.sh"
echo "synchronous_commit: $(psql "$pg dbname=postgres" -tAc 'SHOW synchronous_commit'), fsync: $(psql "$pg dbname=postgres" -tAc 'SHOW fsync')"
rounds=${ROUNDS:-3}
psql "$WATTLE_DATABASE_URL" -q <<SQL
INSERT INTO sites (name, timezone, currency, created_at) VALUES ('Bench Mall', 'Asia/Shanghai', 'CNY', now());
INSERT INTO tariffs (site_id, name, currency, kind, spec, effective_from, created_at) VALUES (1, 'Flat', 'CNY', 'flat',
  '{"rate_micros_per_kwh":1200000}', '2020-01-01', now());
INSERT INTO tariff_versions (tariff_id, effective_from, kind, spec, created_at) SELECT id, effective_from, kind, spec, created_at FROM tariffs;
$(fleet_sql "$meters")
SQL
psql "$WATTLE_DATABASE_URL" -qc 'VACUUM ANALYZE' -c 'CHECKPOINT'
gw=$("$root/build/wattle" keys create --role gateway --name bench)
admin=$("$root/build/wattle" keys create --role admin --name bench-events)
keys=""
if [ "$scope" = tenant ]; then
  keys="$tmp/tenant_keys"
  for t in $(seq "$clients"); do "$root/build/wattle" keys create --role tenant --tenant "ten_$t" --name "t$t"; done >"$keys"
fi
export WATTLE_MAX_CONN_PER_ADDR=0
wattle_serve 18127
srv=${pids[-1]}
start=$(( $(date +%s) - 40 * 86400 ))
load="$root/build/bench-ingest-load http://127.0.0.1:18127 $gw $meters"
$load 8 500 1 "$start" >/dev/null   # baselines and warm-up
$load 8 500 2 $((start + 86400)) >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
metric() { curl -fs http://127.0.0.1:18127/metrics | awk -v m="$1" '$1 == m {print $2}'; }
for r in $(seq "$rounds"); do
  echo "== round $r of $rounds: ingest ${dur}s alone, then ${dur}s with $clients streams ($scope)"
  $load 8 500 "$dur" $((start + (2 + 4 * r) * 86400)) >>"$tmp/res_alone"
  "$root/build/bench-events-load" 18127 "$admin" "$clients" $((dur + 3)) $keys >"$tmp/ev_$r" &
  evp=$!
  sleep 1.5
  open=$(metric wattle_sse_clients)
  $load 8 500 "$dur" $((start + (4 + 4 * r) * 86400)) >>"$tmp/res_with"
  wait $evp
  awk '{print $8}' "$tmp/ev_$r" >>"$tmp/res_ev"
  printf "   alone %s readings/s, with %s streams open %s readings/s; delivered: %s\n" \
    "$(tail -1 "$tmp/res_alone" | awk '{print $2}')" "$open" "$(tail -1 "$tmp/res_with" | awk '{print $2}')" "$(cat "$tmp/ev_$r")"
  sleep 1
done
# What the events cost ingest itself: the same load with the event triggers disabled, then
# enabled again (no streams open either time).
trig() { psql "$WATTLE_DATABASE_URL" -qc "ALTER TABLE accounts $1 TRIGGER accounts_event_update" -c "ALTER TABLE ledger_entries $1 TRIGGER ledger_event_payment"; }
for r in $(seq "$rounds"); do
  echo "== round $r of $rounds: ingest ${dur}s with the event triggers disabled, then ${dur}s enabled"
  trig DISABLE
  $load 8 500 "$dur" $((start + (6 + 4 * rounds + 4 * r) * 86400)) >>"$tmp/res_off"
  trig ENABLE
  $load 8 500 "$dur" $((start + (8 + 4 * rounds + 4 * r) * 86400)) >>"$tmp/res_on"
  printf "   triggers off %s readings/s, on %s readings/s\n" "$(tail -1 "$tmp/res_off" | awk '{print $2}')" "$(tail -1 "$tmp/res_on" | awk '{print $2}')"
done
off=$(awk '{print $2}' "$tmp/res_off" | median)
on=$(awk '{print $2}' "$tmp/res_on" | median)
alone=$(awk '{print $2}' "$tmp/res_alone" | median)
with=$(awk '{print $2}' "$tmp/res_with" | median)
ev=$(median <"$tmp/res_ev")
echo
echo "medians of $rounds rounds ($clients streams, scope $scope):"
printf "%-58s %12s\n" "ingest alone (readings/s, 8 gateways x 500)" "$alone"
printf "%-58s %12s\n" "ingest with the streams open (readings/s)" "$with"
printf "%-58s %12s\n" "ratio with/alone (goal >= 0.95)" "$(awk -v a="$alone" -v b="$with" 'BEGIN {printf "%.3f", b / a}')"
printf "%-58s %12s\n" "events delivered per second, all streams" "$ev"
printf "%-58s %12s\n" "events delivered per second, per stream" "$(awk -v e="$ev" -v c="$clients" 'BEGIN {printf "%.1f", e / c}')"
printf "%-58s %12s\n" "streams dropped as slow (whole run)" "$(metric 'wattle_sse_clients_dropped_total{reason="slow"}')"
printf "%-58s %12s\n" "ingest, event triggers disabled (readings/s)" "$off"
printf "%-58s %12s\n" "ingest, event triggers enabled (readings/s)" "$on"
printf "%-58s %12s\n" "events in the backlog table" "$(psql "$WATTLE_DATABASE_URL" -tAc 'SELECT count(*) FROM events')"
