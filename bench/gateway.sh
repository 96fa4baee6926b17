#!/usr/bin/env bash
# gateway.sh: one wattle-gateway on this machine, against wattle-metersim's devices and a
# durable wattle, with the broker's own throughput beside it:
#   1. Modbus TCP meters polled per second at a 15 s cycle (METERS meters, default 500),
#      cycle overruns, and the gateway's RSS; then the same meters at a 1 s cycle (capacity)
#   2. the queue's replay rate after wattle was down OUTAGE_S seconds (default 20)
#   3. MQTT telemetry (Shelly status notifications) turned into billed readings per second,
#      beside mosquitto_pub -> mosquitto_sub on the same broker
#   4. command to relay change at the device, p50 and p99, over Modbus and over MQTT, with
#      pull delivery (CMDS commands each, default 40)
set -euo pipefail
meters=${METERS:-500}
outage=${OUTAGE_S:-20}
cmds=${CMDS:-40}
source "$(dirname "$0")/lib.sh"
b="$root/build"
port=18110
ms() { date +%s%3N; }
api() { curl -fsS -X "$1" "http://127.0.0.1:$port$2" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' ${4:+-d "$4"}; }
field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
metric() { curl -fsS "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {print $2}'; }
sum_metric() { curl -fsS "http://127.0.0.1:$1/metrics" | awk -v n="$2" 'index($1, n "{") == 1 {s += $2} END {print s + 0}'; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
readings() { psql "$WATTLE_DATABASE_URL" -Atc "SELECT count(*) FROM readings"; }

psql "$WATTLE_DATABASE_URL" -q <<SQL
INSERT INTO sites (name, timezone, currency, created_at) VALUES ('Bench Mall', 'Asia/Shanghai', 'CNY', now());
INSERT INTO tariffs (site_id, name, currency, kind, spec, effective_from, created_at) VALUES (1, 'Flat', 'CNY', 'flat',
  '{"rate_micros_per_kwh":1000000}', '2020-01-01', now());
INSERT INTO tariff_versions (tariff_id, effective_from, kind, spec, created_at) SELECT id, effective_from, kind, spec, created_at FROM tariffs;
$(tenants_sql 1)
SQL
admin=$("$b/wattle" keys create --role admin --name bench)
wattle_serve $port
ops=$(api POST /v1/api-keys "$admin" '{"name":"ops","role":"operator"}' | field key)
gw=$(api POST /v1/gateways "$ops" '{"site_id":"site_1","name":"bench","delivery":"pull"}')
gkey=$(echo "$gw" | field key)
meters_sql() { # meters_sql PREFIX N: N public meters on gw_1, then GW-1 made the tenant's
  psql "$WATTLE_DATABASE_URL" -q <<SQL
INSERT INTO meters (serial, site_id, tenant_id, purpose, tariff_id, gateway_id, created_at, updated_at)
  SELECT '$1' || g, 1, NULL, 'other', 1, 1, now(), now() FROM generate_series(1, $2) g;
INSERT INTO meter_state (meter_id) SELECT id FROM meters WHERE id NOT IN (SELECT meter_id FROM meter_state);
UPDATE meters SET tenant_id = 1, purpose = 'tenant' WHERE serial = '${1}1';
SQL
}

# ---- 1. Modbus TCP polling ----
meters_sql MB- "$meters"
"$b/wattle-metersim" --protocol modbus-tcp --meters "$meters" --port 20000 --model acrel-ddsy1352 \
  --control-port 18111 --serial-prefix MB- --power-w 3000 --write-config "$tmp/mb.json" \
  --url "http://127.0.0.1:$port" --key "$gkey" --queue "$tmp/mb.db" --poll-s 15 2>"$tmp/sim-mb.log" &
pids+=($!)
for _ in $(seq 100); do curl -fs http://127.0.0.1:18111/state >/dev/null && break; sleep 0.1; done
sed -i "s/^{/{\"listen\":\"127.0.0.1:18112\",\"workers\":16,\"batch\":${BATCH:-500},/" "$tmp/mb.json"
"$b/wattle-gateway" --quiet --config "$tmp/mb.json" 2>"$tmp/gw-mb.log" &
gwpid=$!; pids+=($gwpid)
sleep 16   # one whole cycle spreads the first polls
p0=$(sum_metric 18112 wattle_gateway_meter_polls_total); t0=$(ms)
sleep 30
p1=$(sum_metric 18112 wattle_gateway_meter_polls_total); t1=$(ms)
over=$(sum_metric 18112 wattle_gateway_meter_overruns_total)
rss=$(rss_kb $gwpid)
echo "modbus-tcp: $meters meters at a 15 s cycle: $(( (p1 - p0) * 1000 / (t1 - t0) )) polls/s (the cycle needs $(( meters / 15 ))/s), $over overruns, gateway RSS $((rss / 1024)) MB"
kill $gwpid; wait $gwpid || true
sed -i 's/"poll_s": 15/"poll_s": 1/' "$tmp/mb.json"
"$b/wattle-gateway" --quiet --config "$tmp/mb.json" 2>>"$tmp/gw-mb.log" &
gwpid=$!; pids+=($gwpid)
sleep 3
p0=$(sum_metric 18112 wattle_gateway_meter_polls_total); o0=$(sum_metric 18112 wattle_gateway_meter_overruns_total); t0=$(ms)
sleep 15
p1=$(sum_metric 18112 wattle_gateway_meter_polls_total); o1=$(sum_metric 18112 wattle_gateway_meter_overruns_total); t1=$(ms)
echo "modbus-tcp: $meters meters at a 1 s cycle: $(( (p1 - p0) * 1000 / (t1 - t0) )) polls/s, $((o1 - o0)) overruns in 15 s, gateway RSS $(( $(rss_kb $gwpid) / 1024 )) MB"

# ---- 2. replay after an outage ----
wattle_pid=${pids[0]}
kill "$wattle_pid"; wait "$wattle_pid" 2>/dev/null || true
sleep "$outage"
depth=$(metric 18112 wattle_gateway_queue_depth)
r0=$(readings); t0=$(ms)
wattle_serve $port
tu=$(ms)
while [ "$(readings)" = "$r0" ]; do sleep 0.02; done   # the gateway's backoff runs out
ts=$(ms); r0=$(readings)
while [ "$(metric 18112 wattle_gateway_queue_depth)" -gt "$meters" ]; do sleep 0.05; done
t1=$(ms); r1=$(readings)
echo "replay: wattle down ${outage} s, $depth readings queued; sending resumed $((ts - tu)) ms after wattle was up (backoff); then $((r1 - r0)) delivered in $((t1 - ts)) ms: $(( (r1 - r0) * 1000 / (t1 - ts + 1) )) readings/s while 500/s more arrive"

# ---- 4a. command latency over Modbus (pull) ----
lat() { # lat CONTROL_PORT SERIAL: commands alternating cut and restore, ms each to the device
  local ctl=$1 serial=$2 want action out=()
  for i in $(seq "$cmds"); do
    if [ $((i % 2)) = 1 ]; then action=cut_off want=off; else action=restore want=on; fi
    t0=$(date +%s%N)
    api POST "/v1/meters/$serial/commands" "$ops" "{\"action\":\"$action\",\"reason\":\"bench\"}" >/dev/null
    until curl -fsS "http://127.0.0.1:$ctl/state" | grep -q "\"serial\":\"$serial\",[^}]*\"relay\":\"$want\""; do sleep 0.002; done
    out+=($(( ($(date +%s%N) - t0) / 1000000 )))
    sleep 0.2
  done
  printf '%s\n' "${out[@]}" | sort -n | awk '{a[NR]=$1} END {printf "p50 %d ms, p99 %d ms, max %d ms (%d commands)\n", a[int(NR*0.5+0.5)], a[int(NR*0.99+0.5)], a[NR], NR}'
}
echo "modbus-tcp command -> relay: $(lat 18111 MB-1)"
kill $gwpid; wait $gwpid || true

# ---- 3. MQTT telemetry ----
bport=18113
# a broker that queues what a slow subscriber has not taken yet (by default it drops past 1000)
printf 'listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence false\n' $bport >"$tmp/mq.conf"
mosquitto -c "$tmp/mq.conf" >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
n=20000
seq $n | sed 's/.*/{"id":0,"total_act_energy":&.00}/' >"$tmp/msgs"
timeout 120 mosquitto_sub -p $bport -q 1 -t 'bench/#' -C $n >/dev/null &
sub=$!
sleep 0.3
t0=$(ms)
mosquitto_pub -p $bport -q 1 -t bench/x -l <"$tmp/msgs"
wait $sub
t1=$(ms)
echo "broker alone: mosquitto_pub -> mosquitto_sub, QoS 1: $n messages in $((t1 - t0)) ms: $(( n * 1000 / (t1 - t0) )) msg/s"
devs=${MQTT_DEVICES:-100}
hz=${MQTT_HZ:-60}
meters_sql SH- "$devs"
"$b/wattle-metersim" --protocol mqtt-shelly --meters "$devs" --broker 127.0.0.1:$bport --control-port 18114 \
  --serial-prefix SH- --notify-hz "$hz" --power-w 3000 --write-config "$tmp/sh.json" --url "http://127.0.0.1:$port" \
  --key "$gkey" --queue "$tmp/sh.db" --poll-s 15 2>"$tmp/sim-sh.log" &
pids+=($!)
for _ in $(seq 100); do curl -fs http://127.0.0.1:18114/state >/dev/null && break; sleep 0.1; done
sed -i 's/^{/{"listen":"127.0.0.1:18115",/' "$tmp/sh.json"
"$b/wattle-gateway" --quiet --config "$tmp/sh.json" 2>"$tmp/gw-sh.log" &
gwpid=$!; pids+=($gwpid)
sleep 5
r0=$(readings); t0=$(ms)
sleep 20
r1=$(readings); t1=$(ms)
echo "mqtt-shelly: $devs devices x $hz Hz offered ($((devs * hz)) msg/s): $(( (r1 - r0) * 1000 / (t1 - t0) )) billed readings/s into wattle, queue depth $(metric 18115 wattle_gateway_queue_depth), gateway RSS $(( $(rss_kb $gwpid) / 1024 )) MB"
kill "${pids[-2]}"; wait "${pids[-2]}" 2>/dev/null || true   # the telemetry stops; the devices for latency:
"$b/wattle-metersim" --protocol mqtt-shelly --meters "$devs" --broker 127.0.0.1:$bport --control-port 18114 \
  --serial-prefix SH- --power-w 3000 2>>"$tmp/sim-sh.log" &
pids+=($!)
for _ in $(seq 100); do curl -fs http://127.0.0.1:18114/state >/dev/null && break; sleep 0.1; done
sleep 2
echo "mqtt-shelly command -> relay: $(lat 18114 SH-1)"
[ -n "${BENCH_KEEP_LOGS:-}" ] && cp "$tmp"/*.log "$BENCH_KEEP_LOGS"/ || true
