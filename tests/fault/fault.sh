#!/usr/bin/env bash
# fault.sh BUILD_DIR [SECONDS]: wattle under mixed load while it is killed with SIGKILL at
# random moments and PostgreSQL is restarted twice (fast, then immediate). The load: top-ups
# with Idempotency-Keys (each tenant has a phone: every top-up queues an SMS), signed Stripe
# notifications (each sent twice), readings from wattle-metersim (which executes the
# meters' commands and acks them a second late), operator commands, and top-up orders with
# Stripe (POST /v1/topup-orders) that tenants pay at Stripe: Stripe notifies wattle of some
# payments and never of others, which only wattle's order query can find. The SMS provider,
# the webhook receiver and Stripe stall for the first seconds, then recover. Every client
# retries what got no definitive answer, as a real client would. Then: every acknowledged
# top-up and payment is in the ledger exactly once, every order Stripe holds as paid is
# credited exactly once and no other order is, every meter's billed energy is its register's
# advance, no command and no message is left undelivered, and `wattle verify` passes.
# Prints the counts. FAULT_KEEP=1 keeps its folder (wattle.log, orders.log: every order's answer).
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
  [ -n "${FAULT_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
pg=$("$root/scripts/pg.sh" start "$tmp/pg")   # durable
psql "$pg dbname=postgres" -qc "CREATE DATABASE wattle"
export WATTLE_DATABASE_URL="$pg dbname=wattle" WATTLE_LOG_LEVEL=warn
export WATTLE_STRIPE_WEBHOOK_SECRET=whsec_fault WATTLE_GATEWAY_SECRET=gw-fault
export WATTLE_CLOCK_SPEED=600 WATTLE_CLOCK_START=$(date +%s) WATTLE_CLOCK_ANCHOR=$(date +%s)
export WATTLE_DISPATCH_LEASE_MS=1000
"$build/wattle" migrate
port=$(free_ports 4); simport=$((port + 1)); peerport=$((port + 2)); stripeport=$((port + 3))
export WATTLE_SMS_URL=http://127.0.0.1:$peerport/sms WATTLE_NOTIFY_WEBHOOK_URL=http://127.0.0.1:$peerport/events
# Stripe's API (tests/fault/stall_stripe.c); a call it does not answer in 1.5 s is a timeout.
# An order is first asked about a wattle second after it is made (with the clock 600 times
# fast, a few milliseconds; it backs off to a real second), and expires in 3 real seconds.
export WATTLE_STRIPE_API_BASE=http://127.0.0.1:$stripeport WATTLE_STRIPE_SECRET_KEY=sk_test_fault
# The day's reconciliation is off: it would credit a payment the query worker missed, and hide it.
export WATTLE_PAY_TIMEOUT_MS=1500 WATTLE_PAY_QUERY_AFTER_S=1 WATTLE_RECONCILE_HOUR=24
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
orders() { # worker j: Stripe top-up orders o<j>-<i>, each retried with its key until answered;
  # a tenant pays two in three of those made at Stripe, and Stripe notifies wattle of half of those
  local j=$1 i=0 s tn amt otn
  while until_end; do
    i=$((i + 1)); local k="o$j-$i"; tn=$(( (i % 5) + 1 )); amt=$(( 200 + i ))
    while :; do
      s=$(OUTF="$tmp/out.o$j" post "$fin" /v1/topup-orders "{\"tenant_id\":\"ten_$tn\",\"amount_minor\":$amt,\"provider\":\"stripe\"}" "$k")
      echo "$(date +%s.%N) $k $s $(head -c 300 "$tmp/out.o$j")" >>"$tmp/orders.log"
      case $s in
        201) if grep -q '"status":"open"' "$tmp/out.o$j"; then
               otn=$(grep -o '"out_trade_no":"[^"]*"' "$tmp/out.o$j" | head -1 | cut -d'"' -f4)
               echo "$otn" >>"$tmp/orders.made.$j"
               if [ $((i % 3)) != 0 ]; then
                 s=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$stripeport/_fake/pay?out_trade_no=$otn&notify=$((i % 3 == 1))" || true)
                 [ "$s" = 200 ] && echo "$otn $((i % 3 == 1))" >>"$tmp/orders.paid.$j"
               fi
             elif grep -q '"status":"closed"' "$tmp/out.o$j"; then
               # Stripe did not answer, and the query worker closed the order meanwhile: its
               # lease on a creation (2 x WATTLE_PAY_TIMEOUT_MS + 60 s) is 0.1 s with this clock
               echo "$k" >>"$tmp/orders.closed.$j"
             else # made before a kill and replayed "creating": left for the query worker to close
               echo "$k" >>"$tmp/orders.failed.$j"
             fi
             break ;;
        504) echo "$k" >>"$tmp/orders.timeout.$j"; break ;;
        502) echo "$k" >>"$tmp/orders.failed.$j"; break ;;
        4*) echo "fault: order $k answered $s: $(cat "$tmp/out.o$j")" >&2; exit 1 ;;
      esac
      sleep 0.1
    done
    sleep 0.1
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
"$build/tests/fault-stall-stripe" --port "$stripeport" --stall-s 6 --secret sk_test_fault \
  --webhook "$base/v1/webhooks/payments/stripe" --whsec "$WATTLE_STRIPE_WEBHOOK_SECRET" 2>"$tmp/stripe.log" &
pids+=($!); fake=$!
"$build/wattle-metersim" --url "$base" --key "$gw" --operator-key "$ops" --port "$simport" --interval-min 1 \
  --ack-delay-s 1 >/dev/null 2>"$tmp/metersim.log" &
pids+=($!); sim=$!
for j in 1 2 3; do topups $j & pids+=($!); done
for j in 1 2; do stripe $j & pids+=($!); done
for j in 1 2; do orders $j & pids+=($!); done
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
for p in "${pids[@]}"; do [ "$p" = "$sim" ] || [ "$p" = "$peer" ] || [ "$p" = "$fake" ] || wait "$p"; done
for _ in $(seq 300); do # the outboxes drain: commands acked (late), messages delivered
  [ "$(psql "$WATTLE_DATABASE_URL" -qAtc "SELECT (SELECT count(*) FROM commands WHERE state IN ('pending', 'sent'))
        + (SELECT count(*) FROM notifications WHERE state = 'pending')")" = 0 ] && break
  sleep 0.1
done
# Stripe's notifications delivered, and every payment Stripe holds credited (found by the
# query worker when no notification comes)
q() { psql "$WATTLE_DATABASE_URL" -qAtc "$1"; }
for _ in $(seq 600); do
  curl -sf -D "$tmp/paid.h" -o "$tmp/fake_paid" "http://127.0.0.1:$stripeport/_fake/paid" || { sleep 0.2; continue; }
  list=$(cut -d' ' -f2 "$tmp/fake_paid" | sed "s/.*/'&'/" | paste -sd,)
  grep -qi '^X-Pending: 0' "$tmp/paid.h" && { [ -z "$list" ] ||
    [ "$(q "SELECT count(*) FROM payments WHERE provider = 'stripe' AND provider_txn_id IN ($list)")" = "$(wc -l <"$tmp/fake_paid")" ]; } && break
  sleep 0.2
done
stripe_refused=$(grep -i '^X-Refused:' "$tmp/paid.h" | tr -dc 0-9)
kill "$sim" "$peer" "$fake"; wait "$sim" "$peer" "$fake" 2>/dev/null || true
pids=()

# --- the books ---
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
credited=$(q "SELECT count(*) FROM ledger_entries WHERE kind = 'topup' AND ref->>'channel' = 'stripe'
  AND ref->>'provider_txn_id' IN (SELECT txn FROM fault_p)")
# the orders: what Stripe holds as paid, each credited once with its amount, and nothing else
o_made=$( (cat "$tmp"/orders.made.* 2>/dev/null || true) | wc -l)
o_timeout=$( (cat "$tmp"/orders.timeout.* 2>/dev/null || true) | wc -l)
o_failed=$( (cat "$tmp"/orders.failed.* 2>/dev/null || true) | wc -l)
o_closed=$( (cat "$tmp"/orders.closed.* 2>/dev/null || true) | wc -l)
o_paid=$(wc -l <"$tmp/fake_paid")
psql "$WATTLE_DATABASE_URL" -qc "CREATE TABLE fault_fp (otn text, txn text, amt bigint)" -c "\\copy fault_fp FROM '$tmp/fake_paid' DELIMITER ' '"
o_bad=$(q "SELECT count(*) FROM fault_fp f WHERE (SELECT count(*) FROM payments p JOIN topup_orders o ON o.id = p.order_id
  WHERE p.provider = 'stripe' AND p.provider_txn_id = f.txn AND p.status = 'credited' AND p.amount_minor = f.amt
  AND o.out_trade_no = f.otn) <> 1
  OR (SELECT count(*) FROM ledger_entries e WHERE e.kind = 'topup' AND e.ref->>'provider_txn_id' = f.txn) <> 1")
o_unpaid_credit=$(q "SELECT (SELECT count(*) FROM payments WHERE provider = 'stripe' AND provider_txn_id NOT IN (SELECT txn FROM fault_fp)
  AND provider_txn_id NOT IN (SELECT txn FROM fault_p)) + (SELECT count(*) FROM topup_orders WHERE status = 'paid'
  AND out_trade_no NOT IN (SELECT otn FROM fault_fp))")
o_by_query=$(q "SELECT count(*) FROM payments WHERE provider_txn_id IN (SELECT txn FROM fault_fp) AND request_id LIKE 'query-%'")
o_by_note=$(q "SELECT count(*) FROM payments WHERE provider_txn_id IN (SELECT txn FROM fault_fp) AND coalesce(request_id, '') NOT LIKE 'query-%'")
(cat "$tmp"/orders.paid.* 2>/dev/null || true) >"$tmp/orders.paid"
o_silent=$(awk '$2 == 0' "$tmp/orders.paid" | wc -l)
# a payment Stripe never notified can only have been found by the query worker
psql "$WATTLE_DATABASE_URL" -qc "CREATE TABLE fault_op (otn text, notified int)" -c "\\copy fault_op FROM '$tmp/orders.paid' DELIMITER ' '"
o_missed=$(q "SELECT count(*) FROM fault_op f WHERE f.notified = 0 AND NOT EXISTS (SELECT 1 FROM payments p
  WHERE p.out_trade_no = f.otn AND p.request_id LIKE 'query-%')")
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
echo "fault: Stripe orders: $o_made made, $((o_timeout + o_closed)) timed out (504 $o_timeout, closed unanswered $o_closed)," \
     "$o_failed failed; $o_paid paid at Stripe ($o_silent never notified), $o_by_note credited by notification," \
     "$o_by_query by query; not credited once $o_bad, credited unpaid $o_unpaid_credit, never-notified not found by query" \
     "$o_missed; Stripe refused ${stripe_refused:-?} of wattle's calls"
"$build/wattle" verify
[ "$o_bad" = 0 ] && [ "$o_unpaid_credit" = 0 ] && [ "$o_missed" = 0 ] && [ "$o_paid" -gt 5 ] && [ "$o_silent" -gt 0 ] \
  && [ "$((o_timeout + o_closed))" -gt 0 ] && [ "$((o_by_note + o_by_query))" = "$o_paid" ] \
  && [ "$bad_topups" = 0 ] && [ "$extra_topups" = 0 ] && [ "$bad_pay" = 0 ] && [ "$credited" = "$paid" ] && [ "$wh_bad" = 0 ] \
  && [ "$undelivered" = 0 ] && [ "$unsent" = 0 ] && [ "$delivered" -ge "$notes" ] && [ "$ordered" -gt 10 ] && [ "$kills" -ge 4 ] && [ "$restarts" = 2 ] && [ "$acked" -gt 50 ]
