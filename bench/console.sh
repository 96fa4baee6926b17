#!/usr/bin/env bash
# console.sh: the console's figures on demo-sized data (TENANTS, default 5000, in one site with
# a month of ledger): the bytes each page transfers on a first visit (gzip on, cache off) and
# the time to first render of the dashboard and of the tenant list (navigation to the figures
# drawn, in headless Chromium), and to the dashboard's chart drawn over 30 days of three bands
# of every meter, median of ROUNDS (default 5). Not a test: it only measures.
set -euo pipefail
tenants=${TENANTS:-5000}
source "$(dirname "$0")/lib.sh"
[ -e "$root/tests/browser/node_modules/puppeteer-core" ] || (cd "$root/tests/browser" && npm ci --ignore-scripts --no-audit --no-fund >&2)
port=18095
admin=$(WATTLE_LOG_LEVEL=warn "$root/build/wattle" keys create --role admin --name bench)
wattle_serve $port
base=http://127.0.0.1:$port
curl -fsS -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"name":"Bench Mall","timezone":"Asia/Shanghai","currency":"CNY"}' $base/v1/sites >/dev/null
psql "$WATTLE_DATABASE_URL" -q <<SQL
$(tenants_sql "$tenants")
UPDATE tenants SET phone = '+86139' || lpad(id::text, 8, '0'), category = (ARRAY['retail','catering','office','services'])[1 + id % 4];
UPDATE accounts SET state = (ARRAY['normal','normal','normal','warned','grace','cut_off'])[1 + tenant_id % 6];
INSERT INTO ledger_entries (account_id, at, kind, amount_minor, balance_after_minor, ref)
  SELECT a.id, now() - (g || ' hours')::interval, 'topup', 100, 100000000, '{"channel":"cash"}'
  FROM accounts a, generate_series(1, 3) g WHERE a.id <= 500;
INSERT INTO meters (serial, site_id, tenant_id, purpose, created_at, updated_at)
  SELECT 'C-' || id, 1, id, 'tenant', now(), now() FROM tenants;
INSERT INTO meter_state (meter_id) SELECT id FROM meters;
INSERT INTO meter_daily (meter_id, day, band, wh, cost_nano)
  SELECT m.id, (now() AT TIME ZONE 'Asia/Shanghai')::date - g, b, 1000 + (m.id * 7 + g) % 5000, 850000000000
  FROM meters m, generate_series(0, 29) g, unnest(ARRAY['peak','flat','valley']) b;
ANALYZE;
SQL
curl -fsS -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"username":"bench-finance","password":"bench password 1","role":"finance"}' $base/v1/users >/dev/null
echo "console on $tenants tenants (median of ${ROUNDS:-5} rounds):"
BASE_URL=$base USER_NAME=bench-finance USER_PASS='bench password 1' ROUNDS=${ROUNDS:-5} node "$root/bench/console_render.mjs"
