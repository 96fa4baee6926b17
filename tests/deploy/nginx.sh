#!/usr/bin/env bash
# nginx.sh BUILD_DIR: deploy/nginx/wattle.conf as it is shipped (only its ports, certificate
# and log paths replaced), run by Debian's nginx as the test user in a temporary prefix,
# terminating TLS with a self-signed certificate made here, in front of two wattle processes
# on one database. Through it over https: the request id is passed (and made when absent);
# the client's address reaches wattle's audit log through X-Real-IP, while an X-Real-IP from
# a peer not in WATTLE_TRUSTED_PROXIES is ignored; bodies are limited as wattle limits them
# (WATTLE_BODY_MAX, 8 times that on POST /v1/readings). Then one process is killed with
# SIGKILL: every GET keeps succeeding, and a top-up repeated with its Idempotency-Key is
# credited once.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/tests/lib.sh"
build=$(cd "${1:?usage: nginx.sh BUILD_DIR}" && pwd)
command -v nginx >/dev/null || { echo "nginx.sh: nginx is not installed (scripts/deps.sh)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/wattle-nginx.XXXXXX)
chmod 755 "$tmp"
w1pid= w2pid= owndb= dbname=
cleanup() {
  for p in $w1pid $w2pid; do kill "$p" 2>/dev/null || true; done
  [ -f "$tmp/nginx/nginx.pid" ] && kill "$(cat "$tmp/nginx/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "$owndb" ]; then "$root/scripts/pg.sh" stop "$tmp/pg" || true
  elif [ -n "$dbname" ]; then psql "$WATTLE_TEST_PG dbname=postgres" -qc "DROP DATABASE IF EXISTS $dbname" || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "nginx.sh: $*" >&2; exit 1; }

# the database: tests/run.sh's cluster when there is one, else a private one
if [ -n "${WATTLE_TEST_PG:-}" ]; then
  pg=$WATTLE_TEST_PG; dbname=wattle_nginx_$$
else
  pg=$("$root/scripts/pg.sh" start "$tmp/pg" --fast); owndb=1; dbname=wattle_nginx
fi
psql "$pg dbname=postgres" -qc "CREATE DATABASE $dbname"
export WATTLE_DATABASE_URL="$pg dbname=$dbname" WATTLE_LOG_LEVEL=warn
"$build/wattle" migrate

port=$(free_ports 4); https=$port; http=$((port + 1)); w1=$((port + 2)); w2=$((port + 3))
# nginx connects from 127.0.0.1; clients come from 127.0.0.2 (through nginx) and 127.0.0.3
export WATTLE_TRUSTED_PROXIES=127.0.0.1 WATTLE_BODY_MAX=1048576
serve() { # PORT: sets $pid
  WATTLE_LISTEN=127.0.0.1:$1 "$build/wattle" serve --no-migrate >/dev/null 2>>"$tmp/wattle.$1.log" &
  pid=$!
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || fail "wattle on $1 did not start: $(tail -3 "$tmp/wattle.$1.log")"
    curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0
    sleep 0.05
  done
  fail "wattle does not answer on $1"
}
serve $w1; w1pid=$pid
serve $w2; w2pid=$pid

# the certificate, self-signed, for wattle.test and 127.0.0.1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=wattle.test \
  -addext "subjectAltName=DNS:wattle.test,IP:127.0.0.1" -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null

# deploy/nginx/wattle.conf with this run's ports and paths; each replacement must happen
mkdir -p "$tmp/nginx/logs"
conf=$tmp/nginx/wattle.conf
sed -e "s#listen 443 ssl http2;#listen 127.0.0.1:$https ssl http2;#" \
    -e "s#listen 80;#listen 127.0.0.1:$http;#" \
    -e '/listen \[::\]/d' \
    -e "s#server 127.0.0.1:8081 #server 127.0.0.1:$w1 #" \
    -e "s#server 127.0.0.1:8082 #server 127.0.0.1:$w2 #" \
    -e "s#/etc/ssl/wattle/fullchain.pem#$tmp/cert.pem#" \
    -e "s#/etc/ssl/wattle/privkey.pem#$tmp/key.pem#" \
    -e "s#/var/log/nginx/wattle.access.log#$tmp/nginx/logs/access.log#" \
    "$root/deploy/nginx/wattle.conf" >"$conf"
for want in "127.0.0.1:$https ssl" "127.0.0.1:$http;" "server 127.0.0.1:$w1 " "server 127.0.0.1:$w2 " \
    "$tmp/cert.pem" "$tmp/key.pem" "$tmp/nginx/logs/access.log"; do
  grep -qF "$want" "$conf" || fail "deploy/nginx/wattle.conf changed shape: could not set '$want'"
done
! grep -q 'listen.*\(443\|80;\)\|:808[12]\|/etc/ssl\|/var/log' "$conf" || fail "deploy/nginx/wattle.conf: a port or path is left unreplaced"
{
  [ "$(id -u)" = 0 ] && echo "user root;"
  cat <<CONF
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 256; }
http {
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  include $conf;
}
CONF
} >"$tmp/nginx/nginx.conf"
nginx -e "$tmp/nginx/logs/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -t -q || fail "nginx -t: $(cat "$tmp/nginx/logs/error.log")"
nginx -e "$tmp/nginx/logs/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf"
for _ in $(seq 100); do [ -s "$tmp/nginx/nginx.pid" ] && break; sleep 0.05; done

base="https://wattle.test:$https"
c() { # curl through nginx from 127.0.0.2, the certificate checked
  curl -sS -m 10 --interface 127.0.0.2 --cacert "$tmp/cert.pem" --resolve "wattle.test:$https:127.0.0.1" "$@"
}
post() { # KEY PATH BODY [IDEMPOTENCY-KEY] [REQUEST-ID]: prints the status; the body goes to $tmp/out
  c -o "$tmp/out" -w '%{http_code}' -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
    ${4:+-H "Idempotency-Key: $4"} ${5:+-H "X-Request-Id: $5"} -X POST -d "$3" "$base$2" || true
}
get() { # KEY PATH: prints the status; the body goes to $tmp/out
  c -o "$tmp/out" -w '%{http_code}' -H "Authorization: Bearer $1" "$base$2" || true
}
json() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" "$tmp/out"; }
sql() { psql "$WATTLE_DATABASE_URL" -qAtc "$1"; }

# 1. TLS, and the request id
[ "$(c -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ] || fail "GET /healthz over https through nginx"
rid=$(c -o /dev/null -D - "$base/healthz" | tr -d '\r' | sed -n 's/^x-request-id: //Ip')
[[ "$rid" =~ ^[0-9a-f]{32}$ ]] || fail "no X-Request-Id made by nginx when the client sent none (got '$rid')"
grep -q "rid=$rid" "$tmp/nginx/logs/access.log" || fail "nginx's access log lacks the request id $rid"
rid=$(c -o /dev/null -D - -H 'X-Request-Id: client-chosen-1' "$base/healthz" | tr -d '\r' | sed -n 's/^x-request-id: //Ip')
[ "$rid" = client-chosen-1 ] || fail "the client's X-Request-Id did not reach wattle (got '$rid')"
[ "$(c -o /dev/null -w '%{http_code}' "$base/metrics")" = 403 ] || fail "GET /metrics is public through nginx"
echo "nginx.sh: https through nginx, request ids passed and made, /metrics not public"

# 2. the world, through nginx
admin=$("$build/wattle" keys create --role admin --name nginx)
[ "$(post "$admin" /v1/api-keys '{"role":"finance","name":"fin"}')" = 201 ] || fail "finance key: $(cat "$tmp/out")"
fin=$(json key)
[ "$(post "$admin" /v1/sites '{"name":"Mall","timezone":"Asia/Shanghai","currency":"CNY"}')" = 201 ] || fail "site: $(cat "$tmp/out")"
[ "$(post "$fin" /v1/tenants '{"site_id":"site_1","name":"Shop","category":"retail","area_m2":"50","credit_rating":"A"}')" = 201 ] ||
  fail "tenant: $(cat "$tmp/out")"

# 3. the client's address: through nginx it is the client's (127.0.0.2), not nginx's
[ "$(post "$fin" /v1/tenants/ten_1/topups '{"amount_minor":1000,"channel":"cash","reference":"first"}' first rid-first)" = 201 ] ||
  fail "top-up through nginx: $(cat "$tmp/out")"
addr=$(sql "SELECT client_addr FROM audit_log WHERE request_id = 'rid-first'")
[ "$addr" = 127.0.0.2 ] || fail "the audit entry of a top-up through nginx has address '$addr', not the client's 127.0.0.2"
# ...and a peer that is not a trusted proxy cannot choose its address with X-Real-IP
s=$(curl -sS -m 10 --interface 127.0.0.3 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $fin" \
  -H 'Content-Type: application/json' -H 'X-Real-IP: 10.9.9.9' -H 'X-Request-Id: rid-direct' -H 'Idempotency-Key: direct' \
  -X POST -d '{"amount_minor":1,"channel":"cash","reference":"direct"}' "http://127.0.0.1:$w1/v1/tenants/ten_1/topups")
[ "$s" = 201 ] || fail "direct top-up answered $s"
addr=$(sql "SELECT client_addr FROM audit_log WHERE request_id = 'rid-direct'")
[ "$addr" = 127.0.0.3 ] || fail "an untrusted peer's X-Real-IP was believed: the audit entry has '$addr', not 127.0.0.3"
echo "nginx.sh: the client's address reaches wattle through nginx; an untrusted X-Real-IP is ignored"

# 3b. a NUL inside a header: nginx refuses it itself (400), whatever the spacing after the
# colon, so wattle's byte count (server/http.c, unseen_bytes) is not the only guard in front
# of an Idempotency-Key. Two top-ups whose keys differ only after the NUL credit nothing.
before=$(sql "SELECT count(*) FROM ledger_entries")
for sp in ' ' ''; do
  for k in a b; do
    body='{"amount_minor":500,"channel":"cash","reference":"nul"}'
    line=$( { printf 'POST /v1/tenants/ten_1/topups HTTP/1.1\r\nHost: wattle.test\r\nAuthorization: Bearer %s\r\n' "$fin"
              printf 'Content-Type: application/json\r\nIdempotency-Key:%sk1\000%s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
                "$sp" "$k" "${#body}" "$body"; } |
      timeout 10 openssl s_client -quiet -connect "127.0.0.1:$https" -servername wattle.test -CAfile "$tmp/cert.pem" 2>/dev/null |
      head -1 | tr -d '\r')
    [[ "$line" == "HTTP/1.1 400"* ]] || fail "a NUL in Idempotency-Key (space '$sp', key $k) through nginx: '$line', not 400"
  done
done
[ "$(sql "SELECT count(*) FROM ledger_entries")" = "$before" ] || fail "a top-up with a NUL in its key was credited"
echo "nginx.sh: a NUL inside a header is refused by nginx (400) with or without a space after the colon; nothing credited"

# 4. body limits as wattle's: 1 MiB on a route, 8 MiB on POST /v1/readings; nginx refuses
# beyond them in wattle's JSON form, and passes what wattle would take (401 here: no key)
body() { head -c "$1" /dev/zero | tr '\0' ' ' >"$tmp/body"; }
limit() { # PATH SIZE RID: prints the status
  c -o "$tmp/out" -w '%{http_code}' -H 'Content-Type: application/json' -H "X-Request-Id: $3" \
    -X POST --data-binary @"$tmp/body" "$base$1" || true
}
upstream_of() { grep "rid=$1\$" "$tmp/nginx/logs/access.log" | awk '{print $(NF-2)}'; }
body 1048576; [ "$(limit /v1/tenants 1048576 at-limit)" = 401 ] || fail "a 1 MiB body was not passed to wattle: $(cat "$tmp/out")"
body 1048577; [ "$(limit /v1/tenants 1048577 over-limit)" = 413 ] || fail "a 1 MiB + 1 body was not refused"
grep -q '"code":"body_too_large"' "$tmp/out" || fail "nginx's 413 is not wattle's JSON error: $(cat "$tmp/out")"
[ "$(upstream_of over-limit)" = - ] || fail "the 1 MiB + 1 body reached wattle ($(upstream_of over-limit)): nginx's limit is above wattle's"
body 8388608; [ "$(limit /v1/readings 8388608 batch-at-limit)" = 401 ] || fail "an 8 MiB batch was not passed to wattle: $(cat "$tmp/out")"
body 8388609; [ "$(limit /v1/readings 8388609 batch-over)" = 413 ] || fail "an 8 MiB + 1 batch was not refused"
[ "$(upstream_of batch-over)" = - ] || fail "the 8 MiB + 1 batch reached wattle: nginx's limit is above wattle's"
echo "nginx.sh: body limits match wattle's (1 MiB, 8 MiB on /v1/readings)"

# 5. one process killed with SIGKILL: GETs keep succeeding, each on the first try
for i in $(seq 20); do [ "$(get "$fin" /v1/tenants/ten_1/account)" = 200 ] || fail "GET before the kill"; done
for w in $w1 $w2; do
  grep -q " 127.0.0.1:$w 200 " "$tmp/nginx/logs/access.log" || fail "nginx sent no request to the wattle on $w"
done
kill -KILL "$w1pid"; wait "$w1pid" 2>/dev/null || true; w1pid=
for i in $(seq 40); do
  s=$(get "$fin" /v1/tenants/ten_1/account)
  [ "$s" = 200 ] || fail "GET $i after one wattle was killed answered $s: $(cat "$tmp/out")"
done
echo "nginx.sh: 40 GETs after one of two wattle processes was killed, all 200"
# a top-up through nginx now: a client repeats it with its key until it has an answer (a
# POST nginx had sent to the dead process answers 502, never a second credit)
before=$(sql "SELECT balance_minor FROM accounts WHERE tenant_id = 1")
tries=0
while :; do
  tries=$((tries + 1)); [ $tries -le 5 ] || fail "the top-up after the kill got no answer in 5 tries"
  s=$(post "$fin" /v1/tenants/ten_1/topups '{"amount_minor":777,"channel":"cash","reference":"after-kill"}' after-kill)
  [ "$s" = 201 ] && break
  [ "$s" = 502 ] || fail "the top-up after the kill answered $s: $(cat "$tmp/out")"
done
id1=$(json id)
[ "$(post "$fin" /v1/tenants/ten_1/topups '{"amount_minor":777,"channel":"cash","reference":"after-kill"}' after-kill)" = 201 ] ||
  fail "the top-up repeated with its key: $(cat "$tmp/out")"
[ "$(json id)" = "$id1" ] || fail "the repeated top-up is another entry ($(json id), first $id1)"
after=$(sql "SELECT balance_minor FROM accounts WHERE tenant_id = 1")
[ $((after - before)) = 777 ] || fail "the balance moved by $((after - before)), not 777 once"
n=$(sql "SELECT count(*) FROM ledger_entries WHERE amount_minor = 777")
[ "$n" = 1 ] || fail "$n ledger entries of 777, not 1"
echo "nginx.sh: a top-up through nginx with one process dead is credited once ($tries tries, repeated with its key)"
