#!/usr/bin/env bash
# cells.sh BUILD_DIR: deploy/nginx/cells.conf as shipped (ports, certificate and paths
# replaced), run by Debian's nginx in front of two cells, each one wattle on its own database.
# Through the one front: each site's host name reaches its own cell; the same id (ten_1) is
# a different tenant in each; a top-up through one host is in that cell's ledger only; a key
# of one cell is unknown to the other; a host no cell holds is 421 in wattle's error form.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/tests/lib.sh"
build=$(cd "${1:?usage: cells.sh BUILD_DIR}" && pwd)
command -v nginx >/dev/null || { echo "cells.sh: nginx is not installed (scripts/deps.sh)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/wattle-cells.XXXXXX)
chmod 755 "$tmp"
pids= owndb= dbs=
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  [ -f "$tmp/nginx/nginx.pid" ] && kill "$(cat "$tmp/nginx/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "$owndb" ]; then "$root/scripts/pg.sh" stop "$tmp/pg" || true
  else for d in $dbs; do psql "$WATTLE_TEST_PG dbname=postgres" -qc "DROP DATABASE IF EXISTS $d" || true; done; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "cells.sh: $*" >&2; exit 1; }

if [ -n "${WATTLE_TEST_PG:-}" ]; then pg=$WATTLE_TEST_PG; else pg=$("$root/scripts/pg.sh" start "$tmp/pg" --fast); owndb=1; fi
port=$(free_ports 3); https=$port; wa=$((port + 1)); wb=$((port + 2))
export WATTLE_LOG_LEVEL=warn
cell() { # NAME PORT: its database migrated, its wattle started, its admin key in $tmp/NAME.key
  local db=wattle_cell_$1_$$
  psql "$pg dbname=postgres" -qc "CREATE DATABASE $db"
  dbs="$dbs $db"
  WATTLE_DATABASE_URL="$pg dbname=$db" "$build/wattle" migrate
  WATTLE_DATABASE_URL="$pg dbname=$db" "$build/wattle" keys create --role admin --name "$1" >"$tmp/$1.key"
  WATTLE_DATABASE_URL="$pg dbname=$db" WATTLE_LISTEN=127.0.0.1:$2 "$build/wattle" serve --no-migrate 2>>"$tmp/$1.log" &
  pids="$pids $!"
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$2/healthz" >/dev/null && return 0; sleep 0.05; done
  fail "cell $1 did not start: $(tail -3 "$tmp/$1.log")"
}
cell a $wa
cell b $wb
sql() { psql "$pg dbname=wattle_cell_$1_$$" -qAtc "$2"; }

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=wattle.example.com \
  -addext "subjectAltName=DNS:*.wattle.example.com" -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
mkdir -p "$tmp/nginx/logs"
conf=$tmp/nginx/cells.conf
sed -e "s#listen 443 ssl http2;#listen 127.0.0.1:$https ssl http2;#" \
    -e "s#server 127.0.0.1:8081 #server 127.0.0.1:$wa #" \
    -e "s#server 127.0.0.1:8082 #server 127.0.0.1:$wb #" \
    -e "s#/etc/ssl/wattle/fullchain.pem#$tmp/cert.pem#" \
    -e "s#/etc/ssl/wattle/privkey.pem#$tmp/key.pem#" \
    "$root/deploy/nginx/cells.conf" >"$conf"
for want in "127.0.0.1:$https ssl" "server 127.0.0.1:$wa " "server 127.0.0.1:$wb " "$tmp/cert.pem" "$tmp/key.pem"; do
  grep -qF "$want" "$conf" || fail "deploy/nginx/cells.conf changed shape: could not set '$want'"
done
{
  [ "$(id -u)" = 0 ] && echo "user root;"
  cat <<CONF
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 128; }
http {
  access_log $tmp/nginx/logs/access.log;
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

req() { # HOST KEY METHOD PATH [BODY]: prints the status; the body goes to $tmp/out
  curl -sS -m 10 --cacert "$tmp/cert.pem" --resolve "$1.wattle.example.com:$https:127.0.0.1" -o "$tmp/out" -w '%{http_code}' \
    -H "Authorization: Bearer $2" -H 'Content-Type: application/json' -X "$3" ${5:+-d "$5"} \
    "https://$1.wattle.example.com:$https$4" || true
}
ka=$(cat "$tmp/a.key"); kb=$(cat "$tmp/b.key")
# a site and a tenant in each cell, through the front, by the site's host
for x in "mall-a $ka Mall-A Noodle-Bar" "mall-c $kb Mall-C Tea-House"; do
  set -- $x
  [ "$(req "$1" "$2" POST /v1/sites "{\"name\":\"$3\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}")" = 201 ] || fail "site via $1: $(cat "$tmp/out")"
  [ "$(req "$1" "$2" POST /v1/tenants "{\"site_id\":\"site_1\",\"name\":\"$4\",\"category\":\"catering\",\"area_m2\":\"40\",\"credit_rating\":\"A\"}")" = 201 ] ||
    fail "tenant via $1: $(cat "$tmp/out")"
done
# ten_1 is each cell's own
[ "$(req mall-a "$ka" GET /v1/tenants/ten_1)" = 200 ] && grep -q Noodle-Bar "$tmp/out" || fail "mall-a's ten_1 is not Noodle-Bar: $(cat "$tmp/out")"
[ "$(req mall-c "$kb" GET /v1/tenants/ten_1)" = 200 ] && grep -q Tea-House "$tmp/out" || fail "mall-c's ten_1 is not Tea-House: $(cat "$tmp/out")"
# a second host of cell a reaches cell a
[ "$(req tower-b "$ka" GET /v1/tenants/ten_1)" = 200 ] && grep -q Noodle-Bar "$tmp/out" || fail "tower-b did not reach cell a: $(cat "$tmp/out")"
# money stays in its cell
[ "$(req mall-a "$ka" POST /v1/api-keys '{"role":"finance","name":"fin"}')" = 201 ] || fail "finance key: $(cat "$tmp/out")"
fin=$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' "$tmp/out")
[ "$(req mall-a "$fin" POST /v1/tenants/ten_1/topups '{"amount_minor":12345,"channel":"cash","reference":"C-1"}')" = 201 ] ||
  fail "top-up via mall-a: $(cat "$tmp/out")"
[ "$(sql a "SELECT balance_minor FROM accounts WHERE tenant_id = 1")" = 12345 ] || fail "cell a's balance is not 123.45"
[ "$(sql b "SELECT count(*) FROM ledger_entries WHERE kind = 'topup'")" = 0 ] || fail "the top-up reached cell b's ledger"
[ "$(sql b "SELECT balance_minor FROM accounts WHERE tenant_id = 1")" = 0 ] || fail "cell b's ten_1 balance changed"
# keys do not cross cells
[ "$(req mall-c "$fin" GET /v1/tenants/ten_1/account)" = 401 ] || fail "cell a's key was accepted by cell b"
# a host no cell holds
st=$(req nowhere "$ka" GET /v1/tenants)
[ "$st" = 421 ] && grep -q '"code":"unknown_site_host"' "$tmp/out" || fail "an unknown host: $st $(cat "$tmp/out")"
echo "cells.sh: two cells behind one nginx; hosts route by site; ids, money and keys stay in their cell; an unknown host is 421"
