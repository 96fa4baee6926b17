#!/usr/bin/env bash
# control_latency.sh: p50/p99 from grace expiry to the cut arriving at a gateway, and from
# a top-up's commit to the restore arriving, over 250 events each, on a durable cluster.
set -euo pipefail
n=${EVENTS:-250}
source "$(dirname "$0")/lib.sh"
psql "$WATTLE_DATABASE_URL" -q <<SQL
INSERT INTO sites (name, timezone, currency, created_at) VALUES ('Bench Mall', 'Asia/Shanghai', 'CNY', now());
INSERT INTO credit_policies (site_id, rating, warn_levels_minor, overdraft_minor, grace_minutes, restore_min_minor, created_at, updated_at)
  VALUES (1, 'A', '{}', 0, 0, 0, now(), now());
INSERT INTO tenants (site_id, name, category, area_centi_m2, credit_rating, created_at, updated_at)
  SELECT 1, 'Shop ' || g, 'retail', 5000, 'A', now(), now() FROM generate_series(1, $n) g;
INSERT INTO accounts (tenant_id, currency, balance_minor, state, created_at, updated_at)
  SELECT id, 'CNY', 100, 'normal', now(), now() FROM tenants;
INSERT INTO ledger_entries (account_id, at, kind, amount_minor, balance_after_minor, ref)
  SELECT id, now(), 'topup', 100, 100, '{}' FROM accounts;
INSERT INTO meters (serial, site_id, tenant_id, purpose, gateway, created_at, updated_at)
  SELECT 'L-' || g, 1, g, 'tenant', 'http://127.0.0.1:18099', now(), now() FROM generate_series(1, $n) g;
INSERT INTO meter_state (meter_id) SELECT id FROM meters;
SQL
key=$("$root/build/wattle" keys create --role finance --name bench)
wattle_serve 18098
"$root/build/bench-control-latency" http://127.0.0.1:18098 "$key" 18099 "$WATTLE_DATABASE_URL" "$n"
