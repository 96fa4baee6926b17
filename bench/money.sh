#!/usr/bin/env bash
# money.sh: issue 15's figures, a real wattle calling local fakes of WeChat Pay v3, Alipay and
# Stripe (tests/support/fakepay) on a durable PostgreSQL (synchronous_commit on):
#   1. top-up order creation with the provider answering 50 ms late, 1 and 8 clients (ORDERS
#      orders each, default 400): p50, p99, orders/s, beside the bare fake's latency
#   2. reconciliation of a 10,000-line bill per provider: seconds, and the server's split
#      into bill fetch and matching
#   3. top-ups per second through signed Stripe notifications (credit + numbered receipt),
#      16 clients, tenants of one site and over ten sites, beside pgbench -c 16 -j 2
#   then 1 (8 clients) and 3 again with WATTLE_THREADS=16 (the default pool is the cores)
# bench-money starts the fakes and spawns wattle itself (the fakes' ports go in its
# environment); this script makes the cluster, the sites, tenants and the finance key.
set -euo pipefail
orders=${ORDERS:-400}
source "$(dirname "$0")/lib.sh"
echo "synchronous_commit: $(psql "$pg dbname=postgres" -tAc 'SHOW synchronous_commit'), fsync: $(psql "$pg dbname=postgres" -tAc 'SHOW fsync')"
pgbench_init -c 16 -j 2
# ten sites; tenants 1..200 on site 1, 201..400 spread over the ten; a CNY account each
psql "$WATTLE_DATABASE_URL" -q <<SQL
INSERT INTO sites (name, timezone, currency, legal_name, tax_id, created_at)
  SELECT 'Bench Mall ' || g, 'Asia/Shanghai', 'CNY', 'Bench Mall ' || g || ' Ltd', '91310000MA1FL0000' || g % 10, now()
  FROM generate_series(1, 10) g;
INSERT INTO tenants (site_id, name, category, area_centi_m2, credit_rating, created_at, updated_at)
  SELECT CASE WHEN g <= 200 THEN 1 ELSE 1 + g % 10 END, 'Shop ' || g, 'retail', 5000, 'A', now(), now()
  FROM generate_series(1, 400) g;
INSERT INTO accounts (tenant_id, currency, balance_minor, created_at, updated_at) SELECT id, 'CNY', 0, now(), now() FROM tenants;
SQL
psql "$WATTLE_DATABASE_URL" -qc 'VACUUM ANALYZE' -c 'CHECKPOINT'
key=$("$root/build/wattle" keys create --role finance --name bench)
"$root/build/bench-money" "$root/build/wattle" 18120 "$key" "$tmp" "$orders" "$dur" \
  "pgbench -c 16 -j 2 -T $dur '$pg dbname=pgbench' 2>/dev/null"
[ -n "${BENCH_KEEP_LOGS:-}" ] && cp "$tmp"/*.log "$BENCH_KEEP_LOGS"/ || true
