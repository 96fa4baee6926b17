#!/usr/bin/env bash
# month_close.sh: the month close for 10,000 tenants. The data a month of 15-minute readings
# leaves behind is generated in SQL, as ingest would have written it with hourly gateway
# batches: per meter and day and band the meter_daily rollup, per tenant and hour one
# energy_charge ledger entry (7.4 million), top-ups, public meters' meter_hourly, three auto
# pools. (Raw readings are not generated: the close never reads them.) Then wattle starts
# on a clock just past the month's end and closes it; the figures are the close's wall time
# (from its log line) and the server's peak RSS, beside pgbench -S on the same PostgreSQL.
set -euo pipefail
tenants=${BENCH_TENANTS:-10000}
source "$(dirname "$0")/lib.sh"
dur=${BENCH_SECONDS:-10}

echo "== pgbench -S -c 8 -j 2 -T $dur (select-only, scale 10): the machine's baseline"
pgbench_init -S -c 8 -j 2
pg_tps=$(pgbench -S -c 8 -j 2 -T "$dur" "$pg dbname=pgbench" 2>/dev/null | awk '/^tps = /{print int($3)}')

echo "== generating October for $tenants tenants"
t0=$(date +%s)
psql "$WATTLE_DATABASE_URL" -q <<SQL
INSERT INTO sites (name, timezone, currency, created_at) VALUES ('Bench Mall', 'Asia/Shanghai', 'CNY', '2026-09-01');
INSERT INTO tariffs (site_id, name, currency, kind, spec, effective_from, created_at) VALUES (1, 'TOU', 'CNY', 'tou',
  '{"bands":[{"name":"peak","rate_micros_per_kwh":1200000},{"name":"flat","rate_micros_per_kwh":800000},{"name":"valley","rate_micros_per_kwh":400000}],
    "schedule":[{"from":"00:00","to":"08:00","band":"valley"},{"from":"08:00","to":"18:00","band":"peak"},{"from":"18:00","to":"24:00","band":"flat"}]}',
  '2020-01-01', '2026-09-01');
INSERT INTO tariff_versions (tariff_id, effective_from, kind, spec, created_at) SELECT id, effective_from, kind, spec, created_at FROM tariffs;
INSERT INTO tenants (site_id, name, category, area_centi_m2, credit_rating, phone, created_at, updated_at)
  SELECT 1, 'Shop ' || g, (ARRAY['catering','fashion','electronics','services','leisure','office'])[1 + g % 6],
         5000 + (g % 97) * 300, 'A', '+86138' || lpad(g::text, 8, '0'), '2026-09-01', '2026-09-01'
  FROM generate_series(1, $tenants) g;
INSERT INTO accounts (tenant_id, currency, balance_minor, created_at, updated_at)
  SELECT id, 'CNY', 0, '2026-09-01', '2026-09-01' FROM tenants;
INSERT INTO meters (serial, site_id, tenant_id, purpose, tariff_id, created_at, updated_at)
  SELECT 'M-' || g, 1, g, 'tenant', 1, '2026-09-01', '2026-09-01' FROM generate_series(1, $tenants) g;
INSERT INTO meters (serial, site_id, tenant_id, purpose, tariff_id, created_at, updated_at)
  SELECT 'P-' || p, 1, NULL, p, 1, '2026-09-01', '2026-09-01' FROM unnest(ARRAY['hvac','lighting','elevator']) p;
INSERT INTO meter_state (meter_id) SELECT id FROM meters;
-- the rollup: per meter, day and band
INSERT INTO meter_daily (meter_id, day, band, wh, cost_nano)
  SELECT m.id, d::date, b.band, b.share * (3000 + m.id % 500), b.share * (3000 + m.id % 500) * b.rate * 1000
  FROM meters m, generate_series('2026-10-01'::date, '2026-10-31', '1 day') d,
       (VALUES ('peak', 10, 1200), ('flat', 6, 800), ('valley', 8, 400)) b(band, share, rate);
INSERT INTO meter_hourly (meter_id, day, hour, wh)
  SELECT m.id, d::date, h, 2000 + 1500 * (h BETWEEN 10 AND 21)::int FROM meters m,
         generate_series('2026-10-01'::date, '2026-10-31', '1 day') d, generate_series(0, 23) h
  WHERE m.tenant_id IS NULL;
-- the ledger: an opening top-up, one energy charge per tenant per hour, a mid-month top-up
INSERT INTO ledger_entries (account_id, at, kind, amount_minor, balance_after_minor, ref)
  SELECT a.id, x.at, x.kind, x.amount, sum(x.amount) OVER (PARTITION BY a.id ORDER BY x.at), x.ref::jsonb FROM accounts a,
  LATERAL (SELECT '2026-10-01T00:30:00+08:00'::timestamptz AS at, 'topup' AS kind, 500000::bigint AS amount,
                  '{"channel":"cash"}' AS ref
           UNION ALL
           SELECT h, 'energy_charge', -(40 + a.id % 60), '{"meter_id":"mtr_' || a.id || '"}'
           FROM generate_series('2026-10-01T01:00:00+08:00'::timestamptz, '2026-10-31T23:00:00+08:00', '1 hour') h
           UNION ALL
           SELECT '2026-10-15T12:30:00+08:00', 'topup', 30000, '{"channel":"wechat"}') x
  ORDER BY a.id, x.at;
SQL
psql "$WATTLE_DATABASE_URL" -q <<'SQL'
UPDATE accounts a SET balance_minor = (SELECT sum(amount_minor) FROM ledger_entries e WHERE e.account_id = a.id);
INSERT INTO cost_pools (site_id, name, method, meter_ids, auto, created_at)
  SELECT 1, n, 'area', ARRAY[m.id], true, '2026-09-01' FROM (VALUES ('Air conditioning', 'P-hvac'),
    ('Lighting', 'P-lighting'), ('Elevators', 'P-elevator')) v(n, s) JOIN meters m ON m.serial = v.s;
INSERT INTO cost_pool_members (pool_id, tenant_id) SELECT p.id, t.id FROM cost_pools p, tenants t;
SQL
psql "$WATTLE_DATABASE_URL" -qc 'VACUUM ANALYZE' -c 'CHECKPOINT'
entries=$(psql "$WATTLE_DATABASE_URL" -tAc "SELECT count(*) FROM ledger_entries")
echo "   $entries ledger entries, $(psql "$WATTLE_DATABASE_URL" -tAc "SELECT count(*) FROM meter_daily") rollup rows in $(( $(date +%s) - t0 )) s"

echo "== the close: wattle on a clock 30 s past the end of October in Shanghai"
start=$(date -d '2026-10-31T16:00:30Z' +%s)
WATTLE_CLOCK_START=$start WATTLE_CLOSE_DELAY_MIN=0 WATTLE_LOG_LEVEL=info WATTLE_BENCH_LOG=info wattle_serve 18096
srv=${pids[-1]}
for _ in $(seq 600); do
  grep -q 'month close: site_1 2026-10' "$tmp/wattle.log" && break
  sleep 0.2
done
line=$(grep -o 'month close: site_1 2026-10[^"]*' "$tmp/wattle.log" || echo "no close line")
peak=$(awk '/VmHWM/{print int($2/1024)}' /proc/$srv/status)
stored=$(psql "$WATTLE_DATABASE_URL" -tAc "SELECT count(*) FROM reports WHERE period = '2026-10'")
bad=$(psql "$WATTLE_DATABASE_URL" -tAc "SELECT count(*) FROM reports r JOIN accounts a ON a.tenant_id = r.tenant_id
  WHERE r.kind = 'tenant_statement' AND (r.data->>'closing_balance_minor')::bigint <>
  (SELECT coalesce(sum(amount_minor), 0) FROM ledger_entries e WHERE e.account_id = a.id AND e.at < '2026-11-01T00:00:00+08:00')")
echo
printf "%-52s %s\n" "pgbench -S -c8 -j2 (tps, baseline)" "$pg_tps"
printf "%-52s %s\n" "close" "$line"
printf "%-52s %s MB (goal < 128 MB)\n" "server peak RSS" "$peak"
echo "reports stored for 2026-10: $stored; statements whose closing differs from the ledger: $bad"
