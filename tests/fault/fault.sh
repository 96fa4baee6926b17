#!/usr/bin/env bash
# fault.sh BUILD_DIR [SECONDS]: wattle under mixed load while it is killed with SIGKILL at
# random moments and PostgreSQL is restarted twice (fast, then immediate). The load: top-ups
# with Idempotency-Keys (each tenant has a phone: every top-up queues an SMS), signed Stripe
# notifications (each sent twice), readings from wattle-metersim (which executes the
# meters' commands and acks them a second late), and operator commands. The SMS provider
# and the webhook receiver stall for the first seconds, then recover. Every client retries
# what got no definitive answer, as a real client would. Then: every acknowledged top-up and
# payment is in the ledger exactly once, every meter's billed energy is its register's
# advance, no command and no message is left undelivered, and `wattle verify` passes.
# Prints the counts.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/tests/lib.sh"
build=$(cd "${1:?usage: fault.sh BUILD_DIR [SECONDS]}" && pwd)
secs=${2:-45}
tmp=$(mktemp -d /tmp/wattle-fault.XXXXXX)
chmod 755 "$tmp"
pids=()
wpid=
cleanup() {
  for p in "${pids[@]}" $wpid; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$root/scripts/pg.sh" stop "$tmp/pg" || true
  rm -rf "$tmp"
}
trap cleanup EXIT
pg=$("$root/scripts/pg.sh" start "$tmp/pg")   # durable
psql "$pg dbname=postgres" -qc "CREATE DATABASE wattle"
export WATTLE_DATABASE_URL="$pg dbname=wattle" WATTLE_LOG_LEVEL=warn
export WATTLE_STRIPE_WEBHOOK_SECRET=whsec_fault WATTLE_GATEWAY_SECRET=gw-fault
export WATTLE_CLOCK_SPEED=600 WATTLE_CLOCK_START=$(date +%s) WATTLE_CLOCK_ANCHOR=$(date +%s)
export WATTLE_DISPATCH_LEASE_MS=1000
"$build/wattle" migrate
port=$(free_ports 3); simport=$((port + 1)); peerport=$((port + 2))
export WATTLE_SMS_URL=http://127.0.0.1:$peerport/sms WATTLE_NOTIFY_WEBHOOK_URL=http://127.0.0.1:$peerport/events
base="http://127.0.0.1:$port"
serve() {
  WATTLE_LISTEN=127.0.0.1:$port "$build/wattle" serve --no-migrate 2>>"$tmp/wattle.log" &
  wpid=$!
  for _ in $(seq 200); do
    kill -0 "$wpid" 2>/dev/null || { echo "fault: wattle did not start:" >&2; tail -3 "$tmp/wattle.log" >&2; exit 1; }
    curl -sf "$base/healthz" >/dev/null && return 0
    sleep 0.05
  done
  echo "fault: wattle does not answer on $base" >&2; exit 1
}
serve
admin=$("$build/wattle" keys create --role admin --name fault)
post() { # KEY PATH BODY [IDEMPOTENCY-KEY]: prints the HTTP status (000: none); the body goes to $OUTF
  curl -s -m 10 -o "${OUTF:-/dev/null}" -w '%{http_code}' -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
    ${4:+-H "Idempotency-Key: $4"} -X POST -d "$3" "$base$2" || true
}
key() {
  [ "$(OUTF="$tmp/key.$1" post "$admin" /v1/api-keys "{\"role\":\"$1\",\"name\":\"$1\"}")" = 201 ]
  sed 's/.*"key":"\([^"]*\)".*/\1/' "$tmp/key.$1"
}
fin=$(key finance); ops=$(key operator); gw=$(key gateway)
[ "$(post "$admin" /v1/sites '{"name":"Mall","timezone":"Asia/Shanghai","currency":"CNY"}')" = 201 ]
[ "$(post "$fin" /v1/tariffs '{"site_id":"site_1","name":"Flat","currency":"CNY","kind":"flat","rate_micros_per_kwh":1234567,"effective_from":"2020-01-01T00:00:00+08:00"}')" = 201 ]
for t in 1 2 3 4 5; do
  [ "$(post "$fin" /v1/tenants "{\"site_id\":\"site_1\",\"name\":\"Shop $t\",\"category\":\"retail\",\"area_m2\":\"50\",\"credit_rating\":\"A\",\"phone\":\"+861380000000$t\"}")" = 201 ]
  [ "$(post "$ops" /v1/meters "{\"serial\":\"F-$t\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_$t\",\"tariff_id\":\"trf_1\",\"gateway\":\"http://127.0.0.1:$simport\"}")" = 201 ]
done
# one big top-up each first, so the load's commands come from operators, not from balances
for t in 1 2 3 4 5; do [ "$(post "$fin" /v1/tenants/ten_$t/topups '{"amount_minor":100000000,"channel":"bank"}' "seed-$t")" = 201 ]; done

# --- the load ---
until_end() { [ "$(date +%s)" -lt "$end" ]; }
end=$(( $(date +%s) + secs ))
topups() { # worker j: top-ups with keys t<j>-<i>, each retried with its key until answered
  local j=$1 i=0 s
  while until_end; do
    i=$((i + 1)); local k="t$j-$i" amt=$(( (i % 97) + 1 )) tn=$(( (i % 5) + 1 ))
    while :; do
      s=$(OUTF="$tmp/out.t$j" post "$fin" /v1/tenants/ten_$tn/topups "{\"amount_minor\":$amt,\"channel\":\"cash\",\"reference\":\"$k\"}" "$k")
      [ "$s" = 201 ] && { echo "$k $amt" >>"$tmp/topups.$j"; break; }
      [ "${s:0:1}" = 4 ] && { echo "fault: top-up $k answered $s: $(cat "$tmp/out.t$j")" >&2; exit 1; }
      sleep 0.1
    done
  done
}
stripe() { # worker j: payment_intent.succeeded for pi_<j>_<i>, sent twice, retried until answered
  local j=$1 i=0 s
  while until_end; do
    i=$((i + 1)); local tn=$(( (i % 5) + 1 )) amt=$(( 100 + i ))
    local body="{\"id\":\"evt_${j}_$i\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":{\"id\":\"pi_${j}_$i\",\"amount_received\":$amt,\"currency\":\"cny\",\"metadata\":{\"tenant_id\":\"ten_$tn\"}}}}"
    for copy in 1 2; do
      while :; do
        local t; t=$(date +%s)
        local sig; sig=$(printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$WATTLE_STRIPE_WEBHOOK_SECRET" | sed 's/.*= //')
        s=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H "Stripe-Signature: t=$t,v1=$sig" \
              -X POST -d "$body" "$base/v1/webhooks/payments/stripe" || true)
        [ "$s" = 200 ] && break
        [ "${s:0:1}" = 4 ] && { echo "fault: stripe pi_${j}_$i answered $s" >&2; exit 1; }
        sleep 0.1
      done
    done
    echo "pi_${j}_$i $amt" >>"$tmp/payments.$j"
  done
}
commands() { # an operator cuts and restores meters
  local i=0 s
  while until_end; do
    i=$((i + 1)); local m=$(( (i % 5) + 1 )) a; a=$([ $((i % 2)) = 1 ] && echo cut_off || echo restore)
    s=$(OUTF="$tmp/out.c" post "$ops" /v1/meters/mtr_$m/commands "{\"action\":\"$a\",\"reason\":\"fault drill $i\"}")
    [ "$s" = 202 ] && echo "$i" >>"$tmp/commands"
    [ "${s:0:1}" = 4 ] && { echo "fault: command $i answered $s: $(cat "$tmp/out.c")" >&2; exit 1; }
    sleep 0.3
  done
}
"$build/tests/fault-stall-peer" --port "$peerport" --stall-s 8 --log "$tmp/delivered" &
pids+=($!); peer=$!
"$build/wattle-metersim" --url "$base" --key "$gw" --operator-key "$ops" --port "$simport" --interval-min 1 \
  --ack-delay-s 1 >/dev/null 2>"$tmp/metersim.log" &
pids+=($!); sim=$!
for j in 1 2 3; do topups $j & pids+=($!); done
for j in 1 2; do stripe $j & pids+=($!); done
commands & pids+=($!)

# --- the faults ---
kills=0 restarts=0
start=$(date +%s)
pg_restart() { # under a serving wattle: its transactions lose the database mid-flight
  as_pg /usr/lib/postgresql/15/bin/pg_ctl -D "$tmp/pg/data" -m "$1" -w restart -l "$tmp/pg/postgres.log" >/dev/null
  restarts=$((restarts + 1))
}
while until_end; do
  sleep "$(( (RANDOM % 3) + 2 )).$(( RANDOM % 10 ))"
  until_end || break
  el=$(( $(date +%s) - start ))
  if [ $restarts = 0 ] && [ $el -ge $((secs / 3)) ]; then
    pg_restart fast
  elif [ $restarts = 1 ] && [ $el -ge $((2 * secs / 3)) ]; then
    pg_restart immediate
  else
    kill -9 "$wpid" 2>/dev/null || true; wait "$wpid" 2>/dev/null || true
    kills=$((kills + 1))
    serve
  fi
done
# the load stops; the clients finish what they started; the outboxes drain
for p in "${pids[@]}"; do [ "$p" = "$sim" ] || [ "$p" = "$peer" ] || wait "$p"; done
for _ in $(seq 300); do # the outboxes drain: commands acked (late), messages delivered
  [ "$(psql "$WATTLE_DATABASE_URL" -qAtc "SELECT (SELECT count(*) FROM commands WHERE state IN ('pending', 'sent'))
        + (SELECT count(*) FROM notifications WHERE state = 'pending')")" = 0 ] && break
  sleep 0.1
done
kill "$sim" "$peer"; wait "$sim" "$peer" 2>/dev/null || true
pids=()

# --- the books ---
q() { psql "$WATTLE_DATABASE_URL" -qAtc "$1"; }
cat "$tmp"/topups.* >"$tmp/topups" 2>/dev/null || true
cat "$tmp"/payments.* >"$tmp/payments" 2>/dev/null || true
acked=$(wc -l <"$tmp/topups"); paid=$(wc -l <"$tmp/payments")
psql "$WATTLE_DATABASE_URL" -qc "CREATE TEMP TABLE a (k text, amt bigint)" -c "\\copy a FROM '$tmp/topups' DELIMITER ' '" \
  -c "CREATE TABLE fault_lost AS SELECT a.k FROM a LEFT JOIN ledger_entries e ON e.kind = 'topup' AND e.ref->>'reference' = a.k
      GROUP BY a.k, a.amt HAVING count(e.id) <> 1 OR coalesce(sum(e.amount_minor), 0) <> a.amt"
bad_topups=$(q "SELECT count(*) FROM fault_lost")
extra_topups=$(q "SELECT count(*) - $acked FROM ledger_entries WHERE kind = 'topup' AND ref ? 'reference'")
psql "$WATTLE_DATABASE_URL" -qc "CREATE TABLE fault_p (txn text, amt bigint)" -c "\\copy fault_p FROM '$tmp/payments' DELIMITER ' '"
bad_pay=$(q "SELECT count(*) FROM fault_p f WHERE (SELECT count(*) FROM payments p WHERE p.provider_txn_id = f.txn) <> 1")
credited=$(q "SELECT count(*) FROM ledger_entries WHERE kind = 'topup' AND ref->>'channel' = 'stripe'")
wh_bad=$(q "SELECT count(*) FROM meter_state st WHERE st.billed_wh <> st.last_register_wh - (SELECT min(energy_wh) FROM readings r WHERE r.meter_id = st.meter_id)")
undelivered=$(q "SELECT count(*) FROM commands WHERE state NOT IN ('acked', 'superseded')")
ncmd=$(q "SELECT count(*) FROM commands"); nread=$(q "SELECT count(*) FROM readings")
ordered=$(wc -l <"$tmp/commands" 2>/dev/null || echo 0)
# a tenant gets at most WATTLE_TENANT_MESSAGES_PER_HOUR messages (thousands of top-ups here):
# the rest are suppressed by design, and so never delivered
suppressed=$(q "SELECT count(*) FROM notifications WHERE state = 'suppressed'")
notes=$(q "SELECT count(*) FROM notifications WHERE state <> 'suppressed'")
unsent=$(q "SELECT count(*) FROM notifications WHERE state NOT IN ('sent', 'suppressed')")
delivered=$(wc -l <"$tmp/delivered")
echo "fault: $secs s, $kills kill -9, $restarts PostgreSQL restarts; $acked top-ups and $paid payments acknowledged" \
     "($credited payment credits), $nread readings, $ordered operator commands accepted ($ncmd commands in all)"
echo "fault: top-ups lost or doubled $bad_topups (unacknowledged in the ledger: $extra_topups), payments not once $bad_pay," \
     "meters whose billed Wh is not their register's advance $wh_bad, commands undelivered $undelivered"
echo "fault: $notes messages (SMS and webhook; $suppressed more suppressed by the tenants' limit), $unsent not delivered; $delivered deliveries" \
     "($((delivered - notes)) again after a stall or a kill: at least once, as an outbox sends)"
"$build/wattle" verify
[ "$bad_topups" = 0 ] && [ "$extra_topups" = 0 ] && [ "$bad_pay" = 0 ] && [ "$credited" = "$paid" ] && [ "$wh_bad" = 0 ] \
  && [ "$undelivered" = 0 ] && [ "$unsent" = 0 ] && [ "$delivered" -ge "$notes" ] && [ "$ordered" -gt 10 ] && [ "$kills" -ge 4 ] && [ "$restarts" = 2 ] && [ "$acked" -gt 50 ]
